r"""K2 (KL-regularized RL from the SFT optimum, exact): the exponentially tilted policy.

Statement
---------
Let :math:`\pi_s \propto p^* e^{s r}` (:math:`s = 1/\beta_{KL} \ge 0`), the maximizer of
:math:`E_\pi r - \frac1s \mathrm{KL}(\pi\|p^*)`, and
:math:`\Lambda(s) = \log E_{p^*} e^{s r}` (:math:`\Lambda'(0) = a = E_{p^*} r`). Then exactly

- reward :math:`E_{\pi_s} r = \Lambda'(s)`;
- SFT increase :math:`\mathrm{CE}(p^*, \pi_s) - H(p^*) = \mathrm{KL}(p^*\|\pi_s)
  = \Lambda(s) - s\Lambda'(0) \ge 0`, with equality iff :math:`\mathrm{Var}_{p^*} r = 0`;
- RL's own KL :math:`\mathrm{KL}(\pi_s\|p^*) = s\Lambda'(s) - \Lambda(s)`.

For small :math:`s`: SFT increase :math:`= \tfrac12 \mathrm{Var}_{p^*}(r)\, s^2 + O(s^3)` and
reward gain :math:`= \mathrm{Var}_{p^*}(r)\, s + O(s^2)`, so
SFT increase :math:`= (\text{reward gain})^2 / (2\,\mathrm{Var}_{p^*} r) + O(s^3)` (the
:math:`s^3` terms differ: :math:`\kappa_3/6` against :math:`\kappa_3/2`). For binary :math:`r`,
SFT increase :math:`= \mathrm{kl}(a\|b(s))` with :math:`b(s) = a e^s/(1 - a + a e^s)` and RL's KL
:math:`= \mathrm{kl}(b(s)\|a)`: the KL-regularized path meets K1 with equality.

Proof sketch
------------
Gibbs' variational identity
:math:`E_\pi r - \frac1s\mathrm{KL}(\pi\|p^*) = \frac1s\Lambda(s) - \frac1s\mathrm{KL}(\pi\|\pi_s)`
gives the maximizer. :math:`\log(\pi_s/p^*) = s r - \Lambda(s)` gives both KLs by taking
expectations under :math:`p^*` and :math:`\pi_s`. :math:`\Lambda'' = \mathrm{Var}_{\pi_s} r \ge 0`, so
:math:`\Lambda` lies above its tangent at 0. The small-:math:`s` terms are the cumulant
expansion. (Checked on a generic three-response distribution and with generic moments.)

Numerics
--------
``nondecoupling.tilt.tilted_tradeoff`` centres the rewards at :math:`a`:
:math:`\Lambda(s) - s a = \log\bigl(1 + \sum_i p_i E_2(s c_i)\bigr)`,
:math:`c_i = r_i - a`, :math:`E_2(x) = e^x - 1 - x \ge 0`, a sum of nonnegative terms (no
cancellation, unlike :math:`\Lambda(s) - s a` formed as a difference), and the reward gain
:math:`\sum_i p_i\,\mathrm{expm1}(s c_i)\, c_i\, e^{-(\Lambda(s) - s a)}`, again a sum of
nonnegative terms. :math:`E_2` is printed with a Taylor branch whose truncation error is proven
below 2**-53 relative.

References
----------
M. D. Donsker and S. R. S. Varadhan (1975), Gibbs variational principle; e.g.
T. Zhang, "Mathematical Analysis of Machine Learning Algorithms", CUP 2023, Prop. 7.16.
Niu, Bai, Han, Zhang, arXiv:2601.07389 (2026).
"""

from __future__ import annotations

import sympy as sp
from sympy.codegen.cfunctions import expm1

from nondecoupling.derivations._codegen import ClosedForm
from nondecoupling.derivations._proof import Derivation, zero
from nondecoupling.derivations.k1_any_policy_pays import TAYLOR_RADIUS, taylor_branch


def _exp_coefficient(n):
    return 1 / sp.factorial(n)


