"""Time units and rate conversions shared by every stage: one home for each.

A year is 365 days (8,760 hours); rents and costs per GPU-hour, and every monthly figure, use it throughout.
"""

from __future__ import annotations

__all__ = ["HOURS_PER_MONTH", "HOURS_PER_YEAR", "SECONDS_PER_HOUR", "monthly_rate"]

HOURS_PER_YEAR = 8760.0  # a 365-day year
HOURS_PER_MONTH = HOURS_PER_YEAR / 12.0  # 730 hours
SECONDS_PER_HOUR = 3600.0


def monthly_rate(annual_rate: float) -> float:
    """The monthly rate that compounds to ``annual_rate`` over twelve months.

    Parameters
    ----------
    annual_rate : float
        Effective annual rate (0.05 = 5% a year); must be above -1.

    Returns
    -------
    float
        ``(1 + annual_rate) ** (1/12) - 1``, per month.
    """
    return (1.0 + annual_rate) ** (1.0 / 12.0) - 1.0
