"""Monte Carlo over a fleet (issue 14, Build 2): market rent and spot utilisation by generation, correlated across
generations, and one next-generation arrival driver that cuts the fleet's market rents. NumPy only (float64); the
CUDA kernel of ``tokensim mc`` is not used for fleets.

Each generation g (the blocks' ``serving.hardware``) has one log market-rent state and one logit-utilisation state on
the fleet's calendar (month 0 = the first block's close). Their processes are the ``uncertainty:`` section of the
generation's first block's scenario, through the scenario Monte Carlo's own constants
(:func:`tokensim.montecarlo.driver_model`, on the fleet's months): the exact Ornstein-Uhlenbeck step
x ← φx + s z, the rent's scarcity jumps and the compensation c_m that keeps E[exp(x_m − c_m)] = 1 (the
deterministic market rent is the mean without arrivals); utilisation logit(spot) = logit(u0) + y.
The Gaussian shocks of generation g are one-factor correlated (:class:`tokensim.config.fleet.FleetUncertainty`):
z_g = √ρ F + √(1 − ρ) ε_g, so any two generations' shocks have correlation ρ (ρ_rent for rent, ρ_util for
utilisation, each in [0, 1]); rent and utilisation shocks are independent of each other here (the scenarios'
within-generation correlation matrix is not used).

Next-generation arrivals: N_m ~ Poisson(λΔt) a month, fleet-wide; each arrival cuts every fleet generation's market
rent (all are older than the arriving one) by ``market_rent_cut_share`` c, for good: the multiplier at month m is
exp(x_m − c_m) (1 − c)^{A_m}, A_m the arrivals up to m. The cut is not compensated: arrivals are a downside on top
of each block's ``contract.market_rent_change_per_year`` (hence off by default).

A block of generation g with offset o runs the one cash-flow engine (:func:`tokensim.finance.cashflows`) on
:func:`tokensim.resolve.fleet.block_finance_inputs` with its generation's drivers at fleet months o+1 .. o+M_b
(market rent multiplier; spot = u0_b / (u0_b + (1 − u0_b) e^−y)); every other driver (power, token volume and
price, efficiency, floating rate, tenant default) stays at its deterministic value. The blocks' project and equity
cash flows are summed per path on the fleet calendar, as :func:`tokensim.fleet.run_fleet` sums the schedules.

Random numbers: Philox4x32-10 (:mod:`tokensim.montecarlo._rng`), key = seed, counter = (fleet month m = 1..M,
stream, path). Streams (apart from the scenario Monte Carlo's 0-6):

====== =================================================================================================
stream what it carries
====== =================================================================================================
7      normals: F_rent, F_util, the common factors of all generations
8      uniforms: u0 → number of next-generation arrivals this month (u1 unused)
16+4g  normals: ε_rent,g, ε_util,g (g = generation index in order of first appearance in the file)
17+4g  uniforms: u0 → number of generation g's market-rent scarcity jumps this month
18+4g  normals: ζ_g → the jumps' log-size noise (z1 unused)
====== =================================================================================================

Path p's numbers depend only on (seed, month, stream, p), so per-path results, and the summaries
(:class:`tokensim.montecarlo.Summary`, exact and order-independent), are identical for any chunk size.
With every volatility and intensity at zero every multiplier is exactly 1 and spot = u0: the deterministic fleet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ._errors import ParameterError
from ._irr import IRR_REASONS, annualise_monthly_rate, irr, npv
from ._units import monthly_rate
from .config.fleet import Fleet, FleetUncertainty
from .config.uncertainty import CORRELATED_DRIVERS, Uncertainty, load_uncertainty
from .finance import Drivers, FinanceInputs, cashflows
from .montecarlo import HistogramSpec, Summary, driver_model, normals, poisson_counts, poisson_table, uniforms
from .resolve.fleet import block_finance_inputs

__all__ = ["FLEET_MC_DEFINITIONS", "FLEET_MC_METRICS", "FleetMCModel", "fleet_mc_model", "generation_paths",
           "fleet_paths", "simulate_fleet"]

STREAM_FACTORS = 7
STREAM_ARRIVALS = 8
_STREAM_GENERATION = 16  # + 4 g: shocks, + 1 jump counts, + 2 jump sizes
_RENT, _UTIL = CORRELATED_DRIVERS.index("market_rent"), CORRELATED_DRIVERS.index("utilisation")
_DT_YEARS = 1.0 / 12.0
FLEET_MC_METRICS = ("npv", "equity_npv", "project_irr", "equity_irr", "min_dscr", "cash_shortfall")
_CONDITIONAL_ON: dict[str, str | None] = {"npv": None, "equity_npv": None, "project_irr": "paths with a project IRR",
                                          "equity_irr": "paths with an equity IRR",
                                          "min_dscr": "paths with debt service", "cash_shortfall": None}

FLEET_MC_DEFINITIONS: dict[str, str] = {
    "monte_carlo": "the fleet Monte Carlo (tokensim.fleet_mc): per path, market rent and spot utilisation by "
                   "generation (each generation's processes from its first block's scenario uncertainty section; "
                   "shocks correlated across generations by one common factor) and next-generation arrivals that "
                   "cut every fleet generation's market rent; other drivers deterministic; NumPy, float64",
    "npv": "per path: the fleet's project_cf at its discount_rate (fleet_npv); equity_npv: equity_cf at the cost "
           "of equity",
    "project_irr": "per path: the annualised monthly IRR of the fleet's project_cf (equity_irr: equity_cf); paths "
                   "without one counted under no_value_reasons",
    "min_dscr": "per path: the lowest loan-year DSCR over the blocks with debt (NaN when no block has debt)",
    "operating_cash": "per fleet year: the sum of the blocks' equity_cf over the year's months, leaving out each "
                      "block's month 0 (its close: the equity it pays in)",
    "cash_shortfall": "per path: minus the lowest fleet year's operating_cash when negative, else 0",
    "prob_cash_negative_any_year": "share of paths with a fleet year whose operating_cash is below 0",
    "generations": "per generation: the uncertainty parameters of market rent and utilisation used, and the block "
                   "they come from",
}


@dataclass(frozen=True)
class _Generation:
    name: str
    source_block: str
    uncertainty: Uncertainty
    rent_persistence: float
    rent_scale: float
    rent_compensation: np.ndarray  # (M,) c_m for fleet months 1..M
    jump_table: np.ndarray
    jump_log_mean: float
    jump_log_sd: float
    util_persistence: float
    util_scale: float


@dataclass(frozen=True)
class FleetMCModel:
    """What every path of a fleet shares: each block's engine inputs, the generations' driver constants, the
    fleet's cross-generation settings, the deterministic case and the histogram ranges."""

    fleet: Fleet
    months: int  # fleet operating months (the calendar runs 0..months)
    inputs: tuple[FinanceInputs, ...]  # per block
    generation_of_block: tuple[int, ...]
    generations: tuple[_Generation, ...]
    fleet_uncertainty: FleetUncertainty
    arrival_table: np.ndarray
    deterministic: dict[str, float]
    specs: tuple[HistogramSpec, ...]


