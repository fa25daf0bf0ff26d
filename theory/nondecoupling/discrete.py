"""P5: gradient descent on the RL loss in discrete time, and its optimal number of steps.

Numbers come from :mod:`nondecoupling._generated.p5`, printed from the sympy derivation
:mod:`nondecoupling.derivations.p5_discrete_time` (statement, proof and references there).
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING

import numpy as np

from nondecoupling._generated import p5
from nondecoupling.constraints import SPECS
from nondecoupling.validation import scalar_or_array, scalar_or_none

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from nondecoupling._typing import FloatOrArray, IntOrArray


_CONTRACTION, _OPTIMAL_STEPS = SPECS["gd_contraction"], SPECS["optimal_rl_steps"]
_PATH, _DEGRADATION = SPECS["discrete_path_length_bound"], SPECS["discrete_sft_degradation_bounds"]
_GAINS, _NET_GAIN = SPECS["discrete_reward_gain_bounds"], SPECS["discrete_net_gain"]


def gd_contraction(*, mu: ArrayLike, beta: ArrayLike, eta: ArrayLike, sharp: bool = False) -> FloatOrArray:
    r"""One-step contraction factor of gradient descent on a beta-smooth, mu-PL function (P5).

    Gradient descent theta_{k+1} = theta_k - eta grad R(theta_k) obeys
    Delta_{k+1} <= q Delta_k with Delta = R - R*.

    Parameters
    ----------
    mu : float or array_like
        PL constant, 0.5 ||grad R||^2 >= mu (R - R*); 0 < mu <= beta.
    beta : float or array_like
        Smoothness constant (grad R is beta-Lipschitz), > 0.
    eta : float or array_like
        Step size, 0 < eta < 2/beta.
    sharp : bool, default False
        Return q_sharp = min(q, q_ADZ) instead of q.

    Returns
    -------
    float or ndarray
        q = 1 - mu eta (2 - eta beta) in [0, 1), or q_sharp; broadcast over the inputs.

    Raises
    ------
    ParameterError
        If mu <= 0, beta <= 0, mu > beta, eta <= 0, eta >= 2/beta, or any input is NaN.

    Notes
    -----
    q follows from the descent lemma and PL. q_ADZ is Theorem 3 of Abbaszadehpeivasti, de
    Klerk, Zamani (2023) with weak-convexity parameter -beta: with x = beta eta,
    ((mu (1 - x) + sqrt(4 beta^2 - 2 beta (beta + mu) mu eta (2 - x))) / (2 beta + mu))^2
    for x < 1, 1 - mu eta (4 - x^2)/(2 + mu eta) for 1 <= x <= sqrt 3 and
    (x - 1)^2 / ((x - 1)^2 + mu eta (2 - x)) for x > sqrt 3. The derivation proves
    q_ADZ <= q (equality iff mu = beta), so q_sharp = q_ADZ. Both are attained, and equal,
    at mu = beta by R = (beta/2) x^2; for mu < beta, q_sharp < q strictly.

    What is known of the exact one-step worst case q_true for mu < beta (a bracket, per
    step-size range; corrected from THEORY.md, which calls q_ADZ tight):

    - lower end, every eta: the explicit R = (mu x^2 + beta y^2)/2 started on an
      eigenvector contracts by max((1 - mu eta)^2, (1 - beta eta)^2) <= q_true;
    - 0 < eta beta < sqrt 3: PEPit's SDP over the stronger necessary conditions of Rubbens,
      Hendrickx, Taylor (2025) certifies values below q_ADZ, so
      q_true in [max((1 - mu eta)^2, (1 - beta eta)^2), PEPit] with PEPit < q_ADZ;
      e.g. mu/beta = 0.2, eta = 1/beta: [0.64, 0.6833], q_ADZ = 8/11 = 0.7273, q = 0.8;
    - sqrt 3 <= eta beta < 2: that SDP returns q_ADZ itself at every point tried
      (mu/beta in {0.01, 0.05, 0.3, 0.7, 0.95}, eta beta in {1.7321, 1.75, 1.9, 1.99}), so
      q_true in [max((1 - mu eta)^2, (1 - beta eta)^2), q_ADZ]; whether q_ADZ is attained
      there is open (the SDP's conditions are necessary, not sufficient).

    ``benchmarks/pepit_adz_check.py`` reproduces the PEPit values;
    the tight-regime tests (``test_sim_tight_regimes.py``) check the lower end and q_sharp < q.

    Examples
    --------
    >>> from nondecoupling import gd_contraction
    >>> round(gd_contraction(mu=0.2, beta=1.0, eta=1.0), 12), round(gd_contraction(mu=0.2, beta=1.0, eta=1.0, sharp=True), 12)
    (0.8, 0.727272727273)

    References
    ----------
    H. Abbaszadehpeivasti, E. de Klerk, M. Zamani, "Conditions for linear convergence of
    the gradient method for non-convex optimization", Optim. Lett. 17 (2023), Thm 3.
    H. Karimi, J. Nutini, M. Schmidt, ECML-PKDD 2016 (descent lemma + PL).
    """
    if plain := _CONTRACTION.accept(mu, beta, eta, sharp):
        mu_f, beta_f, eta_f, _ = plain
        value = scalar_or_none(_gd_contraction_scalar, mu_f * eta_f, beta_f * eta_f, sharp)
        if value is not None:
            return value
    mu, beta, eta, sharp = _CONTRACTION.check(mu, beta, eta, sharp)
    # q depends on mu eta and beta eta only (proved in the derivation): no beta^2 to overflow.
    mu_eta, beta_eta = np.multiply(mu, eta), np.multiply(beta, eta)
    rate = p5.gd_rate(mu_eta, beta_eta, 1.0)
    if sharp:
        with np.errstate(all="ignore"):  # select() evaluates every range
            rate = np.minimum(rate, p5.adz_rate(mu_eta, beta_eta, 1.0))
    return scalar_or_array(np.clip(rate, 0.0, 1.0))


def optimal_rl_steps(*, lam: ArrayLike, mu_rl: ArrayLike, beta_rl: ArrayLike, beta_sft: ArrayLike, eta: ArrayLike, sharp: bool = False) -> IntOrArray:
    r"""Number of RL gradient steps that maximizes the guaranteed net gain (P5, discrete P3).

    From theta_0 in S_L, after k steps of gradient descent on R the net gain
    G_k = [J(theta_k) - J(theta_0)] - lam [L(theta_k) - L*] obeys
    G_k >= Delta_0 [1 - q^k - c_eta (1 - q^{k/2})^2], c_eta = lam beta_sft beta_rl eta^2/(1 - sqrt q)^2.
    The right side is concave in x = q^{k/2} and largest at
    k* = 2 ln(c_eta/(1 + c_eta)) / ln q, where it equals Delta_0/(1 + c_eta). This returns
    the better of floor(k*) and floor(k*) + 1 under the discrete bound (the smaller on ties).

    Parameters
    ----------
    lam : float or array_like
        Weight of the SFT loss in the net gain, > 0.
    mu_rl, beta_rl : float or array_like
        PL and smoothness constants of the RL loss R, 0 < mu_rl <= beta_rl.
    beta_sft : float or array_like
        Smoothness constant of the SFT loss L, > 0.
    eta : float or array_like
        RL step size, 0 < eta < 2/beta_rl.
    sharp : bool, default False
        Use q_sharp = min(q, q_ADZ) (see :func:`gd_contraction`) instead of q.

    Returns
    -------
    int or ndarray
        K* >= 0 (0 where not even one step is provably worth its SFT cost); broadcast. A
        Python int for scalar input (exact at any size); an int64 array while every count is
        below 2**63, else a float64 array of whole numbers (counts never wrap around). Where
        mu_rl eta underflows (below 1e-308) q rounds to 1 and 0 is returned.

    Raises
    ------
    ParameterError
        If lam <= 0, beta_sft <= 0, mu_rl <= 0, mu_rl > beta_rl, eta outside (0, 2/beta_rl),
        or any input is NaN.

    Notes
    -----
    As eta -> 0 with eta k = t: c_eta -> c = lam beta_sft beta_rl/mu_rl^2 and
    eta K* -> t* = ln(1 + 1/c)/mu_rl, P3's optimal duration (proved in the derivation).
    Every bound only uses Delta_{k+1} <= q Delta_k, so any valid rate may be used.
    Corrected from THEORY.md: the guarantee at the integer K* is at most Delta_0/(1 + c_eta)
    (equal only when k* is an integer), not at least; see the derivation for a
    counterexample.

    Known limit: where mu_rl eta < 1e-290, k* ~ 2 log(c/(1 + c)) / log q can reach the end of the
    float range; there the result may be ``inf`` (a float) instead of an integer (the intermediate
    quotient overflows before the true k* does).

    Examples
    --------
    >>> from nondecoupling import optimal_rl_steps
    >>> optimal_rl_steps(lam=1.0, mu_rl=1.0, beta_rl=1.0, beta_sft=1.0, eta=0.1)
    7
    """
    if _OPTIMAL_STEPS.accept(lam, mu_rl, beta_rl, beta_sft, eta, sharp):
        value = scalar_or_none(_optimal_steps_scalar, lam, beta_sft, mu_rl, beta_rl, eta, sharp)
        if value is not None:
            return int(value) if math.isfinite(value) else value
    lam, mu_rl, beta_rl, beta_sft, eta, sharp = _OPTIMAL_STEPS.check(lam, mu_rl, beta_rl, beta_sft, eta, sharp)
    ratio = _deficit_ratio(mu_rl, beta_rl, eta, sharp)
    with _select_errors():
        below = np.floor(p5.optimal_steps(lam, beta_sft, mu_rl, beta_rl, eta, ratio))
        above = below + 1
        gain_below = p5.discrete_net_gain(below, 1.0, lam, beta_sft, mu_rl, beta_rl, eta, ratio)
        gain_above = p5.discrete_net_gain(above, 1.0, lam, beta_sft, mu_rl, beta_rl, eta, ratio)
    # Where mu_rl eta underflows (< 1e-308, subnormal products included: there k* ~ 1/(mu_rl eta) is
    # past the float range) q rounds to 1: no step is provably worth its cost in floats.
    underflow = (ratio <= 0) | (np.multiply(mu_rl, eta) < np.finfo(float).tiny)
    steps = np.where(underflow, 0.0, np.where(gain_above > gain_below, above, below))
    if steps.ndim == 0:  # a Python int is exact at any size; a k* past the float range stays inf
        return int(steps) if np.isfinite(steps) else steps
    # int64 while every count fits; past 2**63 the counts stay exact-valued floats (never wrap).
    return steps.astype(np.int64) if np.all(steps < 2.0**63) else steps


def _deficit_ratio(mu, beta, eta, sharp):
    """(1 - sqrt(q))/(mu eta), or that of q_sharp (a smaller rate is a larger deficit), of checked input.

    The deficit 1 - sqrt(q) = mu eta (2 - beta eta)/(1 + sqrt q) is subnormal, so has few bits, where
    mu eta is a normal float and beta eta is within 2**-52 of 2; its ratio to mu eta is a normal
    float (at least 2**-53), and the generated forms take the deficit as the factors mu, eta and
    this ratio. Evaluated at (mu eta, beta eta, 1): the ratios depend on those products only.
    """
    mu_eta, beta_eta = mu * eta, beta * eta
    deficit = p5.gd_rate_sqrt_deficit_ratio(mu_eta, beta_eta, 1.0)
    if sharp:
        with np.errstate(all="ignore"):  # select() evaluates every range
            deficit = np.maximum(deficit, p5.adz_rate_sqrt_deficit_ratio(mu_eta, beta_eta, 1.0))
    return np.maximum(deficit, 0.0)


def _broadcast_pair(lower, upper):
    return tuple(scalar_or_array(np.array(bound)) for bound in np.broadcast_arrays(lower, upper))


# numpy.select evaluates every branch: the k = 0 branch computes 0 * log(0) = 0 * -inf where q = 0.
def _select_errors():
    return np.errstate(all="ignore")


def discrete_path_length_bound(steps: ArrayLike, *, gap0: ArrayLike, mu: ArrayLike, beta: ArrayLike, eta: ArrayLike, sharp: bool = False) -> FloatOrArray:
    r"""Bound ell_k on the path length of k gradient-descent steps on a PL, smooth objective (P5).

    .. math::

        \sum_{j<k}\|\theta_{j+1} - \theta_j\| \le \ell_k = \min\Bigl(
        \frac{\eta\sqrt{2\beta\Delta_0}\,(1 - q^{k/2})}{1 - \sqrt q},\
        \frac{\sqrt{2\Delta_0/\mu}}{1 - \eta\beta/2}\Bigr)

    Parameters
    ----------
    steps : int or array_like
        Number of steps k >= 0 (integer-valued).
    gap0 : float or array_like
        Initial gap Delta_0 >= 0 of the descended objective.
    mu, beta : float or array_like
        Its PL and smoothness constants, 0 < mu <= beta.
    eta : float or array_like
        Step size, 0 < eta < 2/beta.
    sharp : bool, default False
        Use q_sharp (see :func:`gd_contraction`) for q.

    Returns
    -------
    float or ndarray
        ell_k, broadcast over the inputs.

    Raises
    ------
    ParameterError
        Negative, fractional or NaN steps; negative gap0; mu <= 0; mu > beta; eta outside
        (0, 2/beta); non-bool sharp.

    Notes
    -----
    The first form sums the step lengths eta ||g_j|| <= eta sqrt(2 beta Delta_0) q^{j/2}; the
    second telescopes sqrt(Delta) under PL. As eta -> 0 with eta k = t the first tends to
    P1's second path-length form. Equal to the exact path length on (beta/2)||x||^2 with
    eta beta < 1.

    Examples
    --------
    >>> from nondecoupling import discrete_path_length_bound
    >>> round(discrete_path_length_bound(3, gap0=0.5, mu=1.0, beta=1.0, eta=0.5), 12)
    0.875
    """
    if plain := _PATH.accept(steps, gap0, mu, beta, eta, sharp):
        value = scalar_or_none(_path_length_scalar, *plain)
        if value is not None:
            return value
    steps, gap0, mu, beta, eta, sharp = _PATH.check(steps, gap0, mu, beta, eta, sharp)
    ratio = _deficit_ratio(mu, beta, eta, sharp)
    with _select_errors():
        return scalar_or_array(np.asarray(p5.discrete_path_length_bound(steps, gap0, mu, beta, eta, ratio)))


def discrete_sft_degradation_bounds(steps: ArrayLike, *, rl_gap0: ArrayLike, sep: ArrayLike, mu_sft: ArrayLike, beta_sft: ArrayLike, mu_rl: ArrayLike, beta_rl: ArrayLike, eta: ArrayLike, sharp: bool = False) -> tuple[FloatOrArray, FloatOrArray]:
    r"""Envelope of the SFT excess after k gradient steps on R from an SFT optimum (P5, discrete P1).

    .. math::

        \frac{\mu_{sft}}{2}\max\bigl(0,\ sep - \sqrt{2\Delta_0/\mu_{rl}}\,q^{k/2}\bigr)^2
        \le L(\theta_k) - L^* \le \frac{\beta_{sft}}{2}\,\ell_k^2,

    with ell_k the :func:`discrete_path_length_bound` of R.

    Parameters
    ----------
    steps : int or array_like
        Number of RL steps k >= 0.
    rl_gap0 : float or array_like
        Delta_0 = R(theta_0) - R* >= 0 at the SFT optimum theta_0.
    sep : float or array_like
        dist(S_L, S_R) >= 0.
    mu_sft, beta_sft, mu_rl, beta_rl : float or array_like
        PL and smoothness constants of L and R, 0 < mu <= beta for each.
    eta : float or array_like
        RL step size, 0 < eta < 2/beta_rl.
    sharp : bool, default False
        Use q_sharp for q.

    Returns
    -------
    (lower, upper) : tuple of float or ndarray

    Raises
    ------
    ParameterError
        As :func:`discrete_path_length_bound`, and for invalid sep or SFT constants.

    Notes
    -----
    The lower side is P1's with e^{-mu_rl t} -> q^{k/2} (Delta_k <= q^k Delta_0 and quadratic
    growth of R); the upper side is smoothness of L at its minimizer. Attained on isotropic
    quadratics from the SFT optimum with eta mu_rl < 1.

    At the edge sep = r = sqrt(2 Delta_0/mu_rl) (accepted up to a 1e-9 relative slack) the
    difference sep - r q^{k/2} cancels; the lower bound is well-conditioned there in absolute
    terms (its slope in sep, mu_sft (sep - r q^{k/2}), vanishes with it), and both paths return it
    within 1e-12 relative plus 2**-50 mu_sft (sep^2 + r^2 q^k) absolute (the rounding of the two
    distances), q taken at the float products mu_rl eta and beta_rl eta. On the tight instance
    the exact lower equals the upper; rounding can put it above, and it is then clipped to the
    upper (both paths), as lower <= upper holds for every realizable sep <= r.

    Examples
    --------
    >>> from nondecoupling import discrete_sft_degradation_bounds
    >>> low, up = discrete_sft_degradation_bounds(2, rl_gap0=0.5, sep=1.0, mu_sft=1.0, beta_sft=1.0,
    ...                                           mu_rl=1.0, beta_rl=1.0, eta=0.5)
    >>> round(low, 12), round(up, 12)
    (0.28125, 0.28125)
    """
    values = (steps, rl_gap0, sep, mu_sft, beta_sft, mu_rl, beta_rl, eta, sharp)
    if plain := _DEGRADATION.accept(*values):
        value = scalar_or_none(_discrete_envelope_scalar, *plain)
        if value is not None:
            return value
    steps, rl_gap0, sep, mu_sft, beta_sft, mu_rl, beta_rl, eta, sharp = _DEGRADATION.check(*values)
    ratio = _deficit_ratio(mu_rl, beta_rl, eta, sharp)
    with _select_errors():
        lower = p5.discrete_sft_excess_lower(steps, rl_gap0, sep, mu_rl, mu_sft, eta, ratio)
        upper = p5.discrete_sft_excess_upper(steps, rl_gap0, mu_rl, beta_rl, beta_sft, eta, ratio)
    return _broadcast_pair(np.minimum(lower, upper), upper)  # as the scalar path: rounding must not cross


def discrete_reward_gain_bounds(steps: ArrayLike, *, rl_gap0: ArrayLike, mu_rl: ArrayLike, beta_rl: ArrayLike, eta: ArrayLike, sharp: bool = False) -> tuple[FloatOrArray, FloatOrArray]:
    r"""Bounds on the reward gained by k gradient steps on R (P5, discrete P1 reward side).

    .. math::

        \Delta_0 (1 - q^k) \le J(\theta_k) - J(\theta_0) = \Delta_0 - \Delta_k
        \le \Delta_0 (1 - p^k), \qquad p = \max(0,\ 1 - 2\beta_{rl}\eta - \beta_{rl}^2\eta^2).

    Parameters
    ----------
    steps : int or array_like
        Number of steps k >= 0.
    rl_gap0 : float or array_like
        Delta_0 = R(theta_0) - R* >= 0.
    mu_rl, beta_rl : float or array_like
        PL and smoothness constants of R, 0 < mu_rl <= beta_rl.
    eta : float or array_like
        Step size, 0 < eta < 2/beta_rl.
    sharp : bool, default False
        Use q_sharp for q (the lower bound only).

    Returns
    -------
    (lower, upper) : tuple of float or ndarray

    Raises
    ------
    ParameterError
        Negative, fractional or NaN steps; negative rl_gap0; invalid constants or step;
        non-bool sharp.

    Notes
    -----
    Lower: Delta_{k+1} <= q Delta_k (descent lemma and PL). 1 - sqrt q enters the product as
    mu_rl, eta and (1 - sqrt q)/(mu_rl eta), a normal float: a few ulps also where 1 - sqrt q is
    subnormal (eta within ulps of 2/beta_rl), up to k = 2^-60/(1 - sqrt q) > 4e289 steps there. Upper: the lower descent lemma
    with ||g||^2 <= 2 beta Delta gives Delta_{k+1} >= p Delta_k. The lower bound is attained on
    (mu/2)||x||^2 with eta mu < 1; as eta -> 0 (eta k = t) p^{k/2} -> e^{-beta t}, P1's bound.
    The upper bound is attained where eta beta >= 1 (p = 0): on a quadratic with an eigenvalue
    1/eta in [mu, beta], started on its eigenvector, one step reaches the minimizer. For
    eta beta < 1 it is not: no beta-smooth R reaches its minimum in one step there
    (|g_0| = |g_0 - g_1| <= beta eta |g_0|), and the best explicit instance, (beta/2) x^2, gains
    Delta_0 (1 - (1 - beta eta)^{2k}).

    Examples
    --------
    >>> from nondecoupling import discrete_reward_gain_bounds
    >>> low, up = discrete_reward_gain_bounds(1, rl_gap0=1.0, mu_rl=1.0, beta_rl=1.0, eta=0.25)
    >>> round(low, 12), round(up, 12)
    (0.4375, 0.5625)
    """
    if plain := _GAINS.accept(steps, rl_gap0, mu_rl, beta_rl, eta, sharp):
        value = scalar_or_none(_gains_scalar, *plain)
        if value is not None:
            return value
    steps, rl_gap0, mu_rl, beta_rl, eta, sharp = _GAINS.check(steps, rl_gap0, mu_rl, beta_rl, eta, sharp)
    ratio = _deficit_ratio(mu_rl, beta_rl, eta, sharp)
    with _select_errors():
        lower = p5.discrete_gain_lower(steps, rl_gap0, mu_rl, eta, ratio)
        upper = p5.discrete_gain_upper(steps, rl_gap0, beta_rl, eta)
    upper = np.minimum(upper, rl_gap0)  # both <= Delta_0, lower <= upper exactly; rounding must not cross
    return _broadcast_pair(np.minimum(lower, upper), upper)


def discrete_net_gain(steps: ArrayLike, *, rl_gap0: ArrayLike, lam: ArrayLike, mu_rl: ArrayLike, beta_rl: ArrayLike, beta_sft: ArrayLike, eta: ArrayLike, sharp: bool = False) -> FloatOrArray:
    r"""Guaranteed net gain after k RL gradient steps from an SFT optimum (P5, discrete P3).

    .. math::

        G_k \ge \Delta_0\bigl[1 - q^k - c_\eta (1 - q^{k/2})^2\bigr], \qquad
        c_\eta = \frac{\lambda\,\beta_{sft}\,\beta_{rl}\,\eta^2}{(1 - \sqrt q)^2}.

    Parameters
    ----------
    steps : int or array_like
        Number of RL steps k >= 0.
    rl_gap0 : float or array_like
        Delta_0 >= 0.
    lam : float or array_like
        Weight of the SFT loss, > 0.
    mu_rl, beta_rl : float or array_like
        PL and smoothness constants of R, 0 < mu_rl <= beta_rl.
    beta_sft : float or array_like
        Smoothness constant of L, > 0.
    eta : float or array_like
        RL step size, 0 < eta < 2/beta_rl.
    sharp : bool, default False
        Use q_sharp for q.

    Returns
    -------
    float or ndarray
        The guarantee; its maximum over k is at :func:`optimal_rl_steps`.

    Raises
    ------
    ParameterError
        As :func:`optimal_rl_steps`, and for invalid steps or rl_gap0.

    Notes
    -----
    The reward lower bound of :func:`discrete_reward_gain_bounds` minus lam times the upper
    SFT envelope with the first path-length form; evaluated through expm1/log1p, with
    1 - sqrt q as the factors mu_rl, eta and (1 - sqrt q)/(mu_rl eta) (accurate where it is
    subnormal, as in :func:`discrete_reward_gain_bounds`). Exact on
    isotropic quadratics from the SFT optimum with eta mu_rl < 1.

    Examples
    --------
    >>> from nondecoupling import discrete_net_gain
    >>> round(discrete_net_gain(1, rl_gap0=1.0, lam=1.0, mu_rl=1.0, beta_rl=1.0, beta_sft=1.0, eta=0.5), 12)
    0.5
    """
    values = (steps, rl_gap0, lam, mu_rl, beta_rl, beta_sft, eta, sharp)
    if _NET_GAIN.accept(*values):
        value = scalar_or_none(_net_gain_scalar, steps, rl_gap0, lam, beta_sft, mu_rl, beta_rl, eta, sharp)
        if value is not None:
            return value
    steps, rl_gap0, lam, mu_rl, beta_rl, beta_sft, eta, sharp = _NET_GAIN.check(*values)
    ratio = _deficit_ratio(mu_rl, beta_rl, eta, sharp)
    with _select_errors():
        gain = p5.discrete_net_gain(steps, rl_gap0, lam, beta_sft, mu_rl, beta_rl, eta, ratio)
    return scalar_or_array(np.minimum(gain, rl_gap0))  # <= Delta_0 exactly; keep rounding from crossing it


# ----- The scalar fast path: the formulas on Python floats (for values that passed the table's accept test).
def _gd_contraction_scalar(mu_eta, beta_eta, sharp):
    rate = p5.gd_rate_scalar(mu_eta, beta_eta, 1.0)
    if sharp:
        rate = min(rate, p5.adz_rate_scalar(mu_eta, beta_eta, 1.0))
    return min(max(rate, 0.0), 1.0)


def _deficit_ratio_scalar(mu, beta, eta, sharp):
    """(1 - sqrt(q))/(mu eta) (or q_sharp's) at (mu eta, beta eta, 1), as :func:`_deficit_ratio`."""
    mu_eta, beta_eta = mu * eta, beta * eta
    deficit = p5.gd_rate_sqrt_deficit_ratio_scalar(mu_eta, beta_eta, 1.0)
    if sharp:
        deficit = max(deficit, p5.adz_rate_sqrt_deficit_ratio_scalar(mu_eta, beta_eta, 1.0))
    return max(deficit, 0.0)


def _path_length_scalar(steps, gap0, mu, beta, eta, sharp):
    return p5.discrete_path_length_bound_scalar(steps, gap0, mu, beta, eta, _deficit_ratio_scalar(mu, beta, eta, sharp))


def _gains_scalar(steps, rl_gap0, mu_rl, beta_rl, eta, sharp):
    """Both gains are <= rl_gap0 and lower <= upper exactly; keep rounding from crossing (one float)."""
    upper = min(p5.discrete_gain_upper_scalar(steps, rl_gap0, beta_rl, eta), rl_gap0)
    ratio = _deficit_ratio_scalar(mu_rl, beta_rl, eta, sharp)
    return min(p5.discrete_gain_lower_scalar(steps, rl_gap0, mu_rl, eta, ratio), upper), upper


def _net_gain_scalar(steps, rl_gap0, lam, beta_sft, mu_rl, beta_rl, eta, sharp):
    ratio = _deficit_ratio_scalar(mu_rl, beta_rl, eta, sharp)
    return min(p5.discrete_net_gain_scalar(steps, rl_gap0, lam, beta_sft, mu_rl, beta_rl, eta, ratio), rl_gap0)


def _optimal_steps_scalar(lam, beta_sft, mu_rl, beta_rl, eta, sharp):
    ratio = _deficit_ratio_scalar(mu_rl, beta_rl, eta, sharp)
    if ratio <= 0 or mu_rl * eta < sys.float_info.min:  # as the array path's underflow
        return 0
    k_star = p5.optimal_steps_scalar(lam, beta_sft, mu_rl, beta_rl, eta, ratio)
    if not math.isfinite(k_star):  # past the float range: as the array path, whose floor keeps inf
        return k_star
    below = math.floor(k_star)
    gain_below = p5.discrete_net_gain_scalar(below, 1.0, lam, beta_sft, mu_rl, beta_rl, eta, ratio)
    gain_above = p5.discrete_net_gain_scalar(below + 1, 1.0, lam, beta_sft, mu_rl, beta_rl, eta, ratio)
    return below + 1 if gain_above > gain_below else below


def _discrete_envelope_scalar(steps, rl_gap0, sep, mu_sft, beta_sft, mu_rl, beta_rl, eta, sharp):
    ratio = _deficit_ratio_scalar(mu_rl, beta_rl, eta, sharp)
    upper = p5.discrete_sft_excess_upper_scalar(steps, rl_gap0, mu_rl, beta_rl, beta_sft, eta, ratio)
    return min(p5.discrete_sft_excess_lower_scalar(steps, rl_gap0, sep, mu_rl, mu_sft, eta, ratio), upper), upper
