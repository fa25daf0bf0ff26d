"""The start evaluation's shortcut at equal accuracy: each metric's spread over measurer seeds, before and after.

``python benchmarks/callback_noise.py [SEEDS]`` (default 40)

With ``reference_model="rl_start"`` the callback's first evaluation of a stage measures the policy
while it IS pi_ref (``CouplingMeasurer.evaluate(..., model_is_reference=True)``): both KLs are 0
exactly and pi_ref's cached samples are that evaluation's samples instead of draws of their own.
Here pi_ref is the runner's tiny Qwen3 and the policy the same net with N(0, 0.05^2) added to every
weight (a policy some RL steps away). Per measurer seed, "before" evaluates the policy with pi_ref's
own samples; "after" first evaluates pi_ref as itself (the start evaluation), then the policy. The
mean and standard deviation over seeds of each metric at the policy: sft_loss and pass_rate are
exact, reward and kl are the same draws, and forward_kl's spread is that of 100 samples either way.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the repo root, for `simulations`

import numpy as np  # noqa: E402
import torch  # noqa: E402

from nondecoupling.bridge.models.measure import CouplingMeasurer  # noqa: E402
from simulations.qwen3.model import TinyQwen3Size, load_policy  # noqa: E402
from simulations.qwen3.stages import task_reward  # noqa: E402
from simulations.qwen3.task import DigitTask, expert_pairs  # noqa: E402

METRICS = ("sft_loss", "pass_rate", "reward", "kl", "forward_kl")


def main(seeds: int = 40) -> dict:
    torch.set_num_threads(1)
    task = DigitTask()
    reference, tokenizer = load_policy("tiny", TinyQwen3Size(), seed=0)
    policy, _ = load_policy("tiny", TinyQwen3Size(), seed=0)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for weight in policy.parameters():
            weight.add_(0.05 * torch.randn(weight.shape, generator=generator))
    prompts, responses, weights = expert_pairs(task)
    rows: dict[str, list[dict]] = {"before": [], "after": []}
    for seed in range(seeds):
        settings = dict(weights=weights, reward_fn=task_reward(task), exact_pass_rate=True, tokenizer=tokenizer, seed=seed)
        rows["before"].append(CouplingMeasurer(prompts, responses, **settings).evaluate(policy, reference=reference, step=10))
        measurer = CouplingMeasurer(prompts, responses, **settings)
        measurer.evaluate(reference, reference=reference, step=0, model_is_reference=True)
        rows["after"].append(measurer.evaluate(policy, reference=reference, step=10))
    summary = {name: {k: (float(np.mean([r[k] for r in rs])), float(np.std([r[k] for r in rs], ddof=1))) for k in METRICS}
               for name, rs in rows.items()}
    print(f"| pi_ref's samples ({seeds} seeds) | " + " | ".join(METRICS) + " |\n|---|" + "---|" * len(METRICS))
    for name, stats in summary.items():
        print(f"| {name} | " + " | ".join(f"{m:.4f} ± {s:.4f}" for m, s in stats.values()) + " |")
    return summary


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