def fleet_mc_model(fleet: Fleet, *, generation_uncertainty: dict[str, Uncertainty] | None = None,
                   fleet_uncertainty: FleetUncertainty | None = None) -> FleetMCModel:
    """The fleet Monte Carlo's constants.

    Parameters
    ----------
    fleet : Fleet
        A loaded fleet.
    generation_uncertainty : dict, optional
        Generation name → :class:`Uncertainty`, replacing the first block's scenario section (e.g. zeroed).
    fleet_uncertainty : FleetUncertainty, optional
        Replaces ``fleet.uncertainty``.
    """
    inputs = tuple(block_finance_inputs(b) for b in fleet.blocks)
    months = max([fleet.horizon_months, *(b.offset_months + i.months for b, i in zip(fleet.blocks, inputs,
                                                                                        strict=True))])
    names: list[str] = []
    gens: list[_Generation] = []
    of_block = []
    for b, inp in zip(fleet.blocks, inputs, strict=True):
        if b.generation not in names:
            names.append(b.generation)
            u = (generation_uncertainty or {}).get(b.generation) or load_uncertainty(b.scenario)
            dm = driver_model(u, replace(inp, months=months))
            mr = u.market_rent
            gens.append(_Generation(
                name=b.generation, source_block=b.name, uncertainty=u,
                rent_persistence=float(dm.persistence[_RENT]), rent_scale=float(dm.shock_scale[_RENT]),
                rent_compensation=np.asarray(dm.rent_log_compensation, dtype=float), jump_table=dm.rent_jump_table,
                jump_log_mean=math.log1p(mr.jump_mean), jump_log_sd=float(mr.jump_volatility),
                util_persistence=float(dm.persistence[_UTIL]),
                util_scale=float(_util_scale(u))))
        of_block.append(names.index(b.generation))
    fu = fleet_uncertainty or fleet.uncertainty
    arrivals = poisson_table(fu.arrival_rate_per_year * _DT_YEARS)
    model = FleetMCModel(fleet=fleet, months=months, inputs=inputs, generation_of_block=tuple(of_block),
                         generations=tuple(gens), fleet_uncertainty=fu, arrival_table=arrivals, deterministic={},
                         specs=())
    det = _evaluate(model, _base_paths(model, 1))
    deterministic = {k: float(v[0]) for k, v in det["metrics"].items()}
    capex = sum(float(i.capex_total) for i in inputs)
    span = 2.0 * max(capex, abs(deterministic["npv"]), 1.0)

    def shift(name: str) -> float:
        return deterministic[name] if math.isfinite(deterministic[name]) else 0.0

    specs = (HistogramSpec("npv", shift("npv") - span, shift("npv") + span, shift("npv")),
             HistogramSpec("equity_npv", shift("equity_npv") - span, shift("equity_npv") + span, shift("equity_npv")),
             HistogramSpec("project_irr", -1.0, 4.0, shift("project_irr")),
             HistogramSpec("equity_irr", -1.0, 4.0, shift("equity_irr")),
             HistogramSpec("min_dscr", -2.0, 6.0, shift("min_dscr")),
             HistogramSpec("cash_shortfall", 0.0, span, shift("cash_shortfall")))
    return replace(model, deterministic=deterministic, specs=specs)


