"""Estimators behind the bridge's verdicts (no torch): trend tests, rate fits, bootstrap, K1 terms.

Trend tests (A1, P3's reward rise, P4's loss trend, X1): :func:`stage_trend`. The start
level is a block of the previous stage's settled last points and the stage's start
(:func:`start_window`); the statistic is the smaller of two p-values, the isotonic likelihood
ratio's of a monotone change in either direction, any shape (:func:`isotonic_contrast`), and
the straight line's (:func:`line_contrast`), the start block's own spread in their noise
scale; its null (:func:`null_contrast`, :func:`combined_p_values`) is simulated for
stationary Gaussian AR(1) noise with coefficient :data:`MAX_AUTOCORRELATION` from the exact
covariance of block means, so a decisive verdict has probability
at most alpha on such noise at every stage length. Calibration and power are measured by
``benchmarks/trend_power.py`` (table in docs/checking.md). The Theil-Sen slope is reported
as an effect size only (on a random subsample of at most :data:`MAX_SLOPE_POINTS` points).

Rates. In the tight instance of P1/P3 (isotropic quadratics L = (mu_sft/2)|theta - a|^2,
R = (mu_rl/2)|theta - b|^2, RL started at theta_0), RL's reward and SFT loss are, with
s the steps since the RL stage began and m = mu_rl per step,

    J(s) = J_inf - Delta_0 e^{-2 m s},
    L(s) = tau + B_1 e^{-m s} + B_2 e^{-2 m s},    tau = L* + (mu_sft/2) sep^2,

and from the SFT optimum L(s) = L_0 + A (1 - e^{-m s})^2 with A = (mu_sft/mu_rl) Delta_0.
The reward-gap rate k = 2m is fitted to the reward, then (tau, B_1, B_2) to the SFT loss
by least squares. For non-isotropic losses P1 only brackets the rates, so these are
ESTIMATES of effective constants; their intervals are from a residual bootstrap. Stages
longer than :data:`MAX_FIT_POINTS` are fitted on equal-count bin means (same curve, less
noise), so a fit costs O(n) however long the log.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import optimize, special
from tqdm.auto import tqdm

import nondecoupling
from nondecoupling.bridge.logs.null_cache import disk_cached
from nondecoupling.bridge.logs.robust import theil_sen_slope

if TYPE_CHECKING:
    from nondecoupling._typing import Numbers

MAX_SLOPE_POINTS = 2000  # Theil-Sen on at most this many points: <= 2e6 pairs (16 MB)
MAX_FIT_POINTS = 1000  # longer stages are fitted on this many bin means


# ---------------------------------------------------------------- trend tests

MAX_TREND_BLOCKS = 200  # longer stages are tested on this many block means
#: Rows per call of the batched isotonic fit (:func:`isotonic_contrasts`): a null's 4000 rows of 200 blocks in
#: chunks whose temporaries stay in the cache, not 6 MB arrays the kernel hands out fresh for every one.
ISOTONIC_ROWS = 256
NULL_DRAWS = 4000  # Monte Carlo draws of the null distribution (p-values >= 1/4001)
MAX_AUTOCORRELATION = 0.5  # the AR(1) coefficient the null is calibrated for (logged losses: ~0.5)
MAX_START_POINTS = 200  # the start block: at most this many points (drawn one by one in the null)
#: The whole end of the previous stage is used only when its flatness check sees at least this many
#: points: on fewer it cannot reject (3 rising points are a monotone run of AR(1) noise ~30% of the
#: time), so a previous stage still moving would pass; shorter ends use their last half only.
MIN_CHECKED_POINTS = 8


def block_sizes(n_values: int, start_points: int = 1, max_blocks: int = MAX_TREND_BLOCKS) -> tuple[int, ...]:
    """Sizes of the blocks a trend test compares: the start block, then the stage in equal-count blocks.

    The first ``start_points`` values (the previous stage's last points and the stage's start)
    are one block, the start level; the rest are single points, or equal-count blocks when
    there are more than ``max_blocks - 1`` of them.

    >>> block_sizes(6, start_points=3)
    (3, 1, 1, 1)
    >>> block_sizes(10, max_blocks=4)
    (1, 3, 3, 3)
    """
    rest = n_values - start_points
    if rest <= max_blocks - 1:
        return (start_points,) + (1,) * rest
    edges = np.linspace(0, rest, max_blocks, dtype=np.int64)
    return (start_points, *np.diff(edges).tolist())


def ar1_block_covariance(sizes: Numbers, rho: float) -> np.ndarray:
    """Covariance of the block means of a stationary AR(1) series with unit variance.

    With g(m) = (1 - rho^m) / (1 - rho), blocks k < l of sizes m_k, m_l, the last point of k
    and the first of l d apart: Cov = g(m_k) g(m_l) rho^d / (m_k m_l); Var of a block mean is
    [m (1 + rho)/(1 - rho) - 2 rho g(m) / (1 - rho)] / m^2 (1 for m = 1, 1/m for rho = 0).

    >>> ar1_block_covariance([1, 1, 1], 0.5)[0].tolist()
    [1.0, 0.5, 0.25]
    """
    sizes = np.asarray(sizes, float)
    ends = np.cumsum(sizes) - 1.0
    starts = ends - sizes + 1.0
    gain = sizes if rho == 0 else (1.0 - rho**sizes) / (1.0 - rho)
    gap = starts[None, :] - ends[:, None]  # [k, l], k < l: first point of l minus last point of k (> 0)
    gap = np.maximum(np.maximum(gap, gap.T), 0.0)  # 0 on the diagonal, filled below
    cov = np.outer(gain, gain) * float(rho) ** gap / np.outer(sizes, sizes)
    variance = (sizes * (1 + rho) / (1 - rho) - 2 * rho * gain / (1 - rho)) / sizes**2
    np.fill_diagonal(cov, variance)
    return cov


def ar1_block_draws(sizes: Numbers, rho: float, draws: int, rng: np.random.Generator) -> np.ndarray:
    """Block means of ``draws`` stationary unit-variance Gaussian AR(1) series: a (draws, blocks) array.

    Exact, in O(draws x blocks) (the dense Cholesky factor of :func:`ar1_block_covariance` costs
    O(draws x blocks^2) and most of a null's simulation at 400 blocks). The series is Markov in
    its last point: given the last point x of the previous block, a block of m points has
    sum rho (1 - rho^m) / (1 - rho) x + S and last point rho^m x + U, where (S, U) are the sum
    and last point of the AR(1) noise started at 0 inside the block, a Gaussian pair with
    Var S = sigma^2 sum_k g_k^2, Cov(S, U) = sigma^2 sum_k g_k rho^(k-1), Var U = 1 - rho^(2m)
    (sigma^2 = 1 - rho^2, g_k = (1 - rho^k) / (1 - rho), k = 1..m); the first block starts from
    x ~ N(0, 1). Their covariance is :func:`ar1_block_covariance`'s (tests/bridge/test_checks.py).

    >>> ar1_block_draws([1, 3, 2], 0.5, draws=4, rng=np.random.default_rng(0)).shape
    (4, 3)
    """
    sizes = np.asarray(sizes, np.int64)
    variance = 1.0 - rho * rho
    factors = {}
    for m in np.unique(sizes).tolist():  # two distinct sizes in an equal-count layout
        k = np.arange(1, m + 1, dtype=float)
        gain = (1.0 - rho**k) / (1.0 - rho)
        var_sum, covariance = variance * (gain @ gain), variance * (gain @ rho ** (k - 1))
        lower = covariance / math.sqrt(var_sum)
        factors[m] = (math.sqrt(var_sum), lower, math.sqrt(max(1.0 - rho ** (2 * m) - lower * lower, 0.0)),
                      rho * float(gain[-1]), rho**m)
    # One normal per block and a second one per block of more than one point (a single point's sum is its last
    # point): the normals are most of the time, a third of them saved where the start block's points come one by one.
    multiple = np.cumsum(sizes > 1)
    normals = rng.standard_normal((1 + sizes.size + int(multiple[-1]), draws))
    last, means = normals[0], np.empty((sizes.size, draws))
    for block, m in enumerate(sizes.tolist()):
        sum_sd, lower, upper, carry_sum, carry_last = factors[m]
        first = normals[1 + block]
        means[block] = (carry_sum * last + sum_sd * first) / m
        last = carry_last * last + lower * first
        if m > 1:
            last += upper * normals[sizes.size + multiple[block]]
    return means.T


def isotonic_contrast(means: Numbers, sizes: Numbers, within: float = 0.0) -> tuple[float, float, float, float]:
    """(E_up, E_down, change_up, change_down): how much a monotone fit explains, and its net change.

    E_d = (RSS_0 - RSS_d) / (RSS_0 + W), RSS_d the residual sum of squares of the weighted
    isotonic fit (:func:`scipy.optimize.isotonic_regression`, pool-adjacent-violators) of the
    block means in direction d, RSS_0 that of their weighted mean, W (``within``) the sum of
    squares within the blocks that are known to sit at one level (the start block): with W = 0
    the likelihood-ratio statistic of a monotone trend against none under Gaussian noise of
    unknown variance (Barlow et al., the E-bar^2 test); W adds the start block's own spread,
    pure noise, to the scale. Location- and scale-free; 0 for a constant series.
    change_d = last - first fitted level. One series of :func:`isotonic_contrasts`.

    >>> isotonic_contrast([0.0, 1.0, 2.0], [1, 1, 1])
    (1.0, 0.0, 2.0, 0.0)
    >>> isotonic_contrast([0.0, 1.0, 2.0], [1, 1, 1], within=2.0)[0]
    0.5
    """
    up, down, change_up, change_down = isotonic_contrasts(np.asarray(means, float)[None, :], sizes, [within])
    return float(up[0]), float(down[0]), float(change_up[0]), float(change_down[0])


def isotonic_contrasts(means: np.ndarray, sizes: Numbers, within: Numbers) -> tuple[np.ndarray, ...]:
    """:func:`isotonic_contrast` of every row of ``means`` (``within`` per row): four arrays, one value per row.

    One call of :func:`scipy.optimize.isotonic_regression` per direction for every
    :data:`ISOTONIC_ROWS` rows (a null's 4000 series in a few milliseconds instead of a
    second): the rows are laid end to end, row r raised (for the decreasing fit: lowered) by
    r times more than the rows' whole range, so that every value of a row lies beyond every
    level of the rows before it and pool-adjacent-violators never pools across rows (rows all
    of one value need no gap); it fits each row as on its own (to roundoff of the offsets,
    ~1e-13 of the rows' range; a single row is not shifted).

    >>> up, down, change_up, change_down = isotonic_contrasts(np.array([[0.0, 1.0, 2.0], [2.0, 0.0, 1.0]]), [1, 1, 1], [0.0, 0.0])
    >>> up.tolist(), down.tolist(), change_down.tolist()
    ([1.0, 0.0], [0.0, 0.75], [0.0, -1.5])
    """
    means, sizes = np.atleast_2d(np.asarray(means, float)), np.asarray(sizes, float)
    within = np.broadcast_to(np.asarray(within, float), means.shape[:1])
    step = 2.0 * float(np.ptp(means)) if means.shape[0] > 1 else 0.0  # relative to the data; one row as it is (NaN, inf)
    parts = [_isotonic_rows(means[start : start + ISOTONIC_ROWS], sizes, within[start : start + ISOTONIC_ROWS], step)
             for start in range(0, means.shape[0], ISOTONIC_ROWS)]
    return tuple(np.concatenate(column) for column in zip(*parts))


def _isotonic_rows(means: np.ndarray, sizes: np.ndarray, within: np.ndarray, step: float) -> tuple[np.ndarray, ...]:
    """:func:`isotonic_contrasts` of a few rows, each offset by ``step`` from the last."""
    centred = means - np.expand_dims(means @ sizes / sizes.sum(), -1)
    rss0 = centred**2 @ sizes
    moving = rss0 > 1e-24 * (means**2 @ sizes)  # a constant curve up to roundoff explains nothing
    offsets = np.arange(means.shape[0])[:, None] * step
    weights = np.tile(sizes, means.shape[0])
    result = []
    for sign in (1.0, -1.0):  # increasing; decreasing, each row below the one before
        fit = optimize.isotonic_regression((means + sign * offsets).ravel(), weights=weights, increasing=sign > 0)
        fit = fit.x.reshape(means.shape) - sign * offsets
        explained = np.maximum(0.0, rss0 - (means - fit) ** 2 @ sizes)
        share = np.divide(explained, rss0 + within, out=np.zeros_like(rss0), where=moving)
        result.append((share, np.where(moving, fit[:, -1] - fit[:, 0], 0.0)))
    return result[0][0], result[1][0], result[0][1], result[1][1]


def line_contrast(means: Numbers, sizes: Numbers, within: Numbers | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(L_up, L_down): how much a straight line explains, given to the direction of its slope.

    The start block sits at position 0, block k of the stage at the mean position of its
    points (the stage's own points are 1..n). With x, y the ``sizes``-weighted centred
    positions and means, S_xy = sum w x y, S_xx = sum w x^2:
    L = S_xy^2 / S_xx / (RSS_0 + W), the share of :func:`isotonic_contrast`'s denominator that
    the least-squares line explains: its likelihood-ratio statistic against no change, the
    most powerful test of a linear drift in white noise. L_up = L where S_xy > 0, else 0;
    L_down likewise. Rows of a 2-D ``means`` (``within`` per row) are separate series.

    >>> [float(share) for share in line_contrast([0.0, 1.0, 2.0], [1, 1, 1])]
    [1.0, 0.0]
    >>> [float(share) for share in line_contrast([[0.0, 2.0, 1.0], [1.0, 1.0, 1.0]], [1, 1, 1])[0]]
    [0.25, 0.0]
    """
    means, sizes = np.asarray(means, float), np.asarray(sizes, float)
    ends = np.cumsum(sizes) - sizes[0]  # the stage's own points are 1..n, the start block at 0
    position = np.where(np.arange(sizes.size) == 0, 0.0, ends - (sizes - 1.0) / 2.0)
    x = position - (sizes @ position) / sizes.sum()
    centred = means - np.expand_dims(means @ sizes / sizes.sum(), -1)
    rss0, s_xy = centred**2 @ sizes, centred @ (sizes * x)
    moving = rss0 > 1e-24 * (means**2 @ sizes)  # as isotonic_contrast: a constant curve up to roundoff explains nothing
    share = np.divide(s_xy**2 / (sizes @ x**2), rss0 + np.asarray(within, float), out=np.zeros_like(rss0), where=moving)
    return np.where(s_xy > 0, share, 0.0), np.where(s_xy < 0, share, 0.0)


def start_block_statistics(values: Numbers, sizes: Numbers) -> tuple[np.ndarray, float]:
    """Block means of ``values`` (start block first) and W, the sum of squares within the start block."""
    start = np.asarray(values, float)[: int(sizes[0])]
    return block_means(values, sizes), float(np.sum((start - start.mean()) ** 2))


def tail_p_values(null: np.ndarray, observed: Numbers, *, members: bool = False) -> np.ndarray:
    """Monte Carlo p-values (1 + #{null >= observed}) / (draws + 1) against a sorted null sample.

    ``members``: the observed values are the null's own draws, each counted once already
    (#{null >= observed} / (draws + 1)), so that a null draw and a new observation are
    ranked alike: a null of p-values built with the 1 left in would sit 1/(draws + 1) high.

    >>> tail_p_values(np.array([1.0, 2.0, 3.0]), [2.0, 4.0]).tolist()
    [0.75, 0.25]
    """
    count = null.size - np.searchsorted(null, observed, side="left")
    return (count + (0.0 if members else 1.0)) / (null.size + 1.0)


@functools.lru_cache(maxsize=64)
@disk_cached  # and on disk (nondecoupling.bridge.logs.null_cache): milliseconds to read, 0.05-0.3 s to simulate
def null_contrast(sizes: tuple, rho: float, draws: int = NULL_DRAWS, seed: int = 0) -> np.ndarray:
    """Sorted nulls of max(E_up, E_down), max(L_up, L_down) and min(p_E, p_L) over ``draws`` AR(1) series, as rows.

    ``draws`` Gaussian AR(1) series (coefficient ``rho``) of this layout: the start block's
    points one by one (its mean and W), the other blocks as block means, all from the exact
    AR(1) law (:func:`ar1_block_draws`). E (:func:`isotonic_contrast`) and L
    (:func:`line_contrast`) are location- and scale-free, so these are their exact joint null
    for stationary Gaussian AR(1) noise, up to Monte Carlo error; p_E and p_L are each draw's
    p-values against the first two (:func:`tail_p_values`), the third the null of their
    minimum (:func:`combined_p_values`). One (3, draws) array, so that it is stored as one
    array: cached per layout, in memory and on disk.
    """
    noise = ar1_block_draws((1,) * sizes[0] + tuple(sizes[1:]), rho, draws, np.random.default_rng(seed))
    start, rest = noise[:, : sizes[0]], noise[:, sizes[0] :]
    means = np.column_stack([start.mean(axis=1), rest])
    within = np.sum((start - start.mean(axis=1, keepdims=True)) ** 2, axis=1)
    isotonic = np.maximum(*isotonic_contrasts(means, sizes, within)[:2])
    line = np.maximum(*line_contrast(means, sizes, within))
    isotonic_null, line_null = np.sort(isotonic), np.sort(line)
    smallest = np.minimum(tail_p_values(isotonic_null, isotonic, members=True), tail_p_values(line_null, line, members=True))
    return np.stack([isotonic_null, line_null, np.sort(smallest)])


def combined_p_values(isotonic: Numbers, line: Numbers, nulls: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """p_d = P_0(min(p_E, p_L) <= min(p_E(E_d), p_L(L_d))): Tippett's combination, its null simulated.

    ``isotonic`` and ``line`` are (E_up, E_down) and (L_up, L_down); ``nulls`` is
    :func:`null_contrast`'s. p_E(e) = P_0(max(E_up, E_down) >= e), p_L likewise: each
    direction takes the better of the two tests, and the minimum's own null (simulated
    jointly, not Bonferroni's 2 min) makes the combination exact. E sees any monotone
    shape but spends its freedom on all of them; L sees a linear drift best and a step at
    mid-stage poorly; the minimum keeps most of each one's power where it is strong
    (docs/checking.md: a linear drift of 4 noise s.d. over 8 points, 0.87-0.89 with E alone,
    0.91-0.92 with both).

    >>> nulls = (np.array([0.1, 0.2, 0.3]), np.array([0.1, 0.2, 0.3]), np.array([0.25, 0.5, 0.75]))
    >>> combined_p_values([0.05, 0.4], [0.15, 0.0], nulls).tolist()  # min(p_E, p_L): 0.75 up, 0.25 down
    [1.0, 0.5]
    """
    isotonic_null, line_null, smallest_null = nulls
    smallest = np.minimum(tail_p_values(isotonic_null, isotonic), tail_p_values(line_null, line))
    return (1.0 + np.searchsorted(smallest_null, smallest, side="right")) / (smallest_null.size + 1.0)


def block_means(values: Numbers, sizes: Numbers) -> np.ndarray:
    """Means of consecutive blocks of ``values`` of the given sizes."""
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    return np.add.reduceat(np.asarray(values, float), starts) / np.asarray(sizes, float)


def monotone_trend(values: Numbers, *, start_points: int = 1, rho: float = MAX_AUTOCORRELATION,
                   max_blocks: int = MAX_TREND_BLOCKS, line: bool = True) -> dict:
    """Test of a monotone change in both directions (isotonic and line LR combined), calibrated for AR(1) noise.

    The first ``start_points`` values are the start level (one block: the previous stage's
    last points and the stage's own start); the rest, in order, are free to move in one
    direction, in any shape (a step, a fast or slow exponential, a drift): the isotonic and
    the line likelihood ratios, the better of the two (:func:`combined_p_values`); with
    ``line=False`` the isotonic one alone (the settledness checks: :func:`start_window`). The
    null is stationary Gaussian AR(1) noise with coefficient ``rho`` (simulated,
    :func:`null_contrast`); for smaller positive coefficients the test is conservative.

    Returns
    -------
    dict
        ``contrast_up``, ``contrast_down`` (E_d of :func:`isotonic_contrast`), ``line_up``,
        ``line_down`` (L_d of :func:`line_contrast`), ``p_up``, ``p_down`` (the Monte Carlo
        p-values of each direction, :func:`combined_p_values`),
        ``change_up``, ``change_down`` (last minus first level of each monotone fit),
        ``blocks`` (the number of block means tested).

    >>> result = monotone_trend([0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], start_points=2)
    >>> result["p_up"] < 0.05 < result["p_down"]
    True
    >>> drift = [0.6, 1.0, 0.4, -3.0, 1.3, 0.1, 0.7, -0.8] + [-0.7, -1.2, -1.0, -1.3, -2.2, -2.8, -2.7, -2.9]
    >>> [monotone_trend(drift, start_points=8, line=line)["p_down"] < 0.05 for line in (True, False)]  # a linear drift
    [True, False]
    """
    values = np.asarray(values, float)
    sizes = block_sizes(values.size, start_points, max_blocks)
    means, within = start_block_statistics(values, sizes)
    up, down, change_up, change_down = isotonic_contrast(means, sizes, within)
    line_up, line_down = (float(share) for share in line_contrast(means, sizes, within))
    nulls = null_contrast(sizes, float(rho))
    p_up, p_down = (combined_p_values([up, down], [line_up, line_down], nulls) if line
                    else tail_p_values(nulls[0], [up, down]))
    return {"contrast_up": up, "contrast_down": down, "line_up": line_up, "line_down": line_down, "p_up": float(p_up),
            "p_down": float(p_down), "change_up": change_up, "change_down": change_down, "blocks": len(sizes)}


def trend_verdict(values: Numbers, expected_sign: int, *, start_points: int = 1, confidence: float = 0.95,
                  rho: float = MAX_AUTOCORRELATION, line: bool = True) -> dict:
    """The verdict of :func:`monotone_trend` (no effect size): what the calibration simulates.

    Decisive in direction d when p_d <= alpha = 1 - confidence and the other direction is
    not (both significant: a non-monotone curve, inconclusive). A decisive verdict implies
    min(p_E, p_L) beyond its null's alpha quantile, so on noise of autocorrelation ``rho`` its
    probability is at most alpha, whatever the stage length; both statistics' nulls grow with
    the coefficient, so for smaller ones it is below alpha (measured, docs/checking.md).

    >>> trend_verdict(np.arange(20.0), -1)["verdict"]
    'violated'
    """
    result = monotone_trend(values, start_points=start_points, rho=rho, line=line)
    alpha = 1.0 - confidence
    up, down = result["p_up"] <= alpha, result["p_down"] <= alpha
    direction = +1 if up and not down else (-1 if down and not up else 0)
    verdict = "inconclusive" if direction == 0 else ("holds" if direction == expected_sign else "violated")
    change = result["change_up"] if (direction or expected_sign) > 0 else result["change_down"]
    return {"verdict": verdict, "direction": direction, "change": change, "level": alpha, "rho": float(rho),
            "start_points": int(start_points), **result}


def theil_sen(steps: Numbers, values: Numbers, *, confidence: float = 0.95, seed: int = 0) -> dict:
    """Theil-Sen slope and its interval on at most :data:`MAX_SLOPE_POINTS` points.

    The median over all pairs (O(m^2), :func:`nondecoupling.bridge.logs.robust.theil_sen_slope`:
    ``scipy.stats.theilslopes``' numbers without importing ``scipy.stats``); a random
    subsample of m points keeps it bounded and stays unbiased for the slope.

    >>> theil_sen([0, 1, 2, 3], [0.0, 2.0, 4.0, 6.0])["slope"]
    2.0
    """
    steps, values = np.asarray(steps, float), np.asarray(values, float)
    if steps.size > MAX_SLOPE_POINTS:
        keep = np.sort(np.random.default_rng(seed).choice(steps.size, MAX_SLOPE_POINTS, replace=False))
        steps, values = steps[keep], values[keep]
    if steps.size < 2 or np.ptp(steps) == 0:
        return {"slope": float("nan"), "ci": (float("nan"), float("nan"))}
    slope, low, high = theil_sen_slope(steps, values, confidence)
    return {"slope": slope, "ci": (low, high)}


def start_window(previous: Numbers, values: Numbers, *, confidence: float = 0.95, rho: float = MAX_AUTOCORRELATION) -> tuple[np.ndarray, bool | None]:
    """The previous stage's last points that estimate the stage's start level, and whether they were flat.

    ``previous`` are the previous stage's values before its last point, ``values[0]`` that
    last point (the model the stage starts from). The window is the previous stage's end,
    at most as long as the stage and at most :data:`MAX_START_POINTS` - 1 points, when its
    flatness check sees at least :data:`MIN_CHECKED_POINTS` points; if it has a significant
    monotone trend of its own (:func:`trend_verdict`), or is shorter, its last half; if that
    too trends, none (a stage that had not settled: only ``values[0]`` is the start level).

    >>> window, flat = start_window([0.0, 0.1, -0.1, 0.05, 0.0, -0.05, 0.1], [0.0] + [1.0] * 8)
    >>> window.tolist(), flat
    ([0.0, 0.1, -0.1, 0.05, 0.0, -0.05, 0.1], True)
    >>> start_window([0.0, 0.1, -0.1, 0.05], [0.0, 1.0, 1.0, 1.0, 1.0])[0].tolist()
    [-0.1, 0.05]
    >>> start_window([1.0, 2.0, 3.0, 4.0, 5.0, 5.0, 5.0, 5.0], [5.0] * 9)[0].tolist()
    [5.0, 5.0, 5.0, 5.0]
    """
    previous, values = np.asarray(previous, float), np.asarray(values, float)
    size = min(previous.size + 1, values.size, MAX_START_POINTS) - 1
    if size <= 0:
        return previous[:0], None
    half = math.ceil((size + 1) / 2) - 1
    for length in dict.fromkeys((size, half) if size + 1 >= MIN_CHECKED_POINTS else (half,)):
        window = previous[previous.size - length :]
        if length and trend_verdict(np.r_[window, values[0]], +1, confidence=confidence, rho=rho, line=False)["direction"] == 0:
            return window, True
    return previous[:0], False


def stage_trend(values: Numbers, expected_sign: int, *, previous: Numbers = (), confidence: float = 0.95,
                rho: float = MAX_AUTOCORRELATION) -> dict:
    """:func:`trend_verdict` with the start block from :func:`start_window`: what the power benchmark simulates.

    >>> stage_trend([1.0] + [0.0] * 8, -1, previous=[1.0] * 10)["start_points"]
    9
    >>> stage_trend([1.0, 0.0, 0.0, 0.0], -1, previous=[1.0] * 10)["start_points"]  # too short to check: last half
    2
    """
    values = np.asarray(values, float)
    window, flat = start_window(previous, values, confidence=confidence, rho=rho)
    result = trend_verdict(np.r_[window, values], expected_sign, start_points=window.size + 1,
                           confidence=confidence, rho=rho)
    return {**result, "previous_flat": flat}


def trend_decision(steps: Numbers, values: Numbers, expected_sign: int, *, previous: Numbers = (), confidence: float = 0.95,
                   rho: float = MAX_AUTOCORRELATION, seed: int = 0) -> dict:
    """A stage's monotone-trend verdict, its start level from the previous stage's settled end.

    ``values`` start at the stage's start point (the previous stage's last one); ``previous``
    are the previous stage's values before it (:func:`start_window` picks the window). The
    Theil-Sen slope of the stage's own points is an effect size only.

    Returns
    -------
    dict
        ``verdict`` (``holds``/``violated``/``inconclusive``), ``direction`` (+1, -1, 0),
        ``change`` (the monotone fit's net change in the decided, else the expected,
        direction), ``p_up``, ``p_down``, ``contrast_up``, ``contrast_down``, ``level``,
        ``rho``, ``start_points``, ``previous_flat`` (None without a previous stage),
        ``blocks``, ``slope`` and ``ci`` (Theil-Sen), ``n`` (the stage's points).

    >>> trend_decision(range(20), np.arange(20.0), +1)["verdict"]
    'holds'
    >>> trend_decision(range(3), [0.0, 1.0, 1.5], +1)["verdict"]  # 3 points: only a near-exact line decides
    'inconclusive'
    """
    steps, values = np.asarray(steps, float), np.asarray(values, float)
    return {**stage_trend(values, expected_sign, previous=previous, confidence=confidence, rho=rho),
            **theil_sen(steps, values, confidence=confidence, seed=seed), "n": int(values.size)}


def noise_sd(values: Numbers) -> float:
    """Robust noise s.d. of a smooth curve: MAD of first differences / sqrt(2).

    Differencing removes the slowly varying trend; the MAD ignores the rest of it.

    >>> noise_sd([1.0, 1.0])
    nan
    """
    diffs = np.diff(np.asarray(values, float))
    if diffs.size < 2:
        return float("nan")
    mad = np.median(np.abs(diffs - np.median(diffs))) / special.ndtri(0.75)  # scipy.stats' scale="normal"
    return float(mad / math.sqrt(2.0))


def rms_noise_sd(values: Numbers) -> float:
    """Noise s.d. from the root mean square of first differences / sqrt(2) (NaN below 3 points).

    Less robust than :func:`noise_sd` to jumps (they inflate it: conservative), but with far
    less variance on short stages, which is what a calibrated threshold needs.
    """
    diffs = np.diff(np.asarray(values, float))
    return float(np.sqrt(np.mean(diffs**2) / 2.0)) if diffs.size >= 2 else float("nan")


def pointwise_violation_verdict(slack: Numbers, values: Numbers, *, confidence: float = 0.95, determined: Numbers | None = None) -> dict:
    """Whether a bound ``slack >= 0`` at every point is violated beyond the noise of ``values``.

    A point violates significantly when its slack is below ``-t * sd``: sd from
    :func:`rms_noise_sd`, t the Student quantile (n - 1 degrees of freedom) at alpha/n
    (Bonferroni over the n points). With the bound tight and only noise, ``violated`` has
    probability at most alpha at every n >= 3 (simulated in the tests). Exact values
    (sd = 0) count any shortfall beyond roundoff.

    >>> pointwise_violation_verdict(np.array([0.1, 0.2, -0.5]), np.array([1.0, 1.0, 1.0]))["verdict"]
    'violated'
    """
    slack, values = np.asarray(slack, float), np.asarray(values, float)
    determined = np.ones(slack.shape, bool) if determined is None else np.asarray(determined, bool)
    sd, n = rms_noise_sd(values), slack.size
    t = -float(special.stdtrit(max(n - 1, 1), (1.0 - confidence) / max(n, 1)))  # Student's isf, as scipy.stats.t's
    tolerance = 0.0 if sd == 0.0 else (t * sd if np.isfinite(sd) else np.inf)
    roundoff = 1e-9 * np.maximum(1.0, np.abs(values))
    significant = (slack < -np.maximum(tolerance, roundoff)) & determined
    within_noise = (slack < -roundoff) & ~significant & determined
    if significant.any():
        verdict = "violated"
    elif within_noise.any() or not determined.any():
        verdict = "inconclusive"
    else:
        verdict = "holds"
    return {"verdict": verdict, "significant": significant, "within_noise": within_noise, "tolerance": tolerance,
            "t": t, "noise_sd": sd}


# ---------------------------------------------------------------- rate fits


def bin_means(s: Numbers, *curves: Numbers, max_points: int = MAX_FIT_POINTS) -> tuple[np.ndarray, ...]:
    """``(s, *curves)`` averaged over equal-count bins when longer than ``max_points``.

    >>> bin_means(np.arange(6.0), np.arange(6.0), max_points=3)[0]
    array([0.5, 2.5, 4.5])
    """
    s = np.asarray(s, float)
    arrays = [s, *(np.asarray(c, float) for c in curves)]
    if s.size <= max_points:
        return tuple(arrays)
    starts = np.linspace(0, s.size, max_points, endpoint=False).astype(np.int64)
    counts = np.diff(np.append(starts, s.size))
    return tuple(np.add.reduceat(a, starts) / counts for a in arrays)


def fit_exponential(s: Numbers, y: Numbers) -> dict:
    """Least-squares fit of y = limit + amplitude * exp(-rate * s), rate > 0.

    For a fixed rate the model is linear in (limit, amplitude), so the rate minimizes the
    profiled residual sum of squares (variable projection), searched in log-space over
    rates between 0.01 and 100 per span of ``s``; no starting guess is needed.

    Returns
    -------
    dict
        ``limit``, ``amplitude``, ``rate``, ``rate_at_bound`` (the optimum sits on the
        search bound: the curve is effectively linear or a step), ``fitted``.

    >>> s = np.arange(50.0)
    >>> round(fit_exponential(s, 1.0 + 2.0 * np.exp(-0.1 * s))["rate"], 6)
    0.1
    """
    s, y = np.asarray(s, float), np.asarray(y, float)
    span = max(float(s.max() - s.min()), 1.0)

    def solve(log_rate):
        # Two-column least squares by its 2 x 2 normal equations (lstsq's SVD costs 10x more here,
        # and this runs ~30 times per fit, 200 fits per bootstrap); lstsq where they are singular.
        decay = np.exp(-math.exp(log_rate) * s)
        n, e, ee = s.size, decay.sum(), decay @ decay
        det = n * ee - e * e
        if det > 1e-12 * n * ee:
            sy, ey = y.sum(), decay @ y
            coef = np.array([(ee * sy - e * ey) / det, (n * ey - e * sy) / det])
        else:
            coef, *_ = np.linalg.lstsq(np.column_stack([np.ones_like(s), decay]), y, rcond=None)
        return coef, coef[0] + coef[1] * decay

    centred = y - y.mean()
    total = float(centred @ centred)

    def rss(log_rate):
        # The profiled RSS without the coefficients (half the time of solve's): the centred y's sum of
        # squares less the part the centred decay explains; a constant decay (solve's singular case) explains none.
        decay = np.exp(-math.exp(log_rate) * s)
        mean = float(decay.sum()) / s.size  # np.mean's own overhead is a fifth of this function's
        decay -= mean
        spread = float(decay @ decay)
        return total - float(decay @ centred) ** 2 / spread if spread > 1e-12 * (spread + s.size * mean**2) else total

    bounds = (math.log(0.01 / span), math.log(100.0 / span))
    best = optimize.minimize_scalar(rss, bounds=bounds, method="bounded", options={"xatol": 1e-6})
    (limit, amplitude), fitted = solve(best.x)
    at_bound = min(abs(best.x - bounds[0]), abs(best.x - bounds[1])) < 1e-3
    return {"limit": limit, "amplitude": amplitude, "rate": math.exp(best.x), "rate_at_bound": at_bound, "fitted": fitted}


def fit_rl_stage(s_reward: Numbers, reward: Numbers, s_loss: Numbers, sft_loss: Numbers) -> dict:
    """Fit an RL stage with the isotropic-quadratic curves (module docstring).

    Returns
    -------
    dict
        ``reward_rate`` (k = 2 mu_rl), ``mu_rl``, ``reward_limit``, ``rl_gap0``
        (Delta_0 = J_inf - J_fit(0)), ``tau`` (plateau of the SFT loss), ``sft_start``
        (fitted L(0)), ``sft_rise`` (A = tau - L(0)), ``coef`` (tau, B_1, B_2) and the
        fitted curves ``reward_fitted``, ``loss_fitted``.

    >>> s = np.arange(0.0, 300.0, 5.0)
    >>> fit = fit_rl_stage(s, 0.9 - 0.5 * np.exp(-0.04 * s), s, 10 + 3 * (1 - np.exp(-0.02 * s)) ** 2)
    >>> round(fit["mu_rl"], 4), round(fit["sft_rise"], 4)
    (0.02, 3.0)
    """
    reward_fit = fit_exponential(s_reward, reward)
    mu_rl = reward_fit["rate"] / 2.0
    s_loss = np.asarray(s_loss, float)
    design = np.column_stack([np.ones_like(s_loss), np.exp(-mu_rl * s_loss), np.exp(-2.0 * mu_rl * s_loss)])
    coef, *_ = np.linalg.lstsq(design, np.asarray(sft_loss, float), rcond=None)
    sft_start = float(coef.sum())
    return {
        "reward_rate": reward_fit["rate"],
        "rate_at_bound": reward_fit["rate_at_bound"],
        "mu_rl": mu_rl,
        "reward_limit": reward_fit["limit"],
        "rl_gap0": -reward_fit["amplitude"],
        "tau": float(coef[0]),
        "sft_start": sft_start,
        "sft_rise": float(coef[0]) - sft_start,
        "coef": coef,
        "reward_fitted": reward_fit["fitted"],
        "loss_fitted": design @ coef,
    }


def _p3_constants(fit: dict) -> dict:
    """The RL flow's constants under the fit: mu_rl = beta_rl = m, beta_sft = m A / Delta_0."""
    mu_rl = fit["mu_rl"]
    return {"mu_rl": mu_rl, "beta_rl": mu_rl, "beta_sft": mu_rl * fit["sft_rise"] / fit["rl_gap0"]}


def predicted_optimal_steps(fit: dict, lam: float) -> float:
    """P3's t* (in steps) for a fitted RL stage; inf if RL does not raise the SFT loss.

    Maps the fit onto the RL flow's constants (mu_rl = beta_rl = m,
    beta_sft = m A / Delta_0) and calls :func:`nondecoupling.optimal_rl_duration`. NaN when the
    reward did not rise (Delta_0 <= 0: P3's setting does not apply).

    Then c = lam A / Delta_0 and t* = ln(1 + Delta_0 / (lam A)) / m:

    >>> round(predicted_optimal_steps({"mu_rl": 0.02, "rl_gap0": 0.5, "sft_rise": 3.0}, 0.05), 2)
    73.32
    >>> round(float(np.log(1 + 0.5 / (0.05 * 3.0)) / 0.02), 2)
    73.32
    """
    if not fit["rl_gap0"] > 0:
        return float("nan")
    if not fit["sft_rise"] > 0:
        return float("inf")
    return float(nondecoupling.optimal_rl_duration(lam=lam, **_p3_constants(fit)))


def guaranteed_gain_curve(fit: dict, s: Numbers, lam: float) -> np.ndarray | None:
    """P3's g(s) under the same mapping (None where P3 does not apply)."""
    if not (fit["rl_gap0"] > 0 and fit["sft_rise"] > 0):
        return None
    return np.asarray(nondecoupling.guaranteed_net_gain(np.asarray(s, float), rl_gap0=fit["rl_gap0"], lam=lam,
                                                        **_p3_constants(fit)))


def residual_bootstrap(refit: Callable[..., Any], fitted: Sequence[np.ndarray], residuals: Sequence[np.ndarray], *, n_boot: int,
                       rng: np.random.Generator, desc: str = "bootstrap") -> list:
    """``refit(*curves)`` on ``n_boot`` curves ``fitted + resampled residuals`` (one per curve).

    A progress bar on a terminal (tqdm; silent when stderr is not a TTY).
    """
    return [refit(*(f + rng.choice(r, size=r.size) for f, r in zip(fitted, residuals)))
            for _ in tqdm(range(n_boot), desc=desc, leave=False, disable=None)]


def percentile_interval(samples: Numbers, confidence: float) -> tuple[float, float]:
    """Percentile interval of bootstrap samples, NaN samples left out (inf ones sort last)."""
    samples = np.asarray(samples, float)
    samples = samples[~np.isnan(samples)]
    if samples.size == 0:
        return (float("nan"), float("nan"))
    tail = 50.0 * (1.0 - confidence)
    low, high = np.percentile(samples, [tail, 100.0 - tail], method="inverted_cdf")
    return (float(low), float(high))


# ---------------------------------------------------------------- K1 terms


def k1_rate(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The pass rate b of every row, and whether it is the exact one (:func:`k1_rate_values` of its columns).

    >>> rate, exact = k1_rate(pd.DataFrame({"reward": [0.5, 2.0, 0.3], "pass_rate": [0.4, np.nan, np.nan]}))
    >>> rate.tolist(), exact.tolist()
    ([0.4, nan, 0.3], [True, False, False])
    """
    missing = np.full(len(frame), np.nan)
    return k1_rate_values(frame["pass_rate"].to_numpy(float) if "pass_rate" in frame else missing,
                          frame["reward"].to_numpy(float) if "reward" in frame else missing)


def k1_rate_values(pass_rate: Numbers, reward: Numbers) -> tuple[np.ndarray, np.ndarray]:
    """The pass rate b from a run's ``pass_rate`` and ``reward`` columns (NaN: not logged), and whether it is exact.

    b is the logged exact ``pass_rate`` where there is one, else the sampled ``reward``;
    NaN where neither is logged or the value lies outside [0, 1] (a reward that is not a
    pass rate). The one place this rule lives (the bridge's checks, the live callback and the
    Qwen3 experiments' summary all call it).

    >>> rate, exact = k1_rate_values([0.4, np.nan], [0.5, 2.0])
    >>> rate.tolist(), exact.tolist()
    ([0.4, nan], [True, False])
    """
    exact_rate, sampled = np.asarray(pass_rate, float), np.asarray(reward, float)
    exact = ~np.isnan(exact_rate)
    rate = np.where(exact, exact_rate, sampled)
    rate = np.where((rate >= 0) & (rate <= 1), rate, np.nan)
    return rate, exact


def k1_gaps(sft_loss: Numbers, rate: Numbers, *, expert_pass_rate: float, expert_entropy: float) -> dict[str, np.ndarray]:
    """K1's ``kl(a || b)``, the SFT excess ``L - H(p*)`` and the slack ``L - H(p*) - kl(a || b)`` (>= 0 by K1), as arrays.

    NaN where the SFT loss or b is missing; :func:`k1_terms` gives them as a run's columns.

    >>> round(float(k1_gaps([1.0], [0.5], expert_pass_rate=1.0, expert_entropy=0.0)["k1_slack"][0]), 4)
    0.3069
    """
    rate = np.asarray(rate, float)
    kl = np.full(rate.shape, np.nan)
    known = np.isfinite(rate)
    kl[known] = nondecoupling.kl_bernoulli(float(expert_pass_rate), rate[known])
    excess = np.asarray(sft_loss, float) - float(expert_entropy)
    return {"kl_a_b": kl, "sft_excess": excess, "k1_slack": excess - kl}


def k1_terms(run: pd.DataFrame, *, expert_pass_rate: float, expert_entropy: float) -> pd.DataFrame:
    """K1's terms at every row: b, ``kl(a || b)``, the SFT excess ``L - H(p*)`` and the slack.

    Parameters
    ----------
    run : pandas.DataFrame
        A canonical run (``sft_loss``, ``reward``, optionally ``pass_rate``).
    expert_pass_rate : float
        a = E_{p*} r.
    expert_entropy : float
        H(p*) in nats, sequence level (or a stand-in such as an SFT-optimal loss).

    Returns
    -------
    pandas.DataFrame
        Indexed like ``run``: ``k1_pass_rate`` (b, from :func:`k1_rate`), ``k1_pass_rate_exact``,
        and :func:`k1_gaps`' ``kl_a_b``, ``sft_excess`` and ``k1_slack``; NaN where the SFT loss or b is missing.

    >>> t = k1_terms(pd.DataFrame({"sft_loss": [1.0], "reward": [0.5]}), expert_pass_rate=1.0, expert_entropy=0.0)
    >>> round(float(t["k1_slack"].iloc[0]), 4)
    0.3069
    """
    rate, exact = k1_rate(run)
    gaps = k1_gaps(run["sft_loss"].to_numpy(float), rate, expert_pass_rate=expert_pass_rate, expert_entropy=expert_entropy)
    return pd.DataFrame({"k1_pass_rate": rate, "k1_pass_rate_exact": exact, **gaps}, index=run.index)


def k1_record(record: dict, *, expert_pass_rate: float, expert_entropy: float | None, start_loss: float | None = None) -> dict:
    """K1's floor H(p*) + kl(a || b) and the SFT loss's slack above it, for one logged record (the live callback's columns).

    Without H(p*), ``start_loss`` (the RL stage's first SFT loss) stands in for it in the slack and the
    floor is kl(a || b) alone; without either the slack is None. Empty where the record has no pass rate b
    (:func:`k1_rate_values`' rule on its ``pass_rate`` and ``reward``).

    >>> terms = k1_record({"sft_loss": 1.0, "reward": 0.5}, expert_pass_rate=1.0, expert_entropy=0.0)
    >>> round(terms["k1_floor"], 4), round(terms["k1_slack"], 4)
    (0.6931, 0.3069)
    """
    logged = [np.nan if record.get(key) is None else record[key] for key in ("pass_rate", "reward")]
    rate, _ = k1_rate_values(*([value] for value in logged))  # arrays: this one record's, without a DataFrame
    if not np.isfinite(rate[0]):
        return {}
    base = expert_entropy if expert_entropy is not None else start_loss
    terms = k1_gaps([record["sft_loss"]], rate, expert_pass_rate=expert_pass_rate, expert_entropy=0.0 if base is None else base)
    return {"k1_floor": float(terms["kl_a_b"][0]) + (expert_entropy or 0.0),
            "k1_slack": None if base is None else float(terms["k1_slack"][0])}
