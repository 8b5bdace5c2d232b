"""``report.html``: the main job's report as one self-contained page (issue 16): the reading, the key tables and
interactive Plotly charts, with plotly.js inlined once so the page opens offline (no CDN, no other file).

Plotly (the ``report`` extra) is imported inside these functions only (``import tokensim`` must not pay for it). The
charts follow the PNG pack's conventions (tokensim.plots._style): the Okabe-Ito palette, green for a fall in cost and
red for a rise, money scaled to bn/m/k with the unit on the axis, and a source footnote under each chart.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._output import _fmt, atomic_write_text
from . import _style as style
from ._data import (
    coarsen_histogram,
    metric_hurdle,
    metric_label,
    metric_reference_name,
    metric_unit,
    monte_carlo_histograms,
)

__all__ = ["html_report", "write_html_report"]

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0 auto;max-width:1180px;padding:16px 24px;
color:#1a1a1a}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}
.meta{color:#555;font-size:.9em}.reading li{margin:.3em 0;line-height:1.4}
table{border-collapse:collapse;font-size:.82em;margin:.5em 0}th,td{border:1px solid #ddd;padding:3px 7px}
th{background:#f3f3f3;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.chart{margin:.5em 0 0}.foot{color:#404040;font-size:.75em;margin:0 0 1.2em}
.tablewrap{overflow-x:auto}
"""


def _money_axis(values: Iterable[float], currency: str, per: str) -> tuple[float, str]:
    div, word = style.money_scale(values)
    return div, style.money_label(currency, word, per)


def _layout(fig, title: str, x_title: str, y_title: str, *, y_percent: bool = False) -> None:
    fig.update_layout(title={"text": title, "x": 0.0, "xanchor": "left"}, template="plotly_white", height=460,
                      margin={"l": 70, "r": 20, "t": 60, "b": 60}, legend={"orientation": "h", "y": -0.18},
                      font={"size": 12})
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title, tickformat=".0%" if y_percent else None, zeroline=True)


def _unit_cost_figure(rows: Sequence[Mapping[str, Any]], currency: str):
    import plotly.graph_objects as go

    cur = currency.lower()
    fig = go.Figure()
    names = [str(r["precision"]) for r in rows]
    kinds = (("input", f"cost_per_million_input_tokens_{cur}"),
             ("cached input", f"cost_per_million_cached_input_tokens_{cur}"),
             ("output", f"cost_per_million_output_tokens_{cur}"))
    for (label, column), colour in zip(kinds, style.PALETTE, strict=False):
        fig.add_bar(name=f"{label} tokens", x=names, y=[r[column] for r in rows], marker_color=colour)
    blended = [r[f"cost_per_million_tokens_blended_{cur}"] for r in rows]
    fig.add_bar(name="blended (80% model interval)", x=names, y=blended, marker_color=style.PALETTE[3],
                error_y={"type": "data", "symmetric": False,
                         "array": [r[f"cost_per_million_tokens_blended_high_{cur}"] - b for r, b in zip(rows, blended,
                                                                                                      strict=True)],
                         "arrayminus": [b - r[f"cost_per_million_tokens_blended_low_{cur}"]
                                        for r, b in zip(rows, blended, strict=True)]})
    first = rows[0]
    _layout(fig, f"Cost per million tokens by precision: {first['model']} on {first['hardware']}", "precision",
            style.money_label(currency, "", "per million tokens"))
    fig.update_layout(barmode="group")
    return fig


def _bridge_figure(bridge: Mapping[str, Any]):
    import plotly.graph_objects as go

    tiny = 1e-12 * max(abs(float(bridge["unit_cost_from"])), 1.0)
    steps = [s for s in bridge["waterfall"] if abs(s["cost_delta"]) > tiny]
    start = f"{bridge['from']['hardware']} {bridge['from']['precision']}"
    end = f"{bridge['to']['hardware']} {bridge['to']['precision']}"
    fig = go.Figure(go.Waterfall(
        x=[start, *(s["factor"].replace("_", " ") for s in steps), end],
        measure=["absolute", *("relative" for _ in steps), "total"],
        y=[bridge["unit_cost_from"], *(s["cost_delta"] for s in steps), bridge["unit_cost_to"]],
        increasing={"marker": {"color": style.RISE}}, decreasing={"marker": {"color": style.FALL}},
        totals={"marker": {"color": style.PALETTE[0]}}, connector={"line": {"color": style.NEUTRAL}},
        text=[f"{bridge['unit_cost_from']:.3g}", *(f"{s['cost_delta']:+.3g}" for s in steps),
              f"{bridge['unit_cost_to']:.3g}"], textposition="outside", name="cost change"))
    _layout(fig, f"Unit-cost bridge {start} → {end} (sequential waterfall, {bridge['metric'].replace('_', ' ')})",
            "factor (in the bridge's order)", style.money_label(str(bridge["currency"]), "", "per million tokens"))
    fig.update_layout(showlegend=False)
    return fig


