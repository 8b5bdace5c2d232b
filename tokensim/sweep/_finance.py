"""Finance metrics of a sweep (``npv``, ``project_irr``, ``equity_irr``): the scenario's cluster finance at every
distinct combination of the swept finance axes, evaluated once and looked up per grid point.

Finance reads five axes: ``rent_per_gpu_hour`` (the contract rent per GPU-hour; the market rent of a spot contract),
``spot_utilisation`` (the sold share of GPUs selling at market — uncontracted capacity, after the term or after a
default; a take-or-pay contract is owed whatever the use), ``server_price`` (per server, into the capex),
``cost_of_capital`` (the discount rate of the NPV) and ``electricity_price_per_kwh``. The ``utilisation`` axis (the
sold share of hours that prices a GPU-hour) does not enter the finance. Rent and spot utilisation vary across the rows
of one batch of the finance engine (:func:`tokensim.finance.batch_metrics` on
:func:`tokensim.resolve.finance.finance_inputs` with a rent array, the spot utilisation per row); the other three
are scalars of the engine inputs, so each of their combinations is a scenario of its own. The debt is fixed at close
on the base case (each rent's own, the scenario's spot utilisation), as in ``tokensim finance``. Always NumPy (the
Monte Carlo kernel takes one rent and one debt schedule per launch).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .._errors import UserError
from .._units import HOURS_PER_MONTH
from ..config.scenario import Scenario
from ..finance import batch_metrics
from ..resolve.finance import debt_terms, finance_inputs
from ._axes import FINANCE_METRICS

__all__ = ["FINANCE_AXES", "FINANCE_MAX_ROWS", "FINANCE_MAX_SCENARIOS", "FinanceTable"]

# Finance runs once per distinct (server price, cost of capital, electricity price, rent, spot utilisation) point.
FINANCE_MAX_ROWS = 100_000
FINANCE_MAX_SCENARIOS = 2_000
_FINANCE_BLOCK_ROWS = 2048
FINANCE_AXES = ("server_price", "cost_of_capital", "electricity_price_per_kwh", "rent_per_gpu_hour",
               "spot_utilisation")


@dataclass
class FinanceTable:
    """NPV and IRRs at every distinct combination of the swept finance axes (C order of :data:`FINANCE_AXES`)."""

    axes: tuple[str, ...]
    sizes: tuple[int, ...]
    values: dict[str, np.ndarray]

    @property
    def rows(self) -> int:
        return math.prod(self.sizes)

    def lookup(self, idx: dict[str, Any], n: int) -> dict[str, np.ndarray]:
        flat: Any = 0
        for name, size in zip(self.axes, self.sizes, strict=False):
            flat = flat * size + idx[name]
        take = np.broadcast_to(np.asarray(flat, dtype=np.int64), (n,))
        return {k: v[take] for k, v in self.values.items()}

    @classmethod
    def build(cls, plan) -> FinanceTable:
        """The finance metrics at every distinct combination of a sweep plan's finance axes.

        Parameters
        ----------
        plan : SweepPlan
            The sweep's plan (scenario, axes and their values).

        Returns
        -------
        FinanceTable
            ``npv`` (scenario's currency), ``project_irr`` and ``equity_irr`` (annual fractions) per combination, in C
            order of the swept axes of :data:`FINANCE_AXES`; :class:`~tokensim.UserError` when there are more than
            :data:`FINANCE_MAX_ROWS` combinations or :data:`FINANCE_MAX_SCENARIOS` separate scenarios.
        """
        s = plan.scenario
        axes = tuple(a for a in FINANCE_AXES if a in plan.strides)
        sizes = tuple(len(plan.slots[a]) for a in axes)
        rows = math.prod(sizes)
        scalar = [a for a in axes if a not in ("rent_per_gpu_hour", "spot_utilisation")]
        scenarios = math.prod(len(plan.slots[a]) for a in scalar)
        if rows > FINANCE_MAX_ROWS or scenarios > FINANCE_MAX_SCENARIOS:
            raise UserError(f"finance metrics on {rows:,} distinct (server price, cost of capital, electricity, rent, "
                            f"spot utilisation) points, {scenarios:,} of them separate scenarios; allowed: at most "
                            f"{FINANCE_MAX_ROWS:,} points and {FINANCE_MAX_SCENARIOS:,} scenarios (fewer values, or "
                            "leave npv/project_irr/equity_irr out of --metric)")
        rents = plan.slots["rent_per_gpu_hour"] if "rent_per_gpu_hour" in plan.strides else None
        utils = plan.slots["spot_utilisation"] if "spot_utilisation" in plan.strides else None
        n_r = 1 if rents is None else len(rents)
        n_u = 1 if utils is None else len(utils)
        pairs = [(i_r, i_u) for i_r in range(n_r) for i_u in range(n_u)]
        out = {name: np.empty(rows) for name in FINANCE_METRICS}
        row = 0
        for combo in itertools.product(*(range(len(plan.slots[a])) for a in scalar)):
            variant = _scenario_at(s, {a: float(plan.slots[a][i]) for a, i in zip(scalar, combo, strict=False)})
            base, terms = finance_inputs(variant, size_debt=False), debt_terms(variant)
            for first in range(0, len(pairs), _FINANCE_BLOCK_ROWS):
                block = pairs[first:first + _FINANCE_BLOCK_ROWS]
                inputs = base
                if rents is not None:
                    r = rents[[p[0] for p in block]]
                    inputs = (replace(base, market_rent_per_gpu_hour=r) if s.contract.type == "spot"
                              else replace(base, rent_per_gpu_month=r * HOURS_PER_MONTH))
                u = utils[[p[1] for p in block]] if utils is not None else None
                n = len(block)
                values = batch_metrics(inputs, terms, FINANCE_METRICS, spot_utilisation=u)
                for name in FINANCE_METRICS:
                    out[name][row:row + n] = values[name]
                row += n
        return cls(axes, sizes, out)


def _scenario_at(s: Scenario, values: dict[str, float]) -> Scenario:
    if "server_price" in values:
        s = replace(s, capex=replace(s.capex, server_price=values["server_price"]))
    if "cost_of_capital" in values:
        s = replace(s, financing=replace(s.financing, discount_rate=values["cost_of_capital"]))
    if "electricity_price_per_kwh" in values:
        s = replace(s, opex=replace(s.opex, electricity_price_per_kwh=values["electricity_price_per_kwh"]))
    return s
