"""Read logged SFT/RL curves into one canonical run (no torch needed).

A run is a :class:`pandas.DataFrame` with one row per evaluation and the columns

==========  =====================================================================
phase       ``"sft"`` or ``"rl"``
stage       index of the contiguous phase segment (0, 1, 2, ... in run order)
step        global optimizer step, nondecreasing over the run
sft_loss    held-out expert SFT loss, SEQUENCE level (summed token NLL per response,
            nats, mean over held-out expert samples); NaN where not logged
reward      mean verifier reward; NaN where not logged
kl          KL to the reference model (optional; NaN where not logged)
lr          learning rate (optional; NaN where not logged)
pass_rate   the policy's EXACT pass rate b, where the writer can compute it (as
            the live callback does with ``exact_pass_rate=True``); ``reward`` is a sampled estimate
            of it (optional; NaN where not logged)
source      ``"file:line 12"`` / ``"file:log_history[3]"`` / ``"file:event 17"``
==========  =====================================================================

Formats (see :mod:`nondecoupling.bridge.logs.readers`): TRL's ``trainer_state.json``, CSV, W&B
panel exports, JSONL (also verl's file logger), verl's console lines, TensorBoard event
files (OpenRLHF, verl) and MLflow's file store. Formats that log one step in several
records (TRL's train and eval records; one event per value) are merged into one row per
step (:mod:`nondecoupling.bridge.logs.merge`): a key that differs between the records of a
step is a *conflict* (a null or NaN is no value); a conflict in a key no check uses is
ignored, one in a used key follows the mapping's ``merge`` rule (:data:`MERGE_RULES`), and
``attrs`` report the rule and the conflicts it resolved. A step that a table-like log
(JSONL, CSV) repeats within one phase and stage (a writer resumed from a checkpoint re-logs
it) is merged the same way: one point, whose used keys take the last value logged at it
under the default rule, as TensorBoard keeps the values written after a restart;
``--merge error`` refuses it. Two stages may share their boundary step; those rows stay two
points. A file read whole as columns is merged as columns (:func:`merge_table`).

Steps are integers from 0 to 2**53 (the largest float64 that counts every integer) in
every format; anything else names the file and record.

Column names are found through :data:`ALIASES` (and a preset's names, :data:`PRESETS`); a
:class:`LogMapping` renames others and tags phases when the log does not say which stage
a step belongs to. A malformed log raises :class:`LogFormatError` naming the file, the line
or record, and what is wrong. Records that carry none of the canonical quantities (e.g.
TRL's closing ``train_runtime`` record) are not rows of the run; they are listed in
``run.attrs["ignored"]``, never dropped silently.

Missing values. NaN means "not logged at this point" in EVERY format: an empty CSV cell,
``nan``/``null``/``none`` text, a JSON ``null`` or ``NaN``, a NaN TensorBoard or MLflow value.
An infinite value is an error (``FILE, where: 'key' is inf, not a finite number``).
"""

from __future__ import annotations

import fnmatch
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from nondecoupling.bridge.errors import LogFormatError
from nondecoupling.bridge.logs.merge import MERGE_RULES, merge_records, merge_table
from nondecoupling.bridge.logs.readers import (
    MAX_STEP,
    NumberedLabels,
    RawLog,
    ReadByRecords,
    check_regular_file,
    detect_format,
    parse_step,
    read_text,
)
from nondecoupling.bridge.logs.readers.mlflow import read_mlflow
from nondecoupling.bridge.logs.readers.tensorboard import read_tensorboard
from nondecoupling.bridge.logs.readers.text import (
    ArrowColumns,
    read_csv,
    read_jsonl,
    read_verl_console,
    read_wandb,
    release_arrow_memory,
)
from nondecoupling.bridge.logs.readers.trl import read_trl
from nondecoupling.bridge.logs.units import callback_records, check_sft_loss_plausible

PHASES = ("sft", "rl", "mixed")  # mixed: RL with an SFT loss term (loss R + c L; X1)
QUANTITIES = ("sft_loss", "reward", "kl", "lr", "pass_rate", "forward_kl")
COLUMNS = ("phase", "stage", "step", *QUANTITIES, "source")

