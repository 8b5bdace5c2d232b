"""Sensitivity of a cluster's finance to its uncertain inputs: one-at-a-time tornado and variance-based Sobol indices.

Both methods vary the same inputs (the scenario's ``uncertainty.ranges``) and report one metric
(:data:`SENSITIVITY_METRICS`):

- ``tornado`` (:func:`tornado`): each input at its low and at its high value with every other input at the scenario's
  value, 2D + 1 evaluations; rows ordered by swing |output at high − output at low|, widest first.
- ``sobol`` (:func:`sobol_indices`): Saltelli's sampling scheme on a scrambled Sobol' sequence (``SALib.sample.sobol``,
  N(D + 2) evaluations without second-order terms) and the first-order S1 and total ST indices with bootstrap
  confidence intervals (``SALib.analyze.sobol``, Saltelli 2010 / Jansen estimators). SALib samples the unit cube; each
  column is mapped to its input by the inverse CDF of the input's distribution. The inputs are independent, and a
  monotone map of each leaves the variance decomposition unchanged, so the indices are those of the inputs.

Schema of ``uncertainty.ranges`` (a mapping; the Monte Carlo ignores it): key = an input of :data:`INPUTS` (the
scenario field's dotted path), value = ``{low, high, distribution?, mode?, source?}``: ``low`` < ``high`` in the
field's unit and allowed range; ``distribution`` uniform (default) | triangular | pert (Sobol only: the tornado uses
``low`` and ``high``); ``mode`` (triangular, pert; default the scenario's value) within [low, high]. The contract rent
is keyed by its billing (``contract.rent_per_cluster_year`` ...). ``residual.percent_of_cost_at_horizon`` scales the
percent-of-cost curve so it passes through the value at the horizon. A scenario without ranges gets ±20% (uniform)
around its values for the inputs that move its cash flows (:func:`default_ranges`), listed as assumptions. Values the
loader derived from others (a defaulted discount rate = the pre-tax WACC, a fixed contract's defaulted market rent =
its rent) keep the scenario's value unless they are inputs themselves.

Evaluation in bulk (:func:`evaluate_samples`): a sample is the scenario with its inputs replaced, resolved by
:func:`tokensim.resolve.finance.finance_inputs` exactly as ``tokensim finance`` would (capex, opex rates, residual,
debt terms); the samples run as the rows of the batched finance engine (:func:`tokensim.finance.batch_metrics`, one
NumPy cash-flow engine call per block), which fixes each sample's debt at close. The floating base rate moves
interest as on a Monte Carlo path (principal fixed at close at the scenario's rate); sculpted debt is sized on each
sample's CFADS, samples sharing a rate at close sized together.
The Monte Carlo kernel draws stochastic drivers, not per-sample inputs, so sensitivity always runs on NumPy.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ._cluster import ClusterSpec, DaskSession, check_cluster_args, dask_client, ordered_results
from ._errors import ConfigError, ParameterError, UserError, did_you_mean
from .config import Section
from .config.scenario import Scenario
from .config.schema import field_spec
from .cost import cost_per_gpu_hour
from .finance import BLOCK_ROWS, batch_metrics, percent_of_cost_at, sizing_key, stack_inputs, stack_terms
from .resolve.cost import cost_inputs
from .resolve.finance import debt_terms, finance_inputs, to_debt_maturity

__all__ = ["SENSITIVITY_METRICS", "INPUTS", "METHODS", "DISTRIBUTIONS", "DEFAULT_CHANGE", "InputRange",
           "SensitivityResult", "load_ranges", "default_ranges", "evaluate_samples", "tornado", "sobol_indices",
           "check_metric", "check_samples", "run_sensitivity"]

METHODS = ("tornado", "sobol")
DISTRIBUTIONS = ("uniform", "triangular", "pert")
DEFAULT_CHANGE = 0.2  # ±20% around the scenario's value when the scenario gives no ranges
# metric -> (unit, definition)
SENSITIVITY_METRICS: dict[str, tuple[str, str]] = {
    "npv": ("currency", "project NPV at the discount rate (tokensim finance)"),
    "equity_npv": ("currency", "equity NPV at the cost of equity"),
    "project_irr": ("fraction", "project IRR after tax, annualised"),
    "equity_irr": ("fraction", "equity IRR, annualised"),
    "min_dscr": ("x", "lowest loan-year DSCR"),
    "avg_dscr": ("x", "average loan-year DSCR"),
    "llcr": ("x", "loan-life cover ratio"),
    "payback_equity": ("years", "when cumulative equity cash flow turns and stays non-negative"),
    "payback_discounted": ("years", "the same for discounted project cash flow"),
    "payback_simple": ("years", "capex / revenue of the first full operating year"),
    "payback_net": ("years", "capex / EBITDA of the first full operating year"),
    "cost_per_gpu_hour": ("currency", "cost per sold GPU-hour at the scenario's utilisation (tokensim cost)"),
}


@dataclass(frozen=True)
class _Field:
    section: str | None  # Scenario attribute holding the value; None = top level
    attr: str
    low: float | None = 0.0
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    only: str = ""  # "fixed" | "floating" (rate type), "percent_of_cost" | "economic" (residual), "" = always


def _declared(section: str | None, attr: str, key: str | None = None, only: str = "", **override: bool) -> _Field:
    """An input with the range its field declares in the scenario schema (:func:`tokensim.config.schema.field_spec`;
    ``key`` when the field's key differs from the Scenario attribute); ``override`` narrows an end's openness."""
    spec = field_spec(section, key or attr)
    return _Field(section, attr, None if spec.low is None else float(spec.low),
                  None if spec.high is None else float(spec.high), override.get("low_open", spec.low_open),
                  override.get("high_open", spec.high_open), only)


# The inputs and their ranges: each field's range as the scenario schema declares it.
INPUTS: dict[str, _Field] = {
    "utilisation": _declared(None, "utilisation"),
    **{f"capex.{a}": _declared("capex", a) for a in ("server_price", "network_and_fabric_total", "installation_total")},
    **{f"opex.{a}": _declared("opex", a) for a in (
        "board_power_w", "server_overhead_factor", "pue", "electricity_price_per_kwh", "facility_price_per_kw_month",
        "operations_per_gpu_year", "load_factor", "idle_load_factor", "maintenance_share_of_capex_per_year",
        "insurance_share_of_capex_per_year")},
    "financing.debt_share": _declared("financing", "debt_share"),
    "financing.interest_rate": _declared("financing", "interest_rate", only="fixed"),
    "financing.floating_base_rate": _declared("financing", "floating_base_rate", only="floating"),
    "financing.floating_margin": _declared("financing", "floating_margin", only="floating"),
    "financing.cost_of_equity": _declared("financing", "cost_of_equity"),
    "financing.discount_rate": _declared("financing", "discount_rate"),
    **{f"contract.rent_per_{b}": _declared("contract", "rent", f"rent_per_{b}", only=b)
       for b in ("gpu_hour", "server_month", "cluster_year")},
    **{f"contract.{a}": _declared("contract", a) for a in (
        "escalator_per_year", "usage_fee_per_million_tokens", "usage_tokens_per_s_per_gpu", "market_rent_per_gpu_hour",
        "usage_busy_share", "market_rent_change_per_year", "spot_utilisation")},
    "tax.rate": _declared("tax", "rate"),
    "residual.percent_of_cost_at_horizon": _declared("residual", "percent_of_cost_by_age", only="percent_of_cost"),
    **{f"residual.{a}": _declared("residual", a, only="economic") for a in (
        "tokens_per_s_per_gpu", "newest_cost_per_million_tokens", "markup", "busy_share")},
}
# Inputs given ±DEFAULT_CHANGE when a scenario has no ranges, where they move its cash flows (see default_ranges).
_DEFAULT_INPUTS = ("contract.rent_per_{billing}", "contract.usage_fee_per_million_tokens",
                   "contract.market_rent_per_gpu_hour", "contract.spot_utilisation", "capex.server_price",
                   "residual.percent_of_cost_at_horizon", "residual.newest_cost_per_million_tokens",
                   "financing.interest_rate", "financing.floating_base_rate", "opex.electricity_price_per_kwh",
                   "opex.pue", "opex.facility_price_per_kw_month", "opex.operations_per_gpu_year",
                   "financing.discount_rate")


def _applies(s: Scenario, f: _Field) -> str:
    """Why field ``f`` cannot vary in ``s`` ('' when it can)."""
    c = s.contract
    if f.only in ("fixed", "floating") and s.financing.rate_type != f.only:
        return f"only for {f.only}-rate debt (this scenario's debt is {s.financing.rate_type})"
    if f.only in ("percent_of_cost", "economic") and s.residual.method != f.only:
        return f"only for residual.method {f.only} (this scenario's is {s.residual.method})"
    if f.attr == "rent" and (c.type == "spot" or c.billing != f"per_{f.only}"):
        return ("absent for a spot contract (vary contract.market_rent_per_gpu_hour)" if c.type == "spot"
                else f"the key of the scenario's rent (it bills {c.billing}: contract.rent_{c.billing})")
    return ""


def _base(s: Scenario, name: str) -> float:
    f = INPUTS[name]
    if name == "residual.percent_of_cost_at_horizon":
        return percent_of_cost_at(s.residual.percent_of_cost_by_age, to_debt_maturity(s).horizon_years)
    return float(getattr(s if f.section is None else getattr(s, f.section), f.attr))


@dataclass(frozen=True)
class InputRange:
    """One uncertain input: its range, the scenario's value, and the distribution Sobol samples it from."""

    name: str
    low: float
    high: float
    base: float
    distribution: str = "uniform"
    mode: float | None = None
    source: str = ""
    origin: str = "scenario"  # "scenario" (uncertainty.ranges) or "default" (±DEFAULT_CHANGE)

    def ppf(self, u):
        """The input value at cumulative probability ``u`` (the inverse CDF)."""
        u = np.asarray(u, dtype=float)
        width = self.high - self.low
        if self.distribution == "uniform":
            return self.low + u * width
        c = (self.mode - self.low) / width
        if self.distribution == "triangular":  # inverse CDF of the triangle on [0, 1] with its peak at c
            return self.low + width * np.where(u < c, np.sqrt(u * c), 1.0 - np.sqrt((1.0 - u) * (1.0 - c)))
        from scipy.stats import beta  # PERT: Beta(1 + 4c, 1 + 4(1 - c)) on [low, high]

        return self.low + width * beta.ppf(u, 1.0 + 4.0 * c, 1.0 + 4.0 * (1.0 - c))

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.name, "low": self.low, "high": self.high, "base": self.base,
                "distribution": self.distribution, "mode": self.mode, "source": self.source, "origin": self.origin}


