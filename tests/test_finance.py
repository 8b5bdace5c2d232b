"""The monthly cash-flow engine, metrics and solvers (tokensim.finance) and the deterministic run (run_finance)."""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import numpy as np
import numpy_financial as npf
import pytest
import yaml
from _handcase import one_server

import tokensim
from tokensim import Target, UserError, run_finance
from tokensim.config.reader import config_dir
from tokensim.config.scenario import load_scenario
from tokensim.finance import (
    Drivers,
    batch_metrics,
    build_debt_schedule,
    cashflows,
    debt_at_close,
    finance_metrics,
    payback_requirements,
    sizing_key,
    solve_rent,
    solve_rents,
    stack_inputs,
    stack_terms,
    usage_frontier,
)
from tokensim.resolve.finance import debt_terms, finance_inputs

# A one-server case small enough to work by hand: capex 1,200 at close; rent 600 a year (50 a month); opex 15 per
# GPU-year x 8 GPUs = 120 a year (10 a month), so EBITDA is 40 a month; half debt-funded; no tax, no residual.
HAND = one_server("hand", 3, financing={"debt_share": 0.5, "interest_rate": 0.0, "amortisation": "straight_line",
                                        "cost_of_equity": 0.12, "discount_rate": 0.12},
                  contract={"type": "fixed", "term_years": 3, "rent_per_cluster_year": 600})
FOUNDING = config_dir() / "scenarios" / "b300-10k-cluster.yaml"


def hand(tmp_path, **sections):
    """The hand case with sections updated (a None value deletes the key)."""
    doc = copy.deepcopy(HAND)
    for name, changes in sections.items():
        if isinstance(changes, dict):
            doc.setdefault(name, {})
            for key, value in changes.items():
                if value is None:
                    doc[name].pop(key, None)
                else:
                    doc[name][key] = value
        else:
            doc[name] = changes
    path = tmp_path / "hand.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_scenario(path)


def founding(tmp_path, mutate=None):
    doc = yaml.safe_load(FOUNDING.read_text())
    if mutate:
        mutate(doc)
    path = tmp_path / "founding.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_scenario(path)


def case(scenario):
    """(inputs, debt terms) of a scenario: what the solvers take."""
    return finance_inputs(scenario), debt_terms(scenario)


def schedule_of(scenario, drivers=None):
    inputs = finance_inputs(scenario)
    flows = cashflows(inputs, drivers or Drivers.base(inputs), schedule=True)
    return {k: v[0] for k, v in flows.schedule.items()}, flows


def monthly_discount(annual):
    return (1 + annual) ** (1 / 12) - 1


# -- paybacks, IRR, NPV on the hand case ---------------------------------------------------------------------------

def test_four_paybacks_on_a_hand_worked_case(tmp_path):
    """simple = 1,200 / 600 = 2.0 y; net = 1,200 / 480 = 2.5 y; equity = 600 / (40 - 600/36) = 25.714 months =
    2.1429 y; discounted at 12%/yr (i = 1.12^(1/12) - 1): the month n where 40 a_n(i) first reaches 1,200, with the
    shortfall after n - 1 months interpolated in month n (= 2.957 y)."""
    r = run_finance(hand(tmp_path))
    i = monthly_discount(0.12)
    annuity = lambda n: (1 - (1 + i) ** -n) / i  # noqa: E731
    n = next(k for k in range(1, 37) if 40 * annuity(k) >= 1200)
    discounted = (n - 1 + (1200 - 40 * annuity(n - 1)) / (40 * (1 + i) ** -n)) / 12
    assert r.payback_years["simple"] == pytest.approx(2.0)
    assert r.payback_years["net"] == pytest.approx(2.5)
    assert r.payback_years["equity"] == pytest.approx(600 / (40 - 600 / 36) / 12)
    assert r.payback_years["discounted"] == pytest.approx(discounted) and discounted == pytest.approx(2.957, abs=1e-3)


