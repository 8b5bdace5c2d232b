"""The monthly cash-flow engine of a cluster: one loop over months, arithmetic vectorised over paths.

:func:`cashflows` is the single home of the cash-flow model. Deterministic finance runs it with one path and the base
drivers (:meth:`Drivers.base`); the Monte Carlo runs it with many paths and stochastic drivers; the solvers run it with
one path per candidate rent. Every quantity inside the month loop is a scalar or an array of shape (paths,), so a
CUDA kernel with one thread per path and the month state in registers mirrors it line by line. The outputs kept for
every path are the project and equity cash-flow rows (for the IRRs) and running metrics; per-month line items are
kept only when ``schedule=True`` (one path or a few).

Timeline: month 0 is financial close; months 1..M are operating months (M = horizon × 12); driver arrays have shape
(paths, M) and column j belongs to month j + 1. Capacity delivered in month m earns from month m + 1.

Definitions (also returned as :data:`tokensim.finance.DEFINITIONS`):

- revenue: contracted GPUs online × rent per GPU-month × (1 + escalator)^(contract year − 1) while the contract
  runs (month ≤ term and before the tenant's default) + usage fees on contracted GPUs (base_plus_usage) + the other
  GPUs online × market rent × spot utilisation. After a default the contracted GPUs stand vacant for the vacancy
  lag (earning nothing, powered idle) and then sell at market × spot utilisation like uncontracted ones; after the
  term they sell at market, except the renewed ones.
- revenue_renewal: after the term (month > term, the tenant not in default), ``renewal_share`` of the contracted
  GPUs are renewed by the tenant at the month's market price × (1 − ``renewal_rent_haircut_share``), paid for every
  hour (a contract, not spot: no utilisation factor); the lessor pays their power and space at the rented draw (a
  renewal prices at the market rent, which includes them). The rest sells at market × spot utilisation.
- opex: power (idle draw on every GPU the lessor powers, rented draw on the rented ones; a lessee paying power and
  space does so for the contracted GPUs while the contract runs), facility, maintenance, operations, insurance,
  and re-letting: once, in the month a defaulted tenant's GPUs are re-let (default month + vacancy lag),
  ``reletting_cost_months_of_rent`` × those GPUs' market rent for a month (at the month's market price, before
  utilisation: brokerage, sales effort, re-imaging), charged even when the term would have ended soon after.
- revenue_termination: in the month a tenant defaults within the term, ``termination_recovery_share`` ×
  min(``termination_payment_months_of_rent``, months of the term left) × the month's contract rent on the
  contracted GPUs (part of revenue, taxable). revenue_sla_credit: ``sla_credit_share`` × (contract rent + usage fees)
  in every month the contract runs, deducted from revenue (:mod:`tokensim.finance._availability`: the share from the
  availability target, the credit per point, and availability from the failure rate, repair days and spares).
- VAT (``vat_*``; :data:`tokensim.finance.DEFINITIONS` ``vat``): input VAT = ``vat_input_rate`` × capex, paid
  with the capex by the sponsor (not financed), held as a receivable; each month the output VAT
  ``vat_output_rate`` × revenue (revenue is net of VAT) is set first against the receivable (``vat_recovered``:
  cash kept, in CFADS), the rest is paid (``vat_paid``: collected from the tenant and passed on, no cash effect)
  and bears ``opex_vat_surtax`` = ``vat_surtax_share`` × ``vat_paid`` (an opex). A receivable left at the horizon
  is lost (assumption).
- working capital: receivables = revenue × ``receivable_days`` / (365/12), payables = opex before surtaxes ×
  ``payable_days`` / (365/12), at each month end; both are settled in the horizon month.
  ``working_capital_change`` = Δ receivables − Δ payables reduces CFADS and the project cash flow; tax is on the
  accruals.
- EBITDA = revenue − opex. Tax: for each year (months 1–12, 13–24, …) on EBITDA − interest accrued − depreciation
  (levered) or EBITDA − depreciation (unlevered), after losses carried forward (oldest first, expiring after
  ``loss_carry_forward_years``); the sale at the horizon is taxed on proceeds − book value. ``tax_payment``
  ``annual``: the year's tax is paid at its year end (and at the horizon). ``quarterly_prepayment`` (PRC EIT Law
  art. 54: provisional quarterly returns, annual reconciliation): at each quarter end that is not a year end the
  tax paid so far this year is topped up to rate × max(year-to-date income − unused carried losses, 0) (never a
  refund mid-year); the year end pays the year's tax − prepayments (a true-up, negative = a refund). The law allows
  15 days after a quarter and 5 months after the year to file and pay; both are booked in the quarter- or year-end
  month (assumption).
- CFADS = EBITDA − tax paid on operations (the tax on the sale gain goes with the sale proceeds) −
  working_capital_change + vat_recovered.
- project cash flow (unlevered, after tax) = EBITDA − unlevered tax − capex + residual at the horizon − input VAT
  + vat_recovered − working_capital_change; ``project_cf_pre_tax`` drops the tax.
- equity cash flow = CFADS − debt service − capex − input VAT + debt drawn + at the horizon (residual − debt
  still outstanding − interest accrued and unpaid): the sponsor repays leftover debt from the sale.
- DSCR per loan year (months 1–12, 13–24, …, the last possibly partial) = Σ CFADS / Σ scheduled debt service, over
  years with debt service; balloon and bullet repayments are left out of the service (they are refinanced or paid
  from the residual; LLCR covers them). LLCR = PV of CFADS from the end of deliveries to maturity (within the
  horizon), at the debt's interest rate, ÷ debt outstanding at the end of deliveries. After a refinanced balloon's
  month (``debt.refinanced_month``) interest accrues at ``debt.refinancing_rate`` (tokensim.finance._debt), and the
  tail's level service is scheduled service (its DSCR is the refinancing DSCR).
- cover ratios over time (:func:`tokensim.finance.cover_ratios`, deterministic finance): at each loan-year end t
  (month 12k, while debt is outstanding) LLCR_t = PV at month t of CFADS of months t+1 .. maturity ÷ debt
  outstanding after month t, and PLCR_t = the same PV of CFADS of months t+1 .. the horizon (the project's life
  in the model; the residual left out) ÷ that debt; discounted month by month at the debt's rate of each month / 12
  (the refinancing rate after a refinanced balloon). At the balloon date T (the month a balloon falls due): the
  balloon (before it is repaid or refinanced) and LLCR_T, PLCR_T of the CFADS after T over the balloon (NaN when
  the horizon ends at T).
- payback: ``simple`` = capex ÷ revenue of the first full operating year; ``net`` = capex ÷ EBITDA of that year
  (both static ratios, as quoted by sell-side analysts, not limited to the horizon); ``equity`` (sustained) = from
  when cumulative equity cash flow stays non-negative to the horizon; ``equity_first_crossing`` = when it first
  turns non-negative (the textbook payback; equal to the sustained one unless it dips below zero again);
  ``discounted`` (sustained) = the same for cumulative project cash flow discounted at the discount rate (all
  within the horizon, interpolated within the month, residual counted when received; NaN if never).
- discounting: ``npv`` discounts the after-tax project cash flow at ``discount_rate``, whose default is the pre-tax
  WACC (D/V × r_d + E/V × r_e; the rate the cost layer charges for capital on pre-tax unit costs). The consistent
  rate for after-tax flows is the after-tax WACC, D/V × r_d × (1 − tax rate) + E/V × r_e, reported with the NPV at
  it (``wacc_after_tax``, ``npv_at_wacc_after_tax``) by :func:`tokensim.run_finance`.

Cash waterfall (monthly, per path; DESIGN.md section 12). Operating cash = CFADS − scheduled senior debt service
(at the horizon also + sale proceeds − tax on the sale − debt still outstanding − interest accrued). Then, in order:

1. DSRA (debt service reserve account): a shortfall is drawn from the DSRA, then from the lock-up account; what
   remains is a ``sponsor_injection`` (the sponsor funds it; never silent). A shortfall while debt service is due
   is a payment default.
2. The DSRA is topped up from cash to its target = ``dsra_months`` months of the scheduled service that follows
   (principal + interest at the rate at close on the scheduled balance; balloons and bullets excluded; scaled by
   any prepayment), and anything above the target is released to cash (all of it at maturity). ``dsra_funding``
   ``at_close``: the first target is paid in by the sponsor at close (``equity_contribution``); ``from_cash``: built
   from cash. A DSRA drawn and not back at its target within ``dsra_restore_months`` months is a default event.
3. Maintenance reserve: ``maintenance_reserve_per_gpu_hour`` × GPU-hours online from the cash left (as far as it
   goes); the engine has no replacement capex, so the reserve is released at the horizon. Reserve accounts earn no
   interest (assumption).
4. Lock-up: the DSCR test at each loan-year end (the loan-year DSCR) below ``lockup_dscr`` locks distributions for
   the next loan year: the cash goes to the lock-up account and is released with the first distribution after a
   test that passes (or at the horizon).
5. Cash sweep: ``cash_sweep_share`` of the cash left prepays principal, while locked up (``cash_sweep_when``
   ``lock_up``) or every month (``always``). Prepayments (and equity cures) reduce every remaining scheduled
   instalment pro rata (the principal schedule is scaled by actual ÷ scheduled balance); interest follows the
   actual balance.
6. Distributions: the rest goes to equity.

At each loan-year test a DSCR below ``dscr_covenant`` is cured by the sponsor while cures remain
(``equity_cure_max_count``): the cure = covenant × the year's service − the year's CFADS, applied to prepay the
debt (``equity_cure``); otherwise it is a loan default event. ``first_loan_default_month`` is the first month of a
loan default event (payment shortfall, uncured covenant breach, DSRA not restored; NaN if none; the borrower's
default under non-recourse debt, not the tenant's); the model does not enforce it: cash flows run on with the
sponsor funding every shortfall, and ``sponsor_injection`` sums that support. Identity:
equity cash flow = − equity_contribution + distributions − sponsor_injection − equity_cure; equity_contribution
includes the input VAT on capex and the ``financing_fees`` the sponsor pays (:func:`tokensim.finance.financing_fees`;
refunds negative).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._irr import annualise_monthly_rate, irr
from .._units import HOURS_PER_MONTH, monthly_rate
from ..cost import TOKENS_PER_MILLION
from ._debt import DebtSchedule

__all__ = ["FinanceInputs", "Drivers", "CashFlows", "Metrics", "cashflows", "finance_metrics", "SCHEDULE_ITEMS",
           "LOAN_DEFAULT_REASONS", "dsra_target_by_month"]

# first_loan_default_reason codes (the first that applies in the month of the first default event).
DAYS_PER_MONTH = 365.0 / 12.0  # receivable and payable days per month (working capital)

LOAN_DEFAULT_REASONS = {0: "none", 1: "payment shortfall (debt service not met from cash and reserves)",
                        2: "loan-year DSCR below the covenant, not cured", 3: "DSRA drawn and not restored in time"}

SCHEDULE_ITEMS = (
    "gpus_online", "gpus_rented", "gpus_contracted", "revenue_contract", "revenue_usage", "revenue_market",
    "revenue_renewal", "revenue", "opex_power",
    "opex_facility",
    "opex_maintenance", "opex_operations", "opex_insurance", "opex_reletting", "opex", "ebitda", "depreciation",
    "capex", "debt_drawn", "interest_paid", "principal_paid", "debt_service", "debt_balance", "tax_levered",
    "tax_unlevered", "cfads", "residual_proceeds", "project_cf", "project_cf_pre_tax", "equity_cf",
    "equity_contribution", "dsra_draw", "dsra_net_deposit", "dsra_balance", "maintenance_reserve_deposit",
    "maintenance_reserve_release", "maintenance_reserve_balance", "cash_sweep", "lockup_active", "lockup_net_deposit",
    "lockup_balance", "equity_cure", "sponsor_injection", "distributions", "loan_default_event", "financing_fees",
    "revenue_termination", "revenue_sla_credit", "opex_vat_surtax", "vat_input_paid", "vat_output", "vat_recovered",
    "vat_paid", "vat_receivable_balance", "working_capital_change", "receivables_balance", "payables_balance",
)


@dataclass(frozen=True)
class FinanceInputs:
    """Everything the engine needs, resolved from a scenario; money in ``currency``. Fields typed ``Any`` may be
    floats or arrays of shape (paths,) (the solvers vary the rent across paths). :mod:`tokensim.sensitivity` stacks
    one scenario per path: every numeric field may then be (paths,), capex and depreciation by month (paths, M+1);
    the timeline, contract term, debt calendar and method fields stay shared."""

    currency: str
    months: int
    gpus: float
    gpus_per_server: int
    capex_total: float
    capex_by_month: np.ndarray  # (M+1,)
    online_share: np.ndarray  # (M+1,) share of the cluster earning in month m
    ops_start_month: int  # first month with every GPU online
    depreciation_by_month: np.ndarray  # (M+1,)
    book_value_at_horizon: float
    contract_type: str
    term_months: int
    contracted_share: float
    rent_per_gpu_month: Any  # contract (base) rent per contracted GPU-month in the first contract year
    escalator_per_year: float
    usage_fee_per_million_tokens: Any
    usage_tokens_per_gpu_hour: float
    usage_busy_share: float
    usage_floor_per_gpu_hour: float
    usage_cap_per_gpu_hour: float  # inf when uncapped
    market_rent_per_gpu_hour: Any
    market_rent_change_per_year: float
    spot_utilisation: float
    vacancy_lag_months: int
    lessee_pays_power_and_facility: bool
    power_busy_per_gpu_hour: float  # lessor's power cost of a rented GPU-hour at base electricity price
    power_idle_per_gpu_hour: float
    facility_per_gpu_hour: float
    maintenance_per_gpu_hour: float
    operations_per_gpu_hour: float
    insurance_per_gpu_hour: float
    debt: DebtSchedule
    rate_type: str  # fixed | floating
    fixed_rate: float  # all-in annual rate for fixed debt
    floating_margin: float
    floating_base_rate: float  # base case
    tax_rate: float
    loss_carry_forward_years: int  # 0 = unlimited
    residual_method: str  # percent_of_cost | economic
    residual_percent_value: float  # percent method: value at the horizon (moves with the market rent)
    residual_pv_revenue_per_gpu: float  # economic method parts (see tokensim.finance._residual)
    residual_pv_power_per_gpu: float
    residual_pv_other_per_gpu: float
    discount_rate: float  # annual, for NPV and discounted payback
    cost_of_equity: float  # annual, for equity NPV
    dscr_covenant: float  # NaN when none
    reletting_cost_months_of_rent: Any = 0.0  # one-off at re-letting after a default, in months of the market rent
    # Cash waterfall and tax timing (module docstring); the defaults switch every mechanism off.
    tax_payment: str = "annual"  # annual | quarterly_prepayment
    dsra_months: int = 0  # DSRA target in months of the following scheduled debt service (0 = no DSRA)
    dsra_funding: str = "at_close"  # at_close | from_cash
    dsra_restore_months: int = 6  # a drawn DSRA not back at target within this many months is a default event
    maintenance_reserve_per_gpu_hour: float = 0.0
    lockup_dscr: float = float("nan")  # loan-year DSCR below it locks distributions for the next year; NaN = none
    cash_sweep_share: float = 0.0  # share of the cash left that prepays principal
    cash_sweep_when: str = "lock_up"  # lock_up | always
    equity_cure_max_count: int = 0  # cures the sponsor may make over the loan's life
    # China tax, working capital, availability and credit terms (issue 13 Build 4 and 5; module docstring); the
    # defaults switch each off.
    vat_input_rate: Any = 0.0  # VAT on capex, paid with it (a receivable)
    vat_output_rate: Any = 0.0  # VAT on revenue, net of the receivable while it lasts
    vat_surtax_share: Any = 0.0  # surtaxes as a share of the VAT paid (an opex)
    receivable_days: Any = 0.0  # days from revenue to its collection
    payable_days: Any = 0.0  # days from an opex charge to its payment
    sla_credit_share: Any = 0.0  # share of contract revenue credited to the tenant (tokensim.finance.sla_credit_share)
    termination_payment_months_of_rent: Any = 0.0  # paid by a defaulting tenant, at most the term left
    termination_recovery_share: Any = 1.0  # share of the termination payment recovered
    # Renewal after the term (module docstring); the defaults keep every GPU at market x spot utilisation.
    renewal_share: Any = 0.0  # share of the contracted GPUs the tenant renews after the term
    renewal_rent_haircut_share: Any = 0.0  # renewal rent = market rent x (1 - haircut)


@dataclass(frozen=True)
class Drivers:
    """Per-path, per-month drivers (shape (paths, M)) and the tenant's default month per path (shape (paths,);
    ``M`` = never). Multipliers are relative to the scenario's base values; rates and utilisation are absolute."""

    market_rent_multiplier: Any
    spot_utilisation: Any
    token_volume_multiplier: Any
    token_price_multiplier: Any
    efficiency_multiplier: Any
    power_price_multiplier: Any
    floating_base_rate: Any  # annual
    tenant_default_month: Any  # int, 0-based operating-month index; M = never

    @property
    def paths(self) -> int:
        return int(self.market_rent_multiplier.shape[0])

    @classmethod
    def base(cls, inputs: FinanceInputs, paths: int = 1, xp=np) -> Drivers:
        """The deterministic drivers: every multiplier 1, base spot utilisation and base rate, no default."""
        shape = (paths, inputs.months)
        ones = xp.ones(shape)
        return cls(
            market_rent_multiplier=ones, spot_utilisation=xp.full(shape, float(inputs.spot_utilisation)),
            token_volume_multiplier=ones, token_price_multiplier=ones, efficiency_multiplier=ones,
            power_price_multiplier=ones, floating_base_rate=xp.full(shape, float(inputs.floating_base_rate)),
            tenant_default_month=xp.full(paths, inputs.months, dtype=xp.int64),
        )


