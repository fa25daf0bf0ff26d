"""P1: the SFT-then-RL envelope and the path-length bound, against THEORY.md's formulas."""

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nondecoupling import ParameterError, path_length_bound, sft_degradation_bounds
from nondecoupling.derivations import p1_sft_then_rl

positive = st.floats(1e-3, 1e3)
ratio = st.floats(1.0, 1e3)  # beta / mu
gap = st.floats(0.0, 1e3)
time = st.floats(0.0, 50.0)


def ell_reference(t, gap0, mu, beta):
    """THEORY.md P1's ell(t), in 50-digit arithmetic."""
    t, gap0, mu, beta = map(mpmath.mpf, (t, gap0, mu, beta))
    return min(mpmath.sqrt(2 * gap0 / mu) * -mpmath.expm1(-beta * t),
               mpmath.sqrt(2 * beta * gap0) * -mpmath.expm1(-mu * t) / mu)


def envelope_reference(t, rl_gap0, sep, mu_sft, beta_sft, mu_rl, beta_rl):
    """THEORY.md P1's (lower, upper), in 50-digit arithmetic."""
    bracket = mpmath.mpf(sep) - mpmath.sqrt(2 * mpmath.mpf(rl_gap0) / mu_rl) * mpmath.exp(-mpmath.mpf(mu_rl) * t)
    lower = mpmath.mpf(mu_sft) / 2 * max(0, bracket) ** 2
    upper = mpmath.mpf(beta_sft) / 2 * ell_reference(t, rl_gap0, mu_rl, beta_rl) ** 2
    return lower, upper


def assert_close(value, reference, rtol, atol=0.0):
    """|value - reference| <= rtol |reference| + atol, allowing float64 underflow below 1e-300."""
    assert abs(mpmath.mpf(value) - reference) <= rtol * abs(reference) + max(atol, 1e-300), (value, reference)


@pytest.fixture(scope="module")
def derivation():
    return p1_sft_then_rl.derive()


def test_every_derivation_step_is_proved(derivation):
    assert derivation.steps and derivation.proven, str(derivation)


@given(time, gap, positive, ratio)
def test_path_length_bound_is_theory_formula(t, gap0, mu, beta_over_mu):
    beta = mu * beta_over_mu
    with mpmath.workdps(50):
        assert_close(path_length_bound(t, gap0=gap0, mu=mu, beta=beta), ell_reference(t, gap0, mu, beta), 1e-12)


@given(time, gap, st.floats(0.0, 1.0), positive, ratio, positive, ratio)
def test_sft_degradation_bounds_are_theory_formula(t, rl_gap0, sep_fraction, mu_sft, r_sft, mu_rl, r_rl):
    # Realizable: from an SFT optimum, sep <= sqrt(2 Delta_0/mu_rl) (quadratic growth of R).
    sep = sep_fraction * math.sqrt(2 * rl_gap0 / mu_rl)
    beta_sft, beta_rl = mu_sft * r_sft, mu_rl * r_rl
    lower, upper = sft_degradation_bounds(t, rl_gap0=rl_gap0, sep=sep, mu_sft=mu_sft, beta_sft=beta_sft,
                                          mu_rl=mu_rl, beta_rl=beta_rl)
    with mpmath.workdps(50):
        lower_ref, upper_ref = envelope_reference(t, rl_gap0, sep, mu_sft, beta_sft, mu_rl, beta_rl)
        # sep - r e^{-mu t} cancels near its root: allow the rounding of its two terms.
        scale = mu_sft * (sep + math.sqrt(2 * rl_gap0 / mu_rl)) ** 2
        assert_close(lower, lower_ref, 1e-9, 1e-14 * scale)
        assert_close(upper, upper_ref, 1e-9)


@pytest.mark.parametrize("rl_gap0, sep", [(0.0, 1.0), (0.5, 1.0 + 1e-6), (2.0, 3.0)])
def test_unrealizable_separation_is_rejected_with_the_reason(rl_gap0, sep):
    # sqrt(2 rl_gap0/mu_rl) = 0, 1, 2 < sep: no problem started at an SFT optimum has these.
    with pytest.raises(ParameterError, match="'sep' must be <= sqrt\\(2 rl_gap0/mu_rl\\).*quadratic growth"):
        sft_degradation_bounds(1.0, rl_gap0=rl_gap0, sep=sep, mu_sft=1.0, beta_sft=1.0, mu_rl=1.0, beta_rl=1.0)


@given(time, time, gap, st.floats(0.0, 1.0), positive, ratio, positive, ratio)
def test_realizable_envelope_is_ordered_and_nondecreasing(t1, t2, rl_gap0, sep_fraction, mu_sft, r_sft, mu_rl, r_rl):
    # theta_0 in S_L lies within sqrt(2 Delta_0/mu_rl) of S_R, so sep is at most that.
    sep = sep_fraction * math.sqrt(2 * rl_gap0 / mu_rl)
    constants = dict(rl_gap0=rl_gap0, sep=sep, mu_sft=mu_sft, beta_sft=mu_sft * r_sft,
                     mu_rl=mu_rl, beta_rl=mu_rl * r_rl)
    (lower1, lower2), (upper1, upper2) = sft_degradation_bounds(np.array([min(t1, t2), max(t1, t2)]), **constants)
    assert lower1 <= upper1 * (1 + 1e-12) and lower2 <= upper2 * (1 + 1e-12)
    assert lower1 <= lower2 and upper1 <= upper2


