"""Issue 24 (3a): one table of parameter constraints, from which the checks, the fast path and the fuzz derive.

``nondecoupling.constraints.SPECS`` holds every public function's parameters and their constraints. These
tests hold the table to the signatures, the fuzz's draws to the table, and the library to both: a valid
draw passes the derived array check and fast-path test, a draw that breaks one parameter's constraint is
refused by the fast-path test and by the function, with a ParameterError naming that parameter. The
last test makes the one-line change the issue asks for (a tighter constraint) and watches it reach the
library's check, the fuzz's valid and invalid draws, and the fuzz's verdict.
"""

from __future__ import annotations

import importlib
import inspect
import re

import numpy as np
import pytest

import nondecoupling
from nondecoupling.constraints import (
    FLAG,
    NONNEGATIVE,
    POSITIVE,
    POSITIVE_OR_INF,
    RATE,
    REAL,
    SPECS,
    STEPS,
    TIME,
    Distribution,
    Interval,
    Options,
    Single,
    Structured,
    spec,
)
from tests.theory import fuzz_api

DRAWS_PER_FUNCTION = 40


def _signature_parameters(name):
    """The parameters a user passes to ``name`` (``"Class.method"`` for a method; a class: its constructor)."""
    owner, _, method = name.partition(".")
    target = getattr(nondecoupling, owner)
    target = getattr(target, method) if method else target
    return [p for p in inspect.signature(target).parameters if p != "self"]


def test_every_public_function_has_one_entry_covering_exactly_its_signature():
    public = [name for name in nondecoupling.__all__ if name != "ParameterError"]
    assert not set(public) - set(SPECS), "add the function's parameters to nondecoupling/constraints.py's SPECS"
    for name, entry in SPECS.items():
        assert list(entry.params) == _signature_parameters(name), name  # the same names, in signature order


def test_cross_constraints_name_parameters_of_their_function():
    for name, entry in SPECS.items():
        for rule in entry.cross:
            named = [value for value in vars(rule).values() if isinstance(value, str) and value in entry.params]
            pairs = getattr(rule, "pairs", ())
            assert len(named) >= 1 + (not pairs) and all(p in entry.params for pair in pairs for p in pair), (name, rule)


def _scalar_keys(name, kwargs):
    """The parameters the fuzz breaks one at a time (numbers, not arrays drawn jointly or flags)."""
    return [key for key in kwargs if key not in fuzz_api.SCALAR_ARGS and key not in fuzz_api.FLAG_ARGS]


def _ordered(entry, kwargs):
    return [kwargs.get(key) for key in entry.params]


@pytest.mark.parametrize("name", fuzz_api.API)
def test_valid_draws_satisfy_the_table(name):
    entry, rng = SPECS[name], np.random.default_rng(sum(map(ord, name)))
    checkable = not any(isinstance(c, Structured) for c in entry.params.values())
    for _ in range(DRAWS_PER_FUNCTION):
        kwargs = fuzz_api.draw_valid(name, rng)
        if entry.has_fast_path:  # plain floats: the derived fast-path test accepts them
            assert entry.accept(*_ordered(entry, kwargs)), kwargs
        if checkable:  # the derived array path accepts them
            entry.check(*_ordered(entry, kwargs))
        for key in _scalar_keys(name, kwargs):
            constraint = fuzz_api.constraint_of(name, key)
            inner = constraint.inner if isinstance(constraint, Single) else constraint
            assert isinstance(inner, Structured) or fuzz_api.inside(inner, kwargs[key]), (key, kwargs)


def _call(name, kwargs):
    return (fuzz_api.CALLS.get(name) or getattr(nondecoupling, name))(**kwargs)


