"""Products of many factors that never over- or underflow unless the result does.

Bounds such as ``sqrt(2 gap0/mu) * beta * (1 - e^{-beta t})/beta`` multiply constants that may each
lie anywhere in 1e-300 .. 1e300; a product evaluated left to right can pass through inf or 0 on
the way to a representable answer. :func:`scaled_product` multiplies the binary mantissas
(``numpy.frexp``) and adds the exponents as integers, then scales once (``numpy.ldexp``): one
rounding per factor, as in the plain product, and no intermediate overflow. (Hand-written: numpy
has no such product; ``math.prod`` and ``numpy.prod`` multiply left to right.)

The generated modules call it where a derivation wraps a product in
:class:`nondecoupling.derivations._codegen.ScaledProduct`.
"""

from __future__ import annotations

import math
import sys

import numpy as np


def _mantissa_exponent(factors, divisors):
    """(m, e) with prod(factors)/prod(divisors) = m 2**e, 0.5 <= |m| < 1 (or 0, inf), e an int64."""
    mantissa, exponent = np.float64(1.0), np.int64(0)
    for factor in factors:
        factor_mantissa, factor_exponent = np.frexp(factor)
        mantissa, renormalized = np.frexp(mantissa * factor_mantissa)
        exponent = exponent + factor_exponent + renormalized
    for divisor in divisors:  # 1/x as (1/m) 2**-e: no overflow even for subnormal x
        divisor_mantissa, divisor_exponent = np.frexp(divisor)
        mantissa, renormalized = np.frexp(mantissa / divisor_mantissa)
        exponent = exponent - divisor_exponent + renormalized
    return mantissa, exponent


def scaled_product(factors, divisors=()):
    """prod(factors) / prod(divisors) (floats or arrays, broadcast), scaled once at the end."""
    mantissa, exponent = _mantissa_exponent(factors, divisors)
    with np.errstate(over="ignore", under="ignore"):
        return np.ldexp(mantissa, np.clip(exponent, -4000, 4000).astype(np.int32))


def log_of_product(factors, divisors=()):
    """log(prod(factors)/prod(divisors)) for positive entries, finite even where the ratio is not a float."""
    mantissa, exponent = _mantissa_exponent(factors, divisors)
    # Where the ratio is a normal float its own log is the accurate one (log(m) + e log 2 cancels near 1).
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        ratio = np.ldexp(mantissa, np.clip(exponent, -4000, 4000).astype(np.int32))
        direct = np.log(ratio)
    normal = (ratio > np.finfo(np.float64).tiny) & (ratio < np.inf)
    return np.where(normal, direct, np.log(mantissa) + exponent * np.log(2.0))


def _mantissa_exponent_scalar(factors, divisors):
    mantissa, exponent = 1.0, 0
    for factor in factors:
        factor_mantissa, factor_exponent = math.frexp(factor)
        mantissa, renormalized = math.frexp(mantissa * factor_mantissa)
        exponent += factor_exponent + renormalized
    for divisor in divisors:
        divisor_mantissa, divisor_exponent = math.frexp(divisor)
        mantissa, renormalized = math.frexp(mantissa / divisor_mantissa)
        exponent += renormalized - divisor_exponent
    return mantissa, exponent


#: The normal floats' magnitudes: while every partial product lies in between, no rounding differs.
_NORMAL_MIN, _NORMAL_MAX = sys.float_info.min, sys.float_info.max


def _plain_product(factors, divisors):
    """The plain left-to-right product and quotients where that is bitwise the scaled one, else None.

    While every partial product (and quotient) is a normal float it is bitwise the frexp loop's:
    frexp and ldexp are exact and each step rounds the same 53-bit mantissa product. An exact
    zero factor after normal partials keeps that identity to the end: both give a zero of the
    same sign (or NaN after an inf). Any other partial outside the normal range (an under- or
    overflow), or a zero divisor, returns None: the frexp loop decides (and raises the
    ZeroDivisionError from its own evaluation).
    """
    try:
        product = 1.0
        for factor in factors:
            product *= factor
            # abs() spelled out: this line runs for every factor of every scalar call.
            if not (_NORMAL_MIN <= product <= _NORMAL_MAX or -_NORMAL_MAX <= product <= -_NORMAL_MIN):
                return _zero_product(factors, divisors) if factor == 0 else None
        for divisor in divisors:
            product /= divisor
            if not (_NORMAL_MIN <= product <= _NORMAL_MAX or -_NORMAL_MAX <= product <= -_NORMAL_MIN):
                return None
    except ZeroDivisionError:
        return None
    return product


def _zero_product(factors, divisors):
    product = float(math.prod(factors))
    for divisor in divisors:
        product /= divisor
    return product


def scaled_product_scalar(factors, divisors=()):
    """:func:`scaled_product` for Python floats (raises OverflowError where the result overflows).

    The plain product where it is bitwise the scaled one (the common case, see
    :func:`_plain_product`), the frexp loop otherwise.
    """
    product = _plain_product(factors, divisors)
    return _scaled_product_scalar(factors, divisors) if product is None else product


def _scaled_product_scalar(factors, divisors):
    """The frexp loop behind :func:`scaled_product_scalar`, for products that pass outside the normal range."""
    mantissa, exponent = _mantissa_exponent_scalar(factors, divisors)
    return math.ldexp(mantissa, max(exponent, -4000))


#: |product| in [2**-1021, 2**1023): frexp's exponent in (-1021, 1024), where the log is taken directly.
_DIRECT_LOG_MIN, _DIRECT_LOG_MAX = 2.0**-1021, 2.0**1023


def log_of_product_scalar(factors, divisors=()):
    """:func:`log_of_product` for Python floats: the plain product's log where that is bitwise the
    frexp loop's (a normal product inside the loop's direct-log range), the loop otherwise."""
    product = _plain_product(factors, divisors)
    if product is not None and (_DIRECT_LOG_MIN <= product < _DIRECT_LOG_MAX or -_DIRECT_LOG_MAX < product <= -_DIRECT_LOG_MIN):
        return math.log(product)  # raises on a negative product, as the loop's math.log does
    return _log_of_product_scalar(factors, divisors)


def _log_of_product_scalar(factors, divisors):
    """The frexp loop behind :func:`log_of_product_scalar`."""
    mantissa, exponent = _mantissa_exponent_scalar(factors, divisors)
    if -1021 < exponent < 1024:  # a normal float: its own log is accurate near 1
        return math.log(math.ldexp(mantissa, exponent))
    return math.log(mantissa) + exponent * math.log(2.0)
