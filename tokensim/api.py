"""Scenario-level entry points: resolve a loaded scenario (:mod:`tokensim.resolve`) and run one stage on it.

These are the functions a notebook user calls with a :class:`~tokensim.Scenario`; the stages underneath take typed
inputs only. ``tokensim`` re-exports each of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from . import _warnings
from ._cluster import ClusterSpec
from ._errors import ParameterError, UserError
from ._irr import IRR_OK, IRR_REASONS, annualise_monthly_rate, irr_roots, mirr
from ._irr import npv as _npv
from ._units import HOURS_PER_MONTH, monthly_rate
from .bridge import FACTORS, BridgeResult, Side
from .bridge import bridge as _bridge
from .config.types import Scenario
from .config.uncertainty import Uncertainty
from .finance import (
    DEFINITIONS,
    LOAN_DEFAULT_REASONS,
    NPV_ZERO,
    Drivers,
    FinanceResult,
    Metrics,
    Target,
    balloon_cover,
    cover_by_month,
    cover_ratios,
    dsra_target_by_month,
    finance_metrics,
    lender_case,
    payback_rows,
    payback_targets,
    rent_units,
    schedule_frame,
    size_debt,
    solve_rents,
    usage_frontier,
)
from .montecarlo import BlockProgress, MonteCarloResult, simulate, simulate_dask
from .perf import SLO, Workload
from .resolve import bridge as _resolve_bridge
from .resolve import finance as _resolve_finance
from .resolve import valuation as _resolve_valuation
from .resolve.montecarlo import montecarlo_model
from .valuation import ValuationBlock, ValuationResult, valuate

__all__ = ["run_bridge", "run_finance", "run_montecarlo", "run_valuation"]


def run_bridge(scenario: Scenario, a: Side | None = None, b: Side | None = None, *, metric: str = "blended",
               order: tuple[str, ...] = FACTORS, workload: Workload | None = None,
               slo: SLO | None = None, throughput_overrides: tuple = ()) -> BridgeResult:
    """The price-vs-efficiency bridge of a scenario: how unit token cost moves from side A to side B, and why.

    Parameters
    ----------
    scenario : Scenario
        Supplies the cost inputs, workload, SLO and the default sides.
    a, b : Side, optional
        The two ends (default: :func:`tokensim.resolve.bridge.sides` of the scenario: its previous generation and its
        own hardware, precision and server price).
    metric : {"blended", "output", "input"}
        Which cost per million tokens to bridge.
    order : tuple of str
        The sequential waterfall's order.
    workload, slo : optional
        Replace the scenario's workload or SLO.
    throughput_overrides : tuple of tokensim.perf.measured.ThroughputOverride
        Measured throughputs (``--throughput-override``) in place of the model's where they match; the scenario's
        ``serving.measured_output_tokens_per_s_per_gpu`` applies without them.

    Returns
    -------
    BridgeResult
        Unit costs per million tokens in the scenario currency, exact Shapley contributions, the waterfall and the
        break-even server-price rise.
    """
    if a is None or b is None:
        default_a, default_b = _resolve_bridge.sides(scenario)
        a, b = a or default_a, b or default_b
    context = _resolve_bridge.context(scenario, workload=workload, slo=slo,
                                      throughput_overrides=tuple(throughput_overrides))
    return _bridge(context, a, b, metric=metric, order=order)

def _scalar(x) -> float:
    return float(np.asarray(x).reshape(-1)[0])


def _finance_reasons(metrics: Metrics, s: Scenario) -> dict[str, str]:
    """Why each NaN metric of the deterministic case is NaN."""
    reasons: dict[str, str] = {}
    for name in ("project_irr", "project_irr_pre_tax", "equity_irr"):
        code = int(np.asarray(getattr(metrics, f"{name}_reason")).reshape(-1)[0])
        if code != IRR_OK:
            reasons[name] = IRR_REASONS[code]
    f = metrics.flows
    horizon = f"cumulative cash flow is negative at the {s.horizon_years:g}-year horizon"
    for name in ("payback_equity", "payback_equity_first_crossing", "payback_discounted"):
        if np.isnan(_scalar(getattr(f, name))):
            reasons[name] = horizon
    for name in ("payback_simple", "payback_net"):
        if np.isnan(_scalar(getattr(f, name))):
            reasons[name] = ("first full operating year ends after the horizon"
                             if s.capex.delivery[-1].month + 12 > s.horizon_months
                             else "first-year revenue or EBITDA is not positive: capex is never recovered")
    if np.isnan(_scalar(f.min_dscr)):
        reasons["min_dscr"] = reasons["avg_dscr"] = "no debt service within the horizon"
    if np.isnan(_scalar(f.llcr)):
        reasons["llcr"] = "no debt outstanding at the end of deliveries"
    return reasons


def _waterfall(f, inputs) -> dict[str, Any]:
    """The deterministic case's waterfall figures (DEFINITIONS["waterfall"], ["first_loan_default_month"])."""
    month = _scalar(f.first_loan_default_month)
    reason = int(_scalar(f.first_loan_default_reason))
    return {
        "sponsor_injection": _scalar(f.sponsor_injection),
        "sponsor_injection_months": int(_scalar(f.sponsor_injection_months)),
        "equity_cure": _scalar(f.equity_cure), "equity_cure_count": int(_scalar(f.equity_cure_count)),
        "first_loan_default_month": None if np.isnan(month) else int(month),
        "first_loan_default_reason": LOAN_DEFAULT_REASONS[reason] if not np.isnan(month) else None,
        "dscr_by_year": [None if np.isnan(v) else float(v) for v in np.asarray(f.dscr_by_year)[0]],
        "dsra_at_close": float(np.asarray(dsra_target_by_month(inputs))[0, 0])
        if inputs.dsra_funding == "at_close" else 0.0,
    }


