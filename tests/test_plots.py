"""Charts: each chart function, the plot pack of `tokensim run --out` and `tokensim plot` (that matplotlib stays
unimported until a chart is drawn: test_public_api.py::test_import_is_light)."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from tokensim import __version__, perf, plots
from tokensim.cli import cli
from tokensim.perf import search_layout
from tokensim.plots._style import source_line
from tokensim.resolve.perf import slo as serving_slo
from tokensim.resolve.perf import workload as serving_workload

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path, min_bytes: int = 8_000) -> None:
    """A valid PNG that is not blank: the signature, a size, decodable pixels, several colours and some spread."""
    from PIL import Image

    data = Path(path).read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path}: not a PNG"
    assert len(data) > min_bytes, f"{path}: only {len(data)} bytes"
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    with Image.open(io.BytesIO(data)) as image:
        rgb = image.convert("RGB")
    pixels = np.asarray(rgb, dtype=float)
    assert pixels.shape[0] > 300 and pixels.shape[1] > 500
    assert pixels.std() > 5.0, f"{path}: nearly one colour"
    colours = rgb.getcolors(maxcolors=64)  # None: more than 64 distinct colours
    assert colours is None or len(colours) > 20, f"{path}: too few colours to hold a chart"


@pytest.fixture(scope="module")
def report(founding_run):
    """The founding scenario's report (perf, cost, bridge, finance with its monthly schedule, Monte Carlo), shared
    with the session's ``tokensim run`` (conftest.py)."""
    return founding_run.report


def _normal_histogram(mean=0.08, sd=0.06, low=-0.5, high=1.0, bins=16384, paths=20_000):
    """A fixed-grid histogram of normal draws, in the Monte Carlo engine's shape (equal bins over [low, high))."""
    draws = np.random.default_rng(7).normal(mean, sd, paths)
    counts, edges = np.histogram(draws, np.linspace(low, high, bins + 1))
    return draws, edges, counts


def test_pareto_chart(tmp_path, report):
    """Pareto curves of several hardware/precision pairs, straight from predict(pareto=True), make a PNG."""
    curves = plots.pareto_curves(report.scenario)
    assert len(curves) >= 2 and all("output_tokens_per_s_per_gpu" in p for pts in curves.values() for p in pts)
    path = plots.pareto_chart(curves, tmp_path / "pareto.png", min_tokens_per_s_per_user=50, scenario="test")
    assert path == tmp_path / "pareto.png"
    assert_png(path)


def test_pareto_envelope_spans_layouts_and_holds_runs_point(tmp_path, report):
    """Each curve is the envelope across layouts (several layouts on it); the operating point `tokensim run` prices
    (the layout search's best aggregated layout within the scenario's SLO: perf.search_layout's row) lies on or under
    its curve, and the chart marks it."""
    points: dict = {}
    curves = plots.pareto_curves(report.scenario, operating_points=points)
    sv = report.scenario.serving
    assert set(points) == set(curves)
    for label, curve in curves.items():
        assert len({p["layout"] for p in curve}) > 1
        run = points[label]
        assert run["meets_slo"] and run["layout"]
        hw, prec = label.split()[:2]
        choice = search_layout(hw, sv.model, prec, serving_workload(sv), mode="aggregated", slo=serving_slo(sv))
        assert run["layout"] == choice.instance.deployment.label
        assert run["output_tokens_per_s_per_gpu"] == pytest.approx(choice.row["output_tokens_per_s_per_gpu"],
                                                                   rel=1e-12)
        assert any(p["tokens_per_s_per_user"] >= run["tokens_per_s_per_user"] * (1 - 1e-12)
                   and p["output_tokens_per_s_per_gpu"] >= run["output_tokens_per_s_per_gpu"] * (1 - 1e-12)
                   for p in curve), label
    path = plots.pareto_chart(curves, tmp_path / "envelope.png", min_tokens_per_s_per_user=50, scenario="test",
                              operating_points=points)
    assert_png(path)
    # the chart rings every point outside the validated envelope: the B300 NVFP4 star is one (run's unit-cost table
    # says so), and every flagged point of a curve is ringed
    from tokensim.plots._charts import extrapolated
    main = next(u for u in report.unit_costs if u["precision"] == "nvfp4")
    assert points["B300 nvfp4"]["extrapolation"] is main["extrapolation"] is True
    for curve in curves.values():
        assert extrapolated(curve).tolist() == [p["extrapolation"] is True for p in curve]
    assert any(extrapolated(c).any() for c in curves.values()) and not all(extrapolated(c).all()
                                                                          for c in curves.values())


