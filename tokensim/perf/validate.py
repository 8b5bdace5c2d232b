"""Validation of the performance model against published measurements (``tokensim/data/measurements.csv``).

Each row of the dataset is one published throughput point: its source (document, date), the system measured, the
model and precision recipe, the serving mode and workload, the metric and its value. :func:`predict_measurement` maps
a row onto the same :func:`tokensim.perf.predict` call that ``tokensim perf`` makes and returns the prediction with
its interval; :func:`validate` does so for every row and :func:`summarize` reports, per group (hardware family, model
family, precision, serving mode), the median and largest absolute relative error and the share of measurements that
fall inside the prediction interval.

How rows map onto ``predict`` (documented in docs/model-notes.md):

* ``aggregated-offline`` — max throughput at infinite request rate (TensorRT-LLM perf-overview, MLPerf Offline):
  ``mode="aggregated"``, no SLO, the concurrency that maximises output tokens/s within memory.
* ``aggregated-static`` — a stated batch size (TensorRT-LLM ≤ v0.9 static batching): ``concurrency`` fixed.
* ``disaggregated-prefill`` — a prefill-only pool: ``mode="prefill"``, input tokens/s.
* ``first-token-latency`` — time to first token of one request alone (batch 1): ``mode="prefill"``, ``ttft_s``.
* ``decode`` — decode alone at ``context_tokens`` and the stated concurrency.
* Blank ``instance_gpus``/``tp``/``ep`` (MLPerf does not publish them) take tokensim's default deployment rule.
* ``*_total`` metrics cover ``system_gpus`` GPUs; per GPU = value / system_gpus.
"""

from __future__ import annotations

import csv
import hashlib
import math
from dataclasses import dataclass, fields
from pathlib import Path
from statistics import median

from .._errors import ConfigError, UserError
from ..config.catalog import load_catalog
from ._model import SLO, Workload, predict

__all__ = ["Measurement", "REQUIRED_COLUMNS", "SERVING", "MEASURED_METRICS", "GROUPS", "MEASUREMENTS_PATH",
           "load_measurements", "measurements_sha256", "predict_measurement", "validate", "summarize"]

MEASUREMENTS_PATH = Path(__file__).resolve().parent.parent / "data" / "measurements.csv"

# serving label in the dataset -> perf mode
SERVING = {"aggregated-offline": "aggregated", "aggregated-static": "aggregated", "aggregated-slo": "aggregated",
           "disaggregated-prefill": "prefill", "first-token-latency": "prefill", "decode": "decode"}
# metric -> (what is counted, whether the value covers system_gpus GPUs)
MEASURED_METRICS = {"output_tokens_per_s_total": ("output", True), "output_tokens_per_s_per_gpu": ("output", False),
           "input_tokens_per_s_total": ("input", True), "input_tokens_per_s_per_gpu": ("input", False),
           "ttft_s": ("ttft", False)}
# what predict reports for each kind of metric
PREDICTED_KEY = {"output": "output_tokens_per_s_per_gpu", "input": "input_tokens_per_s_per_gpu", "ttft": "ttft_s"}
GROUPS = ("hardware_family", "model_family", "precision", "serving")
_SLO_KEYS = ("min_tokens_per_s_per_user", "max_ttft_s", "max_tpot_s")


@dataclass(frozen=True)
class Measurement:
    """One published throughput point (one row of measurements.csv)."""

    id: str
    source_id: str  # the document (and version) the point comes from: the unit left out in cross-validation
    source: str  # document, version, date and what exactly was measured
    date: str
    confidence: str  # A: read off the source as is; B: one mapping assumption; C: an estimated workload
    hardware: str
    system_gpus: int  # GPUs the value covers when the metric is a total
    instance_gpus: int | None  # GPUs per serving instance (None: tokensim's default deployment)
    tp: int | None
    ep: int | None
    model: str
    precision: str
    kv_cache_precision: str | None
    serving: str
    input_tokens: float
    output_tokens: float
    context_tokens: float | None
    concurrency: int | None
    slo: str | None  # "min_tokens_per_s_per_user=50;max_ttft_s=2"
    metric: str
    value: float
    notes: str = ""

    @property
    def mode(self) -> str:
        return SERVING[self.serving]

    @property
    def kind(self) -> str:
        """What the value counts: "output" or "input" tokens per second, or "ttft" seconds."""
        return MEASURED_METRICS[self.metric][0]

    @property
    def measured(self) -> float:
        """The measured value as predict reports it: tokens/s per GPU (totals divided by system_gpus), or seconds."""
        return self.value / self.system_gpus if MEASURED_METRICS[self.metric][1] else self.value

    @property
    def slo_limits(self) -> SLO:
        if not self.slo:
            return SLO()
        return SLO(**{k: float(v) for k, v in (part.split("=") for part in self.slo.split(";"))})

    @property
    def workload(self) -> Workload:
        return Workload(self.input_tokens, self.output_tokens, self.context_tokens)

    def predict_kwargs(self) -> dict:
        """Keyword arguments of :func:`tokensim.perf.predict` (besides hardware, model, precision, workload)."""
        return dict(mode=self.mode, slo=self.slo_limits, concurrency=self.concurrency, gpus=self.instance_gpus,
                    tp=self.tp, ep=self.ep, kv_cache_precision=self.kv_cache_precision)


REQUIRED_COLUMNS = tuple(f.name for f in fields(Measurement))
_OPTIONAL = {"instance_gpus", "tp", "ep", "kv_cache_precision", "context_tokens", "concurrency", "slo", "notes"}
_INTEGER = {"system_gpus", "instance_gpus", "tp", "ep", "concurrency"}
_NUMBER = {"input_tokens", "output_tokens", "context_tokens", "value"}


