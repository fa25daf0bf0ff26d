"""K2: the tilted policy's exact trade-off against mpmath sums, K1's bound, and its small-s law."""

import mpmath as mp
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from nondecoupling import ParameterError, kl_bernoulli, tilt, tilted_tradeoff
from nondecoupling._generated.k2 import tilted_rate
from nondecoupling.derivations import k2_tilted_policy

tilts = (st.floats(0, 50) | st.floats(50, 2000) | st.floats(-300, -1).map(lambda e: 10.0**e)
         | st.sampled_from([0.0, 5e-324, 1e-8, 700.0, 1e3]))


def _instance(seed, n, binary, sparse=False):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(n, rng.choice([0.1, 1.0, 10.0])))
    if sparse:
        probs[rng.random(n) < 0.3] = 0.0
        probs = probs / probs.sum() if probs.sum() > 0 else np.full(n, 1.0 / n)
    rewards = (rng.random(n) < 0.5).astype(float) if binary else rng.random(n)
    return probs, rewards


def reference(s, probs, rewards):
    """(reward, SFT increase, RL KL) from the definitions, with digits enough for s -> 0."""
    with mp.workdps(60 + int(3 * max(0.0, -np.log10(s + 1e-320)))):
        s = mp.mpf(s)
        p = [mp.mpf(x) for x in probs]
        p = [x / mp.fsum(p) for x in p]
        r = [mp.mpf(x) for x in rewards]
        tilted = [x * mp.exp(s * y) for x, y in zip(p, r)]
        mass = mp.fsum(tilted)
        tilted = [x / mass for x in tilted]
        rate = mp.fsum(x * y for x, y in zip(p, r))
        reward = mp.fsum(x * y for x, y in zip(tilted, r))
        sft = mp.fsum(x * mp.log(x / y) for x, y in zip(p, tilted) if x > 0)  # KL(p*||pi_s)
        rl = mp.fsum(x * mp.log(x / y) for x, y in zip(tilted, p) if x > 0)  # KL(pi_s||p*)
        return [+v for v in (reward, sft, rl)], rate


def test_derivation_is_proven():
    assert k2_tilted_policy.derive().proven


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 8), s=tilts, binary=st.booleans(),
       sparse=st.booleans())
def test_matches_the_definitions(seed, n, s, binary, sparse):
    probs, rewards = _instance(seed, n, binary, sparse)
    got = tilted_tradeoff(s, probs, rewards)
    expected, _ = reference(s, probs, rewards)
    for value, exact in zip(got, expected):
        # Relative accuracy degrades like s * eps; the rounding of a = E r adds (s eps)^2.
        assert abs(mp.mpf(value) - exact) <= 1e-12 * (1 + s) * abs(exact) + (4e-16 * s) ** 2 + 1e-300


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 8), s=tilts, binary=st.booleans(),
       sparse=st.booleans())
def test_scalar_fast_path_matches_the_definitions(seed, n, s, binary, sparse):
    # Plain lists take the math fast path (issue 25); held to the same mpmath reference and bound.
    probs, rewards = (x.tolist() for x in _instance(seed, n, binary, sparse))
    assert tilt._plain_input(s, probs, rewards)  # the path under test is the one taken
    got = tilted_tradeoff(s, probs, rewards)
    assert all(type(value) is float for value in got)
    expected, _ = reference(s, probs, rewards)
    for value, exact in zip(got, expected):
        assert abs(mp.mpf(value) - exact) <= 1e-12 * (1 + s) * abs(exact) + (4e-16 * s) ** 2 + 1e-300


@pytest.mark.parametrize("s, probs, rewards", [
    (1.0, [0.5, 0.5], (0, 1)),  # ints and tuples are plain numbers too
    (800.0, [0.25, 0.75], [1.0, 0.0]),  # the overflow guard: centred at the best reward
    (0.0, [1.0, 0.0], [0.3, 0.9]),  # an off-support response
])
def test_scalar_fast_path_takes_the_branches(s, probs, rewards):
    assert tilt._plain_input(s, probs, rewards)
    got = tilted_tradeoff(s, probs, rewards)
    expected, _ = reference(s, probs, rewards)
    for value, exact in zip(got, expected):
        assert abs(mp.mpf(value) - exact) <= 1e-12 * (1 + s) * abs(exact) + 1e-300


