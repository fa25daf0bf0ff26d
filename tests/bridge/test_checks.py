"""Checks on synthetic runs whose truth is known: coupled runs pass, decoupled/mis-specified ones fail."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nondecoupling
from nondecoupling.bridge.checks import (
    HOLDS,
    INCONCLUSIVE,
    VIOLATED,
    check_a1,
    check_kl_bounds,
    combined_verdict,
    fit_exponential,
    fit_rl_stage,
    net_change,
    predicted_optimal_steps,
    run_checks,
    sign_verdict,
    trend,
)
from tests.bridge.synthetic import isotropic_run

COUPLED = [("sft", 100), ("rl", 200), ("sft", 100)]
# Defaults of isotropic_run: Delta_0 = 0.5 and A = (mu_sft/mu_rl) Delta_0 = 3 from the SFT optimum.
RL_GAP0, SFT_RISE, MU_RL, ENTROPY, PASS_RATE = 0.5, 3.0, 0.02, 10.0, 0.4


def _verdicts(checks, theorem):
    return {c.stage: c.verdict for c in checks if c.id == theorem}


def _rl_only(start=(0.0, 0.0), **kwargs):
    return isotropic_run([("rl", 200)], start=start, **kwargs)


def _frame(step, sft_loss, reward):
    return pd.DataFrame({"phase": "rl", "stage": 0, "step": step, "sft_loss": sft_loss, "reward": reward,
                         "kl": np.nan, "lr": np.nan})


# ---------------------------------------------------------------- tight instances


@pytest.mark.parametrize("lam", [0.02, 0.05, 0.2])
def test_p3_prediction_is_exact_on_the_tight_instance(lam):
    """Noise-free isotropic flow from the SFT optimum: t* = ln(1 + Delta_0/(lam A))/mu_rl exactly."""
    run = isotropic_run([("rl", 300)], start=(0.0, 0.0), every=1)
    s = run["step"].to_numpy(float)
    fit = fit_rl_stage(s, run["reward"].to_numpy(), s, run["sft_loss"].to_numpy())
    assert fit["mu_rl"] == pytest.approx(MU_RL, rel=1e-5)
    assert fit["rl_gap0"] == pytest.approx(RL_GAP0, rel=1e-5)
    assert fit["sft_rise"] == pytest.approx(SFT_RISE, rel=1e-5)
    assert fit["tau"] == pytest.approx(ENTROPY + SFT_RISE, rel=1e-7)
    truth = math.log1p(RL_GAP0 / (lam * SFT_RISE)) / MU_RL
    assert predicted_optimal_steps(fit, lam) == pytest.approx(truth, rel=1e-5)
    gain = (run["reward"] - run["reward"].iloc[0]) - lam * (run["sft_loss"] - run["sft_loss"].iloc[0])
    assert abs(s[int(np.argmax(gain))] - truth) <= 0.5  # the flow's own optimum, to the grid


@given(
    limit=st.floats(-5, 5), amplitude=st.floats(0.1, 5) | st.floats(-5, -0.1),
    rate=st.floats(0.005, 0.5), points=st.integers(8, 60),
)
def test_fit_exponential_recovers_noise_free_curves(limit, amplitude, rate, points):
    s = np.linspace(0.0, 200.0, points)
    fit = fit_exponential(s, limit + amplitude * np.exp(-rate * s))
    assert fit["rate"] == pytest.approx(rate, rel=1e-3)
    assert fit["limit"] == pytest.approx(limit, abs=1e-3 * (1 + abs(amplitude)))


@given(slope=st.floats(0.01, 1.0) | st.floats(-1.0, -0.01), seed=st.integers(0, 2**16))
def test_trend_verdict_follows_the_slope_sign_when_noise_is_small(slope, seed):
    steps = np.arange(40.0)
    values = slope * steps + 0.01 * np.random.default_rng(seed).standard_normal(40)
    result = trend(steps, values)
    assert result["ci"][0] <= slope <= result["ci"][1] or abs(result["slope"] - slope) < 0.01
    assert sign_verdict(result["ci"], int(np.sign(slope))) == HOLDS
    assert sign_verdict(result["ci"], -int(np.sign(slope))) == VIOLATED


def test_trend_on_pure_noise_is_inconclusive():
    values = np.random.default_rng(3).standard_normal(50)
    assert sign_verdict(trend(np.arange(50), values)["ci"], +1) == INCONCLUSIVE


def _step_change(drop, seed, noise=0.01):
    return np.r_[np.ones(10), np.ones(40) - drop] + noise * np.random.default_rng(seed).standard_normal(50)


@given(drop=st.floats(0.1, 1.0), seed=st.integers(0, 2**16))
def test_net_change_decides_the_sign_of_a_step_change(drop, seed):
    assert sign_verdict(net_change(_step_change(drop, seed))["ci"], -1) == HOLDS
    assert sign_verdict(net_change(_step_change(-drop, seed))["ci"], -1) == VIOLATED


def test_net_change_interval_has_its_nominal_coverage():
    covered = [lo <= -0.5 <= hi for lo, hi in (net_change(_step_change(0.5, seed))["ci"] for seed in range(400))]
    assert 0.90 <= np.mean(covered) <= 0.99


def test_combined_verdict_needs_one_decisive_statistic_and_no_contrary_one():
    assert combined_verdict(HOLDS, INCONCLUSIVE) == HOLDS
    assert combined_verdict(INCONCLUSIVE, VIOLATED) == VIOLATED
    assert combined_verdict(HOLDS, VIOLATED) == INCONCLUSIVE
    assert combined_verdict(INCONCLUSIVE, INCONCLUSIVE) == INCONCLUSIVE


def test_a1_sees_a_fast_drop_that_the_slope_alone_misses():
    """SFT after RL pulls the reward back within a few steps, then it plateaus (as in the
    committed Qwen3 rl-sft runs): the slope's median is dominated by the flat tail."""
    steps = np.r_[0, 1, 2, 5, np.arange(10, 201, 10)].astype(float) + 200
    reward = 0.6 + 0.39 * np.exp(-(steps - 200) / 3.0) + 0.025 * np.random.default_rng(0).standard_normal(steps.size)
    run = pd.DataFrame({"phase": ["rl"] * 3 + ["sft"] * steps.size, "stage": [0] * 3 + [1] * steps.size,
                        "step": np.r_[0.0, 100.0, 200.0, steps], "sft_loss": 1.0, "reward": np.r_[0.2, 0.9, 0.99, reward]})
    sft_stage = run[run["stage"] == 1]
    assert sign_verdict(trend(sft_stage["step"], sft_stage["reward"])["ci"], -1) == INCONCLUSIVE
    (a1_sft,) = [c for c in check_a1(run) if c.stage == 1]
    assert a1_sft.verdict == HOLDS
    assert a1_sft.observed["net_change_ci"][1] < 0


