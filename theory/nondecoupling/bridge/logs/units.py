"""Units of the logged columns: a per-token SFT loss read as per-sequence (or the reverse) flips K1 and P3.

The SFT loss K1 is about is the SEQUENCE-level cross-entropy (summed token losses per
response). Trainers log their own SFT objective as a per-token mean (TRL's ``eval_loss``,
verl's ``val/loss``, OpenRLHF's ``eval/gpt_loss``); nondecoupling's ``CouplingCallback`` logs
``sft_loss`` (``eval_sft_loss`` in ``trainer_state.json``) per sequence. Any other column's
unit is unknown to the reader and reported as "as logged".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nondecoupling.bridge.errors import LogFormatError
from nondecoupling.bridge.logs.merge import logged_mask

if TYPE_CHECKING:
    from nondecoupling._typing import Numbers

PER_TOKEN_SOURCES = ("eval_loss", "eval/loss", "val/loss", "eval/gpt_loss", "train/ptx_loss")
#: run_meta.json's "writer" of the callback: today's module path, and the one logs written before the
#: bridge's models/logs split carry (their SFT loss is per sequence all the same)
CALLBACK_WRITERS = ("nondecoupling.bridge.models.callback.CouplingCallback", "nondecoupling.bridge.callback.CouplingCallback")
CALLBACK_KEYS = ("eval_k1_floor", "eval_phase")  # keys only the callback's trainer_state records carry
NEAR_ZERO_LOSS = 1e-6  # nats per sequence: a held-out cross-entropy this small at every point is no model's
OTHER_UNITS = {"step": "optimizer step", "reward": "mean reward per sample", "pass_rate": "probability",
               "kl": "nats", "lr": "learning rate", "response_length": "tokens", "phase": "", "stage": ""}


def callback_records(values: Callable[[str], Sequence | None]) -> bool:
    """Whether a ``trainer_state.json``'s records are the callback's: some record logs ``eval_sft_loss`` and a key of :data:`CALLBACK_KEYS`.

    ``values(name)``: the name's raw values, one per record, or None where no record has it
    (a reader's :meth:`~nondecoupling.bridge.logs.readers.RawLog.values`). Logged: neither null
    nor NaN, which a table read whole and the records read one by one tell alike. Made while
    the file is read: reading it again here took 1.9 of a 4.7 s check at 10^6 entries (issue 25).

    >>> table = {"eval_sft_loss": [2.0, None], "eval_phase": [None, "rl"]}
    >>> callback_records(table.get), callback_records({**table, "eval_k1_floor": [0.5, None]}.get)
    (False, True)
    """
    loss = values("eval_sft_loss")
    if loss is None:
        return False
    logged = logged_mask(loss)
    return any(bool(np.any(logged & logged_mask(own))) for own in map(values, CALLBACK_KEYS) if own is not None)


def _written_by_callback(file: dict, source: str, meta: dict) -> bool:
    """A canonical log with the callback's run_meta.json, or trainer_state records with the callback's keys."""
    if meta.get("writer") in CALLBACK_WRITERS and Path(file["path"]).suffix == ".jsonl" or source.startswith("coupling/"):
        return True  # coupling/*: the callback's numbers through an attached trainer's log
    return source == "eval_sft_loss" and bool(file.get("callback_records"))


def logged_sft_loss_unit(file: dict, meta: dict) -> str:
    """``token``, ``sequence`` or ``unknown``: the unit of a file's SFT-loss column as written."""
    source = file.get("columns", {}).get("sft_loss")
    if source is None:
        return "unknown"
    if source in PER_TOKEN_SOURCES:
        return "token"
    return "sequence" if _written_by_callback(file, source, meta) else "unknown"


def check_units(files: list, meta: dict) -> None:
    """Record every column's unit in ``files`` (``units``); refuse a per-token conversion of a per-sequence loss.

    Raises
    ------
    LogFormatError
        ``--loss-per-token`` (or ``loss_per_token``) given for a file whose SFT loss is per
        sequence already: multiplying it by the response length would inflate it.
    """
    for file in files:
        logged = logged_sft_loss_unit(file, meta)
        converted = str(file.get("sft_loss_units", "")).startswith("sequence (per-token")
        source = file.get("columns", {}).get("sft_loss")
        if converted and logged == "sequence":
            raise LogFormatError(file["path"], "--loss-per-token",
                                 f"the SFT loss '{source}' is per sequence already (written by nondecoupling's "
                                 "CouplingCallback); drop --loss-per-token (it would multiply it by the response length)")
        sft_unit = {("token", True): "per token x response length = per sequence",
                    ("token", False): "per token (K1/K3 need per sequence: give --loss-per-token --response-length)",
                    ("sequence", False): "per sequence (CouplingCallback)",
                    ("unknown", True): "given as per token x response length = per sequence",
                    ("unknown", False): "as logged (assumed per sequence)"}[(logged, converted)]
        file["units"] = {name: (sft_unit if name == "sft_loss" else OTHER_UNITS.get(name, "as logged"))
                         for name in file.get("columns", {})}


def check_sft_loss_plausible(path: str | Path, source: str, loss: Numbers, labels: Sequence[str]) -> None:
    """A column read as the SFT loss must be a cross-entropy: >= 0, and not ~0 at every point.

    ``labels``: the records' own labels (``line 12``), one per value of ``loss``.

    An RL trainer's own ``loss`` (GRPO's policy objective: about 0, of either sign) mapped
    as ``sft_loss`` would otherwise turn into "K1 violated at most points".

    Raises
    ------
    LogFormatError
        At the first negative value (below -:data:`NEAR_ZERO_LOSS`, beyond roundoff), or
        when every value lies within :data:`NEAR_ZERO_LOSS` of zero.
    """
    loss = np.asarray(loss, float)
    logged = ~np.isnan(loss)
    if not logged.any():
        return

    def where(i: int) -> str:  # only the row named in an error: a label per row costs seconds at 10^6 rows
        return str(labels[i])

    advice = (f"'{source}' is not an SFT loss (an RL trainer's 'loss'/'eval_loss' is its policy objective); map the "
              "held-out SFT loss instead, e.g. --map eval_sft_loss=sft_loss, or leave it unmapped")
    negative = np.flatnonzero(logged & (loss < -NEAR_ZERO_LOSS))
    if negative.size:
        i = int(negative[0])
        raise LogFormatError(path, where(i), f"the SFT loss '{source}' is {loss[i]:.6g} < 0, and a cross-entropy is "
                                             f">= 0: {advice}")
    if np.all(np.abs(loss[logged]) <= NEAR_ZERO_LOSS):
        raise LogFormatError(path, f"{where(int(np.argmax(logged)))} to the end",
                             f"the SFT loss '{source}' is within {NEAR_ZERO_LOSS:g} of 0 at every point; a held-out "
                             f"cross-entropy of a model is not: {advice}")
