"""The valuation's typed inputs (:mod:`tokensim.valuation`) from a scenario and explicit options.

A scenario supplies the serving workload and SLO (the market's per-user speed), its opex rates (power, facility,
operations, maintenance, insurance), its residual section (busy share, the market token price, the percent-of-cost
curve), its discount rate, economic life and currency. A block names what the scenario does not: the hardware, its
GPUs and in-service month, and (optionally) its rent, cost and the next generation's arrival; where it does not, the
reference tables below give a sourced default or the caller is asked for the figure.
"""

from __future__ import annotations

from dataclasses import replace

from .._errors import ParameterError
from ..config.catalog import load_catalog
from ..config.fleet import Fleet
from ..config.schema import field_spec
from ..config.types import Scenario
from ..cost import it_power_per_gpu_kw, opex_per_installed_gpu_hour
from ..perf.measured import with_measurements
from ..valuation import ValuationBlock, ValuationMarket, months_between
from .cost import board_power_w, cost_inputs, server_price
from .fleet import block_inputs
from .perf import scenario_point, throughput_overrides

__all__ = ["DECLINE_PER_YEAR", "LEVEL_VOLATILITY", "DECLINE_VOLATILITY", "NEXT_GENERATION", "REFERENCE_COST_PER_GPU",
           "REFERENCE_PERCENT_OF_COST_BY_AGE", "REFERENCE_RENT_PER_GPU_HOUR", "REFERENCE_TOKEN_PRICES",
           "busy_share", "fleet_valuation_blocks", "market", "market_token_price", "valuation_block"]

# Market rent per rented GPU-hour by (hardware, currency): (value, source). economics-reference.md (2026).
REFERENCE_RENT_PER_GPU_HOUR: dict[tuple[str, str], tuple[float, str]] = {
    ("H100", "USD"): (2.35, "ref 2.1: H100 1-y contract ~$2.35/GPU-h, Mar-2026 (SemiAnalysis [3])"),
    ("H100", "CNY"): (75_000 / 8 / 730, "ref 2.4: H100 8-GPU server RMB 75 k/month, Mar-2025 (MIT Technology "
                                        "Review [33]) / 8 GPUs / 730 h"),
    ("H200", "USD"): (3.41, "ref 2.3: H200 GPU Markets spot ~$3.41/GPU-h, 2025-26 [59]"),
    ("B200", "USD"): (4.50, "ref 2.3: B200 neocloud $4.50/GPU-h, 2026 (Ornn [36])"),
    ("B300", "USD"): (6.10, "ref 2.3: B300 neocloud $5.00-7.25/GPU-h, 2026 (Ornn [36]), midpoint rounded"),
    ("B300", "CNY"): (17.2, "ref 2.4 / 4.1: the broker note's B300 contract, RMB 16.7-17.8/GPU-h, midpoint"),
}
# Original all-in cost per GPU by (hardware, currency): (value, source). economics-reference.md section 1.1.
REFERENCE_COST_PER_GPU: dict[tuple[str, str], tuple[float, str]] = {
    ("H100", "USD"): (50_000.0, "ref 1.1: H100 all-in incl. IB fabric '~$50 k' per GPU, Aug-2024 [5]"),
    ("H100", "CNY"): (350_000.0, "ref 1.1: China 1,000-GPU H100 cluster RMB 350 m (~RMB 350 k/GPU all-in) [31]"),
    ("H200", "CNY"): (1_500_000 / 8, "ref 1.1: H200 8-GPU complete machine ~RMB 1.5 m, Dec-2025/Jan-2026 [34]"),
    ("B300", "USD"): (80_000.0, "ref 1.1 (E): US B300 build ~$80 k per GPU all-in"),
}
# The next generation's volume arrival by family (month, source): the earnings of a family decline after it.
NEXT_GENERATION: dict[str, tuple[str, str]] = {
    "hopper": ("2025-01", "assumption: Blackwell (B200) in volume from early 2025 (ref 2.3: B200 rented 2025-26)"),
    "blackwell": ("2025-09", "assumption: Blackwell Ultra (B300) shipping from the second half of 2025 (ref 2.3)"),
    "blackwell-ultra": ("2027-01", "assumption: Rubin in volume from early 2027 (NVIDIA's roadmap says 2026 H2)"),
    "cdna3": ("2025-07", "assumption: MI355X (CDNA4) shipping from mid-2025"),
    "cdna4": ("2027-01", "assumption: MI400 in volume from early 2027"),
}
# List token prices (uncached input, cached input, output per million tokens) by currency, blended with the scenario's
# workload mix where its residual section gives no market token price. economics-reference.md section 3.1.
REFERENCE_TOKEN_PRICES: dict[str, tuple[float, float, float, str]] = {
    "CNY": (2.0, 0.2, 3.0, "ref 3.1: DeepSeek V3.2 list (1-Dec-2025), RMB 2 miss / 0.2 hit / 3 output per million"),
    "USD": (0.28, 0.028, 0.42, "ref 3.1: DeepSeek V3.2 list (1-Dec-2025), $0.28 miss / 0.028 hit / 0.42 output"),
}
# Percent-of-cost residual by age where the scenario has none: ref 1.4 aggregator curve for an H100 SXM (midpoints).
REFERENCE_PERCENT_OF_COST_BY_AGE = ((0.0, 1.0), (1.0, 0.625), (2.0, 0.425), (3.0, 0.30), (4.0, 0.175), (5.0, 0.125))
DECLINE_PER_YEAR = (0.2, "ref 2.1: H100 rent ~$4.70 at its 2023 launch -> ~$2.35 in Mar-2026, about -21%/yr; "
                         "assumption that rents and token earnings of a generation fall alike")
