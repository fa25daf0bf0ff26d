"""P5: gradient descent against the discrete-time contraction, path length, envelope and K*."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from simulations.checks._common import PL_FAMILIES, SOLVER_RTOL, point_in, random_pair
from simulations.checks.p5_discrete_time import descent, one_step_instance, scalar_gains, tight_instance

seeds = st.integers(0, 2**32 - 1)
constants = st.floats(0.2, 5.0)
BATCH = 8


@given(mu_sft=constants, mu_rl=constants, step=st.floats(0.01, 0.99), lam=st.floats(0.05, 20.0), sharp=st.booleans())
def test_tight_on_isotropic_quadratics(mu_sft, mu_rl, step, lam, sharp):
    problem, theta0 = tight_instance(mu_sft=mu_sft, mu_rl=mu_rl)
    eta = step / mu_rl  # eta mu_rl < 1: q = (1 - eta mu_rl)^2, and no sharper rate exists
    curves = descent(problem, theta0, eta=eta, steps=40, lam=lam, sharp=sharp)
    scale = curves.rl_gap[0]
    np.testing.assert_allclose(curves.rl_gap, curves.rl_gap_bound, rtol=1e-9, atol=1e-13 * scale)
    assert np.all(curves.rl_gap >= curves.rl_gap_floor - 1e-13 * scale)
    np.testing.assert_allclose(curves.path_length, curves.path_bound, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(curves.sft_excess, curves.sft_lower, rtol=1e-9, atol=1e-13 * scale)
    np.testing.assert_allclose(curves.sft_excess, curves.sft_upper, rtol=1e-9, atol=1e-13 * scale)
    np.testing.assert_allclose(curves.net_gain, curves.net_gain_bound, rtol=1e-9, atol=1e-12 * scale)
    # K*: the best simulated step count is floor or ceil of the continuous optimum.
    k_star = float(curves.best_steps)
    candidates = [k for k in {int(np.floor(k_star)), int(np.ceil(k_star))} if 0 <= k <= 40]
    if k_star <= 39:
        best = max(candidates, key=lambda k: curves.net_gain[k])
        assert curves.net_gain[best] >= curves.net_gain.max() - 1e-12 * scale


# The reward gain's upper side Delta_0 (1 - p^k): attained where p = 0 (eta beta_rl >= 1), on R with an
# eigenvalue 1/eta started on its eigenvector. For eta beta_rl < 1 no beta-smooth R reaches its minimum in
# one step (|g_0| = |g_0 - g_1| <= beta eta |g_0|), so the side is not attained there (see the docstring).
one_step_regime = dict(mu_fraction=st.floats(0.01, 1.0), eta_beta=st.floats(1.0, 1.99), beta_rl=constants)


def assert_upper_side_attained(*, mu_fraction, eta_beta, beta_rl):
    """GD from :func:`one_step_instance` gains exactly the upper side, on the array and the scalar path."""
    eta = eta_beta / beta_rl
    problem, theta0 = one_step_instance(mu_rl=mu_fraction / eta, beta_rl=beta_rl, eta=eta)
    curves = descent(problem, theta0, eta=eta, steps=5)  # the array path
    gap0 = curves.rl_gap[0]
    np.testing.assert_allclose(curves.rl_gap, curves.rl_gap_floor, rtol=0, atol=1e-12 * gap0)  # both ~0 for k >= 1
    gain, lower, upper = scalar_gains(problem, theta0, eta=eta, steps=5)  # the scalar fast path
    np.testing.assert_allclose(gain, upper, rtol=1e-12, atol=1e-15 * gap0)
    assert np.all(lower <= gain + 1e-15 * gap0)


@given(**one_step_regime)
def test_reward_gain_upper_side_attained_when_one_step_reaches_the_minimum(mu_fraction, eta_beta, beta_rl):
    assert_upper_side_attained(mu_fraction=mu_fraction, eta_beta=eta_beta, beta_rl=beta_rl)


def test_reward_gain_upper_side_scaled_one_percent_unsafely_is_caught():
    problem, theta0 = one_step_instance(mu_rl=0.2, beta_rl=1.0, eta=1.5)
    curves = descent(problem, theta0, eta=1.5, steps=3)
    gain, _, upper = scalar_gains(problem, theta0, eta=1.5, steps=3)
    assert np.any(curves.rl_gap[0] - curves.rl_gap[1:] > 0.99 * (curves.rl_gap[0] - curves.rl_gap_floor[1:]))
    assert np.any(gain[1:] > 0.99 * upper[1:])


def test_a_bound_scaled_one_percent_unsafely_is_caught():
    problem, theta0 = tight_instance()
    curves = descent(problem, theta0, eta=0.3, steps=20, lam=1.0)
    assert np.any(curves.rl_gap[1:] > (0.99 * curves.q) ** curves.steps[1:] * curves.rl_gap[0])
    assert np.any(curves.path_length > 0.99 * curves.path_bound)
    assert np.any(curves.sft_excess < 1.01 * curves.sft_lower)
    assert np.any(curves.sft_excess > 0.99 * curves.sft_upper)
    positive = curves.net_gain_bound > 0
    assert np.any(curves.net_gain[positive] < 1.01 * curves.net_gain_bound[positive])


@given(seed=seeds, family=st.sampled_from(PL_FAMILIES), fraction=st.floats(0.02, 0.98), sharp=st.booleans())
def test_holds_on_random_instances(seed, family, fraction, sharp):
    rng = np.random.default_rng(seed)
    problem = random_pair(rng, family, dim=4, batch=BATCH)
    theta0 = point_in(problem.sft.minimizers, rng)
    curves = descent(problem, theta0, eta=fraction * 2.0 / problem.rl.beta, steps=60, sharp=sharp)
    for name, slack in curves.slacks().items():
        assert np.min(slack) >= -SOLVER_RTOL, name
