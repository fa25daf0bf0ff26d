"""PSD quadratics ``f(x) = 1/2 (x - a)^T A (x - a) + f*`` with exact constants and exact flows.

For PSD ``A`` (possibly singular) f is ``mu``-PL with ``mu`` the smallest *positive*
eigenvalue and ``beta``-smooth with ``beta`` the largest: in the eigenbasis
``||grad f||^2 = sum lam_i^2 z_i^2 >= mu sum lam_i z_i^2 = 2 mu (f - f*)``. The minimizer
set is the affine subspace ``a + null(A)``. The gradient flow is solved in closed form,
``x(t) = a + U diag(e^{-lam t}) U^T (x0 - a)``, and so is gradient descent,
``x_k = a + U diag((1 - eta lam)^k) U^T (x0 - a)``.
"""

from __future__ import annotations

import numpy as np

from nondecoupling.validation import ParameterError, as_float_array, check_interval
from simulations.problems.affine import RANK_RTOL, AffineSet
from simulations.problems.base import Objective
from simulations.threads import single_threaded


class Quadratic(Objective):
    """``f(x) = 1/2 (x - a)^T A (x - a) + minimum``, possibly a batch of instances.

    Parameters
    ----------
    hessian_matrix : array_like, shape (d, d) or (n, d, d)
        Symmetric PSD ``A`` (symmetrized on input).
    center : array_like, shape (d,) or (n, d)
        A minimizer ``a``.
    minimum : float or array_like, shape () or (n,)
        ``f* = f(a)``.

    Raises
    ------
    ParameterError
        If ``A`` has a negative eigenvalue, is zero, or shapes disagree.
    """

    def __init__(self, hessian_matrix, center, minimum=0.0):
        matrix = as_float_array(hessian_matrix, "hessian_matrix")
        if matrix.ndim not in (2, 3) or matrix.shape[-1] != matrix.shape[-2]:
            raise ParameterError("hessian_matrix", "a square (d, d) or (n, d, d) array", str(matrix.shape))
        self.matrix = 0.5 * (matrix + np.swapaxes(matrix, -1, -2))
        self.center = as_float_array(center, "center")
        if self.center.shape[-1] != matrix.shape[-1]:
            raise ParameterError("center", f"of length d = {matrix.shape[-1]}", str(self.center.shape))
        self.minimum = as_float_array(minimum, "minimum")
        self.dim = matrix.shape[-1]
        with single_threaded():  # a batch of small eighs: threads add CPU, not speed
            self.eigenvalues, self.eigenvectors = np.linalg.eigh(self.matrix)
        scale = self.eigenvalues[..., -1:]
        check_interval(scale, "hessian_matrix (largest eigenvalue)", low=0.0, low_open=True)
        check_interval(self.eigenvalues / scale, "hessian_matrix (eigenvalues / largest)", low=-RANK_RTOL)
        positive = self.eigenvalues > RANK_RTOL * scale
        # Numerically zero eigenvalues are exactly zero: the flow then keeps null directions fixed.
        self.eigenvalues = np.where(positive, self.eigenvalues, 0.0)
        self.mu = np.where(positive, self.eigenvalues, np.inf).min(axis=-1)
        self.beta = self.eigenvalues[..., -1]
        self.minimizers = AffineSet(self.center, null_projector(self.eigenvectors, ~positive))

    @property
    def rank(self) -> np.ndarray:
        return (self.eigenvalues > 0).sum(axis=-1)

    def value(self, theta):
        offset = np.asarray(theta, dtype=np.float64) - self.center
        return 0.5 * np.einsum("...i,...ij,...j->...", offset, self.matrix, offset) + self.minimum

    def grad(self, theta):
        offset = np.asarray(theta, dtype=np.float64) - self.center
        return np.einsum("...ij,...j->...i", self.matrix, offset)

    def hessian(self, theta):
        shape = np.broadcast_shapes(np.shape(theta)[:-1], self.matrix.shape[:-2])
        return np.broadcast_to(self.matrix, shape + self.matrix.shape[-2:])

    def _evolve(self, theta0, factors) -> np.ndarray:
        """``a + U diag(factors) U^T (theta0 - a)`` for a leading axis of factor rows."""
        coefficients = np.einsum("...ji,...j->...i", self.eigenvectors, np.asarray(theta0, dtype=np.float64) - self.center)
        # A batch of starting points under one unbatched instance: align the batch axes.
        missing = coefficients.ndim - self.eigenvalues.ndim
        factors = factors.reshape(factors.shape[:1] + (1,) * max(missing, 0) + factors.shape[1:])
        return self.center + np.einsum("...ij,t...j->t...i", self.eigenvectors, factors * coefficients)

    def flow(self, theta0, times) -> np.ndarray:
        """Exact gradient flow ``x' = -A (x - a)`` at ``times``; shape ``(len(times),) + theta.shape``."""
        times = np.asarray(times, dtype=np.float64)
        extra = (None,) * (np.ndim(self.eigenvalues))
        return self._evolve(theta0, np.exp(-times[(...,) + extra] * self.eigenvalues))

    def descent(self, theta0, eta, steps: int) -> np.ndarray:
        """Exact gradient descent iterates ``x_0 ... x_steps``; shape ``(steps + 1,) + theta.shape``."""
        powers = np.arange(steps + 1, dtype=np.float64)[(...,) + (None,) * np.ndim(self.eigenvalues)]
        return self._evolve(theta0, (1.0 - eta * self.eigenvalues) ** powers)


