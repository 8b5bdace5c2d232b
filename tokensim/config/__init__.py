"""Loading and validating the YAML inputs: scenarios, their uncertainty, and the catalogues of accelerators,
models, precision recipes, GPU-hour prices and exchange rates. Nothing here computes an answer; every later layer
takes what this package loads.
"""

from __future__ import annotations

from .catalog import (  # noqa: F401
    Catalog,
    load_catalog,
)
from .hardware import (  # noqa: F401
    COMPUTE_CLASSES,
    Hardware,
    load_hardware_file,
)
from .models import (  # noqa: F401
    ModelSpec,
    load_model_file,
)
from .money import (  # noqa: F401
    FxTable,
    check_currency,
    convert,
    fx_factor,
    load_fx,
)
from .precisions import (  # noqa: F401
    Format,
    Recipe,
    ResolvedPrecision,
    load_precisions_file,
    resolve_precision,
)
from .prices import (  # noqa: F401
    PriceEntry,
    load_prices,
    load_prices_file,
)
from .reader import (  # noqa: F401
    Section,
    check_number,
    config_dir,
    kernels_dir,
    load_yaml,
    resolve_config_path,
)
from .scenario import (
    Assumption,
    Capex,
    Cluster,
    Contract,
    Delivery,
    Financing,
    Opex,
    PreviousGeneration,
    Residual,
    Scenario,
    Serving,
    Tax,
    load_scenario,
    rent_per_gpu_month,
)
from .types import (  # noqa: F401
    AMORTISATIONS,
    BILLINGS,
    CONTRACT_TYPES,
    PAYERS,
    RESIDUAL_METHODS,
)
from .uncertainty import (  # noqa: F401
    CORRELATED_DRIVERS,
    EfficiencyGains,
    FloatingBaseRate,
    MarketRent,
    PowerPrice,
    TenantDefault,
    TokenPrice,
    TokenVolume,
    Uncertainty,
    Utilisation,
    load_uncertainty,
    parse_uncertainty,
)

__all__ = [
    "AMORTISATIONS", "Assumption", "BILLINGS", "COMPUTE_CLASSES", "CONTRACT_TYPES", "CORRELATED_DRIVERS", "Capex",
    "Catalog", "Cluster", "Contract", "Delivery", "EfficiencyGains", "Financing", "FloatingBaseRate", "Format",
    "FxTable", "Hardware", "MarketRent", "ModelSpec", "Opex", "PAYERS", "PowerPrice", "PreviousGeneration",
    "RESIDUAL_METHODS", "Recipe", "Residual", "ResolvedPrecision", "Scenario", "Section", "Serving", "Tax",
    "TenantDefault", "TokenPrice", "TokenVolume", "Uncertainty", "Utilisation", "check_currency", "check_number",
    "config_dir", "convert", "fx_factor", "kernels_dir", "load_catalog", "load_fx", "load_hardware_file",
    "load_model_file", "load_precisions_file", "load_scenario", "load_uncertainty", "load_yaml", "parse_uncertainty",
    "rent_per_gpu_month", "resolve_config_path", "resolve_precision",
    "PriceEntry", "load_prices", "load_prices_file",
]
