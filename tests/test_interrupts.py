"""Interrupts and output paths on the command line: Ctrl-C and SIGTERM end a long run with one line and the exit
status of the signal, leaving no temporary file; an output path that cannot be written is refused before any work."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tokensim.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def _default_signals() -> None:
    # A test runner started in the background may inherit SIGINT ignored, and an ignored signal stays ignored across
    # exec: give the child the default disposition, as a terminal would, so that Python turns SIGINT into Ctrl-C.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _tokensim(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tokensim", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_default_signals, **kwargs)


@pytest.mark.parametrize(("signum", "status", "line"), [
    (signal.SIGINT, 130, "tokensim: aborted"),
    (signal.SIGTERM, 143, "tokensim: terminated"),
])
def test_a_signal_mid_run_ends_with_its_status_one_line_and_no_temporary_file(tmp_path, signum, status, line):
    """A Monte Carlo run writing per-path rows (3·10^6 paths in chunks of 20,000, about half a minute) is interrupted
    inside the path loop, once its first chunk's rows are in the temporary file (about 2 s in; the default chunk
    takes several): the exit status is 128 + the signal, stderr ends in one line without a traceback, and the folder
    holds neither the Parquet file nor its temporary file."""
    out = tmp_path / "runs"
    proc = _tokensim("mc", "b300-10k-cluster", "--paths", "3000000", "--chunk-paths", "20000", "--backend", "numpy",
                     "--keep-paths", str(out / "paths.parquet"))
    deadline = time.monotonic() + 60
    while not any(f.stat().st_size > 0 for f in out.glob(".paths.parquet.*.tmp")):  # no folder yet: no match
        assert proc.poll() is None, "the run ended before it wrote a chunk"
        assert time.monotonic() < deadline, "no chunk of rows written within 60 s"
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status
    assert err.strip().splitlines()[-1] == line
    assert "Traceback" not in err
    assert list(out.iterdir()) == []  # the folder was made by the path check, and left empty


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children, their children, ...), read from /proc."""
    parent_of = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended while listed
            continue
        parent_of[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parent_of.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the worker processes")
@pytest.mark.parametrize(("signum", "status", "line"), [
    (signal.SIGINT, 130, "tokensim: aborted"),
    (signal.SIGTERM, 143, "tokensim: terminated"),
])
def test_a_signal_while_calibrate_fits_in_worker_processes_ends_them_all(tmp_path, signum, status, line):
    """``calibrate --jobs 2`` on the bundled rows (minutes of fits) is interrupted once its worker processes run, the
    signal sent to the whole process group as a terminal's Ctrl-C is: one line, status 128 + the signal, no
    traceback from any process, no file written, and within seconds no worker left."""
    out = tmp_path / "calibration.yaml"
    proc = _tokensim("calibrate", "--with-fixed-concurrency", "--jobs", "2", "--out", str(out),
                     start_new_session=True)
    deadline = time.monotonic() + 60
    while len(_descendants(proc.pid)) < 3:  # the forkserver and the two workers
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "calibrate started no worker processes within 60 s"
        time.sleep(0.05)
    time.sleep(1.0)  # the workers inside their fits
    workers = _descendants(proc.pid)
    os.killpg(proc.pid, signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    assert err.strip().splitlines()[-1] == line and "Traceback" not in err, err
    assert not out.exists() and list(tmp_path.iterdir()) == []
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers), [pid for pid in workers if _alive(pid)]


@pytest.mark.skipif("forkserver" not in multiprocessing.get_all_start_methods(), reason="needs the forkserver")
def test_calibrate_fold_workers_ignore_sigint_from_their_first_instruction():
    """The fold workers' forkserver preloads tokensim.perf._worker_start, so a worker ignores SIGINT before its
    initializer (which also ignores it) has run: a Ctrl-C while a worker still unpickles the problem leaves no
    traceback of its own. Asked in a fresh process (the preload applies to the forkserver that process starts), a
    worker with no initializer reports SIG_IGN; the control, a plain forkserver's worker, reports Python's handler."""
    code = ("import signal, multiprocessing, sys\n"
            "from tokensim.perf.calibration import _fold_context\n"
            "context = _fold_context() if sys.argv[1] == 'fold' else multiprocessing.get_context('forkserver')\n"
            "with context.Pool(1) as pool:\n"
            "    print(pool.apply(signal.getsignal, (signal.SIGINT,)) is signal.SIG_IGN)\n")
    for kind, expected in (("fold", "True"), ("plain", "False")):
        out = subprocess.run([sys.executable, "-c", code, kind], cwd=ROOT, capture_output=True, text=True, timeout=120,
                             preexec_fn=_default_signals)  # a runner started in the background ignores SIGINT
        assert out.returncode == 0 and out.stdout.strip() == expected, (kind, out.stderr)


def _wait_until_numpy_loads(proc: subprocess.Popen, timeout_s: float = 30.0) -> None:
    """Until NumPy's extension is mapped into the child: NumPy is first imported by tokensim.cli, which
    tokensim._entry.main imports inside its handler, so from here on the interrupt is tokensim's to report."""
    maps = Path(f"/proc/{proc.pid}/maps")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if "_multiarray_umath" in maps.read_text():
                return
        except OSError:  # the child has not started, or has ended
            pass
        assert proc.poll() is None, "the command ended before it loaded NumPy"
        time.sleep(0.001)
    raise AssertionError("NumPy did not load within 30 s")


_SIGNALS = pytest.mark.parametrize(("signum", "status", "line"), [
    (signal.SIGINT, 130, "tokensim: aborted"),
    (signal.SIGTERM, 143, "tokensim: terminated"),
])


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc to see when NumPy loads")
@_SIGNALS
@pytest.mark.parametrize("after_s", [0.0, 0.05, 0.2])
def test_a_signal_while_the_modules_load_ends_with_its_status_and_one_line(signum, status, line, after_s):
    """Issue 12: Ctrl-C while the command line loads (NumPy, click, pydantic, the catalogues: a few tenths of a
    second) printed a KeyboardInterrupt traceback. The signal is sent once the heavy imports have begun, at three
    delays after that: stderr is that one line, and the status 128 + the signal."""
    proc = _tokensim("mc", "b300-10k-cluster", "--paths", "3000000", "--backend", "numpy")
    _wait_until_numpy_loads(proc)
    time.sleep(after_s)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    assert err.strip().splitlines() == [line], err


@_SIGNALS
@pytest.mark.parametrize("after_s", [0.05, 0.15, 0.3, 0.5])
def test_a_signal_at_any_moment_of_start_up_ends_as_tokensim_or_python_reports_it(signum, status, line, after_s):
    """A signal at a fixed time after the start lands anywhere: in Python's own start-up or in tokensim's. Before
    tokensim's entry runs (the interpreter, site, runpy importing the package), Python reports it: the default
    disposition ends the process (status -signum, nothing printed), or Python prints a KeyboardInterrupt traceback
    (status 1 or -2) whose frames are the interpreter's and, at most, the package's own body (tokensim/__init__.py,
    which runpy runs before __main__). CI on 496b038 failed on one landing in tokensim/_entry.py's imports, which is
    tokensim's: no frame in any other tokensim file is allowed, and any other ending is tokensim's one line."""
    proc = _tokensim("mc", "b300-10k-cluster", "--paths", "3000000", "--backend", "numpy")
    time.sleep(after_s)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    frames = [f.strip() for f in err.splitlines() if f.strip().startswith('File "')]
    package = [f for f in frames if f"{os.sep}tokensim{os.sep}" in f]
    assert all(f"{os.sep}tokensim{os.sep}__init__.py" in f for f in package), err
    if "Traceback" in err or "Could not import runpy module" in err:  # Python's own report
        assert signum == signal.SIGINT and proc.returncode in (1, -signum), err
        assert err.strip().splitlines()[-1] == "KeyboardInterrupt", err
    elif err == "":  # the default disposition, before Python installs its handler
        assert proc.returncode == -signum, err
    else:
        assert proc.returncode in (status, -signum), err
        assert err.strip().splitlines() == [line], err


def _load_recording_handlers(monkeypatch) -> dict:
    """Run tokensim._entry.main with a stand-in for tokensim.cli that records the SIGINT and SIGTERM handlers in
    force while it loads and while it runs."""
    import types

    import tokensim._entry as entry

    seen: dict = {}

    def cli_main() -> None:
        seen["running"] = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))

    def import_module(name: str):
        assert name == "tokensim.cli"
        seen["loading"] = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
        return types.SimpleNamespace(main=cli_main)

    monkeypatch.setattr(entry.importlib, "import_module", import_module)
    entry.main()
    return seen