def _util_scale(u: Uncertainty) -> float:
    """s of the utilisation's exact OU step (the scenario engine's formula: tokensim.montecarlo._drivers._ou_step)."""
    sigma, kappa = u.utilisation.volatility_per_year, u.utilisation.mean_reversion_per_year
    if kappa == 0.0:
        return sigma * math.sqrt(_DT_YEARS)
    return sigma * math.sqrt(-math.expm1(-2.0 * kappa * _DT_YEARS) / (2.0 * kappa))


def generation_paths(model: FleetMCModel, seed: int, paths: np.ndarray,
                     arrivals: np.ndarray | None = None) -> dict[str, Any]:
    """The generations' drivers of ``paths`` (uint64 indices) on the fleet calendar (module docstring).

    Returns ``log_rent`` (G, paths, M): x_m − c_m, the compensated log rent state without arrivals; ``logit_util``
    (G, paths, M): y_m; ``arrivals`` (paths, M): cumulative next-generation arrivals A_m; ``rent_multiplier``
    (G, paths, M) = exp(log_rent) (1 − c)^A. ``arrivals`` (cumulative counts, (paths, M)) replaces the drawn ones.
    """
    paths = np.asarray(paths, dtype=np.uint64)
    n, months, g_count = paths.shape[0], model.months, len(model.generations)
    fu = model.fleet_uncertainty
    rho_r, rho_u = fu.rent_correlation_across_generations, fu.utilisation_correlation_across_generations
    log_rent = np.zeros((g_count, n, months))
    logit_util = np.zeros((g_count, n, months))
    drawn = np.zeros((n, months))
    x = np.zeros((g_count, n))
    y = np.zeros((g_count, n))
    count = np.zeros(n)
    any_shock = any(g.rent_scale > 0 or g.util_scale > 0 for g in model.generations)
    for m in range(1, months + 1):
        j = m - 1
        if any_shock:
            f_rent, f_util = normals(seed, m, STREAM_FACTORS, paths)
        if model.arrival_table.size:
            u_arr, _ = uniforms(seed, m, STREAM_ARRIVALS, paths)
            count = count + poisson_counts(model.arrival_table, u_arr)
        drawn[:, j] = count
        for k, g in enumerate(model.generations):
            base = _STREAM_GENERATION + 4 * k
            if g.rent_scale > 0 or g.util_scale > 0:
                e_rent, e_util = normals(seed, m, base, paths)
            xk = g.rent_persistence * x[k] if g.rent_persistence != 1.0 else x[k]
            if g.rent_scale > 0:
                xk = xk + g.rent_scale * (math.sqrt(rho_r) * f_rent + math.sqrt(1.0 - rho_r) * e_rent)
            if g.jump_table.size:
                u_jump, _ = uniforms(seed, m, base + 1, paths)
                jumps = poisson_counts(g.jump_table, u_jump)
                xk = xk + jumps * g.jump_log_mean
                if g.jump_log_sd > 0:
                    zeta, _ = normals(seed, m, base + 2, paths)
                    xk = xk + np.sqrt(jumps) * (g.jump_log_sd * zeta)
            x[k] = xk
            log_rent[k, :, j] = xk - g.rent_compensation[j]
            yk = g.util_persistence * y[k] if g.util_persistence != 1.0 else y[k]
            if g.util_scale > 0:
                yk = yk + g.util_scale * (math.sqrt(rho_u) * f_util + math.sqrt(1.0 - rho_u) * e_util)
            y[k] = yk
            logit_util[k, :, j] = yk
    cumulative = drawn if arrivals is None else np.asarray(arrivals, dtype=float)
    cut = np.power(1.0 - fu.market_rent_cut_share, cumulative)  # 0**0 = 1: no arrival, no cut
    return {"log_rent": log_rent, "logit_util": logit_util, "arrivals": cumulative,
            "rent_multiplier": np.exp(log_rent) * cut[None, :, :]}