# ---------------------------------------------------------------- whole runs


@pytest.fixture(scope="module")
def coupled_checks():
    run = isotropic_run(COUPLED, loss_noise=0.03, reward_noise=0.01)
    return run_checks(run, lam=0.05, expert_pass_rate=PASS_RATE, expert_entropy=ENTROPY, n_boot=100)


def test_coupled_run_shows_every_predicted_coupling(coupled_checks):
    checks, fits = coupled_checks
    assert _verdicts(checks, "A1") == {1: HOLDS, 2: HOLDS}  # loss up under RL; reward down under SFT after
    assert _verdicts(checks, "P3") == {1: HOLDS}
    assert _verdicts(checks, "P4") == {1: HOLDS}
    assert _verdicts(checks, "K1") == {1: HOLDS}
    assert _verdicts(checks, "K3") == {2: HOLDS}
    p4 = next(c for c in checks if c.id == "P4")
    low, high = p4.predicted["threshold_tau_ci"]
    assert low <= ENTROPY + SFT_RISE <= high  # the true threshold tau = L* + (mu_sft/2) sep^2
    rates = {c.stage: c.observed for c in checks if c.id == "rates"}
    low, high = rates[1]["reward_gap_rate_ci"]
    assert low <= 2 * MU_RL <= high
    low, high = rates[2]["sft_excess_rate_ci"]
    assert low <= 2 * 0.12 * 0.1 <= high  # 2 mu_sft per SFT step (flow time 0.1 per step)
    assert set(fits) == {0, 1, 2}


def test_decoupled_run_fails_the_coupling_checks():
    """RL moves only directions the SFT loss ignores: no rise, so A1 is not confirmed and K1 fails."""
    run = _rl_only(rl_optimum=(0.0, 50.0**0.5), mu_sft=0.0, loss_noise=0.02, reward_noise=0.01)
    checks, _ = run_checks(run, lam=0.05, expert_pass_rate=PASS_RATE, expert_entropy=ENTROPY, n_boot=50)
    assert _verdicts(checks, "A1") == {0: INCONCLUSIVE}
    assert _verdicts(checks, "K1") == {0: VIOLATED}  # the reward rose at no SFT cost: impossible by K1


def test_rl_started_above_the_threshold_lowers_the_sft_loss():
    """Start beyond the RL optimum: A1's rise is violated, as P4 (start above tau) predicts."""
    run = _rl_only(start=(50.0**0.5 + 3.0, 0.0), loss_noise=0.02, reward_noise=0.01)
    checks, _ = run_checks(run, lam=0.05, n_boot=50)
    assert _verdicts(checks, "A1") == {0: VIOLATED}
    assert _verdicts(checks, "P4") == {0: HOLDS}
    assert next(c for c in checks if c.id == "P4").predicted["direction"].startswith("falls")


