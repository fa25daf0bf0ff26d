r"""A2 (second-order onset): RL's first effect on the SFT loss is quadratic in time.

Statement
---------
Let theta_0 in S_L (so grad L(theta_0) = 0), g = grad R(theta_0), H = Hessian of L at
theta_0, and run the RL flow d theta/dt = -grad R from theta_0. Then

    L(theta_t) - L* = (1/2) t^2 g^T H g + O(t^3),

the t^1 term vanishes, and for quadratic L the t^3 coefficient is -(1/2) g^T H G g with
G = Hessian of R at theta_0.

Proof sketch
------------
Differentiate along the flow: dL/dt = -<grad L, grad R> vanishes at theta_0 (A1 with
grad L = 0), and d^2L/dt^2 = <grad R, Hess L grad R> + <grad L, Hess R grad R>, whose second
term vanishes at theta_0. Sympy does this below for a general quadratic L in 3-D (symbolic
symmetric H, minimizer a = theta_0) and a generic smooth R; then for a generic smooth L
with grad L(theta_0) = 0 imposed; then on a concrete quadratic pair through the exact flow.

References
----------
Niu, Bai, Han, Zhang, "On the Non-decoupling of Supervised Fine-tuning and Reinforcement
Learning in Post-training", arXiv:2601.07389 (2026) (this toolkit's formalization).
"""

from __future__ import annotations

import sympy as sp

from nondecoupling.derivations._proof import Derivation, zero

_DIM = 3


def _flow_derivatives(loss, theta, t, rl_loss, order):
    """d^n L(theta_t)/dt^n for n = 1..order along theta' = -grad R (chain rule, recursively)."""
    flow = {x.diff(t): -rl_loss.diff(x) for x in theta}
    derivatives, current = [], loss
    for _ in range(order):
        current = current.diff(t).subs(flow)
        derivatives.append(current)
    return derivatives


def _quadratic_loss_steps(d):
    t = sp.Symbol("t", real=True)
    theta = [sp.Function(f"theta{i}")(t) for i in range(1, _DIM + 1)]
    centre = sp.symbols(f"a1:{_DIM + 1}", real=True)
    loss_min = sp.Symbol("L_star", real=True)
    hess = sp.Matrix(_DIM, _DIM, lambda i, j: sp.Symbol(f"h{min(i, j) + 1}{max(i, j) + 1}", real=True))
    offset = sp.Matrix(theta) - sp.Matrix(centre)
    loss = loss_min + (offset.T * hess * offset)[0, 0] / 2
    rl_loss = sp.Function("R")(*theta)
    first, second, third = _flow_derivatives(loss, theta, t, rl_loss, 3)
    at_start = dict(zip(theta, centre))
    g = sp.Matrix([rl_loss.diff(x) for x in theta]).subs(at_start)
    rl_hess = sp.Matrix(_DIM, _DIM, lambda i, j: rl_loss.diff(theta[i], theta[j])).subs(at_start)
    curvature = (g.T * hess * g)[0, 0]
    series = first.subs(at_start) * t + second.subs(at_start) * t**2 / 2
    d.results.update(onset=curvature * t**2 / 2)
    d.steps += [
        zero(f"general quadratic L in {_DIM}-D, theta_0 = a in S_L: grad L(theta_0) = 0",
             sp.Matrix([loss.diff(x) for x in theta]).subs(at_start).norm()),
        zero("t^1 coefficient dL/dt(0) = -<grad L(theta_0), g> = 0", first.subs(at_start)),
        zero("t^2 coefficient (1/2) d^2L/dt^2(0) = (1/2) g^T H g", second.subs(at_start) / 2 - curvature / 2),
        zero("so L(theta_t) - L* = (1/2) t^2 g^T H g + O(t^3)", series - curvature * t**2 / 2),
        zero("t^3 coefficient (1/6) d^3L/dt^3(0) = -(1/2) g^T H G g, G = Hessian of R",
             third.subs(at_start) / 6 + (g.T * hess * rl_hess * g)[0, 0] / 2),
    ]


