"""K2 (KL-regularized RL from the SFT optimum), simulated.

Statement: the maximizer of ``E_pi r - (1/s) KL(pi || p*)`` is ``pi_s ∝ p* e^{s r}``; with
``Lambda(s) = log E_{p*} e^{s r}`` its reward is ``Lambda'(s)``, its SFT increase
``Lambda(s) - s Lambda'(0) >= 0`` and its KL ``s Lambda'(s) - Lambda(s)``; small ``s``: SFT
increase ``~ gain^2 / (2 Var_{p*} r)``; binary ``r``: SFT increase ``= kl(a || b(s))``.
Simulated by running the KL-regularized RL gradient flow of a tabular softmax policy from
``p*`` and converging it with BFGS. Derivation: ``theory/nondecoupling/derivations/k2_tilted_policy.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from nondecoupling import kl_bernoulli, tilted_tradeoff
from simulations.checks._common import worst
from simulations.checks.k1_any_policy_pays import random_tabular
from simulations.dynamics import gradient_flow
from simulations.problems import CrossEntropy, RewardLoss


@dataclass(frozen=True)
class TiltPath:
    """Along ``s``: simulated (converged KL-regularized RL) and exact (K2) reward, SFT increase, KL."""

    strengths: np.ndarray
    reward: np.ndarray
    sft_increase: np.ndarray
    rl_kl: np.ndarray
    reward_exact: np.ndarray
    sft_increase_exact: np.ndarray
    rl_kl_exact: np.ndarray
    kl_frontier: np.ndarray

    def errors(self) -> dict:
        """Largest gap between simulation and K2 per quantity, relative to ``max(1, |exact|)``."""
        pairs = {
            "reward": (self.reward, self.reward_exact),
            "sft_increase": (self.sft_increase, self.sft_increase_exact),
            "rl_kl": (self.rl_kl, self.rl_kl_exact),
        }
        return {name: np.max(np.abs(sim - exact) / np.maximum(1.0, np.abs(exact))) for name, (sim, exact) in pairs.items()}


def regularized_optimum(sft: CrossEntropy, rl_rewards, strength: float, *, flow_time: float = 5.0) -> np.ndarray:
    """Logits that maximize ``E_pi r - KL(pi || p*) / s`` for the tabular policy, found by RL.

    The KL-regularized RL gradient flow runs from ``log p*`` for ``flow_time`` and BFGS
    finishes the convergence (the flow's last phase contracts only at rate
    ``min_y pi_s(y) / s``, far too slowly to wait for). Nothing here uses the tilt formula.
    """
    expert = sft.expert_probs[0]
    rl = RewardLoss(sft.policy, rl_rewards, kl_coef=1.0 / strength, reference_probs=expert)
    start = gradient_flow(rl, np.log(expert), [0.0, flow_time])[-1]
    result = minimize(rl.value, start, jac=rl.grad, method="BFGS", options={"gtol": 1e-13, "maxiter": 10_000})
    return result.x


def tilt_path(sft: CrossEntropy, rewards, strengths) -> TiltPath:
    """Simulated K2 quantities at each ``s`` of ``strengths`` next to ``tilted_tradeoff``."""
    expert = sft.expert_probs[0]
    rewards = np.asarray(rewards, dtype=float)
    plain = RewardLoss(sft.policy, rewards, kl_coef=1.0, reference_probs=expert)
    thetas = np.array([regularized_optimum(sft, rewards, s) for s in strengths])
    reward_exact, increase_exact, kl_exact = tilted_tradeoff(np.asarray(strengths), expert, rewards)
    pass_rate = np.clip(plain.pass_rates(thetas)[:, 0], 0.0, 1.0)
    return TiltPath(
        strengths=np.asarray(strengths),
        reward=pass_rate,
        sft_increase=sft.excess(thetas),
        rl_kl=plain.kl_to_reference(thetas)[:, 0],
        reward_exact=np.asarray(reward_exact),
        sft_increase_exact=np.asarray(increase_exact),
        rl_kl_exact=np.asarray(kl_exact),
        kl_frontier=kl_bernoulli(float(np.clip(expert @ rewards, 0, 1)), pass_rate),
    )


def small_strength_ratio(expert, rewards, strengths) -> np.ndarray:
    """``SFT increase / (gain^2 / (2 Var r))`` from K2's exact formulas (tends to 1 as s -> 0)."""
    expert, rewards = np.asarray(expert, dtype=float), np.asarray(rewards, dtype=float)
    mean = expert @ rewards
    variance = expert @ (rewards - mean) ** 2
    reward, increase, _ = tilted_tradeoff(np.asarray(strengths), expert, rewards)
    return np.asarray(increase) / ((np.asarray(reward) - mean) ** 2 / (2 * variance))


def main() -> None:
    from simulations.problems import tabular_policy

    expert, rewards = np.array([0.1, 0.3, 0.2, 0.4]), np.array([1.0, 0.0, 1.0, 0.0])
    sft = CrossEntropy(tabular_policy(4), expert)
    path = tilt_path(sft, rewards, [0.25, 1.0, 2.0, 4.0])
    print("K2 binary reward (a = 0.3): converged KL-regularized RL vs K2")
    print(f"{'s':>5} {'reward':>14} {'exact':>14} {'SFT incr.':>14} {'exact':>14} {'kl(a||b)':>14} {'RL KL':>14} {'exact':>14}")
    for i, s in enumerate(path.strengths):
        print(
            f"{s:5.2f} {path.reward[i]:14.10f} {path.reward_exact[i]:14.10f} {path.sft_increase[i]:14.10f} "
            f"{path.sft_increase_exact[i]:14.10f} {path.kl_frontier[i]:14.10f} {path.rl_kl[i]:14.10f} {path.rl_kl_exact[i]:14.10f}"
        )
    rng = np.random.default_rng(0)
    sft, rl = random_tabular(rng, 6, binary=False)
    errors = tilt_path(sft, rl.rewards[0], [0.5, 2.0, 5.0]).errors()
    print("graded random instance, largest |simulated - exact|:", {k: f"{v:.1e}" for k, v in errors.items()})
    print("small-s ratio SFT increase / (gain^2/2Var):", small_strength_ratio(expert, rewards, [1.0, 0.1, 0.01]))
    print(f"worst K1 slack on the tilt path (binary: 0 = tight): {worst(path.sft_increase - path.kl_frontier):+.2e}")


if __name__ == "__main__":
    main()
