"""A fuzzer for the public numeric API: random calls as a user might type them, each classified.

Every call draws valid constants over the whole representable range (positive constants from the
smallest subnormal 5e-324 to the largest float 1.8e308; probability vectors in float64, float32 or
float16), then either keeps them, retypes one (int, float32, float16, Decimal, Fraction, list, 0-d
array, a one-element 2-D float32/float16 array), passes one as a 1- to 3-D array (float64, float32
or float16) with one entry from a second draw (each entry judged by its own reference, so an
invalid entry anywhere must be refused), or breaks one (text, bytes, bytearray, memoryview, bool,
a bool inside a list, a bool array, datetime64, complex, masked or object arrays, NaN, a sign or
range violation, a shape mismatch, a non-bool flag). The expected outcome follows from the
documented constraints alone; numbers are compared with 60- to 400-digit mpmath evaluations of
THEORY.md's formulas. A class is fuzzed through what it computes (:data:`CALLS`: QuadraticPair's
Pareto point and excesses against an mpmath linear solve, invalid Hessians and minimizers refused);
the section-V band is certified edge by edge like the KL inverses. :func:`classify` names one outcome class per call:

- ``clear_error``: a ParameterError naming a real parameter, where one was due;
- ``correct``: a value matching the reference (a few ulps, or inf/0 where the truth is not a float;
  inside the documented interval over the inputs' rounding where the value is ill-conditioned:
  crossing_time at sep = reach, :class:`Between`);
- ``documented_limit``: a P5 value where mu eta underflows (below 1e-308), so q rounds to 1 as
  the functions document, or ``optimal_rl_steps`` = inf where mu_rl eta < 1e-290 puts k* at the
  float range's end (the only documented departures from the reference);
- ``obscure_exception``: any other exception;
- ``leaked_warning``: a warning (e.g. numpy's RuntimeWarning of an overflow) escaped the call;
- ``accepted_invalid``: a number returned for input the documentation rules out;
- ``rejected_valid``: a ParameterError for valid input;
- ``wrong_value``: NaN, a value off the reference, out of its range, or of the wrong type.

``tests/theory/test_api_fuzz.py`` runs a few hundred calls under hypothesis; the full run (issue 20:
10^4 calls, seed 0) is ``PYTHONPATH=theory:. python -m tests.theory.fuzz_api 10000`` from the
repository root, which prints the counts per outcome and one example of each failing class
(``... fuzz_api 10000 all 7``: every function, seed 7).
"""

from __future__ import annotations

import functools
import inspect
import math
import sys
import warnings
from collections import Counter
from decimal import Decimal
from fractions import Fraction

import mpmath as mp
import numpy as np

import nondecoupling
from nondecoupling.constraints import (
    NONNEGATIVE,
    POSITIVE,
    POSITIVE_OR_INF,
    RATE,
    REAL,
    SPECS,
    STEPS,
    TIME,
    AtLeast,
    Flag,
    Options,
    PLOrder,
    Reach,
    Single,
    StableStep,
    StepCount,
    Structured,
    spec,
)
from nondecoupling.threshold import CROSSING_DISTANCE_ERROR, CROSSING_RELATIVE_ERROR

OK_CLASSES = ("clear_error", "correct", "documented_limit")
LARGEST = float(np.finfo(float).max)
FLOAT_MAX = mp.mpf(np.finfo(float).max)
TINY = mp.mpf(np.finfo(float).tiny)


class Invalid(Exception):
    """The reference's verdict: the inputs violate a documented constraint (any parameter may be named)."""


class Between(tuple):
    """A reference value given as the interval (low, high) a documented accuracy allows: for a value
    ill-conditioned in its inputs' rounding (crossing_time at sep = reach)."""


# ----------------------------------------------------------------------------- drawing constants
def positive(rng):
    u = rng.random()
    if u < 0.1:
        return 1.0
    if u < 0.15:  # subnormal: below 2.2e-308, down to the smallest float 5e-324
        return float(np.nextafter(0.0, 1.0) * 2.0 ** rng.uniform(0, 52))
    if u < 0.2:  # huge: 1e300 up to the largest float
        return float(LARGEST * 2.0 ** -rng.uniform(0, 20))
    return float(10.0 ** rng.uniform(-300, 300))


def nonnegative(rng):
    return 0.0 if rng.random() < 0.1 else positive(rng)


def time(rng):
    return math.inf if rng.random() < 0.05 else nonnegative(rng)


def signed(rng):
    return float(rng.choice([-1, 1])) * nonnegative(rng)


def positive_or_inf(rng):
    return math.inf if rng.random() < 0.05 else positive(rng)


def steps(rng):
    return float(rng.choice([0, 1, 7, int(rng.integers(0, 10**6))]))


def rate(rng):
    u = rng.random()
    if u < 0.2:
        return float(rng.choice([0.0, 1.0, 1e-300, 1 - 2**-53, 0.5]))
    return float(rng.random())


def pl_pair(rng):
    mu = positive(rng)
    if rng.random() < 0.2:
        return mu, mu
    room = max(0.0, math.log10(LARGEST) - math.log10(mu))  # decades from mu up to the largest float
    beta = 10.0 ** min(math.log10(mu) + rng.uniform(0, min(room, float(rng.choice([1.0, 20.0, 600.0])))), 308.25)
    return mu, min(max(beta, mu), LARGEST)


def step(rng, beta):
    fraction = float(rng.choice([rng.random(), 0.5, 1 - 1e-9, 10.0 ** rng.uniform(-12, 0)]))
    return min(max(fraction, 1e-300) * 2.0 / beta, LARGEST)  # any finite step is stable for a subnormal beta


# ----------------------------------------------------------------------------- references (mpmath)
def mpf(x):
    return x if isinstance(x, mp.mpf) else mp.mpf(float(x))


def need(condition, name):
    if not condition:
        raise Invalid(name)


def check_pl(mu, beta, mu_name, beta_name):
    need(mu > 0, mu_name)
    need(beta > 0, beta_name)
    need(mu <= beta, mu_name)
    need(math.isfinite(mu) and math.isfinite(beta), mu_name)


def kl(a, b):
    a, b = mp.mpf(a), mp.mpf(b)
    if a == b:
        return mp.mpf(0)
    if not 0 < b < 1:
        return mp.inf
    first = 0 if a == 0 else a * mp.log(a / b)
    second = 0 if a == 1 else (1 - a) * mp.log((1 - a) / (1 - b))
    return first + second


def path_length(t, gap0, mu, beta):
    return min(mp.sqrt(2 * gap0 / mu) * -mp.expm1(-beta * t), mp.sqrt(2 * beta * gap0) * -mp.expm1(-mu * t) / mu)


def gd_rates(mu, beta, eta):
    q = 1 - mu * eta * (2 - eta * beta)
    x = beta * eta
    if x < 1:
        adz = ((mu * (1 - x) + mp.sqrt(4 * beta**2 - 2 * beta * (beta + mu) * mu * eta * (2 - x))) / (2 * beta + mu)) ** 2
    elif x <= mp.sqrt(3):
        adz = 1 - mu * eta * (4 - x**2) / (2 + mu * eta)
    else:
        adz = (x - 1) ** 2 / ((x - 1) ** 2 + mu * eta * (2 - x))
    return q, min(q, adz)


def discrete_terms(steps, gap0, mu, beta, eta, sharp):
    q = gd_rates(mu, beta, eta)[1 if sharp else 0]
    root = mp.sqrt(q)
    power = mp.exp(steps * mp.log(root)) if steps else mp.mpf(1)
    ell = min(eta * mp.sqrt(2 * beta * gap0) * (1 - power) / (1 - root), mp.sqrt(2 * gap0 / mu) / (1 - eta * beta / 2))
    return q, root, power, ell


# Each reference takes the call's keyword arguments as floats (arrays for eigs/probs/rewards),
# raises Invalid for documented-invalid input, and returns (values, scales, ranges): scales are the
# magnitudes of the terms that cancel (absolute tolerance), ranges the documented [low, high] of each.
def ref_kl_bernoulli(a, b):
    need(0 <= a <= 1, "a")
    need(0 <= b <= 1, "b")
    return [kl(a, b)], [0], [(0, math.inf)]


