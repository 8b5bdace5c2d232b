"""Inference performance: tokens per second per GPU at an operating point, the SLO-constrained optimum, the Pareto
frontier. Vectorised: :func:`evaluate` takes arrays of concurrency and workload (NumPy or CuPy) and returns arrays.

Serving modes (design §4):

* ``decode`` — decode alone at mean context L: per-GPU throughput a·B / (t_step·G), a = speculative acceptance length.
* ``prefill`` — prefill alone in chunks of ``prefill_chunk_tokens`` per attention-DP group.
* ``aggregated`` — one instance does both; each request is charged its prefill time plus its share of decode steps:
  a cycle of B requests takes B·t_prefill(request) + (L_out/a)·t_step(B), producing B·L_out output tokens.
* ``disaggregated`` — separate prefill and decode pools in the ratio that balances them; per request
  GPU-seconds = L_new/P + L_out/D (P, D per-GPU prefill and decode rates), TTFT adds the KV transfer.

Uncached input tokens (1 − cache hit rate) are computed in prefill; cached ones are read from the prefix cache.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields, replace
from statistics import NormalDist
from typing import Any, Literal, overload

import numpy as np

from .._errors import ParameterError, UserError, did_you_mean
from .._xp import array_namespace, to_numpy
from ..config.catalog import load_catalog
from ..config.hardware import Hardware
from ..config.models import ModelSpec
from ..config.precisions import Recipe, ResolvedPrecision, resolve_precision
from . import _core as core
from ._afd import AFD_SYNTAX, AfdPool, afd_decode_step, is_afd, parse_afd
from .efficiency import ENGINES, TYPICAL_ENGINE, Efficiency, attention_kind_of, load_efficiency
from .envelope import (
    MIN_ENVELOPE_ROWS,
    envelope_layout_rows,
    envelope_rows,
    envelope_sequences_per_gpu,
    layout_kind,
    speed_band,
)

__all__ = ["Deployment", "Workload", "SLO", "MODES", "BatchSearch", "Instance", "Prediction", "batch_search",
           "build_step_model", "default_deployment", "evaluate", "instance", "latency_layout", "operating_point",
           "pareto_frontier", "predict", "concurrency_grid", "POOL_KINDS", "POOL_SYNTAX", "Pool", "LayoutChoice",
           "candidate_deployments", "layout", "layout_envelope", "parse_pool", "prefill_ttft_s", "search_layout",
           "AFD_SYNTAX", "AfdPool", "build_afd_step_models", "parse_afd", "served_batch"]

MODES = ("aggregated", "disaggregated", "prefill", "decode")
_GB = 1e9
_GIB = 2.0**30  # datasheet memory capacities are binary: nvidia-smi shows H100 '80GB' as 81,559 MiB


@dataclass(frozen=True)
class Deployment:
    """One serving instance: ``gpus`` GPUs, tensor parallel ``tp`` (attention DP = gpus/(tp·pp)), expert parallel
    ``ep``, and ``pp`` pipeline stages (each stage gpus/pp GPUs holding 1/pp of the layers; prefill pools only)."""

    gpus: int
    tp: int
    ep: int
    pp: int = 1

    @property
    def dp(self) -> int:
        return self.gpus // (self.tp * self.pp)

    @property
    def stage_gpus(self) -> int:
        """GPUs of one pipeline stage (all of them without pipeline parallelism)."""
        return self.gpus // self.pp

    @property
    def label(self) -> str:
        """The layout as :func:`parse_pool` writes it: ``TP8`` (tp = gpus, ep = 1), ``TEP8`` (tp = ep = gpus),
        ``DEP8`` (tp = 1, ep = gpus), ``DTP8`` (tp = ep = 1 on more GPUs), ``PP4`` (four one-GPU pipeline stages),
        otherwise ``8GPU-TP2-EP4`` (``-PP2`` added with pipeline stages)."""
        if self.pp > 1:
            if self.pp == self.gpus:
                return f"PP{self.gpus}"
            return f"{self.gpus}GPU-TP{self.tp}-EP{self.ep}-PP{self.pp}"
        kind = layout_kind(self.gpus, self.tp, self.ep)
        return f"{self.gpus}GPU-TP{self.tp}-EP{self.ep}" if kind == "mixed" else f"{kind}{self.gpus}"


@dataclass(frozen=True)
class Workload:
    input_tokens: float
    output_tokens: float
    context_tokens: float | None = None  # decode mean context; default input + output/2
    cache_hit_rate: float = 0.0
    speculative_draft_tokens: int = 0
    speculative_acceptance_length: float = 1.0  # output tokens per decode step per sequence
    # new tokens per prefill pass of one request (the engine's chunked-prefill size): None, the calibration's
    # prefill_chunk_tokens; 0, unchunked (SGLang --chunked-prefill-size -1: the whole uncached prompt in one pass)
    prefill_chunk_tokens: float | None = None
    # the serving engine (efficiency.ENGINES), whose fitted decode factors apply; None or '': a typical engine of the
    # hardware family (efficiency.TYPICAL_ENGINE, the geometric mean of the factors of the engines serving on it)
    engine: str | None = None
    # expert-parallel load balancing (EPLB: redundant copies of the hot experts placed to even the ranks' loads), which
    # vLLM (--enable-eplb), SGLang (--enable-eplb) and TensorRT-LLM (a MoE load-balancer config) run only when asked:
    # it sets the busiest EP rank's load (expert_load_imbalance)
    expert_load_balancing: bool = False

    def __post_init__(self):
        if self.engine and self.engine not in ENGINES:
            hint = did_you_mean(self.engine, ENGINES)
            raise ParameterError("engine", f"{self.engine!r} is not an engine with fitted factors; allowed: "
                                           f"{', '.join(ENGINES)} (or none: a typical engine)"
                                           + (f"; {hint}" if hint else ""))

    @property
    def new_tokens(self) -> float:
        """Input tokens a request's prefill computes: those not served from the prefix cache (at least the last)."""
        return max(self.input_tokens * (1.0 - self.cache_hit_rate), 1.0)


@dataclass(frozen=True)
class SLO:
    min_tokens_per_s_per_user: float | None = None
    max_ttft_s: float | None = None
    max_tpot_s: float | None = None


# -- configuration ---------------------------------------------------------------------------------------------------
def _weights_per_gpu_bytes(model: ModelSpec, prec: ResolvedPrecision, dep: Deployment) -> float:
    """Weights each GPU holds: non-expert weights split by TP, routed experts over a stage's GPUs, and every layer on
    one of ``pp`` pipeline stages (an even split of the layers: an **assumption**; engines split by layer count)."""
    return (model.other_weight_params * prec.other_weight_bytes_per_param / dep.tp
            + model.routed_expert_params * prec.routed_expert_bytes_per_param / dep.stage_gpus) / dep.pp


def _check_deployment(model: ModelSpec, hardware: Hardware, dep: Deployment) -> None:
    if dep.gpus < 1 or dep.tp < 1 or dep.ep < 1 or dep.pp < 1:
        raise UserError(f"gpus, tp, ep and pp must be at least 1 (got gpus={dep.gpus}, tp={dep.tp}, ep={dep.ep}, "
                        f"pp={dep.pp})")
    if dep.gpus % dep.pp:
        raise UserError(f"pp={dep.pp} must divide gpus={dep.gpus}")
    if dep.pp > model.layers:
        raise UserError(f"pp={dep.pp} exceeds the {model.layers} layers of {model.name}")
    if dep.stage_gpus % dep.tp:
        raise UserError(f"tp={dep.tp} must divide gpus={dep.gpus}" if dep.pp == 1 else
                        f"tp={dep.tp} must divide the {dep.stage_gpus} GPUs of each of the pp={dep.pp} stages")
    if dep.stage_gpus % dep.ep:
        raise UserError(f"ep={dep.ep} must divide gpus={dep.gpus}" if dep.pp == 1 else
                        f"ep={dep.ep} must divide the {dep.stage_gpus} GPUs of each of the pp={dep.pp} stages")
    if dep.ep > 1 and not model.is_moe:
        raise UserError(f"ep={dep.ep}: {model.name} is a dense model (no experts); allowed: ep=1")
    if model.is_moe and dep.ep > model.experts:
        raise UserError(f"ep={dep.ep} exceeds the {model.experts} experts of {model.name}")
    if dep.tp > model.heads:
        raise UserError(f"tp={dep.tp} exceeds the {model.heads} attention heads of {model.name}")
    # ep=1 with tp < gpus on a MoE model is attention data-parallel over gpus/tp groups with every expert
    # tensor-parallel over all the GPUs (the DTP layout: TensorRT-LLM enable_attention_dp with moe_tensor_parallel_size
    # = gpus, SGLang --enable-dp-attention --tp gpus without --ep); the step model charges its all-gather and
    # reduce-scatter per MoE layer (tokensim.perf._core._comm_time).


def default_deployment(model: ModelSpec, prec: ResolvedPrecision, hardware: Hardware, efficiency: Efficiency,
                       gpus: int | None = None, tp: int | None = None, ep: int | None = None) -> Deployment:
    """The deployment a user gets when they give none (or only part) of ``gpus``/``tp``/``ep``.

    GPUs: the smallest power of two whose memory holds the weights with at least half of the free HBM left for KV
    cache, or the scale-up domain if that would cross it and the domain still leaves a fifth for KV. Dense models use
    tensor parallelism across the instance; MoE models use attention data parallelism with experts sharded across all
    GPUs (the DeepSeek/SGLang large-EP layout), or tensor parallelism over the instance when ``ep=1`` is given
    (``ep=1`` with ``tp=1`` is the DTP layout: attention data-parallel, every expert tensor-parallel over the
    instance).

    Parameters
    ----------
    model : ModelSpec
        The model served.
    prec : ResolvedPrecision
        Its precision recipe resolved on ``hardware`` (bytes per parameter and per KV element).
    hardware : Hardware
        The accelerator (usable HBM in GiB, scale-up domain in GPUs).
    efficiency : Efficiency
        The hardware family's efficiency factors (workspace share of HBM).
    gpus, tp, ep : int, optional
        GPUs per instance, tensor-parallel and expert-parallel sizes; each one given is kept as it is.

    Returns
    -------
    Deployment
        GPUs per instance, tensor-parallel and expert-parallel sizes.

    Raises
    ------
    UserError
        If the sizes do not fit the model (``tp`` must divide ``gpus``, at most one rank per head or expert, ...),
        naming the parameters (``tp=8 must divide gpus=12``).
    """
    if gpus is None:
        usable = hardware.hbm_usable_gib * _GIB * (1.0 - efficiency.workspace_fraction)

        def weights_share(g: int) -> float:
            trial = Deployment(g, tp or (g if not model.is_moe or ep == 1 else 1), ep or (min(g, model.experts) or 1))
            return _weights_per_gpu_bytes(model, prec, trial) / usable

        gpus = 1
        while gpus < 4096 and weights_share(gpus) > 0.5:
            gpus *= 2
        # Stay inside the scale-up domain when it still leaves a fifth of memory for KV: crossing onto the
        # scale-out network costs more than the extra KV room buys.
        domain = hardware.scale_up_domain_gpus
        if gpus > domain and weights_share(domain) <= 0.8:
            gpus = domain
    if tp is None:
        # MoE: attention data-parallel (tp 1) beside expert parallelism; with ep=1 the experts can only be split by
        # tensor parallelism over the instance (the InferenceMAX "TP8, EP1" layout)
        tp = 1 if model.is_moe and ep != 1 else min(gpus, model.heads)
    if ep is None:
        ep = min(gpus, model.experts) if model.is_moe else 1
        if gpus % ep:  # the default, not the user's: say so, naming what was given
            raise ParameterError("gpus", f"{gpus}: with no ep given, the expert-parallel size is min(gpus, the "
                                 f"{model.experts} experts of {model.name}) = {ep}, which must divide gpus; allowed: "
                                 f"a multiple of {ep}, or give ep")
    dep = Deployment(int(gpus), int(tp), int(ep))
    _check_deployment(model, hardware, dep)
    return dep


def _tp_group_gpus(model: ModelSpec, dep: Deployment) -> int:
    """GPUs of the widest tensor-parallel group: the instance when the experts are tensor-parallel beside attention
    data-parallel groups (ep 1, dp > 1, a MoE model: DTP), else the TP group."""
    return dep.gpus if model.is_moe and dep.ep == 1 and dep.dp > 1 else dep.tp


# Per-expert load spread (standard deviation over mean of the routed tokens an expert slot receives), DeepSeek-R1 on
# 32 GB200 over a translation dataset (TensorRT-LLM tech blog 4, "Scaling Expert Parallelism in TensorRT-LLM", part 1,
# Table 1, 2025). Without load balancing (EP32, 256 experts, 8 per rank): 164.1 / 128 = 1.28 per expert; the same
# table's per-rank spread, 491.6 / 1,024 = 0.48, is what independent experts with that spread give over 8 per rank
# (1.28 / sqrt(8) = 0.45). With 32 redundant experts placed by EPLB the busiest rank holds 1.11x the mean: read through
# :func:`expert_load_imbalance` at EP32, (1.11 − 1)·sqrt(8) / z(32) = 0.15 per expert.
EXPERT_LOAD_CV = 1.28
EXPERT_LOAD_CV_BALANCED = 0.15


def expert_load_imbalance(experts: int, ep: int, balanced: bool = False) -> float:
    """The busiest of ``ep`` expert-parallel ranks' routed (token, expert) copies over the mean rank's.

    Each rank holds experts / ep experts; with independent per-expert loads of spread c (:data:`EXPERT_LOAD_CV`, or
    :data:`EXPERT_LOAD_CV_BALANCED` with load balancing) a rank's load has spread c / sqrt(experts per rank), and the
    busiest of R ranks sits z(R) of those above the mean, z(R) the expected largest of R standard normal draws
    (Blom's approximation, Φ⁻¹((R − 0.375) / (R + 0.25)); z(1) = 0, z(8) = 1.42, z(32) = 2.07). It never exceeds R
    (every copy on one rank). At EP32 with 256 experts it gives 1.94 unbalanced; the source measured 2.56 (its hottest
    experts sit further out than a normal spread puts them), so it is a lower bound there.
    """
    if ep <= 1 or experts <= 0:
        return 1.0
    z = NormalDist().inv_cdf((ep - 0.375) / (ep + 0.25))
    spread = EXPERT_LOAD_CV_BALANCED if balanced else EXPERT_LOAD_CV
    return min(1.0 + spread * z / math.sqrt(max(experts / ep, 1.0)), float(ep))


