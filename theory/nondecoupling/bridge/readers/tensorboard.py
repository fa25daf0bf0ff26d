"""TensorBoard event files (OpenRLHF, verl, TRL ``report_to="tensorboard"``): one record per scalar event."""

from __future__ import annotations

from pathlib import Path

from nondecoupling.bridge.errors import LogFormatError
from nondecoupling.bridge.readers import RawLog, is_eval_key


def _tensorboard_loader():
    try:
        from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
        from tensorboard.util import tensor_util
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("reading TensorBoard event files needs tensorboard: pip install -e '.[logs]'") from None
    return EventFileLoader, tensor_util


def _scalar(value, tensor_util):
    """The event value's number, or None for images, histograms, text."""
    if value.HasField("simple_value"):
        return float(value.simple_value)
    if value.HasField("tensor") and value.metadata.plugin_data.plugin_name in ("", "scalars"):
        array = tensor_util.make_ndarray(value.tensor)
        return float(array.reshape(())) if array.size == 1 else None
    return None


def read_tensorboard(path: Path, **_) -> RawLog:
    """An event file or a directory of them; records of one step are merged later (by step)."""
    EventFileLoader, tensor_util = _tensorboard_loader()
    files = sorted(p for p in path.rglob("*tfevents*") if p.is_file()) if path.is_dir() else [path]
    if not files:
        raise LogFormatError(path, "directory", "no TensorBoard event files (*tfevents*) in it")
    entries = []
    for file in files:
        prefix = f"{file.relative_to(path)} " if path.is_dir() else ""
        try:
            events = list(EventFileLoader(str(file)).Load())
        except Exception as error:  # the loader raises protobuf/IO errors of many kinds on a corrupt file
            raise LogFormatError(file, "event file", f"unreadable: {error}") from None
        for index, event in enumerate(events):
            for value in event.summary.value:
                number = _scalar(value, tensor_util)
                if number is not None:
                    entries.append((event.step, {"step": event.step, value.tag: number}, f"{prefix}event {index}",
                                    is_eval_key(value.tag)))
    if not entries:
        raise LogFormatError(path, "event 0", "no scalar summaries in the event file(s)")
    entries.sort(key=lambda entry: entry[0])  # stable: within a step, file order
    steps, records, labels, is_eval = zip(*entries)
    return RawLog(list(records), list(labels), steps=list(steps), is_eval=list(is_eval))
