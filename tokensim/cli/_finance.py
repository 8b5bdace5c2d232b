"""``tokensim finance SCENARIO``: cash flows, IRRs, NPV, the four paybacks, DSCR/LLCR and break-even rents."""

from __future__ import annotations

from pathlib import Path

import click

from .._errors import UserError
from .._output import check_output_path, render_table, write_table
from ..api import run_finance
from ..config import check_number
from ..config.money import check_currency
from ..config.scenario import load_scenario
from ..finance import Target
from ._common import cli, emit, fmt_value, format_option, info, scenario_overrides, set_option, warn


def _show(value, reason: str | None = None, kind: str = "number") -> str:
    return fmt_value(value, kind, missing=f"NaN ({reason})" if reason else "NaN")


def _table(result) -> str:
    r = result
    why = r.reasons.get
    cur = r.currency
    metrics = {
        "project IRR (after tax)": _show(r.project_irr, why("project_irr"), "pct"),
        "project IRR (pre-tax)": _show(r.project_irr_pre_tax, why("project_irr_pre_tax"), "pct"),
        "equity IRR": _show(r.equity_irr, why("equity_irr"), "pct"),
        f"NPV at the discount rate ({cur})": _show(r.npv, kind="money"),
        f"NPV at the after-tax WACC {r.discounting['wacc_after_tax']:.2%} ({cur})":
            _show(r.discounting["npv_at_wacc_after_tax"], kind="money"),
        f"equity NPV at the cost of equity ({cur})": _show(r.equity_npv, kind="money"),
        "payback simple (capex / year-1 revenue)": _show(r.payback_years["simple"], why("payback_simple"), "years"),
        "payback net (capex / year-1 EBITDA)": _show(r.payback_years["net"], why("payback_net"), "years"),
        "payback equity, sustained (cumulative equity CF)": _show(r.payback_years["equity"], why("payback_equity"),
                                                                  "years"),
        "payback equity, first crossing (textbook)": _show(r.payback_years["equity_first_crossing"],
                                                           why("payback_equity_first_crossing"), "years"),
        "payback discounted (project CF)": _show(r.payback_years["discounted"], why("payback_discounted"), "years"),
        "min DSCR": _show(r.min_dscr, why("min_dscr")),
        "avg DSCR": _show(r.avg_dscr, why("avg_dscr")),
        "LLCR": _show(r.llcr, why("llcr")),
        "DSCR covenant breached": str(r.covenant_breached),
        "meets equity hurdle": str(r.meets_equity_hurdle),
        f"rent per GPU-hour ({cur})": _show(r.rent["per_gpu_hour"]),
        f"NPV = 0 rent per GPU-hour ({cur})": _show(r.npv_zero_rent_per_gpu_hour, r.npv_zero_rent.get("reason")),
        f"NPV = 0 rent per server-month ({cur})": _show(r.npv_zero_rent["rent_per_server_month"], kind="money"),
        f"NPV = 0 rent per cluster-year ({cur})": _show(r.npv_zero_rent["rent_per_cluster_year"], kind="money"),
        f"debt ({r.debt['amortisation']}, {r.debt['tenor_years']:g} y, {cur})": _show(r.debt["amount"], kind="money"),
    }
    w = r.waterfall
    metrics[f"sponsor injections ({cur}); months"] = (f"{_show(w['sponsor_injection'], kind='money')}; "
                                                      f"{w['sponsor_injection_months']}")
    metrics["first loan default month"] = ("none" if w["first_loan_default_month"] is None else
                                           f"{w['first_loan_default_month']} ({w['first_loan_default_reason']})")
    if w["equity_cure_count"]:
        metrics[f"equity cures ({cur}); count"] = f"{_show(w['equity_cure'], kind='money')}; {w['equity_cure_count']}"
    if r.sizing is not None:
        z = r.sizing
        head = (f"debt sized at min DSCR {z['target_dscr']:g} on the {z['case']}" if z["applied"] else
                f"debt the DSCR covenant {z['target_dscr']:g} allows on the {z['case']} (not applied)")
        metrics[f"{head} ({cur})"] = _show(z["sized_amount"], kind="money")
        metrics["  gearing (debt / capex); binding limit"] = f"{z['sized_gearing']:.1%}; {z['binding']}"
        metrics[f"  DSCR limit / gearing limit {z['max_gearing']:.0%} ({cur})"] = (
            f"{_show(z['dscr_limit_amount'], kind='money')} / {_show(z['gearing_limit_amount'], kind='money')}")
        metrics["  min DSCR on the sizing case"] = _show(z["min_dscr_sizing_case"], why("min_dscr"))
    if r.lender is not None:
        cover = r.lender["cover_by_year"]
        metrics["LLCR / PLCR at loan-year ends (year: LLCR/PLCR)"] = "; ".join(
            f"{row['loan_year']:g}: {_show(row['llcr'])}/{_show(row['plcr'])}" for row in cover) or "none"
        b = r.lender["balloon"]
        if b is not None:
            how = (f"refinanced at {b['refinancing_rate']:.2%} over {b['refinancing_tenor_months']} months"
                   if b["refinanced"] else "repaid at maturity")
            metrics[f"balloon at month {b['month']} ({cur}, {how})"] = _show(b["amount"], kind="money")
            metrics["  LLCR / PLCR at the balloon date"] = (f"{_show(b['llcr'], 'no cash flows after it')} / "
                                                           f"{_show(b['plcr'], 'no cash flows after it')}")
        case = r.lender["lender_case"]
        for key, label in (("zero_residual", "zero residual"),
                           ("p90_residual", f"residual less {case['residual_haircut_share']:.0%} (P90 proxy)")):
            c = case[key]
            metrics[f"lender case, {label}: NPV; min DSCR; sponsor support ({cur})"] = (
                f"{_show(c['npv'], kind='money')}; {_show(c['min_dscr'])}; "
                f"{_show(c['sponsor_injection'], kind='money')}")
    if r.solution is not None:
        sol = r.solution
        metrics[f"rent meeting {sol['target']} per GPU-hour ({cur})"] = _show(sol["rent_per_gpu_hour"],
                                                                             sol["reason"] or None)
        per_server, per_cluster = (_show(sol[k], kind="money") for k in ("rent_per_server_month",
                                                                           "rent_per_cluster_year"))
        metrics[f"  per server-month / cluster-year ({cur})"] = f"{per_server} / {per_cluster}"
    out = render_table(metrics, title=f"{r.scenario}: cluster finance ({cur})")
    if r.frontier:
        rows = [{"usage fee per M tokens": row["usage_fee_per_million_tokens"],
                 "base rent per GPU-hour": row["rent_per_gpu_hour"], "note": row["reason"]} for row in r.frontier]
        out += render_table(rows, title=f"base rent / usage fee pairs meeting {r.frontier[0]['target']}")
    if r.payback_rents:
        rows = [{"payback definition": row["definition"], "rent per GPU-hour": row["rent_per_gpu_hour"],
                 f"rent per cluster-year ({cur})": row["rent_per_cluster_year"],
                 "vs scenario rent": _show(row["change_vs_scenario_rent"], kind="pct"), "note": row["reason"]}
                for row in r.payback_rents]
        years = r.payback_rents[0]["payback_years"]
        out += render_table(rows, title=f"rent needed for a {years:g}-year payback under each definition")
    rows = [{"field": a["field"], "value": a["value"], "origin": a["origin"], "why": a["why"]} for a in r.assumptions]
    out += render_table(rows, title="assumptions (not given by the source; defaults applied by tokensim)",
                        columns=["field", "value", "origin", "why"])
    return out