def test_irr_and_npv_against_numpy_financial(tmp_path):
    """Project flows -1,200 then 40 a month for 36 months and equity flows -600 then 23.33: the annualised IRRs
    equal npf.rate / npf.irr annualised, the NPV equals npf.npv at the monthly 12%/yr rate."""
    r = run_finance(hand(tmp_path))
    project = [-1200.0] + [40.0] * 36
    equity = [-600.0] + [40 - 600 / 36] * 36
    assert r.project_irr == pytest.approx((1 + npf.rate(36, 40, -1200, 0)) ** 12 - 1, rel=1e-9)
    assert r.equity_irr == pytest.approx((1 + npf.irr(equity)) ** 12 - 1, rel=1e-9)
    assert r.project_irr_pre_tax == pytest.approx(r.project_irr)
    assert r.npv == pytest.approx(npf.npv(monthly_discount(0.12), project), rel=1e-9)
    assert r.equity_npv == pytest.approx(npf.npv(monthly_discount(0.12), equity), rel=1e-9)


def test_no_irr_is_nan_with_a_reason_not_an_error(tmp_path):
    """With no rent every project flow is negative: the IRRs are NaN with 'no sign change', paybacks NaN too."""
    r = run_finance(hand(tmp_path, contract={"rent_per_cluster_year": 0}))
    assert math.isnan(r.project_irr) and math.isnan(r.equity_irr)
    assert "no sign change" in r.reasons["project_irr"]
    assert "not positive" in r.reasons["payback_simple"]
    assert "negative at the 3-year horizon" in r.reasons["payback_equity"]


# -- DSCR, LLCR, debt ---------------------------------------------------------------------------------------------

def test_dscr_and_llcr_for_a_level_annuity(tmp_path):
    """600 at 12% over 36 monthly payments costs 600 x 0.01 / (1 - 1.01^-36) = 19.929 a month; CFADS 40 gives
    DSCR 40 / 19.929 = 2.0072 every year and LLCR = 40 a_36(1%) / 600, the same number."""
    r = run_finance(hand(tmp_path, financing={"interest_rate": 0.12, "amortisation": "annuity"}))
    payment = 600 * 0.01 / (1 - 1.01 ** -36)
    assert r.min_dscr == pytest.approx(40 / payment, rel=1e-9) and r.avg_dscr == pytest.approx(40 / payment)
    assert r.llcr == pytest.approx(40 * (1 - 1.01 ** -36) / 0.01 / 600, rel=1e-9)
    assert not r.covenant_breached


def test_dscr_by_loan_year_for_straight_line_debt(tmp_path):
    """Straight-line 600 at 12%: principal 16.667 a month, year-k interest 0.01 x sum of balances, so service is
    200 + 61 = 261, 200 + 37 = 237 and 200 + 13 = 213; DSCR = 480 / service: min 1.8391, average 2.0393."""
    r = run_finance(hand(tmp_path, financing={"interest_rate": 0.12, "dscr_covenant": 1.9}))
    dscr = [480 / 261, 480 / 237, 480 / 213]
    assert r.min_dscr == pytest.approx(min(dscr), rel=1e-9)
    assert r.avg_dscr == pytest.approx(sum(dscr) / 3, rel=1e-9)
    assert r.covenant_breached  # year 1 is below 1.9


def test_no_debt_gives_nan_dscr_with_a_reason(tmp_path):
    """An all-equity case has no debt service: DSCR and LLCR are NaN with a reason."""
    r = run_finance(hand(tmp_path, financing={"debt_share": 0}))
    assert math.isnan(r.min_dscr) and "no debt service" in r.reasons["min_dscr"]
    assert math.isnan(r.llcr)


def test_sculpted_debt_gives_the_target_dscr_every_month_on_the_base_case(tmp_path):
    """Founding case with sculpted debt at DSCR 1.25: CFADS / debt service is 1.25 in every month and the debt is
    cut to about 57% of capex (economics-reference.md 4.3: 59% at CFADS 1.15 bn)."""
    s = founding(tmp_path, lambda d: d["financing"].update(amortisation="sculpted", target_dscr=1.25))
    rows, _ = schedule_of(s)
    service = rows["debt_service"][1:]
    assert rows["cfads"][1:] / service == pytest.approx(np.full(60, 1.25), rel=1e-9)
    r = run_finance(s)
    assert r.min_dscr == pytest.approx(1.25) and r.debt["share_of_capex"] == pytest.approx(0.57, abs=0.02)
    assert any(a["field"] == "financing.debt_share" and "sized down" in a["why"] for a in r.assumptions)


