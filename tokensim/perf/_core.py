"""The performance model's arithmetic: one serving instance, vectorised over operating points.

:class:`StepModel` holds the scalars of one (model, precision, hardware, parallelism, efficiency) combination; the
functions below take arrays of batch sizes and context lengths (NumPy or CuPy — the namespace is read from the
arrays) and return per-step times. Everything is instance-wide: G GPUs, tensor parallel TP inside each of DP = G/TP
attention data-parallel groups, routed experts sharded over all G GPUs (expert parallel EP ranks × G/EP-way tensor
parallel inside each expert, as TensorRT-LLM's moe_ep × moe_tp = G).

Per decode step (design §4):
  bytes  = DP·(non-expert weights, less the embedding table) + touched experts' weights + KV read
           + B·2·(recurrent state) (linear-attention layers: each sequence's state read and written once per step)
  FLOPs  = B·s·(2·N_matmul + attention over the context + recurrences)  s = tokens per sequence per step (speculation)
  (DSA sparse attention: attention and its KV read over min(context, top-k) tokens, plus the lightning indexer's
  FLOPs and key-cache read over the whole context)
  t      = max((matmul FLOPs / peak + attention FLOPs / attention peak) / (G·η_c), bytes / (G·HBM·η_m),
               offloaded weights per GPU / host link)
           (attention FLOPs: over the context, the DSA indexer, recurrences; the attention peak is the 8- or 16-bit
           tensor rate, perf._model / config.precisions.attention_compute_class)
           + (1 − overlap)·t_comm + overhead
           (t_comm's EP part: per MoE layer bandwidth + 2 fixed costs, the cheaper of DeepEP's low-latency kernels
           (their latency growing past 128 tokens per GPU) and the normal kernels; with ep = 1 and DP > 1 groups, an
           all-gather + reduce-scatter over the G GPUs per MoE layer instead)
           + layers·per-layer overhead (kernel launch gaps and small-kernel tails every layer pays; decode batches
             within the CUDA-graph capture size, GRAPH_MAX_BATCH per DP group, pay the smaller graph-mode cost;
             decode steps add a per-layer cost per token of the DP group, layer_token_overhead_s)
           + (B / DP)·per-sequence overhead (scheduling, sampling and bookkeeping each sequence costs every step)
           + (s − 1)·one draft pass (speculative decoding: the draft module, one token per sequence, _draft_time)
"""

from __future__ import annotations

from dataclasses import dataclass

from .._xp import array_namespace
from .efficiency import Efficiency, PhaseEfficiency

__all__ = ["GRAPH_MAX_BATCH", "StepModel", "decode_step", "prefill_pass", "max_concurrency", "touched_experts",
           "cache_bytes_per_sequence"]

_GB = 1e9
_TB = 1e12
_REDUCE_BYTES = 2.0  # all-reduce and EP combine run in bf16 (TensorRT-LLM, DeepEP "BF16 combine")
# Expert-parallel dispatch/combine kernel modes (DeepEP, github.com/deepseek-ai/DeepEP README, 2025): "normal"
# kernels (prefill, large batches) run a CPU-synchronised layout/notify step before each exchange and cannot be
# captured in a CUDA graph: their fixed cost is the fitted ``alltoall_latency_s``. "Low-latency" kernels (decode) are
# graph-capturable, send each (token, expert) copy directly (IBGDA/NVLink) and hold at most a fixed number of tokens
# per rank in their buffers. The model charges the cheaper of their latency, growing with the tokens per GPU beyond
# the default buffer's, and the normal kernels' fitted fixed cost, in decode as in prefill (``ep_exchange_fixed_s``):
# an **assumption** (an engine that has both picks the faster), which the fit keeps. Until round 15 it switched to the
# normal kernels at 129 tokens per GPU, a 2.7x step in a DeepSeek DEP16 decode pool's TPOT between 128 and 131
# tokens per GPU (docs/model-notes.md, round 15). SGLang's ``--deepep-mode auto`` itself picks by phase, not by
# tokens (DeepEPMode.resolve in python/sglang/srt/layers/moe/utils.py, 2025-2026: normal when the batch holds a
# prefill, else low-latency). Taking one round of low-latency kernels for every decode step moved 127 rows from a
# median 29% to 43% off at the bundled factors (TensorRT-LLM's fitted large-batch EP rows +17% -> +44%, Dynamo +
# TensorRT-LLM's decode pools -36% -> +3%; docs/model-notes.md, round 14).
# LL_MAX_TOKENS: the low-latency buffer's tokens per rank (DeepEP's test_low_latency.py and SGLang's
# SGLANG_DEEPEP_NUM_MAX_DISPATCH_TOKENS_PER_RANK default, 128). LL fixed latency per dispatch or combine: DeepEP's LL
# table (H800, CX7 400 Gb/s, 128 tokens/rank, hidden 7168, top-8) gives 77/114 us (dispatch/combine) at EP8 rising
# to 194/360 us at EP256 for the same bytes per rank, i.e. a bandwidth part plus a fan-out latency of tens of us;
# the fixed part at a few tokens per rank is an **assumption** of that order: 25 us inside one scale-up domain
# (NVLink), 50 us when the EP group spans domains (RDMA).
_LL_MAX_TOKENS = 128.0
# CUDA graphs: engines capture decode steps up to a batch size per DP group and replay them, so launch gaps between a
# layer's kernels vanish; larger batches run eagerly. Captured sizes by default: TensorRT-LLM cuda_graph_config
# max_batch_size 128 (LLM API, 2025), SGLang cuda_graph_max_bs 160-256 by GPU memory (server_args, 2025), vLLM
# max_cudagraph_capture_size 512 (V1, 2025); 256 is an **assumption** inside that range. The per-layer cost in graph
# mode (PhaseEfficiency.graph_layer_overhead_s) is fitted; prefill passes run eagerly.
GRAPH_MAX_BATCH = 256.0
_LL_LATENCY_SCALE_UP_S = 25e-6
_LL_LATENCY_SCALE_OUT_S = 50e-6


