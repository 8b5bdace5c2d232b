"""Many variants of one scenario evaluated as the paths of one cash-flow engine call (sensitivity, sweeps).

Each variant is resolved by :func:`tokensim.finance.build_inputs` exactly as ``tokensim finance`` would resolve it
(capex and depreciation, debt schedule fixed at close, opex rates per GPU-hour, residual); :func:`stack_inputs` then
stacks the variants' :class:`~tokensim.finance.FinanceInputs` into one whose numeric fields hold one value per
variant ((variants,) arrays; capex and depreciation by month (variants, M+1); debt schedules one row each), and
:func:`tokensim.finance.cashflows` runs every variant as one path of its month loop. What the engine needs shared
(timeline, contract term, debt calendar, methods) must not differ between variants: :func:`stack_inputs` checks it.

Sculpted debt is sized on each variant's own base-case CFADS: the fixed point of ``build_inputs`` (service = CFADS /
target DSCR, CFADS moving with the interest shield), run by :func:`_sculpt` on all variants sharing the rate at close
(:func:`tokensim.finance._debt.build_debt_schedule` takes the rate as a scalar), so a block costs about as much as one
variant. The drivers are the deterministic ones (multipliers 1, no default) with each variant's spot utilisation and
floating base rate; a floating base rate given per variant moves the interest paid, the principal staying fixed at
close, as on a Monte Carlo path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields, replace
from typing import Any

import numpy as np

from .._irr import annualise_monthly_rate, irr
from ..config.scenario import Scenario
from ..cost import cost_inputs_from_scenario, cost_per_gpu_hour
from ._cashflows import Drivers, FinanceInputs, cashflows
from ._debt import DebtSchedule, build_debt_schedule
from ._run import build_inputs

__all__ = ["BLOCK_VARIANTS", "BULK_METRICS", "stack_inputs", "constant_drivers", "evaluate_scenarios"]

BLOCK_VARIANTS = 4096  # variants per engine call: (variants, months) arrays of a few MB, sculpting's schedule ~50 MB
# Metrics of CashFlows (by attribute), the two IRRs and the cost per sold GPU-hour (tokensim cost).
BULK_METRICS = ("npv", "equity_npv", "project_irr", "equity_irr", "min_dscr", "avg_dscr", "llcr", "payback_equity",
                "payback_discounted", "payback_simple", "payback_net", "cost_per_gpu_hour")
_SHARED = {"currency", "months", "gpus", "gpus_per_server", "online_share", "ops_start_month", "contract_type",
           "term_months", "vacancy_lag_months", "lessee_pays_power_and_facility", "rate_type",
           "loss_carry_forward_years", "residual_method"}


def _same(values: list, name: str) -> Any:
    if any(not np.array_equal(v, values[0]) for v in values[1:]):
        raise ValueError(f"variants differ in '{name}', which the stacked engine needs shared")
    return values[0]


def _stack_debt(rows: list[DebtSchedule]) -> DebtSchedule:
    cat = {k: np.concatenate([getattr(r, k) for r in rows]) for k in ("amount", "draws", "principal", "lump",
                                                                       "sized_down")}
    shared = {k: _same([getattr(r, k) for r in rows], f"debt.{k}") for k in ("kind", "payment_month",
                                                                            "maturity_month", "repayment_months")}
    return DebtSchedule(**cat, **shared, periodic_rate=np.array([r.periodic_rate for r in rows]))


def stack_inputs(rows: Sequence[FinanceInputs]) -> FinanceInputs:
    """One FinanceInputs holding each variant's numbers (and debt rows) as one path; shared fields are checked."""
    out: dict[str, Any] = {}
    for f in fields(FinanceInputs):
        values = [getattr(r, f.name) for r in rows]
        if f.name == "debt":
            out[f.name] = _stack_debt(values)
        elif f.name in _SHARED:
            out[f.name] = _same(values, f.name)
        else:
            out[f.name] = np.asarray(values, dtype=float)
    return FinanceInputs(**out)


