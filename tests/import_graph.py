"""The import graph of the tree, block by block: ``python -m tests.import_graph``.

Blocks: the library's core (``nondecoupling`` outside the bridge), its two bridge tiers
(``bridge.logs``: pandas; ``bridge.models``: torch; ``bridge`` itself: what both share), and the
experiments (``simulations``). An arrow A -> B counts the import statements in A's files that name a
module of B. The layering the project keeps (``tests/test_layering.py`` asserts it): arrows go from
the experiments to the library, and inside the library only core <- bridge <- bridge.logs <- bridge.models.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BLOCKS = ("core", "bridge", "bridge.logs", "bridge.models", "experiments")
#: Arrows the layering allows (each block may also import itself).
ALLOWED = {
    "core": set(),
    "bridge": {"core", "bridge.logs"},  # the package re-exports the log tier; the CLI dispatches to it
    "bridge.logs": {"core", "bridge"},
    "bridge.models": {"core", "bridge", "bridge.logs"},
    "experiments": {"core", "bridge", "bridge.logs", "bridge.models"},
}


def imported_modules(source: str) -> set[str]:
    """Full dotted names that ``source`` imports (``from a.b import c`` gives ``a.b`` and ``a.b.c``).

    Also ``import_module("a.b")`` and ``__import__("a.b")`` with a literal name: the lazy imports
    that keep scipy.stats, matplotlib and torch off the core's import path are imports too.
    """
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif _is_dynamic_import(node):
            found.add(node.args[0].value)
    return found


def _is_dynamic_import(node: ast.AST) -> bool:
    """``import_module("a.b")`` or ``__import__("a.b")`` (plain or as an attribute) with a literal name."""
    if not isinstance(node, ast.Call) or not node.args:
        return False
    name = getattr(node.func, "attr", getattr(node.func, "id", None))
    first = node.args[0]
    return name in ("import_module", "__import__") and isinstance(first, ast.Constant) and isinstance(first.value, str)


def block_of_module(name: str) -> str | None:
    """The block of a dotted module name, or None for third-party and test modules."""
    parts = name.split(".")
    if parts[0] == "simulations":
        return "experiments"
    if parts[0] != "nondecoupling":
        return None
    if parts[1:2] != ["bridge"]:
        return "core"
    return f"bridge.{parts[2]}" if parts[2:3] in (["logs"], ["models"]) else "bridge"


def block_of_file(path: Path) -> str:
    """The block of a source file of the library or the experiments."""
    relative = path.relative_to(REPO)
    if relative.parts[0] == "simulations":
        return "experiments"
    module = ".".join(relative.relative_to("theory").with_suffix("").parts)
    return block_of_module(module) or "core"


def source_files() -> list[Path]:
    return sorted([*(REPO / "theory" / "nondecoupling").rglob("*.py"), *(REPO / "simulations").rglob("*.py")])


def block_edges() -> Counter:
    """(from block, to block) -> number of A's files that import a module of B."""
    edges: Counter = Counter()
    for path in source_files():
        source_block = block_of_file(path)
        targets = {block_of_module(name) for name in imported_modules(path.read_text(encoding="utf-8"))}
        edges.update((source_block, target) for target in targets if target and target != source_block)
    return edges


def graph_table() -> str:
    """The block matrix and the arrows against the layering, as docs/layout.md shows them."""
    edges = block_edges()
    width = max(map(len, BLOCKS))
    lines = [f"{'imports ->':<{width}}  " + "  ".join(BLOCKS)]
    for source in BLOCKS:
        lines.append(f"{source:<{width}}  " + "  ".join(f"{edges.get((source, target), 0) or '.':>{len(target)}}" for target in BLOCKS))
    wrong = sorted(edge for edge in edges if edge[1] not in ALLOWED[edge[0]])
    lines.append(f"arrows against the layering: {wrong or 'none'}")
    return "\n".join(lines) + "\n"


def main() -> None:
    print(graph_table(), end="")


if __name__ == "__main__":
    main()
