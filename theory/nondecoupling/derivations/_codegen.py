"""Print sympy closed forms as plain numpy modules, so the numbers cannot drift from the algebra.

Each theorem's derivation module exposes ``closed_forms() -> list[ClosedForm]``. This module
prints them, with sympy's C99 rewrites (``expm1``, ``log1p``, ...) applied so that
cancellation-prone expressions stay accurate, into ``theory/nondecoupling/_generated/<id>.py``. The
numeric API (``nondecoupling.landscape`` etc.) imports those generated functions and adds input
validation; ``tests/theory/test_codegen.py`` regenerates every module and asserts that it
equals the committed file.

Regenerate everything with ``python -m nondecoupling.derivations.codegen``.
"""

from __future__ import annotations

import importlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sympy as sp
from sympy.codegen.rewriting import optimize, optims_c99
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.pycode import PythonCodePrinter

GENERATED_DIR = Path(__file__).resolve().parent.parent / "_generated"


def _factor_lists(printer, args) -> str:
    """``(numerators,), (denominators,)``: a factor 1/x is passed as the divisor x (no overflow in 1/x)."""
    numerators, denominators = [], []
    for arg in args:
        if isinstance(arg, sp.Pow) and arg.exp.is_negative:
            denominators.append(printer._print(sp.Pow(arg.base, -arg.exp)))
        else:
            numerators.append(printer._print(arg))
    return f"({', '.join(numerators)},), ({', '.join(denominators)}{',' if denominators else ''})"


class ScaledProduct(sp.Function):
    """The product of the arguments, printed as ``nondecoupling._scaled.scaled_product(...)``.

    Mathematically a plain product (``doit()`` returns it, so proofs see the product); in the
    generated code it is evaluated without intermediate over- or underflow.
    """

    @classmethod
    def eval(cls, *args):
        return None

    def doit(self, **hints):
        return sp.Mul(*(arg.doit(**hints) for arg in self.args))

    def _numpycode(self, printer):
        printer.module_imports["nondecoupling._scaled"].add("scaled_product")
        return f"scaled_product({_factor_lists(printer, self.args)})"

    def _pythoncode(self, printer):
        printer.module_imports["nondecoupling._scaled"].add("scaled_product_scalar")
        return f"scaled_product_scalar({_factor_lists(printer, self.args)})"


#: The 1/2 of a curvature c/2 as its own factor of a :class:`ScaledProduct`: exact there, whereas
#: the float c/2 rounds off the last bit of a subnormal c.
HALF = sp.Rational(1, 2)


def quartered_exp(exponent) -> tuple:
    """e^x as four factors e^{x/4} of a :class:`ScaledProduct`: each is a normal float while
    x > -2832, so a product whose e^x is subnormal (x < -708) keeps every bit; x/4 is exact."""
    return (sp.exp(ScaledProduct(sp.Rational(1, 4), exponent)),) * 4


class LogOfProduct(sp.Function):
    """log of the product of the arguments, printed as ``nondecoupling._scaled.log_of_product(...)``."""

    @classmethod
    def eval(cls, *args):
        return None

    def doit(self, **hints):
        return sp.log(sp.Mul(*(arg.doit(**hints) for arg in self.args)))

    def _numpycode(self, printer):
        printer.module_imports["nondecoupling._scaled"].add("log_of_product")
        return f"log_of_product({_factor_lists(printer, self.args)})"

    def _pythoncode(self, printer):
        printer.module_imports["nondecoupling._scaled"].add("log_of_product_scalar")
        return f"log_of_product_scalar({_factor_lists(printer, self.args)})"


