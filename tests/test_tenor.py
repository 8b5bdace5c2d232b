"""Tenor beyond the contract (issue 13, build item 3): renewal at market less a haircut, a balloon refinanced over a
tail at a stated rate, LLCR and PLCR over time, the balloon's cover and the lender case without the residual."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
import yaml
from _handcase import one_server
from click.testing import CliRunner

from tokensim import run_finance
from tokensim.cli import cli
from tokensim.config.scenario import load_scenario
from tokensim.config.uncertainty import load_uncertainty
from tokensim.finance import Drivers, cashflows
from tokensim.montecarlo import dscr_fan, residual_p10_lender_case
from tokensim.montecarlo._drivers import generate_drivers
from tokensim.resolve.finance import finance_inputs
from tokensim.resolve.montecarlo import montecarlo_model

# One server (8 GPUs) worked by hand: capex 1,200 at close; contract rent 600 a year = 50 a month for the cluster;
# opex 15 per GPU-year x 8 = 120 a year = 10 a month (no power: electricity at 0); no tax, no residual unless set.
# The market rent is the contract's per GPU-hour (50 / (8 x 730)), so a month of the whole cluster at market is 50.
RENT_PER_GPU_HOUR = 50 / (8 * 730)
CASE = one_server("tenor", 2, financing={"debt_share": 0.5, "interest_rate": 0.06, "amortisation": "bullet",
                                         "tenor_years": 2, "cost_of_equity": 0.12, "discount_rate": 0.12},
                  contract={"type": "fixed", "term_years": 2, "rent_per_cluster_year": 600,
                            "market_rent_per_gpu_hour": RENT_PER_GPU_HOUR, "spot_utilisation": 0.5})


def scenario(tmp_path, **sections):
    doc = copy.deepcopy(CASE)
    for name, changes in sections.items():
        if isinstance(changes, dict):
            doc.setdefault(name, {}).update(changes)
        else:
            doc[name] = changes
    path = tmp_path / "tenor.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_scenario(path)


def schedule(s, drivers=None):
    inputs = finance_inputs(s)
    flows = cashflows(inputs, drivers or Drivers.base(inputs), schedule=True)
    return inputs, {k: v[0] for k, v in flows.schedule.items()}


def annuity(r: float, n: int) -> float:
    """PV of 1 a month for n months at r a month: (1 - (1 + r)^-n) / r."""
    return (1 - (1 + r) ** -n) / r


# -- renewal -----------------------------------------------------------------------------------------------------------

def test_renewal_at_market_less_a_haircut_by_hand(tmp_path):
    """No debt, 3-year horizon, 2-year term; 75% of the GPUs renewed at market less 20%. Months 25-36: renewed
    0.75 x 50 x 0.8 = 30 (rented every hour), the rest at market x spot 0.25 x 50 x 0.5 = 6.25; revenue 36.25.
    Without renewal (the default): 50 x 0.5 = 25. Months 1-24: the contract's 50."""
    s = scenario(tmp_path, horizon_years=3, financing={"debt_share": 0.0},
                 contract={"renewal_share": 0.75, "renewal_rent_haircut_share": 0.2})
    _, rec = schedule(s)
    np.testing.assert_allclose(rec["revenue_contract"][1:25], 50.0)
    np.testing.assert_allclose(rec["revenue_renewal"][:25], 0.0)
    np.testing.assert_allclose(rec["revenue_renewal"][25:], 30.0)
    np.testing.assert_allclose(rec["revenue_market"][25:], 6.25)
    np.testing.assert_allclose(rec["revenue"][25:], 36.25)
    _, plain = schedule(scenario(tmp_path, horizon_years=3, financing={"debt_share": 0.0}))
    np.testing.assert_allclose(plain["revenue"][25:], 25.0)
    np.testing.assert_allclose(plain["revenue_renewal"], 0.0)


def test_a_defaulted_tenant_does_not_renew(tmp_path):
    """The tenant defaults in month 11 (index 10): vacant 3 months, then at market x spot; after the term nothing is
    renewed, so months 25-36 earn 8 GPUs at market x 0.5 = 25."""
    s = scenario(tmp_path, horizon_years=3, financing={"debt_share": 0.0},
                 contract={"renewal_share": 0.75, "renewal_rent_haircut_share": 0.2})
    inputs = finance_inputs(s)
    drivers = replace(Drivers.base(inputs), tenant_default_month=np.array([10]))
    _, rec = schedule(s, drivers)
    np.testing.assert_allclose(rec["revenue_renewal"], 0.0)
    np.testing.assert_allclose(rec["revenue"][25:], 25.0)


