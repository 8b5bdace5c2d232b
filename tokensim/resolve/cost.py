"""Cost inputs of a scenario: what :func:`tokensim.cost.cost_per_gpu_hour` needs, per GPU."""

from __future__ import annotations

from dataclasses import replace

from ..config.types import Scenario
from ..cost import CostInputs, it_power_per_gpu_kw
from ..finance import residual_at_age

__all__ = ["board_power_w", "cost_inputs", "server_price"]


def cost_inputs(scenario: Scenario) -> CostInputs:
    """The per-GPU cost inputs of a scenario.

    Parameters
    ----------
    scenario : Scenario
        A loaded scenario.

    Returns
    -------
    CostInputs
        Per-GPU capex (server price / GPUs per server, network and installation shares), opex rates, the residual at
        the end of the economic life, cost of capital = the scenario's discount rate (pre-tax WACC unless set) and
        book depreciation over the tax depreciation years; money in the scenario's currency.
    """
    s = scenario
    gpus = s.cluster.gpus
    base = CostInputs(
        currency=s.currency,
        server_price_per_gpu=s.capex.server_price / s.cluster.gpus_per_server,
        network_per_gpu=s.capex.network_and_fabric_total / gpus,
        installation_per_gpu=s.capex.installation_total / gpus,
        residual_share_of_hardware=0.0,
        residual_value_per_gpu=0.0,
        economic_life_years=s.capex.economic_life_years,
        cost_of_capital=s.financing.discount_rate,
        depreciation_years=s.tax.depreciation_years,
        it_kw_per_gpu=it_power_per_gpu_kw(s.opex.board_power_w, s.opex.server_overhead_factor),
        pue=s.opex.pue,
        electricity_price_per_kwh=s.opex.electricity_price_per_kwh,
        load_factor=s.opex.load_factor,
        idle_load_factor=s.opex.idle_load_factor,
        facility_price_per_kw_month=s.opex.facility_price_per_kw_month,
        maintenance_share_of_capex_per_year=s.opex.maintenance_share_of_capex_per_year,
        operations_per_gpu_year=s.opex.operations_per_gpu_year,
        insurance_share_of_capex_per_year=s.opex.insurance_share_of_capex_per_year,
    )
    share, value = residual_at_age(s.residual, s.financing.discount_rate, base, s.capex.economic_life_years)
    return replace(base, residual_share_of_hardware=share, residual_value_per_gpu=value)


def server_price(scenario: Scenario, hardware: str) -> float | None:
    """The server price a scenario knows for an accelerator: its own hardware's (``capex.server_price``) or its
    previous generation's; ``None`` for any other.

    Parameters
    ----------
    scenario : Scenario
        A loaded scenario.
    hardware : str
        A catalogue accelerator name (canonical).

    Returns
    -------
    float or None
        Price per server in the scenario currency.
    """
    if hardware == scenario.serving.hardware:
        return scenario.capex.server_price
    prev = scenario.serving.previous_generation
    if prev is not None and hardware == prev.hardware:
        return prev.server_price
    return None


def board_power_w(scenario: Scenario, hardware: str, catalogue_board_power_w: float) -> float:
    """The board power of an accelerator in a scenario: the scenario's figure (``opex.board_power_w``) for its own
    hardware, the catalogue's for any other.

    Parameters
    ----------
    scenario : Scenario
        A loaded scenario.
    hardware : str
        A catalogue accelerator name (canonical).
    catalogue_board_power_w : float
        The catalogue's board power of ``hardware``, W.

    Returns
    -------
    float
        Board power, W.
    """
    return scenario.opex.board_power_w if hardware == scenario.serving.hardware else catalogue_board_power_w