def _block_drivers(model: FleetMCModel, gen: dict[str, Any], b: int) -> Drivers:
    """Block b's engine drivers: its generation's at fleet months o+1 .. o+M_b, the rest deterministic."""
    block, inp = model.fleet.blocks[b], model.inputs[b]
    k, o = model.generation_of_block[b], block.offset_months
    n = gen["rent_multiplier"].shape[1]
    base = Drivers.base(inp, n)
    sl = slice(o, o + inp.months)
    u0 = float(inp.spot_utilisation)
    y = gen["logit_util"][k, :, sl]
    with np.errstate(over="ignore"):  # e^-y = inf gives spot 0, the limit
        spot = np.where(y == 0.0, u0, u0 / (u0 + (1.0 - u0) * np.exp(-y)))
    return replace(base, market_rent_multiplier=gen["rent_multiplier"][k, :, sl], spot_utilisation=spot)


def _base_paths(model: FleetMCModel, n: int) -> dict[str, Any]:
    g, m = len(model.generations), model.months
    return {"log_rent": np.zeros((g, n, m)), "logit_util": np.zeros((g, n, m)), "arrivals": np.zeros((n, m)),
            "rent_multiplier": np.ones((g, n, m))}


def fleet_paths(model: FleetMCModel, gen: dict[str, Any]) -> dict[str, Any]:
    """The fleet's summed cash flows of the paths whose generation drivers are ``gen``: ``project_cf``,
    ``equity_cf``, ``operating_cash`` (paths, fleet months + 1) and per-block ``flows``."""
    n = gen["rent_multiplier"].shape[1]
    width = model.months + 1
    project, equity, operating = np.zeros((n, width)), np.zeros((n, width)), np.zeros((n, width))
    dscr = np.full(n, np.nan)
    flows = []
    for b, (block, inp) in enumerate(zip(model.fleet.blocks, model.inputs, strict=True)):
        f = cashflows(inp, _block_drivers(model, gen, b))
        sl = slice(block.offset_months, block.offset_months + inp.months + 1)
        project[:, sl] += f.project_cf
        equity[:, sl] += f.equity_cf
        operating[:, sl] += f.equity_cf
        operating[:, block.offset_months] -= f.equity_cf[:, 0]  # the block's close: equity paid in
        with np.errstate(invalid="ignore"):
            dscr = np.fmin(dscr, np.asarray(f.min_dscr, dtype=float))
        flows.append(f)
    return {"project_cf": project, "equity_cf": equity, "operating_cash": operating, "min_dscr": dscr,
            "flows": flows}


