"""A real TRL SFT -> GRPO -> SFT run whose second SFT pulls the pass rate down within a few steps.

    PYTHONPATH=theory:. nice -n 10 python docs/fast_drop_example/run.py docs/fast_drop_example
    nondecoupling check docs/fast_drop_example/{0-sft,1-rl,2-sft}/trainer_state.json \\
        --phase sft rl sft --preset trl --expert-pass-rate 0.5 --expert-entropy 1.0397207708399179 \\
        --out docs/fast_drop_example/report
    nondecoupling check docs/fast_drop_example/log.jsonl --out /tmp/report-log   # the same verdicts

A tiny Qwen3 (built here, nothing downloaded) learns a one-digit reversal task from an imperfect
expert (a = 0.5, H(p*) exact) with SFTTrainer; GRPOTrainer then drives the exact pass rate to
about 0.99; SFTTrainer on the same expert's samples pulls it back to a within a few steps (issue
21's fast drop). One ``CouplingCallback`` watches the three trainers: it writes ``log.jsonl`` and
logs the same numbers through each trainer as ``coupling/*``, so each stage's
``trainer_state.json`` (as TRL writes it in the stage's last checkpoint, copied to
``OUT/<index>-<phase>/``) carries them. About 70 s of CPU on one thread (bit-for-bit the same on
a rerun on one machine); ``--scale S`` multiplies every stage's step count (S < 1: a quicker,
smaller run).
"""

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
import transformers
import trl
from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer, SFTConfig, SFTTrainer

from nondecoupling.bridge.models import CouplingCallback, CouplingConfig
from nondecoupling.bridge.models.tiny import TinyQwen3Size, build_char_tokenizer, build_tiny_qwen3
from simulations.qwen3.runner import hardware
from simulations.qwen3.task import DigitTask, expert_pairs

STAGES = (("sft", 300, 1e-2, 0), ("rl", 80, 5e-3, 5), ("sft", 80, 5e-2, 3))  # (phase, steps, learning rate, warmup steps)
TASK = DigitTask(answer_width=1, expert_pass_rate=0.5, num_wrong=2, base_radius=2)
SIZE = TinyQwen3Size(hidden_size=64, num_layers=1, num_heads=2, num_kv_heads=1, head_dim=32, intermediate_size=128)


def reward(prompts, completions, **kwargs):
    """The task's verifier with TRL's reward-function signature (GRPO and the callback share it)."""
    return [TASK.reward(p, c) for p, c in zip(prompts, completions)]


def trainer_for(stage: int, phase: str, steps: int, learning_rate: float, warmup: int, model, tokenizer, scratch: Path):
    """SFTTrainer on expert samples, or GRPOTrainer on the verifier; a checkpoint (so trainer_state.json) at the end."""
    common = dict(output_dir=str(scratch / f"{stage}-{phase}"), max_steps=steps, learning_rate=learning_rate,
                  save_strategy="steps", save_steps=steps, logging_steps=1, report_to="none", use_cpu=True,
                  disable_tqdm=True, lr_scheduler_type="constant_with_warmup", warmup_steps=warmup, seed=0)
    if phase == "sft":
        data = Dataset.from_list(TASK.sample("expert", 4096, np.random.default_rng(stage)))
        return SFTTrainer(model=model, processing_class=tokenizer, train_dataset=data,
                          args=SFTConfig(per_device_train_batch_size=256, completion_only_loss=True, **common))
    return GRPOTrainer(model=model, reward_funcs=reward, processing_class=tokenizer,
                       train_dataset=Dataset.from_list([{"prompt": p} for p in TASK.prompts]),
                       args=GRPOConfig(per_device_train_batch_size=80, num_generations=8, max_completion_length=2,
                                       beta=0.0, temperature=1.0, top_k=0, top_p=1.0, **common))


def main(out: Path, scale: float = 1.0) -> None:
    torch.set_num_threads(1)
    tokenizer = build_char_tokenizer()
    model = build_tiny_qwen3(tokenizer, SIZE, seed=0)
    # Held-out expert pairs: p*'s whole support, weighted, so sft_loss is CE(p*, pi) exactly.
    prompts, responses, weights = expert_pairs(TASK)
    callback = CouplingCallback(CouplingConfig(prompts, responses, weights=weights, reward_fn=reward, exact_pass_rate=True,
                                               expert_pass_rate=TASK.expert_pass_rate, expert_entropy=TASK.expert_entropy,
                                               output_dir=out, every_steps=1, max_overhead=None,
                                               measure={"samples_per_prompt": 4}))
    with tempfile.TemporaryDirectory() as scratch:
        for stage, (phase, steps, learning_rate, warmup) in enumerate(STAGES):
            steps = max(2, round(steps * scale))
            trainer = trainer_for(stage, phase, steps, learning_rate, warmup, model, tokenizer, Path(scratch))
            callback.attach(trainer)
            trainer.train()
            (out / f"{stage}-{phase}").mkdir(parents=True, exist_ok=True)
            shutil.copy(Path(scratch) / f"{stage}-{phase}" / f"checkpoint-{steps}" / "trainer_state.json",
                        out / f"{stage}-{phase}" / "trainer_state.json")
    # What reproduces this folder: the command, the machine and the versions of the libraries that train.
    scaled = "" if scale == 1.0 else f" --scale {scale:g}"
    callback.write_run_meta(command=f"PYTHONPATH=theory:. python docs/fast_drop_example/run.py {out}{scaled}", hardware=hardware(),
                            versions={"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?", default=Path("runs/fast_drop_example"))
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every stage's step count")
    arguments = parser.parse_args()
    main(arguments.out, arguments.scale)
