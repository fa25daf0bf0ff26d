"""A1 (coupling identity), checked against finite differences of simulated flows.

Statement: along the RL flow ``dL/dt = -<grad L, grad R>``; along the SFT flow
``dJ/dt = <grad L, grad R>``. RL raises the SFT loss exactly when SFT lowers the reward:
both happen iff ``<grad L, grad R> < 0``.
Derivation: ``theory/nondecoupling/derivations/a1_coupling_identity.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulations.checks._common import point_in, random_pair
from simulations.checks.k1_any_policy_pays import random_tabular
from simulations.dynamics import gradient_flow
from simulations.problems import CoupledProblem, RewardLoss, random_log_linear

# One-sided 5-point stencil for f'(0) (error O(h^4)): flows cannot run backwards in time.
_STENCIL = np.array([-25.0, 48.0, -36.0, 16.0, -3.0]) / 12.0


@dataclass(frozen=True)
class CouplingRates:
    """Finite-difference rates at ``theta_0`` next to A1's identity; arrays ``(batch,)``."""

    inner_product: np.ndarray
    sft_rate_under_rl: np.ndarray
    reward_rate_under_sft: np.ndarray

    def errors(self) -> dict:
        """``dL/dt + <,>`` and ``dJ/dt - <,>``, relative to ``max(1, |<,>|)``."""
        scale = np.maximum(1.0, np.abs(self.inner_product))
        return {
            "sft_under_rl": (self.sft_rate_under_rl + self.inner_product) / scale,
            "reward_under_sft": (self.reward_rate_under_sft - self.inner_product) / scale,
        }


def derivative_at_start(objective, watched, theta0, step: float) -> np.ndarray:
    """``d/dt watched(theta_t)`` at ``t = 0`` along the gradient flow of ``objective``."""
    path = gradient_flow(objective, theta0, step * np.arange(5))
    return np.tensordot(_STENCIL, watched(path), axes=1) / step


def coupling_rates(problem: CoupledProblem, theta0, *, step: float = 1e-3) -> CouplingRates:
    """Simulate both flows for ``4 * step`` and difference ``L`` resp. ``J = -R``.

    ``step`` is divided by the largest known smoothness constant: the stencil's error grows
    like ``(beta step)^4``.
    """
    curvatures = [np.max(f.beta) for f in (problem.sft, problem.rl) if f.beta is not None]
    step = step / max([1.0, *curvatures])
    return CouplingRates(
        inner_product=problem.inner_product(theta0),
        sft_rate_under_rl=derivative_at_start(problem.rl, problem.sft.value, theta0, step),
        reward_rate_under_sft=derivative_at_start(problem.sft, lambda th: -problem.rl.value(th), theta0, step),
    )


def family_instances(rng: np.random.Generator, *, batch: int = 8, dim: int = 4) -> dict:
    """``{family: (problem, theta0 random, theta0 in S_L)}`` over every family with an SFT optimum at hand.

    Quadratic kinds and the sine family are batched; the tabular softmax (graded reward,
    with and without KL regularization) and the log-linear policy are single instances.
    """
    out = {}
    for family in ("isotropic", "anisotropic", "rank_deficient", "least_squares", "sine"):
        problem = random_pair(rng, family, dim=dim, batch=batch)
        out[family] = (problem, rng.standard_normal((batch, dim)), point_in(problem.sft.minimizers, rng))
    sft, rl = random_tabular(rng, 5, binary=False)
    expert_logits = np.log(sft.expert_probs[0])
    out["tabular"] = (CoupledProblem(sft, rl), expert_logits + rng.standard_normal(5), expert_logits)
    regularized = RewardLoss(sft.policy, rl.rewards, kl_coef=0.5, reference_probs=rng.dirichlet(np.ones(5)))
    out["tabular_kl"] = (CoupledProblem(sft, regularized), expert_logits + rng.standard_normal(5), expert_logits)
    sft, rl, theta_expert = random_log_linear(rng, prompts=3, responses=4, dim=dim, binary=False)
    out["log_linear"] = (CoupledProblem(sft, rl), theta_expert + rng.standard_normal(dim), theta_expert)
    return out


def main() -> None:
    rng = np.random.default_rng(0)
    print("A1: finite-difference rates vs <grad L, grad R> (largest relative error per family)")
    for family, (problem, theta0, _) in family_instances(rng).items():
        rates = coupling_rates(problem, theta0)
        errors = {name: f"{np.max(np.abs(e)):.1e}" for name, e in rates.errors().items()}
        same_sign = np.all(np.sign(rates.sft_rate_under_rl) == -np.sign(rates.reward_rate_under_sft))
        print(f"  {family:15s} {errors}  RL raises L <=> SFT lowers J: {bool(same_sign)}")


if __name__ == "__main__":
    main()
