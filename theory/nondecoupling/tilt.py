r"""K2: the exact reward / SFT-loss trade-off of KL-regularized RL started at the SFT optimum.

The maximizer of :math:`E_\pi r - \frac1s \mathrm{KL}(\pi\|p^*)` is :math:`\pi_s \propto p^* e^{s r}`;
with :math:`\Lambda(s) = \log E_{p^*} e^{s r}` its reward is :math:`\Lambda'(s)`, its SFT increase
:math:`\Lambda(s) - s\Lambda'(0)` and its own KL :math:`s\Lambda'(s) - \Lambda(s)`
(:mod:`nondecoupling.derivations.k2_tilted_policy`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, TypeGuard

import numpy as np
from scipy.special import logsumexp

from nondecoupling._generated import k2
from nondecoupling._scaled import scaled_product
from nondecoupling.constraints import SPECS
from nondecoupling.validation import (
    DISTRIBUTION_ATOL,
    INF,
    check_broadcastable,
    plain_scalars,
    scalar_or_array,
    scalar_or_none,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from nondecoupling._typing import FloatOrArray

#: Above this s * (r_max - a), exp(s (r - a)) may overflow: centre at the best reward instead.
_OVERFLOW_GUARD = 700.0


def tilted_tradeoff(s: ArrayLike, probs: ArrayLike, rewards: ArrayLike) -> tuple[FloatOrArray, FloatOrArray, FloatOrArray]:
    r"""Reward, SFT increase and RL's KL of the tilted policy :math:`\pi_s \propto p^* e^{s r}` (K2).

    Parameters
    ----------
    s : float or array_like
        Tilt :math:`s = 1/\beta_{KL} \ge 0` (the inverse KL-regularization strength of RL
        started at the SFT optimum :math:`p^*`); broadcast against the leading axes of
        ``probs`` and ``rewards``. Negative tilts (RL that lowers the reward) are rejected.
    probs : array_like, shape (..., n)
        The expert distribution :math:`p^*` over ``n`` responses, along the last axis:
        entries in [0, 1] summing to 1 within the rounding of their float type (1e-9 for
        float64, ``2 n eps`` for float32 and float16; then renormalized in float64).
    rewards : array_like, shape (..., n)
        Rewards :math:`r \in [0, 1]` of the responses, broadcastable against ``probs``.

    Returns
    -------
    reward : float or ndarray
        :math:`E_{\pi_s} r = \Lambda'(s)`.
    sft_increase : float or ndarray
        :math:`\mathrm{CE}(p^*, \pi_s) - H(p^*) = \mathrm{KL}(p^*\|\pi_s) = \Lambda(s) - s\Lambda'(0) \ge 0`.
    rl_kl : float or ndarray
        :math:`\mathrm{KL}(\pi_s\|p^*) = s\Lambda'(s) - \Lambda(s) \ge 0`.

    Raises
    ------
    ParameterError
        If ``s`` is negative, infinite or NaN, if ``probs`` or ``rewards`` leave [0, 1], if
        ``probs`` does not sum to 1 along its last axis, or if the shapes do not match.

    Notes
    -----
    For binary rewards ``sft_increase == kl_bernoulli(a, reward)`` (K1 with equality) and
    ``rl_kl == kl_bernoulli(reward, a)``. Small :math:`s`: ``sft_increase`` is
    :math:`(\text{reward} - a)^2 / (2\,\mathrm{Var}_{p^*} r) + O(s^3)`.

    Computed with rewards centred at :math:`a`,
    :math:`\Lambda(s) - sa = \log(1 + \sum_i p_i E_2(s(r_i - a)))` and reward gain
    :math:`\sum_i p_i \mathrm{expm1}(s(r_i - a))(r_i - a) e^{-(\Lambda(s) - sa)}`: sums of
    nonnegative terms, so they keep a relative error of a few ulp down to :math:`s \to 0`
    (the difference :math:`\Lambda(s) - sa` would lose accuracy like :math:`1/s`). Where
    :math:`s(\max r - a) > 700` the exponentials are centred at the best reward
    (:func:`scipy.special.logsumexp`) instead, and ``rl_kl`` uses whichever centring subtracts
    the smaller term. The rounding of :math:`a` itself adds an absolute error of order
    :math:`(s\,\epsilon)^2` (visible only when :math:`\mathrm{Var}_{p^*} r \approx 0`).

    Examples
    --------
    >>> from nondecoupling import tilted_tradeoff
    >>> reward, sft_increase, rl_kl = tilted_tradeoff(1.0, [0.5, 0.5], [0.0, 1.0])
    >>> round(reward, 12), round(sft_increase, 12), round(rl_kl, 12)
    (0.73105857863, 0.120114506958, 0.110944071672)

    References
    ----------
    Niu, Bai, Han, Zhang, arXiv:2601.07389 (2026).
    """
    if _plain_input(s, probs, rewards):
        result = scalar_or_none(_plain_tradeoff, float(s), probs, rewards)
        if result is not None:
            return result
    tilt, table, table_rewards = SPECS["tilted_tradeoff"].check(s, probs, rewards)
    # s indexes the leading axes; the responses are the last axis of probs and rewards.
    shape = check_broadcastable(probs=table, rewards=table_rewards, s=tilt[..., None])
    reward, increase, rl_kl = tradeoff_of_checked(tilt, table, table_rewards, shape)
    return scalar_or_array(reward), scalar_or_array(increase), scalar_or_array(rl_kl)


def tradeoff_of_checked(s: np.ndarray, probs: np.ndarray, rewards: np.ndarray, shape: tuple[int, ...],
                        weight: float | np.ndarray = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`tilted_tradeoff` of checked float64 arrays (``shape``: their broadcast shape, with
    ``s[..., None]``), as arrays. The rewards may be any nonnegative finite numbers here: the
    trade-off of ``(s / c, c r)`` is the one of ``(s, r)`` with the reward scaled by ``c``.
    The increase comes multiplied by ``weight`` (broadcast with ``s``), formed so that it is
    finite wherever the weighted increase is a float, even where the increase itself is not
    (V1 weighs prompts: a small weight may bring a prompt's increase past 1.8e308 back)."""
    p, r = np.broadcast_to(probs, shape), np.broadcast_to(rewards, shape)
    tilt = np.broadcast_to(s[..., None], shape)
    support = p > 0  # off-support responses never matter
    best = np.max(np.where(support, r, -np.inf), axis=-1, keepdims=True)
    worst = np.min(np.where(support, r, np.inf), axis=-1, keepdims=True)
    # The mean lies in [worst, best] exactly; rounding must not put it outside (constant rewards
    # would otherwise look like a variance of an ulp, which a huge s amplifies).
    rate = np.clip(np.sum(p * r, axis=-1, keepdims=True), worst, best)
    # Overflow to inf is the right rounding of a huge product; the branch np.where drops may be NaN.
    with np.errstate(over="ignore", invalid="ignore"):
        increase, gain = _centred_at_mean(tilt, p, np.where(support, r - rate, 0.0))
        log_mass, short = _centred_at_best(tilt, p, support, np.where(support, best - r, 0.0))
        s, rate, best = tilt[..., 0], rate[..., 0], best[..., 0]
        overflow = s * (best - rate) > _OVERFLOW_GUARD
        # The tilted mean lies in [E_{p*} r, max r] exactly (Lambda' is increasing); keep it there.
        reward = np.clip(np.where(overflow, best - short, rate + gain), rate, best)
        # E_p (r_max - r): a sum of nonnegative terms, unlike r_max - a, whose rounding s amplifies.
        mean_shortfall = np.sum(np.where(support, p * (best[..., None] - r), 0.0), axis=-1)
        weighted = np.where(overflow, weight * log_mass + scaled_product((weight, s, mean_shortfall)), weight * increase)
        # rl_kl = s Lambda'(s) - Lambda(s) >= 0 in the centring with the smaller rounding error:
        # about eps * s * gain for the mean, eps * (1 + s * short - log_mass) for the best reward
        # (always the latter past the overflow guard).
        max_centred = overflow | (s * gain > 1.0 + s * short - log_mass)
        rl_kl = np.maximum(np.where(max_centred, -log_mass - s * short, s * gain - increase), 0.0)
    return reward, weighted, rl_kl


