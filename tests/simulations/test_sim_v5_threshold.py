"""V5: each reading of "threshold" against simulation, through its own name.

``threshold_loss_level`` is the SFT loss the RL flow ends at (P4's tau, attained on anisotropic
quadratics), ``threshold_time`` the time at which the simulated net gain peaks (P3's t*, the true
optimum on isotropic quadratics). Both are looked up on the package at call time, so a mutant
patched into ``nondecoupling`` is what is simulated against.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nondecoupling
from simulations.checks.p3_optimal_rl_duration import simulated_optimum
from simulations.checks.p3_optimal_rl_duration import tight_instance as isotropic_from_sft_optimum
from simulations.checks.tight_regimes import anisotropic_threshold_pair, final_sft_loss

seeds = st.integers(0, 2**32 - 1)
constants = st.floats(0.2, 5.0)


def assert_loss_level_is_where_rl_ends(*, mu_sft, kappa_sft, mu_rl, kappa_rl, sep, seed):
    problem, theta0 = anisotropic_threshold_pair(np.random.default_rng(seed), mu_sft=mu_sft, beta_sft=kappa_sft * mu_sft,
                                                 mu_rl=mu_rl, beta_rl=kappa_rl * mu_rl, sep=sep)
    level = nondecoupling.threshold_loss_level(sft_min=float(problem.sft_min), sep=float(problem.sep),
                                               mu_sft=float(problem.sft.mu))
    assert final_sft_loss(problem, theta0, horizon=60.0 / mu_rl) == pytest.approx(level, rel=1e-9, abs=1e-12)


@given(mu_sft=constants, kappa_sft=st.floats(1.0, 20.0), mu_rl=constants, kappa_rl=st.floats(1.0, 20.0),
       sep=st.floats(0.3, 3.0), seed=seeds)
def test_threshold_loss_level_is_the_sft_loss_rl_ends_at(mu_sft, kappa_sft, mu_rl, kappa_rl, sep, seed):
    assert_loss_level_is_where_rl_ends(mu_sft=mu_sft, kappa_sft=kappa_sft, mu_rl=mu_rl, kappa_rl=kappa_rl, sep=sep,
                                       seed=seed)


def assert_time_is_when_net_gain_peaks(*, mu_sft, mu_rl, lam):
    problem, theta0 = isotropic_from_sft_optimum(mu_sft=mu_sft, mu_rl=mu_rl)
    t_sim, _ = simulated_optimum(problem, theta0, lam=lam, horizon=8.0 / mu_rl)
    time = nondecoupling.threshold_time(lam=lam, mu_rl=mu_rl, beta_rl=mu_rl, beta_sft=mu_sft)
    assert time == pytest.approx(t_sim, rel=1e-5, abs=1e-7 / mu_rl)


@given(mu_sft=constants, mu_rl=constants, lam=st.floats(0.05, 20.0))
def test_threshold_time_is_when_the_simulated_net_gain_peaks(mu_sft, mu_rl, lam):
    assert_time_is_when_net_gain_peaks(mu_sft=mu_sft, mu_rl=mu_rl, lam=lam)


@pytest.mark.parametrize("reading", ["threshold_loss_level", "threshold_time"])
def test_a_reading_one_percent_off_is_caught(monkeypatch, reading):
    original = getattr(nondecoupling, reading)
    monkeypatch.setattr(nondecoupling, reading, lambda **kwargs: 1.01 * original(**kwargs))
    with pytest.raises(AssertionError):
        if reading == "threshold_loss_level":
            assert_loss_level_is_where_rl_ends(mu_sft=0.4, kappa_sft=5.0, mu_rl=0.5, kappa_rl=8.0, sep=1.0, seed=0)
        else:
            assert_time_is_when_net_gain_peaks(mu_sft=0.8, mu_rl=1.5, lam=1.0)
