"""Issue 16: the scalar fast path returns what the validated array path returns (the same errors, the
same zeros and infinities, floats within two ulps: math and numpy may round a log differently).

Plain Python input (floats, ints, a list of eigenvalues) takes the fast path (math on floats);
the same numbers as 0-d numpy arrays (a 1-d array of eigenvalues) take the array path. Valid
input is drawn by the API fuzzer (:func:`tests.theory.fuzz_api.draw_valid`: constants over
1e-300 .. 1e300, zeros, inf times, edge rates, coinciding mu and beta), so both paths are compared
over the whole valid domain, in every regime of every closed form. Invalid input never takes the
fast path; the fuzzer (test_api_fuzz.py) checks that it gets the array path's ParameterError.
"""

import math
import struct

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nondecoupling
from benchmarks.api_speed import SCALAR_CALLS
from nondecoupling import validation
from tests.theory import fuzz_api

#: Every public function with a scalar fast path.
FAST_PATH = ("kl_bernoulli", "pinsker_radius", "path_length_bound", "reward_gain_bounds", "sft_degradation_bounds",
             "reward_loss_bounds", "optimal_rl_duration", "guaranteed_net_gain", "rl_break_even_time",
             "nondecoupling_threshold", "crossing_time", "gd_contraction", "optimal_rl_steps",
             "discrete_path_length_bound", "discrete_sft_degradation_bounds", "discrete_reward_gain_bounds",
             "discrete_net_gain", "kantorovich_bound", "curvature_bracket", "misalignment_bound")


@pytest.fixture(autouse=True, scope="module")
def _every_library_module_imported():
    # The library imports its modules lazily, and a module first imported while a test below has
    # patched validation.as_float_array would keep the patched function for the rest of the session
    # (interleaving.py imports the name): import them all before any patch.
    for name in nondecoupling.__all__:
        getattr(nondecoupling, name)


def _plain(value, rng):
    """The value as a user types it: Python floats, whole numbers sometimes as int, a zero sometimes
    signed (-0.0, what a computation can hand over), eigenvalues in a list or tuple."""
    if isinstance(value, np.ndarray):
        return (list if rng.random() < 0.5 else tuple)(_plain(x, rng) for x in value.tolist())
    if isinstance(value, float) and value.is_integer() and rng.random() < 0.3:
        return int(value)
    if isinstance(value, float) and value == 0 and rng.random() < 0.5:
        return -0.0
    return value


def _as_arrays(kwargs):
    """The same numbers as numpy arrays (0-d for scalars): the validated array path."""
    return {key: value if key in fuzz_api.FLAG_ARGS else np.array(value, dtype=float if key != "k" else int)
            for key, value in kwargs.items()}


#: The math twins and numpy's ufuncs may round a log or a power differently in the last place:
#: kl_bernoulli(0.6, 0.5999999999999998) is 1.0271626370065256e-31 on the fast path and
#: 1.0271626370065259e-31 on the array path (both within 1e-13 of the 50-digit value). Zeros,
#: infinities, NaN, ints and exceptions must match exactly.
MAX_ULPS = 2


def _ordinal(value: float) -> int:
    return struct.unpack("<q", struct.pack("<d", abs(value)))[0]


def _agree(fast, array) -> bool:
    """Same exception type, same structure and types, and floats within MAX_ULPS (exact at 0, inf, NaN)."""
    if isinstance(fast, BaseException) or isinstance(array, BaseException):
        return type(fast) is type(array)
    if type(fast) is not type(array):
        return False
    if isinstance(fast, tuple):
        return len(fast) == len(array) and all(map(_agree, fast, array))
    if isinstance(fast, int) or not (math.isfinite(fast) and math.isfinite(array)) or fast == 0 or array == 0:
        return struct.pack("<d", fast) == struct.pack("<d", array) or (math.isnan(fast) and math.isnan(array))
    return math.copysign(1.0, fast) == math.copysign(1.0, array) and abs(_ordinal(fast) - _ordinal(array)) <= MAX_ULPS


def _call(function, kwargs):
    try:
        return function(**kwargs)
    except Exception as error:  # noqa: BLE001 - compared between the paths
        return error


@given(seed=st.integers(0, 2**32 - 1))
def test_fast_path_agrees_with_the_array_path(seed):
    rng = np.random.default_rng(seed)
    for name in FAST_PATH:
        function = getattr(nondecoupling, name)
        plain = {key: _plain(value, rng) for key, value in fuzz_api.draw_valid(name, rng).items()}
        fast, array = _call(function, plain), _call(function, _as_arrays(plain))
        assert _agree(fast, array), (name, plain, fast, array)


@pytest.mark.parametrize("name", FAST_PATH)
def test_the_benchmarked_call_takes_the_fast_path(name, monkeypatch):
    # Every array-path check converts through as_float_array: plain input that passes never reaches it.
    def array_path(*args, **kwargs):
        raise AssertionError(f"{name} took the array path")

    monkeypatch.setattr(validation, "as_float_array", array_path)
    space = {public: getattr(nondecoupling, public) for public in nondecoupling.__all__}
    eval(SCALAR_CALLS[name], space)  # noqa: S307 - the benchmark's own expression


@pytest.mark.parametrize(("name", "kwargs"), [
    ("discrete_path_length_bound", dict(steps=10**400, gap0=0.5, mu=0.5, beta=1.0, eta=0.5)),
    ("path_length_bound", dict(t=10**400, gap0=0.5, mu=0.5, beta=1.0)),
    ("optimal_rl_steps", dict(lam=1.0, mu_rl=1.0, beta_rl=10**400, beta_sft=1.0, eta=1e-400)),
    ("curvature_bracket", dict(eigs=[10**400, 1.0], rho=0.5, k=1)),
    ("misalignment_bound", dict(eigs=(4.0, True), rho=0.5, k=1)),
    ("curvature_bracket", dict(eigs=[4.0, math.nan], rho=0.5, k=1)),
    ("misalignment_bound", dict(eigs=[4.0, 1.0], rho=0.5, k=True)),
    ("misalignment_bound", dict(eigs=[4.0, 1.0], rho=0.5, k=3)),
    ("curvature_bracket", dict(eigs=[], rho=0.5, k=1)),
])
def test_input_beyond_the_fast_path_takes_the_array_path(name, kwargs, monkeypatch):
    # Ints beyond the float range, bools, NaN, k out of range, no eigenvalue: the array path decides
    # (and raises its ParameterError where the input is invalid).
    converted = []

    def recording(value, *args, **kwargs):
        converted.append(value)
        return as_float_array(value, *args, **kwargs)

    as_float_array = validation.as_float_array
    monkeypatch.setattr(validation, "as_float_array", recording)
    _call(getattr(nondecoupling, name), kwargs)
    assert converted, f"{name}({kwargs}) took the fast path"


def test_the_fast_and_array_kl_may_differ_in_the_last_place():
    # The corrected claim (bit for bit is not what math and numpy give): both sides are accurate.
    b = 0.5999999999999998
    fast, array = nondecoupling.kl_bernoulli(0.6, b), nondecoupling.kl_bernoulli(np.array(0.6), np.array(b))
    assert _agree(fast, array)
    with mpmath.workdps(50):
        exact = 0.6 * mpmath.log(mpmath.mpf(0.6) / b) + (1 - mpmath.mpf(0.6)) * mpmath.log((1 - mpmath.mpf(0.6)) / (1 - mpmath.mpf(b)))
        assert all(abs(value - exact) <= 1e-13 * exact for value in (fast, array))
