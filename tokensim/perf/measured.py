"""The user's measured throughput in place of the model's (issue 16: "their own throughput").

One home for "the operating point of (hardware, model, precision, workload) given the user's measurements":
:func:`apply_measured` takes the model's :class:`~tokensim.perf.Prediction` and a measured output tokens/s per GPU and
returns the point the money uses. Conventions:

- **Both GPU times scale together.** GPU-seconds per input token (prefill) and per output token (decode) are both
  multiplied by predicted / measured output tokens/s per GPU, so the model's split of GPU time between prefill and
  decode is kept and the request's total GPU time falls in proportion to the measured throughput. Cost per million
  tokens is proportional to GPU-seconds per token, so it scales by predicted / measured: half the model's throughput
  doubles every token cost.
- **The interval collapses** to the measured figure (low = high = measured, input throughput likewise): a
  measurement is a point, and the model's uncertainty no longer applies to it.
- ``tokens_per_s_per_user`` is replaced when the measurement gives one (it is reported, it does not enter the cost).

:func:`load_throughput_overrides` reads the CSV of ``--throughput-override``; :func:`find_override` picks the row of a
(hardware, model, precision): rows match those three exactly (catalogue names or aliases), and among them the row
whose workload is nearest the one asked for (the smallest |ln(input ratio)| + |ln(output ratio)|, input tokens + 1 so
that 0 is allowed); the measured figure is used as it is, and the row's workload is reported beside it.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .._errors import ConfigError, ConfigErrors, UserError
from ..config.catalog import load_catalog
from ._model import Prediction

__all__ = ["ThroughputOverride", "CSV_COLUMNS", "apply_measured", "find_override", "load_throughput_overrides",
           "source_fields", "with_measurements"]

# Columns of the --throughput-override CSV; tokens_per_s_per_user may be left out (or left empty).
CSV_COLUMNS = ("hardware", "model", "precision", "input_tokens", "output_tokens", "output_tokens_per_s_per_gpu",
               "tokens_per_s_per_user", "source")
_REQUIRED = tuple(c for c in CSV_COLUMNS if c != "tokens_per_s_per_user")


@dataclass(frozen=True)
class ThroughputOverride:
    """A measured operating point: output tokens/s per GPU (and optionally tokens/s per user) of (hardware, model,
    precision) at a workload (tokens per request), and where the figure comes from."""

    hardware: str
    model: str
    precision: str
    output_tokens_per_s_per_gpu: float
    source: str
    input_tokens: float | None = None  # None: any workload (the scenario field)
    output_tokens: float | None = None
    tokens_per_s_per_user: float | None = None

    def distance(self, input_tokens: float, output_tokens: float) -> float:
        """How far this row's workload is from the one asked for (0 when equal or when the row has none)."""
        if self.input_tokens is None or self.output_tokens is None:
            return 0.0
        return (abs(math.log((self.input_tokens + 1.0) / (input_tokens + 1.0)))
                + abs(math.log(self.output_tokens / output_tokens)))


def apply_measured(point: Prediction, measured: ThroughputOverride) -> Prediction:
    """The operating point with the measured output tokens/s per GPU in place of the model's.

    Parameters
    ----------
    point : Prediction
        The model's operating point.
    measured : ThroughputOverride
        The measurement (its ``output_tokens_per_s_per_gpu`` > 0).

    Returns
    -------
    Prediction
        ``point`` with GPU-seconds per input and per output token multiplied by predicted / measured, input and output
        throughput per GPU multiplied by measured / predicted, both intervals collapsed to the scaled figures, and
        ``tokens_per_s_per_user`` replaced when the measurement gives one.
    """
    m = float(measured.output_tokens_per_s_per_gpu)
    if not m > 0:
        raise UserError(f"measured output tokens/s per GPU must be > 0; got {m!r}")
    ratio = point.output_tokens_per_s_per_gpu / m  # GPU time now / GPU time predicted
    input_tps = point.input_tokens_per_s_per_gpu / ratio
    return replace(point, output_tokens_per_s_per_gpu=m, output_tokens_per_s_per_gpu_low=m,
                   output_tokens_per_s_per_gpu_high=m, input_tokens_per_s_per_gpu=input_tps,
                   input_tokens_per_s_per_gpu_low=input_tps, input_tokens_per_s_per_gpu_high=input_tps,
                   gpu_s_per_input_token=point.gpu_s_per_input_token * ratio,
                   gpu_s_per_output_token=point.gpu_s_per_output_token * ratio,
                   tokens_per_s_per_user=(point.tokens_per_s_per_user if measured.tokens_per_s_per_user is None
                                          else float(measured.tokens_per_s_per_user)))


def find_override(overrides: Sequence[ThroughputOverride], hardware: str, model: str, precision: str,
                  input_tokens: float, output_tokens: float) -> ThroughputOverride | None:
    """The measurement for (hardware, model, precision) nearest the workload, or None (see the module note).

    Names are compared as catalogue names (``overrides`` hold canonical names, as :func:`load_throughput_overrides`
    writes them); ties go to the first row.
    """
    rows = [o for o in overrides if (o.hardware, o.model, o.precision) == (hardware, model, precision)]
    if not rows:
        return None
    return min(rows, key=lambda o: o.distance(input_tokens, output_tokens))


