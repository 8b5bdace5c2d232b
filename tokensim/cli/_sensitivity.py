"""``tokensim sensitivity SCENARIO --method tornado|sobol``: what drives a finance metric over the inputs' ranges."""

from __future__ import annotations

import math
from pathlib import Path

import click

from .._errors import UserError
from .._output import atomic_write_text, check_output_path, dumps_json, render_table, write_table
from ..config.scenario import load_scenario
from ..plots import sensitivity_chart
from ..sensitivity import METHODS, SENSITIVITY_METRICS, check_metric, check_samples, run_sensitivity
from ._common import cli, emit, format_option, info, scenario_overrides, set_option


def _value(value, unit: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if unit == "fraction":
        return f"{value:.2%}"
    if unit == "currency":
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.4g}"
    return f"{value:.3f}"


def sensitivity_table(d: dict) -> str:
    unit = d["metric_unit"]
    head = (f"{d['scenario']}: {d['method']} of {d['metric']} ({d['currency'] if unit == 'currency' else unit}), "
            f"base {_value(d['base_value'], unit)}, {d['evaluations']:,} evaluations in {d['elapsed_s']:.2f} s")
    if d["method"] == "tornado":
        rows = [{"input": r["input"], "low": r["low_label"], "high": r["high_label"],
                 "at low": _value(r["output_low"], unit), "at high": _value(r["output_high"], unit),
                 "swing": _value(r["swing"], unit)} for r in d["tornado"]]
    else:
        head += f"; N = {d['samples']:,}, seed {d['seed']}, 95% intervals"
        rows = [{"input": r["input"], "S1": f"{r['S1']:.3f} ± {r['S1_conf']:.3f}",
                 "ST": f"{r['ST']:.3f} ± {r['ST_conf']:.3f}"} for r in d["sobol"]]
    out = render_table(rows, title=head)
    ranges = [{"input": r["input"], "low": r["low"], "high": r["high"], "base": r["base"],
               "distribution": r["distribution"] if r["mode"] is None else f"{r['distribution']} (mode {r['mode']:g})",
               "source": r["source"]} for r in d["inputs"]]
    out += render_table(ranges, title="input ranges")
    if d["assumptions"]:
        out += render_table(d["assumptions"], title="assumptions", columns=["field", "value", "why"])
    return out


@cli.command("sensitivity")
@set_option()
@click.argument("scenario")
@click.option("--method", type=click.Choice(METHODS), default="tornado", show_default=True,
              help="tornado: one input at a time at its low/high; sobol: variance shares S1/ST with intervals")
@click.option("--metric", default="npv", show_default=True, help=f"one of {', '.join(SENSITIVITY_METRICS)}")
@click.option("--samples", type=int, default=1024, show_default=True,
              help="sobol: base samples N, a power of 2 (N x (inputs + 2) evaluations)")
@click.option("--seed", type=int, default=0, show_default=True, help="sobol: seed of the scrambled Sobol' sequence")
@click.option("--backend", default="auto", show_default=True, type=click.Choice(["auto", "numpy", "cupy"]),
              help="accepted for symmetry with mc; sensitivity always runs the NumPy engine")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="also write sensitivity.json, sensitivity_METHOD.csv and METHOD.png to DIR")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="evaluate the samples on an existing Dask scheduler (tcp://HOST:8786, or a scheduler file .json)")
@click.option("--workers", type=int, default=None,
              help="evaluate the samples on a local Dask cluster of N worker processes (the dask extra)")
@click.option("--gpus-per-node", type=int, default=None,
              help="evaluate the samples on a local Dask CUDA cluster (dask-cuda; the engine is NumPy)")
@format_option(("table", "json", "csv"))
def sensitivity_command(scenario: str, method: str, metric: str, samples: int, seed: int, backend: str,
                        out_dir: str | None, scheduler: str | None, workers: int | None, gpus_per_node: int | None,
                        fmt: str) -> None:
    """Tornado (one at a time) or Sobol indices (variance shares) of a finance metric over the scenario's input
    ranges (uncertainty.ranges; ±20% defaults when absent)."""
    if out_dir is not None:
        check_output_path(out_dir, "out_dir", folder=True)
    check_metric(metric)
    check_samples(samples)  # also for the tornado, which ignores it: a value given must be valid
    s = load_scenario(scenario, scenario_overrides())
    if backend == "cupy":
        info("tokensim: sensitivity runs the NumPy engine (the GPU kernel draws Monte Carlo drivers, not per-sample "
             "inputs); --backend cupy ignored")
    result = run_sensitivity(s, method=method, metric=metric, samples=samples, seed=seed, scheduler=scheduler,
                             workers=workers, gpus_per_node=gpus_per_node)
    for note in result.notes:
        info(f"tokensim: {note}")
    data = result.to_dict()
    if out_dir is not None:
        out = Path(out_dir)
        written = [atomic_write_text(out / "sensitivity.json", dumps_json(data)),
                   write_table(data[method], out / f"sensitivity_{method}.csv")]
        try:
            written.append(sensitivity_chart(result, out / f"{method}.png"))
        except UserError as exc:  # a chart that cannot be drawn (no base value) is said, the data are still written
            info(f"tokensim: no chart: {exc}")
        info(f"tokensim: wrote {', '.join(str(p) for p in written)}")
    if fmt == "table":
        emit(None, fmt, table=sensitivity_table(data))
    else:
        emit(data if fmt == "json" else data[method], fmt)
