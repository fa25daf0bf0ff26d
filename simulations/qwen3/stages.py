"""Training stages (TRL's SFTTrainer and GRPOTrainer) and the evaluation that logs them.

Before each stage's first update, after its steps 1, 2 and 5, every ``eval_every``
optimizer steps and at its last step, an :class:`EvaluationCallback` measures the policy
pi and appends one line of the bridge's canonical JSONL (``nondecoupling.bridge`` reads it):

``sft_loss``
    The held-out SFT loss, sequence level: the summed token NLL of ``answer + [EOS]``
    given the prompt, averaged over the held-out expert set. That set is every answer in
    p*'s support, weighted by its p*-probability, for every prompt, so its empirical
    distribution *is* p* and the logged number is CE(p*, pi) exactly, not a Monte Carlo
    estimate of it.
``reward``
    The mean verifier reward over ``samples_per_prompt`` fresh samples per prompt from pi
    (temperature 1, no truncation: the distribution RL optimises).
``kl``
    KL(pi || pi_ref), sequence level, estimated on those samples as the mean of
    ``log pi(y|x) - log pi_ref(y|x)``; pi_ref is the model at the end of the latest SFT
    stage (the base model before the first one).
``pass_rate``
    The exact pass rate b = mean over prompts of pi(correct answer + [EOS] | x): with one
    correct answer per prompt it is one teacher-forced probability, so K1 can be checked
    without sampling error.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback
from trl import GRPOConfig, GRPOTrainer, SFTConfig, SFTTrainer

from nondecoupling.bridge.sequences import pad_pairs, sequence_logprobs
from simulations.qwen3.task import DigitTask


def completion_ids(tokenizer: PreTrainedTokenizerBase, prompt: str, completion: str) -> list[int]:
    """Token ids of ``completion + eos`` after ``prompt``, split as TRL's SFTTrainer splits them."""
    prompt_ids = tokenizer(prompt)["input_ids"]
    full_ids = tokenizer(prompt + completion + tokenizer.eos_token)["input_ids"]
    if full_ids[: len(prompt_ids)] != prompt_ids:
        raise ValueError(f"tokenizer: prompt {prompt!r} is not a token prefix of {prompt + completion!r}")
    return full_ids[len(prompt_ids) :]


@torch.no_grad()
def _logprobs(model: PreTrainedModel, prompts: list[list[int]], completions: list[list[int]], *, pad_id: int) -> torch.Tensor:
    """log pi(completion | prompt) per pair, without gradients (see :func:`sequence_logprobs`)."""
    return sequence_logprobs(model, pad_pairs(prompts, completions, pad_id=pad_id, device=model.device))


