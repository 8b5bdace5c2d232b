"""Sweeps: unit cost and finance metrics over a grid of scenario fields, on NumPy or the fused CUDA kernel.
"""

from __future__ import annotations

from ._axes import AXES, SWEEP_METRICS, SweepMetric, axis_column, metric_column
from ._dask import dask_frames
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

__all__ = [
    "AXES", "Axis", "DEFAULT_MEMORY_BUDGET_MB", "FLOAT32_TOLERANCE", "MODES", "OUTPUTS", "SWEEP_METRICS",
    "ServingLayout", "Sweep", "SweepMetric", "SweepPlan", "SweepResult", "axis_column", "evaluate_points",
    "metric_column", "parse_axis", "plan_sweep", "prepare_sweep", "run_sweep", "dask_frames",
]