@pytest.mark.parametrize("name", fuzz_api.API)
def test_invalid_draws_violate_the_table_and_are_refused_naming_the_parameter(name):
    entry, rng = SPECS[name], np.random.default_rng(sum(map(ord, name)) + 1)
    for _ in range(DRAWS_PER_FUNCTION // 4):
        kwargs = fuzz_api.draw_valid(name, rng)
        for key in _scalar_keys(name, kwargs):
            broken = dict(kwargs, **{key: fuzz_api.violate(fuzz_api.constraint_of(name, key), kwargs[key], rng, kwargs)})
            if entry.has_fast_path:
                assert not entry.accept(*_ordered(entry, broken)), broken
            with pytest.raises(nondecoupling.ParameterError) as error:
                _call(name, broken)
            assert error.value.name == key, (broken, str(error.value))


def test_the_fast_path_test_is_the_tables_comparisons():
    # What accept runs, for one function with every kind of constraint but the flag's.
    source = SPECS["discrete_sft_degradation_bounds"].source()
    for test in ("0 <= steps < INF and float(steps).is_integer()", "0.0 <= rl_gap0 < INF", "0.0 < mu_sft < INF",
                 "type(sharp) is bool", "mu_rl <= beta_rl", "eta * beta_rl < 2.0", "sep <= (_reach(rl_gap0, mu_rl))"):
        assert test in source
    assert SPECS["kl_bernoulli"].accept(0.3, 1) == (0.3, 1)
    assert SPECS["kl_bernoulli"].accept(0.3, True) == ()  # bool is not a number here
    assert SPECS["kl_bernoulli"].accept(0.3, float("nan")) == ()
    assert SPECS["path_length_bound"].accept(float("inf"), 1.0, 1.0, 2.0)  # t = inf is allowed
    assert not SPECS["path_length_bound"].accept(1.0, float("inf"), 1.0, 2.0)  # gap0 = inf is not
    assert not SPECS["crossing_time"].accept(0.0, 0.5, 1.0 + 1e-6, 1.0, 1.0)  # sep beyond sqrt(2 * 0.5 / 1)


#: How the docstrings state each constraint (their dialect: ">= 0", ":math:`\\ge 0`", "0 < mu <= beta"); a
#: constraint new to the table needs its phrasing here, and each docstring that uses it must state it.
_NONNEGATIVE, _POSITIVE, _INF = r">= 0|\\ge 0|nonnegative", r"> 0|\\gt 0|0 <", r"``inf`` allowed"
DOC_PHRASES = {RATE: [r"\[0, 1\]"], NONNEGATIVE: [_NONNEGATIVE], TIME: [_NONNEGATIVE, _INF], POSITIVE: [_POSITIVE],
               POSITIVE_OR_INF: [_POSITIVE, _INF], REAL: ["finite real"], STEPS: [r"k >= 0"], FLAG: [r"\bbool\b"],
               Distribution(): [r"sum(s|ming)? to 1|distribution"], Distribution(optional=True): ["distribution", "optional"],
               Single(POSITIVE): [r"\bfloat\b", _POSITIVE], Single(NONNEGATIVE): [r"\bfloat\b", _NONNEGATIVE]}
STRUCTURED_PHRASES = {"eigenvalues": ["nonnegative"], "index": ["1 <= k <= d"], "psd": [r"\\succeq 0"],
                      "vector": [r"\(\.\.\., d\)"]}
#: Functions documented as another under a second name: they share its parameters and their constraints.
ALIASES = {"threshold_loss_level": "nondecoupling_threshold", "threshold_time": "optimal_rl_duration"}


def _parameter_lines(docstring):
    """{parameter: its numpydoc entry (the "name : type" line and its description)}."""
    section = re.search(r"Parameters\n-+\n(.*?)(?:\n\n\S[^\n]*\n-+\n|\Z)", docstring, re.S)
    entries, names = {}, []
    for line in (section.group(1) if section else "").splitlines():
        if line and not line.startswith(" "):
            names = [name.strip() for name in line.split(" : ")[0].split(",")]
        for name in names:
            entries[name] = entries.get(name, "") + " " + line.strip()
    return entries


def _phrases(constraint):
    if isinstance(constraint, Options):
        return [re.escape(f'"{value}"') for value in constraint.values]
    if isinstance(constraint, Structured):
        return STRUCTURED_PHRASES[constraint.kind]
    return DOC_PHRASES[constraint]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_each_docstring_parameter_line_states_the_tables_constraint(name):
    if name in ALIASES:
        assert SPECS[name].params == SPECS[ALIASES[name]].params and SPECS[name].cross == SPECS[ALIASES[name]].cross
        return
    owner, _, method = name.partition(".")
    target = getattr(nondecoupling, owner)
    entries = _parameter_lines(inspect.getdoc(getattr(target, method) if method else target) or "")
    for key, constraint in SPECS[name].params.items():
        missing = [phrase for phrase in _phrases(constraint) if not re.search(phrase, entries.get(key, ""))]
        assert not missing, f"{name}: the docstring's entry for {key!r} should state {missing}: {entries.get(key)!r}"


def test_constraint_texts_read_as_the_docs_write_them():
    assert (RATE.text, SPECS["pinsker_radius"].params["budget"].text) == ("[0, 1]", "[0, inf]")
    assert Interval(0.0, float("inf"), "neither").text == "(0, inf)"
    assert "probability vector" in Distribution().text


def test_one_line_in_the_table_reaches_the_library_and_the_fuzz(monkeypatch):
    tightened = spec("kl_bernoulli", a=Interval(0.0, 0.5), b=RATE)  # the one-line change: a in [0, 0.5]
    monkeypatch.setitem(SPECS, "kl_bernoulli", tightened)
    kl = importlib.reload(importlib.import_module("nondecoupling.kl"))
    try:
        with pytest.raises(nondecoupling.ParameterError, match=r"parameter 'a' must be <= 0\.5; got 0\.75"):
            kl.kl_bernoulli(0.75, 0.5)
        rng = np.random.default_rng(0)
        drawn = [fuzz_api.draw_valid("kl_bernoulli", rng)["a"] for _ in range(200)]
        assert all(0.0 <= a <= 0.5 for a in drawn) and max(drawn) > 0.4  # the fuzz draws the new interval
        broken = [fuzz_api.violate(tightened.params["a"], a, rng, {}) for a in drawn[:50]]
        assert all(a > 0.5 or a < 0.0 for a in broken) and 0.5000000000000001 in broken  # and breaks it at its edge
        assert fuzz_api.classify("kl_bernoulli", {"a": 0.5000000000000001, "b": 0.5}, "a") == "clear_error"
    finally:
        monkeypatch.undo()
        importlib.reload(importlib.import_module("nondecoupling.kl"))
    # Without the new line the library accepts a = 0.75 (what the fuzz, given the line, would flag).
    assert fuzz_api.classify("kl_bernoulli", {"a": 0.75, "b": 0.5}, "a") == "accepted_invalid"
