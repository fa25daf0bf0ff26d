"""Problem families: exact constants, gradients, Hessians, minimizer sets and separations."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nondecoupling import ParameterError
from simulations.problems import (
    SINE_PL_BETA,
    SINE_PL_MU,
    SINE_PL_MU_LITERATURE,
    AffineSet,
    CrossEntropy,
    Quadratic,
    RewardLoss,
    SinePL,
    least_squares,
    random_log_linear,
    random_psd,
    random_quadratic_pair,
    set_distance,
    tabular_policy,
)
from simulations.problems.pair import QUADRATIC_KINDS

seeds = st.integers(0, 2**32 - 1)


def numeric_gradient(f, theta, step=1e-6):
    basis = np.eye(theta.shape[-1])
    return np.stack([(f(theta + step * e) - f(theta - step * e)) / (2 * step) for e in basis], axis=-1)


def test_sine_pl_constants_on_a_dense_grid():
    u = np.linspace(1e-4, 60.0, 2_000_001)
    ratio = (2 * u + 3 * np.sin(2 * u)) ** 2 / (2 * (u**2 + 3 * np.sin(u) ** 2))
    assert ratio.min() >= SINE_PL_MU * (1 - 1e-9)  # mu is a valid PL constant ...
    assert ratio.min() <= SINE_PL_MU * (1 + 1e-6)  # ... and the sharp one
    assert SINE_PL_MU_LITERATURE < SINE_PL_MU  # the literature's 1/32 is valid but loose
    curvature = 2 + 6 * np.cos(2 * u)
    assert np.isclose(np.abs(curvature).max(), SINE_PL_BETA, rtol=1e-9)


@given(seeds, st.sampled_from(QUADRATIC_KINDS), st.integers(2, 6))
def test_quadratic_constants_are_exact(seed, kind, dim):
    rng = np.random.default_rng(seed)
    objective = random_quadratic_pair(rng, dim, kind).sft
    theta = objective.center + rng.standard_normal((64, dim))
    grad = objective.grad(theta)
    excess = objective.excess(theta)
    # PL and smoothness (||grad||^2 <= 2 beta eps) with the stated constants.
    assert np.all(0.5 * np.sum(grad**2, -1) >= objective.mu * excess * (1 - 1e-9))
    assert np.all(np.sum(grad**2, -1) <= 2 * objective.beta * excess * (1 + 1e-9))
    # Both are attained: the constants are exact, not merely valid.
    values = np.linalg.eigvalsh(objective.matrix)
    assert np.isclose(objective.beta, values.max())
    assert np.isclose(objective.mu, values[values > 1e-9 * values.max()].min())
    np.testing.assert_allclose(grad, numeric_gradient(objective.value, theta), rtol=1e-6, atol=1e-6)
    # The minimizer set: every point has value f* and zero gradient.
    point = objective.minimizers.project(theta)
    np.testing.assert_allclose(objective.value(point), objective.minimum, atol=1e-9)
    np.testing.assert_allclose(objective.grad(point), 0.0, atol=1e-9)
    assert np.all(objective.minimizers.dim == np.sum(values <= 1e-9 * values.max()))


@given(seeds, st.lists(st.integers(1, 5), min_size=1, max_size=4))
def test_null_space_projector_of_a_batch_of_ranks(seed, ranks):
    """A batch mixing full-rank and rank-deficient instances: each projector is the one onto
    null(A) from an independent SVD, and it is exactly zero where A has full rank."""
    rng = np.random.default_rng(seed)
    matrices = np.stack([random_psd(rng, 5, mu=0.5, beta=3.0, rank=rank) for rank in ranks])
    projectors = Quadratic(matrices, np.zeros((len(ranks), 5))).minimizers.projector
    for matrix, rank, projector in zip(matrices, ranks, projectors):
        _, _, right = np.linalg.svd(matrix)
        null = right[rank:].T
        np.testing.assert_allclose(projector, null @ null.T, atol=1e-12)
        if rank == 5:
            assert not projector.any()


@given(seeds, st.integers(1, 5))
def test_sine_pl_gradient_hessian_and_pl(seed, dim):
    rng = np.random.default_rng(seed)
    objective = SinePL(rng.standard_normal((8, dim)), rng.uniform(0.5, 2.0, 8))
    theta = objective.center + 4 * rng.standard_normal((8, dim))
    grad = objective.grad(theta)
    np.testing.assert_allclose(grad, numeric_gradient(objective.value, theta), rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(
        objective.hessian(theta), numeric_gradient(objective.grad, theta).swapaxes(-1, -2), rtol=1e-5, atol=1e-4
    )
    assert np.all(0.5 * np.sum(grad**2, -1) >= objective.mu * objective.excess(theta) * (1 - 1e-9))
    assert np.all(np.sum(grad**2, -1) <= 2 * objective.beta * objective.excess(theta) * (1 + 1e-9))


@given(seeds)
def test_policy_gradients_hessian_and_optima(seed):
    rng = np.random.default_rng(seed)
    sft, rl, theta_expert = random_log_linear(rng, prompts=3, responses=4, dim=5, binary=False)
    regularized = RewardLoss(sft.policy, rl.rewards, kl_coef=0.7, reference_probs=rng.dirichlet(np.ones(4), size=3))
    theta = theta_expert + rng.standard_normal((4, 5))
    for objective in (sft, rl, regularized):
        np.testing.assert_allclose(objective.grad(theta), numeric_gradient(objective.value, theta), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(sft.hessian(theta), numeric_gradient(sft.grad, theta).swapaxes(-1, -2), rtol=1e-5, atol=1e-7)
    # L* is attained at the expert's parameters; no policy beats it.
    np.testing.assert_allclose(sft.value(theta_expert), sft.minimum, atol=1e-12)
    assert np.all(sft.value(theta) >= sft.minimum)
    assert np.all(regularized.value(theta) >= regularized.minimum - 1e-12)


@given(seeds)
def test_tabular_regularized_reward_attains_its_minimum_at_the_tilt(seed):
    rng = np.random.default_rng(seed)
    reference, rewards, kl_coef = rng.dirichlet(np.ones(5)), rng.uniform(size=5), rng.uniform(0.1, 2.0)
    objective = RewardLoss(tabular_policy(5), rewards, kl_coef=kl_coef, reference_probs=reference)
    tilt = np.log(reference) + rewards / kl_coef
    np.testing.assert_allclose(objective.value(tilt), objective.minimum, atol=1e-12)
    np.testing.assert_allclose(objective.grad(tilt), 0.0, atol=1e-12)


@given(seeds, st.integers(2, 7))
def test_set_distance_is_the_least_squares_distance(seed, dim):
    rng = np.random.default_rng(seed)
    sets = []
    for _ in range(2):
        basis = rng.standard_normal((dim, int(rng.integers(0, dim))))
        projector = basis @ np.linalg.pinv(basis) if basis.shape[1] else np.zeros((dim, dim))
        sets.append((rng.standard_normal(dim), basis, AffineSet(rng.standard_normal(dim), projector)))
    first, second = sets[0][2], sets[1][2]
    stacked = np.hstack([sets[0][1], -sets[1][1]])
    difference = second.point - first.point
    if stacked.shape[1]:
        difference = difference - stacked @ np.linalg.lstsq(stacked, difference, rcond=None)[0]
    assert np.isclose(set_distance(first, second), np.linalg.norm(difference), atol=1e-9)
    # No pair of points is closer than sep.
    x = first.project(rng.standard_normal(dim))
    y = second.project(rng.standard_normal(dim))
    assert np.linalg.norm(x - y) >= set_distance(first, second) - 1e-9


def test_least_squares_family_is_overparameterized_and_interpolates():
    rng = np.random.default_rng(0)
    design, targets = rng.standard_normal((3, 7)), rng.standard_normal(3)
    objective = least_squares(design, targets)
    assert objective.rank == 3 and objective.minimizers.dim == 4
    np.testing.assert_allclose(design @ objective.center, targets, atol=1e-12)
    assert np.isclose(objective.mu, np.linalg.svd(design, compute_uv=False).min() ** 2 / 3)


def test_separation_of_two_isotropic_quadratics():
    sft = Quadratic(np.eye(3), np.zeros(3))
    rl = Quadratic(2 * np.eye(3), np.array([3.0, 4.0, 0.0]))
    assert np.isclose(set_distance(sft.minimizers, rl.minimizers), 5.0)


@pytest.mark.parametrize(
    "build, name",
    [
        (lambda: Quadratic(np.diag([1.0, -1.0]), np.zeros(2)), "hessian_matrix"),
        (lambda: Quadratic(np.eye(2), np.zeros(3)), "center"),
        (lambda: SinePL(np.zeros(2), scale=-1.0), "scale"),
        (lambda: RewardLoss(tabular_policy(3), [0.0, 2.0, 1.0]), "rewards"),
        (lambda: RewardLoss(tabular_policy(3), [0.0, 1.0, 1.0], kl_coef=1.0), "reference_probs"),
        (lambda: CrossEntropy(tabular_policy(3), [0.5, 0.2, 0.2]), "expert_probs"),
        (lambda: Quadratic(random_psd(np.random.default_rng(0), 3, mu=1.0, beta=2.0), [np.nan] * 3), "center"),
    ],
)
def test_bad_input_names_the_parameter(build, name):
    with pytest.raises(ParameterError, match=name):
        build()
