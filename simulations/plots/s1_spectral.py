"""S1: spectral concentration of the RL gradient in the SFT Hessian's eigenbasis.

(a) the curvature ratio ``g^T H g / ||g||^2`` against its bracket, (b) the misalignment
``m = g^T H g / (||H g|| ||g||)`` against its lower bound and Kantorovich's, over random
spectra at several top-``k`` concentrations ``rho_k``, with the tight instances; (c) the
cosine between SFT's and RL's descent directions after an RL step ``eta`` tending to ``-m``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nondecoupling import curvature_bracket, misalignment_bound
from simulations.checks import a1_coupling_identity as a1
from simulations.checks import s1_spectral_concentration as s1
from simulations.plots import Drawn
from simulations.plots._style import BOUND, SIMULATION, THEORY_MARK, diagonal, panels

CONCENTRATIONS = (None, 0.5, 0.9, 0.99)
COLOURS = ("C0", "C1", "C2", "C4")  # C3 marks the tight instances


def _label(concentration) -> str:
    return "$\\rho_k$ random" if concentration is None else f"$\\rho_k$ = {concentration:g}"


def _tight_points():
    """S1's tight instances: (which, rho_k, measured, bound)."""
    out = []
    for eigenvalues, gradient, k, which in s1.tight_bracket():
        rho, curvature, m = s1.measure(eigenvalues, np.eye(eigenvalues.size), gradient, k)
        low, high = curvature_bracket(eigenvalues, rho, k)
        bound = {"bracket_lower": low, "bracket_upper": high, "misalignment": misalignment_bound(eigenvalues, rho, k)}[which]
        out.append((which, rho, m if which == "misalignment" else curvature, float(bound)))
    return out


def _random_panels(ax_bracket, ax_misalignment, rng, count: int) -> pd.DataFrame:
    rows = []
    for concentration, colour in zip(CONCENTRATIONS, COLOURS):
        measurement, inputs = s1.random_spectra(rng, count=count, concentration=concentration)
        # The bracket as ratios to the measured curvature: lower ends <= 1 <= upper ends.
        ax_bracket.plot(measurement.rho, measurement.bracket_upper / measurement.curvature, color=colour, marker="^", ls="none", ms=4, alpha=0.55)
        ax_bracket.plot(measurement.rho, measurement.bracket_lower / measurement.curvature, color=colour, marker="v", ls="none", ms=4, alpha=0.55, label=_label(concentration))
        ax_misalignment.plot(measurement.misalignment, measurement.misalignment_lower, color=colour, marker="o", ls="none", ms=4, alpha=0.55, label=_label(concentration))
        rows.append(pd.DataFrame({"series": "random", "concentration": np.nan if concentration is None else concentration, "k": inputs["k"],
                                  **{name: np.asarray(value) for name, value in vars(measurement).items()}}))
    measured, bound = s1.kantorovich_instances(rng, count=count // 4)
    ax_misalignment.plot(measured, bound, color="k", marker="s", mfc="none", ls="none", ms=4, alpha=0.7, label="Kantorovich (c), band-limited $g$")
    rows.append(pd.DataFrame({"series": "kantorovich", "misalignment": measured, "misalignment_lower": bound}))
    for which, rho, measured_value, bound_value in _tight_points():
        if which == "misalignment":
            ax_misalignment.plot(measured_value, bound_value, color="C3", label="tight instance", **THEORY_MARK)
        else:
            ax_bracket.plot(rho, bound_value / measured_value, color="C3", label="tight instance" if which == "bracket_lower" else None, **THEORY_MARK)
        rows.append(pd.DataFrame({"series": f"tight_{which}", "rho": [rho], "measured": [measured_value], "bound": [bound_value]}))
    ax_bracket.plot([], [], color="0.4", marker="^", ls="none", label="upper end / measured")
    ax_bracket.plot([], [], color="0.4", marker="v", ls="none", label="lower end / measured")
    ax_bracket.axhline(1.0, color="k", lw=1.0, alpha=0.6, label="bound = measured")
    diagonal(ax_misalignment, 0.0, 1.0, label="bound = measured")
    ax_bracket.set(yscale="log", xlabel="top-$k$ concentration $\\rho_k$ of $g$", ylabel="bracket end / measured $g^\\top H g / \\|g\\|^2$",
                   title="(a) curvature bracket", xlim=(0, 1.02))
    ax_bracket.set_ylim(max(ax_bracket.get_ylim()[0], 1e-3), None)
    ax_misalignment.set(xlabel="measured misalignment $m$", ylabel="lower bound on $m$ (S1 b, c)", title="(b, c) misalignment", xlim=(0, 1.02), ylim=(0, 1.02))
    ax_bracket.legend(fontsize=7, loc="lower left", ncols=2)
    ax_misalignment.legend(fontsize=7, loc="upper left")
    return pd.concat(rows, ignore_index=True)


def _cosine_panel(ax, rng) -> pd.DataFrame:
    problem, _, theta0 = a1.family_instances(rng)["log_linear"]
    etas = np.geomspace(1e-3, 3.0, 40)
    cosine = s1.descent_direction_cosine(problem.sft, problem.rl, theta0, etas)
    m = s1.misalignment_at(problem.sft, problem.rl, theta0)
    ax.plot(etas, cosine, color="C0", label="simulated cosine", **SIMULATION)
    ax.axhline(-m, color="C3", label="$-m$ at $\\theta_0$ (S1 b: limit $\\eta \\to 0$)", **BOUND)
    ax.set(xscale="log", xlabel="RL step size $\\eta$", ylabel="cos(SFT descent, RL descent)", title="(b) after one RL step $\\theta_0 - \\eta g$")
    ax.set_ylim(-1.0, min(0.0, float(np.max(cosine)) + 0.1))
    ax.legend(fontsize=7.5, loc="upper left", title="log-linear softmax policy", title_fontsize=7.5)
    return pd.DataFrame({"series": "descent_cosine", "eta": etas, "cosine": cosine, "minus_m": -m})


def draw(rng: np.random.Generator, *, quick: bool) -> list[Drawn]:
    count = 60 if quick else 200
    fig, axes = panels(3, width=4.4, height=4.1)
    data = _random_panels(axes[0, 0], axes[0, 1], rng, count)
    data = pd.concat([data, _cosine_panel(axes[0, 2], rng)], ignore_index=True)
    fig.suptitle("S1: the more the RL gradient concentrates in the top of SFT's spectrum, the more SFT undoes RL")
    return [Drawn("s1_spectral", ("S1",), fig, data,
                  "Curvature bracket (a) and misalignment bounds (b, c) against measured values over random spectra at several top-k concentrations, with tight instances; and the SFT/RL descent-direction cosine tending to -m.",
                  dict(concentrations=["random" if c is None else c for c in CONCENTRATIONS], spectra_per_level=count, dim=8))]
