"""Fleets (issue 14): a scenario is a fleet of one block; a two-block fleet and its backlog worked by hand; the
fleet file's errors; the bundled example fleets."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tokensim import load_scenario, run_finance
from tokensim.cli import cli
from tokensim.config.fleet import fleet_of_scenario, load_fleet
from tokensim.fleet import run_fleet
from tokensim.resolve.fleet import block_inputs

# A tiny scenario: 1 GPU per server, H100, no power or space cost (electricity and facility at 0), operations
# 8,760 a GPU-year = 1 per GPU-hour, no maintenance or insurance, no debt, no tax, discount rate 0, a 2-year fixed
# contract at 10 per GPU-hour on the whole cluster, market rent 8 per GPU-hour at 50% spot utilisation, residual
# 50% of cost at 2 years.
TINY_SCENARIO = """\
name: tiny
currency: CNY
horizon_years: 2
utilisation: 1.0
serving: {hardware: H100, model: deepseek-v3, precision: fp8, input_tokens: 1024, output_tokens: 1024}
cluster: {gpus: 1, gpus_per_server: 1}
capex: {server_price: 100000, network_and_fabric_total: 0, installation_total: 0, economic_life_years: 2}
opex:
  power_and_facility_paid_by: lessor
  server_overhead_factor: 1.5
  pue: 1.2
  electricity_price_per_kwh: 0
  load_factor: 0.8
  facility_price_per_kw_month: 0
  maintenance_share_of_capex_per_year: 0
  operations_per_gpu_year: 8760
  insurance_share_of_capex_per_year: 0
financing: {debt_share: 0, interest_rate: 0.04, amortisation: annuity, cost_of_equity: 0.1, discount_rate: 0}
contract:
  type: fixed
  term_years: 2
  rent_per_gpu_hour: 10
  contracted_share: 1
  market_rent_per_gpu_hour: 8
  spot_utilisation: 0.5
tax: {rate: 0, depreciation_years: 2}
residual: {method: percent_of_cost, percent_of_cost_by_age: {0: 1.0, 2: 0.5}}
"""

# Block "own": the tiny scenario, 1 GPU owned, in service 2026-01 (fleet month 0).
# Block "rent": 2 GPUs leased in at 4 per GPU-hour for 1 year, in service 2027-01 (fleet month 12), contract rent 12
# per GPU-hour on half of them (contracted_share 0.5), the other GPU sold at the market rent 8 x 50%.
TWO_BLOCKS = """\
name: two-blocks
currency: CNY
horizon_years: 2
valuation_date: 2026-12
backlog_years: 1
blocks:
  - {name: own, scenario: tiny.yaml, gpus: 1, in_service: 2026-01}
  - name: rent
    scenario: tiny.yaml
    gpus: 2
    in_service: 2027-01
    ownership: leased_in
    lease: {rent_per_gpu_hour: 4, term_years: 1}
    set: {contract.rent_per_gpu_hour: 12, contract.contracted_share: 0.5}
