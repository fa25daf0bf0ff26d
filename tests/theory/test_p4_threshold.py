"""P4: the non-decoupling threshold tau and the crossing time T_x, against THEORY.md's formulas."""

import math
import warnings

import mpmath
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from nondecoupling import ParameterError, crossing_time, nondecoupling_threshold, sft_degradation_bounds
from nondecoupling.derivations import p4_nondecoupling_threshold

positive = st.floats(1e-3, 1e3)
gap = st.floats(0.0, 1e3)


def crossing_reference(sft_gap0, rl_gap0, sep, mu_sft, mu_rl):
    """THEORY.md P4 (ii): T_x, 0 if the log is negative, inf if sep <= sqrt(2 eps_0/mu_sft); 50 digits."""
    margin = sep - mpmath.sqrt(2 * mpmath.mpf(sft_gap0) / mu_sft)
    if margin <= 0:
        return mpmath.inf
    if rl_gap0 == 0:
        return mpmath.mpf(0)
    return max(0, mpmath.log(mpmath.sqrt(2 * mpmath.mpf(rl_gap0) / mu_rl) / margin) / mu_rl)


def isotropic_instance(data, dim):
    """Random a, b, theta_0 in R^dim for L = (mu_sft/2)|x-a|^2, R = (mu_rl/2)|x-b|^2."""
    return tuple(np.array(data.draw(st.lists(st.floats(-10, 10), min_size=dim, max_size=dim))) for _ in range(3))


def test_every_derivation_step_is_proved():
    derivation = p4_nondecoupling_threshold.derive()
    assert derivation.steps and derivation.proven, str(derivation)


@given(st.floats(-1e3, 1e3), st.floats(0.0, 1e3), positive)
def test_threshold_is_theory_formula(sft_min, sep, mu_sft):
    with mpmath.workdps(50):
        reference = mpmath.mpf(sft_min) + mpmath.mpf(mu_sft) * mpmath.mpf(sep) ** 2 / 2
        value = nondecoupling_threshold(sft_min=sft_min, sep=sep, mu_sft=mu_sft)
        assert abs(value - reference) <= 1e-15 * (abs(sft_min) + mu_sft * sep**2)


@given(gap, gap, st.floats(0.0, 1.0), positive, positive)
def test_crossing_time_is_theory_formula(sft_gap0, rl_gap0, sep_fraction, mu_sft, mu_rl):
    # Realizable: sep <= sqrt(2 eps_0/mu_sft) + sqrt(2 Delta_0/mu_rl) (quadratic growth of both).
    sep = sep_fraction * (math.sqrt(2 * sft_gap0 / mu_sft) + math.sqrt(2 * rl_gap0 / mu_rl))
    value = crossing_time(sft_gap0=sft_gap0, rl_gap0=rl_gap0, sep=sep, mu_sft=mu_sft, mu_rl=mu_rl)
    with mpmath.workdps(50):
        reference = crossing_reference(sft_gap0, rl_gap0, sep, mu_sft, mu_rl)
        if mpmath.isinf(reference):
            assert value == math.inf
        else:
            # The log's argument has the cancellation sep - sqrt(2 eps_0/mu_sft) in its denominator.
            margin = sep - math.sqrt(2 * sft_gap0 / mu_sft)
            assert abs(value - reference) <= 1e-12 * reference + 4e-16 * (sep / margin + 1) / mu_rl


@given(st.floats(0.0, 0.999), st.floats(1e-6, 1e3), st.floats(1e-6, 1.0), positive, positive)
def test_crossing_time_is_where_p1_lower_envelope_reaches_the_start(sft_share, rl_gap0, margin_share, mu_sft, mu_rl):
    # A start inside both radii with sep up to P1's reach sqrt(2 Delta_0/mu_rl) (realizable).
    rl_reach = math.sqrt(2 * rl_gap0 / mu_rl)
    sft_radius = sft_share * rl_reach
    sft_gap0 = mu_sft * sft_radius**2 / 2
    sep = min(sft_radius + margin_share * (rl_reach - sft_radius), rl_reach)
    t_x = crossing_time(sft_gap0=sft_gap0, rl_gap0=rl_gap0, sep=sep, mu_sft=mu_sft, mu_rl=mu_rl)
    assume(0 < t_x < math.inf)
    lower, _ = sft_degradation_bounds(np.array([t_x, 1.5 * t_x + 1e-3]), rl_gap0=rl_gap0, sep=sep,
                                      mu_sft=mu_sft, beta_sft=mu_sft, mu_rl=mu_rl, beta_rl=mu_rl)
    assert lower[0] == pytest.approx(sft_gap0, rel=1e-9, abs=1e-12 * mu_sft * sep**2)
    assert lower[1] > sft_gap0


