"""Theil-Sen's slope and Sen's interval without ``scipy.stats`` (whose import is a sixth of a check's time).

:func:`scipy.stats.theilslopes` builds the m x m difference matrices (4 m^2 floats: 128 MB
at m = 2000) and sorts every slope, and importing ``scipy.stats`` costs 0.5-1 s per
``nondecoupling check`` on the bridge's 2-core machines. This computes the same numbers
from the m (m - 1) / 2 pairs (32 MB at m = 2000) and picks the three order
statistics it needs with :func:`numpy.partition` (O(m^2), no sort). Tested against
``scipy.stats.theilslopes`` in ``tests/bridge/test_checks.py``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import special


def pairwise_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(y_j - y_i) / (x_j - x_i) over the pairs i < j with x_i != x_j, row i after row i - 1.

    >>> pairwise_slopes(np.array([0.0, 1.0, 1.0]), np.array([0.0, 2.0, 4.0])).tolist()
    [2.0, 4.0]
    """
    dx, dy = np.empty(x.size * (x.size - 1) // 2), np.empty(x.size * (x.size - 1) // 2)
    start = 0
    for i in range(x.size - 1):  # one row of pairs at a time: m numpy calls, no m x m temporaries
        end = start + x.size - 1 - i
        np.subtract(x[i + 1 :], x[i], out=dx[start:end])
        np.subtract(y[i + 1 :], y[i], out=dy[start:end])
        start = end
    distinct = dx != 0
    slopes = np.divide(dy, dx, out=dy, where=distinct)  # in place: 2 m^2 / 2 floats at the peak
    return slopes if distinct.all() else slopes[distinct]


def _tie_term(values: np.ndarray) -> float:
    """sum over groups of k equal values of k (k - 1) (2k + 5): the ties' share of Kendall's variance."""
    counts = np.unique(values, return_counts=True)[1].astype(float)
    return float(np.sum(counts * (counts - 1) * (2 * counts + 5)))


def theil_sen_slope(x: ArrayLike, y: ArrayLike, confidence: float = 0.95) -> tuple[float, float, float]:
    """(slope, low, high): the median pairwise slope and Sen's (1968) distribution-free interval.

    With N slopes, n points and sigma^2 = [n (n-1)(2n+5) - ties in x - ties in y] / 18 (Sen's
    eq. 2.6, Kendall's variance), the interval is the slopes of ranks round((N + z sigma)/2) - 1
    and round((N - z sigma)/2) (0-based, clipped), z = Phi^-1(alpha/2): as
    :func:`scipy.stats.theilslopes` computes it. NaN where all x are equal.

    >>> theil_sen_slope([0, 1, 2, 3], [0.0, 2.0, 4.0, 6.0])
    (2.0, 2.0, 2.0)
    """
    x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    slopes = pairwise_slopes(x, y)
    if not slopes.size:
        return float("nan"), float("nan"), float("nan")
    alpha = min(1.0 - confidence, confidence)
    z = float(special.ndtri(alpha / 2.0))
    sigma = np.sqrt(max(y.size * (y.size - 1) * (2 * y.size + 5) - _tie_term(x) - _tie_term(y), 0.0) / 18.0)
    high = min(int(np.round((slopes.size - z * sigma) / 2.0)), slopes.size - 1)
    low = max(int(np.round((slopes.size + z * sigma) / 2.0)) - 1, 0)
    middle = [(slopes.size - 1) // 2, slopes.size // 2]  # the median: mean of the two middle ranks
    slopes.partition(sorted({low, high, *middle}))  # in place: the slopes are this function's own
    return float(slopes[middle].mean()), float(slopes[low]), float(slopes[high])
