"""MLflow's local file store: ``mlruns/<experiment>/<run>/metrics/<key>``, lines ``timestamp value step``.

As written by ``mlflow.log_metric`` with a ``file:`` tracking URI (``FileStore`` in
``mlflow/store/tracking/file_store.py``); keys with ``/`` are nested directories.
"""

from __future__ import annotations

from pathlib import Path

from nondecoupling.bridge.errors import LogFormatError
from nondecoupling.bridge.logs.readers import RawLog, is_eval_key, is_mlflow_run, parse_step, read_text


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


def read_mlflow(path: Path, *, run: str | None = None, **_: object) -> RawLog:
    """Every metric file of one run, one record per line, merged by step later."""
    run_dir = _run_directory(path, run)
    metrics = run_dir / "metrics"
    files = sorted(p for p in metrics.rglob("*") if p.is_file()) if metrics.is_dir() else []
    if not files:  # mlflow leaves metrics/ empty, and copies (git) drop the empty folder
        raise LogFormatError(run_dir, "metrics/", "the MLflow run logged no metrics (parameters or tags only)")
    entries = []
    for file in files:
        key = file.relative_to(metrics).as_posix()
        for number, line in enumerate(read_text(file).splitlines(), start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 3:
                raise LogFormatError(file, f"line {number}", f"expected 'timestamp value step', got {line!r}")
            _timestamp, value, step_text = parts
            step = parse_step(file, f"line {number}", step_text)
            entries.append((step, {"step": step, key: value}, f"metrics/{key} line {number}", is_eval_key(key)))
    if not entries:
        raise LogFormatError(metrics, "every file", "no 'timestamp value step' lines")
    entries.sort(key=lambda entry: entry[0])  # stable: within a step, file order
    steps, records, labels, is_eval = zip(*entries)
    return RawLog(list(records), list(labels), steps=list(steps), is_eval=list(is_eval),
                  notes={"mlflow_run": run_dir.name})