@dataclass(frozen=True)
class StepModel:
    """Scalars of one configuration; built by :func:`tokensim.perf.build_step_model`."""

    gpus: int
    tp: int
    dp: int
    ep: int
    peak_flops_per_gpu: float
    hbm_bytes_per_s_per_gpu: float
    dense_stream_bytes: float  # non-expert weights read per step by one DP group (embedding table excluded)
    expert_bytes: float  # one routed expert in one layer
    experts: int
    top_k: int
    moe_layers: int
    matmul_flops_per_token: float  # 2 · matmul parameters per token
    decode_attn_flops_per_ctx_token_layer: float
    prefill_attn_flops_per_pair_layer: float
    full_attention_layers: int
    window_layers: int
    window_tokens: float  # 0 = no sliding window
    sparse_topk_tokens: float  # DSA: cached tokens each query attends in full-attention layers (0 = dense)
    index_flops_per_ctx_token_layer: float  # DSA lightning indexer: FLOPs per query per cached token (0 = none)
    index_bytes_per_token_layer: float  # DSA indexer key cache per token per indexer layer (0 = none)
    index_layers: int  # layers that run their own indexer over the whole context
    kv_bytes_per_token_layer: float
    kv_read_replication: float  # TP ranks that each read the same KV (MLA: all TP; GQA: TP / kv-head split)
    kv_capacity_split: float  # how many GPUs of a DP group share one sequence's KV
    layers: int
    hidden_size: int
    activation_bytes: float
    tp_seconds_per_byte: float  # per GPU, over the link the TP group uses (with ep 1 and dp > 1: the G-GPU MoE group's)
    ep_seconds_per_byte: float  # per GPU, scale-up link: every routed copy to another GPU crosses it once
    ep_scale_out_copies: float  # distinct remote scale-up domains a token is sent to (0 if EP fits in one domain)
    scale_out_seconds_per_byte: float  # per GPU, NIC
    weight_bytes_per_gpu: float
    usable_hbm_bytes_per_gpu: float
    dequant_overhead: float  # fraction of matmul time added when weights are dequantised (0 if native)
    spec_tokens_per_step: float  # 1 + draft tokens verified per step
    spec_acceptance_length: float  # output tokens produced per step per sequence (≥ 1)
    efficiency: Efficiency
    # weights held in coherent host memory (Grace LPDDR5X) instead of HBM, streamed to each GPU every forward pass
    # over the host link (NVLink-C2C) while the previous layers compute; 0 where all weights sit in HBM
    offload_bytes_per_gpu: float = 0.0
    host_link_seconds_per_byte: float = 0.0  # per GPU, host to GPU (0: no coherent host link)
    # one speculative draft pass (ModelSpec.draft_pass_other_params): non-expert bytes read by one DP group, matmul
    # FLOPs per token (with the block's top-k routed experts) and routed-expert layers (1 in an MoE model, else 0)
    draft_stream_bytes: float = 0.0
    draft_matmul_flops_per_token: float = 0.0
    draft_moe_layers: float = 0.0
    # routed-expert matmul FLOPs per token over all MoE layers (2 · top-k · expert parameters · MoE layers): the part
    # of the work expert-parallel load imbalance (expert_load_imbalance) stretches on the busiest rank
    expert_flops_per_token: float = 0.0
    # the busiest EP rank's routed (token, expert) copies over the mean rank's, with or without expert-parallel load
    # balancing as the workload says (perf._model.expert_load_imbalance: 1 + c·z(R)/sqrt(experts per rank)); 1 where
    # ep = 1 or the model is dense
    expert_load_imbalance: float = 1.0
    # recurrent (linear-attention) layers, e.g. Gated DeltaNet (ModelSpec.recurrent_state_bytes_per_sequence): a fixed
    # state per sequence in place of a KV cache, read and written once by every decode step and written once by a
    # prefill; FLOPs of the recurrences per token; GPUs of a DP group that hold one sequence's state (its heads split
    # by TP). Zero in models without such layers.
    state_bytes_per_sequence: float = 0.0
    state_flops_per_token: float = 0.0
    state_capacity_split: float = 1.0
    # compressed attention (DeepSeek-V4, ModelSpec.compressed_*): besides its sliding window (window_layers), a layer
    # caches one entry per `ratio` context tokens. CSA layers attend the indexer's top-k of them (sparse_topk_tokens),
    # HCA layers all of them. index_ratio: context tokens per key the indexer scores (1 for DSA; V4's CSA ratio).
    # cache_fixed_bytes_per_sequence: the compressors' running state, held per sequence (memory only). Zero/one in
    # models without compressed layers.
    csa_layers: float = 0.0
    csa_ratio: float = 1.0
    hca_layers: float = 0.0
    hca_ratio: float = 1.0
    index_ratio: float = 1.0
    cache_fixed_bytes_per_sequence: float = 0.0
    # tensor rate of the attention-type work (attention over the context, the DSA indexer, linear-attention
    # recurrences): attention kernels compute in 16 bits, or in 8 with an 8-bit KV cache, never at a 4-bit weight
    # format's rate (perf._model.attention_compute_class); 0: the matmul rate (peak_flops_per_gpu)
    attention_peak_flops_per_gpu: float = 0.0
    # the vendor's measured max-achievable dense GEMM rate of the matmul and the attention compute class
    # (config.hardware.Hardware.achievable_tflops): no efficiency factor runs a GPU's tensor work faster; 0: not
    # measured (the rate is the peak times the phase's compute efficiency alone)
    max_achievable_flops_per_gpu: float = 0.0
    attention_max_achievable_flops_per_gpu: float = 0.0

    @property
    def free_kv_bytes_per_gpu(self) -> float:
        workspace = self.efficiency.workspace_fraction * self.usable_hbm_bytes_per_gpu
        return self.usable_hbm_bytes_per_gpu - workspace - self.weight_bytes_per_gpu

    @property
    def fits_weights(self) -> bool:
        return self.free_kv_bytes_per_gpu > 0


