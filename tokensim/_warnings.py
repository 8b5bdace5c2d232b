"""Plausibility warnings: a result that computed but that a reader should not take at face value.

A warning is a dict ``{"code", "field", "message"}``; results carry a ``warnings`` list in their JSON and the command
line prints each on stderr as ``tokensim: warning: ...``. The checks are rules of thumb with their reasons, not
errors: the number stands, the warning says why to doubt it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["IRR_PLAUSIBLE_PER_YEAR", "Notice", "cost_terms", "extrapolation", "irr", "non_finite", "usage_throughput"]

Notice = dict[str, str]

# Beyond ±1,000% a year an IRR says more about the shape of the cash flows (a tiny equity slice, a sign change late
# in the horizon) than about the project: issue 12 found +453% project and -99.97% equity IRRs on one case.
IRR_PLAUSIBLE_PER_YEAR = 10.0


def _warning(code: str, field: str, message: str) -> Notice:
    return {"code": code, "field": field, "message": message}


def irr(field: str, value: float | None) -> list[Notice]:
    """An annual IRR beyond ±:data:`IRR_PLAUSIBLE_PER_YEAR` (±1,000%).

    Parameters
    ----------
    field : str
        The output field (``equity_irr``).
    value : float or None
        The IRR as an annual fraction; NaN or None (no IRR) gives no warning (its reason is reported elsewhere).

    Returns
    -------
    list of dict
        Zero or one warning.
    """
    if value is None or not math.isfinite(value) or abs(value) <= IRR_PLAUSIBLE_PER_YEAR:
        return []
    return [_warning("implausible_irr", field, f"{field} is {value:+.4g} a year ({value:+.0%}), beyond "
                     f"±{IRR_PLAUSIBLE_PER_YEAR:.0%}: it reflects the shape of the cash flows (a small equity "
                     "slice, late sign changes) more than the return; read NPV and MIRR beside it")]


def non_finite(values: Mapping[str, Any]) -> list[Notice]:
    """Numbers that overflowed or are undefined where a finite number was expected.

    Parameters
    ----------
    values : mapping of str to number
        Output fields that should be finite (money, rates, throughputs).

    Returns
    -------
    list of dict
        One warning per field that is infinite or NaN.
    """
    out = []
    for field, value in values.items():
        if isinstance(value, (int, float)) and not math.isfinite(value):
            out.append(_warning("non_finite", field, f"{field} is {value}: the inputs overflow or cancel "
                                "(an extreme value); the JSON shows null"))
    return out


def cost_terms(terms: Mapping[str, float], field: str = "cost_per_gpu_hour") -> list[Notice]:
    """A term of a cost breakdown below zero (a cost cannot be negative; a negative term means an input pair that
    the schema allows separately is absurd together).

    Parameters
    ----------
    terms : mapping of str to float
        The breakdown's terms per GPU-hour.
    field : str
        The output the breakdown belongs to.

    Returns
    -------
    list of dict
        One warning per negative term.
    """
    return [_warning("negative_cost", f"{field}.{name}", f"{field} term {name} is {value:.4g}, below zero")
            for name, value in terms.items() if isinstance(value, (int, float)) and value < 0]


def usage_throughput(assumed_tokens_per_s_per_gpu: float, predicted_tokens_per_s_per_gpu: float,
                     field: str = "contract.usage_tokens_per_s_per_gpu") -> list[Notice]:
    """A usage-linked fee that assumes more throughput than the performance model gives at the scenario's SLO.

    Parameters
    ----------
    assumed_tokens_per_s_per_gpu : float
        Output tokens/s per GPU the contract's usage fee assumes.
    predicted_tokens_per_s_per_gpu : float
        Output tokens/s per GPU the performance model predicts at the scenario's operating point.
    field : str
        The scenario field of the assumption.

    Returns
    -------
    list of dict
        One warning when the assumption exceeds the prediction.
    """
    if not (assumed_tokens_per_s_per_gpu > predicted_tokens_per_s_per_gpu > 0):
        return []
    ratio = assumed_tokens_per_s_per_gpu / predicted_tokens_per_s_per_gpu
    return [_warning("usage_above_model", field, f"{field} assumes {assumed_tokens_per_s_per_gpu:,.0f} output "
                     f"tokens/s per GPU, {ratio:.1f}x the {predicted_tokens_per_s_per_gpu:,.0f} the performance model "
                     "gives at the scenario's operating point: the usage fees may be overstated")]


def extrapolation(field: str, points: Iterable[Mapping[str, Any]]) -> list[Notice]:
    """Predictions outside the performance model's validated envelope (fewer than 10 measured rows for the hardware
    family, model family and per-user speed band).

    Parameters
    ----------
    field : str
        The output the predictions feed.
    points : iterable of mapping
        ``Prediction.to_dict()`` records (``extrapolation``, ``hardware``, ``model``, ``precision``).

    Returns
    -------
    list of dict
        One warning per prediction that extrapolates.
    """
    return [_warning("extrapolation", field, f"{p.get('model')} on {p.get('hardware')} at {p.get('precision')} is "
                     "outside the performance model's validated envelope (" + _why_outside(p) + ")")
            for p in points if p.get("extrapolation")]


def _why_outside(p: Mapping[str, Any]) -> str:
    """The envelope tests a point fails, as the performance model states them (``extrapolation_reason``)."""
    return p.get("extrapolation_reason") or ("fewer than 10 measured rows for its hardware family, model family and "
                                             "per-user speed band, more sequences per GPU than any of them served, or "
                                             "a layout kind none of its families' rows ran")