// Layout and device code of the unit-cost sweep kernel (kernels/unitcost.cu).
//
// Packed by tokensim/sweep/_kernel.py through tokensim._kernels.struct_layout, which reads THIS file (and
// perfcore.cuh) for the fields, their offsets and the #define values, as for the Monte Carlo kernel's McParams: a
// field added here must be given a value there, or packing fails. Every field is a double.
//
//   UcParams   what every grid point shares: the serving mode, the SLOs that are not axes, the scenario's cost inputs
//              (tokensim.cost.CostInputs fields), and where each axis sits in the flat grid index. In constant memory
//              (uc_params below, written before each launch), like mc_params: every thread reads the same field at
//              the same time
//   UcRecord   one (hardware, precision, model) combination in one layout: tokensim.perf.instance's StepModel
//              (PerfStep) and what the cost side needs of the hardware; two records per combination, the throughput
//              layout of perf.default_deployment and the latency layout of perf.latency_layout. A device
//              array passed to the kernel: its length depends on the grid, and threads read different records
//
// Device code, each function equal to the Python it names (same terms, same order of operations):
//   uc_prefill / uc_serve            == tokensim.perf.evaluate (modes aggregated and disaggregated)
//   uc_meets_slo                     == tokensim.perf._model._meets
//   uc_grid_batch                    == tokensim.perf.concurrency_grid (the candidates, one at a time)
//   uc_cost_per_gpu_hour             == tokensim.cost.cost_per_gpu_hour(...).total (with capital_recovery_factor and
//                                       opex_per_installed_gpu_hour)
//   uc_cost_per_million_tokens       == tokensim.cost.cost_per_million_tokens
#ifndef TOKENSIM_UNITCOST_CUH
#define TOKENSIM_UNITCOST_CUH

#include "perfcore.cuh"
#include "real.cuh"

// Axis slots of the grid, in tokensim.sweep._axes.AXES order. A slot not swept has size 1 and its base value.
#define UC_AXIS_HARDWARE 0
#define UC_AXIS_PRECISION 1
#define UC_AXIS_MODEL 2
#define UC_AXIS_CONCURRENCY 3
#define UC_AXIS_MIN_TOKENS_PER_S_PER_USER 4
#define UC_AXIS_INPUT_TOKENS 5
#define UC_AXIS_OUTPUT_TOKENS 6
#define UC_AXIS_CONTEXT_TOKENS 7
#define UC_AXIS_CACHE_HIT_RATE 8
#define UC_AXIS_SERVER_PRICE 9
#define UC_AXIS_UTILISATION 10
#define UC_AXIS_COST_OF_CAPITAL 11
#define UC_AXIS_ELECTRICITY_PRICE_PER_KWH 12
#define UC_AXIS_RENT_PER_GPU_HOUR 13
#define UC_AXIS_SPOT_UTILISATION 14
#define UC_AXES 15

// Rows of the output (UC_OUTPUTS x n reals, row-major), in tokensim.sweep._kernel.OUTPUTS order.
#define UC_OUT_CONCURRENCY 0
#define UC_OUT_TOKENS_PER_S_PER_USER 1
#define UC_OUT_OUTPUT_TOKENS_PER_S_PER_GPU 2
#define UC_OUT_COST_PER_GPU_HOUR 3
#define UC_OUT_COST_PER_MILLION_INPUT_TOKENS 4
#define UC_OUT_COST_PER_MILLION_CACHED_INPUT_TOKENS 5
#define UC_OUT_COST_PER_MILLION_OUTPUT_TOKENS 6
#define UC_OUT_COST_PER_MILLION_TOKENS_BLENDED 7
#define UC_OUTPUTS 8

// Bits of the flags output, as tokensim.sweep._kernel.FLAGS.
#define UC_FLAG_FEASIBLE 1
#define UC_FLAG_LATENCY_LAYOUT 2

#define UC_MODE_AGGREGATED 0
#define UC_MODE_DISAGGREGATED 1

