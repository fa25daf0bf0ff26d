"""Every bridge report kept in the repository is what today's check makes of its log.

A report records the command that made it (``report.json``'s ``settings["command"]``). Each one is
re-made here with that command into a temporary folder, and must give the same verdict on every
premise and check, and the same fitted t* (P3) and tau (P4) that the documents' tables cite
(:func:`simulations.qwen3.experiments.premise_row`). When a change to the check moves a verdict,
this fails until the reports are re-made (``python -m simulations.qwen3.reproduce --report``) and
the documents that quote them are read again: on 2026-12-07, 32 of 72 had drifted unseen (a
premise gate and A1's AR(1) null had been added since they were made). docs/experiments.md's
per-run verdict counts (the β and model-size tables) are compared with the reports here too.

No torch: the check reads logs only. p-values and bootstrap intervals are not compared: a
bootstrap draw that ties its observed statistic may round either way on another machine's libm.
"""

from __future__ import annotations

import json
import re
import shlex
from collections import Counter
from pathlib import Path

import pytest

from nondecoupling.validation import ParameterError
from simulations.qwen3.reproduce import REPO, remake_report, report_folders, verdict_rows
from simulations.qwen3.reproduce import main as reproduce_main

FOLDERS = report_folders()
#: (check, side, key) of the fitted values the premise tables cite, compared to this relative tolerance.
CITED = (("P3", "predicted", "optimal_rl_steps"), ("P3", "observed", "argmax_steps_into_stage"), ("P4", "predicted", "threshold_tau"))
RELATIVE = 1e-6
EXPERIMENTS = REPO / "docs" / "experiments.md"


def _report(folder: Path) -> dict:
    return json.loads((folder / "report.json").read_text())


def _cited(report: dict) -> list:
    return [(c["id"], c["stage"], side, key, c[side].get(key)) for c in report["checks"] for check, side, key in CITED
            if c["id"] == check]


def test_the_reports_are_found():
    assert len(FOLDERS) >= 75  # 72 runs' reports and 3 of the documentation's examples
    assert {REPO / "docs" / "bridge_example", REPO / "docs" / "fast_drop_example" / "report"} <= set(FOLDERS)


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda folder: str(folder.relative_to(REPO)))
def test_a_kept_report_is_what_its_recorded_command_makes_today(folder, tmp_path):
    kept = _report(folder)
    command = shlex.split(kept["settings"]["command"])
    assert command[:4] == ["python", "-m", "nondecoupling.bridge", "check"]
    assert Path(command[command.index("--out") + 1]) == folder.relative_to(REPO)  # run from the repository's root
    remade = remake_report(folder, tmp_path / "report")
    assert verdict_rows(remade) == verdict_rows(kept)
    for (*where, value), (*_, kept_value) in zip(_cited(remade), _cited(kept), strict=True):
        if isinstance(kept_value, float):
            assert value == pytest.approx(kept_value, rel=RELATIVE), where
        else:  # None where a check did not fit, "inf" (report.json's infinity), an integer step
            assert value == kept_value, where


def test_a_report_without_a_command_or_moved_away_is_refused(tmp_path):
    folder = REPO / "docs" / "bridge_example"
    report = _report(folder)
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "report.json").write_text(json.dumps(report))
    with pytest.raises(ParameterError, match="report_dir"):  # in place, its command would re-make the original
        remake_report(copy)
    report["settings"].pop("command")
    (copy / "report.json").write_text(json.dumps(report))
    with pytest.raises(ParameterError, match="command"):
        remake_report(copy, tmp_path / "out")


def test_the_command_line_remakes_a_report_in_place_and_says_when_verdicts_change(tmp_path, monkeypatch, capsys):
    """``--report FOLDER``: the folder re-made with its command; a changed verdict is named."""
    import shutil

    monkeypatch.setattr("simulations.qwen3.reproduce.REPO", tmp_path)  # a copy of the example, re-made where it lies
    example = tmp_path / "docs" / "bridge_example"
    shutil.copytree(REPO / "docs" / "bridge_example", example)
    report = _report(example)
    report["checks"][0]["verdict"] = "violated"  # as if an older check had said so
    (example / "report.json").write_text(json.dumps(report))
    assert reproduce_main(["--report", str(example)]) == 0
    assert _report(example)["checks"][0]["verdict"] == _report(REPO / "docs" / "bridge_example")["checks"][0]["verdict"]
    assert f"{example}: verdicts changed" in capsys.readouterr().out


# ------------------------------------------------ docs/experiments.md's verdict counts


def _table(header_start: str) -> list[dict]:
    """The markdown table of docs/experiments.md whose header row starts with ``header_start``, as dicts."""
    lines = EXPERIMENTS.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            return rows
        rows.append(dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")), strict=True)))
    return rows


def _counts(run: Path) -> str:
    """hold / inconclusive / violated / premise not met, as the tables write them."""
    counts = Counter(c["verdict"] for c in _report(run / "report")["checks"])
    return " / ".join(str(counts[v]) for v in ("holds", "inconclusive", "violated", "premise not met"))


def _joined(run: Path, check: str) -> str:
    """A check's verdicts over stages: the one verdict when every stage agrees."""
    verdicts = {c["verdict"] for c in _report(run / "report")["checks"] if c["id"] == check}
    return verdicts.pop() if len(verdicts) == 1 else ",".join(sorted(verdicts))


def test_the_beta_tables_verdicts_are_the_reports():
    rows = _table("| β | seed | C1(β), SFT exact")
    assert len(rows) == 6
    for row in rows:
        run = REPO / "simulations" / "data" / "cola" / "beta" / f"beta{row['β']}-seed{row['seed']}"
        cell = next(value for key, value in row.items() if key.startswith("bridge"))
        assert cell == f"{_joined(run, 'A1')}, {_joined(run, 'K1')}; {_counts(run)}", run


def test_the_size_tables_verdicts_are_the_reports():
    """Rows name a model by its parameter count (``run_meta.json``'s ``num_parameters``) and a seed."""
    runs = {}
    for plan in ("size", "protocol"):  # the protocol's sft-rl runs are the size plan's 0.1 M model
        for meta in (REPO / "simulations" / "data" / "cola" / plan).glob("*/run_meta.json"):
            recorded = json.loads(meta.read_text())
            if recorded["pipeline"] == "sft-rl":
                runs[(f"{recorded['num_parameters'] / 1e6:.3f} M", str(recorded["seed"]))] = meta.parent
    rows = _table("| parameters | seed | SFT loss at RL start")
    assert len(rows) == 15
    for row in rows:
        run = runs[(row["parameters"], row["seed"])]
        cell = next(value for key, value in row.items() if key.startswith("bridge"))
        assert re.fullmatch(r"\d+ / \d+ / \d+ / \d+", cell)
        assert cell == _counts(run), run
