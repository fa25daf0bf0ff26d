"""Tight in every regime, not only the isotropic one (P1, P3, P4, P5).

Each branch of P1's path-length bound (and of its upper SFT envelope) is attained in its
own regime on anisotropic quadratics; q_sharp < q strictly for mu < beta; t*, t_neg and tau
are checked on random non-isotropic instances. The bounds are the library's, looked up at
call time, and each check is shown to FAIL on a mutant of the library where min and max are
swapped (the mutant is the library's own source with that one token replaced, not a re-typed
formula).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nondecoupling
from nondecoupling import discrete
from nondecoupling._generated import p1, p2
from simulations.checks._common import point_in, random_pair
from simulations.checks.p3_optimal_rl_duration import net_gain
from simulations.checks.tight_regimes import (
    anisotropic_threshold_pair,
    branch_ratios,
    contraction_bracket,
    eigen_start_pair,
    final_sft_loss,
    mirrored_eigen_start_pair,
)
from tests.simulations._mutation import mutated

seeds = st.integers(0, 2**32 - 1)
SOLVER_TOLERANCE = 1e-8


@st.composite
def anisotropic_constants(draw):
    """mu < beta for both objectives, condition numbers 2..20."""
    mu_sft, mu_rl = draw(st.floats(0.2, 1.0)), draw(st.floats(0.2, 1.0))
    return dict(mu_sft=mu_sft, beta_sft=mu_sft * draw(st.floats(2.0, 20.0)),
                mu_rl=mu_rl, beta_rl=mu_rl * draw(st.floats(2.0, 20.0)), sep=draw(st.floats(0.3, 3.0)))


# ---- P1: each branch of ell(t) and of the upper envelope in its own regime -----------------

def _early(constants, seed):
    """Started on R's stiffest eigenvector, t -> 0: the second form of ell is attained."""
    problem, theta0 = eigen_start_pair(np.random.default_rng(seed), start="fast", **constants)
    return branch_ratios(problem, theta0, np.array([1e-5, 1e-4, 1e-3]) / constants["beta_rl"])


def _late(constants, seed):
    """Started on R's flattest eigenvector, t -> inf: the first form of ell is attained."""
    problem, theta0 = eigen_start_pair(np.random.default_rng(seed), start="slow", **constants)
    return branch_ratios(problem, theta0, np.array([10.0, 20.0, 40.0]) / constants["mu_rl"])


def _assert_attained(ratios, *, tolerance):
    for name in ("path", "upper"):
        values = getattr(ratios, name)
        assert np.all(values <= 1 + SOLVER_TOLERANCE), name  # the bound holds ...
        assert values[0] >= 1 - tolerance or values[-1] >= 1 - tolerance, (name, values)  # ... and is attained


@given(constants=anisotropic_constants(), seed=seeds)
def test_p1_second_branch_attained_as_t_to_0(constants, seed):
    ratios = _early(constants, seed)
    _assert_attained(ratios, tolerance=1e-4)
    assert np.all(np.diff(ratios.path) < 0)  # approached from below as t -> 0


@given(constants=anisotropic_constants(), seed=seeds)
def test_p1_first_branch_attained_as_t_to_inf(constants, seed):
    ratios = _late(constants, seed)
    _assert_attained(ratios, tolerance=1e-6)


@pytest.mark.parametrize("check", [_early, _late], ids=["t->0", "t->inf"])
@pytest.mark.parametrize("generated", ["path_length_bound", "sft_excess_upper"])
def test_p1_checks_catch_min_swapped_for_max(monkeypatch, check, generated):
    constants = dict(mu_sft=0.4, beta_sft=2.0, mu_rl=0.5, beta_rl=4.0, sep=1.0)
    monkeypatch.setattr(p1, generated, mutated(getattr(p1, generated), "reduce(minimum", "reduce(maximum"))
    ratios = check(constants, 0)
    name = "path" if generated == "path_length_bound" else "upper"
    with pytest.raises(AssertionError):
        _assert_attained(ratios, tolerance=1e-4)
    # The loosened bound misses by the factor sqrt(mu/beta) (its square for the envelope): far from 1.
    assert np.max(getattr(ratios, name)) < 0.5


