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
import os
import sys
from collections.abc import Callable

# name -> (module with main(argv), one-line help)
COMMANDS = {
    "check": ("nondecoupling.bridge.__main__", "check logged SFT/RL runs against the theory (report.json, report.md)"),
    "watch": ("nondecoupling.bridge.logs.watch", "follow a growing training log (verl, OpenRLHF, ...): online P3, the advised stop"),
    "probe": ("nondecoupling.bridge.models.probe_cli", "Hessian spectrum, RL gradient and S1/A1 on a torch model (needs the torch extra)"),
    "derive": ("nondecoupling.derivations.codegen", "regenerate theory/nondecoupling/_generated/ from the sympy derivations"),
}


#: Commands whose numpy/scipy work is on small arrays (block means, curve fits, bootstraps): there OpenBLAS's
#: worker threads only spin, 0.1-0.4 s of CPU in a 10^6-row check on two cores (issue 25), so they get one.
ONE_BLAS_THREAD = frozenset({"check", "watch"})
#: The variables that set OpenBLAS's thread count (a user's own setting of any of them is kept).
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")


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

    A command of :data:`ONE_BLAS_THREAD` starts numpy's OpenBLAS on one thread
    (``OPENBLAS_NUM_THREADS=1``), unless the user set :data:`BLAS_THREAD_VARIABLES` or numpy
    is loaded already (``python -m nondecoupling.bridge``). Afterwards the objects the command
    made are moved out of the garbage collector's reach (:func:`gc.freeze`): the interpreter's
    collections at shutdown would otherwise walk every object that pandas, scipy and
    matplotlib made, 0.2 s of a 3 s check of 10^6 rows (issue 25). The operating system takes
    the memory back at exit either way; ``atexit`` handlers still run. Not for a call inside a
    longer process, whose frozen objects would never be collected.
    """
    if sys.argv[1:2] and sys.argv[1] in ONE_BLAS_THREAD:
        _start_blas_on_one_thread()
    code = command()
    gc.freeze()
    return code


def _start_blas_on_one_thread() -> None:
    """``OPENBLAS_NUM_THREADS=1``, read once when OpenBLAS loads with numpy: before that, and if the user set none."""
    if "numpy" not in sys.modules and not any(name in os.environ for name in BLAS_THREAD_VARIABLES):
        os.environ["OPENBLAS_NUM_THREADS"] = "1"


if __name__ == "__main__":
    raise SystemExit(console())
