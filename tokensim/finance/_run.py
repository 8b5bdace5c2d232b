"""Cluster finance (DESIGN.md section 7): the deterministic result of a cluster's monthly cash flows, returns,
paybacks and debt cover.

:func:`tokensim.resolve.finance.finance_inputs` resolves a scenario into the engine's
:class:`~tokensim.finance.FinanceInputs`, the debt fixed at close by :func:`tokensim.finance.debt_at_close`;
:func:`tokensim.finance.cashflows` is the monthly engine, vectorised over paths; :func:`tokensim.api.run_finance` is
the deterministic case (one path with :meth:`tokensim.finance.Drivers.base`) returned as a :class:`FinanceResult`,
with the break-even rent, a solved rent or a base-rent/usage-fee frontier when asked (``tokensim.finance._solve``).

Every definition (what project and equity cash flows are, how tax, residual and leftover debt are treated, the four
paybacks, DSCR and LLCR) is in :data:`DEFINITIONS`, returned with every result.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .._xp import to_numpy
from ..config.money import fx_factor
from ._cashflows import SCHEDULE_ITEMS, CashFlows

__all__ = ["FinanceResult", "DEFINITIONS", "schedule_frame"]

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
    "project_irr": "monthly IRR of project_cf, annualised (1+r)^12-1; where NPV has several roots, the root nearest "
                   "0 on the side of 0 that NPV at 0 implies (NPV(0) > 0: the lowest root above 0; NPV(0) < 0: the "
                   "highest below 0), where NPV crosses from positive to negative as the rate rises",
    "equity_irr": "monthly IRR of equity_cf, annualised; the same rule where there are several roots",
    "mirr": "modified IRR, annualised: outlays discounted to month 0 at the finance rate, inflows compounded to the "
            "horizon at the reinvestment rate, both the discount rate for project_cf and project_cf_pre_tax and the "
            "cost of equity for equity_cf (monthly equivalents); exists whenever the flows have both signs",
    "irr_roots": "every root of NPV in (-99.9999%, 1e6] a month found on the IRR's scan grid, annualised; listed "
                 "only for flows with several sign changes",
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


def schedule_frame(flows: CashFlows, currency: str, path: int = 0):
    """The monthly schedule of one path as a DataFrame.

    Parameters
    ----------
    flows : CashFlows
        Engine output run with ``schedule=True``.
    currency : str
        The inputs' currency code; money columns carry it in their names (``revenue_usd``).
    path : int, optional
        The path (row) to take.

    Returns
    -------
    pandas.DataFrame
        One row per month 0..M: ``month``, ``year`` and every item of :data:`SCHEDULE_ITEMS` (money in ``currency``,
        ``gpus_online`` in GPUs).
    """
    import pandas as pd

    months = next(iter(flows.schedule.values())).shape[1]
    data: dict[str, Any] = {"month": np.arange(months), "year": (np.arange(months) + 11) // 12}
    suffix = currency.lower()
    for name in SCHEDULE_ITEMS:
        column = name if name == "gpus_online" else f"{name}_{suffix}"
        data[column] = to_numpy(flows.schedule[name][path])
    return pd.DataFrame(data)


@dataclass(frozen=True)
class FinanceResult:
    """The deterministic finance of a scenario: metrics, the reasons for any NaN, and what was assumed.

    Money in ``currency``; IRRs and MIRRs annual fractions; paybacks in years; DSCR and LLCR ratios. ``irr_roots``
    lists every root found (annual) for the IRRs whose flows change sign several times, None when none does.
    ``breakeven_rent_per_gpu_hour`` and ``breakeven_rent`` are None unless the break-even rent was asked for
    (``run_finance(..., breakeven=True)``); ``solution``, ``frontier``, ``payback_rents`` and ``schedule`` likewise.
    """

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
    breakeven_rent_per_gpu_hour: float | None
    breakeven_rent: dict[str, Any] | None
    rent: dict[str, Any]
    debt: dict[str, Any]
    reasons: dict[str, str]
    assumptions: list[dict]
    definitions: dict[str, str]
    project_mirr: float = float("nan")  # MIRR, annual; DEFINITIONS["mirr"] gives the rates
    project_mirr_pre_tax: float = float("nan")
    equity_mirr: float = float("nan")
    irr_roots: dict[str, list[float]] | None = None  # annual roots per IRR whose flows change sign several times
    solution: dict[str, Any] | None = None
    frontier: list[dict] | None = None
    payback_rents: list[dict] | None = None  # the rent each payback definition needs to reach a given payback
    schedule: Any = field(default=None, compare=False)
    warnings: list[dict] = field(default_factory=list)  # plausibility warnings (tokensim._warnings)

    def in_currency(self, currency: str) -> FinanceResult:
        """The same result with every amount converted to ``currency`` (IRRs, ratios and years unchanged).

        Parameters
        ----------
        currency : str
            ISO code of a currency tokensim has a rate for.

        Returns
        -------
        FinanceResult
            Money fields (NPVs, rents, debt amount, schedule columns) converted at tokensim's fixed rates.
        """
        k = fx_factor(self.currency, currency)
        if k == 1.0 and currency.upper() == self.currency:
            return self

        def money(d: Any, keys) -> Any:
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
            breakeven_rent_per_gpu_hour=None if self.breakeven_rent_per_gpu_hour is None
            else self.breakeven_rent_per_gpu_hour * k,
            breakeven_rent=money(self.breakeven_rent, rent_keys), rent=money(self.rent, rent_keys),
            debt=money(self.debt, {"amount"}), solution=money(self.solution, rent_keys),
            frontier=[money(row, rent_keys) for row in self.frontier] if self.frontier else self.frontier,
            payback_rents=[money(row, rent_keys) for row in self.payback_rents] if self.payback_rents
            else self.payback_rents,
            schedule=schedule,
        )

    def to_dict(self) -> dict[str, Any]:
        """The result as plain data (JSON-ready); the optional parts only when computed, the schedule never.

        Returns
        -------
        dict
            The fields in declaration order, units as on the class.
        """
        out = {k: getattr(self, k) for k in (
            "scenario", "currency", "project_irr", "project_irr_pre_tax", "equity_irr", "project_mirr",
            "project_mirr_pre_tax", "equity_mirr", "irr_roots", "npv", "equity_npv",
            "payback_years", "min_dscr", "avg_dscr", "llcr", "covenant_breached", "meets_equity_hurdle",
            "breakeven_rent_per_gpu_hour", "breakeven_rent", "rent", "debt", "reasons", "assumptions",
            "definitions", "warnings") if not (k.startswith(("breakeven", "irr_roots")) and getattr(self, k) is None)}
        if self.solution is not None:
            out["solution"] = self.solution
        if self.frontier is not None:
            out["frontier"] = self.frontier
        if self.payback_rents is not None:
            out["payback_rents"] = self.payback_rents
        return out
