"""Summarise the committed Qwen3 runs: effect sizes, K1 point by point, one figure.

``python -m theory.bridge.qwen3.summary simulations/data/qwen3`` reads every
``<run>/log.jsonl`` + ``run_meta.json`` below the directory and writes ``summary.json``,
``summary.md`` and ``qwen3_runs.png`` there (or into ``--out``).

Per run it reports, for each stage, the change of the held-out SFT loss, of the sampled
reward and of the exact pass rate from the stage's first to its last evaluation; and K1
at every logged point with the *exact* quantities: the slack
``sft_loss - H(p*) - kl(a || b)`` with b the exact pass rate (no sampling error on
either side, so a negative slack would be a real violation, not noise).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from theory import kl_bernoulli  # noqa: E402

PIPELINE_ORDER = ("sft-rl", "rl-sft", "alternating")


def load_runs(root: Path) -> list[tuple[dict, pd.DataFrame]]:
    """``(run_meta, log)`` for every finished run below ``root``, sorted by pipeline and seed.

    A run writes ``run_meta.json`` last, so a log without one is unfinished and skipped.
    """
    runs = []
    for log in sorted(root.glob("*/log.jsonl")):
        if not (log.parent / "run_meta.json").is_file():
            continue
        meta = json.loads((log.parent / "run_meta.json").read_text())
        meta["run"] = log.parent.name
        runs.append((meta, pd.read_json(log, lines=True)))
    return sorted(runs, key=lambda pair: (PIPELINE_ORDER.index(pair[0]["pipeline"]), pair[0]["seed"]))


def k1_slack(meta: dict, log: pd.DataFrame) -> np.ndarray:
    """``sft_loss - H(p*) - kl(a || b)`` at every point, b the exact pass rate (K1: >= 0)."""
    bound = meta["expert_entropy"] + np.asarray(kl_bernoulli(meta["expert_pass_rate"], log["pass_rate"].to_numpy()))
    return log["sft_loss"].to_numpy() - bound


def stage_effects(log: pd.DataFrame) -> list[dict]:
    """First-to-last change of SFT loss, reward and exact pass rate in every stage."""
    effects = []
    for stage, frame in log.groupby("stage", sort=True):
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
    """Per run: wall time, stage effects, K1 slack; per pipeline: the effects' mean and range."""
    per_run = []
    for meta, log in runs:
        slack = k1_slack(meta, log)
        per_run.append({
            "run": meta["run"],
            "pipeline": meta["pipeline"],
            "seed": meta["seed"],
            "wall_time_s": meta["wall_time_s"],
            "stages": stage_effects(log),
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


def figure(runs: list[tuple[dict, pd.DataFrame]], path: Path) -> None:
    """SFT loss (with K1's bound H + kl(a||b)) and reward against step, one column per pipeline."""
    pipelines = [p for p in PIPELINE_ORDER if any(meta["pipeline"] == p for meta, _ in runs)]
    fig, axes = plt.subplots(2, len(pipelines), figsize=(4.6 * len(pipelines), 6.4), sharex="col", squeeze=False)
    for column, pipeline in enumerate(pipelines):
        top, bottom = axes[0, column], axes[1, column]
        for index, (meta, log) in enumerate(r for r in runs if r[0]["pipeline"] == pipeline):
            colour = f"C{index}"
            bound = meta["expert_entropy"] + np.asarray(kl_bernoulli(meta["expert_pass_rate"], log["pass_rate"].to_numpy()))
            label = f"seed {meta['seed']}"
            top.plot(log["step"], log["sft_loss"], color=colour, lw=1.8, label=f"{label}: CE(p*, pi)")
            top.plot(log["step"], bound, color=colour, lw=1.2, ls="--", label=f"{label}: H + kl(a||b) (K1)")
            bottom.plot(log["step"], log["reward"], color=colour, lw=1.8, label=f"{label}: sampled reward")
            bottom.plot(log["step"], log["pass_rate"], color=colour, lw=1.0, ls=":")
        meta = runs[0][0]
        top.axhline(meta["expert_entropy"], color="0.4", lw=1.0, ls=":", label="H(p*)")
        bottom.axhline(meta["expert_pass_rate"], color="0.4", lw=1.0, ls=":", label="expert pass rate a")
        _shade_rl(top, bottom, runs, pipeline)
        top.set_title(pipeline)
        top.set_ylabel("held-out SFT loss (nats / sequence)")
        bottom.set_ylabel("reward (dotted: exact pass rate)")
        bottom.set_xlabel("optimizer step")
        bottom.set_ylim(0, 1)
    axes[0, 0].legend(fontsize=6.5, loc="upper left")
    axes[1, 0].legend(fontsize=6.5, loc="lower right")
    fig.suptitle("Qwen3 architecture trained here on CPU (not the released Qwen3-0.6B); RL stages shaded", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def _shade_rl(top, bottom, runs, pipeline) -> None:
    log = next(log for meta, log in runs if meta["pipeline"] == pipeline)
    for _, frame in log[log["phase"] == "rl"].groupby("stage"):
        for ax in (top, bottom):
            ax.axvspan(frame["step"].min(), frame["step"].max(), color="C1", alpha=0.08, lw=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m theory.bridge.qwen3.summary", description=__doc__.splitlines()[0])
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
    figure(runs, out / "qwen3_runs.png")
    print(markdown(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
