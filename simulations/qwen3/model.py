"""The policy: a small Qwen3 built from its config, or a local Qwen3 checkpoint.

``tiny`` is the library's :func:`nondecoupling.bridge.models.tiny.build_tiny_qwen3` (transformers'
own :class:`~transformers.Qwen3ForCausalLM` at a size a CPU trains in minutes, randomly
initialised from ``seed``). It is *not* the released Qwen3-0.6B checkpoint; for that, pass a local directory holding it
(nothing is downloaded: ``local_files_only=True``).
"""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase, Qwen3ForCausalLM

from nondecoupling.bridge.models.tiny import CHARACTERS, TinyQwen3Size, build_char_tokenizer, build_tiny_qwen3, use_pure_sampling

__all__ = ["TinyQwen3Size", "build_tiny_qwen3", "load_policy"]


def load_policy(
    model: str, size: TinyQwen3Size, *, seed: int, dtype: torch.dtype = torch.float32, device: str = "cpu",
    characters: str = CHARACTERS,
) -> tuple[Qwen3ForCausalLM, PreTrainedTokenizerBase]:
    """The policy and its tokenizer: ``"tiny"`` builds one here, anything else is a local path.

    A local checkpoint keeps its own tokenizer's conventions (Qwen's: no BOS, ``<|im_end|>``
    as EOS; a missing pad token falls back to EOS) and is loaded directly in ``dtype``.

    Parameters
    ----------
    model : str
        ``"tiny"``, or a directory with a Qwen3 checkpoint and its tokenizer
        (``from_pretrained(path, local_files_only=True)``).
    size : TinyQwen3Size
        Used for ``"tiny"`` only.
    seed : int
        Seeds the tiny model's initialisation.
    dtype : torch.dtype
        The weights' dtype.
    device : str
        Where the model lives (``"cpu"``, ``"cuda"``).
    characters : str
        ``"tiny"`` only: the character tokenizer's vocabulary (the task's ``characters``).

    Returns
    -------
    (model, tokenizer)
    """
    if model == "tiny":
        tokenizer = build_char_tokenizer(characters)
        return build_tiny_qwen3(tokenizer, size, seed=seed).to(device=device, dtype=dtype), tokenizer
    tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=True, padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    policy = AutoModelForCausalLM.from_pretrained(model, local_files_only=True, dtype=dtype).to(device)
    use_pure_sampling(policy, tokenizer)
    return policy, tokenizer

