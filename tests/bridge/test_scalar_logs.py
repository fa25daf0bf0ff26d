"""Logs of one value per record (TensorBoard events, MLflow metric lines): placed by step whole, alike the record path.

``readers.scalars.by_step`` places every value in its step's row with numpy; the record path merges
one dict per value (``run.merge_records``). Random logs, regular (as the writers leave them) and
irregular (a tag twice at one step, a negative step, a tag named ``step``, texts mlflow never
writes), must give the same frame, ``attrs`` and sources, or the same error, both ways.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nondecoupling.bridge.logs.readers.mlflow import read_mlflow
from nondecoupling.bridge.logs.readers.scalars import StepColumns
from nondecoupling.bridge.logs.run import LogMapping, read_log
from tests.bridge.read_both import assert_read_alike
from tests.bridge.synthetic import write_events

_NO_TENSORBOARD = pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None,
                                     reason="reading event files needs tensorboard (the logs extra)")
TAGS = ("eval/sft_loss", "train/reward", "train/kl", "other", "step")
#: Mostly plausible losses and rewards (an SFT loss near 0 or below is refused as implausible), with NaN (missing) and
#: infinities (an error) one draw in five.
_value = st.one_of(st.floats(1.0, 1e3, width=32), st.floats(1.0, 1e3, width=32), st.floats(1.0, 1e3, width=32),
                   st.floats(1.0, 1e3, width=32), st.sampled_from([float("nan"), float("inf"), float("-inf")]))


def _regular_events(draw, tags: list) -> list:
    """As a writer leaves them: rising steps, each tag at most once a step, one value an event."""
    steps = np.cumsum(draw(st.lists(st.integers(1, 3), min_size=1, max_size=8))).tolist()
    return [(step, [(tag, draw(_value))]) for step in steps for tag in tags if draw(st.booleans()) or tag == tags[0]]


@st.composite
def event_files(draw) -> tuple[list, bool]:
    """One or two event files' events, and whether they are regular (no tag twice at one step, no ``step`` tag).

    Regular files log tags of their own, as a trainer's train and eval writers do.
    """
    regular, count = draw(st.booleans()), draw(st.integers(1, 2))
    tags = draw(st.permutations(TAGS[:4]))
    files = []
    for index in range(count):
        if regular:
            files.append(_regular_events(draw, tags[index * 2:index * 2 + draw(st.integers(1, 2))]))
        else:
            files.append(draw(st.lists(st.tuples(st.integers(-1, 5), st.lists(st.tuples(st.sampled_from(TAGS), _value),
                                                                               max_size=3)), min_size=1, max_size=8)))
    return files, regular


@_NO_TENSORBOARD
@given(logged=event_files(), merge=st.sampled_from(["eval", "error"]))
def test_event_files_read_alike_by_step_and_by_records(tmp_path_factory, logged, merge):
    """A directory of event files (or one file): by_step against merge_records. Regular logs are always placed by step."""
    from nondecoupling.bridge.logs.readers.tensorboard import read_tensorboard

    files, regular = logged
    folder = tmp_path_factory.mktemp("tb")
    for index, events in enumerate(files):
        write_events(folder / f"run{index}" / f"events.out.tfevents.{index}", events)
    path = folder if len(files) > 1 else folder / "run0" / "events.out.tfevents.0"
    assert_read_alike(path, LogMapping(phase="rl", merge=merge), "tensorboard")
    if regular:
        assert isinstance(read_tensorboard(path).table, StepColumns)


@_NO_TENSORBOARD
def test_the_rows_of_event_files_are_their_steps_labelled_by_their_first_event(tmp_path):
    """Two files, the evaluations every 2 steps: one row per step, NaN where a tag is missing, sources as merge_records'."""
    write_events(tmp_path / "eval" / "events.out.tfevents.1", [(s, [("eval/sft_loss", 10.0 + s)]) for s in (0, 2, 4)])
    write_events(tmp_path / "train" / "events.out.tfevents.2", [(s, [("train/reward", 0.25 * s), ("train/kl", 0.5)])
                                                                 for s in range(5)])
    run = read_log(tmp_path, LogMapping(phase="rl"))
    assert run["step"].tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(run["sft_loss"], [10.0, np.nan, 12.0, np.nan, 14.0])
    np.testing.assert_array_equal(run["reward"], [0.25 * s for s in range(5)])
    assert run["source"].tolist()[:2] == [f"{tmp_path.name}:eval/events.out.tfevents.1 event 1 (+2 more)",
                                          f"{tmp_path.name}:train/events.out.tfevents.2 event 2 (+1 more)"]
    assert run.attrs["conflicts"] == {"used": {}, "unused": {}}