def _schedule_with_cover(f, inputs, currency: str):
    """The monthly schedule with the LLCR and PLCR of every month (DEFINITIONS["cover_by_year"]; NaN without debt
    outstanding after the month)."""
    frame = schedule_frame(f, currency)
    llcr, plcr = cover_by_month(inputs, np.asarray(f.schedule["cfads"], dtype=float)[0],
                                np.asarray(f.schedule["debt_balance"], dtype=float)[0])
    frame["llcr"] = llcr
    frame["plcr"] = plcr
    return frame


def _lender(f, inputs, s: Scenario) -> dict[str, Any] | None:
    """The lender's view (DEFINITIONS["cover_by_year"], ["balloon"], ["lender_case"]); None without debt."""
    if not float(np.asarray(inputs.debt.amount).reshape(-1)[0]) > 0:
        return None
    cfads = np.asarray(f.schedule["cfads"], dtype=float)[0]
    balance = np.asarray(f.schedule["debt_balance"], dtype=float)[0]
    nan_free = [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
                for row in cover_ratios(inputs, cfads, balance)]
    balloon = balloon_cover(inputs, cfads)
    if balloon is not None:
        balloon = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in balloon.items()}
    return {"cover_by_year": nan_free, "balloon": balloon,
            "lender_case": lender_case(inputs, s.financing.lender_case_residual_haircut_share)}


def _discounting(f, inputs, s: Scenario) -> dict[str, Any]:
    """The discount rate's convention and the after-tax WACC with the NPV at it (DEFINITIONS["discounting"])."""
    fin = s.financing
    after_tax = fin.debt_share * fin.interest_rate * (1 - s.tax.rate) + (1 - fin.debt_share) * fin.cost_of_equity
    rows = np.asarray(f.project_cf, dtype=float)
    return {"discount_rate": fin.discount_rate, "npv_at_discount_rate": _scalar(f.npv),
            "wacc_after_tax": after_tax,
            "npv_at_wacc_after_tax": float(_npv(monthly_rate(after_tax), rows)[0])}


