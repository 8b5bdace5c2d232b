"""Inference performance: tokens per second per GPU at an operating point, the SLO search and the Pareto frontier
(:mod:`._model` over the array kernels of :mod:`._core`), the efficiency factors and their calibration, and the
validation against published measurements.
"""

from __future__ import annotations

from ._core import StepModel
from ._model import (  # noqa: F401
    MODES,
    SLO,
    BatchSearch,
    Deployment,
    Instance,
    Prediction,
    Workload,
    batch_search,
    build_step_model,
    concurrency_grid,
    default_deployment,
    evaluate,
    instance,
    latency_layout,
    operating_point,
    pareto_frontier,
    predict,
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

__all__ = [
    "BatchSearch", "Deployment", "Efficiency", "GLOBAL_FACTORS", "Instance", "MODES", "PHASES", "PHASE_FACTORS",
    "PhaseEfficiency", "Prediction", "SLO", "StepModel", "Workload", "batch_search", "build_step_model",
    "concurrency_grid", "default_deployment", "evaluate", "instance", "latency_layout", "load_efficiency",
    "operating_point", "pareto_frontier", "predict", "render_calibration",
]
