"""Tests for tokensim.montecarlo._summary: exact, order-independent, mergeable summaries and histogram quantiles."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tokensim.montecarlo._summary import BLOCK_PATHS, ExactSum, HistogramSpec, Summary

SPECS = [HistogramSpec("x", -5.0, 5.0, shift=0.25), HistogramSpec("y", 0.0, 1.0)]


def sample(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(0.3, 1.0, n)
    x[rng.random(n) < 0.01] = np.nan
    y = rng.random(n) * 1.2 - 0.1  # a tail outside [0, 1): under- and overflow bins
    return {"x": x, "y": y}


def run(values: dict[str, np.ndarray], chunks: list[int], first: int = 0) -> Summary:
    s = Summary(SPECS, ["flag"])
    start = 0
    for size in chunks:
        part = {k: v[start: start + size] for k, v in values.items()}
        s.add(first + start, part, {"flag": part["y"] > 0.5}, {"x": np.full(size, 3)})
        start += size
    s.finish()
    return s


def digest(s: Summary) -> dict:
    return {name: m.to_dict() for name, m in s.metrics.items()} | {"flag": s.probability("flag")}


def test_exact_sum_is_order_independent():
    """ExactSum gives math.fsum's correctly rounded sum in any order and after merging."""
    rng = np.random.default_rng(1)
    values = (rng.normal(size=5000) * 10.0 ** rng.integers(-10, 10, 5000)).tolist()
    forward, backward, left, right = ExactSum(), ExactSum(), ExactSum(), ExactSum()
    for v in values:
        forward.add(v)
    for v in reversed(values):
        backward.add(v)
    for v in values[:1234]:
        left.add(v)
    for v in values[1234:]:
        right.add(v)
    right.merge(left)
    assert forward.value() == backward.value() == right.value() == math.fsum(values)
    with pytest.raises(ValueError):
        forward.add(math.inf)


@pytest.mark.parametrize("chunks", [[20_000], [1, 8191, 8192, 3616], [1000] * 20, [7777, 12223], [BLOCK_PATHS] * 2
                                    + [3616]])
def test_summary_is_identical_for_any_chunking(chunks):
    """Chunk boundaries, aligned or not, do not change a single bit of the summary."""
    values = sample(20_000)
    assert digest(run(values, chunks)) == digest(run(values, [20_000]))


def test_merge_in_any_order_equals_one_pass():
    """Summaries of disjoint path ranges merged in reverse order equal one pass over all paths."""
    values = sample(30_000, seed=3)
    bounds = [0, 5000, 9000, 20_000, 30_000]
    parts = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        s = Summary(SPECS, ["flag"])
        part = {k: v[a:b] for k, v in values.items()}
        s.add(a, part, {"flag": part["y"] > 0.5}, {"x": np.full(b - a, 3)})
        parts.append(s)
    merged = parts[-1]
    for s in reversed(parts[:-1]):
        merged.merge(s)
    merged.finish()
    assert digest(merged) == digest(run(values, [30_000]))


def test_moments_match_numpy_and_nans_are_counted_apart():
    """Mean and std equal NumPy's over the finite values; NaNs count under no_value with their reason code."""
    values = sample(50_000, seed=2)
    d = run(values, [50_000]).metrics["x"].to_dict({3: "reason three"})
    x = values["x"][np.isfinite(values["x"])]
    assert d["mean"] == pytest.approx(x.mean(), rel=1e-12)
    assert d["std"] == pytest.approx(x.std(ddof=1), rel=1e-10)
    assert d["count"] == x.size and d["no_value"] == 50_000 - x.size
    assert d["no_value_reasons"] == {"reason three": 50_000 - x.size}
    assert d["min"] == x.min() and d["max"] == x.max()


