"""``py.typed`` keeps its promise: mypy finds no error in the library, and every public function is annotated.

mypy's own ``disallow_untyped_defs`` / ``disallow_incomplete_defs`` would demand annotations of
every function, private helpers and the generated code included; the promise is about the API,
so the public functions are found here (from the source, so the torch tier is checked without
torch): a module-level function or a method of a module-level class whose name, and whose
module's dotted path, has no leading underscore (``__init__`` counts: its parameters are the
class's), with every parameter but ``self``/``cls`` and the return annotated.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LIBRARY = REPO / "theory" / "nondecoupling"


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _unannotated(function: ast.FunctionDef | ast.AsyncFunctionDef, *, method: bool) -> list[str]:
    """The names of ``function``'s parameters without an annotation, and ``return`` if it has none."""
    arguments = function.args
    parameters = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                  *filter(None, [arguments.vararg, arguments.kwarg])]
    decorators = {getattr(decorator, "id", None) for decorator in function.decorator_list}
    if method and "staticmethod" not in decorators:
        parameters = parameters[1:]  # self or cls
    missing = [parameter.arg for parameter in parameters if parameter.annotation is None]
    return missing + ["return"] * (function.returns is None)


def unannotated_public_functions(source: str) -> dict[str, list[str]]:
    """``{qualified name: what lacks an annotation}`` for the public functions and methods of a module's source."""
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            members = [(node.name, node, False)]
        elif isinstance(node, ast.ClassDef) and not _is_private(node.name):
            members = [(f"{node.name}.{member.name}", member, True) for member in node.body
                       if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef)]
        else:
            continue
        for name, function, method in members:
            if _is_private(function.name) or (function.name.startswith("__") and function.name != "__init__"):
                continue
            if missing := _unannotated(function, method=method):
                found[name] = missing
    return found


def public_modules() -> list[Path]:
    modules = [path for path in sorted(LIBRARY.rglob("*.py"))
               if not any(map(_is_private, path.relative_to(LIBRARY.parent).with_suffix("").parts))]
    assert len(modules) > 20, f"the library's modules not found under {LIBRARY}"
    return modules


@pytest.mark.parametrize("source, expected", [
    ("def f(x, y: int): pass", {"f": ["x", "return"]}),
    ("def f(*args, **kwargs) -> None: pass", {"f": ["args", "kwargs"]}),
    ("async def f(*, key) -> int: pass", {"f": ["key"]}),
    ("class A:\n    def __init__(self, x): pass\n    def m(self) -> int: pass\n    @staticmethod\n    def s(x) -> int: pass",
     {"A.__init__": ["x", "return"], "A.s": ["x"]}),
    ("class A:\n    @classmethod\n    def c(cls, x: int): pass\n    @property\n    def p(self): pass", {"A.c": ["return"], "A.p": ["return"]}),
])
def test_the_finder_names_each_missing_annotation(source, expected):
    assert unannotated_public_functions(source) == expected


@pytest.mark.parametrize("source", [
    "def f(x: int, /, y: str = '', *args: int, z: float, **kwargs: bool) -> None: pass",
    "def _private(x): pass",
    "class _Private:\n    def m(self, x): pass",
    "class A:\n    def _m(self, x): pass\n    def __call__(self, x): pass\n    def m(self) -> None:\n        def inner(y): pass",
])
def test_the_finder_passes_annotated_private_and_dunder_functions(source):
    assert unannotated_public_functions(source) == {}


def test_every_public_function_is_fully_annotated():
    missing = {f"{path.relative_to(REPO)}: {name}": lacks for path in public_modules()
               for name, lacks in unannotated_public_functions(path.read_text(encoding="utf-8")).items()}
    assert not missing, f"{len(missing)} public functions lack annotations:\n" + "\n".join(
        f"  {where} ({', '.join(lacks)})" for where, lacks in missing.items())


@pytest.mark.slow
def test_mypy_finds_no_error_in_the_library():
    """pyproject's [tool.mypy] over theory/nondecoupling (CI installs mypy with the test extra: no skip there)."""
    if not os.environ.get("CI"):
        pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[test]')")
        # the torch tier's types come from torch: without the extra, mypy cannot resolve them
        pytest.importorskip("torch", reason="the torch tier is type-checked with the torch extra (CI installs it)")
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
