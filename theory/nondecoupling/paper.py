r"""The paper's own statements (THEORY.md section V), in its notation, and which of them hold.

Niu, Bai, Han, Zhang, arXiv:2601.07389, version 1 (distribution space, end states):

| paper (v1) | ID | function | status |
|------------|----|----------|--------|
| Theorem 3.1 | V1 | :func:`sft_increase_after_kl_rl` | holds (K2 at s = 1/beta, averaged) |
| Proposition 1 | V2 | :func:`reward_change_bound`, :func:`reward_change_band` | holds in the form given here |
| Theorem 4.1 | V3 | :func:`theorem_4_1_as_stated` (the claim), :func:`guaranteed_reward_drop` (corrected) | false as stated; corrected |
| v2 "threshold" | V5 | :func:`threshold_loss_level` (P4's tau), :func:`threshold_time` (P3's t*) | both readings offered |

Nothing here re-derives a formula: V1 is :func:`nondecoupling.tilt.tilted_tradeoff`, V2 and V3
are Bernoulli-KL inverses of :mod:`nondecoupling.kl`, V5 names P3's and P4's functions. The
identities behind V1 and V3 are proved in :mod:`nondecoupling.derivations.v1_sft_after_kl_rl` and
:mod:`nondecoupling.derivations.v3_reward_drop`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from nondecoupling.constraints import SPECS
from nondecoupling.duration import optimal_rl_duration
from nondecoupling.kl import (
    kl_inverse_first_lower,
    kl_inverse_first_upper,
    kl_inverse_lower,
    kl_inverse_upper,
    outer_upper_end,
    pinsker_radius,
)
from nondecoupling.threshold import nondecoupling_threshold
from nondecoupling.tilt import tradeoff_of_checked
from nondecoupling.validation import (
    ParameterError,
    check_broadcastable,
    scalar_or_array,
)

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from nondecoupling._typing import FloatOrArray

#: Reward scale for tilts 1/beta >= 1 (see sft_increase_after_kl_rl): 2**64 keeps 2**-64/beta normal.
_REWARD_SCALE = 2.0**64


def _prompt_table(probs: np.ndarray, rewards: np.ndarray, weights: np.ndarray | None, *,
                  names: tuple[str, str] = ("probs", "rewards")) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked distributions and rewards as (prompts, responses) arrays, and the prompt weights
    (uniform for None) checked against the number of prompts; ``names``: the caller's."""
    shape = check_broadcastable(**dict(zip(names, (probs, rewards))))
    if len(shape) > 2:
        raise ParameterError(names[0], "of shape (prompts, responses) or (responses,)", f"shape {shape}")
    probs, rewards = (np.broadcast_to(x, shape).reshape(-1, shape[-1]) for x in (probs, rewards))
    prompts = probs.shape[0]
    if weights is None:
        return probs, rewards, np.full(prompts, 1.0 / prompts)
    if weights.shape != (prompts,):
        raise ParameterError("prompt_weights", f"of shape ({prompts},), one weight per prompt", f"shape {weights.shape}")
    return probs, rewards, weights


