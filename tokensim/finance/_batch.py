"""The batched finance engine: rows of finance inputs → metrics, with the debt fixed at close by one sculpting loop.

A batch is one :class:`~tokensim.finance.FinanceInputs` whose numbers hold one value per row. Two shapes occur:

- *broadcast*: one case with a few fields given per row, e.g. the contract rent, the market rent or the usage fee as
  (rows,) arrays (the rent solvers in :mod:`tokensim.finance._solve`, the finance table of a sweep);
- *stacked* (:func:`stack_inputs`): many cases, every numeric field (rows,), capex and depreciation by month
  (rows, M+1) (sensitivity). What the engine needs shared (timeline, contract term, debt calendar, methods) must not
  differ between the rows; :func:`stack_inputs` checks it.

:func:`debt_at_close` fixes each row's debt schedule from its :class:`~tokensim.finance.DebtTerms` on the base case:
sculpted debt is sized on the row's own base-case CFADS, iterating (service = CFADS / target DSCR, CFADS moving
with the interest tax shield) from no debt until no row's principal moves by more than 1e-9 of its capex. Rows
sculpted together share the rate at close (:func:`tokensim.finance._debt.build_debt_schedule` takes it as a scalar):
callers with several rates group rows by :func:`sizing_key`. :func:`batch_metrics` then runs every row as one path of
:func:`tokensim.finance.cashflows` with the deterministic drivers (multipliers 1, no default), each row's spot
utilisation and floating base rate unless given per row: a floating base rate given per row moves the interest
paid, the principal staying fixed at close, as on a Monte Carlo path. Always NumPy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from .._irr import annualise_monthly_rate, irr
from ._cashflows import CashFlows, Drivers, FinanceInputs, cashflows
from ._debt import DebtSchedule, DebtTerms, build_debt_schedule, financing_fees

__all__ = ["BLOCK_ROWS", "BATCH_METRICS", "batch_rows", "stack_inputs", "stack_terms", "constant_drivers",
           "sizing_key", "debt_at_close", "batch_metrics", "DebtSizing", "size_debt", "sizing_case"]

BLOCK_ROWS = 4096  # rows per engine call: (rows, months) arrays of a few MB, sculpting's schedule ~50 MB
# Metrics of CashFlows (by attribute) and the three IRRs.
BATCH_METRICS = ("npv", "equity_npv", "project_irr", "project_irr_pre_tax", "equity_irr", "min_dscr", "avg_dscr",
                 "llcr", "payback_equity", "payback_discounted", "payback_simple", "payback_net")
_IRR_ROWS = {"project_irr": "project_cf", "project_irr_pre_tax": "project_cf_pre_tax", "equity_irr": "equity_cf"}
_SHARED = {"currency", "months", "gpus", "gpus_per_server", "online_share", "ops_start_month", "contract_type",
           "term_months", "vacancy_lag_months", "lessee_pays_power_and_facility", "rate_type",
           "loss_carry_forward_years", "residual_method", "tax_payment", "dsra_months", "dsra_funding",
           "cash_sweep_when"}
_SIZING_TOLERANCE = 1e-9  # of each row's capex: the sculpting fixed point has converged
_SIZING_ITERATIONS = 60


def _same(values: list, name: str) -> Any:
    if any(not np.array_equal(v, values[0]) for v in values[1:]):
        raise ValueError(f"rows differ in '{name}', which the batched engine needs shared")
    return values[0]


def batch_rows(inputs: FinanceInputs) -> int:
    """The rows of a batch.

    Parameters
    ----------
    inputs : FinanceInputs
        Broadcast or stacked inputs.

    Returns
    -------
    int
        The largest size of the capex total, the contract rent, the market rent and the usage fee.
    """
    return max(int(np.size(v)) for v in (inputs.capex_total, inputs.rent_per_gpu_month,
                                         inputs.market_rent_per_gpu_hour, inputs.usage_fee_per_million_tokens))


def _stack_debt(rows: list[DebtSchedule]) -> DebtSchedule:
    cat: dict[str, Any] = {k: np.concatenate([getattr(r, k) for r in rows])
                           for k in ("amount", "draws", "principal", "lump", "sized_down")}
    if any(r.fees is not None for r in rows):
        cat["fees"] = np.concatenate([np.zeros_like(r.draws) if r.fees is None else r.fees for r in rows])
    if any(r.refinanced_amount is not None for r in rows):
        cat["refinanced_amount"] = np.concatenate([np.zeros_like(r.amount) if r.refinanced_amount is None
                                                   else r.refinanced_amount for r in rows])
    shared: dict[str, Any] = {k: _same([getattr(r, k) for r in rows], f"debt.{k}")
                              for k in ("kind", "payment_month", "maturity_month", "repayment_months",
                                        "refinanced_month")}
    rates = {float(r.refinancing_rate) for r in rows if r.refinanced_month >= 0}
    if len(rates) > 1:
        raise ValueError("rows differ in 'debt.refinancing_rate', which the batched engine needs shared")
    shared["refinancing_rate"] = rates.pop() if rates else float("nan")
    return DebtSchedule(**cat, **shared, periodic_rate=np.array([r.periodic_rate for r in rows]))


def stack_inputs(rows: Sequence[FinanceInputs]) -> FinanceInputs:
    """Many cases as one batch.

    Parameters
    ----------
    rows : sequence of FinanceInputs
        One case per row, each with scalar numbers (its debt schedule one row or a placeholder).

    Returns
    -------
    FinanceInputs
        Numeric fields (rows,) arrays, capex and depreciation by month (rows, M+1), the debt schedules stacked; the
        fields the engine needs shared are checked equal (``ValueError`` otherwise).
    """
    out: dict[str, Any] = {}
    for f in fields(FinanceInputs):
        values = [getattr(r, f.name) for r in rows]
        if f.name == "debt":
            out[f.name] = _stack_debt(values)
        elif f.name in _SHARED:
            out[f.name] = _same(values, f.name)
        else:
            out[f.name] = np.asarray(values, dtype=float)
    return FinanceInputs(**out)


def stack_terms(rows: Sequence[DebtTerms]) -> DebtTerms:
    """The debt terms of many cases as one batch.

    Parameters
    ----------
    rows : sequence of DebtTerms
        One per case, scalar.

    Returns
    -------
    DebtTerms
        ``amount``, ``annual_rate`` and ``balloon_share`` as (rows,) arrays; the amortisation, payments per year,
        tenor and target DSCR checked shared (``ValueError`` otherwise).
    """
    shared: dict[str, Any] = {k: _same([getattr(r, k) for r in rows], k)
                              for k in ("amortisation", "payments_per_year", "tenor_months", "target_dscr",
                                        "sizing_dscr", "sizing_revenue_haircut_share", "upfront_fee_share",
                                        "commitment_fee_per_year", "lease_handling_fee_share",
                                        "lease_deposit_share", "refinancing_tenor_months", "refinancing_rate")}
    per_row: dict[str, Any] = {k: np.array([getattr(r, k) for r in rows], dtype=float)
                               for k in ("amount", "annual_rate", "balloon_share")}
    return DebtTerms(**shared, **per_row)


def constant_drivers(inputs: FinanceInputs, rows: int | None = None, *, spot_utilisation=None,
                     floating_base_rate=None) -> Drivers:
    """The deterministic drivers of a batch: multipliers 1, no tenant default.

    Parameters
    ----------
    inputs : FinanceInputs
        Broadcast or stacked inputs.
    rows : int, optional
        Paths; default :func:`batch_rows` of ``inputs``.
    spot_utilisation : float or ndarray of shape (rows,), optional
        Sold share of market GPUs (fraction) per row; default the inputs' own.
    floating_base_rate : float or ndarray of shape (rows,), optional
        Annual floating base rate (fraction) per row; default the inputs' own.

    Returns
    -------
    Drivers
        (rows, months) drivers, constant over the months.
    """
    paths = batch_rows(inputs) if rows is None else rows
    shape = (paths, inputs.months)
    ones = np.broadcast_to(1.0, shape)

    def column(v):
        return np.broadcast_to(np.asarray(v, dtype=float).reshape(-1, 1), shape)

    spot = inputs.spot_utilisation if spot_utilisation is None else spot_utilisation
    base = inputs.floating_base_rate if floating_base_rate is None else floating_base_rate
    return Drivers(market_rent_multiplier=ones, spot_utilisation=column(spot),
                   token_volume_multiplier=ones, token_price_multiplier=ones, efficiency_multiplier=ones,
                   power_price_multiplier=ones, floating_base_rate=column(base),
                   tenant_default_month=np.full(paths, inputs.months, dtype=np.int64))


def sizing_key(terms: DebtTerms) -> float:
    """Rows whose keys are equal can have their debt fixed at close in one :func:`debt_at_close` call.

    Parameters
    ----------
    terms : DebtTerms
        One case's (scalar) terms.

    Returns
    -------
    float
        The annual rate at close for sculpted debt (sculpting takes one rate), else 0.
    """
    return float(terms.annual_rate) if terms.amortisation == "sculpted" else 0.0


def sizing_case(inputs: FinanceInputs, revenue_haircut_share: float) -> FinanceInputs:
    """The case debt is sized on: the inputs with every revenue price cut by ``revenue_haircut_share``.

    Parameters
    ----------
    inputs : FinanceInputs
        Broadcast or stacked inputs.
    revenue_haircut_share : float
        Fraction in [0, 1): the contract rent, the usage fee with its floor and cap and the market rent are each
        multiplied by (1 - share), so every month's revenue is (1 - share) x the base case's (costs unchanged).

    Returns
    -------
    FinanceInputs
        ``inputs`` itself for a share of 0 (the base case, P50), else the stressed copy.
    """
    if not revenue_haircut_share:
        return inputs
    k = 1.0 - float(revenue_haircut_share)
    return replace(inputs, rent_per_gpu_month=np.asarray(inputs.rent_per_gpu_month, dtype=float) * k,
                   usage_fee_per_million_tokens=np.asarray(inputs.usage_fee_per_million_tokens, dtype=float) * k,
                   usage_floor_per_gpu_hour=inputs.usage_floor_per_gpu_hour * k,
                   usage_cap_per_gpu_hour=inputs.usage_cap_per_gpu_hour * k,
                   market_rent_per_gpu_hour=np.asarray(inputs.market_rent_per_gpu_hour, dtype=float) * k)


@dataclass(frozen=True)
class DebtSizing:
    """A debt sized to the lesser of a maximum gearing and a minimum DSCR (:func:`size_debt`); arrays (rows,).

    Money in the inputs' currency; DSCRs in x.
    """

    schedule: DebtSchedule  # the debt signed: amount = min(gearing_amount, dscr_amount)
    target_dscr: float
    revenue_haircut_share: float  # the sizing case (0 = the base case, P50)
    gearing_amount: np.ndarray  # the maximum gearing x capex (the amount asked)
    dscr_amount: np.ndarray  # the debt whose lowest loan-year DSCR on the sizing case equals target_dscr
    min_dscr: np.ndarray  # lowest loan-year DSCR of the debt signed, on the sizing case (NaN without service)

    @property
    def binding(self) -> np.ndarray:
        """``dscr`` where the DSCR limit is the lower amount, else ``gearing`` (ties: gearing)."""
        return np.where(self.dscr_amount < self.gearing_amount, "dscr", "gearing")


def size_debt(inputs: FinanceInputs, terms: DebtTerms) -> DebtSizing:
    """Size each row's debt to the lesser of its maximum gearing (``terms.amount``) and a target DSCR.

    The target is ``terms.sizing_dscr``, or ``terms.target_dscr`` for sculpted debt (sculpting is sizing on the
    PV of CFADS / target). The DSCR is the engine's (per loan year, balloon and bullet repayments left out: such debt
    is sized on its interest and level payments and is usually bound by the gearing), on the sizing case
    (:func:`sizing_case`). Every schedule but sculpting is linear in its amount, so with D_k the debt and m(D_k)
    its lowest loan-year DSCR, D_{k+1} = D_k x m(D_k) / target is min over years of CFADS_y(D_k) / (target x
    service per unit of debt_y); iterated from 100% of capex until no row moves by more than 1e-9 of its capex
    (CFADS moves with D only through the interest tax shield: a contraction). A negative lowest DSCR sizes to 0.

    Parameters
    ----------
    inputs : FinanceInputs
        Broadcast or stacked inputs (their ``debt`` is ignored); money in ``inputs.currency``.
    terms : DebtTerms
        The terms with ``sizing_dscr`` (or sculpted with ``target_dscr``); ``amount`` is the gearing limit.

    Returns
    -------
    DebtSizing
        The schedule signed, both limits, and the lowest DSCR reached on the sizing case.
    """
    sculpted = terms.amortisation == "sculpted"
    target = terms.target_dscr if sculpted else terms.sizing_dscr
    if target is None:
        raise ValueError("size_debt needs terms.sizing_dscr (target_dscr for sculpted debt)")
    rows = batch_rows(inputs)
    capex = np.broadcast_to(np.maximum(np.asarray(inputs.capex_total, dtype=float), 1.0), (rows,))
    case = sizing_case(inputs, terms.sizing_revenue_haircut_share)
    drivers = constant_drivers(case, rows)
    cap = np.broadcast_to(np.asarray(terms.amount, dtype=float), (rows,)).copy()
    if sculpted:
        dscr_amount = np.broadcast_to(_at_close(inputs, replace(terms, amount=np.full(rows, np.inf))).amount,
                                      (rows,)).copy()
    else:
        dscr_amount = capex.copy()
        for _ in range(_SIZING_ITERATIONS):
            schedule = _at_close(inputs, replace(terms, amount=dscr_amount))
            low = np.asarray(cashflows(replace(case, debt=schedule), drivers).min_dscr, dtype=float)
            new = np.where(np.isnan(low), dscr_amount, np.maximum(dscr_amount * low / target, 0.0))
            moved = np.max(np.abs(new - dscr_amount) / capex)
            dscr_amount = new
            if moved <= _SIZING_TOLERANCE:
                break
    amount = np.minimum(cap, dscr_amount)
    schedule = _at_close(inputs, replace(terms, amount=amount))
    if not sculpted:
        schedule = replace(schedule, sized_down=np.broadcast_to(dscr_amount < cap, schedule.amount.shape).copy())
    low = np.asarray(cashflows(replace(case, debt=schedule), drivers).min_dscr, dtype=float)
    return DebtSizing(schedule=schedule, target_dscr=float(target),
                      revenue_haircut_share=float(terms.sizing_revenue_haircut_share), gearing_amount=cap,
                      dscr_amount=dscr_amount, min_dscr=np.broadcast_to(low, (rows,)).copy())


def debt_at_close(inputs: FinanceInputs, terms: DebtTerms) -> DebtSchedule:
    """The debt schedule of every row of a batch, fixed at financial close on the base case.

    With ``terms.sizing_dscr`` the amount is first sized (:func:`size_debt`): the lesser of ``terms.amount`` and
    the debt the sizing case's CFADS carries at that DSCR.

    Parameters
    ----------
    inputs : FinanceInputs
        Broadcast or stacked inputs (their ``debt`` is ignored); money in ``inputs.currency``.
    terms : DebtTerms
        The terms, scalar or per row (:func:`stack_terms`); sculpted rows must share the rate at close.

    Returns
    -------
    DebtSchedule
        One row per batch row (one row in all when the terms and capex are one case's and the debt does not depend
        on the rent). Sculpted debt: the fixed point of service = base-case CFADS / target DSCR, the draw shares of
        the first row (the delivery calendar is shared).
    """
    if terms.sizing_dscr is not None and terms.amortisation != "sculpted":
        schedule = size_debt(inputs, terms).schedule
    else:
        schedule = _at_close(inputs, terms)
    return replace(schedule, fees=financing_fees(schedule, terms))


def _at_close(inputs: FinanceInputs, terms: DebtTerms) -> DebtSchedule:
    """:func:`debt_at_close` of ``terms.amount`` as asked (sculpted debt sculpted on the sizing case's CFADS)."""
    capex = np.asarray(inputs.capex_total, dtype=float)
    by_month = np.asarray(inputs.capex_by_month, dtype=float)
    kind = terms.amortisation
    stacked = by_month.ndim == 2
    refinancing: dict[str, Any] = {"refinancing_tenor_months": terms.refinancing_tenor_months,
                                   "refinancing_rate": terms.refinancing_rate}
    if stacked and kind != "sculpted":  # each row on its own rate, amount and draw shares
        amount, rate, balloon = (np.broadcast_to(np.asarray(v, dtype=float), capex.shape)
                                 for v in (terms.amount, terms.annual_rate, terms.balloon_share))
        return _stack_debt([build_debt_schedule(kind, float(amount[r]), by_month[r] / capex[r], float(rate[r]),
                                                terms.payments_per_year, terms.tenor_months, inputs.months,
                                                balloon_share=float(balloon[r]), **refinancing)
                            for r in range(capex.shape[0])])
    rates = np.unique(np.asarray(terms.annual_rate, dtype=float))
    if rates.size != 1:
        raise ValueError("rows sized together need one annual_rate at close; group them by sizing_key")
    shares = by_month[0] / capex[0] if stacked else by_month / capex
    args = (shares, float(rates[0]), terms.payments_per_year, terms.tenor_months, inputs.months)
    if kind != "sculpted":
        return build_debt_schedule(kind, terms.amount, *args, balloon_share=terms.balloon_share, **refinancing)
    rows = batch_rows(inputs)
    per_row_capex = np.broadcast_to(np.maximum(capex, 1.0), (rows,))
    schedule = build_debt_schedule("bullet", np.zeros(rows), *args)
    case = sizing_case(inputs, terms.sizing_revenue_haircut_share)
    drivers = constant_drivers(case, rows)
    for _ in range(_SIZING_ITERATIONS):
        flows = cashflows(replace(case, debt=schedule), drivers, schedule=True)
        new = build_debt_schedule("sculpted", terms.amount, *args, cfads=flows.schedule["cfads"],
                                  target_dscr=terms.target_dscr)
        moved = np.max(np.abs(new.principal - schedule.principal) / per_row_capex[:, None])
        schedule = new
        if moved <= _SIZING_TOLERANCE:
            break
    return schedule


def _metric(flows: CashFlows, name: str) -> np.ndarray:
    if name in _IRR_ROWS:
        monthly = irr(getattr(flows, _IRR_ROWS[name]))
        return np.asarray(annualise_monthly_rate(monthly), dtype=float)
    return np.asarray(getattr(flows, name), dtype=float)


def batch_metrics(inputs: FinanceInputs, terms: DebtTerms, metrics: Sequence[str], *, spot_utilisation=None,
                  floating_base_rate=None) -> dict[str, np.ndarray]:
    """Finance metrics of every row of a batch: debt fixed at close (:func:`debt_at_close`), then one engine path per
    row with the deterministic drivers.

    Parameters
    ----------
    inputs : FinanceInputs
        Broadcast or stacked inputs (their ``debt`` is ignored); money in ``inputs.currency``.
    terms : DebtTerms
        The debt terms, scalar or per row; sculpted rows share the rate at close.
    metrics : sequence of str
        Names from :data:`BATCH_METRICS`.
    spot_utilisation : float or ndarray of shape (rows,), optional
        Sold share of market GPUs (fraction) per row, for the evaluation only (the debt is sized on the inputs'
        own); also sets the rows when the inputs have fewer.
    floating_base_rate : float or ndarray of shape (rows,), optional
        Annual floating base rate (fraction) per row, for the evaluation only (principal fixed at close).

    Returns
    -------
    dict of str to ndarray of shape (rows,)
        Each metric per row: NPVs in the inputs' currency, IRRs annual fractions, DSCR and LLCR ratios, paybacks
        in years; NaN where undefined.
    """
    unknown = [m for m in metrics if m not in BATCH_METRICS]
    if unknown:
        raise ValueError(f"metrics: got {unknown[0]!r}; allowed: {', '.join(BATCH_METRICS)}")
    rows = max([batch_rows(inputs)] + [int(np.size(v)) for v in (spot_utilisation, floating_base_rate)
                                       if v is not None])
    sized = replace(inputs, debt=debt_at_close(inputs, terms))
    flows = cashflows(sized, constant_drivers(sized, rows, spot_utilisation=spot_utilisation,
                                              floating_base_rate=floating_base_rate))
    return {m: np.broadcast_to(_metric(flows, m), (rows,)) for m in metrics}
