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
#: Commands that repeat large tensor products on a CPU (the probe's Hessian-vector products): glibc hands each
#: product's freed temporaries back to the system, and the next product takes them again as fresh pages that the
#: kernel zeroes (up to 190,000 page faults and 0.8 s of system time per Qwen3-0.6B HVP on two cores), so they
#: keep freed memory for reuse (:func:`keep_freed_memory`).
KEEP_FREED_MEMORY = frozenset({"probe"})
#: glibc's variables for the settings :func:`keep_freed_memory` makes (a user's own setting of any of them is kept).
MALLOC_VARIABLES = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_")
#: (mallopt parameter of malloc.h, value): M_TRIM_THRESHOLD, the heap's free top is never handed back; M_MMAP_THRESHOLD,
#: blocks up to glibc's largest threshold (32 MiB on 64-bit systems) come from the heap; M_TOP_PAD, it grows 64 MiB at a time.
MALLOPT_SETTINGS = ((-1, 2**31 - 1), (-3, 32 << 20), (-2, 64 << 20))
#: Commands that run once over their input and end (a check, unlike the watch that follows a log): the cyclic garbage
#: collector is off while they run. Its passes walk the objects that pandas, scipy and matplotlib made at import,
#: again and again as the imports go on: 0.14 s of the 2.5 s of user time of a 10^6-row check (issue 25). A check makes
#: few reference cycles (the same 373 MB peak without the collector), and the process hands all its memory back at exit.
COLLECTOR_OFF = frozenset({"check"})


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


def console(command: Callable[[], int] = main, name: str | None = None) -> int:
    """``command()`` (by default :func:`main`) as a process's last job: the ``nondecoupling`` command, or a script's main.

    ``name``: the subcommand that ``command`` runs (default: the first argument, as the
    ``nondecoupling`` command takes it), which decides the settings below.

    A command of :data:`ONE_BLAS_THREAD` starts numpy's OpenBLAS on one thread
    (``OPENBLAS_NUM_THREADS=1``), unless the user set :data:`BLAS_THREAD_VARIABLES` or numpy
    is loaded already (``python -m nondecoupling.bridge``); one of :data:`KEEP_FREED_MEMORY`
    keeps its freed memory for reuse (:func:`keep_freed_memory`); one of :data:`COLLECTOR_OFF`
    runs with the cyclic garbage collector off (:func:`gc.disable`; on again after it).
    Afterwards, even where it raised, the objects the command made are moved out of the
    garbage collector's reach (:func:`gc.freeze`): the interpreter's collections at shutdown
    would otherwise walk every object that pandas, scipy and matplotlib made, 0.2 s of a 3 s
    check of 10^6 rows (issue 25). The operating system takes the memory back at exit either
    way; ``atexit`` handlers still run. Not for a call inside a longer process, whose frozen
    objects would never be collected.
    """
    name = (sys.argv[1] if sys.argv[1:] else "") if name is None else name
    if name in ONE_BLAS_THREAD:
        _start_blas_on_one_thread()
    if name in KEEP_FREED_MEMORY:
        keep_freed_memory()
    collecting = gc.isenabled()
    if name in COLLECTOR_OFF:
        gc.disable()
    try:
        return command()
    finally:
        gc.freeze()  # before the collector is on again: its first pass would walk all that the command made
        if collecting:
            gc.enable()


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep this process's freed memory for reuse (:data:`MALLOPT_SETTINGS`); True where it did.

    For a process that allocates and frees the same large blocks again and again, as the probe's
    products do: glibc's defaults hand them back to the system and take them again fresh, each
    page zeroed by the kernel. Kept, the process's peak grows by what its heap holds free (a
    Qwen3-0.6B probe on two cores: 3.5 GiB against 3.4 GiB). Nothing is set, and False is
    returned, where the C library is not glibc or the user set any of :data:`MALLOC_VARIABLES`
    (glibc reads them at start, with the same meaning). It lasts as long as the process.
    """
    import platform  # here: the other commands do not pay for the imports

    if platform.libc_ver()[0] != "glibc" or any(name in os.environ for name in MALLOC_VARIABLES):
        return False
    libc = _libc()
    return all(libc.mallopt(parameter, value) == 1 for parameter, value in MALLOPT_SETTINGS)


def _libc():
    """The C library of this process (its symbols through the main program's)."""
    import ctypes

    return ctypes.CDLL(None)


def _start_blas_on_one_thread() -> None:
    """``OPENBLAS_NUM_THREADS=1``, read once when OpenBLAS loads with numpy: before that, and if the user set none."""
    if "numpy" not in sys.modules and not any(name in os.environ for name in BLAS_THREAD_VARIABLES):
        os.environ["OPENBLAS_NUM_THREADS"] = "1"


if __name__ == "__main__":
    raise SystemExit(console())
