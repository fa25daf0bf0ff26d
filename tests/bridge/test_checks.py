"""Checks on synthetic runs whose truth is known: coupled runs pass, decoupled/mis-specified ones fail."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nondecoupling
from benchmarks import trend_power
from nondecoupling.bridge.logs.stats import (
    ar1_block_covariance,
    ar1_block_draws,
    fit_exponential,
    fit_rl_stage,
    k1_terms,
    monotone_trend,
    pointwise_violation_verdict,
    predicted_optimal_steps,
    stage_trend,
    theil_sen,
    trend_decision,
)
from nondecoupling.bridge.logs.verdicts import (
    HOLDS,
    INCONCLUSIVE,
    MAX_LISTED_POINTS,
    NOT_MET,
    PREMISE_NOT_MET,
    RL_START,
    SUPPORTED,
    THRESHOLD_PREMISE,
    UNKNOWN,
    VIOLATED,
    _least,
    check_a1,
    check_forward_kl,
    check_kl_bounds,
    check_x1,
    rate_matches_expert,
    rl_start_premise,
    run_checks,
    stage_tables,
    threshold_premise,
)
from nondecoupling.interleaving import QuadraticPair
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
    low, high = theil_sen(steps, values)["ci"]
    assert low <= slope <= high or abs(theil_sen(steps, values)["slope"] - slope) < 0.01
    assert trend_decision(steps, values, int(np.sign(slope)))["verdict"] == HOLDS
    assert trend_decision(steps, values, -int(np.sign(slope)))["verdict"] == VIOLATED


def _false_positive_rate(decide, n, draws, seed):
    rng = np.random.default_rng(seed)
    return np.mean([decide(rng.standard_normal(n)) for _ in range(draws)])


DRAWS = 1000
#: A true rate of 5% exceeds this (5% + 3 s.e.) in fewer than 0.2% of the simulations.
FALSE_POSITIVE_CEILING = 0.05 + 3 * math.sqrt(0.05 * 0.95 / DRAWS)


@pytest.mark.parametrize(("n", "noise"), [(3, "white"), (8, "white"), (8, "AR(1) 0.5"), (30, "white"), (30, "AR(1) 0.5")])
def test_trend_verdicts_keep_their_nominal_false_positive_rate(n, noise):
    """The benchmark's calibration at reduced size (benchmarks/trend_power.py; docs/checking.md has the
    full table): on stationary noise, white or AR(1) with rho = 0.5, a decisive verdict (holds OR
    violated), start window included, has probability <= alpha = 5% + 3 binomial s.e."""
    ceiling = 0.05 + 3 * math.sqrt(0.05 * 0.95 / TREND_DRAWS)  # measured 0.054 +- 0.003 at 8 points, AR(1)
    assert trend_power.rate(n, trend_power.NOISES[noise], "fast", 0.0, TREND_DRAWS, seed=1) <= ceiling


TREND_DRAWS = 2000  # the start window's flatness pretest adds ~0.5% to the trend test's 5%: 1000 draws cannot tell

#: Power draws: a true power of 0.9 (0.99) falls below the floor in fewer than 0.2% of the simulations.
POWER_DRAWS = 300


def _floor(power):
    return power - 3 * math.sqrt(power * (1 - power) / POWER_DRAWS)


@pytest.mark.parametrize("noise", ["white", "AR(1) 0.5"])
@pytest.mark.parametrize("kind", trend_power.SHAPES)
def test_trend_verdicts_see_every_shape(kind, noise):
    """Power at reduced size: a change of 4 noise s.d. over 8 points and over 30 points (>= 0.9), and of
    8 s.d. over 8 points (>= 0.99), in each shape, white and AR(1) noise (the issue's targets; the
    weakest cells, ``linear`` and ``step`` at 8 points, measure 0.91-0.92 with 4000 draws); no power
    at 0.5 s.d. over 8 points (the test cannot be vacuously powerful)."""
    rho = trend_power.NOISES[noise]
    assert trend_power.rate(8, rho, kind, 4.0, POWER_DRAWS) >= _floor(0.9)
    assert trend_power.rate(30, rho, kind, 4.0, POWER_DRAWS) >= _floor(0.9)
    assert trend_power.rate(8, rho, kind, 8.0, POWER_DRAWS) >= _floor(0.99)
    assert trend_power.rate(8, rho, kind, 0.5, 100) <= 0.3


def test_the_combined_trend_test_keeps_what_either_statistic_sees_alone():
    """min(p_isotonic, p_line): a noise-free jump right after a 2-point start (the line explains 44% of it,
    a weighted sum of the two statistics would miss it) and three points exactly on a line (the isotonic
    LR alone cannot decide 3 points) are both decisive."""
    jump = monotone_trend(np.r_[0.0, 0.0, np.ones(8)], start_points=2)
    assert jump["p_up"] <= 0.001 and jump["line_up"] < 0.5 and jump["contrast_up"] == 1.0
    assert monotone_trend([0.0, 1.0, 2.0])["p_up"] <= 0.001 < 0.05 < monotone_trend([0.0, 1.0, 2.0], line=False)["p_up"]


def test_trend_verdicts_calibrated_for_independent_noise_see_4_sd_over_8_points():
    """With the null for independent noise (rho = 0) a 4 s.d. change over 8 points is seen (>= 0.9) in
    every shape, and white noise keeps its 5% false-positive rate."""
    for kind in trend_power.SHAPES:
        assert trend_power.rate(8, 0.0, kind, 4.0, POWER_DRAWS, null_rho=0.0) >= _floor(0.9)
    assert trend_power.rate(8, 0.0, "fast", 0.0, DRAWS, null_rho=0.0) <= FALSE_POSITIVE_CEILING


def test_the_null_covariance_of_block_means_is_that_of_ar1():
    """ar1_block_covariance against the covariance of block means of an explicit AR(1) Toeplitz matrix."""
    sizes = [3, 1, 4, 2, 5]
    index = np.arange(sum(sizes))
    averaging = np.zeros((len(sizes), index.size))
    for k, (start, size) in enumerate(zip(np.r_[0, np.cumsum(sizes)[:-1]], sizes)):
        averaging[k, start : start + size] = 1.0 / size
    for rho in (0.0, 0.3, 0.5, 0.9):
        toeplitz = rho ** np.abs(index[:, None] - index[None, :]).astype(float)
        np.testing.assert_allclose(ar1_block_covariance(sizes, rho), averaging @ toeplitz @ averaging.T, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_the_null_draws_have_the_exact_ar1_covariance_of_block_means(rho):
    """ar1_block_draws' sequential sampler against ar1_block_covariance (exact, Toeplitz-checked above).

    Unequal blocks, single points between them and a first block longer than one point: each
    sample covariance within 5 standard errors of the exact one, (Sigma_ii Sigma_jj + Sigma_ij^2) / n.
    """
    sizes, draws = [3, 1, 1, 6, 2, 40, 1], 200_000
    samples = ar1_block_draws(sizes, rho, draws, np.random.default_rng(20261206))
    exact = ar1_block_covariance(sizes, rho)
    standard_error = np.sqrt((np.outer(np.diag(exact), np.diag(exact)) + exact**2) / draws)
    assert np.all(np.abs(np.cov(samples, rowvar=False) - exact) <= 5.0 * standard_error)
    assert np.all(np.abs(samples.mean(axis=0)) <= 5.0 * np.sqrt(np.diag(exact) / draws))


def test_a_previous_stage_that_still_moves_does_not_set_the_start_level():
    """A start window with its own trend (the previous stage had not settled) is not used."""
    rising = np.linspace(0.0, 1.0, 30) + 0.01 * np.random.default_rng(0).standard_normal(30)
    result = stage_trend(np.r_[rising[-1], np.full(29, rising[-1])], -1, previous=rising[:-1])
    assert result["previous_flat"] is False and result["start_points"] == 1
    flat = stage_trend(np.r_[0.0, np.full(29, 0.0)], -1, previous=np.zeros(29))
    assert flat["previous_flat"] is True and flat["start_points"] == 30  # the whole previous stage


@pytest.mark.parametrize("n", (3, 4, 5, 6, 8, 12, 20, 50, 200))
def test_k1_violations_keep_their_nominal_false_positive_rate_when_the_bound_is_tight(n):
    """K1 at equality (slack = 0) plus loss noise: ``violated`` at most alpha of the time, at every length."""
    def violated(noise):
        return pointwise_violation_verdict(0.05 * noise, ENTROPY + 0.05 * noise)["verdict"] == VIOLATED

    assert _false_positive_rate(violated, n, DRAWS, seed=n) <= FALSE_POSITIVE_CEILING


def test_k1_check_uses_the_calibrated_decision():
    frame = pd.DataFrame({"phase": "rl", "stage": 0, "step": np.arange(8), "reward": PASS_RATE,
                          "sft_loss": ENTROPY + 0.05 * np.random.default_rng(0).standard_normal(8)})
    (k1,) = check_kl_bounds(frame, expert_pass_rate=PASS_RATE, expert_entropy=ENTROPY)
    expected = pointwise_violation_verdict(frame["sft_loss"] - ENTROPY, frame["sft_loss"])
    assert k1.verdict == expected["verdict"] and k1.observed["noise_sd"] == pytest.approx(expected["noise_sd"])


@given(values=st.lists(st.sampled_from([-1.0, 0.0, 0.5, 2.0, np.inf]) | st.floats(-5, 5), min_size=1, max_size=60),
       count=st.integers(1, 60))
def test_the_least_values_are_those_a_stable_sort_puts_first(values, count):
    """Ties (+inf among them: an undetermined point's slack, as the listing passes it) go to the earlier points, as a stable
    sort orders them."""
    values = np.array(values)
    count = min(count, values.size)
    assert _least(values, count).tolist() == sorted(np.argsort(values, kind="stable")[:count].tolist())


def test_a_long_stage_lists_its_twenty_points_of_least_slack():
    """Past MAX_LISTED_POINTS the report keeps the 20 points of least K1 slack, in step order; the undetermined
    points (b = 1 with a < 1: slack -inf) come last, as in the verdict (they were listed first before 2026-12-06)."""
    rng = np.random.default_rng(3)
    n = MAX_LISTED_POINTS + 500
    loss = ENTROPY + np.round(rng.uniform(0.5, 3.0, n), 1)  # rounded: many ties in the slack
    rate = np.where(rng.uniform(size=n) < 0.1, 1.0, PASS_RATE)  # b = 1 with a < 1: kl(a || b) infinite, slack -inf
    frame = pd.DataFrame({"phase": "rl", "stage": 0, "step": np.arange(n), "reward": rate, "sft_loss": loss})
    (k1,) = check_kl_bounds(frame, expert_pass_rate=PASS_RATE, expert_entropy=ENTROPY)
    slack = np.where(rate == 1.0, np.inf, loss - ENTROPY)  # kl(a || a) = 0 where b = a
    assert k1.observed["steps"].tolist() == sorted(np.argsort(slack, kind="stable")[:20].tolist())
    assert k1.observed["listed"] == f"the 20 points of least slack out of {n}"


def test_k3_names_its_tightest_determined_point():
    """K3's statistic is read at the determined point of least slack, not at an undetermined one (b = 1, a < 1)."""
    sft_excess = np.array([2.0, 0.3, 1.5, 0.1, 1.0, 0.8])
    rewards = np.array([PASS_RATE, PASS_RATE, PASS_RATE, 1.0, PASS_RATE, PASS_RATE])
    frame = pd.DataFrame({"phase": ["rl"] * 4 + ["sft"] * 6, "stage": [0] * 4 + [1] * 6, "step": np.arange(10),
                          "reward": np.r_[np.full(4, PASS_RATE), rewards], "sft_loss": ENTROPY + np.r_[np.full(4, 1.0), sft_excess]})
    k3 = next(c for c in check_kl_bounds(frame, expert_pass_rate=PASS_RATE, expert_entropy=ENTROPY) if c.id == "K3")
    assert k3.decided_by.startswith("tightest point, step 5:"), k3.decided_by  # slack 0.3; step 7's is -inf


def test_a_curve_that_rises_then_falls_below_its_start_is_inconclusive():
    """Flat, a long steep rise, then flat below the start: significant in both directions, not monotone."""
    values = np.r_[np.full(100, 1.0), np.linspace(2.0, 10.0, 200), np.full(100, 0.5)]
    values = values + 1e-3 * np.random.default_rng(0).standard_normal(values.size)
    result = trend_decision(np.arange(values.size), values, +1)
    assert result["p_up"] < 0.05 and result["p_down"] < 0.05
    assert result["verdict"] == INCONCLUSIVE and result["direction"] == 0


def test_a1_sees_a_fast_drop_that_the_slope_alone_misses():
    """SFT after RL pulls the reward back within a few steps, then it plateaus (as in the committed
    Qwen3 rl-sft runs): the Theil-Sen slope, a median over all pairs, is dominated by the flat tail and
    understates the drop; the isotonic fit sees all of it."""
    steps = np.r_[np.arange(0, 8), np.arange(10, 201, 10)].astype(float) + 200
    reward = 0.6 + 0.39 * np.exp(-(steps - 200) / 3.0) + 0.01 * np.random.default_rng(0).standard_normal(steps.size)
    run = pd.DataFrame({"phase": ["rl"] * 3 + ["sft"] * steps.size, "stage": [0] * 3 + [1] * steps.size,
                        "step": np.r_[0.0, 100.0, 200.0, steps], "sft_loss": 1.0, "reward": np.r_[0.2, 0.9, 0.99, reward]})
    (a1_sft,) = [c for c in check_a1(run) if c.stage == 1]
    assert a1_sft.verdict == HOLDS and "isotonic" in a1_sft.decided_by
    span = steps[-1] - steps[0]
    assert abs(a1_sft.observed["slope"]) * span < 0.5 * abs(a1_sft.observed["change"])


def test_a1_sees_the_drop_before_the_sft_stage_logs_its_first_point():
    """The pass rate falls right after RL ends, before the SFT stage's first own evaluation:
    the stage starts at the RL stage's last point, so the drop is part of it."""
    rl_steps, sft_steps = np.arange(0, 50, 5.0), np.arange(60, 160, 10.0)
    rng = np.random.default_rng(1)
    run = pd.DataFrame({
        "phase": ["rl"] * rl_steps.size + ["sft"] * sft_steps.size,
        "stage": [0] * rl_steps.size + [1] * sft_steps.size,
        "step": np.r_[rl_steps, sft_steps], "sft_loss": 1.0, "reward": np.nan,
        "pass_rate": np.r_[np.linspace(0.6, 0.95, rl_steps.size),
                           0.81 + 0.1 * np.exp(-(sft_steps - 45) / 20) + 0.005 * rng.standard_normal(sft_steps.size)],
    })
    frames = {stage: frame for stage, _, frame in stage_tables(run)}
    assert frames[1]["step"].iloc[0] == 45 and frames[1]["pass_rate"].iloc[0] == pytest.approx(0.95)
    (a1,) = [c for c in check_a1(run) if c.stage == 1]
    assert a1.observed["quantity"] == "pass_rate" and a1.verdict == HOLDS
    own_first = run[run["stage"] == 1]["pass_rate"].iloc[0]  # ~0.86: most of the drop happened before it
    assert a1.observed["change"] < -(own_first - 0.81) - 0.02


def _mixed_run(sft_coef, rising=False):
    """A mixed stage on isotropic quadratics: the joint flow of F_w from theta_0 to X1's Pareto point."""
    pair = QuadraticPair(np.eye(2) * 0.12, np.zeros(2), np.eye(2) * 0.02, np.array([50.0**0.5, 0.0]))
    w = sft_coef / (1 + sft_coef)
    target, rate = pair.pareto_point(w), w * 0.12 + (1 - w) * 0.02
    s = np.linspace(0.0, 2.0 / rate, 41)  # the flow's time scale, whatever the weight
    theta = target + np.outer(np.exp(-rate * s), np.array([-2.0, 1.0]) - target)
    sft_excess, rl_gap = (np.asarray(v) for v in pair.excess(theta))
    rng = np.random.default_rng(0)
    loss, reward = ENTROPY + sft_excess + 0.01 * rng.standard_normal(s.size), 0.9 - rl_gap + 0.005 * rng.standard_normal(s.size)
    if rising:
        loss, reward = loss[::-1], reward[::-1]  # the joint objective climbs: not a gradient flow of F_w
    run = pd.DataFrame({"phase": "mixed", "stage": 0, "step": s, "sft_loss": loss, "reward": reward})
    run.attrs["sft_coef"] = {0: sft_coef}
    return run


@pytest.mark.parametrize("sft_coef", [0.1, 1.0, 5.0])
def test_x1_joint_objective_falls_along_a_mixed_stage(sft_coef):
    (x1,) = check_x1(_mixed_run(sft_coef))
    assert x1.verdict == HOLDS and x1.predicted["w"] == pytest.approx(sft_coef / (1 + sft_coef))
    (x1,) = check_x1(_mixed_run(sft_coef, rising=True))
    assert x1.verdict == VIOLATED


def test_x1_without_a_coefficient_is_inconclusive():
    run = _mixed_run(1.0)
    run.attrs = {}
    assert [c.verdict for c in check_x1(run)] == [INCONCLUSIVE]


def test_k1_terms_pass_rate_rule():
    """The exact pass rate where logged, else the reward; not a rate outside [0, 1]."""
    run = pd.DataFrame({"sft_loss": [1.0, 1.0, 1.0, np.nan], "reward": [0.5, 0.5, 1.5, 0.5], "pass_rate": [0.25, np.nan, np.nan, 0.5]})
    terms = k1_terms(run, expert_pass_rate=1.0, expert_entropy=0.0)
    np.testing.assert_allclose(terms["k1_pass_rate"], [0.25, 0.5, np.nan, 0.5])
    np.testing.assert_allclose(terms["kl_a_b"], [-math.log(0.25), -math.log(0.5), np.nan, -math.log(0.5)])
    assert terms["k1_slack"].isna().tolist() == [False, False, True, True]


# ---------------------------------------------------------------- whole runs


@pytest.fixture(scope="module")
def coupled_checks():
    # Started at the SFT optimum: P3's premise (RL starts there) is then what the log shows, and the toy's
    # reward, not a pass rate of a distribution, keeps K1 in the first SFT stage (from (-2, 0) it would not).
    run = isotropic_run(COUPLED, start=(0.0, 0.0), loss_noise=0.03, reward_noise=0.01)
    return run_checks(run, lam=0.05, expert_pass_rate=PASS_RATE, expert_entropy=ENTROPY, n_boot=100)


def test_coupled_run_shows_every_predicted_coupling(coupled_checks):
    checks, fits = coupled_checks
    assert _verdicts(checks, "A1") == {1: HOLDS, 2: HOLDS}  # loss up under RL; reward down under SFT after
    assert _verdicts(checks, "P3") == {1: HOLDS}
    assert _verdicts(checks, "P4") == {1: HOLDS}
    k1 = _verdicts(checks, "K1")
    assert k1[1] == k1[2] == HOLDS
    assert k1[0] == INCONCLUSIVE  # near the SFT optimum the bound is tight (slack ~0.006): noise dips below it
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


def test_the_checks_leave_out_the_sources_in_their_own_view_only():
    """run_checks reads no ``source`` text (the same verdicts without them) and leaves the caller's run whole."""
    run = isotropic_run(COUPLED, start=(0.0, 0.0), loss_noise=0.03, reward_noise=0.01)
    run["source"] = pd.Series([f"log.jsonl:line {line}" for line in range(1, len(run) + 1)], dtype="str")
    run.attrs = {"files": [{"path": "log.jsonl"}], "sft_coef": {}}
    before = run.copy(deep=True)
    with_sources, _ = run_checks(run, lam=0.05, n_boot=20)
    pd.testing.assert_frame_equal(run, before)
    assert run.attrs == before.attrs
    without, _ = run_checks(run.drop(columns="source"), lam=0.05, n_boot=20)
    assert [(c.id, c.stage, c.verdict, repr(c.observed)) for c in with_sources] == \
        [(c.id, c.stage, c.verdict, repr(c.observed)) for c in without]


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
    assert _verdicts(checks, "K1")[1] == VIOLATED
    checks = check_kl_bounds(biased.assign(pass_rate=run["reward"]), expert_pass_rate=PASS_RATE, expert_entropy=ENTROPY)
    assert _verdicts(checks, "K1")[1] == HOLDS


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
    np.testing.assert_allclose(checks[0].observed["kl_lower_bound"],
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
    """Three points that are not an exact line (an exact one is decisive: its residual, the line test's
    noise scale, is 0) leave every check inconclusive, and nothing is fitted."""
    run = _frame(np.arange(3), [10.0, 10.5, 10.75], [0.1, 0.2, 0.3])
    checks, fits = run_checks(run, n_boot=10)
    assert {c.id: c.verdict for c in checks} == {"A1": INCONCLUSIVE, "P3": INCONCLUSIVE, "P4": INCONCLUSIVE, "premise": "unknown"}
    assert fits == {}


@pytest.mark.parametrize(("name", "kwargs"), [("lam", {"lam": 0.0}), ("n_boot", {"n_boot": 0}),
                                              ("confidence", {"confidence": 1.0})])
def test_run_checks_rejects_bad_parameters_by_name(name, kwargs):
    with pytest.raises(nondecoupling.ParameterError, match=f"'{name}'"):
        run_checks(_frame([0, 1], [1.0, 1.0], [0.1, 0.1]), **kwargs)


def test_kl_bounds_reject_a_pass_rate_outside_the_unit_interval():
    with pytest.raises(nondecoupling.ParameterError, match="'expert_pass_rate'"):
        check_kl_bounds(_frame([0, 1], [1.0, 1.0], [0.1, 0.1]), expert_pass_rate=1.5)


def _sft_rl_sft(drop_from, drop_to, noise, seed):
    """8 evaluations per stage (steps 0-8, 8-16, 16-24), as the issue's runs: RL raises the pass rate and the
    SFT loss; SFT after RL pulls the pass rate from ``drop_from`` to ``drop_to`` within 6 steps, then it settles."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, 9.0)
    sft_loss = np.r_[3.0 - 1.0 * (1 - np.exp(-np.r_[0.0, t] / 2)), 2.0 + 1.5 * (1 - np.exp(-t / 3)),
                     3.5 - 1.4 * (1 - np.exp(-t / 2))]
    rate = np.r_[np.full(9, 0.2), drop_from - (drop_from - 0.2) * np.exp(-t / 2) * (t < 8),
                 drop_to + (drop_from - drop_to) * np.exp(-t / 1.5)]
    rate[9:17] = np.where(t == 8, drop_from, rate[9:17])
    frame = pd.DataFrame({"phase": ["sft"] * 9 + ["rl"] * 8 + ["sft"] * 8, "stage": [0] * 9 + [1] * 8 + [2] * 8,
                          "step": np.arange(25), "sft_loss": sft_loss + 0.02 * rng.standard_normal(25),
                          "pass_rate": rate + noise * rng.standard_normal(25), "reward": np.nan})
    return frame


@pytest.mark.parametrize(("drop_from", "drop_to", "noise"), [(0.87, 0.32, 0.01), (0.95, 0.70, 0.03)])
@pytest.mark.parametrize("seed", range(5))
def test_a1_holds_on_the_issues_fast_drop_in_sft_after_rl(drop_from, drop_to, noise, seed):
    """The issue's runs: 0.87 -> 0.32 within 6 steps, and 0.95 -> 0.70 (about 8 noise s.d.), then flat.
    The old net change (last quarter vs first quarter) saw the drop inside the first quarter."""
    checks = check_a1(_sft_rl_sft(drop_from, drop_to, noise, seed))
    assert _verdicts(checks, "A1") == {1: HOLDS, 2: HOLDS}


# ---------------------------------------------------------------- premises before verdicts


def _ar1(rng, draws, n, rho):
    """Stationary Gaussian AR(1) rows of unit variance."""
    values = rng.standard_normal((draws, n))
    values[:, 0] = rng.standard_normal(draws)
    for i in range(1, n):
        values[:, i] = rho * values[:, i - 1] + math.sqrt(1 - rho**2) * values[:, i]
    return values


@pytest.mark.parametrize("rho", [0.0, 0.5])
@pytest.mark.parametrize("m", [3, 8, 50])
def test_pass_rate_premise_calibrated_on_noise_with_power_at_4_sd(rho, m):
    """'pass rate = a' rejected on noise around a at most alpha (+3 Monte Carlo s.e.), white or AR(1) 0.5
    (measured 5.1% +- 0.2% at rho 0.5, the calibration; 0-1.3% on white noise); a 4 s.d. gap found at m >= 8."""
    rng = np.random.default_rng([m, int(10 * rho)])
    draws = 2000
    rejected = np.mean([not rate_matches_expert(0.5 + 0.05 * x, 0.5)["matches"] for x in _ar1(rng, draws, m, rho)])
    assert rejected <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / draws)
    if m >= 8:
        found = np.mean([not rate_matches_expert(0.7 + 0.05 * x, 0.5)["matches"] for x in _ar1(rng, 400, m, rho)])
        assert found >= 0.9


def _premises(checks, name=RL_START):
    return {c.stage: c for c in checks if c.id == "premise" and c.name == name}


def test_rl_start_premise_is_supported_at_the_sft_optimum(coupled_checks):
    (premise,) = _premises(coupled_checks[0]).values()
    assert premise.verdict == SUPPORTED and premise.stage == 1
    assert premise.observed == {"sft_loss_settled": True, "pass_rate_at_a": True}
    assert "isotonic LR" in premise.decided_by and "vs a = 0.4" in premise.decided_by


def test_rl_after_an_unsettled_sft_stage_gives_premise_not_met():
    """SFT from far away, stopped while its loss still falls: P3 rests on a premise the log contradicts."""
    run = isotropic_run([("sft", 100), ("rl", 200)], start=(-2.0, 0.0), loss_noise=0.003, reward_noise=0.002)
    checks, _ = run_checks(run, lam=0.05, n_boot=20)
    premise = _premises(checks)[1]
    assert premise.verdict == NOT_MET and premise.observed["sft_loss_settled"] is False
    (p3,) = [c for c in checks if c.id == "P3"]
    assert p3.verdict == PREMISE_NOT_MET and p3.note.startswith(f"premise not met: {RL_START}")


def test_a_pass_rate_far_from_a_fails_the_premise_of_k1_without_entropy_only():
    """At the SFT optimum of the toy the pass rate is 0.4; told a = 0.6, the log contradicts RL's start there.
    K1 without H(p*) leans on that premise (its stand-in); with H(p*) given it does not."""
    run = isotropic_run([("sft", 100), ("rl", 200)], start=(0.0, 0.0), loss_noise=0.03, reward_noise=0.01)
    checks, _ = run_checks(run, lam=0.05, expert_pass_rate=0.6, n_boot=20)
    premise = _premises(checks)[1]
    assert premise.observed == {"sft_loss_settled": True, "pass_rate_at_a": False} and premise.verdict == NOT_MET
    assert _verdicts(checks, "K1") == {1: PREMISE_NOT_MET} and _verdicts(checks, "P3") == {1: PREMISE_NOT_MET}
    with_entropy, _ = run_checks(run, lam=0.05, expert_pass_rate=0.6, expert_entropy=ENTROPY, n_boot=20)
    assert PREMISE_NOT_MET not in _verdicts(with_entropy, "K1").values()
    assert _premises(with_entropy, "a and H(p*) known")[None].verdict == SUPPORTED


def _exact_sft_end(drift: float, gap: float) -> pd.DataFrame:
    """A full-batch SFT stage's end as protocol-v2 logs it: the loss still falls by ``drift`` nats over its
    last half, smoothly (noise 1e-5: no noise hides it), the pass rate sits ``gap`` below a = 0.56; then RL."""
    rng, steps = np.random.default_rng(3), np.arange(0, 1000, 25)
    shape = np.exp(-steps / 500)
    window = shape[steps.size // 2:]  # the premise's window: the stage's last half (20 points), compared by thirds
    change = window[-6:].mean() - window[:6].mean()
    loss = 1.3 + shape * drift / abs(change) + rng.normal(0, 1e-5, steps.size)
    rate = 0.56 - gap + rng.normal(0, 1e-4, steps.size)
    rows = [{"phase": "sft", "stage": 0, "step": s, "sft_loss": value, "reward": r, "pass_rate": r}
            for s, value, r in zip(steps, loss, rate, strict=True)]
    rows += [{"phase": "rl", "stage": 1, "step": 1000 + s, "sft_loss": 1.3 + 0.01 * s, "reward": 0.56 + 0.002 * s,
              "pass_rate": 0.56 + 0.002 * s} for s in range(0, 100, 10)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("drift", "gap", "loss_margin", "rate_margin", "settled", "at_a"), [
    (0.001, 0.0004, 0.0, 0.0, False, False),      # strict: a deterministic drift and gap are significant
    (0.001, 0.0004, 0.02, 0.02, True, True),      # the issue's margins: both negligible
    (0.001, 0.0004, 0.0009, 0.00035, False, False),  # margins just below the change and the gap
    (0.001, 0.0004, 0.0011, 0.00045, True, True),    # and just above them
    (0.001, 0.05, 0.02, 0.02, True, False),       # a gap beyond the margin still fails
])
def test_rl_start_premise_margins_accept_a_negligible_drift_and_gap_only(drift, gap, loss_margin, rate_margin, settled, at_a):
    """Equivalence margins: the window's change (first vs last third of SFT's last half) and |gap| against them."""
    premise = rl_start_premise(_exact_sft_end(drift, gap), 1, expert_pass_rate=0.56, loss_margin=loss_margin,
                               rate_margin=rate_margin)
    assert premise.observed == {"sft_loss_settled": settled, "pass_rate_at_a": at_a}, premise.decided_by
    assert premise.verdict == (SUPPORTED if settled and at_a else NOT_MET)


def test_rl_first_has_an_unknown_premise_and_keeps_its_verdict():
    checks, _ = run_checks(_rl_only(loss_noise=0.02, reward_noise=0.01), lam=0.05, n_boot=20)
    assert _premises(checks)[0].verdict == UNKNOWN
    assert PREMISE_NOT_MET not in _verdicts(checks, "P3").values()


def test_a_threshold_far_beyond_the_observed_losses_is_an_extrapolation(coupled_checks):
    """20 RL steps see 11% of the rise to tau (A (1 - e^{-0.4})^2 of A = 3): tau is extrapolated, P4 says so;
    the 200-step stage sees 96% of it: tau is within reach."""
    assert _premises(coupled_checks[0], THRESHOLD_PREMISE)[1].verdict == SUPPORTED
    run = isotropic_run([("sft", 50), ("rl", 20)], start=(0.0, 0.0), every=2)
    checks, fits = run_checks(run, lam=0.05, n_boot=20)
    premise = _premises(checks, THRESHOLD_PREMISE)[1]
    assert premise.verdict == NOT_MET and premise.observed["tau"] == pytest.approx(ENTROPY + SFT_RISE, rel=1e-3)
    (p4,) = [c for c in checks if c.id == "P4"]
    assert p4.verdict == PREMISE_NOT_MET and p4.predicted["threshold_tau_extrapolated"]
    assert fits[1]["tau_extrapolated"]


def test_threshold_premise_boundary():
    """Beyond the observed range by exactly its width: still supported; a little more: an extrapolation."""
    assert threshold_premise(0, 12.0, [10.0, 11.0]).verdict == SUPPORTED
    assert threshold_premise(0, 12.001, [10.0, 11.0]).verdict == NOT_MET
    assert threshold_premise(0, 8.999, [10.0, 11.0]).verdict == NOT_MET
    assert threshold_premise(0, float("nan"), [10.0, 11.0]).verdict == UNKNOWN


def test_k3_states_its_own_statistic(coupled_checks):
    checks, _ = coupled_checks
    k1, k3 = (next(c for c in checks if c.id == theorem and c.stage == 2) for theorem in ("K1", "K3"))
    assert k1.decided_by != k3.decided_by
    assert "band" in k3.decided_by and "b = " in k3.decided_by and "min slack" in k1.decided_by


@pytest.mark.parametrize("entropy", [ENTROPY, None])
def test_run_checks_gives_the_checks_of_the_public_functions(entropy):
    """run_checks makes A1, KL and K1/K3 in its own pass over the stages: the checks, in the order, of check_a1, check_forward_kl
    and check_kl_bounds (premises apply to none of these here: RL starts at the SFT optimum)."""
    run = isotropic_run(COUPLED, start=(0.0, 0.0), loss_noise=0.03, reward_noise=0.01, forward_kl_noise=0.01)
    checks, _ = run_checks(run, lam=0.05, expert_pass_rate=PASS_RATE, expert_entropy=entropy, n_boot=5)
    for ids, alone in ((("A1",), check_a1(run)), (("KL",), check_forward_kl(run)),
                       (("K1", "K3"), check_kl_bounds(run, expert_pass_rate=PASS_RATE, expert_entropy=entropy))):
        assert [c.to_dict() for c in checks if c.id in ids] == [c.to_dict() for c in alone]
    stages = [(c.id, c.stage) for c in checks if c.id in ("A1", "KL", "K1", "K3")]
    assert stages == [("A1", 1), ("A1", 2), ("KL", 1)] + ([("K1", 0), ("K1", 1), ("K1", 2), ("K3", 2)] if entropy else [("K1", 1)])


@pytest.mark.parametrize("order", [[0, 1, 2, 3, 4], [4, 0, 1, 2, 3]])
def test_stage_tables_start_each_stage_at_the_previous_stages_last_point(order):
    # read_run's stages are contiguous (taken as slices); a run built by hand may list them in any order (grouped)
    run = pd.DataFrame({"phase": ["sft", "sft", "rl", "rl", "sft"], "stage": [0, 0, 1, 1, 2], "step": [0, 1, 2, 3, 4],
                        "sft_loss": [5.0, 4.0, 4.5, 5.0, 4.8], "source": [f"log:line {i}" for i in range(1, 6)]}).iloc[order]
    tables = [(stage, phase, frame["step"].tolist(), frame["sft_loss"].tolist()) for stage, phase, frame in stage_tables(run)]
    assert tables == [(0, "sft", [0, 1], [5.0, 4.0]), (1, "rl", [1, 2, 3], [4.0, 4.5, 5.0]), (2, "sft", [3, 4], [5.0, 4.8])]
