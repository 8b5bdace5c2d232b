"""The price-vs-efficiency bridge: how unit token cost moves from scenario A to scenario B, and why.

Unit cost c = cost per sold GPU-hour ÷ tokens per GPU-hour, blended over the scenario's token mix (or per output
token). It depends on factors that each take an A or a B value:

  server_price        server price per GPU, A's → B's base price (the hardware generation's list price)
  server_price_rise   B's base price → B's price × (1 + rise) (a market move such as "+50% in two months")
  hardware            the accelerator: tokens/s from the performance model and its board power
  precision           the recipe (FP8 → NVFP4 ...), on whichever hardware is in force
  model               the model served
  software            a throughput multiplier for serving-software gains (A = 1)
  utilisation         the sold share of hours
  financing           the cost of capital in the capital-recovery charge

The contribution of factor i is its exact Shapley value over ln c (2^k evaluations, :mod:`tokensim._shapley`), so
the contributions add up to ln(c_B/c_A) exactly and do not depend on any order; each is also shown as a share of the
log change and as a cost delta (the total delta c_B − c_A split in proportion to the log contributions). A
sequential waterfall in a user-given order is offered too. The break-even server-price rise is the rise at which
c_B = c_A: unit cost is affine in the server price, so it is solved exactly by bisection on that line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

from ._errors import UserError
from ._shapley import shapley_values, waterfall
from .config.catalog import load_catalog
from .config.money import fx_factor
from .config.scenario import Scenario
from .cost import CostInputs, cost_inputs_from_scenario, cost_per_gpu_hour, cost_per_million_tokens
from .perf._model import SLO, Workload, predict, serving_slo, serving_workload

__all__ = ["FACTORS", "Side", "BridgeResult", "bridge", "bridge_in_currency", "unit_cost", "sides_from_scenario"]

FACTORS = ("server_price", "server_price_rise", "hardware", "precision", "model", "software", "utilisation",
           "financing")
METRICS = ("blended", "output", "input")


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


@dataclass(frozen=True)
class BridgeResult:
    currency: str
    metric: str
    unit_cost_from: float
    unit_cost_to: float
    contributions: dict
    waterfall: list
    breakeven_server_price_change: float
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
                "breakeven_server_price_change": self.breakeven_server_price_change,
                "breakeven_reason": self.breakeven_reason, "from": self.sides["from"], "to": self.sides["to"]}


@lru_cache(maxsize=256)
def _gpu_seconds(hardware: str, model: str, precision: str, workload: Workload, slo: SLO) -> tuple[float, float]:
    """GPU-seconds per computed input token and per output token at the SLO-constrained operating point."""
    point = predict(hardware, model, precision, workload, slo=slo)
    if not point["meets_slo"]:
        raise UserError(f"{model} at {precision} on {hardware} cannot meet the SLO ({slo}); relax it or change "
                        "the hardware/precision")
    return point["gpu_s_per_input_token"], point["gpu_s_per_output_token"]


def unit_cost(side: Side, base: CostInputs, scenario: Scenario, workload: Workload, slo: SLO,
              metric: str = "blended") -> float:
    """Cost per million tokens (``metric``: blended, output or input) of one side, in the scenario currency."""
    cat = load_catalog()
    hw = cat.get_hardware(side.hardware)
    board_power_w = scenario.opex.board_power_w if hw.name == scenario.serving.hardware else hw.board_power_w
    ci = replace(base, server_price_per_gpu=side.server_price * (1.0 + side.server_price_rise) / hw.gpus_per_server,
                 cost_of_capital=side.cost_of_capital,
                 it_kw_per_gpu=board_power_w / 1000.0 * scenario.opex.server_overhead_factor)
    per_gpu_hour = cost_per_gpu_hour(ci, side.utilisation).total
    g_in, g_out = _gpu_seconds(hw.name, side.model, side.precision, workload, slo)
    tokens = cost_per_million_tokens(per_gpu_hour, g_in / side.software_gain, g_out / side.software_gain,
                                     scenario.serving.cached_input_cost_fraction,
                                     input_tokens=workload.input_tokens, output_tokens=workload.output_tokens,
                                     cache_hit_rate=workload.cache_hit_rate, currency=scenario.currency)
    return float({"blended": tokens.blended, "output": tokens.output, "input": tokens.input}[metric])


def _mix(a: Side, b: Side, subset: frozenset[str]) -> Side:
    """Side A with the factors in ``subset`` switched to B's values."""
    def pick(name, attr):
        return getattr(b if name in subset else a, attr)

    # "server_price" moves A's price to B's base price; "server_price_rise" applies B's rise on whatever price holds.
    return Side(hardware=pick("hardware", "hardware"), precision=pick("precision", "precision"),
                model=pick("model", "model"), server_price=pick("server_price", "server_price"),
                server_price_rise=pick("server_price_rise", "server_price_rise"),
                software_gain=pick("software", "software_gain"), utilisation=pick("utilisation", "utilisation"),
                cost_of_capital=pick("financing", "cost_of_capital"))


