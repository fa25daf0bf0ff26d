"""V3 (paper Theorem 4.1, v1): false as stated, and its corrected strict version, simulated.

The claim: ``0 < a <= E_x KL(pi_SFT || pi_RL) <= A`` forces SFT to lower the reward by a strict
``C2 > 0``. Refuted by section V's instance (``r == 0``, ``pi_RL = (1/2, 1/2)``, SFT towards
``(3/4, 1/4)``) and by any reward that ties on the support; :func:`counterexample_flow` runs
that SFT and judges every point with :func:`nondecoupling.theorem_4_1_as_stated`.
Corrected: along SFT after RL the pass rate has dropped by at least
``guaranteed_reward_drop(a, b_RL, eps(t)) = max(0, b_RL - kl_inv_upper(a, eps(t)))``
(:func:`sft_after_rl`), with equality on K3's tight instance.
Derivation: ``theory/nondecoupling/derivations/v3_reward_drop.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nondecoupling import guaranteed_reward_drop, theorem_4_1_as_stated
from simulations.checks._common import worst
from simulations.checks.k1_any_policy_pays import random_tabular
from simulations.checks.k3_reward_ceiling import tight_instance
from simulations.dynamics import gradient_flow
from simulations.problems import CrossEntropy, RewardLoss, random_log_linear, tabular_policy

#: Section V's counterexample: pi_RL, the SFT target, the (constant) reward and Assumption 3's [a, A].
RL_POLICY, SFT_TARGET, ZERO_REWARD, ASSUMED_KL = (0.5, 0.5), (0.75, 0.25), (0.0, 0.0), (0.1, 0.2)


@dataclass(frozen=True)
class DropCurves:
    """Along SFT after RL (arrays ``(T,)``): the pass rate's drop beside the guaranteed drop."""

    times: np.ndarray
    expert_rate: float
    rl_rate: float
    pass_rate: np.ndarray
    sft_excess: np.ndarray
    guaranteed: np.ndarray

    @property
    def drop(self) -> np.ndarray:
        """``b_RL - b(t)``."""
        return self.rl_rate - self.pass_rate

    def slack(self) -> np.ndarray:
        """``drop - guaranteed`` (>= 0 iff the corrected V3 holds; 0 where it is tight)."""
        return self.drop - self.guaranteed


def sft_after_rl(sft: CrossEntropy, rl: RewardLoss, theta_rl, times) -> DropCurves:
    """SFT flow from the RL policy ``theta_rl``; prompt-averaged rates and SFT excess."""
    thetas = gradient_flow(sft, theta_rl, times)
    average = sft.policy.average
    expert_rate = float(np.clip(average(np.sum(sft.expert_probs * rl.rewards, axis=-1)), 0.0, 1.0))
    pass_rate = np.clip(average(rl.pass_rates(thetas)), 0.0, 1.0)
    excess = np.maximum(sft.excess(thetas), 0.0)  # a converged excess may round a hair below 0
    guaranteed = guaranteed_reward_drop(expert_pass_rate=expert_rate, rl_pass_rate=pass_rate[0], sft_excess=excess)
    return DropCurves(np.asarray(times), expert_rate, float(pass_rate[0]), pass_rate, excess, np.asarray(guaranteed))


def tight_drop(times, **instance) -> DropCurves:
    """K3's tight instance (binary reward, ``p*`` uniform per class, RL a tilt of ``p*``): drop = C2."""
    sft, rl, theta_rl = tight_instance(**instance)
    return sft_after_rl(sft, rl, theta_rl, times)


def random_drop(rng: np.random.Generator, *, kind: str, rl_time: float = 5.0, sft_time: float = 30.0, points: int = 31) -> DropCurves:
    """RL flow from the expert for ``rl_time``, then SFT; ``kind`` is tabular_binary, tabular_graded or log_linear."""
    if kind == "log_linear":
        sft, rl, theta_expert = random_log_linear(rng, prompts=4, responses=5, dim=6)
    else:
        sft, rl = random_tabular(rng, 6, binary=kind == "tabular_binary")
        theta_expert = np.log(sft.expert_probs[0])
    theta_rl = gradient_flow(rl, theta_expert, [0.0, rl_time])[-1]
    return sft_after_rl(sft, rl, theta_rl, np.linspace(0.0, sft_time, points))


