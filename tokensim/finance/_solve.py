"""Solvers: the rent that meets a target (NPV, equity or project IRR, min DSCR, a payback), and the frontier of
base-rent / usage-fee pairs that meet it for a base + usage contract.

Each round evaluates a grid of candidate rents at once, one engine path per candidate (the paths axis of
:func:`tokensim.finance.cashflows`), keeps the interval where the target is first met and refines it: a
vectorised bisection. The metric is taken to improve with rent (NPV, IRRs, DSCR rise; paybacks fall); the answer is
the lowest rent found that meets the target. A target that no rent up to a large bound meets, or that even a zero
rent meets, is reported with a reason instead of an exception. The rent solved for is the contract (base) rent, or
the market rent for a spot scenario.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from .._errors import UserError, did_you_mean
from .._units import HOURS_PER_MONTH, SECONDS_PER_HOUR
from ..config.scenario import Scenario
from ..cost import TOKENS_PER_MILLION
from ._cashflows import Drivers, evaluate

__all__ = ["Target", "RentSolution", "NPV_ZERO", "TARGET_METRICS", "PAYBACK_DEFINITIONS", "solve_rent",
           "usage_frontier", "payback_requirements"]

# metric -> +1 if larger is better (met when value >= target), -1 if smaller is better (met when value <= target)
TARGET_METRICS = {
    "npv": 1, "equity_npv": 1, "project_irr": 1, "equity_irr": 1, "min_dscr": 1, "avg_dscr": 1, "llcr": 1,
    "payback_simple": -1, "payback_net": -1, "payback_equity": -1, "payback_discounted": -1,
}

_GRID = 41
_ROUNDS = 6
_EXPANSIONS = 8


@dataclass(frozen=True)
class Target:
    """A metric and the value it must reach, e.g. ``Target.parse("equity_irr=0.12")``."""

    metric: str
    value: float

    @classmethod
    def parse(cls, text: str, field: str = "--target") -> Target:
        name, sep, value = str(text).partition("=")
        name = name.strip()
        if not sep or name not in TARGET_METRICS:
            hint = did_you_mean(name, TARGET_METRICS)
            raise UserError(f"{field}: got {text!r}; allowed: METRIC=VALUE with METRIC one of "
                            f"{', '.join(TARGET_METRICS)}" + (f" ({hint})" if hint else ""))
        try:
            number = float(value)
        except ValueError:
            raise UserError(f"{field}: got {text!r}; allowed: a number after '=' (e.g. {name}=0.12)") from None
        if not np.isfinite(number):
            raise UserError(f"{field}: got {text!r}; allowed: a finite number after '='")
        if name.startswith("payback") and number <= 0:
            raise UserError(f"{field}: got {text!r}; allowed: a payback in years > 0")
        return cls(name, number)

    def __str__(self) -> str:
        return f"{self.metric}={self.value:g}"


NPV_ZERO = Target("npv", 0.0)
PAYBACK_DEFINITIONS = ("simple", "net", "equity", "discounted")


@dataclass(frozen=True)
class RentSolution:
    """The lowest rent that meets ``target`` (NaN with ``reason`` when none does), in three billing units."""

    target: str
    solved_for: str
    rent_per_gpu_hour: float
    rent_per_server_month: float
    rent_per_cluster_year: float
    achieved: float  # the metric at the solution
    reason: str = ""
    usage_fee_per_million_tokens: float | None = None

    def to_dict(self) -> dict:
        out = asdict(self)
        if self.usage_fee_per_million_tokens is None:
            del out["usage_fee_per_million_tokens"]
        return out


def _metric_values(scenario: Scenario, metric: str, rents, usage_fee) -> np.ndarray:
    from ._run import build_inputs

    spot = scenario.contract.type == "spot"
    kwargs = {"market_rent_per_gpu_hour": rents / HOURS_PER_MONTH} if spot else {"rent_per_gpu_month": rents}
    inputs = build_inputs(scenario, usage_fee_per_million_tokens=usage_fee, **kwargs)
    metrics = evaluate(inputs, Drivers.base(inputs, paths=len(rents)))
    source = metrics if metric.endswith("irr") else metrics.flows
    return np.broadcast_to(np.asarray(getattr(source, metric), dtype=float), (len(rents),))


def _met(values: np.ndarray, target: Target) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        ok = values >= target.value if TARGET_METRICS[target.metric] > 0 else values <= target.value
    return ok & np.isfinite(values)


def _answer(scenario: Scenario, target: Target, per_gpu_month: float, achieved: float, reason: str,
            usage_fee: float | None) -> RentSolution:
    from ._run import rent_units

    spot = scenario.contract.type == "spot"
    units = rent_units(per_gpu_month, scenario, market=spot)
    return RentSolution(target=str(target), solved_for="market rent" if spot else "contract rent",
                        rent_per_gpu_hour=units["per_gpu_hour"], rent_per_server_month=units["per_server_month"],
                        rent_per_cluster_year=units["per_cluster_year"], achieved=achieved, reason=reason,
                        usage_fee_per_million_tokens=usage_fee)


def solve_rent(scenario: Scenario, target: Target, *, usage_fee: float | None = None) -> RentSolution:
    """The lowest rent (per GPU-month internally) at which ``target`` is met, everything else as in the scenario."""
    from ._run import rent_per_gpu_month_of

    s = scenario
    current = (s.contract.market_rent_per_gpu_hour * HOURS_PER_MONTH if s.contract.type == "spot"
               else rent_per_gpu_month_of(s))
    capex_per_gpu_month = s.capex_total / s.cluster.gpus / 12.0
    lo, hi = 0.0, 2.0 * max(current, capex_per_gpu_month)
    nan = float("nan")
    for _ in range(_EXPANSIONS):
        rents = np.linspace(lo, hi, _GRID)
        values = _metric_values(s, target.metric, rents, usage_fee)
        ok = _met(values, target)
        if ok.any():
            break
        lo, hi = hi, hi * 4.0
    else:
        bound = hi / HOURS_PER_MONTH
        return _answer(s, target, nan, nan, f"not met by any rent up to {bound:,.4g} per GPU-hour", usage_fee)
    first = int(np.argmax(ok))
    if first == 0 and lo == 0.0:
        return _answer(s, target, 0.0, float(values[0]), "met at zero rent: the target does not bind", usage_fee)
    lo, hi, achieved = float(rents[first - 1]), float(rents[first]), float(values[first])
    for _ in range(_ROUNDS):
        rents = np.linspace(lo, hi, _GRID)
        values = _metric_values(s, target.metric, rents, usage_fee)
        ok = _met(values, target)
        ok[-1] = True  # hi met the target in the previous round
        first = int(np.argmax(ok))
        if first == 0:
            break
        lo, hi = float(rents[first - 1]), float(rents[first])
        achieved = float(values[first]) if np.isfinite(values[first]) else achieved
    return _answer(s, target, hi, achieved, "", usage_fee)


def usage_frontier(scenario: Scenario, target: Target, fees=None, points: int = 9) -> list[dict]:
    """For each usage fee per million tokens, the lowest base rent that meets ``target`` (base_plus_usage only).

    Default fees run from 0 to twice the scenario's fee (or, if that is 0, to the fee at which usage alone would
    earn the current base rent)."""
    s = scenario
    if s.contract.type != "base_plus_usage":
        raise UserError(f"{s.file}: field 'contract.type' got {s.contract.type!r}; allowed: base_plus_usage "
                        "(a base-rent/usage-fee frontier needs a usage-linked contract)")
    if fees is None:
        top = 2.0 * s.contract.usage_fee_per_million_tokens
        tokens_per_gpu_hour = s.contract.usage_tokens_per_s_per_gpu * SECONDS_PER_HOUR * s.contract.usage_busy_share
        if top == 0 and tokens_per_gpu_hour > 0:
            from ._run import rent_per_gpu_month_of

            top = rent_per_gpu_month_of(s) / HOURS_PER_MONTH / (tokens_per_gpu_hour / TOKENS_PER_MILLION)
        fees = np.linspace(0.0, top, points)
    rows = []
    for fee in np.asarray(fees, dtype=float):
        solution = solve_rent(s, target, usage_fee=float(fee))
        rows.append(replace(solution, solved_for="base rent").to_dict())
    return rows


def payback_requirements(scenario: Scenario, years: float) -> list[dict]:
    """For each payback definition, the lowest rent that brings that payback down to ``years``, and its change
    against the scenario's rent: what a claim such as "payback about 3 years" requires of the rent."""
    from ._run import rent_per_gpu_month_of

    s = scenario
    spot = s.contract.type == "spot"
    now = (s.contract.market_rent_per_gpu_hour if spot else rent_per_gpu_month_of(s) / HOURS_PER_MONTH)
    rows = []
    for name in PAYBACK_DEFINITIONS:
        solution = solve_rent(s, Target(f"payback_{name}", float(years)))
        change = solution.rent_per_gpu_hour / now - 1.0 if now > 0 else float("nan")
        rows.append({"definition": name, "payback_years": float(years), **solution.to_dict(),
                     "change_vs_scenario_rent": change})
    return rows
