"""Sequence-level log-probabilities of responses under a causal LM (needs torch).

The one place where prompt/response pairs become a padded batch and where
log pi(y | x) = sum over the response's tokens of log pi(token | prefix) is computed. K1,
the held-out SFT loss of the live callback and runner, and the probe's Hessians all use
this SEQUENCE-level quantity (a per-token mean would have to be multiplied back by the
response length). Every tensor is created on the model's device.
"""

from __future__ import annotations

from nondecoupling.validation import ParameterError

try:
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    raise ImportError("nondecoupling.bridge.sequences needs torch: pip install torch==2.13.0 && pip install -e '.[torch]'") from None


def pad_pairs(prompt_ids, response_ids, *, pad_id: int, device=None) -> dict:
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
    lengths = torch.tensor([len(row) for row in rows])
    width = int(lengths.max())
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    response_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for index, (prompt, row) in enumerate(zip(prompt_ids, rows)):
        input_ids[index, : len(row)] = torch.tensor(row, dtype=torch.long)
        response_mask[index, len(prompt) : len(row)] = 1
    attention_mask = (torch.arange(width) < lengths[:, None]).long()
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "response_mask": response_mask}
    return {key: value.to(device) for key, value in batch.items()}


def response_token_ids(tokenizer, prompt: str, response: str) -> list[int]:
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
    prompt_ids = tokenizer(prompt)["input_ids"]
    full_ids = tokenizer(prompt + response)["input_ids"]
    if full_ids[: len(prompt_ids)] != prompt_ids:
        raise ParameterError("prompt", "a token prefix of prompt + response (the tokenizer merges across them)",
                             f"{prompt!r} in {prompt + response!r}")
    ids = full_ids[len(prompt_ids) :]
    return ids if ids and ids[-1] == tokenizer.eos_token_id else ids + [tokenizer.eos_token_id]


def encode_pairs(tokenizer, prompts, responses, *, device=None) -> dict:
    """Tokenize prompt/response strings into :func:`pad_pairs`'s batch, as training sees them.

    Each prompt is encoded with the tokenizer's special tokens and each response is split off
    by :func:`response_token_ids`, so a model is scored on the same ids it was trained on. The
    EOS token belongs to the response: the model must learn to stop, and the expert's sequence
    probability includes it.
    """
    prompt_ids = [tokenizer(prompt)["input_ids"] for prompt in prompts]
    response_ids = [response_token_ids(tokenizer, p, r) for p, r in zip(prompts, responses, strict=True)]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return pad_pairs(prompt_ids, response_ids, pad_id=pad, device=device)


def sequence_logprobs(model, batch) -> torch.Tensor:
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
