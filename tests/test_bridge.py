"""The price-vs-efficiency bridge: exact attribution, break-even server price, CLI."""

import json
import math
from dataclasses import replace

import pytest
from click.testing import CliRunner

from tokensim import run_bridge as bridge
from tokensim.bridge import FACTORS, unit_cost
from tokensim.cli import cli
from tokensim.config.scenario import load_scenario
from tokensim.resolve.bridge import context
from tokensim.resolve.bridge import sides as sides_from_scenario


@pytest.fixture(scope="module")
def founding():
    return load_scenario("b300-10k-cluster")


@pytest.fixture(scope="module")
def sides(founding):
    return sides_from_scenario(founding, server_price_change=0.5, software_gain=1.3, to_utilisation=0.9,
                               to_cost_of_capital=0.08)


def test_contributions_add_up_to_the_log_change(founding, sides):
    """Shapley contributions over ln(cost) sum to ln(c_B/c_A) to 1e-12, cost deltas to c_B − c_A."""
    r = bridge(founding, *sides)
    total = sum(c["log_contribution"] for c in r.contributions.values())
    assert total == pytest.approx(math.log(r.unit_cost_to / r.unit_cost_from), abs=1e-12)
    assert sum(c["cost_delta"] for c in r.contributions.values()) == pytest.approx(
        r.unit_cost_to - r.unit_cost_from, rel=1e-12)
    assert set(r.contributions) == set(FACTORS)


def test_contributions_do_not_depend_on_the_waterfall_order(founding, sides):
    """Reversing the waterfall order changes the steps but not one Shapley contribution."""
    forward = bridge(founding, *sides)
    backward = bridge(founding, *sides, order=tuple(reversed(FACTORS)))
    for name in FACTORS:
        assert forward.contributions[name]["log_contribution"] == backward.contributions[name]["log_contribution"]
    assert [s["factor"] for s in backward.waterfall] == list(reversed(FACTORS))
    assert backward.waterfall[-1]["unit_cost_after"] == pytest.approx(forward.unit_cost_to, rel=1e-12)


def test_separable_factors_get_their_own_log_ratio(founding, sides):
    """Software gain g divides cost by g whatever else changes, so its contribution is exactly −ln(1.3)."""
    r = bridge(founding, *sides)
    assert r.contributions["software"]["log_contribution"] == pytest.approx(-math.log(1.3), abs=1e-12)


def test_unchanged_factors_contribute_nothing(founding):
    """With the same model on both sides the model factor contributes exactly zero."""
    a, b = sides_from_scenario(founding)
    r = bridge(founding, a, b)
    assert r.contributions["model"]["log_contribution"] == 0.0
    assert r.contributions["software"]["log_contribution"] == 0.0


def test_breakeven_change_makes_costs_equal(founding, sides):
    """The break-even is a change on B's price today (Side.server_price_change): set there, B costs what A costs,
    whatever change B was given (here +50%)."""
    a, b = sides
    r = bridge(founding, a, b)
    at_breakeven = replace(b, server_price_change=r.breakeven_server_price_change_vs_today)
    assert unit_cost(at_breakeven, context(founding)) == pytest.approx(r.unit_cost_from, rel=1e-9)
    assert r.breakeven_server_price == pytest.approx(at_breakeven.server_price_paid, rel=1e-12)


