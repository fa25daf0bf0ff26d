r"""X1 (interleaving): alternating SFT and RL tracks the joint objective's Pareto front.

Statement
---------
Alternate SFT for :math:`w\tau` and RL for :math:`(1-w)\tau` (:math:`w \in [0, 1]`, cycle length
:math:`\tau`). One cycle equals the gradient flow of :math:`F_w = wL + (1-w)R` for time
:math:`\tau` up to :math:`O(\tau^2)` (Lie-Trotter). For quadratics
:math:`L = \frac12(\theta-a)^\top A(\theta-a)`, :math:`R = \frac12(\theta-b)^\top B(\theta-b)`
(:math:`A, B \succeq 0`) the one-cycle map is affine,

.. math:: \theta \mapsto b + e^{-(1-w)\tau B}\bigl(a + e^{-w\tau A}(\theta - a) - b\bigr),

with linear part :math:`e^{-(1-w)\tau B} e^{-w\tau A} = e^{-\tau(wA + (1-w)B)}
+ \frac{\tau^2}{2} w(1-w)[B, A] + O(\tau^3)`. The Pareto front (the minimizers of
:math:`F_w`) is :math:`\theta(w) = (wA + (1-w)B)^{+}(wAa + (1-w)Bb)`. The alternation
converges to a cycle whose corners are within :math:`O(\tau)` of :math:`\theta(w)` (proved in
closed form in one dimension, hence for commuting :math:`A, B`, coordinate by coordinate in
their common eigenbasis; checked numerically for non-commuting ones in the tests).
Sequential SFT-then-RL (SFT to :math:`a`, then RL to convergence) ends at :math:`b = \theta(0)`
when :math:`B \succ 0`: the front's worst-SFT corner, since :math:`L(\theta(w))` falls as
:math:`w` rises.

Proof sketch
------------
1. Trotter: multiply the exponential series; the :math:`\tau^0, \tau^1` terms agree and the
   :math:`\tau^2` terms differ by :math:`\frac12[X, Y]`, :math:`X = -(1-w)B`, :math:`Y = -wA`. The
   affine flows are linear flows of :math:`(\theta, 1)` with generators
   :math:`\begin{pmatrix}-A & Aa\\ 0 & 0\end{pmatrix}`, so the same holds for them.
2. Front: :math:`\nabla F_w = wA(\theta - a) + (1-w)B(\theta - b) = 0`, and
   :math:`\nabla^2 F_w = wA + (1-w)B \succeq 0`.
3. Scalarization: along the front :math:`w\,\frac{d}{dw}L + (1-w)\frac{d}{dw}R = 0`; in one
   dimension :math:`\frac{d}{dw}L(\theta(w)) \le 0` explicitly.
4. Cycle (1-D, rates :math:`\alpha, \beta`): with :math:`q_L = e^{-w\tau\alpha}`,
   :math:`q_R = e^{-(1-w)\tau\beta}` the map's fixed point is
   :math:`\theta_c = \frac{b(1-q_R) + q_R a (1-q_L)}{1 - q_L q_R}`, a contraction's limit; its
   series in :math:`\tau` starts at :math:`\theta(w)`.

References
----------
H. F. Trotter, "On the product of semi-groups of operators", Proc. AMS 10 (1959) 545-551.
K. Miettinen, "Nonlinear Multiobjective Optimization", Kluwer 1999 (weighted-sum scalarization).
Niu, Bai, Han, Zhang, arXiv:2601.07389 (2026).
"""

from __future__ import annotations

import sympy as sp

from nondecoupling.derivations._codegen import ClosedForm
from nondecoupling.derivations._proof import Derivation, true, zero


def _exp_series(matrix: sp.Matrix, order: int) -> sp.Matrix:
    """Truncated exponential series, enough to compare terms up to ``order`` in tau."""
    result = term = sp.eye(matrix.shape[0])
    for k in range(1, order + 1):
        term = term * matrix / k
        result = result + term
    return result


