r"""K1 (any policy pays): :math:`\mathrm{CE}(p^*, \pi) \ge H(p^*) + \mathrm{kl}(a \,\|\, b)`.

Statement
---------
Responses :math:`y`, expert distribution :math:`p^*`, policy :math:`\pi`, reward
:math:`r(y) \in [0, 1]`, expert rate :math:`a = E_{p^*} r`, policy rate :math:`b = E_\pi r`,
Bernoulli KL :math:`\mathrm{kl}(a\|b) = a \log\frac{a}{b} + (1-a)\log\frac{1-a}{1-b}`.
Since :math:`\mathrm{CE}(p^*, \pi) = H(p^*) + \mathrm{KL}(p^* \| \pi)`,

.. math:: \mathrm{KL}(p^* \,\|\, \pi) \;\ge\; \mathrm{kl}(a \,\|\, b).

Equality holds iff :math:`\pi` is :math:`p^*` rescaled within each reward class
(:math:`\pi(y) = p^*(y)\, b/a` on :math:`r = 1`, :math:`p^*(y)(1-b)/(1-a)` on :math:`r = 0`)
and either :math:`r` is binary on the supports or :math:`b = a` (then :math:`\pi = p^*`).
Corrected from THEORY.md, which requires binary :math:`r` outright: with graded rewards
:math:`\pi = p^*` gives :math:`0 = \mathrm{kl}(a\|a)`, an equality (e.g. :math:`p^* = \pi =
(1/2, 1/2)`, :math:`r = (0.3, 0.6)`). Averaged over prompts the bound still holds with the averaged rates, because
:math:`\mathrm{kl}` is jointly convex. From the SFT optimum :math:`\pi_0 = p^*` any RL that moves
the pass rate from :math:`a` to :math:`b` raises the SFT loss by at least
:math:`\mathrm{kl}(a\|b) > 0`; only for perfect experts (:math:`a = 1`) is the bound
:math:`-\log b`, which falls as :math:`b` rises.

Proof sketch
------------
1. Convexity of :math:`r \mapsto e^{sr}`: :math:`e^{sr} \le 1 - r + r e^s` on :math:`[0, 1]`
   (the gap vanishes at both ends and is concave in :math:`r`).
2. Donsker-Varadhan: for every real :math:`s`,
   :math:`\mathrm{KL}(p^*\|\pi) \ge s E_{p^*} r - \log E_\pi e^{sr}
   \ge s a - \log(1 - b + b e^s) =: \varphi(s)`.
3. :math:`\varphi` is concave; :math:`\varphi'(s) = 0` at :math:`e^s = a(1-b)/(b(1-a))`, where
   :math:`\varphi = \mathrm{kl}(a\|b)` identically.
4. Equality: with binary :math:`r` step 1 is an equality, and the class-rescaled
   :math:`\pi` gives :math:`\mathrm{KL}(p^*\|\pi) = \mathrm{kl}(a\|b)` term by term.
5. Joint convexity: the Hessian of :math:`\mathrm{kl}` in :math:`(a, b)` has positive diagonal and
   determinant :math:`(a-b)^2 / (a(1-a) b^2 (1-b)^2) \ge 0`.

Numerics
--------
The generated ``kl_bernoulli(a, b)`` evaluates
:math:`\mathrm{kl}(a\|b) = D(a, b) + D(1-a, 1-b)` with
:math:`D(p, q) = p\log\frac{p}{q} - p + q \ge 0`: two nonnegative terms, so nothing cancels
between them. Inside each term the direct form cancels where :math:`p \approx q` (at
:math:`p = 1.1 q` it subtracts two numbers 22 times larger than :math:`D`, and so multiplies the
log's error by 22: a libm whose log is 4 ulp off, such as numpy's SVML kernels on AVX-512, then
gives kl 90 ulp off). Where :math:`|v| < 1/2`, :math:`v = (p - q)/(p + q)` (:math:`p/q \in (1/3, 3)`)
Loader's series replaces it, with no log at all and no cancellation:

.. math:: D(p, q) = (p - q)\,v\,\bigl(1 + (1 + v)\,v\,S(v^2)\bigr),\qquad
          S(w) = \sum_{j \ge 0} \frac{w^j}{2j + 3} = \frac{\operatorname{atanh} v - v}{v^3},

from :math:`\log(p/q) = 2\operatorname{atanh} v`; the correction :math:`(1 + v) v S` lies in
:math:`[-1/3, 1/2]`, so the bracket is at least 2/3, and the series is truncated where its tail
is proven below 2**-53 relative. Outside, the direct forms (``log1p`` for :math:`p \ge 3q`,
:math:`\log(p/q)` below :math:`q/3`) multiply the log's error by at most 2.54 (at
:math:`p = 3q`). The differences :math:`a - b` are formed before anything rounds them, so
``kl_bernoulli`` stays accurate for :math:`b` within a few ulp of :math:`a`, and near 0 and 1.
It is printed with ``lazy_branches``: on arrays each branch is evaluated only on the entries that
select it (kl_inverse_* evaluates it about 4 times per entry). The error bound and its
measurement are in :func:`nondecoupling.kl_bernoulli`'s Notes.

References
----------
C. Loader, "Fast and accurate computation of binomial probabilities", 2000 (the ``bd0`` series).
M. D. Donsker and S. R. S. Varadhan, "Asymptotic evaluation of certain Markov process
expectations for large time, I-IV", Comm. Pure Appl. Math., 1975-1983.
T. M. Cover and J. A. Thomas, "Elements of Information Theory", 2nd ed., Wiley 2006,
Thm. 2.7.2 (joint convexity of relative entropy).
Niu, Bai, Han, Zhang, arXiv:2601.07389 (2026), the distributional SFT-then-RL coupling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sympy as sp
from sympy.codegen.cfunctions import log1p
from sympy.printing.precedence import PRECEDENCE

from nondecoupling.derivations._codegen import ClosedForm
from nondecoupling.derivations._proof import Derivation, Step, true, zero

#: |x| below which a Taylor branch replaces a cancelling closed form (exact rational; K2's tilt).
TAYLOR_RADIUS = sp.Rational(1, 10)
#: |v| = |p - q|/(p + q) below which Loader's series replaces the direct D(p, q) (exact rational).
SERIES_RADIUS = sp.Rational(1, 2)
#: The relative truncation error every Taylor branch must provably stay below.
ROUNDOFF = sp.Rational(1, 2**53)
#: Ratios beyond 1/TINY may overflow and below TINY underflow; the branches avoid forming them.
TINY = sp.Float("1e-300")


def taylor_branch(coefficient: Callable[[int], sp.Expr], x: sp.Symbol, radius: sp.Expr = TAYLOR_RADIUS) -> tuple[sp.Expr, list[Step]]:
    r"""A Taylor polynomial of :math:`f(x) = \sum_{n \ge 2} c_n x^n` with a proven relative error.

    Picks the smallest order :math:`N` with
    :math:`|c_{N+1}|\,\delta^{N-1} / ((1-\delta)(c_2 - |c_3|\delta/(1-\delta))) < 2^{-53}`,
    which bounds tail / :math:`|f(x)|` on :math:`|x| \le \delta` when :math:`|c_n|` is
    nonincreasing for :math:`n \ge 2` (then :math:`|f(x)| \ge x^2 (c_2 - |c_3|\delta/(1-\delta))`
    and the tail is at most :math:`|c_{N+1}| |x|^{N+1} / (1-\delta)`).

    Parameters
    ----------
    coefficient : callable
        ``n -> c_n`` as a sympy expression in a positive integer symbol ``n``.
    x : sympy.Symbol
        The variable of the polynomial.
    radius : sympy.Rational
        :math:`\delta`.

    Returns
    -------
    polynomial : sympy.Expr
        :math:`\sum_{n=2}^{N} c_n x^n` in Horner form.
    steps : list of Step
        That :math:`|c_n|` is nonincreasing, and that the tail bound is below 2**-53.
    """
    n = sp.Symbol("n", integer=True, positive=True)
    ratio = sp.simplify(sp.Abs(coefficient(n + 1) / coefficient(n)))
    steps = [true("|c_(n+1)| <= |c_n| for n >= 1 (tail bounded by a geometric series)",
                  sp.simplify(1 - ratio) >= 0)]
    c2, c3 = coefficient(2), sp.Abs(coefficient(3))
    floor = c2 - c3 * radius / (1 - radius)

    def bound(order):
        return sp.Abs(coefficient(order + 1)) * radius ** (order - 1) / ((1 - radius) * floor)

    order = 3
    while not bound(order) < ROUNDOFF:
        order += 1
    steps.append(true(f"Taylor order {order} on |x| <= {radius}: relative tail < 2**-53",
                      sp.Lt(bound(order), ROUNDOFF)))
    polynomial = sp.horner(sum(coefficient(k) * x**k for k in range(2, order + 1)), x)
    return polynomial, steps


class RoundedSum(sp.Function):
    """``x + y`` with each summand formed first, printed ``(x + y)``: ``(1 - a) + (1 - b)`` is then exact
    wherever 1 - a and 1 - b are (a, b >= 1/2), where sympy's ``2 - a - b`` would cancel."""

    is_real = True

    def doit(self, **hints: Any) -> sp.Expr:
        return sp.Add(*(arg.doit(**hints) for arg in self.args))

    def _numpycode(self, printer):
        x, y = (printer.parenthesize(arg, PRECEDENCE["Add"]) for arg in self.args)
        return f"({x} + {y})"

    _pythoncode = _numpycode