LEVEL_VOLATILITY = (0.35, "b300-10k-cluster uncertainty.market_rent.volatility_per_year (E from ref 2.1, 2.4), "
                          "taken as a one-off level shock (assumption)")
DECLINE_VOLATILITY = (0.1, "assumption: decline rate uncertain by +-10 points a year (ref 6: token prices -40% "
                           "to -80%/yr, ref 1.4: resale -40-60% in 3 years)")


def market_token_price(scenario: Scenario) -> tuple[float, str]:
    """The blended market token price per million tokens of a scenario's workload mix, and where it comes from.

    An economic residual section gives it: ``newest_cost_per_million_tokens × (1 + markup)`` (the price the economic
    residual uses). Otherwise the list prices of :data:`REFERENCE_TOKEN_PRICES` blended over the mix:
    ``(in × (h × cached + (1 − h) × uncached) + out × output) / (in + out)`` with ``h`` the cache-hit rate.
    """
    r = scenario.residual
    if r.method == "economic" and r.newest_cost_per_million_tokens > 0:
        return r.newest_cost_per_million_tokens * (1.0 + r.markup), "residual: newest cost x (1 + markup)"
    ref = REFERENCE_TOKEN_PRICES.get(scenario.currency)
    if ref is None:
        raise ParameterError("token_price_per_million", f"missing: no reference token price in {scenario.currency}; "
                             "allowed: a blended price per million tokens >= 0")
    uncached, cached, output, source = ref
    sv = scenario.serving
    h = sv.cache_hit_rate
    blended = (sv.input_tokens * (h * cached + (1.0 - h) * uncached) + sv.output_tokens * output) / (
        sv.input_tokens + sv.output_tokens)
    return blended, source + ", blended over the scenario's input/output mix and cache-hit rate"


def busy_share(scenario: Scenario) -> float:
    """The residual's busy share; the schema's default (0.7, "a used GPU serves tokens 70% of hours") where the
    scenario's residual is not economic."""
    r = scenario.residual
    return r.busy_share if r.method == "economic" and r.busy_share > 0 else float(
        field_spec("residual", "busy_share").default)


