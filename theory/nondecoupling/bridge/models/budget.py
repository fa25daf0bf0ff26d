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
    ``share`` x that projection, each of the two counted at :meth:`evaluation_bound`, an upper bound
    of one evaluation's cost. The share then holds as long as every full evaluation of a stage costs
    at most ``noise`` times any other (a loaded 2-core machine timed one stage's evaluations at up to
    1.74x one another; counted at the largest so far, a 60-step GRPO stage made a last evaluation
    1.4x the largest before it and spent 5.3% of its training time against 5%) and at most twice the
    stage's reduced first one: with ``"rl_start"`` that one skips pi_ref's pass, and pi_ref, a copy
    of the policy, adds at most the policy's own passes (full evaluations measured 1.2-1.5x the
    reduced start's on the digit task). With ``share`` None, or not enforced (the live stop's
    schedule), due means made.
    """

    def __init__(self, share: float | None, *, noise: float = 2.0) -> None:
        self.share, self.noise = share, noise
        self._begun: float | None = None
        self.reset(enforced=True, max_steps=0)

    def reset(self, *, enforced: bool, max_steps: int) -> None:
        self.enforced, self.max_steps = enforced and self.share is not None, max_steps
        self.training = self.spent = self.largest_cost = self.largest_reduced_cost = 0.0
        self.smallest_cost = float("inf")
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
        return self.spent + 2 * self.evaluation_bound() <= self.share * projected

    def evaluation_bound(self) -> float:
        """An upper bound of a full evaluation's cost: ``noise`` x the smallest full one's so far (at least the largest's),
        else twice the largest reduced one's.

        The smallest, not the largest: every full cost is at most ``noise`` x the stage's cheapest, which the
        smallest so far bounds from above, so this is the least bound the premise gives.
        """
        if not self.largest_cost:
            return 2.0 * self.largest_reduced_cost
        return max(self.largest_cost, self.noise * self.smallest_cost)

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
                self.largest_cost, self.smallest_cost = max(self.largest_cost, cost), min(self.smallest_cost, cost)
            self.spent += cost
            self.due = False
            if self._begun is not None:  # made inside a step (the start's, in on_pre_optimizer_step): not training time
                self._begun += cost