@dataclass(frozen=True)
class ClosedForm:
    """One closed form that becomes one generated numpy function.

    Parameters
    ----------
    name : str
        Name of the generated function.
    args : tuple of sympy.Symbol
        Its parameters, in order; symbol names are the Python parameter names.
    expr : sympy.Expr
        The expression it returns.
    doc : str
        One line saying what it is, with the theorem ID.
    rewrite : bool
        Apply sympy's C99 rewrites (``exp(x) - 1 -> expm1(x)``, ...) before printing. Turn
        off when the derivation already shaped the expression for accuracy.
    scalar : bool
        Also print ``<name>_scalar``, the same expression for Python floats with :mod:`math`
        (the public functions' fast path for scalar input; it raises where numpy would return
        inf or NaN, and the caller then takes the array path).
    lazy_branches : bool
        Print each ``Piecewise`` as ``nondecoupling._piecewise.first_true(...)`` instead of
        ``numpy.select(...)``: each branch is evaluated only on the entries that select it
        (first true condition wins, as in ``select``; the same operations, see
        :class:`LazyBranchPrinter`), bitwise the same floats. Turn on for forms evaluated many
        times on arrays, whose branches are costly (K1's kl inside kl_inverse_*).
    """

    name: str
    args: tuple
    expr: sp.Expr
    doc: str
    rewrite: bool = True
    scalar: bool = True
    lazy_branches: bool = False


class LazyBranchPrinter(NumPyPrinter):
    """:class:`NumPyPrinter` that prints a ``Piecewise`` as a call of
    :func:`nondecoupling._piecewise.first_true` with one ``lambda <params>: ...`` per condition and
    per branch, each printed by NumPyPrinter itself (the same operations as in its ``select``).

    One change inside a branch: an ``UnevaluatedExpr`` (a subexpression the derivation forms
    first) that the branch repeats in parentheses is formed once, as the argument of an enclosing
    ``(lambda u0: ...)(...)``, and the name stands where ``(...)`` stood. Each occurrence was the
    same parenthesized expression, so the same float: the values are bitwise those of ``select``
    (``tests/theory/test_k1_any_policy_pays.py``). It matters for speed: a Taylor branch that repeats its ratio
    14 times would hold 14 temporaries of the array's size while evaluating it (K1's series binds its
    own names, see ``derivations.k1_any_policy_pays.LoaderSeries``).
    """

    def __init__(self, params: str, settings: dict):
        super().__init__(settings)
        self._params = params
        self._shared: dict = {}  # UnevaluatedExpr -> the name it is bound to, in the branch being printed
        self._used: set = set()

    def _print_Piecewise(self, expr):
        self.module_imports["nondecoupling._piecewise"].add("first_true")
        head = f"lambda {self._params}: "
        # NumPyPrinter's own rule for conditions: an ITE inside one is simplified away first.
        conditions = [sp.simplify_logic(arg.cond) if arg.cond.has(sp.ITE) else arg.cond for arg in expr.args]
        conditions = ", ".join(head + self._print(condition) for condition in conditions)
        branches = ", ".join(head + self._print_branch(arg.expr) for arg in expr.args)
        return f"first_true([{self._params}], [{conditions}], [{branches}])"

    def _print_branch(self, expr) -> str:
        """The branch's text, its repeated outermost ``UnevaluatedExpr``s bound once (class docstring)."""
        counts = Counter(node for node in sp.preorder_traversal(expr) if isinstance(node, sp.UnevaluatedExpr))
        repeated = [node for node, count in counts.items() if count > 1]
        outermost = [node for node in repeated if not any(other != node and other.has(node) for other in repeated)]
        names = [f"u{k}" for k in range(len(outermost))]
        assert not set(names) & set(self._params.split(", ")), f"{names} clash with parameters {self._params}"
        enclosing = self._shared, self._used  # a Piecewise inside a branch binds its own names
        self._shared, self._used = dict(zip(outermost, names)), set()
        text = self._print(expr)
        bound = [(name, node) for node, name in self._shared.items() if name in self._used]
        self._shared, self._used = enclosing
        for name, node in bound:
            text = f"(lambda {name}: {text})({self._print(node)})"
        return text

    def parenthesize(self, item, level, strict=False):
        text = super().parenthesize(item, level, strict)
        name = self._shared.get(item)
        if name is not None and text == f"({self._print(item)})":  # a parenthesized occurrence only
            self._used.add(name)
            return name
        return text


