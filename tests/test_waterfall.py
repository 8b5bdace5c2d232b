"""The monthly cash waterfall and the tax timing of tokensim.finance.cashflows, on cases worked by hand."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from tokensim._units import HOURS_PER_MONTH
from tokensim.finance import Drivers, FinanceInputs, build_debt_schedule, cashflows

M = 24


def two_year_case(**changes) -> FinanceInputs:
    """1 GPU sold at market for 24 months; the market rent multiplier of month m is that month's revenue (rent 1 per
    GPU-month, spot utilisation 1); no opex, no tax, no residual. Capex 1,500 at close, 1,200 of it debt: straight
    line over 24 monthly payments of 50 at 0% interest."""
    capex = np.zeros(M + 1)
    capex[0] = 1500.0
    online = np.ones(M + 1)
    online[0] = 0.0
    debt = build_debt_schedule("straight_line", 1200.0, capex / 1500.0, 0.0, 12, M, M)
    inputs = FinanceInputs(
        currency="USD", months=M, gpus=1.0, gpus_per_server=1, capex_total=1500.0, capex_by_month=capex,
        online_share=online, ops_start_month=1, depreciation_by_month=np.zeros(M + 1), book_value_at_horizon=0.0,
        contract_type="spot", term_months=0, contracted_share=0.0, rent_per_gpu_month=0.0, escalator_per_year=0.0,
        usage_fee_per_million_tokens=0.0, usage_tokens_per_gpu_hour=0.0, usage_busy_share=0.0,
        usage_floor_per_gpu_hour=0.0, usage_cap_per_gpu_hour=np.inf, market_rent_per_gpu_hour=1.0 / HOURS_PER_MONTH,
        market_rent_change_per_year=0.0, spot_utilisation=1.0, vacancy_lag_months=0,
        lessee_pays_power_and_facility=False, power_busy_per_gpu_hour=0.0, power_idle_per_gpu_hour=0.0,
        facility_per_gpu_hour=0.0, maintenance_per_gpu_hour=0.0, operations_per_gpu_hour=0.0,
        insurance_per_gpu_hour=0.0, debt=debt, rate_type="fixed", fixed_rate=0.0, floating_margin=0.0,
        floating_base_rate=0.0, tax_rate=0.0, loss_carry_forward_years=0, residual_method="percent_of_cost",
        residual_percent_value=0.0, residual_pv_revenue_per_gpu=0.0, residual_pv_power_per_gpu=0.0,
        residual_pv_other_per_gpu=0.0, discount_rate=0.0, cost_of_equity=0.0, dscr_covenant=1.1,
    )
    return replace(inputs, **changes)


def run(inputs: FinanceInputs, revenue_by_month):
    base = Drivers.base(inputs)
    drivers = replace(base, market_rent_multiplier=np.array([revenue_by_month], dtype=float))
    return cashflows(inputs, drivers, schedule=True)


# Revenue of months 1..24: year 1 has two bad months (4, 5); year 2 one strong month (13), then enough to pay the
# service and the reserve, then five months without revenue (19-23) and a last month of 100.
REVENUE = [60, 60, 60, 15, 15, 60, 60, 60, 60, 60, 60, 60,
           97, 39.5, 47, 47, 47, 47, 0, 0, 0, 0, 0, 100]
WATERFALL = dict(dsra_months=3, dsra_funding="at_close", dsra_restore_months=9,
                 maintenance_reserve_per_gpu_hour=2.0 / HOURS_PER_MONTH, lockup_dscr=1.2, cash_sweep_share=0.5,
                 cash_sweep_when="lock_up", equity_cure_max_count=1)


def test_two_year_waterfall_worked_by_hand():
    """DSRA 3 months funded at close, a reserve of 2 a month, lock-up below 1.2, a 50% sweep while locked up, a
    covenant of 1.1 with one cure; every figure below is worked by hand.

    Close: the DSRA target is the service of months 1-3 = 3 x 50 = 150, paid in by the sponsor: equity -300 - 150.
    Year 1 (service 50 a month, nothing locked):
      m1-3: cash 60 - 50 = 10; DSRA at target 150; reserve 2; distribution 8.
      m4: 15 - 50 = -35 drawn from the DSRA (150 -> 115); m5: again (-> 80); nothing else.
      m6-12: 60 - 50 = 10 tops the DSRA up: 90, 100, ..., 150 at m12 (restored after 8 months, within 9).
      Test at m12: CFADS 10 x 60 + 2 x 15 = 630, service 600, DSCR 1.05 < covenant 1.1: the one cure,
      1.1 x 600 - 630 = 30, prepays debt (600 -> 570); 1.05 < 1.2 locks year 2 up.
    Year 2 (locked up): scale = 570 / 600 = 0.95 at m13.
      m13: principal 50 x 0.95 = 47.5; cash 97 - 47.5 = 49.5; DSRA target 150 x 0.95 = 142.5 releases 7.5 -> 57;
           reserve 2 -> 55; sweep 50% = 27.5 (balance 570 - 47.5 - 27.5 = 495); 27.5 trapped in the lock-up account.
      m14: scale 495 / 550 = 0.9, principal 45, DSRA target 135; 39.5 - 45 = -5.5 drawn from the DSRA (142.5 ->
           137), which then releases 2 above its target; reserve 2; nothing left.
      m15-18: 47 - 45 = 2 to the reserve.
      m19-21: no revenue: 45 a month from the DSRA (135 -> 90 -> 45 -> 0).
      m22: -45: the lock-up account's 27.5, then the sponsor injects 17.5: a payment default (the first default).
      m23: the sponsor injects 45.
      m24 (horizon): debt repaid by schedule (495 - 11 x 45 = 0); 100 - 45 = 55 plus the reserve released
           (6 in year 1 + 2 + 2 + 4 x 2 = 18) = 73 distributed.
      Test at m24: CFADS 97 + 39.5 + 4 x 47 + 100 = 424.5, service 47.5 + 11 x 45 = 542.5: DSCR 0.7825, breached.
    Equity: -450, +8 x 3, -30 (m12), -17.5 (m22), -45 (m23), +73 (m24).
    """
    f = run(two_year_case(**WATERFALL), REVENUE)
    s = {k: v[0] for k, v in f.schedule.items()}
    equity = np.zeros(M + 1)
    equity[0] = -450.0
    equity[1:4] = 8.0
    equity[12] = -30.0
    equity[22] = -17.5
    equity[23] = -45.0
    equity[24] = 73.0
    np.testing.assert_allclose(f.equity_cf[0], equity, atol=1e-9)
    dsra = [150, 150, 150, 150, 115, 80, 90, 100, 110, 120, 130, 140, 150,
            142.5, 135, 135, 135, 135, 135, 90, 45, 0, 0, 0, 0]
    np.testing.assert_allclose(s["dsra_balance"], dsra, atol=1e-9)
    assert s["dsra_draw"][4] == pytest.approx(35) and s["dsra_draw"][14] == pytest.approx(5.5)
    reserve = np.cumsum([0, 2, 2, 2] + [0] * 9 + [2, 2, 2, 2, 2, 2] + [0] * 5 + [0])
    reserve[-1] = 0.0  # released at the horizon
    np.testing.assert_allclose(s["maintenance_reserve_balance"], reserve, atol=1e-9)
    assert s["maintenance_reserve_release"][24] == pytest.approx(18)
    principal = [0] + [50] * 12 + [47.5] + [45] * 11
    np.testing.assert_allclose(s["principal_paid"], principal, atol=1e-9)
    assert s["cash_sweep"][13] == pytest.approx(27.5) and s["cash_sweep"].sum() == pytest.approx(27.5)
    assert s["equity_cure"][12] == pytest.approx(30) and f.equity_cure[0] == pytest.approx(30)
    assert f.equity_cure_count[0] == 1
    lockup = [0] * 13 + [27.5] * 9 + [0, 0, 0]
    np.testing.assert_allclose(s["lockup_balance"], lockup, atol=1e-9)
    np.testing.assert_array_equal(s["lockup_active"], [0] * 13 + [1] * 11 + [0])
    injection = np.zeros(M + 1)
    injection[22], injection[23] = 17.5, 45.0
    np.testing.assert_allclose(s["sponsor_injection"], injection, atol=1e-9)
    assert f.sponsor_injection[0] == pytest.approx(62.5) and f.sponsor_injection_months[0] == 2
    assert f.first_loan_default_month[0] == 22 and f.first_loan_default_reason[0] == 1
    np.testing.assert_allclose(f.dscr_by_year[0], [1.05, 424.5 / 542.5])
    assert f.covenant_breached[0]
    # The identity of the definitions, month by month.
    np.testing.assert_allclose(f.equity_cf[0], -s["equity_contribution"] + s["distributions"]
                               - s["sponsor_injection"] - s["equity_cure"], atol=1e-9)


def test_waterfall_switched_off_reports_the_negative_equity_flows_as_injections():
    """Without DSRA, reserve, lock-up, sweep or cures the equity flows are CFADS - service as before, and each month
    they are negative is a sponsor injection: with revenue 40 a month against service 50, 10 a month for 23 months
    (month 24's 40 - 50 is not met either: 24 months, 240); the first is a payment default in month 1."""
    f = run(two_year_case(dscr_covenant=float("nan")), [40.0] * M)
    assert f.sponsor_injection[0] == pytest.approx(240.0) and f.sponsor_injection_months[0] == 24
    np.testing.assert_allclose(f.equity_cf[0][1:], -10.0)
    assert f.first_loan_default_month[0] == 1 and f.first_loan_default_reason[0] == 1
    assert f.equity_cure[0] == 0 and not f.covenant_breached[0]


def test_dsra_not_restored_in_time_is_a_default():
    """DSRA of 3 months funded from cash: month 1 builds it (60 - 50 = 10 of 150), a revenue of 0 in month 2 draws
    the 10 (and the sponsor injects 40: a payment default); with restore window 0 the drawn DSRA, below target at the
    end of month 2, is also a default event. With revenue 60 after that, no other injection."""
    rev = [60.0, 0.0] + [60.0] * (M - 2)
    f = run(two_year_case(dscr_covenant=float("nan"), dsra_months=3, dsra_funding="from_cash",
                          dsra_restore_months=0), rev)
    s = f.schedule
    assert s["dsra_balance"][0][1] == pytest.approx(10.0) and s["dsra_draw"][0][2] == pytest.approx(10.0)
    assert f.sponsor_injection[0] == pytest.approx(40.0)
    assert f.first_loan_default_month[0] == 2 and f.first_loan_default_reason[0] == 1
    # Without the payment shortfall (a revenue of 45 in month 2: 5 drawn), only the DSRA test defaults: month 2.
    rev[1] = 45.0
    g = run(two_year_case(dscr_covenant=float("nan"), dsra_months=3, dsra_funding="from_cash",
                          dsra_restore_months=0), rev)
    assert g.sponsor_injection[0] == 0.0
    assert g.first_loan_default_month[0] == 2 and g.first_loan_default_reason[0] == 3


def test_sweep_always_prepays_a_share_of_the_cash_left():
    """cash_sweep_when=always, share 0.5, revenue 70: month 1's cash 70 - 50 = 20 sweeps 10 (balance 1,200 - 50 -
    10 = 1,140); month 2's principal is 50 x 1,140 / 1,150 (the schedule scaled pro rata)."""
    f = run(two_year_case(dscr_covenant=float("nan"), cash_sweep_share=0.5, cash_sweep_when="always"), [70.0] * M)
    s = f.schedule
    assert s["cash_sweep"][0][1] == pytest.approx(10.0)
    assert s["debt_balance"][0][1] == pytest.approx(1140.0)
    assert s["principal_paid"][0][2] == pytest.approx(50.0 * 1140.0 / 1150.0)
    assert s["distributions"][0][1] == pytest.approx(10.0)


def test_quarterly_tax_prepayment_with_an_annual_true_up():
    """Tax 25%, no debt, no losses brought in. Income: months 1-3 +100, 4-6 -100, 7-9 +200, 10-12 0 (revenue = income
    with no opex or depreciation). Quarterly: m3 pays 25% x 300 = 75; m6 nothing (year to date 0, no refund);
    m9 25% x 600 - 75 = 75; m12 the year's 25% x 600 = 150 less 150 prepaid = 0. Annual: 150 at m12."""
    rev = [100.0] * 3 + [-100.0] * 3 + [200.0] * 3 + [0.0] * 3 + [0.0] * 12
    no_debt = build_debt_schedule("straight_line", 0.0, np.r_[1.0, np.zeros(M)], 0.0, 12, M, M)
    annual = two_year_case(tax_rate=0.25, debt=no_debt, dscr_covenant=float("nan"))
    quarterly = replace(annual, tax_payment="quarterly_prepayment")
    tax_q = run(quarterly, rev).schedule["tax_levered"][0]
    tax_a = run(annual, rev).schedule["tax_levered"][0]
    expected_q = np.zeros(M + 1)
    expected_q[3], expected_q[9] = 75.0, 75.0
    np.testing.assert_allclose(tax_q, expected_q, atol=1e-9)
    expected_a = np.zeros(M + 1)
    expected_a[12] = 150.0
    np.testing.assert_allclose(tax_a, expected_a, atol=1e-9)


def test_quarterly_prepayment_uses_carried_losses_and_can_refund_at_year_end():
    """Year 1 loses 120 (-10 a month): carried into year 2. Year 2: months 13-15 +100 (ytd 300 - 120 losses = 180:
    m15 pays 45), then 0 to month 23, month 24 -200 (the year's income 100 - 120 < 0: no tax; the true-up at m24
    refunds the 45)."""
    rev = [-10.0] * 12 + [100.0] * 3 + [0.0] * 8 + [-200.0]
    no_debt = build_debt_schedule("straight_line", 0.0, np.r_[1.0, np.zeros(M)], 0.0, 12, M, M)
    fi = two_year_case(tax_rate=0.25, debt=no_debt, dscr_covenant=float("nan"), tax_payment="quarterly_prepayment",
                       loss_carry_forward_years=5)
    tax = run(fi, rev).schedule["tax_levered"][0]
    assert tax[15] == pytest.approx(45.0) and tax[24] == pytest.approx(-45.0)
    assert np.abs(np.delete(tax, [15, 24])).max() == 0.0


def test_payback_first_crossing_and_sustained():
    """No debt; capex 1,500; revenue 1,000 in month 1, -800 in month 2, 2,000 in
    month 3. Cumulative equity: -1,500, -500, -1,300, +700. First crossing: none until month 3, where it crosses:
    month 3 starts at -1,300 and adds 2,000: 2 + 1,300 / 2,000 = 2.65 months = 0.2208 y; sustained the same. With
    month 4 at -1,000 and month 5 at +1,000 (cumulative 700 -> -300 -> 700) the first crossing stays at 2.65 months
    and the sustained one moves to month 5: 4 + 300 / 1,000 = 4.3 months."""
    no_debt = build_debt_schedule("straight_line", 0.0, np.r_[1.0, np.zeros(M)], 0.0, 12, M, M)
    fi = two_year_case(debt=no_debt, dscr_covenant=float("nan"))
    f = run(fi, [1000.0, -800.0, 2000.0] + [0.0] * (M - 3))
    assert f.payback_equity_first_crossing[0] == pytest.approx(2.65 / 12)
    assert f.payback_equity[0] == pytest.approx(2.65 / 12)
    g = run(fi, [1000.0, -800.0, 2000.0, -1000.0, 1000.0] + [0.0] * (M - 5))
    assert g.payback_equity_first_crossing[0] == pytest.approx(2.65 / 12)
    assert g.payback_equity[0] == pytest.approx(4.3 / 12)
    assert math.isnan(run(fi, [0.0] * M).payback_equity_first_crossing[0])


# -- the scenario fields ----------------------------------------------------------------------------------------------
def _founding_variant(tmp_path, financing=None, tax=None):
    import yaml

    from tokensim.config.reader import config_dir

    doc = yaml.safe_load((config_dir() / "scenarios" / "b300-10k-cluster.yaml").read_text())
    doc["financing"].update(financing or {})
    doc["tax"].update(tax or {})
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_scenario_waterfall_fields_reach_the_engine(tmp_path):
    """financing's waterfall fields and tax.payment arrive in FinanceInputs; absent, each mechanism is off."""
    from tokensim.config.scenario import load_scenario
    from tokensim.resolve.finance import finance_inputs

    fi = finance_inputs(load_scenario(_founding_variant(
        tmp_path, {"dsra_months": 6, "dsra_funding": "from_cash", "dsra_restore_months": 3,
                   "maintenance_reserve_per_gpu_hour": 0.1, "lockup_dscr": 1.3, "cash_sweep_share": 0.5,
                   "cash_sweep_when": "always", "equity_cure_max_count": 2}, {"payment": "annual"})))
    assert (fi.dsra_months, fi.dsra_funding, fi.dsra_restore_months, fi.maintenance_reserve_per_gpu_hour,
            fi.lockup_dscr, fi.cash_sweep_share, fi.cash_sweep_when, fi.equity_cure_max_count, fi.tax_payment) == \
        (6, "from_cash", 3, 0.1, 1.3, 0.5, "always", 2, "annual")
    bare = finance_inputs(load_scenario("us-b300-neocloud-usage"))
    assert (bare.dsra_months, bare.maintenance_reserve_per_gpu_hour, bare.cash_sweep_share,
            bare.equity_cure_max_count, bare.tax_payment) == (0, 0.0, 0.0, 0, "annual")
    assert math.isnan(bare.lockup_dscr)


@pytest.mark.parametrize(("financing", "tax", "field"), [
    ({"cash_sweep_when": "sometimes"}, None, "financing.cash_sweep_when"),
    ({"dsra_months": -1}, None, "financing.dsra_months"),
    ({"cash_sweep_share": 1.5}, None, "financing.cash_sweep_share"),
    ({"equity_cure_max_count": 2, "dscr_covenant": None}, None, "financing.equity_cure_max_count"),
    (None, {"payment": "monthly"}, "tax.payment"),
])
def test_bad_waterfall_fields_exit_2_naming_the_field(tmp_path, financing, tax, field):
    """A bad waterfall or tax-timing field is one error line naming it, exit status 2."""
    from click.testing import CliRunner

    from tokensim.cli import cli

    res = CliRunner().invoke(cli, ["finance", str(_founding_variant(tmp_path, financing, tax))])
    assert res.exit_code == 2 and field in res.output and "Traceback" not in res.output
