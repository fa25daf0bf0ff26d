"""S1 (spectral concentration), measured.

Statement: at ``theta_0`` in ``S_L`` with ``H = hess L`` (eigenvalues ``lam_1 >= ... >= lam_d >= 0``)
and ``g = grad R``, ``rho_k`` the share of ``||g||^2`` in the top-``k`` eigenspace:
(a) ``lam_k rho_k <= g^T H g / ||g||^2 <= lam_1 rho_k + lam_{k+1} (1 - rho_k)``;
(b) ``m = g^T H g / (||H g|| ||g||) >= lam_k rho_k / sqrt(lam_1^2 rho_k + lam_{k+1}^2 (1 - rho_k))``,
and ``-grad L(theta_0 - eta g) = eta H g + O(eta^2)`` (so ``-m`` is the cosine between the
SFT and RL descent directions after a small RL step);
(c) ``g`` inside eigenvalues ``[m_lo, m_hi]`` gives ``m >= 2 sqrt(m_lo m_hi)/(m_lo + m_hi)``.
Derivation: ``theory/nondecoupling/derivations/s1_spectral_concentration.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nondecoupling import curvature_bracket, kantorovich_bound, misalignment_bound
from simulations.checks._common import worst


@dataclass(frozen=True)
class SpectralMeasurement:
    """Measured curvature ratio and misalignment next to S1's bounds; arrays ``(n,)``."""

    rho: np.ndarray
    curvature: np.ndarray
    bracket_lower: np.ndarray
    bracket_upper: np.ndarray
    misalignment: np.ndarray
    misalignment_lower: np.ndarray

    def slacks(self) -> dict:
        scale = np.maximum(self.bracket_upper, np.finfo(float).tiny)
        return {
            "bracket_lower": (self.curvature - self.bracket_lower) / scale,
            "bracket_upper": (self.bracket_upper - self.curvature) / scale,
            "misalignment": self.misalignment - self.misalignment_lower,
        }


def measure(eigenvalues, eigenvectors, gradient, k: int):
    """``rho_k``, ``g^T H g / ||g||^2`` and ``m`` for ``H = U diag(lam) U^T`` (``lam`` descending)."""
    coefficients = eigenvectors.T @ gradient
    weights = coefficients**2 / np.sum(coefficients**2)
    rho = float(np.sum(weights[:k]))
    curvature = float(weights @ eigenvalues)
    misalignment = curvature / float(np.sqrt(weights @ eigenvalues**2))
    return rho, curvature, misalignment


def random_spectra(rng: np.random.Generator, *, count: int, dim: int = 8, concentration=None) -> tuple[SpectralMeasurement, dict]:
    """Random spectra (some zero eigenvalues), Haar eigenvectors, gradients with random or
    prescribed top-``k`` concentration ``rho``; returns the measurement and the inputs."""
    rho, curvature, misalignment, lower, upper, bound = ([] for _ in range(6))
    ks = rng.integers(1, dim, size=count)
    for i, k in enumerate(ks):
        # About a fifth of the eigenvalues are zero (H is PSD at a minimizer, often singular).
        eigenvalues = np.sort(rng.exponential(size=dim) * (rng.uniform(size=dim) > 0.2))[::-1]
        eigenvalues[0] = max(eigenvalues[0], 1e-3)
        eigenvectors, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
        if concentration is None:
            gradient = rng.standard_normal(dim) * rng.exponential(size=dim)
        else:
            top, rest = rng.standard_normal(k), rng.standard_normal(dim - k)
            share = float(np.atleast_1d(concentration)[i % np.size(concentration)])
            gradient = eigenvectors @ np.r_[np.sqrt(share) * top / np.linalg.norm(top), np.sqrt(1 - share) * rest / np.linalg.norm(rest)]
        r, c, m = measure(eigenvalues, eigenvectors, gradient, int(k))
        low, high = curvature_bracket(eigenvalues, r, int(k))
        rho.append(r), curvature.append(c), misalignment.append(m), lower.append(low), upper.append(high)
        bound.append(misalignment_bound(eigenvalues, r, int(k)))
    measurement = SpectralMeasurement(*(np.array(v, dtype=float) for v in (rho, curvature, lower, upper, misalignment, bound)))
    return measurement, {"k": ks}