"""


@pytest.fixture
def two_blocks(tmp_path):
    (tmp_path / "tiny.yaml").write_text(TINY_SCENARIO)
    (tmp_path / "fleet.yaml").write_text(TWO_BLOCKS)
    return tmp_path / "fleet.yaml"


def test_one_block_fleet_is_the_scenario():
    # DESIGN.md section 12: a scenario is a fleet of one block, and the same engines serve both (1e-9 relative).
    s = load_scenario("b300-10k-cluster")
    r = run_finance(s, schedule=True)
    f = run_fleet(fleet_of_scenario(s))
    for name in ("npv", "equity_npv", "project_irr", "project_irr_pre_tax", "equity_irr"):
        assert getattr(f, name) == pytest.approx(getattr(r, name), rel=1e-9, abs=1e-12), name
    b = f.blocks[0]
    assert b["min_dscr"] == pytest.approx(r.min_dscr, rel=1e-9)
    assert b["npv"] == pytest.approx(r.npv, rel=1e-9)
    cur = s.currency.lower()
    for item in ("revenue", "opex", "ebitda", "depreciation", "capex", "debt_service", "debt_balance", "cfads",
                 "project_cf", "equity_cf", "tax_levered", "residual_proceeds"):
        np.testing.assert_allclose(f.monthly[f"{item}_{cur}"], r.schedule[f"{item}_{cur}"], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(f.monthly["gpus_online"], r.schedule["gpus_online"], rtol=1e-12)


def test_one_block_fleet_file_is_the_scenario(tmp_path):
    # The same through a fleet file naming the bundled scenario with its own GPUs and horizon.
    (tmp_path / "one.yaml").write_text(
        "currency: CNY\nhorizon_years: 5\nblocks:\n"
        "  - {name: b300, scenario: b300-10k-cluster, gpus: 9600, in_service: 2026-01}\n")
    f = run_fleet(load_fleet(tmp_path / "one.yaml"))
    r = run_finance(load_scenario("b300-10k-cluster"))
    assert f.npv == pytest.approx(r.npv, rel=1e-9)
    assert f.equity_irr == pytest.approx(r.equity_irr, rel=1e-9)
    assert f.blocks[0]["min_dscr"] == pytest.approx(r.min_dscr, rel=1e-9)


def test_two_block_fleet_by_hand(two_blocks):
    f = run_fleet(load_fleet(two_blocks))
    m = f.monthly
    # Owned block, months 1-24: revenue 1 GPU x 10 x 730 h = 7,300; opex operations 1 x 730 = 730; EBITDA 6,570.
    # Leased block, fleet months 13-24: contracted 1 GPU x 12 x 730 = 8,760; market 1 GPU x 8 x 730 x 0.5 = 2,920;
    # revenue 11,680; opex 2 GPUs x (1 operations + 4 lease) x 730 = 7,300 (lease 2 x 4 x 730 = 5,840); EBITDA 4,380.
    assert m["revenue_cny"][1] == pytest.approx(7300)
    assert m["ebitda_cny"][5] == pytest.approx(6570)
    assert m["revenue_cny"][13] == pytest.approx(7300 + 11680)
    assert m["revenue_contract_cny"][13] == pytest.approx(7300 + 8760)
    assert m["revenue_market_cny"][13] == pytest.approx(2920)
    assert m["lease_service_cny"][13] == pytest.approx(5840)
    assert m["opex_cny"][13] == pytest.approx(730 + 7300)
    assert m["ebitda_cny"][20] == pytest.approx(6570 + 4380)
    assert m["gpus_online"][13] == 3 and m["gpus_online_leased_in"][13] == 2
    assert m["gpus_rented"][13] == pytest.approx(1 + 1 + 0.5)  # owned all hours, contracted leased GPU, half the other
    # Capex 100,000 at month 0 (owned only); depreciation 100,000 / 24 a month; book value at month 12 = 50,000.
    assert m["capex_cny"].sum() == pytest.approx(100000)
    assert m["depreciation_cny"][1] == pytest.approx(100000 / 24)
    assert m["book_value_cny"][12] == pytest.approx(50000)
    # No tax, no debt: project_cf = EBITDA - capex + residual (50% x 100,000 = 50,000 at month 24).
    # Sum = -100,000 + 12 x 6,570 + 12 x (6,570 + 4,380) + 50,000 = -100,000 + 78,840 + 131,400 + 50,000 = 160,240;
    # at a 0% discount rate that is the NPV, and the equity cash flow is the same.
    assert m["project_cf_cny"].sum() == pytest.approx(160240)
    assert f.npv == pytest.approx(160240)
    assert m["cash_cumulative_cny"].iloc[-1] == pytest.approx(160240)
    assert f.gpus == 3 and f.gpus_owned == 1 and f.gpus_leased_in == 2
    # Fleet year 2 (months 13-24): revenue 12 x (7,300 + 11,680) = 227,760; lease service 12 x 5,840 = 70,080.
    y2 = f.by_year[1]
    assert y2["revenue"] == pytest.approx(227760)
    assert y2["lease_service"] == pytest.approx(70080)
    # The leased block's IRR has no capex: all its flows are positive, so no IRR (a reason, not a number).
    rent = f.blocks[1]
    assert rent["ownership"] == "leased_in" and rent["capex"] == 0 and math.isnan(rent["project_irr"])
    # H100 in year 2: utilisation = rented / online GPU-months = 12 x (1 + 1.5) / (12 x 3) = 2.5 / 3.
    h100 = [g for g in f.by_generation if g["year"] == 2][0]
    assert h100["utilisation"] == pytest.approx(2.5 / 3)
    assert h100["revenue_per_rented_gpu_hour"] == pytest.approx(227760 / (12 * 2.5 * 730))


def test_backlog_by_hand(two_blocks):
    f = run_fleet(load_fleet(two_blocks))
    # Valuation 2026-12 = fleet month 11; the next year is months 12-23.
    # Contracted revenue: owned 12 x 7,300 = 87,600 + leased (months 13-23) 11 x 8,760 = 96,360 -> 183,960.
    # Revenue: 87,600 + 11 x 11,680 = 128,480 -> 216,080. Contracted GPU-months 12 + 11 x 1 = 23 of 12 + 11 x 2 = 34.
    y1 = f.backlog["by_year"][0]
    assert (y1["from"], y1["to"]) == ("2027-01", "2027-12")
    assert y1["contracted_revenue"] == pytest.approx(183960)
    assert y1["revenue_coverage_share"] == pytest.approx(183960 / 216080)
    assert y1["capacity_coverage_share"] == pytest.approx(23 / 34)
    assert y1["online_gpu_hours"] == pytest.approx(34 * 730)
    # Backlog total after month 11: owned months 12-24 (13 x 7,300 = 94,900) + leased months 13-24 (12 x 8,760).
    assert f.backlog["backlog_total"] == pytest.approx(94900 + 105120)


def test_block_inputs_for_valuation(two_blocks):
    rows = block_inputs(load_fleet(two_blocks))
    own, rent = rows
    # Operations 8,760 a GPU-year = 1 per GPU-hour; the leased block adds its lease rent 4; no power or space cost.
    assert own.other_cash_cost_per_gpu_hour == pytest.approx(1.0)
    assert rent.other_cash_cost_per_gpu_hour == pytest.approx(5.0)
    assert own.power_per_gpu_hour_busy == 0 and own.space_per_gpu_hour == 0
    assert (own.hardware, own.gpus, own.in_service, own.capex_per_gpu) == ("H100", 1, "2026-01", 100000)
    assert (rent.offset_months, rent.capex_per_gpu, rent.market_rent_per_gpu_hour) == (12, 0.0, 8.0)


@pytest.mark.parametrize("text, expected", [
    ("currency: CNY\nhorizon_years: 2\nblocks: []\n", "field 'blocks' got []; allowed: a list of at least one"),
    ("currency: CNY\nhorizon_years: 2\nvaluaton_date: 2026-01\nblocks:\n"
     "  - {name: a, scenario: tiny.yaml, gpus: 1, in_service: 2026-01}\n", "did you mean 'valuation_date'?"),
    ("currency: CNY\nhorizon_years: 2\nblocks:\n  - {name: a, scenario: tiny.yaml, gpus: 1, in_service: 2026-13}\n",
     "field 'blocks[0].in_service' got '2026-13'; allowed: a year and month as YYYY-MM"),
    ("currency: CNY\nhorizon_years: 2\nblocks:\n"
     "  - {name: a, scenario: tiny.yaml, gpus: 1, in_service: 2026-01, ownership: leased_in}\n",
     "field 'blocks[0].lease'"),
    ("currency: CNY\nhorizon_years: 2\nblocks:\n"
     "  - {name: a, scenario: tiny.yaml, gpus: 1, in_service: 2026-01, set: {contract.rent_per_gpu_hur: 3}}\n",
     "field 'blocks[0].set.contract.rent_per_gpu_hur'"),
    ("currency: CNY\nhorizon_years: 2\nblocks:\n  - {name: a, scenario: tiny2.yaml, gpus: 1, in_service: 2026-01}\n",
     "field 'blocks[0].scenario' got 'tiny2.yaml'"),
    ("currency: USD\nhorizon_years: 2\nblocks:\n  - {name: a, scenario: tiny.yaml, gpus: 1, in_service: 2026-01}\n",
     "a scenario in the fleet's currency USD"),
])
def test_bad_fleet_files_exit_2_in_the_house_form(tmp_path, text, expected):
    (tmp_path / "tiny.yaml").write_text(TINY_SCENARIO)
    (tmp_path / "f.yaml").write_text(text)
    res = CliRunner().invoke(cli, ["fleet", str(tmp_path / "f.yaml")])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [ln for ln in res.output.splitlines() if ln]
    assert all(ln.startswith("tokensim: error: ") for ln in lines), lines
    assert expected in res.output


def test_several_errors_at_once(tmp_path):
    (tmp_path / "f.yaml").write_text("currency: CNY\nhorizon_years: -2\nblocks:\n"
                                     "  - {name: a, scenario: x, gpus: 0, in_service: 2026-01}\n")
    res = CliRunner().invoke(cli, ["fleet", str(tmp_path / "f.yaml")])
    assert res.exit_code == 2
    assert "field 'horizon_years'" in res.output and "field 'blocks[0].gpus'" in res.output


@pytest.mark.parametrize("name", ["neocloud-42k-vintages", "rental-90pct-backlog", "owned-plus-leased-in"])
def test_example_fleets_load_and_run(name):
    fleet = load_fleet(name)
    f = run_fleet(fleet)
    assert f.gpus == sum(b.gpus for b in fleet.blocks)
    assert "not its books" in fleet.description
    assert f.by_year and f.by_generation and f.backlog["by_year"]
    assert np.isfinite(f.npv)


def test_cli_fleet_formats_and_out(two_blocks, tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["fleet", str(two_blocks), "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["npv"] == pytest.approx(160240)
    res = runner.invoke(cli, ["fleet", str(two_blocks), "--format", "csv"])
    assert res.exit_code == 0 and res.output.splitlines()[0].startswith("month,date,year,gpus_online,")
    assert len(res.output.splitlines()) == 1 + 25
    out = tmp_path / "out"
    res = runner.invoke(cli, ["fleet", str(two_blocks), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert {p.name for p in out.iterdir()} >= {"fleet.json", "fleet_monthly.csv", "fleet_blocks_monthly.csv",
                                               "revenue_by_generation.png"}


def test_fleet_out_draws_backlog_coverage_and_value_by_vintage(tmp_path, monkeypatch):
    """Issue 14 Build 5: `fleet --out` also draws backlog coverage and value per GPU by vintage. The backlog bars are
    the backlog table's shares (in percent); the vintage chart has one bar group per owned block, each value bar the
    valuation's value per GPU (money scaled as its axis says)."""
    from click.testing import CliRunner

    from tokensim.cli import cli
    from tokensim.plots import _style

    figures: dict = {}
    original = _style.finish

    def finish(fig, title, footnote, path):
        figures[Path(path).name] = fig
        return original(fig, title, footnote, path)

    monkeypatch.setattr(_style, "finish", finish)
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["fleet", "owned-plus-leased-in", "--out", str(out)])
    assert res.exit_code == 0, res.stderr
    assert {"backlog_coverage.png", "value_by_vintage.png"} <= {p.name for p in out.iterdir()}
    backlog = json.loads((out / "fleet.json").read_text())["backlog"]["by_year"]
    heights = sorted(round(p.get_height(), 9) for p in figures["backlog_coverage.png"].axes[0].patches)
    expected = sorted(round(100 * r[k], 9) for r in backlog for k in ("revenue_coverage_share",
                                                                       "capacity_coverage_share"))
    assert heights == expected
    owned = [b for b in load_fleet("owned-plus-leased-in").blocks if b.ownership == "owned"]
    assert len(figures["value_by_vintage.png"].axes[0].get_xticks()) == len(owned)



