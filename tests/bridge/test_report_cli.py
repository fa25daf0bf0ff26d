"""`python -m nondecoupling.bridge check`: report.json, report.md and the figure; errors name the file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nondecoupling.bridge.__main__ import main
from tests.bridge.synthetic import isotropic_run, write_jsonl

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def coupled_log(tmp_path_factory):
    directory = tmp_path_factory.mktemp("run")
    run = isotropic_run([("sft", 100), ("rl", 200), ("sft", 100)], loss_noise=0.03, reward_noise=0.01)
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
    by_id = {(c["id"], c["stage"]): c for c in report["checks"]}
    assert by_id[("A1", 1)]["verdict"] == "holds"
    p3 = by_id[("P3", 1)]
    assert set(p3["observed"]) >= {"argmax_net_gain_step", "net_gain_regret_at_prediction"}
    assert set(p3["predicted"]) >= {"optimal_rl_steps", "optimal_rl_steps_ci", "stop_at_step"}
    assert {c["id"] for c in report["checks"]} == {"A1", "rates", "P3", "P4", "K1", "K3"}
    markdown = (out / "report.md").read_text()
    assert "When should RL (stage 1) have stopped?" in markdown
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
            "--phase", "sft", "--phase", "rl", "--loss-per-token", "--response-length", "2",
            "--expert-pass-rate", "1", "--expert-entropy", "0", "--out", str(tmp_path), "--bootstrap", "10"]
    assert main(argv) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert [s["phase"] for s in report["stages"]] == ["sft", "rl"]
    k1 = next(c for c in report["checks"] if c["id"] == "K1")
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
