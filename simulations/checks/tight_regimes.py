"""Tight instances beyond the isotropic case: each branch of a min/max bound in its own regime.

On isotropic quadratics (mu = beta) both forms of P1's path-length bound coincide and
q_ADZ = q, so a formula with min and max swapped would still pass there. Here:

- :func:`eigen_start_pair`: anisotropic L and R (random rotation), started at ``a`` with
  ``b - a`` on one eigenvector of R. The flow is a straight line, so the path length and the
  SFT excess are known in the limits: started on R's stiffest eigenvector (``"fast"``) the
  second form ``sqrt(2 beta Delta_0)(1 - e^{-mu t})/mu`` is attained as ``t -> 0``; on its
  flattest (``"slow"``) the first form ``sqrt(2 Delta_0/mu)(1 - e^{-beta t})`` as ``t -> inf``.
  L has curvature ``beta_sft`` along the line, so P1's upper envelope is attained alike.
- :func:`mirrored_eigen_start_pair`: the same for P2 (the SFT flow from ``b``, measured by R), so
  each branch of ``ell_sft`` and of P2's upper envelope is attained in its own regime too.
- :func:`contraction_bracket`: one step of gradient descent on ``(mu x^2 + beta y^2)/2`` from
  each eigenvector (the best explicit worst case known) beside ``q`` and ``q_sharp``.
- :func:`anisotropic_threshold_pair`: P4's tau attained with anisotropic L and R.

Every bound is the library's (:mod:`nondecoupling`), looked up at call time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import nondecoupling
from simulations.checks import p2_rl_then_sft
from simulations.checks.p1_sft_then_rl import EnvelopeCurves, envelope
from simulations.dynamics import gradient_descent, rl_flow
from simulations.problems import CoupledProblem, Quadratic


def _rotation(rng: np.random.Generator, dim: int) -> np.ndarray:
    orthogonal, upper = np.linalg.qr(rng.standard_normal((dim, dim)))
    return orthogonal * np.sign(np.diag(upper))


def _quadratic(basis, eigenvalues, center) -> Quadratic:
    return Quadratic(basis @ np.diag(eigenvalues) @ basis.T, center)


def eigen_start_pair(rng: np.random.Generator, *, mu_sft, beta_sft, mu_rl, beta_rl, sep, start: str, dim: int = 3):
    """``(problem, theta0)``: anisotropic pair, ``theta0 = a`` and ``b - a`` on an eigenvector of R.

    ``start="fast"`` puts ``b - a`` on R's ``beta_rl`` eigenvector, ``"slow"`` on its ``mu_rl``
    one; it is L's ``beta_sft`` eigenvector in both cases. The other eigenvalues lie strictly
    between, so the constants are exactly (mu, beta) of each.
    """
    if start not in ("fast", "slow"):
        raise ValueError(f"start must be 'fast' or 'slow'; got {start!r}")
    basis = _rotation(rng, dim)
    middle = lambda low, high: rng.uniform(low, high, dim - 2)  # noqa: E731
    rl_along = beta_rl if start == "fast" else mu_rl
    rl_other = mu_rl if start == "fast" else beta_rl
    sft_center = rng.standard_normal(dim)
    rl_center = sft_center + sep * basis[:, 0]
    sft = _quadratic(basis, np.r_[beta_sft, mu_sft, middle(mu_sft, beta_sft)], sft_center)
    rl = _quadratic(basis, np.r_[rl_along, rl_other, middle(mu_rl, beta_rl)], rl_center)
    return CoupledProblem(sft, rl), sft_center


def mirrored_eigen_start_pair(rng: np.random.Generator, *, mu_sft, beta_sft, mu_rl, beta_rl, sep, start: str, dim: int = 3):
    """``(problem, theta0)`` for P2: :func:`eigen_start_pair` with the roles of L and R swapped.

    ``theta0 = b``; ``a - b`` lies on L's ``beta_sft`` (``"fast"``) or ``mu_sft`` (``"slow"``)
    eigenvector and on R's ``beta_rl`` one, so the SFT flow is a straight line along it.
    """
    swapped, theta0 = eigen_start_pair(rng, mu_sft=mu_rl, beta_sft=beta_rl, mu_rl=mu_sft, beta_rl=beta_sft, sep=sep,
                                       start=start, dim=dim)
    return CoupledProblem(swapped.rl, swapped.sft), theta0


@dataclass(frozen=True)
class BranchRatios:
    """Simulated over bound at ``times``: path length over ell(t), SFT excess over P1's upper envelope."""

    times: np.ndarray
    path: np.ndarray
    upper: np.ndarray


