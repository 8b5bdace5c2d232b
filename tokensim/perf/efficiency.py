"""Efficiency factors of the performance model (``configs/calibration.yaml``): schema, loader and writer.

Each factor carries its value and its source. Family entries override the defaults key by key, so a fit can set only
what the data constrain. ``tokensim calibrate`` writes this file; everything else only reads it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from statistics import NormalDist
from typing import Any

from ..config.reader import Section, config_dir, load_yaml
from ..config.types import ENGINES  # the serving engines with factors of their own (docs/model-notes.md, round 10)

__all__ = ["PhaseEfficiency", "Efficiency", "load_efficiency", "render_calibration", "PHASES", "PHASE_FACTORS",
           "GLOBAL_FACTORS", "ENGINES", "ENGINE_KEYS", "engine_key", "TYPICAL_ENGINE", "typical_engine_keys",
           "ENGINE_FACTORS", "ENGINE_SCALED_FACTORS", "ENGINE_KERNEL_SCALED_FACTORS", "EFFICIENCY_CEILINGS",
           "engine_of", "ATTENTION_KINDS", "ATTENTION_FACTORS", "ATTENTION_SCALED_FACTORS", "attention_kind_of"]

PHASES = ("prefill", "decode")
# name -> (low, high, open-low) allowed range
PHASE_FACTORS = {
    "compute_efficiency": (0.0, 1.0, True),
    "memory_efficiency": (0.0, 1.0, True),
    "network_efficiency": (0.0, 1.0, True),
    "comm_overlap": (0.0, 1.0, False),
    "step_overhead_s": (0.0, 1.0, False),
    "sequence_overhead_s": (0.0, 0.01, False),
    "layer_overhead_s": (0.0, 0.01, False),
    "graph_layer_overhead_s": (0.0, 0.01, False),
    "layer_token_overhead_s": (0.0, 1e-3, False),
    "collective_latency_s": (0.0, 0.01, False),
    "alltoall_latency_s": (0.0, 0.01, False),
    "ep_ll_token_latency_s": (0.0, 1e-4, False),
    "ep_imbalance": (1.0, 4.0, False),
    "log_error_std": (0.0, 3.0, True),
    "moe_log_error_std": (0.0, 3.0, True),
}
# The low-latency EP kernels' latency growth per token per GPU past their 128-token buffer, inside one scale-up domain
# (perf._core.ep_exchange_fixed_s): 25 us per 128 tokens, the fixed latency's own scale, round 15's **assumption**,
# used wherever a calibration file does not set it
DEFAULT_EP_LL_TOKEN_LATENCY_S = 25e-6 / 128
# Phase-independent factors a calibration file may omit, and the value that stands in.
OPTIONAL_GLOBAL_FACTORS: dict[str, float] = {"weight_only_memory_efficiency": 1.0}
# Factors a calibration file may omit: a number, or the factor whose value stands in.
OPTIONAL_PHASE_FACTORS: dict[str, float | str] = {
    "sequence_overhead_s": 0.0, "layer_overhead_s": 0.0, "alltoall_latency_s": "collective_latency_s",
    "graph_layer_overhead_s": "layer_overhead_s", "layer_token_overhead_s": 0.0, "ep_imbalance": 1.0,
    "moe_log_error_std": "log_error_std", "ep_ll_token_latency_s": DEFAULT_EP_LL_TOKEN_LATENCY_S}
GLOBAL_FACTORS = {
    "weight_only_dequant_overhead": (0.0, 5.0, False),
    # the share of a native format's HBM rate a weight-only configuration's decode and prefill passes reach (weights
    # stored in a format the GPU does not compute in, dequantised inside the matmul kernels: gpt-oss's MXFP4 experts on
    # Hopper, INT4 experts); fitted since round 28, 1.0 (no penalty) where a file omits it
    "weight_only_memory_efficiency": (0.0, 1.0, True),
    "prefill_chunk_tokens": (1.0, 1e7, False),
    "workspace_fraction": (0.0, 0.9, False),
}
# name -> (low, high, open-low): the decode step's fixed per-layer costs (eager and CUDA-graph) of the engine's
# kernels relative to the pooled family values, and (round 18) the HBM and tensor efficiency its decode kernels reach
# relative to the family's
ENGINE_FACTORS = {"decode_layer_overhead_scale": (0.0, 100.0, True),
                  "decode_kernel_efficiency_scale": (0.0, 100.0, True)}
# the decode-phase factors that decode_layer_overhead_scale multiplies
ENGINE_SCALED_FACTORS = ("layer_overhead_s", "graph_layer_overhead_s")
# the decode-phase factors that decode_kernel_efficiency_scale multiplies, each capped at its measured ceiling
ENGINE_KERNEL_SCALED_FACTORS = ("memory_efficiency", "compute_efficiency")
# The measured ceilings of the efficiencies (configs/calibration.yaml's header): tensor work 0.80 of the dense peak
# (an 8192^3 GEMM at 788-798 of 989 TFLOP/s on H100/H200) and HBM 0.90 of the bandwidth (a copy at 3.0 of 3.35 TB/s
# on H100, 4.3 of 4.8 on H200); device KINDS.md, this workplace, 2026-11. The fit's bounds and an engine's scaled
# efficiencies stay below them.
EFFICIENCY_CEILINGS = {"compute_efficiency": 0.80, "memory_efficiency": 0.90}


# Attention kinds with a factor of their own (docs/model-notes.md, round 13): "latent" is attention over a compressed
# per-token latent (DeepSeek's MLA, V3.2's DSA on top of it, V4's compressed attention; Kimi K2 and GLM-5 use MLA),
# whose decode step runs more small kernels per layer than grouped-query attention (latent up-projections, rotary
# split, the absorbed-weight batched matmuls, and V3.2/V4's indexer) and so costs more per layer at small batch.
# "latent-cdna" is latent attention on AMD's CDNA hardware (round 21): three organisations' DeepSeek rows on MI300X,
# MI325X and MI355X run 1.4-3x slower than the physics that fits NVIDIA's rows and AMD's own dense tables; they run
# AMD's own MLA kernels (AITER's, in the vLLM post's runs), so the kind's per-layer cost is fitted apart from NVIDIA's.
ATTENTION_KINDS = ("latent", "latent-cdna")
# catalogue attention types (ModelSpec.attention_type) -> kind of ATTENTION_KINDS
_ATTENTION_KIND_OF = {"mla": "latent", "compressed": "latent"}
# hardware families whose latent attention is a kind of its own (the "-cdna" kinds): AMD's CDNA generations in the
# hardware catalogue; a new one is added here
_CDNA_FAMILIES = ("cdna3", "cdna4")
# name -> (low, high, open-low): the CUDA-graph decode per-layer cost of the kind relative to the pooled value
ATTENTION_FACTORS = {"decode_graph_layer_overhead_scale": (0.0, 100.0, True)}
# the decode-phase factors that scale multiplies (the eager per-layer cost is left alone: with it the fit moved the
# shared factors and TensorRT-LLM's dense max-throughput rows got worse; docs/model-notes.md, round 12)
ATTENTION_SCALED_FACTORS = ("graph_layer_overhead_s",)


def attention_kind_of(attention_type: str, hardware_family: str = "") -> str:
    """The kind of :data:`ATTENTION_KINDS` a catalogue attention type belongs to on a hardware family ('' when none:
    grouped-query, linear and hybrid attention take the pooled per-layer costs): 'mla' and 'compressed' -> 'latent',
    'latent-cdna' on AMD's CDNA families."""
    kind = _ATTENTION_KIND_OF.get(attention_type, "")
    return f"{kind}-cdna" if kind and hardware_family in _CDNA_FAMILIES else kind


