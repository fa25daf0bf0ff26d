"""The callback's online P3 in one RL stage: the live stop's decisions as log columns, and the restore.

:class:`StageStop` is what :class:`~nondecoupling.bridge.models.callback.CouplingCallback` runs in
an RL stage, without the trainer: it feeds each evaluation to
:class:`~nondecoupling.bridge.logs.stopping.LiveStop`, turns the decision into the log's columns in
global and stage steps, keeps the restore step's trainable weights
(:class:`~nondecoupling.bridge.models.kept_weights.KeptWeights`, with ``restore_best``) and puts
them back when the stage ends. Units: ``p3_optimal_step`` and ``p3_restore_step`` are global steps
(all stages together, ``offset`` = the global step at the stage's start); the ``*_stage_step``
columns count from the stage's start; ``stop_reason`` names both.

>>> import torch
>>> model = torch.nn.Linear(1, 1)
>>> start = {"pass_rate": 0.5, "sft_loss": 1.0}
>>> stop = StageStop(prior_from_records(start, []), every_steps=10, horizon=100, offset=40, stop_at="optimal", keep=True)
>>> columns = stop.observe(start, 0, model)
>>> columns["p3_restore_step"], columns["p3_restore_stage_step"], columns["stop"]
(40, 0, False)
>>> stop.finish({**start, **columns}, 0, model)["restore"]
"the restore step is the model's own step (stage step 0): nothing put back"
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from nondecoupling.bridge.logs.stopping import LiveStop, StagePrior, stage_prior
from nondecoupling.bridge.models.kept_weights import KeptWeights


def record_rate(record: dict) -> float:
    """The reward curve: the exact ``pass_rate`` where logged, else the sampled ``reward`` (check's rule)."""
    return record["pass_rate"] if record.get("pass_rate") is not None else record["reward"]


def prior_from_records(start: dict, sft_records: Sequence[dict]) -> StagePrior:
    """:func:`~nondecoupling.bridge.logs.stopping.stage_prior` from the RL stage's first record and the SFT stage's before it.

    The sampled reward's standard error enters only where the exact pass rate is not logged.
    """
    return stage_prior(record_rate(start), start["sft_loss"], sft_rates=[record_rate(r) for r in sft_records],
                       sft_losses=[r["sft_loss"] for r in sft_records],
                       reward_se=None if "pass_rate" in start else start.get("reward_se"))


class StageStop:
    """Online P3 over one RL stage's evaluations: decisions as log columns, the restore step's weights kept.

    Parameters
    ----------
    prior : StagePrior
        What is known before the stage (:func:`prior_from_records`).
    every_steps, horizon, lam, growth, seed
        :class:`~nondecoupling.bridge.logs.stopping.LiveStop`'s arguments (``horizon``: the stage's steps).
    offset : int
        The global step at the stage's start.
    stop_at : str or None
        ``"optimal"``: the decisions stop training; None: they are advice only.
    keep : bool
        Keep the restore step's trainable weights (one CPU copy) and put them back in :meth:`finish`.
    """

    def __init__(self, prior: StagePrior, *, every_steps: int, horizon: int, offset: int, stop_at: str | None = None,
                 keep: bool = False, lam: float = 1.0, growth: float = 1.5, seed: int = 0) -> None:
        self.live = LiveStop(prior, every_steps=every_steps, horizon=horizon, lam=lam, growth=growth, seed=seed, offset=offset)
        self.offset, self.stop_at = offset, stop_at
        self.kept: KeptWeights | None = KeptWeights() if keep else None

    @property
    def keeping(self) -> bool:
        """Whether a copy of the weights is held (``keep``, until :meth:`finish` releases it)."""
        return self.kept is not None

    def is_new(self, stage_step: int) -> bool:
        """Whether ``stage_step`` comes after every step the stop has seen."""
        return self.live.p3.last_step is None or stage_step > self.live.p3.last_step

    def wants_evaluation(self, stage_step: int) -> bool:
        """The stop's own added evaluations (only with ``stop_at``)."""
        return bool(self.stop_at) and self.live.wants_evaluation(stage_step)

    def should_stop(self, stage_step: int) -> bool:
        return bool(self.stop_at) and self.live.should_stop(stage_step)

    def observe(self, record: dict, stage_step: int, model: torch.nn.Module) -> dict:
        """Feed one evaluation; its estimate and decision as log columns (the weights kept if it is the restore step)."""
        decision = self.live.observe(stage_step, record_rate(record), record["sft_loss"])
        offset = self.offset
        stop = decision["stop_step"] is not None and self.stop_at is not None
        reason = decision["reason"] if self.stop_at or not decision["stop_step"] else "advice only: " + decision["reason"]
        if self.kept is not None and decision["restore_step"] == stage_step:
            self.kept.keep(model, step=stage_step)
        if self.kept is not None and stop:
            reason += ("; its weights are kept and put back when training ends" if self.kept.step == decision["restore_step"]
                       else f"; its weights were not kept (kept: stage step {self.kept.step}), the model stays at the stop")
        return {"p3_optimal_step": offset + decision["optimal_steps"], "p3_optimal_stage_step": decision["optimal_steps"],
                "p3_restore_step": offset + decision["restore_step"], "p3_restore_stage_step": decision["restore_step"],
                "p3_optimal_step_ci": [offset + v for v in decision["ci"]], "p3_p_passed": decision["p_passed"],
                "stop": stop, "stop_reason": f"{reason} (stage step = global step - {offset}; now stage step {stage_step}, "
                                             f"global step {offset + stage_step})"}

    def finish(self, last: dict, stage_step: int, model: torch.nn.Module) -> dict | None:
        """At the stage's last step (evaluated: ``last`` is its record), put the restore step's weights back.

        The kept copy is of the latest evaluation that was the restore step when it was made; where the
        final restore step is an earlier one (the estimate moved after its weights were replaced), the
        model stays as it is. Returns the columns that amend ``last`` (None without a kept copy); the
        copy is then released.
        """
        kept, self.kept = self.kept, None
        if kept is None or kept.step is None:
            return None
        offset, wanted = self.offset, last.get("p3_restore_stage_step", stage_step)
        if wanted == stage_step:
            return {"restore": f"the restore step is the model's own step (stage step {stage_step}): nothing put back"}
        if wanted != kept.step:
            return {"restore": f"the restore step, stage step {wanted} (global step {offset + wanted}), was not kept "
                               f"(kept: stage step {kept.step}): the model stays at stage step {stage_step}"}
        kept.restore(model)
        gain = self.live.observed_gain[self.live.evaluated.index(wanted)]
        return {"restored_step": offset + wanted, "restored_stage_step": wanted, "restored_gain": gain,
                "restore": f"put back the weights of stage step {wanted} (global step {offset + wanted}; G as evaluated "
                           f"there: {gain:+.4g}; {kept.nbytes / 2**20:.3g} MiB kept on the CPU) in place of stage step {stage_step}"}
