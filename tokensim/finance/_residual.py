"""Residual value of used GPUs: economic (what they can still earn) or a percentage-of-cost curve by age.

Economic method (DESIGN.md section 7, the default): a used GPU sells for the present value of what it still earns
over its remaining life: per installed hour, tokens per hour × busy share × market price per token, minus its opex
(the same formulas as the cost breakdown: :func:`tokensim.cost.opex_per_installed_gpu_hour`). The market price per
token is tied to the newest hardware: its cost per million tokens × (1 + markup). Monthly net earnings are discounted
at the scenario's discount rate (monthly effective) over ``remaining_life_years``; a negative value floors at zero
(a GPU that cannot cover its opex is scrapped). The market inputs describe the time of sale, so the value does not
depend on the age asked for.

Percent-of-cost method: share of the hardware cost (servers + network and fabric) by age, linearly interpolated
between the given ages and flat beyond the first and last.

Along a Monte Carlo path the economic value moves with the path's token price × efficiency (revenue) and power
price (power), and the percentage value with the market rent: hence the value is kept in parts here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._units import HOURS_PER_MONTH, SECONDS_PER_HOUR, monthly_rate
from ..config.types import Residual
from ..cost import TOKENS_PER_MILLION, CostInputs, opex_per_installed_gpu_hour

__all__ = ["EconomicResidualParts", "economic_residual_parts", "percent_of_cost_at", "residual_at_age",
           ]


@dataclass(frozen=True)
class EconomicResidualParts:
    """Present values per GPU over the remaining life: value = max(0, revenue − power − other)."""

    revenue: float
    power: float
    other: float

    @property
    def value(self) -> float:
        return max(0.0, self.revenue - self.power - self.other)


def _annuity_factor(rate_per_month: float, months: int) -> float:
    """Σ_{k=1..n} (1+i)^−k: the present value of 1 a month for n months, paid at each month's end."""
    if months <= 0:
        return 0.0
    if abs(rate_per_month) < 1e-15:
        return float(months)
    return (1.0 - (1.0 + rate_per_month) ** (-months)) / rate_per_month


def percent_of_cost_at(curve: tuple[tuple[float, float], ...], age_years: float) -> float:
    """The percent-of-cost residual curve at an age.

    Parameters
    ----------
    curve : tuple of (age in years, share of hardware cost) pairs
        The curve, ages ascending; interpolated linearly, flat beyond its ends.
    age_years : float
        Age of the hardware (years).

    Returns
    -------
    float
        Share of the hardware cost (fraction).
    """
    ages = np.array([a for a, _ in curve], dtype=float)
    shares = np.array([s for _, s in curve], dtype=float)
    return float(np.interp(age_years, ages, shares))


def economic_residual_parts(residual: Residual, discount_rate: float, ci: CostInputs) -> EconomicResidualParts:
    """The economic residual value of one used GPU, in parts.

    Parameters
    ----------
    residual : Residual
        The residual section (market price per token at the time of sale, busy share, remaining life).
    discount_rate : float
        Annual discount rate (fraction) of the remaining life's earnings (its monthly equivalent is used).
    ci : CostInputs
        The GPU's cost inputs (its opex per installed hour).

    Returns
    -------
    EconomicResidualParts
        Present values per GPU (currency of ``ci``) of the revenue, the power and the other opex.
    """
    r = residual
    price_per_million = r.newest_cost_per_million_tokens * (1.0 + r.markup)
    revenue_per_hour = r.tokens_per_s_per_gpu * SECONDS_PER_HOUR / TOKENS_PER_MILLION * price_per_million * r.busy_share
    opex = opex_per_installed_gpu_hour(ci, r.busy_share)
    months = int(round(r.remaining_life_years * 12))
    factor = _annuity_factor(monthly_rate(discount_rate), months) * HOURS_PER_MONTH
    other = sum(v for k, v in opex.items() if k != "power")
    return EconomicResidualParts(revenue=revenue_per_hour * factor, power=opex["power"] * factor,
                                 other=other * factor)


def residual_at_age(residual: Residual, discount_rate: float, ci: CostInputs, age_years: float) -> tuple[float, float]:
    """The residual of one GPU at an age, by the residual's method.

    Parameters
    ----------
    residual : Residual
        The residual section (method and its inputs).
    discount_rate : float
        Annual discount rate (fraction), for the economic method.
    ci : CostInputs
        The GPU's cost inputs, for the economic method.
    age_years : float
        Age of the hardware (years), for the percent-of-cost method.

    Returns
    -------
    tuple of float
        (share of hardware cost (fraction), absolute value per GPU (currency of ``ci``)); one of them is zero.
    """
    r = residual
    if r.method == "percent_of_cost":
        return percent_of_cost_at(r.percent_of_cost_by_age, age_years), 0.0
    return 0.0, economic_residual_parts(r, discount_rate, ci).value
