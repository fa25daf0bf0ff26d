"""P1 (SFT-then-RL envelope), simulated.

Statement: from ``theta_0`` in ``S_L``, along the RL flow,
``(mu_sft/2) max(0, sep - sqrt(2 Delta_0/mu_rl) e^{-mu_rl t})^2 <= L(theta_t) - L* <= (beta_sft/2) ell(t)^2``
with ``ell(t)`` bounding the path length, and
``Delta_0 (1 - e^{-2 mu_rl t}) <= J(theta_t) - J(theta_0) <= Delta_0 (1 - e^{-2 beta_rl t})``.
Tight (all bounds equal the simulation) on isotropic quadratics.
Derivation: ``theory/nondecoupling/derivations/p1_sft_then_rl.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nondecoupling import path_length_bound, reward_gain_bounds, sft_degradation_bounds
from simulations.checks._common import PL_FAMILIES, point_in, random_pair, relative_slack, worst
from simulations.dynamics import evaluate, flow_and_path_length
from simulations.problems import CoupledProblem, isotropic_pair


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


def _flow_envelope(problem: CoupledProblem, theta0, times, *, flowed: str, coupled_bounds) -> EnvelopeCurves:
    """Simulate the gradient flow of one objective and evaluate its envelope (P1 and P2).

    Parameters
    ----------
    problem : CoupledProblem
    theta0 : array_like
        Start, a minimizer of the objective that is *not* flowed.
    times : array_like, shape (T,)
    flowed : {"rl", "sft"}
        The flowed objective: ``"rl"`` for P1 (coupled loss: SFT excess ``L - L*``),
        ``"sft"`` for P2 (coupled loss: reward loss ``J* - J``).
    coupled_bounds : callable
        ``coupled_bounds(t, <flowed>_gap0=gap0, **problem.constants) -> (lower, upper)``
        on the coupled loss: :func:`nondecoupling.sft_degradation_bounds` (P1) or
        :func:`nondecoupling.reward_loss_bounds` (P2).

    Returns
    -------
    EnvelopeCurves
        ``excess`` the coupled loss, ``progress`` the flowed gap's decrease
        ``gap0 - gap(t)``, each next to its bounds.
    """
    times = np.asarray(times, dtype=np.float64)
    objective = getattr(problem, flowed)
    thetas, lengths = flow_and_path_length(objective, theta0, times)
    run = evaluate(problem, times, thetas)
    gap, coupled = (run.rl_gap, run.sft_excess) if flowed == "rl" else (run.sft_excess, run.rl_gap)
    column = times.reshape((-1,) + (1,) * (gap.ndim - 1))
    gap0 = gap[0]
    lower, upper = coupled_bounds(column, **{f"{flowed}_gap0": gap0}, **problem.constants)
    progress_lower, progress_upper = reward_gain_bounds(column, gap0=gap0, mu=objective.mu, beta=objective.beta)
    path_bound = path_length_bound(column, gap0=gap0, mu=objective.mu, beta=objective.beta)
    shape = coupled.shape
    return EnvelopeCurves(
        times=times,
        excess=coupled,
        lower=np.broadcast_to(lower, shape),
        upper=np.broadcast_to(upper, shape),
        path_length=lengths,
        path_bound=np.broadcast_to(path_bound, shape),
        progress=gap0 - gap,
        progress_lower=np.broadcast_to(progress_lower, shape),
        progress_upper=np.broadcast_to(progress_upper, shape),
    )


def envelope(problem: CoupledProblem, theta0, times) -> EnvelopeCurves:
    """Simulate the RL flow from ``theta0`` (in ``S_L``) and evaluate P1 at ``times``."""
    return _flow_envelope(problem, theta0, times, flowed="rl", coupled_bounds=sft_degradation_bounds)


def tight_instance(*, mu_sft=0.7, mu_rl=1.3, sep=1.5, dim=3):
    """Isotropic quadratics started at ``a``: every P1 bound holds with equality."""
    problem = isotropic_pair(mu_sft=mu_sft, mu_rl=mu_rl, sep=sep, dim=dim)
    return problem, problem.sft.center


def _random_flow_envelopes(family: str, seed: int, *, flowed: str, coupled_bounds, batch: int, dim: int,
                           horizon: float, points: int) -> EnvelopeCurves:
    """:func:`_flow_envelope` on a batch of random instances of ``family`` (P1 and P2).

    The flow starts at a random point of the other objective's minimizer set and runs
    for ``horizon / min(mu)`` of the flowed objective.
    """
    rng = np.random.default_rng(seed)
    problem = random_pair(rng, family, dim=dim, batch=batch)
    start = problem.sft if flowed == "rl" else problem.rl
    theta0 = point_in(start.minimizers, rng)
    times = np.linspace(0.0, horizon / np.min(getattr(problem, flowed).mu), points)
    return _flow_envelope(problem, theta0, times, flowed=flowed, coupled_bounds=coupled_bounds)


def random_envelopes(family: str, seed: int, *, batch: int = 16, dim: int = 4, horizon: float = 8.0, points: int = 801):
    """P1 curves for a batch of random instances of ``family`` (starts random in ``S_L``)."""
    return _random_flow_envelopes(family, seed, flowed="rl", coupled_bounds=sft_degradation_bounds,
                                  batch=batch, dim=dim, horizon=horizon, points=points)


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
