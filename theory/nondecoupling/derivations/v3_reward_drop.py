r"""V3 (paper Theorem 4.1, v1): a strict reward drop after SFT. False as stated; corrected from K1/K3.

Statement (as summarized)
-------------------------
Assumption 3: :math:`0 < a \le E_x\mathrm{KL}(\pi_{SFT}\|\pi_{RL}) \le A`. Claim: SFT after RL lowers
the reward RL reached by a strict constant :math:`C_2 > 0`.

Counterexample
--------------
One prompt, two responses, :math:`r \equiv 0`, :math:`\pi_{RL} = (1/2, 1/2)`,
:math:`\pi_{SFT} = (3/4, 1/4)`: :math:`\mathrm{KL} = \tfrac34\ln\tfrac32 + \tfrac14\ln\tfrac12 = 0.1308 \in [0.1, 0.2]`,
and the reward does not move. More generally any reward that ties on the support: if
:math:`\pi_{SFT}` only moves mass within a reward level set of :math:`\pi_{RL}`, the KL is positive
and the reward is unchanged.

Corrected statement
-------------------
Rewards in [0, 1], expert rate :math:`a = E_{p^*} r`, RL rate :math:`b_{RL}`, SFT excess now
:math:`\varepsilon`. K1 gives :math:`\mathrm{kl}(a\|b) \le \varepsilon` for the current rate :math:`b`;
:math:`\mathrm{kl}(a\|\cdot)` increases on :math:`[a, 1]`, so :math:`b \le \mathrm{kl}^{-1}_\uparrow(a, \varepsilon)` and

.. math:: b_{RL} - b \ge C_2 = \max(0,\ b_{RL} - \mathrm{kl}^{-1}_\uparrow(a, \varepsilon)),

positive exactly when :math:`b_{RL} > a` and :math:`\mathrm{kl}(a\|b_{RL}) > \varepsilon`. Tight: a binary
reward and :math:`\pi` a within-class rescaling of :math:`p^*` give :math:`\varepsilon = \mathrm{kl}(a\|b)`
(K1's equality case), so :math:`b = \mathrm{kl}^{-1}_\uparrow(a, \varepsilon)` and the drop equals :math:`C_2`.

References
----------
Niu, Bai, Han, Zhang, arXiv:2601.07389 v1, Theorem 4.1 and Assumption 3; THEORY.md V3, K1, K3.
"""

from __future__ import annotations

import sympy as sp

from nondecoupling.derivations._codegen import ClosedForm
from nondecoupling.derivations._proof import Derivation, true, zero


def _kl(x, y):
    return sum(x_i * sp.log(x_i / y_i) for x_i, y_i in zip(x, y))


def _counterexample(d: Derivation) -> None:
    half, three_quarters = sp.Rational(1, 2), sp.Rational(3, 4)
    rl, sft, rewards = (half, half), (three_quarters, 1 - three_quarters), (0, 0)
    kl = _kl(sft, rl)
    d.results["counterexample KL(pi_SFT||pi_RL)"] = sp.N(kl, 6)
    d.steps += [
        zero("counterexample: KL(pi_SFT||pi_RL) = 0.75 ln 1.5 + 0.25 ln 0.5",
             kl - (three_quarters * sp.log(sp.Rational(3, 2)) + sp.Rational(1, 4) * sp.log(half))),
        true("... lies in Assumption 3's [a, A] = [0.1, 0.2]", sp.And(kl > sp.Rational(1, 10), kl < sp.Rational(1, 5))),
        zero("... and the reward drop J(pi_RL) - J(pi_SFT) is 0, not >= C2 > 0",
             sum((x - y) * r for x, y, r in zip(rl, sft, rewards))),
    ]
    # Ties: three responses, r = (c, c, r3); SFT moves mass t between the tied pair only.
    c, r3, t = sp.symbols("c r3 t", real=True)
    q1, q2 = sp.symbols("q1 q2", positive=True)
    rl3 = (q1, q2, 1 - q1 - q2)
    sft3 = (q1 + t, q2 - t, 1 - q1 - q2)
    rewards3 = (c, c, r3)
    d.steps += [
        zero("ties: moving mass t within a reward level leaves the reward unchanged",
             sp.expand(sum((x - y) * r for x, y, r in zip(rl3, sft3, rewards3)))),
        zero("... while KL(pi_SFT||pi_RL) = 0 only at t = 0 (its t-derivative vanishes there)",
             sp.diff(_kl(sft3, rl3), t).subs(t, 0)),
        true("... and is strictly convex in t (second derivative 1/(q1+t) + 1/(q2-t) > 0)",
             sp.simplify(sp.diff(_kl(sft3, rl3), t, 2) - (1 / (q1 + t) + 1 / (q2 - t))) == 0),
    ]


def _corrected(d: Derivation) -> None:
    a, b = sp.symbols("a b", positive=True)
    above, room, shortfall, b_rl = sp.symbols("above room shortfall b_rl", positive=True)
    kl = a * sp.log(a / b) + (1 - a) * sp.log((1 - a) / (1 - b))
    d_kl = sp.diff(kl, b)
    ceiling = sp.Symbol("ceiling", positive=True)  # kl_inv_upper(a, eps)
    d.steps += [
        zero("d kl(a||b)/db = (b - a)/(b(1 - b))", sp.simplify(d_kl - (b - a) / (b * (1 - b)))),
        true("> 0 for a < b < 1 (b = a + above, 1 - b = room): kl(a||.) increases on [a, 1], so "
             "kl(a||b) <= eps (K1) caps b at kl_inv_upper(a, eps)",
             (((b - a) / (b * (1 - b))).subs(a, b - above).subs(1 - b, room) > 0)),
        true("b = ceiling - shortfall <= ceiling gives drop b_RL - b >= b_RL - ceiling; "
             "C2 = max(0, b_RL - kl_inv_upper(a, eps)) is a valid lower bound",
             (b_rl - (ceiling - shortfall)) - (b_rl - ceiling) >= 0),
        zero("tight: binary reward, pi within-class rescaled p*: CE - H = kl(a||b) exactly, so b = kl_inv_upper(a, eps)",
             sp.expand(sp.expand_log(_kl((a / 2, a / 2, 1 - a), (b / 2, b / 2, 1 - b)) - kl, force=True))),
    ]


def derive() -> Derivation:
    d = Derivation("V3")
    _counterexample(d)
    _corrected(d)
    return d


def closed_forms() -> list[ClosedForm]:
    return []  # the corrected bound is K3's kl_inverse_upper: nondecoupling.paper.guaranteed_reward_drop


if __name__ == "__main__":
    print(derive())
