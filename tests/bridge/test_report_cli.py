"""`python -m nondecoupling.bridge check`: report.json, report.md and the figure; errors name the file."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from nondecoupling.bridge.__main__ import main
from tests.bridge.synthetic import isotropic_run, write_jsonl

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def coupled_log(tmp_path_factory):
    directory = tmp_path_factory.mktemp("run")
    # At the SFT optimum (P3's premise): the toy's reward is a pass rate that K1 binds only there.
    run = isotropic_run([("sft", 100), ("rl", 200), ("sft", 100)], start=(0.0, 0.0), loss_noise=0.03, reward_noise=0.01)
    return write_jsonl(run, directory / "log.jsonl", meta={"expert_pass_rate": 0.4, "expert_entropy": 10.0})


def test_command_line_writes_the_report(coupled_log, tmp_path):
    out = tmp_path / "report"
    result = subprocess.run(
        [sys.executable, "-m", "nondecoupling.bridge", "check", str(coupled_log), "--out", str(out), "--lam", "0.05",
         "--bootstrap", "50"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "0 violated" in result.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["expert_pass_rate"] == 0.4  # from run_meta.json
    assert report["settings"]["command"] == shlex.join(["python", "-m", "nondecoupling.bridge", *result.args[3:]])
    by_id = {(c["id"], c["stage"]): c for c in report["checks"]}
    assert by_id[("A1", 1)]["verdict"] == "holds"
    p3 = by_id[("P3", 1)]
    assert set(p3["observed"]) >= {"argmax_net_gain_step", "net_gain_regret_at_prediction"}
    assert set(p3["predicted"]) >= {"optimal_rl_steps", "optimal_rl_steps_ci", "stop_at_step"}
    assert {c["id"] for c in report["checks"]} == {"A1", "rates", "P3", "P4", "K1", "K3"}
    markdown = (out / "report.md").read_text()
    assert "When should RL (stage 1) have stopped?" in markdown
    assert f"Made by `{report['settings']['command']}`." in markdown
    assert f"{p3['predicted']['stop_at_step']:.4g}" in markdown
    assert (out / "curves.png").stat().st_size > 10_000


def test_flags_override_the_sidecar(coupled_log, tmp_path):
    assert main(["check", str(coupled_log), "--out", str(tmp_path), "--expert-pass-rate", "0.3",
                 "--bootstrap", "10"]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["settings"]["expert_pass_rate"] == 0.3
    assert report["run_meta"]["expert_pass_rate"] == 0.4


def test_trl_logs_with_per_token_losses(tmp_path):
    argv = ["check", str(FIXTURES / "trl_sft_trainer_state.json"), str(FIXTURES / "trl_grpo_trainer_state.json"),
            "--phase", "sft", "--phase", "rl",  # the repeated form still works beside --phase sft rl
            "--loss-per-token", "--response-length", "2",
            "--expert-pass-rate", "1", "--expert-entropy", "0", "--out", str(tmp_path), "--bootstrap", "10"]
    assert main(argv) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert [s["phase"] for s in report["stages"]] == ["sft", "rl"]
    k1 = next(c for c in report["checks"] if (c["id"], c["stage"]) == ("K1", 1))
    # a = 1, H = 0: the sequence loss must exceed -log(pass rate) at every logged point.
    assert k1["verdict"] == "holds"
    assert report["files"][1]["step_offset"] == 8


def test_mapping_file_per_log(tmp_path):
    log = tmp_path / "export.csv"
    log.write_text("Step,nll,acc\n" + "".join(f"{s},{10 + 0.01 * s},{0.1 + 0.001 * s}\n" for s in range(0, 60, 5)))
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps([{"columns": {"Step": "step", "nll": "sft_loss", "acc": "reward"}, "phase": "rl"}]))
    assert main(["check", str(log), "--mapping", str(mapping), "--out", str(tmp_path / "o"), "--bootstrap", "10"]) == 0
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["files"][0]["columns"]["sft_loss"] == "nll"


def test_malformed_log_exits_with_the_file_and_line(tmp_path, capsys):
    log = tmp_path / "bad.jsonl"
    log.write_text('{"phase": "rl", "step": 0, "reward": 0.1}\n{"phase": "rl", "step": 1, "reward": "n/a"}\n')
    assert main(["check", str(log), "--out", str(tmp_path / "o")]) == 2
    assert f"{log}, line 2: 'reward' is 'n/a', not a number" in capsys.readouterr().err


def test_phase_flag_count_must_match(tmp_path, capsys, coupled_log):
    argv = ["check", str(coupled_log), str(coupled_log), str(coupled_log), "--phase", "sft", "--phase", "rl",
            "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "--phase: give it once or once per LOG" in capsys.readouterr().err


# ---------------------------------------------------------------- a real three-file TRL run with a callback

THREE_STAGES = [FIXTURES / f"trl_three_stage_{i}_trainer_state.json" for i in range(3)]


def _check_three_stages(states, out, capsys=None):
    """The issue's command line, verbatim: no hand editing of the files."""
    from tests.bridge.trl_runs import EXPERT_PASS_RATE

    argv = ["check", *map(str, states), "--phase", "sft", "rl", "sft", "--preset", "trl",
            "--map", "verifier_pass_rate=reward", "--loss-per-token", "--response-length", "2",
            "--expert-pass-rate", str(EXPERT_PASS_RATE), "--expert-entropy", "0", "--lam", "0.05",
            "--out", str(out), "--bootstrap", "20"]
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    verdicts = {(c["id"], c["stage"]): c["verdict"] for c in report["checks"]}
    assert [s["phase"] for s in report["stages"]] == ["sft", "rl", "sft"]
    # RL towards answers the expert does not give raises the expert's SFT loss; SFT afterwards lowers the pass rate.
    assert verdicts[("A1", 1)] == "holds" and verdicts[("A1", 2)] == "holds"
    assert {verdicts[("K1", stage)] for stage in (0, 1, 2)} == {"holds"} and verdicts[("K3", 2)] == "holds"
    a1_sft = next(c for c in report["checks"] if (c["id"], c["stage"]) == ("A1", 2))
    assert a1_sft["observed"]["quantity"] == "pass_rate"  # the exact pass rate, first class
    assert a1_sft["observed"]["first_step"] == report["stages"][1]["last_step"]  # starts at RL's last point
    for file in report["files"]:  # the callback's sampled key differs between train and eval records
        assert file["conflicts"]["used"].get("verifier_pass_rate", 0) >= 1
        assert file["merge_rule"].startswith("eval")
    markdown = (out / "report.md").read_text()
    assert "conflicting" in markdown and "rule 'eval'" in markdown
    return report