def sft_increase_after_kl_rl(probs: ArrayLike, rewards: ArrayLike, *, beta: ArrayLike, prompt_weights: ArrayLike | None = None) -> FloatOrArray:
    r"""C1(beta): the SFT loss that KL-regularized RL from the exact SFT model adds (V1, paper Thm 3.1).

    With :math:`p_{SFT} = p_D` and :math:`p_{RL} = p_D e^{r/\beta} / Z_\beta(x)`,

    .. math::

        L_{SFT}(p_{RL}) - L_{SFT}(p_{SFT}) = C_1(\beta)
        = E_x\Bigl[\log Z_\beta(x) - \tfrac1\beta E_{p_D(\cdot|x)} r(x, \cdot)\Bigr] \ge 0,

    with equality iff :math:`r(x, \cdot)` is :math:`p_D`-a.s. constant for almost every prompt.
    It is K2's SFT increase at tilt :math:`s = 1/\beta`, averaged over prompts.

    Parameters
    ----------
    probs : array_like, shape (prompts, responses) or (responses,)
        Expert distribution :math:`p_D(y|x)` per prompt (rows sum to 1).
    rewards : array_like, broadcastable to ``probs``
        Rewards :math:`r(x, y) \in [0, 1]`.
    beta : float or array_like
        KL coefficient :math:`\beta > 0` of RL (``inf`` allowed: no RL, C1 = 0).
    prompt_weights : array_like, shape (prompts,), optional
        Prompt distribution :math:`q(x)` (uniform by default).

    Returns
    -------
    float or ndarray
        :math:`C_1(\beta)`, shape of ``beta``.

    Raises
    ------
    ParameterError
        ``beta <= 0`` or NaN; ``probs``/``rewards`` outside [0, 1], rows of ``probs`` not summing
        to 1, shapes that do not match; ``prompt_weights`` not a distribution over the prompts.

    Notes
    -----
    Proof (:mod:`nondecoupling.derivations.v1_sft_after_kl_rl`):
    :math:`-\log p_{RL} = -\log p_D - r/\beta + \log Z_\beta`, averaged under :math:`p_D`;
    nonnegative by Jensen. K1 is strictly more general (any policy, not only the tilt).

    Examples
    --------
    >>> from nondecoupling import sft_increase_after_kl_rl
    >>> round(sft_increase_after_kl_rl([0.5, 0.5], [1.0, 0.0], beta=1.0), 6)  # log cosh(1/2)
    0.120115
    """
    table, table_rewards, kl_weight, weights = SPECS["sft_increase_after_kl_rl"].check(probs, rewards, beta, prompt_weights)
    table, table_rewards, weights = _prompt_table(table, table_rewards, weights)
    # 1/beta overflows for a subnormal beta, though C1 ~ (max r - E r)/beta may be finite: tilt the
    # rewards scaled by 2**64 by 2**-64/beta instead, the same products s r exactly (powers of two).
    scale = np.where(kl_weight < 1.0, _REWARD_SCALE, 1.0)[..., None, None]
    tilt = (1.0 / scale[..., 0]) / kl_weight[..., None]  # indexes the prompts: shape beta.shape + (prompts,)
    shape = np.broadcast_shapes(tilt.shape + (1,), table.shape)
    # Each prompt's share w C1 is formed as one product: C1 alone may pass 1.8e308 where w C1 does not.
    shares = tradeoff_of_checked(tilt, table, scale * table_rewards, shape, weight=weights)[1]
    with np.errstate(over="ignore"):  # the average itself may pass 1.8e308 (inf: the true value is not a float)
        return scalar_or_array(np.sum(shares, axis=-1))


def reward_change_bound(expected_kl: ArrayLike) -> FloatOrArray:
    r"""Pinsker/Jensen bound on the reward change between two policies (V2, paper Prop. 1).

    For rewards in [0, 1] and any two policies :math:`\pi, \pi'`,

    .. math::

        |J(\pi') - J(\pi)| \le \sqrt{E_x \mathrm{KL}(\pi'(\cdot|x)\,\|\,\pi(\cdot|x)) / 2}

    (Pinsker per prompt, then Jensen across prompts). Either KL direction may be used:
    Pinsker bounds the total variation by :math:`\sqrt{\mathrm{KL}/2}` for both.

    Parameters
    ----------
    expected_kl : float or array_like
        :math:`E_x \mathrm{KL}` between the two policies, >= 0 (``inf`` allowed).

    Returns
    -------
    float or ndarray
        :math:`\sqrt{E_x\mathrm{KL}/2}` (not capped at 1).

    Raises
    ------
    ParameterError
        Negative or NaN ``expected_kl``.

    Notes
    -----
    Tight as KL -> 0: one prompt, :math:`r = (1, 0)`, :math:`\pi = (1/2, 1/2)`,
    :math:`\pi' = (1/2 + d, 1/2 - d)` gives :math:`|J' - J| = d` and
    :math:`\sqrt{\mathrm{KL}/2} = d + O(d^3)`. :func:`reward_change_band` is never wider.

    Examples
    --------
    >>> from nondecoupling import reward_change_bound
    >>> reward_change_bound(0.02)
    0.1
    """
    return pinsker_radius(*SPECS["reward_change_bound"].check(expected_kl))  # K3's Pinsker radius


