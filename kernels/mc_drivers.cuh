// Stochastic drivers of one Monte Carlo path, month by month: the twin of tokensim/montecarlo/_drivers.py.
//
//   mc_default_step   == tokensim.montecarlo._drivers.default_step for one path (the hazard in double, as NumPy)
//   mc_drivers_step   == the body of the month loop of tokensim.montecarlo._drivers.generate_drivers, then the
//                        multipliers it builds from the states (exp of the compensated log rent, logit-normal
//                        utilisation, base rate + offset); it updates the state's default month
//   mc_poisson_count  == tokensim.montecarlo._drivers.poisson_counts (the same float64 table and comparisons: same
//                        counts)
//   mc_jump_sizes     == tokensim.montecarlo._drivers._jump_sizes (its normals drawn once a month for both kinds of
//                        jump)
// Launched from kernels/montecarlo.cu (mc_paths); the constants come from tokensim.montecarlo._drivers.DriverModel
// through tokensim/montecarlo/_kernel.py (kernels/mc_params.cuh). Philox counters (month, stream, path) and stream ids
// are those of the module docstring of tokensim/montecarlo/_drivers.py, so a path draws the same uniforms on both
// backends; normals agree to the rounding of log/sin/cos (exactly philox_normals in double, float Box-Muller on the
// same uniforms in float).
#ifndef TOKENSIM_MC_DRIVERS_CUH
#define TOKENSIM_MC_DRIVERS_CUH

#include "mc_params.cuh"
#include "real.cuh"

// The driver states of a path: Gaussian states x[i] (log rent, logit offset of utilisation, log power price, rate
// offset, log token volume, log token price; the rent state uncompensated, y), the efficiency arrivals so far and
// the tenant's default month (0-based operating-month index; months = none yet).
struct McDriverState {
    real x[MC_DRIVERS];
    real arrivals;
    int default_month;
};

// This month's drivers, named as the fields of tokensim.finance._cashflows.Drivers (one path, one month).
struct McDrivers {
    real market_rent_multiplier;
    real spot_utilisation;
    real token_volume_multiplier;
    real token_price_multiplier;
    real efficiency_multiplier;
    real power_price_multiplier;
    real floating_base_rate;
};

__device__ __forceinline__ void mc_drivers_init(McDriverState* s) {
#pragma unroll
    for (int i = 0; i < MC_DRIVERS; ++i) {
        s->x[i] = 0;
    }
    s->arrivals = 0;
    s->default_month = mc_params.months;
}

// Operating month `month` of the default process for one path still without a default: defaults (index month - 1)
// when u < 1 - exp(-h), h = exp(ln h0 - beta x), x the compensated log market-rent multiplier; in double as NumPy.
__device__ __forceinline__ void mc_default_step(const McParams& p, const unsigned int* round_keys,
                                                unsigned int month, unsigned long long path, double log_rent,
                                                McDriverState* s) {
    const double u = mc_uniforms(round_keys, month, MC_STREAM_DEFAULT, path).x;
    const double hazard = exp(p.default_log_hazard - p.default_market_sensitivity * log_rent);
    if (u < -expm1(-hazard)) {
        s->default_month = (int)month - 1;
    }
}

// N = #{k : u > F(k)} over the first `count` entries of a Poisson CDF table.
__device__ __forceinline__ real mc_poisson_count(const double* table, int count, double u) {
    int n = 0;
    while (n < count && u > table[n]) {
        ++n;
    }
    return (real)n;
}

// Total log size of `counts` jumps: N log_mean + sqrt(N) log_sd zeta, zeta one normal of the jump-size stream.
__device__ __forceinline__ real mc_jump_sizes(real counts, real log_mean, real log_sd, real zeta) {
    real size = counts * log_mean;
    if (log_sd > 0 && counts != 0) {
        size = size + mc_sqrt(counts) * (log_sd * zeta);
    }
    return size;
}

