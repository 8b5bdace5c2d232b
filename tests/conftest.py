"""Shared fixtures: the ``xp`` array namespace, the ``gpu`` marker and the founding report.

- ``founding_run`` runs ``tokensim run`` on the founding scenario once per test session; every test that only reads
  the report, its JSON or the files it writes shares that one run.
- ``xp`` runs a test on NumPy always and on CuPy when CuPy imports and sees a device (the CuPy case carries the
  ``gpu`` marker).
- Tests marked ``gpu`` are skipped without CuPy and a device. On a GPU machine set ``TOKENSIM_REQUIRE_GPU=1``: the
  skips become failures, so a broken CuPy install cannot pass the device checks by skipping them.
"""

from __future__ import annotations

import functools
import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

try:
    import fcntl
except ImportError:  # Windows has no flock: there each xdist worker builds the founding run itself
    fcntl = None  # type: ignore[assignment]


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


FOUNDING_SCENARIO = "b300-10k-cluster"
FOUNDING_PATHS = 2000  # Monte Carlo paths of the shared run: enough for every section, well under a second


@dataclass(frozen=True)
class FoundingRun:
    """One ``tokensim run --out DIR --format json --paths 2000`` of the founding scenario (read it, never change it).

    ``json`` is what the command printed, ``out`` the folder it wrote (tables, report.json, resolved config, charts)
    and ``report`` the :class:`tokensim.report.Report` behind both, taken from the command's own call of
    ``run_report``.
    """

    argv: tuple[str, ...]
    json: dict
    out: Path
    report: Any


def _founding_run(out: Path) -> FoundingRun:
    """``tokensim run`` on the founding scenario into ``out``, through the command line."""
    from click.testing import CliRunner

    from tokensim.cli import _run as run_cli
    from tokensim.cli import cli

    argv = ("run", FOUNDING_SCENARIO, "--out", str(out), "--format", "json", "--paths", str(FOUNDING_PATHS))
    reports = []
    real = run_cli.run_report

    def keep(*args, **kwargs):
        reports.append(real(*args, **kwargs))
        return reports[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(run_cli, "run_report", keep)
        res = CliRunner().invoke(cli, list(argv))
    assert res.exit_code == 0, res.output
    assert len(reports) == 1, "tokensim.cli._run no longer calls run_report by that name: update this fixture"
    return FoundingRun(argv, json.loads(res.stdout), out, reports[0])


@pytest.fixture(scope="session")
def founding_run(tmp_path_factory, worker_id) -> FoundingRun:
    """The founding report, built once per test session through the command line: under pytest-xdist the first worker
    to ask builds it (about 11 s on one core, most of it the charts) in the folder the workers share, and the others
    wait on a lock and read it back (pytest-xdist's documented recipe for a session fixture run once)."""
    if worker_id == "master" or fcntl is None:  # no xdist (or no flock): this process's own run
        return _founding_run(tmp_path_factory.mktemp("founding-run"))
    shared = tmp_path_factory.getbasetemp().parent  # one folder per session, common to its workers
    with open(shared / "founding-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or when a worker dies
        kept = shared / "founding-run.pickle"
        if kept.exists():
            return pickle.loads(kept.read_bytes())
        run = _founding_run(shared / "founding-run")
        kept.write_bytes(pickle.dumps(run))
        return run
