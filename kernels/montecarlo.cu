// Monte Carlo of a cluster's finance on the GPU: one thread per path, the whole path in one kernel.
//
// Launched by tokensim/montecarlo/_kernel.py (kernel_chunks, launch) for tokensim.run_montecarlo(backend="cupy").
// mc_paths must equal tokensim.montecarlo.evaluate_paths (the NumPy reference) path for path:
//   drivers      kernels/mc_drivers.cuh == tokensim/montecarlo/_drivers.py (generate_drivers)
//   cash flows   kernels/cashflows.cuh  == tokensim/finance/_cashflows.py (cashflows)
//   IRRs         kernels/irr.cuh        == tokensim/_irr.py (irr, npv, annualise_monthly_rate)
//   numbers      kernels/philox.cuh     == tokensim/montecarlo/_rng.py (Philox4x32-10, counter = (month, stream, path))
// Checked by tests/test_montecarlo_gpu.py (float64: 1e-9 relative on the means of the summaries; float32: the
// tolerance in tokensim.montecarlo.FLOAT32_TOLERANCE).
//
// Memory: the inputs (parameters, schedule rows, tables, Philox key schedule) are constant-memory symbols
// (kernels/mc_params.cuh), read by every thread at the same address. Each thread keeps its month state in registers
// and its two cash-flow rows (project and equity, M + 1 values each, needed again by the IRR iterations) in shared
// memory, laid out [row][thread][period] with an odd row length so that a warp's accesses fall in distinct banks.
// Why not recompute the rows per Newton iteration: a month of a row costs up to six Philox blocks plus the
// transcendental driver updates, roughly 50x the fused multiply-add of a Horner step, and each IRR takes 5-10
// evaluations, so recomputing would multiply the kernel's work several times over; storing costs 2 x 61 x 4 bytes
// of shared memory per thread. Registers cannot hold the rows (the month loop is not unrolled, so they would be
// indexed dynamically and spill to local memory). When the rows do not fit in shared memory (long horizons in
// double) the launcher passes a global scratch buffer instead, laid out [period][thread of the grid] (coalesced).
//
// Code size: the H200 profile (benchmarks/profile_montecarlo_h200.log) showed 41% of stalls waiting for instructions
// in a 12,000-instruction kernel, most of it IRR code inlined six times over. The IRR now has one call site (both
// rows in a rolled loop), Horner's loop is unrolled by 4 and the rare multiple-root search is a real call.
#include "cashflows.cuh"
#include "irr.cuh"
#include "mc_drivers.cuh"
#include "mc_params.cuh"
#include "philox.cuh"
#include "real.cuh"

// Flags per path (bits of flags_out), as tokensim.montecarlo.FLAGS.
#define MC_FLAG_DSCR_BELOW_COVENANT 1
#define MC_FLAG_EQUITY_IRR_BELOW_HURDLE 2
#define MC_FLAG_TENANT_DEFAULT 4
#define MC_FLAG_LOAN_DEFAULT 8

