"""Loading and validating the YAML inputs: scenarios, their uncertainty, and the catalogues of accelerators,
models, precision recipes and exchange rates. Nothing here computes an answer; every later layer takes what this
package loads.
"""

from __future__ import annotations

from .scenario import (  # noqa: F401
    Assumption, Scenario, Serving, PreviousGeneration, Cluster, Delivery, Capex, Opex, Financing, Contract, Tax, Residual, load_scenario, rent_per_gpu_month, HOURS_PER_YEAR, HOURS_PER_MONTH,
)

from .types import (  # noqa: F401
    AMORTISATIONS, CONTRACT_TYPES, BILLINGS, RESIDUAL_METHODS, PAYERS,
)

from .uncertainty import (  # noqa: F401
    CORRELATED_DRIVERS, MarketRent, Utilisation, TokenVolume, TokenPrice, Efficiency, PowerPrice, FloatingBaseRate, TenantDefault, Uncertainty, parse_uncertainty, load_uncertainty,
)

from .catalog import (  # noqa: F401
    Catalog, load_catalog,
)

from .hardware import (  # noqa: F401
    Hardware, load_hardware_file, COMPUTE_CLASSES,
)

from .models import (  # noqa: F401
    ModelSpec, load_model_file,
)

from .precisions import (  # noqa: F401
    Format, Recipe, ResolvedPrecision, load_precisions_file, resolve_precision,
)

from .money import (  # noqa: F401
    FxTable, load_fx, check_currency, fx_factor, convert,
)

from ._yaml import (  # noqa: F401
    Section, config_dir, kernels_dir, load_yaml, resolve_config_path,
)

__all__ = ["AMORTISATIONS", "Assumption", "BILLINGS", "COMPUTE_CLASSES", "CONTRACT_TYPES", "CORRELATED_DRIVERS", "Capex", "Catalog", "Cluster", "Contract", "Delivery", "Efficiency", "Financing", "FloatingBaseRate", "Format", "FxTable", "HOURS_PER_MONTH", "HOURS_PER_YEAR", "Hardware", "MarketRent", "ModelSpec", "Opex", "PAYERS", "PowerPrice", "PreviousGeneration", "RESIDUAL_METHODS", "Recipe", "Residual", "ResolvedPrecision", "Scenario", "Section", "Serving", "Tax", "TenantDefault", "TokenPrice", "TokenVolume", "Uncertainty", "Utilisation", "check_currency", "config_dir", "convert", "fx_factor", "kernels_dir", "load_catalog", "load_fx", "load_hardware_file", "load_model_file", "load_precisions_file", "load_scenario", "load_uncertainty", "load_yaml", "parse_uncertainty", "rent_per_gpu_month", "resolve_config_path", "resolve_precision"]
