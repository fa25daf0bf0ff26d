r"""A1 (coupling identity): RL and SFT interfere through one inner product, symmetrically.

Statement
---------
For differentiable L (SFT loss) and R (RL loss, reward J = -R):

* along the RL flow d theta/dt = -grad R:   dL/dt = -<grad L, grad R>;
* along the SFT flow d theta/dt = -grad L:  dJ/dt = +<grad L, grad R>.

Hence RL raises the SFT loss (dL/dt > 0) exactly when SFT lowers the reward (dJ/dt < 0):
both happen iff <grad L, grad R> < 0, and the two rates are equal and opposite,
(dL/dt)_RL = -(dJ/dt)_SFT. Interference is symmetric.

Proof sketch
------------
The chain rule: dL(theta(t))/dt = <grad L, theta'(t)>, with theta' = -grad R; for the
reward, dJ/dt = -<grad R, theta'> with theta' = -grad L. Below, sympy applies the chain rule
to generic functions L, R of three coordinates theta_i(t), and checks the identity again on
a concrete pair of quadratics through the exact solution of the linear flow.

References
----------
Niu, Bai, Han, Zhang, "On the Non-decoupling of Supervised Fine-tuning and Reinforcement
Learning in Post-training", arXiv:2601.07389 (2026) (this toolkit's formalization; the
paper's constants may differ).
"""

from __future__ import annotations

import sympy as sp

from nondecoupling.derivations._proof import Derivation, zero

_DIM = 3


def _generic_steps(d):
    t = sp.Symbol("t", real=True)
    theta = [sp.Function(f"theta{i}")(t) for i in range(1, _DIM + 1)]
    loss = sp.Function("L")(*theta)
    rl_loss = sp.Function("R")(*theta)
    reward = -rl_loss
    inner = sum(loss.diff(x) * rl_loss.diff(x) for x in theta)
    rl_flow = {x.diff(t): -rl_loss.diff(x) for x in theta}
    sft_flow = {x.diff(t): -loss.diff(x) for x in theta}
    sft_loss_rate = loss.diff(t).subs(rl_flow)
    reward_rate = reward.diff(t).subs(sft_flow)
    d.results.update(sft_loss_rate_under_rl=sft_loss_rate, reward_rate_under_sft=reward_rate)
    d.steps += [
        zero(f"RL flow (d = {_DIM}, generic L, R): dL/dt = -<grad L, grad R>", sft_loss_rate + inner),
        zero(f"SFT flow (d = {_DIM}, generic L, R): dJ/dt = <grad L, grad R>", reward_rate - inner),
        zero("symmetry: (dL/dt)_RL + (dJ/dt)_SFT = 0, so dL/dt > 0 iff <grad L, grad R> < 0 iff dJ/dt < 0",
             sft_loss_rate + reward_rate),
    ]


def _quadratic_steps(d):
    """L = (1/2)(theta - a)^T A (theta - a), R = (1/2)(theta - b)^T B (theta - b) in 2-D."""
    t = sp.Symbol("t", nonnegative=True)
    a = sp.Matrix(sp.symbols("a1:3", real=True))
    b = sp.Matrix(sp.symbols("b1:3", real=True))
    start = sp.Matrix(sp.symbols("x1:3", real=True))
    a11, a12, a22, b11, b12, b22 = sp.symbols("A11 A12 A22 B11 B12 B22", real=True)
    diag = sp.symbols("k1:3", positive=True)
    full_a = sp.Matrix([[a11, a12], [a12, a22]])
    full_b = sp.Matrix([[b11, b12], [b12, b22]])

    def quadratic(mat, centre, point):
        return ((point - centre).T * mat * (point - centre))[0, 0] / 2

    # Exact linear flows, with the flowing function's Hessian diagonal so that exp is explicit.
    diag_mat = sp.diag(*diag)
    rl_path = b + sp.diag(*[sp.exp(-k * t) for k in diag]) * (start - b)
    sft_path = a + sp.diag(*[sp.exp(-k * t) for k in diag]) * (start - a)
    inner_rl = (full_a * (start - a)).dot(diag_mat * (start - b))
    inner_sft = (diag_mat * (start - a)).dot(full_b * (start - b))
    d.steps += [
        zero("quadratics, exact RL flow theta_t = b + e^{-B t}(theta_0 - b): dL/dt at 0 = -<grad L, grad R>",
             sp.diff(quadratic(full_a, a, rl_path), t).subs(t, 0) + inner_rl),
        zero("quadratics, exact SFT flow theta_t = a + e^{-A t}(theta_0 - a): dJ/dt at 0 = <grad L, grad R>",
             -sp.diff(quadratic(full_b, b, sft_path), t).subs(t, 0) - inner_sft),
    ]


def derive() -> Derivation:
    """Prove A1 with sympy: generic chain rule in 3-D, then an exact quadratic instance."""
    d = Derivation("A1")
    _generic_steps(d)
    _quadratic_steps(d)
    return d


def closed_forms() -> list:
    """A1 has no numeric API: nothing is generated."""
    return []


if __name__ == "__main__":
    import numpy as np
    from scipy.integrate import solve_ivp

    print(derive())
    # Theory next to an exact evaluation: L, R nonconvex in 2-D, finite difference of L
    # along the numerically integrated RL flow.
    def loss(x):
        return 0.5 * x @ x + np.sin(x[0] * x[1])

    def grad_loss(x):
        return x + np.cos(x[0] * x[1]) * np.array([x[1], x[0]])

    def grad_rl(x):
        return np.array([x[0] - 1.0 + 0.3 * np.cos(x[0]), 2.0 * (x[1] + 0.5)])

    start = np.array([0.4, -0.7])
    step = 1e-4
    ends = [solve_ivp(lambda _, x: -grad_rl(x), (0.0, s), start, rtol=1e-12, atol=1e-14).y[:, -1]
            for s in (step, -step)]
    print(f"dL/dt along RL: finite difference {(loss(ends[0]) - loss(ends[1])) / (2 * step):.8f}, "
          f"-<grad L, grad R> = {-grad_loss(start) @ grad_rl(start):.8f}")
