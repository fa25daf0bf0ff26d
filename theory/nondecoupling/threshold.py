r"""P4: the non-decoupling threshold tau and the time after which RL keeps the SFT loss up (THEORY.md).

The formulas are printed from :mod:`nondecoupling.derivations.p4_nondecoupling_threshold` into
:mod:`nondecoupling._generated.p4`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from nondecoupling._generated import p4
from nondecoupling.constraints import SPECS
from nondecoupling.validation import scalar_or_array, scalar_or_none

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from nondecoupling._typing import FloatOrArray


_THRESHOLD, _CROSSING = SPECS["nondecoupling_threshold"], SPECS["crossing_time"]

#: crossing_time's accuracy (its Notes): the result is exact for sep, sqrt(2 eps_0/mu_sft) and
#: sqrt(2 Delta_0/mu_rl) each within CROSSING_DISTANCE_ERROR relative (plus 2**-1074), up to
#: CROSSING_RELATIVE_ERROR relative (plus 2**-1074) in the result.
CROSSING_DISTANCE_ERROR = 2.0**-50
CROSSING_RELATIVE_ERROR = 2.0**-49


def nondecoupling_threshold(*, sft_min: ArrayLike, sep: ArrayLike, mu_sft: ArrayLike) -> FloatOrArray:
    r"""The SFT loss tau = L* + mu_sft sep^2 / 2 below which RL cannot push it for good (P4).

    Along the RL flow :math:`\liminf_t L(\theta_t) \ge \tau`, so RL can end with a lower SFT
    loss than it started from only if :math:`L(\theta_0) > \tau`.

    Parameters
    ----------
    sft_min : float or array_like
        L* = inf L (any finite real).
    sep : float or array_like
        dist(S_L, S_R) >= 0.
    mu_sft : float or array_like
        PL constant of the SFT loss, > 0.

    Returns
    -------
    float or ndarray
        tau, broadcast over the inputs.

    Raises
    ------
    ParameterError
        Non-finite sft_min; negative or NaN sep; mu_sft <= 0.

    Notes
    -----
    Exact on isotropic quadratics: L(theta_inf) = tau for every theta_0.

    Examples
    --------
    >>> from nondecoupling import nondecoupling_threshold
    >>> nondecoupling_threshold(sft_min=1.0, sep=2.0, mu_sft=0.5)
    2.0

    References
    ----------
    Niu, Bai, Han, Zhang, arXiv:2601.07389 (2026); THEORY.md P4 (i).
    """
    if plain := _THRESHOLD.accept(sft_min, sep, mu_sft):
        value = scalar_or_none(p4.nondecoupling_threshold_scalar, *plain)
        if value is not None:
            return value
    return scalar_or_array(p4.nondecoupling_threshold(*_THRESHOLD.check(sft_min, sep, mu_sft)))


def crossing_time(*, sft_gap0: ArrayLike, rl_gap0: ArrayLike, sep: ArrayLike, mu_sft: ArrayLike, mu_rl: ArrayLike) -> FloatOrArray:
    r"""Time T_x after which RL keeps the SFT loss above where it started (P4 (ii)).

    If :math:`L(\theta_0) < \tau`, i.e. :math:`sep > \sqrt{2\varepsilon_0/\mu_{sft}}`, then
    :math:`L(\theta_t) > L(\theta_0)` for all :math:`t > T_x`,

    .. math::

        T_x = \frac{1}{\mu_{rl}}\ln\frac{\sqrt{2\Delta_0/\mu_{rl}}}{sep - \sqrt{2\varepsilon_0/\mu_{sft}}}
        \quad (0 \text{ if negative}),

    and T_x = inf (no guarantee) when :math:`sep \le \sqrt{2\varepsilon_0/\mu_{sft}}`.

    Parameters
    ----------
    sft_gap0 : float or array_like
        eps_0 = L(theta_0) - L* >= 0.
    rl_gap0 : float or array_like
        Delta_0 = R(theta_0) - R* >= 0.
    sep : float or array_like
        dist(S_L, S_R) >= 0.
    mu_sft, mu_rl : float or array_like
        PL constants of the SFT and RL losses, > 0.

    Returns
    -------
    float or ndarray
        T_x in [0, inf], broadcast over the inputs.

    Raises
    ------
    ParameterError
        Negative or NaN gaps or sep; a mu <= 0.

    Notes
    -----
    T_x solves P1's lower envelope(T_x) = eps_0. A realizable instance has
    sep <= sqrt(2 eps_0/mu_sft) + sqrt(2 Delta_0/mu_rl) (quadratic growth); a larger sep is
    rejected, and then the log is never negative (the clamp at 0 only absorbs rounding). The
    log is taken of a scaled product, so T_x stays finite wherever it is a float. Tight: on isotropic quadratics with theta_0 on
    the line through the optima, behind the SFT optimum, T_x is the exact crossing time.

    Accuracy, on both paths (mixed: backward in the distances, forward in the log). T_x is
    ill-conditioned at the edge sep = s + r (s = sqrt(2 eps_0/mu_sft), r = sqrt(2 Delta_0/mu_rl)):
    there T_x = 0 with slope -1/(mu_rl r) in sep, so its relative condition number is infinite,
    and where r is below an ulp of s, T_x jumps from 0 to inf within one ulp of sep (at
    Delta_0 = 0 it is inf for sep <= s and 0 beyond). No float evaluation of the distances can
    decide that jump, so the stated bound is in terms of their rounding: the result lies in
    :math:`[(1 - \rho)\,T_x^- - \eta,\ (1 + \rho)\,T_x^+ + \eta]`, where :math:`T_x^\mp` is
    the exact T_x with sep, s and r each moved by at most ``CROSSING_DISTANCE_ERROR`` = 2**-50
    relative plus 2**-1074 absolute (toward the smaller, resp. larger, T_x), :math:`\rho` =
    ``CROSSING_RELATIVE_ERROR`` = 2**-49 and :math:`\eta` = 2**-1074, for any libm whose log is
    within 4 ulps (SVML's bound; sqrt and arithmetic are correctly rounded). A first-order
    count gives 3.5 roundings of 2**-53 for s and r and 0.5 for the difference, 4 ulps of the
    log plus one rounding of the division by mu_rl. Away from the edge the interval is a forward
    bound: its width is about 2**-48 (sep/(mu_rl (sep - s)) + T_x).

    Examples
    --------
    >>> from nondecoupling import crossing_time
    >>> round(crossing_time(sft_gap0=0.0, rl_gap0=0.5, sep=0.5, mu_sft=1.0, mu_rl=1.0), 12)  # ln 2
    0.69314718056

    References
    ----------
    Niu, Bai, Han, Zhang, arXiv:2601.07389 (2026); THEORY.md P4 (ii).
    """
    if plain := _CROSSING.accept(sft_gap0, rl_gap0, sep, mu_sft, mu_rl):
        value = scalar_or_none(p4.crossing_time_scalar, *plain)
        if value is not None:
            return value
    sft_gap0, rl_gap0, sep, mu_sft, mu_rl = _CROSSING.check(sft_gap0, rl_gap0, sep, mu_sft, mu_rl)
    # numpy.select evaluates every branch: the log also runs where its argument is <= 0.
    with np.errstate(all="ignore"):
        return scalar_or_array(p4.crossing_time(sft_gap0, rl_gap0, sep, mu_sft, mu_rl))
