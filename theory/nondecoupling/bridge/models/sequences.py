"""Sequence-level log-probabilities of responses under a causal LM (needs torch).

The one place where prompt/response pairs become a padded batch and where
log pi(y | x) = sum over the response's tokens of log pi(token | prefix) is computed. K1,
the held-out SFT loss of the live callback and runner, and the probe's Hessians all use
this SEQUENCE-level quantity (a per-token mean would have to be multiplied back by the
response length). Every tensor is created on the model's device.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING

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
    rows = [list(p) + list(r) for p, r in zip(prompt_ids, response_ids, strict=True)]
    lengths = np.array([len(row) for row in rows])
    positions = np.arange(lengths.max())
    in_row = positions < lengths[:, None]
    input_ids = np.full(in_row.shape, pad_id, dtype=np.int64)
    input_ids[in_row] = np.fromiter(itertools.chain.from_iterable(rows), np.int64, int(lengths.sum()))  # row-major: each row in order
    response_mask = in_row & (positions >= np.array([len(p) for p in prompt_ids])[:, None])
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
    prompt_ids = tokenizer(prompts)["input_ids"]
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


def sequence_logprobs(model: PreTrainedModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """log pi(response | prompt) per row: the sum of the response tokens' log-probabilities.

    The log-softmax runs in float32 at least (bf16/fp16 logits lose the small
    probabilities that the SFT loss is made of). Differentiable; wrap it in
    ``torch.no_grad()`` for evaluation.
    """
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    targets = batch["input_ids"][:, 1:]
    token_logprobs = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return (token_logprobs * batch["response_mask"][:, 1:]).sum(dim=-1)


def shared_prompt_logprobs(model: PreTrainedModel, prompt_ids: Sequence[Sequence[int]], response_ids: Sequence[Sequence[int]], *,
                           pad_id: int) -> torch.Tensor:
    """:func:`sequence_logprobs` of rows whose prompts all have one length, each distinct prompt run once.

    The prompts' key/value cache is copied to each of their responses (``batch_select_indices``),
    so a prompt shared by k responses costs one pass instead of k; the first response token's
    log-probability comes from the prompt's last logits. The same numbers as
    ``sequence_logprobs(model, pad_pairs(...))`` to float tolerance; a model that returns no cache
    is scored that way.
    """
    distinct = list(dict.fromkeys(tuple(ids) for ids in prompt_ids))
    if len({len(ids) for ids in distinct}) != 1:
        raise ParameterError("prompt_ids", "prompts of one length (group rows by prompt length)", f"{len(distinct)} prompts")
    position = {ids: i for i, ids in enumerate(distinct)}
    index = torch.tensor([position[tuple(ids)] for ids in prompt_ids], device=model.device)
    prompts = model(input_ids=torch.tensor(distinct, device=model.device), use_cache=True)
    cache = getattr(prompts, "cache", None) or getattr(prompts, "past_key_values", None)
    if cache is None or not hasattr(cache, "batch_select_indices"):
        return sequence_logprobs(model, pad_pairs(prompt_ids, response_ids, pad_id=pad_id, device=model.device))
    cache.batch_select_indices(index)
    batch = pad_pairs([[] for _ in response_ids], response_ids, pad_id=pad_id, device=model.device)
    prefix = torch.ones((len(response_ids), len(distinct[0])), dtype=torch.long, device=model.device)
    # transformers >= 5 names the argument ``cache`` (``past_key_values`` before; a name it does not know would be ignored)
    name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    logits = model(input_ids=batch["input_ids"], attention_mask=torch.cat([prefix, batch["attention_mask"]], 1),
                   **{name: cache}).logits
    logits = torch.cat([prompts.logits[index, -1:], logits[:, :-1]], 1)  # position t predicts response token t
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    token_logprobs = torch.log_softmax(logits, dim=-1).gather(-1, batch["input_ids"].unsqueeze(-1)).squeeze(-1)
    return (token_logprobs * batch["response_mask"]).sum(dim=-1)
