"""The Qwen3 bridge: SFT/RL pipelines on the Qwen3 architecture, logged for ``nondecoupling.bridge``.

The paper's experiment uses Qwen3-0.6B. Its weights cannot be downloaded here, so this
package trains transformers' Qwen3 classes (a small model built from its config, or a local
checkpoint passed as a path) on a synthetic verifiable task whose imperfect expert is known
exactly, so that K1's ``CE(p*, pi) >= H(p*) + kl(a || b)`` can be checked with exact
``H(p*)`` and ``a``.

| module | contents |
|---|---|
| :mod:`~simulations.qwen3.task` | the task interface and registry (``--task``); digit tasks (reverse, add), expert and broad distributions, verifier, exact a and H(p*) |
| :mod:`~simulations.qwen3.tokenizer` | locally built character tokenizers (this task's, and one with Qwen's chat tokens) |
| :mod:`~simulations.qwen3.model` | tiny Qwen3 from config, or a local checkpoint, in a dtype, on a device |
| :mod:`~simulations.qwen3.stages` | TRL SFT / GRPO stages, device and precision, and the run's public ``CouplingCallback`` |
| :mod:`~simulations.qwen3.runner` | pipelines and the files they write (logs, ``model/``) |

Run it with ``python -m simulations.qwen3 --help``.
"""
