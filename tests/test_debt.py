"""Debt schedules fixed at close (tokensim.finance._debt): annuity, straight line, bullet, balloon, lease, sculpted."""

from __future__ import annotations

import numpy as np
import numpy_financial as npf
import pytest

from tokensim.finance._debt import build_debt_schedule, level_payment

B = 6.3e9  # the founding case's debt: 90% of RMB 7 bn


def at_close(months: int) -> np.ndarray:
    shares = np.zeros(months + 1)
    shares[0] = 1.0
    return shares


def service_by_month(schedule, annual_rate: float, payments_per_year: int) -> np.ndarray:
    """Interest accrued monthly at rate/12 on the balance and paid on payment months, plus principal: the engine's
    convention, rebuilt here independently of the engine."""
    months = schedule.principal.shape[1] - 1
    balance, accrued = schedule.draws[0, 0] - schedule.principal[0, 0], 0.0
    out = np.zeros(months + 1)
    out[0] = schedule.principal[0, 0]
    for m in range(1, months + 1):
        accrued += balance * annual_rate / 12
        interest = accrued if schedule.payment_month[m] else 0.0
        if schedule.payment_month[m]:
            accrued = 0.0
        balance += schedule.draws[0, m] - schedule.principal[0, m]
        out[m] = interest + schedule.principal[0, m]
    return out


def test_annuity_monthly_payment_matches_the_closed_form():
    """A 5-year monthly annuity on RMB 6.3 bn at 4% pays P = B i / (1 - (1+i)^-60), i = 0.04/12, every month
    (= RMB 116.02 m; npf.pmt as a second oracle) and repays B exactly."""
    s = build_debt_schedule("annuity", B, at_close(60), 0.04, 12, 60, 60)
    i = 0.04 / 12
    closed_form = B * i / (1 - (1 + i) ** -60)
    assert closed_form == pytest.approx(-npf.pmt(i, 60, B), rel=1e-12)
    service = service_by_month(s, 0.04, 12)
    assert service[1:] == pytest.approx(np.full(60, closed_form), rel=1e-10)
    assert s.principal.sum() == pytest.approx(B, rel=1e-12)


def test_annuity_with_annual_payments_matches_the_reference():
    """With one payment a year the 5-year annuity on RMB 6.3 bn at 4% is RMB 1.415 bn a year
    (economics-reference.md 4.3, equity table; npf.pmt(0.04, 5, 6.3e9) = 1.41514e9), paid in months 12..60."""
    s = build_debt_schedule("annuity", B, at_close(60), 0.04, 1, 60, 60)
    service = service_by_month(s, 0.04, 1)
    assert np.flatnonzero(service).tolist() == [12, 24, 36, 48, 60]
    assert service[12] == pytest.approx(1.415e9, rel=1e-3)
    assert service[[12, 24, 36, 48, 60]] == pytest.approx(np.full(5, -npf.pmt(0.04, 5, B)), rel=1e-10)


def test_balloon_annuity_matches_the_reference():
    """A 5-year annual annuity with a 30% balloon pays (B - 0.3 B v^5) i / (1 - v^5) = RMB 1.066 bn a year
    (economics-reference.md 4.3) and 0.3 B with the last payment, flagged as the lump."""
    s = build_debt_schedule("annuity", B, at_close(60), 0.04, 1, 60, 60, balloon_share=0.3)
    v5 = 1.04 ** -5
    payment = (B - 0.3 * B * v5) * 0.04 / (1 - v5)
    assert payment == pytest.approx(1.066e9, rel=1e-3)
    service = service_by_month(s, 0.04, 1)
    assert service[12] == pytest.approx(payment, rel=1e-10)
    assert service[60] == pytest.approx(payment + 0.3 * B, rel=1e-10)
    assert s.lump[0, 60] == pytest.approx(0.3 * B, rel=1e-10) and s.lump[0, :60].sum() == 0


def test_straight_line_principal_and_declining_interest():
    """Straight-line repays B/n each period; period k's interest is i x B (1 - (k-1)/n)."""
    n = 20
    s = build_debt_schedule("straight_line", 1000.0, at_close(60), 0.08, 4, 60, 60)
    repay = s.principal[0, 3::3]
    assert repay == pytest.approx(np.full(n, 1000.0 / n))
    service = service_by_month(s, 0.08, 4)[3::3]
    k = np.arange(1, n + 1)
    assert service == pytest.approx(1000.0 / n + 0.02 * 1000.0 * (1 - (k - 1) / n), rel=1e-10)