@dataclass
class CashFlows:
    """Engine output: cash-flow rows (paths, M+1) and per-path running metrics; ``schedule`` when asked."""

    project_cf: Any
    project_cf_pre_tax: Any
    equity_cf: Any
    npv: Any
    equity_npv: Any
    payback_simple: Any
    payback_net: Any
    payback_equity: Any
    payback_discounted: Any
    min_dscr: Any
    avg_dscr: Any
    llcr: Any
    covenant_breached: Any
    schedule: dict[str, Any] = field(default_factory=dict)
    dscr_by_year: Any = None  # (paths, loan years): DSCR of each 12-month window, NaN where no debt service
    payback_equity_first_crossing: Any = None  # years when cumulative equity cash flow first turns non-negative
    sponsor_injection: Any = None  # total sponsor injections over the horizon (money)
    sponsor_injection_months: Any = None  # months with an injection
    equity_cure: Any = None  # total equity cures (money)
    equity_cure_count: Any = None
    first_loan_default_month: Any = None  # month of the first default event, NaN if none
    first_loan_default_reason: Any = None  # LOAN_DEFAULT_REASONS code (0 = none)


@dataclass
class Metrics:
    """Per-path metrics: annual IRRs with reason codes (see ``tokensim._irr.IRR_REASONS``), NPVs, paybacks (years),
    DSCR/LLCR and the covenant flag, plus the engine's :class:`CashFlows`."""

    project_irr: Any
    project_irr_reason: Any
    project_irr_pre_tax: Any
    project_irr_pre_tax_reason: Any
    equity_irr: Any
    equity_irr_reason: Any
    flows: CashFlows


