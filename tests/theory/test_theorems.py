"""The theorem registry (:mod:`nondecoupling.theorems`) is the one list of THEORY.md's IDs: the
package's docstring table and its ``TYPE_CHECKING`` imports, the derivation modules and
docs/THEORY.md (its statements, the paper's table and the public API table) agree with it."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import nondecoupling
from nondecoupling.theorems import THEOREMS, api_table, public_api

REPO = Path(__file__).resolve().parents[2]
LIBRARY = REPO / "theory" / "nondecoupling"
THEORY = (REPO / "docs" / "THEORY.md").read_text(encoding="utf-8")


def test_each_public_name_belongs_to_exactly_one_theorem():
    names = [name for theorem in THEOREMS.values() for name in theorem.names]
    assert len(names) == len(set(names)), sorted(name for name in names if names.count(name) > 1)


@pytest.mark.parametrize("name", public_api())
def test_each_public_name_is_defined_in_the_module_the_registry_names(name):
    assert name in vars(importlib.import_module(public_api()[name]))


def test_the_lazy_table_serves_the_registry_and_nothing_else():
    assert nondecoupling.__all__ == ["ParameterError", *public_api()]


def test_the_type_checking_imports_are_the_registry():
    """mypy reads the static imports, Python the lazy table: both must name the same functions."""
    tree = ast.parse((LIBRARY / "__init__.py").read_text(encoding="utf-8"))
    block = next(node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
    imported = {alias.name: node.module for node in block.body if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert imported == {**public_api(), "ParameterError": "nondecoupling.validation"}


def test_the_docstring_table_is_the_registry():
    table = [line for line in (nondecoupling.__doc__ or "").splitlines() if line.startswith("|")]
    assert table == api_table().splitlines(), f"paste into theory/nondecoupling/__init__.py's docstring:\n{api_table()}"


def test_every_derivation_module_is_registered_under_its_id():
    files = {path.stem for path in (LIBRARY / "derivations").glob("[a-z][0-9]_*.py")}
    registered = {theorem.derivation: theorem for theorem in THEOREMS.values() if theorem.derivation}
    assert files == set(registered)
    for stem, theorem in registered.items():
        assert stem.startswith(f"{theorem.id.lower()}_"), stem
        docstring = ast.get_docstring(ast.parse((LIBRARY / "derivations" / f"{stem}.py").read_text(encoding="utf-8")))
        assert docstring and docstring.startswith(f"{theorem.id} ("), f"{stem}'s docstring does not open with its ID"
        if not theorem.id.startswith("V"):  # the paper's statements are titled by their number in the paper
            assert docstring.startswith(f"{theorem.id} ({theorem.title})"), stem


def _theory_statements() -> list[tuple[str, str]]:
    """THEORY.md's (ID, title): ``ID (title). ...`` lines, then the paper table's rows (section V)."""
    stated = re.findall(r"^([A-Z]\d) \((.+?)\)\. ", THEORY, re.MULTILINE)
    paper = [(theorem, title) for title, theorem in re.findall(r"^\| ([^|]+?) \| (V\d)\b", THEORY, re.MULTILINE)]
    return stated + paper


def test_theory_md_states_exactly_the_registered_theorems():
    statements = _theory_statements()
    assert len(statements) == len(dict(statements)), "an ID stated twice in THEORY.md"
    assert dict(statements) == {theorem.id: theorem.title for theorem in THEOREMS.values()}


def test_theory_md_api_table_files_each_function_under_its_theorem():
    rows = re.findall(r"^\| ([A-Z]\d) \| (.+?) \| ", THEORY, re.MULTILINE)
    filed = {name: theorem for theorem, functions in rows for name in re.findall(r"(\w+)\(", functions)}
    assert filed == {name: theorem.id for theorem in THEOREMS.values() for name in theorem.names}
