"""The committed real TRL run with issue 21's fast drop: A1 holds at both stages, from both of its logs.

``docs/fast_drop_example/`` holds a real SFT -> GRPO -> SFT run of TRL's trainers on a tiny
Qwen3 (``docs/fast_drop_example/run.py``): each stage's ``trainer_state.json`` as TRL wrote it,
and ``log.jsonl`` of the ``CouplingCallback`` that watched the three trainers. In its SFT
stage after RL the exact pass rate falls by many noise s.d. within the first steps and stays
flat after, the curve on which the previous trend test said "inconclusive". These tests read
the committed files (no training): the README's TRL command (``--phase sft rl sft --preset
trl`` on the three ``trainer_state.json``) and ``check log.jsonl`` must both say A1 holds at
both stages, and agree on every verdict.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nondecoupling.bridge.__main__ import main

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "fast_drop_example"
STAGES = ("0-sft", "1-rl", "2-sft")  # run.py's folders, one trainer_state.json each
A1_ROWS = (("A1", 1, "SFT loss rises during RL"), ("A1", 2, "pass rate falls during SFT after RL"))


def _check(args: list[str], out: Path) -> dict:
    """``nondecoupling check ARGS --out OUT`` (in process); {(id, stage, name): check} of report.json."""
    assert main(["check", *args, "--bootstrap", "20", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    return {(c["id"], c["stage"], c["name"]): c for c in report["checks"]}


def readme_and_log_reports(folder: Path, out: Path) -> tuple[dict, dict]:
    """The README's TRL command on ``folder``'s trainer_state.json files, and check on its log.jsonl."""
    meta = json.loads((folder / "run_meta.json").read_text())
    readme = [*(str(folder / stage / "trainer_state.json") for stage in STAGES), "--phase", "sft", "rl", "sft",
              "--preset", "trl", "--expert-pass-rate", str(meta["expert_pass_rate"]),
              "--expert-entropy", str(meta["expert_entropy"])]
    return _check(readme, out / "trl"), _check([str(folder / "log.jsonl")], out / "log")


def assert_a1_holds_and_sources_agree(from_states: dict, from_log: dict) -> None:
    """A1 holds at both stages from both sources; every verdict, and A1's statistics, the same from both."""
    for source in (from_states, from_log):
        assert [source[row]["verdict"] for row in A1_ROWS] == ["holds", "holds"]
    assert {key: c["verdict"] for key, c in from_states.items()} == {key: c["verdict"] for key, c in from_log.items()}
    for row in A1_ROWS:
        for name in ("change", "p_up", "p_down"):
            assert from_states[row]["observed"][name] == pytest.approx(from_log[row]["observed"][name])


def _stage_pass_rates(stage: int) -> np.ndarray:
    records = [json.loads(line) for line in (EXAMPLE / "log.jsonl").read_text().splitlines() if line.strip()]
    return np.array([r["pass_rate"] for r in records if r["stage"] == stage])


def test_the_committed_run_has_the_issues_fast_drop():
    """SFT after RL: the pass rate falls by far more than 4 noise s.d. and has settled by the first quarter."""
    rates = _stage_pass_rates(2)
    tail = rates[len(rates) // 2 :]
    settled, noise = np.median(tail), np.std(tail, ddof=1)  # the tail's whole spread, slow wander included
    drop = rates[0] - settled
    assert drop > 8 * noise
    after_first_quarter = rates[len(rates) // 4 :]
    assert np.all(np.abs(after_first_quarter - settled) < 0.25 * drop)


def test_readme_trl_command_and_callback_log_both_say_a1_holds_at_both_stages(tmp_path):
    assert_a1_holds_and_sources_agree(*readme_and_log_reports(EXAMPLE, tmp_path))



@pytest.fixture(scope="module")
def half_size_reports(tmp_path_factory) -> tuple[dict, dict]:
    """``run.py --scale 0.5`` (committed in half_size/): the pass rate falls 0.79 -> 0.07 within 2 steps of SFT
    after RL, recovers to ~0.5 by step 9 and stays; RL was still rising when it ended."""
    return readme_and_log_reports(EXAMPLE / "half_size", tmp_path_factory.mktemp("half"))


def test_the_half_size_run_gives_the_same_verdicts_from_both_sources(half_size_reports):
    from_states, from_log = half_size_reports
    assert {key: c["verdict"] for key, c in from_states.items()} == {key: c["verdict"] for key, c in from_log.items()}


@pytest.mark.xfail(strict=True, reason="power limit of the monotone statistic (docs/fast_drop_example/README.md): the "
                                       "drop undershoots the settled level and recovers, and RL was still rising at its end")
def test_the_half_size_run_a1_holds_in_sft_after_rl(half_size_reports):
    """Today inconclusive (p(fall) = 0.23): the undershoot's two points, counted as noise by the isotonic
    fit, hide the drop (with them at 0.45 instead: p(fall) = 0.0007). XPASS means the trend test now sees
    such a drop: make this an ordinary test."""
    for source in half_size_reports:
        assert source[A1_ROWS[1]]["verdict"] == "holds"
