"""Affine solution sets ``{point + v : v in range(P)}`` and exact distances between them.

The minimizer set of a PSD quadratic is the affine subspace ``a + null(A)``; of a
strongly convex or isolated-minimum objective it is a point (``P = 0``). The directions
are stored as the orthogonal projector ``P`` onto the subspace rather than as a basis, so
that a batch of sets of different dimensions stacks into one ``(..., d, d)`` array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Relative size below which a singular value counts as zero when ranks are decided.
RANK_RTOL = 1e-9


@dataclass(frozen=True)
class AffineSet:
    """The set ``{point + projector @ u}``, possibly batched.

    Attributes
    ----------
    point : ndarray, shape (..., d)
        One element of the set.
    projector : ndarray, shape (..., d, d)
        Orthogonal projector onto the set's direction space (zero for a single point).
    """

    point: np.ndarray
    projector: np.ndarray

    @classmethod
    def single_point(cls, point) -> AffineSet:
        point = np.asarray(point, dtype=np.float64)
        return cls(point, np.zeros(point.shape + point.shape[-1:]))

    @property
    def dim(self) -> np.ndarray:
        """Dimension of the direction space (per instance)."""
        return np.rint(np.trace(self.projector, axis1=-2, axis2=-1)).astype(int)

    def project(self, theta) -> np.ndarray:
        """Nearest point of the set: ``p + P (theta - p)``."""
        offset = np.asarray(theta, dtype=np.float64) - self.point
        return self.point + np.einsum("...ij,...j->...i", self.projector, offset)

    def distance(self, theta) -> np.ndarray:
        """``dist(theta, S) = ||(I - P)(theta - p)||``."""
        return np.linalg.norm(np.asarray(theta, dtype=np.float64) - self.project(theta), axis=-1)


def set_distance(first: AffineSet, second: AffineSet) -> np.ndarray:
    """``inf ||x - y||`` over ``x`` in ``first``, ``y`` in ``second`` (exact, by least squares).

    Notes
    -----
    ``x - y = (p - q) + P u - Q v`` ranges over ``(p - q) + range([P, Q])``, so the
    distance is the norm of the residual of ``p - q`` after projecting onto
    ``range([P, Q])``. The projector is built from the SVD of ``[P, Q]`` (batched).
    """
    batch = np.broadcast_shapes(first.point.shape[:-1], second.point.shape[:-1], first.projector.shape[:-2], second.projector.shape[:-2])
    dim = first.point.shape[-1]
    projectors = [np.broadcast_to(s.projector, batch + (dim, dim)) for s in (first, second)]
    stacked = np.concatenate(projectors, axis=-1)
    left, singular, _ = np.linalg.svd(stacked, full_matrices=False)
    keep = singular > RANK_RTOL * np.maximum(singular[..., :1], 1.0)
    basis = left * keep[..., None, :]
    difference = first.point - second.point
    along = np.einsum("...ij,...kj,...k->...i", basis, basis, difference)
    return np.linalg.norm(difference - along, axis=-1)
