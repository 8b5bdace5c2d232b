"""Charts (PNG): one function per chart, each taking plain data (lists of dicts, DataFrames, arrays) and a path.

Every function writes its PNG atomically and returns the path; every chart has a title, axis labels with units
(currency codes for money) and a footnote "Source: tokensim <version>, scenario <name>; <data source>". matplotlib is
imported inside the functions (through :mod:`tokensim.plots._style`), never by ``import tokensim``.

Data contracts (what a producer hands over):

* :func:`pareto_chart` — ``{label: [point, ...]}``, points as :func:`tokensim.perf.predict` ``(pareto=True)`` rows:
  ``tokens_per_s_per_user``, ``output_tokens_per_s_per_gpu`` and optionally its ``_low``/``_high`` interval.
* :func:`bridge_waterfall_chart` — ``bridge(...).to_dict()``: ``unit_cost_from/to``, ``waterfall``, ``contributions``.
* :func:`cashflow_chart` — ``run_finance(s, schedule=True).schedule`` (``tokensim.finance.schedule_frame``).
* :func:`fleet_revenue_chart` — ``run_fleet(fleet).by_generation`` and ``.by_year`` rows.
* :func:`distribution_chart` — a fixed-grid histogram (bin edges, counts, optional under/overflow) and P5/P50/P95.
* :func:`dscr_fan_chart` — loan years and ``{quantile: DSCR per year}``.
* :func:`tornado_chart` — rows ``{input, low_label, high_label, output_low, output_high}`` and the base value.
* :func:`sobol_chart` — rows ``{input, S1, S1_conf, ST, ST_conf}``.
* :func:`heatmap_chart` — a long DataFrame with an x, a y and a value column (a 2-D sweep).

:func:`write_plot_pack` draws what a :class:`tokensim.report.Report` holds; its Monte Carlo seam is
:func:`monte_carlo_histograms` / :func:`monte_carlo_dscr_fan`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import UserError
from . import _style as style
from ._data import (  # noqa: F401
    coarsen_histogram,
    metric_hurdle,
    metric_label,
    metric_reference_name,
    metric_unit,
    monte_carlo_dscr_fan,
    monte_carlo_histograms,
    pareto_curves,
    quantile_key,
)

__all__ = ["pareto_chart", "bridge_waterfall_chart", "cashflow_chart", "fleet_revenue_chart", "distribution_chart",
           "dscr_fan_chart",
           "tornado_chart", "sobol_chart", "heatmap_chart", "sensitivity_chart", "write_plot_pack", "pareto_curves",
           "monte_carlo_histograms", "monte_carlo_dscr_fan"]


def pareto_chart(curves: Mapping[str, Sequence[Mapping[str, Any]]], path: str | Path, *,
                 min_tokens_per_s_per_user: float | None = None, title: str | None = None,
                 scenario: str | None = None, source: str | None = None,
                 operating_points: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    """Throughput per GPU against interactivity per user, one frontier (or envelope across layouts) per label, with
    its prediction interval; where the points name their ``layout``, the first point of each layout is labelled, and
    ``operating_points`` (label to a point with ``tokens_per_s_per_user``, ``output_tokens_per_s_per_gpu`` and
    optionally ``layout``) are marked with a star: the point ``tokensim run`` prices."""
    curves = {label: sorted(points, key=lambda p: p["tokens_per_s_per_user"]) for label, points in curves.items()
              if points}
    if not curves:
        raise UserError("pareto chart: no curve has any point to plot")
    fig, ax = style.figure()
    every_y: list[float] = []
    ringed = False
    for i, (label, points) in enumerate(curves.items()):
        colour = style.PALETTE[i % len(style.PALETTE)]
        x = np.array([p["tokens_per_s_per_user"] for p in points], dtype=float)
        y = np.array([p["output_tokens_per_s_per_gpu"] for p in points], dtype=float)
        every_y.extend(y)
        ax.plot(x, y, "-o", color=colour, markersize=2.5, linewidth=1.8, label=label)
        if all("output_tokens_per_s_per_gpu_low" in p for p in points):
            low = [p["output_tokens_per_s_per_gpu_low"] for p in points]
            high = [p["output_tokens_per_s_per_gpu_high"] for p in points]
            ax.fill_between(x, low, high, color=colour, alpha=0.12, linewidth=0)
        outside = extrapolated(points)
        if outside.any():  # the model's own figures beyond what any measurement of that kind reached
            ax.plot(x[outside], y[outside], "o", markersize=7, markerfacecolor="none", markeredgecolor="#555555",
                    markeredgewidth=0.8, linestyle="none",
                    label=None if ringed else "outside the validated envelope (extrapolation)")
            ringed = True
        named: set[str] = set()
        # Name each layout where the envelope first reaches it; a name closer than 4% of the x range to the last one
        # on this curve is left out, so that names never print over each other.
        gap = 0.04 * (max(x) - min(x)) if len(x) > 1 else 0.0
        last_x = -math.inf
        for p, xi, yi in zip(points, x, y, strict=True):
            if p.get("layout") and p["layout"] not in named and xi - last_x >= gap:
                named.add(p["layout"])
                last_x = xi
                ax.annotate(p["layout"], (xi, yi), xytext=(3, 4), textcoords="offset points", fontsize=7,
                            color=colour)
        point = (operating_points or {}).get(label)
        if point is not None:
            every_y.append(float(point["output_tokens_per_s_per_gpu"]))
            layout = f" {point['layout']}" if point.get("layout") else ""
            ax.plot([point["tokens_per_s_per_user"]], [point["output_tokens_per_s_per_gpu"]], marker="*",
                    markersize=14, color=colour, markeredgecolor="black", linestyle="none",
                    label=f"{label}: tokensim run's point{layout}, "
                          f"{point['output_tokens_per_s_per_gpu']:,.0f} tokens/s/GPU"
                          + (" (extrapolation)" if point.get("extrapolation") else ""))
    positive = [v for v in every_y if v > 0]
    if positive and max(positive) / min(positive) > 30:  # frontiers span decades from max batch to batch 1
        ax.set_yscale("log")
    if min_tokens_per_s_per_user:
        ax.axvline(min_tokens_per_s_per_user, color=style.HURDLE, linestyle="--", linewidth=1.2,
                   label=f"SLO: at least {min_tokens_per_s_per_user:g} tokens/s per user")
    ax.set_xlabel("Interactivity: output tokens/s per user")
    ax.set_ylabel("Throughput: output tokens/s per GPU")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=9, loc="best")
    note = (source or style.calibration_source()) + "; shaded: the model's prediction interval"
    if ringed:
        note += ("; ringed: beyond the validated envelope (fewer than 10 measured rows for the band, more sequences "
                 "per GPU than any of them served, or a layout kind none of them ran)")
    return style.finish(fig, title or "Throughput vs interactivity (Pareto frontier)",
                        style.source_line(scenario, note), path)


def extrapolated(points: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Which points of a frontier lie outside the performance model's validated envelope (their ``extrapolation``;
    a point without the field is not marked)."""
    return np.array([bool(p.get("extrapolation")) for p in points], dtype=bool)


