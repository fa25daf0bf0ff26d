"""The CoLA-like runs (``simulations/data/cola/<plan>/<run>/``) against K1 and V1 (= K2).

Drawn from the committed logs only (:func:`simulations.qwen3.experiments.run_table` and
:func:`~simulations.qwen3.experiments.rl_curve` compute every number; this module lays out):

``cola_protocol``
    The paper's protocol (plan ``protocol-v2`` once it has a finished run, else the first
    ``protocol``, titled premise not met), one column per pipeline (sft-rl, rl-sft, alternating; seeds as
    colours): the held-out SFT loss with H(p*) and K1's floor, the strict reward RL optimizes
    with the exact pass rate, and the final model's strict vs lenient reward per run.
``cola_beta``
    GRPO with a KL penalty beta > 0: the RL stage's SFT-loss increase over the paper's
    C1(beta) (V1, exact from the expert and the strict reward) by RL step, one colour per
    beta; 1 is V1's prediction at the KL-regularized optimum. Dotted: over the same
    prediction for the SFT model the run actually had (its logged pass rate at RL start,
    :func:`~simulations.qwen3.experiments.c1_from_reference`). A second panel shows the
    beta-long plan (the same runs with 600 RL steps) where it has finished runs.
``cola_size``
    sft-rl at several model sizes: the RL-induced SFT-loss increase and K1's slack at a
    matched pass rate against the parameter count; plan ``size-v2`` (protocol-v2's SFT: the
    premises met) beside the first ``size`` plan (premise not met).
``cola_premises``
    Every run of the protocol plans (``protocol``: premise not met; ``protocol-v2``,
    ``beta-v2``: SFT reaches the expert): the SFT end's strict pass rate against a and its SFT
    loss against H(p*) (the premise "RL starts at the SFT optimum"), and the RL stage's late
    SFT-loss increase against the prediction made before RL (C1(beta) for beta > 0). Its CSV is
    :func:`~simulations.qwen3.experiments.premise_table`, the table the README shows.

Each figure raises :class:`Skip` when its plan has no finished run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from simulations.plots import Drawn, Skip
from simulations.plots._style import BOUND, REFERENCE, colours, panels
from simulations.qwen3.cola import ColaTask
from simulations.qwen3.experiments import (
    DATA_DIR,
    MATCHED_PASS_RATE,
    PREMISE_COLUMNS,
    PREMISE_PASS_TOLERANCE,
    load_plan,
    premise_table,
    rl_curve,
    run_table,
    tilt_path_from_reference,
)

RL_SHADE = dict(color="0.55", alpha=0.13, lw=0)
LENIENT_EXPERT_RATE = ColaTask().lenient_expert_pass_rate  # the runs use the default expert


def draw(rng: np.random.Generator, *, quick: bool, data_dir=None) -> list[Drawn]:
    """Every CoLA figure whose plan has finished runs under ``data_dir`` (default :data:`DATA_DIR`).

    ``rng`` and ``quick`` are unused: the figures come from the logs only.
    """
    root = DATA_DIR if data_dir is None else Path(data_dir)
    drawn = []
    for figure in (_protocol, _beta, _size, _premises):
        try:
            drawn.append(figure(root))
        except Skip:
            continue
    if not drawn:
        raise Skip(f"no finished CoLA runs under {root} (python -m simulations.qwen3.experiments --plan protocol)")
    return drawn


def _curves(plan: str, root: Path) -> pd.DataFrame:
    runs = load_plan(plan, root)
    if not runs:
        raise Skip(f"no finished runs under {root / plan}")
    from simulations.qwen3.summary import k1_terms

    return pd.concat(
        [pd.concat([run, k1_terms(meta, run)], axis=1).assign(
            run=meta["run"], pipeline=meta["pipeline"], seed=meta.get("seed", 0),
            expert_entropy=meta["expert_entropy"]) for meta, run in runs],
        ignore_index=True,
    )


def _protocol(root: Path) -> Drawn:
    """protocol-v2 once it has a finished run (its SFT reaches the expert), else the first protocol, labelled."""
    plan = "protocol-v2" if load_plan("protocol-v2", root) else "protocol"
    data, table = _curves(plan, root), run_table(plan, root)
    pipelines = list(dict.fromkeys(data["pipeline"]))
    seeds = sorted(data["seed"].unique())
    colour = dict(zip(seeds, colours(len(seeds)), strict=True))
    fig, axes = panels(len(pipelines) + 1, 2, width=4.2, height=3.3)
    entropy = float(data["expert_entropy"].iloc[0])
    for column, pipeline in enumerate(pipelines):
        loss_ax, reward_ax = axes[0, column], axes[1, column]
        for seed, frame in data[data["pipeline"] == pipeline].groupby("seed"):
            _shade_rl(loss_ax, frame), _shade_rl(reward_ax, frame)
            loss_ax.plot(frame["step"], frame["sft_loss"], color=colour[seed], label=f"seed {seed}")
            loss_ax.plot(frame["step"], frame["sft_loss"] - frame["k1_slack"], color=colour[seed], **BOUND, alpha=0.6)
            reward_ax.plot(frame["step"], frame["reward"], color=colour[seed])
            reward_ax.plot(frame["step"], frame["pass_rate"], color=colour[seed], ls=":")
        loss_ax.axhline(entropy, **REFERENCE, label="H(p*)")
        loss_ax.set_title(pipeline)
        reward_ax.set_xlabel("optimizer step")
    axes[0, 0].set_ylabel("held-out SFT loss (nats / sequence)\nsolid: L, dashed: K1 floor")
    axes[1, 0].set_ylabel("strict reward (solid: sampled,\ndotted: exact pass rate)")
    axes[0, 0].legend(fontsize=7)
    _final_rewards(axes[0, -1], table)
    axes[1, -1].axis("off")
    fig.suptitle(f"CoLA-like task, paper's protocol (GRPO on the strict reward, beta = 0; plan {plan}); RL stages shaded"
                 + ("\npremise not met: SFT ended below the expert in every run (docs/experiments.md)" if plan == "protocol" else ""))
    return Drawn("cola_protocol", ("K1",), fig, data,
                 "CoLA-like runs per pipeline: SFT loss with K1's floor and H(p*), strict reward and exact pass rate by step; final strict vs lenient reward per run.",
                 dict(plan=plan, runs=sorted(table["run"])))


def _shade_rl(ax, frame: pd.DataFrame) -> None:
    for _, stage in frame[frame["phase"] == "rl"].groupby("stage"):
        ax.axvspan(stage["step"].min(), stage["step"].max(), **RL_SHADE)


def _final_rewards(ax, table: pd.DataFrame) -> None:
    """The final model's strict and lenient reward per run, with the expert's as references."""
    x = np.arange(len(table))
    ax.bar(x - 0.2, table["final_strict_reward"], 0.4, label="strict (RL's reward)")
    ax.bar(x + 0.2, table["final_lenient_reward"], 0.4, label="lenient (last label)")
    ax.axhline(table["expert_pass_rate"].iloc[0], **REFERENCE, label="expert, strict (a)")
    ax.axhline(LENIENT_EXPERT_RATE, color="0.45", lw=1.0, ls="-.", label="expert, lenient")
    ax.set_xticks(x, table["run"], rotation=70, fontsize=7)
    ax.set_ylabel("final reward (fresh samples)")
    ax.set_ylim(0, 1)
    ax.set_title("end of pipeline: strict vs lenient")
    ax.legend(fontsize=7)


def _beta(root: Path) -> Drawn:
    table = run_table("beta", root)
    if table.empty:
        raise Skip("no finished beta runs")
    long_table = run_table("beta-long", root)
    betas = sorted(table["beta"].unique())
    colour = dict(zip(betas, colours(len(betas)), strict=True))
    fig, axes = panels(2 + (not long_table.empty), 1, width=5.0, height=3.8)
    ratio_axes = [axes[0, 0]] + ([axes[0, 1]] if not long_table.empty else [])
    pass_ax = axes[0, -1]
    rows = []
    for ax, plan, plan_table in zip(ratio_axes, ("beta", "beta-long"), (table, long_table), strict=False):
        rows += _ratio_panel(ax, plan, plan_table, root, colour, pass_ax if plan == "beta" else None)
    for beta in betas:
        ratio_axes[0].plot([], [], color=colour[beta], label=f"beta = {beta:g}: C1 = {table.loc[table['beta'] == beta, 'c1'].iloc[0]:.3f} nats")
        pass_ax.axhline(table.loc[table["beta"] == beta, "c1"].iloc[0], color=colour[beta], **BOUND)
    ratio_axes[0].legend(fontsize=7)
    start = table.iloc[0]
    path_rate, path_increase = tilt_path_from_reference(start["rl_start_pass_rate"], start["expert_pass_rate"],
                                                        np.linspace(0.0, 5.0, 101))
    pass_ax.plot(path_rate, path_increase, color="k", ls=":", lw=1.2, label=f"tilt of {start['run']}'s SFT model (KL-optimal path)")
    pass_ax.legend(fontsize=7)
    pass_ax.set(xlabel="exact strict pass rate b", ylabel="SFT-loss increase since RL start (nats)")
    pass_ax.set_title("increase vs pass rate (150 RL steps); dashed: C1(beta)", fontsize=9)
    fig.suptitle("GRPO with KL coefficient beta after SFT: observed SFT-loss increase vs the paper's C1(beta) (V1)")
    runs = sorted(table["run"]) + sorted("long/" + long_table["run"]) if not long_table.empty else sorted(table["run"])
    return Drawn("cola_beta", ("K2",), fig, pd.concat(rows, ignore_index=True),
                 "sft-rl with GRPO's KL coefficient beta > 0: the RL stage's SFT-loss increase divided by the paper's exact "
                 "C1(beta), by RL step (150 and 600 RL steps), and against the pass rate.",
                 dict(betas=betas, runs=runs))


def _ratio_panel(ax, plan: str, table: pd.DataFrame, root: Path, colour: dict, pass_ax=None) -> list[pd.DataFrame]:
    """The RL stage's SFT-loss increase over C1(beta) (solid) and over C1 of the run's SFT model
    (dotted) by RL step, one line each per run of ``plan``; also increase vs pass rate on ``pass_ax``."""
    curves = {meta["run"]: rl_curve(meta, run) for meta, run in load_plan(plan, root)}
    rows = []
    for _, row in table.iterrows():
        curve = curves[row["run"]]
        ratio, ratio_reference = curve["sft_increase"] / row["c1"], curve["sft_increase"] / row["c1_reference"]
        ax.plot(curve["rl_step"], ratio, color=colour[row["beta"]], alpha=0.8)
        ax.plot(curve["rl_step"], ratio_reference, color=colour[row["beta"]], ls=":", alpha=0.8)
        if pass_ax is not None:
            pass_ax.plot(curve["k1_pass_rate"], curve["sft_increase"], color=colour[row["beta"]], alpha=0.8)
        rows.append(curve.assign(plan=plan, beta=row["beta"], c1=row["c1"], increase_over_c1=ratio,
                                 c1_reference=row["c1_reference"], increase_over_c1_reference=ratio_reference, run=row["run"]))
    ax.axhline(1.0, **REFERENCE, label="V1: increase = C1(beta)")
    ax.set(xlabel="RL step", ylabel="SFT-loss increase / C1(beta)")
    steps = int(max(curve["rl_step"].max() for curve in curves.values()))
    ax.set_title(f"{steps} RL steps ({plan} plan); solid: / C1(beta) (SFT exact),\ndotted: / C1 of the run's SFT model", fontsize=9)
    return rows


def _size(root: Path) -> Drawn:
    tables = {"size-v2": run_table("size-v2", root), "size": _first_size_plan(root)}
    tables = {plan: table for plan, table in tables.items() if not table.empty and table["num_parameters"].nunique() >= 2}
    if not tables:
        raise Skip("fewer than two model sizes finished")
    fig, axes = panels(2, 1, width=4.8, height=3.8)
    styles = {"size-v2": ("o", "C0", "size-v2: SFT reaches the expert"), "size": ("s", "C7", "size: premise not met")}
    for ax, column, label in (
        (axes[0, 0], "rl_sft_increase", "SFT-loss increase over the RL stage (nats)"),
        (axes[0, 1], "k1_slack_at_matched_rate", f"K1 slack at pass rate {MATCHED_PASS_RATE:g} (nats)"),
    ):
        for plan, table in tables.items():
            marker, colour, name = styles[plan]
            ax.plot(table["num_parameters"], table[column], marker, color=colour, alpha=0.6, mfc="none" if plan == "size" else colour,
                    label=f"{name} (runs)")
            mean = table.groupby("num_parameters")[column].mean()
            ax.plot(mean.index, mean.to_numpy(), "-", color=colour, lw=1.2, label=f"{plan}: mean over seeds")
        ax.set(xscale="log", xlabel="parameters", ylabel=label)
        ax.legend(fontsize=7)
    axes[0, 1].axhline(0.0, **REFERENCE)
    fig.suptitle("sft-rl on the CoLA-like task by model size (beta = 0, same budget)")
    table = pd.concat(tables.values(), ignore_index=True)
    return Drawn("cola_size", ("K1",), fig, table,
                 "sft-rl at several model sizes: the RL stage's SFT-loss increase and K1's slack at a matched pass rate against "
                 "the parameter count; size-v2 (protocol-v2's SFT, premises met) beside the first size plan (premise not met).",
                 dict(matched_pass_rate=MATCHED_PASS_RATE, runs=sorted(table["plan"] + "/" + table["run"])))


def _first_size_plan(root: Path) -> pd.DataFrame:
    """The first size plan, with the protocol's sft-rl runs as its 0.1M size (reused there, not rerun)."""
    table, protocol = run_table("size", root), run_table("protocol", root)
    if protocol.empty:
        return table
    reused = protocol[protocol["pipeline"] == "sft-rl"].assign(plan="size")
    sizes = set(table["num_parameters"]) if not table.empty else set()
    return pd.concat([table, reused[~reused["num_parameters"].isin(sizes)]], ignore_index=True)