def test_three_file_trl_run_with_a_logging_callback(tmp_path):
    """The committed files that the real TRL 1.16 wrote (tests/bridge/trl_runs.py, run_three_stages)."""
    _check_three_stages(THREE_STAGES, tmp_path / "report")


@pytest.mark.slow
def test_three_file_trl_run_written_by_trl_now(tmp_path):
    """TRL writes the three files in this test (SFT -> GRPO -> SFT, ~80 s on one CPU core)."""
    pytest.importorskip("trl")
    from tests.bridge.trl_runs import run_three_stages

    _check_three_stages(run_three_stages(tmp_path / "runs"), tmp_path / "report")


def test_the_console_script_form_takes_the_logs_without_the_subcommand(coupled_log, tmp_path):
    from nondecoupling.cli import main as cli_main

    assert cli_main(["check", str(coupled_log), "--out", str(tmp_path / "o"), "--bootstrap", "5"]) == 0
    assert (tmp_path / "o" / "report.md").is_file()


@pytest.mark.parametrize("module", ["nondecoupling", "nondecoupling.bridge"])
def test_the_commands_exit_with_mains_code_and_their_objects_frozen(module, tmp_path):
    """``nondecoupling.cli.console``: the interpreter's shutdown collections skip what the command made."""
    code = ("import atexit, gc, runpy, sys; atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0)); "
            f"sys.argv = ['{module}', 'check', {str(tmp_path / 'missing.jsonl')!r}, '--out', {str(tmp_path / 'o')!r}]; "
            f"runpy.run_module('{module}', run_name='__main__', alter_sys=True)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 2, result.stderr  # main's: the log is missing
    assert "missing.jsonl" in result.stderr and result.stdout.strip() == "frozen True"


@pytest.mark.parametrize(("user", "expected"), [({}, "1"), ({"OMP_NUM_THREADS": "2"}, None), ({"OPENBLAS_NUM_THREADS": "2"}, "2")])
def test_check_starts_numpys_blas_on_one_thread_unless_the_user_set_it(user, expected, tmp_path):
    """``nondecoupling.cli.ONE_BLAS_THREAD``: set before numpy loads (``import nondecoupling`` does not load it)."""
    code = ("import atexit, os, runpy, sys\n"
            "def report():\n"
            "    from threadpoolctl import threadpool_info\n"
            "    blas = [pool['num_threads'] for pool in threadpool_info() if pool['user_api'] == 'blas']\n"
            "    print(os.environ.get('OPENBLAS_NUM_THREADS'), max(blas))\n"
            "atexit.register(report)\n"
            f"sys.argv = ['nondecoupling', 'check', {str(tmp_path / 'missing.jsonl')!r}, '--out', {str(tmp_path / 'o')!r}]\n"
            "runpy.run_module('nondecoupling', run_name='__main__', alter_sys=True)\n")
    env = {name: value for name, value in os.environ.items() if name not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env={**env, **user})
    assert result.returncode == 2, result.stderr
    variable, threads = result.stdout.split()
    assert variable == str(expected)
    if not user:
        assert threads == "1"


class _FakeLibc:
    """mallopt's calls, answered with ``answer`` (glibc's 1: set; 0: refused)."""

    def __init__(self, answer: int = 1):
        self.calls, self.answer = [], answer

    def mallopt(self, parameter, value):
        self.calls.append((parameter, value))
        return self.answer


@pytest.mark.parametrize(("libc", "user", "answer", "kept"), [
    ("glibc", {}, 1, True), ("glibc", {}, 0, False), ("glibc", {"MALLOC_TOP_PAD_": "0"}, 1, False), ("", {}, 1, False)])
def test_keep_freed_memory_sets_glibcs_malloc_unless_the_user_did(monkeypatch, libc, user, answer, kept):
    """``nondecoupling.cli.keep_freed_memory``: mallopt's three settings, on glibc, where no MALLOC_ variable is set."""
    import platform

    from nondecoupling import cli

    fake = _FakeLibc(answer)
    monkeypatch.setattr(cli, "_libc", lambda: fake)
    monkeypatch.setattr(platform, "libc_ver", lambda *args, **kwargs: (libc, "2.39" if libc else ""))
    for name in cli.MALLOC_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in user.items():
        monkeypatch.setenv(name, value)
    assert cli.keep_freed_memory() is kept
    called = libc == "glibc" and not user
    assert fake.calls == (list(cli.MALLOPT_SETTINGS)[: 1 if answer == 0 else None] if called else [])


@pytest.mark.skipif(__import__("platform").libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_glibc_takes_the_settings():
    """In a fresh process (the settings last for it): glibc accepts each value (32 MiB is its largest mmap threshold)."""
    code = "from nondecoupling.cli import keep_freed_memory; print(keep_freed_memory())"
    env = {name: value for name, value in os.environ.items() if not name.startswith("MALLOC_")}
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout.strip() == "True"


@pytest.mark.parametrize(("command", "kept"), [("probe", True), ("check", False)])
def test_the_probe_command_keeps_freed_memory(command, kept, tmp_path):
    """``nondecoupling.cli.KEEP_FREED_MEMORY``: the console applies it before the command runs, for the probe alone."""
    code = ("import runpy, sys\n"
            "import nondecoupling.cli as cli\n"
            "cli.keep_freed_memory = lambda: print('kept') or True\n"
            f"sys.argv = ['nondecoupling', {command!r}, '--help']\n"
            "runpy.run_module('nondecoupling', run_name='__main__', alter_sys=True)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert (result.stdout.splitlines()[:1] == ["kept"]) is kept, result.stderr  # the probe's help needs torch; its marker not


@pytest.mark.parametrize(("command", "collecting"), [("check", False), ("watch", True), ("probe", True)])
def test_check_runs_with_the_cyclic_collector_off(command, collecting):
    """``nondecoupling.cli.COLLECTOR_OFF``: off while the command runs, for the check alone; on again after it."""
    code = ("import atexit, gc, runpy, sys, types\n"
            "import nondecoupling.cli as cli\n"
            "cli._load = lambda name: types.SimpleNamespace(main=lambda argv: print('during', gc.isenabled()) or 0)\n"
            "atexit.register(lambda: print('after', gc.isenabled()))\n"
            f"sys.argv = ['nondecoupling', {command!r}]\n"
            "runpy.run_module('nondecoupling', run_name='__main__', alter_sys=True)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["during", str(collecting), "after", "True"]


# ---------------------------------------------------------------- bad inputs: FILE, where: what, exit 2, nothing written


def _bad_input_cases(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text('{"phase": "rl", "step": 0, "reward": 0.1, "sft_loss": 1}\n{"phase": "rl", "step": 1, "reward": 0.2, "sft_loss": 1.1}\n')
    undecodable = tmp_path / "latin1.csv"
    undecodable.write_bytes("step,phase,reward\n0,rl,0.1\n1,rl,0.2 # r\xe9compense\n".encode("latin-1"))
    a_file = tmp_path / "not_a_dir"
    a_file.write_text("x")
    return {
        "undecodable": ([str(undecodable)], f"{undecodable}, line 3, byte"),
        "out_is_a_file": ([str(good), "--out-file", str(a_file)], f"{a_file}, --out: {a_file} is a file"),
        "out_below_a_file": ([str(good), "--out-file", str(a_file / "sub")], f"{a_file / 'sub'}, --out: {a_file} is a file"),
    }


@pytest.mark.parametrize("case", ["undecodable", "out_is_a_file", "out_below_a_file"])
def test_bad_inputs_exit_2_naming_the_file_before_writing(tmp_path, capsys, case):
    logs, message = _bad_input_cases(tmp_path)[case]
    out = tmp_path / "report"
    if "--out-file" in logs:
        out = Path(logs[-1])
        logs = logs[:-2]
    assert main(["check", *logs, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "report").exists()


def test_rewards_outside_the_unit_interval_do_not_break_the_figure(tmp_path):
    """Rewards in [-1, 2] are not pass rates: K1 reads only the points in [0, 1]; report and figure are still written."""
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps({"phase": "rl", "step": s, "reward": -1 + 0.5 * s, "sft_loss": 1 + 0.1 * s}) + "\n"
                           for s in range(7)))
    assert main(["check", str(log), "--expert-pass-rate", "0.5", "--out", str(tmp_path / "o"), "--bootstrap", "5"]) == 0
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert next(c for c in report["checks"] if c["id"] == "K1")["observed"]["n_points"] == 3  # rewards 0, 0.5, 1
    assert (tmp_path / "o" / "curves.png").stat().st_size > 10_000


def test_a_malformed_mapping_file_is_named(tmp_path, capsys, coupled_log):
    mapping = tmp_path / "mapping.json"
    mapping.write_text('{"columns": ')
    assert main(["check", str(coupled_log), "--mapping", str(mapping), "--out", str(tmp_path / "o")]) == 2
    assert f"{mapping}, line 1: invalid JSON" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_mixed_stage_is_checked_against_x1(tmp_path):
    """RL with an SFT term (loss R + c L, c = 1): F_1/2 = (L - J)/2 falls along the run, as X1's joint flow."""
    log = tmp_path / "ptx.jsonl"
    rng = np.random.default_rng(0)
    log.write_text("".join(json.dumps({"step": s, "sft_loss": 2 + np.exp(-s / 10) + 0.01 * rng.standard_normal(),
                                       "reward": 0.8 - 0.5 * np.exp(-s / 10) + 0.01 * rng.standard_normal()}) + "\n"
                           for s in range(0, 40)))
    assert main(["check", str(log), "--phase", "mixed", "--sft-coef", "1", "--out", str(tmp_path / "o"),
                 "--bootstrap", "5"]) == 0
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    (x1,) = [c for c in report["checks"] if c["id"] == "X1"]
    assert x1["verdict"] == "holds" and x1["predicted"]["w"] == 0.5


# ---------------------------------------------------------------- units, help, CI gate


def _callback_trainer_state(path, run):
    """A trainer_state.json whose evaluation records are those CouplingCallback appends (eval_ prefix)."""
    history = [{**{f"eval_{k}": v for k, v in record.items() if k != "step"}, "eval_k1_floor": 1.0, "step": int(record["step"])}
               for record in run.to_dict("records")]
    path.write_text(json.dumps({"log_history": history}))
    return path


def test_loss_per_token_is_refused_on_the_callbacks_per_sequence_loss(tmp_path, capsys):
    """The README's TRL command with --loss-per-token on the callback's eval_sft_loss would double it."""
    run = isotropic_run([("rl", 40)], start=(0.0, 0.0), loss_noise=0.03, reward_noise=0.01)
    state = _callback_trainer_state(tmp_path / "trainer_state.json", run.drop(columns=["phase", "stage"]))
    argv = ["check", str(state), "--phase", "rl", "--preset", "trl", "--bootstrap", "5"]
    assert main([*argv, "--loss-per-token", "--response-length", "2", "--out", str(tmp_path / "a")]) == 2
    error = capsys.readouterr().err
    assert f"{state}, --loss-per-token: the SFT loss 'eval_sft_loss' is per sequence already" in error
    assert not (tmp_path / "a").exists()
    assert main([*argv, "--out", str(tmp_path / "b")]) == 0
    assert "sft_loss <- `eval_sft_loss` [per sequence (CouplingCallback)]" in (tmp_path / "b" / "report.md").read_text()


@pytest.mark.parametrize("writer", ["nondecoupling.bridge.models.callback.CouplingCallback",
                                    "nondecoupling.bridge.callback.CouplingCallback"])  # before the models/logs split
def test_the_callbacks_log_jsonl_is_per_sequence_whichever_version_wrote_it(tmp_path, writer):
    run = isotropic_run([("rl", 40)], start=(0.0, 0.0), loss_noise=0.03, reward_noise=0.01)
    log = write_jsonl(run, tmp_path / "log.jsonl", meta={"writer": writer})
    assert main(["check", str(log), "--bootstrap", "5", "--out", str(tmp_path / "report")]) == 0
    assert "[per sequence (CouplingCallback)]" in (tmp_path / "report" / "report.md").read_text()


def test_preset_trl_reads_the_callbacks_coupling_keys_as_per_sequence(tmp_path, capsys):
    """An attached CouplingCallback logs coupling/* through the trainer: --preset trl maps them, and their
    SFT loss is per sequence (--loss-per-token refused); the trainer's own per-token loss is not taken."""
    run = isotropic_run([("rl", 40)], start=(0.0, 0.0), loss_noise=0.03, reward_noise=0.01)
    history = [{"coupling/sft_loss": r["sft_loss"], "coupling/reward": r["reward"], "loss": 0.01, "reward": 0.0,
                "step": int(r["step"])} for r in run.to_dict("records")]
    state = tmp_path / "trainer_state.json"
    state.write_text(json.dumps({"log_history": history}))
    argv = ["check", str(state), "--phase", "rl", "--preset", "trl", "--bootstrap", "5"]
    assert main([*argv, "--loss-per-token", "--response-length", "2", "--out", str(tmp_path / "a")]) == 2
    assert f"{state}, --loss-per-token: the SFT loss 'coupling/sft_loss' is per sequence already" in capsys.readouterr().err
    assert main([*argv, "--out", str(tmp_path / "b")]) == 0
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert report["files"][0]["columns"]["sft_loss"] == "coupling/sft_loss"
    assert report["files"][0]["columns"]["reward"] == "coupling/reward"  # the held-out reward, not the batch's


def test_report_header_gives_every_columns_unit(tmp_path):
    argv = ["check", str(FIXTURES / "trl_sft_trainer_state.json"), "--phase", "sft", "--loss-per-token",
            "--response-length", "2", "--out", str(tmp_path), "--bootstrap", "5"]
    assert main(argv) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    units = report["files"][0]["units"]
    assert units["sft_loss"] == "per token x response length = per sequence" and units["step"] == "optimizer step"
    assert "[per token x response length = per sequence]" in (tmp_path / "report.md").read_text()


def test_check_help_lists_the_check_options(capsys):
    from nondecoupling.cli import main as cli_main

    assert cli_main(["check", "--help"]) == 0  # argparse's exit is turned into the command's return code
    out = capsys.readouterr().out
    assert "--fail-on" in out and "--loss-per-token" in out and "--autocorrelation" in out


def test_fail_on_gates_ci(coupled_log, tmp_path):
    """The coupled run has no violation but some inconclusive verdicts (K1 near the SFT optimum)."""
    argv = ["check", str(coupled_log), "--lam", "0.05", "--bootstrap", "10"]
    assert main([*argv, "--out", str(tmp_path / "a"), "--fail-on", "violated"]) == 0
    assert main([*argv, "--out", str(tmp_path / "b"), "--fail-on", "inconclusive"]) == 1
    assert main([*argv, "--out", str(tmp_path / "c")]) == 0


# ---------------------------------------------------------------- malformed logs (issue 20): exit 2, FILE, where: what, nothing written

INTERNAL_NAMES = ("verdicts.", "check_kl_bounds", "run_checks", "n_boot", "called from", "Traceback")


def _refused(argv, out, capsys) -> str:
    """Run ``check``; assert exit 2, no internal names in the message and no output folder; return stderr."""
    code = main(["check", *map(str, argv), "--out", str(out), "--bootstrap", "5"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert not any(name in err for name in INTERNAL_NAMES), err
    assert not out.exists()
    return err


def _row(step, reward=0.1, **extra) -> str:
    return json.dumps({"phase": "rl", "step": step, "reward": reward, "sft_loss": 1.0, **extra}) + "\n"


def _trainer_state(tmp_path):
    path = tmp_path / "trainer_state.json"
    path.write_text(json.dumps({"log_history": [{"reward": 0.1, "step": 0}, {"reward": 0.2, "step": [5]}]}))
    return [path, "--phase", "rl"], f"{path}, log_history[1]: step is [5]; expected an integer"


def _verl_lines(tmp_path):
    path = tmp_path / "verl.jsonl"
    path.write_text("".join(json.dumps({"step": s, "data": {"critic": {"score": {"mean": 0.1}}}}) + "\n" for s in (0, [5])))
    return [path, "--phase", "rl", "--preset", "verl"], f"{path}, line 2: step is [5]; expected an integer"


def _jsonl(tmp_path, step):
    path = tmp_path / "log.jsonl"
    path.write_text(_row(0) + _row(step, 0.2))
    return [path], f"{path}, line 2: step is {step!r}; expected an integer from 0 to 2**53"


STEP_CASES = {
    "unhashable_in_trainer_state": _trainer_state,
    "unhashable_in_verl_lines": _verl_lines,
    "unhashable_in_jsonl": lambda tmp_path: _jsonl(tmp_path, [5]),
    "beyond_int64": lambda tmp_path: _jsonl(tmp_path, 2**63),
    "beyond_2_53": lambda tmp_path: _jsonl(tmp_path, 2**53 + 1),
}


@pytest.mark.parametrize("case", sorted(STEP_CASES))
def test_bad_steps_are_named_not_a_traceback_or_a_wrap(tmp_path, capsys, case):
    argv, message = STEP_CASES[case](tmp_path)
    assert message in _refused(argv, tmp_path / "report", capsys)


def _mlflow_run(tmp_path, monkeypatch, metrics: bool):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri(f"file:{tmp_path / 'mlruns'}")
    mlflow.set_experiment("post-training")
    with mlflow.start_run(run_name="grpo") as run:
        mlflow.log_param("learning_rate", 1e-5)
        for step in range(3) if metrics else ():
            mlflow.log_metrics({"eval/reward": 0.1 * step, "eval/sft_loss": 1.0 + step}, step=step)
    return Path(mlflow.get_run(run.info.run_id).info.artifact_uri.removeprefix("file://")).parent


def test_an_mlflow_step_that_is_not_an_integer_is_named(tmp_path, capsys, monkeypatch):
    """'²' passes str.isdigit but not int(): a StopIteration traceback before."""
    run = _mlflow_run(tmp_path, monkeypatch, metrics=True)
    metric = run / "metrics" / "eval" / "reward"
    metric.write_text(metric.read_text() + "123 4.5 ²\n")
    assert f"{metric}, line 4: step is '²'; expected an integer" in _refused([run, "--phase", "rl"], tmp_path / "report", capsys)


@pytest.mark.parametrize("empty_folder", [True, False], ids=["metrics_folder_empty", "metrics_folder_absent"])
def test_an_mlflow_run_without_metrics_is_named_as_such(tmp_path, capsys, monkeypatch, empty_folder):
    """mlflow leaves metrics/ empty; a copy through git drops the folder: neither is 'no TensorBoard event files'."""
    run = _mlflow_run(tmp_path, monkeypatch, metrics=False)
    if not empty_folder:
        (run / "metrics").rmdir()
    for given in (run, run.parent):  # the run, or its experiment
        err = _refused([given, "--phase", "rl"], tmp_path / "report", capsys)
        assert f"{run}, metrics/: the MLflow run logged no metrics" in err


def _event_file(tmp_path, points=41) -> Path:
    pytest.importorskip("tensorboard", reason="reading event files needs tensorboard (the logs extra)")
    from tensorboard.summary import Writer

    writer = Writer(str(tmp_path / "tb"))
    for step in range(points):
        writer.add_scalar("eval/sft_loss", 1.0 + 0.01 * step, step=step)
        writer.add_scalar("eval/reward", 0.5 + 0.01 * step, step=step)
    writer.close()
    (event_file,) = (tmp_path / "tb").glob("*tfevents*")
    return event_file


def _record_starts(data: bytes) -> list[int]:
    """Byte offsets of the TFRecords (8-byte length, 4-byte CRC, payload, 4-byte CRC): the test's own framing."""
    starts, offset = [], 0
    while offset < len(data):
        starts.append(offset)
        offset += 16 + int.from_bytes(data[offset:offset + 8], "little")
    return starts


@pytest.mark.parametrize("damage", ["truncated_in_a_record", "truncated_in_a_header", "payload_byte_flipped",
                                    "length_byte_flipped"])
def test_a_damaged_event_file_is_refused_at_its_record(tmp_path, capsys, damage):
    """TensorBoard's loader stops quietly at a bad record (19 of 41 points, exit 0 before): name file, record and byte."""
    event_file = _event_file(tmp_path)
    data = event_file.read_bytes()
    starts = _record_starts(data)
    middle = len(starts) // 2
    bad = {"truncated_in_a_record": starts[middle] + 20, "truncated_in_a_header": starts[middle] + 5,
           "payload_byte_flipped": starts[middle] + 14, "length_byte_flipped": starts[middle]}[damage]
    if damage.startswith("truncated"):
        event_file.write_bytes(data[:bad])
    else:
        event_file.write_bytes(data[:bad] + bytes([data[bad] ^ 0x01]) + data[bad + 1:])
    err = _refused([tmp_path / "tb", "--phase", "rl"], tmp_path / "report", capsys)
    what = "truncated" if damage.startswith("truncated") else "corrupt"
    assert f"{event_file}, record {middle} (byte {starts[middle]}): {what}" in err


def test_an_intact_event_file_is_read_whole(tmp_path):
    """The framing check reads every record of a healthy file: all 41 points."""
    event_file = _event_file(tmp_path)
    assert main(["check", str(event_file.parent), "--phase", "rl", "--out", str(tmp_path / "o"), "--bootstrap", "5"]) == 0
    assert json.loads((tmp_path / "o" / "report.json").read_text())["stages"][0]["points"] == 41


def test_a_fifo_as_the_log_is_refused_not_read(tmp_path, capsys):
    """Opening a FIFO blocks until a writer comes: the command must not open it."""
    fifo = tmp_path / "log.jsonl"
    os.mkfifo(fifo)
    assert f"{fifo}, file: not a regular file" in _refused([fifo, "--phase", "rl"], tmp_path / "report", capsys)


def test_a_repeated_step_follows_the_merge_rule(tmp_path, capsys):
    """A resumed writer re-logs a step: one point, the last value (default), or an error under --merge error."""
    log = tmp_path / "log.jsonl"
    log.write_text(_row(0) + _row(1, 0.2) + _row(1, 0.3) + _row(2, 0.4))
    err = _refused([log, "--merge", "error"], tmp_path / "report", capsys)
    assert f"{log}, line 3: 'reward' takes the values [0.2, 0.3] at one step" in err
    assert main(["check", str(log), "--out", str(tmp_path / "o"), "--bootstrap", "5"]) == 0
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["stages"][0]["points"] == 3
    assert report["files"][0]["conflicts"]["used"] == {"reward": 1}


BAD_OPTIONS = [
    (["--response-length", "0", "--loss-per-token"], "--response-length: must be > 0; got 0"),
    (["--response-length", "-2", "--loss-per-token"], "--response-length: must be > 0; got -2"),
    (["--lam", "-1"], "--lam: must be > 0; got -1"),
    (["--lam", "nan"], "--lam: must be > 0; got nan"),
    (["--bootstrap", "0"], "--bootstrap: must be >= 1; got 0"),
    (["--bootstrap", "1.5"], "--bootstrap: expected an integer; got '1.5'"),
    (["--expert-pass-rate", "2"], "--expert-pass-rate: must be >= 0 and <= 1; got 2"),
    (["--expert-entropy", "-1"], "--expert-entropy: must be >= 0; got -1"),
    (["--seed", "-1"], "--seed: must be >= 0; got -1"),
    (["--sft-coef", "-0.5"], "--sft-coef: must be >= 0; got -0.5"),
    (["--phase", "dpo"], "--phase: phase 'dpo' is neither 'sft', 'rl', 'mixed' nor a switch list"),
    (["--map", "loss"], "--map: expected SRC=DST; got 'loss'"),
    (["--map", "loss=loss_sft"], "--map: 'loss_sft' is not a canonical name"),
]


@pytest.mark.parametrize(("options", "message"), BAD_OPTIONS, ids=[" ".join(o) for o, _ in BAD_OPTIONS])
def test_bad_option_values_are_argparse_errors(tmp_path, capsys, options, message):
    log = tmp_path / "log.jsonl"
    log.write_text(_row(0) + _row(1, 0.2))
    assert f"nondecoupling check: error: argument {message}" in _refused([log, *options], tmp_path / "report", capsys)


def test_bad_expert_constants_in_run_meta_name_the_sidecar(tmp_path, capsys):
    log = tmp_path / "log.jsonl"
    log.write_text(_row(0) + _row(1, 0.2))
    (tmp_path / "run_meta.json").write_text('{"expert_pass_rate": 2}')
    err = _refused([log], tmp_path / "report", capsys)
    assert f"{tmp_path / 'run_meta.json'}, 'expert_pass_rate': 2 is not a number in [0, 1]" in err


def test_a_failure_while_writing_leaves_nothing(coupled_log, tmp_path, capsys, monkeypatch):
    """The report is staged beside --out: a failure after report.json leaves neither --out nor the staging folder."""
    write_bytes = Path.write_bytes

    def disk_full_at_the_figure(self, data):
        if self.name == "curves.png":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", disk_full_at_the_figure)
    out = tmp_path / "new" / "report"
    err = _refused([coupled_log], out, capsys)
    assert f"{out}, --out: cannot write the report: No space left on device" in err
    assert list(tmp_path.iterdir()) == []


def test_a_run_into_an_existing_out_waits_for_the_other_run(coupled_log, tmp_path):
    """Files replaced in an existing --out under the folder's lock: a second run never mixes its files in."""
    out = tmp_path / "report"
    out.mkdir()
    (out / "notes.txt").write_text("the user's own file")
    handle = os.open(out, os.O_RDONLY)
    fcntl.flock(handle, fcntl.LOCK_EX)  # another run, in the middle of moving its files in
    worker = threading.Thread(target=main, args=(["check", str(coupled_log), "--out", str(out), "--bootstrap", "5"],))
    worker.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any(out.parent.glob(".report.*.partial/curves.png")):
            time.sleep(0.05)  # the run has staged its files and now waits for the lock
        assert any(out.parent.glob(".report.*.partial/curves.png"))
        time.sleep(0.2)
        assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    finally:
        os.close(handle)
        worker.join(120)
    assert sorted(p.name for p in out.iterdir()) == ["curves.png", "notes.txt", "report.json", "report.md"]
    assert list(out.parent.iterdir()) == [out]


@pytest.mark.parametrize(("spec", "message"), [({"phase": "dpo"}, "mapping: phase 'dpo' is neither"),
                                               ({"response_length": 0}, "mapping: response_length must be a number > 0"),
                                               ({"colour": "red"}, "mapping: unknown keys ['colour']")])
def test_bad_values_in_a_mapping_file_name_the_file(tmp_path, capsys, spec, message):
    log = tmp_path / "log.jsonl"
    log.write_text(_row(0) + _row(1, 0.2))
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps(spec))
    assert f"{mapping}, {message}" in _refused([log, "--mapping", mapping], tmp_path / "report", capsys)


# ---------------------------------------------------------------- premises and the right words (issue 21)


def test_grpo_objective_mapped_as_the_sft_loss_exits_2(tmp_path, capsys):
    """GRPO's eval_loss (its policy objective, about 0 of either sign) is no cross-entropy: refused, not K1 'violated'."""
    grpo = FIXTURES / "trl_grpo_trainer_state.json"
    err = _refused([grpo, "--phase", "rl", "--map", "eval_loss=sft_loss", "--expert-pass-rate", "1"], tmp_path / "out", capsys)
    assert err.startswith(f"nondecoupling check: error: {grpo}, log_history[0]")
    assert "the SFT loss 'eval_loss' is -0.0054337 < 0" in err and "eval_sft_loss" in err


def test_an_sft_loss_near_zero_everywhere_exits_2(tmp_path, capsys):
    log = tmp_path / "log.csv"
    log.write_text("step,phase,loss,reward\n" + "".join(f"{i},rl,{(-1) ** i * 1e-8},0.{i}\n" for i in range(8)))
    err = _refused([log, "--map", "loss=sft_loss"], tmp_path / "out", capsys)
    assert f"{log}, line 2 to the end: the SFT loss 'loss' is within 1e-06 of 0 at every point" in err


def test_the_preset_hint_is_not_repeated_to_a_user_who_gave_it(tmp_path, capsys):
    log = tmp_path / "trainer_state.json"
    log.write_text(json.dumps({"log_history": [{"step": i, "eval_loss": 1.0 - i / 10, "eval_accuracy": 0.5} for i in range(5)]}))
    without = _refused([log, "--phase", "rl"], tmp_path / "a", capsys)
    assert "give --preset trl|verl|openrlhf" in without and "in an RL trainer's log it is the RL objective" in without
    given = _refused([log, "--phase", "rl", "--preset", "trl"], tmp_path / "b", capsys)
    assert "give --preset" not in given and "--preset trl looked for coupling/kl, coupling/pass_rate, coupling/reward, coupling/sft_loss, eval_kl" in given


def test_a_trl_run_directory_points_at_its_trainer_state(tmp_path, capsys):
    for step in (5, 10):
        (tmp_path / "run" / f"checkpoint-{step}").mkdir(parents=True)
        (tmp_path / "run" / f"checkpoint-{step}" / "trainer_state.json").write_text('{"log_history": []}')
    err = _refused([tmp_path / "run"], tmp_path / "out", capsys)
    assert f"give its {tmp_path / 'run' / 'checkpoint-10' / 'trainer_state.json'}" in err


def test_report_lists_the_premises_per_stage(coupled_log, tmp_path):
    assert main(["check", str(coupled_log), "--out", str(tmp_path), "--lam", "0.05", "--bootstrap", "20"]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    premises = {(p["name"], p["stage"]): p["verdict"] for p in report["premises"]}
    assert premises == {("a and H(p*) known", None): "supported", ("RL starts at an SFT optimum", 1): "supported",
                        ("P4's threshold tau within the observed SFT-loss range", 1): "supported"}
    assert report["summary"]["premise not met"] == 0 and "premise" not in {c["id"] for c in report["checks"]}
    markdown = (tmp_path / "report.md").read_text()
    assert "## Premises" in markdown and "| 1 | RL starts at an SFT optimum | supported | SFT loss settled" in markdown


def test_premise_not_met_is_reported_and_gates_like_inconclusive(tmp_path, capsys):
    run = isotropic_run([("sft", 100), ("rl", 200)], start=(-2.0, 0.0), loss_noise=0.003, reward_noise=0.002)
    log = write_jsonl(run, tmp_path / "log.jsonl")
    argv = ["check", str(log), "--lam", "0.05", "--bootstrap", "10"]
    assert main([*argv, "--out", str(tmp_path / "a"), "--fail-on", "violated"]) == 0
    assert "1 premise not met" in capsys.readouterr().out
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert next(c for c in report["checks"] if c["id"] == "P3")["verdict"] == "premise not met"
    assert "*premise not met*" in (tmp_path / "a" / "report.md").read_text()
    assert main([*argv, "--out", str(tmp_path / "b"), "--fail-on", "inconclusive"]) == 1