// One month (operating month `month`, 1..M) of the driver equations; returns the month's drivers.
__device__ __forceinline__ McDrivers mc_drivers_step(const McParams& p, const unsigned int* round_keys,
                                                     unsigned int month, unsigned long long path, McDriverState* s) {
    real shocks[MC_DRIVERS];
#pragma unroll
    for (int stream = 0; stream < 3; ++stream) {
        shocks[2 * stream] = 0;
        shocks[2 * stream + 1] = 0;
        if (MC_SHOCK_STREAM_ON(p, stream)) {
            mc_normals(round_keys, month, (unsigned int)stream, path, &shocks[2 * stream], &shocks[2 * stream + 1]);
        }
    }
    double u_rent = 0.0, u_cut = 0.0;
    if (MC_HAS_RENT_JUMPS(p) || MC_HAS_CUTS(p)) {
        const double2 u = mc_uniforms(round_keys, month, MC_STREAM_JUMP_COUNTS, path);
        u_rent = u.x;
        u_cut = u.y;
    }
    const real rent_jumps = MC_HAS_RENT_JUMPS(p)
                                ? mc_poisson_count(mc_tables + MC_TABLE_RENT_JUMPS, p.rent_jump_count, u_rent)
                                : (real)0;
    const real cuts = MC_HAS_CUTS(p) ? mc_poisson_count(mc_tables + MC_TABLE_CUTS, p.cut_count, u_cut) : (real)0;
    // The jump-size normals (zeta0 for the rent, zeta1 for the price), drawn once when either has jumps to size.
    real zeta0 = 0, zeta1 = 0;
    if ((rent_jumps != 0 && p.rent_jump_log_sd > 0) || (cuts != 0 && p.cut_log_sd > 0)) {
        mc_normals(round_keys, month, MC_STREAM_JUMP_SIZES, path, &zeta0, &zeta1);
    }
#pragma unroll
    for (int i = 0; i < MC_DRIVERS; ++i) {
        if (!MC_DRIVER_ACTIVE(p, i)) {
            continue;
        }
        real x = p.persistence[i] * s->x[i] + p.drift[i];
        if (MC_DRIVER_SCALED(p, i)) {
            // z_i = sum_{k <= i} L_ik e_k in k order. NumPy skips zero loadings; here they add an exact zero, which
            // leaves the sum's value unchanged, and save a branch per loading.
            real z = 0;
#pragma unroll
            for (int k = 0; k <= i; ++k) {
                z = z + p.cholesky[i * MC_DRIVERS + k] * shocks[k];
            }
            x = x + p.shock_scale[i] * z;
        }
        if (i == MC_RENT && MC_HAS_RENT_JUMPS(p)) {
            x = x + mc_jump_sizes(rent_jumps, p.rent_jump_log_mean, p.rent_jump_log_sd, zeta0);
        }
        if (i == MC_PRICE && MC_HAS_CUTS(p)) {
            x = x - mc_jump_sizes(cuts, p.cut_log_mean, p.cut_log_sd, zeta1);
        }
        s->x[i] = x;
    }
    McDrivers d;
    // x_m = y_m - c_m: the compensated log multiplier, whose exp has mean 1 at every month
    const real log_rent = MC_DRIVER_ACTIVE(p, MC_RENT)
                              ? s->x[MC_RENT] - mc_schedule[MC_SCHEDULE_RENT_COMPENSATION * MC_MAX_PERIODS + month]
                              : (real)0;
    d.market_rent_multiplier = MC_DRIVER_ACTIVE(p, MC_RENT) ? mc_exp(log_rent) : (real)1;
    d.power_price_multiplier = MC_DRIVER_ACTIVE(p, MC_POWER) ? mc_exp(s->x[MC_POWER]) : (real)1;
    d.token_volume_multiplier = MC_DRIVER_ACTIVE(p, MC_VOLUME) ? mc_exp(s->x[MC_VOLUME]) : (real)1;
    d.token_price_multiplier = MC_DRIVER_ACTIVE(p, MC_PRICE) ? mc_exp(s->x[MC_PRICE]) : (real)1;
    const real u0 = p.spot_utilisation;
    d.spot_utilisation = u0;
    if (MC_DRIVER_ACTIVE(p, MC_UTILISATION) && s->x[MC_UTILISATION] != 0) {
        // logit(spot) = logit(u0) + y
        const real shrink = mc_exp(-s->x[MC_UTILISATION]);
        d.spot_utilisation = u0 / (u0 + ((real)1 - u0) * shrink);
    }
    d.floating_base_rate = p.floating_base_rate;
    if (MC_DRIVER_ACTIVE(p, MC_RATE)) {
        d.floating_base_rate = p.floating_base_rate + s->x[MC_RATE];
    }
    d.efficiency_multiplier = 1;
    if (MC_HAS_EFFICIENCY(p)) {
        const double u = mc_uniforms(round_keys, month, MC_STREAM_EFFICIENCY, path).x;
        s->arrivals = s->arrivals + mc_poisson_count(mc_tables + MC_TABLE_EFFICIENCY, p.efficiency_count, u);
        d.efficiency_multiplier = mc_exp(s->arrivals * p.efficiency_log_gain);
    }
    // DriverModel.draws_default (h0 > 0, a contract that can default) and the month inside its term
    if (p.default_log_hazard > -1.0e300 && (double)(month - 1) < p.default_limit_month  // ln h0 > -inf
        && s->default_month == p.months) {
        mc_default_step(p, round_keys, month, path, (double)log_rent, s);
    }
    return d;
}

#endif  // TOKENSIM_MC_DRIVERS_CUH
