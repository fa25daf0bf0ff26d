"""The figures of ``python simulations/sweep.py``: one module per theorem family.

Each module exposes ``draw(rng, *, quick) -> list[Drawn]`` (the real-run module also
``data_dir``) and computes only through
:mod:`simulations.checks`, :mod:`simulations.dynamics` and :mod:`nondecoupling` (the bounds and
the simulations live there; a module here only picks instances, lays out and labels).
A module with nothing to draw (no real-run logs yet) raises :class:`Skip`.

The modules and the figures each draws are :data:`MODULES`; which theorem IDs a figure shows is
the registry's :data:`simulations.theorems.EXPERIMENTS`, from which each module's
:attr:`Module.theorems` (what ``sweep.py --only`` selects it by) is read.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
from matplotlib.mathtext import MathTextParser

matplotlib.use("Agg")  # figures are only ever written to files, also in worker processes

# Every log-axis tick label and most axis labels are math text. matplotlib keeps the last 50
# parses (lru_cache(50)); a 6-panel figure measures (layout) and then draws more distinct
# strings than that, so each was parsed twice. A larger cache gives the same glyphs.
MathTextParser._parse_cached = functools.lru_cache(4096)(MathTextParser._parse_cached.__wrapped__)

import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from simulations.theorems import theorems_shown_by  # noqa: E402

#: The style sheet every figure is drawn under (``plt.style.context(STYLE)``).
STYLE = Path(__file__).resolve().parent.parent / "nondecoupling.mplstyle"


@dataclass(frozen=True)
class Module:
    """A figure module: its import path and the figure names it draws."""

    path: str
    figures: tuple
    reads_logs: bool = False  # its draw() takes ``data_dir``, the folder of real-run logs

    @property
    def theorems(self) -> tuple:
        """The THEORY.md IDs its figures show, as the theorem registry lists them."""
        return theorems_shown_by(self.figures)

    def names(self) -> set:
        """Everything ``--only`` may call it by, lower case."""
        return {name.lower() for name in (*self.theorems, *self.figures)}


#: Figure-module key -> :class:`Module`, in drawing order.
MODULES = {
    "a": Module("simulations.plots.a_onset", ("a1_coupling", "a2_onset")),
    "p1_p2": Module("simulations.plots.p1_p2_envelopes", ("p1_sft_then_rl", "p2_rl_then_sft")),
    "p3": Module("simulations.plots.p3_duration", ("p3_net_gain", "p3_phase")),
    "p4": Module("simulations.plots.p4_threshold", ("p4_threshold", "p4_crossing")),
    "p5": Module("simulations.plots.p5_discrete", ("p5_discrete",)),
    "k": Module("simulations.plots.k_policies", ("k1_k2_frontier", "k3_ceiling")),
    "s1": Module("simulations.plots.s1_spectral", ("s1_spectral",)),
    "x1": Module("simulations.plots.x1_interleaving", ("x1_interleaving",)),
    "v": Module("simulations.plots.v_paper", ("v1_c1_beta", "v3_reward_drop")),
    "real": Module("simulations.plots.real_runs", ("real_qwen3",), reads_logs=True),
    "cola": Module("simulations.plots.cola_runs", ("cola_protocol", "cola_beta", "cola_size", "cola_premises")),
    "v1": Module("simulations.plots.v1_convergence", ("v1_convergence", "v1_table")),
    "forgetting": Module("simulations.plots.forgetting_kl", ("forgetting_kl",)),
}


class Skip(Exception):
    """A figure module has nothing to draw; the message says why (not an error)."""


@dataclass
class Drawn:
    """One figure and the numbers behind it.

    Attributes
    ----------
    name : str
        File stem (``figures/<name>.png`` and ``figures/<name>.csv``).
    theorems : tuple of str
        THEORY.md IDs the figure shows.
    figure : matplotlib.figure.Figure
    data : pandas.DataFrame
        The plotted numbers, tidy (one row per plotted point), written next to the figure.
    shows : str
        One sentence: what a reader sees (the manifest's and the gallery's caption).
    parameters : dict
        The instance and grid parameters (JSON-serializable after :func:`jsonable`).
    """

    name: str
    theorems: tuple
    figure: Figure
    data: pd.DataFrame
    shows: str
    parameters: dict = field(default_factory=dict)