def _schedule_column(schedule, name: str, currency: str) -> np.ndarray:
    column = f"{name}_{currency.lower()}"
    return schedule[column].to_numpy(dtype=float) if column in schedule.columns else np.zeros(len(schedule))


def _cashflow_figure(schedule, currency: str):
    import plotly.graph_objects as go

    months = schedule["month"].to_numpy(dtype=float)
    ops = months >= 1
    revenue = _schedule_column(schedule, "revenue", currency)
    outflows = [(label, _schedule_column(schedule, name, currency), colour) for label, name, colour in
                (("opex", "opex", style.PALETTE[1]), ("tax paid", "tax_levered", style.PALETTE[4]),
                 ("debt service", "debt_service", style.PALETTE[3]))]
    equity = _schedule_column(schedule, "equity_cf", currency) - _schedule_column(schedule, "residual_proceeds",
                                                                                   currency)
    div, label = _money_axis(np.concatenate([revenue[ops], *(v[ops] for _, v, _ in outflows)]), currency, "per month")
    fig = go.Figure()
    fig.add_bar(name="revenue", x=months[ops], y=revenue[ops] / div, marker_color=style.PALETTE[0])
    for name, values, colour in outflows:
        if np.any(values[ops] != 0):
            fig.add_bar(name=name, x=months[ops], y=-values[ops] / div, marker_color=colour)
    fig.add_scatter(name="equity cash flow (before residual)", x=months[ops], y=equity[ops] / div, mode="lines",
                    line={"color": "black", "width": 2})
    _layout(fig, "Monthly cash flows (inflows up, outflows down; month 0's capex and the residual sale left out)",
            "month", label)
    fig.update_layout(barmode="relative")
    return fig


def _cumulative_figure(schedule, currency: str):
    import plotly.graph_objects as go

    months = schedule["month"].to_numpy(dtype=float)
    series = [("cumulative project cash flow", np.cumsum(_schedule_column(schedule, "project_cf", currency)),
               style.PALETTE[0]),
              ("cumulative equity cash flow", np.cumsum(_schedule_column(schedule, "equity_cf", currency)),
               "black"),
              ("debt balance", _schedule_column(schedule, "debt_balance", currency), style.PALETTE[3])]
    div, label = _money_axis(np.concatenate([v for _, v, _ in series]), currency, "")
    fig = go.Figure()
    for name, values, colour in series:
        fig.add_scatter(name=name, x=months, y=values / div, mode="lines", line={"color": colour, "width": 2})
    _layout(fig, "Cumulative cash flows and the debt balance (payback: where a cumulative line crosses 0)", "month",
            label)
    return fig


