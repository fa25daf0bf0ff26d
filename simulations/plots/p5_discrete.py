"""P5: gradient descent on R with step ``eta`` against the RL flow (``t = eta k``).

Left: the SFT excess of GD for several step sizes next to the flow's, on a random
anisotropic pair. Middle: the RL gap with its discrete bound ``q^k Delta_0``. Right: on the
tight isotropic instance, the best number of steps (simulated argmax of the net gain and
``K*``), as RL time ``eta K``, approaching the continuous ``t*`` as ``eta -> 0``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nondecoupling import optimal_rl_duration
from simulations.checks import p5_discrete_time as p5
from simulations.checks._common import point_in, random_pair
from simulations.plots import Drawn
from simulations.plots._style import BOUND, SIMULATION, THEORY_MARK, colours, panels

ETA_FRACTIONS = (0.9, 0.5, 0.2, 0.05)  # of 2 / beta_rl
HORIZON = 4.0  # RL time in units of 1/mu_rl
LAM = 2.0


def _descent_panels(ax_sft, ax_gap, rng) -> pd.DataFrame:
    problem = random_pair(rng, "anisotropic", dim=4, batch=())
    theta0 = point_in(problem.sft.minimizers, rng)
    etas = [f * 2.0 / float(problem.rl.beta) for f in ETA_FRACTIONS]
    runs = p5.discrete_vs_continuous(problem, theta0, etas=etas, horizon=HORIZON / float(problem.rl.mu))
    flow = runs["flow"]
    ax_sft.plot(flow.times, flow.sft_excess, color="k", label="RL flow (continuous)", **SIMULATION)
    ax_gap.plot(flow.times, flow.rl_gap, color="k", label="RL flow", **SIMULATION)
    rows = [pd.DataFrame({"series": "flow", "eta": 0.0, "t": flow.times, "sft_excess": flow.sft_excess, "rl_gap": flow.rl_gap})]
    for eta, fraction, colour in zip(etas, ETA_FRACTIONS, colours(len(etas))):
        curves = runs[eta]
        times = eta * curves.steps
        style = dict(marker="o", ms=3.5, lw=1.2) if len(times) < 60 else dict(lw=1.6)
        label = f"GD $\\eta$ = {fraction:g}$\\cdot 2/\\beta_{{rl}}$"
        ax_sft.plot(times, curves.sft_excess, color=colour, label=label, **style)
        ax_sft.plot(times, curves.sft_upper, color=colour, **BOUND)
        ax_gap.plot(times, curves.rl_gap, color=colour, label=label, **style)
        ax_gap.plot(times, curves.rl_gap_bound, color=colour, **BOUND)
        rows.append(pd.DataFrame({"series": "gd", "eta": eta, "t": times, "sft_excess": curves.sft_excess, "rl_gap": curves.rl_gap,
                                  "sft_upper": curves.sft_upper, "rl_gap_bound": curves.rl_gap_bound, "q": float(curves.q)}))
    ax_sft.plot([], [], color="0.3", label="upper bound (P5)", **BOUND)
    ax_gap.plot([], [], color="0.3", label="$q^k \\Delta_0$ (P5)", **BOUND)
    ax_sft.set(xlabel="RL time $t = \\eta k$", ylabel="SFT excess $L(\\theta_k) - L^*$", yscale="log", title="SFT excess: GD vs flow")
    ax_sft.set_ylim(1e-3 * float(np.max(flow.sft_excess)), 3.0 * max(float(np.max(runs[e].sft_upper)) for e in etas))
    ax_gap.set(xlabel="RL time $t = \\eta k$", ylabel="RL gap $\\Delta_k = J^* - J(\\theta_k)$", yscale="log", title="RL gap and its contraction bound")
    ax_gap.set_ylim(1e-8 * float(flow.rl_gap[0]), 2.0 * float(flow.rl_gap[0]))
    ax_sft.legend(fontsize=7, loc="lower right")
    return pd.concat(rows, ignore_index=True)


def _steps_panel(ax, etas) -> pd.DataFrame:
    problem, theta0 = p5.tight_instance()
    constants = dict(lam=LAM, mu_rl=problem.rl.mu, beta_rl=problem.rl.beta, beta_sft=problem.sft.beta)
    t_star = float(optimal_rl_duration(**constants))
    simulated, bound = [], []
    for eta in etas:
        curves = p5.descent(problem, theta0, eta=eta, steps=int(np.ceil(3 * t_star / eta)) + 2, lam=LAM)
        simulated.append(eta * int(np.argmax(curves.net_gain)))
        bound.append(eta * float(curves.best_steps))
    ax.plot(etas, simulated, color="C0", marker="o", label="simulated best $\\eta k$", **SIMULATION)
    ax.plot(etas, bound, color="C3", label="$\\eta K^*$ (P5)", **BOUND)
    ax.axhline(t_star, color="k", marker="", lw=1.0, ls=":", label="$t^*$ (P3, continuous)")
    ax.plot(0.0, t_star, color="k", **THEORY_MARK)
    ax.set(xlabel="step size $\\eta$", ylabel="optimal RL time", title=f"tight instance: $\\eta K^* \\to t^*$ ($\\lambda$ = {LAM:g})")
    ax.legend(fontsize=7.5, loc="upper left")
    return pd.DataFrame({"series": "best_steps", "eta": etas, "simulated_best_time": simulated, "bound_best_time": bound, "t_star": t_star})


def draw(rng: np.random.Generator, *, quick: bool) -> list[Drawn]:
    fig, axes = panels(3, width=4.4, height=3.9)
    data = _descent_panels(axes[0, 0], axes[0, 1], rng)
    etas = np.linspace(0.01, 0.6, 8 if quick else 30)
    steps = _steps_panel(axes[0, 2], etas)
    fig.suptitle("P5: gradient descent with step $\\eta$ obeys the flow's bounds with $e^{-\\mu t} \\to q^{k/2}$")
    return [Drawn("p5_discrete", ("P5",), fig, pd.concat([data, steps], ignore_index=True),
                  "Gradient descent on R for four step sizes against the continuous RL flow: SFT excess and RL gap with P5's discrete bounds, and eta*K* approaching t* as eta -> 0.",
                  dict(eta_fractions_of_2_over_beta=ETA_FRACTIONS, horizon_over_mu_rl=HORIZON, lam=LAM, etas=etas))]