def _breakeven_rise(b: Side, target: float, cost) -> tuple[float, str]:
    """Server-price rise (on B's base price) at which B's unit cost equals ``target``."""
    at = {x: cost(replace(b, server_price_rise=x)) for x in (-1.0, 0.0)}
    if at[-1.0] >= target:
        return math.nan, "B costs more than A even with a free server: no server price makes it break even"
    slope = at[0.0] - at[-1.0]  # unit cost is affine in the server price (capital charge is linear in it)
    if slope <= 0:
        return math.nan, "unit cost does not rise with the server price"
    return (target - at[0.0]) / slope, "ok"


def bridge(scenario: Scenario, a: Side, b: Side, *, metric: str = "blended", order: tuple[str, ...] = FACTORS,
           workload: Workload | None = None, slo: SLO | None = None) -> BridgeResult:
    """Unit cost of A and B, Shapley contributions over ln c, the waterfall in ``order``, the break-even rise."""
    if metric not in METRICS:
        raise UserError(f"--metric '{metric}': allowed: {', '.join(METRICS)}")
    unknown = [f for f in order if f not in FACTORS]
    if unknown or len(set(order)) != len(order):
        raise UserError(f"--order {','.join(order)}: give each of {', '.join(FACTORS)} at most once")
    s = scenario.serving
    workload = workload or serving_workload(s)
    slo = slo or serving_slo(s)
    base = cost_inputs_from_scenario(scenario)

    def cost(side: Side) -> float:
        return unit_cost(side, base, scenario, workload, slo, metric)

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
    rise, reason = _breakeven_rise(b, c_a, cost)
    return BridgeResult(currency=scenario.currency, metric=metric, unit_cost_from=c_a, unit_cost_to=c_b,
                        contributions=contributions, waterfall=steps, breakeven_server_price_change=rise,
                        breakeven_reason=reason, sides={"from": vars(a).copy(), "to": vars(b).copy()})


def bridge_in_currency(result: dict, currency: str) -> dict:
    """A bridge result (``BridgeResult.to_dict()``) in another currency: money scales, logs and shares do not."""
    if currency == result["currency"]:
        return result
    k = fx_factor(result["currency"], currency)
    out = dict(result, currency=currency, unit_cost_from=result["unit_cost_from"] * k,
               unit_cost_to=result["unit_cost_to"] * k)
    out["contributions"] = {n: dict(c, cost_delta=c["cost_delta"] * k) for n, c in result["contributions"].items()}
    out["waterfall"] = [{**s, **{f: s[f] * k for f in ("unit_cost_before", "unit_cost_after", "cost_delta")}}
                        for s in result["waterfall"]]
    return out