# -- refinancing -------------------------------------------------------------------------------------------------------

def test_refinanced_balloon_schedule_by_hand(tmp_path):
    """Bullet of 600 at 6% (interest 600 x 0.06 / 12 = 3 a month) due at month 24, refinanced at 12% over one year:
    i_f = 0.01, n = 12, P = 600 x 0.01 / (1 - 1.01^-12) = 53.3093 a month in months 25-36; month 25 pays interest
    600 x 0.01 = 6 and principal P - 6 = 47.3093. The horizon runs to month 36 (the tail's end); nothing is repaid in
    month 24. With full renewal at market (revenue 50, CFADS 40), loan year 3's DSCR = 12 x 40 / (12 P) = 0.75034
    and the sponsor injects 12 x (P - 40) = 159.71 over the tail."""
    s = scenario(tmp_path, financing={"refinancing_tenor_years": 1, "refinancing_rate": 0.12},
                 contract={"renewal_share": 1.0})
    inputs, rec = schedule(s)
    P = 600 * 0.01 / (1 - 1.01 ** -12)
    assert P == pytest.approx(53.3093, abs=1e-4)
    assert inputs.months == 36 and inputs.debt.maturity_month == 36 and inputs.debt.refinanced_month == 24
    np.testing.assert_allclose(rec["interest_paid"][1:25], 3.0)
    assert rec["principal_paid"][24] == pytest.approx(0.0, abs=1e-9)
    assert rec["debt_balance"][24] == pytest.approx(600.0)
    assert rec["interest_paid"][25] == pytest.approx(6.0)
    assert rec["principal_paid"][25] == pytest.approx(P - 6.0)
    np.testing.assert_allclose(rec["debt_service"][25:], P, rtol=1e-9)
    r = run_finance(s)
    assert r.waterfall["dscr_by_year"][2] == pytest.approx(40 / P, rel=1e-9)
    assert r.waterfall["sponsor_injection"] == pytest.approx(12 * (P - 40), rel=1e-9)  # the tail's shortfall
    b = r.lender["balloon"]
    assert b["month"] == 24 and b["amount"] == pytest.approx(600.0) and b["refinanced"]
    assert b["refinancing_rate"] == 0.12 and b["refinancing_tenor_months"] == 12
    # LLCR at the balloon date: CFADS 40 for 12 months at 1% a month over the balloon
    assert b["llcr"] == pytest.approx(40 * annuity(0.01, 12) / 600, rel=1e-9)


def test_unrefinanced_balloon_is_repaid_at_maturity(tmp_path):
    """Without a tail the bullet of 600 falls due at month 24 (the horizon): cash 40 - 3 - 600 = -563 is the
    sponsor's injection, a payment default in month 24; the balloon has no cash flows after it (LLCR null)."""
    r = run_finance(scenario(tmp_path))
    assert r.waterfall["sponsor_injection"] == pytest.approx(563.0)
    assert r.waterfall["first_loan_default_month"] == 24
    b = r.lender["balloon"]
    assert b == {"month": 24, "amount": pytest.approx(600.0), "refinanced": False, "llcr": None, "plcr": None}


# -- LLCR and PLCR over time ------------------------------------------------------------------------------------

