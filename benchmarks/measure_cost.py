"""The time of ONE live-callback evaluation (``CouplingMeasurer.evaluate``), this checkout against another.

``python benchmarks/measure_cost.py --against /path/to/other/checkout [--rounds 4] [--evaluations 8]``

The callback benchmark's setting (benchmarks/callback_overhead.py): the runner's digit task (100
prompts x 5 expert answers = 500 held-out pairs, exact pass rate), the tiny Qwen3 (64 wide, 2
layers), a KL reference, on one CPU thread; ``--config`` adds other (samples per prompt, batch
size) pairs (the runner's own: 4 and 64). Each round runs this checkout and the other one in
fresh processes, alternating, and each process times ``--evaluations`` evaluations after a
first one (which draws pi_ref's samples); the table gives the ratio this/other of the rounds'
medians, over the rounds (a loaded machine moves both together). ``--split`` times the pieces of
this checkout's evaluation (prompt passes, the token trees of samples and scored rows) by wrapping them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setting(root: Path, samples_per_prompt: int, batch_size: int):
    """The model, its reference and the measurer, imported from ``root``'s library."""
    sys.path[:0] = [str(root / "theory"), str(root)]
    import copy

    import torch

    torch.set_num_threads(1)
    from nondecoupling.bridge.models.measure import CouplingMeasurer
    from simulations.qwen3.model import TinyQwen3Size, load_policy
    from simulations.qwen3.stages import task_reward
    from simulations.qwen3.task import DigitTask, expert_pairs

    task = DigitTask()
    model, tokenizer = load_policy("tiny", TinyQwen3Size(), seed=0, dtype=torch.float32, device="cpu")
    reference = copy.deepcopy(model)
    prompts, responses, weights = expert_pairs(task)
    measurer = CouplingMeasurer(prompts, responses, tokenizer=tokenizer, weights=weights, reward_fn=task_reward(task),
                                exact_pass_rate=True, samples_per_prompt=samples_per_prompt, batch_size=batch_size)
    return model, reference, measurer


def _worker(root: Path, samples_per_prompt: int, batch_size: int, evaluations: int) -> dict:
    """Seconds of each evaluation after the first, in this process."""
    model, reference, measurer = _setting(root, samples_per_prompt, batch_size)
    measurer.evaluate(model, step=0, reference=reference)
    seconds = []
    for step in range(1, evaluations + 1):
        start = time.perf_counter()
        measurer.evaluate(model, step=step, reference=reference)
        seconds.append(time.perf_counter() - start)
    return {"median": statistics.median(seconds), "min": min(seconds)}


def _split(samples_per_prompt: int, batch_size: int, evaluations: int) -> dict:
    """Seconds per evaluation in each piece of this checkout's evaluation (wrapped calls, summed)."""
    model, reference, measurer = _setting(ROOT, samples_per_prompt, batch_size)
    from nondecoupling.bridge.models import measure

    totals: dict[str, float] = {}

    def timed(name, function):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                totals[name] = totals.get(name, 0.0) + time.perf_counter() - start
        return wrapper

    for name in ("prompt_pass", "sample_and_score"):
        setattr(measure, name, timed(name, getattr(measure, name)))
    measurer.evaluate(model, step=0, reference=reference)
    totals.clear()
    start = time.perf_counter()
    for step in range(1, evaluations + 1):
        measurer.evaluate(model, step=step, reference=reference)
    totals["evaluation"] = time.perf_counter() - start
    return {name: seconds / evaluations for name, seconds in totals.items()}


def _run(root: Path, config: tuple[int, int], evaluations: int) -> dict:
    command = [sys.executable, __file__, "--worker", str(root), "--config", f"{config[0]},{config[1]}",
               "--evaluations", str(evaluations)]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="another checkout's root (its theory/ and simulations/)")
    parser.add_argument("--config", nargs="+", default=["1,256"], help="samples_per_prompt,batch_size pairs")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--evaluations", type=int, default=8)
    parser.add_argument("--split", action="store_true", help="time the pieces of this checkout's evaluation")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    configs = [tuple(int(v) for v in c.split(",")) for c in args.config]
    if args.worker:
        print(json.dumps(_worker(args.worker, *configs[0], args.evaluations)))
        return
    for config in configs:
        if args.split:
            split = _split(*config, args.evaluations)
            print(f"samples/prompt, batch {config}: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in split.items()))
        if args.against:
            ratios, pairs = [], []
            for _ in range(args.rounds):
                other, this = _run(args.against, config, args.evaluations), _run(ROOT, config, args.evaluations)
                ratios.append(this["median"] / other["median"])
                pairs.append((this["median"], other["median"]))
            print(f"samples/prompt, batch {config}: evaluation time this/other {min(ratios):.2f}-{max(ratios):.2f} "
                  f"(median {statistics.median(ratios):.2f}; seconds this/other per round: "
                  + ", ".join(f"{a:.3f}/{b:.3f}" for a, b in pairs) + ")")


if __name__ == "__main__":
    main()
