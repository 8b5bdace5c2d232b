"""Validation of the performance model against published measurements (``tokensim/data/measurements.csv``).

Each row of the dataset is one published throughput point: its source (document, date), the system measured, the
model and precision recipe, the serving mode and workload, the metric and its value, and (issue 11) the per-user
speed, engine, prefill/decode pools, attention-DP degree, speculative decoding and every assumption made.
:func:`plan_measurement` maps a row onto the :func:`tokensim.perf.predict` call that ``tokensim perf`` makes, or says
why it cannot (:class:`NotRunnable`: counted and reported, never dropped); :func:`validate` predicts every row and
:func:`summarize` reports, per group (hardware family, model family, precision, serving mode, per-user speed band
measured and predicted, engine, speculative decoding, fitted or not, latest or superseded run), the median and
largest absolute relative error and the share of measurements inside the prediction interval.

How rows map onto ``predict`` (documented in docs/model-notes.md):

* ``aggregated-offline`` — max throughput at infinite request rate (TensorRT-LLM perf-overview, MLPerf Offline):
  ``mode="aggregated"``, no SLO, the concurrency that maximises output tokens/s within memory.
* ``aggregated-static`` — a stated batch size (TensorRT-LLM ≤ v0.9 static batching): ``concurrency`` fixed.
* ``aggregated-online`` — fixed client concurrency over ``system_gpus / instance_gpus`` instances: ``concurrency``
  fixed at the client concurrency per instance (rounded).
* ``server-slo``, ``interactive-slo`` (MLPerf) — the SLO (p99 TTFT and TPOT bounds read as limits on the modelled
  TTFT and TPOT): ``mode="aggregated"`` with ``max_ttft_s``/``max_tpot_s``.
* ``disaggregated-online`` — ``mode="disaggregated"`` when the prefill and decode pools have the same instance layout
  (the only xPyD deployment ``predict`` takes; otherwise not run); concurrency per decode instance. The InferenceMAX
  metric ``output_tokens_per_s_per_decode_gpu`` is compared with the predicted decode-pool rate (output tokens/s per
  GPU over the decode share of GPUs).
* ``disaggregated-decode`` and ``decode`` — decode alone (``mode="decode"``) at the stated concurrency per instance;
  an attention-FFN disaggregated decode pool (``2xA8+2xF8``, :mod:`tokensim.perf._afd`) as one deployment serving the
  whole client concurrency. Request lengths may be blank where the mean context is stated (they do not enter).
* ``disaggregated-prefill`` — a prefill-only pool: ``mode="prefill"``, input tokens/s.
* ``first-token-latency`` — time to first token of one request alone (batch 1): ``mode="prefill"``, ``ttft_s``.
* ``production-fleet`` — a live-traffic average over a disaggregated fleet (DeepSeek's Day-6 day of traffic):
  ``mode="disaggregated"`` with the published pool kinds, their counts rate-matched (``?x``), at the stated per-user
  speed, prefix-cache hit rate and the day's input:output ratio; output tokens/s per GPU of both pools at full load.
  The source supports that reading: its own 24-h averages per prefill node (73.7k input tokens/s) and per decode node
  (14.8k output tokens/s), rate-matched in the day's ratio of 608B input to 168B output tokens, give
  1 / (608/168 / 9,212.5 + 1 / 1,850) = 1,071 output tokens/s per GPU; its totals over the day's average 226.75
  nodes give 1,072 (tests/test_validate.py checks the rows agree).
* A row with a per-user speed but neither concurrency nor SLO is predicted at the SLO floor
  ``min_tokens_per_s_per_user`` = that speed.
* Speculative decoding: ``mtp_draft_tokens`` with a numeric ``mtp_acceptance_length`` (a range: its midpoint) enter
  the workload (group ``speculative``: ``modelled``); ``mtp_draft_tokens`` without an acceptance take the model
  catalogue's sourced default for that draft length (``speculative.acceptance_length`` in ``configs/models/``; group
  ``default acceptance``); MTP named without a draft length, or a draft length the catalogue has no default for, runs
  without speculation (``not modelled``), and so does a row whose ``mtp_acceptance_length`` says ``unknown``: the
  acceptance was neither published nor forced and the catalogue's default does not apply (its figures come from real
  prompts; random-token prompts change acceptance, InferenceX ``golden_al_distribution/README.md``).
* Blank ``instance_gpus``/``tp``/``ep`` (MLPerf does not publish them) take tokensim's default deployment rule.
* ``*_total`` metrics cover ``system_gpus`` GPUs; per GPU = value / system_gpus. ``tokens_per_s_per_gpu`` counts input
  and output tokens: predicted input + output tokens/s per GPU.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path
from statistics import median
from typing import Any

from .._errors import ConfigError, UserError
from ..config.catalog import load_catalog
from ._afd import is_afd
from ._model import POOL_KINDS, SLO, Workload, layout, predict
from .efficiency import engine_of
from .envelope import BANDS, MEASUREMENTS_PATH, speed_band

__all__ = ["Measurement", "NotRunnable", "REQUIRED_COLUMNS", "EXTRA_COLUMNS", "SERVING",
           "MEASURED_METRICS", "GROUPS", "VALIDATE_GROUPS", "BANDS", "SOURCE_GROUPS", "REASONS", "MEASUREMENTS_PATH",
           "load_measurements", "calibration_rows", "measurements_sha256", "calibration_sha256", "plan_measurement",
           "predict_measurement", "predicted_band", "validate", "summarize", "not_run_summary", "RATE_MATCHED",
           "superseded_ids"]

# serving label in the dataset -> perf mode
SERVING = {"aggregated-offline": "aggregated", "aggregated-static": "aggregated", "aggregated-slo": "aggregated",
           "aggregated-online": "aggregated", "server-slo": "aggregated", "interactive-slo": "aggregated",
           "disaggregated-online": "disaggregated", "production-fleet": "disaggregated",
           "disaggregated-prefill": "prefill", "first-token-latency": "prefill", "decode": "decode",
           "disaggregated-decode": "decode"}
# metric -> (what is counted, whether the value covers system_gpus GPUs)
MEASURED_METRICS = {"output_tokens_per_s_total": ("output", True), "output_tokens_per_s_per_gpu": ("output", False),
                    "output_tokens_per_s_per_decode_gpu": ("decode-output", False),
                    "tokens_per_s_per_gpu": ("total", False),
                    "input_tokens_per_s_total": ("input", True), "input_tokens_per_s_per_gpu": ("input", False),
                    "ttft_s": ("ttft", False)}
# what predict reports for each kind of metric
PREDICTED_KEY = {"output": "output_tokens_per_s_per_gpu", "input": "input_tokens_per_s_per_gpu", "ttft": "ttft_s"}
# The groups `tokensim calibrate` reports (its output is kept as it was before issue 11).
GROUPS = ("hardware_family", "model_family", "precision", "serving")
# The groups `tokensim validate` reports.
# "predicted_band" is the band of the predicted per-user speed, on the rows that state a speed (:func:`predicted_band`):
# the measured band collects the deployments the model over-predicts (docs/model-notes.md, round 18).
VALIDATE_GROUPS = (*GROUPS, "band", "predicted_band", "engine", "speculative", "fitted", "run")
# groups whose values are speed bands: reported slowest first (envelope.BANDS order), not alphabetically
_BAND_GROUPS = ("band", "predicted_band")
# Sources that one organisation published as several documents: leave-one-source-out holds them out together
# (docs/measurements.md, "Sources": the three SemiAnalysis source_ids, the LMSYS blog posts and the SGLang cookbook
# (the same project), AMD's documents (its two ATOM documents, its ROCm blogs and its ROCm performance-results page;
# since 2026-12-06 one group, where the ATOM pair and the GLM-5.2 blog were two); the MLPerf v6.0 latency rows are the
# same round as the v6.0 Offline rows; GPUStack's two performance-lab pages; Verda's B300 baselines, which are
# InferenceX runs republished (2026-12-07); the SGLang cookbook's GLM-5.2 benchmark file, and the vLLM project's
# recipes and perf-eval pull requests with its blog (round 33)). Sources not listed are their own group.
SOURCE_GROUPS = {"inferencemax-2026": "semianalysis", "inferencemax-gha-gptoss": "semianalysis",
                 "inferencex-blog": "semianalysis",
                 "lmsys-sglang-2025-05": "lmsys", "lmsys-sglang-gb300-longctx": "lmsys", "lmsys-sglang-gb200": "lmsys",
                 "lmsys-sglang-mtp": "lmsys", "lmsys-sglang-kimi-k2": "lmsys", "lmsys-sglang-gptoss": "lmsys",
                 "sglang-cookbook": "lmsys", "amd-atom-oot-ci": "amd", "amd-atom-recipes": "amd",
                 "amd-rocm-blog-glm52": "amd", "amd-rocm-perf-results": "amd",
                 "amd-rocm-blog-mi300x-bestpractice-2025": "amd", "amd-rocm-blog-vllm-optimize-2024": "amd",
                 "mlperf-v6.0-latency": "mlperf-v6.0", "sglang-cookbook-dsv4": "lmsys",
                 "vllm-blog-rocm-attn-2026": "amd", "amd-rocm-blog-wideep-mi300x-2025": "amd",
                 "amd-rocm-blog-di-glm51-mi300x-2026": "amd", "amd-rocm-blog-kimi-k25-mi300x-2026": "amd",
                 "amd-rocm-blog-kimi-k25-w4a8-mi325x-2026": "amd", "amd-rocm-blog-kimi-k25-eagle3-mi325x-2026": "amd",
                 "amd-rocm-blog-kimi-k25-mxfp4-atom-mi355x-2026": "amd", "amd-atom-ci-dsr1-fp4-mtp-2026-05": "amd",
                 "gpustack-perf-lab": "gpustack", "gpustack-perf-lab-sglang": "gpustack",
                 "verda-cc-b300-2026": "semianalysis", "sglang-cookbook-glm52": "lmsys",
                 "vllm-recipes-glm5": "vllm-blog", "vllm-perf-eval": "vllm-blog"}
# Why a row is not run (NotRunnable.reason), in the order reports list them.
NO_HARDWARE = "hardware not in the catalogue"
NO_MODEL = "model not in the catalogue"
NO_PRECISION = "precision not in the catalogue"
METRIC_NOT_MAPPED = "metric not mapped for the serving mode"
POOL_NOT_PUBLISHED = "pool layout not published as <n>x<kind><gpus>"
PREDICT_REFUSED = "predict refused the deployment"
WORKLOAD_NOT_PUBLISHED = "workload or GPU count not published"
REASONS = (NO_HARDWARE, NO_MODEL, NO_PRECISION, METRIC_NOT_MAPPED, POOL_NOT_PUBLISHED, PREDICT_REFUSED,
           WORKLOAD_NOT_PUBLISHED)
_SLO_KEYS = ("min_tokens_per_s_per_user", "max_ttft_s", "max_tpot_s")
# "p99 TTFT <= 3 s", "TPOT < 70 ms": the SLO text of MLPerf and engine posts
_SLO_TEXT = re.compile(r"^(?:p\d+\s+)?(TTFT|TPOT)\s*(<=|<)\s*([0-9.]+)\s*(ms|s)$", re.IGNORECASE)
# a published pool, strictly "<n>x<kind><gpus>" (the kinds perf.parse_pool takes)
_POOL = re.compile(rf"^(\d+|\?)x({'|'.join(POOL_KINDS)})(\d+)$")
_MTP_NAMED = re.compile(r"spec_method=mtp|EAGLE-based MTP|MTP draft length not stated")
# a row whose engine held part of the weights in host memory (vLLM's prefetching offloader on GB200)
_OFFLOAD_NAMED = re.compile(r"weights? (?:partly )?offloaded|weight offloading", re.IGNORECASE)


def parse_slo(text: str | None) -> SLO:
    """An SLO from the ``slo`` column: ``key=value`` pairs (``max_ttft_s=2;max_tpot_s=0.05``) or the published text
    (``p99 TTFT <= 2 s; p99 TPOT <= 80 ms``; percentile bounds read as bounds on the modelled value).

    Parameters
    ----------
    text : str or None
        The column's text; blank or None for no SLO.

    Returns
    -------
    SLO
        Lowest tokens/s per user, longest TTFT and TPOT (s).

    Raises
    ------
    ValueError
        If a part is neither form.
    """
    if not text or not text.strip():
        return SLO()
    limits: dict[str, float] = {}
    for part in (p.strip() for p in text.split(";")):
        if part.count("=") == 1 and "<" not in part and part.split("=")[0].strip() in _SLO_KEYS:
            key, value = part.split("=")
            limits[key.strip()] = float(value)
            continue
        match = _SLO_TEXT.match(part)
        if not match:
            raise ValueError(part)
        seconds = float(match[3]) / (1000.0 if match[4].lower() == "ms" else 1.0)
        limits["max_ttft_s" if match[1].upper() == "TTFT" else "max_tpot_s"] = seconds
    return SLO(**limits)


@dataclass(frozen=True)
class Measurement:
    """One published throughput point (one row of measurements.csv)."""

    id: str
    source_id: str  # the document (and version) the point comes from
    source: str  # document, version, date and what exactly was measured
    date: str
    confidence: str  # A: read off the source as is; B: one mapping assumption; C: an estimated workload
    hardware: str
    system_gpus: int  # GPUs the value covers when the metric is a total (0: not published; calibrate: no rows only)
    instance_gpus: int | None  # GPUs per serving instance (None: tokensim's default deployment)
    tp: int | None
    ep: int | None
    model: str
    precision: str
    kv_cache_precision: str | None
    serving: str
    input_tokens: float  # per request; NaN: not published (calibrate: no rows only)
    output_tokens: float
    context_tokens: float | None
    concurrency: int | None  # client concurrency of the whole deployment
    slo: str | None  # "min_tokens_per_s_per_user=50;max_ttft_s=2" or "p99 TTFT <= 2 s; p99 TPOT <= 80 ms"
    metric: str
    value: float
    notes: str = ""
    # issue 11 columns (optional in a file; docs/measurements.md defines them)
    tokens_per_s_per_user: float | None = None  # per-user decode speed as published (tokens/s)
    engine: str = ""
    engine_version: str = ""
    prefill_pool: str = ""  # "<instances>x<TP|TEP|DEP><GPUs>"; blank for aggregated serving
    decode_pool: str = ""
    attention_dp: int | None = None
    mtp_draft_tokens: int | None = None
    mtp_acceptance_length: str = ""  # as published; a range "5.76-5.91" kept as text; "unknown ...": no default applies
    assumptions: str = ""
    calibrate: bool = True  # `tokensim calibrate` fits this row ("no" in the file: validated only)
    # share of input tokens served from the prefix cache, as published (None: none stated, predicted as 0)
    cache_hit_rate: float | None = None
    # the engine's chunked-prefill size as published (0: unchunked; None: not stated, the calibration's is used)
    prefill_chunk_tokens: int | None = None
    # expert-parallel load balancing (EPLB with redundant experts) as published: True where the source says it ran,
    # False where it says it did not; None: not stated, the engines' default (off)
    expert_load_balancing: bool | None = None
    # the same source measured the same deployment again later (load_measurements, superseded_ids)
    superseded: bool = False

    @property
    def mode(self) -> str:
        return SERVING[self.serving]

    @property
    def kind(self) -> str:
        """What the value counts: "output", "input" or "total" (input + output) tokens per second, "decode-output"
        (output tokens/s per decode GPU), or "ttft" seconds."""
        return MEASURED_METRICS[self.metric][0]

    @property
    def measured(self) -> float:
        """The measured value as predict reports it: tokens/s per GPU (totals divided by system_gpus), or seconds."""
        return self.value / self.system_gpus if MEASURED_METRICS[self.metric][1] else self.value

    @property
    def slo_limits(self) -> SLO:
        return parse_slo(self.slo)

    @property
    def band(self) -> str:
        """Per-user speed band of the row (:func:`tokensim.perf.envelope.speed_band`; ``none``: no stated speed)."""
        return speed_band(self.tokens_per_s_per_user)

    @property
    def source_group(self) -> str:
        """The unit left out together in cross-validation (:data:`SOURCE_GROUPS`, else the source_id)."""
        return SOURCE_GROUPS.get(self.source_id, self.source_id)

    @property
    def speculative(self) -> str:
        """``none``; ``modelled`` (draft tokens and acceptance published); ``default acceptance`` (draft tokens
        published, acceptance the model's catalogue default); ``not modelled`` (MTP without either, or with an
        acceptance the row marks ``unknown``: the catalogue default does not apply to its prompts)."""
        if self.mtp_draft_tokens is not None and _acceptance(self.mtp_acceptance_length) is not None:
            return "modelled"
        unknown = self.mtp_acceptance_length.strip().lower().startswith(_ACCEPTANCE_UNKNOWN)
        if self.mtp_draft_tokens and not unknown and _default_acceptance(self.model, self.mtp_draft_tokens) is not None:
            return "default acceptance"
        if self.mtp_draft_tokens is not None or _MTP_NAMED.search(self.assumptions):
            return "not modelled"
        return "none"

    @property
    def workload(self) -> Workload:
        speculative = self.speculative
        draft = self.mtp_draft_tokens
        if draft and speculative in ("modelled", "default acceptance"):
            acceptance = (_acceptance(self.mtp_acceptance_length) if speculative == "modelled"
                          else _default_acceptance(self.model, draft))
            assert acceptance is not None  # both labels above say it is there
            return Workload(self.input_tokens, self.output_tokens, self.context_tokens,
                            cache_hit_rate=self.cache_hit_rate or 0.0, speculative_draft_tokens=draft,
                            speculative_acceptance_length=min(acceptance, 1.0 + draft),
                            prefill_chunk_tokens=self.prefill_chunk_tokens, engine=engine_of(self.engine),
                            expert_load_balancing=bool(self.expert_load_balancing))
        return Workload(self.input_tokens, self.output_tokens, self.context_tokens,
                        cache_hit_rate=self.cache_hit_rate or 0.0, prefill_chunk_tokens=self.prefill_chunk_tokens,
                        engine=engine_of(self.engine), expert_load_balancing=bool(self.expert_load_balancing))

    def predict_kwargs(self) -> dict:
        """Keyword arguments of :func:`tokensim.perf.predict` (besides hardware, model, precision, workload).

        Raises
        ------
        NotRunnable
            Where the deployment, serving mode or metric has no ``predict`` equivalent.
        """
        return plan_measurement(self)


# mtp_acceptance_length that marks an acceptance neither published nor forced, where the catalogue's default does
# not apply (the row runs without speculation, ``speculative: not modelled``)
_ACCEPTANCE_UNKNOWN = "unknown"


def _acceptance(text: str) -> float | None:
    """Mean accepted tokens per step from the published text (a range: its midpoint); None if not a number."""
    parts = [p.strip() for p in (text or "").split("-") if p.strip()]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        return None
    return sum(values) / len(values) if values and len(values) <= 2 else None


def _default_acceptance(model: str, draft_tokens: int) -> float | None:
    """The catalogue's sourced acceptance length of ``model`` at ``draft_tokens`` (None: no default, or a model not
    in the catalogue)."""
    try:
        spec = load_catalog().get_model(model)
    except UserError:
        return None
    return spec.default_acceptance_length(draft_tokens)


class NotRunnable(UserError):
    """A measurement that no ``predict`` call reproduces: ``reason`` one of :data:`REASONS`, ``detail`` the row's
    particulars."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _pool(text: str) -> tuple[int | None, str, int] | None:
    """``(instances or None when '?', kind, GPUs per instance)`` of a pool, None if not in that form."""
    match = _POOL.match(text.strip())
    if not match:
        return None
    return (None if match[1] == "?" else int(match[1])), match[2], int(match[3])


