"""Grid sweeps (``tokensim sweep``): unit cost, cost per GPU-hour and finance over a cartesian grid.

The grid is the product of the axes given (:mod:`tokensim.sweep._axes`); every field not swept keeps the scenario's
value. Each point is one evaluation of the same arithmetic as ``tokensim perf`` + ``tokensim cost``:

- **operating point**: :func:`tokensim.perf.evaluate` for the point's (hardware, precision, model) step model, in
  the serving layout ``tokensim run`` prices for that combination (:func:`tokensim.perf.serving_instance`: the
  scenario's pinned layout on its own hardware and model, else the layout search's best aggregated layout), chosen
  once at the scenario's workload and SLO and kept for every point (a search per point would cost 2-40 ms). With a
  ``concurrency`` axis that batch is evaluated as it is (no SLO applies; the point is infeasible if the batch does
  not fit in memory). Otherwise the batch is searched as :func:`tokensim.perf.predict` does, by the same
  :func:`tokensim.perf.batch_search`: every batch of :func:`tokensim.perf.concurrency_grid` up to the memory limit,
  the highest output tokens/s/GPU meeting the SLOs (``min_tokens_per_s_per_user`` — an axis or the scenario's — and
  the scenario's TTFT/TPOT limits), and for an expert-parallel layout under an SLO also its tensor-parallel twin on
  the same GPUs (:func:`tokensim.perf.latency_layout`, when the layout search tried it and the layout is not pinned),
  keeping the better one (at the scenario's own point that is the run's layout). No batch meeting the SLOs makes
  the point infeasible: its token metrics are NaN (null in JSON), ``feasible`` is false.
- **cost per GPU-hour**: :func:`tokensim.cost.cost_per_gpu_hour` on the scenario's cost inputs with the point's
  server price (per server; default the scenario's price for its hardware or its previous generation's), utilisation
  (the sold share of hours), cost of capital and electricity price, and the hardware's board power, as
  :func:`tokensim.bridge.unit_cost` builds them. The cost per *sold* GPU-hour with the capital charge at the cost of
  capital is levelised: the rent at which the hardware alone breaks even over its economic life at that rate, with no
  debt, tax or contract (not the finance's ``npv_zero_rent_per_gpu_hour``, the NPV = 0 rent of the scenario's cluster
  and contract over its horizon).
- **cost per million tokens**: :func:`tokensim.cost.cost_per_million_tokens` (input, cached input, output, blended
  over the point's token mix).
- **finance** (``npv``, ``project_irr``, ``equity_irr``): the cluster finance of the scenario
  (:func:`tokensim.finance.batch_metrics`: the monthly engine, vectorised over rows) at the point's rent (the contract
  rent per GPU-hour; the market rent for a spot contract), spot utilisation (the sold share of GPUs that sell at market:
  uncontracted capacity, after the term or after a default — a take-or-pay contract is owed whatever the use), server
  price, cost of capital (the NPV's discount rate) and electricity price. The debt is fixed at close on the base
  case, as in ``tokensim finance``. Finance depends only on those five axes, so it is evaluated once per distinct
  combination of them (always on NumPy, :mod:`tokensim.sweep._finance`) and joined to the grid; hardware, precision,
  model and workload axes do not enter it (the cluster is the scenario's).

Two engines compute the per-point arithmetic: ``numpy`` — :func:`evaluate_points`, which *is* ``perf.evaluate``,
``perf.batch_search``, ``cost.cost_per_gpu_hour`` and ``cost.cost_per_million_tokens`` called on arrays
(float64) — and ``cupy`` — ``kernels/unitcost.cu`` through :mod:`tokensim.sweep._kernel`, one
thread per point (float32 by default, float64 selectable), which must equal it (tests/test_sweep.py compiles the
kernel for the host; tests/test_sweep_gpu.py runs it on a device).

Memory: the grid is never materialised. Points are enumerated by flat index in chunks (``numpy.unravel_index``
order: the first axis varies slowest); each chunk becomes a tidy DataFrame (one row per point, unit-suffixed
columns) that callers stream to CSV/Parquet. The chunk size follows ``memory_budget_mb``; asking for the whole grid
as one DataFrame when it exceeds the budget is a :class:`~tokensim.UserError`.

GPU tolerance (float32 kernel vs the float64 reference, :data:`FLOAT32_TOLERANCE`): the host build of the kernel in
float differs from NumPy by at most 5e-7 relative on every output where both choose the same batch (the test grids of
tests/test_sweep.py); the limit of 1e-5 leaves twentyfold room for the device's fused multiply-adds and float
transcendentals. The batch grid and the memory limit are computed in double in either build, but under an SLO search
a float rounding can still flip a batch whose per-user speed sits within ~1e-6 of the SLO, or pick another of two
batches whose throughputs tie to ~1e-6; so float32 parity is stated on points with the same batch, plus the share of
points whose batch differs (at most 1%; 0 on the host test grids). float64: 1e-9 relative, the same batches and
flags (the float64 build fuses no multiply-add; only the device's transcendentals differ from NumPy's, by an ulp).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .._backend import cpu_workers, select_backend
from .._cluster import ClusterSpec, check_cluster_args
from .._errors import ParameterError, UserError
from ..config.scenario import Scenario
from ..cost import cost_per_gpu_hour, cost_per_million_tokens
from ..perf import Instance, batch_search
from ..perf import evaluate as perf_evaluate
from . import _kernel as _unitcost_kernel
from ._axes import AXES, SWEEP_METRICS, Axis, axis_column, metric_column, parse_axis
from ._dask import dask_frames
from ._plan import (
    FLAG_FEASIBLE,
    FLAG_LATENCY_LAYOUT,
    MODES,
    OUTPUTS,
    ServingLayout,
    SweepPlan,
    combo_index,
    indices,
    plan_sweep,
)

__all__ = ["Axis", "SweepPlan", "ServingLayout", "Sweep", "SweepResult", "parse_axis", "plan_sweep", "evaluate_points",
           "prepare_sweep", "run_sweep", "OUTPUTS", "MODES", "FLOAT32_TOLERANCE", "DEFAULT_MEMORY_BUDGET_MB"]

DEFAULT_MEMORY_BUDGET_MB = 1024.0
# NumPy evaluation blocks (one thread each): a fixed batch needs ~60 float64 temporaries a point; a batch search
# evaluates every candidate of the grid (~97) at once, so its blocks are a hundredth of the size.
_BLOCK_POINTS = {False: 32_768, True: 512}
_BLOCK_BYTES_PER_POINT = {False: 60 * 8, True: 100 * 60 * 8}
_MAX_CHUNK = {"numpy": 1 << 20, "cupy": 1 << 24}
FLOAT32_TOLERANCE = {"rel": 1e-5, "max_share_other_batch": 0.01}


def _search(plan: SweepPlan, r: Instance, l_in, l_out, ctx, h, slo):
    """:func:`tokensim.perf.batch_search` for every point at once: (batch, meets the SLOs, its throughput)."""
    found = batch_search(r.step_model, plan.mode, l_in, l_out, ctx, h, min_tokens_per_s_per_user=slo,
                         max_ttft_s=plan.max_ttft_s, max_tpot_s=plan.max_tpot_s,
                         kv_transfer_s_per_token=r.kv_transfer_s_per_token)
    return found.concurrency, found.meets_slo, found.throughput


def _column(x, sel, m: int):
    return np.broadcast_to(x[sel] if isinstance(x, np.ndarray) else x, (m,)).astype(float)


def _value(x, sel):
    """A swept value's points in ``sel``; an axis not swept stays one float (the arithmetic broadcasts it)."""
    return x[sel] if isinstance(x, np.ndarray) else x


