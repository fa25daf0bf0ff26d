"""TensorBoard event files (OpenRLHF, verl, TRL ``report_to="tensorboard"``): one value per scalar event, merged by step.

An event file is a sequence of TFRecords: an 8-byte little-endian length, its masked
CRC-32C, the serialized ``Event`` and its masked CRC-32C. TensorBoard's own loader stops
quietly at a damaged or truncated record (a live run may still be writing it); a finished
log must be whole, so this reader checks the framing and both checksums of every record
and names the file, the record and the byte offset where it breaks
(:func:`~nondecoupling.bridge.logs.readers.tfrecord.frames`). The events of ``add_scalar``'s
layout are decoded together (:func:`~nondecoupling.bridge.logs.readers.tfrecord.scalar_events`),
every other event by protobuf, one at a time.

The scalars are collected as flat arrays and placed one row per step by
:func:`~nondecoupling.bridge.logs.readers.scalars.by_step`; the record path (one record per
value, merged by :func:`~nondecoupling.bridge.logs.merge.merge_records`) takes a log where a tag is
logged twice at one step.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from nondecoupling.bridge.errors import LogFormatError
from nondecoupling.bridge.logs.readers import RawLog, check_regular_file
from nondecoupling.bridge.logs.readers.scalars import Scalars, by_step
from nondecoupling.bridge.logs.readers.tfrecord import frames, scalar_events


def _tensorboard():
    """tensorboard's ``Event`` message and the plain CRC-32C of bytes (google-crc32c's C one)."""
    try:
        import google_crc32c
        from tensorboard.compat.proto import event_pb2
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("reading TensorBoard event files needs tensorboard and google-crc32c: pip install -e '.[logs]'") from None
    return event_pb2, google_crc32c.value


#: TensorProto's dtype codes of float32 and float64 and the field that holds their values.
_FLOAT_FIELDS = {1: "float_val", 2: "double_val"}


def _scalar(value, plugin: str):
    """The event value's number, or None for images, histograms, text."""
    if value.HasField("simple_value"):
        return float(value.simple_value)
    if value.HasField("tensor") and plugin in ("", "scalars"):
        tensor = value.tensor
        field = _FLOAT_FIELDS.get(tensor.dtype)
        # A one-element float tensor (tensorboard's own add_scalar) read from its field directly: tensor_util's general
        # make_ndarray costs 15 us a value. Its number is the same: the field holds it at the dtype's precision.
        if field and not tensor.tensor_content and all(dim.size == 1 for dim in tensor.tensor_shape.dim):
            values = getattr(tensor, field)
            if len(values) == 1:
                return float(values[0])
        from tensorboard.util import tensor_util  # 0.15 s of imports (fsspec among them): only for such a tensor

        array = tensor_util.make_ndarray(tensor)
        return float(array.reshape(())) if array.size == 1 and array.dtype.kind in "fiu" else None
    return None


