"""A small, shared way to write a derivation as a list of steps that sympy proves.

A derivation module builds its closed forms with sympy and records each algebraic claim it
relies on as a :class:`Step`. A step is proven when sympy reduces ``expr`` to zero
(:func:`zero`), or decides a relational or sign claim to ``True`` (:func:`true`). Printing a
:class:`Derivation` shows every step with its verdict, so a reader can run
``python -m nondecoupling.derivations.p3_optimal_rl_duration`` and follow the proof.

:func:`cached` stores a proven :class:`Derivation` on disk (``NONDECOUPLING_PROOF_CACHE``,
default ``~/.cache/nondecoupling/proofs``; ``0`` turns it off). A derivation is a
deterministic function of the derivation sources and the sympy version, so the key is the
SHA-256 of every ``derivations/*.py`` file, the sympy version and the module's name: a cached
derivation is the one ``derive()`` would build again. Only fully proven derivations are
stored, so a failing proof is always re-run.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import sympy as sp

from nondecoupling._cache import user_cache_dir


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


def _cache_dir() -> Path | None:
    """The proof cache folder, or ``None`` when ``NONDECOUPLING_PROOF_CACHE=0``."""
    return user_cache_dir("NONDECOUPLING_PROOF_CACHE", "proofs")


@functools.cache
def _sources_hash() -> str:
    """SHA-256 of every derivation source (derivations import each other and this file)."""
    digest = hashlib.sha256(sp.__version__.encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def cached(derive):
    """``derive`` with its proven :class:`Derivation` kept on disk (see the module docstring).

    >>> from nondecoupling.derivations import p4_nondecoupling_threshold as p4
    >>> cached(p4.derive)().proven
    True
    """

    @functools.wraps(derive)
    def cached_derive() -> Derivation:
        folder = _cache_dir()
        if folder is None:
            return derive()
        key = hashlib.sha256(f"{_sources_hash()}|{derive.__module__}.{derive.__qualname__}".encode()).hexdigest()
        entry = folder / f"{key}.pickle"
        try:
            return pickle.loads(entry.read_bytes())
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
            pass  # not cached yet, or unreadable: derive again
        derivation = derive()
        if derivation.proven:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                partial = folder / f".{key}.{os.getpid()}"  # written whole, then renamed: atomic
                partial.write_bytes(pickle.dumps(derivation))
                partial.replace(entry)
            except OSError:  # a read-only home: derive again next time
                pass
        return derivation

    return cached_derive
