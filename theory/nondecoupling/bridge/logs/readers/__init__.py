"""Raw readers of the log formats the bridge knows; :mod:`nondecoupling.bridge.logs.run` makes them canonical.

Every reader returns a :class:`RawLog`: records (``{source name: raw value}``), where each
came from, and, for formats that log one step in several records (TRL's train and eval
records, TensorBoard/MLflow's one value per event, verl's separate validation call),
the step of each record and whether it is an evaluation record, so that the records of a
step can be merged by :func:`nondecoupling.bridge.logs.run.merge_records`.

Formats and their writers (the fixtures in ``tests/bridge`` come from these writers):

=============  ===========================================================================
trl            ``trainer_state.json`` (``transformers.Trainer``: ``state.log_history``)
csv            a table with a step column (tracker exports, hand-written)
wandb          W&B panel export CSV: ``Step``, ``<run> - <key>``, ``<run> - <key>__MIN/__MAX``
jsonl          one object per line (the canonical format: the live callback's ``log.jsonl``);
               verl's file logger (lines ``{"step": N, "data": {...}}``) is recognised
verl-console   verl's console logger: lines ``step:N - key:value - ...``
               (``verl/utils/logger/aggregate_logger.py``, ``concat_dict_to_str``)
tensorboard    event files (OpenRLHF, verl, TRL's ``report_to="tensorboard"``)
mlflow         MLflow's file store: ``mlruns/<exp>/<run>/metrics/<key>``, lines
               ``timestamp value step`` (``mlflow/store/tracking/file_store.py``)
=============  ===========================================================================
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nondecoupling.bridge.errors import LogFormatError

#: The largest step read: steps are compared and fitted as float64, which holds every integer up to 2**53.
MAX_STEP = 2**53
_DIGITS = re.compile(r"\+?[0-9]+")


class ReadByRecords(Exception):
    """A vectorized table met what only the record-by-record path handles (or words): read the file that way."""


@dataclass
class RawLog:
    """What a reader found, before column resolution.

    Attributes
    ----------
    records : list of dict
        One per record (row, line, event, log_history entry).
    labels : list of str
        Where each record came from (``line 3``, ``log_history[5]``, ``event 17``).
    steps : list or None
        The step of each record, for formats whose records of one step are merged.
    is_eval : list of bool or None
        Whether each record is an evaluation record (used by the ``eval``/``train`` merge rules).
    table : mapping of str to numpy.ndarray or pandas.Categorical, optional
        The records as columns instead (``records`` empty): a file read whole by a vectorized
        reader, whose columns are plain numbers or texts. Anything unusual in it is re-read
        record by record, so that the complaint is worded alike.
    """

    records: list
    labels: Sequence
    steps: list | None = None
    is_eval: list | None = None
    notes: dict = field(default_factory=dict)
    table: Mapping | None = None

    def names(self) -> list:
        """The source names (keys, columns, tags), in order of first appearance."""
        if self.table is not None:
            return list(self.table)
        return list(dict.fromkeys(key for record in self.records for key in record))

    def values(self, name: str) -> Sequence:
        """The raw values of ``name``, one per record (None or NaN where a record lacks it)."""
        if self.table is not None:
            return self.table[name]
        return [record.get(name) for record in self.records]


class LineLabels(Sequence):
    """``line 1``, ``line 2``, ... for a file read whole, one record per line from line ``first``: made on demand."""

    def __init__(self, count: int, first: int = 1) -> None:
        self.lines = range(first, first + count)

    def __len__(self) -> int:
        return len(self.lines)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [f"line {line}" for line in self.lines[index]]
        return f"line {self.lines[index]}"


def is_eval_key(key: str) -> bool:
    """An evaluation metric by the writers' conventions: ``eval_*``, ``eval/*``, ``val/*``, ``val-*``."""
    return key.startswith(("eval_", "eval/", "val/", "val-", "val_"))


def parse_step(path: str | Path, where: str, value: object) -> int:
    """A logged step as an ``int`` in [0, :data:`MAX_STEP`]: an integer, an integral float, or such a text.

    Anything else (a bool, a list, ``"1.5"``, ``"²"``, 2**63) is a :class:`LogFormatError` naming
    the file and the record.
    """
    number = _whole_number(value)
    if number is None or not 0 <= number <= MAX_STEP:
        raise LogFormatError(path, where, f"step is {value!r}; expected an integer from 0 to 2**53 = {MAX_STEP}")
    return number


def _whole_number(value) -> int | None:
    if isinstance(value, str):
        text = value.strip()
        if _DIGITS.fullmatch(text):
            return int(text)
        try:  # "5.0", "1e3" (ASCII only: float() would also read other scripts' digits)
            value = float(text) if text.isascii() else None
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if not math.isfinite(value):
        return None
    whole = int(math.trunc(value))  # numbers.Real promises __trunc__, not __int__
    return whole if value == whole else None


def check_regular_file(path: Path) -> None:
    """A log must be a regular file or a directory: a FIFO or a device would block or never end."""
    if path.exists() and not (path.is_file() or path.is_dir()):
        raise LogFormatError(path, "file", "not a regular file (a FIFO, socket or device); give a log file or directory")


def read_text(path: Path) -> str:
    """The file as text: UTF-8, a leading BOM dropped; undecodable bytes name the file and line."""
    check_regular_file(path)
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise LogFormatError(path, f"line {line}, byte {error.start}",
                             f"not UTF-8 text ({error.reason}: {data[error.start:error.start + 1]!r})") from None


def is_mlflow_run(path: Path) -> bool:
    """An MLflow run directory: ``metrics/``, or the ``meta.yaml`` and ``params/`` or ``tags/`` of every run."""
    return path.is_dir() and ((path / "metrics").is_dir() or (
        (path / "meta.yaml").is_file() and ((path / "params").is_dir() or (path / "tags").is_dir())))


def detect_format(path: Path) -> str:
    """The format from the file's name (and, for directories, their content)."""
    name = path.name.lower()
    if path.is_dir():
        if name == "metrics" or any(is_mlflow_run(p) for p in (path, *path.iterdir())):
            return "mlflow"
        return "tensorboard"
    if "tfevents" in name:
        return "tensorboard"
    for suffixes, fmt in (((".json",), "trl"), ((".csv", ".tsv"), "csv"), ((".jsonl", ".ndjson"), "jsonl"),
                          ((".log", ".txt", ".out"), "verl-console")):
        if name.endswith(suffixes):
            return fmt
    raise LogFormatError(path, "file name", "unknown log format (expected .json, .csv, .tsv, .jsonl, .log/.txt, "
                                            "a tfevents file, a TensorBoard directory or an MLflow run directory)")