def _instances(m: Measurement) -> float:
    """Serving instances the client concurrency is spread over (decode instances for disaggregated serving)."""
    if m.decode_pool:
        pool = _pool(m.decode_pool)
        if pool is None or pool[0] is None:
            raise NotRunnable(POOL_NOT_PUBLISHED, f"decode pool '{m.decode_pool}'")
        return float(pool[0])
    if m.instance_gpus and m.system_gpus > m.instance_gpus and m.mode != "prefill":
        return m.system_gpus / m.instance_gpus
    return 1.0


# plan_measurement's ``pool_counts`` when a pool's instance count was not published (``?xTEP4``) and the count is the
# one tokensim's rate matching chooses (popped before predict is called)
RATE_MATCHED = "rate-matched (instance counts not published)"


def _rate_matched_counts(m: Measurement, prefill: tuple[int | None, str, int], decode: tuple[int | None, str, int],
                         slo: SLO, calibration_path: str | None, max_decode_instances: int = 16,
                         target: float = 0.95) -> tuple[int, int]:
    """Instance counts for pools whose kind and size are published but not their count, as tokensim's rate matching
    sizes them. For each decode count n (1 … 16; a published count is kept) the client concurrency is split over the
    n decode instances, the prefill count is rounded to the rate-matched ratio of prefill to decode GPUs at that
    per-instance batch (at least 1; a published count is kept), and the whole deployment is evaluated; the counts are
    the fewest decode instances serving at least 95% of the best output tokens/s per GPU found (the layout search's
    rule, :func:`tokensim.perf._model._integer_pools`)."""
    pre_dep, dec_dep = layout(prefill[1], prefill[2]), layout(decode[1], decode[2])
    tried: list[tuple[int, int, float]] = []
    for n_dec in ([decode[0]] if decode[0] else range(1, max_decode_instances + 1)):
        concurrency = None if m.concurrency is None else max(1, round(m.concurrency / n_dec))
        try:
            n_pre = prefill[0]
            if n_pre is None:
                matched = predict(m.hardware, m.model, m.precision, m.workload, mode="disaggregated", slo=slo,
                                  concurrency=concurrency, kv_cache_precision=m.kv_cache_precision,
                                  calibration_path=calibration_path, prefill=f"?x{pre_dep.label}",
                                  decode=f"?x{dec_dep.label}")
                share = float(matched.prefill_gpu_share or 0.0)
                n_pre = max(1, round(share / max(1.0 - share, 1e-12) * n_dec * dec_dep.gpus / pre_dep.gpus))
            res = predict(m.hardware, m.model, m.precision, m.workload, mode="disaggregated", slo=slo,
                          concurrency=concurrency, kv_cache_precision=m.kv_cache_precision,
                          calibration_path=calibration_path, prefill=f"{n_pre}x{pre_dep.label}",
                          decode=f"{n_dec}x{dec_dep.label}")
        except UserError as exc:
            raise NotRunnable(PREDICT_REFUSED, f"measurement '{m.id}': {exc}") from None
        tried.append((n_pre, n_dec, res.output_tokens_per_s_per_gpu if res.meets_slo is not False else 0.0))
    best = max(t[2] for t in tried)
    n_pre, n_dec, _ = next(t for t in tried if t[2] >= target * best)
    return n_pre, n_dec


