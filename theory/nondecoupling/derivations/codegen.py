"""Regenerate ``theory/nondecoupling/_generated/`` from the derivations: ``python -m nondecoupling.derivations.codegen``."""

import argparse
from collections.abc import Sequence
from pathlib import Path

from nondecoupling.derivations import REGISTRY
from nondecoupling.derivations._codegen import GENERATED_DIR, module_path, render_registered


def _source_checkout() -> Path:
    """The checkout the generated modules belong to; refuse an installed copy (site-packages)."""
    root = GENERATED_DIR.parent.parent.parent
    if not (root / "pyproject.toml").is_file() or not (root / "theory" / "nondecoupling" / "derivations").is_dir():
        raise SystemExit(f"nondecoupling derive: {GENERATED_DIR} is not inside a source checkout "
                         "(no pyproject.toml beside theory/); regenerate from a clone with `pip install -e .`")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nondecoupling derive", description=__doc__)
    parser.add_argument("ids", nargs="*", default=list(REGISTRY), metavar="ID",
                        help=f"theorem IDs (default: all of {', '.join(REGISTRY)})")
    ids = parser.parse_args(argv).ids
    unknown = sorted(set(ids) - set(REGISTRY))
    if unknown:
        parser.error(f"unknown theorem ID(s) {', '.join(unknown)}; known: {', '.join(REGISTRY)}")
    _source_checkout()
    for theorem_id in ids:
        text = render_registered(theorem_id)
        if "def " not in text:
            continue
        module_path(theorem_id).write_text(text)
        print(f"wrote {module_path(theorem_id)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
