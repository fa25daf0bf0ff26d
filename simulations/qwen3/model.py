"""The policy: a small Qwen3 built here from its config, or a local Qwen3 checkpoint.

``tiny`` is transformers' own :class:`~transformers.Qwen3ForCausalLM` (the Qwen3-0.6B
architecture: RMSNorm, QK-norm, grouped-query attention, SwiGLU MLP, rotary positions,
tied embeddings) at a size a CPU trains in minutes, randomly initialised from ``seed``. It
is *not* the released Qwen3-0.6B checkpoint; for that, pass a local directory holding it
(nothing is downloaded: ``local_files_only=True``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase, Qwen3Config, Qwen3ForCausalLM

from nondecoupling.validation import check_integer
from simulations.qwen3.tokenizer import CHARACTERS, build_char_tokenizer


@dataclass(frozen=True)
class TinyQwen3Size:
    """The sizes of a tiny Qwen3 (Qwen3-0.6B: 1024 / 28 / 16 / 8 / 128 / 3072).

    Raises
    ------
    ParameterError
        If a size is not a positive integer or the query heads are not a multiple of
        the key-value heads (grouped-query attention shares each key-value head).
    """

    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    head_dim: int = 16
    intermediate_size: int = 128

    def __post_init__(self):
        for name, value in asdict(self).items():
            check_integer(value, name, low=1)
        check_integer(self.num_heads / self.num_kv_heads, "num_heads / num_kv_heads")


def build_tiny_qwen3(
    tokenizer: PreTrainedTokenizerBase, size: TinyQwen3Size, *, seed: int, max_length: int = 32
) -> Qwen3ForCausalLM:
    """A randomly initialised Qwen3 causal LM over ``tokenizer``'s vocabulary.

    Parameters
    ----------
    tokenizer : PreTrainedTokenizerBase
        Supplies the vocabulary size and the pad / bos / eos ids.
    size : TinyQwen3Size
        Widths and depths.
    seed : int
        Seeds the initialisation (``torch.manual_seed``).
    max_length : int
        Longest prompt + response in tokens (the rotary table's length).

    Returns
    -------
    Qwen3ForCausalLM
        In float32, with a generation config that samples (temperature 1, no top-k/top-p
        truncation) and stops at ``[EOS]``.
    """
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=size.hidden_size,
        intermediate_size=size.intermediate_size,
        num_hidden_layers=size.num_layers,
        num_attention_heads=size.num_heads,
        num_key_value_heads=size.num_kv_heads,
        head_dim=size.head_dim,
        max_position_embeddings=max_length,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(config)
    _pure_sampling(model, tokenizer)
    return model


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
    _pure_sampling(policy, tokenizer)
    return policy, tokenizer


def _pure_sampling(model, tokenizer: PreTrainedTokenizerBase) -> None:
    """Sample from the model's own distribution: the verifier's reward is a mean under pi."""
    generation = model.generation_config
    generation.do_sample = True
    generation.temperature = 1.0
    generation.top_k = 0  # 0 and 1.0 switch the truncations off
    generation.top_p = 1.0
    generation.pad_token_id = tokenizer.pad_token_id
    generation.eos_token_id = tokenizer.eos_token_id
    generation.bos_token_id = tokenizer.bos_token_id