def _settle_tax(pool, income, rate, expire: bool, xp):
    """Tax on one year's income after using carried-forward losses (oldest first); updates ``pool`` in place.

    ``pool`` (paths, V) holds unused losses by vintage, oldest first; with ``expire`` the oldest vintage drops out
    after this year and this year's loss enters last, else all losses sit in one slot without expiry.
    """
    remaining = income
    for v in range(pool.shape[1]):
        use = xp.minimum(pool[:, v], xp.maximum(remaining, 0.0))
        pool[:, v] -= use
        remaining = remaining - use
    new_loss = xp.maximum(-income, 0.0)
    if expire:
        pool[:, :-1] = pool[:, 1:].copy()
        pool[:, -1] = new_loss
    else:
        pool[:, 0] += new_loss
    return rate * xp.maximum(remaining, 0.0)


def _payback_update(payback, previous, current, flow, month, xp):
    """Track the fractional year from which a cumulative sum stays non-negative: set when it turns non-negative
    during ``month`` (interpolated within the month), cleared whenever it is negative again."""
    crossed = (previous < 0) & (current >= 0)
    fraction = xp.where(crossed, -previous / xp.where(flow != 0, flow, 1.0), 0.0)
    payback = xp.where(crossed, (month - 1 + fraction) / 12.0, payback)
    return xp.where(current < 0, xp.nan, payback)


