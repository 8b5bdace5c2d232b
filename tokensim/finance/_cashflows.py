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
  lag and then sell at market like uncontracted ones; after the term they sell at market.
- opex: power (idle draw on every GPU the lessor powers, rented draw on the rented ones; a lessee paying power and
  space does so for the contracted GPUs while the contract runs), facility, maintenance, operations, insurance.
- EBITDA = revenue − opex. Tax: at each year end (and at the horizon) on EBITDA − interest accrued − depreciation
  (levered) or EBITDA − depreciation (unlevered), after losses carried forward (oldest first, expiring after
  ``loss_carry_forward_years``); the sale at the horizon is taxed on proceeds − book value.
- CFADS = EBITDA − tax paid on operations (the tax on the sale gain goes with the sale proceeds).
- project cash flow (unlevered, after tax) = EBITDA − unlevered tax − capex + residual at the horizon;
  ``project_cf_pre_tax`` drops the tax.
- equity cash flow = EBITDA − levered tax − debt service − capex + debt drawn + at the horizon (residual − debt
  still outstanding − interest accrued and unpaid): the sponsor repays leftover debt from the sale.
- DSCR per loan year (months 1–12, 13–24, …, the last possibly partial) = Σ CFADS / Σ scheduled debt service, over
  years with debt service; balloon and bullet repayments are left out of the service (they are refinanced or paid
  from the residual; LLCR covers them). LLCR = PV of CFADS from the end of deliveries to maturity (within the
  horizon), at the debt's interest rate, ÷ debt outstanding at the end of deliveries.
- payback: ``simple`` = capex ÷ revenue of the first full operating year; ``net`` = capex ÷ EBITDA of that year
  (both static ratios, as quoted by sell-side analysts, not limited to the horizon); ``equity`` = when cumulative
  equity cash flow first turns non-negative; ``discounted`` = when cumulative project cash flow discounted at the
  discount rate first turns non-negative (both within the horizon, interpolated within the month, residual counted
  when received; NaN if never).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._irr import annualise_monthly_rate, irr
from .._units import HOURS_PER_MONTH, monthly_rate
from ..cost import TOKENS_PER_MILLION
from ._debt import DebtSchedule

__all__ = ["FinanceInputs", "Drivers", "CashFlows", "Metrics", "cashflows", "finance_metrics", "SCHEDULE_ITEMS"]

