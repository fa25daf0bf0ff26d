"""crossing_time and discrete_sft_degradation_bounds at the edge sep = reach (the fuzz's EDGE_REACH).

Each instance puts sep at the float nearest the exact reach (60-digit mpmath) and one ulp either
side, in each regime where a different branch of the formula is active, and checks both paths
(Python floats: the ``math`` fast path; 0-d arrays: numpy) against the mpmath references of
:mod:`tests.theory.fuzz_api` under the accuracy the docstrings state, never one path against the other:

- crossing_time is ill-conditioned there (it jumps from inf to 0 within an ulp of sep where the
  RL reach is below an ulp of the SFT start, and is 0 with an infinite relative condition number
  where it is not): its result must lie in the documented interval over the distances' rounding
  (``CROSSING_DISTANCE_ERROR``, ``CROSSING_RELATIVE_ERROR``). Beyond that rounding the branch is
  decided exactly (checked a few ulps out), and near the edge the interval is a narrow forward bound.
- discrete_sft_degradation_bounds' lower side cancels (sep - r q^{k/2}) but is well-conditioned in
  absolute terms: within 1e-12 relative plus 2**-50 mu_sft (sep^2 + r^2 q^k) (inf past the largest
  float). On the tight
  instance (isotropic, eta mu_rl <= 1) the exact lower equals the upper, and rounding must not put
  the returned lower above the returned upper.
"""

import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from nondecoupling import crossing_time, discrete_sft_degradation_bounds
from tests.theory import fuzz_api

DIGITS = 60
PATHS = {"math": float, "numpy": np.asarray}  # Python floats take the fast path, 0-d arrays the array path
ULPS = (-1, 0, 1)


def _nearest(value) -> float:
    """The float nearest an mpmath value (mpmath rounds to nearest)."""
    return float(value)


def _ulps_from(x: float, n: int) -> float:
    for _ in range(abs(n)):
        x = math.nextafter(x, math.copysign(math.inf, n))
    return x


def _reach(gap, mu):
    with mp.workdps(DIGITS):
        return mp.sqrt(2 * mp.mpf(gap) / mp.mpf(mu))


def _crossing_interval(**kwargs):
    with mp.workdps(DIGITS):
        (interval,), _, _ = fuzz_api.ref_crossing_time(**kwargs)
    return interval


def _in_interval(got, interval) -> bool:
    """fuzz_api.close on an interval reference: inside, or inf for a value past the largest float."""
    return fuzz_api.close(got, interval, 0, (0, math.inf))


def _edge_sep(sft_gap0, rl_gap0, mu_sft, mu_rl, ulps=0) -> float:
    with mp.workdps(DIGITS):
        return _ulps_from(_nearest(_reach(sft_gap0, mu_sft) + _reach(rl_gap0, mu_rl)), ulps)


def _crossing(path, **kwargs):
    return float(crossing_time(**{key: PATHS[path](value) for key, value in kwargs.items()}))


# ----------------------------------------------------------------------------- crossing_time
#: (sft_gap0, rl_gap0, mu_sft, mu_rl) per regime at the edge sep = start + reach.
CROSSING_REGIMES = {
    "no RL reach: inf for sep <= start, 0 beyond (the jump)": (0.5, 0.0, 1.0, 1.0),
    "RL reach below an ulp of the start (the jump, T from 0 to inf)": (3.0, 1e-40, 0.7, 1.3),
    "no SFT gap: T = ln(r/sep)/mu_rl = 0 (the clamp)": (0.0, 0.5, 1.0, 3.0),
    "both distances alike: T = 0 (the clamp)": (0.3, 0.7, 1.1, 0.9),
    "huge gaps, tiny mu_rl: T = 0 past the float range of 1/mu_rl": (1e300, 3e299, 1e-5, 1e-300),
    "subnormal gaps, huge mu: subnormal distances": (5e-320, 7e-321, 1e10, 1e12),
    "subnormal mu_rl: the slope 1/(mu_rl r) overflows": (1.0, 2.0, 1.0, 5e-320),
}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("ulps", ULPS)
@pytest.mark.parametrize("regime", CROSSING_REGIMES)
def test_crossing_time_at_the_edge_is_in_the_documented_interval(regime, ulps, path):
    sft_gap0, rl_gap0, mu_sft, mu_rl = CROSSING_REGIMES[regime]
    kwargs = dict(sft_gap0=sft_gap0, rl_gap0=rl_gap0, sep=_edge_sep(sft_gap0, rl_gap0, mu_sft, mu_rl, ulps),
                  mu_sft=mu_sft, mu_rl=mu_rl)
    interval = _crossing_interval(**kwargs)
    got = _crossing(path, **kwargs)
    assert _in_interval(got, interval), (got, interval)


