"""Monte Carlo of a cluster's finance (DESIGN.md section 8): the distribution of IRRs, NPV, payback and DSCR.

:func:`simulate` draws ``paths`` stochastic paths of the drivers (:mod:`tokensim.montecarlo._drivers`; parameters
from a scenario's ``uncertainty:`` section, :mod:`tokensim.config.uncertainty`, gathered with the finance inputs in a
:class:`MonteCarloModel` by :func:`tokensim.resolve.montecarlo.montecarlo_model`), runs each through the same
cash-flow model as ``tokensim finance`` (:func:`tokensim.finance.cashflows` and :func:`tokensim._irr.irr`) and
streams the per-path metrics into mergeable summaries (:mod:`tokensim.montecarlo._summary`). Two engines compute the
same mathematics:

- ``numpy``: the reference. Blocks of :data:`EVAL_BLOCK_PATHS` paths run the NumPy month loop (vectorised over paths)
  on a small thread pool (NumPy releases the GIL inside its array loops); float64.
- ``cupy``: ``kernels/montecarlo.cu`` through :mod:`tokensim.montecarlo._kernel`, one CUDA thread per path (drivers,
  month loop, NPV, payback, DSCR and both IRRs in registers and shared memory); float32 by default, float64 selectable.
  The summaries reduce on the device; only block sums and histogram counts cross to the host.

Reproducibility: path p's random numbers are Philox4x32-10 of counter (month, stream, p) under the seed's key, so
its metrics do not depend on the chunk size, the block size, the thread count or the order of execution; the
summaries are order-independent by construction (:mod:`tokensim.montecarlo._summary`). With NumPy the JSON is therefore
identical bit for bit for a seed, whatever ``chunk_paths`` (except ``elapsed_s`` and ``path_months_per_s``).

Metrics per path: ``project_irr`` and ``equity_irr`` (annual; NaN with a reason code when a path has no IRR: those
paths count under ``no_value`` and ``no_value_reasons``, never in the moments), ``npv`` (project, at the discount
rate), ``payback_years_equity`` (NaN when never within the horizon), ``min_dscr`` (NaN without debt service).
A metric's mean, std, quantiles, min and max cover only the paths with a value: they are conditional statistics,
and each metric's summary says so in ``conditional_on`` (:data:`CONDITIONAL_ON`: the condition, or null for the NPV,
which every path has) next to ``share_with_value``, the probability of that condition. For the equity payback that
probability is also ``prob_payback_equity_within_horizon``: when it is below one half, the median path never pays
back, whatever the conditional p50 says.
Probabilities: ``prob_dscr_below_covenant`` (a loan year's DSCR below the covenant: the engine's covenant flag;
null without a covenant), ``prob_equity_irr_below_hurdle`` (equity IRR below the hurdle; a path without an equity IRR
counts when its equity cash flows have a negative NPV at the hurdle; null without a hurdle), ``prob_tenant_default``
(the tenant defaulted within the contract term), ``prob_loan_default`` (a loan default event of the waterfall within
the horizon: tokensim.finance DEFINITIONS['first_loan_default_month']). ``mean_std_error`` is the standard error of
the NPV mean, std / √n, for convergence.

GPU tolerance (float32 kernel vs the float64 NumPy reference, same seed; tests/test_montecarlo_gpu.py): means of
IRRs within 2e-4 absolute, the NPV mean within 1e-4 of the capex total, payback and DSCR means within 1e-3
relative, probabilities and no-value counts within 2e-3 of the paths (:data:`FLOAT32_TOLERANCE`). Why these: the
kernel's mathematics compiled for the host in float (tests/test_montecarlo.py) differ from NumPy per path by at most
2e-6 in annual IRR, 5e-7 of capex in NPV and 4e-6 relative in payback and DSCR (float rounding of the month loop,
the Box-Muller normals and the IRR stopped at 1e-6 a month); the limits leave a hundredfold margin for the device's
own float maths (its Box-Muller uses the hardware log and sine/cosine, within about 1e-6 of the exact functions:
kernels/real.cuh), and means average the per-path errors further. The float64 kernel agrees to 1e-9 relative on
means (per path too: 1e-12 on the host build).
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import _warnings
from .._backend import cpu_workers, select_backend
from .._errors import ParameterError
from .._irr import IRR_REASONS, annualise_monthly_rate, irr, npv
from .._output import check_output_path
from .._units import monthly_rate
from .._xp import to_numpy
from ..config.reader import check_number
from ..config.uncertainty import Uncertainty
from ..finance import Drivers, FinanceInputs, cashflows, finance_metrics, lender_case_at, residual_quantile_share
from ._drivers import DriverModel, driver_model, generate_drivers
from ._kernel import kernel_chunks
from ._summary import HistogramSpec, Summary

__all__ = [
    "PATH_METRICS", "CONDITIONAL_ON", "FLAGS", "EVAL_BLOCK_PATHS", "DEFAULT_PATHS", "FLOAT32_TOLERANCE",
    "MonteCarloResult", "MonteCarloModel", "build_model", "evaluate_paths", "simulate", "metric_specs", "dscr_fan",
    "residual_p10_lender_case",
]

PATH_METRICS = ("project_irr", "equity_irr", "npv", "payback_years_equity", "min_dscr",
                "payback_years_equity_first_crossing", "sponsor_injection", "first_loan_default_month")
# The paths each metric's statistics are taken over (None: every path has a value, the statistics are unconditional).
CONDITIONAL_ON: dict[str, str | None] = {
    "project_irr": "paths with a project IRR", "equity_irr": "paths with an equity IRR", "npv": None,
    "payback_years_equity": "paths whose equity pays back within the horizon",
    "min_dscr": "paths with debt service",
    "payback_years_equity_first_crossing": "paths whose cumulative equity cash flow turns non-negative within the "
                                           "horizon",
    "sponsor_injection": None,
    "first_loan_default_month": "paths with a loan default event",
}
FLAGS = ("dscr_below_covenant", "equity_irr_below_hurdle", "tenant_default", "loan_default")
# Paths per NumPy evaluation block (one thread of the pool each). Larger blocks cut NumPy's per-call overhead and the
# time threads wait for the GIL; smaller ones keep the month loop's (paths,) arrays in cache. On the 2-core sandbox
# (founding scenario, 131,072 paths, two threads) 8192 / 16384 / 32768 gave 3.0-3.6 / 4.1-5.0 / 4.7-5.3 M
# path-months/s; 16384 keeps a block's driver and cash-flow arrays near 100 MB.
EVAL_BLOCK_PATHS = 16384
# Paths per chunk (the unit of summaries, progress and Parquet row groups) when not given.
_DEFAULT_CHUNK = {"numpy": 8 * EVAL_BLOCK_PATHS, "cupy": 2**22}
# Default path counts for `tokensim run`: about 2-3 s on the 2-core sandbox CPU; on a GPU the benchmark's size
# (10^7 paths; its time is measured by benchmarks/gpu_check.sh).
DEFAULT_PATHS = {"numpy": 100_000, "cupy": 10_000_000}
FLOAT32_TOLERANCE = {"irr_abs": 2e-4, "npv_abs_per_capex": 1e-4, "payback_rel": 1e-3, "dscr_rel": 1e-3,
                     "probability_abs": 2e-3}
_MAX_PATHS = 2**63  # path indices fill the Philox counter's two 32-bit words
_MAX_SEED = 2**64

DEFINITIONS = {
    "paths": "independent draws of every driver over the horizon; path p uses Philox counters (month, stream, p)",
    "project_irr": "annualised monthly IRR of the project cash flows (unlevered, after tax) of each path",
    "equity_irr": "annualised monthly IRR of the equity cash flows of each path",
    "npv": "project cash flows discounted at the scenario's discount rate",
    "payback_years_equity": "years from which cumulative equity cash flow stays non-negative (NaN if never)",
    "min_dscr": "lowest loan-year DSCR (CFADS / scheduled debt service) of each path",
    "payback_years_equity_first_crossing": "years until cumulative equity cash flow first turns non-negative (the "
                                           "textbook payback; NaN if never within the horizon)",
    "sponsor_injection": "total cash the sponsor injects over the horizon to meet debt service the waterfall's "
                         "cash and reserves do not cover (tokensim.finance DEFINITIONS['sponsor_injection'])",
    "first_loan_default_month": "month of the path's first loan default event (payment shortfall, uncured DSCR "
                                "below the covenant, DSRA not restored; NaN if none)",
    "prob_loan_default": "share of paths with a loan default event within the horizon",
    "no_value": "paths where the metric does not exist (no IRR, no payback, no debt service); excluded from "
                "mean, std and quantiles, and counted by reason",
    "share_with_value": "share of all paths that have a value of the metric (count / paths): the probability of "
                        "the condition its mean, std, quantiles, min and max are taken under",
    "conditional_on": "the paths a metric's statistics cover (null: all paths); its mean, std, quantiles, min and "
                      "max are conditional on it",
    "prob_payback_equity_within_horizon": "share of paths whose cumulative equity cash flow is non-negative from "
                                          "some month within the horizon on: P(equity payback <= horizon)",
    "quantiles": "from a fixed-grid histogram (16384 bins over the range in `histograms`), linear within a bin, "
                 "clamped to [min, max]: error at most one bin width",
    "prob_dscr_below_covenant": "share of paths with a loan-year DSCR below the covenant",
    "prob_equity_irr_below_hurdle": "share of paths whose equity IRR is below the hurdle (paths without an IRR: "
                                    "negative equity NPV at the hurdle)",
    "prob_tenant_default": "share of paths where the tenant defaults within the contract term",
    "mean_std_error": "standard error of the NPV mean, std / sqrt(paths with a value)",
}


@dataclass(frozen=True)
class MonteCarloModel:
    """What every path shares: engine inputs, driver constants, metric settings and the deterministic case.

    Built by :func:`build_model` (from a scenario: :func:`tokensim.resolve.montecarlo.montecarlo_model`). ``name``
    labels the result; money is in ``currency``; ``hurdle`` is the equity hurdle IRR (annual) and ``dscr_covenant``
    the DSCR covenant, ``None`` where the scenario sets none.
    """

    name: str
    currency: str
    inputs: FinanceInputs
    uncertainty: Uncertainty
    drivers: DriverModel
    hurdle: float | None
    dscr_covenant: float | None
    deterministic: dict[str, float]
    specs: tuple[HistogramSpec, ...]


def _check_single_row(inputs: FinanceInputs) -> None:
    for name in ("rent_per_gpu_month", "market_rent_per_gpu_hour", "usage_fee_per_million_tokens"):
        if np.size(getattr(inputs, name)) != 1:
            raise ValueError(f"the Monte Carlo runs one contract: {name} must be a scalar")


def metric_specs(inputs: FinanceInputs, deterministic: dict[str, float], horizon_years: float
                 ) -> tuple[HistogramSpec, ...]:
    """Histogram ranges, fixed by the inputs (never by the data), and the shifts of the sums.

    IRRs: [-100 %, +400 %] a year (0.03 % bins). NPV: the deterministic NPV ± 2 × capex total. Equity payback:
    [0, horizon]. Min DSCR: [-2, 6]. Values outside fall in the under/overflow bins, bounded by the exact min/max.
    """
    def shift(name):
        value = deterministic.get(name, math.nan)
        return value if math.isfinite(value) else 0.0

    centre = shift("npv")
    span = 2.0 * max(inputs.capex_total, 1.0)
    return (
        HistogramSpec("project_irr", -1.0, 4.0, shift("project_irr")),
        HistogramSpec("equity_irr", -1.0, 4.0, shift("equity_irr")),
        HistogramSpec("npv", centre - span, centre + span, centre),
        HistogramSpec("payback_years_equity", 0.0, float(horizon_years), shift("payback_years_equity")),
        HistogramSpec("min_dscr", -2.0, 6.0, shift("min_dscr")),
        HistogramSpec("payback_years_equity_first_crossing", 0.0, float(horizon_years),
                      shift("payback_years_equity_first_crossing")),
        HistogramSpec("sponsor_injection", 0.0, 2.0 * max(inputs.capex_total, 1.0), shift("sponsor_injection")),
        HistogramSpec("first_loan_default_month", 0.0, float(inputs.months), shift("first_loan_default_month")),
    )


def build_model(inputs: FinanceInputs, uncertainty: Uncertainty, *, name: str, horizon_years: float,
                hurdle: float | None = None, dscr_covenant: float | None = None) -> MonteCarloModel:
    """What the engines need to run paths of one contract.

    Parameters
    ----------
    inputs : FinanceInputs
        The finance engine's inputs of one contract (one row), debt fixed at close.
    uncertainty : Uncertainty
        The stochastic drivers' parameters.
    name : str
        Labels the result (the scenario's name).
    horizon_years : float
        The horizon in years (``inputs.months`` / 12 as the scenario states it): the equity payback histogram's range.
    hurdle : float, optional
        Equity hurdle IRR, annual (0.12 = 12%); ``None``: no hurdle flag.
    dscr_covenant : float, optional
        DSCR covenant; ``None``: no covenant probability.

    Returns
    -------
    MonteCarloModel
        With the driver constants, the deterministic case (every volatility at zero) and the histogram ranges.
    """
    _check_single_row(inputs)
    base = finance_metrics(inputs, Drivers.base(inputs))
    f = base.flows
    deterministic = {
        "project_irr": float(base.project_irr[0]), "equity_irr": float(base.equity_irr[0]), "npv": float(f.npv[0]),
        "payback_years_equity": float(f.payback_equity[0]), "min_dscr": float(f.min_dscr[0]),
        "payback_years_equity_first_crossing": float(f.payback_equity_first_crossing[0]),
        "sponsor_injection": float(f.sponsor_injection[0]),
        "first_loan_default_month": float(f.first_loan_default_month[0]),
    }
    return MonteCarloModel(name=name, currency=inputs.currency, inputs=inputs, uncertainty=uncertainty,
                           drivers=driver_model(uncertainty, inputs), hurdle=hurdle, dscr_covenant=dscr_covenant,
                           deterministic=deterministic, specs=metric_specs(inputs, deterministic, horizon_years))


def evaluate_paths(model: MonteCarloModel, seed: int, first_path: int, n: int, xp=np) -> dict[str, Any]:
    """Per-path metrics, flags and IRR reason codes of paths first_path .. first_path + n - 1 (the NumPy twin of the
    kernel ``mc_paths``; with ``xp=cupy`` the same array code runs unfused on the GPU, the benchmark's baseline)."""
    paths = xp.arange(first_path, first_path + n, dtype=xp.uint64)
    drivers = generate_drivers(model.drivers, seed, paths, xp)
    flows = cashflows(model.inputs, drivers, xp)
    project_monthly, project_reason = irr(flows.project_cf, return_reason=True)
    equity_monthly, equity_reason = irr(flows.equity_cf, return_reason=True)
    equity_irr = annualise_monthly_rate(equity_monthly)
    if model.hurdle is None:
        below = xp.zeros(n, dtype=bool)
    else:
        below = equity_irr < model.hurdle
        missing = ~xp.isfinite(equity_irr)
        if bool(missing.any()):
            rows = flows.equity_cf[missing]
            below[missing] = npv(monthly_rate(model.hurdle), rows) < 0
    return {
        "metrics": {"project_irr": annualise_monthly_rate(project_monthly), "equity_irr": equity_irr,
                    "npv": flows.npv, "payback_years_equity": flows.payback_equity, "min_dscr": flows.min_dscr,
                    "payback_years_equity_first_crossing": flows.payback_equity_first_crossing,
                    "sponsor_injection": flows.sponsor_injection,
                    "first_loan_default_month": flows.first_loan_default_month},
        "reasons": {"project_irr": project_reason, "equity_irr": equity_reason},
        "flags": {"dscr_below_covenant": flows.covenant_breached, "equity_irr_below_hurdle": below,
                  "tenant_default": drivers.tenant_default_month < model.inputs.months,
                  "loan_default": xp.isfinite(flows.first_loan_default_month)},
        "tenant_default_month": drivers.tenant_default_month,
    }


def dscr_fan(model: MonteCarloModel, *, paths: int = 20_000, seed: int = 0,
             quantiles: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)) -> dict[str, Any]:
    """DSCR quantiles per loan year over the first ``paths`` paths of ``seed``.

    Parameters
    ----------
    model : MonteCarloModel
        The contract and its drivers.
    paths : int
        Paths (the same paths as a run's first ones).
    seed : int
        Philox key.
    quantiles : tuple of float
        Probabilities in [0, 1].

    Returns
    -------
    dict
        ``years`` (loan years with debt service), ``quantiles`` {"p05": DSCR per year, ...}, ``covenant``,
        ``breach_share_by_year`` (share of paths below the covenant each year), ``breach_probability`` (any year),
        from the NumPy engine's per-year DSCR; with a refinanced balloon also ``refinancing``: the balloon's month,
        amount and rate, the tail's loan years and ``prob_refinancing_dscr_below_1``, the share of the paths with a
        loan-year DSCR below 1 in some tail year (the tail's CFADS does not cover the refinanced debt's service at
        the stated rate in that year).
    """
    index = np.arange(paths, dtype=np.uint64)
    flows = cashflows(model.inputs, generate_drivers(model.drivers, seed, index, np), np)
    by_year = flows.dscr_by_year
    with np.errstate(invalid="ignore"):
        keep = [y for y in range(by_year.shape[1]) if np.isfinite(by_year[:, y]).any()]
        # keys p05 ... p95 as every other summary names them ("0.05" clashed with dotted paths: issue 16)
        q = {f"p{round(100 * p):02d}": [float(np.nanquantile(by_year[:, y], p)) for y in keep] for p in quantiles}
        covenant = model.dscr_covenant
        breach = [float(np.mean(by_year[:, y] < covenant)) for y in keep] if covenant is not None else None
    out: dict[str, Any] = {"years": [y + 1 for y in keep], "quantiles": q, "covenant": covenant,
                           "breach_share_by_year": breach,
                           "breach_probability": float(np.mean(flows.covenant_breached)), "paths": paths,
                           "seed": seed, "backend": "numpy"}
    debt = model.inputs.debt
    if debt.refinanced_month >= 0:  # the refinancing risk of the balloon (tokensim.finance DEFINITIONS)
        tail = [y for y in range(by_year.shape[1]) if 12 * y + 1 > debt.refinanced_month]
        with np.errstate(invalid="ignore"):
            below = (by_year[:, tail] < 1.0).any(axis=1) if tail else np.zeros(paths, dtype=bool)
        out["refinancing"] = {
            "balloon_month": int(debt.refinanced_month),
            "balloon_amount": float(np.asarray(debt.refinanced_amount).reshape(-1)[0]),
            "refinancing_rate": float(debt.refinancing_rate), "tail_years": [y + 1 for y in tail],
            "prob_refinancing_dscr_below_1": float(np.mean(below))}
    return out


def residual_p10_lender_case(model: MonteCarloModel, *, paths: int = 5_000, seed: int = 0) -> dict[str, Any] | None:
    """The lender case at the Monte Carlo residual's 10th percentile (tokensim.finance DEFINITIONS['lender_case']).

    Parameters
    ----------
    model : MonteCarloModel
        The contract and its drivers.
    paths : int
        Paths (the same paths as a run's first ones) whose residual sale gives the percentile.
    seed : int
        Philox key.

    Returns
    -------
    dict or None
        The deterministic case with the residual at P10 / the base case's residual (``residual_share``), as each
        case of ``lender.lender_case`` (money in the model's currency), plus ``paths`` and ``seed``; None when the
        base case has no residual.
    """
    drivers = generate_drivers(model.drivers, seed, np.arange(paths, dtype=np.uint64), np)
    share = residual_quantile_share(model.inputs, drivers, 0.10)
    if share is None:
        return None
    return {**lender_case_at(model.inputs, share), "paths": paths, "seed": seed}


def _concat(parts: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in parts[0]:
        if isinstance(parts[0][key], dict):
            out[key] = {k: np.concatenate([p[key][k] for p in parts]) for k in parts[0][key]}
        else:
            out[key] = np.concatenate([p[key] for p in parts])
    return out


@dataclass(frozen=True)
class MonteCarloResult:
    """Summaries of a Monte Carlo run; :meth:`to_dict` gives the JSON of ``tokensim mc``."""

    scenario: str
    currency: str
    paths: int
    seed: int
    backend: str
    device: str | None
    dtype: str
    months: int
    elapsed_s: float
    metrics: dict[str, dict[str, Any]]
    prob_dscr_below_covenant: float | None
    prob_equity_irr_below_hurdle: float | None
    prob_tenant_default: float
    prob_payback_equity_within_horizon: float
    prob_loan_default: float
    mean_std_error: float
    deterministic: dict[str, float]
    histograms: dict[str, dict[str, float]]
    uncertainty: dict[str, Any]
    notes: tuple[str, ...] = ()
    keep_paths: str | None = None
    warnings: list[dict[str, str]] = field(default_factory=list)  # plausibility warnings (tokensim._warnings)
    definitions: dict[str, str] = field(default_factory=lambda: dict(DEFINITIONS))
    # histogram counts per metric ([underflow, bins..., overflow]) for charts; not part of the JSON
    histogram_counts: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def chart_histograms(self) -> dict[str, dict[str, Any]]:
        """Per metric: ``{low, high, counts, underflow, overflow}`` — the grid the distribution charts draw."""
        out = {}
        for name, counts in self.histogram_counts.items():
            grid = self.histograms[name]
            out[name] = {"low": grid["low"], "high": grid["high"], "counts": counts[1:-1],
                         "underflow": int(counts[0]), "overflow": int(counts[-1])}
        return out

    @property
    def path_months_per_s(self) -> float:
        return self.paths * self.months / self.elapsed_s if self.elapsed_s > 0 else math.inf

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "scenario": self.scenario, "currency": self.currency, "paths": self.paths, "seed": self.seed,
            "backend": self.backend, "device": self.device, "dtype": self.dtype, "months": self.months,
            "elapsed_s": self.elapsed_s, "path_months_per_s": self.path_months_per_s,
        }
        out.update(self.metrics)
        out.update({
            "prob_dscr_below_covenant": self.prob_dscr_below_covenant,
            "prob_equity_irr_below_hurdle": self.prob_equity_irr_below_hurdle,
            "prob_tenant_default": self.prob_tenant_default,
            "prob_payback_equity_within_horizon": self.prob_payback_equity_within_horizon,
            "prob_loan_default": self.prob_loan_default,
            "mean_std_error": self.mean_std_error,
            "deterministic": self.deterministic, "histograms": self.histograms, "uncertainty": self.uncertainty,
            "definitions": self.definitions, "warnings": self.warnings,
        })
        if self.keep_paths is not None:
            out["keep_paths"] = self.keep_paths
        return out


class _PathWriter:
    """Per-path rows to Parquet, one row group per chunk, into a temporary file renamed into place at the end."""

    def __init__(self, path: str | Path):
        import pyarrow.parquet  # noqa: F401  (fails early, before any work, if pyarrow is missing)

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        self.writer = None

    def write(self, first_path: int, out: dict[str, Any]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        n = len(out["metrics"]["npv"])
        columns = {"path": np.arange(first_path, first_path + n, dtype=np.uint64)}
        for name in PATH_METRICS:
            columns[name] = to_numpy(out["metrics"][name]).astype(np.float64)
        for name in ("project_irr", "equity_irr"):
            columns[f"{name}_reason"] = to_numpy(out["reasons"][name]).astype(np.int8)
        for name in FLAGS:
            columns[name] = to_numpy(out["flags"][name]).astype(bool)
        default = to_numpy(out["tenant_default_month"]).astype(np.int64)
        months = int(out.get("months", 0))
        # 1-based operating month of the default, 0 when none (the engine's index `months` means never).
        columns["tenant_default_month"] = np.where(default < months, default + 1, 0).astype(np.int32)
        table = pa.table(columns)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.tmp, table.schema)
        assert self.writer is not None
        self.writer.write_table(table)

    def close(self, ok: bool) -> None:
        if self.writer is not None:
            self.writer.close()
        if ok and self.writer is not None:
            os.replace(self.tmp, self.path)
        elif self.tmp.exists():
            self.tmp.unlink()


def _numpy_chunks(model: MonteCarloModel, seed: int, paths: int, chunk: int):
    """Yield (first path, per-path outputs) per chunk, blocks evaluated on a thread pool, in path order."""
    workers = cpu_workers()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tokensim-mc") as pool:
        for first in range(0, paths, chunk):
            n = min(chunk, paths - first)
            stop = first + n
            starts = range(first, stop, EVAL_BLOCK_PATHS)
            parts = list(pool.map(
                lambda s, stop=stop: evaluate_paths(model, seed, s, min(EVAL_BLOCK_PATHS, stop - s)), starts))
            yield first, _concat(parts)


def _check_run_args(paths, seed, chunk_paths, backend, dtype, keep_paths) -> None:
    if isinstance(paths, bool) or not isinstance(paths, (int, np.integer)) or paths <= 0 or paths >= _MAX_PATHS:
        raise ParameterError("paths", f"got {paths!r}; allowed: a whole number of paths in [1, 2**63)", sep=": ")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < _MAX_SEED:
        raise ParameterError("seed", f"got {seed!r}; allowed: a whole number in [0, 2**64)", sep=": ")
    if chunk_paths is not None:
        check_number(chunk_paths, None, "chunk_paths", low=1, integer=True)
    if dtype is not None and dtype not in ("float32", "float64"):
        raise ParameterError("dtype", f"got {dtype!r}; allowed: float32, float64", sep=": ")
    if keep_paths is not None and Path(keep_paths).suffix != ".parquet":
        raise ParameterError("keep_paths", f"got {str(keep_paths)!r}; allowed: a file name ending in .parquet",
                             sep=": ")
    if keep_paths is not None:
        check_output_path(keep_paths, "keep_paths")


def simulate(model: MonteCarloModel, *, paths: int, seed: int = 0, backend: str = "auto", dtype: str | None = None,
             chunk_paths: int | None = None, keep_paths: str | Path | None = None,
             progress: Callable[[int, int], None] | None = None) -> MonteCarloResult:
    """Run ``paths`` Monte Carlo paths of a model and summarise them (see the module docstring).

    Parameters
    ----------
    model : MonteCarloModel
        The contract and its drivers (:func:`build_model`).
    paths : int
        Number of paths, in [1, 2**63).
    seed : int
        Philox key, in [0, 2**64): same seed, same results.
    backend : {"auto", "numpy", "cupy"}
        ``cupy`` runs the CUDA kernel; ``auto`` picks it when a GPU is usable.
    dtype : {"float32", "float64"}, optional
        The kernel's float type (default float32 on the GPU; NumPy always runs float64).
    chunk_paths : int, optional
        Paths per chunk (bounds memory; results do not depend on it).
    keep_paths : str or Path, optional
        A ``.parquet`` file for one row per path.
    progress : callable, optional
        ``progress(done, total)`` after each chunk.

    Returns
    -------
    MonteCarloResult
        Summaries of the per-path metrics (money in ``model.currency``), probabilities and the deterministic case.
    """
    _check_run_args(paths, seed, chunk_paths, backend, dtype, keep_paths)
    paths, seed = int(paths), int(seed)
    chosen = select_backend(backend)
    notes: list[str] = []
    if chosen.is_gpu:
        dtype = dtype or "float32"
    else:
        if dtype == "float32":
            notes.append("the NumPy backend runs in float64; --dtype float32 applies to the GPU kernel only")
        dtype = "float64"
    chunk = int(chunk_paths) if chunk_paths is not None else _DEFAULT_CHUNK[chosen.name]
    summary = Summary(list(model.specs), list(FLAGS))
    writer = _PathWriter(keep_paths) if keep_paths is not None else None
    start = time.perf_counter()
    ok = False
    try:
        if chosen.is_gpu:
            chunks = kernel_chunks(model, seed, paths, chunk, dtype)
        else:
            chunks = _numpy_chunks(model, seed, paths, chunk)
        done = 0
        for first, out in chunks:
            summary.add(first, out["metrics"], out["flags"], out["reasons"])
            if writer is not None:
                writer.write(first, {**out, "months": model.inputs.months})
            done += len(out["metrics"]["npv"])
            if progress is not None:
                progress(done, paths)
        summary.finish()
        ok = True
    finally:
        if writer is not None:
            writer.close(ok)
    elapsed = time.perf_counter() - start
    return _result(model, summary, paths, seed, chosen, dtype, elapsed, notes,
                   str(keep_paths) if keep_paths is not None else None)


def _result(model, summary, paths, seed, chosen, dtype, elapsed, notes, keep_paths) -> MonteCarloResult:
    metrics = {}
    for name in PATH_METRICS:
        reasons = IRR_REASONS if name.endswith("_irr") else None
        metrics[name] = {**summary.metrics[name].to_dict(reasons), "conditional_on": CONDITIONAL_ON[name]}
    npv_summary = summary.metrics["npv"]
    std_error = npv_summary.std / math.sqrt(npv_summary.finite) if npv_summary.finite > 1 else math.nan
    covenant = model.dscr_covenant
    return MonteCarloResult(
        scenario=model.name, currency=model.currency, paths=paths, seed=seed, backend=chosen.name, device=chosen.device,
        dtype=dtype, months=model.inputs.months, elapsed_s=elapsed, metrics=metrics,
        prob_dscr_below_covenant=summary.probability("dscr_below_covenant") if covenant is not None else None,
        prob_equity_irr_below_hurdle=summary.probability("equity_irr_below_hurdle")
        if model.hurdle is not None else None,
        prob_tenant_default=summary.probability("tenant_default"),
        prob_payback_equity_within_horizon=summary.metrics["payback_years_equity"].share_with_value,
        prob_loan_default=summary.probability("loan_default"),
        mean_std_error=std_error,
        deterministic=dict(model.deterministic),
        histograms={spec.name: {"low": spec.low, "high": spec.high, "bins": spec.bins, "bin_width": spec.bin_width}
                    for spec in model.specs},
        uncertainty=model.uncertainty.to_dict(), notes=tuple(notes), keep_paths=keep_paths,
        histogram_counts={name: summary.metrics[name].histogram.copy() for name in PATH_METRICS},
        warnings=plausibility_warnings(metrics),
    )


_IRR_METRICS = ("project_irr", "project_irr_pre_tax", "equity_irr")


def plausibility_warnings(metrics: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """Warnings on a Monte Carlo summary (issue 12: every uncertainty at its maximum gave a mean IRR of 1e63).

    Parameters
    ----------
    metrics : dict
        Per metric, its summary (``mean``, ``p05``, ``p50``, ``p95``, ...).

    Returns
    -------
    list of dict
        An ``implausible_irr`` warning for an IRR whose mean, P5, P50 or P95 lies beyond ±1,000% a year, and a
        ``non_finite`` one for a mean that overflowed.
    """
    out: list[dict[str, str]] = []
    for name in _IRR_METRICS:
        for stat in ("mean", "p05", "p50", "p95"):
            value = metrics.get(name, {}).get(stat)
            out += _warnings.irr(f"{name}.{stat}", value if isinstance(value, (int, float)) else None)
    out += _warnings.non_finite({f"{name}.mean": m.get("mean") for name, m in metrics.items()
                                 if m.get("count")})
    return out

