"""Fitting the performance model's efficiency factors to published measurements (``tokensim calibrate``).

What is fitted (:data:`PARAMETERS`): a handful of factors per hardware family — decode and prefill compute efficiency,
memory efficiency, and the fixed costs of a forward pass (per step, per layer eager and per layer of a decode step
replayed from a CUDA graph, per sequence in the batch) — and, pooled
over all families, network efficiency and the fixed cost of an expert-parallel dispatch or combine. Each is bounded to
its physical range (efficiencies below the measured GEMM/copy ceilings cited in calibration.yaml). The objective is
robust least squares (soft-L1) on ln(predicted / measured) over all rows, plus a shrinkage term that pulls each
family's log-factor toward the pooled value with a prior width of :data:`PRIOR_LOG_SD` (``calibrate --family-sd``):
narrow, so the families share nearly one set of factors and their differences come from their datasheets and measured
ceilings; a family with none uses the pooled value (written as ``defaults``). Every fit starts from the same
documented values, so it is deterministic.

Speed: every row's step model, workload and concurrency grid are built once; a candidate parameter vector then runs
:func:`tokensim.perf.evaluate` once per serving mode on the stacked rows (every :class:`~tokensim.perf._core.StepModel`
field an array with one entry per row), which is the same arithmetic ``predict`` runs row by row. The Jacobian's
forward differences step the columns that move disjoint rows together (:func:`_grouped_differences`: the families'
factors of one parameter, the source offsets, the engine factors), and the cross-validation's fits run in a process
pool (``jobs``); neither changes a digit of the result.

Error is reported out of sample by leave-one-source-out cross-validation: each source document is predicted by a
fit to all the others. Prediction intervals come from those out-of-sample residuals: per phase and per architecture
(dense or MoE), pooled over hardware families, the training-conditional conformal quantile of |ln(predicted /
measured)| at the interval level, written as ``log_error_std`` = quantile / z.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import multiprocessing
import os
import signal
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..config.catalog import load_catalog
from ..config.reader import config_dir, load_yaml
from . import _core as core
from ._afd import is_afd
from ._model import concurrency_grid, evaluate, instance, served_batch
from .efficiency import (
    ATTENTION_KINDS,
    ATTENTION_SCALED_FACTORS,
    EFFICIENCY_CEILINGS,
    ENGINE_KERNEL_SCALED_FACTORS,
    ENGINE_KEYS,
    ENGINE_SCALED_FACTORS,
    GLOBAL_FACTORS,
    PHASE_FACTORS,
    PHASES,
    Efficiency,
    PhaseEfficiency,
    attention_kind_of,
    engine_key,
    engine_of,
    load_efficiency,
    render_calibration,
    typical_engine_keys,
)
from .validate import (
    Measurement,
    NotRunnable,
    not_run_result,
    plan_measurement,
    predict_measurement,
    predicted_band,
    row_result,
    summarize,
    validate,
)

__all__ = ["FitParameter", "PARAMETERS", "PRIOR_LOG_SD", "LEGACY_FAMILY_SD", "PriorWidths", "Problem", "FitResult",
           "Calibration", "build_problem",
           "fit", "predict_rows", "predict_speeds", "cross_validate", "cross_validate_points", "cross_validated_rows",
           "interval_sigmas", "conformal_sigma", "calibrate", "fixed_concurrency_rows", "rows_sha256",
           "FIXED_CONCURRENCY_LABEL", "DEFAULT_SOURCE_OFFSET_SD", "DEFAULT_ENGINE_SD", "ENGINE_SCALED",
           "cross_validated_measurements", "default_jobs", "DEFAULT_ATTENTION_SD", "DEFAULT_ATTENTION_KINDS",
           "ATTENTION_SCALED", "DEFAULT_ENGINE_KERNEL_SD", "ENGINE_KERNEL_SCALED"]

# How far (log scale, one standard deviation) a family's factor may stray from the pooled value before the
# penalty equals one data residual of the same size (``tokensim calibrate --family-sd``). Chosen among 0.075, 0.15, 0.3
# and 0.6 by leave-one-source-out error over all 2,125 rows (docs/model-notes.md, round 19): 0.075 gave 17.4% (785
# rows within 12%, coverage 78.1%) against 18.7% (698, 80.7%) at the earlier 0.3, CDNA3 24.8% -> 15.3%; fitted by
# continuation from 0.3 (``fit``). The families' own factors learned from one organisation's engines did not carry to
# another's: with AMD's own dense vLLM tables held out, CDNA3's factors were set by the SGLang DeepSeek runs on
# MI300X, and the reverse. 0.075 lets a family differ by ~8% at the cost of one residual of that size; the hardware
# differences come from the datasheets and the measured ceilings.
PRIOR_LOG_SD = 0.075
# the width of every fit before it was an option (a calibration file without fit.family_sd was fitted with it)
LEGACY_FAMILY_SD = 0.3
# Per-source offsets (``tokensim calibrate --source-offset-sd``): each source group in a fit gets a log-offset on all
# its predictions, a random effect shrunk to 0 with this prior width (log scale); 0 switches them off. The offsets
# absorb what one organisation's setup shares across its rows (engine builds, benchmark client, workload mapping), so
# that it does not pull the shared physics; a held-out or new source is predicted with offset 0. A modelling choice
# like the widths here: 1.0 lets a source sit a factor e away from the pool at the cost of one residual of that size
# (chosen among 0.25, 0.5, 1.0 and 2.0 by leave-one-source-out error over all rows; docs/model-notes.md, round 3;
# checked again in round 20 at the current model: 0.5, 1.0, 2.0 gave 17.51%, 17.44%, 18.95% over all 2,125 rows).
DEFAULT_SOURCE_OFFSET_SD = 1.0
# Per-engine factors (``tokensim calibrate --engine-sd``; efficiency.ENGINE_KEYS): each engine's decode per-layer costs
# (eager and CUDA-graph) are the family's times exp(θ_engine), θ shrunk to 0 with this prior width (log scale); 0
# switches them off. Unlike a source offset an engine factor predicts: a row, a held-out source or a user's
# ``--engine`` names its engine. 0.3 lets an engine differ by ~35% at the cost of one residual of that size (round 10).
# Chosen among 0.15, 0.3 and 0.6 by leave-one-source-out error over all 2,125 rows (families at 0.075; round 20):
# 17.44% (754 rows within 12%), 17.44% (785) and 17.68% (792); the fitted rows held out 14.9%, 14.3% and 14.6%.
DEFAULT_ENGINE_SD = 0.3
# the factors an engine's scale multiplies, keyed as the stacks key them (efficiency.ENGINE_SCALED_FACTORS, the ones
# Efficiency.with_engine scales)
ENGINE_SCALED = tuple(f"decode.{name}" for name in ENGINE_SCALED_FACTORS)
# Per-engine kernel factors (``tokensim calibrate --engine-kernel-sd``; round 18): the decode HBM and tensor
# efficiency an engine's kernels reach is the family's times exp(θ_engine), capped at the measured ceilings
# (efficiency.EFFICIENCY_CEILINGS), θ shrunk to 0 with this prior width (log scale), beside the per-layer factor; 0
# switches them off. InferenceMAX's TensorRT-LLM runs of gpt-oss-120b on B200 are 20% faster than the model at every
# batch where its vLLM runs are within a few percent (docs/model-notes.md, rounds 10 and 18). Off until round 23: at sd
# 0.3 (families at 0.3) leave-one-source-out over the fitted rows improved (15.9% -> 15.5%) but the median over all
# 2,125 rows got worse (18.7% -> 18.9%; round 18). On since round 23, with SGLang's and vLLM's factors of their own on
# each CDNA generation and a typical engine for rows naming none: docs/model-notes.md, round 23.
DEFAULT_ENGINE_KERNEL_SD = 0.3
# the factors an engine's kernel scale multiplies, keyed as the stacks key them, with their ceilings
ENGINE_KERNEL_SCALED = tuple(f"decode.{name}" for name in ENGINE_KERNEL_SCALED_FACTORS)
_CEILING_OF = {f"decode.{name}": EFFICIENCY_CEILINGS[name] for name in ENGINE_KERNEL_SCALED_FACTORS}
# Per-attention-kind factors (``tokensim calibrate --attention-sd``; efficiency.ATTENTION_KINDS): the CUDA-graph decode
# per-layer cost of a latent-attention model (MLA, DSA, DeepSeek-V4's compressed attention) is the family's times
# exp(θ_kind), θ shrunk to 0 with this prior width (log scale); 0 switches them off. Like an engine factor it predicts:
# the model names its kind. At sd 0.3 over both kinds (families at 0.3; round 13) the factor came out at 1.96 and
# all rows got worse (19.6% -> 20.2%). Round 21 made latent attention on AMD's CDNA hardware a kind of its own
# ("latent-cdna"), fitted alone (DEFAULT_ATTENTION_KINDS); on by default since round 23 (docs/model-notes.md, round 23).
DEFAULT_ATTENTION_SD = 0.3
# the attention kinds a default fit gives a factor (``--attention-kinds``): latent attention on CDNA only; on NVIDIA
# hardware latent models keep the pooled per-layer cost (round 13: fitted there, the rows no fit takes got worse)
DEFAULT_ATTENTION_KINDS = ("latent-cdna",)
# the factors an attention kind's scale multiplies, keyed as the stacks key them (efficiency.ATTENTION_SCALED_FACTORS)
ATTENTION_SCALED = tuple(f"decode.{name}" for name in ATTENTION_SCALED_FACTORS)
# Soft-L1 scale: residuals beyond ~15% count linearly, so a few badly mapped rows cannot drag the fit. Checked against
# 0.05 and 0.3 by leave-one-source-out over all 2,125 rows (round 20): 17.45%, 17.44% and 17.46%, no difference; at
# 0.05 the interval coverage fell to 77.3%.
LOSS_SCALE = 0.15
# what a row's value counts (Measurement.kind): output tokens/s, input tokens/s, TTFT seconds, or input + output
# tokens/s at the same operating point ("total")
_KINDS = ("output", "input", "ttft", "total")
# the kinds whose residuals set the prefill interval width; the others (output, total: an aggregated row's total is
# its decode-paced request rate times the tokens per request) set the decode width
_PREFILL_KINDS = ("input", "ttft")


def _prefill_rows(measurements: list[Measurement]) -> np.ndarray:
    """(rows,) True where a row's residual sets the prefill interval width (its kind is one of _PREFILL_KINDS)."""
    return np.array([m.kind in _PREFILL_KINDS for m in measurements])
