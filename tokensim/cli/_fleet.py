"""``tokensim fleet``: a fleet's monthly economics (issue 14): revenue by generation and kind, EBITDA, book
depreciation, debt and lease service, cash, utilisation and rent by generation, backlog coverage."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from .._errors import UserError
from .._output import atomic_write_text, check_output_path, dumps_json, render_table, write_table
from ..api import run_valuation
from ..config.fleet import load_fleet
from ..fleet import FleetResult, fleet_key_figures, run_fleet
from ..fleet_mc import fleet_mc_model, simulate_fleet
from ..plots import backlog_coverage_chart, fleet_revenue_chart, value_by_vintage_chart
from ..resolve.valuation import fleet_valuation_blocks
from ._common import cli, emit, fmt_value, info


def _table(r: FleetResult) -> str:
    cur = r.currency
    head = {"fleet": r.fleet, "currency": cur, "start": r.start, "valuation_date": r.valuation_date,
            "gpus": f"{r.gpus:,} ({r.gpus_owned:,} owned, {r.gpus_leased_in:,} leased in)",
            "npv": fmt_value(r.npv, "money"), "equity_npv": fmt_value(r.equity_npv, "money"),
            "project_irr": fmt_value(r.project_irr, "pct"), "equity_irr": fmt_value(r.equity_irr, "pct"),
            "backlog_total": fmt_value(r.backlog["backlog_total"], "money")}
    out = render_table(head, title=f"{r.fleet}: fleet economics ({cur}; figures in the README and docs/outputs.md)")
    years = [{"year": y["year"], "from": y["from"], "gpus_online": fmt_value(y["gpus_online"], "money"),
              "utilisation": fmt_value(y["gpus_rented"] / y["gpus_online"] if y["gpus_online"] else None, "pct"),
              "revenue": fmt_value(y["revenue"], "money"), "contract": fmt_value(y["revenue_contract"], "money"),
              "usage": fmt_value(y["revenue_usage"], "money"),
              "market": fmt_value(y["revenue_market"] + y["revenue_renewal"], "money"),
              "ebitda": fmt_value(y["ebitda"], "money"), "depreciation": fmt_value(y["depreciation"], "money"),
              "debt_service": fmt_value(y["debt_service"], "money"),
              "lease_service": fmt_value(y["lease_service"], "money"),
              "equity_cf": fmt_value(y["equity_cf"], "money"),
              "cash_cumulative": fmt_value(y["cash_cumulative"], "money")}
             for y in r.by_year]
    out += render_table(years, title=f"by fleet year ({cur})")
    gens = [{"generation": g["generation"], "year": g["year"], "gpus_online": fmt_value(g["gpus_online"], "money"),
             "utilisation": fmt_value(g["utilisation"], "pct"), "revenue": fmt_value(g["revenue"], "money"),
             "per_rented_gpu_hour": fmt_value(g["revenue_per_rented_gpu_hour"]),
             "per_online_gpu_hour": fmt_value(g["revenue_per_online_gpu_hour"])} for g in r.by_generation]
    out += render_table(gens, title=f"by generation and fleet year ({cur}; revenue per GPU-hour)")
    backlog = [{"year": b["year"], "from": b["from"],
                "contracted_revenue": fmt_value(b["contracted_revenue"], "money"),
                "revenue_coverage": fmt_value(b["revenue_coverage_share"], "pct"),
                "capacity_coverage": fmt_value(b["capacity_coverage_share"], "pct")}
               for b in r.backlog["by_year"]]
    out += render_table(backlog, title=f"backlog coverage after {r.backlog['valuation_date']} ({cur})")
    blocks = [{"block": b["block"], "generation": b["generation"], "ownership": b["ownership"], "gpus": b["gpus"],
               "in_service": b["in_service"], "capex": fmt_value(b["capex"], "money"),
               "npv": fmt_value(b["npv"], "money"),
               "equity_irr": fmt_value(b["equity_irr"], "pct"), "min_dscr": fmt_value(b["min_dscr"], "ratio")}
              for b in r.blocks]
    out += render_table(blocks, title="blocks (each its own scenario's finance)")
    if r.monte_carlo is not None:
        mc = r.monte_carlo
        rows = [{"metric": name, "mean": fmt_value(mc[name]["mean"], kind), "p05": fmt_value(mc[name]["p05"], kind),
                 "p50": fmt_value(mc[name]["p50"], kind), "p95": fmt_value(mc[name]["p95"], kind),
                 "deterministic": fmt_value(mc["deterministic"][name], kind)}
                for name, kind in (("npv", "money"), ("equity_npv", "money"), ("project_irr", "pct"),
                                   ("equity_irr", "pct"), ("min_dscr", "ratio"), ("cash_shortfall", "money"))]
        rows.append({"metric": "prob_cash_negative_any_year", "mean": fmt_value(mc["prob_cash_negative_any_year"],
                                                                                 "pct"),
                     "p05": "", "p50": "", "p95": "", "deterministic": ""})
        out += render_table(rows, title=f"fleet Monte Carlo ({mc['paths']:,} paths, seed {mc['seed']}; {cur})")
    if r.assumptions:
        out += render_table([{"field": a["field"], "why": a["why"]} for a in r.assumptions],
                            title="assumptions (not given by the source)")
    return out


_KIND = {"revenue_year_1": "money", "ebitda_year_1": "money", "lease_service_year_1": "money",
         "revenue_peak": "money", "ebitda_at_peak": "money", "npv": "money", "equity_npv": "money",
         "backlog_total": "money", "project_irr": "pct", "equity_irr": "pct", "usage_revenue_share_at_peak": "pct",
         "backlog_revenue_coverage_next_year": "pct"}


@cli.command("fleet")
@click.argument("fleets", nargs=-1, required=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="write fleet.json, the monthly tables (CSV) and the charts (revenue by generation, backlog "
                   "coverage, value per GPU by vintage) here")
@click.option("--format", "fmt", type=click.Choice(("table", "json", "csv", "parquet")), default="table",
              show_default=True, help="table for people; json, csv or parquet (binary, to stdout) for machines "
                                      "(csv and parquet: the monthly fleet table)")
@click.option("--paths", type=int, default=None,
              help="also run the fleet Monte Carlo with this many paths (NumPy; a monte_carlo section)")
@click.option("--seed", type=int, default=0, show_default=True, help="the Monte Carlo's Philox key")
def fleet_command(fleets: tuple[str, ...], out_dir: str | None, fmt: str, paths: int | None, seed: int) -> None:
    """A fleet's monthly economics: FLEET is a bundled fleet's name (configs/fleets) or a fleet YAML file. Several
    FLEETs: their key figures side by side (the company lens)."""
    if len(fleets) > 1:
        if out_dir is not None or paths is not None:
            raise UserError("--out and --paths: allowed with one FLEET (several FLEETs print their key figures side "
                            "by side)")
        rows = [fleet_key_figures(run_fleet(load_fleet(name))) for name in fleets]
        if fmt == "json":
            emit({"fleets": rows}, fmt)
        elif fmt in ("csv", "parquet"):
            emit(rows, fmt)
        else:
            table = [{"figure": k, **{r["fleet"]: fmt_value(r[k], _KIND.get(k, "number")) for r in rows}}
                     for k in rows[0] if k not in ("fleet",)]
            emit(None, fmt, table=render_table(table, title="Fleets side by side (key figures; money in each "
                                                            "fleet's currency)"))
        return
    fleet = fleets[0]
    if out_dir is not None:
        check_output_path(out_dir, "out_dir", folder=True)
    if paths is not None and paths < 1:
        raise UserError(f"--paths: got {paths}; allowed: a whole number of paths >= 1")
    if not 0 <= seed < 2**64:
        raise UserError(f"--seed: got {seed}; allowed: a whole number in [0, 2**64)")
    loaded = load_fleet(fleet)
    result = run_fleet(loaded)
    if paths is not None:
        result = replace(result, monte_carlo=simulate_fleet(fleet_mc_model(loaded), paths=paths, seed=seed))
    if out_dir is not None:
        folder = Path(out_dir)
        written = [atomic_write_text(folder / "fleet.json", dumps_json(result.to_dict())),
                   write_table(result.monthly, folder / "fleet_monthly.csv"),
                   write_table(result.block_monthly, folder / "fleet_blocks_monthly.csv"),
                   fleet_revenue_chart(result.by_generation, result.by_year, result.currency,
                                       folder / "revenue_by_generation.png", fleet=result.fleet)]
        if result.backlog.get("by_year"):
            written.append(backlog_coverage_chart(result.backlog, result.currency, folder / "backlog_coverage.png",
                                                  fleet=result.fleet))
        blocks, _ = fleet_valuation_blocks(loaded, result.valuation_date)
        if blocks:  # value per GPU by vintage: the owned blocks, marked to what they can still earn
            valued = run_valuation(loaded.blocks[0].scenario, blocks, as_of=result.valuation_date, paths=500)
            written.append(value_by_vintage_chart(valued.to_dict()["blocks"], valued.currency,
                                                  result.valuation_date, folder / "value_by_vintage.png",
                                                  fleet=result.fleet))
        info(f"tokensim: wrote {len(written)} files to {out_dir}")
    if fmt in ("csv", "parquet"):
        emit(result.monthly, fmt)
    else:
        emit(result.to_dict(), fmt, table=_table(result) if fmt == "table" else None)