def _distribution_figure(metric: str, data: Mapping[str, Any], currency: str, reference: float | None):
    import plotly.graph_objects as go

    percent, unit = metric_unit(metric, currency)
    edges, counts = coarsen_histogram(data["bin_edges"], data["counts"])  # the occupied range in <= 80 bins
    div, word = (1.0, "") if percent or unit != currency.upper() else style.money_scale(edges)
    centres = (edges[:-1] + edges[1:]) / 2 / div
    total = counts.sum() + float(data.get("underflow", 0) or 0) + float(data.get("overflow", 0) or 0)
    fig = go.Figure()
    fig.add_bar(name="share of paths", x=centres, y=counts / total if total else counts,
                width=np.diff(edges) / div, marker_color=style.PALETTE[0])
    lines = [(name, data.get(key)) for name, key in (("P5", "p05"), ("P50", "p50"), ("P95", "p95"))]
    if reference is not None:
        lines.append((metric_reference_name(metric), reference))
    for i, (name, value) in enumerate(lines):
        if isinstance(value, (int, float)) and math.isfinite(value):
            colour = style.HURDLE if i == 3 else "#404040"
            fig.add_vline(x=value / div, line={"color": colour, "dash": "dash" if i == 3 else "dot", "width": 1.5},
                          annotation_text=name, annotation_position="top", annotation_yshift=12 * (i % 2))
    x_unit = "%" if percent else (f"{currency.upper()} {word}".strip() if unit == currency.upper() else unit)
    _layout(fig, f"Monte Carlo distribution: {metric_label(metric)}",
            f"{metric_label(metric)}" + (f" ({x_unit})" if x_unit else ""), "share of paths", y_percent=True)
    if percent:
        fig.update_xaxes(tickformat=".0%")
    fig.update_layout(showlegend=False, bargap=0)
    return fig


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    if not rows:
        return ""
    columns = list(columns or rows[0].keys())
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c)
            number = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
            cells.append(f"<td class=\"n\">{html.escape(_fmt(value))}</td>" if number
                         else f"<td>{html.escape('' if value is None else _fmt(value))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<div class=\"tablewrap\"><table><tr>{head}</tr>{''.join(body)}</table></div>"


def html_report(report: Any, tables: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """The page of a :class:`tokensim.report.Report`: reading, key tables (``tables`` as written to CSV by
    :func:`tokensim.report.write_artifacts`) and interactive charts; one string of HTML with plotly.js inlined."""
    from plotly.offline import get_plotlyjs

    s = report.scenario
    file_name = Path(s.file).name if getattr(s, "file", None) else None
    charts: list[tuple[Any, str]] = []
    if report.unit_costs:
        charts.append((_unit_cost_figure(report.unit_costs, report.currency),
                       "performance model of tokensim.perf; cost per GPU-hour of tokensim.cost"))
    if report.bridge:
        charts.append((_bridge_figure(report.bridge), "Shapley bridge of tokensim.bridge"))
    schedule = report.schedule
    if schedule is not None and len(schedule):
        charts.append((_cashflow_figure(schedule, report.currency),
                       f"monthly schedule of tokensim finance on {file_name}"))
        charts.append((_cumulative_figure(schedule, report.currency),
                       f"monthly schedule of tokensim finance on {file_name}"))
    mc = report.monte_carlo
    if isinstance(mc, Mapping):
        histograms = monte_carlo_histograms({**mc, "histograms": report.mc_histograms or mc.get("histograms", {})})
        for metric, data in histograms.items():
            reference = data.get("hurdle")
            if reference is None:
                reference = metric_hurdle(metric, s)
            charts.append((_distribution_figure(metric, data, report.currency, reference),
                           f"Monte Carlo, {mc['paths']:,} paths (seed {mc['seed']}) on {file_name}"))
    chart_html = []
    for i, (fig, source) in enumerate(charts):
        div = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{i}",
                          config={"displaylogo": False, "responsive": True})
        chart_html.append(f"<div class=\"chart\">{div}</div><p class=\"foot\">"
                          f"{html.escape(style.source_line(s.name, source))}</p>")
    sections = [
        ("Unit costs", _table(tables.get("unit_costs", []), _unit_cost_columns(report.currency))),
        ("Finance", _table(tables.get("finance_metrics", []))),
        ("Paybacks under other assumptions", _table(tables.get("payback_variants", []))),
        ("Bridge contributions", _table(tables.get("bridge_contributions", []))),
        ("Monte Carlo summary", _table(tables.get("monte_carlo_summary", []))),
        ("Assumptions", _table(tables.get("assumptions", []))),
    ]
    reading = "".join(f"<li>{html.escape(line)}</li>" for line in report.reading)
    body = [f"<h1>{html.escape(s.name)}: tokensim report</h1>",
            f"<p class=\"meta\">{html.escape((s.description or '').rstrip('.') + '. ' if s.description else '')}"
            f"Money in {html.escape(report.currency)}. "
            f"{html.escape(style.source_line(s.name, file_name))}.</p>",
            f"<h2>What the numbers say</h2><ul class=\"reading\">{reading}</ul>",
            "<h2>Charts</h2>", *chart_html,
            *(f"<h2>{html.escape(title)}</h2>{table}" for title, table in sections if table),
            f"<p class=\"foot\">{html.escape(style.source_line(s.name, file_name))}. Every table is also written as "
            "CSV, Parquet and report.xlsx; the numbers and their definitions are in report.json.</p>"]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(s.name)}: tokensim report</title><style>{_CSS}</style>"
            f"<script type=\"text/javascript\">{get_plotlyjs()}</script></head><body>"
            + "\n".join(body) + "</body></html>\n")


def _unit_cost_columns(currency: str) -> list[str]:
    cur = currency.lower()
    return ["precision", "compute_format", "gpus_per_instance", "output_tokens_per_s_per_gpu",
            "tokens_per_s_per_user", f"cost_per_million_input_tokens_{cur}", f"cost_per_million_output_tokens_{cur}",
            f"cost_per_million_tokens_blended_{cur}", f"cost_per_million_tokens_blended_low_{cur}",
            f"cost_per_million_tokens_blended_high_{cur}"]


def write_html_report(report: Any, tables: Mapping[str, Sequence[Mapping[str, Any]]], path: str | Path) -> Path:
    """Write :func:`html_report` to ``path`` atomically; the path written."""
    return atomic_write_text(path, html_report(report, tables))
