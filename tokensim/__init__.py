"""tokensim: token-economics simulator for GPU inference capacity.

The public surface is re-exported here: scenario-level entry points (``run_*``), the stages' typed inputs and
results, and the loaders. Every exported class and function reports ``tokensim`` as its module (as httpx does), so
reprs, docs and pickles name the public path. ``import tokensim`` never imports CuPy, matplotlib, SALib or pandas.
docs/architecture.md draws the layers underneath.

>>> import tokensim
>>> point = tokensim.predict("H200", "llama-3.3-70b", "fp8", tokensim.Workload(1000, 1000))
>>> scenario = tokensim.load_scenario("b300-10k-cluster")
>>> tokensim.run_finance(scenario).payback_years["simple"]  # doctest: +SKIP
"""

from __future__ import annotations

from ._errors import ConfigError, ConfigErrors, ParameterError, UserError
from ._irr import IRR_REASONS, annualise_monthly_rate, irr, npv
from ._version import __version__
from .api import run_bridge, run_finance, run_montecarlo
from .bridge import BridgeResult, Side
from .config.catalog import load_catalog
from .config.scenario import load_scenario
from .config.types import Scenario
from .config.uncertainty import Uncertainty
from .cost import (
    CostBreakdown,
    CostInputs,
    ServingPnl,
    TokenCost,
    cost_per_gpu_hour,
    cost_per_million_tokens,
    gpus_needed,
    serving_pnl,
)
from .finance import FinanceInputs, FinanceResult, Target
from .montecarlo import MonteCarloResult
from .perf import SLO, Deployment, Prediction, Workload, evaluate, predict
from .report import Report, run_report
from .resolve.bridge import sides as bridge_sides
from .sensitivity import SensitivityResult, run_sensitivity
from .sweep import SweepResult, run_sweep

__all__ = [
    # entry points
    "run_report", "run_finance", "run_montecarlo", "run_bridge", "run_sweep", "run_sensitivity", "bridge_sides",
    "predict", "evaluate", "cost_per_gpu_hour", "cost_per_million_tokens", "gpus_needed", "serving_pnl",
    "irr", "npv", "annualise_monthly_rate", "load_scenario", "load_catalog",
    # inputs
    "Scenario", "Uncertainty", "Workload", "SLO", "Deployment", "Side", "Target", "CostInputs", "FinanceInputs",
    # results
    "Report", "FinanceResult", "MonteCarloResult", "BridgeResult", "SweepResult", "SensitivityResult", "Prediction",
    "CostBreakdown", "TokenCost", "ServingPnl",
    # errors and constants
    "UserError", "ConfigError", "ConfigErrors", "ParameterError", "IRR_REASONS", "__version__",
]

for _name in __all__:
    _obj = globals()[_name]
    if (isinstance(_obj, type) or callable(_obj)) and getattr(_obj, "__name__", None) == _name:
        _obj.__module__ = "tokensim"
del _name, _obj