def reward_change_band(rl_reward: ArrayLike, expected_kl: ArrayLike, *, kl_direction: str = "sft||rl") -> tuple[FloatOrArray, FloatOrArray]:
    r"""The rates a policy within a KL budget of the RL policy can reach (V2, the sharp form).

    Data processing on the reward (a [0, 1]-valued statistic) gives, per prompt, and averaged
    over prompts by joint convexity of the Bernoulli KL:

    - ``kl_direction="sft||rl"``, budget :math:`E_x\mathrm{KL}(\pi_{SFT}\|\pi_{RL})`:
      :math:`\mathrm{kl}(J(\pi_{SFT})\,\|\,J(\pi_{RL})) \le` budget, an inverse of kl in its
      FIRST argument (:func:`nondecoupling.kl.kl_inverse_first_lower` / ``_upper``);
    - ``kl_direction="rl||sft"``, budget :math:`E_x\mathrm{KL}(\pi_{RL}\|\pi_{SFT})`:
      :math:`\mathrm{kl}(J(\pi_{RL})\,\|\,J(\pi_{SFT})) \le` budget, K3's inverse in the SECOND
      argument (:func:`nondecoupling.kl.kl_inverse_lower` / ``_upper``).

    Parameters
    ----------
    rl_reward : float or array_like
        :math:`J(\pi_{RL}) \in [0, 1]` (prompt-averaged pass rate of the RL policy).
    expected_kl : float or array_like
        The KL budget, >= 0 (``inf`` allowed), in the direction ``kl_direction``.
    kl_direction : {"sft||rl", "rl||sft"}
        Which KL the budget bounds.

    Returns
    -------
    (lower, upper) : tuple of float or ndarray
        :math:`J(\pi_{SFT})` lies in [lower, upper]; inside Pinsker's
        :math:`J(\pi_{RL}) \pm` :func:`reward_change_bound`.

    Raises
    ------
    ParameterError
        ``rl_reward`` outside [0, 1], negative ``expected_kl``, an unknown ``kl_direction``.

    Notes
    -----
    Tight for every budget: a binary reward and :math:`\pi_{SFT}` a within-class rescaling of
    :math:`\pi_{RL}` give :math:`\mathrm{KL} = \mathrm{kl}` exactly, so the pass rate lands on the
    band's edge.

    Examples
    --------
    >>> from nondecoupling import reward_change_band
    >>> lower, upper = reward_change_band(0.5, 0.02)
    >>> bool(0.4 < lower < 0.5 < upper < 0.6)
    True
    """
    rl_reward, expected_kl, kl_direction = SPECS["reward_change_band"].check(rl_reward, expected_kl, kl_direction)
    if kl_direction == "sft||rl":
        return kl_inverse_first_lower(rl_reward, expected_kl), kl_inverse_first_upper(rl_reward, expected_kl)
    return kl_inverse_lower(rl_reward, expected_kl), kl_inverse_upper(rl_reward, expected_kl)


class ClaimCheck(NamedTuple):
    """One instance judged against paper Theorem 4.1 as stated (see :func:`theorem_4_1_as_stated`)."""

    expected_kl: float
    """:math:`E_x \\mathrm{KL}(\\pi_{SFT}\\|\\pi_{RL})`."""
    assumption_holds: bool
    """Assumption 3: ``kl_low <= expected_kl <= kl_high``."""
    reward_drop: float
    """:math:`J(\\pi_{RL}) - J(\\pi_{SFT})`."""
    conclusion_holds: bool
    """The claim's conclusion: the reward dropped strictly (``reward_drop > tolerance``)."""

    @property
    def counterexample(self) -> bool:
        """The assumption holds and the conclusion does not: the instance refutes the claim."""
        return self.assumption_holds and not self.conclusion_holds