def null_projector(eigenvectors: np.ndarray, null: np.ndarray) -> np.ndarray:
    """``U_0 U_0^T``, the orthogonal projector onto the span of the eigenvectors flagged ``null``.

    ``eigh`` sorts the eigenvalues in ascending order, so the null directions of a PSD matrix
    are its first columns: the product runs over the largest null dimension of the batch only
    (none for strongly convex instances: a zero projector, no product), on one BLAS thread.

    >>> null_projector(np.eye(3), np.array([True, False, False]))
    array([[1., 0., 0.],
           [0., 0., 0.],
           [0., 0., 0.]])
    """
    columns = int(null.sum(axis=-1).max(initial=0))
    if columns == 0:
        return np.zeros(eigenvectors.shape)
    basis = eigenvectors[..., :columns] * null[..., None, :columns]
    with single_threaded():
        return basis @ np.swapaxes(basis, -1, -2)


def isotropic(mu, center, minimum=0.0) -> Quadratic:
    """``(mu/2) ||x - a||^2 + f*`` (the tight instances of P1-P5); ``mu`` scalar or shape (n,)."""
    center = np.asarray(center, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    return Quadratic(mu[..., None, None] * np.eye(center.shape[-1]), center, minimum)


def random_psd(rng: np.random.Generator, dim: int, *, mu: float, beta: float, rank: int | None = None, batch=()):
    """Random ``A = U diag(lam) U^T`` with Haar ``U``, ``lam`` in ``[mu, beta]`` including both ends.

    ``rank < dim`` gives a PSD matrix with a ``dim - rank`` dimensional null space
    (PL but not strongly convex). With ``rank >= 2`` the extreme eigenvalues are exactly
    ``mu`` and ``beta``.
    """
    rank = dim if rank is None else rank
    batch = tuple(np.atleast_1d(batch)) if batch != () else ()
    gaussian = rng.standard_normal(batch + (dim, dim))
    orthogonal, upper = np.linalg.qr(gaussian)
    orthogonal = orthogonal * np.sign(np.diagonal(upper, axis1=-2, axis2=-1))[..., None, :]
    eigenvalues = np.zeros(batch + (dim,))
    eigenvalues[..., :rank] = rng.uniform(mu, beta, size=batch + (rank,))
    eigenvalues[..., 0] = mu
    if rank >= 2:
        eigenvalues[..., 1] = beta
    return np.einsum("...ij,...j,...kj->...ik", orthogonal, eigenvalues, orthogonal)
