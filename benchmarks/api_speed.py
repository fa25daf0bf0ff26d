"""Microseconds per scalar call of every public bound, and kl_inverse_* on scalars and arrays, before/after.

Issue 16 asks for ratios from one run: this script extracts an earlier revision of the library
(``git archive``, default: the merge-base with main, before the issue 12/16 changes) into a
temporary directory, times the same calls there and in the working
tree in fresh interpreters, alternating the two for ``--rounds`` rounds, and prints both with
their ratio.

    python benchmarks/api_speed.py [--before REV] [--repeat N] [--rounds N] [--cpu]

``--cpu`` times with ``time.process_time`` (this process's CPU time, user + system) instead of
the wall clock: on a machine shared with other load it is the steadier of the two.
Timings are minima over repeats and rounds (least disturbed by other load); compare the ratios, not the
absolute numbers, between machines.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent

#: One representative scalar call per public function (inside the validated domain).
SCALAR_CALLS = {
    "kl_bernoulli": "kl_bernoulli(0.3, 0.5)",
    "pinsker_radius": "pinsker_radius(0.02)",
    "path_length_bound": "path_length_bound(1.0, gap0=0.5, mu=1.0, beta=2.0)",
    "reward_gain_bounds": "reward_gain_bounds(1.0, gap0=0.5, mu=1.0, beta=2.0)",
    "sft_degradation_bounds": "sft_degradation_bounds(1.0, rl_gap0=0.5, sep=0.5, mu_sft=1.0, beta_sft=2.0, mu_rl=1.0, beta_rl=2.0)",
    "reward_loss_bounds": "reward_loss_bounds(1.0, sft_gap0=0.5, sep=0.5, mu_sft=1.0, beta_sft=2.0, mu_rl=1.0, beta_rl=2.0)",
    "optimal_rl_duration": "optimal_rl_duration(lam=1.0, mu_rl=1.0, beta_rl=2.0, beta_sft=1.0)",
    "guaranteed_net_gain": "guaranteed_net_gain(1.0, rl_gap0=1.0, lam=1.0, mu_rl=1.0, beta_rl=2.0, beta_sft=1.0)",
    "rl_break_even_time": "rl_break_even_time(lam=2.0, mu_rl=1.0, beta_rl=1.0, beta_sft=1.0)",
    "nondecoupling_threshold": "nondecoupling_threshold(sft_min=1.0, sep=2.0, mu_sft=0.5)",
    "crossing_time": "crossing_time(sft_gap0=0.0, rl_gap0=0.5, sep=0.5, mu_sft=1.0, mu_rl=1.0)",
    "gd_contraction": "gd_contraction(mu=0.2, beta=1.0, eta=1.0, sharp=True)",
    "optimal_rl_steps": "optimal_rl_steps(lam=1.0, mu_rl=1.0, beta_rl=1.0, beta_sft=1.0, eta=0.1)",
    "discrete_path_length_bound": "discrete_path_length_bound(30, gap0=0.5, mu=0.5, beta=1.0, eta=0.5)",
    "discrete_sft_degradation_bounds": "discrete_sft_degradation_bounds(30, rl_gap0=0.5, sep=0.5, mu_sft=1.0, beta_sft=1.0, mu_rl=0.5, beta_rl=1.0, eta=0.5)",
    "discrete_reward_gain_bounds": "discrete_reward_gain_bounds(30, rl_gap0=1.0, mu_rl=0.5, beta_rl=1.0, eta=0.5)",
    "discrete_net_gain": "discrete_net_gain(30, rl_gap0=1.0, lam=1.0, mu_rl=0.5, beta_rl=1.0, beta_sft=1.0, eta=0.5)",
    "kantorovich_bound": "kantorovich_bound(1.0, 4.0)",
    "curvature_bracket": "curvature_bracket([4.0, 1.0], 0.5, 1)",
    "misalignment_bound": "misalignment_bound([4.0, 1.0], 0.5, 1)",
    "kl_inverse_upper": "kl_inverse_upper(0.3, 0.1)",
    "kl_inverse_lower": "kl_inverse_lower(0.3, 0.1)",
    "kl_inverse_first_upper": "kl_inverse_first_upper(0.3, 0.1)",
    "kl_inverse_first_lower": "kl_inverse_first_lower(0.3, 0.1)",
    "tilted_tradeoff": "tilted_tradeoff(1.0, [0.5, 0.5], [0.0, 1.0])",
    "tilted_tradeoff (8 responses)": "tilted_tradeoff(2.0, [0.125] * 8, [0.0, 0.1, 0.2, 0.4, 0.5, 0.7, 0.9, 1.0])",
}
#: kl_inverse_* on 10^4 (rate, budget) pairs spanning budgets 1e-12 .. 10.
ARRAY_CALLS = {f"{name} (10^4 array)": f"{name}(RATES, BUDGETS)" for name in
               ("kl_inverse_upper", "kl_inverse_lower", "kl_inverse_first_upper", "kl_inverse_first_lower")}

_TIMER = r'''
import json, sys, time, timeit
import numpy as np
import nondecoupling
calls, repeat = json.loads(sys.argv[1]), int(sys.argv[2])
timer = time.process_time if sys.argv[3] == "cpu" else time.perf_counter
rng = np.random.default_rng(0)
space = {name: getattr(nondecoupling, name) for name in nondecoupling.__all__}
space.update(RATES=rng.random(10_000), BUDGETS=10.0 ** rng.uniform(-12, 1, 10_000))
out = {}
for label, expression in calls.items():
    try:
        code = compile(expression, label, "eval")
        eval(code, space)
    except (AttributeError, NameError):
        continue  # not in this revision
    run = lambda: eval(code, space)
    number = 1 if "array" in label else 20
    out[label] = min(timeit.repeat(run, number=number, repeat=repeat, timer=timer)) / number * 1e6
# Evaluations of the accurate kl per scalar kl_inverse_* call (robust to machine load, unlike times).
import nondecoupling.kl as kl_module
plain_kl, count = kl_module._kl, [0]
def counted(a, b):
    count[0] += 1
    return plain_kl(a, b)
kl_module._kl = counted
for label, expression in calls.items():
    if label.startswith("kl_inverse") and "array" not in label and label in out:
        count[0] = 0
        eval(compile(expression, label, "eval"), space)
        out[label + " [kl evaluations]"] = count[0]
print(json.dumps(out))
'''


def extract(revision: str, into: Path) -> Path:
    """The library's ``theory/`` directory at ``revision``, unpacked under ``into``."""
    archive = subprocess.run(["git", "archive", revision, "theory"], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "theory"


def time_calls(theory_dir: Path, calls: dict, repeat: int, clock: str) -> dict:
    environment = {"PYTHONPATH": str(theory_dir), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", _TIMER, json.dumps(calls), str(repeat), clock],
                            capture_output=True, text=True, check=True, env=environment)
    return json.loads(result.stdout)


def _keep_minimum(best: dict, timings: dict) -> None:
    for label, value in timings.items():
        best[label] = min(best.get(label, value), value)


def resolve(revision: str) -> str:
    return subprocess.run(["git", "rev-parse", "--short", revision], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=None, help="revision to compare with (default: merge-base with main)")
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats per round (minimum taken)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds alternating the two revisions (minimum taken)")
    parser.add_argument("--cpu", action="store_true", help="CPU time (time.process_time) instead of wall time")
    args = parser.parse_args(argv)
    before = args.before or subprocess.run(["git", "merge-base", "HEAD", "main"], cwd=ROOT, capture_output=True,
                                           text=True, check=True).stdout.strip()
    calls = {**SCALAR_CALLS, **ARRAY_CALLS}
    clock = "cpu" if args.cpu else "wall"
    with tempfile.TemporaryDirectory() as tmp:
        old_theory = extract(before, Path(tmp) / "before")
        old, new = {}, {}
        # Alternate the two revisions round by round (minimum per call over the rounds): a load
        # that comes and goes then slows both alike instead of whichever ran second.
        for _ in tqdm(range(args.rounds), desc="rounds (before, after)", unit="round"):
            _keep_minimum(old, time_calls(old_theory, calls, args.repeat, clock))
            _keep_minimum(new, time_calls(ROOT / "theory", calls, args.repeat, clock))
    print(f"before = {resolve(before)}, after = working tree; {clock} microseconds per call "
          f"(arrays: per 10^4-element call); functions missing before are marked new")
    print(f"{'call':44s} {'before':>10s} {'after':>10s} {'speed-up':>9s}")
    for label in [*calls, *(f"{name} [kl evaluations]" for name in SCALAR_CALLS if name.startswith("kl_inverse"))]:
        if label in new:
            was = old.get(label)
            ratio = f"{was / new[label]:8.1f}x" if was else "      new"
            print(f"{label:44s} {was if was else float('nan'):10.1f} {new[label]:10.1f} {ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