def theorem_4_1_as_stated(rl_probs: ArrayLike, sft_probs: ArrayLike, rewards: ArrayLike, *, kl_low: float, kl_high: float,
                          prompt_weights: ArrayLike | None = None, tolerance: float = 1e-12) -> ClaimCheck:
    r"""Judge one instance against paper Theorem 4.1 AS STATED (V3; false, see Notes).

    The claim: if :math:`0 < a \le E_x\mathrm{KL}(\pi_{SFT}\|\pi_{RL}) \le A` (Assumption 3),
    SFT after RL lowers the reward by a strict constant :math:`C_2 > 0`. This evaluates the
    assumption and the conclusion :math:`J(\pi_{RL}) - J(\pi_{SFT}) > 0` on the instance.

    Parameters
    ----------
    rl_probs, sft_probs : array_like, shape (prompts, responses) or (responses,)
        The RL policy and the policy after SFT, rows summing to 1.
    rewards : array_like, broadcastable to the policies
        :math:`r(x, y) \in [0, 1]`.
    kl_low, kl_high : float
        Assumption 3's :math:`0 < a \le A`.
    prompt_weights : array_like, shape (prompts,), optional
        Prompt distribution (uniform by default).
    tolerance : float, default 1e-12
        A number >= 0; a drop at or below it counts as no drop: the rounding of the reward sums of two
        policies with equal rewards is not a strict decrease.

    Returns
    -------
    ClaimCheck
        ``counterexample`` is True where the instance refutes the claim.

    Raises
    ------
    ParameterError
        Invalid distributions, rewards or shapes; ``kl_low <= 0`` or ``kl_high < kl_low``.

    Notes
    -----
    FALSE as stated. Section V's counterexample: one prompt, :math:`r \equiv 0`,
    :math:`\pi_{RL} = (1/2, 1/2)`, :math:`\pi_{SFT} = (3/4, 1/4)`: the KL is
    :math:`0.75\ln 1.5 + 0.25\ln 0.5 = 0.1308 \in [0.1, 0.2]` and the reward does not move.
    Any reward that ties on the support breaks it the same way (SFT moving mass within a
    reward level). The corrected strict statement is :func:`guaranteed_reward_drop`.

    Examples
    --------
    >>> from nondecoupling import theorem_4_1_as_stated
    >>> theorem_4_1_as_stated([0.5, 0.5], [0.75, 0.25], [0.0, 0.0], kl_low=0.1, kl_high=0.2).counterexample
    True
    """
    rl, sft, reward_values, kl_low, kl_high, weights, tolerance = SPECS["theorem_4_1_as_stated"].check(
        rl_probs, sft_probs, rewards, kl_low, kl_high, prompt_weights, tolerance)
    rl, rewards_table, weights = _prompt_table(rl, reward_values, weights, names=("rl_probs", "rewards"))
    sft, _, _ = _prompt_table(sft, reward_values, weights, names=("sft_probs", "rewards"))
    if sft.shape != rl.shape:
        raise ParameterError("sft_probs", f"of the shape of rl_probs {rl.shape}", f"shape {sft.shape}")
    if np.any((sft > 0) & (rl == 0)):
        expected_kl = np.inf  # SFT put mass where the RL policy has none
    else:
        log_ratio = np.log(np.where(sft > 0, sft, 1.0) / np.where(sft > 0, rl, 1.0))
        expected_kl = float(np.sum(sft * log_ratio, axis=-1) @ weights)
    drop = float(np.sum((rl - sft) * rewards_table, axis=-1) @ weights)
    return ClaimCheck(expected_kl, bool(kl_low <= expected_kl <= kl_high), drop, bool(drop > tolerance))