def tight_bracket(k: int = 2, dim: int = 5):
    """Spectra and gradients at which (a) and (b) hold with equality.

    Lower bracket: ``g`` splits between ``u_k`` and a null direction. Upper bracket: ``g``
    splits between ``u_1`` and ``u_{k+1}``. Misalignment: ``lam_1 = ... = lam_k`` and the
    rest of ``g`` in the null space. Returns ``[(eigenvalues, gradient, k, which), ...]``
    in the eigenbasis (``eigenvectors = I``).
    """
    lam = np.r_[np.linspace(3.0, 1.0, dim - 1), 0.0]
    lower = np.zeros(dim)
    lower[k - 1], lower[-1] = 0.6, 0.8
    upper = np.zeros(dim)
    upper[0], upper[k] = 0.6, 0.8
    flat = np.r_[np.full(k, 2.0), np.zeros(dim - k)]
    gradient = np.r_[np.full(k, 0.5), np.full(dim - k, 0.7)]
    return [(lam, lower, k, "bracket_lower"), (lam, upper, k, "bracket_upper"), (flat, gradient, k, "misalignment")]


def kantorovich_instances(rng: np.random.Generator, *, count: int, dim: int = 6):
    """Measured ``m`` for gradients confined to eigenvalues in ``[m_lo, m_hi]``, next to (c);
    the last instance of each band uses the extremal weights ``m_hi : m_lo`` (equality)."""
    measured, bound = [], []
    for _ in range(count):
        m_lo = rng.uniform(0.1, 1.0)
        m_hi = m_lo * rng.uniform(1.0, 20.0)
        eigenvalues = np.sort(rng.uniform(m_lo, m_hi, size=dim))[::-1]
        eigenvalues[0], eigenvalues[-1] = m_hi, m_lo
        for weights in (rng.dirichlet(np.ones(dim)), np.r_[m_lo, np.zeros(dim - 2), m_hi] / (m_lo + m_hi)):
            measured.append(float(weights @ eigenvalues / np.sqrt(weights @ eigenvalues**2)))
            bound.append(float(kantorovich_bound(m_lo, m_hi)))
    return np.array(measured), np.array(bound)


def descent_direction_cosine(sft, rl, theta0, etas) -> np.ndarray:
    """Cosine between ``-grad L(theta_0 - eta g)`` and ``-g``: tends to ``-m`` as ``eta -> 0``."""
    gradient = rl.grad(theta0)
    out = []
    for eta in etas:
        sft_direction = -sft.grad(theta0 - eta * gradient)
        out.append(float(sft_direction @ -gradient / (np.linalg.norm(sft_direction) * np.linalg.norm(gradient))))
    return np.array(out)


def misalignment_at(sft, rl, theta0) -> float:
    """``m = g^T H g / (||H g|| ||g||)`` from the objectives' Hessian and gradient."""
    hessian, gradient = sft.hessian(theta0), rl.grad(theta0)
    hg = hessian @ gradient
    return float(gradient @ hg / (np.linalg.norm(hg) * np.linalg.norm(gradient)))


def main() -> None:
    print("S1 tight instances (measured = bound):")
    for eigenvalues, gradient, k, which in tight_bracket():
        rho, curvature, m = measure(eigenvalues, np.eye(eigenvalues.size), gradient, k)
        low, high = curvature_bracket(eigenvalues, rho, k)
        if which == "misalignment":
            print(f"  {which:14s} m = {m:.12f}, bound = {float(misalignment_bound(eigenvalues, rho, k)):.12f}")
        else:
            print(f"  {which:14s} curvature = {curvature:.12f}, bracket = [{float(low):.12f}, {float(high):.12f}]")
    rng = np.random.default_rng(0)
    measured, bound = kantorovich_instances(rng, count=200)
    print(f"  kantorovich    worst slack {worst(measured - bound):+.2e} (extremal weights give 0)")
    for concentration in (None, 0.5, 0.9, 0.99):
        measurement, _ = random_spectra(rng, count=500, concentration=concentration)
        print(f"random spectra, rho = {concentration}:", {k: f"{worst(v):+.2e}" for k, v in measurement.slacks().items()})


if __name__ == "__main__":
    main()