def _trotter(d: Derivation) -> None:
    tau, w = sp.symbols("tau w", positive=True)
    A = sp.Matrix(2, 2, sp.symbols("A11 A12 A21 A22"))
    B = sp.Matrix(2, 2, sp.symbols("B11 B12 B21 B22"))
    a = sp.Matrix(sp.symbols("a1 a2"))
    b = sp.Matrix(sp.symbols("b1 b2"))

    def generator(hessian, minimizer):
        return sp.Matrix.vstack(sp.Matrix.hstack(-hessian, hessian * minimizer), sp.zeros(1, 3))

    def tau_coefficients(split, joint):
        error = (split - joint).applyfunc(sp.expand)
        return [error.applyfunc(lambda entry, k=k: entry.coeff(tau, k)) for k in range(3)]

    linear = tau_coefficients(_exp_series(-(1 - w) * tau * B, 3) * _exp_series(-w * tau * A, 3),
                              _exp_series(-tau * (w * A + (1 - w) * B), 3))
    sft, rl = generator(A, a), generator(B, b)
    affine = tau_coefficients(_exp_series((1 - w) * tau * rl, 2) * _exp_series(w * tau * sft, 2),
                              _exp_series(tau * (w * sft + (1 - w) * rl), 2))
    d.results["tau^2 term of the one-cycle error"] = sp.Symbol("w*(1 - w)/2*[B, A]")
    d.steps += [
        zero("Trotter: e^{-(1-w)tau B} e^{-w tau A} - e^{-tau(wA+(1-w)B)} has no tau^0, tau^1 terms",
             sum(linear[0]) + sum(linear[1])),
        zero("... and its tau^2 term is w(1-w)/2 [B, A] (zero iff A, B commute)",
             sum((linear[2] - w * (1 - w) / 2 * (B * A - A * B)).applyfunc(sp.expand))),
        zero("affine flows (generators [[-A, Aa], [0, 0]]): the same, O(tau^2) per cycle",
             sum(affine[0]) + sum(affine[1])
             + sum((affine[2] - w * (1 - w) / 2 * (rl * sft - sft * rl)).applyfunc(sp.expand))),
    ]


def _front(d: Derivation) -> None:
    w = sp.Symbol("w", positive=True)
    A11, A12, A22, B11, B12, B22 = sp.symbols("A11 A12 A22 B11 B12 B22")
    A = sp.Matrix([[A11, A12], [A12, A22]])
    B = sp.Matrix([[B11, B12], [B12, B22]])
    a = sp.Matrix(sp.symbols("a1 a2"))
    b = sp.Matrix(sp.symbols("b1 b2"))
    hessian = w * A + (1 - w) * B
    front = hessian.inv() * (w * A * a + (1 - w) * B * b)
    gradient = w * A * (front - a) + (1 - w) * B * (front - b)
    d.results["theta(w)"] = sp.Symbol("(wA + (1-w)B)^+ (wAa + (1-w)Bb)")
    d.steps += [
        zero("grad F_w(theta(w)) = 0 for theta(w) = (wA+(1-w)B)^{-1}(wAa+(1-w)Bb)",
             sum(gradient.applyfunc(sp.simplify))),
        zero("Hessian of F_w is wA + (1-w)B (>= 0 for A, B >= 0): theta(w) minimizes F_w",
             sum((sp.hessian(w * ((sp.Matrix(sp.symbols("t1 t2")) - a).T * A
                                  * (sp.Matrix(sp.symbols("t1 t2")) - a))[0] / 2
                             + (1 - w) * ((sp.Matrix(sp.symbols("t1 t2")) - b).T * B
                                          * (sp.Matrix(sp.symbols("t1 t2")) - b))[0] / 2,
                             sp.symbols("t1 t2")) - hessian).applyfunc(sp.expand))),
        zero("theta(0) = b: sequential SFT-then-RL (B > 0) ends on the front's w = 0 corner",
             sum((front.subs(w, 0) - b).applyfunc(sp.simplify))),
        zero("theta(1) = a", sum((front.subs(w, 1) - a).applyfunc(sp.simplify))),
    ]


