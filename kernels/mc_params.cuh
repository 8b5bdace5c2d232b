// What the Monte Carlo kernel reads, all in constant memory: the McParams struct, the schedule rows, the lookup
// tables and the Philox key schedule of the run's seed.
//
// Packed by tokensim/montecarlo/_kernel.py (pack_params, pack_schedule, pack_tables, constant_images) through
// tokensim._kernels.struct_layout and header_defines, which read THIS file for the fields (type, name, count, offset)
// and the #define values, so the two cannot drift apart: a field added here must be given a value there. The sweep
// kernel's UcParams (kernels/unitcost.cuh) is packed and written to constant memory the same way. Field types:
// `double` where the arithmetic that uses the value is done in double on both backends (the default hazard), `int` for
// counts and 0/1 flags, `real` (float or double, the kernel's type) for the rest: the host rounds them to the
// kernel's type once (numpy astype: round to nearest, as the device's own conversion), so the kernel computes with
// exactly the numbers it used to convert at every use. The values come from
// tokensim.finance._cashflows.FinanceInputs (engine inputs) and tokensim.montecarlo._drivers.DriverModel (driver
// constants); the comments name the Python attribute each field equals.
//
// Why constant memory (the H200 profile in benchmarks/profile_montecarlo_h200.log): every thread reads the same
// parameter at the same time, which is the access constant memory serves in one cycle, and an arithmetic instruction
// can take a constant-bank value as an operand, so parameters need neither a load, a register, nor a double-to-float
// conversion (the previous layout, double arrays in global memory, spent about 140 of 2,070 month-loop instructions
// on loads and conversions at 147 registers a thread).
#ifndef TOKENSIM_MC_PARAMS_CUH
#define TOKENSIM_MC_PARAMS_CUH

#include "philox.cuh"
#include "real.cuh"

// Shock streams and driver indices: tokensim/montecarlo/_drivers.py (STREAM_*, CORRELATED_DRIVERS order).
#define MC_STREAM_JUMP_COUNTS 3
#define MC_STREAM_JUMP_SIZES 4
#define MC_STREAM_EFFICIENCY 5
#define MC_STREAM_DEFAULT 6
#define MC_RENT 0
#define MC_UTILISATION 1
#define MC_POWER 2
#define MC_RATE 3
#define MC_VOLUME 4
#define MC_PRICE 5
#define MC_DRIVERS 6

// Rows of the schedule (mc_schedule: MC_SCHEDULE_ROWS rows of MC_MAX_PERIODS reals, row-major), indexed by month
// 0..M. MC_MAX_PERIODS covers the longest horizon a scenario allows (50 years: tokensim.config.schema); in double the
// schedule takes 4.8 kB a row (58 kB for 12 rows) of the 64 kB of constant memory.
#define MC_SCHEDULE_CAPEX 0             // FinanceInputs.capex_by_month
#define MC_SCHEDULE_ONLINE 1            // FinanceInputs.online_share
#define MC_SCHEDULE_DEPRECIATION 2      // FinanceInputs.depreciation_by_month
#define MC_SCHEDULE_DRAWS 3             // DebtSchedule.draws[0]
#define MC_SCHEDULE_PRINCIPAL 4         // DebtSchedule.principal[0]
#define MC_SCHEDULE_LUMP 5              // DebtSchedule.lump[0]
#define MC_SCHEDULE_PAYMENT_MONTH 6     // DebtSchedule.payment_month (0/1)
#define MC_SCHEDULE_DISCOUNT_PROJECT 7  // v_project ** m, as the engine computes it
#define MC_SCHEDULE_ESCALATION 8        // (1 + escalator_per_year) ** ((m - 1) // 12)
#define MC_SCHEDULE_MARKET_TREND 9      // (1 + market_rent_change_per_year) ** ((m - 1) / 12)
#define MC_SCHEDULE_RENT_COMPENSATION 10  // DriverModel.rent_log_compensation[m - 1] (c_m; 0 at m = 0)
#define MC_SCHEDULE_DSRA_TARGET 11     // tokensim.finance.dsra_target_by_month(inputs)[0]
#define MC_SCHEDULE_ROWS 12
#define MC_MAX_PERIODS 601

// Tables (mc_tables, doubles): Poisson CDFs (tokensim.montecarlo._drivers.poisson_table) and the IRR scan grid
// (tokensim._irr._scan_rates).
#define MC_POISSON_MAX 64
#define MC_TABLE_RENT_JUMPS 0
#define MC_TABLE_CUTS 64
#define MC_TABLE_EFFICIENCY 128
#define MC_TABLE_SCAN 192
#define MC_SCAN_MAX 32
#define MC_TABLE_SIZE 224

