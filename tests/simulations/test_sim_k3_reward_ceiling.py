"""K3: during SFT after RL the pass rate stays in the kl-inverse band and within Pinsker's bound."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulations.checks.k3_reward_ceiling import log_linear_rl_then_sft, rl_then_sft, sft_after, tight_instance

seeds = st.integers(0, 2**32 - 1)
TOLERANCE = 1e-9


def assert_edge_attained(*, winners, losers, expert_rate, strength, scalar):
    """From a tilt up (down) of p*, SFT brings the pass rate down (up) along the ceiling (floor)."""
    sft, rl, theta0 = tight_instance(winners=winners, losers=losers, expert_rate=expert_rate, strength=strength)
    curves = sft_after(sft, rl, theta0, np.linspace(0.0, 10.0, 11), scalar=scalar)
    edge, other = (curves.ceiling, curves.floor) if strength > 0 else (curves.floor, curves.ceiling)
    np.testing.assert_allclose(curves.pass_rate, edge, rtol=1e-8, atol=1e-10)
    assert np.all(np.abs(curves.pass_rate - curves.expert_rate) <= curves.pinsker + 1e-10)
    assert np.all((curves.pass_rate - other) * np.sign(strength) >= -1e-10)


@given(winners=st.integers(1, 4), losers=st.integers(1, 4), expert_rate=st.floats(0.05, 0.95), strength=st.floats(0.1, 4.0),
       upward=st.booleans())
def test_tight_on_a_tilted_binary_instance(winners, losers, expert_rate, strength, upward):
    assert_edge_attained(winners=winners, losers=losers, expert_rate=expert_rate, strength=strength if upward else -strength,
                         scalar=False)


@settings(max_examples=25)  # one library call per time point: the scalar fast path, as a user's loop calls it
@given(winners=st.integers(1, 4), losers=st.integers(1, 4), expert_rate=st.floats(0.05, 0.95), strength=st.floats(0.1, 4.0),
       upward=st.booleans())
def test_tight_on_plain_floats(winners, losers, expert_rate, strength, upward):
    assert_edge_attained(winners=winners, losers=losers, expert_rate=expert_rate, strength=strength if upward else -strength,
                         scalar=True)


@pytest.mark.parametrize("scalar", [False, True], ids=["arrays", "floats"])
def test_a_bound_scaled_one_percent_unsafely_is_caught(scalar):
    sft, rl, theta0 = tight_instance()
    curves = sft_after(sft, rl, theta0, np.linspace(0.0, 60.0, 61), scalar=scalar)
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