# ---- P2: the same, for the SFT flow from an RL optimum (the upper envelope (beta_rl/2) ell_sft^2) --

def _p2_early(constants, seed):
    """Started on L's stiffest eigenvector, t -> 0: the second form of ell_sft is attained."""
    problem, theta0 = mirrored_eigen_start_pair(np.random.default_rng(seed), start="fast", **constants)
    return branch_ratios(problem, theta0, np.array([1e-5, 1e-4, 1e-3]) / constants["beta_sft"], theorem="P2")


def _p2_late(constants, seed):
    """Started on L's flattest eigenvector, t -> inf: the first form of ell_sft is attained."""
    problem, theta0 = mirrored_eigen_start_pair(np.random.default_rng(seed), start="slow", **constants)
    return branch_ratios(problem, theta0, np.array([10.0, 20.0, 40.0]) / constants["mu_sft"], theorem="P2")


P2_EXAMPLES = settings(max_examples=30)  # ~0.1 s each; P1's properties run the same code at full count


@P2_EXAMPLES
@given(constants=anisotropic_constants(), seed=seeds)
def test_p2_second_branch_attained_as_t_to_0(constants, seed):
    ratios = _p2_early(constants, seed)
    _assert_attained(ratios, tolerance=1e-4)
    assert np.all(np.diff(ratios.path) < 0)


@P2_EXAMPLES
@given(constants=anisotropic_constants(), seed=seeds)
def test_p2_first_branch_attained_as_t_to_inf(constants, seed):
    _assert_attained(_p2_late(constants, seed), tolerance=1e-6)


@pytest.mark.parametrize("check", [_p2_early, _p2_late], ids=["t->0", "t->inf"])
def test_p2_checks_catch_min_swapped_for_max(monkeypatch, check):
    constants = dict(mu_sft=0.4, beta_sft=2.0, mu_rl=0.5, beta_rl=4.0, sep=1.0)
    monkeypatch.setattr(p2, "reward_loss_upper", mutated(p2.reward_loss_upper, "reduce(minimum", "reduce(maximum"))
    ratios = check(constants, 0)
    with pytest.raises(AssertionError):
        _assert_attained(ratios, tolerance=1e-4)
    assert np.max(ratios.upper) < 0.5  # off by the factor mu_sft/beta_sft: far from 1


# ---- P5: q_sharp < q strictly for mu < beta; the bracket on the true worst case ------------

@st.composite
def step_problems(draw):
    beta = draw(st.floats(0.1, 10.0))
    return dict(mu=beta * draw(st.floats(0.001, 0.999)), beta=beta, eta=draw(st.floats(0.001, 1.999)) / beta)


def _assert_sharp_below_plain(case):
    sharp = nondecoupling.gd_contraction(**case, sharp=True)
    assert sharp < nondecoupling.gd_contraction(**case)


@given(case=step_problems())
def test_p5_sharp_rate_strictly_below_q_for_mu_below_beta(case):
    _assert_sharp_below_plain(case)


def test_p5_sharp_rate_equals_q_at_mu_equal_beta():
    assert nondecoupling.gd_contraction(mu=2.0, beta=2.0, eta=0.3, sharp=True) == pytest.approx(
        nondecoupling.gd_contraction(mu=2.0, beta=2.0, eta=0.3), rel=1e-12)


@pytest.mark.parametrize(("function", "old", "new", "mu"), [
    ("gd_contraction", "np.minimum(", "np.maximum(", [0.2]),  # the validated array path
    ("_gd_contraction_scalar", "min(rate, p5.adz", "max(rate, p5.adz", 0.2),  # the scalar fast path
], ids=["array", "scalar"])
def test_p5_check_catches_max_instead_of_min(monkeypatch, function, old, new, mu):
    monkeypatch.setattr(discrete, function, mutated(getattr(discrete, function), old, new))
    with pytest.raises(AssertionError):
        _assert_sharp_below_plain(dict(mu=mu, beta=1.0, eta=1.0))


