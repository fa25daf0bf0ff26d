"""P5's discrete envelopes, path length and net gain; P1's reward-side gain bounds; K3's Pinsker radius.

Each is checked against a 50-digit mpmath evaluation of THEORY.md's formula (random instances
on both sides of every min/max), and against an exactly solvable instance where it is attained.
"""

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nondecoupling import (
    ParameterError,
    discrete_net_gain,
    discrete_path_length_bound,
    discrete_reward_gain_bounds,
    discrete_sft_degradation_bounds,
    kl_inverse_upper,
    pinsker_radius,
    reward_gain_bounds,
)

positive = st.floats(-3, 3).map(lambda e: 10.0**e)
fraction = st.floats(0.01, 0.99)
step_counts = st.integers(0, 400)


def reference_rate(mu_eta, beta_eta, *, sharp):
    """THEORY.md's q = 1 - mu eta (2 - beta eta), or min(q, q_ADZ) (ADZ 2023, Thm 3), at 50 digits.

    Evaluated at the float products mu eta and beta eta: the contract is exact for those rounded
    products (THEORY.md, "Documented limit"), and q depends on nothing else.
    """
    with mp.workdps(50):
        m, x = mp.mpf(mu_eta), mp.mpf(beta_eta)
        q = 1 - m * (2 - x)
        if not sharp:
            return q
        if x < 1:  # divided through by beta: mu/beta = m/x
            adz = ((m * (1 - x) + x * mp.sqrt(4 - 2 * (1 + m / x) * m * (2 - x))) / (2 * x + m)) ** 2
        elif x <= mp.sqrt(3):
            adz = 1 - m * (4 - x**2) / (2 + m)
        else:
            adz = (x - 1) ** 2 / ((x - 1) ** 2 + m * (2 - x))
        return min(q, adz)


def reference_discrete(k, gap0, mu, beta, eta, q, sep=None, mu_sft=None, beta_sft=None, lam=None):
    """THEORY.md P5 at 50 digits: (ell_k, sft lower, sft upper, gain lower, gain upper, net gain)."""
    with mp.workdps(50):
        k, gap0, mu, beta, eta = map(mp.mpf, (k, gap0, mu, beta, eta))
        root_power = mp.sqrt(q) ** k
        ell = min(eta * mp.sqrt(2 * beta * gap0) * (1 - root_power) / (1 - mp.sqrt(q)),
                  mp.sqrt(2 * gap0 / mu) / (1 - eta * beta / 2))
        lower_rate = max(mp.mpf(0), 1 - 2 * beta * eta - (beta * eta) ** 2)
        out = {"ell": ell, "gain_lower": gap0 * (1 - q**k), "gain_upper": gap0 * (1 - lower_rate**k)}
        if sep is not None:
            out["sft_lower"] = mp.mpf(mu_sft) / 2 * max(0, sep - mp.sqrt(2 * gap0 / mu) * root_power) ** 2
            out["sft_upper"] = mp.mpf(beta_sft) / 2 * ell**2
        if lam is not None:
            c_eta = lam * beta_sft * beta * eta**2 / (1 - mp.sqrt(q)) ** 2
            out["net"] = gap0 * (1 - q**k - c_eta * (1 - root_power) ** 2)
        return {name: float(value) for name, value in out.items()}


@given(k=step_counts, gap0=positive, mu=positive, ratio=fraction, eta_fraction=fraction, sep_fraction=fraction,
       mu_sft=positive, ratio_sft=fraction, lam=positive, sharp=st.booleans())
