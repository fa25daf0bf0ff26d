r"""S1 (spectral concentration): how the RL gradient's spectrum at an SFT optimum steers interference.

Statement
---------
At theta_0 in S_L let H = Hessian of L have eigenvalues lam_1 >= ... >= lam_d >= 0 with
orthonormal eigenvectors u_i, g = grad R(theta_0) != 0, weights w_i = <u_i, g>^2/||g||^2
(sum 1), rho_k = w_1 + ... + w_k and lam_{d+1} = 0. For 1 <= k <= d:

(a) lam_k rho_k <= g^T H g / ||g||^2 <= lam_1 rho_k + lam_{k+1} (1 - rho_k).
    With A2, L(theta_t) - L* = (t^2/2) ||g||^2 (g^T H g/||g||^2) + O(t^3), so (a) brackets
    the early SFT degradation by how much of g lies in the top-k curvature directions.
(b) After one RL step theta_1 = theta_0 - eta g, grad L(theta_1) = -eta H g + O(eta^2): SFT's
    next descent direction is eta H g + O(eta^2), and m = g^T H g / (||H g|| ||g||) (minus
    the cosine between SFT's and RL's descent directions; H g != 0) obeys
        m >= lam_k rho_k / sqrt(lam_1^2 rho_k + lam_{k+1}^2 (1 - rho_k))
    (read as the trivial m >= 0 where the denominator vanishes: then lam_k rho_k = 0 too).
(c) If g lies in eigen-directions with eigenvalues in [m_lo, m_hi], m_lo > 0, then
        m >= 2 sqrt(m_lo m_hi) / (m_lo + m_hi)            (Kantorovich),
    with equality for g = sqrt(m_hi) u_lo + sqrt(m_lo) u_hi (weights m_hi/(m_lo + m_hi) on
    the eigenvalue m_lo and m_lo/(m_lo + m_hi) on m_hi); the bound is 1 iff m_lo = m_hi.

Checked as stated in THEORY.md; both sides of (a) and the bound (b) are attained (g = u_k
for the left side of (a), g = u_1 for the right side and for (b) with k = 1).

Proof sketch
------------
g^T H g/||g||^2 = sum_i lam_i w_i and ||H g||^2/||g||^2 = sum_i lam_i^2 w_i. Drop the tail
and bound each head eigenvalue below by lam_k for the left of (a); bound head eigenvalues by
lam_1 and tail ones by lam_{k+1} for the right of (a) and for ||H g||. (b) divides the two.
For (c), every lam in [m_lo, m_hi] has lam^2 <= (m_lo + m_hi) lam - m_lo m_hi, so with
a = sum lam_i w_i, m^2 = a^2 / sum lam_i^2 w_i >= a^2 / ((m_lo + m_hi) a - m_lo m_hi)
>= 4 m_lo m_hi / (m_lo + m_hi)^2, the last step because the difference of the cross
products is the square ((m_lo + m_hi) a - 2 m_lo m_hi)^2. The bracket inequalities are
proved below for d = 4 and every k by writing the eigenvalues through nonnegative gaps,
which turns each claim into a polynomial with nonnegative coefficients.

References
----------
L. V. Kantorovich, "Functional analysis and applied mathematics", Uspekhi Mat. Nauk 3
(1948); D. G. Luenberger, Y. Ye, "Linear and Nonlinear Programming", Sec. 8.2 (the
Kantorovich inequality in the analysis of steepest descent).
"""

from __future__ import annotations

import sympy as sp

from nondecoupling.derivations._codegen import ClosedForm
from nondecoupling.derivations._proof import Derivation, true, zero

eig_top, eig_k, eig_next = sp.symbols("eig_top eig_k eig_next", nonnegative=True)
rho = sp.Symbol("rho", nonnegative=True)
m_lo, m_hi = sp.symbols("m_lo m_hi", positive=True)

_BRACKET_DIM = 4


def curvature_lower(eig_k_: sp.Expr, rho_: sp.Expr) -> sp.Expr:
    """Left side of (a): lam_k rho_k."""
    return eig_k_ * rho_


def curvature_upper(eig_top_: sp.Expr, eig_next_: sp.Expr, rho_: sp.Expr) -> sp.Expr:
    """Right side of (a): lam_1 rho_k + lam_{k+1} (1 - rho_k)."""
    return eig_top_ * rho_ + eig_next_ * (1 - rho_)


def misalignment_denominator(eig_top_: sp.Expr, eig_next_: sp.Expr, rho_: sp.Expr) -> sp.Expr:
    """sqrt(lam_1^2 rho_k + lam_{k+1}^2 (1 - rho_k)), the bound on ||H g||/||g||."""
    return sp.sqrt(eig_top_**2 * rho_ + eig_next_**2 * (1 - rho_))


