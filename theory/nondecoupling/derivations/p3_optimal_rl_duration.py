r"""P3 (optimal RL duration): how long RL pays for the SFT loss it costs.

Statement
---------
Setting of P1 (RL flow from theta_0 in S_L, Delta_0 = R(theta_0) - R*), weight lam > 0, net
gain :math:`G(t) = [J(\theta_t) - J(\theta_0)] - \lambda [L(\theta_t) - L^*]`. With
:math:`c = \lambda \beta_{sft}\beta_{rl}/\mu_{rl}^2`

.. math::

    G(t) \ge g(t) = \Delta_0\bigl[1 - e^{-2\mu_{rl} t} - c\,(1 - e^{-\mu_{rl} t})^2\bigr],

:math:`t^* = \ln(1 + 1/c)/\mu_{rl}` maximizes g, and :math:`g(t^*) = \Delta_0/(1 + c)`.
If c > 1, g turns negative after :math:`t_{neg} = \ln\frac{c+1}{c-1}/\mu_{rl}`. On isotropic
quadratics (L = (mu_sft/2)||theta - a||^2, R = (mu_rl/2)||theta - b||^2, theta_0 = a, so
beta = mu and c = lam mu_sft / mu_rl) G(t) = g(t) exactly: t* is the true optimum.

Proof sketch
------------
P1's reward lower bound minus lam times P1's upper envelope with the second path-length
form is g. In s = 1 - e^{-mu_rl t} in [0, 1), g = Delta_0 (2 s - (1 + c) s^2) is a concave
parabola: its maximum is at s* = 1/(1 + c) (i.e. e^{-mu_rl t*} = c/(1 + c)) with value
Delta_0/(1 + c); its second root s = 2/(1 + c) lies in (0, 1) iff c > 1.

Numerics: g is printed as Delta_0 s (2 e^{-mu_rl t} + (1 - c) s) with s = -expm1(-mu_rl t):
both terms are >= 0 when c <= 1, and for c > 1 the only cancellation left is the one
inherent near the root t_neg, so g is accurate for c from 1e-12 to 1e12 (the textbook form
cancels catastrophically at t ~ t* for large c, and at large t for c = 1). t* is printed as
log1p(1/c)/mu_rl (sympy's own rewrite, log1p(c) - log(c), cancels for large c).

References
----------
Niu, Bai, Han, Zhang, arXiv:2601.07389 (2026).
"""

from __future__ import annotations

import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p

from nondecoupling.derivations import p1_sft_then_rl as p1
from nondecoupling.derivations._codegen import ClosedForm, LogOfProduct, ScaledProduct
from nondecoupling.derivations._proof import Derivation, true, zero

t, rl_gap0 = p1.t, p1.rl_gap0
mu_sft, beta_sft, mu_rl, beta_rl = p1.mu_sft, p1.beta_sft, p1.mu_rl, p1.beta_rl
lam = sp.Symbol("lam", positive=True)
s = sp.Symbol("s", nonnegative=True)

COST_RATIO = lam * beta_sft * beta_rl / mu_rl**2  # c
NET_GAIN_LOWER = rl_gap0 * (1 - sp.exp(-2 * mu_rl * t) - COST_RATIO * (1 - sp.exp(-mu_rl * t)) ** 2)
OPTIMAL_DURATION = sp.log(1 + 1 / COST_RATIO) / mu_rl

_progress = -expm1(-mu_rl * t)  # s = 1 - e^{-mu_rl t}, accurately
NET_GAIN_PRINTED = rl_gap0 * _progress * (2 * sp.exp(-mu_rl * t) + (1 - COST_RATIO) * _progress)
OPTIMAL_DURATION_PRINTED = log1p(mu_rl**2 / (lam * beta_sft * beta_rl)) / mu_rl
# t_neg = ln((c + 1)/(c - 1))/mu_rl = log1p(2/(c - 1))/mu_rl for c > 1; never for c <= 1.
BREAK_EVEN_TIME = sp.log((COST_RATIO + 1) / (COST_RATIO - 1)) / mu_rl
BREAK_EVEN_PRINTED = sp.Piecewise(
    (log1p(2 * mu_rl**2 / (lam * beta_sft * beta_rl - mu_rl**2)) / mu_rl, lam * beta_sft * beta_rl > mu_rl**2),
    (sp.oo, True),
)

