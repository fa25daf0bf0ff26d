"""P2: the RL-then-SFT envelope, against THEORY.md's formula and as P1's mirror image."""

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nondecoupling import ParameterError, reward_loss_bounds, sft_degradation_bounds
from nondecoupling.derivations import p2_rl_then_sft

positive = st.floats(1e-3, 1e3)
ratio = st.floats(1.0, 1e3)
gap = st.floats(0.0, 1e3)
time = st.floats(0.0, 50.0)


def envelope_reference(t, sft_gap0, sep, mu_sft, beta_sft, mu_rl, beta_rl):
    """THEORY.md P2's (lower, upper), in 50-digit arithmetic."""
    t, sft_gap0, sep, mu_sft, beta_sft, mu_rl, beta_rl = map(
        mpmath.mpf, (t, sft_gap0, sep, mu_sft, beta_sft, mu_rl, beta_rl))
    lower = mu_rl / 2 * max(0, sep - mpmath.sqrt(2 * sft_gap0 / mu_sft) * mpmath.exp(-mu_sft * t)) ** 2
    ell_sft = min(mpmath.sqrt(2 * sft_gap0 / mu_sft) * -mpmath.expm1(-beta_sft * t),
                  mpmath.sqrt(2 * beta_sft * sft_gap0) * -mpmath.expm1(-mu_sft * t) / mu_sft)
    return lower, beta_rl / 2 * ell_sft**2


def test_every_derivation_step_is_proved():
    derivation = p2_rl_then_sft.derive()
    assert derivation.steps and derivation.proven, str(derivation)


@given(time, gap, st.floats(0.0, 1.0), positive, ratio, positive, ratio)
def test_reward_loss_bounds_are_theory_formula(t, sft_gap0, sep_fraction, mu_sft, r_sft, mu_rl, r_rl):
    # Realizable: from an RL optimum, sep <= sqrt(2 eps_0/mu_sft) (quadratic growth of L).
    sep = sep_fraction * math.sqrt(2 * sft_gap0 / mu_sft)
    beta_sft, beta_rl = mu_sft * r_sft, mu_rl * r_rl
    lower, upper = reward_loss_bounds(t, sft_gap0=sft_gap0, sep=sep, mu_sft=mu_sft, beta_sft=beta_sft,
                                      mu_rl=mu_rl, beta_rl=beta_rl)
    with mpmath.workdps(50):
        lower_ref, upper_ref = envelope_reference(t, sft_gap0, sep, mu_sft, beta_sft, mu_rl, beta_rl)
        # sep - r e^{-mu t} cancels near its root: allow the rounding of its two terms.
        scale = mu_rl * (sep + math.sqrt(2 * sft_gap0 / mu_sft)) ** 2
        assert abs(lower - lower_ref) <= 1e-9 * lower_ref + 1e-14 * scale + 1e-300
        assert abs(upper - upper_ref) <= 1e-9 * upper_ref + 1e-300


@given(time, gap, st.floats(0.0, 1.0), positive, ratio, positive, ratio)
def test_is_p1_with_the_objectives_swapped(t, gap0, sep_fraction, mu_a, r_a, mu_b, r_b):
    sep = sep_fraction * math.sqrt(2 * gap0 / mu_a)
    reward_side = reward_loss_bounds(t, sft_gap0=gap0, sep=sep, mu_sft=mu_a, beta_sft=mu_a * r_a,
                                     mu_rl=mu_b, beta_rl=mu_b * r_b)
    sft_side = sft_degradation_bounds(t, rl_gap0=gap0, sep=sep, mu_rl=mu_a, beta_rl=mu_a * r_a,
                                      mu_sft=mu_b, beta_sft=mu_b * r_b)
    assert reward_side == sft_side


@given(st.integers(1, 6), st.data(), positive, positive, st.floats(0.0, 20.0))
def test_tight_on_isotropic_quadratics(dim, data, mu_sft, mu_rl, t):
    """SFT flow from the RL optimum b: lower = exact reward loss = upper (beta = mu)."""
    a, b = (np.array(data.draw(st.lists(st.floats(-10, 10), min_size=dim, max_size=dim))) for _ in range(2))
    theta = a + (b - a) * math.exp(-mu_sft * t)  # the exact SFT flow
    exact = mu_rl / 2 * np.sum((theta - b) ** 2)
    lower, upper = reward_loss_bounds(t, sft_gap0=mu_sft / 2 * np.sum((a - b) ** 2), sep=np.linalg.norm(a - b),
                                      mu_sft=mu_sft, beta_sft=mu_sft, mu_rl=mu_rl, beta_rl=mu_rl)
    scale = mu_rl * np.sum((a - b) ** 2)
    assert lower == pytest.approx(exact, rel=1e-12, abs=1e-14 * scale)
    assert upper == pytest.approx(exact, rel=1e-12, abs=1e-14 * scale)


@pytest.mark.parametrize("t_mu", [0.0, 1e-100, 1e-12, 1.0, 1e6, math.inf])
def test_extremes_against_mpmath(t_mu):
    mu_sft, beta_sft = 1e-5, 1e5
    t = t_mu / mu_sft
    with mpmath.workdps(50):
        t_exact = mpmath.inf if math.isinf(t) else t
        lower_ref, upper_ref = envelope_reference(t_exact, 3.0, 0.5, mu_sft, beta_sft, 0.2, 5.0)
        lower, upper = reward_loss_bounds(t, sft_gap0=3.0, sep=0.5, mu_sft=mu_sft, beta_sft=beta_sft,
                                          mu_rl=0.2, beta_rl=5.0)
        assert abs(lower - lower_ref) <= 1e-13 * lower_ref
        assert abs(upper - upper_ref) <= 1e-13 * upper_ref


def test_broadcasting_and_scalar_returns():
    lower, upper = reward_loss_bounds(np.array([[0.0], [1.0]]), sft_gap0=np.array([1.0, 2.0, 3.0]), sep=1.0,
                                      mu_sft=1.0, beta_sft=2.0, mu_rl=0.5, beta_rl=1.0)
    assert lower.shape == upper.shape == (2, 3)
    single = reward_loss_bounds(1.0, sft_gap0=3.0, sep=1.0, mu_sft=1.0, beta_sft=2.0, mu_rl=0.5, beta_rl=1.0)
    assert (lower[1, 2], upper[1, 2]) == single
    assert all(type(v) is float for v in single)


@pytest.mark.parametrize("override, name", [
    (dict(t=-1.0), "t"), (dict(sft_gap0=-1.0), "sft_gap0"), (dict(sft_gap0=math.nan), "sft_gap0"),
    (dict(sep=-0.5), "sep"), (dict(mu_sft=0.0), "mu_sft"), (dict(mu_sft=5.0), "mu_sft"),
    (dict(beta_sft=math.nan), "beta_sft"), (dict(mu_rl=-1.0), "mu_rl"), (dict(mu_rl=5.0), "mu_rl"),
    (dict(beta_rl=0.0), "beta_rl"),
])
def test_invalid_input_names_the_parameter(override, name):
    kwargs = {"t": 1.0, "sft_gap0": 1.0, "sep": 1.0, "mu_sft": 1.0, "beta_sft": 2.0, "mu_rl": 1.0, "beta_rl": 2.0,
              **override}
    with pytest.raises(ParameterError, match=f"parameter '{name}'"):
        reward_loss_bounds(kwargs.pop("t"), **kwargs)