def ref_pinsker_radius(budget):
    need(budget >= 0, "budget")
    return [mp.sqrt(mpf(budget) / 2)], [0], [(0, math.inf)]


def ref_tilted_tradeoff(s, probs, rewards):
    need(0 <= s < math.inf, "s")
    p, r = [mp.mpf(float(x)) for x in probs], [mp.mpf(float(x)) for x in rewards]
    total = sum(p)  # p is normalized by dividing the sums below by total: exactly 0 at s = 0, no residue
    s = mpf(s)
    supported = {ri for pi, ri in zip(p, r) if pi > 0}
    if len(supported) == 1:  # a constant reward: the tilt is p itself, exactly (no residue of the sums below)
        return [supported.pop(), mpf(0), mpf(0)], [1, 0, 0], [(0, 1), (0, math.inf), (0, math.inf)]
    a = sum(pi * ri for pi, ri in zip(p, r)) / total
    # Centred at a: Lambda(s) - s a = log E e^{s (r - a)} is exactly 0 when r is constant.
    weights = [pi * mp.exp(s * (ri - a)) for pi, ri in zip(p, r)]
    mass = sum(weights) / total
    gain = sum(w * (ri - a) for w, ri in zip(weights, r)) / sum(weights)
    increase = mp.log(mass)
    return [a + gain, increase, s * gain - increase], [1, 0, 0], [(0, 1), (0, math.inf), (0, math.inf)]


def ref_path_length_bound(t, gap0, mu, beta):
    need(t >= 0, "t")
    need(0 <= gap0 < math.inf, "gap0")
    check_pl(mu, beta, "mu", "beta")
    return [path_length(mpf(t), mpf(gap0), mpf(mu), mpf(beta))], [0], [(0, math.inf)]


def ref_reward_gain_bounds(t, gap0, mu, beta):
    need(t >= 0, "t")
    need(0 <= gap0 < math.inf, "gap0")
    check_pl(mu, beta, "mu", "beta")
    t, gap0 = mpf(t), mpf(gap0)
    values = [gap0 * -mp.expm1(-2 * mpf(mu) * t), gap0 * -mp.expm1(-2 * mpf(beta) * t)]
    return values, [0, 0], [(0, float(gap0))] * 2


def _envelope(t, gap0, sep, flow, measured, gap_name):
    (mu_f, beta_f), (mu_m, beta_m) = flow, measured
    reach = mp.sqrt(2 * mpf(gap0) / mpf(mu_f))
    need(mpf(sep) <= reach * (1 + mp.mpf(1e-9)), "sep")  # quadratic growth from the other optimum
    t = mpf(t)
    distance = mpf(sep) - reach * mp.exp(-mpf(mu_f) * t)
    lower = mpf(mu_m) / 2 * max(0, distance) ** 2
    upper = mpf(beta_m) / 2 * path_length(t, mpf(gap0), mpf(mu_f), mpf(beta_f)) ** 2
    scale = mpf(mu_m) * (mpf(sep) ** 2 + (reach * mp.exp(-mpf(mu_f) * t)) ** 2)
    # Within the rounding slack of sep <= reach, lower may exceed upper; documented: lower is clipped.
    return [min(lower, upper), upper], [scale, 0], [(0, math.inf)] * 2


def ref_sft_degradation_bounds(t, rl_gap0, sep, mu_sft, beta_sft, mu_rl, beta_rl):
    need(t >= 0, "t")
    need(0 <= rl_gap0 < math.inf, "rl_gap0")
    need(0 <= sep < math.inf, "sep")
    check_pl(mu_sft, beta_sft, "mu_sft", "beta_sft")
    check_pl(mu_rl, beta_rl, "mu_rl", "beta_rl")
    return _envelope(t, rl_gap0, sep, (mu_rl, beta_rl), (mu_sft, beta_sft), "rl_gap0")


def ref_reward_loss_bounds(t, sft_gap0, sep, mu_sft, beta_sft, mu_rl, beta_rl):
    need(t >= 0, "t")
    need(0 <= sft_gap0 < math.inf, "sft_gap0")
    need(0 <= sep < math.inf, "sep")
    check_pl(mu_sft, beta_sft, "mu_sft", "beta_sft")
    check_pl(mu_rl, beta_rl, "mu_rl", "beta_rl")
    return _envelope(t, sft_gap0, sep, (mu_sft, beta_sft), (mu_rl, beta_rl), "sft_gap0")


def _tradeoff(lam, mu_rl, beta_rl, beta_sft):
    need(lam > 0 and math.isfinite(lam), "lam")
    need(beta_sft > 0 and math.isfinite(beta_sft), "beta_sft")
    check_pl(mu_rl, beta_rl, "mu_rl", "beta_rl")
    return mpf(lam) * mpf(beta_sft) * mpf(beta_rl) / mpf(mu_rl) ** 2


def ref_optimal_rl_duration(lam, mu_rl, beta_rl, beta_sft):
    c = _tradeoff(lam, mu_rl, beta_rl, beta_sft)
    return [mp.log1p(1 / c) / mpf(mu_rl)], [0], [(0, math.inf)]


def ref_rl_break_even_time(lam, mu_rl, beta_rl, beta_sft):
    c = _tradeoff(lam, mu_rl, beta_rl, beta_sft)
    if c <= 1:
        return [mp.inf], [0], [(0, math.inf)]
    value = mp.log1p(2 / (c - 1)) / mpf(mu_rl)
    return [value], [value * 1e-3 * c / (c - 1)], [(0, math.inf)]  # ill-conditioned near c = 1


def ref_guaranteed_net_gain(t, rl_gap0, lam, mu_rl, beta_rl, beta_sft):
    need(t >= 0, "t")
    need(0 <= rl_gap0 < math.inf, "rl_gap0")
    c = _tradeoff(lam, mu_rl, beta_rl, beta_sft)
    s = -mp.expm1(-mpf(mu_rl) * mpf(t))
    gain, cost = mpf(rl_gap0) * s * (2 - s), mpf(rl_gap0) * c * s**2
    return [gain - cost], [gain + cost], [(-math.inf, float(rl_gap0))]


def ref_nondecoupling_threshold(sft_min, sep, mu_sft):
    need(math.isfinite(sft_min), "sft_min")
    need(0 <= sep < math.inf, "sep")
    need(0 < mu_sft < math.inf, "mu_sft")
    term = mpf(mu_sft) * mpf(sep) ** 2 / 2
    return [mpf(sft_min) + term], [abs(mpf(sft_min)) + term], [(-math.inf, math.inf)]


def crossing(sep, start, reach, mu_rl):
    """P4's T_x from the distances sep, start = sqrt(2 eps_0/mu_sft), reach = sqrt(2 Delta_0/mu_rl)."""
    if sep <= start:
        return mp.inf
    return max(0, mp.log(reach / (sep - start)) / mu_rl) if reach > 0 else mp.mpf(0)


def ref_crossing_time(sft_gap0, rl_gap0, sep, mu_sft, mu_rl):
    for name, value in (("sft_gap0", sft_gap0), ("rl_gap0", rl_gap0), ("sep", sep)):
        need(0 <= value < math.inf, name)
    need(0 < mu_sft < math.inf, "mu_sft")
    need(0 < mu_rl < math.inf, "mu_rl")
    start = mp.sqrt(2 * mpf(sft_gap0) / mpf(mu_sft))
    reach = mp.sqrt(2 * mpf(rl_gap0) / mpf(mu_rl))
    sep, mu_rl = mpf(sep), mpf(mu_rl)
    need(sep <= (start + reach) * (1 + mp.mpf(1e-9)), "sep")  # quadratic growth of both
    # Ill-conditioned at sep = start + reach (crossing_time's Notes): the documented interval over
    # the distances' rounding, not a tolerance around the exact value.
    eps, rho, tiny = mpf(CROSSING_DISTANCE_ERROR), mpf(CROSSING_RELATIVE_ERROR), mp.mpf(2) ** -1074
    low = crossing(sep * (1 + eps) + tiny, max(0, start * (1 - eps) - tiny), max(0, reach * (1 - eps) - tiny), mu_rl)
    high = crossing(max(0, sep * (1 - eps) - tiny), start * (1 + eps) + tiny, reach * (1 + eps) + tiny, mu_rl)
    return [Between((low * (1 - rho) - tiny, high * (1 + rho) + tiny))], [0], [(0, math.inf)]


