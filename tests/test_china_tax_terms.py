"""Issue 13 Build 4 and 5 in tokensim.finance.cashflows and the scenario: VAT with its receivable and surtaxes, the
high- and new-technology enterprise rate, working capital, the SLA credit from availability, termination payments
on a tenant default, spares and the exchange-rate move on USD-priced capex; every figure worked by hand."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from test_waterfall import M, run, two_year_case

from tokensim import ConfigError
from tokensim._units import HOURS_PER_MONTH
from tokensim.cli import cli
from tokensim.config.reader import config_dir
from tokensim.config.scenario import load_scenario
from tokensim.finance import DAYS_PER_MONTH, Drivers, availability_share, cashflows, sla_credit_share
from tokensim.resolve.finance import finance_inputs

FOUNDING = config_dir() / "scenarios" / "b300-10k-cluster.yaml"


def variant(tmp_path, mutate):
    doc = copy.deepcopy(yaml.safe_load(FOUNDING.read_text()))
    mutate(doc)
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_vat_receivable_is_recovered_against_output_vat_then_vat_is_paid_with_surtaxes():
    """Capex 1,500 at close (1,200 of it debt, 50 a month at 0%), revenue 100 a month, no opex and no income tax.
    VAT in 13%, out 13%, surtaxes 12% of the VAT paid.

    Close: input VAT 0.13 x 1,500 = 195 paid by the sponsor (not financed): project -1,695, equity -1,500 - 195 +
    1,200 = -495.
    m1-15: output VAT 13 a month recovers the receivable: 195 / 13 = 15 months exactly (195 -> 182 -> ... -> 0);
      nothing paid, no surtax; EBITDA 100, CFADS 100 + 13 = 113, equity 113 - 50 = 63.
    m16-24: VAT paid 13 a month, surtax 0.12 x 13 = 1.56 (an opex): EBITDA 98.44 = CFADS; equity 48.44.
    DSCR: year 1 12 x 113 / 600 = 2.26; year 2 (3 x 113 + 9 x 98.44) / 600 = 1,224.96 / 600.
    Project cash: -1,695 + 15 x 113 + 9 x 98.44 = 885.96, the 195 fully recovered.
    """
    f = run(two_year_case(vat_input_rate=0.13, vat_output_rate=0.13, vat_surtax_share=0.12), [100.0] * M)
    s = {k: v[0] for k, v in f.schedule.items()}
    project = np.array([-1695.0] + [113.0] * 15 + [98.44] * 9)
    np.testing.assert_allclose(f.project_cf[0], project, atol=1e-9)
    np.testing.assert_allclose(f.project_cf_pre_tax[0], project, atol=1e-9)
    equity = np.array([-495.0] + [63.0] * 15 + [48.44] * 9)
    np.testing.assert_allclose(f.equity_cf[0], equity, atol=1e-9)
    np.testing.assert_allclose(s["vat_receivable_balance"], [195.0 - 13.0 * min(m, 15) for m in range(M + 1)],
                               atol=1e-9)
    np.testing.assert_allclose(s["vat_recovered"][1:], [13.0] * 15 + [0.0] * 9, atol=1e-9)
    np.testing.assert_allclose(s["vat_paid"][1:], [0.0] * 15 + [13.0] * 9, atol=1e-9)
    np.testing.assert_allclose(s["opex_vat_surtax"][1:], [0.0] * 15 + [1.56] * 9, atol=1e-9)
    np.testing.assert_allclose(s["cfads"][1:], [113.0] * 15 + [98.44] * 9, atol=1e-9)
    assert s["vat_input_paid"][0] == pytest.approx(195.0) and s["equity_contribution"][0] == pytest.approx(495.0)
    np.testing.assert_allclose(f.dscr_by_year[0], [2.26, 1224.96 / 600.0])
    assert f.project_cf[0].sum() == pytest.approx(885.96)
    # the equity identity holds with the VAT in the contribution
    np.testing.assert_allclose(f.equity_cf[0], -s["equity_contribution"] + s["distributions"]
                               - s["sponsor_injection"] - s["equity_cure"], atol=1e-9)


def test_vat_receivable_left_at_the_horizon_is_lost():
    """Output VAT 6% (IT services) on 100 a month recovers 6 a month: 24 x 6 = 144 of the 195, 51 left and lost; no
    VAT paid, so no surtax."""
    f = run(two_year_case(vat_input_rate=0.13, vat_output_rate=0.06, vat_surtax_share=0.12), [100.0] * M)
    s = {k: v[0] for k, v in f.schedule.items()}
    assert s["vat_receivable_balance"][M] == pytest.approx(51.0)
    assert s["vat_recovered"].sum() == pytest.approx(144.0) and s["opex_vat_surtax"].sum() == 0.0
    assert f.project_cf[0].sum() == pytest.approx(-1695.0 + 24 * 106.0)


def test_working_capital_lags_cash_behind_the_pnl_and_is_released_at_the_horizon():
    """Receivables 1.5 months of revenue, payables 0.5 month of opex (days = months x 365 / 12). Revenue 60 a month
    in year 1, 120 in year 2; opex (maintenance) 20 a month; no tax.

    m1: receivables 1.5 x 60 = 90, payables 0.5 x 20 = 10: change 90 - 10 = 80; CFADS = 40 - 80 = -40; with the
      50 of debt service the sponsor injects 90.
    m2-12: balances flat: CFADS = EBITDA = 40.
    m13: receivables 180 (+90): CFADS = 100 - 90 = 10.
    m14-23: CFADS 100.
    m24 (horizon): both settle: receivables -180, payables -10: change -170; CFADS = 100 + 170 = 270.
    Over the horizon CFADS = EBITDA: -40 + 11 x 40 + 10 + 10 x 100 + 270 = 1,680 = 12 x 40 + 12 x 100.
    """
    inputs = two_year_case(receivable_days=1.5 * DAYS_PER_MONTH, payable_days=0.5 * DAYS_PER_MONTH,
                           maintenance_per_gpu_hour=20.0 / HOURS_PER_MONTH)
    f = run(inputs, [60.0] * 12 + [120.0] * 12)
    s = {k: v[0] for k, v in f.schedule.items()}
    cfads = [-40.0] + [40.0] * 11 + [10.0] + [100.0] * 10 + [270.0]
    np.testing.assert_allclose(s["cfads"][1:], cfads, atol=1e-9)
    np.testing.assert_allclose(s["working_capital_change"][[1, 2, 13, 24]], [80.0, 0.0, 90.0, -170.0], atol=1e-9)
    assert s["receivables_balance"][12] == pytest.approx(90.0) and s["receivables_balance"][M] == 0.0
    assert s["payables_balance"][5] == pytest.approx(10.0) and s["payables_balance"][M] == 0.0
    assert s["sponsor_injection"][1] == pytest.approx(90.0)
    assert s["cfads"].sum() == pytest.approx(1680.0) == s["ebitda"].sum()
    # project cash flow carries the same lag: -1,500 at close, then CFADS (no tax)
    np.testing.assert_allclose(f.project_cf[0], [-1500.0, *cfads], atol=1e-9)


def test_availability_from_failures_and_spares_and_the_sla_credit():
    """Meta's Llama 3 run (arXiv:2407.21783, table 5): 148 faulty-GPU + 72 HBM3 interruptions in 54 days on 16,384
    GPUs = 220 / 16,384 x 365 / 54 a GPU-year. Out for 10 days each: 0.0134277 x 10 / 54 = 0.0024866 of the fleet
    down; availability 0.9975134. Against a 99.9% target: 0.14866 points short; at 0.1 of the month's rent a point
    the credit is 1.4866%. Spares of 0.3% of the servers cover the 0.249% down: availability 1, no credit. A credit
    of 0.5 a point on 5 points short would be 2.5 months' rent: capped at the whole month (1)."""
    rate = 220 / 16384 * 365 / 54
    down = 220 / 16384 * 10 / 54
    assert availability_share(rate, 10.0, 0.0) == pytest.approx(1 - down, abs=1e-15)
    assert sla_credit_share(1 - down, 0.999, 0.1) == pytest.approx(0.1 * (0.999 - (1 - down)) * 100, abs=1e-12)
    assert sla_credit_share(1 - down, 0.999, 0.1) == pytest.approx(0.014866, abs=1e-6)
    assert availability_share(rate, 10.0, 0.003) == 1.0
    assert sla_credit_share(1.0, 0.999, 0.1) == 0.0
    assert sla_credit_share(0.94, 0.99, 0.5) == 1.0


