"""The main job, ``tokensim run``: sections, consistency between stages, artefacts.

The report is built once per session (``founding_run`` in conftest.py); which fields each section carries is
checked against docs/outputs.md by test_outputs_doc.py.
"""

import json
import math

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import FOUNDING_PATHS

from tokensim.cli import cli


@pytest.fixture(scope="module")
def report_json(founding_run):
    return founding_run.json


def test_bridge_end_equals_the_unit_cost_table(report_json):
    """The unit-cost table has a row for the compare precision (fp8) and the scenario's own (nvfp4), and the bridge's
    'to' cost is the same number as the row of the scenario's own precision."""
    d = report_json
    assert [r["precision"] for r in d["unit_costs"]] == ["fp8", "nvfp4"]
    row = next(r for r in d["unit_costs"] if r["precision"] == "nvfp4")
    assert d["bridge"]["unit_cost_to"] == pytest.approx(row["cost_per_million_tokens_blended_cny"], rel=1e-12)


def test_run_and_bridge_quote_one_breakeven(report_json):
    """Issue 13 item 2: `run` and `bridge` quote the same break-even under the same name, and the reading says it as
    a change on today's price (before the fix: +159% in run's sentence against +288% in bridge's table)."""
    res = CliRunner().invoke(cli, ["bridge", "--scenario", "b300-10k-cluster", "--format", "json"])
    assert res.exit_code == 0, res.output
    alone = json.loads(res.output)
    be = report_json["bridge"]["breakeven_server_price_change_vs_today"]
    assert be == pytest.approx(alone["breakeven_server_price_change_vs_today"], rel=1e-12)
    assert report_json["bridge"]["breakeven_server_price"] == pytest.approx(alone["breakeven_server_price"],
                                                                           rel=1e-12)
    assert any(f"could change {be:+.0%} on today's" in line for line in report_json["reading"])


def test_simple_payback_is_capex_over_rent(report_json):
    """Simple payback of the founding case = RMB 7.0 bn / RMB 1.45 bn = 4.83 years (the note's own numbers)."""
    assert report_json["finance"]["payback_years"]["simple"] == pytest.approx(7.0 / 1.45, rel=1e-9)


def test_a_three_year_payback_needs_more_rent(report_json):
    """At the note's rent no payback definition reaches 3 years: each needs a higher rent."""
    rows = report_json["finance"]["payback_rents"]
    assert {r["definition"] for r in rows} == {"simple", "net", "equity", "discounted"}
    assert all(r["change_vs_scenario_rent"] > 0 for r in rows if not math.isnan(r["rent_per_gpu_hour"] or math.nan))


def test_run_writes_artifacts(founding_run):
    """--out writes CSV and Parquet tables that read back, each CSV with a Parquet twin of the same rows, the report
    JSON and the resolved config, and leaves no temporary file."""
    out = founding_run.out
    assert json.loads((out / "report.json").read_text())["scenario"] == "b300-10k-cluster"
    schedule = pd.read_parquet(out / "finance_schedule.parquet")
    assert len(schedule) == 61 and "equity_cf_cny" in schedule.columns
    assert pd.read_csv(out / "unit_costs.csv").shape[0] == 2
    for csv in out.glob("*.csv"):
        assert len(pd.read_csv(csv)) == len(pd.read_parquet(csv.with_suffix(".parquet"))) > 0, csv.name
    assert "seed" in (out / "resolved_config.yaml").read_text()
    assert not list(out.glob(".*.tmp"))


def test_run_in_another_currency(report_json):
    """--currency USD converts money at the FX table (CNY 7.2 per USD) and keeps ratios."""
    cny = report_json
    usd = json.loads(CliRunner().invoke(cli, ["run", "--format", "json", "--currency", "USD", "--paths",
                                              str(FOUNDING_PATHS)]).stdout)
    assert usd["finance"]["npv"] == pytest.approx(cny["finance"]["npv"] / 7.2)
    assert usd["bridge"]["unit_cost_to"] == pytest.approx(cny["bridge"]["unit_cost_to"] / 7.2)
    assert usd["finance"]["equity_irr"] == cny["finance"]["equity_irr"]
    assert usd["monte_carlo"]["npv"]["mean"] == pytest.approx(cny["monte_carlo"]["npv"]["mean"] / 7.2)
    assert usd["monte_carlo"]["equity_irr"] == cny["monte_carlo"]["equity_irr"]


