"""An SFT objective L and an RL objective R on the same parameters, with their exact
coupling constants, and the random instance families used by the checks.

``CoupledProblem(sft, rl)`` exposes ``sep = dist(S_L, S_R)`` (exact: least squares
between affine minimizer sets), ``sft_min = L*``, ``rl_min = R*`` and the PL/smoothness
constants under THEORY.md's names, so a bound is evaluated as
``sft_degradation_bounds(t, rl_gap0=..., **problem.constants)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nondecoupling.interleaving import QuadraticPair
from nondecoupling.validation import check_rate
from simulations.problems.affine import set_distance
from simulations.problems.base import Objective, WeightedSum
from simulations.problems.least_squares import random_least_squares
from simulations.problems.quadratic import Quadratic, isotropic, random_psd
from simulations.problems.sine_pl import SinePL


@dataclass(frozen=True)
class CoupledProblem:
    """The pair (L, R) of THEORY.md.

    Attributes
    ----------
    sft, rl : Objective
        SFT loss L and RL loss R = -J (+ const).
    """

    sft: Objective
    rl: Objective

    @property
    def sep(self) -> np.ndarray:
        """``dist(S_L, S_R)``, exact (``None`` where a minimizer set is not affine)."""
        if self.sft.minimizers is None or self.rl.minimizers is None:
            return None
        return set_distance(self.sft.minimizers, self.rl.minimizers)

    @property
    def sft_min(self):
        return self.sft.minimum

    @property
    def rl_min(self):
        return self.rl.minimum

    @property
    def constants(self) -> dict:
        """``sep, mu_sft, beta_sft, mu_rl, beta_rl``: keyword arguments for the theory API."""
        return dict(sep=self.sep, mu_sft=self.sft.mu, beta_sft=self.sft.beta, mu_rl=self.rl.mu, beta_rl=self.rl.beta)

    def sft_excess(self, theta) -> np.ndarray:
        """``eps(theta) = L(theta) - L*``."""
        return self.sft.excess(theta)

    def rl_gap(self, theta) -> np.ndarray:
        """``Delta(theta) = R(theta) - R* = J* - J(theta)``."""
        return self.rl.excess(theta)

    def inner_product(self, theta) -> np.ndarray:
        """``<grad L, grad R>(theta)`` (A1: RL raises L exactly where it is negative)."""
        return np.sum(self.sft.grad(theta) * self.rl.grad(theta), axis=-1)


def quadratic_pair(problem: CoupledProblem) -> QuadraticPair:
    """The library's :class:`~nondecoupling.interleaving.QuadraticPair` of two quadratics (X1)."""
    sft, rl = problem.sft, problem.rl
    if not (isinstance(sft, Quadratic) and isinstance(rl, Quadratic)):
        raise TypeError(f"X1's closed forms need two quadratics; got {type(sft).__name__} and {type(rl).__name__}")
    return QuadraticPair(sft_hessian=sft.matrix, sft_minimizer=sft.center, rl_hessian=rl.matrix, rl_minimizer=rl.center)


def joint_objective(problem: CoupledProblem, weight) -> Objective:
    """``F_w = w L + (1 - w) R`` (X1). Two quadratics give the exact :class:`Quadratic`
    ``M = wA + (1-w)B`` centred at the Pareto point ``theta(w)`` of
    :meth:`nondecoupling.interleaving.QuadraticPair.pareto_point`."""
    weight = float(check_rate(weight, "weight"))
    sft, rl = problem.sft, problem.rl
    if not (isinstance(sft, Quadratic) and isinstance(rl, Quadratic)):
        return WeightedSum((sft, rl), (weight, 1.0 - weight))
    center = quadratic_pair(problem).pareto_point(weight)
    minimum = weight * sft.value(center) + (1 - weight) * rl.value(center)
    return Quadratic(weight * sft.matrix + (1 - weight) * rl.matrix, center, minimum)


def pareto_point(problem: CoupledProblem, weight) -> np.ndarray:
    """``theta(w) = argmin F_w`` for a quadratic pair (X1's Pareto front), from the library."""
    return quadratic_pair(problem).pareto_point(weight)


# ---- random instance families -------------------------------------------------------------

QUADRATIC_KINDS = ("isotropic", "anisotropic", "rank_deficient", "least_squares")


def random_quadratic_pair(rng: np.random.Generator, dim: int, kind: str, *, batch=()) -> CoupledProblem:
    """A random quadratic (L, R) of one of :data:`QUADRATIC_KINDS`.

    - ``isotropic``: ``(mu/2)||x - a||^2`` and ``(mu'/2)||x - b||^2`` (tight instances);
    - ``anisotropic``: full-rank Haar-rotated spectra with condition numbers up to 10;
    - ``rank_deficient``: PSD with null spaces of dimension ``dim // 3`` (PL, not strongly
      convex, affine solution sets);
    - ``least_squares``: over-parameterized least squares, ``ceil(2 dim / 3)`` samples each
      (fewer than ``dim``, but the two solution sets' dimensions sum to less than ``dim``,
      so generically ``sep > 0``).
    Optimal values are random, so ``L*`` and ``R*`` are nonzero.
    """
    shape = tuple(np.atleast_1d(batch)) if batch != () else ()
    center = lambda: rng.standard_normal(shape + (dim,))  # noqa: E731
    minimum = lambda: rng.uniform(-1.0, 1.0, size=shape)  # noqa: E731
    curvature = lambda: rng.uniform(0.2, 2.0, size=shape)  # noqa: E731
    if kind == "isotropic":
        return CoupledProblem(isotropic(curvature(), center(), minimum()), isotropic(curvature(), center(), minimum()))
    if kind == "least_squares":
        samples = min(-(-2 * dim // 3), dim - 1) if dim > 1 else 1
        return CoupledProblem(random_least_squares(rng, dim, samples, batch=batch), random_least_squares(rng, dim, samples, batch=batch))
    rank = dim - dim // 3 if kind == "rank_deficient" else dim

    def quadratic():
        mu = rng.uniform(0.2, 1.0)
        return Quadratic(random_psd(rng, dim, mu=mu, beta=mu * rng.uniform(1.0, 10.0), rank=rank, batch=batch), center(), minimum())

    if kind not in QUADRATIC_KINDS:
        raise ValueError(f"kind must be one of {QUADRATIC_KINDS}; got {kind!r}")
    return CoupledProblem(quadratic(), quadratic())


def random_sine_pair(rng: np.random.Generator, dim: int, *, batch=(), spread: float = 2.0) -> CoupledProblem:
    """Random separable ``x^2 + 3 sin^2 x`` pair: centers ``spread`` * Gaussian, scales in [0.5, 2]."""
    shape = tuple(np.atleast_1d(batch)) if batch != () else ()

    def objective():
        return SinePL(spread * rng.standard_normal(shape + (dim,)), rng.uniform(0.5, 2.0, size=shape), rng.uniform(-1, 1, size=shape))

    return CoupledProblem(objective(), objective())


def isotropic_pair(*, mu_sft, mu_rl, sep, dim: int = 2, sft_min=0.0, rl_min=0.0) -> CoupledProblem:
    """The tight instance of P1-P4: ``(mu_sft/2)||x||^2 + L*`` and ``(mu_rl/2)||x - sep e_1||^2 + R*``."""
    sep = np.asarray(sep, dtype=np.float64)
    rl_center = np.zeros(sep.shape + (dim,))
    rl_center[..., 0] = sep
    return CoupledProblem(isotropic(mu_sft, np.zeros(dim), sft_min), isotropic(mu_rl, rl_center, rl_min))
