"""Sequence-level log-probabilities of responses under a causal LM (needs torch).

The one place where prompt/response pairs become a padded batch and where
log pi(y | x) = sum over the response's tokens of log pi(token | prefix) is computed. K1,
the held-out SFT loss of the live callback and runner, and the probe's Hessians all use
this SEQUENCE-level quantity (a per-token mean would have to be multiplied back by the
response length). Every tensor is created on the model's device.
"""

from __future__ import annotations

import copy
import inspect
import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from nondecoupling.validation import ParameterError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

try:
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    raise ImportError("nondecoupling.bridge.models.sequences needs torch: pip install torch==2.13.0 && pip install -e '.[torch]'") from None


def pad_pairs(prompt_ids: Sequence[Sequence[int]], response_ids: Sequence[Sequence[int]], *, pad_id: int,
              device: torch.device | str | None = None) -> dict:
    """Right-padded ``prompt + response`` token ids with a mask on the response tokens.

    Parameters
    ----------
    prompt_ids, response_ids : sequence of list of int
        One prompt and one response per row (the response includes its EOS if it has one).
    pad_id : int
        Token id used for padding (it is never scored: the causal mask and the response
        mask keep it out).
    device : torch.device or str, optional
        Where the tensors live (the model's device).

    Returns
    -------
    dict
        ``input_ids``, ``attention_mask`` and ``response_mask`` (1 on response tokens), each of
        shape (rows, longest row). Right padding keeps every prompt at position 0, as in training.
    """
    pairs = list(zip(prompt_ids, response_ids, strict=True))
    prompt_lengths = np.fromiter((len(p) for p, _ in pairs), np.int64, len(pairs))
    lengths = prompt_lengths + np.fromiter((len(r) for _, r in pairs), np.int64, len(pairs))
    positions = np.arange(lengths.max())
    in_row = positions < lengths[:, None]
    input_ids = np.full(in_row.shape, pad_id, dtype=np.int64)
    # row-major: each prompt, then its response, row after row (no concatenated copy of each row)
    input_ids[in_row] = np.fromiter(itertools.chain.from_iterable(itertools.chain.from_iterable(pairs)), np.int64, int(lengths.sum()))
    response_mask = in_row & (positions >= prompt_lengths[:, None])
    batch = {"input_ids": input_ids, "attention_mask": in_row, "response_mask": response_mask}
    return {key: torch.from_numpy(value.astype(np.int64)).to(device) for key, value in batch.items()}


def response_token_ids(tokenizer: PreTrainedTokenizerBase, prompt: str, response: str) -> list[int]:
    """Token ids of ``response + EOS`` after ``prompt``, split as TRL's SFTTrainer splits them.

    The prompt is encoded with the tokenizer's special tokens (a BOS where the tokenizer adds
    one; none for Qwen's chat tokenizer), the pair as one string, and the response is what
    follows the prompt's ids; EOS ends it (the model must learn to stop).

    Raises
    ------
    ParameterError
        If the prompt's ids are not a prefix of the pair's (the tokenizer merges across the
        boundary, so the response's tokens are not well defined).
    """
    return responses_token_ids(tokenizer, [prompt], [response])[1][0]


def responses_token_ids(tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], responses: Sequence[str]) -> tuple[list[list[int]], list[list[int]]]:
    """:func:`response_token_ids` of many pairs in two batched tokenizer calls: (prompt ids, response ids)."""
    prompts, responses = list(prompts), list(responses)
    distinct = list(dict.fromkeys(prompts))  # held-out sets repeat each prompt once per response: encode it once
    by_prompt = dict(zip(distinct, tokenizer(distinct)["input_ids"]))
    prompt_ids = [by_prompt[prompt] for prompt in prompts]
    full_ids = tokenizer([p + r for p, r in zip(prompts, responses, strict=True)])["input_ids"]
    out = []
    for prompt, response, head, full in zip(prompts, responses, prompt_ids, full_ids):
        if full[: len(head)] != head:
            raise ParameterError("prompt", "a token prefix of prompt + response (the tokenizer merges across them)",
                                 f"{prompt!r} in {prompt + response!r}")
        ids = full[len(head) :]
        out.append(ids if ids and ids[-1] == tokenizer.eos_token_id else ids + [tokenizer.eos_token_id])
    return prompt_ids, out


