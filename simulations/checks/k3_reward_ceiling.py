"""K3 (RL-then-SFT reward ceiling), simulated.

Statement: ``kl(a || b) <= CE(p*, pi) - H(p*) = eps``, so during SFT after RL the pass
rate stays in ``[kl_inv_lower(a, eps), kl_inv_upper(a, eps)]``, and ``|b - a| <= sqrt(eps/2)``
(Pinsker); as SFT drives ``eps -> 0``, ``b -> a``. Tight (``b = kl_inv_upper``) for a
binary reward with ``p*`` uniform within each reward class, started from a tilted policy:
the SFT flow keeps ``pi`` a within-class rescaling of ``p*``.
Derivation: ``theory/nondecoupling/derivations/k3_reward_ceiling.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nondecoupling import kl_inverse_lower, kl_inverse_upper, pinsker_radius
from simulations.checks._common import worst
from simulations.checks.k1_any_policy_pays import random_tabular
from simulations.dynamics import gradient_flow
from simulations.problems import CrossEntropy, RewardLoss, random_log_linear, tabular_policy


@dataclass(frozen=True)
class CeilingCurves:
    """Pass rate during SFT next to K3's band; arrays ``(T,)`` (or ``(T, P)`` per prompt)."""

    times: np.ndarray
    expert_rate: np.ndarray
    pass_rate: np.ndarray
    sft_excess: np.ndarray
    ceiling: np.ndarray
    floor: np.ndarray
    pinsker: np.ndarray

    def slacks(self) -> dict:
        """``ceiling - b``, ``b - floor`` and ``sqrt(eps/2) - |b - a|`` (all ``>= 0`` iff K3 holds)."""
        return {
            "ceiling": self.ceiling - self.pass_rate,
            "floor": self.pass_rate - self.floor,
            "pinsker": self.pinsker - np.abs(self.pass_rate - self.expert_rate),
        }


def _one_call_per_entry(function, *arrays) -> np.ndarray:
    """``function`` called on plain Python floats, entry by entry: the library's scalar fast path."""
    arrays = np.broadcast_arrays(*arrays)
    return np.array([function(*map(float, entry)) for entry in zip(*(a.ravel() for a in arrays))]).reshape(arrays[0].shape)


def _band(expert_rate, pass_rate, excess, times, *, scalar: bool = False) -> CeilingCurves:
    budget = np.maximum(excess, 0.0)  # rounding can leave a converged excess a hair below 0
    expert_rate = np.broadcast_to(expert_rate, np.shape(pass_rate))
    if scalar:
        evaluate = lambda function, *arrays: _one_call_per_entry(function, *arrays)  # noqa: E731
    else:
        evaluate = lambda function, *arrays: np.asarray(function(*arrays))  # noqa: E731
    return CeilingCurves(
        times=np.asarray(times),
        expert_rate=expert_rate,
        pass_rate=pass_rate,
        sft_excess=excess,
        ceiling=evaluate(kl_inverse_upper, expert_rate, budget),
        floor=evaluate(kl_inverse_lower, expert_rate, budget),
        pinsker=evaluate(pinsker_radius, budget),
    )


def sft_after(sft: CrossEntropy, rl: RewardLoss, theta0, times, *, per_prompt: bool = False, scalar: bool = False) -> CeilingCurves:
    """SFT flow from ``theta0`` (an RL-trained policy); averaged over prompts unless ``per_prompt``.

    ``scalar`` evaluates the band with one call on plain Python floats per time (and prompt), the
    library's scalar fast path; otherwise with one call on arrays (the array path).
    """
    thetas = gradient_flow(sft, theta0, times)
    expert_rate = np.clip(np.sum(sft.expert_probs * rl.rewards, axis=-1), 0.0, 1.0)
    pass_rate = np.clip(rl.pass_rates(thetas), 0.0, 1.0)
    if per_prompt:
        return _band(expert_rate, pass_rate, sft.per_prompt(thetas) - sft.expert_entropy, times, scalar=scalar)
    average = sft.policy.average
    return _band(np.clip(average(expert_rate), 0, 1), np.clip(average(pass_rate), 0, 1), sft.excess(thetas), times,
                 scalar=scalar)


def tight_instance(*, winners: int = 2, losers: int = 3, expert_rate: float = 0.3, strength: float = 3.0):
    """Binary reward, ``p*`` uniform within each class, start ``log p* + strength * r`` (a tilt)."""
    rewards = np.r_[np.ones(winners), np.zeros(losers)]
    expert = np.where(rewards == 1, expert_rate / winners, (1 - expert_rate) / losers)
    policy = tabular_policy(winners + losers)
    return CrossEntropy(policy, expert), RewardLoss(policy, rewards), np.log(expert) + strength * rewards


def rl_then_sft(rng: np.random.Generator, *, responses: int = 6, binary: bool, rl_time: float = 5.0, sft_time: float = 30.0, points: int = 61, scalar: bool = False):
    """Random tabular instance: RL flow from ``p*`` for ``rl_time``, then SFT; K3 along the SFT phase."""
    sft, rl = random_tabular(rng, responses, binary=binary)
    theta_rl = gradient_flow(rl, np.log(sft.expert_probs[0]), [0.0, rl_time])[-1]
    return sft_after(sft, rl, theta_rl, np.linspace(0.0, sft_time, points), scalar=scalar)


def log_linear_rl_then_sft(rng: np.random.Generator, *, per_prompt: bool, rl_time: float = 5.0, sft_time: float = 30.0):
    """The log-linear stand-in: RL from the expert parameters, then SFT; K3 averaged or per prompt."""
    sft, rl, theta_expert = random_log_linear(rng, prompts=4, responses=5, dim=6)
    theta_rl = gradient_flow(rl, theta_expert, [0.0, rl_time])[-1]
    return sft_after(sft, rl, theta_rl, np.linspace(0.0, sft_time, 61), per_prompt=per_prompt)


def main() -> None:
    sft, rl, theta0 = tight_instance()
    curves = sft_after(sft, rl, theta0, np.linspace(0.0, 20.0, 11))
    print("K3 tight instance (binary, p* uniform within classes, a = 0.3): pass rate during SFT")
    print(f"{'t':>6} {'eps':>14} {'b':>14} {'kl_inv_upper':>14} {'a + sqrt(eps/2)':>16}")
    for i, t in enumerate(curves.times):
        print(f"{t:6.1f} {curves.sft_excess[i]:14.10f} {curves.pass_rate[i]:14.10f} {curves.ceiling[i]:14.10f} {curves.expert_rate[i] + curves.pinsker[i]:16.10f}")
    rng = np.random.default_rng(0)
    print("worst slack over random RL-then-SFT runs:")
    for label, run in [
        ("tabular binary", rl_then_sft(rng, binary=True)),
        ("tabular graded", rl_then_sft(rng, binary=False)),
        ("log-linear avg", log_linear_rl_then_sft(rng, per_prompt=False)),
        ("log-linear each", log_linear_rl_then_sft(rng, per_prompt=True)),
    ]:
        print(f"  {label:16s}", {name: f"{worst(s):+.2e}" for name, s in run.slacks().items()})


if __name__ == "__main__":
    main()
