"""Every performance figure of README.md, CHANGELOG.md and docs/*.md, re-measured in one run.

Run from the repository root (nothing here is a timed test)::

    nice python benchmarks/run_all.py                     # every claim, 2 repeats (~30 min on a loaded 2-core machine)
    python benchmarks/run_all.py --quick                  # reduced sizes: checks the script in minutes
    python benchmarks/run_all.py --only sweep-quick-wall check-cpu     # claims by id (or a prefix: --only api-)
    python benchmarks/run_all.py --save m.json            # also keep the raw measurements
    python benchmarks/run_all.py --load m.json            # the table again from saved measurements

Each claim names the benchmark that measures it, the file that states it and the figure stated.
The benchmarks are the scripts beside this one and ``simulations/benchmark.py``, called
through their functions: ``sweep_speed.run_sweep`` and ``quadratic_ratio``,
``bridge_scale.write_log`` and ``check``, ``api_speed.time_calls``,
``callback_overhead.stage_overhead``, ``simulations.benchmark``'s grid rows, and
``probe_scale.py`` (about 2 minutes a repeat on a quiet 2-core machine). Every figure is a
ratio measured within this run; a before/after ratio alternates the two revisions (each
extracted with ``git archive``) repeat by repeat, so that load that comes and goes hits both.
The table gives, per claim, the min-max over the repeats (and over the instances a claim
covers), the 1-minute load average seen during its measurements, and whether it holds:
``yes`` (the measured range lies inside the claimed one), ``partly`` (they overlap) or ``no``.
``--quick`` runs smaller sizes, so its verdicts say little about the claims.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
sys.path[:0] = [str(ROOT / "theory"), str(ROOT), str(BENCHMARKS)]

import api_speed  # noqa: E402
import bridge_scale  # noqa: E402
import sweep_speed  # noqa: E402

#: The revision before each change a before/after claim measures.
BEFORE = {
    "issue16": "a6a1151",  # the scalar fast paths and kl_inverse of issue 16 (as the CHANGELOG states)
    "tilted": "8f6e138^",  # tilted_tradeoff's scalar fast path
    "check": "2626bc4^",  # check's column-wise JSONL reader
    "check-reader": "2626bc4",  # ... and the reader change itself (later changes moved verdicts: P3's premise)
    "check-issue25": "101b791",  # before issue 25's second pass (no scipy.stats, stored nulls, cheaper figure)
    "check-issue25-third": "9239323",  # before its third pass (batched null simulation, run_checks without attrs)
    "check-issue25-fifth": "e61942b",  # before its fifth pass (nulls by the AR(1) recursion, lines counted mapped)
    "check-issue25-seventh": "8aee581",  # before its seventh pass (K1's worst points by partition, sources as large strings)
    "check-issue25-eighth": "84a2350",  # before its eighth pass (phase texts kept as codes, no collections at exit)
    "issue25-ninth": "0fdd302",  # before its ninth pass (check: no cyclic collector, the nulls' fits in chunks; sweep: imports frozen)
    "issue25-tenth": "23a3ce5",  # before its tenth pass (TensorBoard's and MLflow's values placed by step whole)
    "issue25-fourteenth": "a6801fb",  # before its fourteenth pass (TensorBoard's add_scalar events decoded as arrays)
    "quadratic": "731b424^",  # Quadratic's null-space projector
    "callback": "9239323",  # before the measurer's token tree (issue 25.1's third pass; scipy.stats imported at set-up)
    "callback-start": "0e2b7a2",  # before the stage's start was measured in on_pre_optimizer_step (issue 25.1's fifth pass)
}


# --------------------------------------------------------------------------------------------
# Benchmarks: one repeat each, JSON-ready results


@dataclass
class Context:
    """What the benchmarks share within a run: sizes, a scratch folder, extracted revisions."""

    quick: bool
    scratch: Path

    def tree(self, change: str, with_simulations: bool = False) -> Path:
        """``theory/`` (and ``simulations/``) at the revision before ``change``, extracted once."""
        return _extracted(self.scratch, BEFORE[change], with_simulations)

    def folder(self) -> Path:
        return Path(tempfile.mkdtemp(dir=self.scratch))


@cache
def _extracted(scratch: Path, revision: str, with_simulations: bool) -> Path:
    into = scratch / f"{revision.replace('^', '-parent')}{'-sim' if with_simulations else ''}"
    if with_simulations:
        return sweep_speed.extract(revision, into)
    return api_speed.extract(revision, into).parent


def sweep(context: Context) -> dict:
    """Default, ``--quick`` and ``--quick --jobs 2`` sweeps, one process unless said, in this order; the first two
    each after the same sweep before issue 25's ninth pass (:data:`BEFORE`)."""
    only = ["--only", "p3", "k"] if context.quick else []
    return {
        "default_ninth": sweep_speed.run_sweep(context.tree("issue25-ninth", with_simulations=True), only, context.folder(), 1),
        "default": sweep_speed.run_sweep(ROOT, only, context.folder(), 1),
        "quick_ninth": sweep_speed.run_sweep(context.tree("issue25-ninth", with_simulations=True), ["--quick", *only], context.folder(), 1),
        "quick": sweep_speed.run_sweep(ROOT, ["--quick", *only], context.folder(), 1),
        "quick_pool2": sweep_speed.run_sweep(ROOT, ["--quick", *only], context.folder(), 2),
    }


def quadratic(context: Context) -> dict:
    """``Quadratic(A) / eigh(A)`` at d = 100 before the projector change, then in this tree."""
    return {"before": sweep_speed.quadratic_ratio(context.tree("quadratic", with_simulations=True)),
            "after": sweep_speed.quadratic_ratio(ROOT)}


@cache
def _log(scratch: Path, rows: int, kind: str = "jsonl") -> Path | list[str]:
    """The synthetic log of ``rows`` rows: ``jsonl``, ``timestamped`` (JSONL with a logging time per record) or ``csv``;
    for ``trl``, ``tensorboard``, ``verl`` and ``mlflow`` one log per stage (``bridge_scale.STAGE_FORMATS``), as the check's log
    arguments."""
    stages = kind if kind in bridge_scale.STAGE_FORMATS else None
    path = scratch / f"log-{rows}-{kind}" / ("logs" if stages else "log.csv" if kind == "csv" else "log.jsonl")
    path.parent.mkdir()
    # not here: every check forked after it would inherit its peak memory
    return bridge_scale.write_log_apart(path, rows, kind == "timestamped", stages)


#: The stage logs of one value per record (``readers.scalars``), whose reader the tenth pass changed.
SCALAR_FORMATS = ("tensorboard", "mlflow")


