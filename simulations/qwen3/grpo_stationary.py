"""Where sampled GRPO's expected update vanishes, against the tilt V1 is about (issue 23, item 1's remarks).

V1's optimum is the tilt pi_beta = pi_SFT e^{r/beta} / Z, the maximizer of E_pi r - beta KL(pi || pi_SFT).
TRL's GRPO follows that objective's gradient only up to three departures, each of which moves
the point where its *expected* update is zero. For a 0/1 verifier with one accepted answer c and
a policy free at the answer's node (tabular softmax), each stationary point keeps pi_SFT's
proportions among the other answers, so it is a pass rate b per prompt, reached from the SFT
model's b0; the SFT-loss increase there follows from b alone (:func:`increase_at_pass_rate`).

``"tilt"``
    The sequence-KL objective itself: b = b0 e^{1/beta} / (1 + b0 (e^{1/beta} - 1)).
``"group_mean"``
    Group-centred advantages r_i - mean_j r_j without scaling (``scale_rewards="none"``, the
    runner's setting for beta > 0), with the ratio-weighted k3 whose gradient is the reverse
    KL's. The group mean includes the sample itself, so E[A_i grad log pi(y_i)] = (1 - 1/G) grad E r
    while the KL term keeps its weight: the tilt at beta G / (G - 1).
``"group_std"``
    TRL's default advantage (r - mean) / (std + 1e-4) with Bessel's std over the group of G.
    Along the tilt family (logit shift theta, b = b(theta)) the expected reward gradient is
    E_k[k (G - k) / (G^2 (std_k + 1e-4))] with k ~ Binomial(G, b), against beta theta b (1 - b) for
    the KL: a per-prompt beta that depends on b itself.
``"k3"``
    TRL's default KL term, k3 = rho - log rho - 1 (rho = pi_ref / pi) without
    ``use_bias_correction_kl``: on the policy's own samples its expected gradient is
    E_pi[(1 - rho) grad log pi] = grad KL(pi_ref || pi), the *forward* KL. With group-centred
    advantages the stationary point solves (1 - 1/G) b (1 - b) = beta (b - b0):
    b = ((1 - beta') + sqrt((1 - beta')^2 + 4 beta' b0)) / 2, beta' = beta G / (G - 1). It also
    moves the wrong answers' proportions (pi_y = beta' pi_SFT(y) / (beta' + b)), so
    :func:`increase_at_pass_rate` does not apply to it; :func:`k3_increase` does.

The per-token KL with the ratio weight has the reverse KL's gradient node by node but not the
sequence KL's (a prefix's probability is not differentiated): :func:`token_kl_pass_rate` gives
its stationary point on a two-token (answer, [EOS]) tree from pi_SFT(EOS | x, c).

>>> round(float(stationary_pass_rate(0.6, 1.0, "tilt")), 4)
0.803
>>> round(float(stationary_pass_rate(0.6, 1.0, "k3")), 4)
0.7597
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, special

from nondecoupling.validation import ParameterError, check_integer, check_positive

VARIANTS = ("tilt", "group_mean", "group_std", "k3")
#: TRL's ``num_generations`` in the runner (simulations.qwen3.stages.TrainingSettings).
GROUP_SIZE = 8
#: TRL's guard in (r - mean) / (std + 1e-4).
STD_EPSILON = 1e-4


def tilt_pass_rate(b0, log_weight):
    """b0 e^w / (1 + b0 (e^w - 1)): the pass rate after multiplying the accepted answer's odds by e^w."""
    b0 = np.asarray(b0, float)
    return b0 * np.exp(log_weight) / (1.0 + b0 * np.expm1(log_weight))


def _group_std_gain(pass_rate: float, group_size: int) -> float:
    """E_k[k (G - k) / (G^2 (std_k + eps))], k ~ Bin(G, b): the std-scaled reward gradient along the tilt family.

    The Binomial pmf C(G, k) b^k (1 - b)^(G - k) is written out: G is small (TRL's 8) and every term
    is a product of positive numbers; scipy.stats.binom.pmf's per-call set-up dominated the V1 table's
    root finding (thousands of calls), and it needed scipy.stats imported.
    """
    k = np.arange(1, group_size)
    std = np.sqrt(k * (group_size - k) / (group_size * (group_size - 1)))
    pmf = special.comb(group_size, k) * pass_rate**k * (1.0 - pass_rate) ** (group_size - k)
    return float((pmf * k * (group_size - k) / (group_size**2 * (std + STD_EPSILON))).sum())