# engines that serve on both NVIDIA and AMD hardware, and so have factors of their own on each CDNA generation (round
# 23): the same engine runs different kernels on CDNA (its ROCm backends: AITER, ROCm attention and MoE kernels, its
# own graph capture): SGLang's fitted per-layer cost on MI300X and MI325X is 1.9x its NVIDIA one, on MI355X 1.0x
# (beside latent attention's own CDNA factor; one key for both generations slowed MI355X's rows too far:
# docs/model-notes.md, rounds 22 and 23). TensorRT-LLM runs on NVIDIA only, ATOM on AMD only.
_CROSS_VENDOR_ENGINES = ("sglang", "vllm")
# the keys of the calibration file's ``engines`` section: each engine of ENGINES, and "<engine>-<family>" for an engine
# of _CROSS_VENDOR_ENGINES serving on one of AMD's CDNA families (engine_key)
ENGINE_KEYS = (*ENGINES, *(f"{e}-{f}" for e in _CROSS_VENDOR_ENGINES for f in _CDNA_FAMILIES))
# What a workload naming no engine is priced at (a scenario without ``serving.engine``, a measurement that does not
# state its engine): a typical engine of its hardware family, the geometric mean of the factors of the engines that
# serve on it (typical_engine_keys). Before round 23 it was the pooled values themselves, a level no engine has, which
# moved with how the engines were split (docs/model-notes.md, round 23).
TYPICAL_ENGINE = "typical"