def ref_gd_contraction(mu, beta, eta, sharp=False):
    check_pl(mu, beta, "mu", "beta")
    need(0 < eta and eta * beta < 2, "eta")
    q = gd_rates(mpf(mu), mpf(beta), mpf(eta))[1 if sharp else 0]
    return [q], [0], [(0, 1)]


def _discrete_common(steps, rl_gap0, mu_rl, beta_rl, eta):
    need(0 <= steps < math.inf and steps == int(steps), "steps")
    need(0 <= rl_gap0 < math.inf, "rl_gap0")
    check_pl(mu_rl, beta_rl, "mu_rl", "beta_rl")
    need(0 < eta and eta * beta_rl < 2, "eta")


def ref_discrete_path_length_bound(steps, gap0, mu, beta, eta, sharp=False):
    _discrete_common(steps, gap0, mu, beta, eta)
    ell = discrete_terms(int(steps), mpf(gap0), mpf(mu), mpf(beta), mpf(eta), sharp)[3]
    return [ell], [0], [(0, math.inf)]


def ref_discrete_sft_degradation_bounds(steps, rl_gap0, sep, mu_sft, beta_sft, mu_rl, beta_rl, eta, sharp=False):
    _discrete_common(steps, rl_gap0, mu_rl, beta_rl, eta)
    need(0 <= sep < math.inf, "sep")
    check_pl(mu_sft, beta_sft, "mu_sft", "beta_sft")
    reach = mp.sqrt(2 * mpf(rl_gap0) / mpf(mu_rl))
    need(mpf(sep) <= reach * (1 + mp.mpf(1e-9)), "sep")
    _, _, power, ell = discrete_terms(int(steps), mpf(rl_gap0), mpf(mu_rl), mpf(beta_rl), mpf(eta), sharp)
    lower = mpf(mu_sft) / 2 * max(0, mpf(sep) - reach * power) ** 2
    upper = mpf(beta_sft) / 2 * ell**2
    scale = mpf(mu_sft) * (mpf(sep) ** 2 + (reach * power) ** 2)
    # Within the rounding slack of sep <= reach, lower may exceed upper; documented: lower is clipped.
    return [min(lower, upper), upper], [scale, 0], [(0, math.inf)] * 2


def ref_discrete_reward_gain_bounds(steps, rl_gap0, mu_rl, beta_rl, eta, sharp=False):
    _discrete_common(steps, rl_gap0, mu_rl, beta_rl, eta)
    q = discrete_terms(int(steps), mpf(rl_gap0), mpf(mu_rl), mpf(beta_rl), mpf(eta), sharp)[0]
    x = mpf(beta_rl) * mpf(eta)
    p = max(0, 1 - 2 * x - x**2)
    k = int(steps)
    gap0 = mpf(rl_gap0)
    return [gap0 * (1 - q**k), gap0 * (1 - p**k)], [0, 0], [(0, float(rl_gap0))] * 2


def ref_discrete_net_gain(steps, rl_gap0, lam, mu_rl, beta_rl, beta_sft, eta, sharp=False):
    _discrete_common(steps, rl_gap0, mu_rl, beta_rl, eta)
    need(lam > 0 and math.isfinite(lam), "lam")
    need(beta_sft > 0 and math.isfinite(beta_sft), "beta_sft")
    q, root, power, _ = discrete_terms(int(steps), mpf(rl_gap0), mpf(mu_rl), mpf(beta_rl), mpf(eta), sharp)
    c_eta = mpf(lam) * mpf(beta_sft) * mpf(beta_rl) * mpf(eta) ** 2 / (1 - root) ** 2
    gap0 = mpf(rl_gap0)
    gain, cost = gap0 * (1 - power**2), gap0 * c_eta * (1 - power) ** 2
    return [gain - cost], [gain + cost], [(-math.inf, float(rl_gap0))]


def ref_optimal_rl_steps(lam, mu_rl, beta_rl, beta_sft, eta, sharp=False):
    need(lam > 0 and math.isfinite(lam), "lam")
    need(beta_sft > 0 and math.isfinite(beta_sft), "beta_sft")
    check_pl(mu_rl, beta_rl, "mu_rl", "beta_rl")
    need(0 < eta and eta * beta_rl < 2, "eta")
    q = gd_rates(mpf(mu_rl), mpf(beta_rl), mpf(eta))[1 if sharp else 0]
    root = mp.sqrt(q)
    c_eta = mpf(lam) * mpf(beta_sft) * mpf(beta_rl) * mpf(eta) ** 2 / (1 - root) ** 2
    k_star = 2 * mp.log(c_eta / (1 + c_eta)) / mp.log(q) if q > 0 else mp.mpf(0)
    return [k_star], [0], [(0, math.inf)]


def _spectrum(eigs, rho, k):
    eigs = np.atleast_1d(np.asarray(eigs, dtype=float))
    need(eigs.size >= 1, "eigs")
    need(bool(np.all(eigs >= 0)) and bool(np.all(np.isfinite(eigs))), "eigs")
    need(0 <= rho <= 1, "rho")
    need(k == int(k) and 1 <= k <= eigs.size, "k")
    ordered = [mpf(x) for x in sorted(eigs, reverse=True)] + [mp.mpf(0)]
    return ordered[0], ordered[int(k) - 1], ordered[int(k)], mpf(rho)


def ref_curvature_bracket(eigs, rho, k):
    top, at_k, after_k, rho = _spectrum(eigs, rho, k)
    return [at_k * rho, top * rho + after_k * (1 - rho)], [0, 0], [(0, math.inf)] * 2


def ref_misalignment_bound(eigs, rho, k):
    top, at_k, after_k, rho = _spectrum(eigs, rho, k)
    denominator = mp.sqrt(top**2 * rho + after_k**2 * (1 - rho))
    return [at_k * rho / denominator if denominator else mp.mpf(0)], [0], [(0, 1)]


def ref_kantorovich_bound(m_lo, m_hi):
    need(0 < m_lo < math.inf, "m_lo")
    need(0 < m_hi < math.inf, "m_hi")
    lo, hi = mpf(m_lo), mpf(m_hi)
    return [2 * mp.sqrt(lo * hi) / (lo + hi)], [0], [(0, 1)]


# ----------------------------------------------------------------------------- section V and X1 references
def kl_upper_inverse(a, budget):
    """The largest x >= a with kl(a || x) <= budget (K3's upper inverse), by bisection: geometric
    while the bracket spans more than a factor 2 (tiny rates), then arithmetic."""
    a, budget = mp.mpf(a), mp.mpf(budget)
    if budget == 0 or a == 1:
        return a
    if mp.isinf(budget):
        return mp.mpf(1)
    if a == 0:
        return -mp.expm1(-budget)  # kl(0 || x) = -log(1 - x)

    def divergence(x):  # log1p keeps 1 - a and 1 - x exact for tiny a, x
        return a * mp.log(a / x) + (1 - a) * (mp.log1p(-a) - mp.log1p(-x)) if x < 1 else mp.inf

    low, high = a, mp.mpf(1)
    while high - low > high * mp.mpf(10) ** -30:
        middle = mp.sqrt(low * high) if high > 2 * low else (low + high) / 2
        low, high = (low, middle) if divergence(middle) > budget else (middle, high)
    return (low + high) / 2


def _normalized_rows(table):
    rows = [[mp.mpf(float(x)) for x in row] for row in np.atleast_2d(np.asarray(table, dtype=float))]
    return [[x / sum(row) for x in row] for row in rows]


def _prompt_weights(prompt_weights, prompts):
    if prompt_weights is None:
        return [mp.mpf(1) / prompts] * prompts
    return _normalized_rows(prompt_weights)[0]


