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
            :mod:`simulations.qwen3` does); ``reward`` is then a sampled estimate
            of it (optional; NaN where not logged)
source      ``"file:line 12"`` / ``"file:log_history[3]"`` / ``"file:event 17"``
==========  =====================================================================

Formats: TRL's ``trainer_state.json`` (its ``log_history``; entries that share a step,
such as a training and an evaluation record, are merged), CSV (as exported from
experiment trackers), JSONL (one object per line; the canonical format written by
:mod:`simulations.qwen3`) and TensorBoard event files (a file or a directory of them).

Column names are found through :data:`ALIASES`; a :class:`LogMapping` renames others and
tags phases when the log does not say which stage a step belongs to. A malformed log
raises :class:`LogFormatError` naming the file, the line or record, and what is wrong.
Records that carry none of the canonical quantities (e.g. TRL's closing
``train_runtime`` record) are not rows of the run; they are listed in
``run.attrs["ignored"]``, never dropped silently.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

PHASES = ("sft", "rl")
QUANTITIES = ("sft_loss", "reward", "kl", "lr", "pass_rate")
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
    "response_length": ("response_length",),
}
SFT_ONLY_ALIASES = ("eval_loss", "eval/loss")


class LogFormatError(ValueError):
    """A log file is malformed or incomplete.

    The message names the file, the line or record, and what is wrong.
    """

    def __init__(self, path, where: str, problem: str):
        self.path, self.where, self.problem = str(path), where, problem
        super().__init__(f"{path}, {where}: {problem}")


@dataclass(frozen=True)
class LogMapping:
    """How to read one log file whose names or phases are not canonical.

    Parameters
    ----------
    columns : mapping of str to str
        Source column (or tag) name -> canonical name (``step``, ``phase``, ``stage``,
        ``sft_loss``, ``reward``, ``kl``, ``lr``, ``pass_rate``, ``response_length``).
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
    """

    columns: Mapping[str, str] = field(default_factory=dict)
    phase: str | None = None
    loss_per_token: bool = False
    response_length: float | None = None

    @classmethod
    def from_dict(cls, spec: Mapping) -> LogMapping:
        """Build from a JSON-style dict with the field names as keys."""
        unknown = set(spec) - {"columns", "phase", "loss_per_token", "response_length"}
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
            match = re.fullmatch(r"\s*(sft|rl)\s*:\s*(\d+)\s*", part)
            if match is None:
                raise ValueError(
                    f"mapping: phase {self.phase!r} is neither 'sft', 'rl' nor a switch list like 'sft:0,rl:500'"
                )
            switches.append((int(match.group(2)), match.group(1)))
        return sorted(switches)


def detect_format(path: Path) -> str:
    """``"trl"``, ``"csv"``, ``"jsonl"`` or ``"tensorboard"`` from the file's name."""
    name = path.name.lower()
    if path.is_dir() or "tfevents" in name:
        return "tensorboard"
    for suffixes, fmt in (((".json",), "trl"), ((".csv", ".tsv"), "csv"), ((".jsonl", ".ndjson"), "jsonl")):
        if name.endswith(suffixes):
            return fmt
    raise LogFormatError(path, "file name", "unknown log format (expected .json, .csv, .tsv, .jsonl or a tfevents file)")


# ---------------------------------------------------------------- raw readers
# Each returns (records, labels): a list of {source name: raw value} and where each came from.


def _read_trl(path: Path):
    try:
        state = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise LogFormatError(path, f"line {error.lineno}", f"invalid JSON: {error.msg}") from None
    if not isinstance(state, dict) or not isinstance(state.get("log_history"), list):
        raise LogFormatError(path, "top level", "not a trainer_state.json: no 'log_history' list")
    merged: dict[object, dict] = {}
    labels: dict[object, list[int]] = {}
    for index, entry in enumerate(state["log_history"]):
        where = f"log_history[{index}]"
        if not isinstance(entry, dict):
            raise LogFormatError(path, where, f"expected an object, got {type(entry).__name__}")
        if "step" not in entry:
            raise LogFormatError(path, where, "no 'step'")
        record = merged.setdefault(entry["step"], {})
        for key, value in entry.items():
            if key in record and record[key] != value:
                raise LogFormatError(
                    path, where, f"'{key}' = {value!r} conflicts with {record[key]!r} logged at the same step"
                )
            record[key] = value
        labels.setdefault(entry["step"], []).append(index)
    return list(merged.values()), [f"log_history[{','.join(map(str, i))}]" for i in labels.values()]


