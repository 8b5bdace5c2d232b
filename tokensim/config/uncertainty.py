"""The ``uncertainty:`` section of a scenario: what the Monte Carlo varies, validated field by field.

Every part is optional; a driver that is absent (or whose volatilities, intensities and probabilities are all zero)
stays at the deterministic scenario's value, so with nothing given the Monte Carlo equals ``tokensim finance``.
Errors name the file, the field path (``uncertainty.market_rent.volatility_per_year``), the value and the range.

Schema (all numbers per year where the key says so; ``source`` is an optional free-text citation per driver):

- ``market_rent``: ``volatility_per_year`` (of log rent), ``mean_reversion_per_year`` (κ of the log-OU around the
  contract's deterministic market-rent trend), ``jump_intensity_per_year`` (scarcity jumps, Poisson),
  ``jump_mean`` (each jump raises the rent by this fraction on average: log size ln(1 + jump_mean)),
  ``jump_volatility`` (sd of a jump's log size). Jumps then decay with the mean reversion.
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
- ``tenant_default``: ``probability_per_year`` (annual default probability of the contract's tenant, in [0, 1];
  constant hazard -ln(1 - p) per year). After a default the contracted GPUs stand vacant for
  ``contract.vacancy_lag_months`` and are then re-let at market (the cash-flow engine's rule).
- ``correlation``: ``drivers`` (a list of names from :data:`CORRELATED_DRIVERS`) and ``matrix`` (the correlation of
  their Gaussian shocks, symmetric with unit diagonal, positive definite). Drivers not listed are independent.
  Jumps, efficiency arrivals and the default time are independent of everything.
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
from typing import Any

import numpy as np

from .._errors import ConfigError, did_you_mean
from ._yaml import Section, check_number
from .types import Scenario

__all__ = [
    "CORRELATED_DRIVERS", "MarketRent", "Utilisation", "TokenVolume", "TokenPrice", "Efficiency", "PowerPrice",
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
# Ten events a month at most: the Poisson tables of tokensim.montecarlo._drivers stay short (see _drivers.POISSON_MAX_COUNT).
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
class Efficiency:
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
    efficiency: Efficiency = Efficiency()
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


# (class, {key: (low, high, low_open, high_open)})
_SCHEMA: dict[str, tuple[type, dict[str, tuple]]] = {
    "market_rent": (MarketRent, {
        "volatility_per_year": (0.0, _MAX_LOG_VOLATILITY, False, False),
        "mean_reversion_per_year": (0.0, _MAX_MEAN_REVERSION, False, False),
        "jump_intensity_per_year": (0.0, _MAX_INTENSITY, False, False),
        "jump_mean": (-1.0, _MAX_JUMP_MEAN, True, False),
        "jump_volatility": (0.0, _MAX_LOG_VOLATILITY, False, False),
    }),
    "utilisation": (Utilisation, {
        "volatility_per_year": (0.0, _MAX_LOG_VOLATILITY * 4, False, False),  # logit units are wider than log units
        "mean_reversion_per_year": (0.0, _MAX_MEAN_REVERSION, False, False),
    }),
    "token_volume": (TokenVolume, {
        "growth_per_year": (-_MAX_DRIFT, _MAX_DRIFT, False, False),
        "volatility_per_year": (0.0, _MAX_LOG_VOLATILITY, False, False),
    }),
    "token_price": (TokenPrice, {
        "trend_per_year": (-_MAX_DRIFT, _MAX_DRIFT, False, False),
        "volatility_per_year": (0.0, _MAX_LOG_VOLATILITY, False, False),
        "cut_intensity_per_year": (0.0, _MAX_INTENSITY, False, False),
        "cut_mean": (0.0, 1.0, False, True),
        "cut_volatility": (0.0, _MAX_LOG_VOLATILITY, False, False),
    }),
    "efficiency": (Efficiency, {
        "arrival_rate_per_year": (0.0, _MAX_INTENSITY, False, False),
        "gain_per_arrival": (-1.0, _MAX_JUMP_MEAN, True, False),
    }),
    "power_price": (PowerPrice, {
        "volatility_per_year": (0.0, _MAX_LOG_VOLATILITY, False, False),
        "mean_reversion_per_year": (0.0, _MAX_MEAN_REVERSION, False, False),
    }),
    "floating_base_rate": (FloatingBaseRate, {
        "volatility_per_year": (0.0, _MAX_RATE_VOLATILITY, False, False),
        "mean_reversion_per_year": (0.0, _MAX_MEAN_REVERSION, False, False),
    }),
    "tenant_default": (TenantDefault, {
        "probability_per_year": (0.0, 1.0, False, False),
    }),
}

# Tolerances for the correlation matrix as typed in YAML (a few decimals): symmetric and unit diagonal to 1e-9.
_SYMMETRY_TOLERANCE = 1e-9


def _driver(sec: Section, name: str, assumptions: list[dict]):
    cls, keys = _SCHEMA[name]
    if name not in sec:
        assumptions.append({"field": sec.field(name), "value": "absent",
                            "why": "no uncertainty given: this driver stays at the deterministic scenario's value"})
        return cls()
    sub = sec.section(name)
    sub.check_keys((*keys, "source"))
    values: dict[str, Any] = {}
    for key, (low, high, low_open, high_open) in keys.items():
        if key in sub:
            values[key] = sub.number(key, low=low, high=high, low_open=low_open, high_open=high_open)
    if "source" in sub:
        values["source"] = sub.source("source")
    return cls(**values)


def _correlation(sec: Section) -> tuple[tuple[float, ...], ...]:
    full = np.eye(len(CORRELATED_DRIVERS))
    if "correlation" not in sec:
        return tuple(tuple(float(x) for x in row) for row in full)
    corr = sec.section("correlation")
    corr.check_keys(("drivers", "matrix", "source"))
    names = corr.items("drivers")
    for i, name in enumerate(names):
        if name not in CORRELATED_DRIVERS:
            raise ConfigError(corr.file, f"{corr.field('drivers')}[{i}]", name,
                              f"one of {', '.join(CORRELATED_DRIVERS)}", did_you_mean(str(name), CORRELATED_DRIVERS))
        if name in names[:i]:
            raise ConfigError(corr.file, f"{corr.field('drivers')}[{i}]", name, "each driver listed once")
    rows = corr.items("matrix")
    n = len(names)
    if len(rows) != n:
        raise corr.error("matrix", rows, f"{n} rows (one per driver listed)")
    matrix = np.empty((n, n))
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != n:
            raise ConfigError(corr.file, f"{corr.field('matrix')}[{i}]", row, f"a list of {n} numbers")
        for j, value in enumerate(row):
            matrix[i, j] = check_number(value, corr.file, f"{corr.field('matrix')}[{i}][{j}]", low=-1.0, high=1.0)
    for i in range(n):
        if abs(matrix[i, i] - 1.0) > _SYMMETRY_TOLERANCE:
            raise ConfigError(corr.file, f"{corr.field('matrix')}[{i}][{i}]", matrix[i, i],
                              "1 on the diagonal (a driver's correlation with itself)")
        for j in range(i):
            if abs(matrix[i, j] - matrix[j, i]) > _SYMMETRY_TOLERANCE:
                raise ConfigError(corr.file, f"{corr.field('matrix')}[{i}][{j}]", matrix[i, j],
                                  f"a symmetric matrix: [{j}][{i}] is {matrix[j, i]!r}")
    matrix = (matrix + matrix.T) / 2.0
    np.fill_diagonal(matrix, 1.0)
    try:
        np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        smallest = float(np.linalg.eigvalsh(matrix)[0])
        raise corr.error("matrix", [list(map(float, r)) for r in matrix],
                         f"a positive definite correlation matrix (Cholesky factorisation failed; smallest "
                         f"eigenvalue {smallest:.3g}: some correlations contradict each other, or two drivers "
                         f"are perfectly correlated)") from None
    index = [CORRELATED_DRIVERS.index(name) for name in names]
    full[np.ix_(index, index)] = matrix
    return tuple(tuple(float(x) for x in row) for row in full)


def parse_uncertainty(data: Any, file: str | None = None) -> Uncertainty:
    """Validate a raw ``uncertainty:`` mapping (as carried by :attr:`Scenario.uncertainty`)."""
    sec = Section(data, file, "uncertainty")
    sec.check_keys((*_SCHEMA, "correlation", "ranges"))  # ranges: validated by tokensim.sensitivity
    assumptions: list[dict] = []
    parts = {name: _driver(sec, name, assumptions) for name in _SCHEMA}
    return Uncertainty(**parts, correlation=_correlation(sec), assumptions=tuple(assumptions))


def load_uncertainty(scenario: Scenario) -> Uncertainty:
    """The validated uncertainty of a loaded scenario; errors name the scenario file and the field."""
    return parse_uncertainty(scenario.uncertainty, scenario.file)
