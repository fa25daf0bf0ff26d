"""Logs of one value per record (TensorBoard's scalar events, MLflow's metric lines), merged by step whole.

Such a log holds ``(key, step, value)`` records. :func:`~nondecoupling.bridge.logs.merge.merge_records`
merges the records of a step one Python dict at a time (2 us a value, most of a check of
TensorBoard logs). When no key is logged twice at one step no value can conflict, and the merge
is a placement: every value goes to its step's row in its key's column. :func:`by_step` does that
with numpy. Anything else (a key twice at one step, as a writer that resumed from a checkpoint
leaves, a step out of range, a key named ``step``) raises
:class:`~nondecoupling.bridge.logs.readers.ReadByRecords`, and the record path merges and words it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from nondecoupling.bridge.logs.readers import MAX_STEP, NumberedLabels, RawLog, ReadByRecords, records_by_step


@dataclass
class Scalars:
    """Values logged one per record, in the order read: one entry per value.

    Attributes
    ----------
    steps : numpy.ndarray of int64
        The step of each value.
    codes : numpy.ndarray of int
        Each value's key, as an index into ``keys``.
    values : numpy.ndarray of float64
        The values.
    keys : list of str
        The keys (tags, metric names).
    prefixes : list of str
        Where the values came from: ``"run1/events.out.tfevents.1 event "``, ``"metrics/eval/reward line "``.
    prefix_codes, numbers : numpy.ndarray of int
        Each value's prefix (an index into ``prefixes``) and its event or line number: its label is
        ``prefixes[prefix_codes[i]] + str(numbers[i])``.
    """

    steps: np.ndarray
    codes: np.ndarray
    values: np.ndarray
    keys: list
    prefixes: list
    prefix_codes: np.ndarray
    numbers: np.ndarray

    def label(self, index: int) -> str:
        return f"{self.prefixes[self.prefix_codes[index]]}{self.numbers[index]}"

    def records(self, notes: dict | None = None) -> RawLog:
        """The record path's :class:`RawLog`: one record ``{"step": step, key: value}`` per value."""
        return records_by_step([(step, {"step": step, self.keys[code]: value}, self.label(index))
                                 for index, (step, code, value) in enumerate(zip(self.steps.tolist(), self.codes.tolist(),
                                                                                 self.values.tolist()))], notes)


class StepColumns(Mapping):
    """One row per step: ``step``, then one column per key (NaN where a step lacks it), each made when asked for.

    ``rows[segments[key]]`` and ``values[segments[key]]`` are the key's rows and values; ``names``
    orders the keys as the record path finds them, by first appearance in step order.
    """

    def __init__(self, steps: np.ndarray, names: list, segments: dict, rows: np.ndarray, values: np.ndarray) -> None:
        self.steps, self._names, self._segments, self._rows, self._values = steps, ["step", *names], segments, rows, values

    def __getitem__(self, name: str) -> np.ndarray:
        if name == "step":
            return self.steps
        segment = self._segments[name]
        column = np.full(len(self.steps), np.nan)
        column[self._rows[segment]] = self._values[segment]
        return column

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def by_step(scalars: Scalars, notes: dict | None = None) -> RawLog:
    """The values as one row per step (:class:`StepColumns`), labelled as :func:`merge_records` labels them.

    Raises :class:`ReadByRecords` where the record path must merge (a key twice at one step) or
    word a complaint (a step below 0 or above 2**53; a key named ``step``, which the record path's
    records would overwrite).
    """
    steps, keys = scalars.steps, scalars.keys
    if "step" in keys or steps.min() < 0 or steps.max() > MAX_STEP:
        raise ReadByRecords
    # Temporaries dropped as soon as they are used: at 10^6 values each is 8 MB, and the peak is their sum.
    order = np.argsort(steps, kind="stable")  # runs of rising steps: timsort's linear case
    sorted_steps = steps[order]
    new_step = np.empty(len(steps), dtype=bool)
    new_step[0] = True
    np.not_equal(sorted_steps[1:], sorted_steps[:-1], out=new_step[1:])
    starts, rows = np.flatnonzero(new_step), np.cumsum(new_step)  # each step's first value; each value's row + 1
    row_steps = sorted_steps[starts]
    del sorted_steps, new_step
    # Each key's values together, in step order: a stable (radix) sort of the few key codes.
    by_key = np.argsort(scalars.codes[order].astype(np.int16 if len(keys) < 2**15 else np.int64), kind="stable")
    source = order[by_key]  # each value's place in the order read, by key, then step
    bounds = np.searchsorted(scalars.codes[source], np.arange(len(keys) + 1))
    key_rows = rows[by_key] - 1
    del rows
    repeated = np.diff(key_rows) == 0
    repeated[bounds[1:-1][(bounds[1:-1] > 0) & (bounds[1:-1] < len(steps))] - 1] = False  # across two keys' values
    if repeated.any():
        raise ReadByRecords  # a key twice at one step: its values may conflict
    first_seen = {code: int(by_key[bounds[code]]) for code in range(len(keys)) if bounds[code + 1] > bounds[code]}
    names = [keys[code] for code in sorted(first_seen, key=first_seen.__getitem__)]  # by first position in step order
    values = scalars.values[source]
    del by_key, source
    firsts = order[starts]
    del order
    labels = NumberedLabels(scalars.numbers[firsts], scalars.prefixes, scalars.prefix_codes[firsts],
                            more=np.diff(np.r_[starts, len(steps)]) - 1)
    segments = {key: slice(int(bounds[code]), int(bounds[code + 1])) for code, key in enumerate(keys)}
    columns = StepColumns(row_steps, names, segments, key_rows, values)
    return RawLog([], labels, steps=row_steps, table=columns, notes=notes or {})
