"""The axes and metrics of a sweep (``tokensim sweep --axis NAME=... --metric M``): names, ranges and parsing.

An axis is one field of the unit-cost calculation given several values; the grid is their cartesian product. Axis
names (aliases in brackets), what each value means and the range it is checked against:

==============================  =====================================================================  ===========
axis                            value                                                                  range
==============================  =====================================================================  ===========
hardware                        accelerator (catalogue name)                                           catalogue
precision                       precision recipe                                                       catalogue
model                           model                                                                  catalogue
concurrency (batch)             concurrent sequences per instance, fixed (no batch search)             whole, >= 1
min_tokens_per_s_per_user (slo) the SLO under which the batch is searched per point                    > 0
input_tokens                    input tokens per request                                               >= 1
output_tokens                   output tokens per request                                              >= 1
context_tokens (context)        mean decode context (default input + output / 2, as perf)              >= 1
cache_hit_rate                  share of input tokens from the prefix cache                            [0, 1]
server_price                    price per server in the scenario currency                              >= 0
utilisation                     sold share of hours (cost metrics only; scenario ``utilisation``)      [0.01, 1]
cost_of_capital                 annual rate of the capital charge (and of the finance NPV)             (-1, 1)
electricity_price_per_kwh       electricity price in the scenario currency (power_price)               >= 0
rent_per_gpu_hour (rent)        contract rent (market rent for a spot contract) per GPU-hour           >= 0
spot_utilisation                sold share of the GPUs that sell at market: uncontracted, after the    [0, 1]
                                term or a default, every GPU of a spot contract (finance metrics only;
                                scenario ``contract.spot_utilisation``)
==============================  =====================================================================  ===========

``utilisation`` and ``spot_utilisation`` are two scenario fields with two meanings: the first prices a sold GPU-hour
(cost per GPU-hour and per token), the second is the rented share of market capacity in the cluster's cash flows
(NPV, IRRs). Neither moves the other's metrics.

Values are ``V1,V2,...`` or ``START:STOP:N`` (N evenly spaced values, both ends included). The order of the axes
is the order of the grid: the first axis varies slowest (C order, like ``numpy.unravel_index``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import ParameterError, did_you_mean
from ..config.catalog import load_catalog
from ..config.schema import field_spec

__all__ = ["AXES", "ALIASES", "Axis", "AxisSpec", "SWEEP_METRICS", "SweepMetric", "DEFAULT_METRICS", "FINANCE_METRICS",
           "parse_axis", "axis_column", "metric_column", "resolve_metrics"]


@dataclass(frozen=True)
class AxisSpec:
    name: str
    categorical: bool
    column: str  # the DataFrame column; {cur} = the currency code in lower case
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False

    def allowed(self) -> str:
        if self.categorical:
            return f"{self.name} names from `tokensim catalog`"
        lo = "(-inf" if self.low is None else ("(" if self.low_open else "[") + f"{self.low:g}"
        hi = "inf)" if self.high is None else f"{self.high:g}" + (")" if self.high_open else "]")
        return ("whole numbers" if self.integer else "numbers") + f" in {lo}, {hi}"


def _scenario_axis(name: str, column: str, section: str | None, key: str | None = None) -> AxisSpec:
    """A numeric axis over a scenario field, with the range the scenario schema declares for it
    (:func:`tokensim.config.schema.field_spec`; ``key`` when the field's key differs from the axis name)."""
    spec = field_spec(section, key or name)
    return AxisSpec(name, False, column, low=spec.low, high=spec.high, low_open=spec.low_open,
                    high_open=spec.high_open, integer=spec.integer)


# In the kernel's slot order (kernels/unitcost.cuh UC_AXIS_*). Axes over a scenario field take its declared range;
# the others (performance options, the tokens of a request as the engine needs them, the capital charge's rate) are
# the sweep's own.
AXES: dict[str, AxisSpec] = {spec.name: spec for spec in (
    AxisSpec("hardware", True, "hardware"),
    AxisSpec("precision", True, "precision"),
    AxisSpec("model", True, "model"),
    AxisSpec("concurrency", False, "concurrency", low=1, integer=True),
    _scenario_axis("min_tokens_per_s_per_user", "min_tokens_per_s_per_user", "serving"),
    AxisSpec("input_tokens", False, "input_tokens", low=1),
    AxisSpec("output_tokens", False, "output_tokens", low=1),
    AxisSpec("context_tokens", False, "context_tokens", low=1),
    _scenario_axis("cache_hit_rate", "cache_hit_rate", "serving"),
    _scenario_axis("server_price", "server_price_{cur}", "capex"),
    _scenario_axis("utilisation", "utilisation", None),
    AxisSpec("cost_of_capital", False, "cost_of_capital", low=-1, high=1, low_open=True, high_open=True),
    _scenario_axis("electricity_price_per_kwh", "electricity_price_per_kwh_{cur}", "opex"),
    _scenario_axis("rent_per_gpu_hour", "rent_per_gpu_hour_{cur}", "contract"),
    _scenario_axis("spot_utilisation", "spot_utilisation", "contract"),
)}
ALIASES = {"batch": "concurrency", "slo": "min_tokens_per_s_per_user", "context": "context_tokens",
           "rent": "rent_per_gpu_hour", "power_price": "electricity_price_per_kwh",
           "electricity_price": "electricity_price_per_kwh", "utilization": "utilisation", "gpu": "hardware",
           "spot_utilization": "spot_utilisation"}
# The most values one axis may take: a longer list is almost surely a typo in START:STOP:N (the grid may still be
# huge through the product of axes; it is processed in chunks).
MAX_AXIS_VALUES = 1_000_000


@dataclass(frozen=True)
class Axis:
    """One swept field: its canonical name and its values (names for categorical axes, floats otherwise)."""

    name: str
    values: tuple

    @property
    def spec(self) -> AxisSpec:
        return AXES[self.name]

    @property
    def size(self) -> int:
        return len(self.values)


def axis_column(name: str, currency: str) -> str:
    return AXES[name].column.replace("{cur}", currency.lower())


def _axis_name(raw: str) -> str:
    key = raw.strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    if key not in AXES:
        hint = did_you_mean(raw.strip(), [*AXES, *ALIASES])
        raise ParameterError("axes", f"{raw.strip()!r}: unknown axis; allowed: {', '.join(AXES)}"
                             + (f" ({hint})" if hint else ""))
    return key


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ParameterError("axes", f"{where}: {text!r} is not a number") from None
    return value


def _numeric_values(spec: AxisSpec, text: str, where: str) -> tuple[float, ...]:
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise ParameterError("axes", f"{where}: {text!r}; allowed: V1,V2,... or START:STOP:N")
        start, stop, count = (_number(p.strip(), where) for p in parts)
        if not (math.isfinite(count) and count == int(count) and 1 <= count <= MAX_AXIS_VALUES):
            raise ParameterError("axes", f"{where}: N = {parts[2].strip()!r} in START:STOP:N; allowed: a whole "
                                 f"number in [1, {MAX_AXIS_VALUES:,}]")
        values = np.linspace(start, stop, int(count)).tolist()
    else:
        items = [item.strip() for item in text.split(",")]
        if any(not item for item in items):
            raise ParameterError("axes", f"{where}: {text!r} has an empty value; allowed: V1,V2,... or "
                                 "START:STOP:N")
        if len(items) > MAX_AXIS_VALUES:
            raise ParameterError("axes", f"{where}: {len(items):,} values; allowed: at most {MAX_AXIS_VALUES:,} "
                                 "per axis")
        values = [_number(item, where) for item in items]
    for value in values:
        ok = math.isfinite(value)
        ok = ok and (spec.low is None or (value > spec.low if spec.low_open else value >= spec.low))
        ok = ok and (spec.high is None or (value < spec.high if spec.high_open else value <= spec.high))
        ok = ok and (not spec.integer or value == int(value))
        if not ok:
            raise ParameterError("axes", f"{where}: value {value:g} is out of range; allowed: {spec.allowed()}")
    return tuple(float(v) for v in values)


def _names(spec: AxisSpec, text: str, where: str) -> tuple[str, ...]:
    items = [item.strip() for item in text.split(",")]
    if any(not item for item in items):
        raise ParameterError("axes", f"{where}: {text!r} has an empty name")
    cat = load_catalog()
    getter: Callable[[str, str], Any] = {"hardware": cat.get_hardware, "precision": cat.get_recipe,
                                         "model": cat.get_model}[spec.name]
    return tuple(getter(item, "axes").name for item in items)


def parse_axis(text: str) -> Axis:
    """``NAME=V1,V2,...`` or ``NAME=START:STOP:N`` → :class:`Axis`, every value checked against the field's range."""
    name_part, sep, value_part = text.partition("=")
    if not sep or not name_part.strip():
        raise ParameterError("axes", f"{text!r}; allowed: NAME=V1,V2,... or NAME=START:STOP:N")
    name = _axis_name(name_part)
    where = name
    if not value_part.strip():
        raise ParameterError("axes", f"{where}: the axis is empty; give at least one value (NAME=V1,V2,... or "
                             "START:STOP:N)")
    spec = AXES[name]
    values = _names(spec, value_part, where) if spec.categorical else _numeric_values(spec, value_part, where)
    seen: set = set()
    for value in values:
        if value in seen:
            shown = value if isinstance(value, str) else f"{value:g}"
            raise ParameterError("axes", f"{where}: value {shown} appears twice; each value once")
        seen.add(value)
    return Axis(name, values)


# -- metrics ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepMetric:
    name: str
    money: bool  # the column carries the currency: name_{cur}
    finance: bool  # from the finance engine (needs the scenario's cluster), not the unit-cost arithmetic


SWEEP_METRICS: dict[str, SweepMetric] = {spec.name: spec for spec in (
    SweepMetric("cost_per_million_tokens_blended", True, False),
    SweepMetric("cost_per_million_input_tokens", True, False),
    SweepMetric("cost_per_million_cached_input_tokens", True, False),
    SweepMetric("cost_per_million_output_tokens", True, False),
    SweepMetric("cost_per_gpu_hour", True, False),
    SweepMetric("output_tokens_per_s_per_gpu", False, False),
    SweepMetric("npv", True, True),
    SweepMetric("project_irr", False, True),
    SweepMetric("equity_irr", False, True),
)}
DEFAULT_METRICS = ("cost_per_million_tokens_blended", "cost_per_million_input_tokens",
                   "cost_per_million_output_tokens", "cost_per_gpu_hour",
                   "output_tokens_per_s_per_gpu")
FINANCE_METRICS = ("npv", "project_irr", "equity_irr")
# Names a sweep metric no longer goes by, and why: said instead of "unknown metric".
RETIRED_METRICS = {
    "breakeven_rent_per_gpu_hour": "no longer a sweep metric: it was cost_per_gpu_hour under another name (the "
                                   "levelised cost per sold GPU-hour); the rent at which the cluster's NPV = 0 is "
                                   "npv_zero_rent_per_gpu_hour of `tokensim finance`",
}


def metric_column(name: str, currency: str) -> str:
    return f"{name}_{currency.lower()}" if SWEEP_METRICS[name].money else name


def resolve_metrics(requested, currency: str, axes: list[str]) -> tuple[str, ...]:
    """Canonical metric names from ``--metric`` values (with or without the currency suffix, comma-separated or
    repeated); the defaults when none: the unit-cost metrics, plus NPV and both IRRs when rent or spot utilisation
    is an axis."""
    names = [m.strip() for value in (requested or ()) for m in str(value).split(",")]
    if "" in names:  # an empty name given (--metric '' or 'npv,,irr') is a mistake, not "the defaults"
        raise ParameterError("metrics", f"{', '.join(map(repr, requested))}: an empty metric name; allowed: "
                             f"{', '.join(SWEEP_METRICS)}, comma-separated")
    if not names:
        extra = FINANCE_METRICS if {"rent_per_gpu_hour", "spot_utilisation"} & set(axes) else ()
        return DEFAULT_METRICS + extra
    suffix = f"_{currency.lower()}"
    known = {metric_column(m, currency): m for m in SWEEP_METRICS} | {m: m for m in SWEEP_METRICS}
    out: list[str] = []
    for raw in names:
        key = raw.lower()
        retired = key[:-len(suffix)] if key.endswith(suffix) else key
        if retired in RETIRED_METRICS:
            raise ParameterError("metrics", f"{raw!r}: {RETIRED_METRICS[retired]}")
        if key not in known:
            stem = key.rsplit("_", 1)[0]
            if stem in SWEEP_METRICS and SWEEP_METRICS[stem].money:  # another currency's suffix
                raise ParameterError("metrics", f"{raw!r}: money metrics are in the scenario's currency "
                                     f"{currency.upper()}; did you mean '{stem}{suffix}'?")
            hint = did_you_mean(raw, [*SWEEP_METRICS, *(m + suffix for m in SWEEP_METRICS if SWEEP_METRICS[m].money)])
            raise ParameterError("metrics", f"{raw!r}: unknown metric; allowed: {', '.join(SWEEP_METRICS)}"
                                 + (f" ({hint})" if hint else ""))
        if known[key] not in out:
            out.append(known[key])
    return tuple(out)