def test_while_the_modules_load_sigint_and_sigterm_end_the_command_at_once_and_are_restored_after(monkeypatch):
    """A KeyboardInterrupt raised in an import can be swallowed (importlib's module-lock weakref callback: "Exception
    ignored", and a stress run of 150 starts went on to run the command once) or wrapped (a class body's
    __set_name__, Python 3.11). So while tokensim.cli loads, both signals get a handler that ends the process; the
    command itself runs under the handlers that were there before."""
    # As a terminal starts it (a runner started in the background inherits SIGINT ignored, which the next test covers)
    saved = signal.signal(signal.SIGINT, signal.default_int_handler), signal.signal(signal.SIGTERM, signal.SIG_DFL)
    before = (signal.default_int_handler, signal.SIG_DFL)
    try:
        seen = _load_recording_handlers(monkeypatch)
        after = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    finally:
        signal.signal(signal.SIGINT, saved[0])
        signal.signal(signal.SIGTERM, saved[1])
    assert all(callable(h) and h not in before and h is not signal.default_int_handler for h in seen["loading"])
    assert seen["loading"][0] is not seen["loading"][1]
    assert seen["running"] == before
    assert after == before


def test_a_signal_already_ignored_stays_ignored_while_the_modules_load(monkeypatch):
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a background job started with Ctrl-C ignored
    try:
        seen = _load_recording_handlers(monkeypatch)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert seen["loading"][0] is signal.SIG_IGN
    assert callable(seen["loading"][1])


