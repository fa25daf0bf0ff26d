"""S1: curvature bracket, misalignment bound and Kantorovich bound from the spectrum of H."""

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nondecoupling import ParameterError, curvature_bracket, kantorovich_bound, misalignment_bound
from nondecoupling.derivations.s1_spectral_concentration import derive

seeds = st.integers(0, 2**32 - 1)


def theory_bracket(eigs_desc, rho, k):
    """THEORY.md S1 (a), with lam_{d+1} = 0."""
    padded = list(eigs_desc) + [0.0]
    return padded[k - 1] * rho, padded[0] * rho + padded[k] * (1 - rho)


def theory_misalignment(eigs_desc, rho, k):
    """THEORY.md S1 (b)."""
    padded = list(eigs_desc) + [0.0]
    return padded[k - 1] * rho / math.sqrt(padded[0] ** 2 * rho + padded[k] ** 2 * (1 - rho))


def random_instance(seed):
    """A random PSD Hessian (possibly singular, possibly repeated eigenvalues) and gradient."""
    rng = np.random.default_rng(seed)
    dim = int(rng.integers(1, 7))
    eigs = rng.exponential(1.0, dim) * 10.0 ** rng.uniform(-2, 2)
    eigs[rng.random(dim) < 0.2] = 0.0
    if dim > 1 and rng.random() < 0.2:
        eigs[1] = eigs[0]
    basis, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    order = np.argsort(-eigs)
    eigs, basis = eigs[order], basis[:, order]
    grad = rng.standard_normal(dim) * 10.0 ** rng.uniform(-3, 3)
    hess = basis @ np.diag(eigs) @ basis.T
    return rng, eigs, basis, hess, grad


def measured(hess, grad):
    """(g^T H g/|g|^2, m = g^T H g/(|H g| |g|)) computed directly from the matrix."""
    quotient = grad @ hess @ grad / (grad @ grad)
    hg = np.linalg.norm(hess @ grad)
    return quotient, (grad @ hess @ grad / (hg * np.linalg.norm(grad)) if hg > 0 else math.nan)


def test_s1_derivation_is_proven():
    derivation = derive()
    assert derivation.proven, str(derivation)


@given(seed=seeds)
def test_s1_functions_match_theory_formulas(seed):
    rng = np.random.default_rng(seed)
    dim = int(rng.integers(1, 8))
    eigs = np.sort(rng.uniform(0, 5, dim))[::-1]
    rho, k = float(rng.uniform(0, 1)), int(rng.integers(1, dim + 1))
    lower, upper = curvature_bracket(rng.permutation(eigs), rho, k)
    want_lower, want_upper = theory_bracket(eigs, rho, k)
    assert isinstance(lower, float) and isinstance(upper, float)
    assert lower == pytest.approx(want_lower, rel=1e-9, abs=1e-300)
    assert upper == pytest.approx(want_upper, rel=1e-9, abs=1e-300)
    assert misalignment_bound(eigs, rho, k) == pytest.approx(theory_misalignment(eigs, rho, k), rel=1e-9)
    m_lo, m_hi = rng.uniform(0.01, 10, 2)
    assert kantorovich_bound(m_lo, m_hi) == pytest.approx(2 * math.sqrt(m_lo * m_hi) / (m_lo + m_hi), rel=1e-12)


@given(seed=seeds)
def test_s1_bounds_hold_on_random_hessians_and_gradients(seed):
    _, eigs, basis, hess, grad = random_instance(seed)
    weights = (basis.T @ grad) ** 2 / (grad @ grad)
    quotient, cosine = measured(hess, grad)
    for k in range(1, len(eigs) + 1):
        rho = min(1.0, weights[:k].sum())
        lower, upper = curvature_bracket(eigs, rho, k)
        scale = eigs[0] * 1e-9 + 1e-300
        assert lower - scale <= quotient <= upper + scale
        bound = misalignment_bound(eigs, rho, k)
        assert 0.0 <= bound <= 1.0 + 1e-12
        if not math.isnan(cosine):
            assert bound <= cosine + 1e-9


@given(seed=seeds)
def test_s1_tight_for_eigenvector_gradients(seed):
    rng, eigs, basis, hess, _ = random_instance(seed)
    k = int(rng.integers(1, len(eigs) + 1))
    # g = u_k: rho_k = 1, the Rayleigh quotient is lam_k, the left side of (a).
    quotient, _ = measured(hess, basis[:, k - 1])
    assert curvature_bracket(eigs, 1.0, k)[0] == pytest.approx(quotient, rel=1e-9, abs=1e-12 * eigs[0] + 1e-300)
    # g = u_1: the right side of (a) for every k, and the bound (b) with k = 1 is m = 1.
    quotient, cosine = measured(hess, basis[:, 0])
    assert curvature_bracket(eigs, 1.0, k)[1] == pytest.approx(quotient, rel=1e-9, abs=1e-12 * eigs[0] + 1e-300)
    if eigs[0] > 0:
        assert misalignment_bound(eigs, 1.0, 1) == pytest.approx(cosine, rel=1e-9)


