"""V1-V3, V5: the paper's statements (THEORY.md section V) as library functions.

V1 against K2 and a direct sum, V2's Pinsker bound and kl band on random policies with their
tight instances, V3's claim refuted (section V's instance and the tie family) and its
corrected version exactly where it is positive, V5's two readings of "threshold".
"""

import math
import warnings

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nondecoupling import (
    ParameterError,
    guaranteed_reward_drop,
    nondecoupling_threshold,
    optimal_rl_duration,
    reward_change_band,
    reward_change_bound,
    sft_increase_after_kl_rl,
    theorem_4_1_as_stated,
    threshold_loss_level,
    threshold_time,
    tilted_tradeoff,
)
from nondecoupling.derivations import v1_sft_after_kl_rl, v3_reward_drop
from simulations.checks.v3_reward_drop import tie_instance
from tests.theory import fuzz_api

seeds = st.integers(0, 2**32 - 1)
rates = st.floats(0.0, 1.0)


def _kl(p, q):
    support = p > 0
    return float(np.sum(p[support] * np.log(p[support] / q[support])))


@pytest.mark.parametrize("module", [v1_sft_after_kl_rl, v3_reward_drop])
def test_derivation_is_proven(module):
    assert module.derive().proven


# ---- V1 ------------------------------------------------------------------------------------

@given(seed=seeds, prompts=st.integers(1, 4), responses=st.integers(2, 6), beta=st.floats(0.05, 50.0))
def test_v1_is_the_direct_sft_loss_difference_and_k2_averaged(seed, prompts, responses, beta):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(responses), size=prompts)
    rewards = rng.uniform(size=(prompts, responses))
    weights = rng.dirichlet(np.ones(prompts))
    c1 = sft_increase_after_kl_rl(probs, rewards, beta=beta, prompt_weights=weights)
    # The paper's form, summed directly: E_x[log Z_beta(x) - E_{p_D} r / beta] ...
    direct = weights @ (np.log(np.sum(probs * np.exp(rewards / beta), axis=1)) - np.sum(probs * rewards, axis=1) / beta)
    # ... and the SFT loss difference of p_RL = p_D e^{r/beta} / Z itself.
    rl = probs * np.exp(rewards / beta)
    rl /= rl.sum(axis=1, keepdims=True)
    loss_gap = weights @ np.array([_kl(p, q) for p, q in zip(probs, rl)])
    k2 = weights @ tilted_tradeoff(1.0 / beta, probs, rewards)[1]
    assert c1 == pytest.approx(direct, rel=1e-9, abs=1e-14)
    assert c1 == pytest.approx(loss_gap, rel=1e-9, abs=1e-14)
    assert c1 == pytest.approx(k2, rel=1e-12, abs=1e-300)
    assert c1 >= 0


@given(seed=seeds, responses=st.integers(3, 6), beta=st.floats(0.05, 50.0), level=rates)
def test_v1_zero_iff_reward_constant_on_the_support(seed, responses, beta, level):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(responses))
    probs[0] = 0.0  # off the support the reward may be anything
    probs /= probs.sum()
    rewards = np.full(responses, level)
    rewards[0] = rng.uniform()
    # Zero up to the rounding of a = E r, which tilt.py documents as (s eps)^2 absolute.
    assert sft_increase_after_kl_rl(probs, rewards, beta=beta) <= 4 * (np.finfo(float).eps / beta) ** 2
    rewards[1] = 1.0 - level if level != 0.5 else 0.0  # one response off the level, on the support
    assert sft_increase_after_kl_rl(probs, rewards, beta=beta) > 0.0


def test_v1_broadcasts_over_beta_and_decreases_in_it():
    probs, rewards = np.array([[0.2, 0.8], [0.5, 0.5]]), np.array([[1.0, 0.0], [0.3, 0.9]])
    betas = np.geomspace(0.1, 10, 9)
    c1 = sft_increase_after_kl_rl(probs, rewards, beta=betas)
    assert c1.shape == betas.shape and np.all(np.diff(c1) < 0)
    assert sft_increase_after_kl_rl(probs, rewards, beta=np.inf) == 0.0
    one = [sft_increase_after_kl_rl(p, r, beta=betas) for p, r in zip(probs, rewards)]
    np.testing.assert_allclose(c1, np.mean(one, axis=0), rtol=1e-14)


def _c1_reference(probs, rewards, beta):
    """C1 = log E_p exp((r - E_p r) / beta) with the exact 1/beta of the float beta (50 digits)."""
    with mp.workdps(50):
        p, r, tilt = [mp.mpf(x) for x in probs], [mp.mpf(x) for x in rewards], 1 / mp.mpf(beta)
        a = mp.fsum(x * y for x, y in zip(p, r))
        return mp.log(mp.fsum(x * mp.exp(tilt * (y - a)) for x, y in zip(p, r)))