def branch_ratios(problem: CoupledProblem, theta0, times, *, theorem: str = "P1") -> BranchRatios:
    """Ratios of the simulated path length and excess to their P1 (or P2) bounds (1 where tight).

    P1: the RL flow, its path length over ell(t), the SFT excess over P1's upper envelope; P2: the
    SFT flow, over ell_sft(t), the reward loss over P2's upper envelope.
    """
    simulate = {"P1": envelope, "P2": p2_rl_then_sft.envelope}[theorem]
    curves: EnvelopeCurves = simulate(problem, theta0, np.r_[0.0, np.asarray(times, dtype=float)])
    return BranchRatios(np.asarray(times), curves.path_length[1:] / curves.path_bound[1:], curves.excess[1:] / curves.upper[1:])


@dataclass(frozen=True)
class ContractionBracket:
    """Per step size: the explicit function's measured one-step rate, q_sharp and q."""

    etas: np.ndarray
    measured: np.ndarray
    sharp: np.ndarray
    plain: np.ndarray


def contraction_bracket(*, mu: float, beta: float, etas) -> ContractionBracket:
    """GD on ``(mu x^2 + beta y^2)/2``: the worst one-step ratio Delta_1/Delta_0 over both eigenvectors.

    That is a lower bound on the class's worst case; ``gd_contraction(sharp=True)`` an upper one.
    """
    etas = np.asarray(etas, dtype=np.float64)
    objective = Quadratic(np.diag([mu, beta]), np.zeros(2))
    starts = np.eye(2)
    measured = []
    for eta in etas:
        first = gradient_descent(objective, starts, eta, 1)
        measured.append(np.max(objective.excess(first[1]) / objective.excess(first[0])))
    return ContractionBracket(etas, np.array(measured),
                              np.asarray(nondecoupling.gd_contraction(mu=mu, beta=beta, eta=etas, sharp=True)),
                              np.asarray(nondecoupling.gd_contraction(mu=mu, beta=beta, eta=etas)))


def anisotropic_threshold_pair(rng: np.random.Generator, *, mu_sft, beta_sft, mu_rl, beta_rl, sep, dim: int = 3):
    """``(problem, theta0)``: random anisotropic L and R with ``b - a`` on L's ``mu_sft`` eigenvector.

    R is strongly convex, so the RL flow from any ``theta0`` ends at ``b``, where
    ``L(b) = L* + mu_sft sep^2 / 2 = tau``: P4 (i) is attained without isotropy.
    """
    sft_basis, rl_basis = _rotation(rng, dim), _rotation(rng, dim)
    sft_center = rng.standard_normal(dim)
    sft = _quadratic(sft_basis, np.r_[mu_sft, beta_sft, rng.uniform(mu_sft, beta_sft, dim - 2)], sft_center)
    rl = _quadratic(rl_basis, np.r_[mu_rl, beta_rl, rng.uniform(mu_rl, beta_rl, dim - 2)], sft_center + sep * sft_basis[:, 0])
    return CoupledProblem(sft, rl), rng.standard_normal(dim)


def final_sft_loss(problem: CoupledProblem, theta0, *, horizon: float) -> float:
    """``L(theta_T)`` after RL for ``horizon`` (exact quadratic flow)."""
    return float(rl_flow(problem, theta0, [0.0, horizon]).sft_excess[-1] + problem.sft_min)


def main() -> None:
    rng = np.random.default_rng(0)
    constants = dict(mu_sft=0.4, beta_sft=2.0, mu_rl=0.5, beta_rl=4.0, sep=1.0)
    fast = branch_ratios(*eigen_start_pair(rng, start="fast", **constants), np.array([1e-4, 1e-3, 1e-2]) / 4.0)
    slow = branch_ratios(*eigen_start_pair(rng, start="slow", **constants), np.array([5.0, 20.0, 60.0]) / 0.5)
    print("P1 path length / ell(t), started on R's stiffest eigenvector, t = 1e-4, 1e-3, 1e-2 / beta_rl:", fast.path)
    print("P1 SFT excess / upper envelope, same:", fast.upper)
    print("P1 path length / ell(t), started on R's flattest eigenvector, t -> inf:", slow.path)
    fast = branch_ratios(*mirrored_eigen_start_pair(rng, start="fast", **constants), np.array([1e-4, 1e-3, 1e-2]) / 2.0, theorem="P2")
    slow = branch_ratios(*mirrored_eigen_start_pair(rng, start="slow", **constants), np.array([5.0, 20.0, 60.0]) / 0.4, theorem="P2")
    print("P2 reward loss / upper envelope, on L's stiffest eigenvector, t -> 0:", fast.upper, "; flattest, t -> inf:", slow.upper)
    for eta_beta in (0.5, 1.0, 1.5, np.sqrt(3), 1.9):
        bracket = contraction_bracket(mu=0.2, beta=1.0, etas=[eta_beta])
        print(f"P5 eta*beta = {eta_beta:.4f}: true worst case in [{bracket.measured[0]:.4f}, {bracket.sharp[0]:.4f}], q = {bracket.plain[0]:.4f}")


if __name__ == "__main__":
    main()
