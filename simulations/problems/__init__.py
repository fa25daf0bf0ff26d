"""Problem families with exact constants: quadratics, over-parameterized least squares,
the non-convex PL sine family, softmax policies, and the (L, R) pair."""

from simulations.problems.affine import AffineSet, set_distance
from simulations.problems.base import Objective, WeightedSum
from simulations.problems.least_squares import least_squares, random_least_squares
from simulations.problems.pair import (
    QUADRATIC_KINDS,
    CoupledProblem,
    isotropic_pair,
    joint_objective,
    pareto_point,
    quadratic_pair,
    random_quadratic_pair,
    random_sine_pair,
)
from simulations.problems.policies import CrossEntropy, LogLinearPolicy, RewardLoss, random_log_linear, tabular_policy
from simulations.problems.quadratic import Quadratic, isotropic, random_psd
from simulations.problems.sine_pl import SINE_PL_BETA, SINE_PL_MU, SINE_PL_MU_LITERATURE, SinePL

__all__ = [
    "AffineSet", "set_distance", "Objective", "WeightedSum", "least_squares", "random_least_squares",
    "QUADRATIC_KINDS", "CoupledProblem", "isotropic_pair", "joint_objective", "pareto_point", "quadratic_pair",
    "random_quadratic_pair", "random_sine_pair", "CrossEntropy", "LogLinearPolicy", "RewardLoss",
    "random_log_linear", "tabular_policy", "Quadratic", "isotropic", "random_psd",
    "SINE_PL_BETA", "SINE_PL_MU", "SINE_PL_MU_LITERATURE", "SinePL",
]
