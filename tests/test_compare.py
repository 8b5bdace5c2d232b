"""`tokensim compare` (issue 16): scenarios side by side, differences from the first, and unit-cost drivers that add
up exactly."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
from click.testing import CliRunner

from tokensim import load_scenario, run_finance
from tokensim.cli import cli
from tokensim.compare import COMPARE_METRICS, compare_scenarios
from tokensim.resolve.variants import variant


@pytest.fixture(scope="module")
def founding():
    return load_scenario("b300-10k-cluster")


def test_a_scenario_against_itself_differs_in_nothing(founding):
    result = compare_scenarios([founding, founding])
    assert all(v == 0 or math.isnan(v) for v in result.differences()[1].values())
    assert all(v == 0 for v in result.drivers[0]["log_contributions"].values())


def test_servers_before_the_price_rise(founding):
    """The Done-when question. Capex falls by the servers' share of the 50% rise: servers x price x (1 - 1/1.5)
    (network and installation unchanged). The whole unit-cost change is the server price, a bridge factor: the
    'other' term is 0 to rounding, and the factors add up to ln(c_B / c_A). The variant's NPV is run_finance's."""
    label, before = variant(founding, "before-price-rise")
    result = compare_scenarios([founding, before])
    a, b = result.values
    servers = founding.cluster.servers * founding.capex.server_price
    assert b["capex_total"] == pytest.approx(a["capex_total"] - servers * (1 - 1 / 1.5), rel=1e-12)
    drivers = result.drivers[0]["log_contributions"]
    assert abs(drivers["other"]) < 1e-9
    total = math.log(b["cost_per_million_tokens_blended"] / a["cost_per_million_tokens_blended"])
    assert sum(drivers.values()) == pytest.approx(total, abs=1e-12)
    assert drivers["server_price"] == pytest.approx(total, abs=1e-9)
    assert b["npv"] == pytest.approx(run_finance(before).npv, rel=1e-12)
    assert "before the 50% rise" in label


def test_a_difference_outside_the_bridge_factors_is_other(founding):
    """Dearer electricity is no bridge factor: the Shapley factors stay at 0 and 'other' carries the change."""
    dearer = load_scenario("b300-10k-cluster", ["opex.electricity_price_per_kwh=0.9"])
    drivers = compare_scenarios([founding, dearer]).drivers[0]
    assert all(abs(v) < 1e-12 for n, v in drivers["log_contributions"].items() if n != "other")
    assert drivers["log_contributions"]["other"] == pytest.approx(drivers["log_change"], abs=1e-12)
    assert drivers["log_change"] > 0


def test_cli_compare_formats_and_errors(tmp_path):
    args = ["compare", "b300-10k-cluster", "b300-10k-cluster", "--variant", "2:before-price-rise"]
    data = json.loads(CliRunner().invoke(cli, [*args, "--format", "json"]).stdout)
    assert [s["label"] for s in data["scenarios"]][1].endswith("(servers at the price before the 50% rise)") \
        or "[servers at the price before the 50% rise]" in data["scenarios"][1]["label"]
    rows = list(csv.DictReader(io.StringIO(CliRunner().invoke(cli, [*args, "--format", "csv"]).stdout)))
    assert len(rows) == 2 * len(COMPARE_METRICS)
    chart = tmp_path / "compare.png"
    drawn = CliRunner().invoke(cli, [*args, "--out", str(chart)])
    assert drawn.exit_code == 0 and chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 10_000
    table = CliRunner().invoke(cli, args).stdout
    assert "servers at the price before the 50% rise" in table  # labels are text, not rich markup
    for bad, message in ((["compare", "b300-10k-cluster"], "allowed: two or more"),
                         ([*args[:3], "--with", "3:financing.debt_share=0.5"], "allowed: N:PATH=VALUE"),
                         ([*args[:3], "--variant", "2:before-price-rice"], "did you mean"),
                         ([*args[:3], "--variant", "2:lessee-pays-power", "--variant", "2:lessee-pays-power"],
                          "does not apply")):
        res = CliRunner().invoke(cli, bad)
        assert res.exit_code == 2 and message in res.stderr and len(res.stderr.splitlines()) == 1, res.stderr


def test_each_scenario_priced_outside_the_validated_envelope_is_warned(founding):
    """A scenario whose operating point extrapolates gets one warning naming its model, hardware and precision and
    the envelope test it fails; the JSON keeps the list and the command line prints it on stderr."""
    from tokensim.bridge import side_point
    from tokensim.resolve.bridge import context, sides

    v4 = load_scenario("b300-10k-cluster", ["serving.model=deepseek-v4-pro"])
    own, ctx = sides(v4)[1], context(v4)
    point = side_point(ctx, own)[0]
    assert point["extrapolation"] and point["model"] == "deepseek-v4-pro"
    res = compare_scenarios([founding, v4], ["v3", "v4"])
    ours = [w for w in res.warnings if w["field"] == "scenarios[v4]"]
    assert len(ours) == 1 and ours[0]["code"] == "extrapolation"
    message = ours[0]["message"]
    assert "deepseek-v4-pro on B300 at nvfp4" in message and point["extrapolation_reason"] in message
    out = CliRunner().invoke(cli, ["compare", "b300-10k-cluster", "b300-10k-cluster", "--with",
                                   "2:serving.model=deepseek-v4-pro", "--format", "json"])
    assert out.exit_code == 0
    assert "deepseek-v4-pro on B300 at nvfp4 is outside" in out.stderr
    assert any(w["code"] == "extrapolation" for w in json.loads(out.stdout)["warnings"])
