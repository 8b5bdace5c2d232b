"""``tokensim validate`` and ``tokensim calibrate``: the performance model against published measurements."""

from __future__ import annotations

from pathlib import Path

import click

from .._errors import UserError, did_you_mean
from .._output import atomic_write_text, check_output_path, render_table
from ..config import config_dir
from ..perf.calibration import (
    DEFAULT_ATTENTION_KINDS,
    DEFAULT_ATTENTION_SD,
    DEFAULT_ENGINE_KERNEL_SD,
    DEFAULT_ENGINE_SD,
    DEFAULT_SOURCE_OFFSET_SD,
    FIXED_CONCURRENCY_LABEL,
    PRIOR_LOG_SD,
    PriorWidths,
    calibrate,
    cross_validated_measurements,
    default_jobs,
    fixed_concurrency_rows,
    rows_sha256,
)
from ..perf.efficiency import ATTENTION_KINDS
from ..perf.validate import (
    MEASUREMENTS_PATH,
    VALIDATE_GROUPS,
    calibration_rows,
    calibration_sha256,
    load_measurements,
    not_run_summary,
    summarize,
    validate,
)
from ._common import cli, emit, format_option, info

_ROW_FIELDS = ("id", "hardware", "model", "precision", "serving", "predicted", "measured", "error", "low", "high",
               "inside")
_JSON_ROW_FIELDS = ("id", "source_id", "hardware_family", "model_family", "precision", "serving", "band",
                    "predicted_band", "engine", "speculative", "fitted", "run", "hardware", "model", "predicted",
                    "measured", "error", "low", "high", "inside")
_NOT_RUN_FIELDS = ("id", "source_id", "hardware", "model", "serving", "reason", "detail")
_SUBSETS = {"all": lambda m: True, "fitted": lambda m: m.calibrate, "unfitted": lambda m: not m.calibrate}
_STAT_FIELDS = ("n", "median_abs_error", "max_abs_error", "interval_coverage")


def group_table_rows(report: dict) -> list[dict]:
    """One row per (group, value) plus the overall line, in the order the README table shows them."""
    rows = [{"group": "all", "value": "all", **report["summary"]}]
    for group, values in report["groups"].items():
        for value, stats in values.items():
            rows.append({"group": group, "value": value, **stats})
    return rows


def _percent(rows: list[dict]) -> list[dict]:
    out = []
    for r in rows:
        r = dict(r)
        for key in ("median_abs_error", "max_abs_error", "interval_coverage", "error"):
            if key in r and r[key] is not None:
                r[key] = f"{100 * r[key]:+.1f}%" if key == "error" else f"{100 * r[key]:.1f}%"
        out.append(r)
    return out


def _report(rows: list[dict], not_run: list[dict]) -> dict:
    return {"rows": [{k: r[k] for k in _JSON_ROW_FIELDS} for r in rows], **summarize(rows, VALIDATE_GROUPS),
            "not_run": [{k: r[k] for k in _NOT_RUN_FIELDS} for r in not_run],
            "not_run_by_reason": not_run_summary(not_run)}


def _jobs_option(what: str):
    """``--jobs``: the processes a leave-one-source-out cross-validation runs its folds in."""
    return click.option("--jobs", "jobs", type=click.IntRange(min=1), default=None,
                        help=f"processes {what} runs the leave-one-source-out folds in (one fit per source group; the "
                             "result does not depend on it) [default: the processors this process may use]")


@cli.command("validate")
@click.option("--measurements", type=click.Path(exists=True, dir_okay=False),
              help="measurement CSV (default: the bundled tokensim/data/measurements.csv)")
@click.option("--calibration", type=click.Path(exists=True, dir_okay=False), help="calibration YAML to use")
@click.option("--cross-validate", "cross", is_flag=True,
              help="predict each source from a fit to the other sources (leave-one-source-out; refits as the "
                   "calibration was fitted: one fit per source group, 15-25 minutes on 2 cores for the bundled "
                   "data; benchmarks/BENCHMARKS.md; `calibrate --format json` reports the same held-out predictions "
                   "for the rows it fits)")
@_jobs_option("--cross-validate")
@click.option("--rows/--no-rows", "show_rows", default=False, show_default=True,
              help="also print the per-row table (about 1,500 lines) after the per-group summary (table format)")
@click.option("--subset", type=click.Choice(tuple(_SUBSETS)), default="all", show_default=True,
              help="rows to report: all, those calibrate fits, or those it does not (calibrate: no)")
