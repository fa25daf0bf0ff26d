"""A live ``transformers.TrainerCallback`` that measures the SFT/RL coupling as training runs.

Two lines add it to any ``transformers.Trainer`` (TRL's ``SFTTrainer`` and ``GRPOTrainer``
included)::

    from nondecoupling.bridge.callback import CouplingCallback
    trainer.add_callback(CouplingCallback(prompts, responses, reward_fn=reward, expert_pass_rate=0.6, output_dir="runs/grpo"))

At each evaluation (the trainer's own ``on_evaluate``, every ``every_steps`` optimizer steps,
before the first update and after the last) it measures the policy pi and appends one line
of the bridge's canonical JSONL (:mod:`nondecoupling.bridge.logs`) to ``OUTPUT_DIR/log.jsonl``,
with ``run_meta.json`` beside it, so ``python -m nondecoupling.bridge check
OUTPUT_DIR/log.jsonl --out REPORT`` reads it with no mapping:

``sft_loss``
    The held-out SFT loss at the SEQUENCE level K1 is about: -sum_i w_i log pi(y_i | x_i) /
    sum_i w_i over the held-out expert pairs (the summed token losses of each response,
    its EOS included), computed by :func:`nondecoupling.bridge.sequences.sequence_logprobs`.
``reward``
    The mean of ``reward_fn`` over ``samples_per_prompt`` fresh samples per held-out prompt
    (temperature 1, no truncation: the distribution RL optimises). For a 0/1 verifier this
    is the sampled pass rate.
``pass_rate``
    Only with ``exact_pass_rate=True``: the held-out responses that ``reward_fn`` accepts are
    all the responses it accepts, so b = mean over prompts of sum pi(y | x) over them, exactly.
``kl``
    KL(pi || pi_ref) at the sequence level, the mean of log pi(y|x) - log pi_ref(y|x) over the
    samples (with a reference model).
``k1_floor``, ``k1_slack``
    With the expert pass rate a: K1's floor H(p*) + kl(a || b) (kl(a || b) alone without
    H(p*)) and the slack sft_loss - floor; without H(p*) the slack is taken against the RL
    stage's first SFT loss (which assumes RL started at the SFT optimum, as the bridge's
    K1 check does), b = ``pass_rate`` where logged, else ``reward``.
``p3_optimal_step``, ``p3_optimal_step_ci``, ``stop``, ``stop_reason``
    During an RL stage, online P3 (:func:`p3_stop_estimate`): the bridge's own estimator
    refits the rates to the stage's curves so far and predicts the optimal RL step, with a
    residual-bootstrap interval. With ``stop_at="optimal"`` the callback sets
    ``control.should_training_stop`` once the estimate is confident and the stage has
    passed it; every evaluation logs the decision and why.

Distributed runs (``torchrun``; gloo on CPU, NCCL on GPU): every rank scores its shard of
the held-out pairs and samples its shard of the prompts, the sums are all-reduced, and
rank 0 writes one line per evaluation; the stop decision is broadcast from rank 0, so all
ranks stop together.

Sampling uses ``model.generate`` with a per-device ``torch.Generator`` seeded from
``(seed, step, rank)``: a seed reproduces the evaluation's samples on CPU and on CUDA, and
the global random stream (the trainer's) is never touched.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

try:
    import torch
    from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList, TrainerCallback
except ImportError:  # pragma: no cover - depends on the environment
    raise ImportError("nondecoupling.bridge.callback needs torch and transformers: pip install -e '.[torch]'") from None

from nondecoupling.bridge.jsonable import jsonable
from nondecoupling.bridge.sequences import pad_pairs, response_token_ids, sequence_logprobs
from nondecoupling.bridge.stats import k1_terms  # the bridge's one K1 rule
from nondecoupling.bridge.stopping import p3_stop_estimate
from nondecoupling.validation import ParameterError, check_integer, check_nonnegative, check_positive, check_rate

#: TRL's configuration classes whose trainers run RL (phase ``"rl"`` when ``phase="auto"``).
RL_CONFIGS = ("GRPOConfig", "PPOConfig", "RLOOConfig", "OnlineDPOConfig")


# ---------------------------------------------------------------- sampling and ranks


class _SampleWithGenerator(LogitsProcessor):
    """Draw the next token from softmax(logits) with a given generator; keep only it.

    ``generate`` has no generator argument, and its sampler draws from the global random
    stream. Run greedily with this processor, it samples at temperature 1 (no truncation)
    from a generator of our own, while ``generate`` still does the caching, EOS and padding.
    """

    def __init__(self, generator: torch.Generator):
        self.generator = generator

    def __call__(self, input_ids, scores):
        probs = torch.softmax(scores.float(), dim=-1)
        chosen = torch.multinomial(probs, 1, generator=self.generator)
        return torch.full_like(scores, -math.inf).scatter(-1, chosen, 0.0)


def _rank_and_world() -> tuple[int, int]:
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _collective_device(model) -> torch.device:
    """NCCL reduces tensors on the GPU, gloo on the CPU."""
    return model.device if torch.distributed.get_backend() == "nccl" else torch.device("cpu")


def _reduce_sums(values: list[float], model) -> list[float]:
    """Sum over ranks (identity on one process)."""
    if _rank_and_world()[1] == 1:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=_collective_device(model))
    torch.distributed.all_reduce(tensor)
    return tensor.tolist()


def _from_rank_zero(flag: bool, model) -> bool:
    if _rank_and_world()[1] == 1:
        return flag
    tensor = torch.tensor([float(flag)], device=_collective_device(model))
    torch.distributed.broadcast(tensor, src=0)
    return bool(tensor.item())


def _until_eos(ids: list[int], eos_id: int) -> list[int]:
    """A generated completion up to and including its first EOS (generate pads after it)."""
    return ids[: ids.index(eos_id) + 1] if eos_id in ids else ids


def _batches(rows: list[int], keys: list[int], size: int):
    """Rows grouped by key (prompt length: no padding inside a generate batch), ``size`` at a time."""
    ordered = sorted(rows, key=lambda row: keys[row])
    batch: list[int] = []
    for row in ordered:
        if batch and (len(batch) == size or keys[batch[0]] != keys[row]):
            yield batch
            batch = []
        batch.append(row)
    if batch:
        yield batch


# ---------------------------------------------------------------- the callback


class CouplingCallback(TrainerCallback):
    """Log the held-out SFT loss, reward, KL, K1's floor and online P3 at each evaluation.

    Parameters
    ----------
    prompts, responses : sequence of str
        Held-out expert pairs (x_i, y_i). Each response is scored with the tokenizer's EOS
        appended, as SFTTrainer trains it.
    tokenizer : PreTrainedTokenizerBase, optional
        Defaults to the trainer's ``processing_class``.
    weights : sequence of float, optional
        Pair weights w_i (default 1): with every response of p*'s support weighted by its
        p*-probability, ``sft_loss`` is CE(p*, pi) exactly.
    reward_fn : callable, optional
        TRL's reward-function signature ``reward_fn(prompts=..., completions=..., **kwargs)
        -> list of float``; enables ``reward`` (and ``pass_rate``, ``k1_*``).
    reference_model : PreTrainedModel or "rl_start", optional
        pi_ref for ``kl``: a model (moved once to the policy's device and dtype), or
        ``"rl_start"``: a frozen copy of the policy taken when training first begins and
        again when each RL stage begins (so it is the model the latest SFT stage left).
    expert_pass_rate, expert_entropy : float, optional
        a = E_{p*} r and H(p*) (nats, sequence level); enable ``k1_floor`` / ``k1_slack`` and
        go to ``run_meta.json`` for ``nondecoupling check``.
    output_dir : str or Path, optional
        Where ``log.jsonl`` and ``run_meta.json`` go (nothing is written without it).
    every_steps : int or None
        Evaluate every this many optimizer steps (besides ``on_evaluate``, the start and
        the end of each training); None: only those.
    extra_steps : sequence of int
        Steps into each training also evaluated (e.g. ``(1, 2, 5)``: the first updates
        move the curves fastest).
    samples_per_prompt : int
        Completions sampled per held-out prompt (``reward``, ``kl``).
    max_new_tokens : int, optional
        Longest sampled completion (default: the longest held-out response).
    batch_size : int
        Sequences per forward / generate batch.
    exact_pass_rate : bool
        The held-out responses that ``reward_fn`` scores 1 are ALL the responses it accepts
        (a verifier with an enumerable answer): log the exact ``pass_rate``.
    phase : {"auto", "sft", "rl"}
        ``auto``: ``rl`` for TRL's RL trainers (:data:`RL_CONFIGS`), ``sft`` otherwise.
    stop_at : {None, "optimal"}
        ``"optimal"``: stop an RL stage at P3's estimated optimum (see :func:`p3_stop_estimate`).
    lam, n_boot, confidence, max_relative_width, min_points
        Online P3's settings (:func:`p3_stop_estimate`).
    seed : int
        Seeds the evaluation's samples and the bootstrap.
    """

    def __init__(self, prompts: Sequence[str], responses: Sequence[str], *, tokenizer=None, weights=None,
                 reward_fn: Callable | None = None, reference_model=None, expert_pass_rate: float | None = None,
                 expert_entropy: float | None = None, output_dir=None, every_steps: int | None = 10,
                 extra_steps: Sequence[int] = (), samples_per_prompt: int = 1, max_new_tokens: int | None = None,
                 batch_size: int = 64, exact_pass_rate: bool = False, phase: str = "auto", stop_at: str | None = None,
                 lam: float = 1.0, n_boot: int = 100, confidence: float = 0.9, max_relative_width: float = 1.0,
                 min_points: int = 6, seed: int = 0):
        self.prompts, self.responses = list(prompts), list(responses)
        if not self.prompts or len(self.prompts) != len(self.responses):
            raise ParameterError("prompts, responses", "non-empty and of equal length",
                                 f"{len(self.prompts)} prompts and {len(self.responses)} responses")
        self.weights = np.ones(len(self.prompts)) if weights is None else np.asarray(check_nonnegative(weights, "weights"), float)
        if self.weights.shape != (len(self.prompts),) or not self.weights.sum() > 0:
            raise ParameterError("weights", "one non-negative number per pair, not all 0", f"shape {self.weights.shape}")
        if phase not in ("auto", "sft", "rl"):
            raise ParameterError("phase", "'auto', 'sft' or 'rl'", repr(phase))
        if stop_at not in (None, "optimal"):
            raise ParameterError("stop_at", "None or 'optimal'", repr(stop_at))
        if exact_pass_rate and reward_fn is None:
            raise ParameterError("exact_pass_rate", "False without a reward_fn (the reward marks the correct responses)", "True")
        if isinstance(reference_model, str) and reference_model != "rl_start":
            raise ParameterError("reference_model", "a model, 'rl_start' or None", repr(reference_model))
        self.expert_pass_rate = None if expert_pass_rate is None else float(check_rate(expert_pass_rate, "expert_pass_rate"))
        self.expert_entropy = None if expert_entropy is None else float(check_nonnegative(expert_entropy, "expert_entropy"))
        self.every_steps = None if every_steps is None else int(check_integer(every_steps, "every_steps", low=1))
        self.extra_steps = {int(v) for v in np.atleast_1d(check_integer(list(extra_steps), "extra_steps", low=1))} if extra_steps else set()
        self.samples_per_prompt = int(check_integer(samples_per_prompt, "samples_per_prompt", low=1))
        self.batch_size = int(check_integer(batch_size, "batch_size", low=1))
        self.max_new_tokens = max_new_tokens if max_new_tokens is None else int(check_integer(max_new_tokens, "max_new_tokens", low=1))
        self.p3_settings = dict(lam=float(check_positive(lam, "lam")), n_boot=n_boot, confidence=confidence,
                                max_relative_width=max_relative_width, min_points=min_points)
        p3_stop_estimate([], [], [], **self.p3_settings)  # validates the settings now, not at the first RL evaluation
        self.tokenizer, self.reward_fn, self.exact_pass_rate = tokenizer, reward_fn, exact_pass_rate
        self._reference_mode = reference_model if isinstance(reference_model, str) else ("model" if reference_model is not None else None)
        self._frozen = None if isinstance(reference_model, str) else reference_model
        self._frozen_placed = False
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.phase_setting, self.stop_at, self.seed = phase, stop_at, int(seed)
        self.records: list[dict] = []
        self.stage, self.phase, self.step_offset = -1, None, 0
        self._encoded = None
        self._generator = None
        self._last_step = None
        self._last_trainer_step = 0
        self._stage_start_loss = None
        self._autocast = None
        self._extra_meta: dict = {}
        self._stage_curve: list[tuple[float, float, float]] = []

    # -------------------------------------------------------- trainer events

    def on_train_begin(self, args, state, control, model=None, processing_class=None, **kwargs):
        if self.stage >= 0:
            self.step_offset += self._last_trainer_step
        self.stage += 1
        self.phase = self.phase_setting if self.phase_setting != "auto" else (
            "rl" if type(args).__name__ in RL_CONFIGS else "sft")
        self.tokenizer = self.tokenizer if self.tokenizer is not None else processing_class
        # accelerate wraps the policy's forward in the trainer's autocast for good; the
        # reference runs under the same one, so pi and pi_ref are computed alike (KL 0 at a copy).
        self._autocast = torch.bfloat16 if args.bf16 else (torch.float16 if args.fp16 else None)
        self._stage_curve, self._last_step, self._stage_start_loss = [], None, None
        if self._reference_mode == "rl_start" and (self.phase == "rl" or self._frozen is None):
            self._snapshot(model)
        self._evaluate_and_log(args, state, control, model, kwargs)

    def on_step_end(self, args, state, control, model=None, **kwargs):
        step = state.global_step
        if (self.every_steps is not None and step % self.every_steps == 0) or step in self.extra_steps:
            self._evaluate_and_log(args, state, control, model, kwargs)

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        self._evaluate_and_log(args, state, control, model, kwargs)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self._evaluate_and_log(args, state, control, model, kwargs)

    # -------------------------------------------------------- evaluation

    def evaluate(self, model, *, step: int = 0) -> dict:
        """The metrics of ``model`` now, reduced over ranks (every rank must call it together).

        Parameters
        ----------
        model : PreTrainedModel
            The policy; it is put in eval mode for the measurement and restored after. Inside a
            trainer with ``bf16``/``fp16`` the evaluation runs under the trainer's autocast.
        step : int
            Seeds this evaluation's samples (with ``seed`` and the rank).

        Returns
        -------
        dict
            ``sft_loss`` and, as configured, ``pass_rate``, ``reward``, ``reward_samples``, ``kl``.
        """
        self._place_reference(model)
        encoded = self._encode()
        rank, world = _rank_and_world()
        was_training = model.training
        model.eval()
        autocast = torch.autocast(model.device.type, dtype=self._autocast or torch.bfloat16, enabled=self._autocast is not None)
        try:
            with torch.no_grad(), autocast:
                sums = self._heldout_sums(model, encoded, rank, world) + self._sampled_sums(model, encoded, rank, world, step)
        finally:
            model.train(was_training)
        nll, passed, reward_sum, samples, kl_sum = _reduce_sums(sums, model)
        metrics = {"sft_loss": nll / float(self.weights.sum())}
        if self.exact_pass_rate:
            metrics["pass_rate"] = passed / len(encoded["prompts"])
        if self.reward_fn is not None:
            metrics.update(reward=reward_sum / samples, reward_samples=int(samples))
        if self._frozen is not None:
            metrics["kl"] = kl_sum / samples
        return metrics

    def _encode(self) -> dict:
        """Token ids of the held-out pairs, once (the tokenizer may come from the trainer)."""
        if self._encoded is not None:
            return self._encoded
        tokenizer = self.tokenizer
        if tokenizer is None:
            raise ParameterError("tokenizer", "given, or the trainer's processing_class", "None")
        prompts = list(dict.fromkeys(self.prompts))
        prompt_ids = {prompt: tokenizer(prompt)["input_ids"] for prompt in prompts}
        responses = [response_token_ids(tokenizer, p, r) for p, r in zip(self.prompts, self.responses)]
        correct = np.zeros(len(self.prompts), bool)
        if self.exact_pass_rate:
            rewards = np.asarray(self.reward_fn(prompts=self.prompts, completions=self.responses), float)
            first = {pair: index for index, pair in reversed(list(enumerate(zip(self.prompts, self.responses))))}
            # Each accepted response counts once towards b, however often it is listed.
            correct[[i for i in first.values() if rewards[i] == 1.0]] = True
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        longest = max(len(ids) for ids in responses)
        self._encoded = {"prompts": prompts, "prompt_ids": prompt_ids, "responses": responses, "correct": correct,
                         "pad": pad, "eos": tokenizer.eos_token_id, "max_new_tokens": self.max_new_tokens or longest}
        return self._encoded

    def _heldout_sums(self, model, encoded, rank: int, world: int) -> list[float]:
        """This rank's share of sum_i w_i (-log pi(y_i|x_i)) and of the exact pass mass."""
        nll, passed = 0.0, 0.0
        rows = list(range(rank, len(self.prompts), world))
        for start in range(0, len(rows), self.batch_size):
            batch = rows[start : start + self.batch_size]
            logprobs = sequence_logprobs(model, pad_pairs(
                [encoded["prompt_ids"][self.prompts[i]] for i in batch], [encoded["responses"][i] for i in batch],
                pad_id=encoded["pad"], device=model.device)).double().cpu().numpy()
            nll -= float((self.weights[batch] * logprobs).sum())
            passed += float(np.exp(logprobs[encoded["correct"][batch]]).sum())
        return [nll, passed]

    def _sampled_sums(self, model, encoded, rank: int, world: int, step: int) -> list[float]:
        """This rank's share of the sampled rewards and log-ratios, and its sample count."""
        if self.reward_fn is None and self._frozen is None:
            return [0.0, 0.0, 0.0]
        prompts = [p for p in encoded["prompts"] for _ in range(self.samples_per_prompt)]
        rows = list(range(rank, len(prompts), world))
        if self._generator is None or self._generator.device != model.device:
            self._generator = torch.Generator(device=model.device)
        self._generator.manual_seed(((self.seed * 1_000_003 + step) * 1_009 + rank) % 2**63)
        sampler = LogitsProcessorList([_SampleWithGenerator(self._generator)])
        # Greedy over the sampler's one-hot scores: the draw is the sampler's, from our generator.
        config = GenerationConfig(do_sample=False, max_new_tokens=encoded["max_new_tokens"], pad_token_id=encoded["pad"],
                                  eos_token_id=encoded["eos"])
        lengths = [len(encoded["prompt_ids"][p]) for p in prompts]
        reward_sum, kl_sum, samples = 0.0, 0.0, 0
        for batch in _batches(rows, lengths, self.batch_size):
            batch_prompts = [prompts[i] for i in batch]
            prompt_ids = [encoded["prompt_ids"][p] for p in batch_prompts]
            inputs = torch.tensor(prompt_ids, device=model.device)
            generated = model.generate(input_ids=inputs, attention_mask=torch.ones_like(inputs), generation_config=config,
                                       logits_processor=sampler)
            completions = [_until_eos(ids, encoded["eos"]) for ids in generated[:, inputs.shape[1] :].tolist()]
            samples += len(batch)
            if self.reward_fn is not None:
                texts = self.tokenizer.batch_decode(completions, skip_special_tokens=True)
                reward_sum += float(sum(self.reward_fn(prompts=batch_prompts, completions=texts, completion_ids=completions)))
            if self._frozen is not None:
                pairs = pad_pairs(prompt_ids, completions, pad_id=encoded["pad"], device=model.device)
                kl_sum += float((sequence_logprobs(model, pairs) - sequence_logprobs(self._frozen, pairs)).double().sum())
        return [reward_sum, float(samples), kl_sum]

    # -------------------------------------------------------- the reference model

    def _snapshot(self, model) -> None:
        """pi_ref := the policy now; the copy is built once, on the policy's device, in its dtype."""
        if self._frozen is None:
            with torch.device(model.device):
                self._frozen = type(model)._from_config(model.config, dtype=model.dtype)
            self._frozen.eval().requires_grad_(False)
        self._frozen.load_state_dict(model.state_dict())
        self._frozen_placed = True

    def _place_reference(self, model) -> None:
        if self._frozen is not None and not self._frozen_placed:
            self._frozen.to(device=model.device, dtype=model.dtype).eval().requires_grad_(False)
            self._frozen_placed = True

    # -------------------------------------------------------- one logged evaluation

    def _evaluate_and_log(self, args, state, control, model, kwargs) -> None:
        if self._last_step == state.global_step:  # on_step_end and on_evaluate at the same step
            return
        self._last_step = self._last_trainer_step = state.global_step
        step = self.step_offset + state.global_step
        record = {"phase": self.phase, "stage": self.stage, "step": step, **self.evaluate(model, step=step)}
        optimizer = kwargs.get("optimizer")
        if optimizer is not None:
            record["lr"] = float(optimizer.param_groups[0]["lr"])
        if self._stage_start_loss is None:
            self._stage_start_loss = record["sft_loss"]
        record.update(self._k1_terms(record))
        if self.phase == "rl" and "reward" in record:
            record.update(self._online_p3(record, state.global_step, control, model))
        record = jsonable(record, infinity=None)  # the readers take null as "not logged"
        self.records.append(record)
        state.log_history.append({**{f"eval_{k}": v for k, v in record.items() if k != "step"}, "step": state.global_step})
        self._write(record)

    def _k1_terms(self, record: dict) -> dict:
        """K1's floor H + kl(a || b) (kl alone without H) and the slack of the SFT loss above it.

        Without H(p*), the slack is measured from the RL stage's starting loss (the SFT
        optimum's stand-in), as the bridge's check does; outside RL it is not defined.
        """
        if self.expert_pass_rate is None:
            return {}
        base = self.expert_entropy if self.expert_entropy is not None else (self._stage_start_loss if self.phase == "rl" else None)
        terms = k1_terms(pd.DataFrame([record]), expert_pass_rate=self.expert_pass_rate,
                         expert_entropy=0.0 if base is None else base).iloc[0]
        if not np.isfinite(terms["k1_pass_rate"]):
            return {}
        floor = float(terms["kl_a_b"]) + (self.expert_entropy or 0.0)
        return {"k1_floor": floor, "k1_slack": None if base is None else float(terms["k1_slack"])}

    def _online_p3(self, record: dict, stage_step: int, control, model) -> dict:
        """Refit P3 on the stage so far; log the estimate, and stop if asked and it is time.

        The reward curve is the exact ``pass_rate`` where it is logged, else the sampled reward:
        the rule of ``nondecoupling check`` (``verdicts.reward_column``), so that the online stop
        and the offline verdict fit the same curve.
        """
        rate = record["pass_rate"] if record.get("pass_rate") is not None else record["reward"]
        self._stage_curve.append((stage_step, rate, record["sft_loss"]))
        s, reward, loss = zip(*self._stage_curve)
        estimate = p3_stop_estimate(s, reward, loss, **self.p3_settings, seed=self.seed + record["step"])
        offset = self.step_offset
        logged = {"p3_optimal_step": offset + estimate["optimal_steps"],
                  "p3_optimal_step_ci": [offset + v for v in estimate["ci"]],
                  "p3_confident": estimate["confident"], "p3_reason": estimate["reason"]}
        if self.stop_at is not None:
            stop = _from_rank_zero(estimate["stop"], model)  # every rank stops at the same step
            logged["stop"] = stop
            logged["stop_reason"] = ("stopping: " if stop else "continuing: ") + estimate["reason"]
            if stop:
                control.should_training_stop = True
        return logged

    # -------------------------------------------------------- files

    @property
    def meta(self) -> dict:
        """What ``run_meta.json`` holds: the expert's a and H(p*) (read by ``nondecoupling check``) and the settings."""
        return {"expert_pass_rate": self.expert_pass_rate, "expert_entropy": self.expert_entropy,
                "writer": "nondecoupling.bridge.callback.CouplingCallback",
                "callback": {"heldout_pairs": len(self.prompts), "samples_per_prompt": self.samples_per_prompt,
                             "every_steps": self.every_steps, "extra_steps": sorted(self.extra_steps),
                             "exact_pass_rate": self.exact_pass_rate, "reference": self._reference_mode,
                             "stop_at": self.stop_at, "seed": self.seed, **self.p3_settings},
                **self._extra_meta}

    def write_run_meta(self, **extra) -> None:
        """Add ``extra`` to ``run_meta.json`` and rewrite it (rank 0, with an ``output_dir``)."""
        self._extra_meta.update(extra)
        if self.output_dir is not None and _rank_and_world()[0] == 0:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            (self.output_dir / "run_meta.json").write_text(json.dumps(self.meta, indent=2) + "\n")

    def _write(self, record: dict) -> None:
        if self.output_dir is None or _rank_and_world()[0] != 0:
            return
        first = len(self.records) == 1
        if first:
            self.write_run_meta()
        with (self.output_dir / "log.jsonl").open("w" if first else "a") as handle:
            handle.write(json.dumps(record) + "\n")