def test_share_with_value_is_the_weight_of_the_conditional_statistics():
    """Issue 13: a metric that only some paths have (payback, IRR) is summarised over those paths only; the summary
    carries their share of all paths, count / (count + no_value), the same whatever the chunking. Hand case: of 8
    values, 3 are NaN, so the mean 2.0 of (1, 2, 3, 1, 3) holds on 5/8 = 62.5% of paths."""
    values = np.array([1.0, np.nan, 2.0, 3.0, np.nan, 1.0, np.nan, 3.0])
    for chunks in ([8], [3, 5], [1] * 8):
        s = Summary([HistogramSpec("x", 0.0, 4.0)], [])
        start = 0
        for size in chunks:
            s.add(start, {"x": values[start: start + size]})
            start += size
        s.finish()
        d = s.metrics["x"].to_dict()
        assert d["share_with_value"] == 0.625 and d["count"] == 5 and d["no_value"] == 3
        assert d["mean"] == 2.0
    empty = Summary([HistogramSpec("x", 0.0, 4.0)], [])
    assert math.isnan(empty.metrics["x"].share_with_value)


def test_quantiles_are_within_one_bin_of_the_exact_ones():
    """Inside the histogram's range, p05, p50, p95 lie within one bin width of numpy.quantile."""
    values = sample(100_000, seed=4)
    s = run(values, [100_000])
    checked = 0
    for name, spec in ((m, s.specs[m]) for m in ("x", "y")):
        finite = values[name][np.isfinite(values[name])]
        for p in (0.05, 0.5, 0.95):
            exact = np.quantile(finite, p)
            if spec.low <= exact < spec.high:
                assert s.metrics[name].quantile(p) == pytest.approx(exact, abs=spec.bin_width)
                checked += 1
    assert checked == 4  # y's p05 and p95 lie in the under/overflow bins: bounded by [min, low] and [high, max]


def test_quantiles_in_the_tails_stay_between_min_and_max():
    """Values beyond the fixed range fall in the under/overflow bins; quantiles there stay within [min, max]."""
    s = Summary([HistogramSpec("z", 0.0, 1.0)], [])
    z = np.concatenate([np.full(10, -50.0), np.full(10, 70.0)])
    s.add(0, {"z": z})
    s.finish()
    m = s.metrics["z"]
    assert -50.0 <= m.quantile(0.05) <= 0.0 and 1.0 <= m.quantile(0.95) <= 70.0
    assert m.histogram[0] == 10 and m.histogram[-1] == 10


def test_equal_values_give_exact_mean_zero_std_and_exact_quantiles():
    """When every path has the same value (zero volatility) the mean and quantiles are that value and std is 0."""
    v = -1_004_404_688.0927272
    s = Summary([HistogramSpec("npv", v - 1e10, v + 1e10, shift=v)], [])
    s.add(0, {"npv": np.full(12_345, v)})
    s.finish()
    d = s.metrics["npv"].to_dict()
    assert d["mean"] == v and d["std"] == 0.0 and d["p05"] == d["p50"] == d["p95"] == v


def test_all_nan_metric_has_no_moments():
    """A metric without any value reports NaN moments and counts every path under no_value."""
    s = Summary([HistogramSpec("p", 0.0, 5.0)], [])
    s.add(0, {"p": np.full(100, np.nan)})
    s.finish()
    d = s.metrics["p"].to_dict()
    assert math.isnan(d["mean"]) and math.isnan(d["p50"]) and d["no_value"] == 100 and d["count"] == 0


def test_memory_does_not_grow_with_paths():
    """After a million paths in chunks, nothing but fixed-size state is kept (no pending blocks, fixed histograms)."""
    s = Summary(SPECS, ["flag"])
    values = sample(100_000, seed=5)
    for k in range(10):
        s.add(k * 100_000, values, {"flag": values["y"] > 0.5})
    s.finish()
    assert s.paths == 1_000_000 and not s.pending
    assert all(m.histogram.size == m.spec.bins + 2 for m in s.metrics.values())
    assert all(len(m.sum_d.partials) < 50 for m in s.metrics.values())
