"""P3: optimal RL duration and guaranteed net gain, against THEORY.md's formulas."""

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nondecoupling import ParameterError, guaranteed_net_gain, optimal_rl_duration, rl_break_even_time
from nondecoupling.derivations import p3_optimal_rl_duration

positive = st.floats(1e-3, 1e3)
ratio = st.floats(1.0, 1e3)
gap = st.floats(0.0, 1e3)


def cost_ratio(lam, mu_rl, beta_rl, beta_sft):
    return mpmath.mpf(lam) * beta_sft * beta_rl / mpmath.mpf(mu_rl) ** 2


def duration_reference(lam, mu_rl, beta_rl, beta_sft):
    """THEORY.md: t* = (1/mu_rl) ln(1 + 1/c), in 50-digit arithmetic."""
    return mpmath.log(1 + 1 / cost_ratio(lam, mu_rl, beta_rl, beta_sft)) / mu_rl


def gain_reference(t, rl_gap0, lam, mu_rl, beta_rl, beta_sft):
    """THEORY.md: g(t) = Delta_0 [1 - e^{-2 mu_rl t} - c (1 - e^{-mu_rl t})^2], in 50-digit arithmetic."""
    c = cost_ratio(lam, mu_rl, beta_rl, beta_sft)
    t, mu_rl = mpmath.mpf(t), mpmath.mpf(mu_rl)
    return rl_gap0 * (-mpmath.expm1(-2 * mu_rl * t) - c * mpmath.expm1(-mu_rl * t) ** 2)


def gain_tolerance(t, rl_gap0, lam, mu_rl, beta_rl, beta_sft, rtol):
    """rtol |g| plus the error that rounding c alone causes, Delta_0 s^2 |dc| (g is linear in c)."""
    c = cost_ratio(lam, mu_rl, beta_rl, beta_sft)
    s = -mpmath.expm1(-mpmath.mpf(mu_rl) * t)
    return rtol * abs(gain_reference(t, rl_gap0, lam, mu_rl, beta_rl, beta_sft)) + 1e-15 * rl_gap0 * s**2 * c + 1e-300


@pytest.fixture(scope="module")
def derivation():
    return p3_optimal_rl_duration.derive()


def test_every_derivation_step_is_proved(derivation):
    assert derivation.steps and derivation.proven, str(derivation)


@given(positive, positive, ratio, positive)
def test_optimal_duration_is_theory_formula(lam, mu_rl, r_rl, beta_sft):
    beta_rl = mu_rl * r_rl
    with mpmath.workdps(50):
        reference = duration_reference(lam, mu_rl, beta_rl, beta_sft)
        value = optimal_rl_duration(lam=lam, mu_rl=mu_rl, beta_rl=beta_rl, beta_sft=beta_sft)
        assert abs(value - reference) <= 1e-13 * reference


@given(st.floats(0.0, 100.0), gap, positive, positive, ratio, positive)
def test_net_gain_is_theory_formula(t, rl_gap0, lam, mu_rl, r_rl, beta_sft):
    beta_rl = mu_rl * r_rl
    value = guaranteed_net_gain(t, rl_gap0=rl_gap0, lam=lam, mu_rl=mu_rl, beta_rl=beta_rl, beta_sft=beta_sft)
    with mpmath.workdps(50):
        reference = gain_reference(t, rl_gap0, lam, mu_rl, beta_rl, beta_sft)
        assert abs(value - reference) <= gain_tolerance(t, rl_gap0, lam, mu_rl, beta_rl, beta_sft, 1e-12)


@given(st.floats(1e-3, 1e3), positive, positive, ratio, positive, st.floats(1e-3, 10.0))
def test_optimum_value_and_maximality(rl_gap0, lam, mu_rl, r_rl, beta_sft, other_over_star):
    constants = dict(lam=lam, mu_rl=mu_rl, beta_rl=mu_rl * r_rl, beta_sft=beta_sft)
    t_star = optimal_rl_duration(**constants)
    best = guaranteed_net_gain(t_star, rl_gap0=rl_gap0, **constants)
    c = lam * beta_sft * mu_rl * r_rl / mu_rl**2
    assert best == pytest.approx(rl_gap0 / (1 + c), rel=1e-12)
    assert guaranteed_net_gain(t_star * other_over_star, rl_gap0=rl_gap0, **constants) <= best * (1 + 1e-14)