def ref_sft_increase_after_kl_rl(probs, rewards, beta, prompt_weights=None):
    need(beta > 0, "beta")
    table = [[mp.mpf(float(x)) for x in row] for row in np.atleast_2d(np.asarray(probs, dtype=float))]
    reward_rows = [[mp.mpf(float(x)) for x in row] for row in np.broadcast_to(np.atleast_2d(rewards), np.shape(table))]
    weights = _prompt_weights(prompt_weights, len(table))
    if math.isinf(beta):
        return [mp.mpf(0)], [0], [(0, math.inf)]
    tilt = 1 / mpf(beta)
    total = mp.mpf(0)
    for weight, p, r in zip(weights, table, reward_rows):
        # C1 per prompt = log E_p exp(tilt (r - E_p r)) = log Z - tilt E_p r, with r_i - E_p r written as
        # sum_j p_j (r_i - r_j): exactly 0 at constant r, so a huge tilt does not amplify rounding of the mean.
        # The row p is normalized as log(sum p e^...) - log(sum p), which is exactly 0 where the exponent is.
        mass = sum(p)
        deviations = [sum(pj * (ri - rj) for pj, rj in zip(p, r)) / mass for ri in r]
        total += weight * (mp.log(sum(pi * mp.exp(tilt * di) for pi, di in zip(p, deviations))) - mp.log(mass))
    return [total], [0], [(0, math.inf)]


def ref_reward_change_bound(expected_kl):
    need(expected_kl >= 0, "expected_kl")
    return [mp.sqrt(mpf(expected_kl) / 2)], [0], [(0, math.inf)]


def ref_reward_change_band(rl_reward, expected_kl, kl_direction="sft||rl"):
    """Validity only: the band's edges are checked by :func:`check_kl_inverse`'s last-ulp certificate."""
    need(kl_direction in ("sft||rl", "rl||sft"), "kl_direction")
    need(0 <= rl_reward <= 1, "rl_reward")
    need(expected_kl >= 0, "expected_kl")
    return None


def ref_theorem_4_1_as_stated(rl_probs, sft_probs, rewards, kl_low, kl_high, prompt_weights=None, tolerance=1e-12):
    need(0 < kl_low < math.inf, "kl_low")
    need(kl_low <= kl_high < math.inf, "kl_high")
    need(0 <= tolerance < math.inf, "tolerance")
    rl, sft = _normalized_rows(rl_probs), _normalized_rows(sft_probs)
    reward_rows = [[mp.mpf(float(x)) for x in row] for row in np.broadcast_to(np.atleast_2d(rewards), np.shape(rl))]
    weights = _prompt_weights(prompt_weights, len(rl))
    kl_terms = [w * (q * mp.log(q / p) if q else 0) if (p or not q) else mp.inf
                for w, rl_row, sft_row in zip(weights, rl, sft) for p, q in zip(rl_row, sft_row)]
    drop_terms = [w * (p - q) * r for w, rl_row, sft_row, r_row in zip(weights, rl, sft, reward_rows)
                  for p, q, r in zip(rl_row, sft_row, r_row)]
    drop_scale = sum(w * (p + q) * r for w, rl_row, sft_row, r_row in zip(weights, rl, sft, reward_rows)
                     for p, q, r in zip(rl_row, sft_row, r_row))
    expected_kl = sum(kl_terms)
    # log(q / p) rounds to about one ulp absolute per unit of mass q, however small the log is.
    mass = sum(w * q for w, row in zip(weights, sft) for q in row)
    kl_scale = sum(abs(t) for t in kl_terms) + 2 * mass if mp.isfinite(expected_kl) else 0
    return [expected_kl, sum(drop_terms)], [kl_scale, drop_scale], [(0, math.inf), (-1, 1)]


def ref_guaranteed_reward_drop(expert_pass_rate, rl_pass_rate, sft_excess):
    need(0 <= expert_pass_rate <= 1, "expert_pass_rate")
    need(0 <= rl_pass_rate <= 1, "rl_pass_rate")
    need(sft_excess >= 0, "sft_excess")
    ceiling = kl_upper_inverse(expert_pass_rate, sft_excess)
    # b_RL - ceiling cancels; the ceiling is an inverse short of the exact edge by up to 2 rho of the kl
    # (rho = kl.KL_RELATIVE_ERROR, 7.1e-15; kl convex: ceiling - a by at most 2 rho), one ulp, then the subtraction.
    return [max(0, mpf(rl_pass_rate) - ceiling)], [2 * ceiling + 80 * abs(ceiling - mpf(expert_pass_rate))], [(0, 1)]


def ref_threshold_loss_level(sft_min, sep, mu_sft):
    return ref_nondecoupling_threshold(sft_min, sep, mu_sft)  # V5: P4's tau, the same formula


def ref_threshold_time(lam, mu_rl, beta_rl, beta_sft):
    return ref_optimal_rl_duration(lam, mu_rl, beta_rl, beta_sft)  # V5: P3's t*, the same formula


def call_quadratic_pair(sft_hessian, sft_minimizer, rl_hessian, rl_minimizer, w, theta):
    """X1's class, fuzzed through what it computes: the Pareto point at ``w`` and the excesses at ``theta``."""
    pair = nondecoupling.QuadraticPair(sft_hessian, sft_minimizer, rl_hessian, rl_minimizer)
    return (*np.ravel(pair.pareto_point(w)), *pair.excess(theta))


def _mp_matrix(value):
    return mp.matrix(np.atleast_2d(np.asarray(value, dtype=float)).tolist())


def ref_QuadraticPair(sft_hessian, sft_minimizer, rl_hessian, rl_minimizer, w, theta):
    need(0 <= w <= 1, "w")
    A, B = _mp_matrix(sft_hessian), _mp_matrix(rl_hessian)
    a, b = _mp_matrix(sft_minimizer).T, _mp_matrix(rl_minimizer).T
    theta = _mp_matrix(theta).T
    w = mpf(w)
    hessian, target = w * A + (1 - w) * B, w * (A * a) + (1 - w) * (B * b)
    point = mp.lu_solve(hessian, target)
    eigenvalues = mp.eigsy(hessian)[0]
    smallest, largest = min(eigenvalues), max(eigenvalues)
    d = len(a)
    norm = max(abs(x) for x in point)
    pulls = (w * max(abs(x) for x in A) * max(abs(x) for x in a) + (1 - w) * max(abs(x) for x in B) * max(abs(x) for x in b))
    # A linear solve is accurate to cond(H) ulps of the solution plus the rounding of its right side.
    point_scale = 4 * d * (largest / smallest * norm + d * pulls / smallest)
    values, scales = list(point), [point_scale] * d
    for H, m in ((A, a), (B, b)):
        x = theta - m
        values.append((x.T * H * x)[0] / 2)
        scales.append(4 * d * sum(abs(x[i]) * abs(H[i, j]) * abs(x[j]) for i in range(d) for j in range(d)))
    return values, scales, [(-math.inf, math.inf)] * d + [(0, math.inf)] * 2


#: Public names fuzzed through a wrapper (a class is fuzzed through its methods).
CALLS = {"QuadraticPair": call_quadratic_pair}


# ----------------------------------------------------------------------------- valid draws, read from the table
#: One strategy per shared constraint of nondecoupling.constraints (a new one needs one here).
DRAWS = {RATE: rate, POSITIVE: positive, NONNEGATIVE: nonnegative, TIME: time, REAL: signed,
         POSITIVE_OR_INF: positive_or_inf, STEPS: steps}


def draw(constraint, rng):
    """One valid value of ``constraint`` (a parameter's entry in the table)."""
    if isinstance(constraint, Flag):
        return bool(rng.random() < 0.5)
    if isinstance(constraint, Options):
        return str(rng.choice(constraint.values))
    if isinstance(constraint, Single):
        return draw(constraint.inner, rng)
    return DRAWS[constraint](rng) if constraint in DRAWS else any_interval(constraint, rng)