def test_pareto_chart_with_nothing_to_plot_is_a_user_error(tmp_path):
    """Curves with no points are refused with a user error, and no file is left behind."""
    from tokensim import UserError

    with pytest.raises(UserError):
        plots.pareto_chart({"B300 fp8": []}, tmp_path / "empty.png")
    assert not list(tmp_path.iterdir())


def test_bridge_waterfall_chart(tmp_path, report):
    """The bridge dict of the report draws as a waterfall with its Shapley panel."""
    assert_png(plots.bridge_waterfall_chart(report.bridge, tmp_path / "bridge.png", scenario="b300-10k-cluster"))


def test_bridge_footnote_names_a_side_outside_the_envelope(report):
    """The founding bridge's B300 NVFP4 side is the point run prices, outside the validated envelope (the unit-cost
    table says so, independently); the H200 FP8 side (TP8 at 50 tokens/s per user) serves more sequences per GPU than
    the 2 that Hopper DeepSeek rows at 50-100 tokens/s per user measured, so it is outside too. The chart's footnote
    leads with the sides outside; with both inside it names none."""
    from tokensim.plots._charts import bridge_note
    main = next(u for u in report.unit_costs if u["precision"] == "nvfp4")
    assert report.bridge["to"]["extrapolation"] is main["extrapolation"] is True
    h200 = perf.predict("H200", "deepseek-v3", "fp8", perf.Workload(1024, 1024, cache_hit_rate=0.563,
                                                                    speculative_draft_tokens=1,
                                                                    speculative_acceptance_length=1.85),
                        slo=perf.SLO(min_tokens_per_s_per_user=50), gpus=8, tp=8, ep=1)
    assert report.bridge["from"]["layout"] == "TP8" and report.bridge["from"]["extrapolation"] is h200.extrapolation
    named = [f"{report.bridge[k]['hardware']} {report.bridge[k]['precision']}" for k in ("from", "to")
             if report.bridge[k]["extrapolation"]]
    assert bridge_note(report.bridge).startswith(f"{' and '.join(named)}: outside the performance model's validated")
    inside = {**report.bridge, "to": {**report.bridge["to"], "extrapolation": False},
              "from": {**report.bridge["from"], "extrapolation": False}}
    assert bridge_note(inside).startswith("bridge: exact Shapley values")


def test_cashflow_chart(tmp_path, report):
    """The monthly schedule DataFrame draws as cash-flow bars with the debt balance on a second axis."""
    assert_png(plots.cashflow_chart(report.schedule, report.currency, tmp_path / "cashflow.png"))


def test_distribution_chart_from_a_fine_grid(tmp_path):
    """A 16,384-bin histogram with under/overflow counts draws with P5/P50/P95 and the hurdle."""
    draws, edges, counts = _normal_histogram(low=0.0)
    p05, p50, p95 = np.quantile(draws, [0.05, 0.5, 0.95])
    path = plots.distribution_chart(edges, counts, p05, p50, p95, 0.15, "equity IRR", tmp_path / "irr.png",
                                    underflow=int((draws < 0).sum()), percent=True)
    assert_png(path)


def test_distribution_chart_rejects_mismatched_counts(tmp_path):
    """Counts that do not match the bin edges are an error before anything is written."""
    with pytest.raises(ValueError, match="bin edges"):
        plots.distribution_chart([0, 1, 2], [5], 0, 1, 2, None, "x", tmp_path / "bad.png")
    assert not list(tmp_path.iterdir())


def test_dscr_fan_chart(tmp_path):
    """Quantile bands per loan year (keys as floats or "pNN") draw with the covenant and breach probabilities."""
    years = np.arange(1, 6)
    spread = np.sqrt(years)
    quantiles = {"p05": 1.1 - 0.3 * spread, 0.25: 1.1 - 0.1 * spread, 0.5: np.full(5, 1.1),
                 0.75: 1.1 + 0.1 * spread, "p95": 1.1 + 0.3 * spread}
    assert_png(plots.dscr_fan_chart(years, quantiles, 1.2, tmp_path / "fan.png",
                                    breach_probability=[0.3, 0.35, 0.4, 0.4, 0.45]))