def _read_csv(path: Path):
    try:
        frame = pd.read_csv(path, sep=None, engine="python", dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise LogFormatError(path, "line 1", "empty file (no header)") from None
    except pd.errors.ParserError as error:
        raise LogFormatError(path, "parsing", str(error)) from None
    if frame.empty:
        raise LogFormatError(path, "line 2", "no data rows after the header")
    records = [{k: (None if v == "" else v) for k, v in row.items()} for row in frame.to_dict("records")]
    return records, [f"line {i + 2}" for i in range(len(records))]


def _read_jsonl(path: Path):
    records, labels = [], []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise LogFormatError(path, f"line {number}", f"invalid JSON (truncated line?): {error.msg}") from None
        if not isinstance(record, dict):
            raise LogFormatError(path, f"line {number}", f"expected a JSON object, got {type(record).__name__}")
        records.append(record)
        labels.append(f"line {number}")
    if not records:
        raise LogFormatError(path, "line 1", "empty file (no records)")
    return records, labels


def _tensorboard_loader():
    try:
        from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
        from tensorboard.util import tensor_util
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "reading TensorBoard event files needs tensorboard: pip install -e '.[logs]'"
        ) from None
    return EventFileLoader, tensor_util


def _read_tensorboard(path: Path):
    EventFileLoader, tensor_util = _tensorboard_loader()
    files = sorted(p for p in path.rglob("*tfevents*") if p.is_file()) if path.is_dir() else [path]
    if not files:
        raise LogFormatError(path, "directory", "no TensorBoard event files (*tfevents*) in it")
    merged: dict[int, dict] = {}
    labels: dict[int, list[str]] = {}
    for file in files:
        prefix = f"{file.relative_to(path)} " if path.is_dir() else ""
        for index, event in enumerate(EventFileLoader(str(file)).Load()):
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    number = float(value.simple_value)
                elif value.HasField("tensor") and value.metadata.plugin_data.plugin_name in ("", "scalars"):
                    array = tensor_util.make_ndarray(value.tensor)
                    if array.size != 1:
                        continue
                    number = float(array.reshape(()))
                else:
                    continue  # images, histograms, text: not curves
                record = merged.setdefault(event.step, {"step": event.step})
                if value.tag in record and record[value.tag] != number:
                    raise LogFormatError(
                        path, f"{prefix}event {index}",
                        f"tag '{value.tag}' = {number!r} conflicts with {record[value.tag]!r} at step {event.step}",
                    )
                record[value.tag] = number
                labels.setdefault(event.step, []).append(f"{prefix}event {index}")
    if not merged:
        raise LogFormatError(path, "event 0", "no scalar summaries in the event file(s)")
    steps = sorted(merged)
    return [merged[s] for s in steps], [sorted(set(labels[s]))[0] for s in steps]


_READERS = {"trl": _read_trl, "csv": _read_csv, "jsonl": _read_jsonl, "tensorboard": _read_tensorboard}


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
    for canonical, names in ALIASES.items():
        if canonical in chosen:
            continue
        candidates = names + (SFT_ONLY_ALIASES if canonical == "sft_loss" and file_is_sft else ())
        found = next((n for n in candidates if n in available), None)
        if found is not None:
            chosen[canonical] = found
    return chosen


