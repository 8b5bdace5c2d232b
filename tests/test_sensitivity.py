"""Sensitivity: Sobol indices against the Ishigami function, tornado ordering, bulk evaluation equal to `tokensim
finance`, the `uncertainty.ranges` schema and the `tokensim sensitivity` command."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from tokensim._errors import ConfigError, UserError
from tokensim.api import run_finance
from tokensim.cli import cli
from tokensim.config.reader import config_dir
from tokensim.config.scenario import load_scenario
from tokensim.cost import cost_per_gpu_hour
from tokensim.resolve.cost import cost_inputs
from tokensim.sensitivity import InputRange, evaluate_samples, load_ranges, run_sensitivity, sobol_indices, tornado

FOUNDING = config_dir() / "scenarios" / "b300-10k-cluster.yaml"
# Ishigami (a = 7, b = 0.1) on [-pi, pi]^3: analytic indices (Ishigami & Homma 1990; Saltelli et al. 2008, sec. 4.9)
ISHIGAMI_S1 = np.array([0.3139, 0.4424, 0.0])
ISHIGAMI_ST = np.array([0.5576, 0.4424, 0.2437])


def ishigami(x, a=7.0, b=0.1):
    return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])


def variant(tmp_path, ranges=None, mutate=None):
    doc = copy.deepcopy(yaml.safe_load(FOUNDING.read_text()))
    if ranges is not None:
        doc["uncertainty"]["ranges"] = ranges
    if mutate:
        mutate(doc)
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_scenario(path)


# Rent's range dominates NPV by construction: ±31% of the rent against ±1% of the server price and ±0.05 of PUE.
RENT_DOMINANT = {"contract.rent_per_cluster_year": {"low": 1.0e9, "high": 1.9e9},
                 "capex.server_price": {"low": 4.95e6, "high": 5.05e6},
                 "opex.pue": {"low": 1.2, "high": 1.3}}


def test_sobol_indices_match_ishigami_within_their_intervals():
    """S1 and ST of the Ishigami function (N = 4096, fixed seed) contain the analytic values in their 95% intervals."""
    out = sobol_indices(ishigami, [(-math.pi, math.pi)] * 3, samples=4096, seed=0)
    assert out["evaluations"] == 4096 * 5
    assert np.all(np.abs(out["S1"] - ISHIGAMI_S1) <= out["S1_conf"])
    assert np.all(np.abs(out["ST"] - ISHIGAMI_ST) <= out["ST_conf"])
    assert np.all(out["S1_conf"] < 0.05) and np.all(out["ST_conf"] < 0.06)


def test_sobol_indices_are_deterministic_for_a_seed():
    """The same seed gives identical indices and intervals; another seed gives other numbers."""
    bounds = [(-math.pi, math.pi)] * 3
    a, b = (sobol_indices(ishigami, bounds, samples=256, seed=7) for _ in range(2))
    c = sobol_indices(ishigami, bounds, samples=256, seed=8)
    for key in ("S1", "S1_conf", "ST", "ST_conf"):
        assert np.array_equal(a[key], b[key])
    assert not np.array_equal(a["ST"], c["ST"])


def test_sobol_indices_of_a_linear_function_with_distributions():
    """y = x0 + x1 with x0 uniform on [0, 1] and x1 triangular on [0, 2]: S = ST = Var(xi) / (1/12 + 4/24)."""
    ranges = [InputRange("a", 0.0, 1.0, 0.5), InputRange("b", 0.0, 2.0, 1.0, "triangular", 1.0)]
    out = sobol_indices(lambda x: x[:, 0] + x[:, 1], [(r.low, r.high) for r in ranges], samples=2048, seed=1,
                        ppf=[r.ppf for r in ranges])
    expected = np.array([1 / 12, 4 / 24]) / (1 / 12 + 4 / 24)
    assert np.allclose(out["S1"], expected, atol=0.02) and np.allclose(out["ST"], expected, atol=0.02)


def test_sobol_indices_reject_a_sample_count_that_is_not_a_power_of_two():
    """N must be a power of 2 (the Sobol' sequence's balance): a user error naming the samples parameter."""
    with pytest.raises(UserError, match="^samples: got 1000"):
        sobol_indices(ishigami, [(0, 1)] * 3, samples=1000)


def test_input_distributions_have_their_ends_and_mode():
    """Each distribution's inverse CDF spans [low, high]; the triangle's CDF at the mode is (mode - low) / width."""
    tri = InputRange("x", 1.0, 3.0, 2.5, "triangular", 2.5)
    assert tri.ppf(0.0) == 1.0 and tri.ppf(1.0) == 3.0 and math.isclose(tri.ppf(0.75), 2.5)
    pert = InputRange("x", 0.05, 0.40, 0.2, "pert", 0.2)
    assert math.isclose(pert.ppf(0.0), 0.05) and math.isclose(pert.ppf(1.0), 0.40)
    draws = pert.ppf(np.linspace(0.0005, 0.9995, 1000))
    assert math.isclose(draws.mean(), (0.05 + 4 * 0.2 + 0.40) / 6, rel_tol=0.01)  # the PERT mean


def test_tornado_orders_a_function_by_its_dominant_input():
    """f = 10 x0 + x1: the rows at low/high and the base, in one call of f."""
    base, low, high = tornado(lambda x: 10 * x[:, 0] + x[:, 1] + 0 * x[:, 2], [1, 1, 1], [0, 0, 0], [2, 3, 5])
    assert base == 11 and list(low) == [1, 10, 11] and list(high) == [21, 13, 11]


def test_scenario_tornado_puts_the_dominant_rent_first_and_matches_finance(tmp_path):
    """Rent's range dominates NPV by construction; each end equals `tokensim finance` of the scenario with that value,
    and the low-rent change is the lost rent discounted by hand (no tax is paid: depreciation exceeds EBITDA)."""
    s = variant(tmp_path, RENT_DOMINANT)
    result = run_sensitivity(s, method="tornado", metric="npv")
    assert [r["input"] for r in result.rows] == list(RENT_DOMINANT)
    assert math.isclose(result.base_value, run_finance(s).npv, rel_tol=1e-12)
    rent = result.rows[0]
    for end in ("low", "high"):
        changed = variant(tmp_path, RENT_DOMINANT,
                          lambda d, end=end: d["contract"].update(rent_per_cluster_year=rent[end]))
        assert math.isclose(rent[f"output_{end}"], run_finance(changed).npv, rel_tol=1e-12)
    v = 1 / 1.051 ** (1 / 12)  # the pre-tax WACC 5.1%, monthly
    lost = (1.45e9 - 1.0e9) / 12 * sum(v ** m for m in range(1, 61))
    assert math.isclose(rent["change_low"], -lost, rel_tol=1e-9)
    assert rent["low_label"] == "1bn" and rent["high_label"] == "1.9bn"


def test_scenario_sobol_is_deterministic_and_ranks_the_dominant_input(tmp_path):
    """Sobol on the rent-dominant case: rent has the largest ST, and a seed reproduces every number."""
    s = variant(tmp_path, RENT_DOMINANT)
    a, b = (run_sensitivity(s, method="sobol", metric="npv", samples=64, seed=3) for _ in range(2))
    assert a.rows == b.rows and a.rows[0]["input"] == "contract.rent_per_cluster_year" and a.rows[0]["ST"] > 0.9
    assert a.evaluations == 64 * 5 + 1


@pytest.mark.parametrize("name, inputs, rows", [
    ("b300-10k-cluster", ["capex.server_price", "financing.interest_rate", "residual.percent_of_cost_at_horizon",
                          "contract.rent_per_cluster_year", "tax.rate"],
     [[6e6, 0.05, 0.3, 1.3e9, 0.15], [4e6, 0.03, 0.1, 1.9e9, 0.25]]),
    ("us-b300-neocloud-usage", ["capex.server_price", "financing.floating_margin", "contract.rent_per_gpu_hour",
                                "financing.debt_share", "opex.pue"],
     [[6e5, 0.02, 3.5, 0.6, 1.3], [5e5, 0.03, 2.5, 0.8, 1.2], [5.5e5, 0.02, 3.0, 0.7, 1.1]]),
])
def test_bulk_evaluation_equals_finance_per_sample(name, inputs, rows):
    """Stacked samples (annuity; sculpted floating debt, grouped by rate) give `tokensim finance`'s metrics."""
    from tokensim.sensitivity import _scenario_at

    s = load_scenario(name)
    finance = [run_finance(_scenario_at(s, inputs, row)) for row in rows]  # the oracle, one run per sample
    for metric, get in (("npv", lambda r: r.npv), ("equity_irr", lambda r: r.equity_irr),
                        ("min_dscr", lambda r: r.min_dscr), ("payback_simple", lambda r: r.payback_years["simple"])):
        got = evaluate_samples(s, inputs, rows, metric)
        expected = [get(r) for r in finance]
        assert np.allclose(got, expected, rtol=1e-9, equal_nan=True), metric
    cost = evaluate_samples(s, inputs, rows, "cost_per_gpu_hour")
    x = _scenario_at(s, inputs, rows[0])
    assert math.isclose(cost[0], cost_per_gpu_hour(cost_inputs(x), x.utilisation).total)