def break_even_reference(lam, mu_rl, beta_rl, beta_sft):
    """THEORY.md: t_neg = (1/mu_rl) ln((c + 1)/(c - 1)) for c > 1, in 50-digit arithmetic."""
    c = cost_ratio(lam, mu_rl, beta_rl, beta_sft)
    return mpmath.log((c + 1) / (c - 1)) / mu_rl if c > 1 else mpmath.inf


@given(positive, positive, ratio, positive)
def test_break_even_time_is_theory_formula(lam, mu_rl, r_rl, beta_sft):
    constants = dict(lam=lam, mu_rl=mu_rl, beta_rl=mu_rl * r_rl, beta_sft=beta_sft)
    with mpmath.workdps(50):
        reference = break_even_reference(**constants)
        c = cost_ratio(**constants)
    value = rl_break_even_time(**constants)
    if mpmath.isinf(reference):
        assert value == math.inf
    else:  # near c = 1 t_neg amplifies the rounding of c by 1/(c - 1)
        assert value == pytest.approx(float(reference), rel=1e-12 * (1 + float(c / (c - 1))))
        assert value > optimal_rl_duration(**constants)


@pytest.mark.parametrize("c", [1e-12, 0.5, 1.0, 1.0 + 1e-9, 2.0, 1e6, 1e12])
def test_break_even_time_extremes_against_mpmath(c):
    with mpmath.workdps(50):
        reference = mpmath.log((mpmath.mpf(c) + 1) / (mpmath.mpf(c) - 1)) if c > 1 else mpmath.inf
    value = rl_break_even_time(lam=c, mu_rl=1.0, beta_rl=1.0, beta_sft=1.0)
    assert value == (math.inf if mpmath.isinf(reference) else pytest.approx(float(reference), rel=1e-13))


@given(st.floats(1e-3, 1e3), st.floats(1.0 + 1e-6, 1e6), positive, st.floats(1e-3, 10.0))
def test_guarantee_turns_negative_after_t_neg(rl_gap0, c, mu_rl, later):
    constants = dict(lam=c, mu_rl=mu_rl, beta_rl=mu_rl, beta_sft=mu_rl)  # c = lam here
    t_neg = rl_break_even_time(**constants)
    assert guaranteed_net_gain(t_neg * (1 + later) + 1e-9, rl_gap0=rl_gap0, **constants) < 0
    assert guaranteed_net_gain(t_neg * (1 - 1e-3 * later), rl_gap0=rl_gap0, **constants) > 0
    assert guaranteed_net_gain(t_neg, rl_gap0=rl_gap0, **constants) == pytest.approx(0, abs=1e-12 * rl_gap0 * (1 + c))


@given(st.integers(1, 6), st.data(), positive, positive, positive, st.floats(0.0, 20.0))
def test_tight_on_isotropic_quadratics(dim, data, lam, mu_sft, mu_rl, t):
    """G(t) of the exact RL flow equals g(t) with beta = mu (c = lam mu_sft/mu_rl)."""
    a, b = (np.array(data.draw(st.lists(st.floats(-10, 10), min_size=dim, max_size=dim))) for _ in range(2))
    theta = b + (a - b) * math.exp(-mu_rl * t)
    rl_gap0 = mu_rl / 2 * np.sum((a - b) ** 2)
    exact = (rl_gap0 - mu_rl / 2 * np.sum((theta - b) ** 2)) - lam * mu_sft / 2 * np.sum((theta - a) ** 2)
    bound = guaranteed_net_gain(t, rl_gap0=rl_gap0, lam=lam, mu_rl=mu_rl, beta_rl=mu_rl, beta_sft=mu_sft)
    assert bound == pytest.approx(exact, rel=1e-10, abs=1e-13 * rl_gap0 * (1 + lam * mu_sft / mu_rl))