def plan_measurement(m: Measurement, calibration_path: str | None = None) -> dict[str, Any]:
    """The :func:`tokensim.perf.predict` keyword arguments (besides hardware, model, precision, workload) that
    reproduce a row.

    Parameters
    ----------
    m : Measurement
        One published measurement.
    calibration_path : str, optional
        A calibration YAML replacing the bundled efficiency factors (used only to choose unpublished pool counts).

    Returns
    -------
    dict
        ``mode``, ``slo``, ``concurrency`` (sequences per instance: the client concurrency over the instances, rounded,
        at least 1), ``gpus``, ``tp``, ``ep``, ``kv_cache_precision``; for prefill and decode pools of different
        layouts, ``prefill`` and ``decode`` (the pools as published) instead of ``gpus``, ``tp``, ``ep``; for pools
        whose instance count is not published (``?xTEP4``), the pools with the counts rate matching chooses
        (:func:`_rate_matched_counts`) and ``pool_counts`` = :data:`RATE_MATCHED`, which is not a ``predict``
        argument (pop it first).

    Raises
    ------
    NotRunnable
        A serving mode, metric or deployment ``predict`` cannot take, or a name not in the catalogue, with the reason.
    """
    cat = load_catalog()
    for kind, name, reason in (("hardware", m.hardware, NO_HARDWARE), ("model", m.model, NO_MODEL),
                               ("precision", m.precision, NO_PRECISION)):
        try:
            {"hardware": cat.get_hardware, "model": cat.get_model, "precision": cat.get_recipe}[kind](name)
        except UserError:
            raise NotRunnable(reason, f"{kind} '{name}'") from None
    # a decode-only row with a stated mean context needs no request lengths: they do not enter its prediction
    lengths_used = not (m.mode == "decode" and m.context_tokens is not None)
    missing = [name for name, absent in (("system_gpus", m.system_gpus == 0 and MEASURED_METRICS[m.metric][1]),
                                         ("input_tokens", lengths_used and math.isnan(m.input_tokens)),
                                         ("output_tokens", lengths_used and math.isnan(m.output_tokens))) if absent]
    if missing:
        raise NotRunnable(WORKLOAD_NOT_PUBLISHED, ", ".join(missing))
    mode, kind = m.mode, m.kind
    allowed = {"aggregated": ("output", "input", "total", "ttft"), "disaggregated": ("output", "decode-output",
               "input", "total", "ttft"), "decode": ("output",), "prefill": ("input", "ttft")}[mode]
    if kind not in allowed:
        raise NotRunnable(METRIC_NOT_MAPPED, f"'{m.metric}' under '{m.serving}'")
    pools: dict[str, Any] = {}
    uncounted = None  # (prefill, decode) pools whose instance count is not published
    if mode == "disaggregated":
        prefill, decode = _pool(m.prefill_pool), _pool(m.decode_pool)
        if prefill is None or decode is None:
            raise NotRunnable(POOL_NOT_PUBLISHED, f"prefill '{m.prefill_pool}', decode '{m.decode_pool}'")
        if prefill[1:] != decode[1:]:  # pools of their own: predict runs them as published (perf --prefill/--decode)
            pools = {"prefill": m.prefill_pool.strip(), "decode": m.decode_pool.strip()}
        if None in (prefill[0], decode[0]):
            uncounted = (prefill, decode)
    slo = m.slo_limits
    if m.concurrency is None and m.slo is None and m.tokens_per_s_per_user is not None and mode != "prefill":
        slo = SLO(min_tokens_per_s_per_user=m.tokens_per_s_per_user)
    if mode == "decode" and is_afd(m.decode_pool):
        # attention-FFN disaggregation: the whole deployment serves the client concurrency (perf._afd)
        return dict(mode=mode, slo=slo, concurrency=m.concurrency, decode=m.decode_pool.strip(),
                    kv_cache_precision=m.kv_cache_precision)
    if uncounted is not None:
        # kind and GPUs per instance published, the instance count not: the count tokensim's rate matching chooses
        pre, dec = uncounted
        counts = _rate_matched_counts(m, pre, dec, slo, calibration_path)
        pools = {"prefill": f"{counts[0]}x{pre[1]}{pre[2]}", "decode": f"{counts[1]}x{dec[1]}{dec[2]}"}
        clients = _clients_per_instance(m, pools["decode"])
        concurrency = None if clients is None else max(1, round(clients))
        return dict(mode=mode, slo=slo, concurrency=concurrency, kv_cache_precision=m.kv_cache_precision, **pools,
                    pool_counts=RATE_MATCHED)
    clients = _clients_per_instance(m, pools.get("decode"))
    concurrency = None if clients is None else max(1, round(clients))
    if pools:
        return dict(mode=mode, slo=slo, concurrency=concurrency, kv_cache_precision=m.kv_cache_precision, **pools)
    offload = {"offload_weights": True} if _OFFLOAD_NAMED.search(f"{m.notes} {m.assumptions}") else {}
    return dict(mode=mode, slo=slo, concurrency=concurrency, gpus=m.instance_gpus, tp=m.tp, ep=m.ep,
                kv_cache_precision=m.kv_cache_precision, **offload)