def bridge_waterfall_chart(bridge_dict: Mapping[str, Any], path: str | Path, *, scenario: str | None = None,
                           source: str | None = None) -> Path:
    """The unit-cost bridge: a waterfall from the 'from' cost to the 'to' cost, and the Shapley attribution."""
    b = bridge_dict
    cur = b["currency"]
    start, end = float(b["unit_cost_from"]), float(b["unit_cost_to"])
    tiny = 1e-9 * max(abs(start), abs(end))
    steps = [s for s in b["waterfall"] if abs(s["cost_delta"]) > tiny]
    left_label = f"{b['from']['hardware']} {b['from']['precision']}"
    right_label = f"{b['to']['hardware']} {b['to']['precision']}"
    fig, (ax, ax2) = style.figure(13.0, 6.5, ncols=2, width_ratios=[3, 2])

    names = [left_label, *(s["factor"].replace("_", " ") for s in steps), right_label]
    bottoms = [0.0, *(min(s["unit_cost_before"], s["unit_cost_after"]) for s in steps), 0.0]
    heights = [start, *(abs(s["cost_delta"]) for s in steps), end]
    colours = [style.NEUTRAL, *(style.RISE if s["cost_delta"] > 0 else style.FALL for s in steps), style.PALETTE[0]]
    xs = np.arange(len(names))
    ax.bar(xs, heights, bottom=bottoms, color=colours, width=0.65, edgecolor="white")
    levels = [start, *(s["unit_cost_after"] for s in steps)]
    for i, level in enumerate(levels):  # connectors: each bar starts where the previous one ended
        ax.plot([i + 0.33, i + 0.67], [level, level], color="#555555", linewidth=0.8)
    labels = [f"{start:.3g}", *(f"{s['cost_delta']:+.3g}" for s in steps), f"{end:.3g}"]
    for x, bottom, height, text in zip(xs, bottoms, heights, labels, strict=False):
        ax.annotate(text, (x, bottom + height), xytext=(0, 3), textcoords="offset points", ha="center",
                    va="bottom", fontsize=9)
    ax.set_xticks(xs, names, rotation=30, ha="right")
    ax.set_ylabel(style.money_label(cur, "", "per million tokens"))
    ax.set_title(f"Sequential waterfall ({b['metric'].replace('_', ' ')})", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)

    contrib = [(n, c) for n, c in b["contributions"].items() if abs(c["log_contribution"]) > 1e-12]
    contrib.sort(key=lambda nc: nc[1]["cost_delta"])
    unchanged = [n.replace("_", " ") for n, c in b["contributions"].items() if abs(c["log_contribution"]) <= 1e-12]
    ys = np.arange(len(contrib))
    deltas = [c["cost_delta"] for _, c in contrib]
    ax2.barh(ys, deltas, color=[style.RISE if d > 0 else style.FALL for d in deltas], height=0.6)
    for y, (_name, c) in zip(ys, contrib, strict=False):
        # every label starts right of the bar's outer end or of zero, so none runs into the factor names
        ax2.annotate(f"{c['cost_delta']:+.3g} ({math.expm1(c['log_contribution']):+.0%} on its own)",
                     (max(c["cost_delta"], 0.0), y), xytext=(4, 0), textcoords="offset points", ha="left",
                     va="center", fontsize=9)
    ax2.set_yticks(ys, [n.replace("_", " ") for n, _ in contrib])
    ax2.axvline(0, color="black", linewidth=0.8)
    ax2.set_xlabel(style.money_label(cur, "", "per million tokens (share of the total change)"))
    ax2.set_title("Shapley attribution (order-free; adds up to the total change)", fontsize=10)
    lo, hi = min(deltas + [0.0]), max(deltas + [0.0])
    span = (hi - lo) or 1.0
    ax2.set_xlim(lo - 0.05 * span, hi + 0.6 * span)  # room for the labels right of the bars
    ax2.grid(True, axis="x", alpha=0.3)
    if unchanged:
        ax2.text(0.01, 0.01, "unchanged: " + ", ".join(unchanged), transform=ax2.transAxes, fontsize=8,
                 color="#555555", va="bottom")
    title = (f"Unit cost bridge {left_label} \u2192 {right_label}: {start:.3g} \u2192 {end:.3g} {cur} per million "
             f"tokens ({end / start - 1:+.0%})")
    return style.finish(fig, title, style.source_line(scenario, bridge_note(b, source)), path)


def bridge_note(bridge_dict: Mapping[str, Any], source: str | None = None) -> str:
    """The bridge chart's footnote: how it is computed, led by each side whose operating point lies outside the
    performance model's validated envelope (the chart must not claim more than the model backs)."""
    note = source or ("bridge: exact Shapley values over ln(unit cost), waterfall in the factor order given; "
                      + style.calibration_source())
    outside = [f"{bridge_dict[key]['hardware']} {bridge_dict[key]['precision']}" for key in ("from", "to")
               if (bridge_dict.get(key) or {}).get("extrapolation")]
    if outside:
        note = (f"{' and '.join(outside)}: outside the performance model's validated envelope (extrapolation; "
                "tokensim perf --format json says why); " + note)
    return note


def _col(df, name: str, currency: str):
    column = f"{name}_{currency.lower()}"
    return df[column].to_numpy(dtype=float) if column in df.columns else np.zeros(len(df))


