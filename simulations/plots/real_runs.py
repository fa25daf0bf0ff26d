"""Logged Qwen3 runs (``simulations/data/qwen3/<pipeline>-seed<k>/log.jsonl``) with the
theory's overlays. Read through :mod:`theory.bridge` (the canonical run of
:func:`theory.bridge.read_run` and the ``run_meta.json`` sidecar's exact expert
quantities ``expert_pass_rate`` a and ``expert_entropy`` H(p*)).

Panels: SFT loss and reward against step (one colour per pipeline, RL stages as triangles);
K1: each logged point's SFT excess ``L - H(p*)`` against ``kl(a || b)`` at its reward ``b``
(the bound is the diagonal: points on or above it); K3: the reward during SFT stages after
RL inside the band ``[kl_inv_lower, kl_inv_upper](a, L - H(p*))``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from simulations.plots import Drawn, Skip
from simulations.plots._style import BOUND, colours, diagonal, panels
from theory import kl_bernoulli, kl_inverse_lower, kl_inverse_upper
from theory.bridge import read_run, read_run_meta

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "qwen3"
PHASE_MARKERS = {"sft": "o", "rl": "^"}


def _runs(data_dir: Path) -> dict:
    """``{run name: (canonical run, meta)}`` for every ``*/log.jsonl`` under ``data_dir``."""
    return {path.parent.name: (read_run(path), read_run_meta(path)) for path in sorted(data_dir.glob("*/log.jsonl"))}


def _pipeline(name: str) -> str:
    """``sft-rl-seed0`` (or ``sft-rl_seed0``) -> ``sft-rl``: seeds of a pipeline share a colour."""
    return re.sub(r"[-_]seed\d+$", "", name)


def _tidy(runs: dict) -> pd.DataFrame:
    frames = []
    for name, (run, meta) in runs.items():
        frame = run.assign(run=name, pipeline=_pipeline(name),
                           expert_pass_rate=meta.get("expert_pass_rate", np.nan), expert_entropy=meta.get("expert_entropy", np.nan))
        frames.append(frame)
    data = pd.concat(frames, ignore_index=True)
    rate, entropy = data["expert_pass_rate"].to_numpy(float), data["expert_entropy"].to_numpy(float)
    reward = data["reward"].to_numpy(float)
    usable = np.isfinite(rate) & np.isfinite(reward) & (reward >= 0) & (reward <= 1)
    data["kl_a_b"] = np.nan
    data.loc[usable, "kl_a_b"] = kl_bernoulli(rate[usable], reward[usable])
    data["sft_excess"] = data["sft_loss"] - entropy
    budget = np.clip(data["sft_excess"].to_numpy(float), 0.0, None)
    band = np.isfinite(rate) & np.isfinite(budget)
    data["reward_ceiling"], data["reward_floor"] = np.nan, np.nan
    data.loc[band, "reward_ceiling"] = kl_inverse_upper(rate[band], budget[band])
    data.loc[band, "reward_floor"] = kl_inverse_lower(rate[band], budget[band])
    return data


def draw(rng: np.random.Generator, *, quick: bool, data_dir=None) -> list[Drawn]:
    """The real-run figure from the logs under ``data_dir`` (default :data:`DATA_DIR`)."""
    data_dir = DATA_DIR if data_dir is None else Path(data_dir)
    runs = _runs(data_dir)
    if not runs:
        raise Skip(f"no real-run logs under {data_dir} (*/log.jsonl); the real-run figure is drawn once they exist")
    data = _tidy(runs)
    pipelines = sorted(data["pipeline"].unique())
    colour = dict(zip(pipelines, colours(len(pipelines))))
    fig, axes = panels(2, 2, width=5.2, height=3.9)
    (ax_loss, ax_reward), (ax_k1, ax_k3) = axes
    for (name, phase), frame in data.groupby(["run", "phase"], sort=True):
        style = dict(color=colour[_pipeline(name)], marker=PHASE_MARKERS.get(phase, "o"), ms=3.5, ls="none", alpha=0.75)
        loss, reward = frame.dropna(subset=["sft_loss"]), frame.dropna(subset=["reward"])
        ax_loss.plot(loss["step"], loss["sft_loss"], **style)
        ax_reward.plot(reward["step"], reward["reward"], **style)
        if phase == "rl":
            points = frame.dropna(subset=["kl_a_b", "sft_excess"])
            ax_k1.plot(points["kl_a_b"], points["sft_excess"], **style)
    for name, frame in data.groupby("run", sort=True):
        after_rl = frame[(frame["phase"] == "sft") & (frame["stage"] > frame.loc[frame["phase"] == "rl", "stage"].min())]
        after_rl = after_rl.dropna(subset=["reward", "reward_ceiling"])
        if after_rl.empty:
            continue
        c = colour[_pipeline(name)]
        ax_k3.plot(after_rl["sft_excess"], after_rl["reward"], color=c, marker="o", ms=3.5, ls="none", alpha=0.75)
        order = np.argsort(after_rl["sft_excess"].to_numpy())
        ax_k3.plot(after_rl["sft_excess"].to_numpy()[order], after_rl["reward_ceiling"].to_numpy()[order], color=c, **BOUND)
        ax_k3.plot(after_rl["sft_excess"].to_numpy()[order], after_rl["reward_floor"].to_numpy()[order], color=c, **BOUND)
    for pipeline in pipelines:
        ax_loss.plot([], [], color=colour[pipeline], lw=6, label=pipeline)
    for phase, marker in PHASE_MARKERS.items():
        ax_loss.plot([], [], color="0.4", marker=marker, ls="none", label=f"{phase} stage (logged)")
    k1 = data.dropna(subset=["kl_a_b", "sft_excess"])
    k1 = k1[np.isfinite(k1["kl_a_b"])]
    if not k1.empty:
        top = float(k1["kl_a_b"].max()) * 1.15
        diagonal(ax_k1, 0.0, top, label="K1 bound: $L - H(p^*) = $ kl$(a\\|b)$")
        ax_k1.legend(fontsize=7.5, loc="upper left")
    ax_k3.plot([], [], color="0.4", label="kl-inverse band (K3)", **BOUND)
    ax_k3.legend(fontsize=7.5, loc="best")
    ax_loss.set(xlabel="optimizer step", ylabel="held-out SFT loss $L$ (nats / response)", title="SFT loss")
    ax_reward.set(xlabel="optimizer step", ylabel="mean reward $J$ (pass rate $b$)", title="reward")
    ax_k1.set(xlabel="kl$(a\\|b)$ at the logged pass rate", ylabel="SFT excess $L - H(p^*)$", title="K1 during RL: on or above the diagonal")
    ax_k3.set(xlabel="SFT excess $\\epsilon = L - H(p^*)$", ylabel="pass rate $b$", title="K3 during SFT after RL")
    ax_loss.legend(fontsize=7.5, loc="best")
    models = ", ".join(sorted({str(meta.get("model", "model not recorded")) for _, meta in runs.values()}))
    fig.suptitle(f"Qwen3-architecture runs ({len(runs)} logs; model: {models}) against K1/K3 with the exact expert constants")
    return [Drawn("real_qwen3", ("K1", "K3"), fig, data,
                  "Logged Qwen3 SFT/RL runs: SFT loss and reward by step, each RL point's SFT excess against kl(a||b) (K1), and the reward during SFT after RL inside the kl-inverse band (K3).",
                  dict(runs=sorted(runs), models=models, data_dir=data_dir.name))]
