"""TensorBoard event files (OpenRLHF, verl, TRL ``report_to="tensorboard"``): one value per scalar event, merged by step.

An event file is a sequence of TFRecords: an 8-byte little-endian length, its masked
CRC-32C, the serialized ``Event`` and its masked CRC-32C. TensorBoard's own loader stops
quietly at a damaged or truncated record (a live run may still be writing it); a finished
log must be whole, so this reader checks the framing and both checksums of every record
and names the file, the record and the byte offset where it breaks.

The scalars are collected as flat arrays and placed one row per step by
:func:`~nondecoupling.bridge.logs.readers.scalars.by_step`; the record path (one record per
value, merged by :func:`~nondecoupling.bridge.logs.merge.merge_records`) takes a log where a tag is
logged twice at one step.
"""

from __future__ import annotations

import struct
from array import array
from pathlib import Path

import numpy as np

from nondecoupling.bridge.errors import LogFormatError
from nondecoupling.bridge.logs.readers import RawLog, check_regular_file
from nondecoupling.bridge.logs.readers.scalars import Scalars, by_step


def _tensorboard():
    try:
        import google_crc32c
        from tensorboard.compat.proto import event_pb2
        from tensorboard.util import tensor_util
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("reading TensorBoard event files needs tensorboard and google-crc32c: pip install -e '.[logs]'") from None

    def masked_crc32c(data: bytes) -> int:
        """TFRecord's masked CRC-32C (tensorboard's ``masked_crc32c``, whose CRC is pure Python: 17 us a record)."""
        crc = google_crc32c.value(data)
        return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF

    return event_pb2, masked_crc32c, tensor_util


def _records(file: Path, masked_crc32c):
    """``(index, byte offset, payload)`` of every TFRecord; a short or corrupt record is an error."""
    data, offset, index = file.read_bytes(), 0, 0
    size = len(data)
    while offset < size:
        if size - offset < 12:
            raise LogFormatError(file, f"record {index} (byte {offset})",
                                 f"truncated: {size - offset} bytes where a record header needs 12")
        length, header_crc = struct.unpack_from("<QI", data, offset)
        if masked_crc32c(data[offset:offset + 8]) != header_crc:
            raise LogFormatError(file, f"record {index} (byte {offset})", "corrupt: the record length fails its CRC-32C check")
        end = offset + 12 + length
        if end + 4 > size:
            raise LogFormatError(file, f"record {index} (byte {offset})",
                                 f"truncated: the record needs {length + 16} bytes, the file has {size - offset} left")
        payload = data[offset + 12:end]
        if masked_crc32c(payload) != struct.unpack_from("<I", data, end)[0]:
            raise LogFormatError(file, f"record {index} (byte {offset})", "corrupt: the event fails its CRC-32C check")
        yield index, offset, payload
        offset, index = end + 4, index + 1


#: TensorProto's dtype codes of float32 and float64 and the field that holds their values.
_FLOAT_FIELDS = {1: "float_val", 2: "double_val"}


def _scalar(value, plugin: str, tensor_util):
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
        array = tensor_util.make_ndarray(tensor)
        return float(array.reshape(())) if array.size == 1 and array.dtype.kind in "fiu" else None
    return None


class _Collected:
    """The scalars of event files as flat arrays (no Python object kept per value): :class:`Scalars` when done."""

    def __init__(self) -> None:
        self.steps, self.values, self.numbers = array("q"), array("d"), array("q")
        self.codes, self.prefix_codes = array("i"), array("i")
        self.keys: dict[str, int] = {}
        self.prefixes: list[str] = []

    def read(self, file: Path, prefix: str) -> None:
        """Every scalar of one event file: its step, tag, number and event index."""
        event_pb2, masked_crc32c, tensor_util = _tensorboard()
        check_regular_file(file)
        self.prefixes.append(f"{prefix}event ")
        file_code, keys = len(self.prefixes) - 1, self.keys
        # bound once: five appends per value are most of this loop's own time
        add_step, add_code, add_value = self.steps.append, self.codes.append, self.values.append
        add_prefix, add_number = self.prefix_codes.append, self.numbers.append
        plugins: dict[str, str] = {}  # a tag's plugin is named in its first summary only
        for index, offset, payload in _records(file, masked_crc32c):
            try:
                event = event_pb2.Event.FromString(payload)
            except Exception:  # protobuf's DecodeError, whose module differs between protobuf backends
                raise LogFormatError(file, f"record {index} (byte {offset})", "not a TensorBoard event") from None
            for value in event.summary.value:
                tag = value.tag
                plugin = plugins.get(tag)
                if plugin is None:
                    plugin = plugins[tag] = value.metadata.plugin_data.plugin_name
                number = _scalar(value, plugin, tensor_util)
                if number is not None:
                    add_step(event.step)
                    add_code(keys.setdefault(tag, len(keys)))
                    add_value(number)
                    add_prefix(file_code)
                    add_number(index)

    def scalars(self) -> Scalars:
        def column(values: array) -> np.ndarray:
            return np.frombuffer(values, dtype=values.typecode)  # no copy

        return Scalars(steps=column(self.steps), codes=column(self.codes), values=column(self.values), keys=list(self.keys),
                       prefixes=self.prefixes, prefix_codes=column(self.prefix_codes), numbers=column(self.numbers))


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
    if not collected.steps:
        raise LogFormatError(path, "event 0", "no scalar summaries in the event file(s)")
    return by_step(collected.scalars()) if vectorized else collected.scalars().records()