def test_kl_bounds_use_the_exact_pass_rate_where_logged():
    """A sampled reward biased upwards fakes a K1 violation; the logged exact pass rate clears it."""
    run = isotropic_run(COUPLED, loss_noise=0.0, reward_noise=0.0)
    biased = run.assign(reward=np.minimum(run["reward"] + 0.3, 0.999))
    checks = check_kl_bounds(biased, expert_pass_rate=PASS_RATE, expert_entropy=ENTROPY)
    assert _verdicts(checks, "K1") == {1: VIOLATED}
    checks = check_kl_bounds(biased.assign(pass_rate=run["reward"]), expert_pass_rate=PASS_RATE, expert_entropy=ENTROPY)
    assert _verdicts(checks, "K1") == {1: HOLDS}


def test_p3_flags_an_rl_stage_that_does_not_follow_sft(coupled_checks):
    (after_sft,) = [c for c in coupled_checks[0] if c.id == "P3"]
    assert after_sft.observed["follows_sft_stage"] and "premise not established" not in after_sft.note
    checks, _ = run_checks(_rl_only(loss_noise=0.02, reward_noise=0.01), lam=0.05, n_boot=20)
    (first_stage,) = [c for c in checks if c.id == "P3"]
    assert not first_stage.observed["follows_sft_stage"] and "premise not established" in first_stage.note


def test_per_token_losses_break_k1():
    """K1 is sequence level: a per-token loss (here /20 tokens) falls below kl(a||b)."""
    run = _rl_only(loss_noise=0.02, reward_noise=0.01)
    run["sft_loss"] /= 20.0
    (k1,) = check_kl_bounds(run, expert_pass_rate=PASS_RATE, expert_entropy=ENTROPY / 20.0)
    assert k1.verdict == VIOLATED


def test_k1_without_entropy_uses_the_rl_start_and_skips_k3():
    run = isotropic_run([("rl", 100), ("sft", 50)], start=(0.0, 0.0))  # noise-free: K1 is tight at the start
    checks = check_kl_bounds(run, expert_pass_rate=PASS_RATE)
    assert [(c.id, c.verdict) for c in checks] == [("K1", HOLDS)]
    np.testing.assert_allclose(checks[0].predicted["kl_lower_bound"],
                               nondecoupling.kl_bernoulli(PASS_RATE, run[run["phase"] == "rl"]["reward"]))


def test_k1_points_with_a_zero_pass_rate_estimate_are_undetermined():
    run = _frame(np.arange(5), [10.0, 10.1, 10.2, 10.3, 10.4], [0.0, 0.0, 0.1, 0.0, 0.0])
    (k1,) = check_kl_bounds(run, expert_pass_rate=1.0, expert_entropy=0.0)
    assert k1.observed["n_undetermined"] == 4
    assert k1.verdict == HOLDS  # -log 0.1 = 2.3 <= 10.2


def test_p3_fails_when_the_run_is_not_the_smooth_flow():
    """An abrupt SFT-loss jump at step 30: the net gain peaks before it, P3's smooth fit cannot know."""
    s = np.arange(0, 201, 5)
    rng = np.random.default_rng(0)
    run = _frame(s, 10 + 3.0 * (s >= 30) + 0.02 * rng.standard_normal(s.size),
                 0.4 + 0.5 * (1 - np.exp(-0.01 * s)) + 0.01 * rng.standard_normal(s.size))
    checks, _ = run_checks(run, lam=0.5, n_boot=50)
    assert _verdicts(checks, "P3") == {0: VIOLATED}


def test_short_stages_are_inconclusive_not_errors():
    run = _frame(np.arange(3), [10.0, 10.5, 11.0], [0.1, 0.2, 0.3])
    checks, fits = run_checks(run, n_boot=10)
    assert {c.id: c.verdict for c in checks} == {"A1": HOLDS, "P3": INCONCLUSIVE, "P4": INCONCLUSIVE}
    assert fits == {}


@pytest.mark.parametrize(("name", "kwargs"), [("lam", {"lam": 0.0}), ("n_boot", {"n_boot": 0}),
                                              ("confidence", {"confidence": 1.0})])
def test_run_checks_rejects_bad_parameters_by_name(name, kwargs):
    with pytest.raises(nondecoupling.ParameterError, match=f"'{name}'"):
        run_checks(_frame([0, 1], [1.0, 1.0], [0.1, 0.1]), **kwargs)


def test_kl_bounds_reject_a_pass_rate_outside_the_unit_interval():
    with pytest.raises(nondecoupling.ParameterError, match="'expert_pass_rate'"):
        check_kl_bounds(_frame([0, 1], [1.0, 1.0], [0.1, 0.1]), expert_pass_rate=1.5)
