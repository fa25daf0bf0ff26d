"""A CoLA-like acceptability task, generated here, with an exact imperfect expert.

The paper's experiment (THEORY.md V4) is CoLA: is a sentence grammatical? RL uses a
*strict* reward (the prescribed answer format and the right label) and the evaluation a
*lenient* one (the last label in the output). This module builds the same protocol on a
small formal grammar a character-level model can read.

Grammar. One character per word: singular nouns ``c d``, plural nouns ``C D``, an
intransitive verb (singular ``r``, plural ``R``) and a transitive verb (``e`` / ``E``).
The acceptable sentences are subject-verb with number agreement, ``N Vi`` and
``N Vt N`` (20 sentences). Each acceptable sentence ``k`` has one unacceptable variant,
from the family ``FAMILIES[k % 3]``:

* ``agreement``: the verb takes the other number (``cR``, ``CeD``);
* ``order``: the verb moves (``rc`` verb first, ``cDe`` verb last);
* ``missing``: a word is dropped (``c`` no verb, ``ce`` no object).

A prompt is the sentence and ``?`` (``"ceD?"``), the label ``y`` (acceptable) or ``n``.

Answers. The prescribed format is ``"=" + label`` (``"=y"``). The expert answers the right
label with probability ``label_accuracy`` and, independently, in one of three styles:

* ``strict`` ``"=L"`` with probability ``strict_format_rate``;
* ``bare`` ``"L"`` (the format's ``=`` missing) with probability ``bare_rate``;
* ``hedge`` ``"=" + other(L) + L`` (both labels, the intended one last) with the rest.

So every prompt has the same six answers up to relabelling, and by enumeration

.. math::  a = E_{p^*} r_\\text{strict} = \\text{accuracy}\\cdot\\text{strict rate},\\qquad
           E_{p^*} r_\\text{lenient} = \\text{accuracy},\\qquad
           H(p^*) = H_b(\\text{accuracy}) + H(\\text{styles}).

The strict reward accepts exactly one answer per prompt (``correct_answer``), so the
runner's exact pass rate pi(correct answer + [EOS] | x) is the strict pass rate. The
lenient reward reads the last ``y``/``n`` of any output: a model that hedges or drops the
format still earns it, which is how "reward hacking the format" shows up as a gap
between the two rewards. The base model is pretrained on the uniform distribution over
the six answers (strict pass rate 1/6), so RL has a signal from its first step.

>>> task = ColaTask()
>>> task.correct_answer("ceD?"), task.reward("ceD?", "=y"), task.lenient_reward("ceD?", "=ny")
('=y', 1.0, 1.0)
>>> round(task.expert_pass_rate, 3), round(task.lenient_expert_pass_rate, 3)
(0.56, 0.8)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from nondecoupling.validation import check_distribution, check_interval
from simulations.qwen3.tokenizer import CHARACTERS

#: The characters of prompts and answers, on top of the digit task's (see tokenizer.py).
COLA_CHARACTERS = "cdCDrReE?yn"
SINGULAR_NOUNS, PLURAL_NOUNS = "cd", "CD"
INTRANSITIVE = {"sg": "r", "pl": "R"}
TRANSITIVE = {"sg": "e", "pl": "E"}
FAMILIES = ("agreement", "order", "missing")
LABELS = {True: "y", False: "n"}
STYLES = ("strict", "bare", "hedge")
FORMAT_PREFIX = "="
PROMPT_END = "?"


def _number(noun: str) -> str:
    return "sg" if noun in SINGULAR_NOUNS else "pl"


def _other(number: str) -> str:
    return "pl" if number == "sg" else "sg"


def acceptable_sentences() -> list[tuple[str, ...]]:
    """The grammatical sentences as word tuples: ``N Vi`` and ``N Vt N`` with agreement."""
    nouns = SINGULAR_NOUNS + PLURAL_NOUNS
    intransitive = [(n, INTRANSITIVE[_number(n)]) for n in nouns]
    transitive = [(n, TRANSITIVE[_number(n)], obj) for n in nouns for obj in nouns]
    return intransitive + transitive


def unacceptable_variant(sentence: tuple[str, ...], family: str) -> tuple[str, ...]:
    """The ``family`` violation of an acceptable ``sentence`` (see the module docstring)."""
    subject, verb, *obj = sentence
    if family == "agreement":
        table = INTRANSITIVE if not obj else TRANSITIVE
        return (subject, table[_other(_number(subject))], *obj)
    if family == "order":
        return (verb, subject) if not obj else (subject, *obj, verb)
    if family == "missing":
        return (subject,) if not obj else (subject, verb)
    raise ValueError(f"family must be one of {FAMILIES}; got {family!r}")


def labelled_sentences() -> dict[str, bool]:
    """``{sentence: acceptable}``: every acceptable sentence and one variant of each, in a fixed order."""
    labelled = {}
    for index, sentence in enumerate(acceptable_sentences()):
        labelled["".join(sentence)] = True
        labelled.setdefault("".join(unacceptable_variant(sentence, FAMILIES[index % len(FAMILIES)])), False)
    return labelled


def last_label(text: str) -> str | None:
    """The last ``y`` or ``n`` in ``text`` (the lenient reading), None if there is none."""
    positions = {label: text.rfind(label) for label in LABELS.values()}
    label, position = max(positions.items(), key=lambda item: item[1])
    return label if position >= 0 else None


@dataclass(frozen=True)
class ColaTask:
    """The CoLA-like task: strict and lenient rewards, an expert of known accuracy and format.

    Parameters
    ----------
    label_accuracy : float
        The expert's probability of the right label, in (0, 1).
    strict_format_rate : float
        Probability of the prescribed ``"=L"`` format, in (0, 1).
    bare_rate : float
        Probability of the bare label ``"L"``; the hedge ``"=L'L"`` takes
        ``1 - strict_format_rate - bare_rate`` (> 0 keeps all six answers in p*'s support).

    Raises
    ------
    ParameterError
        If a probability leaves its range or the three styles do not form a distribution.
    """

    label_accuracy: float = 0.8
    strict_format_rate: float = 0.7
    bare_rate: float = 0.2

    def __post_init__(self):
        # Open intervals keep the expert imperfect in both label and format (H(p*) finite).
        for name in ("label_accuracy", "strict_format_rate", "bare_rate"):
            check_interval(getattr(self, name), name, low=0.0, high=1.0, low_open=True, high_open=True)
        check_interval(self.hedge_rate, "1 - strict_format_rate - bare_rate", low=0.0, low_open=True)

    @property
    def characters(self) -> str:
        """The character tokenizer's vocabulary for this task: the digit tasks' plus the grammar's."""
        return CHARACTERS + COLA_CHARACTERS

    @property
    def hedge_rate(self) -> float:
        """Probability of the hedge style ``"=L'L"``."""
        return 1.0 - self.strict_format_rate - self.bare_rate

    @property
    def style_probabilities(self) -> dict[str, float]:
        return dict(zip(STYLES, (self.strict_format_rate, self.bare_rate, self.hedge_rate), strict=True))

    @property
    def prompts(self) -> list[str]:
        """All prompts (``"ceD?"``), in a fixed order."""
        return [sentence + PROMPT_END for sentence in labelled_sentences()]

    def label(self, prompt: str) -> str:
        """The right label of a prompt, ``"y"`` or ``"n"``."""
        return LABELS[labelled_sentences()[prompt.removesuffix(PROMPT_END)]]

    def correct_answer(self, prompt: str) -> str:
        """The one answer the strict reward accepts: ``"=" + label``."""
        return FORMAT_PREFIX + self.label(prompt)

    def reward(self, prompt: str, completion: str) -> float:
        """The strict reward RL optimizes: 1.0 iff the completion is exactly ``"=" + right label``."""
        return float(completion.strip() == self.correct_answer(prompt))

    def lenient_reward(self, prompt: str, completion: str) -> float:
        """The paper's evaluation: 1.0 iff the last ``y``/``n`` of the completion is the right label."""
        return float(last_label(completion) == self.label(prompt))

    def expert_distribution(self, prompt: str) -> dict[str, float]:
        """p*(. | prompt) over its six answers (label right or wrong, times three styles)."""
        right = self.label(prompt)
        wrong = LABELS[right == LABELS[False]]
        return {
            _render(style, label, other): self.style_probabilities[style] * label_prob
            for label, other, label_prob in ((right, wrong, self.label_accuracy), (wrong, right, 1.0 - self.label_accuracy))
            for style in STYLES
        }

    def base_distribution(self, prompt: str) -> dict[str, float]:
        """The base model's pretraining distribution: uniform over the expert's six answers."""
        answers = list(self.expert_distribution(prompt))
        return {answer: 1.0 / len(answers) for answer in answers}

    @property
    def expert_pass_rate(self) -> float:
        """a = E_{p*} r_strict = label_accuracy * strict_format_rate (the same for every prompt)."""
        return self.label_accuracy * self.strict_format_rate

    @property
    def lenient_expert_pass_rate(self) -> float:
        """E_{p*} r_lenient = label_accuracy: every style ends in the intended label."""
        return self.label_accuracy

    @property
    def format_error_rate(self) -> float:
        """The expert's probability of leaving the prescribed format, 1 - strict_format_rate."""
        return 1.0 - self.strict_format_rate

    @property
    def expert_entropy(self) -> float:
        """H(p*) in nats (sequence level, the same for every prompt): H_b(accuracy) + H(styles)."""
        label = np.array([self.label_accuracy, 1.0 - self.label_accuracy])
        styles = np.array(list(self.style_probabilities.values()))
        return float(-(label * np.log(label)).sum() - (styles * np.log(styles)).sum())

    @property
    def base_pass_rate(self) -> float:
        """The base distribution's strict pass rate, 1/6."""
        return 1.0 / (2 * len(STYLES))

    def expert_reward_table(self) -> tuple[np.ndarray, np.ndarray]:
        """``(probs, strict_rewards)``, shape (num_prompts, 6): p* and r per prompt, for K2 / V1's C1.

        >>> probs, rewards = ColaTask().expert_reward_table()
        >>> probs.shape, round(float((probs * rewards).sum(axis=1).mean()), 12)
        ((39, 6), 0.56)
        """
        rows = [
            [(prob, self.reward(prompt, answer)) for answer, prob in self.expert_distribution(prompt).items()]
            for prompt in self.prompts
        ]
        table = np.array(rows)
        return check_distribution(table[..., 0], "expert distribution"), table[..., 1]

    def sample(self, distribution: str, size: int, rng: np.random.Generator) -> list[dict[str, str]]:
        """``size`` prompt-completion records (uniform prompts) from ``"expert"`` or ``"base"``."""
        table = {"expert": self.expert_distribution, "base": self.base_distribution}[distribution]
        prompts = self.prompts
        records = []
        for index in rng.integers(len(prompts), size=size):
            answers, probs = zip(*table(prompts[index]).items(), strict=True)
            records.append({"prompt": prompts[index], "completion": answers[rng.choice(len(answers), p=probs)]})
        return records

    def to_dict(self) -> dict:
        """The parameters plus the exact expert quantities, for ``run_meta.json``."""
        return {
            "name": "cola",
            **asdict(self),
            "num_prompts": len(self.prompts),
            "expert_pass_rate": self.expert_pass_rate,
            "lenient_expert_pass_rate": self.lenient_expert_pass_rate,
            "format_error_rate": self.format_error_rate,
            "expert_entropy": self.expert_entropy,
            "base_pass_rate": self.base_pass_rate,
        }


def _render(style: str, label: str, other: str) -> str:
    """An answer in ``style`` whose intended (last) label is ``label``."""
    if style == "strict":
        return FORMAT_PREFIX + label
    if style == "bare":
        return label
    return FORMAT_PREFIX + other + label
