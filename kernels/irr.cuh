// IRR of one cash-flow row per thread: the twin of tokensim/_irr.py (irr with return_reason=True), step for step.
//
//   irr_row              == tokensim._irr._irr_chunk for one row (rate per period and reason code)
//   irr_scaled_npv_slope == tokensim._irr._scaled_npv_and_slope
//   irr_rtsafe           == tokensim._irr._rtsafe (one row; NumPy's compaction of finished rows is a thread exiting)
//   irr_by_rule          == tokensim._irr._irr_by_rule (the rule of tokensim._irr.IRR_RULE)
//   irr_npv              == tokensim._irr.npv for one row and one rate
// Equal to NumPy to rounding (nvcc contracts a*x + b into fused multiply-adds; NumPy rounds twice). Launched from
// kernels/montecarlo.cu (mc_paths); checked by tests/test_montecarlo_gpu.py.
//
// The row lives in memory the caller owns (shared memory in mc_paths): flows[t * stride] for t = 0..periods-1.
// NPV is evaluated only over the row's non-zero span, in the z-form (z = 1/(1+rate), rate >= 0) or the u-form
// (u = 1+rate, rate <= 0) exactly as tokensim._irr._aligned_coefficients lays the coefficients out: the zero
// padding NumPy keeps in the highest powers contributes exact zeros to Horner's rule, so starting at the highest
// non-zero power gives the same numbers.
#ifndef TOKENSIM_IRR_CUH
#define TOKENSIM_IRR_CUH

#include "real.cuh"

// Reason codes and bracket: tokensim._irr (IRR_OK ..., RATE_MIN_PER_PERIOD, RATE_MAX_PER_PERIOD).
#define IRR_OK 0
#define IRR_NO_SIGN_CHANGE 1
#define IRR_NO_ROOT_IN_BRACKET 2
#define IRR_NON_FINITE 3
#define IRR_ALL_ZERO 4
#define IRR_MULTIPLE_SIGN_CHANGES 5
#define IRR_NOT_CONVERGED 6
#define IRR_NO_ROOT_ON_NPV_SIDE 7
#define IRR_RATE_MIN_PER_PERIOD (-0.999999)
#define IRR_RATE_MAX_PER_PERIOD 1e6

struct IrrRow {
    const real* flows;  // flows[t * stride]
    int stride;
    int first;  // first non-zero period
    int last;   // last non-zero period
};

// Scaled NPV (and d/dx) by Horner's rule over the non-zero span; _horner with its coefficient layout.
__device__ __forceinline__ real irr_horner(const IrrRow& row, real x, bool u_form, bool with_slope, real* slope_out) {
    real value = 0, slope = 0;
    if (u_form) {  // coefficients v[first], ..., v[last], highest power first
        value = row.flows[row.first * row.stride];
#pragma unroll 4
        for (int t = row.first + 1; t <= row.last; ++t) {
            if (with_slope) {
                slope = slope * x + value;
            }
            value = value * x + row.flows[t * row.stride];
        }
    } else {  // z-form: coefficients v[last], ..., v[first], highest power first
        value = row.flows[row.last * row.stride];
#pragma unroll 4
        for (int t = row.last - 1; t >= row.first; --t) {
            if (with_slope) {
                slope = slope * x + value;
            }
            value = value * x + row.flows[t * row.stride];
        }
    }
    *slope_out = slope;
    return value;
}

// _scaled_npv_and_slope: the NPV form of the row's regime and its derivative with respect to the rate.
__device__ __forceinline__ real irr_scaled_npv_slope(const IrrRow& row, real rate, bool below_zero, real* slope) {
    const real one_plus_rate = (real)1 + rate;
    const real x = below_zero ? one_plus_rate : (real)1 / one_plus_rate;
    real d_dx;
    const real value = irr_horner(row, x, below_zero, true, &d_dx);
    *slope = below_zero ? d_dx : -d_dx * x * x;  // dz/drate = -z^2; du/drate = 1
    return value;
}

// _scaled_npv_on_grid for one grid rate: u-form below zero, z-form at or above.
__device__ __forceinline__ real irr_scaled_npv_at(const IrrRow& row, real rate) {
    real unused;
    if (rate < 0) {
        return irr_horner(row, (real)1 + rate, true, false, &unused);
    }
    return irr_horner(row, (real)1 / ((real)1 + rate), false, false, &unused);
}

__device__ __forceinline__ int irr_sign(real v) { return (v > 0) - (v < 0); }

