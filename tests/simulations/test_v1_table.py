"""The V1 table (README, docs/experiments.md, figures/v1_table.csv) against the committed logs under
simulations/data/v1-converged/: its arithmetic recomputed here from the logs, and every run's command parses today.

Nothing is re-run: the logs are read (exactly: :func:`simulations.qwen3.reproduce.log_frame`), and each
recorded command is parsed by today's module.
"""

from __future__ import annotations

import importlib
import json
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nondecoupling import sft_increase_after_kl_rl
from simulations.qwen3 import v1
from simulations.qwen3.reproduce import log_frame

REPO = Path(__file__).resolve().parents[2]
EXACT_RUNS = sorted(p.parent for p in (v1.DATA_DIR / "exact").glob("*/run_meta.json"))


@pytest.fixture(scope="module")
def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    table = v1.run_table()
    return table, v1.beta_table(table)


def test_the_plan_is_complete_in_the_logs(tables):
    table, _ = tables
    assert sorted(zip(table["beta"], table["seed"], strict=True)) == sorted((b, s) for b in v1.BETAS for s in v1.SEEDS)


@pytest.mark.parametrize("folder", EXACT_RUNS, ids=lambda f: f.name)
def test_each_rows_increase_and_c1_come_from_its_log_and_the_library(folder, tables):
    table, _ = tables
    row = table.set_index("run").loc[folder.name]
    meta = json.loads((folder / "run_meta.json").read_text())
    sft_loss = pd.read_json(folder / "log.jsonl", lines=True, precise_float=True)["sft_loss"]
    assert row["sft_increase"] == pytest.approx(sft_loss.iloc[-1] - sft_loss.iloc[0], rel=1e-12)
    a = meta["task"]["expert_pass_rate"]  # one accepted answer per prompt: p* = (a, the rest)
    expected_c1 = sft_increase_after_kl_rl(np.array([[a, 1 - a]]), np.array([[1.0, 0.0]]), beta=meta["beta"])
    assert row["c1"] == pytest.approx(float(expected_c1), rel=1e-12)
    assert row["increase_over_c1"] == pytest.approx(row["sft_increase"] / row["c1"], rel=1e-12)
    exact = pd.read_json(folder / "exact.jsonl", lines=True, precise_float=True).iloc[-1]
    assert row["final_pass_rate"] == exact["exact_pass_rate"] and row["tilt_pass_rate"] == meta["tilt_pass_rate"]


@pytest.mark.parametrize("folder", EXACT_RUNS, ids=lambda f: f.name)
def test_each_runs_converged_flag_is_its_stopping_rule_on_its_last_exact_record(folder):
    """``converged`` in run_meta.json is the rule applied to exact.jsonl's last step: the pass rate within
    PASS_RATE_TOLERANCE of the tilt's (recomputed here from the SFT model's per-prompt pass rates) and
    E KL(pi || pi_beta) = (J* - J) / beta below the run's tolerance."""
    meta = json.loads((folder / "run_meta.json").read_text())
    last = pd.read_json(folder / "exact.jsonl", lines=True, precise_float=True).iloc[-1]
    b0, s = np.asarray(meta["reference_pass_rate_per_prompt"]), 1.0 / meta["beta"]
    log_z = np.log1p(b0 * np.expm1(s))
    assert meta["tilt_pass_rate"] == pytest.approx(np.mean(b0 * np.exp(s - log_z)), rel=1e-12)
    distance = (meta["beta"] * np.mean(log_z) - last["objective"]) / meta["beta"]
    assert last["distance_to_tilt"] == pytest.approx(distance, rel=1e-9, abs=1e-15)
    rule = (abs(last["exact_pass_rate"] - meta["tilt_pass_rate"]) < v1.PASS_RATE_TOLERANCE
            and distance < meta["settings"]["tolerance"])
    assert meta["converged"] == rule
    assert last["step"] == meta["stages"][0]["steps"]


