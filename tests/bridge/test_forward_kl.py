"""``check``'s KL row: an RL stage's SFT-loss increase against the logged forward KL(pi_SFT || pi).

From an SFT optimum the increase IS that KL (CE = H + KL(p* || pi), pi_0 = p*). The synthetic
runs are Gaussian policies on the quadratic toy (``isotropic_run(..., forward_kl_noise=...)``),
where the logged KL is exact up to the noise added.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from nondecoupling.bridge.logs.run import LogMapping, read_run
from nondecoupling.bridge.logs.verdicts import (
    HOLDS,
    INCONCLUSIVE,
    NOT_MET,
    PREMISE_NOT_MET,
    RL_START,
    SUPPORTED,
    VIOLATED,
    check_forward_kl,
    increase_matches_kl,
    run_checks,
)
from tests.bridge.synthetic import isotropic_run, write_jsonl

NOISE = dict(loss_noise=0.003, reward_noise=0.002, forward_kl_noise=0.003)


def _kl_row(checks):
    (row,) = [c for c in checks if c.id == "KL"]
    return row


def _rl_premise(checks):
    (premise,) = [c for c in checks if c.id == "premise" and c.name == RL_START]
    return premise


def test_the_increase_equals_the_forward_kl_from_the_sft_optimum():
    run = isotropic_run([("sft", 100), ("rl", 200)], start=(0.0, 0.0), **NOISE)
    checks, _ = run_checks(run, lam=0.05, expert_pass_rate=0.4, n_boot=20)  # the toy's SFT optimum has reward 0.4
    row = _kl_row(checks)
    assert _rl_premise(checks).verdict == SUPPORTED
    assert row.verdict == HOLDS and row.stage == 1, row
    assert row.observed["max_abs_gap"] < 0.05 * row.observed["largest_forward_kl"]
    assert "largest abs(increase - KL)" in row.decided_by


def test_a_forward_kl_three_times_the_increase_is_violated():
    """E.g. a KL summed over a 3-token response against a per-token SFT loss: the premise holds, the relation not."""
    run = isotropic_run([("sft", 100), ("rl", 200)], start=(0.0, 0.0), **NOISE)
    run["forward_kl"] *= 3.0
    checks, _ = run_checks(run, lam=0.05, expert_pass_rate=0.4, n_boot=20)
    assert _rl_premise(checks).verdict == SUPPORTED
    row = _kl_row(checks)
    assert row.verdict == VIOLATED and row.observed["n_significant"] > 0, row


def test_off_the_sft_optimum_the_relation_fails_and_its_premise_is_not_met():
    """SFT stopped while its loss still falls: the increase is KL(p*||pi) - KL(p*||pi_0), not KL(pi_0||pi)."""
    run = isotropic_run([("sft", 100), ("rl", 200)], start=(-2.0, 0.0), **NOISE)
    checks, _ = run_checks(run, lam=0.05, n_boot=20)
    assert _rl_premise(checks).verdict == NOT_MET
    row = _kl_row(checks)
    assert row.verdict == PREMISE_NOT_MET and "the check alone would say 'violated'" in row.note, row


def test_a_stage_without_a_forward_kl_has_no_row_and_a_short_one_is_inconclusive():
    run = isotropic_run([("sft", 100), ("rl", 200)], start=(0.0, 0.0), loss_noise=0.003, reward_noise=0.002)
    assert check_forward_kl(run) == []
    short = isotropic_run([("sft", 100), ("rl", 10)], start=(0.0, 0.0), **NOISE)  # RL evaluations at 0, 5, 10
    assert _kl_row(check_forward_kl(short)).verdict == INCONCLUSIVE


def test_a_kl_that_stays_within_the_noise_is_inconclusive_not_holds():
    """Nothing moved: 'holds' would claim a relation the log cannot show."""
    flat = np.zeros(20)
    noise = 0.01 * np.random.default_rng(1).standard_normal((2, 20))
    assert increase_matches_kl(flat + noise[0], flat + noise[1], 2.0 + noise[0])["verdict"] == INCONCLUSIVE


def _ar1(rng, draws, n, rho):
    values = rng.standard_normal((draws, n))
    for i in range(1, n):
        values[:, i] = rho * values[:, i - 1] + math.sqrt(1 - rho**2) * values[:, i]
    return values


@pytest.mark.parametrize("rho", [0.0, 0.5])
@pytest.mark.parametrize("n", [5, 8, 20, 100])
def test_false_positive_rate_on_white_and_ar1_noise_and_power_at_a_kl_half_again_the_increase(rho, n):
    """Measured (2000 draws, n = 4 ... 100): 'violated' on the identity plus noise in at most 0.6% of draws
    (alpha = 5%: conservative); a KL 1.5 x the increase (largest gap 25 noise s.d.) found in 68% (white) and
    90% (AR(1) 0.5) of draws at 6 points, >= 95% from 8, all from 20 (at 4 points almost never: < 1%)."""
    rng = np.random.default_rng([n, int(10 * rho)])
    increase = 0.5 * (1 - np.exp(-3 * np.linspace(0, 1, n))) ** 2

    def violated(kl_factor, draws):
        loss, kl = (_ar1(rng, draws, n, rho) * 0.01 for _ in range(2))
        loss += 2.0 + increase
        kl += kl_factor * increase
        return np.mean([increase_matches_kl(lo - lo[0], k, lo, rho=0.5)["verdict"] == VIOLATED for lo, k in zip(loss, kl)])

    draws = 2000
    assert violated(1.0, draws) <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / draws)
    if n >= 8:
        assert violated(1.5, 200) >= 0.9


def test_check_reads_the_callbacks_forward_kl_column_and_trls_logged_name(tmp_path):
    run = isotropic_run([("sft", 20), ("rl", 20)], start=(0.0, 0.0), forward_kl_noise=0.0)
    path = write_jsonl(run, tmp_path / "log.jsonl")
    read = read_run([path], [LogMapping()])
    np.testing.assert_allclose(read["forward_kl"], run["forward_kl"].to_numpy(float), equal_nan=True)
    history = [{"step": int(r.step), "eval_sft_loss": r.sft_loss, "eval_reward": r.reward,
                **({} if np.isnan(r.forward_kl) else {"coupling/forward_kl": r.forward_kl})} for r in run.itertuples()]
    state = tmp_path / "trainer_state.json"
    state.write_text(json.dumps({"log_history": history[5:]}))  # the RL stage's trainer
    rl = read_run([state], [LogMapping(phase="rl", preset="trl")])
    np.testing.assert_allclose(rl["forward_kl"], run["forward_kl"].iloc[5:].to_numpy(float))
