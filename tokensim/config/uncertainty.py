"""The ``uncertainty:`` section of a scenario: what the Monte Carlo varies, declared once and validated field by field.

The section's schema is declared here with the specs of :mod:`tokensim.config._spec` (:class:`UncertaintySchema`:
each parameter's range and unit; unknown keys refused with "did you mean"); :func:`parse_uncertainty` reports every
error of the section at once and builds the frozen dataclasses the Monte Carlo consumes.

Every part is optional; a driver that is absent (or whose volatilities, intensities and probabilities are all zero)
stays at the deterministic scenario's value, so with nothing given the Monte Carlo equals ``tokensim finance``.
Errors name the file, the field path (``uncertainty.market_rent.volatility_per_year``), the value and the range.

Schema (all numbers per year where the key says so; ``source`` is an optional free-text citation per driver):

- ``market_rent``: ``volatility_per_year`` (of log rent), ``mean_reversion_per_year`` (κ of the log-OU around the
  contract's deterministic market-rent trend), ``jump_intensity_per_year`` (scarcity jumps, Poisson),
  ``jump_mean`` (each jump raises the rent by this fraction on average: log size ln(1 + jump_mean)),
  ``jump_volatility`` (sd of a jump's log size). Jumps then decay with the mean reversion. The process is
  compensated (diffusion and jumps together) so that the contract's deterministic market rent is its **mean** at
  every month: scarcity jumps up are paid for by a drift down between them.
- ``utilisation``: ``volatility_per_year``, ``mean_reversion_per_year`` of logit(spot utilisation) around the
  logit of the scenario's ``contract.spot_utilisation`` (logit-normal; a base of exactly 0 or 1 stays put).
- ``token_volume``: ``growth_per_year`` (drift of log volume), ``volatility_per_year``.
- ``token_price``: ``trend_per_year`` (drift of log price), ``volatility_per_year``, ``cut_intensity_per_year``
  (step cuts, Poisson), ``cut_mean`` (each cut lowers the price by this fraction on average, in [0, 1)),
  ``cut_volatility`` (sd of a cut's log size).
- ``efficiency``: ``arrival_rate_per_year`` (Poisson arrivals of serving improvements), ``gain_per_arrival`` (each
  multiplies tokens per GPU-hour by 1 + gain).
- ``power_price``: ``volatility_per_year``, ``mean_reversion_per_year`` (log-OU around the base electricity price).
- ``floating_base_rate``: ``volatility_per_year`` (absolute: rate points per √year), ``mean_reversion_per_year``
  (Vasicek-style OU around the scenario's ``financing.floating_base_rate``); used only for floating-rate debt.
- ``tenant_default``: ``probability_per_year`` (annual default probability of the contract's tenant, in [0, 1],
  while the market rent is at its mean: hazard h0 = -ln(1 - p) per year), ``market_sensitivity`` (β ≥ 0: the
  hazard is h0 exp(−β x), x the log market-rent multiplier, so a market at half its mean rent multiplies it by
  2^β; 0 = default independent of the market). After a default the contracted GPUs stand vacant for
  ``contract.vacancy_lag_months`` and are then re-let at market × spot utilisation, at a one-off cost of
  ``contract.reletting_cost_months_of_rent`` (the cash-flow engine's rule).
- ``correlation``: ``drivers`` (a list of names from :data:`CORRELATED_DRIVERS`) and ``matrix`` (the correlation of
  their Gaussian shocks, symmetric with unit diagonal, positive definite). Drivers not listed are independent.
  Jumps and efficiency arrivals are independent of everything; the default hazard depends on the market rent
  through ``tenant_default.market_sensitivity`` only.
- ``ranges``: low/high (and a distribution) of scenario inputs for ``tokensim sensitivity``; the Monte Carlo ignores
  it. Schema and validation: :mod:`tokensim.sensitivity`.

Drifts (``growth_per_year``, ``trend_per_year``) move the centre of the distribution away from the deterministic
case on purpose; :meth:`Uncertainty.zeroed` sets them to zero along with every volatility, intensity and probability.
The exact monthly equations are in :mod:`tokensim.montecarlo._drivers`.

Residual value has no parameters of its own: the cash-flow engine values the cluster at the horizon from the path's
market rent (percent-of-cost method) or token price × efficiency and power price (economic method).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Annotated, Any

import numpy as np
from pydantic import Field, model_validator

from .._errors import did_you_mean
from ._spec import Invalid, Number, SchemaSection, Source, validate_document
from .types import Scenario

__all__ = [
    "CORRELATED_DRIVERS", "MarketRent", "Utilisation", "TokenVolume", "TokenPrice", "EfficiencyGains", "PowerPrice",
    "FloatingBaseRate", "TenantDefault", "Uncertainty", "parse_uncertainty", "load_uncertainty",
]

# Drivers with Gaussian shocks, in the order of the shock vector e0..e5 (and of the Philox normal streams: stream s
# carries e_{2s} and e_{2s+1}, see tokensim.montecarlo._drivers). Pairs that are often relevant together share a stream.
CORRELATED_DRIVERS = ("market_rent", "utilisation", "power_price", "floating_base_rate", "token_volume",
                      "token_price")

# Upper bounds: far beyond any plausible market, they catch unit slips (a volatility of 30 meant as 30 %).
_MAX_LOG_VOLATILITY = 5.0
_MAX_RATE_VOLATILITY = 0.5
_MAX_MEAN_REVERSION = 100.0
_MAX_DRIFT = 5.0
# Ten events a month at most: the Poisson tables of tokensim.montecarlo._drivers stay short (see
# _drivers.POISSON_MAX_COUNT).
_MAX_INTENSITY = 120.0
_MAX_JUMP_MEAN = 10.0


@dataclass(frozen=True)
class MarketRent:
    volatility_per_year: float = 0.0
    mean_reversion_per_year: float = 0.0
    jump_intensity_per_year: float = 0.0
    jump_mean: float = 0.0
    jump_volatility: float = 0.0
    source: str = ""


@dataclass(frozen=True)
class Utilisation:
    volatility_per_year: float = 0.0
    mean_reversion_per_year: float = 0.0
    source: str = ""


@dataclass(frozen=True)
class TokenVolume:
    growth_per_year: float = 0.0
    volatility_per_year: float = 0.0
    source: str = ""


@dataclass(frozen=True)
class TokenPrice:
    trend_per_year: float = 0.0
    volatility_per_year: float = 0.0
    cut_intensity_per_year: float = 0.0
    cut_mean: float = 0.0
    cut_volatility: float = 0.0
    source: str = ""


@dataclass(frozen=True)
class EfficiencyGains:
    arrival_rate_per_year: float = 0.0
    gain_per_arrival: float = 0.0
    source: str = ""


@dataclass(frozen=True)
class PowerPrice:
    volatility_per_year: float = 0.0
    mean_reversion_per_year: float = 0.0
    source: str = ""


@dataclass(frozen=True)
class FloatingBaseRate:
    volatility_per_year: float = 0.0
    mean_reversion_per_year: float = 0.0
    source: str = ""


@dataclass(frozen=True)
class TenantDefault:
    probability_per_year: float = 0.0
    market_sensitivity: float = 0.0
    source: str = ""


# Fields that make a driver random (set to zero by Uncertainty.zeroed); the others shape it.
_RANDOM_FIELDS = {
    "volatility_per_year", "jump_intensity_per_year", "cut_intensity_per_year", "arrival_rate_per_year",
    "probability_per_year", "growth_per_year", "trend_per_year",
}


@dataclass(frozen=True)
class Uncertainty:
    """The validated ``uncertainty:`` section. ``correlation`` is the full 6×6 matrix over
    :data:`CORRELATED_DRIVERS` (identity where the file says nothing)."""

    market_rent: MarketRent = MarketRent()
    utilisation: Utilisation = Utilisation()
    token_volume: TokenVolume = TokenVolume()
    token_price: TokenPrice = TokenPrice()
    efficiency: EfficiencyGains = EfficiencyGains()
    power_price: PowerPrice = PowerPrice()
    floating_base_rate: FloatingBaseRate = FloatingBaseRate()
    tenant_default: TenantDefault = TenantDefault()
    correlation: tuple[tuple[float, ...], ...] = field(
        default_factory=lambda: tuple(tuple(float(i == j) for j in range(6)) for i in range(6)))
    assumptions: tuple[dict, ...] = ()

    def cholesky(self) -> np.ndarray:
        """Lower Cholesky factor L of the correlation (L Lᵀ = C): correlated shocks are z = L e."""
        return np.linalg.cholesky(np.array(self.correlation, dtype=float))

    def zeroed(self) -> Uncertainty:
        """The same section with every volatility, drift, jump intensity and probability at zero: the drivers then
        equal the deterministic scenario's exactly."""
        parts = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("correlation", "assumptions"):
                continue
            parts[f.name] = replace(value, **{g.name: 0.0 for g in fields(value) if g.name in _RANDOM_FIELDS})
        return replace(self, **parts)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "correlation":
                out[f.name] = {"drivers": list(CORRELATED_DRIVERS), "matrix": [list(row) for row in value]}
            elif f.name == "assumptions":
                out[f.name] = [dict(a) for a in value]
            else:
                out[f.name] = {g.name: getattr(value, g.name) for g in fields(value)}
        return out


