"""A1: dL/dt = -<grad L, grad R> along RL, dJ/dt = <grad L, grad R> along SFT."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from nondecoupling.derivations.a1_coupling_identity import derive

STEP = 1e-3


class SmoothFunction:
    """f(x) = (1/2)(x - c)^T A (x - c) + s sin(w . x): smooth, generally nonconvex."""

    def __init__(self, rng, dim):
        root = rng.standard_normal((dim, dim))
        self.hess = root @ root.T / dim
        self.centre = rng.standard_normal(dim)
        self.amplitude = rng.uniform(-1, 1)
        self.freq = rng.standard_normal(dim)

    def __call__(self, x):
        offset = x - self.centre
        return 0.5 * offset @ self.hess @ offset + self.amplitude * np.sin(self.freq @ x)

    def grad(self, x):
        return self.hess @ (x - self.centre) + self.amplitude * np.cos(self.freq @ x) * self.freq


def rate_along_flow(observed, driver, start):
    """d/dt observed(theta_t) at t = 0 along d theta/dt = -grad driver, by finite differences.

    Central differences D(h) = rate + a h^2 + O(h^4), combined by Richardson as
    (4 D(h/2) - D(h))/3 = rate + O(h^4).
    """

    def value_at(duration):
        flow = solve_ivp(lambda _, x: -driver.grad(x), (0.0, duration), start, method="DOP853", rtol=1e-13, atol=1e-15)
        return observed(flow.y[:, -1])

    def central(step):
        return (value_at(step) - value_at(-step)) / (2 * step)

    return (4 * central(STEP / 2) - central(STEP)) / 3


def test_a1_derivation_is_proven():
    derivation = derive()
    assert derivation.proven, str(derivation)


@given(seed=st.integers(0, 2**32 - 1))
def test_a1_rates_match_finite_differences_on_random_smooth_pairs(seed):
    rng = np.random.default_rng(seed)
    dim = int(rng.integers(1, 5))
    sft_loss, rl_loss = SmoothFunction(rng, dim), SmoothFunction(rng, dim)
    start = rng.standard_normal(dim)
    inner = sft_loss.grad(start) @ rl_loss.grad(start)
    scale = 1e-6 * (1 + np.linalg.norm(sft_loss.grad(start)) * np.linalg.norm(rl_loss.grad(start)))
    sft_loss_rate = rate_along_flow(sft_loss, rl_loss, start)

    def reward(x):
        return -rl_loss(x)

    reward_rate = rate_along_flow(reward, sft_loss, start)
    assert sft_loss_rate == pytest.approx(-inner, abs=scale)
    assert reward_rate == pytest.approx(inner, abs=scale)
    # Symmetric interference: RL raises L exactly when SFT lowers J.
    if abs(inner) > 10 * scale:
        assert (sft_loss_rate > 0) == (reward_rate < 0) == (inner < 0)
