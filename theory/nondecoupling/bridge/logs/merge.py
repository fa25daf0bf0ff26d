"""The records of one step merged into one: the rules, record by record and as columns.

TRL logs a step's training and evaluation numbers in two ``log_history`` entries, verl's
file logger its validation in a line of its own, a resumed writer logs a step again: the
records of a step are merged into one row. A key that only one record of the step logs
takes that value. A key that several records log with different values is a conflict:
the mapping's ``merge`` rule (:data:`MERGE_RULES`) resolves it where the check uses the key,
the last value stands elsewhere, and ``attrs["conflicts"]`` counts the steps. A null or NaN
is no value: every reader takes it as "not logged".

:func:`merge_records` merges Python records one dict at a time (2 us a value); a file read
whole as columns is merged as columns by :func:`merge_table`, to the same rows, labels and
conflicts (``tests/bridge/read_both.py`` reads every format both ways).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from nondecoupling.bridge.errors import LogFormatError
from nondecoupling.bridge.logs.readers import NumberedLabels, RawLog, ReadByRecords, is_eval_key
from nondecoupling.bridge.logs.readers.text import ArrowColumns
from nondecoupling.validation import ParameterError

MERGE_RULES = {
    "eval": "the evaluation record's value (the last one), else the last record's",
    "train": "the training record's value (the last one), else the last record's",
    "first": "the first record's value",
    "last": "the last record's value",
    "mean": "the mean of the records' values",
    "error": "none: a conflict in a used key is an error",
}


def logged(value: object) -> bool:
    """A value, not a missing one: neither None (JSON's null) nor NaN."""
    return value is not None and not (isinstance(value, float) and value != value)


def logged_mask(values: Sequence | np.ndarray | pd.Categorical) -> np.ndarray:
    """:func:`logged` of every value: a list of records' values as they hold them, or a table's column (a categorical's
    null code, a float's NaN; an integer column is logged throughout)."""
    return ~pd.isna(np.asarray(values, dtype=object) if isinstance(values, list) else values)


def is_eval_record(record: Mapping) -> bool:
    """An evaluation record: it logs a value under an evaluation key (:func:`~.readers.is_eval_key`)."""
    return any(is_eval_key(key) and logged(value) for key, value in record.items())


def merge_value(values: list, flags: list, rule: str) -> object:
    """The value ``rule`` takes from the conflicting ``values`` of one step (``flags``: each from an evaluation record)."""
    if rule in ("eval", "train"):
        preferred = [v for v, is_eval in zip(values, flags) if is_eval == (rule == "eval")]
        return (preferred or values)[-1]
    if rule == "mean":
        try:
            return float(np.mean([float(v) for v in values]))
        except (TypeError, ValueError):
            return values[-1]  # not numbers: the canonical reader reports it
    return values[0] if rule == "first" else values[-1]


def merge_records(path: str | Path, raw: RawLog, used: set, rule: str = "eval") -> tuple[list, list, list, dict]:
    """One record per step from the records of a step; conflicts resolved by ``rule`` (:data:`MERGE_RULES`).

    ``raw.steps`` holds each record's key: its step (an int), or for table formats, whose
    stages meet at a shared step, ``(step, phase, stage)``.

    Returns
    -------
    records, labels, keys : list
        One per key, in order of first appearance.
    conflicts : dict
        ``{"used": {key: steps}, "unused": {key: steps}}``: the keys whose values differed
        between the records of a step, and at how many steps; by the first such step, then
        by the order the file names the keys in.
    """
    if raw.steps is None:
        raise ParameterError("raw", "a RawLog with steps (one key per record)", "None")
    groups: dict = {}
    for record, label, step in zip(raw.records, raw.labels, raw.steps):
        group = groups.setdefault(step, {"values": {}, "labels": []})
        group["labels"].append(label)
        is_eval = is_eval_record(record)
        for key, value in record.items():
            if logged(value):
                values, flags = group["values"].setdefault(key, ([], []))
                values.append(value)
                flags.append(is_eval)
    records: list[dict] = []
    labels: list[str] = []
    first_conflict: dict[str, int] = {}
    counts: dict[str, int] = {}
    for index, group in enumerate(groups.values()):
        merged = {}
        for key, (values, flags) in group["values"].items():
            if all(v == values[0] for v in values):
                merged[key] = values[0]
                continue
            first_conflict.setdefault(key, index)
            counts[key] = counts.get(key, 0) + 1
            if key in used and rule == "error":
                raise LogFormatError(path, group["labels"][-1], f"'{key}' takes the values {values} at one step "
                                                                 "(choose a merge rule: --merge eval|train|first|last|mean)")
            merged[key] = merge_value(values, flags, rule) if key in used else values[-1]
        records.append(merged)
        labels.append(group["labels"][0] if len(group["labels"]) == 1 else f"{group['labels'][0]} (+{len(group['labels']) - 1} more)")
    return records, labels, list(groups), _conflicts(first_conflict, counts, raw.names() if counts else [], used)


def _conflicts(first_conflict: dict, counts: dict, names: Sequence[str], used: set) -> dict:
    """``{"used": {key: steps}, "unused": {key: steps}}``, by each key's first conflicting step, then by ``names``."""
    order = {name: index for index, name in enumerate(names)}
    ranked = sorted(counts, key=lambda key: (first_conflict[key], order[key]))
    return {"used": {key: counts[key] for key in ranked if key in used},
            "unused": {key: counts[key] for key in ranked if key not in used}}


def merge_table(table: ArrowColumns, labels: NumberedLabels, groups: np.ndarray, used: set, rule: str) -> tuple[dict, NumberedLabels, dict]:
    """:func:`merge_records` of a table's rows, whose step key ``groups`` numbers (0, 1, ..., rising): as columns.

    ``table``: a file's columns, every one of which is read here, once; a CSV's, whose record
    path compares texts, raises :class:`ReadByRecords`. Returns the merged columns that
    ``used`` names (NaN, or a null text, where no row of a step logs the key), each step's
    label (its first row's, ``(+k more)``) and the conflicts. Only a conflict in a used key is
    resolved value by value, by :func:`merge_value`; the rule ``error`` with one, or ``mean``
    over texts, raises :class:`ReadByRecords`: the record path words or reads it.
    """
    if not table.typed_as_records:
        raise ReadByRecords
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    is_eval = np.zeros(len(groups), dtype=bool)
    names, resolvers, first_conflict, counts = list(table), {}, {}, {}
    for name in names:
        values = table.pop(name)  # each column converted once, and dropped once merged
        source = values.codes if isinstance(values, pd.Categorical) else values
        rows = np.flatnonzero(logged_mask(values))
        if is_eval_key(name):
            is_eval[rows] = True
        row_groups = groups[rows]
        firsts = np.flatnonzero(np.r_[True, row_groups[1:] != row_groups[:-1]][: len(rows)])  # each step's first logged value
        first_of_row = np.repeat(rows[firsts], np.diff(np.r_[firsts, len(rows)]))
        steps_in_conflict = np.unique(row_groups[source[rows] != source[first_of_row]])
        if steps_in_conflict.size:
            first_conflict[name], counts[name] = int(steps_in_conflict[0]), int(steps_in_conflict.size)
        if name in used:
            resolvers[name] = _merged_column(values, rows, row_groups, firsts, steps_in_conflict, starts.size, rule)
    # Conflicts in used keys resolved once every row's is_eval is known: the steps' rows kept, not the columns
    merged = {name: resolve(is_eval) for name, resolve in resolvers.items()}
    merged_labels = NumberedLabels(labels.numbers[starts], labels.prefixes,
                                   None if labels.prefix_codes is None else labels.prefix_codes[starts],
                                   more=np.diff(np.r_[starts, len(groups)]) - 1, suffix=labels.suffix)
    return merged, merged_labels, _conflicts(first_conflict, counts, names, used)


def _merged_column(values, rows: np.ndarray, row_groups: np.ndarray, firsts: np.ndarray, steps_in_conflict: np.ndarray,
                   n_steps: int, rule: str) -> Callable[[np.ndarray], np.ndarray | pd.Categorical]:
    """One used column merged: each step's first logged value; a function that resolves its conflicts given is_eval.

    The function holds the rows and values of the conflicting steps alone (few: a conflict in
    a key the check uses), and resolves them by :func:`merge_value`.
    """
    is_text = isinstance(values, pd.Categorical)
    if steps_in_conflict.size and (rule == "error" or is_text and rule == "mean"):
        raise ReadByRecords
    source = values.codes if is_text else values
    out = np.full(n_steps, -1 if is_text else np.nan, dtype=source.dtype if is_text else float)
    out[row_groups[firsts]] = source[rows[firsts]]
    bounds = np.searchsorted(row_groups, np.stack([steps_in_conflict, steps_in_conflict + 1]))
    conflicting = [(step, rows[low:high], source[rows[low:high]])
                   for step, low, high in zip(steps_in_conflict.tolist(), *bounds.tolist())]
    categories = list(values.categories) if is_text else []

    def resolve(is_eval: np.ndarray) -> np.ndarray | pd.Categorical:
        for step, step_rows, step_values in conflicting:
            resolved = merge_value([categories[c] for c in step_values] if is_text else step_values.tolist(),
                                   is_eval[step_rows].tolist(), rule)
            out[step] = categories.index(resolved) if is_text else resolved
        return pd.Categorical.from_codes(out, categories=categories) if is_text else out

    return resolve
