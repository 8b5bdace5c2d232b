"""The price-vs-efficiency bridge: how unit token cost moves from scenario A to scenario B, and why.

Unit cost c = cost per sold GPU-hour ÷ tokens per GPU-hour, blended over the scenario's token mix (or per output
token). It depends on factors that each take an A or a B value:

  server_price        server price per GPU, A's → B's base price (the hardware generation's list price)
  server_price_rise   B's base price → B's price today, base × (1 + rise) (a market move such as "+50% in two
                      months"), and on to base × (1 + rise) × (1 + change) with a further change on today's price
  hardware            the accelerator: tokens/s from the performance model and its board power
  precision           the recipe (FP8 → NVFP4 ...), on whichever hardware is in force
  model               the model served
  software            a throughput multiplier for serving-software gains (A = 1)
  utilisation         the sold share of hours
  financing           the cost of capital in the capital-recovery charge

The contribution of factor i is its exact Shapley value over ln c (2^k evaluations, :mod:`tokensim._shapley`), so
the contributions add up to ln(c_B/c_A) exactly and do not depend on any order; each is also shown as a share of the
log change and as a cost delta (the total delta c_B − c_A split in proportion to the log contributions). A
sequential waterfall in a user-given order is offered too.

Server-price changes have one convention: a change is on B's price *today* (the scenario's price, after its recent
rise; or the price a spec gives), never on the base price before the recent rise. ``Side.server_price_change`` (the
CLI's ``--server-price-change``) and the break-even ``breakeven_server_price_change_vs_today`` are both in it, so the
break-even fed back as the change gives c_B = c_A. The break-even is the change at which c_B = c_A: unit cost is
affine in the server price (the capital charge is linear in it), so it is solved exactly on that line, from B's cost
at today's price and with a free server.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from ._errors import ParameterError, UserError
from ._shapley import shapley_values, waterfall
from .config.catalog import load_catalog
from .config.money import fx_factor
from .cost import CostInputs, cost_per_gpu_hour, cost_per_million_tokens, it_power_per_gpu_kw
from .perf import SLO, LayoutPin, Prediction, Workload, serving_point
from .perf.measured import ThroughputOverride, find_override, source_fields, with_measurements

__all__ = ["FACTORS", "UNIT_COST_METRICS", "BridgeContext", "Side", "BridgeResult", "bridge", "bridge_in_currency",
           "unit_cost", "side_point"]

FACTORS = ("server_price", "server_price_rise", "hardware", "precision", "model", "software", "utilisation",
           "financing")
UNIT_COST_METRICS = ("blended", "output", "input")


@dataclass(frozen=True)
class Side:
    """One end of the bridge. Prices are per server, in the scenario currency."""

    hardware: str
    precision: str
    model: str
    server_price: float
    server_price_rise: float = 0.0
    software_gain: float = 1.0
    utilisation: float = 1.0
    cost_of_capital: float = 0.05
    server_price_change: float = 0.0

    @property
    def server_price_today(self) -> float:
        """The price per server before any further change: base × (1 + ``server_price_rise``)."""
        return self.server_price * (1.0 + self.server_price_rise)

    @property
    def server_price_paid(self) -> float:
        """The price per server the side pays: today's × (1 + ``server_price_change``)."""
        return self.server_price_today * (1.0 + self.server_price_change)


@dataclass(frozen=True)
class BridgeContext:
    """What both sides of a bridge share: the cluster's cost inputs, the workload and SLO, the token mix's cached-input
    cost and how board power turns into IT power (built from a scenario by :func:`tokensim.resolve.bridge.context`).

    ``board_power_w`` gives the board power (W) to use for named accelerators (the scenario's own hardware uses the
    scenario's figure); any other accelerator uses its catalogue board power. ``throughput_overrides`` are the user's
    measured throughputs (:mod:`tokensim.perf.measured`): a side whose (hardware, model, precision) is measured uses
    the measured figure in place of the model's, on either end and in every mix of the Shapley split.
    ``layout_pins`` are the serving layouts given per (hardware, model) (the scenario's own); every other side's
    layout is searched (:func:`tokensim.perf.serving_point`).
    """

    currency: str
    cost_inputs: CostInputs
    workload: Workload
    slo: SLO
    cached_input_cost_fraction: float
    server_overhead_factor: float
    board_power_w: tuple[tuple[str, float], ...] = ()
    throughput_overrides: tuple[ThroughputOverride, ...] = ()
    layout_pins: tuple[LayoutPin, ...] = ()


