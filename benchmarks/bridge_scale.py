"""How ``nondecoupling check`` scales with the log's length: time and peak memory (on demand, not a test).

Writes a canonical JSONL log of an SFT -> RL -> SFT run on isotropic quadratics (the exact
flows of ``tests/bridge/synthetic.py``, one evaluation per step, with noise) of N rows, then
runs ``python -m nondecoupling check`` on it in a fresh process and reports the wall time, the CPU
time and the process's peak resident memory (``ru_maxrss`` of the child). The target (issue
25): 10^6 rows in at most 3 s of CPU time and 400 MB; time and memory should grow about
linearly (the trend tests are O(n log n), the fits run on at most ``MAX_FIT_POINTS`` bin
means, Theil-Sen on at most ``MAX_SLOPE_POINTS`` points).

Each checkout is run twice per repeat with a null cache folder of its own
(``NONDECOUPLING_NULL_CACHE``, :mod:`nondecoupling.bridge.logs.null_cache`): ``cold``, the folder
empty (the trend tests' nulls simulated: a first check of a run of this length), then ``warm``
(read back: any later check of a run whose stages have the same lengths). Revisions before the
cache simulate them both times. Checks run with ``OMP_NUM_THREADS=1`` (each revision's own work);
``--user-environment``: with no thread variable set, as a user's shell runs the command.
``--timestamps``: each record with the time it was logged; ``--csv``: the log as CSV.

    PYTHONPATH=$PWD/theory:$PWD python benchmarks/bridge_scale.py            # 10^4, 10^5, 10^6 rows
    PYTHONPATH=$PWD/theory:$PWD python benchmarks/bridge_scale.py --rows 1000000
    git worktree add /tmp/before HEAD~1    # this revision against the previous one, alternating:
    PYTHONPATH=$PWD/theory:$PWD python benchmarks/bridge_scale.py --rows 1000000 --source /tmp/before . --repeats 2
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

REPOSITORY = Path(__file__).resolve().parent.parent


#: The expert's constants of the synthetic run (K1, K3), in the ``run_meta.json`` beside every log.
RUN_META = {"expert_pass_rate": 0.4, "expert_entropy": 10.0}


def synthetic_run(rows: int, seed: int = 0):
    """N rows: SFT for the first fifth, RL for three fifths, SFT again, one evaluation per step (a DataFrame)."""
    sys.path[:0] = [str(REPOSITORY), str(REPOSITORY / "theory")]
    from tests.bridge.synthetic import isotropic_run

    sft, rl = rows // 5, rows - 2 * (rows // 5)
    scale = 400.0 / rows  # the same curves whatever N: the flows' rates per step shrink with N
    return isotropic_run([("sft", sft - 1), ("rl", rl - 1), ("sft", sft - 1)], every=1, start=(0.5, 0.0),
                         rl_time_per_step=scale, sft_time_per_step=0.1 * scale, loss_noise=0.03, reward_noise=0.01, seed=seed)


def write_log(path: Path, rows: int, seed: int = 0, timestamps: bool = False) -> None:
    """:func:`synthetic_run` as one log: JSONL, or CSV where ``path`` ends in ``.csv`` (floats to 17 digits: the same numbers).

    ``timestamps``: each record starts with the time it was logged, ``"time": "2026-12-06T00:00:00"``
    one second apart, as many loggers write it (a text that pyarrow reads as a timestamp).
    """
    run = synthetic_run(rows, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    if timestamps:
        start = datetime.datetime(2026, 12, 6)
        run.insert(0, "time", [(start + datetime.timedelta(seconds=row)).isoformat() for row in range(len(run))])
    if path.suffix == ".csv":
        run.to_csv(path, index=False, float_format="%.17g")
    else:
        with path.open("w") as handle:
            for record in run.to_dict("records"):
                handle.write(json.dumps(record) + "\n")
    (path.parent / "run_meta.json").write_text(json.dumps(RUN_META))


#: Logs written one per stage, as the trainers write them: TRL's ``trainer_state.json`` (a training entry and the
#: coupling callback's ``eval_*`` entry per step in its ``log_history``, :func:`trl_history`), a TensorBoard event file of ``simple_value`` scalars, as torch's
#: ``SummaryWriter`` writes them for TRL, OpenRLHF and verl, verl's file logger (``{"step": N, "data": {...}}``
#: lines, its ``val/loss`` and ``critic/score/mean``), or an MLflow run's metric files (``timestamp value step``
#: lines, as ``mlflow.log_metric`` writes them to a ``file:`` store).
STAGE_FORMATS = ("trl", "tensorboard", "verl", "mlflow")
#: The log file of a stage's folder for each format of :data:`STAGE_FORMATS` (the check is given the file; for
#: TensorBoard and MLflow, the folder), and the check's preset (TensorBoard's and MLflow's names are found by the aliases).
STAGE_FILES = {"trl": "trainer_state.json", "tensorboard": "events.out.tfevents.0.synthetic", "verl": "log.jsonl",
               "mlflow": "metrics"}
STAGE_PRESETS = {"trl": "trl", "verl": "verl"}


def trl_history(steps: list, losses: list, rewards: list) -> list[dict]:
    """A ``log_history`` as a TRL trainer with the coupling callback writes it: per step the trainer's training entry
    (its epoch, gradient norm, learning rate and loss), then the callback's evaluation entry (``eval_*``)."""
    history = []
    for step, loss, reward in zip(steps, losses, rewards):
        epoch = round(step / max(steps[-1], 1), 4)
        history += [{"epoch": epoch, "grad_norm": 1.0 + reward, "learning_rate": 1e-6, "loss": 0.01 * reward, "step": step},
                    {"epoch": epoch, "eval_reward": reward, "eval_sft_loss": loss, "step": step}]
    return history


