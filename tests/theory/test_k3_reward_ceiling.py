"""K3: the pass-rate band {b : kl(a||b) <= budget}, certified by mpmath, Pinsker and its limits."""

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nondecoupling import ParameterError, kl_bernoulli, kl_inverse_lower, kl_inverse_upper
from nondecoupling.derivations import k3_reward_ceiling
from nondecoupling.kl import KL_RELATIVE_ERROR
from tests.theory.test_kl_inverse_scalar_path import assert_certified

NEAR_EDGES = [1e-15 * k for k in (0.1, 0.5, 1.0)] + [1 - 1e-15 * k for k in (0.1, 0.5, 1.0)]
rates = st.floats(0, 1) | st.sampled_from([0.0, 1.0, 0.5, *NEAR_EDGES])
budgets = st.floats(-300, 3).map(lambda e: 10.0**e) | st.sampled_from([0.0, np.inf])
# Many (a, budget) pairs per example: the functions are vectorized, the call overhead is not.
pairs = st.lists(st.tuples(rates, budgets), min_size=1, max_size=20).map(lambda x: np.array(x).T)


def reference_kl(a, b):
    """kl(a||b) at 350 digits (b - a can be 1e-150), +inf outside (0, 1)."""
    with mp.workdps(350):
        a, b = mp.mpf(a), mp.mpf(b)
        if b == a:
            return mp.mpf(0)
        if not 0 < b < 1:
            return mp.inf
        first = 0 if a == 0 else a * mp.log(a / b)
        second = 0 if a == 1 else (1 - a) * mp.log((1 - a) / (1 - b))
        return first + second


def assert_root_within(a, budget, got, upward):
    """Certify that the exact root of kl(a||b) = budget lies within the claimed accuracy of got.

    kl(a||.) is monotone on each side of a, so evaluating it (in mpmath) just inside and just
    outside the tolerance band brackets the root: no reference solver needed.
    """
    with mp.workdps(350):
        tolerance = 1e-12 * abs(mp.mpf(got) - a) + 2 * mp.mpf(float(np.spacing(got))) + mp.mpf(1e-320)
        step = tolerance if upward else -tolerance
        inside, outside = mp.mpf(got) - step, mp.mpf(got) + step
        if (inside - a) * step > 0:  # the band does not reach back to a
            assert reference_kl(a, inside) <= budget
        assert reference_kl(a, outside) >= budget


def test_derivation_is_proven():
    assert k3_reward_ceiling.derive().proven


@given(pairs=pairs)
def test_band_ends(pairs):
    a, budget = pairs
    upper, lower = kl_inverse_upper(a, budget), kl_inverse_lower(a, budget)
    # The band contains a; Pinsker bounds its half-widths.
    assert np.all((lower <= a) & (a <= upper))
    radius = np.sqrt(budget / 2)
    assert np.all(upper - a <= radius * (1 + 1e-15)) and np.all(a - lower <= radius * (1 + 1e-15))
    # Each end is on the band's side by the TRUE kl and the next float is (nearly) outside, within the stated
    # margin of the computed kl's error (tests/theory/test_kl_inverse_scalar_path.py); 50+ digits agree on the root.
    assert np.all(kl_bernoulli(a, upper) <= budget) and np.all(kl_bernoulli(a, lower) <= budget)
    zero = budget == 0
    np.testing.assert_array_equal(upper[zero], a[zero])
    np.testing.assert_array_equal(lower[zero], a[zero])
    for k in np.flatnonzero(~zero & np.isfinite(budget)):
        assert_certified(kl_inverse_upper, a[k], budget[k], upper[k])
        assert_certified(kl_inverse_lower, a[k], budget[k], lower[k])
        if upper[k] < 1:
            assert_root_within(a[k], budget[k], upper[k], upward=True)
        if lower[k] > 0:
            assert_root_within(a[k], budget[k], lower[k], upward=False)