@format_option()
def validate_command(measurements, calibration, cross, jobs, show_rows, subset, fmt):
    """Predict every published measurement with the code path of `tokensim perf`; report error and coverage, and
    every row that cannot be run with the reason."""
    data = [m for m in load_measurements(measurements) if _SUBSETS[subset](m)]
    if cross:
        info(f"cross-validating {len(data)} rows by source group (one fit per group of fitted rows)...")
        report = _report(*cross_validated_measurements(data, calibration, jobs or default_jobs()))
    else:
        result = validate(data, calibration)
        report = _report(result["rows"], result["not_run"])
    if report["not_run"]:
        info(f"{len(report['not_run'])} of {len(data)} rows not run: "
             + "; ".join(f"{n} {reason}" for reason, n in report["not_run_by_reason"].items()))
    if fmt == "json":
        emit(report, fmt)
    elif fmt in ("csv", "parquet"):
        emit(report["rows"], fmt)
    else:
        kind = "leave-one-source-out" if cross else "in-sample"
        # the summary first (issue 16: it came last, after every row); the rows only when asked for
        text = render_table(_percent(group_table_rows(report)), title=f"Error by group ({kind})",
                            columns=("group", "value", *_STAT_FIELDS))
        if report["not_run"]:
            reasons = [{"reason": reason, "rows": n} for reason, n in report["not_run_by_reason"].items()]
            text += render_table(reasons, title="Rows not run", columns=("reason", "rows"))
        if show_rows:
            text += render_table(_percent(report["rows"]), title=f"Predicted vs measured tokens/s per GPU ({kind})",
                                 columns=_ROW_FIELDS)
        emit(report, fmt, table=text)


def _attention_kinds(value: str) -> tuple[str, ...]:
    """--attention-kinds parsed: known kinds, each once, in the given order."""
    kinds = tuple(dict.fromkeys(k.strip() for k in value.split(",") if k.strip()))
    unknown = [k for k in kinds if k not in ATTENTION_KINDS]
    if unknown or not kinds:
        hint = did_you_mean(unknown[0], ATTENTION_KINDS) if unknown else ""
        raise click.BadParameter(f"{value!r}: allowed: a comma-separated list of {', '.join(ATTENTION_KINDS)}"
                                 + (f"; {hint}" if hint else ""), param_hint="'--attention-kinds'")
    return kinds


@cli.command("calibrate")
@click.option("--measurements", type=click.Path(exists=True, dir_okay=False),
              help="measurement CSV (default: the bundled tokensim/data/measurements.csv)")
@click.option("--calibration", type=click.Path(exists=True, dir_okay=False),
              help="calibration YAML whose unfitted factors are kept (default: the bundled one)")
@click.option("--out", type=click.Path(dir_okay=False),
              help="where to write the fitted calibration YAML [default: calibration.yaml in the current folder; "
                   "use it with --calibration FILE on perf, validate and the scenario commands]")
@click.option("--install", is_flag=True,
              help="replace the installed calibration (the bundled file every command uses) instead of --out")
@click.option("--date", help="fit date written into the file (default: today); fix it for reproducible output")
@click.option("--with-fixed-concurrency", "with_fixed", is_flag=True,
              help="also fit the rows marked calibrate: no that run at a stated client concurrency, aggregated or "
                   "decode-only, output tokens/s, speculation none or with an acceptance, deployment "
                   "runnable, the source's latest run (perf.calibration.fixed_concurrency_rows)")
@click.option("--source-offset-sd", "offset_sd", type=click.FloatRange(min=0.0, max=5.0),
              default=DEFAULT_SOURCE_OFFSET_SD, show_default=True,
              help="prior width (log scale) of each source group's offset on its predictions, fitted beside the "
                   "factors so that one organisation's setup does not pull the shared physics; 0 switches it off")
@click.option("--engine-sd", "engine_sd", type=click.FloatRange(min=0.0, max=5.0), default=DEFAULT_ENGINE_SD,
              show_default=True,
              help="prior width (log scale) of each serving engine's factor on the decode step's per-layer costs, "
                   "fitted beside the factors and applied to rows and predictions that name the engine; 0 switches "
                   "it off")
@click.option("--attention-sd", "attention_sd", type=click.FloatRange(min=0.0, max=5.0), default=DEFAULT_ATTENTION_SD,
              show_default=True,
              help="prior width (log scale) of each attention kind's factor (latent: MLA, DSA, DeepSeek-V4's "
                   "compressed attention) on the decode step's CUDA-graph per-layer cost, fitted beside the factors "
                   "and applied to every model of the kind; 0 switches it off (docs/model-notes.md rounds 13, 21, 23)")