def engine_key(engine: str, hardware_family: str) -> str:
    """The key of :data:`ENGINE_KEYS` whose factors ``engine`` (an engine of :data:`ENGINES`, '' for the pooled values
    or :data:`TYPICAL_ENGINE`) takes on ``hardware_family``: 'sglang' and 'vllm' on a CDNA family -> 'sglang-cdna3',
    'vllm-cdna4' and so on; otherwise the engine."""
    if engine in _CROSS_VENDOR_ENGINES and hardware_family in _CDNA_FAMILIES:
        return f"{engine}-{hardware_family}"
    return engine


def typical_engine_keys(hardware_family: str) -> tuple[str, ...]:
    """The engine keys whose factors' geometric mean prices a workload naming no engine on ``hardware_family``: the
    engines of :data:`ENGINES` that serve on its vendor (TensorRT-LLM, SGLang and vLLM on NVIDIA; SGLang, vLLM and
    ATOM on AMD's CDNA), each under its :func:`engine_key`."""
    engines = ("sglang", "vllm", "atom") if hardware_family in _CDNA_FAMILIES else ("tensorrt-llm", "sglang", "vllm")
    return tuple(engine_key(e, hardware_family) for e in engines)


def engine_of(text: str | None) -> str:
    """The engine of :data:`ENGINES` a free-text engine name runs on ('' when none): 'dynamo+tensorrt-llm' and 'trtllm'
    -> 'tensorrt-llm', 'dynamo+sglang' and 'sglang+mori' -> 'sglang', 'vllm+atom' -> 'atom' (ATOM's vLLM plugin runs
    ATOM's kernels), 'moreh-vllm' -> 'vllm'."""
    t = (text or "").lower()
    for engine, marks in (("tensorrt-llm", ("tensorrt", "trtllm", "trt-llm")), ("sglang", ("sglang",)),
                          ("atom", ("atom",)), ("vllm", ("vllm",))):
        if any(mark in t for mark in marks):
            return engine
    return ""