struct UcParams {
    double mode;                                    // UC_MODE_*: the serving mode of perf.evaluate
    double search;                                  // 1: batch searched under the SLOs; 0: concurrency axis
    double grid_points;                             // perf.concurrency_grid's `points`
    double max_ttft_s;                              // SLO.max_ttft_s; NaN when none
    double max_tpot_s;                              // SLO.max_tpot_s; NaN when none
    double cached_input_cost_fraction;              // Serving.cached_input_cost_fraction
    double network_per_gpu;                         // CostInputs.network_per_gpu
    double installation_per_gpu;                    // .installation_per_gpu
    double residual_share_of_hardware;              // .residual_share_of_hardware
    double residual_value_per_gpu;                  // .residual_value_per_gpu
    double economic_life_years;                     // .economic_life_years
    double pue;                                     // .pue
    double load_factor;                             // .load_factor
    double idle_load_factor;                        // .idle_load_factor
    double facility_price_per_kw_month;             // .facility_price_per_kw_month
    double maintenance_share_of_capex_per_year;     // .maintenance_share_of_capex_per_year
    double operations_per_gpu_year;                 // .operations_per_gpu_year
    double insurance_share_of_capex_per_year;       // .insurance_share_of_capex_per_year
    double hours_per_year;                          // tokensim._units.HOURS_PER_YEAR
    double seconds_per_hour;                        // tokensim.cost.SECONDS_PER_HOUR
    double tokens_per_million;                      // tokensim.cost.TOKENS_PER_MILLION
    double axis_size[UC_AXES];                      // values on each axis (1 when not swept)
    double axis_stride[UC_AXES];                    // flat-index stride of each axis (C order of the user's axes)
    double axis_offset[UC_AXES];                    // where each axis' values start in the values table
};

struct UcRecord {
    PerfStep step;                                  // perf.instance(...).step_model
    double kv_transfer_s_per_token;                 // perf.instance(...).kv_transfer_s_per_token
    double latency_layout;                          // 1: the next record is predict's latency layout to try
    double gpus_per_server;                         // the unit a server price refers to
    double it_kw_per_gpu;                           // board power x server overhead / 1000 (CostInputs field)
    double server_price;                            // default price per server; NaN: a server_price axis is needed
};

// The kernel's shared parameters, written by tokensim.sweep._kernel.launch before each launch (constant_images).
__constant__ UcParams uc_params;

__device__ __forceinline__ float uc_ceil(float x) { return ceilf(x); }
__device__ __forceinline__ double uc_ceil(double x) { return ceil(x); }
__device__ __forceinline__ bool uc_isnan(double x) { return x != x; }

// What perf.evaluate computes before the batch enters: the workload's arrays and the prefill passes.
struct UcWorkload {
    real input_tokens;
    real output_tokens;
    real cache_hit_rate;
    real new_tokens;        // l_new
    real cached_tokens;     // l_cached
    real context;           // decode mean context
    double tokens_per_sequence;  // input + output tokens, in double: the memory limit's argument
};

struct UcPrefill {
    real pf_s_per_token;    // instance-seconds per uncached input token in full chunks
    real single_t_step_s;   // one pass of min(l_new, chunk) tokens
    real n_chunks;
};

__device__ __forceinline__ UcWorkload uc_workload(double input_tokens, double output_tokens, double context_tokens,
                                                  double cache_hit_rate) {
    UcWorkload w;
    w.input_tokens = (real)input_tokens;
    w.output_tokens = (real)output_tokens;
    w.cache_hit_rate = (real)cache_hit_rate;
    w.new_tokens = mc_max(w.input_tokens * ((real)1 - w.cache_hit_rate), (real)1);
    w.cached_tokens = w.input_tokens - w.new_tokens;
    // perf.evaluate's default decode context (context_tokens=None): input + output / 2.
    w.context = uc_isnan(context_tokens) ? w.input_tokens + (real)0.5 * w.output_tokens : (real)context_tokens;
    w.tokens_per_sequence = input_tokens + output_tokens;
    return w;
}

