"""Readers of the text formats: CSV, W&B exports, JSONL (and verl's), verl's console; their columns (:class:`ArrowColumns`)."""

from __future__ import annotations

import csv
import io
import json
import mmap
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from nondecoupling.bridge.errors import LogFormatError
from nondecoupling.bridge.logs.readers import RawLog, ReadByRecords, line_labels, read_text

if TYPE_CHECKING:
    import pyarrow as pa

#: W&B's panel export: ``<run> - <key>`` and its ``__MIN``/``__MAX`` band columns.
WANDB_COLUMN = re.compile(r"^(?P<run>.+?) - (?P<key>.+?)(?P<band>__MIN|__MAX)?$")
#: verl's console line (``concat_dict_to_str``): ``step:N - key:value - key:value``.
VERL_STEP = re.compile(r"^\s*(?:\(\w+ pid=\d+\)\s*)?step:(?P<step>\d+)(?P<rest>( - .*)?)$")


def _steps_in_order(step, pa) -> bool:
    """Whether a step column holds integers that never go back: each step's rows together, as ``merge_table`` merges them."""
    return pa.types.is_int64(step.type) and not step.null_count and not np.any(np.diff(step.to_numpy()) < 0)


def _nested(table, pa) -> bool:
    """Whether a table has a nested column (an object or list value), which only the record path reads."""
    return any(pa.types.is_nested(t) for t in table.schema.types)