def evaluate_points(plan: SweepPlan, start: int, stop: int, idx: dict[str, Any] | None = None
                    ) -> dict[str, np.ndarray]:
    """The unit-cost outputs (:data:`OUTPUTS`) and ``flags`` of flat points start..stop-1, in float64: the reference
    ``kernels/unitcost.cu`` must equal. ``idx``: :func:`indices` of the same points, when already at hand."""
    n = stop - start
    idx = indices(plan, start, stop) if idx is None else idx
    val = {name: plan.slots[name][idx[name]] if isinstance(idx[name], np.ndarray) else float(plan.slots[name][0])
           for name in AXES}
    combo = combo_index(plan, idx)
    out = {name: np.full(n, np.nan) for name in OUTPUTS}
    flags = np.zeros(n, dtype=np.uint8)
    groups = np.unique(combo) if isinstance(combo, np.ndarray) else [combo]
    for c in groups:
        sel = combo == c if isinstance(combo, np.ndarray) else slice(None)
        m = int(np.count_nonzero(sel)) if isinstance(sel, np.ndarray) else n
        lay = plan.layouts[int(c)]
        l_in, l_out, h = (_column(val[k], sel, m) for k in ("input_tokens", "output_tokens", "cache_hit_rate"))
        ctx = _column(val["context_tokens"], sel, m) if "context_tokens" in plan.strides else None
        latency = np.zeros(m, dtype=bool)
        if plan.search:
            slo = (_column(val["min_tokens_per_s_per_user"], sel, m) if "min_tokens_per_s_per_user" in plan.strides
                   else plan.min_tokens_per_s_per_user)
            slo_arr = slo if isinstance(slo, np.ndarray) or slo is None else np.full(m, slo)
            batch, feasible, metric = _search(plan, lay.throughput, l_in, l_out, ctx, h, slo_arr)
            res = perf_evaluate(lay.throughput.step_model, plan.mode, batch, l_in, l_out, ctx, h,
                                lay.throughput.kv_transfer_s_per_token)
            if plan.has_slo and lay.latency is not None:
                batch1, meets1, metric1 = _search(plan, lay.latency, l_in, l_out, ctx, h, slo_arr)
                latency = meets1 & (~feasible | (metric1 > metric))
                res1 = perf_evaluate(lay.latency.step_model, plan.mode, batch1, l_in, l_out, ctx, h,
                                     lay.latency.kv_transfer_s_per_token)
                res = {k: np.where(latency, res1[k], res[k]) for k in res}
                batch = np.where(latency, batch1, batch)
                feasible = feasible | latency
        else:
            batch = _column(val["concurrency"], sel, m)
            l_in, l_out, h = (_value(val[k], sel) for k in ("input_tokens", "output_tokens", "cache_hit_rate"))
            ctx = _value(val["context_tokens"], sel) if "context_tokens" in plan.strides else None
            res = perf_evaluate(lay.throughput.step_model, plan.mode, batch, l_in, l_out, ctx, h,
                                lay.throughput.kv_transfer_s_per_token)
            feasible = np.asarray(res["fits"], dtype=bool)
        price = _value(val["server_price"], sel)
        price = np.where(np.isnan(price), lay.server_price, price) if isinstance(price, np.ndarray) \
            else (lay.server_price if math.isnan(price) else price)
        ci = replace(plan.base_cost, server_price_per_gpu=price / lay.gpus_per_server,
                     cost_of_capital=_value(val["cost_of_capital"], sel),
                     electricity_price_per_kwh=_value(val["electricity_price_per_kwh"], sel),
                     it_kw_per_gpu=lay.it_kw_per_gpu)
        per_gpu_hour = cost_per_gpu_hour(ci, _value(val["utilisation"], sel)).total
        tokens = cost_per_million_tokens(per_gpu_hour, res["gpu_s_per_input_token"], res["gpu_s_per_output_token"],
                                         plan.cached_input_cost_fraction, input_tokens=l_in, output_tokens=l_out,
                                         cache_hit_rate=h)
        values = {"concurrency": batch, "tokens_per_s_per_user": res["tokens_per_s_per_user"],
                  "output_tokens_per_s_per_gpu": res["output_tokens_per_s_per_gpu"],
                  "cost_per_million_input_tokens": tokens.input,
                  "cost_per_million_cached_input_tokens": tokens.cached_input,
                  "cost_per_million_output_tokens": tokens.output, "cost_per_million_tokens_blended": tokens.blended}
        for name, value in values.items():
            out[name][sel] = np.where(feasible, value, np.nan)
        out["cost_per_gpu_hour"][sel] = np.broadcast_to(per_gpu_hour, (m,))
        flags[sel] = feasible * FLAG_FEASIBLE + latency * FLAG_LATENCY_LAYOUT
    out["flags"] = flags
    return out


