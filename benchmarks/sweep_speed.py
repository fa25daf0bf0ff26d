"""Wall and CPU time of ``python simulations/sweep.py``, default against ``--quick``, before/after.

Issue 16 asks for ``--quick`` to be meaningfully quicker than the default sweep (target: at
least 2x less wall and CPU time). This script runs both, alternating, ``--repeat`` times each
into temporary ``--out`` folders, in the working tree and (with ``--before REV``) in a copy of
an earlier revision extracted by ``git archive``, and prints the min and median wall time, the
CPU time (user + system of the sweep and its pool workers, from ``getrusage(RUSAGE_CHILDREN)``)
and the default/quick ratios.

    python benchmarks/sweep_speed.py [--repeat 3] [--before main] [--jobs N] [--quadratic-only]

It also times ``Quadratic(A)`` for a batch of 100 x 100 PSD matrices against the one
decomposition it needs (``eigh`` on one BLAS thread), in each tree, alternating: the ratio
is the constructor's overhead (the null-space projector, the checks).

Runs alternate (default, quick, default, quick, ...; the revisions in turn) so that changing
machine load hits all of them alike: compare the ratios, not the absolute seconds.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODES = {"default": [], "quick": ["--quick"]}


def extract(revision: str, into: Path) -> Path:
    """The repository's ``theory/`` and ``simulations/`` at ``revision``, unpacked under ``into``."""
    archive = subprocess.run(["git", "archive", revision, "theory", "simulations"], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def run_sweep(tree: Path, flags: list, out: Path, jobs: int | None) -> tuple[float, float]:
    """``(wall seconds, CPU seconds)`` of one sweep of the checkout ``tree`` into ``out``."""
    environment = {**os.environ, "PYTHONPATH": f"{tree / 'theory'}{os.pathsep}{tree}", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(tree / "simulations" / "sweep.py"), *flags, "--out", str(out)]
    command += ["--jobs", str(jobs)] if jobs else []
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(command, cwd=tree, check=True, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


#: ``Quadratic(A)`` over one ``eigh`` of the same batch, both on one BLAS thread, best of 5.
QUADRATIC_RATIO = """
import time, numpy as np
from simulations.problems import Quadratic
from simulations.threads import single_threaded
rng = np.random.default_rng(0)
orthogonal = np.linalg.qr(rng.standard_normal((200, 100, 100)))[0]
matrices = (orthogonal * rng.uniform(0.5, 3.0, (200, 1, 100))) @ np.swapaxes(orthogonal, -1, -2)
def best(work):
    times = []
    for _ in range(5):
        start = time.perf_counter(); work(); times.append(time.perf_counter() - start)
    return min(times)
def bare():
    with single_threaded():
        np.linalg.eigh(matrices)
print(best(lambda: Quadratic(matrices, np.zeros(100))) / best(bare))
"""


def quadratic_ratio(tree: Path) -> float:
    """``Quadratic(A) / eigh(A)`` wall time, d = 100, a batch of 200, in the checkout ``tree``."""
    environment = {**os.environ, "PYTHONPATH": f"{tree / 'theory'}{os.pathsep}{tree}"}
    result = subprocess.run([sys.executable, "-c", QUADRATIC_RATIO], cwd=tree, env=environment, capture_output=True, text=True, check=True)
    return float(result.stdout)


def summary(samples: list) -> str:
    """``min / median`` of wall and CPU seconds."""
    walls, cpus = zip(*samples)
    return f"wall {min(walls):6.1f} / {statistics.median(walls):6.1f} s   cpu {min(cpus):6.1f} / {statistics.median(cpus):6.1f} s"


def ratios(default: list, quick: list) -> str:
    """default / quick, of the minima and of the medians, wall and CPU."""
    parts = []
    for index, what in ((0, "wall"), (1, "cpu")):
        d, q = [s[index] for s in default], [s[index] for s in quick]
        parts.append(f"{what} {min(d) / min(q):4.2f}x / {statistics.median(d) / statistics.median(q):4.2f}x")
    return "   ".join(parts)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each mode and revision (default 3)")
    parser.add_argument("--before", default=None, help="also time this revision (e.g. main), alternating with the working tree")
    parser.add_argument("--jobs", type=int, default=None, help="the sweep's --jobs (default: the sweep's default)")
    parser.add_argument("--quadratic-only", action="store_true", help="time only Quadratic(A) against eigh, no sweeps")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"after (working tree)": ROOT}
        if args.before:
            trees = {f"before ({args.before})": extract(args.before, Path(tmp) / "before"), **trees}
        quadratic = {label: [] for label in trees}
        for _ in range(args.repeat):
            for label, tree in trees.items():
                quadratic[label].append(quadratic_ratio(tree))
        print("Quadratic(A) / single-threaded eigh(A), d = 100, batch 200: min - max over repeats")
        for label, ratios_ in quadratic.items():
            print(f"{label:24s} {min(ratios_):5.2f}x - {max(ratios_):5.2f}x")
        if args.quadratic_only:
            return 0
        samples = {(label, mode): [] for label in trees for mode in MODES}
        for repeat in range(args.repeat):
            for label, tree in trees.items():
                for mode, flags in MODES.items():
                    wall, cpu = run_sweep(tree, flags, Path(tempfile.mkdtemp(dir=tmp)), args.jobs)
                    samples[label, mode].append((wall, cpu))
                    print(f"  run {repeat + 1}/{args.repeat} {label:24s} {mode:8s} wall {wall:6.1f} s  cpu {cpu:6.1f} s", file=sys.stderr, flush=True)
    print(f"python simulations/sweep.py, {args.repeat} alternating runs each, jobs {args.jobs or 'default'}; min / median")
    for label in trees:
        for mode in MODES:
            print(f"{label:24s} {mode:8s} {summary(samples[label, mode])}")
        print(f"{label:24s} default/quick: {ratios(samples[label, 'default'], samples[label, 'quick'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
