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
               "contracted GPUs stand vacant for the vacancy lag, then sell at market x spot utilisation; after the "
               "term + revenue_renewal",
    "gpus_rented": "schedule: GPUs sold in the month = contracted GPUs while the contract runs or renewed after it + "
                   "the other online GPUs x spot utilisation (all hours); gpus_contracted: contracted GPUs while the "
                   "contract runs (the tenant not in default); used by tokensim fleet's utilisation and backlog",
    "opex_reletting": "one-off, in the month a defaulted tenant's GPUs are re-let (default month + vacancy lag): "
                      "contract.reletting_cost_months_of_rent x their market rent for a month (part of opex)",
    "cfads": "EBITDA - tax paid on operations (levered) - working_capital_change + vat_recovered",
    "project_cf": "unlevered, after tax: EBITDA - tax on (EBITDA - depreciation) - capex + residual sale at the "
                  "horizon (taxed on proceeds - book value) - input VAT paid + VAT recovered - working_capital_change",
    "project_cf_pre_tax": "EBITDA - capex + residual - input VAT paid + VAT recovered - working_capital_change",
    "vat": "tax.vat: input VAT (input_rate x capex) is paid with the capex by the sponsor (not financed; in "
           "equity_contribution) and held as a receivable (vat_receivable_balance); each month the output VAT "
           "(output_rate x revenue; revenue is net of VAT, the tenant pays it on top) is first set against the "
           "receivable (vat_recovered, cash kept: in CFADS), the rest is paid (vat_paid, passed through: no cash "
           "effect) and bears the surtaxes (opex_vat_surtax = surtax_share x vat_paid, an opex, tax-deductible); a "
           "receivable left at the horizon is lost (assumption: no refund of excess input VAT modelled); input VAT "
           "on opex is not modelled (opex taken net of recoverable VAT). PRC: 13% on equipment and on leasing GPU "
           "servers, 6% on IT services (MoF/SAT/GAC Announcement [2019] No. 39), surtaxes 12% of VAT paid",
    "working_capital_change": "rise in receivables (revenue x contract.receivable_days / (365/12)) less rise in "
                              "payables (suppliers' opex, the VAT surtaxes excluded, x opex.payable_days / "
                              "(365/12)) over the month; both balances settle in the horizon month (released); "
                              "reduces CFADS and project_cf when revenue grows; tax is on the accruals",
    "revenue_sla_credit": "rent credit to the tenant each month the contract runs: sla_credit_share x (contract "
                          "rent + usage fees); sla_credit_share = min(contract.sla_credit_per_point_share x "
                          "percentage points of availability below contract.sla_availability_target_share, 1); "
                          "availability = 1 - max(opex.gpu_failure_rate_per_year x opex.repair_days / 365 - "
                          "capex.spare_share, 0) (mean GPUs out of service, less the spares)",
    "revenue_termination": "in the month a tenant defaults within the term: contract.termination_recovery_share x "
                           "min(contract.termination_payment_months_of_rent, months of the term left) x the month's "
                           "contract rent on the contracted GPUs (taxable revenue)",
    "capex_spares_and_fx": "capex by month includes capex.spare_share x the servers' price (spares, paid with each "
                           "delivery) and, for capex.fx.usd_share of the hardware (servers, spares, network) quoted "
                           "in USD, the exchange-rate move capex.fx.rate_change_share between order and delivery; "
                           "the debt is signed on the scenario's capex at the order rate (debt_share x capex), so "
                           "spares and the FX move are paid by the sponsor; the unit-cost layer leaves both out",
    "equity_cf": "EBITDA - tax on (EBITDA - interest - depreciation) - debt service - capex + debt drawn; at the "
                 "horizon + residual - debt still outstanding (repaid from the sale); the waterfall's DSRA, reserve, "
                 "lock-up, sweep and cures move cash between months (see waterfall)",
    "tax": "computed per year (months 1-12, 13-24, ...) and at the horizon; losses carried forward oldest first, "
           "expiring after loss_carry_forward_years; tax.payment annual: paid at each year end; "
           "quarterly_prepayment (PRC EIT Law art. 54): each quarter end tops the year's payments up to rate x "
           "max(year-to-date income - unused carried losses, 0) (no refund mid-year), the year end pays the year's "
           "tax - prepayments (a negative true-up is a refund); payments booked in the quarter- or year-end month",
    "project_irr": "monthly IRR of project_cf, annualised (1+r)^12-1; where NPV has several roots, the root nearest "
                   "0 on the side of 0 that NPV at 0 implies (NPV(0) > 0: the lowest root above 0; NPV(0) < 0: the "
                   "highest below 0), where NPV crosses from positive to negative as the rate rises",
    "equity_irr": "monthly IRR of equity_cf, annualised; the same rule where there are several roots",
    "mirr": "modified IRR, annualised: outlays discounted to month 0 at the finance rate, inflows compounded to the "
            "horizon at the reinvestment rate, both the discount rate for project_cf and project_cf_pre_tax and the "
            "cost of equity for equity_cf (monthly equivalents); exists whenever the flows have both signs",
    "irr_roots": "every root of NPV in (-99.9999%, 1e6] a month found on the IRR's scan grid, annualised; listed "
                 "only for flows with several sign changes",
    "npv": "project_cf discounted at the discount rate (monthly equivalent), month 0 undiscounted; the default "
           "discount rate is the pre-tax WACC (D/V x r_d + E/V x r_e, the rate the cost layer charges on pre-tax unit "
           "costs), although project_cf is after tax: see discounting",
    "discounting": "wacc_after_tax = D/V x r_d x (1 - tax rate) + E/V x r_e (D/V = financing.debt_share), the rate "
                   "consistent with after-tax project_cf; npv_at_wacc_after_tax = project_cf discounted at it. Set "
                   "financing.discount_rate to it to make it the NPV's rate everywhere",
    "payback_simple": "capex / revenue of the first full operating year (static; the sell-side 'gross' payback)",
    "payback_net": "capex / EBITDA of the first full operating year (static)",
    "payback_equity": "sustained equity payback: years from which cumulative equity_cf stays non-negative up to "
                      "the horizon (a temporary crossing, e.g. before an annual payment or a balloon, does not "
                      "count); NaN if negative at the horizon",
    "payback_equity_first_crossing": "textbook equity payback: years until cumulative equity_cf first turns "
                                     "non-negative, even if it dips below zero later; NaN if it never does within "
                                     "the horizon",
    "payback_discounted": "sustained, as payback_equity, for project_cf discounted at the discount rate",
    "waterfall": "monthly cash waterfall: CFADS - senior debt service -> DSRA (drawn first for a shortfall, then "
                 "topped up to dsra_months of the following scheduled service, excess released) -> maintenance "
                 "reserve (released at the horizon) -> lock-up (a loan-year DSCR below lockup_dscr traps the next "
                 "loan year's distributions, released after a test that passes or at the horizon) -> cash sweep "
                 "(cash_sweep_share of the cash left prepays debt while locked up, or always) -> distributions; "
                 "prepayments scale every remaining instalment pro rata; reserve accounts earn no interest",
    "sponsor_injection": "cash the sponsor pays in when CFADS, the DSRA and the lock-up account do not cover the "
                         "debt service (or, at the horizon, the sale does not repay the debt); total and the "
                         "number of months with one; never silent",
    "equity_contribution": "equity paid in for capex (capex - debt drawn, a finance lease's first rental), the "
                           "input VAT on capex and the DSRA funded at close; equity_cf = -equity_contribution + "
                           "distributions - sponsor_injection - equity_cure",
    "equity_cure": "at a loan-year test with DSCR below dscr_covenant, while cures remain (equity_cure_max_count): "
                   "the sponsor pays covenant x the year's service - the year's CFADS, which prepays the debt",
    "first_loan_default_month": "first month of a loan default event: a payment shortfall (a sponsor injection "
                                "while debt service is due), a loan-year DSCR below dscr_covenant not cured, or a "
                                "DSRA drawn and not back at target within dsra_restore_months; null if none. Under "
                                "non-recourse debt the lender could enforce from then; the model runs on with the "
                                "sponsor's support",
    "dscr": "per loan year (months 1-12, 13-24, ...): sum CFADS / sum scheduled debt service, balloon and bullet "
            "repayments excluded; min and average over years with debt service",
    "llcr": "PV of CFADS from the end of deliveries to maturity (within the horizon) at the debt rate / debt "
            "outstanding at the end of deliveries",
    "interest": "annual nominal rate / 12 accrued monthly, paid on payment months; floating = base + margin, the "
                "principal schedule fixed at close; interest during construction (the deliveries) is paid on its "
                "payment months from the project's cash, not capitalised; the debt is drawn with the capex it funds",
    "horizon": "the scenario's horizon, run to the debt's maturity where that is later (an assumption row says "
               "so): after the contract's term the GPUs sell at the market rent x spot utilisation, except the "
               "share renewed (revenue_renewal); with a refinanced balloon, to the tail's end (refinancing)",
    "debt_sizing": "the debt is the lesser of the maximum gearing (financing.debt_share x capex) and the debt whose "
                   "lowest loan-year DSCR on the sizing case equals the target (financing.sizing_dscr; target_dscr "
                   "for sculpted debt, which sculpts on that case); the sizing case is the base case (P50) with "
                   "every revenue price cut by financing.sizing_revenue_haircut_share (P90 proxy); DSCR as in "
                   "'dscr' (balloon and bullet repayments left out: such debt is sized on interest and level "
                   "payments); 'binding' names the smaller limit; without a sizing DSCR, the debt the DSCR covenant "
                   "would allow, for information (applied: false)",
    "financing_fees": "paid by the sponsor (in equity_contribution and equity_cf), not debt service (no DSCR or "
                      "LLCR effect), not deducted for tax (assumption): the upfront fee (financing.upfront_fee_share "
                      "x the debt) and a finance lease's handling fee and security deposit at close, the deposit "
                      "refunded at maturity without interest; the commitment fee (commitment_fee_per_year / 12 x the "
                      "amount undrawn at the start of the month) during staged draws. financing.hedged_share of a "
                      "floating loan is swapped to fixed at close at the base rate at close (no swap spread): it "
                      "pays the base at close, so only the unhedged share floats on a Monte Carlo path",
    "npv_zero_rent": "the contract rent (market rent for spot) at which project NPV = 0",
    "revenue_renewal": "after the contract's term (tenant not in default): contract.renewal_share of the contracted "
                       "GPUs renewed at the month's market rent x (1 - contract.renewal_rent_haircut_share), paid "
                       "every hour (no spot utilisation); the lessor pays their power and space; the rest sells at "
                       "market x spot utilisation",
    "refinancing": "financing.refinancing_tenor_years > 0: the balloon (or bullet) due at maturity T is refinanced at "
                   "financing.refinancing_rate as a level annuity over the tail (payments_per_year a year, in arrears "
                   "from T + one period; interest at the refinancing rate from month T+1); the tail's service is "
                   "scheduled service, so its loan-year DSCRs are the refinancing DSCRs, and the horizon runs to the "
                   "tail's end (debt sizing to a DSCR counts the tail's years too). Tail 0: the balloon is repaid "
                   "at T from cash, reserves and the sponsor",
    "cover_by_year": "LLCR_t = PV at month t of CFADS of months t+1..maturity / debt outstanding after month t; "
                     "PLCR_t = the same PV of CFADS of months t+1..the horizon (the project's life in the model; "
                     "residual left out) / that debt; discounted month by month at the debt's rate / 12 (the "
                     "refinancing rate after a refinanced balloon); at the end of deliveries (= llcr) and each "
                     "loan-year end (month 12k) while debt is outstanding; deterministic case only",
    "balloon": "the lump due at the balloon date (balloon share or bullet at maturity; a finance lease's purchase "
               "option): its month, amount, whether refinanced, and LLCR/PLCR of the CFADS after it over the "
               "balloon (NaN when the horizon ends at the balloon date)",
    "lender_case": "the same loan with the residual sale at zero and at (1 - "
                   "financing.lender_case_residual_haircut_share) x the base case's (a P90 proxy, assumption); DSCR "
                   "and LLCR never count the residual, NPV, equity NPV, sponsor support and the first loan default "
                   "do; tokensim run adds the case at the Monte Carlo residual's 10th percentile "
                   "(monte_carlo.lender_case_p10_residual)",
}