def contract_case(**changes):
    """The two-year case as a 24-month fixed contract on the 1 GPU: rent 100 a GPU-month, +10% from year 2."""
    return two_year_case(contract_type="fixed", term_months=24, contracted_share=1.0, rent_per_gpu_month=100.0,
                         escalator_per_year=0.1, **changes)


def run_default(inputs, default_month):
    """No market revenue; the tenant defaults in 0-based month ``default_month`` (its first month without rent)."""
    base = Drivers.base(inputs)
    drivers = replace(base, market_rent_multiplier=np.zeros((1, M)),
                      tenant_default_month=np.array([default_month], dtype=np.int64))
    return cashflows(inputs, drivers, schedule=True)


def test_sla_credit_and_termination_payment_on_a_tenant_default():
    """SLA credit 2% of contract revenue; termination payment 6 months' rent, 50% recovered.

    Default in operating month 10 (index 9): months 1-9 rent 100, credit 2, revenue 98; month 10: no rent, the
    payment 0.5 x min(6, 24 - 9) x 100 = 300 (no SLA credit on it); months 11-24 nothing (no market revenue).
    Default in month 21 (index 20): 4 months of the term left, escalated rent 110: 0.5 x 4 x 110 = 220.
    """
    inputs = contract_case(sla_credit_share=0.02, termination_payment_months_of_rent=6.0,
                           termination_recovery_share=0.5)
    s = {k: v[0] for k, v in run_default(inputs, 9).schedule.items()}
    np.testing.assert_allclose(s["revenue"][1:], [98.0] * 9 + [300.0] + [0.0] * 14, atol=1e-9)
    np.testing.assert_allclose(s["revenue_sla_credit"][1:], [2.0] * 9 + [0.0] * 15, atol=1e-9)
    assert s["revenue_termination"][10] == pytest.approx(300.0)
    assert s["revenue_termination"].sum() == pytest.approx(300.0)
    late = {k: v[0] for k, v in run_default(inputs, 20).schedule.items()}
    assert late["revenue_termination"][21] == pytest.approx(220.0)
    assert late["revenue_termination"].sum() == pytest.approx(220.0)
    np.testing.assert_allclose(late["revenue"][13:21], [110.0 * 0.98] * 8, atol=1e-9)
    # No default: no termination payment; a default after the term ends (index 24 = never) pays nothing either.
    never = {k: v[0] for k, v in run_default(inputs, M).schedule.items()}
    assert never["revenue_termination"].sum() == 0.0