def market(scenario: Scenario, *, as_of: str, rent_change: float = 0.0, token_price_change: float = 0.0,
           token_price_per_million: float | None = None, life_years: float | None = None,
           decline_per_year: float | None = None, basis: str = "better", paths: int = 2000,
           seed: int = 0) -> ValuationMarket:
    """The valuation market of a scenario.

    Token price: :func:`market_token_price` unless given. Busy share: :func:`busy_share`. Discount rate:
    ``financing.discount_rate``. Life: ``capex.economic_life_years`` unless given. Curve:
    ``residual.percent_of_cost_by_age`` (:data:`REFERENCE_PERCENT_OF_COST_BY_AGE` where it has none).
    """
    r = scenario.residual
    price = market_token_price(scenario)[0] if token_price_per_million is None else token_price_per_million
    return ValuationMarket(
        as_of=as_of, token_price_per_million=price, busy_share=busy_share(scenario),
        discount_rate=scenario.financing.discount_rate,
        life_years=scenario.capex.economic_life_years if life_years is None else life_years,
        decline_per_year=DECLINE_PER_YEAR[0] if decline_per_year is None else decline_per_year,
        rent_change=rent_change, token_price_change=token_price_change, basis=basis,
        percent_of_cost_by_age=r.percent_of_cost_by_age or REFERENCE_PERCENT_OF_COST_BY_AGE,
        level_volatility=LEVEL_VOLATILITY[0], decline_volatility=DECLINE_VOLATILITY[0], paths=paths, seed=seed)


def _precision(scenario: Scenario, hardware: str, family: str) -> str:
    """The scenario's precision where the hardware runs it natively (or has no native list to check), else its
    previous generation's where that is this hardware, else fp8 (assumption: the common serving format)."""
    sv = scenario.serving
    if hardware == sv.hardware:
        return sv.precision
    prev = sv.previous_generation
    if prev is not None and hardware == prev.hardware:
        return prev.precision
    fmt = load_catalog().get_recipe(sv.precision).routed_experts
    return sv.precision if not fmt.native_families or family in fmt.native_families else "fp8"


