"""P3 (optimal RL duration), simulated.

Statement: in P1's setting the net gain ``G(t) = [J(theta_t) - J(theta_0)] - lam [L(theta_t) - L*]``
obeys ``G(t) >= g(t) = Delta_0 [1 - e^{-2 mu_rl t} - c (1 - e^{-mu_rl t})^2]``,
``c = lam beta_sft beta_rl / mu_rl^2``; ``t* = ln(1 + 1/c) / mu_rl`` maximizes ``g`` with
``g(t*) = Delta_0 / (1 + c)``; for ``c > 1``, ``g < 0`` after ``t_neg = ln((c+1)/(c-1)) / mu_rl``.
Tight on isotropic quadratics from ``a``: ``G = g`` and ``t*`` is the true optimum.
Derivation: ``theory/nondecoupling/derivations/p3_optimal_rl_duration.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from nondecoupling import guaranteed_net_gain, optimal_rl_duration, rl_break_even_time
from simulations.checks._common import PL_FAMILIES, point_in, random_pair, relative_slack, worst
from simulations.dynamics import gradient_flow, rl_flow
from simulations.problems import CoupledProblem, Quadratic, isotropic, isotropic_pair


@dataclass(frozen=True)
class NetGainCurves:
    """``G(t)`` (simulated) and ``g(t)`` for one ``lam``; arrays ``(T,)`` or ``(T, batch)``."""

    lam: float
    times: np.ndarray
    gain: np.ndarray
    guaranteed: np.ndarray
    t_star: np.ndarray
    t_neg: np.ndarray

    def slack(self) -> np.ndarray:
        """``(G - g) / Delta_0``-type relative slack (scale: the largest reward gain seen)."""
        scale = np.max(np.abs(self.guaranteed), axis=0) + np.max(np.abs(self.gain), axis=0)
        return relative_slack(self.guaranteed[1:], self.gain[1:], scale=scale)


def net_gain(problem: CoupledProblem, theta0, times, *, lam: float) -> NetGainCurves:
    """Simulate the RL flow from ``theta0`` in ``S_L`` and compare ``G(t)`` with ``g(t)``."""
    times = np.asarray(times, dtype=np.float64)
    run = rl_flow(problem, theta0, times)
    column = times.reshape((-1,) + (1,) * (run.rl_gap.ndim - 1))
    constants = dict(lam=lam, mu_rl=problem.rl.mu, beta_rl=problem.rl.beta, beta_sft=problem.sft.beta)
    return NetGainCurves(
        lam=lam,
        times=times,
        gain=(run.rl_gap[0] - run.rl_gap) - lam * run.sft_excess,
        guaranteed=np.broadcast_to(guaranteed_net_gain(column, rl_gap0=run.rl_gap[0], **constants), run.rl_gap.shape),
        t_star=np.asarray(optimal_rl_duration(**constants)),
        t_neg=np.asarray(rl_break_even_time(**constants)),
    )


def simulated_optimum(problem: CoupledProblem, theta0, *, lam: float, horizon: float) -> tuple[float, float]:
    """``(argmax G, max G)`` over ``[0, horizon]`` for one unbatched quadratic instance.

    A grid locates the best basin, a bounded Brent search refines it (G is evaluated
    exactly by the closed-form flow).
    """

    def gain(t):
        thetas = gradient_flow(problem.rl, theta0, np.atleast_1d(t))
        return problem.rl.value(theta0) - problem.rl.value(thetas) - lam * problem.sft_excess(thetas)

    grid = np.linspace(0.0, horizon, 401)
    best = int(np.argmax(gain(grid)))
    low, high = grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)]
    result = minimize_scalar(lambda t: -float(gain(t)[0]), bounds=(low, high), method="bounded", options={"xatol": 1e-10})
    return float(result.x), -float(result.fun)


def tight_instance(*, mu_sft=0.8, mu_rl=1.5, sep=1.0, dim=2):
    """Isotropic quadratics from ``a``: ``G = g`` exactly."""
    problem = isotropic_pair(mu_sft=mu_sft, mu_rl=mu_rl, sep=sep, dim=dim)
    return problem, problem.sft.center


def argmax_study(lams, conditions, *, mu_rl: float = 1.0, mu_sft: float = 1.0, sep: float = 1.0):
    """Simulated optimal RL duration against ``t*`` over a grid of ``lam`` and condition numbers.

    RL is ``(1/2)(x - b)^T diag(mu_rl, kappa mu_rl) (x - b)`` with ``b - a`` along the
    diagonal (both curvatures matter), SFT is isotropic with ``mu_sft``; ``kappa = 1`` is
    the tight case.

    Returns
    -------
    dict of arrays of shape ``(len(lams), len(conditions))``: ``t_sim``, ``t_star``,
    ``gain_sim`` (max G), ``gain_at_t_star`` (G(t*)), ``guaranteed`` (g(t*) = Delta_0/(1+c)).
    """
    shape = (len(lams), len(conditions))
    out = {key: np.empty(shape) for key in ("t_sim", "t_star", "gain_sim", "gain_at_t_star", "guaranteed")}
    for j, kappa in enumerate(conditions):
        rl = Quadratic(np.diag([mu_rl, kappa * mu_rl]), np.full(2, sep / np.sqrt(2)))
        problem = CoupledProblem(isotropic(mu_sft, np.zeros(2)), rl)
        theta0 = problem.sft.center
        for i, lam in enumerate(lams):
            curves = net_gain(problem, theta0, np.array([0.0, 1.0]), lam=lam)
            t_star = float(curves.t_star)
            out["t_sim"][i, j], out["gain_sim"][i, j] = simulated_optimum(problem, theta0, lam=lam, horizon=20.0 / mu_rl)
            out["t_star"][i, j] = t_star
            out["gain_at_t_star"][i, j] = net_gain(problem, theta0, np.array([0.0, t_star]), lam=lam).gain[-1]
            out["guaranteed"][i, j] = net_gain(problem, theta0, np.array([0.0, t_star]), lam=lam).guaranteed[-1]
    return out


def random_net_gains(family: str, seed: int, *, lam: float, batch: int = 16, dim: int = 4, points: int = 201):
    """P3 curves for a random batch of ``family`` instances, up to twice the largest ``t_neg`` or ``t*``."""
    rng = np.random.default_rng(seed)
    problem = random_pair(rng, family, dim=dim, batch=batch)
    theta0 = point_in(problem.sft.minimizers, rng)
    horizon = 10.0 / np.min(problem.rl.mu)
    return net_gain(problem, theta0, np.linspace(0.0, horizon, points), lam=lam)


def main() -> None:
    problem, theta0 = tight_instance()
    print("P3 tight instance (isotropic, mu_sft=0.8, mu_rl=1.5, sep=1): simulated optimum vs t*")
    print(f"{'lam':>6} {'t*':>12} {'argmax G':>12} {'g(t*)':>12} {'max G':>12} {'t_neg':>10}")
    for lam in (0.1, 0.5, 1.0, 2.0, 5.0):
        curves = net_gain(problem, theta0, np.array([0.0, 1.0]), lam=lam)
        t_sim, g_sim = simulated_optimum(problem, theta0, lam=lam, horizon=20.0)
        g_star = net_gain(problem, theta0, np.array([0.0, float(curves.t_star)]), lam=lam).guaranteed[-1]
        print(f"{lam:6.2f} {float(curves.t_star):12.8f} {t_sim:12.8f} {g_star:12.8f} {g_sim:12.8f} {float(curves.t_neg):10.4f}")
    print("worst relative slack of G >= g over random batches (lam in 0.1, 1, 10):")
    for family in PL_FAMILIES:
        print(f"  {family:15s} {min(worst(random_net_gains(family, 0, lam=lam).slack()) for lam in (0.1, 1.0, 10.0)):+.2e}")


if __name__ == "__main__":
    main()