__device__ __forceinline__ UcPrefill uc_prefill(const PerfStep& sm, const UcWorkload& w) {
    const real chunk = (real)sm.prefill_chunk_tokens;
    const PerfPass full = perf_prefill_pass(sm, chunk, w.new_tokens, w.cached_tokens);
    UcPrefill p;
    p.pf_s_per_token = full.t_step_s / (chunk * (real)sm.dp);
    const real single_tokens = mc_min(w.new_tokens, chunk);
    p.single_t_step_s = perf_prefill_pass(sm, single_tokens, w.new_tokens, w.cached_tokens).t_step_s;
    p.n_chunks = uc_ceil(w.new_tokens / chunk);
    return p;
}

// One operating point: the fields of perf.evaluate's result the sweep reads.
struct UcServe {
    real output_tokens_per_s_per_gpu;
    real tokens_per_s_per_user;
    real ttft_s;
    real tpot_s;
    real gpu_s_per_input_token;
    real gpu_s_per_output_token;
    bool fits;
};

__device__ __forceinline__ UcServe uc_serve(const UcRecord& rec, int mode, const UcWorkload& w, const UcPrefill& pf,
                                            double max_concurrency, double concurrency) {
    const PerfStep& sm = rec.step;
    const real b = (real)concurrency;
    const real a = (real)sm.spec_acceptance_length;
    const real gpus = (real)sm.gpus;
    const real t_dec = perf_decode_step(sm, b, w.context).t_step_s;
    UcServe s;
    if (mode == UC_MODE_AGGREGATED) {
        const real t_pf_req = pf.pf_s_per_token * w.new_tokens;
        const real cycle = b * t_pf_req + (w.output_tokens / a) * t_dec;
        s.output_tokens_per_s_per_gpu = b * w.output_tokens / cycle / gpus;
        s.tpot_s = cycle / w.output_tokens;
        s.tokens_per_s_per_user = (real)1 / s.tpot_s;
        s.ttft_s = pf.n_chunks * (pf.single_t_step_s + t_dec);
    } else {
        const real prefill_gpu_s = pf.pf_s_per_token * gpus * w.new_tokens;
        const real decode_gpu_s = t_dec * gpus / (a * b) * w.output_tokens;
        const real total = prefill_gpu_s + decode_gpu_s;
        s.output_tokens_per_s_per_gpu = w.output_tokens / total;
        s.tokens_per_s_per_user = a / t_dec;
        s.tpot_s = t_dec / a;
        s.ttft_s = pf.n_chunks * pf.single_t_step_s + w.input_tokens * (real)rec.kv_transfer_s_per_token;
    }
    s.gpu_s_per_input_token = pf.pf_s_per_token * gpus;
    s.gpu_s_per_output_token = t_dec * gpus / (a * b);
    s.fits = concurrency <= max_concurrency && concurrency >= 1.0 && perf_free_kv_bytes_per_gpu(sm) > 0.0;
    return s;
}

// perf._model._meets: fits, and every SLO that is set (NaN = not set).
__device__ __forceinline__ bool uc_meets_slo(const UcServe& s, double min_tokens_per_s_per_user, double max_ttft_s,
                                             double max_tpot_s) {
    bool ok = s.fits;
    if (!uc_isnan(min_tokens_per_s_per_user)) ok = ok && s.tokens_per_s_per_user >= (real)min_tokens_per_s_per_user;
    if (!uc_isnan(max_ttft_s)) ok = ok && s.ttft_s <= (real)max_ttft_s;
    if (!uc_isnan(max_tpot_s)) ok = ok && s.tpot_s <= (real)max_tpot_s;
    return ok;
}