def touched_experts(experts, top_k, tokens, xp):
    """Expected distinct experts hit when ``tokens`` tokens each pick ``top_k`` of ``experts``: E·(1−(1−k/E)^T).

    ``experts`` may be 0 (a dense model: none touched) or an array of configurations.
    """
    safe = xp.maximum(experts, 1)
    return xp.where(experts > 0, experts * (1.0 - (1.0 - top_k / safe) ** tokens), 0.0 * tokens)


def _window(sm: StepModel, xp):
    """Sliding-window length in tokens; infinite where the model has none (0 in the catalogue)."""
    return xp.where(xp.asarray(sm.window_tokens) > 0, sm.window_tokens, xp.inf)


def _sparse_cap(sm: StepModel, xp):
    """Tokens a query attends in a full-attention layer under sparse attention (DSA top-k); infinite when dense."""
    return xp.where(xp.asarray(sm.sparse_topk_tokens) > 0, sm.sparse_topk_tokens, xp.inf)


def _stored_tokens(sm: StepModel, context, xp):
    """Cache entries per sequence summed over layers (sliding-window layers capped at the window; compressed layers
    one entry per ratio tokens besides their window)."""
    return (sm.full_attention_layers * context + sm.window_layers * xp.minimum(context, _window(sm, xp))
            + sm.csa_layers * context / sm.csa_ratio + sm.hca_layers * context / sm.hca_ratio)