def _evaluate(model: FleetMCModel, gen: dict[str, Any]) -> dict[str, Any]:
    out = fleet_paths(model, gen)
    fleet = model.fleet
    project_monthly, project_reason = irr(out["project_cf"], return_reason=True)
    equity_monthly, equity_reason = irr(out["equity_cf"], return_reason=True)
    op = out["operating_cash"]
    years = (model.months + 11) // 12
    by_year = np.stack([op[:, 12 * (y - 1) + 1: min(12 * y, model.months) + 1].sum(axis=1)
                        for y in range(1, years + 1)], axis=1)
    worst = by_year.min(axis=1)
    return {"metrics": {"npv": npv(monthly_rate(fleet.discount_rate), out["project_cf"]),
                        "equity_npv": npv(monthly_rate(fleet.cost_of_equity), out["equity_cf"]),
                        "project_irr": annualise_monthly_rate(project_monthly),
                        "equity_irr": annualise_monthly_rate(equity_monthly), "min_dscr": out["min_dscr"],
                        "cash_shortfall": np.maximum(-worst, 0.0)},
            "reasons": {"project_irr": project_reason, "equity_irr": equity_reason},
            "flags": {"cash_negative_any_year": worst < 0.0}}


def simulate_fleet(model: FleetMCModel, *, paths: int, seed: int = 0, chunk_paths: int = 2048) -> dict[str, Any]:
    """Run ``paths`` fleet paths and summarise them: the ``monte_carlo`` section of ``tokensim fleet``.

    Parameters
    ----------
    model : FleetMCModel
        From :func:`fleet_mc_model`.
    paths : int
        Number of paths, at least 1.
    seed : int
        Philox key in [0, 2**64): same seed, same result, whatever ``chunk_paths``.
    chunk_paths : int
        Paths evaluated together (bounds memory; results do not depend on it).

    Returns
    -------
    dict
        Per metric (:data:`FLEET_MC_METRICS`) the summary of ``tokensim mc`` (mean, std, p05, p50, p95, min, max,
        count, no_value, share_with_value), ``prob_cash_negative_any_year``, ``deterministic``, the generations'
        and the fleet's uncertainty and ``definitions``. Money in the fleet's currency.
    """
    for name, value, low in (("paths", paths, 1), ("chunk_paths", chunk_paths, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ParameterError(name, f"got {value!r}; allowed: a whole number >= {low}", sep=": ")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
        raise ParameterError("seed", f"got {seed!r}; allowed: a whole number in [0, 2**64)", sep=": ")
    summary = Summary(list(model.specs), ["cash_negative_any_year"])
    for first in range(0, int(paths), int(chunk_paths)):
        n = min(int(chunk_paths), int(paths) - first)
        index = np.arange(first, first + n, dtype=np.uint64)
        out = _evaluate(model, generation_paths(model, int(seed), index))
        summary.add(first, out["metrics"], out["flags"], out["reasons"])
    summary.finish()
    metrics = {name: {**summary.metrics[name].to_dict(IRR_REASONS if name.endswith("_irr") else None),
                      "conditional_on": _CONDITIONAL_ON[name]} for name in FLEET_MC_METRICS}
    generations = {g.name: {"from_block": g.source_block,
                            "market_rent": g.uncertainty.to_dict().get("market_rent"),
                            "utilisation": g.uncertainty.to_dict().get("utilisation")} for g in model.generations}
    return {"paths": int(paths), "seed": int(seed), "backend": "numpy", "months": model.months, **metrics,
            "prob_cash_negative_any_year": summary.probability("cash_negative_any_year"),
            "deterministic": dict(model.deterministic), "generations": generations,
            "uncertainty": model.fleet_uncertainty.to_dict(), "definitions": dict(FLEET_MC_DEFINITIONS)}
