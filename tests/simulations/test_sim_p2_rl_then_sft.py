"""P2: the RL-then-SFT envelope against simulated SFT flows."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from simulations.checks._common import PL_FAMILIES, SOLVER_RTOL, point_in, random_pair
from simulations.checks.p2_rl_then_sft import envelope, tight_instance

seeds = st.integers(0, 2**32 - 1)
constants = st.floats(0.1, 5.0)
BATCH = 8


@given(mu_sft=constants, mu_rl=constants, sep=constants)
def test_tight_on_isotropic_quadratics(mu_sft, mu_rl, sep):
    problem, theta0 = tight_instance(mu_sft=mu_sft, mu_rl=mu_rl, sep=sep)
    curves = envelope(problem, theta0, np.linspace(0.0, 6.0 / mu_sft, 40))
    scale = curves.upper.max()
    np.testing.assert_allclose(curves.excess, curves.lower, rtol=1e-9, atol=1e-12 * scale)
    np.testing.assert_allclose(curves.excess, curves.upper, rtol=1e-9, atol=1e-12 * scale)
    np.testing.assert_allclose(curves.path_length, curves.path_bound, rtol=1e-8, atol=1e-10 * sep)


def test_a_bound_scaled_one_percent_unsafely_is_caught():
    problem, theta0 = tight_instance()
    curves = envelope(problem, theta0, np.linspace(0.0, 4.0, 41))
    assert np.any(curves.excess < 1.01 * curves.lower)
    assert np.any(curves.excess > 0.99 * curves.upper)
    assert np.any(curves.path_length > 0.99 * curves.path_bound)


@given(seed=seeds, family=st.sampled_from(PL_FAMILIES))
def test_holds_on_random_instances(seed, family):
    rng = np.random.default_rng(seed)
    problem = random_pair(rng, family, dim=4, batch=BATCH)
    theta0 = point_in(problem.rl.minimizers, rng)
    curves = envelope(problem, theta0, np.linspace(0.0, 4.0 / np.min(problem.sft.mu), 30))
    for name, slack in curves.slacks().items():
        assert np.min(slack) >= -SOLVER_RTOL, name