def test_debt_maturing_after_the_horizon_is_repaid_from_the_residual(tmp_path):
    """The engine, given an 8-year monthly annuity on a 5-year horizon (a scenario's horizon now runs to the debt's
    maturity, tests/test_debt_sizing.py), repays at month 60 the scheduled principal plus the balance left (the PV
    of 36 payments), and the equity flow includes the residual net of it."""
    s = founding(tmp_path)
    inputs = finance_inputs(s)
    debt = build_debt_schedule("annuity", 6.3e9, inputs.capex_by_month / inputs.capex_total, 0.04, 12, 96, 60)
    flows = cashflows(replace(inputs, debt=debt), Drivers.base(inputs), schedule=True)
    rows = {k: v[0] for k, v in flows.schedule.items()}
    i = 0.04 / 12
    payment = 6.3e9 * i / (1 - (1 + i) ** -96)
    left = lambda k: payment * (1 - (1 + i) ** -k) / i  # noqa: E731  balance with k payments still due
    # month 60: the scheduled principal (payment - interest on the balance after 59 payments) plus the 36 payments'
    # worth of balance left, repaid at the horizon
    assert rows["principal_paid"][60] == pytest.approx(payment - i * left(37) + left(36), rel=1e-9)
    assert rows["equity_cf"][60] == pytest.approx(rows["cfads"][60] - rows["debt_service"][60]
                                                  + rows["residual_proceeds"][60], rel=1e-9)


# -- tax, residual, delivery, defaults, floating rates -------------------------------------------------------------

def test_tax_on_profit_after_depreciation(tmp_path):
    """At 25% tax and 3-year depreciation, yearly taxable income is 480 - 400 = 80, taxed 20 at each year end; the
    year-end CFADS drops from 40 to 20."""
    rows, _ = schedule_of(hand(tmp_path, tax={"rate": 0.25, "depreciation_years": 3}))
    assert rows["tax_levered"][[12, 24, 36]] == pytest.approx([20, 20, 20])
    assert rows["tax_levered"][[1, 11, 13]] == pytest.approx([0, 0, 0])
    assert rows["cfads"][12] == pytest.approx(20)


@pytest.mark.parametrize("carry, year3_tax", [(None, 0.25 * (480 - 240)), (1, 0.25 * 480)])
def test_losses_carry_forward_and_expire(tmp_path, carry, year3_tax):
    """Depreciating 1,200 in year 1 makes a 720 loss; year 2 uses 480 of it; year 3 uses the last 240 unless the
    loss expired after one year."""
    rows, _ = schedule_of(hand(tmp_path, tax={"rate": 0.25, "depreciation_years": 1,
                                              "loss_carry_forward_years": carry}))
    assert rows["tax_levered"][[12, 24]] == pytest.approx([0, 0])
    assert rows["tax_levered"][36] == pytest.approx(year3_tax)


def test_residual_sale_is_taxed_on_the_gain(tmp_path):
    """A 25% residual (300) sold at the horizon with book value 0 adds 300 to the month-36 project flow and
    25% x 300 = 75 of tax (on top of 20 on operations)."""
    s = hand(tmp_path, tax={"rate": 0.25, "depreciation_years": 3},
             residual={"method": "percent_of_cost", "percent_of_cost_by_age": {0: 1.0, 3: 0.25}})
    rows, _ = schedule_of(s)
    assert rows["residual_proceeds"][36] == pytest.approx(300)
    assert rows["tax_unlevered"][36] == pytest.approx(20 + 75)
    assert rows["project_cf"][36] == pytest.approx(40 - 95 + 300)


def test_staged_delivery_earns_on_delivered_capacity(tmp_path):
    """Half the cluster at close and half at month 6: months 1-6 earn 25, months 7+ earn 50; the first full year
    (months 7-18) gives a simple payback of 1,200 / 600 = 2 y."""
    s = hand(tmp_path, capex={"delivery": [{"month": 0, "share": 0.5}, {"month": 6, "share": 0.5}]})
    rows, flows = schedule_of(s)
    assert rows["revenue"][1:7] == pytest.approx(np.full(6, 25.0))
    assert rows["revenue"][7:] == pytest.approx(np.full(30, 50.0))
    assert rows["capex"][[0, 6]] == pytest.approx([600, 600])
    assert float(flows.payback_simple[0]) == pytest.approx(2.0)


