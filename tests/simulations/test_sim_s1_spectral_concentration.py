"""S1: curvature bracket, misalignment bound and Kantorovich bound against measured spectra."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from nondecoupling import curvature_bracket, misalignment_bound
from simulations.checks._common import point_in, random_pair
from simulations.checks.s1_spectral_concentration import (
    descent_direction_cosine,
    kantorovich_instances,
    measure,
    misalignment_at,
    random_spectra,
    tight_bracket,
)

seeds = st.integers(0, 2**32 - 1)
TOLERANCE = 1e-12
COUNT = 16


def evaluate(eigenvalues, gradient, k):
    rho, curvature, m = measure(eigenvalues, np.eye(eigenvalues.size), gradient, k)
    low, high = curvature_bracket(eigenvalues, rho, k)
    return curvature, float(low), float(high), m, float(misalignment_bound(eigenvalues, rho, k))


@given(k=st.integers(1, 4), dim=st.integers(6, 9))
def test_tight_instances(k, dim):
    (lam, lower_g, _, _), (_, upper_g, _, _), (flat, flat_g, _, _) = tight_bracket(k, dim)
    curvature, low, _, _, _ = evaluate(lam, lower_g, k)
    assert np.isclose(curvature, low, rtol=1e-12)
    curvature, _, high, _, _ = evaluate(lam, upper_g, k)
    assert np.isclose(curvature, high, rtol=1e-12)
    _, _, _, m, bound = evaluate(flat, flat_g, k)
    assert np.isclose(m, bound, rtol=1e-12)


def test_a_bound_scaled_one_percent_unsafely_is_caught():
    (lam, lower_g, k, _), (_, upper_g, _, _), (flat, flat_g, _, _) = tight_bracket()
    curvature, low, _, _, _ = evaluate(lam, lower_g, k)
    assert curvature < 1.01 * low
    curvature, _, high, _, _ = evaluate(lam, upper_g, k)
    assert curvature > 0.99 * high
    _, _, _, m, bound = evaluate(flat, flat_g, k)
    assert m < 1.01 * bound
    measured, kantorovich = kantorovich_instances(np.random.default_rng(0), count=4)
    assert np.any(measured < 1.01 * kantorovich)


@given(seed=seeds, concentration=st.one_of(st.none(), st.floats(0.01, 0.99)))
def test_holds_on_random_spectra(seed, concentration):
    measurement, _ = random_spectra(np.random.default_rng(seed), count=COUNT, concentration=concentration)
    for name, slack in measurement.slacks().items():
        assert np.min(slack) >= -TOLERANCE, name


@given(seed=seeds)
def test_kantorovich_holds_for_banded_gradients(seed):
    measured, bound = kantorovich_instances(np.random.default_rng(seed), count=COUNT // 2)
    assert np.all(measured >= bound - TOLERANCE)
    np.testing.assert_allclose(measured[1::2], bound[1::2], rtol=1e-12)  # extremal weights


@given(seed=seeds, family=st.sampled_from(["anisotropic", "rank_deficient", "sine"]))
def test_sft_direction_after_a_small_rl_step(seed, family):
    rng = np.random.default_rng(seed)
    problem = random_pair(rng, family, dim=4, batch=())
    theta0 = point_in(problem.sft.minimizers, rng)
    m = misalignment_at(problem.sft, problem.rl, theta0)
    etas = np.array([1e-3, 5e-4]) / float(problem.sft.beta)
    cosines = descent_direction_cosine(problem.sft, problem.rl, theta0, etas)
    # -m is the cosine to first order in eta; the gap halves with eta.
    errors = np.abs(cosines + m)
    assert errors[-1] <= 1e-2
    assert errors[-1] <= 0.6 * errors[0] + 1e-9