// Loss carry-forward vintages held per thread, in registers (8 keeps mc_paths at 139 registers in float: seven
// 64-thread blocks per SM). Longer carry-forwards that can expire within the horizon are refused by the launcher.
#define MC_MAX_VINTAGES 8

struct McParams {
    // double: the default hazard is computed in double, as NumPy does
    double default_log_hazard;              // _drivers.default_log_hazard: ln h0 (-inf = none, +inf = certain)
    double default_market_sensitivity;      // DriverModel.default_market_sensitivity (beta)
    double default_limit_month;             // .default_limit_month
    // time and units
    real hours_per_month;                   // HOURS_PER_MONTH
    real tokens_per_million;                // TOKENS_PER_MILLION
    // capacity and revenue
    real gpus;                              // FinanceInputs.gpus
    real contracted_share;                  // .contracted_share
    real rent_per_gpu_month;                // .rent_per_gpu_month
    real usage_fee_per_million_tokens;      // .usage_fee_per_million_tokens
    real usage_tokens_per_gpu_hour;         // .usage_tokens_per_gpu_hour
    real usage_busy_share;                  // .usage_busy_share
    real usage_floor_per_gpu_hour;          // .usage_floor_per_gpu_hour
    real usage_cap_per_gpu_hour;            // .usage_cap_per_gpu_hour (inf when uncapped)
    real market_rent_per_gpu_hour;          // .market_rent_per_gpu_hour
    real lessee_pays_power_and_facility;    // .lessee_pays_power_and_facility (0/1, a factor in the month loop)
    // opex per GPU-hour
    real power_busy_per_gpu_hour;           // .power_busy_per_gpu_hour
    real power_idle_per_gpu_hour;           // .power_idle_per_gpu_hour
    real facility_per_gpu_hour;             // .facility_per_gpu_hour
    real maintenance_per_gpu_hour;          // .maintenance_per_gpu_hour
    real operations_per_gpu_hour;           // .operations_per_gpu_hour
    real insurance_per_gpu_hour;            // .insurance_per_gpu_hour
    real reletting_cost_months_of_rent;     // .reletting_cost_months_of_rent
    // debt, tax, residual, metrics
    real fixed_rate;                        // .fixed_rate
    real floating_margin;                   // .floating_margin
    real tax_rate;                          // .tax_rate
    real book_value_at_horizon;             // .book_value_at_horizon
    real residual_percent_value;            // .residual_percent_value
    real residual_pv_revenue_per_gpu;       // .residual_pv_revenue_per_gpu
    real residual_pv_power_per_gpu;         // .residual_pv_power_per_gpu
    real residual_pv_other_per_gpu;         // .residual_pv_other_per_gpu
    real dscr_service_floor;                // 1e-9 * max(capex_total, 1): a loan year "has debt service" above it;
                                            // also the waterfall's money_floor (smaller amounts count as zero)
    real dscr_covenant;                     // .dscr_covenant (NaN when none: never breached)
    real maintenance_reserve_per_gpu_hour;  // .maintenance_reserve_per_gpu_hour
    real lockup_dscr;                       // .lockup_dscr (NaN when none: never locked)
    real cash_sweep_share;                  // .cash_sweep_share
    // China tax, working capital, availability and credit terms (issue 13 Build 4 and 5)
    real vat_input_rate;                    // .vat_input_rate
    real vat_output_rate;                   // .vat_output_rate
    real vat_surtax_share;                  // .vat_surtax_share
    real receivable_months;                 // .receivable_days / DAYS_PER_MONTH
    real payable_months;                    // .payable_days / DAYS_PER_MONTH
    real sla_credit_share;                  // .sla_credit_share
    real termination_payment_months_of_rent;  // .termination_payment_months_of_rent
    real termination_recovery_share;        // .termination_recovery_share
    real hurdle_annual;                     // financing.equity_hurdle_irr
    real hurdle_monthly;                    // (1 + hurdle) ** (1 / 12) - 1
    // drivers (DriverModel)
    real cholesky[36];                      // .cholesky, row-major, lower
    real persistence[6];                    // .persistence
    real drift[6];                          // .drift
    real shock_scale[6];                    // .shock_scale
    real rent_jump_log_mean;                // .rent_jump_log_mean
    real rent_jump_log_sd;                  // .rent_jump_log_sd
    real cut_log_mean;                      // .cut_log_mean
    real cut_log_sd;                        // .cut_log_sd
    real efficiency_log_gain;               // .efficiency_log_gain
    real spot_utilisation;                  // .spot_utilisation
    real floating_base_rate;                // .floating_base_rate
    // tenor beyond the contract (issue 13 Build 3)
    real renewal_share;                     // FinanceInputs.renewal_share
    real renewal_rent_haircut_share;        // .renewal_rent_haircut_share
    real refinancing_rate;                  // DebtSchedule.refinancing_rate (0 when no balloon is refinanced)
    // IRR (tokensim._irr.irr arguments)
    real irr_guess;                         // guess
    real irr_tol;                           // tol (1e-12 for double, 1e-6 for float)
    // counts and flags
    int months;                             // FinanceInputs.months (M)
    int term_months;                        // .term_months
    int vacancy_lag_months;                 // .vacancy_lag_months
    int floating_rate;                      // .rate_type == "floating" (0/1)
    int loss_vintages;                      // loss_carry_forward_years, or 1 when unlimited
    int loss_expire;                        // loss_carry_forward_years > 0 (0/1)
    int residual_percent_method;            // .residual_method == "percent_of_cost" (0/1)
    int has_hurdle;                         // financing.equity_hurdle_irr given (0/1)
    int tax_quarterly;                      // .tax_payment == "quarterly_prepayment" (0/1)
    int dsra_at_close;                      // .dsra_funding == "at_close" (0/1)
    int dsra_restore_months;                // .dsra_restore_months
    int equity_cure_max_count;              // .equity_cure_max_count
    int sweep_always;                       // .cash_sweep_when == "always" (0/1)
    int refinanced_month;                   // DebtSchedule.refinanced_month (months + 1 when none)
    int active[6];                          // DriverModel.active (0/1)
    int shock_streams[3];                   // .shock_streams (0/1)
    int rent_jump_count;                    // .rent_jump_table.size (0 = no jumps)
    int cut_count;                          // .cut_table.size
    int efficiency_count;                   // .efficiency_table.size
    int irr_max_iter;                       // max_iter
    int scan_count;                         // len(_scan_rates(guess))
};

