"""``python -m simulations.qwen3.reproduce RUN``: re-run a committed run from its recorded command and compare.

Every committed run's ``run_meta.json`` records ``command`` (the line that made it, with
``--out`` its folder) and ``versions`` (torch, transformers, trl; pinned in
``constraints/bridge.txt``). This re-runs the command with ``--out`` pointed elsewhere and
compares the new ``log.jsonl`` with the committed one, metric by metric, at the same steps.
A run made by an older revision of the code records it as ``code_revision``: the command is
then re-run in that revision's tree (``git archive``; the clone needs the history), since
the callback's evaluation schedule and scoring have changed since. A run whose log no longer
reproduces (``"log_reproduces": false``, with a ``reproduction_note`` saying why) is
regenerated with ``--in-place``: its command re-run into its own folder with today's code,
then its bridge report (``nondecoupling.bridge check``), the saved model removed. ``--anchor`` makes
this CPU's anchor (:func:`make_anchor`), the small run that the reproduction test re-makes on it.
``--report [FOLDER ...]`` re-makes bridge reports (none named: every one kept, :func:`report_folders`)
in place with the command each records (:func:`remake_report`; no training) and names those whose
verdicts changed: the step after a change to the check.

>>> recorded_argv({"command": "python -m simulations.qwen3 --seed 1 --out simulations/data/x"}, Path("/tmp/y"))
['-m', 'simulations.qwen3', '--seed', '1', '--out', '/tmp/y']
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from nondecoupling.validation import ParameterError

REPO = Path(__file__).resolve().parents[2]
#: The logged metrics compared between a run and its re-run.
METRICS = ("sft_loss", "pass_rate", "reward", "kl")


def cpu_model() -> tuple[str, str, str]:
    """(model name, cpu family, model) of the first processor in ``/proc/cpuinfo``, "?" where unknown.

    Without torch (the runner's :func:`~simulations.qwen3.runner.cpu_identity` adds the ISA torch
    dispatches to; ``benchmarks/run_all.py`` names the CPU of its measurements with this).
    """
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as handle:
            for key, _, value in (line.partition(":") for line in handle):
                if not key.strip():  # the first processor's block ends
                    break
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or "unknown CPU"
    return name, fields.get("cpu family", "?"), fields.get("model", "?")


def log_frame(path: Path) -> pd.DataFrame:
    """A JSONL log as written: one row per line, one column per key, each number parsed as ``json.loads`` parses it.

    Not ``pandas.read_json``: its default parser rounds some floats differently from the writer's
    ``json.dumps`` (the last bit of most values of the committed logs; ``precise_float=True`` parses
    them exactly) and it guesses dates from column names.
    """
    return pd.DataFrame.from_records([json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()])


def code_revision() -> dict:
    """The commit a plan runs from, and whether the code it runs (simulations/qwen3/, theory/) differs from it.

    A plan driver records this at the start of each run (:func:`mark_finished`), so :func:`rerun` can
    replay the run in that revision's tree.
    """
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()

    return {"code_revision": git("rev-parse", "HEAD"),
            "code_modified": bool(git("status", "--porcelain", "--untracked-files=no", "--", "simulations/qwen3", "theory"))}


def is_finished(out: Path) -> bool:
    """Whether ``out/run_meta.json`` says the run finished (a plan driver skips it)."""
    try:
        return bool(json.loads((Path(out) / "run_meta.json").read_text()).get("finished"))
    except (OSError, ValueError):
        return False


def mark_finished(out: Path, revision: dict, **fields: object) -> None:
    """Add ``revision`` (:func:`code_revision`, taken when the run started), ``fields`` and ``finished`` to ``run_meta.json``."""
    meta = json.loads((Path(out) / "run_meta.json").read_text())
    meta |= {**revision, **fields, "finished": True}
    (Path(out) / "run_meta.json").write_text(json.dumps(meta, indent=2) + "\n")


def recorded_argv(meta: dict, out: Path | None, *, source: str = "run_meta.json command") -> list[str]:
    """The recorded command's arguments after ``python``, with ``--out`` replaced by ``out`` (``None``: kept).

    ``meta["command"]`` is the command; ``source`` names it in an error.

    Raises
    ------
    ParameterError
        A command that is not ``python -m MODULE ... --out DIR``, or whose module does not import today.
    """
    parts = shlex.split(meta.get("command", ""))
    if parts[:2] != ["python", "-m"] or len(parts) < 3 or "--out" not in parts:
        raise ParameterError(source, "'python -m MODULE ... --out DIR'", repr(meta.get("command")))
    try:
        found = importlib.util.find_spec(parts[2]) is not None
    except ModuleNotFoundError:  # a parent package is gone too
        found = False
    if not found:
        raise ParameterError(source, "a module that exists today", parts[2])
    index = parts.index("--out")
    return [*parts[1:index], "--out", parts[index + 1] if out is None else str(out), *parts[index + 2 :]]


def rerun(run_dir: Path, out: Path) -> Path:
    """Run ``run_dir``'s recorded command into ``out`` (one torch thread, the repo on the path); return ``out``.

    Raises
    ------
    RuntimeError
        If the command exits non-zero (its output is in ``out/rerun.log``).
    """
    meta = json.loads((Path(run_dir) / "run_meta.json").read_text())
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    source = source_tree(meta.get("code_revision"), out / "source") if meta.get("code_revision") else REPO
    # A folder inside the source tree is named relative to it (the command runs there), so the
    # command a regenerated run records is the committed one, not this machine's absolute path.
    named = out.relative_to(source) if out.is_relative_to(source) else out
    with (out / "rerun.log").open("w") as log:
        code = subprocess.call([sys.executable, *recorded_argv(meta, named)], cwd=source, env=_one_thread(source), stdout=log,
                               stderr=subprocess.STDOUT)
    if code:
        raise RuntimeError(f"re-running {run_dir} exited {code}; see {out / 'rerun.log'}")
    return out


def _one_thread(source: Path) -> dict:
    """The environment a run is made and re-made in: ``source``'s code on the path, one thread everywhere."""
    return {**os.environ, "PYTHONPATH": f"{source / 'theory'}{os.pathsep}{source}", "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


#: Where the anchors live: one small run per CPU the project has met, made on it (:func:`make_anchor`).
ANCHORS = REPO / "simulations" / "data" / "anchors"
#: An anchor's command: the size plan's smallest model, shortened (60 SFT and 40 RL steps, one cycle: ~5 s), one thread.
ANCHOR_COMMAND = ("python -m simulations.qwen3 --task cola --pipeline sft-rl --seed 0 --beta 0.0 --threads 1 --device cpu "
                  "--hidden-size 32 --num-layers 2 --num-heads 4 --num-kv-heads 2 --head-dim 8 --intermediate-size 96 "
                  "--sft-steps 60 --rl-steps 40 --pretrain-steps 20 --cycles 1 --lr-sft 0.002 --lr-rl 0.002 --lr-pretrain 0.003 "
                  "--sft-train-size 1024 --pretrain-size 512 --samples-per-prompt 4 --sft-batch-size 64 "
                  "--rl-prompts-per-step 8 --num-generations 8 --eval-every 20 --out {out}")


def make_anchor() -> Path:
    """Make this CPU's anchor, ``simulations/data/anchors/<cpu>/``: the run the reproduction test re-makes here.

    A run re-made on another CPU generation trains another model (its kernels round
    differently), so a committed run is compared only on the CPU it records
    (:func:`simulations.qwen3.runner.cpu_identity`); an anchor gives a new CPU one, made from a
    clean checkout so that its ``code_revision`` names the code that made it.

    Raises
    ------
    ParameterError
        If the code under simulations/qwen3/ or theory/ differs from the checked-out commit.
    """
    import re
    import shutil

    from simulations.qwen3.runner import cpu_identity  # imports torch

    revision = code_revision()
    if revision["code_modified"]:
        raise ParameterError("checkout", "no uncommitted change under simulations/qwen3/ or theory/", "changes")
    out = ANCHORS / re.sub(r"[^a-z0-9]+", "-", cpu_identity().lower()).strip("-")
    out.mkdir(parents=True, exist_ok=True)
    with (out / "run.log").open("w") as log:
        subprocess.run([sys.executable, *shlex.split(ANCHOR_COMMAND.format(out=out.relative_to(REPO)))[1:]], cwd=REPO,
                       env=_one_thread(REPO), stdout=log, stderr=subprocess.STDOUT, check=True)
    shutil.rmtree(out / "model", ignore_errors=True)
    mark_finished(out, revision)
    return out


def source_tree(revision: str, target: Path) -> Path:
    """The repository's tree at ``revision``, extracted into ``target`` (``git archive``); return ``target``.

    Raises
    ------
    ParameterError
        If this checkout has no such revision (a shallow clone, say).
    """
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", revision], capture_output=True)
    if archive.returncode:
        raise ParameterError("run_meta.json code_revision", "a revision in this clone's history", revision)
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def log_drift(recorded: Path, rerun_log: Path, *, shared_steps: bool = False) -> pd.DataFrame:
    """Per phase and metric, the largest |re-run - recorded| over the logged points, and how many there are.

    The two logs must have the same (stage, step) points, or with ``shared_steps`` they are compared at
    the points they share (a regenerated log whose callback evaluates on another schedule).

    Raises
    ------
    ParameterError
        If the two logs do not have the same (stage, step) points (and not ``shared_steps``).
    """
    old, new = (log_frame(path) for path in (recorded, rerun_log))
    if not shared_steps and old[["stage", "step"]].values.tolist() != new[["stage", "step"]].values.tolist():
        raise ParameterError("re-run log", f"the recorded log's {len(old)} (stage, step) points", f"{len(new)} other points")
    both = old.merge(new, on=["stage", "step"], suffixes=("_old", "_new"))
    rows = [{"phase": phase, "metric": metric, "points": len(points),
             "max_abs_diff": float(np.nanmax(np.abs(points[f"{metric}_new"] - points[f"{metric}_old"])))}
            for phase, points in both.groupby("phase_old", sort=False) for metric in METRICS
            if f"{metric}_old" in both and f"{metric}_new" in both]
    return pd.DataFrame(rows)


def regenerate(run_dir: Path) -> None:
    """Re-run ``run_dir``'s command into ``run_dir`` itself, then its bridge report; the model is not kept.

    The new ``run_meta.json`` gets ``regenerated``: the date, the command it replaces and, per phase
    and metric, the largest difference from the replaced log at the steps both logged (:func:`log_drift`).
    """
    import shutil
    import tempfile
    from datetime import date

    run_dir = Path(run_dir).resolve()
    old_meta = json.loads((run_dir / "run_meta.json").read_text())
    with tempfile.TemporaryDirectory() as keep:
        old_log = Path(shutil.copy(run_dir / "log.jsonl", Path(keep) / "log.jsonl"))
        rerun(run_dir, run_dir)
        drift = log_drift(old_log, run_dir / "log.jsonl", shared_steps=True).to_dict("records")
    meta = json.loads((run_dir / "run_meta.json").read_text())
    meta["regenerated"] = {"date": date.today().isoformat(),
                           "replaces": old_meta.get("recorded_command", old_meta.get("command")),
                           "max_abs_diff_from_replaced_log": drift}
    (run_dir / "run_meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    relative = run_dir.relative_to(REPO)  # the report records the command as run from the repository's root
    _run_check(["check", str(relative / "log.jsonl"), "--out", str(relative / "report")])
    shutil.rmtree(run_dir / "model", ignore_errors=True)
    (run_dir / "rerun.log").unlink(missing_ok=True)


def remake_report(report_dir: Path, out: Path | None = None) -> dict:
    """Re-make a committed bridge report with the command it records and today's check; return the new report.

    ``report.json`` records ``settings["command"]`` (``python -m nondecoupling.bridge check LOG ...
    --out DIR``, its paths relative to the repository's root). It is run in process from the root,
    ``--out`` replaced by ``out`` (default ``report_dir``: the report regenerated in place).

    Raises
    ------
    ParameterError
        A report that records no command of the bridge's check.
    RuntimeError
        If the check refuses the command (exit code 2; its error is on stderr).
    """
    report_dir = Path(report_dir)
    settings = json.loads((report_dir / "report.json").read_text())["settings"]
    source = f"{report_dir / 'report.json'} settings.command"
    argv = recorded_argv(settings, None if out is None else Path(out).resolve(), source=source)
    if argv[1:3] != ["nondecoupling.bridge", "check"]:
        raise ParameterError(source, "'python -m nondecoupling.bridge check ...'", repr(settings.get("command")))
    writes = REPO / argv[argv.index("--out") + 1]
    if writes.resolve() != Path(out or report_dir).resolve():  # a copy of the report would re-make the original
        raise ParameterError("report_dir", f"the folder its command writes ({writes})", str(report_dir))
    _run_check(argv[2:])
    return json.loads((writes / "report.json").read_text())


def remake_reports(folders: list[Path]) -> int:
    """Re-make each report in place (:func:`remake_report`); print the ones whose verdicts changed. Returns 0."""
    from tqdm import tqdm

    for folder in tqdm(folders, desc="reports", unit="report"):
        before = verdict_rows(json.loads((Path(folder) / "report.json").read_text()))
        with contextlib.redirect_stdout(io.StringIO()):  # the check's one-line summary per report, under the bar
            after = verdict_rows(remake_report(folder))
        if after != before:
            tqdm.write(f"{folder}: verdicts changed\n  was {before}\n  now {after}")
    return 0


def report_folders() -> list[Path]:
    """Every bridge report kept in the repository: the runs' (``simulations/data``) and the documentation's."""
    found = [*(REPO / "simulations" / "data").rglob("report.json"), *(REPO / "docs").rglob("report.json")]
    return sorted(path.parent for path in found)


def verdict_rows(report: dict) -> list[tuple]:
    """(id, stage, name, verdict) of every premise and check of a report, in its order."""
    return [(c["id"], c["stage"], c["name"], c["verdict"]) for c in [*report.get("premises", []), *report["checks"]]]


def _run_check(argv: list[str]) -> None:
    """The bridge's ``check`` in process, from the repository's root (a recorded command's paths are relative to it)."""
    from nondecoupling.bridge.__main__ import main as check_main  # scipy and matplotlib: only when a report is made

    here = Path.cwd()
    os.chdir(REPO)
    try:
        code = check_main(argv)
    finally:
        os.chdir(here)
    if code == 2:  # 1 is a --fail-on gate: the report is written
        raise RuntimeError(f"nondecoupling.bridge {shlex.join(argv)} refused the run (exit 2; its error is above)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulations.qwen3.reproduce", description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, nargs="?", help="a committed run's folder (run_meta.json, log.jsonl)")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="where the re-run writes (then the two logs are compared)")
    where.add_argument("--in-place", action="store_true", help="regenerate the run: re-run into its own folder")
    where.add_argument("--anchor", action="store_true", help="make this CPU's anchor run (no RUN): see make_anchor")
    where.add_argument("--report", type=Path, nargs="*", metavar="REPORT",
                       help="re-make these report folders (none: every one kept) with the commands they record (no RUN)")
    args = parser.parse_args(argv)
    if args.report is not None:
        if args.run is not None:
            parser.error("--report re-makes report folders: give them after it, and no RUN")
        return remake_reports(args.report or report_folders())
    if args.anchor:
        if args.run is not None:
            parser.error("--anchor makes a new run: give no RUN")
        print(make_anchor())
        return 0
    if args.run is None:
        parser.error("RUN is required with --out and --in-place")
    if args.in_place:
        regenerate(args.run)
        return 0
    rerun(args.run, args.out)
    print(log_drift(args.run / "log.jsonl", args.out / "log.jsonl").to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
