"""A live ``transformers.TrainerCallback`` around :class:`~nondecoupling.bridge.models.measure.CouplingMeasurer`.

Two lines add it to any ``transformers.Trainer`` (TRL's ``SFTTrainer`` and ``GRPOTrainer`` included)::

    callback = CouplingCallback(CouplingConfig(prompts, responses, reward_fn=reward, expert_pass_rate=0.6,
                                               output_dir="runs/grpo", stop_at="optimal"))
    callback.attach(trainer)  # trainer.add_callback(callback), and its numbers go through trainer.log

At each evaluation it measures the policy (the measurer's ``sft_loss``, ``pass_rate``, ``reward``,
``kl``, ``forward_kl``), adds K1's floor and slack and, in RL, online P3
(:class:`~nondecoupling.bridge.logs.stopping.LiveStop`: t*'s posterior, its interval and the stop), and
writes one line of the bridge's canonical JSONL to ``OUTPUT_DIR/log.jsonl`` (``run_meta.json``
beside it). With an attached trainer the numbers also go through the trainer's own ``log``
(``coupling/*``), so ``report_to`` (TensorBoard, W&B, MLflow) shows them; GRPO's
``frac_reward_zero_std`` (groups with no reward variance: no gradient) is copied into the line.

Evaluations: the start and end of each training, ``on_evaluate``, and every ``every_steps`` steps
while they fit the time budget ``max_overhead``
(:class:`~nondecoupling.bridge.models.budget.TimeBudget`); in an RL stage with ``stop_at="optimal"``
also the live stop's geometric start and added looks
(:func:`~nondecoupling.bridge.logs.stopping.evaluation_steps`), which are not budgeted (a late
evaluation is a late stop). The RL stage's stop, its units (global and stage steps) and
``restore_best``'s kept weights: :class:`~nondecoupling.bridge.models.stage_stop.StageStop`.

The start's evaluation is made in the first step's ``on_pre_optimizer_step``, not in
``on_train_begin``: the weights are still the stage's start (logged at its start step), and the
step's forward and backward have already paid the process's first torch calls, which made a fresh
process's first evaluation 1.5-2.5x a warm one. A training loop that calls the hooks itself calls
``on_pre_optimizer_step`` before its first ``optimizer.step()``; a step that ends without it is an error.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer, TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from nondecoupling.bridge.jsonable import jsonable
from nondecoupling.bridge.logs.stats import k1_record  # the bridge's one K1 rule
from nondecoupling.bridge.logs.stopping import evaluation_steps
from nondecoupling.bridge.models.budget import TimeBudget
from nondecoupling.bridge.models.callback_config import CouplingConfig
from nondecoupling.bridge.models.measure import CouplingMeasurer, rank_and_world
from nondecoupling.bridge.models.stage_stop import StageStop, prior_from_records

#: TRL's configuration classes whose trainers run RL (phase ``"rl"`` when ``phase="auto"``).
RL_CONFIGS = ("GRPOConfig", "PPOConfig", "RLOOConfig", "OnlineDPOConfig")


class CouplingCallback(TrainerCallback):
    """Log the coupling's numbers at each evaluation and, with ``stop_at="optimal"``, stop RL at P3's optimum."""

    reference: torch.nn.Module | None
    phase: str | None
    trainer: Trainer | None
    stop: StageStop | None  # the RL stage's online P3 (from its first evaluation)
    _last_step: int | None
    _autocast: torch.dtype | None
    _stage_start: dict | None
    _train_logs: dict[str, float]
    _reference_is_policy: bool  # pi_ref was just copied from the policy: the next evaluation's KLs are 0 exactly

    def __init__(self, config: CouplingConfig) -> None:
        self.config = config
        self.measurer = CouplingMeasurer(config.prompts, config.responses, weights=config.weights, reward_fn=config.reward_fn,
                                         exact_pass_rate=config.exact_pass_rate, seed=config.seed, **config.measure)
        self.output_dir = None if config.output_dir is None else Path(config.output_dir)
        self.reference = None if isinstance(config.reference_model, str) else config.reference_model
        self.records: list[dict] = []
        self.stage, self.phase, self.step_offset, self._last_step = -1, None, 0, None
        self.trainer, self.stop, self._autocast, self._stage_start, self._train_logs = None, None, None, None, {}
        self._reference_is_policy, self._line_start, self._start_pending = False, 0, False
        self.schedule: set[int] = set()
        self.budget = TimeBudget(config.max_overhead)
        self._extra_meta: dict = {}

    def attach(self, trainer: Trainer) -> CouplingCallback:
        """Add to ``trainer`` and log through it (``report_to``); call once per trainer, before ``train``."""
        trainer.add_callback(self)
        self.trainer = trainer
        self._prepare(trainer.model, trainer.processing_class)
        return self

    def _prepare(self, model: PreTrainedModel | None, tokenizer: PreTrainedTokenizerBase | None) -> None:
        """Set-up, once, while the trainer is built: the held-out pairs' token ids, the forward keywords, ``"rl_start"``'s module and imports.

        Both would otherwise be made in the first stage's first evaluation; pi_ref's weights are
        still copied as each stage begins (:meth:`_place_reference`).
        """
        self.measurer.tokenizer = self.measurer.tokenizer or tokenizer
        if self.measurer.tokenizer is not None:
            self.measurer.prepare(model)
        # K1's kl(a || b), which nondecoupling loads on first use, and scipy.stats (the restore step's chi-square
        # quantile, LiveStop.restore_step): imported in the first RL evaluation, it cost that stage ~0.8 s.
        for module in ("nondecoupling.kl", "scipy.stats"):
            importlib.import_module(module)
        if self.config.reference_model == "rl_start" and self.reference is None and model is not None:
            with torch.device(model.device):
                self.reference = type(model)._from_config(model.config, dtype=model.dtype)

    # -------------------------------------------------------- trainer events

    def on_init_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model: PreTrainedModel | None = None,
                    processing_class: PreTrainedTokenizerBase | None = None, **kwargs: Any) -> None:
        self._prepare(model, processing_class)  # given to the trainer's constructor: its set-up, as attach's

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model: PreTrainedModel | None = None,
                       processing_class: PreTrainedTokenizerBase | None = None, **kwargs: Any) -> None:
        if self.stage >= 0:
            self.step_offset += self._last_step or 0
        self.stage, self._last_step, self.stop, self._train_logs = self.stage + 1, None, None, {}
        setting = self.config.phase
        self.phase = setting if setting != "auto" else ("rl" if type(args).__name__ in RL_CONFIGS else "sft")
        self.measurer.tokenizer = self.measurer.tokenizer or processing_class
        # The geometric start serves the live stop (a t* shorter than every_steps): only RL stages with stop_at pay for it.
        dense = self.config.dense_start if self.config.dense_start is not None else self.phase == "rl" and self.config.stop_at
        every = self.config.every_steps
        self.schedule = set(evaluation_steps(every, state.max_steps, growth=self.config.growth) if dense
                            else range(0, state.max_steps + 1, every))
        self.budget.reset(enforced=not dense, max_steps=state.max_steps)
        # accelerate wraps the policy's forward in the trainer's autocast: the reference runs under the same one.
        self._autocast = torch.bfloat16 if args.bf16 else (torch.float16 if args.fp16 else None)
        self._place_reference(model)
        self._start_pending = True  # measured in on_pre_optimizer_step (the module's docstring says why)

    def on_pre_optimizer_step(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                              model: PreTrainedModel | None = None, optimizer: torch.optim.Optimizer | None = None,
                              **kwargs: Any) -> None:
        self._measure_start(args, state, control, model, optimizer)

    def on_step_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        self.budget.step_begins()

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model: PreTrainedModel | None = None,
                    optimizer: torch.optim.Optimizer | None = None, **kwargs: Any) -> None:
        if self._start_pending:
            raise RuntimeError("CouplingCallback: a step ended before on_pre_optimizer_step, where the stage's start is "
                               "measured on its start weights; a training loop that calls the hooks itself calls "
                               "on_pre_optimizer_step before its first optimizer.step()")
        step = state.global_step
        refined = self.stop is not None and self.stop.wants_evaluation(step)  # the stop's added look
        self.budget.step_ends(due=step in self.schedule or refined)
        if self.budget.allows_evaluation():
            self._evaluate_and_log(args, state, control, model, optimizer)
        if self.stop is not None and self.stop.should_stop(step):
            control.should_training_stop = True
        if control.should_training_stop and self.stop is not None and self.stop.keeping:  # the stage's last step (the stop, max_steps, ...)
            self._end_stage(args, state, control, model, optimizer)

    def on_evaluate(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model: PreTrainedModel | None = None, **kwargs: Any) -> None:
        self._measure_start(args, state, control, model)  # an evaluation before the first step: the start's weights
        self._evaluate_and_log(args, state, control, model)

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, model: PreTrainedModel | None = None, **kwargs: Any) -> None:
        self._measure_start(args, state, control, model, kwargs.get("optimizer"))  # a stage of no step
        if self.stop is not None and self.stop.keeping:  # a stop that on_step_end did not see (set by a callback after this one)
            self._end_stage(args, state, control, model, kwargs.get("optimizer"))
        self._evaluate_and_log(args, state, control, model, kwargs.get("optimizer"))

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, logs: dict[str, float] | None = None, **kwargs: Any) -> None:
        if logs and "frac_reward_zero_std" in logs:
            self._train_logs["zero_std_groups"] = float(logs["frac_reward_zero_std"])

    # -------------------------------------------------------- measurement

    def _place_reference(self, model) -> None:
        """With ``"rl_start"``: pi_ref := a copy of the policy now (each RL stage, and the first stage)."""
        if self.config.reference_model == "rl_start" and (self.phase == "rl" or self.stage == 0):
            self._prepare(model, None)  # a callback added by neither attach nor the constructor
            assert self.reference is not None, "_prepare allocates pi_ref for 'rl_start'"
            self.reference.load_state_dict(model.state_dict())
            self.measurer.forget_reference()
            self._reference_is_policy = True

    def evaluate(self, model: PreTrainedModel, *, step: int = 0) -> dict:
        """The measurer's metrics of ``model`` (with the reference on its device and dtype, under the trainer's autocast).

        Right after ``"rl_start"`` copied the policy, the model is the reference: the measurer skips
        pi_ref's pass and gives both KLs as 0 exactly (``model_is_reference``).
        """
        if self.reference is not None:
            self._ready_reference(model)
        same, self._reference_is_policy = self._model_is_reference(), False
        return self.measurer.evaluate(model, step=step, reference=self.reference, autocast_dtype=self._autocast,
                                      model_is_reference=same)

    def _ready_reference(self, model: PreTrainedModel) -> None:
        """pi_ref on the policy's device and dtype, in eval mode, frozen.

        Moved only where its first parameter is elsewhere or in another dtype (``.to`` casts them all
        alike) or it is in training mode, not at every evaluation (``.to``, ``.eval`` and
        ``requires_grad_`` walk every module: a third of a millisecond each time for the tiny model).
        A move drops the measurer's cache of pi_ref (its prompt pass, and its samples' log-probabilities,
        made on the old device or in the old dtype): kept, a policy moved to float64 after an evaluation
        in float32 had KL(pi || pi_ref) = 2e-7 against itself, and one moved to another device would meet a cache
        left on the old one.
        """
        assert self.reference is not None, "called with a reference"
        first = next(self.reference.parameters(), None)
        if self.reference.training or first is None or first.device != model.device or first.dtype != model.dtype:
            self.reference.to(device=model.device, dtype=model.dtype).eval().requires_grad_(False)
            self.measurer.forget_reference()

    def _model_is_reference(self) -> bool:
        """pi_ref was just copied from the policy: the next evaluation skips pi_ref's pass (a reduced one, for the budget)."""
        return self._reference_is_policy and self.reference is not None

    def _measure_start(self, args, state, control, model, optimizer=None) -> None:
        """The stage's start evaluation, if not made yet (the weights are still the start's)."""
        if self._start_pending:
            self._start_pending = False
            self._evaluate_and_log(args, state, control, model, optimizer)

    def _evaluate_and_log(self, args, state, control, model, optimizer=None) -> None:
        if self._last_step == state.global_step:  # on_step_end and on_evaluate at the same step
            return
        self._last_step = state.global_step
        with self.budget.spending(reduced=self._model_is_reference()):
            self._measure_and_log(state, model, optimizer)

    def _measure_and_log(self, state, model, optimizer) -> None:
        step = self.step_offset + state.global_step
        record = {"phase": self.phase, "stage": self.stage, "step": step, **self.evaluate(model, step=step),
                  **self._train_logs}
        if optimizer is not None:
            record["lr"] = float(optimizer.param_groups[0]["lr"])
        if state.global_step == 0:
            self._stage_start = record
        start_loss = self._stage_start["sft_loss"] if self.phase == "rl" and self._stage_start else None
        if self.config.expert_pass_rate is not None:
            record.update(k1_record(record, expert_pass_rate=self.config.expert_pass_rate,
                                    expert_entropy=self.config.expert_entropy, start_loss=start_loss))
        if self.phase == "rl" and ("reward" in record or "pass_rate" in record):
            if self.stop is None:
                c = self.config
                self.stop = StageStop(prior_from_records(record, [r for r in self.records if r["stage"] == self.stage - 1]),
                                      every_steps=c.every_steps, horizon=state.max_steps, offset=self.step_offset,
                                      stop_at=c.stop_at, keep=bool(c.restore_best), lam=c.lam, growth=c.growth, seed=c.seed)
            if self.stop.is_new(state.global_step):
                record.update(self.stop.observe(record, state.global_step, model))
        self.records.append(record)
        line = jsonable(record, infinity=None)  # the readers take null as "not logged"
        if self.trainer is None:  # else trainer.log puts coupling/* there
            state.log_history.append({**{f"eval_{k}": v for k, v in line.items() if k != "step"}, "step": state.global_step})
        self._write(line)

    def _end_stage(self, args, state, control, model, optimizer) -> None:
        """The RL stage's last step: its evaluation, then :meth:`StageStop.finish` (``restore_best``'s weights put back).

        Here, in ``on_step_end``, rather than in ``on_train_end``: the numbers then reach ``report_to``'s
        loggers before they close, and the trainer saves the restored weights where it saves at the end.
        """
        self._evaluate_and_log(args, state, control, model, optimizer)
        amendment = None if self.stop is None else self.stop.finish(self.records[-1], state.global_step, model)
        if amendment is not None:
            self.records[-1].update(amendment)
            self._write(jsonable(self.records[-1], infinity=None), amend=True)

    # -------------------------------------------------------- output

    @property
    def meta(self) -> dict:
        """``run_meta.json``: the expert's a and H(p*) (read by ``nondecoupling check``) and the settings."""
        c = self.config
        return {"expert_pass_rate": c.expert_pass_rate, "expert_entropy": c.expert_entropy,
                "writer": "nondecoupling.bridge.models.callback.CouplingCallback",
                "callback": {"heldout_pairs": len(self.measurer.prompts), "samples_per_prompt": self.measurer.samples_per_prompt,
                             "every_steps": c.every_steps, "growth": c.growth, "exact_pass_rate": c.exact_pass_rate,
                             "reference": c.reference_model if isinstance(c.reference_model, str) or c.reference_model is None
                             else "model", "stop_at": c.stop_at, "lam": c.lam, "seed": c.seed},
                **self._extra_meta}

    def write_run_meta(self, **extra: object) -> None:
        """Add ``extra`` to ``run_meta.json`` and rewrite it (rank 0, with an ``output_dir``)."""
        self._extra_meta.update(extra)
        if self.output_dir is not None and rank_and_world()[0] == 0:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            (self.output_dir / "run_meta.json").write_text(json.dumps(self.meta, indent=2) + "\n")

    def _write(self, line: dict, *, amend: bool = False) -> None:
        """Log ``line`` (trainer.log, ``log.jsonl``); ``amend``: it replaces the file's last line, and only its
        ``restore*`` numbers go through trainer.log."""
        if self.trainer is not None:
            numbers = {f"coupling/{k}": float(v) for k, v in line.items() if isinstance(v, (int, float)) and k != "step"
                       and (not amend or k.startswith("restore"))}
            for end, value in zip(("low", "high"), () if amend else line.get("p3_optimal_step_ci") or ()):  # a list: a dashboard plots its ends
                if value is not None:  # None: an infinite end
                    numbers[f"coupling/p3_optimal_step_ci_{end}"] = float(value)
            Trainer.log(self.trainer, numbers)  # the base log: TRL's override would drain its own metrics here
        if self.output_dir is None or rank_and_world()[0] != 0:
            return
        first = len(self.records) == 1 and not amend
        if first:
            self.write_run_meta()
        with (self.output_dir / "log.jsonl").open("w" if first else "r+") as handle:
            if not amend:
                self._line_start = handle.seek(0, 2)
            handle.seek(self._line_start)
            handle.truncate()
            handle.write(json.dumps(line) + "\n")

