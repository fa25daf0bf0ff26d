"""V1 (paper Theorem 3.1, v1), simulated.

Statement: exact SFT (``p_SFT = p_D``) followed by KL-regularized RL with the SFT model as
reference ends at ``p_RL = p_D e^{r/beta} / Z_beta`` and raises the SFT loss by exactly
``C1(beta) = E_x[log Z_beta(x) - E_{p_D} r / beta] >= 0``.
Simulated with softmax policies, one logit per (prompt, response): KL-regularized
policy-gradient RL (the exact gradient flow of ``-E_x[E_pi r - beta KL(pi || p_SFT)]``) runs from
the expert distribution and BFGS converges it; the SFT loss it leaves is compared with
:func:`nondecoupling.sft_increase_after_kl_rl`. Nothing here uses the tilt formula.
Derivation: ``theory/nondecoupling/derivations/v1_sft_after_kl_rl.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import approx_fprime, minimize

from nondecoupling import sft_increase_after_kl_rl
from simulations.dynamics import gradient_flow
from simulations.problems import CrossEntropy, LogLinearPolicy, RewardLoss


@dataclass(frozen=True)
class C1Path:
    """Over KL coefficients ``betas``: the SFT increase left by simulated RL, and C1(beta)."""

    betas: np.ndarray
    simulated: np.ndarray
    exact: np.ndarray

    def error(self) -> np.ndarray:
        """``|simulated - C1|`` per beta: absolute, as the SFT excess is a difference of losses of order log K."""
        return np.abs(self.simulated - self.exact)


def prompt_tabular_policy(prompts: int, responses: int, prompt_weights=None) -> LogLinearPolicy:
    """The softmax with one logit per (prompt, response): ``theta`` is the flattened logit table."""
    features = np.eye(prompts * responses).reshape(prompts, responses, prompts * responses)
    return LogLinearPolicy(features, prompt_weights)


def kl_regularized_rl(sft: CrossEntropy, rewards, *, beta: float, flow_time: float = 5.0) -> np.ndarray:
    """Logits that RL with KL coefficient ``beta`` (reference: the SFT model ``p_D``) converges to.

    The policy-gradient flow runs from ``log p_D`` for ``flow_time / min(beta, 1)`` (its
    curvature near the optimum scales with beta); BFGS finishes the convergence (the
    flow's last phase contracts only at a rate ``~ min_y p_RL(y) beta``) and two Newton
    steps polish it. Resolves the SFT loss to ~1e-15 for beta >= 0.25; below, BFGS can
    wander into logits where the softmax saturates (seen at beta = 0.1).
    """
    rl = RewardLoss(sft.policy, rewards, kl_coef=beta, reference_probs=sft.expert_probs)
    start = gradient_flow(rl, np.log(sft.expert_probs).ravel(), [0.0, flow_time / min(beta, 1.0)])[-1]
    theta = minimize(rl.value, start, jac=rl.grad, method="BFGS", options={"gtol": 1e-13, "maxiter": 10_000}).x
    return _newton_polish(rl, theta)


def _newton_polish(objective, theta, *, steps: int = 2) -> np.ndarray:
    """Newton steps with a finite-difference Hessian of the exact gradient.

    BFGS may stop at a gradient of ~1e-9 ("precision loss") on this ill-conditioned
    objective; two Newton steps (scipy's ``approx_fprime`` Jacobian of ``grad``, least squares
    for the singular direction of a common logit shift per prompt) take it to ~1e-13.
    """
    for _ in range(steps):
        hessian = approx_fprime(theta, objective.grad, 1e-7)
        theta = theta - np.linalg.lstsq(0.5 * (hessian + hessian.T), objective.grad(theta), rcond=1e-9)[0]
    return theta


def c1_path(probs, rewards, betas, prompt_weights=None) -> C1Path:
    """Simulated SFT increase after KL-regularized RL from ``p_D`` at each beta, beside C1(beta)."""
    probs = np.atleast_2d(probs)
    policy = prompt_tabular_policy(*probs.shape, prompt_weights)
    sft = CrossEntropy(policy, probs)
    rewards = np.broadcast_to(rewards, probs.shape)
    betas = np.asarray(betas, dtype=np.float64)
    simulated = np.array([sft.excess(kl_regularized_rl(sft, rewards, beta=b)) for b in betas])
    exact = np.asarray(sft_increase_after_kl_rl(probs, rewards, beta=betas, prompt_weights=policy.prompt_weights))
    return C1Path(betas, simulated, exact)


def random_instance(rng: np.random.Generator, *, prompts: int = 3, responses: int = 5, binary: bool = False):
    """``(p_D, rewards, prompt_weights)``: Dirichlet(2) experts (no response near probability 0)."""
    probs = rng.dirichlet(np.full(responses, 2.0), size=prompts)
    rewards = rng.integers(0, 2, (prompts, responses)).astype(float) if binary else rng.uniform(size=(prompts, responses))
    return probs, rewards, rng.dirichlet(np.full(prompts, 2.0))


def main() -> None:
    rng = np.random.default_rng(0)
    betas = np.geomspace(0.25, 10.0, 7)
    for binary in (False, True):
        probs, rewards, weights = random_instance(rng, binary=binary)
        path = c1_path(probs, rewards, betas, prompt_weights=weights)
        print(f"V1 {'binary' if binary else 'graded'} reward, 3 prompts x 5 responses:")
        for beta, sim, exact in zip(path.betas, path.simulated, path.exact):
            print(f"  beta {beta:7.3f}: simulated {sim:.12f}  C1(beta) {exact:.12f}  diff {sim - exact:+.1e}")


if __name__ == "__main__":
    main()
