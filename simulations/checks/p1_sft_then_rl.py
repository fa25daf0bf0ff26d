"""P1 (SFT-then-RL envelope), simulated.

Statement: from ``theta_0`` in ``S_L``, along the RL flow,
``(mu_sft/2) max(0, sep - sqrt(2 Delta_0/mu_rl) e^{-mu_rl t})^2 <= L(theta_t) - L* <= (beta_sft/2) ell(t)^2``
with ``ell(t)`` bounding the path length, and
``Delta_0 (1 - e^{-2 mu_rl t}) <= J(theta_t) - J(theta_0) <= Delta_0 (1 - e^{-2 beta_rl t})``.
Tight (all bounds equal the simulation) on isotropic quadratics.
Derivation: ``theory/derivations/p1_sft_then_rl.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulations.checks._common import PL_FAMILIES, point_in, random_pair, relative_slack, worst
from simulations.dynamics import evaluate, flow_and_path_length
from simulations.problems import CoupledProblem, isotropic_pair
from theory import path_length_bound, sft_degradation_bounds


@dataclass(frozen=True)
class EnvelopeCurves:
    """Simulated quantities along one flow next to their bounds; arrays ``(T,)`` or ``(T, batch)``.

    ``excess`` is the coupled loss (SFT excess for P1, reward loss ``J* - J`` for P2),
    ``progress`` the flowed objective's own gain (reward gain for P1, SFT decrease for P2).
    """

    times: np.ndarray
    excess: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    path_length: np.ndarray
    path_bound: np.ndarray
    progress: np.ndarray
    progress_lower: np.ndarray
    progress_upper: np.ndarray

    def slacks(self) -> dict:
        """Each bound's slack relative to the instance's scale (``>= 0`` iff it holds, 0 if tight).

        Time 0 is left out: there every quantity and bound is 0 by construction.
        """
        tiny = np.finfo(float).tiny
        c = {name: value[1:] for name, value in vars(self).items() if name != "times"}
        return {
            "lower": relative_slack(c["lower"], c["excess"], scale=np.max(c["upper"], axis=0) + tiny),
            "upper": relative_slack(c["excess"], c["upper"], scale=np.max(c["upper"], axis=0) + tiny),
            "path_length": relative_slack(c["path_length"], c["path_bound"], scale=np.max(c["path_bound"], axis=0) + tiny),
            "progress": relative_slack(
                c["progress_lower"], c["progress"], c["progress_upper"], scale=np.max(c["progress_upper"], axis=0) + tiny
            ),
        }


def progress_bounds(times, *, gap0, mu, beta):
    """``gap0 (1 - e^{-2 mu t}) <= gain <= gap0 (1 - e^{-2 beta t})`` (PL decay and smoothness)."""
    return gap0 * -np.expm1(-2 * mu * times), gap0 * -np.expm1(-2 * beta * times)


def envelope(problem: CoupledProblem, theta0, times) -> EnvelopeCurves:
    """Simulate the RL flow from ``theta0`` (in ``S_L``) and evaluate P1 at ``times``.

    """
    times = np.asarray(times, dtype=np.float64)
    thetas, lengths = flow_and_path_length(problem.rl, theta0, times)
    run = evaluate(problem, times, thetas)
    column = times.reshape((-1,) + (1,) * (run.rl_gap.ndim - 1))
    rl_gap0 = run.rl_gap[0]
    lower, upper = sft_degradation_bounds(column, rl_gap0=rl_gap0, **problem.constants)
    progress_lower, progress_upper = progress_bounds(column, gap0=rl_gap0, mu=problem.rl.mu, beta=problem.rl.beta)
    return EnvelopeCurves(
        times=times,
        excess=run.sft_excess,
        lower=np.broadcast_to(lower, run.sft_excess.shape),
        upper=np.broadcast_to(upper, run.sft_excess.shape),
        path_length=lengths,
        path_bound=np.broadcast_to(path_length_bound(column, gap0=rl_gap0, mu=problem.rl.mu, beta=problem.rl.beta), run.sft_excess.shape),
        progress=rl_gap0 - run.rl_gap,
        progress_lower=np.broadcast_to(progress_lower, run.sft_excess.shape),
        progress_upper=np.broadcast_to(progress_upper, run.sft_excess.shape),
    )


def tight_instance(*, mu_sft=0.7, mu_rl=1.3, sep=1.5, dim=3):
    """Isotropic quadratics started at ``a``: every P1 bound holds with equality."""
    problem = isotropic_pair(mu_sft=mu_sft, mu_rl=mu_rl, sep=sep, dim=dim)
    return problem, problem.sft.center


def random_envelopes(family: str, seed: int, *, batch: int = 16, dim: int = 4, horizon: float = 8.0, points: int = 801):
    """P1 curves for a batch of random instances of ``family`` (starts random in ``S_L``)."""
    rng = np.random.default_rng(seed)
    problem = random_pair(rng, family, dim=dim, batch=batch)
    theta0 = point_in(problem.sft.minimizers, rng)
    horizon = horizon / np.min(problem.rl.mu)
    return envelope(problem, theta0, np.linspace(0.0, horizon, points))


def main() -> None:
    problem, theta0 = tight_instance()
    curves = envelope(problem, theta0, np.linspace(0.0, 4.0, 401))
    print("P1 tight instance (isotropic, mu_sft=0.7, mu_rl=1.3, sep=1.5):")
    print(f"{'t':>6} {'eps(t)':>12} {'lower':>12} {'upper':>12} {'gain':>12} {'gain lower':>12}")
    for i in range(0, 401, 50):
        print(
            f"{curves.times[i]:6.2f} {curves.excess[i]:12.8f} {curves.lower[i]:12.8f} {curves.upper[i]:12.8f} "
            f"{curves.progress[i]:12.8f} {curves.progress_lower[i]:12.8f}"
        )
    print("worst relative slack over random batches (negative = violation):")
    for family in PL_FAMILIES:
        slacks = random_envelopes(family, 0).slacks()
        print(f"  {family:15s}", {name: f"{worst(s):+.2e}" for name, s in slacks.items()})


if __name__ == "__main__":
    main()