def _centred_at_mean(tilt, p, centred):
    """Lambda(s) - s a and Lambda'(s) - a with the rewards centred at their mean a: sums of
    nonnegative terms, exact in relative terms as s -> 0 (they overflow for s (max r - a) > 700)."""
    excess = np.sum(p * k2.tilt_remainder(tilt, centred), axis=-1)  # exp(Lambda - s a) - 1
    gain = np.sum(p * np.expm1(tilt * centred) * centred, axis=-1) / (1.0 + excess)
    return np.log1p(excess), gain


def _centred_at_best(tilt, p, support, shortfall):
    """log E exp(-s (r_max - r)) <= 0, which never overflows, and r_max - Lambda'(s)."""
    shifted = np.where(support, -tilt * shortfall, -np.inf)
    log_mass = logsumexp(shifted, b=p, axis=-1, keepdims=True)
    short = np.sum(p * np.exp(shifted - log_mass) * shortfall, axis=-1)
    return log_mass[..., 0], short


# ----- The scalar fast path (issue 25): one tilt, plain lists or tuples, the same formulas with math.
_PLAIN_SEQUENCES = (list, tuple)


def _plain_input(s: Any, probs: Any, rewards: Any) -> TypeGuard[float]:
    """Input that the array path accepts, as Python numbers: a tilt s in [0, inf), and lists or
    tuples of rates of one length, probs summing to 1 (within half the tolerance: a sum at the
    edge takes the array path, which decides it)."""
    return (type(probs) in _PLAIN_SEQUENCES and type(rewards) in _PLAIN_SEQUENCES and 0 < len(probs) == len(rewards)
            and bool(plain_scalars(s, *probs, *rewards)) and 0 <= s < INF
            and all(0 <= p <= 1 for p in probs) and all(0 <= r <= 1 for r in rewards)
            and abs(math.fsum(probs) - 1.0) <= DISTRIBUTION_ATOL / 2)


