"""tokensim: token-economics simulator for GPU inference capacity.

The public surface is re-exported here: scenario-level entry points (``run_*``), the stages' typed inputs and
results, and the loaders. They load on first use (PEP 562 ``__getattr__``; the imports live in
:mod:`tokensim._public`), so ``import tokensim`` costs almost nothing and never imports CuPy, matplotlib, SALib or
pandas. Every exported class and function reports ``tokensim`` as its module (as httpx does), so reprs, docs and
pickles name the public path. docs/architecture.md draws the layers underneath.

>>> import tokensim
>>> point = tokensim.predict("H200", "llama-3.3-70b", "fp8", tokensim.Workload(1000, 1000))
>>> scenario = tokensim.load_scenario("b300-10k-cluster")
>>> tokensim.run_finance(scenario).payback_years["simple"]  # doctest: +SKIP
"""

import importlib

# typing.TYPE_CHECKING without importing typing or __future__: this body runs before the command line's Ctrl-C handler
# (tokensim/_entry.py), so it imports only what the interpreter has already loaded. Type checkers read it as True.
TYPE_CHECKING = False
if TYPE_CHECKING:  # the names as type checkers and editors see them; at run time __getattr__ serves them
    from typing import Any

    from ._public import *  # noqa: F403

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
_PUBLIC = frozenset(__all__)


def __getattr__(name: str) -> "Any":
    """A public name, imported on first use from :mod:`tokensim._public`."""
    if name not in _PUBLIC:  # a submodule being imported, or a typo: never load the package for it
        raise AttributeError(f"module 'tokensim' has no attribute {name!r}")
    return getattr(importlib.import_module("tokensim._public"), name)  # the package loads here, on first use


def __dir__() -> list[str]:
    return sorted(set(globals()) | _PUBLIC)