def test_the_crossing_interval_is_tight_at_the_edge():
    """The bound is not vacuous: where T = 0 at the edge it allows a few ulps of 1/mu_rl only."""
    kwargs = dict(sft_gap0=0.3, rl_gap0=0.7, mu_sft=1.1, mu_rl=0.9)
    interval = _crossing_interval(sep=_edge_sep(**kwargs), **kwargs)
    assert interval[1] * kwargs["mu_rl"] < 2**-46


@pytest.mark.parametrize("path", PATHS)
def test_crossing_time_decides_the_jump_beyond_the_rounding(path):
    """With no RL reach, 8 ulps below the start T = inf and 8 ulps above T = 0: only the distances'
    rounding (2**-50 = 4 ulps relative) leaves the branch open."""
    kwargs = dict(sft_gap0=0.5, rl_gap0=0.0, mu_sft=1.0, mu_rl=1.0)
    assert _crossing(path, sep=_edge_sep(**kwargs, ulps=-8), **kwargs) == math.inf
    assert _crossing(path, sep=_edge_sep(**kwargs, ulps=8), **kwargs) == 0.0


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("below", [2.0**-40, 2.0**-20, 0.5])
def test_crossing_time_near_the_edge_is_a_narrow_forward_bound(below, path):
    """sep = (start + reach)(1 - below): T = -ln(1 - below r_share)/mu_rl, with the interval's width
    (the rounding of sep, start and reach amplified by sep/(sep - start)) about 2**-47/below relative."""
    kwargs = dict(sft_gap0=0.2, rl_gap0=0.8, mu_sft=1.0, mu_rl=2.0)
    with mp.workdps(DIGITS):
        sep = _nearest((_reach(0.2, 1.0) + _reach(0.8, 2.0)) * (1 - mp.mpf(below)))
    interval = _crossing_interval(sep=sep, **kwargs)
    assert interval[0] > 0 and interval[1] - interval[0] <= interval[0] * 2.0**-44 / below
    got = _crossing(path, sep=sep, **kwargs)
    assert _in_interval(got, interval), (got, interval)


def _constant(exponent_range):
    return st.builds(lambda m, e: m * 10.0**e, st.floats(1.0, 9.99), st.integers(*exponent_range))


@given(sft_gap0=st.one_of(st.just(0.0), _constant((-300, 300))), rl_gap0=st.one_of(st.just(0.0), _constant((-300, 300))),
       mu_sft=_constant((-300, 300)), mu_rl=_constant((-300, 300)), ulps=st.integers(-3, 3),
       path=st.sampled_from(list(PATHS)))
def test_crossing_time_at_random_edges(sft_gap0, rl_gap0, mu_sft, mu_rl, ulps, path):
    sep = _edge_sep(sft_gap0, rl_gap0, mu_sft, mu_rl, ulps)
    # Below 0, or past the documented slack (only where the reach is 0 or subnormal): invalid.
    assume(0 <= sep <= float(_reach(sft_gap0, mu_sft) + _reach(rl_gap0, mu_rl)) * (1 + 1e-9))
    kwargs = dict(sft_gap0=sft_gap0, rl_gap0=rl_gap0, sep=sep, mu_sft=mu_sft, mu_rl=mu_rl)
    got = _crossing(path, **kwargs)
    assert _in_interval(got, _crossing_interval(**kwargs)), (kwargs, got)


# ----------------------------------------------------------------------------- discrete envelopes
def _discrete_reference(**kwargs):
    """(lower, upper) and the scale mu_sft (sep^2 + r^2 q^k) of the lower's cancelling terms."""
    with mp.workdps(DIGITS):
        (lower, upper), (scale, _), _ = fuzz_api.ref_discrete_sft_degradation_bounds(**kwargs)
        return (lower, upper), scale


def _discrete(path, steps, **kwargs):
    convert = PATHS[path]
    result = discrete_sft_degradation_bounds(convert(steps), **{k: v if k == "sharp" else convert(v) for k, v in kwargs.items()})
    return tuple(float(part) for part in result)


def _check_discrete(path, steps, kwargs):
    lower, upper = _discrete(path, steps, **kwargs)
    (ref_lower, ref_upper), scale = _discrete_reference(steps=steps, **kwargs)
    assert lower <= upper, (lower, upper)
    # fuzz_api.close: 1e-12 relative plus 2e-16 x its scale (here the documented 2**-50 mu_sft (...)),
    # and inf for a value past the largest float.
    assert fuzz_api.close(lower, ref_lower, scale * 2.0**-50 / 2e-16, (0, math.inf)), (lower, ref_lower)
    assert fuzz_api.close(upper, ref_upper, 0, (0, math.inf)), (upper, ref_upper)


