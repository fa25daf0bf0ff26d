"""Gradient flows, gradient descent and the SFT/RL stage schedules.

- :func:`gradient_flow` solves ``theta' = -grad f(theta)``: in closed form for quadratics
  (``objective.flow``), otherwise with one batched ``scipy.integrate.solve_ivp`` call
  (DOP853) whose state stacks every instance of the batch.
- :func:`gradient_descent` iterates ``theta - eta grad f(theta)`` for the whole batch.
- Schedules (:func:`sft_then_rl`, :func:`rl_then_sft`, :func:`alternating`, :func:`joint`)
  chain flows of ``L``, ``R`` or ``F_w = w L + (1 - w) R`` and return a :class:`Trajectory`
  with the SFT excess ``eps(t)`` and the RL gap ``Delta(t)`` along the way.

Shapes: ``theta0`` is ``(d,)`` or ``(batch, d)`` (problem parameters may carry the same
batch axis); a trajectory's ``thetas`` is ``(len(times),) + theta0.shape``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from nondecoupling.validation import as_float_array, check_integer, check_nonnegative, check_positive, check_rate
from simulations.problems.pair import CoupledProblem, joint_objective
from simulations.threads import single_threaded

RTOL = 1e-10
ATOL = 1e-12


@dataclass(frozen=True)
class Trajectory:
    """A simulated run of a schedule.

    Attributes
    ----------
    times : ndarray, shape (T,)
    thetas : ndarray, shape (T, ..., d)
    sft_excess : ndarray, shape (T, ...)
        ``eps(t) = L(theta_t) - L*``.
    rl_gap : ndarray, shape (T, ...)
        ``Delta(t) = R(theta_t) - R*``.
    phase_ends : tuple of float
        Times at which the schedule switched objective (and its end).
    """

    times: np.ndarray
    thetas: np.ndarray
    sft_excess: np.ndarray
    rl_gap: np.ndarray
    phase_ends: tuple = ()

    @property
    def final(self) -> np.ndarray:
        return self.thetas[-1]


def _check_times(times) -> np.ndarray:
    times = np.atleast_1d(check_nonnegative(times, "times"))
    check_nonnegative(np.diff(times), "times (successive differences)")
    return times


def gradient_flow(objective, theta0, times, *, rtol: float = RTOL, atol: float = ATOL) -> np.ndarray:
    """Solve ``theta' = -grad f(theta)``, ``theta(0) = theta0``, at ``times``.

    Parameters
    ----------
    objective : Objective
        Batched objective; a :class:`~simulations.problems.Quadratic` is solved exactly.
    theta0 : array_like, shape (d,) or (batch, d)
    times : array_like, shape (T,)
        Nondecreasing, ``>= 0``.
    rtol, atol : float
        Per-instance tolerances of the ODE solver.

    Returns
    -------
    ndarray, shape (T,) + theta0.shape

    Notes
    -----
    Non-quadratic objectives: all instances are stacked into one state vector with a
    vectorized right-hand side and integrated by one DOP853 call (see :func:`_integrate`
    for how the tolerances are kept per instance).
    """
    theta0 = as_float_array(theta0, "theta0")
    times = _check_times(times)
    if hasattr(objective, "flow"):
        return objective.flow(theta0, times)
    if times[-1] == 0:
        return np.broadcast_to(theta0, times.shape + theta0.shape).copy()
    shape = theta0.shape

    def velocity(_, state):
        return -objective.grad(state.reshape(shape)).ravel()

    return _integrate(velocity, theta0.ravel(), times, instances=theta0.size // shape[-1], rtol=rtol, atol=atol).reshape(times.shape + shape)


def flow_and_path_length(objective, theta0, times, *, rtol: float = RTOL, atol: float = ATOL):
    """The gradient flow and its path length ``int_0^t ||theta'(s)|| ds`` at ``times``.

    Returns
    -------
    thetas : ndarray, shape (T,) + theta0.shape
    lengths : ndarray, shape (T,) + theta0.shape[:-1]

    Notes
    -----
    The length is integrated as an ODE component ``s' = ||grad f(theta)||``, so it has the
    solver's accuracy rather than a fixed quadrature rule's (the speed changes on time
    scales ``1/beta``, much shorter than the horizon ``1/mu``). For quadratics ``theta(t)``
    is exact and ``s`` alone is integrated: its right-hand side does not depend on ``s``,
    so the solver's steps are not limited by the stiffness of the flow.
    """
    theta0 = as_float_array(theta0, "theta0")
    times = _check_times(times)
    shape = theta0.shape
    size, instances = theta0.size, theta0.size // shape[-1]
    if times[-1] == 0:
        return gradient_flow(objective, theta0, times), np.zeros(times.shape + shape[:-1])
    if hasattr(objective, "flow"):

        def speed(t, _):
            return np.linalg.norm(objective.grad(objective.flow(theta0, [t])[0]), axis=-1).ravel()

        lengths = _integrate(speed, np.zeros(instances), times, instances=instances, rtol=rtol, atol=atol)
        return objective.flow(theta0, times), lengths.reshape(times.shape + shape[:-1])

    def velocity(_, state):
        grad = objective.grad(state[:size].reshape(shape))
        return np.concatenate([-grad.ravel(), np.linalg.norm(grad, axis=-1).ravel()])

    start = np.concatenate([theta0.ravel(), np.zeros(instances)])
    states = _integrate(velocity, start, times, instances=instances, rtol=rtol, atol=atol)
    return states[:, :size].reshape(times.shape + shape), states[:, size:].reshape(times.shape + shape[:-1])


def path_length(objective, theta0, times, *, rtol: float = RTOL, atol: float = ATOL) -> np.ndarray:
    """``int_0^t ||theta'(s)|| ds`` along the gradient flow at ``times`` (see :func:`flow_and_path_length`)."""
    return flow_and_path_length(objective, theta0, times, rtol=rtol, atol=atol)[1]


