"""Tests for tokensim._backend: backend selection, its stderr line and its error messages (CuPy faked or absent).

That importing tokensim and these modules loads no CuPy: test_public_api.py::test_import_is_light.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import types

import numpy as np
import pytest

from tokensim import _backend
from tokensim._backend import Backend, select_backend
from tokensim._errors import UserError


@pytest.fixture
def no_cupy(monkeypatch):
    """Make ``import cupy`` fail as if CuPy were not installed."""
    monkeypatch.setitem(sys.modules, "cupy", None)


def _fake_cupy(monkeypatch, device_count: int, name: bytes = b"NVIDIA H100 80GB HBM3"):
    runtime = types.SimpleNamespace(getDeviceCount=lambda: device_count,
                                    getDeviceProperties=lambda index: {"name": name})
    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime,
                                                            Device=lambda: types.SimpleNamespace(id=0)))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    return fake


def test_numpy_requested_is_silent(capsys):
    """Asking for numpy returns the NumPy backend and prints nothing."""
    backend = select_backend("numpy")
    assert backend == Backend("numpy", np, None)
    assert not backend.is_gpu
    assert capsys.readouterr().err == ""


class _Notes(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.INFO)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def notes():
    """The notes logged on the "tokensim" logger during a test (at INFO)."""
    log = logging.getLogger("tokensim")
    handler, level = _Notes(), log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    yield handler.messages
    log.removeHandler(handler)
    log.setLevel(level)


def test_auto_without_cupy_falls_back_with_one_note_and_nothing_on_stderr(no_cupy, capsys, notes):
    """auto without CuPy returns NumPy and logs exactly one note saying why; the library writes nothing to stderr
    itself (issue 16: it printed "CuPy not installed" from library calls; the command line prints the note)."""
    backend = select_backend("auto")
    assert backend.name == "numpy" and backend.xp is np and backend.device is None
    assert notes == ["CuPy not installed; using NumPy backend"]
    assert capsys.readouterr().err == ""


def test_the_command_line_prints_the_backend_note(no_cupy):
    from click.testing import CliRunner

    from tokensim.cli import cli

    res = CliRunner().invoke(cli, ["sweep", "--axis", "rent=15,20", "--metric", "npv", "--format", "json"])
    assert res.exit_code == 0 and "tokensim: CuPy not installed; using NumPy backend" in res.stderr


def test_auto_picks_cupy_when_a_device_is_present(monkeypatch, capsys):
    """auto returns CuPy with the device's name when CuPy imports and sees a device."""
    fake = _fake_cupy(monkeypatch, device_count=1)
    backend = select_backend("auto")
    assert backend.name == "cupy" and backend.xp is fake and backend.is_gpu
    assert backend.device == "NVIDIA H100 80GB HBM3"
    assert capsys.readouterr().err == ""


def test_auto_with_cupy_but_no_device_falls_back(monkeypatch, notes):
    """auto with CuPy but no device returns NumPy and says there is no device."""
    _fake_cupy(monkeypatch, device_count=0)
    assert select_backend("auto").name == "numpy"
    assert len(notes) == 1 and "no CUDA device" in notes[0]


@pytest.mark.parametrize(("driver_major", "extra", "absent"), [(12, "cuda12", "cuda13"), (13, "cuda13", "cuda12")])
def test_cupy_missing_names_the_extra_for_the_driver(no_cupy, monkeypatch, driver_major, extra, absent):
    """Requesting cupy without CuPy says which pip extra to install, chosen by the driver's CUDA major version."""
    monkeypatch.setattr(_backend, "cuda_driver_major", lambda: driver_major)
    with pytest.raises(UserError, match="CuPy is not installed") as info:
        select_backend("cupy")
    assert f'pip install "tokensim[{extra}]"' in str(info.value)
    assert absent not in str(info.value)


@pytest.mark.parametrize("driver_major", [None, 11])
def test_cupy_missing_without_known_driver_mentions_both_extras(no_cupy, monkeypatch, driver_major):
    """With no readable (or too old) driver the message offers both the cuda12 and the cuda13 extra."""
    monkeypatch.setattr(_backend, "cuda_driver_major", lambda: driver_major)
    with pytest.raises(UserError) as info:
        select_backend("cupy")
    message = str(info.value)
    assert 'pip install "tokensim[cuda12]"' in message and 'pip install "tokensim[cuda13]"' in message
    assert info.value.exit_code == 2


def test_cupy_requested_without_device_is_a_user_error(monkeypatch):
    """Requesting cupy with CuPy installed but no device says so rather than suggesting an install."""
    _fake_cupy(monkeypatch, device_count=0)
    with pytest.raises(UserError, match=r"no CUDA device.*CUDA_VISIBLE_DEVICES"):
        select_backend("cupy")


@pytest.mark.parametrize(("name", "suggestion"), [("cpuy", "cupy"), ("nunpy", "numpy")])
def test_unknown_backend_suggests_the_closest(name, suggestion):
    """An unknown backend name lists the choices and suggests the closest one."""
    with pytest.raises(UserError, match=f"allowed: auto, numpy, cupy.*did you mean '{suggestion}'"):
        select_backend(name)


def test_backend_names_are_case_insensitive():
    """Backend names are matched without regard to case."""
    assert select_backend("NumPy").name == "numpy"


def test_backend_is_frozen():
    """A Backend cannot be changed after selection."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        select_backend("numpy").name = "cupy"


def test_driver_version_probe_never_raises():
    """cuda_driver_major returns an int or None on any machine, with or without a driver."""
    major = _backend.cuda_driver_major()
    assert major is None or (isinstance(major, int) and major > 0)

