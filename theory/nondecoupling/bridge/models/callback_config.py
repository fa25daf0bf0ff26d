"""What :class:`~nondecoupling.bridge.models.callback.CouplingCallback` measures and when: its one argument.

>>> config = CouplingConfig(["2+2="], ["4"], expert_pass_rate=0.6, stop_at="optimal")
>>> config.every_steps, config.restore_best
(10, True)
>>> CouplingConfig(["2+2="], ["4"], every_steps=0)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
nondecoupling.validation.ParameterError: ...parameter 'every_steps' must be >= 1; got 0.0...
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from nondecoupling.validation import ParameterError, check_integer, check_nonnegative, check_positive, check_rate


@dataclass
class CouplingConfig:
    """What the callback measures and when (the measurer's arguments are passed through).

    reference_model: a frozen model, or ``"rl_start"`` (the policy as each RL stage begins).
    expert_pass_rate, expert_entropy: a = E_{p*} r and H(p*) (K1's floor, ``run_meta.json``).
    every_steps: the evaluation interval; stop_at: None or ``"optimal"`` (online P3's stop);
    lam: the SFT loss's weight in the net gain; growth: the RL schedule's geometric start.
    max_overhead: the share of training time that scheduled evaluations may take (None: every one
    is made on time); the live stop's schedule (``stop_at`` in RL) is not budgeted.
    restore_best: keep the restore step's trainable weights (one CPU copy) and put them back when
    the RL stage ends; None (default): on with ``stop_at``; needs ``stop_at``.
    """

    prompts: Sequence[str]
    responses: Sequence[str]
    weights: Sequence[float] | None = None
    reward_fn: Callable | None = None
    exact_pass_rate: bool = False
    reference_model: torch.nn.Module | str | None = None
    expert_pass_rate: float | None = None
    expert_entropy: float | None = None
    output_dir: str | Path | None = None
    every_steps: int = 10
    stop_at: str | None = None
    lam: float = 1.0
    growth: float = 1.5
    dense_start: bool | None = None  # the geometric start: None = in RL stages with stop_at; True = every stage
    phase: str = "auto"
    measure: dict = field(default_factory=dict)  # samples_per_prompt, max_new_tokens, batch_size, tokenizer
    seed: int = 0
    max_overhead: float | None = 0.05
    restore_best: bool | None = None

    def __post_init__(self):
        checks = {"phase": (self.phase in ("auto", "sft", "rl"), "'auto', 'sft' or 'rl'"),
                  "stop_at": (self.stop_at in (None, "optimal"), "None or 'optimal'"),
                  "reference_model": (not isinstance(self.reference_model, str) or self.reference_model == "rl_start",
                                      "a model, 'rl_start' or None"),
                  "restore_best": (not self.restore_best or self.stop_at is not None, "False or None without stop_at")}
        for name, (ok, constraint) in checks.items():
            if not ok:
                raise ParameterError(name, constraint, repr(getattr(self, name)))
        self.every_steps = int(check_integer(self.every_steps, "every_steps", low=1))
        self.lam = float(check_positive(self.lam, "lam"))
        if self.max_overhead is not None:
            self.max_overhead = float(check_positive(self.max_overhead, "max_overhead"))
        if self.expert_pass_rate is not None:
            self.expert_pass_rate = float(check_rate(self.expert_pass_rate, "expert_pass_rate"))
        if self.expert_entropy is not None:
            self.expert_entropy = float(check_nonnegative(self.expert_entropy, "expert_entropy"))
        self.restore_best = self.stop_at is not None if self.restore_best is None else bool(self.restore_best)