@given(st.integers(1, 6), st.data(), positive, positive, st.floats(0.0, 20.0))
def test_tight_on_isotropic_quadratics(dim, data, mu_sft, mu_rl, t):
    """L = (mu_sft/2)|x-a|^2, R = (mu_rl/2)|x-b|^2, theta_0 = a: lower = exact = upper (beta = mu)."""
    a, b = (np.array(data.draw(st.lists(st.floats(-10, 10), min_size=dim, max_size=dim))) for _ in range(2))
    theta = b + (a - b) * math.exp(-mu_rl * t)  # the exact RL flow
    exact = mu_sft / 2 * np.sum((theta - a) ** 2)
    lower, upper = sft_degradation_bounds(t, rl_gap0=mu_rl / 2 * np.sum((a - b) ** 2), sep=np.linalg.norm(a - b),
                                          mu_sft=mu_sft, beta_sft=mu_sft, mu_rl=mu_rl, beta_rl=mu_rl)
    scale = mu_sft * np.sum((a - b) ** 2)
    assert lower == pytest.approx(exact, rel=1e-12, abs=1e-14 * scale)
    assert upper == pytest.approx(exact, rel=1e-12, abs=1e-14 * scale)


@pytest.mark.parametrize("t_mu", [0.0, 1e-100, 1e-12, 1e-3, 1.0, 30.0, 1e6, math.inf])
@pytest.mark.parametrize("mu, beta", [(1e-6, 1e6), (2.0, 2.0), (0.3, 7.0)])
def test_extremes_against_mpmath(t_mu, mu, beta):
    t = t_mu / mu
    with mpmath.workdps(50):
        t_exact = mpmath.inf if math.isinf(t) else t
        assert_close(path_length_bound(t, gap0=3.0, mu=mu, beta=beta), ell_reference(t_exact, 3.0, mu, beta), 1e-13)
        lower_ref, upper_ref = envelope_reference(t_exact, 3.0, 0.5, 0.1, 4.0, mu, beta)
        lower, upper = sft_degradation_bounds(t, rl_gap0=3.0, sep=0.5, mu_sft=0.1, beta_sft=4.0, mu_rl=mu, beta_rl=beta)
        assert_close(upper, upper_ref, 1e-13)
        assert_close(lower, lower_ref, 1e-13)


def test_infinite_time_lower_bound_is_the_separation_cost():
    lower, _ = sft_degradation_bounds(math.inf, rl_gap0=2.0, sep=1.5, mu_sft=0.4, beta_sft=1.0, mu_rl=1.0, beta_rl=3.0)
    assert lower == pytest.approx(0.4 * 1.5**2 / 2, rel=1e-15)


def test_broadcasting_and_scalar_returns():
    lower, upper = sft_degradation_bounds(np.array([[0.0], [1.0], [2.0]]), rl_gap0=4.5,
                                          sep=np.array([0.0, 1.0, 2.0, 3.0]),
                                          mu_sft=1.0, beta_sft=2.0, mu_rl=1.0, beta_rl=np.array([1.0, 2.0, 3.0, 4.0]))
    assert lower.shape == upper.shape == (3, 4)
    column = sft_degradation_bounds(1.0, rl_gap0=4.5, sep=2.0, mu_sft=1.0, beta_sft=2.0, mu_rl=1.0, beta_rl=3.0)
    assert lower[1, 2] == column[0] and upper[1, 2] == column[1]
    assert all(type(v) is float for v in column)
    lengths = path_length_bound(np.linspace(0, 5, 7), gap0=np.array([[1.0], [2.0]]), mu=0.5, beta=2.0)
    assert lengths.shape == (2, 7)
    assert lengths[1, 3] == path_length_bound(np.linspace(0, 5, 7)[3], gap0=2.0, mu=0.5, beta=2.0)
    assert type(path_length_bound(1.0, gap0=1.0, mu=1.0, beta=1.0)) is float


VALID = dict(rl_gap0=1.0, sep=1.0, mu_sft=1.0, beta_sft=2.0, mu_rl=1.0, beta_rl=2.0)


@pytest.mark.parametrize("override, name", [
    (dict(t=-1.0), "t"), (dict(t=math.nan), "t"), (dict(rl_gap0=-1e-9), "rl_gap0"), (dict(rl_gap0=math.inf), "rl_gap0"),
    (dict(sep=-1.0), "sep"), (dict(sep=math.nan), "sep"), (dict(mu_sft=0.0), "mu_sft"), (dict(mu_sft=3.0), "mu_sft"),
    (dict(beta_sft=-1.0), "beta_sft"), (dict(mu_rl=-1.0), "mu_rl"), (dict(mu_rl=2.5), "mu_rl"),
    (dict(beta_rl=math.nan), "beta_rl"), (dict(t=[0.0, -1.0]), "t"),
])
def test_invalid_input_names_the_parameter(override, name):
    kwargs = {"t": 1.0, **VALID, **override}
    with pytest.raises(ParameterError, match=f"parameter '{name}'"):
        sft_degradation_bounds(kwargs.pop("t"), **kwargs)


@pytest.mark.parametrize("override, name", [
    (dict(t=-1.0), "t"), (dict(gap0=-1.0), "gap0"), (dict(gap0=math.nan), "gap0"), (dict(mu=0.0), "mu"),
    (dict(mu=3.0), "mu"), (dict(beta=-2.0), "beta"),
])
def test_path_length_invalid_input_names_the_parameter(override, name):
    kwargs = {"t": 1.0, "gap0": 1.0, "mu": 1.0, "beta": 2.0, **override}
    with pytest.raises(ParameterError, match=f"parameter '{name}'"):
        path_length_bound(kwargs.pop("t"), **kwargs)