def test_tornado_chart(tmp_path):
    """One-at-a-time rows around a base draw as a tornado, widest swing on top."""
    rows = [{"input": "rent", "low_label": "-20%", "high_label": "+20%", "output_low": -0.3, "output_high": 0.05},
            {"input": "interest_rate", "low_label": "3%", "high_label": "5%", "output_low": -0.1,
             "output_high": -0.15},
            {"input": "residual", "low_label": "10%", "high_label": "30%", "output_low": -0.2, "output_high": -0.06}]
    assert_png(plots.tornado_chart(rows, -0.124, "equity IRR", tmp_path / "tornado.png", percent=True))


def test_sobol_chart(tmp_path):
    """S1 and ST bars with confidence intervals draw per input."""
    rows = [{"input": "rent", "S1": 0.55, "S1_conf": 0.04, "ST": 0.62, "ST_conf": 0.05},
            {"input": "utilisation", "S1": 0.2, "S1_conf": 0.03, "ST": 0.27, "ST_conf": 0.03},
            {"input": "power_price", "S1": -0.01, "S1_conf": 0.01, "ST": 0.02, "ST_conf": 0.01}]
    assert_png(plots.sobol_chart(rows, "equity IRR", tmp_path / "sobol.png"))


def test_heatmap_chart_with_hurdle_contour(tmp_path):
    """A rent × utilisation sweep draws as a grid with the hurdle contour (and without it when out of range)."""
    rents, utils = np.linspace(14, 30, 9), np.linspace(0.6, 1.0, 9)
    df = pd.DataFrame([{"rent": r, "utilisation": u, "equity_irr": -0.3 + 0.025 * (r - 14) + 0.4 * (u - 0.6)}
                       for r in rents for u in utils])
    assert_png(plots.heatmap_chart(df, "rent", "utilisation", "equity_irr", tmp_path / "heat.png",
                                   contour_level=0.15, percent=True, x_label="rent (CNY per GPU-hour)",
                                   y_label="utilisation (share of hours sold)", value_label="equity IRR"))
    assert_png(plots.heatmap_chart(df[df["rent"] < 20], "rent", "utilisation", "equity_irr",
                                   tmp_path / "heat2.png", contour_level=5.0))


def test_footnote_names_version_scenario_and_source():
    """The footnote reads "Source: tokensim <version>, scenario <name>; <data source>"."""
    assert source_line("b300-10k-cluster", "scenario file") == \
        f"Source: tokensim {__version__}, scenario b300-10k-cluster; scenario file"


def test_plot_pack_with_monte_carlo_and_without_a_schedule(tmp_path, report):
    """With a Monte Carlo summary carrying histogram counts the pack adds a distribution per such metric and a DSCR
    fan, and it skips what is absent (here the schedule; the plain pack is checked through `run --out`)."""
    draws, edges, counts = _normal_histogram(low=-0.5, high=1.0)
    mc = {"paths": 20_000, "equity_irr": {"p05": float(np.quantile(draws, 0.05)), "p50": 0.08, "p95": 0.18},
          "npv": {"mean": 1.0}, "histograms": {
              "equity_irr": {"low": -0.5, "high": 1.0, "bins": 16384, "counts": counts.tolist(),
                             "underflow": 0, "overflow": 0},
              "npv": {"low": -5e9, "high": 5e9, "bins": 16384}},  # a grid without counts is not drawn
          "dscr_by_loan_year": {"years": [1, 2, 3], "quantiles": {"p05": [0.8, 0.7, 0.6], "p50": [1.0, 1.0, 1.0],
                                                                  "p95": [1.2, 1.3, 1.4]}}}
    sparse = dataclasses.replace(report, monte_carlo=mc, schedule=None, mc_histograms={})
    written = plots.write_plot_pack(sparse, tmp_path / "mc")
    assert {p.name for p in written} == {"pareto.png", "bridge_waterfall.png", "distribution_equity_irr.png",
                                         "dscr_fan.png"}
    for path in written:
        assert_png(path)


