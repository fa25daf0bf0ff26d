"""The CoLA-like protocol's premise table: per run, whether RL started at the SFT optimum, and the
predictions made before RL. Read from the committed logs (nothing is re-run here): the README's and
docs/experiments.md's table and the sweep's ``figures/cola_premises.csv`` must be what the logs say."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulations.qwen3.cola import ColaTask
from simulations.qwen3.experiments import (
    PREMISE_BLOCK,
    PREMISE_COLUMNS,
    PREMISE_PASS_TOLERANCE,
    grpo_prediction,
    net_gain_peak,
    premise_markdown,
    premise_row,
    premise_table,
)

REPO = Path(__file__).resolve().parents[2]
TASK = {"label_accuracy": 0.8, "strict_format_rate": 0.7, "bare_rate": 0.2}


@pytest.fixture(scope="module")
def committed() -> pd.DataFrame:
    return premise_table()


@pytest.mark.parametrize("document", ["README.md", "docs/experiments.md"])
def test_the_documents_show_the_committed_logs_table(committed, document):
    (match,) = PREMISE_BLOCK.finditer((REPO / document).read_text(encoding="utf-8"))
    assert match.group(0) == match.group(1) + premise_markdown(committed) + match.group(2)


def test_the_sweeps_csv_is_the_committed_logs_table(committed):
    from simulations.sweep import csv_text

    assert (REPO / "figures" / "cola_premises.csv").read_text(encoding="utf-8") == csv_text(committed[PREMISE_COLUMNS])


def test_the_first_protocol_never_met_the_premise(committed):
    """Issue 23's finding, from the logs: every first-protocol SFT ended far below a (so its table rows say so)."""
    old = committed[committed["plan"] == "protocol"]
    assert len(old) == 9
    assert (old["sft_end_pass_gap"] < -PREMISE_PASS_TOLERANCE).all()
    assert (old["premise"] == "premise not met").all()


def test_met_premises_are_within_the_tolerances_and_the_bridges_test(committed):
    met = committed[committed["premise"] == "met"]
    assert (met["sft_end_pass_gap"].abs() <= PREMISE_PASS_TOLERANCE).all()
    assert not met["bridge_rl_start_premise"].str.contains("not met").any()


def _log(path: Path, sft_rates, sft_losses, rl_rates, rl_losses) -> tuple[dict, pd.DataFrame]:
    """A synthetic sft-rl run (log.jsonl + run_meta.json) read back as the runner's are."""
    from nondecoupling.bridge import read_run

    task = ColaTask()
    rows = [{"phase": "sft", "stage": 0, "step": 10 * k, "sft_loss": loss, "pass_rate": rate, "reward": rate}
            for k, (rate, loss) in enumerate(zip(sft_rates, sft_losses, strict=True))]
    start = rows[-1]["step"]
    rows += [{"phase": "rl", "stage": 1, "step": start + 10 * k, "sft_loss": loss, "pass_rate": rate, "reward": rate}
             for k, (rate, loss) in enumerate(zip(rl_rates, rl_losses, strict=True))]
    path.mkdir(parents=True)
    (path / "log.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    meta = {"expert_pass_rate": task.expert_pass_rate, "expert_entropy": task.expert_entropy, "task": task.to_dict(),
            "config": {"training": {"beta": 0.5}}}
    (path / "run_meta.json").write_text(json.dumps(meta))
    return meta, read_run(path / "log.jsonl")


def test_premise_row_tells_an_sft_end_at_the_expert_from_one_below_it(tmp_path):
    task, rng = ColaTask(), np.random.default_rng(0)
    a, entropy = task.expert_pass_rate, task.expert_entropy
    settle = np.r_[np.linspace(0.3, a, 6), np.full(8, a)] + rng.normal(0, 1e-3, 14)
    losses = np.r_[np.linspace(1.8, entropy, 6), np.full(8, entropy)] + rng.normal(0, 1e-3, 14)
    rl = (np.linspace(a, 0.8, 6), np.linspace(entropy, entropy + 0.4, 6))
    meta, run = _log(tmp_path / "at", settle, losses, *rl)
    row = premise_row(meta, run, tmp_path / "at")
    assert row["premise"] == "met" and row["bridge_rl_start_premise"] == "supported"
    assert abs(row["sft_end_pass_gap"]) < 0.01 and abs(row["sft_end_loss_excess"]) < 0.01
    meta, run = _log(tmp_path / "below", settle - 0.15, losses + 0.2, *rl)
    row = premise_row(meta, run, tmp_path / "below")
    assert row["premise"] == "premise not met" and row["bridge_rl_start_premise"] == "not met"
    assert row["sft_end_pass_gap"] == pytest.approx(-0.15, abs=0.01)