def cashflow_chart(schedule_df, currency: str, path: str | Path, *, scenario: str | None = None,
                   source: str | None = None) -> Path:
    """Monthly revenue, opex, tax and debt service with the equity cash flow; cumulative equity and the debt balance."""
    df = schedule_df
    months = df["month"].to_numpy(dtype=float)
    revenue, opex, tax = _col(df, "revenue", currency), _col(df, "opex", currency), _col(df, "tax_levered", currency)
    service, equity = _col(df, "debt_service", currency), _col(df, "equity_cf", currency)
    residual, balance = _col(df, "residual_proceeds", currency), _col(df, "debt_balance", currency)
    capex, drawn = _col(df, "capex", currency), _col(df, "debt_drawn", currency)
    ops = months >= 1
    # Month 0 (capex, the draw) and the horizon's residual sale are an order of magnitude above a month of rent:
    # drawn to scale they would flatten the operating months, so they are written out instead.
    operating_equity = equity - residual
    operating_equity[~ops] = np.nan
    fig, (ax, ax2) = style.figure(11.0, 8.0, nrows=2, sharex=True, height_ratios=[3, 2])
    div, word = style.money_scale(np.concatenate([revenue[ops], (opex + tax + service)[ops]]))
    m = months[ops]
    ax.bar(m, revenue[ops] / div, color=style.PALETTE[0], width=0.8, label="revenue")
    down = np.zeros(ops.sum())
    for values, label, colour in ((opex, "opex", style.PALETTE[1]), (tax, "tax paid", style.PALETTE[4]),
                                  (service, "debt service", style.PALETTE[3])):
        v = values[ops] / div
        if np.any(v != 0):
            ax.bar(m, -v, bottom=-down, color=colour, width=0.8, label=label)
            down += v
    ax.plot(months, operating_equity / div, color="black", linewidth=1.6,
            label="equity cash flow (before residual; below 0: sponsor pays)")
    ax.axhline(0, color="black", linewidth=0.6)
    # the y-range is the data's (issue 16: 40% headroom for the legend made the axis twice the data); the legend
    # and the month-0 note sit below the panel's title instead
    ax.margins(y=0.08)
    ax.set_ylabel(style.money_label(currency, word, "per month"))
    first = (f"month 0: capex {style.fmt_value(capex[0])}, debt drawn {style.fmt_value(drawn[0])}, "
             f"equity {style.fmt_value(equity[0])} {currency.upper()}")
    if residual.any():
        first += f"; month {months[-1]:.0f}: residual proceeds {style.fmt_value(residual.sum())}"
    ax.set_title(f"Monthly cash flows (inflows up, outflows down); {first}", fontsize=9)
    ax.legend(fontsize=8, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.02), frameon=False)
    ax.grid(True, axis="y", alpha=0.3)

    cumulative = np.cumsum(equity)
    cdiv, cword = style.money_scale(np.concatenate([cumulative, balance]))
    ax2.plot(months, cumulative / cdiv, color="black", linewidth=1.8, label="cumulative equity cash flow")
    ax2.axhline(0, color="black", linewidth=0.6)
    ax2.set_ylabel(style.money_label(currency, cword, "cumulative"))
    ax2.set_xlabel("month since financial close")
    twin = ax2.twinx()
    twin.plot(months, balance / cdiv, color=style.PALETTE[3], linewidth=1.6, linestyle="--", label="debt balance")
    twin.set_ylabel(style.money_label(currency, cword, "debt outstanding"), color=style.PALETTE[3])
    twin.set_ylim(bottom=0)
    handles = ax2.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax2.legend(handles[0] + more[0], handles[1] + more[1], fontsize=8, loc="upper left")
    ax2.set_title("Cumulative equity cash flow and debt balance", fontsize=10)
    ax2.grid(True, alpha=0.3)
    note = source or "monthly schedule of tokensim finance (DESIGN.md section 7) on the scenario file"
    return style.finish(fig, f"Cluster cash flow and debt schedule ({currency.upper()})",
                        style.source_line(scenario, note), path)


def backlog_coverage_chart(backlog: Mapping[str, Any], currency: str, path: str | Path, *,
                           fleet: str | None = None) -> Path:
    """Backlog coverage by year after the valuation date (``run_fleet(...).backlog``): the share of each year's
    revenue and of its online GPU-hours that contracts already signed cover, with the contracted revenue written."""
    rows = list(backlog["by_year"])
    if not rows:
        raise UserError("backlog chart: no year after the valuation date")
    x = np.arange(len(rows))
    revenue = np.array([r["revenue_coverage_share"] for r in rows], dtype=float)
    capacity = np.array([r["capacity_coverage_share"] for r in rows], dtype=float)
    fig, ax = style.figure(10.0, 5.5)
    ax.bar(x - 0.2, revenue * 100, width=0.38, color=style.PALETTE[0], label="share of the year's revenue")
    ax.bar(x + 0.2, capacity * 100, width=0.38, color=style.PALETTE[1], label="share of the year's online GPU-hours")
    for xx, r in zip(x, rows, strict=True):
        ax.annotate(f"{style.fmt_value(float(r['contracted_revenue']))} {currency.upper()} contracted",
                    (xx, max(r["revenue_coverage_share"], r["capacity_coverage_share"]) * 100), xytext=(0, 4),
                    textcoords="offset points", ha="center", fontsize=8)
    ax.set_xticks(x, [f"year {r['year']}\n{r['from']} to {r['to']}" for r in rows], fontsize=8)
    ax.set_ylim(0, 115)
    ax.set_ylabel("covered by contracts signed (%)")
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(True, axis="y", alpha=0.3)
    note = f"tokensim fleet: contracts in force after {backlog['valuation_date']}"
    title = (f"Backlog coverage, next {len(rows)} years ({currency.upper()} "
             f"{style.fmt_value(float(backlog['backlog_total']))} contracted in all)")
    return style.finish(fig, title, style.source_line(fleet and f"fleet {fleet}", note), path)


