"""Finance inputs of a scenario: what :func:`tokensim.finance.cashflows` and the solvers need.

:func:`finance_inputs` resolves the timeline (capex, online share and depreciation by month), the contract, the
opex rates per GPU-hour (:func:`tokensim.cost.opex_per_installed_gpu_hour` on the scenario's cost inputs), the
financing and tax terms and the residual; :func:`debt_terms` the debt signed at close, which
:func:`tokensim.finance.debt_at_close` turns into the schedule (sculpted debt sized on the base case's CFADS).
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from typing import Any

import numpy as np

from .._units import SECONDS_PER_HOUR
from ..config.types import Scenario, rent_per_gpu_month
from ..cost import CostInputs, opex_per_installed_gpu_hour
from ..finance import (
    DebtTerms,
    EconomicResidualParts,
    FinanceInputs,
    availability_share,
    build_debt_schedule,
    debt_at_close,
    economic_residual_parts,
    payment_calendar,
    percent_of_cost_at,
    sla_credit_share,
)
from .cost import cost_inputs

__all__ = ["finance_inputs", "finance_capex_total", "debt_terms", "contract_rent_per_gpu_month",
           "debt_maturity_month", "to_debt_maturity"]


def debt_maturity_month(scenario: Scenario) -> int:
    """The month (from financial close) of the debt's last scheduled repayment.

    Parameters
    ----------
    scenario : Scenario
        A loaded scenario.

    Returns
    -------
    int
        The maturity of :func:`tokensim.finance.payment_calendar` on the scenario's tenor, payments per year and
        last delivery (repayment starts after it); for a finance lease the period after the last rental; plus the
        tail (``financing.refinancing_tenor_years``) when the balloon is refinanced.
    """
    fin = scenario.financing
    last_delivery = max(d.month for d in scenario.capex.delivery if d.share > 0)
    maturity = payment_calendar(scenario.horizon_months, fin.payments_per_year, last_delivery,
                                int(round(fin.tenor_years * 12)), fin.amortisation == "finance_lease")[2]
    return maturity + _tail_months(scenario)


def _tail_months(scenario: Scenario) -> int:
    """Months of the refinancing tail: 0 unless a balloon (bullet, or balloon_share > 0) is refinanced."""
    fin = scenario.financing
    has_balloon = fin.amortisation == "bullet" or (fin.balloon_share > 0 and fin.amortisation != "sculpted")
    return int(round(fin.refinancing_tenor_years * 12)) if has_balloon else 0


def to_debt_maturity(scenario: Scenario) -> Scenario:
    """The scenario with its horizon run to the debt's maturity where the debt matures after the horizon.

    A loan left outstanding at the horizon would be repaid there from the residual, a balloon that no DSCR sees
    (issue 13: an 8-year loan on a 5-year horizon showed a minimum DSCR of 1.20 over years 1-5 while RMB 1.19 bn was
    repaid at year 5). Running the cash flows to maturity puts every scheduled payment under the DSCR; after the
    contract's term the GPUs sell at the market rent x spot utilisation (the engine's rule after the term), and the
    residual is read from the curve at the longer horizon.

    Parameters
    ----------
    scenario : Scenario
        A loaded scenario.

    Returns
    -------
    Scenario
        ``scenario`` itself when it has no debt or its debt matures within the horizon, else a copy whose
        ``horizon_years`` is the maturity month / 12.
    """
    s = scenario
    if s.financing.debt_share <= 0:
        return s
    maturity = debt_maturity_month(s)
    return s if maturity <= s.horizon_months else dataclasses.replace(s, horizon_years=maturity / 12)


def contract_rent_per_gpu_month(scenario: Scenario) -> float:
    """The scenario's contract rent per contracted GPU-month.

    Parameters
    ----------
    scenario : Scenario
        A loaded scenario.

    Returns
    -------
    float
        The contract rent in its billing unit expressed per contracted GPU-month (730 hours), in the scenario's
        currency.
    """
    s = scenario
    return rent_per_gpu_month(s.contract.billing, s.contract.rent, s.cluster, s.contract.contracted_share)


def debt_terms(scenario: Scenario) -> DebtTerms:
    """The debt the scenario signs at financial close.

    Parameters
    ----------
    scenario : Scenario
        A loaded scenario.

    Returns
    -------
    DebtTerms
        Amount = debt share × total capex (scenario's currency; the maximum gearing when the debt is sized), the
        rate at close (annual fraction), payments per year, tenor in months, balloon share, target DSCR, the
        sizing DSCR and case, and the financing fees.
    """
    fin = scenario.financing
    return DebtTerms(amortisation=fin.amortisation, amount=fin.debt_share * scenario.capex_total,
                     annual_rate=fin.interest_rate, payments_per_year=fin.payments_per_year,
                     tenor_months=int(round(fin.tenor_years * 12)), balloon_share=fin.balloon_share,
                     target_dscr=fin.target_dscr, sizing_dscr=fin.sizing_dscr,
                     sizing_revenue_haircut_share=fin.sizing_revenue_haircut_share,
                     upfront_fee_share=fin.upfront_fee_share, commitment_fee_per_year=fin.commitment_fee_per_year,
                     lease_handling_fee_share=fin.lease_handling_fee_share,
                     lease_deposit_share=fin.lease_deposit_share, refinancing_tenor_months=_tail_months(scenario),
                     refinancing_rate=None if not _tail_months(scenario) else
                     fin.interest_rate if fin.refinancing_rate is None else fin.refinancing_rate)


def _timeline(s: Scenario) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(capex, online share, depreciation) by month 0..M and the book value at the horizon."""
    months = s.horizon_months
    capex = np.zeros(months + 1)
    online = np.zeros(months + 1)
    depreciation = np.zeros(months + 1)
    dep_months = int(round(s.tax.depreciation_years * 12))
    total = finance_capex_total(s)
    for d in s.capex.delivery:
        tranche = d.share * total
        capex[d.month] += tranche
        online[d.month + 1:] += d.share
        depreciation[d.month + 1: min(d.month + dep_months, months) + 1] += tranche / (s.tax.depreciation_years * 12)
    book_value = total - depreciation.sum()
    return capex, np.minimum(online, 1.0), depreciation, max(book_value, 0.0)


def finance_capex_total(scenario: Scenario) -> float:
    """The capex the finance pays, in the scenario's currency: the scenario's capex at the order rate, plus the
    spares (``capex.spare_share`` x the servers' price) and the exchange-rate move on the share of the hardware
    (servers, spares, network and fabric) quoted in USD (``capex.fx``); ``DEFINITIONS["capex_spares_and_fx"]``.

    Parameters
    ----------
    scenario : Scenario
        A loaded scenario.

    Returns
    -------
    float
        Capex paid over the deliveries (each delivery pays its share of it).
    """
    c = scenario.capex
    spares = c.spare_share * scenario.cluster.servers * c.server_price
    fx_move = c.fx_usd_share * c.fx_rate_change_share * (scenario.hardware_capex_total + spares)
    return scenario.capex_total + spares + fx_move


def _residual(s: Scenario, ci: CostInputs) -> tuple[float, EconomicResidualParts | None]:
    """(percent-of-cost value at the horizon, economic parts per GPU): the one the residual method uses."""
    if s.residual.method == "percent_of_cost":
        return percent_of_cost_at(s.residual.percent_of_cost_by_age, s.horizon_years) * s.hardware_capex_total, None
    return 0.0, economic_residual_parts(s.residual, s.financing.discount_rate, ci)


def finance_inputs(scenario: Scenario, *, rent_per_gpu_month: Any = None, market_rent_per_gpu_hour: Any = None,
                   usage_fee_per_million_tokens: Any = None, size_debt: bool = True) -> FinanceInputs:
    """The finance engine's inputs of a scenario.

    Parameters
    ----------
    scenario : Scenario
        A loaded scenario.
    rent_per_gpu_month : float or ndarray of shape (rows,), optional
        Contract rent per contracted GPU-month (scenario's currency) instead of the scenario's.
    market_rent_per_gpu_hour : float or ndarray of shape (rows,), optional
        Market rent per GPU-hour (scenario's currency) instead of the scenario's.
    usage_fee_per_million_tokens : float or ndarray of shape (rows,), optional
        Usage fee per million tokens (scenario's currency) instead of the scenario's.
    size_debt : bool, optional
        Fix the debt schedule at close (:func:`tokensim.finance.debt_at_close` on :func:`debt_terms`; one row per
        rent given, since sculpted debt depends on the rent). False leaves a no-debt placeholder on the scenario's
        payment calendar, for callers that size the debt themselves (the solvers, batches).

    Returns
    -------
    FinanceInputs
        Money in the scenario's currency, rates per GPU-hour, the timeline by month 0..M.
    """
    s = to_debt_maturity(scenario)
    ci = cost_inputs(s)
    capex, online, depreciation, book_value = _timeline(s)
    busy = opex_per_installed_gpu_hour(ci, 1.0)
    idle = opex_per_installed_gpu_hour(ci, 0.0)
    c, fin = s.contract, s.financing
    if rent_per_gpu_month is None:
        rent_per_gpu_month = contract_rent_per_gpu_month(s)
    residual_percent, parts = _residual(s, ci)
    no_debt = build_debt_schedule("bullet", 0.0, capex / finance_capex_total(s), fin.interest_rate,
                                  fin.payments_per_year, int(round(fin.tenor_years * 12)), s.horizon_months)
    inputs = FinanceInputs(
        currency=s.currency, months=s.horizon_months, gpus=float(s.cluster.gpus),
        gpus_per_server=s.cluster.gpus_per_server, capex_total=finance_capex_total(s), capex_by_month=capex,
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
        vacancy_lag_months=c.vacancy_lag_months, reletting_cost_months_of_rent=c.reletting_cost_months_of_rent,
        renewal_share=c.renewal_share, renewal_rent_haircut_share=c.renewal_rent_haircut_share,
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
        tax_payment=s.tax.payment, dsra_months=fin.dsra_months, dsra_funding=fin.dsra_funding,
        dsra_restore_months=fin.dsra_restore_months,
        maintenance_reserve_per_gpu_hour=fin.maintenance_reserve_per_gpu_hour,
        lockup_dscr=np.nan if fin.lockup_dscr is None else fin.lockup_dscr, cash_sweep_share=fin.cash_sweep_share,
        cash_sweep_when=fin.cash_sweep_when, equity_cure_max_count=fin.equity_cure_max_count,
        vat_input_rate=s.tax.vat_input_rate, vat_output_rate=s.tax.vat_output_rate,
        vat_surtax_share=s.tax.vat_surtax_share, receivable_days=c.receivable_days,
        payable_days=s.opex.payable_days,
        sla_credit_share=sla_credit_share(
            availability_share(s.opex.gpu_failure_rate_per_year, s.opex.repair_days, s.capex.spare_share),
            c.sla_availability_target_share, c.sla_credit_per_point_share),
        termination_payment_months_of_rent=c.termination_payment_months_of_rent,
        termination_recovery_share=c.termination_recovery_share,
    )
    return replace(inputs, debt=debt_at_close(inputs, debt_terms(s))) if size_debt else inputs
