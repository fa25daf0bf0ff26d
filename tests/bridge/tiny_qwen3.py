"""A tiny Qwen3 causal LM and a character-level tokenizer, built locally (nothing downloaded).

Shared by the probe tests and the TRL fixture generator: transformers' real Qwen3 classes
at a size where a dense Hessian is cheap (a few hundred parameters).
"""

from __future__ import annotations

ALPHABET = "ab+=0123456789"
SPECIALS = ["<pad>", "<eos>", "<unk>"]


def make_tokenizer():
    """Character-level tokenizer over :data:`ALPHABET`, wrapped in PreTrainedTokenizerFast."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIALS + list(ALPHABET))}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    # Split every character into its own token (the regex matches one character).
    backend.pre_tokenizer = pre_tokenizers.Split(pattern=Regex("."), behavior="isolated")
    backend.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )


def make_model(tokenizer, *, hidden_size: int = 8, layers: int = 1, seed: int = 0):
    """A Qwen3ForCausalLM with ``hidden_size`` and ``layers`` (eager attention, float32)."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=hidden_size // 2,
        max_position_embeddings=64,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
        attn_implementation="eager",
    )
    return Qwen3ForCausalLM(config).float()
