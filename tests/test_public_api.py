"""The package's public surface."""

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

import tokensim


def test_all_lists_exactly_the_public_names():
    """``tokensim.__all__`` equals the package's public (non-underscore, non-module) attributes."""
    public = {name for name, value in vars(tokensim).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"}
    assert set(tokensim.__all__) == public | {"__version__"}


def test_every_public_name_imports():
    """Every name in ``tokensim.__all__`` imports with ``from tokensim import NAME`` (no stale re-export)."""
    namespace: dict = {}
    for name in tokensim.__all__:
        exec(f"from tokensim import {name}", namespace)
        assert namespace[name] is getattr(tokensim, name)


# Optional or heavy dependencies a plain `import tokensim` must not load (each is imported where it is used).
HEAVY = ("cupy", "matplotlib", "SALib", "pandas", "pyarrow", "dask", "scipy")
# Modules that may load some heavy dependencies but never these two: CuPy only when a GPU backend is selected,
# matplotlib only when a chart is drawn.
NEVER_ON_IMPORT = {"tokensim._backend": ("cupy",), "tokensim._kernels": ("cupy",),
                   "tokensim.montecarlo._rng": ("cupy",), "tokensim.cli": ("cupy", "matplotlib"),
                   "tokensim.report": ("cupy", "matplotlib"), "tokensim.plots._charts": ("cupy", "matplotlib")}


def test_import_is_light():
    """In a fresh interpreter, ``import tokensim`` loads none of the heavy dependencies; its backend, kernel and RNG
    modules then load no CuPy, and its CLI, report and plots modules neither CuPy nor matplotlib."""
    code = f"""
import importlib, json, sys
import tokensim
loaded = {{"tokensim": [m for m in {HEAVY!r} if m in sys.modules]}}
for module, never in {NEVER_ON_IMPORT!r}.items():
    importlib.import_module(module)
    loaded[module] = [m for m in never if m in sys.modules]
print(json.dumps(loaded))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout)
    assert loaded == {name: [] for name in ["tokensim", *NEVER_ON_IMPORT]}, loaded


def test_installed_entry_point_runs():
    """The installed ``tokensim`` script exits 0 on --version and 2 on a user error (a subprocess, not CliRunner)."""
    script = Path(sys.executable).with_name("tokensim")
    if not script.exists():
        pytest.skip(f"no tokensim script next to {sys.executable}: package not installed in this interpreter")
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and tokensim.__version__ in out.stdout
    bad = subprocess.run([str(script), "catalog", "hardware", "--format", "xml"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_module_entry_point_runs():
    """``python -m tokensim`` runs the same command line."""
    out = subprocess.run([sys.executable, "-m", "tokensim", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and tokensim.__version__ in out.stdout