def _premises(root: Path) -> Drawn:
    table = premise_table(root=root)
    if table.empty:
        raise Skip("no finished protocol runs")
    fig, axes = panels(3, 1, width=4.6, height=3.8)
    x = np.arange(len(table))
    met = (table["premise"] == "met").to_numpy()
    last_gap = table["sft_last_pass_rate"] - table["expert_pass_rate"]
    for ax, column, spread, last, label in (
        (axes[0, 0], "sft_end_pass_gap", "sft_end_pass_tolerance", last_gap, "SFT end: strict pass rate - a"),
        (axes[0, 1], "sft_end_loss_excess", "sft_end_loss_sd", table["sft_last_loss_excess"], "SFT end: SFT loss - H(p*) (nats)"),
    ):
        for keep, colour, name in ((met, "C0", "premise met"), (~met, "C3", "premise not met")):
            ax.errorbar(x[keep], table.loc[keep, column], table.loc[keep, spread], fmt="o", color=colour, label=f"{name} (last half)")
        ax.plot(x, last, "x", color="k", label="last SFT evaluation")
        ax.axhline(0.0, **REFERENCE)
        ax.set_xticks(x, table["plan"] + "/" + table["run"], rotation=80, fontsize=6)
        ax.set_ylabel(label)
    axes[0, 0].axhspan(-PREMISE_PASS_TOLERANCE, PREMISE_PASS_TOLERANCE, color="C0", alpha=0.1, lw=0, label="issue's tolerance")
    axes[0, 0].legend(fontsize=7)
    axes[0, 0].set_title("error bars: the bridge's noise tolerance", fontsize=9)
    axes[0, 1].set_title("error bars: s.d. over the SFT stage's last half", fontsize=9)
    _predicted_vs_observed(axes[0, 2], table)
    fig.suptitle("CoLA-like protocol: is RL's start the SFT optimum, and the predictions made before RL")
    return Drawn("cola_premises", ("K2",), fig, table[PREMISE_COLUMNS],
                 "Per CoLA-like run: the SFT end's pass rate against a and SFT loss against H(p*) (RL's start premise), "
                 "and the RL stage's SFT-loss increase against C1(beta); the CSV is the README's premise table.",
                 dict(runs=sorted(table["plan"] + "/" + table["run"]), pass_tolerance=PREMISE_PASS_TOLERANCE))


def _predicted_vs_observed(ax, table: pd.DataFrame) -> None:
    """V1's prediction C1(beta) against the RL stage's late SFT-loss increase (runs with beta > 0)."""
    kl = table[table["beta"] > 0]
    if kl.empty:
        ax.text(0.5, 0.5, "no beta > 0 run yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    for premise, frame in kl.groupby("premise"):
        ax.plot(frame["c1"], frame["rl_late_sft_increase"], "o", color="C0" if premise == "met" else "C3", label=premise)
    top = float(np.nanmax(kl[["c1", "rl_late_sft_increase"]].to_numpy())) * 1.1
    ax.plot([0, top], [0, top], **REFERENCE, label="observed = C1(beta)")
    ax.set(xlabel="predicted before RL: C1(beta) (nats)", ylabel="observed: late SFT-loss increase (nats)")
    ax.legend(fontsize=7)
