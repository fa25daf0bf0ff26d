"""The live stop (``nondecoupling.bridge.logs.stopping``, no torch): online P3's grid posterior, its schedule and rule.

The stop's accuracy is measured on simulated curves whose optimum is known
(benchmarks/callback_stop_accuracy.py: the full table is in docs/callback.md; a fixed-seed
sample of its cells here).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.stats as scipy_stats

from benchmarks.callback_stop_accuracy import RESULTS, RULE, SHAPES, cell, rows_of, table
from nondecoupling import ParameterError
from nondecoupling.bridge.logs import stopping
from nondecoupling.bridge.logs.stopping import LiveStop, OnlineP3, StagePrior, evaluation_steps

REPO = Path(__file__).resolve().parents[2]
PRIOR = StagePrior(reward_noise=0.01, loss_noise=0.01, reward_gap=0.7, loss_rise=1.0)


# ---------------------------------------------------------------- online P3 on known curves


RATE = float(stopping.RATES[95])  # on the posterior's grid (about 0.046): the noise-free posterior concentrates there


def _isotropic(s, *, gap=0.5, rate=RATE, rise=0.3):
    x = np.exp(-rate * np.asarray(s, float))
    return 0.3 + gap * (1 - x * x), 2.0 + rise * (1 - x) ** 2


@pytest.mark.parametrize("lam", [0.3, 1.0, 4.0])
def test_noise_free_isotropic_curves_put_the_expected_gains_peak_at_p3s_optimum(lam):
    t_star = math.log(1 + 0.5 / (lam * 0.3)) / RATE
    p3 = OnlineP3(PRIOR, lam=lam)
    for s in range(0, int(2 * t_star) + 2):
        p3.update(s, *_isotropic(s))
    grid = np.arange(0, 400)
    gain = p3.expected_gain(grid)
    # the argmax of the integer-step gain is one of t*'s two neighbours
    assert int(grid[np.argmax(gain)]) in (math.floor(t_star), math.ceil(t_star))


def test_grid_posterior_is_bayes_rule_computed_densely():
    """Each rate's weight against the evidence of N(X mu_0, X V_0 X' + sigma^2 I), summed over the noise scales."""
    steps = np.array([0.0, 1, 2, 4, 8, 13])
    rng = np.random.default_rng(3)
    reward, loss = (c + rng.normal(0, 0.01, steps.size) for c in _isotropic(steps))
    p3 = OnlineP3(PRIOR)
    for values in zip(steps, reward, loss):
        p3.update(*values)
    x = np.exp(-np.multiply.outer(stopping.RATES, steps))
    log_rate = np.zeros(stopping.RATES.size)
    for y, column, noise, scale in ((reward, 1 - x * x, 0.01, 0.7), (loss, (1 - x) ** 2, 0.01, 1.0)):
        y = y - y[0]
        per_kappa = []
        for kappa in stopping.NOISE_SCALES:
            evidence = []
            for row in column:
                design = np.column_stack([np.ones_like(row), row])
                cov = design @ np.diag([(100 * scale) ** 2, scale**2]) @ design.T + (kappa * noise) ** 2 * np.eye(steps.size)
                evidence.append(scipy_stats.multivariate_normal(design @ [0.0, scale / 2], cov).logpdf(y))
            per_kappa.append(evidence)
        log_rate += np.logaddexp.reduce(np.array(per_kappa), axis=0)
    expected = np.exp(log_rate - log_rate.max())
    np.testing.assert_allclose(p3.posterior()["rate_weight"], expected / expected.sum(), rtol=1e-6, atol=1e-12)


def test_a_reward_that_does_not_rise_while_the_loss_rises_stops_at_once():
    """Delta_0 <= 0 < A: G(s) < G(0) for every s > 0, so such a draw has t* = 0 (passed), not 'undecided'."""
    p3 = OnlineP3(PRIOR)
    for s in range(5):
        p3.update(s, 0.5 - 0.002 * s, 2.0 + 0.05 * s)
    draws = p3.t_star_samples()
    assert np.mean(draws == 0.0) > 0.5
    decision = stopping.p3_stop_decision(p3, 6)
    assert decision["stop_step"] == 4 and decision["p_passed"] > 0.5, decision


def test_schedule_is_geometric_then_every_steps():
    assert evaluation_steps(10, 40) == [0, 1, 2, 3, 4, 6, 8, 10, 20, 30, 40]
    assert evaluation_steps(1, 3) == [0, 1, 2, 3]
    assert evaluation_steps(5, 12, growth=2.0) == [0, 1, 2, 4, 5, 10]
    with pytest.raises(ParameterError, match="growth"):
        evaluation_steps(5, 12, growth=1.0)


@pytest.mark.parametrize("shape", SHAPES[:2], ids=lambda s: s.name)  # "costly" misses at high noise (docs/callback.md)
@pytest.mark.parametrize(("t_star", "every"), [(5, 10), (10, 1), (50, 10)])
def test_live_stop_is_on_time_with_little_regret(shape, t_star, every):
    """A reduced benchmark (benchmarks/callback_stop_accuracy.py), at the high noise level."""
    row = cell(shape, t_star, every, "high", draws=12)
    assert row["median_regret"] <= 0.05 and row["on_time"] >= 0.9, row


def test_without_the_geometric_start_a_short_optimum_is_missed():
    """The mutant the schedule exists for: evaluations only every 10 steps, t* = 5."""
    row = cell(SHAPES[0], 5, 10, "low", draws=6, growth=1000.0)
    assert row["on_time"] < 0.9 or row["median_regret"] > 0.05, row


def test_every_step_in_a_reason_is_named_in_stage_and_global_steps():
    """The callback's and watch's reasons: a stage that starts at global step 40 says both units."""
    live = LiveStop(PRIOR, every_steps=10, horizon=40, offset=40)
    decisions = [live.observe(s, 0.5 - 0.002 * s, 2.0 + 0.05 * s) for s in live.schedule[:6]]
    assert "3 of the 5 evaluations" in decisions[2]["reason"]
    stop = decisions[4]  # the reward falls while the loss rises: stop at once (stage step 4)
    assert stop["stop_step"] == 4, stop
    assert stop["reason"].startswith("stopping at stage step 4 (global step 44)"), stop["reason"]
    assert all("stage step" in d["reason"] and "global step" in d["reason"] for d in decisions)


def test_the_refined_schedule_sees_a_peak_between_sparse_evaluations():
    """Costly curves (best gain 1.5 noise s.d.), t* = 10 = every_steps: without the added evaluations the
    stop waits for step 20 (2 t*, ~63% regret); with them it comes soon after the peak."""
    costly = next(shape for shape in SHAPES if shape.name == "costly")
    fixed = cell(costly, 10, 10, "high", draws=12, refine=1.0)
    refined = cell(costly, 10, 10, "high", draws=12)
    assert fixed["mean_added_evaluations"] == 0.0 and refined["mean_added_evaluations"] > 0.0
    assert refined["median_regret"] < fixed["median_regret"] / 2, (refined, fixed)
    # the stop comes after the faint peak has shown; the evaluated step of largest E[G] is nearer it
    assert refined["median_restore_regret"] < refined["median_regret"] / 2, refined


def test_the_restore_step_is_the_evaluated_step_of_largest_gain_on_noise_free_curves():
    def gain(s):
        reward, loss = _isotropic(s)
        return (reward - 0.3) - (loss - 2.0)

    t_star = math.log(1 + 0.5 / 0.3) / RATE
    live = LiveStop(PRIOR, every_steps=3, horizon=int(3 * t_star))
    for step in range(0, int(2 * t_star), 3):
        decision = live.observe(step, *_isotropic(step))
    assert decision["restore_step"] == live.restore_step() == max(live.evaluated, key=gain), (decision, t_star)
    assert abs(decision["restore_step"] - t_star) <= 3


def test_the_docs_table_is_the_committed_benchmark_of_this_rule():
    """docs/callback.md's stop-accuracy table is benchmarks/results/callback_stop_accuracy.jsonl's cells for this
    stopping.py (its source hash): rerun the benchmark (resumable) after changing the rule, and paste its table."""
    rows = rows_of(RESULTS, RULE)
    assert len(rows) == 90, f"{len(rows)} of the 90 cells measured for rule {RULE}: run benchmarks/callback_stop_accuracy.py"
    assert table(rows) in (REPO / "docs" / "callback.md").read_text()


def test_the_refinement_level_is_checked():
    with pytest.raises(ParameterError, match="refine"):
        LiveStop(PRIOR, every_steps=10, horizon=40, refine=0.0)