def _range(s: Scenario, name: str, entry: Section) -> InputRange:
    f = INPUTS[name]
    entry.check_keys(("low", "high", "distribution", "mode", "source"))
    bounds: dict[str, Any] = dict(low=f.low, high=f.high, low_open=f.low_open, high_open=f.high_open)
    low, high = entry.number("low", **bounds), entry.number("high", **bounds)
    if not low < high:
        raise entry.error("high", high, f"a number above low ({low:g})")
    dist = entry.string("distribution", "uniform", choices=DISTRIBUTIONS)
    base = _base(s, name)
    mode = None
    if dist != "uniform":
        if "mode" not in entry and not low <= base <= high:
            raise entry.error("mode", ConfigError.MISSING,  # type: ignore[attr-defined]
                              f"a number in [{low:g}, {high:g}] (the scenario's value {base:g} is outside)")
        mode = entry.number("mode", base, low=low, high=high)
    elif "mode" in entry:
        raise entry.error("mode", entry.raw("mode"), "absent for a uniform distribution")
    return InputRange(name, low, high, base, dist, mode, entry.source() if "source" in entry else "")


def load_ranges(s: Scenario) -> tuple[list[InputRange], list[dict]]:
    """The scenario's ``uncertainty.ranges`` (validated; errors name file, field and range), else the defaults;
    with the assumptions made."""
    unc = Section(s.uncertainty, s.file, "uncertainty")
    if "ranges" not in unc:
        return default_ranges(s)
    sec = unc.section("ranges")
    if not sec.keys():
        raise unc.error("ranges", {}, "a mapping of at least one input: {low, high}")
    out = []
    for name in sec.keys():
        if name not in INPUTS:
            raise sec.error(str(name), sec.raw(name), f"an input of {', '.join(INPUTS)}",
                            did_you_mean(str(name), INPUTS) or "unknown input")
        why = _applies(s, INPUTS[name])
        if why:
            raise sec.error(name, sec.raw(name), why)
        out.append(_range(s, name, sec.section(name)))
    return out, []


