"""The TensorBoard reader's array decoding (``readers.tfrecord``) against protobuf and a record-by-record framing.

``scalar_events`` decodes the events of ``add_scalar``'s layout without protobuf; every other
event goes to protobuf. On random event files of every shape (canonical scalars, steps of any
size and sign, tags of any length and script, tensors with plugin metadata, several values in
one event, images, the file-version event, fields out of order, unknown fields, a tag that is
no UTF-8), the reader must give exactly the scalars that protobuf gives event by event, in the
same order and with the same key codes. ``frames`` must refuse a damaged file with the error a
reader checking record by record meets first, at any damaged byte or cut.
"""

from __future__ import annotations

import struct
from unittest import mock

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("tensorboard", reason="reading event files needs tensorboard (the logs extra)")

from tensorboard.compat.proto import event_pb2, summary_pb2  # noqa: E402
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c  # noqa: E402
from tensorboard.summary.writer.record_writer import RecordWriter  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402

from nondecoupling.bridge.errors import LogFormatError  # noqa: E402
from nondecoupling.bridge.logs.readers import tfrecord  # noqa: E402
from nondecoupling.bridge.logs.readers.tensorboard import _Collected, _scalar  # noqa: E402

_tags = st.one_of(st.sampled_from(["eval/sft_loss", "train/reward", "kl", "", "a" * 8, "b" * 16, "c" * 118, "c" * 119]),
                  st.text(max_size=140))  # decoded up to 118 bytes (the summary's length then fits one byte), protobuf's beyond
_steps = st.one_of(st.integers(0, 300), st.integers(-(2**63), 2**63 - 1),
                   st.sampled_from([2**49 - 1, 2**49, 2**56 - 1, 2**56, 127, 128, -1]))  # decoded from 0 to 2^49 - 1
_floats = st.floats(width=32)


def _varint(number: int) -> bytes:
    number &= 2**64 - 1
    out = bytearray()
    while True:
        out.append((number & 0x7F) | (0x80 if number > 0x7F else 0))
        number >>= 7
        if not number:
            return bytes(out)


def _field(key: int, payload: bytes) -> bytes:
    return bytes([key]) + _varint(len(payload)) + payload


@st.composite
def _event(draw) -> bytes:
    """One serialized event of a shape drawn from those writers leave and those they could."""
    kind = draw(st.sampled_from(["scalar", "scalar", "scalar", "tensor", "several", "image", "version", "reordered",
                                 "unknown_field", "not_utf8"]))
    step, tag, value = draw(_steps), draw(_tags), draw(_floats)
    wall = draw(st.sampled_from([0.0, 1.0, 1.7e9]))
    if kind == "scalar":
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
        return event_pb2.Event(wall_time=wall, step=step, summary=summary).SerializeToString()
    if kind == "tensor":
        metadata = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(
            tag=tag, metadata=metadata, tensor=tensor_util.make_tensor_proto(np.float32(value)))])
        return event_pb2.Event(wall_time=wall, step=step, summary=summary).SerializeToString()
    if kind == "several":
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=t, simple_value=v)
                                             for t, v in draw(st.lists(st.tuples(_tags, _floats), min_size=2, max_size=3))])
        return event_pb2.Event(step=step, summary=summary).SerializeToString()
    if kind == "image":
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, image=summary_pb2.Summary.Image(height=1))])
        return event_pb2.Event(step=step, summary=summary).SerializeToString()
    if kind == "version":
        return event_pb2.Event(wall_time=wall, file_version="brain.Event:2").SerializeToString()
    tag_bytes = b"\xff\xfe" + tag.encode() if kind == "not_utf8" else tag.encode()
    summary = _field(0x2A, _field(0x0A, _field(0x0A, tag_bytes) + b"\x15" + struct.pack("<f", value)))
    step_field = b"\x10" + _varint(step)
    if kind == "reordered":  # the step after the summary: protobuf reads it alike
        return summary + step_field
    extra = _field(0x32, b"") if kind == "unknown_field" else b""  # log_message, empty
    return step_field + summary + extra


