"""Log readers: real writers' output round-trips; malformed logs fail naming file, line and problem."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nondecoupling.bridge.logs.run import COLUMNS, LogFormatError, LogMapping, read_log, read_run, read_run_meta
from tests.bridge.read_both import assert_read_alike
from tests.bridge.synthetic import isotropic_run, write_jsonl

FIXTURES = Path(__file__).parent / "fixtures"
SFT_STATE, GRPO_STATE = FIXTURES / "trl_sft_trainer_state.json", FIXTURES / "trl_grpo_trainer_state.json"


def _by_step(state_path, key):
    """{step: value} of one key in a trainer_state.json, read with json alone."""
    history = json.loads(Path(state_path).read_text())["log_history"]
    return {e["step"]: e[key] for e in history if key in e}


def _check_trl_chain(run, sft_state, grpo_state, response_length):
    sft_losses, rl_losses = _by_step(sft_state, "eval_loss"), _by_step(grpo_state, "eval_sft_loss")
    rl_rewards = _by_step(grpo_state, "eval_reward")
    sft, rl = run[run["phase"] == "sft"], run[run["phase"] == "rl"]
    assert list(sft["step"]) == sorted(sft_losses)
    np.testing.assert_allclose(sft["sft_loss"], [response_length * sft_losses[s] for s in sorted(sft_losses)])
    offset = max(sft_losses)  # the GRPO trainer restarted its step counter
    assert list(rl["step"]) == [offset + s for s in sorted(rl_losses)]
    np.testing.assert_allclose(rl["sft_loss"], [response_length * rl_losses[s] for s in sorted(rl_losses)])
    np.testing.assert_allclose(rl["reward"], [rl_rewards[s] for s in sorted(rl_rewards)])
    assert list(run["stage"]) == [0] * len(sft) + [1] * len(rl)
    assert run.attrs["files"][1]["step_offset"] == offset
    assert run.attrs["files"][0]["columns"]["sft_loss"] == "eval_loss"


TRL_MAPPINGS = [
    LogMapping(phase="sft", loss_per_token=True, response_length=2),
    LogMapping(phase="rl", loss_per_token=True, response_length=2),
]


def test_committed_trl_fixtures_chain_into_one_run():
    run = read_run([SFT_STATE, GRPO_STATE], TRL_MAPPINGS)
    assert list(run.columns) == list(COLUMNS)
    _check_trl_chain(run, SFT_STATE, GRPO_STATE, response_length=2)


@pytest.mark.slow
def test_trl_trainers_write_what_the_reader_reads(tmp_path):
    """Regenerate trainer_state.json with TRL's real SFTTrainer and GRPOTrainer, then read it."""
    pytest.importorskip("torch")
    pytest.importorskip("trl")
    from tests.bridge.trl_runs import run_grpo, run_sft

    sft_state = run_sft(tmp_path / "sft", max_steps=4)
    grpo_state = run_grpo(tmp_path / "grpo", tmp_path / "sft" / "final", max_steps=2)
    run = read_run([sft_state, grpo_state], TRL_MAPPINGS)
    _check_trl_chain(run, sft_state, grpo_state, response_length=2)


def test_grpo_eval_loss_is_not_taken_for_the_sft_loss(tmp_path):
    """GRPO's eval_loss is its RL objective: only a file tagged sft reads eval_loss as SFT loss."""
    history = [{"eval_loss": 0.01, "step": 0}, {"eval_loss": 0.02, "step": 2}]
    path = tmp_path / "trainer_state.json"
    path.write_text(json.dumps({"log_history": history}))
    with pytest.raises(LogFormatError, match="only in a file tagged --phase sft"):
        read_log(path, LogMapping(phase="rl"))
    assert list(read_log(path, LogMapping(phase="sft"))["sft_loss"]) == [0.01, 0.02]


@pytest.mark.parametrize("writer", ["tensorboard", "torch"])
def test_tensorboard_event_files_round_trip(tmp_path, writer):
    pytest.importorskip("tensorboard", reason="reading event files needs tensorboard (the logs extra)")
    steps, losses, rewards = [0, 5, 10, 15], [10.0, 10.5, 11.25, 11.5], [0.25, 0.5, 0.625, 0.75]
    if writer == "tensorboard":
        from tensorboard.summary import Writer

        summary = Writer(str(tmp_path))
        for s, loss, r in zip(steps, losses, rewards):
            summary.add_scalar("eval/sft_loss", loss, step=s)
            summary.add_scalar("train/reward", r, step=s)
            summary.add_scalar("train/learning_rate", 1e-5, step=s)
        summary.close()
    else:
        pytest.importorskip("torch")
        from torch.utils.tensorboard import SummaryWriter

        summary = SummaryWriter(str(tmp_path))
        for s, loss, r in zip(steps, losses, rewards):
            summary.add_scalar("eval/sft_loss", loss, s)
            summary.add_scalar("train/reward", r, s)
            summary.add_scalar("train/learning_rate", 1e-5, s)
        summary.close()
    run = read_run(tmp_path, LogMapping(phase="rl"))
    assert list(run["step"]) == steps
    np.testing.assert_allclose(run["sft_loss"], losses)  # exactly representable in float32
    np.testing.assert_allclose(run["reward"], rewards)
    np.testing.assert_allclose(run["lr"], 1e-5, rtol=1e-6)
    assert (run["phase"] == "rl").all()
    from nondecoupling.bridge.logs.readers.tensorboard import read_tensorboard

    assert read_tensorboard(tmp_path).table is not None  # the writer's own file: placed by step, not merged record by record