@given(st.integers(1, 5), st.data(), positive, positive, st.floats(1e-6, 1.0), st.floats(-50.0, 50.0))
def test_isotropic_quadratics_exceed_the_start_after_crossing_time(dim, data, mu_sft, mu_rl, later, sft_min):
    """Any theta_0 below tau: the exact flow's SFT loss is above L(theta_0) after T_x; L(theta_inf) = tau."""
    a, b, theta0 = isotropic_instance(data, dim)
    sep = np.linalg.norm(a - b)
    sft_excess = lambda x: mu_sft / 2 * np.sum((x - a) ** 2)  # noqa: E731  (L - L*, kept apart from L*)
    tau = nondecoupling_threshold(sft_min=sft_min, sep=sep, mu_sft=mu_sft)
    assert tau == pytest.approx(sft_min + sft_excess(b), rel=1e-12, abs=1e-12 * (1 + mu_sft * sep**2))
    sft_gap0, rl_gap0 = sft_excess(theta0), mu_rl / 2 * np.sum((theta0 - b) ** 2)
    assume(sft_gap0 < mu_sft * sep**2 / 2 * (1 - 1e-6))  # L(theta_0) < tau
    t_x = crossing_time(sft_gap0=sft_gap0, rl_gap0=rl_gap0, sep=sep, mu_sft=mu_sft, mu_rl=mu_rl)
    with mpmath.workdps(50):  # realizable: the log is >= 0 without the clamp (up to the inputs' rounding)
        margin = sep - mpmath.sqrt(2 * mpmath.mpf(sft_gap0) / mu_sft)
        assert mpmath.sqrt(2 * mpmath.mpf(rl_gap0) / mu_rl) / margin >= 1 - 1e-14 * (1 + sep / margin)
    t = t_x * (1 + later) + later / mu_rl
    assert sft_excess(b + (theta0 - b) * math.exp(-mu_rl * t)) > sft_gap0


@given(st.floats(1e-3, 0.999), st.floats(0.1, 10.0), positive, positive)
def test_tight_on_collinear_isotropic_instance(behind_fraction, sep, mu_sft, mu_rl):
    """Optima at 0 and sep on a line, theta_0 = -behind: T_x is the exact time L returns to L(theta_0)."""
    behind = behind_fraction * sep
    t_x = crossing_time(sft_gap0=mu_sft * behind**2 / 2, rl_gap0=mu_rl * (sep + behind) ** 2 / 2, sep=sep,
                        mu_sft=mu_sft, mu_rl=mu_rl)
    position = sep - (sep + behind) * math.exp(-mu_rl * t_x)  # exact flow; L = (mu_sft/2) x^2
    assert position == pytest.approx(behind, rel=1e-12, abs=1e-14 * sep)


@pytest.mark.parametrize("sft_gap0, rl_gap0, sep, expected", [
    (2.0, 2.0, 2.0, math.inf),  # sep == sqrt(2 eps_0/mu_sft): not guaranteed
    (0.0, 0.0, 0.0, math.inf),
    (8.0, 1.0, 2.0, math.inf),  # L(theta_0) > tau
    (0.5, 2.0, 3.0, 0.0),  # sep at the reach of both radii: theta_0 on the segment, crosses at once
])
def test_edge_cases_are_quiet(sft_gap0, rl_gap0, sep, expected):
    # (The inputs that used to be clamped, sep beyond both radii, are now rejected: see below.)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # (sqrt(2) sqrt(gap) rounds: a zero crossing time comes out within a few ulps of 0.)
        assert crossing_time(sft_gap0=sft_gap0, rl_gap0=rl_gap0, sep=sep, mu_sft=1.0, mu_rl=1.0) == pytest.approx(
            expected, abs=1e-15)