def _integrate(velocity, start, times, *, instances: int, rtol: float, atol: float) -> np.ndarray:
    """One DOP853 solve of a stacked batch, states at ``times`` (rows).

    solve_ivp controls the RMS norm of the local error over the whole state vector, which
    for ``n`` stacked instances would let one instance's error be ``sqrt(n)`` times the
    per-instance tolerance; the tolerances are divided by ``sqrt(n)`` so that every
    instance meets ``rtol``/``atol`` as it would in a solve of its own (the floor is
    DOP853's own lower limit on ``rtol``). BLAS runs on one thread (:func:`single_threaded`).
    """
    scale = 1.0 / np.sqrt(max(instances, 1))
    with single_threaded():
        solution = solve_ivp(
            velocity, (0.0, times[-1]), start, method="DOP853", t_eval=times, rtol=max(rtol * scale, 3e-14), atol=atol * scale
        )
    if not solution.success:
        raise RuntimeError(f"solve_ivp failed: {solution.message}")
    return solution.y.T


def gradient_descent(objective, theta0, eta, steps) -> np.ndarray:
    """Iterates ``theta_{k+1} = theta_k - eta grad f(theta_k)``, ``k = 0 .. steps - 1``.

    Returns
    -------
    ndarray, shape (steps + 1,) + theta0.shape
    """
    # A step size per instance (shape (batch,)) multiplies that instance's gradient.
    eta = check_positive(eta, "eta")[..., None]
    steps = int(check_integer(steps, "steps", low=0))
    iterates = np.empty((steps + 1,) + np.shape(theta0))
    iterates[0] = as_float_array(theta0, "theta0")
    for k in range(steps):
        iterates[k + 1] = iterates[k] - eta * objective.grad(iterates[k])
    return iterates


def evaluate(problem: CoupledProblem, times, thetas, phase_ends=()) -> Trajectory:
    """Attach ``eps`` and ``Delta`` to simulated ``thetas``."""
    return Trajectory(np.asarray(times), thetas, problem.sft_excess(thetas), problem.rl_gap(thetas), tuple(phase_ends))


def run_schedule(problem: CoupledProblem, theta0, phases, *, points: int = 101) -> Trajectory:
    """Chain gradient flows: ``phases`` is a sequence of ``(objective, duration)``.

    Each phase is sampled at ``points`` evenly spaced times (its start shared with the
    previous phase's end).
    """
    theta = as_float_array(theta0, "theta0")
    times, thetas, ends, now = [np.zeros(1)], [theta[None]], [], 0.0
    for objective, duration in phases:
        duration = float(check_nonnegative(duration, "duration"))
        if duration == 0:
            continue
        local = np.linspace(0.0, duration, max(points, 2))
        path = gradient_flow(objective, theta, local)
        times.append(now + local[1:])
        thetas.append(path[1:])
        theta, now = path[-1], now + duration
        ends.append(now)
    return evaluate(problem, np.concatenate(times), np.concatenate(thetas), ends)


def rl_flow(problem: CoupledProblem, theta0, times) -> Trajectory:
    """RL flow ``theta' = -grad R`` sampled at ``times``."""
    return evaluate(problem, times, gradient_flow(problem.rl, theta0, times))


def sft_flow(problem: CoupledProblem, theta0, times) -> Trajectory:
    """SFT flow ``theta' = -grad L`` sampled at ``times``."""
    return evaluate(problem, times, gradient_flow(problem.sft, theta0, times))


def sft_then_rl(problem: CoupledProblem, theta0, *, sft_time, rl_time, points: int = 101) -> Trajectory:
    """SFT flow for ``sft_time``, then RL flow for ``rl_time``."""
    return run_schedule(problem, theta0, [(problem.sft, sft_time), (problem.rl, rl_time)], points=points)


def rl_then_sft(problem: CoupledProblem, theta0, *, rl_time, sft_time, points: int = 101) -> Trajectory:
    """RL flow for ``rl_time``, then SFT flow for ``sft_time``."""
    return run_schedule(problem, theta0, [(problem.rl, rl_time), (problem.sft, sft_time)], points=points)


def alternating(problem: CoupledProblem, theta0, *, period, weight, cycles, points: int = 2) -> Trajectory:
    """``cycles`` repetitions of SFT for ``weight * period`` then RL for ``(1 - weight) * period`` (X1)."""
    period = float(check_positive(period, "period"))
    weight = float(check_rate(weight, "weight"))
    cycles = int(check_integer(cycles, "cycles", low=1))
    phases = [(problem.sft, weight * period), (problem.rl, (1 - weight) * period)] * cycles
    return run_schedule(problem, theta0, phases, points=points)


def joint(problem: CoupledProblem, theta0, *, weight, duration, points: int = 101) -> Trajectory:
    """Flow of the joint objective ``F_w = w L + (1 - w) R`` for ``duration``."""
    return run_schedule(problem, theta0, [(joint_objective(problem, weight), duration)], points=points)
