"""MLflow's local file store: ``mlruns/<experiment>/<run>/metrics/<key>``, lines ``timestamp value step``.

As written by ``mlflow.log_metric`` with a ``file:`` tracking URI (``FileStore._log_run_metric`` in
``mlflow/store/tracking/file_store.py``); keys with ``/`` are nested directories. A value measured
on a dataset (``log_metric(..., dataset=...)``) has the dataset's name and digest after the step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nondecoupling.bridge.errors import LogFormatError
from nondecoupling.bridge.logs.readers import (
    RawLog,
    ReadByRecords,
    is_mlflow_run,
    parse_step,
    read_text,
    records_by_step,
)
from nondecoupling.bridge.logs.readers.scalars import Scalars, by_step


def _run_directory(path: Path, run: str | None) -> Path:
    """The run's directory from a run, its ``metrics`` directory, or an experiment directory (+ ``run``)."""
    if path.name == "metrics":
        return path.parent
    if is_mlflow_run(path):
        return path
    runs = sorted(p for p in path.iterdir() if is_mlflow_run(p))
    names = {r: _run_name(r) for r in runs}
    if run is not None:
        chosen = [r for r in runs if run in (r.name, names[r])]
        if not chosen:
            raise LogFormatError(path, "runs", f"no run {run!r}; it has {', '.join(f'{r.name} ({names[r]})' for r in runs)}")
        return chosen[0]
    if len(runs) != 1:
        raise LogFormatError(path, "runs", f"{len(runs)} runs in the experiment "
                                           f"({', '.join(f'{r.name} ({names[r]})' for r in runs)}); choose one with --run")
    return runs[0]


def _run_name(run_dir: Path) -> str:
    tag = run_dir / "tags" / "mlflow.runName"
    return tag.read_text().strip() if tag.is_file() else ""


def read_mlflow(path: Path, *, run: str | None = None, vectorized: bool = True, **_: object) -> RawLog:
    """Every metric file of one run: one row per step (:func:`~.scalars.by_step`), else one record per line merged later.

    With ``vectorized``, each file is parsed whole by pyarrow's CSV reader (:func:`_metric_columns`).
    """
    run_dir = _run_directory(path, run)
    metrics = run_dir / "metrics"
    files = sorted(p for p in metrics.rglob("*") if p.is_file()) if metrics.is_dir() else []
    if not files:  # mlflow leaves metrics/ empty, and copies (git) drop the empty folder
        raise LogFormatError(run_dir, "metrics/", "the MLflow run logged no metrics (parameters or tags only)")
    notes = {"mlflow_run": run_dir.name}
    if vectorized:
        return by_step(_scalars(metrics, files), notes)
    entries = [entry for file in files for entry in _file_entries(file, file.relative_to(metrics).as_posix())]
    if not entries:
        raise LogFormatError(metrics, "every file", "no 'timestamp value step' lines")
    return records_by_step(entries, notes)


def _file_entries(file: Path, key: str) -> list:
    """``(step, record, label)`` for every line of one metric file (blank lines skipped).

    A line ``timestamp value step dataset_name dataset_digest`` is a value measured on a dataset
    (``mlflow.log_metric(..., dataset=...)``). A key logged on several datasets is several series,
    named by :func:`_series_names`, so that no merge mixes two datasets' values.
    """
    lines = []
    for number, line in enumerate(read_text(file).splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) not in (3, 5):
            raise LogFormatError(file, f"line {number}", "expected 'timestamp value step', or with a dataset's name and digest "
                                                         f"after it, got {line!r}")
        lines.append((parse_step(file, f"line {number}", parts[2]), parts[1], tuple(parts[3:]), number))
    names = _series_names(key, dict.fromkeys(dataset for *_, dataset, _ in lines))
    return [(step, {"step": step, names[dataset]: value}, f"metrics/{key} line {number}")
            for step, value, dataset, number in lines]


def _series_names(key: str, datasets) -> dict:
    """The name of each series of ``key``, by ``(dataset_name, dataset_digest)`` (``()``: no dataset).

    One series keeps the key's own name. Several are ``key[dataset_name]``, or
    ``key[dataset_name:digest]`` where two versions of a dataset share its name; values logged
    without a dataset are ``key[]``.
    """
    datasets = list(datasets)
    if len(datasets) == 1:
        return {datasets[0]: key}
    names = [dataset[0] if dataset else "" for dataset in datasets]
    return {dataset: f"{key}[{':'.join(dataset) if names.count(name) > 1 else name}]" for dataset, name in zip(datasets, names)}


def _scalars(metrics: Path, files: list) -> Scalars:
    """The metric files' values as flat columns; :class:`ReadByRecords` where a file is not plainly as mlflow writes it."""
    keys, columns = [], []
    for file in files:
        steps, values = _metric_columns(file)
        if len(steps):  # as the line reader, which finds no line in it
            keys.append(file.relative_to(metrics).as_posix())
            columns.append((steps, values))
    if not columns:
        raise ReadByRecords  # worded by the line reader
    counts = [len(steps) for steps, _ in columns]
    codes = np.repeat(np.arange(len(keys), dtype=np.int32), counts)
    return Scalars(np.concatenate([steps for steps, _ in columns]), codes, np.concatenate([values for _, values in columns]),
                   keys, [f"metrics/{key} line " for key in keys], codes,
                   np.concatenate([np.arange(1, count + 1) for count in counts]))


def _metric_columns(file: Path) -> tuple[np.ndarray, np.ndarray]:
    """One metric file's steps and values, parsed whole by pyarrow's CSV reader (no Python object per line).

    The timestamps are counted as fields, never converted (no check reads them: 20 MB of texts at 10^6
    lines). Only lines ``timestamp value step`` joined by single spaces, a float value (``nan`` too) and
    an int64 step, with no blank line (which would shift the line numbers the labels give) and no
    quoting: anything else raises :class:`ReadByRecords`, and the line reader reads or words it.
    """
    import pyarrow as pa
    from pyarrow import csv

    data = file.read_bytes()
    if not data:
        return np.empty(0, np.int64), np.empty(0)
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    if data.count(b"\r") != data.count(b"\r\n"):
        raise ReadByRecords  # a lone carriage return ends a line for the line reader
    try:
        table = csv.read_csv(pa.BufferReader(data),
                             read_options=csv.ReadOptions(column_names=["timestamp", "value", "step"], use_threads=False),
                             parse_options=csv.ParseOptions(delimiter=" ", quote_char=False),
                             convert_options=csv.ConvertOptions(
                                 column_types={"value": pa.float64(), "step": pa.int64()}, include_columns=["value", "step"],
                                 null_values=[], strings_can_be_null=False))
    except pa.ArrowInvalid:
        raise ReadByRecords from None
    if table.num_rows != lines:
        raise ReadByRecords  # a blank line, skipped by pyarrow
    return table["step"].to_numpy(), table["value"].to_numpy()
