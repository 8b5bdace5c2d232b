"""``tokensim run [SCENARIO]``: the main job — unit costs, the bridge, cluster finance and what they say."""

from __future__ import annotations

import math

import click

from .._errors import UserError
from .._output import check_output_path, render_table
from ..config.fleet import load_fleet
from ..config.money import check_currency
from ..config.scenario import load_scenario
from ..report import PAYBACK_CLAIM_YEARS, run_report, write_artifacts
from ._common import (
    cli,
    emit,
    format_option,
    info,
    scenario_overrides,
    set_option,
    throughput_override_option,
    throughput_overrides,
    warn,
)
from ._mc import mc_table


def _pct(x, reason: str | None = None) -> str:
    nan = f"NaN ({reason})" if reason else "NaN"
    return nan if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1%}"


def _years(x) -> str:
    return "never (within horizon)" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f} y"


def _tables(report) -> str:
    d = report.to_dict()
    cur = d["currency"].lower()
    out = render_table([{
        "precision": r["precision"], "compute": r["compute_format"] + (" (weight-only)" if r["weight_only"] else ""),
        "layout": r["layout"], "out tok/s/GPU": r["output_tokens_per_s_per_gpu"],
        "tok/s/user": r["tokens_per_s_per_user"], "in /M": r[f"cost_per_million_input_tokens_{cur}"],
        "cached /M": r[f"cost_per_million_cached_input_tokens_{cur}"],
        "out /M": r[f"cost_per_million_output_tokens_{cur}"],
        "blended /M": r[f"cost_per_million_tokens_blended_{cur}"],
        "blended 80% interval": (f"{r[f'cost_per_million_tokens_blended_low_{cur}']:.3g}-"
                                 f"{r[f'cost_per_million_tokens_blended_high_{cur}']:.3g}"
                                 if r["throughput_source"] == "model" else "measured throughput"),
    } for r in d["unit_costs"]], title=f"{d['scenario']}: cost per million tokens ({d['currency']}), "
                                       f"{d['unit_costs'][0]['model']} on {d['unit_costs'][0]['hardware']}")
    br = d["bridge"]
    out += render_table([{"factor": n, "effect alone on unit cost": f"{math.expm1(c['log_contribution']):+.0%}",
                          "share of ln change": f"{c['share_of_log_change'] + 0.0:.1%}",
                          f"cost delta ({d['currency']}/M)": c["cost_delta"]}
                         for n, c in br["contributions"].items() if abs(c["log_contribution"]) > 1e-12],
                        title=f"bridge {br['from']['hardware']} {br['from']['precision']} -> {br['to']['hardware']} "
                              f"{br['to']['precision']}: {br['unit_cost_from']:.3g} -> {br['unit_cost_to']:.3g} "
                              f"({br['change']:+.0%})")
    f = d["finance"]
    pb = f["payback_years"]
    finance_rows = {
        "project IRR": _pct(f["project_irr"], f["reasons"].get("project_irr")),
        "equity IRR": _pct(f["equity_irr"], f["reasons"].get("equity_irr")),
        f"NPV ({d['currency']})": f"{f['npv']:,.0f}",
        "payback simple": _years(pb["simple"]), "payback net": _years(pb["net"]),
        "payback equity": _years(pb["equity"]), "payback discounted": _years(pb["discounted"]),
        "min / avg DSCR": f"{f['min_dscr']:.2f} / {f['avg_dscr']:.2f}", "LLCR": f"{f['llcr']:.2f}",
        "contract rent /GPU-h": f"{f['rent']['per_gpu_hour']:.2f}",
        "NPV = 0 rent /GPU-h": f"{f['npv_zero_rent_per_gpu_hour']:.2f}",
    }
    if d["rent_for_dscr"] is not None:  # the scenario has a DSCR covenant
        finance_rows[f"rent for min DSCR {d['rent_for_dscr']['target'].split('=')[1]} /GPU-h"] = \
            f"{d['rent_for_dscr']['rent_per_gpu_hour']:.2f}"
    out += render_table(finance_rows, title="cluster finance")
    out += render_table([{"definition": r["definition"], "rent /GPU-h": r["rent_per_gpu_hour"],
                          "vs contract": f"{r['change_vs_scenario_rent']:+.1%}"} for r in f.get("payback_rents") or []],
                        title=f"rent needed for a {PAYBACK_CLAIM_YEARS:g}-year payback")
    out += render_table([{"variant": v["variant"], "simple": _years(v["payback_simple_years"]),
                          "net": _years(v["payback_net_years"]), "equity": _years(v["payback_equity_years"]),
                          "discounted": _years(v["payback_discounted_years"]), "equity IRR": _pct(v["equity_irr"]),
                          "min DSCR": "NaN" if math.isnan(v["min_dscr"]) else f"{v['min_dscr']:.2f}",
                          "horizon": f"{v['horizon_years']:g} y", "why NaN / which IRR root": v["reasons"]}
                         for v in d.get("payback_variants", [])], title="paybacks under other assumptions")
    if "monte_carlo" in d:
        out += mc_table(d["monte_carlo"])
    out += "\nWhat the numbers say:\n" + "\n".join(f"  - {line}" for line in d["reading"]) + "\n"
    return out


@cli.command("run")
@set_option()
@click.argument("scenario", default="b300-10k-cluster")
@click.option("--currency", help="reporting currency (default: the scenario's)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="write tables (CSV, Parquet), JSON, config, PNG charts, report.xlsx and report.html here")
@click.option("--paths", type=int, default=None,
              help="Monte Carlo paths [default: 100,000 on NumPy, 10,000,000 on a GPU]; 0 skips the section")
@click.option("--seed", type=int, default=0, show_default=True, help="Monte Carlo seed")
@click.option("--backend", default="auto", show_default=True, type=click.Choice(["auto", "numpy", "cupy"]))
@throughput_override_option()
@click.option("--fleet", "fleet_name", help="also the key figures of a fleet (tokensim fleet FLEET): a 'fleet' section")
@format_option(("table", "json"), machine_note="; every table as CSV and Parquet with --out DIR")
def run_command(scenario: str, currency: str | None, out_dir: str | None, paths: int | None, seed: int,
                backend: str, throughput_override: str | None, fleet_name: str | None, fmt: str) -> None:
    """The main job: unit costs per precision, the bridge from the previous generation, the cluster's finance with
    every payback definition and DSCR, the rents a 3-year payback and the DSCR covenant need, the Monte Carlo
    distribution of returns and covenant odds, and a reading."""
    if paths is not None and paths < 0:
        raise UserError(f"--paths: got {paths}; allowed: 0 (skip the Monte Carlo) or a whole number of paths")
    if out_dir is not None:
        check_output_path(out_dir, "out_dir", folder=True)
    s = load_scenario(scenario, scenario_overrides())
    measured = throughput_overrides(throughput_override)
    fleet = load_fleet(fleet_name) if fleet_name is not None else None
    report = run_report(s, currency=check_currency(currency, field="--currency") if currency is not None else None,
                        mc_paths=paths, seed=seed, backend=backend, throughput_overrides=measured, fleet=fleet)
    warn(report.warnings)
    if out_dir is not None:
        written = write_artifacts(report, out_dir, seed=seed)
        info(f"tokensim: wrote {len(written)} files to {out_dir}")
    emit(report.to_dict(), fmt, table=_tables(report) if fmt == "table" else None)