class LoaderSeries(sp.Function):
    r"""``LoaderSeries(d, s)`` = :math:`d\,v\,(1 + (1 + v)\,v\,S_N(v^2))`, :math:`v = d/s`: D(p, q) near p = q.

    Printed as ``(lambda d: (lambda v: (lambda w: d*v*(1 + (1 + v)*v*S(w)))(v**2))(d/s))(d)`` on both
    paths, so that d, v and w are formed once (math's path would otherwise repeat the division 26
    times); ``doit()`` is the plain expression, for the proofs.
    """

    is_real = True

    def doit(self, **hints: Any) -> sp.Expr:
        difference, total = (arg.doit(**hints) for arg in self.args)
        v = difference / total
        return difference * v * (1 + (1 + v) * v * _SERIES.subs(_W, v**2))

    def _numpycode(self, printer):
        d, v = sp.symbols("d v")
        difference, total = (printer._print(arg) for arg in self.args)
        body = printer._print(d * v * (1 + (1 + v) * v * _SERIES))
        return f"(lambda d: (lambda v: (lambda w: {body})(v**2))(d/{total}))({difference})"

    _pythoncode = _numpycode


def atanh_series(w: sp.Symbol, radius: sp.Expr = SERIES_RADIUS) -> tuple[sp.Expr, list[Step]]:
    r""":math:`S(w) = \sum_{j<N} w^j/(2j+3)`, truncated where it provably no longer matters.

    With :math:`|v| \le r`, :math:`w = v^2`: the tail is at most
    :math:`r^{2N} / ((2N+3)(1-r^2))`, the correction :math:`|(1 + v) v S| \le r/(3(1-r))`, so
    the relative truncation error of :math:`D = (p-q) v (1 + (1+v) v S)` is at most
    :math:`(1+r) r\,\mathrm{tail} / (1 - r/(3(1-r)))`; :math:`N` is the smallest order that
    keeps it below 2**-53.

    Returns
    -------
    polynomial : sympy.Expr
        :math:`S_N(w)` in Horner form, exact rational coefficients.
    steps : list of Step
        The order's bound.
    """
    def bound(order):
        tail = radius ** (2 * order) / ((2 * order + 3) * (1 - radius**2))
        return (1 + radius) * radius * tail / (1 - radius / (3 * (1 - radius)))

    order = 1
    while not bound(order) < ROUNDOFF:
        order += 1
    steps = [true(f"{order} terms of S on |v| <= {radius}: relative truncation error of D < 2**-53",
                  sp.Lt(bound(order), ROUNDOFF)),
             true(f"|(1 + v) v S(v^2)| <= r/(3(1 - r)) < 1 on |v| <= {radius}: the bracket stays positive",
                  sp.Lt(radius / (3 * (1 - radius)), 1))]
    polynomial = sp.horner(sum(w**j * sp.Rational(1, 2 * j + 3) for j in range(order)), w)
    return polynomial, steps