# ----- Printed forms, safe over 1e-300 .. 1e300 for every constant (same values, proved below):
# c and 1/c as scaled products; log1p(x) = log(x) to 2**-60 relative above x = 2**60 (taken as a log
# of the scaled product, finite where x is not a float) and x to 2**-60 below x = 2**-60 (the
# quotient by mu_rl formed inside the product); s = 1 - e^{-mu t} as -expm1(-mu t), or its factors
# mu_rl, t below the truncation (P1's), inside the scaled products.
_BIG, _SMALL = sp.Integer(2) ** 60, sp.Rational(1, 2**60)
_INVERSE_COST = ScaledProduct(mu_rl, mu_rl, 1 / lam, 1 / beta_sft, 1 / beta_rl)  # 1/c
_COST = ScaledProduct(lam, beta_sft, beta_rl, 1 / mu_rl, 1 / mu_rl)  # c
OPTIMAL_DURATION_STABLE = sp.Piecewise(
    (LogOfProduct(mu_rl, mu_rl, 1 / lam, 1 / beta_sft, 1 / beta_rl) / mu_rl, _INVERSE_COST > _BIG),
    (ScaledProduct(mu_rl, 1 / lam, 1 / beta_sft, 1 / beta_rl), _INVERSE_COST < _SMALL),
    (log1p(_INVERSE_COST) / mu_rl, True))
_EXPM1 = -expm1(-mu_rl * t)  # s past the truncation


def _net_gain_stable(progress: tuple, decay: tuple):
    """g with s = prod(progress) and s/mu_rl = prod(decay) as factors of its scaled products.

    Never the float s/mu_rl, nor mu_rl t, where a factor is subnormal (mu_rl or t): such a float
    loses bits (or overflows, s/mu_rl at a subnormal mu_rl) where the product is a normal float.
    g = Delta_0 s (2 e^{-mu t} + (1 - c) s): no cancellation for c <= 1 (1 - c is exact at c = 1);
    where c itself overflows, the difference of the two scaled terms (the cost then dominates).
    """
    progress_float = ScaledProduct(*progress) if len(progress) > 1 else progress[0]
    return sp.Piecewise(
        (ScaledProduct(rl_gap0, *progress, 2 * sp.exp(-mu_rl * t) + (1 - _COST) * progress_float),
         _COST < sp.Integer(2) ** 1000),
        (ScaledProduct(rl_gap0, *progress, 1 + sp.exp(-mu_rl * t))
         - ScaledProduct(rl_gap0, lam, beta_sft, beta_rl, *decay, *decay), True))


NET_GAIN_STABLE = sp.Piecewise((_net_gain_stable((mu_rl, t), (t,)), mu_rl * t < p1.SMALL_EXPONENT),
                               (_net_gain_stable((_EXPM1,), (_EXPM1, 1 / mu_rl)), True))
BREAK_EVEN_STABLE = sp.Piecewise(
    (sp.oo, _COST <= 1),
    (ScaledProduct(2, mu_rl, 1 / lam, 1 / beta_sft, 1 / beta_rl), _COST > _BIG),
    (log1p(2 / (_COST - 1)) / mu_rl, True))


def _stable_steps() -> list:
    """The printed forms' main branches equal the theorem's; the cut-offs err by < 2**-60 relative."""
    def main_branch(expr, index):
        return _as_exp(expr.args[index][0].doit())

    x = sp.Symbol("x", positive=True)
    return [
        zero("t* printed (middle range): log1p(1/c)/mu_rl", main_branch(OPTIMAL_DURATION_STABLE, 2) - OPTIMAL_DURATION),
        zero("t* printed (1/c > 2**60): log(1/c)/mu_rl, and log1p(x) - log(x) = log1p(1/x) < 1/x",
             sp.expand_log(main_branch(OPTIMAL_DURATION_STABLE, 0) - sp.log(1 / COST_RATIO) / mu_rl, force=True)),
        zero("t* printed (1/c < 2**-60): (1/c)/mu_rl, and log1p(x) = x (1 - x/2 + ...)",
             main_branch(OPTIMAL_DURATION_STABLE, 1) - (1 / COST_RATIO) / mu_rl),
        zero("log1p(x) = x - x^2/2 + O(x^3)", sp.series(sp.log(1 + x), x, 0, 3).removeO() - (x - x**2 / 2)),
        *_net_gain_steps(),
        zero("t_neg printed (c > 2**60): 2/(c mu_rl), the first term of log1p(2/(c - 1))/mu_rl",
             main_branch(BREAK_EVEN_STABLE, 1) - 2 / (COST_RATIO * mu_rl)),
        zero("t_neg printed (1 < c <= 2**60): log1p(2/(c - 1))/mu_rl",
             sp.simplify(sp.exp(main_branch(BREAK_EVEN_STABLE, 2) * mu_rl) - sp.exp(BREAK_EVEN_TIME * mu_rl))),
    ]


