"""Each wrong formula of issue 20 (item 3), patched into the library, is flagged by a simulation check.

A mutant is the library's own source with one token replaced (:func:`mutated`), or its value
moved 1% in the unsafe direction; the check is the same assertion the simulation test runs
(imported from it), called at a fixed point of its regime. Each case first runs the check on
the unpatched library (it passes), then under the mutant (it must fail): a check that cannot fail
is no check.
"""

import numpy as np
import pytest

import nondecoupling
from nondecoupling import discrete, kl, paper
from nondecoupling._generated import p2, p5
from tests.simulations._mutation import mutated
from tests.simulations.test_sim_k3_reward_ceiling import assert_edge_attained
from tests.simulations.test_sim_p5_discrete_time import assert_upper_side_attained
from tests.simulations.test_sim_tight_regimes import _assert_attained, _p2_early, _p2_late
from tests.simulations.test_sim_v2_reward_change import assert_band_edge_attained, assert_pinsker_attained
from tests.simulations.test_sim_v5_threshold import assert_loss_level_is_where_rl_ends, assert_time_is_when_net_gain_peaks
from tests.theory.test_p5_discrete_envelopes import reference_rate

P2_CONSTANTS = dict(mu_sft=0.4, beta_sft=2.0, mu_rl=0.5, beta_rl=4.0, sep=1.0)
# P5's upper side p = (1 - beta eta)^2 instead of max(0, 1 - 2 beta eta - beta^2 eta^2): 1 - p = beta eta (2 - beta eta).
P5_UPPER_P_SQUARED = ("(beta*eta + 2)", "(2 - beta*eta)")


def _scaled_inward(function, factor, fixed_at=0):
    """``function``'s kl-inverse moved ``factor`` of the way back towards the fixed rate (argument ``fixed_at``)."""
    def narrowed(*args, **kwargs):
        fixed = args[fixed_at]
        return fixed + factor * (function(*args, **kwargs) - fixed)
    return narrowed


def _one_percent_off(function):
    return lambda **kwargs: 1.01 * function(**kwargs)


# (id, [(object, attribute, replacement factory)], check)
MUTANTS = [
    ("P5 upper side p=(1-beta eta)^2, array path",
     [(p5, "discrete_gain_upper", lambda: mutated(p5.discrete_gain_upper, *P5_UPPER_P_SQUARED))],
     lambda: assert_upper_side_attained(mu_fraction=0.3, eta_beta=1.5, beta_rl=1.0)),
    ("P5 upper side p=(1-beta eta)^2, scalar path",
     [(p5, "discrete_gain_upper_scalar", lambda: mutated(p5.discrete_gain_upper_scalar, *P5_UPPER_P_SQUARED))],
     lambda: assert_upper_side_attained(mu_fraction=0.3, eta_beta=1.5, beta_rl=1.0)),
    ("P5 upper side 1% low, both paths",
     [(p5, "discrete_gain_upper", lambda: mutated(p5.discrete_gain_upper, "return scaled_product((gap0,",
                                                   "return 0.99 * scaled_product((gap0,")),
      (p5, "discrete_gain_upper_scalar", lambda: mutated(p5.discrete_gain_upper_scalar, "return scaled_product_scalar((gap0,",
                                                          "return 0.99 * scaled_product_scalar((gap0,"))],
     lambda: assert_upper_side_attained(mu_fraction=0.3, eta_beta=1.9, beta_rl=2.0)),
    ("P2 upper min->max, t->0",
     [(p2, "reward_loss_upper", lambda: mutated(p2.reward_loss_upper, "reduce(minimum", "reduce(maximum"))],
     lambda: _assert_attained(_p2_early(P2_CONSTANTS, 0), tolerance=1e-4)),
    ("P2 upper min->max, t->inf",
     [(p2, "reward_loss_upper", lambda: mutated(p2.reward_loss_upper, "reduce(minimum", "reduce(maximum"))],
     lambda: _assert_attained(_p2_late(P2_CONSTANTS, 0), tolerance=1e-6)),
    ("P2 upper 1% low, anisotropic",
     [(p2, "reward_loss_upper", lambda: mutated(p2.reward_loss_upper, "return scaled_product((1/2, beta_rl",
                                                 "return 0.99 * scaled_product((1/2, beta_rl"))],
     lambda: _assert_attained(_p2_late(P2_CONSTANTS, 0), tolerance=1e-6)),
    *[(f"V2 band {direction} 1% narrower, {side}",
       [(kl, "_kl_inverse", lambda: _scaled_inward(kl._kl_inverse, 0.99, fixed_at=1))],
       lambda direction=direction, side=side: assert_band_edge_attained(direction=direction, raised=side == "lower edge"))
      for direction in ("sft||rl", "rl||sft") for side in ("lower edge", "upper edge")],
    ("V2 band directions swapped",
     [(nondecoupling, "reward_change_band", lambda: mutated(paper.reward_change_band, 'if kl_direction == "sft||rl"',
                                                    'if kl_direction != "sft||rl"'))],
     lambda: assert_band_edge_attained(direction="sft||rl", raised=True)),
    *[(f"V2 Pinsker radius 1% small, {direction}",
       [(nondecoupling, "reward_change_bound", lambda: mutated(paper.reward_change_bound, "return pinsker_radius(",
                                                                        "return 0.99 * pinsker_radius("))],
       lambda direction=direction: assert_pinsker_attained(direction)) for direction in ("sft||rl", "rl||sft")],
    ("V5 threshold_loss_level 1% off",
     [(nondecoupling, "threshold_loss_level", lambda: _one_percent_off(nondecoupling.threshold_loss_level))],
     lambda: assert_loss_level_is_where_rl_ends(mu_sft=0.4, kappa_sft=5.0, mu_rl=0.5, kappa_rl=8.0, sep=1.0, seed=0)),
    ("V5 threshold_loss_level with mu_sft scaled 1%",
     [(nondecoupling, "threshold_loss_level", lambda: mutated(paper.threshold_loss_level, "mu_sft=mu_sft)",
                                                              "mu_sft=1.01 * mu_sft)"))],
     lambda: assert_loss_level_is_where_rl_ends(mu_sft=0.4, kappa_sft=5.0, mu_rl=0.5, kappa_rl=8.0, sep=1.0, seed=0)),
    ("V5 threshold_time with lam scaled 1%",
     [(nondecoupling, "threshold_time", lambda: mutated(paper.threshold_time, "(lam=lam,", "(lam=1.01 * lam,"))],
     lambda: assert_time_is_when_net_gain_peaks(mu_sft=0.8, mu_rl=1.5, lam=1.0)),
    ("K3 scalar path 1% narrower, ceiling",
     [(kl, "_kl_inverse_scalar", lambda: _scaled_inward(kl._kl_inverse_scalar, 0.99))],
     lambda: assert_edge_attained(winners=2, losers=3, expert_rate=0.3, strength=3.0, scalar=True)),
    ("K3 scalar path 1% narrower, floor",
     [(kl, "_kl_inverse_scalar", lambda: _scaled_inward(kl._kl_inverse_scalar, 0.99))],
     lambda: assert_edge_attained(winners=2, losers=3, expert_rate=0.3, strength=-3.0, scalar=True)),
    ("K3 scalar path: whole side taken on Pinsker's word alone (looser)",
     [(kl, "_kl_inverse_scalar", lambda: mutated(kl._kl_inverse_scalar, "budget) and _divergence", "budget) or _divergence"))],
     lambda: assert_edge_attained(winners=2, losers=3, expert_rate=0.3, strength=3.0, scalar=True)),
]