def test_spares_and_the_fx_move_are_capex_paid_by_the_sponsor(tmp_path):
    """Founding case: 1,200 servers x RMB 5 m + RMB 1 bn network = RMB 7 bn, 90% debt = RMB 6.3 bn. Spares 2% of the
    servers: 0.02 x 1,200 x 5 m = RMB 120 m. 80% of the hardware (7 bn + 120 m) quoted in USD, the RMB 5% weaker at
    delivery: 0.8 x 0.05 x 7.12 bn = RMB 284.8 m. Capex at close 7.4048 bn; the debt stays 6.3 bn (signed at the
    order rate), so equity at close = 7.4048 - 6.3 = RMB 1.1048 bn; depreciation over 60 months sums to it."""
    def mutate(doc):
        doc["capex"]["spare_share"] = 0.02
        doc["capex"]["fx"] = {"usd_share": 0.8, "rate_change_share": 0.05}

    fi = finance_inputs(load_scenario(variant(tmp_path, mutate)))
    assert fi.capex_by_month[0] == pytest.approx(7.4048e9, rel=1e-12) == fi.capex_total
    assert fi.debt.amount[0] == pytest.approx(6.3e9, rel=1e-12)
    assert fi.depreciation_by_month.sum() == pytest.approx(7.4048e9, rel=1e-12)
    f = cashflows(fi, Drivers.base(fi), schedule=True)
    assert f.schedule["equity_contribution"][0, 0] == pytest.approx(1.1048e9, rel=1e-12)


