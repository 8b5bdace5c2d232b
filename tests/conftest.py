"""Shared fixtures: the ``xp`` array namespace and the ``gpu`` marker.

- ``xp`` runs a test on NumPy always and on CuPy when CuPy imports and sees a device (the CuPy case carries the
  ``gpu`` marker).
- Tests marked ``gpu`` are skipped without CuPy and a device. On a GPU machine set ``TOKENSIM_REQUIRE_GPU=1``: the
  skips become failures, so a broken CuPy install cannot pass the device checks by skipping them.
"""

from __future__ import annotations

import functools
import os

import numpy as np
import pytest


@functools.lru_cache(maxsize=1)
def gpu_unavailable_reason() -> str | None:
    """None when CuPy imports and sees a CUDA device, else why not."""
    try:
        import cupy
    except ImportError:
        return "CuPy not installed"
    except Exception as exc:  # a broken CUDA install raises anything from CuPy's import
        return f"CuPy failed to import: {exc}"
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "no CUDA device"
    except Exception as exc:  # CUDARuntimeError without a driver
        return f"no usable CUDA device: {exc}"
    return None


def gpu_required() -> bool:
    return os.environ.get("TOKENSIM_REQUIRE_GPU", "") == "1"


def pytest_collection_modifyitems(config, items):
    reason = gpu_unavailable_reason()
    if reason is None or gpu_required():
        return
    skip = pytest.mark.skip(reason=f"gpu: {reason}")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


def pytest_runtest_setup(item):
    if item.get_closest_marker("gpu") is None or not gpu_required():
        return
    reason = gpu_unavailable_reason()
    if reason is not None:
        pytest.fail(f"TOKENSIM_REQUIRE_GPU=1 but {reason}", pytrace=False)


@pytest.fixture(params=["numpy", pytest.param("cupy", marks=pytest.mark.gpu)])
def xp(request):
    """The array namespace under test: numpy, and cupy where a device is present."""
    if request.param == "numpy":
        return np
    return pytest.importorskip("cupy")