_NO_TENSORBOARD = pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None,
                                     reason="reading event files needs tensorboard (the logs extra)")


@_NO_TENSORBOARD
@given(st.binary(max_size=300))
def test_the_event_file_checksum_is_tensorboards_masked_crc32c(data):
    """The reader's CRC (google-crc32c, masked as TFRecord masks it) against tensorboard's own, pure-Python one."""
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c as reference

    from nondecoupling.bridge.logs.readers import tensorboard, tfrecord

    assert tfrecord.masked(tensorboard._tensorboard()[1](data)) == reference(data)


@_NO_TENSORBOARD
@given(st.sampled_from([np.float32, np.float64, np.int32, np.int64, np.float16]),
       st.sampled_from([(), (1,), (1, 1), (2,)]), st.floats(width=16), st.booleans())
def test_a_tensor_summary_reads_as_tensorboards_make_ndarray_reads_it(dtype, shape, number, as_content):
    """The fast path of one-element float tensors against make_ndarray, its fallback for the rest (ints, float16,
    tensor_content, more than one element: None)."""
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.util import tensor_util

    from nondecoupling.bridge.logs.readers import tensorboard

    array = np.full(shape, number).astype(dtype)
    tensor = tensor_util.make_tensor_proto(array)
    if as_content:  # the packed form a writer may choose instead of the repeated field
        tensor.tensor_content = array.tobytes()
        for field in ("float_val", "double_val", "int_val", "int64_val", "half_val"):
            tensor.ClearField(field)
    value = summary_pb2.Summary.Value(tag="t", tensor=tensor)
    read = tensorboard._scalar(value, "scalars")
    if array.size != 1:
        assert read is None
        return
    expected = float(tensor_util.make_ndarray(tensor).reshape(()))
    assert read == expected or (np.isnan(read) and np.isnan(expected))
    assert read == float(array.reshape(())) or np.isnan(read)


def test_csv_from_a_tracker_export_with_a_mapping_and_phase_switches(tmp_path):
    exported = pd.DataFrame({
        "Step": [0, 10, 20, 30, 40],
        "eval/nll": [10.0, 9.5, 9.25, 9.75, 10.5],
        "train/reward": [0.1, None, 0.3, 0.5, 0.6],
    })
    path = tmp_path / "export.csv"
    exported.to_csv(path, index=False)
    run = read_run(path, LogMapping(columns={"eval/nll": "sft_loss"}, phase="sft:0,rl:20"))
    assert list(run["phase"]) == ["sft", "sft", "rl", "rl", "rl"]
    assert run["phase"].dtype == pd.Series(["sft"]).dtype  # the dtype pandas gives texts ("str" from pandas 3, else object)
    assert list(run["stage"]) == [0, 0, 1, 1, 1]
    np.testing.assert_allclose(run["sft_loss"], exported["eval/nll"])
    np.testing.assert_allclose(run["reward"], exported["train/reward"])  # the gap stays NaN
    assert run["source"].iloc[1] == "export.csv:line 3"


_finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
#: An SFT loss is a cross-entropy: >= 0 and not ~0 everywhere (check refuses other columns as implausible).
_loss = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(
    increments=st.lists(st.integers(0, 50), min_size=1, max_size=25),
    phases=st.lists(st.sampled_from(["sft", "rl"]), min_size=25, max_size=25),
    values=st.lists(
        st.tuples(_loss, st.floats(0, 1), st.one_of(st.none(), _finite), st.one_of(st.none(), st.floats(0, 1))),
        min_size=25, max_size=25,
    ),
    fmt=st.sampled_from(["jsonl", "jsonl read line by line", "csv"]),
)
def test_canonical_records_round_trip_through_jsonl_and_csv(tmp_path_factory, increments, phases, values, fmt):
    """Both JSONL paths: pyarrow's whole-file table, and json.loads per line (which a blank line forces)."""
    n = len(increments)
    frame = pd.DataFrame({
        "phase": phases[:n], "step": np.cumsum(increments),
        "sft_loss": [v[0] for v in values[:n]], "reward": [v[1] for v in values[:n]],
        "kl": [np.nan if v[2] is None else v[2] for v in values[:n]],
        "pass_rate": [np.nan if v[3] is None else v[3] for v in values[:n]],
    })
    path = tmp_path_factory.mktemp("rt") / f"run.{fmt.split()[0]}"
    if fmt == "csv":
        frame.to_csv(path, index=False, float_format="%.17g")
    else:
        write_jsonl(frame.astype(object).where(frame.notna(), None), path)
        if fmt.endswith("line by line"):
            path.write_text(path.read_text() + "\n")
    run = read_run(path)
    # A step repeated within a phase is one point, each key's last value logged at it (the documented rule: a null is
    # no value); a phase change keeps both.
    key = frame["step"].astype(str) + frame["phase"]
    frame = frame.groupby(key.ne(key.shift()).cumsum().to_numpy(), sort=False).last()
    assert list(run["step"]) == list(frame["step"])
    assert list(run["phase"]) == list(frame["phase"])
    assert run["phase"].dtype == pd.Series(["sft"]).dtype
    for column in ("sft_loss", "reward", "kl", "pass_rate"):
        np.testing.assert_array_equal(run[column].to_numpy(float), frame[column].to_numpy(float))
    changes = np.r_[0, np.cumsum(frame["phase"].to_numpy()[1:] != frame["phase"].to_numpy()[:-1])]
    assert list(run["stage"]) == list(changes)


