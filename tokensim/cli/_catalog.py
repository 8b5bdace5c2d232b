"""``tokensim catalog``: list the bundled hardware, models and precision recipes."""

from __future__ import annotations

from typing import Any

import click

from .._output import render_table
from ..config.catalog import load_catalog
from ._common import cli, emit, format_option

_COLUMNS = {
    "hardware": ("name", "family", "hbm_gib", "hbm_bandwidth_tb_per_s", "native_formats", "board_power_w"),
    "models": ("name", "family", "attention", "total_params_b", "active_params_b", "experts", "native_precision"),
    "precisions": ("name", "routed_experts", "other_weights", "activations", "kv_cache", "description"),
}


@cli.command("catalog")
@click.argument("kind", type=click.Choice(tuple(_COLUMNS)), default="hardware")
@format_option()
def catalog_command(kind: str, fmt: str) -> None:
    """List catalogue entries (hardware, models or precisions) with their specs and sources."""
    cat = load_catalog()
    tables: dict[str, dict[str, Any]] = {"hardware": cat.hardware, "models": cat.models, "precisions": cat.recipes}
    table = tables[kind]
    rows = [entry.to_dict() for entry in table.values()]
    if fmt == "table":
        emit(rows, fmt, table=render_table([{c: r.get(c) for c in _COLUMNS[kind]} for r in rows], title=kind))
    elif fmt == "csv":
        emit([{k: (v if not isinstance(v, (dict, list)) else str(v)) for k, v in r.items()} for r in rows], fmt)
    else:
        emit(rows, fmt)