@pytest.mark.parametrize("c", [1e-12, 1e-3, 1.0, 1.5, 1e3, 1e12])
@pytest.mark.parametrize("t_over_star", [0.0, 1e-12, 1e-3, 1.0, 7.0, math.inf])
def test_extremes_against_mpmath(c, t_over_star):
    constants = dict(lam=c * 0.3, mu_rl=0.5, beta_rl=1.25, beta_sft=0.2)  # c = lam * 0.2 * 1.25 / 0.25
    t_star = optimal_rl_duration(**constants)
    with mpmath.workdps(50):
        assert abs(t_star - duration_reference(**constants)) <= 1e-14 * duration_reference(**constants)
        t = t_star * t_over_star
        reference = gain_reference(mpmath.inf if math.isinf(t) else t, 2.0, **constants)
        value = guaranteed_net_gain(t, rl_gap0=2.0, **constants)
        assert abs(value - reference) <= gain_tolerance(t, 2.0, **constants, rtol=1e-12)


@pytest.mark.parametrize("t_mu", [1e-14, 1e-6, 5.0, 50.0, 700.0, 1e6])
def test_balanced_cost_at_large_and_small_times(t_mu):
    """c = 1 exactly (lam mu_sft = mu_rl on isotropic quadratics): g = 2 Delta_0 s e^{-mu t}, no cancellation."""
    with mpmath.workdps(50):
        reference = 2 * 3.0 * -mpmath.expm1(-mpmath.mpf(t_mu)) * mpmath.exp(-mpmath.mpf(t_mu))
        value = guaranteed_net_gain(t_mu / 2.0, rl_gap0=3.0, lam=0.5, mu_rl=2.0, beta_rl=2.0, beta_sft=4.0)
        assert abs(value - reference) <= 1e-13 * reference + 1e-300


def test_broadcasting_and_scalar_returns():
    times = optimal_rl_duration(lam=np.array([[0.1], [1.0]]), mu_rl=1.0, beta_rl=np.array([1.0, 2.0, 4.0]),
                                beta_sft=1.0)
    assert times.shape == (2, 3)
    assert times[1, 2] == optimal_rl_duration(lam=1.0, mu_rl=1.0, beta_rl=4.0, beta_sft=1.0)
    gains = guaranteed_net_gain(np.linspace(0, 3, 5), rl_gap0=np.array([[1.0], [2.0]]), lam=1.0, mu_rl=1.0, beta_rl=2.0,
                                beta_sft=1.0)
    assert gains.shape == (2, 5)
    assert type(optimal_rl_duration(lam=1.0, mu_rl=1.0, beta_rl=1.0, beta_sft=1.0)) is float
    assert type(guaranteed_net_gain(1.0, rl_gap0=1.0, lam=1.0, mu_rl=1.0, beta_rl=1.0, beta_sft=1.0)) is float


DURATION = dict(lam=1.0, mu_rl=1.0, beta_rl=2.0, beta_sft=1.0)


@pytest.mark.parametrize("override, name", [
    (dict(lam=0.0), "lam"), (dict(lam=-1.0), "lam"), (dict(lam=math.nan), "lam"), (dict(mu_rl=0.0), "mu_rl"),
    (dict(mu_rl=3.0), "mu_rl"), (dict(beta_rl=math.inf), "beta_rl"), (dict(beta_sft=-1.0), "beta_sft"),
])
@pytest.mark.parametrize("function", [optimal_rl_duration, rl_break_even_time])
def test_duration_invalid_input_names_the_parameter(override, name, function):
    with pytest.raises(ParameterError, match=f"parameter '{name}'"):
        function(**{**DURATION, **override})


@pytest.mark.parametrize("override, name", [
    (dict(t=-1.0), "t"), (dict(t=math.nan), "t"), (dict(rl_gap0=-1.0), "rl_gap0"), (dict(lam=0.0), "lam"),
    (dict(mu_rl=3.0), "mu_rl"), (dict(beta_sft=0.0), "beta_sft"),
])
def test_gain_invalid_input_names_the_parameter(override, name):
    kwargs = {"t": 1.0, "rl_gap0": 1.0, **DURATION, **override}
    with pytest.raises(ParameterError, match=f"parameter '{name}'"):
        guaranteed_net_gain(kwargs.pop("t"), **kwargs)
