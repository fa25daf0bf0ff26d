"""Run a post-training pipeline (SFT-then-RL, RL-then-SFT, alternating) and write its logs.

A run is: build (or load) the policy; pretrain it on the task's broad answer
distribution into the *base* model (so RL has a reward signal from its first step); then
the pipeline's stages, each a fresh TRL trainer on the same model, with the evaluations
of :mod:`simulations.qwen3.stages`. It writes, into ``out``:

``log.jsonl``
    The bridge's canonical log: one line per evaluation (phase, stage, global step,
    sft_loss, reward, kl, lr, plus the exact ``pass_rate`` and ``reward_samples``).
``run_meta.json``
    The exact expert quantities (``expert_pass_rate`` a, ``expert_entropy`` H(p*)), the
    command, hardware, wall time, model config, task, stages and the base model's metrics.
``trainer_state.json``
    TRL's own format (transformers' ``TrainerState``): every stage's ``log_history``, steps
    shifted to the global count and tagged with ``phase`` and ``stage``.
``model/``
    The final model and its tokenizer (``save_pretrained``), for ``nondecoupling probe``.

Under ``torchrun`` every process runs the same pipeline (TRL and accelerate shard the
batches; the callback shards and reduces the evaluation) and process 0 writes the files.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import transformers
import trl
from transformers import TrainerState, set_seed

from nondecoupling.bridge.models.callback import CouplingCallback
from nondecoupling.bridge.models.sequences import response_token_ids
from nondecoupling.validation import ParameterError, check_integer, check_positive
from simulations.qwen3.model import TinyQwen3Size, load_policy
from simulations.qwen3.reproduce import cpu_model
from simulations.qwen3.stages import (
    DTYPES,
    TrainingSettings,
    resolve_device,
    resolve_dtype,
    run_grpo,
    run_sft,
    task_callback,
)
from simulations.qwen3.task import TASKS, DigitTask, VerifiableTask
from simulations.qwen3.tokenizer import CHARACTERS

PIPELINES = ("sft-rl", "rl-sft", "alternating")
#: ``sampled``: SFT records drawn from p*; ``enumerated``: every prompt with every answer of
#: p*'s support in exact proportion (SFT's empirical distribution is p* itself, so its optimum is the expert);
#: ``counted``: the same records, each distinct one once with its count (the same full-batch loss from
#: 8x fewer sequences on the CoLA-like task: :class:`~simulations.qwen3.stages.CountedSFTTrainer`).
SFT_DATA = ("sampled", "enumerated", "counted")


@dataclass(frozen=True)
class PipelineConfig:
    """Everything a run depends on; ``run_meta.json`` records it.

    Parameters
    ----------
    model : str
        ``"tiny"`` (a Qwen3 built here) or a local checkpoint directory.
    pipeline : {"sft-rl", "rl-sft", "alternating"}
        Stage order. ``alternating`` splits the same budgets into ``cycles`` rounds of
        SFT then RL.
    sft_steps, rl_steps : int
        Optimizer steps of SFT and of RL over the whole pipeline.
    cycles : int
        Rounds of the alternating pipeline (ignored otherwise).
    pretrain_steps : int
        SFT steps on the broad distribution that make the base model (0: none).
    lr_sft, lr_rl, lr_pretrain : float
        Constant AdamW learning rates.
    sft_train_size, pretrain_size : int
        Sizes of the expert and broad training sets.
    sft_data : {"sampled", "enumerated", "counted"}
        How the expert set is made: drawn from p*, or p* enumerated exactly
        (:func:`enumerated_records`), or enumerated with each distinct record once and its
        count (``counted``: full-batch SFT only, ``sft_batch_size >= sft_train_size``).
    samples_per_prompt : int
        Fresh policy samples per prompt at each evaluation.
    task : VerifiableTask
        The task (``--task`` picks its class from :data:`~simulations.qwen3.task.TASKS`).
    """

    model: str = "tiny"
    pipeline: str = "sft-rl"
    sft_steps: int = 200
    rl_steps: int = 200
    cycles: int = 4
    pretrain_steps: int = 200
    lr_sft: float = 1e-3
    lr_rl: float = 1e-3
    lr_pretrain: float = 3e-3
    sft_train_size: int = 8192
    pretrain_size: int = 8192
    samples_per_prompt: int = 4
    sft_data: str = "sampled"
    task: VerifiableTask = field(default_factory=DigitTask)
    size: TinyQwen3Size = field(default_factory=TinyQwen3Size)
    training: TrainingSettings = field(default_factory=TrainingSettings)

    def __post_init__(self):
        if self.pipeline not in PIPELINES:
            raise ValueError(f"pipeline must be one of {PIPELINES}; got {self.pipeline!r}")
        if self.sft_data not in SFT_DATA:
            raise ValueError(f"sft_data must be one of {SFT_DATA}; got {self.sft_data!r}")
        if self.sft_data == "counted" and self.training.sft_batch_size < self.sft_train_size:
            # A minibatch of distinct records is not a minibatch of the records they stand for.
            raise ParameterError("sft_batch_size", f">= sft_train_size ({self.sft_train_size}: counted records are "
                                 "full-batch only)", str(self.training.sft_batch_size))
        for name in ("sft_steps", "rl_steps", "pretrain_steps"):
            check_integer(getattr(self, name), name, low=0)
        for name in ("cycles", "sft_train_size", "pretrain_size", "samples_per_prompt"):
            check_integer(getattr(self, name), name, low=1)
        for name in ("lr_sft", "lr_rl", "lr_pretrain"):
            check_positive(getattr(self, name), name)

    def stages(self) -> list[tuple[str, int, float]]:
        """``(phase, steps, lr)`` of each stage in run order (stages of 0 steps dropped)."""
        sft = ("sft", self.sft_steps, self.lr_sft)
        rl = ("rl", self.rl_steps, self.lr_rl)
        if self.pipeline == "sft-rl":
            plan = [sft, rl]
        elif self.pipeline == "rl-sft":
            plan = [rl, sft]
        else:
            plan = [
                (phase, _share(total, self.cycles, k), lr)
                for k in range(self.cycles)
                for phase, total, lr in (sft, rl)
            ]
        return [stage for stage in plan if stage[1] > 0]


def _share(total: int, parts: int, index: int) -> int:
    """The ``index``-th of ``parts`` near-equal integer shares of ``total``."""
    return total // parts + (index < total % parts)


def run_pipeline(config: PipelineConfig, out: Path, *, command: str) -> list[dict]:
    """Run ``config`` and write ``log.jsonl``, ``run_meta.json`` and ``trainer_state.json`` into ``out``.

    Returns
    -------
    list of dict
        The JSONL records, in order.
    """
    start = time.perf_counter()
    writer = int(os.environ.get("RANK", "0")) == 0
    if writer:
        out.mkdir(parents=True, exist_ok=True)
    settings = config.training
    set_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)

    device = resolve_device(settings.device)
    dtype = resolve_dtype(settings.dtype, device)
    # fp16 trains fp32 master weights under autocast (see TrainingSettings); bf16 and fp32 are the weights' own.
    model, tokenizer = load_policy(config.model, config.size, seed=settings.seed,
                                   characters=getattr(config.task, "characters", CHARACTERS),
                                   dtype=DTYPES["fp32" if dtype == "fp16" else dtype], device=device)
    callback = task_callback(config.task, tokenizer, samples_per_prompt=config.samples_per_prompt,
                             eval_every=settings.eval_every, seed=settings.seed, output_dir=out)
    base = _pretrain(model, tokenizer, config, callback, rng)
    expert_records = (enumerated_records(config.task, config.sft_train_size, counted=config.sft_data == "counted")
                      if config.sft_data in ("enumerated", "counted") else config.task.sample("expert", config.sft_train_size, rng))
    longest_answer = max(len(response_token_ids(tokenizer, p, y)) for p in config.task.prompts
                         for y in config.task.expert_distribution(p))

    history, offset = [], 0
    for index, (phase, steps, lr) in enumerate(config.stages()):
        if phase == "sft":
            state = run_sft(model, tokenizer, expert_records, steps=steps, lr=lr, settings=settings, callbacks=[callback])
        else:
            state = run_grpo(model, tokenizer, config.task, steps=steps, lr=lr, max_completion_length=longest_answer,
                             settings=settings, callbacks=[callback])
        history.extend(_global_history(state.log_history, offset=offset, phase=phase, stage=index))
        offset += state.global_step

    if writer:
        TrainerState(global_step=offset, max_steps=offset, log_history=history).save_to_json(str(out / "trainer_state.json"))
        model.save_pretrained(out / "model")
        tokenizer.save_pretrained(out / "model")
        callback.write_run_meta(**_run_meta(config, model, command=command, base=base, dtype=dtype, device=device,
                                            wall_time_s=time.perf_counter() - start))
    return callback.records


def enumerated_records(task: VerifiableTask, size: int, *, counted: bool = False) -> list[dict]:
    """p* enumerated: each prompt ``size / prompts`` times, each answer in exact proportion to p*.

    The records' empirical distribution is p* itself (uniform prompts), so the SFT loss they
    define is CE(p*, pi) and its minimiser is the expert; no sampling noise per prompt. With
    ``counted``, each distinct record once with its ``count`` (the copies it stands for).

    Raises
    ------
    ParameterError
        If ``size`` is not a multiple of the number of prompts, or a count
        ``size / prompts * p*(y|x)`` is not an integer (p* cannot be written exactly).

    Examples
    --------
    >>> records = enumerated_records(DigitTask(expert_pass_rate=0.6, num_wrong=4), 1000)
    >>> sum(r["prompt"] == "37=" and r["completion"] == "73" for r in records)
    6
    >>> [r["count"] for r in enumerated_records(DigitTask(expert_pass_rate=0.6, num_wrong=4), 1000, counted=True)[:2]]
    [6, 1]
    """
    prompts = task.prompts
    if size % len(prompts):
        raise ParameterError("sft_train_size", f"a multiple of the task's {len(prompts)} prompts (sft_data='enumerated')", str(size))
    repeats = size // len(prompts)
    records = []
    for prompt in prompts:
        for answer, probability in task.expert_distribution(prompt).items():
            count = repeats * probability
            if abs(count - round(count)) > 1e-9:
                raise ParameterError("sft_train_size", f"such that every answer's count (sft_train_size / prompts) * p*(y|x) "
                                     f"is an integer (sft_data='enumerated'); {repeats} * {probability:g} is not", str(size))
            record = {"prompt": prompt, "completion": answer}
            records += [{**record, "count": round(count)}] if counted else [record] * round(count)
    return records


def _global_history(log_history: list[dict], *, offset: int, phase: str, stage: int) -> list[dict]:
    """A stage's ``log_history`` on the global step count, tagged with its phase and stage.

    TRL's format keys records by step, and a later stage's opening evaluation shares its
    step with the previous stage's closing one (the same model), so it is left out here;
    ``log.jsonl`` keeps both.
    """
    return [
        {**entry, "step": entry["step"] + offset, "phase": phase, "stage": stage}
        for entry in log_history
        if not (stage > 0 and entry["step"] == 0)
    ]


def _pretrain(model, tokenizer, config: PipelineConfig, callback: CouplingCallback, rng) -> dict:
    """Make the base model: SFT on the broad distribution; return its metrics."""
    if config.pretrain_steps:
        broad = config.task.sample("base", config.pretrain_size, rng)
        run_sft(model, tokenizer, broad, steps=config.pretrain_steps, lr=config.lr_pretrain, settings=config.training)
    return callback.evaluate(model, step=-1)


def _run_meta(config: PipelineConfig, model, *, command: str, base: dict, dtype: str, device: str, wall_time_s: float) -> dict:
    task = config.task
    return {
        "expert_pass_rate": task.expert_pass_rate,
        "expert_entropy": task.expert_entropy,
        "seed": config.training.seed,
        "command": command,
        "hardware": hardware(),
        "wall_time_s": round(wall_time_s, 2),
        "pipeline": config.pipeline,
        "stages": [
            {"stage": k, "phase": phase, "steps": steps, "lr": lr} for k, (phase, steps, lr) in enumerate(config.stages())
        ],
        "model": config.model,
        "model_note": (
            "transformers' Qwen3ForCausalLM architecture, randomly initialised and trained here; "
            "not the released Qwen3-0.6B checkpoint"
            if config.model == "tiny"
            else f"local checkpoint {config.model}"
        ),
        "model_config": model.config.to_dict(),
        "dtype": dtype,
        "device": device,
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
        "task_name": next((name for name, cls in TASKS.items() if isinstance(task, cls)), type(task).__name__),
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "task": task.to_dict(),
        "config": {**asdict(config), "task": task.to_dict()},
        "base_model": base,
        "metrics": {
            "sft_loss": "CE(p*, pi) exactly: sequence NLL of answer+[EOS], weighted by p* over its support, mean over prompts",
            "reward": "mean verifier reward over samples_per_prompt fresh samples per prompt (temperature 1)",
            "kl": "KL(pi || pi_ref) on those samples; pi_ref = model after the latest SFT stage (base before the first)",
            "pass_rate": "exact mean over prompts of pi(correct answer + [EOS] | prompt)",
        },
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__},
    }


def hardware() -> str:
    """The CPU (:func:`cpu_identity`), cores and torch threads, and the GPU if there is one."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu_identity()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, {gpu}"


def cpu_identity() -> str:
    """The CPU as the kernels see it: model name, family and model numbers, and the vector ISA torch dispatches to.

    The name alone does not tell generations apart: "AMD EPYC" covers some with AVX2 only and some
    with AVX-512, whose kernels round differently, so that a run re-made on another one trains
    another model (2e-3 nats off in the SFT loss during RL, cola/size/h32-l2-seed2). No comma: it is
    the first field of :func:`hardware`.
    """
    name, family, model = cpu_model()
    return f"{name} (family {family} model {model}; {torch.backends.cpu.get_cpu_capability()})"