@pytest.mark.parametrize("lam", [0.25, 1.0, 4.0])
def test_the_net_gain_peak_solves_its_first_order_condition(lam):
    """Along K1's floor (the tilt) d/db [(b - a) - lam kl(a || b)] = 0 at b (1 - b) = lam (b - a)."""
    a, peak = ColaTask().expert_pass_rate, net_gain_peak(TASK, lam)
    assert peak * (1 - peak) == pytest.approx(lam * (peak - a), abs=2e-3)
    assert a < peak < 1


def test_writing_the_table_needs_the_documents_block(tmp_path):
    from simulations.qwen3.experiments import write_premise_block

    document = tmp_path / "doc.md"
    document.write_text("before\n<!-- cola-premise-table -->\nold\n<!-- /cola-premise-table -->\nafter\n")
    write_premise_block(document, "| new |")
    assert document.read_text() == "before\n<!-- cola-premise-table -->\n| new |\n<!-- /cola-premise-table -->\nafter\n"
    document.write_text("no block\n")
    with pytest.raises(ValueError, match="no <!-- cola-premise-table -->"):
        write_premise_block(document, "| new |")


def test_protocol_v2s_sft_options_reach_the_runs_settings():
    """SFT_V2's command line parses into an enumerated, full-batch, cosine-decayed SFT; a bad schedule is refused."""
    pytest.importorskip("trl", reason="the runner needs the torch extra")
    from nondecoupling import ParameterError
    from simulations.qwen3.__main__ import build_parser, config_from_args
    from simulations.qwen3.experiments import PLANS
    from simulations.qwen3.stages import TrainingSettings

    spec = PLANS["protocol-v2"][0]
    config = config_from_args(build_parser().parse_args(spec.command()[3:]))
    assert (config.sft_data, config.sft_train_size, config.training.sft_batch_size) == ("enumerated", 1950, 1950)
    assert config.training.sft_lr_scheduler == "cosine" and config.task.expert_pass_rate == pytest.approx(0.56)
    with pytest.raises(ParameterError, match="sft_lr_scheduler"):
        TrainingSettings(sft_lr_scheduler="warmup")


@pytest.mark.parametrize("beta", [0.1, 0.25, 0.5, 2.0])
@pytest.mark.parametrize("group", [2, 8])
def test_grpos_predicted_stop_is_v1_at_the_groups_effective_beta(beta, group):
    """The runner's GRPO (group-centred, bias-corrected KL) stops where V1's optimum at beta G / (G - 1) is: its
    pass rate and SFT-loss increase against the library's tilted_tradeoff and C1 (sft_increase_after_kl_rl)."""
    from nondecoupling import sft_increase_after_kl_rl, tilted_tradeoff

    meta = {"task": TASK, "config": {"training": {"num_generations": group}}}
    predicted = grpo_prediction(meta, beta)
    probs, rewards = ColaTask(**TASK).expert_reward_table()
    effective = beta * group / (group - 1)
    reward, _, _ = tilted_tradeoff(np.full((1, 1), 1.0 / effective), probs[None], rewards[None])
    assert predicted["predicted_rl_pass_rate"] == pytest.approx(float(np.mean(reward)), rel=1e-10)
    assert predicted["predicted_rl_increase"] == pytest.approx(float(sft_increase_after_kl_rl(probs, rewards, beta=effective)), rel=1e-9)
    assert np.isnan(grpo_prediction(meta, 0.0)["predicted_rl_pass_rate"])