def check(context: Context) -> dict:
    """``nondecoupling check`` of one synthetic log (10^6 rows; 10^5 quick): before the reader change, at it,
    before issue 25's second, third, fifth, seventh, eighth and ninth passes, and now (:data:`BEFORE`); the trend nulls
    of each revision since the third first simulated (cold: an empty null cache), then read back (warm). All with
    OMP_NUM_THREADS=1, except the ``*user`` runs (before the eighth pass and now, nulls stored), which run as a
    user's shell does, with no thread variable set. The ``*timestamped`` and ``*csv`` runs (the same, nulls stored)
    check the log with each record's logging time (``bridge_scale.write_log(timestamps=True)``) and the log as CSV;
    the ``*trl``, ``*tensorboard``, ``*verl`` and ``*mlflow`` runs a tenth of the rows written one log per stage
    (``bridge_scale.write_stage_logs``), before the ninth pass and now, TensorBoard's and MLflow's also before the tenth, TensorBoard's
    also before the fourteenth."""
    rows = 10**5 if context.quick else 10**6
    logs = {kind: _log(context.scratch, rows, kind) for kind in ("jsonl", "timestamped", "csv")}
    logs.update({kind: _log(context.scratch, rows // 10, kind) for kind in bridge_scale.STAGE_FORMATS})  # 10^5: 0fdd302's TensorBoard reader takes 60 s at 10^6
    nulls, third_nulls = context.folder(), context.folder()  # empty: "cold" fills them, "warm" reads them
    third, fifth_nulls = context.tree("check-issue25-third"), context.folder()
    seventh, seventh_nulls = context.tree("check-issue25-seventh"), context.folder()
    eighth, eighth_nulls = context.tree("check-issue25-eighth"), context.folder()
    ninth, ninth_nulls = context.tree("issue25-ninth"), context.folder()
    trees = (("before", context.tree("check"), nulls), ("reader", context.tree("check-reader"), nulls),
             ("previous", context.tree("check-issue25"), nulls), ("third_cold", third, third_nulls),
             ("third_warm", third, third_nulls), ("fifth_cold", context.tree("check-issue25-fifth"), fifth_nulls),
             ("seventh_cold", seventh, seventh_nulls), ("seventh_warm", seventh, seventh_nulls),
             ("eighth_cold", eighth, eighth_nulls), ("eighth_warm", eighth, eighth_nulls),
             ("ninth_cold", ninth, ninth_nulls), ("ninth_warm", ninth, ninth_nulls),
             ("cold", ROOT, nulls), ("warm", ROOT, nulls), ("eighth_user", eighth, eighth_nulls), ("user", ROOT, nulls),
             ("eighth_timestamped", eighth, eighth_nulls), ("timestamped", ROOT, nulls), ("eighth_csv", eighth, eighth_nulls),
             ("csv", ROOT, nulls))
    # One log per stage, at 0fdd302 and now, each twice: its nulls simulated (another layout), then stored; the
    # formats of one value per record (SCALAR_FORMATS) also at 23a3ce5.
    trees += tuple((f"{revision}{kind}{state}", tree, folder) for kind in bridge_scale.STAGE_FORMATS
                   for revision, tree, folder in (("ninth_", ninth, ninth_nulls), ("", ROOT, nulls)) for state in ("_cold", ""))
    tenth, tenth_nulls = context.tree("issue25-tenth"), context.folder()
    trees += tuple((f"tenth_{kind}{state}", tenth, tenth_nulls) for kind in SCALAR_FORMATS for state in ("_cold", ""))
    fourteenth, fourteenth_nulls = context.tree("issue25-fourteenth"), context.folder()
    trees += tuple((f"fourteenth_tensorboard{state}", fourteenth, fourteenth_nulls) for state in ("_cold", ""))
    runs = {}
    for label, tree, folder in trees:
        out = context.folder()
        log = logs[next((kind for kind in ("timestamped", "csv", *bridge_scale.STAGE_FORMATS)
                         if label.removesuffix("_cold").endswith(kind)), "jsonl")]
        run = bridge_scale.check(log, out, 200, tree, folder, one_thread=not label.endswith("user"))
        if run.code:
            raise RuntimeError(f"check in {tree} exited {run.code}")
        runs[label] = {"wall": run.wall, "cpu": run.cpu, "system": run.system, "peak_mb": run.peak_mb,
                       "verdicts": bridge_scale._verdicts(out)}
    runs["reader_same_verdicts"] = runs["before"]["verdicts"] == runs["reader"]["verdicts"]
    runs["now_same_verdicts"] = runs["previous"]["verdicts"] == runs["cold"]["verdicts"] == runs["warm"]["verdicts"]
    runs["third_same_verdicts"] = runs["third_cold"]["verdicts"] == runs["cold"]["verdicts"] == runs["warm"]["verdicts"]
    runs["fifth_same_verdicts"] = runs["fifth_cold"]["verdicts"] == runs["cold"]["verdicts"]
    runs["seventh_same_verdicts"] = runs["seventh_cold"]["verdicts"] == runs["cold"]["verdicts"] == runs["warm"]["verdicts"]
    runs["eighth_same_verdicts"] = (runs["eighth_cold"]["verdicts"] == runs["eighth_user"]["verdicts"] == runs["cold"]["verdicts"]
                                    == runs["warm"]["verdicts"] == runs["user"]["verdicts"])
    runs["ninth_same_verdicts"] = (runs["ninth_cold"]["verdicts"] == runs["ninth_warm"]["verdicts"] == runs["cold"]["verdicts"]
                                   == runs["warm"]["verdicts"])
    runs["timestamped_same_verdicts"] = (runs["eighth_timestamped"]["verdicts"] == runs["timestamped"]["verdicts"]
                                         == runs["warm"]["verdicts"])
    for kind in bridge_scale.STAGE_FORMATS:
        runs[f"{kind}_same_verdicts"] = runs[f"ninth_{kind}"]["verdicts"] == runs[kind]["verdicts"] == runs[f"{kind}_cold"]["verdicts"]
        if kind in SCALAR_FORMATS:
            runs[f"{kind}_same_verdicts"] &= runs[f"tenth_{kind}"]["verdicts"] == runs[f"tenth_{kind}_cold"]["verdicts"] == runs[kind]["verdicts"]
    runs["tensorboard_same_verdicts"] &= (runs["fourteenth_tensorboard"]["verdicts"] == runs["fourteenth_tensorboard_cold"]["verdicts"]
                                          == runs["tensorboard"]["verdicts"])
    runs["csv_same_verdicts"] = runs["eighth_csv"]["verdicts"] == runs["csv"]["verdicts"] == runs["warm"]["verdicts"]
    runs["verdicts_changed_since"] = sorted(k for k, v in runs["warm"]["verdicts"].items() if runs["before"]["verdicts"].get(k) != v)
    return runs


def api(context: Context) -> dict:
    """CPU microseconds per call (``api_speed``) before issue 16, before tilted's fast path, and now."""
    calls = {**api_speed.SCALAR_CALLS, **api_speed.ARRAY_CALLS}
    repeat = 2 if context.quick else 3
    trees = {"issue16": context.tree("issue16"), "tilted": context.tree("tilted"), "after": ROOT}
    return {label: api_speed.time_calls(tree / "theory", calls, repeat, "cpu") for label, tree in trees.items()}


def grid(context: Context) -> dict:
    """``simulations/benchmark.py``'s grid rows (CPU seconds), BLAS threads and the import time."""
    import numpy as np

    from simulations import benchmark

    sizes = {"instances": (10, 100), "dims": (2, 10)} if context.quick else benchmark.GRID
    times, rng = np.linspace(0.0, 5.0, 11), np.random.default_rng(0)
    points = [(n, d) for n in sizes["instances"] for d in sizes["dims"]]
    return {
        "sine": [benchmark.sine_row(rng, n, d, times, loop_sample=50, reference_size=10) for n, d in points],
        "quadratic": [benchmark.quadratic_row(rng, n, d, times, loop_sample=50) for n, d in points],
        "threads": benchmark.thread_behaviour(200 if context.quick else 1000, 100, times),
        "imports": benchmark.import_time(),
    }


#: Run in a fresh interpreter, so that torch's import and threads stay out of the other benchmarks.
_CALLBACK = """
import json, sys
sys.path[:0] = sys.argv[1:3]
import torch
torch.set_num_threads(1)
import callback_overhead
print(json.dumps({label: callback_overhead.stage_overhead(int(label.split("-")[0])) for label in sys.argv[3:]}))
"""


def callback(context: Context) -> dict:
    """The live callback's share of GRPO training time at 20, 60 and 200 steps (20 quick), one torch thread: before the
    token tree, before the start's evaluation moved into the first step, then this tree, each in a fresh process (a
    stage's first RL evaluation in a process paid scipy.stats' import; its first evaluation, torch's first calls)."""
    steps = ["20"] if context.quick else ["20", "60", "200", "20-again"]  # 20-again: in a warm process (torch's first forward was earlier)
    return {"before": _callback_run(context.tree("callback", with_simulations=True), steps),
            "previous": _callback_run(context.tree("callback-start", with_simulations=True), steps), "after": _callback_run(ROOT, steps)}


def _callback_run(tree: Path, steps: list[str]) -> dict:
    """``callback_overhead.stage_overhead`` (this tree's script) of the code in ``tree``, per stage length."""
    environment = {**os.environ, "PYTHONPATH": f"{tree / 'theory'}{os.pathsep}{tree}", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", _CALLBACK, str(tree), str(BENCHMARKS), *steps], cwd=tree, env=environment,
                            capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"callback_overhead failed in {tree}:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def probe(context: Context) -> dict:
    """The probe at Qwen3-0.6B scale (``--smoke``'s tiny model when quick), 2 torch threads, each in a fresh process.

    As ``nondecoupling probe`` runs it (freed memory kept), with glibc's defaults beside it
    (``"glibc_defaults"``): a malloc setting lasts for its process.
    """
    runs = {}
    for setting in ([], ["--glibc-defaults"]):
        command = [sys.executable, str(BENCHMARKS / "probe_scale.py"), "--threads", "2", *(["--smoke"] if context.quick else []), *setting]
        result = subprocess.run(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": f"{ROOT / 'theory'}{os.pathsep}{ROOT}"},
                                capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(f"probe_scale {' '.join(setting)} failed:\n{result.stderr[-3000:]}")
        runs[bool(setting)] = json.loads(result.stdout)
    return {**runs[False], "glibc_defaults": runs[True]}


BENCHMARK_FUNCTIONS: dict[str, Callable[[Context], dict]] = {
    "sweep": sweep, "quadratic": quadratic, "check": check, "api": api, "grid": grid, "callback": callback, "probe": probe}


# --------------------------------------------------------------------------------------------
# Claims: what each file states, and which measured values it is about


def within(low: float, high: float) -> Callable[[float, float], str]:
    """The measured range lies in [low, high] (yes), overlaps it (partly), or not (no)."""
    return lambda lo, hi: "yes" if low <= lo and hi <= high else "partly" if lo <= high and hi >= low else "no"


def at_least(bound: float) -> Callable[[float, float], str]:
    return lambda lo, hi: "yes" if lo >= bound else "partly" if hi >= bound else "no"


def at_most(bound: float) -> Callable[[float, float], str]:
    return lambda lo, hi: "yes" if hi <= bound else "partly" if lo <= bound else "no"


@dataclass(frozen=True)
class Claim:
    id: str
    where: str
    claimed: str
    benchmark: str
    values: Callable[[dict], list]  # one repeat's measurement -> the figures this claim is about
    holds: Callable[[float, float], str]
    unit: str = "x"


def _ratio(over: str, under: str, index: int) -> Callable[[dict], list]:
    """m[over][index] / m[under][index] of the sweep's (wall, cpu) pairs."""
    return lambda m: [m[over][index] / m[under][index]]


def _scalar_bounds(m: dict) -> list:
    """Before issue 16 / now, per scalar call of a bound that existed then (kl_inverse_* and tilted apart)."""
    return [m["issue16"][k] / m["after"][k] for k in api_speed.SCALAR_CALLS
            if k in m["issue16"] and not k.startswith(("kl_inverse", "tilted"))]


def _api_ratios(before: str, prefix: str, array: bool) -> Callable[[dict], list]:
    return lambda m: [m[before][k] / m["after"][k] for k in m["after"]
                      if k.startswith(prefix) and ("array" in k) == array and "[" not in k and k in m[before]]


def _kl_evaluations(label: str) -> Callable[[dict], list]:
    return lambda m: [v for k, v in m[label].items() if k.endswith("[kl evaluations]")]


def _rows(family: str, field: str, keep: Callable[[int, int], bool]) -> Callable[[dict], list]:
    return lambda m: [row[field] for row in m[family] if keep(row["N"], row["d"])]


def _sine_accuracy(m: dict) -> list:
    return [row["err_loop"] / row["err_batched"] for row in m["sine"]]


def _check_ratio(over: str, under: str, field: str) -> Callable[[dict], list]:
    """m[over][field] / m[under][field] of the check's runs (before/reader/previous/cold/warm)."""
    return lambda m: [m[over][field] / m[under][field]]


def _callback_lengths(what: str, revision: str = "after") -> Callable[[dict], list]:
    """:func:`_callback`'s figure at every stage length measured (20 fresh and warm, 60, 200)."""
    lengths = [(20, ""), (20, "20-again"), (60, ""), (200, "")]
    return lambda m: [v for steps, label in lengths for v in _callback(steps, what, revision, label)(m)]


def _callback(steps: int, what: str, revision: str = "after", label: str = "") -> Callable[[dict], list]:
    def values(m: dict) -> list:
        m = m.get(revision, {})
        if (label or str(steps)) not in m:
            return []
        row = m[label or str(steps)]
        evaluation = (row["callback"] - row["refits"]) / row["evaluations"]
        share = {"callback": row["callback"] / row["training"], "refits": row["refits"] / row["training"],
                 "evaluation": evaluation / (row["training"] / steps), "evaluations": row["evaluations"]}
        return [share[what]]
    return values


def _pass_claims(name: str, revision: str, stored: tuple, simulated: tuple, note: str = "") -> list:
    """An issue 25 pass's three check claims against the revision before it: the CPU ratio with the nulls stored
    (``check-cpu-NAME``) and simulated (``-cold``), and the verdicts (``check-verdicts-NAME``)."""
    return [
        Claim(f"check-cpu-{name}", "CHANGELOG.md, docs/benchmarks.md", f"{stored[0]}-{stored[1]}x less CPU than {revision}, nulls stored{note}",
              "check", _check_ratio(f"{name}_warm", "warm", "cpu"), within(*stored)),
        Claim(f"check-cpu-{name}-cold", "CHANGELOG.md, docs/benchmarks.md", f"{simulated[0]}-{simulated[1]}x with the nulls simulated",
              "check", _check_ratio(f"{name}_cold", "cold", "cpu"), within(*simulated)),
        Claim(f"check-verdicts-{name}", "CHANGELOG.md", f"now: the verdicts of {revision} (1 = same)", "check",
              lambda m: [float(m[f"{name}_same_verdicts"])], at_least(1.0), ""),
    ]


CLAIMS = [
    Claim("sweep-quick-wall", "README.md, CHANGELOG.md", "1.37-1.85x less wall (1.37-1.46x on the AMD EPYC family 25 model 1, 1.45-1.8x on the model 17 on 2026-12-06)", "sweep", _ratio("default", "quick", 0), within(1.37, 1.85)),
    Claim("sweep-quick-target", "issue 25", ">= 1.5x less wall", "sweep", _ratio("default", "quick", 0), at_least(1.5)),
    Claim("sweep-quick-cpu", "README.md, CHANGELOG.md", "1.38-1.85x less CPU (1.38-1.46x on the model 1)", "sweep", _ratio("default", "quick", 1), within(1.38, 1.85)),
    Claim("sweep-frozen-cpu", "CHANGELOG.md, simulations/sweep.py", "default sweep: 0.97-1.1x less CPU than 0fdd302 (1.04-1.07x in the ninth "
          "pass's own run; 0.99-1.05x in the tenth's: within the host's noise)", "sweep",
          _ratio("default_ninth", "default", 1), within(0.97, 1.1)),
    Claim("sweep-frozen-quick-cpu", "CHANGELOG.md, simulations/sweep.py", "--quick: 1.0-1.15x less CPU than 0fdd302", "sweep",
          _ratio("quick_ninth", "quick", 1), within(1.0, 1.15)),
    Claim("sweep-pool-wall", "simulations/sweep.py", "2 jobs: 1.1-1.9x less wall, under load", "sweep", _ratio("quick", "quick_pool2", 0), within(1.1, 1.9)),
    Claim("sweep-pool-cpu", "simulations/sweep.py", "2 jobs: 0.9-1.2x the CPU of one", "sweep", _ratio("quick_pool2", "quick", 1), within(0.9, 1.2)),
    Claim("quadratic-after", "CHANGELOG.md", "Quadratic 1.0-1.3x one eigh, d = 100", "quadratic", lambda m: [m["after"]], within(1.0, 1.3)),
    Claim("quadratic-before", "CHANGELOG.md", "was 1.15-3.7x", "quadratic", lambda m: [m["before"]], within(1.15, 3.7)),
    Claim("check-cpu", "CHANGELOG.md, docs/benchmarks.md", "10^6 rows: now 7-16x less CPU than 2626bc4^ (nulls stored)", "check",
          _check_ratio("before", "warm", "cpu"), within(7.0, 16.0)),
    Claim("check-cpu-cold", "CHANGELOG.md, docs/benchmarks.md", "5.3-14x with the nulls simulated", "check",
          _check_ratio("before", "cold", "cpu"), within(5.3, 14.0)),
    Claim("check-cpu-reader", "CHANGELOG.md", "at 2626bc4: 4.8-9.2x less CPU than before it", "check",
          _check_ratio("before", "reader", "cpu"), within(4.8, 9.2)),
    Claim("check-cpu-issue25", "CHANGELOG.md, docs/benchmarks.md", "1.35-2.4x less CPU than 101b791 (nulls stored)", "check",
          _check_ratio("previous", "warm", "cpu"), within(1.35, 2.4)),
    Claim("check-cpu-issue25-cold", "CHANGELOG.md, docs/benchmarks.md", "1.1-2.25x with the nulls simulated", "check",
          _check_ratio("previous", "cold", "cpu"), within(1.1, 2.25)),
    Claim("check-cpu-third", "CHANGELOG.md, docs/benchmarks.md", "0.9-1.45x less CPU than 9239323, nulls stored (noise)", "check",
          _check_ratio("third_warm", "warm", "cpu"), within(0.9, 1.45)),
    Claim("check-cpu-third-cold", "CHANGELOG.md, docs/benchmarks.md", "0.9-1.75x with the nulls simulated (noise)", "check",
          _check_ratio("third_cold", "cold", "cpu"), within(0.9, 1.75)),
    Claim("check-verdicts-third", "CHANGELOG.md", "now: the verdicts of 9239323 (1 = same)", "check",
          lambda m: [float(m["third_same_verdicts"])], at_least(1.0), ""),
    Claim("check-cpu-fifth-cold", "CHANGELOG.md, docs/benchmarks.md", "0.85-1.5x less CPU than e61942b with the nulls simulated (~0.2 s: near the noise)",
          "check", _check_ratio("fifth_cold", "cold", "cpu"), within(0.85, 1.5)),
    Claim("check-verdicts-fifth", "CHANGELOG.md", "now: the verdicts of e61942b (1 = same)", "check",
          lambda m: [float(m["fifth_same_verdicts"])], at_least(1.0), ""),
    *_pass_claims("seventh", "8aee581", (0.95, 1.45), (0.75, 1.5), " (~0.1 s: near the noise)"),
    *_pass_claims("eighth", "84a2350", (1.0, 1.3), (1.0, 1.4)),
    *_pass_claims("ninth", "0fdd302", (1.0, 1.2), (1.0, 1.25)),
    Claim("check-trl-cpu", "CHANGELOG.md, docs/benchmarks.md", "10^5 steps as TRL's trainer_state.json, one per stage, as a trainer "
          "with the coupling callback writes it (a training and an evaluation entry per step, indent=2): 2.7-3.1x less CPU than "
          "0fdd302, which merged its entries one by one (since the thirteenth pass: pyarrow's JSON reader, the steps merged as "
          "columns; 1.3-1.8x before, on one entry per step), nulls stored", "check", _check_ratio("ninth_trl", "trl", "cpu"),
          within(2.7, 3.1)),
    Claim("check-tensorboard-cpu", "CHANGELOG.md, docs/benchmarks.md", "10^5 rows as TensorBoard event files, one per stage: 3.3-3.9x "
          "less CPU than 0fdd302 (no cyclic collections; google-crc32c's CRC; the values placed by step whole; add_scalar's "
          "events decoded as arrays), nulls stored (2.3-3x before the fourteenth pass, 1.7-2.1x before the tenth)", "check",
          _check_ratio("ninth_tensorboard", "tensorboard", "cpu"), within(3.3, 3.9)),
    Claim("check-tensorboard-cpu-tenth", "CHANGELOG.md, docs/benchmarks.md", "the same: 1.7-2.1x less CPU than 23a3ce5 (the values "
          "placed by step whole, readers.scalars; since the fourteenth pass add_scalar's events decoded as arrays; 1.2-1.6x "
          "before it), nulls stored", "check", _check_ratio("tenth_tensorboard", "tensorboard", "cpu"), within(1.7, 2.1)),
    Claim("check-tensorboard-cpu-fourteenth", "CHANGELOG.md, docs/benchmarks.md", "the same: 1.15-1.45x less CPU than a6801fb "
          "(the records framed in blocks of repeating sizes, add_scalar's events decoded together as arrays, readers.tfrecord; "
          "at 10^5 rows most of the check is the imports, checks and figure: 2.6-2.8x at 10^6, bridge_scale), nulls stored",
          "check", _check_ratio("fourteenth_tensorboard", "tensorboard", "cpu"), within(1.15, 1.45)),
    Claim("check-mlflow-cpu-tenth", "CHANGELOG.md, docs/benchmarks.md", "10^5 rows as an MLflow run's metric files, one run per "
          "stage: 1.35-1.8x less CPU than 23a3ce5 (each file parsed whole by pyarrow, the values placed by step), nulls stored",
          "check", _check_ratio("tenth_mlflow", "mlflow", "cpu"), within(1.35, 1.8)),
    Claim("check-verl-cpu", "CHANGELOG.md, docs/benchmarks.md", "10^5 rows as verl's file logger writes them, one file per stage: "
          "2.0-2.6x less CPU than 0fdd302 (its lines read whole by pyarrow; no cyclic collections), nulls stored", "check",
          _check_ratio("ninth_verl", "verl", "cpu"), within(2.0, 2.6)),
    Claim("check-stage-logs-verdicts", "CHANGELOG.md", "those four: the verdicts of 0fdd302 (and of 23a3ce5 and a6801fb; 1 = same)", "check",
          lambda m: [float(m[f"{kind}_same_verdicts"]) for kind in bridge_scale.STAGE_FORMATS], at_least(1.0), ""),
    Claim("check-cpu-eighth-user", "CHANGELOG.md, docs/benchmarks.md", "1.05-1.35x less CPU than 84a2350 with no thread variable set "
          "(its OpenBLAS threads spinning), nulls stored", "check", _check_ratio("eighth_user", "user", "cpu"), within(1.05, 1.35)),
    Claim("check-timestamped-cpu", "CHANGELOG.md, docs/benchmarks.md", "10^6 rows with a logging time per record: 2.5-3.55x less CPU "
          "than 84a2350 (which read such a log line by line), nulls stored", "check",
          _check_ratio("eighth_timestamped", "timestamped", "cpu"), within(2.5, 3.55)),
    Claim("check-timestamped-memory", "CHANGELOG.md, docs/benchmarks.md", "3.5-4.5x less peak memory than 84a2350", "check",
          _check_ratio("eighth_timestamped", "timestamped", "peak_mb"), within(3.5, 4.5)),
    Claim("check-timestamped-verdicts", "CHANGELOG.md", "the verdicts of the same log without the times, and of 84a2350 (1 = same)",
          "check", lambda m: [float(m["timestamped_same_verdicts"])], at_least(1.0), ""),
    Claim("check-csv-cpu", "CHANGELOG.md, docs/benchmarks.md", "10^6 rows as CSV: 4.5-7.6x less CPU than 84a2350 (which read "
          "it row by row as texts), nulls stored", "check", _check_ratio("eighth_csv", "csv", "cpu"), within(4.5, 7.6)),
    Claim("check-csv-memory", "CHANGELOG.md, docs/benchmarks.md", "2.8-3.6x less peak memory than 84a2350", "check",
          _check_ratio("eighth_csv", "csv", "peak_mb"), within(2.8, 3.6)),
    Claim("check-csv-verdicts", "CHANGELOG.md", "the verdicts of the same log as JSONL, and of 84a2350 (1 = same)",
          "check", lambda m: [float(m["csv_same_verdicts"])], at_least(1.0), ""),
    Claim("check-memory", "CHANGELOG.md, docs/benchmarks.md", "7-9x less peak memory than 2626bc4^", "check",
          lambda m: [m["before"]["peak_mb"] / m[now]["peak_mb"] for now in ("cold", "warm")], within(7.0, 9.0)),
    Claim("check-memory-issue25", "CHANGELOG.md, docs/benchmarks.md", "1.1-1.3x less than 101b791", "check",
          lambda m: [m["previous"]["peak_mb"] / m[now]["peak_mb"] for now in ("cold", "warm")], within(1.1, 1.3)),
    Claim("check-verdicts", "CHANGELOG.md", "reader change: same verdicts (1 = same)", "check", lambda m: [float(m["reader_same_verdicts"])], at_least(1.0), ""),
    Claim("check-verdicts-issue25", "CHANGELOG.md", "now: the verdicts of 101b791 (1 = same)", "check",
          lambda m: [float(m["now_same_verdicts"])], at_least(1.0), ""),
    Claim("check-target-cpu", "CHANGELOG.md, issue 25", "3 s CPU target with the nulls stored: at its edge on the Intel family 6 model 167 since the "
          "ninth pass (2.47-3.27 s over nine runs, within 3 s in seven, 2.47-2.99 s in the twelfth pass's three; 2.63-3.02 s after the eighth, 3.05-3.36 s before it; the host's "
          "speed moves between runs: 84a2350 took 2.77-2.86 s of user time in one, 3.15-3.21 s in the next, 3.16-3.48 s in the eleventh pass's), on the AMD model 17 in quiet runs (2.6-2.97 s; "
          "2.75-3.96 s in a run the host disturbed), not always on the other Intel ones (2.6-3.45 s), not on the AMD model 1 (4.0-4.85 s; "
          "these three before the ninth pass)", "check", lambda m: [m["warm"]["cpu"]], within(2.45, 4.85), " s CPU"),
    Claim("check-target-cpu-cold", "CHANGELOG.md, issue 25", "with them simulated: at its edge on the model 167 since the ninth pass (2.83-3.68 s over six runs; "
          "3.07-3.41 s after the eighth, 3.4-3.65 s before it), at its edge on the AMD model 17 (2.95-3.2 s; 4.4-4.8 s disturbed), not met "
          "on the other Intel ones (2.95-3.9 s) nor the AMD model 1 (4.35-5.9 s)", "check", lambda m: [m["cold"]["cpu"]], within(2.6, 5.9), " s CPU"),
    Claim("check-target-cpu-user", "CHANGELOG.md, issue 25", "3 s CPU target with the nulls stored, no thread variable set (as a user's "
          "shell runs it): at its edge on the Intel model 167 since the ninth pass (2.53-3.44 s, 3.22-3.44 s in the eleventh pass's slower run, 2.53-2.98 s in the twelfth's; 2.6-3.1 s "
          "after the eighth, 3.29-3.49 s before it)", "check", lambda m: [m["user"]["cpu"]], within(2.5, 3.45), " s CPU"),
    Claim("check-target-cpu-timestamped", "CHANGELOG.md, issue 25", "with a logging time per record, nulls stored: "
          "at its edge on the Intel model 167 since the ninth pass (2.75-3.5 s, of it 0.4-0.62 s system time; 2.85-3.45 s after "
          "the eighth), not met in the eleventh pass's slower run (3.44-4.1 s, 0.45-0.85 s of it system time), 2.64-3.15 s in the twelfth's", "check", lambda m: [m["timestamped"]["cpu"]], within(2.6, 4.15), " s CPU"),
    Claim("check-target-cpu-csv", "CHANGELOG.md, issue 25", "as CSV, nulls stored: at its edge on the Intel model 167 "
          "(2.36-3.2 s since the ninth pass: 3.01 s with 0.9 s of system time in the tenth's run, 3.11-3.14 s in the eleventh's slower "
          "run, 3.13-3.2 s in the thirteenth's first; 2.6-3.0 s after the eighth)", "check", lambda m: [m["csv"]["cpu"]],
          within(2.3, 3.2), " s CPU"),
    Claim("check-target-cpu-own", "CHANGELOG.md, docs/benchmarks.md", "a check's own work (its user CPU time), nulls stored: "
          "2.15-3.0 s on the Intel model 167 since the ninth pass (2.79-2.92 s in the eleventh pass's slower run, 2.16-2.69 s in the twelfth's, "
          "2.82-2.96 s in the thirteenth's first; 2.4-2.75 s after the eighth; 2.05-2.15 s as CSV then); the rest is "
          "system time (file reads, page faults, 0.28-0.8 s there), which varies between identical runs", "check",
          lambda m: [m[now]["cpu"] - m[now]["system"] for now in ("warm", "user")], within(2.15, 3.0), " s CPU"),
    Claim("check-target-cpu-own-cold", "CHANGELOG.md, docs/benchmarks.md", "with the nulls simulated: 2.45-3.4 s there since the ninth "
          "pass (3.05-3.39 s in the eleventh's slower run, 2.46-3.03 s in the twelfth's; 2.75-3.0 s after the eighth)", "check",
          lambda m: [m["cold"]["cpu"] - m["cold"]["system"]], within(2.45, 3.4), " s CPU"),
    Claim("check-target-memory", "CHANGELOG.md, issue 25", "400 MB target met", "check",
          lambda m: [m[now]["peak_mb"] for now in ("cold", "warm", "user", "timestamped", "csv", *bridge_scale.STAGE_FORMATS)],
          at_most(400.0), " MB"),
    Claim("api-scalar", "CHANGELOG.md (0.2.0), docs/benchmarks.md", "5.5-58x less CPU per scalar call than a6a1151", "api", _scalar_bounds, within(5.5, 58)),
    Claim("api-klinv-scalar", "CHANGELOG.md (0.2.0), docs/benchmarks.md", "kl_inverse_* scalar 58-180x", "api", _api_ratios("issue16", "kl_inverse", False), within(58, 180)),
    Claim("api-klinv-array", "CHANGELOG.md (0.2.0), docs/benchmarks.md", "kl_inverse_* 10^4 arrays 8-19x", "api", _api_ratios("issue16", "kl_inverse", True), within(8, 19)),
    Claim("api-klinv-evaluations", "CHANGELOG.md, docs/benchmarks.md", "5-9 kl evaluations per scalar call", "api", _kl_evaluations("after"), within(5, 9), ""),
    Claim("api-klinv-evaluations-before", "CHANGELOG.md, docs/benchmarks.md", "53-54 before issue 16", "api", _kl_evaluations("issue16"), within(53, 54), ""),
    Claim("api-tilted", "CHANGELOG.md, docs/benchmarks.md", "tilted_tradeoff fast path 11.5-59x", "api", _api_ratios("tilted", "tilted", False), within(11.5, 59)),
    Claim("grid-sine-n10", "docs/benchmarks.md", "sine batched/loop 2.6-9.1x at N = 10", "grid", _rows("sine", "ratio", lambda n, d: n == 10), within(2.6, 9.1)),
    Claim("grid-sine-n100", "docs/benchmarks.md", "20-55x at N = 100, d <= 10", "grid", _rows("sine", "ratio", lambda n, d: n == 100 and d <= 10), within(20, 55)),
    Claim("grid-sine-n1000", "docs/benchmarks.md", "29-185x at N = 1000, d <= 10", "grid", _rows("sine", "ratio", lambda n, d: n == 1000 and d <= 10), within(29, 185)),
    Claim("grid-sine-d100", "docs/benchmarks.md", "2.55-7.8x at d = 100, N >= 100", "grid", _rows("sine", "ratio", lambda n, d: n >= 100 and d == 100), within(2.55, 7.8)),
    Claim("grid-sine-accuracy", "docs/benchmarks.md", "batched 15-2300x more accurate", "grid", _sine_accuracy, within(15, 2300)),
    Claim("grid-sine-equal-n10", "docs/benchmarks.md", "equal accuracy 2.75-14x at N = 10", "grid", _rows("sine", "equal_ratio", lambda n, d: n == 10), within(2.75, 14)),
    Claim("grid-sine-equal-n100", "docs/benchmarks.md", "equal accuracy 4.5-69x at N = 100", "grid", _rows("sine", "equal_ratio", lambda n, d: n == 100), within(4.5, 69)),
    Claim("grid-sine-equal-n1000", "docs/benchmarks.md", "equal accuracy 3.6-180x at N = 1000", "grid", _rows("sine", "equal_ratio", lambda n, d: n == 1000), within(3.6, 180)),
    Claim("grid-quadratic-flow", "docs/benchmarks.md", "exact flow alone 21.5-3720x the loop", "grid", _rows("quadratic", "ratio_flow_only", lambda n, d: True), within(21.5, 3720)),
    Claim("grid-quadratic-eigh", "docs/benchmarks.md", "with eigh 90-2100x, d <= 10", "grid", _rows("quadratic", "ratio", lambda n, d: d <= 10), within(90, 2100)),
    Claim("grid-quadratic-eigh-d100", "docs/benchmarks.md", "with eigh 2.6-8.0x at d = 100", "grid", _rows("quadratic", "ratio", lambda n, d: d == 100), within(2.6, 8.0)),
    Claim("grid-quadratic-limit", "docs/benchmarks.md", "0.04-7.0x eigh + 2 matmuls (threaded)", "grid", _rows("quadratic", "over_limit", lambda n, d: True), within(0.04, 7.0)),
    Claim("grid-threads-wall", "docs/benchmarks.md", "2 BLAS threads / 1: 0.87-3.8x wall", "grid",
          lambda m: [m["threads"]["free_wall"] / m["threads"]["one_wall"]], within(0.87, 3.8)),
    Claim("grid-threads-cpu", "docs/benchmarks.md", "2 BLAS threads / 1: 1.65-3.7x CPU", "grid",
          lambda m: [m["threads"]["free_cpu"] / m["threads"]["one_cpu"]], within(1.65, 3.7)),
    Claim("grid-import", "docs/benchmarks.md, CHANGELOG.md", "import 0.001-0.01 of loading every API function (no numpy since 2d4019e)",
          "grid", lambda m: [m["imports"]["bare"] / m["imports"]["full"]], within(0.001, 0.01)),
    Claim("callback-target", "issue 25, README.md, docs/callback.md", "callback <= 5% of training at 20 (fresh and warm), 60, 200 steps", "callback",
          _callback_lengths("callback"), at_most(0.05), "%"),
    Claim("callback-20", "README.md, docs/callback.md, CHANGELOG.md", "callback/training 3.65-5.1% at 20 steps, first stage in a fresh process",
          "callback", _callback(20, "callback"), within(0.0365, 0.051), "%"),
    Claim("callback-20-again", "README.md, docs/callback.md, CHANGELOG.md", "3.4-5.15% at 20 steps in a warm process", "callback",
          _callback(20, "callback", label="20-again"), within(0.034, 0.0515), "%"),
    Claim("callback-60", "README.md, docs/callback.md, CHANGELOG.md", "2.35-4.25% at 60 steps", "callback", _callback(60, "callback"), within(0.0235, 0.0425), "%"),
    Claim("callback-200", "README.md, docs/callback.md, CHANGELOG.md", "4.25-4.9% at 200 steps", "callback", _callback(200, "callback"),
          within(0.0425, 0.049), "%"),
    Claim("callback-evaluations-20", "docs/callback.md", "2 evaluations (20 steps)", "callback", _callback(20, "evaluations"), within(2, 2), ""),
    Claim("callback-evaluations-20-again", "docs/callback.md", "2 evaluations (20 steps, warm)", "callback",
          _callback(20, "evaluations", label="20-again"), within(2, 2), ""),
    Claim("callback-evaluations-60", "docs/callback.md, CHANGELOG.md", "3-6 evaluations (60 steps)", "callback", _callback(60, "evaluations"), within(3, 6), ""),
    Claim("callback-evaluations-200", "docs/callback.md, CHANGELOG.md", "20-21 evaluations (200 steps: 21 due)", "callback",
          _callback(200, "evaluations"), within(20, 21), ""),
    Claim("callback-evaluation-20", "docs/callback.md", "one evaluation 0.33-0.48 steps (20 steps)", "callback", _callback(20, "evaluation"), within(0.33, 0.48)),
    Claim("callback-evaluation-20-again", "docs/callback.md", "0.31-0.49 steps (20 steps, warm)", "callback",
          _callback(20, "evaluation", label="20-again"), within(0.31, 0.49)),
    Claim("callback-evaluation-60", "docs/callback.md", "0.36-0.45 steps (60 steps)", "callback", _callback(60, "evaluation"), within(0.36, 0.45)),
    Claim("callback-evaluation-200", "docs/callback.md", "0.37-0.45 steps (200 steps)", "callback", _callback(200, "evaluation"), within(0.37, 0.45)),
    Claim("callback-refits-20", "docs/callback.md", "refits 0.25-0.42% of training (20 steps)", "callback", _callback(20, "refits"), within(0.0025, 0.0042), "%"),
    Claim("callback-refits-60", "docs/callback.md", "0.14-0.38% (60 steps)", "callback", _callback(60, "refits"), within(0.0014, 0.0038), "%"),
    Claim("callback-refits-200", "docs/callback.md", "0.28-0.40% (200 steps)", "callback", _callback(200, "refits"), within(0.0028, 0.0040), "%"),
    Claim("callback-refits-20-again", "docs/callback.md", "0.23-0.38% (20 steps, warm)", "callback", _callback(20, "refits", label="20-again"),
          within(0.0023, 0.0038), "%"),
    Claim("callback-previous-20", "docs/callback.md, CHANGELOG.md", "before the fifth pass (0e2b7a2): 3.6-6.3% at 20 steps, fresh process", "callback",
          _callback(20, "callback", "previous"), within(0.036, 0.063), "%"),
    Claim("callback-previous-20-again", "docs/callback.md", "3.7-6.85% at 20 steps, warm (a third evaluation on the AMD machine)", "callback",
          _callback(20, "callback", "previous", "20-again"), within(0.037, 0.0685), "%"),
    Claim("callback-previous-evaluation-20", "docs/callback.md", "one evaluation 0.34-0.6 steps (20, fresh process)", "callback",
          _callback(20, "evaluation", "previous"), within(0.34, 0.6)),
    Claim("callback-previous-200", "docs/callback.md", "4.4-5.0% at 200 steps", "callback", _callback(200, "callback", "previous"), within(0.044, 0.050), "%"),
    Claim("callback-before-evaluations-20-again", "docs/callback.md", "before the token tree (9239323): 2-3 evaluations (20 steps, warm)", "callback",
          _callback(20, "evaluations", "before", "20-again"), within(2, 3), ""),
    Claim("callback-before-evaluations-60", "docs/callback.md", "4-7 (60 steps)", "callback", _callback(60, "evaluations", "before"), within(4, 7), ""),
    Claim("callback-before-evaluations-200", "docs/callback.md", "17-20 (200 steps)", "callback", _callback(200, "evaluations", "before"), within(17, 20), ""),
    Claim("callback-before-20", "docs/callback.md", "before the token tree: 25-49% at 20 steps (fresh process)", "callback",
          _callback(20, "callback", "before"), within(0.25, 0.49), "%"),
    Claim("callback-before-20-again", "docs/callback.md", "3.9-6.9% at 20 steps, warm", "callback",
          _callback(20, "callback", "before", "20-again"), within(0.039, 0.069), "%"),
    Claim("callback-before-60", "docs/callback.md", "3.6-5.2% at 60 steps", "callback", _callback(60, "callback", "before"), within(0.036, 0.052), "%"),
    Claim("callback-before-200", "docs/callback.md", "4.45-5.1% at 200 steps", "callback", _callback(200, "callback", "before"), within(0.0445, 0.051), "%"),
    Claim("callback-before-evaluation-20", "docs/callback.md", "one evaluation 0.42-1.1 steps (20, fresh process)", "callback",
          _callback(20, "evaluation", "before"), within(0.42, 1.1)),
    Claim("callback-before-evaluation-20-again", "docs/callback.md", "0.37-0.58 steps (20, warm)", "callback",
          _callback(20, "evaluation", "before", "20-again"), within(0.37, 0.58)),
    Claim("callback-before-evaluation-60", "docs/callback.md", "0.38-0.6 steps (60 steps)", "callback", _callback(60, "evaluation", "before"), within(0.38, 0.6)),
    Claim("callback-before-evaluation-200", "docs/callback.md", "0.44-0.55 steps (200 steps)", "callback", _callback(200, "evaluation", "before"), within(0.44, 0.55)),
    Claim("probe-hvp-gradient", "docs/probe.md", "one HVP = 1.5-1.6x a gradient (Qwen3-0.6B, 2 threads, as the command runs: freed memory kept)",
          "probe", lambda m: [m["hvp_over_gradient"]], within(1.5, 1.6)),
    Claim("probe-hvp-backward", "docs/probe.md", "6.85-8.1x the backward pass alone", "probe", lambda m: [m["hvp_over_backward_only"]], within(6.85, 8.1)),
    Claim("probe-kept-memory-hvp", "docs/probe.md", "an HVP 1.05-1.35x less wall with freed memory kept than with glibc's defaults", "probe",
          lambda m: [m["glibc_defaults"]["hvp_s"] / m["hvp_s"]], within(1.05, 1.35)),
]


# --------------------------------------------------------------------------------------------
# Running and printing


def selected(only) -> list[Claim]:
    """The claims whose id is or starts with one of ``only`` (all without it)."""
    if not only:
        return list(CLAIMS)
    chosen = [c for c in CLAIMS if any(c.id == o or c.id.startswith(o) for o in only)]
    if not chosen:
        raise SystemExit(f"--only: no claim id is or starts with {only}; ids: {', '.join(c.id for c in CLAIMS)}")
    return chosen


def load_average() -> float:
    return os.getloadavg()[0]


def measure(benchmarks: list[str], repeats: int, quick: bool, save: Callable[[dict], None]) -> dict:
    """``{benchmark: [{"load": [start, end], "data": ...} per repeat]}``, benchmarks in turn within each repeat.

    ``save`` gets the results so far after every benchmark, so that an interrupted run keeps them.
    """
    results = {name: [] for name in benchmarks}
    with tempfile.TemporaryDirectory() as scratch:
        context = Context(quick=quick, scratch=Path(scratch))
        for repeat in range(repeats):
            for name in benchmarks:
                start_load, start = load_average(), time.perf_counter()
                data = BENCHMARK_FUNCTIONS[name](context)
                results[name].append({"load": [start_load, load_average()], "data": data})
                save(results)
                print(f"  repeat {repeat + 1}/{repeats} {name}: {time.perf_counter() - start:.0f} s, load {start_load:.1f}",
                      file=sys.stderr, flush=True)
    return results


def describe(values: list, unit: str) -> str:
    if not values:
        return "not measured"
    low, high = min(values), max(values)
    scale, suffix = (100.0, "%") if unit == "%" else (1.0, unit)
    text = f"{low * scale:.3g}" if low == high else f"{low * scale:.3g}-{high * scale:.3g}"
    return f"{text}{suffix} (n = {len(values)})"


def table(claims: list[Claim], results: dict) -> str:
    lines = ["| claim | stated in | claimed | measured: min-max | load (1 min) | holds |", "|---|---|---|---|---|---|"]
    for claim in claims:
        values, loads = [], []
        for repeat in results.get(claim.benchmark, []):
            try:
                values += claim.values(repeat["data"])
            except KeyError:  # a run saved before the claim's revision was added: not measured there
                continue
            loads += repeat["load"]
        load = f"{min(loads):.1f}-{max(loads):.1f}" if loads else ""
        verdict = claim.holds(min(values), max(values)) if values else "not run"
        lines.append(f"| {claim.id} | {claim.where} | {claim.claimed} | {describe(values, claim.unit)} | {load} | {verdict} |")
    return "\n".join(lines)


def cpu_name() -> str:
    """The CPU's model name with its family and model numbers: "AMD EPYC" alone covers machines whose timings differ 1.5x."""
    from simulations.qwen3.reproduce import cpu_model

    name, family, model = cpu_model()
    return f"{name} (family {family} model {model})"


#: The installed distributions whose versions a benchmark's timings depend on (read from their metadata, not imported).
PACKAGES = ("numpy", "scipy", "pandas", "pyarrow", "matplotlib", "torch", "transformers", "trl")


def package_versions() -> str:
    """``numpy 2.4.6, scipy 1.17.1, ...``: the versions a saved measurement was taken with ("absent" where not installed)."""
    from importlib import metadata

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "absent"
    return ", ".join(f"{name} {version(name)}" for name in PACKAGES)


def header(argv: list[str]) -> dict:
    revision = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {"command": " ".join(["python benchmarks/run_all.py", *argv]), "revision": revision,
            "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": f"{cpu_name()}, {platform.machine()}, {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), "
                       f"python {platform.python_version()}, nice {os.nice(0)}",
            "packages": package_versions(), "load_start": list(os.getloadavg())}


def print_report(about: dict, claims: list[Claim], results: dict) -> None:
    print(f"command: {about['command']}\nrevision: {about['revision']}\nstarted: {about['started']}\nmachine: {about['machine']}")
    print(f"packages: {about.get('packages', 'not recorded')}")
    print(f"load average (1, 5, 15 min) at start: {', '.join(f'{x:.2f}' for x in about['load_start'])}; "
          f"at end: {', '.join(f'{x:.2f}' for x in about.get('load_end', []))}")
    print(f"ratios only; ranges are min-max over repeats and instances{'; --quick: reduced sizes' if about.get('quick') else ''}\n")
    print(table(claims, results))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="reduced sizes (checks the script; verdicts indicative only)")
    parser.add_argument("--only", nargs="+", metavar="ID", help="claim ids or id prefixes (e.g. sweep- api-tilted)")
    parser.add_argument("--repeats", type=int, default=2, help="repeats of each benchmark, in turn (default 2)")
    parser.add_argument("--save", type=Path, help="write the raw measurements (JSON) here")
    parser.add_argument("--load", type=Path, help="print the table from measurements saved with --save; run nothing")
    args = parser.parse_args(argv)
    claims = selected(args.only)
    if args.load:
        saved = json.loads(args.load.read_text())
        print_report(saved["about"], claims, saved["results"])
        return 0
    about = {**header(sys.argv[1:] if argv is None else argv), "quick": args.quick}

    def save(results: dict) -> None:
        if args.save:
            args.save.write_text(json.dumps({"about": {**about, "load_end": list(os.getloadavg())}, "results": results}, indent=1) + "\n")

    results = measure(list(dict.fromkeys(c.benchmark for c in claims)), args.repeats, args.quick, save)
    about["load_end"] = list(os.getloadavg())
    print_report(about, claims, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
