"""Over-parameterized least squares ``f(x) = ||X x - y||^2 / (2 n)`` with ``n < d`` data points.

It is the :class:`Quadratic` with ``A = X^T X / n`` and ``a = X^+ y`` (the minimum-norm
interpolant): for full row rank ``X`` the system is consistent, so ``f* = 0`` and the
solution set ``X^+ y + null(X)`` has dimension ``d - n`` (PL with ``mu = s_min(X)^2 / n``,
not strongly convex). SFT and RL fit different data; their solution sets are affine
subspaces whose separation :func:`simulations.problems.affine.set_distance` computes.
"""

from __future__ import annotations

import numpy as np

from nondecoupling.validation import ParameterError, as_float_array
from simulations.problems.quadratic import Quadratic


def least_squares(features, targets) -> Quadratic:
    """The quadratic ``||X x - y||^2 / (2 n)`` with exact constants.

    Parameters
    ----------
    features : array_like, shape (n, d) or (batch, n, d)
        Design matrix ``X``.
    targets : array_like, shape (n,) or (batch, n)
        ``y``.

    Returns
    -------
    Quadratic
        ``A = X^T X / n``, ``a = X^+ y``, ``minimum = ||X a - y||^2 / (2 n)`` (0 when
        ``X`` has full row rank).
    """
    design = as_float_array(features, "features")
    targets = as_float_array(targets, "targets")
    if design.ndim not in (2, 3) or targets.shape != design.shape[:-1]:
        raise ParameterError("targets", f"of shape {design.shape[:-1]} to match features", str(targets.shape))
    samples = design.shape[-2]
    center = np.einsum("...ij,...j->...i", np.linalg.pinv(design), targets)
    residual = np.einsum("...ij,...j->...i", design, center) - targets
    return Quadratic(
        np.swapaxes(design, -1, -2) @ design / samples,
        center,
        minimum=0.5 * np.sum(residual**2, axis=-1) / samples,
    )


def random_least_squares(rng: np.random.Generator, dim: int, samples: int, *, batch=()) -> Quadratic:
    """Gaussian ``X`` (``samples`` x ``dim``, ``samples < dim`` for over-parameterization) and ``y``."""
    shape = tuple(np.atleast_1d(batch)) if batch != () else ()
    return least_squares(rng.standard_normal(shape + (samples, dim)), rng.standard_normal(shape + (samples,)))
