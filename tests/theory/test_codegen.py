"""The numeric API is provably generated from the derivations: regenerate and compare."""

import dataclasses

import numpy as np
import pytest
import sympy as sp

from nondecoupling.derivations import REGISTRY
from nondecoupling.derivations._codegen import ClosedForm, module_path, render, render_registered


@pytest.mark.parametrize("theorem_id", sorted(REGISTRY))
def test_generated_module_matches_derivation(theorem_id):
    text = render_registered(theorem_id)
    path = module_path(theorem_id)
    if "def " not in text:
        assert not path.exists(), f"{path} is stale: {theorem_id} has no closed forms"
        return
    assert path.read_text() == text, f"{path} drifted; run python -m nondecoupling.derivations.codegen"


def _function(form, **options):
    """``(text, function)``: the form rendered alone (array function only), and executed."""
    text = render("T", "test", [dataclasses.replace(form, scalar=False, **options)])
    namespace = {}
    exec(compile(text, "<rendered>", "exec"), namespace)  # noqa: S102
    return text, namespace[form.name]


def test_lazy_branches_print_the_same_floats_as_select_also_nested():
    """A Piecewise inside a branch, each with a repeated UnevaluatedExpr: lazy and select agree bitwise."""
    x, y = sp.symbols("x y")
    ratio = sp.UnevaluatedExpr((x - y) / y)
    inner = sp.Piecewise((ratio * (1 + ratio * (sp.Rational(1, 3) + ratio)), x > 0.25), (sp.log(x) * ratio, True))
    expr = sp.Piecewise((sp.oo, sp.Eq(y, 0)), (y * ratio**2 * (1 + ratio) + inner, x < 2 * y), (ratio + ratio**2, True))
    form = ClosedForm("nested", (x, y), expr, "test", rewrite=False)
    (lazy_text, lazy), (select_text, select) = _function(form, lazy_branches=True), _function(form)
    assert "select(" in select_text and "select(" not in lazy_text
    assert lazy_text.count("first_true(") == 2 and lazy_text.count("(lambda u0: ") >= 2  # both levels bind
    grid = np.array(np.meshgrid(np.linspace(0, 1, 41), np.r_[0.0, np.linspace(1e-3, 1, 40)])).reshape(2, -1)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(lazy(*grid).view(np.int64), select(*grid).view(np.int64))