@pytest.mark.parametrize("s, probs, rewards", [
    (True, [0.5, 0.5], [0.0, 1.0]), (1.0, [0.5, True], [0.0, 1.0]), (-1.0, [0.5, 0.5], [0.0, 1.0]),
    (1.0, [0.5, 0.6], [0.0, 1.0]), (1.0, [0.5, 0.5], [0.0, 1.5]), (1.0, [0.5, 0.5], [0.0, 1.0, 0.5]), (float("inf"), [1.0], [1.0]),
])
def test_scalar_fast_path_leaves_invalid_input_to_the_array_path(s, probs, rewards):
    assert not tilt._plain_input(s, probs, rewards)
    with pytest.raises(ParameterError):
        tilted_tradeoff(s, probs, rewards)


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 8), s=tilts)
def test_binary_reward_meets_k1_with_equality(seed, n, s):
    probs, rewards = _instance(seed, n, binary=True)
    rewards[:2] = 1.0, 0.0
    probs[:2] += 0.1
    probs /= probs.sum()
    a = probs @ rewards
    reward, increase, rl_kl = tilted_tradeoff(s, probs, rewards)
    assert reward == pytest.approx(tilted_rate(s, a), rel=1e-13)
    # kl(a||b) is ill-conditioned near b = 1, so b(s) = a e^s / (1 - a + a e^s) stays exact here.
    with mp.workdps(60 + int(3 * max(0.0, -np.log10(s + 1e-320)))):
        a_, s_ = mp.mpf(a), mp.mpf(s)
        b = a_ / (a_ + (1 - a_) * mp.exp(-s_))
        b_complement = (1 - a_) * mp.exp(-s_) / (a_ + (1 - a_) * mp.exp(-s_))  # 1 - b, not rounded

        def kl(x, x_complement, y, y_complement):
            return x * mp.log(x / y) + x_complement * mp.log(x_complement / y_complement)

        for value, exact in ((increase, kl(a_, 1 - a_, b, b_complement)), (rl_kl, kl(b, b_complement, a_, 1 - a_))):
            assert abs(mp.mpf(value) - exact) <= 1e-12 * (1 + s) * exact + (4e-16 * s) ** 2 + 1e-300


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 8), s=tilts)
def test_graded_reward_pays_at_least_k1(seed, n, s):
    probs, rewards = _instance(seed, n, binary=False)
    reward, increase, rl_kl = tilted_tradeoff(s, probs, rewards)
    a = probs @ rewards
    assert reward >= a * (1 - 1e-15) and rl_kl >= 0
    assert increase >= kl_bernoulli(a, min(reward, 1.0)) * (1 - 1e-12 * (1 + s)) - (4e-16 * (1 + s)) ** 2


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 8), s=st.floats(1e-6, 1e-3))
def test_small_tilt_law(seed, n, s):
    # SFT increase = gain^2 / (2 Var) - kappa3 s^3 / 3 + O(s^4), |kappa3| <= Var (rewards in [0, 1]).
    probs, rewards = _instance(seed, n, binary=False)
    variance = probs @ (rewards - probs @ rewards) ** 2
    assume(variance > 1e-6)
    reward, increase, _ = tilted_tradeoff(s, probs, rewards)
    gain = reward - probs @ rewards
    law = gain**2 / (2 * variance)
    assert abs(increase / law - 1) <= s + 1e-15 / (s * variance)  # gain: a difference of O(1) floats


def test_tilt_zero_and_constant_rewards():
    probs, rewards = _instance(1, 5, binary=False)
    assert tilted_tradeoff(0.0, probs, rewards) == (pytest.approx(probs @ rewards, rel=1e-15), 0.0, 0.0)
    reward, increase, rl_kl = tilted_tradeoff(3.0, probs, np.full(5, 0.25))
    assert reward == pytest.approx(0.25, rel=1e-15) and increase < 1e-28 and rl_kl < 1e-28


def test_broadcasting():
    probs = np.array([[0.2, 0.8], [0.5, 0.5]])
    rewards = np.array([1.0, 0.0])
    s = np.array([[0.0], [1.0], [2.0]])
    out = tilted_tradeoff(s, probs, rewards)
    assert all(v.shape == (3, 2) for v in out)
    assert out[0][1, 1] == pytest.approx(tilted_rate(1.0, 0.5), rel=1e-15)


@pytest.mark.parametrize("name, s, probs, rewards", [
    ("s", -0.1, [0.5, 0.5], [0, 1]),
    ("s", np.nan, [0.5, 0.5], [0, 1]),
    ("s", np.inf, [0.5, 0.5], [0, 1]),
    ("probs", 1.0, [0.5, 0.6], [0, 1]),
    ("probs", 1.0, [1.5, -0.5], [0, 1]),
    ("probs", 1.0, 1.0, 1.0),
    ("rewards", 1.0, [0.5, 0.5], [0, 1.5]),
    ("rewards", 1.0, [0.5, 0.5], [0, 1, 1]),
    ("s", [1.0, 2.0, 3.0], [[0.5, 0.5], [0.1, 0.9]], [0, 1]),
])
def test_invalid_input_names_the_parameter(name, s, probs, rewards):
    with pytest.raises(ParameterError, match=f"parameter '[^']*{name}"):
        tilted_tradeoff(s, probs, rewards)