def value_by_vintage_chart(blocks: Sequence[Mapping[str, Any]], currency: str, as_of: str, path: str | Path, *,
                           fleet: str | None = None) -> Path:
    """Value per GPU by vintage (``tokensim value`` blocks): what each block can still earn, against its straight-line
    book value, the percent-of-cost curve and the lender's P90 value, per GPU."""
    rows = list(blocks)
    if not rows:
        raise UserError("value chart: no block to draw")
    x = np.arange(len(rows))
    series = (("value (what it can still earn)", "value_per_gpu", style.PALETTE[0]),
              ("book value (straight line)", "book_value_per_gpu", style.NEUTRAL),
              ("percent-of-cost curve", "percent_of_cost_value_per_gpu", style.PALETTE[1]),
              ("lender's P90 value", "lendable_value_per_gpu", style.PALETTE[3]))
    fig, ax = style.figure(10.0, 5.5)
    values = np.array([[float(r[key]) for _, key, _ in series] for r in rows])
    div, word = style.money_scale(values.ravel())
    width = 0.8 / len(series)
    for i, (label, _key, colour) in enumerate(series):
        ax.bar(x + (i - 1.5) * width, values[:, i] / div, width=width, color=colour, label=label)
    ax.set_xticks(x, [f"{r['gpus']:,} {r['hardware']}\nsince {r['in_service']} ({r['age_years']:.1f} y)"
                      for r in rows], fontsize=8)
    ax.set_ylabel(style.money_label(currency, word, "per GPU"))
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(True, axis="y", alpha=0.3)
    note = f"tokensim value: marked to what each GPU can still earn at {as_of}"
    return style.finish(fig, f"Value per GPU by vintage at {as_of} ({currency.upper()})",
                        style.source_line(fleet and f"fleet {fleet}", note), path)


def fleet_revenue_chart(by_generation: Sequence[Mapping[str, Any]], by_year: Sequence[Mapping[str, Any]],
                        currency: str, path: str | Path, *, fleet: str | None = None) -> Path:
    """Revenue per fleet year stacked by generation (``run_fleet(...).by_generation`` and ``.by_year`` rows), with
    the contracted (backlog-type) revenue of every generation as a line."""
    years = [int(r["year"]) for r in by_year]
    generations = list(dict.fromkeys(str(r["generation"]) for r in by_generation))
    table = {g: np.zeros(len(years)) for g in generations}
    for r in by_generation:
        if int(r["year"]) in years:
            table[str(r["generation"])][years.index(int(r["year"]))] += float(r["revenue"])
    contracted = np.array([float(r["revenue_contract"]) for r in by_year])
    div, word = style.money_scale(list(np.sum(list(table.values()), axis=0)) + list(contracted))
    fig, ax = style.figure(10.0, 6.0)
    x = np.arange(len(years))
    bottom = np.zeros(len(years))
    for i, g in enumerate(generations):
        ax.bar(x, table[g] / div, bottom=bottom, color=style.PALETTE[i % len(style.PALETTE)], width=0.75, label=g)
        bottom += table[g] / div
    ax.plot(x, contracted / div, color="black", linewidth=1.6, marker="o", label="contracted rent (all generations)")
    ax.set_xticks(x, [f"{r['year']}\n{r['from']}" for r in by_year], fontsize=8)
    ax.set_xlabel("fleet year (first month)")
    ax.set_ylabel(style.money_label(currency, word, "per year"))
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(True, axis="y", alpha=0.3)
    note = f"fleet {fleet}; " if fleet else ""
    return style.finish(fig, f"Fleet revenue by generation ({currency.upper()} per year)",
                        style.source_line(None, note + "tokensim fleet: each block's monthly schedule, summed by "
                                          "hardware generation"), path)