# -- the declared schema ------------------------------------------------------------------------------------------
def _rate(low: float, high: float, unit: str, low_open: bool = False, high_open: bool = False) -> Number:
    return Number(low, high, low_open, high_open, unit=unit, default=0.0)


_VOL = _rate(0.0, _MAX_LOG_VOLATILITY, "of log value per sqrt(year)")
_REVERSION = _rate(0.0, _MAX_MEAN_REVERSION, "per year")
_INTENSITY = _rate(0.0, _MAX_INTENSITY, "events per year")
_DRIFT = _rate(-_MAX_DRIFT, _MAX_DRIFT, "of log value per year")
_SIZE = _rate(-1.0, _MAX_JUMP_MEAN, "fraction", low_open=True)


class _Driver(SchemaSection):
    source: Annotated[str, Source()] | None = Field(None)


class MarketRentSchema(_Driver):
    volatility_per_year: Annotated[float, _VOL] | None = Field(None)
    mean_reversion_per_year: Annotated[float, _REVERSION] | None = Field(None)
    jump_intensity_per_year: Annotated[float, _INTENSITY] | None = Field(None)
    jump_mean: Annotated[float, _SIZE] | None = Field(None)
    jump_volatility: Annotated[float, _VOL] | None = Field(None)


class UtilisationSchema(_Driver):
    # logit units are wider than log units
    volatility_per_year: Annotated[float, _rate(0.0, _MAX_LOG_VOLATILITY * 4, "of logit per sqrt(year)")] | None \
        = Field(None)
    mean_reversion_per_year: Annotated[float, _REVERSION] | None = Field(None)