def test_infinite_budget_and_edge_rates():
    a = np.array([0.0, 0.3, 1.0])
    np.testing.assert_array_equal(kl_inverse_upper(a, np.inf), [1, 1, 1])
    np.testing.assert_array_equal(kl_inverse_lower(a, np.inf), [0, 0, 0])
    np.testing.assert_array_equal(kl_inverse_upper(1.0, [0.1, 10.0]), [1, 1])
    np.testing.assert_array_equal(kl_inverse_lower(0.0, [0.1, 10.0]), [0, 0])


@pytest.mark.parametrize("budget", [1e-6, 1e-10, 1e-14])
def test_pinsker_is_tight_at_one_half(budget):
    # kl(1/2 || 1/2 + d) = 2 d^2 + O(d^4): the bound is attained as the budget vanishes.
    radius = np.sqrt(budget / 2)
    grid = 2 * np.spacing(0.5) / radius  # the answer is a float: relative resolution ulp / radius
    assert (kl_inverse_upper(0.5, budget) - 0.5) / radius == pytest.approx(1, abs=budget + grid)


@pytest.mark.parametrize("budget", [1e-12, 1e-18, 1e-24])
def test_band_shrinks_like_sqrt_of_budget(budget):
    a = np.linspace(1e-3, 1 - 1e-3, 301)
    local = np.sqrt(2 * a * (1 - a) * budget)
    # kl(a||a+d) = d^2/(2a(1-a)) + O(d^3): the half-widths are local * (1 + O(d/(a(1-a)))).
    tolerance = 5 * local / (a * (1 - a)) + 2 * np.spacing(a) / local
    for half_width in (kl_inverse_upper(a, budget) - a, a - kl_inverse_lower(a, budget)):
        assert np.all(np.abs(half_width / local - 1) <= tolerance)


def test_edges_in_closed_form():
    budget = np.logspace(-300, 3, 607)
    # The answers' kl may fall short of the budget by the margin 2 rho (kl.py's _certified_level), which moves
    # 1 - e^{-budget} by up to 2 rho relative and e^{-budget} by 2 rho budget relative.
    margin = 2 * KL_RELATIVE_ERROR
    np.testing.assert_allclose(kl_inverse_upper(0.0, budget), -np.expm1(-budget), rtol=margin + 1e-14, atol=0)
    # exp(-budget) is itself rounded: compare against the float grid around it.
    expected = np.exp(-budget)
    assert np.all(np.abs(kl_inverse_lower(1.0, budget) - expected) <= (2e-13 + margin * budget) * expected + 1e-320)


@given(a=st.floats(0.01, 0.9), gain=st.floats(1e-4, 0.09))
def test_sft_pulls_an_rl_gain_back(a, gain):
    rl_rate = a + gain
    budget = kl_bernoulli(a, rl_rate) * np.array([1.01, 0.99, 1e-3])
    np.testing.assert_array_equal(kl_inverse_upper(a, budget) >= rl_rate, [True, False, False])


def test_broadcasting_and_monotone_in_budget():
    budget = np.logspace(-8, 2, 7)
    upper = kl_inverse_upper(np.full((3, 1), 0.4), budget)
    assert upper.shape == (3, 7) and np.all(np.diff(upper, axis=1) > 0)
    assert np.all(np.diff(kl_inverse_lower(0.4, budget)) < 0)
    assert isinstance(kl_inverse_lower(0.4, 0.1), float)


@pytest.mark.parametrize("name, a, budget", [("a", 1.2, 0.1), ("a", np.nan, 0.1), ("budget", 0.3, -1e-9),
                                             ("budget", 0.3, np.nan)])
@pytest.mark.parametrize("inverse", [kl_inverse_upper, kl_inverse_lower])
def test_invalid_input_names_the_parameter(inverse, name, a, budget):
    with pytest.raises(ParameterError, match=f"'{name}'"):
        inverse(a, budget)
