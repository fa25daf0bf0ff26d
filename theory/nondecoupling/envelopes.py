r"""P1, P2: the envelopes of SFT-then-RL and RL-then-SFT coupling under PL (THEORY.md).

A gradient flow on one PL objective, started at a minimizer of the other, moves the other
objective inside an envelope. P1 is the RL flow measured by the SFT loss, P2 the SFT flow
measured by the reward; P2 is P1 with the roles swapped, so both go through
:func:`_flow_envelope`. The formulas are printed from :mod:`nondecoupling.derivations.p1_sft_then_rl`
and :mod:`nondecoupling.derivations.p2_rl_then_sft` into :mod:`nondecoupling._generated`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from nondecoupling._generated import p1, p2
from nondecoupling.constraints import SPECS
from nondecoupling.validation import scalar_or_array, scalar_or_none

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from nondecoupling._typing import FloatOrArray

_PATH, _GAINS = SPECS["path_length_bound"], SPECS["reward_gain_bounds"]


def path_length_bound(t: ArrayLike, *, gap0: ArrayLike, mu: ArrayLike, beta: ArrayLike) -> FloatOrArray:
    r"""Bound ell(t) on the path length of a gradient flow on a PL, smooth objective (P1).

    .. math::

        \int_0^t \|\theta'(s)\|\,ds \le \ell(t) = \min\Bigl(\sqrt{2\Delta_0/\mu}\,(1 - e^{-\beta t}),\
        \sqrt{2\beta\Delta_0}\,(1 - e^{-\mu t})/\mu\Bigr)

    Parameters
    ----------
    t : float or array_like
        Time, >= 0 (``inf`` allowed).
    gap0 : float or array_like
        Initial optimality gap Delta_0 = f(theta_0) - f* >= 0 of the flowing objective.
    mu, beta : float or array_like
        Its PL and smoothness constants, 0 < mu <= beta.

    Returns
    -------
    float or ndarray
        ell(t), broadcast over the inputs.

    Raises
    ------
    ParameterError
        Negative or NaN t or gap0; mu <= 0; mu > beta.

    Notes
    -----
    The first form integrates d/dt sqrt(Delta) <= -sqrt(mu/2)||theta'|| (PL) with
    Delta_t >= Delta_0 e^{-2 beta t}; the second integrates ||theta'|| <= sqrt(2 beta Delta_t)
    with Delta_t <= Delta_0 e^{-2 mu t}. The second is smaller near t = 0, the first as
    t -> inf (limit sqrt(2 Delta_0/mu)); both equal the exact path length on isotropic
    quadratics, where mu = beta.

    Examples
    --------
    >>> from nondecoupling import path_length_bound
    >>> round(path_length_bound(1.0, gap0=0.5, mu=1.0, beta=1.0), 12)  # 1 - 1/e
    0.632120558829
    >>> path_length_bound(1.0, gap0=1.0, mu=1e-250, beta=1e-250)  # ~ t sqrt(2 beta gap0)
    1.4142135623730952e-125

    References
    ----------
    Karimi, Nutini, Schmidt, ECML-PKDD 2016; Niu et al., arXiv:2601.07389.
    """
    if plain := _PATH.accept(t, gap0, mu, beta):
        value = scalar_or_none(p1.path_length_bound_scalar, *plain)
        if value is not None:
            return value
    t, gap0, mu, beta = _PATH.check(t, gap0, mu, beta)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # select() evaluates both branches
        return scalar_or_array(p1.path_length_bound(t, gap0, mu, beta))


def reward_gain_bounds(t: ArrayLike, *, gap0: ArrayLike, mu: ArrayLike, beta: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    r"""Bounds on the gain gap0 - gap(t) of a gradient flow on its own PL, smooth objective (P1).

    .. math::

        \Delta_0 (1 - e^{-2\mu t}) \le \Delta_0 - \Delta_t \le \Delta_0 (1 - e^{-2\beta t}).

    Along the RL flow this is the reward gained, J(theta_t) - J(theta_0) (P1, with gap0 =
    rl_gap0 and the RL constants); along the SFT flow the SFT loss shed (P2's own side).

    Parameters
    ----------
    t : float or array_like
        Time, >= 0 (``inf`` allowed: both sides are then gap0).
    gap0 : float or array_like
        Initial gap Delta_0 >= 0 of the flowing objective.
    mu, beta : float or array_like
        Its PL and smoothness constants, 0 < mu <= beta.

    Returns
    -------
    (lower, upper) : tuple of float or ndarray

    Raises
    ------
    ParameterError
        Negative or NaN t or gap0; mu <= 0; mu > beta.

    Notes
    -----
    Lower: PL gives d Delta/dt = -||grad||^2 <= -2 mu Delta. Upper: smoothness gives
    ||grad||^2 <= 2 beta Delta. Both equal the exact gain on isotropic quadratics (mu = beta).

    Examples
    --------
    >>> from nondecoupling import reward_gain_bounds
    >>> low, up = reward_gain_bounds(0.5, gap0=2.0, mu=1.0, beta=2.0)
    >>> round(low, 12), round(up, 12)
    (1.264241117657, 1.729329433527)
    """
    if plain := _GAINS.accept(t, gap0, mu, beta):
        value = scalar_or_none(_gains_scalar, *plain)
        if value is not None:
            return value
    t, gap0, mu, beta = _GAINS.check(t, gap0, mu, beta)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # select() evaluates both branches
        # Both are at most gap0 exactly; the scaled product can land an ulp above it.
        upper = np.minimum(p1.gain_upper(t, gap0, beta), gap0)
        bounds = np.broadcast_arrays(np.minimum(p1.gain_lower(t, gap0, mu), upper), upper)
    return scalar_or_array(np.array(bounds[0])), scalar_or_array(np.array(bounds[1]))


def _gains_scalar(t, gap0, mu, beta):
    """Both gains are <= gap0 and lower <= upper exactly; keep rounding from crossing (one float)."""
    upper = min(p1.gain_upper_scalar(t, gap0, beta), gap0)
    return min(p1.gain_lower_scalar(t, gap0, mu), upper), upper


def sft_degradation_bounds(t: ArrayLike, *, rl_gap0: ArrayLike, sep: ArrayLike, mu_sft: ArrayLike, beta_sft: ArrayLike, mu_rl: ArrayLike, beta_rl: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    r"""Envelope of the SFT excess L(theta_t) - L* along the RL flow from an SFT optimum (P1).

    .. math::

        \frac{\mu_{sft}}{2}\max\bigl(0,\ sep - \sqrt{2\Delta_0/\mu_{rl}}\,e^{-\mu_{rl} t}\bigr)^2
        \le L(\theta_t) - L^* \le \frac{\beta_{sft}}{2}\,\ell(t)^2,

    with ell the :func:`path_length_bound` of R (gap Delta_0, mu_rl, beta_rl).

    Parameters
    ----------
    t : float or array_like
        RL time, >= 0 (``inf`` allowed: the lower bound is then mu_sft sep^2 / 2).
    rl_gap0 : float or array_like
        Delta_0 = R(theta_0) - R* >= 0 at the SFT optimum theta_0.
    sep : float or array_like
        dist(S_L, S_R) >= 0.
    mu_sft, beta_sft, mu_rl, beta_rl : float or array_like
        PL and smoothness constants of L and R, 0 < mu <= beta for each.

    Returns
    -------
    (lower, upper) : tuple of float or ndarray
        The envelope, broadcast over all inputs.

    Raises
    ------
    ParameterError
        Negative or NaN t, rl_gap0, sep; a mu <= 0; a mu above its beta.

    Notes
    -----
    Lower: QG of L, the triangle inequality dist(theta_t, S_L) >= sep - dist(theta_t, S_R)
    (valid whatever point of S_R the flow tends to) and the PL decay of R. Upper:
    smoothness of L at its minimizer theta_0. Both are attained for every t on isotropic
    quadratics with theta_0 = a (proved in the derivation). A realizable instance has
    sep <= sqrt(2 rl_gap0/mu_rl), and then lower <= upper.

    Examples
    --------
    >>> from nondecoupling import sft_degradation_bounds
    >>> low, up = sft_degradation_bounds(1.0, rl_gap0=0.5, sep=1.0, mu_sft=1.0, beta_sft=1.0, mu_rl=1.0, beta_rl=1.0)
    >>> round(low, 10), round(up, 10)  # isotropic: both equal the exact (1 - 1/e)^2 / 2
    (0.1997882004, 0.1997882004)

    References
    ----------
    Niu, Bai, Han, Zhang, arXiv:2601.07389 (2026), SFT-then-RL; THEORY.md P1.
    """
    return _envelope(p1, "sft_excess", SPECS["sft_degradation_bounds"], (t, rl_gap0, sep, mu_sft, beta_sft, mu_rl, beta_rl),
                     flow_is_rl=True)


def reward_loss_bounds(t: ArrayLike, *, sft_gap0: ArrayLike, sep: ArrayLike, mu_sft: ArrayLike, beta_sft: ArrayLike, mu_rl: ArrayLike, beta_rl: ArrayLike) -> tuple[FloatOrArray, FloatOrArray]:
    r"""Envelope of the reward loss J* - J(theta_t) along the SFT flow from an RL optimum (P2).

    .. math::

        \frac{\mu_{rl}}{2}\max\bigl(0,\ sep - \sqrt{2\varepsilon_0/\mu_{sft}}\,e^{-\mu_{sft} t}\bigr)^2
        \le J^* - J(\theta_t) \le \frac{\beta_{rl}}{2}\,\ell_{sft}(t)^2,

    with ell_sft the :func:`path_length_bound` of L (gap eps_0, mu_sft, beta_sft).

    Parameters
    ----------
    t : float or array_like
        SFT time, >= 0 (``inf`` allowed).
    sft_gap0 : float or array_like
        eps_0 = L(theta_0) - L* >= 0 at the RL optimum theta_0.
    sep : float or array_like
        dist(S_L, S_R) >= 0.
    mu_sft, beta_sft, mu_rl, beta_rl : float or array_like
        PL and smoothness constants of L and R, 0 < mu <= beta for each.

    Returns
    -------
    (lower, upper) : tuple of float or ndarray
        The envelope, broadcast over all inputs.

    Raises
    ------
    ParameterError
        Negative or NaN t, sft_gap0, sep; a mu <= 0; a mu above its beta.

    Notes
    -----
    P1 with the roles of the objectives swapped: the same generated expressions with the
    symbols renamed (:mod:`nondecoupling.derivations.p2_rl_then_sft`).

    Examples
    --------
    >>> from nondecoupling import reward_loss_bounds
    >>> low, up = reward_loss_bounds(1.0, sft_gap0=0.5, sep=1.0, mu_sft=1.0, beta_sft=1.0, mu_rl=1.0, beta_rl=1.0)
    >>> round(low, 10), round(up, 10)
    (0.1997882004, 0.1997882004)

    References
    ----------
    Niu, Bai, Han, Zhang, arXiv:2601.07389 (2026), RL-then-SFT; THEORY.md P2.
    """
    return _envelope(p2, "reward_loss", SPECS["reward_loss_bounds"], (t, sft_gap0, sep, mu_sft, beta_sft, mu_rl, beta_rl),
                     flow_is_rl=False)


def _envelope(generated, quantity, spec, values, *, flow_is_rl):
    """P1 and P2 alike: a flow on one objective from the other's optimum, measured by the other.

    ``generated`` is the module printed from the derivation (``p1`` or ``p2``) with
    ``<quantity>_lower/_upper`` (and their ``_scalar`` twins); ``spec`` is the caller's entry of
    the constraints table and ``values`` its arguments in signature order
    ``(t, gap0, sep, mu_sft, beta_sft, mu_rl, beta_rl)``; ``flow_is_rl``: the flow is RL's (P1).
    """
    if plain := spec.accept(*values):
        value = scalar_or_none(_envelope_scalar, generated, quantity, *_roles(plain, flow_is_rl))
        if value is not None:
            return value
    lower, upper = getattr(generated, f"{quantity}_lower"), getattr(generated, f"{quantity}_upper")
    return _flow_envelope(lower, upper, *_roles(spec.check(*values), flow_is_rl))


def _roles(values, flow_is_rl):
    """(t, gap0, sep, (mu, beta) of the flowed objective, (mu, beta) of the measured one)."""
    t, gap0, sep, mu_sft, beta_sft, mu_rl, beta_rl = values
    sft, rl = (mu_sft, beta_sft), (mu_rl, beta_rl)
    return (t, gap0, sep, rl, sft) if flow_is_rl else (t, gap0, sep, sft, rl)


def _envelope_scalar(generated, quantity, t, gap0, sep, flow, measured):
    """:func:`_flow_envelope` for one instance that passed the fast path's checks (sep within reach included)."""
    (mu_flow, beta_flow), (mu_measured, beta_measured) = flow, measured
    upper = getattr(generated, quantity + "_upper_scalar")(t, gap0, mu_flow, beta_flow, beta_measured)
    # lower <= upper holds exactly for a valid sep; rounding must not invert the bracket.
    return min(getattr(generated, quantity + "_lower_scalar")(t, gap0, sep, mu_flow, mu_measured), upper), upper


def _flow_envelope(lower, upper, t, gap0, sep, flow, measured):
    """Evaluate the envelope of a flow on one objective measured by the other (P1 and P2 alike).

    ``lower(t, gap0, sep, mu_flow, mu_measured)`` and
    ``upper(t, gap0, mu_flow, beta_flow, beta_measured)`` are the generated P1 or P2 functions;
    ``flow`` and ``measured`` are the validated (mu, beta) of the two objectives.
    """
    (mu_flow, beta_flow), (mu_measured, beta_measured) = flow, measured
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # select() evaluates both branches
        low, up = lower(t, gap0, sep, mu_flow, mu_measured), upper(t, gap0, mu_flow, beta_flow, beta_measured)
    # lower <= upper holds exactly for sep <= reach (checked); rounding must not invert the bracket.
    bounds = np.broadcast_arrays(np.minimum(low, up), up)
    return tuple(scalar_or_array(np.array(bound)) for bound in bounds)
