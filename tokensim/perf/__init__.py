"""Inference performance: tokens per second per GPU at an operating point, the SLO search and the Pareto frontier
(:mod:`._model` over the array kernels of :mod:`._core`), the efficiency factors and their calibration, and the
validation against published measurements.
"""

from __future__ import annotations

from ._core import StepModel
from ._model import (  # noqa: F401
    AFD_SYNTAX,
    MODES,
    POOL_KINDS,
    POOL_SYNTAX,
    SLO,
    AfdPool,
    BatchSearch,
    Deployment,
    Instance,
    LayoutChoice,
    Pool,
    Prediction,
    Workload,
    batch_search,
    build_afd_step_models,
    build_step_model,
    candidate_deployments,
    concurrency_grid,
    default_deployment,
    evaluate,
    instance,
    latency_layout,
    layout,
    layout_envelope,
    operating_point,
    pareto_frontier,
    parse_afd,
    parse_pool,
    predict,
    prefill_ttft_s,
    search_layout,
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
from .serving import LayoutPin, serving_instance, serving_point  # noqa: F401

__all__ = [
    "BatchSearch", "Deployment", "Efficiency", "GLOBAL_FACTORS", "Instance", "MODES", "PHASES", "PHASE_FACTORS",
    "PhaseEfficiency", "Prediction", "SLO", "StepModel", "Workload", "batch_search", "build_step_model",
    "concurrency_grid", "default_deployment", "evaluate", "instance", "latency_layout", "load_efficiency",
    "operating_point", "pareto_frontier", "predict", "render_calibration",
    "POOL_KINDS", "POOL_SYNTAX", "LayoutChoice", "Pool", "candidate_deployments", "layout", "layout_envelope",
    "parse_pool", "prefill_ttft_s", "search_layout", "LayoutPin", "serving_instance", "serving_point",
    "AFD_SYNTAX", "AfdPool", "build_afd_step_models", "parse_afd",
]
