// The performance model's arithmetic for one operating point: the CUDA twin of tokensim/perf/_core.py.
//
// Each function here equals the Python function of the same name without the prefix, term for term and in the
// same order of operations (so that a float64 build agrees with NumPy to rounding):
//   perf_touched_experts          == tokensim.perf._core.touched_experts
//   perf_window / perf_attended   == tokensim.perf._core._window / tokensim.perf._core._attended_tokens
//   perf_sparse_cap / perf_stored == tokensim.perf._core._sparse_cap / tokensim.perf._core._stored_tokens
//   perf_sparse_pairs             == tokensim.perf._core._sparse_pairs
//   perf_capped_pairs             == tokensim.perf._core._capped_pairs
//   perf_compressed_pairs         == tokensim.perf._core._compressed_pairs
//   perf_ep_exchange_fixed_s      == tokensim.perf._core.ep_exchange_fixed_s
//   perf_comm_time                == tokensim.perf._core._comm_time
//   perf_imbalance_extra          == tokensim.perf._core._imbalance_extra
//   perf_attention_peak           == tokensim.perf._core._attention_peak
//   perf_roofline                 == tokensim.perf._core._roofline
//   perf_draft_time               == tokensim.perf._core._draft_time
//   perf_decode_step              == tokensim.perf._core.decode_step
//   perf_prefill_pass             == tokensim.perf._core.prefill_pass
//   perf_kv_bytes_per_sequence    == tokensim.perf._core.kv_bytes_per_sequence_per_gpu
//   perf_max_concurrency          == tokensim.perf._core.max_concurrency (in double always: it sets the batch grid)
//   perf_free_kv_bytes_per_gpu    == StepModel.free_kv_bytes_per_gpu
//
// PerfStep is tokensim.perf._core.StepModel with its Efficiency flattened in; tokensim/sweep/_kernel.py reads this
// file for the field order and refuses to pack a StepModel, PhaseEfficiency or Efficiency field it has no slot for,
// so a field added to the Python model fails the packing tests until it is added here. The arithmetic is checked by
// tests/test_sweep.py (this file compiled for the host against tokensim.perf.evaluate, float64 to 1e-12).
// Header only, no system #include (NVRTC builds it without system headers).
#ifndef TOKENSIM_PERFCORE_CUH
#define TOKENSIM_PERFCORE_CUH

#include "real.cuh"

// tokensim.perf._core._REDUCE_BYTES: all-reduce and EP combine run in bf16.
#define PERF_REDUCE_BYTES 2.0
// tokensim.perf._core._LL_MAX_TOKENS, _LL_LATENCY_SCALE_UP_S, _LL_LATENCY_SCALE_OUT_S: DeepEP low-latency
// dispatch/combine (buffer tokens per rank; fixed latency per exchange inside one scale-up domain and across
// domains). Sources and assumptions in _core.py.
#define PERF_LL_MAX_TOKENS 128.0
#define PERF_LL_LATENCY_SCALE_UP_S 25e-6
#define PERF_LL_LATENCY_SCALE_OUT_S 50e-6
// tokensim.perf._core.GRAPH_MAX_BATCH: decode batches per DP group replayed from CUDA graphs.
#define PERF_GRAPH_MAX_BATCH 256.0

