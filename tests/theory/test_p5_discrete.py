"""P5: gradient-descent contraction (q, q_ADZ) and the optimal number of RL steps."""

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nondecoupling import ParameterError, gd_contraction, optimal_rl_steps
from nondecoupling._generated import p5
from nondecoupling.derivations.p5_discrete_time import derive

fraction = st.floats(0.01, 0.99)
scale = st.floats(1e-2, 1e2)
seeds = st.integers(0, 2**32 - 1)


def theory_q(mu, beta, eta):
    """THEORY.md: q = 1 - mu eta (2 - eta beta)."""
    return 1 - mu * eta * (2 - eta * beta)


def theory_q_adz(mu, beta, eta):
    """Abbaszadehpeivasti-de Klerk-Zamani (2023) Thm 3 at m = -beta, whole numerator squared."""
    x = beta * eta
    if x < 1:
        root = math.sqrt(4 * beta**2 - 2 * beta * (beta + mu) * mu * eta * (2 - x))
        return ((mu * (1 - x) + root) / (2 * beta + mu)) ** 2
    if x <= math.sqrt(3):
        return 1 - mu * eta * (4 - x**2) / (2 + mu * eta)
    return (x - 1) ** 2 / ((x - 1) ** 2 + mu * eta * (2 - x))


def theory_gain_ratio(k, q, c):
    """THEORY.md (P5/P3): guaranteed gain over Delta_0 after k steps."""
    return 1 - q**k - c * (1 - q ** (k / 2)) ** 2


def test_p5_derivation_is_proven():
    derivation = derive()
    assert derivation.proven, str(derivation)


@given(beta=scale, mu_frac=st.floats(0.001, 1.0), eta_frac=st.floats(0.001, 0.999))
def test_p5_rates_match_theory_formulas(beta, mu_frac, eta_frac):
    mu, eta = mu_frac * beta, 2 * eta_frac / beta
    q, sharp = gd_contraction(mu=mu, beta=beta, eta=eta), gd_contraction(mu=mu, beta=beta, eta=eta, sharp=True)
    assert isinstance(q, float) and isinstance(sharp, float)
    assert q == pytest.approx(theory_q(mu, beta, eta), rel=1e-9, abs=1e-13)
    assert sharp == pytest.approx(min(theory_q(mu, beta, eta), theory_q_adz(mu, beta, eta)), rel=1e-9, abs=1e-13)
    assert 0 <= sharp <= q < 1


def test_p5_q_adz_matches_theory_sanity_value():
    # THEORY.md: mu/beta = 0.2, eta = 1/beta gives 0.7273 against q = 0.8 (exactly 8/11).
    assert gd_contraction(mu=0.2, beta=1.0, eta=1.0, sharp=True) == pytest.approx(8 / 11, rel=1e-14)
    assert gd_contraction(mu=0.2, beta=1.0, eta=1.0) == pytest.approx(0.8, rel=1e-14)


@given(beta=scale, eta_frac=st.floats(0.001, 0.999), start=st.floats(-10, 10).filter(lambda x: abs(x) > 1e-3))
def test_p5_tight_on_the_quadratic_with_mu_equal_beta(beta, eta_frac, start):
    # R = (beta/2) x^2 is beta-smooth and beta-PL; one GD step multiplies Delta by (1 - beta eta)^2.
    eta = 2 * eta_frac / beta
    after = start - eta * beta * start
    ratio = (after**2) / (start**2)
    assert gd_contraction(mu=beta, beta=beta, eta=eta) == pytest.approx(ratio, rel=1e-9, abs=1e-15)
    assert gd_contraction(mu=beta, beta=beta, eta=eta, sharp=True) == pytest.approx(ratio, rel=1e-9, abs=1e-15)


@given(seed=seeds, eta_frac=st.floats(0.01, 0.99), sharp=st.booleans())
def test_p5_gd_on_random_quadratics_obeys_the_rate(seed, eta_frac, sharp):
    rng = np.random.default_rng(seed)
    dim = int(rng.integers(1, 6))
    beta = float(rng.uniform(0.1, 10.0))
    curvatures = rng.uniform(0.05, 1.0, dim) * beta
    curvatures[0] = beta
    curvatures[rng.random(dim) < 0.3] = 0.0  # flat directions keep PL, with mu the least nonzero
    curvatures[0] = beta
    mu = float(curvatures[curvatures > 0].min())
    eta = 2 * eta_frac / beta
    # Gradient descent is rotation invariant: work in the Hessian's eigenbasis, where
    # rounding cannot leak from the flat directions into the curved ones.
    x = rng.standard_normal(dim)
    gap0 = 0.5 * curvatures @ x**2
    rate = gd_contraction(mu=mu, beta=beta, eta=eta, sharp=sharp)
    for k in range(1, 21):
        x = x - eta * curvatures * x
        # 1 - eta beta rounds to ~eps where the rate is exactly 0: allow (k eps)^2 gap0.
        assert 0.5 * curvatures @ x**2 <= rate**k * gap0 * (1 + 1e-9) + 1e-28 * gap0


