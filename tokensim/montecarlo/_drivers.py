"""Stochastic drivers of the Monte Carlo in NumPy: a month loop vectorised over paths, Philox numbers by counter.

:func:`driver_model` turns a validated :class:`~tokensim.config.Uncertainty` and the engine's
:class:`~tokensim.finance.FinanceInputs` into per-month constants (one home for them: the CUDA kernel receives the
same numbers, packed by :mod:`tokensim.montecarlo._kernel`); :func:`generate_drivers` draws a block of paths and
returns the engine's :class:`~tokensim.finance.Drivers`. ``kernels/mc_drivers.cuh`` (``mc_drivers_step``) is the
CUDA twin of :func:`generate_drivers`'s month body, line for line.

Random numbers (``tokensim.montecarlo._rng``, Philox4x32-10): key = seed, counter = (month, stream, path). Operating
month m (1..M) uses counter month m (counter month 0 is unused). Streams:

====== ==================================================================================================
stream what it carries
====== ==================================================================================================
0-2    Box-Muller normals e_{2s}, e_{2s+1}: the independent Gaussian shocks of :data:`CORRELATED_DRIVERS`
3      uniforms: u0 → number of market-rent scarcity jumps this month, u1 → number of token-price cuts
4      normals: z0 → the rent jumps' log-size noise, z1 → the price cuts' log-size noise
5      uniforms: u0 → number of efficiency arrivals this month (u1 unused)
6      uniforms: u0 → does the tenant default this month (used until it has, months 1..term; u1 unused)
====== ==================================================================================================

A stream is drawn only when something uses it (a relevant driver with a volatility, or a jump intensity above
zero); skipping one changes no other number, because each counter is independent. Path p's numbers depend on
(seed, month, stream, p) only: results are identical for any chunk size, block size, thread count or backend.

Equations, monthly step Δt = 1/12 year, states start at 0 at close (month 0):

- correlated shocks z = L e, L the lower Cholesky factor of the correlation (z_i = Σ_{k≤i} L_ik e_k, in k order).
- Gaussian states, for each driver i: x_i ← φ_i x_i + μ_i + s_i z_i, with φ = exp(−κΔt) and
  s = σ √((1 − φ²) / (2κ)) (the exact Ornstein-Uhlenbeck step; σ√Δt when κ = 0), μ the drift per month
  (token volume growth × Δt, token price trend × Δt; zero for the mean-reverting drivers).
- market rent: the state is y ← y + N_J ln(1 + jump_mean) + √N_J σ_J ζ_J after its Gaussian step,
  N_J ~ Poisson(λΔt); the multiplier on the contract's deterministic market rent (which carries the trend) is
  exp(x_m) with x_m = y_m − c_m, c_m = ln E[exp(y_m)], so **E[multiplier at month m] = 1 at every month**: the
  deterministic market rent is the process's mean (not its median), jumps and diffusion compensated together.
  y_m = Σ_{k=1..m} φ^{m−k} (s z_k + J_k) with independent terms, so its cumulant function is
  K_m(θ) = ln E[exp(θ y_m)] = Σ_{k=0..m−1} [½ θ² s² φ^{2k} + λΔt (exp(θ φ^k a + ½ θ² φ^{2k} σ_J²) − 1)]
  with a = ln(1 + jump_mean), σ_J = jump_volatility (a compound Poisson sum of N(a, σ_J²) log jumps; z_k is a unit
  normal whatever the correlation, L's first row being (1, 0, ...)), and c_m = K_m(1)
  (:func:`rent_log_compensation`; ``DriverModel.rent_log_compensation``, indexed by month − 1; c_0 = 0). Without
  jumps and mean reversion c_m = m s² / 2 (the log-normal convexity correction); with κ > 0 it tends to
  σ²/(4κ) + λ ∫ (E[e^{φ(t) J}] − 1) dt. The median multiplier is then below 1.
- utilisation: spot = u0 / (u0 + (1 − u0) e^−y), i.e. logit(spot) = logit(u0) + y (spot = u0 where y = 0; the form
  stays in [0, 1] when e^−y overflows).
- token volume, token price, power price: multipliers exp(x); the price also drops by
  N_C (−ln(1 − cut_mean)) + √N_C σ_C ζ_C each month, N_C ~ Poisson(λ_C Δt).
- efficiency: n ← n + N_E, N_E ~ Poisson(λ_E Δt); multiplier exp(n ln(1 + gain)).
- floating base rate: base + x_rate (absolute; may go below zero).
- tenant default: a monthly hazard that rises when the market rent is low,
  h_m = h0 exp(−β x_m), h0 = −ln(1 − p_year) / 12, β = ``tenant_default.market_sensitivity``, x_m the month's
  compensated log market-rent multiplier (above). In operating month m a tenant that has not yet defaulted
  defaults when u_m < q_m = 1 − exp(−h_m) (u_m: stream 6, counter month m); the default month index is then m − 1
  (the contract earns nothing from month m on), checked while m − 1 < min(term, horizon), else "never" (= M).
  h0 is the hazard at the mean market rent (x = 0): with β = 0 (independent of the market) the annual default
  probability is exactly p_year (q_m = 1 − (1 − p_year)^(1/12) every month); with β > 0 a market at half its mean
  rent multiplies the hazard by 2^β, and the unconditional probability exceeds p_year slightly (E[e^{−βx}] =
  exp(K_m(−β) + β K_m(1)) ≥ 1 by Jensen; the Monte Carlo's ``prob_tenant_default`` reports the realised share).
  p_year = 1 gives h0 = ∞: the tenant defaults in the first month.

Poisson counts come from a table: N = #{k : u > F(k)} with F the Poisson CDF in float64, tabulated until the tail is
negligible (at most :data:`POISSON_MAX_COUNT` entries, :func:`poisson_table`); the kernel reads the same table, so
both backends count identically. With every volatility, drift, intensity and probability at zero the drivers equal
:meth:`Drivers.base` exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._xp import array_namespace
from ..config.uncertainty import CORRELATED_DRIVERS, Uncertainty
from ..finance import Drivers, FinanceInputs
from . import _rng

__all__ = [
    "DT_YEARS", "STREAM_SHOCKS", "STREAM_JUMP_COUNTS", "STREAM_JUMP_SIZES", "STREAM_EFFICIENCY", "STREAM_DEFAULT",
    "POISSON_MAX_COUNT", "DriverModel", "driver_model", "generate_drivers", "poisson_table", "rent_log_cumulant",
    "rent_log_compensation",
]

DT_YEARS = 1.0 / 12.0
STREAM_SHOCKS = (0, 1, 2)
STREAM_JUMP_COUNTS = 3
STREAM_JUMP_SIZES = 4
STREAM_EFFICIENCY = 5
STREAM_DEFAULT = 6
# Poisson tables stop at the first k past the mean whose probability is below 2**-60: the tail beyond is then below
# mean x 2**-60, far under the 2**-53 spacing of the uniforms. At the largest intensity allowed (120 a year, 10 a
# month) that is 50 entries (tail 1.9e-19); this is the room the kernel's tables have.
POISSON_MAX_COUNT = 64
_POISSON_TAIL = 2.0**-60

RENT, UTILISATION, POWER, RATE, VOLUME, PRICE = (CORRELATED_DRIVERS.index(n) for n in (
    "market_rent", "utilisation", "power_price", "floating_base_rate", "token_volume", "token_price"))


def poisson_table(mean: float) -> np.ndarray:
    """CDF F(0), F(1), ... of Poisson(mean) in float64 up to the first k >= mean with P(k) < 2**-60; empty for 0."""
    if mean <= 0.0:
        return np.zeros(0)
    cdf = []
    pmf = math.exp(-mean)
    total = 0.0
    for k in range(POISSON_MAX_COUNT):
        total += pmf
        cdf.append(total)
        if k >= mean and pmf < _POISSON_TAIL:
            break
        pmf *= mean / (k + 1)
    return np.array(cdf)


def poisson_counts(table, u):
    """N = #{k : u > F(k)} for uniforms ``u``: the Poisson count by inversion (float64, exact comparisons)."""
    xp = array_namespace(u)
    return xp.searchsorted(xp.asarray(table), u, side="left").astype(xp.float64)