# -- chunks, backends and the DataFrame ------------------------------------------------------------------------------
def _columns(plan: SweepPlan) -> list[str]:
    cur = plan.currency
    cols = [axis_column(a.name, cur) for a in plan.axes]
    if plan.search:
        cols.append("concurrency")
    cols += ["tokens_per_s_per_user", "gpus_per_instance", "tp", "ep", "feasible"]
    return cols + [metric_column(m, cur) for m in plan.metrics]


def frame_of(plan: SweepPlan, start: int, stop: int, outputs: dict[str, np.ndarray],
             idx: dict[str, Any] | None = None):
    """The tidy DataFrame of points start..stop-1 from the per-point outputs (either backend's)."""
    import pandas as pd

    n = stop - start
    cur = plan.currency
    idx = indices(plan, start, stop) if idx is None else idx
    data: dict[str, Any] = {}
    for axis in plan.axes:
        if axis.spec.categorical:
            data[axis_column(axis.name, cur)] = pd.Categorical.from_codes(  # type: ignore[call-overload]
                idx[axis.name], list(axis.values))
        else:
            data[axis_column(axis.name, cur)] = plan.slots[axis.name][idx[axis.name]]
    if plan.search:
        data["concurrency"] = outputs["concurrency"]
    data["tokens_per_s_per_user"] = outputs["tokens_per_s_per_user"]
    layout = np.broadcast_to(combo_index(plan, idx), (n,)) * 2 + ((outputs["flags"] & FLAG_LATENCY_LAYOUT) > 0)
    table = np.array([[r.deployment.gpus, r.deployment.tp, r.deployment.ep] for lay in plan.layouts
                      for r in (lay.throughput, lay.latency or lay.throughput)], dtype=np.int64)
    for j, name in enumerate(("gpus_per_instance", "tp", "ep")):
        data[name] = table[layout, j]
    data["feasible"] = (outputs["flags"] & FLAG_FEASIBLE) > 0
    finance = plan.finance.lookup(idx, n) if plan.finance is not None else {}
    for m in plan.metrics:
        data[metric_column(m, cur)] = finance[m] if SWEEP_METRICS[m].finance else outputs[m]
    return pd.DataFrame(data, copy=False)


