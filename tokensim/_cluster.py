"""Where a distributed run executes: a Dask client on an existing scheduler, a local process cluster, a local
multi-GPU cluster or the caller's own ``Client`` (issue 15).

``dask.distributed`` (the ``dask`` extra) and ``dask_cuda`` (the CUDA extras) are imported only inside
:func:`dask_client`, so ``import tokensim`` and the commands that do not scale out never load them. Missing packages
are a :class:`~tokensim.UserError` naming the pip extra.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ._errors import ParameterError, UserError

__all__ = ["ClusterSpec", "DaskSession", "dask_client", "check_cluster_args"]

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
        raise ParameterError(given[1], f"cannot be combined with {given[0]}; give one way to reach a cluster",
                             sep=": ")
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
    try:
        link = client.dashboard_link
    except Exception:  # no dashboard (bokeh absent, or disabled)
        return None
    return str(link) if link else None


@contextlib.contextmanager
def dask_client(spec: ClusterSpec, *, dashboard: bool = True) -> Iterator[DaskSession]:
    """A :class:`DaskSession` for ``spec``; a cluster this function started is closed on exit.

    ``workers=N`` starts a ``distributed.LocalCluster`` of N worker processes with one thread each (NumPy work is
    single-threaded per block, and processes avoid the GIL); ``gpus_per_node=N`` a ``dask_cuda.LocalCUDACluster`` of
    N workers, one per GPU; ``scheduler=ADDRESS`` connects to a running scheduler (an address, or a scheduler file
    ending in ``.json``). ``dashboard=False`` starts no dashboard server for a local cluster.
    """
    check_cluster_args(spec)
    if spec.client is not None:
        client = spec.client
        yield DaskSession(client, "client", len(client.scheduler_info().get("workers", {})), _dashboard(client))
        return
    distributed = _import_distributed()
    dash: str | None = ":0" if dashboard else None
    if spec.gpus_per_node is not None:
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError as exc:
            raise ParameterError("gpus_per_node", f"needs dask-cuda, which is not installed ({exc}); "
                                 f"{_DASK_CUDA_HINT}", sep=": ") from None
        cluster = LocalCUDACluster(n_workers=spec.gpus_per_node, threads_per_worker=1, dashboard_address=dash,
                                   silence_logs=logging.ERROR)
        kind, count = "local-cuda", spec.gpus_per_node
    elif spec.workers is not None:
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
            try:
                if address.endswith(".json"):
                    client = distributed.Client(scheduler_file=address, set_as_default=False, timeout="20s")
                else:
                    client = distributed.Client(address, set_as_default=False, timeout="20s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise ParameterError("scheduler", f"{address}: no Dask scheduler answered ({exc})",
                                     sep=": ") from None
            count = len(client.scheduler_info().get("workers", {}))
        try:
            yield DaskSession(client, kind, count, _dashboard(client))
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()