def _mirrs_and_roots(metrics: Metrics, inputs) -> tuple[dict[str, float], dict[str, list[float]] | None]:
    """MIRRs of the deterministic case (annual; DEFINITIONS["mirr"]) and, for each IRR whose flows change sign
    several times, every root found (annual, ascending)."""
    f = metrics.flows
    project_rate, equity_rate = monthly_rate(inputs.discount_rate), monthly_rate(inputs.cost_of_equity)
    mirrs, roots = {}, {}
    for irr_name, mirr_name, rows, rate in (
            ("project_irr", "project_mirr", f.project_cf, project_rate),
            ("project_irr_pre_tax", "project_mirr_pre_tax", f.project_cf_pre_tax, project_rate),
            ("equity_irr", "equity_mirr", f.equity_cf, equity_rate)):
        flows = np.asarray(rows, dtype=float)[0]
        mirrs[mirr_name] = float(annualise_monthly_rate(mirr(flows, rate, rate)))
        if np.count_nonzero(np.diff(np.sign(flows[flows != 0]))) > 1:
            roots[irr_name] = [float(r) for r in annualise_monthly_rate(irr_roots(flows))]
    return mirrs, roots or None


def _debt_sizing(s: Scenario, terms) -> dict | None:
    """The debt sizing of a scenario (DEFINITIONS["debt_sizing"]): applied when the scenario sizes its debt
    (``financing.sizing_dscr``, or sculpted debt), else the debt its DSCR covenant would allow, for information;
    None without either or without debt."""
    fin = s.financing
    applied = fin.sizing_dscr is not None or fin.amortisation == "sculpted"
    if fin.debt_share <= 0 or not (applied or fin.dscr_covenant):
        return None
    if not applied:
        terms = replace(terms, sizing_dscr=fin.dscr_covenant)
    sized = size_debt(_resolve_finance.finance_inputs(s, size_debt=False), terms)
    haircut = sized.revenue_haircut_share
    amount = float(sized.schedule.amount[0])
    return {"applied": applied, "target_dscr": sized.target_dscr,
            "case": "base case (P50)" if haircut == 0 else f"P90 case (every revenue price -{haircut:.0%})",
            "revenue_haircut_share": haircut, "max_gearing": fin.debt_share,
            "gearing_limit_amount": float(sized.gearing_amount[0]), "dscr_limit_amount": float(sized.dscr_amount[0]),
            "sized_amount": amount, "sized_gearing": amount / s.capex_total, "binding": str(sized.binding[0]),
            "min_dscr_sizing_case": float(sized.min_dscr[0])}


def _target(target: Target | str | None) -> Target | None:
    if target is None or isinstance(target, Target):
        return target
    if isinstance(target, str):
        return Target.parse(target, "target")
    raise UserError(f"target: got {target!r}; allowed: a tokensim.Target or 'METRIC=VALUE' text")


