"""X1: interleaving SFT and RL on a quadratic pair.

Left: the (SFT excess, RL gap) plane with the Pareto front ``theta(w)``, the joint optima,
the sequential SFT-then-RL endpoint (the front's worst-SFT corner) and the alternating
cycles for several periods ``tau`` at one weight ``w``. Right: the alternating schedule's
distance from the joint flow, and the converged cycle's distance from ``argmin F_w``,
shrinking like ``tau`` (Lie-Trotter).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulations.checks import x1_interleaving as x1
from simulations.checks._common import random_pair
from simulations.plots import Drawn
from simulations.plots._style import REFERENCE, SIMULATION, THEORY_MARK, colours, panels

DIM = 3
PERIODS_PLANE = (1.0, 0.5, 0.25)  # in units of 1 / max(beta_sft, beta_rl)
LONG_TIME = 200.0
#: ``--quick``'s horizon: the flows have settled well before it (mu ~ 1 here; the cycles' points agree with
#: LONG_TIME's to 1e-15 relative) and the plane's alternating cycles are most of this module's time.
LONG_TIME_QUICK = 50.0


def _plane_panel(ax, problem, theta0, weights, long_time: float) -> pd.DataFrame:
    scale = 1.0 / max(float(np.max(problem.sft.beta)), float(np.max(problem.rl.beta)))
    periods = tuple(scale * np.array(PERIODS_PLANE))
    plane = x1.pareto_plane(problem, theta0, weights=weights, periods=periods, long_time=long_time)
    front, joints, sequential = plane["front"], plane["joint"], plane["sequential"]
    ax.plot(front[:, 0], front[:, 1], color="k", label="Pareto front $\\theta(w)$ (X1)", **SIMULATION)
    ax.plot(joints[:, 0], joints[:, 1], color="C0", marker="o", ls="none", ms=5, label="joint training $F_w$, end (simulated)")
    ax.plot(*sequential, color="C3", label="SFT then RL, end (simulated)", **dict(THEORY_MARK, marker="*", ms=14))
    rows = [pd.DataFrame({"series": "front", "weight": weights, "sft_excess": front[:, 0], "rl_gap": front[:, 1]}),
            pd.DataFrame({"series": "joint", "weight": weights, "sft_excess": joints[:, 0], "rl_gap": joints[:, 1]}),
            pd.DataFrame({"series": "sequential", "sft_excess": [sequential[0]], "rl_gap": [sequential[1]]})]
    # The cycles are O(tau) small: drawn in a zoom around argmin F_w.
    middle = joints[len(weights) // 2]
    zoom = ax.inset_axes([0.42, 0.42, 0.55, 0.55])
    zoom.plot(front[:, 0], front[:, 1], color="k", **SIMULATION)
    for tau, colour in zip(periods, colours(len(periods) + 2)[2:]):
        cycle = plane["alternating"][tau]
        for target in (ax, zoom):
            target.plot(cycle[:, 0], cycle[:, 1], color=colour, lw=1.6, label=f"alternating cycle, $\\tau$ = {tau:.2g}" if target is ax else None)
        rows.append(pd.DataFrame({"series": "alternating", "tau": tau, "weight": plane["weight"], "sft_excess": cycle[:, 0], "rl_gap": cycle[:, 1]}))
    for target in (ax, zoom):
        target.plot(*middle, color="C1", label=f"argmin $F_w$, $w$ = {plane['weight']:g}" if target is ax else None, **THEORY_MARK)
    corners = np.concatenate([plane["alternating"][tau] for tau in periods])
    span = np.ptp(corners, axis=0) * 0.15 + 1e-12
    zoom.set(xlim=(corners[:, 0].min() - span[0], corners[:, 0].max() + span[0]), ylim=(corners[:, 1].min() - span[1], corners[:, 1].max() + span[1]))
    zoom.tick_params(labelsize=7)
    ax.indicate_inset_zoom(zoom, edgecolor="0.4")
    ax.set(xlabel="SFT excess $\\epsilon = L - L^*$", ylabel="RL gap $\\Delta = J^* - J$", title="the (SFT, RL) plane")
    ax.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0.0, 0.02))
    return pd.concat(rows, ignore_index=True)


def _rate_panel(ax, problem, theta0, periods, weight: float) -> pd.DataFrame:
    scale = 1.0 / max(float(np.max(problem.sft.beta)), float(np.max(problem.rl.beta)))
    distances = x1.distance_to_joint(problem, theta0, weight=weight, periods=scale * periods, horizon=2.0)
    offsets = x1.cycle_offset(problem, weight=weight, periods=scale * periods)
    ax.plot(scale * periods, distances, color="C0", marker="o", label="alternating vs joint flow, max over $[0, 2]$", **SIMULATION)
    ax.plot(scale * periods, offsets, color="C2", marker="s", ms=9, mfc="none", mew=1.5, ls="none", label="converged cycle vs argmin $F_w$")
    reference = 2.0 * distances[0] * periods / periods[0]
    ax.plot(scale * periods, reference, label="slope 1: $O(\\tau)$ (X1)", **REFERENCE)
    ax.set(xscale="log", yscale="log", xlabel="period $\\tau$ of one SFT + RL cycle", ylabel="distance in $\\theta$",
           title=f"Lie-Trotter: $O(\\tau)$, $w$ = {weight:g}")
    ax.legend(fontsize=7.5, loc="lower right")
    return pd.DataFrame({"series": "rates", "tau": scale * periods, "distance_to_joint": distances, "cycle_offset": offsets,
                         "slope_distance": float(x1.fitted_slope(periods, distances)), "slope_offset": float(x1.fitted_slope(periods, offsets))})


def draw(rng: np.random.Generator, *, quick: bool) -> list[Drawn]:
    weights = np.linspace(0.0, 1.0, 11 if quick else 21)
    periods = np.geomspace(0.8, 0.05, 4 if quick else 7)
    long_time = LONG_TIME_QUICK if quick else LONG_TIME
    problem = random_pair(rng, "anisotropic", dim=DIM, batch=())
    theta0 = rng.standard_normal(DIM)
    fig, axes = panels(2, width=5.3, height=4.4)
    data = pd.concat([_plane_panel(axes[0, 0], problem, theta0, weights, long_time), _rate_panel(axes[0, 1], problem, theta0, periods, 0.5)], ignore_index=True)
    fig.suptitle("X1: alternating SFT and RL tracks joint training; sequential training ends at the worst-SFT corner")
    return [Drawn("x1_interleaving", ("X1",), fig, data,
                  "The (SFT excess, RL gap) plane of a quadratic pair: Pareto front, joint optima, the sequential endpoint at the worst-SFT corner, alternating cycles for three periods; and the O(tau) distance of alternation from joint training.",
                  dict(dim=DIM, weights=weights, periods_plane_over_beta=PERIODS_PLANE, periods_over_beta=periods, long_time=long_time, family="anisotropic"))]
