"""Debt sizing (issue 13, build item 2): the lesser of a maximum gearing and a target DSCR on the base (P50) or a
haircut (P90) case, for every repayment profile; and the horizon run to the debt's maturity (wrong item 5)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import yaml
from _handcase import one_server
from click.testing import CliRunner

from tokensim import ConfigError, run_finance
from tokensim.cli import cli
from tokensim.config.reader import config_dir
from tokensim.config.scenario import load_scenario
from tokensim.finance import Drivers, finance_metrics
from tokensim.resolve.finance import finance_inputs

# A one-server case worked by hand: capex 1,200 at close; rent 600 a year (50 a month); opex 15 per GPU-year x 8 GPUs
# = 120 a year (10 a month): EBITDA and CFADS 40 a month; no tax, no residual; 6% a year, monthly payments over the
# 3-year term: periodic rate i = 0.005, n = 36 payments from month 1.
TINY = one_server("tiny", 3, financing={"debt_share": 0.95, "interest_rate": 0.06, "amortisation": "annuity",
                                        "sizing_dscr": 1.25, "cost_of_equity": 0.12, "discount_rate": 0.12},
                  contract={"type": "fixed", "term_years": 3, "rent_per_cluster_year": 600})
RATE = 0.005
ANNUITY_36 = (1 - (1 + RATE) ** -36) / RATE  # PV of 1 a month for 36 months at i: 32.871
FOUNDING = config_dir() / "scenarios" / "b300-10k-cluster.yaml"


def tiny(tmp_path, **financing):
    doc = copy.deepcopy(TINY)
    for key, value in financing.items():
        if value is None:
            doc["financing"].pop(key, None)
        else:
            doc["financing"][key] = value
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_scenario(path)


@pytest.mark.parametrize("amortisation, cfads_per_month, dscr_limit", [
    # level annuity: service 12 P a year against CFADS 12 x 40, so P = 40 / 1.25 = 32 and the debt is P x annuity
    # factor (the closed form of economics-reference.md 4.3: "max debt = CFADS / DSCR x annuity factor")
    ("annuity", 40.0, 40 / 1.25 * ANNUITY_36),
    # the same with every revenue price cut 20% (haircut case): revenue 40, CFADS 30, P = 24
    ("annuity-p90", 30.0, 30 / 1.25 * ANNUITY_36),
    # straight line: the first year carries the most service: principal 12 D / 36 + interest i D (12 - 66 / 36)
    # (balances D (1 - k / 36), k = 0..11), so D = 480 / (1.25 (1/3 + 0.005 x 10.1667))
    ("straight_line", 40.0, 480 / (1.25 * (1 / 3 + RATE * (12 - 66 / 36)))),
    # sculpted on flat CFADS: service 32 every month, D = PV of it = the annuity's
    ("sculpted", 40.0, 40 / 1.25 * ANNUITY_36),
    # finance lease: rentals in advance (months 0..35), so loan year 1 (months 1-12) pays 12 rentals P with
    # P = D i / ((1 - v^36)(1 + i)) = 32: D = 32 x annuity factor x (1 + i)
    ("finance_lease", 40.0, 40 / 1.25 * ANNUITY_36 * (1 + RATE)),
])
def test_dscr_sizing_matches_the_closed_form(tmp_path, amortisation, cfads_per_month, dscr_limit):
    kind = amortisation.removesuffix("-p90")
    extra = {"sizing_revenue_haircut_share": 0.2} if amortisation.endswith("-p90") else {}
    if kind == "sculpted":
        s = tiny(tmp_path, amortisation=kind, sizing_dscr=None, target_dscr=1.25, **extra)
    else:
        s = tiny(tmp_path, amortisation=kind, **extra)
    r = run_finance(s)
    z = r.sizing
    assert z["applied"] and z["binding"] == "dscr"
    assert z["dscr_limit_amount"] == pytest.approx(dscr_limit, rel=1e-7)
    assert z["sized_amount"] == pytest.approx(dscr_limit, rel=1e-7)
    assert r.debt["amount"] == pytest.approx(dscr_limit, rel=1e-7)
    assert z["sized_gearing"] == pytest.approx(dscr_limit / 1200, rel=1e-7)
    assert z["min_dscr_sizing_case"] == pytest.approx(1.25, rel=1e-7)
    assert z["gearing_limit_amount"] == pytest.approx(0.95 * 1200)
    if not extra:  # the base case is the sizing case: its own min DSCR is the target
        assert r.min_dscr == pytest.approx(1.25, rel=1e-7)
    else:  # the base case's CFADS is 40 a month: DSCR 40 / 24 x 1.25 / 1.25 = 1.6667
        assert r.min_dscr == pytest.approx(40 / (cfads_per_month / 1.25), rel=1e-7)


def test_gearing_binds_when_it_is_the_lower_limit(tmp_path):
    """At 50% gearing (600) the annuity's payment is 600 / 32.871 = 18.25 a month: DSCR 40 / 18.25 = 2.19, above the
    target, so the gearing binds and the debt is 600; at 95% (1,140) the DSCR limit 1,051.9 binds."""
    r = run_finance(tiny(tmp_path, debt_share=0.5))
    z = r.sizing
    assert z["binding"] == "gearing"
    assert z["sized_amount"] == pytest.approx(600) and r.debt["amount"] == pytest.approx(600)
    assert z["dscr_limit_amount"] == pytest.approx(32 * ANNUITY_36, rel=1e-7)
    assert z["min_dscr_sizing_case"] == pytest.approx(40 / (600 / ANNUITY_36), rel=1e-9)
    assert run_finance(tiny(tmp_path, debt_share=0.95)).sizing["binding"] == "dscr"


def test_bullet_debt_is_sized_on_its_interest(tmp_path):
    """A bullet's DSCR leaves the repayment out: interest 0.005 D a month against CFADS 40 allows D = 40 / (1.25 x
    0.005) = 6,400, far above 95% of capex: the gearing binds."""
    z = run_finance(tiny(tmp_path, amortisation="bullet")).sizing
    assert z["dscr_limit_amount"] == pytest.approx(40 / (1.25 * RATE), rel=1e-7)
    assert z["binding"] == "gearing" and z["sized_amount"] == pytest.approx(1140)


def test_without_sizing_the_debt_is_unchanged_and_the_covenant_sizing_is_reported(tmp_path):
    """No sizing_dscr: the debt stays debt_share x capex; with a covenant of 1.25 the sizing is reported, not
    applied; with neither there is no sizing section."""
    r = run_finance(tiny(tmp_path, sizing_dscr=None, dscr_covenant=1.25))
    assert r.debt["amount"] == pytest.approx(1140)
    assert r.sizing["applied"] is False
    assert r.sizing["sized_amount"] == pytest.approx(32 * ANNUITY_36, rel=1e-7)
    assert run_finance(tiny(tmp_path, sizing_dscr=None)).sizing is None


@pytest.mark.parametrize("changes, field", [
    ({"amortisation": "sculpted", "target_dscr": 1.3}, "sizing_dscr"),
    ({"sizing_dscr": None, "sizing_revenue_haircut_share": 0.1}, "sizing_revenue_haircut_share"),
    ({"sizing_dscr": 0}, "sizing_dscr"),
    ({"sizing_revenue_haircut_share": 1}, "sizing_revenue_haircut_share"),
])
def test_sizing_fields_are_checked(tmp_path, changes, field):
    with pytest.raises(ConfigError, match=rf"financing\.{field}"):
        tiny(tmp_path, **changes)


def test_founding_contract_borrows_what_a_1_2x_dscr_allows(tmp_path):
    """The founding contract's CFADS is flat over the 5 years (rent fixed, no tax while depreciation makes losses):
    the debt a 1.2x DSCR allows is the level annuity's closed form, CFADS / 12 / 1.2 x the 60-month annuity factor at
    4% / 12 (economics-reference.md 4.3: 1.25x on CFADS 1.15 bn gives 59% of capex)."""
    doc = yaml.safe_load(FOUNDING.read_text())
    doc["financing"]["sizing_dscr"] = 1.2
    path = tmp_path / "founding.yaml"
    path.write_text(yaml.safe_dump(doc))
    s = load_scenario(path)
    inputs = finance_inputs(s)
    cfads = finance_metrics(inputs, Drivers.base(inputs), schedule=True).flows.schedule["cfads"][0]
    assert np.ptp(cfads[1:]) < 1e-6 * cfads[1]  # flat: the closed form applies
    i = 0.04 / 12
    expected = cfads[1] / 1.2 * (1 - (1 + i) ** -60) / i
    r = run_finance(s)
    assert r.sizing["binding"] == "dscr"
    assert r.debt["amount"] == pytest.approx(expected, rel=1e-7)
    assert 0.5 < r.debt["share_of_capex"] < 0.7  # about 60%, not the note's 90% (issue 13)
    assert r.min_dscr == pytest.approx(1.2, rel=1e-7) and not r.covenant_breached


def test_finance_command_reports_the_sizing(tmp_path):
    out = CliRunner().invoke(cli, ["finance", "b300-10k-cluster", "--format", "json"])
    assert out.exit_code == 0, out.output
    z = json.loads(out.output)["sizing"]
    assert z["applied"] is False and z["target_dscr"] == 1.2 and z["binding"] == "dscr"
    table = CliRunner().invoke(cli, ["finance", "b300-10k-cluster"])
    assert "debt the DSCR covenant 1.2 allows" in table.output


# -- the horizon runs to the debt's maturity (issue 13, wrong item 5) ----------------------------------------------

def test_an_8_year_loan_runs_to_maturity_with_rent_at_market_after_the_contract(tmp_path):
    """The founding case with an 8-year monthly annuity on its 5-year contract: the cash flows run to month 96, the
    balance reaches 0 by the scheduled payments (no balloon at year 5), the DSCR covers loan years 6-8, and after
    the contract the GPUs sell at the market rent (17.24 per GPU-hour, the contract's) x spot utilisation."""
    doc = yaml.safe_load(FOUNDING.read_text())
    doc["financing"]["tenor_years"] = 8
    path = tmp_path / "founding8.yaml"
    path.write_text(yaml.safe_dump(doc))
    s = load_scenario(path)
    r = run_finance(s, schedule=True)
    rows = r.schedule
    assert rows["month"].iloc[-1] == 96
    i = 0.04 / 12
    payment = 6.3e9 * i / (1 - (1 + i) ** -96)
    left = lambda k: payment * (1 - (1 + i) ** -k) / i  # noqa: E731  balance with k payments still due
    # month 60 repays only its scheduled principal (payment - interest on the balance of 37 payments), no balloon
    assert rows["principal_paid_cny"].iloc[60] == pytest.approx(payment - i * left(37), rel=1e-9)
    assert rows["debt_balance_cny"].iloc[60] == pytest.approx(left(36), rel=1e-9)
    assert rows["principal_paid_cny"].iloc[96] == pytest.approx(left(1), rel=1e-9)  # the last payment's principal
    assert rows["debt_balance_cny"].iloc[96] == 0
    # after the contract: the market rent defaults to the contract's (1.45 bn a year, 1.45 bn / 12 a month), sold at
    # the scenario's spot utilisation
    assert rows["revenue_contract_cny"].iloc[60] == pytest.approx(1.45e9 / 12)
    assert rows["revenue_market_cny"].iloc[61] == pytest.approx(1.45e9 / 12 * s.contract.spot_utilisation, rel=1e-9)
    assert rows["revenue_contract_cny"].iloc[61] == 0
    inputs = finance_inputs(s)
    by_year = finance_metrics(inputs, Drivers.base(inputs)).flows.dscr_by_year[0]
    assert by_year.shape == (8,) and np.isfinite(by_year).all()  # years 6-8 are covered
    assert r.min_dscr == pytest.approx(by_year.min())
    assert np.isfinite(r.equity_irr) or "equity_irr" in r.reasons
    assert any(a["field"] == "horizon_years" and a["value"] == 8 and "maturity" in a["why"] for a in r.assumptions)


def test_the_8_year_variant_states_its_horizon_and_reasons():
    from tokensim.report import payback_variants

    rows = {row["variant"]: row for row in payback_variants(load_scenario("b300-10k-cluster"))}
    eight = rows["8-year debt tenor"]
    assert eight["horizon_years"] == 8
    assert np.isfinite(eight["equity_irr"]) or "equity_irr" in eight["reasons"]
    given = rows["as given"]
    assert given["horizon_years"] == 5
    assert "payback_equity" in given["reasons"]  # NaN there, with its reason


# -- financing fees and the rate hedge -----------------------------------------------------------------------------

def _tiny_doc(**financing):
    doc = copy.deepcopy(TINY)
    doc["financing"].pop("sizing_dscr")
    doc["financing"].update(debt_share=0.5, **financing)
    return doc


def _load(tmp_path, doc):
    path = tmp_path / "fees.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_scenario(path)


def test_upfront_fee_is_paid_by_the_sponsor_at_close(tmp_path):
    """Debt 600 (50% of 1,200), a 1% upfront fee: 6 at close, so equity pays 1,200 - 600 + 6 = 606 at month 0; the
    fee is not debt service (DSCR unchanged) and not in the project cash flow."""
    plain = run_finance(_load(tmp_path, _tiny_doc()), schedule=True)
    r = run_finance(_load(tmp_path, _tiny_doc(upfront_fee_share=0.01)), schedule=True)
    rows = r.schedule
    assert rows["financing_fees_usd"].iloc[0] == pytest.approx(6)
    assert rows["financing_fees_usd"].iloc[1:].abs().max() == 0
    assert rows["equity_cf_usd"].iloc[0] == pytest.approx(-606)
    assert rows["equity_contribution_usd"].iloc[0] == pytest.approx(606)
    assert r.min_dscr == pytest.approx(plain.min_dscr) and r.npv == pytest.approx(plain.npv)
    assert r.equity_npv == pytest.approx(plain.equity_npv - 6)  # month 0 is undiscounted


def test_commitment_fee_is_charged_on_the_undrawn_amount_during_staged_draws(tmp_path):
    """Capex 600 at close and 600 at month 2, half debt-funded: 300 drawn at close and 300 at month 2. At 1.2% a
    year (0.1% a month) on the 300 undrawn in months 1 and 2: 0.3 each, nothing after the last draw."""
    doc = _tiny_doc(commitment_fee_per_year=0.012)
    doc["capex"]["delivery"] = [{"month": 0, "share": 0.5}, {"month": 2, "share": 0.5}]
    rows = run_finance(_load(tmp_path, doc), schedule=True).schedule
    assert rows["debt_drawn_usd"].iloc[[0, 2]].tolist() == pytest.approx([300, 300])
    assert rows["financing_fees_usd"].iloc[:4].tolist() == pytest.approx([0, 0.3, 0.3, 0])
    assert rows["financing_fees_usd"].iloc[4:].abs().max() == 0


def test_finance_lease_handling_fee_and_deposit(tmp_path):
    """A finance lease of 600 with a 2% handling fee and a 5% deposit: 12 + 30 = 42 paid at close, the 30 deposit
    refunded at maturity (month 36: rentals in advance at months 0..35, the purchase option one period later)."""
    doc = _tiny_doc(amortisation="finance_lease", lease_handling_fee_share=0.02, lease_deposit_share=0.05)
    r = run_finance(_load(tmp_path, doc), schedule=True)
    fees = r.schedule["financing_fees_usd"]
    assert r.debt["maturity_month"] == 36
    assert fees.iloc[0] == pytest.approx(42) and fees.iloc[36] == pytest.approx(-30)
    assert fees.iloc[1:36].abs().max() == 0


@pytest.mark.parametrize("changes, field", [
    ({"lease_deposit_share": 0.05}, "lease_deposit_share"),  # an annuity has no lease deposit
    ({"lease_handling_fee_share": 0.01}, "lease_handling_fee_share"),
    ({"hedged_share": 0.5}, "hedged_share"),  # fixed-rate debt has nothing to hedge
    ({"upfront_fee_share": 0.5}, "upfront_fee_share"),  # above the 20% bound
])
def test_fee_and_hedge_fields_are_checked(tmp_path, changes, field):
    with pytest.raises(ConfigError, match=rf"financing\.{field}"):
        _load(tmp_path, _tiny_doc(**changes))


def test_a_fully_hedged_floating_loan_has_no_rate_risk(tmp_path):
    """hedged_share 1 swaps the whole floating loan to fixed at close: the Monte Carlo equals the one with a constant
    base rate (volatility 0), path by path; unhedged, the rate risk moves the result."""
    from tokensim import run_montecarlo

    source = config_dir() / "scenarios" / "us-b300-neocloud-usage.yaml"

    def run(hedged, volatility=None):
        doc = yaml.safe_load(source.read_text())
        doc["financing"]["hedged_share"] = hedged
        if volatility is not None:
            doc["uncertainty"]["floating_base_rate"]["volatility_per_year"] = volatility
        path = tmp_path / f"hedge-{hedged}-{volatility}.yaml"
        path.write_text(yaml.safe_dump(doc))
        return run_montecarlo(load_scenario(path), paths=300, seed=3, backend="numpy").to_dict()

    hedged, still, unhedged = run(1.0), run(0.0, volatility=0.0), run(0.0)
    assert hedged["equity_irr"] == still["equity_irr"] and hedged["npv"] == still["npv"]
    assert unhedged["equity_irr"] != hedged["equity_irr"]


def test_the_gpu_kernel_refuses_fees_it_does_not_carry(tmp_path):
    from tokensim import UserError
    from tokensim.montecarlo._kernel import pack_schedule
    from tokensim.resolve.montecarlo import montecarlo_model

    s = _load(tmp_path, _tiny_doc(upfront_fee_share=0.01))
    with pytest.raises(UserError, match="upfront_fee_share.*--backend numpy"):
        pack_schedule(montecarlo_model(s))
    pack_schedule(montecarlo_model(_load(tmp_path, _tiny_doc())))  # no fees: packs