_LENDER_MONEY = {"debt_outstanding", "amount", "residual_proceeds", "npv", "equity_npv", "sponsor_injection"}


def _lender_in(lender: dict[str, Any] | None, k: float) -> dict[str, Any] | None:
    """The lender block with its money (_LENDER_MONEY, at any depth) times k."""
    if lender is None:
        return None

    def walk(v: Any, key: str = "") -> Any:
        if isinstance(v, dict):
            return {name: walk(x, name) for name, x in v.items()}
        if isinstance(v, list):
            return [walk(x, key) for x in v]
        return v * k if key in _LENDER_MONEY and isinstance(v, (int, float)) and not isinstance(v, bool) else v

    return walk(lender)


# Schedule items that are not money: GPUs, and 0/1 flags.
_NOT_MONEY = ("gpus_online", "gpus_rented", "gpus_contracted", "lockup_active", "loan_default_event")


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
        ``gpus_online``, ``gpus_rented`` and ``gpus_contracted`` in GPUs, ``lockup_active`` and
        ``loan_default_event`` 0/1).
    """
    import pandas as pd

    months = next(iter(flows.schedule.values())).shape[1]
    data: dict[str, Any] = {"month": np.arange(months), "year": (np.arange(months) + 11) // 12}
    suffix = currency.lower()
    for name in SCHEDULE_ITEMS:
        column = name if name in _NOT_MONEY else f"{name}_{suffix}"
        data[column] = to_numpy(flows.schedule[name][path])
    return pd.DataFrame(data)


@dataclass(frozen=True)
class FinanceResult:
    """The deterministic finance of a scenario: metrics, the reasons for any NaN, and what was assumed.

    Money in ``currency``; IRRs and MIRRs annual fractions; paybacks in years; DSCR and LLCR ratios. ``irr_roots``
    lists every root found (annual) for the IRRs whose flows change sign several times, None when none does.
    ``npv_zero_rent_per_gpu_hour`` and ``npv_zero_rent`` are None unless the NPV = 0 rent was asked for
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
    npv_zero_rent_per_gpu_hour: float | None
    npv_zero_rent: dict[str, Any] | None
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
    sizing: dict[str, Any] | None = None  # DEFINITIONS["debt_sizing"]; None without debt or any DSCR to size to
    waterfall: dict[str, Any] | None = None  # DEFINITIONS["waterfall"]: injections, cures, loan default, DSCR by year
    discounting: dict[str, Any] | None = None  # DEFINITIONS["discounting"]
    lender: dict[str, Any] | None = None  # DEFINITIONS["cover_by_year"], ["balloon"], ["lender_case"]
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
            npv_zero_rent_per_gpu_hour=None if self.npv_zero_rent_per_gpu_hour is None
            else self.npv_zero_rent_per_gpu_hour * k,
            npv_zero_rent=money(self.npv_zero_rent, rent_keys), rent=money(self.rent, rent_keys),
            debt=money(self.debt, {"amount"}), solution=money(self.solution, rent_keys),
            sizing=money(self.sizing, {"gearing_limit_amount", "dscr_limit_amount", "sized_amount"}),
            waterfall=money(self.waterfall, {"sponsor_injection", "equity_cure", "dsra_at_close"}),
            discounting=money(self.discounting, {"npv_at_discount_rate", "npv_at_wacc_after_tax"}),
            lender=_lender_in(self.lender, k),
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
            "npv_zero_rent_per_gpu_hour", "npv_zero_rent", "rent", "debt", "reasons", "assumptions",
            "definitions", "warnings")
            if not (k.startswith(("npv_zero_rent", "irr_roots")) and getattr(self, k) is None)}
        if self.solution is not None:
            out["solution"] = self.solution
        if self.frontier is not None:
            out["frontier"] = self.frontier
        if self.payback_rents is not None:
            out["payback_rents"] = self.payback_rents
        if self.sizing is not None:
            out["sizing"] = self.sizing
        for key in ("waterfall", "discounting", "lender"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out
