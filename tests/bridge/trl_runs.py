"""Tiny real TRL runs (SFT, then GRPO from the SFT model, then SFT again) on CPU, writing trainer_state.json.

These are the real writer of TRL's log format: ``Trainer`` saves ``trainer_state.json`` in
every checkpoint. The task is single-digit addition, ``"3+4="`` -> ``"7"``.

:class:`HeldOutMetrics` is the kind of callback people write to log extra metrics in TRL:
on every log call (the training record AND the evaluation record of a step) it adds the
held-out expert SFT loss per completion token (``sft_loss``), the policy's exact pass rate
(``pass_rate``) and a sampled estimate of it (``verifier_pass_rate``, which differs between
the two records of a step, as in the issue that asked for merge rules), plus an unused
sampled key (``sampled_answer_length``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from nondecoupling.bridge.models.tiny import TinyQwen3Size, build_char_tokenizer, build_tiny_qwen3

# A one-layer Qwen3 of a few hundred parameters: enough for TRL to write real logs. (The model
# is built inside the runs: the builders load torch when called, so this module imports without it.)
SIZE = dict(hidden_size=8, num_layers=1, num_heads=2, num_kv_heads=1, head_dim=4, intermediate_size=16)


def _tiny_model(tokenizer):
    return build_tiny_qwen3(tokenizer, TinyQwen3Size(**SIZE), seed=0)

PAIRS = [(x, y) for x in range(5) for y in range(5)]


def _dataset(kind: str):
    from datasets import Dataset

    if kind == "sft":
        return Dataset.from_dict(
            {"prompt": [f"{x}+{y}=" for x, y in PAIRS], "completion": [str(x + y) for x, y in PAIRS]}
        )
    return Dataset.from_dict({"prompt": [f"{x}+{y}=" for x, y in PAIRS], "answer": [str(x + y) for x, y in PAIRS]})


def _common(out_dir: Path, max_steps: int, every: int = 2) -> dict:
    return dict(
        output_dir=str(out_dir),
        max_steps=max_steps,
        logging_steps=every,
        eval_strategy="steps",
        eval_steps=every,
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
        model=_tiny_model(tokenizer),
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


#: The verifier of the three-stage run rewards an answer that starts with "0": the expert is
#: right only on "0+0=" (a = 1/25), so RL pulls the policy away from the expert (A1, K1).
TARGET = "0"
EXPERT_PASS_RATE = sum(str(x + y).startswith(TARGET) for x, y in PAIRS) / len(PAIRS)


def _held_out(model, tokenizer, generator):
    """(per-token expert NLL, exact pass rate, sampled pass rate, sampled answer length) on all prompts."""
    import torch

    target = tokenizer.convert_tokens_to_ids(TARGET)
    nll, tokens, exact, sampled = 0.0, 0, 0.0, 0.0
    with torch.no_grad():
        for x, y in PAIRS:
            prompt = tokenizer(f"{x}+{y}=")["input_ids"]
            completion = tokenizer(str(x + y), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
            ids = torch.tensor([prompt + completion], device=model.device)
            logits = model(ids).logits[0].float()
            nll += torch.nn.functional.cross_entropy(logits[len(prompt) - 1 : -1], ids[0, len(prompt) :], reduction="sum").item()
            tokens += len(completion)
            first = torch.softmax(logits[len(prompt) - 1], dim=-1).cpu()
            exact += first[target].item()
            sampled += (torch.multinomial(first, 4, replacement=True, generator=generator) == target).float().mean().item()
    n = len(PAIRS)
    return nll / tokens, exact / n, sampled / n, 1.0 + torch.rand((), generator=generator).item()


def held_out_metrics_callback(tokenizer):
    """A ``TrainerCallback`` adding held-out metrics to every log record (train and eval) of a step."""
    import torch
    from transformers import TrainerCallback

    class HeldOutMetrics(TrainerCallback):
        def __init__(self):
            self.generator = torch.Generator().manual_seed(0)

        def on_log(self, args, state, control, model=None, logs=None, **kwargs):
            was_training = model.training
            model.eval()
            nll, exact, sampled, length = _held_out(model, tokenizer, self.generator)
            model.train(was_training)
            state.log_history[-1].update({"sft_loss": nll, "pass_rate": exact, "verifier_pass_rate": sampled,
                                          "sampled_answer_length": length})

    return HeldOutMetrics()


def run_three_stages(out_dir: Path, steps: int = 8) -> list[Path]:
    """SFT, GRPO (reward: answer starts with :data:`TARGET`) from it, SFT again from that; evaluation every step."""
    from transformers import AutoModelForCausalLM
    from trl import GRPOConfig, GRPOTrainer, SFTConfig, SFTTrainer

    tokenizer = build_char_tokenizer()
    states, model = [], _tiny_model(tokenizer)
    for index, phase in enumerate(("sft", "rl", "sft")):
        stage_dir = out_dir / f"{index}-{phase}"
        common = dict(per_device_eval_batch_size=25, **_common(stage_dir, steps, every=1))
        if phase == "sft":
            trainer = SFTTrainer(model=model, args=SFTConfig(per_device_train_batch_size=8, **common),
                                 train_dataset=_dataset("sft"), eval_dataset=_dataset("sft"), processing_class=tokenizer,
                                 callbacks=[held_out_metrics_callback(tokenizer)])
        else:
            def starts_with_target(completions, **_):
                return [float(c.strip().startswith(TARGET)) for c in completions]

            common.update(per_device_eval_batch_size=8, learning_rate=3e-2)
            trainer = GRPOTrainer(model=model, reward_funcs=starts_with_target, processing_class=tokenizer,
                                  args=GRPOConfig(per_device_train_batch_size=8, num_generations=8, max_completion_length=2,
                                                  beta=0.0, **common),
                                  train_dataset=_dataset("rl"), eval_dataset=_dataset("rl").select(range(8)),
                                  callbacks=[held_out_metrics_callback(tokenizer)])
        trainer.train()
        trainer.save_model(str(stage_dir / "final"))
        model = AutoModelForCausalLM.from_pretrained(str(stage_dir / "final"))
        states.append(stage_dir / f"checkpoint-{steps}" / "trainer_state.json")
    return states


if __name__ == "__main__":  # regenerate the committed fixtures
    import sys
    import tempfile

    fixtures = Path(__file__).parent / "fixtures"
    with tempfile.TemporaryDirectory() as tmp:
        sft_state = run_sft(Path(tmp) / "sft")
        shutil.copy(sft_state, fixtures / "trl_sft_trainer_state.json")
        grpo_state = run_grpo(Path(tmp) / "grpo", Path(tmp) / "sft" / "final")
        shutil.copy(grpo_state, fixtures / "trl_grpo_trainer_state.json")
        for index, state in enumerate(run_three_stages(Path(tmp) / "three")):
            shutil.copy(state, fixtures / f"trl_three_stage_{index}_trainer_state.json")
    sys.exit(0)