REQUIRED_COLUMNS = tuple(f.name for f in fields(Measurement))[:22]  # id ... notes
# tokens_per_s_per_user ... calibrate (superseded is derived, not a column)
EXTRA_COLUMNS = tuple(f.name for f in fields(Measurement) if f.name != "superseded")[22:]
_OPTIONAL = {"instance_gpus", "tp", "ep", "kv_cache_precision", "context_tokens", "concurrency", "slo", "notes",
             *EXTRA_COLUMNS}
_INTEGER = {"system_gpus", "instance_gpus", "tp", "ep", "concurrency", "attention_dp", "mtp_draft_tokens",
            "prefill_chunk_tokens"}
_NUMBER = {"input_tokens", "output_tokens", "context_tokens", "value", "tokens_per_s_per_user", "cache_hit_rate"}
# required on rows calibrate fits; a row marked calibrate: no may leave them blank (0 GPUs, NaN tokens)
_PUBLISHED = {"system_gpus": 0, "input_tokens": math.nan, "output_tokens": math.nan}
_TEXT_DEFAULT = {"notes", "engine", "engine_version", "prefill_pool", "decode_pool", "mtp_acceptance_length",
                 "assumptions"}


def _cell(path: str, line: int, column: str, text: str):
    field = f"line {line}, column {column}"
    text = text.strip()
    if text == "":
        if column in _PUBLISHED:
            return None
        if column in _OPTIONAL:
            return "" if column in _TEXT_DEFAULT else (True if column == "calibrate" else None)
        raise ConfigError(path, field, text, "a value (this column is required on every row)")
    if column in _INTEGER or column in _NUMBER:
        try:
            number = float(text)
        except ValueError:
            raise ConfigError(path, field, text, "a number") from None
        zero_allowed = column == "prefill_chunk_tokens"  # 0: unchunked
        if not math.isfinite(number) or number < 0 or (number == 0 and not zero_allowed):
            raise ConfigError(path, field, text, "a whole number of tokens, 0 or more (0: unchunked; blank: not "
                              "stated)" if zero_allowed else "a finite positive number")
        if column in _INTEGER:
            if number != int(number):
                raise ConfigError(path, field, text, "a whole number")
            return int(number)
        if column == "cache_hit_rate" and number >= 1:
            raise ConfigError(path, field, text, "a share below 1 (blank: no prefix-cache hits stated)")
        return number
    if column == "serving" and text not in SERVING:
        raise ConfigError(path, field, text, f"one of {', '.join(SERVING)}")
    if column == "metric" and text not in MEASURED_METRICS:
        raise ConfigError(path, field, text, f"one of {', '.join(MEASURED_METRICS)}")
    if column in ("calibrate", "expert_load_balancing"):
        if text.lower() not in ("yes", "no", "true", "false"):
            raise ConfigError(path, field, text, "yes or no (blank: yes)" if column == "calibrate"
                              else "yes or no (blank: not stated, off)")
        return text.lower() in ("yes", "true")
    if column == "slo":
        try:
            parse_slo(text)
        except ValueError:
            raise ConfigError(path, field, text, f"key=value pairs separated by ';' (keys {', '.join(_SLO_KEYS)}) "
                              "or bounds such as 'p99 TTFT <= 2 s; p99 TPOT <= 80 ms'") from None
    return text


