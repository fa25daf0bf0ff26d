"""What the per-theorem checks share: instance families, starting points, path lengths, slack."""

from __future__ import annotations

import numpy as np

from simulations.problems import QUADRATIC_KINDS, CoupledProblem, random_quadratic_pair, random_sine_pair

#: Families on which the landscape (PL) results P1-P5 and X1 are checked.
PL_FAMILIES = (*QUADRATIC_KINDS, "sine")

#: Relative size of a violation blamed on solver precision rather than on the bound.
SOLVER_RTOL = 1e-8


def random_pair(rng: np.random.Generator, family: str, *, dim: int, batch: int) -> CoupledProblem:
    """A batch of random (L, R) instances of one of :data:`PL_FAMILIES`."""
    if family == "sine":
        return random_sine_pair(rng, dim, batch=batch)
    return random_quadratic_pair(rng, dim, family, batch=batch)


def point_in(minimizers, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """A random point of an affine minimizer set (its center moved within its directions)."""
    return minimizers.project(minimizers.point + scale * rng.standard_normal(minimizers.point.shape))


def relative_slack(lower, value, upper=None, *, scale) -> np.ndarray:
    """``min(value - lower, upper - value) / scale``: >= 0 where the bounds hold, 0 where tight."""
    slack = np.asarray(value - lower, dtype=np.float64)
    if upper is not None:
        slack = np.minimum(slack, upper - value)
    return slack / scale


def worst(slack) -> float:
    """The smallest slack over all instances and times (the number a report quotes)."""
    return float(np.min(slack))