def trainer_state_json(history: list[dict]) -> str:
    """A ``trainer_state.json`` of this ``log_history``, as ``transformers.TrainerState.save_to_json`` writes it:
    the state's fields (those of ``tests/bridge/fixtures/trl_grpo_trainer_state.json``), ``indent=2``, keys sorted."""
    steps = history[-1]["step"]  # the last one: where the stage's trainer stopped
    state = {"best_global_step": None, "best_metric": None, "best_model_checkpoint": None, "epoch": 1.0, "eval_steps": 1,
             "global_step": steps, "is_hyper_param_search": False, "is_local_process_zero": True, "is_world_process_zero": True,
             "log_history": history, "logging_steps": 1, "max_steps": steps, "num_input_tokens_seen": 0, "num_train_epochs": 1,
             "save_steps": steps, "stateful_callbacks": {"TrainerControl": {"args": {
                 "should_epoch_stop": False, "should_evaluate": False, "should_log": False, "should_save": True,
                 "should_training_stop": True}, "attributes": {}}},
             "total_flos": 0.0, "train_batch_size": 8, "trial_name": None, "trial_params": None}
    return json.dumps(state, indent=2, sort_keys=True) + "\n"


def write_stage_logs(folder: Path, rows: int, kind: str, seed: int = 0) -> list[str]:
    """:func:`synthetic_run` as one log per stage in ``folder`` (:data:`STAGE_FORMATS`): the check's log arguments."""
    run = synthetic_run(rows, seed)
    for stage, frame in run.groupby("stage"):
        directory = folder / f"stage{stage}-{frame['phase'].iloc[0]}"
        directory.mkdir(parents=True)
        (directory / "run_meta.json").write_text(json.dumps(RUN_META))
        steps, losses, rewards = (frame[column].tolist() for column in ("step", "sft_loss", "reward"))
        if kind == "trl":
            (directory / STAGE_FILES[kind]).write_text(trainer_state_json(trl_history(steps, losses, rewards)))
        elif kind == "verl":
            with (directory / STAGE_FILES[kind]).open("w") as handle:
                for s, loss, r in zip(steps, losses, rewards):
                    handle.write(json.dumps({"step": s, "data": {"val/loss": loss, "critic/score/mean": r}}) + "\n")
        elif kind == "mlflow":
            _write_metrics(directory / STAGE_FILES[kind], steps, {"eval/sft_loss": losses, "eval/reward": rewards})
        else:
            _write_events(directory / STAGE_FILES[kind], steps, {"eval/sft_loss": losses, "train/reward": rewards})
    return stage_arguments(folder, kind)


def stage_arguments(folder: Path, kind: str) -> list[str]:
    """The check's arguments for the stage logs of :func:`write_stage_logs`: the logs in order, ``--phase``, the preset."""
    stages = sorted(folder.glob("stage*-*"), key=lambda directory: int(directory.name[5:].split("-")[0]))
    logs = [str(directory if kind in ("tensorboard", "mlflow") else directory / STAGE_FILES[kind]) for directory in stages]
    preset = ["--preset", STAGE_PRESETS[kind]] if kind in STAGE_PRESETS else []
    return [*logs, "--phase", *(directory.name.split("-")[1] for directory in stages), *preset]


def _write_events(path: Path, steps: list, scalars: dict) -> None:
    """One TensorBoard event file: an event per tag and step, one ``simple_value`` each (``tests.bridge.synthetic.write_events``)."""
    from tests.bridge.synthetic import write_events  # on the path since synthetic_run

    write_events(path, [(step, [(tag, values[index])]) for index, step in enumerate(steps) for tag, values in scalars.items()])


