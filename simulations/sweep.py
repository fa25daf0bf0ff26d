"""Draw every theorem of THEORY.md against simulation into ``figures/``.

    python simulations/sweep.py                       # everything, into figures/
    python simulations/sweep.py --quick --out /tmp/f  # a preview: small grids, all figures
    python simulations/sweep.py --only P3 K1 --jobs 1 --format pdf --seed 1

Each figure module of :mod:`simulations.plots` runs as one task (in a process pool with
``--jobs > 1``) with its own random generator, derived from ``--seed`` and the module's
key alone, so a figure's numbers do not depend on ``--jobs``, ``--only`` or the other
modules. Next to every figure its numbers go to ``<name>.csv``; ``index.json`` lists
each figure with its theorem IDs, parameters and a one-line caption. Numbers are written and
drawn at six significant digits (:func:`csv_text`, :func:`simulations.plots._style.fixed_precision`)
and files carry no dates or versions, so that another machine's BLAS and libm rewrite the same
bytes. ``--only`` redraws some figures and keeps the other entries of an existing ``index.json``.

``--quick`` is a preview (CI, iterating on a figure): every figure with the same panels,
curves, axis labels, units, legends and CSV columns, but from smaller grids and drawn
cheaply (its time against the default: ``python benchmarks/run_all.py --only sweep-``):
72 dpi instead of 110, fixed margins instead of the constrained layout (labels may sit less
snugly), plain-text log-axis tick labels (``1e-05``, not math text) and no unlabelled minor ticks on log axes with two or more labelled decades
(:func:`simulations.plots._style.preview`). The default sweep is the publication output.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import os
import sys
import traceback
import zlib
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script, sys.path[0] is simulations/ itself; the repo root must come first
    # so that `simulations` resolves to this checkout (also without `pip install -e .`).
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import matplotlib.pyplot as plt  # noqa: E402, I001
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from nondecoupling.bridge.jsonable import jsonable  # noqa: E402  (one sanitizer: NaN -> null, inf -> "inf")
from nondecoupling.cli import console  # noqa: E402
from nondecoupling.validation import check_integer  # noqa: E402
from simulations.plots import MODULES, STYLE, Drawn, Skip  # noqa: E402  (selects the Agg backend)
from simulations.plots._style import DIGITS, PREVIEW_STYLE, fixed_precision, preview, significant  # noqa: E402

FORMATS = ("png", "pdf", "svg")
MANIFEST = "index.json"
#: A value below this fraction of its column's largest magnitude is written as 0: at that size
#: it is the rounding noise of a difference of the column's larger numbers (a loss at its
#: minimum, ``1 - b`` for ``b`` near 1), and its digits differ between machines.
NOISE_FLOOR = 1e-13


def module_rng(seed: int, key: str) -> np.random.Generator:
    """The generator of one figure module: ``seed`` and a stable hash of its key."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(zlib.crc32(key.encode()),)))


def wanted(drawn: Drawn, key: str, only) -> bool:
    """``--only`` matches a theorem ID, a module key or a figure name (case-insensitive)."""
    if not only:
        return True
    names = {key, drawn.name, *drawn.theorems}
    return bool({n.lower() for n in names} & {o.lower() for o in only})


def render(key: str, *, seed: int, quick: bool, out: Path, fmt: str, only=(), logs=None, write: bool = True) -> dict:
    """Run one figure module and write its figures and CSVs.

    Returns ``{"key", "entries": [manifest entries], "skipped": reason or None, "drawn": [Drawn]}``.
    With ``write=False`` nothing is rendered or written, and ``drawn`` holds the figures'
    numbers (figures closed): a check of a sweep already written (empty when written, so
    that pool workers send back no figures).
    """
    module = importlib.import_module(MODULES[key].path)
    extra = {"data_dir": logs} if MODULES[key].reads_logs else {}
    entries, skipped, kept = [], None, []
    with plt.style.context([STYLE, PREVIEW_STYLE] if quick else STYLE):
        try:
            drawn = module.draw(module_rng(seed, key), quick=quick, **extra)
        except Skip as reason:
            drawn, skipped = [], str(reason)
        for item in drawn:
            if wanted(item, key, only):
                if write and quick:
                    preview(item.figure)
                if write:
                    save(item, out=out, fmt=fmt)
                entries.append(manifest_entry(item, key=key, fmt=fmt, seed=seed, quick=quick))
                kept.append(item)
            plt.close(item.figure)
    return {"key": key, "entries": entries, "skipped": skipped, "drawn": [] if write else kept}