def any_interval(interval, rng):
    """A value of an interval that has no strategy of its own (a constraint new to the table)."""
    low, high = interval.low, interval.high
    if math.isinf(low) and math.isinf(high):
        value = signed(rng)
    elif math.isinf(high):
        value = low + time(rng)
    elif math.isinf(low):
        value = high - time(rng)
    else:
        value = low + (high - low) * rate(rng)
    if inside(interval, value):
        return value
    return (low + high) / 2 if math.isfinite(low + high) else low + 1.0 if math.isfinite(low) else high - 1.0


@functools.cache
def _test_of(constraint):
    return spec("one", x=constraint).accept


def inside(constraint, value) -> bool:
    """Whether a Python number satisfies ``constraint``: the library's own fast-path test of it."""
    return bool(_test_of(constraint)(value))


def moderate_budget(rng):
    """A KL budget where the band is neither a point nor all of [0, 1] half the time."""
    return time(rng) if rng.random() < 0.5 else float(10.0 ** rng.uniform(-6, 1))


#: Draws aimed at one parameter's interesting range (still inside its constraint: the test checks).
FOCUS = {
    ("reward_change_band", "expected_kl"): moderate_budget,
    ("guaranteed_reward_drop", "sft_excess"): moderate_budget,
    ("tilted_tradeoff", "s"): lambda rng: nonnegative(rng) if rng.random() < 0.5 else float(rng.uniform(0, 50)),
    ("sft_increase_after_kl_rl", "beta"): lambda rng: (
        positive(rng) if rng.random() < 0.7 else float(rng.choice([math.inf, 0.1, 1.0, 10.0]))),
    ("theorem_4_1_as_stated", "kl_low"): lambda rng: (
        float(10.0 ** rng.uniform(-3, 0)) if rng.random() < 0.8 else positive(rng)),
    ("theorem_4_1_as_stated", "tolerance"): lambda rng: 1e-12 if rng.random() < 0.5 else nonnegative(rng),
}


def _pl_order(rule, kwargs, rng, name):
    kwargs[rule.mu], kwargs[rule.beta] = pl_pair(rng)


def _stable_step(rule, kwargs, rng, name):
    kwargs[rule.eta] = step(rng, kwargs[rule.beta])


#: Functions fuzzed at the edge sep = reach as well (the fuzz's float reach); tests/theory/test_reach_edge.py
#: checks each at the exact edge and one ulp either side.
EDGE_REACH = {"sft_degradation_bounds", "reward_loss_bounds", "crossing_time", "discrete_sft_degradation_bounds"}


def _within_reach(rule, kwargs, rng, name):
    # sqrt(2) sqrt(gap) / sqrt(mu): 2 gap / mu overflows where the reach itself is a float (then sep drew past it).
    reach = min(sum(math.sqrt(2.0) * math.sqrt(kwargs[gap]) / math.sqrt(kwargs[mu]) for gap, mu in rule.pairs),
                1e300)  # capped: 0 * inf is NaN
    fraction = rng.choice([rng.random(), 1.0, 0.0]) if name in EDGE_REACH else rng.random()
    kwargs[rule.sep] = float(fraction) * reach


def _at_least(rule, kwargs, rng, name):
    kwargs[rule.high] = min(kwargs[rule.low] * float(10.0 ** rng.uniform(0, 2)), 1e300)


#: One strategy per kind of cross constraint: it redraws the parameters it ties (in the table's order).
CROSS_DRAWS = {PLOrder: _pl_order, StableStep: _stable_step, Reach: _within_reach, AtLeast: _at_least}


def draw_valid(name, rng):
    """Valid keyword arguments for one call of ``name`` (scalars as Python floats), read from its entry in
    ``nondecoupling.constraints.SPECS``: each parameter from its constraint's strategy (or its FOCUS), then
    each cross constraint's; arrays that must agree in shape come from the function's JOINT draw."""
    spec = SPECS[name]
    kwargs = JOINT[name](rng) if name in JOINT else {}
    for key, constraint in spec.params.items():
        if key not in kwargs:
            kwargs[key] = FOCUS[name, key](rng) if (name, key) in FOCUS else draw(constraint, rng)
    for rule in spec.cross:
        CROSS_DRAWS[type(rule)](rule, kwargs, rng, name)
    return {key: value for key, value in kwargs.items() if value is not None}  # None: the default


def _tilt_table(rng):
    n = int(rng.integers(2, 5))
    probs = low_precision(rng.dirichlet(np.ones(n)) if rng.random() < 0.7 else np.eye(n)[0], rng)
    rewards = rng.choice([0.0, 1.0], n) if rng.random() < 0.5 else rng.random(n)
    if probs.dtype == np.float64 and rng.random() < 0.3:  # plain lists: the scalar fast path
        probs, rewards = probs.tolist(), rewards.tolist()
    return dict(probs=probs, rewards=rewards)


def _eigenvalues(rng):
    d = int(rng.integers(1, 5))
    scale = 10.0 ** rng.uniform(-300, 300)
    return dict(eigs=scale * 10.0 ** rng.uniform(-3, 0, d) * (rng.random(d) > 0.1), k=int(rng.integers(1, d + 1)))


def _prompt_table(rng):
    prompts, responses = int(rng.integers(1, 3)), int(rng.integers(2, 5))
    probs = low_precision(rng.dirichlet(np.ones(responses), prompts), rng)
    rewards = rng.choice([0.0, 1.0], (prompts, responses)) if rng.random() < 0.5 else rng.random((prompts, responses))
    weights = rng.dirichlet(np.ones(prompts)) if prompts > 1 and rng.random() < 0.5 else None
    return dict(probs=probs[0] if prompts == 1 else probs, rewards=rewards[0] if prompts == 1 else rewards,
                prompt_weights=weights)


def _claim_instance(rng):
    prompts, responses = int(rng.integers(1, 3)), int(rng.integers(2, 5))
    rl = rng.dirichlet(np.ones(responses), prompts)
    if rng.random() < 0.3:  # a response the RL policy never gives
        rl[:, 0] = 0.0
        rl /= rl.sum(axis=-1, keepdims=True)
    sft = rng.dirichlet(np.ones(responses), prompts) if rng.random() < 0.7 else rl
    rewards = (np.zeros((prompts, responses)) if rng.random() < 0.2 else
               rng.choice([0.0, 1.0], (prompts, responses)) if rng.random() < 0.5 else rng.random((prompts, responses)))
    weights = rng.dirichlet(np.ones(prompts)) if prompts > 1 and rng.random() < 0.5 else None
    if prompts == 1:
        rl, sft, rewards = rl[0], sft[0], rewards[0]
    return dict(rl_probs=rl, sft_probs=sft, rewards=rewards, prompt_weights=weights)


def _quadratic_pair(rng):
    d = int(rng.integers(1, 4))
    return dict(sft_hessian=_spd(rng, d), sft_minimizer=_vector(rng, d), rl_hessian=_spd(rng, d),
                rl_minimizer=_vector(rng, d), w=rate(rng), theta=_vector(rng, d))


#: Joint draws of the arrays that must agree in shape (the table's Distribution and Structured
#: parameters, and the rewards beside them); the function's other parameters come from the table.
JOINT = {"tilted_tradeoff": _tilt_table, "curvature_bracket": _eigenvalues, "misalignment_bound": _eigenvalues,
         "sft_increase_after_kl_rl": _prompt_table, "theorem_4_1_as_stated": _claim_instance,
         "QuadraticPair": _quadratic_pair}


def low_precision(probs, rng):
    """Probabilities as a model would hand them over: float64, or rounded to float32 or float16."""
    return probs.astype(rng.choice([np.float64, np.float64, np.float32, np.float16]))


def _spd(rng, d):
    """A random symmetric positive definite d x d matrix, condition number <= 1e6, eigenvalues in [1e-300, 1e300]."""
    top = float(10.0 ** rng.uniform(-294, 300))
    eigenvalues = top * 10.0 ** rng.uniform(-6, 0, d)
    basis = np.linalg.qr(rng.standard_normal((d, d)))[0]
    matrix = (basis * eigenvalues) @ basis.T
    return (matrix + matrix.T) / 2