#: Source names recognised without a mapping, in order of preference. ``eval_loss`` is
#: the trainer's own objective on its eval set: the SFT loss for an SFT trainer, but the
#: RL loss for GRPO/PPO, so it is read as ``sft_loss`` only in a file tagged ``sft``
#: (see :data:`SFT_ONLY_ALIASES`). Held-out rewards are preferred over training batches.
ALIASES: dict[str, tuple[str, ...]] = {
    "step": ("step", "global_step", "train/global_step", "_step", "Step"),
    "phase": ("phase",),
    "stage": ("stage",),
    "sft_loss": ("sft_loss", "eval_sft_loss", "eval/sft_loss"),
    "reward": ("eval_reward", "eval/reward", "reward", "train/reward", "rewards/mean"),
    "kl": ("eval_kl", "eval/kl", "kl", "train/kl", "objective/kl"),
    "lr": ("lr", "learning_rate", "train/learning_rate"),
    "pass_rate": ("pass_rate", "eval_pass_rate", "eval/pass_rate"),
    # KL(pi_SFT || pi), the live callback's: its log.jsonl, trainer_state.json, TensorBoard (with or without a preset)
    "forward_kl": ("forward_kl", "eval_forward_kl", "eval/forward_kl", "coupling/forward_kl", "train/coupling/forward_kl"),
    "response_length": ("response_length",),
}
SFT_ONLY_ALIASES = ("eval_loss", "eval/loss")

#: Names the common trainers write, tried before :data:`ALIASES` (``*`` matches any text).
#: trl: ``Trainer.log`` records (``eval_`` prefix on evaluation); a callback's ``sft_loss`` /
#: ``pass_rate`` keys. verl: ``verl/trainer/ppo/ray_trainer.py`` metrics (``critic/score/mean``,
#: ``actor/kl_loss``, validation ``val-core/<data source>/reward/mean@N``) and its SFT trainer's
#: ``val/loss`` (per token). openrlhf: ``openrlhf/trainer/ppo_trainer.py`` and ``sft_trainer.py``
#: TensorBoard tags (``train/reward``, ``train/kl``, ``train/ptx_loss``, ``eval/gpt_loss``, step
#: ``train/global_step``); ``train/ptx_loss`` is the SFT term on training batches (mixed stages).
PRESETS: dict[str, dict[str, tuple[str, ...]]] = {
    "trl": {  # coupling/*: CouplingCallback's held-out numbers, logged through an attached trainer
        "sft_loss": ("coupling/sft_loss", "eval_sft_loss", "sft_loss"),
        "reward": ("coupling/reward", "eval_reward", "reward"),
        "pass_rate": ("coupling/pass_rate", "eval_pass_rate", "pass_rate"),
        "kl": ("coupling/kl", "eval_kl", "kl"),
        "lr": ("learning_rate",),
    },
    "verl": {
        "reward": ("val-core/*/reward/mean@*", "val/test_score/*", "critic/score/mean", "critic/rewards/mean"),
        "sft_loss": ("val/loss", "val/sft_loss", "actor/sft_loss"),
        "kl": ("actor/kl_loss", "actor/ppo_kl"),
        "lr": ("actor/lr",),
    },
    "openrlhf": {
        "step": ("train/global_step", "eval/global_step", "step"),
        "reward": ("eval/reward", "train/reward"),
        "sft_loss": ("eval/gpt_loss", "train/ptx_loss"),
        "kl": ("train/kl",),
        "lr": ("train/actor_lr", "train/lr"),
    },
}

_READERS: dict[str, Callable[..., RawLog]] = {"trl": read_trl, "csv": read_csv, "wandb": read_wandb, "jsonl": read_jsonl,
            "verl-console": read_verl_console, "tensorboard": read_tensorboard, "mlflow": read_mlflow}
FORMATS = tuple(_READERS)


