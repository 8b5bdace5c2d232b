"""Debt schedules fixed at financial close: draws and principal by month for each amortisation profile.

Conventions (the finance engine, :func:`tokensim.finance.cashflows`, follows them month by month):

- Months run 0..M from financial close. Debt is drawn with the capex it funds (``draw_shares`` by month).
- Interest accrues monthly on the outstanding balance at the annual nominal rate / 12 and is paid at each payment
  month; payments fall every 12 / ``payments_per_year`` months. With a constant rate the interest of one period is
  balance × rate / payments_per_year, the periodic rate ``i`` of the closed forms below.
- Repayment starts after the last delivery month ``s`` (before it, payment months carry interest only) and ends at
  maturity = the last payment month not after the tenor (months from close).
- ``annuity``: level payment P = (B − bB(1+i)^−n) · i / (1 − (1+i)^−n) in arrears (n payments, balloon share b
  repaid with the last); principal = P − interest.
- ``straight_line``: equal principal B(1 − b)/n per payment, plus the balloon bB with the last.
- ``bullet``: interest only, the whole principal at maturity.
- ``finance_lease``: level rental in advance (the first at month s): P = (B − bB(1+i)^−n) · i / ((1 − (1+i)^−n)(1+i)),
  the purchase option / balloon bB at maturity (s + n periods).
- ``sculpted``: debt service of each period = CFADS of that period (base case) / target DSCR, so every period's DSCR
  equals the target; the debt is the lesser of the amount asked and the PV of that service at ``i`` (it is sized
  down when CFADS cannot carry the amount at the target, and the service scaled so it repays exactly otherwise).
- refinancing (``refinancing_tenor_months`` > 0): the balloon (or bullet) B due at maturity T is not repaid there
  but refinanced at ``refinancing_rate`` r_f as a level annuity over the tail, n_f = tail months / (12 /
  payments_per_year) payments in arrears from T + one period: P_f = B · i_f / (1 − (1+i_f)^−n_f), i_f =
  r_f / payments_per_year; interest accrues at r_f / 12 a month from month T + 1. The tail's service is scheduled
  service (in the DSCR: the refinancing DSCR), the maturity moves to T + tail, and ``refinanced_month`` = T.

The principal schedule is computed once at the rate at close and kept: on a Monte Carlo path a floating base rate
changes the interest paid, not the principal (for an annuity the payment then floats, like a loan whose amortisation
table is fixed at signing). Every function works on R rows at once (R = 1 for one debt, or one per candidate rent
in the solvers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["DebtTerms", "DebtSchedule", "level_payment", "build_debt_schedule", "payment_calendar", "financing_fees"]


@dataclass(frozen=True)
class DebtTerms:
    """The terms a debt is signed on at financial close; :func:`tokensim.finance.debt_at_close` turns them into a
    :class:`DebtSchedule` (sculpting on the base case's CFADS when ``amortisation`` is ``sculpted``).

    Parameters
    ----------
    amortisation : str
        ``annuity``, ``straight_line``, ``bullet``, ``finance_lease`` or ``sculpted``.
    amount : float or ndarray of shape (rows,)
        Debt asked for, in the inputs' currency (sculpting may size it down).
    annual_rate : float or ndarray of shape (rows,)
        Nominal annual interest rate at close (fraction); rows sculpted together share one value.
    payments_per_year : int
        Debt-service payments per year (12 divisible by it).
    tenor_months : int
        Months from close to the last scheduled repayment.
    balloon_share : float or ndarray of shape (rows,), optional
        Share of ``amount`` repaid with the last payment (annuity, straight line, finance lease).
    target_dscr : float, optional
        The DSCR each period's debt service is sculpted to (x); needed for ``sculpted``.
    sizing_dscr : float, optional
        Size a debt of any other profile to this minimum DSCR (x): the amount is the lesser of ``amount`` (the
        maximum gearing x capex) and the debt whose lowest loan-year DSCR on the sizing case equals it
        (:func:`tokensim.finance.size_debt`). None: the debt is ``amount``.
    sizing_revenue_haircut_share : float, optional
        The sizing case: the base case with every revenue price (contract rent, usage fee with its floor and cap,
        market rent) cut by this share, so revenue is (1 - share) x the base case's (fraction; 0 = the base case,
        P50). Sculpted debt is sculpted on this case's CFADS too.
    upfront_fee_share, commitment_fee_per_year, lease_handling_fee_share, lease_deposit_share : float, optional
        The financing fees (:func:`financing_fees`): fractions of the debt amount (the commitment fee a fraction of
        the undrawn amount per year).
    refinancing_tenor_months : int, optional
        The tail: months over which the balloon due at maturity is refinanced (0: repaid at maturity).
    refinancing_rate : float, optional
        Annual rate of the refinanced balloon (fraction; None: ``annual_rate``).
    """

    amortisation: str
    amount: Any
    annual_rate: Any
    payments_per_year: int
    tenor_months: int
    balloon_share: Any = 0.0
    target_dscr: float | None = None
    sizing_dscr: float | None = None
    sizing_revenue_haircut_share: float = 0.0
    upfront_fee_share: float = 0.0
    commitment_fee_per_year: float = 0.0
    lease_handling_fee_share: float = 0.0
    lease_deposit_share: float = 0.0
    refinancing_tenor_months: int = 0  # tail over which a balloon is refinanced (0 = repaid at maturity)
    refinancing_rate: float | None = None  # annual rate of the refinanced balloon (None = annual_rate)


@dataclass(frozen=True)
class DebtSchedule:
    """Draws, principal repayments and payment months of a debt, for R rows; arrays indexed by month 0..M."""

    kind: str
    amount: np.ndarray  # (R,) debt drawn in total
    draws: np.ndarray  # (R, M+1)
    principal: np.ndarray  # (R, M+1) scheduled repayments
    lump: np.ndarray  # (R, M+1) the balloon or bullet part of ``principal`` (left out of DSCR)
    payment_month: np.ndarray  # (M+1,) bool: accrued interest (and principal) are paid in these months
    maturity_month: int
    repayment_months: np.ndarray  # the months with scheduled principal, in order
    periodic_rate: Any  # rate at close / payments per year; (R,) when rows with several rates are stacked
    sized_down: np.ndarray  # (R,) bool: sculpting cut the debt below the amount asked
    fees: Any = None  # (R, M+1) financing fees and deposits the sponsor pays (refunds negative); None = none
    refinanced_month: int = -1  # the original maturity when its balloon is refinanced over a tail; -1 = none
    refinancing_rate: float = float("nan")  # annual rate charged from refinanced_month + 1
    refinanced_amount: Any = None  # (R,) the balloon refinanced at refinanced_month; None = none


def level_payment(balance, periodic_rate, n, balloon_share=0.0, advance=False):
    """Level payment that repays ``balance`` in n periods at ``periodic_rate``, leaving ``balloon_share`` of it to
    the end; in advance (first payment at once) when ``advance``."""
    balance = np.asarray(balance, dtype=float)
    i = float(periodic_rate)
    if abs(i) < 1e-15:
        return balance * (1.0 - balloon_share) / n
    v_n = (1.0 + i) ** (-n)
    payment = (balance - balloon_share * balance * v_n) * i / (1.0 - v_n)
    return payment / (1.0 + i) if advance else payment


def financing_fees(schedule: DebtSchedule, terms: DebtTerms) -> np.ndarray:
    """The financing fees and deposits of a debt by month, paid by the sponsor (equity), refunds negative.

    - upfront (arrangement) fee: ``upfront_fee_share`` x the debt amount (the commitment), at close (month 0);
    - commitment fee: ``commitment_fee_per_year`` / 12 x the amount still undrawn at the start of month m (amount -
      draws of months 0..m-1), paid monthly during the draws (month 1 to the last draw month); 0 when all is drawn
      at close;
    - finance lease: the handling fee ``lease_handling_fee_share`` x amount at close, and the security deposit
      ``lease_deposit_share`` x amount paid at close and refunded without interest at maturity (assumption: no
      interest on the deposit; refunded within the horizon, which runs to maturity).

    Fees are not debt service (no DSCR or LLCR effect) and are not deducted for tax (assumption: conservative; PRC
    practice capitalises or amortises loan fees).

    Parameters
    ----------
    schedule : DebtSchedule
        The debt fixed at close (its amount, draws and maturity).
    terms : DebtTerms
        The fee rates.

    Returns
    -------
    ndarray of shape (R, M+1)
        Fees by month in the debt's currency.
    """
    months = schedule.draws.shape[1]
    amount = schedule.amount[:, None]
    fees = np.zeros_like(schedule.draws)
    upfront = terms.upfront_fee_share
    deposit = 0.0
    if schedule.kind == "finance_lease":
        upfront = upfront + terms.lease_handling_fee_share
        deposit = terms.lease_deposit_share
    fees[:, 0] = (upfront + deposit) * schedule.amount
    if terms.commitment_fee_per_year:
        drawn_before = np.cumsum(schedule.draws, axis=1) - schedule.draws  # draws of months 0..m-1
        undrawn = np.maximum(amount - drawn_before, 0.0)
        undrawn[:, 0] = 0.0
        fees += terms.commitment_fee_per_year / 12.0 * undrawn
    if deposit:  # refunded at maturity (at the horizon if the debt matures later: repaid there too)
        fees[:, min(schedule.maturity_month, months - 1)] -= deposit * schedule.amount
    return fees


def payment_calendar(months: int, payments_per_year: int, repayment_start: int, tenor_months: int,
                     advance: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """(payment-month flags, repayment months, maturity month) for a debt.

    Interest-only payments every period until ``repayment_start``; repayments every period from
    ``repayment_start`` (advance) or one period later (arrears) up to the tenor; maturity = the last repayment
    month, or for advance the period after the last rental (when the balloon falls due).
    """
    step = 12 // payments_per_year
    n = (tenor_months - repayment_start) // step
    if n < 1:
        raise ValueError("tenor shorter than one payment period after the last delivery")
    first = repayment_start if advance else repayment_start + step
    repay = np.array([first + k * step for k in range(n)], dtype=int)
    maturity = int(repayment_start + n * step)
    flags = np.zeros(max(months, maturity) + 1, dtype=bool)
    flags[np.arange(step, repayment_start + 1, step)] = True  # interest during delivery
    flags[repay] = True
    flags[maturity] = True
    return flags[: months + 1], repay, maturity


def build_debt_schedule(kind: str, amount, draw_shares: np.ndarray, annual_rate: float, payments_per_year: int,
                        tenor_months: int, months: int, *, balloon_share: float = 0.0,
                        cfads: np.ndarray | None = None, target_dscr: float | None = None,
                        refinancing_tenor_months: int = 0, refinancing_rate: float | None = None) -> DebtSchedule:
    """The schedule of a debt of ``amount`` (scalar or (R,)) drawn by ``draw_shares`` (by month, summing to 1).

    ``cfads`` (R, M+1) is the base-case cash flow available for debt service by month, needed for ``sculpted``.
    Repayments scheduled after month M stay outstanding at the horizon (the engine repays them from the residual).
    ``refinancing_tenor_months`` > 0 refinances the balloon at maturity over that tail at ``refinancing_rate``
    (annual; default ``annual_rate``): see the module docstring.
    """
    amount = np.atleast_1d(np.asarray(amount, dtype=float))
    rows = amount.shape[0] if cfads is None else max(amount.shape[0], cfads.shape[0])
    amount = np.broadcast_to(amount, (rows,)).copy()
    draw_shares = np.asarray(draw_shares, dtype=float)
    repayment_start = int(np.flatnonzero(draw_shares)[-1]) if draw_shares.any() else 0
    advance = kind == "finance_lease"
    flags, repay, maturity = payment_calendar(months, payments_per_year, repayment_start, tenor_months, advance)
    step = 12 // payments_per_year
    i = annual_rate / payments_per_year
    n = len(repay)
    sized_down = np.zeros(rows, dtype=bool)
    length = max(months, maturity) + 1
    due = np.zeros((rows, length))  # principal by month, possibly beyond the horizon
    lump = np.zeros((rows, length))

    if kind == "sculpted":
        if cfads is None or target_dscr is None:
            raise ValueError("sculpted debt needs base-case cfads and a target DSCR")
        cf = np.zeros((rows, length))
        cf[:, : months + 1] = np.broadcast_to(cfads, (rows, months + 1))
        period_cf = np.stack([cf[:, p - step + 1: p + 1].sum(axis=1) for p in repay], axis=1)  # (R, n)
        period_cf = np.maximum(period_cf, 0.0)
        discount = (1.0 + i) ** -np.arange(1, n + 1)
        capacity = (period_cf * discount).sum(axis=1) / target_dscr
        sized_down = amount > capacity * (1 + 1e-12)
        amount = np.minimum(amount, capacity)
        pv_cf = (period_cf * discount).sum(axis=1)
        scale = np.divide(amount, pv_cf, out=np.zeros(rows), where=pv_cf > 0)
        service = period_cf * scale[:, None]
    balance = amount.copy()
    if kind in ("annuity", "finance_lease"):
        payment = level_payment(amount, i, n, balloon_share, advance)
    for k, month in enumerate(repay):
        interest = 0.0 if (advance and k == 0) else balance * i
        if kind in ("annuity", "finance_lease"):
            principal = payment - interest
        elif kind == "straight_line":
            principal = amount * (1.0 - balloon_share) / n
        elif kind == "bullet":
            principal = np.zeros(rows)
        elif kind == "sculpted":
            principal = service[:, k] - interest
        else:
            raise ValueError(f"unknown amortisation {kind!r}")
        principal = np.minimum(principal, balance)
        if not advance and k == n - 1:
            if kind != "sculpted":
                lump[:, month] = balance - principal  # balloon (bullet: everything)
            principal = balance.copy()  # the last payment clears the balance (balloon, bullet, rounding)
        due[:, month] += principal
        balance = balance - principal
    if advance:
        due[:, maturity] += balance  # the balloon / purchase option, one period after the last rental
        lump[:, maturity] += balance
    refinanced_month, refi_rate, refinanced = -1, float("nan"), None
    if refinancing_tenor_months > 0 and np.any(lump[:, maturity] > 1e-9 * np.maximum(amount, 1.0)):  # not rounding
        refi_rate = float(annual_rate if refinancing_rate is None else refinancing_rate)
        n_tail = int(refinancing_tenor_months) // step
        refinanced = lump[:, maturity].copy()
        due[:, maturity] -= refinanced  # not repaid at maturity: refinanced over the tail
        lump[:, maturity] = 0.0
        tail = maturity + step * np.arange(1, n_tail + 1)
        length = max(months, int(tail[-1])) + 1
        due = np.pad(due, ((0, 0), (0, length - due.shape[1])))
        lump = np.pad(lump, ((0, 0), (0, length - lump.shape[1])))
        i_f = refi_rate / payments_per_year
        payment = level_payment(refinanced, i_f, n_tail)
        balance = refinanced.copy()
        for k, month in enumerate(tail):
            principal = balance.copy() if k == n_tail - 1 else np.minimum(payment - balance * i_f, balance)
            due[:, month] += principal
            balance = balance - principal
        flags = flags.copy()
        flags[tail[tail <= months]] = True
        refinanced_month = maturity
        repay = np.concatenate([repay, tail])
        maturity = int(tail[-1])
    draws = amount[:, None] * draw_shares[None, : months + 1]
    principal = due[:, : months + 1].copy()
    return DebtSchedule(kind=kind, amount=amount, draws=draws, principal=principal,
                        lump=lump[:, : months + 1].copy(), payment_month=flags,
                        maturity_month=maturity, repayment_months=repay, periodic_rate=i, sized_down=sized_down,
                        refinanced_month=refinanced_month, refinancing_rate=refi_rate, refinanced_amount=refinanced)
