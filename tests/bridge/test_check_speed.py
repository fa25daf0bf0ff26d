"""What made ``check`` cheaper changes no number: each piece against scipy.stats or a fresh simulation.

Issue 25: ``scipy.stats`` is no longer imported on the check's path (Theil-Sen and Sen's
interval by :mod:`nondecoupling.bridge.logs.robust`, Student quantiles and the MAD from
``scipy.special``), and the trend tests' nulls are kept on disk
(:mod:`nondecoupling.bridge.logs.null_cache`). The references here are scipy.stats itself
and a null simulated afresh; no timing is asserted (``benchmarks/bridge_scale.py`` times it).
"""

from __future__ import annotations

import math
from unittest import mock

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import optimize
from scipy import stats as scipy_stats

from nondecoupling.bridge.logs import null_cache, robust, stats, verdicts
from tests.bridge.synthetic import isotropic_run


@given(st.integers(2, 60), st.integers(1, 6), st.sampled_from([0.5, 0.9, 0.95, 0.99]), st.integers(0, 2**32 - 1))
def test_theil_sen_and_sens_interval_are_scipys(points, distinct_steps_every, confidence, seed):
    rng = np.random.default_rng(seed)
    steps = np.sort(rng.integers(0, points // distinct_steps_every + 1, points)).astype(float)  # ties in x
    values = np.round(rng.normal(size=points), 1)  # and in y
    if np.ptp(steps) == 0:
        assert all(math.isnan(v) for v in robust.theil_sen_slope(steps, values, confidence))
        return
    reference = scipy_stats.theilslopes(values, steps, alpha=confidence)
    np.testing.assert_allclose(robust.theil_sen_slope(steps, values, confidence),
                               [reference.slope, reference.low_slope, reference.high_slope], rtol=1e-12, atol=1e-15)


def test_theil_sen_on_the_largest_subsample_is_scipys():
    steps = np.arange(stats.MAX_SLOPE_POINTS, dtype=float)
    values = 0.01 * steps + np.random.default_rng(3).standard_normal(steps.size)
    reference = scipy_stats.theilslopes(values, steps, alpha=0.95)
    assert robust.theil_sen_slope(steps, values) == pytest.approx((reference.slope, reference.low_slope, reference.high_slope),
                                                                  rel=1e-12)


@pytest.mark.parametrize("n", [3, 4, 10, 1000])
def test_quantiles_and_noise_scale_are_scipy_stats(n):
    values = np.cumsum(np.random.default_rng(n).standard_normal(n))
    diffs = np.diff(values)
    assert stats.noise_sd(values) == pytest.approx(scipy_stats.median_abs_deviation(diffs, scale="normal") / math.sqrt(2),
                                                   rel=1e-14)
    result = verdicts.rate_matches_expert(0.5 + 0.01 * values / n, 0.5)
    assert result["t"] == pytest.approx(scipy_stats.t.isf(0.025, df=n - 1), rel=1e-12)
    decision = stats.pointwise_violation_verdict(values, values, confidence=0.9)
    assert decision["t"] == pytest.approx(scipy_stats.t.isf(0.1 / n, df=n - 1), rel=1e-12)


def _one_series(means, sizes, within):
    """E_up, E_down, change_up, change_down of one series by scipy's isotonic regression, as the docstring defines them."""
    centred = means - sizes @ means / sizes.sum()
    rss0 = sizes @ centred**2
    if not rss0 > 1e-24 * (sizes @ means**2):
        return [0.0] * 4
    fits = [optimize.isotonic_regression(means, weights=sizes, increasing=up).x for up in (True, False)]
    shares = [max(0.0, rss0 - sizes @ (means - fit) ** 2) / (rss0 + within) for fit in fits]
    return [*shares, *(fit[-1] - fit[0] for fit in fits)]


@given(st.integers(1, 40), st.integers(1, 30), st.integers(1, 5), st.sampled_from([1.0, 1e-3, 1e6]), st.integers(0, 2**32 - 1),
       st.integers(1, 50))
def test_batched_isotonic_contrasts_fit_every_row_alone(rows, blocks, largest_block, scale, seed, rows_per_fit):
    """The rows laid end to end, each beyond the last, are fitted as one series each (a null's 4000, ISOTONIC_ROWS at once)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, largest_block + 1, blocks).astype(float)
    means = scale * np.round(rng.normal(size=(rows, blocks)), 1)  # ties, and constant rows where blocks == 1
    means[0] = means[0, 0]  # a constant row
    within = rng.exponential(size=rows) * scale**2
    with mock.patch.object(stats, "ISOTONIC_ROWS", rows_per_fit):  # chunks of any size, a last one shorter
        batched = np.column_stack(stats.isotonic_contrasts(means, sizes, within))
    reference = np.array([_one_series(m, sizes, w) for m, w in zip(means, within)])
    np.testing.assert_allclose(batched[:, :2], reference[:, :2], rtol=1e-9, atol=1e-12)  # shares: scale-free
    np.testing.assert_allclose(batched[:, 2:], reference[:, 2:], rtol=1e-9, atol=1e-12 * scale)  # level changes


@pytest.fixture
def cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("NONDECOUPLING_NULL_CACHE", str(tmp_path))
    stats.null_contrast.cache_clear()
    yield tmp_path
    stats.null_contrast.cache_clear()


def _simulate(sizes, rho):
    """The null as the module simulates it, past both caches."""
    return stats.null_contrast.__wrapped__.__wrapped__(sizes, rho)


def test_a_stored_null_is_the_simulated_one(cache_folder):
    sizes = stats.block_sizes(500, start_points=7)
    first = stats.null_contrast(sizes, 0.5)
    entries = list(cache_folder.glob("null_contrast-*.npy"))
    assert len(entries) == 1
    stats.null_contrast.cache_clear()  # the next call reads the file
    np.testing.assert_array_equal(stats.null_contrast(sizes, 0.5), _simulate(sizes, 0.5))
    np.testing.assert_array_equal(first, _simulate(sizes, 0.5))
    stats.null_contrast(sizes, 0.25)  # another layout or coefficient: another entry
    assert len(list(cache_folder.glob("null_contrast-*.npy"))) == 2


def test_an_unreadable_entry_is_simulated_again(cache_folder):
    sizes = stats.block_sizes(300, start_points=3)
    stats.null_contrast(sizes, 0.5)
    (entry,) = cache_folder.glob("null_contrast-*.npy")
    entry.write_bytes(b"not a numpy file")
    stats.null_contrast.cache_clear()
    np.testing.assert_array_equal(stats.null_contrast(sizes, 0.5), _simulate(sizes, 0.5))


def test_the_cache_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("NONDECOUPLING_NULL_CACHE", "0")
    monkeypatch.setattr(null_cache.Path, "home", lambda: tmp_path)
    assert null_cache.cache_dir() is None
    stats.null_contrast.__wrapped__(stats.block_sizes(50), 0.5)
    assert not list(tmp_path.rglob("*.npy"))


def test_a_changed_source_makes_new_keys(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("x = 1\n")
    b.write_text("x = 2\n")
    assert null_cache._source_hash(str(a)) != null_cache._source_hash(str(b))
    assert null_cache._source_hash(str(tmp_path / "missing.py")) is None


def _reference_theil_sen(steps, values, confidence=0.95):
    result = scipy_stats.theilslopes(values, steps, alpha=confidence)
    return float(result.slope), float(result.low_slope), float(result.high_slope)


@pytest.mark.slow
def test_a_long_runs_report_is_the_one_scipy_stats_and_fresh_nulls_give(cache_folder, monkeypatch):
    """A 30,000-row stand-in for 10^6 rows (every stage tested on equal-count blocks): every verdict and number."""
    run = isotropic_run([("sft", 6000), ("rl", 18000), ("sft", 6000)], every=1, start=(0.5, 0.0),
                        rl_time_per_step=400 / 30000, sft_time_per_step=40 / 30000, loss_noise=0.03, reward_noise=0.01)

    def report():
        checks, _ = verdicts.run_checks(run, lam=0.05, expert_pass_rate=0.4, expert_entropy=10.0, n_boot=50)
        return [(c.id, c.stage, c.verdict, repr(c.observed)) for c in checks]

    report()  # the nulls stored
    stats.null_contrast.cache_clear()
    stored = report()  # read back from disk
    with monkeypatch.context() as patch:  # the reference: scipy.stats, nulls simulated afresh
        patch.setenv("NONDECOUPLING_NULL_CACHE", "0")
        patch.setattr(stats, "theil_sen_slope", _reference_theil_sen)
        patch.setattr(verdicts, "stdtrit", lambda df, q: -scipy_stats.t.isf(q, df))
        stats.null_contrast.cache_clear()
        reference = report()
    assert [r[:3] for r in stored] == [r[:3] for r in reference]
    assert stored == reference