// _rtsafe for one row that has a bracket [lo, hi] with values value_lo, value_hi; returns the rate, sets converged.
__device__ real irr_rtsafe(const IrrRow& row, real lo, real hi, real value_lo, real value_hi, real guess, real tol,
                           int max_iter, bool* converged) {
    const bool below_zero = hi <= 0;
    real rate = value_lo == 0 ? lo : (value_hi == 0 ? hi : mc_min(mc_max(guess, lo), hi));
    bool active = value_lo != 0 && value_hi != 0;
    // rtsafe keeps the bracket oriented: rate_neg is the end where NPV < 0, rate_pos where NPV > 0.
    real rate_neg = value_lo < 0 ? lo : hi;
    real rate_pos = value_lo < 0 ? hi : lo;
    real step = mc_abs(hi - lo);
    real step_before = step;
    real slope;
    real value = irr_scaled_npv_slope(row, rate, below_zero, &slope);
    for (int iteration = 0; iteration <= max_iter; ++iteration) {
        active = active && value != 0;
        if (active && value < 0) {
            rate_neg = rate;
        }
        if (active && value > 0) {
            rate_pos = rate;
        }
        if (!active || iteration == max_iter) {  // the last pass only applied the bracket update
            break;
        }
        const bool leaves_bracket = ((rate - rate_pos) * slope - value) * ((rate - rate_neg) * slope - value) > 0;
        const bool too_slow = mc_abs((real)2 * value) > mc_abs(step_before * slope);
        // Geometric midpoint in (1 + rate): a bracket can span (-0.999999, 0] or [0, 1e6], decades wide.
        const real midpoint = mc_sqrt(((real)1 + rate_neg) * ((real)1 + rate_pos)) - (real)1;
        const real newton = value / (slope != 0 ? slope : (real)1);  // slope == 0 always bisects (leaves_bracket)
        const real move = (leaves_bracket || too_slow) ? rate - midpoint : newton;
        const real next_rate = rate - move;
        const bool done = mc_abs(move) <= tol * ((real)1 + mc_abs(next_rate)) || next_rate == rate;
        step_before = step;
        step = move;
        rate = next_rate;
        if (done) {  // a converged step needs no check of its NPV
            active = false;
            break;
        }
        value = irr_scaled_npv_slope(row, rate, below_zero, &slope);
    }
    *converged = !active;
    return rate;
}

// _crossing over every interval of a grid, the highest one taken (the one-sign-change grid of irr_row): where the
// scaled NPV changes sign or hits zero. Returns found; sets the bracket and the grid's own values at its ends.
__device__ bool irr_crossing(const IrrRow& row, const double* grid, int points, real* lo, real* hi, real* value_lo,
                             real* value_hi) {
    bool found = false;
    real at_lo = irr_scaled_npv_at(row, (real)grid[0]);
    for (int k = 0; k + 1 < points; ++k) {
        const real at_hi = irr_scaled_npv_at(row, (real)grid[k + 1]);
        if (irr_sign(at_lo) * irr_sign(at_hi) <= 0) {
            found = true;
            *lo = (real)grid[k];
            *hi = (real)grid[k + 1];
            *value_lo = at_lo;
            *value_hi = at_hi;
        }
        at_lo = at_hi;
    }
    return found;
}

// _crossing on the scan grid from rate 0 outward (0 is the grid point zero): the first interval, going up (the
// lowest at or above 0) or down (the highest at or below 0), where the scaled NPV changes sign or hits zero. Each
// grid value is the one NumPy computes at that grid rate, so stopping at the first crossing picks NumPy's interval.
__device__ bool irr_scan_side(const IrrRow& row, const double* scan, int scan_count, int zero, real at_zero, bool up,
                              real* lo, real* hi, real* value_lo, real* value_hi) {
    real near = at_zero;  // the value at grid point k, the end of the interval nearer 0
    for (int k = zero; up ? k + 1 < scan_count : k > 0; k += up ? 1 : -1) {
        const int next = up ? k + 1 : k - 1;
        const real far = irr_scaled_npv_at(row, (real)scan[next]);
        if (irr_sign(near) * irr_sign(far) <= 0) {
            *lo = (real)scan[up ? k : next];
            *hi = (real)scan[up ? next : k];
            *value_lo = up ? near : far;
            *value_hi = up ? far : near;
            return true;
        }
        near = far;
    }
    return false;
}

