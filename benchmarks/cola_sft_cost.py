"""CPU cost of protocol-v2's SFT step by model size, and what the size plan would cost (issue 23).

    nice python benchmarks/cola_sft_cost.py            # the five sizes of the size plan, 3 steps each

protocol-v2's SFT takes every step on all of p* enumerated (1950 sequences,
:data:`simulations.qwen3.experiments.SFT_V2`). This times one such step (forward, backward,
AdamW) per model size of :data:`simulations.qwen3.experiments.SIZES` in CPU seconds of this
process (``time.process_time``, one torch thread), which the machine's load does not inflate
the way it inflates wall time; the median of ``--repeats`` steps after one warm-up step. It
then prints the size plan's estimated CPU time on one unloaded core: per run, (pretraining +
SFT steps) times that step. RL and the evaluations are not counted (RL's 150 GRPO steps cost
about as much as 40 SFT steps at 0.1 M parameters), so the estimate is a lower bound.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from simulations.qwen3.cola import ColaTask
from simulations.qwen3.experiments import SEEDS, SFT_V2, SIZES
from simulations.qwen3.model import TinyQwen3Size, load_policy
from simulations.qwen3.runner import enumerated_records

PRETRAIN_STEPS = 40  # experiments.BUDGET's --pretrain-steps; protocol-v2 pretrains at the same full batch


def step_cpu_seconds(size, *, repeats: int) -> tuple[int, float]:
    """(parameters, median CPU seconds of one full-batch SFT step on the enumerated p*)."""
    task = ColaTask()
    options = dict(zip(SFT_V2[::2], SFT_V2[1::2], strict=True))
    model, tokenizer = load_policy("tiny", TinyQwen3Size(hidden_size=size.hidden_size, num_layers=size.num_layers, num_heads=4,
                                                         num_kv_heads=2, head_dim=size.hidden_size // 4,
                                                         intermediate_size=size.intermediate_size),
                                   seed=0, characters=task.characters, dtype=torch.float32, device="cpu")
    records = enumerated_records(task, int(options["--sft-train-size"]))
    batch = tokenizer([r["prompt"] + r["completion"] for r in records], return_tensors="pt", padding=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    costs = []
    for _ in range(repeats + 1):
        start = time.process_time()
        model(**batch, labels=batch["input_ids"]).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        costs.append(time.process_time() - start)
    return sum(p.numel() for p in model.parameters()), statistics.median(costs[1:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    steps = PRETRAIN_STEPS + int(dict(zip(SFT_V2[::2], SFT_V2[1::2], strict=True))["--sft-steps"])
    total = 0.0
    print("| size | parameters | CPU s per full-batch step | SFT + pretraining per run (CPU min) |\n|---|---|---|---|")
    for size in SIZES:
        parameters, cost = step_cpu_seconds(size, repeats=args.repeats)
        total += cost * steps * len(SEEDS)
        print(f"| {size.name} | {parameters / 1e6:.3g} M | {cost:.3g} | {cost * steps / 60:.3g} |", flush=True)
    print(f"\nsize plan, {len(SIZES)} sizes x {len(SEEDS)} seeds: >= {total / 3600:.3g} CPU hours on one unloaded core")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
