"""Character-level tokenizers for the digit tasks, built locally (no download).

One token per character of ``0123456789+=`` plus ``[PAD] [BOS] [EOS] [UNK]``. It is a
``tokenizers`` WordLevel model behind a per-character split, wrapped in
:class:`transformers.PreTrainedTokenizerFast` so TRL's trainers and ``generate`` use it
like any Hugging Face tokenizer. ``[BOS]`` is prepended to every encoding and the ``Fuse``
decoder joins characters back without spaces, so ``decode(encode("3+4=07"))`` round-trips.

:func:`build_qwen_style_tokenizer` has Qwen's special tokens and conventions instead (no BOS,
``<|im_end|>`` as EOS, ``<|endoftext|>`` as padding), to test the runner on a local
checkpoint that looks like a released Qwen3 one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

# tokenizers and transformers (the torch extra) load in the builders only: the character sets
# below are imported by the tasks and by the figures, which need no torch.

QWEN_SPECIAL_TOKENS = {"pad_token": "<|endoftext|>", "eos_token": "<|im_end|>"}
SPECIAL_TOKENS = {"pad_token": "[PAD]", "bos_token": "[BOS]", "eos_token": "[EOS]", "unk_token": "[UNK]"}
CHARACTERS = "0123456789+="


def build_char_tokenizer(characters: str = CHARACTERS) -> PreTrainedTokenizerFast:
    """The task's tokenizer: ids 0-3 are ``[PAD] [BOS] [EOS] [UNK]``, then one id per character.

    Parameters
    ----------
    characters : str
        The vocabulary after the special tokens; the default is the digit tasks'. A task
        with more characters passes ``CHARACTERS + extra`` (the digit ids stay the same).

    Returns
    -------
    transformers.PreTrainedTokenizerFast
        Left padding (decoder-only generation), ``[BOS]`` prepended, no chat template.
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
