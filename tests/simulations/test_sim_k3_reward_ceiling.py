"""K3: during SFT after RL the pass rate stays in the kl-inverse band and within Pinsker's bound."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from simulations.checks.k3_reward_ceiling import log_linear_rl_then_sft, rl_then_sft, sft_after, tight_instance

seeds = st.integers(0, 2**32 - 1)
TOLERANCE = 1e-9


@given(winners=st.integers(1, 4), losers=st.integers(1, 4), expert_rate=st.floats(0.05, 0.95), strength=st.floats(0.1, 4.0))
def test_tight_on_a_tilted_binary_instance(winners, losers, expert_rate, strength):
    sft, rl, theta0 = tight_instance(winners=winners, losers=losers, expert_rate=expert_rate, strength=strength)
    curves = sft_after(sft, rl, theta0, np.linspace(0.0, 10.0, 11))
    np.testing.assert_allclose(curves.pass_rate, curves.ceiling, rtol=1e-8, atol=1e-10)


def test_a_bound_scaled_one_percent_unsafely_is_caught():
    sft, rl, theta0 = tight_instance()
    curves = sft_after(sft, rl, theta0, np.linspace(0.0, 60.0, 61))
    assert np.all(curves.pass_rate > 0.99 * curves.ceiling)
    assert curves.pass_rate[-1] - curves.expert_rate[-1] < 0.01  # SFT pulls b back to a


@given(seed=seeds, binary=st.booleans())
def test_holds_along_sft_after_rl(seed, binary):
    curves = rl_then_sft(np.random.default_rng(seed), binary=binary, points=21)
    for name, slack in curves.slacks().items():
        assert np.min(slack) >= -TOLERANCE, name


@given(seed=seeds, per_prompt=st.booleans())
def test_holds_on_the_log_linear_policy(seed, per_prompt):
    curves = log_linear_rl_then_sft(np.random.default_rng(seed), per_prompt=per_prompt)
    for name, slack in curves.slacks().items():
        assert np.min(slack) >= -TOLERANCE, name
