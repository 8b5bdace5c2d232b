"""Plausibility warnings (tokensim._warnings): each rule fires exactly where its threshold says, worked by hand."""

from __future__ import annotations

import json
import math

from _yamledit import edited

import tokensim
from tokensim import _warnings as w
from tokensim.config import config_dir


def test_irr_beyond_a_thousand_percent_a_year_is_flagged_and_nan_is_not():
    assert w.irr("equity_irr", 10.0) == []  # exactly +1,000% a year: at the threshold, not beyond it
    assert w.irr("equity_irr", -0.9997) == []  # a -99.97% IRR is extreme but inside the band; NPV tells the story
    assert w.irr("equity_irr", math.nan) == [] and w.irr("equity_irr", None) == []
    (flag,) = w.irr("equity_irr", 65544.4)  # the founding case at rent x10 after the IRR rule (issue 12)
    assert flag["code"] == "implausible_irr" and flag["field"] == "equity_irr"
    assert "+6.554e+04 a year" in flag["message"]


def test_non_finite_values_are_named():
    flags = w.non_finite({"npv": math.inf, "equity_irr": math.nan, "project_irr": 0.05, "label": "x"})
    assert [f["field"] for f in flags] == ["npv", "equity_irr"]


def test_only_negative_cost_terms_are_flagged():
    flags = w.cost_terms({"capital_recovery": -0.5, "financing": 0.0, "power": 1.2})
    assert [f["field"] for f in flags] == ["cost_per_gpu_hour.capital_recovery"]


def test_usage_above_the_model_gives_the_ratio():
    assert w.usage_throughput(277.0, 277.0) == []  # equal: no overstatement
    assert w.usage_throughput(1500.0, 0.0) == []  # no prediction to compare with
    (flag,) = w.usage_throughput(1385.0, 277.0)
    assert "5.0x the 277" in flag["message"]


def test_extrapolating_predictions_are_listed():
    points = [{"model": "a", "hardware": "B300", "precision": "fp8", "extrapolation": True},
              {"model": "b", "hardware": "H200", "precision": "fp8", "extrapolation": False},
              {"model": "c", "hardware": "H200", "precision": "fp8"}]
    assert [f["message"].split(" on ")[0] for f in w.extrapolation("unit_costs", points)] == ["a"]


def test_the_us_report_warns_that_its_usage_fee_assumes_more_than_the_model_gives(tmp_path):
    """A usage contract assuming more output tokens/s per GPU than the model prices its operating point at (the US
    scenario with its usage_tokens_per_s_per_gpu raised to 100,000, above any layout's figure) is flagged: the report
    says so, with the ratio to the unit-cost table's figure, and closes its reading with it; the founding scenario (a
    fixed rent) has no such warning. (The bundled US scenario's 1,500 assumed fell below the model's figure once the
    layout search priced attention data-parallel instances, DTP8: issue 11.)"""
    path = edited(tmp_path, config_dir() / "scenarios" / "us-b300-neocloud-usage.yaml",
                  {"contract.usage_tokens_per_s_per_gpu": 100_000})
    us = tokensim.run_report(tokensim.load_scenario(path), mc_paths=0)
    main = next(r for r in us.unit_costs if r["precision"] == us.scenario.serving.precision)
    (flag,) = [w for w in us.warnings if w["code"] == "usage_above_model"]
    assert f"{100_000 / main['output_tokens_per_s_per_gpu']:.1f}x" in flag["message"]
    assert us.reading[-1].startswith("Read with care:")
    founding = tokensim.run_report(tokensim.load_scenario("b300-10k-cluster"), mc_paths=0)
    assert not [w for w in founding.warnings if w["code"] == "usage_above_model"]


def test_monte_carlo_summaries_warn_on_implausible_irrs_and_overflow():
    """Issue 12: a Monte Carlo mean IRR of 1e63 came out without a word. An IRR statistic beyond ±1,000% a year
    warns (one per statistic), a mean that overflowed warns, and a plausible summary is silent."""
    from tokensim.montecarlo._run import plausibility_warnings

    metrics = {"equity_irr": {"mean": 1e63, "p05": -0.2, "p50": 0.05, "p95": 12.0, "count": 10},
               "project_irr": {"mean": 0.04, "p05": 0.01, "p50": 0.04, "p95": 0.08, "count": 10},
               "npv": {"mean": float("inf"), "count": 10}, "payback_years_equity": {"mean": None, "count": 0}}
    found = {(w["code"], w["field"]) for w in plausibility_warnings(metrics)}
    assert found == {("implausible_irr", "equity_irr.mean"), ("implausible_irr", "equity_irr.p95"),
                     ("non_finite", "npv.mean")}
    calm = {"equity_irr": {"mean": 0.1, "p05": 0.0, "p50": 0.1, "p95": 0.2, "count": 5}}
    assert plausibility_warnings(calm) == []


def test_mc_json_carries_a_warnings_list():
    from click.testing import CliRunner

    from tokensim.cli import cli

    res = CliRunner().invoke(cli, ["mc", "b300-10k-cluster", "--paths", "200", "--backend", "numpy",
                                   "--format", "json"])
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["warnings"] == []
