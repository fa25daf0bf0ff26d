"""Training stages (TRL's SFTTrainer and GRPOTrainer) and the evaluation that logs them.

The evaluation is the library's public :class:`~nondecoupling.bridge.models.callback.CouplingCallback`
(one for the whole run; :func:`task_callback` configures it for a task): before each
stage's first update, at its steps 1, 2, 3, 4, 6, ... below ``eval_every`` (the callback's
geometric start: a stage's first updates move the curves fastest), every ``eval_every`` steps and
at its last step it appends one line of the bridge's canonical JSONL:

``sft_loss``
    The held-out SFT loss, sequence level: the summed token NLL of ``answer + EOS``
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
    stage (the base model before the first one): the callback's ``reference_model="rl_start"``.
``pass_rate``
    The exact pass rate b = mean over prompts of pi(correct answer + EOS | x): with one
    correct answer per prompt in the held-out set it is one teacher-forced probability, so
    K1 can be checked without sampling error.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback
from trl import GRPOConfig, GRPOTrainer, SFTConfig, SFTTrainer

from nondecoupling.bridge.models.callback import CouplingCallback, CouplingConfig
from nondecoupling.bridge.models.sequences import at_least_float32
from nondecoupling.validation import ParameterError, check_nonnegative
from simulations.qwen3.task import VerifiableTask, expert_pairs

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
#: transformers' schedule names the SFT stages may use (``TrainingSettings.sft_lr_scheduler``).
SFT_LR_SCHEDULERS = ("constant", "cosine", "linear")


def task_reward(task: VerifiableTask):
    """The task's verifier with TRL's reward-function signature (GRPO and the callback share it)."""

    def verifier(prompts, completions, **kwargs):
        return [task.reward(p, c) for p, c in zip(prompts, completions, strict=True)]

    return verifier


def task_callback(task: VerifiableTask, tokenizer: PreTrainedTokenizerBase, *, samples_per_prompt: int, eval_every: int,
                  seed: int, output_dir, batch_size: int = 64, phase: str = "auto") -> CouplingCallback:
    """The run's :class:`CouplingCallback`: p*'s whole support as the weighted held-out set.

    Every correct answer is in the held-out set (a > 0), so the exact pass rate is logged;
    the expert's exact a and H(p*) go to ``run_meta.json``. ``phase``: the callback's (``"auto"``
    inside TRL's trainers; a loop of its own passes ``"rl"`` or ``"sft"``).
    """
    prompts, responses, weights = expert_pairs(task)
    return CouplingCallback(CouplingConfig(
        prompts, responses, weights=weights, reward_fn=task_reward(task), reference_model="rl_start",
        expert_pass_rate=task.expert_pass_rate, expert_entropy=task.expert_entropy, output_dir=output_dir,
        every_steps=eval_every, exact_pass_rate=True, seed=seed, dense_start=True, phase=phase,
        measure=dict(tokenizer=tokenizer, samples_per_prompt=samples_per_prompt, batch_size=batch_size),
    ))


def world_size() -> int:
    """Processes of a ``torchrun`` launch (1 without one)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def resolve_device(device: str) -> str:
    """``auto``: ``cuda`` where a GPU is visible, else ``cpu``.

    Raises
    ------
    ParameterError
        ``cuda`` asked for without a visible GPU.
    """
    if device not in ("auto", "cpu", "cuda"):
        raise ParameterError("device", "'auto', 'cpu' or 'cuda'", repr(device))
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ParameterError("device", "'cpu' or 'auto' where torch sees no CUDA GPU", "'cuda'")
    return device


def resolve_dtype(dtype: str, device: str) -> str:
    """``auto``: fp32 on CPU, bf16 on CUDA.

    Raises
    ------
    ParameterError
        An unknown dtype, or fp16 on CPU (its mixed precision needs CUDA's grad scaler).
    """
    if dtype == "auto":
        return "bf16" if device == "cuda" else "fp32"
    if dtype not in DTYPES:
        raise ParameterError("dtype", f"one of {sorted(DTYPES)} or 'auto'", repr(dtype))
    if dtype == "fp16" and device == "cpu":
        raise ParameterError("dtype", "bf16 or fp32 on CPU (fp16 mixed precision needs CUDA's grad scaler)", "'fp16'")
    return dtype


@dataclass(frozen=True)
class TrainingSettings:
    """Optimiser, batch, precision and device settings shared by all stages of a run.

    ``beta`` is GRPO's KL coefficient (TRL's ``GRPOConfig.beta``; 0: no KL penalty, the RL
    flow of THEORY.md). ``dtype`` (``auto``: fp32 on CPU, bf16 on CUDA) is the model's: bf16
    and fp32 weights are trained as they are; fp16 keeps fp32 master weights under fp16
    autocast (a grad scaler cannot unscale fp16 gradients). ``device``: ``auto``, ``cpu`` or
    ``cuda``. Batch sizes are global: under ``torchrun`` each process takes its share.
    ``sft_lr_scheduler`` is the SFT trainer's learning-rate schedule (pretraining included;
    one of :data:`SFT_LR_SCHEDULERS`): ``cosine`` decays to 0 at each stage's last step, so
    minibatch noise vanishes there and SFT can end at its optimum; GRPO stays constant.
    """

    seed: int = 0
    sft_batch_size: int = 128
    rl_prompts_per_step: int = 16
    num_generations: int = 8
    eval_every: int = 10
    beta: float = 0.0
    dtype: str = "auto"
    device: str = "auto"
    sft_lr_scheduler: str = "constant"

    def __post_init__(self):
        check_nonnegative(self.beta, "beta")
        if self.sft_lr_scheduler not in SFT_LR_SCHEDULERS:
            raise ParameterError("sft_lr_scheduler", f"one of {SFT_LR_SCHEDULERS}", repr(self.sft_lr_scheduler))
        resolve_dtype(self.dtype, resolve_device(self.device))


def _per_device(global_batch: int, name: str) -> int:
    """A global batch split over the ``torchrun`` processes (the run is the same at any scale)."""
    if global_batch % world_size():
        raise ParameterError(name, f"divisible by the {world_size()} torchrun processes", str(global_batch))
    return global_batch // world_size()


def _common_arguments(settings: TrainingSettings, output_dir: str, *, steps: int, lr: float,
                      lr_scheduler: str = "constant") -> dict:
    return dict(
        output_dir=output_dir,
        max_steps=steps,
        learning_rate=lr,
        lr_scheduler_type=lr_scheduler,
        warmup_steps=0,
        weight_decay=0.0,
        seed=settings.seed,
        data_seed=settings.seed,
        use_cpu=resolve_device(settings.device) == "cpu",
        bf16=resolve_dtype(settings.dtype, resolve_device(settings.device)) == "bf16",
        fp16=resolve_dtype(settings.dtype, resolve_device(settings.device)) == "fp16",
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
        trainer = sft_trainer(model, tokenizer, records, output_dir, steps=steps, lr=lr, settings=settings,
                              callbacks=callbacks)
        trainer.train()
    return trainer.state


def sft_trainer(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, records: list[dict], output_dir: str, *,
                steps: int, lr: float, settings: TrainingSettings, callbacks: list[TrainerCallback] = ()) -> SFTTrainer:
    """:func:`run_sft`'s trainer: TRL's SFTTrainer, or :class:`CountedSFTTrainer` where the records carry a ``count``."""
    config = SFTConfig(
        **_common_arguments(settings, output_dir, steps=steps, lr=lr, lr_scheduler=settings.sft_lr_scheduler),
        per_device_train_batch_size=_per_device(settings.sft_batch_size, "sft_batch_size"),
        completion_only_loss=True,
        max_length=None,
        dataset_num_proc=None,
    )
    counted = "count" in records[0]
    return (CountedSFTTrainer if counted else SFTTrainer)(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(records),
        processing_class=tokenizer,
        callbacks=list(callbacks),
        **({"data_collator": _CountCollator(tokenizer.pad_token_id)} if counted else {}),
    )


class CountedSFTTrainer(SFTTrainer):
    """TRL's SFTTrainer on distinct records, each standing for ``count`` copies: the copies' loss, computed once.

    TRL's loss of a batch is the completion tokens' summed NLL over their number. Over a
    batch holding c_i copies of record i (S_i its summed token NLL, n_i its completion
    tokens) that is sum_i c_i S_i / sum_i c_i n_i, which this trainer computes from one copy
    of each: the same loss and gradient, up to float summation order
    (tests/simulations/test_qwen3.py). p* enumerated on the CoLA-like task is 1950 records and
    234 distinct ones: full-batch SFT steps 6-9x cheaper (``--sft-data counted``).
    """

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        self._signature_columns = [*self._signature_columns, "count"]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        counts, labels = inputs["count"], inputs["labels"]
        outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], use_cache=False)
        targets = labels[:, 1:]  # the model's logits at t predict token t + 1
        nll = torch.nn.functional.cross_entropy(at_least_float32(outputs.logits[:, :-1]).transpose(1, 2), targets,
                                                ignore_index=-100, reduction="none")
        weights = counts[:, None].to(nll.dtype) * (targets != -100)
        loss = (weights * nll).sum() / weights.sum()
        return (loss, outputs) if return_outputs else loss


