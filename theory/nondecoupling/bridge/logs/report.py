"""Write a run's checks as report.json, report.md and a figure with the theory overlays."""

from __future__ import annotations

import fcntl
import io
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
import pandas as pd

from nondecoupling.bridge.errors import LogFormatError

if TYPE_CHECKING:
    from nondecoupling.bridge.logs.verdicts import Check

FIGURE = "curves.png"
REPORT_FILES = ("report.json", "report.md", FIGURE)
MAX_PLOTTED = 4_000  # observed points drawn per curve (every k-th point of longer logs)
VERDICTS = ("holds", "violated", "inconclusive", "premise not met", "estimate")  # as in verdicts.VERDICTS (no scipy here)
_VERDICT_MARK = {"holds": "holds", "violated": "**violated**", "inconclusive": "inconclusive",
                 "premise not met": "*premise not met*", "estimate": "estimate"}


def build_report(run: pd.DataFrame, checks: list[Check], *, settings: dict, meta: dict) -> dict:
    """The machine-readable report: inputs, the run's shape, and every check."""
    stages = [
        {"stage": int(stage), "phase": frame["phase"].iloc[0], "first_step": int(frame["step"].iloc[0]),
         "last_step": int(frame["step"].iloc[-1]), "points": int(len(frame))}
        for stage, frame in run[["stage", "phase", "step"]].groupby("stage")  # not every column of 10^6 rows
    ]
    theorems = [c for c in checks if c.id != "premise"]
    summary = {v: sum(c.verdict == v for c in theorems) for v in VERDICTS}
    return {
        "settings": settings,
        "run_meta": meta,
        "files": run.attrs.get("files", []),
        "stages": stages,
        "summary": summary,
        "premises": [c.to_dict() for c in checks if c.id == "premise"],
        "checks": [c.to_dict() for c in theorems],
        "figures": [FIGURE],
    }


def _fmt(value) -> str:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return f"[{_fmt(value[0])}, {_fmt(value[1])}]"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _headline(check: dict) -> tuple[str, str]:
    """The one or two numbers of a check that a reader wants first."""
    o, p = check["observed"], check["predicted"]
    if check["id"] in ("A1", "X1") and "change" in o:
        return (f"{o['quantity']}: monotone-fit change {_fmt(o['change'])}, Theil-Sen slope {_fmt(o['slope'])}/step, "
                f"n = {o['n']}", f"sign {p['sign']}")
    if check["id"] == "P3" and "argmax_net_gain_step" in o:
        return (f"net gain peaks at step {_fmt(o['argmax_net_gain_step'])}; stopping at the prediction loses "
                f"{_fmt(o['net_gain_regret_at_prediction'])} (noise {_fmt(o['regret_tolerance'])})",
                f"t* = {_fmt(p['optimal_rl_steps'])} steps, CI {_fmt(p['optimal_rl_steps_ci'])}: stop at step {_fmt(p['stop_at_step'])}")
    if check["id"] == "P4" and "sft_loss_at_rl_start" in o:
        extrapolated = " (an extrapolation)" if p.get("threshold_tau_extrapolated") else ""
        return (f"SFT loss at RL start {_fmt(o['sft_loss_at_rl_start'])}, trend {o['sft_loss_trend']}",
                f"tau = {_fmt(p['threshold_tau'])}{extrapolated}, CI {_fmt(p['threshold_tau_ci'])}: {p['direction']}")
    if check["id"] == "K1" and "n_points" in o:
        return (f"{o['n_violations_significant']} of {o['n_points']} points below the bound beyond noise; min slack {_fmt(o['min_slack'])}",
                f"CE - H >= kl(a||b), a = {_fmt(p['expert_pass_rate'])}")
    if check["id"] == "K3" and "n_points" in o:
        return (f"b outside its band beyond noise at {o['n_violations_significant']} of {o['n_points']} points",
                f"kl_inverse_lower(a, CE - H) <= b <= kl_inverse_upper(a, CE - H), a = {_fmt(p['expert_pass_rate'])}")
    if check["id"] == "rates":
        shown = [f"{k} {_fmt(v)}" for k, v in o.items() if k.endswith(("rate_per_step", "rate_ci", "limit", "sft_rise", "rl_gap0"))]
        return "; ".join(shown), ""
    return ", ".join(f"{k} {_fmt(v)}" for k, v in o.items()), ""