def test_tenant_default_stops_rent_then_relets_after_the_lag(tmp_path):
    """A default in month 13 (index 12) stops the rent; the GPUs stand empty for 3 months and then earn the
    market rent (defaulted to the contract rent, 50 a month) x spot utilisation 0.6 = 30 a month from month 16, after a
    one-off re-letting cost of 2 months x that market rent (2 x 50 = 100) in month 16."""
    s = hand(tmp_path, contract={"vacancy_lag_months": 3, "spot_utilisation": 0.6,
                                 "reletting_cost_months_of_rent": 2})
    inputs = finance_inputs(s)
    base = Drivers.base(inputs)
    drivers = replace(base, tenant_default_month=np.array([12]))
    rows, _ = schedule_of(s, drivers)
    assert rows["revenue"][12] == pytest.approx(50) and rows["revenue"][13:16] == pytest.approx([0, 0, 0])
    assert rows["revenue_market"][16:] == pytest.approx(np.full(21, 30.0))
    assert rows["opex_reletting"][16] == pytest.approx(100.0) and rows["opex_reletting"].sum() == pytest.approx(100.0)
    none, _ = schedule_of(s, base)  # no default: no re-letting cost
    assert not np.any(none["opex_reletting"])


def test_capacity_relet_after_a_default_is_not_assumed_fully_used(tmp_path):
    """A cluster leased whole for the whole horizon sells nothing at market in the base case, but its GPUs are re-let
    at market after a tenant default: the default spot utilisation is then 0.7 (recorded as an assumption), not 1, and
    re-letting costs one month of the market rent by default."""
    inputs = finance_inputs(hand(tmp_path))
    assert inputs.contracted_share == 1.0 and inputs.term_months >= inputs.months
    assert inputs.spot_utilisation == 0.7 and inputs.reletting_cost_months_of_rent == 1.0


def test_floating_rate_interest_follows_the_path(tmp_path):
    """Floating debt at base 2% + margin 2%: when the path's base rate is 5% from month 13, that month's interest
    is the balance after month 12 x 7% / 12."""
    s = hand(tmp_path, financing={"interest_rate": None, "rate_type": "floating", "floating_base_rate": 0.02,
                                  "floating_margin": 0.02})
    inputs = finance_inputs(s)
    rates = np.full((1, 36), 0.02)
    rates[0, 12:] = 0.05
    rows, _ = schedule_of(s, replace(Drivers.base(inputs), floating_base_rate=rates))
    assert rows["interest_paid"][12] == pytest.approx(rows["debt_balance"][11] * 0.04 / 12)
    assert rows["interest_paid"][13] == pytest.approx(rows["debt_balance"][12] * 0.07 / 12)


def test_base_drivers_on_many_paths_equal_the_deterministic_case(tmp_path):
    """Every path of Drivers.base gives the same flows and metrics as the one-path deterministic run."""
    s = load_scenario("b300-10k-cluster")
    inputs = finance_inputs(s)
    one = finance_metrics(inputs, Drivers.base(inputs, paths=1))
    many = finance_metrics(inputs, Drivers.base(inputs, paths=5))
    assert np.array_equal(many.flows.equity_cf, np.repeat(one.flows.equity_cf, 5, axis=0))
    assert np.array_equal(many.equity_irr, np.repeat(one.equity_irr, 5), equal_nan=True)


# -- the founding case against economics-reference.md 4.3 -----------------------------------------------------------

# EBITDA by hand: RMB 1.45 bn rent - opex (power 9,600 x 1.98 kW x 1.25 x 0.8 x 8,760 h x 0.5 = 83.24 m;
# IDC 9,600 x 1.98 kW x 600 x 12 = 136.86 m; maintenance 1% and insurance 0.3% of 7 bn = 91 m; operations
# 9,600 x 3,000 = 28.8 m) = 1,450 - 339.90 = RMB 1,110.10 m a year. Tax is nil: depreciation (1.4 bn/yr) exceeds it.
EBITDA = 1.45e9 - (9600 * 1.98 * 1.25 * 0.8 * 8760 * 0.5 + 9600 * 1.98 * 600 * 12 + 0.013 * 7e9 + 9600 * 3000)