def build_step_model(model: ModelSpec, prec: ResolvedPrecision, hardware: Hardware, dep: Deployment,
                     efficiency: Efficiency, workload: Workload | None = None,
                     offload_weights: bool = False) -> core.StepModel:
    """Scalars of one configuration for the vectorised arithmetic in :mod:`tokensim.perf._core`; with
    ``offload_weights`` the weights that do not fit in HBM sit in coherent host memory (:func:`_offload_bytes_per_gpu`).

    With ``dep.pp`` pipeline stages the step model is one stage's GPUs running every layer in turn: in steady state
    each stage works on a different request (or micro-batch), so per GPU the pipeline does the work of one stage-sized
    instance that holds the whole model, while each GPU holds 1/pp of the weights and of every sequence's KV cache.
    A request's prefill passes the stages one after the other: unchunked (SGLang ``chunked-prefill-size -1``) its TTFT
    is the whole pass on one stage's GPUs; chunked, its chunks overlap across the stages (:func:`prefill_ttft_s`).
    The activations handed from stage to stage are left out: per token
    hidden·2 bytes per stage boundary (DeepSeek-V3: 14 KB; a 128K-token prompt moves 1.9 GB, ~2 ms over NVLink
    against a pass of seconds). Bubbles are left out too: the pool is rate-matched, so its stages stay busy.
    """
    _check_deployment(model, hardware, dep)
    weights = _weights_per_gpu_bytes(model, prec, dep)
    pp = dep.pp
    dep = replace(dep, gpus=dep.stage_gpus, pp=1)
    workload = workload or Workload(1, 1)
    if model.attention_type == "gqa":
        kv_split = min(dep.tp, model.kv_heads)
        kv_read_replication = dep.tp / kv_split
    else:  # MLA caches one latent per token that every TP rank reads
        kv_split, kv_read_replication = 1, dep.tp
    domain = hardware.scale_up_domain_gpus
    up = 1.0 / (hardware.scale_up_bandwidth_gb_per_s * _GB)
    out = 1.0 / (hardware.scale_out_bandwidth_gb_per_s * _GB)
    # Distinct remote scale-up domains among a token's top-k experts when EP spans D domains (token's own domain
    # excluded): (D − 1)·(1 − (1 − 1/D)^k). Zero when the EP group fits in one domain.
    domains = max(1.0, dep.ep / domain)
    scale_out_copies = (domains - 1.0) * (1.0 - (1.0 - 1.0 / domains) ** model.top_k) if model.is_moe else 0.0
    offload = _offload_bytes_per_gpu(hardware, efficiency, weights) if offload_weights else 0.0
    return core.StepModel(
        gpus=dep.gpus, tp=dep.tp, dp=dep.dp, ep=dep.ep,
        peak_flops_per_gpu=hardware.peak_tflops(prec.compute_class) * 1e12,
        attention_peak_flops_per_gpu=hardware.peak_tflops(prec.attention_compute_class) * 1e12,
        max_achievable_flops_per_gpu=(hardware.achievable_tflops(prec.compute_class) or 0.0) * 1e12,
        attention_max_achievable_flops_per_gpu=(hardware.achievable_tflops(prec.attention_compute_class) or 0.0)
        * 1e12,
        # weight-only configurations (weights dequantised inside the matmul kernels) stream at the calibration's share
        # of the native rate (Efficiency.weight_only_memory_efficiency; round 28, docs/model-notes.md)
        hbm_bytes_per_s_per_gpu=hardware.hbm_bandwidth_tb_per_s * 1e12
        * (efficiency.weight_only_memory_efficiency if prec.weight_only else 1.0),
        dense_stream_bytes=model.streamed_other_weight_params * prec.other_weight_bytes_per_param,
        expert_bytes=model.params_per_routed_expert * prec.routed_expert_bytes_per_param,
        experts=model.experts, top_k=model.top_k, moe_layers=model.moe_layers,
        matmul_flops_per_token=2.0 * model.matmul_params_per_token,
        decode_attn_flops_per_ctx_token_layer=model.decode_attention_flops_per_context_token_per_layer,
        prefill_attn_flops_per_pair_layer=model.prefill_attention_flops_per_pair_per_layer,
        full_attention_layers=model.full_attention_layers, window_layers=model.sliding_window_layers,
        window_tokens=model.sliding_window_tokens,
        sparse_topk_tokens=model.sparse_topk_tokens,
        index_flops_per_ctx_token_layer=model.indexer_flops_per_context_token_per_layer,
        index_bytes_per_token_layer=model.indexer_key_bytes_per_token_per_layer, index_layers=model.indexer_layers,
        kv_bytes_per_token_layer=model.kv_elements_per_token_per_layer * prec.kv_bytes_per_element,
        kv_read_replication=kv_read_replication, kv_capacity_split=kv_split * pp,
        layers=model.layers, hidden_size=model.hidden_size, activation_bytes=prec.activation_bytes_per_element,
        tp_seconds_per_byte=up if _tp_group_gpus(model, dep) <= domain else out, ep_seconds_per_byte=up,
        ep_scale_out_copies=scale_out_copies, scale_out_seconds_per_byte=out,
        weight_bytes_per_gpu=weights - offload,
        usable_hbm_bytes_per_gpu=hardware.hbm_usable_gib * _GIB,
        dequant_overhead=efficiency.weight_only_dequant_overhead if prec.weight_only else 0.0,
        spec_tokens_per_step=1.0 + workload.speculative_draft_tokens,
        spec_acceptance_length=workload.speculative_acceptance_length,
        efficiency=efficiency,
        offload_bytes_per_gpu=offload,
        draft_stream_bytes=model.draft_pass_other_params * prec.other_weight_bytes_per_param,
        draft_matmul_flops_per_token=2.0 * (model.draft_pass_other_params
                                            + (model.top_k * model.params_per_routed_expert if model.is_moe else 0)),
        draft_moe_layers=1.0 if model.is_moe else 0.0,
        expert_flops_per_token=2.0 * model.moe_layers * model.top_k * model.params_per_routed_expert,
        expert_load_imbalance=expert_load_imbalance(model.experts, dep.ep,
                                                    workload is not None and workload.expert_load_balancing),
        state_bytes_per_sequence=model.recurrent_state_bytes_per_sequence,
        state_flops_per_token=float(model.recurrent_flops_per_token),
        # the recurrences' heads are split by the attention TP (at most one value head per GPU)
        state_capacity_split=(float(min(dep.tp, model.linear_value_heads)) if model.linear_attention_layers
                              else 1.0) * pp,
        csa_layers=float(model.csa_layers), csa_ratio=float(model.csa_ratio or 1),
        hca_layers=float(model.hca_layers), hca_ratio=float(model.hca_ratio or 1),
        index_ratio=float(model.csa_ratio or 1),
        cache_fixed_bytes_per_sequence=model.compressor_state_bytes_per_sequence,
        host_link_seconds_per_byte=(1.0 / (hardware.host_link_bandwidth_gb_per_s * _GB)
                                    if hardware.host_link_bandwidth_gb_per_s else 0.0),
    )


def _offload_bytes_per_gpu(hardware: Hardware, efficiency: Efficiency, weights_bytes: float) -> float:
    """Weights per GPU held in coherent host memory instead of HBM (vLLM weight offloading on Grace superchips).

    Asked for (the engine's weight offloading: vLLM's prefetching offloader, SGLang's on GB200), only on hardware
    with a coherent host link in the catalogue (``host_link_bandwidth_gb_per_s``) and only when the weights do not
    fit beside the workspace: then as much is offloaded as leaves half of the HBM after the workspace
    for KV cache, the share :func:`default_deployment` sizes instances by (a design rule, not a fit), if the host
    memory per GPU holds it; 0 otherwise (the deployment is then refused as not fitting).
    """
    if not hardware.host_link_bandwidth_gb_per_s or not hardware.host_memory_gb_per_gpu:
        return 0.0
    usable = hardware.hbm_usable_gib * _GIB * (1.0 - efficiency.workspace_fraction)
    if weights_bytes < usable:
        return 0.0
    offload = weights_bytes - 0.5 * usable
    return offload if offload <= hardware.host_memory_gb_per_gpu * _GB else 0.0


# -- vectorised evaluation -------------------------------------------------------------------------------------------
def _bound(xp, compute, memory, comm):
    """0 compute, 1 memory, 2 communication: the largest term."""
    return xp.where((comm > compute) & (comm > memory), 2, xp.where(compute >= memory, 0, 1))


BOUNDS = np.array(["compute", "memory", "communication"])


def evaluate(sm: core.StepModel, mode: str, concurrency, input_tokens, output_tokens, context_tokens=None,
             cache_hit_rate=0.0, kv_transfer_s_per_token: float | np.ndarray = 0.0):
    """Metrics of every operating point (arrays broadcast together); NumPy or CuPy in, the same out.

    Parameters
    ----------
    sm : StepModel
        The configuration (:func:`build_step_model`).
    mode : str
        One of :data:`MODES`.
    concurrency : array_like
        Sequences in flight per instance (ignored in ``prefill`` mode, which runs full chunks).
    input_tokens, output_tokens : array_like
        Tokens per request.
    context_tokens : array_like, optional
        Mean decode context in tokens (default input + output/2).
    cache_hit_rate : array_like
        Share of input tokens served from the prefix cache, in [0, 1].
    kv_transfer_s_per_token : float or array_like
        KV transfer time per input token (s) added to TTFT in ``disaggregated`` mode.

    Returns
    -------
    dict of arrays
        Output/input tokens per s per GPU, tokens per s per user, TTFT and TPOT (s), GPU-seconds per uncached input
        token and per output token, the memory limit on concurrency (sequences per instance), ``concurrency``,
        ``fits``, ``kv_cache_gb_per_gpu`` (GB), ``bound`` (0 compute, 1 memory, 2 communication) and, in
        ``disaggregated`` mode, ``prefill_gpu_share``.
    """
    xp = array_namespace(concurrency, input_tokens, output_tokens)
    b = xp.asarray(concurrency, dtype=float)
    l_in = xp.asarray(input_tokens, dtype=float)
    l_out = xp.asarray(output_tokens, dtype=float)
    h = xp.asarray(cache_hit_rate, dtype=float)
    l_new = xp.maximum(l_in * (1.0 - h), 1.0)
    l_cached = l_in - l_new
    a = sm.spec_acceptance_length
    chunk = sm.efficiency.prefill_chunk_tokens
    nan = xp.full(xp.broadcast(b, l_in, l_out).shape, xp.nan)
    out: dict = {}

    if mode in ("aggregated", "disaggregated", "prefill"):
        full = core.prefill_pass(sm, xp.asarray(chunk, dtype=float), l_new, l_cached)
        # instance-seconds per uncached input token when prefill runs in full chunks
        pf_s_per_token = full["t_step_s"] / (chunk * sm.dp)
        single_tokens = xp.minimum(l_new, chunk)
        single = core.prefill_pass(sm, single_tokens, l_new, l_cached)
        n_chunks = xp.ceil(l_new / chunk)
    if mode in ("aggregated", "disaggregated", "decode"):
        ctx = (xp.asarray(context_tokens, dtype=float) if context_tokens is not None
               else l_in + 0.5 * l_out)
        dec = core.decode_step(sm, b, ctx)
        t_dec = dec["t_step_s"]

    if mode == "decode":
        out_tps_gpu = a * b / (t_dec * sm.gpus)
        out.update(output_tokens_per_s_per_gpu=out_tps_gpu, input_tokens_per_s_per_gpu=0.0 * out_tps_gpu,
                   tokens_per_s_per_user=a / t_dec + 0.0 * b, ttft_s=nan, tpot_s=t_dec / a + 0.0 * b,
                   gpu_s_per_input_token=nan, gpu_s_per_output_token=t_dec * sm.gpus / (a * b),
                   max_concurrency=core.max_concurrency(sm, ctx) + 0.0 * b,
                   bound=_bound(xp, dec["t_compute_s"], dec["t_memory_s"], dec["t_comm_s"]))
    elif mode == "prefill":
        # all input tokens per uncached one: 1 / (1 - h), and finite at h = 1, where the engine still computes the
        # last prompt token (l_new is at least 1)
        in_tps_gpu = chunk * sm.dp / full["t_step_s"] / sm.gpus * (l_in / l_new)
        ttft = n_chunks * single["t_step_s"]
        out.update(output_tokens_per_s_per_gpu=0.0 * in_tps_gpu, input_tokens_per_s_per_gpu=in_tps_gpu,
                   tokens_per_s_per_user=nan, ttft_s=ttft + 0.0 * b, tpot_s=nan,
                   gpu_s_per_input_token=pf_s_per_token * sm.gpus + 0.0 * b, gpu_s_per_output_token=nan,
                   max_concurrency=core.max_concurrency(sm, l_in) + 0.0 * b,
                   bound=_bound(xp, full["t_compute_s"], full["t_memory_s"], full["t_comm_s"]) + 0 * b.astype(int))
        # in prefill mode the "concurrency" reported is the requests in one pass
        b = chunk * sm.dp / l_new + 0.0 * b
    elif mode == "aggregated":
        t_pf_req = pf_s_per_token * l_new
        cycle = b * t_pf_req + (l_out / a) * t_dec
        out_tps_gpu = b * l_out / cycle / sm.gpus
        tpot = cycle / l_out
        prefill_heavy = b * t_pf_req > (l_out / a) * t_dec
        bound = xp.where(prefill_heavy, _bound(xp, full["t_compute_s"], full["t_memory_s"], full["t_comm_s"]),
                         _bound(xp, dec["t_compute_s"], dec["t_memory_s"], dec["t_comm_s"]))
        out.update(output_tokens_per_s_per_gpu=out_tps_gpu, input_tokens_per_s_per_gpu=out_tps_gpu * l_in / l_out,
                   tokens_per_s_per_user=1.0 / tpot, ttft_s=n_chunks * (single["t_step_s"] + t_dec), tpot_s=tpot,
                   gpu_s_per_input_token=pf_s_per_token * sm.gpus + 0.0 * b,
                   gpu_s_per_output_token=t_dec * sm.gpus / (a * b),
                   max_concurrency=core.max_concurrency(sm, l_in + l_out) + 0.0 * b, bound=bound)
    elif mode == "disaggregated":
        prefill_gpu_s = pf_s_per_token * sm.gpus * l_new  # per request
        decode_gpu_s = t_dec * sm.gpus / (a * b) * l_out
        total = prefill_gpu_s + decode_gpu_s
        out_tps_gpu = l_out / total
        out.update(output_tokens_per_s_per_gpu=out_tps_gpu, input_tokens_per_s_per_gpu=out_tps_gpu * l_in / l_out,
                   tokens_per_s_per_user=a / t_dec, tpot_s=t_dec / a,
                   ttft_s=n_chunks * single["t_step_s"] + l_in * kv_transfer_s_per_token + 0.0 * b,
                   gpu_s_per_input_token=pf_s_per_token * sm.gpus + 0.0 * b,
                   gpu_s_per_output_token=t_dec * sm.gpus / (a * b),
                   prefill_gpu_share=prefill_gpu_s / total,
                   max_concurrency=core.max_concurrency(sm, l_in + l_out) + 0.0 * b,
                   bound=_bound(xp, dec["t_compute_s"], dec["t_memory_s"], dec["t_comm_s"]))
    else:
        raise UserError(f"mode '{mode}': allowed: {', '.join(MODES)}")
    out["concurrency"] = b + 0.0 * out["output_tokens_per_s_per_gpu"]
    out["fits"] = (out["concurrency"] <= out["max_concurrency"]) & (out["concurrency"] >= 1) & sm.fits_weights
    if mode != "prefill":
        out["kv_cache_gb_per_gpu"] = (out["concurrency"] / sm.dp * core.kv_bytes_per_sequence_per_gpu(
            sm, ctx if mode == "decode" else l_in + l_out, xp)) / _GB
    else:
        out["kv_cache_gb_per_gpu"] = (chunk * core.kv_bytes_per_sequence_per_gpu(sm, l_in, xp) / l_new) / _GB \
            + 0.0 * b
    return out