def _three_responses(d: Derivation) -> None:
    """The exact identities, on a generic distribution over three responses."""
    s = sp.Symbol("s", positive=True)
    p1, p2, q1, q2 = sp.symbols("p1 p2 q1 q2", positive=True)
    r = sp.symbols("r1:4", real=True)
    p = (p1, p2, 1 - p1 - p2)
    pi = (q1, q2, 1 - q1 - q2)  # any other policy
    mgf = sum(p_i * sp.exp(s * r_i) for p_i, r_i in zip(p, r))
    cgf = sp.log(mgf)
    tilted = [p_i * sp.exp(s * r_i) / mgf for p_i, r_i in zip(p, r)]
    rate = sum(p_i * r_i for p_i, r_i in zip(p, r))
    reward = sum(t_i * r_i for t_i, r_i in zip(tilted, r))

    def kl(x, y):
        return sum(x_i * sp.log(x_i / y_i) for x_i, y_i in zip(x, y))

    def expanded(expr):
        return sp.expand(sp.expand_log(expr, force=True))

    variance = sum(t_i * r_i**2 for t_i, r_i in zip(tilted, r)) - reward**2
    centred = [r_i - rate for r_i in r]
    excess = sum(p_i * (sp.exp(s * c_i) - 1 - s * c_i) for p_i, c_i in zip(p, centred))
    d.steps += [
        zero("Gibbs: E_pi r - KL(pi||p*)/s = Lambda(s)/s - KL(pi||pi_s)/s for every pi",
             expanded(sum(x_i * r_i for x_i, r_i in zip(pi, r)) - kl(pi, p) / s
                      - cgf / s + kl(pi, tilted) / s)),
        zero("reward E_{pi_s} r = Lambda'(s)", reward - sp.diff(cgf, s)),
        zero("Lambda'(0) = a = E_{p*} r", sp.diff(cgf, s).subs(s, 0) - rate),
        zero("SFT increase KL(p*||pi_s) = Lambda(s) - s Lambda'(0)", expanded(kl(p, tilted) - cgf + s * rate)),
        zero("RL's KL(pi_s||p*) = s Lambda'(s) - Lambda(s)",
             expanded(kl(tilted, p) - s * sp.diff(cgf, s) + cgf)),
        zero("Lambda''(s) = Var_{pi_s} r >= 0: Lambda is above its tangent at 0",
             sp.diff(cgf, s, 2) - variance),
        zero("Var_{pi_s} r = (1/2) sum_ij pi_i pi_j (r_i - r_j)^2: zero iff r is constant",
             variance - sum(tilted[i] * tilted[j] * (r[i] - r[j]) ** 2
                            for i in range(3) for j in range(3)) / 2),
        zero("numerics: exp(Lambda(s) - s a) = 1 + sum_i p_i E2(s (r_i - a))",
             sp.expand(sp.exp(-s * rate) * mgf - 1 - excess)),
        zero("numerics: reward gain = sum_i p_i expm1(s c_i) c_i / exp(Lambda(s) - s a)",
             reward - rate - sum(p_i * (sp.exp(s * c_i) - 1) * c_i for p_i, c_i in zip(p, centred))
             / (sp.exp(-s * rate) * mgf)),
    ]


def _small_s(d: Derivation) -> None:
    """Cumulant expansion with generic moments m_k = E_{p*} r^k."""
    s = sp.Symbol("s")
    m = sp.symbols("m1:5", real=True)
    order = 4
    mgf = 1 + sum(m_k * s ** (k + 1) / sp.factorial(k + 1) for k, m_k in enumerate(m))
    cgf = sp.series(sp.log(mgf), s, 0, order).removeO()
    variance = m[1] - m[0] ** 2
    kappa3 = m[2] - 3 * m[0] * m[1] + 2 * m[0] ** 3
    increase = sp.expand(cgf - s * m[0])
    gain = sp.expand(sp.diff(cgf, s) - m[0])
    squared = sp.series(gain**2 / (2 * variance), s, 0, order).removeO()
    d.results["SFT increase (small s)"] = variance * s**2 / 2 + kappa3 * s**3 / 6
    d.results["reward gain (small s)"] = variance * s + kappa3 * s**2 / 2
    d.steps += [
        zero("SFT increase = Var s^2 / 2 + kappa3 s^3 / 6 + O(s^4)",
             increase - variance * s**2 / 2 - kappa3 * s**3 / 6),
        zero("reward gain = Var s + kappa3 s^2 / 2 + O(s^3)", gain - variance * s - kappa3 * s**2 / 2),
        zero("SFT increase - gain^2 / (2 Var) = -kappa3 s^3 / 3 + O(s^4): the (gain)^2/(2 Var) law",
             sp.simplify(sp.expand(increase - squared) + kappa3 * s**3 / 3)),
    ]