def test_founding_simple_payback_is_capex_over_rent():
    """Gross payback = 7.0 / 1.45 = 4.83 years (economics-reference.md 4.3); net = 7.0 / 1.110 = 6.31 years."""
    r = run_finance(load_scenario("b300-10k-cluster"))
    assert r.payback_years["simple"] == pytest.approx(7.0 / 1.45)
    assert r.payback_years["net"] == pytest.approx(7.0e9 / EBITDA, rel=1e-9)


def test_founding_dscr_with_annual_payments_matches_the_reference(tmp_path):
    """Compared at annual payments (the reference's frequency): debt service is the 5-year annuity on 6.3 bn at 4%,
    RMB 1.415 bn a year, and DSCR = 1.1101 / 1.4151 = 0.784 (the reference's 0.81 uses EBITDA 1.15 bn)."""
    r = run_finance(founding(tmp_path, lambda d: d["financing"].update(payments_per_year=1)))
    assert r.min_dscr == pytest.approx(EBITDA / -npf.pmt(0.04, 5, 6.3e9), rel=1e-9)
    assert r.covenant_breached


def test_founding_dscr_with_monthly_payments():
    """At the default monthly payments the annual service is 12 x 6.3e9 x i / (1 - (1+i)^-60), i = 0.04/12."""
    r = run_finance(load_scenario("b300-10k-cluster"))
    i = 0.04 / 12
    assert r.min_dscr == pytest.approx(EBITDA / (12 * 6.3e9 * i / (1 - (1 + i) ** -60)), rel=1e-9)


# -- solvers ------------------------------------------------------------------------------------------------------

def test_breakeven_rent_sets_npv_to_zero(tmp_path):
    """NPV = 0 at 12%/yr needs monthly EBITDA of 1,200 / a_36(i), i.e. rent = 10 + 1,200 / a_36(i) a month."""
    s = hand(tmp_path)
    i = monthly_discount(0.12)
    rent_month = 10 + 1200 / ((1 - (1 + i) ** -36) / i)
    solution = solve_rent(*case(s), Target.parse("npv=0"))
    assert solution.rent_per_cluster_year == pytest.approx(12 * rent_month, rel=1e-6)
    assert solution.rent_per_gpu_hour == pytest.approx(rent_month / 8 / 730, rel=1e-6)
    assert run_finance(s, breakeven=True).npv_zero_rent_per_gpu_hour == pytest.approx(solution.rent_per_gpu_hour)
    assert run_finance(s).npv_zero_rent_per_gpu_hour is None


def test_rent_for_a_simple_payback(tmp_path):
    """A 1-year simple payback on 1,200 of capex needs 1,200 of rent a year."""
    solution = solve_rent(*case(hand(tmp_path)), Target.parse("payback_simple=1"))
    assert solution.rent_per_cluster_year == pytest.approx(1200, rel=1e-6)


def test_rent_for_an_equity_irr_meets_it(tmp_path):
    """The rent solved for a 12% equity IRR gives (to the solver's precision) a 12% equity IRR."""
    s = founding(tmp_path)
    solution = solve_rent(*case(s), Target.parse("equity_irr=0.12"))
    assert solution.achieved == pytest.approx(0.12, abs=1e-4) and solution.reason == ""
    assert solution.rent_per_gpu_hour > 17.24  # above the contract: the case misses 12% today


def test_unreachable_target_is_nan_with_a_reason(tmp_path):
    """An all-equity case has no DSCR, so no rent meets min_dscr=1.2: NaN with a reason, no exception."""
    solution = solve_rent(*case(hand(tmp_path, financing={"debt_share": 0})), Target.parse("min_dscr=1.2"))
    assert math.isnan(solution.rent_per_gpu_hour) and "not met" in solution.reason