def test_a_jsonl_logs_unmapped_columns_are_never_converted(tmp_path):
    """A logger's timestamp, one distinct text per row, is read as the line-by-line path reads the log, unconverted."""
    from nondecoupling.bridge.logs.readers import text

    rows = [{"time": f"2026-12-06T10:00:{i:02d}", "phase": "sft" if i < 3 else "rl", "step": i, "sft_loss": 2.0 - 0.1 * i,
             "reward": 0.1 * i} for i in range(6)]
    whole, by_line = tmp_path / "whole.jsonl", tmp_path / "by_line.jsonl"
    whole.write_text("".join(json.dumps(row) + "\n" for row in rows))
    by_line.write_text(whole.read_text() + "\n")  # a blank line: json.loads per line
    columns = text._jsonl_table(whole)
    assert list(columns) == ["time", "phase", "step", "sft_loss", "reward"] and (len(columns), columns.rows) == (5, 6)
    assert list(columns["phase"]) == [row["phase"] for row in rows] and set(columns._arrays) == {"phase"}
    with pytest.raises(KeyError):
        columns["reward/mean"]
    frame = read_log(whole)
    assert "time" not in frame.columns
    pd.testing.assert_frame_equal(frame.drop(columns="source"), read_log(by_line).drop(columns="source"))
    with pytest.raises(LogFormatError, match=r"line 1: 'time' is '2026-12-06T10:00:00', not a number"):
        read_log(whole, LogMapping(columns={"time": "kl"}))  # pyarrow's timestamps: worded as the file wrote them


_CSV_NUMBER = st.one_of(
    _finite.map(repr), _finite.map(lambda x: f"{x:.3e}"), _finite.map(lambda x: f" {x} "), st.integers(-10**6, 10**6).map(str),
    st.sampled_from(["", "nan", "NaN", "None", "null", "inf", "-inf", "NA", "True", "high", '"0.5"']),
)


@given(
    steps=st.lists(st.integers(0, 3), min_size=1, max_size=12).map(lambda gaps: [str(s) for s in np.cumsum(gaps)]),
    phases=st.lists(st.sampled_from(["sft", "rl", "RL ", "Sft", "", "dpo"]), min_size=12, max_size=12),
    values=st.lists(st.tuples(_CSV_NUMBER, _CSV_NUMBER), min_size=12, max_size=12),
    delimiter=st.sampled_from([",", "\t", ";"]),
)
def test_a_csv_reads_alike_whole_and_row_by_row(tmp_path_factory, steps, phases, values, delimiter):
    """pyarrow's whole-table read (read_log) against the row-by-row texts (the reader's fallback): the same frame or error."""
    rows = [delimiter.join(["step", "phase", "reward", "sft_loss"])]
    rows += [delimiter.join([step, phase, *cells]) for step, phase, cells in zip(steps, phases, values)]
    path = tmp_path_factory.mktemp("csv") / "log.csv"
    path.write_text("\n".join(rows) + "\n")
    assert_read_alike(path, LogMapping(), "csv")


