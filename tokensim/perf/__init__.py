"""Inference performance: tokens per second per GPU at an operating point, the SLO search and the Pareto frontier
(:mod:`._model` over the array kernels of :mod:`._core`), the efficiency factors and their calibration, and the
validation against published measurements.
"""

from __future__ import annotations

from ._model import (  # noqa: F401
    MODES,
    SLO,
    Deployment,
    Workload,
    build_step_model,
    concurrency_grid,
    default_deployment,
    evaluate,
    operating_point,
    pareto_frontier,
    predict,
    serving_slo,
    serving_workload,
)
from .efficiency import (  # noqa: F401
    GLOBAL_FACTORS,
    PHASE_FACTORS,
    PHASES,
    Efficiency,
    PhaseEfficiency,
    load_efficiency,
    render_calibration,
)

__all__ = ["Deployment", "Efficiency", "GLOBAL_FACTORS", "MODES", "PHASES", "PHASE_FACTORS", "PhaseEfficiency", "SLO", "Workload", "build_step_model", "concurrency_grid", "default_deployment", "evaluate", "load_efficiency", "operating_point", "pareto_frontier", "predict", "render_calibration", "serving_slo", "serving_workload"]