@dataclass(frozen=True)
class PhaseEfficiency:
    compute_efficiency: float
    memory_efficiency: float
    network_efficiency: float
    comm_overlap: float
    step_overhead_s: float
    collective_latency_s: float
    log_error_std: float
    sequence_overhead_s: float = 0.0  # per sequence in the batch (per attention-DP group) per forward pass
    alltoall_latency_s: float = 1e-5  # fixed cost of one EP dispatch or combine (vs collective_latency_s: all-reduce)
    layer_overhead_s: float = 0.0  # fixed cost per transformer layer per forward pass (launch gaps, small kernels)
    moe_log_error_std: float | None = None  # interval width for mixture-of-experts models (None: log_error_std)
    # per-layer cost of a decode step replayed from a CUDA graph (batch per DP group within the captured sizes,
    # perf._core.GRAPH_MAX_BATCH); None: the same as layer_overhead_s
    graph_layer_overhead_s: float | None = None
    # a scale on each deployment's expert-parallel load imbalance (StepModel.expert_load_imbalance, the busiest EP
    # rank's routed load over the mean's, sourced per EP size and EPLB: perf._model.expert_load_imbalance); 1 keeps
    # it as sourced. The product stretches the busiest rank's routed-expert FLOPs, weight reads and received EP copies
    ep_imbalance: float = 1.0
    # per layer, per token a decode step computes in one DP group (batch x tokens per sequence per step / DP): the
    # layer's small kernels whose work grows with the batch (norms, rotary embedding, activation quantisation, router
    # top-k, sampling bookkeeping) on top of the fixed per-layer cost; decode steps only (prefill's sit in its compute
    # efficiency). Fitted since 2026-12-06 (docs/model-notes.md, round 6)
    layer_token_overhead_s: float = 0.0
    # the low-latency EP dispatch/combine's latency growth per token per GPU beyond its 128-token buffer, inside one
    # scale-up domain (twice that across domains): perf._core.ep_exchange_fixed_s. A calibration file may set it
    # (fitted in round 17, not adopted: calibration.py)
    ep_ll_token_latency_s: float = DEFAULT_EP_LL_TOKEN_LATENCY_S

    def __post_init__(self):
        if self.graph_layer_overhead_s is None:
            object.__setattr__(self, "graph_layer_overhead_s", self.layer_overhead_s)

    def interval_log_std(self, moe: bool) -> float:
        """The log-normal width of this phase's prediction interval for a dense or a MoE model."""
        return self.moe_log_error_std if moe and self.moe_log_error_std is not None else self.log_error_std