def _numeric(path, labels, name, values) -> np.ndarray:
    """Float array with NaN for missing entries; an error for anything else non-numeric."""
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
        if not math.isfinite(number):
            raise LogFormatError(path, labels[i], f"'{name}' is {value!r}, not a finite number")
        out[i] = number
    return out


def _phases(path, labels, records, columns, mapping, steps) -> np.ndarray:
    switches = mapping.phase_switches()
    if switches is not None:
        first = switches[0][0]
        if steps[0] < first:
            raise LogFormatError(path, labels[0], f"step {steps[0]:g} precedes the first phase switch (step {first})")
        index = np.searchsorted([s for s, _ in switches], steps, side="right") - 1
        return np.array([switches[i][1] for i in index], dtype=object)
    if "phase" not in columns:
        raise LogFormatError(
            path, "columns", "no 'phase' column; tag the file with a phase: --phase sft|rl or a switch list 'sft:0,rl:500'"
        )
    phases = []
    for label, record in zip(labels, records):
        value = record.get(columns["phase"])
        if not isinstance(value, str) or value.strip().lower() not in PHASES:
            raise LogFormatError(path, label, f"phase is {value!r}; expected 'sft' or 'rl'")
        phases.append(value.strip().lower())
    return np.array(phases, dtype=object)


def read_log(path, mapping: LogMapping | Mapping | None = None, *, fmt: str | None = None) -> pd.DataFrame:
    """Read one log file into the canonical columns (``stage`` from this file alone).

    Parameters
    ----------
    path : str or Path
        A ``trainer_state.json``, CSV, JSONL or TensorBoard event file/directory.
    mapping : LogMapping or dict, optional
        Column renames, phase tags and loss units (see :class:`LogMapping`).
    fmt : {"trl", "csv", "jsonl", "tensorboard"}, optional
        The format, when the file name does not tell it.

    Returns
    -------
    pandas.DataFrame
        The canonical columns; ``attrs`` holds ``columns`` (canonical -> source name),
        ``ignored`` (records without any canonical quantity) and ``sft_loss_units``.

    Raises
    ------
    LogFormatError
        Missing step/phase/quantity columns, non-numeric or non-finite values, steps that
        go backwards, empty or truncated files, naming file and line/record.
    FileNotFoundError
        The path does not exist.
    """
    path = Path(path)
    mapping = mapping if isinstance(mapping, LogMapping) else LogMapping.from_dict(mapping or {})
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such log file")
    fmt = fmt or detect_format(path)
    if fmt not in _READERS:
        raise ValueError(f"fmt must be one of {sorted(_READERS)}; got {fmt!r}")
    if path.is_file() and path.stat().st_size == 0:
        raise LogFormatError(path, "line 1", "empty file")
    records, labels = _READERS[fmt](path)
    available = list(dict.fromkeys(key for record in records for key in record))
    columns = _resolve_columns(path, available, mapping)
    if "step" not in columns:
        raise LogFormatError(path, "columns", f"no step column (looked for {', '.join(ALIASES['step'])}); map one, e.g. --map COL=step")
    if "sft_loss" not in columns and "reward" not in columns:
        hint = " ('eval_loss' counts as the SFT loss only in a file tagged --phase sft)" if any(
            n in available for n in SFT_ONLY_ALIASES
        ) else ""
        raise LogFormatError(path, "columns", f"neither an SFT-loss nor a reward column among {sorted(available)}{hint}; map one, e.g. --map COL=sft_loss")

    def column(name):
        return _numeric(path, labels, columns[name], [r.get(columns[name]) for r in records])

    steps = column("step")
    for i, step in enumerate(steps):
        if np.isnan(step) or step < 0 or step != round(step):
            raise LogFormatError(path, labels[i], f"step is {records[i].get(columns['step'])!r}; expected an integer >= 0")
        if i and step < steps[i - 1]:
            raise LogFormatError(path, labels[i], f"step {step:g} comes after step {steps[i - 1]:g} (steps must not decrease)")
    frame = pd.DataFrame({"step": steps.astype(np.int64)})
    frame["phase"] = _phases(path, labels, records, columns, mapping, steps)
    for name in QUANTITIES:
        frame[name] = column(name) if name in columns else np.nan
    if mapping.loss_per_token:
        length = column("response_length") if "response_length" in columns else np.full(len(frame), np.nan)
        if mapping.response_length is not None:
            length = np.where(np.isnan(length), float(mapping.response_length), length)
        missing = np.isnan(length) & ~np.isnan(frame["sft_loss"].to_numpy())
        if missing.any():
            raise LogFormatError(
                path, labels[int(np.argmax(missing))],
                "the SFT loss is per token but no response length is known; give --response-length or a response_length column",
            )
        frame["sft_loss"] = frame["sft_loss"] * length
    given_stage = column("stage") if "stage" in columns else None
    frame["source"] = [f"{path.name}:{label}" for label in labels]
    keep = frame[list(QUANTITIES)].notna().any(axis=1).to_numpy()
    ignored = frame.loc[~keep, "source"].tolist()
    frame = frame.loc[keep].reset_index(drop=True)
    if frame.empty:
        raise LogFormatError(path, "all records", "no record carries an SFT loss, reward, KL, learning rate or pass rate")
    frame["_given_stage"] = given_stage[keep] if given_stage is not None else np.nan
    frame.attrs = {
        "columns": dict(columns),
        "ignored": ignored,
        "sft_loss_units": "sequence (per-token loss x response length)" if mapping.loss_per_token else "as logged (sequence level)",
    }
    return frame


