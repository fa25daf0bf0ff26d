"""Where a ``nondecoupling check`` spends its CPU: imports, JSON parse, reading, checks, nulls, bootstraps, figure, exit.

One check in this process (CPU time of the process, pyarrow's threads included), each phase
timed by wrapping the function that does it; the phases nest (``json parse`` is part of
``read_run``, ``nulls`` and ``bootstraps`` of ``run_checks``, the figure of ``write_report``).
Run it in a fresh process per measurement: the first import of a module is what a check pays.
``total``: up to the command's return; ``process``: the child's whole CPU time, the interpreter's
shutdown included, as the command (``nondecoupling.cli.console``) ends it; ``of it system``: its
kernel time, which on these virtual machines varies between identical runs (the host's noise).
``cold``: an empty null cache (the trend nulls simulated); ``warm``: the nulls read back.

    PYTHONPATH=$PWD/theory:$PWD python benchmarks/bridge_scale.py --write-log /tmp/log/log.jsonl --rows 1000000
    PYTHONPATH=$PWD/theory:$PWD python benchmarks/check_phases.py /tmp/log/log.jsonl --repeats 2
    git worktree add /tmp/before HEAD~1    # the phases of this revision against the previous one's, alternating:
    PYTHONPATH=$PWD/theory:$PWD python benchmarks/check_phases.py /tmp/log/log.jsonl --source /tmp/before . --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

#: (module, function, label) of the wrapped phases, in the order a check reaches them.
PHASES = (("nondecoupling.bridge.logs.readers.text", "_jsonl_table", "json parse"),
          ("nondecoupling.bridge.__main__", "read_run", "read_run"),
          ("nondecoupling.bridge.logs.stats", "null_contrast", "nulls"),
          ("nondecoupling.bridge.logs.stats", "residual_bootstrap", "bootstraps"),
          ("nondecoupling.bridge.logs.verdicts", "run_checks", "run_checks"),
          ("nondecoupling.bridge.logs.report", "plot_run", "figure (matplotlib import included)"),
          ("nondecoupling.bridge.__main__", "write_report", "write_report"))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(seconds: dict, label: str, function):
    def timed(*args, **kwargs):
        start = _cpu()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[label] = seconds.get(label, 0.0) + _cpu() - start
    return timed


def measure_here(log: str, out: str) -> dict:
    """CPU seconds per phase of one check of ``log`` in this process (``imports``: the modules a check loads first).

    The imports, the check and the exit run inside :func:`nondecoupling.cli.console`, as the command runs them (its
    settings for ``check`` apply from before numpy loads).
    """
    import importlib

    from nondecoupling.cli import console  # loads no numpy

    seconds = {"interpreter start": _cpu()}

    def check() -> int:
        start = _cpu()
        modules = {name: importlib.import_module(name) for name in dict.fromkeys(m for m, _, _ in PHASES)}
        seconds["imports (numpy, pandas, scipy)"] = _cpu() - start
        for module, function, label in PHASES:
            setattr(modules[module], function, _timed(seconds, label, getattr(modules[module], function)))
        return modules["nondecoupling.bridge.__main__"].main(["check", log, "--out", out, "--lam", "0.05"])

    code = console(check, "check")
    seconds["total"] = _cpu()
    return {"exit": code, **{label: round(value, 3) for label, value in seconds.items()}}


def measure(log: Path, source: Path, null_cache: Path) -> dict:
    """:func:`measure_here` in a fresh process running ``source``'s checkout."""
    env = {**os.environ, "PYTHONPATH": f"{source / 'theory'}:{source}", "OMP_NUM_THREADS": "1",
           "NONDECOUPLING_NULL_CACHE": str(null_cache)}
    with tempfile.TemporaryDirectory() as out, tempfile.TemporaryFile("w+") as stdout:
        child = subprocess.Popen([sys.executable, __file__, "--here", str(log), "--out", out], env=env, stdout=stdout)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage, its exit included
        if os.waitstatus_to_exitcode(status):
            raise RuntimeError(f"check_phases child exited {os.waitstatus_to_exitcode(status)}")
        stdout.seek(0)
        seconds = json.loads(stdout.read().splitlines()[-1])
    return {**seconds, "process": round(usage.ru_utime + usage.ru_stime, 3), "of it system": round(usage.ru_stime, 3)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--repeats", type=int, default=1, help="runs per checkout, alternating")
    parser.add_argument("--source", type=Path, nargs="+", default=[Path(__file__).resolve().parent.parent],
                        help="checkouts to measure (default: this one); e.g. a `git worktree` of an older revision, then .")
    parser.add_argument("--here", action="store_true", help=argparse.SUPPRESS)  # the child of measure
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.here:
        print(json.dumps(measure_here(str(args.log), args.out)))
        return 0
    rows = []
    for _ in range(args.repeats):
        for source in args.source:
            with tempfile.TemporaryDirectory() as nulls:
                rows += [(source.resolve().name, state, measure(args.log, source.resolve(), Path(nulls))) for state in ("cold", "warm")]
    labels = list(rows[0][2])[1:]
    print("| checkout | nulls | " + " | ".join(labels) + " |\n|---|---|" + "---|" * len(labels))
    for checkout, state, seconds in rows:
        print(f"| {checkout} | {state} | " + " | ".join(f"{seconds.get(label, 0.0):.2f}" for label in labels) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