def csv_text(data) -> str:
    """The CSV of a figure's numbers, as written next to it.

    :data:`~simulations.plots._style.DIGITS` significant digits, and 0 below
    :data:`NOISE_FLOOR` of the column's largest magnitude: numbers that another machine's
    BLAS and SIMD kernels reproduce, so that a sweep rewrites the same bytes.
    """
    data = data.copy()
    for column in data.select_dtypes("float").columns:
        values = data[column].to_numpy(dtype=float, copy=True)
        finite = np.abs(values[np.isfinite(values)])
        if finite.size:
            values[np.abs(values) < NOISE_FLOOR * finite.max()] = 0.0
        data[column] = values
    return data.to_csv(index=False, float_format=f"%.{DIGITS}g")


def save(item: Drawn, *, out: Path, fmt: str) -> None:
    """Write ``<name>.<fmt>`` and ``<name>.csv``."""
    # No dates or versions in the files: the same seed gives the same bytes (PNG, PDF, SVG).
    metadata = {"Software": None} if fmt == "png" else {"Creator": None, "Date": None}
    if fmt == "pdf":
        metadata.update(CreationDate=None, Producer=None)
    fixed_precision(item.figure)  # the pixels, like the CSV, from numbers every machine reproduces
    item.figure.savefig(out / f"{item.name}.{fmt}", format=fmt, metadata=metadata)
    (out / f"{item.name}.csv").write_text(csv_text(item.data))


def manifest_entry(item: Drawn, *, key: str, fmt: str, seed: int, quick: bool) -> dict:
    """The figure's entry in ``index.json``."""
    return {
        "name": item.name,
        "figure": f"{item.name}.{fmt}",
        "data": f"{item.name}.csv",
        "theorems": list(item.theorems),
        "module": MODULES[key].path,
        "shows": item.shows,
        "parameters": _significant_floats(jsonable({**item.parameters, "seed": seed, "quick": quick})),
    }