def _plain_tradeoff(s, probs, rewards):
    """:func:`tradeoff_of_checked` for one tilt, on Python floats (math raises where it overflows)."""
    total = math.fsum(probs)
    support = [(p / total, float(r)) for p, r in zip(probs, rewards) if p > 0]
    best, worst = max(r for _, r in support), min(r for _, r in support)
    rate = min(max(math.fsum(p * r for p, r in support), worst), best)
    log_mass = math.log(math.fsum(p * math.exp(-s * (best - r)) for p, r in support))
    short = math.fsum(p * math.exp(-s * (best - r) - log_mass) * (best - r) for p, r in support)
    if s * (best - rate) > _OVERFLOW_GUARD:
        mean_shortfall = math.fsum(p * (best - r) for p, r in support)  # as on the array path
        return max(best - short, rate), log_mass + s * mean_shortfall, max(-log_mass - s * short, 0.0)
    excess = math.fsum(p * k2.tilt_remainder_scalar(s, r - rate) for p, r in support)
    gain = math.fsum(p * math.expm1(s * (r - rate)) * (r - rate) for p, r in support) / (1.0 + excess)
    increase = math.log1p(excess)
    at_best = s * gain > 1.0 + s * short - log_mass  # the centring with the smaller rounding error
    rl_kl = -log_mass - s * short if at_best else s * gain - increase
    return min(max(rate + gain, rate), best), increase, max(rl_kl, 0.0)