def _net_gain_steps() -> list:
    """Each of the four branches of the printed g is g in s = 1 - e^{-mu_rl t} (e^{-mu_rl t} = 1 - s);
    below the truncation s is mu_rl t, within 2**-61 relative (P1's truncation step)."""
    in_s = rl_gap0 * (2 * s - (1 + COST_RATIO) * s**2)
    by_progress = {  # each branch's s factors -> s, then e^{-mu_rl t} -> 1 - s
        "mu_rl t < 2**-60: s = mu_rl t": lambda e: e.doit().xreplace({t: s / mu_rl}).xreplace({sp.exp(-s): 1 - s}),
        "s = -expm1(-mu_rl t)": lambda e: e.xreplace({-_EXPM1: -s, sp.exp(-mu_rl * t): 1 - s}).doit()}
    by_cost = {0: "c < 2**1000: Delta_0 s (2 e^{-mu t} + (1 - c) s)",
               1: "c overflows: Delta_0 s (1 + e^{-mu t}) - Delta_0 lam beta_sft beta_rl (s/mu_rl)^2"}
    return [zero(f"g printed ({progress}; {cost}) = Delta_0 (2 s - (1 + c) s^2)",
                 sp.simplify(to_s(branch.args[index][0]) - in_s))
            for (progress, to_s), (branch, _) in zip(by_progress.items(), NET_GAIN_STABLE.args)
            for index, cost in by_cost.items()]


def _as_exp(expr):
    return expr.rewrite(sp.exp).rewrite(sp.log)


def _optimum_steps(c) -> list:
    """Maximize g over t through s = 1 - e^{-mu_rl t}, with lam expressed by c."""
    to_c = {lam: c * mu_rl**2 / (beta_sft * beta_rl)}
    gain_in_s = rl_gap0 * (2 * s - (1 + c) * s**2)
    s_star = 1 / (1 + c)
    gain_t = NET_GAIN_LOWER.xreplace(to_c)
    t_star = -sp.log(1 - s_star) / mu_rl
    return [
        zero("g(t) = Delta_0 (2 s - (1 + c) s^2) with s = 1 - e^{-mu_rl t}",
             gain_t - gain_in_s.subs(s, 1 - sp.exp(-mu_rl * t))),
        true("dg/ds = 0 has the single root s* = 1/(1 + c), i.e. e^{-mu_rl t*} = c/(1 + c)",
             sp.Eq(sp.FiniteSet(*sp.solve(sp.diff(gain_in_s, s), s)), sp.FiniteSet(s_star))),
        zero("t* = -ln(1 - s*)/mu_rl = ln(1 + 1/c)/mu_rl", t_star - OPTIMAL_DURATION.xreplace(to_c)),
        zero("g(s*) = Delta_0/(1 + c)", gain_in_s.subs(s, s_star) - rl_gap0 / (1 + c)),
        zero("d^2g/ds^2 = -2 (1 + c) Delta_0", sp.diff(gain_in_s, s, 2) + 2 * (1 + c) * rl_gap0),
        zero("d^2g/dt^2 at t* = -2 Delta_0 mu_rl^2 c^2/(1 + c)",
             sp.diff(gain_t, t, 2).subs(t, t_star) + 2 * rl_gap0 * mu_rl**2 * c**2 / (1 + c)),
        true("... which is < 0 for Delta_0 > 0: t* is the maximum",
             (-2 * rl_gap0 * mu_rl**2 * c**2 / (1 + c)).subs(rl_gap0, sp.Symbol("gap", positive=True)) < 0),
    ]


