"""X1: Lie-Trotter order, the Pareto front against scipy.optimize, and the alternating cycle."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.linalg import expm
from scipy.optimize import minimize

from nondecoupling import ParameterError
from nondecoupling.derivations import x1_interleaving
from nondecoupling.interleaving import QuadraticPair


def _spd(rng, dim, floor=0.2):
    basis = np.linalg.qr(rng.standard_normal((dim, dim)))[0]
    return basis @ np.diag(rng.uniform(floor, 3.0, dim)) @ basis.T


def _pair(seed, dim):
    rng = np.random.default_rng(seed)
    return QuadraticPair(sft_hessian=_spd(rng, dim), sft_minimizer=rng.standard_normal(dim),
                         rl_hessian=_spd(rng, dim), rl_minimizer=rng.standard_normal(dim))


def _expm_symmetric(matrices):
    """exp of a stack of symmetric matrices through eigh (scipy's expm is slow on tiny stacks)."""
    eigenvalues, basis = np.linalg.eigh(matrices)
    return (basis * np.exp(eigenvalues)[..., None, :]) @ np.swapaxes(basis, -1, -2)


def _log_log_slope(taus, errors):
    return np.polyfit(np.log(taus), np.log(errors), 1)[0]


seeds = st.integers(0, 2**32 - 1)
dims = st.integers(2, 5)
weights = st.floats(0.05, 0.95)


def test_derivation_is_proven():
    assert x1_interleaving.derive().proven


@given(seed=seeds, dim=dims, w=weights)
def test_trotter_error_is_second_order_with_the_commutator(seed, dim, w):
    pair = _pair(seed, dim)
    A, B = pair.sft_hessian, pair.rl_hessian
    commutator = B @ A - A @ B
    taus = np.geomspace(1e-3, 1e-2, 5)
    scaled = taus[:, None, None]
    split = _expm_symmetric(-(1 - w) * scaled * B) @ _expm_symmetric(-w * scaled * A)
    errors = np.linalg.norm(split - _expm_symmetric(-scaled * (w * A + (1 - w) * B)), axis=(1, 2))
    assert 1.95 < _log_log_slope(taus, errors) < 2.05
    # Tight: error / tau^2 -> w (1 - w) / 2 ||[B, A]||.
    leading = w * (1 - w) / 2 * np.linalg.norm(commutator)
    assert errors[0] / taus[0] ** 2 == pytest.approx(leading, rel=0.02)


def test_trotter_is_exact_for_commuting_hessians():
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    A, B = (basis @ np.diag(rng.uniform(0.2, 3, 3)) @ basis.T for _ in range(2))
    split = expm(-0.7 * 0.5 * B) @ expm(-0.3 * 0.5 * A)
    np.testing.assert_allclose(split, expm(-0.5 * (0.3 * A + 0.7 * B)), atol=1e-14)


@given(seed=seeds, dim=dims, w=st.floats(0, 1))
def test_front_minimizes_the_joint_objective(seed, dim, w):
    pair = _pair(seed, dim)
    theta = pair.pareto_point(w)
    a, b, A, B = pair.sft_minimizer, pair.rl_minimizer, pair.sft_hessian, pair.rl_hessian
    gradient = w * A @ (theta - a) + (1 - w) * B @ (theta - b)
    assert np.linalg.norm(gradient) <= 1e-12 * (1 + np.linalg.norm(A) + np.linalg.norm(B))

    def joint(x):
        return w * 0.5 * (x - a) @ A @ (x - a) + (1 - w) * 0.5 * (x - b) @ B @ (x - b)

    def joint_gradient(x):
        return w * A @ (x - a) + (1 - w) * B @ (x - b)

    found = minimize(joint, np.zeros(dim), jac=joint_gradient, method="BFGS", options={"gtol": 1e-12}).x
    np.testing.assert_allclose(theta, found, atol=1e-7)


@given(seed=seeds, dim=dims)
def test_sequential_lands_on_the_worst_sft_corner(seed, dim):
    pair = _pair(seed, dim)
    a, b, B = pair.sft_minimizer, pair.rl_minimizer, pair.rl_hessian
    after_rl = b + expm(-400.0 * B) @ (a - b)  # RL flow from the SFT optimum, run to convergence
    np.testing.assert_allclose(after_rl, pair.pareto_point(0.0), atol=1e-10)
    sft_excess = pair.excess(pair.pareto_point(np.linspace(0, 1, 41)))[0]
    assert np.all(np.diff(sft_excess) <= 1e-12)  # SFT excess falls along the front as w rises


@given(seed=seeds, dim=dims, w=weights)
def test_alternating_cycle_is_the_limit_and_within_order_tau_of_the_front(seed, dim, w):
    pair = _pair(seed, dim)
    a, b, A, B = pair.sft_minimizer, pair.rl_minimizer, pair.sft_hessian, pair.rl_hessian
    tau = 1.0
    sft_step, rl_step = expm(-w * tau * A), expm(-(1 - w) * tau * B)
    theta = a.copy()
    for _ in range(200):  # run the alternation itself (contracts by <= e^{-0.2} per cycle)
        after_sft = a + sft_step @ (theta - a)
        theta = b + rl_step @ (after_sft - b)
    corners = pair.alternating_cycle(tau, w)
    np.testing.assert_allclose(corners[0], after_sft, atol=1e-9)
    np.testing.assert_allclose(corners[1], theta, atol=1e-9)

    taus = np.geomspace(1e-4, 1e-3, 4)
    front = pair.pareto_point(w)
    distances = np.linalg.norm(pair.alternating_cycle(taus, w)[1] - front, axis=-1)
    assert 0.97 < _log_log_slope(taus, distances) < 1.03


@given(alpha=st.floats(0.1, 5), beta=st.floats(0.1, 5), w=weights, a=st.floats(-2, 2), b=st.floats(-2, 2))
def test_one_dimensional_cycle_slope_matches_the_derivation(alpha, beta, w, a, b):
    pair = QuadraticPair(sft_hessian=[[alpha]], sft_minimizer=[a], rl_hessian=[[beta]], rl_minimizer=[b])
    # corner after RL = theta(w) + tau alpha beta w (1 - w)(b - a) / (2 (w alpha + (1 - w) beta)) + O(tau^2)
    slope = alpha * beta * w * (1 - w) * (b - a) / (2 * (w * alpha + (1 - w) * beta))
    tau = 1e-4
    after_sft, after_rl = pair.alternating_cycle(tau, w)
    front = pair.pareto_point(w)[0]
    second_order = tau**2 * (alpha + beta) ** 2 * abs(b - a) + 1e-13
    assert after_rl[0] - front == pytest.approx(tau * slope, abs=second_order)
    assert after_sft[0] - front == pytest.approx(-tau * slope, abs=second_order)


@pytest.mark.parametrize("kwargs, name, constraint", [
    (dict(sft_hessian=[[1.0, 2.0], [0.0, 1.0]]), "sft_hessian", "symmetric"),
    (dict(rl_hessian=[[1.0, 0.0], [0.0, -1.0]]), "rl_hessian", "positive semidefinite"),
    (dict(rl_minimizer=[0.0, 0.0, 0.0]), "rl_minimizer", "a vector of length d = 2"),
    (dict(sft_minimizer=[np.nan, 0.0]), "sft_minimizer", "a number"),
])
def test_invalid_quadratics_name_the_parameter(kwargs, name, constraint):
    base = dict(sft_hessian=np.eye(2), sft_minimizer=[0.0, 0.0], rl_hessian=np.eye(2), rl_minimizer=[1.0, 1.0])
    with pytest.raises(ParameterError, match=re.escape(f"parameter '{name}' must be {constraint}")):
        QuadraticPair(**{**base, **kwargs})


def test_invalid_schedule_names_the_parameter():
    pair = QuadraticPair(sft_hessian=np.eye(2), sft_minimizer=[0.0, 0.0],
                         rl_hessian=np.diag([1.0, 0.0]), rl_minimizer=[1.0, 1.0])
    with pytest.raises(ParameterError, match="'w'"):
        pair.pareto_point(1.5)
    with pytest.raises(ParameterError, match="'tau'"):
        pair.alternating_cycle(0.0, 0.5)
    with pytest.raises(ParameterError, match="smallest eigenvalue"):
        pair.alternating_cycle(0.1, 0.0)  # w = 0 leaves only the singular RL Hessian
