"""The package's public surface."""

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

import tokensim


def test_all_lists_exactly_the_public_names():
    """``tokensim.__all__`` equals the public (non-underscore, non-module) names that ``tokensim._public`` loads, and
    the package itself defines nothing public beyond its lazy-loading machinery."""
    import tokensim._public as loaded

    public = {name for name, value in vars(loaded).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"}
    assert set(tokensim.__all__) == public | {"__version__"}
    own = {name for name, value in vars(tokensim).items()
           if not name.startswith("_") and not isinstance(value, types.ModuleType)}
    assert own <= {"annotations", "TYPE_CHECKING", "Any"}


def test_import_tokensim_loads_nothing_until_a_name_is_used():
    """``import tokensim`` loads no submodule (so the command's entry point can catch a Ctrl-C during the imports);
    the first public name used loads the package, and every public class reports ``tokensim`` as its module."""
    code = """
import json, sys
import tokensim
before = sorted(m for m in sys.modules if m.startswith("tokensim."))
point_cls = tokensim.Workload
print(json.dumps([before, point_cls.__module__, "tokensim.api" in sys.modules]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [[], "tokensim", True]


def test_every_public_name_imports():
    """``from tokensim import *`` imports every name of ``tokensim.__all__`` (a stale entry fails here)."""
    namespace: dict = {}
    exec("from tokensim import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(tokensim.__all__)


# Optional or heavy dependencies a plain `import tokensim` must not load (each is imported where it is used).
HEAVY = ("cupy", "matplotlib", "SALib", "pandas", "pyarrow", "dask", "scipy", "plotly", "openpyxl", "playwright")
# Modules whose import must not load CuPy (only a GPU backend does) or matplotlib (only drawing a chart does); the
# command line, which may load the other heavy dependencies, is checked by test_module_entry_point_runs.
LIGHT_MODULES = ("tokensim._backend", "tokensim._kernels", "tokensim.montecarlo._rng", "tokensim.report",
                 "tokensim.plots._charts")


def test_import_is_light():
    """In a fresh interpreter, ``import tokensim`` loads none of the heavy dependencies, and its backend, kernel, RNG,
    report and plots modules load neither CuPy nor matplotlib."""
    code = f"""
import importlib, json, sys
import tokensim
loaded = {{"tokensim": [m for m in {HEAVY!r} if m in sys.modules]}}
for module in {LIGHT_MODULES!r}:
    importlib.import_module(module)
loaded["modules"] = [m for m in ("cupy", "matplotlib") if m in sys.modules]
print(json.dumps(loaded))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"tokensim": [], "modules": []}


def test_installed_entry_point_runs():
    """The installed ``tokensim`` script runs the command line and exits 2 on a user error, without a traceback (a
    subprocess, not CliRunner; ``--version`` through the same ``main``: test_module_entry_point_runs)."""
    script = Path(sys.executable).with_name("tokensim")
    if not script.exists():
        pytest.skip(f"no tokensim script next to {sys.executable}: package not installed in this interpreter")
    bad = subprocess.run([str(script), "catalog", "hardware", "--format", "xml"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "Invalid value for '--format'" in bad.stderr


def test_module_entry_point_runs():
    """``python -m tokensim`` runs the same command line, and loading it imports neither CuPy nor matplotlib."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "tokensim", "--version"], capture_output=True,
                         text=True)
    assert out.returncode == 0 and tokensim.__version__ in out.stdout
    imported = {line.rsplit("|", 1)[1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    assert "tokensim._entry" in imported and "tokensim.cli._common" in imported
    assert not {m for m in imported if m.split(".")[0] in ("cupy", "matplotlib")}