def _moves(s: Scenario, name: str) -> bool:
    """Whether an input moves this scenario's cash flows (the defaults leave inert ones out)."""
    c = s.contract
    market = c.type == "spot" or c.contracted_share < 1 or c.term_years < to_debt_maturity(s).horizon_years
    if name in ("contract.market_rent_per_gpu_hour", "contract.spot_utilisation"):
        return market
    if name == "contract.usage_fee_per_million_tokens":
        return c.type == "base_plus_usage"
    if name in ("financing.interest_rate", "financing.floating_base_rate"):
        return s.financing.debt_share > 0
    return True


def default_ranges(s: Scenario) -> tuple[list[InputRange], list[dict]]:
    """±:data:`DEFAULT_CHANGE` (uniform, clipped to each field's range) around the scenario's value of each input of
    ``_DEFAULT_INPUTS`` that applies to it, moves its cash flows and is not zero; with one assumption per input."""
    out, notes = [], []
    for name in (n.format(billing=s.contract.billing.removeprefix("per_")) for n in _DEFAULT_INPUTS):
        f = INPUTS[name]
        if _applies(s, f) or not _moves(s, name):
            continue
        base = _base(s, name)
        if base == 0:
            continue
        low, high = sorted((base * (1 - DEFAULT_CHANGE), base * (1 + DEFAULT_CHANGE)))
        low = max(low, f.low) if f.low is not None else low
        high = min(high, f.high) if f.high is not None else high
        out.append(InputRange(name, low, high, base, origin="default", source="assumption"))
        notes.append({"field": f"uncertainty.ranges.{name}", "value": [low, high],
                      "why": f"no uncertainty.ranges in the scenario: ±{DEFAULT_CHANGE:.0%} around its value "
                             f"{base:g} (uniform, within the field's allowed range)"})
    return out, notes


