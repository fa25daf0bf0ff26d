"""Verifiable digit tasks whose expert distribution, and so every K-quantity, is exact.

Two operations, both answered by a string of ``answer_width`` digits that the verifier
accepts exactly and nothing else:

* ``reverse`` (the default): prompts ``"37="`` over all ``answer_width``-digit strings,
  answer ``"73"``. A string transform a tiny model learns in CPU minutes.
* ``add``: prompts ``"a+b="`` over operands ``0 .. num_operands - 1``, answer the sum
  zero-padded (``"3+4="`` -> ``"07"``). Learning the 100-entry addition table needs far
  more steps; small models stay blurred by +-1 within the CPU budget.

Two answer distributions are defined per prompt, both supported on answers
``correct + offset (mod 10**answer_width)`` (the answer read as an integer):

* the imperfect **expert** p*: the correct answer with probability ``a``
  (``expert_pass_rate``), and the ``num_wrong`` nearest wrong answers (offsets +1, -1, +2,
  -2, ...) with ``(1 - a) / num_wrong`` each;
* the **broad** distribution that makes the base model: uniform over offsets
  ``-base_radius .. base_radius``, so the base model already passes with probability
  ``1 / (2 base_radius + 1)`` and RL has a signal from the first step.

Because p* is the same up to relabelling for every prompt,

.. math::  a = E_{p^*} r, \\qquad H(p^*) = H_b(a) + (1 - a) \\log M

exactly (nats, sequence level: the end-of-sequence token that closes every response is
deterministic and adds no entropy), which is what K1's bound ``CE(p*, pi) >= H(p*) +
kl(a || b)`` needs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np

from nondecoupling.validation import check_integer, check_interval
from simulations.qwen3.cola import ColaTask

OPERATIONS = ("reverse", "add")


class VerifiableTask(Protocol):
    """What the runner needs of a task (:class:`DigitTask` is one; ``--task`` picks from :data:`TASKS`).

    ``prompts`` are all prompts; ``expert_distribution(prompt)`` is p*(. | prompt) as
    ``{response: probability}`` (its support is the held-out set, weighted); the verifier
    ``reward(prompt, text)`` accepts exactly ``correct_answer(prompt)``; ``expert_pass_rate``
    (a) and ``expert_entropy`` (H(p*), nats, sequence level) are exact; ``sample(kind, size,
    rng)`` draws prompt-completion records from the ``"expert"`` distribution or (for
    pretraining, ``pretrain_steps > 0``) a ``"base"`` one; ``to_dict()`` goes to ``run_meta.json``.
    """

    @property
    def prompts(self) -> list[str]: ...

    @property
    def expert_pass_rate(self) -> float: ...

    @property
    def expert_entropy(self) -> float: ...

    def expert_distribution(self, prompt: str) -> dict[str, float]: ...

    def correct_answer(self, prompt: str) -> str: ...

    def reward(self, prompt: str, completion: str) -> float: ...

    def sample(self, distribution: str, size: int, rng: np.random.Generator) -> list[dict[str, str]]: ...

    def to_dict(self) -> dict: ...


@dataclass(frozen=True)
class DigitTask:
    """A verifiable digit task with an imperfect expert of known pass rate.

    Parameters
    ----------
    operation : {"reverse", "add"}
        Reverse an ``answer_width``-digit string, or add two operands.
    num_operands : int
        ``add`` only: operands range over ``0 .. num_operands - 1`` (``num_operands**2``
        prompts).
    answer_width : int
        Digits in every answer (zero-padded, modulo ``10**answer_width``).
    expert_pass_rate : float
        The expert's probability ``a`` of the correct answer, in (0, 1).
    num_wrong : int
        Number ``M`` of wrong answers the expert spreads ``1 - a`` over, uniformly.
    base_radius : int
        The broad (base) distribution is uniform over ``2 base_radius + 1`` answers
        around the correct one.

    Raises
    ------
    ParameterError
        If a parameter is out of range, or the answers around the sum would collide
        modulo ``10**answer_width``.
    """

    operation: str = "reverse"
    num_operands: int = 10
    answer_width: int = 2
    expert_pass_rate: float = 0.6
    num_wrong: int = 4
    base_radius: int = 4

    def __post_init__(self):
        if self.operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {OPERATIONS}; got {self.operation!r}")
        check_integer(self.num_operands, "num_operands", low=1)
        check_integer(self.answer_width, "answer_width", low=1)
        # a < 1 keeps the expert imperfect (K1's interesting case), a > 0 keeps H(p*) finite.
        check_interval(self.expert_pass_rate, "expert_pass_rate", low=0.0, high=1.0, low_open=True, high_open=True)
        check_integer(self.num_wrong, "num_wrong", low=1)
        check_integer(self.base_radius, "base_radius", low=0)
        answers = 10**self.answer_width
        # Distinct answers need every offset distinct mod 10**width, and the correct sum
        # itself must fit in the width.
        check_interval(self.num_wrong, "num_wrong", high=answers - 1)
        check_interval(2 * self.base_radius + 1, "2 * base_radius + 1", high=answers)
        if self.operation == "add":
            check_interval(2 * (self.num_operands - 1), "2 * (num_operands - 1), the largest sum", high=answers - 1)

    @property
    def prompts(self) -> list[str]:
        """All prompts (``"37="`` or ``"3+4="``), in a fixed order."""
        if self.operation == "reverse":
            return [self._format(value) + "=" for value in range(10**self.answer_width)]
        n = self.num_operands
        return [f"{i}+{j}=" for i in range(n) for j in range(n)]

    def correct_answer(self, prompt: str) -> str:
        """The verifier's one accepted answer (``"37="`` -> ``"73"``, ``"3+4="`` -> ``"07"``)."""
        if self.operation == "reverse":
            return prompt.rstrip("=")[::-1]
        left, right = prompt.rstrip("=").split("+")
        return self._format(int(left) + int(right))

    def reward(self, prompt: str, completion: str) -> float:
        """The verifier: 1.0 if the completion is exactly the correct answer, else 0.0."""
        return float(completion.strip() == self.correct_answer(prompt))

    def expert_distribution(self, prompt: str) -> dict[str, float]:
        """p*(. | prompt) as ``{answer: probability}``."""
        a = self.expert_pass_rate
        wrong = (1.0 - a) / self.num_wrong
        total = int(self.correct_answer(prompt))
        dist = {self._format(total): a}
        for offset in _alternating_offsets(self.num_wrong):
            dist[self._format(total + offset)] = wrong
        return dist

    def base_distribution(self, prompt: str) -> dict[str, float]:
        """The broad answer distribution the base model is pretrained on."""
        total = int(self.correct_answer(prompt))
        width = 2 * self.base_radius + 1
        return {
            self._format(total + offset): 1.0 / width
            for offset in range(-self.base_radius, self.base_radius + 1)
        }

    @property
    def expert_entropy(self) -> float:
        """H(p*) in nats, sequence level, the same for every prompt: H_b(a) + (1 - a) log M."""
        a = self.expert_pass_rate
        binary = -a * np.log(a) - (1.0 - a) * np.log1p(-a)
        return float(binary + (1.0 - a) * np.log(self.num_wrong))

    @property
    def base_pass_rate(self) -> float:
        """The pass rate of the broad distribution, 1 / (2 base_radius + 1)."""
        return 1.0 / (2 * self.base_radius + 1)

    def sample(self, distribution: str, size: int, rng: np.random.Generator) -> list[dict[str, str]]:
        """``size`` prompt-completion records with uniform prompts and answers from a distribution.

        Parameters
        ----------
        distribution : {"expert", "base"}
            Which answer distribution to draw from.
        size : int
            Number of records.
        rng : numpy.random.Generator
            The source of randomness.

        Returns
        -------
        list of dict
            ``{"prompt": ..., "completion": ...}`` records, TRL's prompt-completion format.
        """
        table = {"expert": self.expert_distribution, "base": self.base_distribution}[distribution]
        prompts = self.prompts
        records = []
        for index in rng.integers(len(prompts), size=size):
            answers, probs = zip(*table(prompts[index]).items())
            records.append({"prompt": prompts[index], "completion": answers[rng.choice(len(answers), p=probs)]})
        return records

    def to_dict(self) -> dict:
        """The task's parameters plus its exact expert quantities, for ``run_meta.json``."""
        return {
            **asdict(self),
            "expert_entropy": self.expert_entropy,
            "base_pass_rate": self.base_pass_rate,
        }

    def _format(self, value: int) -> str:
        return str(value % 10**self.answer_width).zfill(self.answer_width)


