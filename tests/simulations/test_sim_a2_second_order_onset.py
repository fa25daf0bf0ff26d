"""A2: from S_L, the SFT excess under RL starts as (t^2/2) g^T H g."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from simulations.checks.a1_coupling_identity import family_instances
from simulations.checks.a2_second_order_onset import onset

seeds = st.integers(0, 2**32 - 1)
FAMILIES = ("isotropic", "anisotropic", "rank_deficient", "least_squares", "sine", "tabular", "tabular_kl", "log_linear")
TOLERANCE = 1e-4


@given(seed=seeds, family=st.sampled_from(FAMILIES))
def test_onset_is_quadratic_with_the_predicted_coefficient(seed, family):
    problem, _, theta0 = family_instances(np.random.default_rng(seed), batch=4)[family]
    result = onset(problem, theta0)
    resolvable = np.abs(result.predicted_coefficient) > 1e-8
    assert np.all(result.relative_error()[resolvable] <= TOLERANCE)
    assert np.all(np.abs(result.fitted_coefficient[~resolvable]) <= 1e-6)


def test_a_bound_scaled_one_percent_unsafely_is_caught():
    problem, _, theta0 = family_instances(np.random.default_rng(1), batch=4)["sine"]
    result = onset(problem, theta0)
    scaled = np.abs(result.fitted_coefficient - 1.01 * result.predicted_coefficient) / np.abs(result.predicted_coefficient)
    assert np.all(scaled > TOLERANCE)
