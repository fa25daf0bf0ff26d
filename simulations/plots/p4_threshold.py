"""P4: the non-decoupling threshold ``tau = L* + (mu_sft/2) sep^2``.

Long RL runs from starts at every distance from ``S_L``: the SFT loss they end at against
the one they started from, both measured in units of ``tau - L*`` (so ``tau`` is 1 for
every instance); and the time after which RL has raised the SFT loss for good, simulated
against ``T_x``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulations.checks import p4_nondecoupling_threshold as p4
from simulations.checks._common import PL_FAMILIES, point_in, random_pair
from simulations.plots import Drawn
from simulations.plots._style import REFERENCE, SIMULATION, THEORY_MARK, colours, diagonal, panels

HORIZON = 40.0  # RL time in units of 1/mu_rl: the reward gap has decayed by e^{-80}
MARKERS = dict(zip(PL_FAMILIES, "osD^v"))


def _runs(rng: np.random.Generator, family: str, *, batch: int, points: int):
    """RL from ``S_L`` moved by ``radius`` in a random direction, ``radius`` log-uniform around ``sep``."""
    problem = random_pair(rng, family, dim=4, batch=batch)
    direction = rng.standard_normal((batch, 4))
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    radius = problem.sep * np.geomspace(0.05, 5.0, batch)[rng.permutation(batch)]
    theta0 = point_in(problem.sft.minimizers, rng) + radius[:, None] * direction
    run = p4.long_rl(problem, theta0, horizon=HORIZON / float(np.min(problem.rl.mu)), points=points)
    unit = run.threshold - problem.sft_min  # (mu_sft/2) sep^2
    return problem, run, unit


def _threshold_panel(ax, runs) -> pd.DataFrame:
    rows = []
    for (family, (problem, run, unit)), colour in zip(runs.items(), colours(len(runs))):
        start, final = (run.start_loss - problem.sft_min) / unit, (run.final_loss - problem.sft_min) / unit
        ax.plot(start, final, color=colour, marker=MARKERS[family], ls="none", alpha=0.8, label=family)
        rows.append(pd.DataFrame({"family": family, "start_over_unit": start, "final_over_unit": final,
                                  "start_loss": run.start_loss, "final_loss": run.final_loss, "tau": run.threshold,
                                  "sft_min": problem.sft_min, "inner_product": run.inner_product}))
    data = pd.concat(rows, ignore_index=True)
    low, high = 0.5 * data["start_over_unit"].min(), 2.0 * data["start_over_unit"].max()
    ax.axhline(1.0, color="k", ls="--", lw=1.6, label="$\\tau$: bound on $\\liminf L$ (P4 i)")
    diagonal(ax, low, high, label="end = start")
    ax.axvspan(low, 1.0, color="C3", alpha=0.07, lw=0, label="$L(\\theta_0) < \\tau$: RL can only raise $L$")
    ax.set(xscale="log", yscale="log", xlim=(low, high),
           xlabel="start $(L(\\theta_0) - L^*)\\,/\\,(\\tau - L^*)$", ylabel="after long RL $(L(\\theta_\\infty) - L^*)\\,/\\,(\\tau - L^*)$",
           title="where RL leaves the SFT loss")
    ax.legend(fontsize=7.5, loc="lower right")
    return data


def _crossing_panels(ax_scatter, ax_tight, rng, *, batch: int, points: int) -> pd.DataFrame:
    rows = []
    for family, colour in zip(PL_FAMILIES, colours(len(PL_FAMILIES))):
        run = p4.random_below_threshold(family, int(rng.integers(2**31)), batch=batch, horizon=HORIZON)
        simulated, bound = run.simulated_crossing(), run.crossing_bound
        ax_scatter.plot(bound, simulated, color=colour, marker=MARKERS[family], ls="none", alpha=0.8, label=family)
        rows.append(pd.DataFrame({"family": family, "crossing_bound": bound, "simulated_crossing": simulated}))
    problem, theta0 = p4.tight_instance()
    tight = p4.long_rl(problem, theta0, horizon=12.0 / float(problem.rl.mu), points=points)
    crossing = float(tight.simulated_crossing())
    ax_scatter.plot(float(tight.crossing_bound), crossing, color="k", label="tight instance", **THEORY_MARK)
    top = max(max(float(np.max(r["crossing_bound"])) for r in rows), float(tight.crossing_bound)) * 1.05
    diagonal(ax_scatter, 0.0, top, label="simulated = $T_x$")
    # Crossing times span decades and are 0 where L never dips below its start.
    ax_scatter.set_xscale("symlog", linthresh=0.1)
    ax_scatter.set_yscale("symlog", linthresh=0.1)
    ax_scatter.set(xlabel="crossing time bound $T_x$ (P4 ii)", ylabel="simulated: $L$ above $L(\\theta_0)$ after",
                   title="RL raises $L$ for good by $T_x$")
    ax_scatter.legend(fontsize=7.5, loc="upper left")
    ax_tight.plot(tight.times, tight.sft_path, color="C0", label="simulated $L(\\theta_t)$", **SIMULATION)
    ax_tight.axhline(float(tight.start_loss), label="$L(\\theta_0)$", **REFERENCE)
    ax_tight.axhline(float(tight.threshold), color="k", ls="--", lw=1.6, label="$\\tau$ (P4)")
    ax_tight.axvline(float(tight.crossing_bound), color="C3", ls="--", lw=1.6, label="$T_x$ (P4)")
    ax_tight.plot(crossing, float(tight.start_loss), color="C0", label="simulated crossing", **THEORY_MARK)
    ax_tight.set(xlabel="RL time $t$", ylabel="SFT loss $L(\\theta_t)$", title="tight instance: dip, cross at $T_x$, end at $\\tau$")
    ax_tight.legend(fontsize=7.5, loc="center right")
    rows.append(pd.DataFrame({"family": "tight", "crossing_bound": [float(tight.crossing_bound)], "simulated_crossing": [crossing]}))
    curve = pd.DataFrame({"family": "tight_curve", "t": tight.times, "sft_loss": tight.sft_path})
    return pd.concat([*rows, curve], ignore_index=True)


def draw(rng: np.random.Generator, *, quick: bool) -> list[Drawn]:
    batch, points = (8, 801) if quick else (24, 2001)
    fig1, axes1 = panels(1, width=5.6, height=4.6)
    runs = {family: _runs(rng, family, batch=batch, points=points) for family in PL_FAMILIES}
    data1 = _threshold_panel(axes1[0, 0], runs)
    fig1.suptitle("P4: RL ends at or above $\\tau$; it lowers $L$ only from above $\\tau$")
    fig2, axes2 = panels(2, width=5.0, height=4.2)
    data2 = _crossing_panels(axes2[0, 0], axes2[0, 1], rng, batch=batch, points=4 * points)
    fig2.suptitle("P4: below the threshold, RL raises the SFT loss for good after at most $T_x$")
    parameters = dict(families=PL_FAMILIES, dim=4, batch=batch, horizon_over_mu_rl=HORIZON, points=points)
    return [
        Drawn("p4_threshold", ("P4",), fig1, data1,
              "SFT loss after long RL against the starting SFT loss, in units of tau - L*: every run ends at or above tau, and only runs started above tau end lower than they started.",
              parameters),
        Drawn("p4_crossing", ("P4",), fig2, data2,
              "Time after which RL has raised the SFT loss for good, simulated vs the bound T_x (at or below the diagonal), and the tight instance's dip, crossing at T_x and limit tau.",
              parameters),
    ]