# -- evaluation in bulk ----------------------------------------------------------------------------------------------
def _scenario_at(s: Scenario, names: Sequence[str], values: Sequence[float]) -> Scenario:
    """The scenario with the inputs ``names`` at ``values`` (the floating base rate is applied to the engine inputs)."""
    changes: dict[str | None, dict[str, Any]] = {}
    for name, raw in zip(names, values, strict=False):
        f = INPUTS[name]
        value: Any = float(raw)
        if name == "financing.floating_base_rate":
            continue
        if name == "residual.percent_of_cost_at_horizon":
            curve = s.residual.percent_of_cost_by_age
            at = percent_of_cost_at(curve, to_debt_maturity(s).horizon_years)
            value = tuple((age, min(1.0, share * value / at)) for age, share in curve) if at > 0 else ((0.0, value),)
        elif name == "financing.floating_margin":
            changes.setdefault("financing", {})["interest_rate"] = (s.financing.floating_base_rate or 0.0) + value
        changes.setdefault(f.section, {})[f.attr] = value
    top = changes.pop(None, {})
    top.update({section: replace(getattr(s, section), **kw) for section, kw in changes.items()
                if section is not None})
    return replace(s, **top)


def evaluate_samples(s: Scenario, names: Sequence[str], values, metric: str) -> np.ndarray:
    """A metric of the scenario with some inputs set to each row of a sample.

    Parameters
    ----------
    s : Scenario
        The scenario.
    names : sequence of str
        Inputs of :data:`INPUTS` (dotted scenario paths).
    values : array_like of shape (samples, inputs)
        Each sample's values, in each input's unit.
    metric : str
        One of :data:`SENSITIVITY_METRICS`.

    Returns
    -------
    ndarray of shape (samples,)
        The metric per sample, in its unit (:data:`SENSITIVITY_METRICS`): money in the scenario's currency, IRRs annual
        fractions, paybacks in years. Finance metrics run as one batched engine row per sample, in blocks of
        :data:`tokensim.finance.BLOCK_ROWS` samples sharing a sizing key (sculpted debt: the rate at close).
    """
    values = np.atleast_2d(np.asarray(values, dtype=float))
    names = list(names)
    floating = "financing.floating_base_rate"
    rates = values[:, names.index(floating)] if floating in names else None
    variants = [_scenario_at(s, names, row) for row in values]
    if metric == "cost_per_gpu_hour":  # scalar arithmetic per sample, no cash flows
        return np.array([float(cost_per_gpu_hour(cost_inputs(v), v.utilisation).total) for v in variants])
    terms = [debt_terms(v) for v in variants]
    groups: dict[float, list[int]] = {}
    for i, t in enumerate(terms):
        groups.setdefault(sizing_key(t), []).append(i)
    out = np.empty(len(variants))
    for rows in groups.values():
        for start in range(0, len(rows), BLOCK_ROWS):
            block = rows[start:start + BLOCK_ROWS]
            inputs = stack_inputs([finance_inputs(variants[i], size_debt=False) for i in block])
            out[block] = batch_metrics(inputs, stack_terms([terms[i] for i in block]), [metric],
                                       floating_base_rate=None if rates is None else rates[block])[metric]
    return out