_STEP_TEXT = st.one_of(st.integers(0, 6).map(str), st.sampled_from(["5.0", "+3", "-1", "x"]))
_VALUE_TEXT = st.one_of(st.floats(1.0, 1e6).map(repr), st.sampled_from(["nan", "NaN", "-nan", "inf", "Infinity", "NA", "1_000",
                                                                          '"0.5"', "", "1e400"]))


#: After the step: a dataset's name and digest (``log_metric(..., dataset=...)``), two versions of one, or a stray field.
_DATASET = st.sampled_from(["", "", " cola a9e1afcf", " sst2 46a9d449", " cola 0badc0de", " extra"])


@st.composite
def metric_files(draw) -> tuple[dict, bool]:
    """``{key: text}`` of an MLflow run's metric files, and whether each is as mlflow writes it ("%s %s %s" lines)."""
    regular = draw(st.booleans())
    keys = draw(st.lists(st.sampled_from(["eval/reward", "eval/sft_loss", "train/kl", "other"]), min_size=1, max_size=3,
                         unique=True))
    files = {}
    for key in keys:
        if regular:
            steps = np.cumsum(draw(st.lists(st.integers(1, 3), max_size=6))).tolist()
            lines = [f"{1700000000000 + step} {draw(st.floats(1.0, 1e3) | st.just(float('nan')))!r} {step}" for step in steps]
            files[key] = "".join(line + "\n" for line in lines)
        else:
            lines = draw(st.lists(st.tuples(_VALUE_TEXT, _STEP_TEXT, st.sampled_from([" ", "  ", "\t"]), _DATASET), max_size=6))
            ending = draw(st.sampled_from(["\n", "\r\n", "\n\n"]))
            files[key] = "".join(f"17{gap}{value}{gap}{step}{dataset}{ending}" for value, step, gap, dataset in lines)
    return files, regular


@given(logged=metric_files())
def test_mlflow_metric_files_read_alike_whole_and_line_by_line(tmp_path_factory, logged):
    """pyarrow's CSV reader and by_step against the line reader and merge_records. Regular runs are always read whole."""
    files, regular = logged
    run = tmp_path_factory.mktemp("mlruns") / "0" / "a1b2"
    for key, text in files.items():
        (run / "metrics" / key).parent.mkdir(parents=True, exist_ok=True)
        (run / "metrics" / key).write_bytes(text.encode())
    assert_read_alike(run, LogMapping(phase="rl"), "mlflow")
    if regular and any(files.values()):
        assert isinstance(read_mlflow(run).table, StepColumns)


def test_mlflow_metrics_logged_on_datasets_are_one_series_each(tmp_path, monkeypatch):
    """mlflow.log_metric(..., dataset=...) writes the dataset's name and digest after the step. A key logged on one
    dataset keeps its name; one logged on two is two series, ``key[name]``, never merged into one."""
    mlflow = pytest.importorskip("mlflow")
    data = pytest.importorskip("mlflow.data")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri(f"file:{tmp_path / 'mlruns'}")
    mlflow.set_experiment("post-training")
    heldout = data.from_numpy(np.arange(10.0).reshape(5, 2), name="cola-heldout")
    other = data.from_numpy(np.arange(12.0).reshape(6, 2), name="sst2")
    with mlflow.start_run() as active:
        for step in range(3):
            mlflow.log_metric("eval/sft_loss", 10.0 + step, step=step, dataset=heldout)
            mlflow.log_metric("eval/reward", 0.25 * step, step=step, dataset=heldout)
            mlflow.log_metric("eval/reward", 0.5 * step, step=step, dataset=other)
    run_dir = tmp_path / "mlruns" / active.info.experiment_id / active.info.run_id
    assert len((run_dir / "metrics" / "eval" / "reward").read_text().split("\n")[0].split()) == 5  # the writer's own line
    mapping = LogMapping(phase="rl", columns={"eval/reward[cola-heldout]": "reward"})
    run = read_log(run_dir, mapping)
    assert run["step"].tolist() == [0, 1, 2] and run["sft_loss"].tolist() == [10.0, 11.0, 12.0]
    assert run["reward"].tolist() == [0.0, 0.25, 0.5]
    assert run.attrs["conflicts"] == {"used": {}, "unused": {}}
    assert set(read_mlflow(run_dir, vectorized=False).names()) == {"step", "eval/sft_loss", "eval/reward[cola-heldout]",
                                                                   "eval/reward[sst2]"}