@dataclass(frozen=True)
class LogMapping:
    """How to read one log file whose names or phases are not canonical.

    Parameters
    ----------
    columns : mapping of str to str
        Source column (or tag) name -> canonical name (``step``, ``phase``, ``stage``,
        ``sft_loss``, ``reward``, ``kl``, ``lr``, ``pass_rate``, ``forward_kl``, ``response_length``).
    phase : str, optional
        ``"sft"`` or ``"rl"`` for the whole file, or a switch list
        ``"sft:0,rl:500"``: from step 0 on the phase is sft, from step 500 on rl
        (steps as logged in this file). Overrides a ``phase`` column.
    loss_per_token : bool
        The logged SFT loss is a per-token mean (as TRL's ``eval_loss``). K1 is about
        the sequence-level loss, so it is multiplied by ``response_length``.
    response_length : float, optional
        Mean expert response length in tokens (total tokens / responses, so that the
        per-token mean times it is the mean summed loss). A ``response_length`` column,
        where present, takes precedence per row.
    sft_coef : float, optional
        The SFT-loss coefficient c of a ``mixed`` phase (loss R + c L: verl's
        ``sft_loss_coef``, OpenRLHF's ``ptx_coef``).
    preset : {"trl", "verl", "openrlhf"}, optional
        The trainer's usual names, tried before :data:`ALIASES` (:data:`PRESETS`).
    merge : str
        Rule for a used key that differs between the records of one step (:data:`MERGE_RULES`).
    run : str, optional
        Which run of a multi-run file (W&B export: run name; MLflow experiment: id or name).
    """

    columns: Mapping[str, str] = field(default_factory=dict)
    phase: str | None = None
    loss_per_token: bool = False
    response_length: float | None = None
    sft_coef: float | None = None
    preset: str | None = None
    merge: str = "eval"
    run: str | None = None

    def __post_init__(self):
        if self.preset is not None and self.preset not in PRESETS:
            raise ValueError(f"mapping: preset must be one of {sorted(PRESETS)}; got {self.preset!r}")
        if self.merge not in MERGE_RULES:
            raise ValueError(f"mapping: merge must be one of {sorted(MERGE_RULES)}; got {self.merge!r}")
        if self.sft_coef is not None and not (isinstance(self.sft_coef, (int, float)) and self.sft_coef >= 0):
            raise ValueError(f"mapping: sft_coef must be a number >= 0; got {self.sft_coef!r}")
        if self.response_length is not None and not (
                isinstance(self.response_length, (int, float)) and 0 < self.response_length < math.inf):
            raise ValueError(f"mapping: response_length must be a number > 0 (tokens); got {self.response_length!r}")

    @classmethod
    def from_dict(cls, spec: Mapping) -> LogMapping:
        """Build from a JSON-style dict with the field names as keys."""
        unknown = set(spec) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"mapping: unknown keys {sorted(unknown)}")
        return cls(**spec)

    def phase_switches(self) -> list[tuple[float, str]] | None:
        """Parse :attr:`phase` into ``[(first_step, phase), ...]`` sorted by step."""
        if self.phase is None:
            return None
        spec = self.phase.strip().lower()
        if spec in PHASES:
            return [(-math.inf, spec)]
        switches = []
        for part in spec.split(","):
            match = re.fullmatch(r"\s*(sft|rl|mixed)\s*:\s*(\d+)\s*", part)
            if match is None:
                raise ValueError(
                    f"mapping: phase {self.phase!r} is neither 'sft', 'rl', 'mixed' nor a switch list like 'sft:0,rl:500'"
                )
            switches.append((int(match.group(2)), match.group(1)))
        return sorted(switches)


# ---------------------------------------------------------------- canonical form


def _resolve_columns(path: Path, available: Sequence[str], mapping: LogMapping) -> dict[str, str]:
    """canonical name -> source name, from the explicit mapping first, then the aliases."""
    targets = set(ALIASES)
    chosen: dict[str, str] = {}
    for source, canonical in mapping.columns.items():
        if canonical not in targets:
            raise ValueError(f"mapping: '{source}' -> '{canonical}': target must be one of {sorted(targets)}")
        if source not in available:
            raise LogFormatError(path, "columns", f"mapping names '{source}', which the log does not have; it has {sorted(available)}")
        chosen[canonical] = source
    file_is_sft = mapping.phase is not None and mapping.phase.strip().lower() == "sft"
    preset = PRESETS.get(mapping.preset, {}) if mapping.preset else {}
    for canonical, names in ALIASES.items():
        if canonical in chosen:
            continue
        candidates = preset.get(canonical, ()) + names + (SFT_ONLY_ALIASES if canonical == "sft_loss" and file_is_sft else ())
        found = next((match for pattern in candidates for match in _matches(pattern, available)), None)
        if found is not None:
            chosen[canonical] = found
    return chosen


