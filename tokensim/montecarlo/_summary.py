"""Streaming, mergeable summaries of per-path Monte Carlo metrics: bounded memory for any number of paths.

Chunks of paths reduce to a :class:`Summary` (per metric: count, NaN count by reason, exact shifted sums for the mean
and M2, min, max, a fixed-grid histogram; per flag: a count). Summaries of disjoint path ranges merge in any order
and give the same result as one pass over all paths, bit for bit: this is the seam where a distributed engine plugs
in (DESIGN.md section 8).

Why the result does not depend on chunking or order:

- Counts, NaN counts, min, max and histogram bins are exact.
- Sums are taken per *aligned block* of :data:`BLOCK_PATHS` path indices ([k·B, (k+1)·B), the last block shorter).
  A block's sums come from the same array of values whatever the chunk boundaries (a block split across chunks
  waits in ``pending`` until its values are complete), so they are identical; block sums are then added into an
  exact accumulator (Shewchuk's non-overlapping partials, as in ``math.fsum``), whose correctly rounded value does
  not depend on the order of the additions.
- The mean and M2 come from sums of d = x − K around a fixed shift K per metric (the deterministic scenario's value):
  mean = K + Σd / n, M2 = Σd² − (Σd)² / n. The shift keeps the cancellation small, and when every path equals the
  deterministic case (zero volatility) the mean is K exactly and the standard deviation 0.

Mean, std, quantiles, min and max are over the paths with a value (finite), so for a metric that some paths lack
(no IRR, no payback within the horizon) they are *conditional* on having one; ``share_with_value`` = count / paths
seen is the probability of that condition, reported next to them.

Quantiles come from the histogram: a fixed grid of :data:`HISTOGRAM_BINS` equal bins over a range fixed by the
scenario (not by the data; see :func:`tokensim.montecarlo._run.metric_specs`), plus an underflow and an overflow bin
whose outer edges are the exact min and max. The p-quantile is the value where the cumulative count reaches p·n,
interpolated linearly inside its bin, then clamped to [min, max]; its error is at most one bin width
(range / 16384) inside the range, and it is exact when all values are equal.

Array work runs in the namespace of the values (NumPy or CuPy, so a GPU chunk reduces on the device and only block
sums and histogram counts cross to the host).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._xp import array_namespace, to_numpy

__all__ = ["BLOCK_PATHS", "HISTOGRAM_BINS", "ExactSum", "HistogramSpec", "MetricSummary", "Summary"]

# Paths per aligned block of the sums (a power of two: the halving tree of _block_sums). 8192 float64 values are
# 64 kB, a reduction in cache; 1e9 paths make 122,071 blocks, each one Python-level exact addition per metric.
BLOCK_PATHS = 8192
# 2**14 bins: 128 kB of counts per metric, resolution range / 16384 (0.03 % of an IRR range of 5).
HISTOGRAM_BINS = 16384


class ExactSum:
    """An exact sum of floats as non-overlapping partials (Shewchuk 1997; the algorithm of ``math.fsum``).

    ``add`` and ``merge`` keep the sum exact, so :meth:`value` (the correctly rounded sum) does not depend on the order
    in which values or other accumulators were added.
    """

    __slots__ = ("partials",)

    def __init__(self) -> None:
        self.partials: list[float] = []

    def add(self, x: float) -> None:
        x = float(x)
        if not math.isfinite(x):
            raise ValueError(f"ExactSum takes finite values, got {x!r}")
        partials = self.partials
        i = 0
        for y in partials:
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            lo = y - (hi - x)
            if lo:
                partials[i] = lo
                i += 1
            x = hi
        partials[i:] = [x]

    def merge(self, other: ExactSum) -> None:
        for x in other.partials:
            self.add(x)

    def value(self) -> float:
        return math.fsum(self.partials)


@dataclass(frozen=True)
class HistogramSpec:
    """A metric's summary settings: histogram range [low, high) and the shift of its sums."""

    name: str
    low: float
    high: float
    shift: float = 0.0
    bins: int = HISTOGRAM_BINS

    @property
    def bin_width(self) -> float:
        return (self.high - self.low) / self.bins


