"""``tokensim sweep [SCENARIO] --axis NAME=V1,V2,... [--metric M ...]``: unit cost (and finance) over a grid.

The arithmetic is :mod:`tokensim.sweep._run`; this module parses, streams chunks to their destinations and draws the
heatmaps. Destinations: ``--format csv`` streams to stdout chunk by chunk; ``table``, ``json`` and ``parquet`` on
stdout need the whole grid in memory (refused beyond ``--memory-budget-mb``); ``--out DIR`` streams every chunk to
``DIR/sweep.csv`` and ``DIR/sweep.parquet`` (temporary files renamed at the end), writes ``DIR/sweep.json`` (what
was swept, without the rows) and, for a grid of exactly two numeric axes, one heatmap per metric.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import click
import numpy as np

from .._backend import BACKEND_NAMES
from .._cluster import ClusterSpec, check_cluster_args
from .._errors import UserError
from .._output import atomic_write_text, check_output_path, csv_text, dumps_json, render_table
from ..config.scenario import load_scenario
from ..plots import column_words, heatmap_chart
from ..sweep import (
    AXES,
    DEFAULT_MEMORY_BUDGET_MB,
    MODES,
    SWEEP_METRICS,
    Sweep,
    SweepResult,
    axis_column,
    dask_frames,
    metric_column,
    prepare_sweep,
)
from ._common import LazyProgress, cli, emit, format_option, info, scenario_overrides, set_option

_TABLE_ROWS = 40
_PROGRESS_AFTER_S = 2.0


class _FileWriter:
    """sweep.csv and sweep.parquet in ``folder``, written chunk by chunk to temporary files and renamed at the end."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.tmp = {ext: folder / f".sweep.{ext}.{os.getpid()}.tmp" for ext in ("csv", "parquet")}
        self.csv = open(self.tmp["csv"], "w", encoding="utf-8", newline="")
        self.parquet = None
        self.schema = None

    def write(self, frame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        frame.to_csv(self.csv, header=self.parquet is None, index=False)
        table = pa.Table.from_pandas(frame, preserve_index=False, schema=self.schema)
        if self.parquet is None:
            self.schema = table.schema
            self.parquet = pq.ParquetWriter(self.tmp["parquet"], self.schema)
        assert self.parquet is not None
        self.parquet.write_table(table)

    def close(self) -> list[Path]:
        self.csv.close()
        if self.parquet is not None:
            self.parquet.close()
        umask = os.umask(0)
        os.umask(umask)
        written = []
        for ext, tmp in self.tmp.items():
            os.chmod(tmp, 0o666 & ~umask)
            target = self.folder / f"sweep.{ext}"
            os.replace(tmp, target)
            written.append(target)
        return written

    def abort(self) -> None:
        self.csv.close()
        if self.parquet is not None:
            self.parquet.close()
        for tmp in self.tmp.values():
            if tmp.exists():
                tmp.unlink()


def _heatmaps(sweep: Sweep, frame, folder: Path) -> list[Path]:
    """One heatmap per metric when exactly two numeric axes take several values and every other axis one.

    A metric that is the same at every point of the grid is not drawn (a chart of a constant; issue 16: the cost
    metrics do not depend on a rent or spot-utilisation axis), and a note says which and why; one that varies along
    one axis only says so in its title."""
    plan = sweep.plan
    varying = [a for a in plan.axes if a.size > 1]
    if len(varying) != 2 or any(a.spec.categorical for a in varying):
        return []
    y_axis, x_axis = varying
    cur = plan.currency
    s = plan.scenario
    written = []
    constant = []
    x_col, y_col = axis_column(x_axis.name, cur), axis_column(y_axis.name, cur)
    for m in plan.metrics:
        column = metric_column(m, cur)
        if frame[column].notna().sum() == 0:
            continue
        grid = frame.pivot_table(index=y_col, columns=x_col, values=column, aggfunc="mean")
        values = grid.to_numpy(dtype=float)
        span = np.nanmax(values) - np.nanmin(values)
        tolerance = 1e-12 * max(1.0, float(np.nanmax(np.abs(values))))
        if span <= tolerance:
            constant.append(column)
            continue
        along_x = bool(np.nanmax(np.nanmax(values, axis=1) - np.nanmin(values, axis=1)) > tolerance)
        along_y = bool(np.nanmax(np.nanmax(values, axis=0) - np.nanmin(values, axis=0)) > tolerance)
        only = (f"; varies with {column_words(x_col)} only" if along_x and not along_y
                else f"; varies with {column_words(y_col)} only" if along_y and not along_x else "")
        contour, label = None, None
        if m == "equity_irr" and s.financing.equity_hurdle_irr is not None:
            contour, label = s.financing.equity_hurdle_irr, f"equity hurdle {s.financing.equity_hurdle_irr:.1%}"
        elif m == "npv":
            contour, label = 0.0, "NPV = 0"
        fixed = ", ".join(f"{column_words(axis_column(a.name, cur))} {a.values[0]}" for a in plan.axes if a.size == 1)
        written.append(heatmap_chart(
            frame, x_col, y_col, column,
            folder / f"heatmap_{column}.png", contour, percent=m in ("project_irr", "equity_irr"), contour_label=label,
            x_label=column_words(x_col), y_label=column_words(y_col), value_label=column_words(column),
            title=(f"{column_words(column)} by {column_words(x_col)} and {column_words(y_col)}"
                   + (f" ({fixed})" if fixed else "") + only),
            scenario=s.name, source=f"tokensim sweep ({sweep.backend}, {plan.mode})"))
    if constant:
        info(f"tokensim: no heatmap for {', '.join(constant)}: the same at every point of the grid (they do not "
             f"depend on {x_axis.name} or {y_axis.name})")
    return written


def _table(result: SweepResult) -> str:
    frame = result.frame
    meta = result.meta
    shown = frame.head(_TABLE_ROWS)
    rows = [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in shown.to_dict("records")]
    title = (f"{meta['scenario']}: {meta['points']:,} points ({meta['mode']}, batch {meta['batch']}; "
             f"{meta['backend']} {meta['dtype']}, {result.elapsed_s:.2f} s)")
    return render_table(rows, title=title, columns=list(frame.columns))


def _dask_started(session) -> None:
    where = f"dashboard {session.dashboard}" if session.dashboard else "no dashboard (pip install bokeh to get one)"
    info(f"tokensim: dask: {session.workers} workers; {where}")


def _axes_help() -> str:
    return ", ".join(AXES)


@cli.command("sweep")
@set_option()
@click.argument("scenario", default="b300-10k-cluster")
@click.option("--axis", "axes", multiple=True, metavar="NAME=V1,V2,...|NAME=START:STOP:N",
              help=f"an axis of the grid (repeat for more; the first varies slowest). Names: {_axes_help()}")
@click.option("--metric", "metrics", multiple=True,
              help=f"a metric column (repeat or comma-separate): {', '.join(SWEEP_METRICS)} [default: the unit-cost "
                   "metrics, plus npv and the IRRs with a rent or spot_utilisation axis]")
@click.option("--mode", type=click.Choice(MODES), default="aggregated", show_default=True, help="serving mode")
@click.option("--backend", default="auto", show_default=True, type=click.Choice(BACKEND_NAMES),
              help="cupy = the fused CUDA kernel; auto picks it when CuPy and a device are present")
@click.option("--dtype", default=None, type=click.Choice(["float32", "float64"]),
              help="kernel precision on the GPU [default: float32]; NumPy always runs float64")
@click.option("--chunk-points", type=int, default=None,
              help="points per chunk (bounds memory; results do not depend on it) [default: from the budget]")
@click.option("--memory-budget-mb", type=float, default=DEFAULT_MEMORY_BUDGET_MB, show_default=True,
              help="memory for the chunks, and the largest grid table, json or parquet output may hold")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="write sweep.csv, sweep.parquet, sweep.json and heatmaps (2-D numeric grids) to DIR")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="evaluate the chunks on an existing Dask scheduler (tcp://HOST:8786, or a scheduler file .json)")
