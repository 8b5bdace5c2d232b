"""``tokensim cost SCENARIO``: the cost per sold GPU-hour of a scenario's cluster, term by term."""

from __future__ import annotations

import click

from .._output import render_table
from ..config.money import check_currency, fx_factor
from ..config.scenario import load_scenario
from ..cost import cost_per_gpu_hour
from ..resolve.cost import cost_inputs
from ._common import cli, emit, format_option, scenario_overrides, set_option


@cli.command("cost")
@set_option()
@click.argument("scenario")
@click.option("--utilisation", type=float, default=None,
              help="sold share of hours, in [0.01, 1] (default: the scenario's utilisation)")
@click.option("--currency", default=None, help="reporting currency (default: the scenario's), e.g. USD or CNY")
@format_option()
def cost_command(scenario: str, utilisation: float | None, currency: str | None, fmt: str) -> None:
    """Cost per sold GPU-hour: capital recovery, financing, power, facility, maintenance, operations, insurance."""
    s = load_scenario(scenario, scenario_overrides())
    u = s.utilisation if utilisation is None else utilisation  # checked by cost_per_gpu_hour (the schema's bound)
    breakdown = cost_per_gpu_hour(cost_inputs(s), u)
    if currency is not None:
        code = check_currency(currency, None, "--currency")
        breakdown = breakdown.scaled(fx_factor(s.currency, code), code)
    if fmt == "json":
        emit({"scenario": s.name, **breakdown.to_dict(), "breakdown": breakdown.rows(),
              "assumptions": s.assumption_rows()}, fmt)
    elif fmt in ("csv", "parquet"):
        emit(breakdown.rows(), fmt)
    else:
        title = (f"{s.name}: cost per sold GPU-hour at {u:.0%} utilisation ({breakdown.currency}); "
                 f"capex {breakdown.capex_per_gpu:,.0f}/GPU, residual {breakdown.residual_per_gpu:,.0f}/GPU")
        emit(None, fmt, table=render_table(breakdown.rows(), title=title))
