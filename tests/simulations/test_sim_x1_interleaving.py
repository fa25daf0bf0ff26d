"""X1: alternation tracks the joint flow to O(tau); the quadratic cycle sits O(tau) from argmin F_w."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from simulations.checks._common import PL_FAMILIES, random_pair
from simulations.checks.x1_interleaving import cycle_fixed_point, cycle_offset, distance_to_joint, fitted_slope, pareto_plane
from simulations.dynamics import alternating
from simulations.problems import random_quadratic_pair

seeds = st.integers(0, 2**32 - 1)
PERIODS = np.array([0.4, 0.2, 0.1])


@given(seed=seeds, family=st.sampled_from(PL_FAMILIES), weight=st.floats(0.1, 0.9))
def test_alternation_approaches_the_joint_flow_linearly_in_tau(seed, family, weight):
    rng = np.random.default_rng(seed)
    problem = random_pair(rng, family, dim=3, batch=4)
    theta0 = rng.standard_normal((4, 3))
    # Lie-Trotter is asymptotic in tau * beta: the periods are set against the stiffest curvature.
    scale = 1.0 / max(np.max(problem.sft.beta), np.max(problem.rl.beta))
    distances = distance_to_joint(problem, theta0, weight=weight, periods=scale * PERIODS / 2, horizon=4.0 * scale)
    slope = fitted_slope(PERIODS, distances.max(axis=1))
    assert 0.8 <= slope <= 1.2


@given(seed=seeds, kind=st.sampled_from(["isotropic", "anisotropic", "rank_deficient", "least_squares"]), weight=st.floats(0.2, 0.8))
def test_quadratic_cycle_is_within_order_tau_of_the_pareto_point(seed, kind, weight):
    rng = np.random.default_rng(seed)
    problem = random_quadratic_pair(rng, 3, kind)
    scale = 1.0 / max(problem.sft.beta, problem.rl.beta)
    offsets = cycle_offset(problem, weight=weight, periods=scale * PERIODS / 4)
    assert 0.9 <= float(fitted_slope(PERIODS, offsets)) <= 1.1
    # The fixed point really is the limit cycle: running the alternation from it returns to it.
    start = cycle_fixed_point(problem, weight=weight, period=scale * PERIODS[0])
    again = alternating(problem, start, period=scale * PERIODS[0], weight=weight, cycles=3, points=2).final
    np.testing.assert_allclose(again, start, atol=1e-9 * max(1.0, np.linalg.norm(start)))


def test_sequential_lands_on_the_worst_sft_corner_of_the_front():
    problem = random_quadratic_pair(np.random.default_rng(0), 3, "anisotropic")
    plane = pareto_plane(problem, np.zeros(3), weights=np.linspace(0.0, 1.0, 6), periods=(0.5,), long_time=400.0)
    eps_front, delta_front = plane["front"].T
    assert np.all(np.diff(eps_front) <= 1e-12) and np.all(np.diff(delta_front) >= -1e-12)  # a trade-off curve
    np.testing.assert_allclose(plane["sequential"], plane["front"][0], atol=1e-9)
    np.testing.assert_allclose(plane["joint"], plane["front"], atol=1e-9)  # the joint flow ends on the front


def test_a_wrong_rate_is_caught():
    problem = random_quadratic_pair(np.random.default_rng(1), 3, "anisotropic")
    offsets = cycle_offset(problem, weight=0.5, periods=PERIODS / 100)
    slope = float(fitted_slope(PERIODS, offsets))
    # The offset is O(tau) and no better: a claimed O(tau^{1.01}) or O(tau^2) rate is refuted.
    assert abs(slope - 1.0) < 0.005
    assert np.all(offsets > 0)
