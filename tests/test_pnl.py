"""Serving P&L and fleet sizing (tokensim.cost.serving_pnl, gpus_needed) and the `tokensim pnl` command."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from tokensim import ConfigError
from tokensim.cli import cli
from tokensim.cost import fleet_gpus, gpus_needed, serving_pnl

DEEPSEEK_V32 = dict(price_input=0.28, price_cached_input=0.028, price_output=0.42)  # USD per M (ref 3.1)


def test_pnl_on_hand_worked_numbers():
    """100 GPUs x 720 h x $2.50 = $180,000; 1e10 input tokens half cached and 2e9 output tokens at V3.2 prices earn
    5e9 x 0.28/1e6 + 5e9 x 0.028/1e6 + 2e9 x 0.42/1e6 = 1,400 + 140 + 840 = $2,380; markup (2,380 - 180,000) /
    180,000, gross margin (2,380 - 180,000) / 2,380; cost per M tokens 180,000 / 12,000 = 15."""
    p = serving_pnl(gpus=100, hours=720, cost_per_gpu_hour=2.5, input_tokens=1e10, cache_hit_rate=0.5,
                    output_tokens=2e9, currency="USD", **DEEPSEEK_V32)
    assert p.cost == pytest.approx(180_000)
    assert (p.revenue_input, p.revenue_cached_input, p.revenue_output) == pytest.approx((1400, 140, 840))
    assert p.revenue == pytest.approx(2380)
    assert p.markup == pytest.approx((2380 - 180_000) / 180_000)
    assert p.gross_margin == pytest.approx((2380 - 180_000) / 2380)
    assert p.cost_per_million_tokens == pytest.approx(15.0)
    assert p.cost_per_million_output_tokens == pytest.approx(90.0)


def test_profitable_fleet_margin():
    """10 GPUs x 100 h x $2 = $2,000 against 1e9 output tokens at $3 per M = $3,000: profit $1,000, a markup of
    1,000 / 2,000 = 50% and a gross margin of 1,000 / 3,000 = 33.3%."""
    p = serving_pnl(gpus=10, hours=100, cost_per_gpu_hour=2.0, input_tokens=0, cache_hit_rate=0,
                    output_tokens=1e9, price_input=1, price_cached_input=0.1, price_output=3.0)
    assert p.markup == pytest.approx(0.5) and p.profit == pytest.approx(1000.0)
    assert p.gross_margin == pytest.approx(1 / 3)
    assert p.revenue_per_gpu_hour == pytest.approx(3.0)


def test_deepseek_published_day_is_a_545_percent_markup_and_an_84_5_percent_gross_margin():
    """DeepSeek's published day (ref [50], "Day 6: DeepSeek-V3/R1 Inference System Overview", 1-Mar-2025; research
    notes 3.5): 226.75 nodes x 8 H800 x 24 h = 43,536 GPU-hours at $2 = $87,072; 608 B input tokens, 342 B of them
    cache hits, and 168 B output tokens at R1 list prices $0.14 / $0.55 / $2.19 per M (ref 3.1) earn
    342e3 x 0.14 + 266e3 x 0.55 + 168e3 x 2.19 = 47,880 + 146,300 + 367,920 = $562,100 (DeepSeek: $562,027, from
    unrounded token counts). Profit 475,028: markup 475,028 / 87,072 = 545.6% (DeepSeek's "cost profit margin"
    545%); gross margin 475,028 / 562,100 = 84.5%."""
    p = serving_pnl(gpus=226.75 * 8, hours=24, cost_per_gpu_hour=2.0, input_tokens=608e9,
                    cache_hit_rate=342 / 608, output_tokens=168e9, price_input=0.55, price_cached_input=0.14,
                    price_output=2.19)
    assert p.cost == pytest.approx(87_072) and p.revenue == pytest.approx(562_100)
    assert p.markup == pytest.approx(475_028 / 87_072, rel=1e-9)
    assert p.gross_margin == pytest.approx(475_028 / 562_100, rel=1e-9)
    assert round(p.markup, 2) == 5.46 and round(p.gross_margin, 3) == 0.845
    # the two are one number seen from two sides: a markup m is a gross margin m / (1 + m)
    assert p.gross_margin == pytest.approx(p.markup / (1 + p.markup), rel=1e-12)


def test_no_revenue_has_no_gross_margin():
    """With no revenue the gross margin (profit / revenue) is undefined (NaN, null in JSON); the markup is -100%."""
    p = serving_pnl(gpus=1, hours=1, cost_per_gpu_hour=2.0, input_tokens=0, cache_hit_rate=0, output_tokens=1e6,
                    price_input=0, price_cached_input=0, price_output=0)
    assert math.isnan(p.gross_margin) and p.markup == pytest.approx(-1.0)


def test_gpus_needed_for_a_volume():
    """1e9 output tokens in 100 h at 1,000 tokens/s per GPU need 1e9 / (1,000 x 360,000) = 2.78 GPUs; adding 1e9
    input tokens, 40% cached at 10% cost, at 10,000 tokens/s of prefill adds 1e9 x 0.64 / 3.6e9 = 0.178."""
    assert gpus_needed(hours=100, output_tokens=1e9, output_tokens_per_s_per_gpu=1000) == pytest.approx(2.7778,
                                                                                                       rel=1e-4)
    with_prefill = gpus_needed(hours=100, output_tokens=1e9, output_tokens_per_s_per_gpu=1000, input_tokens=1e9,
                               cache_hit_rate=0.4, input_tokens_per_s_per_gpu=10_000, cached_input_cost_fraction=0.1)
    assert with_prefill == pytest.approx(1e9 / 3.6e8 + 1e9 * 0.64 / 3.6e9)


def test_fleet_is_the_needed_gpus_rounded_up():
    """2.78 GPUs need 3; exactly 3 (even as 3.0000000000000004 from float division) needs 3; a trickle needs 1."""
    assert fleet_gpus(2.7778) == 3
    assert fleet_gpus(0.1 * 3 / 0.1) == 3 and 0.1 * 3 / 0.1 > 3  # the float rounding the tolerance absorbs
    assert fleet_gpus(3.001) == 4
    assert fleet_gpus(1e-6) == 1 and fleet_gpus(0.0) == 1


@pytest.mark.parametrize("field, value", [("price_input", -0.1), ("price_output", -1.0), ("cost_per_gpu_hour", -2)])
def test_negative_prices_are_rejected(field, value):
    """A negative price or cost is an error naming the field and the range [0, inf)."""
    args = dict(gpus=1, hours=1, cost_per_gpu_hour=1.0, input_tokens=0, cache_hit_rate=0, output_tokens=1,
                **DEEPSEEK_V32)
    args[field] = value
    with pytest.raises(ConfigError, match=r"\[0, inf\)"):
        serving_pnl(**args)


def run(*args):
    return CliRunner().invoke(cli, ["pnl", *map(str, args)])


def test_cli_pnl_json_keys_and_values():
    """`tokensim pnl ... --format json` prints cost, revenue, gross_margin, markup and cost_per_million_tokens, and
    no ambiguous `margin`."""
    result = run("--gpus", 100, "--hours", 720, "--gpu-hour-cost", 2.5, "--input-tokens", 1e10,
                 "--cache-hit-rate", 0.5, "--output-tokens", 2e9, "--price-input", 0.28, "--price-cached-input",
                 0.028, "--price-output", 0.42, "--currency", "USD", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {"cost", "revenue", "gross_margin", "markup", "cost_per_million_tokens"} <= set(data)
    assert "margin" not in data
    assert data["cost"] == pytest.approx(180_000) and data["revenue"] == pytest.approx(2380)


def test_cli_pnl_sizes_the_fleet_when_gpus_are_omitted():
    """Without --gpus but with a decode throughput, the fleet is the GPUs needed rounded up (2.78 -> 3)."""
    result = run("--hours", 100, "--gpu-hour-cost", 2.0, "--output-tokens", 1e9, "--price-input", 0,
                 "--price-cached-input", 0, "--price-output", 3.0, "--output-tokens-per-s-per-gpu", 1000,
                 "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["gpus"] == 3 and data["gpus_needed"] == pytest.approx(2.7778, rel=1e-4)


def test_cli_pnl_negative_price_exits_2_naming_the_option():
    """A negative --price-input exits with status 2 and names the option and the allowed range."""
    result = run("--gpus", 1, "--hours", 1, "--gpu-hour-cost", 1, "--output-tokens", 1, "--price-input", -0.1,
                 "--price-cached-input", 0, "--price-output", 1)
    assert result.exit_code == 2
    assert "--price-input" in result.output and "[0, inf)" in result.output


def test_cli_pnl_cache_hit_rate_above_one_exits_2():
    """--cache-hit-rate 1.5 is outside [0, 1]: exit 2 with the range."""
    result = run("--gpus", 1, "--hours", 1, "--gpu-hour-cost", 1, "--output-tokens", 1, "--price-input", 0,
                 "--price-cached-input", 0, "--price-output", 1, "--cache-hit-rate", 1.5)
    assert result.exit_code == 2 and "[0, 1]" in result.output


def test_cli_pnl_unknown_currency_exits_2():
    """--currency XYZ exits with status 2 listing the known currencies."""
    result = run("--gpus", 1, "--hours", 1, "--gpu-hour-cost", 1, "--output-tokens", 1, "--price-input", 0,
                 "--price-cached-input", 0, "--price-output", 1, "--currency", "XYZ")
    assert result.exit_code == 2 and "CNY, EUR, USD" in result.output


def test_cli_pnl_needs_gpus_or_a_throughput():
    """Omitting both --gpus and --output-tokens-per-s-per-gpu is a user error (exit 2)."""
    result = run("--hours", 1, "--gpu-hour-cost", 1, "--output-tokens", 1, "--price-input", 0,
                 "--price-cached-input", 0, "--price-output", 1)
    assert result.exit_code == 2 and "--gpus" in result.output


def test_gpu_hour_price_from_the_catalogue():
    """Issue 16: --gpu-hour-price HARDWARE:TIER takes the cost per GPU-hour from the price catalogue (the median of
    the tier's latest-year quotes): the P&L equals the one with that number typed as --gpu-hour-cost, and its cost is
    GPUs x hours x price. Both options, or a tier the hardware has no quote in, are refused."""
    import json

    from click.testing import CliRunner

    from tokensim.cli import cli
    from tokensim.config.prices import load_prices
    from tokensim.tokencost import tier_prices

    price = tier_prices(load_prices(), "H100", "neocloud-on-demand", "USD")[0]
    common = ["pnl", "--gpus", "8", "--hours", "720", "--output-tokens", "1e9", "--price-input", "1",
              "--price-cached-input", "0.1", "--price-output", "3", "--format", "json"]
    by_tier = CliRunner().invoke(cli, [*common, "--gpu-hour-price", "H100:neocloud-on-demand"])
    typed = CliRunner().invoke(cli, [*common, "--gpu-hour-cost", repr(price)])
    assert by_tier.exit_code == 0 and by_tier.stdout == typed.stdout
    assert json.loads(by_tier.stdout)["cost"] == pytest.approx(8 * 720 * price, rel=1e-12)
    both = CliRunner().invoke(cli, [*common, "--gpu-hour-price", "H100:neocloud-on-demand", "--gpu-hour-cost", "2"])
    assert both.exit_code == 2 and "exactly one of them" in both.stderr
    none = CliRunner().invoke(cli, [*common, "--gpu-hour-price", "GB300:china-rental"])
    assert none.exit_code == 2 and "no china-rental quote for GB300" in none.stderr