# -- the two methods, on any function of an (n, inputs) array ---------------------------------------------------------
def tornado(func: Callable[[np.ndarray], np.ndarray], base, low, high) -> tuple[float, np.ndarray, np.ndarray]:
    """(output at ``base``, outputs with each input alone at its ``low``, at its ``high``): one call of ``func`` on
    the 2D + 1 rows base, (input 0 low), (input 0 high), (input 1 low) ..."""
    base = np.asarray(base, dtype=float)
    d = base.size
    x = np.tile(base, (2 * d + 1, 1))
    x[1 + 2 * np.arange(d), np.arange(d)] = low
    x[2 + 2 * np.arange(d), np.arange(d)] = high
    y = np.asarray(func(x), dtype=float)
    return float(y[0]), y[1::2], y[2::2]


def check_samples(samples: int) -> int:
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 2 \
            or samples & (samples - 1) or samples > 2**20:
        raise ParameterError("samples", f"got {samples!r}; allowed: a power of 2 in [2, 2**20] (the Sobol' "
                             "sequence's balance needs it), e.g. 1024", sep=": ")
    return int(samples)


def sobol_indices(func: Callable[[np.ndarray], np.ndarray], bounds: Sequence[tuple[float, float]], *,
                  samples: int = 1024, seed: int = 0, ppf: Sequence[Callable] | None = None,
                  conf_level: float = 0.95, resamples: int = 100, output: str = "the output") -> dict[str, Any]:
    """First-order and total Sobol indices of ``func`` (rows of input values → outputs) over independent inputs,
    uniform on ``bounds`` or with the inverse CDFs ``ppf`` (then ``bounds`` only names the inputs' count): SALib's
    Saltelli sample of ``samples`` base points (N(D + 2) evaluations, one call of ``func``) and its estimators with
    ``conf_level`` bootstrap intervals. Deterministic for a seed."""
    from SALib.analyze import sobol as analyze
    from SALib.sample import sobol as sample

    samples = check_samples(samples)
    d = len(bounds)
    problem = {"num_vars": d, "names": [f"x{i}" for i in range(d)], "bounds": [[0.0, 1.0]] * d}
    u = sample.sample(problem, samples, calc_second_order=False, scramble=True, seed=seed)
    x = np.column_stack([ppf[i](u[:, i]) if ppf is not None else lo + u[:, i] * (hi - lo)
                         for i, (lo, hi) in enumerate(bounds)])
    y = np.asarray(func(x), dtype=float)
    bad = int(np.count_nonzero(~np.isfinite(y)))
    if bad:
        raise UserError(f"{output} has no value in {bad:,} of {len(y):,} samples (e.g. no IRR, no payback within the "
                        "horizon, no debt service): Sobol indices need one in every sample; choose a metric defined "
                        "over the whole ranges (npv always is) or narrow the ranges")
    out = {"evaluations": len(y), "output_mean": float(y.mean()), "output_std": float(y.std())}
    if np.ptp(y) == 0:  # a constant output has no variance to share out (SALib would warn and return zeros)
        zeros = np.zeros(d)
        return {**out, "S1": zeros, "S1_conf": zeros, "ST": zeros, "ST_conf": zeros}
    # SALib draws its bootstrap from the global NumPy state when the seed is 0: seed + 1 keeps it deterministic
    si = analyze.analyze(problem, y, calc_second_order=False, num_resamples=resamples, conf_level=conf_level,
                         seed=int(seed) + 1, print_to_console=False)
    return {**out, **{k: np.asarray(si[k], dtype=float) for k in ("S1", "S1_conf", "ST", "ST_conf")}}


