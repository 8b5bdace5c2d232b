"""``tokensim validate`` and ``tokensim calibrate``: the performance model against published measurements."""

from __future__ import annotations

from pathlib import Path

import click

from .._output import atomic_write_text, render_table
from ..config import config_dir
from ..perf.calibration import calibrate, cross_validated_rows
from ..perf.validate import GROUPS, MEASUREMENTS_PATH, load_measurements, measurements_sha256, summarize, validate
from ._common import cli, emit, format_option, info

_ROW_FIELDS = ("id", "hardware", "model", "precision", "serving", "predicted", "measured", "error", "low", "high",
               "inside")
_JSON_ROW_FIELDS = ("id", "source_id", "hardware_family", "model_family", "precision", "serving", "hardware",
                    "model", "predicted", "measured", "error", "low", "high", "inside")
_STAT_FIELDS = ("n", "median_abs_error", "max_abs_error", "interval_coverage")


def group_table_rows(report: dict) -> list[dict]:
    """One row per (group, value) plus the overall line, in the order the README table shows them."""
    rows = [{"group": "all", "value": "all", **report["summary"]}]
    for group in GROUPS:
        for value, stats in report["groups"][group].items():
            rows.append({"group": group, "value": value, **stats})
    return rows


def _percent(rows: list[dict]) -> list[dict]:
    out = []
    for r in rows:
        r = dict(r)
        for key in ("median_abs_error", "max_abs_error", "interval_coverage", "error"):
            if key in r:
                r[key] = f"{100 * r[key]:+.1f}%" if key == "error" else f"{100 * r[key]:.1f}%"
        out.append(r)
    return out


def _report(rows: list[dict]) -> dict:
    return {"rows": [{k: r[k] for k in _JSON_ROW_FIELDS} for r in rows], **summarize(rows)}


@cli.command("validate")
@click.option("--measurements", type=click.Path(exists=True, dir_okay=False),
              help="measurement CSV (default: the bundled tokensim/data/measurements.csv)")
@click.option("--calibration", type=click.Path(exists=True, dir_okay=False), help="calibration YAML to use")
@click.option("--cross-validate", "cross", is_flag=True,
              help="predict each source from a fit to the other sources (leave-one-source-out; refits, ~1 minute)")
@click.option("--rows/--no-rows", "show_rows", default=True, show_default=True,
              help="print the per-row table before the per-group table (table format)")
@format_option()
def validate_command(measurements, calibration, cross, show_rows, fmt):
    """Predict every published measurement with the code path of `tokensim perf`; report error and coverage."""
    data = load_measurements(measurements)
    if cross:
        info(f"cross-validating {len(data)} rows by source (one fit per source)...")
        report = _report(cross_validated_rows(data, calibration))
    else:
        report = _report(validate(data, calibration)["rows"])
    if fmt == "json":
        emit(report, fmt)
    elif fmt in ("csv", "parquet"):
        emit(report["rows"], fmt)
    else:
        kind = "leave-one-source-out" if cross else "in-sample"
        text = ""
        if show_rows:
            text += render_table(_percent(report["rows"]), title=f"Predicted vs measured tokens/s per GPU ({kind})",
                                 columns=_ROW_FIELDS)
        text += render_table(_percent(group_table_rows(report)), title=f"Error by group ({kind})",
                             columns=("group", "value", *_STAT_FIELDS))
        emit(report, fmt, table=text)


@cli.command("calibrate")
@click.option("--measurements", type=click.Path(exists=True, dir_okay=False),
              help="measurement CSV (default: the bundled tokensim/data/measurements.csv)")
@click.option("--calibration", type=click.Path(exists=True, dir_okay=False),
              help="calibration YAML whose unfitted factors are kept (default: the bundled one)")
@click.option("--out", type=click.Path(dir_okay=False),
              help="where to write the fitted calibration YAML (default: --calibration, else the bundled file)")
@click.option("--date", help="fit date written into the file (default: today); fix it for reproducible output")
@format_option()
def calibrate_command(measurements, calibration, out, date, fmt):
    """Fit the efficiency factors to the measurements, cross-validate by source and write calibration.yaml."""
    data = load_measurements(measurements)
    path = Path(measurements) if measurements else MEASUREMENTS_PATH
    label = f"{path.name} sha256:{measurements_sha256(path)}"
    info(f"fitting {len(data)} rows, then one fit per source for cross-validation...")
    result = calibrate(data, label, calibration, date)
    target = Path(out or calibration or config_dir() / "calibration.yaml")
    atomic_write_text(target, result.yaml_text)
    info(f"wrote {target}")
    report = summarize(result.loso)
    if fmt == "json":
        emit({"path": str(target), "fit": result.fit_block, "factors": result.factors(),
              "cross_validation": report}, fmt)
    elif fmt in ("csv", "parquet"):
        emit(group_table_rows(report), fmt)
    else:
        factors = [{"family": fam, **{k: v for k, v in values.items()}} for fam, values in result.factors().items()]
        columns = ["family", *sorted({k for f in factors for k in f if k != "family"})]
        text = render_table(factors, title="Fitted factors", columns=columns)
        text += render_table(_percent(group_table_rows(report)), title="Leave-one-source-out error by group",
                             columns=("group", "value", *_STAT_FIELDS))
        emit(report, fmt, table=text)
