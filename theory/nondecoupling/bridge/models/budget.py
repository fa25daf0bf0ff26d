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
    ``share`` x that projection; an evaluation's cost is taken as the largest one's so far in the
    stage (a stage's first evaluation can be the cheapest: with ``"rl_start"`` it skips pi_ref's
    pass; and on a loaded machine one evaluation's time is a noisy guess of the next). With
    ``share`` None, or not enforced (the live stop's schedule), due means made.
    """

    def __init__(self, share: float | None) -> None:
        self.share = share
        self._begun: float | None = None
        self.reset(enforced=True, max_steps=0)

    def reset(self, *, enforced: bool, max_steps: int) -> None:
        self.enforced, self.max_steps = enforced and self.share is not None, max_steps
        self.training = self.spent = self.largest_cost = 0.0
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
        return self.spent + 2 * self.largest_cost <= self.share * projected

    @contextlib.contextmanager
    def spending(self) -> Iterator[None]:
        """Time one evaluation (measurement, refit and logging): it is charged, no longer due, and not training time."""
        start = time.perf_counter()
        try:
            yield
        finally:
            cost = time.perf_counter() - start
            self.largest_cost = max(self.largest_cost, cost)
            self.spent += cost
            self.due = False
            if self._begun is not None:  # made inside a step (the start's, in on_pre_optimizer_step): not training time
                self._begun += cost
