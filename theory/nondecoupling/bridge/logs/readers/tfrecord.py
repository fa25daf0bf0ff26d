"""TFRecord framing, and TensorBoard's scalar events decoded as arrays instead of one protobuf message each.

A TFRecord is an 8-byte little-endian length, its masked CRC-32C, the payload and the payload's
masked CRC-32C. :func:`frames` walks the lengths (each record's start depends on the last one's
length: :func:`_walk` goes record by record until the sizes repeat, then places blocks of them
at once) and checks both CRCs of every record (one C call a payload), naming the first broken
record as a sequential reader would.

Most of an event file written by ``SummaryWriter.add_scalar`` (torch, tensorboardX, TRL, verl,
OpenRLHF) is events of one layout: ``Event{wall_time, step, summary{value{tag, simple_value}}}``,
fields in number order, each once, nothing else. :func:`scalar_events` decodes every record of
exactly that layout at once with numpy (the protobuf wire format: a field's key byte, varints,
lengths of one byte, so a tag of at most 118 bytes; a step from 0 to 2^49 - 1) and leaves every
other record (the file-version event, tensors, images, metadata, fields in another order, a tag
that is no UTF-8, anything it does not expect) to protobuf. This is a hand-written decoder for one message shape of a library's format: protobuf
parses a message at a time (a Python object per event, 4 us an event with the loop around it,
most of a check of a TensorBoard log); ``tests/bridge/test_tfrecord.py`` compares the two on
random events of every shape.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from nondecoupling.bridge.errors import LogFormatError

_LENGTH = struct.Struct("<Q")
#: Records checked or decoded at a time: each step's temporary arrays stay a few MB, whatever the file's size.
_CHUNK = 1 << 16
#: Records walked one by one before their sizes' period is looked for (:func:`_walk`).
_WARM = 64
#: The mask of a word's first k bytes, k = 0..8.
_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)


def masked(crc: ArrayLike) -> np.ndarray:
    """TFRecord's mask of CRC-32C values (tensorboard's ``masked_crc32c`` of the same bytes): rotate right 15, add."""
    value = np.asarray(crc, dtype=np.uint64)
    return ((((value >> np.uint64(15)) | (value << np.uint64(17))) + np.uint64(0xA282EAD8)) & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def frames(data: bytes, file: Path, crc32c: Callable[[bytes], int]) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of every record's payload; raises at the first short or corrupt record.

    ``crc32c``: the plain CRC-32C of bytes (``google_crc32c.value``), masked here (:func:`masked`).
    The error is the one a reader checking record by record meets first (the length's CRC, then
    the payload's length, then the payload's CRC), worded ``FILE, record i (byte b): what``.
    """
    size = len(data)
    offsets, offset = _walk(data)
    starts = np.frombuffer(offsets, dtype=np.int64) + 12
    ends = np.append(starts[1:] - 12, offset)[:starts.size] - 4  # each record ends where the next begins
    for first in range(0, starts.size, _CHUNK):  # in order: the first failing chunk holds the first failure
        _check_crcs(data, starts[first:first + _CHUNK], ends[first:first + _CHUNK], first, file, crc32c)
    if offset < size:  # the record at `offset` does not fit: what a sequential reader says about it
        where = f"record {len(offsets)} (byte {offset})"
        if size - offset < 12:
            raise LogFormatError(file, where, f"truncated: {size - offset} bytes where a record header needs 12")
        if masked(crc32c(data[offset:offset + 8])) != struct.unpack_from("<I", data, offset + 8)[0]:
            raise LogFormatError(file, where, "corrupt: the record length fails its CRC-32C check")
        raise LogFormatError(file, where, f"truncated: the record needs {_LENGTH.unpack_from(data, offset)[0] + 16} bytes, "
                                          f"the file has {size - offset} left")
    return starts, ends


