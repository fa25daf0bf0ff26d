"""The public API of THEORY.md: importable by name, with no sympy on the import path, and the
input checks every function shares (bools and bytes-like refused, any number of dimensions, the
probability-sum tolerance of the input's own float type).

(The import time is measured by ``python simulations/benchmark.py``, not asserted here.)
"""

import re
import subprocess
import sys

import numpy as np
import pytest

import nondecoupling
from nondecoupling import validation
from tests.theory import fuzz_api


@pytest.mark.parametrize("name", nondecoupling.__all__)
def test_every_api_name_imports(name):
    assert callable(getattr(nondecoupling, name))


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'optimal_duration'"):
        nondecoupling.optimal_duration  # noqa: B018


def test_numeric_api_never_imports_sympy():
    code = "import sys, nondecoupling; [getattr(nondecoupling, n) for n in nondecoupling.__all__]; print('sympy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- input validation shared by every function (issue 20) --------------------------------------
SEPARATION_CALLS = [  # (function, constants, the gap whose reach bounds sep, the PL constant of that reach)
    (nondecoupling.crossing_time, dict(sft_gap0=0.1, mu_sft=0.5, mu_rl=0.5), "rl_gap0", None),
    (nondecoupling.sft_degradation_bounds, dict(t=1.0, mu_sft=1.0, beta_sft=1.0, mu_rl=0.5, beta_rl=1.0), "rl_gap0", "mu_rl"),
    (nondecoupling.reward_loss_bounds, dict(t=1.0, mu_sft=0.5, beta_sft=1.0, mu_rl=1.0, beta_rl=1.0), "sft_gap0", "mu_sft"),
    (nondecoupling.discrete_sft_degradation_bounds,
     dict(steps=3.0, mu_sft=1.0, beta_sft=1.0, mu_rl=0.5, beta_rl=1.0, eta=0.5), "rl_gap0", "mu_rl"),
]


@pytest.mark.parametrize("function, constants, gap_name, mu_name", SEPARATION_CALLS)
@pytest.mark.parametrize("shape, bad_index", [((2, 1), (1, 0)), ((2, 3), (1, 2)), ((2, 2, 2), (1, 0, 1))])
def test_separation_check_names_the_offending_entry_in_any_dimension(function, constants, gap_name, mu_name, shape,
                                                                       bad_index):
    # A flat argmax index used on a >= 2-D array raised TypeError / IndexError instead (issue 20).
    gaps = np.ones(shape)
    gaps[bad_index] = 0.01  # only this entry's reach falls below sep = 1
    with pytest.raises(nondecoupling.ParameterError, match="parameter 'sep'") as error:
        function(**constants, **{gap_name: gaps}, sep=1.0)
    reach = np.sqrt(2 * 0.01 / constants[mu_name]) if mu_name else np.sqrt(2 * 0.1 / 0.5) + np.sqrt(2 * 0.01 / 0.5)
    reported = re.search(rf"got sep=1\.0 > (\S+) \(1 of {gaps.size} entries violate it\)", str(error.value))
    assert reported and float(reported[1]) == pytest.approx(reach, rel=1e-15)  # the reach of the offending entry


@pytest.mark.parametrize("shape, bad_index", [((2, 1), (1, 0)), ((2, 3), (1, 2)), ((3,), (2,))])
def test_pl_check_names_the_offending_entry_in_any_dimension(shape, bad_index):
    mu = np.full(shape, 0.5)
    mu[bad_index] = 3.0
    with pytest.raises(nondecoupling.ParameterError, match=r"'mu' must be <= beta.*mu=3\.0 > beta=2\.0 \(1 of"):
        nondecoupling.path_length_bound(1.0, gap0=1.0, mu=mu, beta=2.0)


def _scalar_parameters(name, kwargs):
    return [key for key in kwargs if key not in fuzz_api.SCALAR_ARGS and key not in fuzz_api.FLAG_ARGS]