class Evaluator:
    """The evaluations of one run: held-out SFT loss, sampled reward, KL, exact pass rate.

    Parameters
    ----------
    task : DigitTask
        Prompts, expert distribution and verifier.
    tokenizer : PreTrainedTokenizerBase
        The policy's tokenizer.
    samples_per_prompt : int
        Fresh policy samples per prompt for ``reward`` and ``kl``.
    seed : int
        Seeds the evaluation samples (the training random stream is left untouched).
    """

    def __init__(self, task: DigitTask, tokenizer: PreTrainedTokenizerBase, *, samples_per_prompt: int, seed: int):
        self.task = task
        self.tokenizer = tokenizer
        self.samples_per_prompt = samples_per_prompt
        self.seed = seed
        self.reference: PreTrainedModel | None = None
        self._prompt_ids = {p: tokenizer(p)["input_ids"] for p in task.prompts}
        self._heldout = [
            (prompt, completion_ids(tokenizer, prompt, answer), weight, answer == task.correct_answer(prompt))
            for prompt in task.prompts
            for answer, weight in task.expert_distribution(prompt).items()
        ]
        self.max_completion_length = max(len(ids) for _, ids, _, _ in self._heldout)

    def set_reference(self, model: PreTrainedModel) -> None:
        """Freeze a copy of ``model`` as pi_ref for ``kl``."""
        self.reference = _frozen_copy(model)

    def evaluate(self, model: PreTrainedModel, *, step: int) -> dict[str, float]:
        """The metrics of ``model`` now; ``step`` varies the sampling seed between evaluations."""
        was_training = model.training
        model.eval()
        try:
            metrics = self._heldout_metrics(model)
            metrics.update(self._sampled_metrics(model, step=step))
        finally:
            model.train(was_training)
        return metrics

    def _heldout_metrics(self, model: PreTrainedModel) -> dict[str, float]:
        prompts, completions, weights, correct = zip(*self._heldout)
        logprobs = _logprobs(
            model, [self._prompt_ids[p] for p in prompts], list(completions), pad_id=self.tokenizer.pad_token_id
        ).double()
        weights = torch.tensor(weights, dtype=torch.float64)
        correct = torch.tensor(correct)
        num_prompts = len(self.task.prompts)
        return {
            "sft_loss": float(-(weights * logprobs).sum() / num_prompts),
            "pass_rate": float(logprobs[correct].exp().sum() / num_prompts),
        }

    @torch.no_grad()
    def _sampled_metrics(self, model: PreTrainedModel, *, step: int) -> dict[str, float]:
        prompts = [p for p in self.task.prompts for _ in range(self.samples_per_prompt)]
        batch = self.tokenizer(prompts, return_tensors="pt", padding=True)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed * 1_000_003 + step)
            generated = model.generate(**batch, max_new_tokens=self.max_completion_length)
        new_tokens = generated[:, batch["input_ids"].shape[1] :].tolist()
        samples = [_until_eos(ids, self.tokenizer.eos_token_id) for ids in new_tokens]
        texts = self.tokenizer.batch_decode(samples, skip_special_tokens=True)
        rewards = [self.task.reward(p, t) for p, t in zip(prompts, texts, strict=True)]
        metrics = {"reward": sum(rewards) / len(rewards), "reward_samples": len(rewards)}
        if self.reference is not None:
            prompt_ids = [self._prompt_ids[p] for p in prompts]
            pad = self.tokenizer.pad_token_id
            log_ratio = _logprobs(model, prompt_ids, samples, pad_id=pad) - _logprobs(
                self.reference, prompt_ids, samples, pad_id=pad
            )
            metrics["kl"] = float(log_ratio.double().mean())
        return metrics


def _until_eos(ids: list[int], eos_id: int) -> list[int]:
    """A generated completion up to and including its first EOS (generate pads after it)."""
    return ids[: ids.index(eos_id) + 1] if eos_id in ids else ids


def _frozen_copy(model: PreTrainedModel) -> PreTrainedModel:
    copy = type(model)(model.config)
    copy.load_state_dict(model.state_dict())
    copy.eval()
    return copy.requires_grad_(False)


@dataclass
class Segment:
    """One contiguous stage of the pipeline, as the JSONL numbers it."""

    phase: str  # "sft" | "rl"
    stage: int
    step_offset: int
    lr: float


#: Steps into a stage evaluated besides every ``eval_every``-th: a stage's first updates
#: move the metrics fastest (SFT after RL drops the reward within a few steps).
EARLY_STEPS = (1, 2, 5)


