"""Cluster finance (DESIGN.md section 7): a scenario's monthly cash flows, returns, paybacks and debt cover.

:func:`build_inputs` resolves a :class:`~tokensim.config.Scenario` into the engine's :class:`FinanceInputs`, fixing
the debt schedule at financial close from the base case (sculpted debt is sized against base-case CFADS, iterating
because CFADS depends on the interest tax shield). :func:`cashflows` (in ``tokensim.finance._cashflows``) is the monthly
engine, vectorised over paths; :func:`run_finance` is the deterministic case: one path with :meth:`Drivers.base`,
plus the break-even rent and, when asked, a solved rent or a base-rent/usage-fee frontier (``tokensim.finance._solve``).

Every definition (what project and equity cash flows are, how tax, residual and leftover debt are treated, the four
paybacks, DSCR and LLCR) is in :data:`DEFINITIONS`, returned with every result.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .._irr import IRR_OK, IRR_REASONS
from .._units import HOURS_PER_MONTH, SECONDS_PER_HOUR
from ..config.money import fx_factor
from ..config.scenario import Scenario, rent_per_gpu_month
from ..cost import cost_inputs_from_scenario, opex_per_installed_gpu_hour
from ._cashflows import SCHEDULE_ITEMS, CashFlows, Drivers, FinanceInputs, Metrics, cashflows, evaluate
from ._debt import DebtSchedule, build_debt_schedule
from ._residual import economic_residual_parts, percent_of_cost_at

__all__ = [
    "FinanceInputs", "Drivers", "CashFlows", "Metrics", "FinanceResult", "DEFINITIONS", "build_inputs", "cashflows",
    "evaluate", "run_finance", "rent_units", "rent_per_gpu_month_of", "schedule_frame",
]

DEFINITIONS: dict[str, str] = {
    "timeline": "monthly; month 0 = financial close (capex, debt drawn), months 1..M operate; capacity delivered in "
                "month m earns from month m+1",
    "revenue": "contract rent on contracted GPUs while the contract runs (escalated each contract year) + usage fees "
               "(base_plus_usage) + other GPUs at market rent x spot utilisation; after a tenant default the "
               "contracted GPUs stand vacant for the vacancy lag, then sell at market",
    "cfads": "EBITDA - tax paid on operations (levered)",
    "project_cf": "unlevered, after tax: EBITDA - tax on (EBITDA - depreciation) - capex + residual sale at the "
                  "horizon (taxed on proceeds - book value)",
    "project_cf_pre_tax": "EBITDA - capex + residual",
    "equity_cf": "EBITDA - tax on (EBITDA - interest - depreciation) - debt service - capex + debt drawn; at the "
                 "horizon + residual - debt still outstanding (repaid from the sale)",
    "tax": "settled at each year end and at the horizon; losses carried forward oldest first, expiring after "
           "loss_carry_forward_years; no refunds",
    "project_irr": "monthly IRR of project_cf, annualised (1+r)^12-1",
    "equity_irr": "monthly IRR of equity_cf, annualised",
    "npv": "project_cf discounted at the discount rate (monthly equivalent), month 0 undiscounted",
    "payback_simple": "capex / revenue of the first full operating year (static; the sell-side 'gross' payback)",
    "payback_net": "capex / EBITDA of the first full operating year (static)",
    "payback_equity": "years from which cumulative equity_cf stays non-negative up to the horizon (a temporary "
                      "crossing, e.g. before an annual payment or a balloon, does not count); NaN if negative at the "
                      "horizon",
    "payback_discounted": "the same for project_cf discounted at the discount rate",
    "dscr": "per loan year (months 1-12, 13-24, ...): sum CFADS / sum scheduled debt service, balloon and bullet "
            "repayments excluded; min and average over years with debt service",
    "llcr": "PV of CFADS from the end of deliveries to maturity (within the horizon) at the debt rate / debt "
            "outstanding at the end of deliveries",
    "interest": "annual nominal rate / 12 accrued monthly, paid on payment months; floating = base + margin, the "
                "principal schedule fixed at close",
    "breakeven_rent": "the contract rent (market rent for spot) at which project NPV = 0",
}


def rent_units(per_gpu_month, scenario: Scenario, *, market: bool = False) -> dict[str, Any]:
    """A rent per GPU-month expressed per GPU-hour, per server-month and per cluster-year (contracted GPUs; all GPUs
    for a market rent)."""
    gpus = scenario.cluster.gpus * (1.0 if market or scenario.contract.type == "spot"
                                    else scenario.contract.contracted_share)
    return {"per_gpu_hour": per_gpu_month / HOURS_PER_MONTH,
            "per_server_month": per_gpu_month * scenario.cluster.gpus_per_server,
            "per_cluster_year": per_gpu_month * 12.0 * gpus}


def _timeline(s: Scenario) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    months = s.horizon_months
    capex = np.zeros(months + 1)
    online = np.zeros(months + 1)
    depreciation = np.zeros(months + 1)
    dep_months = int(round(s.tax.depreciation_years * 12))
    for d in s.capex.delivery:
        tranche = d.share * s.capex_total
        capex[d.month] += tranche
        online[d.month + 1:] += d.share
        depreciation[d.month + 1: min(d.month + dep_months, months) + 1] += tranche / (s.tax.depreciation_years * 12)
    book_value = s.capex_total - depreciation.sum()
    return capex, np.minimum(online, 1.0), depreciation, max(book_value, 0.0)


def build_inputs(scenario: Scenario, *, rent_per_gpu_month: Any = None, market_rent_per_gpu_hour: Any = None,
                 usage_fee_per_million_tokens: Any = None) -> FinanceInputs:
    """The engine inputs of a scenario. The keyword arguments override the contract rent (per GPU-month), the market
    rent or the usage fee with a value or an array of shape (rows,): then the debt schedule has one row per value
    (sculpted debt depends on the rent)."""
    s = scenario
    ci = cost_inputs_from_scenario(s)
    capex, online, depreciation, book_value = _timeline(s)
    busy = opex_per_installed_gpu_hour(ci, 1.0)
    idle = opex_per_installed_gpu_hour(ci, 0.0)
    c, fin = s.contract, s.financing
    if rent_per_gpu_month is None:
        rent_per_gpu_month = rent_per_gpu_month_of(s)
    residual_percent = 0.0
    parts = None
    if s.residual.method == "percent_of_cost":
        residual_percent = percent_of_cost_at(s.residual.percent_of_cost_by_age, s.horizon_years) \
            * s.hardware_capex_total
    else:
        parts = economic_residual_parts(s, ci)
    no_debt = build_debt_schedule("bullet", 0.0, capex / s.capex_total, fin.interest_rate, fin.payments_per_year,
                                  int(round(fin.tenor_years * 12)), s.horizon_months)
    inputs = FinanceInputs(
        currency=s.currency, months=s.horizon_months, gpus=float(s.cluster.gpus),
        gpus_per_server=s.cluster.gpus_per_server, capex_total=s.capex_total, capex_by_month=capex,
        online_share=online, ops_start_month=s.capex.delivery[-1].month + 1, depreciation_by_month=depreciation,
        book_value_at_horizon=book_value, contract_type=c.type, term_months=int(round(c.term_years * 12)),
        contracted_share=c.contracted_share, rent_per_gpu_month=rent_per_gpu_month,
        escalator_per_year=c.escalator_per_year,
        usage_fee_per_million_tokens=c.usage_fee_per_million_tokens if usage_fee_per_million_tokens is None
        else usage_fee_per_million_tokens,
        usage_tokens_per_gpu_hour=c.usage_tokens_per_s_per_gpu * SECONDS_PER_HOUR, usage_busy_share=c.usage_busy_share,
        usage_floor_per_gpu_hour=c.usage_floor_per_gpu_hour,
        usage_cap_per_gpu_hour=np.inf if c.usage_cap_per_gpu_hour is None else c.usage_cap_per_gpu_hour,
        market_rent_per_gpu_hour=c.market_rent_per_gpu_hour if market_rent_per_gpu_hour is None
        else market_rent_per_gpu_hour,
        market_rent_change_per_year=c.market_rent_change_per_year, spot_utilisation=c.spot_utilisation,
        vacancy_lag_months=c.vacancy_lag_months,
        lessee_pays_power_and_facility=s.opex.power_and_facility_paid_by == "lessee",
        power_busy_per_gpu_hour=busy["power"], power_idle_per_gpu_hour=idle["power"],
        facility_per_gpu_hour=busy["facility"], maintenance_per_gpu_hour=busy["maintenance"],
        operations_per_gpu_hour=busy["operations"], insurance_per_gpu_hour=busy["insurance"],
        debt=no_debt, rate_type=fin.rate_type, fixed_rate=fin.interest_rate,
        floating_margin=fin.floating_margin or 0.0, floating_base_rate=fin.floating_base_rate or 0.0,
        tax_rate=s.tax.rate, loss_carry_forward_years=s.tax.loss_carry_forward_years or 0,
        residual_method=s.residual.method, residual_percent_value=residual_percent,
        residual_pv_revenue_per_gpu=parts.revenue if parts else 0.0,
        residual_pv_power_per_gpu=parts.power if parts else 0.0,
        residual_pv_other_per_gpu=parts.other if parts else 0.0,
        discount_rate=fin.discount_rate, cost_of_equity=fin.cost_of_equity,
        dscr_covenant=np.nan if fin.dscr_covenant is None else fin.dscr_covenant,
    )
    return replace(inputs, debt=_debt_at_close(s, inputs))


def rent_per_gpu_month_of(s: Scenario) -> float:
    return rent_per_gpu_month(s.contract.billing, s.contract.rent, s.cluster, s.contract.contracted_share)


def _rows(inputs: FinanceInputs) -> int:
    sizes = [np.size(v) for v in (inputs.rent_per_gpu_month, inputs.market_rent_per_gpu_hour,
                                  inputs.usage_fee_per_million_tokens)]
    return max(sizes)


def _debt_at_close(s: Scenario, inputs: FinanceInputs, max_iter: int = 60) -> DebtSchedule:
    """The debt schedule fixed at close; sculpting iterates on base-case CFADS until the schedule stops moving."""
    fin = s.financing
    amount = fin.debt_share * s.capex_total
    args = (inputs.capex_by_month / s.capex_total, fin.interest_rate, fin.payments_per_year,
            int(round(fin.tenor_years * 12)), s.horizon_months)
    if fin.amortisation != "sculpted" or amount == 0:
        return build_debt_schedule(fin.amortisation, amount, *args, balloon_share=fin.balloon_share)
    rows = _rows(inputs)
    schedule = inputs.debt
    for _ in range(max_iter):
        flows = cashflows(replace(inputs, debt=schedule), Drivers.base(inputs, paths=rows), schedule=True)
        new = build_debt_schedule("sculpted", amount, *args, cfads=flows.schedule["cfads"],
                                  target_dscr=fin.target_dscr)
        moved = np.max(np.abs(new.principal - schedule.principal)) if schedule.principal.shape == \
            new.principal.shape else np.inf
        schedule = new
        if moved <= 1e-9 * s.capex_total:
            break
    return schedule


def schedule_frame(flows: CashFlows, currency: str, path: int = 0):
    """The monthly schedule of one path as a DataFrame; money columns carry the currency in their names."""
    import pandas as pd

    from .._xp import to_numpy

    months = next(iter(flows.schedule.values())).shape[1]
    data: dict[str, Any] = {"month": np.arange(months), "year": (np.arange(months) + 11) // 12}
    suffix = currency.lower()
    for name in SCHEDULE_ITEMS:
        column = name if name == "gpus_online" else f"{name}_{suffix}"
        data[column] = to_numpy(flows.schedule[name][path])
    return pd.DataFrame(data)


@dataclass(frozen=True)
class FinanceResult:
    """The deterministic finance of a scenario: metrics, the reasons for any NaN, and what was assumed."""

    scenario: str
    currency: str
    project_irr: float
    project_irr_pre_tax: float
    equity_irr: float
    npv: float
    equity_npv: float
    payback_years: dict[str, float]
    min_dscr: float
    avg_dscr: float
    llcr: float
    covenant_breached: bool
    meets_equity_hurdle: bool | None
    breakeven_rent_per_gpu_hour: float
    breakeven_rent: dict[str, Any]
    rent: dict[str, float]
    debt: dict[str, Any]
    reasons: dict[str, str]
    assumptions: list[dict]
    definitions: dict[str, str]
    solution: dict[str, Any] | None = None
    frontier: list[dict] | None = None
    payback_rents: list[dict] | None = None  # the rent each payback definition needs to reach a given payback
    schedule: Any = field(default=None, compare=False)

    def in_currency(self, currency: str) -> FinanceResult:
        """The same result with every amount converted to ``currency`` (IRRs, ratios and years unchanged)."""
        k = fx_factor(self.currency, currency)
        if k == 1.0 and currency.upper() == self.currency:
            return self

        def money(d: dict | None, keys) -> dict | None:
            if d is None:
                return None
            if str(d.get("target", "")).split("=")[0] in ("npv", "equity_npv"):
                keys = keys | {"achieved"}  # the NPV reached is money too
            return {key: (v * k if key in keys and isinstance(v, (int, float)) else v) for key, v in d.items()}

        rent_keys = {"per_gpu_hour", "per_server_month", "per_cluster_year", "rent_per_gpu_hour",
                     "rent_per_server_month", "rent_per_cluster_year", "usage_fee_per_million_tokens"}
        schedule = None
        if self.schedule is not None:
            schedule = self.schedule.copy()
            old = f"_{self.currency.lower()}"
            for column in list(schedule.columns):
                if column.endswith(old):
                    schedule[column] = schedule[column] * k
            schedule.columns = [c[: -len(old)] + f"_{currency.lower()}" if c.endswith(old) else c
                                for c in schedule.columns]
        return replace(
            self, currency=currency.upper(), npv=self.npv * k, equity_npv=self.equity_npv * k,
            breakeven_rent_per_gpu_hour=self.breakeven_rent_per_gpu_hour * k,
            breakeven_rent=money(self.breakeven_rent, rent_keys), rent=money(self.rent, rent_keys),
            debt=money(self.debt, {"amount"}), solution=money(self.solution, rent_keys),
            frontier=[money(row, rent_keys) for row in self.frontier] if self.frontier else self.frontier,
            payback_rents=[money(row, rent_keys) for row in self.payback_rents] if self.payback_rents
            else self.payback_rents,
            schedule=schedule,
        )

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in (
            "scenario", "currency", "project_irr", "project_irr_pre_tax", "equity_irr", "npv", "equity_npv",
            "payback_years", "min_dscr", "avg_dscr", "llcr", "covenant_breached", "meets_equity_hurdle",
            "breakeven_rent_per_gpu_hour", "breakeven_rent", "rent", "debt", "reasons", "assumptions",
            "definitions")}
        if self.solution is not None:
            out["solution"] = self.solution
        if self.frontier is not None:
            out["frontier"] = self.frontier
        if self.payback_rents is not None:
            out["payback_rents"] = self.payback_rents
        return out


def _scalar(x) -> float:
    return float(np.asarray(x).reshape(-1)[0])


def _reasons(metrics: Metrics, s: Scenario) -> dict[str, str]:
    reasons: dict[str, str] = {}
    for name in ("project_irr", "project_irr_pre_tax", "equity_irr"):
        code = int(np.asarray(getattr(metrics, f"{name}_reason")).reshape(-1)[0])
        if code != IRR_OK:
            reasons[name] = IRR_REASONS[code]
    f = metrics.flows
    horizon = f"cumulative cash flow is negative at the {s.horizon_years:g}-year horizon"
    for name in ("payback_equity", "payback_discounted"):
        if np.isnan(_scalar(getattr(f, name))):
            reasons[name] = horizon
    for name in ("payback_simple", "payback_net"):
        if np.isnan(_scalar(getattr(f, name))):
            reasons[name] = ("first full operating year ends after the horizon"
                             if s.capex.delivery[-1].month + 12 > s.horizon_months
                             else "first-year revenue or EBITDA is not positive: capex is never recovered")
    if np.isnan(_scalar(f.min_dscr)):
        reasons["min_dscr"] = reasons["avg_dscr"] = "no debt service within the horizon"
    if np.isnan(_scalar(f.llcr)):
        reasons["llcr"] = "no debt outstanding at the end of deliveries"
    return reasons


def run_finance(scenario: Scenario, *, target=None, frontier: bool = False, schedule: bool = False,
                payback_in_years: float | None = None) -> FinanceResult:
    """The deterministic finance of ``scenario``; with ``target`` (a :class:`tokensim.finance._solve.Target`) also the rent
    that meets it, with ``frontier`` (base_plus_usage) the base-rent/usage-fee pairs that meet it, and with
    ``payback_in_years`` the rent each payback definition needs to reach that payback."""
    from ._solve import NPV_ZERO, payback_requirements, solve_rent, usage_frontier

    s = scenario
    inputs = build_inputs(s)
    metrics = evaluate(inputs, Drivers.base(inputs), schedule=schedule)
    f = metrics.flows
    breakeven = solve_rent(s, NPV_ZERO)
    fin = s.financing
    equity_irr = _scalar(metrics.equity_irr)
    hurdle = None if fin.equity_hurdle_irr is None or np.isnan(equity_irr) else equity_irr >= fin.equity_hurdle_irr
    market = s.contract.type == "spot"
    rent_now = s.contract.market_rent_per_gpu_hour * HOURS_PER_MONTH if market else rent_per_gpu_month_of(s)
    assumptions = s.assumption_rows()
    if bool(inputs.debt.sized_down[0]):
        assumptions.append({"field": "financing.debt_share", "value": float(inputs.debt.amount[0] / s.capex_total),
                            "why": f"sculpted debt sized down: CFADS carries only this share at the target DSCR "
                                   f"{fin.target_dscr:g}", "origin": "default"})
    if inputs.debt.maturity_month > s.horizon_months and inputs.debt.amount[0] > 0:
        assumptions.append({"field": "financing.tenor_years", "value": fin.tenor_years,
                            "why": "the debt matures after the horizon: the balance left is repaid from the residual "
                                   "at the horizon (equity cash flow), and LLCR counts CFADS within the horizon only",
                            "origin": "default"})
    return FinanceResult(
        scenario=s.name, currency=s.currency,
        project_irr=_scalar(metrics.project_irr), project_irr_pre_tax=_scalar(metrics.project_irr_pre_tax),
        equity_irr=equity_irr, npv=_scalar(f.npv), equity_npv=_scalar(f.equity_npv),
        payback_years={"simple": _scalar(f.payback_simple), "net": _scalar(f.payback_net),
                       "equity": _scalar(f.payback_equity), "discounted": _scalar(f.payback_discounted)},
        min_dscr=_scalar(f.min_dscr), avg_dscr=_scalar(f.avg_dscr), llcr=_scalar(f.llcr),
        covenant_breached=bool(np.asarray(f.covenant_breached).reshape(-1)[0]), meets_equity_hurdle=hurdle,
        breakeven_rent_per_gpu_hour=breakeven.rent_per_gpu_hour, breakeven_rent=breakeven.to_dict(),
        rent={"basis": "market" if market else s.contract.billing, **rent_units(rent_now, s, market=market)},
        debt={"amortisation": fin.amortisation, "amount": float(inputs.debt.amount[0]),
              "share_of_capex": float(inputs.debt.amount[0] / s.capex_total), "interest_rate": fin.interest_rate,
              "tenor_years": fin.tenor_years, "payments_per_year": fin.payments_per_year,
              "maturity_month": inputs.debt.maturity_month},
        reasons=_reasons(metrics, s), assumptions=assumptions, definitions=dict(DEFINITIONS),
        solution=solve_rent(s, target).to_dict() if target is not None else None,
        frontier=usage_frontier(s, target or NPV_ZERO) if frontier else None,
        payback_rents=payback_requirements(s, payback_in_years) if payback_in_years is not None else None,
        schedule=schedule_frame(f, s.currency) if schedule else None,
    )