def load_measurements(path: str | Path | None = None) -> list[Measurement]:
    """Read and check the measurement dataset.

    Parameters
    ----------
    path : str or Path, optional
        A measurement CSV (default: the bundled ``tokensim/data/measurements.csv``). The columns of
        :data:`REQUIRED_COLUMNS` are required; those of :data:`EXTRA_COLUMNS` may be absent.

    Returns
    -------
    list of Measurement
        Every row, in file order (``calibration_rows`` selects the ones ``tokensim calibrate`` fits).

    Raises
    ------
    ConfigError
        A missing column or a malformed cell, naming the file, the line and the column.
    """
    path = Path(path) if path else MEASUREMENTS_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ConfigError(str(path), "header", reader.fieldnames, f"the columns {', '.join(REQUIRED_COLUMNS)}",
                          f"missing: {', '.join(missing)}")
    columns = [c for c in (*REQUIRED_COLUMNS, *EXTRA_COLUMNS) if c in (reader.fieldnames or [])]
    rows, seen = [], set()
    for line, record in enumerate(reader, start=2):
        values = {c: _cell(str(path), line, c, record.get(c) or "") for c in columns}
        for column, absent in _PUBLISHED.items():
            if values[column] is None:
                if values.get("calibrate", True):
                    raise ConfigError(str(path), f"line {line}, column {column}", "",
                                      "a value (required on every row that calibrate fits; blank only with "
                                      "calibrate: no)")
                values[column] = absent
        if values["id"] in seen:
            raise ConfigError(str(path), f"line {line}, column id", values["id"], "an id not used twice")
        seen.add(values["id"])
        rows.append(Measurement(**{**values, "notes": values["notes"] or ""}))
    if not rows:
        raise ConfigError(str(path), "rows", 0, "at least one measurement")
    later = superseded_ids(rows)
    return [replace(m, superseded=True) if m.id in later else m for m in rows]


