"""``tokensim bridge``: unit token cost from scenario A to B, with each factor's exact Shapley contribution."""

from __future__ import annotations

import click

from .._errors import UserError
from .._output import render_table
from ..api import run_bridge
from ..bridge import FACTORS, UNIT_COST_METRICS, bridge_in_currency
from ..config.money import check_currency
from ..config.scenario import load_scenario
from ..resolve.bridge import sides
from ._common import (
    cli,
    emit,
    format_option,
    scenario_overrides,
    set_option,
    throughput_override_option,
    throughput_overrides,
)


def _table(r: dict) -> str:
    cur = r["currency"]
    head = {
        f"unit cost from ({r['from']['hardware']} {r['from']['precision']}, {cur}/M tokens)": r["unit_cost_from"],
        f"unit cost to ({r['to']['hardware']} {r['to']['precision']}, {cur}/M tokens)": r["unit_cost_to"],
        "change": f"{r['change']:+.1%}",
        "break-even change of the 'to' server price on today's": (
            f"{r['breakeven_server_price_change_vs_today']:+.1%}" if r["breakeven_reason"] == "ok"
            else r["breakeven_reason"]),
    }
    if r["breakeven_reason"] == "ok":
        head[f"break-even 'to' server price ({cur} per server)"] = r["breakeven_server_price"]
    out = render_table(head, title=f"bridge: {r['metric']}")
    rows = [{"factor": n, "share of ln change": f"{c['share_of_log_change'] + 0.0:+.1%}",
             "ln contribution": c["log_contribution"], f"cost delta ({cur}/M)": c["cost_delta"]}
            for n, c in r["contributions"].items()]
    out += render_table(rows, title="Shapley contributions (add up to ln(c_to / c_from))")
    steps = [{"step": s["factor"], "before": s["unit_cost_before"], "after": s["unit_cost_after"],
              "delta": s["cost_delta"]} for s in r["waterfall"]]
    out += render_table(steps, title="sequential waterfall (order-dependent)")
    return out


_DEFAULT_SCENARIO = "b300-10k-cluster"  # the founding case, as run and sweep default to


@cli.command("bridge")
@set_option()
@click.argument("scenario", default=None, required=False)
@click.option("--scenario", "scenario_name", hidden=True,
              help="the scenario as an option (the form before the scenario became positional, as in every command)")
@click.option("--from", "from_spec", help="HARDWARE:PRECISION[:SERVER_PRICE] (default: the previous generation)")
@click.option("--to", "to_spec", help="HARDWARE:PRECISION[:SERVER_PRICE] (default: the scenario's)")
@click.option("--server-price-change", type=float, default=0.0, show_default=True,
              help="change on the 'to' server price today (the scenario's, after its recent rise, or the --to "
                   "price), e.g. 0.5 for +50%; the units of breakeven_server_price_change_vs_today")
@click.option("--model", help="model on both sides (default: the scenario's)")
@click.option("--from-model", help="model on the 'from' side")
@click.option("--to-model", help="model on the 'to' side")
@click.option("--software-gain", type=float, default=1.0, show_default=True,
              help="throughput multiplier of the 'to' side from serving software")
@click.option("--from-utilisation", type=float)
@click.option("--to-utilisation", type=float)
@click.option("--from-cost-of-capital", type=float)
@click.option("--to-cost-of-capital", type=float)
@click.option("--metric", type=click.Choice(UNIT_COST_METRICS), default="blended", show_default=True)
@click.option("--order", help=f"waterfall order, comma-separated from: {','.join(FACTORS)}")
@click.option("--currency", help="reporting currency (default: the scenario's)")
@throughput_override_option()
@format_option()
def bridge_command(scenario, scenario_name, from_spec, to_spec, server_price_change, model, from_model, to_model,
                   software_gain, from_utilisation, to_utilisation, from_cost_of_capital, to_cost_of_capital, metric,
                   order, currency, throughput_override, fmt):
    """How unit token cost moves from A to B (SCENARIO supplies cost inputs, workload and SLO; default
    b300-10k-cluster): server price, hardware, precision, model, software, utilisation,
    financing — exact Shapley contributions over ln(cost), a waterfall, and the break-even change on the 'to'
    server price today."""
    if scenario is not None and scenario_name is not None:
        raise UserError(f"SCENARIO {scenario!r} and --scenario {scenario_name!r}: allowed: one of them")
    scenario = load_scenario(scenario or scenario_name or _DEFAULT_SCENARIO, scenario_overrides())
    a, b = sides(scenario, from_spec=from_spec, to_spec=to_spec, server_price_change=server_price_change,
                 software_gain=software_gain, from_model=from_model, to_model=to_model, model=model,
                 from_utilisation=from_utilisation, to_utilisation=to_utilisation,
                 from_cost_of_capital=from_cost_of_capital, to_cost_of_capital=to_cost_of_capital)
    steps = tuple(x.strip() for x in order.split(",")) if order else FACTORS
    result = run_bridge(scenario, a, b, metric=metric, order=steps,
                        throughput_overrides=throughput_overrides(throughput_override)).to_dict()
    target = check_currency(currency, field="--currency") if currency is not None else result["currency"]
    result = bridge_in_currency(result, target)
    if fmt in ("csv", "parquet"):  # the bridge_contributions table of `run --out` (docs/outputs.md)
        emit([{"factor": n, **c} for n, c in result["contributions"].items()], fmt)
    else:
        emit(result, fmt, table=_table(result) if fmt == "table" else None)
