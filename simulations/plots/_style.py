"""The visual convention shared by every figure: simulation solid, bound dashed, tight or
theory-optimal points as markers, one colour per series (instance family, lam, eta, ...)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import ticker
from matplotlib.collections import LineCollection, PolyCollection, QuadMesh
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

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


#: ``--quick`` (a preview): drawn at screen resolution and without the constrained layout
#: engine, which measures every artist twice before the figure is drawn twice; see
#: :func:`preview`.
PREVIEW_STYLE = {"figure.dpi": 72, "savefig.dpi": 72, "figure.constrained_layout.use": False}

#: Fixed margins of a preview, inches: room for a two-line y label with its tick labels
#: (left, and between panels), an x label with tick labels (bottom, and between rows), an
#: axes title (top, and between rows), the suptitle and a colorbar's label.
PREVIEW_MARGINS = dict(left=0.95, right=0.3, bottom=0.6, top=0.4, suptitle=0.4, colorbar=0.6, wspace=1.0, hspace=0.95)


def preview(fig) -> None:
    """Make a figure drawn under :data:`PREVIEW_STYLE` cheap to render, same content.

    Log-axis tick labels become plain text (``1e-05``, not math text, which is parsed
    once per distinct label), log axes with at least two labelled decades lose their
    unlabelled minor ticks (each tick is a few artists), and fixed margins
    (:data:`PREVIEW_MARGINS`, plus the height of figure legends at the bottom) replace a
    measured layout.
    """
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() in ("log", "symlog"):
                _plain_log_ticks(axis)
    _fixed_margins(fig)


def _plain_log_ticks(axis) -> None:
    """``{value:g}`` labels; no minor ticks where the major ticks already label the axis."""
    axis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    low, high = sorted(axis.get_view_interval())
    labelled = [tick for tick in axis.get_majorticklocs() if low <= tick <= high]
    if axis.get_scale() == "log" and len(labelled) >= 2:  # below two decades minor ticks carry the labels
        axis.set_minor_locator(ticker.NullLocator())


def _fixed_margins(fig) -> None:
    """:data:`PREVIEW_MARGINS` as subplot parameters of the figure's grid of panels."""
    margin = PREVIEW_MARGINS
    width, height = fig.get_size_inches()
    grids = [ax.get_subplotspec().get_topmost_subplotspec().get_gridspec() for ax in fig.axes if ax.get_subplotspec()]
    if not grids:  # no panels on a grid: nothing to place
        return
    grid = grids[0]
    rows, columns = grid.get_geometry()
    legends = sum(legend.get_window_extent().height for legend in fig.legends) / fig.dpi
    bottom = margin["bottom"] + legends
    top = margin["top"] + (margin["suptitle"] if fig.get_suptitle() else 0.0)
    right = margin["right"] + (margin["colorbar"] if any(ax.get_label() == "<colorbar>" for ax in fig.axes) else 0.0)
    axes_width = (width - margin["left"] - right - (columns - 1) * margin["wspace"]) / columns
    axes_height = (height - bottom - top - (rows - 1) * margin["hspace"]) / rows
    fig.subplots_adjust(left=margin["left"] / width, right=1.0 - right / width, bottom=bottom / height, top=1.0 - top / height,
                        wspace=margin["wspace"] / axes_width, hspace=margin["hspace"] / axes_height)


#: Significant digits of every number a figure writes (CSV, manifest) or draws. The BLAS and
#: SIMD kernels of another machine move the figures' numbers by up to ~1e-8 relative (an
#: adaptive solver's step or an optimizer's last iteration), so 10 digits differed between
#: machines; 6 leave a hundredfold margin and are more than a figure shows.
DIGITS = 6


def significant(values, digits: int = DIGITS) -> np.ndarray:
    """``values`` rounded to ``digits`` significant digits, as ``%.{digits}g`` prints them.

    Through the decimal string (correctly rounded, no ``log10``), so that the drawn value is
    the written one.

    >>> significant([0.123456789, 98765432.1, -0.0, np.inf]).tolist()
    [0.123457, 98765400.0, -0.0, inf]
    """
    array = np.asarray(values, dtype=float)
    return np.array([float(f"{value:.{digits}g}") for value in array.ravel()]).reshape(array.shape)


def fixed_precision(fig) -> None:
    """Round everything ``fig`` draws from data to :data:`DIGITS` significant digits.

    Lines, spans, filled bands, line collections, meshes (values and colour limits) and every
    axes' (and inset's) data and view limits. Agg places vertices on a 1/256-pixel grid, so a
    relative change of 1e-8 (another machine's BLAS) moved some anti-aliased pixels; rounded,
    the pixels change only where a written number would.
    """
    every_axes = [*fig.axes, *(inset for ax in fig.axes for inset in ax.child_axes)]  # insets too
    for ax in every_axes:
        ax.dataLim.set_points(significant(ax.dataLim.get_points()))
        for artist in ax.get_children():
            _round_artist(artist)
    for ax in every_axes:  # after the data: autoscaled limits come from the rounded data limits
        ax.set_xlim(significant(ax.get_xlim()), auto=ax.get_autoscalex_on())
        ax.set_ylim(significant(ax.get_ylim()), auto=ax.get_autoscaley_on())


def _round_artist(artist) -> None:
    """Round one artist's data coordinates (and a mesh's values and colour limits) in place."""
    if isinstance(artist, Line2D) and np.asarray(artist.get_xdata()).dtype.kind in "fiu":
        artist.set_data(significant(artist.get_xdata()), significant(artist.get_ydata()))
    elif isinstance(artist, Rectangle):
        artist.set_bounds(*significant(artist.get_bbox().bounds))
    elif isinstance(artist, LineCollection):
        artist.set_segments([significant(segment) for segment in artist.get_segments()])
    elif isinstance(artist, QuadMesh):
        values = artist.get_array()
        artist.set_array(np.ma.array(significant(np.ma.getdata(values)), mask=np.ma.getmask(values)))
        artist.set_clim(*significant(artist.get_clim()))
    elif isinstance(artist, PolyCollection):
        for path in artist.get_paths():
            path.vertices = significant(path.vertices)