def _ou_step(kappa: float, sigma: float) -> tuple[float, float]:
    """(φ, s) of the exact monthly OU step x ← φx + s z."""
    if kappa == 0.0:
        return 1.0, sigma * math.sqrt(DT_YEARS)
    phi = math.exp(-kappa * DT_YEARS)
    return phi, sigma * math.sqrt(-math.expm1(-2.0 * kappa * DT_YEARS) / (2.0 * kappa))


def rent_log_cumulant(theta: float, months: int, persistence: float, shock_scale: float, jump_mean_per_month: float,
                      jump_log_mean: float, jump_log_sd: float) -> np.ndarray:
    """K_m(θ) = ln E[exp(θ y_m)] of the uncompensated log market-rent state y for m = 1..``months`` (module docstring):
    Σ_{k=0..m−1} [½ θ² s² φ^{2k} + λΔt (exp(θ φ^k a + ½ θ² φ^{2k} σ_J²) − 1)], accumulated month by month in float64.
    """
    out = np.empty(months)
    total = 0.0
    weight = 1.0  # φ^k
    for k in range(months):
        c = theta * weight
        total += 0.5 * c * c * shock_scale * shock_scale
        if jump_mean_per_month > 0.0:
            total += jump_mean_per_month * math.expm1(c * jump_log_mean + 0.5 * c * c * jump_log_sd * jump_log_sd)
        out[k] = total
        weight *= persistence
    return out


