r"""V1 (paper Theorem 3.1, v1): the SFT loss after KL-regularized RL, exactly; K2 with s = 1/beta.

Statement
---------
Prompts :math:`x \sim q`, expert :math:`p_D(y|x)`, sequence-level SFT loss
:math:`L_{SFT}(p) = E_x E_{p_D(\cdot|x)}[-\log p(y|x)]`. If SFT is exact, :math:`p_{SFT} = p_D`,
and RL returns the KL-regularized optimum with the SFT model as reference,
:math:`p_{RL} = p_D e^{r/\beta}/Z_\beta(x)`, :math:`Z_\beta(x) = E_{p_D(\cdot|x)} e^{r(x,\cdot)/\beta}`, then

.. math::

    L_{SFT}(p_{RL}) = L_{SFT}(p_{SFT}) + C_1(\beta), \qquad
    C_1(\beta) = E_x\bigl[\log Z_\beta(x) - \tfrac1\beta E_{p_D} r(x, \cdot)\bigr] \ge 0,

with :math:`C_1 = 0` iff :math:`r(x, \cdot)` is :math:`p_D`-a.s. constant for :math:`q`-a.e. :math:`x`.
Per prompt, :math:`C_1` is K2's SFT increase :math:`\Lambda(s) - s\Lambda'(0)` at :math:`s = 1/\beta`
(``nondecoupling.tilted_tradeoff``); the average over prompts is linear.

Proof sketch
------------
:math:`-\log p_{RL} = -\log p_D - r/\beta + \log Z_\beta`; take :math:`E_{p_D}` (so the difference is
:math:`\mathrm{KL}(p_D\|p_{RL})`). Jensen: :math:`\log E e^{X} \ge E X`. Equality: with
:math:`\phi(s) = \Lambda(s) - s\Lambda'(0)`, :math:`\phi(0) = \phi'(0) = 0` and
:math:`\phi'' = \mathrm{Var}_{\pi_s} r`, so :math:`\phi(s) = \int_0^s (s-u)\mathrm{Var}_{\pi_u} r\,du`, zero
for some :math:`s > 0` iff :math:`\mathrm{Var}_{\pi_u} r = 0`, i.e. :math:`r` constant on the support
(:math:`\pi_u` has the support of :math:`p_D`). Checked on a generic distribution over three
responses (:math:`\Lambda'' = \mathrm{Var}_{\pi_s} r` and its pairwise form are proved in K2's
derivation on the same distribution); no closed form is generated (the numbers come from K2's).

References
----------
Niu, Bai, Han, Zhang, arXiv:2601.07389 v1, Theorem 3.1; THEORY.md V1 and K2.
"""

from __future__ import annotations

import sympy as sp

from nondecoupling.derivations._codegen import ClosedForm
from nondecoupling.derivations._proof import Derivation, true, zero


def derive() -> Derivation:
    d = Derivation("V1")
    beta, s, u = sp.symbols("beta s u", positive=True)
    p1, p2 = sp.symbols("p1 p2", positive=True)
    r = sp.symbols("r1:4", real=True)
    expert = (p1, p2, 1 - p1 - p2)
    partition = sum(p_i * sp.exp(r_i / beta) for p_i, r_i in zip(expert, r))
    rl = [p_i * sp.exp(r_i / beta) / partition for p_i, r_i in zip(expert, r)]
    rate = sum(p_i * r_i for p_i, r_i in zip(expert, r))
    sft_loss = lambda policy: -sum(p_i * sp.log(x_i) for p_i, x_i in zip(expert, policy))  # noqa: E731
    c1 = sp.log(partition) - rate / beta
    cgf = sp.log(sum(p_i * sp.exp(s * r_i) for p_i, r_i in zip(expert, r)))
    k2_increase = cgf - s * sp.diff(cgf, s).subs(s, 0)
    d.results["C1(beta)"] = c1
    d.steps += [
        zero("Theorem 3.1: L_SFT(p_RL) - L_SFT(p_SFT) = log Z_beta - E_{p_D} r / beta",
             sp.expand(sp.expand_log(sft_loss(rl) - sft_loss(expert) - c1, force=True))),
        zero("... = KL(p_D || p_RL)",
             sp.expand(sp.expand_log(sum(p_i * sp.log(p_i / x_i) for p_i, x_i in zip(expert, rl)) - c1, force=True))),
        zero("C1(beta) = K2's SFT increase Lambda(s) - s Lambda'(0) at s = 1/beta", c1 - k2_increase.subs(s, 1 / beta)),
        zero("phi(s) = Lambda(s) - s Lambda'(0) has phi(0) = 0", k2_increase.subs(s, 0)),
        zero("phi'(0) = 0", sp.diff(k2_increase, s).subs(s, 0)),
        # Lambda'' = Var_{pi_s} r = (1/2) sum_ij pi_i pi_j (r_i - r_j)^2 on this same distribution is
        # proved in K2's derivation (k2_tilted_policy); here only phi'' = Lambda'' is needed.
        zero("phi''(s) = Lambda''(s) (= Var_{pi_s} r, zero iff r is constant on the support: K2)",
             sp.diff(k2_increase, s, 2) - sp.diff(cgf, s, 2)),
        true("so phi(s) = int_0^s (s - u) Var_{pi_u} r du >= 0 (Taylor, integral remainder): C1 >= 0",
             sp.Integral((s - u) * sp.Symbol("v", nonnegative=True), (u, 0, s)).doit() >= 0),
        zero("r constant (r1 = r2 = r3 = c): C1(beta) = 0", sp.simplify(c1.subs({r[1]: r[0], r[2]: r[0]}))),
        zero("binary r, a = p1: C1(beta) = log(1 - a + a e^{1/beta}) - a/beta (K2's binary case)",
             sp.simplify(c1.subs({r[0]: 1, r[1]: 0, r[2]: 0}) - sp.log(1 - p1 + p1 * sp.exp(1 / beta)) + p1 / beta)),
    ]
    return d


def closed_forms() -> list[ClosedForm]:
    return []  # the numbers are K2's: nondecoupling.paper.sft_increase_after_kl_rl calls tilted_tradeoff


if __name__ == "__main__":
    print(derive())
