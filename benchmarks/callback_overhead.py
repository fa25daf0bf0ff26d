"""What the live callback costs a GRPO run, as a fraction of its training steps' time.

``python benchmarks/callback_overhead.py [--steps 20] [--device auto] [--dtype auto]``

The runner's default task and model (the digit-reversal task, 100 prompts, p* over 5 answers:
500 held-out pairs; the tiny Qwen3, 64 wide, 2 layers) and its default GRPO stage (16 prompts
x 8 generations per step), run by TRL's GRPOTrainer twice: without the callback, then with
:class:`~nondecoupling.bridge.callback.CouplingCallback` at its DEFAULT settings (every 10
steps, 1 sample per prompt, batches of 64, no grad, the model's device and dtype, the KL
reference built once, online P3 with 100 bootstrap fits). Reported, as ratios within this
one run:

* ``evaluation / step``: one evaluation against one training step (mean over the stage);
* ``P3 refit / step``: one online P3 refit (20 points, 100 bootstrap fits; CPU-only scipy),
  which each RL evaluation adds once a stage has 6 evaluations;
* ``amortized``: (evaluation + refit) / (10 steps), the cost per step at the default interval;
* ``run overhead``: (time with the callback - time without) / time without, each the faster
  of two alternating runs (the first and last evaluations of a short stage weigh more).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# Run as a script, sys.path[0] is benchmarks/: the repo root (for `simulations`, not installed) must be importable.
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from nondecoupling.bridge.callback import CouplingCallback  # noqa: E402
from nondecoupling.bridge.stopping import p3_stop_estimate  # noqa: E402
from simulations.qwen3.model import TinyQwen3Size, load_policy  # noqa: E402
from simulations.qwen3.stages import DTYPES, TrainingSettings, resolve_device, resolve_dtype, run_grpo, task_reward  # noqa: E402
from simulations.qwen3.task import DigitTask


class _Timer(CouplingCallback):
    """The public callback, with each evaluation's wall time kept."""

    def evaluate(self, model, *, step: int = 0):
        start = time.perf_counter()
        metrics = super().evaluate(model, step=step)
        self.evaluation_seconds.append(time.perf_counter() - start)
        return metrics


def _stage(task, settings, *, steps: int, callback=None) -> float:
    device = resolve_device(settings.device)
    dtype = resolve_dtype(settings.dtype, device)
    model, tokenizer = load_policy("tiny", TinyQwen3Size(), seed=0, dtype=DTYPES[dtype], device=device)
    start = time.perf_counter()
    run_grpo(model, tokenizer, task, steps=steps, lr=1e-3, max_completion_length=task.answer_width + 1, settings=settings,
             callbacks=[callback] if callback is not None else [])
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="GRPO steps per stage (two default evaluations fall inside)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    task = DigitTask()
    settings = TrainingSettings(device=args.device, dtype=args.dtype)
    pairs = [(p, y, w) for p in task.prompts for y, w in task.expert_distribution(p).items()]
    prompts, responses, weights = zip(*pairs)

    plain, monitored, evaluation_seconds = [], [], []
    for _ in range(2):
        plain.append(_stage(task, settings, steps=args.steps))
        callback = _Timer(prompts, responses, weights=weights, reward_fn=task_reward(task), reference_model="rl_start",
                          expert_pass_rate=task.expert_pass_rate, expert_entropy=task.expert_entropy, exact_pass_rate=True)
        callback.evaluation_seconds = []
        monitored.append(_stage(task, settings, steps=args.steps, callback=callback))
        evaluation_seconds += callback.evaluation_seconds
    plain, monitored = min(plain), min(monitored)
    evaluations = len(evaluation_seconds)
    step = plain / args.steps
    evaluation = float(np.median(evaluation_seconds))
    # A P3 refit as late in an RL stage: 20 noisy points of the isotropic curves.
    s = np.arange(0.0, 200.0, 10.0)
    rng = np.random.default_rng(0)
    reward = 0.9 - 0.6 * np.exp(-0.04 * s) + rng.normal(0, 0.02, s.size)
    loss = 1.3 + 0.5 * (1 - np.exp(-0.02 * s)) ** 2 + rng.normal(0, 0.01, s.size)
    start = time.perf_counter()
    p3_stop_estimate(s, reward, loss, n_boot=callback.p3_settings["n_boot"])
    refit = time.perf_counter() - start

    print(f"device {resolve_device(args.device)}, dtype {resolve_dtype(args.dtype, resolve_device(args.device))}, "
          f"torch threads {torch.get_num_threads()}; {len(pairs)} held-out pairs, {len(task.prompts)} prompts")
    print(f"GRPO step (no callback):       {step:8.3f} s")
    print(f"one evaluation / step:          {evaluation / step:8.2f}  (median of {evaluations} evaluations)")
    print(f"P3 refit (100 boot) / step:     {refit / step:8.2f}")
    print(f"amortized at every 10 steps:    {(evaluation + refit) / (10 * step):8.1%}")
    print(f"run overhead ({args.steps} steps, 3 evals): {(monitored - plain) / plain:8.1%}  ({monitored:.1f} s vs {plain:.1f} s)")


if __name__ == "__main__":
    main()
