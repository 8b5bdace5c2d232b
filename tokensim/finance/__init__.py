"""Cluster finance (DESIGN.md section 7): monthly cash flows of a cluster and its contract, returns, paybacks, debt
cover, and the rents that meet a target.
"""

from __future__ import annotations

from ._run import (  # noqa: F401
    DEFINITIONS,
    CashFlows,
    Drivers,
    FinanceInputs,
    FinanceResult,
    Metrics,
    build_inputs,
    cashflows,
    evaluate,
    rent_per_gpu_month_of,
    rent_units,
    run_finance,
    schedule_frame,
)

__all__ = ["CashFlows", "DEFINITIONS", "Drivers", "FinanceInputs", "FinanceResult", "Metrics", "build_inputs", "cashflows", "evaluate", "rent_per_gpu_month_of", "rent_units", "run_finance", "schedule_frame"]
