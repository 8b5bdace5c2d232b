"""Cluster finance (DESIGN.md section 7): monthly cash flows of a cluster and its contract, returns, paybacks, debt
cover, and the rents that meet a target.

The engine takes typed inputs only (:class:`FinanceInputs`, :class:`DebtTerms`); ``tokensim.resolve.finance`` builds
them from a scenario and :func:`tokensim.run_finance` runs a scenario end to end.
"""

from __future__ import annotations

from ._availability import availability_share, sla_credit_share
from ._batch import (
    BATCH_METRICS,
    BLOCK_ROWS,
    DebtSizing,
    batch_metrics,
    constant_drivers,
    debt_at_close,
    size_debt,
    sizing_case,
    sizing_key,
    stack_inputs,
    stack_terms,
)
from ._cashflows import (
    DAYS_PER_MONTH,
    LOAN_DEFAULT_REASONS,
    CashFlows,
    Drivers,
    FinanceInputs,
    Metrics,
    cashflows,
    dsra_target_by_month,
    finance_metrics,
)
from ._cover import (
    balloon_cover,
    cover_by_month,
    cover_ratios,
    debt_rate_by_month,
    lender_case,
    lender_case_at,
    residual_quantile_share,
    with_residual_share,
)
from ._debt import DebtSchedule, DebtTerms, build_debt_schedule, financing_fees, payment_calendar
from ._residual import EconomicResidualParts, economic_residual_parts, percent_of_cost_at, residual_at_age
from ._residual import _annuity_factor as annuity_factor
from ._run import DEFINITIONS, FinanceResult, schedule_frame
from ._solve import (
    NPV_ZERO,
    TARGET_METRICS,
    RentSolution,
    Target,
    payback_requirements,
    payback_rows,
    payback_targets,
    rent_units,
    solve_rent,
    solve_rents,
    usage_frontier,
)

__all__ = [
    "BATCH_METRICS", "BLOCK_ROWS", "CashFlows", "DEFINITIONS", "DebtSchedule", "DebtTerms", "Drivers",
    "LOAN_DEFAULT_REASONS", "dsra_target_by_month",
    "EconomicResidualParts", "FinanceInputs", "build_debt_schedule", "economic_residual_parts", "percent_of_cost_at",
    "payment_calendar", "residual_at_age",
    "FinanceResult", "Metrics", "NPV_ZERO", "RentSolution", "TARGET_METRICS", "Target", "batch_metrics", "cashflows",
    "constant_drivers", "debt_at_close", "finance_metrics", "payback_requirements", "payback_rows", "payback_targets",
    "rent_units", "schedule_frame", "sizing_key", "solve_rent", "solve_rents", "stack_inputs", "stack_terms",
    "usage_frontier", "DebtSizing", "size_debt",
    "sizing_case", "financing_fees", "availability_share", "sla_credit_share", "DAYS_PER_MONTH", "balloon_cover",
    "cover_by_month",
    "cover_ratios",
    "debt_rate_by_month", "lender_case", "lender_case_at", "residual_quantile_share", "with_residual_share",
    "annuity_factor",
]
