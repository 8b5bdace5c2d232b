"""The package's public surface."""

import subprocess
import sys
from pathlib import Path

import pytest

import tokensim


def test_all_lists_exactly_the_public_names():
    """``tokensim.__all__`` equals the package's public (non-underscore, non-module) attributes."""
    import types

    public = {name for name, value in vars(tokensim).items()
              if not name.startswith("_") and not isinstance(value, types.ModuleType) and name != "annotations"}
    assert set(tokensim.__all__) == public | {"__version__"}


def test_import_is_light():
    """Importing tokensim loads neither CuPy nor matplotlib."""
    code = "import sys, tokensim; sys.exit(int('cupy' in sys.modules) + 2 * int('matplotlib' in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


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