# -- on a scenario --------------------------------------------------------------------------------------------------
def check_metric(metric: str) -> str:
    if metric not in SENSITIVITY_METRICS:
        near = [m for m in SENSITIVITY_METRICS if metric and metric.lower() in m]
        hint = did_you_mean(metric, SENSITIVITY_METRICS) or (
            f"did you mean {' or '.join(repr(m) for m in near)}?" if near else "")
        raise ParameterError("metric", f"got {metric!r}; allowed: one of {', '.join(SENSITIVITY_METRICS)}"
                             + (f" ({hint})" if hint else ""), sep=": ")
    return metric


def _label(name: str, value: float) -> str:
    f = INPUTS[name]
    fraction = (f.high is not None and f.high <= 1) or "rate" in name or "change" in name or "markup" in name
    if fraction:
        return f"{value:.2%}"
    mag = abs(value)
    return f"{value / 1e9:.3g}bn" if mag >= 1e9 else f"{value / 1e6:.3g}m" if mag >= 1e6 else f"{value:,.4g}"


@dataclass(frozen=True)
class SensitivityResult:
    """A tornado or Sobol analysis of one metric; :meth:`to_dict` is the JSON of ``tokensim sensitivity``."""

    scenario: str
    currency: str
    method: str
    metric: str
    base_value: float
    inputs: tuple[InputRange, ...]
    rows: tuple[dict, ...]  # tornado rows (widest swing first) or Sobol rows (largest ST first)
    evaluations: int
    elapsed_s: float
    assumptions: tuple[dict, ...] = ()
    notes: tuple[str, ...] = ()
    sobol: dict[str, Any] = field(default_factory=dict)  # samples, seed, conf_level, output_mean, output_std

    @property
    def metric_unit(self) -> str:
        return SENSITIVITY_METRICS[self.metric][0]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "scenario": self.scenario, "currency": self.currency, "method": self.method, "metric": self.metric,
            "metric_unit": self.metric_unit, "metric_definition": SENSITIVITY_METRICS[self.metric][1],
            "base_value": self.base_value, "backend": "numpy", "evaluations": self.evaluations,
            "elapsed_s": self.elapsed_s, **self.sobol,
            "inputs": [r.to_dict() for r in self.inputs], self.method: [dict(r) for r in self.rows],
            "assumptions": [dict(a) for a in self.assumptions], "notes": list(self.notes),
        }
        return out


