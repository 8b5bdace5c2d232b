"""``tokensim plot KIND [SCENARIO] --out FILE.png``: one chart as a PNG.

Kinds registered here are those whose data a command can produce today:

* ``pareto``   — throughput vs interactivity envelopes across instance layouts, with the point ``tokensim run``
  prices starred (:func:`tokensim.plots.pareto_chart`) of ``--hardware`` ×
  ``--precision`` × ``--model`` (comma-separated lists), by default the scenario's hardware at its compare precisions
  plus its previous generation;
* ``bridge``   — the unit-cost waterfall and Shapley attribution (:func:`tokensim.plots.bridge_waterfall_chart`);
* ``cashflow`` — the monthly cash flows and debt schedule (:func:`tokensim.plots.cashflow_chart`);
* ``waterfall`` — the monthly cash waterfall and reserve accounts (:func:`tokensim.plots.cash_waterfall_chart`);
* ``tornado``, ``sobol`` — ``tokensim sensitivity`` of ``--metric`` (:func:`tokensim.plots.tornado_chart`,
  :func:`tokensim.plots.sobol_chart`; rows ``{input, low_label, high_label, output_low, output_high}`` and the base
  value, or ``{input, S1, S1_conf, ST, ST_conf}``).

Seams for the kinds whose producers are being built (register each in ``_KINDS`` once its producer exists; the chart
functions and their data contracts are in :mod:`tokensim.plots._charts`):

* ``distribution`` — Monte Carlo summary → :func:`tokensim.plots.monte_carlo_histograms` →
  :func:`tokensim.plots.distribution_chart` (one chart per metric: equity IRR, NPV ...);
* ``fan``          — Monte Carlo DSCR quantiles per loan year → :func:`tokensim.plots.monte_carlo_dscr_fan` →
  :func:`tokensim.plots.dscr_fan_chart`;
* ``heatmap``      — a sweep's long DataFrame (x, y, value columns) → :func:`tokensim.plots.heatmap_chart`, e.g.
  rent × utilisation → equity IRR with ``contour_level`` = the scenario's equity hurdle.

A kind function takes the loaded scenario, the output path and the parsed options, and returns the path written.
"""

from __future__ import annotations

from pathlib import Path

import click

from .._errors import UserError
from .._output import check_output_path
from ..api import run_bridge, run_finance
from ..bridge import bridge_in_currency
from ..config.money import check_currency
from ..config.scenario import load_scenario
from ..perf import MODES
from ..plots import (
    bridge_waterfall_chart,
    cash_waterfall_chart,
    cashflow_chart,
    pareto_chart,
    pareto_curves,
    sensitivity_chart,
)
from ..sensitivity import run_sensitivity
from ._common import cli, info, scenario_overrides, set_option


def _names(values: tuple[str, ...]) -> list[str] | None:
    """Repeated options and comma-separated lists alike: ``--precision fp8,nvfp4`` = ``--precision fp8 --precision
    nvfp4``."""
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    return names or None


def _currency(scenario, currency: str | None) -> str:
    return check_currency(currency, None, "--currency") if currency is not None else scenario.currency


def _pareto(s, out: Path, opts: dict) -> Path:
    hardware, precisions, models = (_names(opts[k]) for k in ("hardware", "precision", "model"))
    skipped: list[str] = []
    points: dict[str, dict] = {}
    curves = pareto_curves(s, hardware=hardware, precisions=precisions, models=models, mode=opts["mode"],
                           skipped=skipped, operating_points=points)
    for reason in skipped:
        info(f"tokensim: left out {reason}")
    sv = s.serving
    shown = {p["model"] for points in curves.values() for p in points[:1]}
    title = (f"Throughput vs interactivity across layouts: {', '.join(sorted(shown))}, {sv.input_tokens:g} in / "
             f"{sv.output_tokens:g} out tokens, {sv.cache_hit_rate:.0%} cache hits ({opts['mode']})")
    return pareto_chart(curves, out, min_tokens_per_s_per_user=sv.min_tokens_per_s_per_user, title=title,
                        scenario=s.name, operating_points=points)


def _bridge(s, out: Path, opts: dict) -> Path:
    result = bridge_in_currency(run_bridge(s).to_dict(), _currency(s, opts["currency"]))
    return bridge_waterfall_chart(result, out, scenario=s.name)


def _cashflow(s, out: Path, opts: dict) -> Path:
    currency = _currency(s, opts["currency"])
    result = run_finance(s, schedule=True).in_currency(currency)
    return cashflow_chart(result.schedule, currency, out, scenario=s.name,
                          source=f"monthly schedule of tokensim finance on {Path(s.file).name}")


def _waterfall(s, out: Path, opts: dict) -> Path:
    currency = _currency(s, opts["currency"])
    result = run_finance(s, schedule=True).in_currency(currency)
    return cash_waterfall_chart(result.schedule, currency, out, scenario=s.name,
                                source=f"monthly waterfall of tokensim finance on {Path(s.file).name}")


def _sensitivity(method: str):
    def draw(s, out: Path, opts: dict) -> Path:
        return sensitivity_chart(run_sensitivity(s, method=method, metric=opts["metric"]), out)

    return draw


_KINDS = {"pareto": _pareto, "bridge": _bridge, "cashflow": _cashflow, "waterfall": _waterfall,
          "tornado": _sensitivity("tornado"), "sobol": _sensitivity("sobol")}


@cli.command("plot")
@set_option()
@click.argument("kind", type=click.Choice(tuple(_KINDS)))
@click.argument("scenario", default="b300-10k-cluster")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="the PNG file to write")
@click.option("--hardware", multiple=True, help="pareto: accelerators, comma-separated or repeated")
@click.option("--precision", multiple=True, help="pareto: precision recipes, comma-separated or repeated")
@click.option("--model", multiple=True, help="pareto: models, comma-separated or repeated")
@click.option("--mode", type=click.Choice(MODES), default="aggregated", show_default=True, help="pareto: serving mode")
@click.option("--currency", help="bridge, cashflow, waterfall: reporting currency (default: the scenario's)")
@click.option("--metric", default="npv", show_default=True,
              help="tornado, sobol: the finance metric (as tokensim sensitivity --metric)")
def plot_command(kind: str, scenario: str, out_path: str, hardware, precision, model, mode, currency,
                 metric) -> None:
    """Draw one chart as a PNG: pareto (throughput vs interactivity), bridge (unit-cost waterfall), cashflow
    (monthly cash flows and debt schedule), tornado or sobol (tokensim sensitivity, default N and seed) for SCENARIO
    (default: the founding b300-10k-cluster)."""
    out = Path(out_path)
    if out.suffix.lower() != ".png":
        raise UserError(f"--out: got {out_path!r}; allowed: a file name ending in .png")
    check_output_path(out_path, "out_path")
    if kind != "pareto" and (hardware or precision or model):
        raise UserError(f"--hardware/--precision/--model: only for 'plot pareto', not 'plot {kind}'")
    s = load_scenario(scenario, scenario_overrides())
    written = _KINDS[kind](s, out, {"hardware": hardware, "precision": precision, "model": model, "mode": mode,
                                    "currency": currency, "metric": metric})
    info(f"tokensim: wrote {written}")