def encode_pairs(tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], responses: Sequence[str], *,
                 device: torch.device | str | None = None) -> dict:
    """Tokenize prompt/response strings into :func:`pad_pairs`'s batch, as training sees them.

    Each prompt is encoded with the tokenizer's special tokens and each response is split off
    by :func:`response_token_ids`, so a model is scored on the same ids it was trained on. The
    EOS token belongs to the response: the model must learn to stop, and the expert's sequence
    probability includes it.
    """
    prompt_ids, response_ids = responses_token_ids(tokenizer, prompts, responses)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return pad_pairs(prompt_ids, response_ids, pad_id=pad, device=device)


def at_least_float32(logits: torch.Tensor) -> torch.Tensor:
    """``logits`` in float32 where they are bf16/fp16 (which lose the small probabilities the SFT loss is made
    of), else as they are: a float64 model is scored in float64.

    >>> at_least_float32(torch.zeros(1, dtype=torch.bfloat16)).dtype, at_least_float32(torch.zeros(1, dtype=torch.float64)).dtype
    (torch.float32, torch.float64)
    """
    return logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits


def sequence_logprobs(model: PreTrainedModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """log pi(response | prompt) per row: the sum of the response tokens' log-probabilities.

    The log-softmax runs in float32 at least (bf16/fp16 logits lose the small
    probabilities that the SFT loss is made of). Differentiable; wrap it in
    ``torch.no_grad()`` for evaluation.
    """
    logits = at_least_float32(model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1])
    targets = batch["input_ids"][:, 1:]
    token_logprobs = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return (token_logprobs * batch["response_mask"][:, 1:]).sum(dim=-1)


class PromptPass(NamedTuple):
    """One forward over distinct prompts of one length, shared by every continuation of them (:func:`prompt_pass`)."""

    ids: torch.Tensor  # (prompts, length) token ids
    cache: Any  # the key/value cache (a transformers Cache), or None where the model returns none
    last_logits: torch.Tensor  # (prompts, vocabulary), float32 or wider: what the first continuation token is drawn from


def prompt_pass(model: PreTrainedModel, prompt_ids: Sequence[Sequence[int]]) -> PromptPass:
    """Run prompts of one length once; their cache then serves every response to them.

    Only the last position's logits are computed where the model's ``forward`` takes
    ``logits_to_keep`` (a vocabulary-wide row per prompt token is what a large model's prompt pass
    would spend its memory on).

    Raises
    ------
    ParameterError
        If the prompts do not all have one length (group rows by prompt length).
    """
    if len({len(ids) for ids in prompt_ids}) != 1:
        raise ParameterError("prompt_ids", "prompts of one length (group rows by prompt length)", f"{len(prompt_ids)} prompts")
    ids = torch.tensor([list(p) for p in prompt_ids], device=model.device)
    keep = {"logits_to_keep": 1} if "logits_to_keep" in forward_parameters(model) else {}
    out = model(input_ids=ids, use_cache=True, **keep)
    cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
    if cache is not None and not hasattr(cache, "batch_select_indices"):
        cache = None
    return PromptPass(ids, cache, at_least_float32(out.logits[:, -1]))


_FORWARD_PARAMETERS: dict[type, set[str]] = {}


def forward_parameters(model: torch.nn.Module) -> set[str]:
    """The keywords of the model class's ``forward``, inspected once per class.

    A transformers ``forward`` sits under several decorators: its first signature took 4 ms of the
    first evaluation in a fresh process, so the callback's set-up calls this (:meth:`CouplingMeasurer.prepare`).
    """
    cls = type(model)
    if cls not in _FORWARD_PARAMETERS:
        _FORWARD_PARAMETERS[cls] = set(inspect.signature(cls.forward).parameters)
    return _FORWARD_PARAMETERS[cls]


def _continuation_cache(model, prompts: PromptPass, index: torch.Tensor) -> dict:
    """``forward`` keywords that continue the rows ``index`` of ``prompts``: a copy of their cache, so it serves again."""
    cache = copy.deepcopy(prompts.cache)
    cache.batch_select_indices(index)
    return _cache_keyword(model, cache)


def _cache_keyword(model, cache) -> dict:
    # transformers >= 5 names the argument ``cache`` (``past_key_values`` before; a name it does not know would be ignored)
    return {"cache" if "cache" in forward_parameters(model) else "past_key_values": cache}


