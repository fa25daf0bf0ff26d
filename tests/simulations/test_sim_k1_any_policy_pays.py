"""K1: CE(p*, pi) >= H(p*) + kl(a || b) for every policy, tight on within-class rescalings."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from simulations.checks.k1_any_policy_pays import (
    evaluate_per_prompt,
    evaluate_policies,
    random_cloud,
    random_tabular,
    rl_path,
    tight_policy,
)
from simulations.problems import CrossEntropy, RewardLoss, random_log_linear, tabular_policy

seeds = st.integers(0, 2**32 - 1)
POLICIES = 64
TOLERANCE = 1e-10  # rounding of cross-entropies up to ~10 nats


def binary_instance(rng, responses):
    rewards = np.r_[1.0, 0.0, rng.integers(0, 2, responses - 2)].astype(float)
    expert = rng.dirichlet(np.ones(responses))
    policy = tabular_policy(responses)
    return expert, rewards, CrossEntropy(policy, expert), RewardLoss(policy, rewards)


@given(seed=seeds, responses=st.integers(2, 8), pass_rate=st.floats(0.001, 0.999))
def test_tight_for_within_class_rescaling(seed, responses, pass_rate):
    expert, rewards, sft, rl = binary_instance(np.random.default_rng(seed), responses)
    cloud = evaluate_policies(sft, rl, np.log(tight_policy(expert, rewards, pass_rate))[None])
    np.testing.assert_allclose(cloud.sft_increase, cloud.frontier, rtol=1e-10, atol=1e-14)


def test_a_bound_scaled_one_percent_unsafely_is_caught():
    expert, rewards = np.array([0.1, 0.2, 0.3, 0.4]), np.array([1.0, 0.0, 1.0, 0.0])
    sft, rl = CrossEntropy(tabular_policy(4), expert), RewardLoss(tabular_policy(4), rewards)
    cloud = evaluate_policies(sft, rl, np.log(tight_policy(expert, rewards, 0.8))[None])
    assert np.all(cloud.sft_increase < 1.01 * cloud.frontier)


@given(seed=seeds, binary=st.booleans(), responses=st.integers(2, 8))
def test_holds_for_random_policies(seed, binary, responses):
    cloud = random_cloud(np.random.default_rng(seed), responses=responses, policies=POLICIES, binary=binary)
    assert np.min(cloud.slack()) >= -TOLERANCE


@given(seed=seeds, binary=st.booleans())
def test_holds_along_rl_from_the_sft_optimum(seed, binary):
    sft, rl = random_tabular(np.random.default_rng(seed), 5, binary=binary)
    cloud = rl_path(sft, rl, np.log(sft.expert_probs[0]), np.linspace(0.0, 10.0, 21))
    assert np.min(cloud.slack()) >= -1e-10


@given(seed=seeds, binary=st.booleans())
def test_holds_per_prompt_and_averaged_on_the_log_linear_policy(seed, binary):
    rng = np.random.default_rng(seed)
    sft, rl, theta_expert = random_log_linear(rng, prompts=4, responses=5, dim=6, binary=binary)
    thetas = theta_expert + rng.standard_normal((POLICIES, 6))
    for cloud in (evaluate_policies(sft, rl, thetas), evaluate_per_prompt(sft, rl, thetas)):
        # A pass rate within 1e-9 of 0 or 1 no longer resolves kl(a || b) in floating point.
        resolvable = np.minimum(cloud.pass_rate, 1 - cloud.pass_rate) > 1e-9
        assert np.min(cloud.slack()[resolvable]) >= -TOLERANCE


def test_perfect_experts_bound_falls_as_the_pass_rate_rises():
    rewards, expert = np.array([1.0, 1.0, 0.0]), np.array([0.5, 0.5, 0.0])
    sft, rl = CrossEntropy(tabular_policy(3), expert), RewardLoss(tabular_policy(3), rewards)
    thetas = np.log(np.array([[0.2, 0.2, 0.6], [0.4, 0.4, 0.2], [0.49, 0.49, 0.02]]))
    cloud = evaluate_policies(sft, rl, thetas)
    np.testing.assert_allclose(cloud.frontier, -np.log(cloud.pass_rate), rtol=1e-12)
    assert np.all(np.diff(cloud.sft_increase) < 0)  # with a = 1, raising b lowers the SFT loss