def rent_log_compensation(months: int, persistence: float, shock_scale: float, jump_mean_per_month: float,
                          jump_log_mean: float, jump_log_sd: float) -> np.ndarray:
    """c_m = K_m(1) for m = 1..``months``: subtracted from the log market-rent state so that E[exp(x_m)] = 1."""
    return rent_log_cumulant(1.0, months, persistence, shock_scale, jump_mean_per_month, jump_log_mean, jump_log_sd)


@dataclass(frozen=True)
class DriverModel:
    """Per-month constants of the driver equations (module docstring), shared by NumPy and the CUDA kernel."""

    months: int
    cholesky: np.ndarray  # (6, 6) lower
    persistence: np.ndarray  # (6,) φ
    drift: np.ndarray  # (6,) per month
    shock_scale: np.ndarray  # (6,) s (zero when the driver is off or irrelevant)
    active: np.ndarray  # (6,) bool: the state of this driver can move
    shock_streams: tuple[bool, bool, bool]
    rent_jump_table: np.ndarray
    rent_jump_log_mean: float
    rent_jump_log_sd: float
    cut_table: np.ndarray
    cut_log_mean: float  # −ln(1 − cut_mean) ≥ 0: subtracted per cut
    cut_log_sd: float
    efficiency_table: np.ndarray
    efficiency_log_gain: float
    rent_log_compensation: np.ndarray  # (M,) c_m for months 1..M: log multiplier = state − c_m
    default_hazard_per_month: float  # h0 = −ln(1 − p_year) / 12 ≥ 0 (inf when p_year = 1); 0 = no default
    default_market_sensitivity: float  # β: hazard h0 exp(−β x_m)
    default_limit_month: int  # defaults at or after this operating-month index do not happen
    spot_utilisation: float
    floating_base_rate: float
    efficiency_active: bool

    @property
    def draws_jump_counts(self) -> bool:
        return self.rent_jump_table.size > 0 or self.cut_table.size > 0

    @property
    def draws_jump_sizes(self) -> bool:
        return (self.rent_jump_table.size > 0 and self.rent_jump_log_sd > 0) or \
            (self.cut_table.size > 0 and self.cut_log_sd > 0)

    @property
    def draws_default(self) -> bool:
        return self.default_hazard_per_month > 0.0 and self.default_limit_month > 0

    @property
    def is_deterministic(self) -> bool:
        return not (self.active.any() or self.efficiency_active or self.draws_default)


