"""The Monte Carlo on Dask (issue 15): path blocks as tasks, summaries merged in block order, bit for bit the
single-process result.

:func:`simulate_dask` cuts ``paths`` into blocks [start, stop) of ``block_paths`` paths; each task
(:func:`block_summary`) evaluates its block with the same engine as :func:`tokensim.montecarlo.simulate` (the NumPy
month loop :func:`~tokensim.montecarlo.evaluate_paths` in sub-blocks of ``EVAL_BLOCK_PATHS``, or the CUDA kernel on a
GPU worker) and returns its :class:`~tokensim.montecarlo._summary.Summary`, never per-path arrays (unless
``keep_paths`` asks the workers to write a Parquet dataset, one file per block). Why the merged result is the
single-process one to the bit, whatever the worker count, block size, completion order or a retried block:

- a path's values depend only on (seed, path index) (Philox counters), so a block computes the same values wherever
  and however often it runs;
- a :class:`Summary` reduces sums per aligned block of ``BLOCK_PATHS`` paths into exact accumulators, and counts,
  min, max and histograms are exact (see :mod:`tokensim.montecarlo._summary`): merging summaries of disjoint path
  ranges gives the one-pass summary;
- and the client merges the blocks in block order all the same (a reorder buffer of at most ``window`` blocks;
  no more than ``window`` blocks past the next one to merge are in flight, so client memory stays bounded).

Memory: a worker holds one sub-block's arrays (``EVAL_BLOCK_PATHS`` paths, about 100 MB on NumPy) and one summary
(fixed size: 8 metrics x 16,386 histogram bins); a summary travels with its histograms as (bin, count) pairs of the
non-empty bins. The client holds the merged summary plus at most ``window`` block summaries, whatever ``paths``.
A block whose ends are not multiples of ``BLOCK_PATHS`` (8192) also carries the values of its partial sum blocks
(at most 2 x 8191 per metric) until the neighbouring block completes them; the default block sizes are multiples.
On GPU workers the float32 kernel's result is the single-process GPU run's to the bit on the same card model.

Faults: a worker that dies has its tasks re-run elsewhere by the Dask scheduler (its ``allowed-failures``); the
result cannot change (above). ``checkpoint``: a file the client rewrites at most every ``checkpoint_every_s`` seconds
and when the run stops on an error or an interrupt, holding the paths merged so far (a prefix [0, paths_done)) and
their merged summary; a run given the same file resumes from it (any block size or worker count) when it was written
for the same model, seed, path count, backend and dtype (a fingerprint checks it), and deletes it on success.
The file is a Python pickle: load only checkpoints you wrote.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import os
import pickle
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._backend import Backend, select_backend
from .._cluster import ClusterSpec, DaskSession, check_cluster_args, dask_client, ordered_results
from .._errors import ParameterError
from .._output import check_output_path
from .._version import __version__
from ._kernel import constant_images, launch
from ._run import (
    EVAL_BLOCK_PATHS,
    FLAGS,
    MonteCarloModel,
    MonteCarloResult,
    _check_run_args,
    _PathWriter,
    _result,
    evaluate_paths,
)
from ._summary import BLOCK_PATHS, Summary

__all__ = ["DEFAULT_BLOCK_PATHS", "BlockProgress", "PackedSummary", "block_summary", "simulate_dask",
           "run_fingerprint", "read_checkpoint"]

# Paths per task: about 4 s of one core on NumPy (founding scenario, 2 M path-months/s per core on the 2-core
# sandbox; 60 months), so the scheduler's per-task cost (~1 ms) is a small share; on a GPU 2**24 paths, a few
# kernel launches of 2**22.
DEFAULT_BLOCK_PATHS = {"numpy": 8 * EVAL_BLOCK_PATHS, "cupy": 2**24}
_GPU_LAUNCH_PATHS = 2**22
_CHECKPOINT_FORMAT = "tokensim-mc-checkpoint/1"


@dataclass
class PackedSummary:
    """A block's summary for the wire: the summary with its histograms taken out, and each histogram as the indices
    and counts of its non-empty bins (about a tenth of the bytes of 8 x 16,386 int64 counts)."""

    summary: Summary
    histograms: dict[str, tuple[int, np.ndarray, np.ndarray]]  # metric -> (bins, indices, counts)

    @classmethod
    def pack(cls, summary: Summary) -> PackedSummary:
        """Pack without changing ``summary``."""
        shell = copy.copy(summary)
        shell.metrics = {}
        histograms = {}
        for name, m in summary.metrics.items():
            h = m.histogram
            index = np.flatnonzero(h)
            histograms[name] = (int(h.size), index.astype(np.int32), h[index].astype(np.int64))
            shell.metrics[name] = dataclasses.replace(m, histogram=np.zeros(0, dtype=np.int64))
        return cls(shell, histograms)

    def unpack(self) -> Summary:
        summary = self.summary
        for name, (size, index, counts) in self.histograms.items():
            h = np.zeros(size, dtype=np.int64)
            h[index] = counts
            summary.metrics[name].histogram = h
        return summary


def block_summary(model: MonteCarloModel, seed: int, start: int, stop: int, backend: str = "numpy",
                  dtype: str = "float64", keep_paths: str | None = None) -> PackedSummary:
    """The packed summary of paths start .. stop - 1 (one task). ``backend`` "cupy" runs the CUDA kernel on this
    process's GPU; ``keep_paths``: a folder for this block's per-path rows (``part-<start>.parquet``, written to a
    temporary name and renamed, so a re-run block replaces its file whole)."""
    summary = Summary(list(model.specs), list(FLAGS))
    writer = _PathWriter(Path(keep_paths) / f"part-{start:020d}.parquet") if keep_paths is not None else None
    ok = False
    try:
        if backend == "cupy":
            images = constant_images(model, dtype, seed)
            step = _GPU_LAUNCH_PATHS
        else:
            step = EVAL_BLOCK_PATHS
        for first in range(start, stop, step):
            n = min(step, stop - first)
            out = launch(model, seed, first, n, dtype, images) if backend == "cupy" else \
                evaluate_paths(model, seed, first, n)
            summary.add(first, out["metrics"], out["flags"], out["reasons"])
            if writer is not None:
                writer.write(first, {**out, "months": model.inputs.months})
        ok = True
    finally:
        if writer is not None:
            writer.close(ok)
    return PackedSummary.pack(summary)


def _worker_backend(backend: str) -> tuple[str, str | None]:
    """The backend ``backend`` resolves to on a worker (where the GPUs are), as (name, device)."""
    chosen = select_backend(backend)
    return chosen.name, chosen.device


def run_fingerprint(model: MonteCarloModel, seed: int, paths: int, backend: str, dtype: str) -> str:
    """What a checkpoint must match to be resumed: a hash of the model, seed, path count, backend, dtype and the
    tokensim version (the block size and worker count may change)."""
    digest = hashlib.sha256(pickle.dumps((model, int(seed), int(paths), backend, dtype, __version__), protocol=4))
    return digest.hexdigest()


@dataclass
class _Checkpoint:
    fingerprint: str
    paths_done: int
    summary: Summary


def read_checkpoint(path: str | Path, fingerprint: str | None = None) -> tuple[int, Summary]:
    """(paths merged, their summary) from a checkpoint file; with ``fingerprint``, refuse one of another run."""
    try:
        with open(path, "rb") as f:
            data = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError) as exc:
        raise ParameterError("checkpoint", f"{path}: not a readable checkpoint ({exc})", sep=": ") from None
    if not isinstance(data, dict) or data.get("format") != _CHECKPOINT_FORMAT:
        raise ParameterError("checkpoint", f"{path}: not a tokensim Monte Carlo checkpoint", sep=": ")
    if fingerprint is not None and data["fingerprint"] != fingerprint:
        raise ParameterError("checkpoint", f"{path}: written for another run (scenario, seed, paths, backend, dtype "
                             "or tokensim version differ); remove it or give another file", sep=": ")
    return int(data["paths_done"]), data["summary"].unpack()


def _write_checkpoint(path: Path, fingerprint: str, paths_done: int, summary: Summary) -> None:
    data = {"format": _CHECKPOINT_FORMAT, "fingerprint": fingerprint, "paths_done": paths_done,
            "summary": PackedSummary.pack(summary)}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump(data, f, protocol=4)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _drop_parts(folder: Path, first_path: int) -> None:
    """Remove this writer's block files (``part-<start>.parquet``) from ``first_path`` on: those of an earlier run
    into the same folder, or of blocks written but not merged before a stop (a resumed run writes them again, maybe
    cut at other paths)."""
    for part in folder.glob("part-*.parquet"):
        start = part.name[len("part-"):-len(".parquet")]
        if start.isdigit() and int(start) >= first_path:
            part.unlink()


@dataclass(frozen=True)
class BlockProgress:
    """What a distributed run reports after each merged block."""

    blocks_done: int
    blocks: int
    paths_done: int  # merged, resumed paths included
    paths: int
    path_months_per_s: float  # this run's paths only
    eta_s: float
    workers: int
    dashboard: str | None
    resumed_paths: int


def _check_dask_args(block_paths, checkpoint, keep_paths, checkpoint_every_s) -> None:
    if block_paths is not None and (isinstance(block_paths, bool) or not isinstance(block_paths, (int, np.integer))
                                    or block_paths < 1):
        raise ParameterError("block_paths", f"got {block_paths!r}; allowed: a whole number >= 1", sep=": ")
    if checkpoint is not None:
        if Path(checkpoint).is_dir():
            raise ParameterError("checkpoint", f"{checkpoint}: is a folder; allowed: a file", sep=": ")
        if not Path(checkpoint).exists():
            check_output_path(checkpoint, "checkpoint")
    if keep_paths is not None:
        if Path(keep_paths).suffix != ".parquet":
            raise ParameterError("keep_paths", f"got {str(keep_paths)!r}; allowed: a folder name ending in .parquet "
                                 "(a dataset, one file per block)", sep=": ")
        check_output_path(keep_paths, "keep_paths", folder=True)
    if not (isinstance(checkpoint_every_s, (int, float)) and checkpoint_every_s >= 0):
        raise ParameterError("checkpoint_every_s", f"got {checkpoint_every_s!r}; allowed: seconds >= 0", sep=": ")


def simulate_dask(model: MonteCarloModel, *, paths: int, seed: int = 0, backend: str = "auto",
                  dtype: str | None = None, cluster: ClusterSpec, block_paths: int | None = None,
                  checkpoint: str | Path | None = None, checkpoint_every_s: float = 10.0,
                  keep_paths: str | Path | None = None, window: int | None = None,
                  progress: Callable[[int, int], None] | None = None,
                  report: Callable[[BlockProgress], None] | None = None, dashboard: bool = True
                  ) -> MonteCarloResult:
    """:func:`tokensim.montecarlo.simulate` on a Dask cluster (see the module docstring): the same result, bit for bit.

    Parameters
    ----------
    model, paths, seed, backend, dtype
        As :func:`tokensim.montecarlo.simulate`; ``backend`` is resolved on a worker (``auto``: CuPy where the
        workers have a GPU).
    cluster : ClusterSpec
        An existing scheduler's address, a local process cluster's worker count, a local CUDA cluster's GPU count or
        a connected ``distributed.Client``.
    block_paths : int, optional
        Paths per task (default 131,072 on NumPy, 2**24 on a GPU); results do not depend on it.
    checkpoint : str or Path, optional
        Resume from this file when it exists; write it while running and when stopped; delete it on success.
    checkpoint_every_s : float
        Least seconds between checkpoint writes while running (0: after every merged block).
    keep_paths : str or Path, optional
        A folder ``NAME.parquet`` the workers fill with one Parquet file of per-path rows per block (on a remote
        cluster it must be on a file system every worker and the reader share); block files of an earlier run in it
        (``part-*.parquet``) are replaced, those of paths a resumed checkpoint already merged kept.
    window : int, optional
        Blocks in flight beyond the next one to merge (default 4 per worker, at least 8).
    progress : callable, optional
        ``progress(paths_done, paths)`` after each merged block.
    report : callable, optional
        ``report(BlockProgress)`` once before the first block (``blocks_done`` 0) and after each merged block
        (blocks done, throughput, ETA, dashboard address).
    dashboard : bool
        Start the Dask dashboard of a local cluster (when bokeh is installed).

    Returns
    -------
    MonteCarloResult
        As :func:`tokensim.montecarlo.simulate`; its ``notes`` say where it ran (and from what it resumed).
    """
    _check_run_args(paths, seed, None, backend, dtype, None)
    check_cluster_args(cluster)
    _check_dask_args(block_paths, checkpoint, keep_paths, checkpoint_every_s)
    if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 1):
        raise ParameterError("window", f"got {window!r}; allowed: a whole number >= 1", sep=": ")
    paths, seed = int(paths), int(seed)
    with dask_client(cluster, dashboard=dashboard) as session:
        return _run(session, model, paths, seed, backend, dtype, block_paths, checkpoint, checkpoint_every_s,
                    keep_paths, window, progress, report)


def _run(session: DaskSession, model, paths, seed, backend, dtype, block_paths, checkpoint, checkpoint_every_s,
         keep_paths, window, progress, report) -> MonteCarloResult:
    client = session.client
    name, device = client.submit(_worker_backend, backend, pure=False).result()
    notes: list[str] = []
    if name == "cupy":
        dtype = dtype or "float32"
    else:
        if dtype == "float32":
            notes.append("the NumPy backend runs in float64; --dtype float32 applies to the GPU kernel only")
        dtype = "float64"
    workers = max(session.workers, 1)
    if block_paths is not None:
        block = int(block_paths)
    else:  # at least 4 blocks a worker when the run is small, in whole aligned sum blocks
        per_block = -(-paths // (4 * workers))
        block = min(DEFAULT_BLOCK_PATHS[name], -(-per_block // BLOCK_PATHS) * BLOCK_PATHS)
    fingerprint = run_fingerprint(model, seed, paths, name, dtype)
    checkpoint_path = Path(checkpoint) if checkpoint is not None else None
    resumed = 0
    summary = Summary(list(model.specs), list(FLAGS))
    if checkpoint_path is not None and checkpoint_path.exists():
        resumed, summary = read_checkpoint(checkpoint_path, fingerprint)
        notes.append(f"resumed from {checkpoint_path}: {resumed:,} paths were merged before; elapsed_s and "
                     "path_months_per_s cover this run only")
    keep = None
    if keep_paths is not None:
        keep = str(Path(keep_paths).resolve())
        Path(keep).mkdir(parents=True, exist_ok=True)
        _drop_parts(Path(keep), resumed)
    starts = range(resumed, paths, block)
    blocks = len(starts)
    window = window if window is not None else max(8, 4 * workers)

    def args(i: int) -> tuple:
        return model, seed, starts[i], min(starts[i] + block, paths), name, dtype, keep

    began = last_write = time.perf_counter()
    paths_done = resumed
    merging = False
    if report is not None:  # before any block: where it runs, and the dashboard
        report(BlockProgress(0, blocks, resumed, paths, 0.0, math.inf, session.workers, session.dashboard, resumed))
    results = ordered_results(client, block_summary, blocks, args, window=window, name="tokensim-mc")
    try:
        for i, packed in results:
            merging = True
            summary.merge(packed.unpack())
            paths_done = min(starts[i] + block, paths)
            merging = False
            now = time.perf_counter()
            if checkpoint_path is not None and i + 1 < blocks and now - last_write >= checkpoint_every_s:
                _write_checkpoint(checkpoint_path, fingerprint, paths_done, summary)
                last_write = now
            if progress is not None:
                progress(paths_done, paths)
            if report is not None:
                rate = (paths_done - resumed) / (now - began) if now > began else math.inf
                report(BlockProgress(i + 1, blocks, paths_done, paths, rate * model.inputs.months,
                                     (paths - paths_done) / rate if rate > 0 else math.inf, session.workers,
                                     session.dashboard, resumed))
    except BaseException:
        results.close()  # cancels the blocks still queued or running
        if checkpoint_path is not None and not merging and paths_done > resumed:
            _write_checkpoint(checkpoint_path, fingerprint, paths_done, summary)
        raise
    summary.finish()
    elapsed = time.perf_counter() - began
    if checkpoint_path is not None:
        checkpoint_path.unlink(missing_ok=True)
    where = {"local": "a local Dask cluster", "local-cuda": "a local Dask CUDA cluster",
             "scheduler": "the Dask scheduler", "client": "the given Dask client"}[session.kind]
    notes.append(f"ran {blocks:,} block{'s' if blocks != 1 else ''} of up to {block:,} paths on {where} "
                 f"({session.workers} worker{'s' if session.workers != 1 else ''})")
    chosen = Backend(name, np, device)
    return _result(model, summary, paths, seed, chosen, dtype, elapsed, notes, str(keep_paths) if keep else None)
