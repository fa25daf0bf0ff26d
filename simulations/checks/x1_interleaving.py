"""X1 (interleaving), simulated.

Statement: alternating SFT for ``w tau`` and RL for ``(1 - w) tau`` follows the joint flow of
``F_w = w L + (1 - w) R`` up to ``O(tau^2)`` per cycle (Lie-Trotter), so ``O(tau)`` over a
fixed horizon; for quadratics the alternation converges to a cycle within ``O(tau)`` of
``argmin F_w``, and the Pareto front is ``theta(w) = (wA + (1-w)B)^+ (wAa + (1-w)Bb)``.
Sequential SFT-then-RL lands on the front's worst-SFT corner.
Derivation: ``theory/nondecoupling/derivations/x1_interleaving.py``.
"""

from __future__ import annotations

import numpy as np

from simulations.checks._common import random_pair
from simulations.dynamics import alternating, gradient_flow, joint, sft_then_rl
from simulations.problems import CoupledProblem, joint_objective, pareto_point, quadratic_pair


def distance_to_joint(problem: CoupledProblem, theta0, *, weight: float, periods, horizon: float) -> np.ndarray:
    """``max_n ||theta_alt(n tau) - theta_joint(n tau)||`` over cycle ends in ``[0, horizon]``, per ``tau``.

    Returns shape ``(len(periods),) + batch``.
    """
    out = []
    for tau in periods:
        cycles = int(round(horizon / tau))
        run = alternating(problem, theta0, period=tau, weight=weight, cycles=cycles, points=2)
        ends = run.thetas[:: 2 if 0 < weight < 1 else 1][1:]
        flow = gradient_flow(joint_objective(problem, weight), theta0, tau * np.arange(1, cycles + 1))
        out.append(np.max(np.linalg.norm(ends - flow, axis=-1), axis=0))
    return np.array(out)


def cycle_fixed_point(problem: CoupledProblem, *, weight: float, period: float) -> np.ndarray:
    """Quadratics: the start of the alternation's limit cycle (SFT phase first), from the library.

    :meth:`nondecoupling.interleaving.QuadraticPair.alternating_cycle`'s corner after the RL
    phase; the tests run the simulated alternation from it and find it again.
    """
    return quadratic_pair(problem).alternating_cycle(period, weight)[1]


def cycle_offset(problem: CoupledProblem, *, weight: float, periods) -> np.ndarray:
    """Quadratics: ``||cycle start - argmin F_w||`` for each period (O(tau) by Lie-Trotter)."""
    anchor = pareto_point(problem, weight)
    return np.array([np.linalg.norm(cycle_fixed_point(problem, weight=weight, period=tau) - anchor) for tau in periods])


def fitted_slope(periods, distances) -> np.ndarray:
    """Least-squares slope of ``log distance`` against ``log tau`` (1 for linear shrinkage)."""
    logs = np.log(np.asarray(distances).reshape(len(periods), -1))
    slopes = np.polyfit(np.log(periods), logs, 1)[0]
    return slopes.reshape(np.shape(distances)[1:])


def pareto_plane(problem: CoupledProblem, theta0, *, weights, periods, long_time: float) -> dict:
    """The (eps, Delta) plane of a quadratic pair.

    Returns ``front`` (eps, Delta at ``theta(w)`` for each weight), ``sequential``
    (endpoint of SFT then RL, each for ``long_time``), ``joint`` (end of the joint flow for
    each weight) and ``alternating[tau]`` (the cycle's points after ``long_time``, at the
    middle weight).
    """
    front = np.array([[problem.sft_excess(p), problem.rl_gap(p)] for p in (pareto_point(problem, w) for w in weights)])
    sequential = sft_then_rl(problem, theta0, sft_time=long_time, rl_time=long_time, points=2)
    joints = np.array([[run.sft_excess[-1], run.rl_gap[-1]] for run in (joint(problem, theta0, weight=w, duration=long_time, points=2) for w in weights)])
    middle = float(np.asarray(weights)[len(weights) // 2])
    cycles = {}
    for tau in periods:
        run = alternating(problem, theta0, period=tau, weight=middle, cycles=int(np.ceil(long_time / tau)) + 1, points=21)
        last = run.times >= run.times[-1] - tau
        cycles[tau] = np.stack([run.sft_excess[last], run.rl_gap[last]], axis=-1)
    return {"front": front, "sequential": np.array([sequential.sft_excess[-1], sequential.rl_gap[-1]]), "joint": joints, "alternating": cycles, "weight": middle}


def main() -> None:
    rng = np.random.default_rng(0)
    periods = np.array([0.4, 0.2, 0.1, 0.05])
    for family in ("isotropic", "anisotropic", "rank_deficient", "least_squares", "sine"):
        problem = random_pair(rng, family, dim=4, batch=8)
        theta0 = rng.standard_normal((8, 4))
        # Lie-Trotter is asymptotic in tau * beta: periods are set against the stiffest curvature.
        scale = 1.0 / max(np.max(problem.sft.beta), np.max(problem.rl.beta))
        distances = distance_to_joint(problem, theta0, weight=0.4, periods=scale * periods, horizon=2.0)
        print(f"X1 {family:15s} alternating vs joint over [0, 2]: slope in tau (periods 0.4 .. 0.05 / beta) = {np.round(fitted_slope(periods, distances), 3)}")
    problem = random_pair(rng, "anisotropic", dim=3, batch=())
    offsets = cycle_offset(problem, weight=0.5, periods=periods)
    print(f"converged cycle vs argmin F_w: {offsets}, slope {float(fitted_slope(periods, offsets)):.3f}")
    plane = pareto_plane(problem, np.zeros(3), weights=np.linspace(0.0, 1.0, 11), periods=(0.5, 0.1), long_time=200.0)
    print(f"sequential endpoint (eps, Delta) = {plane['sequential']}, front corner w=0: {plane['front'][0]}")


if __name__ == "__main__":
    main()