class TokenVolumeSchema(_Driver):
    growth_per_year: Annotated[float, _DRIFT] | None = Field(None)
    volatility_per_year: Annotated[float, _VOL] | None = Field(None)


class TokenPriceSchema(_Driver):
    trend_per_year: Annotated[float, _DRIFT] | None = Field(None)
    volatility_per_year: Annotated[float, _VOL] | None = Field(None)
    cut_intensity_per_year: Annotated[float, _INTENSITY] | None = Field(None)
    cut_mean: Annotated[float, _rate(0.0, 1.0, "fraction of the price", high_open=True)] | None = Field(None)
    cut_volatility: Annotated[float, _VOL] | None = Field(None)


class EfficiencySchema(_Driver):
    arrival_rate_per_year: Annotated[float, _INTENSITY] | None = Field(None)
    gain_per_arrival: Annotated[float, _SIZE] | None = Field(None)


class PowerPriceSchema(_Driver):
    volatility_per_year: Annotated[float, _VOL] | None = Field(None)
    mean_reversion_per_year: Annotated[float, _REVERSION] | None = Field(None)


class FloatingBaseRateSchema(_Driver):
    volatility_per_year: Annotated[float, _rate(0.0, _MAX_RATE_VOLATILITY, "rate points per sqrt(year)")] | None \
        = Field(None)
    mean_reversion_per_year: Annotated[float, _REVERSION] | None = Field(None)


