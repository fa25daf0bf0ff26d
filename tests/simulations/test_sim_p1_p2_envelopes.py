"""P1 (SFT-then-RL) and P2 (RL-then-SFT): the envelopes against simulated flows.

P2 is P1 with the roles of SFT and RL swapped, so each test runs on both: ``flowed`` is
the objective whose gradient flow is simulated, ``start`` the one whose minimizer set
``S_L`` / ``S_R`` the flow starts in.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulations.checks import p1_sft_then_rl, p2_rl_then_sft
from simulations.checks._common import PL_FAMILIES, SOLVER_RTOL, point_in, random_pair

seeds = st.integers(0, 2**32 - 1)
constants = st.floats(0.1, 5.0)
BATCH = 8

theorems = pytest.mark.parametrize(
    "module, flowed, start",
    [(p1_sft_then_rl, "rl", "sft"), (p2_rl_then_sft, "sft", "rl")],
    ids=["P1", "P2"],
)


@theorems
@given(mu_sft=constants, mu_rl=constants, sep=constants)
def test_tight_on_isotropic_quadratics(module, flowed, start, mu_sft, mu_rl, sep):
    problem, theta0 = module.tight_instance(mu_sft=mu_sft, mu_rl=mu_rl, sep=sep)
    mu_flowed = {"sft": mu_sft, "rl": mu_rl}[flowed]
    curves = module.envelope(problem, theta0, np.linspace(0.0, 6.0 / mu_flowed, 40))
    scale = curves.upper.max()
    np.testing.assert_allclose(curves.excess, curves.lower, rtol=1e-9, atol=1e-12 * scale)
    np.testing.assert_allclose(curves.excess, curves.upper, rtol=1e-9, atol=1e-12 * scale)
    np.testing.assert_allclose(curves.path_length, curves.path_bound, rtol=1e-8, atol=1e-10 * sep)
    np.testing.assert_allclose(curves.progress, curves.progress_lower, rtol=1e-9, atol=1e-12 * scale)
    np.testing.assert_allclose(curves.progress, curves.progress_upper, rtol=1e-9, atol=1e-12 * scale)


@theorems
def test_a_bound_scaled_one_percent_unsafely_is_caught(module, flowed, start):
    problem, theta0 = module.tight_instance()
    curves = module.envelope(problem, theta0, np.linspace(0.0, 4.0, 41))
    assert np.any(curves.excess < 1.01 * curves.lower)
    assert np.any(curves.excess > 0.99 * curves.upper)
    assert np.any(curves.path_length > 0.99 * curves.path_bound)
    assert np.any(curves.progress < 1.01 * curves.progress_lower)
    assert np.any(curves.progress > 0.99 * curves.progress_upper)


@theorems
@given(seed=seeds, family=st.sampled_from(PL_FAMILIES))
def test_holds_on_random_instances(module, flowed, start, seed, family):
    rng = np.random.default_rng(seed)
    problem = random_pair(rng, family, dim=4, batch=BATCH)
    theta0 = point_in(getattr(problem, start).minimizers, rng)
    curves = module.envelope(problem, theta0, np.linspace(0.0, 4.0 / np.min(getattr(problem, flowed).mu), 30))
    for name, slack in curves.slacks().items():
        assert np.min(slack) >= -SOLVER_RTOL, name
