"""``tokensim cost-per-token``: cost per million tokens across GPUs, precisions and price tiers at a per-user speed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from .._errors import UserError
from .._output import check_output_path, render_table
from ..config.money import check_currency
from ..config.prices import TIERS
from ..config.scenario import load_scenario
from ..perf import SLO
from ..plots import cost_per_token_chart
from ..resolve.perf import layout_pins, workload_for_model
from ..resolve.perf import slo as serving_slo
from ..resolve.perf import throughput_overrides as throughput_overrides_of
from ..tokencost import DEFAULT_PRECISIONS, cost_per_token_table
from ._common import (
    cli,
    emit,
    format_option,
    info,
    scenario_overrides,
    set_option,
    throughput_override_option,
    throughput_overrides,
)

_COLUMNS = ("hardware", "precision", "tier", "price_per_gpu_hour", "quotes", "layout",
            "output_tokens_per_s_per_gpu", "tokens_per_s_per_user", "cost_per_million_output_tokens",
            "cost_per_million_output_tokens_low", "cost_per_million_output_tokens_high",
            "cost_per_million_input_tokens", "cost_per_million_tokens_blended", "throughput_source")


def _names(text: str | None, option: str) -> list[str] | None:
    if text is None:
        return None
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise UserError(f"{option} {text!r}: an empty name; allowed: names separated by commas")
    return names


@cli.command("cost-per-token")
@set_option()
@click.argument("scenario", default="b300-10k-cluster")
@click.option("--model", help="model (catalogue name; default: SCENARIO's)")
@click.option("--hardware", help="hardware to rank, comma-separated (default: every one with a price quote)")
@click.option("--precision", help=f"precision recipes, comma-separated [default: {','.join(DEFAULT_PRECISIONS)}]")
@click.option("--tier", help=f"price tiers, comma-separated (default: all): {', '.join(TIERS)}")
@click.option("--region", help="keep only price quotes for this region (tokensim catalog prices)")
@click.option("--min-tokens-per-s-per-user", type=float, help="the speed target (default: SCENARIO's)")
@click.option("--input-tokens", type=float, help="input tokens per request (default: SCENARIO's)")
@click.option("--output-tokens", type=float, help="output tokens per request (default: SCENARIO's)")
@click.option("--cache-hit-rate", type=float, help="share of input tokens from the prefix cache (default: SCENARIO's)")
@click.option("--busy-share", type=float, default=1.0, show_default=True,
              help="share of rented GPU-hours that serve tokens, in (0, 1]")
@click.option("--currency", default="USD", show_default=True, help="reporting currency")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), help="also draw the ranking as a PNG bar chart")
@throughput_override_option()
@format_option()
def cost_per_token_command(scenario, model, hardware, precision, tier, region, min_tokens_per_s_per_user,
                           input_tokens, output_tokens, cache_hit_rate, busy_share, currency, out_path,
                           throughput_override, fmt):
    """Rank every hardware x precision x price tier by cost per million output tokens at a per-user speed: the price
    per GPU-hour (median of the latest year's quotes in the tier, tokensim catalog prices) over the tokens each
    GPU-hour serves at the operating point tokensim perf finds, with the model's interval."""
    if out_path is not None:
        if Path(out_path).suffix != ".png":
            raise UserError(f"--out {out_path!r}: allowed: a file name ending in .png")
        check_output_path(out_path, "out_path")
    s = load_scenario(scenario, scenario_overrides())
    code = check_currency(currency, None, "--currency")
    work, speculation = workload_for_model(s.serving, model)
    changes = {k: v for k, v in (("input_tokens", input_tokens), ("output_tokens", output_tokens),
                                 ("cache_hit_rate", cache_hit_rate)) if v is not None}
    if changes:
        work = dataclasses.replace(work, **changes)
    slo = serving_slo(s.serving)
    if min_tokens_per_s_per_user is not None:
        slo = SLO(min_tokens_per_s_per_user, slo.max_ttft_s, slo.max_tpot_s)
    rows, notes = cost_per_token_table(
        model or s.serving.model, work, slo, hardware=_names(hardware, "--hardware"),
        precisions=_names(precision, "--precision") or DEFAULT_PRECISIONS, tiers=_names(tier, "--tier"),
        region=region, currency=code, busy_share=busy_share,
        cached_input_cost_fraction=s.serving.cached_input_cost_fraction,
        throughput_overrides=throughput_overrides_of(s.serving, throughput_overrides(throughput_override)),
        layout_pins=layout_pins(s))
    if not rows:
        raise UserError(f"no hardware x precision x tier could be priced ({len(notes)} left out; the first: "
                        f"{notes[0] if notes else 'none'})")
    if out_path is not None:
        cost_per_token_chart([r.to_dict() for r in rows], code, out_path,
                             title=f"{model or s.serving.model}: cost per million output tokens at "
                                   f"{slo.min_tokens_per_s_per_user:g} tokens/s per user")
        info(f"tokensim: wrote {out_path}")
    for note in ([speculation] if speculation else []) + [f"left out: {n}" for n in notes]:
        info(f"tokensim: {note}")
    data = [r.to_dict() for r in rows]
    if fmt in ("json", "csv", "parquet"):
        emit(data, fmt)
    else:
        title = (f"{model or s.serving.model} at {slo.min_tokens_per_s_per_user:g} tokens/s per user, "
                 f"{work.input_tokens:g} in / {work.output_tokens:g} out tokens ({code}; cheapest output first)")
        emit(None, fmt, table=render_table(data, title=title, columns=_COLUMNS))