def concurrency_grid(max_concurrency: float, points: int = 96) -> np.ndarray:
    """Candidate batch sizes: 1 … the memory limit, geometrically spaced integers, the limit itself included.

    Parameters
    ----------
    max_concurrency : float
        The memory limit on concurrent sequences per instance (below 1 counts as 1).
    points : int
        Geometrically spaced candidates before rounding to whole batches and removing duplicates.

    Returns
    -------
    numpy.ndarray
        Sorted distinct whole batch sizes (sequences per instance, as floats), starting at 1.
    """
    top = max(1.0, float(max_concurrency))
    grid = np.unique(np.round(np.geomspace(1.0, top, points)))
    return np.unique(np.append(grid, np.floor(top)))


def _meets(res: dict, min_tokens_per_s_per_user=None, max_ttft_s=None, max_tpot_s=None) -> np.ndarray:
    """Points that fit in memory and meet every SLO bound given (bounds broadcast against the metrics)."""
    ok = np.asarray(res["fits"], dtype=bool).copy()
    with np.errstate(invalid="ignore"):
        if min_tokens_per_s_per_user is not None:
            ok &= np.asarray(res["tokens_per_s_per_user"]) >= min_tokens_per_s_per_user
        if max_ttft_s is not None:
            ok &= np.asarray(res["ttft_s"]) <= max_ttft_s
        if max_tpot_s is not None:
            ok &= np.asarray(res["tpot_s"]) <= max_tpot_s
    return ok


def _column(x):
    """A per-point array as a column against the candidate batches; scalars and None as they are."""
    return x[:, None] if isinstance(x, np.ndarray) and x.ndim == 1 else x


@dataclass(frozen=True)
class BatchSearch:
    """The batch search of :func:`batch_search` over ``m`` points, each against its own candidate batches.

    Attributes
    ----------
    concurrency : numpy.ndarray
        ``(m,)`` the chosen batch (sequences per instance): the highest-throughput candidate within the SLOs and memory,
        the smallest such batch on a tie; 1 (the first candidate) where none qualifies.
    meets_slo : numpy.ndarray
        ``(m,)`` bool: some candidate fits in memory and meets the SLOs.
    throughput : numpy.ndarray
        ``(m,)`` the chosen batch's output tokens/s per GPU (input tokens/s per GPU in ``prefill`` mode); 0 where no
        candidate qualifies.
    index : numpy.ndarray
        ``(m,)`` the chosen batch's column in ``grid``.
    grid : numpy.ndarray
        ``(m, k)`` the candidates of each point (:func:`concurrency_grid` up to its memory limit, padded with 1).
    results : dict of numpy.ndarray
        :func:`evaluate`'s metrics at every candidate, each ``(m, k)``.
    """

    concurrency: np.ndarray
    meets_slo: np.ndarray
    throughput: np.ndarray
    index: np.ndarray
    grid: np.ndarray
    results: dict[str, np.ndarray]


def _candidates(sm: core.StepModel, mode: str, input_tokens, output_tokens, context_tokens, cache_hit_rate,
                kv_transfer_s_per_token: float):
    """Every point's candidate batches and :func:`evaluate` at each: ``(grid, results)``, both ``(m, k)``."""
    l_in = np.asarray(input_tokens, dtype=float).reshape(-1)
    m = l_in.shape[0]
    l_out = np.broadcast_to(np.asarray(output_tokens, dtype=float), (m,))
    h = np.broadcast_to(np.asarray(cache_hit_rate, dtype=float), (m,))
    ctx = None if context_tokens is None else np.broadcast_to(np.asarray(context_tokens, dtype=float), (m,))
    probe = evaluate(sm, mode, np.ones(m), l_in, l_out, ctx, h, kv_transfer_s_per_token)
    limit = to_numpy(probe["max_concurrency"]) if sm.fits_weights else np.ones(m)
    tops, inverse = np.unique(np.broadcast_to(limit, (m,)), return_inverse=True)
    grids = [concurrency_grid(top) for top in tops]
    table = np.ones((len(grids), max(len(g) for g in grids)))  # padded with batch 1, which every grid holds
    for row, grid in enumerate(grids):
        table[row, :len(grid)] = grid
    batch = table[inverse.reshape(-1)]
    res = evaluate(sm, mode, batch, l_in[:, None], l_out[:, None], _column(ctx), h[:, None], kv_transfer_s_per_token)
    return batch, {k: np.broadcast_to(to_numpy(v), batch.shape) for k, v in res.items()}


def batch_search(sm: core.StepModel, mode: str, input_tokens, output_tokens, context_tokens=None,
                 cache_hit_rate=0.0, *, min_tokens_per_s_per_user=None, max_ttft_s=None, max_tpot_s=None,
                 kv_transfer_s_per_token: float = 0.0) -> BatchSearch:
    """The SLO batch search of many operating points at once (NumPy): the one search behind :func:`operating_point`,
    :func:`predict` and ``tokensim sweep``.

    Each point's candidates are the batches of :func:`concurrency_grid` up to its memory limit; the chosen batch is
    the one with the highest throughput (output tokens/s per GPU; input tokens/s per GPU in ``prefill`` mode) among
    those that fit in memory and meet the SLOs.

    Parameters
    ----------
    sm : StepModel
        The configuration (:func:`build_step_model`).
    mode : str
        One of :data:`MODES`.
    input_tokens, output_tokens : array_like
        Tokens per request, one per point (``(m,)``; output tokens may be a scalar shared by all).
    context_tokens : array_like, optional
        Mean decode context in tokens (default input + output/2).
    cache_hit_rate : array_like
        Share of input tokens served from the prefix cache, in [0, 1].
    min_tokens_per_s_per_user : float or array_like, optional
        SLO: lowest decode speed per user (tokens/s); a scalar or one per point.
    max_ttft_s, max_tpot_s : float, optional
        SLOs: longest time to first token and time per output token (s).
    kv_transfer_s_per_token : float
        KV transfer time per input token (s) added to TTFT in ``disaggregated`` mode.

    Returns
    -------
    BatchSearch
        The chosen batch, whether it meets the SLOs and its throughput per point, with every candidate's metrics.
    """
    batch, res = _candidates(sm, mode, input_tokens, output_tokens, context_tokens, cache_hit_rate,
                             kv_transfer_s_per_token)
    ok = _meets(res, _column(min_tokens_per_s_per_user), max_ttft_s, max_tpot_s)
    metric = res["input_tokens_per_s_per_gpu"] if mode == "prefill" else res["output_tokens_per_s_per_gpu"]
    score = np.where(ok, metric, -np.inf)
    index = np.argmax(score, axis=1)  # the first best: the smallest batch among ties (each grid is sorted)
    meets = np.asarray(ok.any(axis=1), dtype=bool)
    best = np.take_along_axis(score, index[:, None], axis=1)[:, 0]
    chosen = np.take_along_axis(batch, index[:, None], axis=1)[:, 0]
    return BatchSearch(concurrency=chosen, meets_slo=meets, throughput=np.where(meets, best, 0.0), index=index,
                       grid=batch, results=res)


def _row(res: dict, i: int, sm: core.StepModel) -> dict[str, Any]:
    row = {k: v[i].item() for k, v in res.items()}
    row["bound"] = str(BOUNDS[int(row["bound"])])
    row["fits"] = bool(row["fits"])
    row["concurrency"] = float(row["concurrency"])
    z = sm.efficiency.interval_z
    sigma = sm.efficiency.decode.interval_log_std(bool(sm.experts))
    value = row["output_tokens_per_s_per_gpu"]
    row["output_tokens_per_s_per_gpu_low"] = value * float(np.exp(-z * sigma))
    row["output_tokens_per_s_per_gpu_high"] = value * float(np.exp(z * sigma))
    sigma_pf = sm.efficiency.prefill.interval_log_std(bool(sm.experts))
    row["input_tokens_per_s_per_gpu_low"] = row["input_tokens_per_s_per_gpu"] * float(np.exp(-z * sigma_pf))
    row["input_tokens_per_s_per_gpu_high"] = row["input_tokens_per_s_per_gpu"] * float(np.exp(z * sigma_pf))
    return row


def operating_point(sm: core.StepModel, mode: str, workload: Workload, slo: SLO = SLO(),
                    concurrency: float | None = None, kv_transfer_s_per_token: float = 0.0) -> dict[str, Any]:
    """The highest-throughput point meeting the SLOs and memory (or the given concurrency): :func:`batch_search` on
    one point.

    Parameters
    ----------
    sm : StepModel
        The configuration (:func:`build_step_model`).
    mode : str
        One of :data:`MODES`.
    workload : Workload
        Tokens per request (input, output, decode context), cache hit rate.
    slo : SLO
        Service-level objectives (tokens/s per user, TTFT and TPOT in s); none by default.
    concurrency : float, optional
        Evaluate this batch (sequences per instance) instead of searching.
    kv_transfer_s_per_token : float
        KV transfer time per input token (s), ``disaggregated`` mode.

    Returns
    -------
    dict
        :func:`evaluate`'s metrics at the point as Python scalars (``bound`` as a name), the throughput intervals
        (``*_low``/``*_high``) and ``meets_slo``: whether any point met the SLOs; if none did, the point closest to
        meeting them (fewest sequences) is returned.
    """
    if concurrency is None:
        found = batch_search(sm, mode, np.array([float(workload.input_tokens)]), workload.output_tokens,
                             workload.context_tokens, workload.cache_hit_rate,
                             min_tokens_per_s_per_user=slo.min_tokens_per_s_per_user, max_ttft_s=slo.max_ttft_s,
                             max_tpot_s=slo.max_tpot_s, kv_transfer_s_per_token=kv_transfer_s_per_token)
        res = {k: v[0] for k, v in found.results.items()}
        i, meets = int(found.index[0]), bool(found.meets_slo[0])
    else:
        grid = np.asarray([float(concurrency)])
        out = evaluate(sm, mode, grid, workload.input_tokens, workload.output_tokens, workload.context_tokens,
                       workload.cache_hit_rate, kv_transfer_s_per_token)
        res = {k: np.broadcast_to(to_numpy(v), grid.shape) for k, v in out.items()}
        i = 0
        meets = bool(_meets(res, slo.min_tokens_per_s_per_user, slo.max_ttft_s, slo.max_tpot_s).any())
    row = _row(res, i, sm)
    row["meets_slo"] = meets
    return row


def pareto_frontier(sm: core.StepModel, mode: str, workload: Workload,
                    kv_transfer_s_per_token: float = 0.0) -> list[dict[str, Any]]:
    """Points not dominated in (tokens/s/GPU, tokens/s/user), fastest-per-user first.

    Parameters
    ----------
    sm : StepModel
        The configuration (:func:`build_step_model`).
    mode : str
        One of :data:`MODES`.
    workload : Workload
        Tokens per request, cache hit rate.
    kv_transfer_s_per_token : float
        KV transfer time per input token (s), ``disaggregated`` mode.

    Returns
    -------
    list of dict
        The frontier's points among the candidates of :func:`batch_search` that fit in memory, each as
        :func:`operating_point`'s row without ``meets_slo``.
    """
    _, found = _candidates(sm, mode, np.array([float(workload.input_tokens)]), workload.output_tokens,
                           workload.context_tokens, workload.cache_hit_rate, kv_transfer_s_per_token)
    res = {k: v[0] for k, v in found.items()}
    return [_row(res, i, sm) for i in _frontier_indices(res)]


def _frontier_indices(res: dict[str, np.ndarray]) -> list[int]:
    """Indices of the Pareto frontier among candidates (1-d metric arrays of :func:`evaluate`'s keys): those that fit,
    from the fastest per user down, each kept when it serves more output tokens/s per GPU than every faster one."""
    fits = np.asarray(res["fits"], dtype=bool)
    keep, best = [], -np.inf
    for i in np.argsort(-np.asarray(res["tokens_per_s_per_user"]), kind="stable"):
        if fits[i] and res["output_tokens_per_s_per_gpu"][i] > best:
            best = float(res["output_tokens_per_s_per_gpu"][i])
            keep.append(int(i))
    return keep


