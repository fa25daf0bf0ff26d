"""Every committed run names a command that runs today, and the cheapest one made on this CPU reproduces its log.

``run_meta.json`` records ``command`` (``python -m MODULE ... --out FOLDER``) and ``versions``;
the command must parse with today's module and write into the run's own folder. The documentation's
examples (``docs/*example*/run_meta.json``) name the script that made them, which must exist. The slow test
re-runs, of the committed runs recorded on this machine's CPU, the one with the smallest recorded wall
time and compares its log with the committed one: same steps, every metric within :data:`TOLERANCE`.

Measured drift (2026-12-04): re-running ``cola/size/h32-l2-seed2`` (recorded with transformers
5.24.0) under the pinned versions of constraints/bridge.txt (transformers 5.25.0) on the project's
CPU (AMD EPYC, one torch thread) gives a log identical to the last digit: 0.0 in every metric at
all 24 points. On another CPU torch's kernels may round differently and the training trajectory
diverges, so the comparison runs only on the CPU the run recorded (skipped elsewhere). The model
name does not pin that down: on 2026-12-06 an "AMD EPYC" of another generation (family 25 model 17,
AVX-512) re-made the same run 2e-3 nats off in the SFT loss. Runs now record the CPU's family,
model and the ISA torch dispatches to (:func:`simulations.qwen3.runner.cpu_identity`), and only a
run recorded so is compared; ``simulations/data/anchors/`` holds one small run per CPU met, made
there, for this test (``python -m simulations.qwen3.reproduce --anchor``).
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("trl")
pytest.importorskip("torch")

from simulations.qwen3.reproduce import code_revision, is_finished, log_drift, mark_finished, recorded_argv, rerun  # noqa: E402
from simulations.qwen3.reproduce import main as reproduce_main  # noqa: E402
from simulations.qwen3.runner import cpu_identity  # noqa: E402

pytestmark = pytest.mark.torch
REPO = Path(__file__).resolve().parents[2]
RUNS = sorted((REPO / "simulations" / "data").rglob("run_meta.json"))
EXAMPLES = sorted((REPO / "docs").glob("*example*/run_meta.json"))
#: |re-run - committed| allowed per logged metric (nats for sft_loss and kl, rates otherwise): the measured
#: drift is 0; this admits last-digit differences of a reduction, not a different trajectory.
TOLERANCE = 1e-9


@pytest.mark.parametrize("meta_path", RUNS, ids=lambda path: str(path.parent.relative_to(REPO / "simulations" / "data")))
def test_committed_run_records_a_command_that_runs_today_and_its_versions(meta_path):
    meta = json.loads(meta_path.read_text())
    argv = recorded_argv(meta, Path("OUT"))
    recorded_out = meta["command"].split("--out ")[1].split()[0]
    assert (REPO / recorded_out).resolve() == meta_path.parent.resolve()
    module = importlib.import_module(argv[1])
    if hasattr(module, "__path__"):  # python -m PACKAGE runs PACKAGE.__main__
        module = importlib.import_module(argv[1] + ".__main__")
    module.build_parser().parse_args(argv[2:])  # exits (SystemExit) on an option that no longer exists
    assert {"torch", "transformers", "trl"} <= set(meta["versions"])
    # A log that today's code no longer makes is regenerated (reproduce --in-place), not kept with a note.
    assert meta.get("log_reproduces", True), f"{meta_path}: {meta.get('reproduction_note')}"


@pytest.mark.parametrize("meta_path", EXAMPLES, ids=lambda path: path.parent.name)
def test_documentation_example_names_the_script_that_made_it(meta_path):
    meta = json.loads(meta_path.read_text())
    script = re.search(r"[\w./-]+\.py", meta.get("command", ""))
    assert script and (REPO / script.group()).is_file(), f"{meta_path}: command {meta.get('command')!r}"
    if "writer" in meta:  # logged by the callback from a trainer: the libraries that trained it
        assert {"torch", "transformers", "trl"} <= set(meta["versions"])


def _full_history() -> bool:
    """Whether this checkout is a git clone with its whole history (not an sdist, not a shallow clone)."""
    shallow = subprocess.run(["git", "rev-parse", "--is-shallow-repository"], cwd=REPO, capture_output=True, text=True)
    return shallow.returncode == 0 and shallow.stdout.strip() == "false"


def test_every_recorded_code_revision_is_a_commit_whose_tree_has_the_recorded_module():
    if not _full_history():
        pytest.skip("no full git history here (an sdist or a shallow clone): code_revision cannot be looked up")
    missing = []
    for meta_path in RUNS:
        meta = json.loads(meta_path.read_text())
        if "code_revision" not in meta:
            continue
        revision, module = meta["code_revision"], recorded_argv(meta, Path("OUT"))[1].replace(".", "/")
        trees = subprocess.run(["git", "ls-tree", "--name-only", revision, f"{module}.py", f"{module}/__main__.py"],
                               cwd=REPO, capture_output=True, text=True)
        if not re.fullmatch(r"[0-9a-f]{40}", revision) or trees.returncode or not trees.stdout.strip():
            missing.append(f"{meta_path.parent.relative_to(REPO)}: {revision} ({module})")
    assert not missing, "\n".join(missing)


def test_a_finished_run_records_the_revision_taken_when_it_started(tmp_path):
    (tmp_path / "run_meta.json").write_text(json.dumps({"command": "python -m x --out y"}))
    assert not is_finished(tmp_path) and not is_finished(tmp_path / "absent")
    revision = {"code_revision": "0" * 40, "code_modified": False}
    mark_finished(tmp_path, revision, final_rewards={"strict_reward": 0.5})
    meta = json.loads((tmp_path / "run_meta.json").read_text())
    assert is_finished(tmp_path) and meta == {"command": "python -m x --out y", **revision,
                                              "final_rewards": {"strict_reward": 0.5}, "finished": True}
    if _full_history():
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        assert code_revision()["code_revision"] == head


@pytest.mark.parametrize("argv", [["--anchor", "some/run"], ["--out", "x"], ["--in-place"]])
def test_the_command_line_wants_a_run_except_for_an_anchor(argv, capsys):
    with pytest.raises(SystemExit):
        reproduce_main(argv)
    assert "RUN" in capsys.readouterr().err


def test_a_command_of_a_module_that_is_gone_is_named():
    with pytest.raises(ValueError, match="theory.bridge.qwen3"):
        recorded_argv({"command": "python -m theory.bridge.qwen3 --out x"}, Path("y"))


def _write_log(path: Path, steps: list[int], sft_loss: list[float]) -> Path:
    lines = [{"phase": "sft", "stage": 0, "step": step, "sft_loss": loss} for step, loss in zip(steps, sft_loss, strict=True)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_log_drift_is_the_largest_difference_and_compares_other_schedules_only_at_shared_steps(tmp_path):
    recorded = _write_log(tmp_path / "old.jsonl", [0, 10, 20], [2.0, 1.5, 1.0])
    same_steps = _write_log(tmp_path / "new.jsonl", [0, 10, 20], [2.0, 1.25, 1.125])
    assert log_drift(recorded, same_steps)["max_abs_diff"].tolist() == [0.25]
    denser = _write_log(tmp_path / "dense.jsonl", [0, 1, 2, 10, 20], [2.0, 9.0, 9.0, 1.5, 1.0])
    with pytest.raises(ValueError, match="3 \\(stage, step\\) points"):
        log_drift(recorded, denser)
    shared = log_drift(recorded, denser, shared_steps=True)  # steps 1, 2 (off by 7) are not compared
    assert shared[["points", "max_abs_diff"]].values.tolist() == [[3, 0.0]]


def _cheapest_standalone_run(cpu: str) -> Path | None:
    """The committed runner run (``python -m simulations.qwen3``) recorded on ``cpu`` (:func:`cpu_identity`), cheapest first."""
    metas = [(json.loads(p.read_text()), p.parent) for p in RUNS]
    runs = [(m["wall_time_s"], str(folder)) for m, folder in metas
            if m["command"].startswith("python -m simulations.qwen3 ") and m.get("hardware", "").startswith(f"{cpu}, ")]
    return Path(min(runs)[1]) if runs else None


def test_the_cpu_identity_names_family_model_and_isa_as_the_first_field_of_hardware():
    """So that a record made before 2026-12-06 (the model name alone) never matches a CPU: it cannot tell generations apart."""
    assert re.fullmatch(r"[^,]+ \(family \S+ model \S+; \w+\)", cpu_identity()), cpu_identity()


@pytest.mark.slow
def test_the_cheapest_committed_run_reproduces_its_log(tmp_path):
    """The cheapest run made on this machine's CPU (an anchor where one was made here) re-made from its command."""
    cpu = cpu_identity()
    run = _cheapest_standalone_run(cpu)
    if run is None:
        pytest.skip(f"no committed run was recorded on {cpu!r}; another CPU's kernels give another trajectory "
                    "(make one here: python -m simulations.qwen3.reproduce --anchor)")
    revision = json.loads((run / "run_meta.json").read_text()).get("code_revision")
    if revision and subprocess.run(["git", "cat-file", "-e", f"{revision}^{{commit}}"], cwd=REPO).returncode:
        pytest.skip(f"{run.name} was made by {revision}, which this clone's history lacks (a shallow clone)")
    drift = log_drift(run / "log.jsonl", rerun(run, tmp_path) / "log.jsonl")
    assert (drift["max_abs_diff"] <= TOLERANCE).all(), drift.to_string()