def _write(path, payloads: list) -> None:
    with path.open("wb") as handle:
        writer = RecordWriter(handle)
        for payload in payloads:
            writer.write(payload)


def _reference(payloads: list) -> tuple[list, list]:
    """(event number, step, tag, number) of every scalar, and the tags in order of first appearance: protobuf, one
    event at a time, a tag's plugin taken from its first summary."""
    rows, plugins = [], {}
    for index, payload in enumerate(payloads):
        event = event_pb2.Event.FromString(payload)
        for value in event.summary.value:
            plugin = plugins.setdefault(value.tag, value.metadata.plugin_data.plugin_name)
            number = _scalar(value, plugin)
            if number is not None:
                rows.append((index, event.step, value.tag, number))
    return rows, list(dict.fromkeys(tag for _, _, tag, _ in rows))


def _protobuf_accepts(payload: bytes) -> bool:
    try:
        event_pb2.Event.FromString(payload)
    except Exception:
        return False
    return True


def _small(chunk: int, warm: int):
    """Records checked, decoded and walked in blocks of ``chunk`` (``tfrecord._CHUNK``), a period looked for after
    ``warm`` records (``tfrecord._WARM``): small, so that a few events cross every edge."""
    return mock.patch.multiple(tfrecord, _CHUNK=chunk, _WARM=warm)


#: A writer's pattern: the tags in turn, the same sizes over and over (``tfrecord._walk`` places such records in blocks).
_repeating = st.lists(st.sampled_from(["eval/sft_loss", "train/reward", "kl"]), min_size=1, max_size=3).flatmap(
    lambda tags: st.integers(1, 12).map(lambda cycles: [event_pb2.Event(wall_time=1.0, step=cycle, summary=summary_pb2.Summary(
        value=[summary_pb2.Summary.Value(tag=tag, simple_value=0.5)])).SerializeToString() for cycle in range(cycles)
        for tag in tags]))
_files = st.one_of(st.lists(_event(), min_size=1, max_size=30),
                   st.tuples(_repeating, st.lists(_event(), max_size=4)).map(lambda parts: parts[0] + parts[1]))


@given(_files, st.sampled_from([1, 2, 3, 7, 1 << 16]), st.sampled_from([2, 4, 6, 64]))
def test_the_reader_gives_what_protobuf_gives_event_by_event(tmp_path_factory, payloads, chunk, warm):
    path = tmp_path_factory.mktemp("tb") / "events.out.tfevents.0"
    _write(path, payloads)
    collected = _Collected()
    refused = next((index for index, payload in enumerate(payloads) if not _protobuf_accepts(payload)), None)
    with _small(chunk, warm):
        if refused is not None:  # a tag that is no UTF-8: protobuf refuses the event, and so does the reader
            with pytest.raises(LogFormatError, match=rf"record {refused} \(byte \d+\): not a TensorBoard event"):
                collected.read(path, "")
            return
        collected.read(path, "")
    rows, keys = _reference(payloads)
    if not rows:
        assert not any(column.size for column in collected.columns[0])
        return
    scalars = collected.scalars()
    assert scalars.keys == keys
    assert scalars.numbers.tolist() == [index for index, *_ in rows]
    assert scalars.steps.tolist() == [step for _, step, _, _ in rows]
    assert [scalars.keys[code] for code in scalars.codes.tolist()] == [tag for _, _, tag, _ in rows]
    np.testing.assert_array_equal(scalars.values, np.array([number for *_, number in rows]))


def test_a_tags_plugin_is_named_by_its_first_summary_even_when_that_one_is_decoded(tmp_path):
    """A tensor after a plain scalar of the same tag is read as a scalar (plugin ""), as one pass over the file does."""
    metadata = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="text"))
    tensor = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="x", metadata=metadata,
                                                                  tensor=tensor_util.make_tensor_proto(np.float32(2.0)))])
    plain = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="x", simple_value=1.0)])
    for first, expected in ((plain, [1.0, 2.0]), (tensor, [1.0])):
        second = tensor if first is plain else plain
        path = tmp_path / f"events.out.tfevents.{len(expected)}"
        _write(path, [event_pb2.Event(step=1, summary=first).SerializeToString(),
                      event_pb2.Event(step=2, summary=second).SerializeToString()])
        collected = _Collected()
        collected.read(path, "")
        assert collected.scalars().values.tolist() == expected