def _file_line(file: dict) -> str:
    """One file: its format, the columns read, and how the records of a step were merged."""
    units = file.get("units", {})
    columns = ", ".join(f"{k} <- `{v}`" + (f" [{units[k]}]" if units.get(k) else "") for k, v in file.get("columns", {}).items())
    line = f"- `{file['path']}` ({file.get('format', '?')}, step offset {file.get('step_offset', 0)}): {columns}"
    conflicts = file.get("conflicts")
    if conflicts is None:
        return line
    used = ", ".join(f"`{k}` at {n} steps" for k, n in conflicts["used"].items()) or "none"
    unused = ", ".join(f"`{k}`" for k in conflicts["unused"]) or "none"
    rule = file["merge_rule"].split(":")[0]
    return (f"{line}. Records of one step merged; conflicting values of used keys: {used}, resolved by rule '{rule}' "
            f"({file['merge_rule'].split(': ', 1)[1]}); conflicts in unused keys ignored: {unused}.")


def render_markdown(report: dict) -> str:
    """A human summary: the three questions first, then every check in a table."""
    checks = report["checks"]
    a1 = [c for c in checks if c["id"] == "A1"]
    p3 = [c for c in checks if c["id"] == "P3" and "stop_at_step" in c["predicted"]]
    lines = ["# Run checked against the theory", ""]
    lines.append("Checks of THEORY.md's statements (this toolkit's formalization of Niu, Bai, Han, Zhang, "
                 "arXiv:2601.07389) on the logged curves. Fitted constants are effective estimates "
                 "(exact on isotropic quadratics), not bounds.")
    lines += ["", "## Answers", ""]
    coupling = ", ".join(f"stage {c['stage']}: {c['verdict']}" for c in a1) or "no RL stage"
    lines.append(f"- **Does the run show the coupling (A1)?** {coupling}.")
    for c in p3:
        p = c["predicted"]
        lines.append(f"- **When should RL (stage {c['stage']}) have stopped?** At step {_fmt(p['stop_at_step'])} "
                     f"(t* = {_fmt(p['optimal_rl_steps'])} steps into the stage, CI {_fmt(p['optimal_rl_steps_ci'])}, "
                     f"lam = {_fmt(p['lam'])}); the observed net gain peaked at step {_fmt(c['observed']['argmax_net_gain_step'])}. "
                     f"P3: {c['verdict']}.")
    lines.append(f"- **Verdicts:** {summary_text(report['summary'])}.")
    lines += ["", "## Run", "", "| stage | phase | steps | points |", "|---|---|---|---|"]
    lines += [f"| {st['stage']} | {st['phase']} | {st['first_step']}-{st['last_step']} | {st['points']} |" for st in report["stages"]]
    lines += ["", "Every stage after the first starts at the previous stage's last point.", ""]
    lines += [f"Made by `{report['settings']['command']}`.", ""]
    lines += [_file_line(file) for file in report["files"]]
    lines += _premise_lines(report["premises"])
    lines += ["", "## Checks", "", "| ID | stage | check | verdict | decided by | observed | predicted |",
              "|---|---|---|---|---|---|---|"]
    for c in checks:
        observed, predicted = _headline(c)
        lines.append(f"| {c['id']} | {c['stage']} | {c['name']} | {_VERDICT_MARK[c['verdict']]} | {c['decided_by']} "
                     f"| {observed} | {predicted} |")
    lines += ["", "Notes:", ""]
    lines += [f"- {c['id']} (stage {c['stage']}): {c['note']}" for c in checks if c["note"]]
    lines += ["", f"![curves]({FIGURE})", ""]
    return "\n".join(lines)


def summary_text(summary: dict) -> str:
    """``2 hold, 0 violated, 1 inconclusive, 1 premise not met, 3 estimates``."""
    return (f"{summary['holds']} hold, {summary['violated']} violated, {summary['inconclusive']} inconclusive, "
            f"{summary['premise not met']} premise not met, {summary['estimate']} estimates")


