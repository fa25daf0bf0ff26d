r"""P3: the RL duration that best trades reward gained against SFT loss paid (THEORY.md).

The formulas are printed from :mod:`nondecoupling.derivations.p3_optimal_rl_duration` into
:mod:`nondecoupling._generated.p3`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from nondecoupling._generated import p3
from nondecoupling.constraints import SPECS
from nondecoupling.validation import scalar_or_array, scalar_or_none

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from nondecoupling._typing import FloatOrArray


_NET_GAIN = SPECS["guaranteed_net_gain"]


def optimal_rl_duration(*, lam: ArrayLike, mu_rl: ArrayLike, beta_rl: ArrayLike, beta_sft: ArrayLike) -> FloatOrArray:
    r"""The RL time t* that maximizes the guaranteed net gain g(t) of :func:`guaranteed_net_gain` (P3).

    .. math::

        t^* = \frac{1}{\mu_{rl}}\ln\Bigl(1 + \frac{1}{c}\Bigr), \qquad
        c = \frac{\lambda\,\beta_{sft}\,\beta_{rl}}{\mu_{rl}^2},

    and :math:`g(t^*) = \Delta_0/(1 + c)`, whatever Delta_0.

    Parameters
    ----------
    lam : float or array_like
        Weight of the SFT loss in the net gain, > 0.
    mu_rl, beta_rl : float or array_like
        PL and smoothness constants of the RL loss, 0 < mu_rl <= beta_rl.
    beta_sft : float or array_like
        Smoothness constant of the SFT loss, > 0.

    Returns
    -------
    float or ndarray
        t*, broadcast over the inputs.

    Raises
    ------
    ParameterError
        lam <= 0, beta_sft <= 0, mu_rl <= 0, mu_rl > beta_rl, or NaN.

    Notes
    -----
    Computed as log1p(1/c)/mu_rl, accurate from c = 1e-12 (t* ~ 27.6/mu_rl) to c = 1e12
    (t* ~ 1e-12/mu_rl). On isotropic quadratics (beta = mu) g is the exact net gain, so t*
    is the true optimum.

    Examples
    --------
    >>> from nondecoupling import optimal_rl_duration
    >>> round(optimal_rl_duration(lam=1.0, mu_rl=1.0, beta_rl=1.0, beta_sft=1.0), 12)  # ln 2
    0.69314718056

    References
    ----------
    Niu, Bai, Han, Zhang, arXiv:2601.07389 (2026); THEORY.md P3.
    """
    return _tradeoff_time(SPECS["optimal_rl_duration"], p3.optimal_rl_duration, p3.optimal_rl_duration_scalar,
                          lam, mu_rl, beta_rl, beta_sft)


def guaranteed_net_gain(t: ArrayLike, *, rl_gap0: ArrayLike, lam: ArrayLike, mu_rl: ArrayLike, beta_rl: ArrayLike, beta_sft: ArrayLike) -> FloatOrArray:
    r"""Lower bound g(t) on the net gain of RL from an SFT optimum (P3).

    .. math::

        G(t) = [J(\theta_t) - J(\theta_0)] - \lambda\,[L(\theta_t) - L^*]
        \ge g(t) = \Delta_0\bigl[1 - e^{-2\mu_{rl} t} - c\,(1 - e^{-\mu_{rl} t})^2\bigr],
        \qquad c = \frac{\lambda\,\beta_{sft}\,\beta_{rl}}{\mu_{rl}^2}.

    Parameters
    ----------
    t : float or array_like
        RL time, >= 0 (``inf`` allowed: g(inf) = Delta_0 (1 - c)).
    rl_gap0 : float or array_like
        Delta_0 = R(theta_0) - R* >= 0.
    lam : float or array_like
        Weight of the SFT loss, > 0.
    mu_rl, beta_rl : float or array_like
        PL and smoothness constants of the RL loss, 0 < mu_rl <= beta_rl.
    beta_sft : float or array_like
        Smoothness constant of the SFT loss, > 0.

    Returns
    -------
    float or ndarray
        g(t), broadcast over the inputs.

    Raises
    ------
    ParameterError
        Negative or NaN t or rl_gap0; lam <= 0; beta_sft <= 0; mu_rl <= 0; mu_rl > beta_rl.

    Notes
    -----
    g is P1's reward lower bound minus lam times P1's upper SFT envelope with the second
    path-length form. If c > 1 it turns negative after t_neg = ln((c + 1)/(c - 1))/mu_rl.
    It is evaluated as Delta_0 s (2 e^{-mu_rl t} + (1 - c) s), s = -expm1(-mu_rl t), which has
    no cancellation for c <= 1 and only the unavoidable one near t_neg for c > 1.

    Examples
    --------
    >>> import math
    >>> from nondecoupling import guaranteed_net_gain
    >>> round(guaranteed_net_gain(math.log(2), rl_gap0=1.0, lam=1.0, mu_rl=1.0, beta_rl=1.0, beta_sft=1.0), 12)
    0.5

    References
    ----------
    Niu, Bai, Han, Zhang, arXiv:2601.07389 (2026); THEORY.md P3.
    """
    if plain := _NET_GAIN.accept(t, rl_gap0, lam, mu_rl, beta_rl, beta_sft):
        value = scalar_or_none(_net_gain_scalar, *plain)
        if value is not None:
            return value
    t, rl_gap0, lam, mu_rl, beta_rl, beta_sft = _NET_GAIN.check(t, rl_gap0, lam, mu_rl, beta_rl, beta_sft)
    with np.errstate(all="ignore"):  # select() evaluates every branch; the unused ones may overflow
        gain = p3.guaranteed_net_gain(t, rl_gap0, lam, mu_rl, beta_rl, beta_sft)
    return scalar_or_array(np.minimum(gain, rl_gap0))  # g <= Delta_0 exactly; rounding must not cross it


def _net_gain_scalar(t, rl_gap0, lam, mu_rl, beta_rl, beta_sft):
    return min(p3.guaranteed_net_gain_scalar(t, rl_gap0, lam, mu_rl, beta_rl, beta_sft), rl_gap0)


def rl_break_even_time(*, lam: ArrayLike, mu_rl: ArrayLike, beta_rl: ArrayLike, beta_sft: ArrayLike) -> FloatOrArray:
    r"""The RL time t_neg after which the guaranteed net gain g(t) is negative (P3).

    .. math::

        t_{neg} = \frac{1}{\mu_{rl}}\ln\frac{c + 1}{c - 1} \quad (c > 1), \qquad
        t_{neg} = \infty \quad (c \le 1), \qquad
        c = \frac{\lambda\,\beta_{sft}\,\beta_{rl}}{\mu_{rl}^2}.

    Past t_neg RL is no longer provably worth its SFT cost; t_neg > t* always.

    Parameters
    ----------
    lam : float or array_like
        Weight of the SFT loss in the net gain, > 0.
    mu_rl, beta_rl : float or array_like
        PL and smoothness constants of the RL loss, 0 < mu_rl <= beta_rl.
    beta_sft : float or array_like
        Smoothness constant of the SFT loss, > 0.

    Returns
    -------
    float or ndarray
        t_neg (``inf`` where c <= 1: the guarantee never turns negative).

    Raises
    ------
    ParameterError
        lam <= 0, beta_sft <= 0, mu_rl <= 0, mu_rl > beta_rl, or NaN.

    Notes
    -----
    Computed as log1p(2/(c - 1))/mu_rl, accurate for large c; near c = 1 t_neg is
    inherently sensitive to c (it diverges like ln(2/(c - 1))/mu_rl).

    Examples
    --------
    >>> from nondecoupling import rl_break_even_time
    >>> round(rl_break_even_time(lam=2.0, mu_rl=1.0, beta_rl=1.0, beta_sft=1.0), 12)  # ln 3
    1.098612288668
    >>> rl_break_even_time(lam=0.5, mu_rl=1.0, beta_rl=1.0, beta_sft=1.0)
    inf

    References
    ----------
    Niu, Bai, Han, Zhang, arXiv:2601.07389 (2026); THEORY.md P3.
    """
    return _tradeoff_time(SPECS["rl_break_even_time"], p3.rl_break_even_time, p3.rl_break_even_time_scalar,
                          lam, mu_rl, beta_rl, beta_sft)


def _tradeoff_time(spec, generated, generated_scalar, lam, mu_rl, beta_rl, beta_sft):
    """A P3 time (t* or t_neg) of (lam, mu_rl, beta_rl, beta_sft): the fast path, else validated arrays."""
    if plain := spec.accept(lam, mu_rl, beta_rl, beta_sft):
        value = scalar_or_none(generated_scalar, *plain)
        if value is not None:
            return value
    lam, mu_rl, beta_rl, beta_sft = spec.check(lam, mu_rl, beta_rl, beta_sft)
    with np.errstate(all="ignore"):  # select() evaluates every branch; the unused ones may overflow
        return scalar_or_array(generated(lam, mu_rl, beta_rl, beta_sft))