def _vector(rng, d):
    return float(10.0 ** rng.uniform(-300, 300)) * rng.uniform(-1, 1, d)


def _break_quadratic(kwargs, rng):
    """An invalid QuadraticPair: a non-symmetric, indefinite, NaN or wrongly shaped Hessian or minimizer."""
    key = MATRIX_ARGS[int(rng.integers(len(MATRIX_ARGS)))]
    value = np.array(kwargs[key], dtype=float)
    kind = int(rng.integers(4))
    if kind == 0:
        value = np.append(value, 1.0) if value.ndim == 1 else value + np.triu(np.abs(value).max() * np.ones_like(value), 1)
        if value.ndim == 2 and value.shape == (1, 1):
            value = np.zeros((1, 2))
    elif kind == 1:
        value = -value if value.ndim == 2 else value[:, None] * np.ones(len(value) + 1)  # (d, d+1)
    elif kind == 2:
        value.flat[0] = math.nan
    else:
        value = np.array([object()] * value.size, dtype=object)
    kwargs = dict(kwargs)
    kwargs[key] = value
    # A minimizer with one coordinate too many mismatches the other quadratic too: any parameter may be named.
    return kwargs, key if kind != 0 or value.ndim == 2 else "any"


# ----------------------------------------------------------------------------- mutations
JUNK = ("1.0", b"1", bytearray(b"0"), memoryview(b"0"), True, np.datetime64("2020-01-01"), 1 + 0j, "masked", "object",
        "bool-in-list", "bool-array", math.nan)


def retype(value, rng):
    """The same number typed differently (int, float32, float16, Decimal, Fraction, list, 0-d array,
    a one-element 2-D float32 or float16 array); a low-precision type only where the value fits it."""
    kind = rng.choice(["int", "float32", "float16", "decimal", "fraction", "list", "array0d", "array32", "array16"])
    if kind == "int" and float(value).is_integer():
        return int(value)
    if kind in ("float32", "array32", "float16", "array16") and _fits(value, kind[-2:]):
        dtype = np.float32 if kind.endswith("32") else np.float16
        return dtype(value) if kind.startswith("float") else np.full((1, 1), value, dtype=dtype)
    if kind == "decimal" and math.isfinite(value):
        return Decimal(repr(value))
    if kind == "fraction" and math.isfinite(value):
        return Fraction(value)
    if kind == "list":
        return [value]
    return np.array(value)


def _fits(value, bits):
    """Whether ``value`` converts to float32 (``"32"``) or float16 (``"16"``) without overflow."""
    return abs(value) <= float(np.finfo(np.float32 if bits == "32" else np.float16).max)


def junk(value, rng):
    choice = JUNK[int(rng.integers(len(JUNK)))]
    if choice == "masked":
        return np.ma.masked_array([value], mask=[True])
    if choice == "object":
        return np.array([object()], dtype=object)
    if choice == "bool-in-list":  # numpy alone would read [v, True] as [v, 1.0]
        return [value, True]
    if choice == "bool-array":
        return np.array([[True], [False]])
    return choice


def as_float(value):
    """The float value a retyped argument stands for (lists and 0-d arrays of one number)."""
    if isinstance(value, np.ndarray) and value.size == 1:
        return float(value.item())
    if isinstance(value, list):
        return float(value[0])
    return float(value)


#: Arguments passed as drawn (arrays, matrices) and flags (passed as drawn, broken only by their own mutation).
SCALAR_ARGS = {"eigs", "probs", "rewards", "rl_probs", "sft_probs", "prompt_weights", "sft_hessian", "sft_minimizer",
               "rl_hessian", "rl_minimizer", "theta"}
FLAG_ARGS = {key for spec in SPECS.values() for key, c in spec.params.items() if isinstance(c, (Flag, Options))}
MATRIX_ARGS = ("sft_hessian", "rl_hessian", "sft_minimizer", "rl_minimizer")


def mutate(name, kwargs, rng):
    """Return (kwargs, expected): expected is "valid", a parameter name, or "any" (any real parameter)."""
    scalars = [key for key, value in kwargs.items() if key not in SCALAR_ARGS and key not in FLAG_ARGS]
    mode = rng.random()
    if mode < 0.5:
        return kwargs, "valid"
    if mode < 0.65 or (mode < 0.75 and name == "QuadraticPair"):  # its wrapper ravels the results
        key = scalars[int(rng.integers(len(scalars)))]
        kwargs = dict(kwargs)
        kwargs[key] = retype(kwargs[key], rng)
        return kwargs, "valid"
    if mode < 0.75:
        return _as_array(name, kwargs, rng)
    kwargs = dict(kwargs)
    if mode < 0.8 and len(scalars) >= 2:  # shapes that do not broadcast
        first, second = rng.choice(scalars, 2, replace=False)
        kwargs[first] = np.full(2, kwargs[first])
        kwargs[second] = np.full(3, kwargs[second])
        return kwargs, "any"
    if mode < 0.85 and "sharp" in kwargs:
        kwargs["sharp"] = [1, "yes", None, np.array([True, False])][int(rng.integers(4))]
        return kwargs, "sharp"
    if mode < 0.85 and "kl_direction" in kwargs:
        kwargs["kl_direction"] = [None, "kl", np.array(["sft||rl"]), b"sft||rl"][int(rng.integers(4))]
        return kwargs, "kl_direction"
    if mode < 0.88 and "sft_hessian" in kwargs:
        return _break_quadratic(kwargs, rng)
    if mode < 0.88 and "eigs" in kwargs:
        kwargs["eigs"] = [[], ["a", "b"], np.array([1.0, -1.0]), np.array([np.nan])][int(rng.integers(4))]
        return kwargs, "eigs"
    if mode < 0.9 and "probs" in kwargs:
        kwargs["probs"] = np.asarray(kwargs["probs"]) * 2.0
        return kwargs, "probs"
    key = scalars[int(rng.integers(len(scalars)))]
    if rng.random() < 0.6:
        kwargs[key] = junk(kwargs[key], rng)
        return kwargs, key
    kwargs[key] = violate(constraint_of(name, key), as_float(kwargs[key]), rng, kwargs)
    return kwargs, key


def constraint_of(name, key):
    """``key``'s constraint in the table: the function's entry, or (a class) its methods'."""
    entries = [spec for spec_name, spec in SPECS.items() if spec_name == name or spec_name.startswith(name + ".")]
    return next(spec.params[key] for spec in entries if key in spec.params)


def violate(constraint, value, rng, kwargs):
    """A value that breaks ``constraint``, often at its edge (an open end itself, the float past a closed one);
    ``kwargs``: the call's other arguments (the index k of S1 must lie in [1, len(eigs)])."""
    if isinstance(constraint, Single):
        return violate(constraint.inner, value, rng, kwargs) if rng.random() < 0.7 else np.full(2, value)
    if isinstance(constraint, Structured) and constraint.kind == "index":
        return [0, -1 - int(abs(value)), value + 0.5, np.shape(kwargs["eigs"])[-1] + 1][int(rng.integers(4))]
    if isinstance(constraint, StepCount):
        return [-1.0 - abs(value), math.floor(value) + 0.5, math.inf][int(rng.integers(3))]
    outside = []
    for end, closed, away in ((constraint.low, constraint.low_closed, -1.0), (constraint.high, constraint.high_closed, 1.0)):
        if math.isinf(end):
            outside += [] if closed else [end]  # an open infinite end: inf itself is out
        elif closed:
            beyond = end + away * (abs(value) + 10.0 ** rng.uniform(-300, 0))
            outside += [math.nextafter(end, away * math.inf), math.nextafter(beyond, away * math.inf)]
        else:
            outside += [end, end + away * abs(value)]
    return float(outside[int(rng.integers(len(outside)))])


#: The functions whose scalar parameters are single numbers (the others broadcast).
SINGLE_NUMBERS = {name for name, spec in SPECS.items() if any(isinstance(c, Single) for c in spec.params.values())}
ARRAY_SHAPES = ((3,), (2, 1), (2, 3), (3, 1, 2))