def cash_waterfall_chart(schedule_df, currency: str, path: str | Path, *, scenario: str | None = None,
                         source: str | None = None) -> Path:
    """The monthly cash waterfall (issue 13): where each operating month's cash goes, what funds a shortfall, and the
    reserve balances.

    Top: the uses of cash stacked up (debt service, DSRA and maintenance-reserve deposits, cash sweep, cash trapped
    by the lock-up, distributions, debt prepaid by an equity cure) against CFADS (line); below zero, what filled a
    shortfall (DSRA draws and releases, releases of the lock-up and reserve accounts, sponsor injections, equity
    cures), so each month's uses = CFADS + those (the waterfall's sources-and-uses identity).
    The horizon month is left out of the bars (its sale proceeds dwarf a month of rent) and written in the title.
    Bottom: DSRA, maintenance-reserve and lock-up balances and the cumulative sponsor support; the first month with a
    loan default event is marked.
    """
    df = schedule_df
    months = df["month"].to_numpy(dtype=float)
    c = {name: _col(df, name, currency) for name in (
        "cfads", "debt_service", "dsra_net_deposit", "dsra_draw", "maintenance_reserve_deposit",
        "maintenance_reserve_release", "cash_sweep", "lockup_net_deposit", "sponsor_injection", "equity_cure",
        "distributions", "dsra_balance", "maintenance_reserve_balance", "lockup_balance", "residual_proceeds")}
    events = df["loan_default_event"].to_numpy(dtype=float) if "loan_default_event" in df.columns else None
    last = months.max()
    op = (months >= 1) & (months < last)
    m = months[op]
    uses = (("debt service", c["debt_service"], style.PALETTE[3]),
            ("DSRA top-up", np.maximum(c["dsra_net_deposit"], 0.0), style.PALETTE[4]),
            ("maintenance reserve deposit", c["maintenance_reserve_deposit"], style.PALETTE[5]),
            ("cash sweep (prepayment)", c["cash_sweep"], style.PALETTE[1]),
            ("trapped by lock-up", np.maximum(c["lockup_net_deposit"], 0.0), style.NEUTRAL),
            ("distributions", c["distributions"], style.FALL),
            ("debt prepaid by equity cure", c["equity_cure"], "#92C5DE"))
    funds = (("DSRA draw", c["dsra_draw"], "#7B3294"),
             ("DSRA release", np.maximum(-c["dsra_net_deposit"], 0.0), "#C2A5CF"),
             ("lock-up release", np.maximum(-c["lockup_net_deposit"], 0.0), "#BBBBBB"),
             ("reserve release", c["maintenance_reserve_release"], "#56B4E9"),
             ("sponsor injection", c["sponsor_injection"], style.HURDLE),
             ("equity cure", c["equity_cure"], "#F4A582"))
    scale_values = np.concatenate([c["cfads"][op], *(v[op] for _, v, _ in uses), *(v[op] for _, v, _ in funds)])
    div, word = style.money_scale(scale_values)
    fig, (ax, ax2) = style.figure(11.0, 8.0, nrows=2, sharex=True, height_ratios=[3, 2])
    up = np.zeros(op.sum())
    for label, values, colour in uses:
        v = values[op] / div
        if np.any(np.abs(v) > 0):
            ax.bar(m, v, bottom=up, color=colour, width=0.8, label=label)
            up += v
    down = np.zeros(op.sum())
    for label, values, colour in funds:
        v = values[op] / div
        if np.any(np.abs(v) > 0):
            ax.bar(m, -v, bottom=-down, color=colour, width=0.8, label=f"funded by: {label}")
            down += v
    ax.plot(m, c["cfads"][op] / div, color="black", linewidth=1.8, label="CFADS")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.margins(y=0.08)
    ax.set_ylabel(style.money_label(currency, word, "per month"))
    final = (f"month {last:.0f} (sale): residual {style.fmt_value(c['residual_proceeds'][months == last].sum())}, "
             f"distributions {style.fmt_value(c['distributions'][months == last].sum())} {currency.upper()}")
    ax.set_title(f"Uses of cash (up) vs CFADS (line); shortfalls funded by (down); {final}", fontsize=9)
    ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.02), frameon=False)
    ax.grid(True, axis="y", alpha=0.3)

    support = np.cumsum(c["sponsor_injection"] + c["equity_cure"])
    balances = (("DSRA balance", c["dsra_balance"], "#7B3294", "-"),
                ("maintenance reserve balance", c["maintenance_reserve_balance"], "#56B4E9", "-"),
                ("lock-up balance", c["lockup_balance"], style.NEUTRAL, "-"),
                ("cumulative sponsor support (injections + cures)", support, style.HURDLE, "--"))
    bdiv, bword = style.money_scale(np.concatenate([v for _, v, _, _ in balances]))
    for label, values, colour, line in balances:
        if np.any(np.abs(values) > 0):
            ax2.plot(months, values / bdiv, color=colour, linewidth=1.6, linestyle=line, label=label)
    if events is not None and np.any(events > 0):
        first = months[np.argmax(events > 0)]
        ax2.axvline(first, color=style.HURDLE, linewidth=1.0, linestyle=":",
                    label=f"first loan default event (month {first:.0f})")
    ax2.set_ylabel(style.money_label(currency, bword, "balance"))
    ax2.set_xlabel("month since financial close")
    ax2.set_title("Reserve accounts and sponsor support", fontsize=10)
    if ax2.get_legend_handles_labels()[0]:
        ax2.legend(fontsize=8, loc="upper left")
    ax2.grid(True, alpha=0.3)
    ax2.set_ylim(bottom=0)
    note = source or "monthly schedule of tokensim finance (the waterfall, tokensim.finance DEFINITIONS)"
    return style.finish(fig, f"Monthly cash waterfall ({currency.upper()})", style.source_line(scenario, note), path)


def compare_chart(data: Mapping[str, Any], path: str | Path, *, source: str | None = None) -> Path:
    """``tokensim compare``: for each scenario after the first, what moves its blended unit cost against the first's:
    each factor's change alone (the exact Shapley split of ln(cost), ``other`` for what the bridge factors do not
    cover), the bars multiplying up to the total change, which the title states."""
    drivers = list(data["unit_cost_drivers"])
    if not drivers:
        raise UserError("compare chart: nothing to compare (one scenario)")
    first = data["scenarios"][0]["label"]
    fig, axes = style.figure(10.0, 2.2 + 2.0 * len(drivers), nrows=len(drivers), squeeze=False)
    for ax, d in zip(axes[:, 0], drivers, strict=True):
        items = [(n.replace("_", " "), v) for n, v in d["cost_change_alone"].items() if abs(v) > 5e-4]
        if not items:
            items = [("no factor", 0.0)]
        names = [n for n, _ in items]
        values = np.array([v for _, v in items], dtype=float)
        y = np.arange(len(items))[::-1]
        colours = [style.RISE if v > 0 else style.FALL for v in values]
        ax.barh(y, values * 100, color=colours, height=0.6)
        for yy, v in zip(y, values, strict=True):
            ax.annotate(f"{v:+.1%}", (v * 100, yy), xytext=(4 if v >= 0 else -4, 0), textcoords="offset points",
                        ha="left" if v >= 0 else "right", va="center", fontsize=8)
        ax.set_yticks(y, names, fontsize=8)
        ax.axvline(0, color="black", linewidth=0.8)
        span = max(float(np.max(np.abs(values))) * 100, 1.0)
        ax.set_xlim(-1.35 * span, 1.35 * span)
        ax.set_xlabel("change in blended cost per million tokens that the factor alone explains (%)")
        ax.set_title(f"{d['label']} vs {first}: blended unit cost {d['change']:+.1%}", fontsize=9)
        ax.grid(True, axis="x", alpha=0.3)
    note = source or "tokensim compare: exact Shapley split of ln(unit cost) over the bridge factors, plus 'other'"
    return style.finish(fig, f"What moves unit cost between scenarios ({data['currency']})",
                        style.source_line(None, note), path)