def _first_crossing(payback, previous, current, flow, month, xp):
    """The fractional year when a cumulative sum first turns non-negative (interpolated within the month); kept once
    set."""
    crossed = xp.isnan(payback) & (previous < 0) & (current >= 0)
    fraction = xp.where(crossed, -previous / xp.where(flow != 0, flow, 1.0), 0.0)
    return xp.where(crossed, (month - 1 + fraction) / 12.0, payback)


def dsra_target_by_month(inputs: FinanceInputs) -> np.ndarray:
    """The DSRA target at the end of each month, (R, M+1) for the R rows of the debt schedule: the scheduled debt
    service of the next ``dsra_months`` months (principal without balloon or bullet, plus interest on the scheduled
    balance at the rate at close, paid on payment months); zeros when ``dsra_months`` is 0."""
    fi = inputs
    debt = fi.debt
    M = fi.months
    draws = np.atleast_2d(np.asarray(debt.draws, dtype=float))
    due = np.atleast_2d(np.asarray(debt.principal, dtype=float))
    lump = np.atleast_2d(np.asarray(debt.lump, dtype=float))
    rate = fi.fixed_rate if fi.rate_type == "fixed" else np.asarray(fi.floating_base_rate) + fi.floating_margin
    rate = np.asarray(rate, dtype=float).reshape(-1)
    rows = max(draws.shape[0], due.shape[0], rate.size)
    n = int(fi.dsra_months)
    if n <= 0:
        return np.zeros((rows, M + 1))
    balance = np.zeros(rows) + draws[:, 0] - due[:, 0]
    accrued = np.zeros(rows)
    service = np.zeros((rows, M + 1))
    pay_month = np.asarray(debt.payment_month)
    refinanced_month = debt.refinanced_month if debt.refinanced_month >= 0 else M + 1
    for m in range(1, M + 1):
        accrued = accrued + balance * (debt.refinancing_rate if m > refinanced_month else rate) / 12.0
        paid = accrued if pay_month[m] else 0.0
        if pay_month[m]:
            accrued = np.zeros(rows)
        balance = balance + draws[:, m] - due[:, m]
        service[:, m] = paid + due[:, m] - lump[:, m]
    total = np.concatenate([np.zeros((rows, 1)), np.cumsum(service[:, 1:], axis=1)], axis=1)
    ahead = np.minimum(np.arange(M + 1) + n, M)
    return total[:, ahead] - total