def _as_array(name, kwargs, rng):
    """One scalar parameter as a 1- to 3-D array (float64, float32 or float16) of its drawn value, with
    one entry taken from a second draw: valid or not, the reference of each entry decides."""
    key = rng.choice([k for k in kwargs if k not in SCALAR_ARGS and k not in FLAG_ARGS])
    shape = ARRAY_SHAPES[int(rng.integers(len(ARRAY_SHAPES)))]
    values = np.full(shape, kwargs[key], dtype=float)
    values.flat[int(rng.integers(values.size))] = draw_valid(name, rng)[key]
    bits = str(rng.choice(["64", "32", "16"]))
    if bits != "64" and all(_fits(v, bits) for v in values.flat):
        values = values.astype(np.float32 if bits == "32" else np.float16)
    kwargs = dict(kwargs, **{key: values})
    return kwargs, key if name in SINGLE_NUMBERS else "valid"


# ----------------------------------------------------------------------------- classification
def _digits(name, floats) -> int:
    """Enough digits that no cancellation in the plain formulas matters: the smallest quantity that
    is subtracted from 1 (s r for the tilt, a - b for kl, mu eta for the step) sets the precision."""
    def decades(x):
        return 0 if x == 0 or not math.isfinite(x) else max(0, -int(math.log10(abs(x))))

    if name == "tilted_tradeoff":  # small s: terms ~ s^2; large s: rl_kl is a difference of terms ~ s
        return 60 + 2 * decades(floats["s"]) + max(0, int(math.log10(floats["s"] + 1)))
    if name == "sft_increase_after_kl_rl":  # the tilt at s = 1/beta (which may overflow a float)
        beta = floats["beta"]
        if not 0 < beta < math.inf:
            return 60
        return 60 + 2 * max(0, int(math.log10(beta))) + max(0, int(-math.log10(beta)))
    if name == "guaranteed_reward_drop":  # kl(a || x) = budget cancels terms ~ sqrt(a budget)
        return 60 + decades(floats["sft_excess"]) + decades(floats["expert_pass_rate"])
    if name == "kl_bernoulli":
        return 60 + decades(floats["a"] - floats["b"]) + decades(1 - floats["b"]) + decades(floats["b"])
    if name in _STEP_FUNCTIONS:
        mu_name, beta_name = _STEP_FUNCTIONS[name]
        if not floats[mu_name] > 0 or not floats["eta"] > 0:
            return 60
        mu_eta_decades = max(0, -int(math.log10(floats[mu_name]) + math.log10(floats["eta"])))
        return 60 + 2 * mu_eta_decades + decades(2 - floats[beta_name] * floats["eta"])
    return 60


def reference(name, kwargs):
    floats = {key: (value if key in SCALAR_ARGS or key in FLAG_ARGS else as_float(value)) for key, value in kwargs.items()}
    with mp.workdps(_digits(name, floats)):
        if name.startswith("kl_inverse"):
            return None
        return globals()[f"ref_{name}"](**floats)


def close(got, expected, scale, bounds) -> bool:
    """``got`` within a few ulps of ``expected`` (plus rounding of cancelling terms of size ``scale``)."""
    if not isinstance(got, (float, int, np.floating, np.integer)) or isinstance(got, bool):
        return False
    got = float(got)
    if math.isnan(got) or not bounds[0] <= got <= bounds[1]:
        return False
    if isinstance(expected, Between):  # inf is the float of a value past the largest float
        return expected[0] <= got <= expected[1] or (got == math.inf and expected[1] > FLOAT_MAX)
    if mp.isinf(expected):
        return got == float(expected)
    tolerance = 1e-12 * abs(expected) + mp.mpf(2e-16) * mp.mpf(scale) + TINY
    if abs(expected) > FLOAT_MAX:  # not a float: +-inf, unless the rounding of cancelling terms allows less
        return (abs(got) == math.inf and (got > 0) == (expected > 0)) or (
            math.isfinite(got) and abs(mp.mpf(got) - expected) <= tolerance)
    if math.isinf(got):
        return False
    return abs(mp.mpf(got) - expected) <= tolerance


def check_kl_inverse(name, kwargs, got) -> bool:
    """got is within the budget by the TRUE kl (the band's side), and the next float outward is not, up to
    the margin the search keeps for the computed kl's error: 1e-12 relative (kl.KL_RELATIVE_ERROR) plus
    12 subnormals absolute (kl.KL_ABSOLUTE_ERROR, which dominates at subnormal budgets)."""
    first = "first" in name
    fixed = as_float(kwargs["rate" if first else "a"])
    budget = as_float(kwargs["budget"])
    if not isinstance(got, float) or not 0 <= got <= 1:
        return False
    upward = name.endswith("upper")
    if (got < fixed) if upward else (got > fixed):
        return False
    digits = 60 + max(0, -int(math.log10(abs(got - fixed) + 1e-320)))
    with mp.workdps(digits):
        divergence = (lambda x: kl(x, fixed)) if first else (lambda x: kl(fixed, x))
        if divergence(got) > budget:
            return False
        outward = math.nextafter(got, 2.0 if upward else -1.0)
        return not 0 <= outward <= 1 or divergence(outward) >= budget * (1 - mp.mpf(1e-12)) - 12 * mp.mpf(2) ** -1074


def valid_kl_inverse(name, kwargs):
    fixed = as_float(kwargs["rate" if "first" in name else "a"])
    budget = as_float(kwargs["budget"])
    need(0 <= fixed <= 1, "rate" if "first" in name else "a")
    need(budget >= 0, "budget")


#: P5 functions see the step only through the float products mu eta and beta eta (q depends on those
#: alone): their results are exact for those rounded products (backward stable), which near
#: eta = 2/beta is a large relative change in 2 - beta eta. The reference is recomputed there.
_STEP_FUNCTIONS = {"gd_contraction": ("mu", "beta"), "optimal_rl_steps": ("mu_rl", "beta_rl"),
                   "discrete_path_length_bound": ("mu", "beta"), "discrete_sft_degradation_bounds": ("mu_rl", "beta_rl"),
                   "discrete_reward_gain_bounds": ("mu_rl", "beta_rl"), "discrete_net_gain": ("mu_rl", "beta_rl")}


def _rounded_step_reference(name, kwargs):
    mu_name, beta_name = _STEP_FUNCTIONS[name]
    floats = {key: (value if key in SCALAR_ARGS or key in FLAG_ARGS else as_float(value)) for key, value in kwargs.items()}
    eta = floats["eta"]
    with mp.workdps(max(_digits(name, floats) + 20, 400)):  # the rescaling must not leave a residue
        # Exact rational rescaling that keeps mu eta and beta eta at their float products.
        mu_eta, beta_eta = mp.mpf(floats[mu_name] * eta), mp.mpf(floats[beta_name] * eta)
        if not (mu_eta > 0 and beta_eta < 2):
            return None
        scaled = dict(floats)
        scaled[mu_name], scaled[beta_name] = mu_eta / mp.mpf(eta), beta_eta / mp.mpf(eta)
        return globals()[f"ref_{name}"](**scaled)


def classify(name, kwargs, expected) -> str:
    """One call of ``nondecoupling.<name>(**kwargs)``, classified (see the module docstring)."""
    function = CALLS.get(name) or getattr(nondecoupling, name)
    parameters = set(inspect.signature(function).parameters)
    array_key = _array_parameter(kwargs) if expected in ("valid", "check") else None
    cases = _entries(kwargs, array_key)
    if expected in ("valid", "check"):
        try:
            refs = [_reference_or_validity(name, case) for case in cases]
            expected = "valid"
        except (Invalid, TypeError, ValueError):
            expected = "any"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcome, got = _call(function, kwargs, expected, parameters)
    if caught:
        return "leaked_warning"
    if outcome:
        return outcome
    if array_key is None:
        return _judge(name, kwargs, got, refs[0])
    shape = np.shape(kwargs[array_key])
    parts = got if isinstance(got, tuple) else (got,)
    if any(np.shape(part) != shape for part in parts):
        return "wrong_value"
    if name == "optimal_rl_steps" and np.asarray(got).dtype.kind == "f":  # documented: past 2**63, whole floats
        if not np.all(np.asarray(got) == np.floor(got)) or not np.any(np.asarray(got) >= 2.0**63):
            return "wrong_value"
        got = np.array([int(k) for k in np.asarray(got).flat], dtype=object).reshape(shape)
    outcomes = [_judge(name, case, _entry(got, j), ref) for j, (case, ref) in enumerate(zip(cases, refs))]
    return next((o for o in outcomes if o not in OK_CLASSES), outcomes[0])