// The paths of this thread (grid-stride), with its two rows at project_cf / equity_cf (element t at t * stride).
// Inlined twice by mc_paths, once per place the rows can live, so that each copy addresses its memory directly
// (shared-memory loads in one, global in the other) rather than through generic pointers.
__device__ __forceinline__ void mc_thread_paths(unsigned long long first_path, long long n_paths, real* project_cf,
                                                real* equity_cf, int stride,
                                                real* __restrict__ project_irr_out, real* __restrict__ equity_irr_out,
                                                real* __restrict__ npv_out, real* __restrict__ payback_equity_out,
                                                real* __restrict__ min_dscr_out,
                                                real* __restrict__ payback_first_out,
                                                real* __restrict__ sponsor_injection_out,
                                                real* __restrict__ loan_default_month_out,
                                                signed char* __restrict__ project_reason_out,
                                                signed char* __restrict__ equity_reason_out,
                                                unsigned char* __restrict__ flags_out,
                                                int* __restrict__ default_month_out) {
    const McParams& p = mc_params;
    const int periods = p.months + 1;
    const long long thread = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long threads = (long long)gridDim.x * blockDim.x;
    const double* scan = mc_tables + MC_TABLE_SCAN;
    for (long long i = thread; i < n_paths; i += threads) {
        const unsigned long long path = first_path + (unsigned long long)i;
        int default_month = p.months;
        const McCashResult cash = mc_cashflows(p, mc_round_keys, path, &default_month, project_cf, equity_cf,
                                               stride);
        // Both rows through one call site (a loop kept rolled): one copy of the IRR code in the kernel.
        real monthly[2];
        int reason[2];
#pragma unroll 1
        for (int r = 0; r < 2; ++r) {
            monthly[r] = irr_row(r == 0 ? project_cf : equity_cf, stride, periods, p.irr_guess, p.irr_tol,
                                 p.irr_max_iter, scan, p.scan_count, &reason[r]);
        }
        const real equity_irr = irr_annualise_monthly(monthly[1]);
        bool below_hurdle = false;
        if (p.has_hurdle != 0) {
            if (mc_isfinite(equity_irr)) {
                below_hurdle = equity_irr < p.hurdle_annual;
            } else {  // no IRR: judged by the equity NPV at the hurdle
                below_hurdle = irr_npv(equity_cf, stride, periods, p.hurdle_monthly) < 0;
            }
        }
        project_irr_out[i] = irr_annualise_monthly(monthly[0]);
        equity_irr_out[i] = equity_irr;
        npv_out[i] = cash.npv;
        payback_equity_out[i] = cash.payback_equity;
        min_dscr_out[i] = cash.min_dscr;
        payback_first_out[i] = cash.payback_equity_first_crossing;
        sponsor_injection_out[i] = cash.sponsor_injection;
        loan_default_month_out[i] = cash.first_loan_default_month;
        project_reason_out[i] = (signed char)reason[0];
        equity_reason_out[i] = (signed char)reason[1];
        flags_out[i] = (unsigned char)((cash.covenant_breached ? MC_FLAG_DSCR_BELOW_COVENANT : 0)
                                       | (below_hurdle ? MC_FLAG_EQUITY_IRR_BELOW_HURDLE : 0)
                                       | (default_month < p.months ? MC_FLAG_TENANT_DEFAULT : 0)
                                       | (mc_isfinite(cash.first_loan_default_month) ? MC_FLAG_LOAN_DEFAULT : 0));
        default_month_out[i] = default_month;
    }
}

// Paths first_path .. first_path + n_paths - 1; output index i belongs to path first_path + i. Grid-stride loop:
// any grid size gives the same results (each path's numbers depend only on its own counters). The inputs are the
// constant-memory symbols of kernels/mc_params.cuh, written before the launch. With use_scratch = 0 the rows live in
// dynamic shared memory (2 x blockDim rows of (M + 1) | 1 reals, [row][thread][period]) and `scratch` is not read;
// with 1 in the global scratch, [row][period][thread of the grid] (coalesced).
extern "C" __global__ void mc_paths(unsigned long long first_path, long long n_paths, int use_scratch,
                                    real* __restrict__ scratch,
                                    real* __restrict__ project_irr_out, real* __restrict__ equity_irr_out,
                                    real* __restrict__ npv_out, real* __restrict__ payback_equity_out,
                                    real* __restrict__ min_dscr_out, real* __restrict__ payback_first_out,
                                    real* __restrict__ sponsor_injection_out,
                                    real* __restrict__ loan_default_month_out,
                                    signed char* __restrict__ project_reason_out,
                                    signed char* __restrict__ equity_reason_out,
                                    unsigned char* __restrict__ flags_out, int* __restrict__ default_month_out) {
    extern __shared__ unsigned char mc_shared[];
    const int periods = mc_params.months + 1;
    if (use_scratch != 0) {
        const long long thread = (long long)blockIdx.x * blockDim.x + threadIdx.x;
        const long long threads = (long long)gridDim.x * blockDim.x;
        mc_thread_paths(first_path, n_paths, scratch + thread, scratch + (long long)periods * threads + thread,
                        (int)threads, project_irr_out, equity_irr_out, npv_out, payback_equity_out, min_dscr_out,
                        payback_first_out, sponsor_injection_out, loan_default_month_out, project_reason_out,
                        equity_reason_out, flags_out, default_month_out);
    } else {
        // [row][thread][period] with an odd row length (tokensim.montecarlo._kernel.shared_row_length): the 32 rows of a warp
        // start in 32 different banks, and a row's elements are adjacent, so the unrolled Horner steps address them
        // with constant offsets.
        real* rows = reinterpret_cast<real*>(mc_shared);
        const int row_length = periods | 1;
        mc_thread_paths(first_path, n_paths, rows + threadIdx.x * row_length,
                        rows + (blockDim.x + threadIdx.x) * row_length, 1, project_irr_out, equity_irr_out, npv_out,
                        payback_equity_out, min_dscr_out, payback_first_out, sponsor_injection_out,
                        loan_default_month_out, project_reason_out, equity_reason_out, flags_out, default_month_out);
    }
}