@dataclass(frozen=True)
class BridgeResult:
    currency: str
    metric: str
    unit_cost_from: float
    unit_cost_to: float
    contributions: dict
    waterfall: list
    breakeven_server_price_change_vs_today: float
    breakeven_server_price: float
    breakeven_reason: str
    sides: dict

    @property
    def change(self) -> float:
        return self.unit_cost_to / self.unit_cost_from - 1.0

    def to_dict(self) -> dict:
        return {"currency": self.currency, "metric": f"cost_per_million_tokens_{self.metric}",
                "unit_cost_from": self.unit_cost_from, "unit_cost_to": self.unit_cost_to, "change": self.change,
                "log_change": math.log(self.unit_cost_to / self.unit_cost_from),
                "contributions": self.contributions, "waterfall": self.waterfall,
                "breakeven_server_price_change_vs_today": self.breakeven_server_price_change_vs_today,
                "breakeven_server_price": self.breakeven_server_price,
                "breakeven_reason": self.breakeven_reason, "from": self.sides["from"], "to": self.sides["to"]}


def _slo_text(slo: SLO) -> str:
    """The SLO as the scenario writes it (``min_tokens_per_s_per_user 50``), not as a Python repr."""
    given = [f"{name} {value:g}" for name, value in (("min_tokens_per_s_per_user", slo.min_tokens_per_s_per_user),
                                                     ("max_ttft_s", slo.max_ttft_s), ("max_tpot_s", slo.max_tpot_s))
             if value is not None]
    return ", ".join(given) or "none"


@lru_cache(maxsize=256)
def _point(hardware: str, model: str, precision: str, workload: Workload, slo: SLO,
           pins: tuple[LayoutPin, ...] = ()) -> Prediction:
    return serving_point(hardware, model, precision, workload, slo, pins=pins)


def _gpu_seconds(hardware: str, model: str, precision: str, workload: Workload, slo: SLO,
                 overrides: tuple[ThroughputOverride, ...] = (), pins: tuple[LayoutPin, ...] = ()
                 ) -> tuple[float, float]:
    """GPU-seconds per computed input token and per output token at the serving point
    (:func:`tokensim.perf.serving_point`: the pinned layout, else the searched one, under the SLO), or at the
    user's measured throughput when ``overrides`` measure this (hardware, model, precision): a measured point is
    taken as meeting the SLO (the user ran it)."""
    point, found = with_measurements(_point(hardware, model, precision, workload, slo, pins), overrides)
    if found is None and not point.meets_slo:
        raise UserError(f"{model} at {precision} on {hardware} cannot meet the SLO ({_slo_text(slo)}); relax it or "
                        "change the hardware/precision")
    return point.gpu_s_per_input_token, point.gpu_s_per_output_token


def unit_cost(side: Side, context: BridgeContext, metric: str = "blended") -> float:
    """Cost per million tokens of one side.

    Parameters
    ----------
    side : Side
        Hardware, precision, model, server price (per server: the base, its recent rise and a further change on
        today's price), software gain, utilisation (sold share of hours) and cost of capital (annual).
    context : BridgeContext
        The cost inputs, workload and SLO both sides share.
    metric : {"blended", "output", "input"}
        Which cost per million tokens.

    Returns
    -------
    float
        Cost per million tokens in ``context.currency``.
    """
    hw = load_catalog().get_hardware(side.hardware)
    board_power_w = dict(context.board_power_w).get(hw.name, hw.board_power_w)
    ci = replace(context.cost_inputs,
                 server_price_per_gpu=side.server_price_paid / hw.gpus_per_server,
                 cost_of_capital=side.cost_of_capital,
                 it_kw_per_gpu=it_power_per_gpu_kw(board_power_w, context.server_overhead_factor))
    per_gpu_hour = cost_per_gpu_hour(ci, side.utilisation).total
    workload = context.workload
    g_in, g_out = _gpu_seconds(hw.name, side.model, side.precision, workload, context.slo,
                               context.throughput_overrides, context.layout_pins)
    tokens = cost_per_million_tokens(per_gpu_hour, g_in / side.software_gain, g_out / side.software_gain,
                                     context.cached_input_cost_fraction,
                                     input_tokens=workload.input_tokens, output_tokens=workload.output_tokens,
                                     cache_hit_rate=workload.cache_hit_rate, currency=context.currency)
    return float({"blended": tokens.blended, "output": tokens.output, "input": tokens.input}[metric])


def _mix(a: Side, b: Side, subset: frozenset[str]) -> Side:
    """Side A with the factors in ``subset`` switched to B's values."""
    def pick(name, attr):
        return getattr(b if name in subset else a, attr)

    # "server_price" moves A's price to B's base price; "server_price_rise" applies B's rise and further change on
    # whatever price holds.
    return Side(hardware=pick("hardware", "hardware"), precision=pick("precision", "precision"),
                model=pick("model", "model"), server_price=pick("server_price", "server_price"),
                server_price_rise=pick("server_price_rise", "server_price_rise"),
                software_gain=pick("software", "software_gain"), utilisation=pick("utilisation", "utilisation"),
                cost_of_capital=pick("financing", "cost_of_capital"),
                server_price_change=pick("server_price_rise", "server_price_change"))