def relevant_drivers(inputs: FinanceInputs) -> dict[str, bool]:
    """Which drivers can change a result of ``inputs`` (the others are not drawn: the outputs do not depend on them).

    Token volume feeds only usage fees; token price and efficiency feed usage fees and the economic residual; the
    floating base rate only floating-rate debt. Market rent, utilisation and power price are always drawn.
    """
    usage = inputs.contract_type == "base_plus_usage"
    economic = inputs.residual_method == "economic"
    floating = inputs.rate_type == "floating" and bool(np.any(np.asarray(inputs.debt.amount) > 0))
    return {"market_rent": True, "utilisation": 0.0 < inputs.spot_utilisation < 1.0, "power_price": True,
            "floating_base_rate": floating, "token_volume": usage, "token_price": usage or economic,
            "efficiency": usage or economic}


def driver_model(uncertainty: Uncertainty, inputs: FinanceInputs) -> DriverModel:
    """The constants of the driver equations for ``inputs`` (a single-row engine input)."""
    u = uncertainty
    relevant = relevant_drivers(inputs)
    sigma = np.zeros(6)
    kappa = np.zeros(6)
    drift = np.zeros(6)
    sigma[RENT], kappa[RENT] = u.market_rent.volatility_per_year, u.market_rent.mean_reversion_per_year
    sigma[UTILISATION], kappa[UTILISATION] = u.utilisation.volatility_per_year, u.utilisation.mean_reversion_per_year
    sigma[POWER], kappa[POWER] = u.power_price.volatility_per_year, u.power_price.mean_reversion_per_year
    sigma[RATE], kappa[RATE] = u.floating_base_rate.volatility_per_year, u.floating_base_rate.mean_reversion_per_year
    sigma[VOLUME], drift[VOLUME] = u.token_volume.volatility_per_year, u.token_volume.growth_per_year * DT_YEARS
    sigma[PRICE], drift[PRICE] = u.token_price.volatility_per_year, u.token_price.trend_per_year * DT_YEARS
    persistence = np.ones(6)
    scale = np.zeros(6)
    for i, name in enumerate(CORRELATED_DRIVERS):
        if not relevant[name]:
            sigma[i] = drift[i] = 0.0
        persistence[i], scale[i] = _ou_step(float(kappa[i]), float(sigma[i]))
    lower = u.cholesky()
    mr, tp = u.market_rent, u.token_price
    rent_table = poisson_table(mr.jump_intensity_per_year * DT_YEARS)
    cut_table = poisson_table(tp.cut_intensity_per_year * DT_YEARS) if relevant["token_price"] else np.zeros(0)
    eff = u.efficiency
    efficiency_on = relevant["efficiency"] and eff.arrival_rate_per_year > 0 and eff.gain_per_arrival != 0
    efficiency_table = poisson_table(eff.arrival_rate_per_year * DT_YEARS) if efficiency_on else np.zeros(0)
    active = (scale > 0) | (drift != 0)
    active[RENT] |= rent_table.size > 0
    active[PRICE] |= cut_table.size > 0
    # A stream of shocks is drawn when an active driver loads on one of its two shocks.
    loads = (lower != 0) & (scale > 0)[:, None]
    used = [bool(loads[:, 2 * s: 2 * s + 2].any()) for s in range(3)]
    streams = (used[0], used[1], used[2])
    p_year = u.tenant_default.probability_per_year
    has_tenant = inputs.contract_type != "spot" and inputs.contracted_share > 0 and inputs.term_months > 0
    if p_year <= 0.0 or not has_tenant:
        hazard = 0.0
    elif p_year >= 1.0:
        hazard = math.inf
    else:
        hazard = -math.log1p(-p_year) / 12.0
    rent_jump_mean = mr.jump_intensity_per_year * DT_YEARS if rent_table.size else 0.0
    compensation = rent_log_compensation(inputs.months, float(persistence[RENT]), float(scale[RENT]), rent_jump_mean,
                                         math.log1p(mr.jump_mean), mr.jump_volatility)
    return DriverModel(
        months=inputs.months, cholesky=lower, persistence=persistence, drift=drift, shock_scale=scale, active=active,
        shock_streams=streams, rent_jump_table=rent_table, rent_jump_log_mean=math.log1p(mr.jump_mean),
        rent_jump_log_sd=mr.jump_volatility, cut_table=cut_table, cut_log_mean=-math.log1p(-tp.cut_mean),
        cut_log_sd=tp.cut_volatility, efficiency_table=efficiency_table,
        efficiency_log_gain=math.log1p(eff.gain_per_arrival) if efficiency_on else 0.0,
        rent_log_compensation=compensation, default_hazard_per_month=hazard,
        default_market_sensitivity=float(u.tenant_default.market_sensitivity),
        default_limit_month=min(inputs.term_months, inputs.months) if has_tenant else 0,
        spot_utilisation=float(inputs.spot_utilisation), floating_base_rate=float(inputs.floating_base_rate),
        efficiency_active=efficiency_on,
    )


