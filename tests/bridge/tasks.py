"""A small verifiable task for the callback's tests: prompts, one correct answer each, an imperfect expert.

The bridge's tests need a task whose expert quantities are exact (the pass rate a and the
entropy H(p*)) and a 0/1 verifier. It is written here, not imported from the experiments:
the library's tests run without the experiments' package.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ExpertTask:
    """Each prompt has one correct ``width``-digit answer; the expert gives it probability a.

    The expert spreads ``1 - a`` uniformly over ``num_wrong`` near misses: the correct value
    +1, -1, +2, -2, ... modulo ``10**width`` (distinct while ``num_wrong < 10**width``).
    """

    values: tuple[tuple[str, int], ...]  # (prompt, correct value)
    width: int
    expert_pass_rate: float
    num_wrong: int

    @classmethod
    def addition(cls, num_operands: int, width: int, *, expert_pass_rate: float = 0.6, num_wrong: int = 4) -> ExpertTask:
        """``"i+j="`` for i, j < ``num_operands``; the answer is i + j, zero-padded."""
        values = tuple((f"{i}+{j}=", i + j) for i in range(num_operands) for j in range(num_operands))
        return cls(values, width, expert_pass_rate, num_wrong)

    @classmethod
    def echo(cls, *, expert_pass_rate: float, num_wrong: int) -> ExpertTask:
        """``"d="`` for each digit d; the answer is d (a one-digit reversal)."""
        return cls(tuple((f"{d}=", d) for d in range(10)), 1, expert_pass_rate, num_wrong)

    @property
    def prompts(self) -> list[str]:
        return [prompt for prompt, _ in self.values]

    def correct_answer(self, prompt: str) -> str:
        return self._format(dict(self.values)[prompt])

    def reward(self, prompt: str, completion: str) -> float:
        """The verifier: 1.0 if the completion is exactly the correct answer, else 0.0."""
        return float(completion.strip() == self.correct_answer(prompt))

    def expert_distribution(self, prompt: str) -> dict[str, float]:
        """p*(. | prompt) as ``{answer: probability}``, the correct answer first."""
        value = dict(self.values)[prompt]
        misses = [(k // 2 + 1) * (1 if k % 2 == 0 else -1) for k in range(self.num_wrong)]
        wrong = (1.0 - self.expert_pass_rate) / self.num_wrong
        return {self._format(value): self.expert_pass_rate, **{self._format(value + m): wrong for m in misses}}

    @property
    def expert_entropy(self) -> float:
        """H(p*) in nats, the same for every prompt: H_b(a) + (1 - a) log M."""
        a = self.expert_pass_rate
        return -a * math.log(a) - (1.0 - a) * math.log1p(-a) + (1.0 - a) * math.log(self.num_wrong)

    def sample_expert(self, size: int, rng: np.random.Generator) -> list[dict[str, str]]:
        """``size`` prompt-completion records (TRL's format): uniform prompts, answers from p*."""
        records = []
        for index in rng.integers(len(self.values), size=size):
            prompt = self.values[index][0]
            answers, probs = zip(*self.expert_distribution(prompt).items())
            records.append({"prompt": prompt, "completion": answers[rng.choice(len(answers), p=probs)]})
        return records

    def _format(self, value: int) -> str:
        return str(value % 10**self.width).zfill(self.width)


def task_reward(task: ExpertTask):
    """The task's verifier with TRL's reward-function signature (GRPO and the callback share it)."""

    def verifier(prompts, completions, **kwargs):
        return [task.reward(p, c) for p, c in zip(prompts, completions, strict=True)]

    return verifier
