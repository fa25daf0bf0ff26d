"""X1: QuadraticPair over a batch of instances (what the simulations pass) agrees with one at a time."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nondecoupling import ParameterError
from nondecoupling.interleaving import QuadraticPair
from simulations.problems import pareto_point, random_quadratic_pair


def _psd(rng, batch, dim, rank):
    basis = np.linalg.qr(rng.standard_normal((batch, dim, dim)))[0]
    eigenvalues = np.zeros((batch, dim))
    eigenvalues[:, :rank] = rng.uniform(0.2, 3.0, (batch, rank))
    return np.einsum("bij,bj,bkj->bik", basis, eigenvalues, basis)


@given(seed=st.integers(0, 2**32 - 1), dim=st.integers(2, 4), w=st.floats(0.0, 1.0))
def test_batched_pareto_point_and_excess_match_each_instance(seed, dim, w):
    rng = np.random.default_rng(seed)
    pieces = (_psd(rng, 3, dim, dim - 1), rng.standard_normal((3, dim)), _psd(rng, 3, dim, dim), rng.standard_normal((3, dim)))
    batched = QuadraticPair(*pieces)
    points = batched.pareto_point(w)
    assert points.shape == (3, dim)
    for i in range(3):
        single = QuadraticPair(*(piece[i] for piece in pieces))
        np.testing.assert_allclose(points[i], single.pareto_point(w), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose([e[i] for e in batched.excess(points)], single.excess(points[i]), rtol=1e-10, atol=1e-12)


def test_simulations_use_the_library_pareto_point():
    problem = random_quadratic_pair(np.random.default_rng(0), 3, "anisotropic", batch=4)
    pair = QuadraticPair(problem.sft.matrix, problem.sft.center, problem.rl.matrix, problem.rl.center)
    np.testing.assert_array_equal(pareto_point(problem, 0.3), pair.pareto_point(0.3))


def test_alternating_cycle_wants_one_instance():
    rng = np.random.default_rng(0)
    pair = QuadraticPair(_psd(rng, 2, 3, 3), rng.standard_normal((2, 3)), _psd(rng, 2, 3, 3), rng.standard_normal((2, 3)))
    with pytest.raises(ParameterError, match="one instance"):
        pair.alternating_cycle(0.1, 0.5)