def _table(path: Path, text: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(io.StringIO(text), sep=None, engine="python", dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise LogFormatError(path, "line 1", "empty file (no header)") from None
    except (pd.errors.ParserError, csv.Error) as error:
        raise LogFormatError(path, "parsing", str(error)) from None
    if frame.empty:
        raise LogFormatError(path, "line 2", "no data rows after the header")
    return frame


def read_csv(path: Path, *, run: str | None = None, vectorized: bool = True, **_: object) -> RawLog:
    """A CSV/TSV table; a W&B panel export (``<run> - <key>`` columns) is read as :func:`read_wandb`.

    With ``vectorized``, a plain table is parsed whole by pyarrow's CSV reader (:func:`_csv_table`);
    anything else, and what that path refuses, row by row as texts.
    """
    table = _csv_table(path) if vectorized else None
    if table is not None:
        return RawLog([], line_labels(table.rows, first=2), table=table)  # line 1: the header
    frame = _table(path, read_text(path))
    if _is_wandb_export(list(frame.columns)):
        return _wandb_run(path, frame, run)
    records = [{k: (None if v == "" else v) for k, v in row.items()} for row in frame.to_dict("records")]
    return RawLog(records, [f"line {i + 2}" for i in range(len(records))])


def _is_wandb_export(names: list[str]) -> bool:
    """A W&B panel export's header: ``Step``, then ``<run> - <key>`` columns."""
    return "Step" in names and any(WANDB_COLUMN.match(name) for name in names if name != "Step")


def read_wandb(path: Path, *, run: str | None = None, **_: object) -> RawLog:
    """A W&B panel export: ``Step``, then ``<run> - <key>`` per run (``__MIN``/``__MAX`` ignored)."""
    frame = _table(path, read_text(path))
    if "Step" not in frame.columns:
        raise LogFormatError(path, "line 1", f"not a W&B export: no 'Step' column among {list(frame.columns)}")
    return _wandb_run(path, frame, run)


def _wandb_run(path: Path, frame: pd.DataFrame, run: str | None) -> RawLog:
    columns = {c: WANDB_COLUMN.match(c) for c in frame.columns if c != "Step"}
    runs = list(dict.fromkeys(m["run"] for m in columns.values() if m))
    if run is None and len(runs) > 1:
        raise LogFormatError(path, "line 1", f"{len(runs)} runs in one export ({', '.join(runs)}); choose one with --run NAME")
    chosen = run if run is not None else (runs[0] if runs else None)
    if chosen not in runs:
        raise LogFormatError(path, "line 1", f"no run {chosen!r} in the export; it has {', '.join(runs)}")
    keys = {c: m["key"] for c, m in columns.items() if m and m["run"] == chosen and not m["band"]}
    records, labels = [], []
    for index, row in enumerate(frame.to_dict("records")):
        values = {key: row[column] for column, key in keys.items() if row[column] != ""}
        if values:  # rows of other runs' steps are blank for this run
            records.append({"Step": row["Step"], **values})
            labels.append(f"line {index + 2}")
    if not records:
        raise LogFormatError(path, "rows", f"run {chosen!r} has no values")
    return RawLog(records, labels, notes={"wandb_run": chosen, "wandb_runs": runs})


def _flatten(data: dict, prefix: str = "") -> dict:
    """verl's nested metrics as ``a/b/c`` keys (the names its trackers show)."""
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}/"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def read_jsonl(path: Path, *, vectorized: bool = True, **_: object) -> RawLog:
    """One JSON object per line; verl's file-logger lines ``{"step": N, "data": {...}}`` are flattened.

    With ``vectorized``, a file of flat objects with numbers and texts is parsed whole by
    pyarrow's JSON reader (no Python object per value); anything else line by line.
    """
    table = _jsonl_table(path) if vectorized else None
    if table is not None:  # verl's lines are records of a step, merged by step as the line reader merges them
        return RawLog([], line_labels(table.rows), steps=table["step"] if table.verl else None, table=table)
    records, labels = [], []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise LogFormatError(path, f"line {number}", f"invalid JSON (truncated line?): {error.msg}") from None
        if not isinstance(record, dict):
            raise LogFormatError(path, f"line {number}", f"expected a JSON object, got {type(record).__name__}")
        records.append(record)
        labels.append(f"line {number}")
    if not records:
        raise LogFormatError(path, "line 1", "empty file (no records)")
    if set(records[0]) == {"step", "data"} and isinstance(records[0]["data"], dict):
        return _verl_records(path, records, labels)
    return RawLog(records, labels)


def _jsonl_table(path: Path) -> ArrowColumns | None:
    """The columns of a JSONL file of flat objects or of verl's lines (:func:`_verl_table`), or None: read it line by line.

    None also where pyarrow would read the file differently from ``json.loads`` per line:
    blank lines (the line numbers would shift), other nested values, a BOM, bad bytes. A column
    of other values than numbers, texts and nulls (booleans, texts that pyarrow reads as
    timestamps) is refused only where it is read (:class:`ArrowColumns`). The columns' order
    may differ from the line-by-line reader's: columns are found by name (globs sorted).
    """
    try:
        import pyarrow as pa
        import pyarrow.json
        # One thread: the reader's worker threads cost 1.6x the CPU (0.80 s against 0.50 s at 10^6 rows) for no wall
        # time on two cores; a check is measured, and billed on shared machines, in CPU time (issue 25).
        table = pyarrow.json.read_json(path, read_options=pyarrow.json.ReadOptions(use_threads=False, block_size=1 << 23))
    except (ImportError, pa.ArrowException):
        return None
    verl = bool(table.num_rows) and table.column_names == ["step", "data"] and pa.types.is_struct(table.schema.field("data").type)
    if verl:
        table = _verl_table(table, pa)
    if table is None or table.num_rows == 0 or _nested(table, pa):
        return None
    if table.num_rows != count_lines(path):
        return None
    return ArrowColumns(table, verl=verl)


def _verl_table(table: pa.Table, pa) -> pa.Table | None:
    """verl's ``{"step": N, "data": {...}}`` lines as flat columns, named as :func:`_flatten` names them, or None.

    None wherever the record path could read them otherwise: a step that is not an integer on
    every line or goes back (the record path merges a step's lines wherever they are), a
    line without ``data`` or with a null nested group, a name made twice (``step`` among them).
    """
    step = table.column("step")
    if not _steps_in_order(step, pa):
        return None
    columns: dict = {"step": step}

    def add(column, name: str) -> bool:
        if not pa.types.is_struct(column.type):
            columns.setdefault(name, column)
            return columns[name] is column
        return column.null_count == 0 and all(add(child, f"{name}/{field.name}" if name else field.name)
                                              for field, child in zip(column.type, column.flatten()))

    return pa.table(columns) if add(table.column("data"), "") else None


def _csv_table(path: Path) -> ArrowColumns | None:
    """The columns of a CSV/TSV file, or None: read it row by row (a W&B export, no rows, a repeated name, bad bytes).

    The delimiter is the one :class:`csv.Sniffer` finds in the header, as pandas' sniffing reader
    takes it; an empty cell is a null, as the row path reads it; every other value as pyarrow types it
    (:class:`ArrowColumns` hands a column of other types than numbers and texts to the row path).
    """
    try:
        import pyarrow as pa
        import pyarrow.csv
    except ImportError:
        return None
    with path.open("rb") as handle:
        header = handle.readline()
    try:
        delimiter = csv.Sniffer().sniff(header.decode("utf-8-sig")).delimiter
        table = pyarrow.csv.read_csv(path, read_options=pyarrow.csv.ReadOptions(use_threads=False, block_size=1 << 23),
                                     parse_options=pyarrow.csv.ParseOptions(delimiter=delimiter),
                                     convert_options=pyarrow.csv.ConvertOptions(null_values=[""], strings_can_be_null=True))
    except (UnicodeDecodeError, csv.Error, pa.ArrowException):
        return None
    names = table.column_names
    if table.num_rows == 0 or len(set(names)) < len(names) or _is_wandb_export(names):
        return None  # no rows; a repeated name (pandas renames the second); a W&B export
    return ArrowColumns(table, typed_as_records=False)  # the row path compares a repeated step's values as texts


def count_lines(path: Path) -> int:
    """Lines of a non-empty file (a last line without its newline counts), counted in mapped windows.

    A third of the CPU of reading the file into blocks and ``bytes.count`` (0.025 s against 0.08 s at
    100 MB); one window (16 MB) mapped at a time, so that the file's pages add little to the resident peak.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile(delete=False) as handle:
    ...     _ = handle.write(b"{}\\n\\n{}")
    >>> count_lines(Path(handle.name))
    3
    """
    size, lines, window = path.stat().st_size, 0, 1 << 24  # a multiple of mmap.ALLOCATIONGRANULARITY
    with path.open("rb") as handle:
        for offset in range(0, size, window):
            with mmap.mmap(handle.fileno(), min(window, size - offset), offset=offset, access=mmap.ACCESS_READ) as view:
                lines += int(np.count_nonzero(np.frombuffer(view, np.uint8) == ord("\n")))
        handle.seek(-1, 2)
        return lines + (handle.read(1) != b"\n")


def release_arrow_memory() -> None:
    """Hand pyarrow's freed blocks back to the system: its pool keeps them (~3x the columns' size at 10^6 rows)."""
    try:
        import pyarrow as pa
    except ImportError:
        return
    pa.default_memory_pool().release_unused()


class ArrowColumns(Mapping):
    """A pyarrow table's columns as numpy arrays (:func:`_column_array`), each made when first read.

    The columns that no mapping names are never converted. A logger's timestamp or run name, one
    distinct text per row, took 0.4-0.9 s to convert at 10^6 rows. A column read that holds
    anything but numbers, texts and nulls raises :class:`ReadByRecords`: the record path reads
    (or refuses) its values as the file wrote them.
    """

    def __init__(self, table: pa.Table, verl: bool = False, typed_as_records: bool = True) -> None:
        self.verl = verl  # verl's lines (:func:`_verl_table`): one step each
        # Whether the record path's values are of the same types (JSON's numbers and texts, not CSV's texts), so that the
        # rows of a repeated step compare, and merge, as columns as they do as records (merge.merge_table)
        self.typed_as_records = typed_as_records
        # Column by column, so that a converted column's pyarrow buffers go (a chunked column's array is a copy)
        self._columns = dict(zip(table.column_names, table.columns))
        self._names: list[str] = table.column_names
        self._arrays: dict[str, np.ndarray | pd.Categorical] = {}
        self.rows: int = table.num_rows
        release_arrow_memory()  # the reader's own buffers; the columns' stay until they are read

    def __getitem__(self, name: str) -> np.ndarray | pd.Categorical:
        if name not in self._arrays:
            import pyarrow as pa

            column = self._columns.pop(name)  # KeyError: no such column
            if not any(kind(column.type) for kind in (pa.types.is_int64, pa.types.is_float64, pa.types.is_string,
                                                       pa.types.is_null)):
                raise ReadByRecords
            self._arrays[name] = _column_array(column, pa)
        return self._arrays[name]

    def pop(self, name: str) -> np.ndarray | pd.Categorical:
        """The column as :meth:`__getitem__` gives it, no longer held here (a merge reads every column once)."""
        array = self[name]
        del self._arrays[name]
        return array

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _column_array(column, pa) -> np.ndarray | pd.Categorical:
    """A float array (NaN for null), an int64 array (no nulls), or a categorical of the texts (NaN for null).

    Texts stay codes into their few distinct values (phase names): no Python string per row.
    """
    if pa.types.is_string(column.type) or pa.types.is_null(column.type):
        encoded = column.cast(pa.string()).dictionary_encode().combine_chunks()
        return pd.Categorical.from_codes(encoded.indices.fill_null(-1).to_numpy(), categories=encoded.dictionary.to_pylist())
    if pa.types.is_int64(column.type) and column.null_count == 0:
        return column.to_numpy()
    return column.cast(pa.float64()).to_numpy()


def _verl_records(path: Path, records: list, labels: list) -> RawLog:
    flat = []
    for record, label in zip(records, labels):
        if set(record) != {"step", "data"} or not isinstance(record["data"], dict):
            raise LogFormatError(path, label, "expected verl's {\"step\": N, \"data\": {...}} like the first line")
        flat.append({"step": record["step"], **_flatten(record["data"])})
    return RawLog(flat, labels, steps=[r["step"] for r in flat])


def read_verl_console(path: Path, **_: object) -> RawLog:
    """verl's console lines ``step:N - key:value - ...``; other lines (warnings, banners) are skipped."""
    records, labels = [], []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        match = VERL_STEP.match(line)
        if match is None:
            continue
        record = {"step": match["step"]}
        for part in match["rest"].split(" - ")[1:]:
            key, sep, value = part.rpartition(":")
            if not sep or not key:
                raise LogFormatError(path, f"line {number}", f"{part!r} is not key:value")
            record[key.strip()] = value.strip()
        records.append(record)
        labels.append(f"line {number}")
    if not records:
        raise LogFormatError(path, "line 1", "no 'step:N - key:value' lines (verl's console format)")
    return RawLog(records, labels, steps=[r["step"] for r in records])