def _bridge_json(*args):
    res = CliRunner().invoke(cli, ["bridge", *map(str, args), "--format", "json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


@pytest.mark.parametrize("given, other", [("0", ()), ("0.5", ("--software-gain", "1.3"))])
def test_cli_breakeven_fed_back_gives_equal_unit_costs(given, other):
    """Issue 13 item 2: the break-even passed back as --server-price-change makes A and B cost the same (1e-9), and
    it does not depend on the change given (it is on today's price, not on the price the change made)."""
    be = _bridge_json(*other, "--server-price-change", given)["breakeven_server_price_change_vs_today"]
    back = _bridge_json(*other, "--server-price-change", repr(be))
    assert back["unit_cost_to"] == pytest.approx(back["unit_cost_from"], rel=1e-9)
    assert back["breakeven_server_price_change_vs_today"] == pytest.approx(be, rel=1e-12)
    assert back["to"]["server_price_change"] == be


def test_api_breakeven_fed_back_gives_equal_unit_costs(founding):
    """The same round trip through the API: resolve.bridge.sides(server_price_change=...) then run_bridge."""
    be = bridge(founding).breakeven_server_price_change_vs_today
    back = bridge(founding, *sides_from_scenario(founding, server_price_change=be))
    assert back.unit_cost_to == pytest.approx(back.unit_cost_from, rel=1e-9)


def test_server_price_change_is_on_todays_price(founding):
    """--server-price-change 0.5 on the founding scenario prices a B300 server at RMB 5.0 m (the note's price, after
    its +50% rise) x 1.5 = 7.5 m: the note's rise is in today's price once, the change on top of it."""
    _, b = sides_from_scenario(founding, server_price_change=0.5)
    assert b.server_price_today == pytest.approx(5_000_000)
    assert b.server_price_paid == pytest.approx(7_500_000)
    assert b.server_price_rise == pytest.approx(0.5) and b.server_price_change == 0.5


def test_higher_server_price_raises_unit_cost(founding, sides):
    """A server-price rise on the 'to' side raises its unit cost."""
    a, b = sides
    lo = bridge(founding, a, replace(b, server_price_rise=0.0)).unit_cost_to
    hi = bridge(founding, a, b).unit_cost_to
    assert hi > lo


def test_cli_bridge_json_contributions_add_up():
    """`tokensim bridge --format json` with explicit sides: contributions sum to the log change (its fields are
    checked against docs/outputs.md by test_outputs_doc.py)."""
    res = CliRunner().invoke(cli, ["bridge", "--from", "H200:fp8", "--to", "B300:nvfp4", "--server-price-change",
                                   "0.5", "--model", "deepseek-v3", "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert sum(c["log_contribution"] for c in data["contributions"].values()) == pytest.approx(
        math.log(data["unit_cost_to"] / data["unit_cost_from"]), abs=1e-12)


@pytest.mark.parametrize("args, wanted", [
    (["--from", "H200"], "HARDWARE:PRECISION"),
    (["--from", "H2000:fp8"], "did you mean 'H200'"),
    (["--to", "B300:nvfp4:abc"], "is not a number"),
    (["--server-price-change", "-1.5"], "above -1"),
    (["--order", "hardware,speed"], "at most once"),
    (["--from", "B200:fp8"], "no server price known for B200"),
])
def test_cli_bridge_bad_input(args, wanted):
    """Malformed sides, unknown names and impossible changes exit 2 with the reason."""
    res = CliRunner().invoke(cli, ["bridge", *args])
    assert res.exit_code == 2 and wanted in res.output, res.output


def test_scenario_price_splits_into_base_and_recent_rise(founding):
    """The founding B300 price (RMB 5.0 m, after a 50% rise) enters as a 3.33 m base plus a +50% rise factor."""
    a, b = sides_from_scenario(founding)
    assert b.server_price == pytest.approx(5_000_000 / 1.5)
    assert b.server_price * (1 + b.server_price_rise) == pytest.approx(5_000_000)
    r = bridge(founding, a, b)
    assert r.contributions["server_price_rise"]["log_contribution"] > 0


def test_bridge_in_another_currency_converts_every_price():
    """--currency USD divides every money field by 7.2 (configs/fx.yaml: RMB 7.2 per USD), the server prices of both
    sides and the break-even price included; fractions (the break-even change) stay as they are."""
    cny, usd = _bridge_json(), _bridge_json("--currency", "USD")
    for key in ("unit_cost_from", "unit_cost_to", "breakeven_server_price"):
        assert usd[key] == pytest.approx(cny[key] / 7.2, rel=1e-12)
    for side in ("from", "to"):
        assert usd[side]["server_price"] == pytest.approx(cny[side]["server_price"] / 7.2, rel=1e-12)
    assert usd["breakeven_server_price_change_vs_today"] == cny["breakeven_server_price_change_vs_today"]


def test_bridge_takes_the_scenario_as_every_command_does():
    """Issue 16: bridge took --scenario while every other command takes the scenario positionally. The positional
    form and the old option give the same JSON; both at once is refused."""
    from click.testing import CliRunner

    from tokensim.cli import cli

    positional = CliRunner().invoke(cli, ["bridge", "us-b300-neocloud-usage", "--format", "json"])
    option = CliRunner().invoke(cli, ["bridge", "--scenario", "us-b300-neocloud-usage", "--format", "json"])
    assert positional.exit_code == 0 and positional.stdout == option.stdout
    assert '"currency": "USD"' in positional.stdout  # the neocloud scenario, not the default founding case
    both = CliRunner().invoke(cli, ["bridge", "us-b300-neocloud-usage", "--scenario", "b300-10k-cluster"])
    assert both.exit_code == 2 and "allowed: one of them" in both.stderr


def test_bridge_csv_is_the_contributions_table_of_the_json():
    """Issue 16: bridge refused --format csv. The CSV holds one row per factor with the JSON's contribution numbers,
    and its log contributions add up to ln(to/from) (the Shapley split is exact)."""
    import csv
    import io
    import json
    import math

    from click.testing import CliRunner

    from tokensim.cli import cli

    data = json.loads(CliRunner().invoke(cli, ["bridge", "--format", "json"]).stdout)
    res = CliRunner().invoke(cli, ["bridge", "--format", "csv"])
    assert res.exit_code == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [r["factor"] for r in rows] == list(data["contributions"])
    total = sum(float(r["log_contribution"]) for r in rows)
    assert total == pytest.approx(math.log(data["unit_cost_to"] / data["unit_cost_from"]), abs=1e-12)
