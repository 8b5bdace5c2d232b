"""Cost per million tokens across GPUs and price tiers at a per-user speed (issue 16: "cost per million output tokens
of gpt-oss-120b on H100 vs B200 at 100 tokens/s per user, at neocloud prices").

For each hardware x precision, :func:`tokensim.perf.predict` gives the operating point at the speed target (GPU-seconds
per input and per output token, with the model's 80% interval); for each price tier of the price catalogue
(``configs/prices.yaml``) the GPU-hour price is the median of that hardware's quotes in the tier from the latest
year the tier has for it (the quotes' low-high range and count are reported beside it). The token costs are
:func:`tokensim.cost.cost_per_million_tokens` at that price: what a renter pays per million tokens when each rented
GPU-hour serves the operating point (a renter who keeps its GPUs busy only part of the time pays more in proportion:
``busy_share``). The cost interval carries the throughput interval over inversely (the price range is reported, not
folded in). Where the user measured a (hardware, model, precision) (``--throughput-override``), the measured
throughput replaces the model's (:mod:`tokensim.perf.measured`: the interval collapses to it) and the row says so.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ._errors import ParameterError, UserError, did_you_mean
from .config.catalog import load_catalog
from .config.money import fx_factor
from .config.prices import TIERS, PriceEntry, load_prices
from .config.schema import field_spec
from .cost import cost_per_million_tokens
from .perf import SLO, LayoutPin, Workload, serving_point
from .perf.measured import ThroughputOverride, source_fields, with_measurements

__all__ = ["DEFAULT_PRECISIONS", "TokenCostRow", "catalogue_gpu_hour_price", "cost_per_token_table", "tier_prices"]

# The formats people serve MoE and dense models in today: FP8, and the two FP4 formats (NVFP4 native on Blackwell,
# MXFP4 on Blackwell and CDNA4; on Hopper and CDNA3 they run weight-only: the performance model says so).
DEFAULT_PRECISIONS = ("fp8", "nvfp4", "mxfp4")


@dataclass(frozen=True)
class TokenCostRow:
    """One hardware x precision x price tier: its price per GPU-hour and its cost per million tokens (``currency``)."""

    hardware: str
    precision: str
    tier: str
    currency: str
    price_per_gpu_hour: float
    price_per_gpu_hour_low: float
    price_per_gpu_hour_high: float
    quotes: int
    latest_quote: str
    output_tokens_per_s_per_gpu: float
    tokens_per_s_per_user: float
    cost_per_million_input_tokens: float
    cost_per_million_cached_input_tokens: float
    cost_per_million_output_tokens: float
    cost_per_million_output_tokens_low: float
    cost_per_million_output_tokens_high: float
    cost_per_million_tokens_blended: float
    extrapolation: bool
    throughput_source: str = "model"  # model | measured
    throughput_reference: str | None = None  # the measurement's source; None for the model's
    layout: str | None = None  # the serving layout priced (DEP8): tokensim.perf.serving_point

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tier_prices(entries: Sequence[PriceEntry], hardware: str, tier: str, currency: str, region: str | None = None
                ) -> tuple[float, float, float, int, str] | None:
    """The median price per GPU-hour of ``hardware`` in ``tier`` over the quotes of the latest year, in ``currency``.

    Parameters
    ----------
    entries : sequence of PriceEntry
        The price catalogue.
    hardware, tier : str
        Catalogue names.
    currency : str
        Reporting currency.
    region : str, optional
        Keep only quotes for this region.

    Returns
    -------
    tuple or None
        (median, low, high, number of quotes, latest date) or None when the tier has no quote for the hardware. A
        quote with a range counts at its low and high ends.
    """
    rows = [e for e in entries if e.gpu == hardware and e.tier == tier and (region is None or e.region == region)]
    if not rows:
        return None
    latest_year = max(e.date[:4] for e in rows)
    recent = [e for e in rows if e.date[:4] == latest_year]
    prices = []
    for e in recent:
        k = fx_factor(e.currency, currency)
        prices.append(e.price_per_gpu_hour * k)
        if e.price_per_gpu_hour_high is not None:
            prices.append(e.price_per_gpu_hour_high * k)
    return (statistics.median(prices), min(prices), max(prices), len(recent), max(e.date for e in recent))


def catalogue_gpu_hour_price(spec: str, currency: str, option: str = "gpu_hour_price") -> float:
    """A GPU-hour price from the catalogue: ``HARDWARE:TIER`` → the median of the tier's latest-year quotes.

    Parameters
    ----------
    spec : str
        ``HARDWARE:TIER``, e.g. ``H100:neocloud-on-demand``.
    currency : str
        The currency wanted.
    option : str
        The parameter or option named in an error.

    Returns
    -------
    float
        Price per GPU-hour in ``currency`` (:func:`tier_prices`).
    """
    hardware, sep, tier = str(spec).partition(":")
    if not sep or not hardware or not tier:
        raise ParameterError(option, f"{spec!r}: allowed: HARDWARE:TIER, e.g. H100:neocloud-on-demand")
    name = load_catalog().get_hardware(hardware.strip()).name
    if tier not in TIERS:
        hint = did_you_mean(tier, TIERS)
        raise ParameterError(option, f"{spec!r}: tier {tier!r}; allowed: {', '.join(TIERS)}"
                             + (f" ({hint})" if hint else ""))
    found = tier_prices(load_prices(), name, tier, currency)
    if found is None:
        tiers = sorted({e.tier for e in load_prices() if e.gpu == name})
        raise ParameterError(option, f"{spec!r}: no {tier} quote for {name}; its tiers: {', '.join(tiers) or 'none'}")
    return found[0]


def cost_per_token_table(model: str, workload: Workload, slo: SLO, *, hardware: Sequence[str] | None = None,
                         precisions: Sequence[str] = DEFAULT_PRECISIONS, tiers: Sequence[str] | None = None,
                         region: str | None = None, currency: str = "USD", busy_share: float = 1.0,
                         cached_input_cost_fraction: float | None = None,
                         throughput_overrides: Sequence[ThroughputOverride] = (),
                         layout_pins: Sequence[LayoutPin] = ()) -> tuple[list[TokenCostRow], list[str]]:
    """Cost per million tokens of ``model`` on every priced hardware x precision x tier, cheapest output token first.

    Parameters
    ----------
    model : str
        Model name (catalogue).
    workload : Workload
        Tokens per request and cache hits.
    slo : SLO
        The speed target (e.g. ``SLO(min_tokens_per_s_per_user=100)``).
    hardware : sequence of str, optional
        Hardware to rank (default: every hardware with a price in the catalogue).
    precisions : sequence of str
        Precision recipes to try on each (a combination the model cannot run is left out and named in the notes).
    tiers : sequence of str, optional
        Price tiers (default: all).
    region : str, optional
        Keep only price quotes for this region.
    currency : str
        Reporting currency.
    busy_share : float
        Share of rented GPU-hours that serve tokens, in (0, 1]: the price per busy hour is price / busy_share.
    cached_input_cost_fraction : float, optional
        GPU time of a cached input token relative to an uncached one (default: the scenario schema's default).
    throughput_overrides : sequence of ThroughputOverride
        Measured throughputs in place of the model's where they match (:mod:`tokensim.perf.measured`).
    layout_pins : sequence of LayoutPin
        Serving layouts given per (hardware, model) (a scenario's own); every other hardware's layout is searched
        (:func:`tokensim.perf.serving_point`).

    Returns
    -------
    tuple
        The rows, sorted by cost per million output tokens, and notes (combinations left out and why).
    """
    if not 0 < busy_share <= 1:
        raise ParameterError("busy_share", f"{busy_share!r}: allowed: a number in (0, 1]")
    entries = load_prices()
    catalog = load_catalog()
    model = catalog.get_model(model, "model").name  # names checked once, before any prediction
    for recipe in precisions:
        catalog.get_recipe(recipe, "precision")
    names = list(hardware) if hardware else sorted({e.gpu for e in entries})
    names = [catalog.get_hardware(n, "hardware").name for n in names]
    chosen_tiers = list(tiers) if tiers else list(TIERS)
    for t in chosen_tiers:
        if t not in TIERS:
            raise UserError(f"tier {t!r}: allowed: {', '.join(TIERS)}")
    f = (cached_input_cost_fraction if cached_input_cost_fraction is not None
         else field_spec("serving", "cached_input_cost_fraction").default)
    rows: list[TokenCostRow] = []
    notes: list[str] = []
    for hw in names:
        priced = {t: p for t in chosen_tiers if (p := tier_prices(entries, hw, t, currency, region)) is not None}
        if not priced:
            notes.append(f"{hw}: no price quote in {', '.join(chosen_tiers)}"
                         + (f" for region {region}" if region else ""))
            continue
        for precision in precisions:
            try:
                point = serving_point(hw, model, precision, workload, slo, pins=layout_pins)
            except UserError as exc:
                notes.append(f"{hw} {precision}: {exc}")
                continue
            point, found = with_measurements(point, throughput_overrides)
            source = source_fields(found)
            low_ratio = point.output_tokens_per_s_per_gpu_low / point.output_tokens_per_s_per_gpu
            high_ratio = point.output_tokens_per_s_per_gpu_high / point.output_tokens_per_s_per_gpu
            for tier, (price, lo, hi, n, latest) in priced.items():
                tokens = cost_per_million_tokens(price / busy_share, point.gpu_s_per_input_token,
                                                 point.gpu_s_per_output_token, f,
                                                 input_tokens=workload.input_tokens,
                                                 output_tokens=workload.output_tokens,
                                                 cache_hit_rate=workload.cache_hit_rate, currency=currency)
                rows.append(TokenCostRow(
                    hardware=hw, precision=precision, tier=tier, currency=currency, price_per_gpu_hour=price,
                    price_per_gpu_hour_low=lo, price_per_gpu_hour_high=hi, quotes=n, latest_quote=latest,
                    output_tokens_per_s_per_gpu=point.output_tokens_per_s_per_gpu,
                    tokens_per_s_per_user=point.tokens_per_s_per_user,
                    cost_per_million_input_tokens=tokens.input,
                    cost_per_million_cached_input_tokens=tokens.cached_input,
                    cost_per_million_output_tokens=tokens.output,
                    cost_per_million_output_tokens_low=tokens.output / high_ratio,
                    cost_per_million_output_tokens_high=tokens.output / low_ratio,
                    cost_per_million_tokens_blended=tokens.blended, extrapolation=bool(point.extrapolation),
                    throughput_source=source["throughput_source"] or "model",
                    throughput_reference=source["throughput_reference"], layout=point.layout))
    rows.sort(key=lambda r: r.cost_per_million_output_tokens)
    return rows, notes