@given(start=st.floats(-6, 6).filter(lambda x: abs(x) > 1e-2), eta_frac=st.floats(0.01, 0.99))
def test_p5_sharp_rate_on_a_nonconvex_pl_function(start, eta_frac):
    # Karimi et al.'s R(x) = x^2 + 3 sin(x)^2: beta = 8, and min R'^2/(2R) over the line is 0.1755.
    beta, mu = 8.0, 1 / 6
    eta = 2 * eta_frac / beta
    sharp = gd_contraction(mu=mu, beta=beta, eta=eta, sharp=True)
    gap = start**2 + 3 * math.sin(start) ** 2
    x = start
    for _ in range(10):
        x = x - eta * (2 * x + 3 * math.sin(2 * x))
        new_gap = x**2 + 3 * math.sin(x) ** 2
        assert new_gap <= sharp * gap * (1 + 1e-12) + 1e-300
        gap = new_gap


def test_p5_nonconvex_example_pl_constant():
    x = np.linspace(-30, 30, 600001)
    x = x[np.abs(x) > 1e-6]
    ratio = (2 * x + 3 * np.sin(2 * x)) ** 2 / (2 * (x**2 + 3 * np.sin(x) ** 2))
    assert ratio.min() >= 1 / 6


@given(lam=scale, mu_frac=fraction, beta_rl=scale, beta_sft=scale, eta_frac=fraction, sharp=st.booleans())
def test_p5_optimal_steps_maximize_the_discrete_guarantee(lam, mu_frac, beta_rl, beta_sft, eta_frac, sharp):
    mu_rl, eta = mu_frac * beta_rl, 2 * eta_frac / beta_rl
    q = theory_q(mu_rl, beta_rl, eta)
    if sharp:
        q = min(q, theory_q_adz(mu_rl, beta_rl, eta))
    c = lam * beta_sft * beta_rl * eta**2 / (1 - math.sqrt(q)) ** 2
    k_cont = 2 * math.log(c / (1 + c)) / math.log(q)
    steps = optimal_rl_steps(lam=lam, mu_rl=mu_rl, beta_rl=beta_rl, beta_sft=beta_sft, eta=eta, sharp=sharp)
    assert isinstance(steps, int)
    assert steps in (math.floor(k_cont), math.floor(k_cont) + 1)
    best = theory_gain_ratio(steps, q, c)
    for k in range(0, steps + 200):
        assert theory_gain_ratio(k, q, c) <= best + 1e-12
    assert best <= 1 / (1 + c) + 1e-12


@given(lam=scale, mu_sft=scale, mu_rl=scale, eta_frac=st.floats(0.01, 0.49), seed=seeds)
def test_p5_optimal_steps_tight_on_isotropic_quadratics(lam, mu_sft, mu_rl, eta_frac, seed):
    # L = (mu_sft/2)|x - a|^2, R = (mu_rl/2)|x - b|^2 (mu = beta), theta_0 = a, eta < 1/beta_rl:
    # the net gain of real gradient descent equals the guarantee, so K* is the true optimum.
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(3), rng.standard_normal(3)
    eta = 2 * eta_frac / mu_rl
    steps = optimal_rl_steps(lam=lam, mu_rl=mu_rl, beta_rl=mu_rl, beta_sft=mu_sft, eta=eta)
    x, gains = a.copy(), [0.0]
    reward0 = -0.5 * mu_rl * (a - b) @ (a - b)
    for _ in range(steps + 100):
        x = x - eta * mu_rl * (x - b)
        gains.append((-0.5 * mu_rl * (x - b) @ (x - b) - reward0) - lam * 0.5 * mu_sft * (x - a) @ (x - a))
    gains = np.array(gains)
    assert gains[steps] >= gains.max() - 1e-12 * max(1.0, abs(gains).max())


