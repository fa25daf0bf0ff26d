"""Forgetting against KL on every committed RL stage (``simulations/data/``).

Drawn from the committed logs only (:func:`simulations.qwen3.forgetting.stage_table` reads every
number; :func:`~simulations.qwen3.forgetting.tilt_path` gives K2's path by the library's
``tilted_tradeoff``; this module lays out):

``forgetting_kl``
    Left: the SFT-loss increase over each RL stage against the forward KL(pi_SFT || pi) on the
    expert's support, where it was recomputed (the exact V1 runs; no committed log has it), one
    colour per beta, filled where the premise "SFT exact" holds; crosses: the callback's sampled
    forward KL over all completions, where a TRL run logs it; the K1/V1 identity (increase =
    forward KL at pi_SFT = p*) and V1's optimum (C1(beta), C1(beta)). Right: the same increase against the
    sampled reverse KL(pi || pi_SFT) that every log records, one colour per run family, with K2's
    KL-regularized path from p* for each task.

Raises :class:`Skip` without logs.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from simulations.plots import Drawn, Skip
from simulations.plots._style import REFERENCE, THEORY_MARK, colours, panels
from simulations.qwen3.forgetting import DATA_ROOT, premise_met, run_folders, run_task, stage_table, tilt_path

#: Tilts s = 1/beta of K2's path drawn on the right (0 to beyond the runs' largest reverse KL).
TILTS = np.concatenate([np.linspace(0.0, 2.0, 41), np.geomspace(2.05, 60.0, 80)])
#: The data columns written next to the figure (one row per RL stage).
COLUMNS = ["family", "run", "stage", "beta", "sft_increase", "forward_kl", "forward_kl_full", "forward_kl_source",
           "reverse_kl", "reverse_kl_exact", "k2_increase_at_reverse_kl", "sft_excess", "follows_sft", "premise", "premise_met", "ratio",
           "premise_bound", "c1"]


def draw(rng: np.random.Generator, *, quick: bool) -> list[Drawn]:
    """The forgetting figure from the logs under :data:`~simulations.qwen3.forgetting.DATA_ROOT` (``rng``, ``quick`` unused)."""
    table = stage_table(DATA_ROOT)
    if table.empty:
        raise Skip(f"no RL stage logged under {DATA_ROOT}")
    table["premise_met"] = premise_met(table)
    fig, axes = panels(2, 1, width=5.0, height=4.2)
    _forward_panel(axes[0, 0], table)
    _reverse_panel(axes[0, 1], table)
    fig.suptitle("Forgetting against KL: the SFT-loss increase over each committed RL stage")
    recomputed = int(table["forward_kl"].notna().sum())
    return [Drawn("forgetting_kl", ("K1", "K2", "V1"), fig, table[COLUMNS],
                  f"SFT-loss increase over every committed RL stage ({len(table)}) against the forward KL(pi_SFT||pi) on "
                  f"the expert's support (recomputed for {recomputed} exact V1 stages; no log records it) and against the "
                  "sampled reverse KL(pi||pi_SFT), with the K1/V1 identity and K2's KL-regularized path from p*.",
                  dict(stages=len(table), forward_kl_recomputed=recomputed, tilts=[float(TILTS[0]), float(TILTS[-1])]))]


def _forward_panel(ax, table: pd.DataFrame) -> None:
    known = table[table["forward_kl"].notna()]
    if known.empty:
        ax.text(0.5, 0.5, "forward KL: not logged by any run", ha="center", va="center", transform=ax.transAxes)
    betas = sorted(known["beta"].unique())
    for beta, colour in zip(betas, colours(len(betas)), strict=True):
        runs = known[known["beta"] == beta]
        met = runs["premise_met"]
        if met.any():
            ax.plot(runs.loc[met, "forward_kl"], runs.loc[met, "sft_increase"], "o", color=colour)
        ax.plot(runs.loc[~met, "forward_kl"], runs.loc[~met, "sft_increase"], "o", mfc="none", color=colour,
                label=f"beta = {beta:g} (3 seeds)" if len(runs) == 3 else f"beta = {beta:g}")
        c1 = runs["c1"].iloc[0]
        ax.plot([c1], [c1], color=colour, **THEORY_MARK)
    sampled = table[table["forward_kl"].isna() & table["forward_kl_full"].notna()]
    ax.plot(sampled["forward_kl_full"], sampled["sft_increase"], "x", color="0.3",
            label="sampled KL(pi_SFT||pi), all completions (TRL runs that log it)")
    shown = pd.concat([known, sampled.assign(forward_kl=sampled["forward_kl_full"])])
    top = float(np.nanmax([shown["forward_kl"].max(), shown["sft_increase"].max(), shown["c1"].max()])) if len(shown) else 1.0
    ax.plot([0.0, 1.05 * top], [0.0, 1.05 * top], **REFERENCE, label="K1/V1 at pi_SFT = p*: increase = KL(pi_SFT||pi)")
    ax.plot([], [], color="k", **THEORY_MARK, label="V1's optimum: C1(beta)")
    ax.plot([], [], "o", mfc="none", color="k", label=f"open: SFT not exact ({int((~known['premise_met']).sum())} of {len(known)})")
    ax.set(xlabel="forward KL(pi_SFT || pi) on the expert's support (nats)", ylabel="SFT-loss increase over RL (nats)",
           title="exact V1 runs (forward KL recomputed)")
    ax.legend(fontsize=6.5)


def _reverse_panel(ax, table: pd.DataFrame) -> None:
    families = list(dict.fromkeys(table["family"]))
    after_sft = table["follows_sft"]  # else the stage's pi_SFT is the base model
    for family, colour in zip(families, colours(len(families)), strict=True):
        rows = table[(table["family"] == family) & after_sft]
        ax.plot(rows["reverse_kl"], rows["sft_increase"], "o", color=colour, alpha=0.75, ms=4, label=family)
        rows = table[(table["family"] == family) & ~after_sft]
        ax.plot(rows["reverse_kl"], rows["sft_increase"], "x", color=colour, ms=5)
    ax.plot([], [], "x", color="k", label="RL from the base model (no SFT before)")
    top = 1.05 * float(table["sft_increase"].max())
    for (name, task), style in zip(_tasks().items(), ("--", "-."), strict=False):
        path = tilt_path(task, TILTS)
        path = path[path["sft_increase"] <= top]  # the path's reverse KL tends to -log a while its increase diverges
        ax.plot(path["reverse_kl"], path["sft_increase"], color="k", ls=style, lw=1.3,
                label=f"K2: KL-regularized path from p* ({name})")
    ax.set(xlabel="reverse KL(pi || pi_SFT), sampled (nats)", ylabel="SFT-loss increase over RL (nats)",
           title="every committed RL stage")
    ax.set_ylim(bottom=min(0.0, float(table["sft_increase"].min())))
    ax.legend(fontsize=6.5)


def _tasks() -> dict:
    """One task per (task name, expert pass rate a) among the committed runs, labelled by both."""
    tasks = {}
    for _, folder in run_folders(DATA_ROOT):
        meta = json.loads((folder / "run_meta.json").read_text())
        tasks.setdefault(f"{meta.get('task_name', 'digit')}, a = {meta['expert_pass_rate']:.3g}", run_task(meta))
    return tasks
