"""What the live callback costs a GRPO run, timed from the trainer's own hooks.

``python benchmarks/callback_overhead.py [--steps 20 60 200] [--max-overhead 0.05 0] [--device auto] [--dtype auto]``

The runner's default task and model (the digit-reversal task, 100 prompts, p* over 5 answers:
500 held-out pairs; the tiny Qwen3, 64 wide, 2 layers) and its default GRPO stage (16 prompts
x 8 generations per step), run by TRL's GRPOTrainer with
:class:`~nondecoupling.bridge.models.callback.CouplingCallback` at its DEFAULT settings (every 10
steps, no geometric start as stop_at is None, 1 sample per prompt, exact pass rate, the KL
reference taken at the stage's start, online P3 after every RL evaluation).

Two clocks sit around the callback in the trainer's callback list, one before and one after
it, so every hook's time splits into the trainer's and the callback's. Training time: the sum
of [on_step_begin, on_step_end) over the steps, less the callback's time in the hooks called
within a step (``on_pre_optimizer_step``, where the stage's start is measured); callback time:
everything the callback does in any hook (the stage's first and last evaluations, the scheduled
ones, the P3 refits as they happen, its bookkeeping). Each length runs with the default time budget (``max_overhead=0.05``) and without one
(every evaluation on schedule), alternately. Set-up (building the trainer and the model) is outside both. Reported per stage length:
evaluations, callback time / training time, and the share of it that the P3 refits take.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# Run as a script, sys.path[0] is benchmarks/: the repo root (for `simulations`, not installed) must be importable.
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from nondecoupling.bridge.logs import stopping  # noqa: E402
from nondecoupling.bridge.models.callback import CouplingCallback, CouplingConfig  # noqa: E402
from simulations.qwen3.model import TinyQwen3Size, load_policy  # noqa: E402
from simulations.qwen3.stages import DTYPES, TrainingSettings, resolve_device, resolve_dtype, run_grpo, task_reward  # noqa: E402
from simulations.qwen3.task import DigitTask, expert_pairs  # noqa: E402

#: Every hook a trainer calls while it trains (``on_init_end`` is set-up): the callback's time in any of them is counted,
#: and a hook called inside a step (``on_pre_optimizer_step``, ``on_log``, ...) is taken out of that step's training time.
HOOKS = tuple(name for name in dir(TrainerCallback) if name.startswith("on_") and name != "on_init_end")


class _Clock(TrainerCallback):
    """perf_counter at each hook call, in call order.

    Wall time only: a CPU clock (``process_time``, a system call that sums the process's threads)
    read in every hook made each hook 10-40 ms of wall on a loaded machine, charged to the callback.
    """

    def __init__(self):
        self.marks: list[tuple[str, float]] = []

    def __getattribute__(self, name):
        if name in HOOKS:
            return lambda *args, **kwargs: self.marks.append((name, time.perf_counter()))
        return super().__getattribute__(name)


class _TimedRefits:
    """Wall time of every LiveStop.observe call (the P3 refit and decision) while active."""

    def __enter__(self):
        self.seconds, original = [], stopping.LiveStop.observe

        def timed(live, *args, **kwargs):
            start = time.perf_counter()
            try:
                return original(live, *args, **kwargs)
            finally:
                self.seconds.append(time.perf_counter() - start)

        self._original, stopping.LiveStop.observe = original, timed
        return self

    def __exit__(self, *exc):
        stopping.LiveStop.observe = self._original


def _stage(task, settings, steps: int, max_overhead: float | None) -> dict:
    device = resolve_device(settings.device)
    model, tokenizer = load_policy("tiny", TinyQwen3Size(), seed=0, dtype=DTYPES[resolve_dtype(settings.dtype, device)],
                                   device=device)
    prompts, responses, weights = expert_pairs(task)
    coupling = CouplingCallback(CouplingConfig(prompts, responses, weights=weights, reward_fn=task_reward(task),
                                               reference_model="rl_start", expert_pass_rate=task.expert_pass_rate,
                                               expert_entropy=task.expert_entropy, exact_pass_rate=True,
                                               max_overhead=max_overhead))
    before, after = _Clock(), _Clock()
    with _TimedRefits() as refits:
        run_grpo(model, tokenizer, task, steps=steps, lr=1e-3, max_completion_length=task.answer_width + 1,
                 settings=settings, callbacks=[before, coupling, after])
    return {"steps": steps, "evaluations": len(coupling.records), **_split(before.marks, after.marks),
            "refits": sum(refits.seconds), "refit_count": len(refits.seconds)}


def _split(before: list[tuple[str, float]], after: list[tuple[str, float]]) -> dict:
    """Callback time (inside every hook: after's mark - before's) and training time (each step's
    [on_step_begin, on_step_end) less the callback's time in the hooks called within it)."""
    assert [name for name, _ in before] == [name for name, _ in after], "the two clocks saw different hooks"
    inside = [(start, end - start) for (_, start), (_, end) in zip(before, after, strict=True)]
    step_begin = [t for name, t in after if name == "on_step_begin"]
    step_end = [t for name, t in before if name == "on_step_end"]
    windows = list(zip(step_begin, step_end))
    training = sum(end - begin for begin, end in windows)
    training -= sum(spent for start, spent in inside if any(begin <= start < end for begin, end in windows))
    return {"training": training, "callback": sum(spent for _, spent in inside)}


def stage_overhead(steps: int, settings: TrainingSettings | None = None, max_overhead: float | None = 0.05) -> dict:
    """One stage of ``steps`` GRPO steps of the default task, timed as :func:`main` times it (seconds, counts)."""
    return _stage(DigitTask(), settings or TrainingSettings(), steps, max_overhead)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[20, 60, 200])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-overhead", type=float, nargs="+", default=[0.05, 0.0],
                        help="the callback's time budgets to compare (0: none, every evaluation on schedule)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = TrainingSettings(device=args.device, dtype=args.dtype)
    device = resolve_device(args.device)
    print(f"device {device}, dtype {resolve_dtype(args.dtype, device)}, torch threads {torch.get_num_threads()}")
    print("| max_overhead | GRPO steps | evaluations | P3 refits | training step (s) | one evaluation / step | callback / training | refits / training |")
    print("|---|---|---|---|---|---|---|---|")
    for steps in args.steps:
        for budget in args.max_overhead:  # alternated within one length: the load is shared
            row = _stage(DigitTask(), settings, steps, budget or None)
            step = row["training"] / steps
            evaluation = (row["callback"] - row["refits"]) / row["evaluations"]
            print(f"| {budget or 'none'} | {steps} | {row['evaluations']} | {row['refit_count']} | {step:.3f} | {evaluation / step:.2f} | "
                  f"{row['callback'] / row['training']:.1%} | {row['refits'] / row['training']:.2%} |", flush=True)


if __name__ == "__main__":
    main()