def test_against_mpmath(k, gap0, mu, ratio, eta_fraction, sep_fraction, mu_sft, ratio_sft, lam, sharp):
    beta, beta_sft = mu / ratio, mu_sft / ratio_sft
    sep = sep_fraction * np.sqrt(2 * gap0 / mu)  # realizable from an SFT optimum (quadratic growth of R)
    eta = eta_fraction * 2 / beta
    q = reference_rate(mu * eta, beta * eta, sharp=sharp)  # independent of the library's q
    ref = reference_discrete(k, gap0, mu, beta, eta, q, sep=sep, mu_sft=mu_sft, beta_sft=beta_sft, lam=lam)
    rl = dict(mu_rl=mu, beta_rl=beta, eta=eta, sharp=sharp)
    # q itself is a rounded float: the forms through log1p(-(1 - sqrt q)) agree to k ulps of it.
    rtol = 1e-13 * (1 + k)
    assert discrete_path_length_bound(k, gap0=gap0, mu=mu, beta=beta, eta=eta, sharp=sharp) == pytest.approx(
        ref["ell"], rel=rtol)
    lower, upper = discrete_sft_degradation_bounds(k, rl_gap0=gap0, sep=sep, mu_sft=mu_sft, beta_sft=beta_sft, **rl)
    assert upper == pytest.approx(ref["sft_upper"], rel=2 * rtol)
    assert lower == pytest.approx(ref["sft_lower"], rel=rtol, abs=1e-13 * mu_sft * sep**2)
    gain = discrete_reward_gain_bounds(k, rl_gap0=gap0, **rl)
    assert gain == pytest.approx((ref["gain_lower"], ref["gain_upper"]), rel=rtol)
    net = discrete_net_gain(k, rl_gap0=gap0, lam=lam, beta_sft=beta_sft, **rl)
    scale = gap0 * (1 + lam * beta_sft * beta * eta**2 / (1 - float(mp.sqrt(q))) ** 2)
    assert net == pytest.approx(ref["net"], rel=rtol, abs=1e-13 * (1 + k) * scale)


@given(mu_sft=st.floats(0.2, 5), mu_rl=st.floats(0.2, 5), sep=st.floats(0.1, 3), step=st.floats(0.01, 0.99),
       lam=st.floats(0.05, 20))
def test_attained_on_isotropic_quadratics(mu_sft, mu_rl, sep, step, lam):
    # L = (mu_sft/2)|x - a|^2, R = (mu_rl/2)|x - b|^2, |a - b| = sep, GD from a with eta mu_rl < 1:
    # x_k - b = (1 - eta mu_rl)^k (a - b) exactly, so every lower side and ell_k's first form are equalities.
    eta = step / mu_rl
    k = np.arange(0, 60)
    contraction = (1 - eta * mu_rl) ** k
    gap0 = mu_rl / 2 * sep**2
    rl = dict(mu_rl=mu_rl, beta_rl=mu_rl, eta=eta)
    distance = sep * (1 - contraction)  # |x_k - a|
    np.testing.assert_allclose(discrete_path_length_bound(k, gap0=gap0, mu=mu_rl, beta=mu_rl, eta=eta), distance,
                               rtol=1e-12, atol=1e-15)
    lower, upper = discrete_sft_degradation_bounds(k, rl_gap0=gap0, sep=sep, mu_sft=mu_sft, beta_sft=mu_sft, **rl)
    exact = mu_sft / 2 * distance**2
    np.testing.assert_allclose(lower, exact, rtol=1e-11, atol=1e-15)
    np.testing.assert_allclose(upper, exact, rtol=1e-11, atol=1e-15)
    gain_lower, gain_upper = discrete_reward_gain_bounds(k, rl_gap0=gap0, **rl)
    np.testing.assert_allclose(gain_lower, gap0 * (1 - contraction**2), rtol=1e-12, atol=1e-15)
    assert np.all(gain_upper >= gain_lower)
    np.testing.assert_allclose(discrete_net_gain(k, rl_gap0=gap0, lam=lam, beta_sft=mu_sft, **rl),
                               gap0 * (1 - contraction**2) - lam * exact, rtol=1e-10, atol=1e-12 * gap0 * (1 + lam))


