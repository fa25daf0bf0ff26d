"""The stationary points of GRPO's expected update (simulations.qwen3.grpo_stationary) against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nondecoupling import sft_increase_after_kl_rl
from nondecoupling.validation import ParameterError
from simulations.qwen3.grpo_stationary import (
    VARIANTS,
    increase_at_pass_rate,
    sequence_kl_pass_rate,
    stationary_pass_rate,
    token_kl_pass_rate,
)

rates = st.floats(0.05, 0.95)
betas = st.floats(0.1, 2.0)


def _expected_update(logits: np.ndarray, reference: np.ndarray, beta: float, variant: str, group_size: int) -> np.ndarray:
    """E over groups of G samples of TRL's per-sample update on a tabular softmax (answer 0 accepted), by
    enumerating every group: the brute force the closed forms must zero."""
    pi = np.exp(logits - logits.max())
    pi /= pi.sum()
    groups = np.array(list(itertools.product(range(len(pi)), repeat=group_size)))  # (groups, G)
    weight = pi[groups].prod(1)
    rewards = (groups == 0).astype(float)
    advantages = rewards - rewards.mean(1, keepdims=True)
    if variant == "group_std":
        advantages = advantages / (rewards.std(1, ddof=1, keepdims=True) + 1e-4)
    score = np.eye(len(pi))[groups] - pi  # grad of log pi(y) in the logits: (groups, G, answers)
    rho = reference[groups] / pi[groups]
    kl_weight = 1.0 - rho if variant == "k3" else np.log(1.0 / rho)  # d k3 / d log pi, or the reverse KL's log ratio
    per_sample = (advantages - beta * kl_weight)[..., None] * score
    return np.einsum("g,gsa->a", weight, per_sample) / group_size


@pytest.mark.parametrize("variant", ["group_mean", "group_std", "k3"])
@given(b0=rates, beta=betas)
def test_the_expected_update_vanishes_at_the_stationary_pass_rate(variant, b0, beta):
    group_size = 4
    reference = np.array([b0, (1 - b0) * 0.7, (1 - b0) * 0.3])
    b = float(stationary_pass_rate(b0, beta, variant, group_size=group_size))
    if variant == "k3":  # the forward KL's point also moves the wrong answers' proportions
        effective = beta * group_size / (group_size - 1)
        wrong = effective * reference[1:] / (effective + b)
    else:
        wrong = (1 - b) * reference[1:] / (1 - b0)
    policy = np.concatenate([[b], wrong])
    update = _expected_update(np.log(policy), reference, beta, variant, group_size)
    scale = _expected_update(np.log(reference), reference, beta, variant, group_size)  # the update at the start
    assert np.abs(update).max() <= 1e-6 * max(1.0, np.abs(scale).max())


def test_a_pass_rate_off_the_stationary_point_leaves_an_update():
    b = float(stationary_pass_rate(0.6, 0.5, "group_mean", group_size=4))
    reference = np.array([0.6, 0.28, 0.12])
    off = np.concatenate([[b * 1.01], (1 - b * 1.01) * reference[1:] / 0.4])
    assert np.abs(_expected_update(np.log(off), reference, 0.5, "group_mean", 4)).max() > 1e-4


@given(b0=rates, beta=betas)
def test_the_tilt_gives_the_libraries_c1_when_sft_is_exact(b0, beta):
    b = stationary_pass_rate(b0, beta, "tilt")
    expected = sft_increase_after_kl_rl(np.array([[b0, 1 - b0]]), np.array([[1.0, 0.0]]), beta=beta)
    assert float(increase_at_pass_rate(b, b0, b0)) == pytest.approx(float(expected), rel=1e-9, abs=1e-12)


@given(b0=rates, beta=betas)
def test_group_mean_is_the_tilt_at_a_larger_beta(b0, beta):
    assert stationary_pass_rate(b0, beta, "group_mean", group_size=8) == pytest.approx(stationary_pass_rate(b0, beta * 8 / 7, "tilt"))


@given(b0=rates, beta=betas)
def test_per_token_and_sequence_kl_agree_when_eos_is_certain(b0, beta):
    tilt = stationary_pass_rate(b0, beta, "tilt")
    assert token_kl_pass_rate(b0, 1.0, beta) == pytest.approx(tilt, rel=1e-12)
    assert sequence_kl_pass_rate(b0, 1.0, beta) == pytest.approx(tilt, rel=1e-12)


@given(b0=rates, eos=st.floats(0.3, 0.99), beta=betas)
def test_the_sequence_kl_point_is_the_tilt_of_the_whole_answer(b0, eos, beta):
    # The tilt of pi_SFT(c, EOS) = b0 e0 by e^{1/beta}, whatever the split between the two tokens.
    assert sequence_kl_pass_rate(b0, eos, beta) == pytest.approx(stationary_pass_rate(b0 * eos, beta, "tilt"), rel=1e-10)
    token, sequence = token_kl_pass_rate(b0, eos, beta), sequence_kl_pass_rate(b0, eos, beta)
    assert abs(np.log(token / (1 - token)) - np.log(sequence / (1 - sequence))) > 1e-6  # they differ in log-odds


@pytest.mark.parametrize(("args", "name"), [((0.6, 0.0, "tilt"), "beta"), ((1.0, 0.5, "tilt"), "b0"),
                                            ((0.6, 0.5, "ppo"), "variant")])
def test_bad_input_names_its_parameter(args, name):
    with pytest.raises(ParameterError, match=name):
        stationary_pass_rate(*args)


def test_every_variant_is_listed():
    assert {v: float(stationary_pass_rate(0.6, 1.0, v)) for v in VARIANTS}["tilt"] == pytest.approx(0.80305, abs=1e-5)
