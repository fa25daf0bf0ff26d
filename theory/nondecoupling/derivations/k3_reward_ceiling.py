r"""K3 (RL-then-SFT reward ceiling): SFT confines the pass rate to a KL ball around the expert's.

Statement
---------
Read K1 backwards. With SFT excess :math:`\varepsilon = \mathrm{CE}(p^*, \pi) - H(p^*)`,
:math:`\mathrm{kl}(a\|b) \le \varepsilon`, so the policy's pass rate :math:`b` lies in

.. math:: [\,\mathrm{kl}^{-1}_{\downarrow}(a, \varepsilon),\; \mathrm{kl}^{-1}_{\uparrow}(a, \varepsilon)\,]
          = \{ b \in [0, 1] : \mathrm{kl}(a\|b) \le \varepsilon \} \ni a,

and Pinsker's inequality :math:`\mathrm{kl}(a\|b) \ge 2(a-b)^2` gives
:math:`|b - a| \le \sqrt{\varepsilon/2}`. As SFT drives :math:`\varepsilon \to 0` the interval
shrinks to :math:`\{a\}` (like :math:`\sqrt{2a(1-a)\varepsilon}`): a rate :math:`b_{RL} > a`
reached by RL is pulled back down to :math:`a` as soon as :math:`\varepsilon < \mathrm{kl}(a\|b_{RL})`.

Proof sketch
------------
1. :math:`\partial_b \mathrm{kl}(a\|b) = (b-a)/(b(1-b))` and :math:`\partial_b^2 \mathrm{kl} > 0`:
   the sublevel set is an interval around the zero at :math:`b = a`.
2. Pinsker: :math:`g(b) = \mathrm{kl}(a\|b) - 2(a-b)^2` has :math:`g(a) = 0` and
   :math:`g'(b) = (b-a)(1-2b)^2/(b(1-b))`, which has the sign of :math:`b - a`; so
   :math:`g \ge 0`.
3. :math:`\mathrm{kl}(a\|a+\delta) = \delta^2/(2a(1-a)) + O(\delta^3)` gives the small-budget width.
4. Edges: :math:`\mathrm{kl}(0\|b) = -\log(1-b)` so :math:`\mathrm{kl}^{-1}_\uparrow(0, \varepsilon) = 1 - e^{-\varepsilon}`;
   :math:`\mathrm{kl}^{-1}_\downarrow(1, \varepsilon) = e^{-\varepsilon}`.

References
----------
M. S. Pinsker, "Information and Information Stability of Random Variables and Processes",
Holden-Day 1964; the Bernoulli form: Cover and Thomas, "Elements of Information Theory",
2nd ed., Wiley 2006, Lemma 11.6.1.
Niu, Bai, Han, Zhang, arXiv:2601.07389 (2026), the RL-then-SFT coupling.
"""

from __future__ import annotations

import sympy as sp

from nondecoupling.derivations._codegen import ClosedForm
from nondecoupling.derivations._proof import Derivation, true, zero


def derive() -> Derivation:
    d = Derivation("K3")
    a, b, budget, delta = sp.symbols("a b budget delta", positive=True)
    kl = a * sp.log(a / b) + (1 - a) * sp.log((1 - a) / (1 - b))
    d_kl = sp.diff(kl, b)
    d.results["pinsker_radius"] = sp.sqrt(budget / 2)
    d.results["small-budget half-width"] = sp.sqrt(2 * a * (1 - a) * budget)

    # 1. The sublevel set is an interval containing a.
    abar, bbar = sp.symbols("abar bbar", positive=True)  # 1 - a, 1 - b > 0
    d.steps += [
        zero("kl(a||a) = 0", kl.subs(b, a)),
        zero("d kl / db = (b - a) / (b (1 - b))", d_kl - (b - a) / (b * (1 - b))),
        zero("d2 kl / db2 = a/b^2 + (1-a)/(1-b)^2", sp.diff(kl, b, 2) - a / b**2 - (1 - a) / (1 - b) ** 2),
        true("... > 0 for 0 < a, b < 1: kl(a||.) is strictly convex", a / b**2 + abar / bbar**2 > 0),
    ]

    # 2. Pinsker through the sign of g'.
    gap = kl - 2 * (a - b) ** 2
    d.steps += [
        zero("Pinsker gap g(b) = kl(a||b) - 2(a-b)^2 vanishes at b = a", gap.subs(b, a)),
        zero("g'(b) = (b - a)(1 - 2b)^2 / (b(1 - b))",
             sp.diff(gap, b) - (b - a) * (1 - 2 * b) ** 2 / (b * (1 - b))),
        true("(1 - 2b)^2 / (b(1 - b)) >= 0: g' has the sign of b - a, so g >= g(a) = 0",
             (1 - 2 * b) ** 2 / (b * bbar) >= 0),
        zero("kl(a||b) <= budget and Pinsker give |b - a| <= sqrt(budget/2)",
             sp.solve(sp.Eq(2 * delta**2, budget), delta)[0] - sp.sqrt(budget / 2)),
        zero("the interval shrinks to {a}: sqrt(budget/2) -> 0 as budget -> 0",
             sp.limit(sp.sqrt(budget / 2), budget, 0)),
    ]

    # 3. Small budgets: quadratic growth with curvature 1/(a(1-a)).
    local = sp.series(kl.subs(b, a + delta), delta, 0, 3).removeO()
    d.steps += [
        zero("kl(a||a+delta) = delta^2 / (2a(1-a)) + O(delta^3)",
             sp.simplify(local - delta**2 / (2 * a * (1 - a)))),
        zero("so the half-width is sqrt(2a(1-a) budget) + o(sqrt(budget))",
             (delta**2 / (2 * a * (1 - a))).subs(delta, sp.sqrt(2 * a * (1 - a) * budget)) - budget),
    ]

    # 4. Edges of the rate range.
    d.steps += [
        zero("a = 0: kl(0||1 - e^{-budget}) = budget",
             sp.expand_log(sp.limit(kl, a, 0).subs(b, 1 - sp.exp(-budget)), force=True) - budget),
        zero("a = 1: kl(1||e^{-budget}) = budget",
             sp.expand_log(sp.limit(kl, a, 1).subs(b, sp.exp(-budget)), force=True) - budget),
    ]
    return d


def closed_forms() -> list[ClosedForm]:
    budget = sp.Symbol("budget")
    return [ClosedForm("pinsker_radius", (budget,), sp.sqrt(budget / 2),
                       "K3: Pinsker, |b - a| <= sqrt(budget / 2) whenever kl(a||b) <= budget.")]


if __name__ == "__main__":
    print(derive())
    from nondecoupling import kl_bernoulli, kl_inverse_lower, kl_inverse_upper

    # Illustration: the band of pass rates that SFT excess eps still allows, around a = 0.3.
    for eps in (1.0, 1e-2, 1e-4, 1e-8):
        low, high = kl_inverse_lower(0.3, eps), kl_inverse_upper(0.3, eps)
        print(f"eps = {eps:g}: b in [{low:.10f}, {high:.10f}]  kl at ends = "
              f"{kl_bernoulli(0.3, low):.3e}, {kl_bernoulli(0.3, high):.3e}; "
              f"Pinsker half-width {(eps / 2) ** 0.5:.3e}, local {(2 * 0.21 * eps) ** 0.5:.3e}")
