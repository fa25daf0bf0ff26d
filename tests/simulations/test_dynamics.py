"""Flows, gradient descent and schedules against closed forms."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.linalg import expm

from nondecoupling import ParameterError
from simulations.dynamics import (
    alternating,
    gradient_descent,
    gradient_flow,
    joint,
    path_length,
    rl_then_sft,
    sft_flow,
    sft_then_rl,
)
from simulations.problems import QUADRATIC_KINDS, WeightedSum, isotropic, joint_objective, random_quadratic_pair

seeds = st.integers(0, 2**32 - 1)


@given(seeds, st.sampled_from(QUADRATIC_KINDS))
def test_exact_quadratic_flow_matches_the_matrix_exponential(seed, kind):
    rng = np.random.default_rng(seed)
    objective = random_quadratic_pair(rng, 4, kind).rl
    theta0, times = rng.standard_normal(4), np.array([0.0, 0.3, 2.0])
    expected = [objective.center + expm(-t * objective.matrix) @ (theta0 - objective.center) for t in times]
    np.testing.assert_allclose(gradient_flow(objective, theta0, times), expected, atol=1e-10)


@given(seeds)
def test_batched_ode_flow_matches_the_exact_flow_per_instance(seed):
    rng = np.random.default_rng(seed)
    objective = random_quadratic_pair(rng, 3, "anisotropic", batch=6).sft
    theta0, times = rng.standard_normal((6, 3)), np.linspace(0.0, 3.0, 7)
    # A one-term WeightedSum hides the closed form: the batched solve_ivp path runs.
    numeric = gradient_flow(WeightedSum((objective,), (1.0,)), theta0, times)
    np.testing.assert_allclose(numeric, gradient_flow(objective, theta0, times), rtol=1e-8, atol=1e-9)


def test_path_length_of_an_isotropic_flow_is_the_distance_travelled():
    objective = isotropic(1.7, np.array([1.0, 2.0]))
    times = np.array([0.0, 0.5, 3.0])
    # Straight line to the center: length |x0 - a| (1 - e^{-mu t}).
    expected = np.sqrt(5.0) * -np.expm1(-1.7 * times)
    np.testing.assert_allclose(path_length(objective, np.zeros(2), times), expected, rtol=1e-9, atol=1e-12)


@given(seeds, st.sampled_from(QUADRATIC_KINDS))
def test_gradient_descent_matches_the_closed_form(seed, kind):
    rng = np.random.default_rng(seed)
    objective = random_quadratic_pair(rng, 4, kind).rl
    theta0, eta = rng.standard_normal(4), rng.uniform(0.05, 1.9) / objective.beta
    np.testing.assert_allclose(gradient_descent(objective, theta0, eta, 25), objective.descent(theta0, eta, 25), atol=1e-9)


@given(seeds)
def test_schedules_chain_their_phases(seed):
    rng = np.random.default_rng(seed)
    problem = random_quadratic_pair(rng, 3, "rank_deficient")
    theta0 = rng.standard_normal(3)
    run = sft_then_rl(problem, theta0, sft_time=1.0, rl_time=2.0, points=11)
    assert run.phase_ends == (1.0, 3.0)
    after_sft = gradient_flow(problem.sft, theta0, [0.0, 1.0])[-1]
    np.testing.assert_allclose(run.final, gradient_flow(problem.rl, after_sft, [0.0, 2.0])[-1], atol=1e-10)
    np.testing.assert_allclose(run.sft_excess, problem.sft_excess(run.thetas))
    backwards = rl_then_sft(problem, theta0, rl_time=2.0, sft_time=1.0, points=11)
    assert backwards.times[-1] == 3.0 and backwards.rl_gap.shape == (21,)
    # Weight 1 alternation is the SFT flow; the quadratic joint objective is F_w exactly.
    np.testing.assert_allclose(
        alternating(problem, theta0, period=0.5, weight=1.0, cycles=4).final, sft_flow(problem, theta0, [0.0, 2.0]).final, atol=1e-10
    )
    weight = rng.uniform()
    exact = joint(problem, theta0, weight=weight, duration=1.5).final
    generic = gradient_flow(WeightedSum((problem.sft, problem.rl), (weight, 1 - weight)), theta0, [0.0, 1.5])[-1]
    np.testing.assert_allclose(exact, generic, atol=1e-8)
    combined = joint_objective(problem, weight)
    theta = rng.standard_normal((5, 3))
    np.testing.assert_allclose(combined.value(theta), weight * problem.sft.value(theta) + (1 - weight) * problem.rl.value(theta), atol=1e-9)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda p: gradient_flow(p.rl, np.zeros(2), [-1.0, 0.0]), "times"),
        (lambda p: gradient_flow(p.rl, np.zeros(2), [0.0, 2.0, 1.0]), "times"),
        (lambda p: gradient_flow(p.rl, [np.nan, 0.0], [0.0, 1.0]), "theta0"),
        (lambda p: gradient_descent(p.rl, np.zeros(2), 0.0, 3), "eta"),
        (lambda p: gradient_descent(p.rl, np.zeros(2), 0.1, 2.5), "steps"),
        (lambda p: alternating(p, np.zeros(2), period=0.0, weight=0.5, cycles=2), "period"),
        (lambda p: alternating(p, np.zeros(2), period=1.0, weight=1.5, cycles=2), "weight"),
    ],
)
def test_bad_input_names_the_parameter(call, name):
    problem = random_quadratic_pair(np.random.default_rng(0), 2, "isotropic")
    with pytest.raises(ParameterError, match=name):
        call(problem)