def cost_per_token_chart(rows: Sequence[Mapping[str, Any]], currency: str, path: str | Path, *, title: str,
                         source: str | None = None) -> Path:
    """Cost per million output tokens by hardware x precision x price tier, cheapest first, with the model's 80%
    interval as whiskers (``tokensim cost-per-token``)."""
    rows = list(rows)[:30]  # the 30 cheapest: a readable chart; the table and CSV hold every row
    labels = [f"{r['hardware']} {r['precision']} · {r['tier']}" for r in rows]
    cost = np.array([r["cost_per_million_output_tokens"] for r in rows], dtype=float)
    low = np.array([r["cost_per_million_output_tokens_low"] for r in rows], dtype=float)
    high = np.array([r["cost_per_million_output_tokens_high"] for r in rows], dtype=float)
    fig, ax = style.figure(10.0, max(3.5, 0.32 * len(rows) + 1.8))
    y = np.arange(len(rows))[::-1]
    ax.barh(y, cost, color=style.PALETTE[0], height=0.6, label="cost at the median quote of the tier")
    ax.errorbar(cost, y, xerr=[cost - low, high - cost], fmt="none", ecolor="black", elinewidth=1, capsize=2,
                label="performance model's 80% interval")
    for yy, c, h in zip(y, cost, high, strict=True):  # the value beyond the whisker, where nothing covers it
        ax.annotate(style.fmt_value(float(c)), (h, yy), xytext=(4, 0), textcoords="offset points", va="center",
                    fontsize=8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel(f"{currency.upper()} per million output tokens")
    ax.set_xlim(0, float(np.nanmax(high)) * 1.12)
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")  # the cheapest rows, at the top, are the shortest
    note = source or "tokensim cost-per-token: price catalogue configs/prices.yaml and the performance model"
    return style.finish(fig, title, style.source_line(None, note), path)


def _interp_cdf(edges: np.ndarray, cdf: np.ndarray, x: float) -> float:
    return float(np.interp(x, edges, cdf))


def distribution_chart(bin_edges, counts, p05: float, p50: float, p95: float, hurdle: float | None,
                       metric_label: str, path: str | Path, *, underflow: float = 0.0, overflow: float = 0.0,
                       percent: bool = False, unit: str | None = None, scenario: str | None = None,
                       source: str | None = None, hurdle_name: str = "hurdle") -> Path:
    """Histogram and CDF of an outcome over Monte Carlo paths, with P5/P50/P95 and the reference line marked.

    ``hurdle_name`` says what the reference line is ("DSCR covenant", "NPV = 0", "equity hurdle"). The quantiles'
    values are in the legend, not beside their lines, so they stay readable when the lines nearly coincide.

    ``counts[i]`` paths fell in [bin_edges[i], bin_edges[i+1]); ``underflow``/``overflow`` fell below/above the grid.
    ``percent`` shows fractions (an IRR of 0.12) as percentages; ``unit`` names the unit otherwise (e.g. "CNY").
    """
    edges = np.asarray(bin_edges, dtype=float)
    counts = np.asarray(counts, dtype=float)
    if edges.ndim != 1 or counts.shape != (len(edges) - 1,) or len(counts) == 0:
        raise ValueError(f"distribution chart: {len(edges)} bin edges need {len(edges) - 1} counts, got "
                         f"{counts.shape}")
    total = counts.sum() + underflow + overflow
    if total <= 0:
        raise ValueError("distribution chart: no paths counted")
    edges, counts = coarsen_histogram(edges, counts)
    share = counts / total
    cdf = (underflow + np.concatenate([[0.0], np.cumsum(counts)])) / total
    fig, ax = style.figure()
    ax.bar(edges[:-1], share, width=np.diff(edges), align="edge", color=style.PALETTE[5], edgecolor="white",
           linewidth=0.3, label="share of paths per bin")
    ax.set_ylabel("share of paths per bin")
    twin = ax.twinx()
    twin.plot(edges, cdf, color=style.PALETTE[0], linewidth=1.8, label="cumulative share (CDF)")
    twin.set_ylim(0, 1.02)
    twin.set_ylabel("cumulative share of paths")
    style.percent_axis(twin.yaxis)
    style.percent_axis(ax.yaxis, decimals=1)
    for q, value, dash in (("P5", p05, (0, (1, 1.5))), ("P50", p50, "--"), ("P95", p95, (0, (4, 1, 1, 1)))):
        ax.axvline(value, color="black", linestyle=dash, linewidth=1.1, label=f"{q} {style.fmt_value(value, percent)}")
    if hurdle is not None and math.isfinite(hurdle):
        below = underflow / total if hurdle <= edges[0] else (1 - overflow / total if hurdle >= edges[-1]
                                                               else _interp_cdf(edges, cdf, hurdle))
        named = hurdle_name if "=" in hurdle_name else f"{hurdle_name} {style.fmt_value(hurdle, percent)}"
        ax.axvline(hurdle, color=style.HURDLE, linewidth=2.0, label=f"{named}: {below:.0%} of paths below")
    if percent:
        style.percent_axis(ax.xaxis)
    else:  # the quantiles' own format (-1.09bn), not an axis offset such as "1e9"
        from matplotlib.ticker import FuncFormatter

        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: style.fmt_value(v)))
        ax.xaxis.get_offset_text().set_visible(False)
    ax.set_xlabel(metric_label + (f" ({unit})" if unit and not percent else " (%)" if percent else ""))
    handles, labels = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    # below the axes: inside, it would hide a tail or a quantile label wherever the distribution puts them
    ax.legend(handles + more[0], labels + more[1], fontsize=8.5, loc="upper center", bbox_to_anchor=(0.5, -0.11),
              ncols=3, frameon=False)
    ax.grid(True, axis="x", alpha=0.3)
    outside = ""
    if underflow or overflow:
        outside = f"; outside the plotted range: {underflow / total:.1%} below, {overflow / total:.1%} above"
    note = (source or "Monte Carlo paths, fixed-grid histogram") + outside
    title = f"{metric_label}: distribution over {total:,.0f} paths"
    return style.finish(fig, title, style.source_line(scenario, note), path)