# -- one serving instance from catalogue names -----------------------------------------------------------------------
@dataclass(frozen=True)
class Instance:
    """One serving instance resolved from the catalogue: what :func:`instance` returns.

    Attributes
    ----------
    model, hardware, recipe : ModelSpec, Hardware, Recipe
        The catalogue entries (the recipe with its KV-cache format override applied).
    precision : ResolvedPrecision
        The recipe on this hardware (bytes per parameter and KV element, compute format).
    deployment : Deployment
        GPUs per instance, tensor-parallel and expert-parallel sizes.
    efficiency : Efficiency
        The hardware family's efficiency factors.
    step_model : StepModel
        The scalars :func:`evaluate` takes.
    kv_transfer_s_per_token : float
        Seconds per input token to move its KV cache between instances (``disaggregated`` mode).
    """

    model: ModelSpec
    hardware: Hardware
    recipe: Recipe
    precision: ResolvedPrecision
    deployment: Deployment
    efficiency: Efficiency
    step_model: core.StepModel
    kv_transfer_s_per_token: float


def _for_workload(eff: Efficiency, workload: Workload | None, keep_engine: bool = False) -> Efficiency:
    """The efficiency factors for the workload's engine (:meth:`Efficiency.with_engine`; a workload naming none, a
    typical engine of the family: :data:`~tokensim.perf.efficiency.TYPICAL_ENGINE`; ``keep_engine``: the engine
    ``eff`` already has) and with its chunked-prefill size in place of the calibration's (unchunked: the request's new
    tokens in one pass)."""
    if workload is None:
        return eff
    if not keep_engine:
        eff = eff.with_engine(workload.engine or TYPICAL_ENGINE)
    if workload.prefill_chunk_tokens is None:
        return eff
    return replace(eff, prefill_chunk_tokens=float(workload.prefill_chunk_tokens or workload.new_tokens))


def _instance_of(mdl: ModelSpec, hw: Hardware, recipe: Recipe, prec: ResolvedPrecision, eff: Efficiency,
                 dep: Deployment, workload: Workload | None, offload_weights: bool = False,
                 keep_engine: bool = False) -> Instance:
    eff = _for_workload(eff, workload, keep_engine)
    sm = build_step_model(mdl, prec, hw, dep, eff, workload, offload_weights)
    # what a request's prefill hands to decode (its KV cache and recurrent state at the prompt's length, the step
    # model's own accounting), spread over its input tokens; build_step_model's default workload when none is given
    prompt = max((workload or Workload(1, 1)).input_tokens, 1.0)
    kv_per_token = float(core.cache_bytes_per_sequence(sm, np.asarray(prompt), np)) / prompt
    kv_transfer = kv_per_token / (hw.scale_out_bandwidth_gb_per_s * _GB * dep.gpus)
    return Instance(mdl, hw, recipe, prec, dep, eff, sm, kv_transfer)


def instance(hardware: str, model: str, precision: str, *, gpus: int | None = None, tp: int | None = None,
             ep: int | None = None, kv_cache_precision: str | None = None, workload: Workload | None = None,
             calibration_path: str | None = None, offload_weights: bool = False) -> Instance:
    """One serving instance from catalogue names: the step model :func:`evaluate` takes and what it was built from.

    Parameters
    ----------
    hardware, model, precision : str
        Catalogue names (or aliases) of the accelerator, the model and the precision recipe.
    gpus, tp, ep : int, optional
        GPUs per instance, tensor-parallel and expert-parallel sizes (default: :func:`default_deployment`).
    kv_cache_precision : str, optional
        A format name replacing the recipe's KV-cache format.
    workload : Workload, optional
        Only its speculative decoding (draft tokens per step, acceptance length) enters the step model.
    calibration_path : str, optional
        A calibration YAML replacing the bundled efficiency factors.
    offload_weights : bool
        Hold the weights that do not fit in HBM in coherent host memory, streamed over the host link every pass
        (hardware with ``host_link_bandwidth_gb_per_s``: Grace superchips).

    Returns
    -------
    Instance

    Raises
    ------
    UserError
        For an unknown name (``field 'hardware' got 'H2000'; ... did you mean 'H200'?``) or a deployment that does
        not fit the model, naming the parameter.
    """
    mdl, hw, recipe, prec, eff = _resolve(hardware, model, precision, kv_cache_precision, calibration_path)
    dep = default_deployment(mdl, prec, hw, eff, gpus, tp, ep)
    if offload_weights and not hw.host_link_bandwidth_gb_per_s:
        raise ParameterError("offload_weights", f"{hw.name} has no coherent host link in the catalogue to stream "
                                                "offloaded weights over; allowed: hardware with "
                                                "host_link_bandwidth_gb_per_s (GB200, GB300)")
    return _instance_of(mdl, hw, recipe, prec, eff, dep, workload, offload_weights)


def latency_layout(r: Instance) -> Instance | None:
    """The tensor-parallel latency layout of a MoE instance on the same GPUs.

    Attention and experts run tensor-parallel over the instance (the largest power-of-two TP that divides its GPUs
    within the model's head count), EP 1: no all-to-all, whose per-layer dispatch/combine latency caps the per-user
    speed of the expert-parallel throughput layout.

    Parameters
    ----------
    r : Instance
        The throughput layout (:func:`instance` with neither ``tp`` nor ``ep`` given).

    Returns
    -------
    Instance or None
        The latency layout, with ``r``'s model, precision, efficiency and speculative decoding; None for a dense
        model, an instance already without expert parallelism, or when either layout's weights do not fit.
    """
    if not (r.model.is_moe and r.deployment.ep > 1 and r.step_model.fits_weights):
        return None
    g = r.deployment.gpus
    tp = g
    while tp > 1 and (tp > r.model.heads or g % tp):
        tp //= 2
    sm = r.step_model
    speculation = Workload(1, 1, speculative_draft_tokens=int(round(sm.spec_tokens_per_step - 1)),
                           speculative_acceptance_length=sm.spec_acceptance_length)
    # r's factors as they are: its engine's (or a typical engine's, or none), not those of the speculation stand-in
    alt = _instance_of(r.model, r.hardware, r.recipe, r.precision, r.efficiency, Deployment(g, tp, 1), speculation,
                       keep_engine=True)
    return alt if alt.step_model.fits_weights else None