def test_llcr_and_plcr_over_time_closed_form(tmp_path):
    """Level CFADS C = 40 a month (full renewal at market after the 2-year term), the bullet of 600 refinanced at the
    same 6% (r = 0.005 a month) over one year (maturity month 36), horizon 4 years (48 months). PV at t of C over n
    months = C (1 - (1 + r)^-n) / r. Debt outstanding is 600 at months 0, 12 and 24 (interest only, then the
    refinanced balloon). LLCR_t = C a(36 - t) / 600, PLCR_t = C a(48 - t) / 600:
    a(12) = 11.6189, a(24) = 22.5629, a(36) = 32.8710, a(48) = 42.5803, so
    t = 0: 2.1914 / 2.8387 (the engine's llcr at close); t = 12: 1.5042 / 2.1914; t = 24: 0.7746 / 1.5042."""
    s = scenario(tmp_path, horizon_years=4, financing={"refinancing_tenor_years": 1},
                 contract={"renewal_share": 1.0})
    r = run_finance(s)
    rows = {row["month"]: row for row in r.lender["cover_by_year"]}
    C, rate = 40.0, 0.005
    for t in (0, 12, 24):
        assert rows[t]["debt_outstanding"] == pytest.approx(600.0)
        assert rows[t]["llcr"] == pytest.approx(C * annuity(rate, 36 - t) / 600, rel=1e-9)
        assert rows[t]["plcr"] == pytest.approx(C * annuity(rate, 48 - t) / 600, rel=1e-9)
    assert rows[12]["llcr"] == pytest.approx(1.5042, abs=1e-4) and rows[24]["plcr"] == pytest.approx(1.5042, abs=1e-4)
    assert rows[24]["llcr"] == pytest.approx(0.7746, abs=1e-4) and rows[0]["plcr"] == pytest.approx(2.8387, abs=1e-4)
    assert r.llcr == pytest.approx(rows[0]["llcr"], rel=1e-9)
    assert sorted(rows) == [0, 12, 24]  # no debt outstanding after month 36; month 36 repays it
    assert r.lender["balloon"]["plcr"] == pytest.approx(C * annuity(rate, 24) / 600, rel=1e-9)
    # Every month in the schedule: at month 30 the refinanced balloon has had 6 of its 12 level payments, leaving
    # B ((1+r)^12 - (1+r)^6) / ((1+r)^12 - 1) = 600 x (1.061678 - 1.030378) / 0.061678 = 304.49;
    # LLCR_30 = C a(6) / that, PLCR_30 = C a(18) / that.
    frame = run_finance(s, schedule=True).schedule.set_index("month")
    left = 600 * ((1 + rate) ** 12 - (1 + rate) ** 6) / ((1 + rate) ** 12 - 1)
    assert left == pytest.approx(304.49, abs=0.01)
    assert frame.loc[30, "llcr"] == pytest.approx(C * annuity(rate, 6) / left, rel=1e-9)
    assert frame.loc[30, "plcr"] == pytest.approx(C * annuity(rate, 18) / left, rel=1e-9)
    for t in (0, 12, 24):
        assert frame.loc[t, "llcr"] == pytest.approx(rows[t]["llcr"], rel=1e-12)
    assert np.isnan(frame.loc[36, "llcr"]) and np.isnan(frame.loc[48, "plcr"])  # nothing owed after maturity


# -- lender case -------------------------------------------------------------------------------------------------------

def test_lender_case_without_and_with_half_the_residual(tmp_path):
    """The unrefinanced bullet case with a residual of 50% of hardware cost at 2 years = 600. Base: the sale repays
    the balloon (cash 40 - 3 - 600 + 600 = 37, no injection). Zero residual: injection 563, default in month 24; the
    P90 case (haircut 50%): residual 300, injection 300 - 37 = 263. Project NPV without the residual = -1200 +
    40 a(24, i), i = 1.12^(1/12) - 1; with 300: + 300 / 1.12^2. DSCR and LLCR never count the residual: min DSCR
    40 / 3 = 13.33 in every case."""
    s = scenario(tmp_path, residual={"method": "percent_of_cost", "percent_of_cost_by_age": {2: 0.5}})
    r = run_finance(s)
    assert r.waterfall["sponsor_injection"] == pytest.approx(0.0, abs=1e-9)
    case = r.lender["lender_case"]
    assert case["residual_haircut_share"] == 0.5
    zero, p90 = case["zero_residual"], case["p90_residual"]
    i = 1.12 ** (1 / 12) - 1
    assert zero["residual_proceeds"] == 0.0 and p90["residual_proceeds"] == pytest.approx(300.0)
    assert zero["npv"] == pytest.approx(-1200 + 40 * annuity(i, 24), rel=1e-9)
    assert p90["npv"] == pytest.approx(-1200 + 40 * annuity(i, 24) + 300 / 1.12 ** 2, rel=1e-9)
    assert zero["sponsor_injection"] == pytest.approx(563.0) and p90["sponsor_injection"] == pytest.approx(263.0)
    assert zero["first_loan_default_month"] == 24 and p90["first_loan_default_month"] == 24
    assert r.waterfall["first_loan_default_month"] is None
    for c in (zero, p90):
        assert c["min_dscr"] == pytest.approx(40 / 3) == pytest.approx(r.min_dscr)
        assert c["llcr"] == pytest.approx(r.llcr)
    cny = r.in_currency("CNY").lender["lender_case"]["zero_residual"]
    assert cny["sponsor_injection"] / zero["sponsor_injection"] == pytest.approx(
        r.in_currency("CNY").npv / r.npv)


