"""A fleet's blocks as the stages' typed inputs (issue 14): the finance engine's inputs of each block, and each
block's economics as plain numbers for the valuation stage.

:func:`block_finance_inputs` is :func:`tokensim.resolve.finance.finance_inputs` of the block's scenario; a leased-in
block pays no capex (no depreciation, debt or residual) and pays its lease rent on every GPU-hour of the term as an
opex, carried by the engine's operations line (``DEFINITIONS["fleet_lease"]`` in :mod:`tokensim.fleet`).
:func:`block_inputs` lists every block as a :class:`BlockInputs`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..config.fleet import Fleet, FleetBlock
from ..cost import opex_per_installed_gpu_hour
from ..finance import FinanceInputs
from .cost import cost_inputs
from .finance import finance_inputs

__all__ = ["BlockInputs", "block_finance_inputs", "block_inputs"]


def block_finance_inputs(block: FleetBlock) -> FinanceInputs:
    """The finance engine's inputs of one block, on the block's own timeline (month 0 = its in-service month).

    Parameters
    ----------
    block : FleetBlock
        A block of a loaded fleet.

    Returns
    -------
    FinanceInputs
        Owned: :func:`finance_inputs` of its scenario, unchanged. Leased in: the same with capex, depreciation, book
        value, residual, maintenance and insurance (the owner's) at zero and ``operations_per_gpu_hour`` raised by
        the lease rent per GPU-hour (paid on every online GPU-hour of the term; the block's horizon is the term).
    """
    inputs = finance_inputs(block.scenario)
    if block.ownership == "owned":
        return inputs
    zero = np.zeros_like(inputs.capex_by_month)
    return replace(inputs, capex_total=0.0, capex_by_month=zero, depreciation_by_month=zero.copy(),
                   book_value_at_horizon=0.0, residual_method="percent_of_cost", residual_percent_value=0.0,
                   residual_pv_revenue_per_gpu=0.0, residual_pv_power_per_gpu=0.0, residual_pv_other_per_gpu=0.0,
                   maintenance_per_gpu_hour=0.0, insurance_per_gpu_hour=0.0,
                   operations_per_gpu_hour=inputs.operations_per_gpu_hour + block.lease_rent_per_gpu_hour)


@dataclass(frozen=True)
class BlockInputs:
    """One block's economics as plain numbers (money in ``currency``), for stages that value GPUs by what they earn.

    ``power_per_gpu_hour_busy`` / ``_idle``: the owner's power cost of an installed GPU-hour rented / idle at the
    scenario's electricity price; ``space_per_gpu_hour``: facility (space and cooling capacity) per installed
    GPU-hour; ``other_cash_cost_per_gpu_hour``: maintenance, operations and insurance per installed GPU-hour (a
    leased-in block: operations plus its lease rent); ``market_rent_per_gpu_hour`` at the block's month 0 and its
    ``market_rent_change_per_year``; ``capex_per_gpu`` the finance's capex per GPU (0 when leased in).
    """

    name: str
    hardware: str
    model: str
    precision: str
    gpus: int
    in_service: str  # YYYY-MM
    offset_months: int  # month 0 on the fleet's calendar
    ownership: str
    currency: str
    power_per_gpu_hour_busy: float
    power_per_gpu_hour_idle: float
    space_per_gpu_hour: float
    other_cash_cost_per_gpu_hour: float
    market_rent_per_gpu_hour: float
    market_rent_change_per_year: float
    spot_utilisation: float
    capex_per_gpu: float
    lease_rent_per_gpu_hour: float
    lease_term_months: int


def block_inputs(fleet: Fleet) -> list[BlockInputs]:
    """Every block of ``fleet`` as a :class:`BlockInputs`, in file order.

    Parameters
    ----------
    fleet : Fleet
        A loaded fleet.

    Returns
    -------
    list of BlockInputs
        Rates from :func:`tokensim.cost.opex_per_installed_gpu_hour` on each block's cost inputs (the one home of
        the opex formulas), money in the fleet's currency.
    """
    out = []
    for b in fleet.blocks:
        s = b.scenario
        ci = cost_inputs(s)
        busy, idle = opex_per_installed_gpu_hour(ci, 1.0), opex_per_installed_gpu_hour(ci, 0.0)
        owned = b.ownership == "owned"
        fi = block_finance_inputs(b)
        other = fi.maintenance_per_gpu_hour + fi.operations_per_gpu_hour + fi.insurance_per_gpu_hour
        out.append(BlockInputs(
            name=b.name, hardware=s.serving.hardware, model=s.serving.model, precision=s.serving.precision,
            gpus=b.gpus, in_service=b.in_service,
            offset_months=b.offset_months, ownership=b.ownership, currency=s.currency,
            power_per_gpu_hour_busy=float(busy["power"]), power_per_gpu_hour_idle=float(idle["power"]),
            space_per_gpu_hour=float(busy["facility"]), other_cash_cost_per_gpu_hour=float(other),
            market_rent_per_gpu_hour=float("nan") if s.contract.market_rent_per_gpu_hour is None
            else float(s.contract.market_rent_per_gpu_hour),
            market_rent_change_per_year=float(s.contract.market_rent_change_per_year),
            spot_utilisation=float(s.contract.spot_utilisation),
            capex_per_gpu=fi.capex_total / b.gpus if owned else 0.0,
            lease_rent_per_gpu_hour=b.lease_rent_per_gpu_hour, lease_term_months=b.lease_term_months))
    return out
