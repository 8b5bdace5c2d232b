"""tokensim: token-economics simulator for GPU inference capacity.

The public surface is re-exported here; engine modules are private (``_x.py``) or one concept each.
``import tokensim`` never imports CuPy or matplotlib.
"""

from __future__ import annotations

from ._errors import ConfigError, UserError
from ._irr import IRR_REASONS, annualise_monthly_rate, irr, npv

__version__ = "0.1.0"

__all__ = ["ConfigError", "IRR_REASONS", "UserError", "__version__", "annualise_monthly_rate", "irr", "npv"]