def _write_metrics(metrics: Path, steps: list, scalars: dict) -> None:
    """An MLflow run's ``metrics`` folder: a file per key (``/`` nests folders), a line per step, as mlflow's file store
    writes them (``FileStore._log_run_metric``: ``f"{timestamp} {value} {step}\\n"``, the time in milliseconds)."""
    for key, values in scalars.items():
        (metrics / key).parent.mkdir(parents=True, exist_ok=True)
        (metrics / key).write_text("".join(f"{1796601600000 + 1000 * index} {value} {step}\n"
                                           for index, (step, value) in enumerate(zip(steps, values))))


#: The variables that set the BLAS libraries' thread counts (cleared for a check in a user's default environment).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class CheckRun(NamedTuple):
    """One ``nondecoupling check`` in a fresh process, as :func:`check` measures it."""

    wall: float  #: seconds
    cpu: float  #: CPU seconds, user + system
    system: float  #: of which system (kernel) seconds: page faults, file reads; on a virtual machine the host's share
    peak_mb: float  #: peak resident memory
    code: int  #: exit code


def check(logs: Path | Sequence[str], out: Path, bootstrap: int, source: Path = REPOSITORY,
          null_cache: Path | None = None, one_thread: bool = True) -> CheckRun:
    """Wall time, CPU time, its system part, peak resident memory and exit code of one ``nondecoupling check``.

    ``logs``: one log, or the check's log arguments (:func:`write_stage_logs`).

    CPU time (user + system) is reported beside wall time: on a shared machine the wall time
    measures the neighbours too. The system part is given apart: on these virtual machines it
    varies between identical runs (0.25-0.66 s of a 10^6-row check on 2026-12-07, its user time
    within 0.15 s), so it tells the host's noise from a change of the code. The check's own rusage (``os.wait4``), not the running
    maximum over all children, so that revisions can alternate; started by a small launcher
    (:data:`_LAUNCH`), so that its peak memory is not the caller's. ``null_cache``: the folder of
    stored trend nulls (``NONDECOUPLING_NULL_CACHE``; default: the user's, whatever it holds).
    ``one_thread``: with ``OMP_NUM_THREADS=1``, so that revisions compare their own work; else in
    a user's default environment (:data:`THREAD_VARIABLES` unset), where a revision before
    ``nondecoupling.cli.ONE_BLAS_THREAD`` also pays for OpenBLAS's spinning worker threads.
    """
    compile_bytecode(source)
    env = {name: value for name, value in os.environ.items() if name not in THREAD_VARIABLES}
    env.update({"PYTHONPATH": f"{source / 'theory'}:{source}"}, **({"OMP_NUM_THREADS": "1"} if one_thread else {}))
    if null_cache is not None:
        env["NONDECOUPLING_NULL_CACHE"] = str(null_cache)
    logs = [str(logs)] if isinstance(logs, Path) else list(logs)
    command = [sys.executable, "-m", "nondecoupling", "check", *logs, "--out", str(out), "--lam", "0.05",
               "--bootstrap", str(bootstrap)]
    start = time.perf_counter()
    launcher = subprocess.run([sys.executable, "-c", _LAUNCH, *command], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    code, user, system, peak_kb, stderr = json.loads(launcher.stdout.strip().splitlines()[-1])
    if code:
        print(stderr, file=sys.stderr)
    return CheckRun(wall, user + system, system, peak_kb / 1024.0, code)


@functools.cache
def compile_bytecode(source: Path) -> None:
    """Compile the checkout's package to bytecode once, as ``pip install`` does, before any check is timed.

    Under ``PYTHONDONTWRITEBYTECODE`` (set on these machines) a checkout never caches its bytecode, so every
    timed check would also compile each module whose source changed since its last cached ``.pyc``
    (0.1-0.15 s at this revision; every module in a freshly extracted old revision).
    """
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(source / "theory" / "nondecoupling")],
                   check=True, stdout=subprocess.DEVNULL)


#: Runs the check as its own child and prints its exit code, user and system CPU seconds, peak RSS (kB) and stderr. Linux counts
#: in a child's ru_maxrss the resident memory of the process it was forked from (kept across exec): forked from a
#: benchmark that holds 500 MB, every check would report at least that. Forked from this small launcher, it cannot.
_LAUNCH = """
import json, os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
stderr = child.stderr.read()
_, status, usage = os.wait4(child.pid, 0)
print(json.dumps([os.waitstatus_to_exitcode(status), usage.ru_utime, usage.ru_stime, usage.ru_maxrss, stderr]))
"""


def write_log_apart(path: Path, rows: int, timestamps: bool = False, stages: str | None = None) -> Path | list[str]:
    """:func:`write_log` (or, with ``stages``, :func:`write_stage_logs` into the folder ``path``) in a child process.

    A check started from this process would otherwise report its peak: Linux keeps the largest
    resident size of a process across ``exec``, so a child forked from a process that built a
    10^6-row frame starts with that frame's memory as its ``ru_maxrss``. Returns the check's logs.
    """
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--write-log", str(path), "--rows", str(rows),
                    *(["--timestamps"] if timestamps else []), *(["--stages", stages] if stages else [])], check=True)
    return stage_arguments(path, stages) if stages else path