@pytest.mark.parametrize("beta", [5e-324, 1e-310, 2.2250738585072014e-308, 1e-300, 0.3])
@pytest.mark.parametrize("rewards", [[0.0, 1.0, 0.5], [0.5, 0.5 + 2**-50, 0.5], [0.25, 0.25, 0.25], [1e-300, 0.0, 0.0]])
def test_v1_at_a_tiny_beta_is_the_exact_value_without_warnings(beta, rewards):
    # 1/beta overflowed: tilted_tradeoff's own parameter 's' was blamed, with an overflow warning (issue 20).
    # (Instances with an exact float mean E_p r: its rounding is a documented error, amplified by 1/beta.)
    probs = [0.25, 0.25, 0.5]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = sft_increase_after_kl_rl(probs, rewards, beta=beta)
    exact = _c1_reference(probs, rewards, beta)
    if exact > np.finfo(float).max:
        assert got == np.inf
    else:
        assert abs(got - exact) <= 1e-13 * exact + 1e-300


@pytest.mark.parametrize("kwargs, name", [
    (dict(probs=[0.5, 0.5], rewards=[1, 0], beta=0.0), "beta"),
    (dict(probs=[0.5, 0.6], rewards=[1, 0], beta=1.0), "probs"),
    (dict(probs=[0.5, 0.5], rewards=[1.5, 0], beta=1.0), "rewards"),
    (dict(probs=[[0.5, 0.5]], rewards=[1, 0], beta=1.0, prompt_weights=[0.5, 0.5]), "prompt_weights"),
    (dict(probs=np.full((2, 2, 2), 0.5), rewards=[1, 0], beta=1.0), "probs"),
])
def test_v1_bad_input_names_the_parameter(kwargs, name):
    with pytest.raises(ParameterError, match=f"'{name}'"):
        sft_increase_after_kl_rl(**kwargs)


# ---- V2 ------------------------------------------------------------------------------------

def _random_policies(rng, prompts, responses):
    rl = rng.dirichlet(np.full(responses, 0.7), size=prompts)
    sft = rng.dirichlet(np.full(responses, 0.7), size=prompts)
    return rl, sft, rng.uniform(size=(prompts, responses)), rng.dirichlet(np.ones(prompts))


directions = st.sampled_from(["sft||rl", "rl||sft"])


@given(seed=seeds, prompts=st.integers(1, 4), responses=st.integers(2, 6), direction=directions)
def test_v2_pinsker_and_band_hold_for_random_policies(seed, prompts, responses, direction):
    rl, sft, rewards, weights = _random_policies(np.random.default_rng(seed), prompts, responses)
    j_rl, j_sft = weights @ np.sum(rl * rewards, axis=1), weights @ np.sum(sft * rewards, axis=1)
    first, second = (sft, rl) if direction == "sft||rl" else (rl, sft)
    budget = weights @ np.array([_kl(p, q) for p, q in zip(first, second)])
    pinsker = reward_change_bound(budget)
    assert abs(j_sft - j_rl) <= pinsker * (1 + 1e-12)
    lower, upper = reward_change_band(j_rl, budget, kl_direction=direction)
    assert lower - 1e-12 <= j_sft <= upper + 1e-12
    assert j_rl - pinsker - 1e-12 <= lower and upper <= j_rl + pinsker + 1e-12  # never wider than Pinsker


@given(rl_rate=st.floats(0.05, 0.95), shift=st.floats(0.01, 0.9), upward=st.booleans(), direction=directions)
def test_v2_band_tight_on_a_within_class_rescaling(rl_rate, shift, upward, direction):
    """Binary reward, pi_SFT a rescaling of pi_RL within each class: KL = kl, the rate on the edge."""
    sft_rate = rl_rate + shift * ((1 - rl_rate) if upward else -rl_rate)
    rl = np.array([rl_rate / 2, rl_rate / 2, 1 - rl_rate])
    sft = np.array([sft_rate / 2, sft_rate / 2, 1 - sft_rate])
    budget = _kl(sft, rl) if direction == "sft||rl" else _kl(rl, sft)
    lower, upper = reward_change_band(rl_rate, budget, kl_direction=direction)
    assert sft_rate == pytest.approx(upper if upward else lower, rel=1e-9, abs=1e-12)


def test_v2_each_direction_needs_its_own_inverse():
    """With the other direction's inverse the tight rate falls outside the band."""
    rl, sft = np.array([0.15, 0.15, 0.7]), np.array([0.4, 0.4, 0.2])
    upper_first = reward_change_band(0.3, _kl(sft, rl), kl_direction="sft||rl")[1]
    upper_second = reward_change_band(0.3, _kl(sft, rl), kl_direction="rl||sft")[1]
    assert upper_first == pytest.approx(0.8, rel=1e-9) and upper_second < 0.8 - 1e-3