// Candidate j of perf.concurrency_grid(top, points): j < points: round(geomspace(1, top, points)[j]) as NumPy computes
// geomspace (10 ** (j * log10(top) / (points - 1)), ends exact); j = points: floor(top). Duplicates are left in:
// the search's tie rule (highest throughput, then the smallest batch) makes them harmless.
__device__ __forceinline__ double uc_grid_batch(double top, int points, int j) {
    if (j >= points) return floor(top);
    double g;
    if (j == 0) {
        g = 1.0;
    } else if (j == points - 1) {
        g = top;
    } else {
        const double step = log10(top) / (double)(points - 1);
        g = pow(10.0, (double)j * step);
    }
    return rint(g);  // np.round: half to even
}

// tokensim.cost.cost_per_gpu_hour(ci, u).total for one point; the price is per GPU.
__device__ __forceinline__ real uc_cost_per_gpu_hour(const UcParams& p, double server_price_per_gpu,
                                                     double it_kw_per_gpu, double cost_of_capital,
                                                     double electricity_price_per_kwh, double utilisation) {
    const real hours = (real)p.hours_per_year;
    const real u = (real)utilisation;
    const real k = (real)cost_of_capital;
    const real life = (real)p.economic_life_years;
    const real it_kw = (real)it_kw_per_gpu;
    const real capex = (real)server_price_per_gpu + (real)p.network_per_gpu + (real)p.installation_per_gpu;
    const real hardware = (real)server_price_per_gpu + (real)p.network_per_gpu;
    const real residual = (real)p.residual_share_of_hardware * hardware + (real)p.residual_value_per_gpu;
    // capital_recovery_factor(k, L): 1/L at k = 0
    const bool at_zero = mc_abs(k) < (real)1e-12;
    const real safe = at_zero ? (real)1 : k;
    const real crf = at_zero ? (real)1 / life : safe / ((real)1 - perf_pow((real)1 + safe, -life));
    const real annual_capital = (capex - residual * perf_pow((real)1 + k, -life)) * crf;
    const real return_of_capital = (capex - residual) / life;
    const real sold_hours = hours * u;
    // opex_per_installed_gpu_hour(ci, u)
    const real power_at_full = it_kw * (real)p.pue * (real)electricity_price_per_kwh;
    const real load = (real)p.idle_load_factor + ((real)p.load_factor - (real)p.idle_load_factor) * u;
    const real power = power_at_full * load;
    const real facility = (real)p.facility_price_per_kw_month * it_kw * (real)12 / hours;
    const real maintenance = (real)p.maintenance_share_of_capex_per_year * capex / hours;
    const real operations = (real)p.operations_per_gpu_year / hours;
    const real insurance = (real)p.insurance_share_of_capex_per_year * capex / hours;
    // BREAKDOWN_TERMS order
    return return_of_capital / sold_hours + (annual_capital - return_of_capital) / sold_hours + power / u
           + facility / u + maintenance / u + operations / u + insurance / u;
}

struct UcTokenCost {
    real input;
    real cached_input;
    real output;
    real blended;
};

__device__ __forceinline__ UcTokenCost uc_cost_per_million_tokens(const UcParams& p, real cost_per_gpu_hour,
                                                                   real gpu_s_per_input_token,
                                                                   real gpu_s_per_output_token, const UcWorkload& w) {
    const real f = (real)p.cached_input_cost_fraction;
    const real h = w.cache_hit_rate;
    const real per_gpu_second = cost_per_gpu_hour / (real)p.seconds_per_hour;
    const real uncached = (real)1 - h;
    const real share = uncached / (uncached + f * h);
    UcTokenCost c;
    c.input = per_gpu_second * gpu_s_per_input_token * (real)p.tokens_per_million * share;
    c.cached_input = c.input * f;
    c.output = per_gpu_second * gpu_s_per_output_token * (real)p.tokens_per_million;
    const real mix_cost = w.input_tokens * (((real)1 - h) * c.input + h * c.cached_input) + w.output_tokens * c.output;
    c.blended = mix_cost / (w.input_tokens + w.output_tokens);
    return c;
}

#endif  // TOKENSIM_UNITCOST_CUH