#: Calls worth computing once when an expression repeats them (a square ell(t) * ell(t), say).
_SHARED_CALLS = (ScaledProduct, LogOfProduct, sp.Min, sp.Max, sp.Piecewise)


def shared_calls(expr: sp.Expr) -> tuple[list, sp.Expr]:
    """``(assignments, reduced)``: every repeated :data:`_SHARED_CALLS` sub-expression named once.

    The largest repeated call is named first (so its inner calls are not named needlessly), also
    inside the earlier names' definitions; the assignments are returned innermost first, ready to
    print in order. Only whole calls are shared, never parts of a sum or product, so the printed
    code performs the same floating-point operations as the unshared expression, once each.
    (sympy's ``cse`` also regroups the terms of sums and products, which changes roundings.)
    """
    assignments: list[tuple[Any, Any]] = []
    while True:
        counts = Counter(node for tree in (expr, *(body for _, body in assignments))
                         for node in sp.preorder_traversal(tree) if isinstance(node, _SHARED_CALLS))
        repeated = [node for node, count in counts.items() if count > 1]
        if not repeated:
            return assignments[::-1], expr
        largest = max(repeated, key=sp.count_ops)
        name = sp.Symbol(f"shared_{len(assignments)}")
        expr = expr.xreplace({largest: name})
        assignments = [(symbol, body.xreplace({largest: name})) for symbol, body in assignments] + [(name, largest)]


def _function_text(name: str, params: str, doc: str, printer, assignments, expr) -> str:
    lines = [f"def {name}({params}):", f'    """{doc}"""']
    lines += [f"    {symbol} = {printer.doprint(body)}" for symbol, body in assignments]
    return "\n".join([*lines, f"    return {printer.doprint(expr)}\n"])


def render(theorem_id: str, source_module: str, forms: list[ClosedForm]) -> str:
    """Return the text of the generated module for one theorem ID."""
    settings = {"fully_qualified_modules": False, "allow_unknown_functions": False}
    printer = NumPyPrinter(settings)
    # Fully qualified (math.sqrt): the numpy functions of the same names are imported unqualified.
    scalar_printer = PythonCodePrinter({"fully_qualified_modules": True})
    printers = [printer, scalar_printer]
    bodies = []
    for form in forms:
        assignments, expr = shared_calls(optimize(form.expr, optims_c99) if form.rewrite else form.expr)
        params = ", ".join(str(a) for a in form.args)
        if form.lazy_branches:
            printers.append(LazyBranchPrinter(params, settings))
        array_printer = printers[-1] if form.lazy_branches else printer
        bodies.append(_function_text(form.name, params, form.doc, array_printer, assignments, expr))
        if form.scalar:
            bodies.append(_function_text(f"{form.name}_scalar", params, f"{form.doc} (Python floats, math)",
                                         scalar_printer, assignments, expr))
    imports = ["import math"] if "math" in scalar_printer.module_imports else []
    modules = sorted(set().union(*(p.module_imports for p in printers)) - {"math"})
    for module in modules:
        names = set().union(*(p.module_imports.get(module, set()) for p in printers))
        imports.append(f"from {module} import {', '.join(sorted(names))}")
    header = (
        f'"""Generated from ``{source_module}`` ({theorem_id}) by\n'
        f"``python -m nondecoupling.derivations.codegen``. Do not edit: change the derivation and\n"
        f'regenerate."""\n'
        "# fmt: off\n"
        "# ruff: noqa\n"
    )
    return header + "\n".join(imports) + "\n\n\n" + "\n\n".join(bodies)


def module_path(theorem_id: str) -> Path:
    """Where the generated module of ``theorem_id`` lives."""
    return GENERATED_DIR / f"{theorem_id.lower()}.py"


def render_registered(theorem_id: str) -> str:
    """Render the generated module of a registered theorem ID from its derivation."""
    from nondecoupling.derivations import REGISTRY

    source_module = REGISTRY[theorem_id]
    forms = importlib.import_module(source_module).closed_forms()
    return render(theorem_id, source_module, forms)