# -- Monte Carlo refinancing risk and the founding case ----------------------------------------------------------------

def _founding_with_balloon(tmp_path, refinancing_rate):
    from tokensim.config.reader import config_dir
    doc = yaml.safe_load((config_dir() / "scenarios" / "b300-10k-cluster.yaml").read_text())
    doc["financing"].update(balloon_share=0.4, refinancing_tenor_years=3, refinancing_rate=refinancing_rate)
    path = tmp_path / "balloon.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_scenario(path)


@pytest.mark.parametrize("refinancing_rate", [0.04, 0.0])
def test_refinancing_probability_without_uncertainty_is_the_deterministic_answer(tmp_path, refinancing_rate):
    """With every driver's uncertainty zeroed, every path is the deterministic case: the share of paths with a tail
    loan-year DSCR below 1 is 1 when run_finance's tail DSCRs (years 6-8) have one below 1, else 0."""
    s = _founding_with_balloon(tmp_path, refinancing_rate)
    tail = run_finance(s).waterfall["dscr_by_year"][5:]
    model = montecarlo_model(s, load_uncertainty(s).zeroed())
    fan = dscr_fan(model, paths=50, seed=1)["refinancing"]
    assert fan["tail_years"] == [6, 7, 8] and fan["balloon_month"] == 60
    assert fan["prob_refinancing_dscr_below_1"] == (1.0 if min(tail) < 1 else 0.0)


@pytest.mark.parametrize(("settings", "message"), [
    (["financing.refinancing_tenor_years=3"], "financing.refinancing_tenor_years"),
    (["financing.refinancing_rate=0.05"], "financing.refinancing_rate"),
    (["contract.renewal_share=1.5"], "contract.renewal_share"),
    (["contract.renewal_rent_haircut_share=1"], "contract.renewal_rent_haircut_share"),
    (["financing.balloon_share=0.2", "financing.refinancing_tenor_years=0.5", "financing.payments_per_year=1"],
     "financing.refinancing_tenor_years"),
    (["financing.tenor_years=40", "financing.balloon_share=0.2", "financing.refinancing_tenor_years=20"],
     "financing.refinancing_tenor_years"),
])
def test_bad_tail_settings_exit_2_naming_the_field(settings, message):
    """A tail without a balloon, a refinancing rate without a tail, shares out of range, a tail that is not whole
    payment periods, a tenor and tail beyond the 50-year horizon limit: exit 2, one line naming the field."""
    args = [a for setting in settings for a in ("--set", setting)]
    result = CliRunner().invoke(cli, ["finance", "b300-10k-cluster", *args])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_lender_case_at_the_monte_carlo_residual_p10(tmp_path):
    """The founding case's residual is a percent of cost that moves with the last month's market-rent multiplier, so
    its P10 share is the 10th percentile of that multiplier over the same paths; with the uncertainty zeroed every
    path is the base case: share 1 and the base case's NPV."""
    s = load_scenario("b300-10k-cluster")
    model = montecarlo_model(s)
    case = residual_p10_lender_case(model, paths=2000, seed=3)
    drivers = generate_drivers(model.drivers, 3, np.arange(2000, dtype=np.uint64), np)
    assert case["residual_share"] == pytest.approx(np.quantile(drivers.market_rent_multiplier[:, -1], 0.1), rel=1e-12)
    assert case["residual_share"] < 1 and case["paths"] == 2000
    flat = residual_p10_lender_case(montecarlo_model(s, load_uncertainty(s).zeroed()), paths=200, seed=3)
    assert flat["residual_share"] == pytest.approx(1.0, rel=1e-12)
    assert flat["npv"] == pytest.approx(run_finance(s).npv, rel=1e-9)
