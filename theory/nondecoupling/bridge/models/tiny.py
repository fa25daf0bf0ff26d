"""A tiny Qwen3 and a character tokenizer, built locally: a model to try the callback and the probe on.

``build_tiny_qwen3`` is transformers' own :class:`~transformers.Qwen3ForCausalLM` (the
Qwen3-0.6B architecture: RMSNorm, QK-norm, grouped-query attention, SwiGLU MLP, rotary
positions, tied embeddings) at a size a CPU trains in minutes, randomly initialised from
``seed``. It is *not* the released Qwen3-0.6B checkpoint; nothing is downloaded.

``build_char_tokenizer`` has one token per character of ``0123456789+=`` (or of the
characters passed) plus ``[PAD] [BOS] [EOS] [UNK]``: a ``tokenizers`` WordLevel model behind a
per-character split, wrapped in :class:`transformers.PreTrainedTokenizerFast` so TRL's trainers
and ``generate`` use it like any Hugging Face tokenizer. ``[BOS]`` is prepended to every
encoding and the ``Fuse`` decoder joins characters back without spaces.

Needs the torch extra (``pip install 'nondecoupling[torch]'``); torch, tokenizers and
transformers load in the builders only, so the character sets import without them.

Examples
--------
>>> from nondecoupling.bridge.models.tiny import TinyQwen3Size, build_char_tokenizer, build_tiny_qwen3
>>> tokenizer = build_char_tokenizer()
>>> tokenizer.decode(tokenizer("3+4=07")["input_ids"], skip_special_tokens=True)
'3+4=07'
>>> model = build_tiny_qwen3(tokenizer, TinyQwen3Size(hidden_size=16, head_dim=8), seed=0)
>>> model.config.vocab_size
16
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from nondecoupling.validation import check_integer

#: What this module's ``>>>`` examples import (the pytest-doctestplus convention): the doctest
#: run skips them where the torch extra is not installed, as the module itself imports without it.
__doctest_requires__ = {"*": ["torch", "tokenizers", "transformers"]}

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast, Qwen3ForCausalLM

SPECIAL_TOKENS = {"pad_token": "[PAD]", "bos_token": "[BOS]", "eos_token": "[EOS]", "unk_token": "[UNK]"}
CHARACTERS = "0123456789+="


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

    def __post_init__(self) -> None:
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
        truncation) and stops at the tokenizer's EOS (see :func:`use_pure_sampling`).
    """
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

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
    use_pure_sampling(model, tokenizer)
    return model


def use_pure_sampling(model: Any, tokenizer: PreTrainedTokenizerBase) -> None:
    """Make ``model.generate`` sample from the model's own distribution (in place).

    Temperature 1 and no top-k / top-p truncation: a verifier's reward averaged over such
    samples is an unbiased estimate of the mean reward under pi. The pad / bos / eos ids
    are the tokenizer's.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        A model with a ``generation_config``.
    tokenizer : PreTrainedTokenizerBase
        Supplies the pad / bos / eos ids.
    """
    generation = model.generation_config
    generation.do_sample = True
    generation.temperature = 1.0
    generation.top_k = 0  # 0 and 1.0 switch the truncations off
    generation.top_p = 1.0
    generation.pad_token_id = tokenizer.pad_token_id
    generation.eos_token_id = tokenizer.eos_token_id
    generation.bos_token_id = tokenizer.bos_token_id


def build_char_tokenizer(characters: str = CHARACTERS) -> PreTrainedTokenizerFast:
    """A character tokenizer: ids 0-3 are ``[PAD] [BOS] [EOS] [UNK]``, then one id per character.

    Parameters
    ----------
    characters : str
        The vocabulary after the special tokens; the default is the digit tasks'. A task
        with more characters passes ``CHARACTERS + extra`` (the digit ids stay the same).

    Returns
    -------
    transformers.PreTrainedTokenizerFast
        Left padding (decoder-only generation), ``[BOS]`` prepended, no chat template;
        ``decode(encode(text))`` round-trips.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS.values())}
    vocab.update({char: len(vocab) + index for index, char in enumerate(characters)})
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=SPECIAL_TOKENS["unk_token"]))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    backend.decoder = decoders.Fuse()
    bos = SPECIAL_TOKENS["bos_token"]
    backend.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A $B", special_tokens=[(bos, vocab[bos])]
    )
    return PreTrainedTokenizerFast(tokenizer_object=backend, padding_side="left", **SPECIAL_TOKENS)
