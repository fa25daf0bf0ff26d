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
STATES = [EXAMPLE / stage / "trainer_state.json" for stage in ("0-sft", "1-rl", "2-sft")]


def _check(args: list[str], out: Path) -> dict:
    """``nondecoupling check ARGS --out OUT`` (in process); {(id, stage, name): check} of report.json."""
    assert main(["check", *args, "--bootstrap", "20", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    return {(c["id"], c["stage"], c["name"]): c for c in report["checks"]}


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> tuple[dict, dict]:
    """The README's TRL command on the trainer_state.json files, and check on the callback's log.jsonl."""
    meta = json.loads((EXAMPLE / "run_meta.json").read_text())
    readme = [*map(str, STATES), "--phase", "sft", "rl", "sft", "--preset", "trl",
              "--expert-pass-rate", str(meta["expert_pass_rate"]), "--expert-entropy", str(meta["expert_entropy"])]
    return _check(readme, tmp_path_factory.mktemp("trl")), _check([str(EXAMPLE / "log.jsonl")], tmp_path_factory.mktemp("log"))


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


def test_a1_holds_at_both_stages_from_both_sources(reports):
    for source in reports:
        assert source[("A1", 1, "SFT loss rises during RL")]["verdict"] == "holds"
        assert source[("A1", 2, "pass rate falls during SFT after RL")]["verdict"] == "holds"


def test_the_readme_trl_command_gives_the_verdicts_of_the_callbacks_log(reports):
    from_states, from_log = reports
    assert {key: c["verdict"] for key, c in from_states.items()} == {key: c["verdict"] for key, c in from_log.items()}
    for stage in (1, 2):
        a1_states, a1_log = ([c for key, c in source.items() if key[:2] == ("A1", stage)][0] for source in reports)
        for name in ("change", "p_up", "p_down"):
            assert a1_states["observed"][name] == pytest.approx(a1_log["observed"][name])
