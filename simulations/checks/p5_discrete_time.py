"""P5 (discrete time), simulated with gradient descent.

Statement: GD on R with step ``eta < 2/beta_rl`` and ``q = 1 - mu_rl eta (2 - eta beta_rl)``
(or the sharper ``q_sharp``): ``Delta_k <= q^k Delta_0``; the path length obeys
``ell_k <= min(eta sqrt(2 beta_rl Delta_0) (1 - q^{k/2}) / (1 - sqrt q), sqrt(2 Delta_0/mu_rl) / (1 - eta beta_rl/2))``;
the reward gained lies in ``[Delta_0 (1 - q^k), Delta_0 (1 - p^k)]``, ``p = max(0, 1 - 2 beta_rl eta - beta_rl^2 eta^2)``;
P1 holds with ``e^{-mu_rl t} -> q^{k/2}``, ``ell(t) -> ell_k``; P3 with
``c_eta = lam beta_sft beta_rl eta^2 / (1 - sqrt q)^2``: net gain ``>= Delta_0 [1 - q^k - c_eta (1 - q^{k/2})^2]``,
maximized at ``K* = 2 ln(c_eta/(1+c_eta)) / ln q``.
Tight on isotropic quadratics (``beta_rl = mu_rl``, ``eta mu_rl < 1``), from ``a``; the reward gain's
upper side (``p = 0`` for ``eta beta_rl >= 1``) on :func:`one_step_instance`, where one step reaches ``b``.
Derivation: ``theory/nondecoupling/derivations/p5_discrete_time.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nondecoupling import (
    discrete_net_gain,
    discrete_path_length_bound,
    discrete_reward_gain_bounds,
    discrete_sft_degradation_bounds,
    gd_contraction,
    optimal_rl_steps,
)
from simulations.checks._common import PL_FAMILIES, point_in, random_pair, relative_slack, worst
from simulations.dynamics import evaluate, gradient_descent, rl_flow
from simulations.problems import CoupledProblem, Quadratic, isotropic, isotropic_pair


@dataclass(frozen=True)
class DescentCurves:
    """GD on R from ``theta_0`` in ``S_L``; arrays ``(K + 1,)`` or ``(K + 1, batch)``; ``steps`` is ``k``."""

    eta: np.ndarray
    q: np.ndarray
    steps: np.ndarray
    rl_gap: np.ndarray
    rl_gap_bound: np.ndarray
    rl_gap_floor: np.ndarray
    path_length: np.ndarray
    path_bound: np.ndarray
    sft_excess: np.ndarray
    sft_lower: np.ndarray
    sft_upper: np.ndarray
    net_gain: np.ndarray
    net_gain_bound: np.ndarray
    best_steps: np.ndarray

    def slacks(self) -> dict:
        """Relative slacks (``>= 0`` iff the bound holds) of each discrete bound, ``k >= 1``."""
        tiny = np.finfo(float).tiny
        gap0 = self.rl_gap[0] + tiny
        sft_scale = np.max(self.sft_upper, axis=0) + tiny
        return {
            "rl_gap": relative_slack(self.rl_gap[1:], self.rl_gap_bound[1:], scale=gap0),
            "rl_gap_floor": relative_slack(self.rl_gap_floor[1:], self.rl_gap[1:], scale=gap0),
            "path_length": relative_slack(self.path_length[1:], self.path_bound[1:], scale=np.max(self.path_bound, axis=0) + tiny),
            "sft_lower": relative_slack(self.sft_lower[1:], self.sft_excess[1:], scale=sft_scale),
            "sft_upper": relative_slack(self.sft_excess[1:], self.sft_upper[1:], scale=sft_scale),
            "net_gain": relative_slack(self.net_gain_bound[1:], self.net_gain[1:], scale=gap0 + np.max(np.abs(self.net_gain), axis=0)),
        }


def descent(problem: CoupledProblem, theta0, *, eta, steps: int, lam: float = 1.0, sharp: bool = False) -> DescentCurves:
    """Run GD on R for ``steps`` steps and evaluate every P5 bound (``sharp`` picks ``q_sharp``)."""
    mu_rl, beta_rl = problem.rl.mu, problem.rl.beta
    q = np.asarray(gd_contraction(mu=mu_rl, beta=beta_rl, eta=eta, sharp=sharp))
    thetas = gradient_descent(problem.rl, theta0, eta, steps)
    eta = np.asarray(eta, dtype=np.float64)
    run = evaluate(problem, np.arange(steps + 1).reshape((-1,) + (1,) * eta.ndim) * eta, thetas)
    k = np.arange(steps + 1).reshape((-1,) + (1,) * (run.rl_gap.ndim - 1))
    gap0 = run.rl_gap[0]
    rl = dict(mu_rl=mu_rl, beta_rl=beta_rl, eta=eta, sharp=sharp)
    gain_lower, gain_upper = discrete_reward_gain_bounds(k, rl_gap0=gap0, **rl)
    path_bound = discrete_path_length_bound(k, gap0=gap0, mu=mu_rl, beta=beta_rl, eta=eta, sharp=sharp)
    sft_lower, sft_upper = discrete_sft_degradation_bounds(k, rl_gap0=gap0, sep=problem.sep, mu_sft=problem.sft.mu,
                                                           beta_sft=problem.sft.beta, **rl)
    steps_taken = np.linalg.norm(np.diff(thetas, axis=0), axis=-1)
    shape = run.rl_gap.shape
    return DescentCurves(
        eta=eta,
        q=q,
        steps=np.arange(steps + 1),
        rl_gap=run.rl_gap,
        rl_gap_bound=np.broadcast_to(gap0 - gain_lower, shape),
        rl_gap_floor=np.broadcast_to(gap0 - gain_upper, shape),
        path_length=np.concatenate([np.zeros((1,) + shape[1:]), np.cumsum(steps_taken, axis=0)]),
        path_bound=np.broadcast_to(path_bound, shape),
        sft_excess=run.sft_excess,
        sft_lower=np.broadcast_to(sft_lower, shape),
        sft_upper=np.broadcast_to(sft_upper, shape),
        net_gain=(gap0 - run.rl_gap) - lam * run.sft_excess,
        net_gain_bound=np.broadcast_to(discrete_net_gain(k, rl_gap0=gap0, lam=lam, beta_sft=problem.sft.beta, **rl), shape),
        best_steps=np.asarray(optimal_rl_steps(lam=lam, mu_rl=mu_rl, beta_rl=beta_rl, beta_sft=problem.sft.beta, eta=eta, sharp=sharp)),
    )


def tight_instance(*, mu_sft=0.9, mu_rl=1.2, sep=1.0, dim=2):
    """Isotropic pair from ``a``: ``Delta_k = q^k Delta_0``, ``ell_k`` and the SFT envelope equal their bounds."""
    problem = isotropic_pair(mu_sft=mu_sft, mu_rl=mu_rl, sep=sep, dim=dim)
    return problem, problem.sft.center


def one_step_instance(*, mu_rl, beta_rl, eta, mu_sft=0.9, sep=1.0):
    """``(problem, theta0)`` where one GD step lands on R's minimizer: the reward gain's upper side is attained.

    R has eigenvalues ``(mu_rl, 1/eta, beta_rl)`` (needs ``mu_rl <= 1/eta <= beta_rl``, i.e.
    ``eta beta_rl >= 1``) and ``b - a`` lies on the ``1/eta`` eigenvector; from ``theta0 = a`` the first
    step is ``eta (1/eta)(a - b)``, so ``Delta_k = 0`` and the gain is ``Delta_0 = Delta_0 (1 - p^k)``
    for every ``k >= 1`` (``p = 0`` there). L is isotropic around ``a``. The problem's constants are
    its eigenvalues' extremes (so within rounding of ``mu_rl``, ``beta_rl``).
    """
    if not (mu_rl * eta <= 1.0 + 1e-12 and beta_rl * eta >= 1.0 - 1e-12):  # an ulp off 1 is the same instance
        raise ValueError(f"one_step_instance needs mu_rl eta <= 1 <= beta_rl eta; got {mu_rl * eta}, {beta_rl * eta}")
    rl = Quadratic(np.diag([1.0 / eta, mu_rl, beta_rl]), np.array([sep, 0.0, 0.0]))
    return CoupledProblem(isotropic(mu_sft, np.zeros(3)), rl), np.zeros(3)


def scalar_gains(problem: CoupledProblem, theta0, *, eta: float, steps: int, sharp: bool = False):
    """``(gain, lower, upper)``, ``(steps + 1,)`` each: GD's reward gain and the bounds, one Python-float call per ``k``.

    Plain floats take the library's scalar fast path (:func:`descent` passes arrays, which take the
    validated array path); ``problem`` is one unbatched instance.
    """
    thetas = gradient_descent(problem.rl, theta0, eta, steps)
    gaps = problem.rl_gap(thetas)
    constants = dict(rl_gap0=float(gaps[0]), mu_rl=float(problem.rl.mu), beta_rl=float(problem.rl.beta), eta=float(eta), sharp=sharp)
    bounds = np.array([discrete_reward_gain_bounds(k, **constants) for k in range(steps + 1)])
    return gaps[0] - gaps, bounds[:, 0], bounds[:, 1]


def discrete_vs_continuous(problem: CoupledProblem, theta0, *, etas, horizon: float) -> dict:
    """GD with several ``eta`` against the RL flow on ``[0, horizon]`` (eta k = t).

    Returns ``{"flow": Trajectory, eta: DescentCurves, ...}``; as ``eta -> 0`` the GD curves
    approach the flow.
    """
    out = {"flow": rl_flow(problem, theta0, np.linspace(0.0, horizon, 401))}
    for eta in etas:
        out[eta] = descent(problem, theta0, eta=eta, steps=int(np.ceil(horizon / eta)))
    return out


def random_descents(family: str, seed: int, *, eta_fraction: float, sharp: bool, batch: int = 16, dim: int = 4, steps: int = 200):
    """P5 curves on a random batch; ``eta = eta_fraction * 2 / beta_rl`` per instance."""
    rng = np.random.default_rng(seed)
    problem = random_pair(rng, family, dim=dim, batch=batch)
    theta0 = point_in(problem.sft.minimizers, rng)
    return descent(problem, theta0, eta=eta_fraction * 2.0 / problem.rl.beta, steps=steps, sharp=sharp)


def main() -> None:
    problem, theta0 = tight_instance()
    for eta in (0.1, 0.5):
        curves = descent(problem, theta0, eta=eta, steps=30, lam=2.0)
        best = int(np.argmax(curves.net_gain))
        print(f"P5 tight instance, eta={eta}: q={float(curves.q):.6f}")
        print(f"  k=10: Delta={curves.rl_gap[10]:.10f} bound={curves.rl_gap_bound[10]:.10f}; "
              f"ell={curves.path_length[10]:.10f} bound={curves.path_bound[10]:.10f}; "
              f"eps={curves.sft_excess[10]:.10f} in [{curves.sft_lower[10]:.10f}, {curves.sft_upper[10]:.10f}]")
        print(f"  best k simulated {best}, K* = {float(curves.best_steps):.4f}")
    print("worst relative slack over random batches (q then q_sharp; eta = 0.25, 0.5, 0.9 of 2/beta):")
    for family in PL_FAMILIES:
        for sharp in (False, True):
            slacks = [random_descents(family, 0, eta_fraction=f, sharp=sharp).slacks() for f in (0.25, 0.5, 0.9)]
            print(f"  {family:15s} sharp={sharp!s:5}", {name: f"{min(worst(s[name]) for s in slacks):+.2e}" for name in slacks[0]})


if __name__ == "__main__":
    main()