def test_v2_pinsker_asymptotically_tight():
    ratios = []
    for d in (1e-1, 1e-2, 1e-3):
        rl, sft = np.array([0.5, 0.5]), np.array([0.5 + d, 0.5 - d])
        ratios.append(d / reward_change_bound(_kl(sft, rl)))
    assert ratios[-1] == pytest.approx(1.0, rel=1e-5) and np.all(np.diff(ratios) > 0)


def test_v2_unknown_direction_is_named():
    with pytest.raises(ParameterError, match="'kl_direction'"):
        reward_change_band(0.5, 0.1, kl_direction="forward")


# ---- V3 ------------------------------------------------------------------------------------

def test_v3_section_v_counterexample_refutes_the_claim():
    check = theorem_4_1_as_stated([0.5, 0.5], [0.75, 0.25], [0.0, 0.0], kl_low=0.1, kl_high=0.2)
    assert check.expected_kl == pytest.approx(0.75 * np.log(1.5) + 0.25 * np.log(0.5), rel=1e-14)
    assert check.assumption_holds and check.reward_drop == 0.0 and not check.conclusion_holds
    assert check.counterexample


@given(seed=seeds, responses=st.integers(3, 8), levels=st.integers(1, 3))
def test_v3_reward_ties_on_the_support_refute_the_claim(seed, responses, levels):
    rl, sft, rewards = tie_instance(np.random.default_rng(seed), responses=responses, levels=min(levels, responses - 1))
    kl = _kl(sft, rl)
    check = theorem_4_1_as_stated(rl, sft, rewards, kl_low=kl / 2, kl_high=2 * kl)
    assert check.assumption_holds and check.counterexample
    assert abs(check.reward_drop) < 1e-12


def test_v3_claim_check_can_say_the_conclusion_holds():
    check = theorem_4_1_as_stated([0.2, 0.8], [0.5, 0.5], [0.0, 1.0], kl_low=0.1, kl_high=0.5)
    assert check.assumption_holds and check.conclusion_holds and not check.counterexample
    assert check.reward_drop == pytest.approx(0.3)


def _true_kl(a: float, b: float):
    """The fuzzer's kl reference with 2300 bits: 1 - a and 1 - b are exact for any doubles, and a log
    near 0 keeps its relative accuracy."""
    with mp.workprec(2300):
        return fuzz_api.kl(a, b)


@given(a=rates, b_rl=rates, eps=st.floats(0.0, 3.0))
def test_v3_corrected_drop_is_safe_and_positive_beyond_the_edge(a, b_rl, eps):
    """A drop is claimed only where the TRUE kl(a||b_RL) exceeds eps (b_RL outside the band; the
    inner end kl_inverse_upper returns would claim one a few ulps inside it), and one is claimed
    wherever b_RL lies beyond the edge by more than the few floats of the outer end's margin."""
    drop = guaranteed_reward_drop(expert_pass_rate=a, rl_pass_rate=b_rl, sft_excess=eps)
    assert drop >= 0.0
    if drop > 0:
        assert b_rl > a and _true_kl(a, b_rl) > eps
    inside = math.nextafter(math.nextafter(b_rl, 0.0), 0.0)  # two floats back towards a
    if b_rl > a and inside > a and _true_kl(a, inside) > eps * (1 + 1e-12) + 1e-320:
        assert drop > 0


def test_v3_corrected_bound_shrinks_to_zero_as_the_excess_grows_and_names_bad_input():
    drops = guaranteed_reward_drop(expert_pass_rate=0.3, rl_pass_rate=0.9, sft_excess=np.geomspace(1e-6, 10, 20))
    assert np.all(np.diff(drops) <= 0) and drops[0] > 0.59 and drops[-1] == 0.0
    with pytest.raises(ParameterError, match="'sft_excess'"):
        guaranteed_reward_drop(expert_pass_rate=0.3, rl_pass_rate=0.9, sft_excess=-1.0)
    with pytest.raises(ParameterError, match="'kl_high'"):
        theorem_4_1_as_stated([0.5, 0.5], [0.75, 0.25], [0, 0], kl_low=0.2, kl_high=0.1)


# ---- V5 ------------------------------------------------------------------------------------

@given(lam=st.floats(0.01, 10), mu=st.floats(0.1, 2), ratio=st.floats(1, 10), beta_sft=st.floats(0.1, 5), sep=st.floats(0, 3))
def test_v5_names_each_reading_of_the_threshold(lam, mu, ratio, beta_sft, sep):
    assert threshold_time(lam=lam, mu_rl=mu, beta_rl=mu * ratio, beta_sft=beta_sft) == optimal_rl_duration(
        lam=lam, mu_rl=mu, beta_rl=mu * ratio, beta_sft=beta_sft)
    assert threshold_loss_level(sft_min=0.5, sep=sep, mu_sft=mu) == nondecoupling_threshold(sft_min=0.5, sep=sep, mu_sft=mu)
