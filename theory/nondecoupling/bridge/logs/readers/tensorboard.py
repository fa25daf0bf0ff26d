"""TensorBoard event files (OpenRLHF, verl, TRL ``report_to="tensorboard"``): one record per scalar event.

An event file is a sequence of TFRecords: an 8-byte little-endian length, its masked
CRC-32C, the serialized ``Event`` and its masked CRC-32C. TensorBoard's own loader stops
quietly at a damaged or truncated record (a live run may still be writing it); a finished
log must be whole, so this reader checks the framing and both checksums of every record
and names the file, the record and the byte offset where it breaks.
"""

from __future__ import annotations

import struct
from pathlib import Path

from nondecoupling.bridge.errors import LogFormatError
from nondecoupling.bridge.logs.readers import RawLog, check_regular_file, is_eval_key


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
    while offset < len(data):
        where = f"record {index} (byte {offset})"
        if len(data) - offset < 12:
            raise LogFormatError(file, where, f"truncated: {len(data) - offset} bytes where a record header needs 12")
        header = data[offset:offset + 8]
        (length,), (header_crc,) = struct.unpack("<Q", header), struct.unpack("<I", data[offset + 8:offset + 12])
        if masked_crc32c(header) != header_crc:
            raise LogFormatError(file, where, "corrupt: the record length fails its CRC-32C check")
        end = offset + 12 + length
        if end + 4 > len(data):
            raise LogFormatError(file, where, f"truncated: the record needs {length + 16} bytes, the file has "
                                              f"{len(data) - offset} left")
        payload = data[offset + 12:end]
        if masked_crc32c(payload) != struct.unpack("<I", data[end:end + 4])[0]:
            raise LogFormatError(file, where, "corrupt: the event fails its CRC-32C check")
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


def _file_entries(file: Path, prefix: str) -> list:
    """``(step, record, label, is_eval)`` for every scalar of one event file."""
    event_pb2, masked_crc32c, tensor_util = _tensorboard()
    check_regular_file(file)
    entries: list = []
    plugins: dict[str, str] = {}  # a tag's plugin is named in its first summary only
    for index, offset, payload in _records(file, masked_crc32c):
        try:
            event = event_pb2.Event.FromString(payload)
        except Exception:  # protobuf's DecodeError, whose module differs between protobuf backends
            raise LogFormatError(file, f"record {index} (byte {offset})", "not a TensorBoard event") from None
        for value in event.summary.value:
            plugin = plugins.setdefault(value.tag, value.metadata.plugin_data.plugin_name)
            number = _scalar(value, plugin, tensor_util)
            if number is not None:
                entries.append((event.step, {"step": event.step, value.tag: number}, f"{prefix}event {index}",
                                is_eval_key(value.tag)))
    return entries


def _trl_hint(directory: Path) -> str:
    """A TRL/transformers output directory holds ``trainer_state.json`` (in every ``checkpoint-*``): name it."""
    states = sorted(directory.glob("trainer_state.json")) or sorted(
        directory.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name.split("-")[-1])
        if p.parent.name.split("-")[-1].isdigit() else -1)
    if not states:
        return ""
    return (f"; it is a TRL/transformers run: give its {states[-1]} (the last checkpoint's holds the whole "
            "log history)")


def read_tensorboard(path: Path, **_: object) -> RawLog:
    """An event file or a directory of them; records of one step are merged later (by step)."""
    files = sorted(p for p in path.rglob("*tfevents*") if p.is_file()) if path.is_dir() else [path]
    if not files:
        raise LogFormatError(path, "directory", "no TensorBoard event files (*tfevents*) in it" + _trl_hint(path))
    entries = [entry for file in files
               for entry in _file_entries(file, f"{file.relative_to(path)} " if path.is_dir() else "")]
    if not entries:
        raise LogFormatError(path, "event 0", "no scalar summaries in the event file(s)")
    entries.sort(key=lambda entry: entry[0])  # stable: within a step, file order
    steps, records, labels, is_eval = zip(*entries)
    return RawLog(list(records), list(labels), steps=list(steps), is_eval=list(is_eval))
