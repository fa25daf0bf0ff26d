"""P1 and P2: the coupled loss along one stage's flow between its lower and upper envelope.

P1: SFT excess ``L(theta_t) - L*`` along the RL flow from ``S_L`` (and the reward gain);
P2: reward loss ``J* - J(theta_t)`` along the SFT flow from ``S_R`` (and the SFT decrease).
Three families: the tight isotropic pair (simulation = both bounds), a random anisotropic
quadratic pair and the non-convex PL sine family.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulations.checks import p1_sft_then_rl, p2_rl_then_sft
from simulations.checks._common import point_in, random_pair
from simulations.plots import Drawn
from simulations.plots._style import LOWER, SIMULATION, UPPER, log_limits, panels

FAMILIES = ("isotropic", "anisotropic", "sine")
TITLES = {"isotropic": "isotropic quadratics (tight: bounds = simulation)", "anisotropic": "anisotropic quadratics", "sine": "sine PL family (non-convex)"}
HORIZON = 5.0  # in units of the flowed objective's 1/mu; times are log-spaced from 1e-3 of it


def _curves(check, family: str, rng: np.random.Generator, points: int):
    """One instance's curves on log-spaced times: the check's tight instance, or a random one
    started in the flowed stage's optimum set (as the check's ``random_envelopes`` does)."""
    if family == "isotropic":
        problem, theta0 = check.tight_instance()
    else:
        problem = random_pair(rng, family, dim=4, batch=())
        start_set = problem.sft if check is p1_sft_then_rl else problem.rl
        theta0 = point_in(start_set.minimizers, rng)
    rate = problem.rl.mu if check is p1_sft_then_rl else problem.sft.mu
    return check.envelope(problem, theta0, np.r_[0.0, np.geomspace(1e-3, HORIZON, points - 1)] / rate)


def _figure(check, rng, points: int, *, theorem: str, excess_label: str, progress_label: str, flow: str):
    fig, axes = panels(3, 2, width=4.2, height=3.3)
    rows = []
    for column, family in enumerate(FAMILIES):
        curves = _curves(check, family, rng, points)
        top, bottom = axes[0, column], axes[1, column]
        # On the tight instance the bounds coincide with the simulation: draw it as markers on them.
        simulation = dict(ls="none", marker="o", ms=5, mfc="none", mew=1.4, markevery=(0.02, 0.06), zorder=4) if family == "isotropic" else SIMULATION
        top.plot(curves.times, curves.excess, label="simulation", color="C0", **simulation)
        top.plot(curves.times, curves.upper, label=f"upper bound ({theorem})", **UPPER)
        top.plot(curves.times, curves.lower, label=f"lower bound ({theorem})", **LOWER)
        for ax in (top, bottom):
            ax.set_xscale("log")
        top.set_yscale("log")
        top.set_ylim(*log_limits(np.r_[curves.excess, curves.upper], floor_fraction=1e-3))
        top.set_title(TITLES[family])
        bottom.plot(curves.times, curves.progress, label="simulation", color="C0", **simulation)
        bottom.plot(curves.times, curves.progress_upper, label="upper bound", **UPPER)
        bottom.plot(curves.times, curves.progress_lower, label="lower bound", **LOWER)
        bottom.set_xlabel(f"{flow} time $t$")
        rows.append(pd.DataFrame({"family": family, **{k: np.asarray(v) for k, v in vars(curves).items()}}))
    axes[0, 0].set_ylabel(excess_label)
    axes[1, 0].set_ylabel(progress_label)
    axes[0, 0].legend(loc="lower right")
    axes[1, 0].legend(loc="lower right")
    return fig, pd.concat(rows, ignore_index=True)


def draw(rng: np.random.Generator, *, quick: bool) -> list[Drawn]:
    points = 201 if quick else 801
    fig1, data1 = _figure(
        p1_sft_then_rl, rng, points, theorem="P1", flow="RL",
        excess_label="SFT excess $L(\\theta_t) - L^*$", progress_label="reward gain $J(\\theta_t) - J(\\theta_0)$",
    )
    fig1.suptitle("P1: RL from the SFT optimum raises the SFT loss, inside its envelope")
    fig2, data2 = _figure(
        p2_rl_then_sft, rng, points, theorem="P2", flow="SFT",
        excess_label="reward loss $J^* - J(\\theta_t)$", progress_label="SFT decrease $L(\\theta_0) - L(\\theta_t)$",
    )
    fig2.suptitle("P2: SFT from the RL optimum lowers the reward, inside its envelope")
    parameters = dict(families=FAMILIES, dim=4, horizon_over_mu=HORIZON, points=points)
    return [
        Drawn("p1_sft_then_rl", ("P1",), fig1, data1,
              "SFT excess and reward gain along the RL flow from the SFT optimum, between P1's lower and upper envelopes, on three families (tight on isotropic quadratics).",
              parameters),
        Drawn("p2_rl_then_sft", ("P2",), fig2, data2,
              "Reward loss and SFT decrease along the SFT flow from the RL optimum, between P2's envelopes, on three families.",
              parameters),
    ]