def test_p5_integer_steps_can_gain_less_than_delta0_over_one_plus_c():
    # Counterexample to THEORY.md's "gain >= Delta_0/(1 + c_eta)" at an integer step count:
    # L = |x - a|^2/2, R = |x - b|^2/2, eta = 1 (q = 0), lam = 1/2, so c_eta = 1/2.
    a, b, lam = np.array([0.0, 0.0]), np.array([1.0, 2.0]), 0.5
    gap0 = 0.5 * (a - b) @ (a - b)
    steps = optimal_rl_steps(lam=lam, mu_rl=1.0, beta_rl=1.0, beta_sft=1.0, eta=1.0)
    x = a.copy()
    for _ in range(steps):
        x = x - (x - b)
    gain = (gap0 - 0.5 * (x - b) @ (x - b)) - lam * 0.5 * (x - a) @ (x - a)
    assert steps == 1
    assert gain == pytest.approx(gap0 / 2, rel=1e-15)
    assert gain < gap0 / (1 + 0.5)


@pytest.mark.parametrize("eta", [1e-3, 1e-5, 1e-7])
def test_p5_continuum_limit_recovers_p3(eta):
    lam, mu_rl, beta_rl, beta_sft = 0.5, 0.3, 1.2, 2.0
    c = lam * beta_sft * beta_rl / mu_rl**2
    t_star = math.log(1 + 1 / c) / mu_rl
    steps = optimal_rl_steps(lam=lam, mu_rl=mu_rl, beta_rl=beta_rl, beta_sft=beta_sft, eta=eta)
    assert eta * steps == pytest.approx(t_star, rel=10 * eta * beta_rl + 2 * eta / t_star)


def test_p5_broadcasting():
    mu = np.array([0.1, 0.2, 0.5])
    eta = np.array([[0.5], [1.0], [1.9]])
    q = gd_contraction(mu=mu, beta=1.0, eta=eta, sharp=True)
    assert q.shape == (3, 3)
    assert q[1, 1] == pytest.approx(gd_contraction(mu=0.2, beta=1.0, eta=1.0, sharp=True), rel=1e-15)
    steps = optimal_rl_steps(lam=[[0.1], [1.0]], mu_rl=mu, beta_rl=1.0, beta_sft=1.0, eta=0.5)
    assert steps.shape == (2, 3) and steps.dtype == np.int64
    assert steps[1, 2] == optimal_rl_steps(lam=1.0, mu_rl=0.5, beta_rl=1.0, beta_sft=1.0, eta=0.5)


def test_p5_step_count_is_zero_or_one_when_q_vanishes():
    # mu = beta, eta = 1/beta: one step reaches the optimum (q = 0): worth it iff c_eta < 1.
    assert optimal_rl_steps(lam=0.5, mu_rl=1.0, beta_rl=1.0, beta_sft=1.0, eta=1.0) == 1
    assert optimal_rl_steps(lam=2.0, mu_rl=1.0, beta_rl=1.0, beta_sft=1.0, eta=1.0) == 0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        (dict(mu=0.0, beta=1.0, eta=0.5), "mu"),
        (dict(mu=-1.0, beta=1.0, eta=0.5), "mu"),
        (dict(mu=2.0, beta=1.0, eta=0.5), "mu"),
        (dict(mu=0.5, beta=0.0, eta=0.5), "beta"),
        (dict(mu=0.5, beta=1.0, eta=0.0), "eta"),
        (dict(mu=0.5, beta=1.0, eta=2.0), "eta"),
        (dict(mu=0.5, beta=1.0, eta=[0.5, 2.5]), "eta"),
        (dict(mu=float("nan"), beta=1.0, eta=0.5), "mu"),
        (dict(mu=0.5, beta=1.0, eta=float("nan")), "eta"),
    ],
)
def test_p5_gd_contraction_rejects_bad_input(kwargs, name):
    with pytest.raises(ParameterError) as err:
        gd_contraction(**kwargs)
    assert err.value.name == name
    assert f"'{name}'" in str(err.value)