def _attended_tokens(sm: StepModel, context, xp):
    """Context tokens one query attends summed over layers: full-attention layers capped at the sparse top-k (DSA
    selects ``min(context, top_k)`` cached tokens), sliding-window layers at the window; compressed layers attend
    their compressed entries besides the window, CSA layers at most the top-k of them."""
    return (sm.full_attention_layers * xp.minimum(context, _sparse_cap(sm, xp))
            + sm.window_layers * xp.minimum(context, _window(sm, xp))
            + sm.csa_layers * xp.minimum(context / sm.csa_ratio, _sparse_cap(sm, xp))
            + sm.hca_layers * context / sm.hca_ratio)


def _sparse_pairs(sm: StepModel, new_tokens, cached_tokens, pairs_full, xp):
    """(query, key) pairs per request in one full-attention layer of a prefill pass.

    Dense: ``pairs_full`` = new·cached + new²/2. Sparse (top-k k): the query at position p attends min(p, k) keys;
    in the continuous form that is F(cached + new) − F(cached), F(x) = ∫₀ˣ min(p, k) dp = m·(x − m/2), m = min(x, k).
    """
    sparse = _capped_pairs(new_tokens, cached_tokens, _sparse_cap(sm, xp), xp)
    return xp.where(xp.asarray(sm.sparse_topk_tokens) > 0, sparse, pairs_full)


def _capped_pairs(new_tokens, cached_tokens, cap, xp):
    """Σ over the new positions p of min(p, cap), continuous: F(cached + new) − F(cached), F(x) = m·(x − m/2),
    m = min(x, cap)."""
    end = cached_tokens + new_tokens
    m_end = xp.minimum(end, cap)
    m_start = xp.minimum(cached_tokens, cap)
    return m_end * (end - 0.5 * m_end) - m_start * (cached_tokens - 0.5 * m_start)


def _compressed_pairs(sm: StepModel, new_tokens, cached_tokens, pairs_full, xp):
    """(query, compressed entry) pairs per request of a prefill pass, summed over compressed layers: a query at
    position p sees p/ratio entries; CSA layers attend at most the top-k of them, Σ min(p/r, k) = Σ min(p, r·k) / r;
    HCA layers all, pairs_full / r."""
    csa = _capped_pairs(new_tokens, cached_tokens, sm.csa_ratio * _sparse_cap(sm, xp), xp) / sm.csa_ratio
    return sm.csa_layers * csa + sm.hca_layers * pairs_full / sm.hca_ratio


