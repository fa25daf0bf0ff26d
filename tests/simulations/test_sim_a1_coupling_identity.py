"""A1: dL/dt along RL = -<grad L, grad R> = -dJ/dt along SFT, by finite differences of simulated flows."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from simulations.checks.a1_coupling_identity import coupling_rates, family_instances

seeds = st.integers(0, 2**32 - 1)
FAMILIES = ("isotropic", "anisotropic", "rank_deficient", "least_squares", "sine", "tabular", "tabular_kl", "log_linear")
TOLERANCE = 1e-6  # the stencil's O((beta h)^4) error plus rounding of L / h


@given(seed=seeds, family=st.sampled_from(FAMILIES))
def test_identity_holds_on_every_family(seed, family):
    problem, theta0, _ = family_instances(np.random.default_rng(seed), batch=4)[family]
    rates = coupling_rates(problem, theta0)
    for name, error in rates.errors().items():
        assert np.max(np.abs(error)) <= TOLERANCE, name
    # Symmetric interference: RL raises L exactly when SFT lowers J.
    clear = np.abs(rates.inner_product) > 1e-4
    assert np.all(np.sign(rates.sft_rate_under_rl[clear]) == -np.sign(rates.reward_rate_under_sft[clear]))


def test_a_bound_scaled_one_percent_unsafely_is_caught():
    problem, theta0, _ = family_instances(np.random.default_rng(0), batch=4)["sine"]
    rates = coupling_rates(problem, theta0)
    scale = np.maximum(1.0, np.abs(rates.inner_product))
    assert np.max(np.abs(rates.sft_rate_under_rl + 1.01 * rates.inner_product) / scale) > TOLERANCE
    assert np.max(np.abs(rates.reward_rate_under_sft - 1.01 * rates.inner_product) / scale) > TOLERANCE
