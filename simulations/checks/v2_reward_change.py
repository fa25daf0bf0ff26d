"""V2 (paper Prop. 1, in the form of THEORY.md), simulated: SFT after RL, the reward against the KL moved.

Statement: for rewards in ``[0, 1]`` and any two policies, ``|J(pi_SFT) - J(pi_RL)| <= sqrt(E_x KL / 2)``
in either KL direction (``reward_change_bound``), and the sharper band ``reward_change_band``:
``kl(J(pi_SFT) || J(pi_RL)) <= E_x KL(pi_SFT || pi_RL)`` (``"sft||rl"``, an inverse in kl's first
argument) and ``kl(J(pi_RL) || J(pi_SFT)) <= E_x KL(pi_RL || pi_SFT)`` (``"rl||sft"``, K3's inverse).
Here ``pi_RL`` is an RL-trained policy and ``pi_SFT`` the policy after SFT from it for time t.
Tight for every budget: a binary reward and ``p*`` uniform within each reward class, started
from a tilt of ``p*`` (:func:`tight_instance`): the SFT flow keeps ``pi_SFT`` a within-class
rescaling of ``pi_RL``, so KL = kl and the pass rate rides the band's edge (the lower edge when RL
raised the rate, the upper one when it lowered it); Pinsker's bound is attained as KL -> 0.
Every bound is the library's, looked up on :mod:`nondecoupling` at call time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import nondecoupling
from simulations.checks._common import worst
from simulations.checks.k1_any_policy_pays import random_tabular
from simulations.checks.k3_reward_ceiling import tight_instance as k3_tight_instance
from simulations.dynamics import gradient_flow
from simulations.problems import CrossEntropy, RewardLoss, random_log_linear

DIRECTIONS = ("sft||rl", "rl||sft")


@dataclass(frozen=True)
class RewardChangeCurves:
    """Along SFT from ``pi_RL``: the rates, the KL in each direction and V2's bounds; arrays ``(T,)``."""

    times: np.ndarray
    rl_reward: float
    sft_reward: np.ndarray
    kl: dict  # direction -> E_x KL in that direction
    band: dict  # direction -> (lower, upper)
    pinsker: dict  # direction -> sqrt(E_x KL / 2)

    def slacks(self) -> dict:
        """``>= 0`` iff V2 holds: each band's two sides and Pinsker's radius, per direction."""
        out = {}
        for direction in DIRECTIONS:
            lower, upper = self.band[direction]
            out[f"band {direction}"] = np.minimum(self.sft_reward - lower, upper - self.sft_reward)
            out[f"pinsker {direction}"] = self.pinsker[direction] - np.abs(self.sft_reward - self.rl_reward)
        return out


def _expected_kl(sft: CrossEntropy, first, second) -> np.ndarray:
    """``E_x KL(pi_first(.|x) || pi_second(.|x))`` for parameter arrays (broadcast over leading axes)."""
    policy = sft.policy
    log_first, log_second = policy.log_probs(first), policy.log_probs(second)
    per_prompt = np.sum(np.exp(log_first) * (log_first - log_second), axis=-1)
    return np.maximum(policy.average(per_prompt), 0.0)  # rounding can leave a zero KL a hair below 0


def sft_after_rl(sft: CrossEntropy, rl: RewardLoss, theta_rl, times) -> RewardChangeCurves:
    """Run the SFT flow from ``theta_rl`` and evaluate V2 at each time (the library called with arrays)."""
    thetas = gradient_flow(sft, theta_rl, times)
    average = sft.policy.average
    rl_reward = float(np.clip(average(rl.pass_rates(theta_rl)), 0.0, 1.0))
    kl = {"sft||rl": _expected_kl(sft, thetas, theta_rl), "rl||sft": _expected_kl(sft, theta_rl, thetas)}
    return RewardChangeCurves(
        times=np.asarray(times),
        rl_reward=rl_reward,
        sft_reward=np.clip(average(rl.pass_rates(thetas)), 0.0, 1.0),
        kl=kl,
        band={d: tuple(np.asarray(side) for side in nondecoupling.reward_change_band(rl_reward, kl[d], kl_direction=d)) for d in DIRECTIONS},
        pinsker={d: np.asarray(nondecoupling.reward_change_bound(kl[d])) for d in DIRECTIONS},
    )


def tight_instance(*, winners: int = 2, losers: int = 3, expert_rate: float = 0.3, strength: float = 3.0):
    """K3's tight instance: binary reward, ``p*`` uniform within classes, ``pi_RL`` a tilt by ``strength``."""
    return k3_tight_instance(winners=winners, losers=losers, expert_rate=expert_rate, strength=strength)


def random_sft_after_rl(rng: np.random.Generator, *, log_linear: bool, binary: bool = True, rl_time: float = 5.0,
                        sft_time: float = 20.0, points: int = 21) -> RewardChangeCurves:
    """A random tabular or log-linear instance: RL from ``p*`` for ``rl_time``, then SFT for ``sft_time``."""
    if log_linear:
        sft, rl, theta_expert = random_log_linear(rng, prompts=4, responses=5, dim=6, binary=binary)
    else:
        sft, rl = random_tabular(rng, 6, binary=binary)
        theta_expert = np.log(sft.expert_probs[0])
    theta_rl = gradient_flow(rl, theta_expert, [0.0, rl_time])[-1]
    return sft_after_rl(sft, rl, theta_rl, np.linspace(0.0, sft_time, points))


def main() -> None:
    for strength in (3.0, -3.0):
        sft, rl, theta_rl = tight_instance(strength=strength)
        curves = sft_after_rl(sft, rl, theta_rl, np.linspace(0.0, 10.0, 6))
        print(f"V2 tight instance (binary, a = 0.3, tilt {strength:+}): J(pi_RL) = {curves.rl_reward:.6f}")
        for direction in DIRECTIONS:
            lower, upper = curves.band[direction]
            print(f"  {direction}: J_SFT {np.round(curves.sft_reward, 10)}\n     band [{np.round(lower, 10)}, {np.round(upper, 10)}]")
    rng = np.random.default_rng(0)
    print("worst slack over random SFT-after-RL runs:")
    for label, log_linear, binary in [("tabular binary", False, True), ("tabular graded", False, False),
                                      ("log-linear", True, True)]:
        run = random_sft_after_rl(rng, log_linear=log_linear, binary=binary)
        print(f"  {label:15s}", {name: f"{worst(s):+.2e}" for name, s in run.slacks().items()})


if __name__ == "__main__":
    main()
