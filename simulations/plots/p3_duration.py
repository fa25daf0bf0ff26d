"""P3: how long to run RL. Net gain ``G(t) = [J(theta_t) - J(theta_0)] - lam [L(theta_t) - L*]``
against the guarantee ``g(t)`` with ``t*`` and ``t_neg`` marked, and the simulated optimal
duration against ``t*`` over ``(lam, condition number of R)``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulations.checks import p3_optimal_rl_duration as p3
from simulations.checks._common import point_in, random_pair
from simulations.plots import Drawn
from simulations.plots._style import BOUND, SIMULATION, THEORY_MARK, colours, panels

LAMS = (0.25, 1.0, 3.0, 8.0)
HORIZON = 4.0  # in units of 1/mu_rl


def _net_gain_panel(ax, problem, theta0, *, family: str, points: int) -> list[pd.DataFrame]:
    times = np.linspace(0.0, HORIZON / float(np.min(problem.rl.mu)), points)
    rows = []
    for lam, colour in zip(LAMS, colours(len(LAMS))):
        curves = p3.net_gain(problem, theta0, times, lam=lam)
        gain, guaranteed = np.ravel(curves.gain), np.ravel(curves.guaranteed)
        t_star, t_neg = float(np.ravel(curves.t_star)[0]), float(np.ravel(curves.t_neg)[0])
        ax.plot(times, gain, color=colour, label=f"$\\lambda$ = {lam:g}", **SIMULATION)
        ax.plot(times, guaranteed, color=colour, **BOUND)
        at_star = p3.net_gain(problem, theta0, np.array([0.0, t_star]), lam=lam)
        ax.plot(t_star, float(np.ravel(at_star.guaranteed)[-1]), color=colour, **THEORY_MARK)
        if np.isfinite(t_neg) and t_neg <= times[-1]:
            ax.plot(t_neg, 0.0, color=colour, marker="X", ms=9, mec="k", mew=0.8, ls="none", zorder=5)
        rows.append(pd.DataFrame({"family": family, "lam": lam, "t": times, "net_gain": gain, "guaranteed": guaranteed, "t_star": t_star, "t_neg": t_neg}))
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xlabel("RL time $t$")
    return rows


def _legend_proxies(ax):
    ax.plot([], [], color="0.3", label="simulated $G(t)$", **SIMULATION)
    ax.plot([], [], color="0.3", label="guarantee $g(t)$ (P3)", **BOUND)
    ax.plot([], [], color="0.6", label="$t^*$ on $g$", **THEORY_MARK)
    ax.plot([], [], color="0.6", marker="X", ms=9, mec="k", ls="none", label="$t_{neg}$: $g < 0$ after")


def _net_gain_figure(rng: np.random.Generator, points: int):
    fig, axes = panels(2, width=5.4, height=4.2, sharey=False)
    tight, theta_tight = p3.tight_instance()
    rows = _net_gain_panel(axes[0, 0], tight, theta_tight, family="isotropic", points=points)
    problem = random_pair(rng, "anisotropic", dim=4, batch=())
    rows += _net_gain_panel(axes[0, 1], problem, point_in(problem.sft.minimizers, rng), family="anisotropic", points=points)
    axes[0, 0].set_title("isotropic (tight: $G = g$)")
    axes[0, 1].set_title("random anisotropic quadratics")
    axes[0, 1].set_xscale("symlog", linthresh=0.05)  # the optima sit at small t, the decline is long
    end = axes[0, 1].get_lines()[0].get_xdata()[-1]
    axes[0, 1].set_xticks([t for t in (0.0, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 50.0) if t <= end])
    axes[0, 1].xaxis.set_major_formatter("{x:g}")
    axes[0, 0].set_ylabel("net gain $G(t)$")
    first = axes[0, 0].legend(loc="lower left", title="weight on SFT")
    axes[0, 0].add_artist(first)
    _legend_proxies(axes[0, 1])
    axes[0, 1].legend(*[h[4:] for h in axes[0, 1].get_legend_handles_labels()], loc="lower left")
    for ax in axes[0]:
        low = min(line.get_ydata().min() for line in ax.get_lines() if len(line.get_ydata()) > 2)
        high = max(line.get_ydata().max() for line in ax.get_lines() if len(line.get_ydata()) > 2)
        ax.set_ylim(max(low, -1.2 * high), 1.15 * high)
    fig.suptitle("P3: stop RL at $t^*$: reward gain minus $\\lambda\\times$ SFT loss")
    return fig, pd.concat(rows, ignore_index=True)


def _phase_figure(lams, conditions):
    study = p3.argmax_study(lams, conditions)
    fig, axes = panels(2, width=5.4, height=4.2)
    left, right = axes[0]
    for j, (kappa, colour) in enumerate(zip(conditions, colours(len(conditions)))):
        left.plot(lams, study["t_sim"][:, j], color=colour, marker="o", label=f"$\\kappa$ = {kappa:g}", **SIMULATION)
        left.plot(lams, study["t_star"][:, j], color=colour, **BOUND)
    left.plot([], [], color="0.3", marker="o", label="simulated argmax $G$", **SIMULATION)
    left.plot([], [], color="0.3", label="$t^*$ (P3)", **BOUND)
    left.set(xscale="log", yscale="log", xlabel="SFT weight $\\lambda$", ylabel="optimal RL duration", title="$t^*$ vs simulated argmax")
    left.legend(ncols=2, fontsize=7.5)
    ratio = study["gain_at_t_star"] / study["gain_sim"]
    mesh = right.pcolormesh(np.arange(len(conditions) + 1), np.arange(len(lams) + 1), ratio, vmin=min(0.5, ratio.min()), vmax=1.0, cmap="viridis")
    for (i, j), value in np.ndenumerate(ratio):
        right.text(j + 0.5, i + 0.5, f"{value:.2f}", ha="center", va="center", fontsize=7.5, color="w" if value < 0.8 else "k")
    right.set_xticks(np.arange(len(conditions)) + 0.5, [f"{k:g}" for k in conditions])
    right.set_yticks(np.arange(len(lams)) + 0.5, [f"{lam:.2g}" for lam in lams])
    right.set(xlabel="condition number $\\kappa = \\beta_{rl}/\\mu_{rl}$", ylabel="SFT weight $\\lambda$", title="$G(t^*)$ / max$_t\\, G$")
    right.grid(False)
    fig.colorbar(mesh, ax=right, label="share of the best net gain that $t^*$ secures")
    fig.suptitle("P3 phase diagram: isotropic SFT, RL with curvatures $(\\mu_{rl}, \\kappa\\mu_{rl})$")
    grid_lam, grid_kappa = np.meshgrid(lams, conditions, indexing="ij")
    data = pd.DataFrame({"lam": grid_lam.ravel(), "kappa": grid_kappa.ravel(), **{k: v.ravel() for k, v in study.items()}})
    return fig, data


def draw(rng: np.random.Generator, *, quick: bool) -> list[Drawn]:
    points = 201 if quick else 601
    lams = np.geomspace(0.1, 10.0, 5 if quick else 9)
    conditions = np.array([1.0, 2.0, 4.0, 8.0] if quick else [1.0, 1.5, 2.0, 4.0, 8.0, 16.0])
    fig1, data1 = _net_gain_figure(rng, points)
    fig2, data2 = _phase_figure(lams, conditions)
    return [
        Drawn("p3_net_gain", ("P3",), fig1, data1,
              "Net gain G(t) of RL (solid) over its guarantee g(t) (dashed) for four SFT weights lam, with the optimal stop t* and the time t_neg after which g < 0.",
              dict(lams=LAMS, horizon_over_mu_rl=HORIZON, points=points, families=("isotropic", "anisotropic"))),
        Drawn("p3_phase", ("P3",), fig2, data2,
              "Simulated optimal RL duration against t* over (lam, condition number), and the share of the best net gain that stopping at t* secures.",
              dict(lams=lams, conditions=conditions, mu_rl=1.0, mu_sft=1.0, sep=1.0)),
    ]