class EvaluationCallback(TrainerCallback):
    """Evaluate before the stage's first update, at its steps 1, 2, 5, every ``eval_every``
    steps and at its last step.

    Each evaluation is one JSONL line (global step = the stage's offset + the trainer's
    step) and is also appended to the trainer's ``log_history``, so TRL's
    ``trainer_state.json`` carries the same numbers.
    """

    def __init__(self, evaluator: Evaluator, segment: Segment, *, eval_every: int, log_path: Path | None):
        self.evaluator = evaluator
        self.segment = segment
        self.eval_every = eval_every
        self.log_path = log_path
        self.records: list[dict] = []
        self._last_logged = None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._record(model, state)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.eval_every == 0 or state.global_step in EARLY_STEPS:
            self._record(model, state)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        if self._last_logged != state.global_step:
            self._record(model, state)

    def _record(self, model, state) -> None:
        step = self.segment.step_offset + state.global_step
        record = {
            "phase": self.segment.phase,
            "stage": self.segment.stage,
            "step": step,
            **self.evaluator.evaluate(model, step=step),
            "lr": self.segment.lr,
        }
        self.records.append(record)
        self._last_logged = state.global_step
        trainer_record = {f"eval_{key}": value for key, value in record.items() if key != "step"}
        state.log_history.append({**trainer_record, "step": state.global_step})
        if self.log_path is not None:
            with self.log_path.open("a") as handle:
                handle.write(json.dumps(record) + "\n")


@dataclass(frozen=True)
class TrainingSettings:
    """Optimiser and batch settings shared by all stages of a run."""

    seed: int = 0
    sft_batch_size: int = 128
    rl_prompts_per_step: int = 16
    num_generations: int = 8
    eval_every: int = 10


def _common_arguments(settings: TrainingSettings, output_dir: str, *, steps: int, lr: float) -> dict:
    return dict(
        output_dir=output_dir,
        max_steps=steps,
        learning_rate=lr,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        seed=settings.seed,
        data_seed=settings.seed,
        use_cpu=not torch.cuda.is_available(),
        bf16=False,
        fp16=False,
        logging_steps=settings.eval_every,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


def run_sft(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    records: list[dict[str, str]],
    *,
    steps: int,
    lr: float,
    settings: TrainingSettings,
    callbacks: list[TrainerCallback] = (),
):
    """``steps`` steps of TRL's SFTTrainer on prompt-completion ``records`` (loss on completions only).

    Returns
    -------
    transformers.TrainerState
        The stage's state (its ``log_history`` holds the trainer's own logs).
    """
    with tempfile.TemporaryDirectory() as output_dir:
        config = SFTConfig(
            **_common_arguments(settings, output_dir, steps=steps, lr=lr),
            per_device_train_batch_size=settings.sft_batch_size,
            completion_only_loss=True,
            max_length=None,
            dataset_num_proc=None,
        )
        trainer = SFTTrainer(
            model=model,
            args=config,
            train_dataset=Dataset.from_list(records),
            processing_class=tokenizer,
            callbacks=list(callbacks),
        )
        trainer.train()
    return trainer.state


def run_grpo(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    task: DigitTask,
    *,
    steps: int,
    lr: float,
    max_completion_length: int,
    settings: TrainingSettings,
    callbacks: list[TrainerCallback] = (),
):
    """``steps`` steps of TRL's GRPOTrainer with the task's verifier as the only reward.

    No KL penalty (``beta = 0``, TRL's default): the stage maximises the reward J alone,
    the RL flow of THEORY.md; KL to the SFT model is measured, not penalised. One update per
    generation batch, so the clipped ratio is 1 and the update is the group-normalised
    policy gradient.

    Returns
    -------
    transformers.TrainerState
    """

    def verifier(prompts, completions, **kwargs):
        return [task.reward(p, c) for p, c in zip(prompts, completions, strict=True)]

    with tempfile.TemporaryDirectory() as output_dir:
        config = GRPOConfig(
            **_common_arguments(settings, output_dir, steps=steps, lr=lr),
            per_device_train_batch_size=settings.rl_prompts_per_step * settings.num_generations,
            num_generations=settings.num_generations,
            max_completion_length=max_completion_length,
            temperature=1.0,
            top_k=0,
            top_p=1.0,
            beta=0.0,
            num_iterations=1,
        )
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=verifier,
            args=config,
            train_dataset=Dataset.from_list([{"prompt": p} for p in task.prompts]),
            processing_class=tokenizer,
            callbacks=list(callbacks),
        )
        trainer.train()
    return trainer.state