_W = sp.Symbol("w")
_SERIES = atanh_series(_W)[0]


def _relative_entropy_term(p, q, difference):
    r""":math:`D(p, q) = p\log(p/q) - p + q`, branch by branch; ``difference`` is :math:`p - q`.

    Near :math:`p = q` (:math:`|v| < 1/2`) Loader's series in :math:`v = (p - q)/(p + q)` (module
    docstring); for :math:`p > q/2` (then :math:`p \ge 3q`) the ``log1p`` form; below,
    :math:`\log(p/q)` while the ratio is a normal float, else :math:`\log p - \log q`, which then
    exceeds 690 in size and so loses no accuracy.
    """
    diff = sp.UnevaluatedExpr(difference)
    total = RoundedSum(p, q)
    return sp.Piecewise(
        (q, sp.Eq(p, 0)),
        (sp.oo, sp.Eq(q, 0)),
        (LoaderSeries(diff, total), sp.Abs(diff) < SERIES_RADIUS * total),
        (p * log1p(diff / q) - diff, (p > q / 2) & (q > TINY)),
        (p * sp.log(p / q) - diff, (p > TINY * q) & (TINY * p < q)),
        (p * (sp.log(p) - sp.log(q)) - diff, True),
    )


def derive() -> Derivation:
    d = Derivation("K1")
    a, b, ca, cb = sp.symbols("a b abar bbar", positive=True)  # abar = 1 - a, bbar = 1 - b
    s, r = sp.symbols("s r", real=True)
    kl = a * sp.log(a / b) + ca * sp.log(ca / cb)
    d.results["kl(a||b)"] = kl.subs({ca: 1 - a, cb: 1 - b})

    # 1. e^{sr} <= 1 - r + r e^s on [0, 1]: the gap is zero at both ends and concave in r.
    gap = 1 - r + r * sp.exp(s) - sp.exp(s * r)
    d.steps += [
        zero("convexity gap g(r) = 1 - r + r e^s - e^{sr} vanishes at r = 0", gap.subs(r, 0)),
        zero("... and at r = 1", gap.subs(r, 1)),
        true("g''(r) = -s^2 e^{sr} <= 0: g is concave, so g >= 0 on [0, 1]", sp.diff(gap, r, 2) <= 0),
    ]

    # 2-3. Donsker-Varadhan lower bound, optimized over s.
    phi = s * a - sp.log(cb + b * sp.exp(s))
    s_star = sp.log(a * cb / (b * ca))
    d.results["s*"] = s_star.subs({ca: 1 - a, cb: 1 - b})
    at_optimum = phi.subs(s, s_star).replace(sp.log, lambda arg: sp.log(sp.factor(arg)))
    optimum = sp.expand(sp.expand_log(at_optimum - kl, force=True))
    d.steps += [
        true("phi(s) = s a - log(1 - b + b e^s) is concave: phi'' < 0",
             sp.simplify(sp.diff(phi, s, 2)) < 0),
        zero("phi'(s*) = 0 at e^{s*} = a(1-b)/(b(1-a))",
             sp.diff(phi, s).subs(s, s_star).subs(ca, 1 - a)),
        zero("phi(s*) = kl(a||b) identically (abar = 1 - a)", optimum.subs(ca, 1 - a)),
    ]

    # 4. Equality: binary r, pi = p* rescaled within each class (two responses per class).
    u, v = sp.symbols("u v", positive=True)  # within-class shares of p*
    expert = [a * u, a * (1 - u), ca * v, ca * (1 - v)]
    policy = [b * u, b * (1 - u), cb * v, cb * (1 - v)]
    kl_pair = sum(p_i * sp.log(p_i / q_i) for p_i, q_i in zip(expert, policy))
    d.steps += [
        zero("binary r, class-rescaled pi: KL(p*||pi) = kl(a||b)",
             sp.expand(sp.expand_log(kl_pair - kl, force=True))),
        zero("binary r: E_pi e^{sr} = 1 - b + b e^s (step 1 is an equality)",
             sum(q_i * sp.exp(s * r_i) for q_i, r_i in zip(policy, [1, 1, 0, 0]))
             - (cb + b * sp.exp(s))),
    ]

    # 5. Joint convexity in (a, b), for the prompt average.
    kl_ab = kl.subs({ca: 1 - a, cb: 1 - b})
    hessian = sp.hessian(kl_ab, (a, b))
    d.steps += [
        zero("d2 kl / da2 = 1/(a(1-a)) > 0", hessian[0, 0] - 1 / (a * (1 - a))),
        zero("det Hess kl = (a-b)^2 / (a(1-a) b^2 (1-b)^2) >= 0: kl jointly convex",
             hessian.det() - (a - b) ** 2 / (a * (1 - a) * b**2 * (1 - b) ** 2)),
    ]

    # Perfect experts.
    d.steps += [
        zero("a = 1: kl(1||b) = -log b", sp.limit(kl_ab, a, 1) + sp.log(b)),
        true("d/db (-log b) = -1/b < 0: the bound falls as b rises", sp.diff(-sp.log(b), b) < 0),
    ]

    # Numerics: the cancellation-free form D(a, b) + D(1-a, 1-b) and Loader's series near p = q.
    p, q, v, w = sp.symbols("p q v w", positive=True)
    series, series_steps = atanh_series(w)
    order = sp.Poly(series, w).degree() + 1
    atanh = sp.log((1 + v) / (1 - v)) / 2
    d.steps += [
        zero("kl(a||b) = D(a, b) + D(1-a, 1-b), D(p, q) = p log(p/q) - p + q",
             sp.expand(sp.expand_log(kl_ab - (a * sp.log(a / b) - a + b)
                                     - ((1 - a) * sp.log((1 - a) / (1 - b)) - (1 - a) + (1 - b)),
                                     force=True))),
        zero("v = (p - q)/(p + q): log(p/q) = 2 atanh(v) = log((1 + v)/(1 - v))",
             sp.simplify(((1 + v) / (1 - v)).subs(v, (p - q) / (p + q)) - p / q)),
        zero("D(p, q) = (p - q) v (1 + (1 + v)(atanh(v) - v)/v^2) (Loader), since p + q = (p - q)/v and 2p = (p + q)(1 + v)",
             sp.simplify((((p - q) * v * (1 + (1 + v) * (atanh - v) / v**2))
                          - (p * 2 * atanh - p + q)).subs(p, q * (1 + v) / (1 - v)))),
        zero(f"atanh(v) - v = v^3 S(v^2), S(w) = sum_j w^j/(2j + 3), through order {2 * order + 1}",
             sp.expand(sp.series(atanh - v, v, 0, 2 * order + 3).removeO() - v**3 * series.subs(w, v**2))),
        *series_steps,
    ]
    return d


def closed_forms() -> list[ClosedForm]:
    a, b = sp.symbols("a b")
    kl = _relative_entropy_term(a, b, a - b) + _relative_entropy_term(1 - a, 1 - b, b - a)
    return [ClosedForm("kl_bernoulli", (a, b), kl,
                       "K1: kl(a||b) = D(a, b) + D(1-a, 1-b), each term >= 0 and cancellation-free.",
                       rewrite=False, lazy_branches=True)]


if __name__ == "__main__":
    import numpy as np

    print(derive())
    # Illustration: a random expert and policy over 6 responses with graded rewards.
    rng = np.random.default_rng(0)
    expert, policy, reward = rng.dirichlet(np.ones(6)), rng.dirichlet(np.ones(6)), rng.random(6)
    from nondecoupling import kl_bernoulli

    rate_a, rate_b = expert @ reward, policy @ reward
    print(f"KL(p*||pi) = {np.sum(expert * np.log(expert / policy)):.6f} "
          f">= kl(a||b) = {kl_bernoulli(rate_a, rate_b):.6f}  (a = {rate_a:.4f}, b = {rate_b:.4f})")
