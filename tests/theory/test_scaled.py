"""The scalar scaled product: its plain-product shortcut is bitwise the frexp loop wherever it returns.

:func:`nondecoupling._scaled.scaled_product_scalar` returns the plain left-to-right product while
every partial stays a normal float and hands everything else to the frexp loop; the claim that the
two agree bit for bit there (and raise alike elsewhere) is checked over factors spanning
1e-320 .. 1e308, subnormals, zeros, infinities, negatives and small ints.
"""

import math
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nondecoupling import _scaled

#: Any float (subnormals, +-0, +-inf) with its binary exponent drawn uniformly, not its bit pattern.
_wide = st.builds(lambda mantissa, exponent, sign: sign * math.ldexp(mantissa, exponent),
                  st.floats(0.5, 1.0, exclude_max=True), st.integers(-1080, 1024), st.sampled_from([1.0, -1.0]))
#: Magnitudes whose partial products mostly stay normal: the shortcut's own domain.
_moderate = st.builds(lambda mantissa, exponent: math.ldexp(mantissa, exponent),
                      st.floats(-1.0, 1.0).filter(lambda x: abs(x) >= 0.5), st.integers(-300, 300))
#: Two of these multiply to a subnormal (or 0): a later factor brings the product back to the normal range.
_half_tiny = st.builds(lambda mantissa, exponent: math.ldexp(mantissa, exponent),
                       st.floats(0.5, 1.0, exclude_max=True), st.integers(-560, -500))
_edges = st.sampled_from([0.0, -0.0, math.inf, -math.inf, 5e-324, 1e-320, 2.2250738585072014e-308,
                          1.7976931348623157e308, 1e308, 1.0, -1.0, 2, 3, 0])
_numbers = st.one_of(_wide, _moderate, _moderate, _half_tiny, _edges)


def _outcome(function, factors, divisors):
    """The result's bit pattern, or the type of the exception raised."""
    try:
        return struct.pack("<d", function(tuple(factors), tuple(divisors)))
    except (OverflowError, ZeroDivisionError, ValueError) as error:
        return type(error)


@given(factors=st.lists(_numbers, min_size=1, max_size=7), divisors=st.lists(_numbers, max_size=2))
def test_shortcut_is_bitwise_the_frexp_loop(factors, divisors):
    assert _outcome(_scaled.scaled_product_scalar, factors, divisors) == \
        _outcome(_scaled._scaled_product_scalar, factors, divisors)


@given(factors=st.lists(_numbers, min_size=1, max_size=7), divisors=st.lists(_numbers, max_size=2))
def test_log_shortcut_is_bitwise_the_frexp_loop(factors, divisors):
    assert _outcome(_scaled.log_of_product_scalar, factors, divisors) == \
        _outcome(_scaled._log_of_product_scalar, factors, divisors)


@pytest.mark.parametrize("product", [2.0**-1022, 1.5 * 2.0**-1022, 2.0**1023, 1.7e308, -1.7e308])
def test_log_of_a_product_outside_the_direct_range_takes_the_loop(product, monkeypatch):
    # The loop logs m 2**e directly only for e in (-1021, 1024); the shortcut must not take these.
    monkeypatch.setattr(_scaled, "_log_of_product_scalar", lambda *args: "loop")
    assert _scaled.log_of_product_scalar((product,)) == "loop"
    assert _scaled.log_of_product_scalar((2.0**-1021,)) != "loop"


@pytest.mark.parametrize(("factors", "divisors"), [((2.0, 0.0, 3.0), ()), ((-2.0, 0.0, 1e300, 1e300), (7.0,)),
                                                   ((0.5, -0.0), (-3.0,))])
def test_an_exact_zero_factor_takes_the_shortcut(factors, divisors, monkeypatch):
    monkeypatch.setattr(_scaled, "_scaled_product_scalar", lambda *args: pytest.fail("the frexp loop ran"))
    result = _scaled.scaled_product_scalar(factors, divisors)
    assert result == 0.0 and math.copysign(1.0, result) == math.copysign(1.0, math.prod(factors) / math.prod(divisors or (1.0,)))


@given(factors=st.lists(_moderate, min_size=1, max_size=2), divisors=st.lists(_moderate, max_size=1))
def test_normal_partials_take_the_shortcut(factors, divisors):
    # 2**-301 <= |x| < 2**300 each: no partial of 2 factors and 1 divisor leaves 2**-903 .. 2**901, so
    # the frexp loop is never entered.
    def not_expected(*args):
        raise AssertionError("the frexp loop ran for a product with normal partials")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_scaled, "_scaled_product_scalar", not_expected)
        _scaled.scaled_product_scalar(tuple(factors), tuple(divisors))


@pytest.mark.parametrize(("factors", "divisors"), [
    ((1e-200, 1e-200, 1e200, 1e200), ()),  # the plain product underflows to 0 on the way
    ((1e200, 1e200), (1e200,)),  # ... or overflows to inf
    ((1.1e-160, 1.3e-160, 1e100), ()),  # ... or passes through a subnormal, losing bits
])
def test_products_through_the_edge_of_the_range_match_numpy(factors, divisors):
    expected = float(_scaled.scaled_product(factors, divisors))
    assert 0.0 < expected < math.inf
    assert _scaled.scaled_product_scalar(factors, divisors) == expected
    assert math.prod(factors) / math.prod(divisors or (1.0,)) != expected  # the plain product is wrong here


def test_overflowing_result_raises():
    with pytest.raises(OverflowError):
        _scaled.scaled_product_scalar((1e200, 1e200))
    assert np.isinf(_scaled.scaled_product((1e200, 1e200)))