SCHEDULE_ITEMS = (
    "gpus_online", "revenue_contract", "revenue_usage", "revenue_market", "revenue", "opex_power", "opex_facility",
    "opex_maintenance", "opex_operations", "opex_insurance", "opex", "ebitda", "depreciation", "capex",
    "debt_drawn", "interest_paid", "principal_paid", "debt_service", "debt_balance", "tax_levered",
    "tax_unlevered", "cfads", "residual_proceeds", "project_cf", "project_cf_pre_tax", "equity_cf",
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

    # Month 0: capex at close, the first draw, and a finance lease's first rental (paid in advance).
    balance = zeros + draws[:, 0] - due[:, 0]
    project[:, 0] = -capex_m[0]
    project_pre[:, 0] = -capex_m[0]
    equity[:, 0] = -capex_m[0] + draws[:, 0] - due[:, 0]
    if schedule:
        for name, value in (("capex", capex_m[0]), ("debt_drawn", draws[:, 0]), ("principal_paid", due[:, 0]),
                            ("debt_service", due[:, 0]), ("debt_balance", balance),
                            ("project_cf", project[:, 0]), ("project_cf_pre_tax", project_pre[:, 0]),
                            ("equity_cf", equity[:, 0])):
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

    for m in range(1, M + 1):
        j = m - 1
        # -- capacity and revenue --
        gpus_on = fi.gpus * online[m]
        contracted = gpus_on * cs
        contract_on = ((m <= fi.term_months) & (j < default_month)).astype(f64)
        vacant = ((j >= default_month) & (j < default_month + lag)).astype(f64)
        market_gpus = gpus_on - contracted * (contract_on + vacant)
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
        revenue = revenue_contract + revenue_usage + revenue_market
        # -- opex --
        passed_through = lessee * contract_on * contracted
        powered = gpus_on - passed_through
        rented_powered = contract_on * contracted - passed_through + market_gpus * spot
        opex_power = hours * drivers.power_price_multiplier[:, j] * (
            fi.power_idle_per_gpu_hour * powered
            + (fi.power_busy_per_gpu_hour - fi.power_idle_per_gpu_hour) * rented_powered)
        opex_facility = hours * fi.facility_per_gpu_hour * powered
        opex_maintenance = zeros + hours * fi.maintenance_per_gpu_hour * gpus_on
        opex_operations = zeros + hours * fi.operations_per_gpu_hour * gpus_on
        opex_insurance = zeros + hours * fi.insurance_per_gpu_hour * gpus_on
        opex = opex_power + opex_facility + opex_maintenance + opex_operations + opex_insurance
        ebitda = revenue - opex
        # -- debt --
        rate = fi.fixed_rate if fi.rate_type == "fixed" else drivers.floating_base_rate[:, j] + fi.floating_margin
        interest_month = balance * rate / 12.0
        accrued = accrued + interest_month
        if pay_month[m]:
            interest_paid = accrued
            accrued = zeros.copy()
        else:
            interest_paid = zeros
        principal = due[:, m]
        balance = balance + draws[:, m] - principal
        service = interest_paid + principal
        # -- tax (settled at each year end and at the horizon) --
        income_lev = income_lev + ebitda - interest_month - dep_m[m]
        income_unlev = income_unlev + ebitda - dep_m[m]
        residual = zeros
        tax_lev_ops = tax_lev_sale = tax_unlev = zeros
        if m == M:
            residual = _residual_value(fi, drivers, xp)
            gain = residual - fi.book_value_at_horizon
            pool_ops = pool_lev.copy()
            tax_lev_ops = _settle_tax(pool_ops, income_lev, fi.tax_rate, expire, xp)
            tax_lev_sale = _settle_tax(pool_lev, income_lev + gain, fi.tax_rate, expire, xp) - tax_lev_ops
            tax_unlev = _settle_tax(pool_unlev, income_unlev + gain, fi.tax_rate, expire, xp)
        elif m % 12 == 0:
            tax_lev_ops = _settle_tax(pool_lev, income_lev, fi.tax_rate, expire, xp)
            tax_unlev = _settle_tax(pool_unlev, income_unlev, fi.tax_rate, expire, xp)
            income_lev = zeros.copy()
            income_unlev = zeros.copy()
        cfads = ebitda - tax_lev_ops
        # -- cash flows --
        project_m = ebitda - tax_unlev - capex_m[m] + residual
        project_pre_m = ebitda - capex_m[m] + residual
        equity_m = cfads - tax_lev_sale - service - capex_m[m] + draws[:, m]
        if m == M:
            equity_m = equity_m + residual - balance - accrued
        project[:, m] = project_m
        project_pre[:, m] = project_pre_m
        equity[:, m] = equity_m
        # -- running metrics --
        npv = npv + project_m * v_project ** m
        equity_npv = equity_npv + equity_m * v_equity ** m
        before = cum_equity
        cum_equity = cum_equity + equity_m
        payback_equity = _payback_update(payback_equity, before, cum_equity, equity_m, m, xp)
        before = cum_discounted
        discounted = project_m * v_project ** m
        cum_discounted = cum_discounted + discounted
        payback_discounted = _payback_update(payback_discounted, before, cum_discounted, discounted, m, xp)
        if fi.ops_start_month <= m < fi.ops_start_month + 12:
            year1_revenue = year1_revenue + revenue
            year1_ebitda = year1_ebitda + ebitda
        year_cfads = year_cfads + cfads
        year_service = year_service + service - lump[:, m]
        if m % 12 == 0 or m == M:
            has = year_service > 1e-9 * np.maximum(fi.capex_total, 1.0)
            dscr = year_cfads / xp.where(has, year_service, 1.0)
            min_dscr = xp.where(has, xp.minimum(min_dscr, dscr), min_dscr)
            sum_dscr = sum_dscr + xp.where(has, dscr, 0.0)
            n_dscr = n_dscr + has
            breached = breached | (has & (dscr < fi.dscr_covenant))
            dscr_years.append(xp.where(has, dscr, xp.nan))
            year_cfads = zeros.copy()
            year_service = zeros.copy()
        if m == llcr_start:
            llcr_balance = balance.copy()
        elif llcr_start < m <= debt.maturity_month:
            llcr_discount = llcr_discount / (1.0 + rate / 12.0)
            llcr_pv = llcr_pv + cfads * llcr_discount
        if schedule:
            for name, value in (
                ("gpus_online", gpus_on), ("revenue_contract", revenue_contract), ("revenue_usage", revenue_usage),
                ("revenue_market", revenue_market), ("revenue", revenue), ("opex_power", opex_power),
                ("opex_facility", opex_facility), ("opex_maintenance", opex_maintenance),
                ("opex_operations", opex_operations), ("opex_insurance", opex_insurance), ("opex", opex),
                ("ebitda", ebitda), ("depreciation", dep_m[m]), ("capex", capex_m[m]), ("debt_drawn", draws[:, m]),
                ("interest_paid", interest_paid + (accrued if m == M else 0.0)),
                ("principal_paid", principal + (balance if m == M else 0.0)),
                ("debt_service", service + (balance + accrued if m == M else 0.0)),
                ("debt_balance", balance * (0.0 if m == M else 1.0)),
                ("tax_levered", tax_lev_ops + tax_lev_sale), ("tax_unlevered", tax_unlev), ("cfads", cfads),
                ("residual_proceeds", residual), ("project_cf", project_m), ("project_cf_pre_tax", project_pre_m),
                ("equity_cf", equity_m),
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
