"""The fleet Monte Carlo (issue 14, Build 2; tokensim.fleet_mc): zero uncertainty is the deterministic fleet, results
do not depend on chunking, a next-generation arrival cuts the fleet's market rents, and the cross-generation
correlation of the simulated rent shocks is the stated one."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from tokensim.cli import cli
from tokensim.config.fleet import FleetUncertainty, load_fleet
from tokensim.config.uncertainty import MarketRent, Uncertainty, Utilisation, load_uncertainty
from tokensim.finance import Drivers, cashflows
from tokensim.fleet import run_fleet
from tokensim.fleet_mc import fleet_mc_model, generation_paths, simulate_fleet

FLEET = "owned-plus-leased-in"  # H100 owned 2024-01, H200 owned 2025-09, H200 leased 2026-01, B300 leased 2026-06


@pytest.fixture(scope="module")
def fleet():
    return load_fleet(FLEET)


def _zeroed(fleet):
    return {b.generation: load_uncertainty(b.scenario).zeroed() for b in fleet.blocks}


def test_zero_uncertainty_is_the_deterministic_fleet(fleet):
    # Every volatility and intensity at zero (arrivals too): every path is the deterministic fleet of run_fleet.
    model = fleet_mc_model(fleet, generation_uncertainty=_zeroed(fleet),
                           fleet_uncertainty=FleetUncertainty(arrival_rate_per_year=0.0))
    gen = generation_paths(model, 5, np.arange(8, dtype=np.uint64))
    assert np.all(gen["rent_multiplier"] == 1.0) and np.all(gen["logit_util"] == 0.0)
    mc = simulate_fleet(model, paths=40, seed=5, chunk_paths=16)
    det = run_fleet(fleet)
    expected = {"npv": det.npv, "equity_npv": det.equity_npv, "project_irr": det.project_irr,
                "equity_irr": det.equity_irr,
                "min_dscr": min(b["min_dscr"] for b in det.blocks if math.isfinite(b["min_dscr"]))}
    for name, value in expected.items():
        for stat in ("mean", "p05", "p50", "p95", "min", "max"):
            assert mc[name][stat] == pytest.approx(value, rel=1e-9, abs=1e-9), (name, stat)
        assert mc[name]["std"] == 0.0
        assert mc["deterministic"][name] == pytest.approx(value, rel=1e-9, abs=1e-9)
    assert mc["prob_cash_negative_any_year"] in (0.0, 1.0)  # every path alike


def test_same_seed_same_json_for_any_chunk_size(fleet):
    model = fleet_mc_model(fleet, fleet_uncertainty=FleetUncertainty(arrival_rate_per_year=1.0))
    runs = [json.dumps(simulate_fleet(model, paths=70, seed=11, chunk_paths=c), sort_keys=True) for c in (70, 16, 9)]
    assert runs[0] == runs[1] == runs[2]
    assert json.loads(runs[0])["npv"]["std"] > 0  # the paths do differ
    assert json.dumps(simulate_fleet(model, paths=70, seed=12), sort_keys=True) != runs[0]


def test_full_cut_at_month_m_stops_older_market_revenue(fleet):
    # One arrival at fleet month m with a 100% cut: the market rent multiplier is (1 - 1)^1 = 0 from fleet month m on,
    # so every block's revenue_market + revenue_renewal (market-priced) is 0 in its months k with offset + k >= m,
    # and before m each block earns its deterministic amounts (multiplier (1 - 1)^0 = 1).
    m = 30
    model = fleet_mc_model(fleet, generation_uncertainty=_zeroed(fleet),
                           fleet_uncertainty=FleetUncertainty(arrival_rate_per_year=0.0, market_rent_cut_share=1.0))
    arrivals = np.zeros((1, model.months))
    arrivals[0, m - 1:] = 1.0  # cumulative arrivals A at fleet months m .. M (index = month - 1)
    gen = generation_paths(model, 0, np.zeros(1, dtype=np.uint64), arrivals=arrivals)
    checked = 0
    for b, (block, inp) in enumerate(zip(fleet.blocks, model.inputs, strict=True)):
        k = model.generation_of_block[b]
        drivers = replace(Drivers.base(inp), market_rent_multiplier=gen["rent_multiplier"][k, :, block.offset_months:
                                                                                              block.offset_months
                                                                                              + inp.months])
        cut = cashflows(inp, drivers, schedule=True).schedule
        base = cashflows(inp, Drivers.base(inp), schedule=True).schedule
        market = np.asarray(cut["revenue_market"]).reshape(-1) + np.asarray(cut["revenue_renewal"]).reshape(-1)
        market_base = np.asarray(base["revenue_market"]).reshape(-1) + np.asarray(base["revenue_renewal"]).reshape(-1)
        first_cut = max(m - block.offset_months, 0)  # block month of fleet month m
        assert np.all(market[first_cut:] == 0.0), block.name
        np.testing.assert_array_equal(market[:first_cut], market_base[:first_cut])
        checked += int(market_base[first_cut:].sum() > 0)
    assert checked >= 2  # the cut removed market revenue that the deterministic case has


def test_cross_generation_rent_correlation_is_the_stated_one(fleet):
    # kappa = 0 and no jumps: the log rent increment of generation g is s (sqrt(rho) F + sqrt(1 - rho) e_g) minus a
    # constant (s^2 / 2 a month), so two generations' increments have correlation rho and standard deviation
    # s = sigma sqrt(1/12). Pooled over n = paths x months independent draws the sample correlation's standard error
    # is about (1 - rho^2) / sqrt(n) (0.0015 here); the tolerance is 0.01 (over six of them).
    rho_rent, rho_util, sigma = 0.6, 0.3, 0.5
    unc = replace(Uncertainty(), market_rent=MarketRent(volatility_per_year=sigma),
                  utilisation=Utilisation(volatility_per_year=0.8))
    gens = {b.generation: unc for b in fleet.blocks}
    model = fleet_mc_model(fleet, generation_uncertainty=gens, fleet_uncertainty=FleetUncertainty(
        rent_correlation_across_generations=rho_rent, utilisation_correlation_across_generations=rho_util))
    gen = generation_paths(model, 3, np.arange(2000, dtype=np.uint64))
    rent = np.diff(gen["log_rent"], axis=2).reshape(len(model.generations), -1)
    util = np.diff(gen["logit_util"], axis=2).reshape(len(model.generations), -1)
    assert len(model.generations) == 3
    for a in range(3):
        assert rent[a].std() == pytest.approx(sigma * math.sqrt(1 / 12), rel=0.01)
        for b in range(a + 1, 3):
            assert np.corrcoef(rent[a], rent[b])[0, 1] == pytest.approx(rho_rent, abs=0.01)
            assert np.corrcoef(util[a], util[b])[0, 1] == pytest.approx(rho_util, abs=0.01)
    assert abs(np.corrcoef(rent[0], util[0])[0, 1]) < 0.01  # rent and utilisation shocks independent


def test_cli_paths_must_be_positive():
    res = CliRunner().invoke(cli, ["fleet", FLEET, "--paths", "0"])
    assert res.exit_code == 2 and "--paths" in res.output and "Traceback" not in res.output
