"""V3 (paper Thm 4.1): false as stated along a simulated SFT; the corrected drop holds along
simulated SFT after RL (tabular and log-linear softmax policies) and is tight on K3's instance."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from simulations.checks.v3_reward_drop import counterexample_flow, random_drop, tight_drop

seeds = st.integers(0, 2**32 - 1)
TOLERANCE = 1e-9


def test_sft_along_section_v_counterexample_refutes_the_claim():
    run = counterexample_flow(np.linspace(0.0, 12.0, 25))
    # SFT reaches Assumption 3's KL window [0.1, 0.2] and stays there, yet the reward never moves.
    assert run.assumption_holds[-1] and run.counterexample.sum() >= 10
    assert np.all(run.reward_drop == 0.0)
    endpoint = 0.75 * np.log(1.5) + 0.25 * np.log(0.5)  # KL at pi_SFT = (3/4, 1/4): 0.1308
    assert np.all(np.diff(run.expected_kl) > 0) and endpoint - 0.005 < run.expected_kl[-1] < endpoint
    # The corrected statement promises nothing here (b_RL = a), so it is not contradicted.
    assert np.all(run.guaranteed == 0.0)


@given(winners=st.integers(1, 4), losers=st.integers(1, 4), expert_rate=st.floats(0.05, 0.9), strength=st.floats(0.5, 4.0))
def test_corrected_drop_tight_on_the_tilted_binary_instance(winners, losers, expert_rate, strength):
    curves = tight_drop(np.linspace(0.0, 10.0, 11), winners=winners, losers=losers, expert_rate=expert_rate, strength=strength)
    np.testing.assert_allclose(curves.drop, curves.guaranteed, rtol=1e-8, atol=1e-10)
    assert curves.guaranteed[-1] > 0  # a strict, positive drop was promised and delivered


def test_a_drop_bound_raised_one_percent_is_caught():
    curves = tight_drop(np.linspace(0.0, 10.0, 11))
    assert np.any(curves.drop[1:] < 1.01 * curves.guaranteed[1:] - 1e-6)


@given(seed=seeds, kind=st.sampled_from(["tabular_binary", "tabular_graded", "log_linear"]))
def test_corrected_drop_holds_along_sft_after_rl(seed, kind):
    curves = random_drop(np.random.default_rng(seed), kind=kind, points=16)
    assert np.min(curves.slack()) >= -TOLERANCE
