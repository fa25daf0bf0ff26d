"""Tiny real TRL runs (SFT, then GRPO from the SFT model) on CPU, writing trainer_state.json.

These are the real writer of TRL's log format: ``Trainer`` saves ``trainer_state.json`` in
every checkpoint. The task is single-digit addition, ``"3+4="`` -> ``"7"``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from simulations.qwen3.model import TinyQwen3Size, build_tiny_qwen3
from simulations.qwen3.tokenizer import build_char_tokenizer

# A one-layer Qwen3 of a few hundred parameters: enough for TRL to write real logs.
SIZE = TinyQwen3Size(hidden_size=8, num_layers=1, num_heads=2, num_kv_heads=1, head_dim=4, intermediate_size=16)

PAIRS = [(x, y) for x in range(5) for y in range(5)]


def _dataset(kind: str):
    from datasets import Dataset

    if kind == "sft":
        return Dataset.from_dict(
            {"prompt": [f"{x}+{y}=" for x, y in PAIRS], "completion": [str(x + y) for x, y in PAIRS]}
        )
    return Dataset.from_dict({"prompt": [f"{x}+{y}=" for x, y in PAIRS], "answer": [str(x + y) for x, y in PAIRS]})


def _common(out_dir: Path, max_steps: int) -> dict:
    return dict(
        output_dir=str(out_dir),
        max_steps=max_steps,
        logging_steps=2,
        eval_strategy="steps",
        eval_steps=2,
        save_strategy="steps",
        save_steps=max_steps,
        report_to="none",
        use_cpu=True,
        seed=0,
        learning_rate=1e-2,
        disable_tqdm=True,
        eval_on_start=True,
    )


def run_sft(out_dir: Path, max_steps: int = 8) -> Path:
    """Train the tiny model with SFTTrainer; return the checkpoint's trainer_state.json."""
    from trl import SFTConfig, SFTTrainer

    tokenizer = build_char_tokenizer()
    config = SFTConfig(per_device_train_batch_size=8, per_device_eval_batch_size=25, **_common(out_dir, max_steps))
    trainer = SFTTrainer(
        model=build_tiny_qwen3(tokenizer, SIZE, seed=0),
        args=config,
        train_dataset=_dataset("sft"),
        eval_dataset=_dataset("sft"),
        processing_class=tokenizer,
    )
    trainer.train()
    trainer.save_model(str(out_dir / "final"))
    return out_dir / f"checkpoint-{max_steps}" / "trainer_state.json"


def expert_token_nll(model, tokenizer) -> float:
    """Held-out expert SFT loss, per completion token (as SFTTrainer's ``eval_loss``)."""
    import torch

    total, count = 0.0, 0
    with torch.no_grad():
        for x, y in PAIRS:
            prompt = tokenizer(f"{x}+{y}=")["input_ids"]
            completion = tokenizer(str(x + y))["input_ids"] + [tokenizer.eos_token_id]
            ids = torch.tensor([prompt + completion], device=model.device)
            logits = model(ids).logits[0, len(prompt) - 1 : -1]
            total += torch.nn.functional.cross_entropy(logits, ids[0, len(prompt) :], reduction="sum").item()
            count += len(completion)
    return total / count


def run_grpo(out_dir: Path, model_dir: Path, max_steps: int = 6) -> Path:
    """Train from ``model_dir`` with GRPOTrainer (exact-answer reward, KL to the start)."""
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    class LogSFTLoss(TrainerCallback):
        """GRPO does not evaluate the SFT loss; log it next to the reward at every evaluation."""

        def on_evaluate(self, args, state, control, model=None, **kwargs):
            trainer.log({"eval_sft_loss": expert_token_nll(model, tokenizer)})

    def correct(completions, answer, **_):
        return [float(c.strip().startswith(a)) for c, a in zip(completions, answer)]

    tokenizer = build_char_tokenizer()
    config = GRPOConfig(
        per_device_train_batch_size=8,
        per_device_eval_batch_size=8,
        num_generations=4,
        max_completion_length=3,
        beta=0.04,
        **_common(out_dir, max_steps),
    )
    trainer = GRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(str(model_dir)),
        reward_funcs=correct,
        args=config,
        train_dataset=_dataset("rl"),
        eval_dataset=_dataset("rl").select(range(8)),
        processing_class=tokenizer,
        callbacks=[LogSFTLoss()],
    )
    trainer.train()
    return out_dir / f"checkpoint-{max_steps}" / "trainer_state.json"


if __name__ == "__main__":  # regenerate the committed fixtures
    import sys
    import tempfile

    fixtures = Path(__file__).parent / "fixtures"
    with tempfile.TemporaryDirectory() as tmp:
        sft_state = run_sft(Path(tmp) / "sft")
        shutil.copy(sft_state, fixtures / "trl_sft_trainer_state.json")
        grpo_state = run_grpo(Path(tmp) / "grpo", Path(tmp) / "sft" / "final")
        shutil.copy(grpo_state, fixtures / "trl_grpo_trainer_state.json")
    sys.exit(0)