def constant_drivers(inputs: FinanceInputs, floating_base_rate=None) -> Drivers:
    """Deterministic drivers of stacked inputs: multipliers 1, each variant's spot utilisation and floating base rate
    (or ``floating_base_rate`` per variant), no tenant default."""
    paths = int(np.size(inputs.capex_total))
    shape = (paths, inputs.months)
    ones = np.broadcast_to(1.0, shape)

    def column(v):
        return np.broadcast_to(np.asarray(v, dtype=float).reshape(-1, 1), shape)

    base = inputs.floating_base_rate if floating_base_rate is None else floating_base_rate
    return Drivers(market_rent_multiplier=ones, spot_utilisation=column(inputs.spot_utilisation),
                   token_volume_multiplier=ones, token_price_multiplier=ones, efficiency_multiplier=ones,
                   power_price_multiplier=ones, floating_base_rate=column(base),
                   tenant_default_month=np.full(paths, inputs.months, dtype=np.int64))


def _sculpt(s: Scenario, inputs: FinanceInputs, debt_share: np.ndarray, max_iter: int = 60) -> DebtSchedule:
    """Sculpted schedules of stacked variants sharing ``s``'s rate at close: ``build_inputs``' fixed point on every
    row at once, starting like it from no debt, stopping when no row's principal moves by 1e-9 of its capex."""
    fin = s.financing
    capex = inputs.capex_total
    args = (inputs.capex_by_month[0] / capex[0], fin.interest_rate, fin.payments_per_year,
            int(round(fin.tenor_years * 12)), s.horizon_months)
    schedule = build_debt_schedule("bullet", np.zeros(len(capex)), *args)
    drivers = constant_drivers(inputs)  # sized on the base-case rate, like build_inputs
    for _ in range(max_iter):
        flows = cashflows(replace(inputs, debt=schedule), drivers, schedule=True)
        new = build_debt_schedule("sculpted", debt_share * capex, *args, cfads=flows.schedule["cfads"],
                                  target_dscr=fin.target_dscr)
        moved = np.max(np.abs(new.principal - schedule.principal) / np.maximum(capex, 1.0)[:, None])
        schedule = new
        if moved <= 1e-9:
            break
    return schedule


def _metric(flows, metric: str) -> np.ndarray:
    if metric in ("project_irr", "equity_irr"):
        rows = flows.project_cf if metric == "project_irr" else flows.equity_cf
        return np.asarray(annualise_monthly_rate(irr(rows)), dtype=float)
    return np.asarray(getattr(flows, metric), dtype=float)


def _block(variants: Sequence[Scenario], metric: str, floating_base_rate) -> np.ndarray:
    if metric == "cost_per_gpu_hour":  # scalar arithmetic per variant, no cash flows
        return np.array([float(cost_per_gpu_hour(cost_inputs_from_scenario(v), v.utilisation).total)
                         for v in variants])
    sculpted = variants[0].financing.amortisation == "sculpted"
    # sculpted: resolve with a bullet profile (no per-variant fixed point), then sculpt the block at once
    inputs = stack_inputs([build_inputs(replace(v, financing=replace(v.financing, amortisation="bullet"))
                                        if sculpted else v) for v in variants])
    if sculpted:
        shares = np.array([v.financing.debt_share for v in variants])
        inputs = replace(inputs, debt=_sculpt(variants[0], inputs, shares))
    return _metric(cashflows(inputs, constant_drivers(inputs, floating_base_rate)), metric)


def evaluate_scenarios(variants: Sequence[Scenario], metric: str, floating_base_rate=None) -> np.ndarray:
    """``metric`` (one of :data:`BULK_METRICS`) of each variant, in blocks of :data:`BLOCK_VARIANTS` (sculpted debt:
    per rate at close); ``floating_base_rate`` (one per variant) overrides the path's base rate."""
    if metric not in BULK_METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    floating = None if floating_base_rate is None else np.asarray(floating_base_rate, dtype=float)
    groups: dict[float, list[int]] = {}
    for i, v in enumerate(variants):
        groups.setdefault(v.financing.interest_rate if v.financing.amortisation == "sculpted" else 0.0, []).append(i)
    out = np.empty(len(variants))
    for rows in groups.values():
        for start in range(0, len(rows), BLOCK_VARIANTS):
            block = rows[start:start + BLOCK_VARIANTS]
            out[block] = _block([variants[i] for i in block], metric, None if floating is None else floating[block])
    return out