@pytest.mark.parametrize(
    ("override", "name"),
    [
        (dict(lam=0.0), "lam"),
        (dict(lam=float("nan")), "lam"),
        (dict(beta_sft=-1.0), "beta_sft"),
        (dict(mu_rl=0.0), "mu_rl"),
        (dict(mu_rl=3.0), "mu_rl"),
        (dict(beta_rl=float("inf")), "beta_rl"),
        (dict(eta=1.0), "eta"),
        (dict(eta=-0.1), "eta"),
    ],
)
def test_p5_optimal_rl_steps_rejects_bad_input(override, name):
    kwargs = dict(lam=1.0, mu_rl=0.5, beta_rl=2.0, beta_sft=1.0, eta=0.5) | override
    with pytest.raises(ParameterError) as err:
        optimal_rl_steps(**kwargs)
    assert err.value.name == name


def _mp_rates(mu, beta, eta):
    """q, 1 - sqrt q, q_ADZ, 1 - sqrt q_ADZ at 50 digits from the THEORY.md formulas."""
    with mpmath.workdps(50):
        mu, beta, eta = mpmath.mpf(mu), mpmath.mpf(beta), mpmath.mpf(eta)
        q = 1 - mu * eta * (2 - eta * beta)
        x = beta * eta
        if x < 1:
            adz = ((mu * (1 - x) + mpmath.sqrt(4 * beta**2 - 2 * beta * (beta + mu) * mu * eta * (2 - x)))
                   / (2 * beta + mu)) ** 2
        elif x <= mpmath.sqrt(3):
            adz = 1 - mu * eta * (4 - x**2) / (2 + mu * eta)
        else:
            adz = (x - 1) ** 2 / ((x - 1) ** 2 + mu * eta * (2 - x))
        return q, 1 - mpmath.sqrt(q), adz, 1 - mpmath.sqrt(adz)


EXTREMES = [
    (0.3, 1.0, 1e-12),               # q -> 1: 1 - sqrt q ~ 3e-13
    (1e-9, 1.0, 1.0),                # mu/beta tiny: q -> 1 on range 2
    (1e-9, 1.0, 0.3),                # range 1, q -> 1
    (1e-9, 1.0, 1.9),                # range 3, q -> 1
    (1.0 - 1e-9, 1.0, 1.0 - 1e-9),   # q -> 0
    (1.0, 1.0, 1.0 + 1e-9),          # q -> 0 from range 2
    (2e3, 4e3, 1e-10),               # large constants, tiny step
]


@pytest.mark.parametrize(("mu", "beta", "eta"), EXTREMES)
def test_p5_generated_rates_are_accurate_at_extremes(mu, beta, eta):
    q, deficit, adz, adz_deficit = _mp_rates(mu, beta, eta)
    got = (p5.gd_rate(mu, beta, eta), p5.gd_rate_sqrt_deficit(mu, beta, eta),
           p5.adz_rate(mu, beta, eta), p5.adz_rate_sqrt_deficit(mu, beta, eta),
           p5.gd_rate_sqrt_deficit_ratio(mu, beta, eta), p5.adz_rate_sqrt_deficit_ratio(mu, beta, eta))
    step = mpmath.mpf(mu) * mpmath.mpf(eta)
    for value, exact in zip(got, (q, deficit, adz, adz_deficit, deficit / step, adz_deficit / step)):
        assert float(value) == pytest.approx(float(exact), rel=2e-12, abs=1e-300)


@pytest.mark.parametrize(("mu", "beta", "eta"), EXTREMES)
@pytest.mark.parametrize("lam", [1e-6, 1.0, 1e6])
def test_p5_generated_optimal_steps_are_accurate_at_extremes(mu, beta, eta, lam):
    _, deficit, _, _ = _mp_rates(mu, beta, eta)
    with mpmath.workdps(50):
        c = lam * 1.0 * beta * mpmath.mpf(eta) ** 2 / deficit**2
        k_cont = 2 * mpmath.log(c / (1 + c)) / mpmath.log((1 - deficit) ** 2)
        gain = 1 - (1 - deficit) ** (2 * mpmath.floor(k_cont)) - c * (1 - (1 - deficit) ** mpmath.floor(k_cont)) ** 2
    got_ratio = p5.gd_rate_sqrt_deficit_ratio(mu, beta, eta)
    if float(deficit) < 1:
        with np.errstate(all="ignore"):
            got_k = float(p5.optimal_steps(lam, 1.0, mu, beta, eta, got_ratio))
        assert got_k == pytest.approx(float(k_cont), rel=1e-11)
        with np.errstate(all="ignore"):
            got_gain = float(p5.discrete_net_gain(math.floor(got_k), 1.0, lam, 1.0, mu, beta, eta, got_ratio))
        assert got_gain == pytest.approx(float(gain), rel=1e-9, abs=1e-15)