@dataclass
class Sweep:
    """A planned sweep on a backend, ready to stream: :meth:`frames` yields one DataFrame per chunk."""

    plan: SweepPlan
    backend: str  # numpy | cupy
    device: str | None
    dtype: str
    chunk_points: int
    memory_budget_mb: float
    notes: list[str]
    working_mb: float = 0.0  # the evaluation's own temporaries, beside the chunks

    @property
    def bytes_per_row(self) -> int:
        return 8 * len(_columns(self.plan)) + 8

    def check_fits_in_memory(self, what: str = "the whole grid as one table") -> None:
        need = self.plan.points * self.bytes_per_row / 2**20 + self.working_mb
        if need > self.memory_budget_mb:
            raise UserError(
                f"the grid has {self.plan.points:,} points x {len(_columns(self.plan))} columns, about {need:,.0f} MB "
                f"for {what}, over the memory budget of {self.memory_budget_mb:,.0f} MB; stream it in chunks "
                "(Sweep.frames; on the command line --out DIR or --format csv), or raise memory_budget_mb "
                "(--memory-budget-mb)")

    def _block_frame(self, start: int, stop: int, outputs: dict[str, np.ndarray] | None, offset: int):
        idx = indices(self.plan, start, stop)
        if outputs is None:
            block = evaluate_points(self.plan, start, stop, idx)
        else:
            block = {k: v[start - offset: stop - offset] for k, v in outputs.items()}
        return frame_of(self.plan, start, stop, block, idx)

    def frames(self, progress: Callable[[int, int], None] | None = None) -> Iterator[Any]:
        """One DataFrame per chunk of ``chunk_points`` points, in flat-index order. NumPy evaluates and assembles
        blocks of a chunk on a thread pool (NumPy and pandas release the GIL in their array loops); the kernel
        evaluates a whole chunk per launch."""
        kernel = None
        if self.backend == "cupy":
            kernel = _unitcost_kernel.host_chunks(self.plan, self.dtype)
        with ThreadPoolExecutor(max_workers=cpu_workers(), thread_name_prefix="tokensim-sweep") as pool:
            for start in range(0, self.plan.points, self.chunk_points):
                stop = min(self.plan.points, start + self.chunk_points)
                yield self.chunk_frame(start, stop, pool, kernel)
                if progress is not None:
                    progress(stop, self.plan.points)

    def chunk_frame(self, start: int, stop: int, pool: ThreadPoolExecutor | None = None, kernel: Any = None):
        """The DataFrame of points start..stop-1: one chunk of :meth:`frames`, or one task on Dask. Its blocks run
        on ``pool`` when given; ``kernel``: the GPU's :func:`tokensim.sweep._kernel.host_chunks` when already built."""
        import pandas as pd

        if kernel is None and self.backend == "cupy":
            kernel = _unitcost_kernel.host_chunks(self.plan, self.dtype)
        outputs = kernel(start, stop) if kernel is not None else None
        block = _BLOCK_POINTS[self.plan.search]

        def one(a: int):
            return self._block_frame(a, min(stop, a + block), outputs, start)

        starts = range(start, stop, block)
        parts = list(pool.map(one, starts) if pool is not None else map(one, starts))
        return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]

    def meta(self) -> dict[str, Any]:
        p = self.plan
        return {"scenario": p.scenario.name, "currency": p.currency, "mode": p.mode,
                "batch": "searched under the SLOs" if p.search else "fixed (concurrency axis)",
                "backend": self.backend, "device": self.device, "dtype": self.dtype, "points": p.points,
                "axes": [{"name": a.name, "column": axis_column(a.name, p.currency), "values": list(a.values)}
                         for a in p.axes],
                "metrics": [metric_column(m, p.currency) for m in p.metrics], "columns": _columns(p),
                "base": dict(p.base), "finance_points": p.finance.rows if p.finance is not None else 0,
                "notes": list(self.notes)}