def _breakeven_change(b: Side, target: float, cost) -> tuple[float, str]:
    """The change on B's price today (``Side.server_price_change``) at which B's unit cost equals ``target``."""
    at = {x: cost(replace(b, server_price_change=x)) for x in (-1.0, 0.0)}
    if at[-1.0] >= target:
        return math.nan, "B costs more than A even with a free server: no server price makes it break even"
    slope = at[0.0] - at[-1.0]  # unit cost is affine in the server price (capital charge is linear in it)
    if slope <= 0:
        return math.nan, "unit cost does not rise with the server price"
    return (target - at[0.0]) / slope, "ok"


def bridge(context: BridgeContext, a: Side, b: Side, *, metric: str = "blended",
           order: tuple[str, ...] = FACTORS) -> BridgeResult:
    """How unit cost moves from side A to side B, and why.

    Parameters
    ----------
    context : BridgeContext
        Cost inputs, workload and SLO shared by both sides.
    a, b : Side
        The two ends of the bridge.
    metric : {"blended", "output", "input"}
        Which cost per million tokens to bridge.
    order : tuple of str
        The sequential waterfall's order, each of :data:`FACTORS` at most once (the rest follow in their default
        order).

    Returns
    -------
    BridgeResult
        Unit costs of A and B (per million tokens, ``context.currency``), exact Shapley contributions over ln(cost),
        the waterfall in ``order`` and the break-even change on B's server price today (with the price it gives).
    """
    if metric not in UNIT_COST_METRICS:
        raise ParameterError("metric", f"'{metric}': allowed: {', '.join(UNIT_COST_METRICS)}")
    unknown = [f for f in order if f not in FACTORS]
    if unknown or len(set(order)) != len(order):
        raise ParameterError("order", f"{','.join(order)}: give each of {', '.join(FACTORS)} at most once")

    def cost(side: Side) -> float:
        return unit_cost(side, context, metric)

    def log_cost(subset: frozenset[str]) -> float:
        return math.log(cost(_mix(a, b, subset)))

    c_a, c_b = cost(a), cost(b)
    phi = shapley_values(log_cost, FACTORS)
    total_log = math.log(c_b / c_a)
    delta = c_b - c_a
    contributions = {
        name: {"log_contribution": value,
               "share_of_log_change": value / total_log if total_log else math.nan,
               "cost_delta": delta * value / total_log if total_log else 0.0}
        for name, value in phi.items()
    }
    steps = []
    running = c_a
    for name, step in waterfall(log_cost, list(order) + [f for f in FACTORS if f not in order]):
        new = running * math.exp(step)
        steps.append({"factor": name, "unit_cost_before": running, "unit_cost_after": new,
                      "cost_delta": new - running})
        running = new
    change, reason = _breakeven_change(b, c_a, cost)

    def side_dict(side: Side) -> dict:
        point, found = side_point(context, side)
        return {**vars(side), "layout": point["layout"], **source_fields(found),
                "extrapolation": point["extrapolation"]}

    return BridgeResult(currency=context.currency, metric=metric, unit_cost_from=c_a, unit_cost_to=c_b,
                        contributions=contributions, waterfall=steps, breakeven_server_price_change_vs_today=change,
                        breakeven_server_price=b.server_price_today * (1.0 + change), breakeven_reason=reason,
                        sides={"from": side_dict(a), "to": side_dict(b)})


def side_point(context: BridgeContext, side: Side) -> tuple[dict[str, Any], Any]:
    """The operating point a side is priced at (``Prediction.to_dict()``) and the measured throughput that replaces it
    (None where the model's point stands). With a measured throughput the point has no envelope to leave:
    ``extrapolation`` is then False."""
    catalog, w = load_catalog(), context.workload
    hw = catalog.get_hardware(side.hardware).name
    found = find_override(context.throughput_overrides, hw, catalog.get_model(side.model).name,
                          catalog.get_recipe(side.precision).name, w.input_tokens, w.output_tokens)
    point = _point(hw, side.model, side.precision, w, context.slo, context.layout_pins).to_dict()
    return ({**point, "extrapolation": bool(point.get("extrapolation")) and found is None}, found)


def bridge_in_currency(result: dict, currency: str) -> dict:
    """A bridge result (``BridgeResult.to_dict()``) in another currency: money scales, logs and shares do not."""
    if currency == result["currency"]:
        return result
    k = fx_factor(result["currency"], currency)
    out = dict(result, currency=currency, unit_cost_from=result["unit_cost_from"] * k,
               unit_cost_to=result["unit_cost_to"] * k, breakeven_server_price=result["breakeven_server_price"] * k)
    for side in ("from", "to"):
        out[side] = dict(result[side], server_price=result[side]["server_price"] * k)
    out["contributions"] = {n: dict(c, cost_delta=c["cost_delta"] * k) for n, c in result["contributions"].items()}
    out["waterfall"] = [{**s, **{f: s[f] * k for f in ("unit_cost_before", "unit_cost_after", "cost_delta")}}
                        for s in result["waterfall"]]
    return out