@dataclass(frozen=True)
class Efficiency:
    """Factors for one hardware family: one set per phase plus the phase-independent ones."""

    family: str
    prefill: PhaseEfficiency
    decode: PhaseEfficiency
    weight_only_dequant_overhead: float
    prefill_chunk_tokens: float
    workspace_fraction: float
    interval_level: float
    # GLOBAL_FACTORS["weight_only_memory_efficiency"]: the share of the HBM rate weight-only configurations reach
    weight_only_memory_efficiency: float = 1.0
    sources: dict[str, str] = field(default_factory=dict, compare=False)
    # the engine key (:data:`ENGINE_KEYS`, or :data:`TYPICAL_ENGINE`) whose factors are applied ('' none: the pooled
    # values), and every engine key's factors
    # from the calibration file (:meth:`with_engine`)
    engine: str = ""
    engine_factors: dict[str, dict[str, float]] = field(default_factory=dict, compare=False)
    # the attention kind (:data:`ATTENTION_KINDS`) whose factors are applied ('' none), and every kind's factors from
    # the calibration file (:meth:`with_attention`)
    attention: str = ""
    attention_factors: dict[str, dict[str, float]] = field(default_factory=dict, compare=False)
    # the decode phase's ENGINE_KERNEL_SCALED_FACTORS before an engine's kernel scale (set by with_engine), so that a
    # capped scale can be undone exactly
    engine_free_kernel_efficiency: tuple[float, ...] | None = field(default=None, compare=False)

    @property
    def interval_z(self) -> float:
        """Normal quantile for the two-sided interval level (0.8 → 1.2816)."""
        return NormalDist().inv_cdf(0.5 + self.interval_level / 2)

    def phase(self, name: str) -> PhaseEfficiency:
        return getattr(self, name)

    def engine_scale(self, engine: str) -> float:
        """The decode per-layer cost of ``engine`` (a key of :data:`ENGINE_KEYS`) relative to the pooled value (1 for ''
        or an engine without fitted factors; for :data:`TYPICAL_ENGINE` the geometric mean over
        :func:`typical_engine_keys`)."""
        return self._engine_factor(engine, "decode_layer_overhead_scale")

    def engine_kernel_scale(self, engine: str) -> float:
        """The decode HBM and tensor efficiency of ``engine``'s kernels relative to the family's (1 for '' or an
        engine without the fitted factor; for :data:`TYPICAL_ENGINE` the geometric mean over
        :func:`typical_engine_keys`)."""
        return self._engine_factor(engine, "decode_kernel_efficiency_scale")

    def _engine_factor(self, engine: str, name: str) -> float:
        if engine == TYPICAL_ENGINE:
            keys = typical_engine_keys(self.family)
            return math.exp(math.fsum(math.log(self._engine_factor(k, name)) for k in keys) / len(keys))
        return float(self.engine_factors.get(engine, {}).get(name, 1.0))

    def with_engine(self, engine: str | None) -> Efficiency:
        """These factors for ``engine`` ('' or None: the pooled ones; :data:`TYPICAL_ENGINE`: a typical engine of the
        family) on this family (:func:`engine_key`: SGLang and vLLM on each CDNA generation take their own): the
        decode step's fixed per-layer costs, eager and CUDA-graph, scaled by the
        engine's ``decode_layer_overhead_scale``, and its HBM and tensor efficiencies by
        ``decode_kernel_efficiency_scale``, each capped at :data:`EFFICIENCY_CEILINGS`. Idempotent: the scales
        replace those of the engine already applied."""
        engine = engine_key(engine or "", self.family)
        if engine == self.engine:
            return self
        scale = self.engine_scale(engine) / self.engine_scale(self.engine)
        decode = self._decode_scaled(ENGINE_SCALED_FACTORS, scale)
        free = self.engine_free_kernel_efficiency
        if free is None:
            free = tuple(float(getattr(self.decode, name)) for name in ENGINE_KERNEL_SCALED_FACTORS)
        kernel = self.engine_kernel_scale(engine)
        decode = replace(decode, **{name: value if kernel == 1.0 else min(value * kernel, EFFICIENCY_CEILINGS[name])
                                    for name, value in zip(ENGINE_KERNEL_SCALED_FACTORS, free, strict=True)})
        return replace(self, engine=engine, decode=decode, engine_free_kernel_efficiency=free if engine else None)

    def _decode_scaled(self, names: tuple[str, ...], scale: float) -> PhaseEfficiency:
        """The decode phase with the factors ``names`` multiplied by ``scale``."""
        return replace(self.decode, **{name: float(getattr(self.decode, name) or 0.0) * scale for name in names})

    def attention_scale(self, kind: str) -> float:
        """The CUDA-graph decode per-layer cost of attention ``kind`` relative to the pooled value (1 for '' or a kind
        without a fitted factor)."""
        return float(self.attention_factors.get(kind, {}).get("decode_graph_layer_overhead_scale", 1.0))

    def with_attention(self, kind: str | None) -> Efficiency:
        """These factors for a model of attention ``kind`` ('' or None: the pooled ones): the decode step's CUDA-graph
        per-layer cost scaled by the kind's ``decode_graph_layer_overhead_scale``. Idempotent, and independent of
        :meth:`with_engine` (both scales multiply)."""
        kind = kind or ""
        if kind == self.attention:
            return self
        scale = self.attention_scale(kind) / self.attention_scale(self.attention)
        return replace(self, attention=kind, decode=self._decode_scaled(ATTENTION_SCALED_FACTORS, scale))

    def with_phase(self, name: str, **changes: float) -> Efficiency:
        phase: Any = replace(self.phase(name), **changes)
        return replace(self, **{name: phase})


def _factor(section: Section, key: str, spec: tuple[float, float, bool], sources: dict, prefix: str) -> float:
    entry = section.raw(key)
    if isinstance(entry, dict):
        sub = section.section(key)
        sub.check_keys(("value", "source"))
        sources[f"{prefix}{key}"] = sub.source()
        low, high, low_open = spec
        return sub.number("value", low=low, high=high, low_open=low_open)
    low, high, low_open = spec
    sources[f"{prefix}{key}"] = "fitted" if section.file else "given"
    return section.number(key, low=low, high=high, low_open=low_open)


def _merged(defaults: Section, family: Section | None, key: str, spec, sources: dict, prefix: str) -> float:
    if family is not None and key in family:
        return _factor(family, key, spec, sources, prefix)
    if key in OPTIONAL_GLOBAL_FACTORS and key not in defaults:
        sources[f"{prefix}{key}"] = f"not in the file: {OPTIONAL_GLOBAL_FACTORS[key]}"
        return OPTIONAL_GLOBAL_FACTORS[key]
    return _factor(defaults, key, spec, sources, prefix)


