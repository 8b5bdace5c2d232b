"""Marking a GPU to its tokens (issue 14 items 3-4): the shutdown point, the reverse DCF, value by age and book value,
each against a figure worked by hand; and `tokensim value`'s bad options in the house form."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from tokensim.cli import cli
from tokensim.config.scenario import load_scenario
from tokensim.resolve.valuation import valuation_block
from tokensim.valuation import (
    ValuationBlock,
    ValuationMarket,
    book_value_per_gpu,
    implied_flat_rent,
    implied_rent_scale,
    months_between,
    shutdown_rent,
    shutdown_token_price,
    valuate,
    value_per_gpu,
)


def _block(**kw) -> ValuationBlock:
    base = dict(hardware="H100", gpus=100.0, in_service="2024-12", cost_per_gpu=300_000.0,
                tokens_per_s_per_gpu=2000.0, market_rent_per_gpu_hour=10.0, power_per_gpu_hour=0.5,
                space_per_gpu_hour=1.0, operations_per_gpu_hour=0.5, next_generation="2030-01", currency="CNY")
    base.update(kw)
    return ValuationBlock(**base)


def _market(**kw) -> ValuationMarket:
    base = dict(as_of="2026-12", token_price_per_million=2.0, busy_share=0.8, discount_rate=0.0, life_years=4.0,
                decline_per_year=0.0, basis="rent")
    base.update(kw)
    return ValuationMarket(**base)


def test_shutdown_point_of_an_h100_by_hand():
    # Cash cost 0.5 power + 1.0 space + 0.5 operations = 2.0 per installed GPU-hour; 80% busy.
    # Rent: 2.0 / 0.8 = 2.5 per rented GPU-hour.
    # Token price: 2,000 tokens/s x 3,600 s = 7.2 m tokens an hour; x 0.8 busy = 5.76 m; 2.0 / 5.76 = 0.347222... per m.
    b = _block()
    assert shutdown_rent(b, 0.8) == pytest.approx(2.5, rel=1e-12)
    assert shutdown_token_price(b, 0.8) == pytest.approx(2.0 / 5.76, rel=1e-12)
    # At exactly the shutdown token price a token-basis GPU earns its cash cost and is worth nothing.
    m = _market(basis="tokens", token_price_per_million=2.0 / 5.76 * (1 - 1e-9))
    assert value_per_gpu(b, m) == 0.0


def test_h100_cash_cost_from_the_founding_scenario_by_hand():
    # b300-10k-cluster opex: H100 board 700 W x overhead 1.8 = 1.26 kW IT; x PUE 1.25 x RMB 0.5/kWh = 0.7875 an hour at
    # full draw; load at 70% busy (schema default busy share) = 0.3 + (0.8 - 0.3) x 0.7 = 0.65 -> power 0.511875.
    # Space: RMB 600/kW-month x 1.26 kW x 12 / 8,760 h = 1.0356164...
    # Shutdown token price at the scenario's price: cash / (0.7 x tokens/s x 0.0036).
    b = valuation_block(load_scenario("b300-10k-cluster"), "H100", 5000, "2023-06")
    assert b.power_per_gpu_hour == pytest.approx(0.511875, rel=1e-12)
    assert b.space_per_gpu_hour == pytest.approx(600 * 1.26 * 12 / 8760, rel=1e-12)
    cash = b.cash_cost_per_gpu_hour
    assert shutdown_token_price(b, 0.7) == pytest.approx(cash / (0.7 * b.tokens_per_s_per_gpu * 0.0036), rel=1e-12)


def test_reverse_dcf_flat_annuity_closed_form_by_hand():
    # One block, 100 GPUs in service 2024-12, life 4 y: 48 - 24 = 24 months left at 2026-12. Discount 0: annuity = 24.
    # EV = 100 x 730 x 24 x (0.8 R - 2.0); at R = 10: 1,752,000 x 6 = 10,512,000.
    b, m = _block(), _market()
    assert implied_flat_rent([b], m, 10_512_000.0) == pytest.approx(10.0, rel=1e-12)
    # At 6%/yr: i = 1.06^(1/12) - 1, a = (1 - (1+i)^-24) / i; R = (EV/730 + 100 a 2) / (0.8 x 100 a).
    m6 = _market(discount_rate=0.06)
    i = 1.06 ** (1 / 12) - 1
    a = (1 - (1 + i) ** -24) / i
    ev = 5_000_000.0
    assert implied_flat_rent([b], m6, ev) == pytest.approx((ev / 730 + 100 * a * 2.0) / (0.8 * 100 * a), rel=1e-12)
    # The bracketing solver on the full model agrees where the full model is a flat annuity (no decline, no shutdown).
    assert implied_rent_scale([b], m6, ev) * 10.0 == pytest.approx(implied_flat_rent([b], m6, ev), rel=1e-9)


def test_value_flat_and_declining_by_hand():
    b = _block()
    # Flat: 24 months x 730 h x (0.8 x 10 - 2) = 105,120.
    assert value_per_gpu(b, _market()) == pytest.approx(24 * 730 * 6.0, rel=1e-12)
    # Declining 20%/yr from the valuation month, 12 months left (life 3 y from 2024-12), no discount:
    # sum_k 730 (8 q^k - 2), q = 0.8^(1/12): 730 (8 q (1 - q^12) / (1 - q) - 24); every month earns above 2.
    q = 0.8 ** (1 / 12)
    m = _market(life_years=3.0, decline_per_year=0.2)
    expected = 730 * (8 * q * (1 - q**12) / (1 - q) - 24)
    assert value_per_gpu(_block(next_generation="2026-12"), m) == pytest.approx(expected, rel=1e-12)
    # The better basis takes the token route when it earns more: 2,000 x 0.0036 x 2.0 = 14.4 > 10.
    assert value_per_gpu(b, _market(basis="better")) == pytest.approx(24 * 730 * (0.8 * 14.4 - 2.0), rel=1e-12)


def test_value_falls_with_age_and_book_value_is_a_straight_line():
    r = valuate([_block(next_generation="2025-01")], _market(decline_per_year=0.2, discount_rate=0.05))
    curve = r.blocks[0].value_by_age
    values = [p["value_per_gpu"] for p in curve]
    assert all(a > b for a, b in zip(values, values[1:-1], strict=False)) and values[-1] == 0.0
    # Book: 300,000 x (1 - age / 4): 300,000, 225,000, 150,000, 75,000, 0.
    assert [p["book_value_per_gpu"] for p in curve] == pytest.approx([300_000, 225_000, 150_000, 75_000, 0])
    assert book_value_per_gpu(300_000, 2.0, 5.0) == pytest.approx(180_000)
    assert book_value_per_gpu(300_000, 6.0, 5.0) == 0.0


def test_lender_p90_is_below_the_value_and_reproducible():
    m = _market(decline_per_year=0.2, discount_rate=0.05, level_volatility=0.35, decline_volatility=0.1, paths=500,
                seed=7)
    a = valuate([_block()], m).blocks[0]
    assert 0 < a.lendable_value_per_gpu < a.value_per_gpu
    assert valuate([_block()], m).blocks[0].lendable_value_per_gpu == a.lendable_value_per_gpu
    no_risk = valuate([_block()], _market(paths=500)).blocks[0]
    assert no_risk.lendable_value_per_gpu == no_risk.value_per_gpu


def test_months_between():
    assert months_between("2023-06", "2026-12") == 42
    assert months_between("2026-12", "2025-01") == -23


@pytest.mark.parametrize(("extra", "line"), [
    (["--in-service", "2023-13"], "tokensim: error: --in-service '2023-13': allowed: a month YYYY-MM, e.g. 2023-06"),
    (["--in-service", "2023-06", "--rent-change", "-2"],
     "tokensim: error: --rent-change -2.0: allowed: a fraction above -1"),
    (["--in-service", "2023-06", "--gpus", "0"],
     "tokensim: error: field '--gpus' got 0.0; allowed: a number in (0, inf)"),
])
def test_bad_options_exit_2_with_one_house_line(extra, line):
    args = ["value", "--hardware", "H100", "--gpus", "5000", "--as-of", "2026-12", "--paths", "0", *extra]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2, res.output
    assert res.stderr.splitlines() == [line]


def test_value_answers_the_new_users_question():
    """5,000 H100 from 2023, rents -40%: one command, a figure and its reasons."""
    res = CliRunner().invoke(cli, ["value", "--hardware", "H100", "--gpus", "5000", "--in-service", "2023-06",
                                   "--rent-change", "-0.4", "--as-of", "2026-12", "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    block = out["blocks"][0]
    assert out["fleet_value"] == pytest.approx(5000 * block["value_per_gpu"])
    assert block["rent_per_gpu_hour"] == pytest.approx(75_000 / 8 / 730 * 0.6)
    assert any("rents -40%" in s for s in out["reading"]) and math.isfinite(out["fleet_value"])


def test_rent_change_usage_share_and_operating_leverage_by_hand():
    # Flat case, 24 months, no discount: every figure is 24 x 730 x (per-hour margin), so ratios are per-hour ratios.
    b = _block()
    # Rent basis, rents -40%: 0.8 x 6 - 2 = 2.8 an hour against 0.8 x 10 - 2 = 6.0 before.
    r = valuate([b], _market(rent_change=-0.4))
    assert r.fleet_value == pytest.approx(100 * 24 * 730 * 2.8, rel=1e-12)
    assert r.fleet_value_before_changes == pytest.approx(100 * 24 * 730 * 6.0, rel=1e-12)
    # Better basis: tokens earn 2,000 x 0.0036 x 2.0 = 14.4 > rent 10, margin 0.8 x 14.4 - 2 = 9.52 an hour.
    # Usage-linked share = (9.52 - 6.0) / 9.52; operating leverage = revenue / value = 11.52 / 9.52.
    r = valuate([b], _market(basis="better"))
    assert r.blocks[0].binding_route == "tokens"
    assert r.usage_linked_value_share == pytest.approx((9.52 - 6.0) / 9.52, rel=1e-12)
    assert r.operating_leverage == pytest.approx(11.52 / 9.52, rel=1e-12)
    # Two blocks in the reverse DCF: 24 and 12 months left (life 4 y from 2024-12 and 2023-12), no discount:
    # EV = 730 x (100 x 24 + 50 x 12) x (0.8 R - 2); at R = 5: 730 x 3,000 x 2 = 4,380,000.
    two = [b, _block(gpus=50.0, in_service="2023-12")]
    assert implied_flat_rent(two, _market(), 4_380_000.0) == pytest.approx(5.0, rel=1e-12)


def test_value_a_fleet_file_values_its_owned_blocks():
    """`tokensim value --fleet FLEET` (issue 14): every owned block of the fleet is valued with its own GPUs and
    in-service month; the leased-in blocks (the lessor's assets) are named as not valued; the fleet's value is the
    sum of its blocks'. A fleet with one block's options at once is refused."""
    import json

    from click.testing import CliRunner

    from tokensim.cli import cli
    from tokensim.config.fleet import load_fleet

    fleet = load_fleet("owned-plus-leased-in")
    res = CliRunner().invoke(cli, ["value", "--fleet", "owned-plus-leased-in", "--as-of", "2026-12", "--paths", "50",
                                   "--format", "json"])
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    owned = [b for b in fleet.blocks if b.ownership == "owned"]
    assert [(b["hardware"], b["gpus"], b["in_service"]) for b in data["blocks"]] == \
        [(b.scenario.serving.hardware, b.gpus, b.in_service) for b in owned]
    assert data["not_valued"] == [b.name for b in fleet.blocks if b.ownership != "owned"]
    assert data["fleet_value"] == pytest.approx(sum(b["block_value"] for b in data["blocks"]), rel=1e-12)
    both = CliRunner().invoke(cli, ["value", "--fleet", "owned-plus-leased-in", "--hardware", "H100"])
    assert both.exit_code == 2 and "allowed: a fleet, or one block's" in both.stderr


def test_value_takes_a_bundled_fleet_in_the_scenarios_place():
    """`tokensim value FLEET` (the issue's form) is `tokensim value --fleet FLEET` for a bundled fleet's name."""
    import json

    from click.testing import CliRunner

    from tokensim.cli import cli

    args = ["--as-of", "2026-12", "--paths", "20", "--format", "json"]
    positional = CliRunner().invoke(cli, ["value", "owned-plus-leased-in", *args])
    option = CliRunner().invoke(cli, ["value", "--fleet", "owned-plus-leased-in", *args])
    assert positional.exit_code == 0, positional.stderr
    assert json.loads(positional.stdout) == json.loads(option.stdout)