def test_several_fleets_side_by_side_and_run_with_a_fleet():
    """Issue 14's company lens and `run --fleet`: each fleet's key figures are its own `tokensim fleet` figures
    (NPV, equity IRR, backlog, first-year revenue and EBITDA from its by-year table), and `run --fleet` carries the
    same figures in a `fleet` section with a sentence in its reading."""
    from click.testing import CliRunner

    from tokensim.cli import cli

    names = ["neocloud-42k-vintages", "owned-plus-leased-in"]
    side = json.loads(CliRunner().invoke(cli, ["fleet", *names, "--format", "json"]).stdout)["fleets"]
    for name, row in zip(names, side, strict=True):
        alone = json.loads(CliRunner().invoke(cli, ["fleet", name, "--format", "json"]).stdout)
        assert row["fleet"] == name and row["npv"] == alone["npv"] and row["equity_irr"] == alone["equity_irr"]
        assert row["backlog_total"] == alone["backlog"]["backlog_total"]
        assert row["revenue_year_1"] == alone["by_year"][0]["revenue"]
        assert row["ebitda_year_1"] == alone["by_year"][0]["ebitda"]
    refused = CliRunner().invoke(cli, ["fleet", *names, "--paths", "10"])
    assert refused.exit_code == 2 and "allowed with one FLEET" in refused.stderr
    run = json.loads(CliRunner().invoke(cli, ["run", "--paths", "0", "--fleet", names[1], "--format", "json"]).stdout)
    assert run["fleet"] == side[1]
    assert any(line.startswith(f"The fleet {names[1]}:") for line in run["reading"])
