"""``tokensim pnl``: a fleet's serving P&L over a period, and the GPUs a token volume needs."""

from __future__ import annotations

import click

from .._errors import UserError
from ..config import check_number
from ..config.money import check_currency
from ..cost import fleet_gpus, gpus_needed, serving_pnl
from ..tokencost import catalogue_gpu_hour_price
from ._common import cli, emit, format_option


def _nonneg(value: float | None, option: str, *, positive: bool = False) -> float | None:
    if value is None:
        return None
    return check_number(value, None, option, low=0, low_open=positive)


@cli.command("pnl")
@click.option("--gpus", type=float, default=None,
              help="GPUs in the fleet (omit with --output-tokens-per-s-per-gpu to size the fleet)")
@click.option("--hours", type=float, required=True, help="hours in the period (each GPU paid for all of them)")
@click.option("--gpu-hour-cost", type=float, default=None, help="cost per GPU-hour (or --gpu-hour-price)")
@click.option("--gpu-hour-price", "gpu_hour_price", metavar="HARDWARE:TIER",
              help="the cost per GPU-hour from the price catalogue: the median of HARDWARE's latest-year quotes in "
                   "TIER (tokensim catalog prices), in --currency; e.g. H100:neocloud-on-demand")
@click.option("--input-tokens", type=float, default=0.0, show_default=True,
              help="input tokens in the period, cached ones included")
@click.option("--cache-hit-rate", type=float, default=0.0, show_default=True,
              help="share of input tokens served from the prefix cache, in [0, 1]")
@click.option("--output-tokens", type=float, required=True, help="output tokens in the period")
@click.option("--price-input", type=float, required=True, help="price per million uncached input tokens")
@click.option("--price-cached-input", type=float, required=True, help="price per million cached input tokens")
@click.option("--price-output", type=float, required=True, help="price per million output tokens")
@click.option("--output-tokens-per-s-per-gpu", type=float, default=None,
              help="decode throughput per GPU: reports the GPUs the volume needs")
@click.option("--input-tokens-per-s-per-gpu", type=float, default=None,
              help="prefill throughput per GPU (adds uncached input's GPU time to the GPUs needed)")
@click.option("--currency", default="USD", show_default=True, help="currency of the cost and prices")
@format_option()
def pnl_command(gpus, hours, gpu_hour_cost, gpu_hour_price, input_tokens, cache_hit_rate, output_tokens, price_input,
                price_cached_input, price_output, output_tokens_per_s_per_gpu, input_tokens_per_s_per_gpu,
                currency, fmt) -> None:
    """Cost, revenue, gross margin (profit / revenue), markup (profit / cost) and cost per million tokens of serving
    a token volume."""
    code = check_currency(currency, None, "--currency")
    if (gpu_hour_cost is None) == (gpu_hour_price is None):
        raise UserError("--gpu-hour-cost or --gpu-hour-price: allowed: exactly one of them")
    if gpu_hour_price is not None:
        gpu_hour_cost = catalogue_gpu_hour_price(gpu_hour_price, code, "--gpu-hour-price")
    hours = _nonneg(hours, "--hours", positive=True)
    check_number(cache_hit_rate, None, "--cache-hit-rate", low=0, high=1)
    for value, option in ((gpu_hour_cost, "--gpu-hour-cost"), (input_tokens, "--input-tokens"),
                          (output_tokens, "--output-tokens"), (price_input, "--price-input"),
                          (price_cached_input, "--price-cached-input"), (price_output, "--price-output")):
        _nonneg(value, option)
    _nonneg(gpus, "--gpus", positive=True)
    _nonneg(output_tokens_per_s_per_gpu, "--output-tokens-per-s-per-gpu", positive=True)
    _nonneg(input_tokens_per_s_per_gpu, "--input-tokens-per-s-per-gpu", positive=True)
    needed = None
    if output_tokens_per_s_per_gpu is not None:
        needed = gpus_needed(hours=hours, output_tokens=output_tokens,
                             output_tokens_per_s_per_gpu=output_tokens_per_s_per_gpu, input_tokens=input_tokens,
                             cache_hit_rate=cache_hit_rate, input_tokens_per_s_per_gpu=input_tokens_per_s_per_gpu)
    elif input_tokens_per_s_per_gpu is not None:
        raise UserError("--input-tokens-per-s-per-gpu needs --output-tokens-per-s-per-gpu as well")
    if gpus is None:
        if needed is None:
            raise UserError("--gpus: missing; allowed: a number > 0, or omit it and give "
                            "--output-tokens-per-s-per-gpu to size the fleet")
        gpus = float(fleet_gpus(needed))
    result = serving_pnl(gpus=gpus, hours=hours, cost_per_gpu_hour=gpu_hour_cost, input_tokens=input_tokens,
                         cache_hit_rate=cache_hit_rate, output_tokens=output_tokens, price_input=price_input,
                         price_cached_input=price_cached_input, price_output=price_output, currency=code,
                         gpus_needed=needed)
    emit(result.to_dict(), fmt)