def _binary(d: Derivation) -> None:
    """Binary reward: the tilted path meets K1 with equality."""
    s, a = sp.symbols("s a", positive=True)
    cgf = sp.log(1 - a + a * sp.exp(s))
    rate = a * sp.exp(s) / (1 - a + a * sp.exp(s))
    d.results["b(s)"] = rate

    def kl(x, y):
        return x * sp.log(x / y) + (1 - x) * sp.log((1 - x) / (1 - y))

    def expanded(expr):
        return sp.expand(sp.expand_log(sp.factor(expr), force=True))

    d.steps += [
        zero("binary: Lambda(s) = log(1 - a + a e^s) has Lambda'(s) = b(s)", sp.diff(cgf, s) - rate),
        zero("binary: b(s) = a / (a + (1 - a) e^{-s})", rate - a / (a + (1 - a) * sp.exp(-s))),
        zero("binary: SFT increase Lambda(s) - s a = kl(a || b(s))",
             expanded(sp.expand_log(kl(a, rate).replace(sp.log, lambda x: sp.log(sp.factor(x))),
                                    force=True) - cgf + s * a)),
        zero("binary: RL's KL s b(s) - Lambda(s) = kl(b(s) || a)",
             expanded(sp.expand_log(kl(rate, a).replace(sp.log, lambda x: sp.log(sp.factor(x))),
                                    force=True) - s * rate + cgf)),
    ]


def derive() -> Derivation:
    d = Derivation("K2")
    _three_responses(d)
    _small_s(d)
    _binary(d)
    x = sp.Symbol("x")
    polynomial, steps = taylor_branch(_exp_coefficient, x)
    order = sp.Poly(sp.expand(polynomial), x).degree()
    d.steps += [
        zero(f"E2(x) = e^x - 1 - x = sum_n x^n / n! through order {order}",
             sp.series(sp.exp(x) - 1 - x, x, 0, order + 1).removeO() - sp.expand(polynomial)),
        *steps,
    ]
    return d


def closed_forms() -> list[ClosedForm]:
    s, a, centered_reward, x = sp.symbols("s a centered_reward x")
    polynomial, _ = taylor_branch(_exp_coefficient, x)
    exponent = sp.UnevaluatedExpr(s * centered_reward)
    remainder = sp.Piecewise((polynomial.subs(x, exponent), sp.Abs(exponent) < TAYLOR_RADIUS),
                             (expm1(exponent) - exponent, True))
    return [
        ClosedForm("tilted_rate", (s, a), a / (a + (1 - a) * sp.exp(-s)),
                   "K2: binary reward, the tilted policy's pass rate b(s) = a e^s / (1 - a + a e^s).",
                   scalar=False),
        ClosedForm("tilt_remainder", (s, centered_reward), remainder,
                   "K2: E2(s c) = exp(s c) - 1 - s c >= 0, accurate for small s c.", rewrite=False),
    ]


if __name__ == "__main__":
    import numpy as np

    print(derive())
    from nondecoupling import kl_bernoulli, tilted_tradeoff

    # Illustration: binary rewards, the tilted path against K1's bound and direct sums.
    probs = np.array([0.2, 0.3, 0.1, 0.4])
    rewards = np.array([1.0, 0.0, 1.0, 0.0])
    for s_value in (0.01, 1.0, 5.0):
        reward, increase, rl_kl = tilted_tradeoff(s_value, probs, rewards)
        tilted = probs * np.exp(s_value * rewards)
        tilted /= tilted.sum()
        print(f"s = {s_value}: reward {reward:.12f} (direct {tilted @ rewards:.12f}); "
              f"SFT increase {increase:.12e} = kl(a||b) {kl_bernoulli(0.3, reward):.12e} "
              f"(direct {np.sum(probs * np.log(probs / tilted)):.12e}); RL KL {rl_kl:.6e}")
