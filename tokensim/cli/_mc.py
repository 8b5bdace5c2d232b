"""``tokensim mc SCENARIO --paths N``: the Monte Carlo distribution of IRRs, NPV, payback and DSCR, and breach odds."""

from __future__ import annotations

from pathlib import Path

import click

from .._errors import UserError
from .._output import render_table
from ..api import run_montecarlo
from ..config.scenario import load_scenario
from ..montecarlo import PATH_METRICS
from ._common import (
    LazyProgress,
    cli,
    emit,
    fmt_value,
    format_option,
    info,
    scenario_overrides,
    set_option,
    warn,
)
from ._dask import DaskReport

# Show a progress bar only once a run has taken this long: short runs stay quiet.
_PROGRESS_AFTER_S = 2.0


def _fmt_na(value, kind: str) -> str:
    return fmt_value(value, kind, missing="n/a")


# Short table labels of the conditions in tokensim.montecarlo.CONDITIONAL_ON (the JSON carries the full wording).
_GIVEN = {"project_irr": "an IRR", "equity_irr": "an IRR", "payback_years_equity": "payback",
          "min_dscr": "debt service", "payback_years_equity_first_crossing": "a crossing",
          "first_loan_default_month": "a loan default"}


def mc_table(d: dict) -> str:
    """The Monte Carlo summary for people (also the Monte Carlo section of ``tokensim run``)."""
    kinds = {"project_irr": "pct", "equity_irr": "pct", "npv": "money", "payback_years_equity": "years",
             "min_dscr": "ratio", "payback_years_equity_first_crossing": "years", "sponsor_injection": "money",
             "first_loan_default_month": "number"}
    labels = {"project_irr": "project IRR", "equity_irr": "equity IRR", "npv": f"NPV ({d['currency']})",
              "payback_years_equity": "equity payback (sustained)", "min_dscr": "min DSCR",
              "payback_years_equity_first_crossing": "equity payback (first crossing)",
              "sponsor_injection": f"sponsor injections ({d['currency']})",
              "first_loan_default_month": "first loan default month"}
    rows = []
    for name in PATH_METRICS:
        m = d[name]
        label = labels[name]
        if m.get("conditional_on"):  # statistics over the paths with a value only: say so, and how many they are
            label = f"{label} | given {_GIVEN.get(name, m['conditional_on'])}"
        rows.append({"metric": label, "paths with a value": _fmt_na(m.get("share_with_value"), "pct"),
                     "mean": _fmt_na(m["mean"], kinds[name]),
                     "std": _fmt_na(m["std"], kinds[name]),
                     "p05": _fmt_na(m["p05"], kinds[name]), "p50": _fmt_na(m["p50"], kinds[name]),
                     "p95": _fmt_na(m["p95"], kinds[name]),
                     "deterministic": _fmt_na(d["deterministic"][name], kinds[name]),
                     "paths without a value": f"{m['no_value']:,}"})
    out = render_table(rows, title=f"{d['scenario']}: Monte Carlo, {d['paths']:,} paths, seed {d['seed']} "
                                   f"({d['backend']}, {d['dtype']})")
    odds = {
        "P(DSCR below covenant in some loan year)": _fmt_na(d["prob_dscr_below_covenant"], "pct"),
        "P(equity IRR below hurdle)": _fmt_na(d["prob_equity_irr_below_hurdle"], "pct"),
        "P(tenant default within the term)": _fmt_na(d["prob_tenant_default"], "pct"),
        "P(loan default event within the horizon)": _fmt_na(d.get("prob_loan_default"), "pct"),
        "P(equity payback within the horizon)": _fmt_na(d.get("prob_payback_equity_within_horizon"), "pct"),
        f"standard error of the NPV mean ({d['currency']})": _fmt_na(d["mean_std_error"], "money"),
        "elapsed": f"{d['elapsed_s']:.2f} s ({d['path_months_per_s']:,.0f} path-months/s)",
    }
    return out + render_table(odds, title="probabilities and convergence")


@cli.command("mc")
@set_option()
@click.argument("scenario")
@click.option("--paths", required=True, type=int, help="number of Monte Carlo paths (>= 1)")
@click.option("--seed", default=0, show_default=True, type=int, help="Philox key: same seed, same results")
@click.option("--backend", default="auto", show_default=True, type=click.Choice(["auto", "numpy", "cupy"]),
              help="cupy = CUDA kernel on the GPU; auto picks it when CuPy and a device are present")
@click.option("--dtype", default=None, type=click.Choice(["float32", "float64"]),
              help="kernel precision on the GPU [default: float32]; NumPy always runs float64")
@click.option("--chunk-paths", type=int, default=None,
              help="paths per chunk (bounds memory; results do not depend on it)")
@click.option("--keep-paths", type=click.Path(), default=None,
              help="write one row per path to FILE.parquet (on Dask: a folder NAME.parquet, one file per block)")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="run on an existing Dask scheduler (tcp://HOST:8786, or a scheduler file .json)")
@click.option("--workers", type=int, default=None,
              help="run on a local Dask cluster of N worker processes (the dask extra)")
@click.option("--gpus-per-node", type=int, default=None,
              help="run on a local Dask CUDA cluster, one worker per GPU (dask-cuda, in the CUDA extras)")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None,
              help="on Dask: resume from FILE if it exists, save progress to it, delete it when done")
@format_option(("table", "json"))
def mc_command(scenario: str, paths: int, seed: int, backend: str, dtype: str | None, chunk_paths: int | None,
               keep_paths: str | None, scheduler: str | None, workers: int | None, gpus_per_node: int | None,
               checkpoint: str | None, fmt: str) -> None:
    """Distribution of project/equity IRR, NPV, payback and min DSCR over stochastic paths, and covenant odds."""
    if paths <= 0:
        raise UserError(f"--paths: got {paths}; allowed: a whole number of paths >= 1")
    if chunk_paths is not None and chunk_paths <= 0:
        raise UserError(f"--chunk-paths: got {chunk_paths}; allowed: a whole number >= 1")
    s = load_scenario(scenario, scenario_overrides())
    distributed = any(v is not None for v in (scheduler, workers, gpus_per_node))
    progress = LazyProgress("paths", _PROGRESS_AFTER_S)
    try:
        result = run_montecarlo(s, paths=paths, seed=seed, backend=backend, dtype=dtype, chunk_paths=chunk_paths,
                                keep_paths=keep_paths, progress=None if distributed else progress,
                                scheduler=scheduler, workers=workers, gpus_per_node=gpus_per_node,
                                checkpoint=checkpoint, report=DaskReport() if distributed else None)
    except BaseException as exc:
        if checkpoint is not None and distributed and not isinstance(exc, UserError) and Path(checkpoint).exists():
            info(f"tokensim: the blocks merged so far are saved in {checkpoint}; the same command resumes from them")
        raise
    finally:
        progress.close()
    for note in result.notes:
        info(f"tokensim: {note}")
    warn(result.warnings)
    if keep_paths is not None:
        info(f"tokensim: wrote {paths:,} paths to {keep_paths}")
    data = result.to_dict()
    if fmt == "json":
        emit(data, fmt)
    else:
        emit(None, fmt, table=mc_table(data))