def default_log_hazard(model: DriverModel) -> float:
    """ln h0 (float64; +inf when default is certain, −inf when there is none): the hazard is exp(ln h0 − β x)."""
    h0 = model.default_hazard_per_month
    return math.log(h0) if h0 > 0.0 else -math.inf


def default_step(model: DriverModel, seed: int, month: int, paths, log_rent, default_month):
    """Operating month ``month`` (1..M) of the default process (module docstring): paths still without a default
    (``default_month`` = M) default with probability 1 − exp(−h_m), h_m = h0 exp(−β x_m), ``log_rent`` = x_m (the
    compensated log market-rent multiplier, (paths,) or 0.0); returns the updated default month indices."""
    xp = array_namespace(paths)
    u, _ = _rng.uniforms(seed, month, STREAM_DEFAULT, paths)
    hazard = xp.exp(default_log_hazard(model) - model.default_market_sensitivity * log_rent)
    new = (default_month == model.months) & (u < -xp.expm1(-hazard))
    return xp.where(new, month - 1, default_month)


def _jump_sizes(counts, log_mean: float, log_sd: float, seed: int, month: int, paths, which: int, xp):
    """Total log size of ``counts`` jumps: N·log_mean + √N·log_sd·ζ, ζ normal ``which`` (0 or 1) of the jump-size
    stream. ζ is drawn only for the paths with a jump (a few per cent a month): the others' numbers are unused, and
    a counter's numbers do not depend on which other counters are drawn."""
    size = counts * log_mean
    if log_sd > 0.0:
        hit = xp.nonzero(counts)[0]
        if hit.size:
            zeta = _rng.normals(seed, month, STREAM_JUMP_SIZES, paths[hit])[which]
            size[hit] = size[hit] + xp.sqrt(counts[hit]) * (log_sd * zeta)
    return size


