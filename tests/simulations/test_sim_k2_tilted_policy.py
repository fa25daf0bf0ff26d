"""K2: converged KL-regularized RL from p* equals the tilt p* e^{s r}; binary rewards meet K1."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from simulations.checks.k1_any_policy_pays import random_tabular
from simulations.checks.k2_tilted_policy import small_strength_ratio, tilt_path

seeds = st.integers(0, 2**32 - 1)


@given(seed=seeds, binary=st.booleans(), strength=st.floats(0.05, 4.0))
def test_converged_regularized_rl_is_the_tilt(seed, binary, strength):
    sft, rl = random_tabular(np.random.default_rng(seed), 4, binary=binary)
    path = tilt_path(sft, rl.rewards[0], [strength])
    for name, error in path.errors().items():
        assert error <= 1e-7, name
    assert np.all(path.sft_increase_exact >= -1e-15)
    if binary:  # the KL-regularized path meets K1 with equality
        np.testing.assert_allclose(path.sft_increase, path.kl_frontier, rtol=1e-7, atol=1e-10)


def test_a_bound_scaled_one_percent_unsafely_is_caught():
    sft, rl = random_tabular(np.random.default_rng(3), 4, binary=True)
    path = tilt_path(sft, rl.rewards[0], [1.0, 2.0])
    assert np.all(path.sft_increase < 1.01 * path.sft_increase_exact)
    assert np.all(path.sft_increase > 0.99 * path.sft_increase_exact)
    assert np.all(path.reward > 0.99 * path.reward_exact) and np.all(path.reward < 1.01 * path.reward_exact)


@given(seed=seeds)
def test_small_strength_sft_increase_is_quadratic_in_the_gain(seed):
    sft, rl = random_tabular(np.random.default_rng(seed), 5, binary=False)
    ratios = small_strength_ratio(sft.expert_probs[0], rl.rewards[0], [1e-2, 1e-3])
    assert abs(ratios[0] - 1) <= 0.2 and abs(ratios[1] - 1) <= 0.02
    assert abs(ratios[1] - 1) <= abs(ratios[0] - 1) + 1e-9