@pytest.mark.parametrize(("line", "status"), [("tokensim: aborted", 130), ("tokensim: terminated", 143)])
def test_the_loading_handler_prints_its_line_and_ends_with_its_status(line, status):
    code = f"from tokensim._entry import _ends_with; _ends_with({line!r}, {status})(0, None); print('ran on')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr, done.stdout) == (status, f"{line}\n", "")


@pytest.mark.parametrize("args", [
    ["finance", "b300-10k-cluster", "--schedule", "{file}/schedule.csv"],
    ["mc", "b300-10k-cluster", "--paths", "100", "--keep-paths", "{file}/paths.parquet"],
    ["run", "--paths", "0", "--out", ""],
    ["sweep", "--axis", "precision=fp8", "--out", "{file}/sweep"],
    ["plot", "bridge", "--out", "{file}/bridge.png"],
    ["calibrate", "--out", "{file}/calibration.yaml"],
])
def test_an_output_path_that_cannot_be_written_is_refused_before_any_work(tmp_path, args):
    """Below an existing file, or empty: exit 2 with one line naming the option and the path, within seconds (the
    check runs before the work; calibrate used to fail only after 40 s of fitting)."""
    blocker = tmp_path / "afile"
    blocker.write_text("")
    argv = [a.replace("{file}", str(blocker)) for a in args]
    start = time.perf_counter()
    res = CliRunner().invoke(cli, argv)
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tokensim: error: --"), res.stderr
    assert "is a file, not a folder" in lines[0] or "an empty path" in lines[0]
    assert time.perf_counter() - start < 20