def _significant_floats(value):
    """Every float of a JSON-ready ``value`` at :data:`~simulations.plots._style.DIGITS` significant digits."""
    if isinstance(value, dict):
        return {key: _significant_floats(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_significant_floats(item) for item in value]
    return float(significant(value)) if isinstance(value, float) else value


def write_manifest(out: Path, entries: list, skipped: dict, *, command: str, merge: bool) -> Path:
    """``index.json``: figures sorted by name; with ``merge`` keep entries not redrawn.

    A merge (``--only``) also keeps the previous ``command``: the manifest keeps describing the
    run that drew most figures (the default sweep), so redrawing one figure leaves a clean clone's
    ``index.json`` unchanged except for that figure's entry.
    """
    path = out / MANIFEST
    figures = {e["name"]: e for e in entries}
    if merge and path.is_file():
        previous = json.loads(path.read_text())
        figures = {e["name"]: e for e in previous.get("figures", [])} | figures
        command = previous.get("command", command)
    manifest = {
        "command": command,
        "figures": [figures[name] for name in sorted(figures)],
        "skipped": {key: skipped[key] for key in sorted(skipped)},
    }
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


#: Fewest usable CPUs for which the default sweep runs a process pool. On 2 cores a pool of 2
#: took 0.9-1.2x the CPU of one process and gained wall time only from other jobs' share of a
#: loaded machine (``python benchmarks/run_all.py --only sweep-pool``):
#: eleven modules of unequal cost (in ``--quick``, two of them are 40% of the CPU) share two
#: workers badly, and each worker process imports and warms up matplotlib's caches again.
POOL_MIN_CPUS = 4


def default_jobs() -> int:
    """The usable CPUs from :data:`POOL_MIN_CPUS` on (the figure modules are independent tasks), else 1."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cpus if cpus >= POOL_MIN_CPUS else 1


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a preview: small grids, 72 dpi, fixed margins, plain-text log ticks, no unlabelled log minor ticks (all figures, same content)")
    parser.add_argument("--only", nargs="+", metavar="ID", help="theorem IDs (P3, K1, ...), module keys (a, p1_p2, ..., real) or figure names")
    parser.add_argument("--out", type=Path, default=Path("figures"), help="output folder (default: figures/)")
    parser.add_argument("--jobs", type=int, default=default_jobs(), help=f"worker processes (default: the usable CPUs from {POOL_MIN_CPUS} on, else 1; 1: in this process)")
    parser.add_argument("--format", choices=FORMATS, default="png", dest="fmt", help="figure format (default png)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random instance (default 0)")
    parser.add_argument("--logs", type=Path, default=None, help="folder of real-run logs <run>/log.jsonl (default: simulations/data/qwen3)")
    args = parser.parse_args(argv)
    try:
        check_integer(args.jobs, "--jobs", low=1)
        check_integer(args.seed, "--seed", low=0)
        modules_for(args.only)
    except ValueError as error:  # ParameterError is one
        parser.error(str(error))
    return args


def modules_for(only) -> list[str]:
    """Module keys to run for ``--only`` (all without it).

    Raises
    ------
    ValueError
        For a name that is no module key, theorem ID or figure name.
    """
    if not only:
        return list(MODULES)
    asked = {name.lower() for name in only}
    known = {key: {key, *module.names()} for key, module in MODULES.items()}
    unknown = asked - set().union(*known.values())
    if unknown:
        raise ValueError(f"--only: unknown {sorted(unknown)}; choose theorem IDs, module keys ({', '.join(MODULES)}) or figure names")
    return [key for key, names in known.items() if names & asked]


def main(argv=None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    keys = modules_for(args.only)
    options = dict(seed=args.seed, quick=args.quick, out=args.out, fmt=args.fmt, only=tuple(args.only or ()), logs=args.logs)
    with imports_frozen(keys):
        results, failures = run_modules(keys, options, args.jobs)
    entries = [e for r in results for e in r["entries"]]
    skipped = {r["key"]: r["skipped"] for r in results if r["skipped"]}
    command = " ".join(["python simulations/sweep.py", *map(str, sys.argv[1:] if argv is None else argv)])
    manifest = write_manifest(args.out, entries, skipped, command=command, merge=bool(args.only))
    for key, reason in skipped.items():
        print(f"skipped {key}: {reason}", file=sys.stderr)
    for key, reason in failures.items():
        print(f"FAILED {key}: {reason}", file=sys.stderr)
    print(f"{len(entries)} figures -> {args.out} (manifest {manifest.name})")
    return 1 if failures else 0


@contextlib.contextmanager
def imports_frozen(keys):
    """The figure modules of ``keys`` imported, and all the imports made out of the collector's reach while the sweep runs.

    The imports leave ~150,000 objects (scipy's, pandas', matplotlib's) that live as long as
    the process, and each of the sweep's full collections walked them all again: 0.7-1.1 s of
    a 10-17 s sweep on two cores (issue 25). :func:`gc.freeze` moves them to the permanent
    generation; the figures' own garbage is still collected. Forked workers inherit the
    modules and the freeze instead of importing them again. Unfrozen at the end, for a caller
    in a longer process (where nothing was frozen before).
    """
    for key in keys:
        with contextlib.suppress(Exception):  # a module that fails to import fails in render, as one module's failure
            importlib.import_module(MODULES[key].path)
    first = gc.get_freeze_count() == 0
    gc.freeze()
    try:
        yield
    finally:
        if first:
            gc.unfreeze()


def run_modules(keys, options: dict, jobs: int) -> tuple[list, dict]:
    """:func:`render` of each module key, in this process or in a pool of ``jobs``: (results, failures by key)."""
    results, failures = [], {}
    with tqdm(total=len(keys), desc="sweep", unit="module", file=sys.stderr) as bar:
        if min(jobs, len(keys)) == 1:
            for key in keys:
                bar.set_postfix_str(key)
                results.append(_guarded(key, options, failures))
                bar.update()
            return results, failures
        # Workers get `simulations.sweep.render`, not `__main__.render`, so that they
        # import it by name also under the spawn and forkserver start methods.
        worker = importlib.import_module("simulations.sweep").render
        with ProcessPoolExecutor(max_workers=min(jobs, len(keys))) as pool:
            futures = {pool.submit(worker, key, **options): key for key in keys}
            for future in as_completed(futures):
                key = futures[future]
                try:
                    results.append(future.result())
                except Exception:  # one module's failure must not lose the others' figures
                    failures[key] = traceback.format_exc()
                bar.set_postfix_str(key)
                bar.update()
    return results, failures


def _guarded(key: str, options: dict, failures: dict) -> dict:
    try:
        return render(key, **options)
    except Exception:  # as in the pool: report, draw the rest, exit 1
        failures[key] = traceback.format_exc()
        return {"key": key, "entries": [], "skipped": None, "drawn": []}


if __name__ == "__main__":
    sys.exit(console(main, "sweep"))  # the process's last job: its exit skips the collections over what it made