@pytest.mark.parametrize(("patches", "check"), [case[1:] for case in MUTANTS], ids=[case[0] for case in MUTANTS])
def test_simulation_flags_the_mutant(monkeypatch, patches, check):
    check()  # the library as it is passes the check ...
    for owner, name, make in patches:
        monkeypatch.setattr(owner, name, make())
    with pytest.raises(AssertionError):  # ... and the mutant fails it
        check()


SHARP_MIN_TO_MAX = [  # each use of q_ADZ: the rate itself and the deficit 1 - sqrt(q), array and scalar paths
    ("gd_contraction", "np.minimum(rate, p5.adz", "np.maximum(rate, p5.adz"),
    ("_gd_contraction_scalar", "min(rate, p5.adz", "max(rate, p5.adz"),
    ("_deficit_ratio", "np.maximum(deficit, p5.adz", "np.minimum(deficit, p5.adz"),
    ("_deficit_ratio_scalar", "max(deficit, p5.adz", "min(deficit, p5.adz"),
]


def _assert_sharp_bounds_match_the_reference():
    """q_sharp and the sharp reward-gain lower side, on both paths, against the 50-digit min(q, q_ADZ)."""
    mu, beta, eta, k = 0.2, 1.0, 1.0, 3
    q = float(reference_rate(mu * eta, beta * eta, sharp=True))
    for rate in (mu, np.array([mu])):  # a plain float: the scalar path; an array: the array path
        assert float(np.squeeze(nondecoupling.gd_contraction(mu=rate, beta=beta, eta=eta, sharp=True))) == pytest.approx(q, rel=1e-14)
    for steps in (k, np.array([k])):
        lower, _ = nondecoupling.discrete_reward_gain_bounds(steps, rl_gap0=1.0, mu_rl=mu, beta_rl=beta, eta=eta, sharp=True)
        assert float(np.squeeze(lower)) == pytest.approx(1 - q**k, rel=1e-12)


@pytest.mark.parametrize(("function", "old", "new"), SHARP_MIN_TO_MAX, ids=[case[0] for case in SHARP_MIN_TO_MAX])
def test_sharp_min_to_max_is_caught_by_the_independent_reference(monkeypatch, function, old, new):
    """Not by a simulation: min -> max makes sharp=True return q, a looser but still valid rate, and no
    function is known to contract slower than the explicit max((1 - mu eta)^2, (1 - beta eta)^2) < q_ADZ
    for mu < beta (THEORY.md, P5's bracket), while at mu = beta min and max coincide. What catches it is
    the 50-digit reference of min(q, q_ADZ) typed from THEORY.md and ADZ 2023 (independent of the library)."""
    _assert_sharp_bounds_match_the_reference()
    monkeypatch.setattr(discrete, function, mutated(getattr(discrete, function), old, new))
    with pytest.raises(AssertionError):
        _assert_sharp_bounds_match_the_reference()