@dataclass
class MetricSummary:
    """The running summary of one metric (see the module docstring)."""

    spec: HistogramSpec
    count: int = 0  # paths seen, NaN included
    finite: int = 0
    sum_d: ExactSum = field(default_factory=ExactSum)
    sum_d2: ExactSum = field(default_factory=ExactSum)
    minimum: float = math.inf
    maximum: float = -math.inf
    histogram: np.ndarray = field(default_factory=lambda: np.zeros(HISTOGRAM_BINS + 2, dtype=np.int64))
    no_value_reasons: dict[int, int] = field(default_factory=dict)  # reason code -> paths without a value

    def merge(self, other: MetricSummary) -> None:
        self.count += other.count
        self.finite += other.finite
        self.sum_d.merge(other.sum_d)
        self.sum_d2.merge(other.sum_d2)
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        self.histogram += other.histogram
        for code, n in other.no_value_reasons.items():
            self.no_value_reasons[code] = self.no_value_reasons.get(code, 0) + n

    # -- results -------------------------------------------------------------------------------------------------
    @property
    def mean(self) -> float:
        return self.spec.shift + self.sum_d.value() / self.finite if self.finite else math.nan

    @property
    def std(self) -> float:
        """Sample standard deviation (n − 1)."""
        if self.finite < 2:
            return 0.0 if self.finite == 1 else math.nan
        s1 = self.sum_d.value()
        m2 = self.sum_d2.value() - s1 * s1 / self.finite
        return math.sqrt(max(m2, 0.0) / (self.finite - 1))

    @property
    def share_with_value(self) -> float:
        """Share of the paths seen that have a value: the weight of the condition the other statistics hold under."""
        return self.finite / self.count if self.count else math.nan

    def quantile(self, p: float) -> float:
        """The p-quantile from the histogram, linear within its bin, clamped to [min, max] (module docstring)."""
        if self.finite == 0:
            return math.nan
        target = p * self.finite
        cumulative = np.cumsum(self.histogram)
        index = int(np.searchsorted(cumulative, target, side="left"))
        index = min(index, self.histogram.size - 1)
        while self.histogram[index] == 0:  # target 0 (p = 0): the first non-empty bin
            index += 1
        before = float(cumulative[index] - self.histogram[index])
        fraction = (target - before) / float(self.histogram[index])
        s = self.spec
        if index == 0:
            lo, hi = self.minimum, s.low
        elif index == self.histogram.size - 1:
            lo, hi = s.high, self.maximum
        else:
            lo = s.low + (index - 1) * s.bin_width
            hi = lo + s.bin_width
        value = lo + fraction * (hi - lo)
        return min(max(value, self.minimum), self.maximum)

    def to_dict(self, reasons: dict[int, str] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mean": self.mean, "std": self.std, "p05": self.quantile(0.05), "p50": self.quantile(0.50),
            "p95": self.quantile(0.95), "min": self.minimum if self.finite else math.nan,
            "max": self.maximum if self.finite else math.nan, "count": self.finite,
            "no_value": self.count - self.finite, "share_with_value": self.share_with_value,
        }
        if reasons is not None:
            out["no_value_reasons"] = {reasons.get(code, str(code)): n
                                       for code, n in sorted(self.no_value_reasons.items())}
        return out


def _block_sums(values, shift: float, xp) -> tuple[list[float], list[float]]:
    """Per row of ``values`` (rows = aligned blocks, :data:`BLOCK_PATHS` wide, a short last block padded with NaN):
    Σd and Σd² over finite values, d = x − shift, in float64.

    Each row is summed by a fixed halving tree (the row's halves added elementwise until one column is left): the
    same additions in the same order whatever the number of rows, the array library or the chunk a block came from,
    so a block's sums are the same bits on NumPy whether it was a row of a chunk or assembled from pieces (and the
    same on CuPy for any chunking). A library reduction along axis 1 may change its order with the array's shape.
    """
    finite = xp.isfinite(values)
    d = xp.where(finite, values - shift, 0.0)
    d2 = d * d
    width = d.shape[1]
    while width > 1:
        width //= 2
        d = d[:, :width] + d[:, width: 2 * width]
        d2 = d2[:, :width] + d2[:, width: 2 * width]
    return to_numpy(d[:, 0]).tolist(), to_numpy(d2[:, 0]).tolist()