@given(case=step_problems())
def test_p5_explicit_worst_function_stays_below_the_sharp_rate(case):
    """(mu x^2 + beta y^2)/2 from its eigenvectors: measured one-step rate <= q_sharp (the bracket's ends)."""
    bracket = contraction_bracket(mu=case["mu"], beta=case["beta"], etas=[case["eta"]])
    assert bracket.measured[0] <= bracket.sharp[0] * (1 + 1e-12) + 1e-15
    assert bracket.sharp[0] < bracket.plain[0]


def test_p5_bracket_at_the_issue_point():
    """mu/beta = 0.2, eta = 1/beta: explicit 0.64, q_ADZ = 8/11; PEPit's 0.6833 lies between (benchmarks/)."""
    bracket = contraction_bracket(mu=0.2, beta=1.0, etas=[1.0])
    assert bracket.measured[0] == pytest.approx(0.64, rel=1e-12)
    assert bracket.sharp[0] == pytest.approx(8 / 11, rel=1e-12) and bracket.plain[0] == pytest.approx(0.8, rel=1e-12)
    assert bracket.measured[0] < 0.6833 < bracket.sharp[0]


# ---- P3: t* and t_neg on random non-isotropic instances ------------------------------------

@given(seed=seeds, family=st.sampled_from(["anisotropic", "rank_deficient", "least_squares"]), lam=st.floats(0.05, 5.0))
def test_p3_t_star_and_t_neg_on_random_instances(seed, family, lam):
    rng = np.random.default_rng(seed)
    problem = random_pair(rng, family, dim=4, batch=())
    theta0 = point_in(problem.sft.minimizers, rng)
    constants = dict(lam=lam, mu_rl=problem.rl.mu, beta_rl=problem.rl.beta, beta_sft=problem.sft.beta)
    t_star = nondecoupling.optimal_rl_duration(**constants)
    t_neg = nondecoupling.rl_break_even_time(**constants)
    assert t_neg > t_star
    times = np.unique(np.r_[0.0, t_star, np.linspace(0.0, 3 * t_star, 31), t_neg if np.isfinite(t_neg) else 0.0])
    curves = net_gain(problem, theta0, times, lam=lam)
    gap0 = float(problem.rl_gap(theta0))
    scale = gap0 + 1e-300
    at_star = np.searchsorted(times, t_star)
    # t* maximizes the library's guarantee, which is Delta_0 / (1 + c) there ...
    assert np.all(curves.guaranteed <= curves.guaranteed[at_star] + 1e-12 * scale)
    # ... and the simulated net gain at t* is at least that guarantee.
    assert curves.gain[at_star] >= curves.guaranteed[at_star] - SOLVER_TOLERANCE * scale
    if np.isfinite(t_neg):
        at_neg = np.searchsorted(times, t_neg)
        assert abs(curves.guaranteed[at_neg]) <= 1e-9 * scale  # g(t_neg) = 0
        assert curves.gain[at_neg] >= -SOLVER_TOLERANCE * scale  # RL up to t_neg has not lost net


# ---- P4: tau attained without isotropy ------------------------------------------------------

@given(constants=anisotropic_constants(), seed=seeds)
def test_p4_tau_attained_on_anisotropic_instances(constants, seed):
    problem, theta0 = anisotropic_threshold_pair(np.random.default_rng(seed), **constants)
    tau = nondecoupling.nondecoupling_threshold(sft_min=problem.sft_min, sep=problem.sep, mu_sft=problem.sft.mu)
    final = final_sft_loss(problem, theta0, horizon=60.0 / constants["mu_rl"])
    assert problem.sep == pytest.approx(constants["sep"], rel=1e-9)
    assert final == pytest.approx(tau, rel=1e-9, abs=1e-12)


def test_p4_tau_with_beta_in_place_of_mu_is_caught():
    constants = dict(mu_sft=0.4, beta_sft=2.0, mu_rl=0.5, beta_rl=4.0, sep=1.0)
    problem, theta0 = anisotropic_threshold_pair(np.random.default_rng(0), **constants)
    wrong = nondecoupling.nondecoupling_threshold(sft_min=problem.sft_min, sep=problem.sep, mu_sft=problem.sft.beta)
    assert final_sft_loss(problem, theta0, horizon=120.0) < wrong - 0.5
