"""Cost per GPU-hour, cost per million tokens and the serving P&L of a fleet (DESIGN.md section 5).

**Cost per sold GPU-hour** at utilisation u (sold share of the 8,760 hours of a year) is the sum of these terms, each
an annual cost per GPU divided by 8,760·u:

- capital charge A = (C − R·(1+k)^−L) · CRF(k, L), with C the capex per GPU (server price / GPUs per server +
  network and fabric per GPU + installation per GPU), R the residual value at the end of the economic life L
  years, k the cost of capital and CRF(k, L) = k / (1 − (1+k)^−L) (1/L at k = 0). A is split into
  ``capital_recovery`` = (C − R)/L, the return OF capital, and ``financing`` = A − (C − R)/L, the return ON capital;
- ``power`` = IT kW per GPU (board power × server/network overhead) × PUE × price per kWh × 8,760 ×
  (idle load + (rented load − idle load) · u): idle GPUs still draw power;
- ``facility`` = price per kW-month × provisioned IT kW × 12 (colocation is sold on IT kW, before PUE);
- ``maintenance`` and ``insurance`` = their share of C per year; ``operations`` = per GPU-year.

``book_depreciation`` (C / depreciation years, straight line to zero) is reported beside the breakdown and is not a
term of the total: the capital charge already recovers the capital. All arithmetic is elementwise, so any input may
be a NumPy/CuPy array (sweeps, the bridge) and the result has the broadcast shape.

**Per million tokens**: a GPU-hour costs c; an input token takes ``gpu_s_per_input_token`` of GPU time (prefill),
an output token ``gpu_s_per_output_token`` (decode), a cached input token ``cached_input_cost_fraction`` of an
uncached one. Cost per million = c / 3,600 × GPU-seconds per token × 10⁶; the blended figure is the mix's total
cost over its total tokens.

**Serving P&L**: GPUs × hours × cost per GPU-hour against token volumes priced per million tokens.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from ._errors import ConfigError, ParameterError
from ._units import HOURS_PER_YEAR, SECONDS_PER_HOUR
from ._xp import array_namespace, to_numpy
from .config.schema import field_spec

__all__ = [
    "CostInputs", "CostBreakdown", "TokenCost", "ServingPnl", "BREAKDOWN_TERMS",
    "capital_recovery_factor", "cost_per_gpu_hour", "opex_per_installed_gpu_hour", "it_power_per_gpu_kw",
    "cost_per_million_tokens", "cost_per_million_tokens_at_throughput", "serving_pnl", "gpus_needed",
    "fleet_gpus",
]

TOKENS_PER_MILLION = 1e6

# The terms of a cost per GPU-hour, in display order; they add up to ``total``.
BREAKDOWN_TERMS = ("capital_recovery", "financing", "power", "facility", "maintenance", "operations", "insurance")


@dataclass(frozen=True)
class CostInputs:
    """Everything a cost per GPU-hour needs, per GPU, in ``currency``. Fields may be floats or arrays."""

    currency: str
    server_price_per_gpu: Any
    network_per_gpu: Any
    installation_per_gpu: Any
    residual_share_of_hardware: Any  # residual at the end of the economic life, share of server + network cost
    residual_value_per_gpu: Any  # residual at the end of the economic life, absolute (economic method)
    economic_life_years: Any
    cost_of_capital: Any  # annual
    depreciation_years: Any  # book (straight line to zero)
    it_kw_per_gpu: Any  # board power x server/network overhead, kW
    pue: Any
    electricity_price_per_kwh: Any
    load_factor: Any  # draw of a rented GPU, share of provisioned power
    idle_load_factor: Any  # draw of an idle GPU
    facility_price_per_kw_month: Any
    maintenance_share_of_capex_per_year: Any
    operations_per_gpu_year: Any
    insurance_share_of_capex_per_year: Any

    @property
    def capex_per_gpu(self):
        return self.server_price_per_gpu + self.network_per_gpu + self.installation_per_gpu

    @property
    def residual_per_gpu(self):
        """Residual value per GPU at the end of the economic life (undiscounted)."""
        hardware = self.server_price_per_gpu + self.network_per_gpu
        return self.residual_share_of_hardware * hardware + self.residual_value_per_gpu

    def with_server_price(self, server_price_per_gpu) -> CostInputs:
        return replace(self, server_price_per_gpu=server_price_per_gpu)


@dataclass(frozen=True)
class CostBreakdown:
    """Cost per sold GPU-hour and its terms (they add up to ``total``), at ``utilisation``, in ``currency``."""

    currency: str
    utilisation: Any
    capital_recovery: Any
    financing: Any
    power: Any
    facility: Any
    maintenance: Any
    operations: Any
    insurance: Any
    total: Any
    book_depreciation: Any  # reported beside the total, not part of it
    capex_per_gpu: Any
    residual_per_gpu: Any

    def terms(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in BREAKDOWN_TERMS}

    def scaled(self, factor: float, currency: str) -> CostBreakdown:
        """The same breakdown with every amount multiplied by ``factor`` (an FX conversion)."""
        money = {k: v * factor for k, v in asdict(self).items() if k not in ("currency", "utilisation")}
        return replace(self, currency=currency, **money)

    def rows(self) -> list[dict[str, Any]]:
        """One row per term plus the total and book depreciation, with the share of the total."""
        total = self.total
        rows = [{"term": name, f"per_gpu_hour_{self.currency.lower()}": value, "share_of_total": value / total}
                for name, value in self.terms().items()]
        rows.append({"term": "total", f"per_gpu_hour_{self.currency.lower()}": total, "share_of_total": 1.0})
        rows.append({"term": "book_depreciation (memo, not in total)",
                     f"per_gpu_hour_{self.currency.lower()}": self.book_depreciation,
                     "share_of_total": self.book_depreciation / total})
        return rows

    def to_dict(self) -> dict[str, Any]:
        cur = self.currency.lower()
        out: dict[str, Any] = {"currency": self.currency, "utilisation": self.utilisation}
        out.update({f"{k}_per_gpu_hour_{cur}": v for k, v in self.terms().items()})
        out[f"total_per_gpu_hour_{cur}"] = self.total
        out[f"book_depreciation_per_gpu_hour_{cur}"] = self.book_depreciation
        out[f"capex_per_gpu_{cur}"] = self.capex_per_gpu
        out[f"residual_per_gpu_{cur}"] = self.residual_per_gpu
        return out


def capital_recovery_factor(rate, years):
    """CRF(k, n) = k / (1 − (1+k)^−n): the level annual payment that repays 1 over n years at k (1/n at k = 0)."""
    xp = array_namespace(rate, years)
    k = xp.asarray(rate, dtype=xp.float64)
    n = xp.asarray(years, dtype=xp.float64)
    at_zero = xp.abs(k) < 1e-12
    safe = xp.where(at_zero, 1.0, k)
    crf = xp.where(at_zero, 1.0 / n, safe / (1.0 - (1.0 + safe) ** (-n)))
    return float(crf) if crf.ndim == 0 else crf


def it_power_per_gpu_kw(board_power_w, server_overhead_factor):
    """IT power provisioned per GPU: its board power plus its share of the server (CPU, NIC, fans) and network.

    The one home of the formula behind :attr:`CostInputs.it_kw_per_gpu` (the scenario's cost inputs, the sweep's
    per-hardware layouts and the bridge's sides use it).

    Parameters
    ----------
    board_power_w : float or array
        GPU board power, W.
    server_overhead_factor : float or array
        Server and network power over GPU board power (>= 1), dimensionless.

    Returns
    -------
    float or array
        ``board_power_w / 1000 * server_overhead_factor``, kW per GPU (before PUE).
    """
    return board_power_w / 1000.0 * server_overhead_factor


def opex_per_installed_gpu_hour(ci: CostInputs, rented_share) -> dict[str, Any]:
    """Operating cost per installed GPU-hour (not per sold hour) when ``rented_share`` of hours are rented.

    The one home of the opex formulas: the cost breakdown, the finance engine and the economic residual use it.
    """
    power_at_full = ci.it_kw_per_gpu * ci.pue * ci.electricity_price_per_kwh
    load = ci.idle_load_factor + (ci.load_factor - ci.idle_load_factor) * rented_share
    capex = ci.capex_per_gpu
    return {
        "power": power_at_full * load,
        "facility": ci.facility_price_per_kw_month * ci.it_kw_per_gpu * 12.0 / HOURS_PER_YEAR,
        "maintenance": ci.maintenance_share_of_capex_per_year * capex / HOURS_PER_YEAR,
        "operations": ci.operations_per_gpu_year / HOURS_PER_YEAR,
        "insurance": ci.insurance_share_of_capex_per_year * capex / HOURS_PER_YEAR,
    }


def cost_per_gpu_hour(ci: CostInputs, utilisation) -> CostBreakdown:
    """Cost per sold GPU-hour, with every term.

    Parameters
    ----------
    ci : CostInputs
        Per-GPU capex, residual, cost of capital (annual), economic life (years), power and facility rates; money in
        ``ci.currency``. Fields may be arrays (they broadcast).
    utilisation : float or array
        Sold share of the 8,760 hours of a year, in [0.01, 1] (the scenario field's bound).

    Returns
    -------
    CostBreakdown
        Per sold GPU-hour in ``ci.currency``: capital recovery, financing, power, facility, maintenance, operations,
        insurance and their ``total``; book depreciation beside them (not a term of the total).
    """
    check = to_numpy(utilisation).astype(float)
    spec = field_spec(None, "utilisation")  # the scenario's bound, with its reason
    if np.any(~np.isfinite(check)) or np.any(check < spec.low) or np.any(check > spec.high):
        raise ConfigError(None, "utilisation", utilisation, f"{spec.allowed()} ({spec.bound_why})")
    u = utilisation
    capex = ci.capex_per_gpu
    residual = ci.residual_per_gpu
    life = ci.economic_life_years
    annual_capital = (capex - residual * (1.0 + ci.cost_of_capital) ** (-life)) * capital_recovery_factor(
        ci.cost_of_capital, life)
    return_of_capital = (capex - residual) / life
    sold_hours = HOURS_PER_YEAR * u
    opex = opex_per_installed_gpu_hour(ci, u)
    terms = {
        "capital_recovery": return_of_capital / sold_hours,
        "financing": (annual_capital - return_of_capital) / sold_hours,
        **{name: value / u for name, value in opex.items()},
    }
    total = sum(terms[name] for name in BREAKDOWN_TERMS)
    return CostBreakdown(currency=ci.currency, utilisation=utilisation, **terms, total=total,
                         book_depreciation=capex / ci.depreciation_years / sold_hours, capex_per_gpu=capex,
                         residual_per_gpu=residual)


# -- per million tokens -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TokenCost:
    """Cost per million tokens by kind, and blended over a token mix, in ``currency``."""

    currency: str
    input: Any  # uncached input (prefill)
    cached_input: Any
    output: Any
    blended: Any  # total cost of the mix / total tokens of the mix (input + output)

    def to_dict(self) -> dict[str, Any]:
        cur = self.currency.lower()
        return {"currency": self.currency,
                f"cost_per_million_input_tokens_{cur}": self.input,
                f"cost_per_million_cached_input_tokens_{cur}": self.cached_input,
                f"cost_per_million_output_tokens_{cur}": self.output,
                f"cost_per_million_tokens_blended_{cur}": self.blended}


def cost_per_million_tokens(cost_per_gpu_hour, gpu_s_per_input_token, gpu_s_per_output_token,
                            cached_input_cost_fraction, *, input_tokens, output_tokens, cache_hit_rate=0.0,
                            currency: str = "USD") -> TokenCost:
    """Cost per million input, cached input and output tokens by GPU time, and blended for a token mix.

    The prefill GPU time per computed input token g is shared between uncached and cached tokens in the ratio
    1 : f (``cached_input_cost_fraction``), so the token costs add up to the GPU time actually used:
    c_input = g·(1 − h) / ((1 − h) + f·h) per token, c_cached = f·c_input, with h the cache hit rate.

    Parameters
    ----------
    cost_per_gpu_hour : float or array
        Cost per sold GPU-hour, in ``currency``.
    gpu_s_per_input_token : float or array
        Prefill GPU-seconds per computed (uncached) input token, as the performance model reports it.
    gpu_s_per_output_token : float or array
        Decode GPU-seconds per output token.
    cached_input_cost_fraction : float
        GPU time of a cached input token relative to an uncached one, in [0, 1].
    input_tokens, output_tokens : float
        The token mix (per request or in total; only their ratio matters).
    cache_hit_rate : float
        Share of input tokens served from the prefix cache, in [0, 1].
    currency : str
        Currency of ``cost_per_gpu_hour``.

    Returns
    -------
    TokenCost
        Cost per million uncached input, cached input and output tokens, and blended over the mix, in ``currency``.
    """
    per_gpu_second = cost_per_gpu_hour / SECONDS_PER_HOUR
    uncached = 1.0 - cache_hit_rate
    share = uncached / (uncached + cached_input_cost_fraction * cache_hit_rate)
    c_input = per_gpu_second * gpu_s_per_input_token * TOKENS_PER_MILLION * share
    c_cached = c_input * cached_input_cost_fraction
    c_output = per_gpu_second * gpu_s_per_output_token * TOKENS_PER_MILLION
    mix_cost = input_tokens * ((1.0 - cache_hit_rate) * c_input + cache_hit_rate * c_cached) + output_tokens * c_output
    blended = mix_cost / (input_tokens + output_tokens)
    return TokenCost(currency, c_input, c_cached, c_output, blended)


def cost_per_million_tokens_at_throughput(cost_per_gpu_hour, tokens_per_s_per_gpu):
    """Cost per million tokens when a GPU serves ``tokens_per_s_per_gpu``: c ÷ (tokens per GPU-hour / 10⁶).

    Parameters
    ----------
    cost_per_gpu_hour : float or array
        Cost per sold GPU-hour.
    tokens_per_s_per_gpu : float or array
        Tokens per second per GPU, positive.

    Returns
    -------
    float or array
        Cost per million tokens, in the currency of ``cost_per_gpu_hour``.
    """
    return cost_per_gpu_hour / (tokens_per_s_per_gpu * SECONDS_PER_HOUR / TOKENS_PER_MILLION)


# -- serving P&L --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ServingPnl:
    """A fleet's serving P&L over a period, in ``currency`` (prices per million tokens)."""

    currency: str
    gpus: float
    hours: float
    gpu_hours: float
    input_tokens: float
    cached_input_tokens: float
    output_tokens: float
    cost: float
    revenue_input: float
    revenue_cached_input: float
    revenue_output: float
    revenue: float
    profit: float
    gross_margin: float  # profit / revenue (an analyst's margin)
    markup: float  # profit / cost = revenue / cost − 1 (DeepSeek's "cost profit margin")
    cost_per_million_tokens: float  # cost / (input + output tokens) × 10⁶
    cost_per_million_output_tokens: float
    revenue_per_gpu_hour: float
    gpus_needed: float | None = None  # when throughputs were given

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_nonneg(value, field: str, *, positive: bool = False):
    low = "(0" if positive else "[0"
    if value is None or not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ConfigError(None, field, value, f"a number in {low}, inf)")


def _check_finite_result(what: str, value: float, inputs: dict[str, float]) -> None:
    """A result of finite inputs that overflowed (inf, shown as null) is refused, naming the most extreme input
    (the largest, or for a quotient the smallest non-zero) of those it is made of."""
    if math.isfinite(value):
        return
    nonzero = {k: v for k, v in inputs.items() if v}
    name = max(nonzero, key=lambda k: abs(math.log10(abs(nonzero[k])))) if nonzero else next(iter(inputs))
    raise ParameterError(name, f"{inputs[name]:g}: {what} overflows a float (over 1.8e308); allowed: values whose "
                         "products and quotients stay finite")


def serving_pnl(*, gpus, hours, cost_per_gpu_hour, input_tokens, cache_hit_rate, output_tokens, price_input,
                price_cached_input, price_output, currency: str = "USD", gpus_needed: float | None = None
                ) -> ServingPnl:
    """Cost, revenue, gross margin and markup of a fleet serving given token volumes over a period.

    Parameters
    ----------
    gpus : float
        GPUs in the fleet (each paid for all ``hours``), positive.
    hours : float
        Hours in the period, positive.
    cost_per_gpu_hour : float
        Cost per GPU-hour, in ``currency``.
    input_tokens : float
        Input tokens in the period, cached ones included.
    cache_hit_rate : float
        Share of input tokens served from the prefix cache, in [0, 1].
    output_tokens : float
        Output tokens in the period.
    price_input, price_cached_input, price_output : float
        Prices per million uncached input, cached input and output tokens, in ``currency``.
    currency : str
        Currency of the cost and the prices.
    gpus_needed : float, optional
        GPUs (fractional) the volume needs at a measured throughput (:func:`gpus_needed`), reported beside the fleet.

    Returns
    -------
    ServingPnl
        Cost, revenue by token kind, profit, gross margin (profit / revenue) and markup (profit / cost) over the
        period, and cost per million tokens, in ``currency``.
    """
    for name, value in (("gpus", gpus), ("hours", hours)):
        _check_nonneg(value, name, positive=True)
    for name, value in (("gpu_hour_cost", cost_per_gpu_hour), ("input_tokens", input_tokens),
                        ("output_tokens", output_tokens), ("price_input", price_input),
                        ("price_cached_input", price_cached_input), ("price_output", price_output)):
        _check_nonneg(value, name)
    if not 0 <= cache_hit_rate <= 1:
        raise ConfigError(None, "cache_hit_rate", cache_hit_rate, "a number in [0, 1]")
    gpu_hours = gpus * hours
    cost = gpu_hours * cost_per_gpu_hour
    cached = input_tokens * cache_hit_rate
    uncached = input_tokens - cached
    rev_in = uncached * price_input / TOKENS_PER_MILLION
    rev_cached = cached * price_cached_input / TOKENS_PER_MILLION
    rev_out = output_tokens * price_output / TOKENS_PER_MILLION
    revenue = rev_in + rev_cached + rev_out
    total_tokens = input_tokens + output_tokens
    given = {"gpus": gpus, "hours": hours, "gpu_hour_cost": cost_per_gpu_hour, "input_tokens": input_tokens,
             "output_tokens": output_tokens, "price_input": price_input, "price_cached_input": price_cached_input,
             "price_output": price_output}
    for what, value, inputs in (
            ("the GPU-hours", gpu_hours, ("gpus", "hours")),
            ("the cost", cost, ("gpus", "hours", "gpu_hour_cost")),
            ("the uncached-input revenue", rev_in, ("input_tokens", "price_input")),
            ("the cached-input revenue", rev_cached, ("input_tokens", "price_cached_input")),
            ("the output revenue", rev_out, ("output_tokens", "price_output")),
            ("the revenue", revenue, ("input_tokens", "output_tokens", "price_input", "price_cached_input",
                                      "price_output")),
            ("the tokens", total_tokens, ("input_tokens", "output_tokens")),
            ("the markup", revenue / cost if cost > 0 else 0.0, ("gpu_hour_cost", "gpus", "hours")),
            ("the gross margin", cost / revenue if revenue > 0 else 0.0, ("input_tokens", "output_tokens",
                                                                         "price_input", "price_cached_input",
                                                                         "price_output")),
            ("the revenue per GPU-hour", revenue / gpu_hours, ("gpus", "hours")),
            ("the cost per million tokens", cost / total_tokens * TOKENS_PER_MILLION if total_tokens > 0 else 0.0,
             ("input_tokens", "output_tokens", "gpus", "hours", "gpu_hour_cost")),
            ("the cost per million output tokens", cost / output_tokens * TOKENS_PER_MILLION if output_tokens > 0
             else 0.0, ("output_tokens", "gpus", "hours", "gpu_hour_cost"))):
        _check_finite_result(what, value, {k: given[k] for k in inputs})
    nan = float("nan")
    return ServingPnl(
        currency=currency, gpus=gpus, hours=hours, gpu_hours=gpu_hours, input_tokens=input_tokens,
        cached_input_tokens=cached, output_tokens=output_tokens, cost=cost, revenue_input=rev_in,
        revenue_cached_input=rev_cached, revenue_output=rev_out, revenue=revenue, profit=revenue - cost,
        gross_margin=(revenue - cost) / revenue if revenue > 0 else nan,
        markup=(revenue - cost) / cost if cost > 0 else nan,
        cost_per_million_tokens=cost / total_tokens * TOKENS_PER_MILLION if total_tokens > 0 else nan,
        cost_per_million_output_tokens=cost / output_tokens * TOKENS_PER_MILLION if output_tokens > 0 else nan,
        revenue_per_gpu_hour=revenue / gpu_hours, gpus_needed=gpus_needed,
    )


# A GPU count computed as a whole number can land a few ulp above it (3 GPUs as 3.0000000000000004); within this
# tolerance it is that whole number. Relative to the count, far below any real fraction of a GPU.
_WHOLE_GPU_TOLERANCE = 1e-9


def fleet_gpus(needed: float) -> int:
    """Whole GPUs for a volume that needs ``needed`` (fractional, :func:`gpus_needed`): rounded up, at least one."""
    _check_nonneg(needed, "gpus_needed")
    return max(1, math.ceil(needed * (1 - _WHOLE_GPU_TOLERANCE)))


def gpus_needed(*, hours, output_tokens, output_tokens_per_s_per_gpu, input_tokens=0.0, cache_hit_rate=0.0,
                input_tokens_per_s_per_gpu=None, cached_input_cost_fraction=0.0) -> float:
    """GPUs (fractional) that serve a token volume in ``hours``.

    GPU time of decode plus, when a prefill rate is given, of uncached input and ``cached_input_cost_fraction`` of
    cached input; round up for a fleet size (:func:`fleet_gpus`).

    Parameters
    ----------
    hours : float
        Hours in the period, positive.
    output_tokens : float
        Output tokens in the period.
    output_tokens_per_s_per_gpu : float
        Measured decode throughput, output tokens per second per GPU, positive.
    input_tokens : float
        Input tokens in the period, cached ones included.
    cache_hit_rate : float
        Share of input tokens served from the prefix cache, in [0, 1].
    input_tokens_per_s_per_gpu : float, optional
        Measured prefill throughput, input tokens per second per GPU; without it input costs no GPU time.
    cached_input_cost_fraction : float
        GPU time of a cached input token relative to an uncached one, in [0, 1].

    Returns
    -------
    float
        GPUs busy on average over the period (fractional).
    """
    _check_nonneg(hours, "hours", positive=True)
    _check_nonneg(output_tokens_per_s_per_gpu, "output_tokens_per_s_per_gpu", positive=True)
    gpu_seconds = output_tokens / output_tokens_per_s_per_gpu
    if input_tokens_per_s_per_gpu is not None:
        _check_nonneg(input_tokens_per_s_per_gpu, "input_tokens_per_s_per_gpu", positive=True)
        effective_input = input_tokens * ((1 - cache_hit_rate) + cache_hit_rate * cached_input_cost_fraction)
        gpu_seconds += effective_input / input_tokens_per_s_per_gpu
    return gpu_seconds / (hours * SECONDS_PER_HOUR)
