"""Array-namespace helpers: functions take arrays and ask them for their namespace (NumPy or CuPy).

CuPy is detected through ``sys.modules`` and never imported here, so ``import tokensim`` stays free of it.
"""

from __future__ import annotations

import sys
from types import ModuleType

import numpy as np

__all__ = ["array_namespace", "to_numpy", "is_cupy_array"]


def is_cupy_array(x: object) -> bool:
    cupy = sys.modules.get("cupy")
    return cupy is not None and isinstance(x, cupy.ndarray)


def array_namespace(*arrays: object) -> ModuleType:
    """NumPy unless any argument is a CuPy array, then CuPy."""
    for a in arrays:
        if is_cupy_array(a):
            return sys.modules["cupy"]
    return np


def to_numpy(x):
    """Bring an array (NumPy, CuPy or scalar) to host memory as a NumPy array."""
    if is_cupy_array(x):
        return x.get()
    return np.asarray(x)
