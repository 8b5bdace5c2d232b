// Layout of what the Monte Carlo kernel reads: the McParams struct, the schedule rows and the lookup tables.
//
// Packed by tokensim/_mckernel.py (pack_params, pack_schedule, pack_tables), which parses THIS file for the field
// order and the #define values, so the two cannot drift apart: a field added here must be given a value there.
// Every field is a double (flags are 0/1, counts are whole numbers), so the struct is a plain array of doubles.
// The values come from tokensim._cashflows.FinanceInputs (engine inputs) and tokensim._drivers.DriverModel (driver
// constants); the comments name the Python attribute each field equals.
#ifndef TOKENSIM_MC_PARAMS_CUH
#define TOKENSIM_MC_PARAMS_CUH

// Shock streams and driver indices: tokensim/_drivers.py (STREAM_*, CORRELATED_DRIVERS order).
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

// Rows of the schedule array (MC_SCHEDULE_ROWS x (months + 1) doubles, row-major), indexed by month 0..M.
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
#define MC_SCHEDULE_ROWS 10

// Tables (doubles): Poisson CDFs (tokensim._drivers.poisson_table) and the IRR scan grid (tokensim._irr._scan_rates).
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
    // time and units
    double months;                          // FinanceInputs.months (M)
    double hours_per_month;                 // HOURS_PER_MONTH
    double tokens_per_million;              // TOKENS_PER_MILLION
    // capacity and revenue
    double gpus;                            // FinanceInputs.gpus
    double contracted_share;                // .contracted_share
    double term_months;                     // .term_months
    double rent_per_gpu_month;              // .rent_per_gpu_month
    double usage_fee_per_million_tokens;    // .usage_fee_per_million_tokens
    double usage_tokens_per_gpu_hour;       // .usage_tokens_per_gpu_hour
    double usage_busy_share;                // .usage_busy_share
    double usage_floor_per_gpu_hour;        // .usage_floor_per_gpu_hour
    double usage_cap_per_gpu_hour;          // .usage_cap_per_gpu_hour (inf when uncapped)
    double market_rent_per_gpu_hour;        // .market_rent_per_gpu_hour
    double vacancy_lag_months;              // .vacancy_lag_months
    double lessee_pays_power_and_facility;  // .lessee_pays_power_and_facility (0/1)
    // opex per GPU-hour
    double power_busy_per_gpu_hour;         // .power_busy_per_gpu_hour
    double power_idle_per_gpu_hour;         // .power_idle_per_gpu_hour
    double facility_per_gpu_hour;           // .facility_per_gpu_hour
    double maintenance_per_gpu_hour;        // .maintenance_per_gpu_hour
    double operations_per_gpu_hour;         // .operations_per_gpu_hour
    double insurance_per_gpu_hour;          // .insurance_per_gpu_hour
    // debt, tax, residual, metrics
    double floating_rate;                   // .rate_type == "floating" (0/1)
    double fixed_rate;                      // .fixed_rate
    double floating_margin;                 // .floating_margin
    double tax_rate;                        // .tax_rate
    double loss_vintages;                   // loss_carry_forward_years, or 1 when unlimited
    double loss_expire;                     // loss_carry_forward_years > 0 (0/1)
    double book_value_at_horizon;           // .book_value_at_horizon
    double residual_percent_method;         // .residual_method == "percent_of_cost" (0/1)
    double residual_percent_value;          // .residual_percent_value
    double residual_pv_revenue_per_gpu;     // .residual_pv_revenue_per_gpu
    double residual_pv_power_per_gpu;       // .residual_pv_power_per_gpu
    double residual_pv_other_per_gpu;       // .residual_pv_other_per_gpu
    double dscr_service_floor;              // 1e-9 * max(capex_total, 1): a loan year "has debt service" above it
    double dscr_covenant;                   // .dscr_covenant (NaN when none: never breached)
    double has_hurdle;                      // financing.equity_hurdle_irr given (0/1)
    double hurdle_annual;                   // financing.equity_hurdle_irr
    double hurdle_monthly;                  // (1 + hurdle) ** (1 / 12) - 1
    // drivers (DriverModel)
    double cholesky[36];                    // .cholesky, row-major, lower
    double persistence[6];                  // .persistence
    double drift[6];                        // .drift
    double shock_scale[6];                  // .shock_scale
    double active[6];                       // .active (0/1)
    double shock_streams[3];                // .shock_streams (0/1)
    double rent_jump_count;                 // .rent_jump_table.size (0 = no jumps)
    double rent_jump_log_mean;              // .rent_jump_log_mean
    double rent_jump_log_sd;                // .rent_jump_log_sd
    double cut_count;                       // .cut_table.size
    double cut_log_mean;                    // .cut_log_mean
    double cut_log_sd;                      // .cut_log_sd
    double efficiency_count;                // .efficiency_table.size
    double efficiency_log_gain;             // .efficiency_log_gain
    double default_log_survival_per_month;  // .default_log_survival_per_month (0 = no default, -inf = certain)
    double default_limit_month;             // .default_limit_month
    double spot_utilisation;                // .spot_utilisation
    double floating_base_rate;              // .floating_base_rate
    // IRR (tokensim._irr.irr arguments)
    double irr_guess;                       // guess
    double irr_tol;                         // tol (1e-12 for double, 1e-6 for float)
    double irr_max_iter;                    // max_iter
    double scan_count;                      // len(_scan_rates(guess))
};

#endif  // TOKENSIM_MC_PARAMS_CUH