@click.option("--attention-kinds", "attention_kinds", default=",".join(DEFAULT_ATTENTION_KINDS), show_default=True,
              callback=lambda ctx, param, value: _attention_kinds(value),
              help="the attention kinds --attention-sd fits, comma-separated (latent: latent attention on NVIDIA "
                   "hardware; latent-cdna: on AMD's CDNA hardware, a kind of its own since round 21); the others "
                   "keep the pooled per-layer cost")
@click.option("--engine-kernel-sd", "engine_kernel_sd", type=click.FloatRange(min=0.0, max=5.0),
              default=DEFAULT_ENGINE_KERNEL_SD, show_default=True,
              help="prior width (log scale) of each serving engine's factor on the decode step's HBM and tensor "
                   "efficiency (capped at the measured ceilings), fitted beside the factors and applied to rows and "
                   "predictions that name the engine; 0 switches it off (docs/model-notes.md rounds 18, 23)")
@click.option("--family-sd", "family_sd", type=click.FloatRange(min=0.0, max=5.0, min_open=True),
              default=PRIOR_LOG_SD, show_default=True,
              help="prior width (log scale) of each hardware family's factors around the pooled ones; smaller pools "
                   "the families more (docs/model-notes.md round 19)")
@_jobs_option("calibrate")
@format_option()
def calibrate_command(measurements, calibration, out, install, date, with_fixed, offset_sd, engine_sd, attention_sd,
                      attention_kinds, engine_kernel_sd, family_sd, jobs, fmt):
    """Fit the efficiency factors to the measurements, cross-validate by source and write a calibration YAML (a file
    of yours unless --install replaces the installed one)."""
    if install and out is not None:
        raise UserError("--install and --out: allowed: one of them (--install replaces the installed calibration)")
    # an empty --out is an error (refused here, before the fit), never "not given"
    target = config_dir() / "calibration.yaml" if install else Path(out if out is not None else "calibration.yaml")
    check_output_path(target if install else (out if out is not None else target), "out")
    every = load_measurements(measurements)
    data = calibration_rows(every)
    path = Path(measurements) if measurements else MEASUREMENTS_PATH
    # the sha256 of the fitted rows and columns: the file's own sha256 when it holds nothing else
    label = f"{path.name} sha256:{calibration_sha256(path)}"
    if with_fixed:
        extra = fixed_concurrency_rows(every)
        label += f" + {len(extra)} {FIXED_CONCURRENCY_LABEL}, sha256:{rows_sha256(extra)}"
        data = data + extra
    skipped = (f" ({len(every) - len(data)} marked calibrate: no are left out of it; their residuals join the "
               "intervals')" if len(every) > len(data) else "")
    info(f"fitting {len(data)} rows{skipped}, then one fit per source for cross-validation...")
    widths = PriorWidths(source_offset_sd=offset_sd, engine_sd=engine_sd, attention_sd=attention_sd,
                         engine_kernel_sd=engine_kernel_sd, family_sd=family_sd, attention_kinds=attention_kinds)
    fitted_ids = {m.id for m in data}
    rest = [m for m in every if m.id not in fitted_ids]  # predicted by the fit, for the intervals
    result = calibrate(data, label, calibration, date, widths, jobs or default_jobs(), rest)
    atomic_write_text(target, result.yaml_text)
    info(f"wrote {target}")
    report = summarize(result.loso)
    if fmt == "json":
        # the held-out rows too: with `validate --calibration FILE --subset unfitted` they are what
        # `validate --cross-validate` reports, without running the folds again (docs/outputs.md)
        emit({"path": str(target), "fit": result.fit_block, "factors": result.factors(),
              "cross_validation": {"rows": result.loso, **report}}, fmt)
    elif fmt in ("csv", "parquet"):
        emit(group_table_rows(report), fmt)
    else:
        factors = [{"family": fam, **{k: v for k, v in values.items()}} for fam, values in result.factors().items()]
        columns = ["family", *sorted({k for f in factors for k in f if k != "family"})]
        text = render_table(factors, title="Fitted factors", columns=columns)
        text += render_table(_percent(group_table_rows(report)), title="Leave-one-source-out error by group",
                             columns=("group", "value", *_STAT_FIELDS))
        emit(report, fmt, table=text)
