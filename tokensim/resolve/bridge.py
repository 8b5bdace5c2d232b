"""The bridge's inputs from a scenario: the shared :class:`~tokensim.bridge.BridgeContext` and the two sides."""

from __future__ import annotations

import math

from .._errors import ParameterError
from ..bridge import BridgeContext, Side
from ..config.catalog import load_catalog
from ..config.schema import Invalid, field_spec
from ..config.types import Scenario
from ..perf import SLO, Workload
from ..perf.measured import ThroughputOverride
from .cost import board_power_w, cost_inputs, server_price
from .perf import layout_pins
from .perf import slo as serving_slo
from .perf import throughput_overrides as throughput_overrides_of
from .perf import workload as serving_workload

__all__ = ["context", "sides"]


def context(scenario: Scenario, *, workload: Workload | None = None, slo: SLO | None = None,
            throughput_overrides: tuple[ThroughputOverride, ...] = ()) -> BridgeContext:
    """What both sides of the scenario's bridge share.

    Parameters
    ----------
    scenario : Scenario
        Supplies the cost inputs, the serving workload and SLO, the cached-input cost fraction, the board power
        and server overhead of its own hardware and the layout it pins (:func:`tokensim.resolve.perf.layout_pins`).
    workload, slo : optional
        Replace the scenario's workload or SLO.
    throughput_overrides : tuple of ThroughputOverride
        Rows of ``--throughput-override``; with the scenario's ``serving.measured_output_tokens_per_s_per_gpu``
        (:func:`tokensim.resolve.perf.throughput_overrides`) they replace the model's throughput where they match.

    Returns
    -------
    BridgeContext
    """
    # The scenario states the board power of its own accelerator; every other one takes the catalogue's.
    hw = load_catalog().get_hardware(scenario.serving.hardware)
    return BridgeContext(
        currency=scenario.currency, cost_inputs=cost_inputs(scenario),
        workload=workload or serving_workload(scenario.serving), slo=slo or serving_slo(scenario.serving),
        cached_input_cost_fraction=scenario.serving.cached_input_cost_fraction,
        server_overhead_factor=scenario.opex.server_overhead_factor,
        board_power_w=((hw.name, board_power_w(scenario, hw.name, hw.board_power_w)),),
        throughput_overrides=throughput_overrides_of(scenario.serving, throughput_overrides),
        layout_pins=layout_pins(scenario))