def _generic_loss_steps(d):
    t = sp.Symbol("t", real=True)
    theta = [sp.Function(f"theta{i}")(t) for i in range(1, _DIM + 1)]
    start = sp.symbols(f"c1:{_DIM + 1}", real=True)
    loss = sp.Function("L")(*theta)
    rl_loss = sp.Function("R")(*theta)
    first, second = _flow_derivatives(loss, theta, t, rl_loss, 2)
    at_start = dict(zip(theta, start))
    # Impose theta_0 in S_L: every first partial of L vanishes there (xreplace, not subs, so
    # that the second partials, which sympy would treat as derivatives of these, stay intact).
    stationary = {loss.diff(x).subs(at_start): 0 for x in theta}
    g = sp.Matrix([rl_loss.diff(x) for x in theta]).subs(at_start)
    hess = sp.Matrix(_DIM, _DIM, lambda i, j: loss.diff(theta[i], theta[j])).subs(at_start)
    d.steps += [
        zero(f"generic smooth L in {_DIM}-D with grad L(theta_0) = 0: t^1 coefficient vanishes",
             first.subs(at_start).xreplace(stationary)),
        zero("generic smooth L: d^2L/dt^2(0) = g^T H g",
             second.subs(at_start).xreplace(stationary) - (g.T * hess * g)[0, 0]),
    ]


def _exact_quadratic_steps(d):
    t = sp.Symbol("t", real=True)
    h11, h12, h22 = sp.symbols("h11 h12 h22", real=True)
    k1, k2 = sp.symbols("k1 k2", positive=True)
    a = sp.Matrix(sp.symbols("a1:3", real=True))
    b = sp.Matrix(sp.symbols("b1:3", real=True))
    hess = sp.Matrix([[h11, h12], [h12, h22]])
    # R = (1/2)(theta - b)^T diag(k) (theta - b): the RL flow from a is explicit.
    path = b + sp.diag(sp.exp(-k1 * t), sp.exp(-k2 * t)) * (a - b)
    excess = ((path - a).T * hess * (path - a))[0, 0] / 2
    g = sp.diag(k1, k2) * (a - b)
    expansion = sp.series(excess, t, 0, 3).removeO()
    d.steps += [
        zero("exact flow on quadratics (2-D): series of L(theta_t) - L* to t^2 is (1/2) t^2 g^T H g",
             expansion - (g.T * hess * g)[0, 0] * t**2 / 2),
    ]


def derive() -> Derivation:
    """Prove A2 with sympy."""
    d = Derivation("A2")
    _quadratic_loss_steps(d)
    _generic_loss_steps(d)
    _exact_quadratic_steps(d)
    return d


def closed_forms() -> list:
    """A2 has no numeric API: nothing is generated."""
    return []


if __name__ == "__main__":
    import numpy as np
    from scipy.integrate import solve_ivp

    print(derive())
    # Theory next to an exact evaluation: a non-quadratic L with minimizer 0 and Hessian H,
    # a non-quadratic R, the RL flow integrated numerically.
    hess = np.array([[2.0, 0.5], [0.5, 1.0]])

    def excess(x):
        return 0.5 * x @ hess @ x + x[0] ** 3 * x[1]

    def grad_rl(x):
        return np.array([np.sin(x[0] - 1.0), x[1] + 0.5 + x[0] * x[1]])

    g = grad_rl(np.zeros(2))
    for duration in (1e-1, 1e-2, 1e-3):
        end = solve_ivp(lambda _, x: -grad_rl(x), (0.0, duration), np.zeros(2), rtol=1e-13, atol=1e-15).y[:, -1]
        print(f"t = {duration:g}: (L(theta_t) - L*)/t^2 = {excess(end) / duration**2:.8f}, "
              f"g^T H g / 2 = {g @ hess @ g / 2:.8f}")