@dataclass(frozen=True)
class ClaimRun:
    """Along SFT from ``pi_RL``: KL(pi_t || pi_RL), the reward drop and the claim's verdicts."""

    times: np.ndarray
    expected_kl: np.ndarray
    reward_drop: np.ndarray
    assumption_holds: np.ndarray
    counterexample: np.ndarray
    guaranteed: np.ndarray


def counterexample_flow(times, *, rl_policy=RL_POLICY, sft_target=SFT_TARGET, rewards=ZERO_REWARD, assumed_kl=ASSUMED_KL) -> ClaimRun:
    """SFT flow from ``rl_policy`` towards ``sft_target``; every point judged against Theorem 4.1 as stated."""
    rl_policy, sft_target, rewards = (np.asarray(x, dtype=float) for x in (rl_policy, sft_target, rewards))
    sft = CrossEntropy(tabular_policy(rl_policy.size), sft_target)
    policies = sft.policy.probs(gradient_flow(sft, np.log(rl_policy), times))[:, 0]
    checks = [theorem_4_1_as_stated(rl_policy, p, rewards, kl_low=assumed_kl[0], kl_high=assumed_kl[1]) for p in policies]
    expert_rate = float(sft_target @ rewards)
    excess = np.maximum(sft.excess(np.log(policies)), 0.0)
    return ClaimRun(
        times=np.asarray(times),
        expected_kl=np.array([c.expected_kl for c in checks]),
        reward_drop=np.array([c.reward_drop for c in checks]),
        assumption_holds=np.array([c.assumption_holds for c in checks]),
        counterexample=np.array([c.counterexample for c in checks]),
        guaranteed=np.asarray(guaranteed_reward_drop(expert_pass_rate=expert_rate, rl_pass_rate=float(rl_policy @ rewards), sft_excess=excess)),
    )


def tie_instance(rng: np.random.Generator, *, responses: int = 6, levels: int = 3):
    """``(pi_RL, pi_SFT, rewards)``: rewards with ties; pi_SFT moves mass only within reward levels.

    Every reward level keeps its mass, so the reward cannot move, while KL(pi_SFT || pi_RL) > 0.
    """
    level_of = rng.permutation(np.r_[np.arange(levels), rng.integers(0, levels, responses - levels)])
    values = rng.uniform(size=levels)
    rl = rng.dirichlet(np.ones(responses))
    within = rng.dirichlet(np.ones(responses))
    sft = np.empty(responses)
    for level in range(levels):
        members = level_of == level
        sft[members] = rl[members].sum() * within[members] / within[members].sum()
    return rl, sft, values[level_of]


def main() -> None:
    run = counterexample_flow(np.linspace(0.0, 6.0, 13))
    print("V3 as stated: SFT from pi_RL = (1/2, 1/2) towards (3/4, 1/4), r == 0, Assumption 3 with [0.1, 0.2]")
    for t, kl, drop, cx in zip(run.times, run.expected_kl, run.reward_drop, run.counterexample):
        print(f"  t {t:4.1f}: KL(pi_t||pi_RL) {kl:.4f}  reward drop {drop:+.1e}  {'COUNTEREXAMPLE' if cx else ''}")
    curves = tight_drop(np.linspace(0.0, 10.0, 11))
    print(f"V3 corrected, tight instance: a = {curves.expert_rate:.3f}, b_RL = {curves.rl_rate:.4f}")
    for t, drop, bound in zip(curves.times, curves.drop, curves.guaranteed):
        print(f"  t {t:4.1f}: drop {drop:.12f}  guaranteed {bound:.12f}")
    rng = np.random.default_rng(0)
    for kind in ("tabular_binary", "tabular_graded", "log_linear"):
        print(f"  worst slack, {kind:15s}: {worst(random_drop(rng, kind=kind).slack()):+.2e}")


if __name__ == "__main__":
    main()
