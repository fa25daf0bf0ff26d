"""Raw readers of the log formats the bridge knows; :mod:`nondecoupling.bridge.logs.run` makes them canonical.

Every reader returns a :class:`RawLog`: records (``{source name: raw value}``), where each
came from, and, for formats that log one step in several records (TRL's train and eval
records, TensorBoard/MLflow's one value per event, verl's separate validation call),
the step of each record, so that the records of a step can be merged by :func:`nondecoupling.bridge.logs.merge.merge_records`.

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

import numpy as np
import pandas as pd

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
    steps : list, numpy.ndarray or None
        The step of each record, for formats whose records of one step are merged. With
        ``table``: the step of each row, one row per step, which the reader made (TensorBoard's
        and MLflow's values placed by step, verl's lines read whole): no key twice at one step.
    table : mapping of str to numpy.ndarray or pandas.Categorical, optional
        The records as columns instead (``records`` empty): a file read whole by a vectorized
        reader, whose columns are plain numbers or texts. Anything unusual in it is re-read
        record by record, so that the complaint is worded alike.
    """

    records: list
    labels: Sequence
    steps: list | np.ndarray | None = None
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


class NumberedLabels(Sequence):
    """Labels ``{prefix}{number}{suffix}``, with `` (+k more)`` where a row merged k + 1 records: made on demand.

    A file read whole has one label per row: ``line 12`` (:func:`line_labels`), ``log_history[5]``
    (a ``trainer_state.json``), or, for a log of
    one value per record merged by step (:mod:`~nondecoupling.bridge.logs.readers.scalars`), its
    first record's ``event 17 (+3 more)``, as :func:`~nondecoupling.bridge.logs.merge.merge_records`
    words a merged row. ``prefixes[prefix_codes[i]]`` is row i's prefix (one prefix: all rows).
    """

    def __init__(self, numbers: np.ndarray, prefixes: Sequence[str] = ("line ",), prefix_codes: np.ndarray | None = None,
                 more: np.ndarray | None = None, suffix: str = "") -> None:
        self.numbers, self.prefixes, self.prefix_codes, self.more = numbers, list(prefixes), prefix_codes, more
        self.suffix = suffix

    def __len__(self) -> int:
        return len(self.numbers)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        prefix = self.prefixes[0 if self.prefix_codes is None else int(self.prefix_codes[index])]
        more = 0 if self.more is None else int(self.more[index])
        return f"{prefix}{self.numbers[index]}{self.suffix}" + (f" (+{more} more)" if more else "")

    def take(self, rows: np.ndarray) -> NumberedLabels:
        """The labels of ``rows`` (integer positions), in their order."""
        return NumberedLabels(self.numbers[rows], self.prefixes, None if self.prefix_codes is None else self.prefix_codes[rows],
                              None if self.more is None else self.more[rows], self.suffix)

    def sources(self, file_name: str) -> pd.Series:
        """``{file_name}:{label}`` for every row, as pandas' text column, built column-wise by pyarrow's string kernels.

        Half the CPU of pandas' ``astype(str)`` at 10^6 rows; large strings, as pandas' "str" columns hold them.
        A prefix or a `` (+k more)`` that every row shares is one text, broadcast: as columns of copies they
        doubled the memory these texts take while built (+128 MB against +65 MB for a 600,000-row stage read
        from TensorBoard, issue 25).
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        text = pa.large_string()
        heads = [f"{file_name}:{prefix}" for prefix in self.prefixes]
        parts = [_texts(heads, self.prefix_codes), pc.cast(pa.array(self.numbers), text), pa.scalar(self.suffix, text)]
        if self.more is not None:  # at most one record per key merged into a row: a few counts
            parts.append(_texts([f" (+{count} more)" if count else "" for count in range(int(self.more.max(initial=0)) + 1)],
                                self.more))
        return pd.Series(pd.array(pc.binary_join_element_wise(*parts, pa.scalar("", text)), dtype="str"))


def _texts(texts: list, codes: np.ndarray | None):
    """``texts[codes]`` as pyarrow large strings; one text (a scalar, broadcast by the kernels) where ``codes`` is None or constant."""
    import pyarrow as pa

    first = 0 if codes is None or not len(codes) else int(codes[0])
    if codes is None or (codes == first).all():
        return pa.scalar(texts[first], pa.large_string())
    return pa.array(texts, pa.large_string()).take(pa.array(codes))


def line_labels(count: int, first: int = 1) -> NumberedLabels:
    """``line 1``, ``line 2``, ... for a file read whole, one record per line from line ``first``."""
    return NumberedLabels(np.arange(first, first + count))


def records_by_step(entries: list, notes: dict | None = None) -> RawLog:
    """A :class:`RawLog` of records ``(step, record, label)`` that log one step in several (one per value).

    Sorted by step, stably (within a step, in the order read), for
    :func:`~nondecoupling.bridge.logs.merge.merge_records`.
    """
    entries.sort(key=lambda entry: entry[0])
    steps, records, labels = zip(*entries)
    return RawLog(list(records), list(labels), steps=list(steps), notes=notes or {})


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