__device__ __forceinline__ float perf_pow(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double perf_pow(double x, double y) { return pow(x, y); }

struct PerfPhase {
    double compute_efficiency;      // PhaseEfficiency.compute_efficiency
    double memory_efficiency;       // .memory_efficiency
    double network_efficiency;      // .network_efficiency
    double comm_overlap;            // .comm_overlap
    double step_overhead_s;         // .step_overhead_s
    double collective_latency_s;    // .collective_latency_s
    double sequence_overhead_s;     // .sequence_overhead_s
    double alltoall_latency_s;      // .alltoall_latency_s
    double layer_overhead_s;        // .layer_overhead_s
    double graph_layer_overhead_s;  // .graph_layer_overhead_s
    double ep_imbalance;            // .ep_imbalance
    double layer_token_overhead_s;  // .layer_token_overhead_s
    double ep_ll_token_latency_s;   // .ep_ll_token_latency_s
};

struct PerfStep {
    double gpus;                                    // StepModel.gpus
    double tp;                                      // .tp
    double dp;                                      // .dp
    double ep;                                      // .ep
    double peak_flops_per_gpu;                      // .peak_flops_per_gpu
    double hbm_bytes_per_s_per_gpu;                 // .hbm_bytes_per_s_per_gpu
    double dense_stream_bytes;                      // .dense_stream_bytes
    double expert_bytes;                            // .expert_bytes
    double experts;                                 // .experts
    double top_k;                                   // .top_k
    double moe_layers;                              // .moe_layers
    double matmul_flops_per_token;                  // .matmul_flops_per_token
    double decode_attn_flops_per_ctx_token_layer;   // .decode_attn_flops_per_ctx_token_layer
    double prefill_attn_flops_per_pair_layer;       // .prefill_attn_flops_per_pair_layer
    double full_attention_layers;                   // .full_attention_layers
    double window_layers;                           // .window_layers
    double window_tokens;                           // .window_tokens (0 = no sliding window)
    double sparse_topk_tokens;                      // .sparse_topk_tokens (0 = dense attention)
    double index_flops_per_ctx_token_layer;         // .index_flops_per_ctx_token_layer
    double index_bytes_per_token_layer;             // .index_bytes_per_token_layer
    double index_layers;                            // .index_layers
    double kv_bytes_per_token_layer;                // .kv_bytes_per_token_layer
    double kv_read_replication;                     // .kv_read_replication
    double kv_capacity_split;                       // .kv_capacity_split
    double layers;                                  // .layers
    double hidden_size;                             // .hidden_size
    double activation_bytes;                        // .activation_bytes
    double tp_seconds_per_byte;                     // .tp_seconds_per_byte
    double ep_seconds_per_byte;                     // .ep_seconds_per_byte
    double ep_scale_out_copies;                     // .ep_scale_out_copies
    double scale_out_seconds_per_byte;              // .scale_out_seconds_per_byte
    double weight_bytes_per_gpu;                    // .weight_bytes_per_gpu
    double usable_hbm_bytes_per_gpu;                // .usable_hbm_bytes_per_gpu
    double dequant_overhead;                        // .dequant_overhead
    double spec_tokens_per_step;                    // .spec_tokens_per_step
    double spec_acceptance_length;                  // .spec_acceptance_length
    PerfPhase prefill;                              // .efficiency.prefill
    PerfPhase decode;                               // .efficiency.decode
    double prefill_chunk_tokens;                    // .efficiency.prefill_chunk_tokens
    double workspace_fraction;                      // .efficiency.workspace_fraction
    double offload_bytes_per_gpu;                   // .offload_bytes_per_gpu
    double host_link_seconds_per_byte;              // .host_link_seconds_per_byte
    double draft_stream_bytes;                      // .draft_stream_bytes
    double draft_matmul_flops_per_token;            // .draft_matmul_flops_per_token
    double draft_moe_layers;                        // .draft_moe_layers
    double expert_flops_per_token;                  // .expert_flops_per_token
    double expert_load_imbalance;                   // .expert_load_imbalance
    double state_bytes_per_sequence;                // .state_bytes_per_sequence (linear-attention layers)
    double state_flops_per_token;                   // .state_flops_per_token
    double state_capacity_split;                    // .state_capacity_split
    double csa_layers;                              // .csa_layers (compressed attention, DeepSeek-V4)
    double csa_ratio;                               // .csa_ratio
    double hca_layers;                              // .hca_layers
    double hca_ratio;                               // .hca_ratio
    double index_ratio;                             // .index_ratio
    double cache_fixed_bytes_per_sequence;          // .cache_fixed_bytes_per_sequence
    double attention_peak_flops_per_gpu;            // .attention_peak_flops_per_gpu (0 = peak_flops_per_gpu)
    double max_achievable_flops_per_gpu;            // .max_achievable_flops_per_gpu (0 = not measured)
    double attention_max_achievable_flops_per_gpu;  // .attention_max_achievable_flops_per_gpu (0 = not measured)
};

// Times of one forward pass (the keys of decode_step's and prefill_pass's dicts the serving arithmetic reads).
struct PerfPass {
    real t_compute_s;
    real t_memory_s;
    real t_comm_s;
    real t_step_s;
};

__device__ __forceinline__ real perf_touched_experts(const PerfStep& sm, real tokens) {
    const real experts = (real)sm.experts;
    const real safe = mc_max(experts, (real)1);
    return experts > (real)0 ? experts * ((real)1 - perf_pow((real)1 - (real)sm.top_k / safe, tokens))
                             : (real)0 * tokens;
}

__device__ __forceinline__ real perf_window(const PerfStep& sm) {
    return sm.window_tokens > 0.0 ? (real)sm.window_tokens : mc_inf();
}

__device__ __forceinline__ real perf_sparse_cap(const PerfStep& sm) {
    return sm.sparse_topk_tokens > 0.0 ? (real)sm.sparse_topk_tokens : mc_inf();
}

__device__ __forceinline__ real perf_stored(const PerfStep& sm, real context) {
    return (real)sm.full_attention_layers * context + (real)sm.window_layers * mc_min(context, perf_window(sm))
           + (real)sm.csa_layers * context / (real)sm.csa_ratio + (real)sm.hca_layers * context / (real)sm.hca_ratio;
}

__device__ __forceinline__ real perf_attended(const PerfStep& sm, real context) {
    return (real)sm.full_attention_layers * mc_min(context, perf_sparse_cap(sm))
           + (real)sm.window_layers * mc_min(context, perf_window(sm))
           + (real)sm.csa_layers * mc_min(context / (real)sm.csa_ratio, perf_sparse_cap(sm))
           + (real)sm.hca_layers * context / (real)sm.hca_ratio;
}

// tokensim.perf._core._capped_pairs: Σ over the new positions of min(p, cap), continuous.
__device__ __forceinline__ real perf_capped_pairs(real new_tokens, real cached_tokens, real cap) {
    const real end = cached_tokens + new_tokens;
    const real m_end = mc_min(end, cap);
    const real m_start = mc_min(cached_tokens, cap);
    return m_end * (end - (real)0.5 * m_end) - m_start * (cached_tokens - (real)0.5 * m_start);
}

__device__ __forceinline__ real perf_sparse_pairs(const PerfStep& sm, real new_tokens, real cached_tokens,
                                                  real pairs_full) {
    if (!(sm.sparse_topk_tokens > 0.0)) return pairs_full;
    return perf_capped_pairs(new_tokens, cached_tokens, perf_sparse_cap(sm));
}

// tokensim.perf._core._compressed_pairs: (query, compressed entry) pairs over the CSA and HCA layers.
__device__ __forceinline__ real perf_compressed_pairs(const PerfStep& sm, real new_tokens, real cached_tokens,
                                                      real pairs_full) {
    const real csa = perf_capped_pairs(new_tokens, cached_tokens, (real)sm.csa_ratio * perf_sparse_cap(sm))
                     / (real)sm.csa_ratio;
    return (real)sm.csa_layers * csa + (real)sm.hca_layers * pairs_full / (real)sm.hca_ratio;
}

// Fixed cost of one EP dispatch or combine: the cheaper of the low-latency kernels (their latency growing past the
// default buffer's tokens per GPU at the phase's ep_ll_token_latency_s) and the normal kernels' fitted cost.
__device__ __forceinline__ real perf_ep_exchange_fixed_s(const PerfStep& sm, real tokens_per_gpu,
                                                         const PerfPhase& phase) {
    const bool scale_out = sm.ep_scale_out_copies > 0.0;
    const real ll_latency = scale_out ? (real)PERF_LL_LATENCY_SCALE_OUT_S : (real)PERF_LL_LATENCY_SCALE_UP_S;
    const real growth = (scale_out ? (real)(PERF_LL_LATENCY_SCALE_OUT_S / PERF_LL_LATENCY_SCALE_UP_S) : (real)1.0)
                        * (real)phase.ep_ll_token_latency_s
                        * mc_max(tokens_per_gpu - (real)PERF_LL_MAX_TOKENS, (real)0.0);
    return mc_min(ll_latency + growth, (real)phase.alltoall_latency_s);
}

// The busiest EP rank's routed-expert load over the mean rank's, minus 1, where the experts are spread over EP ranks,
// else 0: the deployment's expert_load_imbalance times the phase's ep_imbalance scale
// (tokensim.perf._core._imbalance_extra).
__device__ __forceinline__ real perf_imbalance_extra(const PerfStep& sm, const PerfPhase& phase) {
    return (sm.ep > 1.0 && sm.moe_layers > 0.0)
           ? (real)sm.expert_load_imbalance * (real)phase.ep_imbalance - (real)1.0 : (real)0.0;
}

__device__ __forceinline__ real perf_comm_time(const PerfStep& sm, real tokens_per_gpu_group, real tokens_per_gpu,
                                               const PerfPhase& phase) {
    const real tp = (real)sm.tp;
    const real has_tp = sm.tp > 1.0 ? (real)1 : (real)0;
    const real ring_bytes = (real)2.0 * (tp - (real)1) / tp * tokens_per_gpu_group * (real)sm.hidden_size
                            * (real)PERF_REDUCE_BYTES;
    // Attention data-parallel groups with the experts tensor-parallel over all G GPUs (ep 1, dp > 1): one
    // all-gather + reduce-scatter of the instance's tokens per MoE layer, in place of that layer's TP all-reduce.
    const real has_gather = (sm.ep == 1.0 && sm.dp > 1.0 && sm.moe_layers > 0.0) ? (real)1 : (real)0;
    const real n_reduce = (real)(2.0 * sm.layers) - has_gather * (real)sm.moe_layers;
    const real t_tp = n_reduce * (ring_bytes * (real)sm.tp_seconds_per_byte / (real)phase.network_efficiency
                                  + has_tp * (real)phase.collective_latency_s);
    const real gpus = (real)sm.gpus;
    const real gather_bytes = (real)2.0 * (gpus - (real)1) / gpus * (tokens_per_gpu * gpus) * (real)sm.hidden_size
                              * (real)PERF_REDUCE_BYTES;
    const real t_gather = has_gather * (real)sm.moe_layers
                          * (gather_bytes * (real)sm.tp_seconds_per_byte / (real)phase.network_efficiency
                             + (real)2.0 * (real)phase.collective_latency_s);
    // Every EP layout, TEP included: there the term stands in for a per-MoE-layer cost (tokensim.perf._core).
    const real has_ep = (sm.ep > 1.0 && sm.moe_layers > 0.0) ? (real)1 : (real)0;
    const real ep = (real)sm.ep;
    const real remote = (ep - (real)1) / ep;
    const real token_bytes = tokens_per_gpu * (real)sm.hidden_size
                             * ((real)sm.activation_bytes + (real)PERF_REDUCE_BYTES);
    const real t_up = token_bytes * (real)sm.top_k * remote * (real)sm.ep_seconds_per_byte;
    const real t_out = token_bytes * (real)sm.ep_scale_out_copies * (real)sm.scale_out_seconds_per_byte;
    const real fixed = perf_ep_exchange_fixed_s(sm, tokens_per_gpu, phase);
    // the busiest rank receives (1 + extra) times the mean rank's copies, and the exchange waits for it
    const real load = (real)1 + perf_imbalance_extra(sm, phase);
    const real t_ep = has_ep * (real)sm.moe_layers * (load * mc_max(t_up, t_out) / (real)phase.network_efficiency
                                                      + (real)2 * fixed);
    return ((real)1 - (real)phase.comm_overlap) * (t_tp + t_gather + t_ep);
}

// The tensor rate attention-type FLOPs run at (tokensim.perf._core._attention_peak).
__device__ __forceinline__ real perf_attention_peak(const PerfStep& sm) {
    return sm.attention_peak_flops_per_gpu > 0.0 ? (real)sm.attention_peak_flops_per_gpu : (real)sm.peak_flops_per_gpu;
}

// FLOP/s of tensor work: peak x compute efficiency, capped by the measured max-achievable rate where one is given
// (tokensim.perf._core._tensor_rate).
__device__ __forceinline__ real perf_tensor_rate(real peak, double achievable, const PerfPhase& phase) {
    const real rate = peak * (real)phase.compute_efficiency;
    return achievable > 0.0 ? mc_min(rate, (real)achievable) : rate;
}

// Seconds of tensor work over the G GPUs (tokensim.perf._core._compute_time).
__device__ __forceinline__ real perf_compute_time(const PerfStep& sm, const PerfPhase& phase, real matmul_flops,
                                                  real attn_flops) {
    const real matmul_rate = perf_tensor_rate((real)sm.peak_flops_per_gpu, sm.max_achievable_flops_per_gpu, phase);
    const double attention_achievable = sm.attention_peak_flops_per_gpu > 0.0
                                        ? sm.attention_max_achievable_flops_per_gpu : sm.max_achievable_flops_per_gpu;
    const real attention_rate = perf_tensor_rate(perf_attention_peak(sm), attention_achievable, phase);
    return (matmul_flops * ((real)1 + (real)sm.dequant_overhead) / matmul_rate + attn_flops / attention_rate)
           / (real)sm.gpus;
}

// Compute and memory time of one forward pass (tokensim.perf._core._roofline): the busiest EP rank's extra
// routed-expert work included; weights offloaded to host memory stream over the host link beside the HBM reads.
// flops: the weight matmuls' (dequantisation added when weight-only); attn_flops: attention-type work.
__device__ __forceinline__ void perf_roofline(const PerfStep& sm, const PerfPhase& phase, real flops, real tokens,
                                              real total_bytes, real expert_bytes, PerfPass& out,
                                              real attn_flops) {
    const real extra = perf_imbalance_extra(sm, phase);
    out.t_compute_s = perf_compute_time(sm, phase, flops + extra * tokens * (real)sm.expert_flops_per_token,
                                        attn_flops);
    // its weight reads grow only while it has experts left untouched (at most all of its own experts)
    const real full = (real)sm.moe_layers * (real)sm.experts * (real)sm.expert_bytes;
    const real extra_bytes = mc_max(mc_min(((real)1 + extra) * expert_bytes, full) - expert_bytes, (real)0);
    out.t_memory_s = mc_max((total_bytes + extra_bytes) / ((real)sm.gpus * (real)sm.hbm_bytes_per_s_per_gpu
                                                          * (real)phase.memory_efficiency),
                            (real)sm.offload_bytes_per_gpu * (real)sm.host_link_seconds_per_byte);
}

// The speculative draft passes of one decode step (tokensim.perf._core._draft_time).
__device__ __forceinline__ real perf_draft_time(const PerfStep& sm, real batch, real attended, real layer_cost,
                                                const PerfPhase& phase) {
    const real drafts = (real)sm.spec_tokens_per_step - (real)1.0;
    const real per_layer = attended / (real)sm.layers;
    const real matmul_flops = batch * (real)sm.draft_matmul_flops_per_token;
    const real attn_flops = batch * (real)sm.decode_attn_flops_per_ctx_token_layer * per_layer;
    const real moved = (real)sm.dp * (real)sm.draft_stream_bytes
                       + (real)sm.draft_moe_layers * perf_touched_experts(sm, batch) * (real)sm.expert_bytes
                       + batch * per_layer * (real)sm.kv_bytes_per_token_layer * (real)sm.kv_read_replication;
    const real t_compute = perf_compute_time(sm, phase, matmul_flops, attn_flops);
    const real t_memory = moved / ((real)sm.gpus * (real)sm.hbm_bytes_per_s_per_gpu * (real)phase.memory_efficiency);
    const real t_comm = perf_comm_time(sm, batch / (real)sm.dp, batch / (real)sm.gpus, phase) / (real)sm.layers;
    return drafts * (mc_max(t_compute, t_memory) + t_comm + (real)2.0 * layer_cost);
}

__device__ __forceinline__ PerfPass perf_decode_step(const PerfStep& sm, real batch, real context) {
    const PerfPhase& phase = sm.decode;
    const real tokens = batch * (real)sm.spec_tokens_per_step;
    const real attended = perf_attended(sm, context);
    const real indexed = (real)sm.index_layers * context / (real)sm.index_ratio;
    const real matmul_flops = tokens * (real)sm.matmul_flops_per_token;
    const real attn_flops = tokens * ((real)sm.decode_attn_flops_per_ctx_token_layer * attended
                                      + (real)sm.index_flops_per_ctx_token_layer * indexed
                                      + (real)sm.state_flops_per_token);
    const real expert_bytes = (real)sm.moe_layers * perf_touched_experts(sm, tokens) * (real)sm.expert_bytes;
    const real kv_bytes = batch * attended * (real)sm.kv_bytes_per_token_layer * (real)sm.kv_read_replication
                          + batch * indexed * (real)sm.index_bytes_per_token_layer * (real)sm.kv_read_replication
                          + batch * (real)2.0 * (real)sm.state_bytes_per_sequence;
    const real total_bytes = (real)sm.dp * (real)sm.dense_stream_bytes + expert_bytes + kv_bytes;
    PerfPass out;
    perf_roofline(sm, phase, matmul_flops, tokens, total_bytes, expert_bytes, out, attn_flops);
    out.t_comm_s = perf_comm_time(sm, tokens / (real)sm.dp, tokens / (real)sm.gpus, phase);
    const real layer_cost = batch / (real)sm.dp <= (real)PERF_GRAPH_MAX_BATCH ? (real)phase.graph_layer_overhead_s
                                                                           : (real)phase.layer_overhead_s;
    const real t_draft = perf_draft_time(sm, batch, attended, layer_cost, phase);
    out.t_step_s = mc_max(out.t_compute_s, out.t_memory_s) + out.t_comm_s + (real)phase.step_overhead_s
                   + (layer_cost + (real)phase.layer_token_overhead_s * tokens / (real)sm.dp) * (real)sm.layers
                   + (real)phase.sequence_overhead_s * batch / (real)sm.dp + t_draft;
    return out;
}

__device__ __forceinline__ PerfPass perf_prefill_pass(const PerfStep& sm, real tokens_per_group,
                                                      real new_tokens_per_request, real cached_tokens_per_request) {
    const PerfPhase& phase = sm.prefill;
    const real tokens = tokens_per_group * (real)sm.dp;
    const real requests = tokens / new_tokens_per_request;
    const real pairs_full = new_tokens_per_request * cached_tokens_per_request
                            + (real)0.5 * (new_tokens_per_request * new_tokens_per_request);
    const real pairs = (real)sm.full_attention_layers
                           * perf_sparse_pairs(sm, new_tokens_per_request, cached_tokens_per_request, pairs_full)
                       + (real)sm.window_layers * mc_min(pairs_full, new_tokens_per_request * perf_window(sm))
                       + perf_compressed_pairs(sm, new_tokens_per_request, cached_tokens_per_request, pairs_full);
    const real matmul_flops = tokens * (real)sm.matmul_flops_per_token;
    const real attn_flops = tokens * (real)sm.state_flops_per_token
                            + requests * pairs * (real)sm.prefill_attn_flops_per_pair_layer
                            + requests * (real)sm.index_layers * pairs_full / (real)sm.index_ratio
                                  * (real)sm.index_flops_per_ctx_token_layer;
    const real expert_bytes = (real)sm.moe_layers * perf_touched_experts(sm, tokens) * (real)sm.expert_bytes;
    const real context = cached_tokens_per_request + new_tokens_per_request;
    const real kv_bytes = requests * perf_stored(sm, context) * (real)sm.kv_bytes_per_token_layer
                          + requests * (real)sm.index_layers * context / (real)sm.index_ratio
                                * (real)sm.index_bytes_per_token_layer
                          + requests * (real)sm.state_bytes_per_sequence;
    const real total_bytes = (real)sm.dp * (real)sm.dense_stream_bytes + expert_bytes + kv_bytes;
    PerfPass out;
    perf_roofline(sm, phase, matmul_flops, tokens, total_bytes, expert_bytes, out, attn_flops);
    out.t_comm_s = perf_comm_time(sm, tokens_per_group, tokens / (real)sm.gpus, phase);
    out.t_step_s = mc_max(out.t_compute_s, out.t_memory_s) + out.t_comm_s + (real)phase.step_overhead_s
                   + (real)phase.layer_overhead_s * (real)sm.layers
                   + (real)phase.sequence_overhead_s * requests / (real)sm.dp;
    return out;
}

// Memory capacity in double in either build: the batch grid of the SLO search is read off it, and a float rounding
// of floor(free / per_sequence) would move the grid.
__device__ __forceinline__ double perf_free_kv_bytes_per_gpu(const PerfStep& sm) {
    const double workspace = sm.workspace_fraction * sm.usable_hbm_bytes_per_gpu;
    return sm.usable_hbm_bytes_per_gpu - workspace - sm.weight_bytes_per_gpu;
}

__device__ __forceinline__ double perf_kv_bytes_per_sequence(const PerfStep& sm, double tokens_per_sequence) {
    const double window = sm.window_tokens > 0.0 ? sm.window_tokens : (double)mc_inf();
    const double stored = sm.full_attention_layers * tokens_per_sequence
                          + sm.window_layers * (window < tokens_per_sequence ? window : tokens_per_sequence)
                          + sm.csa_layers * tokens_per_sequence / sm.csa_ratio
                          + sm.hca_layers * tokens_per_sequence / sm.hca_ratio;
    return (stored * sm.kv_bytes_per_token_layer
            + sm.index_layers * tokens_per_sequence / sm.index_ratio * sm.index_bytes_per_token_layer
            + sm.cache_fixed_bytes_per_sequence) / sm.kv_capacity_split
           + sm.state_bytes_per_sequence / sm.state_capacity_split;
}

__device__ __forceinline__ double perf_max_concurrency(const PerfStep& sm, double tokens_per_sequence) {
    const double per_seq = perf_kv_bytes_per_sequence(sm, tokens_per_sequence);
    const double free_bytes = perf_free_kv_bytes_per_gpu(sm);
    return floor((free_bytes > 0.0 ? free_bytes : 0.0) / per_seq) * sm.dp;
}

#endif  // TOKENSIM_PERFCORE_CUH
