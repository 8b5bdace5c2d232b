"""A fleet's deterministic economics, monthly, on one calendar (issue 14; DESIGN.md section 12).

Each block runs through the one cash-flow engine (:func:`tokensim.finance.finance_metrics`): an owned block exactly as
its scenario (:func:`tokensim.api.run_finance`), a leased-in block on :func:`tokensim.resolve.fleet.
block_finance_inputs`. Each block's monthly schedule is placed at its in-service month on the fleet's calendar and
the schedules are summed: revenue by block and kind, costs, EBITDA, book depreciation, debt and lease service, cash;
utilisation and revenue per GPU-hour by generation; backlog coverage. A scenario is a fleet of one block
(:func:`tokensim.config.fleet.fleet_of_scenario`): its fleet figures are its finance figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._irr import IRR_OK, IRR_REASONS, annualise_monthly_rate, irr, npv
from ._units import HOURS_PER_MONTH, monthly_rate
from .api import run_finance
from .config.fleet import Fleet, FleetBlock, month_index, month_label
from .finance import Drivers, finance_metrics, schedule_frame
from .resolve.fleet import block_finance_inputs

__all__ = ["fleet_key_figures", "FleetResult", "FLEET_DEFINITIONS", "MONTHLY_ITEMS", "run_fleet"]

# Schedule items summed over blocks into the fleet's monthly table (money unless in _COUNTS).
_SUMMED = ("gpus_online", "gpus_rented", "gpus_contracted", "revenue_contract", "revenue_usage", "revenue_market",
           "revenue_renewal", "revenue", "opex", "ebitda", "depreciation", "capex", "interest_paid", "principal_paid",
           "debt_service", "debt_balance", "tax_levered", "cfads", "residual_proceeds", "project_cf",
           "project_cf_pre_tax", "equity_cf")
_COUNTS = ("gpus_online", "gpus_rented", "gpus_contracted", "gpus_online_owned", "gpus_online_leased_in")
MONTHLY_ITEMS = (_SUMMED[:3] + ("gpus_online_owned", "gpus_online_leased_in") + _SUMMED[3:8]
                 + ("revenue_other", "lease_service") + _SUMMED[8:] + ("cash_cumulative", "book_value"))

FLEET_DEFINITIONS: dict[str, str] = {
    "fleet_calendar": "month 0 = the first block's in-service month (start); a block's month m is fleet month "
                      "offset + m (its in-service month is its financial close, capacity earns from the next "
                      "month); an owned block runs to the fleet's horizon (to its debt's maturity if later, as a "
                      "scenario does), a leased-in block to the end of its lease term if sooner",
    "fleet_lease": "a leased_in block: no capex, debt, depreciation or residual; the owner's maintenance and "
                   "insurance not paid; lease.rent_per_gpu_hour x every online GPU-hour of the term is an opex "
                   "(lease_service, inside opex, tax-deductible); power, space and operations as its scenario",
    "fleet_sum": "every monthly amount is the sum over blocks of the block's schedule item (docs/outputs.md, the "
                 "monthly schedule) in that calendar month; revenue_market includes no renewal (revenue_renewal "
                 "apart); revenue_other = revenue - contract - usage - market - renewal (termination payments "
                 "less SLA credits)",
    "cash_cumulative": "cumulative equity_cf of the fleet: the owners' cash position from the start (equity paid in "
                       "negative, distributions positive)",
    "book_value": "owned blocks' cumulative capex less cumulative depreciation, while each block lives (0 after its "
                  "horizon month, when the residual is sold)",
    "fleet_npv": "project_cf of the fleet discounted to month 0 at the fleet's discount_rate (monthly equivalent; "
                 "month 0 undiscounted); equity_npv: equity_cf at the fleet's cost_of_equity",
    "fleet_irr": "monthly IRR of the fleet's project_cf, project_cf_pre_tax or equity_cf (the engine's rule, "
                 "annualised); NaN with a reason where the flows do not change sign",
    "utilisation": "sold share of hours, by generation and fleet year: sum of gpus_rented / sum of gpus_online "
                   "over the year's months (rented GPU-hours / online GPU-hours)",
    "revenue_per_gpu_hour": "by generation and fleet year: revenue / rented GPU-hours (revenue_per_rented_gpu_hour, "
                            "the realised rent with usage fees) and revenue / online GPU-hours "
                            "(revenue_per_online_gpu_hour); GPU-hours = GPUs x 730 a month",
    "backlog": "from the valuation month, for each of the next backlog_years years: contracted_revenue = "
               "revenue_contract (the rent contracts fix; usage fees and market sales excluded), its share of the "
               "year's revenue (revenue_coverage_share) and contracted GPU-hours / online GPU-hours "
               "(capacity_coverage_share); backlog_total = revenue_contract over every month after the valuation "
               "month",
}


def _year_rows(table: dict[str, np.ndarray], months: int, start: str) -> list[dict[str, Any]]:
    """Fleet years (months 1-12, 13-24, ...): every money item summed; GPU counts as averages."""
    first = month_index(start)
    rows = []
    for y in range(1, (months - 1) // 12 + 2):
        lo, hi = 12 * (y - 1) + 1, min(12 * y, months - 1)
        if lo > hi:
            break
        sl = slice(lo, hi + 1)
        row: dict[str, Any] = {"year": y, "from": month_label(first + lo), "to": month_label(first + hi)}
        for name in MONTHLY_ITEMS:
            v = table[name][sl]
            if name in _COUNTS:
                row[name] = float(v.mean())
            elif name in ("debt_balance", "cash_cumulative", "book_value"):
                row[name] = float(v[-1])  # the balance at the year's end
            else:
                row[name] = float(v.sum())
        rows.append(row)
    return rows


@dataclass(frozen=True)
class FleetResult:
    """The deterministic economics of a fleet. Money in ``currency``; IRRs annual fractions; GPU counts in GPUs.

    ``blocks``: one summary per block (its own finance figures); ``by_year``: the fleet's figures per fleet year;
    ``by_generation``: per generation and fleet year; ``backlog``: backlog coverage from the valuation month.
    ``monthly`` (a DataFrame, one row per calendar month; the CSV) and ``block_monthly`` (one row per block and
    month) are not in :meth:`to_dict`.
    """

    fleet: str
    currency: str
    start: str
    valuation_date: str
    months: int
    gpus: int
    gpus_owned: int
    gpus_leased_in: int
    discount_rate: float
    cost_of_equity: float
    npv: float
    equity_npv: float
    project_irr: float
    project_irr_pre_tax: float
    equity_irr: float
    reasons: dict[str, str]
    blocks: list[dict[str, Any]]
    by_year: list[dict[str, Any]]
    by_generation: list[dict[str, Any]]
    backlog: dict[str, Any]
    assumptions: list[dict]
    definitions: dict[str, str]
    monthly: Any = field(default=None, compare=False)
    block_monthly: Any = field(default=None, compare=False)
    monte_carlo: dict[str, Any] | None = None  # tokensim.fleet_mc.simulate_fleet, when asked (--paths)

    def to_dict(self) -> dict[str, Any]:
        """The result as plain data (JSON-ready), without the monthly tables."""
        out = {k: getattr(self, k) for k in (
            "fleet", "currency", "start", "valuation_date", "months", "gpus", "gpus_owned", "gpus_leased_in",
            "discount_rate", "cost_of_equity", "npv", "equity_npv", "project_irr", "project_irr_pre_tax",
            "equity_irr", "reasons", "blocks", "by_year", "by_generation", "backlog", "assumptions", "definitions")}
        if self.monte_carlo is not None:
            out["monte_carlo"] = self.monte_carlo
        return out


def _run_block(block: FleetBlock) -> tuple[Any, dict[str, Any]]:
    """(monthly schedule frame, summary) of one block through the one engine."""
    s = block.scenario
    if block.ownership == "owned":
        r = run_finance(s, schedule=True)
        summary = {"npv": r.npv, "project_irr": r.project_irr, "equity_irr": r.equity_irr,
                   "min_dscr": r.min_dscr, "debt": r.debt["amount"], "reasons": r.reasons}
        return r.schedule, summary
    inputs = block_finance_inputs(block)
    m = finance_metrics(inputs, Drivers.base(inputs), schedule=True)
    f = m.flows
    summary = {"npv": float(np.asarray(f.npv).reshape(-1)[0]),
               "project_irr": float(np.asarray(m.project_irr).reshape(-1)[0]),
               "equity_irr": float(np.asarray(m.equity_irr).reshape(-1)[0]), "min_dscr": float("nan"), "debt": 0.0,
               "reasons": {"min_dscr": "leased in: no debt"}}
    return schedule_frame(f, s.currency), summary


def run_fleet(fleet: Fleet) -> FleetResult:
    """The deterministic monthly economics of a fleet.

    Parameters
    ----------
    fleet : Fleet
        A loaded fleet (:func:`tokensim.config.fleet.load_fleet`, or a scenario as
        :func:`tokensim.config.fleet.fleet_of_scenario`).

    Returns
    -------
    FleetResult
        Money in the fleet's currency; see :data:`FLEET_DEFINITIONS` for every figure.
    """
    import pandas as pd

    cur = fleet.currency.lower()
    runs = [_run_block(b) for b in fleet.blocks]
    ends = [b.offset_months + len(frame) - 1 for b, (frame, _) in zip(fleet.blocks, runs, strict=True)]
    months = max([fleet.horizon_months, *ends]) + 1
    table = {name: np.zeros(months) for name in MONTHLY_ITEMS}
    long_rows = []
    summaries = []
    for b, (frame, summary) in zip(fleet.blocks, runs, strict=True):
        n = len(frame)
        sl = slice(b.offset_months, b.offset_months + n)

        def col(name: str, frame=frame) -> np.ndarray:
            return frame[name if name in _COUNTS else f"{name}_{cur}"].to_numpy(dtype=float)

        for name in _SUMMED:
            table[name][sl] += col(name)
        table["gpus_online_owned" if b.ownership == "owned" else "gpus_online_leased_in"][sl] += col("gpus_online")
        lease = b.lease_rent_per_gpu_hour * HOURS_PER_MONTH * col("gpus_online")
        table["lease_service"][sl] += lease
        book = np.cumsum(col("capex") - col("depreciation")) if b.ownership == "owned" else np.zeros(n)
        book[-1] = 0.0  # sold with the residual at the block's horizon
        table["book_value"][sl] += book
        months_b = np.arange(b.offset_months, b.offset_months + n)
        long_rows.append(pd.DataFrame({
            "month": months_b, "date": [month_label(month_index(fleet.start) + int(k)) for k in months_b],
            "block": b.name, "generation": b.generation, "ownership": b.ownership,
            "gpus_online": col("gpus_online"), "gpus_rented": col("gpus_rented"),
            "gpus_contracted": col("gpus_contracted"),
            **{f"{k}_{cur}": col(k) for k in ("revenue_contract", "revenue_usage", "revenue_market",
                                              "revenue_renewal", "revenue", "opex", "ebitda", "depreciation",
                                              "debt_service", "cfads", "equity_cf")},
            f"lease_service_{cur}": lease}))
        summaries.append({"block": b.name, "generation": b.generation, "ownership": b.ownership, "gpus": b.gpus,
                          "in_service": b.in_service, "months": n - 1, "capex": float(col("capex").sum()),
                          "lease_rent_per_gpu_hour": b.lease_rent_per_gpu_hour,
                          "lease_term_months": b.lease_term_months, **summary})
    table["revenue_other"] = table["revenue"] - sum(table[k] for k in ("revenue_contract", "revenue_usage",
                                                                      "revenue_market", "revenue_renewal"))
    table["cash_cumulative"] = np.cumsum(table["equity_cf"])
    irrs: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    for name, flows in (("project_irr", table["project_cf"]), ("project_irr_pre_tax", table["project_cf_pre_tax"]),
                        ("equity_irr", table["equity_cf"])):
        monthly, code = irr(flows[None, :], return_reason=True)
        irrs[name] = float(np.asarray(annualise_monthly_rate(monthly)).reshape(-1)[0])
        if int(np.asarray(code).reshape(-1)[0]) != IRR_OK:
            reasons[name] = IRR_REASONS[int(np.asarray(code).reshape(-1)[0])]
    fleet_npv = float(np.asarray(npv(monthly_rate(fleet.discount_rate), table["project_cf"][None, :])).reshape(-1)[0])
    equity_npv = float(np.asarray(npv(monthly_rate(fleet.cost_of_equity), table["equity_cf"][None, :])).reshape(-1)[0])
    first = month_index(fleet.start)
    monthly_frame = pd.DataFrame({"month": np.arange(months), "date": [month_label(first + k) for k in range(months)],
                                  "year": (np.arange(months) + 11) // 12,
                                  **{(k if k in _COUNTS else f"{k}_{cur}"): table[k] for k in MONTHLY_ITEMS}})
    block_monthly = pd.concat(long_rows, ignore_index=True)
    return FleetResult(
        fleet=fleet.name, currency=fleet.currency, start=fleet.start,
        valuation_date=month_label(first + fleet.valuation_month), months=months - 1,
        gpus=sum(b.gpus for b in fleet.blocks), gpus_owned=sum(b.gpus for b in fleet.blocks if b.ownership == "owned"),
        gpus_leased_in=sum(b.gpus for b in fleet.blocks if b.ownership == "leased_in"),
        discount_rate=fleet.discount_rate, cost_of_equity=fleet.cost_of_equity, npv=fleet_npv, equity_npv=equity_npv,
        **irrs, reasons=reasons, blocks=summaries, by_year=_year_rows(table, months, fleet.start),
        by_generation=_by_generation(block_monthly, cur, months, first), backlog=_backlog(table, fleet, months),
        assumptions=[a.to_dict() for a in fleet.assumptions], definitions=dict(FLEET_DEFINITIONS),
        monthly=monthly_frame, block_monthly=block_monthly)


def _by_generation(long: Any, cur: str, months: int, first: int) -> list[dict[str, Any]]:
    """Per generation and fleet year: GPUs, utilisation, revenue and revenue per GPU-hour (FLEET_DEFINITIONS)."""
    rows = []
    year = (long["month"].to_numpy() + 11) // 12
    for gen in dict.fromkeys(long["generation"]):
        for y in range(1, (months - 1) // 12 + 2):
            pick = (long["generation"].to_numpy() == gen) & (year == y) & (long["month"].to_numpy() > 0)
            online = float(long["gpus_online"].to_numpy()[pick].sum())
            if not pick.any() or online == 0:
                continue
            rented = float(long["gpus_rented"].to_numpy()[pick].sum())
            revenue = float(long[f"revenue_{cur}"].to_numpy()[pick].sum())
            n_months = len(set(long["month"].to_numpy()[pick]))
            rows.append({"generation": gen, "year": y, "gpus_online": online / n_months,
                         "utilisation": rented / online, "revenue": revenue,
                         "revenue_contract": float(long[f"revenue_contract_{cur}"].to_numpy()[pick].sum()),
                         "revenue_usage": float(long[f"revenue_usage_{cur}"].to_numpy()[pick].sum()),
                         "revenue_market": float((long[f"revenue_market_{cur}"].to_numpy()[pick]
                                                  + long[f"revenue_renewal_{cur}"].to_numpy()[pick]).sum()),
                         "revenue_per_rented_gpu_hour": revenue / (rented * HOURS_PER_MONTH) if rented else None,
                         "revenue_per_online_gpu_hour": revenue / (online * HOURS_PER_MONTH)})
    return rows


def _backlog(table: dict[str, np.ndarray], fleet: Fleet, months: int) -> dict[str, Any]:
    """Backlog coverage from the valuation month (FLEET_DEFINITIONS["backlog"])."""
    v = fleet.valuation_month
    first = month_index(fleet.start)
    years = []
    for k in range(1, fleet.backlog_years + 1):
        lo, hi = v + 12 * (k - 1) + 1, min(v + 12 * k, months - 1)
        if lo > hi:
            break
        sl = slice(lo, hi + 1)
        contracted, revenue = float(table["revenue_contract"][sl].sum()), float(table["revenue"][sl].sum())
        online, booked = float(table["gpus_online"][sl].sum()), float(table["gpus_contracted"][sl].sum())
        years.append({"year": k, "from": month_label(first + lo), "to": month_label(first + hi),
                      "contracted_revenue": contracted, "revenue": revenue,
                      "revenue_coverage_share": contracted / revenue if revenue else None,
                      "contracted_gpu_hours": booked * HOURS_PER_MONTH, "online_gpu_hours": online * HOURS_PER_MONTH,
                      "capacity_coverage_share": booked / online if online else None})
    return {"valuation_date": month_label(first + v), "years": fleet.backlog_years,
            "backlog_total": float(table["revenue_contract"][v + 1:].sum()), "by_year": years}


def fleet_key_figures(result: FleetResult) -> dict[str, Any]:
    """A fleet's key figures for a side-by-side view (``tokensim fleet A B C``) or a report section (``run --fleet``).

    Parameters
    ----------
    result : FleetResult
        A fleet's economics (:func:`run_fleet`).

    Returns
    -------
    dict
        GPUs (owned and leased in), revenue, usage-linked share, lease service and EBITDA in the first and the peak
        fleet year, NPV and IRRs, the backlog and its coverage of the next year's revenue; money in ``currency``.
    """
    years = result.by_year
    first = years[0] if years else {}
    peak = max(years, key=lambda y: y["revenue"]) if years else {}
    backlog_years = result.backlog.get("by_year") or []
    return {
        "fleet": result.fleet, "currency": result.currency, "gpus": result.gpus, "gpus_owned": result.gpus_owned,
        "gpus_leased_in": result.gpus_leased_in,
        "revenue_year_1": first.get("revenue"), "ebitda_year_1": first.get("ebitda"),
        "lease_service_year_1": first.get("lease_service"),
        "peak_revenue_year": peak.get("year"), "revenue_peak": peak.get("revenue"),
        "ebitda_at_peak": peak.get("ebitda"),
        "usage_revenue_share_at_peak": (peak["revenue_usage"] / peak["revenue"]) if peak.get("revenue") else None,
        "npv": result.npv, "equity_npv": result.equity_npv, "project_irr": result.project_irr,
        "equity_irr": result.equity_irr, "backlog_total": result.backlog.get("backlog_total"),
        "backlog_revenue_coverage_next_year": backlog_years[0]["revenue_coverage_share"] if backlog_years else None,
    }