_MAX_DEFAULT_SENSITIVITY = 10.0  # a market at half its mean rent would multiply the hazard by 2**10: a unit slip


class TenantDefaultSchema(_Driver):
    probability_per_year: Annotated[float, _rate(0.0, 1.0, "probability per year")] | None = Field(None)
    market_sensitivity: Annotated[float, Number(
        0.0, _MAX_DEFAULT_SENSITIVITY, unit="hazard elasticity to the market-rent multiplier (h = h0 exp(-beta x))",
        default=0.0, why="assumption: 0 keeps default independent of the market (the scenario sets its own)")] \
        | None = Field(None)


# Tolerances for the correlation matrix as typed in YAML (a few decimals): symmetric and unit diagonal to 1e-9.
_SYMMETRY_TOLERANCE = 1e-9
_ENTRY = Number(-1.0, 1.0, unit="correlation")


def _correlation_matrix(names: list[Any], rows: list[Any]) -> tuple[tuple[float, ...], ...]:
    """The full matrix over :data:`CORRELATED_DRIVERS` from the listed drivers' rows (identity elsewhere)."""
    full = np.eye(len(CORRELATED_DRIVERS))
    for i, name in enumerate(names):
        if name not in CORRELATED_DRIVERS:
            raise Invalid(f"one of {', '.join(CORRELATED_DRIVERS)}", did_you_mean(str(name), CORRELATED_DRIVERS),
                          key=f"drivers[{i}]", value=name)
        if name in names[:i]:
            raise Invalid("each driver listed once", key=f"drivers[{i}]", value=name)
    n = len(names)
    if len(rows) != n:
        raise Invalid(f"{n} rows (one per driver listed)", key="matrix", value=rows)
    matrix = np.empty((n, n))
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != n:
            raise Invalid(f"a list of {n} numbers", key=f"matrix[{i}]", value=row)
        for j, value in enumerate(row):
            try:
                matrix[i, j] = _ENTRY.check(value)
            except Invalid as exc:
                raise Invalid(exc.allowed, key=f"matrix[{i}][{j}]", value=value) from None
    for i in range(n):
        if abs(matrix[i, i] - 1.0) > _SYMMETRY_TOLERANCE:
            raise Invalid("1 on the diagonal (a driver's correlation with itself)", key=f"matrix[{i}][{i}]",
                          value=matrix[i, i])
        for j in range(i):
            if abs(matrix[i, j] - matrix[j, i]) > _SYMMETRY_TOLERANCE:
                raise Invalid(f"a symmetric matrix: [{j}][{i}] is {matrix[j, i]!r}", key=f"matrix[{i}][{j}]",
                              value=matrix[i, j])
    matrix = (matrix + matrix.T) / 2.0
    np.fill_diagonal(matrix, 1.0)
    try:
        np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        smallest = float(np.linalg.eigvalsh(matrix)[0])
        raise Invalid(f"a positive definite correlation matrix (Cholesky factorisation failed; smallest "
                      f"eigenvalue {smallest:.3g}: some correlations contradict each other, or two drivers "
                      f"are perfectly correlated)", key="matrix",
                      value=[list(map(float, r)) for r in matrix]) from None
    index = [CORRELATED_DRIVERS.index(name) for name in names]
    full[np.ix_(index, index)] = matrix
    return tuple(tuple(float(x) for x in row) for row in full)