def run_finance(scenario: Scenario, *, target: Target | str | None = None, frontier: bool = False,
                schedule: bool = False, payback_in_years: float | None = None,
                breakeven: bool = False) -> FinanceResult:
    """The deterministic finance of a scenario: monthly cash flows, IRRs, NPVs, paybacks, DSCR and LLCR.

    Parameters
    ----------
    scenario : Scenario
        A loaded scenario.
    target : Target or str, optional
        Also solve for the lowest rent that meets it (``Target("equity_irr", 0.12)`` or ``"equity_irr=0.12"``):
        the contract (base) rent, the market rent for a spot contract.
    frontier : bool, optional
        A base_plus_usage contract only: the base rent meeting ``target`` (default NPV = 0) at each of nine usage
        fees.
    schedule : bool, optional
        Keep the monthly schedule (``result.schedule``, a DataFrame).
    payback_in_years : float, optional
        The rent each payback definition needs to pay back in this many years.
    breakeven : bool, optional
        Solve for the NPV = 0 rent (``npv_zero_rent_per_gpu_hour``, ``npv_zero_rent``); about ten times the cost of
        the finance itself.

    Returns
    -------
    FinanceResult
        Money in the scenario's currency, IRRs annual fractions, paybacks in years; the reasons for any NaN, the
        assumptions made and the definitions used; the optional parts None unless asked for.
    """
    s = _resolve_finance.to_debt_maturity(scenario)  # the horizon runs to the debt's maturity
    target = _target(target)
    if frontier and s.contract.type != "base_plus_usage":
        raise UserError(f"{s.file}: field 'contract.type' got {s.contract.type!r}; allowed: base_plus_usage "
                        "(a base-rent/usage-fee frontier needs a usage-linked contract)")
    inputs = _resolve_finance.finance_inputs(s)
    terms = _resolve_finance.debt_terms(s)
    metrics = finance_metrics(inputs, Drivers.base(inputs), schedule=True)  # the lender block reads the schedule
    f = metrics.flows
    # Every rent asked for, solved in one search (each round one batch of the engine): the NPV-zero rent, the rent
    # for the target, the rents for the payback claim.
    asked = ([NPV_ZERO] if breakeven else []) + ([target] if target is not None else [])
    paybacks = payback_targets(payback_in_years) if payback_in_years is not None else []
    solutions = solve_rents(inputs, terms, asked + paybacks)
    solved = solutions[0] if breakeven else None
    solution = solutions[len(asked) - 1] if target is not None else None
    fin = s.financing
    equity_irr = _scalar(metrics.equity_irr)
    hurdle = None if fin.equity_hurdle_irr is None or np.isnan(equity_irr) else equity_irr >= fin.equity_hurdle_irr
    market = s.contract.type == "spot"
    rent_now = (s.contract.market_rent_per_gpu_hour * HOURS_PER_MONTH if market
                else _resolve_finance.contract_rent_per_gpu_month(s))
    assumptions = s.assumption_rows()
    sizing = _debt_sizing(s, terms)
    if bool(inputs.debt.sized_down[0]) and sizing is not None:
        assumptions.append({"field": "financing.debt_share", "value": float(inputs.debt.amount[0] / s.capex_total),
                            "why": f"debt sized down: the {sizing['case']}'s CFADS carries only this share at a "
                                   f"minimum DSCR of {sizing['target_dscr']:g}", "origin": "default"})
    if s.horizon_years != scenario.horizon_years:
        c = s.contract
        renewal = ("" if not c.renewal_share else
                   f" ({c.renewal_share:.0%} of the contracted GPUs renewed at the market rent less "
                   f"{c.renewal_rent_haircut_share:.0%}, rented all hours)")
        after = ("" if c.type == "spot" else
                 f"; after the contract's {c.term_years:g} years every GPU sells at the market rent "
                 f"{c.market_rent_per_gpu_hour:.4g} per GPU-hour x spot utilisation {c.spot_utilisation:g}"
                 f"{renewal}")
        assumptions.append({"field": "horizon_years", "value": s.horizon_years,
                            "why": f"extended from {scenario.horizon_years:g} years to the debt's maturity (month "
                                   f"{inputs.debt.maturity_month}), so every scheduled repayment is in the cash flows "
                                   f"and the DSCR{after}; residual at {s.horizon_years:g} years",
                            "origin": "default"})
    mirrs, roots = _mirrs_and_roots(metrics, inputs)
    irrs = {"project_irr": _scalar(metrics.project_irr), "project_irr_pre_tax": _scalar(metrics.project_irr_pre_tax),
            "equity_irr": equity_irr}
    warnings = [w for name, value in irrs.items() for w in _warnings.irr(name, value)]
    warnings += _warnings.non_finite({"npv": _scalar(f.npv), "equity_npv": _scalar(f.equity_npv)})
    return FinanceResult(
        warnings=warnings,
        scenario=s.name, currency=s.currency, **mirrs, irr_roots=roots,
        project_irr=_scalar(metrics.project_irr), project_irr_pre_tax=_scalar(metrics.project_irr_pre_tax),
        equity_irr=equity_irr, npv=_scalar(f.npv), equity_npv=_scalar(f.equity_npv),
        payback_years={"simple": _scalar(f.payback_simple), "net": _scalar(f.payback_net),
                       "equity": _scalar(f.payback_equity),
                       "equity_first_crossing": _scalar(f.payback_equity_first_crossing),
                       "discounted": _scalar(f.payback_discounted)},
        min_dscr=_scalar(f.min_dscr), avg_dscr=_scalar(f.avg_dscr), llcr=_scalar(f.llcr),
        covenant_breached=bool(np.asarray(f.covenant_breached).reshape(-1)[0]), meets_equity_hurdle=hurdle,
        npv_zero_rent_per_gpu_hour=solved.rent_per_gpu_hour if solved is not None else None,
        npv_zero_rent=solved.to_dict() if solved is not None else None,
        rent={"basis": "market" if market else s.contract.billing, **rent_units(rent_now, inputs, market=market)},
        debt={"amortisation": fin.amortisation, "amount": float(inputs.debt.amount[0]),
              "share_of_capex": float(inputs.debt.amount[0] / s.capex_total), "interest_rate": fin.interest_rate,
              "tenor_years": fin.tenor_years, "payments_per_year": fin.payments_per_year,
              "maturity_month": inputs.debt.maturity_month},
        sizing=sizing, waterfall=_waterfall(f, inputs), discounting=_discounting(f, inputs, s),
        lender=_lender(f, inputs, s),
        reasons=_finance_reasons(metrics, s), assumptions=assumptions, definitions=dict(DEFINITIONS),
        solution=solution.to_dict() if solution is not None else None,
        frontier=usage_frontier(inputs, terms, target or NPV_ZERO) if frontier else None,
        payback_rents=(payback_rows(inputs, payback_in_years, solutions[len(asked):])
                       if payback_in_years is not None else None),
        schedule=_schedule_with_cover(f, inputs, s.currency) if schedule else None,
    )