# Confidence that an interval's coverage reaches the interval level (training-conditional conformal).
INTERVAL_CONFIDENCE = 0.9
# Narrowest interval written (log scale): a perfect fit to few rows must not claim zero uncertainty.
MIN_LOG_ERROR_STD = 0.01
# An interval class (phase x dense/MoE) with fewer rows than this takes its phase's width.
MIN_ROWS_FOR_INTERVAL = 20


@dataclass(frozen=True)
class FitParameter:
    """One fitted factor: ``name`` in the given phases (or a global factor when ``phases`` is empty)."""

    key: str  # how the fit reports it
    name: str  # the calibration.yaml key
    phases: tuple[str, ...]
    low: float
    high: float
    per_family: bool
    start: float  # where every fit starts (the documented pre-fit assumption), so results never depend on the file


PARAMETERS = (
    # Ceilings: 0.80 of dense tensor peak (8192^3 GEMM) and 0.90 of HBM bandwidth (copy); configs/calibration.yaml.
    # Starts: the assumptions calibration.yaml carried before the first fit (and 10 us per sequence, 20 us per layer).
    FitParameter("decode.compute_efficiency", "compute_efficiency", ("decode",), 0.05,
                 EFFICIENCY_CEILINGS["compute_efficiency"], True, 0.50),
    FitParameter("prefill.compute_efficiency", "compute_efficiency", ("prefill",), 0.05,
                 EFFICIENCY_CEILINGS["compute_efficiency"], True, 0.60),
    FitParameter("memory_efficiency", "memory_efficiency", ("decode", "prefill"), 0.05,
                 EFFICIENCY_CEILINGS["memory_efficiency"], True, 0.75),
    # Exposed CPU time per step: down to ~0 where the engine schedules the next step while the GPU runs this one
    # (TensorRT-LLM's overlap scheduler, SGLang's overlap scheduler, vLLM's async scheduling; 2025 docs). The bound
    # was 0.2 ms, unsourced; the fit sat on it, and at 1 us leave-one-source-out fell from 20.2% to 19.8% over all
    # rows (docs/model-notes.md, round 4).
    FitParameter("step_overhead_s", "step_overhead_s", ("decode", "prefill"), 1e-6, 0.05, True, 0.002),
    FitParameter("sequence_overhead_s", "sequence_overhead_s", ("decode", "prefill"), 1e-7, 1e-3, True, 1e-5),
    FitParameter("layer_overhead_s", "layer_overhead_s", ("decode", "prefill"), 1e-7, 1e-3, True, 2e-5),
    # decode steps replayed from CUDA graphs (batch per DP group <= perf._core.GRAPH_MAX_BATCH); only when asked
    FitParameter("graph_layer_overhead_s", "graph_layer_overhead_s", ("decode",), 1e-7, 1e-3, True, 2e-5),
    # per layer per token of a decode step's DP group: bounds 0.1 ns (none) to 100 us, start 0.1 us (assumptions of
    # the order of a few small elementwise kernels per token and layer); round 6 (docs/model-notes.md): leave-one-
    # source-out over the fitted rows 16.5% -> 15.9% with it
    FitParameter("decode.layer_token_overhead_s", "layer_token_overhead_s", ("decode",), 1e-10, 1e-4, True, 1e-7),
    FitParameter("network_efficiency", "network_efficiency", ("decode", "prefill"), 0.05, 1.0, False, 0.70),
    # the normal EP kernels' fixed cost per exchange; since round 15 it is paid only where it is below the
    # low-latency kernels' latency growing with the tokens per GPU (perf._core.ep_exchange_fixed_s), and the fit puts
    # it at its upper bound (1 ms): within the rows' batches the data never prefer it (docs/model-notes.md, round 15)
    FitParameter("alltoall_latency_s", "alltoall_latency_s", ("decode", "prefill"), 1e-6, 1e-3, False, 1e-5),
    # the share of the native HBM rate weight-only configurations reach (perf._model.build_step_model), pooled: bounds
    # 0.3 to 1.0, start 1.0 (no penalty, the model before round 28); fitted at 0.70 it took leave-one-source-out over
    # all rows from 17.12% to 16.89% (a probe at 0.75, 16.67%; docs/model-notes.md, round 28)
    FitParameter("weight_only_memory_efficiency", "weight_only_memory_efficiency", (), 0.3, 1.0, False, 1.0),
)
# Fitted once, not adopted: the low-latency EP kernels' latency growth per token per GPU past their 128-token
# buffer (PhaseEfficiency.ep_ll_token_latency_s, perf._core.ep_exchange_fixed_s), kept at round 15's assumption (25 us
# per 128 tokens). Round 17 fitted it, FitParameter("ep_ll_token_latency_s", "ep_ll_token_latency_s",
# ("decode", "prefill"), 1e-11, 1e-5, False, 25e-6 / 128), in 2,098 s: it went to its upper bound and leave-one-source-
# out over all rows moved 18.7% -> 18.9% (below 20 tokens/s per user 46% -> 40%, Qwen 35% -> 39%; docs/model-notes.md,
# round 17), so it stays unfitted.
# Not fitted: ep_imbalance (PhaseEfficiency; 1.0 unless a calibration file sets it), a scale on each deployment's
# sourced expert_load_imbalance (perf._model.expert_load_imbalance: the busiest EP rank from the per-expert load spread
# TensorRT-LLM measured, with and without EPLB; round 27). Fitted pooled in [1, 2] as the whole imbalance (round 3) it
# came out at 1.64 and moved the leave-one-source-out error from 20.5% to 20.7% over all rows (Qwen3 54% -> 37%,
# below 20 tokens/s per user 43% -> 39%, DeepSeek 27% -> 28%, 50-100 tokens/s per user 19% -> 21%): no net gain, so it
# stays out of the fit (docs/model-notes.md, "Issue-11, round 3").


# -- the stacked problem ---------------------------------------------------------------------------------------------
@dataclass
class _Stack:
    """Rows of one serving mode, every per-configuration scalar an (n, 1) array."""

    mode: str
    rows: np.ndarray  # indices into Problem.measurements
    sm: core.StepModel
    base: dict  # "phase.name" or global name -> (n, 1) array of the calibration file's values
    weight_only: np.ndarray
    family: np.ndarray  # (n,) index into Problem.families
    grid: np.ndarray  # (n, K) candidate concurrencies, padded with the row's last candidate
    l_in: np.ndarray
    l_out: np.ndarray
    ctx: np.ndarray | None
    kv_transfer: np.ndarray
    cache_hit: np.ndarray  # (n, 1) share of input tokens served from the prefix cache (0 where none is stated)
    kind: np.ndarray  # (n,) 0 output tokens/s, 1 input tokens/s, 2 TTFT seconds
    slo: dict  # SLO field -> (n, 1) array, NaN where unset


@dataclass
class Problem:
    measurements: list[Measurement]
    families: list[str]  # hardware families present, sorted
    row_family: np.ndarray  # (rows,) index into families
    row_moe: np.ndarray  # (rows,) the model is a mixture of experts
    stacks: list[_Stack]
    base_efficiency: dict[str, Efficiency]
    measured: np.ndarray
    row_engine: np.ndarray  # (rows,) index into efficiency.ENGINE_KEYS, -1 for a row naming no engine with factors
    # (rows,) index into efficiency.ATTENTION_KINDS, -1 for a model whose attention has no factor of its own
    row_attention: np.ndarray
    # (rows, len(ENGINE_KEYS)) weight of each engine key's log-factor in the row's: one-hot for a row naming its
    # engine, 1/k on the k keys of efficiency.typical_engine_keys for a row naming none (a typical engine, as
    # predict prices a workload without an engine)
    engine_weights: np.ndarray
    # (rows, len(ATTENTION_KINDS)) one-hot of row_attention (zeros for -1)
    attention_weights: np.ndarray