def continuation_logprobs(model: PreTrainedModel, prompts: PromptPass, index: Sequence[int] | torch.Tensor,
                          response_ids: Sequence[Sequence[int]], *, pad_id: int) -> torch.Tensor:
    """log pi(response | prompt) of rows that continue the prompts ``prompts.ids[index]``.

    The first response token's log-probability comes from the prompt's last logits; the other
    tokens from ONE forward of each response without its last token (whose logits predict nothing
    scored) on a copy of the prompts' cache. A model without a cache is scored on the whole rows
    (:func:`sequence_logprobs`). Equal to ``sequence_logprobs(model, pad_pairs(...))`` to float
    tolerance.
    """
    index = torch.as_tensor(index, device=model.device)
    if prompts.cache is None:
        return sequence_logprobs(model, pad_pairs(prompts.ids[index].tolist(), response_ids, pad_id=pad_id, device=model.device))
    targets = pad_pairs([[] for _ in response_ids], response_ids, pad_id=pad_id, device=model.device)
    logits = prompts.last_logits[index, None]
    if targets["input_ids"].shape[1] > 1:  # tokens after the first need the response's own forward
        inputs = targets["input_ids"][:, :-1]
        mask = torch.cat([torch.ones_like(prompts.ids[index]), targets["attention_mask"][:, :-1]], 1)
        after = model(input_ids=inputs, attention_mask=mask, **_continuation_cache(model, prompts, index)).logits
        logits = torch.cat([logits, at_least_float32(after)], 1)  # position t predicts response token t
    token_logprobs = torch.log_softmax(logits, dim=-1).gather(-1, targets["input_ids"].unsqueeze(-1)).squeeze(-1)
    return (token_logprobs * targets["response_mask"]).sum(dim=-1)


def sample_continuations(model: PreTrainedModel, prompts: PromptPass, index: Sequence[int] | torch.Tensor, *, max_new_tokens: int, eos_id: int, pad_id: int,
                         generator: torch.Generator) -> tuple[list[list[int]], torch.Tensor]:
    """Completions of the prompts ``prompts.ids[index]`` drawn at temperature 1 (no truncation), with their log pi.

    Each step draws every row's next token from softmax(logits) with ``generator`` (finished rows
    too, then padded, as ``generate`` does), so the same generator gives ``generate``'s tokens
    under a processor that draws this way. A row ends at ``eos_id`` (included) or after
    ``max_new_tokens``; the steps stop when all rows have ended. The log-probability of each
    completion is summed from the logits the tokens were drawn from: no second scoring pass.
    ``model.generate`` is not used: it would run the prompts again (its own prompt pass) and
    return no log-probabilities without keeping every step's logits. :func:`sample_and_score`
    with no scored rows.
    """
    completions, logprobs, _ = sample_and_score(model, prompts, index, [], [], max_new_tokens=max_new_tokens, eos_id=eos_id,
                                                pad_id=pad_id, generator=generator)
    return completions, logprobs


