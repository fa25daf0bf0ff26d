"""The package's one way to validate input (in the spirit of scikit-learn's ``check_*``).

Every public function passes each argument through one of these checks before any
arithmetic, so bad input fails at the call with a :class:`ParameterError` that names the
function, the parameter, the constraint, the offending value and the caller's file and
line, instead of a NaN or an error from deep inside numpy.

Each check returns the argument as a float64 numpy array (0-d for scalars), ready to
broadcast.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar, overload

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

# Frames inside the library are skipped when naming the caller's file and line: the first
# frame outside it (the user's own code) is reported as the call site.
_LIBRARY_DIR = os.path.dirname(os.path.abspath(__file__))
#: The modules that check input (this one and the table of constraints that calls it): their frames
#: are never the function that rejected its input.
_CHECKING_FILES = frozenset((__file__, os.path.join(os.path.dirname(__file__), "constraints.py")))


class ParameterError(ValueError):
    """A parameter violates its documented constraint.

    Attributes
    ----------
    name : str
        The parameter's name, as in the function's signature.
    constraint : str
        The constraint it violates, e.g. ``"> 0"``.

    Examples
    --------
    >>> from nondecoupling import ParameterError, kantorovich_bound
    >>> try:
    ...     kantorovich_bound(-1.0, 2.0)
    ... except ParameterError as error:
    ...     print(error.name, error.constraint)
    m_lo > 0
    """

    def __init__(self, name: str, constraint: str, got: str) -> None:
        self.name = name
        self.constraint = constraint
        function, call_site = _locate_caller()
        super().__init__(
            f"{function}: parameter '{name}' must be {constraint}; got {got}"
            + (f" (called from {call_site})" if call_site else "")
        )


def _locate_caller() -> tuple[str, str]:
    """Name the public function that rejected its input, and where the user called it."""
    frame: FrameType | None = sys._getframe(2)
    # Skip this module and the library's private helpers (e.g. a shared _validated()): name the public function.
    while frame is not None and (frame.f_code.co_filename in _CHECKING_FILES or (
            frame.f_code.co_name.startswith("_") and os.path.abspath(frame.f_code.co_filename).startswith(_LIBRARY_DIR))):
        frame = frame.f_back
    if frame is None:
        return "<unknown>", ""
    module = frame.f_globals.get("__name__", "?")
    function = f"{module}.{frame.f_code.co_name}()"
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_LIBRARY_DIR + os.sep):
        frame = frame.f_back
    call_site = f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame is not None else ""
    return function, call_site


def _describe(values: np.ndarray, bad: np.ndarray) -> str:
    first = values[bad].flat[0]
    if values.ndim == 0:
        return repr(float(first))
    return f"{float(first)!r} ({int(bad.sum())} of {values.size} entries violate it)"


def _first_violation(bad: np.ndarray, *arrays) -> list[float]:
    """The entries of ``arrays`` (broadcast to ``bad``'s shape) where ``bad`` is first True.

    ``np.argmax`` gives a flat index; it is unravelled, so any number of dimensions works.
    """
    index = np.unravel_index(np.argmax(bad), np.shape(bad))
    return [float(np.broadcast_to(array, np.shape(bad))[index]) for array in arrays]


def _count(bad: np.ndarray) -> str:
    return f" ({int(bad.sum())} of {bad.size} entries violate it)" if np.ndim(bad) else ""


#: numpy dtype kinds that are numbers: signed and unsigned integers, floats.
_NUMERIC_KINDS = frozenset("iuf")
#: Python number types accepted inside object arrays (Decimal and Fraction are exact, so they convert).
_EXACT_NUMBERS = (int, float, Decimal, Fraction, np.integer, np.floating)
_NOT_A_NUMBER = "a real number or array of real numbers (not text, bytes, bool, datetime, complex or masked)"
#: Refused outright: text, and bytes-like objects that numpy would read as uint8 (bytearray(b'0') -> 48).
_NOT_NUMBERS = (str, bytes, bytearray, memoryview, bool, np.bool_, np.ma.MaskedArray)


def as_float_array(value: object, name: str, *, allow_inf: bool = False) -> np.ndarray:
    """Convert ``value`` to a float64 array; reject non-numbers, NaN and (unless allowed) inf.

    Accepted: int, float, numpy integers and floats (any width), Decimal, Fraction, and lists
    or arrays of them (0-d included); integers beyond the float range become +-inf. Refused
    with a :class:`ParameterError` naming ``name``: text, bytes, bytearray, memoryview, bool
    (bare, inside a list, or a bool array), datetime64/timedelta64, complex, masked arrays
    (their mask would be ignored), and object arrays of anything else.
    """
    if type(value) is float or type(value) is int:  # the common scalar case, without numpy's dispatch
        array = np.asarray(_python_float(value, name), dtype=np.float64)
    else:
        array = _to_float64(value, name)
    nan = np.isnan(array)
    if nan.any():
        raise ParameterError(name, "a number (not NaN)", _describe(array, nan))
    if not allow_inf:
        inf = np.isinf(array)
        if inf.any():
            raise ParameterError(name, "finite", _describe(array, inf))
    return array


def _python_float(value, name: str) -> float:
    try:
        return float(value)
    except OverflowError:  # an int or Fraction beyond the float range
        return math.inf if value > 0 else -math.inf
    except (TypeError, ValueError):
        raise ParameterError(name, _NOT_A_NUMBER, _short_repr(value)) from None


def _to_float64(value, name: str) -> np.ndarray:
    if isinstance(value, _NOT_NUMBERS) or _holds_non_number(value):
        raise ParameterError(name, _NOT_A_NUMBER, _short_repr(value))
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):  # ragged lists and the like
        raise ParameterError(name, _NOT_A_NUMBER, _short_repr(value)) from None
    if array.dtype.kind in _NUMERIC_KINDS:
        return array.astype(np.float64, copy=False)
    if array.dtype.kind == "O" and all(isinstance(x, _EXACT_NUMBERS) and not isinstance(x, bool) for x in array.flat):
        return np.array([_python_float(x, name) for x in array.flat], dtype=np.float64).reshape(array.shape)
    raise ParameterError(name, _NOT_A_NUMBER, f"{_short_repr(value)} (dtype {array.dtype})")


def _holds_non_number(value) -> bool:
    """Whether a list or tuple holds a bool or bytes-like entry at any depth: numpy would silently
    read ``[0.3, True]`` as ``[0.3, 1.0]`` and ``[bytearray(b'0')]`` as ``[[48]]``."""
    if isinstance(value, (list, tuple)):
        return any(isinstance(entry, _NOT_NUMBERS) or _holds_non_number(entry) for entry in value)
    return isinstance(value, np.ndarray) and value.dtype.kind == "b"


def _short_repr(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_interval(
    value: object,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
) -> np.ndarray:
    """Check that every entry of ``value`` lies in the interval given by ``low`` and ``high``.

    ``low_open``/``high_open`` exclude the endpoint. Returns the float64 array.
    """
    array = as_float_array(value, name, allow_inf=allow_inf)
    if low is not None:
        bad = array <= low if low_open else array < low
        if bad.any():
            raise ParameterError(name, f"{'>' if low_open else '>='} {low:g}", _describe(array, bad))
    if high is not None:
        bad = array >= high if high_open else array > high
        if bad.any():
            raise ParameterError(name, f"{'<' if high_open else '<='} {high:g}", _describe(array, bad))
    return array


def check_positive(value: object, name: str, *, allow_inf: bool = False) -> np.ndarray:
    """Entries > 0."""
    return check_interval(value, name, low=0.0, low_open=True, allow_inf=allow_inf)


def check_nonnegative(value: object, name: str, *, allow_inf: bool = False) -> np.ndarray:
    """Entries >= 0 (gaps, separations; times with ``allow_inf=True``)."""
    return check_interval(value, name, low=0.0, allow_inf=allow_inf)


def check_rate(value: object, name: str) -> np.ndarray:
    """Probabilities and pass rates: entries in [0, 1]."""
    return check_interval(value, name, low=0.0, high=1.0)


def check_pl_constants(mu: ArrayLike, beta: ArrayLike, *, mu_name: str = "mu", beta_name: str = "beta") -> tuple[np.ndarray, np.ndarray]:
    """PL and smoothness constants of one function: 0 < mu <= beta (elementwise).

    Returns ``(mu, beta)`` as float64 arrays.
    """
    mu = check_positive(mu, mu_name)
    beta = check_positive(beta, beta_name)
    check_broadcastable(**{mu_name: mu, beta_name: beta})
    check_pl_order(mu, beta, mu_name=mu_name, beta_name=beta_name)
    return mu, beta


def check_pl_order(mu: np.ndarray, beta: np.ndarray, *, mu_name: str = "mu", beta_name: str = "beta") -> None:
    """mu <= beta (elementwise) for checked, broadcastable arrays: a PL constant never exceeds the smoothness constant."""
    bad = np.broadcast_to(mu > beta, np.broadcast_shapes(np.shape(mu), np.shape(beta)))
    if bad.any():
        mu_first, beta_first = _first_violation(bad, mu, beta)
        got = f"{mu_name}={mu_first!r} > {beta_name}={beta_first!r}{_count(bad)}"
        raise ParameterError(mu_name, f"<= {beta_name} (a PL constant never exceeds the smoothness constant)", got)


def check_step_size(eta: ArrayLike, beta: ArrayLike, *, name: str = "eta", beta_name: str = "beta") -> np.ndarray:
    """Gradient-descent step size: 0 < eta < 2 / beta (elementwise). ``beta`` must be checked first."""
    eta = check_positive(eta, name)
    check_broadcastable(**{beta_name: beta, name: eta})
    check_stable_step(eta, np.asarray(beta), name=name, beta_name=beta_name)
    return eta


def check_stable_step(eta: np.ndarray, beta: np.ndarray, *, name: str = "eta", beta_name: str = "beta") -> None:
    """eta * beta < 2 (elementwise) for checked, broadcastable arrays: gradient descent diverges beyond."""
    with np.errstate(over="ignore"):  # an overflowing product is >= 2 all the same
        bad = np.asarray(eta * beta >= 2.0)
    if bad.any():
        eta_b = np.broadcast_to(eta, bad.shape)
        raise ParameterError(name, f"< 2/{beta_name} (gradient descent diverges beyond)", _describe(eta_b, bad))


def check_integer(value: object, name: str, *, low: int | None = None) -> np.ndarray:
    """Integer-valued entries (step counts, ranks), optionally >= ``low``."""
    array = check_interval(value, name, low=low)
    fractional = array != np.round(array)
    if fractional.any():
        raise ParameterError(name, "an integer", _describe(array, fractional))
    return array.astype(np.int64)


def check_step_count(value: object, name: str) -> np.ndarray:
    """Step counts: finite, integer-valued, >= 0; kept as float64 (a count past 2**63 stays exact)."""
    array = check_nonnegative(value, name)
    fractional = array != np.floor(array)
    if fractional.any():
        raise ParameterError(name, "an integer", _describe(array, fractional))
    return array


def check_flag(value: object, name: str) -> bool:
    """A boolean switch: exactly ``True`` or ``False`` (numpy bools too), never a truthy object."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ParameterError(name, "True or False", repr(value))


def check_distribution(value: object, name: str) -> np.ndarray:
    """Probability vectors along the last axis: entries in [0, 1] summing to 1 within the
    rounding of their own float type (:func:`sum_tolerance`).

    Returns the float64 array renormalized to sum to exactly 1 (up to rounding).
    """
    probs = check_rate(value, name)
    if probs.ndim == 0:
        raise ParameterError(name, "an array with the outcomes on its last axis", "a scalar")
    atol = sum_tolerance(_float_type(value), probs.shape[-1])
    total = probs.sum(axis=-1, keepdims=True)
    off = np.abs(total - 1.0) > atol
    if off.any():
        raise ParameterError(name, f"a probability vector (sum over the last axis = 1 within {atol:.3g})",
                             f"sums {_describe(total, off)}")
    return probs / total


#: The sum tolerance of float64 probability vectors (and of ints, Decimals, Fractions): the
#: documented 1e-9, which also admits vectors typed with ten digits.
DISTRIBUTION_ATOL = 1e-9


def sum_tolerance(dtype: np.dtype, n: int) -> float:
    """How far from 1 the sum of ``n`` probabilities stored as ``dtype`` may lie.

    Rounding each entry to ``dtype`` and summing them in ``dtype`` moves the sum by at most
    about ``n * eps / 2`` (eps: the dtype's machine epsilon); allowed: ``2 n eps``, at least
    :data:`DISTRIBUTION_ATOL`, at most 0.1 (beyond, a float16 vector of thousands of entries
    would pass any sum). Measured: float32 and float16 softmax outputs (numpy, torch) of 2 to
    32000 entries lie within ``0.4 n eps``.
    """
    eps = float(np.finfo(dtype).eps) if dtype.kind == "f" else 0.0
    return min(max(DISTRIBUTION_ATOL, 2.0 * n * eps), 0.1)


def _float_type(value) -> np.dtype:
    """The float type the caller stored ``value`` in: float32 for a float32 array or a list of
    np.float32, float64 for Python floats, ints, Decimals and Fractions."""
    dtype = getattr(value, "dtype", None)
    if not isinstance(dtype, np.dtype):  # lists (and torch tensors, whose dtype is not numpy's)
        dtype = np.asarray(value).dtype
    return dtype


def check_broadcastable(**arrays: ArrayLike) -> tuple[int, ...]:
    """The shape that the named arrays broadcast to; names the first one that does not fit.

    The message lists the shapes of the parameters before it, e.g. ``'mu' must be
    broadcastable against t (3,), gap0 (2,)``.
    """
    shape: tuple[int, ...] = ()
    seen: list[tuple[str, Any]] = []
    for name, array in arrays.items():
        try:
            shape = np.broadcast_shapes(shape, np.shape(array))
        except ValueError:
            others = ", ".join(f"{other} {np.shape(value)}" for other, value in seen)
            raise ParameterError(name, f"broadcastable against {others}", f"shape {np.shape(array)}") from None
        seen.append((name, array))
    return shape


def check_psd_matrix(value: object, name: str, *, rtol: float = 1e-12) -> np.ndarray:
    """A symmetric positive semidefinite matrix, or a stack of them (shape (..., d, d)).

    Symmetry and the smallest eigenvalue are checked relative to the largest entry, so
    rounding in a matrix built as ``X.T @ X`` passes.
    """
    matrix = as_float_array(value, name)
    if matrix.ndim < 2 or matrix.shape[-1] != matrix.shape[-2]:
        raise ParameterError(name, "a square matrix of shape (..., d, d)", f"shape {matrix.shape}")
    scale = float(np.abs(matrix).max(initial=0.0))  # relative at every scale: -1e-300 * I is not PSD
    asymmetry = np.abs(matrix - np.swapaxes(matrix, -1, -2)).max(initial=0.0)
    if asymmetry > rtol * scale:
        raise ParameterError(name, "symmetric", f"a matrix with |M - M^T| up to {asymmetry:.3g}")
    smallest = np.linalg.eigvalsh(matrix).min(initial=0.0)
    if smallest < -rtol * scale:
        raise ParameterError(name, "positive semidefinite", f"smallest eigenvalue {smallest:.6g}")
    return matrix


def scalar_or_array(array: np.ndarray) -> float | np.ndarray:
    """Return a Python float for 0-d results, the array otherwise (numpy's own convention).

    A zero comes back as +0.0, as from :func:`scalar_or_none`: the sign of a zero bound would
    depend on how min and max break ties (numpy's ``minimum(a, b)`` returns b, ``min(a, b)`` a).
    """
    return float(array) + 0.0 if np.ndim(array) == 0 else array


#: Relative slack for a separation against its quadratic-growth bound: a sep computed in floating
#: point may exceed its exact bound by rounding (it equals it on isotropic quadratics).
SEPARATION_RTOL = 1e-9


def check_separation(sep: float | np.ndarray, reach: float | np.ndarray, *, bound: str, reason: str) -> None:
    """Reject ``sep > reach`` (beyond rounding): no problem has such a separation.

    ``bound`` names the bound (e.g. ``"sqrt(2 rl_gap0/mu_rl)"``), ``reason`` says why it holds.
    """
    bad = np.asarray(sep > reach * (1 + SEPARATION_RTOL))
    if bad.any():
        sep_first, reach_first = _first_violation(bad, sep, reach)
        raise ParameterError("sep", f"<= {bound} ({reason})", f"sep={sep_first!r} > {reach_first!r}{_count(bad)}")


# ----- The fast path for plain scalar input (issue 16); its comparisons are compiled from nondecoupling.constraints.
#: Python's own numbers; bool (a subclass of int) is excluded by the exact type test.
_PLAIN_TYPES = frozenset((float, int))
#: Ints up to this size convert to a float; larger ones become +-inf on the array path.
_FLOAT_INT_LIMIT = int(sys.float_info.max)
INF = math.inf


def plain_scalars(*values: Any) -> tuple[float, ...]:
    """The values, typed as floats, when every one is a Python float or an int (not bool) that
    converts to a float: the scalar fast path applies; else the empty tuple (false).

    The fast path only handles input that passes every check; anything else (and any value
    that math cannot compute) takes the array path, which raises the same ParameterErrors.
    Callers compare the returned floats (``(plain := plain_scalars(a, b)) and _ok(*plain)``),
    so a type checker sees floats where the arguments are only ``ArrayLike``.
    """
    # This runs on every scalar call: an identity test per value is the cheapest check of all-floats.
    for value in values:
        if type(value) is not float:
            plain = set(map(type, values)) <= _PLAIN_TYPES and all(
                type(value) is float or -_FLOAT_INT_LIMIT <= value <= _FLOAT_INT_LIMIT for value in values)
            return values if plain else ()
    return values


#: A scalar formula's tuple of floats, of any fixed length.
_Floats = TypeVar("_Floats", bound=tuple[float, ...])


@overload
def scalar_or_none(evaluate: Callable[..., _Floats], *args: object) -> _Floats | None: ...
@overload
def scalar_or_none(evaluate: Callable[..., float], *args: object) -> float | None: ...
def scalar_or_none(evaluate: Callable[..., Any], *args: object) -> float | tuple[float, ...] | None:
    """``evaluate(*args)`` as a float (or tuple of floats, zeros as +0.0 like :func:`scalar_or_array`);
    None where math raises (the array path then returns inf, 0 or the documented value instead)."""
    try:
        value = evaluate(*args)
    except (ArithmeticError, ValueError):
        return None
    if type(value) is tuple:
        return tuple([float(part) + 0.0 for part in value])
    return float(value) + 0.0
