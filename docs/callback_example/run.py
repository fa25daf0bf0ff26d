"""Monitor a TRL SFT -> GRPO run with the public callback, then check its log (about 2 minutes on one CPU thread).

    PYTHONPATH=theory:. python docs/callback_example/run.py docs/callback_example
    python -m nondecoupling.bridge check docs/callback_example/log.jsonl --out docs/callback_example/report

A tiny Qwen3 (built here) learns a one-digit reversal task from an imperfect expert
(a = 0.5, H(p*) exact), then GRPO maximises the verifier's reward. The two lines that matter
(three with attach) are marked; everything else is an ordinary TRL script. ``stop_at="optimal"`` ends GRPO at
online P3's estimate of the optimal RL step.
"""

import sys

import numpy as np
import torch
import transformers
import trl
from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer, SFTConfig, SFTTrainer

from nondecoupling.bridge.models import CouplingCallback, CouplingConfig  # (1)
from nondecoupling.bridge.models.tiny import TinyQwen3Size, build_char_tokenizer, build_tiny_qwen3
from simulations.qwen3.runner import hardware
from simulations.qwen3.task import DigitTask

torch.set_num_threads(1)
out = sys.argv[1] if len(sys.argv) > 1 else "runs/callback_example"
task = DigitTask(answer_width=1, expert_pass_rate=0.5, num_wrong=2, base_radius=2)
tokenizer = build_char_tokenizer()
model = build_tiny_qwen3(tokenizer, TinyQwen3Size(hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1, head_dim=16,
                                                  intermediate_size=64), seed=0)


def reward(prompts, completions, **kwargs):
    return [task.reward(p, c) for p, c in zip(prompts, completions)]


# Held-out expert pairs: here p*'s whole support, weighted, so sft_loss is CE(p*, pi) exactly.
prompts, responses, weights = zip(*[(p, y, w) for p in task.prompts for y, w in task.expert_distribution(p).items()])
common = dict(output_dir=f"{out}/trainer", report_to="none", use_cpu=True, save_strategy="no", disable_tqdm=True,
              lr_scheduler_type="constant", seed=0)
callback = CouplingCallback(CouplingConfig(prompts, responses, weights=weights, reward_fn=reward,  # (2)
                                           reference_model="rl_start", expert_pass_rate=task.expert_pass_rate,
                                           expert_entropy=task.expert_entropy, output_dir=out, every_steps=2,
                                           exact_pass_rate=True, stop_at="optimal", measure={"samples_per_prompt": 16},
                                           max_overhead=None))  # every scheduled look: the log does not hang on the CPU's speed
sft = SFTTrainer(model=model, processing_class=tokenizer,
                 args=SFTConfig(max_steps=100, learning_rate=1e-2, per_device_train_batch_size=64, completion_only_loss=True,
                                **common),
                 train_dataset=Dataset.from_list(task.sample("expert", 2048, np.random.default_rng(0))))
callback.attach(sft)  # (3) also logs through the trainer: report_to shows coupling/*
sft.train()
grpo = GRPOTrainer(model=model, reward_funcs=reward, processing_class=tokenizer,
                   args=GRPOConfig(max_steps=100, learning_rate=2e-3, per_device_train_batch_size=40, num_generations=8,
                                   max_completion_length=2, beta=0.0, top_k=0, **common),
                   train_dataset=Dataset.from_list([{"prompt": p} for p in task.prompts]))
callback.attach(grpo)
grpo.train()
stop = next((r for r in callback.records if r.get("stop")), None)
print(f"GRPO ran {grpo.state.global_step} steps; " + (f"stopped: {stop['stop_reason']}" if stop else "no early stop"))
# What reproduces this folder: the command, the machine and the versions of the libraries that train.
callback.write_run_meta(command=f"PYTHONPATH=theory:. python docs/callback_example/run.py {out}", hardware=hardware(),
                        versions={"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__})