def test_run_unknown_scenario_and_currency():
    """An unknown scenario or currency exits 2 with the names allowed."""
    res = CliRunner().invoke(cli, ["run", "b300-10k-clustr"])
    assert res.exit_code == 2 and "did you mean 'b300-10k-cluster'" in res.output
    res = CliRunner().invoke(cli, ["run", "--currency", "XYZ"])
    assert res.exit_code == 2 and "XYZ" in res.output


def test_monte_carlo_section_and_fan(report_json):
    """The run's Monte Carlo section runs the paths asked for, the reading ends with what they say, and its DSCR fan
    has one quantile row per loan year."""
    mc = report_json["monte_carlo"]
    assert mc["paths"] == FOUNDING_PATHS
    assert len(report_json["reading"]) >= 5
    # the last sentence, unless a warning closes the reading ("Read with care: ..."; the founding point is an
    # extrapolation in sequences per GPU)
    closing = [line for line in report_json["reading"] if not line.startswith("Read with care:")]
    assert closing[-1].startswith(f"Over {FOUNDING_PATHS:,} Monte Carlo paths")
    fan = mc["dscr_by_year"]
    assert fan["years"] == [1, 2, 3, 4, 5]
    assert all(len(v) == 5 for v in fan["quantiles"].values())
    q = fan["quantiles"]
    assert list(q) == ["p05", "p25", "p50", "p75", "p95"]  # keys that are not dotted numbers (issue 16)
    assert all(a <= b for a, b in zip(q["p05"], q["p95"], strict=False))


def test_run_can_skip_the_monte_carlo():
    """--paths 0 leaves the Monte Carlo section, and the reading's sentence about it, out."""
    res = CliRunner().invoke(cli, ["run", "--format", "json", "--paths", "0"])
    assert res.exit_code == 0
    d = json.loads(res.stdout)
    assert "monte_carlo" not in d and not any("Monte Carlo" in line for line in d["reading"])


def test_tables_write_money_with_thousands_separators_not_exponents():
    """Issue 16: table money appeared as 2.333e+09. Amounts from a million up to 1e15 print in full with separators;
    beyond that, and below 0.001, the exponent stays (no table amount is that large; tiny rates need it)."""
    from tokensim._output import render_table

    text = render_table({"npv": -2.333e9, "capex": 7.0e9, "huge": 5.4e17, "tiny": 1.2e-5, "rent": 17.2})
    assert "-2,333,000,000" in text and "7,000,000,000" in text
    assert "5.4e+17" in text and "1.2e-05" in text and "17.2" in text


def test_the_reading_says_what_a_lender_reads(founding_run):
    """Issue 13 done-when: the founding case reports its DSCR-sized debt, what happens at default under 90% debt
    (when, how much sponsor support) and the rent for DSCR 1.2, each sentence carrying the finance JSON's figures.
    The sized debt is also checked against the level-annuity closed form: CFADS per month / 1.2 x the 60-month
    annuity factor at 4% a year."""
    from tokensim import load_scenario, run_finance

    report = founding_run.report
    fin = report.finance
    text = " ".join(report.reading)
    sized = fin["sizing"]["sized_amount"]
    assert f"carries CNY {sized / 1e9:.2f} bn, {fin['sizing']['sized_gearing']:.1%} of capex" in text
    cfads_month = report.schedule["cfads_cny"].to_numpy()[1]
    r = 0.04 / 12
    assert sized == pytest.approx(cfads_month / 1.2 * (1 - (1 + r) ** -60) / r, rel=1e-6)
    w = fin["waterfall"]
    assert f"month {w['first_loan_default_month']}" in text
    assert f"injects CNY {w['sponsor_injection'] / 1e9:.2f} bn over {w['sponsor_injection_months']} months" in text
    rent = report.dscr_rent
    assert f"a minimum DSCR of 1.2 needs rent of {rent['rent_per_gpu_hour']:.2f} per GPU-hour" in text
    # the oracle for that rent: the scenario re-run at it has a minimum DSCR of 1.2
    again = load_scenario("b300-10k-cluster", [f"contract.rent_per_cluster_year={rent['rent_per_cluster_year']!r}"])
    assert run_finance(again).min_dscr == pytest.approx(1.2, abs=1e-6)