def misalignment_lower(eig_top_: sp.Expr, eig_k_: sp.Expr, eig_next_: sp.Expr, rho_: sp.Expr) -> sp.Expr:
    """(b): lam_k rho_k / sqrt(lam_1^2 rho_k + lam_{k+1}^2 (1 - rho_k)), 0 where that is 0/0."""
    denominator = misalignment_denominator(eig_top_, eig_next_, rho_)
    return sp.Piecewise((0, sp.Eq(denominator, 0)), (curvature_lower(eig_k_, rho_) / denominator, True))


def kantorovich(m_lo_: sp.Expr, m_hi_: sp.Expr) -> sp.Expr:
    """(c): 2 sqrt(m_lo m_hi)/(m_lo + m_hi), printed as 2 r/(1 + r^2) with r = sqrt(m_lo)/sqrt(m_hi).

    Kept unevaluated so that numpy forms r first: for m_lo <= m_hi nothing overflows, the
    bound is exactly 1 at m_lo = m_hi, and rounding never pushes it above 1.
    """
    root_ratio = sp.UnevaluatedExpr(sp.sqrt(m_lo_) / sp.sqrt(m_hi_))
    return 2 * root_ratio / (1 + root_ratio**2)


def _bracket_steps(d):
    gaps = sp.symbols(f"gap1:{_BRACKET_DIM + 1}", nonnegative=True)
    weights = sp.symbols(f"w1:{_BRACKET_DIM + 1}", nonnegative=True)
    # lam_i = gap_i + ... + gap_d: every sorted nonnegative spectrum, no constraint left.
    eigs = [sum(gaps[i:]) for i in range(_BRACKET_DIM)] + [sp.Integer(0)]
    mass = sum(weights)
    curvature = sum(lam * w for lam, w in zip(eigs, weights))
    curvature_sq = sum(lam**2 * w for lam, w in zip(eigs, weights))
    for k in range(1, _BRACKET_DIM + 1):
        head = sum(weights[:k])
        tail = mass - head
        # Everything is multiplied by ||g||^2 = mass > 0 (unnormalized weights).
        d.steps += [
            true(f"(a) lower, d = {_BRACKET_DIM}, k = {k}: sum lam_i w_i - lam_k rho_k >= 0",
                 sp.Ge(sp.expand(curvature - eigs[k - 1] * head), 0, evaluate=False)),
            true(f"(a) upper, d = {_BRACKET_DIM}, k = {k}: lam_1 rho_k + lam_(k+1)(1 - rho_k) - sum lam_i w_i >= 0",
                 sp.Ge(sp.expand(eigs[0] * head + eigs[k] * tail - curvature), 0, evaluate=False)),
            true(f"(b) ||H g||^2, d = {_BRACKET_DIM}, k = {k}: "
                 "lam_1^2 rho_k + lam_(k+1)^2 (1 - rho_k) - sum lam_i^2 w_i >= 0",
                 sp.Ge(sp.expand(eigs[0] ** 2 * head + eigs[k] ** 2 * tail - curvature_sq), 0, evaluate=False)),
        ]


def _direction_steps(d):
    # theta(eta) = theta_0 - eta g as coordinate functions, so sympy applies the chain rule.
    eta = sp.Symbol("eta", nonnegative=True)
    path = [sp.Function(f"theta{i}")(eta) for i in (1, 2)]
    base = sp.symbols("a1:3", real=True)
    grad_r = sp.symbols("g1:3", real=True)
    loss = sp.Function("L")(*path)
    at_base = dict(zip(path, base))
    velocity = {x.diff(eta): -g for x, g in zip(path, grad_r)}
    hessian = sp.Matrix(2, 2, lambda i, j: loss.diff(path[i], path[j]).subs(at_base))
    hg = hessian * sp.Matrix(grad_r)
    for i, x in enumerate(path):
        slope = loss.diff(x).diff(eta).subs(velocity).subs(at_base)
        d.steps.append(zero(f"(b) d/d eta of d_{i + 1} L(theta_0 - eta g) at eta = 0 is -(H g)_{i + 1}",
                            slope + hg[i]))


