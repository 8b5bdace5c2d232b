"""The one-server scenario several finance tests work by hand (one document, each test choosing its financing).

One HGX server (8 GPUs): capex 1,200 at close; opex 15 per GPU-year x 8 GPUs = 120 a year = 10 a month (no power:
electricity at 0; no maintenance or insurance share); no tax unless a test sets it. With the contract rent of 600 a
year (50 a month) the EBITDA is 40 a month.
"""

from __future__ import annotations

import copy
from typing import Any

_BASE: dict[str, Any] = {
    "currency": "USD", "utilisation": 1.0,
    "serving": {"hardware": "B300", "model": "deepseek-v3", "precision": "fp8", "input_tokens": 1,
                "output_tokens": 1},
    "cluster": {"servers": 1},
    "capex": {"server_price": 1200, "network_and_fabric_total": 0, "economic_life_years": 3},
    "opex": {"power_and_facility_paid_by": "lessor", "server_overhead_factor": 1, "pue": 1,
             "electricity_price_per_kwh": 0, "load_factor": 1, "facility_price_per_kw_month": 0,
             "maintenance_share_of_capex_per_year": 0, "operations_per_gpu_year": 15,
             "insurance_share_of_capex_per_year": 0},
}


def one_server(name: str, horizon_years: float, financing: dict, contract: dict) -> dict:
    """The one-server document with the given name, horizon, financing and contract sections (a fresh copy)."""
    return {"name": name, **copy.deepcopy(_BASE), "horizon_years": horizon_years,
            "financing": dict(financing), "contract": dict(contract)}
