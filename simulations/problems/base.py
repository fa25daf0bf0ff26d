"""The objective protocol every problem family implements, and weighted sums of objectives.

An objective is batched: ``theta`` has shape ``(d,)`` or ``(batch, d)``; ``value``
returns shape ``()`` or ``(batch,)``, ``grad`` the shape of ``theta``. Problem parameters
may themselves carry the batch axis (one instance per row), so a single flow call
integrates many different instances at once.

Exact constants live on the objective: ``minimum`` (f* = inf f), ``mu`` (PL constant),
``beta`` (smoothness constant), ``minimizers`` (an :class:`AffineSet`, or ``None`` where
the infimum is not attained or the set is not affine). ``mu``/``beta`` are ``None`` for
objectives that are not globally PL (softmax policies).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class Objective(ABC):
    """Base class: subclasses define ``dim``, ``minimum``, ``mu``, ``beta``, ``minimizers``,
    ``value`` and ``grad`` (and ``hessian`` where it is cheap)."""

    dim: int
    minimum = 0.0
    mu = None
    beta = None
    minimizers = None

    @abstractmethod
    def value(self, theta) -> np.ndarray:
        """``f(theta)``, shape ``theta.shape[:-1]``."""

    @abstractmethod
    def grad(self, theta) -> np.ndarray:
        """``grad f(theta)``, shape ``theta.shape``."""

    def excess(self, theta) -> np.ndarray:
        """``f(theta) - f*`` (the SFT excess eps or the RL gap Delta)."""
        return self.value(theta) - self.minimum


class WeightedSum(Objective):
    """``sum_i w_i f_i``: the joint objective ``F_w = w L + (1 - w) R`` of X1.

    Its ``minimum`` is not known in closed form for general objectives and is left
    ``None``; two quadratics combine into a :class:`Quadratic` instead
    (:func:`simulations.problems.pair.joint_objective`).
    """

    minimum = None

    def __init__(self, objectives, weights):
        self.objectives = tuple(objectives)
        self.weights = tuple(float(w) for w in weights)
        self.dim = self.objectives[0].dim

    def value(self, theta):
        return sum(w * f.value(theta) for w, f in zip(self.weights, self.objectives))

    def grad(self, theta):
        return sum(w * f.grad(theta) for w, f in zip(self.weights, self.objectives))

    def hessian(self, theta):
        return sum(w * f.hessian(theta) for w, f in zip(self.weights, self.objectives))