def test_second_path_form_and_reward_upper_bound_hold_on_anisotropic_descent():
    # R = (1/2) x^T diag(mu, beta) x, many steps: the sqrt(2 Delta_0/mu)/(1 - eta beta/2) form is the active one.
    mu, beta, eta = 0.01, 1.0, 1.5
    x = np.array([1.0, 1.0])
    gap0 = 0.5 * (mu + beta)
    path, gaps = [0.0], [gap0]
    for _ in range(2000):
        step = eta * np.array([mu, beta]) * x
        x = x - step
        path.append(path[-1] + np.linalg.norm(step))
        gaps.append(0.5 * (mu * x[0] ** 2 + beta * x[1] ** 2))
    k = np.arange(2001)
    bound = discrete_path_length_bound(k, gap0=gap0, mu=mu, beta=beta, eta=eta)
    second = np.sqrt(2 * gap0 / mu) / (1 - eta * beta / 2)
    assert bound[-1] == pytest.approx(second) and np.all(np.array(path) <= bound * (1 + 1e-12))
    lower, upper = discrete_reward_gain_bounds(k, rl_gap0=gap0, mu_rl=mu, beta_rl=beta, eta=eta)
    gain = gap0 - np.array(gaps)
    assert np.all(lower <= gain * (1 + 1e-12) + 1e-15) and np.all(gain <= upper * (1 + 1e-12) + 1e-15)


@given(t=st.floats(0, 50), gap0=positive, mu=positive, ratio=fraction)
def test_reward_gain_bounds_against_mpmath(t, gap0, mu, ratio):
    beta = mu / ratio
    with mp.workdps(50):
        expected = [float(-gap0 * mp.expm1(-2 * rate * mp.mpf(t))) for rate in (mu, beta)]
    assert reward_gain_bounds(t, gap0=gap0, mu=mu, beta=beta) == pytest.approx(expected, rel=1e-14, abs=0)


def test_reward_gain_bounds_attained_on_isotropic_flow():
    # R = (mu/2)|x - b|^2: Delta_t = Delta_0 e^{-2 mu t} exactly, and mu = beta makes both sides equal.
    t = np.linspace(0, 5, 51)
    lower, upper = reward_gain_bounds(t, gap0=0.7, mu=1.3, beta=1.3)
    np.testing.assert_allclose(lower, 0.7 * (1 - np.exp(-2.6 * t)), rtol=1e-14, atol=1e-16)
    np.testing.assert_array_equal(lower, upper)
    assert reward_gain_bounds(np.inf, gap0=0.7, mu=1.0, beta=2.0) == (0.7, 0.7)


@pytest.mark.parametrize("budget", [1e-300, 1e-12, 0.5, 3.0])
def test_pinsker_radius(budget):
    with mp.workdps(50):
        assert pinsker_radius(budget) == pytest.approx(float(mp.sqrt(mp.mpf(budget) / 2)), rel=4e-16)


def test_pinsker_radius_is_attained_at_one_half():
    # kl(1/2 || 1/2 + d) = 2 d^2 + O(d^4): the exact band edge approaches the radius.
    for budget in (1e-4, 1e-8):
        assert (kl_inverse_upper(0.5, budget) - 0.5) / pinsker_radius(budget) == pytest.approx(1, abs=2 * budget)
    assert pinsker_radius(np.inf) == np.inf


@pytest.mark.parametrize("call, name", [
    (lambda: discrete_path_length_bound(1.5, gap0=1, mu=1, beta=1, eta=0.5), "steps"),
    (lambda: discrete_sft_degradation_bounds(1, rl_gap0=0.5, sep=1.5, mu_sft=1, beta_sft=1, mu_rl=1, beta_rl=1,
                                             eta=0.5), "sep"),
    (lambda: discrete_path_length_bound(-1, gap0=1, mu=1, beta=1, eta=0.5), "steps"),
    (lambda: discrete_path_length_bound(1, gap0=1, mu=1, beta=1, eta=2.0), "eta"),
    (lambda: discrete_reward_gain_bounds(1, rl_gap0=1, mu_rl=1, beta_rl=1, eta=0.5, sharp=1), "sharp"),
    (lambda: discrete_net_gain(1, rl_gap0=1, lam=0, mu_rl=1, beta_rl=1, beta_sft=1, eta=0.5), "lam"),
    (lambda: reward_gain_bounds(1, gap0=1, mu=2, beta=1), "mu"),
    (lambda: pinsker_radius(-1e-9), "budget"),
])
def test_invalid_input_names_the_parameter(call, name):
    with pytest.raises(ParameterError, match=f"'{name}'"):
        call()