def _comm_time(sm: StepModel, tokens_per_gpu_group, tokens_per_gpu, phase: PhaseEfficiency, xp):
    """Exposed communication per forward pass: TP all-reduces per layer, EP all-to-all per MoE layer, and the
    all-gather/reduce-scatter per MoE layer of attention data-parallel groups whose experts are tensor-parallel."""
    # Written without branches so that every StepModel field may be an array of configurations.
    has_tp = xp.asarray(sm.tp) > 1
    # Attention data-parallel with the experts tensor-parallel over all G GPUs (ep 1, dp > 1: TensorRT-LLM
    # enable_attention_dp with moe_tensor_parallel_size G, SGLang --enable-dp-attention without --ep): every MoE layer
    # all-gathers the DP groups' hidden states before the experts and reduce-scatters the partial sums after them:
    # together the bytes of a ring all-reduce of the instance's tokens over G GPUs (bf16 both ways, an assumption),
    # and two collectives' fixed costs; it replaces the MoE layer's own all-reduce over the TP group.
    has_gather = (xp.asarray(sm.ep) == 1) & (xp.asarray(sm.dp) > 1) & (xp.asarray(sm.moe_layers) > 0)
    ring_bytes = 2.0 * (sm.tp - 1) / sm.tp * tokens_per_gpu_group * sm.hidden_size * _REDUCE_BYTES
    n_reduce = 2 * sm.layers - has_gather * sm.moe_layers  # after attention and after the FFN/MoE block
    t_tp = n_reduce * (ring_bytes * sm.tp_seconds_per_byte / phase.network_efficiency
                       + has_tp * phase.collective_latency_s)
    gather_bytes = 2.0 * (sm.gpus - 1) / sm.gpus * (tokens_per_gpu * sm.gpus) * sm.hidden_size * _REDUCE_BYTES
    t_gather = has_gather * sm.moe_layers * (gather_bytes * sm.tp_seconds_per_byte / phase.network_efficiency
                                              + 2.0 * phase.collective_latency_s)
    # EP dispatch + combine. Every copy of a token bound for another GPU's expert crosses the scale-up fabric once
    # (directly, or forwarded inside the remote domain); across domains a token travels once per distinct remote
    # domain it needs, de-duplicated as DeepEP's internode kernels do, and the two links work in parallel.
    # Charged for every EP layout, TEP (tensor-parallel attention, dp 1) included, although engines run no all-to-all
    # there (TensorRT-LLM only with enable_attention_dp, vLLM only at DP > 1: every GPU holds every token after
    # attention's all-reduce). Round 26 (docs/model-notes.md) took it out of TEP and refitted: the TEP rows went from
    # -7% to +18-24% and TensorRT-LLM's batch-1 TEP rows from +16% to +90%, so in TEP this term stands in for a
    # per-MoE-layer cost of that order (about 50 us per layer at a few tokens) that the model has no term for yet.
    has_ep = (xp.asarray(sm.ep) > 1) & (xp.asarray(sm.moe_layers) > 0)
    remote = (sm.ep - 1) / sm.ep
    token_bytes = tokens_per_gpu * sm.hidden_size * (sm.activation_bytes + _REDUCE_BYTES)
    t_up = token_bytes * sm.top_k * remote * sm.ep_seconds_per_byte
    t_out = token_bytes * sm.ep_scale_out_copies * sm.scale_out_seconds_per_byte
    # Fixed cost per exchange: the cheaper of the low-latency kernels, their latency growing past their buffer's
    # tokens per GPU, and the normal kernels (:func:`ep_exchange_fixed_s`).
    fixed = ep_exchange_fixed_s(sm, tokens_per_gpu, phase, xp)
    # the busiest rank receives (1 + extra) times the mean rank's copies, and the exchange waits for it
    load = expert_load(sm, phase, xp)
    t_ep = has_ep * sm.moe_layers * (load * xp.maximum(t_up, t_out) / phase.network_efficiency + 2 * fixed)
    return (1.0 - phase.comm_overlap) * (t_tp + t_gather + t_ep)


def ep_exchange_fixed_s(sm: StepModel, tokens_per_gpu, phase: PhaseEfficiency, xp):
    """Fixed cost of one EP dispatch or combine with ``tokens_per_gpu`` tokens on each GPU: the cheaper of the
    low-latency kernels and the normal kernels' fitted ``alltoall_latency_s``.

    The low-latency kernels send every (token, expert) copy as its own message from a buffer sized for a number of
    tokens per GPU: their fixed latency is charged for up to :data:`_LL_MAX_TOKENS` tokens and grows linearly
    beyond (a buffer sized to the batch, as engines configure it; continuous so that no batch size is a step) at the
    phase's ``ep_ll_token_latency_s`` per token per GPU, twice that across scale-up domains (the ratio of the fixed
    latencies, an **assumption**). The growth is 25 us per 128 tokens unless a calibration file sets it (an
    **assumption**; fitted in round 17 and not adopted, calibration.PARAMETERS). An engine that has both kernels picks
    the faster. Until round 15 the model switched to the normal kernels at 129 tokens per GPU, a 2.7x step in the TPOT
    of a DeepSeek-R1 DEP16 decode pool on GB200 between 2,048 and 2,100 requests."""
    scale_out = xp.asarray(sm.ep_scale_out_copies) > 0
    ll_latency = xp.where(scale_out, _LL_LATENCY_SCALE_OUT_S, _LL_LATENCY_SCALE_UP_S)
    growth = (xp.where(scale_out, _LL_LATENCY_SCALE_OUT_S / _LL_LATENCY_SCALE_UP_S, 1.0) * phase.ep_ll_token_latency_s
              * xp.maximum(tokens_per_gpu - _LL_MAX_TOKENS, 0.0))
    return xp.minimum(ll_latency + growth, phase.alltoall_latency_s)


def _attention_peak(sm: StepModel, xp):
    """The tensor rate attention-type FLOPs run at (the matmul rate where none is set)."""
    return xp.where(xp.asarray(sm.attention_peak_flops_per_gpu) > 0, sm.attention_peak_flops_per_gpu,
                    sm.peak_flops_per_gpu)


