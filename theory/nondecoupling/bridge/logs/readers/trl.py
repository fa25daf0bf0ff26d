"""TRL's ``trainer_state.json`` (``transformers.Trainer``: ``state.log_history``): its entries as columns, or as records.

pyarrow's JSON reader parses the entries as columns (:func:`_trl_table`). A file laid out as
transformers writes it (``TrainerState.save_to_json``: ``json.dumps(..., indent=2, sort_keys=True)``)
is parsed a block of entries at a time (:func:`_entries_by_block`); any other as one
document, which pyarrow holds whole, three times over, while it parses it (575 MB for a
10^6-step run of 288 MB). ``json.loads`` and the record merge read (or refuse) what pyarrow
parses otherwise or not at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nondecoupling.bridge.errors import LogFormatError
from nondecoupling.bridge.logs.readers import NumberedLabels, RawLog, read_text
from nondecoupling.bridge.logs.readers.text import ArrowColumns, _nested, _steps_in_order

if TYPE_CHECKING:
    import pyarrow as pa

#: transformers' layout of ``log_history`` (``indent=2``): the key at the top level, every entry an object one level
#: down. JSON holds a newline inside a text only escaped, so a raw newline is the layout's own.
HISTORY_START, HISTORY_END, ENTRY_SEPARATOR = b'\n  "log_history": [\n', b"\n  ]", b"\n    },\n    {"
#: The most of a file read before its ``log_history`` to find it, and after it to check the state's other fields.
OUTSIDE_HISTORY = 1 << 20
BLOCK = 1 << 23  # bytes of entries parsed at a time
BLOCK_HEAD = b'{"e": ['


def read_trl(path: Path, *, vectorized: bool = True, **_: object) -> RawLog:
    """``trainer_state.json``: one record per ``log_history`` entry, merged by step later.

    With ``vectorized``, a ``log_history`` of numbers and texts whose steps never go back (a
    step's training and evaluation entries one after the other) is read as columns by pyarrow
    (:func:`_trl_table`) and merged as columns (:func:`~nondecoupling.bridge.logs.merge.merge_table`).
    Anything else is parsed by ``json.loads`` and merged record by record.
    """
    table = _trl_table(path) if vectorized else None
    if table is not None:
        return RawLog([], NumberedLabels(np.arange(len(table["step"])), ("log_history[",), suffix="]"), steps=table["step"],
                      table=table)
    try:
        state = json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise LogFormatError(path, f"line {error.lineno}", f"invalid JSON: {error.msg}") from None
    if not isinstance(state, dict) or not isinstance(state.get("log_history"), list):
        raise LogFormatError(path, "top level", "not a trainer_state.json: no 'log_history' list")
    records = state["log_history"]
    for index, entry in enumerate(records):
        if not isinstance(entry, dict):
            raise LogFormatError(path, f"log_history[{index}]", f"expected an object, got {type(entry).__name__}")
        if "step" not in entry:
            raise LogFormatError(path, f"log_history[{index}]", "no 'step'")
    return RawLog(records, NumberedLabels(np.arange(len(records)), ("log_history[",), suffix="]"),
                  steps=[r["step"] for r in records])


def _trl_table(path: Path) -> ArrowColumns | None:
    """``log_history`` as columns, parsed by pyarrow's JSON reader, where its steps are integers in order; else None.

    pyarrow infers the fields from every entry (an integer and a float field: a float). At
    10^6 entries, ``json.loads`` and a dict per entry took 1.5 s and twice the memory (issue
    25). None, for ``json.loads`` and the record merge to read or refuse, wherever pyarrow
    parses otherwise or not at all: a key twice in an object (the last one wins in
    ``json.loads``), a BOM, a number beyond a double, an entry that is not an object, nested
    values, a text that pyarrow takes for a time (refused when read), a step that is not an
    integer (one beyond 64 bits is a float to pyarrow) or goes back (the record merge takes a
    step's entries wherever they are).
    """
    try:
        import pyarrow as pa
        import pyarrow.json  # noqa: F401 (pa.json)
    except ImportError:
        return None
    try:
        table = _entries_by_block(path, pa) or _document_entries(path, pa)
    except pa.ArrowException:
        return None
    if table is None or not table.num_rows or "step" not in table.column_names:
        return None
    if not _steps_in_order(table.column("step"), pa) or _nested(table, pa):
        return None
    return ArrowColumns(table)


def _entries(document: pa.Buffer | Path, pa, key: str) -> pa.Table | None:
    """The objects of a document's top-level list ``key``, parsed whole as one row, as a table; None for anything else."""
    source = document if isinstance(document, Path) else pa.BufferReader(document)
    size = document.stat().st_size if isinstance(document, Path) else document.size
    parsed = pa.json.read_json(source, read_options=pa.json.ReadOptions(use_threads=False, block_size=size + 1),
                               parse_options=pa.json.ParseOptions(newlines_in_values=True))
    if parsed.num_rows != 1 or key not in parsed.column_names:
        return None
    column = parsed.column(key).combine_chunks()
    if not pa.types.is_list(column.type) or not pa.types.is_struct(column.type.value_type) or column.null_count:
        return None
    entries = column.flatten()
    return None if entries.null_count else pa.Table.from_struct_array(entries)


def _document_entries(path: Path, pa) -> pa.Table | None:
    """The entries of ``log_history``, the document parsed whole."""
    return _entries(path, pa, "log_history")


def _entries_by_block(path: Path, pa, block: int = BLOCK) -> pa.Table | None:
    """The entries of a file laid out as transformers writes it, parsed a block at a time; None for any other file.

    Each block runs from one entry to the last whole one within ``block`` bytes read and is
    parsed as a list of its own: one that does not cut the list between two entries is no
    JSON. The state's other fields are checked with ``json.loads`` (with an empty list in
    place of the entries, and the key once), so that the entries are those ``json.loads``
    finds. The blocks' fields are unified as one parse infers them (an integer and a float: a
    float; a text and a number: an error).
    """
    with path.open("rb") as handle:
        head = handle.read(OUTSIDE_HISTORY)
        start = head.find(HISTORY_START)
        if start < 0 or head.count(b'"log_history"') != 1:
            return None
        handle.seek(start + len(HISTORY_START))
        blocks, pending, tail = [], b"", b""
        while not tail:
            # One buffer per block, the file read into it: a list of its own, '{"e": [' entries ']}', with no copy
            buffer = bytearray(len(BLOCK_HEAD) + len(pending) + block)
            buffer[: len(BLOCK_HEAD) + len(pending)] = BLOCK_HEAD + pending
            size = handle.readinto(memoryview(buffer)[len(BLOCK_HEAD) + len(pending) :])
            del buffer[len(BLOCK_HEAD) + len(pending) + size :]
            last = buffer.rfind(ENTRY_SEPARATOR)  # the list's end comes after its last separator
            end = buffer.find(HISTORY_END, max(last, len(BLOCK_HEAD)))
            if end >= 0:
                tail = bytes(buffer[end:]) + handle.read(OUTSIDE_HISTORY)
                del buffer[end:]
            elif not size:
                return None  # the list never ends
            else:  # up to the last whole entry (its comma dropped): the rest comes with the next block
                cut = last + len(b"\n    }") if last >= 0 else len(BLOCK_HEAD)
                pending = bytes(buffer[cut + (last >= 0) :])
                del buffer[cut:]
            if len(buffer) > len(BLOCK_HEAD):
                buffer += b"]}"
                table = _entries(pa.py_buffer(buffer), pa, "e")
                if table is None:
                    return None
                blocks.append(table)
        if handle.read(1) or b'"log_history"' in tail or not blocks:
            return None
    try:
        state = json.loads(head[: start + len(HISTORY_START)] + tail)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(state, dict) or state.get("log_history") != []:
        return None
    return pa.concat_tables(blocks, promote_options="permissive")