def cashflows(inputs: FinanceInputs, drivers: Drivers, xp=np, *, schedule: bool = False) -> CashFlows:
    """Run the monthly model for every path of ``drivers``; see the module docstring for every definition."""
    fi = inputs
    M = fi.months
    P = drivers.paths
    f64 = xp.float64
    debt = fi.debt
    draws = xp.asarray(debt.draws, dtype=f64)
    due = xp.asarray(debt.principal, dtype=f64)
    lump = xp.asarray(debt.lump, dtype=f64)
    fees = xp.zeros_like(draws) if debt.fees is None else xp.asarray(debt.fees, dtype=f64)  # financing_fees
    pay_month = np.asarray(debt.payment_month)
    # Capex and depreciation are (M+1,) or, when they differ by path (tokensim.sensitivity), (paths, M+1): month
    # first, so capex_m[m] is a scalar or a (paths,) row.
    capex_m = np.asarray(fi.capex_by_month, dtype=float).T
    online = np.asarray(fi.online_share, dtype=float)
    dep_m = np.asarray(fi.depreciation_by_month, dtype=float).T
    rent = xp.asarray(fi.rent_per_gpu_month, dtype=f64)
    fee = xp.asarray(fi.usage_fee_per_million_tokens, dtype=f64)
    market_rent = xp.asarray(fi.market_rent_per_gpu_hour, dtype=f64)
    default_month = xp.asarray(drivers.tenant_default_month)
    zeros = xp.zeros(P, dtype=f64)

    project = xp.zeros((P, M + 1), dtype=f64)
    project_pre = xp.zeros((P, M + 1), dtype=f64)
    equity = xp.zeros((P, M + 1), dtype=f64)
    rec = {name: xp.zeros((P, M + 1), dtype=f64) for name in SCHEDULE_ITEMS} if schedule else {}

    # Month 0: capex at close, the first draw, and a finance lease's first rental (paid in advance); the sponsor pays
    # in the first DSRA target when the DSRA is funded at close, and the input VAT on the capex (not financed).
    dsra_target = xp.asarray(dsra_target_by_month(fi), dtype=f64)
    balance = zeros + draws[:, 0] - due[:, 0]
    scheduled_balance = balance.copy()
    dsra = zeros + (dsra_target[:, 0] if fi.dsra_funding == "at_close" else 0.0)
    vat_receivable = zeros + fi.vat_input_rate * capex_m[0]
    project[:, 0] = -capex_m[0] - vat_receivable
    project_pre[:, 0] = -capex_m[0] - vat_receivable
    equity[:, 0] = -capex_m[0] - vat_receivable + draws[:, 0] - due[:, 0] - dsra - fees[:, 0]
    if schedule:
        for name, value in (("capex", capex_m[0]), ("debt_drawn", draws[:, 0]), ("principal_paid", due[:, 0]),
                            ("debt_service", due[:, 0]), ("debt_balance", balance),
                            ("project_cf", project[:, 0]), ("project_cf_pre_tax", project_pre[:, 0]),
                            ("equity_cf", equity[:, 0]), ("equity_contribution", -equity[:, 0]),
                            ("dsra_net_deposit", dsra), ("dsra_balance", dsra), ("financing_fees", fees[:, 0]),
                            ("vat_input_paid", vat_receivable), ("vat_receivable_balance", vat_receivable)):
            rec[name][:, 0] = value

    accrued = zeros.copy()
    vintages = fi.loss_carry_forward_years if fi.loss_carry_forward_years > 0 else 1
    expire = fi.loss_carry_forward_years > 0
    pool_lev = xp.zeros((P, vintages), dtype=f64)
    pool_unlev = xp.zeros((P, vintages), dtype=f64)
    income_lev = zeros.copy()
    income_unlev = zeros.copy()
    v_project = 1.0 / (1.0 + monthly_rate(fi.discount_rate))
    v_equity = 1.0 / (1.0 + monthly_rate(fi.cost_of_equity))
    npv = project[:, 0].copy()
    equity_npv = equity[:, 0].copy()
    cum_equity = equity[:, 0].copy()
    cum_discounted = project[:, 0].copy()
    nan = xp.full(P, xp.nan, dtype=f64)
    payback_equity = xp.where(cum_equity >= 0, 0.0, nan)
    payback_discounted = xp.where(cum_discounted >= 0, 0.0, nan)
    payback_first = payback_equity.copy()
    year1_revenue = zeros.copy()
    year1_ebitda = zeros.copy()
    year_cfads = zeros.copy()
    year_service = zeros.copy()
    min_dscr = xp.full(P, xp.inf, dtype=f64)
    sum_dscr = zeros.copy()
    n_dscr = zeros.copy()
    breached = xp.zeros(P, dtype=bool)
    dscr_years = []
    llcr_start = fi.ops_start_month - 1  # end of deliveries
    llcr_balance = balance.copy() if llcr_start == 0 else zeros.copy()
    llcr_pv = zeros.copy()
    llcr_discount = xp.ones(P, dtype=f64)
    hours = HOURS_PER_MONTH
    lag = fi.vacancy_lag_months
    cs = fi.contracted_share
    lessee = 1.0 if fi.lessee_pays_power_and_facility else 0.0
    # Waterfall state (module docstring).
    money_floor = 1e-9 * np.maximum(fi.capex_total, 1.0)  # amounts below it count as zero in the event tests
    quarterly = fi.tax_payment == "quarterly_prepayment"
    paid_lev = zeros.copy()  # tax prepaid so far this year
    paid_unlev = zeros.copy()
    reserve = zeros.copy()
    lockup = zeros.copy()
    locked = xp.zeros(P, dtype=bool)
    dsra_drawn = xp.zeros(P, dtype=bool)
    dsra_short_months = zeros.copy()
    injection_total = zeros.copy()
    injection_months = zeros.copy()
    cure_total = zeros.copy()
    cure_count = zeros.copy()
    first_default = nan.copy()
    default_reason = zeros.copy()
    sweep_always = fi.cash_sweep_when == "always"
    receivable_months = fi.receivable_days / DAYS_PER_MONTH  # working capital (module docstring)
    payable_months = fi.payable_days / DAYS_PER_MONTH
    receivables = zeros.copy()
    payables = zeros.copy()
    refinanced_month = debt.refinanced_month if debt.refinanced_month >= 0 else M + 1

    for m in range(1, M + 1):
        j = m - 1
        # -- capacity and revenue --
        gpus_on = fi.gpus * online[m]
        contracted = gpus_on * cs
        contract_on = ((m <= fi.term_months) & (j < default_month)).astype(f64)
        vacant = ((j >= default_month) & (j < default_month + lag)).astype(f64)
        renewed = ((m > fi.term_months) & (j < default_month)).astype(f64) * fi.renewal_share
        market_gpus = gpus_on - contracted * (contract_on + vacant + renewed)
        escalation = (1.0 + fi.escalator_per_year) ** ((m - 1) // 12)
        revenue_contract = contract_on * contracted * rent * escalation
        tokens_per_gpu_hour = (fi.usage_tokens_per_gpu_hour * drivers.efficiency_multiplier[:, j]
                               * xp.minimum(1.0, fi.usage_busy_share * drivers.token_volume_multiplier[:, j]))
        usage_per_gpu_hour = xp.clip(tokens_per_gpu_hour / TOKENS_PER_MILLION * fee
                                     * drivers.token_price_multiplier[:, j],
                                     fi.usage_floor_per_gpu_hour, fi.usage_cap_per_gpu_hour)
        revenue_usage = contract_on * contracted * hours * usage_per_gpu_hour
        spot = drivers.spot_utilisation[:, j]
        market_price = (market_rent * (1.0 + fi.market_rent_change_per_year) ** ((m - 1) / 12.0)
                        * drivers.market_rent_multiplier[:, j])
        revenue_market = market_gpus * hours * market_price * spot
        revenue_renewal = renewed * contracted * hours * market_price * (1.0 - fi.renewal_rent_haircut_share)
        terminated = ((j == default_month) & (m <= fi.term_months)).astype(f64)  # the tenant defaults this month
        revenue_termination = (terminated * fi.termination_recovery_share * contracted * rent * escalation
                               * xp.minimum(fi.termination_payment_months_of_rent, fi.term_months - j))
        revenue_sla_credit = fi.sla_credit_share * (revenue_contract + revenue_usage)
        revenue = (revenue_contract + revenue_usage + revenue_market + revenue_renewal + revenue_termination
                   - revenue_sla_credit)
        # -- VAT: input VAT on capex is a receivable, recovered against the output VAT on revenue --
        vat_input = fi.vat_input_rate * capex_m[m]
        vat_receivable = vat_receivable + vat_input
        vat_output = fi.vat_output_rate * xp.maximum(revenue, 0.0)
        vat_recovered = xp.minimum(vat_receivable, vat_output)
        vat_receivable = vat_receivable - vat_recovered
        vat_paid = vat_output - vat_recovered
        # -- opex --
        passed_through = lessee * contract_on * contracted
        powered = gpus_on - passed_through
        rented_powered = (contract_on + renewed) * contracted - passed_through + market_gpus * spot
        opex_power = hours * drivers.power_price_multiplier[:, j] * (
            fi.power_idle_per_gpu_hour * powered
            + (fi.power_busy_per_gpu_hour - fi.power_idle_per_gpu_hour) * rented_powered)
        opex_facility = hours * fi.facility_per_gpu_hour * powered
        opex_maintenance = zeros + hours * fi.maintenance_per_gpu_hour * gpus_on
        opex_operations = zeros + hours * fi.operations_per_gpu_hour * gpus_on
        opex_insurance = zeros + hours * fi.insurance_per_gpu_hour * gpus_on
        relet = (j == default_month + lag).astype(f64)  # the month a defaulted tenant's GPUs are re-let (once)
        opex_reletting = relet * fi.reletting_cost_months_of_rent * contracted * hours * market_price
        opex_suppliers = (opex_power + opex_facility + opex_maintenance + opex_operations + opex_insurance
                          + opex_reletting)
        opex_vat_surtax = fi.vat_surtax_share * vat_paid
        opex = opex_suppliers + opex_vat_surtax
        ebitda = revenue - opex
        # -- working capital: receivables on revenue, payables on suppliers' opex; both settled at the horizon --
        receivables_new = zeros + (0.0 if m == M else receivable_months) * revenue
        payables_new = zeros + (0.0 if m == M else payable_months) * opex_suppliers
        working_capital_change = (receivables_new - receivables) - (payables_new - payables)
        receivables, payables = receivables_new, payables_new
        # -- debt --
        rate = fi.fixed_rate if fi.rate_type == "fixed" else drivers.floating_base_rate[:, j] + fi.floating_margin
        if m > refinanced_month:  # the refinanced balloon bears the refinancing rate
            rate = zeros + debt.refinancing_rate
        interest_month = balance * rate / 12.0
        accrued = accrued + interest_month
        if pay_month[m]:
            interest_paid = accrued
            accrued = zeros.copy()
        else:
            interest_paid = zeros
        # Prepayments scale the remaining schedule pro rata (scale = 1 without any).
        scale = xp.where(scheduled_balance > 0, balance / xp.where(scheduled_balance > 0, scheduled_balance, 1.0), 1.0)
        principal = xp.minimum(due[:, m] * scale, balance + draws[:, m])
        scheduled_balance = scheduled_balance + draws[:, m] - due[:, m]
        balance = balance + draws[:, m] - principal
        service = interest_paid + principal
        # -- tax (settled at each year end and at the horizon; prepaid at quarter ends when quarterly) --
        income_lev = income_lev + ebitda - interest_month - dep_m[m]
        income_unlev = income_unlev + ebitda - dep_m[m]
        residual = zeros
        tax_lev_ops = tax_lev_sale = tax_unlev = zeros
        if m == M:
            residual = _residual_value(fi, drivers, xp)
            gain = residual - fi.book_value_at_horizon
            pool_ops = pool_lev.copy()
            tax_year_ops = _settle_tax(pool_ops, income_lev, fi.tax_rate, expire, xp)
            tax_lev_ops = tax_year_ops - paid_lev
            tax_lev_sale = _settle_tax(pool_lev, income_lev + gain, fi.tax_rate, expire, xp) - tax_year_ops
            tax_unlev = _settle_tax(pool_unlev, income_unlev + gain, fi.tax_rate, expire, xp) - paid_unlev
        elif m % 12 == 0:
            tax_lev_ops = _settle_tax(pool_lev, income_lev, fi.tax_rate, expire, xp) - paid_lev
            tax_unlev = _settle_tax(pool_unlev, income_unlev, fi.tax_rate, expire, xp) - paid_unlev
            income_lev = zeros.copy()
            income_unlev = zeros.copy()
            paid_lev = zeros.copy()
            paid_unlev = zeros.copy()
        elif quarterly and m % 3 == 0:
            tax_lev_ops = xp.maximum(fi.tax_rate * xp.maximum(income_lev - pool_lev.sum(axis=1), 0.0) - paid_lev, 0.0)
            tax_unlev = xp.maximum(fi.tax_rate * xp.maximum(income_unlev - pool_unlev.sum(axis=1), 0.0) - paid_unlev,
                                   0.0)
            paid_lev = paid_lev + tax_lev_ops
            paid_unlev = paid_unlev + tax_unlev
        cfads = ebitda - tax_lev_ops - working_capital_change + vat_recovered
        # -- waterfall --
        target = dsra_target[:, m] * scale
        cash = cfads - service
        due_now = service
        if m == M:  # the sale repays the debt still outstanding
            leftover = balance + accrued
            cash = cash - tax_lev_sale + residual - leftover
            due_now = service + leftover
        dsra_draw = xp.minimum(dsra, xp.maximum(-cash, 0.0))
        dsra = dsra - dsra_draw
        cash = cash + dsra_draw
        lockup_use = xp.minimum(lockup, xp.maximum(-cash, 0.0))
        lockup = lockup - lockup_use
        cash = cash + lockup_use
        dsra_release_end = reserve_release = lockup_release_end = zeros
        if m == M:  # every account is released at the horizon
            dsra_release_end, reserve_release, lockup_release_end = dsra, reserve, lockup
            cash = cash + dsra + reserve + lockup
            dsra, reserve, lockup = zeros, zeros, zeros
        injection = xp.maximum(-cash, 0.0)
        cash = xp.maximum(cash, 0.0)
        payment_default = (injection > money_floor) & (due_now > money_floor)
        dsra_in = xp.minimum(cash, xp.maximum(target - dsra, 0.0))
        dsra_out = xp.maximum(dsra + dsra_in - target, 0.0)
        dsra = dsra + dsra_in - dsra_out
        cash = cash - dsra_in + dsra_out
        dsra_drawn = (dsra_drawn | (dsra_draw > money_floor)) & (dsra < target - money_floor)
        dsra_short_months = xp.where(dsra_drawn, dsra_short_months + 1, 0.0)
        dsra_default = dsra_short_months > fi.dsra_restore_months
        reserve_in = zeros
        if m < M:
            reserve_in = xp.minimum(cash, fi.maintenance_reserve_per_gpu_hour * hours * gpus_on)
            reserve = reserve + reserve_in
            cash = cash - reserve_in
        sweep = zeros
        if m < M:
            sweep_on = locked | sweep_always
            sweep = xp.where(sweep_on, xp.minimum(fi.cash_sweep_share * cash, balance), 0.0)
            balance = balance - sweep
            cash = cash - sweep
        hold = locked if m < M else xp.zeros(P, dtype=bool)  # everything is distributed at the horizon
        trapped = xp.where(hold, cash, -lockup)
        distribution = xp.where(hold, 0.0, cash + lockup)
        lockup = lockup + trapped
        # -- loan-year DSCR test: covenant (equity cure or default) and lock-up of the next loan year --
        year_cfads = year_cfads + cfads
        year_service = year_service + service - lump[:, m] * scale
        cure = zeros
        covenant_default = xp.zeros(P, dtype=bool)
        if m % 12 == 0 or m == M:
            has = year_service > money_floor
            dscr = year_cfads / xp.where(has, year_service, 1.0)
            min_dscr = xp.where(has, xp.minimum(min_dscr, dscr), min_dscr)
            sum_dscr = sum_dscr + xp.where(has, dscr, 0.0)
            n_dscr = n_dscr + has
            below = has & (dscr < fi.dscr_covenant)
            breached = breached | below
            dscr_years.append(xp.where(has, dscr, xp.nan))
            cured = below & (cure_count < fi.equity_cure_max_count) & (m < M)
            cure = xp.where(cured, xp.minimum(fi.dscr_covenant * year_service - year_cfads, balance), 0.0)
            balance = balance - cure
            cure_count = cure_count + cured
            cure_total = cure_total + cure
            covenant_default = below & ~cured
            locked = has & (dscr < fi.lockup_dscr)
            year_cfads = zeros.copy()
            year_service = zeros.copy()
        injection_total = injection_total + injection
        injection_months = injection_months + (injection > money_floor)
        event = payment_default | covenant_default | dsra_default
        reason = xp.where(payment_default, 1.0, xp.where(covenant_default, 2.0, 3.0))
        new_default = event & xp.isnan(first_default)
        first_default = xp.where(new_default, float(m), first_default)
        default_reason = xp.where(new_default, reason, default_reason)
        # -- cash flows --
        vat_and_working_capital = vat_recovered - vat_input - working_capital_change
        project_m = ebitda - tax_unlev - capex_m[m] + residual + vat_and_working_capital
        project_pre_m = ebitda - capex_m[m] + residual + vat_and_working_capital
        equity_m = distribution - injection - cure - capex_m[m] - vat_input + draws[:, m] - fees[:, m]
        project[:, m] = project_m
        project_pre[:, m] = project_pre_m
        equity[:, m] = equity_m
        # -- running metrics --
        npv = npv + project_m * v_project ** m
        equity_npv = equity_npv + equity_m * v_equity ** m
        before = cum_equity
        cum_equity = cum_equity + equity_m
        payback_equity = _payback_update(payback_equity, before, cum_equity, equity_m, m, xp)
        payback_first = _first_crossing(payback_first, before, cum_equity, equity_m, m, xp)
        before = cum_discounted
        discounted = project_m * v_project ** m
        cum_discounted = cum_discounted + discounted
        payback_discounted = _payback_update(payback_discounted, before, cum_discounted, discounted, m, xp)
        if fi.ops_start_month <= m < fi.ops_start_month + 12:
            year1_revenue = year1_revenue + revenue
            year1_ebitda = year1_ebitda + ebitda
        if m == llcr_start:
            llcr_balance = balance.copy()
        elif llcr_start < m <= debt.maturity_month:
            llcr_discount = llcr_discount / (1.0 + rate / 12.0)
            llcr_pv = llcr_pv + cfads * llcr_discount
        if schedule:
            for name, value in (
                ("gpus_online", gpus_on), ("gpus_rented", rented_powered + passed_through),
                ("gpus_contracted", contract_on * contracted),
                ("revenue_contract", revenue_contract), ("revenue_usage", revenue_usage),
                ("revenue_market", revenue_market), ("revenue_renewal", revenue_renewal), ("revenue", revenue),
                ("opex_power", opex_power),
                ("opex_facility", opex_facility), ("opex_maintenance", opex_maintenance),
                ("opex_operations", opex_operations), ("opex_insurance", opex_insurance),
                ("opex_reletting", opex_reletting), ("opex", opex),
                ("ebitda", ebitda), ("depreciation", dep_m[m]), ("capex", capex_m[m]), ("debt_drawn", draws[:, m]),
                ("interest_paid", interest_paid + (accrued if m == M else 0.0)),
                ("principal_paid", principal + (balance if m == M else 0.0)),
                ("debt_service", service + (balance + accrued if m == M else 0.0)),
                ("debt_balance", balance * (0.0 if m == M else 1.0)),
                ("tax_levered", tax_lev_ops + tax_lev_sale), ("tax_unlevered", tax_unlev), ("cfads", cfads),
                ("residual_proceeds", residual), ("project_cf", project_m), ("project_cf_pre_tax", project_pre_m),
                ("equity_cf", equity_m),
                ("equity_contribution", capex_m[m] + vat_input - draws[:, m] + fees[:, m]),
                ("dsra_draw", dsra_draw),
                ("dsra_net_deposit", dsra_in - dsra_out - dsra_release_end), ("dsra_balance", dsra),
                ("maintenance_reserve_deposit", reserve_in), ("maintenance_reserve_release", reserve_release),
                ("maintenance_reserve_balance", reserve), ("cash_sweep", sweep), ("lockup_active", hold),
                ("lockup_net_deposit", trapped - lockup_use - lockup_release_end), ("lockup_balance", lockup),
                ("equity_cure", cure), ("sponsor_injection", injection), ("distributions", distribution),
                ("loan_default_event", event), ("financing_fees", fees[:, m]),
                ("revenue_termination", revenue_termination), ("revenue_sla_credit", revenue_sla_credit),
                ("opex_vat_surtax", opex_vat_surtax), ("vat_input_paid", vat_input), ("vat_output", vat_output),
                ("vat_recovered", vat_recovered), ("vat_paid", vat_paid),
                ("vat_receivable_balance", vat_receivable), ("working_capital_change", working_capital_change),
                ("receivables_balance", receivables), ("payables_balance", payables),
            ):
                rec[name][:, m] = value

    has_debt = n_dscr > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        complete_year = fi.ops_start_month + 11 <= M
        payback_simple = xp.where((year1_revenue > 0) & complete_year, fi.capex_total / year1_revenue, xp.nan)
        payback_net = xp.where((year1_ebitda > 0) & complete_year, fi.capex_total / year1_ebitda, xp.nan)
        llcr = xp.where(llcr_balance > 0, llcr_pv / xp.where(llcr_balance > 0, llcr_balance, 1.0), xp.nan)
    return CashFlows(
        project_cf=project, project_cf_pre_tax=project_pre, equity_cf=equity, npv=npv, equity_npv=equity_npv,
        payback_simple=payback_simple, payback_net=payback_net, payback_equity=payback_equity,
        payback_discounted=payback_discounted, min_dscr=xp.where(has_debt, min_dscr, xp.nan),
        avg_dscr=xp.where(has_debt, sum_dscr / xp.maximum(n_dscr, 1.0), xp.nan), llcr=llcr,
        covenant_breached=breached, schedule=rec,
        dscr_by_year=xp.stack(dscr_years, axis=1) if dscr_years else xp.full((P, 0), xp.nan),
        payback_equity_first_crossing=payback_first, sponsor_injection=injection_total,
        sponsor_injection_months=injection_months, equity_cure=cure_total, equity_cure_count=cure_count,
        first_loan_default_month=first_default, first_loan_default_reason=default_reason,
    )


def _residual_value(fi: FinanceInputs, drivers: Drivers, xp):
    """Sale proceeds at the horizon on each path (see tokensim.finance._residual for the two methods)."""
    last = fi.months - 1
    if fi.residual_method == "percent_of_cost":
        return fi.residual_percent_value * drivers.market_rent_multiplier[:, last]
    per_gpu = (fi.residual_pv_revenue_per_gpu * drivers.token_price_multiplier[:, last]
               * drivers.efficiency_multiplier[:, last]
               - fi.residual_pv_power_per_gpu * drivers.power_price_multiplier[:, last]
               - fi.residual_pv_other_per_gpu)
    return fi.gpus * xp.maximum(per_gpu, 0.0)


def finance_metrics(inputs: FinanceInputs, drivers: Drivers, xp=np, *, schedule: bool = False) -> Metrics:
    """:func:`cashflows` plus the IRRs (monthly IRR of each row, annualised), with reason codes for NaNs.

    Parameters
    ----------
    inputs : FinanceInputs
        The engine inputs, debt schedule included (money in ``inputs.currency``).
    drivers : Drivers
        Per-path, per-month drivers; one path per row of the result.
    xp : module, optional
        Array namespace (NumPy, or CuPy for device arrays).
    schedule : bool, optional
        Keep the per-month line items (``flows.schedule``).

    Returns
    -------
    Metrics
        Per-path IRRs (annual fractions) with reason codes, and the engine's :class:`CashFlows` (NPVs in the
        inputs' currency, paybacks in years, DSCR and LLCR as ratios).
    """
    flows = cashflows(inputs, drivers, xp, schedule=schedule)
    out = {}
    for name, rows in (("project_irr", flows.project_cf), ("project_irr_pre_tax", flows.project_cf_pre_tax),
                       ("equity_irr", flows.equity_cf)):
        monthly, reason = irr(rows, return_reason=True)
        out[name] = annualise_monthly_rate(monthly)
        out[f"{name}_reason"] = reason
    return Metrics(flows=flows, **out)