def _matches(pattern: str, available: Sequence[str]) -> list[str]:
    """``pattern`` itself if available, or the available names it matches as a glob (``*``)."""
    if "*" not in pattern:
        return [pattern] if pattern in available else []
    return sorted(name for name in available if fnmatch.fnmatchcase(name, pattern))


def _numeric(path, labels, name, values) -> np.ndarray:
    """Float array with NaN for missing entries (NaN itself means missing, in every format); an error otherwise."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "if" and not np.isinf(values).any():
        return values.astype(float)  # a vectorized reader's numbers: no value to look at one by one
    out = np.full(len(values), np.nan)
    for i, value in enumerate(values):
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "nan", "null", "none")):
            continue
        if isinstance(value, bool):
            raise LogFormatError(path, labels[i], f"'{name}' is {value!r}, not a number")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise LogFormatError(path, labels[i], f"'{name}' is {value!r}, not a number") from None
        if math.isinf(number):
            raise LogFormatError(path, labels[i], f"'{name}' is {value!r}, not a finite number")
        out[i] = number
    return out


def _phases(path, labels, values, mapping, steps) -> pd.api.extensions.ExtensionArray:
    """The phase of every row: from the mapping's switch list, else from the phase ``values`` (None: no column)."""
    switches = mapping.phase_switches()
    if switches is not None:
        first = switches[0][0]
        if steps[0] < first:
            raise LogFormatError(path, labels[0], f"step {steps[0]:g} precedes the first phase switch (step {first})")
        index = np.searchsorted([s for s, _ in switches], steps, side="right") - 1
        return _taken([name for _, name in switches], index)
    if values is None:
        raise LogFormatError(
            path, "columns", "no 'phase' column; tag the file with a phase: --phase sft|rl|mixed or a switch list 'sft:0,rl:500'"
        )
    codes, distinct = _factorized(values)  # each distinct value checked once
    phases = []
    for code, value in enumerate(distinct):
        if not isinstance(value, str) or value.strip().lower() not in PHASES:
            missing = value is None or value != value or (isinstance(value, str) and not value.strip())  # None, NaN, ""
            raise LogFormatError(path, labels[int(np.argmax(codes == code))],
                                 f"{'no phase' if missing else f'phase is {value!r}'}; expected 'sft', 'rl' or 'mixed'")
        phases.append(value.strip().lower())
    return _taken(phases, codes)


def _factorized(values) -> tuple[np.ndarray, list]:
    """``(codes, distinct)`` with ``distinct[codes] == values``, missing values (None, NaN) kept as one of them.

    In order of first appearance (the first bad row is named), except a vectorized reader's
    categorical, whose codes are taken as they are (its complaints are re-read record by record).
    """
    if isinstance(values, pd.Categorical):
        missing = values.codes < 0
        if not missing.any():
            return values.codes, list(values.categories)
        return np.where(missing, len(values.categories), values.codes), [*values.categories, None]
    try:
        return pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=False)
    except TypeError:  # an unhashable value (a list): named by the caller
        return np.arange(len(values)), list(values)