def _number(text: str, *, low: float, low_open: bool, high: float | None = None) -> float | None:
    try:
        x = float(text)
    except ValueError:
        return None
    if not math.isfinite(x) or x < low or (low_open and x == low) or (high is not None and x > high):
        return None
    return x


def load_throughput_overrides(path: str | Path) -> tuple[ThroughputOverride, ...]:
    """Read a ``--throughput-override`` CSV (columns :data:`CSV_COLUMNS`; ``tokens_per_s_per_user`` optional).

    Every error is collected and raised together (:class:`~tokensim._errors.ConfigErrors`), each naming the file, the
    row (the header is row 1) and the column.
    """
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(file, None, ConfigError.MISSING, "a readable UTF-8 CSV file",  # type: ignore[attr-defined]
                          type(exc).__name__) from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in _REQUIRED if c not in header]
    unknown = [c for c in header if c not in CSV_COLUMNS]
    errors: list[ConfigError] = []
    if missing:
        errors.append(ConfigError(file, "row 1 (header)", ",".join(header),
                                  f"columns {', '.join(CSV_COLUMNS)} (tokens_per_s_per_user optional); missing: "
                                  f"{', '.join(missing)}"))
    if unknown:
        errors.append(ConfigError(file, "row 1 (header)", ",".join(unknown),
                                  f"columns {', '.join(CSV_COLUMNS)}; unknown: {', '.join(unknown)}"))
    if errors:
        raise ConfigErrors(errors)
    catalog = load_catalog()
    getters: dict[str, Callable[[str], Any]] = {"hardware": catalog.get_hardware, "model": catalog.get_model,
                                                "precision": catalog.get_recipe}
    numbers = {"input_tokens": dict(low=0.0, low_open=False, high=1e7),
               "output_tokens": dict(low=0.0, low_open=True, high=1e7),
               "output_tokens_per_s_per_gpu": dict(low=0.0, low_open=True),
               "tokens_per_s_per_user": dict(low=0.0, low_open=True)}
    allowed = {"input_tokens": "a number in [0, 1e7] (tokens per request)",
               "output_tokens": "a number in (0, 1e7] (tokens per request)",
               "output_tokens_per_s_per_gpu": "a number > 0 (tokens/s per GPU)",
               "tokens_per_s_per_user": "a number > 0 (tokens/s), or empty"}
    out = []
    rows = 0
    for i, raw in enumerate(reader, start=2):
        rows += 1
        row = {(k or "").strip(): (v or "").strip() if isinstance(v, str) else "" for k, v in raw.items()}
        before = len(errors)
        names = {}
        for col, get in getters.items():
            try:
                names[col] = get(row.get(col, "")).name
            except UserError as exc:
                errors.append(ConfigError(file, f"row {i} column {col}", row.get(col, ""),
                                          getattr(exc, "allowed", f"a {col} name from the catalogue")))
        values: dict[str, float | None] = {}
        for col, bounds in numbers.items():
            text_value = row.get(col, "")
            if col == "tokens_per_s_per_user" and text_value == "":
                values[col] = None
                continue
            values[col] = _number(text_value, **bounds)  # type: ignore[arg-type]
            if values[col] is None:
                errors.append(ConfigError(file, f"row {i} column {col}", text_value, allowed[col]))
        if not row.get("source"):
            errors.append(ConfigError(file, f"row {i} column source", row.get("source", ""),
                                      "where the figure comes from (a benchmark run, a document and date)"))
        if len(errors) == before:
            out.append(ThroughputOverride(
                names["hardware"], names["model"], names["precision"],
                float(values["output_tokens_per_s_per_gpu"]),  # type: ignore[arg-type]
                row["source"], values["input_tokens"], values["output_tokens"], values["tokens_per_s_per_user"]))
    if not rows:
        errors.append(ConfigError(file, "row 2", ConfigError.MISSING,  # type: ignore[attr-defined]
                                  "at least one measured row under the header"))
    if errors:
        raise ConfigErrors(errors) if len(errors) > 1 else errors[0]
    return tuple(out)


def with_measurements(point: Prediction, overrides: Sequence[ThroughputOverride]
                      ) -> tuple[Prediction, ThroughputOverride | None]:
    """The operating point the money uses: the model's ``point``, or :func:`apply_measured` of the measurement
    :func:`find_override` picks for its (hardware, model, precision, workload); with that measurement (None if none).
    """
    found = find_override(overrides, point.hardware, point.model, point.precision, point.input_tokens,
                          point.output_tokens)
    return (point, None) if found is None else (apply_measured(point, found), found)


def source_fields(found: ThroughputOverride | None) -> dict[str, str | None]:
    """The output fields that say where a throughput comes from: ``throughput_source`` (``model`` or ``measured``)
    and ``throughput_reference``: the measurement's source, with its workload when it has one (None: the model's)."""
    if found is None:
        return {"throughput_source": "model", "throughput_reference": None}
    at = ("" if found.input_tokens is None or found.output_tokens is None
          else f" (measured at {found.input_tokens:g} input / {found.output_tokens:g} output tokens per request)")
    return {"throughput_source": "measured", "throughput_reference": found.source + at}