# -- the one-call interface the CLI and other stages use -------------------------------------------------------------
@dataclass(frozen=True)
class Prediction:
    """One operating point (or one point of a Pareto frontier) of a serving instance: what :func:`predict` returns.

    Throughputs are per GPU of the instance; times in seconds; memory in GB (10^9 bytes) per GPU.
    :meth:`to_dict` gives the JSON record of ``tokensim perf``.
    """

    hardware: str
    model: str
    precision: str
    kv_cache_precision: str
    compute_format: str
    weight_only: bool
    mode: str
    gpus: int  # per instance
    tp: int
    ep: int
    input_tokens: float  # per request
    output_tokens: float
    cache_hit_rate: float
    prefill_chunk_tokens: float  # new tokens per prefill pass in force: the workload's, else the calibration's
    weights_gb_per_gpu: float
    output_tokens_per_s_per_gpu: float
    input_tokens_per_s_per_gpu: float
    tokens_per_s_per_user: float  # NaN in prefill mode
    ttft_s: float  # NaN in decode mode
    tpot_s: float  # NaN in prefill mode
    gpu_s_per_input_token: float  # GPU-seconds per uncached input token
    gpu_s_per_output_token: float
    max_concurrency: float  # the memory limit, sequences per instance
    bound: str  # compute | memory | communication
    concurrency: float  # sequences per instance (requests in one pass in prefill mode)
    fits: bool
    kv_cache_gb_per_gpu: float
    output_tokens_per_s_per_gpu_low: float
    output_tokens_per_s_per_gpu_high: float
    input_tokens_per_s_per_gpu_low: float
    input_tokens_per_s_per_gpu_high: float
    prefill_gpu_share: float | None = None  # disaggregated mode: the prefill pool's share of GPUs
    meets_slo: bool | None = None  # operating points; None on Pareto rows
    # the validated envelope (perf/envelope.py): speed band, measured rows of hardware family x model family x band,
    # and whether those are fewer than MIN_ENVELOPE_ROWS; set by predict, None when built elsewhere
    speed_band: str | None = None
    envelope_rows: int | None = None
    # the most sequences per GPU a measured row of that hardware family x model family x band served (None: no row
    # states a concurrency, or an unconstrained point); serving more is an extrapolation too
    envelope_max_sequences_per_gpu: float | None = None
    # measured rows of the hardware family x model family that ran this layout kind (TP, TEP, DEP, DTP; any band);
    # none is an extrapolation too
    envelope_layout_rows: int | None = None
    extrapolation: bool | None = None
    # which envelope tests an extrapolating point fails, in words (None inside the envelope)
    extrapolation_reason: str | None = None
    # deployments (set by the layout search and by prefill/decode pools; None otherwise): the instance layout
    # (``TEP8``; pools: ``3xTEP4 prefill + 1xDEP32 decode``), the pools, all their GPUs, and which pool limits the rate
    layout: str | None = None
    prefill_pool: str | None = None
    decode_pool: str | None = None
    total_gpus: int | None = None
    bottleneck: str | None = None  # prefill | decode | balanced (rate-matched)
    # a given concurrency beyond the memory limit: clients waiting while ``concurrency`` (the limit) are served
    waiting_sequences: float | None = None
    # disaggregated pools at a given client concurrency: clients per decode instance whose requests are in prefill,
    # its queue or KV transfer (Little's law, clients_in_decode); ``concurrency`` is the decode batch
    prefill_sequences: float | None = None
    # weights per GPU held in coherent host memory and streamed over the host link each pass (offload_weights)
    offloaded_weights_gb_per_gpu: float | None = None
    # the serving engine whose fitted factors applied (Workload.engine; None: a typical engine of the family)
    engine: str | None = None
    # expert-parallel layouts of a MoE model (ep > 1; disaggregated: the decode pool's): the busiest EP rank's routed
    # load over the mean rank's that the step times carry (expert_load_imbalance; lower with EPLB)
    expert_load_imbalance: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record as ``tokensim perf`` prints it.

        Returns
        -------
        dict
            Every field in declaration order, except that in ``disaggregated`` mode ``tpot_s`` precedes ``ttft_s``
            and ``prefill_gpu_share`` follows ``gpu_s_per_output_token``; ``prefill_gpu_share`` only in that mode and
            ``meets_slo`` only on operating points; ``speed_band``, ``envelope_rows`` and ``extrapolation`` (the
            validated envelope, :mod:`tokensim.perf.envelope`) when :func:`predict` set them.
        """
        return {name: getattr(self, name) for name in (
            _DISAGGREGATED_ORDER if self.mode == "disaggregated" else _ORDER)
            if name not in _OPTIONAL or getattr(self, name) is not None}


_OPTIONAL = ("meets_slo", "speed_band", "envelope_rows", "envelope_max_sequences_per_gpu", "envelope_layout_rows",
             "extrapolation", "extrapolation_reason", "layout",
             "prefill_pool", "decode_pool",
             "total_gpus", "bottleneck", "waiting_sequences", "prefill_sequences",
             "offloaded_weights_gb_per_gpu", "engine", "expert_load_imbalance")  # left out of to_dict when None
_ORDER = tuple(f.name for f in fields(Prediction) if f.name != "prefill_gpu_share")
_DISAGGREGATED_ORDER = tuple(_ORDER[:_ORDER.index("ttft_s")]) + (
    "tpot_s", "ttft_s", "gpu_s_per_input_token", "gpu_s_per_output_token", "prefill_gpu_share") + tuple(
    _ORDER[_ORDER.index("max_concurrency"):])


@overload
def predict(hardware: str, model: str, precision: str, workload: Workload, *, mode: str | None = ...,
            slo: SLO = ..., concurrency: int | None = ..., gpus: int | None = ..., tp: int | None = ...,
            ep: int | None = ..., kv_cache_precision: str | None = ..., pareto: Literal[False] = ...,
            calibration_path: str | None = ..., prefill: str | Pool | None = ..., decode: str | Pool | None = ...,
            search: bool = ..., offload_weights: bool = ...) -> Prediction: ...


@overload
def predict(hardware: str, model: str, precision: str, workload: Workload, *, mode: str | None = ...,
            slo: SLO = ..., concurrency: int | None = ..., gpus: int | None = ..., tp: int | None = ...,
            ep: int | None = ..., kv_cache_precision: str | None = ..., pareto: Literal[True],
            calibration_path: str | None = ..., prefill: str | Pool | None = ..., decode: str | Pool | None = ...,
            search: bool = ..., offload_weights: bool = ...) -> list[Prediction]: ...


def predict(hardware: str, model: str, precision: str, workload: Workload, *, mode: str | None = None,
            slo: SLO = SLO(), concurrency: int | None = None, gpus: int | None = None, tp: int | None = None,
            ep: int | None = None, kv_cache_precision: str | None = None, pareto: bool = False,
            calibration_path: str | None = None, prefill: str | Pool | None = None, decode: str | Pool | None = None,
            search: bool = False, offload_weights: bool = False) -> Prediction | list[Prediction]:
    """The operating point (or the Pareto frontier) of a serving instance named from the catalogue: ``tokensim perf``.

    For a MoE model with neither ``tp`` nor ``ep`` given and an SLO to meet, the search also tries the latency layout
    (:func:`latency_layout`: attention and experts tensor-parallel over the instance, no all-to-all) beside the
    throughput layout of :func:`default_deployment` (attention data-parallel, experts expert-parallel), and keeps the
    layout that serves more tokens per second per GPU within the SLO: expert-parallel decode is bound by its per-layer
    dispatch/combine latency, which caps per-user speed, so interactive serving runs tensor-parallel.

    With ``prefill`` and ``decode`` pools (``3xTEP4``, ``1xDEP32``: :func:`parse_pool`) the deployment is
    disaggregated with those pools as given: the decode batch is searched (or follows from a given client concurrency
    by Little's law), the served rate is the slower pool's and
    throughput is per GPU of both pools (``bottleneck`` names the slower pool). With ``search`` and no layout given
    (no ``gpus``, ``tp``, ``ep``, pools or ``concurrency``) the instance size and layout are searched
    (:func:`search_layout`; ``mode`` None searches aggregated and disaggregated serving) and, with ``pareto``, the
    envelope across layouts is returned (:func:`layout_envelope`).

    Parameters
    ----------
    hardware, model, precision : str
        Catalogue names (or aliases).
    workload : Workload
        Input and output tokens per request, decode context, prefix-cache hit rate, speculative decoding.
    mode : str, optional
        One of :data:`MODES` or, with ``search``, ``auto``. Default: ``aggregated``; ``disaggregated`` with pools;
        ``auto`` (aggregated or disaggregated, whichever serves more) under ``search``.
    slo : SLO
        Lowest tokens/s per user, longest TTFT and TPOT (s); none by default.
    concurrency : int, optional
        Evaluate this batch (sequences per instance) instead of searching. Beyond the memory limit the limit is served
        and the rest wait (``waiting_sequences``; per-user speed and TTFT count the wait, throughput per GPU is the
        served batch's: :func:`_queued`). With pools: clients per decode instance, of which the decode batch is those
        decoding (:func:`clients_in_decode`; ``prefill_sequences`` and ``waiting_sequences`` the others).
    gpus, tp, ep : int, optional
        GPUs per instance, tensor-parallel and expert-parallel sizes (default: :func:`default_deployment`).
    kv_cache_precision : str, optional
        A format name replacing the recipe's KV-cache format.
    pareto : bool
        Return the Pareto frontier of throughput against per-user speed instead of one point.
    calibration_path : str, optional
        A calibration YAML replacing the bundled efficiency factors.
    prefill, decode : str or Pool, optional
        The pools of a disaggregated deployment (:data:`POOL_SYNTAX`); both or neither, and not with ``gpus``/``tp``/
        ``ep``.
    search : bool
        Search the instance size and layout when none is given (:func:`search_layout`).
    offload_weights : bool
        One instance only: weights that do not fit in HBM sit in coherent host memory and stream over the host link
        each pass (:func:`instance`; ``offloaded_weights_gb_per_gpu`` reports them).

    Returns
    -------
    Prediction or list of Prediction
        The operating point; with ``pareto=True`` the frontier's points, fastest per user first.

    Raises
    ------
    UserError
        Unknown names, a deployment that does not fit, weights beyond memory, or a ``concurrency`` when not one
        sequence fits; messages name the parameters (``tp=8 must divide gpus=12``).
    """
    # attention-FFN disaggregation: decode alone (perf._afd)
    if decode is not None and not isinstance(decode, Pool) and is_afd(decode):
        given = [name for name, v in (("gpus", gpus), ("tp", tp), ("ep", ep), ("prefill", prefill)) if v is not None]
        if given:
            raise ParameterError(given[0], f"not with an attention-FFN disaggregated decode deployment "
                                           f"({AFD_SYNTAX}), which names its own GPUs and is modelled decoding alone")
        if offload_weights:
            raise ParameterError("offload_weights", "applies to one instance given by gpus, tp and ep (not to an "
                                                    "attention-FFN disaggregated deployment)")
        return _predict_afd(hardware, model, precision, workload, mode=mode, slo=slo, concurrency=concurrency,
                            kv_cache_precision=kv_cache_precision, pareto=pareto, calibration_path=calibration_path,
                            decode=decode)
    if prefill is not None or decode is not None:
        given = [name for name, v in (("gpus", gpus), ("tp", tp), ("ep", ep)) if v is not None]
        if given:
            raise ParameterError(given[0], "describes one instance; with prefill and decode pools each pool names its "
                                           f"own layout ({POOL_SYNTAX})")
    layout_given = any(v is not None for v in (gpus, tp, ep, prefill, decode))
    if offload_weights and (prefill is not None or decode is not None or (search and not layout_given
                                                                          and concurrency is None)):
        raise ParameterError("offload_weights", "applies to one instance given by gpus, tp and ep (not to pools or "
                                                "the layout search)")
    if prefill is not None or decode is not None or (search and not layout_given and concurrency is None):
        return _predict_deployment(hardware, model, precision, workload, mode=mode, slo=slo, concurrency=concurrency,
                                   kv_cache_precision=kv_cache_precision, pareto=pareto,
                                   calibration_path=calibration_path, prefill=prefill, decode=decode)
    mode = "aggregated" if mode is None else mode
    if mode == "auto":
        raise ParameterError("mode", "'auto' chooses between aggregated and disaggregated serving in the layout "
                                     "search, which runs only when no gpus, tp, ep, pools or concurrency is given")
    if mode not in MODES:
        raise UserError(f"mode={mode!r}: allowed: {', '.join(MODES)}")
    r = instance(hardware, model, precision, gpus=gpus, tp=tp, ep=ep, kv_cache_precision=kv_cache_precision,
                 workload=workload, calibration_path=calibration_path, offload_weights=offload_weights)
    has_slo = any(v is not None for v in (slo.min_tokens_per_s_per_user, slo.max_ttft_s, slo.max_tpot_s))
    if tp is None and ep is None and has_slo and not pareto and concurrency is None:
        r = _better_layout_for_slo(r, mode, workload, slo)
    header = _header(r, mode, workload)
    if r.step_model.offload_bytes_per_gpu:
        header["offloaded_weights_gb_per_gpu"] = r.step_model.offload_bytes_per_gpu / _GB
    if not r.step_model.fits_weights:
        need = r.step_model.weight_bytes_per_gpu / _GB
        usable = r.hardware.hbm_usable_gib * _GIB / _GB * (1 - r.efficiency.workspace_fraction)
        raise UserError(
            f"{r.model.name} at {r.recipe.name} does not fit on {r.deployment.gpus}x {r.hardware.name}: weights need "
            f"{need:,.1f} GB per GPU, {usable:,.1f} GB usable after workspace; use more gpus or a smaller precision"
            + (", or offload_weights (the host memory holds at most "
               f"{r.hardware.host_memory_gb_per_gpu:,.0f} GB per GPU)" if r.hardware.host_link_bandwidth_gb_per_s
               and not offload_weights else ""))
    if pareto:
        return [Prediction(**header, **row, **_envelope(r, row, True))
                for row in pareto_frontier(r.step_model, mode, workload, r.kv_transfer_s_per_token)]
    row = operating_point(r.step_model, mode, workload, slo, concurrency, r.kv_transfer_s_per_token)
    if concurrency is not None and not row["fits"] and mode != "prefill":
        served = _served_batch(row, concurrency, f"for {r.model.name} on {r.deployment.gpus}x {r.hardware.name} at "
                                                 f"{r.recipe.name}")
        row = _queued(operating_point(r.step_model, mode, workload, slo, served, r.kv_transfer_s_per_token),
                      concurrency, workload, slo)
    return Prediction(**header, **row, **_envelope(r, row, has_slo or concurrency is not None))


def served_batch(concurrency: float, max_concurrency: float) -> float:
    """The sequences served at a time by ``concurrency`` clients when ``max_concurrency`` fit in memory: all of them,
    or the whole-sequence memory limit, the rest waiting (:func:`_queued`)."""
    return min(float(concurrency), float(np.floor(max_concurrency)))


def _served_batch(row: dict[str, Any], concurrency: float, what: str) -> float:
    """The sequences served at a time when ``concurrency`` clients exceed the memory limit: the limit (at least 1)."""
    if np.floor(row["max_concurrency"]) < 1:
        raise ParameterError("concurrency", f"{concurrency}: not one sequence of this workload fits in memory {what}")
    return served_batch(concurrency, row["max_concurrency"])


def _queued(row: dict[str, Any], concurrency: float, workload: Workload, slo: SLO) -> dict[str, Any]:
    """The point of ``concurrency`` clients when only ``row["concurrency"]`` sequences fit in memory at a time.

    Engines accept more clients than fit and keep the rest waiting (vLLM and SGLang queue requests beyond their KV
    cache; TensorRT-LLM's scheduler admits up to max_num_tokens / free KV blocks): the batch is the memory limit C and
    throughput per GPU is that batch's. With N clients in a closed loop, Little's law gives each request a time in
    the system of N/C times its service time T = TTFT + L_out·TPOT, so it waits W = (N/C − 1)·T before its first
    token (added to ``ttft_s``) and decodes at C/N of the served speed over its time in the system
    (``tokens_per_s_per_user``); ``tpot_s`` stays the served step's. ``waiting_sequences`` = N − C.
    """
    served = float(row["concurrency"])
    share = served / float(concurrency)
    service_s = row["ttft_s"] + workload.output_tokens * row["tpot_s"]
    out = dict(row)
    out["tokens_per_s_per_user"] = row["tokens_per_s_per_user"] * share
    out["ttft_s"] = row["ttft_s"] + (1.0 / share - 1.0) * service_s
    out["waiting_sequences"] = float(concurrency) - served
    ok = True
    with np.errstate(invalid="ignore"):
        if slo.min_tokens_per_s_per_user is not None:
            ok &= bool(out["tokens_per_s_per_user"] >= slo.min_tokens_per_s_per_user)
        if slo.max_ttft_s is not None:
            ok &= bool(out["ttft_s"] <= slo.max_ttft_s)
        if slo.max_tpot_s is not None:
            ok &= bool(out["tpot_s"] <= slo.max_tpot_s)
    out["meets_slo"] = ok
    return out



def _count_text(value: float) -> str:
    """A count of sequences for a message: whole numbers from 10 up, two significant digits below (0.31, not 0)."""
    return f"{value:,.0f}" if value >= 10 else f"{value:.2g}"


def _envelope(r: Instance, row: dict[str, Any], constrained: bool) -> dict[str, Any]:
    """The point's speed band (``none`` for an unconstrained max-throughput point), the measured rows of its hardware
    family x model family x band, the most sequences per GPU one of them served, and whether the point lies outside
    (``extrapolation``: fewer than :data:`MIN_ENVELOPE_ROWS` rows, or more sequences per GPU than any of them)."""
    dep = r.deployment
    return _envelope_fields(r.hardware, r.model, float(row["concurrency"]) / r.step_model.gpus,
                            layout_kind(dep.gpus, dep.tp, dep.ep), dep.label, row, constrained)


def _envelope_fields(hardware: Hardware, model: ModelSpec, per_gpu: float, kind: str, label: str, row: dict[str, Any],
                     constrained: bool) -> dict[str, Any]:
    """:func:`_envelope` for a point serving ``per_gpu`` sequences per GPU on a layout of ``kind`` (named ``label``)."""
    band = speed_band(float(row["tokens_per_s_per_user"])) if constrained else "none"
    family = model.envelope_family
    rows = envelope_rows(hardware.family, family, band)
    most = envelope_sequences_per_gpu(hardware.family, family, band) if constrained else None
    beyond = most is not None and per_gpu > most
    layout_rows = envelope_layout_rows(hardware.family, family, kind)
    reasons = []
    if rows < MIN_ENVELOPE_ROWS:
        reasons.append(f"{rows} measured rows for its hardware family, model family and per-user speed band, fewer "
                       f"than {MIN_ENVELOPE_ROWS}")
    if beyond and most is not None:
        reasons.append(f"{_count_text(per_gpu)} sequences per GPU, more than any measured row of its hardware family, "
                       f"model family and per-user speed band served ({_count_text(most)})")
    if layout_rows == 0:
        reasons.append(f"no measured row of its hardware family and model family ran its layout ({label})")
    return {"speed_band": band, "envelope_rows": rows, "envelope_max_sequences_per_gpu": most,
            "envelope_layout_rows": layout_rows, "extrapolation": bool(reasons),
            "extrapolation_reason": "; ".join(reasons) or None}


def _better_layout_for_slo(r: Instance, mode: str, workload: Workload, slo: SLO) -> Instance:
    """The throughput layout ``r`` or its :func:`latency_layout`, whichever serves more within the SLO."""
    alt = latency_layout(r)
    if alt is None:
        return r
    metric = "input_tokens_per_s_per_gpu" if mode == "prefill" else "output_tokens_per_s_per_gpu"
    ours = operating_point(r.step_model, mode, workload, slo, None, r.kv_transfer_s_per_token)
    theirs = operating_point(alt.step_model, mode, workload, slo, None, alt.kv_transfer_s_per_token)
    if theirs["meets_slo"] and (not ours["meets_slo"] or theirs[metric] > ours[metric]):
        return alt
    return r


# -- deployments as people run them: layouts, disaggregated pools, the layout search ---------------------------------
#
# A layout is written KIND G: G GPUs in one instance, KIND one of
#   TP   tensor parallel over the G GPUs, experts tensor-parallel too (tp=G, ep=1)
#   TEP  tensor-parallel attention with expert parallel over the G GPUs (tp=G, ep=G)
#   DEP  attention data-parallel over the G GPUs with expert parallel (tp=1, ep=G)
#   DTP  attention data-parallel over the G GPUs with every expert tensor-parallel over them (tp=1, ep=1; TensorRT-LLM
#        enable_attention_dp with moe_tensor_parallel_size G, SGLang --enable-dp-attention without --ep)
# and a pool N x KIND G: N such instances (N defaults to 1), as docs/measurements.md writes prefill_pool/decode_pool
# (e.g. 3xTEP4, 1xDEP32; the InferenceMAX and Dynamo recipes name them so).
POOL_KINDS = ("TP", "TEP", "DEP", "DTP", "PP")
POOL_SYNTAX = ("[N x] KIND G: N instances (default 1; ? = not known, the pools then rate-matched) of G GPUs each; "
               "KIND TP (tensor parallel, experts tensor-parallel too), TEP (tensor parallel with expert parallel over "
               "the G GPUs), DEP (attention data-parallel with expert parallel over the G GPUs), DTP (attention "
               "data-parallel with every expert tensor-parallel over the G GPUs) or PP (pipeline parallel: G stages of "
               "one GPU, each holding 1/G of the layers; prefill pools only); e.g. 3xTEP4, 1xDEP32, 2xTP8, 1xDTP8, "
               "3xPP4")
_POOL_TEXT = re.compile(rf"^(?:(\d+|\?)\s*[x×*]\s*)?({'|'.join(POOL_KINDS)})\s*(\d+)$", re.IGNORECASE)
_BOTTLENECKS = np.array(["balanced", "prefill", "decode"])


def layout(kind: str, gpus: int) -> Deployment:
    """The deployment of one instance of layout ``kind`` on ``gpus`` GPUs.

    Parameters
    ----------
    kind : {"TP", "TEP", "DEP", "DTP", "PP"}
        TP: tensor parallel, experts tensor-parallel (tp = gpus, ep = 1); TEP: tensor parallel with expert parallel
        (tp = ep = gpus); DEP: attention data-parallel with expert parallel (tp = 1, ep = gpus); DTP: attention
        data-parallel with every expert tensor-parallel over the GPUs (tp = ep = 1); PP: pipeline parallel, one GPU
        per stage (pp = gpus, tp = ep = 1; SGLang ``--pp-size``, prefill pools only). Case-insensitive.
    gpus : int
        GPUs per instance (at least 1).

    Returns
    -------
    Deployment
        GPUs per instance, tensor-parallel and expert-parallel sizes (one GPU is (1, 1, 1) whatever the kind).

    Raises
    ------
    ParameterError
        ``kind`` not one of :data:`POOL_KINDS` or ``gpus`` below 1.
    """
    k = str(kind).upper()
    if k not in POOL_KINDS:
        raise ParameterError("kind", f"{kind!r}: allowed: {', '.join(POOL_KINDS)}")
    if int(gpus) < 1:
        raise ParameterError("gpus", f"{gpus}: allowed: a whole number of GPUs, at least 1")
    g = int(gpus)
    return {"TP": Deployment(g, g, 1), "TEP": Deployment(g, g, g), "DEP": Deployment(g, 1, g),
            "DTP": Deployment(g, 1, 1), "PP": Deployment(g, 1, 1, pp=g)}[k]


@dataclass(frozen=True)
class Pool:
    """``instances`` identical serving instances of one :class:`Deployment`: a prefill or a decode pool.

    Attributes
    ----------
    instances : int or None
        Instances in the pool; None when not known (``?xTEP4``): the pools are then rate-matched.
    deployment : Deployment
        One instance's GPUs, tensor-parallel and expert-parallel sizes.
    """

    instances: int | None
    deployment: Deployment

    @property
    def gpus(self) -> int | None:
        """All GPUs of the pool (None when the instance count is not known)."""
        return None if self.instances is None else self.instances * self.deployment.gpus

    @property
    def label(self) -> str:
        """``3xTEP4`` (see :func:`parse_pool`)."""
        return f"{'?' if self.instances is None else self.instances}x{self.deployment.label}"


def parse_pool(text: str | Pool, param: str = "pool") -> Pool:
    """A pool from its text, ``[N x] KIND G`` (:data:`POOL_SYNTAX`): ``3xTEP4``, ``1xDEP32``, ``TP8``.

    Parameters
    ----------
    text : str or Pool
        The pool as written (spaces, ``x``/``X``/``×``/``*`` and the kind's case do not matter); a :class:`Pool` is
        returned as it is.
    param : str
        The parameter name errors carry (``prefill``, ``decode``; the CLI shows ``--prefill``/``--decode``).

    Returns
    -------
    Pool
        Instances and one instance's deployment.

    Raises
    ------
    ParameterError
        Text that is not of that form, or a count or size below 1, naming ``param``.
    """
    if isinstance(text, Pool):
        return text
    m = _POOL_TEXT.match(str(text).strip())
    if m is None:
        raise ParameterError(param, f"{text!r}: allowed: {POOL_SYNTAX}")
    n, kind, g = (None if m[1] == "?" else int(m[1] or 1)), m[2].upper(), int(m[3])
    if (n is not None and n < 1) or g < 1:
        raise ParameterError(param, f"{text!r}: instances and GPUs per instance must be at least 1")
    return Pool(n, layout(kind, g))


def candidate_deployments(model: ModelSpec, prec: ResolvedPrecision, hardware: Hardware,
                          efficiency: Efficiency) -> list[Deployment]:
    """The instance layouts the layout search tries: every size and kind inside the scale-up (NVLink) domain.

    Sizes: 1, 2, 4, ... GPUs up to the hardware's scale-up domain, and the domain itself (72 on NVL72); when no layout
    inside one domain holds the weights, 2, 4, ... domains up to the first size that does and one size beyond (the
    instance then spans the scale-out network, as DeepSeek-V3 on 16 or 32 H100s does). Kinds: TP,
    TEP, DEP and DTP for a MoE model (:func:`layout`; TP within the head count, EP within the expert count), TP for a
    dense one (attention data-parallel over a dense model is the same as more, smaller instances). Layouts whose
    weights do not fit beside the workspace are left out. :func:`default_deployment` is added when it is not among
    them (a model too large for one domain still gets its one candidate across domains).

    Parameters
    ----------
    model : ModelSpec
        The model served.
    prec : ResolvedPrecision
        Its precision recipe on ``hardware``.
    hardware : Hardware
        The accelerator (scale-up domain in GPUs, usable HBM in GiB).
    efficiency : Efficiency
        The hardware family's efficiency factors (workspace share of HBM).

    Returns
    -------
    list of Deployment
        Distinct layouts, smallest instances first.
    """
    domain = hardware.scale_up_domain_gpus
    sizes = [1 << i for i in range(int(np.log2(domain)) + 1)]
    if sizes[-1] != domain:
        sizes.append(domain)
    usable = hardware.hbm_usable_gib * _GIB * (1.0 - efficiency.workspace_fraction)
    out: list[Deployment] = []
    # pipeline parallel is not searched: it serves prefill pools only, and the search's candidates serve every mode
    kinds = tuple(k for k in POOL_KINDS if k != "PP") if model.is_moe else ("TP",)
    spans = 1
    while spans <= 1024 and not any(
            _weights_per_gpu_bytes(model, prec, layout(k, sizes[-1])) < usable for k in kinds):
        spans *= 2
        sizes.append(domain * spans)
    if spans > 1:
        sizes.append(domain * spans * 2)
    for g in sizes:
        for kind in kinds:
            dep = layout(kind, g)
            if dep in out or _weights_per_gpu_bytes(model, prec, dep) >= usable:
                continue
            try:
                _check_deployment(model, hardware, dep)
            except UserError:
                continue
            if dep.tp > 1 and model.heads % dep.tp:
                continue
            out.append(dep)
    try:
        default = default_deployment(model, prec, hardware, efficiency)
    except UserError:
        default = None
    if default is not None and default not in out:
        out.append(default)
    return out


def _resolve(hardware: str, model: str, precision: str, kv_cache_precision: str | None,
             calibration_path: str | None) -> tuple[ModelSpec, Hardware, Recipe, ResolvedPrecision, Efficiency]:
    cat = load_catalog()
    hw = cat.get_hardware(hardware, "hardware")
    mdl = cat.get_model(model, "model")
    recipe = cat.get_recipe(precision, "precision")
    if kv_cache_precision is not None:  # an empty string is a value (refused as an unknown format), not "not given"
        recipe = recipe.with_kv_cache(cat.get_format(kv_cache_precision, "kv_cache_precision"))
    # the model's attention kind takes its own decode per-layer cost (Efficiency.with_attention)
    eff = load_efficiency(hw.family, calibration_path).with_attention(attention_kind_of(mdl.attention_type, hw.family))
    return mdl, hw, recipe, resolve_precision(recipe, hw), eff


def _prefill_side(pre: Instance, dec: Instance, workload: Workload) -> tuple[float, float]:
    """A request's prefill side in a disaggregated deployment: its TTFT without a queue (:func:`prefill_ttft_s` plus
    the KV transfer at the slower of the two instances' rates, seconds) and the prefill instance's GPU-seconds per
    uncached input token."""
    pf = evaluate(pre.step_model, "prefill", np.ones(1), workload.input_tokens, workload.output_tokens, None,
                  workload.cache_hit_rate)
    transfer = max(pre.kv_transfer_s_per_token, dec.kv_transfer_s_per_token)
    return (prefill_ttft_s(pre, workload, pf) + float(workload.input_tokens) * transfer,
            float(to_numpy(pf["gpu_s_per_input_token"])[0]))


def _pool_results(pre: Instance, dec: Instance, pools: tuple[float, float] | None, workload: Workload,
                  batch: np.ndarray, ttft_s: float | None = None) -> dict[str, np.ndarray]:
    """Metrics of a disaggregated deployment at decode batches ``batch`` (sequences per decode instance).

    Per request the prefill pool spends p = (GPU-s per uncached input token of the prefill instance)·L_new GPU-seconds
    and the decode pool d = (GPU-s per output token of the decode instance at the batch)·L_out. With ``pools`` None
    the pools are in the ratio p : d (rate-matched; ``bottleneck`` 'balanced'); with ``pools`` = (prefill GPUs,
    decode GPUs) the deployment serves min(prefill GPUs / p, decode GPUs / d) requests/s and every GPU of both pools is
    charged: output tokens/s per GPU = rate·L_out / all GPUs, and both GPU-second figures are scaled by the idle
    share so that L_new·(per input token) + L_out·(per output token) = all GPUs / rate. ``ttft_s`` replaces the
    prefill side's TTFT (:func:`clients_in_decode`: with the prefill queue at a given client concurrency).
    """
    l_in, l_out, h = float(workload.input_tokens), float(workload.output_tokens), float(workload.cache_hit_rate)
    l_new = workload.new_tokens
    ttft, gpu_s_in = _prefill_side(pre, dec, workload)
    d = evaluate(dec.step_model, "disaggregated", batch, l_in, l_out, workload.context_tokens, h)
    d = {k: np.broadcast_to(to_numpy(v), batch.shape) for k, v in d.items()}
    pre_req = gpu_s_in * l_new
    dec_req = d["gpu_s_per_output_token"] * l_out
    if pools is None:
        total = pre_req + dec_req
        share = pre_req / total
        bottleneck = np.zeros(batch.shape, dtype=int)
    else:
        g_pre, g_dec = pools
        r_pre, r_dec = g_pre / pre_req, g_dec / dec_req
        total = (g_pre + g_dec) / np.minimum(r_pre, r_dec)
        share = g_pre / (g_pre + g_dec) + 0.0 * batch
        bottleneck = np.where(r_pre < r_dec, 1, 2)
    idle = total / (pre_req + dec_req)
    out_tps = l_out / total
    res = dict(d)
    res.update(output_tokens_per_s_per_gpu=out_tps, input_tokens_per_s_per_gpu=out_tps * l_in / l_out,
               ttft_s=(ttft if ttft_s is None else ttft_s) + 0.0 * batch,
               gpu_s_per_input_token=gpu_s_in * idle, gpu_s_per_output_token=d["gpu_s_per_output_token"] * idle,
               prefill_gpu_share=share,
               # a batch below one is a time average (one client spends part of its cycle in prefill): memory holds
               # its one sequence
               fits=(np.maximum(batch, 1.0) <= d["max_concurrency"]) & bool(dec.step_model.fits_weights)
               & bool(pre.step_model.fits_weights),
               bottleneck=bottleneck)
    return res


def prefill_ttft_s(pre: Instance, workload: Workload, pf: dict | None = None) -> float:
    """A request's time to first token on a prefill instance, before its KV cache moves to decode.

    One stage: :func:`evaluate`'s prefill TTFT, the request's chunks one after another. With ``pp`` pipeline stages
    the chunks pipeline: chunk j + 1 enters the first stage while chunk j moves on. With t_j the time of chunk j on
    one stage's GPUs running every layer (the step model, :func:`build_step_model`; chunk j attends over the cached
    prefix and the chunks before it), each stage spends t_j / pp on it (an even split of the layers, an
    **assumption**), and the last chunk leaves the last stage at

        (sum_j t_j + (pp - 1) * max_j t_j) / pp,

    the makespan of a proportionate flow shop, in which each job takes the same time on every machine (Pinedo,
    *Scheduling: Theory, Algorithms, and Systems*, ch. 6: it holds for any order of the jobs). For non-decreasing t_j
    it follows by induction from C(j, s) = max(C(j - 1, s), C(j, s - 1)) + t_j / pp, whose solution is
    C(j, s) = (sum_{i<=j} t_i + (s - 1) t_j) / pp. One chunk (``Workload.prefill_chunk_tokens`` 0: unchunked) gives
    the one-stage pass. Not modelled: SGLang's dynamic chunking, which shrinks later chunks to even out the t_j (with
    it the max term is smaller).

    Parameters
    ----------
    pre : Instance
        The prefill instance.
    workload : Workload
        The request.
    pf : dict, optional
        ``evaluate(pre.step_model, "prefill", ...)`` for this workload, when the caller has it.

    Returns
    -------
    float
        Seconds.
    """
    pp = pre.deployment.pp
    if pp == 1:
        if pf is None:
            pf = evaluate(pre.step_model, "prefill", np.ones(1), workload.input_tokens, workload.output_tokens, None,
                          workload.cache_hit_rate)
        return float(to_numpy(pf["ttft_s"])[0])
    sm = pre.step_model
    l_new = workload.new_tokens
    chunk = float(sm.efficiency.prefill_chunk_tokens)
    done = np.arange(0.0, l_new, chunk)  # new tokens computed before each chunk
    size = np.minimum(chunk, l_new - done)
    t = to_numpy(core.prefill_pass(sm, size, size, workload.input_tokens - l_new + done)["t_step_s"])
    return float((t.sum() + (pp - 1) * t.max()) / pp)


def clients_in_decode(pre: Instance, dec: Instance, pools: tuple[float, float] | None, workload: Workload,
                      clients: float) -> dict[str, float]:
    """Where ``clients`` closed-loop clients per decode instance of a disaggregated deployment are (each sends its next
    request when the last one ends, as benchmarks at a fixed concurrency do).

    A request spends T = TTFT on the prefill side (:func:`prefill_ttft_s` plus its KV transfer, as
    :func:`_pool_results`) and D(B) = L_out·TPOT(B) decoding, TPOT growing with the decode batch B. By Little's law
    the sequences decoding are the request rate per decode instance times D(B). The rate is the smallest of
    N / (T + D(B)) (every client cycling through both stages), x_p (with ``pools`` given: the requests per second per
    decode instance that the prefill pool serves, :func:`_pool_results`' prefill rate over the decode instances) and
    C / D(B) (C: the sequences that fit in the decode instance's memory), so

        B = min(N·D(B) / (T + D(B)), x_p·D(B), C).

    Every term grows with B, so the iteration B ← min(...) from B = N falls monotonically to the largest fixed point.
    At the rate x = B / D(B) a request's time in the system is N / x, so its TTFT is N / x − D(B) (T when the first
    term binds; with the wait for the prefill pool or for a decode slot otherwise); x·T clients are in prefill or
    KV transfer and the remaining N − B − x·T wait.

    Returns
    -------
    dict of float
        ``batch`` (B, sequences per decode instance), ``ttft_s``, ``prefill_sequences`` (x·T) and
        ``waiting_sequences`` (N − B − x·T, 0 when neither pool's limit binds).
    """
    l_in, l_out, h = float(workload.input_tokens), float(workload.output_tokens), float(workload.cache_hit_rate)
    ttft, gpu_s_in = _prefill_side(pre, dec, workload)
    # requests/s per decode instance that the prefill pool serves (unbounded when the pools are rate-matched)
    x_pre = (math.inf if pools is None
             else pools[0] / (gpu_s_in * workload.new_tokens) / (pools[1] / dec.deployment.gpus))

    def decode(batch: float) -> dict[str, Any]:
        d = evaluate(dec.step_model, "disaggregated", np.asarray([batch]), l_in, l_out, workload.context_tokens, h)
        return {k: float(to_numpy(v).reshape(-1)[0]) for k, v in d.items() if k in ("tpot_s", "max_concurrency")}

    n = float(clients)
    # the memory limit C (at least one sequence, else the error names it); B never exceeds N, so min(N, C) caps it
    limit = _served_batch(decode(1.0), n, f"per decode instance {dec.deployment.label}")
    batch = n
    for _ in range(200):
        d = l_out * decode(batch)["tpot_s"]
        new = min(n * d / (ttft + d), x_pre * d, limit)
        done = abs(new - batch) <= 1e-12 * n
        batch = new
        if done:
            break
    d = l_out * decode(batch)["tpot_s"]
    rate = batch / d
    in_prefill = rate * ttft
    return {"batch": batch, "ttft_s": max(ttft, n / rate - d), "prefill_sequences": min(in_prefill, n - batch),
            "waiting_sequences": max(n - batch - in_prefill, 0.0)}


def _pool_point(pre: Instance, dec: Instance, pools: tuple[float, float] | None, workload: Workload, slo: SLO,
                concurrency: float | None = None, ttft_s: float | None = None) -> dict[str, Any]:
    """The best decode batch of a disaggregated deployment under the SLOs (as :func:`operating_point`), or the given
    decode batch ``concurrency`` (with ``ttft_s`` in place of the prefill side's TTFT when given)."""
    if concurrency is None:
        probe = _pool_results(pre, dec, pools, workload, np.ones(1))
        top = float(probe["max_concurrency"][0]) if dec.step_model.fits_weights else 1.0
        batch = concurrency_grid(top)
    else:
        batch = np.asarray([float(concurrency)])
    res = _pool_results(pre, dec, pools, workload, batch, ttft_s)
    ok = _meets(res, slo.min_tokens_per_s_per_user, slo.max_ttft_s, slo.max_tpot_s)
    i = int(np.argmax(np.where(ok, res["output_tokens_per_s_per_gpu"], -np.inf)))
    bottleneck = res.pop("bottleneck")
    row = _row(res, i, dec.step_model)
    row["meets_slo"] = bool(ok.any())
    row["bottleneck"] = str(_BOTTLENECKS[int(bottleneck[i])])
    return row


def _pool_frontier(pre: Instance, dec: Instance, pools: tuple[float, float] | None,
                   workload: Workload) -> list[dict[str, Any]]:
    """The Pareto frontier of a disaggregated deployment over decode batches (as :func:`pareto_frontier`)."""
    probe = _pool_results(pre, dec, pools, workload, np.ones(1))
    batch = concurrency_grid(float(probe["max_concurrency"][0]) if dec.step_model.fits_weights else 1.0)
    res = _pool_results(pre, dec, pools, workload, batch)
    codes = res.pop("bottleneck")
    return [{**_row(res, i, dec.step_model), "bottleneck": str(_BOTTLENECKS[int(codes[i])])}
            for i in _frontier_indices(res)]


def _integer_pools(pre: Deployment, dec: Deployment, prefill_share: float, max_decode_instances: int = 16,
                   target: float = 0.95) -> tuple[int, int]:
    """The fewest decode instances (and the prefill instances rounded to the rate-matched ratio) whose GPUs serve at
    least ``target`` of the rate-matched throughput per GPU; the best ratio found when none does."""
    ratio = prefill_share / max(1.0 - prefill_share, 1e-12)  # prefill GPUs per decode GPU
    best, best_eff = (1, 1), -1.0
    for n_dec in range(1, max_decode_instances + 1):
        n_pre = max(1, round(ratio * n_dec * dec.gpus / pre.gpus))
        g_pre, g_dec = n_pre * pre.gpus, n_dec * dec.gpus
        # share of the rate-matched rate per GPU: min(g_pre/share, g_dec/(1-share)) / (g_pre + g_dec)
        eff = min(g_pre / max(prefill_share, 1e-12), g_dec / max(1.0 - prefill_share, 1e-12)) / (g_pre + g_dec)
        if eff > best_eff + 1e-9:
            best, best_eff = (n_pre, n_dec), eff
        if eff >= target:
            return n_pre, n_dec
    return best


def _metric(mode: str) -> str:
    return "input_tokens_per_s_per_gpu" if mode == "prefill" else "output_tokens_per_s_per_gpu"


def _better(row: dict[str, Any], best: dict[str, Any] | None, metric: str) -> bool:
    """Whether ``row`` beats ``best``: meeting the SLO first, then the metric (ties keep the earlier, smaller layout);
    among points that all miss the SLO, the fastest per user (the closest to meeting a per-user floor)."""
    if best is None:
        return True
    if row["meets_slo"] != best["meets_slo"]:
        return bool(row["meets_slo"])
    if row["meets_slo"]:
        return bool(row[metric] > best[metric] * (1 + 1e-9))
    return bool(np.nan_to_num(row["tokens_per_s_per_user"]) > np.nan_to_num(best["tokens_per_s_per_user"]))


@dataclass(frozen=True)
class LayoutChoice:
    """What the layout search (:func:`search_layout`) found.

    Attributes
    ----------
    mode : str
        ``aggregated``, ``disaggregated``, ``prefill`` or ``decode``.
    instance : Instance
        The serving instance (the decode instance in ``disaggregated`` mode).
    prefill : Instance or None
        The prefill instance (``disaggregated`` mode).
    pools : tuple of Pool or None
        (prefill pool, decode pool) with whole instance counts (``disaggregated`` mode).
    row : dict
        :func:`operating_point`'s row at the chosen layout (with ``bottleneck`` in ``disaggregated`` mode).
    tried : int
        Layouts evaluated.
    """

    mode: str
    instance: Instance
    prefill: Instance | None
    pools: tuple[Pool, Pool] | None
    row: dict[str, Any]
    tried: int


def search_layout(hardware: str, model: str, precision: str, workload: Workload, *, mode: str = "auto",
                  slo: SLO = SLO(), kv_cache_precision: str | None = None,
                  calibration_path: str | None = None) -> LayoutChoice:
    """The instance size and layout (and, in ``auto`` mode, aggregated or disaggregated serving) that serves the most
    output tokens per second per GPU within the SLO.

    Candidates are :func:`candidate_deployments`. Aggregated, prefill and decode modes: each layout's
    :func:`operating_point`. Disaggregated: the prefill layout with the fewest GPU-seconds per input token (within
    ``max_ttft_s`` when set) paired with every decode layout, the pools rate-matched; the result is then written as
    whole pools (:func:`parse_pool` text) of at most 16 decode instances serving at least 95% of the rate-matched
    throughput per GPU, and evaluated as such. ``auto``: the better of the aggregated and disaggregated results.

    Parameters
    ----------
    hardware, model, precision : str
        Catalogue names (or aliases).
    workload : Workload
        Tokens per request, prefix-cache hit rate, speculative decoding.
    mode : str
        ``auto`` or one of :data:`MODES`.
    slo : SLO
        Lowest tokens/s per user, longest TTFT and TPOT (s).
    kv_cache_precision : str, optional
        A format name replacing the recipe's KV-cache format.
    calibration_path : str, optional
        A calibration YAML replacing the bundled efficiency factors.

    Returns
    -------
    LayoutChoice
        The chosen mode, instance(s), whole pools (disaggregated), the operating point and how many layouts were
        evaluated.

    Raises
    ------
    UserError
        Unknown names, or no layout inside the scale-up domain whose weights fit.
    """
    if mode not in (*MODES, "auto"):
        raise ParameterError("mode", f"{mode!r}: allowed: auto, {', '.join(MODES)}")
    mdl, hw, recipe, prec, eff = _resolve(hardware, model, precision, kv_cache_precision, calibration_path)
    deps = candidate_deployments(mdl, prec, hw, eff)
    if not deps:
        raise UserError(f"{mdl.name} at {recipe.name} fits no instance of {hw.name} (weights beyond the memory of "
                        f"{hw.scale_up_domain_gpus} GPUs); use a smaller precision")
    insts = [_instance_of(mdl, hw, recipe, prec, eff, dep, workload) for dep in deps]
    tried = 0
    best: LayoutChoice | None = None
    if mode in ("aggregated", "prefill", "decode", "auto"):
        one = "aggregated" if mode == "auto" else mode
        for r in insts:
            row = operating_point(r.step_model, one, workload, slo, None, r.kv_transfer_s_per_token)
            tried += 1
            if best is None or _better(row, best.row, _metric(one)):
                best = LayoutChoice(one, r, None, None, row, tried)
    if mode in ("disaggregated", "auto"):
        l_new = workload.new_tokens
        pre_best, pre_cost = None, np.inf
        for r in insts:
            pf = evaluate(r.step_model, "prefill", np.ones(1), workload.input_tokens, workload.output_tokens, None,
                          workload.cache_hit_rate)
            ttft = prefill_ttft_s(r, workload, pf) + workload.input_tokens * r.kv_transfer_s_per_token
            cost = float(to_numpy(pf["gpu_s_per_input_token"])[0]) * l_new
            if (slo.max_ttft_s is None or ttft <= slo.max_ttft_s) and cost < pre_cost * (1 - 1e-9):
                pre_best, pre_cost = r, cost
        tried += len(insts)
        if pre_best is not None:
            dis: tuple[Instance, dict[str, Any]] | None = None
            for r in insts:
                row = _pool_point(pre_best, r, None, workload, slo)
                tried += 1
                if dis is None or _better(row, dis[1], "output_tokens_per_s_per_gpu"):
                    dis = (r, row)
            assert dis is not None
            dec, matched = dis
            n_pre, n_dec = _integer_pools(pre_best.deployment, dec.deployment, matched["prefill_gpu_share"])
            pools = (Pool(n_pre, pre_best.deployment), Pool(n_dec, dec.deployment))
            row = _pool_point(pre_best, dec, (n_pre * pre_best.deployment.gpus, n_dec * dec.deployment.gpus), workload,
                              slo)
            choice = LayoutChoice("disaggregated", dec, pre_best, pools, row, tried)
            # auto: disaggregated serving replaces the aggregated choice only when it meets the SLO and serves more
            if best is None or (row["meets_slo"] and _better(row, best.row, "output_tokens_per_s_per_gpu")):
                best = choice
    assert best is not None
    return LayoutChoice(best.mode, best.instance, best.prefill, best.pools, best.row, tried)


def _header(r: Instance, mode: str, workload: Workload) -> dict[str, Any]:
    return {
        "hardware": r.hardware.name, "model": r.model.name, "precision": r.recipe.name,
        "kv_cache_precision": r.recipe.kv_cache.name, "compute_format": r.precision.compute_class,
        "weight_only": r.precision.weight_only, "mode": mode, "gpus": r.deployment.gpus, "tp": r.deployment.tp,
        "ep": r.deployment.ep, "input_tokens": workload.input_tokens, "output_tokens": workload.output_tokens,
        "cache_hit_rate": workload.cache_hit_rate, "prefill_chunk_tokens": r.efficiency.prefill_chunk_tokens,
        "weights_gb_per_gpu": r.step_model.weight_bytes_per_gpu / _GB, "engine": workload.engine or None,
        "expert_load_imbalance": (float(core.expert_load(r.step_model, r.efficiency.decode, np))
                                  if r.deployment.ep > 1 and r.model.is_moe else None),
    }


def _layout_fields(choice_mode: str, inst: Instance, pools: tuple[Pool, Pool] | None,
                   row: dict[str, Any]) -> dict[str, Any]:
    if pools is None:
        return {"layout": inst.deployment.label}
    known = (pools[0].gpus, pools[1].gpus)
    return {"layout": f"{pools[0].label} prefill + {pools[1].label} decode", "prefill_pool": pools[0].label,
            "decode_pool": pools[1].label, "total_gpus": None if None in known else sum(g or 0 for g in known),
            "bottleneck": row.pop("bottleneck")}


def _check_fits(r: Instance, param: str) -> None:
    if not r.step_model.fits_weights:
        need = r.step_model.weight_bytes_per_gpu / _GB
        usable = r.hardware.hbm_usable_gib * _GIB / _GB * (1 - r.efficiency.workspace_fraction)
        raise ParameterError(param, f"{r.deployment.label}: {r.model.name} at {r.recipe.name} does not fit on "
                                    f"{r.deployment.gpus}x {r.hardware.name}: weights need {need:,.1f} GB per GPU, "
                                    f"{usable:,.1f} GB usable after workspace; use more GPUs per instance or a "
                                    "smaller precision")


def _predict_deployment(hardware: str, model: str, precision: str, workload: Workload, *, mode: str | None,
                        slo: SLO, concurrency: int | None, kv_cache_precision: str | None, pareto: bool,
                        calibration_path: str | None, prefill: str | Pool | None, decode: str | Pool | None,
                        ) -> Prediction | list[Prediction]:
    """:func:`predict` for explicit pools or the layout search."""
    has_slo = any(v is not None for v in (slo.min_tokens_per_s_per_user, slo.max_ttft_s, slo.max_tpot_s))
    if prefill is not None or decode is not None:
        if prefill is None or decode is None:
            missing = "prefill" if prefill is None else "decode"
            raise ParameterError(missing, f"missing: a disaggregated deployment needs both pools ({POOL_SYNTAX})")
        if mode not in (None, "disaggregated"):
            raise ParameterError("mode", f"{mode!r}: prefill and decode pools serve in disaggregated mode; allowed: "
                                         "disaggregated")
        pools = (parse_pool(prefill, "prefill"), parse_pool(decode, "decode"))
        if pools[1].deployment.pp > 1:
            # a decode step passes every stage in turn for each token: a pipeline only adds latency to decode
            raise ParameterError("decode", f"{pools[1].label}: pipeline parallel (PP) serves prefill pools only; "
                                           "allowed: TP, TEP, DEP, DTP")
        mdl, hw, recipe, prec, eff = _resolve(hardware, model, precision, kv_cache_precision, calibration_path)
        insts = []
        for pool, param in zip(pools, ("prefill", "decode"), strict=True):
            try:
                r = _instance_of(mdl, hw, recipe, prec, eff, pool.deployment, workload)
            except UserError as exc:
                raise ParameterError(param, f"{pool.label}: {exc}") from None
            _check_fits(r, param)
            insts.append(r)
        pre, dec = insts
        known = (pools[0].gpus, pools[1].gpus)
        gpus = None if None in known else (float(known[0] or 0), float(known[1] or 0))
        header = _header(dec, "disaggregated", workload)
        if pareto:
            return [Prediction(**header, **_layout_fields("disaggregated", dec, pools, row), **row,
                               **_envelope(dec, row, True)) for row in _pool_frontier(pre, dec, gpus, workload)]
        if concurrency is None:
            row = _pool_point(pre, dec, gpus, workload, slo)
        else:
            # clients per decode instance: those decoding by Little's law, the rest in prefill, KV transfer or a
            # queue (the prefill pool's or the decode slots')
            where = clients_in_decode(pre, dec, gpus, workload, concurrency)
            row = _pool_point(pre, dec, gpus, workload, slo, where["batch"], where["ttft_s"])
            row["prefill_sequences"] = where["prefill_sequences"]
            if where["waiting_sequences"] > 1e-9 * concurrency:
                row["waiting_sequences"] = where["waiting_sequences"]
        extra = _layout_fields("disaggregated", dec, pools, row)
        return Prediction(**header, **row, **extra, **_envelope(dec, row, has_slo or concurrency is not None))
    search_mode = mode or "auto"
    if pareto:
        return layout_envelope(hardware, model, precision, workload,
                               mode="aggregated" if search_mode == "auto" else search_mode,
                               kv_cache_precision=kv_cache_precision, calibration_path=calibration_path)
    choice = search_layout(hardware, model, precision, workload, mode=search_mode, slo=slo,
                           kv_cache_precision=kv_cache_precision, calibration_path=calibration_path)
    row = dict(choice.row)
    extra = _layout_fields(choice.mode, choice.instance, choice.pools, row)
    return Prediction(**_header(choice.instance, choice.mode, workload), **row, **extra,
                      **_envelope(choice.instance, row, has_slo))


def layout_envelope(hardware: str, model: str, precision: str, workload: Workload, *, mode: str = "aggregated",
                    kv_cache_precision: str | None = None, calibration_path: str | None = None) -> list[Prediction]:
    """The Pareto envelope across layouts: points of every candidate layout's frontier not dominated in (output
    tokens/s per GPU, tokens/s per user) by any other layout's, fastest per user first, each naming its layout.

    Parameters
    ----------
    hardware, model, precision : str
        Catalogue names (or aliases).
    workload : Workload
        Tokens per request, prefix-cache hit rate, speculative decoding.
    mode : str
        One of :data:`MODES`; ``disaggregated`` pairs every decode layout with the prefill layout of fewest GPU-seconds
        per input token, rate-matched.
    kv_cache_precision : str, optional
        A format name replacing the recipe's KV-cache format.
    calibration_path : str, optional
        A calibration YAML replacing the bundled efficiency factors.

    Returns
    -------
    list of Prediction
        The envelope's points (``layout`` names each point's instance layout; ``meets_slo`` None).
    """
    if mode not in MODES:
        raise ParameterError("mode", f"{mode!r}: allowed: {', '.join(MODES)}")
    mdl, hw, recipe, prec, eff = _resolve(hardware, model, precision, kv_cache_precision, calibration_path)
    deps = candidate_deployments(mdl, prec, hw, eff)
    if not deps:
        raise UserError(f"{mdl.name} at {recipe.name} fits no instance of {hw.name}; use a smaller precision")
    insts = [_instance_of(mdl, hw, recipe, prec, eff, dep, workload) for dep in deps]
    points: list[Prediction] = []
    pre = None
    if mode == "disaggregated":
        l_new = workload.new_tokens
        costs = [float(to_numpy(evaluate(r.step_model, "prefill", np.ones(1), workload.input_tokens,
                                         workload.output_tokens, None, workload.cache_hit_rate)
                                ["gpu_s_per_input_token"])[0]) * l_new for r in insts]
        pre = insts[int(np.argmin(costs))]
    for r in insts:
        if pre is not None:
            rows = _pool_frontier(pre, r, None, workload)
            for row in rows:
                row.pop("bottleneck")
            label = f"{pre.deployment.label} prefill + {r.deployment.label} decode"
        else:
            rows = pareto_frontier(r.step_model, mode, workload, r.kv_transfer_s_per_token)
            label = r.deployment.label
        points += [Prediction(**_header(r, mode, workload), **row, layout=label, **_envelope(r, row, True))
                   for row in rows]
    metric = _metric(mode)
    speed = "ttft_s" if mode == "prefill" else "tokens_per_s_per_user"
    key = (lambda p: p.ttft_s) if mode == "prefill" else (lambda p: -p.tokens_per_s_per_user)
    envelope, best = [], -np.inf
    for p in sorted(points, key=lambda p: (key(p), -getattr(p, metric))):
        if getattr(p, metric) > best and np.isfinite(getattr(p, speed)):
            best = getattr(p, metric)
            envelope.append(p)
    return envelope


# -- attention-FFN disaggregation (perf._afd) ------------------------------------------------------------------------
def build_afd_step_models(model: ModelSpec, prec: ResolvedPrecision, hardware: Hardware, pool: AfdPool,
                          efficiency: Efficiency, workload: Workload | None = None,
                          ) -> tuple[core.StepModel, core.StepModel]:
    """The two sides of an attention-FFN disaggregated deployment (:mod:`tokensim.perf._afd`) as step models.

    The attention side is one GPU serving its own sequences (tp 1, its own data-parallel group) with every weight
    but the FFNs: attention, norms, router, embedding and output head (Step-3 report section 7.1: the attention
    instances hold the router, the embedding and the LM head) and every sequence's KV cache. The FFN side is the FFN
    GPUs with the dense layers' FFNs and the shared experts tensor-parallel in each FFN instance and the routed
    experts expert-parallel over the instances (tensor-parallel inside each): :func:`build_step_model`'s arithmetic
    with the other side's weights, FLOPs and cache taken out.

    Parameters
    ----------
    model, prec, hardware : ModelSpec, ResolvedPrecision, Hardware
        The catalogue entries and the recipe on the hardware.
    pool : AfdPool
        The deployment.
    efficiency : Efficiency
        The hardware family's efficiency factors.
    workload : Workload, optional
        As for :func:`build_step_model`.

    Returns
    -------
    tuple of StepModel
        (one attention GPU, the FFN GPUs).

    Raises
    ------
    UserError
        An FFN instance the step model refuses (its size beyond the head count, more instances than experts).
    """
    other = prec.other_weight_bytes_per_param
    ffn_other = model.ffn_other_weight_params
    ffn_active = ffn_other + model.moe_layers * model.top_k * model.params_per_routed_expert
    att = build_step_model(model, prec, hardware, Deployment(1, 1, 1), efficiency, workload)
    att = replace(att, dense_stream_bytes=(model.streamed_other_weight_params - ffn_other) * other,
                  matmul_flops_per_token=2.0 * (model.matmul_params_per_token - ffn_active),
                  experts=0, top_k=0, moe_layers=0, expert_bytes=0.0, expert_flops_per_token=0.0,
                  weight_bytes_per_gpu=(model.other_weight_params - ffn_other) * other,
                  draft_stream_bytes=0.0, draft_matmul_flops_per_token=0.0, draft_moe_layers=0.0)
    dep = Deployment(pool.ffn_gpus, pool.ffn_gpus_per_instance, pool.ffn_instances if model.is_moe else 1)
    ffn = build_step_model(model, prec, hardware, dep, efficiency, workload)
    ffn = replace(ffn, dense_stream_bytes=ffn_other * other, matmul_flops_per_token=2.0 * ffn_active,
                  decode_attn_flops_per_ctx_token_layer=0.0, prefill_attn_flops_per_pair_layer=0.0,
                  index_flops_per_ctx_token_layer=0.0, index_bytes_per_token_layer=0.0, kv_bytes_per_token_layer=0.0,
                  state_bytes_per_sequence=0.0, state_flops_per_token=0.0, cache_fixed_bytes_per_sequence=0.0,
                  weight_bytes_per_gpu=(ffn_other * other / dep.tp
                                        + model.routed_expert_params * prec.routed_expert_bytes_per_param / dep.gpus),
                  draft_stream_bytes=0.0, draft_matmul_flops_per_token=0.0, draft_moe_layers=0.0)
    return att, ffn


def _afd_results(att: core.StepModel, ffn: core.StepModel, pool: AfdPool, per_gpu: np.ndarray, context: float,
                 limit_per_gpu: float) -> dict[str, np.ndarray]:
    """:func:`evaluate`'s decode-mode metrics of an AFD deployment at ``per_gpu`` sequences per attention GPU;
    concurrency and its memory limit count the sequences of the whole deployment, throughput every GPU of it."""
    step = afd_decode_step(att, ffn, pool, per_gpu, np.asarray(context, dtype=float))
    t = step["t_step_s"]
    sequences = per_gpu * pool.attention_gpus
    out = sequences / (t * pool.gpus)
    nan = np.full(per_gpu.shape, np.nan)
    return {"output_tokens_per_s_per_gpu": out, "input_tokens_per_s_per_gpu": 0.0 * out,
            "tokens_per_s_per_user": 1.0 / t, "ttft_s": nan, "tpot_s": t, "gpu_s_per_input_token": nan,
            "gpu_s_per_output_token": 1.0 / out, "max_concurrency": limit_per_gpu * pool.attention_gpus + 0.0 * out,
            "bound": step["bound"] + 0 * per_gpu.astype(int), "concurrency": sequences,
            "fits": (per_gpu <= limit_per_gpu) & (sequences >= 1) & att.fits_weights & ffn.fits_weights,
            "kv_cache_gb_per_gpu": per_gpu * core.kv_bytes_per_sequence_per_gpu(att, np.asarray(context), np) / _GB}


def _predict_afd(hardware: str, model: str, precision: str, workload: Workload, *, mode: str | None, slo: SLO,
                 concurrency: int | None, kv_cache_precision: str | None, pareto: bool, calibration_path: str | None,
                 decode: str | AfdPool) -> Prediction | list[Prediction]:
    """:func:`predict` for an attention-FFN disaggregated decode deployment (``decode="2xA8+2xF8"``)."""
    pool = parse_afd(decode, "decode")
    if mode not in (None, "decode"):
        raise ParameterError("mode", f"{mode!r}: an attention-FFN disaggregated deployment ({pool.label}) is modelled "
                                     "decoding alone; allowed: decode")
    if workload.speculative_draft_tokens:
        raise ParameterError("speculative_draft_tokens", f"{workload.speculative_draft_tokens}: speculative decoding "
                                                         f"is not modelled with attention-FFN disaggregation "
                                                         f"({pool.label}); allowed: 0")
    mdl, hw, recipe, prec, eff = _resolve(hardware, model, precision, kv_cache_precision, calibration_path)
    eff = _for_workload(eff, workload)
    try:
        att, ffn = build_afd_step_models(mdl, prec, hw, pool, eff, workload)
    except UserError as exc:
        raise ParameterError("decode", f"{pool.label}: FFN side: {exc}") from None
    usable = hw.hbm_usable_gib * _GIB / _GB * (1 - eff.workspace_fraction)
    for sm, side in ((att, "attention"), (ffn, "FFN")):
        if not sm.fits_weights:
            raise ParameterError("decode", f"{pool.label}: {mdl.name} at {recipe.name}: the {side} side's weights "
                                           f"need {sm.weight_bytes_per_gpu / _GB:,.1f} GB per GPU on "
                                           f"{hw.name}, {usable:,.1f} GB usable after workspace; use more or larger "
                                           f"{side} instances or a smaller precision")
    context = (workload.context_tokens if workload.context_tokens is not None
               else workload.input_tokens + 0.5 * workload.output_tokens)
    limit = float(core.max_concurrency(att, np.asarray(float(context))))  # sequences per attention GPU
    # the record's header as for one instance: every GPU of the deployment, attention tp 1, the FFN's EP, and the
    # weights of the fuller side
    fuller = max((att, ffn), key=lambda sm: sm.weight_bytes_per_gpu)
    header = _header(Instance(mdl, hw, recipe, prec, Deployment(pool.gpus, 1, ffn.ep), eff, fuller, 0.0), "decode",
                     workload)
    extra: dict[str, Any] = {"layout": pool.label, "decode_pool": pool.label, "total_gpus": pool.gpus}
    constrained = pareto or concurrency is not None or any(
        v is not None for v in (slo.min_tokens_per_s_per_user, slo.max_ttft_s, slo.max_tpot_s))

    def prediction(res: dict[str, np.ndarray], i: int, meets: bool | None, queued_for: float | None = None,
                   ) -> Prediction:
        row = _row(res, i, ffn)
        if meets is not None:
            row["meets_slo"] = meets
        if queued_for is not None:
            row = _queued(row, queued_for, workload, slo)
        fields_ = _envelope_fields(hw, mdl, float(row["concurrency"]) / pool.gpus, "AFD", pool.label, row,
                                   constrained)
        return Prediction(**header, **row, **extra, **fields_)

    if concurrency is not None:
        served = float(concurrency)
        if served > limit * pool.attention_gpus:  # beyond memory: the limit is served, the rest wait (_queued)
            served = _served_batch({"max_concurrency": limit * pool.attention_gpus}, served,
                                   f"for {mdl.name} on {pool.label} {hw.name}")
        res = _afd_results(att, ffn, pool, np.asarray([served / pool.attention_gpus]), context, limit)
        meets = bool(_meets(res, slo.min_tokens_per_s_per_user, None, slo.max_tpot_s)[0])
        return prediction(res, 0, meets, float(concurrency) if served < float(concurrency) else None)
    res = _afd_results(att, ffn, pool, concurrency_grid(limit * pool.attention_gpus) / pool.attention_gpus, context,
                       limit)
    if pareto:
        return [prediction(res, i, None) for i in _frontier_indices(res)]
    ok = _meets(res, slo.min_tokens_per_s_per_user, None, slo.max_tpot_s)
    if ok.any():
        i = int(np.argmax(np.where(ok, res["output_tokens_per_s_per_gpu"], -np.inf)))
        return prediction(res, i, True)
    return prediction(res, 0, False)