def valuation_block(scenario: Scenario, hardware: str, gpus: float, in_service: str, *,
                    market_rent_per_gpu_hour: float | None = None, cost_per_gpu: float | None = None,
                    next_generation: str | None = None, precision: str | None = None,
                    power_per_gpu_hour: float | None = None, space_per_gpu_hour: float | None = None,
                    operations_per_gpu_hour: float | None = None) -> ValuationBlock:
    """One block's typed inputs under a scenario's market and opex.

    Tokens/s per GPU: the scenario's serving point (:func:`tokensim.resolve.perf.scenario_point`: its model and
    workload at its SLO, the market's per-user speed, on ``hardware``, in the layout it pins or the searched one),
    input + output. Cash costs: :func:`tokensim.cost.opex_per_installed_gpu_hour`
    with the scenario's opex rates, this hardware's board power (catalogue unless it is the scenario's own) times the
    scenario's server overhead, and its cost per GPU for maintenance and insurance, at the residual's busy share; a
    cost given here (a fleet block's own power or space per GPU-hour) replaces the computed one.

    A fleet's blocks, each with its own scenario, become a list for :func:`tokensim.api.run_valuation` with
    ``[valuation_block(b.scenario, b.scenario.serving.hardware, b.scenario.cluster.gpus, b.in_service) for b in
    blocks]``.
    """
    cat = load_catalog()
    hw = cat.get_hardware(hardware)
    code = scenario.currency
    if market_rent_per_gpu_hour is None:
        ref = REFERENCE_RENT_PER_GPU_HOUR.get((hw.name, code))
        if ref is None:
            raise ParameterError("market_rent_per_gpu_hour", f"missing: no reference rent for {hw.name} in {code} "
                                 "(economics-reference.md 2.1-2.4); allowed: a rent per GPU-hour > 0")
        market_rent_per_gpu_hour = ref[0]
    ci = cost_inputs(scenario)
    if cost_per_gpu is None:
        if hw.name == scenario.serving.hardware:
            cost_per_gpu = float(ci.capex_per_gpu)
        elif (hw.name, code) in REFERENCE_COST_PER_GPU:
            cost_per_gpu = REFERENCE_COST_PER_GPU[(hw.name, code)][0]
        else:
            price = server_price(scenario, hw.name)
            if price is None:
                raise ParameterError("cost_per_gpu", f"missing: no reference cost for {hw.name} in {code}; "
                                     "allowed: a cost per GPU > 0")
            cost_per_gpu = price / hw.gpus_per_server
    if next_generation is None:
        next_generation = NEXT_GENERATION.get(hw.family, (in_service, ""))[0]
    prec = precision or _precision(scenario, hw.name, hw.family)
    point = scenario_point(scenario, hw.name, scenario.serving.model, prec)
    # the scenario's measured throughput, where it measures this (hardware, model, precision)
    point, _ = with_measurements(point, throughput_overrides(scenario.serving))
    tokens = point.output_tokens_per_s_per_gpu + point.input_tokens_per_s_per_gpu if point.fits else 0.0
    kw = it_power_per_gpu_kw(board_power_w(scenario, hw.name, hw.board_power_w), scenario.opex.server_overhead_factor)
    ci = replace(ci, it_kw_per_gpu=kw, server_price_per_gpu=cost_per_gpu, network_per_gpu=0.0,
                 installation_per_gpu=0.0)
    opex = opex_per_installed_gpu_hour(ci, busy_share(scenario))
    return ValuationBlock(
        hardware=hw.name, gpus=gpus, in_service=in_service, cost_per_gpu=float(cost_per_gpu),
        tokens_per_s_per_gpu=float(tokens), market_rent_per_gpu_hour=float(market_rent_per_gpu_hour),
        power_per_gpu_hour=float(opex["power"] if power_per_gpu_hour is None else power_per_gpu_hour),
        space_per_gpu_hour=float(opex["facility"] if space_per_gpu_hour is None else space_per_gpu_hour),
        operations_per_gpu_hour=float(opex["operations"] + opex["maintenance"] + opex["insurance"]
                                      if operations_per_gpu_hour is None else operations_per_gpu_hour),
        next_generation=next_generation, currency=code)


def fleet_valuation_blocks(fleet: Fleet, as_of: str) -> tuple[list[ValuationBlock], list[str]]:
    """The owned blocks of a fleet as valuation blocks, and the names of the leased-in blocks left out (a leased GPU
    is the lessor's asset, not the fleet's collateral).

    Each block keeps its own economics from the fleet file (:func:`tokensim.resolve.fleet.block_inputs`): its market
    rent, moved from its in-service month to ``as_of`` by its scenario's market-rent trend, its capex per GPU, and
    its power, space and other cash costs per GPU-hour.

    Parameters
    ----------
    fleet : Fleet
        A loaded fleet (:func:`tokensim.config.fleet.load_fleet`).
    as_of : str
        Valuation month ``YYYY-MM``.

    Returns
    -------
    tuple
        The list of :class:`ValuationBlock` and the names of the blocks not valued.
    """
    blocks, skipped = [], []
    for b, econ in zip(fleet.blocks, block_inputs(fleet), strict=True):
        if b.ownership != "owned":
            skipped.append(b.name)
            continue
        years = max(months_between(b.in_service, as_of), 0) / 12.0
        rent = econ.market_rent_per_gpu_hour * (1.0 + econ.market_rent_change_per_year) ** years
        blocks.append(valuation_block(b.scenario, econ.hardware, econ.gpus, b.in_service,
                                      market_rent_per_gpu_hour=rent, cost_per_gpu=econ.capex_per_gpu,
                                      power_per_gpu_hour=econ.power_per_gpu_hour_busy,
                                      space_per_gpu_hour=econ.space_per_gpu_hour,
                                      operations_per_gpu_hour=econ.other_cash_cost_per_gpu_hour))
    return blocks, skipped

