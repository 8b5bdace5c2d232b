// Monte Carlo of a cluster's finance on the GPU: one thread per path, the whole path in one kernel.
//
// Launched by tokensim/_mckernel.py (kernel_chunks, launch) for tokensim.montecarlo.run_montecarlo(backend="cupy").
// mc_paths must equal tokensim.montecarlo.evaluate_paths (the NumPy reference) path for path:
//   drivers      kernels/mc_drivers.cuh == tokensim/_drivers.py (generate_drivers)
//   cash flows   kernels/cashflows.cuh  == tokensim/_cashflows.py (cashflows)
//   IRRs         kernels/irr.cuh        == tokensim/_irr.py (irr, npv, annualise_monthly_rate)
//   numbers      kernels/philox.cuh     == tokensim/_rng.py (Philox4x32-10, counter = (month, stream, path))
// Checked by tests/test_montecarlo_gpu.py (float64: 1e-9 relative on the means of the summaries; float32: the
// tolerance in tokensim.montecarlo.FLOAT32_TOLERANCE).
//
// Memory: each thread keeps its month state in registers and its two cash-flow rows (project and equity, M + 1
// values each, needed again by the IRR iterations) in shared memory, laid out [period][thread] so that a warp's
// accesses fall in distinct banks. Why not recompute the rows per Newton iteration (reasoned from instruction counts,
// not measured: the kernel was written without a device): a month of a row costs up to six Philox blocks plus the
// transcendental driver updates, roughly 50x the fused multiply-add of a Horner step, and each IRR takes 5-10
// evaluations, so recomputing would multiply the kernel's work several times over; storing costs 2 x 61 x 4 bytes of
// shared memory per thread (seven 64-thread blocks per SM in float). Registers cannot hold the rows (the month loop is
// not unrolled, so they would be indexed dynamically and spill to local memory). When the rows do not fit in shared
// memory (long horizons in double) the launcher passes a global scratch buffer instead, laid out
// [period][thread of the grid] (coalesced).
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

// Paths first_path .. first_path + n_paths - 1; output index i belongs to path first_path + i. Grid-stride loop:
// any grid size gives the same results (each path's numbers depend only on its own counters). With use_scratch = 0
// the rows live in dynamic shared memory (2 x (M + 1) x blockDim reals) and `scratch` is not read.
extern "C" __global__ void mc_paths(const double* __restrict__ params, const double* __restrict__ schedule,
                                    const double* __restrict__ tables, unsigned long long seed,
                                    unsigned long long first_path, long long n_paths, int use_scratch,
                                    real* __restrict__ scratch,
                                    real* __restrict__ project_irr_out, real* __restrict__ equity_irr_out,
                                    real* __restrict__ npv_out, real* __restrict__ payback_equity_out,
                                    real* __restrict__ min_dscr_out, signed char* __restrict__ project_reason_out,
                                    signed char* __restrict__ equity_reason_out,
                                    unsigned char* __restrict__ flags_out, int* __restrict__ default_month_out) {
    extern __shared__ unsigned char mc_shared[];
    const McParams& p = *reinterpret_cast<const McParams*>(params);
    const int periods = (int)p.months + 1;
    const long long thread = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long threads = (long long)gridDim.x * blockDim.x;
    // This thread's two rows: shared memory [row][period][threadIdx], or the global scratch [row][period][thread].
    real* project_cf;
    real* equity_cf;
    int stride;
    if (use_scratch != 0) {
        project_cf = scratch + thread;
        equity_cf = scratch + (long long)periods * threads + thread;
        stride = (int)threads;
    } else {
        real* rows = reinterpret_cast<real*>(mc_shared);
        project_cf = rows + threadIdx.x;
        equity_cf = rows + periods * blockDim.x + threadIdx.x;
        stride = (int)blockDim.x;
    }
    const real guess = (real)p.irr_guess;
    const real tol = (real)p.irr_tol;
    const int max_iter = (int)p.irr_max_iter;
    const double* scan = tables + MC_TABLE_SCAN;
    const int scan_count = (int)p.scan_count;

    for (long long i = thread; i < n_paths; i += threads) {
        const unsigned long long path = first_path + (unsigned long long)i;
        const int default_month = mc_default_month(p, seed, path);
        const McCashResult cash = mc_cashflows(p, schedule, tables, seed, path, default_month, project_cf, equity_cf,
                                               stride);
        // Both rows through one call site (a loop kept rolled): one copy of the IRR code in the kernel.
        real monthly[2];
        int reason[2];
#pragma unroll 1
        for (int r = 0; r < 2; ++r) {
            monthly[r] = irr_row(r == 0 ? project_cf : equity_cf, stride, periods, guess, tol, max_iter, scan,
                                 scan_count, &reason[r]);
        }
        const real project_monthly = monthly[0], equity_monthly = monthly[1];
        const int project_reason = reason[0], equity_reason = reason[1];
        const real equity_irr = irr_annualise_monthly(equity_monthly);
        bool below_hurdle = false;
        if (p.has_hurdle != 0.0) {
            if (mc_isfinite(equity_irr)) {
                below_hurdle = equity_irr < (real)p.hurdle_annual;
            } else {  // no IRR: judged by the equity NPV at the hurdle
                below_hurdle = irr_npv(equity_cf, stride, periods, (real)p.hurdle_monthly) < 0;
            }
        }
        project_irr_out[i] = irr_annualise_monthly(project_monthly);
        equity_irr_out[i] = equity_irr;
        npv_out[i] = cash.npv;
        payback_equity_out[i] = cash.payback_equity;
        min_dscr_out[i] = cash.min_dscr;
        project_reason_out[i] = (signed char)project_reason;
        equity_reason_out[i] = (signed char)equity_reason;
        flags_out[i] = (unsigned char)((cash.covenant_breached ? MC_FLAG_DSCR_BELOW_COVENANT : 0)
                                       | (below_hurdle ? MC_FLAG_EQUITY_IRR_BELOW_HURDLE : 0)
                                       | (default_month < (int)p.months ? MC_FLAG_TENANT_DEFAULT : 0));
        default_month_out[i] = default_month;
    }
}