def read_run(paths, mapping=None, *, fmt: str | None = None) -> pd.DataFrame:
    """Chain one or more logs (e.g. an SFT run, then an RL run) into one canonical run.

    Parameters
    ----------
    paths : path or sequence of paths
        Logs in run order.
    mapping : LogMapping, dict, or sequence of them, optional
        One mapping for every file, or one per file.
    fmt : str, optional
        Format of every file (see :func:`read_log`); by default from each file's name.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`. ``attrs["files"]`` lists per file its columns, step
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
    mappings = list(mapping) if isinstance(mapping, (list, tuple)) else [mapping] * len(paths)
    if len(mappings) != len(paths):
        raise ValueError(f"read_run: {len(mappings)} mappings for {len(paths)} files; give one, or one per file")
    frames, files, last_step = [], [], None
    for index, (path, file_mapping) in enumerate(zip(paths, mappings)):
        frame = read_log(path, file_mapping, fmt=fmt)
        offset = 0
        if last_step is not None and frame["step"].iloc[0] < last_step:
            offset = last_step
            frame["step"] += offset
        last_step = int(frame["step"].iloc[-1])
        frame["_file"] = index
        files.append({"path": str(path), "step_offset": int(offset), **frame.attrs})
        frames.append(frame)
    run = pd.concat(frames, ignore_index=True)
    same_file = run["_file"].eq(run["_file"].shift())
    stage_changed = same_file & run["_given_stage"].ne(run["_given_stage"].shift()) & run["_given_stage"].notna()
    boundary = run["phase"].ne(run["phase"].shift()) | stage_changed
    boundary.iloc[0] = False
    run["stage"] = boundary.cumsum().astype(np.int64)
    run = run[list(COLUMNS)]
    run.attrs = {"files": files}
    return run


def read_run_meta(paths, filename: str = "run_meta.json") -> dict:
    """Merge the ``run_meta.json`` sidecars next to the logs (earlier files win)."""
    meta: dict = {}
    for path in reversed([Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]):
        sidecar = (path if path.is_dir() else path.parent) / filename
        if sidecar.is_file():
            try:
                content = json.loads(sidecar.read_text())
            except json.JSONDecodeError as error:
                raise LogFormatError(sidecar, f"line {error.lineno}", f"invalid JSON: {error.msg}") from None
            if not isinstance(content, dict):
                raise LogFormatError(sidecar, "top level", "expected a JSON object")
            meta.update(content)
    return meta