def _verdicts(out: Path) -> dict:
    checks = json.loads((out / "report.json").read_text())["checks"]
    return {f"{c['id']}@{c['stage']}": c["verdict"] for c in checks}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples (the command's default)")
    parser.add_argument("--source", type=Path, nargs="+", default=[REPOSITORY],
                        help="checkouts to compare (e.g. a worktree of the previous revision): run alternately")
    parser.add_argument("--repeats", type=int, default=1, help="runs per checkout, alternating")
    parser.add_argument("--user-environment", action="store_true",
                        help="no OMP/OpenBLAS/MKL thread variable set (default: OMP_NUM_THREADS=1)")
    parser.add_argument("--timestamps", action="store_true", help="each record with the time it was logged (write_log)")
    parser.add_argument("--csv", action="store_true", help="the log as CSV instead of JSONL")
    parser.add_argument("--stages", choices=STAGE_FORMATS, help="one log per stage, as TRL, a TensorBoard writer, verl or MLflow writes it")
    parser.add_argument("--write-log", type=Path, help=argparse.SUPPRESS)  # the child of write_log_apart
    args = parser.parse_args(argv)
    if args.write_log is not None:
        if args.stages:
            write_stage_logs(args.write_log, args.rows[0], args.stages)
        else:
            write_log(args.write_log, args.rows[0], timestamps=args.timestamps)
        return 0
    measured = {}
    print("| rows | log MB | checkout | nulls | check wall s | check CPU s | of it system s | peak RSS MB | verdicts |\n"
          "|---|---|---|---|---|---|---|---|---|")
    for rows in sorted(args.rows):
        with tempfile.TemporaryDirectory() as tmp:
            log = write_log_apart(Path(tmp) / ("logs" if args.stages else "log.csv" if args.csv else "log.jsonl"), rows,
                                  args.timestamps, args.stages)
            seen = {}
            for repeat in range(args.repeats):
                for index, source in enumerate(args.source):
                    nulls = Path(tmp) / f"nulls-{index}-{repeat}"  # empty: the first run simulates, the second reads
                    for state in ("cold", "warm"):
                        out = Path(tmp) / f"report-{index}-{repeat}-{state}"
                        run = check(log, out, args.bootstrap, source, nulls, not args.user_environment)
                        measured.setdefault((rows, source, state), []).append((run.cpu, run.peak_mb))
                        verdicts = _verdicts(out) if run.code == 0 else f"exit {run.code}"
                        same = "" if not seen or verdicts == next(iter(seen.values())) else " (differ)"
                        seen[(source, state)] = verdicts
                        summary = json.loads((out / "report.json").read_text())["summary"] if run.code == 0 else verdicts
                        print(f"| {rows:,} | {_megabytes(log):.0f} | {source.resolve().name} | {state} | {run.wall:.1f} | "
                              f"{run.cpu:.2f} | {run.system:.2f} | {run.peak_mb:.0f} | {summary}{same} |", flush=True)
    _print_ranges(measured, args.source)
    return 0


def _megabytes(logs: Path | list[str]) -> float:
    """The size of the log, or of the logs (and their folders' files) that the check's arguments name."""
    paths = [logs] if isinstance(logs, Path) else [Path(a) for a in logs if not a.startswith("--") and Path(a).exists()]
    return sum(p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) for p in paths) / 2**20


def _print_ranges(measured: dict, sources: list) -> None:
    """CPU and peak memory per checkout and cache state as ranges over the repeats, and ratios to the first checkout's."""
    print("\n| rows | checkout | nulls | CPU s | peak RSS MB | CPU / first | RSS / first |\n|---|---|---|---|---|---|---|")
    for (rows, source, state), runs in measured.items():
        cpu, peak = (sorted(r[i] for r in runs) for i in (0, 1))
        first = measured[(rows, sources[0], state)]
        cpu_ratio = [c / f for c, f in zip((r[0] for r in runs), (r[0] for r in first))]
        rss_ratio = [c / f for c, f in zip((r[1] for r in runs), (r[1] for r in first))]
        print(f"| {rows:,} | {source.resolve().name} | {state} | {cpu[0]:.1f}-{cpu[-1]:.1f} | {peak[0]:.0f}-{peak[-1]:.0f} | "
              f"{min(cpu_ratio):.2f}-{max(cpu_ratio):.2f} | {min(rss_ratio):.2f}-{max(rss_ratio):.2f} |")


if __name__ == "__main__":
    raise SystemExit(main())
