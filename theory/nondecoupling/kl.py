r"""K1 and K3: the Bernoulli KL divergence and its inverses (in either argument).

K1 (any policy pays): :math:`\mathrm{CE}(p^*, \pi) - H(p^*) \ge \mathrm{kl}(a\|b)` for the
expert's and the policy's pass rates :math:`a, b`. K3 (reward ceiling): SFT excess
:math:`\varepsilon` confines the pass rate to
:math:`[\mathrm{kl}^{-1}_\downarrow(a, \varepsilon), \mathrm{kl}^{-1}_\uparrow(a, \varepsilon)]`.
The formulas are printed from :mod:`nondecoupling.derivations.k1_any_policy_pays` and
:mod:`nondecoupling.derivations.k3_reward_ceiling` into :mod:`nondecoupling._generated`.
"""

from __future__ import annotations

import math
import struct
from typing import TYPE_CHECKING

import numpy as np
from scipy import special

from nondecoupling._generated import k1, k3
from nondecoupling.constraints import SPECS, Spec
from nondecoupling.validation import scalar_or_array, scalar_or_none

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
    they round. Where :math:`p/q \in (1/3, 3)` Loader's series in :math:`v = (p-q)/(p+q)`
    replaces the cancelling direct form (no log; truncation proven below 2**-53 relative, see
    :mod:`nondecoupling.derivations.k1_any_policy_pays`); outside it the direct forms multiply a
    log's error by at most 2.54.

    Accuracy, on both paths (plain Python floats take a ``math`` twin, arrays numpy's ufuncs; the
    two may differ in the last places, and neither is the reference of the other):
    :math:`|\widehat{\mathrm{kl}} - \mathrm{kl}| \le \rho\,\mathrm{kl} + \eta` with
    :math:`\rho` = ``KL_RELATIVE_ERROR`` = 32 eps (eps = 2**-52, 7.1e-15) and :math:`\eta` =
    ``KL_ABSOLUTE_ERROR`` = 4 x 2**-1074 (subnormal results), for any libm whose log and log1p
    are within 4 ulps (numpy's SVML kernels on AVX-512 are documented to 4; glibc's to about 1).
    A first-order bound over the branches gives 17 eps at 4 ulps. Measured by
    ``benchmarks/accuracy.py`` on 10^5 draws (uniform, within 1e-300 of 0 and 1, subnormal, a
    few ulps apart, at the series' edge): at most 2.9 eps with numpy's AVX2 kernels and glibc
    (3.0 eps with numpy's baseline kernels, 3 x 10^4 draws), 12.2 eps with every log and log1p
    moved by +-4 ulps (tested, also on that simulated
    libm, in ``tests/theory/test_k1_any_policy_pays.py``).

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
    if plain := _KL.accept(a, b):
        value = scalar_or_none(k1.kl_bernoulli_scalar, *plain)
        if value is not None:
            return value
    return scalar_or_array(_kl(*_KL.check(a, b)))


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
    The band's side is the contract: the TRUE divergence of the answer is within the budget.
    The answer is the last float whose computed divergence is at most
    :math:`\varepsilon(1 - \rho - \mathrm{eps}) - \eta - 2^{-1074}` (``_certified_level``, with
    :func:`kl_bernoulli`'s error bound :math:`\rho, \eta`), so on any libm within that bound its
    true kl is at most :math:`\varepsilon`, while the next float outward has a true kl above
    :math:`\varepsilon(1 - 2\rho - 2\,\mathrm{eps}) - 2\eta - 2^{-1073}`: the answer's kl is within
    1.5e-14 relative of the budget (plus 12 subnormals absolute at subnormal budgets), and it lies within about that relative distance of the exact edge (times
    :math:`\varepsilon/(\mathrm{kl}'\,|b - a|) \le 1` in the band's width). Budgets below a few
    subnormals (about 2.5e-323) give ``a`` itself. The search: a safeguarded Newton iteration in
    logit space (kl(a||.) is convex there, with derivative b - a) from the inverted Taylor series
    of kl (narrow bands) or an outer bound (Pinsker, or the entropy bound near 0 or 1), then a
    galloping search over the last few floats; about 4 evaluations of the accurate kl per entry
    (5-9 for one scalar) instead of a 64-step bisection. Plain Python floats take a ``math``
    fast path with the same search and certificate on ``math``'s kl; its answer may differ from
    the array path's by the few floats where the two kl differ, and both are certified against
    mpmath (``tests/theory/test_kl_inverse_scalar_path.py``, also on a simulated 4-ulp libm).

    Examples
    --------
    >>> from nondecoupling import kl_bernoulli, kl_inverse_upper
    >>> b = kl_inverse_upper(0.3, 0.1)
    >>> round(b, 12), kl_bernoulli(0.3, b) <= 0.1
    (0.521027612068, True)
    """
    return _kl_inverse(SPECS["kl_inverse_upper"], a, budget, upward=True)


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
    return _kl_inverse(SPECS["kl_inverse_lower"], a, budget, upward=False)


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
    if plain := _PINSKER.accept(budget):
        return float(k3.pinsker_radius_scalar(plain[0])) + 0.0  # + 0.0: a budget of -0.0 gives +0.0, as on the array path
    return scalar_or_array(np.asarray(k3.pinsker_radius(*_PINSKER.check(budget))))


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
        certifies the TRUE one within the budget (see :func:`kl_inverse_upper`): ``rate`` for a zero budget or ``rate = 0`` (every
        :math:`x > 0` then has infinite divergence), 1 once :math:`-\log(\text{rate}) \le`
        ``budget``. Pinsker: at most ``rate + sqrt(budget/2)``.

    Raises
    ------
    ParameterError
        If ``rate`` is outside [0, 1] or ``budget`` is negative or NaN.

    Notes
    -----
    Same search, certificate and accuracy as :func:`kl_inverse_upper` (kl is convex in each
    argument, so the sublevel set in :math:`x` is an interval around ``rate``).

    Examples
    --------
    >>> from nondecoupling import kl_bernoulli, kl_inverse_first_upper
    >>> x = kl_inverse_first_upper(0.3, 0.1)
    >>> round(x, 12), kl_bernoulli(x, 0.3) <= 0.1
    (0.514629121059, True)
    """
    return _kl_inverse(SPECS["kl_inverse_first_upper"], rate, budget, upward=True, first=True)


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
        The smallest float :math:`x \le` ``rate`` whose computed
        :math:`\mathrm{kl}(x\|\text{rate})` certifies the TRUE one within ``budget`` (0 once
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
    return _kl_inverse(SPECS["kl_inverse_first_lower"], rate, budget, upward=False, first=True)


_KL, _PINSKER = SPECS["kl_bernoulli"], SPECS["pinsker_radius"]


def _kl(a, b):
    """The accurate kl: the generated math twin for two Python floats (the scalar fast path; math
    raises where numpy returns inf or NaN), the numpy form otherwise. Every evaluation of the
    kl_inverse_* searches goes through this one name (benchmarks/api_speed.py counts them)."""
    if type(a) is float and type(b) is float:
        return k1.kl_bernoulli_scalar(a, b)
    # Each branch sees only the entries that select it (nondecoupling._piecewise.first_true, which
    # also broadcasts), so the edges no longer warn; the errstate keeps numpy's inf/NaN silent.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.asarray(k1.kl_bernoulli(a, b), dtype=np.float64)


def _divergence(x, fixed, first):
    """kl(x||fixed) (``first``) or kl(fixed||x): the function whose sublevel set is searched."""
    return _kl(x, fixed) if first else _kl(fixed, x)


def _kl_inverse(spec: Spec, fixed, budget, *, upward: bool, first: bool = False):
    """The end of {x : kl(x||fixed) <= budget} (``first``) or {x : kl(fixed||x) <= budget}; ``spec``: the caller's constraints."""
    if plain := spec.accept(fixed, budget):
        value = scalar_or_none(lambda: _kl_inverse_scalar(float(plain[0]), float(plain[1]), upward=upward, first=first))
        if value is not None:
            return value
    fixed, budget = spec.check(fixed, budget)
    # + 0.0: a rate of -0.0 is the rate 0, and a pinned answer (the rate itself) is +0.0 as on the fast path.
    fixed, budget = np.broadcast_arrays(fixed + 0.0, budget)
    level = _certified_level(budget)
    edge = 1.0 if upward else 0.0
    with np.errstate(all="ignore"):
        # Where the whole side is within the budget the answer is its edge (inf admits everything).
        whole_side = np.array(_reaches(edge, fixed, budget))
        whole_side[whole_side] = _divergence(np.full(whole_side.sum(), edge), fixed[whole_side], first) <= \
            level[whole_side]
        searched = ~whole_side & (level > 0) & ~(first & ((fixed == 0) | (fixed == 1)))
        answer = fixed.copy()
        if searched.any():  # search only where the answer is not already known
            answer[searched] = _newton_last_float(fixed[searched], level[searched], 1.0 if upward else -1.0,
                                                  first=first)
    # A zero budget, or (first argument) a reference rate of 0 or 1, where every other x diverges.
    pinned = (budget == 0) | (first & ((fixed == 0) | (fixed == 1)))
    answer = np.where(whole_side, edge, np.where(pinned, fixed, answer))
    return scalar_or_array(answer)


def _kl_inverse_scalar(fixed: float, budget: float, *, upward: bool, first: bool) -> float:
    """:func:`_kl_inverse` for one rate and budget in the domain, as Python floats: the same
    branches, search and certificate without arrays, on math's kl (so the answer may differ from
    the array path's by the few floats where the two kl differ; both are on the band's side)."""
    edge = 1.0 if upward else 0.0
    level = _certified_level(budget)
    if _reaches(edge, fixed, budget) and _divergence(edge, fixed, first) <= level:
        return edge
    if budget == 0 or not level > 0 or (first and fixed in (0.0, 1.0)):
        return fixed
    with np.errstate(all="ignore"):  # the shared numpy steps may divide by zero, as on arrays
        return _newton_last_float_scalar(fixed, level, 1.0 if upward else -1.0, first=first)


#: The computed kl's error bound (kl_bernoulli's Notes): |computed - kl| <= KL_RELATIVE_ERROR kl +
#: KL_ABSOLUTE_ERROR on either path, for any libm whose log and log1p are within 4 ulps (SVML's bound).
KL_RELATIVE_ERROR = 32 * 2.0**-52
KL_ABSOLUTE_ERROR = 4 * 2.0**-1074


def outer_upper_end(a: ArrayLike, budget: ArrayLike) -> np.ndarray:
    """The band's OUTER upper end: a float u with TRUE kl(a||u) >= ``budget`` (or 1), a few ulps
    beyond the exact edge, for bounds that must not claim a point inside the band is outside it
    (V3's drop). ``kl_inverse_upper`` at a budget inflated past its certificate's gap, whose next
    float outward has a true kl above that budget (1 - 2 rho - 2 eps) - 2 eta - 2**-1073 >= ``budget``.
    Checked arrays or floats in the domain."""
    gap = 2 * KL_RELATIVE_ERROR + 2 * 2.0**-52
    with np.errstate(over="ignore"):  # a budget near the largest float inflates to inf: the whole side
        inflated = (np.asarray(budget, dtype=float) + 2 * KL_ABSOLUTE_ERROR + 2.0**-1072) / (1 - gap) * (1 + 2.0**-50)
    return np.minimum(np.nextafter(kl_inverse_upper(a, inflated), 2.0), 1.0)


def _certified_level(budget):
    """The largest computed kl that proves the TRUE kl within ``budget``.

    A computed kl k <= budget (1 - rho - eps) - (eta + 2**-1074), rho and eta the bound above, has
    kl <= (k + eta) / (1 - rho) <= budget, the roundings of this level included (eps covers the
    product's, 2**-1074 its subnormal absolute rounding). Below a few subnormals the level is
    negative and only the rate itself qualifies. Arrays or Python floats.
    """
    return budget * (1 - KL_RELATIVE_ERROR - 2.0**-52) - (KL_ABSOLUTE_ERROR + 2.0**-1074)


def _reaches(edge, fixed, budget):
    """Where the edge may be within the budget: Pinsker, kl >= 2 (edge - fixed)^2, rules it out
    elsewhere (with a 1e-9 margin, far above the computed kl's error), saving its evaluation."""
    return np.abs(edge - fixed) <= k3.pinsker_radius(budget) * (1 + 1e-9)


def _start(fixed, budget, *, upward, first):
    """Newton's start: the inverted Taylor series of kl around ``fixed`` where the band is narrow
    (within a fifth of fixed (1 - fixed), relative error about the square of that fraction), else
    :func:`_outer_start`.

    kl = d^2 / (2v) + k (2 fixed - 1) d^3 / (6 v^2) + O(d^4), v = fixed (1 - fixed), k = 1 (first
    argument) or 2 (second), inverts to d = d0 - k (2 fixed - 1) d0^2 / (6 v) with
    d0 = +-sqrt(2 v budget). Arrays or Python floats.
    """
    variance = fixed * (1 - fixed)
    leading = (1.0 if upward else -1.0) * np.sqrt(2 * variance * budget)
    series = fixed + leading - (1 if first else 2) * (2 * fixed - 1) * leading * leading / (6 * variance)
    narrow = np.abs(leading) < 0.2 * variance
    return np.where(narrow, series, _outer_start(fixed, budget, upward=upward, first=first))


def _outer_start(fixed, budget, *, upward, first):
    """A point beyond the root (divergence >= budget), close to it, strictly inside (0, 1).

    Pinsker, kl(x||y) >= 2 (x - y)^2, in either argument; for the second argument also
    kl(a||b) >= -H(a) - (1 - a) log(1 - b) (upward) and -H(a) - a log b (downward), which
    stay close when the band reaches towards 0 or 1 (where the Pinsker point leaves [0, 1]).
    Takes arrays or Python floats (the scalar path: the same ufuncs, so the same start).
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
    return np.minimum(np.maximum(pinsker, _SMALLEST), _BELOW_ONE)


_SMALLEST = float(np.nextafter(0.0, 1.0))
_BELOW_ONE = float(np.nextafter(1.0, 0.0))
#: Newton steps past this many in logit units are taken exactly (expit); shorter ones linearized.
_LINEAR_LOGIT_STEP = 1e-3
#: Newton stops once it moves at most this many ulps; the gallop from the bracket's outer end finishes.
_CONVERGED_ULPS = 4


def _newton_step(x, excess, fixed, *, first):
    """One Newton step on divergence - budget = ``excess`` at ``x`` (arrays or Python floats).

    Second argument: kl(a||sigma(y)) is convex in the logit y with derivative b - a, so steps are
    taken in logit space (they reach rates within 1e-300 of 0 or 1 in a few steps); short steps
    are linearized, b - dy b (1 - b), so that offsets from a far below an ulp of logit(a) survive.
    First argument: kl(x||r) is convex in x with derivative logit(x) - logit(r), its log(x/r)
    from log1p near r and from the ratio below r/2 (where x - r rounds to -r for subnormal x).
    """
    if first:
        log_ratio = np.where(x < 0.5 * fixed, np.log(x / fixed), np.log1p((x - fixed) / fixed))
        slope = log_ratio - np.log1p((fixed - x) / (1 - fixed))
        return x - excess / slope
    logit_step = excess / (x - fixed)
    linear = x - logit_step * x * (1 - x)
    exact = special.expit(special.logit(x) - logit_step)
    return np.where(np.abs(logit_step) < _LINEAR_LOGIT_STEP, linear, exact)


def _newton_last_float(fixed, level, direction, *, first, iterations=40):
    """Last float from ``fixed`` outward (``direction``) whose computed divergence is at most ``level``.

    Safeguarded Newton (convex: from the outer side it converges monotonically; any step that
    leaves the bracket [last feasible, last infeasible] is replaced by a bisection of the floats'
    bit patterns) on the entries still open only, then :func:`_gallop_last_float`. Measured on
    10^4 random rates with budgets 1e-12..10: 3.8-4.5 evaluations of the accurate kl per entry
    in 16-30 calls on shrinking subsets; 5-9 for one scalar (benchmarks/api_speed.py), instead
    of the 64 of a pure bisection over the bit patterns. (Hand-written: scipy's scalar root
    finders are not vectorized and do not certify the last float.)
    """
    # +0.0: the bit-pattern arithmetic below needs nonnegative floats (-0.0 is the same rate).
    inside, outside = fixed + 0.0, np.full_like(fixed, 1.0 if direction > 0 else 0.0)
    x = _start(fixed, level, upward=direction > 0, first=first)
    active = np.arange(fixed.size)  # the entries whose Newton iteration goes on
    last_feasible = np.zeros(fixed.shape, dtype=bool)  # where each entry's last iterate was feasible
    for _ in range(iterations):
        if not active.size:
            break
        point, rate = x[active], fixed[active]
        excess = _divergence(point, rate, first) - level[active]
        feasible = last_feasible[active] = excess <= 0
        inner = np.where(feasible & (direction * (point - inside[active]) > 0), point, inside[active])
        outer = np.where(~feasible & (direction * (outside[active] - point) > 0), point, outside[active])
        inside[active], outside[active] = inner, outer
        step = _newton_step(point, excess, rate, first=first)
        moving = np.abs(step - point) > _CONVERGED_ULPS * np.spacing(point)
        within = (direction * (step - inner) > 0) & (direction * (outer - step) > 0) & np.isfinite(step)
        x[active] = np.where(within, step, _bit_midpoint(inner, outer))
        active = active[moving & _open(inner, outer)]
    return _gallop_last_float(fixed, level, inside, outside, last_feasible, first=first)


def _newton_last_float_scalar(fixed, level, direction, *, first, iterations=40):
    """:func:`_newton_last_float` for one Python float: a faithful mirror of its loop (the same
    start and Newton step functions, the same bracket updates) on math's kl."""
    inside, outside = fixed + 0.0, 1.0 if direction > 0 else 0.0
    x = float(_start(fixed, level, upward=direction > 0, first=first))
    for _ in range(iterations):
        excess = _divergence(x, fixed, first) - level
        last_feasible = excess <= 0
        if last_feasible:
            if direction * (x - inside) > 0:
                inside = x
        elif direction * (outside - x) > 0:  # a NaN excess counts as infeasible, as above
            outside = x
        # A numpy float: its divisions give inf or NaN as on arrays instead of raising.
        step = float(_newton_step(np.float64(x), excess, fixed, first=first))
        moving = abs(step - x) > _CONVERGED_ULPS * math.ulp(x)
        within = direction * (step - inside) > 0 and direction * (outside - step) > 0 and math.isfinite(step)
        x = step if within else _float((_bits(inside) + _bits(outside)) // 2)
        if not (moving and abs(_bits(inside) - _bits(outside)) > 1):
            break
    return _gallop_last_float_scalar(fixed, level, _bits(inside), _bits(outside), last_feasible, first=first)


def _open(inside, outside):
    """More than one float strictly between the bracket's ends."""
    return np.abs(inside.view(np.int64) - outside.view(np.int64)) > 1


def _bit_midpoint(inside, outside):
    """The float halfway between two nonnegative floats in bit-pattern order."""
    return ((inside.view(np.int64) + outside.view(np.int64)) // 2).view(np.float64)


def _gallop_last_float(fixed, level, inside, outside, from_inside, *, first):
    """Close each bracket [``inside`` (feasible), ``outside`` (not)] to adjacent floats; return its inner end.

    Nonnegative floats are ordered like their int64 bit patterns. Newton's last iterate is
    usually within a few ulps of the last feasible float, and it is the bracket's inner end
    where ``from_inside``, its outer end elsewhere: probe 1, 2, 4, ... floats from that end
    towards the other, never past the bracket's midpoint, which turns into a bisection of the
    bit patterns once a probe lands on the other side (at most about 2 x 63 probes, typically
    1-3). Only the open brackets are evaluated.
    """
    low, high = inside.view(np.int64).copy(), outside.view(np.int64).copy()
    active = np.flatnonzero(np.abs(high - low) > 1)
    stride = 1
    while active.size:
        start = from_inside[active]
        probe = _gallop_probe(np.where(start, low[active], high[active]),
                              np.where(start, high[active], low[active]), stride)
        feasible = _divergence(probe.view(np.float64), fixed[active], first) <= level[active]
        low[active] = np.where(feasible, probe, low[active])
        high[active] = np.where(feasible, high[active], probe)
        active = active[np.abs(high[active] - low[active]) > 1]
        stride = min(2 * stride, _MAX_STRIDE)
    return low.view(np.float64)


#: The gallop's stride stops doubling here (it stays an int64; brackets span fewer than 2**63 floats).
_MAX_STRIDE = 2**62


def _gallop_probe(start, end, stride):
    """The bit pattern ``stride`` floats from ``start`` towards ``end``, at most halfway (ints or arrays)."""
    return start + np.sign(end - start) * np.minimum(stride, abs(end - start) // 2)


def _gallop_last_float_scalar(fixed, level, low, high, from_inside, *, first):
    """:func:`_gallop_last_float` for one bracket given as bit patterns (Python ints): the same probes."""
    stride = 1
    while abs(high - low) > 1:
        probe = int(_gallop_probe(low, high, stride) if from_inside else _gallop_probe(high, low, stride))
        if _divergence(_float(probe), fixed, first) <= level:
            low = probe
        else:
            high = probe
        stride = min(2 * stride, _MAX_STRIDE)
    return _float(low)


def _bits(x: float) -> int:
    """The IEEE-754 bit pattern of a Python float, as an int (ordered like nonnegative floats)."""
    return struct.unpack("<q", struct.pack("<d", x))[0]


def _float(bits: int) -> float:
    """The Python float with the bit pattern ``bits`` (inverse of :func:`_bits`)."""
    return struct.unpack("<d", struct.pack("<q", bits))[0]
