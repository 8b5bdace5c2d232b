"""Monte Carlo of a cluster's finance (DESIGN.md section 8): stochastic drivers, the NumPy and CUDA engines, and
mergeable summaries of the per-path metrics.
"""

from __future__ import annotations

from ._run import (  # noqa: F401
    DEFAULT_PATHS,
    EVAL_BLOCK_PATHS,
    FLAGS,
    FLOAT32_TOLERANCE,
    METRICS,
    MonteCarloModel,
    MonteCarloResult,
    dscr_fan,
    evaluate_paths,
    metric_specs,
    prepare,
    run_montecarlo,
)

__all__ = ["DEFAULT_PATHS", "EVAL_BLOCK_PATHS", "FLAGS", "FLOAT32_TOLERANCE", "METRICS", "MonteCarloModel", "MonteCarloResult", "dscr_fan", "evaluate_paths", "metric_specs", "prepare", "run_montecarlo"]