@dataclass(frozen=True)
class _Document:
    defaults: Section
    families: Section
    interval_level: float
    fit: dict
    engines: dict[str, dict[str, tuple[float, str]]]  # engine -> factor -> (value, source)
    attentions: dict[str, dict[str, tuple[float, str]]]  # attention kind -> factor -> (value, source)


def _keyed_factors(doc: Section, name: str, keys: tuple[str, ...],
                   specs: dict[str, tuple[float, float, bool]]) -> dict[str, dict[str, tuple[float, str]]]:
    """The ``name`` section of the file: each key of ``keys`` present -> factor -> (value, source)."""
    out: dict[str, dict[str, tuple[float, str]]] = {}
    section = doc.section(name, {})
    section.check_keys(keys)
    for key in keys:
        if key in section:
            one = section.section(key)
            one.check_keys(specs)
            sources: dict[str, str] = {}
            out[key] = {f: (_factor(one, f, spec, sources, ""), sources[f]) for f, spec in specs.items() if f in one}
    return out


def _read(path: Path) -> _Document:
    doc = Section(load_yaml(path), path)
    doc.check_keys(("fit", "interval_level", "defaults", "families", "engines", "attention"))
    defaults = doc.section("defaults")
    defaults.check_keys((*PHASES, *GLOBAL_FACTORS))
    return _Document(defaults, doc.section("families", {}),
                     doc.number("interval_level", 0.8, low=0, high=1, low_open=True, high_open=True),
                     dict(doc.raw("fit", {}) or {}), _keyed_factors(doc, "engines", ENGINE_KEYS, ENGINE_FACTORS),
                     _keyed_factors(doc, "attention", ATTENTION_KINDS, ATTENTION_FACTORS))


def _phase_values(defaults: Section, family: Section | None, phase: str, sources: dict) -> dict[str, float]:
    """One phase's factors: the family's, else the defaults'; optional factors absent from both take their
    fallback (an older file without them still loads)."""
    values: dict[str, float] = {}
    for key, spec in PHASE_FACTORS.items():
        if key in OPTIONAL_PHASE_FACTORS and key not in defaults and (family is None or key not in family):
            continue
        values[key] = _merged(defaults, family, key, spec, sources, f"{phase}.")
    for key, fallback in OPTIONAL_PHASE_FACTORS.items():
        if key not in values:
            values[key] = values[fallback] if isinstance(fallback, str) else float(fallback)
            sources[f"{phase}.{key}"] = f"not in the file: {fallback}"
    return values


@lru_cache(maxsize=64)
def load_efficiency(family: str, path: str | None = None) -> Efficiency:
    """Factors for ``family`` from ``path`` (default: the bundled configs/calibration.yaml)."""
    doc = _read(Path(path) if path else config_dir() / "calibration.yaml")
    fam = doc.families.section(family) if family in doc.families else None
    if fam is not None:
        fam.check_keys((*PHASES, *GLOBAL_FACTORS))
    sources: dict[str, str] = {}
    phases: dict[str, Any] = {}
    for phase in PHASES:
        d = doc.defaults.section(phase)
        d.check_keys(PHASE_FACTORS)
        f = fam.section(phase) if fam is not None and phase in fam else None
        if f is not None:
            f.check_keys(PHASE_FACTORS)
        phases[phase] = PhaseEfficiency(**_phase_values(d, f, phase, sources))
    glob: dict[str, Any] = {k: _merged(doc.defaults, fam, k, spec, sources, "") for k, spec in GLOBAL_FACTORS.items()}
    engines = {e: {k: value for k, (value, _) in factors.items()} for e, factors in doc.engines.items()}
    attentions = {a: {k: value for k, (value, _) in factors.items()} for a, factors in doc.attentions.items()}
    return Efficiency(family=family, interval_level=doc.interval_level, sources=sources, engine_factors=engines,
                      attention_factors=attentions, **phases, **glob)