def _tensor_rate(peak, achievable, efficiency, xp):
    """FLOP/s one GPU runs tensor work at: the peak times the phase's compute efficiency, but never above the
    measured max-achievable rate where the hardware file gives one (``achievable`` > 0). The fitted efficiency is
    one number per hardware family and phase; the ceiling is each part's own measurement (e.g. MI300X FP8 at 1,273
    of 2,615 TFLOP/s, AMD's MAF blog), so compute-bound steps on parts whose clocks fall under dense load are not
    priced at a rate no kernel reaches."""
    rate = peak * efficiency
    return xp.where(xp.asarray(achievable) > 0, xp.minimum(rate, achievable), rate)


def _compute_time(sm: StepModel, phase: PhaseEfficiency, matmul_flops, attn_flops, xp):
    """Seconds of tensor work over the G GPUs: weight matmuls at the matmul rate (dequantisation added when
    weight-only), attention-type FLOPs at the attention rate (:func:`_tensor_rate` of each)."""
    matmul_rate = _tensor_rate(sm.peak_flops_per_gpu, sm.max_achievable_flops_per_gpu, phase.compute_efficiency, xp)
    attention_achievable = xp.where(xp.asarray(sm.attention_peak_flops_per_gpu) > 0,
                                    sm.attention_max_achievable_flops_per_gpu, sm.max_achievable_flops_per_gpu)
    attention_rate = _tensor_rate(_attention_peak(sm, xp), attention_achievable, phase.compute_efficiency, xp)
    return (matmul_flops * (1.0 + sm.dequant_overhead) / matmul_rate + attn_flops / attention_rate) / sm.gpus


def _roofline(sm: StepModel, phase: PhaseEfficiency, flops, tokens, total_bytes, expert_bytes, xp, attn_flops=0.0):
    """Compute and memory time of one forward pass over G GPUs: the busiest EP rank's extra routed-expert work
    (:func:`_imbalance_extra`) included; weights offloaded to host memory stream over the host link beside the HBM
    reads. ``flops`` are the weight matmuls' (at the recipe's rate, dequantisation added when weight-only),
    ``attn_flops`` the attention-type work's (at :func:`_attention_peak`).

    The busiest rank computes (1 + extra) times the mean rank's routed-expert FLOPs. Its weight reads grow only while
    it has experts left untouched: it reads at most all of its own experts, so ``expert_bytes`` (the touched experts'
    bytes over the G GPUs) grows to min((1 + extra)·touched, experts)/touched of itself."""
    extra = _imbalance_extra(sm, phase, xp)
    t_compute = _compute_time(sm, phase, flops + extra * tokens * sm.expert_flops_per_token, attn_flops, xp)
    full = sm.moe_layers * sm.experts * sm.expert_bytes  # every routed expert of every MoE layer
    extra_bytes = xp.maximum(xp.minimum((1.0 + extra) * expert_bytes, full) - expert_bytes, 0.0)
    t_memory = xp.maximum((total_bytes + extra_bytes)
                          / (sm.gpus * sm.hbm_bytes_per_s_per_gpu * phase.memory_efficiency),
                          sm.offload_bytes_per_gpu * sm.host_link_seconds_per_byte + 0.0 * total_bytes)
    return t_compute, t_memory


def expert_load(sm: StepModel, phase: PhaseEfficiency, xp):
    """The busiest EP rank's routed-expert load over the mean rank's where the experts are spread over EP ranks (ep >
    1, an MoE model), else 1: the deployment's ``expert_load_imbalance`` (with or without load balancing, as the
    workload says) times the phase's ``ep_imbalance`` (a calibration scale, 1.0 unless a file sets it). With ep = 1
    every GPU holds a slice of every expert (tensor-parallel experts) and the load is even."""
    return xp.where((xp.asarray(sm.ep) > 1) & (xp.asarray(sm.moe_layers) > 0),
                    sm.expert_load_imbalance * phase.ep_imbalance, 1.0)


def _imbalance_extra(sm: StepModel, phase: PhaseEfficiency, xp):
    """:func:`expert_load` − 1: the share by which the busiest EP rank's routed-expert work exceeds the mean rank's."""
    return expert_load(sm, phase, xp) - 1.0