def _group_std_one(b0: float, beta: float, group_size: int) -> float:
    # Along the family, reward gradient = gain(b) and KL gradient = beta theta b (1 - b); the difference
    # falls from gain(b0) > 0 at theta = 0 and is negative once beta theta b (1 - b) exceeds it.
    def excess(theta: float) -> float:
        b = float(tilt_pass_rate(b0, theta))
        return _group_std_gain(b, group_size) - beta * theta * b * (1.0 - b)

    high = 1.0
    while excess(high) > 0:
        high *= 2.0
        if high > 1e4:
            return 1.0
    return float(tilt_pass_rate(b0, optimize.brentq(excess, 0.0, high, xtol=1e-12)))


def stationary_pass_rate(b0, beta: float, variant: str, group_size: int = GROUP_SIZE):
    """The pass rate at which the expected update of ``variant`` (see the module) vanishes, per prompt.

    Parameters
    ----------
    b0 : float or array
        pi_SFT's pass rate per prompt, in (0, 1).
    beta : float
        The KL coefficient, > 0.
    variant : {"tilt", "group_mean", "group_std", "k3"}
    group_size : int
        G, completions per prompt (``group_mean``, ``group_std``).

    Raises
    ------
    ParameterError
        An unknown ``variant``, ``beta <= 0``, ``group_size < 2`` or a pass rate outside (0, 1).
    """
    check_positive(beta, "beta")
    check_integer(group_size, "group_size", low=2)
    b0 = np.asarray(b0, float)
    if np.any((b0 <= 0) | (b0 >= 1)):
        raise ParameterError("b0", "pass rates in (0, 1)", str(b0))
    if variant == "tilt":
        return tilt_pass_rate(b0, 1.0 / beta)
    if variant == "group_mean":
        return tilt_pass_rate(b0, (group_size - 1) / (group_size * beta))
    if variant == "k3":
        effective = beta * group_size / (group_size - 1)
        return ((1.0 - effective) + np.sqrt((1.0 - effective) ** 2 + 4.0 * effective * b0)) / 2.0
    if variant == "group_std":
        return np.vectorize(lambda b: _group_std_one(b, beta, group_size))(b0)
    raise ParameterError("variant", f"one of {VARIANTS}", repr(variant))


def increase_at_pass_rate(pass_rate, b0, expert_pass_rate: float):
    """SFT-loss increase sum_y p*(y) log(pi_SFT(y) / pi(y)) of a policy that keeps pi_SFT's proportions
    among the wrong answers: a log(b0 / b) + (1 - a) log((1 - b0) / (1 - b)), a = p*(c).

    >>> tilt = stationary_pass_rate(0.6, 1.0, "tilt")
    >>> round(float(increase_at_pass_rate(tilt, 0.6, 0.6)), 4)  # C1(1)
    0.1085
    """
    b, b0 = np.asarray(pass_rate, float), np.asarray(b0, float)
    a = expert_pass_rate
    return a * np.log(b0 / b) + (1.0 - a) * np.log((1.0 - b0) / (1.0 - b))


def k3_increase(pass_rate, b0, expert_pass_rate: float, beta: float, group_size: int = GROUP_SIZE):
    """SFT-loss increase at the ``"k3"`` stationary point: the wrong answers at beta' pi_SFT / (beta' + b).

    a log(b0 / b) + (1 - a) log((beta' + b) / beta'), beta' = beta G / (G - 1).
    """
    b, b0 = np.asarray(pass_rate, float), np.asarray(b0, float)
    effective = beta * group_size / (group_size - 1)
    return expert_pass_rate * np.log(b0 / b) + (1.0 - expert_pass_rate) * np.log((effective + b) / effective)


def token_kl_pass_rate(b0, eos_after_correct, beta: float):
    """Stationary pass rate of the per-token reverse KL on a (answer, [EOS]) tree.

    The [EOS] node after c tilts alone to q = e0 e^{1/beta} / (1 + e0 (e^{1/beta} - 1)) (e0 = pi_SFT(EOS | x, c)).
    The answer node then sees reward q for c and, with the per-token KL, no KL from the node below:
    b = tilt of b0 by q / beta, the pass rate b q. The sequence KL's tilt instead weights c by the
    node below's partition function, log(1 + e0 (e^{1/beta} - 1)) / beta; both agree when e0 = 1.
    """
    check_positive(beta, "beta")
    q = tilt_pass_rate(eos_after_correct, 1.0 / beta)
    return tilt_pass_rate(b0, q / beta) * q


def sequence_kl_pass_rate(b0, eos_after_correct, beta: float):
    """The tilt's pass rate on the same tree: c's odds times 1 + e0 (e^{1/beta} - 1), then [EOS] with probability q."""
    check_positive(beta, "beta")
    e0 = np.asarray(eos_after_correct, float)
    q = tilt_pass_rate(e0, 1.0 / beta)
    return tilt_pass_rate(b0, np.log1p(e0 * math.expm1(1.0 / beta))) * q