def run_montecarlo(scenario: Scenario, *, paths: int, seed: int = 0, backend: str = "auto", dtype: str | None = None,
                   chunk_paths: int | None = None, keep_paths: str | Path | None = None,
                   progress: Callable[[int, int], None] | None = None,
                   uncertainty: Uncertainty | None = None, client: Any = None, scheduler: str | None = None,
                   workers: int | None = None, gpus_per_node: int | None = None,
                   checkpoint: str | Path | None = None,
                   report: Callable[[BlockProgress], None] | None = None) -> MonteCarloResult:
    """The distribution of a scenario's IRRs, NPV, equity payback and minimum DSCR over ``paths`` Monte Carlo paths.

    Parameters
    ----------
    scenario : Scenario
        A loaded scenario; its ``uncertainty:`` section sets the drivers.
    paths : int
        Number of paths, in [1, 2**63).
    seed : int
        Philox key, in [0, 2**64): same seed, same results, whatever the backend's chunking.
    backend : {"auto", "numpy", "cupy"}
        ``cupy`` runs the fused CUDA kernel; ``auto`` picks it when a GPU is usable.
    dtype : {"float32", "float64"}, optional
        The kernel's float type (default float32 on the GPU; NumPy always runs float64).
    chunk_paths : int, optional
        Paths per chunk (bounds memory; results do not depend on it).
    keep_paths : str or Path, optional
        A ``.parquet`` file for one row per path.
    progress : callable, optional
        ``progress(done, total)`` after each chunk.
    uncertainty : Uncertainty, optional
        Replaces the scenario's section (e.g. :meth:`Uncertainty.zeroed`).
    client, scheduler, workers, gpus_per_node : optional, at most one
        Run on Dask (:func:`tokensim.montecarlo.simulate_dask`, the ``dask`` extra): a connected
        ``distributed.Client``, a scheduler's address, a local cluster of ``workers`` processes, or a local CUDA
        cluster of ``gpus_per_node`` GPUs. The result is the in-process one bit for bit; ``chunk_paths`` is then the
        paths per task and ``keep_paths`` a folder of Parquet files, one per block.
    checkpoint : str or Path, optional
        On Dask: resume from this file when it exists, rewrite it while running, delete it on success.
    report : callable, optional
        On Dask: ``report(BlockProgress)`` after each merged block (blocks done, throughput, ETA, dashboard).

    Returns
    -------
    MonteCarloResult
        Summaries (mean, std, quantiles, histograms) in the scenario currency, probabilities of a covenant breach,
        of missing the equity hurdle and of a tenant default, and the deterministic case.
    """
    cluster = ClusterSpec(scheduler=scheduler, workers=workers, gpus_per_node=gpus_per_node, client=client)
    if cluster.requested:
        return simulate_dask(montecarlo_model(scenario, uncertainty), paths=paths, seed=seed, backend=backend,
                             dtype=dtype, cluster=cluster, block_paths=chunk_paths, checkpoint=checkpoint,
                             keep_paths=keep_paths, progress=progress, report=report)
    if checkpoint is not None:
        raise ParameterError("checkpoint", "applies to a run on Dask (on the command line --scheduler, --workers or "
                             "--gpus-per-node; in Python scheduler=, workers=, gpus_per_node= or client=)", sep=": ")
    return simulate(montecarlo_model(scenario, uncertainty), paths=paths, seed=seed, backend=backend, dtype=dtype,
                    chunk_paths=chunk_paths, keep_paths=keep_paths, progress=progress)


