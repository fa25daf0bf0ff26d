"""The experiments' registry (:mod:`simulations.theorems`) covers every ID of the library's
(:mod:`nondecoupling.theorems`), and the check modules, the figure modules, the committed
figures and the README's theorem table agree with the two (no sweep is run here)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from nondecoupling.theorems import THEOREMS
from simulations.plots import MODULES
from simulations.theorems import EXPERIMENTS

REPO = Path(__file__).resolve().parents[2]
CHECKS = REPO / "simulations" / "checks"
NOT_PER_THEOREM = {"__init__", "_common", "tight_regimes"}  # shared instances; P1-P5's regimes side by side


def test_the_experiments_list_every_library_theorem_in_its_order():
    assert list(EXPERIMENTS) == list(THEOREMS)


def test_every_check_module_is_registered_under_its_id():
    registered = {experiment.check: theorem for theorem, experiment in EXPERIMENTS.items() if experiment.check}
    assert {path.stem for path in CHECKS.glob("*.py")} - NOT_PER_THEOREM == set(registered)
    for check, theorem in registered.items():
        assert check.startswith(f"{theorem.lower()}_"), check
        docstring = ast.get_docstring(ast.parse((CHECKS / f"{check}.py").read_text(encoding="utf-8")))
        assert docstring and docstring.startswith(f"{theorem} ("), f"{check}'s docstring does not open with its ID"


def test_the_figure_modules_draw_exactly_the_registered_figures():
    by_module = [name for module in MODULES.values() for name in module.figures]
    assert len(by_module) == len(set(by_module)), "a figure drawn by two modules"
    assert set(by_module) == {name for experiment in EXPERIMENTS.values() for name in experiment.figures}
    assert all(module.theorems for module in MODULES.values())


def test_the_committed_figures_show_what_the_registry_says():
    """figures/index.json (the default sweep, real-run figures included): every figure the registry
    names is there, and each theorem a figure says it shows lists that figure."""
    entries = json.loads((REPO / "figures" / "index.json").read_text(encoding="utf-8"))["figures"]
    assert {name for experiment in EXPERIMENTS.values() for name in experiment.figures} == {e["name"] for e in entries}
    for entry in entries:
        assert set(entry["theorems"]) <= {t for t, experiment in EXPERIMENTS.items() if entry["name"] in experiment.figures}, entry["name"]


# ---- the README's theorem table ----------------------------------------------------------------
def _readme_rows() -> dict[str, list[str]]:
    """The README theorem table: ID -> its cells (ID, claim, API, derivation · simulation · tests, figure)."""
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines if re.match(r"\| [A-Z]\d \|", line)]
    assert all(len(row) == 5 for row in rows), [row[0] for row in rows if len(row) != 5]
    assert len(rows) == len({row[0] for row in rows}), "an ID twice in the README's table"
    return {row[0]: row for row in rows}


def _links(cell: str, prefix: str) -> list[str]:
    return [target for target in re.findall(r"\]\(([^)]+)\)", cell) if target.startswith(prefix)]


def test_the_readme_table_lists_every_theorem_in_order():
    assert list(_readme_rows()) == list(THEOREMS)


@pytest.mark.parametrize("theorem", THEOREMS.values(), ids=lambda theorem: theorem.id)
def test_the_readme_row_is_the_registry(theorem):
    _, _, api, files, figures = _readme_rows()[theorem.id]
    experiment = EXPERIMENTS[theorem.id]
    assert tuple(re.findall(r"`(\w+)`", api)) == theorem.names
    assert _links(files, "theory/nondecoupling/derivations/") == [f"theory/nondecoupling/derivations/{theorem.derivation}.py"] * bool(theorem.derivation)
    assert _links(files, "simulations/checks/") == [f"simulations/checks/{experiment.check}.py"] * bool(experiment.check)
    assert _links(figures, "") == [f"figures/{name}.png" for name in experiment.figures]
    for target in re.findall(r"\]\(([^)]+)\)", files + figures):
        assert (REPO / target).is_file(), target
