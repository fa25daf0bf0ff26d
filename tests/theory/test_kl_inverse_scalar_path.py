"""The scalar fast path of kl_inverse_* (Python floats, math) returns bitwise the array path's float."""

import math
from functools import partial

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

import nondecoupling.kl as kl_module
from nondecoupling import kl_inverse_first_lower, kl_inverse_first_upper, kl_inverse_lower, kl_inverse_upper
from nondecoupling.validation import scalar_or_none

FUNCTIONS = {kl_inverse_upper: (True, False), kl_inverse_lower: (False, False),
             kl_inverse_first_upper: (True, True), kl_inverse_first_lower: (False, True)}
SPECIAL_RATES = [0.0, -0.0, 1.0, 5e-324, 1e-310, 2.2250738585072014e-308, 1e-300, 1e-16, 0.5, 1 - 1e-16,
                 1 - 2**-53, 1 - 1e-15]
rates = st.floats(0, 1) | st.sampled_from(SPECIAL_RATES) | st.floats(-300, 0).map(lambda e: 10.0**e) | \
    st.floats(-16, 0).map(lambda e: 1 - 10.0**e)
budgets = st.floats(-300, 3).map(lambda e: 10.0**e) | st.sampled_from([0.0, 1e-300, 5e-324, 1e3, math.inf]) | \
    st.integers(0, 3)


def bits(value) -> int:
    return int(np.array(value, dtype=np.float64).view(np.int64))


@given(rate=rates, budget=budgets)
def test_scalar_path_is_bitwise_the_array_path(rate, budget):
    for function, (upward, first) in FUNCTIONS.items():
        array_value = function(np.array([rate]), np.array([budget]))[0]
        scalar_value = function(rate, budget)
        assert type(scalar_value) is float
        assert bits(scalar_value) == bits(array_value), (function.__name__, rate, budget)
        # The fast path itself, not a fallback to the array path, gave it wherever math could compute it.
        fast = scalar_or_none(partial(kl_module._kl_inverse_scalar, float(rate), float(budget), upward=upward,
                                      first=first))
        event("fast path" if fast is not None else "fallback to the array path")
        assert fast is None or bits(fast) == bits(array_value)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_scalar_path_evaluates_only_the_math_twin(function, monkeypatch):
    """Typical input takes the fast path: kl is evaluated on Python floats only (no array)."""
    arguments = []
    plain_kl = kl_module._kl
    monkeypatch.setattr(kl_module, "_kl", lambda a, b: arguments.append((a, b)) or plain_kl(a, b))
    for rate, budget in [(0.3, 0.1), (1e-200, 1e-3), (0.999, 5), (0.5, 1e-300)]:
        function(rate, budget)
    assert arguments and all(type(a) is float and type(b) is float for a, b in arguments)
