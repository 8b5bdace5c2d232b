"""Marking a GPU to its tokens (issue 14, items 3 and 4): the economic value of a block of GPUs at a date, the
residual a lender could lend against, the shutdown point, and a company lens (a reverse DCF).

A stage: typed inputs only (:class:`ValuationBlock`, :class:`ValuationMarket`), no scenario;
``tokensim.resolve.valuation`` builds them and :func:`tokensim.api.run_valuation` runs it end to end.

Value of one GPU at the valuation date (``as_of``), in the block's currency::

    value = Σ_{k=1..n} max(0, busy × E_k − cash) × 730 × (1 + i)^−k

- ``n``: months of life left = life_years × 12 − age in months (at least 0);
- ``i``: the monthly equivalent of the annual discount rate (``tokensim._units.monthly_rate``);
- ``E_k``: what a busy GPU-hour earns in month k by the block's basis: ``rent`` = market rent per GPU-hour ×
  (1 + rent change); ``tokens`` = tokens/s per GPU × 3,600 / 10^6 × blended token price per million × (1 + token
  price change); ``better`` (default) = the larger of the two, i.e. the GPU's best use: let it out, or serve tokens
  on it. Both decline by ``(1 − decline_per_year)^(years after the next generation's arrival)`` once the next
  generation has arrived (counted from the valuation date: a decline already in today's rent is not counted twice);
- ``cash``: the cash cost per installed GPU-hour (power, space, operations) at the busy share;
- ``max(0, ·)``: a GPU that no longer covers its cash cost is switched off (the earnings decline, so it stays off).

The token price is *blended*: the price per million tokens of the workload's mix (input and output together, as
:class:`tokensim.cost.TokenCost` ``blended`` is the cost of the mix per million tokens of the mix), and the
throughput is the mix's tokens/s per GPU (input + output) at the market's per-user speed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from ._errors import ParameterError
from ._units import HOURS_PER_MONTH, SECONDS_PER_HOUR, monthly_rate
from .cost import TOKENS_PER_MILLION
from .finance import annuity_factor, percent_of_cost_at
from .montecarlo import normals

__all__ = ["BASES", "VALUATION_DEFINITIONS", "BlockValue", "ValuationBlock", "ValuationMarket", "ValuationResult",
           "book_value_per_gpu", "implied_flat_rent", "implied_rent_scale", "months_between", "shutdown_rent",
           "shutdown_token_price", "valuate", "value_per_gpu", "reading"]

BASES = ("better", "rent", "tokens")

# Streams of the lender's Monte Carlo (counter-based Philox, tokensim.montecarlo): one draw of two normals per path.
_STREAM_VALUATION = 101
_MONTH_VALUATION = 0

VALUATION_DEFINITIONS: dict[str, str] = {
    "value_per_gpu": "present value per GPU of max(0, busy share x earnings per busy GPU-hour - cash cost per "
                     "installed GPU-hour) x 730 h a month over the months of life left, at the monthly equivalent "
                     "of the annual discount rate, month-end",
    "book_value_per_gpu": "cost per GPU x max(0, 1 - age / life): straight line to zero over the life",
    "percent_of_cost_value_per_gpu": "cost per GPU x the residual curve's share at the age (linear between its "
                                     "points, flat beyond its ends)",
    "lendable_value_per_gpu": "the value per GPU exceeded on 90% of Monte Carlo paths (the 10th percentile) over a "
                              "level shock to both earnings routes and an uncertain decline rate",
    "shutdown_rent_per_gpu_hour": "cash cost per installed GPU-hour / busy share: the rent below which a GPU does "
                                  "not cover its cash cost",
    "shutdown_token_price_per_million": "cash cost per installed GPU-hour / (busy share x tokens/s x 3,600 / 1e6): "
                                        "the blended token price below which serving tokens does not cover it",
    "implied_flat_rent_per_gpu_hour": "the flat rent R with sum over blocks of gpus x 730 x annuity(i, months "
                                      "left) x (busy x R - cash) = enterprise value: no decline, no shutdown",
    "implied_rent_scale": "the factor k on every block's market rent (its decline and shutdown kept, rent basis) at "
                          "which the fleet's value equals the enterprise value",
    "usage_linked_value_share": "(fleet value on the block bases - fleet value on rent alone) / fleet value: the "
                                "share of the value owed to serving tokens (usage-linked revenue)",
    "fleet_value_before_changes": "the fleet's value with no rent or token-price change",
    "operating_leverage": "present value of revenue / value: the % change in value per 1% change in every "
                          "earnings rate (cash costs fixed)",
}


@dataclass(frozen=True)
class ValuationBlock:
    """One block of identical GPUs: what the valuation needs (money in ``currency``).

    Attributes
    ----------
    hardware : str
        Catalogue name (the generation).
    gpus : float
        GPUs in the block.
    in_service : str
        Month it entered service, ``YYYY-MM``.
    cost_per_gpu : float
        Original cost per GPU (capex, all-in), for the book value and the percent-of-cost curve.
    tokens_per_s_per_gpu : float
        The workload mix's tokens/s per GPU (input + output) at the market's per-user speed (``tokensim.perf``).
    market_rent_per_gpu_hour : float
        The market rent of this generation per rented GPU-hour, today.
    power_per_gpu_hour, space_per_gpu_hour, operations_per_gpu_hour : float
        Cash costs per installed GPU-hour at the busy share: power; facility (space); operations, maintenance and
        insurance.
    next_generation : str
        Month the next generation arrives (``YYYY-MM``): the earnings decline after it.
    currency : str
        ISO code of the money fields.
    """

    hardware: str
    gpus: float
    in_service: str
    cost_per_gpu: float
    tokens_per_s_per_gpu: float
    market_rent_per_gpu_hour: float
    power_per_gpu_hour: float
    space_per_gpu_hour: float
    operations_per_gpu_hour: float
    next_generation: str
    currency: str

    @property
    def cash_cost_per_gpu_hour(self) -> float:
        return self.power_per_gpu_hour + self.space_per_gpu_hour + self.operations_per_gpu_hour


@dataclass(frozen=True)
class ValuationMarket:
    """The market and the valuation's terms.

    Attributes
    ----------
    as_of : str
        Valuation month, ``YYYY-MM``.
    token_price_per_million : float
        Blended market token price per million tokens of the mix (currency of the blocks).
    busy_share : float
        Share of installed hours that earn, in (0, 1].
    discount_rate : float
        Annual discount rate (fraction).
    life_years : float
        Life of a GPU from its in-service month (years): the book life and the earning life.
    decline_per_year : float
        Fall per year of both earnings routes after the next generation arrives, in [0, 1).
    rent_change, token_price_change : float
        Deterministic moves of the market rent and the token price (fractions, above -1).
    basis : str
        ``better`` (the larger of rent and token earnings), ``rent`` or ``tokens``.
    percent_of_cost_by_age : tuple of (age years, share) pairs
        The scenario's residual curve.
    level_volatility : float
        Standard deviation of the log level shock on both earnings routes (lender's Monte Carlo).
    decline_volatility : float
        Standard deviation of the decline rate across paths (clipped to [0, 0.95]).
    paths : int
        Monte Carlo paths (0: no Monte Carlo).
    seed : int
        Philox seed.
    """

    as_of: str
    token_price_per_million: float
    busy_share: float
    discount_rate: float
    life_years: float
    decline_per_year: float
    rent_change: float = 0.0
    token_price_change: float = 0.0
    basis: str = "better"
    percent_of_cost_by_age: tuple[tuple[float, float], ...] = ((0.0, 1.0),)
    level_volatility: float = 0.0
    decline_volatility: float = 0.0
    paths: int = 0
    seed: int = 0


def _month_index(month: str, name: str) -> int:
    try:
        year_text, month_text = month.split("-")
        year, m = int(year_text), int(month_text)
        if len(year_text) != 4 or len(month_text) != 2 or not 1 <= m <= 12:
            raise ValueError
    except (ValueError, AttributeError):
        raise ParameterError(name, f"{month!r}: allowed: a month YYYY-MM, e.g. 2023-06") from None
    return year * 12 + m - 1


def months_between(start: str, end: str) -> int:
    """Whole months from ``start`` to ``end`` (both ``YYYY-MM``); negative when ``end`` is earlier."""
    return _month_index(end, "end") - _month_index(start, "start")


def _check(market: ValuationMarket) -> None:
    m = market
    checks = (("busy_share", m.busy_share, 0.0 < m.busy_share <= 1.0, "a share in (0, 1]"),
              ("life_years", m.life_years, 0.0 < m.life_years <= 30.0, "years in (0, 30]"),
              ("decline_per_year", m.decline_per_year, 0.0 <= m.decline_per_year < 1.0, "a fraction in [0, 1)"),
              ("rent_change", m.rent_change, m.rent_change > -1.0, "a fraction above -1"),
              ("token_price_change", m.token_price_change, m.token_price_change > -1.0, "a fraction above -1"),
              ("discount_rate", m.discount_rate, -0.5 < m.discount_rate <= 1.0, "a rate in (-0.5, 1]"),
              ("token_price_per_million", m.token_price_per_million, m.token_price_per_million >= 0.0,
               "a price >= 0"))
    for name, value, ok, allowed in checks:
        if not (isinstance(value, (int, float)) and math.isfinite(value) and ok):
            raise ParameterError(name, f"{value!r}: allowed: {allowed}")
    if m.basis not in BASES:
        raise ParameterError("basis", f"{m.basis!r}: allowed: {', '.join(BASES)}")
    _month_index(m.as_of, "as_of")


def book_value_per_gpu(cost_per_gpu: float, age_years: float, life_years: float) -> float:
    """Straight-line book value: ``cost × max(0, 1 − age / life)`` (age clipped at 0)."""
    return cost_per_gpu * max(0.0, 1.0 - max(0.0, age_years) / life_years)


def shutdown_rent(block: ValuationBlock, busy_share: float) -> float:
    """The rent per rented GPU-hour at which a GPU just covers its cash cost: ``cash / busy``."""
    return block.cash_cost_per_gpu_hour / busy_share


def shutdown_token_price(block: ValuationBlock, busy_share: float) -> float:
    """The blended token price per million at which serving tokens just covers the cash cost:
    ``cash / (busy × tokens/s × 3,600 / 10^6)``; infinite for a block that serves no tokens."""
    per_million_hour = busy_share * block.tokens_per_s_per_gpu * SECONDS_PER_HOUR / TOKENS_PER_MILLION
    return block.cash_cost_per_gpu_hour / per_million_hour if per_million_hour > 0 else math.inf


def _earnings_today(block: ValuationBlock, market: ValuationMarket, basis: str | None = None) -> tuple[float, ...]:
    """(earnings per busy GPU-hour on the basis, rent route, token route), today, after the stated moves."""
    rent = block.market_rent_per_gpu_hour * (1.0 + market.rent_change)
    tokens = (block.tokens_per_s_per_gpu * SECONDS_PER_HOUR / TOKENS_PER_MILLION * market.token_price_per_million
              * (1.0 + market.token_price_change))
    return _route(rent, tokens, basis or market.basis), rent, tokens


def _route(rent: float, tokens: float, basis: str) -> float:
    """Earnings per busy GPU-hour on a basis: the better of rent and tokens, or one of them."""
    return max(rent, tokens) if basis == "better" else rent if basis == "rent" else tokens


def _months_left(block: ValuationBlock, market: ValuationMarket, age_months: int | None) -> tuple[int, int]:
    age = months_between(block.in_service, market.as_of) if age_months is None else age_months
    return age, max(0, int(round(market.life_years * 12)) - max(0, age))


def value_per_gpu(block: ValuationBlock, market: ValuationMarket, *, age_months: int | None = None,
                  basis: str | None = None, level=1.0, decline_per_year=None, rent_scale: float = 1.0,
                  parts: bool = False) -> Any:
    """The economic value of one GPU of ``block`` at ``market.as_of`` (see the module docstring).

    Parameters
    ----------
    block, market : ValuationBlock, ValuationMarket
    age_months : int, optional
        Value it as if it were this old today (default: its age from ``in_service``).
    basis : str, optional
        Override the market's basis.
    level : float or array
        Multiplier on both earnings routes (Monte Carlo paths broadcast along it).
    decline_per_year : float or array, optional
        Override the decline rate (paths broadcast).
    rent_scale : float
        Multiplier on the rent route only (the reverse DCF's scale).
    parts : bool
        Also return the present values of revenue and of cash cost over the months the GPU runs, and those months.

    Returns
    -------
    float or array (or a (value, revenue, cost, months running) tuple with ``parts``)
    """
    _, n = _months_left(block, market, age_months)
    level = np.atleast_1d(np.asarray(level, dtype=float))
    d = np.atleast_1d(np.asarray(market.decline_per_year if decline_per_year is None else decline_per_year,
                                 dtype=float))
    _, rent, tokens = _earnings_today(block, market)
    base = _route(rent * rent_scale, tokens, basis or market.basis)
    start = max(0, months_between(market.as_of, block.next_generation))
    k = np.arange(1, n + 1, dtype=float)
    years_declining = np.maximum(0.0, k - start) / 12.0
    decline = (1.0 - d[:, None]) ** years_declining[None, :]  # paths x months
    earnings = base * level[:, None] * decline * market.busy_share
    cash = block.cash_cost_per_gpu_hour
    running = earnings > cash
    disc = (1.0 + monthly_rate(market.discount_rate)) ** (-k) * HOURS_PER_MONTH
    value = (np.where(running, earnings - cash, 0.0) * disc).sum(axis=1)
    scalar = level.size == 1 and d.size == 1
    out = float(value[0]) if scalar else value
    if not parts:
        return out
    revenue = (np.where(running, earnings, 0.0) * disc).sum(axis=1)
    cost = (np.where(running, cash, 0.0) * disc).sum(axis=1)
    months = running.sum(axis=1)
    if scalar:
        return out, float(revenue[0]), float(cost[0]), int(months[0])
    return out, revenue, cost, months


def implied_flat_rent(blocks: list[ValuationBlock], market: ValuationMarket, enterprise_value: float) -> float:
    """The flat rent per rented GPU-hour that an enterprise value implies over the fleet's remaining life.

    Closed form (a flat annuity per block; no decline, no shutdown)::

        EV = Σ_b g_b × 730 × a(i, n_b) × (busy × R − cash_b)
        R  = (EV / 730 + Σ_b g_b a_b cash_b) / (busy × Σ_b g_b a_b)

    with ``a(i, n) = (1 − (1 + i)^−n) / i`` the month-end annuity factor.
    """
    i = monthly_rate(market.discount_rate)
    weights = [(b.gpus * annuity_factor(i, _months_left(b, market, None)[1]), b.cash_cost_per_gpu_hour)
               for b in blocks]
    total = sum(w for w, _ in weights)
    if total <= 0:
        raise ParameterError("blocks", "have no life left at the valuation date: no rent can earn a value")
    return (enterprise_value / HOURS_PER_MONTH + sum(w * c for w, c in weights)) / (market.busy_share * total)


def implied_rent_scale(blocks: list[ValuationBlock], market: ValuationMarket, enterprise_value: float) -> float:
    """The factor on every block's market rent path (decline and shutdown kept, rent basis) whose fleet value equals
    ``enterprise_value``; NaN when no factor up to 1,000 reaches it. Bracketing solver: ``scipy.optimize.brentq``."""
    from scipy.optimize import brentq

    def gap(k: float) -> float:
        return sum(b.gpus * value_per_gpu(b, market, basis="rent", rent_scale=k) for b in blocks) - enterprise_value

    if enterprise_value <= 0:
        return 0.0
    hi = 1.0
    while gap(hi) < 0:
        hi *= 2.0
        if hi > 1000.0:
            return math.nan
    return float(brentq(gap, 0.0, hi, xtol=1e-12, rtol=1e-12))


@dataclass(frozen=True)
class BlockValue:
    """One block's figures (money per GPU in the block's currency unless named ``fleet``)."""

    hardware: str
    gpus: float
    in_service: str
    age_years: float
    months_left: int
    currency: str
    cost_per_gpu: float
    value_per_gpu: float
    value_share_of_cost: float
    book_value_per_gpu: float
    percent_of_cost_value_per_gpu: float
    lendable_value_per_gpu: float
    block_value: float
    rent_per_gpu_hour: float
    token_earnings_per_gpu_hour: float
    binding_route: str
    cash_cost_per_gpu_hour: float
    power_per_gpu_hour: float
    space_per_gpu_hour: float
    operations_per_gpu_hour: float
    tokens_per_s_per_gpu: float
    shutdown_rent_per_gpu_hour: float
    shutdown_token_price_per_million: float
    months_running: int
    value_by_age: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ValuationResult:
    """The valuation of a list of blocks: per block, the fleet total and the company lens."""

    as_of: str
    currency: str
    basis: str
    token_price_per_million: float
    rent_change: float
    token_price_change: float
    busy_share: float
    discount_rate: float
    life_years: float
    decline_per_year: float
    paths: int
    blocks: list[BlockValue]
    fleet_value: float
    fleet_value_before_changes: float
    fleet_book_value: float
    fleet_lendable_value: float
    usage_linked_value_share: float
    operating_leverage: float
    enterprise_value: float | None
    implied_flat_rent_per_gpu_hour: float | None
    implied_rent_scale: float | None
    reading: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["blocks"] = [b.to_dict() for b in self.blocks]
        return out

    def rows(self) -> list[dict[str, Any]]:
        """One row per block (its value-by-age curve left out)."""
        return [{k: v for k, v in b.to_dict().items() if k != "value_by_age"} for b in self.blocks]


def _lendable(block: ValuationBlock, market: ValuationMarket) -> float:
    """The 10th percentile of the value per GPU over ``market.paths`` Philox paths; the value itself with no paths."""
    if market.paths <= 0 or (market.level_volatility == 0 and market.decline_volatility == 0):
        return float(value_per_gpu(block, market))
    z0, z1 = normals(market.seed, _MONTH_VALUATION, _STREAM_VALUATION, np.arange(market.paths, dtype=np.uint64))
    s = market.level_volatility
    level = np.exp(s * z0 - 0.5 * s * s)  # mean-one lognormal level
    d = np.clip(market.decline_per_year + market.decline_volatility * z1, 0.0, 0.95)
    values = value_per_gpu(block, market, level=level, decline_per_year=d)
    return float(np.quantile(np.atleast_1d(values), 0.1))


def _block_value(block: ValuationBlock, market: ValuationMarket) -> BlockValue:
    age, n = _months_left(block, market, None)
    age_years = age / 12.0
    value = float(value_per_gpu(block, market))
    _, rent, tokens = _earnings_today(block, market)
    route = {"rent": "rent", "tokens": "tokens"}.get(market.basis, "tokens" if tokens > rent else "rent")
    cost = block.cost_per_gpu
    curve = []
    for a in range(int(math.ceil(market.life_years)) + 1):
        v = float(value_per_gpu(block, market, age_months=12 * a))
        curve.append({"age_years": float(a), "value_per_gpu": v,
                      "value_share_of_cost": v / cost if cost > 0 else math.nan,
                      "book_value_per_gpu": book_value_per_gpu(cost, a, market.life_years),
                      "percent_of_cost_value_per_gpu": cost * percent_of_cost_at(market.percent_of_cost_by_age, a)})
    return BlockValue(
        hardware=block.hardware, gpus=block.gpus, in_service=block.in_service, age_years=age_years, months_left=n,
        currency=block.currency, cost_per_gpu=cost, value_per_gpu=value,
        value_share_of_cost=value / cost if cost > 0 else math.nan,
        book_value_per_gpu=book_value_per_gpu(cost, age_years, market.life_years),
        percent_of_cost_value_per_gpu=cost * percent_of_cost_at(market.percent_of_cost_by_age, age_years),
        lendable_value_per_gpu=_lendable(block, market), block_value=value * block.gpus,
        rent_per_gpu_hour=rent, token_earnings_per_gpu_hour=tokens, binding_route=route,
        cash_cost_per_gpu_hour=block.cash_cost_per_gpu_hour, power_per_gpu_hour=block.power_per_gpu_hour,
        space_per_gpu_hour=block.space_per_gpu_hour, operations_per_gpu_hour=block.operations_per_gpu_hour,
        tokens_per_s_per_gpu=block.tokens_per_s_per_gpu,
        shutdown_rent_per_gpu_hour=shutdown_rent(block, market.busy_share),
        shutdown_token_price_per_million=shutdown_token_price(block, market.busy_share),
        months_running=value_per_gpu(block, market, parts=True)[3], value_by_age=curve)


def valuate(blocks: list[ValuationBlock], market: ValuationMarket,
            enterprise_value: float | None = None) -> ValuationResult:
    """Value every block, the fleet, and (given an enterprise value) the rent it implies.

    Parameters
    ----------
    blocks : list of ValuationBlock
        One currency throughout.
    market : ValuationMarket
    enterprise_value : float, optional
        For the reverse DCF (currency of the blocks).

    Returns
    -------
    ValuationResult
        With its ``reading``: the reasons for the figure, sentences built from the numbers.
    """
    _check(market)
    if not blocks:
        raise ParameterError("blocks", "empty: allowed: at least one block")
    currencies = {b.currency for b in blocks}
    if len(currencies) != 1:
        raise ParameterError("blocks", f"mix currencies {sorted(currencies)}: allowed: one currency")
    for b in blocks:
        _month_index(b.in_service, "in_service")
        _month_index(b.next_generation, "next_generation")
        if not (b.gpus > 0 and math.isfinite(b.gpus)):
            raise ParameterError("gpus", f"{b.gpus!r}: allowed: a number > 0")
        for name in ("cost_per_gpu", "tokens_per_s_per_gpu", "market_rent_per_gpu_hour", "power_per_gpu_hour",
                     "space_per_gpu_hour", "operations_per_gpu_hour"):
            value = getattr(b, name)
            if not (math.isfinite(value) and value >= 0):
                raise ParameterError(name, f"{value!r}: allowed: a number >= 0 (block {b.hardware} {b.in_service})")
    values = [_block_value(b, market) for b in blocks]
    fleet_value = sum(v.block_value for v in values)
    unmoved = replace(market, rent_change=0.0, token_price_change=0.0)
    before = sum(b.gpus * value_per_gpu(b, unmoved) for b in blocks)
    rent_only = sum(b.gpus * value_per_gpu(b, market, basis="rent") for b in blocks)
    revenue = sum(b.gpus * value_per_gpu(b, market, parts=True)[1] for b in blocks)
    implied = scale = None
    if enterprise_value is not None:
        if not (math.isfinite(enterprise_value) and enterprise_value >= 0):
            raise ParameterError("enterprise_value", f"{enterprise_value!r}: allowed: a number >= 0")
        implied = implied_flat_rent(blocks, market, enterprise_value)
        scale = implied_rent_scale(blocks, market, enterprise_value)
    result = ValuationResult(
        as_of=market.as_of, currency=blocks[0].currency, basis=market.basis,
        token_price_per_million=market.token_price_per_million * (1.0 + market.token_price_change),
        rent_change=float(market.rent_change), token_price_change=float(market.token_price_change),
        busy_share=market.busy_share, discount_rate=market.discount_rate, life_years=market.life_years,
        decline_per_year=market.decline_per_year, paths=market.paths, blocks=values, fleet_value=fleet_value,
        fleet_value_before_changes=before,
        fleet_book_value=sum(v.book_value_per_gpu * v.gpus for v in values),
        fleet_lendable_value=sum(v.lendable_value_per_gpu * v.gpus for v in values),
        usage_linked_value_share=(fleet_value - rent_only) / fleet_value if fleet_value > 0 else 0.0,
        operating_leverage=revenue / fleet_value if fleet_value > 0 else math.nan,
        enterprise_value=enterprise_value, implied_flat_rent_per_gpu_hour=implied, implied_rent_scale=scale)
    return replace(result, reading=reading(result, blocks))


def _money(code: str, x: float) -> str:
    if abs(x) >= 1e9:
        return f"{code} {x / 1e9:,.2f} bn"
    if abs(x) >= 1e6:
        return f"{code} {x / 1e6:,.{0 if abs(x) >= 1e8 else 1}f} m"
    return f"{code} {x:,.0f}" if abs(x) >= 100 else f"{code} {x:,.2f}"


def reading(result: ValuationResult, blocks: list[ValuationBlock]) -> list[str]:
    """The reasons for the figure, as sentences built from the numbers."""
    r, c = result, result.currency
    out: list[str] = []
    moves = [f"rents {r.rent_change:+.0%}" if r.rent_change else "",
             f"token prices {r.token_price_change:+.0%}" if r.token_price_change else ""]
    moved = " and ".join(m for m in moves if m)
    for v, b in zip(r.blocks, blocks, strict=True):
        out.append(f"{v.gpus:,.0f} {v.hardware} in service since {v.in_service} ({v.age_years:.1f} years old, "
                   f"{v.months_left} months of a {r.life_years:g}-year life left) are worth {_money(c, v.block_value)}"
                   f" at {r.as_of}: {_money(c, v.value_per_gpu)} per GPU, {v.value_share_of_cost:.0%} of their "
                   f"{_money(c, v.cost_per_gpu)} cost, against a straight-line book value of "
                   f"{_money(c, v.book_value_per_gpu)} and {_money(c, v.percent_of_cost_value_per_gpu)} on the "
                   f"percent-of-cost curve.")
        rent_words = f"{_money(c, v.rent_per_gpu_hour)} rented out" + (f" ({moved})" if moved else "")
        tokens_words = (f"{_money(c, v.token_earnings_per_gpu_hour)} serving tokens ({v.tokens_per_s_per_gpu:,.0f} "
                        f"tokens/s per GPU at the market's per-user speed x {_money(c, r.token_price_per_million)} "
                        f"per million)")
        if r.basis == "better":
            why = ("so the value rests on its tokens and a rent change does not move it" if v.binding_route == "tokens"
                   else "so the value rests on the rent")
            out.append(f"A busy GPU-hour earns {tokens_words} against {rent_words}: {why}.")
        else:
            out.append(f"The value counts {r.basis} only: a busy GPU-hour earns "
                       f"{rent_words if r.basis == 'rent' else tokens_words}.")
        out.append(f"Its cash cost is {_money(c, v.cash_cost_per_gpu_hour)} per installed GPU-hour (power "
                   f"{v.power_per_gpu_hour:,.2f}, space {v.space_per_gpu_hour:,.2f}, operations "
                   f"{v.operations_per_gpu_hour:,.2f}) at {r.busy_share:.0%} busy: it stops covering it below a rent "
                   f"of {_money(c, v.shutdown_rent_per_gpu_hour)} per rented GPU-hour or a token price of "
                   f"{_money(c, v.shutdown_token_price_per_million)} per million (the shutdown point). Earnings fall "
                   f"{r.decline_per_year:.0%} a year after the next generation (from {b.next_generation}); it runs "
                   f"{v.months_running} of its {v.months_left} months left.")
        if r.paths > 0:
            out.append(f"A lender's P90 value (the 10th percentile over {r.paths:,} paths of the earnings level and "
                       f"decline) is {_money(c, v.lendable_value_per_gpu)} per GPU, "
                       f"{v.lendable_value_per_gpu / v.value_per_gpu if v.value_per_gpu > 0 else 0:.0%} of the "
                       f"value.")
    if moved:
        change = (r.fleet_value / r.fleet_value_before_changes - 1.0) if r.fleet_value_before_changes > 0 else 0.0
        out.append(f"With {moved} the fleet is worth {_money(c, r.fleet_value)} against "
                   f"{_money(c, r.fleet_value_before_changes)} at today's market ({change:+.0%}).")
    usage = (f"Token (usage-linked) earnings carry {r.usage_linked_value_share:.0%} of the fleet's value over its "
             f"value on rent alone; a" if r.basis == "better" else "A")
    out.append(f"{usage} 1% move in every earnings rate moves the value {r.operating_leverage:.2f}% (operating "
               f"leverage, cash costs fixed).")
    if r.enterprise_value is not None and r.implied_flat_rent_per_gpu_hour is not None:
        scale = r.implied_rent_scale
        scale_words = (f", or {scale:.2f}x each block's market rent path with its decline and shutdown"
                       if scale is not None and math.isfinite(scale) else "")
        out.append(f"An enterprise value of {_money(c, r.enterprise_value)} implies a flat rent of "
                   f"{_money(c, r.implied_flat_rent_per_gpu_hour)} per rented GPU-hour over the fleet's remaining "
                   f"life{scale_words}.")
    return out