def _evaluate_on_dask(session: DaskSession, chunk_rows: int | None, s: Scenario, names: Sequence[str], values,
                      metric: str) -> np.ndarray:
    """:func:`evaluate_samples` with the rows cut into chunks, one Dask task each, joined in row order (each row's
    value depends only on that row, so the array is the in-process one; tests/test_dask.py)."""
    values = np.atleast_2d(np.asarray(values, dtype=float))
    n = len(values)
    chunk = chunk_rows or max(1, -(-n // (4 * max(session.workers, 1))))
    count = -(-n // chunk)

    def args(i: int) -> tuple:
        return s, list(names), values[i * chunk: (i + 1) * chunk], metric

    parts = [y for _, y in ordered_results(session.client, evaluate_samples, count, args,
                                           window=max(4, 2 * session.workers), name="tokensim-sensitivity")]
    return np.concatenate(parts) if parts else np.empty(0)


def run_sensitivity(s: Scenario, *, method: str = "tornado", metric: str = "npv", samples: int = 1024,
                    seed: int = 0, ranges: Sequence[InputRange] | None = None, client: Any = None,
                    scheduler: str | None = None, workers: int | None = None, gpus_per_node: int | None = None,
                    chunk_rows: int | None = None) -> SensitivityResult:
    """What drives a finance metric: one input at a time (tornado) or variance shares (Sobol indices).

    Evaluated in bulk on the NumPy cash-flow engine, each sample resolved exactly as ``tokensim finance`` would.

    Parameters
    ----------
    s : Scenario
        The base case.
    method : {"tornado", "sobol"}
        Tornado: each input at its low and high end, the others at the base; Sobol: first-order and total indices
        from Saltelli sampling (SALib).
    metric : str
        One of :data:`SENSITIVITY_METRICS` (``npv``, ``equity_npv``, ``project_irr``, ``equity_irr``, ``min_dscr``,
        ...).
    samples : int
        Sobol base samples N, a power of 2 (N x (inputs + 2) evaluations); unused by the tornado, which still checks
        it (and ``seed``).
    seed : int
        Seed of the scrambled Sobol' sequence, in [0, 2**63).
    ranges : sequence of InputRange, optional
        The inputs and their ranges (default: the scenario's ``uncertainty.ranges``, else :func:`default_ranges`).
    client, scheduler, workers, gpus_per_node : optional, at most one
        Evaluate the samples on Dask (the ``dask`` extra), ``chunk_rows`` samples a task (default: 4 tasks a
        worker): a connected ``distributed.Client``, a scheduler's address, a local cluster of ``workers`` processes
        or a local CUDA cluster. Every sample's value, and so every index, is the in-process one.

    Returns
    -------
    SensitivityResult
        The base value, one row per input (tornado: the metric at each end and the swing; Sobol: S1 and ST with their
        confidence intervals), the ranges used and the assumptions behind them; money in the scenario currency.
    """
    cluster = ClusterSpec(scheduler=scheduler, workers=workers, gpus_per_node=gpus_per_node, client=client)
    check_cluster_args(cluster)
    if chunk_rows is not None and (isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1):
        raise ParameterError("chunk_rows", f"got {chunk_rows!r}; allowed: a whole number >= 1", sep=": ")
    _check_run(method, metric, samples, seed)
    if cluster.requested:
        with dask_client(cluster) as session:
            return _sensitivity(s, method, metric, samples, seed, ranges,
                                functools.partial(_evaluate_on_dask, session, chunk_rows))
    return _sensitivity(s, method, metric, samples, seed, ranges, evaluate_samples)


def _check_run(method: str, metric: str, samples: int, seed: int) -> None:
    if method not in METHODS:
        raise ParameterError("method", f"got {method!r}; allowed: one of {', '.join(METHODS)}", sep=": ")
    check_metric(metric)
    # Checked for the tornado too, which does not use them: a value given must be a valid one (--samples -1 ran).
    check_samples(samples)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise ParameterError("seed", f"got {seed!r}; allowed: a whole number in [0, 2**63)", sep=": ")


def _sensitivity(s: Scenario, method: str, metric: str, samples: int, seed: int,
                 ranges: Sequence[InputRange] | None, evaluate: Callable[..., np.ndarray]) -> SensitivityResult:
    assumptions: list[dict] = []
    if ranges is None:
        ranges, assumptions = load_ranges(s)
    names = [r.name for r in ranges]
    start = time.perf_counter()
    notes: list[str] = []

    def func(x):
        return evaluate(s, names, x, metric)

    if method == "tornado":
        base, at_low, at_high = tornado(func, [r.base for r in ranges], [r.low for r in ranges],
                                        [r.high for r in ranges])
        rows = [{"input": r.name, "low": r.low, "high": r.high, "base": r.base, "output_low": lo,
                 "output_high": hi, "change_low": lo - base, "change_high": hi - base, "swing": abs(hi - lo),
                 "low_label": _label(r.name, r.low), "high_label": _label(r.name, r.high)}
                for r, lo, hi in zip(ranges, at_low, at_high, strict=False)]
        rows.sort(key=lambda row: -row["swing"] if math.isfinite(row["swing"]) else math.inf)
        evaluations, extra = 2 * len(ranges) + 1, {}
        if not all(math.isfinite(r["swing"]) for r in rows) or not math.isfinite(base):
            notes.append(f"{metric} has no value at some ends (null; e.g. no IRR or no payback within the horizon): "
                         "those inputs sort last")
    else:
        out = sobol_indices(func, [(r.low, r.high) for r in ranges], samples=samples, seed=seed,
                            ppf=[r.ppf for r in ranges], output=f"metric {metric}")
        base = float(func(np.array([[r.base for r in ranges]]))[0])
        rows = [{"input": r.name, **{k: float(out[k][i]) for k in ("S1", "S1_conf", "ST", "ST_conf")}}
                for i, r in enumerate(ranges)]
        rows.sort(key=lambda row: -row["ST"])
        evaluations = out["evaluations"] + 1
        extra = {"samples": samples, "seed": seed, "conf_level": 0.95, "output_mean": out["output_mean"],
                 "output_std": out["output_std"]}
        if out["output_std"] == 0:
            notes.append(f"{metric} does not vary over the ranges: every index is 0")
    return SensitivityResult(scenario=s.name, currency=s.currency, method=method, metric=metric, base_value=base,
                             inputs=tuple(ranges), rows=tuple(rows), evaluations=evaluations,
                             elapsed_s=time.perf_counter() - start, assumptions=tuple(assumptions),
                             notes=tuple(notes), sobol=extra)