def test_high_tech_enterprise_rate_is_15_percent(tmp_path):
    """tax.high_tech_enterprise: true without a rate taxes at 15% (EIT Law art. 28) and lists it as an assumption;
    with rate 0.15 it is accepted; with another rate it is refused naming tax.rate; no rate and no flag is refused."""
    def high_tech(doc):
        doc["tax"].pop("rate")
        doc["tax"]["high_tech_enterprise"] = True
        doc["assumptions"] = [a for a in doc["assumptions"] if a["field"] != "tax.rate"]

    s = load_scenario(variant(tmp_path, high_tech))
    assert s.tax.rate == 0.15 and s.tax.high_tech_enterprise
    assert any(a.field == "tax.rate" and a.value == 0.15 for a in s.assumptions)
    assert load_scenario(variant(tmp_path, lambda d: d["tax"].update(high_tech_enterprise=True, rate=0.15))) \
        .tax.rate == 0.15
    with pytest.raises(ConfigError, match=r"tax\.rate.*0\.25.*high_tech_enterprise"):
        load_scenario(variant(tmp_path, lambda d: d["tax"].update(high_tech_enterprise=True)))
    with pytest.raises(ConfigError, match=r"tax\.rate.*missing"):
        load_scenario(variant(tmp_path, lambda d: (high_tech(d), d["tax"].pop("high_tech_enterprise"))))


def test_terms_off_by_default_leave_the_founding_case_unchanged(tmp_path):
    """Every new block present with its default values gives the same cash flows as the file without them."""
    def zeros(doc):
        doc["tax"]["vat"] = {"input_rate": 0, "output_rate": 0, "surtax_share": 0}
        doc["capex"].update(spare_share=0, fx={"usd_share": 0, "rate_change_share": 0})
        doc["opex"].update(gpu_failure_rate_per_year=0, repair_days=0, payable_days=0)
        doc["contract"].update(receivable_days=0, sla_availability_target_share=0, sla_credit_per_point_share=0,
                               termination_payment_months_of_rent=0, termination_recovery_share=1)

    a = finance_inputs(load_scenario("b300-10k-cluster"))
    b = finance_inputs(load_scenario(variant(tmp_path, zeros)))
    fa, fb = cashflows(a, Drivers.base(a)), cashflows(b, Drivers.base(b))
    np.testing.assert_array_equal(fa.project_cf, fb.project_cf)
    np.testing.assert_array_equal(fa.equity_cf, fb.equity_cf)


@pytest.mark.parametrize(("path", "value", "field"), [
    (("tax", "vat", "input_rate"), 1.5, "tax.vat.input_rate"),
    (("contract", "receivable_days"), -1, "contract.receivable_days"),
    (("capex", "fx", "rate_change_share"), -0.95, "capex.fx.rate_change_share"),
    (("contract", "sla_credit_per_point_share"), 2, "contract.sla_credit_per_point_share"),
])
def test_bad_terms_exit_2_naming_the_field(tmp_path, path, value, field):
    def mutate(doc):
        node = doc
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value

    result = CliRunner().invoke(cli, ["finance", str(variant(tmp_path, mutate)), "--format", "json"])
    assert result.exit_code == 2
    assert field in result.output and "Traceback" not in result.output


def test_finance_json_and_schedule_carry_the_new_items(tmp_path):
    """With VAT on, `tokensim finance --schedule` writes the VAT and working-capital columns."""
    def mutate(doc):
        doc["tax"]["vat"] = {"input_rate": 0.13, "output_rate": 0.13, "surtax_share": 0.12}
        doc["contract"]["receivable_days"] = 30

    out = tmp_path / "schedule.csv"
    result = CliRunner().invoke(cli, ["finance", str(variant(tmp_path, mutate)), "--format", "json",
                                      "--schedule", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{"):])
    assert "vat" in data["definitions"] and "working_capital_change" in data["definitions"]
    header = out.read_text().splitlines()[0]
    for column in ("vat_recovered", "vat_receivable_balance", "working_capital_change", "opex_vat_surtax"):
        assert column in header


def test_a_spot_contract_refuses_contract_terms(tmp_path):
    """Spot capacity has no tenant contract: a termination payment on it is refused naming the field."""
    def spot(doc):
        doc["contract"] = {"type": "spot", "market_rent_per_gpu_hour": 17.0, "termination_payment_months_of_rent": 3}
        doc["assumptions"] = [a for a in doc["assumptions"] if not a["field"].startswith("contract.")]

    with pytest.raises(ConfigError, match=r"contract\.termination_payment_months_of_rent.*absent for a spot"):
        load_scenario(variant(tmp_path, spot))