@click.option("--workers", type=int, default=None,
              help="evaluate the chunks on a local Dask cluster of N worker processes (the dask extra)")
@click.option("--gpus-per-node", type=int, default=None,
              help="evaluate the chunks on a local Dask CUDA cluster, one worker per GPU (dask-cuda)")
@format_option()
def sweep_command(scenario, axes, metrics, mode, backend, dtype, chunk_points, memory_budget_mb, out_dir, scheduler,
                  workers, gpus_per_node, fmt):
    """Unit cost per million tokens, cost per GPU-hour (levelised) and (with rent/spot_utilisation) NPV and IRRs
    over the cartesian grid of the axes; every field not swept keeps SCENARIO's value (default: b300-10k-cluster)."""
    if memory_budget_mb is not None and not (math.isfinite(memory_budget_mb) and memory_budget_mb > 0):
        raise UserError(f"--memory-budget-mb: got {memory_budget_mb:g}; allowed: a number of MB > 0")
    if out_dir is not None:
        check_output_path(out_dir, "out_dir", folder=True)
    cluster = ClusterSpec(scheduler=scheduler, workers=workers, gpus_per_node=gpus_per_node)
    check_cluster_args(cluster)
    s = load_scenario(scenario, scenario_overrides())
    sweep = prepare_sweep(s, axes, metrics, mode=mode, backend=backend, dtype=dtype, chunk_points=chunk_points,
                          memory_budget_mb=memory_budget_mb)
    for note in sweep.notes:
        info(f"tokensim: {note}")
    in_memory = fmt in ("table", "json", "parquet")
    keep = in_memory or out_dir is not None
    try:
        sweep.check_fits_in_memory(f"--format {fmt} on stdout" if in_memory else "heatmaps")
    except UserError:
        if in_memory and out_dir is None:
            raise
        keep = False
    writer = _FileWriter(Path(out_dir)) if out_dir is not None else None
    frames, first_csv = [], True
    progress = LazyProgress("points", _PROGRESS_AFTER_S)
    start = time.perf_counter()
    try:
        chunks = (dask_frames(sweep, cluster, progress, chunk_points=chunk_points, started=_dask_started)
                  if cluster.requested else sweep.frames(progress))
        for frame in chunks:
            if writer is not None:
                writer.write(frame)
            if fmt == "csv":
                text = csv_text(frame)
                click.echo(text if first_csv else text.split("\n", 1)[1], nl=False)
                first_csv = False
            if keep:
                frames.append(frame)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        progress.close()
    elapsed = time.perf_counter() - start
    result = None
    if keep:
        import pandas as pd

        result = SweepResult(sweep.meta(), pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0],
                             elapsed)
    if writer is not None:
        folder = Path(out_dir)
        written = writer.close()
        meta = {**sweep.meta(), "elapsed_s": elapsed, "points_per_s": sweep.plan.points / elapsed}
        written.append(atomic_write_text(folder / "sweep.json", dumps_json(meta)))
        if result is not None:
            written += _heatmaps(sweep, result.frame, folder)
        elif sweep.plan.points > 1:
            info("tokensim: no heatmaps: the grid is over the memory budget")
        info(f"tokensim: wrote {', '.join(str(p) for p in written)}")
    if fmt == "csv":
        return
    if result is None:
        info(f"tokensim: {sweep.plan.points:,} rows are in {out_dir}/sweep.csv and sweep.parquet; too many for "
             f"--format {fmt} on stdout within --memory-budget-mb")
        return
    if fmt == "json":
        emit(result.to_dict(), fmt)
    elif fmt == "parquet":
        emit(result.frame, fmt)
    else:
        emit(None, fmt, table=_table(result))
        if len(result.frame) > _TABLE_ROWS:
            info(f"tokensim: showing the first {_TABLE_ROWS} of {len(result.frame):,} rows; all of them with "
                 "--format csv or --out DIR")
