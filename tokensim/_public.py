"""The public surface of :mod:`tokensim`, imported eagerly here and served lazily by ``tokensim/__init__.py``.

``import tokensim`` imports nothing heavy: the package's ``__getattr__`` imports this module on the first access of
a public name, so the command line's entry point (:mod:`tokensim._entry`) can catch a Ctrl-C that arrives while the
modules load (issue 12). Every exported class and function reports ``tokensim`` as its module (as httpx does), so
reprs, docs and pickles name the public path.
"""


from __future__ import annotations

from . import __all__ as _EXPORTS  # the one list of public names
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

__all__ = list(_EXPORTS)

for _name in __all__:
    _obj = globals()[_name]
    if (isinstance(_obj, type) or callable(_obj)) and getattr(_obj, "__name__", None) == _name:
        _obj.__module__ = "tokensim"
del _name, _obj
