"""Monte Carlo of a cluster's finance (DESIGN.md section 8): stochastic drivers, the NumPy and CUDA engines, and
mergeable summaries of the per-path metrics. The engines take a :class:`MonteCarloModel`; a scenario's is built by
:func:`tokensim.resolve.montecarlo.montecarlo_model`, and :func:`tokensim.run_montecarlo` runs a scenario end to end.
"""

from __future__ import annotations

from ._dask import DEFAULT_BLOCK_PATHS, BlockProgress, block_summary, simulate_dask
from ._drivers import driver_model, poisson_counts, poisson_table
from ._rng import normals, uniforms
from ._run import (
    CONDITIONAL_ON,
    DEFAULT_PATHS,
    EVAL_BLOCK_PATHS,
    FLAGS,
    FLOAT32_TOLERANCE,
    PATH_METRICS,
    MonteCarloModel,
    MonteCarloResult,
    build_model,
    dscr_fan,
    evaluate_paths,
    metric_specs,
    residual_p10_lender_case,
    simulate,
)
from ._summary import HistogramSpec, Summary

__all__ = [
    "CONDITIONAL_ON", "DEFAULT_PATHS", "EVAL_BLOCK_PATHS", "FLAGS", "FLOAT32_TOLERANCE", "PATH_METRICS",
    "MonteCarloModel", "MonteCarloResult", "build_model", "dscr_fan", "evaluate_paths", "metric_specs", "simulate",
    "BlockProgress", "DEFAULT_BLOCK_PATHS", "block_summary", "simulate_dask", "residual_p10_lender_case",
    "normals", "uniforms", "driver_model", "poisson_counts", "poisson_table", "HistogramSpec", "Summary",
]
