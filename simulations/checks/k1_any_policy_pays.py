"""K1 (any policy pays), simulated on softmax policies.

Statement: ``CE(p*, pi) >= H(p*) + kl(a || b)`` with ``a = E_{p*} r``, ``b = E_pi r``;
averaged over prompts it holds with the averaged rates. Equality iff ``r`` is binary and
``pi`` is ``p*`` rescaled within each reward class. From ``pi_0 = p*`` any RL that moves
the pass rate to ``b`` raises the SFT loss by at least ``kl(a || b)``.
Derivation: ``theory/nondecoupling/derivations/k1_any_policy_pays.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nondecoupling import kl_bernoulli
from simulations.checks._common import worst
from simulations.dynamics import gradient_flow
from simulations.problems import CrossEntropy, RewardLoss, random_log_linear, tabular_policy


@dataclass(frozen=True)
class PolicyCloud:
    """Policies next to K1's frontier; arrays ``(n,)`` (or ``(n, P)`` per prompt).

    ``sft_increase = CE(p*, pi) - H(p*)``, ``reward_gain = b - a``, ``frontier = kl(a || b)``.
    """

    expert_rate: np.ndarray
    pass_rate: np.ndarray
    sft_increase: np.ndarray
    frontier: np.ndarray

    @property
    def reward_gain(self) -> np.ndarray:
        return self.pass_rate - self.expert_rate

    def slack(self) -> np.ndarray:
        """``(SFT increase - kl(a||b)) / max(1, kl)``; ``>= 0`` iff K1 holds."""
        return (self.sft_increase - self.frontier) / np.maximum(1.0, self.frontier)


def _rate(value) -> np.ndarray:
    # Sums of probabilities times rewards can round to just outside [0, 1].
    return np.clip(value, 0.0, 1.0)


def evaluate_policies(sft: CrossEntropy, rl: RewardLoss, thetas) -> PolicyCloud:
    """K1 for prompt-averaged quantities at parameters ``thetas`` (batch)."""
    expert_rate = float(_rate(rl.policy.average(np.sum(sft.expert_probs * rl.rewards, axis=-1))))
    pass_rate = _rate(rl.policy.average(rl.pass_rates(thetas)))
    return PolicyCloud(expert_rate, pass_rate, sft.excess(thetas), kl_bernoulli(expert_rate, pass_rate))


def evaluate_per_prompt(sft: CrossEntropy, rl: RewardLoss, thetas) -> PolicyCloud:
    """K1 prompt by prompt (arrays ``(batch, P)``)."""
    expert_rate = _rate(np.sum(sft.expert_probs * rl.rewards, axis=-1))
    pass_rate = _rate(rl.pass_rates(thetas))
    increase = sft.per_prompt(thetas) - sft.expert_entropy
    return PolicyCloud(expert_rate, pass_rate, increase, kl_bernoulli(expert_rate, pass_rate))


def random_tabular(rng: np.random.Generator, responses: int, *, binary: bool, expert_concentration: float = 1.0):
    """A tabular (L, R) with Dirichlet ``p*`` and binary or graded rewards in ``[0, 1]``.

    Binary rewards always contain both classes (a constant reward has ``a = b`` for every
    policy, where rounding alone would decide ``kl(a || b)``).
    """
    policy = tabular_policy(responses)
    expert = rng.dirichlet(np.full(responses, expert_concentration))
    if binary:
        rewards = rng.permutation(np.r_[1.0, 0.0, rng.integers(0, 2, responses - 2)].astype(float))
    else:
        rewards = rng.uniform(size=responses)
    return CrossEntropy(policy, expert), RewardLoss(policy, rewards)


def random_cloud(rng: np.random.Generator, *, responses: int = 6, policies: int = 256, binary: bool = True) -> PolicyCloud:
    """Random Dirichlet policies against a random tabular instance."""
    sft, rl = random_tabular(rng, responses, binary=binary)
    thetas = np.log(rng.dirichlet(np.full(responses, 0.5), size=policies))
    return evaluate_policies(sft, rl, thetas)


def rl_path(sft: CrossEntropy, rl: RewardLoss, theta0, times) -> PolicyCloud:
    """K1 along the RL flow from ``theta0`` (an SFT optimum: ``p*`` itself for the tabular policy)."""
    return evaluate_policies(sft, rl, gradient_flow(rl, theta0, times))


def tight_policy(expert, rewards, pass_rate) -> np.ndarray:
    """``pi = p*`` rescaled within each (binary) reward class to pass rate ``b``: K1 with equality."""
    expert, rewards = np.asarray(expert, dtype=float), np.asarray(rewards, dtype=float)
    expert_rate = float(expert @ rewards)
    return np.where(rewards == 1.0, expert * pass_rate / expert_rate, expert * (1 - pass_rate) / (1 - expert_rate))


def main() -> None:
    expert, rewards = np.array([0.1, 0.2, 0.3, 0.4]), np.array([1.0, 0.0, 1.0, 0.0])
    sft, rl = CrossEntropy(tabular_policy(4), expert), RewardLoss(tabular_policy(4), rewards)
    print("K1 tight instance (binary reward, p* rescaled within classes), a = 0.4:")
    for b in (0.1, 0.4, 0.7, 0.95):
        cloud = evaluate_policies(sft, rl, np.log(tight_policy(expert, rewards, b))[None])
        print(f"  b={b:.2f}: CE - H = {cloud.sft_increase[0]:.12f}, kl(a||b) = {cloud.frontier[0]:.12f}")
    rng = np.random.default_rng(0)
    print("worst slack over random policies (binary / graded), RL paths, log-linear averaged and per prompt:")
    print(f"  tabular binary  {worst(random_cloud(rng, binary=True).slack()):+.3e}")
    print(f"  tabular graded  {worst(random_cloud(rng, binary=False).slack()):+.3e}")
    sft, rl = random_tabular(rng, 6, binary=False)
    print(f"  RL path from p* {worst(rl_path(sft, rl, np.log(sft.expert_probs[0]), np.linspace(0, 20, 41)).slack()[1:]):+.3e}")
    sft, rl, theta_expert = random_log_linear(rng, prompts=5, responses=4, dim=6)
    thetas = theta_expert + 2.0 * rng.standard_normal((256, 6))
    print(f"  log-linear avg  {worst(evaluate_policies(sft, rl, thetas).slack()):+.3e}")
    print(f"  log-linear each {worst(evaluate_per_prompt(sft, rl, thetas).slack()):+.3e}")


if __name__ == "__main__":
    main()
