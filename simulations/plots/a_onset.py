"""A1 and A2: the local coupling.

``a1_coupling``: finite-difference rates of the simulated flows at random starts against
``<grad L, grad R>``: ``dL/dt`` along RL is ``-<,>`` and ``dJ/dt`` along SFT is ``+<,>``.
``a2_onset``: from ``S_L``, ``L(theta_t) - L*`` along the RL flow on log-log axes against
the onset ``(t^2/2) g^T H g``, for every family.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulations.checks import a1_coupling_identity as a1
from simulations.checks import a2_second_order_onset as a2
from simulations.dynamics import rl_flow
from simulations.plots import Drawn
from simulations.plots._style import BOUND, SIMULATION, colours, diagonal, panels


def _coupling_figure(instances) -> tuple:
    fig, axes = panels(2, width=4.8, height=4.3)
    rows = []
    for (family, (problem, theta0, _)), colour in zip(instances.items(), colours(len(instances))):
        rates = a1.coupling_rates(problem, theta0)
        inner = np.ravel(rates.inner_product)
        axes[0, 0].plot(-inner, np.ravel(rates.sft_rate_under_rl), color=colour, marker="o", ls="none", alpha=0.8, label=family)
        axes[0, 1].plot(inner, np.ravel(rates.reward_rate_under_sft), color=colour, marker="o", ls="none", alpha=0.8, label=family)
        rows.append(pd.DataFrame({"family": family, "inner_product": inner, "sft_rate_under_rl": np.ravel(rates.sft_rate_under_rl),
                                  "reward_rate_under_sft": np.ravel(rates.reward_rate_under_sft)}))
    data = pd.concat(rows, ignore_index=True)
    top = float(np.max(np.abs(data["inner_product"]))) * 1.1
    for ax in axes[0]:
        diagonal(ax, -top, top, label="A1 identity")
        ax.set_xscale("symlog", linthresh=0.1)
        ax.set_yscale("symlog", linthresh=0.1)
        ax.axhline(0.0, color="0.5", lw=0.8)
        ax.axvline(0.0, color="0.5", lw=0.8)
    axes[0, 0].set(xlabel="$-\\langle \\nabla L, \\nabla R \\rangle$", ylabel="simulated $dL/dt$ along the RL flow", title="RL changes the SFT loss")
    axes[0, 1].set(xlabel="$\\langle \\nabla L, \\nabla R \\rangle$", ylabel="simulated $dJ/dt$ along the SFT flow", title="SFT changes the reward")
    axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.suptitle("A1: RL raises the SFT loss exactly when SFT lowers the reward ($\\langle \\nabla L, \\nabla R\\rangle < 0$)")
    return fig, data


def _onset_figure(instances, points: int) -> tuple:
    fig, axes = panels(1, width=6.0, height=4.6)
    ax = axes[0, 0]
    rows = []
    for (family, (problem, _, theta_in_sft_set)), colour in zip(instances.items(), colours(len(instances))):
        scale = max([1.0, *(float(np.max(f.beta)) for f in (problem.sft, problem.rl) if f.beta is not None)])
        times = np.geomspace(1e-3, 10.0, points) / scale
        run = rl_flow(problem, theta_in_sft_set, np.r_[0.0, times])
        excess = np.asarray(run.sft_excess)[1:].reshape(times.size, -1)[:, 0]
        coefficient = float(np.ravel(a2.onset(problem, theta_in_sft_set).predicted_coefficient)[0])
        ax.plot(times, excess, color=colour, label=family, **SIMULATION)
        ax.plot(times, coefficient * times**2, color=colour, **BOUND)
        rows.append(pd.DataFrame({"family": family, "t": times, "sft_excess": excess, "onset": coefficient * times**2, "half_gHg": coefficient}))
    ax.plot([], [], color="0.3", label="simulated $L(\\theta_t) - L^*$", **SIMULATION)
    ax.plot([], [], color="0.3", label="onset $\\frac{t^2}{2} g^\\top H g$ (A2)", **BOUND)
    data = pd.concat(rows, ignore_index=True)
    positive = data["sft_excess"][data["sft_excess"] > 0]
    ax.set(xscale="log", yscale="log", xlabel="RL time $t$ (from $\\theta_0 \\in S_L$)", ylabel="SFT excess $L(\\theta_t) - L^*$",
           ylim=(float(positive.min()) / 3, float(positive.max()) * 3), title="every family starts quadratically in $t$")
    ax.legend(fontsize=7, loc="lower right", ncols=2)
    fig.suptitle("A2: RL's first effect on the SFT loss is second order")
    return fig, data


def draw(rng: np.random.Generator, *, quick: bool) -> list[Drawn]:
    instances = a1.family_instances(rng, batch=4 if quick else 12)
    points = 60 if quick else 160
    fig1, data1 = _coupling_figure(instances)
    fig2, data2 = _onset_figure(instances, points)
    families = list(instances)
    return [
        Drawn("a1_coupling", ("A1",), fig1, data1,
              "Finite-difference rates of simulated flows at random starts against <grad L, grad R>: dL/dt along RL equals -<,>, dJ/dt along SFT equals +<,>, on every family.",
              dict(families=families, batch=4 if quick else 12, dim=4, stencil_step=1e-3)),
        Drawn("a2_onset", ("A2",), fig2, data2,
              "SFT excess along the RL flow from the SFT optimum (log-log) against the onset t^2 g^T H g / 2 (dashed): quadratic in t on every family until the curvature saturates.",
              dict(families=families, times_over_beta=(1e-3, 10.0), points=points)),
    ]
