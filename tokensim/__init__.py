"""tokensim: token-economics simulator for GPU inference capacity.

The public surface is re-exported here; engine modules are private (``_x.py``) or one concept each.
``import tokensim`` never imports CuPy or matplotlib.

>>> import tokensim
>>> point = tokensim.predict("H200", "llama-3.3-70b", "fp8", tokensim.Workload(1000, 1000))
>>> scenario = tokensim.load_scenario("b300-10k-cluster")
>>> tokensim.run_finance(scenario).payback_years["simple"]  # doctest: +SKIP
"""

from __future__ import annotations

from ._errors import ConfigError, ConfigErrors, UserError
from ._irr import IRR_REASONS, annualise_monthly_rate, irr, npv
from ._version import __version__
from .api import run_bridge, run_finance, run_montecarlo
from .config.catalog import load_catalog
from .config.scenario import load_scenario
from .cost import cost_per_gpu_hour, cost_per_million_tokens, gpus_needed, serving_pnl
from .finance import Target
from .perf._model import SLO, Deployment, Prediction, Workload, evaluate, predict
from .report import run_report
from .resolve.bridge import sides as bridge_sides
from .sensitivity import run_sensitivity
from .sweep._run import run_sweep

__all__ = [
    "ConfigError", "ConfigErrors", "Deployment", "IRR_REASONS", "Prediction", "SLO", "Target", "UserError",
    "Workload", "__version__",
    "annualise_monthly_rate", "bridge_sides", "cost_per_gpu_hour", "cost_per_million_tokens",
    "evaluate", "gpus_needed", "irr", "load_catalog", "load_scenario", "npv", "predict", "run_finance",
    "run_bridge", "run_montecarlo", "run_report", "run_sensitivity", "run_sweep", "serving_pnl",
]