class _Collected:
    """The scalars of event files as flat arrays (no Python object kept per value): :class:`Scalars` when done."""

    def __init__(self) -> None:
        self.columns: list[tuple[np.ndarray, ...]] = []  # per file: steps, codes, values, prefix codes, event numbers
        self.keys: dict[str, int] = {}
        self.prefixes: list[str] = []

    def read(self, file: Path, prefix: str) -> None:
        """Every scalar of one event file: its step, tag, number and event index, in the file's order."""
        event_pb2, crc32c = _tensorboard()
        check_regular_file(file)
        self.prefixes.append(f"{prefix}event ")
        data = file.read_bytes()
        starts, ends = frames(data, file, crc32c)
        decoded = scalar_events(data, starts, ends)
        first_seen = dict(zip(decoded.tags, decoded.first_records.tolist()))
        others = _protobuf_scalars(data, starts, ends, np.flatnonzero(~decoded.decoded), first_seen, file, event_pb2)
        # keys coded by first appearance over the file, as one pass over its events codes them
        seen = {tag: (index, 0) for tag, index in first_seen.items()}
        for tag, where in others.first_seen.items():
            seen[tag] = min(where, seen.get(tag, where))
        for tag in sorted(seen, key=seen.__getitem__):
            self.keys.setdefault(tag, len(self.keys))
        columns: list[np.ndarray] = [np.flatnonzero(decoded.decoded), decoded.steps,
                                     np.array([self.keys[tag] for tag in decoded.tags], dtype=np.int64)[decoded.tag_codes],
                                     decoded.values]
        if others.numbers:  # in the file's order: an event's values keep theirs, an event is on one side
            columns = [np.concatenate([ours, np.array(theirs, dtype=ours.dtype)]) for ours, theirs in zip(
                columns, (others.numbers, others.steps, [self.keys[tag] for tag in others.tags], others.values))]
            order = np.argsort(columns[0], kind="stable")
            columns = [column[order] for column in columns]
        numbers, steps, codes, values = columns
        self.columns.append((steps, codes, values, np.full(numbers.size, len(self.prefixes) - 1, dtype=np.int64), numbers))

    def scalars(self) -> Scalars:
        steps, codes, values, prefix_codes, numbers = (np.concatenate(parts) for parts in zip(*self.columns))
        return Scalars(steps=steps, codes=codes, values=values, keys=list(self.keys), prefixes=self.prefixes,
                       prefix_codes=prefix_codes, numbers=numbers)


class _Events(NamedTuple):
    """The scalars of the events left to protobuf: per value its event's number, step, tag and number."""

    numbers: list
    steps: list
    tags: list
    values: list
    first_seen: dict  #: tag -> (event number, position in it) where it is first seen


def _protobuf_scalars(data: bytes, starts: np.ndarray, ends: np.ndarray, records: np.ndarray, first_seen: dict,
                      file: Path, event_pb2) -> _Events:
    """Parse ``records`` one event at a time. A tag's plugin is named in its first summary only: a tag first seen
    among the decoded events (``first_seen``: its first event's number) has none."""
    found = _Events([], [], [], [], {})
    plugins: dict[str, str] = {}
    for index in records.tolist():
        try:
            event = event_pb2.Event.FromString(data[starts[index]:ends[index]])
        except Exception:  # protobuf's DecodeError, whose module differs between protobuf backends
            raise LogFormatError(file, f"record {index} (byte {starts[index] - 12})", "not a TensorBoard event") from None
        for position, value in enumerate(event.summary.value):
            tag = value.tag
            plugin = plugins.get(tag)
            if plugin is None:
                plugin = plugins[tag] = "" if first_seen.get(tag, index) < index else value.metadata.plugin_data.plugin_name
            number = _scalar(value, plugin)
            if number is not None:
                found.numbers.append(index)
                found.steps.append(event.step)
                found.tags.append(tag)
                found.values.append(number)
                found.first_seen.setdefault(tag, (index, position))
    return found


def _trl_hint(directory: Path) -> str:
    """A TRL/transformers output directory holds ``trainer_state.json`` (in every ``checkpoint-*``): name it."""
    states = sorted(directory.glob("trainer_state.json")) or sorted(
        directory.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name.split("-")[-1])
        if p.parent.name.split("-")[-1].isdigit() else -1)
    if not states:
        return ""
    return (f"; it is a TRL/transformers run: give its {states[-1]} (the last checkpoint's holds the whole "
            "log history)")


def read_tensorboard(path: Path, *, vectorized: bool = True, **_: object) -> RawLog:
    """An event file or a directory of them, one row per step (:func:`~.scalars.by_step`), else records merged later."""
    files = sorted(p for p in path.rglob("*tfevents*") if p.is_file()) if path.is_dir() else [path]
    if not files:
        raise LogFormatError(path, "directory", "no TensorBoard event files (*tfevents*) in it" + _trl_hint(path))
    collected = _Collected()
    for file in files:
        collected.read(file, f"{file.relative_to(path)} " if path.is_dir() else "")
    if not any(columns[0].size for columns in collected.columns):
        raise LogFormatError(path, "event 0", "no scalar summaries in the event file(s)")
    return by_step(collected.scalars()) if vectorized else collected.scalars().records()
