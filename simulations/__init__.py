"""Simulations that hold every bound of THEORY.md against exact or high-accuracy flows.

The public API (the sweep and bridge reuse it):

Problems (:mod:`simulations.problems`), batched, with exact constants
    ``Quadratic``, ``isotropic``, ``least_squares``, ``SinePL``, ``LogLinearPolicy``,
    ``tabular_policy``, ``CrossEntropy``, ``RewardLoss``; the pair ``CoupledProblem(sft, rl)``
    with ``sep``, ``sft_min``, ``rl_min`` and ``constants`` (keyword arguments for the
    theory API); random families ``random_quadratic_pair``, ``random_sine_pair``,
    ``random_log_linear``; the tight instance ``isotropic_pair``; X1's ``joint_objective``
    and ``pareto_point``.
Dynamics (:mod:`simulations.dynamics`)
    ``gradient_flow(objective, theta0, times)`` (exact for quadratics, one batched
    ``solve_ivp`` otherwise), ``path_length``/``flow_and_path_length`` (the flow's
    arc length, integrated to solver precision), ``gradient_descent(objective, theta0, eta, steps)``,
    ``rl_flow``/``sft_flow`` and the schedules ``sft_then_rl``, ``rl_then_sft``,
    ``alternating``, ``joint``, each returning a ``Trajectory`` (times, thetas, sft_excess,
    rl_gap, phase_ends).
Checks (:mod:`simulations.checks`)
    One module per theorem ID (``p1_sft_then_rl`` ... ``x1_interleaving``), each with pure
    functions returning simulated quantities next to the bound (ready to plot) and a
    ``__main__`` that prints them: ``python -m simulations.checks.p1_sft_then_rl``.

``python simulations/benchmark.py`` times the batched simulator against a per-instance
``solve_ivp`` loop.
"""

from simulations.dynamics import (
    Trajectory,
    alternating,
    evaluate,
    flow_and_path_length,
    gradient_descent,
    gradient_flow,
    joint,
    path_length,
    rl_flow,
    rl_then_sft,
    run_schedule,
    sft_flow,
    sft_then_rl,
)
from simulations.problems import *  # noqa: F403
from simulations.problems import __all__ as _problems_all

__all__ = [
    "Trajectory", "alternating", "evaluate", "flow_and_path_length", "gradient_descent", "gradient_flow", "joint", "path_length",
    "rl_flow", "rl_then_sft", "run_schedule", "sft_flow", "sft_then_rl", *_problems_all,
]