def _premise_lines(premises: list) -> list:
    """The premises of the checked theorems, per stage: what the log supports, with the statistic."""
    if not premises:
        return []
    lines = ["", "## Premises", "", "A theorem's verdict is only as good as its premises. *supported*: the log does not "
             "contradict it (at the report's level); *not met*: it does, and the checks resting on it say "
             "'premise not met'; *unknown*: the log cannot tell.", "", "| stage | premise | status | statistic |",
             "|---|---|---|---|"]
    return lines + [f"| {'run' if c['stage'] is None else c['stage']} | {c['name']} | {c['verdict']} | {c['decided_by']} |"
                    for c in premises]


def _thinned(*series):
    """Every k-th point of longer series (at most MAX_PLOTTED): a million dots draw as one smear, slowly."""
    stride = max(1, len(series[0]) // MAX_PLOTTED)
    thinned = [values[::stride] for values in series]
    return thinned[0] if len(series) == 1 else thinned


def _rl_spans(run) -> list[tuple[float, float]]:
    """(first step, last step) of every RL stage."""
    stages = run[["stage", "phase", "step"]].groupby("stage").agg(phase=("phase", "first"), first=("step", "first"),
                                                                  last=("step", "last"))
    rl = stages[stages["phase"] == "rl"]
    return list(zip(rl["first"], rl["last"]))


#: Fixed margins of the 7 x 8.5 in figure: tight_layout measures every text twice (0.3 s of a check's 3 s).
FIGURE_MARGINS = {"left": 0.11, "right": 0.98, "bottom": 0.055, "top": 0.99, "hspace": 0.06}


def plot_run(run: pd.DataFrame, fits: dict, path: Path | BinaryIO, *, expert_pass_rate: float | None = None,
             expert_entropy: float | None = None) -> None:
    """SFT loss, reward and RL net gain against step, with the fitted theory curves.

    Plain Unicode labels, no mathtext: its parser is a quarter of the figure's time.
    """
    from matplotlib.figure import Figure  # imported when drawn (a second of start-up); no pyplot, no window

    from nondecoupling.bridge.logs.stats import guaranteed_gain_curve, k1_terms

    fig = Figure(figsize=(7, 8.5))
    ax_loss, ax_reward, ax_gain = fig.subplots(3, 1, sharex=True)
    spans = _rl_spans(run)  # one pass over the rows for the three panels
    for ax in (ax_loss, ax_reward, ax_gain):
        for first, last in spans:
            ax.axvspan(first, last, color="tab:orange", alpha=0.08, lw=0)
    for ax, column, name in ((ax_loss, "sft_loss", "observed"), (ax_reward, "reward", "observed (sampled)"),
                             (ax_reward, "pass_rate", "observed (exact pass rate)")):
        curve = _thinned(run[["step", column]].dropna())
        if len(curve):
            ax.plot(curve["step"], curve[column], ".", color="k" if column != "pass_rate" else "tab:blue", ms=3, label=name)
    labelled = set()

    def label(name):
        if name in labelled:
            return None
        labelled.add(name)
        return name

    for fit in fits.values():
        every = slice(None, None, max(1, len(fit["s"]) // MAX_PLOTTED))
        s = fit["s"][every]
        steps = fit["start_step"] + s
        if fit["phase"] == "sft":
            ax_loss.plot(steps, fit["fitted"][every], color="tab:blue", label=label("fit L∞ + ε₀ e^(−ks)"))
            continue
        ax_reward.plot(steps, fit["reward_fitted"][every], color="tab:green",
                       label=label("fit J∞ − Δ₀ e^(−2μs) (P1)"))
        ax_loss.plot(steps, fit["loss_fitted"][every], color="tab:red", label=label("fit under RL (P1 instance)"))
        if not fit.get("tau_extrapolated"):  # an extrapolated tau, far off the observed losses, would only squash them
            ax_loss.axhline(fit["tau"], color="tab:red", ls=":", label=label("P4 threshold τ (estimate)"))
        reward, loss = fit["reward"][every], fit["loss"][every]
        gain = (reward - fit["reward"][0]) - fit["lam"] * (loss - fit["loss"][0])
        ax_gain.plot(steps, gain, ".", color="k", ms=3, label=label("observed G"))
        curve = guaranteed_gain_curve(fit, s, fit["lam"])
        if curve is not None:
            ax_gain.plot(steps, curve, color="tab:purple", label=label("P3 g(t) from fitted constants"))
        if np.isfinite(fit["t_star"]):
            for ax in (ax_loss, ax_reward, ax_gain):
                ax.axvline(fit["start_step"] + fit["t_star"], color="tab:purple", ls="--", lw=1,
                           label=label("P3 optimal stop t*") if ax is ax_gain else None)
    if expert_pass_rate is not None:
        rl = run.loc[run["phase"] == "rl", ["stage", "step", "sft_loss", "reward", "pass_rate"]]
        for _stage, frame in rl.groupby("stage"):
            frame = _thinned(frame.dropna(subset=["sft_loss"]))
            if frame.empty:
                continue
            base = expert_entropy if expert_entropy is not None else frame["sft_loss"].iloc[0]
            terms = k1_terms(frame, expert_pass_rate=expert_pass_rate, expert_entropy=base)  # NaN where b is not a rate
            ax_loss.plot(frame["step"], base + terms["kl_a_b"], color="tab:gray", ls="--",
                         label=label("K1 bound H(p*) + kl(a‖b)"))
    ax_loss.set_ylabel("held-out SFT loss L (nats / response)")
    ax_reward.set_ylabel("mean reward J")
    ax_gain.set_ylabel("net gain G = ΔJ − λΔL")
    ax_gain.set_xlabel("optimizer step (RL stages shaded)")
    for ax in (ax_loss, ax_reward, ax_gain):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best")
    fig.subplots_adjust(**FIGURE_MARGINS)
    fig.savefig(path, dpi=110, format="png")


def write_report(run: pd.DataFrame, checks: list[Check], fits: dict, out_dir: str | Path, *, settings: dict, meta: dict) -> dict:
    """Write report.json, report.md and the figure into ``out_dir`` (all or nothing); return the report."""
    report = build_report(run, checks, settings=settings, meta=meta)
    figure = io.BytesIO()
    plot_run(run, fits, figure, expert_pass_rate=settings.get("expert_pass_rate"),
             expert_entropy=settings.get("expert_entropy"))
    publish({"report.json": (json.dumps(report, indent=2, allow_nan=False) + "\n").encode(),
             "report.md": render_markdown(report).encode(), FIGURE: figure.getvalue()}, Path(out_dir))
    return report


def check_out_dir(out_dir: Path) -> None:
    """``out_dir`` must be a folder we can create or write the report into: checked before anything is read."""
    existing = next((p for p in (out_dir, *out_dir.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise LogFormatError(out_dir, "--out", f"{existing} is a file, not a directory")
    for name in REPORT_FILES:
        if (out_dir / name).is_dir():
            raise LogFormatError(out_dir, "--out", f"{out_dir / name} is a directory; the report writes a file there")


def publish(contents: dict, out_dir: Path) -> None:
    """Write ``{name: bytes}`` into a staging folder beside ``out_dir``, then move it in at once.

    A new ``out_dir`` is the staging folder renamed (atomic). Into an existing one the files
    are moved one by one under an exclusive lock on the folder, so two runs writing the same
    ``--out`` leave the files of one of them, never a mix. A failure leaves no file behind.
    """
    out_dir = out_dir.absolute()
    anchor = next(p for p in out_dir.parents if p.exists())
    staging = anchor / f".{out_dir.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.partial"
    try:
        staging.mkdir()
        for name, data in contents.items():
            (staging / name).write_bytes(data)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        try:
            staging.rename(out_dir)  # fails if out_dir exists and is not empty (another run, or the user's folder)
            return
        except OSError:
            if not out_dir.is_dir():
                raise
        _move_into(staging, out_dir, contents)
    except OSError as error:
        raise LogFormatError(out_dir, "--out", f"cannot write the report: {error.strerror or error}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _move_into(staging: Path, out_dir: Path, names) -> None:
    """Replace the report's files in an existing folder, holding its lock (flock) against other runs."""
    handle = os.open(out_dir, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        check_out_dir(out_dir)
        for name in names:
            os.replace(staging / name, out_dir / name)
    finally:
        os.close(handle)  # releases the lock