def prepare_sweep(scenario: Scenario, axes: Sequence[Axis | str], metrics: Sequence[str] | None = None, *,
                  mode: str = "aggregated", backend: str = "auto", dtype: str | None = None,
                  chunk_points: int | None = None, memory_budget_mb: float = DEFAULT_MEMORY_BUDGET_MB) -> Sweep:
    """Plan the sweep, pick the backend and size the chunks within ``memory_budget_mb``."""
    if not (isinstance(memory_budget_mb, (int, float)) and math.isfinite(memory_budget_mb) and memory_budget_mb > 0):
        raise ParameterError("memory_budget_mb", f"got {memory_budget_mb!r}; allowed: a number of MB > 0", sep=": ")
    if dtype not in (None, "float32", "float64"):
        raise ParameterError("dtype", f"{dtype!r}: allowed: float32, float64")
    plan = plan_sweep(scenario, axes, metrics, mode=mode)
    chosen = select_backend(backend)
    name = chosen.name
    real = "float64" if name == "numpy" else (dtype or "float32")
    notes = list(plan.notes)
    if name == "numpy" and dtype == "float32":
        notes.append("NumPy runs in float64; --dtype float32 applies to the GPU kernel only")
    if name == "cupy" and plan.finance is not None:
        notes.append(f"finance metrics ran on NumPy ({plan.finance.rows:,} distinct finance points); the kernel "
                     "covers the unit-cost metrics")
    working = (cpu_workers() * _BLOCK_POINTS[plan.search] * _BLOCK_BYTES_PER_POINT[plan.search] if name == "numpy"
               else 0) / 2**20
    sweep = Sweep(plan, name, chosen.device, real, 1, float(memory_budget_mb), notes, working)
    itemsize = 8 if real == "float64" else 4
    # a chunk's rows, plus on the GPU its outputs on the device, their host copy and the float64 views
    per_point = sweep.bytes_per_row + (len(OUTPUTS) * (8 + 2 * itemsize) + 2 if name == "cupy" else 0)
    room = memory_budget_mb - working
    if chunk_points is not None:
        if isinstance(chunk_points, bool) or not isinstance(chunk_points, int) or chunk_points < 1:
            raise ParameterError("chunk_points", f"got {chunk_points!r}; allowed: a whole number >= 1", sep=": ")
        need = chunk_points * per_point / 2**20
        if need > room:
            raise ParameterError("chunk_points", f"{chunk_points:,} needs about {need + working:,.0f} MB, over the "
                                 f"memory budget of {memory_budget_mb:,.0f} MB; use fewer points per chunk or raise "
                                 "the memory budget")
        sweep.chunk_points = chunk_points
    else:
        fit = int(room * 2**20 // per_point)
        if fit < 1:
            raise ParameterError("memory_budget_mb", f"{memory_budget_mb:g} is below the {working + 1:,.0f} MB one "
                                 "chunk of this sweep needs; raise it")
        sweep.chunk_points = max(1, min(fit, _MAX_CHUNK[name], plan.points))
    return sweep


@dataclass
class SweepResult:
    """A whole sweep: the tidy DataFrame (``frame``) and what produced it."""

    meta: dict[str, Any]
    frame: Any
    elapsed_s: float

    def to_dict(self) -> dict[str, Any]:
        points = self.meta["points"]
        return {**self.meta, "elapsed_s": self.elapsed_s,
                "points_per_s": points / self.elapsed_s if self.elapsed_s > 0 else None,
                "rows": self.frame.to_dict(orient="records")}


def run_sweep(scenario: Scenario, axes: Sequence[Axis | str], metrics: Sequence[str] | None = None, *,
              client: Any = None, scheduler: str | None = None, workers: int | None = None,
              gpus_per_node: int | None = None, **options: Any) -> SweepResult:
    """Unit cost and finance metrics over a grid of scenario fields, as one table.

    Within the memory budget; stream :meth:`Sweep.frames` of :func:`prepare_sweep` for larger grids.

    Parameters
    ----------
    scenario : Scenario
        The scenario every point starts from.
    axes : sequence of Axis or str
        The grid: ``NAME=V1,V2,...`` or ``NAME=START:STOP:N`` (linearly spaced), e.g. ``server_price=3e6:7e6:5``,
        ``precision=fp8,nvfp4``; the names and their units are in :data:`tokensim.sweep._axes.AXES`.
    metrics : sequence of str, optional
        Metric columns (default: cost per million tokens blended, input, cached input and output, and cost per
        GPU-hour; finance metrics ``npv``, ``project_irr``, ``equity_irr`` on request).
    **options
        ``mode`` (aggregated or disaggregated), ``backend`` (auto, numpy or cupy), ``dtype`` (float32 or float64, GPU
        only), ``chunk_points`` and ``memory_budget_mb``, as :func:`prepare_sweep`.
    client, scheduler, workers, gpus_per_node : optional, at most one
        Evaluate the chunks on Dask (:func:`tokensim.sweep.dask_frames`, the ``dask`` extra): a connected
        ``distributed.Client``, a scheduler's address, a local cluster of ``workers`` processes or a local CUDA
        cluster of ``gpus_per_node`` GPUs; the table is the in-process one, value for value.

    Returns
    -------
    SweepResult
        The metadata (axes, metrics, backend, notes) and a tidy DataFrame with one row per point: the axis values,
        the operating point (concurrency, tokens/s per user and per GPU) and the metrics, money in the scenario
        currency (the column names carry it).
    """
    import pandas as pd

    cluster = ClusterSpec(scheduler=scheduler, workers=workers, gpus_per_node=gpus_per_node, client=client)
    check_cluster_args(cluster)
    sweep = prepare_sweep(scenario, axes, metrics, **options)
    sweep.check_fits_in_memory()
    start = time.perf_counter()
    frames = list(dask_frames(sweep, cluster, chunk_points=options.get("chunk_points")) if cluster.requested
                  else sweep.frames())
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return SweepResult(sweep.meta(), frame, time.perf_counter() - start)
