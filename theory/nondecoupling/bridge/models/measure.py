"""The live callback's measurements of a policy, framework-free: ``CouplingMeasurer.evaluate(model) -> dict``.

No trainer is needed: any ``transformers`` causal LM (or a module with the same ``forward``; ``generate`` is not
used) is measured on held-out expert pairs (x_i, y_i, w_i):

``sft_loss``
    -sum_i w_i log pi(y_i | x_i) / sum_i w_i, each response's token losses summed, EOS included
    (:func:`~nondecoupling.bridge.models.sequences.sequence_logprobs`). ONE pass of the policy serves
    the whole evaluation: each distinct held-out prompt is run once (at most ``batch_size`` of one
    length at a time, :func:`~nondecoupling.bridge.models.sequences.prompt_pass`) and its key/value
    cache continues into the policy's fresh samples (drawn, with their log pi summed as they are
    drawn) and into the held-out responses and pi_ref's cached samples (scored, each distinct row
    once) as ONE token tree (:func:`~nondecoupling.bridge.models.sequences.sample_and_score`): each
    sampling step's forward also feeds the scored rows' next tokens, each distinct prefix once (a
    response's first tokens shared by its siblings or by a sample are run once), and the scored
    tokens the samples outlast take one more forward.
``pass_rate``
    With ``exact_pass_rate``: b = mean over prompts of sum pi(y | x) over the accepted held-out
    responses (they must be all the responses the verifier accepts), exact.
``reward``, ``reward_se``
    The mean ``reward_fn`` of fresh samples (temperature 1, no truncation) and its standard error
    (the samples' standard deviation over sqrt(n)): a sampled estimate even with ``exact_pass_rate``.
``kl``
    KL(pi || pi_ref), sequence level, the mean of log pi(y|x) - log pi_ref(y|x) over those samples
    (log pi_ref: one pass of pi_ref over them).
``forward_kl``
    KL(pi_ref || pi) on the held-out prompts ("RL's Razor": it tracks forgetting), on samples of
    pi_ref drawn once per reference (pi_ref is frozen: its samples and log-probabilities are cached).

Where the model IS the reference (``model_is_reference``: pi_ref was just copied from pi, as the
callback's ``"rl_start"`` does at a stage's start), both KLs are 0 exactly and pi_ref is not run:
the model's samples, their log pi and its prompt pass become pi_ref's cached ones (drawn from the
same distribution, so the later ``forward_kl`` estimates are as accurate as with pi_ref's own draws).

Ranks (``torchrun``/``accelerate launch``) score and sample their shares; the sums are reduced by
``accelerate.utils.reduce``. Samples come from a per-device generator seeded by (seed, step,
rank): the trainer's random stream is never touched.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypedDict

import numpy as np

try:
    import torch
    from accelerate import PartialState
    from accelerate.utils import reduce
    from transformers import PreTrainedModel, PreTrainedTokenizerBase
except ImportError:  # pragma: no cover - depends on the environment
    raise ImportError("nondecoupling.bridge.models.measure needs torch, transformers and accelerate: pip install -e '.[torch]'") from None

from nondecoupling.bridge.models.sequences import PromptPass, forward_parameters, prompt_pass, responses_token_ids, sample_and_score
from nondecoupling.validation import ParameterError, check_integer, check_nonnegative

if TYPE_CHECKING:
    from nondecoupling._typing import Numbers


def rank_and_world() -> tuple[int, int]:
    """This process's index and the number of processes (accelerate's view; (0, 1) alone)."""
    state = PartialState()
    return state.process_index, state.num_processes


def _by_length(rows: list, lengths, size: int):
    """Rows in groups of at most ``size`` with one length each (``lengths[row]``), by length, in order within a length."""
    ordered = sorted(rows, key=lambda row: lengths[row])
    batch: list = []
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
    prompt_ids: dict[str, tuple[int, ...]]
    responses: list[tuple[int, ...]]
    correct: np.ndarray  # bool per pair: the reward accepts it (counted once per distinct pair)
    pad: int
    eos: int
    max_new_tokens: int


def _scoring_rows(batch_size: int, prompt_length: int, response_length: int) -> int:
    """Scored rows per forward: as many as hold the tokens of ``batch_size`` whole rows.

    A scored row's forward holds its response but the last token (``response_length - 1``, at
    least 1) on its prompt's cache, where a whole row holds ``prompt_length + response_length``:
    the logits, the memory that grows with the vocabulary, stay within what ``batch_size`` whole
    rows would take. 100 prompts of 4 tokens with 5 responses of 3 each: all 500 in one forward.

    >>> _scoring_rows(256, 4, 3)
    896
    """
    return max(batch_size, batch_size * (prompt_length + response_length) // max(response_length - 1, 1))


def _batches(rows: list, size: int) -> list[list]:
    """Consecutive groups of at most ``size`` rows."""
    return [rows[i : i + size] for i in range(0, len(rows), size)]


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
        Sequences per forward: prompts per prompt pass, samples per sampling step, and scored rows
        up to the tokens of ``batch_size`` whole (prompt + response) rows (a scored row's forward
        holds only its response but the last token, on its prompt's cache: more rows fit); a
        sampling step's forward holds a batch of each (one token per distinct prefix).
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
        self._reference_passes: dict[tuple, PromptPass] = {}  # pi_ref's prompt pass, kept where one chunk holds every prompt

    def evaluate(self, model: PreTrainedModel, *, step: int = 0, reference: PreTrainedModel | None = None,
                 autocast_dtype: torch.dtype | None = None, model_is_reference: bool = False) -> dict:
        """The metrics of ``model`` now, reduced over ranks (every rank must call it together).

        ``reference`` (pi_ref, frozen, on the model's device) adds ``kl`` and ``forward_kl``;
        ``step`` seeds this evaluation's samples; ``autocast_dtype`` is the trainer's mixed precision;
        ``model_is_reference``: ``model`` has ``reference``'s weights (both KLs 0, exactly; pi_ref's
        samples and prompt pass are taken from this evaluation where none are cached).

        >>> from nondecoupling.bridge.models.measure import CouplingMeasurer  # doctest: +SKIP
        >>> CouplingMeasurer(["1+1="], ["2"], tokenizer=tok).evaluate(model)  # doctest: +SKIP
        {'sft_loss': 3.1}
        """
        if model_is_reference and reference is None:
            raise ParameterError("model_is_reference", "False without a reference", "True")
        encoded = self._encode()
        was_training = model.training
        model.eval()
        autocast = torch.autocast(model.device.type, dtype=autocast_dtype or torch.bfloat16, enabled=autocast_dtype is not None)
        try:
            # inference_mode, not no_grad: no version counters or view tracking (an evaluation in 0.82-0.99x the
            # time, alternated in one process); its tensors never reach the trainer (the sums come back as floats).
            with torch.inference_mode(), autocast:
                sums = self._sums(model, encoded, step, reference, model_is_reference)
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

    def prepare(self, model: PreTrainedModel | None = None) -> None:
        """Set-up the first evaluation would do otherwise: tokenize the held-out pairs (needs the tokenizer) and
        inspect ``model``'s forward keywords."""
        self._encode()
        if model is not None:
            forward_parameters(model)

    def forget_reference(self) -> None:
        """Drop the cached samples and prompt pass of pi_ref (call when the reference changes)."""
        self._reference_samples, self._reference_passes = None, {}

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
        # Tuples: every evaluation keys its token tree on them (tuple() of a tuple is the tuple itself, no copy)
        self._encoded = {"prompts": list(dict.fromkeys(self.prompts)), "prompt_ids": dict(zip(self.prompts, map(tuple, prompt_ids))),
                         "responses": list(map(tuple, responses)), "correct": correct, "pad": pad, "eos": tokenizer.eos_token_id,
                         "max_new_tokens": self.max_new_tokens or max(len(ids) for ids in responses)}
        return self._encoded

    def _sums(self, model, encoded, step: int, reference, same: bool) -> list[float]:
        """This rank's sums, from ONE pass of the policy over its prompts (:meth:`_sample_and_score`).

        [sum_i w_i (-log pi(y_i|x_i)), exact pass mass, sum of rewards, of squared rewards, sample count,
        sum of log pi - log pi_ref on pi's samples, sum of log pi_ref - log pi on pi_ref's samples, their count].
        ``same`` (the model is the reference): both log-ratio sums are 0, and pi's samples and prompt
        pass fill pi_ref's caches where they are empty.
        """
        rank, world = rank_and_world()
        rows = list(range(rank, len(self.prompts), world))
        heldout = ([encoded["prompt_ids"][self.prompts[i]] for i in rows], [encoded["responses"][i] for i in rows])
        sampling = self.reward_fn is not None or reference is not None
        prompts = self._sampling_prompts(encoded) if sampling else []
        cached = self._reference_rows(reference, encoded) if reference is not None and not same else ([], [], torch.zeros(0))
        sample_ids = [encoded["prompt_ids"][p] for p in prompts]
        samples, own_samples, scores = self._sample_and_score(
            model, sample_ids, (heldout[0] + cached[0], heldout[1] + cached[1]), encoded, self.seed * 1_000_003 + step,
            self._reference_passes if same else None)
        own_heldout, own_cached = scores[: len(rows)].numpy(), scores[len(rows) :]
        rewards = np.zeros(len(prompts))
        if self.reward_fn is not None and prompts:
            assert self.tokenizer is not None, "_encode() refuses a missing tokenizer"
            texts = self.tokenizer.batch_decode(samples, skip_special_tokens=True)
            rewards = np.asarray(self.reward_fn(prompts=prompts, completions=texts, completion_ids=samples), float)
        kl, reference_count = 0.0, float(len(cached[1]))
        if same:
            self._reference_samples = self._reference_samples or (sample_ids, samples, own_samples)
            reference_count = float(len(self._reference_samples[1]))
        elif reference is not None:
            kl = float((own_samples - self._sample_and_score(reference, [], (sample_ids, samples), encoded, 0, self._reference_passes)[2]).sum())
        return [-float((self.weights[rows] * own_heldout).sum()), float(np.exp(own_heldout[encoded["correct"][rows]]).sum()),
                float(rewards.sum()), float((rewards**2).sum()), float(len(prompts)), kl,
                float((cached[2] - own_cached).sum()), reference_count]

    def _sampling_prompts(self, encoded) -> list[str]:
        """This rank's share of the held-out prompts, each ``samples_per_prompt`` times."""
        rank, world = rank_and_world()
        return [p for p in encoded["prompts"] for _ in range(self.samples_per_prompt)][rank::world]

    def _sample_and_score(self, model, sample_prompts: list, score_rows: tuple, encoded, seed: int, kept: dict | None = None):
        """Completions of ``sample_prompts`` with their log pi, and log pi of ``score_rows`` (prompt ids, response ids).

        Each distinct prompt is run once (:func:`~nondecoupling.bridge.models.sequences.prompt_pass`,
        at most ``batch_size`` prompts of one length at a time) and its cache serves both its samples
        and its scored rows: a batch of samples (``batch_size``) and one of scored rows
        (:func:`_scoring_rows`) share one token tree (:func:`~nondecoupling.bridge.models.sequences.sample_and_score`);
        a repeated scored row is scored once.
        ``kept`` (pi_ref's, frozen) keeps the prompt pass where all the prompts fit one: later calls
        skip it, for the memory of one batch's prompt cache.
        Returns (completions in ``sample_prompts``' order, their log pi, log pi of the scored rows) on the CPU.
        """
        generator = torch.Generator(device=model.device).manual_seed((seed * 1_009 + rank_and_world()[0]) % 2**63)
        where: dict[tuple, int] = {}  # each distinct scored row's index, in order of first appearance
        every_row = [where.setdefault(row, len(where)) for row in zip(map(tuple, score_rows[0]), map(tuple, score_rows[1]))]
        distinct_rows = list(where)
        prompts = list(dict.fromkeys([tuple(p) for p in sample_prompts] + [prompt for prompt, _ in distinct_rows]))
        by_prompt: dict[tuple, tuple[list[int], list[int]]] = {prompt: ([], []) for prompt in prompts}  # (sample rows, distinct scored rows) of each prompt
        for i, prompt in enumerate(sample_prompts):
            by_prompt[tuple(prompt)][0].append(i)
        for i, (prompt, _) in enumerate(distinct_rows):
            by_prompt[prompt][1].append(i)
        completions: list[list[int]] = [[] for _ in sample_prompts]
        sample_logprobs = torch.zeros(len(sample_prompts), dtype=torch.float64)
        scores = torch.zeros(len(distinct_rows), dtype=torch.float64)
        chunks = list(_by_length(prompts, {p: len(p) for p in prompts}, self.batch_size))
        for chunk in chunks:
            chunk = tuple(chunk)
            passed = kept.get(chunk) if kept is not None else None
            if passed is None:
                passed = prompt_pass(model, chunk)
                if kept is not None and len(chunks) == 1:
                    kept[chunk] = passed
            position = {p: i for i, p in enumerate(chunk)}
            drawing = _batches([i for p in chunk for i in by_prompt[p][0]], self.batch_size)
            scored = [i for p in chunk for i in by_prompt[p][1]]
            longest = max((len(distinct_rows[i][1]) for i in scored), default=1)
            scoring = _batches(scored, _scoring_rows(self.batch_size, len(chunk[0]), longest))
            none: list[int] = []
            for rows, scored_rows in itertools.zip_longest(drawing, scoring, fillvalue=none):  # a batch of each: one token tree
                drawn, logprobs, row_scores = sample_and_score(
                    model, passed, [position[tuple(sample_prompts[i])] for i in rows], [position[distinct_rows[i][0]] for i in scored_rows],
                    [distinct_rows[i][1] for i in scored_rows], generator=generator, max_new_tokens=encoded["max_new_tokens"],
                    eos_id=encoded["eos"], pad_id=encoded["pad"])
                sample_logprobs[rows], scores[scored_rows] = logprobs.double().cpu(), row_scores.double().cpu()
                for i, ids in zip(rows, drawn):
                    completions[i] = ids
        return completions, sample_logprobs, scores[every_row]

    def _reference_rows(self, reference, encoded) -> tuple[list, list, torch.Tensor]:
        """pi_ref's samples on this rank's prompts and their log pi_ref (drawn once per reference, scored as drawn)."""
        if self._reference_samples is None:
            prompt_ids = [encoded["prompt_ids"][p] for p in self._sampling_prompts(encoded)]
            completions, logprobs, _ = self._sample_and_score(reference, prompt_ids, ([], []), encoded, -1 - self.seed,
                                                              self._reference_passes)
            self._reference_samples = (prompt_ids, completions, logprobs)
        return self._reference_samples
