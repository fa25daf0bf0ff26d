"""P4 (non-decoupling threshold), simulated.

Statement: ``tau = L* + (mu_sft/2) sep^2``. (i) Along the RL flow ``liminf L(theta_t) >= tau``.
(ii) If ``L(theta_0) < tau`` then ``L(theta_t) > L(theta_0)`` for all ``t > T_x``,
``T_x = ln( sqrt(2 Delta_0/mu_rl) / (sep - sqrt(2 eps_0/mu_sft)) ) / mu_rl`` (0 if negative).
(iii) At the start RL lowers the SFT loss iff ``<grad L, grad R>(theta_0) > 0``.
Tight on isotropic quadratics: ``L(theta_inf) = tau``; with ``theta_0`` on the far side of
``a`` on the line through ``a`` and ``b``, also the crossing happens exactly at ``T_x``.
Derivation: ``theory/nondecoupling/derivations/p4_nondecoupling_threshold.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nondecoupling import crossing_time, nondecoupling_threshold
from simulations.checks._common import PL_FAMILIES, point_in, random_pair, worst
from simulations.dynamics import rl_flow
from simulations.problems import CoupledProblem, isotropic_pair


@dataclass(frozen=True)
class ThresholdRun:
    """One batch of long RL runs; arrays ``(batch,)`` unless noted.

    ``sft_path`` is ``L(theta_t)`` at ``times`` (shape ``(T, batch)``).
    """

    times: np.ndarray
    sft_path: np.ndarray
    start_loss: np.ndarray
    final_loss: np.ndarray
    threshold: np.ndarray
    crossing_bound: np.ndarray
    inner_product: np.ndarray

    def final_slack(self) -> np.ndarray:
        """(i): ``(L(theta_T) - tau) / max(|tau|, 1)``, ``>= 0`` up to the residual RL gap."""
        return (self.final_loss - self.threshold) / np.maximum(np.abs(self.threshold), 1.0)

    def crossing_slack(self) -> np.ndarray:
        """(ii): ``min over sampled t > T_x of (L(theta_t) - L(theta_0))``, relative (``inf`` where vacuous)."""
        after = self.times[:, None] > self.crossing_bound
        rise = np.where(after, self.sft_path - self.start_loss, np.inf)
        return np.min(rise, axis=0) / np.maximum(np.abs(self.start_loss), 1.0)

    def simulated_crossing(self) -> np.ndarray:
        """Sampled time after which the SFT loss stays above its start (0 if it never dips)."""
        below = self.sft_path <= self.start_loss
        below[0] = True
        last = self.times.size - 1 - np.argmax(below[::-1], axis=0)
        return self.times[np.minimum(last + 1, self.times.size - 1)] * (last > 0)


def long_rl(problem: CoupledProblem, theta0, *, horizon: float, points: int = 2001) -> ThresholdRun:
    """RL flow from arbitrary ``theta0`` for ``horizon`` (long enough that ``Delta`` has decayed)."""
    times = np.linspace(0.0, horizon, points)
    run = rl_flow(problem, theta0, times)
    constants = problem.constants
    sft_path = run.sft_excess + problem.sft_min
    return ThresholdRun(
        times=times,
        sft_path=sft_path,
        start_loss=sft_path[0],
        final_loss=sft_path[-1],
        threshold=np.asarray(nondecoupling_threshold(sft_min=problem.sft_min, sep=constants["sep"], mu_sft=constants["mu_sft"])),
        crossing_bound=np.asarray(
            crossing_time(
                sft_gap0=run.sft_excess[0],
                rl_gap0=run.rl_gap[0],
                sep=constants["sep"],
                mu_sft=constants["mu_sft"],
                mu_rl=constants["mu_rl"],
            )
        ),
        inner_product=problem.inner_product(np.asarray(theta0)),
    )


def tight_instance(*, mu_sft=1.0, mu_rl=0.5, sep=2.0, behind=0.8, sft_min=0.3):
    """Isotropic pair on a line, ``theta_0 = a - behind * e_1`` (behind ``a`` as seen from ``b``).

    RL moves ``theta`` towards ``b`` through ``a``; the SFT loss first falls, then
    returns to ``L(theta_0)`` exactly at ``T_x`` and ends at ``tau``.
    """
    problem = isotropic_pair(mu_sft=mu_sft, mu_rl=mu_rl, sep=sep, dim=1, sft_min=sft_min)
    return problem, np.array([-behind])


def random_below_threshold(family: str, seed: int, *, batch: int = 16, dim: int = 4, horizon: float = 40.0):
    """Random instances started inside ``L < tau``: within ``sep sqrt(mu_sft/beta_sft)`` of ``S_L``."""
    rng = np.random.default_rng(seed)
    problem = random_pair(rng, family, dim=dim, batch=batch)
    direction = rng.standard_normal((batch, dim))
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    radius = rng.uniform(0.0, 0.99, size=batch) * problem.sep * np.sqrt(problem.sft.mu / problem.sft.beta)
    theta0 = point_in(problem.sft.minimizers, rng) + radius[:, None] * direction
    return long_rl(problem, theta0, horizon=horizon / np.min(problem.rl.mu))


def random_anywhere(family: str, seed: int, *, batch: int = 16, dim: int = 4, horizon: float = 40.0):
    """Random instances from Gaussian starts (the liminf (i) holds from anywhere)."""
    rng = np.random.default_rng(seed)
    problem = random_pair(rng, family, dim=dim, batch=batch)
    theta0 = 2.0 * rng.standard_normal((batch, dim))
    return long_rl(problem, theta0, horizon=horizon / np.min(problem.rl.mu))


def main() -> None:
    problem, theta0 = tight_instance()
    run = long_rl(problem, theta0, horizon=60.0, points=60001)
    print("P4 tight instance (1-d isotropic, mu_sft=1, mu_rl=0.5, sep=2, theta0 = a - 0.8):")
    print(f"  L(theta_0) = {float(run.start_loss):.10f}, L(theta_inf) = {float(run.final_loss):.10f}, tau = {float(run.threshold):.10f}")
    print(f"  crossing: simulated {float(run.simulated_crossing()):.6f}, T_x = {float(run.crossing_bound):.6f}")
    print("worst relative slack over random batches: (i) final - tau, (ii) rise after T_x")
    for family in PL_FAMILIES:
        final = worst(random_anywhere(family, 0).final_slack())
        crossing = worst(random_below_threshold(family, 0).crossing_slack())
        print(f"  {family:15s} (i) {final:+.2e}   (ii) {crossing:+.2e}")


if __name__ == "__main__":
    main()
