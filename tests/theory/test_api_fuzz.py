"""Issues 12 and 20: every public function, called as a user might, gives a clear error or the right number.

Each hypothesis example draws a seed and makes CALLS_PER_EXAMPLE fuzzed calls spread over the whole
public API (:mod:`tests.theory.fuzz_api`: constants from 5e-324 to 1.8e308, retyped, multi-dimensional,
float32/float16 and broken inputs, 60- to 800-digit mpmath references): EXAMPLES x CALLS_PER_EXAMPLE
calls, a few seconds. The 10^4-call run is ``python -m tests.theory.fuzz_api 10000`` (see there).
Any outcome other than a ParameterError naming a real parameter, a correct value, or the one
documented limit (P5 where mu eta underflows) fails, with the offending call in the message; so
does any warning that escapes a call.
"""

from hypothesis import given, settings
from hypothesis import strategies as st

import nondecoupling
from tests.theory import fuzz_api

EXAMPLES = 20
CALLS_PER_EXAMPLE = 30


@settings(max_examples=EXAMPLES)
@given(seed=st.integers(0, 2**32 - 1))
def test_every_public_function_gives_a_clear_error_or_the_right_number(seed):
    fuzz_api.EXAMPLES.clear()
    counts = fuzz_api.fuzz(seed, CALLS_PER_EXAMPLE, offset=seed)
    failures = {key: n for key, n in counts.items() if key[1] not in fuzz_api.OK_CLASSES}
    assert not failures, {key: (n, fuzz_api.EXAMPLES[key]) for key, n in failures.items()}


def test_every_public_function_is_fuzzed():
    # A new public function needs a valid-input draw and an mpmath reference in fuzz_api.
    missing = [name for name in nondecoupling.__all__ if name != "ParameterError" and not fuzz_api.has_spec(name)]
    assert not missing, f"add draw_valid/ref_<name> to tests/theory/fuzz_api.py for {missing}"


def test_the_classifier_rejects_the_pre_issue_failures():
    # The classifier itself can fail: a wrapped-around step count, NaN and m > 1 are not correct.
    assert not fuzz_api._steps_ok(-9223372036854775808, 1e19)
    assert fuzz_api.classify("kantorovich_bound", {"m_lo": "1.0", "m_hi": 2.0}, "m_lo") == "clear_error"
    assert fuzz_api.close(1.2221, fuzz_api.mp.mpf(1), 0, (0, 1)) is False
    assert fuzz_api.close(float("nan"), fuzz_api.mp.mpf(1), 0, (0, 1)) is False