class Summary:
    """Summaries of several metrics and flags over a set of paths; add contiguous path ranges, merge, read.

    ``add(first_path, metrics, flags, reasons)``: ``metrics`` maps a metric name to its per-path values (float,
    NaN = no value), ``flags`` a flag name to booleans, ``reasons`` a metric name to per-path integer reason codes
    for its NaNs (optional). Arrays may be NumPy or CuPy.
    """

    def __init__(self, specs: list[HistogramSpec], flags: list[str]):
        self.specs = {s.name: s for s in specs}
        self.metrics = {s.name: MetricSummary(s) for s in specs}
        self.flags: dict[str, int] = {name: 0 for name in flags}
        self.paths = 0
        # block index -> list of (first path, {metric: host float64 array}) for blocks not yet complete
        self.pending: dict[int, list[tuple[int, dict[str, np.ndarray]]]] = {}

    # -- adding ------------------------------------------------------------------------------------------------
    def add(self, first_path: int, metrics: dict[str, Any], flags: dict[str, Any] | None = None,
            reasons: dict[str, Any] | None = None) -> None:
        flags = flags or {}
        reasons = reasons or {}
        n = None
        for _name, values in metrics.items():
            n = int(values.shape[0])
            break
        if n is None or n == 0:
            return
        xp = array_namespace(*metrics.values())
        self.paths += n
        for name, _count in flags.items():
            self.flags[name] += int(xp.count_nonzero(flags[name]))
        values64 = {name: xp.asarray(v, dtype=xp.float64) for name, v in metrics.items()}
        for name, values in values64.items():
            self._add_exact_parts(self.metrics[name], values, reasons.get(name), xp)
        # Sums per aligned block: the head and tail of the range may be partial blocks.
        start, end = first_path, first_path + n
        first_full = -(-start // BLOCK_PATHS) * BLOCK_PATHS
        last_full = (end // BLOCK_PATHS) * BLOCK_PATHS
        if first_full >= last_full:  # no full block inside: all of it is partial
            self._add_partial(start, {k: to_numpy(v) for k, v in values64.items()})
            return
        if start < first_full:
            self._add_partial(start, {k: to_numpy(v[: first_full - start]) for k, v in values64.items()})
        blocks = (last_full - first_full) // BLOCK_PATHS
        for name, values in values64.items():
            full = values[first_full - start: last_full - start].reshape(blocks, BLOCK_PATHS)
            s1, s2 = _block_sums(full, self.specs[name].shift, xp)
            for a, b in zip(s1, s2, strict=True):
                self.metrics[name].sum_d.add(a)
                self.metrics[name].sum_d2.add(b)
        if last_full < end:
            self._add_partial(last_full, {k: to_numpy(v[last_full - start:]) for k, v in values64.items()})

    def _add_exact_parts(self, summary: MetricSummary, values, reason_codes, xp) -> None:
        """Everything but the sums: counts, min, max, histogram and NaN reasons (exact in any order)."""
        s = summary.spec
        finite = xp.isfinite(values)
        n_finite = int(xp.count_nonzero(finite))
        summary.count += int(values.shape[0])
        summary.finite += n_finite
        if n_finite:
            summary.minimum = min(summary.minimum, float(xp.where(finite, values, xp.inf).min()))
            summary.maximum = max(summary.maximum, float(xp.where(finite, values, -xp.inf).max()))
            position = xp.floor((xp.where(finite, values, s.low) - s.low) / s.bin_width)
            index = (xp.clip(position, -1, s.bins) + 1).astype(xp.int64)
            counts = xp.bincount(index[finite], minlength=s.bins + 2)
            summary.histogram += to_numpy(counts).astype(np.int64)
        if n_finite < values.shape[0]:
            if reason_codes is None:
                codes, counts = np.array([0]), np.array([values.shape[0] - n_finite])
            else:
                missing = to_numpy(xp.asarray(reason_codes)[~finite]).astype(np.int64)
                codes, counts = np.unique(missing, return_counts=True)
            for code, count in zip(codes.tolist(), counts.tolist(), strict=True):
                summary.no_value_reasons[code] = summary.no_value_reasons.get(code, 0) + count

    def _add_partial(self, first_path: int, values: dict[str, np.ndarray]) -> None:
        """Values of parts of blocks: each piece waits until its block is complete (or the run ends)."""
        n = next(iter(values.values())).shape[0]
        start = 0
        while start < n:
            path = first_path + start
            block = path // BLOCK_PATHS
            stop = min(n, (block + 1) * BLOCK_PATHS - first_path)
            parts = self.pending.setdefault(block, [])
            parts.append((path, {k: v[start:stop] for k, v in values.items()}))
            if sum(next(iter(v.values())).shape[0] for _, v in parts) == BLOCK_PATHS:
                self._flush(block)
            start = stop

    def _flush(self, block: int) -> None:
        parts = sorted(self.pending.pop(block), key=lambda part: part[0])
        for name in self.metrics:
            row = np.full((1, BLOCK_PATHS), np.nan)  # NaN padding counts as no value: adds exact zeros
            values = np.concatenate([v[name] for _, v in parts])
            row[0, : values.size] = values
            s1, s2 = _block_sums(row, self.specs[name].shift, np)
            self.metrics[name].sum_d.add(s1[0])
            self.metrics[name].sum_d2.add(s2[0])

    # -- merging and reading -----------------------------------------------------------------------------------
    def merge(self, other: Summary) -> None:
        """Fold in the summary of a disjoint set of paths (any order)."""
        for name, summary in other.metrics.items():
            self.metrics[name].merge(summary)
        for name, count in other.flags.items():
            self.flags[name] += count
        self.paths += other.paths
        for _block, parts in other.pending.items():
            for first_path, values in parts:
                self._add_partial(first_path, values)

    def finish(self) -> None:
        """Reduce the blocks still pending (the last, shorter block of the run); call once all paths are in."""
        for block in sorted(self.pending):
            self._flush(block)

    def probability(self, flag: str) -> float:
        return self.flags[flag] / self.paths if self.paths else math.nan
