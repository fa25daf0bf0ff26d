"""kl_inverse_* on both paths (the scalar fast path: Python floats, math's kl; the array path: numpy's kl) is on
the band's side by the TRUE kl (mpmath), and within the stated margin of its edge, also on a 4-ulp libm.

The two paths need not return the same float (their kl may differ in the last places, and each search
certifies its answer with its own kl); each is checked against the reference instead.
"""

import math
from functools import partial

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

import nondecoupling.kl as kl_module
from benchmarks.accuracy import inverse_certificate, libm_off_by
from nondecoupling import kl_inverse_first_lower, kl_inverse_first_upper, kl_inverse_lower, kl_inverse_upper
from nondecoupling.kl import KL_RELATIVE_ERROR
from nondecoupling.validation import scalar_or_none

FUNCTIONS = {kl_inverse_upper: (True, False), kl_inverse_lower: (False, False),
             kl_inverse_first_upper: (True, True), kl_inverse_first_lower: (False, True)}
SPECIAL_RATES = [0.0, -0.0, 1.0, 5e-324, 1e-310, 2.2250738585072014e-308, 1e-300, 1e-16, 0.5, 1 - 1e-16,
                 1 - 2**-53, 1 - 1e-15]
rates = st.floats(0, 1) | st.sampled_from(SPECIAL_RATES) | st.floats(-300, 0).map(lambda e: 10.0**e) | \
    st.floats(-16, 0).map(lambda e: 1 - 10.0**e)
budgets = st.floats(-300, 3).map(lambda e: 10.0**e) | st.sampled_from([0.0, 1e-300, 5e-324, 1e3, math.inf]) | \
    st.integers(0, 3)


#: The next float outward has a TRUE kl at least budget (1 - 2 rho - 2 eps) (kl.py's _certified_level).
MAX_OUTWARD_GAP_EPS = 2 * KL_RELATIVE_ERROR / 2.0**-52 + 2


def assert_certified(function, rate, budget, got):
    """TRUE kl of ``got`` within the budget; the next float outward beyond budget (1 - 2 rho - 2 eps)."""
    inside, gap = inverse_certificate(function.__name__, float(rate), float(budget), float(got))
    assert inside, (function.__name__, rate, budget, got)
    assert gap <= MAX_OUTWARD_GAP_EPS, (function.__name__, rate, budget, got, gap)


def both_paths(function, rate, budget):
    return function(rate, budget), function(np.array([rate]), np.array([budget]))[0]


@given(rate=rates, budget=budgets)
def test_both_paths_are_on_the_bands_side_by_the_reference(rate, budget):
    for function, (upward, first) in FUNCTIONS.items():
        scalar_value, array_value = both_paths(function, rate, budget)
        assert type(scalar_value) is float
        for value in (scalar_value, array_value):
            assert_certified(function, rate, budget, value)
        # The fast path itself, not a fallback to the array path, gave it wherever math could compute it.
        fast = scalar_or_none(partial(kl_module._kl_inverse_scalar, float(rate), float(budget), upward=upward,
                                      first=first))
        event("fast path" if fast is not None else "fallback to the array path")
        assert fast is None or fast == scalar_value


@pytest.mark.parametrize(("rate", "budget"), [(0.25, 3), (0.3, 0.1), (1e-200, 1e-3), (0.999, 5), (0.5, 1e-300)])
def test_the_pair_where_the_paths_differed_is_certified_on_both(rate, budget):
    # kl_inverse_lower(0.25, 3): the two paths one ulp apart on an AVX-512 machine (issue 20).
    for function in FUNCTIONS:
        for value in both_paths(function, rate, budget):
            assert_certified(function, rate, budget, value)


@given(seed=st.integers(0, 2**32 - 1), rate=rates, budget=budgets)
def test_a_libm_four_ulps_off_keeps_the_answers_in_the_band(seed, rate, budget):
    rng = np.random.default_rng(seed)
    with libm_off_by(4, rng):
        answers = {function: both_paths(function, rate, budget) for function in FUNCTIONS}
    for function, values in answers.items():
        for value in values:
            assert_certified(function, rate, budget, value)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_scalar_path_evaluates_only_the_math_twin(function, monkeypatch):
    """Typical input takes the fast path: kl is evaluated on Python floats only (no array)."""
    arguments = []
    plain_kl = kl_module._kl
    monkeypatch.setattr(kl_module, "_kl", lambda a, b: arguments.append((a, b)) or plain_kl(a, b))
    for rate, budget in [(0.3, 0.1), (1e-200, 1e-3), (0.999, 5), (0.5, 1e-300)]:
        function(rate, budget)
    assert arguments and all(type(a) is float and type(b) is float for a, b in arguments)