NOT_NUMBERS = [
    pytest.param(lambda v: bytearray(b"0"), id="bytearray"),  # numpy reads it as uint8: 48
    pytest.param(lambda v: memoryview(b"0"), id="memoryview"),
    pytest.param(lambda v: [v, True], id="bool-in-list"),  # numpy reads it as [v, 1.0]
    pytest.param(lambda v: (v, [np.True_]), id="numpy-bool-in-nested-tuple"),
    pytest.param(lambda v: [np.array([True, False])], id="bool-array-in-list"),
    pytest.param(lambda v: np.array([True, False]), id="bool-array"),
    pytest.param(lambda v: True, id="bare-bool"),
]


@pytest.mark.parametrize("make", NOT_NUMBERS)
@pytest.mark.parametrize("name", fuzz_api.API)
def test_every_scalar_parameter_refuses_bools_and_bytes_like(name, make):
    kwargs = fuzz_api.draw_valid(name, np.random.default_rng(0))
    function = fuzz_api.CALLS.get(name) or getattr(nondecoupling, name)
    for key in _scalar_parameters(name, kwargs):
        broken = dict(kwargs, **{key: make(kwargs[key])})
        with pytest.raises(nondecoupling.ParameterError, match=f"parameter '{key}' must be a real number"):
            function(**broken)


@pytest.mark.parametrize("function", [
    lambda probs: nondecoupling.tilted_tradeoff(1.0, probs, np.linspace(0.0, 1.0, probs.shape[-1])),
    lambda probs: nondecoupling.sft_increase_after_kl_rl(probs, np.linspace(0.0, 1.0, probs.shape[-1]), beta=1.0),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("n", [2, 8, 64, 1000])
def test_low_precision_softmax_outputs_are_probability_vectors(function, dtype, n):
    # A sum tolerance of 1e-9 refused 97% of float32 softmax outputs of length 8 (issue 20).
    logits = np.random.default_rng(n).standard_normal((200, n)) * 3
    for source in ("numpy", "torch"):
        probs = _softmax(logits, dtype, source)
        function(probs)  # raises ParameterError if refused
        # ... and the same numbers in float64 are held to float64's tolerance, which they miss.
        off = np.abs(probs.astype(float).sum(-1) - 1) > validation.DISTRIBUTION_ATOL
        if off.any():
            with pytest.raises(nondecoupling.ParameterError, match="parameter 'probs' must be a probability vector"):
                function(probs[off].astype(float))


def _softmax(logits, dtype, source):
    if source == "torch":
        torch = pytest.importorskip("torch")
        return torch.softmax(torch.tensor(logits, dtype=getattr(torch, np.dtype(dtype).name)), -1).numpy()
    exponentials = np.exp((logits - logits.max(-1, keepdims=True)).astype(dtype))
    return exponentials / exponentials.sum(-1, keepdims=True, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_the_sum_tolerance_is_the_dtype_rounding_not_more(dtype):
    # Tight: 2 n eps of the dtype is allowed, a sum off by 3 n eps (or by 1e-9 for float64) is not.
    n, eps = 4, float(np.finfo(dtype).eps)
    assert validation.sum_tolerance(np.dtype(dtype), n) == 2 * n * eps
    base = np.full(n, 0.25)
    for off, accepted in ((1.5 * n * eps, True), (3 * n * eps, False)):
        probs = base.copy()
        probs[0] += off
        assert np.isclose(probs.astype(dtype).astype(float).sum() - 1, off)  # exactly representable here
        if accepted:
            nondecoupling.tilted_tradeoff(1.0, probs.astype(dtype), [0.0, 1.0, 0.5, 0.5])
        else:
            with pytest.raises(nondecoupling.ParameterError, match=f"within {2 * n * eps:.3g}"):
                nondecoupling.tilted_tradeoff(1.0, probs.astype(dtype), [0.0, 1.0, 0.5, 0.5])
    probs = base.copy()
    probs[0] += 2e-9
    with pytest.raises(nondecoupling.ParameterError, match="within 1e-09"):
        nondecoupling.tilted_tradeoff(1.0, probs, [0.0, 1.0, 0.5, 0.5])