def _cell(path: str, line: int, column: str, text: str):
    field = f"line {line}, column {column}"
    text = text.strip()
    if text == "":
        if column in _OPTIONAL:
            return None
        raise ConfigError(path, field, text, "a value (this column is required on every row)")
    if column in _INTEGER or column in _NUMBER:
        try:
            number = float(text)
        except ValueError:
            raise ConfigError(path, field, text, "a number") from None
        if not math.isfinite(number) or number <= 0:
            raise ConfigError(path, field, text, "a finite positive number")
        if column in _INTEGER:
            if number != int(number):
                raise ConfigError(path, field, text, "a whole number")
            return int(number)
        return number
    if column == "serving" and text not in SERVING:
        raise ConfigError(path, field, text, f"one of {', '.join(SERVING)}")
    if column == "metric" and text not in MEASURED_METRICS:
        raise ConfigError(path, field, text, f"one of {', '.join(MEASURED_METRICS)}")
    if column == "slo" and any(p.split("=")[0] not in _SLO_KEYS or p.count("=") != 1 for p in text.split(";")):
        raise ConfigError(path, field, text, f"key=value pairs separated by ';', keys {', '.join(_SLO_KEYS)}")
    return text


def load_measurements(path: str | Path | None = None) -> list[Measurement]:
    """Read and check the measurement dataset (default: the bundled ``tokensim/data/measurements.csv``)."""
    path = Path(path) if path else MEASUREMENTS_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ConfigError(str(path), "header", reader.fieldnames, f"the columns {', '.join(REQUIRED_COLUMNS)}",
                          f"missing: {', '.join(missing)}")
    rows, seen = [], set()
    for line, record in enumerate(reader, start=2):
        values = {c: _cell(str(path), line, c, record.get(c) or "") for c in REQUIRED_COLUMNS}
        if values["id"] in seen:
            raise ConfigError(str(path), f"line {line}, column id", values["id"], "an id not used twice")
        seen.add(values["id"])
        rows.append(Measurement(**{**values, "notes": values["notes"] or ""}))
    if not rows:
        raise ConfigError(str(path), "rows", 0, "at least one measurement")
    return rows


def measurements_sha256(path: str | Path | None = None) -> str:
    return hashlib.sha256(Path(path or MEASUREMENTS_PATH).read_bytes()).hexdigest()


def group_keys(m: Measurement) -> dict[str, str]:
    """The groups a row is reported under."""
    cat = load_catalog()
    return {"hardware_family": cat.get_hardware(m.hardware).family, "model_family": cat.get_model(m.model).family,
            "precision": m.precision, "serving": m.serving}


def predict_measurement(m: Measurement, calibration_path: str | None = None) -> dict:
    """Predict one row with the code path of ``tokensim perf``: predicted, measured, error, interval, groups.

    Parameters
    ----------
    m : Measurement
        One published measurement.
    calibration_path : str, optional
        A calibration YAML replacing the bundled efficiency factors.

    Returns
    -------
    dict
        :func:`row_result`'s record (predicted and measured in the row's unit: tokens/s per GPU or seconds; relative
        error; interval; groups) with the predicted point's concurrency, GPUs, TP, EP and bound.
    """
    try:
        res = predict(m.hardware, m.model, m.precision, m.workload, calibration_path=calibration_path,
                      **m.predict_kwargs())
    except UserError as exc:
        raise UserError(f"measurement '{m.id}': {exc}") from None
    key = PREDICTED_KEY[m.kind]
    value = getattr(res, key)
    if m.kind == "ttft":  # a time: the prefill interval width, as for input tokens per second
        width = res.input_tokens_per_s_per_gpu_high / res.input_tokens_per_s_per_gpu
        low, high = value / width, value * width
    else:
        low, high = getattr(res, f"{key}_low"), getattr(res, f"{key}_high")
    return row_result(m, value, low, high,
                      concurrency=res.concurrency, gpus=res.gpus, tp=res.tp, ep=res.ep, bound=res.bound)


def row_result(m: Measurement, predicted: float, low: float, high: float, **extra) -> dict:
    measured = m.measured
    return {"id": m.id, "source_id": m.source_id, **group_keys(m), "hardware": m.hardware, "model": m.model,
            "predicted": predicted, "measured": measured, "error": predicted / measured - 1.0, "low": low,
            "high": high, "inside": bool(low <= measured <= high), **extra}


def validate(measurements: list[Measurement] | None = None, calibration_path: str | None = None) -> dict:
    """Predict every row; return ``{"rows": [...], "summary": {...}, "groups": {...}}``."""
    measurements = measurements if measurements is not None else load_measurements()
    rows = [predict_measurement(m, calibration_path) for m in measurements]
    return {"rows": rows, **summarize(rows)}


def _stats(rows: list[dict]) -> dict:
    errors = [abs(r["error"]) for r in rows]
    return {"n": len(rows), "median_abs_error": median(errors), "max_abs_error": max(errors),
            "interval_coverage": sum(r["inside"] for r in rows) / len(rows)}


def summarize(rows: list[dict], groups: tuple[str, ...] = GROUPS) -> dict:
    """Overall and per-group error statistics of predicted rows (each with ``error`` and ``inside``)."""
    per_group = {}
    for g in groups:
        keys = sorted({r[g] for r in rows})
        per_group[g] = {k: _stats([r for r in rows if r[g] == k]) for k in keys}
    return {"summary": _stats(rows), "groups": per_group}
