"""Sweeps on Dask (issue 15): chunks of grid points as tasks, their DataFrames back in flat-index order.

Each task is :meth:`tokensim.sweep.Sweep.chunk_frame` of one chunk [start, stop) on a worker, the same code as a
chunk of :meth:`tokensim.sweep.Sweep.frames`; a point's values depend only on the point (the arithmetic is
elementwise over points), so the rows, and the CSV and Parquet written from them, are the in-process sweep's,
whatever the chunking or the workers. At most ``window`` chunks past the next one to yield are in flight, so the
client holds at most ``window`` chunk tables. The backend is the one :func:`tokensim.sweep.prepare_sweep` chose on
the client (a GPU machine running ``--gpus-per-node`` has both).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .._cluster import ClusterSpec, check_cluster_args, dask_client, ordered_results
from .._errors import ParameterError

__all__ = ["dask_frames"]


def _chunk_frame(sweep: Any, start: int, stop: int) -> Any:
    return sweep.chunk_frame(start, stop)


def dask_frames(sweep: Any, cluster: ClusterSpec, progress: Callable[[int, int], None] | None = None, *,
                chunk_points: int | None = None, window: int | None = None, dashboard: bool = True,
                started: Callable[[Any], None] | None = None) -> Iterator[Any]:
    """:meth:`tokensim.sweep.Sweep.frames` on a Dask cluster: one DataFrame per chunk, in flat-index order.

    ``chunk_points``: points per task (default the sweep's chunk, cut so that each worker gets at least 4 tasks);
    ``window``: chunks in flight past the next one to yield (default 2 per worker, at least 4); ``started``: called
    with the :class:`tokensim._cluster.DaskSession` once connected (to print the dashboard)."""
    check_cluster_args(cluster)
    for name, value in (("chunk_points", chunk_points), ("window", window)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ParameterError(name, f"got {value!r}; allowed: a whole number >= 1", sep=": ")
    points = sweep.plan.points
    with dask_client(cluster, dashboard=dashboard) as session:
        if started is not None:
            started(session)
        workers = max(session.workers, 1)
        chunk = chunk_points if chunk_points is not None else \
            max(1, min(sweep.chunk_points, -(-points // (4 * workers))))
        count = -(-points // chunk)
        window = window if window is not None else max(4, 2 * workers)

        def args(i: int) -> tuple:
            return sweep, i * chunk, min(points, (i + 1) * chunk)

        for i, frame in ordered_results(session.client, _chunk_frame, count, args, window=window,
                                        name="tokensim-sweep"):
            yield frame
            if progress is not None:
                progress(min(points, (i + 1) * chunk), points)
