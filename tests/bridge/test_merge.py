"""The records of a repeated step, merged as columns (merge.merge_table) and record by record (merge.merge_records).

TRL logs a step's training and evaluation numbers in two ``log_history`` entries, verl its
validation in a line of its own, a resumed writer a step again. Random logs of such steps, in
TRL's, verl's and the JSONL format, under every merge rule: both paths give the same frame,
labels and conflicts (``read_both.assert_read_alike``), or the same error.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nondecoupling.bridge.logs import run as run_module
from nondecoupling.bridge.logs.merge import MERGE_RULES
from nondecoupling.bridge.logs.run import LogMapping, read_log
from tests.bridge.read_both import assert_read_alike

#: Training keys, evaluation keys (is_eval_key) and a text; the check maps sft_loss, reward and kl among them.
_KEYS = ["loss", "reward", "kl", "learning_rate", "epoch", "eval_sft_loss", "eval_reward", "eval_note", "note"]
_VALUE = st.one_of(st.sampled_from([0.25, 0.5, 1.0, 2, 3]), st.floats(0.01, 10.0), st.none(), st.just(float("nan")))
_TEXT = st.sampled_from(["a", "b", None])
_ENTRY = st.fixed_dictionaries({}, optional={key: _TEXT if key.endswith("note") else _VALUE for key in _KEYS})


def _write(path, fmt: str, steps: list, entries: list) -> None:
    if fmt == "trl":
        path.write_text(json.dumps({"log_history": [{**entry, "step": step} for step, entry in zip(steps, entries)]}, indent=2))
    elif fmt == "verl":
        path.write_text("".join(json.dumps({"step": step, "data": entry}) + "\n" for step, entry in zip(steps, entries)))
    else:
        path.write_text("".join(json.dumps({"step": step, **entry}) + "\n" for step, entry in zip(steps, entries)))


@given(fmt=st.sampled_from(["trl", "verl", "jsonl"]), rule=st.sampled_from(sorted(MERGE_RULES)),
       repeats=st.lists(st.integers(1, 3), min_size=1, max_size=6), entries=st.lists(_ENTRY, min_size=18, max_size=18))
def test_a_repeated_step_merges_alike_as_columns_and_as_records(tmp_path_factory, fmt, rule, repeats, entries):
    """Each step logged 1-3 times (numbers, nulls, NaN, texts; training and evaluation keys): the same frame or error."""
    steps = np.repeat(np.arange(len(repeats)) * 2, repeats).tolist()
    path = tmp_path_factory.mktemp("merge") / ("trainer_state.json" if fmt == "trl" else "log.jsonl")
    _write(path, fmt, steps, entries[: len(steps)])
    mapping = LogMapping(columns={"loss": "sft_loss"}, phase="rl", merge=rule)
    assert_read_alike(path, mapping, "trl" if fmt == "trl" else "jsonl")


@pytest.mark.parametrize("fmt", ["trl", "verl", "jsonl"])
def test_trains_and_evaluations_at_one_step_are_merged_as_columns(tmp_path, monkeypatch, fmt):
    """A TRL log as trainers write it (a training and an evaluation entry per step): no record is merged one by one."""
    rng = np.random.default_rng(0)
    steps = np.repeat(np.arange(50), 2).tolist()
    entries = [{"epoch": step / 50, "loss": 2.0 - step / 50, "learning_rate": 1e-5, "reward": float(rng.random())}
               if row % 2 == 0 else {"epoch": step / 50 + (row == 9) * 0.01, "eval_sft_loss": 3.0 + float(rng.random())}
               for row, step in enumerate(steps)]
    path = tmp_path / ("trainer_state.json" if fmt == "trl" else "log.jsonl")
    _write(path, fmt, steps, entries)
    mapping, reader = LogMapping(columns={"eval_sft_loss": "sft_loss"}, phase="rl"), "trl" if fmt == "trl" else "jsonl"
    by_records = run_module._canonical(path, mapping, reader, vectorized=False, sources=True)

    def refuse(*_args, **_kwargs):
        raise AssertionError("merged record by record")

    monkeypatch.setattr(run_module, "merge_records", refuse)
    merged = read_log(path, mapping, fmt=reader)
    assert len(merged) == 50 and merged["source"].iloc[0].endswith(("[0] (+1 more)", "line 1 (+1 more)"))
    pd.testing.assert_frame_equal(merged, by_records)
    assert merged.attrs == by_records.attrs and merged.attrs["conflicts"] == {"used": {}, "unused": {"epoch": 1}}
