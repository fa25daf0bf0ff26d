"""V2: along SFT after RL the pass rate stays in each KL direction's band and within Pinsker's radius;
each band edge (both directions, both sides) and Pinsker's radius is attained."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulations.checks.v2_reward_change import DIRECTIONS, random_sft_after_rl, sft_after_rl, tight_instance

seeds = st.integers(0, 2**32 - 1)
SOLVER_TOLERANCE = 1e-8  # the ODE solver's; the simulated rates and KLs carry its error
FEW = settings(max_examples=12)  # each example solves an ODE (~0.1 s): a few seconds per test
TIMES = np.linspace(0.0, 10.0, 11)


def assert_band_edge_attained(*, direction, raised, winners=2, losers=3, expert_rate=0.3, strength=3.0):
    """RL raised (lowered) the rate: SFT brings it down (up) along the band's lower (upper) edge."""
    sft, rl, theta_rl = tight_instance(winners=winners, losers=losers, expert_rate=expert_rate,
                                       strength=strength if raised else -strength)
    curves = sft_after_rl(sft, rl, theta_rl, TIMES)
    lower, upper = curves.band[direction]
    edge, other = (lower, upper) if raised else (upper, lower)
    np.testing.assert_allclose(curves.sft_reward, edge, rtol=SOLVER_TOLERANCE, atol=1e-10)
    assert np.all((curves.sft_reward - other) * (1 if raised else -1) <= 1e-10)  # inside the band


@pytest.mark.parametrize("direction", DIRECTIONS)
@FEW
@given(raised=st.booleans(), winners=st.integers(1, 4), losers=st.integers(1, 4), expert_rate=st.floats(0.05, 0.95),
       strength=st.floats(0.2, 4.0))
def test_band_edges_attained(direction, raised, winners, losers, expert_rate, strength):
    assert_band_edge_attained(direction=direction, raised=raised, winners=winners, losers=losers,
                              expert_rate=expert_rate, strength=strength)


def pinsker_ratios(direction, expert_rate=0.2):
    """|J_SFT - J_RL| / sqrt(KL/2) at t -> 0, from pi_RL = (1/2, 1/2): Pinsker's equality case is kl at 1/2."""
    sft, rl, theta_rl = tight_instance(winners=1, losers=1, expert_rate=expert_rate,
                                       strength=np.log((1 - expert_rate) / expert_rate))
    curves = sft_after_rl(sft, rl, theta_rl, np.array([0.0, 1e-3, 1e-2, 1e-1]))
    return np.abs(curves.sft_reward[1:] - curves.rl_reward) / curves.pinsker[direction][1:]


def assert_pinsker_attained(direction, expert_rate=0.2):
    ratios = pinsker_ratios(direction, expert_rate)
    assert np.all(ratios <= 1 + 1e-12)  # the bound holds ...
    assert ratios[0] >= 1 - 1e-5 and np.all(np.diff(ratios) < 0)  # ... and -> 1 from below as t -> 0


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("expert_rate", [0.05, 0.2, 0.9])
def test_pinsker_attained_as_kl_to_0(direction, expert_rate):
    assert_pinsker_attained(direction, expert_rate)


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_a_bound_moved_one_percent_unsafely_is_caught(direction):
    for raised in (True, False):
        sft, rl, theta_rl = tight_instance(strength=3.0 if raised else -3.0)
        curves = sft_after_rl(sft, rl, theta_rl, TIMES)
        lower, upper = curves.band[direction]
        change = curves.sft_reward - curves.rl_reward
        if raised:  # the lower edge moved 1% of its distance from J_RL towards it
            assert np.any(curves.sft_reward < curves.rl_reward + 0.99 * (lower - curves.rl_reward))
        else:
            assert np.any(curves.sft_reward > curves.rl_reward + 0.99 * (upper - curves.rl_reward))
        assert np.any(change != 0)
    assert np.any(pinsker_ratios(direction) > 1 / 1.01)


@FEW
@given(seed=seeds, log_linear=st.booleans(), binary=st.booleans())
def test_holds_along_sft_after_rl(seed, log_linear, binary):
    curves = random_sft_after_rl(np.random.default_rng(seed), log_linear=log_linear, binary=binary, points=11)
    for name, slack in curves.slacks().items():
        assert np.min(slack) >= -SOLVER_TOLERANCE, name
