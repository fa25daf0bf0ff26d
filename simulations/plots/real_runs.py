"""Logged Qwen3 runs (``simulations/data/qwen3/<pipeline>-seed<k>/log.jsonl``) against K1 and K3.

Loaded by :func:`simulations.qwen3.summary.load_runs` (:func:`nondecoupling.bridge.read_run` and
the ``run_meta.json`` sidecar's exact expert quantities a and H(p*)); K1's terms come from
:func:`simulations.qwen3.summary.k1_terms`, the numbers of ``summary.json``, with b the
exact pass rate where the log has it.

Top, one column per pipeline (seeds as colours, RL stages shaded): the held-out SFT loss L
with K1's floor ``H(p*) + kl(a || b)`` dashed, and the sampled reward with the exact pass
rate dotted. Bottom: K1, every logged point's SFT excess ``L - H(p*)`` against
``kl(a || b)`` (the bound is the diagonal: points on or above it); K3, the pass rate during
SFT stages after RL inside the band ``[kl_inv_lower, kl_inv_upper](a, L - H(p*))``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from nondecoupling import kl_inverse_lower, kl_inverse_upper
from simulations.plots import Drawn, Skip
from simulations.plots._style import BOUND, REFERENCE, colours, diagonal
from simulations.qwen3.summary import k1_terms, load_runs

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "qwen3"
PIPELINE_MARKERS = ("o", "^", "s", "D", "v", "P")
RL_SHADE = dict(color="0.55", alpha=0.13, lw=0)
POINTS = dict(ls="none", ms=4.0, alpha=0.7)


def _tidy(runs: list[tuple[dict, pd.DataFrame]]) -> pd.DataFrame:
    """One row per logged point: the canonical run, K1's terms and K3's band at its SFT excess."""
    frames = [
        pd.concat([run, k1_terms(meta, run)], axis=1).assign(
            run=meta["run"], pipeline=meta["pipeline"], seed=meta.get("seed", 0),
            expert_pass_rate=meta["expert_pass_rate"], expert_entropy=meta["expert_entropy"],
        )
        for meta, run in runs
    ]
    data = pd.concat(frames, ignore_index=True)
    first_rl_stage = data["stage"].where(data["phase"] == "rl").groupby(data["run"]).transform("min")
    data["sft_after_rl"] = (data["phase"] == "sft") & (data["stage"] > first_rl_stage)
    rate, budget = data["expert_pass_rate"].to_numpy(float), np.clip(data["sft_excess"].to_numpy(float), 0.0, None)
    band = np.isfinite(budget)
    data["reward_floor"], data["reward_ceiling"] = np.nan, np.nan
    data.loc[band, "reward_floor"] = kl_inverse_lower(rate[band], budget[band])
    data.loc[band, "reward_ceiling"] = kl_inverse_upper(rate[band], budget[band])
    return data


def _layout(pipelines: list[str]):
    """Loss and reward rows with one column per pipeline over a K1 | K3 row."""
    n = len(pipelines)
    mosaic = [[f"loss {p}" for p in pipelines for _ in (0, 1)], [f"reward {p}" for p in pipelines for _ in (0, 1)],
              ["k1"] * n + ["k3"] * n]
    fig = plt.figure(figsize=(max(4.3 * n, 8.6), 10.4))
    axes = fig.subplot_mosaic(mosaic, height_ratios=[1.0, 0.8, 1.15])
    for p in pipelines:
        axes[f"reward {p}"].sharex(axes[f"loss {p}"])
    return fig, axes


def _pipeline_panels(loss_ax, reward_ax, data: pd.DataFrame, colour: dict) -> None:
    """One pipeline's runs against step; its first run's RL stages shaded."""
    for _, run in data.groupby("run", sort=False):
        c = colour[run["seed"].iloc[0]]
        loss = run.dropna(subset=["sft_loss"])
        loss_ax.plot(loss["step"], loss["sft_loss"], color=c, lw=1.7)
        loss_ax.plot(loss["step"], loss["expert_entropy"] + loss["kl_a_b"], color=c, **{**BOUND, "lw": 1.2})
        reward = run.dropna(subset=["reward"])
        reward_ax.plot(reward["step"], reward["reward"], color=c, lw=1.7)
        exact = run.dropna(subset=["pass_rate"])
        reward_ax.plot(exact["step"], exact["pass_rate"], color=c, lw=1.1, ls=":")
    first = data[data["run"] == data["run"].iloc[0]]
    for _, stage in first[first["phase"] == "rl"].groupby("stage"):
        for ax in (loss_ax, reward_ax):
            ax.axvspan(stage["step"].min(), stage["step"].max(), **RL_SHADE)
    loss_ax.axhline(first["expert_entropy"].iloc[0], **REFERENCE)
    reward_ax.axhline(first["expert_pass_rate"].iloc[0], **REFERENCE)
    reward_ax.set_ylim(0.0, 1.03)


def _k1_panel(ax, data: pd.DataFrame, colour: dict, marker: dict) -> None:
    points = data.dropna(subset=["k1_slack"])
    points = points[np.isfinite(points["kl_a_b"])]
    for (pipeline, seed), frame in points.groupby(["pipeline", "seed"], sort=False):
        ax.plot(frame["kl_a_b"], frame["sft_excess"], color=colour[seed], marker=marker[pipeline], **POINTS)
    diagonal(ax, 0.0, float(points["kl_a_b"].max()) * 1.1, label="K1 bound: $L - H(p^*) = $ kl$(a\\|b)$")
    slack = data["k1_slack"].dropna()
    ax.text(0.98, 0.03, f"least slack {slack.min():.3f}; {int((slack < 0).sum())} of {slack.size} points below 0",
            transform=ax.transAxes, ha="right", va="bottom", fontsize=9)
    exact = "the exact pass rate $b$" if data["k1_pass_rate_exact"].all() else "$b$ (exact pass rate where logged)"
    ax.set(xlabel=f"kl$(a\\|b)$ at {exact}", ylabel="SFT excess $L - H(p^*)$", title="K1 at every logged point")


def _k3_panel(ax, data: pd.DataFrame, colour: dict, marker: dict) -> None:
    points = data[data["sft_after_rl"]].dropna(subset=["k1_pass_rate", "reward_ceiling"])
    for (pipeline, seed), frame in points.groupby(["pipeline", "seed"], sort=False):
        ax.plot(frame["sft_excess"], frame["k1_pass_rate"], color=colour[seed], marker=marker[pipeline], **POINTS)
    budget = np.linspace(0.0, max(float(points["sft_excess"].max()), 0.0) * 1.05 if len(points) else 1.0, 200)
    for rate in sorted(data["expert_pass_rate"].unique()):
        floor, ceiling = kl_inverse_lower(rate, budget), kl_inverse_upper(rate, budget)
        ax.fill_between(budget, floor, ceiling, color="0.5", alpha=0.08, lw=0)
        ax.plot(budget, floor, color="0.3", **BOUND)
        ax.plot(budget, ceiling, color="0.3", **BOUND)
    ax.plot([], [], color="0.3", label="K3: kl-inverse band of $a$", **BOUND)
    ax.set(xlabel="SFT excess $\\epsilon = L - H(p^*)$", ylabel="pass rate $b$", ylim=(-0.02, 1.03),
           title="K3 during SFT after RL")


def _legends(axes, pipelines: list[str], colour: dict, marker: dict) -> None:
    first = pipelines[0]
    axes[f"loss {first}"].legend(handles=[
        plt.Line2D([], [], color="0.2", lw=1.7, label="SFT loss $L$ = CE$(p^*, \\pi)$"),
        plt.Line2D([], [], color="0.2", **{**BOUND, "lw": 1.2}, label="K1 floor $H(p^*) + $kl$(a\\|b)$"),
        plt.Line2D([], [], **REFERENCE, label="$H(p^*)$"),
        Patch(**RL_SHADE, label="RL stage"),
    ], loc="upper left", fontsize=8)
    axes[f"reward {first}"].legend(handles=[
        plt.Line2D([], [], color="0.2", lw=1.7, label="sampled reward"),
        plt.Line2D([], [], color="0.2", lw=1.1, ls=":", label="exact pass rate $b$"),
        plt.Line2D([], [], **REFERENCE, label="expert pass rate $a$"),
    ], loc="lower right", fontsize=8)
    key = [Patch(color=c, label=f"seed {seed}") for seed, c in colour.items()]
    key += [plt.Line2D([], [], color="0.35", marker=marker[p], ls="none", label=f"{p} (K1, K3)") for p in pipelines]
    axes["k1"].figure.legend(handles=key, loc="outside lower center", ncols=len(key), fontsize=9)
    axes["k1"].legend(loc="upper left", fontsize=8)
    axes["k3"].legend(loc="lower left", fontsize=8)


def _model_size(meta: dict) -> str:
    """``0.79 M params, trained here`` for a model built from a config; the path for a checkpoint."""
    if meta.get("model", "tiny") != "tiny":
        return f"checkpoint {meta['model']}"
    count = meta.get("num_parameters")
    return "trained here" if count is None else f"{count / 1e6:.2f} M params, trained here"


def draw(rng: np.random.Generator, *, quick: bool, data_dir=None) -> list[Drawn]:
    """The real-run figure from the finished runs under ``data_dir`` (default :data:`DATA_DIR`)."""
    data_dir = DATA_DIR if data_dir is None else Path(data_dir)
    runs = load_runs(data_dir)
    if not runs:
        raise Skip(f"no real-run logs under {data_dir} (*/log.jsonl + run_meta.json); the real-run figure is drawn once they exist")
    data = _tidy(runs)
    pipelines = list(dict.fromkeys(meta["pipeline"] for meta, _ in runs))
    seeds = sorted(data["seed"].unique())
    colour = dict(zip(seeds, colours(len(seeds))))
    marker = dict(zip(pipelines, PIPELINE_MARKERS * len(pipelines)))
    fig, axes = _layout(pipelines)
    for pipeline in pipelines:
        loss_ax, reward_ax = axes[f"loss {pipeline}"], axes[f"reward {pipeline}"]
        _pipeline_panels(loss_ax, reward_ax, data[data["pipeline"] == pipeline], colour)
        loss_ax.set_title(pipeline)
        loss_ax.tick_params(labelbottom=False)
        reward_ax.set_xlabel("optimizer step")
    axes[f"loss {pipelines[0]}"].set_ylabel("held-out SFT loss $L$\n(nats / sequence)")
    axes[f"reward {pipelines[0]}"].set_ylabel("reward $J$")
    _k1_panel(axes["k1"], data, colour, marker)
    _k3_panel(axes["k3"], data, colour, marker)
    _legends(axes, pipelines, colour, marker)
    models = ", ".join(sorted({_model_size(meta) for meta, _ in runs}))
    fig.suptitle(f"Qwen3-architecture runs ({len(runs)} logs; {models}) against K1/K3 with the exact expert constants")
    return [Drawn("real_qwen3", ("K1", "K3"), fig, data,
                  "Logged Qwen3 SFT/RL runs, one column per pipeline: SFT loss with K1's floor H(p*) + kl(a||b) and reward by step (RL stages shaded); every point's SFT excess against kl(a||b) at the exact pass rate (K1); the pass rate during SFT after RL inside the kl-inverse band (K3).",
                  dict(runs=[meta["run"] for meta, _ in runs], models=models, data_dir=data_dir.name))]
