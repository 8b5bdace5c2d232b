"""``tokensim catalog``: list the bundled hardware, models, precision recipes and GPU-hour prices."""

from __future__ import annotations

from typing import Any

import click

from .._errors import unknown_name
from .._output import render_table
from ..config.catalog import load_catalog
from ..config.prices import TIERS, load_prices
from ._common import cli, emit, format_option

_COLUMNS = {
    "hardware": ("name", "family", "hbm_gib", "hbm_bandwidth_tb_per_s", "native_formats", "board_power_w"),
    "models": ("name", "family", "attention", "total_params_b", "active_params_b", "experts", "native_precision"),
    "precisions": ("name", "routed_experts", "other_weights", "activations", "kv_cache", "description"),
    "prices": ("gpu", "tier", "provider", "region", "currency", "price_per_gpu_hour", "price_per_gpu_hour_high",
               "price_per_gpu_hour_usd", "date", "grade"),
}


def _price_rows(gpu: str | None, tier: str | None, region: str | None) -> list[dict[str, Any]]:
    """The price catalogue's entries, filtered, grouped by GPU (catalogue order) and tier, oldest first."""
    gpus = list(load_catalog().hardware)
    wanted = load_catalog().get_hardware(gpu, field="--gpu").name if gpu is not None else None
    regions = sorted({e.region for e in load_prices()}, key=str.lower)
    if region is not None and region.lower() not in {r.lower() for r in regions}:
        raise unknown_name("region", region, regions, field="--region")
    entries = [e for e in load_prices() if (wanted is None or e.gpu == wanted) and (tier is None or e.tier == tier)
               and (region is None or e.region.lower() == region.lower())]
    entries.sort(key=lambda e: (gpus.index(e.gpu), TIERS.index(e.tier), e.date))
    return [e.to_dict() for e in entries]


@cli.command("catalog")
@click.argument("kind", type=click.Choice(tuple(_COLUMNS)), default="hardware")
@click.option("--gpu", default=None, help="prices only: one GPU (a hardware catalogue name or alias)")
@click.option("--tier", type=click.Choice(TIERS), default=None, help="prices only: one market tier")
@click.option("--region", default=None, help="prices only: one region as the catalogue writes it (China, global, "
              "us-east-1 ...; case ignored)")
@format_option()
def catalog_command(kind: str, gpu: str | None, tier: str | None, region: str | None, fmt: str) -> None:
    """List catalogue entries (hardware, models, precisions or GPU-hour prices) with their specs and sources."""
    if kind != "prices" and (gpu, tier, region) != (None, None, None):
        raise click.UsageError("--gpu, --tier and --region apply to `tokensim catalog prices` only")
    if kind == "prices":
        rows = _price_rows(gpu, tier, region)
    else:
        cat = load_catalog()
        tables: dict[str, dict[str, Any]] = {"hardware": cat.hardware, "models": cat.models,
                                             "precisions": cat.recipes}
        rows = [entry.to_dict() for entry in tables[kind].values()]
    if fmt == "table":
        emit(rows, fmt, table=render_table([{c: r.get(c) for c in _COLUMNS[kind]} for r in rows], title=kind))
    elif fmt == "csv":
        emit([{k: (v if not isinstance(v, (dict, list)) else str(v)) for k, v in r.items()} for r in rows], fmt)
    else:
        emit(rows, fmt)