def test_bullet_pays_interest_only_then_everything():
    """A bullet pays B i each period and B at maturity; all of B is the lump (left out of DSCR)."""
    s = build_debt_schedule("bullet", 500.0, at_close(24), 0.06, 2, 24, 24)
    service = service_by_month(s, 0.06, 2)
    assert service[[6, 12, 18]] == pytest.approx(np.full(3, 500.0 * 0.03))
    assert service[24] == pytest.approx(500.0 * 1.03)
    assert s.lump[0, 24] == pytest.approx(500.0)


def test_finance_lease_pays_level_rentals_in_advance():
    """A finance lease pays P = B i / ((1 - (1+i)^-n)(1+i)) at the start of each period, the first at close
    (npf.pmt with when='begin' as oracle), and is repaid after the last."""
    s = build_debt_schedule("finance_lease", B, at_close(60), 0.04, 12, 60, 60)
    i = 0.04 / 12
    payment = -npf.pmt(i, 60, B, when="begin")
    assert level_payment(B, i, 60, advance=True) == pytest.approx(payment, rel=1e-12)
    service = service_by_month(s, 0.04, 12)
    assert service[:60] == pytest.approx(np.full(60, payment), rel=1e-9)
    assert abs(service[60]) < 1e-3 * payment  # nothing left but rounding
    assert s.principal.sum() == pytest.approx(B, rel=1e-12)


def test_sculpted_service_is_cfads_over_target_each_period():
    """With CFADS of 10 a month rising 1% a month, sculpting to DSCR 1.25 sets every monthly service to
    CFADS / 1.25 and cuts the debt to PV(service) at 6%/12 when more was asked."""
    months = 36
    cfads = np.zeros((1, months + 1))
    cfads[0, 1:] = 10.0 * 1.01 ** np.arange(months)
    s = build_debt_schedule("sculpted", 1e6, at_close(months), 0.06, 12, months, months, cfads=cfads,
                            target_dscr=1.25)
    i = 0.005
    pv = (cfads[0, 1:] / 1.25 * (1 + i) ** -np.arange(1, months + 1)).sum()
    assert s.amount[0] == pytest.approx(pv, rel=1e-12) and s.sized_down[0]
    service = service_by_month(s, 0.06, 12)
    assert cfads[0, 1:] / service[1:] == pytest.approx(np.full(months, 1.25), rel=1e-9)


def test_sculpted_keeps_a_smaller_debt_and_a_higher_constant_dscr():
    """When the debt asked is below CFADS capacity it is kept, and the DSCR is the same in every period."""
    months = 24
    cfads = np.zeros((1, months + 1))
    cfads[0, 1:] = 10.0
    s = build_debt_schedule("sculpted", 100.0, at_close(months), 0.0, 12, months, months, cfads=cfads,
                            target_dscr=1.2)
    service = service_by_month(s, 0.0, 12)
    assert s.amount[0] == 100.0 and not s.sized_down[0]
    assert cfads[0, 1:] / service[1:] == pytest.approx(np.full(months, 240.0 / 100.0))


def test_repayment_starts_after_the_last_delivery():
    """Debt drawn at months 0 and 6 pays interest only until month 6, then amortises to the tenor."""
    shares = np.zeros(61)
    shares[[0, 6]] = 0.5
    s = build_debt_schedule("annuity", 100.0, shares, 0.05, 12, 60, 60)
    assert s.principal[0, :7].sum() == 0 and s.principal[0, 7] > 0
    assert s.maturity_month == 60 and s.principal.sum() == pytest.approx(100.0)
    assert s.draws[0, [0, 6]] == pytest.approx([50.0, 50.0])


def test_schedules_are_vectorised_over_rows():
    """An array of amounts gives one schedule row per amount, each scaling the unit schedule."""
    s = build_debt_schedule("annuity", np.array([1.0, 2.0, 3.0]), at_close(12), 0.1, 12, 12, 12)
    assert s.principal.shape == (3, 13)
    assert s.principal[2] == pytest.approx(3 * s.principal[0])
