"""Regenerate ``theory/_generated/`` from the derivations: ``python -m theory.derivations.codegen``."""

import argparse

from theory.derivations import REGISTRY
from theory.derivations._codegen import module_path, render_registered


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("ids", nargs="*", default=list(REGISTRY), help="theorem IDs (default: all)")
    for theorem_id in parser.parse_args(argv).ids:
        text = render_registered(theorem_id)
        if "def " not in text:
            continue
        module_path(theorem_id).write_text(text)
        print(f"wrote {module_path(theorem_id)}")


if __name__ == "__main__":
    main()
