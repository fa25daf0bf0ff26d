"""The visual convention shared by every figure: simulation solid, bound dashed, tight or
theory-optimal points as markers, one colour per series (instance family, lam, eta, ...)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

SIMULATION = dict(ls="-", lw=2.0)
BOUND = dict(ls="--", lw=1.6)
LOWER = dict(ls="--", lw=1.6, color="C2")
UPPER = dict(ls="--", lw=1.6, color="C3")
THEORY_MARK = dict(marker="D", ms=7, mec="k", mew=0.8, ls="none", zorder=5)
REFERENCE = dict(color="0.45", lw=1.0, ls=":")


def panels(ncols: int, nrows: int = 1, *, width: float = 4.3, height: float = 3.6, **kwargs):
    """A figure of ``nrows x ncols`` panels of ``width x height`` inches each."""
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kwargs)
    return fig, axes


def diagonal(ax, low: float, high: float, label: str | None = "equality (tight)") -> None:
    """The line ``y = x`` over ``[low, high]``: where a bound meets the measurement."""
    ax.plot([low, high], [low, high], color="k", lw=1.0, ls="-", alpha=0.6, label=label, zorder=1)


def colours(n: int) -> list[str]:
    """``n`` colours from the style's cycle (``C0`` ...), for series of one panel."""
    return [f"C{i % 8}" for i in range(n)]


def log_limits(values, *, floor_fraction: float = 1e-4) -> tuple[float, float]:
    """Log-axis limits covering the positive ``values`` down to ``floor_fraction`` of the top."""
    positive = np.asarray(values, dtype=float)
    positive = positive[np.isfinite(positive) & (positive > 0)]
    top = float(positive.max())
    return max(float(positive.min()), floor_fraction * top) / 1.5, top * 1.5