def expert_pairs(task: VerifiableTask) -> tuple[tuple[str, ...], tuple[str, ...], tuple[float, ...]]:
    """``(prompts, responses, weights)``: every (prompt, answer) of p*'s support, weighted by p*(answer | prompt).

    The callback's held-out set: its weighted SFT loss is then CE(p*, pi) exactly, and every
    correct answer is in it, so the exact pass rate is logged.

    >>> prompts, responses, weights = expert_pairs(DigitTask(answer_width=1, num_wrong=2))
    >>> prompts[:3], responses[:3], [round(w, 2) for w in weights[:3]]
    (('0=', '0=', '0='), ('0', '1', '9'), [0.6, 0.2, 0.2])
    """
    prompts, responses, weights = zip(*[(prompt, answer, weight) for prompt in task.prompts
                                        for answer, weight in task.expert_distribution(prompt).items()])
    return prompts, responses, weights


def _alternating_offsets(count: int) -> list[int]:
    """+1, -1, +2, -2, ... (``count`` of them): the expert's most plausible slips."""
    return [(k // 2 + 1) * (1 if k % 2 == 0 else -1) for k in range(count)]


#: ``--task NAME`` -> the task class; its dataclass fields become the command line's task options.
TASKS: dict[str, type] = {"digit": DigitTask, "cola": ColaTask}