// The scenario's driver structure: which shock streams are drawn, which drivers move, which have a volatility, which
// jumps and arrivals exist. tokensim.montecarlo._kernel.structure_options compiles it in (-DMC_STRUCTURE and the masks below),
// one build per structure: the branches on it disappear and the Philox blocks of the streams in use sit in one basic
// block, where the compiler can interleave them. Without MC_STRUCTURE (the host tests' generic build) the same facts
// are read from mc_params at run time; the launcher checks that the masks agree with the parameters.
#ifdef MC_STRUCTURE
#define MC_SHOCK_STREAM_ON(p, s) (((MC_STRUCTURE_SHOCK_STREAMS) >> (s)) & 1)
#define MC_DRIVER_ACTIVE(p, i) (((MC_STRUCTURE_ACTIVE) >> (i)) & 1)
#define MC_DRIVER_SCALED(p, i) (((MC_STRUCTURE_SCALED) >> (i)) & 1)
#define MC_HAS_RENT_JUMPS(p) (MC_STRUCTURE_RENT_JUMPS)
#define MC_HAS_CUTS(p) (MC_STRUCTURE_CUTS)
#define MC_HAS_EFFICIENCY(p) (MC_STRUCTURE_EFFICIENCY)
#else
#define MC_SHOCK_STREAM_ON(p, s) ((p).shock_streams[s] != 0)
#define MC_DRIVER_ACTIVE(p, i) ((p).active[i] != 0)
#define MC_DRIVER_SCALED(p, i) ((p).shock_scale[i] > 0)
#define MC_HAS_RENT_JUMPS(p) ((p).rent_jump_count > 0)
#define MC_HAS_CUTS(p) ((p).cut_count > 0)
#define MC_HAS_EFFICIENCY(p) ((p).efficiency_count > 0)
#endif

// The kernel's inputs, written by tokensim.montecarlo._kernel.launch before each launch (constant_images).
__constant__ McParams mc_params;
__constant__ real mc_schedule[MC_SCHEDULE_ROWS * MC_MAX_PERIODS];
__constant__ double mc_tables[MC_TABLE_SIZE];
// tokensim.montecarlo._rng.round_keys(seed), row-major
__constant__ unsigned int mc_round_keys[2 * TOKENSIM_PHILOX_ROUNDS];

#endif  // TOKENSIM_MC_PARAMS_CUH