def test_a_csv_with_a_repeated_column_name_is_read_as_pandas_names_it(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("step,phase,reward,reward\n0,rl,0.1,5\n1,rl,0.2,6\n")  # pandas: reward, reward.1
    assert read_log(path)["reward"].tolist() == [0.1, 0.2]


def test_run_meta_sidecar_and_logged_stage_column(tmp_path):
    run = isotropic_run([("sft", 20), ("rl", 20)], every=10)
    write_jsonl(run, tmp_path / "log.jsonl", meta={"expert_pass_rate": 0.4, "expert_entropy": 10.0})
    assert read_run_meta([tmp_path / "log.jsonl"])["expert_pass_rate"] == 0.4
    assert list(read_run(tmp_path / "log.jsonl")["stage"]) == list(run["stage"])


def test_exact_pass_rate_is_kept_and_nan_where_not_logged(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"phase": "rl", "step": 0, "reward": 0.25, "pass_rate": 0.3}\n{"phase": "rl", "step": 1, "reward": 0.5}\n')
    run = read_run(path)
    np.testing.assert_array_equal(run["pass_rate"], [0.3, np.nan])
    np.testing.assert_array_equal(run["reward"], [0.25, 0.5])
    assert run.attrs["files"][0]["columns"]["pass_rate"] == "pass_rate"
    assert read_run(SFT_STATE, TRL_MAPPINGS[0])["pass_rate"].isna().all()


def test_records_without_quantities_are_listed_not_dropped_silently(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_text('{"phase": "rl", "step": 0, "reward": 0.1}\n{"phase": "rl", "step": 1, "note": "hi"}\n')
    run = read_run(path)
    assert len(run) == 1
    assert run.attrs["files"][0]["ignored"] == ["log.jsonl:line 2"]


_TRL_NUMBER = st.one_of(st.floats(0.01, 1e3), st.integers(0, 10**6), st.none())  # an SFT loss >= 0, as a check accepts
_TRL_ODD = st.sampled_from([float("nan"), float("inf"), "x", True, {"nested": 1}, [0.5], 2**70, 2**63 + 1, "2026-12-06T00:00:00"])
_TRL_KEYS = st.sampled_from(["reward", "sft_loss", "learning_rate", "kl", "eval_reward", "epoch", "note", "eval_sft_loss",
                             "eval_k1_floor"])  # the last two: the callback's records (units.callback_records)


@given(
    odd=st.booleans(),
    gaps=st.lists(st.integers(1, 3), min_size=1, max_size=12),
    entries=st.lists(st.dictionaries(_TRL_KEYS, _TRL_NUMBER, max_size=4).map(lambda entry: {"reward": 0.5, **entry}),
                     min_size=12, max_size=12),
    odd_gaps=st.lists(st.integers(-1, 3), min_size=12, max_size=12),
    odd_entries=st.lists(st.dictionaries(_TRL_KEYS, st.one_of(_TRL_NUMBER, _TRL_ODD), max_size=4), min_size=12, max_size=12),
    step_as_float=st.booleans(),
)
def test_a_trainer_state_reads_alike_as_columns_and_record_by_record(tmp_path_factory, odd, gaps, entries, odd_gaps, odd_entries,
                                                                    step_as_float):
    """log_history as columns (one entry per step, read_log) against the record merge (the fallback): the same frame or error.

    Half the logs have rising steps and numbers (the columns' case); the other half repeat (gap 0) or lower (-1) a step,
    or hold texts, booleans, NaN, infinities, nested values, integers beyond 64 bits (the merge's)."""
    steps = np.cumsum(odd_gaps[: len(gaps)] if odd else gaps).tolist()
    history = [{"step": float(step) if step_as_float and odd else step, **entry}
               for step, entry in zip(steps, odd_entries if odd else entries)]
    path = tmp_path_factory.mktemp("trl") / "trainer_state.json"
    path.write_text(json.dumps({"log_history": history}, indent=2, sort_keys=True))
    assert_read_alike(path, LogMapping(phase="rl"), "trl")


@pytest.mark.parametrize("document", [
    "\ufeff{\"log_history\": [ENTRIES]}",  # a BOM
    '{"log_history": [], "log_history": [ENTRIES]}',  # a key twice: json.loads keeps the last
    '{"log_history": [ENTRIES, {"step": 2, "reward": 1e400}]}',  # beyond a double: json.loads reads inf
    '{"log_history": [ENTRIES, {"step": 2, "reward": 0.5, "reward": 0.75}]}',
    '{"log_history": [ENTRIES, null]}', '{"log_history": [ENTRIES, 5]}',
    '{"log_history": [{"step": 0, "reward": 0.5}, {"step": 18446744073709551617, "reward": 0.25}]}',
    '{"log_history": [{"step": 0, "reward": 0.5}, {"reward": 0.25}]}', '{"log_history": [{"\\u0073tep": 0, "reward": 0.5}]}',
    '{"log_history": [ENTRIES]} {"log_history": []}', '[ENTRIES]', '{"log_history": []}', '{"log_history": null}',
    '{"log_history": [ENTRIES]}\n\n', '{"trial_params": {"lr": [1, "x"]}, "log_history": [ENTRIES]}',
    # transformers' layout (indent=2), read a block at a time: as written, and broken where only the layout tells
    '{\n  "epoch": 1.0,\n  "log_history": [\n    {\n      "reward": 0.5,\n      "step": 0\n    },\n    {\n      "reward": 0.25,\n'
    '      "step": 1\n    }\n  ],\n  "trial_name": null\n}\n',
    '{\n  "log_history": [\n    {\n      "reward": 0.5,\n      "step": 0\n    }\n    {\n      "reward": 0.25,\n      "step": 1\n'
    '    }\n  ]\n}',  # no comma between the entries: not JSON
    '{\n  "log_history": [\n    {\n      "step": 0\n    },\n    5,\n    {\n      "step": 1\n    }\n  ]\n}',
    '{\n  "log_history": [\n    {\n      "step": 0\n    },\n    {\n      "step": 1\n    },\n  ]\n}',  # a trailing comma
    '{\n  "log_history": [\n    {\n      "step": 0\n    }\n  ],\n  "log_history": []\n}',  # a key twice
    '{\n  "log_history": [\n    {\n      "step": 0\n    }\n  ]\n}\n{}',  # extra data
    '{\n  "log_history": [\n    {\n      "step": 0\n    }\n  ]\n',  # never closed
    '{\n  "log_history": [\n    {\n      "step": 0\n    }\n',  # cut in the list
    '{\n "a": {\n  "log_history": [\n    {\n      "step": 0\n    }\n  ]\n },\n "log_history": [ENTRIES]\n}',  # indent=1
    '{\n  "log_history": [\n    {\n      "note": "\\n    },\\n    {",\n      "step": 0\n    }\n  ]\n}',  # a text of the layout
    '{\n  "log_history": [\n    {\n      "step": 0\n    }\n  ],\n  "x": [\n    {\n      "a": 1\n    },\n    {\n      "a": 2\n'
    '    }\n  ]\n}',  # another list of objects after it
])
def test_a_trainer_state_document_reads_alike_whole_and_by_json_loads(tmp_path, document):
    """What pyarrow's JSON reader parses otherwise or not at all reads as json.loads reads it, or fails as it does."""
    path = tmp_path / "trainer_state.json"
    path.write_text(document.replace("ENTRIES", '{"step": 0, "reward": 0.5}, {"step": 1, "reward": 0.25}'), encoding="utf-8")
    assert_read_alike(path, LogMapping(phase="rl"), "trl")


@given(history=st.lists(st.fixed_dictionaries({}, optional={"reward": _TRL_NUMBER, "eval_sft_loss": _TRL_NUMBER, "epoch": _TRL_NUMBER,
                                                            "note": st.sampled_from(["x", "}, {", "\n    },\n    {", None])}),
                        min_size=1, max_size=30), block=st.integers(1, 400), mixed=st.booleans())
def test_a_trainer_state_read_a_block_at_a_time_is_read_as_one_document(tmp_path_factory, history, block, mixed):
    """transformers' layout parsed a block of entries at a time (any block size, an entry cut anywhere): as parsed whole.

    ``mixed``: a text among the first entry's numbers, which neither parse types."""
    import pyarrow as pa
    import pyarrow.json  # noqa: F401 (pa.json)

    from nondecoupling.bridge.logs.readers import trl

    path = tmp_path_factory.mktemp("trl") / "trainer_state.json"
    history = [{**history[0], "reward": "x"}, *history[1:], {"reward": 0.5}] if mixed else history
    state = {"epoch": 1.0, "log_history": [{"step": i, **entry} for i, entry in enumerate(history)], "trial_name": None}
    path.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    try:
        whole = trl._document_entries(path, pa)
    except pa.ArrowException:  # pyarrow infers no type for a field of texts and numbers, whole or from the blocks
        with pytest.raises(pa.ArrowException):
            trl._entries_by_block(path, pa, block)
        return
    assert trl._entries_by_block(path, pa, block).equals(whole)


@pytest.mark.parametrize(("own", "expected"), [({"eval_phase": "rl"}, True), ({"eval_k1_floor": 0.1}, True),
                                               ({"eval_phase": None}, False), ({"eval_k1_floor": float("nan")}, False), ({}, False)])
def test_the_callbacks_trainer_state_records_are_told_as_read(tmp_path, own, expected):
    """A record with eval_sft_loss and a logged key of the callback's own (not null, not NaN): the callback's, per sequence.

    Told alike from the table and the records (assert_read_alike compares attrs); a callback key only in a record
    without the SFT loss does not count."""
    history = [{"step": 0, "eval_sft_loss": 2.0, **own}, {"step": 1, "eval_sft_loss": None, "eval_phase": "rl"},
               {"step": 2, "eval_k1_floor": 0.3}]
    path = tmp_path / "trainer_state.json"
    path.write_text(json.dumps({"log_history": history}, indent=2))
    frame = assert_read_alike(path, LogMapping(phase="sft"), "trl")
    assert frame.attrs["callback_records"] is expected


@pytest.mark.parametrize("vectorized", [True, False])
def test_a_run_read_without_sources_is_the_run_less_its_source_column(tmp_path, monkeypatch, vectorized):
    """sources=False (what `check` reads): the same rows, columns and attrs (ignored records named alike), no `source`."""
    if not vectorized:  # the record path: pyarrow's reader turned off
        monkeypatch.setattr("nondecoupling.bridge.logs.readers.text._jsonl_table", lambda path: None)
    path = tmp_path / "log.jsonl"
    path.write_text('{"phase": "sft", "step": 0, "sft_loss": 2.0}\n{"phase": "sft", "step": 1, "note": "hi"}\n'
                    '{"phase": "sft", "step": 2, "sft_loss": 1.5}\n')
    paths, mappings = [path, SFT_STATE], [{}, TRL_MAPPINGS[0]]
    with_sources, without = read_run(paths, mappings), read_run(paths, mappings, sources=False)
    assert "source" in with_sources and "source" not in without
    pd.testing.assert_frame_equal(with_sources.drop(columns="source"), without)
    assert without.attrs == with_sources.attrs and without.attrs["files"][0]["ignored"] == ["log.jsonl:line 2"]


MALFORMED = [
    ("empty.jsonl", "", "line 1: empty file"),
    ("empty.csv", "", "line 1: empty file"),
    ("header_only.csv", "step,phase,reward\n", "line 2: no data rows"),
    ("truncated.jsonl", '{"phase": "rl", "step": 0, "reward": 0.1}\n{"phase": "rl", "step": 1, "rew', "line 2: invalid JSON (truncated line?)"),
    ("not_object.jsonl", '{"phase": "rl", "step": 0, "reward": 0.1}\n[1, 2]\n', "line 2: expected a JSON object"),
    ("no_step.csv", "phase,reward\nrl,0.1\n", "columns: no step column"),
    ("no_quantity.csv", "step,phase,accuracy\n0,rl,0.1\n", "columns: no SFT-loss, reward or pass-rate column"),
    ("text_value.csv", "step,phase,reward\n0,rl,0.1\n1,rl,high\n", "line 3: 'reward' is 'high', not a number"),
    ("inf_value.jsonl", '{"phase": "rl", "step": 0, "sft_loss": "inf"}\n', "line 1: 'sft_loss' is 'inf', not a finite number"),
    ("bool_value.jsonl", '{"phase": "rl", "step": 0, "reward": true}\n', "line 1: 'reward' is True, not a number"),
    ("unordered.csv", "step,phase,reward\n0,rl,0.1\n10,rl,0.2\n5,rl,0.3\n", "line 4: step 5 comes after step 10"),
    ("fractional_step.jsonl", '{"phase": "rl", "step": 1.5, "reward": 0.1}\n', "line 1: step is 1.5; expected an integer"),
    ("bad_phase.jsonl", '{"phase": "dpo", "step": 0, "reward": 0.1}\n', "line 1: phase is 'dpo'"),
    ("missing_phase.jsonl", '{"phase": "rl", "step": 0, "reward": 0.1}\n{"step": 1, "reward": 0.2}\n', "line 2: no phase; expected"),
    ("null_phase.jsonl", '{"phase": "rl", "step": 0, "reward": 0.1}\n{"phase": null, "step": 1, "reward": 0.2}\n', "line 2: no phase;"),
    ("empty_phase.csv", "step,phase,reward\n0,rl,0.1\n1,,0.2\n", "line 3: no phase;"),
    ("no_phase.csv", "step,reward\n0,0.1\n", "columns: no 'phase' column"),
    ("trainer_state.json", '{"log_history": [{"reward": 0.1, "step": 0}, {"reward": 0.2}]}', "log_history[1]: no 'step'"),
    ("bad.json", '{"log_history": [', "line 1: invalid JSON"),
    ("other.json", '{"history": []}', "top level: not a trainer_state.json"),
    ("conflict.json", '{"log_history": [{"reward": 0.1, "step": 0}, {"reward": 0.2, "step": 0}]}',
     "log_history[1]: 'reward' takes the values [0.1, 0.2] at one step (choose a merge rule"),
    ("log.xyz", "step,reward\n", "file name: unknown log format"),
    ("console.log", "starting\nno metrics here\n", "line 1: no 'step:N - key:value' lines"),
    ("console_bad.log", "step:1 - reward\n", "line 1: 'reward' is not key:value"),
    ("verl.jsonl", '{"step": 1, "data": {"critic": {"score": {"mean": 0.1}}}}\n{"step": 2}\n', "line 2: expected verl's"),
]


@pytest.mark.parametrize(("name", "content", "message"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_logs_name_file_record_and_problem(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    mapping = LogMapping(phase="rl", merge="error") if name.endswith((".json", ".log")) else None
    with pytest.raises(LogFormatError) as error:
        read_run(path, mapping)
    assert str(error.value).startswith(f"{path}, ")
    assert message in str(error.value)


def test_mapping_errors_are_explicit(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("step,loss\n0,1.0\n")
    with pytest.raises(LogFormatError, match="mapping names 'nll', which the log does not have"):
        read_run(path, LogMapping(columns={"nll": "sft_loss"}, phase="sft"))
    with pytest.raises(ValueError, match="target must be one of"):
        read_run(path, LogMapping(columns={"loss": "loss_sft"}, phase="sft"))
    with pytest.raises(ValueError, match="switch list"):
        read_run(path, LogMapping(columns={"loss": "sft_loss"}, phase="sft then rl"))
    with pytest.raises(LogFormatError, match="line 2: the SFT loss is per token but no response length"):
        read_run(path, LogMapping(columns={"loss": "sft_loss"}, phase="sft", loss_per_token=True))
    with pytest.raises(LogFormatError, match="precedes the first phase switch"):
        read_run(path, LogMapping(columns={"loss": "sft_loss"}, phase="sft:5,rl:10"))
    with pytest.raises(ValueError, match="2 mappings for 1 files"):
        read_run(path, [LogMapping(), LogMapping()])
    with pytest.raises(FileNotFoundError, match="no such log file"):
        read_run(tmp_path / "missing.jsonl")


def test_tensorboard_directory_without_event_files(tmp_path):
    pytest.importorskip("tensorboard", reason="reading event files needs tensorboard (the logs extra)")
    with pytest.raises(LogFormatError, match="no TensorBoard event files"):
        read_run(tmp_path, LogMapping(phase="rl"))


def test_response_length_column_converts_per_token_losses(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("step,phase,sft_loss,response_length\n0,sft,2.0,10\n1,sft,1.5,12\n")
    run = read_run(path, LogMapping(loss_per_token=True, response_length=99))
    np.testing.assert_allclose(run["sft_loss"], [20.0, 18.0])


def test_committed_fixtures_are_small():
    for path in FIXTURES.iterdir():
        assert path.stat().st_size < 25_000, path


def test_undecodable_bytes_name_the_file_and_line(tmp_path):
    path = tmp_path / "log.csv"
    path.write_bytes(b"step,phase,reward\n0,rl,0.1\n1,rl,\xff\n")
    with pytest.raises(LogFormatError, match=r"log.csv, line 3, byte 32: not UTF-8 text"):
        read_run(path)


@pytest.mark.parametrize("name", ["log.csv", "log.jsonl", "trainer_state.json"])
def test_a_utf8_bom_is_not_part_of_the_first_name(tmp_path, name):
    path = tmp_path / name
    body = {"log.csv": "step,phase,reward\n0,rl,0.1\n",
            "log.jsonl": '{"step": 0, "phase": "rl", "reward": 0.1}\n',
            "trainer_state.json": '{"log_history": [{"step": 0, "reward": 0.1}]}'}[name]
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    run = read_run(path, LogMapping(phase="rl"))
    assert run["step"].tolist() == [0] and run["reward"].tolist() == [0.1]


def test_nan_means_missing_in_every_format(tmp_path):
    """The same log with a NaN reward at step 1, written as CSV, JSONL (NaN and null) and TRL JSON."""
    csv_path, jsonl_path, null_path, trl_path = (tmp_path / n for n in ("a.csv", "b.jsonl", "c.jsonl", "d.json"))
    csv_path.write_text("step,reward,sft_loss\n0,0.1,1.0\n1,nan,1.1\n2,0.3,1.2\n")
    jsonl_path.write_text("".join(json.dumps({"step": s, "reward": r, "sft_loss": v}) + "\n"
                                  for s, r, v in [(0, 0.1, 1.0), (1, float("nan"), 1.1), (2, 0.3, 1.2)]))
    null_path.write_text(jsonl_path.read_text().replace("NaN", "null"))
    trl_path.write_text(json.dumps({"log_history": [{"step": s, "reward": r, "sft_loss": v}
                                                    for s, r, v in [(0, 0.1, 1.0), (1, float("nan"), 1.1), (2, 0.3, 1.2)]]}))
    runs = [read_run(p, LogMapping(phase="rl")) for p in (csv_path, jsonl_path, null_path, trl_path)]
    for run in runs:
        np.testing.assert_array_equal(run["reward"].to_numpy(), [0.1, np.nan, 0.3])
        np.testing.assert_array_equal(run["sft_loss"].to_numpy(), [1.0, 1.1, 1.2])


# ---------------------------------------------------------------- the trainers' own formats, round trip

STEPS = [0, 5, 10, 15, 20]
LOSSES, REWARDS, KLS = [10.0, 10.5, 11.25, 11.5, 11.75], [0.25, 0.5, 0.625, 0.75, 0.875], [0.0, 0.5, 1.0, 1.5, 2.0]


def _assert_round_trip(run, steps=STEPS, losses=LOSSES, rewards=REWARDS):
    assert list(run["step"]) == steps
    np.testing.assert_allclose(run["sft_loss"], losses)  # all exactly representable in float32
    np.testing.assert_allclose(run["reward"], rewards)


def test_verl_file_logger_round_trip(tmp_path):
    """verl's file logger writes json.dumps({"step": step, "data": data}) per call (nested data flattened
    with '/'); validation is logged in its own call at the same step, as verl's ray_trainer does at step 0."""
    path = tmp_path / "verl.jsonl"
    lines = [{"step": STEPS[0], "data": {"val-core": {"gsm8k": {"reward": {"mean@1": REWARDS[0]}}}, "val": {"loss": LOSSES[0]}}}]
    lines += [{"step": s, "data": {"critic": {"score": {"mean": r + 0.01}}, "actor": {"kl_loss": k},
                                   "val-core/gsm8k/reward/mean@1": r, "val/loss": loss}}
              for s, loss, r, k in list(zip(STEPS, LOSSES, REWARDS, KLS))[1:]]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    run = read_run(path, LogMapping(phase="rl", preset="verl"))
    _assert_round_trip(run)
    assert run.attrs["files"][0]["columns"]["reward"] == "val-core/gsm8k/reward/mean@1"
    np.testing.assert_allclose(run["kl"].iloc[1:], KLS[1:])


def test_verl_lines_are_read_whole_as_flat_columns(tmp_path):
    """``readers.text._verl_table``: verl's nested lines as the columns _flatten names, none converted before it is read."""
    from nondecoupling.bridge.logs.readers import text

    path = tmp_path / "verl.jsonl"
    path.write_text("".join(json.dumps({"step": s, "data": {"critic": {"score": {"mean": 0.1 * s}}, "val/loss": 2.0 - 0.1 * s,
                                                            "timing_s": {"gen": 1.5}}}) + "\n" for s in range(1, 6)))
    columns = text._jsonl_table(path)
    assert list(columns) == ["step", "critic/score/mean", "val/loss", "timing_s/gen"] and columns.rows == 5
    assert columns._arrays == {}
    run = read_log(path, LogMapping(phase="rl", preset="verl"))
    np.testing.assert_allclose(run["reward"], [0.1 * s for s in range(1, 6)])
    assert list(run["source"]) == [f"verl.jsonl:line {n}" for n in range(1, 6)]


_VERL_KEYS = {
    "reward": lambda v: {"critic": {"score": {"mean": v}}},
    "reward, flat": lambda v: {"critic/score/mean": v},  # with the nested one: one name twice
    "loss": lambda v: {"val/loss": v},
    "loss, nested": lambda v: {"val": {"loss": v}},
    "group, null": lambda v: {"critic": None},
    "other": lambda v: {"timing_s": {"gen": v}},
    "step inside": lambda v: {"step": v},
}


@given(gaps=st.lists(st.integers(0, 2), min_size=1, max_size=10),
       lines=st.lists(st.tuples(st.sets(st.sampled_from(sorted(_VERL_KEYS)), max_size=4),
                                st.one_of(st.none(), _finite, st.integers(-3, 3))), min_size=10, max_size=10),
       regular=st.booleans())
def test_verl_lines_read_alike_whole_and_line_by_line(tmp_path_factory, gaps, lines, regular):
    """pyarrow's whole-file read (read_log) against json.loads per line (the fallback): the same frame or error.

    ``regular``: rising steps and the same groups on every line (a leaf may be null), as verl writes them, so that
    most of these logs are read whole; the others mostly fall back (a repeated step, a null group, a name twice).
    """
    path = tmp_path_factory.mktemp("verl") / "log.jsonl"
    if regular:
        gaps = [gap + 1 for gap in gaps]
        keys = lines[0][0] - {"group, null", "step inside", "reward, flat", "loss, nested"}
        lines = [(keys, value) for _, value in lines]
    records = []
    for step, (keys, value) in zip(np.cumsum(gaps).tolist(), lines):
        data: dict = {}
        for key in sorted(keys):
            data.update(_VERL_KEYS[key](value))
        records.append({"step": step, "data": {**data, "val/loss": 1.0}} if "loss" not in keys else {"step": step, "data": data})
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    assert_read_alike(path, LogMapping(phase="rl", preset="verl"), "jsonl")


def test_verl_console_round_trip(tmp_path):
    """verl's console logger: concat_dict_to_str (verl/utils/logger/aggregate_logger.py) prints
    f"step:{step}" and f"{k}:{v:.3f}" joined by " - ", numbers only; other output lines interleave."""
    def concat_dict_to_str(data, step):  # the writer's format, as its source defines it
        return " - ".join([f"step:{step}"] + [f"{k}:{v:.3f}" for k, v in data.items() if isinstance(v, (int, float))])

    path = tmp_path / "train.log"
    lines = ["(TaskRunner pid=12) Training from scratch", "INFO: starting"]
    lines += [concat_dict_to_str({"val-core/math/reward/mean@4": r, "val/loss": loss, "timing_s/gen": 3.25}, s)
              for s, loss, r in zip(STEPS, LOSSES, REWARDS)]
    path.write_text("\n".join(lines) + "\n")
    _assert_round_trip(read_run(path, LogMapping(phase="rl", preset="verl")))


def test_openrlhf_tensorboard_round_trip(tmp_path):
    """OpenRLHF's trainers write add_scalar(f"train/{k}", v, global_step) and eval/gpt_loss (SFT trainer)."""
    pytest.importorskip("tensorboard", reason="reading event files needs tensorboard (the logs extra)")
    from tensorboard.summary import Writer

    writer = Writer(str(tmp_path))
    for s, loss, r, k in zip(STEPS, LOSSES, REWARDS, KLS):
        for tag, value in (("train/reward", r), ("train/kl", k), ("train/ptx_loss", loss + 1), ("eval/gpt_loss", loss),
                           ("train/global_step", s)):
            writer.add_scalar(tag, value, step=s)
    writer.close()
    run = read_run(tmp_path, LogMapping(phase="mixed", preset="openrlhf", sft_coef=0.05))
    _assert_round_trip(run)
    np.testing.assert_allclose(run["kl"], KLS)
    assert (run["phase"] == "mixed").all() and run.attrs["sft_coef"] == {0: 0.05}


def test_wandb_export_round_trip_picks_one_run(tmp_path):
    """W&B's panel CSV export: Step, then per run '<run> - <key>' with '__MIN'/'__MAX' band columns."""
    rows = ["Step,grpo-a - eval/reward,grpo-a - eval/reward__MIN,grpo-a - eval/reward__MAX,"
            "grpo-b - eval/reward,grpo-a - eval/sft_loss"]
    rows += [f"{s},{r},{r - 0.1},{r + 0.1},{r / 2},{loss}" for s, loss, r in zip(STEPS, LOSSES, REWARDS)]
    rows.append("25,,,,0.5,")  # a step only run b logged
    path = tmp_path / "wandb_export.csv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(LogFormatError, match="2 runs in one export \\(grpo-a, grpo-b\\); choose one with --run"):
        read_run(path, LogMapping(phase="rl"))
    run = read_run(path, LogMapping(phase="rl", run="grpo-a"))
    _assert_round_trip(run)
    assert run.attrs["files"][0]["wandb_run"] == "grpo-a"
    np.testing.assert_allclose(read_run(path, LogMapping(phase="rl", run="grpo-b"))["reward"], [r / 2 for r in REWARDS] + [0.5])


def test_mlflow_file_store_round_trip(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # mlflow 3 keeps the file store only on request
    mlflow.set_tracking_uri(f"file:{tmp_path / 'mlruns'}")
    mlflow.set_experiment("post-training")
    with mlflow.start_run(run_name="grpo"):
        for s, loss, r in zip(STEPS, LOSSES, REWARDS):
            mlflow.log_metrics({"eval/reward": r, "eval/sft_loss": loss}, step=s)
    experiment = next(p for p in (tmp_path / "mlruns").iterdir() if p.is_dir() and any(p.glob("*/metrics")))
    _assert_round_trip(read_run(experiment, LogMapping(phase="rl")))  # one run: no --run needed
    from nondecoupling.bridge.logs.readers.mlflow import read_mlflow

    assert read_mlflow(experiment).table is not None  # mlflow's own lines: parsed whole by pyarrow, placed by step
    _assert_round_trip(read_run(experiment, LogMapping(phase="rl", run="grpo")))
    with pytest.raises(LogFormatError, match="no run 'dpo'"):
        read_run(experiment, LogMapping(phase="rl", run="dpo"))


@pytest.mark.parametrize(("rule", "expected"), [("eval", 0.3), ("train", 0.1), ("first", 0.1), ("last", 0.3), ("mean", 0.2)])
def test_merge_rules_for_a_used_key_logged_on_train_and_eval_records(tmp_path, rule, expected):
    history = [{"loss": 2.0, "pass_rate": 0.1, "step": 2}, {"eval_loss": 1.0, "pass_rate": 0.3, "note": 1, "step": 2},
               {"note": 2, "step": 2}]
    path = tmp_path / "trainer_state.json"
    path.write_text(json.dumps({"log_history": history}))
    run = read_run(path, LogMapping(phase="sft", merge=rule))
    assert run["pass_rate"].tolist() == [pytest.approx(expected)] and run["sft_loss"].tolist() == [1.0]
    conflicts = run.attrs["files"][0]["conflicts"]
    assert conflicts == {"used": {"pass_rate": 1}, "unused": {"note": 1}}
    assert run.attrs["files"][0]["merge_rule"].startswith(rule)
