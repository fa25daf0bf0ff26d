"""Summarise the committed Qwen3 runs: effect sizes per stage and K1 point by point.

``python -m simulations.qwen3.summary simulations/data/qwen3`` reads every finished
``<run>/log.jsonl`` + ``run_meta.json`` below the directory (through
:func:`nondecoupling.bridge.read_run`) and writes ``summary.json`` and ``summary.md`` there (or
into ``--out``). The figure of these runs is ``figures/real_qwen3.png``, drawn by
``python simulations/sweep.py --only real`` from :func:`load_runs` and :func:`k1_terms`.

Per run it reports, for each stage, the change of the held-out SFT loss, of the sampled
reward and of the exact pass rate from the stage's first to its last evaluation; and K1
at every logged point with the *exact* quantities: the slack
``sft_loss - H(p*) - kl(a || b)`` with b the exact pass rate (no sampling error on
either side, so a negative slack would be a real violation, not noise).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pandas as pd

from nondecoupling.bridge import LogFormatError, read_run, read_run_meta
from nondecoupling.bridge.logs.stats import k1_terms as k1_terms_of_run

PIPELINE_ORDER = ("sft-rl", "rl-sft", "alternating")
#: What K1 needs from ``run_meta.json``: a = E_{p*} r and H(p*) (nats, sequence level).
EXPERT_KEYS = ("expert_pass_rate", "expert_entropy")


def _pipeline_rank(pipeline: str) -> tuple:
    """Known pipelines in :data:`PIPELINE_ORDER`, any other after them by name."""
    return (PIPELINE_ORDER.index(pipeline), "") if pipeline in PIPELINE_ORDER else (len(PIPELINE_ORDER), pipeline)


def load_runs(root) -> list[tuple[dict, pd.DataFrame]]:
    """``(run_meta, canonical run)`` for every finished run below ``root``, by pipeline and seed.

    Parameters
    ----------
    root : str or Path
        Folder of ``<run>/log.jsonl`` + ``<run>/run_meta.json``.

    Returns
    -------
    list of (dict, pandas.DataFrame)
        The sidecar, with ``run`` (the folder name) added and ``pipeline`` taken from the
        folder name (``sft-rl-seed0`` -> ``sft-rl``) where the sidecar has none; and the
        run as :func:`nondecoupling.bridge.read_run` reads it (its ``pass_rate`` column is the
        exact pass rate where the runner logged it).

    Raises
    ------
    LogFormatError
        A ``run_meta.json`` without the expert constants K1 needs (:data:`EXPERT_KEYS`).

    Notes
    -----
    A run writes ``run_meta.json`` last, so a log without one is unfinished and skipped.
    """
    runs = []
    for log in sorted(Path(root).glob("*/log.jsonl")):
        sidecar = log.parent / "run_meta.json"
        if not sidecar.is_file():
            continue
        meta = read_run_meta(log)
        missing = [key for key in EXPERT_KEYS if key not in meta]
        if missing:
            raise LogFormatError(sidecar, "top level", f"no {', '.join(map(repr, missing))} (K1 needs the expert's exact constants)")
        meta["run"] = log.parent.name
        meta.setdefault("pipeline", re.sub(r"[-_]seed\d+$", "", log.parent.name))
        runs.append((meta, read_run(log)))
    return sorted(runs, key=lambda pair: (_pipeline_rank(pair[0]["pipeline"]), pair[0].get("seed", 0), pair[0]["run"]))


def k1_terms(meta: dict, run: pd.DataFrame) -> pd.DataFrame:
    """K1's terms at every logged point: b, ``kl(a || b)``, the SFT excess and the slack.

    Parameters
    ----------
    meta : dict
        The run's sidecar, with ``expert_pass_rate`` a and ``expert_entropy`` H(p*).
    run : pandas.DataFrame
        A canonical run (:func:`nondecoupling.bridge.read_run`).

    Returns
    -------
    pandas.DataFrame
        Indexed like ``run``: ``k1_pass_rate`` (b), ``k1_pass_rate_exact`` (whether b is
        the exact pass rate), ``kl_a_b``, ``sft_excess`` (``L - H(p*)``) and
        ``k1_slack`` (``L - H(p*) - kl(a || b)``, >= 0 by K1); NaN where the SFT loss or b
        is missing, or b is a reward outside [0, 1] (not a pass rate).

    Notes
    -----
    b is the exact pass rate where the log has it and the sampled reward elsewhere. With
    the exact b and the exact H(p*) no sampling error enters either side of K1, so a
    negative slack is a real violation, not noise.
    """
    return k1_terms_of_run(run, expert_pass_rate=meta["expert_pass_rate"], expert_entropy=meta["expert_entropy"])


def stage_effects(run: pd.DataFrame) -> list[dict]:
    """First-to-last change of SFT loss, reward and exact pass rate in every stage."""
    effects = []
    for stage, frame in run.groupby("stage", sort=True):
        first, last = frame.iloc[0], frame.iloc[-1]
        effects.append({
            "stage": int(stage),
            "phase": first["phase"],
            "steps": [int(first["step"]), int(last["step"])],
            **{
                f"{name}_{end}": float(row[name])
                for name in ("sft_loss", "reward", "pass_rate")
                for end, row in (("start", first), ("end", last))
            },
        })
    return effects


def summarise(runs: list[tuple[dict, pd.DataFrame]]) -> dict:
    """Per run: wall time, stage effects, K1 slack (points with a slack, how many below 0, the least)."""
    per_run = []
    for meta, run in runs:
        slack = k1_terms(meta, run)["k1_slack"].dropna()
        per_run.append({
            "run": meta["run"],
            "pipeline": meta["pipeline"],
            "seed": meta["seed"],
            "wall_time_s": meta["wall_time_s"],
            "stages": stage_effects(run),
            "k1": {"points": int(slack.size), "violations": int((slack < 0).sum()), "min_slack": float(slack.min())},
        })
    return {
        "expert_pass_rate": runs[0][0]["expert_pass_rate"],
        "expert_entropy": runs[0][0]["expert_entropy"],
        "hardware": runs[0][0]["hardware"],
        "runs": per_run,
    }


def markdown(summary: dict) -> str:
    """The summary as a Markdown table, one row per stage of each run."""
    lines = [
        f"Expert pass rate a = {summary['expert_pass_rate']}, H(p*) = {summary['expert_entropy']:.4f} nats. "
        f"Hardware: {summary['hardware']}.",
        "",
        "| run | wall s | stage | phase | steps | SFT loss start -> end | reward start -> end | "
        "pass rate start -> end | K1 min slack (all points) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in summary["runs"]:
        k1 = run["k1"]
        k1_text = f"{k1['min_slack']:.3f} ({k1['violations']}/{k1['points']} below 0)"
        for index, stage in enumerate(run["stages"]):
            lines.append(
                f"| {run['run'] if index == 0 else ''} | {run['wall_time_s'] if index == 0 else ''} | {stage['stage']} "
                f"| {stage['phase']} | {stage['steps'][0]}-{stage['steps'][1]} "
                f"| {stage['sft_loss_start']:.3f} -> {stage['sft_loss_end']:.3f} "
                f"| {stage['reward_start']:.3f} -> {stage['reward_end']:.3f} "
                f"| {stage['pass_rate_start']:.3f} -> {stage['pass_rate_end']:.3f} "
                f"| {k1_text if index == 0 else ''} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulations.qwen3.summary", description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="directory holding <run>/log.jsonl + run_meta.json")
    parser.add_argument("--out", type=Path, help="output directory (default: root)")
    args = parser.parse_args(argv)
    out = args.out or args.root
    out.mkdir(parents=True, exist_ok=True)
    runs = load_runs(args.root)
    if not runs:
        raise SystemExit(f"{args.root}: no <run>/log.jsonl below it")
    summary = summarise(runs)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "summary.md").write_text(markdown(summary))
    print(markdown(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