def dscr_fan_chart(years, quantiles: Mapping[Any, Any], covenant: float | None, path: str | Path, *,
                   breach_probability=None, scenario: str | None = None, source: str | None = None) -> Path:
    """A fan of DSCR quantiles per loan year (bands between q and 1 − q), the median, and the covenant line; the
    probability of a covenant breach per loan year in a panel of its own below (issue 16: drawn over the fan, its
    bars covered the plot)."""
    years = np.asarray(years, dtype=float)
    q = {quantile_key(k): np.asarray(v, dtype=float) for k, v in quantiles.items()}
    if breach_probability is not None:
        fig, (ax, bars) = style.figure(nrows=2, sharex=True, height_ratios=[3, 1])
    else:
        fig, ax = style.figure()
        bars = None
    lower = sorted(k for k in q if k < 0.5 and any(abs(k2 - (1 - k)) < 1e-9 for k2 in q))
    for i, lo in enumerate(lower):  # outer band first and palest
        hi = next(k for k in q if abs(k - (1 - lo)) < 1e-9)
        ax.fill_between(years, q[lo], q[hi], color=style.PALETTE[0], alpha=0.15 + 0.2 * i / max(1, len(lower)),
                        linewidth=0, label=f"P{lo * 100:g}-P{hi * 100:g}")
    median = next((k for k in q if abs(k - 0.5) < 1e-9), None)
    if median is not None:
        ax.plot(years, q[median], "-o", color=style.PALETTE[0], linewidth=2, markersize=4, label="median")
    if covenant is not None and math.isfinite(covenant):
        ax.axhline(covenant, color=style.HURDLE, linestyle="--", linewidth=1.5, label=f"covenant {covenant:g}x")
    ax.set_ylabel("DSCR (CFADS / debt service, x)")
    ax.set_xticks(years)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8.5, loc="best")
    if bars is not None:
        p = np.asarray(breach_probability, dtype=float)
        bars.bar(years, p, width=0.5, color=style.RISE, alpha=0.7)
        for x, v in zip(years, p, strict=True):
            bars.annotate(f"{v:.0%}", (x, v), xytext=(0, 2), textcoords="offset points", ha="center", fontsize=8)
        bars.set_ylim(0, 1.25)
        bars.set_yticks([0, 0.5, 1.0])
        style.percent_axis(bars.yaxis)
        bars.set_ylabel("share of paths\nbelow covenant")
        bars.grid(True, axis="y", alpha=0.3)
        bars.set_xlabel("loan year")
    else:
        ax.set_xlabel("loan year")
    note = source or "Monte Carlo paths, DSCR per loan year"
    return style.finish(fig, "Debt service cover by loan year (fan of Monte Carlo quantiles)",
                        style.source_line(scenario, note), path)


def tornado_chart(rows: Sequence[Mapping[str, Any]], base: float, metric_label: str, path: str | Path, *,
                  percent: bool = False, unit: str | None = None, scenario: str | None = None,
                  source: str | None = None) -> Path:
    """One-at-a-time sensitivity: per input, the output at its low and high value around the base, widest on top."""
    rows = sorted(rows, key=lambda r: abs(r["output_high"] - r["output_low"]))
    fig, ax = style.figure(10.0, max(4.0, 1.2 + 0.45 * len(rows)))
    ys = np.arange(len(rows))
    for y, r in zip(ys, rows, strict=False):
        for value, label, colour in ((r["output_low"], r["low_label"], style.PALETTE[0]),
                                     (r["output_high"], r["high_label"], style.PALETTE[1])):
            ax.barh(y, value - base, left=base, color=colour, height=0.6)
            ax.annotate(f"{label}: {style.fmt_value(value, percent)}", (value, y),
                        xytext=(4 if value >= base else -4, 0), textcoords="offset points",
                        ha="left" if value >= base else "right", va="center", fontsize=8)
    ax.axvline(base, color="black", linewidth=1.0)
    ax.set_yticks(ys, [str(r["input"]).replace("_", " ") for r in rows])
    values = [base, *(r["output_low"] for r in rows), *(r["output_high"] for r in rows)]
    span = (max(values) - min(values)) or abs(base) or 1.0
    ax.set_xlim(min(values) - 0.35 * span, max(values) + 0.35 * span)
    if percent:
        style.percent_axis(ax.xaxis)
    ax.set_xlabel(metric_label + (f" ({unit})" if unit else " (%)" if percent else ""))
    ax.grid(True, axis="x", alpha=0.3)
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=style.PALETTE[0], label="input at its low value"),
                       Patch(color=style.PALETTE[1], label="input at its high value")], fontsize=8.5,
              loc="lower right")
    note = source or "one-at-a-time sensitivity around the scenario"
    return style.finish(fig, f"Tornado: {metric_label} (base {style.fmt_value(base, percent)})",
                        style.source_line(scenario, note), path)


def sobol_chart(rows: Sequence[Mapping[str, Any]], metric_label: str, path: str | Path, *,
                scenario: str | None = None, source: str | None = None) -> Path:
    """First-order (S1) and total (ST) Sobol indices per input with their confidence intervals, largest ST on top."""
    rows = sorted(rows, key=lambda r: r["ST"])
    fig, ax = style.figure(10.0, max(4.0, 1.2 + 0.45 * len(rows)))
    ys = np.arange(len(rows))
    ax.barh(ys + 0.18, [r["ST"] for r in rows], xerr=[r.get("ST_conf", 0.0) for r in rows], height=0.36,
            color=style.PALETTE[0], label="total effect ST", capsize=2)
    ax.barh(ys - 0.18, [r["S1"] for r in rows], xerr=[r.get("S1_conf", 0.0) for r in rows], height=0.36,
            color=style.PALETTE[1], label="first order S1", capsize=2)
    ax.set_yticks(ys, [str(r["input"]).replace("_", " ") for r in rows])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("Sobol index (share of the output variance, 0-1)")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize=8.5, loc="lower right")
    note = source or "variance-based sensitivity (Sobol indices; error bars: confidence intervals)"
    return style.finish(fig, f"What drives the spread of {metric_label}: Sobol indices",
                        style.source_line(scenario, note), path)


