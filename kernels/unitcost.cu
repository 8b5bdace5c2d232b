// Grid sweeps of unit cost on the GPU: one thread per grid point, the whole point (operating point, SLO search, cost
// per GPU-hour, cost per million tokens) fused in one kernel.
//
// Launched by tokensim/sweep/_kernel.py (launch, host_chunks) for tokensim.sweep (backend "cupy").
// unitcost_points must equal tokensim.sweep.evaluate_points (the NumPy reference) point for point, which is itself
// tokensim.perf.evaluate + perf.concurrency_grid + cost.cost_per_gpu_hour + cost.cost_per_million_tokens:
//   performance   kernels/perfcore.cuh  == tokensim/perf/_core.py (decode_step, prefill_pass, max_concurrency, ...)
//   serving       kernels/unitcost.cuh  == tokensim/perf/_model.py (evaluate, _meets, concurrency_grid,
//                                          batch_search, latency_layout)
//   cost          kernels/unitcost.cuh  == tokensim/cost.py (cost_per_gpu_hour, cost_per_million_tokens)
// Checked by tests/test_sweep.py (compiled for the host, float64 to 1e-12 and float32 to the documented tolerance)
// and tests/test_sweep_gpu.py (on a device, float64 to 1e-9).
//
// A thread reads only small tables: the UcParams struct (constant memory, uc_params), the axis values (one short list
// per axis) and the records of the (hardware, precision, model) combinations; the grid itself is never stored. Point i of a launch is flat
// index first + i of the cartesian product, decomposed with the strides of UcParams (C order of the user's axes), as
// numpy.unravel_index does.
#include "perfcore.cuh"
#include "real.cuh"
#include "unitcost.cuh"

// The SLO search of perf.operating_point for one layout: every candidate batch of perf.concurrency_grid, the one
// with the highest output tokens/s/GPU among those meeting the SLOs (ties: the smallest batch, as argmax over the
// sorted grid picks); batch 1 when none does (meets = false).
__device__ double uc_search(const UcRecord& rec, int mode, const UcWorkload& w, const UcPrefill& pf,
                            double max_concurrency, int points, double min_tokens_per_s_per_user, double max_ttft_s,
                            double max_tpot_s, bool* meets, real* best_metric) {
    // perf.batch_search: the grid runs to the memory limit (1 when the weights do not fit)
    const double limit = perf_free_kv_bytes_per_gpu(rec.step) > 0.0 ? max_concurrency : 1.0;
    const double top = limit > 1.0 ? limit : 1.0;
    bool found = false;
    real best = (real)0;
    double best_batch = 1.0;
    for (int j = 0; j <= points; ++j) {
        const double batch = uc_grid_batch(top, points, j);
        const UcServe s = uc_serve(rec, mode, w, pf, max_concurrency, batch);
        if (!uc_meets_slo(s, min_tokens_per_s_per_user, max_ttft_s, max_tpot_s)) continue;
        const real metric = s.output_tokens_per_s_per_gpu;
        if (!found || metric > best || (metric == best && batch < best_batch)) {
            found = true;
            best = metric;
            best_batch = batch;
        }
    }
    *meets = found;
    *best_metric = best;
    return best_batch;
}