def sample_and_score(model: PreTrainedModel, prompts: PromptPass, sample_index: Sequence[int] | torch.Tensor,
                     score_index: Sequence[int] | torch.Tensor, response_ids: Sequence[Sequence[int]], *, max_new_tokens: int,
                     eos_id: int, pad_id: int, generator: torch.Generator) -> tuple[list[list[int]], torch.Tensor, torch.Tensor]:
    """:func:`sample_continuations` of ``prompts.ids[sample_index]`` and :func:`continuation_logprobs` of
    ``response_ids`` after ``prompts.ids[score_index]``, on one token tree.

    While samples are drawn, each step's forward feeds every distinct prefix once: the samples'
    new tokens and the scored responses' next tokens (on the prompts' cache, one token per row),
    so a held-out response's first tokens shared by its siblings, or by a sample, are run once,
    and the scoring needs no forward of its own. A prefix's logits score the scored rows' next
    token (log pi(y_t | x, y_<t)) as they give the samples' draws. Once the samples have ended,
    the scored rows' remaining tokens take one forward (:func:`continuation_logprobs`). The
    samples, their log pi and the scores equal the two functions' to float tolerance (the same
    draws from the same generator). A model that returns no cache runs the whole prefixes at each step.

    Returns
    -------
    (completions in ``sample_index``'s order, their log pi, log pi of the scored rows)
    """
    device = model.device
    sample_node = torch.as_tensor(sample_index, dtype=torch.long, device=device).clone()
    score_node = torch.as_tensor(score_index, dtype=torch.long, device=device).clone()
    rows, width = len(sample_node), max(map(len, response_ids), default=0)
    targets = pad_pairs([[] for _ in response_ids], response_ids, pad_id=pad_id, device=device) if response_ids else None
    dtype = prompts.last_logits.dtype  # float32, or the model's float64
    scores = torch.zeros(len(response_ids), dtype=dtype, device=device)
    tokens = torch.empty((rows, 0), dtype=torch.long, device=device)
    logprob, ended = torch.zeros(rows, dtype=dtype, device=device), torch.zeros(rows, dtype=torch.bool, device=device)
    node, row_logits, depth = prompts, prompts.last_logits[sample_node], 0
    for depth in range(max_new_tokens if rows else 0):
        drawn = torch.multinomial(torch.softmax(row_logits, dim=-1), 1, generator=generator).squeeze(-1)
        logprob += _token_logprobs(row_logits, drawn).masked_fill(ended, 0.0)
        tokens = torch.cat([tokens, drawn.masked_fill(ended, pad_id)[:, None]], 1)
        ended |= drawn == eos_id
        if bool(ended.all()) or depth == max_new_tokens - 1:
            break
        live = (~ended).nonzero().squeeze(-1)
        going = torch.zeros(0, dtype=torch.long, device=device)
        if targets is not None and depth < width:
            scoring = targets["response_mask"][:, depth].nonzero().squeeze(-1)
            scores[scoring] += _token_logprobs(node.last_logits[score_node[scoring]], targets["input_ids"][scoring, depth])
            going = targets["response_mask"][:, depth + 1].nonzero().squeeze(-1) if depth + 1 < width else going
        fed = torch.cat([drawn[live], targets["input_ids"][going, depth] if targets is not None and len(going) else going])
        node, inverse = _extend(model, node, torch.cat([sample_node[live], score_node[going]]), fed, first=depth == 0)
        sample_node[live], score_node[going] = inverse[: len(live)], inverse[len(live) :]
        row_logits[live] = node.last_logits[sample_node[live]]
    if targets is not None and depth < width:
        rest = targets["response_mask"][:, depth].nonzero().squeeze(-1)
        scores[rest] += continuation_logprobs(model, node, score_node[rest], [response_ids[i][depth:] for i in rest.tolist()], pad_id=pad_id)
    completions = [row[: row.index(eos_id) + 1] if eos_id in row else row for row in tokens.tolist()]
    return completions, logprob, scores


def _token_logprobs(logits: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(logits, dim=-1).gather(-1, chosen[:, None]).squeeze(-1)


def _extend(model, node: PromptPass, parents: torch.Tensor, fed: torch.Tensor, *, first: bool) -> tuple[PromptPass, torch.Tensor]:
    """The prefixes ``node.ids[parents]`` + ``fed``, each distinct one run once: (their pass, each row's prefix in it).

    ``first``: ``node`` is the prompts' pass, whose cache serves again (continued on a copy); a deeper
    node's cache is continued in place (nothing else holds it).
    """
    vocabulary = max(node.last_logits.shape[-1], int(fed.max()) + 1)
    distinct, inverse = torch.unique(parents * vocabulary + fed, return_inverse=True)
    parent, token = distinct // vocabulary, distinct % vocabulary
    ids = torch.cat([node.ids[parent], token[:, None]], 1)
    if node.cache is None:  # no cache: the whole prefixes again
        return PromptPass(ids, None, at_least_float32(model(input_ids=ids).logits[:, -1])), inverse
    if first:
        state = _continuation_cache(model, node, parent)
    else:
        node.cache.batch_select_indices(parent)
        state = _cache_keyword(model, node.cache)
    out = model(input_ids=token[:, None], attention_mask=torch.ones_like(ids), **state)
    return PromptPass(ids, next(iter(state.values())), at_least_float32(out.logits[:, -1])), inverse


def shared_prompt_logprobs(model: PreTrainedModel, prompt_ids: Sequence[Sequence[int]], response_ids: Sequence[Sequence[int]], *,
                           pad_id: int) -> torch.Tensor:
    """:func:`sequence_logprobs` of rows whose prompts all have one length, each distinct prompt run once.

    :func:`prompt_pass` over the distinct prompts, then :func:`continuation_logprobs`: a prompt
    shared by k responses costs one pass instead of k. The same numbers as
    ``sequence_logprobs(model, pad_pairs(...))`` to float tolerance; a model that returns no cache
    is scored that way.
    """
    distinct = list(dict.fromkeys(tuple(ids) for ids in prompt_ids))
    position = {ids: i for i, ids in enumerate(distinct)}
    prompts = prompt_pass(model, distinct)
    return continuation_logprobs(model, prompts, [position[tuple(ids)] for ids in prompt_ids], response_ids, pad_id=pad_id)
