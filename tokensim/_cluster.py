"""Where a distributed run executes: a Dask client on an existing scheduler, a local process cluster, a local
multi-GPU cluster or the caller's own ``Client`` (issue 15).

``dask.distributed`` (the ``dask`` extra) and ``dask_cuda`` (the CUDA extras) are imported only inside
:func:`dask_client`, so ``import tokensim`` and the commands that do not scale out never load them. Missing packages
are a :class:`~tokensim.UserError` naming the pip extra.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from ._errors import ParameterError, UserError

__all__ = ["ClusterSpec", "DaskSession", "dask_client", "check_cluster_args", "ordered_results"]

# Seconds to wait for an existing scheduler to answer before giving up.
CONNECT_TIMEOUT_S = 20
_DASK_HINT = 'install it with: pip install "tokensim[dask]"'
_DASK_CUDA_HINT = ('install it with: pip install "tokensim[cuda12]" (or "tokensim[cuda13]"; the CUDA extras bring '
                   'dask-cuda)')


@dataclass(frozen=True)
class ClusterSpec:
    """Which cluster a run asks for: at most one of ``scheduler`` (address), ``workers`` (local processes),
    ``gpus_per_node`` (local CUDA workers, one a GPU) or ``client`` (a ``distributed.Client`` already connected)."""

    scheduler: str | None = None
    workers: int | None = None
    gpus_per_node: int | None = None
    client: Any = None

    @property
    def requested(self) -> bool:
        return any(v is not None for v in (self.scheduler, self.workers, self.gpus_per_node, self.client))


def check_cluster_args(spec: ClusterSpec) -> None:
    """At most one way to reach a cluster; counts are whole numbers >= 1 (a :class:`ParameterError` otherwise)."""
    given = [name for name, v in (("client", spec.client), ("scheduler", spec.scheduler), ("workers", spec.workers),
                                  ("gpus_per_node", spec.gpus_per_node)) if v is not None]
    if len(given) > 1:
        raise ParameterError(given[1], f"got {' and '.join(given)} together; give one way to reach a cluster "
                             "(on the command line one of --scheduler, --workers, --gpus-per-node)", sep=": ")
    for name in ("workers", "gpus_per_node"):
        value = getattr(spec, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ParameterError(name, f"got {value!r}; allowed: a whole number >= 1", sep=": ")
    if spec.scheduler is not None and (not isinstance(spec.scheduler, str) or not spec.scheduler.strip()):
        raise ParameterError("scheduler", f"got {spec.scheduler!r}; allowed: an address such as "
                             "tcp://10.0.0.5:8786 or a scheduler file path", sep=": ")


@dataclass
class DaskSession:
    """A connected client and what to tell people about it."""

    client: Any
    kind: str  # "scheduler" | "local" | "local-cuda" | "client"
    workers: int
    dashboard: str | None


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise UserError(f"running on Dask needs dask.distributed, which is not installed ({exc}); "
                        f"{_DASK_HINT}") from None
    return distributed


def _dashboard(client) -> str | None:
    if importlib.util.find_spec("bokeh") is None:  # distributed serves no dashboard without bokeh
        return None
    try:
        link = client.dashboard_link
    except Exception:  # no dashboard (bokeh absent, or disabled)
        return None
    return str(link) if link else None


def _local_config():
    """Dask settings for the workers of a local cluster, while it starts.

    Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its workers, which fixes glibc's mmap threshold at 128 kB:
    every NumPy temporary of a block (megabytes) is then mapped and unmapped afresh, and the Monte Carlo month loop
    ran at half speed on a worker (2.0 s in-process vs 4.4-4.8 s on a worker for 65,536 paths, 2026-12-05; issue
    15). A local cluster's workers keep glibc's default (None unsets it).
    """
    import dask

    return dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None})


@contextlib.contextmanager
def dask_client(spec: ClusterSpec, *, dashboard: bool = True) -> Iterator[DaskSession]:
    """A :class:`DaskSession` for ``spec``; a cluster this function started is closed on exit.

    ``workers=N`` starts a ``distributed.LocalCluster`` of N worker processes with one thread each (NumPy work is
    single-threaded per block, and processes avoid the GIL); ``gpus_per_node=N`` a ``dask_cuda.LocalCUDACluster`` of
    N workers, one per GPU; ``scheduler=ADDRESS`` connects to a running scheduler (an address, or a scheduler file
    ending in ``.json``). ``dashboard=False``: report no dashboard address (a local cluster's scheduler serves its
    HTTP pages on a free port all the same).
    """
    check_cluster_args(spec)
    if spec.client is not None:
        client = spec.client
        yield DaskSession(client, "client", len(client.scheduler_info().get("workers", {})), _dashboard(client))
        return
    distributed = _import_distributed()
    # The scheduler serves HTTP (dashboard, metrics) on a free port: Dask's default 8787 may be taken (another
    # cluster on the machine), which Dask reports with a warning and a different port anyway.
    dash = ":0"
    if spec.gpus_per_node is not None:
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError as exc:
            raise ParameterError("gpus_per_node", f"needs dask-cuda, which is not installed ({exc}); "
                                 f"{_DASK_CUDA_HINT}", sep=": ") from None
        with _local_config():
            cluster = LocalCUDACluster(n_workers=spec.gpus_per_node, threads_per_worker=1, dashboard_address=dash,
                                       silence_logs=logging.ERROR)
        kind, count = "local-cuda", spec.gpus_per_node
    elif spec.workers is not None:
        with _local_config():
            cluster = distributed.LocalCluster(n_workers=spec.workers, threads_per_worker=1, processes=True,
                                               dashboard_address=dash, silence_logs=logging.ERROR)
        kind, count = "local", spec.workers
    else:
        cluster = None
        kind, count = "scheduler", 0
    try:
        if cluster is not None:
            client = distributed.Client(cluster, set_as_default=False)
        else:
            address = str(spec.scheduler)
            timeout = f"{CONNECT_TIMEOUT_S}s"
            try:
                if address.endswith(".json"):
                    client = distributed.Client(scheduler_file=address, set_as_default=False, timeout=timeout)
                else:
                    client = distributed.Client(address, set_as_default=False, timeout=timeout)
            except (OSError, TimeoutError, ValueError) as exc:
                raise ParameterError("scheduler", f"{address}: no Dask scheduler answered ({exc})",
                                     sep=": ") from None
            count = len(client.scheduler_info().get("workers", {}))
        try:
            yield DaskSession(client, kind, count, _dashboard(client) if dashboard else None)
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()


def ordered_results(client: Any, fn: Callable[..., Any], count: int, args: Callable[[int], tuple], *, window: int,
                    name: str) -> Generator[tuple[int, Any], None, None]:
    """Run ``fn(*args(i))`` for i in 0 .. count - 1 on the cluster and yield ``(i, result)`` in index order.

    At most ``window`` tasks past the next index to yield are submitted at any time, so the results held back for
    order (and the scheduler's queue) stay bounded whatever ``count``. A task lost with its worker is re-run by the
    scheduler; an error in a task is raised here. Closing the generator (or an error in the caller's loop) cancels
    the tasks still pending. Task keys are ``name-<run id>-<i>``.
    """
    from distributed import as_completed

    run_id = uuid.uuid4().hex[:12]
    pending = as_completed(loop=client.loop)
    index: dict[str, int] = {}
    futures: dict[int, Any] = {}
    buffer: dict[int, Any] = {}
    next_submit = next_yield = 0

    def submit(i: int) -> None:
        future = client.submit(fn, *args(i), key=f"{name}-{run_id}-{i}", pure=False)
        index[future.key] = i
        futures[i] = future
        pending.add(future)

    try:
        while next_submit < min(count, window):
            submit(next_submit)
            next_submit += 1
        for future in pending:
            i = index.pop(future.key)
            buffer[i] = future.result()
            futures.pop(i).release()
            while next_yield in buffer:
                yield next_yield, buffer.pop(next_yield)
                next_yield += 1
            while next_submit < min(count, next_yield + window):
                submit(next_submit)
                next_submit += 1
    finally:
        if futures:
            client.cancel(list(futures.values()))