def test_usage_frontier_trades_base_rent_against_the_fee():
    """For the base + usage scenario, a higher usage fee needs a lower base rent to meet NPV = 0."""
    s = load_scenario("us-b300-neocloud-usage")
    rows = usage_frontier(*case(s), Target.parse("npv=0"), fees=[0.0, 0.1, 0.2])
    rents = [row["rent_per_gpu_hour"] for row in rows]
    assert rents[0] > rents[1] > rents[2] > 0
    assert [row["usage_fee_per_million_tokens"] for row in rows] == [0.0, 0.1, 0.2]


def test_rent_each_payback_definition_needs(tmp_path):
    """A 2-year payback on the hand case needs rent 1,200 / 2 = 600 a year (simple) and 600 + 120 of opex = 720
    (net); the equity and discounted definitions need more than the simple one here."""
    rows = {row["definition"]: row for row in payback_requirements(*case(hand(tmp_path)), 2.0)}
    assert rows["simple"]["rent_per_cluster_year"] == pytest.approx(600, rel=1e-6)
    assert rows["simple"]["change_vs_scenario_rent"] == pytest.approx(0.0, abs=1e-6)
    assert rows["net"]["rent_per_cluster_year"] == pytest.approx(720, rel=1e-6)
    assert rows["discounted"]["rent_per_cluster_year"] > rows["net"]["rent_per_cluster_year"]


def _together_and_alone(inputs, terms, targets, fees, monkeypatch):
    """Each target and fee solved alone, then all together: with the engine's default calls and with calls of at
    most 82 rows. Returns the together answers (default calls) and the alone ones."""
    alone = [solve_rent(inputs, terms, t, usage_fee=f) for t, f in zip(targets, fees, strict=True)]
    with monkeypatch.context() as m:
        m.setattr("tokensim.finance._solve.BLOCK_ROWS", 82)
        in_calls_of_82 = solve_rents(inputs, terms, targets, usage_fees=fees)
    together = solve_rents(inputs, terms, targets, usage_fees=fees)
    for answers in (together, in_calls_of_82):
        for a, b in zip(answers, alone, strict=True):
            assert (a.target, a.reason, a.usage_fee_per_million_tokens) == (b.target, b.reason,
                                                                           b.usage_fee_per_million_tokens)
            assert a.rent_per_gpu_hour == pytest.approx(b.rent_per_gpu_hour, rel=1e-9, nan_ok=True)
            assert a.achieved == pytest.approx(b.achieved, rel=1e-6, abs=1e-9, nan_ok=True)
    return together, alone


def test_targets_solved_together_are_each_solved_alone(tmp_path, monkeypatch):
    """solve_rents runs the searches in step, one batch of the engine per round: each answer is solve_rent's for its
    target and fee alone. The US case's sculpted debt (rows sized together iterate to the same 1e-9 fixed point),
    with a search that ends at zero rent after one round; an all-equity case, where one search runs out of
    expansions (no DSCR) beside one that ends early. Both with the engine's default calls and with calls of at most
    82 rows (two searches of 41 candidates each), where a round takes several calls."""
    inputs, terms = case(load_scenario("us-b300-neocloud-usage"))
    targets = [Target.parse("npv=0"), Target.parse("equity_irr=0.2"), Target.parse("payback_simple=3"),
               Target.parse("npv=-1e15"), Target.parse("npv=0")]
    together, alone = _together_and_alone(inputs, terms, targets, [None, None, 0.05, None, 0.3], monkeypatch)
    assert "zero rent" in alone[3].reason and all(s.reason == "" for s in alone[:3])
    assert together[4].rent_per_gpu_hour < together[0].rent_per_gpu_hour  # a higher fee needs a lower base rent
    inputs, terms = case(hand(tmp_path, financing={"debt_share": 0}))
    _, alone = _together_and_alone(inputs, terms, [Target.parse("min_dscr=1.2"), Target.parse("npv=0")], [None] * 2,
                                   monkeypatch)
    assert "not met" in alone[0].reason and alone[1].reason == ""
    assert solve_rents(inputs, terms, []) == []


