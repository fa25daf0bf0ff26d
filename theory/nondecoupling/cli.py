"""``nondecoupling``: the command line of the toolkit, one subcommand per job.

    nondecoupling check LOG [LOG ...] --out DIR   # logged SFT/RL runs against the theory
    nondecoupling watch LOG --phase rl ...        # follow a growing log: online P3's advised stop
    nondecoupling probe ...                       # Hessian spectra and gradients of a model (torch)
    nondecoupling derive [ID ...]                 # regenerate the closed forms (source checkout)

Each subcommand is a module with a ``main(argv) -> int``; it is imported only when called,
so ``nondecoupling check`` needs neither torch nor sympy. ``python -m nondecoupling`` is
the same command.
"""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Callable

# name -> (module with main(argv), one-line help)
COMMANDS = {
    "check": ("nondecoupling.bridge.__main__", "check logged SFT/RL runs against the theory (report.json, report.md)"),
    "watch": ("nondecoupling.bridge.logs.watch", "follow a growing training log (verl, OpenRLHF, ...): online P3, the advised stop"),
    "probe": ("nondecoupling.bridge.models.probe_cli", "Hessian spectrum, RL gradient and S1/A1 on a torch model (needs the torch extra)"),
    "derive": ("nondecoupling.derivations.codegen", "regenerate theory/nondecoupling/_generated/ from the sympy derivations"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    return "usage: nondecoupling {" + ",".join(COMMANDS) + "} ...\n\n" + "\n".join(lines)


def _load(name: str):
    try:
        return importlib.import_module(COMMANDS[name][0])
    except ModuleNotFoundError as missing:
        raise SystemExit(f"nondecoupling {name}: needs the package {missing.name!r}; "
                         f"install the extra that brings it (see `pip install 'nondecoupling[...]'` in the README)") from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"nondecoupling: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    return int(_load(name).main(rest) or 0)


def console(command: Callable[[], int] = main) -> int:
    """``command()`` (by default :func:`main`) as a process's last job: the ``nondecoupling`` command.

    Its objects are then moved out of the garbage collector's reach (:func:`gc.freeze`): the
    interpreter's collections at shutdown would otherwise walk every object that pandas, scipy
    and matplotlib made, 0.2 s of a 3 s check of 10^6 rows (issue 25). The operating system
    takes the memory back at exit either way; ``atexit`` handlers still run. Not for a call
    inside a longer process, whose frozen objects would never be collected.
    """
    code = command()
    gc.freeze()
    return code


if __name__ == "__main__":
    raise SystemExit(console())
