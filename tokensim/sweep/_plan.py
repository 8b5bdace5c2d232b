"""Sweep plans: the grid of a ``tokensim sweep`` (axes, categories, strides), its layouts and its flat indexing.

:func:`plan_sweep` validates the axes against the scenario and resolves, once per (hardware, precision, model)
combination, the step models and cost inputs every point of that combination shares
(:class:`~tokensim.resolve.perf.ServingLayout`);
:func:`indices` turns a range of flat point indices into per-axis indices (``numpy.unravel_index`` order: the first
axis varies slowest) without materialising the grid. Evaluation, frames and the command's driver are in
:mod:`tokensim.sweep._run`, which re-exports the names here.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._errors import ParameterError, UserError
from .._units import HOURS_PER_MONTH
from ..config.scenario import Scenario
from ..cost import CostInputs
from ..perf import concurrency_grid
from ..resolve.cost import cost_inputs
from ..resolve.finance import contract_rent_per_gpu_month
from ..resolve.perf import ServingLayout, serving_layout
from ._axes import AXES, SWEEP_METRICS, Axis, parse_axis, resolve_metrics
from ._finance import FINANCE_AXES, FinanceTable

__all__ = ["MODES", "OUTPUTS", "FLAG_FEASIBLE", "FLAG_LATENCY_LAYOUT", "MAX_POINTS", "ServingLayout", "SweepPlan",
           "plan_sweep", "indices", "combo_index"]

MODES = ("aggregated", "disaggregated")
# What evaluate_points returns per point, in kernels/unitcost.cuh UC_OUT_* order, plus "flags" (bit 0 feasible,
# bit 1 latency layout).
OUTPUTS = ("concurrency", "tokens_per_s_per_user", "output_tokens_per_s_per_gpu", "cost_per_gpu_hour",
           "cost_per_million_input_tokens", "cost_per_million_cached_input_tokens", "cost_per_million_output_tokens",
           "cost_per_million_tokens_blended")
FLAG_FEASIBLE, FLAG_LATENCY_LAYOUT = 1, 2
# The flat index travels to the kernel as a double (exact below 2^53).
MAX_POINTS = 1 << 53


@dataclass
class SweepPlan:
    """Everything a chunk of the grid needs; built by :func:`plan_sweep`."""

    scenario: Scenario
    currency: str
    mode: str
    axes: tuple[Axis, ...]
    metrics: tuple[str, ...]
    search: bool  # batch searched under the SLOs (no concurrency axis)
    shape: tuple[int, ...]
    points: int
    slots: dict[str, np.ndarray]  # every axis slot's values (categorical: indices); one value when not swept
    strides: dict[str, int]  # swept slots only
    categories: dict[str, tuple[str, ...]]
    layouts: tuple[ServingLayout, ...]  # hardware-major: (hardware x precisions + precision) x models + model
    min_tokens_per_s_per_user: float | None  # the scenario's, when not an axis
    max_ttft_s: float | None
    max_tpot_s: float | None
    cached_input_cost_fraction: float
    base_cost: CostInputs
    grid_points: int  # perf.concurrency_grid's default number of points
    base: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    finance: Any = None  # tokensim.sweep._finance.FinanceTable when a finance metric is asked for

    @property
    def swept(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.axes)

    @property
    def has_slo(self) -> bool:
        return "min_tokens_per_s_per_user" in self.strides or any(
            v is not None for v in (self.min_tokens_per_s_per_user, self.max_ttft_s, self.max_tpot_s))


# -- planning ----------------------------------------------------------------------------------------------------------
def _base_rent_per_gpu_hour(s: Scenario) -> float:
    if s.contract.type == "spot":
        return float(s.contract.market_rent_per_gpu_hour)
    return float(contract_rent_per_gpu_month(s)) / HOURS_PER_MONTH


def plan_sweep(scenario: Scenario, axes: Sequence[Axis | str], metrics: Sequence[str] | None = None, *,
               mode: str = "aggregated") -> SweepPlan:
    """Check the axes and metrics against each other and the scenario; resolve every (hardware, precision, model)."""
    if mode not in MODES:
        raise ParameterError("mode", f"{mode!r}: allowed: {', '.join(MODES)} (modes that price input and output "
                             "tokens)")
    parsed = tuple(a if isinstance(a, Axis) else parse_axis(a) for a in axes)
    names = [a.name for a in parsed]
    for name in set(names):
        if names.count(name) > 1:
            raise ParameterError("axes", f"{name}: given {names.count(name)} times; give each axis once")
    if "concurrency" in names and "min_tokens_per_s_per_user" in names:
        raise ParameterError("axes", "concurrency and min_tokens_per_s_per_user: give one: a fixed batch "
                             "(concurrency) or an SLO under which the batch is searched")
    s = scenario
    cur = s.currency
    chosen = resolve_metrics(metrics, cur, names)
    sv = s.serving
    by_name = {a.name: a for a in parsed}
    search = "concurrency" not in by_name
    base_values: dict[str, Any] = {
        "hardware": sv.hardware, "precision": sv.precision, "model": sv.model, "concurrency": None,
        "min_tokens_per_s_per_user": sv.min_tokens_per_s_per_user, "input_tokens": sv.input_tokens,
        "output_tokens": sv.output_tokens, "context_tokens": None, "cache_hit_rate": sv.cache_hit_rate,
        "server_price": None, "utilisation": s.utilisation, "cost_of_capital": s.financing.discount_rate,
        "electricity_price_per_kwh": s.opex.electricity_price_per_kwh, "rent_per_gpu_hour": _base_rent_per_gpu_hour(s),
        "spot_utilisation": s.contract.spot_utilisation,
    }
    categories = {name: tuple(by_name[name].values) if name in by_name else (base_values[name],)
                  for name in ("hardware", "precision", "model")}
    slots: dict[str, np.ndarray] = {}
    for name, spec in AXES.items():
        if spec.categorical:
            slots[name] = np.arange(len(categories[name]), dtype=float)
        elif name in by_name:
            slots[name] = np.asarray(by_name[name].values, dtype=float)
        else:
            value = base_values[name]
            slots[name] = np.array([math.nan if value is None else float(value)])
    shape = tuple(a.size for a in parsed)
    points = math.prod(shape)
    if points > MAX_POINTS:
        raise UserError(f"the grid has {points:,} points; allowed: at most 2^53 (fewer values per axis)")
    strides = {a.name: math.prod(shape[i + 1:]) for i, a in enumerate(parsed)}
    layouts = tuple(serving_layout(s, hw, prec, model, latency=search) for hw in categories["hardware"]
                    for prec in categories["precision"] for model in categories["model"])
    if "server_price" not in by_name:
        unpriced = sorted({lay.hardware for lay in layouts if math.isnan(lay.server_price)})
        if unpriced:
            priced = [sv.hardware] + ([sv.previous_generation.hardware] if sv.previous_generation else [])
            raise UserError(f"no server price known for {', '.join(unpriced)} (the scenario prices "
                            f"{' and '.join(priced)}); add --axis server_price=PRICE[,...] (per server, {cur})")
    plan = SweepPlan(
        scenario=s, currency=cur, mode=mode, axes=parsed, metrics=chosen, search=search, shape=shape, points=points,
        slots=slots, strides=strides, categories=categories, layouts=layouts,
        min_tokens_per_s_per_user=sv.min_tokens_per_s_per_user, max_ttft_s=sv.max_ttft_s, max_tpot_s=sv.max_tpot_s,
        cached_input_cost_fraction=sv.cached_input_cost_fraction, base_cost=cost_inputs(s),
        grid_points=int(inspect.signature(concurrency_grid).parameters["points"].default),
        base={name: (categories[name][0] if AXES[name].categorical else value)
              for name, value in base_values.items()},
    )
    if any(SWEEP_METRICS[m].finance for m in chosen):
        plan.finance = FinanceTable.build(plan)
    plan.notes.extend(_notes(plan))
    return plan


def _notes(plan: SweepPlan) -> list[str]:
    s, notes = plan.scenario, []
    moved = [n for n in ("min_tokens_per_s_per_user", "input_tokens", "output_tokens", "context_tokens",
                         "cache_hit_rate") if n in plan.strides]
    if moved:
        chosen = ", ".join(dict.fromkeys(f"{lay.hardware} {lay.precision} {lay.model}: "
                                         f"{lay.throughput.deployment.label}" for lay in plan.layouts))
        notes.append(f"the serving layout is chosen once, at the scenario's workload and SLO ({chosen}), and kept at "
                     f"every value of {', '.join(moved)} (with its tensor-parallel twin where the layout search tried "
                     "it); tokensim perf searches the layout at one point")
    if s.serving.measured_output_tokens_per_s_per_gpu is not None:
        notes.append("serving.measured_output_tokens_per_s_per_gpu is not used here: every grid point is the "
                     "performance model's (run, bridge and cost-per-token use the measured figure)")
    finance = [m for m in plan.metrics if SWEEP_METRICS[m].finance]
    for axis, what in (("rent_per_gpu_hour", "rent"), ("spot_utilisation", "spot utilisation")):
        if axis in plan.strides and not finance:
            notes.append(f"{what} enters only the finance metrics (npv, project_irr, equity_irr), none of which was "
                         "asked for: add --metric equity_irr (or npv, project_irr)")
    if finance:
        outside = [n for n in plan.swept if n not in FINANCE_AXES]
        if outside:
            notes.append(f"finance metrics are the scenario's cluster at each rent, spot utilisation, server price, "
                         f"cost of capital and electricity price; {', '.join(outside)} "
                         f"{'does' if len(outside) == 1 else 'do'} not enter them"
                         + (" (utilisation, the sold share of hours, prices a sold GPU-hour; the cash flows' "
                            "market capacity takes spot_utilisation)" if "utilisation" in outside else ""))
        take_or_pay = (s.contract.type != "spot" and s.contract.contracted_share >= 1.0
                       and s.contract.term_years >= s.horizon_years)
        if "spot_utilisation" in plan.strides and take_or_pay:
            notes.append("spot_utilisation moves no NPV or IRR here: every GPU is under a take-or-pay contract for "
                         "the whole horizon (spot utilisation applies to GPUs sold at market)")
    return notes


# -- the NumPy reference ---------------------------------------------------------------------------------------------
def _axis_index(start: int, stop: int, stride: int, size: int) -> np.ndarray:
    """(flat // stride) % size for flat = start..stop-1, in 32-bit arithmetic on the block's own offsets (the
    64-bit division numpy would do costs ~9 ns a point and axis; the flat index itself may exceed 2^32)."""
    first, offset = divmod(start, stride)
    n = stop - start
    base = first % size
    if offset + n <= stride:  # the whole block sits on one value of this axis
        return np.full(n, base, dtype=np.intp)
    dtype: Any = np.uint32 if offset + n < 2**32 else np.uint64
    local = np.arange(offset, offset + n, dtype=dtype) // dtype(stride)
    return ((local + dtype(base)) % dtype(size)).astype(np.intp)


def indices(plan: SweepPlan, start: int, stop: int) -> dict[str, Any]:
    """Each swept axis' value index for flat points start..stop-1 (C order, as numpy.unravel_index); 0 for axes not
    swept."""
    out: dict[str, Any] = {name: 0 for name in AXES}
    for axis in plan.axes:
        out[axis.name] = _axis_index(start, stop, plan.strides[axis.name], axis.size)
    return out


def combo_index(plan: SweepPlan, idx: dict[str, Any]):
    """The layout (hardware-major combination) of each point."""
    n_p, n_m = len(plan.categories["precision"]), len(plan.categories["model"])
    return (idx["hardware"] * n_p + idx["precision"]) * n_m + idx["model"]
