"""Sweeps: unit cost and finance metrics over a grid of scenario fields, on NumPy or the fused CUDA kernel.
"""

from __future__ import annotations

from ._run import (  # noqa: F401
    DEFAULT_MEMORY_BUDGET_MB,
    FLOAT32_TOLERANCE,
    MODES,
    OUTPUTS,
    Axis,
    ServingLayout,
    Sweep,
    SweepPlan,
    SweepResult,
    evaluate_points,
    parse_axis,
    plan_sweep,
    prepare_sweep,
    run_sweep,
)

__all__ = ["Axis", "DEFAULT_MEMORY_BUDGET_MB", "FLOAT32_TOLERANCE", "MODES", "OUTPUTS", "ServingLayout", "Sweep",
           "SweepPlan", "SweepResult", "evaluate_points", "parse_axis", "plan_sweep", "prepare_sweep", "run_sweep"]