// _irr_by_rule: rows with several sign changes; the root nearest 0 on the side of 0 that NPV at 0 implies (flows
// oriented so that the first is an outlay), where NPV crosses from positive to negative as the rate rises.
__device__ __noinline__ real irr_by_rule(const IrrRow& row, const double* scan, int scan_count, real guess, real tol,
                                         int max_iter, int* reason) {
    int zero = 0;
    while (scan[zero] < 0) {  // rate 0 is a point of the scan grid (tokensim._irr._scan_rates)
        ++zero;
    }
    const real at_zero = irr_scaled_npv_at(row, (real)0);
    const bool search_above = irr_sign(at_zero) * irr_sign(row.flows[row.first * row.stride]) < 0;
    real lo = 0, hi = 0, value_lo = 0, value_hi = 0;
    if (!irr_scan_side(row, scan, scan_count, zero, at_zero, search_above, &lo, &hi, &value_lo, &value_hi)) {
        const bool other_side = irr_scan_side(row, scan, scan_count, zero, at_zero, !search_above, &lo, &hi,
                                              &value_lo, &value_hi);
        *reason = other_side ? IRR_NO_ROOT_ON_NPV_SIDE : IRR_NO_ROOT_IN_BRACKET;
        return mc_nan();
    }
    bool converged = false;
    const real rate = irr_rtsafe(row, lo, hi, value_lo, value_hi, guess, tol, max_iter, &converged);
    *reason = converged ? IRR_MULTIPLE_SIGN_CHANGES : IRR_NOT_CONVERGED;
    return converged ? rate : mc_nan();
}

// _irr_chunk for one row: the rate per period (NaN when none) and the reason code.
__device__ real irr_row(const real* flows, int stride, int periods, real guess, real tol, int max_iter,
                        const double* scan, int scan_count, int* reason) {
    // _sign_scan: non-finite flag, all-zero flag, first and last non-zero period, sign changes classed 0, 1, 2.
    bool seen_pos = false, seen_neg = false, neg_after_pos = false, pos_after_neg = false, non_finite = false;
    int first = -1, last = periods - 1;
    for (int t = 0; t < periods; ++t) {
        const real v = flows[t * stride];
        const bool positive = v > 0, negative = v < 0;
        neg_after_pos = neg_after_pos || (negative && seen_pos);
        pos_after_neg = pos_after_neg || (positive && seen_neg);
        seen_pos = seen_pos || positive;
        seen_neg = seen_neg || negative;
        non_finite = non_finite || !mc_isfinite(v);
        if (v != 0) {
            if (first < 0) {
                first = t;
            }
            last = t;
        }
    }
    const bool all_zero = first < 0;
    if (all_zero) {
        first = 0;
    }
    const int sign_changes = (int)neg_after_pos + (int)pos_after_neg;
    int code = IRR_OK;
    if (sign_changes > 1) code = IRR_MULTIPLE_SIGN_CHANGES;
    if (sign_changes == 0) code = IRR_NO_SIGN_CHANGE;
    if (all_zero) code = IRR_ALL_ZERO;
    if (non_finite) code = IRR_NON_FINITE;
    const IrrRow row = {flows, stride, first, last};
    real rate = mc_nan();
    if (code == IRR_OK) {
        // One sign change: one root above -100 % (Descartes), so the grid is the bracket ends and 0.
        const double grid[3] = {IRR_RATE_MIN_PER_PERIOD, 0.0, IRR_RATE_MAX_PER_PERIOD};
        real lo = 0, hi = 0, value_lo = 0, value_hi = 0;
        if (irr_crossing(row, grid, 3, &lo, &hi, &value_lo, &value_hi)) {
            bool converged = false;
            const real solved = irr_rtsafe(row, lo, hi, value_lo, value_hi, guess, tol, max_iter, &converged);
            if (converged) {
                rate = solved;
            } else {
                code = IRR_NOT_CONVERGED;
            }
        } else {
            code = IRR_NO_ROOT_IN_BRACKET;
        }
    } else if (code == IRR_MULTIPLE_SIGN_CHANGES) {
        rate = irr_by_rule(row, scan, scan_count, guess, tol, max_iter, &code);
    }
    *reason = code;
    return rate;
}

// tokensim._irr.npv for one row at one rate per period: Horner in 1/(1+rate) from the last period down.
__device__ __forceinline__ real irr_npv(const real* flows, int stride, int periods, real rate) {
    const real x = (real)1 / ((real)1 + rate);
    real value = flows[(periods - 1) * stride];
    for (int t = periods - 2; t >= 0; --t) {
        value = value * x + flows[t * stride];
    }
    return value;
}

// tokensim._irr.annualise_monthly_rate: expm1(12 log1p(r)).
__device__ __forceinline__ real irr_annualise_monthly(real r) { return mc_expm1((real)12 * mc_log1p(r)); }

#endif  // TOKENSIM_IRR_CUH