def _taken(names: list[str], codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``names[codes]`` as the column pandas makes of texts (its "str" dtype where it has one, else object).

    Taken from the few distinct names, not converted row by row: a tenth of the CPU of an object
    array of 10^6 texts, which pandas >= 3 would convert to its "str" dtype one text at a time.
    """
    return pd.Series(np.array(names, dtype=object)).array.take(codes)


def _missing_quantity_hint(available, mapping: LogMapping) -> str:
    """What to do about a log without a quantity column, never repeating an option already given."""
    hint = (" ('eval_loss' counts as the SFT loss only in a file tagged --phase sft: in an RL trainer's log it is "
            "the RL objective, not an SFT loss)") if any(n in available for n in SFT_ONLY_ALIASES) else ""
    if mapping.preset is None:
        return f"{hint}; map one, e.g. --map COL=sft_loss, or give --preset trl|verl|openrlhf"
    looked_for = sorted({name for names in PRESETS[mapping.preset].values() for name in names})
    return (f"{hint}; --preset {mapping.preset} looked for {', '.join(looked_for)}: map the held-out SFT loss, "
            "e.g. --map COL=sft_loss")


def _load(path: Path, mapping: LogMapping, fmt: str, *, vectorized: bool):
    """Read, resolve the columns and merge the records of a step: ``(raw, steps, columns, merge_info)``."""
    if path.is_file() and path.stat().st_size == 0:
        raise LogFormatError(path, "line 1", "empty file")
    raw = _READERS[fmt](path, run=mapping.run, vectorized=vectorized)
    available = raw.names()
    columns = _resolve_columns(path, available, mapping)
    if "step" not in columns:
        raise LogFormatError(path, "columns", f"no step column (looked for {', '.join(ALIASES['step'])}); map one, e.g. --map COL=step")
    if not {"sft_loss", "reward", "pass_rate"} & set(columns):
        raise LogFormatError(path, "columns", f"no SFT-loss, reward or pass-rate column among {sorted(available)}"
                                              f"{_missing_quantity_hint(available, mapping)}")
    info = {"format": fmt, **raw.notes}
    if fmt == "trl" and columns.get("sft_loss") == "eval_sft_loss":  # the callback's SFT loss, per sequence (units.py)
        names = set(available)
        info["callback_records"] = callback_records(lambda name: raw.values(name) if name in names else None)
    if raw.steps is not None and raw.table is not None:
        # The rows of a reader of a format that logs a step in several records, in step order: TensorBoard's and MLflow's
        # values placed by step (one row per step), TRL's entries and verl's lines (a step's rows one after another).
        steps = _row_steps(path, raw.labels, raw.steps)
        new_step = np.r_[True, np.diff(steps) > 0]
        if new_step.all():  # nothing to merge, no conflict; the rule reported as the record path reports it
            info.update(_merge_info(mapping, {"used": {}, "unused": {}}))
            return raw, steps, columns, info
        return _merged_table(raw, steps, np.cumsum(new_step) - 1, columns, mapping, info)
    if raw.steps is None:
        steps = _row_steps(path, raw.labels, raw.values(columns["step"]))
        groups = _row_groups(steps, raw, columns)
        if groups is None:
            return raw, steps, columns, info
        if raw.table is not None:
            return _merged_table(raw, steps, groups - 1, columns, mapping, info)
        raw = RawLog(raw.records, raw.labels, steps=list(groups), notes=raw.notes)
        group_steps = steps[np.r_[True, np.diff(groups) > 0]]  # each group's step
    else:
        raw = replace(raw, steps=[parse_step(path, label, step) for label, step in zip(raw.labels, raw.steps)])
        group_steps = None  # the keys are the steps
    records, labels, keys, conflicts = merge_records(path, raw, set(columns.values()), mapping.merge)
    info.update(_merge_info(mapping, conflicts))
    steps = np.array(keys, dtype=np.int64) if group_steps is None else group_steps
    _check_order(path, labels, steps)
    return RawLog(records, labels), steps, columns, info


def _merge_info(mapping: LogMapping, conflicts: dict) -> dict:
    """A file's ``attrs`` on its merge, alike on every path: the rule (:data:`MERGE_RULES`) and the conflicts it resolved."""
    return {"merge_rule": f"{mapping.merge}: {MERGE_RULES[mapping.merge]}", "conflicts": conflicts}


def _merged_table(raw: RawLog, steps: np.ndarray, groups: np.ndarray, columns: dict, mapping: LogMapping, info: dict):
    """:func:`_load`'s result for a table whose rows ``groups`` numbers by step key (0, 1, ...): merged as columns."""
    if not isinstance(raw.table, ArrowColumns) or not isinstance(raw.labels, NumberedLabels):
        raise ReadByRecords  # (every reader whose rows can repeat a step gives these)
    table, labels, conflicts = merge_table(raw.table, raw.labels, groups, set(columns.values()), mapping.merge)
    info.update(_merge_info(mapping, conflicts))
    return RawLog([], labels, steps=None, table=table, notes=raw.notes), steps[np.r_[True, np.diff(groups) > 0]], columns, info


def _row_steps(path, labels, values) -> np.ndarray:
    """The step column of a table-like log (one record per row), checked: integers that never decrease."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "if":
        whole = np.isfinite(values) & (values >= 0) & (values <= MAX_STEP) & (values == np.round(values))
        if not whole.all():
            raise ReadByRecords  # the record path names the value as the file wrote it
        steps = values.astype(np.int64)
    else:
        steps = np.array([parse_step(path, label, value) for label, value in zip(labels, values)], dtype=np.int64)
    _check_order(path, labels, steps)
    return steps


def _row_groups(steps: np.ndarray, raw: RawLog, columns) -> np.ndarray | None:
    """Group numbers of rows that repeat the previous row's step, phase and stage (a resumed writer), or None.

    Such rows are records of one step, merged like TRL's train and eval records. Two stages
    share their boundary step (each starts at the previous one's last point): those rows differ
    in phase or stage and stay two points.
    """
    others = [raw.values(columns[name]) for name in ("phase", "stage") if name in columns]
    repeat = np.zeros(len(steps), dtype=bool)
    for i in np.flatnonzero(np.diff(steps) == 0).tolist():
        repeat[i + 1] = all(_same(values[i], values[i + 1]) for values in others)
    return np.cumsum(~repeat) if repeat.any() else None


def _same(a, b) -> bool:
    return a is b or a == b or (a != a and b != b)  # NaN: no stage logged in either


def _check_order(path, labels, steps: np.ndarray) -> None:
    backwards = np.flatnonzero(np.diff(steps) < 0)
    if backwards.size:
        i = int(backwards[0]) + 1
        raise LogFormatError(path, labels[i], f"step {steps[i]} comes after step {steps[i - 1]} (steps must not decrease)")


def _sequence_level(path, labels, frame, column, mapping) -> None:
    """Per-token SFT losses times the response length (in place)."""
    length = column("response_length") if column("response_length") is not None else np.full(len(frame), np.nan)
    if mapping.response_length is not None:
        length = np.where(np.isnan(length), float(mapping.response_length), length)
    missing = np.isnan(length) & ~np.isnan(frame["sft_loss"].to_numpy())
    if missing.any():
        raise LogFormatError(path, labels[int(np.argmax(missing))], "the SFT loss is per token but no response length is "
                                                                     "known; give --response-length or a response_length column")
    if (length <= 0).any():
        i = int(np.argmax(length <= 0))
        raise LogFormatError(path, labels[i], f"'response_length' is {length[i]:g}; expected > 0 tokens")
    frame["sft_loss"] = frame["sft_loss"] * length


def read_log(path: str | Path, mapping: LogMapping | Mapping | None = None, *, fmt: str | None = None,
             sources: bool = True) -> pd.DataFrame:
    """Read one log file into the canonical columns (``stage`` from this file alone).

    Parameters
    ----------
    path : str or Path
        A log file or directory in one of :data:`FORMATS`.
    mapping : LogMapping or dict, optional
        Column renames, phase tags, loss units, preset, merge rule (see :class:`LogMapping`).
    fmt : str, optional
        One of :data:`FORMATS`, when the file name does not tell it.
    sources : bool
        With the ``source`` column (see :func:`read_run`).

    Returns
    -------
    pandas.DataFrame
        The canonical columns; ``attrs`` holds ``columns`` (canonical -> source name),
        ``ignored`` (records without any canonical quantity), ``sft_loss_units``,
        ``format`` and, for merged formats, ``merge_rule`` and ``conflicts``.

    Raises
    ------
    LogFormatError
        Undecodable text, missing step/phase/quantity columns, non-numeric or infinite
        values, steps that go backwards, empty or truncated files, naming file and line/record.
    FileNotFoundError
        The path does not exist.
    """
    path = Path(path)
    mapping = mapping if isinstance(mapping, LogMapping) else LogMapping.from_dict(mapping or {})
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such log file")
    check_regular_file(path)
    fmt = fmt or detect_format(path)
    if fmt not in _READERS:
        raise ValueError(f"fmt must be one of {sorted(_READERS)}; got {fmt!r}")
    try:
        return _canonical(path, mapping, fmt, vectorized=True, sources=sources)
    except ReadByRecords:
        return _canonical(path, mapping, fmt, vectorized=False, sources=sources)
    finally:  # the reader's tables and the sources' pieces, freed: pyarrow's pool would keep them through the next file's read
        release_arrow_memory()


def _canonical(path: Path, mapping: LogMapping, fmt: str, *, vectorized: bool, sources: bool) -> pd.DataFrame:
    """:func:`read_log`'s frame; a vectorized table that meets anything unusual raises :class:`ReadByRecords`."""
    raw, steps, columns, info = _load(path, mapping, fmt, vectorized=vectorized)
    labels = raw.labels

    def column(name):
        if name not in columns:
            return None
        return _numeric(path, labels, columns[name], raw.values(columns[name]))

    try:
        # One frame from all its columns: a column set at a time re-builds the index and blocks each time
        frame = pd.DataFrame({"step": steps, "phase": _phases(path, labels, raw.values(columns["phase"]) if "phase" in columns else None,
                                                              mapping, steps),
                              **{name: column(name) if name in columns else np.full(len(steps), np.nan) for name in QUANTITIES}})
        if mapping.loss_per_token:
            _sequence_level(path, labels, frame, column, mapping)
        given_stage = column("stage")
    except LogFormatError:
        if raw.table is None:
            raise
        raise ReadByRecords from None  # worded from the file's own values, as the record path reads them
    if sources:
        frame["source"] = _sources(path, labels)
    keep = frame[list(QUANTITIES)].notna().any(axis=1).to_numpy()
    ignored = _sources(path, _take(labels, np.flatnonzero(~keep))).tolist()
    if "sft_loss" in columns:  # on every record: a label names the record that is wrong
        check_sft_loss_plausible(path, columns["sft_loss"], frame["sft_loss"], labels)
    if not keep.all():  # (a copy of every column otherwise)
        frame = frame.loc[keep].reset_index(drop=True)
    if frame.empty:
        raise LogFormatError(path, "all records", "no record carries an SFT loss, reward, KL, learning rate or pass rate")
    frame["_given_stage"] = given_stage[keep] if given_stage is not None else np.nan
    frame.attrs = {"columns": dict(columns), "ignored": ignored, **info, "sft_coef": mapping.sft_coef,
                   "sft_loss_units": "sequence (per-token loss x response length)" if mapping.loss_per_token
                   else "as logged (sequence level)"}
    return frame


def _take(labels, rows: np.ndarray):
    """The labels of ``rows``."""
    return labels.take(rows) if isinstance(labels, NumberedLabels) else [labels[row] for row in rows]


def _sources(path: Path, labels) -> pd.Series:
    """``file:line 12`` for every row (built column-wise for a file read whole)."""
    if isinstance(labels, NumberedLabels):
        try:
            return labels.sources(path.name)
        except ImportError:  # no pyarrow: the labels one by one, below
            pass
    return pd.Series([f"{path.name}:{label}" for label in labels])  # pandas' text dtype, as the column-wise one


def read_run(paths: str | Path | Sequence[str | Path], mapping: LogMapping | Mapping | Sequence[LogMapping | Mapping] | None = None, *,
             fmt: str | None = None, sources: bool = True) -> pd.DataFrame:
    """Chain one or more logs (e.g. an SFT run, then an RL run) into one canonical run.

    Parameters
    ----------
    paths : path or sequence of paths
        Logs in run order.
    mapping : LogMapping, dict, or sequence of them, optional
        One mapping for every file, or one per file.
    fmt : str, optional
        Format of every file (see :func:`read_log`); by default from each file's name.
    sources : bool
        With the ``source`` column: each row's file and record (``trainer_state.json:log_history[3]``,
        ``log.jsonl:line 12``). False: without it, as ``nondecoupling check`` reads, since no check
        reads it (at 10^6 rows its texts take 28 MB from a JSONL log, 56-69 MB from MLflow runs or
        TensorBoard event files, and 0.1 s to make). The rows an error names, and the ignored
        records of ``attrs["files"]``, are named either way.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS` (without ``source`` where ``sources`` is False). ``attrs["files"]`` lists per file its columns, step
        offset, units and ignored records.

    Notes
    -----
    A file whose first step is below the previous file's last step restarted its step
    counter (a new trainer): its steps are offset by the previous file's last step, so
    its step 0 (the evaluation before its first update) lands on the previous file's
    last step, which is the same model. ``stage`` starts a new segment where the phase
    changes, and where a logged ``stage`` column changes within a file; a file that
    continues the previous file's phase (a resumed run) continues its stage.
    """
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not paths:
        raise ValueError("read_run: paths must name at least one log file")
    mappings = list(mapping) if isinstance(mapping, Sequence) else [mapping] * len(paths)
    if len(mappings) != len(paths):
        raise ValueError(f"read_run: {len(mappings)} mappings for {len(paths)} files; give one, or one per file")
    frames, files, last_step = [], [], None
    for index, (path, file_mapping) in enumerate(zip(paths, mappings)):
        frame = read_log(path, file_mapping, fmt=fmt, sources=sources)
        offset = 0
        if last_step is not None and frame["step"].iloc[0] < last_step:
            offset = last_step
            frame["step"] += offset
        last_step = int(frame["step"].iloc[-1])
        frame["_file"] = index
        files.append({"path": str(path), "step_offset": int(offset), **frame.attrs})
        frame.attrs = {}  # kept in files: pandas would deep-copy them into every frame and series made from the run below
        frames.append(frame)
    run = pd.concat(frames, ignore_index=True)
    same_file = run["_file"].eq(run["_file"].shift())
    stage_changed = same_file & run["_given_stage"].ne(run["_given_stage"].shift()) & run["_given_stage"].notna()
    boundary = run["phase"].ne(run["phase"].shift()) | stage_changed
    boundary.iloc[0] = False
    run["stage"] = boundary.cumsum().astype(np.int64)
    # two columns' rows: a selection of whole rows joins the texts' chunks into one copy (87 MB at 10^6 rows)
    mixed = run.loc[run["phase"] == "mixed", ["stage", "_file"]].groupby("stage")["_file"].first()
    coefficients = {int(stage): files[i]["sft_coef"] for stage, i in mixed.items() if files[i]["sft_coef"] is not None}
    run = run[[c for c in COLUMNS if sources or c != "source"]]
    run.attrs = {"files": files, "sft_coef": coefficients}
    return run


def read_run_meta(paths: str | Path | Sequence[str | Path], filename: str = "run_meta.json") -> dict:
    """Merge the ``run_meta.json`` sidecars next to the logs (earlier files win)."""
    meta: dict = {}
    for path in reversed([Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]):
        sidecar = (path if path.is_dir() else path.parent) / filename
        if sidecar.is_file():
            try:
                content = json.loads(read_text(sidecar))
            except json.JSONDecodeError as error:
                raise LogFormatError(sidecar, f"line {error.lineno}", f"invalid JSON: {error.msg}") from None
            if not isinstance(content, dict):
                raise LogFormatError(sidecar, "top level", "expected a JSON object")
            _check_expert_constants(sidecar, content)
            meta.update(content)
    return meta


def _check_expert_constants(sidecar: Path, content: dict) -> None:
    """The sidecar's a = E_p* r in [0, 1] and H(p*) >= 0, checked like the command line's flags."""
    for key, high in (("expert_pass_rate", 1.0), ("expert_entropy", math.inf)):
        value = content.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not 0 <= value <= high):
            raise LogFormatError(sidecar, f"'{key}'", f"{value!r} is not a number in [0, {high:g}]")