def _stack_fields(models: list[core.StepModel]) -> dict:
    out = {}
    for f in fields(core.StepModel):
        if f.name != "efficiency":
            out[f.name] = np.array([getattr(m, f.name) for m in models], dtype=float)[:, None]
    return out


def _grid(sm: core.StepModel, m: Measurement) -> np.ndarray:
    """The candidates :func:`tokensim.perf.operating_point` searches for this row: at a stated concurrency the batch
    ``predict`` serves, the concurrency or, when fewer sequences fit in memory, the memory limit (the rest queue; the
    memory limit does not depend on any fitted factor)."""
    probe = evaluate(sm, m.mode, np.ones(1), m.input_tokens, m.output_tokens, m.context_tokens)
    limit = float(np.asarray(probe["max_concurrency"]).reshape(-1)[0])
    if m.concurrency is not None:
        served = float(m.concurrency)
        if m.mode != "prefill" and sm.fits_weights and math.floor(limit) >= 1:
            served = served_batch(served, limit)
        return np.array([served])
    return concurrency_grid(limit if sm.fits_weights else 1.0)


def build_problem(measurements: list[Measurement], calibration_path: str | None = None) -> Problem:
    """Resolve every row once: step model, grid, workload and the family whose factors apply."""
    resolved = [instance(m.hardware, m.model, m.precision, gpus=m.instance_gpus, tp=m.tp, ep=m.ep,
                         kv_cache_precision=m.kv_cache_precision, workload=m.workload,
                         calibration_path=calibration_path)
                for m in measurements]
    families = sorted({r.hardware.family for r in resolved})
    row_family = np.array([families.index(r.hardware.family) for r in resolved])
    stacks = []
    for mode in sorted({m.mode for m in measurements}):
        idx = np.array([i for i, m in enumerate(measurements) if m.mode == mode])
        sms = [resolved[i].step_model for i in idx]
        grids = [_grid(sms[j], measurements[i]) for j, i in enumerate(idx)]
        width = max(len(g) for g in grids)
        grid = np.array([np.pad(g, (0, width - len(g)), mode="edge") for g in grids])
        base = {}
        for phase in PHASES:
            for name in PHASE_FACTORS:
                base[f"{phase}.{name}"] = np.array([getattr(resolved[i].efficiency.phase(phase), name)
                                                    for i in idx])[:, None]
        for name in GLOBAL_FACTORS:
            base[name] = np.array([getattr(resolved[i].efficiency, name) for i in idx], dtype=float)[:, None]
        col = lambda values: np.array(values, dtype=float)[:, None]  # noqa: E731
        ms = [measurements[i] for i in idx]
        slo = {k: col([getattr(m.slo_limits, k) if getattr(m.slo_limits, k) is not None else np.nan for m in ms])
               for k in ("min_tokens_per_s_per_user", "max_ttft_s", "max_tpot_s")}
        has_ctx = any(m.context_tokens is not None for m in ms)
        stacks.append(_Stack(
            mode=mode, rows=idx, sm=replace(sms[0], **_stack_fields(sms)), base=base,
            weight_only=col([resolved[i].precision.weight_only for i in idx]), family=row_family[idx], grid=grid,
            l_in=col([m.input_tokens for m in ms]), l_out=col([m.output_tokens for m in ms]),
            ctx=col([m.context_tokens if m.context_tokens is not None else m.input_tokens + 0.5 * m.output_tokens
                     for m in ms]) if has_ctx else None,
            kv_transfer=col([resolved[i].kv_transfer_s_per_token for i in idx]),
            cache_hit=col([m.cache_hit_rate or 0.0 for m in ms]),
            kind=np.array([_KINDS.index(m.kind) for m in ms]), slo=slo))
    engines = [engine_key(engine_of(m.engine), r.hardware.family) for m, r in zip(measurements, resolved, strict=True)]
    kinds = [attention_kind_of(r.model.attention_type, r.hardware.family) for r in resolved]
    row_engine = np.array([ENGINE_KEYS.index(e) if e else -1 for e in engines], dtype=int)
    row_attention = np.array([ATTENTION_KINDS.index(a) if a else -1 for a in kinds], dtype=int)
    engine_weights = np.zeros((len(measurements), len(ENGINE_KEYS)))
    for i, (e, r) in enumerate(zip(engines, resolved, strict=True)):
        typical = (e,) if e else typical_engine_keys(r.hardware.family)
        engine_weights[i, [ENGINE_KEYS.index(k) for k in typical]] = 1.0 / len(typical)
    attention_weights = np.zeros((len(measurements), len(ATTENTION_KINDS)))
    attention_weights[np.flatnonzero(row_attention >= 0), row_attention[row_attention >= 0]] = 1.0
    return Problem(measurements, families, row_family, np.array([r.model.is_moe for r in resolved]), stacks,
                   {r.hardware.family: r.efficiency.with_engine("").with_attention("") for r in resolved},
                   np.array([m.measured for m in measurements]), row_engine, row_attention, engine_weights,
                   attention_weights)


# -- parameter vector <-> factors ------------------------------------------------------------------------------------
def _layout(problem: Problem) -> list[tuple[FitParameter, int | None]]:
    """Slots of the parameter vector: (parameter, family index or None for the pooled value)."""
    slots: list[tuple[FitParameter, int | None]] = []
    for p in PARAMETERS:
        slots.append((p, None))
        if p.per_family:
            slots.extend((p, f) for f in range(len(problem.families)))
    return slots


def _start(problem: Problem, slots) -> np.ndarray:
    """Every slot at its parameter's documented starting value (log scale)."""
    return np.log([p.start for p, _ in slots])


def _current(problem: Problem, slots) -> np.ndarray:
    """The calibration file's own values (pooled: geometric mean over the families present)."""
    x = []
    for p, fam in slots:
        families = problem.families if fam is None else [problem.families[fam]]
        values = np.clip([_factor(problem.base_efficiency[f], p) for f in families], p.low * 1.0001, p.high * 0.9999)
        x.append(float(np.mean(np.log(values))))
    return np.array(x)


def _factor(eff: Efficiency, p: FitParameter) -> float:
    return getattr(eff.phase(p.phases[0]), p.name) if p.phases else getattr(eff, p.name)


def _current_keyed(problem: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The calibration file's engine factors, attention-kind factors and engine kernel factors (log scale, one per
    :data:`~tokensim.perf.efficiency.ENGINE_KEYS`, :data:`~tokensim.perf.efficiency.ATTENTION_KINDS` and ENGINE_KEYS
    entry; 0 for one without a factor): with :func:`_current`, what ``predict`` uses (:func:`predict_rows`' last three
    arguments)."""
    eff = next(iter(problem.base_efficiency.values()))
    return (np.log([eff.engine_scale(e) for e in ENGINE_KEYS]),
            np.log([eff.attention_scale(a) for a in ATTENTION_KINDS]),
            np.log([eff.engine_kernel_scale(e) for e in ENGINE_KEYS]))


def _row_values(stack: _Stack, x: np.ndarray, slots) -> dict:
    """Fitted factor values per row of a stack, keyed like ``_Stack.base``."""
    values = {}
    index = {(p.key, fam): i for i, (p, fam) in enumerate(slots)}
    for p in PARAMETERS:
        if p.per_family:
            per_family = np.exp(np.array([x[index[p.key, f]] for f in range(int(stack.family.max()) + 1)]))
            v = per_family[stack.family][:, None]
        else:
            v = np.full((len(stack.rows), 1), math.exp(x[index[p.key, None]]))
        for phase in p.phases or ("",):
            values[f"{phase}.{p.name}" if phase else p.name] = v
    return values


def _operating_points(stack: _Stack, values: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per-row (prediction, output tokens/s per user) at the operating point ``operating_point`` would choose."""
    merged = {**stack.base, **values}
    phases: dict[str, Any] = {ph: PhaseEfficiency(**{n: merged[f"{ph}.{n}"] for n in PHASE_FACTORS}) for ph in PHASES}
    factors: dict[str, Any] = {n: merged[n] for n in GLOBAL_FACTORS}
    eff = Efficiency(family="stack", interval_level=0.8, **phases, **factors)
    # the stack's step models carry the file's weight-only HBM share (build_step_model): rescale to the fitted one
    wo_share: Any = np.where(stack.weight_only > 0, merged["weight_only_memory_efficiency"]
                        / stack.base["weight_only_memory_efficiency"], 1.0)
    sm = replace(stack.sm, efficiency=eff, dequant_overhead=stack.weight_only * merged["weight_only_dequant_overhead"],
                 hbm_bytes_per_s_per_gpu=stack.sm.hbm_bytes_per_s_per_gpu * wo_share)
    with np.errstate(invalid="ignore", divide="ignore"):
        res = evaluate(sm, stack.mode, stack.grid, stack.l_in, stack.l_out, stack.ctx, stack.cache_hit,
                       stack.kv_transfer)
        ok = np.asarray(res["fits"], dtype=bool)
        for key, field, sign in (("min_tokens_per_s_per_user", "tokens_per_s_per_user", 1),
                                 ("max_ttft_s", "ttft_s", -1), ("max_tpot_s", "tpot_s", -1)):
            limit = stack.slo[key]
            ok &= np.isnan(limit) | (sign * np.asarray(res[field]) >= sign * np.nan_to_num(limit))
    # the point operating_point chooses: highest throughput of the mode's own kind within SLO and memory
    key = "input_tokens_per_s_per_gpu" if stack.mode == "prefill" else "output_tokens_per_s_per_gpu"
    select = np.broadcast_to(res[key], stack.grid.shape)
    index = np.where(ok.any(axis=1), np.argmax(np.where(ok, select, -np.inf), axis=1), 0)
    rows = np.arange(len(index))
    at = {kind: np.broadcast_to(res[key], stack.grid.shape)[rows, index]
          for kind, key in (("output", "output_tokens_per_s_per_gpu"), ("input", "input_tokens_per_s_per_gpu"),
                            ("ttft", "ttft_s"))}
    at["total"] = at["output"] + at["input"]
    speed = np.broadcast_to(res["tokens_per_s_per_user"], stack.grid.shape)[rows, index]
    return np.choose(stack.kind, [at[kind] for kind in _KINDS]), speed


