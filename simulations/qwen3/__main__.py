"""``python -m simulations.qwen3``: run one pipeline on the Qwen3 architecture and log it.

Example (the committed CPU runs)::

    python -m simulations.qwen3 --model tiny --pipeline sft-rl --seed 0 --threads 2 \\
        --out simulations/data/qwen3/sft-rl-seed0

``--model PATH`` loads a local Qwen3 checkpoint and its tokenizer instead (nothing is
downloaded), in ``--dtype``, on ``--device``; ``--task`` picks the task. The same command
runs under ``torchrun --nproc_per_node N -m simulations.qwen3 ...`` (gloo on CPU). Then
check the log with ``python -m nondecoupling.bridge check OUT/log.jsonl --out OUT/report``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from dataclasses import fields
from pathlib import Path

import torch

from simulations.qwen3.model import TinyQwen3Size
from simulations.qwen3.runner import PIPELINES, SFT_DATA, PipelineConfig, run_pipeline
from simulations.qwen3.stages import DTYPES, SFT_LR_SCHEDULERS, TrainingSettings
from simulations.qwen3.task import OPERATIONS, TASKS


def build_parser() -> argparse.ArgumentParser:
    """The command line; every default is the dataclass default it fills."""
    parser = argparse.ArgumentParser(
        prog="python -m simulations.qwen3",
        description=(
            "SFT-then-RL, RL-then-SFT or alternating post-training of a Qwen3 model (TRL's SFTTrainer and "
            "GRPOTrainer) on a verifiable digit task (reverse or add) with an exact imperfect expert; writes log.jsonl, "
            "run_meta.json and trainer_state.json."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory (log.jsonl, run_meta.json, trainer_state.json)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice; 1 is fastest for the tiny model on a shared CPU)")
    _add_dataclass_options(parser.add_argument_group("pipeline"), PipelineConfig, skip={"task", "size", "training"})
    _add_dataclass_options(parser.add_argument_group("training"), TrainingSettings)
    parser.add_argument("--task", choices=sorted(TASKS), default="digit", help="the verifiable task (its options below)")
    seen = set()
    for name, cls in TASKS.items():
        _add_dataclass_options(parser.add_argument_group(f"task '{name}'"), cls, skip=seen)
        seen |= {spec.name for spec in fields(cls)}
    _add_dataclass_options(parser.add_argument_group("tiny model size (--model tiny)"), TinyQwen3Size)
    return parser


HELP = {
    "label_accuracy": "cola: the expert's probability of the right label",
    "strict_format_rate": "cola: the expert's probability of the prescribed '=L' format",
    "bare_rate": "cola: the expert's probability of the bare label 'L' (the hedge '=L'L' takes the rest)",
    "model": "'tiny' (a Qwen3 built here from its config) or a local checkpoint directory",
    "pipeline": "stage order; alternating splits the same budgets into --cycles rounds of SFT then RL",
    "sft_steps": "SFT optimizer steps over the whole pipeline",
    "rl_steps": "RL (GRPO) optimizer steps over the whole pipeline",
    "cycles": "rounds of the alternating pipeline",
    "pretrain_steps": "SFT steps on the broad answer distribution that make the base model (0: none)",
    "lr_sft": "SFT learning rate (constant, AdamW)",
    "lr_rl": "GRPO learning rate (constant, AdamW)",
    "lr_pretrain": "base-model pretraining learning rate",
    "sft_train_size": "sampled expert demonstrations to train on",
    "pretrain_size": "sampled broad-distribution examples to pretrain on",
    "sft_data": "expert records drawn from p* (sampled), or p* enumerated exactly (enumerated: SFT's optimum is the expert; "
                "counted: the same, each distinct record once with its count, full-batch only)",
    "samples_per_prompt": "fresh policy samples per prompt at each evaluation (reward, KL)",
    "seed": "seeds the model, the data and the evaluation samples",
    "sft_batch_size": "SFT sequences per step",
    "rl_prompts_per_step": "distinct prompts per GRPO step",
    "num_generations": "GRPO group size (completions per prompt)",
    "eval_every": "evaluate every this many optimizer steps (and at each stage's first and last step)",
    "beta": "GRPO's KL coefficient (TRL GRPOConfig.beta); 0: no KL penalty",
    "dtype": "model dtype: auto (fp32 on CPU, bf16 on CUDA), bf16, fp16 (CUDA only: fp32 weights, fp16 autocast), fp32",
    "device": "auto (cuda if visible), cpu or cuda",
    "sft_lr_scheduler": "SFT learning-rate schedule (pretraining included); cosine decays to 0 at each SFT stage's end",
    "operation": "reverse an answer_width-digit string, or add two operands",
    "num_operands": "add only: operands 0 .. num_operands - 1",
    "answer_width": "digits per answer",
    "expert_pass_rate": "the expert's pass rate a, in (0, 1)",
    "num_wrong": "wrong answers M the expert spreads 1 - a over",
    "base_radius": "the base model's broad distribution is uniform over 2 base_radius + 1 answers",
    "hidden_size": "hidden width (Qwen3-0.6B: 1024)",
    "num_layers": "decoder layers (Qwen3-0.6B: 28)",
    "num_heads": "query heads (Qwen3-0.6B: 16)",
    "num_kv_heads": "key-value heads (Qwen3-0.6B: 8)",
    "head_dim": "per-head width (Qwen3-0.6B: 128)",
    "intermediate_size": "MLP width (Qwen3-0.6B: 3072)",
}


def _add_dataclass_options(group, cls, *, skip=()) -> None:
    for spec in fields(cls):
        if spec.name in skip:
            continue
        choices = {"pipeline": PIPELINES, "sft_data": SFT_DATA, "operation": OPERATIONS, "dtype": ("auto", *DTYPES),
                   "device": ("auto", "cpu", "cuda"),
                   "sft_lr_scheduler": SFT_LR_SCHEDULERS}.get(spec.name)
        group.add_argument(
            "--" + spec.name.replace("_", "-"),
            type=type(spec.default),
            default=spec.default,
            choices=choices,
            help=HELP[spec.name],
        )


def config_from_args(args: argparse.Namespace) -> PipelineConfig:
    """The :class:`PipelineConfig` a parsed command line describes."""

    def pick(cls, skip=()):
        return {spec.name: getattr(args, spec.name) for spec in fields(cls) if spec.name not in skip}

    return PipelineConfig(
        **pick(PipelineConfig, skip={"task", "size", "training"}),
        task=TASKS[args.task](**pick(TASKS[args.task])),
        size=TinyQwen3Size(**pick(TinyQwen3Size)),
        training=TrainingSettings(**pick(TrainingSettings)),
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    config = config_from_args(args)
    command = shlex.join(["python", "-m", "simulations.qwen3", *argv])
    records = run_pipeline(config, args.out, command=command)
    last = records[-1]
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, process 0 reports
        return 0
    print(
        f"{len(records)} evaluations -> {args.out / 'log.jsonl'}; final step {last['step']}: "
        f"sft_loss {last['sft_loss']:.3f}, reward {last['reward']:.3f}, pass_rate {last['pass_rate']:.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
