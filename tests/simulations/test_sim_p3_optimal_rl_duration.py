"""P3: net gain of RL against the guaranteed g(t); t* is the true optimum on the tight instance."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from simulations.checks._common import PL_FAMILIES, SOLVER_RTOL, point_in, random_pair
from simulations.checks.p3_optimal_rl_duration import net_gain, simulated_optimum, tight_instance

seeds = st.integers(0, 2**32 - 1)
constants = st.floats(0.2, 5.0)
lams = st.floats(0.05, 20.0)
BATCH = 8


@given(mu_sft=constants, mu_rl=constants, lam=lams)
def test_tight_on_isotropic_quadratics(mu_sft, mu_rl, lam):
    problem, theta0 = tight_instance(mu_sft=mu_sft, mu_rl=mu_rl)
    curves = net_gain(problem, theta0, np.linspace(0.0, 6.0 / mu_rl, 40), lam=lam)
    scale = np.abs(curves.guaranteed).max()
    np.testing.assert_allclose(curves.gain, curves.guaranteed, rtol=1e-9, atol=1e-12 * scale)
    t_sim, best_gain = simulated_optimum(problem, theta0, lam=lam, horizon=8.0 / mu_rl)
    t_star = float(curves.t_star)
    assert np.isclose(t_sim, t_star, rtol=1e-5, atol=1e-7 / mu_rl)
    rl_gap0 = mu_rl / 2  # sep = 1
    c = lam * mu_sft / mu_rl
    assert np.isclose(best_gain, rl_gap0 / (1 + c), rtol=1e-10)
    if np.isfinite(curves.t_neg):
        at_t_neg = net_gain(problem, theta0, np.array([0.0, float(curves.t_neg)]), lam=lam).gain[-1]
        assert abs(at_t_neg) <= 1e-9 * rl_gap0


def test_a_bound_scaled_one_percent_unsafely_is_caught():
    problem, theta0 = tight_instance()
    curves = net_gain(problem, theta0, np.linspace(0.0, 4.0, 41), lam=1.0)
    positive = curves.guaranteed > 0
    assert np.any(curves.gain[positive] < 1.01 * curves.guaranteed[positive])
    t_star = float(curves.t_star)
    gains = net_gain(problem, theta0, np.array([0.0, 0.99 * t_star, t_star, 1.01 * t_star]), lam=1.0).gain
    assert gains[1] < gains[2] and gains[3] < gains[2]  # t* moved by 1% in either direction is worse


@given(seed=seeds, family=st.sampled_from(PL_FAMILIES), lam=lams)
def test_holds_on_random_instances(seed, family, lam):
    rng = np.random.default_rng(seed)
    problem = random_pair(rng, family, dim=4, batch=BATCH)
    theta0 = point_in(problem.sft.minimizers, rng)
    curves = net_gain(problem, theta0, np.linspace(0.0, 6.0 / np.min(problem.rl.mu), 30), lam=lam)
    assert np.min(curves.slack()) >= -SOLVER_RTOL