def decode_step(sm: StepModel, batch, context):
    """Times of one decode step for ``batch`` sequences at mean ``context`` tokens (arrays broadcast together).

    Returns a dict of arrays: ``t_compute_s``, ``t_memory_s``, ``t_comm_s``, ``t_step_s``, ``bytes``, ``flops``.
    """
    xp = array_namespace(batch, context)
    phase = sm.efficiency.decode
    tokens = batch * sm.spec_tokens_per_step
    attended = _attended_tokens(sm, context, xp)
    indexed = sm.index_layers * context / sm.index_ratio  # the indexer scores every cached (compressed) key
    matmul_flops = tokens * sm.matmul_flops_per_token
    attn_flops = tokens * (sm.decode_attn_flops_per_ctx_token_layer * attended
                           + sm.index_flops_per_ctx_token_layer * indexed + sm.state_flops_per_token)
    flops = matmul_flops + attn_flops
    expert_bytes = sm.moe_layers * touched_experts(sm.experts, sm.top_k, tokens, xp) * sm.expert_bytes
    kv_bytes = (batch * attended * sm.kv_bytes_per_token_layer * sm.kv_read_replication
                + batch * indexed * sm.index_bytes_per_token_layer * sm.kv_read_replication
                + batch * 2.0 * sm.state_bytes_per_sequence)
    total_bytes = sm.dp * sm.dense_stream_bytes + expert_bytes + kv_bytes
    t_compute, t_memory = _roofline(sm, phase, matmul_flops, tokens, total_bytes, expert_bytes, xp, attn_flops)
    t_comm = _comm_time(sm, tokens / sm.dp, tokens / sm.gpus, phase, xp)
    layer_cost = decode_layer_cost(phase, batch / sm.dp, xp)
    t_draft = _draft_time(sm, batch, attended, layer_cost, phase, xp)
    t_step = (xp.maximum(t_compute, t_memory) + t_comm + phase.step_overhead_s
              + (layer_cost + phase.layer_token_overhead_s * tokens / sm.dp) * sm.layers
              + phase.sequence_overhead_s * batch / sm.dp + t_draft)
    return {"t_compute_s": t_compute, "t_memory_s": t_memory, "t_comm_s": t_comm, "t_step_s": t_step,
            "t_draft_s": t_draft, "bytes": total_bytes, "flops": flops}


def decode_layer_cost(phase: PhaseEfficiency, batch_per_group, xp):
    """Fixed cost of one layer of a decode step with ``batch_per_group`` sequences in a DP group: the CUDA-graph
    level within the captured sizes (:data:`GRAPH_MAX_BATCH`), else the eager one."""
    return xp.where(batch_per_group <= GRAPH_MAX_BATCH, phase.graph_layer_overhead_s, phase.layer_overhead_s)


def _draft_time(sm: StepModel, batch, attended, layer_cost, phase: PhaseEfficiency, xp):
    """Time of the speculative draft passes of one decode step: s − 1 sequential passes of the draft module, one token
    per sequence each (the verification of the s tokens is the main pass's).

    One pass: the module's non-expert weights and head (``draft_stream_bytes``, per DP group) plus the experts its
    tokens touch in one MoE layer, the KV of one average layer (``attended`` / layers), its matmul and attention
    FLOPs; communication one average layer's share of a one-token-per-sequence step; fixed cost two layers' worth
    (the block, and the head with sampling: an **assumption**). Zero without speculation.
    """
    drafts = sm.spec_tokens_per_step - 1.0
    per_layer = attended / sm.layers
    matmul_flops = batch * sm.draft_matmul_flops_per_token
    attn_flops = batch * sm.decode_attn_flops_per_ctx_token_layer * per_layer
    moved = (sm.dp * sm.draft_stream_bytes
             + sm.draft_moe_layers * touched_experts(sm.experts, sm.top_k, batch, xp) * sm.expert_bytes
             + batch * per_layer * sm.kv_bytes_per_token_layer * sm.kv_read_replication)
    t_compute = _compute_time(sm, phase, matmul_flops, attn_flops, xp)
    t_memory = moved / (sm.gpus * sm.hbm_bytes_per_s_per_gpu * phase.memory_efficiency)
    t_comm = _comm_time(sm, batch / sm.dp, batch / sm.gpus, phase, xp) / sm.layers
    return drafts * (xp.maximum(t_compute, t_memory) + t_comm + 2.0 * layer_cost)


