"""Structural variants of a scenario that a reader of a headline may have meant, in one home: `run`'s payback
variants and `compare --variant` build them here.

Each variant is a key, a label and a function Scenario → Scenario, or None where the variant does not apply:

- ``before-price-rise``: servers at the price before the recent rise (``capex.server_price / (1 + rise)``);
- ``lessee-pays-power``: the lessee pays power and space (``opex.power_and_facility_paid_by: lessee``);
- ``debt-tenor-8y``: debt with an 8-year tenor (the horizon then runs to the debt's maturity:
  :func:`tokensim.resolve.finance.to_debt_maturity`).
"""

from __future__ import annotations

import dataclasses

from .._errors import UserError, did_you_mean
from ..config.types import Scenario

__all__ = ["VARIANTS", "variant"]

VARIANTS = ("before-price-rise", "lessee-pays-power", "debt-tenor-8y")


def variant(s: Scenario, key: str) -> tuple[str, Scenario] | None:
    """The labelled variant ``key`` of a scenario, or None where it does not apply (no recent rise, the lessee
    already pays power, no debt or a tenor of 8 years or more).

    Parameters
    ----------
    s : Scenario
        A loaded scenario.
    key : str
        One of :data:`VARIANTS`.

    Returns
    -------
    tuple of (str, Scenario) or None
        A label for people and the varied scenario.
    """
    if key == "before-price-rise":
        rise = s.capex.recent_server_price_rise
        if not rise:
            return None
        before = dataclasses.replace(s.capex, server_price=s.capex.server_price / (1 + rise))
        return f"servers at the price before the {rise:.0%} rise", dataclasses.replace(s, capex=before)
    if key == "lessee-pays-power":
        if s.opex.power_and_facility_paid_by != "lessor":
            return None
        return ("lessee pays power and space",
                dataclasses.replace(s, opex=dataclasses.replace(s.opex, power_and_facility_paid_by="lessee")))
    if key == "debt-tenor-8y":
        if not (s.financing.debt_share > 0 and s.financing.tenor_years < 8):
            return None
        return ("8-year debt tenor",
                dataclasses.replace(s, financing=dataclasses.replace(s.financing, tenor_years=8.0)))
    hint = did_you_mean(key, VARIANTS)
    raise UserError(f"variant {key!r}: allowed: {', '.join(VARIANTS)}" + (f" ({hint})" if hint else ""))