def _keyed_scale(weights: np.ndarray, log_factors: np.ndarray) -> np.ndarray:
    """(n, 1) scale per row: exp of the row's weighted log-factors (``weights`` (n, keys) against ``log_factors``): a
    row's own key's factor, the geometric mean of a typical engine's, 1 for a row with no weight."""
    return np.exp(weights @ np.asarray(log_factors, dtype=float))[:, None]


def predict_rows(problem: Problem, x: np.ndarray, engine_log: np.ndarray | None = None,
                 attention_log: np.ndarray | None = None, kernel_log: np.ndarray | None = None) -> np.ndarray:
    """Per-row predictions at parameter vector ``x`` (log scale, :func:`_layout`'s slots) and, when given, each
    engine's log-scale factor (one per :data:`~tokensim.perf.efficiency.ENGINE_KEYS` entry) on :data:`ENGINE_SCALED` and
    each attention kind's (one per :data:`~tokensim.perf.efficiency.ATTENTION_KINDS` entry) on
    :data:`ATTENTION_SCALED` and each engine's kernel factor on :data:`ENGINE_KERNEL_SCALED` (capped at the ceilings,
    as :meth:`~tokensim.perf.efficiency.Efficiency.with_engine` caps them)."""
    return _evaluate_rows(problem, x, engine_log, attention_log, kernel_log)[0]


def predict_speeds(problem: Problem, x: np.ndarray, engine_log: np.ndarray | None = None,
                   attention_log: np.ndarray | None = None, kernel_log: np.ndarray | None = None) -> np.ndarray:
    """Per-row output tokens/s per user at the operating point :func:`predict_rows` evaluates (NaN for a prefill
    row), the ``tokens_per_s_per_user`` that ``predict`` reports for the row."""
    return _evaluate_rows(problem, x, engine_log, attention_log, kernel_log)[1]


