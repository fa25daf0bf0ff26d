"""Character-level tokenizers for the digit tasks, built locally (no download).

:func:`build_char_tokenizer` is the library's (:mod:`nondecoupling.bridge.models.tiny`): one token per
character of ``0123456789+=`` plus ``[PAD] [BOS] [EOS] [UNK]``.

:func:`build_qwen_style_tokenizer` has Qwen's special tokens and conventions instead (no BOS,
``<|im_end|>`` as EOS, ``<|endoftext|>`` as padding), to test the runner on a local
checkpoint that looks like a released Qwen3 one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nondecoupling.bridge.models.tiny import CHARACTERS, SPECIAL_TOKENS, build_char_tokenizer

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

__all__ = ["CHARACTERS", "QWEN_SPECIAL_TOKENS", "SPECIAL_TOKENS", "build_char_tokenizer", "build_qwen_style_tokenizer"]

# tokenizers and transformers (the torch extra) load in the builders only: the character sets
# are imported by the tasks and by the figures, which need no torch.

QWEN_SPECIAL_TOKENS = {"pad_token": "<|endoftext|>", "eos_token": "<|im_end|>"}


def build_qwen_style_tokenizer() -> PreTrainedTokenizerFast:
    """A character tokenizer with Qwen's chat tokens: no BOS, EOS ``<|im_end|>``, pad ``<|endoftext|>``.

    Returns
    -------
    transformers.PreTrainedTokenizerFast
        Ids 0-2 are ``<|endoftext|> <|im_start|> <|im_end|>``, then one id per character;
        left padding; nothing is added to an encoding (Qwen's tokenizer adds no BOS).
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = [QWEN_SPECIAL_TOKENS["pad_token"], "<|im_start|>", QWEN_SPECIAL_TOKENS["eos_token"]]
    vocab = {token: index for index, token in enumerate(specials)}
    vocab.update({char: len(vocab) + index for index, char in enumerate(CHARACTERS)})
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=QWEN_SPECIAL_TOKENS["pad_token"]))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    backend.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=backend, padding_side="left", bos_token=None,
                                   additional_special_tokens=["<|im_start|>"], **QWEN_SPECIAL_TOKENS)