def test_floating_base_rate_moves_interest_with_the_principal_fixed_at_close():
    """A higher floating base rate lowers the equity IRR and leaves project NPV (unlevered) unchanged."""
    s = load_scenario("us-b300-neocloud-usage")
    base = s.financing.floating_base_rate
    npv = evaluate_samples(s, ["financing.floating_base_rate"], [[base], [base + 0.02]], "npv")
    eirr = evaluate_samples(s, ["financing.floating_base_rate"], [[base], [base + 0.02]], "equity_irr")
    assert npv[0] == npv[1] and eirr[1] < eirr[0]
    assert math.isclose(eirr[0], run_finance(s).equity_irr, rel_tol=1e-9)


def test_founding_ranges_load_with_sources():
    """The founding scenario's ranges load, each with a source, its base inside [low, high]."""
    ranges, assumptions = load_ranges(load_scenario("b300-10k-cluster"))
    assert len(ranges) >= 8 and not assumptions
    assert all(r.source and r.low <= r.base <= r.high and r.origin == "scenario" for r in ranges)


def test_default_ranges_when_the_scenario_has_none():
    """Without uncertainty.ranges every default input is ±20% of its value and listed as an assumption."""
    s = load_scenario("us-b300-neocloud-usage")
    ranges, assumptions = load_ranges(s)
    assert len(ranges) == len(assumptions) >= 8
    rent = next(r for r in ranges if r.name == "contract.rent_per_gpu_hour")
    assert math.isclose(rent.low, 0.8 * rent.base) and math.isclose(rent.high, 1.2 * rent.base)
    assert all(r.origin == "default" for r in ranges)
    assert all(a["field"].startswith("uncertainty.ranges.") for a in assumptions)