def derive() -> Derivation:
    """g from P1's bounds, its maximizer and maximum, the sign change, tightness, printed forms."""
    derivation = Derivation("P3")
    derivation.results.update(cost_ratio=COST_RATIO, net_gain_lower=NET_GAIN_LOWER,
                              optimal_duration=OPTIMAL_DURATION, break_even_time=BREAK_EVEN_TIME)
    gain_lower, _ = p1.gain_bounds(t, rl_gap0, mu_rl, beta_rl)
    _, gradient_form = p1.path_length_forms(rl_gap0, mu_rl, beta_rl, t)
    derivation.steps.append(zero(
        "G >= Delta_0 (1 - e^{-2 mu_rl t}) - lam (beta_sft/2) ell^2 >= that with ell -> second form = g(t)",
        gain_lower - lam * beta_sft / 2 * gradient_form**2 - NET_GAIN_LOWER))

    c = sp.Symbol("c", positive=True)
    derivation.steps += _optimum_steps(c)
    excess = sp.Symbol("excess", positive=True)  # c = 1 + excess > 1
    t_neg = sp.log((c + 1) / (c - 1)) / mu_rl
    gain_c = NET_GAIN_LOWER.xreplace({lam: c * mu_rl**2 / (beta_sft * beta_rl)})
    derivation.steps += [
        zero("for c > 1, g(t_neg) = 0 at t_neg = ln((c + 1)/(c - 1))/mu_rl",
             gain_c.subs(t, t_neg).subs(c, 1 + excess)),
        true("... and t_neg > t*: (c + 1)/(c - 1) over 1 + 1/c is c/(c - 1) > 1",
             sp.factor(((c + 1) / (c - 1)) / (1 + 1 / c) - 1).subs(c, 1 + excess) > 0),
        true("for c < 1 the root 2/(1 + c) of g in s is > 1 (= 1 at c = 1), out of reach: g >= 0 for all t",
             sp.factor(2 / (1 + c) - 1).subs(c, 1 / (1 + excess)) > 0),
    ]

    a = sp.Matrix(sp.symbols("a1 a2", real=True))
    b = sp.Matrix(sp.symbols("b1 b2", real=True))
    theta = b + (a - b) * sp.exp(-mu_rl * t)  # RL flow of P1's isotropic instance
    net_gain = (mu_rl / 2 * ((a - b).dot(a - b) - (theta - b).dot(theta - b))
                - lam * mu_sft / 2 * (theta - a).dot(theta - a))
    isotropic = {rl_gap0: mu_rl / 2 * (a - b).dot(a - b), beta_sft: mu_sft, beta_rl: mu_rl}
    derivation.steps += [
        zero("isotropic quadratics: G(t) - g(t) == 0 for all t (c = lam mu_sft/mu_rl)",
             net_gain - NET_GAIN_LOWER.xreplace(isotropic)),
        zero("printed g, Delta_0 s (2 e^{-mu_rl t} + (1 - c) s), equals g", _as_exp(NET_GAIN_PRINTED) - NET_GAIN_LOWER),
        zero("printed t*, log1p(1/c)/mu_rl, equals ln(1 + 1/c)/mu_rl",
             _as_exp(OPTIMAL_DURATION_PRINTED) - OPTIMAL_DURATION),
        zero("printed t_neg (c > 1 branch), log1p(2/(c - 1))/mu_rl, equals ln((c + 1)/(c - 1))/mu_rl",
             _as_exp(BREAK_EVEN_PRINTED.args[0][0]) - BREAK_EVEN_TIME),
        zero("... and g(t_neg) = 0 in the printed variables",
             NET_GAIN_LOWER.subs(t, BREAK_EVEN_TIME).subs(lam, (1 + excess) * mu_rl**2 / (beta_sft * beta_rl))),
    ]
    derivation.steps += _stable_steps()
    return derivation


def closed_forms() -> list[ClosedForm]:
    """t* and g(t), in the shapes shaped for accuracy above (no automatic rewrite)."""
    return [
        ClosedForm("optimal_rl_duration", (lam, mu_rl, beta_rl, beta_sft), OPTIMAL_DURATION_STABLE,
                   "P3: t* = ln(1 + 1/c)/mu_rl, c = lam beta_sft beta_rl/mu_rl^2.", rewrite=False),
        ClosedForm("guaranteed_net_gain", (t, rl_gap0, lam, mu_rl, beta_rl, beta_sft), NET_GAIN_STABLE,
                   "P3: g(t) = Delta_0 [1 - e^{-2 mu_rl t} - c (1 - e^{-mu_rl t})^2].", rewrite=False),
        ClosedForm("rl_break_even_time", (lam, mu_rl, beta_rl, beta_sft), BREAK_EVEN_STABLE,
                   "P3: t_neg = ln((c + 1)/(c - 1))/mu_rl where c > 1 (g < 0 after it), inf where c <= 1.",
                   rewrite=False),
    ]


def _illustrate() -> None:
    """Isotropic instance: g (this theorem) next to the exact net gain of the closed-form flow."""
    import numpy as np

    from nondecoupling import guaranteed_net_gain, optimal_rl_duration

    distance, lam_value, mu_sft_value, mu_rl_value = 1.5, 2.0, 0.8, 1.0
    rl_gap0_value = mu_rl_value * distance**2 / 2
    constants = dict(lam=lam_value, mu_rl=mu_rl_value, beta_rl=mu_rl_value, beta_sft=mu_sft_value)
    t_star = optimal_rl_duration(**constants)
    print(f"t* = {t_star:.12f}")
    print("      t   g(t)            exact G(t)")
    for time in (0.25 * t_star, t_star, 2 * t_star, 10 * t_star):
        moved = distance * -np.expm1(-mu_rl_value * time)
        exact = (rl_gap0_value - mu_rl_value / 2 * (distance - moved) ** 2) - lam_value * mu_sft_value / 2 * moved**2
        print(f"{time:8.4f}  {guaranteed_net_gain(time, rl_gap0=rl_gap0_value, **constants):.12f}  {exact:.12f}")


if __name__ == "__main__":
    print(derive())
    _illustrate()