def guaranteed_reward_drop(*, expert_pass_rate: ArrayLike, rl_pass_rate: ArrayLike, sft_excess: ArrayLike) -> FloatOrArray:
    r"""The reward drop that SFT after RL is certain to cause (V3, corrected paper Thm 4.1).

    RL reached pass rate :math:`b_{RL}`; SFT after it has brought the SFT excess
    :math:`\varepsilon = CE(p^*, \pi) - H(p^*)` down. By K1, :math:`\mathrm{kl}(a\|b) \le \varepsilon`
    for the current rate :math:`b`, so :math:`b \le \mathrm{kl}^{-1}_\uparrow(a, \varepsilon)` and

    .. math::

        b_{RL} - b \ \ge\ C_2 = \max\bigl(0,\ b_{RL} - \mathrm{kl}^{-1}_\uparrow(a, \varepsilon)\bigr),

    positive only when :math:`b_{RL} > a` and :math:`\mathrm{kl}(a\|b_{RL}) > \varepsilon`. The
    band's end is taken on its OUTER side (a float whose true kl is at least :math:`\varepsilon`,
    a few ulps beyond the exact edge, :func:`nondecoupling.kl.outer_upper_end`), so the bound is
    never claimed for a :math:`b_{RL}` inside the band; it is positive once :math:`b_{RL}` lies
    beyond the edge by those ulps (the inner end :func:`kl_inverse_upper` returns would
    overstate :math:`C_2` by up to about 1e-14 relative there).

    Parameters
    ----------
    expert_pass_rate : float or array_like
        :math:`a = E_{p^*} r \in [0, 1]` (prompt-averaged).
    rl_pass_rate : float or array_like
        :math:`b_{RL} \in [0, 1]`, the pass rate RL reached (prompt-averaged).
    sft_excess : float or array_like
        :math:`\varepsilon \ge 0` now (prompt-averaged sequence-level excess; ``inf`` allowed).

    Returns
    -------
    float or ndarray
        :math:`C_2 \ge 0`, broadcast over the inputs.

    Raises
    ------
    ParameterError
        Rates outside [0, 1]; negative or NaN ``sft_excess``.

    Notes
    -----
    Symmetrically, if :math:`b_{RL} < a`, SFT raises the rate by at least
    :math:`\mathrm{kl}^{-1}_\downarrow(a, \varepsilon) - b_{RL}`. Tight: a binary reward with
    :math:`p^*` uniform within each reward class, RL a tilt of :math:`p^*` and SFT's flow after
    it keep :math:`\pi` a within-class rescaling of :math:`p^*`, so K1 holds with equality and
    the drop equals :math:`C_2` at every time (the experiments' V3 check, ``v3_reward_drop.py``).

    Examples
    --------
    >>> from nondecoupling import guaranteed_reward_drop
    >>> round(guaranteed_reward_drop(expert_pass_rate=0.3, rl_pass_rate=0.8, sft_excess=0.05), 4)
    0.3454
    """
    expert_pass_rate, rl_pass_rate, sft_excess = SPECS["guaranteed_reward_drop"].check(
        expert_pass_rate, rl_pass_rate, sft_excess)
    return scalar_or_array(np.maximum(0.0, rl_pass_rate - outer_upper_end(expert_pass_rate, sft_excess)))


def threshold_loss_level(*, sft_min: ArrayLike, sep: ArrayLike, mu_sft: ArrayLike) -> FloatOrArray:
    r"""The "threshold" read as an SFT-loss LEVEL: P4's :math:`\tau = L^* + \mu_{sft}\,sep^2/2` (V5).

    RL can leave the SFT loss lower than it found it only if it started above :math:`\tau`.
    This is :func:`nondecoupling.nondecoupling_threshold` under a name that says which reading;
    the other reading is :func:`threshold_time`.

    Examples
    --------
    >>> from nondecoupling import threshold_loss_level
    >>> threshold_loss_level(sft_min=1.0, sep=2.0, mu_sft=0.5)
    2.0
    """
    return nondecoupling_threshold(sft_min=sft_min, sep=sep, mu_sft=mu_sft)


def threshold_time(*, lam: ArrayLike, mu_rl: ArrayLike, beta_rl: ArrayLike, beta_sft: ArrayLike) -> FloatOrArray:
    r"""The "threshold" read as a TIME: when :math:`\lambda\,dL/dt` overtakes :math:`dJ/dt` on P3's guarantee (V5).

    On the guaranteed net gain :math:`g(t)` of P3, reward gained outpaces lam times SFT loss
    paid until :math:`g'(t) = 0`, i.e. until :math:`t^* = \ln(1 + 1/c)/\mu_{rl}`,
    :math:`c = \lambda\beta_{sft}\beta_{rl}/\mu_{rl}^2`. This is
    :func:`nondecoupling.optimal_rl_duration` under a name that says which reading; the other
    reading is :func:`threshold_loss_level`. (Past :func:`nondecoupling.rl_break_even_time`
    the guarantee is negative.)

    Examples
    --------
    >>> from nondecoupling import threshold_time
    >>> round(threshold_time(lam=1.0, mu_rl=1.0, beta_rl=1.0, beta_sft=1.0), 6)  # ln 2
    0.693147
    """
    return optimal_rl_duration(lam=lam, mu_rl=mu_rl, beta_rl=beta_rl, beta_sft=beta_sft)
