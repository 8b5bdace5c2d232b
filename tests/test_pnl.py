"""Serving P&L and fleet sizing (tokensim.cost.serving_pnl, gpus_needed) and the `tokensim pnl` command."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tokensim import ConfigError
from tokensim.cli import cli
from tokensim.cost import fleet_gpus, gpus_needed, serving_pnl

DEEPSEEK_V32 = dict(price_input=0.28, price_cached_input=0.028, price_output=0.42)  # USD per M (ref 3.1)


def test_pnl_on_hand_worked_numbers():
    """100 GPUs x 720 h x $2.50 = $180,000; 1e10 input tokens half cached and 2e9 output tokens at V3.2 prices earn
    5e9 x 0.28/1e6 + 5e9 x 0.028/1e6 + 2e9 x 0.42/1e6 = 1,400 + 140 + 840 = $2,380; margin 2,380 / 180,000 - 1;
    cost per M tokens 180,000 / 12,000 = 15."""
    p = serving_pnl(gpus=100, hours=720, cost_per_gpu_hour=2.5, input_tokens=1e10, cache_hit_rate=0.5,
                    output_tokens=2e9, currency="USD", **DEEPSEEK_V32)
    assert p.cost == pytest.approx(180_000)
    assert (p.revenue_input, p.revenue_cached_input, p.revenue_output) == pytest.approx((1400, 140, 840))
    assert p.revenue == pytest.approx(2380)
    assert p.margin == pytest.approx(2380 / 180_000 - 1)
    assert p.cost_per_million_tokens == pytest.approx(15.0)
    assert p.cost_per_million_output_tokens == pytest.approx(90.0)


def test_profitable_fleet_margin():
    """10 GPUs x 100 h x $2 = $2,000 against 1e9 output tokens at $3 per M = $3,000: margin 50%, profit $1,000."""
    p = serving_pnl(gpus=10, hours=100, cost_per_gpu_hour=2.0, input_tokens=0, cache_hit_rate=0,
                    output_tokens=1e9, price_input=1, price_cached_input=0.1, price_output=3.0)
    assert p.margin == pytest.approx(0.5) and p.profit == pytest.approx(1000.0)
    assert p.revenue_per_gpu_hour == pytest.approx(3.0)


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
    """`tokensim pnl ... --format json` prints cost, revenue, margin and cost_per_million_tokens."""
    result = run("--gpus", 100, "--hours", 720, "--gpu-hour-cost", 2.5, "--input-tokens", 1e10,
                 "--cache-hit-rate", 0.5, "--output-tokens", 2e9, "--price-input", 0.28, "--price-cached-input",
                 0.028, "--price-output", 0.42, "--currency", "USD", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {"cost", "revenue", "margin", "cost_per_million_tokens"} <= set(data)
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
