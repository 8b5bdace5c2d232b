"""Scenarios side by side (issue 16): their key figures, the differences from the first, and what drives the
difference in unit token cost.

Each scenario is priced by the stages it would be alone: unit cost per million tokens (the bridge's
:func:`~tokensim.bridge.unit_cost` of the scenario's own side in its own context: hardware, precision, model, server
price, sold share of hours, cost of capital, workload and SLO), the cost per sold GPU-hour, and the finance of
:func:`tokensim.api.run_finance`. Money is converted into one reporting currency (the first scenario's unless given)
with the bundled FX table.

The drivers of a unit-cost difference are the bridge's exact Shapley contributions over ln(cost) from the first
scenario's side to the other's, both priced in the *first* scenario's context; whatever the bridge factors do not
cover (opex, power price, the workload, tax, anything else the scenarios differ in) is the ``other`` term,
ln(c_B in B's context / c_B in A's context), so that the contributions and ``other`` add up to ln(c_B / c_A) exactly.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from . import _warnings
from ._errors import ParameterError
from .api import run_finance
from .bridge import FACTORS, bridge, side_point, unit_cost
from .config.money import fx_factor
from .config.types import Scenario
from .cost import cost_per_gpu_hour
from .resolve.bridge import context as bridge_context
from .resolve.bridge import sides as bridge_sides
from .resolve.cost import cost_inputs

__all__ = ["COMPARE_METRICS", "CompareResult", "compare_scenarios"]

# (name, unit, money?) of each figure compared; money is in the reporting currency
COMPARE_METRICS: tuple[tuple[str, str, bool], ...] = (
    ("cost_per_million_tokens_blended", "currency per million tokens", True),
    ("cost_per_million_output_tokens", "currency per million output tokens", True),
    ("cost_per_gpu_hour", "currency per sold GPU-hour", True),
    ("capex_total", "currency", True),
    ("npv", "currency", True),
    ("project_irr", "fraction per year", False),
    ("equity_irr", "fraction per year", False),
    ("min_dscr", "x", False),
    ("payback_simple_years", "years", False),
    ("payback_equity_years", "years", False),
    ("npv_zero_rent_per_gpu_hour", "currency per GPU-hour", True),
    ("dscr_sized_debt_share", "fraction of capex", False),
)


@dataclass
class CompareResult:
    """Figures per scenario (``rows``: label and metric values), the differences from the first scenario, and the
    unit-cost drivers of each difference (``drivers``: label → factor → share of the log change)."""

    currency: str
    labels: list[str]
    values: list[dict[str, float]]
    drivers: list[dict[str, Any]] = field(default_factory=list)
    # plausibility warnings: a scenario priced at an operating point outside the validated envelope
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def differences(self) -> list[dict[str, float]]:
        """Each scenario's figures minus the first's (NaN where either is NaN)."""
        base = self.values[0]
        return [{k: v[k] - base[k] for k in base} for v in self.values]

    def to_dict(self) -> dict[str, Any]:
        units = {name: (unit.replace("currency", self.currency) if money else unit)
                 for name, unit, money in COMPARE_METRICS}
        return {"currency": self.currency, "units": units,
                "scenarios": [{"label": lab, **vals} for lab, vals in zip(self.labels, self.values, strict=True)],
                "differences_from_first": [{"label": lab, **diff}
                                           for lab, diff in zip(self.labels[1:], self.differences()[1:],
                                                                strict=True)],
                "unit_cost_drivers": self.drivers, "warnings": self.warnings}

    def long_rows(self) -> list[dict[str, Any]]:
        """One row per (scenario, metric): value and difference from the first scenario (CSV and Parquet)."""
        diffs = self.differences()
        return [{"scenario": lab, "metric": name, "value": vals[name], "difference_from_first": diff[name]}
                for lab, vals, diff in zip(self.labels, self.values, diffs, strict=True)
                for name, _, _ in COMPARE_METRICS]


def _figures(s: Scenario, currency: str) -> tuple[dict[str, float], Any]:
    k = fx_factor(s.currency, currency)
    _, own = bridge_sides(s)
    ctx = bridge_context(s)
    fin = run_finance(s, breakeven=True)
    d = fin.to_dict()
    paybacks = d["payback_years"]
    sizing = d.get("sizing") or {}
    nan = math.nan
    values = {
        "cost_per_million_tokens_blended": unit_cost(own, ctx, "blended") * k,
        "cost_per_million_output_tokens": unit_cost(own, ctx, "output") * k,
        "cost_per_gpu_hour": cost_per_gpu_hour(cost_inputs(s), s.utilisation).total * k,
        "capex_total": s.capex_total * k,
        "npv": d["npv"] * k,
        "project_irr": d["project_irr"],
        "equity_irr": d["equity_irr"],
        "min_dscr": d["min_dscr"],
        "payback_simple_years": paybacks["simple"],
        "payback_equity_years": paybacks["equity"],
        "npv_zero_rent_per_gpu_hour": (d.get("npv_zero_rent_per_gpu_hour") or nan) * k,
        "dscr_sized_debt_share": sizing.get("sized_gearing", nan),
    }
    values = {name: (nan if v is None else float(v)) for name, v in values.items()}
    return values, (own, ctx)


def _drivers(first: tuple[Any, Any], other: tuple[Any, Any], first_currency: str, other_currency: str,
             label: str, values_first: dict, values_other: dict) -> dict[str, Any]:
    """The Shapley split of ln(c_other / c_first) over the bridge factors, in the first scenario's context, plus
    ``other`` (what the context difference explains)."""
    side_a, ctx_a = first
    side_b, _ = other
    k = fx_factor(other_currency, first_currency)
    side_b = dataclasses.replace(side_b, server_price=side_b.server_price * k)
    result = bridge(ctx_a, side_a, side_b, metric="blended")
    total = math.log(values_other["cost_per_million_tokens_blended"] / values_first["cost_per_million_tokens_blended"])
    contributions = {n: result.contributions[n]["log_contribution"] for n in FACTORS}
    contributions["other"] = total - sum(contributions.values())
    return {"label": label, "log_change": total, "change": math.expm1(total),
            "log_contributions": contributions,
            "cost_change_alone": {n: math.expm1(v) for n, v in contributions.items()}}


def compare_scenarios(scenarios: Sequence[Scenario], labels: Sequence[str] | None = None, *,
                      currency: str | None = None) -> CompareResult:
    """Key figures of several scenarios side by side, the differences from the first and their unit-cost drivers.

    Parameters
    ----------
    scenarios : sequence of Scenario
        Two or more loaded scenarios (the first is the reference).
    labels : sequence of str, optional
        A label per scenario (default: the scenarios' names, numbered where they repeat).
    currency : str, optional
        Reporting currency (default: the first scenario's).

    Returns
    -------
    CompareResult
        Figures per scenario (money in ``currency``; units in :data:`COMPARE_METRICS`), differences from the first
        and, per other scenario, the exact split of ln(blended unit cost ratio) into the bridge factors and
        ``other``.
    """
    if len(scenarios) < 2:
        raise ParameterError("scenarios", f"got {len(scenarios)}; allowed: two or more to compare")
    names = list(labels) if labels is not None else [s.name for s in scenarios]
    if labels is None:
        seen: dict[str, int] = {}
        for i, n in enumerate(names):
            seen[n] = seen.get(n, 0) + 1
            if seen[n] > 1:
                names[i] = f"{n} #{seen[n]}"
    code = currency or scenarios[0].currency
    figures = [_figures(s, code) for s in scenarios]
    values = [f[0] for f in figures]
    warnings = [w for name, (_, (own, ctx)) in zip(names, figures, strict=True)
                for w in _warnings.extrapolation(f"scenarios[{name}]", [side_point(ctx, own)[0]])]
    drivers = [_drivers(figures[0][1], figures[i][1], scenarios[0].currency, scenarios[i].currency, names[i],
                        values[0], values[i]) for i in range(1, len(scenarios))]
    return CompareResult(currency=code, labels=names, values=values, drivers=drivers, warnings=warnings)
