"""The measurement dataset and `tokensim validate`: columns, sources, row mapping, summaries and the CLI."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from tokensim import UserError
from tokensim.cli import cli
from tokensim.config.catalog import load_catalog
from tokensim.perf.validate import (
    MEASURED_METRICS,
    MEASUREMENTS_PATH,
    REQUIRED_COLUMNS,
    SERVING,
    load_measurements,
    predict_measurement,
    summarize,
)


def test_dataset_has_every_required_column():
    """The bundled CSV's header carries every column the issue names (source, hardware, GPUs, ... value)."""
    with MEASUREMENTS_PATH.open(newline="") as fh:
        header = next(csv.reader(fh))
    assert set(REQUIRED_COLUMNS) <= set(header)
    for column in ("source", "date", "hardware", "system_gpus", "tp", "ep", "model", "precision",
                   "kv_cache_precision", "serving", "input_tokens", "output_tokens", "context_tokens", "concurrency",
                   "slo", "metric", "value"):
        assert column in header


def test_every_row_has_a_source_and_known_names():
    """Each row names its source document and date, a confidence grade, and catalogue entries that exist."""
    cat = load_catalog()
    rows = load_measurements()
    assert len(rows) >= 500 and len({m.id for m in rows}) == len(rows)
    for m in rows:
        assert m.source.strip() and m.source_id.strip() and m.date[:2] == "20", m.id
        assert m.confidence in ("A", "B", "C"), m.id
        cat.get_hardware(m.hardware), cat.get_model(m.model), cat.get_recipe(m.precision)
        assert m.serving in SERVING and m.metric in MEASURED_METRICS
    assert len({m.source_id for m in rows}) >= 6


def test_mlperf_rows_carry_dataset_input_lengths():
    """MLPerf rows give the dataset's mean input and output lengths, with how they were obtained in the notes."""
    mlperf = [m for m in load_measurements() if m.source_id.startswith("mlperf")]
    assert mlperf
    for m in mlperf:
        assert m.input_tokens > 0 and m.output_tokens > 0
        assert "input_tokens" in m.notes


def test_total_metrics_are_divided_by_the_system_gpus():
    """A whole-group total is compared per GPU: TensorRT-LLM H100 TP2 6,378 tokens/s is 3,189 per GPU."""
    row = next(m for m in load_measurements() if m.id == "trtllm-v1.0-llama3.3-70b-h100-tp2-fp8-128-128")
    assert row.measured == pytest.approx(3189.0)
    result = predict_measurement(row)
    assert result["gpus"] == 2 and result["tp"] == 2
    assert result["low"] < result["predicted"] < result["high"]
    assert result["error"] == pytest.approx(result["predicted"] / 3189.0 - 1.0)


def test_summary_statistics():
    """Median and max absolute error and coverage are computed per group and overall."""
    rows = [{"error": e, "inside": i, "hardware_family": f, "model_family": "m", "precision": "p", "serving": "s"}
            for e, i, f in ((0.1, True, "a"), (-0.3, False, "a"), (0.05, True, "b"))]
    out = summarize(rows)
    assert out["summary"] == {"n": 3, "median_abs_error": pytest.approx(0.1), "max_abs_error": pytest.approx(0.3),
                              "interval_coverage": pytest.approx(2 / 3)}
    assert out["groups"]["hardware_family"]["a"]["median_abs_error"] == pytest.approx(0.2)


def test_cli_validate_json_has_rows_and_summary():
    """`tokensim validate --format json` gives rows (id, predicted, measured, error, low, high) and a summary."""
    res = CliRunner().invoke(cli, ["validate", "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert {"id", "predicted", "measured", "error", "low", "high"} <= set(data["rows"][0])
    assert {"n", "median_abs_error", "max_abs_error", "interval_coverage"} <= set(data["summary"])
    assert data["summary"]["n"] == len(load_measurements()) == len(data["rows"])
    assert set(data["groups"]) == {"hardware_family", "model_family", "precision", "serving"}


def test_cli_validate_table_shows_groups():
    """The human output ends with the per-group table (n, median and max error, coverage)."""
    res = CliRunner().invoke(cli, ["validate", "--no-rows"])
    assert res.exit_code == 0
    assert "interval_coverage" in res.stdout and "hardware_family" in res.stdout and "hopper" in res.stdout


def test_bad_dataset_is_a_user_error_naming_line_and_column(tmp_path):
    """A malformed row exits 2 naming the file, the line and the column; no traceback."""
    with MEASUREMENTS_PATH.open(newline="") as fh:
        reader = csv.DictReader(fh)
        row = next(reader)
        header = reader.fieldnames
    row["system_gpus"] = "two"
    path = tmp_path / "m.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, header)
        writer.writeheader()
        writer.writerow(row)
    with pytest.raises(UserError, match="line 2, column system_gpus"):
        load_measurements(path)
    res = CliRunner().invoke(cli, ["validate", "--measurements", str(path)])
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_missing_column_is_reported(tmp_path):
    """A dataset without a required column is refused with the missing column named."""
    text = MEASUREMENTS_PATH.read_text().splitlines()
    header = text[0].split(",")
    keep = [i for i, c in enumerate(header) if c != "metric"]
    path = tmp_path / "m.csv"
    path.write_text(",".join(header[i] for i in keep) + "\n")
    with pytest.raises(UserError, match="missing: metric"):
        load_measurements(path)
