"""P4: the non-decoupling threshold tau and the crossing time T_x against long RL runs."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from simulations.checks._common import PL_FAMILIES, SOLVER_RTOL, random_pair
from simulations.checks.p4_nondecoupling_threshold import long_rl, random_below_threshold, tight_instance
from simulations.dynamics import rl_flow

seeds = st.integers(0, 2**32 - 1)
constants = st.floats(0.1, 5.0)
BATCH = 8


@given(mu_sft=constants, mu_rl=constants, sep=constants, behind=st.floats(0.01, 0.99), sft_min=st.floats(-2.0, 2.0))
def test_tight_on_isotropic_quadratics(mu_sft, mu_rl, sep, behind, sft_min):
    problem, theta0 = tight_instance(mu_sft=mu_sft, mu_rl=mu_rl, sep=sep, behind=behind * sep, sft_min=sft_min)
    run = long_rl(problem, theta0, horizon=80.0 / mu_rl, points=3)
    scale = max(abs(float(run.threshold)), mu_sft * sep**2)
    assert abs(float(run.final_loss - run.threshold)) <= 1e-10 * scale  # (i) with equality
    t_x = float(run.crossing_bound)
    at_crossing = rl_flow(problem, theta0, [0.0, t_x]).sft_excess[-1] + sft_min
    assert abs(float(at_crossing - run.start_loss)) <= 1e-10 * scale  # (ii): returns to L(theta_0) exactly at T_x


def test_a_bound_scaled_one_percent_unsafely_is_caught():
    problem, theta0 = tight_instance()
    run = long_rl(problem, theta0, horizon=80.0, points=3)
    assert run.final_loss < 1.01 * run.threshold
    t_x = float(run.crossing_bound)
    early = rl_flow(problem, theta0, [0.0, 0.99 * t_x]).sft_excess[-1] + problem.sft_min
    assert early < run.start_loss  # "L > L(theta_0) for all t > 0.99 T_x" is false


@given(seed=seeds, family=st.sampled_from(PL_FAMILIES))
def test_liminf_above_threshold_from_anywhere(seed, family):
    rng = np.random.default_rng(seed)
    problem = random_pair(rng, family, dim=4, batch=BATCH)
    theta0 = 2.0 * rng.standard_normal((BATCH, 4))
    run = rl_flow(problem, theta0, [0.0, 15.0 / np.min(problem.rl.mu)])
    # Finite-time form of (i): L(theta_T) >= L* + (mu/2)(sep - sqrt(2 Delta_T/mu_rl))_+^2, which tends to tau.
    constants = problem.constants
    reach = np.sqrt(2 * np.maximum(run.rl_gap[-1], 0.0) / constants["mu_rl"])  # a converged gap may round below 0
    floor = constants["mu_sft"] / 2 * np.maximum(0.0, constants["sep"] - reach) ** 2
    assert np.all(run.sft_excess[-1] >= floor - SOLVER_RTOL * np.maximum(1.0, floor))
    assert np.all(reach <= 1e-5 * np.maximum(constants["sep"], 1.0))  # the run is long enough to be the liminf


@given(seed=seeds, family=st.sampled_from(PL_FAMILIES))
def test_crossing_time_holds_below_threshold(seed, family):
    run = random_below_threshold(family, seed, batch=BATCH, horizon=10.0)
    assert np.all(run.start_loss < run.threshold)
    assert np.min(run.crossing_slack()) >= -SOLVER_RTOL


@given(seed=seeds, family=st.sampled_from(PL_FAMILIES))
def test_rl_first_lowers_sft_iff_gradients_align(seed, family):
    rng = np.random.default_rng(seed)
    problem = random_pair(rng, family, dim=4, batch=BATCH)
    theta0 = 2.0 * rng.standard_normal((BATCH, 4))
    inner = problem.inner_product(theta0)
    step = 1e-6 / max(1.0, float(np.max(problem.rl.beta)))
    change = np.diff(rl_flow(problem, theta0, [0.0, step]).sft_excess, axis=0)[0]
    clear = np.abs(inner) > 1e-6 * np.linalg.norm(problem.sft.grad(theta0), axis=-1) * np.linalg.norm(problem.rl.grad(theta0), axis=-1)
    assert np.all(np.sign(change[clear]) == -np.sign(inner[clear]))