@given(seed=seeds)
def test_s1_kantorovich_holds_in_the_band_and_is_attained(seed):
    rng, eigs, basis, hess, _ = random_instance(seed)
    positive = np.flatnonzero(eigs > 0)
    if positive.size == 0:
        return
    band = rng.choice(positive, size=rng.integers(1, positive.size + 1), replace=False)
    m_lo, m_hi = eigs[band].min(), eigs[band].max()
    grad = basis[:, band] @ rng.standard_normal(band.size)
    _, cosine = measured(hess, grad)
    assert cosine >= kantorovich_bound(m_lo, m_hi) - 1e-9
    # Attained: g = sqrt(m_hi) u_lo + sqrt(m_lo) u_hi.
    lo, hi = band[np.argmin(eigs[band])], band[np.argmax(eigs[band])]
    if lo != hi:
        _, cosine = measured(hess, math.sqrt(m_hi) * basis[:, lo] + math.sqrt(m_lo) * basis[:, hi])
        assert kantorovich_bound(m_hi, m_lo) == pytest.approx(cosine, rel=1e-9)


def test_s1_kantorovich_is_one_only_on_a_single_eigenvalue():
    assert kantorovich_bound(2.5, 2.5) == 1.0
    assert kantorovich_bound(1.0, 4.0) == pytest.approx(0.8, rel=1e-15)


@pytest.mark.parametrize(("m_lo", "m_hi"), [(1e-300, 1e300), (1.0, 1.0 + 1e-12), (3e-8, 7e5)])
def test_s1_kantorovich_accurate_at_extremes(m_lo, m_hi):
    with mpmath.workdps(50):
        exact = 2 * mpmath.sqrt(mpmath.mpf(m_lo) * mpmath.mpf(m_hi)) / (mpmath.mpf(m_lo) + mpmath.mpf(m_hi))
    assert kantorovich_bound(m_lo, m_hi) == pytest.approx(float(exact), rel=1e-14)


def test_s1_degenerate_spectrum_gives_the_trivial_bound():
    # H = 0, or all of g outside the top-k space with lam_{k+1} = 0: the bound reads 0/0.
    assert misalignment_bound([0.0, 0.0], 0.3, 1) == 0.0
    assert misalignment_bound([2.0, 0.0], 0.0, 1) == 0.0
    assert curvature_bracket([0.0, 0.0, 0.0], 0.5, 3) == (0.0, 0.0)


def test_s1_broadcasting():
    eigs = np.array([[3.0, 2.0, 1.0, 0.5], [4.0, 0.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    rho = np.array([0.2, 0.5, 0.9])
    lower, upper = curvature_bracket(eigs, rho, 2)
    assert lower.shape == upper.shape == (3,)
    assert (lower[1], upper[1]) == curvature_bracket(eigs[1], 0.5, 2)
    per_k = misalignment_bound(eigs[0], 0.4, np.array([1, 2, 3, 4]))
    assert per_k.shape == (4,)
    assert per_k[2] == misalignment_bound(eigs[0], 0.4, 3)
    grid = misalignment_bound(eigs, np.array([[0.1], [0.7]]), 1)
    assert grid.shape == (2, 3)
    assert grid[1, 0] == misalignment_bound(eigs[0], 0.7, 1)
    assert kantorovich_bound([1.0, 2.0], [[4.0], [2.0]]).shape == (2, 2)


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (([1.0, -0.5], 0.5, 1), "eigs"),
        (([1.0, float("nan")], 0.5, 1), "eigs"),
        (([1.0, float("inf")], 0.5, 1), "eigs"),
        (([1.0, 0.5], 1.5, 1), "rho"),
        (([1.0, 0.5], -0.1, 1), "rho"),
        (([1.0, 0.5], float("nan"), 1), "rho"),
        (([1.0, 0.5], 0.5, 0), "k"),
        (([1.0, 0.5], 0.5, 3), "k"),
        (([1.0, 0.5], 0.5, 1.5), "k"),
    ],
)
@pytest.mark.parametrize("function", [curvature_bracket, misalignment_bound])
def test_s1_spectral_functions_reject_bad_input(function, args, name):
    with pytest.raises(ParameterError) as err:
        function(*args)
    assert err.value.name == name
    assert function.__name__ in str(err.value)


@pytest.mark.parametrize(
    ("args", "name"),
    [((0.0, 1.0), "m_lo"), ((-1.0, 1.0), "m_lo"), ((1.0, 0.0), "m_hi"), ((1.0, float("nan")), "m_hi")],
)
def test_s1_kantorovich_rejects_bad_input(args, name):
    with pytest.raises(ParameterError) as err:
        kantorovich_bound(*args)
    assert err.value.name == name
