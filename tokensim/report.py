"""The main job (``tokensim run``): a scenario's unit costs, bridge, cluster finance and a plain-language reading.

:func:`run_report` calls the stages in order and returns one :class:`Report` whose ``to_dict`` is the JSON of
``tokensim run --format json``; :func:`write_artifacts` writes its tables (CSV and Parquet), the JSON and the resolved
configuration to a folder. No formula lives here: each number comes from perf, cost, bridge or finance.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import _warnings
from ._backend import select_backend
from ._output import SCHEMA_VERSION, atomic_write_text, dumps_json, to_jsonable, write_table, write_workbook
from ._version import __version__
from .api import run_bridge, run_finance
from .bridge import bridge_in_currency
from .config.fleet import Fleet
from .config.money import fx_factor
from .config.scenario import Scenario
from .cost import cost_per_gpu_hour, cost_per_million_tokens
from .finance import Target, solve_rent
from .fleet import fleet_key_figures, run_fleet
from .montecarlo import DEFAULT_PATHS, dscr_fan, residual_p10_lender_case, simulate
from .perf.measured import source_fields, with_measurements
from .plots import write_html_report, write_plot_pack  # matplotlib and plotly, imported only when drawing
from .resolve.cost import cost_inputs
from .resolve.finance import debt_terms, finance_inputs, to_debt_maturity
from .resolve.montecarlo import montecarlo_model
from .resolve.perf import layout_pins, scenario_point
from .resolve.perf import throughput_overrides as throughput_overrides_of
from .resolve.variants import VARIANTS, variant

__all__ = ["Report", "run_report", "write_artifacts", "PAYBACK_CLAIM_YEARS"]

# The founding note's claim "payback about 3 years": the report shows what each payback definition needs to reach it.
PAYBACK_CLAIM_YEARS = 3.0


@dataclass
class Report:
    scenario: Scenario
    currency: str
    unit_costs: list[dict]
    cost_breakdown: dict
    bridge: dict
    finance: dict
    dscr_rent: dict | None  # the rent whose minimum DSCR equals the covenant; None without a covenant
    reading: list[str]
    schedule: Any = None
    monte_carlo: dict | None = None
    extra: dict = field(default_factory=dict)
    mc_histograms: dict = field(default_factory=dict)  # chart data (bin counts), not part of the JSON
    warnings: list[dict] = field(default_factory=list)  # plausibility warnings (tokensim._warnings)

    def to_dict(self) -> dict:
        s = self.scenario
        out = {"schema_version": SCHEMA_VERSION, "tokensim_version": __version__, "scenario": s.name,
               "description": s.description, "currency": self.currency, "unit_costs": self.unit_costs,
               "cost_per_gpu_hour": self.cost_breakdown, "bridge": self.bridge, "finance": self.finance,
               "rent_for_dscr": self.dscr_rent, "reading": self.reading}
        if self.monte_carlo is not None:
            out["monte_carlo"] = self.monte_carlo
        out.update(self.extra)
        out["warnings"] = self.warnings
        return out


def _unit_cost_rows(s: Scenario, k: float, currency: str, throughput_overrides: tuple = ()) -> list[dict]:
    """One row per precision: the operating point (the model's at the scenario's serving layout,
    :func:`tokensim.resolve.perf.scenario_point`, or the user's measured throughput where one matches:
    :mod:`tokensim.perf.measured`) and its cost per million tokens."""
    sv = s.serving
    measured = throughput_overrides_of(sv, tuple(throughput_overrides))
    per_gpu_hour = cost_per_gpu_hour(cost_inputs(s), s.utilisation).total * k
    cur = currency.lower()
    rows = []
    precisions = list(dict.fromkeys([*sv.compare_precisions, sv.precision]))
    for precision in precisions:
        p, found = with_measurements(scenario_point(s, sv.hardware, sv.model, precision), measured)
        tokens = cost_per_million_tokens(per_gpu_hour, p.gpu_s_per_input_token, p.gpu_s_per_output_token,
                                         sv.cached_input_cost_fraction, input_tokens=sv.input_tokens,
                                         output_tokens=sv.output_tokens, cache_hit_rate=sv.cache_hit_rate,
                                         currency=currency)
        ratio_low = p.output_tokens_per_s_per_gpu_low / p.output_tokens_per_s_per_gpu
        ratio_high = p.output_tokens_per_s_per_gpu_high / p.output_tokens_per_s_per_gpu
        rows.append({
            "hardware": p.hardware, "model": p.model, "precision": p.precision,
            "compute_format": p.compute_format, "weight_only": p.weight_only, "layout": p.layout,
            "gpus_per_instance": p.gpus, "tp": p.tp, "ep": p.ep,
            "concurrency": p.concurrency, "meets_slo": p.meets_slo,
            # the validated envelope of the priced point (perf/envelope.py)
            "speed_band": p.speed_band, "envelope_rows": p.envelope_rows,
            "envelope_max_sequences_per_gpu": p.envelope_max_sequences_per_gpu,
            "envelope_layout_rows": p.envelope_layout_rows, "extrapolation": p.extrapolation,
            "extrapolation_reason": p.extrapolation_reason,
            "output_tokens_per_s_per_gpu": p.output_tokens_per_s_per_gpu,
            "output_tokens_per_s_per_gpu_low": p.output_tokens_per_s_per_gpu_low,
            "output_tokens_per_s_per_gpu_high": p.output_tokens_per_s_per_gpu_high,
            "tokens_per_s_per_user": p.tokens_per_s_per_user, "ttft_s": p.ttft_s, "tpot_s": p.tpot_s,
            f"cost_per_gpu_hour_{cur}": per_gpu_hour,
            f"cost_per_million_input_tokens_{cur}": tokens.input,
            f"cost_per_million_cached_input_tokens_{cur}": tokens.cached_input,
            f"cost_per_million_output_tokens_{cur}": tokens.output,
            f"cost_per_million_tokens_blended_{cur}": tokens.blended,
            # throughput's interval carries over inversely to the cost per token
            f"cost_per_million_tokens_blended_low_{cur}": tokens.blended / ratio_high,
            f"cost_per_million_tokens_blended_high_{cur}": tokens.blended / ratio_low,
            **source_fields(found),
        })
    return rows


def _fmt_years(x: float) -> str:
    return "never within the horizon" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1f} years"


def _layout_text(s: Scenario, row: dict) -> str:
    """How the priced layout was chosen, for the reading: `` (DEP8, batch 509 per instance, ...)``; empty when the
    throughput is measured (the model's layout is then not what is priced)."""
    if row["throughput_source"] != "model":
        return ""
    how = "pinned in the scenario" if layout_pins(s) else "the layout search's best within the SLO"
    return f" ({row['layout']}, batch {row['concurrency']:,.0f} per instance, {how})"


def _reading(s: Scenario, currency: str, unit_costs: list[dict], breakdown: dict, br: dict, fin: dict,
             dscr_rent: dict | None) -> list[str]:
    """Sentences that say what the numbers say, built from the numbers only."""
    cur = currency.lower()
    lines = []
    main = next(r for r in unit_costs if r["precision"] == s.serving.precision)
    low, high = main[f"cost_per_million_tokens_blended_low_{cur}"], main[f"cost_per_million_tokens_blended_high_{cur}"]
    lines.append(
        f"{main['model']} on {main['hardware']} at {main['precision']} serves "
        f"{main['output_tokens_per_s_per_gpu']:,.0f} output tokens/s per GPU at {main['tokens_per_s_per_user']:.0f} "
        f"tokens/s per user{_layout_text(s, main)} and costs {currency} "
        f"{main[f'cost_per_million_tokens_blended_{cur}']:.3g} per million tokens blended "
        f"({main[f'cost_per_million_output_tokens_{cur}']:.3g} per million output tokens; "
        + (f"model interval {low:.3g}-{high:.3g})." if main["throughput_source"] == "model" else
           f"throughput measured: {main['throughput_reference']}, in place of the model's)."))
    contrib = br["contributions"]
    biggest = sorted(contrib.items(), key=lambda kv: kv[1]["log_contribution"])
    falls = [f"{n.replace('_', ' ')} {math.expm1(c['log_contribution']):+.0%}" for n, c in biggest
             if c["log_contribution"] < -1e-9]
    rises = [f"{n.replace('_', ' ')} {math.expm1(c['log_contribution']):+.0%}" for n, c in reversed(biggest)
             if c["log_contribution"] > 1e-9]
    verdict = "fell" if br["change"] < 0 else "rose"
    lines.append(
        f"From {br['from']['hardware']} {br['from']['precision']} to {br['to']['hardware']} {br['to']['precision']} "
        f"unit cost {verdict} {abs(br['change']):.0%} ({currency} {br['unit_cost_from']:.3g} to "
        f"{br['unit_cost_to']:.3g} per million tokens). Pushing it down: {', '.join(falls) or 'nothing'}; pushing it "
        f"up: {', '.join(rises) or 'nothing'} (Shapley shares of the log change, each as the cost change it alone "
        f"explains).")
    if br["breakeven_reason"] == "ok":
        lines.append(
            f"The {br['to']['hardware']} server price could change "
            f"{br['breakeven_server_price_change_vs_today']:+.0%} on today's (to {currency} "
            f"{br['breakeven_server_price'] / 1e6:.3g} m per server) before the {br['to']['hardware']} token stopped "
            f"being cheaper than the {br['from']['hardware']} one.")
    rent = fin["rent"]["per_gpu_hour"]
    cost = breakdown[f"total_per_gpu_hour_{cur}"]
    capital = breakdown[f"capital_recovery_per_gpu_hour_{cur}"] + breakdown[f"financing_per_gpu_hour_{cur}"]
    lines.append(
        f"The contract rent of {currency} {rent:.2f} per GPU-hour is {'below' if rent < cost else 'above'} the full "
        f"cost of {cost:.2f} per sold GPU-hour (capital {capital:.2f}); "
        f"the rent for NPV = 0 is {fin['npv_zero_rent_per_gpu_hour']:.2f}.")
    pb = fin["payback_years"]
    lines.append(
        f"Payback: simple (capex / year-1 rent) {_fmt_years(pb['simple'])}, net of opex {_fmt_years(pb['net'])}, "
        f"equity after debt service {_fmt_years(pb['equity'])}, discounted {_fmt_years(pb['discounted'])}; project "
        f"IRR {fin['project_irr']:.1%}, equity IRR {fin['equity_irr']:.1%}.")
    needs = [f"{row['definition']} at {row['rent_per_gpu_hour']:.2f}/GPU-h ({row['change_vs_scenario_rent']:+.0%})"
             for row in fin.get("payback_rents") or [] if not math.isnan(row["rent_per_gpu_hour"])]
    if needs:
        lines.append(f"A {PAYBACK_CLAIM_YEARS:g}-year payback needs rent of {'; '.join(needs)}: no definition reaches "
                     f"it at the contract rent." if all(r["change_vs_scenario_rent"] > 0 for r in fin["payback_rents"]
                                                         if not math.isnan(r["rent_per_gpu_hour"]))
                     else f"A {PAYBACK_CLAIM_YEARS:g}-year payback: {'; '.join(needs)}.")
    covenant = s.financing.dscr_covenant
    if covenant is None or dscr_rent is None:
        lines.append(f"Debt cover: minimum DSCR {fin['min_dscr']:.2f}; the scenario sets no DSCR covenant.")
    else:
        lines.append(
            f"Debt cover: minimum DSCR {fin['min_dscr']:.2f} against a covenant of {covenant:g} "
            f"({'breached' if fin['covenant_breached'] else 'met'}); a minimum DSCR of {covenant:g} needs rent of "
            f"{dscr_rent['rent_per_gpu_hour']:.2f} per GPU-hour.")
    lines += _lender_lines(s, currency, fin)
    return lines


def _bn(value: float) -> str:
    return f"{value / 1e9:.2f} bn"


def _lender_lines(s: Scenario, currency: str, fin: dict) -> list[str]:
    """What a lender reads (issue 13): the debt the cash flow can carry, what happens at the debt filed, and the
    cover without the residual."""
    out = []
    sizing, waterfall, lender = fin.get("sizing"), fin.get("waterfall"), fin.get("lender")
    if sizing:
        filed = s.financing.debt_share
        applied = "applied" if sizing.get("applied") else f"not applied: the scenario files {filed:.0%}"
        out.append(f"Debt sizing: a minimum DSCR of {sizing['target_dscr']:g} on the {sizing['case']} carries "
                   f"{currency} {_bn(sizing['sized_amount'])}, {sizing['sized_gearing']:.1%} of capex (binding: "
                   f"{sizing['binding']}; {applied}).")
    if waterfall and waterfall.get("sponsor_injection", 0) > 0:
        month = waterfall.get("first_loan_default_month")
        when = (f"the first loan default event is in month {month}, a {waterfall['first_loan_default_reason']}; "
                if month is not None else "")
        out.append(f"At the debt filed, {when}the sponsor injects {currency} {_bn(waterfall['sponsor_injection'])} "
                   f"over {waterfall['sponsor_injection_months']} months to keep it serviced.")
    case = (lender or {}).get("lender_case", {}).get("zero_residual")
    if case:
        out.append(f"Lender case with no residual value: NPV {currency} {_bn(case['npv'])}, minimum DSCR "
                   f"{case['min_dscr']:.2f}, sponsor support {currency} {_bn(case['sponsor_injection'])}.")
    return out


def payback_variants(s: Scenario) -> list[dict]:
    """The four paybacks and both IRRs under structural alternatives a reader of "payback about N years" may have
    meant: the scenario as given, capex before the recent server-price rise, power and space paid by the lessee,
    and debt with a tenor of 8 years (the horizon then runs to the debt's maturity, the GPUs selling at market after
    the contract: :func:`tokensim.resolve.finance.to_debt_maturity`). Each row carries the horizon it ran to and the
    reasons of :class:`tokensim.FinanceResult` (its ``reasons``) as text (``reasons``: "metric: reason; ...", empty when
    none): why a metric is NaN, or which root an IRR with several took."""
    variants = [("as given", s)] + [v for key in VARIANTS if (v := variant(s, key)) is not None]
    rows = []
    for label, varied in variants:
        f = run_finance(varied)
        rows.append({"variant": label, **{f"payback_{k}_years": v for k, v in f.payback_years.items()},
                     "project_irr": f.project_irr, "equity_irr": f.equity_irr, "min_dscr": f.min_dscr,
                     "covenant_breached": f.covenant_breached,
                     "horizon_years": to_debt_maturity(varied).horizon_years,
                     "reasons": "; ".join(f"{k}: {v}" for k, v in f.reasons.items())})
    return rows


def _variants_sentence(rows: list[dict]) -> str:
    near = []
    for row in rows[1:]:
        hits = [d for d in ("simple", "net", "equity", "discounted")
                if not math.isnan(row[f"payback_{d}_years"]) and row[f"payback_{d}_years"] <= PAYBACK_CLAIM_YEARS + 0.5]
        near.append(f"{row['variant']}: " + (", ".join(f"{d} {row[f'payback_{d}_years']:.1f} y" for d in hits)
                                            if hits else "no payback within 3.5 years"))
    return (f"Which assumptions bring a payback near {PAYBACK_CLAIM_YEARS:g} years (within half a year)? "
            + "; ".join(near) + ".")


def _monte_carlo(s: Scenario, k: float, currency: str, paths: int, seed: int, backend: str):
    """The Monte Carlo section: summaries of ``paths`` paths, the DSCR fan by loan year, both in ``currency``."""
    model = montecarlo_model(s)
    result = simulate(model, paths=paths, seed=seed, backend=backend)
    mc = result.to_dict()
    mc["dscr_by_year"] = dscr_fan(model, paths=min(paths, 20_000), seed=seed)
    mc["lender_case_p10_residual"] = residual_p10_lender_case(model, paths=min(paths, 5_000), seed=seed)
    histograms = result.chart_histograms()
    if k != 1.0:  # NPV is money; IRRs, years and DSCR are not
        mc["currency"] = currency
        mc["npv"] = {key: (v * k if isinstance(v, float) and key in ("mean", "std", "min", "max", "p05", "p50", "p95")
                           else v) for key, v in mc["npv"].items()}
        mc["mean_std_error"] = mc["mean_std_error"] * k
        mc["deterministic"] = {key: (v * k if key == "npv" else v) for key, v in mc["deterministic"].items()}
        case = mc["lender_case_p10_residual"]
        if case is not None:
            for key in ("residual_proceeds", "npv", "equity_npv", "sponsor_injection"):
                case[key] = case[key] * k
        if "refinancing" in mc["dscr_by_year"]:  # the balloon is money
            refinancing = mc["dscr_by_year"]["refinancing"]
            refinancing["balloon_amount"] = refinancing["balloon_amount"] * k
        grid = dict(mc["histograms"]["npv"])
        for key in ("low", "high", "bin_width"):
            grid[key] = grid[key] * k
        mc["histograms"] = {**mc["histograms"], "npv": grid}
        histograms["npv"] = {**histograms["npv"], "low": grid["low"], "high": grid["high"]}
    return mc, histograms


def _mc_sentence(mc: dict, s: Scenario) -> str:
    irr = mc["equity_irr"]
    parts = [f"Over {mc['paths']:,} Monte Carlo paths ({mc['backend']}), equity IRR P5/P50/P95 is "
             f"{irr['p05']:.1%} / {irr['p50']:.1%} / {irr['p95']:.1%}"
             + (f" (given an IRR, {irr['share_with_value']:.0%} of paths)" if irr.get("share_with_value", 1.0) < 1.0
                else "")]
    if mc.get("prob_payback_equity_within_horizon") is not None:
        parts.append(f"the equity pays back within the horizon on {mc['prob_payback_equity_within_horizon']:.0%} "
                     f"of paths")
    if mc.get("prob_equity_irr_below_hurdle") is not None:
        parts.append(f"the chance of missing the {s.financing.equity_hurdle_irr:.0%} hurdle is "
                     f"{mc['prob_equity_irr_below_hurdle']:.0%}")
    if mc.get("prob_dscr_below_covenant") is not None:
        parts.append(f"of breaching the DSCR covenant {mc['prob_dscr_below_covenant']:.0%}")
    parts.append(f"of a tenant default {mc['prob_tenant_default']:.1%}")
    return ", ".join(parts) + "."


def run_report(scenario: Scenario, *, currency: str | None = None, mc_paths: int | None = None, seed: int = 0,
               backend: str = "auto", throughput_overrides: tuple = (), fleet: Fleet | None = None) -> Report:
    """The main job: unit costs, the bridge, the cluster's finance, the Monte Carlo and a plain-language reading.

    Parameters
    ----------
    scenario : Scenario
        A loaded scenario.
    currency : str, optional
        Reporting currency (default: the scenario's); money converts at the bundled FX table.
    mc_paths : int, optional
        Monte Carlo paths; ``None`` sizes them by backend (NumPy- or GPU-sized), 0 skips the Monte Carlo.
    seed : int
        Monte Carlo seed (Philox key).
    backend : {"auto", "numpy", "cupy"}
        Monte Carlo backend, chosen once for the whole report.
    throughput_overrides : tuple of tokensim.perf.measured.ThroughputOverride
        Measured throughputs (``--throughput-override``) for the unit costs and the bridge; with the scenario's
        ``serving.measured_output_tokens_per_s_per_gpu``. The finance and the Monte Carlo take throughput only
        through ``contract.usage_tokens_per_s_per_gpu`` and ``residual.tokens_per_s_per_gpu``, which stay as given.

    fleet : Fleet, optional
        A loaded fleet (:func:`tokensim.config.fleet.load_fleet`): its key figures become the report's ``fleet``
        section (:func:`tokensim.fleet.fleet_key_figures`) and one sentence of the reading.
    Returns
    -------
    Report
        Unit costs per precision, the cost per GPU-hour breakdown, the bridge, the finance (with every payback and
        the rents a 3-year payback and the DSCR covenant need), payback variants, the Monte Carlo section and the
        reading; money in ``currency``.
    """
    s = scenario
    currency = (currency or s.currency).upper()
    k = fx_factor(s.currency, currency)
    unit_costs = _unit_cost_rows(s, k, currency, throughput_overrides)
    breakdown = cost_per_gpu_hour(cost_inputs(s), s.utilisation).scaled(k, currency).to_dict()
    br = run_bridge(s, throughput_overrides=tuple(throughput_overrides)).to_dict()
    br = bridge_in_currency(br, currency)
    fin_result = run_finance(s, schedule=True, payback_in_years=PAYBACK_CLAIM_YEARS,
                             breakeven=True).in_currency(currency)
    fin = fin_result.to_dict()
    dscr_rent = None
    if s.financing.dscr_covenant is not None:
        dscr_target = Target("min_dscr", s.financing.dscr_covenant)
        dscr_rent = solve_rent(finance_inputs(s, size_debt=False), debt_terms(s), dscr_target).to_dict()
        for key in ("rent_per_gpu_hour", "rent_per_server_month", "rent_per_cluster_year"):
            dscr_rent[key] *= k
    variants = payback_variants(s)
    reading = _reading(s, currency, unit_costs, breakdown, br, fin, dscr_rent)
    reading.append(_variants_sentence(variants))
    mc, histograms = None, {}
    if mc_paths != 0:
        backend = select_backend(backend).name  # choose (and say so on stderr) once for the whole report
        if mc_paths is None:
            mc_paths = DEFAULT_PATHS[backend]
    if mc_paths > 0:
        mc, histograms = _monte_carlo(s, k, currency, mc_paths, seed, backend)
        reading.append(_mc_sentence(mc, s))
    warnings = _report_warnings(s, unit_costs, breakdown, fin, mc)
    if warnings:
        reading.append("Read with care: " + "; ".join(w["message"] for w in warnings) + ".")
    extra: dict[str, Any] = {"payback_variants": variants}
    if fleet is not None:
        figures = fleet_key_figures(run_fleet(fleet))
        extra["fleet"] = figures
        reading = reading + [_fleet_sentence(figures)]
    return Report(s, currency, unit_costs, breakdown, br, fin, dscr_rent, reading, schedule=fin_result.schedule,
                  monte_carlo=mc, extra=extra, mc_histograms=histograms, warnings=warnings)


def _fleet_sentence(f: dict[str, Any]) -> str:
    cur = f["currency"]
    coverage = f["backlog_revenue_coverage_next_year"]
    covered = f" (covering {coverage:.0%} of next year's revenue)" if coverage is not None else ""
    return (f"The fleet {f['fleet']}: {f['gpus']:,} GPUs ({f['gpus_owned']:,} owned, {f['gpus_leased_in']:,} leased "
            f"in); revenue {cur} {_bn(f['revenue_year_1'])} in its first year and {_bn(f['revenue_peak'])} at its peak "
            f"(year {f['peak_revenue_year']}); NPV {cur} {_bn(f['npv'])}, equity IRR {f['equity_irr']:.1%}; backlog "
            f"{cur} {_bn(f['backlog_total'])}{covered}.")


def _report_warnings(s: Scenario, unit_costs: list[dict], breakdown: dict, fin: dict, mc: dict | None) -> list[dict]:
    """The report's plausibility warnings: the finance's own, a negative cost term, a usage fee that assumes more
    throughput than the model gives, a priced point outside the model's validated envelope, and implausible Monte
    Carlo IRRs."""
    main = next(r for r in unit_costs if r["precision"] == s.serving.precision)
    out = [{**w, "field": f"finance.{w['field']}"} for w in fin.get("warnings", [])]
    cur = f"_per_gpu_hour_{str(breakdown.get('currency', '')).lower()}"
    out += _warnings.cost_terms({k[: -len(cur)]: v for k, v in breakdown.items()
                                 if k.endswith(cur) and not k.startswith(("total", "book_depreciation"))})
    if s.contract.type == "base_plus_usage":
        out += _warnings.usage_throughput(s.contract.usage_tokens_per_s_per_gpu, main["output_tokens_per_s_per_gpu"])
    out += _warnings.extrapolation("unit_costs", [main])
    for name in ("project_irr", "equity_irr"):
        if mc is not None:
            out += _warnings.irr(f"monte_carlo.{name}.p50", mc[name]["p50"])
    return out


def _resolved_config(report: Report, seed: int | None) -> str:
    data = to_jsonable(dataclasses.asdict(report.scenario))
    data = {"tokensim_version": __version__, "schema_version": SCHEMA_VERSION, "seed": seed,
            "reporting_currency": report.currency, "scenario": data}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


# The Monte Carlo metrics the summary table lists, with their unit (the columns mean ... max are in it).
_MC_SUMMARY_STATS = ("mean", "std", "p05", "p50", "p95", "min", "max", "count", "no_value", "share_with_value")


def _mc_unit(metric: str, currency: str) -> str:
    if metric.endswith("irr"):
        return "fraction"
    if metric.endswith("month"):
        return "month"
    if metric in ("npv", "sponsor_injection"):
        return currency
    return "years" if "payback" in metric else "x" if "dscr" in metric else ""


def monte_carlo_summary_rows(mc: dict | None, currency: str) -> list[dict]:
    """The Monte Carlo section as a table, one row per metric: its unit (money in ``currency``, the report's), its
    value on the deterministic path and its statistics over the paths (``conditional_on``: the paths they cover);
    empty without a Monte Carlo."""
    if not mc:
        return []
    rows = []
    for metric, stats in mc.items():
        if isinstance(stats, dict) and "p50" in stats and "share_with_value" in stats:
            rows.append({"metric": metric, "unit": _mc_unit(metric, currency),
                         "deterministic": mc.get("deterministic", {}).get(metric),
                         **{k: stats.get(k) for k in _MC_SUMMARY_STATS}, "conditional_on": stats.get("conditional_on")})
    return rows


def _table_sets(report: Report) -> dict[str, list]:
    """Every table ``write_artifacts`` writes, by file name (without suffix): the CSV, the Parquet and the xlsx
    sheet of one name hold the same rows."""
    br = report.bridge
    tables = {
        "unit_costs": report.unit_costs,
        "cost_per_gpu_hour": [report.cost_breakdown],
        "bridge_contributions": [{"factor": n, **c} for n, c in br["contributions"].items()],
        "bridge_waterfall": br["waterfall"],
        "finance_metrics": [{k: v for k, v in report.finance.items() if not isinstance(v, (dict, list))}],
        "finance_paybacks": [{"definition": d, "years": y} for d, y in report.finance["payback_years"].items()],
        "finance_payback_rents": report.finance.get("payback_rents") or [],
        "payback_variants": report.extra.get("payback_variants", []),
        "monte_carlo_summary": monte_carlo_summary_rows(report.monte_carlo, report.currency),
        "assumptions": report.finance["assumptions"],
    }
    if report.schedule is not None:
        tables["finance_schedule"] = report.schedule
    return {name: rows for name, rows in tables.items() if len(rows)}


def _about_rows(report: Report, tables: dict) -> list[tuple[str, object]]:
    s = report.scenario
    return [("scenario", s.name), ("description", s.description), ("currency", report.currency),
            ("tokensim_version", __version__), ("schema_version", SCHEMA_VERSION),
            ("sheets", "one per table, named and laid out as its CSV (docs/outputs.md)"),
            *((f"reading {i}", line) for i, line in enumerate(report.reading, start=1))]


def write_artifacts(report: Report, out_dir: str | Path, *, seed: int | None = None) -> list[Path]:
    """Write every table (CSV and Parquet), the report JSON, the resolved config, the charts (PNG), the workbook
    ``report.xlsx`` (every table, one sheet each) and the page ``report.html`` under ``out_dir``. Without the
    ``report`` extra (openpyxl, plotly) the last two are left out with a note on stderr."""
    out = Path(out_dir)
    written = [atomic_write_text(out / "report.json", dumps_json(report.to_dict())),
               atomic_write_text(out / "resolved_config.yaml", _resolved_config(report, seed))]
    tables = _table_sets(report)
    for name, rows in tables.items():
        for suffix in (".csv", ".parquet"):
            written.append(write_table(rows, out / f"{name}{suffix}"))
    written.extend(write_plot_pack(report, out))
    for file_name, write in (("report.xlsx", lambda p: write_workbook(tables, p, about=_about_rows(report, tables))),
                             ("report.html", lambda p: write_html_report(report, tables, p))):
        try:
            written.append(write(out / file_name))
        except ImportError as exc:  # the optional `report` extra is not installed
            print(f"tokensim: {file_name} not written: {exc.name or exc} is not installed "
                  f"(python -m pip install 'tokensim[report]')", file=sys.stderr)
    return written
