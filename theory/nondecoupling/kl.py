r"""K1 and K3: the Bernoulli KL divergence and its inverses (in either argument).

K1 (any policy pays): :math:`\mathrm{CE}(p^*, \pi) - H(p^*) \ge \mathrm{kl}(a\|b)` for the
expert's and the policy's pass rates :math:`a, b`. K3 (reward ceiling): SFT excess
:math:`\varepsilon` confines the pass rate to
:math:`[\mathrm{kl}^{-1}_\downarrow(a, \varepsilon), \mathrm{kl}^{-1}_\uparrow(a, \varepsilon)]`.
The formulas are printed from :mod:`nondecoupling.derivations.k1_any_policy_pays` and
:mod:`nondecoupling.derivations.k3_reward_ceiling` into :mod:`nondecoupling._generated`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import special

from nondecoupling._generated import k1, k3
from nondecoupling.validation import (
    check_broadcastable,
    check_nonnegative,
    check_rate,
    plain_scalars,
    scalar_or_array,
    scalar_or_none,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from nondecoupling._typing import FloatOrArray


def kl_bernoulli(a: ArrayLike, b: ArrayLike) -> FloatOrArray:
    r"""Bernoulli KL divergence :math:`\mathrm{kl}(a\|b)` (K1).

    Parameters
    ----------
    a, b : float or array_like
        Rates in [0, 1] (expert's and policy's pass rates); broadcast against each other.

    Returns
    -------
    float or ndarray
        :math:`a\log\frac{a}{b} + (1-a)\log\frac{1-a}{1-b}`, with :math:`0\log 0 = 0`:
        ``inf`` where :math:`b \in \{0, 1\}` and :math:`a \ne b`, and 0 where :math:`a = b`.

    Raises
    ------
    ParameterError
        If ``a`` or ``b`` is NaN or outside [0, 1].

    Notes
    -----
    Evaluated as :math:`D(a, b) + D(1-a, 1-b)` with
    :math:`D(p, q) = p\log(p/q) - p + q \ge 0`, from the differences :math:`a - b` before
    they round, and through a Taylor branch (truncation proven below 2**-53 relative) where
    :math:`|a - b|` is under a tenth of :math:`b` or :math:`1 - b`. The relative error is a few
    ulp wherever the result is a normal float, including :math:`b` a few ulp from :math:`a`
    and rates within 1e-15 of 0 or 1 (tested against 50-digit mpmath).

    Examples
    --------
    >>> from nondecoupling import kl_bernoulli
    >>> round(kl_bernoulli(0.5, 0.25), 12)
    0.143841036226
    >>> kl_bernoulli(0.3, 1.0)
    inf

    References
    ----------
    T. M. Cover and J. A. Thomas, "Elements of Information Theory", 2nd ed., Wiley 2006.
    """
    if plain_scalars(a, b) and 0 <= a <= 1 and 0 <= b <= 1:
        value = scalar_or_none(lambda: k1.kl_bernoulli_scalar(a, b))
        if value is not None:
            return value
    a = check_rate(a, "a")
    b = check_rate(b, "b")
    check_broadcastable(a=a, b=b)
    return scalar_or_array(_kl(a, b))


def kl_inverse_upper(a: ArrayLike, budget: ArrayLike) -> FloatOrArray:
    r"""Largest rate :math:`b \in [a, 1]` with :math:`\mathrm{kl}(a\|b) \le` ``budget`` (K3).

    Parameters
    ----------
    a : float or array_like
        Rate in [0, 1].
    budget : float or array_like
        KL budget :math:`\varepsilon \ge 0` (``inf`` allowed: the answer is then 1).

    Returns
    -------
    float or ndarray
        :math:`\mathrm{kl}^{-1}_\uparrow(a, \varepsilon)`: ``a`` for a zero budget, the root of
        :math:`\mathrm{kl}(a\|b) = \varepsilon` on :math:`[a, 1)` otherwise (1 if :math:`a = 1`).
        Pinsker: the result is at most :math:`a + \sqrt{\varepsilon/2}`.

    Raises
    ------
    ParameterError
        If ``a`` is outside [0, 1] or ``budget`` is negative or NaN.

    Notes
    -----
    The answer is the largest float whose computed divergence is within the budget: a
    safeguarded Newton iteration in logit space (kl(a||.) is convex there, with derivative
    b - a) from an outer start (Pinsker, or the entropy bound near 1), then a check of the
    neighbouring floats; typically 4-9 evaluations of the accurate kl instead of a 64-step
    bisection, exact to an ulp of the float grid at every scale (tested against mpmath).

    Examples
    --------
    >>> from nondecoupling import kl_bernoulli, kl_inverse_upper
    >>> b = kl_inverse_upper(0.3, 0.1)
    >>> round(b, 12), kl_bernoulli(0.3, b) <= 0.1
    (0.521027612068, True)
    """
    return _kl_inverse(a, budget, upward=True)


def kl_inverse_lower(a: ArrayLike, budget: ArrayLike) -> FloatOrArray:
    r"""Smallest rate :math:`b \in [0, a]` with :math:`\mathrm{kl}(a\|b) \le` ``budget`` (K3).

    Parameters
    ----------
    a : float or array_like
        Rate in [0, 1].
    budget : float or array_like
        KL budget :math:`\varepsilon \ge 0` (``inf`` allowed: the answer is then 0).

    Returns
    -------
    float or ndarray
        :math:`\mathrm{kl}^{-1}_\downarrow(a, \varepsilon)`, at least :math:`a - \sqrt{\varepsilon/2}`;
        the smallest positive float when the root lies below it (and 0 if :math:`a = 0`).

    Raises
    ------
    ParameterError
        If ``a`` is outside [0, 1] or ``budget`` is negative or NaN.

    Notes
    -----
    See :func:`kl_inverse_upper`.

    Examples
    --------
    >>> from nondecoupling import kl_inverse_lower
    >>> round(kl_inverse_lower(0.3, 0.1), 12)
    0.129130121019
    """
    return _kl_inverse(a, budget, upward=False)


def pinsker_radius(budget: ArrayLike) -> FloatOrArray:
    r"""Pinsker's radius :math:`\sqrt{\varepsilon/2}`: :math:`\mathrm{kl}(x\|y) \le \varepsilon` implies :math:`|x - y| \le \sqrt{\varepsilon/2}` (K3).

    Parameters
    ----------
    budget : float or array_like
        KL budget :math:`\varepsilon \ge 0` (``inf`` allowed).

    Returns
    -------
    float or ndarray
        :math:`\sqrt{\varepsilon/2}` (values above 1 say nothing about rates in [0, 1]).

    Raises
    ------
    ParameterError
        If ``budget`` is negative or NaN.

    Notes
    -----
    Holds in either argument of kl (kl(x||y) >= 2 (x - y)^2); the exact band is
    :func:`kl_inverse_lower`/:func:`kl_inverse_upper` (second argument) or
    :func:`kl_inverse_first_lower`/:func:`kl_inverse_first_upper` (first argument).

    Examples
    --------
    >>> from nondecoupling import pinsker_radius
    >>> pinsker_radius(0.02)
    0.1
    """
    if plain_scalars(budget) and budget >= 0:
        return float(k3.pinsker_radius_scalar(budget))
    return scalar_or_array(np.asarray(k3.pinsker_radius(check_nonnegative(budget, "budget", allow_inf=True))))


def kl_inverse_first_upper(rate: ArrayLike, budget: ArrayLike) -> FloatOrArray:
    r"""Largest :math:`x \in [0, 1]` with :math:`\mathrm{kl}(x\|\text{rate}) \le` ``budget``: inverts kl's FIRST argument.

    The band of V2 (data processing): a policy :math:`\pi'` with
    :math:`\mathrm{KL}(\pi'\|\pi) \le \varepsilon` has a pass rate :math:`x` with
    :math:`\mathrm{kl}(x\|J(\pi)) \le \varepsilon`. (:func:`kl_inverse_upper` inverts the
    SECOND argument, for the other KL direction.)

    Parameters
    ----------
    rate : float or array_like
        The fixed second argument, in [0, 1] (the reference policy's pass rate).
    budget : float or array_like
        KL budget :math:`\varepsilon \ge 0` (``inf`` allowed: it admits every x, the answer
        is then 1).

    Returns
    -------
    float or ndarray
        The largest float :math:`x \ge` ``rate`` whose computed :math:`\mathrm{kl}(x\|\text{rate})`
        is within the budget: ``rate`` for a zero budget or ``rate = 0`` (every
        :math:`x > 0` then has infinite divergence), 1 once :math:`-\log(\text{rate}) \le`
        ``budget``. Pinsker: at most ``rate + sqrt(budget/2)``.

    Raises
    ------
    ParameterError
        If ``rate`` is outside [0, 1] or ``budget`` is negative or NaN.

    Notes
    -----
    Same search and accuracy as :func:`kl_inverse_upper` (kl is convex in each argument, so
    the sublevel set in :math:`x` is an interval around ``rate``).

    Examples
    --------
    >>> from nondecoupling import kl_bernoulli, kl_inverse_first_upper
    >>> x = kl_inverse_first_upper(0.3, 0.1)
    >>> round(x, 12), kl_bernoulli(x, 0.3) <= 0.1
    (0.514629121059, True)
    """
    return _kl_inverse(rate, budget, upward=True, first=True)


def kl_inverse_first_lower(rate: ArrayLike, budget: ArrayLike) -> FloatOrArray:
    r"""Smallest :math:`x \in [0, 1]` with :math:`\mathrm{kl}(x\|\text{rate}) \le` ``budget``: inverts kl's FIRST argument.

    Parameters
    ----------
    rate : float or array_like
        The fixed second argument, in [0, 1].
    budget : float or array_like
        KL budget :math:`\varepsilon \ge 0` (``inf`` allowed: the answer is then 0).

    Returns
    -------
    float or ndarray
        The smallest float :math:`x \le` ``rate`` with computed
        :math:`\mathrm{kl}(x\|\text{rate}) \le` ``budget`` (0 once
        :math:`-\log(1 - \text{rate}) \le` ``budget``; ``rate`` if ``rate = 1``); at least
        ``rate - sqrt(budget/2)``.

    Raises
    ------
    ParameterError
        If ``rate`` is outside [0, 1] or ``budget`` is negative or NaN.

    Notes
    -----
    See :func:`kl_inverse_first_upper`; :func:`kl_inverse_lower` inverts the second argument.

    Examples
    --------
    >>> from nondecoupling import kl_inverse_first_lower
    >>> round(kl_inverse_first_lower(0.3, 0.1), 12)
    0.112734575405
    """
    return _kl_inverse(rate, budget, upward=False, first=True)


def _kl(a, b):
    # numpy.select wants conditions of one shape; it evaluates every branch, so unused ones may warn.
    a, b = np.broadcast_arrays(a, b)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.asarray(k1.kl_bernoulli(a, b), dtype=np.float64)


def _kl_inverse(fixed, budget, *, upward: bool, first: bool = False):
    """The end of {x : kl(x||fixed) <= budget} (``first``) or {x : kl(fixed||x) <= budget}."""
    fixed = check_rate(fixed, "rate" if first else "a")
    budget = check_nonnegative(budget, "budget", allow_inf=True)
    check_broadcastable(**{"rate" if first else "a": fixed, "budget": budget})
    fixed, budget = np.broadcast_arrays(fixed, budget)
    direction = 1.0 if upward else -1.0
    edge = 1.0 if upward else 0.0
    divergence = (lambda x: _kl(x, fixed)) if first else (lambda x: _kl(fixed, x))
    with np.errstate(all="ignore"):
        # Where the whole side is within the budget the answer is its edge (inf admits everything).
        whole_side = divergence(np.full_like(fixed, edge)) <= budget
        searched = ~whole_side & (budget > 0) & ~(first & ((fixed == 0) | (fixed == 1)))
        answer = fixed.copy()
        if searched.any():  # search only where the answer is not already known
            answer[searched] = _newton_last_float(fixed[searched], budget[searched], direction, first=first)
    # A zero budget, or (first argument) a reference rate of 0 or 1, where every other x diverges.
    pinned = (budget == 0) | (first & ((fixed == 0) | (fixed == 1)))
    answer = np.where(whole_side, edge, np.where(pinned, fixed, answer))
    return scalar_or_array(answer)


def _outer_start(fixed, budget, *, upward, first):
    """A point beyond the root (divergence >= budget), close to it, strictly inside (0, 1).

    Pinsker, kl(x||y) >= 2 (x - y)^2, in either argument; for the second argument also
    kl(a||b) >= -H(a) - (1 - a) log(1 - b) (upward) and -H(a) - a log b (downward), which
    stay close when the band reaches towards 0 or 1 (where the Pinsker point leaves [0, 1]).
    """
    pinsker = fixed + (1.0 if upward else -1.0) * k3.pinsker_radius(budget)
    if not first:
        entropy = -(special.xlogy(fixed, fixed) + special.xlogy(1 - fixed, 1 - fixed))
        if upward:
            tail = -np.expm1(-(budget + entropy) / (1 - fixed))
            pinsker = np.minimum(pinsker, tail)
        else:
            tail = np.exp(-(budget + entropy) / fixed)
            pinsker = np.maximum(pinsker, tail)
    # Strictly inside (0, 1): an outer point at the edge itself would have an infinite divergence.
    return np.clip(pinsker, _SMALLEST, _BELOW_ONE)


_SMALLEST = float(np.nextafter(0.0, 1.0))
_BELOW_ONE = float(np.nextafter(1.0, 0.0))
#: Newton steps past this many in logit units are taken exactly (expit); shorter ones linearized.
_LINEAR_LOGIT_STEP = 1e-3


def _newton_step(x, excess, fixed, *, first):
    """One Newton step on divergence - budget = ``excess`` at ``x``.

    Second argument: kl(a||sigma(y)) is convex in the logit y with derivative b - a, so steps are
    taken in logit space (they reach rates within 1e-300 of 0 or 1 in a few steps); short steps
    are linearized, b - dy b (1 - b), so that offsets from a far below an ulp of logit(a) survive.
    First argument: kl(x||r) is convex in x with derivative logit(x) - logit(r).
    """
    if first:
        slope = np.log1p((x - fixed) / fixed) - np.log1p((fixed - x) / (1 - fixed))
        return x - excess / slope
    logit_step = excess / (x - fixed)
    linear = x - logit_step * x * (1 - x)
    exact = special.expit(special.logit(x) - logit_step)
    return np.where(np.abs(logit_step) < _LINEAR_LOGIT_STEP, linear, exact)


def _newton_last_float(fixed, budget, direction, *, first, iterations=40):
    """Last float from ``fixed`` outward (``direction``) whose divergence is within ``budget``.

    Safeguarded Newton (convex: from the outer side it converges monotonically; any step that
    leaves the bracket [last feasible, last infeasible] is replaced by a bisection of the floats'
    bit patterns), then a last-ulp check of the neighbours. Typically 5-8 divergence evaluations
    instead of the 64 of a pure bisection over the bit patterns. (Hand-written: scipy's scalar
    root finders are not vectorized and do not certify the last float.)
    """
    def divergence(x, where=slice(None)):
        return _kl(x, fixed[where]) if first else _kl(fixed[where], x)

    # The side's edge (0 or 1) is infeasible wherever a search runs; the start is only meant to be outer.
    inside, outside = fixed.copy(), np.full_like(fixed, 1.0 if direction > 0 else 0.0)
    x = _outer_start(fixed, budget, upward=direction > 0, first=first)
    for _ in range(iterations):
        excess = divergence(x) - budget
        feasible = excess <= 0
        inside = np.where(feasible & (direction * (x - inside) > 0), x, inside)
        outside = np.where(~feasible & (direction * (outside - x) > 0), x, outside)
        if not np.any(_open(inside, outside)):
            break
        step = _newton_step(x, excess, fixed, first=first)
        # Newton moves less than a few ulps: the neighbours' check below finishes the job.
        converged = np.abs(step - x) <= 4 * np.spacing(x)
        if np.all(converged | ~_open(inside, outside)):
            break
        inside_bracket = (direction * (step - inside) > 0) & (direction * (outside - step) > 0)
        step = np.where(inside_bracket & np.isfinite(step), step, _bit_midpoint(inside, outside))
        x = np.where(converged, x, step)
    return _last_ulps(divergence, budget, inside, outside)


def _open(inside, outside):
    """More than one float strictly between the bracket's ends."""
    return np.abs(inside.view(np.int64) - outside.view(np.int64)) > 1


def _bit_midpoint(inside, outside):
    """The float halfway between two nonnegative floats in bit-pattern order."""
    return ((inside.view(np.int64) + outside.view(np.int64)) // 2).view(np.float64)


def _last_ulps(divergence, budget, inside, outside):
    """Close the bracket to adjacent floats: probe each end's neighbour (Newton leaves it within an ulp
    or two), then bisect the bit patterns of any bracket still open (rare, and only those)."""
    for _ in range(3):
        open_ = _open(inside, outside)
        if not open_.any():
            return inside
        towards_inside = _step_bits(outside, inside)
        towards_outside = _step_bits(inside, outside)
        ok = divergence(np.stack([towards_inside, towards_outside])) <= budget
        inside = np.where(open_ & ok[0], towards_inside, inside)
        outside = np.where(open_ & ~ok[0], towards_inside, outside)
        inside = np.where(_open(inside, outside) & ok[1], towards_outside, inside)
        outside = np.where(_open(inside, outside) & ~ok[1], towards_outside, outside)
    still_open = _open(inside, outside)
    if still_open.any():
        inside = inside.copy()
        inside[still_open] = _last_feasible(lambda x: divergence(x, still_open) <= budget[still_open],
                                            inside[still_open], outside[still_open])
    return inside


def _step_bits(start, target):
    """The float next to ``start`` in the direction of ``target`` (``start`` itself if equal)."""
    bits, goal = start.view(np.int64), target.view(np.int64)
    return (bits + np.sign(goal - bits)).view(np.float64)


def _last_feasible(feasible, inside, outside):
    """Last float from ``inside`` (feasible) towards ``outside`` that is still feasible.

    Nonnegative floats are ordered like their int64 bit patterns, so bisecting the integers
    halves the number of floats left in the bracket: 64 steps reach adjacent floats at any
    scale, from subnormals to 1.
    """
    low = inside.astype(np.float64).view(np.int64).copy()
    high = outside.astype(np.float64).view(np.int64).copy()
    while True:
        open_ = np.abs(high - low) > 1
        if not open_.any():
            break
        middle = (low + high) // 2
        ok = feasible(middle.view(np.float64))
        low = np.where(open_ & ok, middle, low)
        high = np.where(open_ & ~ok, middle, high)
    low, high = low.view(np.float64), high.view(np.float64)
    return np.where(feasible(high), high, low)