def test_monte_carlo_seam_reads_quantiles_off_the_histogram():
    """Without p05/p50/p95 the seam reads them off the histogram's CDF (within a bin)."""
    draws, edges, counts = _normal_histogram(bins=1500)
    data = plots.monte_carlo_histograms({"equity_irr": {"histogram": {"bin_edges": edges, "counts": counts}}})
    got = [data["equity_irr"][k] for k in ("p05", "p50", "p95")]
    assert got == pytest.approx(np.quantile(draws, [0.05, 0.5, 0.95]), abs=2 * (edges[1] - edges[0]))
    assert plots.monte_carlo_histograms(None) == {} and plots.monte_carlo_dscr_fan({"paths": 3}) is None


def test_run_out_writes_the_plot_pack(founding_run):
    """`tokensim run --out DIR` writes valid, non-blank PNGs of the pack beside its tables (those are checked by
    test_report.py::test_run_writes_artifacts; its wall time is a benchmark figure, benchmarks/BENCHMARKS.md)."""
    pngs = sorted(founding_run.out.glob("*.png"))
    assert {p.name for p in pngs} >= {"pareto.png", "bridge_waterfall.png", "cashflow.png"}
    for png in pngs:
        assert_png(png)


@pytest.mark.parametrize("argv", [
    ["pareto", "--hardware", "H100,B200", "--precision", "fp8", "--model", "llama-3.3-70b"],
    ["bridge", "b300-10k-cluster", "--currency", "USD"],
    ["cashflow"],
    ["tornado", "--metric", "equity_irr"],
])
def test_plot_command_writes_a_png(tmp_path, argv):
    """`tokensim plot KIND` writes the chart to --out and nothing on stdout."""
    out = tmp_path / "chart.png"
    res = CliRunner().invoke(cli, ["plot", *argv, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert res.stdout == ""
    assert_png(out)


@pytest.mark.parametrize("argv, message", [
    (["bridge", "--out", "chart.svg"], "ending in .png"),
    (["cashflow", "--hardware", "H100", "--out", "c.png"], "only for 'plot pareto'"),
    (["pareto", "--hardware", "B3000", "--out", "p.png"], "did you mean 'B300'"),
    (["heatmap", "--out", "h.png"], "Invalid value"),
])
def test_plot_command_user_errors(tmp_path, argv, message):
    """A wrong suffix, options of another kind, an unknown name or an unregistered kind exit 2 with a message."""
    res = CliRunner().invoke(cli, ["plot", *argv])
    assert res.exit_code == 2 and message in res.output


def _drawn_figure(monkeypatch):
    """The matplotlib figure a chart function finishes, captured as it is written."""
    from tokensim.plots import _style

    seen: dict = {}
    original = _style.finish

    def finish(fig, title, footnote, path):
        seen["fig"] = fig
        return original(fig, title, footnote, path)

    monkeypatch.setattr(_style, "finish", finish)
    return seen


WATERFALL_SETS = ["financing.dsra_months=6", "financing.dsra_funding=at_close", "financing.lockup_dscr=1.2",
                  "financing.cash_sweep_share=0.5", "financing.equity_cure_max_count=2",
                  "financing.dscr_covenant=1.05", "financing.maintenance_reserve_per_gpu_hour=0.3"]


@pytest.mark.parametrize("rent", [1.3e9, 1.75e9])  # a short case (cures, sponsor) and a long one (lock-up, sweep)
def test_cash_waterfall_chart_balances_sources_and_uses(tmp_path, monkeypatch, rent):
    """Issue 13: the waterfall chart. In every operating month but the sale month, the bars above zero (uses of cash)
    less the bars below zero (what funded a shortfall) equal CFADS: sources = uses, the waterfall's identity, so no
    component is left out of the chart. The drawn CFADS line is the schedule's."""
    from tokensim import load_scenario, run_finance

    s = load_scenario("b300-10k-cluster", [*WATERFALL_SETS, f"contract.rent_per_cluster_year={rent}"])
    schedule = run_finance(s, schedule=True).schedule
    seen = _drawn_figure(monkeypatch)
    assert_png(plots.cash_waterfall_chart(schedule, "CNY", tmp_path / "waterfall.png"))
    top = seen["fig"].axes[0]
    net: dict = {}
    for patch in top.patches:
        month = round(patch.get_x() + patch.get_width() / 2)
        net[month] = net.get(month, 0.0) + patch.get_height()
    line = next(ln for ln in top.get_lines() if ln.get_label() == "CFADS")
    cfads = dict(zip(np.round(line.get_xdata()).astype(int), line.get_ydata(), strict=True))
    months = sorted(cfads)
    assert months == list(range(1, int(schedule["month"].max())))
    scale = max(abs(v) for v in cfads.values())
    for m in months:
        assert net.get(m, 0.0) == pytest.approx(cfads[m], abs=1e-9 * scale), m
    expected = schedule["cfads_cny"].to_numpy()[1:-1]
    ratio = expected / np.array([cfads[m] for m in months])
    assert np.allclose(ratio, ratio[0])  # the line is the schedule's CFADS in the chart's money unit


def test_cashflow_chart_y_range_is_the_datas(tmp_path, monkeypatch, report):
    """Issue 16: 40% headroom for the legend made the top panel's y-axis about twice the data's range. The axis now
    spans the bars with a margin under 10% on each side."""
    seen = _drawn_figure(monkeypatch)
    plots.cashflow_chart(report.schedule, report.currency, tmp_path / "cashflow.png")
    top = seen["fig"].axes[0]
    highs = [p.get_y() + p.get_height() for p in top.patches] + [p.get_y() for p in top.patches]
    low, high = min(highs), max(highs)
    bottom, ceiling = top.get_ylim()
    assert ceiling <= high + 0.1 * (high - low) and bottom >= low - 0.1 * (high - low)


def test_dscr_fan_takes_each_loan_years_breach_share():
    """Issue 16 (the fan's bars): the chart drew the run-wide breach probability as every year's bar. The seam now
    passes the share of paths below the covenant in each loan year."""
    from tokensim.plots._data import monte_carlo_dscr_fan

    mc = {"dscr_by_year": {"years": [1, 2, 3], "quantiles": {"p50": [1.1, 1.3, 1.4]}, "covenant": 1.2,
                           "breach_share_by_year": [0.7, 0.2, 0.1], "breach_probability": 0.75}}
    assert monte_carlo_dscr_fan(mc)["breach_probability"] == [0.7, 0.2, 0.1]


def test_distribution_reference_lines_are_named_for_what_they_are():
    """Issue 16: the DSCR covenant and the NPV = 0 line were both labelled 'hurdle'."""
    from tokensim.plots._data import metric_label, metric_reference_name

    assert metric_reference_name("min_dscr") == "DSCR covenant"
    assert metric_reference_name("npv") == "NPV = 0"
    assert metric_reference_name("equity_irr") == "equity hurdle"
    assert metric_label("min_dscr") == "lowest loan-year DSCR"


def test_heatmap_colour_bar_speaks_the_cells_format(tmp_path, monkeypatch):
    """Issue 16: the colour bar read "1e7" while the cells said "46.9m". Its ticks now use the cells' format."""
    seen = _drawn_figure(monkeypatch)
    df = pd.DataFrame([{"rent": r, "spot": u, "npv": 1e7 * (r - 2) + 5e6 * u} for r in (2.0, 3.0, 5.0)
                       for u in (0.5, 1.0)])
    plots.heatmap_chart(df, "rent", "spot", "npv", tmp_path / "heat.png")
    bar = seen["fig"].axes[1]
    formatter = bar.yaxis.get_major_formatter()
    assert formatter(4.69e7, 0) == "46.9m" and formatter(2.5e9, 0) == "2.5bn"
    assert not bar.yaxis.get_offset_text().get_visible()


def test_a_metric_every_path_shares_gets_no_distribution_chart(report, founding_run):
    """No chart of a constant: on the founding case every path's first loan default event is month 1 (all paths in
    one bin), so the plot pack `tokensim run --out` wrote has no distribution for it, while the NPV, which varies,
    is drawn."""
    mc = {**report.monte_carlo, "histograms": report.mc_histograms}
    counts = np.asarray(plots.monte_carlo_histograms(mc)["first_loan_default_month"]["counts"])
    assert np.count_nonzero(counts) == 1
    names = {p.name for p in founding_run.out.glob("*.png")}
    assert "distribution_first_loan_default_month.png" not in names and "distribution_npv.png" in names