def test_spot_capacity_earns_market_rent_times_utilisation(tmp_path):
    """A spot cluster earns GPUs x 730 h x market rent x spot utilisation a month: 8 x 730 x 2.0 x 0.5 = 5,840,
    the market rent falling 10% a year (month 13: x 0.9); the break-even solves the market rent."""
    s = hand(tmp_path, contract={"type": "spot", "term_years": None, "rent_per_cluster_year": None,
                                 "market_rent_per_gpu_hour": 2.0, "market_rent_change_per_year": -0.1,
                                 "spot_utilisation": 0.5})
    rows, _ = schedule_of(s)
    assert rows["revenue"][1] == pytest.approx(8 * 730 * 2.0 * 0.5)
    assert rows["revenue"][13] == pytest.approx(8 * 730 * 2.0 * 0.5 * 0.9)
    assert rows["revenue_contract"].sum() == 0
    assert solve_rent(*case(s), Target.parse("npv=0")).solved_for == "market rent"


def test_usage_fees_are_capped_per_gpu_hour(tmp_path):
    """Base + usage: 1,000 tokens/s x 3,600 x busy 0.5 = 1.8 M tokens per GPU-hour at 1.0 per M earns 1.8 per
    GPU-hour, capped at 1.5: usage revenue 8 x 730 x 1.5 = 8,760 a month on top of the base rent."""
    s = hand(tmp_path, contract={"type": "base_plus_usage", "usage_fee_per_million_tokens": 1.0,
                                 "usage_tokens_per_s_per_gpu": 1000, "usage_busy_share": 0.5,
                                 "usage_cap_per_gpu_hour": 1.5})
    rows, _ = schedule_of(s)
    assert rows["revenue_usage"][1] == pytest.approx(8 * 730 * 1.5)
    assert rows["revenue_contract"][1] == pytest.approx(50)


# -- the batched engine, the public Target ----------------------------------------------------------------------------

def test_one_sculpting_loop_sizes_a_batch_like_each_case_alone(tmp_path):
    """debt_at_close on two stacked cases (rates equal, capex different) gives each case's own sculpted schedule,
    and batch_metrics gives run_finance's metrics."""
    cases = [hand(tmp_path, financing={"amortisation": "sculpted", "target_dscr": 1.3, "interest_rate": 0.06},
                  capex={"server_price": price}) for price in (1200, 1500)]
    inputs = stack_inputs([finance_inputs(s, size_debt=False) for s in cases])
    terms = stack_terms([debt_terms(s) for s in cases])
    stacked = debt_at_close(inputs, terms)
    for row, s in enumerate(cases):
        alone = finance_inputs(s).debt
        assert stacked.principal[row] == pytest.approx(alone.principal[0], rel=1e-9, abs=1e-9)
    got = batch_metrics(inputs, terms, ["npv", "equity_irr", "min_dscr"])
    for row, s in enumerate(cases):
        r = run_finance(s)
        assert got["npv"][row] == pytest.approx(r.npv, rel=1e-9)
        assert got["equity_irr"][row] == pytest.approx(r.equity_irr, rel=1e-9)
        assert got["min_dscr"][row] == pytest.approx(r.min_dscr, rel=1e-9)


def test_sculpting_needs_one_rate_per_batch(tmp_path):
    """Sculpted rows with different rates at close are refused (callers group them by sizing_key)."""
    cases = [hand(tmp_path, financing={"amortisation": "sculpted", "target_dscr": 1.3, "interest_rate": rate})
             for rate in (0.05, 0.06)]
    terms = [debt_terms(s) for s in cases]
    assert sizing_key(terms[0]) != sizing_key(terms[1])
    with pytest.raises(ValueError, match="sizing_key"):
        debt_at_close(stack_inputs([finance_inputs(s, size_debt=False) for s in cases]), stack_terms(terms))


def test_target_is_public_and_its_errors_name_the_parameter(tmp_path):
    """tokensim.Target is the solvers' Target; run_finance takes one or its text; errors name ``target``."""
    assert tokensim.Target is Target
    s = hand(tmp_path)
    by_object = run_finance(s, target=Target("payback_simple", 1.0)).solution
    assert by_object == run_finance(s, target="payback_simple=1").solution
    assert by_object["rent_per_cluster_year"] == pytest.approx(1200, rel=1e-6)
    with pytest.raises(UserError, match=r"^target: got 'equity_ir=0\.1'"):
        run_finance(s, target="equity_ir=0.1")
    with pytest.raises(UserError, match="^--target: "):
        Target.parse("npv", "--target")