def _run_key(m: Measurement) -> tuple:
    """One deployment as a source measured it: everything but the date, the engine build and the load point. A run
    with speculative decoding is another deployment than one without, whether or not its draft length is known (until
    2026-12-06 an MTP run with an unpublished draft length superseded an earlier run without MTP)."""
    return (m.source_id, m.hardware, m.model, m.precision, m.kv_cache_precision, m.serving, m.engine,
            m.instance_gpus, m.tp, m.ep, m.attention_dp, m.prefill_pool, m.decode_pool, m.input_tokens,
            m.output_tokens, m.context_tokens, m.speculative != "none", m.mtp_draft_tokens, m.metric, m.slo)


def superseded_ids(measurements: list[Measurement]) -> set[str]:
    """Ids of the rows whose source measured the same deployment again on a later date.

    Sources that track an engine's progress (InferenceX: DeepSeek-V4-Pro on MI355X at SGLang builds of 2026-04-25 to
    05-21, 4-30x apart on the same 8 GPUs; Qwen3.5 at 3 builds) publish each run; the performance model describes
    what the engine delivers, which is the latest run. Every row of an earlier run (all load points) is superseded;
    ``tokensim calibrate --with-fixed-concurrency`` leaves them out and ``validate`` reports them as their own group
    (``run``). Rows without a date, and runs nobody repeated, are never superseded.

    Parameters
    ----------
    measurements : list of Measurement
        Rows of a measurement file.

    Returns
    -------
    set of str
        The superseded rows' ids.
    """
    latest: dict[tuple, str] = {}
    for m in measurements:
        key = _run_key(m)
        if m.date and m.date > latest.get(key, ""):
            latest[key] = m.date
    return {m.id for m in measurements if m.date and m.date < latest[_run_key(m)]}


def calibration_rows(measurements: list[Measurement]) -> list[Measurement]:
    """The rows ``tokensim calibrate`` fits: those not marked ``calibrate: no``.

    Parameters
    ----------
    measurements : list of Measurement
        Rows of a measurement file.

    Returns
    -------
    list of Measurement
        The rows to fit, in file order.

    Raises
    ------
    ConfigError
        If a row to fit has a metric the fit cannot evaluate (``tokens_per_s_per_gpu``,
        ``output_tokens_per_s_per_decode_gpu``) or an attention-FFN disaggregated decode pool.
    """
    rows = [m for m in measurements if m.calibrate]
    for m in rows:
        if m.kind not in PREDICTED_KEY:
            raise ConfigError(None, f"measurement '{m.id}'", f"{m.serving} {m.metric}",
                              "a row the fit can evaluate (output, input or ttft metric)",
                              "mark it calibrate: no")
        if is_afd(m.decode_pool):
            raise ConfigError(None, f"measurement '{m.id}'", f"decode_pool {m.decode_pool}",
                              "a row the fit can evaluate (one serving instance per row; not attention-FFN "
                              "disaggregation)", "mark it calibrate: no")
    if not rows:
        raise ConfigError(None, "calibrate", "no", "at least one row to fit (calibrate blank or yes)")
    return rows