def _one_dimension(d: Derivation) -> None:
    tau, alpha, beta, v, t, rest = sp.symbols("tau alpha beta v t rest", positive=True)
    a, b = sp.symbols("a b", real=True)
    w = sp.Symbol("w", positive=True)
    front = (w * alpha * a + (1 - w) * beta * b) / (w * alpha + (1 - w) * beta)
    sft_loss = alpha * (front - a) ** 2 / 2
    rl_loss = beta * (front - b) ** 2 / 2

    def corners(q_sft, q_rl):
        after_rl = (b * (1 - q_rl) + q_rl * a * (1 - q_sft)) / (1 - q_sft * q_rl)
        return a + q_sft * (after_rl - a), after_rl

    q_sft, q_rl = sp.exp(-w * tau * alpha), sp.exp(-(1 - w) * tau * beta)
    after_sft, after_rl = corners(q_sft, q_rl)
    # Both corners are ratios N(tau)/D(tau) with N(0) = D(0) = 0: their value and slope at
    # tau = 0 depend only on the tau^1, tau^2 terms, which order-3 Taylor polynomials of the
    # exponentials give exactly; that keeps the limits rational.
    polynomial = corners(*(sp.series(q, tau, 0, 4).removeO() for q in (q_sft, q_rl)))
    start = [sp.cancel(c).subs(tau, 0) for c in polynomial]
    slope = [sp.factor(sp.cancel(sp.diff(sp.cancel(c), tau)).subs(tau, 0)) for c in polynomial]
    d.results["cycle corner after RL (1-D)"] = after_rl
    d.results["corners = theta(w) + tau * (after SFT, after RL) slopes + O(tau^2)"] = tuple(slope)
    d.steps += [
        zero("RL flow from a: b + e^{-beta t}(a - b) -> b as t -> oo",
             sp.limit(b + sp.exp(-beta * t) * (a - b), t, sp.oo) - b),
        zero("along the front w dL/dw + (1-w) dR/dw = 0 (scalarization)",
             w * sp.diff(sft_loss, w) + (1 - w) * sp.diff(rl_loss, w)),
        true("dL(theta(w))/dw <= 0 (w = v/(1+v)): SFT excess is largest at w = 0",
             sp.factor(sp.simplify(sp.diff(sft_loss, w).subs(w, v / (1 + v)))) <= 0),
        zero("one cycle (SFT for w tau, then RL) maps the after-RL corner to itself",
             sp.simplify(b + q_rl * (a + q_sft * (after_rl - a) - b) - after_rl)),
        true("the cycle map contracts: its slope q_L q_R = e^{-(w alpha + (1-w) beta) tau} < 1, "
             "as the exponent's negative is > 0 (1 - w = rest > 0)",
             (w * alpha + rest * beta) * tau > 0),
        zero("after-SFT corner -> theta(w) as tau -> 0", start[0] - front),
        zero("after-RL corner -> theta(w) as tau -> 0", start[1] - front),
        zero("the corners' slopes at tau = 0 are opposite: the cycle straddles theta(w), O(tau) wide",
             slope[0] + slope[1]),
    ]


def derive() -> Derivation:
    d = Derivation("X1")
    _trotter(d)
    _front(d)
    _one_dimension(d)
    return d


def closed_forms() -> list[ClosedForm]:
    """X1 has no closed-form numeric function: :mod:`nondecoupling.interleaving` uses expm and solve."""
    return []


if __name__ == "__main__":
    import numpy as np

    print(derive())
    from nondecoupling.interleaving import QuadraticPair

    # Illustration: a 2-D instance, (eps, Delta) for sequential, alternating and joint.
    pair = QuadraticPair(sft_hessian=[[2.0, 0.5], [0.5, 1.0]], sft_minimizer=[0.0, 0.0],
                         rl_hessian=[[1.0, -0.3], [-0.3, 3.0]], rl_minimizer=[1.0, 1.0])
    print("sequential (eps, Delta):", pair.excess(pair.rl_minimizer))
    for tau in (1.0, 0.1, 0.01):
        corners = pair.alternating_cycle(tau, 0.5)
        print(f"alternating tau={tau}: after RL {pair.excess(corners[1])}, "
              f"distance to front {np.linalg.norm(corners[1] - pair.pareto_point(0.5)):.3e}")
    print("joint w=0.5:", pair.excess(pair.pareto_point(0.5)))
