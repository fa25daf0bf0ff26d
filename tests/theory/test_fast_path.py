"""Issue 16: the scalar fast path returns what the validated array path returns (the same errors, the
same zeros, infinities and types); issue 20: each path's floats match the mpmath reference on their own.

The two paths need not give the same float: math's and numpy's logs and powers may round differently
(numpy's SVML kernels on AVX-512 are documented to 4 ulps), so each path is compared with
:mod:`tests.theory.fuzz_api`'s reference under its stated error model (``fuzz_api.close``: 1e-12
relative, plus 2e-16 times the terms that cancel, plus 2.2e-308 absolute), never with the other path.
kl_bernoulli's tighter bound is tested in test_k1_any_policy_pays.py; benchmarks/accuracy.py prints
the measured errors.

Plain Python input (floats, ints, a list of eigenvalues) takes the fast path (math on floats);
the same numbers as 0-d numpy arrays (a 1-d array of eigenvalues) take the array path. Valid
input is drawn by the API fuzzer (:func:`tests.theory.fuzz_api.draw_valid`: constants over
1e-300 .. 1e300, zeros, inf times, edge rates, coinciding mu and beta), so both paths are compared
over the whole valid domain, in every regime of every closed form. Invalid input never takes the
fast path; the fuzzer (test_api_fuzz.py) checks that it gets the array path's ParameterError.
"""

import math
import struct

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


def _agree(fast, array) -> bool:
    """Same exception type, same structure and types, and the same zeros (with sign), infinities and NaN;
    finite nonzero floats are checked against the reference instead (:func:`_matches_reference`)."""
    if isinstance(fast, BaseException) or isinstance(array, BaseException):
        return type(fast) is type(array)
    if type(fast) is not type(array):
        return False
    if isinstance(fast, tuple):
        return len(fast) == len(array) and all(map(_agree, fast, array))
    if isinstance(fast, int) or not (math.isfinite(fast) and math.isfinite(array)) or fast == 0 or array == 0:
        return struct.pack("<d", fast) == struct.pack("<d", array) or (math.isnan(fast) and math.isnan(array))
    return math.copysign(1.0, fast) == math.copysign(1.0, array)


def _matches_reference(name, kwargs) -> bool:
    """One path's call, classified by the fuzzer against its mpmath reference: correct, P5's documented limit,
    or a clear error where the reference finds the draw invalid (a sep clipped to 1e300, say)."""
    return fuzz_api.classify(name, kwargs, "valid") in fuzz_api.OK_CLASSES


def _call(function, kwargs):
    try:
        return function(**kwargs)
    except Exception as error:  # noqa: BLE001 - compared between the paths
        return error


@given(seed=st.integers(0, 2**32 - 1))
def test_fast_path_agrees_with_the_array_path_and_both_with_the_reference(seed):
    rng = np.random.default_rng(seed)
    for name in FAST_PATH:
        function = getattr(nondecoupling, name)
        plain = {key: _plain(value, rng) for key, value in fuzz_api.draw_valid(name, rng).items()}
        fast, array = _call(function, plain), _call(function, _as_arrays(plain))
        assert _agree(fast, array), (name, plain, fast, array)
        assert _matches_reference(name, plain), ("fast path", name, plain, fast)
        assert _matches_reference(name, _as_arrays(plain)), ("array path", name, plain, array)


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


@pytest.mark.parametrize(("a", "b"), [(0.6, 0.5999999999999998), (0.6235137023832953, 0.5),
                                      (0.9999999999999968, 0.999999999999996)])
def test_the_pairs_where_the_two_kl_differed_match_the_reference_on_both_paths(a, b):
    # 1, 4 and 8 ulps apart on some machines (issues 16 and 20): each path is judged by the reference alone.
    for kwargs in (dict(a=a, b=b), _as_arrays(dict(a=a, b=b))):
        assert _matches_reference("kl_bernoulli", kwargs)