def _call(function, kwargs, expected, parameters):
    """(outcome, result): the outcome is settled here for exceptions and accepted invalid input."""
    try:
        got = function(**kwargs)
    except nondecoupling.ParameterError as error:
        if expected == "valid":
            return "rejected_valid", None
        named = getattr(error, "name", None) in parameters or any(f"'{p}'" in str(error) for p in parameters)
        return ("clear_error" if named else "obscure_exception"), None
    except Exception:  # noqa: BLE001 - any other exception is the class being counted
        return "obscure_exception", None
    return ("accepted_invalid" if expected != "valid" else None), got


def _array_parameter(kwargs):
    """The scalar parameter passed as an array of several entries (by :func:`_as_array`), if any."""
    return next((key for key, value in kwargs.items() if key not in SCALAR_ARGS and key not in FLAG_ARGS
                 and isinstance(value, np.ndarray) and value.size > 1), None)


def _entries(kwargs, key):
    """The scalar calls an array argument stands for, one per entry (in flat order)."""
    if key is None:
        return [kwargs]
    return [dict(kwargs, **{key: float(value)}) for value in np.asarray(kwargs[key]).flat]


def _entry(got, j):
    """Entry ``j`` (flat order) of a result, as Python scalars."""
    if isinstance(got, tuple):
        return tuple(_entry(part, j) for part in got)
    value = np.asarray(got).flat[j]
    return value.item() if isinstance(value, np.generic) else value  # object arrays hold Python numbers


def _reference_or_validity(name, kwargs):
    if name.startswith("kl_inverse"):
        valid_kl_inverse(name, kwargs)
        return None
    return reference(name, kwargs)


def _judge(name, kwargs, got, ref) -> str:
    """A returned value for valid scalar input: correct, wrong, or the documented P5 limit."""
    if name.startswith("kl_inverse"):
        return "correct" if check_kl_inverse(name, kwargs, _unwrap(got)) else "wrong_value"
    if name == "reward_change_band":
        return "correct" if _band_ok(kwargs, got) else "wrong_value"
    got = tuple(_unwrap(g) for g in (got if isinstance(got, tuple) else (got,)))
    ok = _claim_ok(kwargs, got, ref) if name == "theorem_4_1_as_stated" else _matches(name, got, ref)
    if not ok and name in _STEP_FUNCTIONS:
        try:
            rounded = _rounded_step_reference(name, kwargs)
        except (Invalid, ZeroDivisionError):
            rounded = None
        ok = rounded is not None and _matches(name, got, rounded)
    if not ok and name in _STEP_FUNCTIONS:
        mu_name, _ = _STEP_FUNCTIONS[name]
        mu_eta = as_float(kwargs[mu_name]) * as_float(kwargs["eta"])
        if mu_eta < np.finfo(float).tiny:
            return "documented_limit"  # mu eta underflows: q rounds to 1 (see the docstrings)
        if name == "optimal_rl_steps" and mu_eta < 1e-290 and all(g == math.inf for g in got):
            return "documented_limit"  # k* ~ log(c)/(mu eta) near the float range: inf (optimal_rl_steps' docstring)
    if ok and len(got) == 2 and name.endswith("_bounds"):  # curvature_bracket too: lower <= upper
        ok = got[0] <= got[1]
    return "correct" if ok else "wrong_value"


def _band_ok(kwargs, got) -> bool:
    """Both edges certified as K3's (rl||sft) or the first-argument (sft||rl) Bernoulli-KL inverses."""
    first = kwargs["kl_direction"] == "sft||rl"
    names = ("kl_inverse_first_lower", "kl_inverse_first_upper") if first else ("kl_inverse_lower", "kl_inverse_upper")
    edge_kwargs = {"rate" if first else "a": kwargs["rl_reward"], "budget": kwargs["expected_kl"]}
    return (isinstance(got, tuple) and len(got) == 2 and got[0] <= got[1]
            and all(check_kl_inverse(n, edge_kwargs, _unwrap(g)) for n, g in zip(names, got)))


def _claim_ok(kwargs, got, ref) -> bool:
    """The two numbers match the reference; the two verdicts are the claim's tests applied to them."""
    if len(got) != 4 or not all(isinstance(g, bool) for g in got[1::2]):
        return False
    expected_kl, assumption, drop, conclusion = got
    low, high, tolerance = (as_float(kwargs[k]) for k in ("kl_low", "kl_high", "tolerance"))
    return (_matches("", (expected_kl, drop), ref) and assumption == (low <= expected_kl <= high)
            and conclusion == (drop > tolerance))


def _matches(name, got, ref) -> bool:
    values, scales, ranges = ref
    if name == "optimal_rl_steps":
        return len(got) == 1 and _steps_ok(got[0], values[0])
    return len(got) == len(values) and all(close(g, v, s, r) for g, v, s, r in zip(got, values, scales, ranges))


def _unwrap(value):
    """A one-element array (the answer to a one-element list) as its Python scalar."""
    if isinstance(value, np.ndarray) and value.size == 1:
        return value.item()
    return value


def _steps_ok(got, k_star) -> bool:
    if isinstance(got, float) and got >= 2.0**63 and got.is_integer():
        got = int(got)  # documented: arrays past 2**63 hold whole-number floats
    if isinstance(got, bool) or not isinstance(got, (int, np.integer)) or got < 0:
        return False
    return mp.floor(k_star) - 1 <= got <= mp.floor(k_star) + 2 or (k_star > 2**52 and abs(got - k_star) <= 1e-9 * k_star)


def has_spec(name) -> bool:
    """Whether the fuzzer knows how to draw valid input for ``name`` (its entry in the constraints table)
    and check its result."""
    return name in SPECS and (name.startswith("kl_inverse") or f"ref_{name}" in globals())


#: The fuzzed functions: every public function with a spec here (tests/theory/test_api_fuzz.py checks
#: that none is missing).
API = sorted(name for name in nondecoupling.__all__ if name != "ParameterError" and has_spec(name))


def fuzz(seed: int, calls: int, names=None, *, offset: int = 0) -> Counter:
    """Classify ``calls`` random calls spread round-robin over ``names`` (default: the whole API),
    starting at function number ``offset`` (so that short runs still reach every function)."""
    rng = np.random.default_rng(seed)
    names = [n for n in (names or API) if hasattr(nondecoupling, n)]
    counts = Counter()
    for i in range(offset, offset + calls):
        name = names[i % len(names)]
        kwargs, expected = mutate(name, draw_valid(name, rng), rng)
        outcome = classify(name, kwargs, expected)
        counts[(name, outcome)] += 1
        if outcome not in OK_CLASSES:
            EXAMPLES.setdefault((name, outcome), (kwargs, expected))
    return counts


#: The first call of each failing (function, outcome) pair seen by :func:`fuzz`, for reports.
EXAMPLES: dict = {}


def summary(counts: Counter) -> Counter:
    total = Counter()
    for (_, outcome), n in counts.items():
        total[outcome] += n
    return total


if __name__ == "__main__":
    np.set_printoptions(precision=17)  # examples that reproduce when pasted
    number = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    names = sys.argv[2].split(",") if len(sys.argv) > 2 and sys.argv[2] != "all" else None
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    result = fuzz(seed, number, names)
    print(dict(summary(result)))
    for (name, outcome), n in sorted(result.items()):
        if outcome not in OK_CLASSES:
            print(f"  {name:34s} {outcome:18s} {n}   e.g. {EXAMPLES[(name, outcome)]}")
