"""How ``nondecoupling check`` scales with the log's length: time and peak memory (on demand, not a test).

Writes a canonical JSONL log of an SFT -> RL -> SFT run on isotropic quadratics (the exact
flows of ``tests/bridge/synthetic.py``, one evaluation per step, with noise) of N rows, then
runs ``python -m nondecoupling check`` on it in a fresh process and reports the wall time
and the process's peak resident memory (``ru_maxrss`` of the child). The target: 10^6 rows
in under a minute within 2 GB; time and memory should grow about linearly (the trend tests
are O(n log n), the fits run on at most ``MAX_FIT_POINTS`` bin means, Theil-Sen on at most
``MAX_SLOPE_POINTS`` points).

    PYTHONPATH=$PWD/theory:$PWD python benchmarks/bridge_scale.py            # 10^4, 10^5, 10^6 rows
    PYTHONPATH=$PWD/theory:$PWD python benchmarks/bridge_scale.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent


def write_log(path: Path, rows: int, seed: int = 0) -> None:
    """N rows: SFT for the first fifth, RL for three fifths, SFT again, one evaluation per step."""
    sys.path[:0] = [str(REPOSITORY), str(REPOSITORY / "theory")]
    from tests.bridge.synthetic import isotropic_run

    sft, rl = rows // 5, rows - 2 * (rows // 5)
    scale = 400.0 / rows  # the same curves whatever N: the flows' rates per step shrink with N
    run = isotropic_run([("sft", sft - 1), ("rl", rl - 1), ("sft", sft - 1)], every=1, start=(0.5, 0.0),
                        rl_time_per_step=scale, sft_time_per_step=0.1 * scale, loss_noise=0.03, reward_noise=0.01, seed=seed)
    with path.open("w") as handle:
        for record in run.to_dict("records"):
            handle.write(json.dumps(record) + "\n")
    (path.parent / "run_meta.json").write_text(json.dumps({"expert_pass_rate": 0.4, "expert_entropy": 10.0}))


def check(path: Path, out: Path, bootstrap: int) -> tuple[float, float, float, int]:
    """(wall s, CPU s, peak resident MB, exit code) of one ``nondecoupling check`` in a fresh process.

    CPU time (user + system) is reported beside wall time: on a shared machine the wall time
    measures the neighbours too.
    """
    env = {**os.environ, "PYTHONPATH": f"{REPOSITORY / 'theory'}:{REPOSITORY}", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "nondecoupling", "check", str(path), "--out", str(out), "--lam", "0.05",
               "--bootstrap", str(bootstrap)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if result.returncode:
        print(result.stderr, file=sys.stderr)
    return wall, cpu, after.ru_maxrss / 1024.0, result.returncode


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples (the command's default)")
    args = parser.parse_args(argv)
    print("| rows | log MB | check wall s | check CPU s | peak RSS MB | verdicts |\n|---|---|---|---|---|---|")
    for rows in sorted(args.rows):  # ascending: ru_maxrss of children is a running maximum
        with tempfile.TemporaryDirectory() as tmp:
            log = Path(tmp) / "log.jsonl"
            write_log(log, rows)
            wall, cpu, peak, code = check(log, Path(tmp) / "report", args.bootstrap)
            summary = json.loads((Path(tmp) / "report" / "report.json").read_text())["summary"] if code == 0 else f"exit {code}"
            print(f"| {rows:,} | {log.stat().st_size / 2**20:.0f} | {wall:.1f} | {cpu:.1f} | {peak:.0f} | {summary} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
