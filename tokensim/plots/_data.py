"""Data adapters for the charts: producers' results (perf, the Monte Carlo summary) in the shapes that
:mod:`tokensim.plots._charts` draws. No matplotlib here; each function is the documented seam between a producer and
a chart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._errors import UserError
from ..config.catalog import load_catalog
from ..perf import predict
from ..resolve.perf import scenario_point
from ..resolve.perf import workload as serving_workload

__all__ = ["pareto_curves", "monte_carlo_histograms", "monte_carlo_dscr_fan", "metric_hurdle", "metric_label",
           "metric_reference_name", "metric_unit", "quantile_key", "coarsen_histogram"]


def quantile_key(key: Any) -> float:
    """0.05, "0.05", "p05", "p5", "P95" → the quantile as a float."""
    text = str(key).strip().lower()
    if text.startswith("p"):
        return float(text[1:]) / 100.0
    return float(text)


def pareto_curves(scenario, *, hardware: Sequence[str] | None = None, precisions: Sequence[str] | None = None,
                  models: Sequence[str] | None = None, mode: str = "aggregated",
                  skipped: list[str] | None = None,
                  operating_points: dict[str, dict] | None = None) -> dict[str, list[dict]]:
    """Pareto envelopes keyed "HARDWARE PRECISION [model]": by default the scenario's hardware at each compare
    precision plus the previous generation at its precision, on the scenario's workload. Each curve is the envelope
    across instance layouts (:func:`tokensim.perf.layout_envelope`: TP, TEP, DEP and DTP at every size of the NVLink
    domain; each point's ``layout`` names its layout), not one layout's frontier. Unknown names are an error;
    combinations that cannot run (weights do not fit) are left out, with the reason appended to ``skipped``; if none
    can run, the first reason is raised.

    Parameters
    ----------
    scenario : Scenario
        Supplies the workload (its ``serving`` section) and the default combinations.
    hardware, precisions, models : sequence of str, optional
        Catalogue names to combine (each default: the scenario's).
    mode : str
        Serving mode (:data:`tokensim.perf.MODES`).
    skipped : list of str, optional
        Receives "HARDWARE PRECISION MODEL: reason" for each combination left out.
    operating_points : dict, optional
        Receives, per label, the operating point ``tokensim run`` prices (:func:`tokensim.resolve.perf.scenario_point`,
        the call of ``report``'s unit costs: the pinned layout, else the searched one, at the scenario's SLO;
        aggregated mode only) as a :meth:`~tokensim.perf.Prediction.to_dict` record with its ``layout``, for the
        chart to mark.

    Returns
    -------
    dict
        Label to the envelope's points (:meth:`tokensim.perf.Prediction.to_dict` records), fastest per user first.

    Raises
    ------
    UserError
        An unknown name (``field 'hardware'``, ``'precision'`` or ``'model'``), or the first reason when no
        combination can run.
    """
    cat = load_catalog()
    for names, get in ((hardware, cat.get_hardware), (precisions, cat.get_recipe), (models, cat.get_model)):
        for name in names or ():
            get(name)

    sv = scenario.serving
    workload = serving_workload(sv)
    if hardware is None and precisions is None and models is None:
        combos = [(sv.hardware, p, sv.model) for p in dict.fromkeys([*sv.compare_precisions, sv.precision])]
        if sv.previous_generation is not None:
            combos.append((sv.previous_generation.hardware, sv.previous_generation.precision, sv.model))
    else:
        combos = [(h, p, m) for h in (hardware or [sv.hardware])
                  for p in (precisions or list(dict.fromkeys([*sv.compare_precisions, sv.precision])))
                  for m in (models or [sv.model])]
    several_models = len({m for _, _, m in combos}) > 1
    curves: dict[str, list[dict]] = {}
    first_error: UserError | None = None
    for hw, prec, model in combos:
        try:
            points = [p.to_dict() for p in predict(hw, model, prec, workload, mode=mode, pareto=True, search=True)]
        except UserError as exc:
            first_error = first_error or exc
            if skipped is not None:
                skipped.append(f"{hw} {prec} {model}: {exc}")
            continue
        if points:
            label = f"{points[0]['hardware']} {points[0]['precision']}"
            label += f" {points[0]['model']}" if several_models else ""
            curves[label] = points
            if operating_points is not None and mode == "aggregated":
                point = scenario_point(scenario, hw, model, prec, workload)
                operating_points[label] = point.to_dict()
    if not curves and first_error is not None:
        raise first_error
    return curves


def _histogram_of(entry: Any) -> dict | None:
    """``{bin_edges, counts, underflow, overflow}`` from a mapping that holds a histogram (under ``histogram`` or
    directly), its edges given as ``bin_edges`` or as an equal grid ``low``/``high``; None if it holds none."""
    if not isinstance(entry, Mapping):
        return None
    hist = entry.get("histogram", entry)
    if not isinstance(hist, Mapping) or "counts" not in hist:
        return None
    counts = np.asarray(hist["counts"], dtype=float)
    if "bin_edges" in hist:
        edges = np.asarray(hist["bin_edges"], dtype=float)
    elif "low" in hist and "high" in hist:
        edges = np.linspace(float(hist["low"]), float(hist["high"]), counts.size + 1)
    else:
        return None
    return {"bin_edges": edges, "counts": counts, "underflow": float(hist.get("underflow") or 0),
            "overflow": float(hist.get("overflow") or 0)}


def _quantile_from(entry: Mapping[str, Any], q: float, hist: Mapping[str, Any]) -> float:
    """P-q of an entry: its own ``p05``/``p5``/``quantiles`` value, else read off the histogram's CDF."""
    pct = round(q * 100)
    for key in (f"p{pct:02d}", f"p{pct}", f"P{pct}"):
        if entry.get(key) is not None:
            return float(entry[key])
    for key, value in (entry.get("quantiles") or {}).items():
        if abs(quantile_key(key) - q) < 1e-9 and value is not None:
            return float(value)
    edges, counts = hist["bin_edges"], hist["counts"]
    under, over = hist["underflow"], hist["overflow"]
    cdf = (under + np.concatenate([[0.0], np.cumsum(counts)])) / (counts.sum() + under + over)
    return float(np.interp(q, cdf, edges))


def monte_carlo_histograms(monte_carlo: Mapping[str, Any] | None) -> dict[str, dict]:
    """The seam between the Monte Carlo summary and :func:`tokensim.plots.distribution_chart`.

    A metric is drawn when the summary has its histogram counts, in either place:

    * ``monte_carlo["histograms"][METRIC]``: ``{low, high, counts, underflow?, overflow?}`` (equal bins over
      [low, high), the shape of ``tokensim.montecarlo._run``'s grid) or ``{bin_edges, counts, ...}``;
    * ``monte_carlo[METRIC]`` (or ``monte_carlo["metrics"][METRIC]``) holding ``histogram: {...}`` or those keys.

    P5/P50/P95 come from ``monte_carlo[METRIC]`` (``p05``/``p50``/``p95`` or ``quantiles: {0.05: ...}``) where
    given, else from the histogram; ``hurdle`` likewise (None: the caller picks one). Returns ``{metric: keyword
    arguments of distribution_chart}``; everything else in the summary is ignored.
    """
    if not isinstance(monte_carlo, Mapping):
        return {}
    entries = dict(monte_carlo.get("metrics") or {}) if isinstance(monte_carlo.get("metrics"), Mapping) else {}
    entries.update({k: v for k, v in monte_carlo.items() if k not in ("metrics", "histograms")})
    histograms = monte_carlo.get("histograms")
    grids: Mapping[str, Any] = histograms if isinstance(histograms, Mapping) else {}
    out = {}
    for metric in dict.fromkeys([*entries, *grids]):
        found = entries.get(metric)
        entry: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        hist = _histogram_of(entry) or _histogram_of(grids.get(metric))
        if hist is None or hist["counts"].sum() + hist["underflow"] + hist["overflow"] <= 0:
            continue
        out[str(metric)] = {**hist, "p05": _quantile_from(entry, 0.05, hist), "p50": _quantile_from(entry, 0.50, hist),
                            "p95": _quantile_from(entry, 0.95, hist), "hurdle": entry.get("hurdle")}
    return out


def monte_carlo_dscr_fan(monte_carlo: Mapping[str, Any] | None) -> dict | None:
    """The seam to :func:`~tokensim.plots.dscr_fan_chart`: the first mapping under a key containing "dscr" with
    ``years`` and ``quantiles`` (and optionally ``covenant`` and ``breach_share_by_year``, passed on as the chart's
    per-year ``breach_probability``); None when the summary has none."""
    if not isinstance(monte_carlo, Mapping):
        return None
    for key, entry in monte_carlo.items():
        if "dscr" in str(key).lower() and isinstance(entry, Mapping) and "years" in entry and "quantiles" in entry:
            # per loan year: the share of paths below the covenant that year (the run-wide breach_probability is
            # one number, which the chart drew as if it were every year's)
            by_year = entry.get("breach_share_by_year")
            return {"years": entry["years"], "quantiles": entry["quantiles"], "covenant": entry.get("covenant"),
                    "breach_probability": by_year if by_year is not None else None}
    return None


def metric_hurdle(metric: str, scenario) -> float | None:
    """The line a reader compares a metric with: the equity hurdle for equity IRR, the discount rate for project IRR
    (NPV > 0 exactly when the IRR beats it), 0 for NPVs, the covenant for DSCR; None otherwise."""
    fin = scenario.financing
    if metric.startswith("equity_irr"):
        return fin.equity_hurdle_irr
    if metric.startswith("project_irr"):
        return fin.discount_rate
    if "npv" in metric:
        return 0.0
    if "dscr" in metric:
        return fin.dscr_covenant
    return None


# Words for the Monte Carlo metrics a chart names on its axis (issue 16: axes showed raw column names)
_METRIC_LABELS = {
    "npv": "project NPV", "equity_npv": "equity NPV", "project_irr": "project IRR (after tax)",
    "project_irr_pre_tax": "project IRR (pre-tax)", "equity_irr": "equity IRR", "min_dscr": "lowest loan-year DSCR",
    "payback_years_equity": "equity payback (sustained: cumulative cash stays non-negative)",
    "payback_years_equity_first_crossing": "equity payback (first crossing)",
    "first_loan_default_month": "month of the first loan default event", "sponsor_injection": "sponsor injections",
}


def metric_label(metric: str) -> str:
    """A metric's name in words for an axis or a title (the column name with spaces when none is listed)."""
    return _METRIC_LABELS.get(metric, metric.replace("_", " "))


def metric_reference_name(metric: str) -> str:
    """What the reference line of :func:`metric_hurdle` is, in words (issue 16: the DSCR covenant and the NPV = 0
    line were both labelled "hurdle")."""
    if metric.startswith("equity_irr"):
        return "equity hurdle"
    if metric.startswith("project_irr"):
        return "discount rate"
    if "npv" in metric:
        return "NPV = 0"
    if "dscr" in metric:
        return "DSCR covenant"
    return "reference"


def metric_unit(metric: str, currency: str) -> tuple[bool, str | None]:
    """(shown as a percentage?, unit) of a Monte Carlo metric, from its name: IRRs and probabilities are fractions,
    NPVs money, paybacks years, cover ratios x."""
    if metric.endswith("irr") or metric.startswith("prob") or metric.endswith("probability"):
        return True, None
    if "npv" in metric:
        return False, currency.upper()
    if "payback" in metric or metric.endswith("years"):
        return False, "years"
    if "dscr" in metric or "llcr" in metric:
        return False, "x"
    return False, None


def coarsen_histogram(edges, counts, max_bins: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """The occupied part of a fine fixed-grid histogram (the Monte Carlo grid has 16,384 bins over a range set by the
    scenario, most of it empty) in at most ``max_bins`` bins of equal numbers of fine bins. Counts are kept exactly:
    only empty bins at either end are dropped."""
    edges = np.asarray(edges, dtype=float)
    counts = np.asarray(counts, dtype=float)
    filled = np.flatnonzero(counts)
    if filled.size:
        first, last = filled[0], filled[-1] + 1
        edges, counts = edges[first:last + 1], counts[first:last]
    factor = -(-counts.size // max_bins)
    if factor <= 1:
        return edges, counts
    pad = (-counts.size) % factor
    grouped = np.concatenate([counts, np.zeros(pad)]).reshape(-1, factor).sum(axis=1)
    width = edges[1] - edges[0] if edges.size > 1 else 0.0
    # the last group may reach past the old top edge by the padding: equal bins, so extend the grid evenly
    fine = np.concatenate([edges, edges[-1] + width * np.arange(1, pad + 1)])
    return fine[::factor], grouped
