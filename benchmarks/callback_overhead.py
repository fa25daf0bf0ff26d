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
* ``P3 refit / step``: the online P3 refit's share of it (CPU-only scipy fits);
* ``run overhead``: (time with the callback - time without) / time without, the cost the
  user pays at the default interval.
"""

from __future__ import annotations

import argparse
import time

import torch

from nondecoupling.bridge.callback import CouplingCallback, p3_stop_estimate
from simulations.qwen3.model import TinyQwen3Size, load_policy
from simulations.qwen3.stages import DTYPES, TrainingSettings, resolve_device, resolve_dtype, run_grpo, task_reward
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

    plain = _stage(task, settings, steps=args.steps)
    callback = _Timer(prompts, responses, weights=weights, reward_fn=task_reward(task), reference_model="rl_start",
                      expert_pass_rate=task.expert_pass_rate, expert_entropy=task.expert_entropy, exact_pass_rate=True)
    callback.evaluation_seconds = []
    monitored = _stage(task, settings, steps=args.steps, callback=callback)
    evaluations = len(callback.evaluation_seconds)
    step = plain / args.steps
    evaluation = sum(callback.evaluation_seconds) / evaluations
    curve = [(r["step"], r["reward"], r["sft_loss"]) for r in callback.records]
    s, reward, loss = zip(*(curve * 3)[: max(len(curve), 20)])  # a P3 refit on 20 points, as late in a stage
    start = time.perf_counter()
    p3_stop_estimate(sorted(s), reward, loss, n_boot=callback.p3_settings["n_boot"])
    refit = time.perf_counter() - start

    print(f"device {resolve_device(args.device)}, dtype {resolve_dtype(args.dtype, resolve_device(args.device))}, "
          f"torch threads {torch.get_num_threads()}; {len(pairs)} held-out pairs, {len(task.prompts)} prompts")
    print(f"GRPO step (no callback):       {step:8.3f} s")
    print(f"one evaluation / step:         {evaluation / step:8.2f}  ({evaluations} evaluations in {args.steps} steps)")
    print(f"P3 refit (100 boot) / step:    {refit / step:8.2f}")
    print(f"run overhead at every 10 steps: {(monitored - plain) / plain:7.1%}  ({monitored:.1f} s vs {plain:.1f} s)")


if __name__ == "__main__":
    main()