def _first_error(data: bytes) -> str | None:
    """The error of a reader that checks each record in turn (the reader's former loop): None for a whole file."""
    offset, index = 0, 0
    while offset < len(data):
        where = f"record {index} (byte {offset})"
        if len(data) - offset < 12:
            return f"{where}: truncated: {len(data) - offset} bytes where a record header needs 12"
        length, length_crc = struct.unpack_from("<QI", data, offset)
        if masked_crc32c(data[offset:offset + 8]) != length_crc:
            return f"{where}: corrupt: the record length fails its CRC-32C check"
        end = offset + 12 + length
        if end + 4 > len(data):
            return f"{where}: truncated: the record needs {length + 16} bytes, the file has {len(data) - offset} left"
        if masked_crc32c(data[offset + 12:end]) != struct.unpack_from("<I", data, end)[0]:
            return f"{where}: corrupt: the event fails its CRC-32C check"
        offset, index = end + 4, index + 1
    return None


@given(st.one_of(st.lists(_event().filter(_protobuf_accepts), min_size=1, max_size=12), _repeating), st.data())
def test_a_damaged_file_is_refused_where_a_sequential_reader_stops(tmp_path_factory, payloads, data):
    """In blocks of any size (:func:`_small`): the first failing chunk holds the first failure, and a block of
    repeating records stops at the first whose length breaks the pattern."""
    path = tmp_path_factory.mktemp("tb") / "events.out.tfevents.0"
    _write(path, payloads)
    whole = path.read_bytes()
    at = data.draw(st.integers(0, len(whole) - 1))
    damaged = whole[:at] if data.draw(st.booleans()) else whole[:at] + bytes([whole[at] ^ data.draw(st.integers(1, 255))]) + whole[at + 1:]
    path.write_bytes(damaged)
    expected = _first_error(damaged)
    collected = _Collected()
    with _small(data.draw(st.sampled_from([1, 2, 1 << 16])), data.draw(st.sampled_from([2, 4, 64]))):
        if expected is None:  # a cut between records
            collected.read(path, "")
            return
        with pytest.raises(LogFormatError) as error:
            collected.read(path, "")
    assert str(error.value) == f"{path}, {expected}"


@pytest.mark.parametrize("writer", ["tensorboard_records", "torch"])
def test_add_scalars_events_are_decoded_without_protobuf(tmp_path, writer):
    """Every event ``add_scalar`` writes (torch's ``SummaryWriter``: ``simple_value``) is decoded as arrays; only the
    file-version event goes to protobuf. Without this the reader would be right but as slow as before."""
    import google_crc32c

    from nondecoupling.bridge.logs.readers.tfrecord import frames, scalar_events
    from tests.bridge.synthetic import write_events

    steps = [0, 1, 127, 128, 20_000, 2**49 - 1]
    if writer == "torch":
        pytest.importorskip("torch")
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(str(tmp_path)) as summaries:
            for step in steps:
                summaries.add_scalar("eval/sft_loss", 1.0 + step % 7, step)
                summaries.add_scalar("train/reward", 0.5, step)
        (path,) = tmp_path.glob("*tfevents*")
    else:
        path = tmp_path / "events.out.tfevents.0"
        write_events(path, [(step, [(tag, 0.5)]) for step in steps for tag in ("eval/sft_loss", "train/reward")])
    data = path.read_bytes()
    events = scalar_events(data, *frames(data, path, google_crc32c.value))
    assert events.decoded.tolist() == [False] + [True] * 2 * len(steps)
    assert events.steps.tolist() == [step for step in steps for _ in range(2)]
    assert events.tags == ["eval/sft_loss", "train/reward"]
