"""The library stands alone: arrows go from the experiments to the library, never back.

Nothing under ``theory/`` imports or names the experiments' package ``simulations`` (the
wheel ships ``theory/nondecoupling`` alone), and the library's bridge tests build their
models and tasks without it (``tests/bridge/``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.import_graph import ALLOWED, block_edges, block_of_file, block_of_module, graph_table, imported_modules

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = "simulations"


def imported_packages(source: str) -> set[str]:
    """Top-level names that ``source`` imports: ``import a.b``, ``from a.b import c``, ``import_module("a.b")``."""
    return {name.split(".")[0] for name in imported_modules(source)}


def _python_files(folder: str) -> list[Path]:
    files = sorted((REPO / folder).rglob("*.py"))
    assert files, f"no Python files under {folder}/"
    return files


@pytest.mark.parametrize("source", [
    "import simulations.qwen3",
    "from simulations.qwen3.model import build_tiny_qwen3",
    "def f():\n    import simulations as s",
    "import importlib\nimportlib.import_module('simulations.qwen3.__main__')",
])
def test_the_import_finder_sees_every_form_of_import(source):
    assert EXPERIMENTS in imported_packages(source)


def test_the_import_finder_ignores_relative_imports_and_names_in_text():
    assert imported_packages("from . import simulations\nx = 'simulations'\n# import simulations") == set()


@pytest.mark.parametrize("path", _python_files("theory/nondecoupling"), ids=lambda p: str(p.relative_to(REPO)))
def test_no_library_module_imports_the_experiments(path):
    assert EXPERIMENTS not in imported_packages(path.read_text(encoding="utf-8"))


def test_no_file_under_theory_names_the_experiments():
    """Not even a docstring: the installed library has no simulations/ to point at. (Build output
    such as the editable install's ``*.egg-info``, which copies the README, is not the library.)"""
    files = [path for path in sorted((REPO / "theory").rglob("*")) if path.is_file()
             and not any(part == "__pycache__" or part.endswith(".egg-info") for part in path.parts)]
    named = [f"{path.relative_to(REPO)}:{number}" for path in files
             for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1) if EXPERIMENTS in line]
    assert not named, named


@pytest.mark.parametrize("path", _python_files("tests/bridge"), ids=lambda p: str(p.relative_to(REPO)))
def test_the_bridge_tests_import_nothing_from_the_experiments(path):
    assert EXPERIMENTS not in imported_packages(path.read_text(encoding="utf-8"))


# The library's own tiers: core (numpy, scipy) <- bridge.logs (pandas) <- bridge.models (torch), and
# the experiments above them all (tests/import_graph.py draws the block graph).
TORCH_TIER = {"torch", "transformers", "trl", "accelerate", "datasets", "tokenizers"}
LIBRARY = REPO / "theory" / "nondecoupling"


def _third_party_forbidden(block: str) -> set[str]:
    """Third-party packages a library block must not import (its extra does not install them)."""
    return {"core": TORCH_TIER | {"pandas", "matplotlib"}, "bridge.models": set()}.get(block, TORCH_TIER)


@pytest.mark.parametrize("path", _python_files("theory/nondecoupling"), ids=lambda p: str(p.relative_to(REPO)))
def test_each_tier_imports_only_the_tiers_before_it(path):
    block = block_of_file(path)
    modules = imported_modules(path.read_text(encoding="utf-8"))
    wrong = sorted(m for m in modules if m.split(".")[0] in _third_party_forbidden(block)
                   or block_of_module(m) not in (None, block, *ALLOWED[block]))
    assert not wrong, f"{path.relative_to(REPO)} ({block}) imports {wrong}"


def test_the_block_graph_has_arrows_only_from_the_experiments_to_the_library():
    edges = block_edges()
    assert ("experiments", "core") in edges  # the graph sees the arrows there are
    assert not [edge for edge in edges if edge[1] not in ALLOWED[edge[0]]]


def test_the_layout_page_shows_the_current_import_graph():
    assert graph_table() in (REPO / "docs" / "layout.md").read_text(encoding="utf-8"), "rerun python -m tests.import_graph"


def test_the_tier_rule_sees_a_late_import_of_torch_and_of_the_torch_tier():
    modules = imported_modules("def f():\n    import torch.nn\n    from nondecoupling.bridge.models import tiny")
    assert "torch.nn" in modules and block_of_module("nondecoupling.bridge.models.tiny") == "bridge.models"
    assert "bridge.models" not in ALLOWED["bridge.logs"] and "torch" in _third_party_forbidden("bridge.logs")


def test_the_check_command_runs_without_torch():
    """The log tier end to end (check and watch imported) leaves torch unimported."""
    import subprocess
    import sys

    code = ("import sys; import nondecoupling.bridge.__main__, nondecoupling.bridge.logs.watch, "
            "nondecoupling.bridge.logs.verdicts, nondecoupling.bridge.logs.report; "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(TORCH_TIER)!r}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": str(LIBRARY.parent), "PATH": ""})
    assert result.stdout.strip() == "[]", result.stdout