# -- writer (``tokensim calibrate``) ----------------------------------------------------------------------------------
def _yaml_number(value: float) -> str:
    """A float PyYAML reads back as a float (it needs a '.' before any exponent)."""
    text = f"{float(value):.6g}"
    mantissa, _, exponent = text.partition("e")
    if "." not in mantissa and "inf" not in mantissa and "nan" not in mantissa:
        mantissa += ".0"
    return mantissa + (f"e{exponent}" if exponent else "")


def _yaml_entry(name: str, value: float, source: str, indent: int) -> str:
    return f"{' ' * indent}{name}: {{value: {_yaml_number(value)}, source: {json.dumps(source)}}}\n"


def render_calibration(fit: dict, defaults: dict[str, tuple[float, str]],
                       families: dict[str, dict[str, tuple[float, str]]], base_path: str | None = None,
                       header: str = "", engines: dict[str, dict[str, tuple[float, str]]] | None = None,
                       attentions: dict[str, dict[str, tuple[float, str]]] | None = None) -> str:
    """calibration.yaml text: ``defaults``/``families`` map "phase.name" (or a global name) to (value, source),
    ``engines`` an engine key of :data:`ENGINE_KEYS` to its factors and ``attentions`` an attention kind of
    :data:`ATTENTION_KINDS` to its factors (None: those of ``base_path``; empty: none).

    Default factors not given keep the value and source they have in ``base_path`` (default: the bundled file), so
    a fit writes only what it fitted.
    """
    path = Path(base_path) if base_path else config_dir() / "calibration.yaml"
    doc = _read(path)
    base: dict[str, tuple[float, str]] = {}
    for phase in PHASES:
        sources: dict[str, str] = {}
        for key, value in _phase_values(doc.defaults.section(phase), None, phase, sources).items():
            base[f"{phase}.{key}"] = (value, sources[f"{phase}.{key}"])
    for key, spec in GLOBAL_FACTORS.items():
        sources = {}
        base[key] = (_merged(doc.defaults, None, key, spec, sources, ""), sources[key])
    merged = {**base, **defaults}
    out = [line + "\n" for line in header.strip().splitlines()] if header else []
    out.append("fit:\n")
    for key, value in fit.items():
        text = _yaml_number(value) if isinstance(value, float) else json.dumps(value) \
            if isinstance(value, (str, dict, list)) else str(value)
        out.append(f"  {key}: {text}\n")
    out.append(f"interval_level: {_yaml_number(doc.interval_level)}\n")
    out.append("defaults:\n")
    for phase in PHASES:
        out.append(f"  {phase}:\n")
        out.extend(_yaml_entry(k, *merged[f"{phase}.{k}"], 4) for k in PHASE_FACTORS)
    out.extend(_yaml_entry(k, *merged[k], 2) for k in GLOBAL_FACTORS)
    out.append("families:\n" if families else "families: {}\n")
    for family, factors in sorted(families.items()):
        out.append(f"  {family}:\n")
        for phase in PHASES:
            keys = [k for k in PHASE_FACTORS if f"{phase}.{k}" in factors]
            if keys:
                out.append(f"    {phase}:\n")
                out.extend(_yaml_entry(k, *factors[f"{phase}.{k}"], 6) for k in keys)
        out.extend(_yaml_entry(k, *factors[k], 4) for k in GLOBAL_FACTORS if k in factors)
    for name, given, base_keyed, entries, specs in (("engines", engines, doc.engines, ENGINE_KEYS, ENGINE_FACTORS),
                                                    ("attention", attentions, doc.attentions, ATTENTION_KINDS,
                                                     ATTENTION_FACTORS)):
        keyed = base_keyed if given is None else given
        if any(keyed.get(key) for key in entries):
            out.append(f"{name}:\n")
            for key in entries:
                if keyed.get(key):
                    out.append(f"  {key}:\n")
                    out.extend(_yaml_entry(k, *keyed[key][k], 4) for k in specs if k in keyed[key])
    return "".join(out)