def generate_drivers(model: DriverModel, seed: int, paths, xp=np) -> Drivers:
    """The drivers of ``paths`` (uint64 path indices, any subset and order): arrays of shape (paths, months).

    Arrays are month-major in memory (transposed views), so the engine's per-month column is contiguous; drivers
    that cannot move are broadcast constants (no memory).
    """
    paths = xp.asarray(paths, dtype=xp.uint64)
    n, months = paths.shape[0], model.months
    lower, phi, mu, scale = model.cholesky, model.persistence, model.drift, model.shock_scale
    state = [xp.zeros(n) for _ in range(6)]
    out = {i: xp.empty((months, n)) for i in range(6) if model.active[i]}
    efficiency = xp.empty((months, n)) if model.efficiency_active else None
    arrivals = xp.zeros(n)
    tables = {name: xp.asarray(getattr(model, name)) for name in ("rent_jump_table", "cut_table",
                                                                    "efficiency_table")}
    shocks: list = [None] * 6
    compensation = xp.asarray(model.rent_log_compensation)
    default_month = xp.full(n, months, dtype=xp.int64)
    for m in range(1, months + 1):
        j = m - 1
        for s in STREAM_SHOCKS:
            if model.shock_streams[s]:
                shocks[2 * s], shocks[2 * s + 1] = _rng.normals(seed, m, s, paths)
        if model.draws_jump_counts:
            u_rent, u_cut = _rng.uniforms(seed, m, STREAM_JUMP_COUNTS, paths)
        for i in range(6):
            if not model.active[i]:
                continue
            x = state[i]
            if phi[i] != 1.0:
                x = phi[i] * x
            if mu[i] != 0.0:
                x = x + mu[i]
            if scale[i] > 0.0:
                z = None
                for k in range(i + 1):
                    if lower[i, k] != 0.0:
                        term = lower[i, k] * shocks[k]
                        z = term if z is None else z + term
                x = x + scale[i] * z
            if i == RENT and model.rent_jump_table.size:
                jumps = poisson_counts(tables["rent_jump_table"], u_rent)
                x = x + _jump_sizes(jumps, model.rent_jump_log_mean, model.rent_jump_log_sd, seed, m, paths, 0, xp)
            if i == PRICE and model.cut_table.size:
                cuts = poisson_counts(tables["cut_table"], u_cut)
                x = x - _jump_sizes(cuts, model.cut_log_mean, model.cut_log_sd, seed, m, paths, 1, xp)
            state[i] = x
            out[i][j] = x
        if efficiency is not None:
            u_eff, _ = _rng.uniforms(seed, m, STREAM_EFFICIENCY, paths)
            arrivals = arrivals + poisson_counts(tables["efficiency_table"], u_eff)
            efficiency[j] = arrivals
        if model.draws_default and j < model.default_limit_month:
            log_rent = state[RENT] - model.rent_log_compensation[j] if model.active[RENT] else 0.0
            default_month = default_step(model, seed, m, paths, log_rent, default_month)
    shape = (n, months)

    def multiplier(i: int):
        if i == RENT and i in out:
            return xp.exp(out[i] - compensation[:, None]).T
        return xp.exp(out[i]).T if i in out else xp.broadcast_to(xp.asarray(1.0), shape)

    if UTILISATION in out:
        u0 = model.spot_utilisation
        y = out[UTILISATION]
        with np.errstate(over="ignore"):  # e^-y = inf gives spot 0, the limit
            shrink = xp.exp(-y)
        spot = xp.where(y == 0.0, u0, u0 / (u0 + (1.0 - u0) * shrink)).T
    else:
        spot = xp.broadcast_to(xp.asarray(model.spot_utilisation), shape)
    rate = (model.floating_base_rate + out[RATE]).T if RATE in out else \
        xp.broadcast_to(xp.asarray(model.floating_base_rate), shape)
    eff = xp.exp(efficiency * model.efficiency_log_gain).T if efficiency is not None else \
        xp.broadcast_to(xp.asarray(1.0), shape)
    return Drivers(
        market_rent_multiplier=multiplier(RENT), spot_utilisation=spot, token_volume_multiplier=multiplier(VOLUME),
        token_price_multiplier=multiplier(PRICE), efficiency_multiplier=eff,
        power_price_multiplier=multiplier(POWER), floating_base_rate=rate,
        tenant_default_month=default_month,
    )
