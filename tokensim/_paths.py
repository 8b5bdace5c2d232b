"""Where the bundled data lives: ``configs/`` and ``kernels/`` inside an installed wheel (``tokensim/configs``) or at
the root of a checkout."""

from __future__ import annotations

from pathlib import Path

__all__ = ["config_dir", "kernels_dir"]

_PACKAGE_DIR = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    """The bundled folder ``name``: inside the installed package, else at the checkout root."""
    for candidate in (_PACKAGE_DIR / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"tokensim data folder '{name}' not found next to {_PACKAGE_DIR}")


def config_dir() -> Path:
    """The bundled ``configs`` folder (catalogues, scenarios, calibration, FX)."""
    return _data_dir("configs")


def kernels_dir() -> Path:
    """The bundled CUDA sources (``kernels``)."""
    return _data_dir("kernels")
