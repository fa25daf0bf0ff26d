"""The live callback's time budget: scheduled evaluations within a share of the training time.

Pure Python (no torch): :class:`TimeBudget` is told when steps begin and end and times the
evaluations it allows, so :class:`~nondecoupling.bridge.models.callback.CouplingCallback` costs at
most ``max_overhead`` of a stage's training time, however slow one evaluation is next to one step.

>>> budget = TimeBudget(0.05)
>>> budget.reset(enforced=True, max_steps=100)
>>> budget.step_begins(); budget.step_ends(due=True)
>>> budget.allows_evaluation()  # nothing evaluated yet: an evaluation's cost is not known
True
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator


class TimeBudget:
    """Scheduled evaluations within a share of the stage's training time (the trainer's steps, timed by the hooks).

    The stage's training time is projected from its steps so far (time per step x ``max_steps``). An
    evaluation becomes due at a scheduled step and is made at the first step end where the callback's
    time so far, plus this evaluation and the stage's last one (reserved: always made), is at most
    ``share`` x that projection. An evaluation's cost is taken as the largest full one's so far in
    the stage (on a loaded machine one evaluation's time is a noisy guess of the next). Until one
    is measured it is twice the largest reduced one's: a stage's first evaluation with
    ``"rl_start"`` skips pi_ref's pass, and pi_ref, a copy of the policy, adds at most the policy's
    own passes (measured on the digit task: full evaluations 1.2-1.5x the reduced start's). Taken
    as the reduced one's, a 20-step GRPO stage made a third evaluation and spent 6.1% of its
    training time against a share of 5%. With ``share`` None, or not enforced (the live stop's
    schedule), due means made.
    """

    def __init__(self, share: float | None) -> None:
        self.share = share
        self._begun: float | None = None
        self.reset(enforced=True, max_steps=0)

    def reset(self, *, enforced: bool, max_steps: int) -> None:
        self.enforced, self.max_steps = enforced and self.share is not None, max_steps
        self.training = self.spent = self.largest_cost = self.largest_reduced_cost = 0.0
        self.steps, self.due, self._begun = 0, False, None

    def step_begins(self) -> None:
        self._begun = time.perf_counter()

    def step_ends(self, *, due: bool) -> None:
        if self._begun is not None:
            self.training += time.perf_counter() - self._begun
            self.steps += 1
        self._begun = None
        self.due = self.due or due

    def allows_evaluation(self) -> bool:
        if not (self.due and self.enforced and self.steps):
            return self.due
        assert self.share is not None  # enforced implies a share
        projected = self.training / self.steps * max(self.max_steps, self.steps)
        return self.spent + 2 * self.evaluation_cost() <= self.share * projected

    def evaluation_cost(self) -> float:
        """The cost an evaluation is taken to have: the largest full one's so far, else twice the largest reduced one's."""
        return self.largest_cost or 2.0 * self.largest_reduced_cost

    @contextlib.contextmanager
    def spending(self, *, reduced: bool = False) -> Iterator[None]:
        """Time one evaluation (measurement, refit and logging): it is charged, no longer due, and not training time.

        ``reduced``: it skipped pi_ref's pass (the model is the reference), so a full one costs more.
        """
        start = time.perf_counter()
        try:
            yield
        finally:
            cost = time.perf_counter() - start
            if reduced:
                self.largest_reduced_cost = max(self.largest_reduced_cost, cost)
            else:
                self.largest_cost = max(self.largest_cost, cost)
            self.spent += cost
            self.due = False
            if self._begun is not None:  # made inside a step (the start's, in on_pre_optimizer_step): not training time
                self._begun += cost