@pytest.mark.parametrize("sft_gap0, rl_gap0, sep", [(0.5, 0.0, 2.0), (0.5, 0.125, 2.0), (0.0, 0.0, 1.0)])
def test_unrealizable_separation_is_rejected_with_the_reason(sft_gap0, rl_gap0, sep):
    with pytest.raises(ParameterError, match="'sep'.*quadratic growth of both"):
        crossing_time(sft_gap0=sft_gap0, rl_gap0=rl_gap0, sep=sep, mu_sft=1.0, mu_rl=1.0)


@pytest.mark.parametrize("sft_gap0, rl_gap0, sep, mu_rl", [
    (1e-300, 1e300, 1.0, 1.0), (0.0, 1e-300, 1e-150, 1e-3), (1.0, 1e6, math.sqrt(2.0) * (1 + 1e-12), 1e3),
    (0.0, 1e-12, 1e-6, 1e-6), (4.5, 1e12, 3.0 + 1e-9, 1.0),
])
def test_extremes_against_mpmath(sft_gap0, rl_gap0, sep, mu_rl):
    value = crossing_time(sft_gap0=sft_gap0, rl_gap0=rl_gap0, sep=sep, mu_sft=1.0, mu_rl=mu_rl)
    with mpmath.workdps(50):
        reference = crossing_reference(sft_gap0, rl_gap0, sep, 1.0, mu_rl)
        margin = sep - math.sqrt(2 * sft_gap0)
        assert abs(value - reference) <= 1e-13 * reference + 4e-16 * (sep / margin + 1) / mu_rl


def test_broadcasting_and_scalar_returns():
    times = crossing_time(sft_gap0=np.array([[0.0], [0.5], [50.0]]), rl_gap0=2.0, sep=np.array([1.0, 2.0]),
                          mu_sft=1.0, mu_rl=1.0)
    assert times.shape == (3, 2)
    assert times[1, 1] == crossing_time(sft_gap0=0.5, rl_gap0=2.0, sep=2.0, mu_sft=1.0, mu_rl=1.0)
    assert np.isinf(times[2]).all()
    taus = nondecoupling_threshold(sft_min=np.array([0.0, 1.0]), sep=np.array([[1.0], [2.0]]), mu_sft=1.0)
    assert taus.shape == (2, 2)
    assert type(crossing_time(sft_gap0=0.5, rl_gap0=2.0, sep=2.0, mu_sft=1.0, mu_rl=1.0)) is float
    assert type(nondecoupling_threshold(sft_min=0.0, sep=1.0, mu_sft=1.0)) is float


@pytest.mark.parametrize("override, name", [
    (dict(sft_min=math.nan), "sft_min"), (dict(sft_min=math.inf), "sft_min"), (dict(sep=-1.0), "sep"),
    (dict(mu_sft=0.0), "mu_sft"), (dict(mu_sft=math.nan), "mu_sft"),
])
def test_threshold_invalid_input_names_the_parameter(override, name):
    with pytest.raises(ParameterError, match=f"parameter '{name}'"):
        nondecoupling_threshold(**{"sft_min": 0.0, "sep": 1.0, "mu_sft": 1.0, **override})


@pytest.mark.parametrize("override, name", [
    (dict(sft_gap0=-1.0), "sft_gap0"), (dict(rl_gap0=math.nan), "rl_gap0"), (dict(sep=-1e-9), "sep"),
    (dict(mu_sft=-1.0), "mu_sft"), (dict(mu_rl=0.0), "mu_rl"), (dict(rl_gap0=[1.0, -1.0]), "rl_gap0"),
])
def test_crossing_invalid_input_names_the_parameter(override, name):
    kwargs = {"sft_gap0": 0.5, "rl_gap0": 1.0, "sep": 2.0, "mu_sft": 1.0, "mu_rl": 1.0, **override}
    with pytest.raises(ParameterError, match=f"parameter '{name}'"):
        crossing_time(**kwargs)
