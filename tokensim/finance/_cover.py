"""The lender's view of a deterministic case: cover ratios over time, the balloon and its refinancing, and the lender
case without (or with a haircut) residual.

Definitions (also in :data:`tokensim.finance.DEFINITIONS`; the engine's in :mod:`tokensim.finance._cashflows`):

- the debt's rate of month m, r_m: the fixed rate, or the base case's floating base + margin; after a refinanced
  balloon's month T (``debt.refinanced_month``) the refinancing rate. PV at month t of a flow X_m (m > t) =
  X_m × Π_{k=t+1..m} 1 / (1 + r_k / 12), the engine's LLCR discounting.
- LLCR_t = PV at t of CFADS of months t+1 .. min(maturity, horizon) ÷ debt outstanding after month t.
- PLCR_t = PV at t of CFADS of months t+1 .. the horizon (the project's life in the model; the residual left out)
  ÷ debt outstanding after month t.
- reported at the end of deliveries (the engine's ``llcr``) and at each loan-year end (month 12k) after it while
  debt is outstanding (:func:`cover_ratios`), and at every month in the schedule's ``llcr`` and ``plcr`` columns
  (:func:`cover_by_month`); NumPy only (the Monte Carlo kernel keeps no cover ratio over time).
- balloon: the lump due at the balloon date T (balloon share or bullet; for a finance lease the purchase option one
  period after the last rental); refinanced when ``financing.refinancing_tenor_years`` > 0, else repaid at T from
  cash, reserves and the sponsor. LLCR_T and PLCR_T measure the CFADS after T against the balloon (NaN when the
  horizon ends at T: nothing after it can repay it).
- lender case: the same loan with the residual sale at zero and at (1 − ``lender_case_residual_haircut_share``) ×
  the base case's (a P90 proxy); DSCR and LLCR never count the residual, so they do not move; NPV, equity NPV, the
  sponsor's support and the first loan default event do. ``tokensim run`` adds the case at the Monte Carlo
  residual's 10th percentile (:func:`residual_quantile_share` over the DSCR fan's paths).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ._cashflows import LOAN_DEFAULT_REASONS, Drivers, FinanceInputs, _residual_value, cashflows

__all__ = ["debt_rate_by_month", "cover_by_month", "cover_ratios", "balloon_cover", "lender_case", "lender_case_at",
           "residual_quantile_share", "with_residual_share"]


def debt_rate_by_month(inputs: FinanceInputs) -> np.ndarray:
    """The debt's annual rate of each month 0..M on the base case (month 0 unused).

    Parameters
    ----------
    inputs : FinanceInputs
        One case's inputs, debt included.

    Returns
    -------
    ndarray of shape (M+1,)
        Fixed rate, or floating base + margin at the base case; the refinancing rate after a refinanced balloon.
    """
    fi = inputs
    base = fi.fixed_rate if fi.rate_type == "fixed" else fi.floating_base_rate + fi.floating_margin
    rates = np.full(fi.months + 1, float(np.asarray(base).reshape(-1)[0]))
    if fi.debt.refinanced_month >= 0:
        rates[fi.debt.refinanced_month + 1:] = fi.debt.refinancing_rate
    return rates


def _pv_after(cfads: np.ndarray, rates: np.ndarray, end: int) -> np.ndarray:
    """PV at each month t (0..M) of cfads of months t+1 .. end, discounted month by month at rates / 12: the
    backward recursion PV_t = (cfads_{t+1} [t+1 <= end] + PV_{t+1}) / (1 + r_{t+1} / 12), PV_M = 0."""
    months = cfads.shape[0] - 1
    pv = np.zeros(months + 1)
    for t in range(months - 1, -1, -1):
        inflow = cfads[t + 1] if t + 1 <= end else 0.0
        pv[t] = (inflow + pv[t + 1]) / (1.0 + rates[t + 1] / 12.0)
    return pv


def cover_by_month(inputs: FinanceInputs, cfads: np.ndarray, debt_balance: np.ndarray) -> tuple[np.ndarray,
                                                                                                 np.ndarray]:
    """LLCR_t and PLCR_t at every month t (the schedule's ``llcr`` and ``plcr`` columns).

    Parameters
    ----------
    inputs : FinanceInputs
        One case's inputs, debt included.
    cfads, debt_balance : ndarray of shape (M+1,)
        The schedule's CFADS and debt outstanding after each month (inputs' currency).

    Returns
    -------
    (ndarray, ndarray) of shape (M+1,)
        LLCR and PLCR (x) by month; NaN where no debt is outstanding after the month.
    """
    fi = inputs
    M = fi.months
    rates = debt_rate_by_month(fi)
    cfads = np.asarray(cfads, dtype=float)
    balance = np.asarray(debt_balance, dtype=float)
    owed = balance > 1e-9 * max(float(np.max(fi.capex_total)), 1.0)
    safe = np.where(owed, balance, 1.0)
    llcr = np.where(owed, _pv_after(cfads, rates, min(fi.debt.maturity_month, M)) / safe, np.nan)
    plcr = np.where(owed, _pv_after(cfads, rates, M) / safe, np.nan)
    return llcr, plcr


def cover_ratios(inputs: FinanceInputs, cfads: np.ndarray, debt_balance: np.ndarray) -> list[dict[str, Any]]:
    """LLCR and PLCR at the end of deliveries and at each loan-year end while debt is outstanding.

    Parameters
    ----------
    inputs : FinanceInputs
        One case's inputs, debt included.
    cfads, debt_balance : ndarray of shape (M+1,)
        The schedule's CFADS and debt outstanding after each month (inputs' currency).

    Returns
    -------
    list of dict
        ``month``, ``loan_year`` (month / 12; 0 at close), ``debt_outstanding``, ``llcr``, ``plcr``.
    """
    fi = inputs
    llcr, plcr = cover_by_month(fi, cfads, debt_balance)
    start = fi.ops_start_month - 1
    months = [start] + [t for t in range(12, fi.months, 12) if t > start]
    return [{"month": t, "loan_year": t / 12, "debt_outstanding": float(debt_balance[t]), "llcr": float(llcr[t]),
             "plcr": float(plcr[t])} for t in months if np.isfinite(llcr[t])]


def balloon_cover(inputs: FinanceInputs, cfads: np.ndarray) -> dict[str, Any] | None:
    """The balloon and its cover at the balloon date; None when the debt has no balloon.

    Parameters
    ----------
    inputs : FinanceInputs
        One case's inputs, debt included.
    cfads : ndarray of shape (M+1,)
        The schedule's CFADS (inputs' currency).

    Returns
    -------
    dict or None
        ``month`` (the balloon date), ``amount``, ``refinanced``, ``refinancing_rate`` and ``refinancing_tenor_months``
        (when refinanced), ``llcr`` and ``plcr`` at the balloon date (NaN when the horizon ends there).
    """
    fi = inputs
    debt = fi.debt
    M = fi.months
    floor = 1e-9 * max(float(np.max(fi.capex_total)), 1.0)  # the engine's money_floor: rounding is not a balloon
    refinanced = debt.refinanced_month >= 0
    if refinanced:
        month = int(debt.refinanced_month)
        amount = float(np.asarray(debt.refinanced_amount).reshape(-1)[0])
    else:
        lump = np.asarray(debt.lump, dtype=float).reshape(-1, M + 1)[0]
        if not np.any(lump > floor):
            return None
        month = int(np.flatnonzero(lump > floor)[-1])
        amount = float(lump[month])
    if amount <= floor:
        return None
    rates = debt_rate_by_month(fi)
    cfads = np.asarray(cfads, dtype=float)
    after = month < M
    out: dict[str, Any] = {"month": month, "amount": amount, "refinanced": refinanced}
    if refinanced:
        out["refinancing_rate"] = float(debt.refinancing_rate)
        out["refinancing_tenor_months"] = int(debt.maturity_month - month)
    llcr_pv = _pv_after(cfads, rates, min(debt.maturity_month, M))[month]
    out["llcr"] = llcr_pv / amount if after else float("nan")
    out["plcr"] = _pv_after(cfads, rates, M)[month] / amount if after else float("nan")
    return out


def with_residual_share(inputs: FinanceInputs, share: float) -> FinanceInputs:
    """The inputs with the residual sale scaled by ``share`` on every path (both methods: the economic value is
    gpus x max(parts, 0), and max(k x, 0) = k max(x, 0) for k >= 0)."""
    k = float(share)
    return replace(inputs, residual_percent_value=inputs.residual_percent_value * k,
                   residual_pv_revenue_per_gpu=inputs.residual_pv_revenue_per_gpu * k,
                   residual_pv_power_per_gpu=inputs.residual_pv_power_per_gpu * k,
                   residual_pv_other_per_gpu=inputs.residual_pv_other_per_gpu * k)


def residual_quantile_share(inputs: FinanceInputs, drivers: Drivers, q: float) -> float | None:
    """The q-quantile of the residual sale over the paths of ``drivers`` as a share of the base case's.

    Parameters
    ----------
    inputs : FinanceInputs
        One case's inputs.
    drivers : Drivers
        Monte Carlo paths (the residual moves with the last month's drivers).
    q : float
        Probability in [0, 1] (0.1: the P90 residual, exceeded on 90% of the paths).

    Returns
    -------
    float or None
        The share (fraction); None when the base case's residual is zero.
    """
    base = float(_residual_value(inputs, Drivers.base(inputs), np)[0])
    if not base > 0:
        return None
    return float(np.quantile(np.asarray(_residual_value(inputs, drivers, np), dtype=float), q)) / base


def lender_case_at(inputs: FinanceInputs, residual_share: float) -> dict[str, Any]:
    """The deterministic case with the residual at ``residual_share`` x the base case's (keys as in
    :func:`lender_case`'s cases)."""
    case = with_residual_share(inputs, residual_share)
    f = cashflows(case, Drivers.base(case), schedule=True)
    first = float(f.first_loan_default_month[0])
    return {
        "residual_share": float(residual_share),
        "residual_proceeds": float(f.schedule["residual_proceeds"][0, -1]),
        "npv": float(f.npv[0]), "equity_npv": float(f.equity_npv[0]), "min_dscr": float(f.min_dscr[0]),
        "llcr": float(f.llcr[0]), "sponsor_injection": float(f.sponsor_injection[0]),
        "first_loan_default_month": None if np.isnan(first) else int(first),
        "first_loan_default_reason": LOAN_DEFAULT_REASONS[int(f.first_loan_default_reason[0])],
    }


def lender_case(inputs: FinanceInputs, haircut_share: float) -> dict[str, Any]:
    """The deterministic case with the residual at zero and at (1 - ``haircut_share``) x the base case's.

    Parameters
    ----------
    inputs : FinanceInputs
        One case's inputs, debt fixed at close (the same loan in every case).
    haircut_share : float
        The P90 proxy's cut to the residual (fraction).

    Returns
    -------
    dict
        ``residual_haircut_share`` and, under ``zero_residual`` and ``p90_residual``: ``residual_share``,
        ``residual_proceeds``, ``npv``, ``equity_npv``, ``min_dscr``, ``llcr``, ``sponsor_injection``,
        ``first_loan_default_month`` (None if none) and its reason.
    """
    out: dict[str, Any] = {"residual_haircut_share": float(haircut_share)}
    for key, share in (("zero_residual", 0.0), ("p90_residual", 1.0 - float(haircut_share))):
        out[key] = lender_case_at(inputs, share)
    return out
