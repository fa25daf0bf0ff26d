"""The Qwen3 bridge: SFT/RL pipelines on the Qwen3 architecture, logged for ``nondecoupling.bridge``.

The paper's experiment uses Qwen3-0.6B. Its weights cannot be downloaded here, so this
package trains transformers' Qwen3 classes (a small model built from its config, or a local
checkpoint passed as a path) on a synthetic verifiable task whose imperfect expert is known
exactly, so that K1's ``CE(p*, pi) >= H(p*) + kl(a || b)`` can be checked with exact
``H(p*)`` and ``a``.

| module | contents |
|---|---|
| :mod:`~simulations.qwen3.task` | digit tasks (reverse, add), expert and broad distributions, verifier, exact a and H(p*) |
| :mod:`~simulations.qwen3.tokenizer` | locally built character tokenizer |
| :mod:`~simulations.qwen3.model` | tiny Qwen3 from config, or a local checkpoint |
| :mod:`~simulations.qwen3.stages` | TRL SFT / GRPO stages and the evaluation callback |
| :mod:`~simulations.qwen3.runner` | pipelines and the files they write |

Run it with ``python -m simulations.qwen3 --help``.
"""