extern "C" __global__ void unitcost_points(const double* __restrict__ axis_values,
                                           const UcRecord* __restrict__ rec_table, unsigned long long first,
                                           long long n, real* __restrict__ out, unsigned char* __restrict__ flags) {
    const UcParams& p = uc_params;
    const int mode = (int)p.mode;
    const bool search = p.search != 0.0;
    const int points = (int)p.grid_points;
    const long long threads = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += threads) {
        const unsigned long long flat = first + (unsigned long long)i;
        double v[UC_AXES];
        int index[UC_AXES];
        for (int a = 0; a < UC_AXES; ++a) {
            const unsigned long long size = (unsigned long long)p.axis_size[a];
            const unsigned long long stride = (unsigned long long)p.axis_stride[a];
            index[a] = size > 1 ? (int)((flat / stride) % size) : 0;
            v[a] = axis_values[(long long)p.axis_offset[a] + index[a]];
        }
        // hardware-major order of the combinations: ((hardware x precisions) + precision) x models + model
        const long long combo = ((long long)index[UC_AXIS_HARDWARE] * (long long)p.axis_size[UC_AXIS_PRECISION]
                                 + index[UC_AXIS_PRECISION]) * (long long)p.axis_size[UC_AXIS_MODEL]
                                + index[UC_AXIS_MODEL];
        const UcRecord& throughput = rec_table[2 * combo];
        const UcWorkload w = uc_workload(v[UC_AXIS_INPUT_TOKENS], v[UC_AXIS_OUTPUT_TOKENS],
                                         v[UC_AXIS_CONTEXT_TOKENS], v[UC_AXIS_CACHE_HIT_RATE]);
        const double slo = v[UC_AXIS_MIN_TOKENS_PER_S_PER_USER];
        bool latency = false;
        bool feasible;
        double batch;
        UcServe s;
        if (search) {
            const UcPrefill pf0 = uc_prefill(throughput.step, w);
            const double max0 = perf_max_concurrency(throughput.step, w.tokens_per_sequence);
            bool meets0;
            real metric0;
            batch = uc_search(throughput, mode, w, pf0, max0, points, slo, p.max_ttft_s, p.max_tpot_s, &meets0,
                              &metric0);
            feasible = meets0;
            s = uc_serve(throughput, mode, w, pf0, max0, batch);
            // perf.predict: a MoE model with an SLO also tries the tensor-parallel layout and keeps the better one
            const bool has_slo = !uc_isnan(slo) || !uc_isnan(p.max_ttft_s) || !uc_isnan(p.max_tpot_s);
            if (has_slo && throughput.latency_layout != 0.0) {
                const UcRecord& alt = rec_table[2 * combo + 1];
                const UcPrefill pf1 = uc_prefill(alt.step, w);
                const double max1 = perf_max_concurrency(alt.step, w.tokens_per_sequence);
                bool meets1;
                real metric1;
                const double batch1 = uc_search(alt, mode, w, pf1, max1, points, slo, p.max_ttft_s, p.max_tpot_s,
                                                &meets1, &metric1);
                if (meets1 && (!meets0 || metric1 > metric0)) {
                    latency = true;
                    feasible = true;
                    batch = batch1;
                    s = uc_serve(alt, mode, w, pf1, max1, batch1);
                }
            }
        } else {
            batch = v[UC_AXIS_CONCURRENCY];
            const UcPrefill pf0 = uc_prefill(throughput.step, w);
            const double max0 = perf_max_concurrency(throughput.step, w.tokens_per_sequence);
            s = uc_serve(throughput, mode, w, pf0, max0, batch);
            feasible = s.fits;
        }
        const UcRecord& used = latency ? rec_table[2 * combo + 1] : throughput;
        const double server_price = uc_isnan(v[UC_AXIS_SERVER_PRICE]) ? used.server_price : v[UC_AXIS_SERVER_PRICE];
        const real per_gpu_hour = uc_cost_per_gpu_hour(p, server_price / used.gpus_per_server, used.it_kw_per_gpu,
                                                       v[UC_AXIS_COST_OF_CAPITAL],
                                                       v[UC_AXIS_ELECTRICITY_PRICE_PER_KWH], v[UC_AXIS_UTILISATION]);
        const UcTokenCost c = uc_cost_per_million_tokens(p, per_gpu_hour, s.gpu_s_per_input_token,
                                                         s.gpu_s_per_output_token, w);
        const real nan = mc_nan();
        out[UC_OUT_CONCURRENCY * n + i] = feasible ? (real)batch : nan;
        out[UC_OUT_TOKENS_PER_S_PER_USER * n + i] = feasible ? s.tokens_per_s_per_user : nan;
        out[UC_OUT_OUTPUT_TOKENS_PER_S_PER_GPU * n + i] = feasible ? s.output_tokens_per_s_per_gpu : nan;
        out[UC_OUT_COST_PER_GPU_HOUR * n + i] = per_gpu_hour;
        out[UC_OUT_COST_PER_MILLION_INPUT_TOKENS * n + i] = feasible ? c.input : nan;
        out[UC_OUT_COST_PER_MILLION_CACHED_INPUT_TOKENS * n + i] = feasible ? c.cached_input : nan;
        out[UC_OUT_COST_PER_MILLION_OUTPUT_TOKENS * n + i] = feasible ? c.output : nan;
        out[UC_OUT_COST_PER_MILLION_TOKENS_BLENDED * n + i] = feasible ? c.blended : nan;
        flags[i] = (unsigned char)((feasible ? UC_FLAG_FEASIBLE : 0) | (latency ? UC_FLAG_LATENCY_LAYOUT : 0));
    }
}