#: (steps, rl_gap0, mu_rl, beta_rl, eta, sharp); mu_rl eta and beta_rl eta exact (powers of two), so q
#: is the exact rate of the constants. mu_sft = beta_sft, mu_rl = beta_rl, eta mu_rl <= 1: the exact
#: lower equals the upper at sep = r (the tight instance) unless noted.
DISCRETE_REGIMES = {
    "k = 0: lower (mu/2)(sep - r)^2 = 0, upper 0": (0, 0.5, 2.0, 2.0, 0.25, False),
    "k = 1, eta mu = 1: q = 0, one step to the minimizer (array path only)": (1, 0.5, 4.0, 4.0, 0.25, False),
    "k = 3, eta mu = 1/2: q^{k/2} = 1/8": (3, 3.0, 1.0, 1.0, 0.5, False),
    "sharp rate, eta mu = 1/4": (5, 7.0, 0.5, 0.5, 0.5, True),
    "k = 10^6: q^{k/2} underflows, lower (mu/2) sep^2": (10**6, 2.0, 1.0, 1.0, 0.5, False),
    "small steps: eta mu = 2^-20, k eta mu = 2^-10": (1024, 1.0, 1.0, 1.0, 2.0**-20, False),
    "huge gap and mu_rl": (2, 1e300, 2.0**900, 2.0**900, 2.0**-901, False),
    "tiny gap and mu_rl": (2, 1e-300, 2.0**-900, 2.0**-900, 2.0**899, False),
    "not tight: eta beta = 3/2, the second path-length form": (4, 1.0, 0.5, 1.5, 1.0, False),
}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("ulps", ULPS)
@pytest.mark.parametrize("regime", DISCRETE_REGIMES)
def test_discrete_envelope_at_the_edge(regime, ulps, path):
    steps, rl_gap0, mu_rl, beta_rl, eta, sharp = DISCRETE_REGIMES[regime]
    sep = _ulps_from(_nearest(_reach(rl_gap0, mu_rl)), ulps)
    kwargs = dict(rl_gap0=rl_gap0, sep=sep, mu_sft=0.75, beta_sft=0.75, mu_rl=mu_rl, beta_rl=beta_rl, eta=eta, sharp=sharp)
    _check_discrete(path, steps, kwargs)


def test_the_discrete_edge_instance_is_tight():
    """Where lower = upper exactly at sep = r, the clip is what keeps lower <= upper: the unclipped
    lower exceeds the upper one ulp above the edge (so the ordering check can fail)."""
    rl_gap0, mu_rl, eta, sft = 0.5, 4.0, 0.25, 0.75  # the regime "k = 1, eta mu = 1" above
    sep = _ulps_from(_nearest(_reach(rl_gap0, mu_rl)), 1)
    with mp.workdps(DIGITS):
        _, _, power, ell = fuzz_api.discrete_terms(1, mp.mpf(rl_gap0), mp.mpf(mu_rl), mp.mpf(mu_rl), mp.mpf(eta), False)
        assert sft / 2 * (sep - _reach(rl_gap0, mu_rl) * power) ** 2 > sft / 2 * ell**2


@given(rl_gap0=_constant((-300, 300)), mu_exponent=st.integers(-500, 500), beta_shift=st.integers(0, 3),
       eta_shift=st.integers(0, 30), steps=st.sampled_from([0, 1, 2, 7, 1000, 10**6]), sharp=st.booleans(),
       sft=_constant((-150, 150)), ulps=st.integers(-3, 3), path=st.sampled_from(list(PATHS)))
def test_discrete_envelope_at_random_edges(rl_gap0, mu_exponent, beta_shift, eta_shift, steps, sharp, sft, ulps, path):
    """Powers of two for mu_rl, beta_rl and eta (exact products, eta beta_rl <= 1); mu_sft = beta_sft."""
    mu_rl, beta_rl = 2.0**mu_exponent, 2.0 ** (mu_exponent + beta_shift)
    eta = 2.0 ** -(mu_exponent + beta_shift + eta_shift)
    sep = _ulps_from(_nearest(_reach(rl_gap0, mu_rl)), ulps)
    kwargs = dict(rl_gap0=rl_gap0, sep=sep, mu_sft=sft, beta_sft=sft, mu_rl=mu_rl, beta_rl=beta_rl, eta=eta, sharp=sharp)
    _check_discrete(path, steps, kwargs)