class CorrelationSchema(SchemaSection):
    drivers: list[Any]
    matrix: list[Any]
    source: Annotated[str, Source()] | None = Field(None)

    @model_validator(mode="after")
    def _matrix(self) -> CorrelationSchema:
        _correlation_matrix(self.drivers, self.matrix)
        return self


# The drivers in the order of their assumptions, each with its dataclass.
_DRIVERS: dict[str, tuple[type, type[_Driver]]] = {
    "market_rent": (MarketRent, MarketRentSchema), "utilisation": (Utilisation, UtilisationSchema),
    "token_volume": (TokenVolume, TokenVolumeSchema), "token_price": (TokenPrice, TokenPriceSchema),
    "efficiency": (EfficiencyGains, EfficiencySchema), "power_price": (PowerPrice, PowerPriceSchema),
    "floating_base_rate": (FloatingBaseRate, FloatingBaseRateSchema),
    "tenant_default": (TenantDefault, TenantDefaultSchema),
}
ABSENT_WHY = "no uncertainty given: this driver stays at the deterministic scenario's value"


class UncertaintySchema(SchemaSection):
    """The ``uncertainty:`` section; ``ranges`` is validated by :mod:`tokensim.sensitivity`."""

    market_rent: MarketRentSchema | None = Field(None)
    utilisation: UtilisationSchema | None = Field(None)
    token_volume: TokenVolumeSchema | None = Field(None)
    token_price: TokenPriceSchema | None = Field(None)
    efficiency: EfficiencySchema | None = Field(None)
    power_price: PowerPriceSchema | None = Field(None)
    floating_base_rate: FloatingBaseRateSchema | None = Field(None)
    tenant_default: TenantDefaultSchema | None = Field(None)
    correlation: CorrelationSchema | None = Field(None)
    ranges: Any = Field(None)


def parse_uncertainty(data: Any, file: str | None = None) -> Uncertainty:
    """Validate a raw ``uncertainty:`` mapping (as carried by :attr:`Scenario.uncertainty`), every error at once.

    Parameters
    ----------
    data : Any
        The section as parsed from YAML (None or an empty mapping: no uncertainty).
    file : str, optional
        The file it came from, named in messages.

    Returns
    -------
    Uncertainty
        The validated drivers and the full correlation matrix; each absent driver is listed in ``assumptions``.

    Raises
    ------
    ConfigError
        One error with its historical message, or a :class:`~tokensim.ConfigErrors` listing every error.
    """
    m = validate_document(UncertaintySchema, data, file, prefix="uncertainty")
    assumptions: list[dict] = []
    parts = {}
    for name, (cls, _) in _DRIVERS.items():
        driver = getattr(m, name)
        if driver is None:
            assumptions.append({"field": f"uncertainty.{name}", "value": "absent", "why": ABSENT_WHY})
            parts[name] = cls()
        else:
            parts[name] = cls(**{key: getattr(driver, key) for key in type(driver).model_fields
                                 if getattr(driver, key) is not None})
    full = (tuple(tuple(float(i == j) for j in range(len(CORRELATED_DRIVERS))) for i in range(len(CORRELATED_DRIVERS)))
            if m.correlation is None else _correlation_matrix(m.correlation.drivers, m.correlation.matrix))
    return Uncertainty(**parts, correlation=full, assumptions=tuple(assumptions))


def load_uncertainty(scenario: Scenario) -> Uncertainty:
    """The validated uncertainty of a loaded scenario; errors name the scenario file and the field."""
    return parse_uncertainty(scenario.uncertainty, scenario.file)
