"""Scenario-level entry points: resolve a loaded scenario (:mod:`tokensim.resolve`) and run one stage on it.

These are the functions a notebook user calls with a :class:`~tokensim.Scenario`; the stages underneath take typed
inputs only. ``tokensim`` re-exports each of them.
"""

from __future__ import annotations

from .bridge import FACTORS, BridgeResult, Side
from .bridge import bridge as _bridge
from .config.types import Scenario
from .perf import SLO, Workload
from .resolve import bridge as _resolve_bridge

__all__ = ["run_bridge"]


def run_bridge(scenario: Scenario, a: Side | None = None, b: Side | None = None, *, metric: str = "blended",
               order: tuple[str, ...] = FACTORS, workload: Workload | None = None,
               slo: SLO | None = None) -> BridgeResult:
    """The price-vs-efficiency bridge of a scenario: how unit token cost moves from side A to side B, and why.

    Parameters
    ----------
    scenario : Scenario
        Supplies the cost inputs, workload, SLO and the default sides.
    a, b : Side, optional
        The two ends (default: :func:`tokensim.resolve.bridge.sides` of the scenario: its previous generation and its
        own hardware, precision and server price).
    metric : {"blended", "output", "input"}
        Which cost per million tokens to bridge.
    order : tuple of str
        The sequential waterfall's order.
    workload, slo : optional
        Replace the scenario's workload or SLO.

    Returns
    -------
    BridgeResult
        Unit costs per million tokens in the scenario currency, exact Shapley contributions, the waterfall and the
        break-even server-price rise.
    """
    if a is None or b is None:
        default_a, default_b = _resolve_bridge.sides(scenario)
        a, b = a or default_a, b or default_b
    context = _resolve_bridge.context(scenario, workload=workload, slo=slo)
    return _bridge(context, a, b, metric=metric, order=order)