def measurements_sha256(path: str | Path | None = None) -> str:
    """sha256 of the measurement file's bytes (hex)."""
    return hashlib.sha256(Path(path or MEASUREMENTS_PATH).read_bytes()).hexdigest()


def calibration_sha256(path: str | Path | None = None) -> str:
    """sha256 (hex) of the data ``tokensim calibrate`` fits, as written into ``fit.data`` of calibration.yaml.

    The rows of :func:`calibration_rows`, in the columns of :data:`REQUIRED_COLUMNS`, written as CSV (minimal quoting,
    ``\\n`` line ends): for a file holding only those rows and columns, the sha256 of the file itself. Rows marked
    ``calibrate: no`` and the issue-11 columns do not change it, so the bundled calibration's record still identifies
    the data it was fitted to.

    Parameters
    ----------
    path : str or Path, optional
        A measurement CSV (default: the bundled one).

    Returns
    -------
    str
        64 hex digits.
    """
    text = Path(path or MEASUREMENTS_PATH).read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(REQUIRED_COLUMNS)
    for record in reader:
        if (record.get("calibrate") or "").strip().lower() not in ("no", "false"):
            writer.writerow([record.get(c) or "" for c in REQUIRED_COLUMNS])
    return hashlib.sha256(buf.getvalue().encode("utf-8")).hexdigest()


def group_keys(m: Measurement) -> dict[str, str]:
    """The groups a row is reported under (``unknown`` for a family not in the catalogue)."""
    cat = load_catalog()
    try:
        hw = cat.get_hardware(m.hardware).family
    except UserError:
        hw = "unknown"
    try:
        model = cat.get_model(m.model).family
    except UserError:
        model = "unknown"
    return {"hardware_family": hw, "model_family": model, "precision": m.precision, "serving": m.serving,
            "band": m.band, "engine": m.engine or "not stated", "speculative": m.speculative,
            "fitted": "yes" if m.calibrate else "no", "run": "superseded" if m.superseded else "latest"}


def predict_measurement(m: Measurement, calibration_path: str | None = None) -> dict:
    """Predict one row with the code path of ``tokensim perf``: predicted, measured, error, interval, groups.

    The row's client concurrency is spread over its serving instances (decode instances for pools). Where it does not
    divide evenly, a balanced router gives some instances one sequence more than the others (idle ones none): the
    rates per GPU are then the average over the instances of ``predict`` at each whole batch, a time (TTFT) the
    average over the requests, and the reported concurrency the average over the instances of the batch each serves
    (the unrounded share, or less where memory caps it; with pools, the decode batch: ``predict``'s clients in decode).

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

    Raises
    ------
    NotRunnable
        A row no ``predict`` call reproduces (:func:`plan_measurement`), or one ``predict`` refuses (reason
        ``predict refused the deployment``), naming the measurement.
    """
    kwargs = plan_measurement(m, calibration_path)
    pool_counts = kwargs.pop("pool_counts", None)
    clients = None if is_afd(m.decode_pool) else _clients_per_instance(m, kwargs.get("decode"))
    if clients is None or clients == math.floor(clients) or kwargs.get("concurrency") is None:
        res = _predict_planned(m, kwargs, calibration_path)
        value, low, high = _planned_value(m, res)
        concurrency, speed = res.concurrency, res.tokens_per_s_per_user
    else:
        # The clients do not split evenly: a balanced router gives a share `frac` of the instances lower + 1
        # sequences and the rest `lower` (0: idle). Rates per GPU average over the instances, times over the requests.
        lower = math.floor(clients)
        frac = clients - lower
        res = _predict_planned(m, {**kwargs, "concurrency": lower + 1}, calibration_path)
        parts = [(frac, lower + 1, res, _planned_value(m, res))]
        if lower >= 1:
            below = _predict_planned(m, {**kwargs, "concurrency": lower}, calibration_path)
            parts.append((1.0 - frac, lower, below, _planned_value(m, below)))
        if m.kind == "ttft":
            value, low, high = (sum(w * n * v[i] for w, n, _, v in parts) / clients for i in range(3))
        else:
            value, low, high = (sum(w * v[i] for w, _, _, v in parts) for i in range(3))
        concurrency = sum(w * r.concurrency for w, _, r, _ in parts)
        speed = sum(w * n * r.tokens_per_s_per_user for w, n, r, _ in parts) / clients
    return row_result(m, value, low, high, predicted_band=predicted_band(m, speed),
                      concurrency=concurrency, gpus=res.gpus, tp=res.tp, ep=res.ep,
                      bound=res.bound, waiting_sequences=res.waiting_sequences,
                      **({"pool_counts": pool_counts, "prefill_pool": res.prefill_pool, "decode_pool": res.decode_pool}
                         if pool_counts else {}))


def _clients_per_instance(m: Measurement, decode_pool: str | None) -> float | None:
    """The row's client concurrency over the instances that serve it, before :func:`plan_measurement` rounds it to a
    whole batch of at least 1 (None without a stated concurrency): the decode instances of the pool as planned
    (``decode_pool``: the published one, or the counts rate matching chose), else :func:`_instances`."""
    if m.concurrency is None:
        return None
    pool = _pool(decode_pool) if decode_pool else None
    return m.concurrency / (float(pool[0]) if pool is not None and pool[0] else _instances(m))


def _predict_planned(m: Measurement, kwargs: dict, calibration_path: str | None):
    try:
        return predict(m.hardware, m.model, m.precision, m.workload, calibration_path=calibration_path, **kwargs)
    except UserError as exc:
        raise NotRunnable(PREDICT_REFUSED, f"measurement '{m.id}': {exc}") from None