def sides(scenario: Scenario, *, from_spec: str | None = None, to_spec: str | None = None,
                        server_price_change: float = 0.0, software_gain: float = 1.0,
                        from_model: str | None = None, to_model: str | None = None, model: str | None = None,
                        from_utilisation: float | None = None, to_utilisation: float | None = None,
                        from_cost_of_capital: float | None = None, to_cost_of_capital: float | None = None
                        ) -> tuple[Side, Side]:
    """Both sides of a bridge from ``HARDWARE:PRECISION[:SERVER_PRICE]`` specs and the scenario's defaults.

    Parameters
    ----------
    scenario : Scenario
        Supplies the defaults: "from" is its previous generation (with its server price), "to" its own hardware,
        precision and server price, split into a base price and the scenario's recent rise.
    from_spec, to_spec : str, optional
        ``HARDWARE:PRECISION`` or ``HARDWARE:PRECISION:SERVER_PRICE`` (price per server, scenario currency).
    server_price_change : float
        A change on "to"'s server price *today* (0.5 = +50%: a B300 at the founding scenario's RMB 5.0 m, already
        after its recent +50% rise, then costs 7.5 m); above -1. The units of the bridge's
        ``breakeven_server_price_change_vs_today``.
    software_gain : float
        Throughput multiplier of the "to" side from serving software; positive.
    from_model, to_model : str, optional
        Models served on each side (default: ``model``).
    model : str, optional
        Model served on both sides unless ``from_model``/``to_model`` says otherwise (default: the scenario's).
    from_utilisation, to_utilisation : float, optional
        Sold share of hours, within the scenario field ``utilisation``'s bounds [0.01, 1] (default: the scenario's).
    from_cost_of_capital, to_cost_of_capital : float, optional
        Annual cost of capital, within ``financing.discount_rate``'s bounds [-0.05, 10] (default: the scenario's
        discount rate).

    Returns
    -------
    tuple of Side
        The "from" and "to" sides.
    """
    s = scenario.serving
    prev = s.previous_generation

    def parse(spec: str | None, default: tuple[str, str, float | None], param: str) -> tuple[str, str, float | None]:
        if spec is None:
            return default
        parts = spec.split(":")
        if len(parts) not in (2, 3) or not all(parts[:2]):
            raise ParameterError(param, f"'{spec}': allowed: HARDWARE:PRECISION or HARDWARE:PRECISION:SERVER_PRICE")
        cat = load_catalog()
        hw = cat.get_hardware(parts[0], param).name
        prec = cat.get_recipe(parts[1], param).name
        price = None
        if len(parts) == 3:
            try:
                price = float(parts[2])
            except ValueError:
                raise ParameterError(param, f"'{spec}': the server price '{parts[2]}' is not a number") from None
            if not math.isfinite(price) or price <= 0:
                raise ParameterError(param, f"'{spec}': the server price must be a positive number")
        return hw, prec, price

    given_spec = {"from_spec": from_spec, "to_spec": to_spec}
    prev_default = (prev.hardware, prev.precision, prev.server_price) if prev else (s.hardware, s.precision, None)
    f_hw, f_prec, f_price = parse(from_spec, prev_default, "from_spec")
    t_hw, t_prec, t_price = parse(to_spec, (s.hardware, s.precision, None), "to_spec")
    cat = load_catalog()

    def price_for(hw: str, given: float | None, param: str) -> float:
        known = given if given is not None else server_price(scenario, hw)
        if known is not None:
            return known
        raise ParameterError(param, f"'{given_spec[param]}': no server price known for {hw}; give it as "
                             f"{hw}:PRECISION:SERVER_PRICE (per {cat.get_hardware(hw).gpus_per_server}-GPU server, "
                             f"{scenario.currency})")

    if not (math.isfinite(server_price_change) and server_price_change > -1):
        raise ParameterError("server_price_change", f"{server_price_change}: allowed: a finite number above -1")
    if not (math.isfinite(software_gain) and software_gain > 0):
        raise ParameterError("software_gain", f"{software_gain}: allowed: a finite positive number")
    # A model given is checked under the name it was given by (an empty string is a name, not "not given").
    models = {}
    for param, given in (("model", model), ("from_model", from_model), ("to_model", to_model)):
        if given is not None:
            cat.get_model(given, param)
            models[param] = given
    both = models.get("model", s.model)
    util = scenario.utilisation
    k = scenario.financing.discount_rate
    a = Side(f_hw, f_prec, models.get("from_model", both), price_for(f_hw, f_price, "from_spec"), 0.0, 1.0,
             util if from_utilisation is None else from_utilisation, k if from_cost_of_capital is None
             else from_cost_of_capital)
    # The scenario's own server price (today's) splits into its base and its recent rise
    # (capex.recent_server_price_rise), so the bridge shows "prices rose 50%" as a factor of its own;
    # --server-price-change is a further change on today's price, kept apart so the break-even is in its units.
    recent = scenario.capex.recent_server_price_rise if (t_price is None and t_hw == s.hardware) else 0.0
    t_base = price_for(t_hw, t_price, "to_spec") / (1.0 + recent)
    b = Side(t_hw, t_prec, models.get("to_model", both), t_base, recent,
             software_gain, util if to_utilisation is None else to_utilisation,
             k if to_cost_of_capital is None else to_cost_of_capital, server_price_change)
    # The scenario's own bounds (a value left out is the scenario's, already inside them): a range of the bridge's
    # own would name an option the user never gave for a scenario value outside it.
    for side, name in ((a, "from"), (b, "to")):
        for param, value, field in ((f"{name}_utilisation", side.utilisation, (None, "utilisation")),
                                    (f"{name}_cost_of_capital", side.cost_of_capital, ("financing", "discount_rate"))):
            spec = field_spec(*field)
            try:
                spec.check(value)
            except Invalid as exc:
                raise ParameterError(param, f"{value}: allowed: {exc.allowed}") from None
    return a, b
