"""V2's band {x : kl(x||rate) <= budget}: the inverse of kl in its FIRST argument, certified by mpmath."""

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given

from nondecoupling import ParameterError, kl_bernoulli, kl_inverse_first_lower, kl_inverse_first_upper
from tests.theory.test_k3_reward_ceiling import pairs, reference_kl
from tests.theory.test_kl_inverse_scalar_path import assert_certified


def assert_first_root_within(rate, budget, got, upward):
    """kl(.||rate) is monotone on each side of rate: mpmath just inside and outside the band brackets the root."""
    with mp.workdps(350):
        tolerance = 1e-12 * abs(mp.mpf(got) - rate) + 2 * mp.mpf(float(np.spacing(got))) + mp.mpf(1e-320)
        step = tolerance if upward else -tolerance
        inside, outside = mp.mpf(got) - step, mp.mpf(got) + step
        if (inside - rate) * step > 0:
            assert reference_kl(inside, rate) <= budget
        if 0 <= outside <= 1:
            assert reference_kl(outside, rate) >= budget


@given(pairs=pairs)
def test_band_ends_in_the_first_argument(pairs):
    rate, budget = pairs
    upper, lower = kl_inverse_first_upper(rate, budget), kl_inverse_first_lower(rate, budget)
    assert np.all((lower <= rate) & (rate <= upper))
    radius = np.sqrt(budget / 2)
    assert np.all(upper - rate <= radius * (1 + 1e-15)) and np.all(rate - lower <= radius * (1 + 1e-15))
    assert np.all(kl_bernoulli(upper, rate) <= budget) and np.all(kl_bernoulli(lower, rate) <= budget)
    for k in np.flatnonzero((budget > 0) & np.isfinite(budget)):
        # On the band's side by the TRUE kl, the next float (nearly) outside, on both paths.
        for inverse, end in ((kl_inverse_first_upper, upper[k]), (kl_inverse_first_lower, lower[k])):
            assert_certified(inverse, rate[k], budget[k], end)
            assert_certified(inverse, rate[k], budget[k], inverse(float(rate[k]), float(budget[k])))
        if upper[k] < 1:
            assert_first_root_within(rate[k], budget[k], upper[k], upward=True)
        if lower[k] > 0:
            assert_first_root_within(rate[k], budget[k], lower[k], upward=False)


def test_differs_from_the_second_argument_inverse():
    # kl(x||0.3) <= 0.1 and kl(0.3||x) <= 0.1 are different bands (kl is not symmetric).
    from nondecoupling import kl_inverse_upper

    first, second = kl_inverse_first_upper(0.3, 0.1), kl_inverse_upper(0.3, 0.1)
    with mp.workdps(50):
        root = mp.findroot(lambda x: x * mp.log(x / 0.3) + (1 - x) * mp.log((1 - x) / 0.7) - 0.1, 0.5)
    assert first == pytest.approx(float(root), rel=1e-15)
    assert abs(first - second) > 1e-3


def test_edges_in_closed_form():
    budget = np.logspace(-300, 3, 607)
    # kl(1||rate) = -log rate: the band reaches 1 exactly when rate >= exp(-budget).
    budget_ = budget[(budget > 1e-10) & (budget < 700)]  # exp(-budget) a normal float, 1 - it below 1
    # (1 + 1e-10): kl(1||rate) = budget - 1e-10 is within the budget by far more than the margin 2 rho budget.
    rate = np.minimum(np.exp(-budget_) * (1 + 1e-10), 1.0)
    assert np.all(kl_inverse_first_upper(rate, budget_) == 1.0)
    # kl(0||rate) = -log(1 - rate); 1 - rate rounds, so keep exp(-budget) well above that rounding.
    complement = np.minimum(np.exp(-budget_) * (1 + 1e-6), 1.0)[budget_ < 10]
    assert np.all(kl_inverse_first_lower(1 - complement, budget_[budget_ < 10]) == 0.0)
    # Just outside: the band stops short of the edge.
    assert np.all(kl_inverse_first_upper(np.exp(-budget_) * (1 - 1e-9), budget_) < 1.0)
    # rate 0 or 1: every other x diverges, the band is the point itself.
    np.testing.assert_array_equal(kl_inverse_first_upper(0.0, budget), 0.0)
    np.testing.assert_array_equal(kl_inverse_first_lower(1.0, budget), 1.0)
    # An infinite budget admits every x, even an infinite divergence.
    np.testing.assert_array_equal(kl_inverse_first_upper([0.2, 0.0], np.inf), [1.0, 1.0])
    np.testing.assert_array_equal(kl_inverse_first_lower([0.2, 1.0], np.inf), [0.0, 0.0])


@pytest.mark.parametrize("name, rate, budget", [("rate", 1.2, 0.1), ("rate", np.nan, 0.1), ("budget", 0.3, -1e-9)])
@pytest.mark.parametrize("inverse", [kl_inverse_first_upper, kl_inverse_first_lower])
def test_invalid_input_names_the_parameter(inverse, name, rate, budget):
    with pytest.raises(ParameterError, match=f"'{name}'"):
        inverse(rate, budget)