def _planned_value(m: Measurement, res) -> tuple[float, float, float]:
    """The prediction ``res`` in the row's unit: (value, low, high)."""
    if m.kind == "ttft":  # a time: the prefill interval width, as for input tokens per second
        value = res.ttft_s
        width = res.input_tokens_per_s_per_gpu_high / res.input_tokens_per_s_per_gpu
        return value, value / width, value * width
    if m.kind == "total":  # input + output tokens per GPU: each with its own interval
        return (res.output_tokens_per_s_per_gpu + res.input_tokens_per_s_per_gpu,
                res.output_tokens_per_s_per_gpu_low + res.input_tokens_per_s_per_gpu_low,
                res.output_tokens_per_s_per_gpu_high + res.input_tokens_per_s_per_gpu_high)
    if m.kind == "decode-output":  # per decode GPU: the output rate over the decode pool's share of GPUs
        share = 1.0 - (res.prefill_gpu_share or 0.0)
        return (res.output_tokens_per_s_per_gpu / share, res.output_tokens_per_s_per_gpu_low / share,
                res.output_tokens_per_s_per_gpu_high / share)
    key = PREDICTED_KEY[m.kind]
    return getattr(res, key), getattr(res, f"{key}_low"), getattr(res, f"{key}_high")


def predicted_band(m: Measurement, tokens_per_s_per_user: float) -> str:
    """The per-user speed band of a row's *predicted* speed, for a row that states a speed (``none`` otherwise, so
    that ``band`` and ``predicted_band`` group the same rows).

    A row's ``band`` is that of the speed its source measured, the outcome: a deployment the model over-predicts
    measures slowly and lands in a slow band whatever the model says, so the slow band collects over-predictions. A
    user of a prediction knows only the predicted speed; ``predicted_band`` groups the error the way such a user meets
    it (docs/model-notes.md, round 18).

    Parameters
    ----------
    m : Measurement
        The row.
    tokens_per_s_per_user : float
        The model's output tokens/s per user at the row's operating point (NaN: none, as in prefill mode).

    Returns
    -------
    str
        A band of :data:`~tokensim.perf.envelope.BANDS`.
    """
    return "none" if m.band == "none" else speed_band(tokens_per_s_per_user)


def row_result(m: Measurement, predicted: float, low: float, high: float, **extra) -> dict:
    measured = m.measured
    return {"id": m.id, "source_id": m.source_id, **group_keys(m), "hardware": m.hardware, "model": m.model,
            "predicted": predicted, "measured": measured, "error": predicted / measured - 1.0, "low": low,
            "high": high, "inside": bool(low <= measured <= high), **extra}


def not_run_result(m: Measurement, exc: NotRunnable) -> dict:
    """The record of a row that was not run: id, source, groups, the reason and its particulars."""
    return {"id": m.id, "source_id": m.source_id, **group_keys(m), "hardware": m.hardware, "model": m.model,
            "reason": exc.reason, "detail": exc.detail}


def validate(measurements: list[Measurement] | None = None, calibration_path: str | None = None) -> dict:
    """Predict every row; rows no ``predict`` call reproduces are reported with the reason.

    Parameters
    ----------
    measurements : list of Measurement, optional
        Rows to predict (default: the bundled dataset).
    calibration_path : str, optional
        A calibration YAML replacing the bundled efficiency factors.

    Returns
    -------
    dict
        ``rows`` (:func:`predict_measurement` records), ``not_run`` (:func:`not_run_result` records), ``summary``
        and ``groups`` (:func:`summarize` over ``rows``, :data:`VALIDATE_GROUPS`) and ``not_run_by_reason``
        (reason -> rows).
    """
    measurements = measurements if measurements is not None else load_measurements()
    rows, skipped = [], []
    for m in measurements:
        try:
            rows.append(predict_measurement(m, calibration_path))
        except NotRunnable as exc:
            skipped.append(not_run_result(m, exc))
    return {"rows": rows, "not_run": skipped, **summarize(rows, VALIDATE_GROUPS),
            "not_run_by_reason": not_run_summary(skipped)}


def not_run_summary(skipped: list[dict]) -> dict[str, int]:
    """Rows not run per reason, in the order of :data:`REASONS` (reasons with none left out)."""
    return {r: n for r in REASONS if (n := sum(s["reason"] == r for s in skipped))}


def _stats(rows: list[dict]) -> dict:
    if not rows:
        return {"n": 0, "median_abs_error": None, "max_abs_error": None, "interval_coverage": None}
    errors = [abs(r["error"]) for r in rows]
    return {"n": len(rows), "median_abs_error": median(errors), "max_abs_error": max(errors),
            "interval_coverage": sum(r["inside"] for r in rows) / len(rows)}


def _group_order(group: str, value: str) -> tuple[int, str]:
    """Sort key of a group's values: speed bands in :data:`BANDS` order (slowest first), the rest alphabetically."""
    if group in _BAND_GROUPS and value in BANDS:
        return BANDS.index(value), value
    return len(BANDS), value


def summarize(rows: list[dict], groups: tuple[str, ...] = GROUPS) -> dict:
    """Overall and per-group error statistics of predicted rows (each with ``error`` and ``inside``).

    Parameters
    ----------
    rows : list of dict
        Predicted rows, each with ``error`` (fraction), ``inside`` (bool) and a value for every group.
    groups : tuple of str
        The row keys to group by (default :data:`GROUPS`; ``tokensim validate`` uses :data:`VALIDATE_GROUPS`).

    Returns
    -------
    dict
        ``summary`` (``n``, ``median_abs_error`` and ``max_abs_error`` as fractions, ``interval_coverage`` as a
        share; None for no rows) and ``groups`` (group -> value -> the same statistics).
    """
    per_group = {}
    for g in groups:
        keys = sorted({r[g] for r in rows}, key=lambda k: _group_order(g, k))
        per_group[g] = {k: _stats([r for r in rows if r[g] == k]) for k in keys}
    return {"summary": _stats(rows), "groups": per_group}