def sides_from_scenario(scenario: Scenario, *, from_spec: str | None = None, to_spec: str | None = None,
                        server_price_change: float = 0.0, software_gain: float = 1.0,
                        from_model: str | None = None, to_model: str | None = None,
                        from_utilisation: float | None = None, to_utilisation: float | None = None,
                        from_cost_of_capital: float | None = None, to_cost_of_capital: float | None = None
                        ) -> tuple[Side, Side]:
    """Build both sides from ``HARDWARE:PRECISION[:SERVER_PRICE]`` specs and the scenario's defaults.

    Defaults: "from" is the scenario's previous generation (with its server price), "to" the scenario's own hardware,
    precision and server price, split into a base price and the scenario's recent rise; ``server_price_change`` is a
    further rise compounded on top of "to"'s price.
    """
    s = scenario.serving
    prev = s.previous_generation

    def parse(spec: str | None, default: tuple[str, str, float | None], flag: str) -> tuple[str, str, float | None]:
        if spec is None:
            return default
        parts = spec.split(":")
        if len(parts) not in (2, 3) or not all(parts[:2]):
            raise UserError(f"{flag} '{spec}': allowed: HARDWARE:PRECISION or HARDWARE:PRECISION:SERVER_PRICE")
        cat = load_catalog()
        hw = cat.get_hardware(parts[0], flag).name
        prec = cat.get_recipe(parts[1], flag).name
        price = None
        if len(parts) == 3:
            try:
                price = float(parts[2])
            except ValueError:
                raise UserError(f"{flag} '{spec}': the server price '{parts[2]}' is not a number") from None
            if not math.isfinite(price) or price <= 0:
                raise UserError(f"{flag} '{spec}': the server price must be a positive number")
        return hw, prec, price

    prev_default = (prev.hardware, prev.precision, prev.server_price) if prev else (s.hardware, s.precision, None)
    f_hw, f_prec, f_price = parse(from_spec, prev_default, "--from")
    t_hw, t_prec, t_price = parse(to_spec, (s.hardware, s.precision, None), "--to")
    cat = load_catalog()

    def price_for(hw: str, given: float | None, flag: str) -> float:
        if given is not None:
            return given
        if hw == s.hardware:
            return scenario.capex.server_price
        if prev and hw == prev.hardware:
            return prev.server_price
        raise UserError(f"{flag}: no server price known for {hw}; give it as {hw}:PRECISION:SERVER_PRICE "
                        f"(per {cat.get_hardware(hw).gpus_per_server}-GPU server, {scenario.currency})")

    if server_price_change <= -1:
        raise UserError(f"--server-price-change {server_price_change}: allowed: a number above -1")
    if software_gain <= 0:
        raise UserError(f"--software-gain {software_gain}: allowed: a positive number")
    util = scenario.utilisation
    k = scenario.financing.discount_rate
    a = Side(f_hw, f_prec, from_model or s.model, price_for(f_hw, f_price, "--from"), 0.0, 1.0,
             util if from_utilisation is None else from_utilisation, k if from_cost_of_capital is None
             else from_cost_of_capital)
    # The scenario's own server price splits into its base and its recent rise (capex.recent_server_price_rise),
    # so the bridge shows "prices rose 50%" as a factor of its own; --server-price-change compounds on top.
    recent = scenario.capex.recent_server_price_rise if (t_price is None and t_hw == s.hardware) else 0.0
    t_base = price_for(t_hw, t_price, "--to") / (1.0 + recent)
    rise = (1.0 + recent) * (1.0 + server_price_change) - 1.0
    b = Side(t_hw, t_prec, to_model or s.model, t_base, rise,
             software_gain, util if to_utilisation is None else to_utilisation,
             k if to_cost_of_capital is None else to_cost_of_capital)
    for side, name in ((a, "from"), (b, "to")):
        if not 0 < side.utilisation <= 1:
            raise UserError(f"--{name}-utilisation {side.utilisation}: allowed: a number in (0, 1]")
        if not -1 < side.cost_of_capital < 1:
            raise UserError(f"--{name}-cost-of-capital {side.cost_of_capital}: allowed: a number in (-1, 1)")
    return a, b