@cli.command("finance")
@set_option()
@click.argument("scenario")
@click.option("--currency", default=None, help="reporting currency (default: the scenario's), e.g. USD or CNY")
@click.option("--schedule", "schedule_path", type=click.Path(dir_okay=False), default=None,
              help="write the monthly schedule to FILE.csv or FILE.parquet")
@click.option("--solve-for", type=click.Choice(["rent"]), default=None,
              help="solve for the rent that meets --target")
@click.option("--target", default=None,
              help="METRIC=VALUE: npv=0, equity_irr=0.12, min_dscr=1.2, payback_equity=3 (also project_irr, "
                   "payback_simple, payback_net, payback_discounted, llcr)")
@click.option("--frontier", is_flag=True, help="base+usage contracts: base rent meeting the target per usage fee")
@click.option("--payback-in", "payback_in", type=float, default=None, metavar="YEARS",
              help="the rent each payback definition needs to pay back in YEARS (e.g. 3)")
@format_option(machine_note=" (csv and parquet: the monthly schedule, as --schedule writes it)")
def finance_command(scenario: str, currency: str | None, schedule_path: str | None, solve_for: str | None,
                    target: str | None, frontier: bool, payback_in: float | None, fmt: str) -> None:
    """Monthly cash flows of a cluster and its contract: IRRs, NPV, paybacks, DSCR, LLCR, break-even rent."""
    if solve_for and target is None:
        raise UserError("--target: missing; allowed: METRIC=VALUE (e.g. npv=0) with --solve-for rent")
    parsed = Target.parse(target, "--target") if target is not None else None
    if schedule_path is not None and Path(schedule_path).suffix not in (".csv", ".parquet"):
        raise UserError(f"--schedule: got {schedule_path!r}; allowed: a file name ending in .csv or .parquet")
    if schedule_path is not None:
        check_output_path(schedule_path, "schedule_path")
    code = check_currency(currency, None, "--currency") if currency is not None else None
    if payback_in is not None:
        check_number(payback_in, None, "--payback-in", low=0, low_open=True, high=100)
    s = load_scenario(scenario, scenario_overrides())
    result = run_finance(s, target=parsed, frontier=frontier,
                         schedule=schedule_path is not None or fmt in ("csv", "parquet"),
                         payback_in_years=payback_in, breakeven=True)
    if code is not None:
        result = result.in_currency(code)
    warn(result.warnings)
    if schedule_path is not None:
        write_table(result.schedule, schedule_path)
        info(f"tokensim: wrote the monthly schedule to {schedule_path}")
    if fmt == "json":
        emit(result.to_dict(), fmt)
    elif fmt in ("csv", "parquet"):  # the monthly schedule: the one table of finance (docs/outputs.md)
        emit(result.schedule, fmt)
    else:
        emit(None, fmt, table=_table(result))
