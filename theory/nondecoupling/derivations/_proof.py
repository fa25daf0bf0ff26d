"""A small, shared way to write a derivation as a list of steps that sympy proves.

A derivation module builds its closed forms with sympy and records each algebraic claim it
relies on as a :class:`Step`. A step is proven when sympy reduces ``expr`` to zero
(:func:`zero`), or decides a relational or sign claim to ``True`` (:func:`true`). Printing a
:class:`Derivation` shows every step with its verdict, so a reader can run
``python -m nondecoupling.derivations.p3_optimal_rl_duration`` and follow the proof.

Proofs are cached on disk (``NONDECOUPLING_PROOF_CACHE``, default
``~/.cache/nondecoupling/proofs``; ``0`` turns the cache off). A verdict is a deterministic
function of the exact expression (``sympy.srepr``, assumptions included), the sympy version
and this file's source, so the cache key is their SHA-256 and a cached verdict is the one
sympy would return again; only proven steps are stored, so a failed proof is always re-tried.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import sympy as sp

_SOURCE_HASH = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def _cache_dir() -> Path | None:
    """The proof cache folder, or ``None`` when ``NONDECOUPLING_PROOF_CACHE=0``."""
    setting = os.environ.get("NONDECOUPLING_PROOF_CACHE", "")
    if setting == "0":
        return None
    return Path(setting) if setting else Path.home() / ".cache" / "nondecoupling" / "proofs"


def _cached(kind: str, expr: sp.Basic, prove) -> bool:
    """``prove()``'s verdict on ``expr``, read from / written to the on-disk cache.

    Only ``True`` is stored (one empty file per proven key, written atomically), so
    concurrent test workers never see a partial entry and a failure is never cached.
    """
    folder = _cache_dir()
    if folder is None:
        return prove()
    key = hashlib.sha256(f"{_SOURCE_HASH}|{sp.__version__}|{kind}|{sp.srepr(expr)}".encode()).hexdigest()
    entry = folder / key
    if entry.is_file():
        return True
    proven = prove()
    if proven:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            partial = folder / f".{key}.{os.getpid()}"
            partial.touch()
            partial.replace(entry)
        except OSError:  # a read-only home: prove again next time
            pass
    return proven


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

    def prove() -> bool:
        return sp.simplify(expr) == 0 or sp.simplify(sp.expand(sp.expand_log(expr, force=True))) == 0

    return Step(claim, expr, _cached("zero", expr, prove))


def true(claim: str, statement: sp.Basic) -> Step:
    """A relational or boolean claim that sympy decides to ``True`` under the symbols' assumptions."""
    if isinstance(statement, bool):
        return Step(claim, sp.sympify(statement), statement)
    proven = _cached("true", statement, lambda: sp.simplify(statement) is sp.true)
    return Step(claim, sp.sympify(statement), proven)


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