@pytest.mark.parametrize("ranges, message", [
    ({"opex.puee": {"low": 1.1, "high": 1.3}}, "did you mean 'opex.pue'"),
    ({"opex.pue": {"low": 0.9, "high": 1.3}}, "uncertainty.ranges.opex.pue.low"),
    ({"opex.pue": {"low": 1.3, "high": 1.2}}, "a number above low"),
    ({"contract.rent_per_gpu_hour": {"low": 1, "high": 2}}, "contract.rent_per_cluster_year"),
    ({"opex.pue": {"low": 1.3, "high": 1.4, "distribution": "pert"}}, "outside"),
    ({"opex.pue": {"low": 1.1, "high": 1.4, "distribution": "normal"}}, "uniform, triangular, pert"),
    ({"financing.floating_margin": {"low": 0.01, "high": 0.02}}, "only for floating-rate debt"),
    ({}, "at least one input"),
])
def test_bad_ranges_name_file_field_and_allowed(tmp_path, ranges, message):
    """A bad range is a ConfigError naming the file and the field, with what is allowed."""
    s = variant(tmp_path, ranges)
    with pytest.raises(ConfigError) as err:
        load_ranges(s)
    assert message in str(err.value) and "variant.yaml" in str(err.value)


def test_cli_json_keys_and_rows():
    """`tokensim sensitivity --format json` carries the metric, the base, the inputs and one row per input."""
    res = CliRunner().invoke(cli, ["sensitivity", "b300-10k-cluster", "--metric", "min_dscr", "--format", "json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert {"scenario", "method", "metric", "base_value", "inputs", "tornado", "evaluations"} <= set(d)
    assert len(d["tornado"]) == len(d["inputs"]) and d["metric_unit"] == "x"
    assert set(d["tornado"][0]) >= {"input", "low_label", "high_label", "output_low", "output_high", "swing"}


def test_cli_sobol_csv_and_out(tmp_path):
    """--method sobol --format csv prints one row per input; --out writes the JSON, the CSV and the chart."""
    res = CliRunner().invoke(cli, ["sensitivity", "b300-10k-cluster", "--method", "sobol", "--samples", "32",
                                   "--format", "csv", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[0] == "input,S1,S1_conf,ST,ST_conf"
    assert {p.name for p in tmp_path.iterdir()} == {"sensitivity.json", "sensitivity_sobol.csv", "sobol.png"}


@pytest.mark.parametrize("argv, message", [
    (["--metric", "npvv"], "did you mean 'npv'"),
    (["--metric", "irr"], "did you mean 'project_irr' or 'equity_irr'"),
    (["--method", "sobol", "--samples", "1000"], "a power of 2"),
    (["--method", "sobol", "--samples", "32", "--metric", "payback_discounted"], "no value in"),
])
def test_cli_user_errors_exit_2(argv, message):
    """An unknown metric (with did-you-mean), a bad sample count or a metric undefined in samples exit 2."""
    res = CliRunner().invoke(cli, ["sensitivity", "b300-10k-cluster", *argv])
    assert res.exit_code == 2 and message in res.output and "Traceback" not in res.output
