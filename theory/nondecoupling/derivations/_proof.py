"""A small, shared way to write a derivation as a list of steps that sympy proves.

A derivation module builds its closed forms with sympy and records each algebraic claim it
relies on as a :class:`Step`. A step is proven when sympy reduces ``expr`` to zero
(:func:`zero`), or decides a relational or sign claim to ``True`` (:func:`true`). Printing a
:class:`Derivation` shows every step with its verdict, so a reader can run
``python -m nondecoupling.derivations.p3_optimal_rl_duration`` and follow the proof.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp


@dataclass(frozen=True)
class Step:
    """One claim of a derivation and whether sympy proved it."""

    claim: str
    expr: sp.Basic
    proven: bool

    def __str__(self) -> str:
        mark = "proved" if self.proven else "NOT PROVED"
        return f"[{mark}] {self.claim}\n        {sp.sstr(self.expr)}"


def zero(claim: str, expr: sp.Expr) -> Step:
    """``expr == 0`` identically; tries ``simplify`` and then ``expand`` of the log/exp forms."""
    candidates = (sp.simplify(expr), sp.simplify(sp.expand(sp.expand_log(expr, force=True))))
    return Step(claim, expr, any(c == 0 for c in candidates))


def true(claim: str, statement: sp.Basic) -> Step:
    """A relational or boolean claim that sympy decides to ``True`` under the symbols' assumptions."""
    verdict = statement if isinstance(statement, bool) else sp.simplify(statement)
    return Step(claim, sp.sympify(statement), verdict is sp.true or verdict is True)


@dataclass
class Derivation:
    """The result of a theorem's ``derive()``: named closed forms and the proven steps."""

    theorem_id: str
    results: dict = field(default_factory=dict)
    steps: list = field(default_factory=list)

    @property
    def proven(self) -> bool:
        return all(step.proven for step in self.steps)

    def __str__(self) -> str:
        lines = [f"{self.theorem_id}: {len(self.steps)} steps, "
                 f"{'all proved' if self.proven else 'SOME NOT PROVED'}"]
        lines += [f"  {name} = {sp.sstr(value)}" for name, value in self.results.items()]
        lines += [f"  {step}" for step in self.steps]
        return "\n".join(lines)
