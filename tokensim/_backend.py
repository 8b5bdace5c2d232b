"""Choosing the array backend: ``--backend auto|numpy|cupy`` (DESIGN.md section 9).

``auto`` takes CuPy when it imports and sees a CUDA device, otherwise NumPy with one note saying why (logged on the
``tokensim`` logger at INFO; the command line prints it as one stderr line), so a run on a laptop works and says what
it did. Asking for ``cupy`` where it cannot work is a
:class:`~tokensim.UserError` that says how to fix it (which pip extra to install, chosen by the CUDA driver's
major version when it can be read). CuPy is imported only inside :func:`select_backend`, never at import time.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from ._errors import UserError, did_you_mean

__all__ = ["BACKEND_NAMES", "Backend", "select_backend", "cuda_driver_major"]

BACKEND_NAMES = ("auto", "numpy", "cupy")
_log = logging.getLogger("tokensim")

# pip extras in pyproject.toml, by the CUDA major version the driver supports. A CUDA 13 driver also runs the
# cuda12 wheel, but the matching major is the one NVIDIA tests together.
_EXTRA_BY_DRIVER_MAJOR = {12: "cuda12", 13: "cuda13"}
_NOT_INSTALLED = "CuPy not installed"


@dataclass(frozen=True)
class Backend:
    """The array library a run uses: ``name`` ("numpy" or "cupy"), the module ``xp`` and the device name or None."""

    name: str
    xp: ModuleType
    device: str | None = None

    @property
    def is_gpu(self) -> bool:
        return self.name == "cupy"


def cuda_driver_major() -> int | None:
    """The CUDA major version the installed driver supports (12, 13, ...), or None when no driver can be read.

    Read from the driver library itself (``cuDriverGetVersion`` needs no ``cuInit`` and no CuPy), so the install
    hint can name the right wheel even when CuPy is absent.
    """
    # The driver's soname on Linux (installed by the NVIDIA driver package, not the toolkit), its DLL on Windows.
    for name in ("nvcuda.dll",) if sys.platform == "win32" else ("libcuda.so.1",):
        try:
            libcuda = ctypes.CDLL(name)
            version = ctypes.c_int(0)
            if libcuda.cuDriverGetVersion(ctypes.byref(version)) == 0 and version.value > 0:
                return version.value // 1000  # encoded as 1000 * major + 10 * minor (CUDA driver API docs)
        except (OSError, AttributeError):
            continue
    return None


def _install_hint() -> str:
    major = cuda_driver_major()
    if major in _EXTRA_BY_DRIVER_MAJOR:
        return (f'install it with: pip install "tokensim[{_EXTRA_BY_DRIVER_MAJOR[major]}]" '
                f"(your NVIDIA driver supports CUDA {major})")
    if major is not None and major > max(_EXTRA_BY_DRIVER_MAJOR):
        return f'install it with: pip install "tokensim[cuda13]" (your NVIDIA driver supports CUDA {major})'
    found = f"your NVIDIA driver supports only CUDA {major}; " if major is not None else ""
    return (f'{found}install it with: pip install "tokensim[cuda12]" for a CUDA 12 driver '
            f'or pip install "tokensim[cuda13]" for a CUDA 13 driver')


def _probe_cupy() -> tuple[Backend | None, str]:
    """CuPy with a usable device, or None and the reason (one clause, for messages)."""
    try:
        import cupy  # deferred: `import tokensim` must not import CuPy
    except ImportError:
        return None, _NOT_INSTALLED
    except Exception as exc:  # a broken CUDA install raises anything from CuPy's import
        return None, f"CuPy failed to import ({type(exc).__name__}: {exc})"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError when there is no driver or no device
        return None, f"no usable CUDA device ({exc})"
    if count < 1:
        return None, "no CUDA device found"
    try:
        name = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"]
        device = name.decode() if isinstance(name, bytes) else str(name)
    except Exception:  # the name is cosmetic; the device itself answered getDeviceCount
        device = "CUDA device"
    return Backend("cupy", cupy, device), ""


def select_backend(requested: str = "auto") -> Backend:
    """The backend for ``requested`` ("auto", "numpy" or "cupy").

    ``auto`` returns CuPy when it imports and a device is present, otherwise NumPy after printing one line to stderr
    saying why. ``cupy`` raises :class:`UserError` when CuPy is missing (with the pip command) or has no device.
    """
    if not isinstance(requested, str) or requested.lower() not in BACKEND_NAMES:
        hint = did_you_mean(str(requested), BACKEND_NAMES)
        raise UserError(f"unknown backend '{requested}'; allowed: {', '.join(BACKEND_NAMES)}"
                        + (f" ({hint})" if hint else ""))
    requested = requested.lower()
    if requested == "numpy":
        return Backend("numpy", np, None)
    backend, reason = _probe_cupy()
    if backend is not None:
        return backend
    if requested == "cupy":
        if reason == _NOT_INSTALLED:
            raise UserError(f"backend 'cupy' requested but CuPy is not installed; {_install_hint()}")
        raise UserError(f"backend 'cupy' requested but {reason}; check the NVIDIA driver and CUDA_VISIBLE_DEVICES, "
                        "or use --backend numpy")
    # a note, not an error: logged on "tokensim" at INFO, which a library user sees only by asking (logging
    # configuration); the command line prints it as one stderr line (tokensim.cli). Issue 16: the library itself
    # wrote it to stderr.
    _log.info("%s; using NumPy backend", reason)
    return Backend("numpy", np, None)


def cpu_workers(limit: int = 8) -> int:
    """Threads for NumPy block work: the CPUs this process may use, at most ``limit`` (NumPy releases the GIL in
    its array loops, so blocks on threads overlap)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, limit))
