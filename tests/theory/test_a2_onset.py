"""A2: from theta_0 in S_L, L(theta_t) - L* = (1/2) t^2 g^T H g + O(t^3) along the RL flow."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from nondecoupling.derivations.a2_second_order_onset import derive

STEP = 1e-3


def test_a2_derivation_is_proven():
    derivation = derive()
    assert derivation.proven, str(derivation)


@given(seed=st.integers(0, 2**32 - 1))
def test_a2_second_order_coefficient_matches_finite_differences(seed):
    rng = np.random.default_rng(seed)
    dim = int(rng.integers(1, 5))
    root = rng.standard_normal((dim, dim))
    hess = root @ root.T / dim  # PSD, possibly near-singular: theta_0 = 0 minimizes the quadratic part
    cubic = rng.standard_normal(dim)
    rl_hess = rng.standard_normal((dim, dim))
    rl_hess = rl_hess + rl_hess.T
    rl_centre, rl_freq = rng.standard_normal(dim), rng.standard_normal(dim)

    def sft_excess(x):
        # The cubic term has zero gradient and Hessian at 0, so grad L(0) = 0 and Hess L(0) = H.
        return 0.5 * x @ hess @ x + (cubic @ x) ** 3

    def rl_grad(x):
        return rl_hess @ (x - rl_centre) + np.cos(rl_freq @ x) * rl_freq

    start = np.zeros(dim)
    g = rl_grad(start)

    def excess_after(duration):
        flow = solve_ivp(lambda _, x: -rl_grad(x), (0.0, duration), start, method="DOP853", rtol=1e-13, atol=1e-16)
        return sft_excess(flow.y[:, -1])

    # Richardson: e(h)/h^2 = c2 + c3 h + O(h^2), so 2 e(h)/h^2 - e(2h)/(4h^2) = c2 + O(h^2);
    # h shrinks with the flow's speed and curvature so that the O(h^2) rest stays small.
    step = STEP / (1 + np.linalg.norm(rl_hess, 2) + np.linalg.norm(g) * (1 + np.linalg.norm(cubic)))
    onset, doubled = excess_after(step), excess_after(2 * step)
    estimate = 2 * onset / step**2 - doubled / (4 * step**2)
    scale = g @ g * (np.linalg.norm(hess, 2) + 1)
    assert estimate == pytest.approx(0.5 * g @ hess @ g, abs=1e-4 * scale)
    # No first-order term: e(h)/h vanishes with h.
    assert abs(onset / step) <= 1e-2 * scale