def _kantorovich_steps(d):
    lam, a, w = sp.symbols("lam a w", positive=True)
    low, high = m_lo, m_hi
    weight_high = low / (low + high)
    two_point_mean = (1 - weight_high) * low + weight_high * high
    two_point_square = (1 - weight_high) * low**2 + weight_high * high**2
    d.steps += [
        zero("lam in [m_lo, m_hi]: (m_lo + m_hi) lam - m_lo m_hi - lam^2 = (lam - m_lo)(m_hi - lam) >= 0",
             (low + high) * lam - low * high - lam**2 - (lam - low) * (high - lam)),
        true("hence sum lam_i^2 w_i <= (m_lo + m_hi) a - m_lo m_hi, which is >= m_lo^2 > 0 for a >= m_lo",
             sp.Gt(sp.expand(((low + high) * a - low * high).subs(a, low + sp.Symbol("s", nonnegative=True))), 0,
                   evaluate=False)),
        zero("a^2 (m_lo + m_hi)^2 - 4 m_lo m_hi ((m_lo + m_hi) a - m_lo m_hi) = ((m_lo + m_hi) a - 2 m_lo m_hi)^2",
             a**2 * (low + high) ** 2 - 4 * low * high * ((low + high) * a - low * high)
             - ((low + high) * a - 2 * low * high) ** 2),
        zero("two-point g, weight m_lo/(m_lo + m_hi) on m_hi: m^2 = 4 m_lo m_hi/(m_lo + m_hi)^2 (attained)",
             two_point_mean**2 / two_point_square - 4 * low * high / (low + high) ** 2),
        zero("that weight minimizes m^2 over two-point g",
             sp.diff((((1 - w) * low + w * high) ** 2 / ((1 - w) * low**2 + w * high**2)), w).subs(w, weight_high)),
        zero("printed form 2 r/(1 + r^2), r = sqrt(m_lo/m_hi), equals sqrt(4 m_lo m_hi/(m_lo + m_hi)^2)",
             kantorovich(low, high).doit() - sp.sqrt(4 * low * high / (low + high) ** 2)),
        zero("m_lo = m_hi: the bound is 1", kantorovich(low, low).doit() - 1),
        zero("1 - bound = (sqrt m_hi - sqrt m_lo)^2/(m_lo + m_hi): < 1 iff m_lo != m_hi",
             1 - kantorovich(low, high).doit() - (sp.sqrt(high) - sp.sqrt(low)) ** 2 / (low + high)),
    ]


def _tightness_steps(d):
    d.steps += [
        zero("g = u_k (rho_k = 1): left side of (a) equals the Rayleigh quotient lam_k",
             curvature_lower(eig_k, 1) - eig_k),
        zero("g = u_1 (rho_k = 1): right side of (a) equals the Rayleigh quotient lam_1",
             curvature_upper(eig_top, eig_next, 1) - eig_top),
        zero("g = u_1, k = 1: the bound of (b) equals m = 1",
             curvature_lower(m_hi, 1) / misalignment_denominator(m_hi, eig_next, 1) - 1),
    ]


def derive() -> Derivation:
    """Prove every algebraic step of S1 with sympy."""
    d = Derivation("S1")
    d.results.update(
        curvature_bracket=(curvature_lower(eig_k, rho), curvature_upper(eig_top, eig_next, rho)),
        misalignment_bound=misalignment_lower(eig_top, eig_k, eig_next, rho),
        kantorovich_bound=kantorovich(m_lo, m_hi).doit(),
    )
    _bracket_steps(d)
    _direction_steps(d)
    _kantorovich_steps(d)
    _tightness_steps(d)
    return d


def closed_forms() -> list[ClosedForm]:
    """The generated numpy functions behind ``nondecoupling.spectral``."""
    return [
        ClosedForm("curvature_lower", (eig_k, rho), curvature_lower(eig_k, rho),
                   "S1 (a): lam_k rho_k <= g^T H g / ||g||^2."),
        ClosedForm("curvature_upper", (eig_top, eig_next, rho), curvature_upper(eig_top, eig_next, rho),
                   "S1 (a): g^T H g / ||g||^2 <= lam_1 rho_k + lam_{k+1} (1 - rho_k)."),
        ClosedForm("misalignment_lower", (eig_top, eig_k, eig_next, rho),
                   misalignment_lower(eig_top, eig_k, eig_next, rho),
                   "S1 (b): m >= lam_k rho_k / sqrt(lam_1^2 rho_k + lam_{k+1}^2 (1 - rho_k)) (0 where 0/0)."),
        ClosedForm("kantorovich", (m_lo, m_hi), kantorovich(m_lo, m_hi),
                   "S1 (c): m >= 2 sqrt(m_lo m_hi) / (m_lo + m_hi).", rewrite=False),
    ]


if __name__ == "__main__":
    import numpy as np

    print(derive())
    # Theory next to an exact evaluation on a random 6x6 PSD Hessian and gradient.
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    spectrum = np.array([5.0, 3.0, 2.0, 1.0, 0.5, 0.0])
    hess = basis @ np.diag(spectrum) @ basis.T
    grad = rng.standard_normal(6)
    weights = (basis.T @ grad) ** 2 / (grad @ grad)
    quotient = grad @ hess @ grad / (grad @ grad)
    cosine = grad @ hess @ grad / (np.linalg.norm(hess @ grad) * np.linalg.norm(grad))
    for k in range(1, 7):
        rho_k = weights[:k].sum()
        subs = {eig_top: spectrum[0], eig_k: spectrum[k - 1], eig_next: np.append(spectrum, 0)[k], rho: rho_k}
        low = float(curvature_lower(eig_k, rho).subs(subs))
        high = float(curvature_upper(eig_top, eig_next, rho).subs(subs))
        bound = float(misalignment_lower(eig_top, eig_k, eig_next, rho).subs(subs))
        print(f"k = {k}: {low:.4f} <= g'Hg/|g|^2 = {quotient:.4f} <= {high:.4f};  m = {cosine:.4f} >= {bound:.4f}")