def prefill_pass(sm: StepModel, tokens_per_group, new_tokens_per_request, cached_tokens_per_request):
    """Times of one prefill forward pass with ``tokens_per_group`` new tokens in each DP group.

    Requests have ``new_tokens_per_request`` tokens to compute after a cached prefix of ``cached_tokens_per_request``.
    Attention pairs per request: new·cached + new²/2 (causal), window layers capped at new·window, sparse (DSA)
    layers at min(position, top-k) keys per query (:func:`_sparse_pairs`); the DSA indexer scores every causal pair.
    """
    xp = array_namespace(tokens_per_group, new_tokens_per_request, cached_tokens_per_request)
    phase = sm.efficiency.prefill
    tokens = tokens_per_group * sm.dp
    requests = tokens / new_tokens_per_request
    pairs_full = new_tokens_per_request * cached_tokens_per_request + 0.5 * new_tokens_per_request ** 2
    pairs = (sm.full_attention_layers * _sparse_pairs(sm, new_tokens_per_request, cached_tokens_per_request,
                                                      pairs_full, xp)
             + sm.window_layers * xp.minimum(pairs_full, new_tokens_per_request * _window(sm, xp))
             + _compressed_pairs(sm, new_tokens_per_request, cached_tokens_per_request, pairs_full, xp))
    matmul_flops = tokens * sm.matmul_flops_per_token
    attn_flops = (tokens * sm.state_flops_per_token + requests * pairs * sm.prefill_attn_flops_per_pair_layer
                  + requests * sm.index_layers * pairs_full / sm.index_ratio * sm.index_flops_per_ctx_token_layer)
    flops = matmul_flops + attn_flops
    expert_bytes = sm.moe_layers * touched_experts(sm.experts, sm.top_k, tokens, xp) * sm.expert_bytes
    context = cached_tokens_per_request + new_tokens_per_request
    kv_bytes = (requests * _stored_tokens(sm, context, xp) * sm.kv_bytes_per_token_layer
                + requests * sm.index_layers * context / sm.index_ratio * sm.index_bytes_per_token_layer
                + requests * sm.state_bytes_per_sequence)
    total_bytes = sm.dp * sm.dense_stream_bytes + expert_bytes + kv_bytes
    t_compute, t_memory = _roofline(sm, phase, matmul_flops, tokens, total_bytes, expert_bytes, xp, attn_flops)
    t_comm = _comm_time(sm, tokens_per_group, tokens / sm.gpus, phase, xp)
    t_pass = (xp.maximum(t_compute, t_memory) + t_comm + phase.step_overhead_s
              + phase.layer_overhead_s * sm.layers + phase.sequence_overhead_s * requests / sm.dp)
    return {"t_compute_s": t_compute, "t_memory_s": t_memory, "t_comm_s": t_comm, "t_step_s": t_pass,
            "bytes": total_bytes, "flops": flops}


def _kv_bytes_per_sequence(sm: StepModel, tokens_per_sequence, xp):
    """The whole KV cache of one sequence (all its layers; sparse attention still caches every token, plus the
    indexer's keys and the compressors' running state)."""
    return (_stored_tokens(sm, tokens_per_sequence, xp) * sm.kv_bytes_per_token_layer
            + sm.index_layers * tokens_per_sequence / sm.index_ratio * sm.index_bytes_per_token_layer
            + sm.cache_fixed_bytes_per_sequence)


def kv_bytes_per_sequence_per_gpu(sm: StepModel, tokens_per_sequence, xp):
    """KV cache one sequence holds on each GPU of its DP group, and its recurrent state (linear-attention layers,
    whatever its length)."""
    return (_kv_bytes_per_sequence(sm, tokens_per_sequence, xp) / sm.kv_capacity_split
            + sm.state_bytes_per_sequence / sm.state_capacity_split)


def cache_bytes_per_sequence(sm: StepModel, tokens_per_sequence, xp):
    """Everything one sequence holds besides the weights, over all the GPUs that hold it: its KV cache and its
    recurrent state (what a disaggregated deployment moves from prefill to decode)."""
    return _kv_bytes_per_sequence(sm, tokens_per_sequence, xp) + sm.state_bytes_per_sequence


def max_concurrency(sm: StepModel, tokens_per_sequence):
    """Largest number of sequences of ``tokens_per_sequence`` whose KV fits beside the weights (whole instance)."""
    xp = array_namespace(tokens_per_sequence)
    per_seq = kv_bytes_per_sequence_per_gpu(sm, tokens_per_sequence, xp)
    free = xp.maximum(sm.free_kv_bytes_per_gpu, 0.0)
    return xp.floor(free / per_seq) * sm.dp
