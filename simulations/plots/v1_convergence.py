"""V1 at convergence (``simulations/data/v1-converged/``): the SFT-loss increase of KL-regularized RL run to its optimum.

Drawn from the committed logs only (:func:`simulations.qwen3.v1.run_table` and
:func:`~simulations.qwen3.v1.beta_table` compute every number; this module lays out):

``v1_convergence``
    Left: each exact-expectation RL run's SFT-loss increase since the SFT model, by RL step,
    one colour per beta, with the paper's C1(beta) (dashed). Right: the final increase over
    C1(beta) per run (dots), the mean over seeds with its 95% t-interval, the +-10% band, and
    the increase predicted by the exact tilt of each run's actual SFT model (diamonds).

``v1_table``
    Per beta, the SFT-loss increase over C1(beta): the runs' mean with its 95% t-interval, and where
    the theory puts it for those SFT models: their exact tilt (V1's optimum), the tilt path at the
    pass rate the runs stopped at, and the stationary points of GRPO's expected update
    (group-mean advantages, TRL's group-std scaling, TRL's default k3 KL;
    :mod:`simulations.qwen3.grpo_stationary`). Its CSV is the README's V1 table
    (:func:`~simulations.qwen3.v1.markdown_beta_table`).

Raises :class:`Skip` without finished runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from simulations.plots import Drawn, Skip
from simulations.plots._style import BOUND, REFERENCE, THEORY_MARK, colours, panels
from simulations.qwen3.reproduce import log_frame
from simulations.qwen3.v1 import DATA_DIR, GRPO_VARIANTS, beta_table, run_table

#: What each marker of ``v1_table`` is: column of :func:`beta_table` -> label.
PREDICTIONS = {"mean_tilt_of_sft_increase": "tilt of the SFT models (V1's optimum)",
               "mean_path_increase": "tilt path at the runs' pass rate",
               "group_mean_increase": "GRPO stops: group-mean advantage (G = 8)",
               "group_std_increase": "GRPO stops: group-std advantage (TRL default)",
               "k3_increase": "GRPO stops: k3 KL without ratio (TRL default)"}


def draw(rng: np.random.Generator, *, quick: bool) -> list[Drawn]:
    """The V1 figure from the logs under :data:`~simulations.qwen3.v1.DATA_DIR` (``rng`` and ``quick`` unused)."""
    table = run_table(DATA_DIR)  # once: its GRPO stationary points are most of the figure's time
    if table.empty:
        raise Skip(f"no finished V1 runs under {DATA_DIR} (python -m simulations.qwen3.v1)")
    by_beta = beta_table(table)
    return [_convergence(DATA_DIR, table, by_beta), _table(table, by_beta)]


def _convergence(root: Path, table: pd.DataFrame, by_beta: pd.DataFrame) -> Drawn:
    betas = sorted(table["beta"].unique())
    colour = dict(zip(betas, colours(len(betas)), strict=True))
    fig, axes = panels(2, 1, width=5.0, height=3.9)
    curve_ax, ratio_ax = axes[0, 0], axes[0, 1]
    rows = []
    for _, run in table.iterrows():
        log = log_frame(root / "exact" / run["run"] / "log.jsonl")
        increase = log["sft_loss"] - log["sft_loss"].iloc[0]
        curve_ax.plot(log["step"], increase, color=colour[run["beta"]], alpha=0.8)
        rows.append(pd.DataFrame({"run": run["run"], "beta": run["beta"], "step": log["step"], "sft_increase": increase,
                                  "c1": run["c1"]}))
    for position, beta in enumerate(betas):
        row = by_beta[by_beta["beta"] == beta].iloc[0]
        curve_ax.axhline(row["c1"], color=colour[beta], **BOUND, label=f"beta = {beta:g}: C1 = {row['c1']:.3f}")
        runs = table[table["beta"] == beta]
        ratio_ax.plot(np.full(len(runs), position), runs["increase_over_c1"], "o", color=colour[beta], alpha=0.7)
        ratio_ax.plot(position + 0.2, runs["tilt_of_sft_increase"].mean() / row["c1"], color=colour[beta], **THEORY_MARK)
        ratio_ax.errorbar(position - 0.2, row["mean_over_c1"], yerr=[[row["mean_over_c1"] - row["ci_low"] / row["c1"]],
                          [row["ci_high"] / row["c1"] - row["mean_over_c1"]]], fmt="s", color=colour[beta], capsize=4)
    ratio_ax.axhline(1.0, **REFERENCE, label="V1: increase = C1(beta)")
    ratio_ax.axhspan(0.9, 1.1, color="0.5", alpha=0.12, lw=0, label="+-10%")
    ratio_ax.plot([], [], "s", color="k", label="mean, 95% t-CI (3 seeds)")
    ratio_ax.plot([], [], color="k", **THEORY_MARK, label="tilt of the run's SFT model")
    ratio_ax.set_xticks(range(len(betas)), [f"{b:g}" for b in betas])
    ratio_ax.set(xlabel="beta", ylabel="final SFT-loss increase / C1(beta)")
    ratio_ax.legend(fontsize=7)
    curve_ax.set(xlabel="RL step (exact policy gradient)", ylabel="SFT-loss increase since SFT (nats)")
    curve_ax.legend(fontsize=7)
    fig.suptitle("V1 near convergence: the SFT-loss increase of exact KL-regularized RL against C1(beta)")
    return Drawn("v1_convergence", ("V1",), fig, pd.concat(rows, ignore_index=True),
                 "Exact-expectation KL-regularized policy gradient from SFT models trained on the enumerated expert, run to "
                 "the tilt: the SFT-loss increase by step against C1(beta), and its final value over C1(beta) with a CI per beta.",
                 dict(betas=betas, runs=sorted(table["run"])))


def _table(table: pd.DataFrame, by_beta: pd.DataFrame) -> Drawn:
    fig, axes = panels(1, 1, width=8.5, height=4.2)
    ax = axes[0, 0]
    position = np.arange(len(by_beta))
    ratio = by_beta["mean_over_c1"].to_numpy(float)
    ax.errorbar(position, ratio, yerr=[ratio - by_beta["ratio_ci_low"], by_beta["ratio_ci_high"] - ratio], fmt="s", color="k",
                capsize=4, label="exact-PG runs: mean, 95% t-CI (3 seeds)")
    markers = dict(zip(PREDICTIONS, ("D", "v", "o", "^", "x"), strict=True))
    for offset, (column, label) in zip(np.linspace(0.1, 0.35, len(PREDICTIONS)), PREDICTIONS.items(), strict=True):
        ax.plot(position + offset, by_beta[column] / by_beta["c1"], markers[column], color=colours(len(PREDICTIONS))[list(PREDICTIONS).index(column)],
                label=label)
    ax.axhline(1.0, **REFERENCE, label="V1: increase = C1(beta)")
    ax.axhspan(0.9, 1.1, color="0.5", alpha=0.12, lw=0, label="+-10%")
    ax.set_yscale("log")
    ax.set_xticks(position + 0.15, [f"{b:g}" for b in by_beta["beta"]])
    ax.set(xlabel="beta", ylabel="SFT-loss increase / C1(beta)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle("V1: SFT-loss increase / C1(beta), runs and stationary points")
    return Drawn("v1_table", ("V1",), fig, by_beta,
                 "Per beta: the exact-PG runs' SFT-loss increase over C1(beta) with its 95% t-CI, against the same ratio at "
                 "the SFT models' exact tilt, on their tilt path at the runs' pass rate, and where GRPO's expected update "
                 "vanishes (group-mean, group-std, k3); the CSV is the README's V1 table.",
                 dict(betas=sorted(table["beta"].unique()), runs=sorted(table["run"]), grpo_variants=list(GRPO_VARIANTS)))
