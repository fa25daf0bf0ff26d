"""The live callback's measurements of a policy, framework-free: ``CouplingMeasurer.evaluate(model) -> dict``.

No trainer is needed: any ``transformers`` causal LM (or a module with the same ``forward`` and
``generate``) is measured on held-out expert pairs (x_i, y_i, w_i):

``sft_loss``
    -sum_i w_i log pi(y_i | x_i) / sum_i w_i, each response's token losses summed, EOS included
    (:func:`~nondecoupling.bridge.models.sequences.sequence_logprobs`). One scoring pass of the policy
    covers the held-out pairs, its own samples and pi_ref's cached samples together, in batches of
    at most ``batch_size`` rows grouped by prompt: each distinct prompt is run once and its
    key/value cache serves all its responses
    (:func:`~nondecoupling.bridge.models.sequences.shared_prompt_logprobs`).
``pass_rate``
    With ``exact_pass_rate``: b = mean over prompts of sum pi(y | x) over the accepted held-out
    responses (they must be all the responses the verifier accepts), exact.
``reward``, ``reward_se``
    The mean ``reward_fn`` of fresh samples (temperature 1, no truncation) and its standard error.
``kl``
    KL(pi || pi_ref), sequence level, the mean of log pi(y|x) - log pi_ref(y|x) over those samples.
``forward_kl``
    KL(pi_ref || pi) on the held-out prompts ("RL's Razor": it tracks forgetting), on samples of
    pi_ref drawn once per reference (pi_ref is frozen: its samples and log-probabilities are cached).

Ranks (``torchrun``/``accelerate launch``) score and sample their shares; the sums are reduced by
``accelerate.utils.reduce``. Samples come from a per-device generator seeded by (seed, step,
rank): the trainer's random stream is never touched.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypedDict

import numpy as np

try:
    import torch
    from accelerate import PartialState
    from accelerate.utils import reduce
    from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList, PreTrainedModel, PreTrainedTokenizerBase
except ImportError:  # pragma: no cover - depends on the environment
    raise ImportError("nondecoupling.bridge.models.measure needs torch, transformers and accelerate: pip install -e '.[torch]'") from None

from nondecoupling.bridge.models.sequences import responses_token_ids, shared_prompt_logprobs
from nondecoupling.validation import ParameterError, check_integer, check_nonnegative

if TYPE_CHECKING:
    from nondecoupling._typing import Numbers


class _SampleWithGenerator(LogitsProcessor):
    """Keep only a token drawn from softmax(logits) with our generator: greedy ``generate`` then samples at temperature 1."""

    def __init__(self, generator: torch.Generator):
        self.generator = generator

    def __call__(self, input_ids, scores):
        chosen = torch.multinomial(torch.softmax(scores.float(), dim=-1), 1, generator=self.generator)
        return torch.full_like(scores, -math.inf).scatter(-1, chosen, 0.0)


def rank_and_world() -> tuple[int, int]:
    """This process's index and the number of processes (accelerate's view; (0, 1) alone)."""
    state = PartialState()
    return state.process_index, state.num_processes


def _until_eos(ids: list[int], eos_id: int) -> list[int]:
    """A generated completion up to and including its first EOS (generate pads after it)."""
    return ids[: ids.index(eos_id) + 1] if eos_id in ids else ids


def _by_length(rows: list[int], lengths, size: int, *, presorted: bool = False):
    """Rows in groups of at most ``size`` with one prompt length each (no padding before a response)."""
    ordered = rows if presorted else sorted(rows, key=lambda row: lengths[row])
    batch: list[int] = []
    for row in ordered:
        if batch and (len(batch) == size or lengths[batch[0]] != lengths[row]):
            yield batch
            batch = []
        batch.append(row)
    if batch:
        yield batch


class _Encoded(TypedDict):
    """The held-out pairs as token ids (:meth:`CouplingMeasurer._encode`)."""

    prompts: list[str]  # each distinct prompt once, in order
    prompt_ids: dict[str, list[int]]
    responses: list[list[int]]
    correct: np.ndarray  # bool per pair: the reward accepts it (counted once per distinct pair)
    pad: int
    eos: int
    max_new_tokens: int


class CouplingMeasurer:
    """Held-out SFT loss, exact pass rate, sampled reward and both KLs of a model (see the module docstring).

    Parameters
    ----------
    prompts, responses : sequence of str
        Held-out expert pairs; each response is scored with EOS appended, as SFTTrainer trains it.
    tokenizer : PreTrainedTokenizerBase, optional
        Needed before the first evaluation (the callback passes the trainer's).
    weights : sequence of float, optional
        Pair weights w_i (default 1).
    reward_fn : callable, optional
        TRL's signature ``reward_fn(prompts=..., completions=..., **kwargs) -> list of float``.
    exact_pass_rate : bool
        The accepted held-out responses are all the responses ``reward_fn`` accepts.
    samples_per_prompt : int
        Completions sampled per held-out prompt (``reward``, ``kl``, ``forward_kl``).
    max_new_tokens : int, optional
        Longest sample (default: the longest held-out response).
    batch_size : int
        Sequences per forward / generate call.
    seed : int
        Seeds the samples.
    """

    _encoded: _Encoded | None
    _reference_samples: tuple[list[list[int]], list[list[int]], torch.Tensor] | None

    def __init__(self, prompts: Sequence[str], responses: Sequence[str], *, tokenizer: PreTrainedTokenizerBase | None = None,
                 weights: Numbers | None = None,
                 reward_fn: Callable | None = None, exact_pass_rate: bool = False, samples_per_prompt: int = 1,
                 max_new_tokens: int | None = None, batch_size: int = 256, seed: int = 0) -> None:
        self.prompts, self.responses = list(prompts), list(responses)
        if not self.prompts or len(self.prompts) != len(self.responses):
            raise ParameterError("prompts, responses", "non-empty and of equal length",
                                 f"{len(self.prompts)} prompts and {len(self.responses)} responses")
        self.weights = np.ones(len(self.prompts)) if weights is None else np.asarray(check_nonnegative(weights, "weights"), float)
        if self.weights.shape != (len(self.prompts),) or not self.weights.sum() > 0:
            raise ParameterError("weights", "one non-negative number per pair, not all 0", f"shape {self.weights.shape}")
        if exact_pass_rate and reward_fn is None:
            raise ParameterError("exact_pass_rate", "False without a reward_fn (the reward marks the correct responses)", "True")
        self.tokenizer, self.reward_fn, self.exact_pass_rate = tokenizer, reward_fn, bool(exact_pass_rate)
        self.samples_per_prompt = int(check_integer(samples_per_prompt, "samples_per_prompt", low=1))
        self.max_new_tokens = None if max_new_tokens is None else int(check_integer(max_new_tokens, "max_new_tokens", low=1))
        self.batch_size = int(check_integer(batch_size, "batch_size", low=1))
        self.seed = int(seed)
        self._encoded, self._reference_samples = None, None

    def evaluate(self, model: PreTrainedModel, *, step: int = 0, reference: PreTrainedModel | None = None,
                 autocast_dtype: torch.dtype | None = None) -> dict:
        """The metrics of ``model`` now, reduced over ranks (every rank must call it together).

        ``reference`` (pi_ref, frozen, on the model's device) adds ``kl`` and ``forward_kl``;
        ``step`` seeds this evaluation's samples; ``autocast_dtype`` is the trainer's mixed precision.

        >>> from nondecoupling.bridge.models.measure import CouplingMeasurer  # doctest: +SKIP
        >>> CouplingMeasurer(["1+1="], ["2"], tokenizer=tok).evaluate(model)  # doctest: +SKIP
        {'sft_loss': 3.1}
        """
        encoded = self._encode()
        was_training = model.training
        model.eval()
        autocast = torch.autocast(model.device.type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None)
        try:
            with torch.no_grad(), autocast:
                sums = self._sums(model, encoded, step, reference)
        finally:
            model.train(was_training)
        total = torch.tensor(sums, dtype=torch.float64, device=model.device if PartialState().backend == "nccl" else "cpu")
        nll, passed, reward_sum, reward_squares, samples, kl_sum, forward_sum, forward_count = reduce(total, "sum").tolist()
        metrics = {"sft_loss": nll / float(self.weights.sum())}
        if self.exact_pass_rate:
            metrics["pass_rate"] = passed / len(encoded["prompts"])
        if self.reward_fn is not None:
            mean = reward_sum / samples
            spread = max(reward_squares / samples - mean * mean, 0.0)
            metrics.update(reward=mean, reward_se=math.sqrt(spread / max(samples - 1, 1)), reward_samples=int(samples))
        if reference is not None:
            metrics.update(kl=kl_sum / samples, forward_kl=forward_sum / forward_count)
        return metrics

    def forget_reference(self) -> None:
        """Drop the cached samples of pi_ref (call when the reference changes)."""
        self._reference_samples = None

    # ------------------------------------------------------------ pieces

    def _encode(self) -> _Encoded:
        """Token ids of the held-out pairs, once (two batched tokenizer calls)."""
        if self._encoded is not None:
            return self._encoded
        tokenizer = self.tokenizer
        if tokenizer is None:
            raise ParameterError("tokenizer", "given, or the trainer's processing_class", "None")
        prompt_ids, responses = responses_token_ids(tokenizer, self.prompts, self.responses)
        correct = np.zeros(len(self.prompts), bool)
        if self.exact_pass_rate and self.reward_fn is not None:  # __init__ refuses exact_pass_rate without a reward_fn
            rewards = np.asarray(self.reward_fn(prompts=self.prompts, completions=self.responses), float)
            first = {pair: index for index, pair in reversed(list(enumerate(zip(self.prompts, self.responses))))}
            correct[[i for i in first.values() if rewards[i] == 1.0]] = True  # each accepted response counts once
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self._encoded = {"prompts": list(dict.fromkeys(self.prompts)), "prompt_ids": dict(zip(self.prompts, prompt_ids)),
                         "responses": responses, "correct": correct, "pad": pad, "eos": tokenizer.eos_token_id,
                         "max_new_tokens": self.max_new_tokens or max(len(ids) for ids in responses)}
        return self._encoded

    def _logprobs(self, model, prompt_ids: list, response_ids: list, pad: int) -> torch.Tensor:
        """log pi(response | prompt) of every row, in the rows' order: batches of one prompt length, each prompt run once.

        Rows are sorted by (prompt length, prompt, response length), so a batch holds whole groups
        of responses to the same prompts (:func:`~nondecoupling.bridge.models.sequences.shared_prompt_logprobs`).
        """
        order = sorted(range(len(prompt_ids)), key=lambda i: (len(prompt_ids[i]), prompt_ids[i], len(response_ids[i])))
        lengths = [len(prompt_ids[i]) for i in order]
        out = torch.empty(len(order), dtype=torch.float64)
        for batch in _by_length(order, dict(zip(order, lengths)), self.batch_size, presorted=True):
            out[batch] = shared_prompt_logprobs(model, [prompt_ids[i] for i in batch], [response_ids[i] for i in batch],
                                                pad_id=pad).double().cpu()
        return out

    def _score_together(self, model, groups: list, pad: int) -> list[torch.Tensor]:
        """log pi of several groups of (prompt ids, response ids) rows in one scoring pass, split back per group."""
        prompts = [ids for group in groups for ids in group[0]]
        responses = [ids for group in groups for ids in group[1]]
        return list(self._logprobs(model, prompts, responses, pad).split([len(group[0]) for group in groups]))

    def _sums(self, model, encoded, step: int, reference) -> list[float]:
        """This rank's sums, with ONE scoring pass of the policy over all its rows (held-out pairs, its samples, pi_ref's).

        [sum_i w_i (-log pi(y_i|x_i)), exact pass mass, sum of rewards, of squared rewards, sample count,
        sum of log pi - log pi_ref on pi's samples, sum of log pi_ref - log pi on pi_ref's samples, their count].
        """
        rank, world = rank_and_world()
        rows = list(range(rank, len(self.prompts), world))
        heldout = ([encoded["prompt_ids"][self.prompts[i]] for i in rows], [encoded["responses"][i] for i in rows])
        sampling = self.reward_fn is not None or reference is not None
        prompts, *samples = self._sample(model, encoded, self.seed * 1_000_003 + step) if sampling else ([], [], [])
        cached = self._reference_rows(reference, encoded) if reference is not None else ([], [], torch.zeros(0))
        own_heldout, own_samples, own_cached = self._score_together(model, [heldout, samples, cached[:2]], encoded["pad"])
        heldout_logprobs = own_heldout.numpy()
        rewards = np.zeros(len(prompts))
        if self.reward_fn is not None and prompts:
            assert self.tokenizer is not None, "_encode() refuses a missing tokenizer"
            texts = self.tokenizer.batch_decode(samples[1], skip_special_tokens=True)
            rewards = np.asarray(self.reward_fn(prompts=prompts, completions=texts, completion_ids=samples[1]), float)
        kl = float((own_samples - self._logprobs(reference, samples[0], samples[1], encoded["pad"])).sum()) if reference is not None else 0.0
        return [-float((self.weights[rows] * heldout_logprobs).sum()), float(np.exp(heldout_logprobs[encoded["correct"][rows]]).sum()),
                float(rewards.sum()), float((rewards**2).sum()), float(len(prompts)), kl,
                float((cached[2] - own_cached).sum()), float(len(cached[1]))]

    def _sample(self, model, encoded, seed: int) -> tuple[list[str], list[list[int]], list[list[int]]]:
        """This rank's prompts, prompt ids and sampled completions (ids up to EOS)."""
        rank, world = rank_and_world()
        prompts = [p for p in encoded["prompts"] for _ in range(self.samples_per_prompt)][rank::world]
        generator = torch.Generator(device=model.device).manual_seed((seed * 1_009 + rank) % 2**63)
        config = GenerationConfig(do_sample=False, max_new_tokens=encoded["max_new_tokens"], pad_token_id=encoded["pad"],
                                  eos_token_id=encoded["eos"])
        lengths = [len(encoded["prompt_ids"][p]) for p in prompts]
        chosen, prompt_ids, completions = [], [], []
        for batch in _by_length(list(range(len(prompts))), lengths, self.batch_size):
            ids = [encoded["prompt_ids"][prompts[i]] for i in batch]
            inputs = torch.tensor(ids, device=model.device)
            generated = model.generate(input_ids=inputs, attention_mask=torch.ones_like(inputs), generation_config=config,
                                       logits_processor=LogitsProcessorList([_SampleWithGenerator(generator)]))
            completions += [_until_eos(row, encoded["eos"]) for row in generated[:, inputs.shape[1] :].tolist()]
            chosen += [prompts[i] for i in batch]
            prompt_ids += ids
        return chosen, prompt_ids, completions

    def _reference_rows(self, reference, encoded) -> tuple[list, list, torch.Tensor]:
        """pi_ref's samples on this rank's prompts and their log pi_ref (drawn and scored once per reference)."""
        if self._reference_samples is None:
            _, prompt_ids, completions = self._sample(reference, encoded, -1 - self.seed)
            self._reference_samples = (prompt_ids, completions, self._logprobs(reference, prompt_ids, completions, encoded["pad"]))
        return self._reference_samples