def _evaluate_rows(problem: Problem, x: np.ndarray, engine_log: np.ndarray | None,
                   attention_log: np.ndarray | None,
                   kernel_log: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    slots = _layout(problem)
    out = np.empty(len(problem.measurements))
    speed = np.empty(len(problem.measurements))
    for stack in problem.stacks:
        values = _row_values(stack, x, slots)
        for log_factors, weights, keys in ((engine_log, problem.engine_weights, ENGINE_SCALED),
                                           (attention_log, problem.attention_weights, ATTENTION_SCALED),
                                           (kernel_log, problem.engine_weights, ENGINE_KERNEL_SCALED)):
            if log_factors is not None:
                scale = _keyed_scale(weights[stack.rows], log_factors)
                for key in keys:
                    values[key] = np.minimum(values[key] * scale, _CEILING_OF.get(key, np.inf))
        out[stack.rows], speed[stack.rows] = _operating_points(stack, values)
    return out, speed


# -- the fit ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FitResult:
    families: list[str]
    pooled: dict[str, float]  # parameter key -> value
    per_family: dict[str, dict[str, float]]  # family -> parameter key -> value
    rows_per_family: dict[str, int]
    x: np.ndarray
    predicted: np.ndarray  # in-sample, per row of the problem
    cost: float
    converged: bool
    source_effects: dict[str, float]  # source group -> fitted log-offset (empty when not fitted); never predicts
    # engine -> fitted factor on its decode per-layer costs (ENGINE_SCALED; empty when not fitted); predicts
    engine_scales: dict[str, float] = field(default_factory=dict)
    rows_per_engine: dict[str, int] = field(default_factory=dict)
    # attention kind -> fitted factor on its CUDA-graph decode per-layer cost (ATTENTION_SCALED; empty when not
    # fitted); predicts
    attention_scales: dict[str, float] = field(default_factory=dict)
    rows_per_attention: dict[str, int] = field(default_factory=dict)
    # in-sample output tokens/s per user at each row's operating point (NaN for prefill rows)
    predicted_tokens_per_s_per_user: np.ndarray | None = None
    # engine -> fitted factor on its decode HBM and tensor efficiency (ENGINE_KERNEL_SCALED; empty when not fitted);
    # predicts. Its rows are rows_per_engine's
    engine_kernel_scales: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PriorWidths:
    """The prior widths (log scale) of one fit, named as calibration.yaml's ``fit`` block records them: the families'
    around the pool (always > 0), and the source offsets', engine factors', attention-kind factors' and engine kernel
    factors' around 0 (0 switches that block off; the module constants say why each default is what it is)."""

    source_offset_sd: float = 0.0
    engine_sd: float = 0.0
    attention_sd: float = 0.0
    engine_kernel_sd: float = 0.0
    family_sd: float = PRIOR_LOG_SD
    # the attention kinds (efficiency.ATTENTION_KINDS) that get a factor when attention_sd > 0; the others keep the
    # pooled per-layer cost (round 21 fitted "latent-cdna" alone)
    attention_kinds: tuple[str, ...] = ATTENTION_KINDS

    def fit_block(self) -> dict[str, Any]:
        """The ``fit`` block's entries: the family width always, the others when switched on (with the attention
        widths, the kinds they fit)."""
        out: dict[str, Any] = {"family_sd": float(self.family_sd)}
        out.update({name: float(getattr(self, name)) for name in self._optional_widths() if getattr(self, name) > 0})
        if self.attention_sd > 0:
            out["attention_kinds"] = list(self.attention_kinds)
        return out

    @classmethod
    def _optional_widths(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.name not in ("family_sd", "attention_kinds")]

    @classmethod
    def from_fit_block(cls, record: dict) -> PriorWidths:
        """The widths a calibration file was fitted at; a file without ``family_sd`` was fitted at
        :data:`LEGACY_FAMILY_SD`, one without another width with that block off, one without ``attention_kinds``
        with every kind."""
        return cls(**{name: float(record.get(name) or 0.0) for name in cls._optional_widths()},
                   family_sd=float(record.get("family_sd") or LEGACY_FAMILY_SD),
                   attention_kinds=tuple(record.get("attention_kinds") or ATTENTION_KINDS))


# The fit's relative finite-difference step (scipy's ``diff_step``).
_DIFF_STEP = 1e-4


def _grouped_differences(residuals, touched: list[np.ndarray], low: np.ndarray, high: np.ndarray, diff_step: float):
    """``(fun, jac)`` for scipy's least_squares: ``fun`` is ``residuals`` remembering its last value, ``jac`` the
    forward-difference Jacobian that scipy's ``jac="2-point"`` computes at ``diff_step`` within the bounds, to the last
    bit, with fewer evaluations: columns whose ``touched`` residuals (indices into ``residuals``' vector; every other
    entry of the column is exactly 0) do not overlap are stepped together, in one evaluation (the column grouping of
    Curtis, Powell and Reid, J. Inst. Maths Applics 13, 1974; greedy, in column order). A family's factor moves only
    its family's rows, so the families' factors of one parameter share an evaluation, as do the source offsets.

    The steps are scipy's (scipy.optimize._numdiff, 1.17: ``_compute_absolute_step`` with a relative step, then
    ``_adjust_scheme_to_bounds`` one-sided); tests/test_calibration.py checks the fits equal."""
    n = len(touched)
    colours: list[list[int]] = []
    used: list[set[int]] = []
    for j, rows in enumerate(touched):
        mine = set(rows.tolist())
        for c, taken in enumerate(used):
            if not (mine & taken):
                colours[c].append(j)
                taken |= mine
                break
        else:
            colours.append([j])
            used.append(mine)
    last: dict[str, np.ndarray] = {}

    def fun(z: np.ndarray) -> np.ndarray:
        f = residuals(z)
        last["z"], last["f"] = np.array(z, copy=True), f.copy()  # a copy: scipy scales f in place for the loss
        return f

    def jac(z: np.ndarray) -> np.ndarray:
        f0 = last["f"] if "z" in last and np.array_equal(last["z"], z) else residuals(z)
        sign = np.where(z >= 0, 1.0, -1.0)
        h = diff_step * sign * np.abs(z)
        h = np.where((z + h) - z == 0, np.finfo(float).eps ** 0.5 * sign * np.maximum(1.0, np.abs(z)), h)
        below, above = z - low, high - z
        violated = (z + h < low) | (z + h > high)
        fitting = np.abs(h) <= np.maximum(below, above)
        h[violated & fitting] *= -1
        forward = (above >= below) & ~fitting
        h[forward] = above[forward]
        backward = (above < below) & ~fitting
        h[backward] = -below[backward]
        # column-major, as scipy builds its own: the trust-region solver's rounding depends on the layout
        out = np.zeros((n, len(f0))).T
        for columns in colours:
            z1 = np.array(z, dtype=float, copy=True)
            z1[columns] = z[columns] + h[columns]
            f1 = residuals(z1)
            for j in columns:
                rows, step = touched[j], (z[j] + h[j]) - z[j]
                out[:, j] = 0.0 / step  # scipy's (f1 - f0) / step where f1 == f0: a zero with the step's sign
                out[rows, j] = (f1[rows] - f0[rows]) / step
        return out

    return fun, jac


def fit(problem: Problem, train: np.ndarray | None = None, x0: np.ndarray | None = None,
        widths: PriorWidths = PriorWidths(), jacobian: str = "grouped") -> FitResult:
    """Robust least squares on ln(predicted/measured) over ``train`` rows (default all) at the prior ``widths``:
    each family's log-factors shrunk to the pooled ones with width ``family_sd`` (> 0); with
    ``source_offset_sd`` > 0 each training source group also gets a shrunk log-offset (``FitResult.source_effects``)
    that never enters a prediction; with ``engine_sd`` > 0 each engine of the training rows gets a log-factor on its
    decode per-layer costs, shrunk to 0 with that width (``FitResult.engine_scales``), which does; with
    ``attention_sd`` > 0 each attention kind of the training rows gets one on its CUDA-graph decode per-layer cost
    (``FitResult.attention_scales``), which does too; with ``engine_kernel_sd`` > 0 each engine also gets a log-factor
    on its decode HBM and tensor efficiency (``FitResult.engine_kernel_scales``), which predicts.

    A width narrower than :data:`LEGACY_FAMILY_SD` is reached by continuation: without ``x0`` the fit first runs at
    that width from the documented start, then at ``family_sd`` from its solution. Started cold at 0.075, a fold of the
    noise-free synthetic test stopped in a local minimum 8% off on a held-out row (docs/model-notes.md, round 19).

    ``jacobian``: "grouped" (:func:`_grouped_differences`: the same forward differences as scipy's, with columns that
    move disjoint residuals stepped together) or "dense" (scipy's "2-point", one evaluation per column). Both give the
    same Jacobian to the last bit, so the same fit; "dense" is the check of that."""
    if jacobian not in ("grouped", "dense"):
        raise ValueError(f"jacobian must be 'grouped' or 'dense', not {jacobian!r}")
    if x0 is None and widths.family_sd < LEGACY_FAMILY_SD:
        x0 = fit(problem, train, None, replace(widths, family_sd=LEGACY_FAMILY_SD), jacobian).x
    source_offset_sd, engine_sd, attention_sd = widths.source_offset_sd, widths.engine_sd, widths.attention_sd
    engine_kernel_sd, family_sd = widths.engine_kernel_sd, widths.family_sd
    slots = _layout(problem)
    train = np.ones(len(problem.measurements), dtype=bool) if train is None else train
    counts = np.bincount(problem.row_family[train], minlength=len(problem.families))
    pooled_of = {p.key: i for i, (p, fam) in enumerate(slots) if fam is None}
    prior = [(i, pooled_of[p.key]) for i, (p, fam) in enumerate(slots) if fam is not None]
    log_measured = np.log(problem.measured)

    # One log-offset per source group in the training rows (a random effect shrunk to 0 with sd source_offset_sd): a
    # source whose engines are all slower or faster than the rest moves its own offset, not the shared physics.
    groups = sorted({m.source_group for m, t in zip(problem.measurements, train, strict=True) if t})
    use_effects = source_offset_sd > 0 and len(groups) > 1
    group_of = np.array([groups.index(m.source_group) if m.source_group in groups else -1
                         for m in problem.measurements])
    n_phys = len(slots)
    n_groups = len(groups) if use_effects else 0
    # Keyed log-factors, after the offsets: one per engine the training rows name (on the per-layer costs), one per
    # attention kind their models have, and one more per engine (on the decode efficiencies); the others stay at 0,
    # the pooled values; each block is shrunk to 0 with its own width.
    keyed = ((ENGINE_KEYS, problem.row_engine, engine_sd), (ATTENTION_KINDS, problem.row_attention, attention_sd),
             (ENGINE_KEYS, problem.row_engine, engine_kernel_sd))
    allowed = (ENGINE_KEYS, widths.attention_kinds, ENGINE_KEYS)  # the keys each block may fit (--attention-kinds)
    fitted_keys = [sorted({int(i) for i in index[train] if i >= 0 and keys[i] in ok}) if sd > 0 else []
                   for (keys, index, sd), ok in zip(keyed, allowed, strict=True)]
    edges = np.cumsum([n_phys + n_groups] + [len(k) for k in fitted_keys])  # block b is z[edges[b]:edges[b + 1]]
    n_keyed = int(edges[-1] - edges[0])

    def keyed_logs(z) -> list[np.ndarray | None]:
        """Each block's log-factors, one per entry of its key list (None: a block not fitted)."""
        out: list[np.ndarray | None] = []
        for b, ((keys, _, _), fitted) in enumerate(zip(keyed, fitted_keys, strict=True)):
            full = np.zeros(len(keys))
            full[fitted] = z[edges[b]:edges[b + 1]]
            out.append(full if fitted else None)
        return out

    def residuals(z):
        x = z[:n_phys]
        pred = np.log(np.maximum(predict_rows(problem, x, *keyed_logs(z)), 1e-30))
        if use_effects:
            pred = pred + np.where(group_of >= 0, z[n_phys:n_phys + n_groups][group_of], 0.0)
        data = (pred - log_measured)[train]
        shrink = np.array([(x[i] - x[j]) / family_sd for i, j in prior])
        effects = z[n_phys:n_phys + n_groups] / source_offset_sd if use_effects else np.empty(0)
        priors = [z[edges[b]:edges[b + 1]] / sd for b, (_, _, sd) in enumerate(keyed) if fitted_keys[b]]
        return np.concatenate([data, shrink, effects, *priors])

    low = np.log([p.low for p, _ in slots])
    high = np.log([p.high for p, _ in slots])
    start = np.clip(_start(problem, slots) if x0 is None else x0, low + 1e-9, high - 1e-9)
    if use_effects:
        # offsets bounded to a factor of e^2 either way; every fit starts them at 0
        low, high = np.concatenate([low, np.full(len(groups), -2.0)]), np.concatenate([high, np.full(len(groups), 2.0)])
        start = np.concatenate([start, np.zeros(len(groups))])
    if n_keyed:  # engine and attention factors bounded to a factor of e^2 either way; every fit starts them at 1
        low, high = np.concatenate([low, np.full(n_keyed, -2.0)]), np.concatenate([high, np.full(n_keyed, 2.0)])
        start = np.concatenate([start, np.zeros(n_keyed)])
    from scipy.optimize import least_squares  # scipy is imported when a fit runs, not with the CLI

    if jacobian == "dense":  # scipy's own forward differences, one evaluation per column (the grouped one's oracle)
        jac: Any = "2-point"
        fun = residuals
    else:
        # Which residuals each column can move, in the order residuals() returns them: the training rows' data, the
        # families' shrinkage, the source offsets' priors, the keyed blocks' priors.
        data_family, data_group = problem.row_family[train], group_of[train]
        n_data, n_shrink = int(train.sum()), len(prior)
        touched: list[np.ndarray] = []
        for i, (p, fam) in enumerate(slots):
            rows = (np.flatnonzero(data_family == fam) if fam is not None  # a family's own factor
                    else np.empty(0, dtype=int) if p.per_family  # a pooled value only anchors the shrinkage
                    else np.arange(n_data))  # a factor with no per-family values moves every row
            shrink = [n_data + k for k, pair in enumerate(prior) if i in pair]
            touched.append(np.concatenate([rows, shrink]).astype(int))
        for g in range(n_groups):
            touched.append(np.append(np.flatnonzero(data_group == g), n_data + n_shrink + g))
        at = n_data + n_shrink + n_groups
        weights_of = (problem.engine_weights, problem.attention_weights, problem.engine_weights)
        for weights, fitted in zip(weights_of, fitted_keys, strict=True):
            for k in fitted:  # the rows naming the key, and for an engine the rows naming none on its families
                touched.append(np.append(np.flatnonzero(weights[train, k] != 0), at))
                at += 1
        fun, jac = _grouped_differences(residuals, touched, low, high, diff_step=_DIFF_STEP)
    sol = least_squares(fun, start, jac=jac, bounds=(low, high), loss="soft_l1", f_scale=LOSS_SCALE, method="trf",
                        x_scale="jac", diff_step=_DIFF_STEP, xtol=1e-10, ftol=1e-10, gtol=1e-10, max_nfev=400)
    source_effects = ({g: float(v) for g, v in zip(groups, sol.x[n_phys:n_phys + n_groups], strict=True)}
                      if use_effects else {})
    logs = keyed_logs(sol.x)
    engine_scales, attention_scales, kernel_scales = [
        {keys[i]: float(np.exp(log[i])) for i in fitted} if log is not None else {}
        for (keys, _, _), fitted, log in zip(keyed, fitted_keys, logs, strict=True)]
    rows_per_engine, rows_per_attention, rows_per_kernel = [
        {keys[i]: int(((index == i) & train).sum()) for i in fitted}
        for (keys, index, _), fitted in zip(keyed, fitted_keys, strict=True)]
    rows_per_engine = rows_per_engine or rows_per_kernel
    x = sol.x[:n_phys]
    values = np.exp(x)
    pooled = {p.key: float(values[i]) for i, (p, fam) in enumerate(slots) if fam is None}
    per_family: dict[str, dict[str, float]] = {f: {} for f in problem.families}
    for i, (p, fam) in enumerate(slots):
        if fam is not None:
            per_family[problem.families[fam]][p.key] = float(values[i])
    counted = {f: int(c) for f, c in zip(problem.families, counts, strict=False)}
    predicted, speeds = _evaluate_rows(problem, x, *logs)
    return FitResult(problem.families, pooled, per_family, counted, x, predicted, float(sol.cost), bool(sol.success),
                     source_effects, engine_scales, rows_per_engine, attention_scales, rows_per_attention, speeds,
                     kernel_scales)


def cross_validate(problem: Problem, x0: np.ndarray | None = None,
                   widths: PriorWidths = PriorWidths(), jobs: int = 1) -> np.ndarray:
    """Leave-one-source-out predictions: each source's rows predicted by a fit to every other source (sources of one
    organisation held out together: ``Measurement.source_group``)."""
    return cross_validate_points(problem, x0, widths, jobs)[0]


def cross_validate_points(problem: Problem, x0: np.ndarray | None = None,
                          widths: PriorWidths = PriorWidths(), jobs: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """:func:`cross_validate`'s predictions and, from the same fits, each row's output tokens/s per user at its
    operating point (NaN for prefill rows).

    ``jobs`` > 1 runs the folds in that many worker processes (:func:`_fits`); each fold is the same deterministic
    fit wherever it runs, so the result is the same to the last bit."""
    groups = _source_groups(problem)
    return _held_out(problem, groups, _fits(problem, x0, widths, groups, jobs))


def _source_groups(problem: Problem) -> list[str]:
    return sorted({m.source_group for m in problem.measurements})


def _held_out(problem: Problem, groups: list[str], folds: list[FitResult]) -> tuple[np.ndarray, np.ndarray]:
    """Each group's rows as its own fold (a fit without them) predicted them, and their speeds."""
    sources = np.array([m.source_group for m in problem.measurements])
    out = np.empty(len(sources))
    speed = np.empty(len(sources))
    for s, res in zip(groups, folds, strict=True):
        held = sources == s
        out[held], speed[held] = res.predicted[held], np.asarray(res.predicted_tokens_per_s_per_user)[held]
    return out, speed


def _fits(problem: Problem, x0: np.ndarray | None, widths: PriorWidths, held_out: Sequence[str | None],
          jobs: int) -> list[FitResult]:
    """One fit per entry of ``held_out``: to every row but that source group's (None: to every row), in ``jobs``
    processes when more than one (a pool whose workers each get the problem once, at start)."""
    if jobs > 1 and len(held_out) > 1:
        with _fold_pool(min(jobs, len(held_out)), problem, x0, widths) as pool:
            return pool.map(_fold, held_out, chunksize=1)
    _FOLD_STATE.update(problem=problem, x0=x0, widths=widths)
    try:
        return [_fold(group) for group in held_out]
    finally:
        _FOLD_STATE.clear()


# The problem, start and widths of the fits a process runs (set by _fold_pool's initializer in each worker).
_FOLD_STATE: dict[str, Any] = {}


def _fold(group: str | None) -> FitResult:
    """The fit to every row but ``group``'s (None: every row), from _FOLD_STATE."""
    problem = _FOLD_STATE["problem"]
    train = None if group is None else np.array([m.source_group != group for m in problem.measurements])
    return fit(problem, train=train, x0=_FOLD_STATE["x0"], widths=_FOLD_STATE["widths"])


def _fold_worker(problem: Problem, x0: np.ndarray | None, widths: PriorWidths, blas_threads: int) -> None:
    from threadpoolctl import threadpool_limits

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the parent's to handle: it ends the pool
    # the workers share the processors: each one's BLAS (the trust-region step's SVD) gets its share of them, not all
    _FOLD_STATE.update(problem=problem, x0=x0, widths=widths, blas=threadpool_limits(limits=blas_threads))


def _fold_pool(processes: int, problem: Problem, x0: np.ndarray | None, widths: PriorWidths):
    """A process pool whose workers each hold the problem once (sent at start, not with every fold) and run their
    BLAS on their share of the processors. Started by forkserver where the platform has it (a fork of this process
    could copy a lock another thread holds), else spawn. Leaving its ``with`` block, normally or on a Ctrl-C,
    terminates the workers."""
    blas_threads = max(1, default_jobs() // processes)
    return _fold_context().Pool(processes, _fold_worker, (problem, x0, widths, blas_threads))


def _fold_context():
    """The multiprocessing context of the fold workers: forkserver where the platform has it, with
    :mod:`tokensim.perf._worker_start` in its preload so that its children ignore SIGINT from their start (the
    preload applies when this process starts its forkserver, i.e. at its first pool); else spawn, whose workers
    ignore it once their initializer runs."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tokensim.perf._worker_start"])
    return context


def default_jobs() -> int:
    """The processors this process may run on: the default of ``calibrate --jobs``."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# -- intervals -------------------------------------------------------------------------------------------------------
def conformal_sigma(log_residuals: np.ndarray, level: float, z: float) -> float:
    """Width (as a log-normal std) whose ±z band holds the k-th smallest |residual| of n.

    Training-conditional split conformal (Vovk 2012): k is the smallest rank with P(Binomial(n, level) < k) ≥
    :data:`INTERVAL_CONFIDENCE`, so the interval covers at least ``level`` of new rows with that confidence, not
    merely on average over calibration sets (the plain ⌈(n+1)·level⌉ rank).
    """
    r = np.sort(np.abs(np.asarray(log_residuals, dtype=float)))
    n = len(r)
    from scipy.stats import binom

    k = int(binom.ppf(INTERVAL_CONFIDENCE, n, level)) + 1
    return max(float(r[min(k, n) - 1] / z), MIN_LOG_ERROR_STD)


_WIDTHS = (("decode", False, "log_error_std"), ("decode", True, "moe_log_error_std"),
           ("prefill", False, "log_error_std"), ("prefill", True, "moe_log_error_std"))


def interval_sigmas(prefill_rows: np.ndarray, moe_rows: np.ndarray, log_residuals: np.ndarray, level: float,
                    z: float) -> dict[tuple[str, bool], float]:
    """Interval width per phase and architecture (dense or MoE), pooled over hardware families.

    Pooled over families because that holds out of sample: a family's own width, estimated from the other sources'
    rows of that family, under-covered the held-out source (78% against 82% pooled). MoE serving (expert-parallel
    all-to-all, attention data parallelism) is less predictable than dense, so it gets its own width. A class with
    fewer than :data:`MIN_ROWS_FOR_INTERVAL` rows takes its phase's width, then the overall one.
    """
    overall = conformal_sigma(log_residuals, level, z)
    out = {}
    for phase, moe, _ in _WIDTHS:
        in_phase = prefill_rows if phase == "prefill" else ~prefill_rows
        mine = in_phase & (moe_rows == moe)
        if mine.sum() >= MIN_ROWS_FOR_INTERVAL:
            out[phase, moe] = conformal_sigma(log_residuals[mine], level, z)
        elif in_phase.sum() >= MIN_ROWS_FOR_INTERVAL:
            out[phase, moe] = conformal_sigma(log_residuals[in_phase], level, z)
        else:
            out[phase, moe] = overall
    return out


def loso_rows(problem: Problem, loso_pred: np.ndarray, level: float, z: float,
              loso_speed: np.ndarray | None = None) -> list[dict]:
    """Validation rows for cross-validated predictions; each source's intervals use the other sources' residuals
    (:func:`leave_group_out_intervals`). With ``loso_speed`` (output tokens/s per user of the same fits) each row also
    carries its ``predicted_band``."""
    rows = []
    for i, m in enumerate(problem.measurements):
        p = float(loso_pred[i])
        extra = {} if loso_speed is None else {"predicted_band": predicted_band(m, float(loso_speed[i]))}
        rows.append(row_result(m, p, p, p, **extra))  # the interval is set next
    return leave_group_out_intervals(rows, problem.measurements, level, z)


def _residual_classes(rows: list[dict], measurements: list[Measurement]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of validation ``rows`` (one per measurement): whether its residual sets the prefill width, whether its
    model is a mixture of experts, and its ln(predicted / measured): what :func:`interval_sigmas` takes."""
    cat = load_catalog()
    moe = np.array([cat.get_model(m.model).is_moe for m in measurements], dtype=bool)
    return _prefill_rows(measurements), moe, np.log([r["predicted"] / r["measured"] for r in rows])


def leave_group_out_intervals(rows: list[dict], measurements: list[Measurement], level: float,
                              z: float) -> list[dict]:
    """``rows`` (validation rows, one per measurement, each predicted out of sample: by a fit without its source
    group, or by a fit that did not take it) with each interval recomputed from every other source group's residuals
    among them, per phase and dense/MoE (:func:`interval_sigmas`): the intervals ``validate --cross-validate`` and
    ``calibrate`` report. A row's own group never sets its width."""
    if not rows:
        return []
    groups = np.array([m.source_group for m in measurements])
    prefill, moe, resid = _residual_classes(rows, measurements)
    widths: dict[str, dict] = {}
    out = []
    for i, (r, g) in enumerate(zip(rows, groups, strict=True)):
        if g not in widths:
            keep = groups != g
            widths[g] = interval_sigmas(prefill[keep], moe[keep], resid[keep], level, z)
        sig = widths[g]["prefill" if prefill[i] else "decode", bool(moe[i])]
        low, high = r["predicted"] * math.exp(-z * sig), r["predicted"] * math.exp(z * sig)
        out.append({**r, "low": low, "high": high, "inside": bool(low <= r["measured"] <= high)})
    return out


def cross_validated_rows(measurements: list[Measurement], calibration_path: str | None = None,
                         widths: PriorWidths = PriorWidths(), jobs: int = 1) -> list[dict]:
    """Validation rows of leave-one-source-out predictions (``tokensim validate --cross-validate``), the folds in
    ``jobs`` processes."""
    problem = build_problem(measurements, calibration_path)
    eff = next(iter(problem.base_efficiency.values()))
    pred, speed = cross_validate_points(problem, widths=widths, jobs=jobs)
    return loso_rows(problem, pred, eff.interval_level, eff.interval_z, speed)


# How calibration.yaml's fit.data names the rows added by fixed_concurrency_rows (validate reads it back).
FIXED_CONCURRENCY_LABEL = "fixed-concurrency rows marked calibrate: no"


def cross_validated_measurements(measurements: list[Measurement], calibration_path: str | None = None,
                                 jobs: int = 1) -> tuple[list[dict], list[dict]]:
    """Leave-one-source-out validation of a measurement file against a calibration, refitted as that calibration
    was fitted (``tokensim validate --cross-validate``).

    The rows the calibration's fit took (the fitted rows, plus the fixed-concurrency rows when its ``fit.data``
    names them) are predicted by fits to the other source groups, with per-source offsets when its
    ``fit.source_offset_sd`` is set, per-engine factors when its ``fit.engine_sd`` is, per-attention-kind factors
    when its ``fit.attention_sd`` is and per-engine kernel factors when its ``fit.engine_kernel_sd`` is; the rows no
    fit takes are
    predicted by the calibration itself, which never saw them.

    Parameters
    ----------
    measurements : list of Measurement
        Rows of a measurement file.
    calibration_path : str, optional
        The calibration YAML (default: the bundled one).
    jobs : int
        Processes the folds run in (the result does not depend on it).

    Returns
    -------
    (list of dict, list of dict)
        Validation rows, and the rows not run with their reasons.
    """
    fit_record = (load_yaml(Path(calibration_path or config_dir() / "calibration.yaml")) or {}).get("fit") or {}
    widths = PriorWidths.from_fit_block(fit_record)
    extra = ({m.id: m for m in fixed_concurrency_rows(measurements)}
             if FIXED_CONCURRENCY_LABEL in str(fit_record.get("data", "")) else {})
    fitted, rest, not_run = [], [], []
    for m in measurements:
        if m.id in extra:
            fitted.append(extra[m.id])
            continue
        if not m.calibrate:
            rest.append(m)
            continue
        try:
            plan_measurement(m)
            fitted.append(m)
        except NotRunnable as exc:
            not_run.append(not_run_result(m, exc))
    rows = cross_validated_rows(fitted, calibration_path, widths, jobs) if fitted else []
    held = validate(rest, calibration_path) if rest else {"rows": [], "not_run": []}
    # every row's interval from the other source groups' out-of-sample residuals, fitted rows and the rest alike
    by_id = {m.id: m for m in measurements}
    every = rows + held["rows"]
    eff = load_efficiency("", calibration_path)  # the file's interval level (one for every family)
    every = leave_group_out_intervals(every, [by_id[r["id"]] for r in every], eff.interval_level, eff.interval_z)
    return every, not_run + held["not_run"]


# -- which rows a fit may take -------------------------------------------------------------------------------------
def fixed_concurrency_rows(measurements: list[Measurement]) -> list[Measurement]:
    """The rows marked ``calibrate: no`` that the fit can evaluate as published (``tokensim calibrate
    --with-fixed-concurrency``).

    A row qualifies when it runs at a stated client concurrency (no SLO search, so the fit's operating point is the
    published one), is served aggregated or decode-only, reports output tokens/s (not input + output: fitting those
    151 rows made leave-one-source-out worse, docs/model-notes.md round 11), has no speculative decoding or a
    published acceptance, is its source's latest run of that deployment (not ``superseded``: an engine's earlier
    builds are not what it delivers), and ``predict`` runs its deployment. Each comes back with ``calibrate`` set and
    its concurrency per serving instance (:func:`tokensim.perf.validate.plan_measurement`).

    Parameters
    ----------
    measurements : list of Measurement
        Rows of a measurement file.

    Returns
    -------
    list of Measurement
        The qualifying rows, in file order.
    """
    out = []
    for m in measurements:
        if m.calibrate or m.concurrency is None or m.kind != "output" or m.mode not in ("aggregated", "decode"):
            continue
        if m.speculative == "not modelled" or m.slo or m.superseded:
            continue
        if is_afd(m.decode_pool):  # the fit evaluates one instance per row; attention-FFN disaggregation is two
            continue
        try:
            plan = plan_measurement(m)
            predict_measurement(m)
        except NotRunnable:
            continue
        out.append(replace(m, concurrency=plan["concurrency"], calibrate=True))
    return out


def rows_sha256(rows: list[Measurement]) -> str:
    """sha256 (hex) of the rows as fitted: id, concurrency per instance and measured value, one CSV line each.

    Parameters
    ----------
    rows : list of Measurement
        Fitted rows.

    Returns
    -------
    str
        64 hex digits.
    """
    text = "".join(f"{m.id},{m.concurrency},{m.value!r}\n" for m in rows)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- calibrate: fit, cross-validate, derive intervals, render calibration.yaml ---------------------------------------
@dataclass(frozen=True)
class Calibration:
    fit: FitResult
    loso: list[dict]  # validation rows of the leave-one-source-out predictions
    sigmas: dict[tuple[str, bool], float]  # (phase, MoE) -> interval width (log-normal std)
    fit_block: dict
    yaml_text: str

    def factors(self) -> dict:
        """Fitted factors: pooled and per family, with each family's interval width."""
        widths = {f"{ph}.{name}": self.sigmas[ph, moe] for ph, moe, name in _WIDTHS}
        out = {"pooled": {**self.fit.pooled, **widths}}
        for fam in self.fit.families:
            out[fam] = {**self.fit.per_family[fam], "rows": self.fit.rows_per_family[fam]}
        for engine in sorted({*self.fit.engine_scales, *self.fit.engine_kernel_scales}):
            out[f"engine {engine}"] = {
                **({"decode_layer_overhead_scale": self.fit.engine_scales[engine]}
                   if engine in self.fit.engine_scales else {}),
                **({"decode_kernel_efficiency_scale": self.fit.engine_kernel_scales[engine]}
                   if engine in self.fit.engine_kernel_scales else {}),
                "rows": self.fit.rows_per_engine[engine]}
        for kind, scale in self.fit.attention_scales.items():
            out[f"attention {kind}"] = {"decode_graph_layer_overhead_scale": scale,
                                        "rows": self.fit.rows_per_attention[kind]}
        return out


_HEADER = """
# Efficiency factors of the performance model, per hardware family and phase.
# Written by `tokensim calibrate` (tokensim/perf/calibration.py): robust least squares on ln(predicted/measured) over
# tokensim/data/measurements.csv, families shrunk toward the pooled value, bounded by the measured ceilings (compute
# efficiency <= 0.80: 8192^3 dense GEMM at 788-798 of 989 TFLOP/s on H100/H200; memory efficiency <= 0.90: copy at
# 3.0 of 3.35 TB/s on H100, 4.3 of 4.8 on H200; device KINDS.md, this workplace, 2026-11). `defaults` hold the pooled
# values (used by families without measurements); `families` what each family's data moved. Factors not fitted keep
# their value and source. Prediction intervals: value x exp(+/- z * width), z the normal quantile of the two-sided
# `interval_level`, width `log_error_std` (dense models) or `moe_log_error_std`: the training-conditional conformal
# quantile of the leave-one-source-out residuals. Change the data or the physics (docs/model-notes.md), not these
# numbers.
"""


def calibrate(measurements: list[Measurement], data_label: str, calibration_path: str | None = None,
              date: str | None = None, widths: PriorWidths = PriorWidths(), jobs: int = 1,
              validated: Sequence[Measurement] = ()) -> Calibration:
    """Fit the factors at the prior ``widths``, cross-validate by source, derive intervals; return the new
    calibration.yaml text, the widths recorded in its ``fit`` block (each
    family's factors shrunk to the pool with ``family_sd``, recorded in ``fit.family_sd``; with
    ``source_offset_sd`` > 0: per-source offsets in every fit, recorded in ``fit.source_offset_sd`` and, fitted to
    all rows, in ``fit.source_offsets``; with ``engine_sd`` > 0: per-engine factors in every fit, recorded in
    ``fit.engine_sd`` and, fitted to all rows, in the file's ``engines``; with ``attention_sd`` > 0 likewise per
    attention kind, in ``fit.attention_sd`` and ``attention``; with ``engine_kernel_sd`` > 0 per-engine kernel
    factors, in ``fit.engine_kernel_sd`` and ``engines``). The cross-validation's folds run in ``jobs`` processes;
    the file does not depend on it.

    The interval widths come from every out-of-sample residual there is: the fitted rows' leave-one-source-out
    residuals and, for the ``validated`` rows (those no fit takes; rows that cannot be run are left out), the
    residuals of the fit to every fitted row, which never saw them. Each cross-validated row's own interval comes
    from the other source groups' residuals only (:func:`leave_group_out_intervals`)."""
    date = date or _dt.date.today().isoformat()
    problem = build_problem(measurements, calibration_path)
    source_offset_sd, engine_sd, attention_sd = widths.source_offset_sd, widths.engine_sd, widths.attention_sd
    engine_kernel_sd, family_sd = widths.engine_kernel_sd, widths.family_sd
    groups = _source_groups(problem)
    full, *folds = _fits(problem, None, widths, [None, *groups], jobs)  # the fit to all rows, then one per group
    loso_pred, loso_speed = _held_out(problem, groups, folds)
    eff = next(iter(problem.base_efficiency.values()))
    level, z = eff.interval_level, eff.interval_z
    loso = loso_rows(problem, loso_pred, level, z, loso_speed)
    sources = len({m.source_id for m in measurements})
    stats = summarize(loso)["summary"]  # the error figures (the intervals are set below)
    fitted = (f"fitted by tokensim calibrate on {date} to {len(measurements)} rows of measurements.csv "
              f"({sources} sources); LOSO median abs error {stats['median_abs_error']:.1%}")
    defaults: dict[str, tuple[float, str]] = {}
    families: dict[str, dict[str, tuple[float, str]]] = {f: {} for f in problem.families}
    for p in PARAMETERS:
        for phase in p.phases or ("",):
            key = f"{phase}.{p.name}" if phase else p.name
            defaults[key] = (full.pooled[p.key], f"{fitted}; pooled over all families")
            if p.per_family:
                for fam in problem.families:
                    families[fam][key] = (full.per_family[fam][p.key],
                                          f"{fitted}; {full.rows_per_family[fam]} {fam} rows, shrunk to the pool")
    # prefill passes run eagerly (perf._core: no CUDA graph); the factor is written for completeness, unused
    defaults["prefill.graph_layer_overhead_s"] = (full.pooled["layer_overhead_s"], "unused: prefill passes run "
                                                  "eagerly (no CUDA graph); written equal to layer_overhead_s")
    method = (f"robust least squares (scipy least_squares, soft_l1, f_scale {LOSS_SCALE}) on ln(predicted/"
              f"measured), per-family log-factors shrunk to the pool with sd {family_sd:g}; intervals "
              f"training-conditional conformal ({INTERVAL_CONFIDENCE:.0%} confidence) on leave-one-source-out "
              "residuals" + (" and the fit's residuals on the rows it does not take" if validated else "")
              + ", per phase and dense/MoE")
    if source_offset_sd > 0:
        method += f"; per-source log-offsets shrunk to 0 with sd {source_offset_sd:g} (never predicting)"
    if engine_sd > 0:
        method += (f"; per-engine log-factors on the decode per-layer costs shrunk to 0 with sd {engine_sd:g} "
                   "(predicting for rows and users that name the engine)")
    if attention_sd > 0:
        method += (f"; per-attention-kind log-factors ({', '.join(widths.attention_kinds)}) on the CUDA-graph decode "
                   f"per-layer cost shrunk to 0 with sd {attention_sd:g} (predicting for every model of the kind)")
    if engine_kernel_sd > 0:
        method += (f"; per-engine log-factors on the decode HBM and tensor efficiency shrunk to 0 with sd "
                   f"{engine_kernel_sd:g}, capped at the measured ceilings (predicting for rows and users that name "
                   "the engine)")
    fit_block: dict[str, Any] = {
        "date": date,
        "method": method,
        "data": data_label,
        "rows": len(measurements),
        "sources": sources,
        "converged": full.converged,
        "in_sample_median_abs_error": float(np.median(np.abs(full.predicted / problem.measured - 1.0))),
        "loso_median_abs_error": float(stats["median_abs_error"]),
        "loso_interval_coverage": float(stats["interval_coverage"]),
        **widths.fit_block(),
    }
    if full.source_effects:
        fit_block["source_offsets"] = [{"group": g, "log_offset": round(v, 4)}
                                       for g, v in sorted(full.source_effects.items())]
    engines: dict[str, dict[str, tuple[float, str]]] = {}
    for e, v in full.engine_scales.items():
        engines.setdefault(e, {})["decode_layer_overhead_scale"] = (
            v, f"{fitted}; {full.rows_per_engine[e]} rows served by {e}, shrunk to 1 with sd {engine_sd:g}")
    for e, v in full.engine_kernel_scales.items():
        engines.setdefault(e, {})["decode_kernel_efficiency_scale"] = (
            v, f"{fitted}; {full.rows_per_engine[e]} rows served by {e}, shrunk to 1 with sd {engine_kernel_sd:g}")
    attentions = {a: {"decode_graph_layer_overhead_scale": (v, f"{fitted}; {full.rows_per_attention[a]} rows of {a}-"
                                                             f"attention models, shrunk to 1 with sd {attention_sd:g}")}
                  for a, v in full.attention_scales.items()}

    def render(sigmas: dict[tuple[str, bool], float], prefill: np.ndarray, moe: np.ndarray, outside: int) -> str:
        conformal = (f"conformal {level:.0%} quantile ({INTERVAL_CONFIDENCE:.0%} confidence) of out-of-sample "
                     f"|ln(pred/meas)| / z ({date}; leave-one-source-out on the fitted rows"
                     + (f", the fit itself on {outside} rows it does not take)" if outside else ")"))
        widths = {}
        for phase, is_moe, name in _WIDTHS:
            n = int(((prefill if phase == "prefill" else ~prefill) & (moe == is_moe)).sum())
            widths[f"{phase}.{name}"] = (sigmas[phase, is_moe], f"{conformal}, {n} {phase} "
                                         f"{'MoE' if is_moe else 'dense'} rows pooled over hardware families (under "
                                         f"{MIN_ROWS_FOR_INTERVAL} rows: the phase's rows, then all rows)")
        return render_calibration(fit_block, {**defaults, **widths}, families, calibration_path, header=_HEADER,
                                  engines=engines, attentions=attentions)

    # the residuals the widths come from: the fitted rows' held out, then the rows no fit takes, predicted by the fit
    # to all fitted rows (a provisional file: the widths do not change a prediction)
    rows, measured = loso, list(measurements)
    if validated:
        prefill, moe, resid = _residual_classes(rows, measured)
        provisional = render(interval_sigmas(prefill, moe, resid, level, z), prefill, moe, 0)
        with tempfile.TemporaryDirectory(prefix="tokensim-calibrate-") as folder:
            path = Path(folder) / "calibration.yaml"
            path.write_text(provisional, encoding="utf-8")
            outside = validate(list(validated), str(path))["rows"]
        by_id = {m.id: m for m in validated}
        rows, measured = loso + outside, measured + [by_id[r["id"]] for r in outside]
        loso = leave_group_out_intervals(rows, measured, level, z)[:len(loso)]
    prefill, moe, resid = _residual_classes(rows, measured)
    sigmas = interval_sigmas(prefill, moe, resid, level, z)
    fit_block["loso_interval_coverage"] = float(summarize(loso)["summary"]["interval_coverage"])
    text = render(sigmas, prefill, moe, len(rows) - len(loso))
    return Calibration(full, loso, sigmas, fit_block, text)