def run_valuation(scenario: Scenario, blocks: list[ValuationBlock] | None = None, *, hardware: str | None = None,
                  gpus: float | None = None, in_service: str | None = None, as_of: str,
                  rent_per_gpu_hour: float | None = None, cost_per_gpu: float | None = None,
                  next_generation: str | None = None, rent_change: float = 0.0, token_price_change: float = 0.0,
                  token_price_per_million: float | None = None, life_years: float | None = None,
                  decline_per_year: float | None = None, basis: str = "better", paths: int = 2000, seed: int = 0,
                  enterprise_value: float | None = None) -> ValuationResult:
    """What a block (or a fleet of blocks) of GPUs is worth by what it can still earn: ``tokensim value``.

    Parameters
    ----------
    scenario : Scenario
        The market (workload and SLO, token price, busy share, discount rate, life, residual curve) and the opex rates.
    blocks : list of ValuationBlock, optional
        Typed blocks (a fleet's); otherwise one block is built from ``hardware``, ``gpus`` and ``in_service`` (with
        the optional ``rent_per_gpu_hour``, ``cost_per_gpu``, ``next_generation``) by
        :func:`tokensim.resolve.valuation.valuation_block`.
    as_of : str
        Valuation month ``YYYY-MM``.
    rent_change, token_price_change, token_price_per_million, life_years, decline_per_year, basis, paths, seed
        The market's moves and terms (:func:`tokensim.resolve.valuation.market`).
    enterprise_value : float, optional
        For the reverse DCF (scenario currency).

    Returns
    -------
    ValuationResult
    """
    market = _resolve_valuation.market(scenario, as_of=as_of, rent_change=rent_change,
                                       token_price_change=token_price_change,
                                       token_price_per_million=token_price_per_million, life_years=life_years,
                                       decline_per_year=decline_per_year, basis=basis, paths=paths, seed=seed)
    if blocks is None:
        if hardware is None or gpus is None or in_service is None:
            raise ParameterError("hardware", "missing: give hardware, gpus and in_service, or a list of blocks")
        blocks = [_resolve_valuation.valuation_block(scenario, hardware, gpus, in_service,
                                                     market_rent_per_gpu_hour=rent_per_gpu_hour,
                                                     cost_per_gpu=cost_per_gpu, next_generation=next_generation)]
    return valuate(blocks, market, enterprise_value=enterprise_value)