def _walk(data: bytes) -> tuple[array, int]:
    """The byte offset of every whole record, and where the walk stopped (the file's end, or a record that does not fit).

    Each record's place follows from the last one's length, so the walk goes record by record,
    :data:`_WARM` at a time. A writer's records repeat their sizes (one event per tag, the tags in
    turn), so after each such stretch the sizes of the last period are assumed to go on: a block
    of records is placed at once, its lengths read together (:func:`_words`), and the records up
    to the first whose length differs are taken. They are the records the walk would have met.
    """
    size, offset, words = len(data), 0, _words(data, np.uint64)
    offsets = array("q")  # 8 bytes a record, not a Python int's 36
    add, length_at = offsets.append, _LENGTH.unpack_from
    while True:
        recent = []
        for _ in range(_WARM):
            if size - offset < 12 or offset + 16 + length_at(data, offset)[0] > size:
                return offsets, offset
            add(offset)
            recent.append(16 + length_at(data, offset)[0])
            offset += recent[-1]
        period = next((p for p in range(1, _WARM // 2 + 1) if recent[-p:] == recent[-2 * p:-p]), None)
        while period is not None:  # blocks of whole periods, until a length breaks it
            sizes = np.resize(np.array(recent[-period:], dtype=np.int64), period * max(_CHUNK // period, 1))
            placed = offset + np.cumsum(sizes) - sizes
            met = (placed + sizes <= size) & (words[np.minimum(placed, len(words) - 1)] == (sizes - 16).astype(np.uint64))
            taken = sizes.size if met.all() else int(np.argmin(met))
            offsets.frombytes(placed[:taken].tobytes())
            offset += int(sizes[:taken].sum())
            period = period if taken == sizes.size else None


def _check_crcs(data: bytes, starts: np.ndarray, ends: np.ndarray, first: int, file: Path, crc32c) -> None:
    """Both CRCs of records ``first``, ``first + 1``, ...; the first failure (a length's before its payload's) raises.

    A length's CRC is computed once per distinct length (a file holds few); a payload's, one call each.
    """
    stored = _words(data, np.uint32)
    distinct, which = np.unique(ends - starts, return_inverse=True)
    length_crcs = masked([crc32c(_LENGTH.pack(length)) for length in distinct.tolist()])
    length_ok = length_crcs[which.ravel()] == stored[starts - 4]
    payload_ok = masked([crc32c(data[s:e]) for s, e in zip(starts.tolist(), ends.tolist())]) == stored[ends]
    failures = np.flatnonzero(~np.stack([length_ok, payload_ok], axis=1).ravel())
    if failures.size:
        index, payload = divmod(int(failures[0]), 2)
        what = "the event fails its CRC-32C check" if payload else "the record length fails its CRC-32C check"
        raise LogFormatError(file, f"record {first + index} (byte {starts[index] - 12})", f"corrupt: {what}")


def _words(data: bytes, dtype) -> np.ndarray:
    """``data`` as the little-endian words starting at every byte: ``_words(data, np.uint64)[i]`` is bytes i..i+7."""
    size = np.dtype(dtype).itemsize
    return np.ndarray(shape=(max(len(data) - size + 1, 0),), dtype=np.dtype(dtype).newbyteorder("<"), buffer=data,
                      strides=(1,))


class ScalarEvents(NamedTuple):
    """The records of :func:`scalar_events`'s layout: which, and each one's step, tag and value."""

    decoded: np.ndarray  #: bool per record: in the layout (else left to protobuf)
    steps: np.ndarray  #: int64, per decoded record
    tag_codes: np.ndarray  #: per decoded record, an index into ``tags``
    tags: list  #: str, in order of first appearance
    first_records: np.ndarray  #: each tag's first record
    values: np.ndarray  #: float64 (the float32 ``simple_value``), per decoded record


def scalar_events(data: bytes, starts: np.ndarray, ends: np.ndarray) -> ScalarEvents:
    """Decode every payload ``data[starts[i]:ends[i]]`` that is exactly ``Event{[wall_time], [step], summary{value{tag,
    simple_value}}}`` (a field absent where proto3 omits a zero; a step of at most 7 varint bytes, below 2^49).

    The records are decoded :data:`_CHUNK` at a time, each chunk at once (:func:`_layout`), into
    arrays of one entry per decoded record; their tags are then told apart together (:func:`_tags`).
    """
    words = _words(data, np.uint64)
    decoded = np.zeros(starts.size, dtype=bool)
    found = _Found(starts.size)
    for begin in range(0, starts.size, _CHUNK):
        part = slice(begin, begin + _CHUNK)
        decoded[part] = found.add(*_layout(words, starts[part], ends[part]))
    steps, tag_starts, tag_lengths, bits, hashes = found.arrays()
    utf8, codes, tags, first = _tags(words, tag_starts, tag_lengths, hashes)
    if not utf8.all():  # protobuf refuses an event whose tag is no UTF-8: the record path words it
        decoded[np.flatnonzero(decoded)[~utf8]] = False
        steps, bits = steps[utf8], bits[utf8]
    return ScalarEvents(decoded, steps.view(np.int64), codes, tags, np.flatnonzero(decoded)[first],
                        bits.view(np.float32).astype(np.float64))


class _Found:
    """The decoded records' fields, filled a chunk at a time into arrays sized for every record (no copy to join them)."""

    def __init__(self, records: int) -> None:
        self.columns = [np.empty(records, dtype=dtype) for dtype in (np.uint64, np.int64, np.int64, np.uint32, np.uint64)]
        self.count = 0

    def add(self, ok: np.ndarray, *columns: np.ndarray) -> np.ndarray:
        for into, column in zip(self.columns, columns):
            into[self.count:self.count + column.size] = column
        self.count += int(ok.sum())
        return ok

    def arrays(self) -> list[np.ndarray]:
        return [column[:self.count] for column in self.columns]


def _layout(words: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, ...]:
    """Which records are in :func:`scalar_events`'s layout, and of those their step, tag start, tag length, value bits
    and tag hash (:func:`_tag_words`).

    Eight bytes are read at a time (:func:`_words`); a read may reach past its payload into the
    record's CRC (every payload is followed by 4 bytes) or, moved back, into the file's last word,
    and whatever it reads there is checked against the payload's end before a record counts.
    """
    last = len(words) - 1

    def byte(word: np.ndarray, k: int) -> np.ndarray:
        return (word >> np.uint64(8 * k)) & np.uint64(0xFF)

    at = starts.copy()
    at += 9 * (byte(words[np.minimum(at, last)], 0) == 0x09)  # wall_time: a double
    word = words[np.minimum(at, last)]
    going = byte(word, 0) == 0x10  # step: an int64 varint
    steps = np.zeros(at.shape, dtype=np.uint64)
    word >>= np.uint64(8)
    at += going
    for k in range(7):  # the word's 7 bytes after the key: steps below 2^49 (others are left to protobuf)
        if not going.any():
            break
        piece = byte(word, k)
        steps |= np.where(going, (piece & np.uint64(0x7F)) << np.uint64(7 * k), np.uint64(0))
        at += going
        going &= piece >= 0x80
    ok = ~going & (at <= ends)
    # summary{value{tag: the summary and its one value, each the whole rest of the payload, then the tag's length
    word, left = words[np.minimum(at, last)], (ends - at).astype(np.uint64)  # a negative rest wraps: it matches no byte
    for k, expected in enumerate((0x2A, left - np.uint64(2), 0x0A, left - np.uint64(4), 0x0A)):
        ok &= byte(word, k) == expected
    tag_lengths = byte(word, 5).astype(np.int64)
    ok &= tag_lengths + 11 == left.astype(np.int64)  # the tag, simple_value's key and its float32
    tag_starts = at + 6
    tail = words[np.where(ok, np.minimum(tag_starts + tag_lengths, last), 0)]
    ok &= byte(tail, 0) == 0x15
    tag_starts, tag_lengths = tag_starts[ok], tag_lengths[ok]
    hashes = tag_lengths.astype(np.uint64)
    for piece in _tag_words(words, tag_starts, tag_lengths):
        hashes = hashes * np.uint64(0x100000001B3) ^ piece
    return ok, steps[ok], tag_starts, tag_lengths, ((tail[ok] >> np.uint64(8)) & np.uint64(0xFFFFFFFF)).astype(np.uint32), hashes


def _tag_words(words: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> Iterator[np.ndarray]:
    """Each tag's 8-byte words in turn, the bytes past its end zeroed (a shorter tag's word may lie past the file)."""
    for offset in range(0, int(lengths.max(initial=0)), 8):
        yield words[np.minimum(starts + offset, len(words) - 1)] & _MASKS[np.minimum(np.maximum(lengths - offset, 0), 8)]


def _tags(words: np.ndarray, starts: np.ndarray, lengths: np.ndarray, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, list, np.ndarray]:
    """The tags at ``words[starts[i]]``, ``lengths[i]`` bytes each, of 64-bit ``hashes`` of their words: which are
    UTF-8, and of those each one's code (order of first appearance), the tags, and each tag's first position.

    The tags are told apart by their hashes (:func:`pandas.factorize`), then each one's words are
    compared with its tag's first one's, a chunk at a time, so a collision cannot merge two tags.
    """
    import pandas as pd

    codes, _ = pd.factorize(hashes)  # numbered in order of first appearance
    first = _first_positions(codes)
    heads = list(_tag_words(words, starts[first], lengths[first]))
    for begin in range(0, codes.size, _CHUNK):
        part = slice(begin, begin + _CHUNK)
        for head, piece in zip(heads, _tag_words(words, starts[part], lengths[part])):
            if np.any(piece != head[codes[part]]):  # pragma: no cover - about 2^-64 a pair of tags
                return np.zeros(starts.shape, dtype=bool), codes[:0], [], first[:0]  # protobuf reads them all
    texts = [_utf8(words[starts[row]:starts[row] + lengths[row]].astype(np.uint8).tobytes()) for row in first.tolist()]
    if None not in texts:
        return np.ones(starts.shape, dtype=bool), codes, texts, first
    keep = np.isin(codes, [code for code, text in enumerate(texts) if text is not None])  # rare: the others to protobuf
    _, codes, texts, first = _tags(words, starts[keep], lengths[keep], hashes[keep])
    return keep, codes, texts, first


def _first_positions(codes: np.ndarray) -> np.ndarray:
    """Where each code first appears, codes being numbered in order of first appearance: where their running maximum
    grows, a chunk at a time (the maximum before a chunk is the number of codes seen, less one)."""
    found: list[int] = []
    for begin in range(0, codes.size, _CHUNK):
        running = np.maximum.accumulate(codes[begin:begin + _CHUNK])
        found += (np.flatnonzero(np.diff(running, prepend=len(found) - 1) > 0) + begin).tolist()
    return np.array(found, dtype=np.int64)


def _utf8(tag: bytes) -> str | None:
    """A tag's text (its bytes are each word's first byte), or None where it is no UTF-8."""
    try:
        return tag.decode("utf-8")
    except UnicodeDecodeError:
        return None