def heatmap_chart(df, x: str, y: str, value: str, path: str | Path, contour_level: float | None = None, *,
                  percent: bool = False, x_label: str | None = None, y_label: str | None = None,
                  value_label: str | None = None, title: str | None = None, contour_label: str | None = None,
                  scenario: str | None = None, source: str | None = None) -> Path:
    """A 2-D sweep as a colour grid (long DataFrame: one row per (x, y) point), with an optional contour line."""
    grid = df.pivot_table(index=y, columns=x, values=value, aggfunc="mean").sort_index().sort_index(axis=1)
    xs, ys_ = grid.columns.to_numpy(dtype=float), grid.index.to_numpy(dtype=float)
    z = np.ma.masked_invalid(grid.to_numpy(dtype=float))
    fig, ax = style.figure(10.0, 7.0)
    from matplotlib.colors import TwoSlopeNorm

    zmin, zmax = float(z.min()), float(z.max())
    level = contour_level if contour_level is not None and zmin < contour_level < zmax else None
    inside = level is not None
    norm = TwoSlopeNorm(vcenter=level, vmin=zmin, vmax=zmax) if level is not None else None
    mesh = ax.pcolormesh(xs, ys_, z, shading="nearest", cmap="RdBu" if inside else "viridis", norm=norm)
    bar = fig.colorbar(mesh, ax=ax)
    bar.set_label(value_label or value)
    if percent:
        style.percent_axis(bar.ax.yaxis)
    else:  # the cells' own format (46.9m), not matplotlib's offset "1e7" (issue 16)
        from matplotlib.ticker import FuncFormatter

        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: style.fmt_value(v)))
        bar.ax.yaxis.get_offset_text().set_visible(False)
    if z.size <= 150:  # small grids: the number in each cell reads better than the colour alone
        for i, yy in enumerate(ys_):
            for j, xx in enumerate(xs):
                if np.ma.getmaskarray(z)[i, j]:
                    continue
                red, green, blue, _ = mesh.cmap(mesh.norm(float(z[i, j])))
                dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5  # ITU-R BT.601 luma
                ax.text(xx, yy, style.fmt_value(float(z[i, j]), percent), ha="center", va="center",
                        fontsize=7.5, color="white" if dark else "black")
    if level is not None and len(xs) > 1 and len(ys_) > 1:
        lines = ax.contour(xs, ys_, z, levels=[level], colors="black", linewidths=2.0)
        text = contour_label or style.fmt_value(level, percent)
        ax.clabel(lines, fmt={level: text}, fontsize=9)
    ax.set_xlabel(x_label or x)
    ax.set_ylabel(y_label or y)
    note = source or "parameter sweep"
    if contour_level is not None and not inside:
        note += f"; the contour level {style.fmt_value(contour_level, percent)} lies outside the swept values"
    return style.finish(fig, title or f"{value_label or value} by {x_label or x} and {y_label or y}",
                        style.source_line(scenario, note), path)


# -- the pack a report draws -------------------------------------------------------------------------------------------
def write_plot_pack(report, out_dir: str | Path) -> list[Path]:
    """Every chart a :class:`tokensim.report.Report` has data for, as PNGs under ``out_dir``; absent sections
    (no schedule, no Monte Carlo) are skipped. Returns the paths written."""
    out = Path(out_dir)
    s = report.scenario
    written: list[Path] = []
    points: dict[str, dict] = {}
    curves = pareto_curves(s, operating_points=points)  # the envelope across layouts, and the points run prices
    if curves:
        sv = s.serving
        written.append(pareto_chart(
            curves, out / "pareto.png", min_tokens_per_s_per_user=sv.min_tokens_per_s_per_user, scenario=s.name,
            title=f"Throughput vs interactivity across layouts: {sv.model}, {sv.input_tokens:g} in / "
                  f"{sv.output_tokens:g} out tokens, {sv.cache_hit_rate:.0%} cache hits",
            operating_points=points))
    if report.bridge:
        written.append(bridge_waterfall_chart(report.bridge, out / "bridge_waterfall.png", scenario=s.name))
    if report.schedule is not None and len(report.schedule):
        written.append(cashflow_chart(report.schedule, report.currency, out / "cashflow.png", scenario=s.name,
                                      source=f"monthly schedule of tokensim finance on {Path(s.file).name}"))
        written.append(cash_waterfall_chart(report.schedule, report.currency, out / "cash_waterfall.png",
                                            scenario=s.name,
                                            source=f"monthly waterfall of tokensim finance on {Path(s.file).name}"))
    mc = report.monte_carlo
    if isinstance(mc, Mapping) and getattr(report, "mc_histograms", None):
        mc = {**mc, "histograms": report.mc_histograms}  # bin counts travel beside the JSON, not in it
    paths = mc.get("paths") if isinstance(mc, Mapping) else None
    mc_source = f"Monte Carlo, {paths:,} paths on {Path(s.file).name}" if paths else None
    for metric, data in monte_carlo_histograms(mc).items():
        occupied = np.count_nonzero(np.asarray(data["counts"])) + bool(data.get("underflow")) + bool(
            data.get("overflow"))
        if occupied <= 1:  # every path in one bin: a chart of a constant; the JSON and tables carry the value
            continue
        hurdle = data.pop("hurdle")
        hurdle = metric_hurdle(metric, s) if hurdle is None else hurdle
        percent, unit = metric_unit(metric, report.currency)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", metric)
        written.append(distribution_chart(
            data.pop("bin_edges"), data.pop("counts"), hurdle=hurdle, path=out / f"distribution_{name}.png",
            metric_label=metric_label(metric), percent=percent, unit=unit, hurdle_name=metric_reference_name(metric),
            scenario=s.name, source=mc_source, **data))
    fan = monte_carlo_dscr_fan(mc)
    if fan is not None:
        covenant = fan.pop("covenant")
        written.append(dscr_fan_chart(path=out / "dscr_fan.png", scenario=s.name, source=mc_source,
                                      covenant=s.financing.dscr_covenant if covenant is None else covenant, **fan))
    return written


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def sensitivity_chart(result: Any, path: str | Path) -> Path:
    """The tornado or Sobol chart of a :class:`tokensim.sensitivity.SensitivityResult` as a PNG.

    Parameters
    ----------
    result : SensitivityResult
        A result of :func:`tokensim.run_sensitivity` (its method, metric, rows, base value and currency are used).
    path : str or Path
        The PNG to write.

    Returns
    -------
    Path
        The file written.
    """
    label = result.metric.replace("_", " ")
    if result.method == "tornado" and not _finite(result.base_value):
        raise UserError(f"tornado chart of {result.metric}: the base case has no value (e.g. no payback within the "
                        "horizon), so there is no centre to draw the bars around; the table lists each input's ends")
    source = f"tokensim sensitivity --method {result.method} --metric {result.metric}"
    if result.method == "sobol":
        return sobol_chart(result.rows, label, path, scenario=result.scenario,
                           source=f"{source}, N = {result.sobol['samples']:,}, seed {result.sobol['seed']}")
    rows = [r for r in result.rows if math.isfinite(r["swing"] if r["swing"] is not None else math.nan)]
    unit = result.currency if result.metric_unit == "currency" else result.metric_unit
    return tornado_chart(rows, result.base_value, label, path, percent=result.metric_unit == "fraction",
                         unit=None if result.metric_unit == "fraction" else unit, scenario=result.scenario,
                         source=source)