def test_the_per_beta_ci_is_the_student_t_interval_of_the_seeds(tables):
    table, by_beta = tables
    for _, row in by_beta.iterrows():
        values = table.loc[table["beta"] == row["beta"], "sft_increase"].to_numpy(float)
        low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), rel=1e-9)
        assert (row["ratio_ci_low"], row["ratio_ci_high"]) == pytest.approx((low / row["c1"], high / row["c1"]), rel=1e-9)
        assert row["ci_within_10pct"] == (low >= 0.9 * row["c1"] and high <= 1.1 * row["c1"])
        assert row["converged"] == table.loc[table["beta"] == row["beta"], "converged"].sum()


def test_the_sweeps_csv_and_the_docs_show_the_table_of_the_logs(tables):
    _, by_beta = tables
    drawn = pd.read_csv(REPO / "figures" / "v1_table.csv")
    numeric = by_beta.select_dtypes("number").columns
    np.testing.assert_allclose(drawn[numeric].to_numpy(float), by_beta[numeric].to_numpy(float), rtol=1e-5)
    markdown = v1.markdown_beta_table(by_beta)
    for doc in ("README.md", "docs/experiments.md"):
        assert markdown in (REPO / doc).read_text(), f"{doc}: the V1 table differs from the logs' (python simulations/sweep.py --only v1_table)"


#: The first plan's runs (kept for the forgetting table): their commands rely on ``exact``'s defaults.
FIRST_PLAN = v1.DATA_DIR.parent / "v1"


def _recorded_commands() -> list[tuple[str, str]]:
    metas = [p for root in (v1.DATA_DIR, FIRST_PLAN) for name in ("run_meta.json", "forgetting_meta.json") for p in root.rglob(name)]
    return [(str(p.relative_to(v1.DATA_DIR.parent)), json.loads(p.read_text())["command"]) for p in sorted(metas)]


def _import_or_skip(name: str):
    """The module, or a skip where it needs the torch extra (the README's `pip install -e '.[test]'` leaves it out)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name in ("torch", "transformers", "trl"):
            pytest.skip(f"{name} needs the torch extra ({error.name} is not installed)")
        raise


@pytest.mark.parametrize(("where", "command"), _recorded_commands(), ids=lambda value: value if "/" in value else "")
def test_every_v1_logs_command_parses_with_todays_module(where, command):
    parts = shlex.split(command)
    assert parts[:2] == ["python", "-m"], where
    module = _import_or_skip(parts[2])
    if hasattr(module, "__path__"):  # python -m PACKAGE runs PACKAGE.__main__
        module = _import_or_skip(parts[2] + ".__main__")
    module.build_parser().parse_args(parts[3:])  # SystemExit on an option or action that no longer exists
    for option in ("--sft", "--out"):
        if option in parts:
            assert (REPO / parts[parts.index(option) + 1]).is_dir(), f"{where}: {option} names a folder that is not committed"


@pytest.mark.parametrize("folder", sorted(p.parent for p in (FIRST_PLAN / "exact").glob("*/run_meta.json")) + EXACT_RUNS,
                         ids=lambda f: f"{f.parent.parent.name}/{f.name}")
def test_each_exact_runs_command_still_means_its_recorded_settings(folder):
    """``exact``'s defaults changed meaning for no run: each command, parsed today, gives the settings its run used."""
    meta = json.loads((folder / "run_meta.json").read_text())
    args = v1.build_parser().parse_args(shlex.split(meta["command"])[3:])
    for name, value in meta["settings"].items():
        if name != "pass_rate_tolerance":
            assert getattr(args, name) == value, (folder.name, name)


def test_a_log_frame_holds_every_float_as_the_writer_wrote_it(tmp_path):
    """Round-trip of 2000 random floats through json.dumps: pandas.read_json's default parser rounds
    some of them to a neighbouring float (it did for every committed log); log_frame must not."""
    values = np.random.default_rng(0).lognormal(0.0, 3.0, size=(1000, 2))
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(json.dumps({"step": i, "sft_loss": a, "phase": "rl", "stop": None if i % 2 else True, "reward": b})
                              for i, (a, b) in enumerate(values)) + "\n\n")
    frame = log_frame(path)
    assert list(frame.columns) == ["step", "sft_loss", "phase", "stop", "reward"] and len(frame) == 1000
    assert np.array_equal(frame[["sft_loss", "reward"]].to_numpy(), values) and frame["step"].tolist() == list(range(1000))
