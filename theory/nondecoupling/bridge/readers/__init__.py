"""Raw readers of the log formats the bridge knows; :mod:`nondecoupling.bridge.logs` makes them canonical.

Every reader returns a :class:`RawLog`: records (``{source name: raw value}``), where each
came from, and, for formats that log one step in several records (TRL's train and eval
records, TensorBoard/MLflow's one value per event, verl's separate validation call),
the step of each record and whether it is an evaluation record, so that the records of a
step can be merged by :func:`nondecoupling.bridge.logs.merge_records`.

Formats and their writers (the fixtures in ``tests/bridge`` come from these writers):

=============  ===========================================================================
trl            ``trainer_state.json`` (``transformers.Trainer``: ``state.log_history``)
csv            a table with a step column (tracker exports, hand-written)
wandb          W&B panel export CSV: ``Step``, ``<run> - <key>``, ``<run> - <key>__MIN/__MAX``
jsonl          one object per line (the canonical format of :mod:`simulations.qwen3`);
               verl's file logger (lines ``{"step": N, "data": {...}}``) is recognised
verl-console   verl's console logger: lines ``step:N - key:value - ...``
               (``verl/utils/logger/aggregate_logger.py``, ``concat_dict_to_str``)
tensorboard    event files (OpenRLHF, verl, TRL's ``report_to="tensorboard"``)
mlflow         MLflow's file store: ``mlruns/<exp>/<run>/metrics/<key>``, lines
               ``timestamp value step`` (``mlflow/store/tracking/file_store.py``)
=============  ===========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nondecoupling.bridge.errors import LogFormatError


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
    """

    records: list
    labels: list
    steps: list | None = None
    is_eval: list | None = None
    notes: dict = field(default_factory=dict)


def is_eval_key(key: str) -> bool:
    """An evaluation metric by the writers' conventions: ``eval_*``, ``eval/*``, ``val/*``, ``val-*``."""
    return key.startswith(("eval_", "eval/", "val/", "val-", "val_"))


def read_text(path: Path) -> str:
    """The file as text: UTF-8, a leading BOM dropped; undecodable bytes name the file and line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise LogFormatError(path, f"line {line}, byte {error.start}",
                             f"not UTF-8 text ({error.reason}: {data[error.start:error.start + 1]!r})") from None


def detect_format(path: Path) -> str:
    """The format from the file's name (and, for directories, their content)."""
    name = path.name.lower()
    if path.is_dir():
        if name == "metrics" or (path / "metrics").is_dir() or any(path.glob("*/metrics")):
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