class _CountCollator:
    """TRL's padding collator, with each record's ``count`` carried along as a tensor."""

    def __init__(self, pad_token_id: int):
        from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

        self.pad = DataCollatorForLanguageModeling(pad_token_id=pad_token_id)

    def __call__(self, examples: list[dict]) -> dict:
        batch = self.pad([{k: v for k, v in example.items() if k != "count"} for example in examples])
        batch["count"] = torch.tensor([example["count"] for example in examples])
        return batch


def run_grpo(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    task: VerifiableTask,
    *,
    steps: int,
    lr: float,
    max_completion_length: int,
    settings: TrainingSettings,
    callbacks: list[TrainerCallback] = (),
):
    """``steps`` steps of TRL's GRPOTrainer with the task's verifier as the only reward.

    By default no KL penalty (``settings.beta = 0``, TRL's default): the stage maximises the
    reward J alone, the RL flow of THEORY.md; KL to the SFT model is measured, not penalised.
    ``beta > 0`` adds TRL's KL penalty to its own reference model. One update per generation
    batch, so the clipped ratio is 1 and the update is the group-normalised policy gradient.

    Returns
    -------
    transformers.TrainerState
    """
    with tempfile.TemporaryDirectory() as output_dir:
        config = GRPOConfig(
            **_common_arguments(settings, output_dir, steps=steps, lr=lr),
            per_device_train_batch_size=_per_device(settings.rl_prompts_per_step * settings.num_generations,
                                                    "rl_prompts_per_step * num_generations"),
            num_generations=settings.num_generations,
            max_completion_length=max_completion_length,
            temperature=1.0,
            top_k=0,
            top_p=1.0,
            beta=settings.beta,
            # beta > 0 optimizes V1's E_pi r - beta KL(pi || pi_ref): unscaled group-centred
            # advantages (scaling by the group's std would rescale r, hence beta, per group) and
            # the ratio-weighted k3 estimator, whose gradient is KL(pi || pi_ref)'s (plain k3's
            # on-policy gradient is KL(pi_ref || pi)'s). beta = 0 keeps TRL's defaults.
            **({"scale_rewards": "none", "use_bias_correction_kl": True} if settings.beta > 0 else {}),
            num_iterations=1,
        )
        if settings.beta > 0:  # TRL builds its reference model from the policy's path: give it one
            model.save_pretrained(Path(output_dir) / "reference")
            model.config._name_or_path = str(Path(output_dir) / "reference")
        trainer = GRPOTrainer(
            model=model,
            reward_funcs=task_reward(task),
            args=config,
            train_dataset=Dataset.from_list([{"prompt": p} for p in task.prompts]),
            processing_class=tokenizer,
            callbacks=list(callbacks),
        )
        trainer.train()
    return trainer.state
