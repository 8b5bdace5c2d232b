// The monthly cash-flow model of one path: the twin of tokensim/finance/_cashflows.py (cashflows), line for line.
//
//   mc_cashflows      == tokensim.finance._cashflows.cashflows for one path (the rows project_cf and equity_cf, npv,
//                        payback_equity, payback_equity_first_crossing, min_dscr, covenant_breached, and the
//                        waterfall's sponsor_injection and first_loan_default_month); the schedule records, LLCR,
//                        average DSCR, equity NPV and the static/discounted paybacks are left out (the Monte Carlo
//                        reports none)
//   mc_first_crossing == tokensim.finance._cashflows._first_crossing
//   mc_settle_tax     == tokensim.finance._cashflows._settle_tax
//   mc_payback_update == tokensim.finance._cashflows._payback_update
//   mc_residual_value == tokensim.finance._cashflows._residual_value
// Launched from kernels/montecarlo.cu (mc_paths). Per-month deterministic arrays (capex, online share, depreciation,
// debt draws and principal, payment months, discount and escalation factors) arrive precomputed in the schedule
// rows of kernels/mc_params.cuh (constant memory, rounded once to `real`); the month state is in `real` registers.
#ifndef TOKENSIM_CASHFLOWS_CUH
#define TOKENSIM_CASHFLOWS_CUH

#include "mc_drivers.cuh"
#include "mc_params.cuh"
#include "real.cuh"

// Tax on one year's income after using carried-forward losses, oldest first; updates the pool. The pool stays in
// registers: every loop runs over all MC_MAX_VINTAGES slots with compile-time indices and writes through selects
// (a guarded write such as `if (v == vintages - 1) pool[v] = x` is turned by the compiler into an indexed store,
// which would move the whole array to local memory). Slots at and beyond `vintages` hold zero and use nothing.
__device__ __forceinline__ real mc_settle_tax(real* pool, real income, real rate, int vintages, bool expire) {
    real remaining = income;
#pragma unroll
    for (int v = 0; v < MC_MAX_VINTAGES; ++v) {
        const real use = mc_min(pool[v], mc_max(remaining, (real)0));
        pool[v] = pool[v] - use;
        remaining = remaining - use;
    }
    const real new_loss = mc_max(-income, (real)0);
    if (expire) {
        // pool[:-1] = pool[1:], pool[-1] = new_loss over the first `vintages` slots
#pragma unroll
        for (int v = 0; v < MC_MAX_VINTAGES; ++v) {
            const real next = v + 1 < MC_MAX_VINTAGES ? pool[v + 1 < MC_MAX_VINTAGES ? v + 1 : v] : (real)0;
            pool[v] = v + 1 < vintages ? next : (v + 1 == vintages ? new_loss : pool[v]);
        }
    } else {
        pool[0] = pool[0] + new_loss;
    }
    return rate * mc_max(remaining, (real)0);
}

// The fractional year from which a cumulative sum stays non-negative (see the Python docstring).
__device__ __forceinline__ real mc_payback_update(real payback, real previous, real current, real flow, int month) {
    const bool crossed = previous < 0 && current >= 0;
    const real fraction = crossed ? -previous / (flow != 0 ? flow : (real)1) : (real)0;
    payback = crossed ? ((real)(month - 1) + fraction) / (real)12 : payback;
    return current < 0 ? mc_nan() : payback;
}

// The fractional year when a cumulative sum first turns non-negative; kept once set.
__device__ __forceinline__ real mc_first_crossing(real payback, real previous, real current, real flow, int month) {
    const bool crossed = !mc_isfinite(payback) && previous < 0 && current >= 0;
    const real fraction = crossed ? -previous / (flow != 0 ? flow : (real)1) : (real)0;
    return crossed ? ((real)(month - 1) + fraction) / (real)12 : payback;
}

// Sale proceeds at the horizon from the last month's drivers.
__device__ __forceinline__ real mc_residual_value(const McParams& p, const McDrivers& d) {
    if (p.residual_percent_method != 0) {
        return p.residual_percent_value * d.market_rent_multiplier;
    }
    const real per_gpu = p.residual_pv_revenue_per_gpu * d.token_price_multiplier * d.efficiency_multiplier
                         - p.residual_pv_power_per_gpu * d.power_price_multiplier
                         - p.residual_pv_other_per_gpu;
    return p.gpus * mc_max(per_gpu, (real)0);
}

// What a path's month loop leaves for the metrics (the cash-flow rows themselves are in the caller's memory).
struct McCashResult {
    real npv;
    real payback_equity;
    real payback_equity_first_crossing;
    real min_dscr;
    real sponsor_injection;
    real first_loan_default_month;  // NaN if none
    bool covenant_breached;
};

// The month loop of one path. Writes project_cf[t * stride] and equity_cf[t * stride] for t = 0..M. The schedule
// rows are those of mc_schedule (constant memory). The tenant's default month (drawn month by month by the drivers)
// is written to *default_month_out.
__device__ McCashResult mc_cashflows(const McParams& p, const unsigned int* round_keys, unsigned long long path,
                                     int* default_month_out, real* project_cf, real* equity_cf, int stride) {
    const int M = p.months;
    const real* capex_m = mc_schedule + MC_SCHEDULE_CAPEX * MC_MAX_PERIODS;
    const real* online = mc_schedule + MC_SCHEDULE_ONLINE * MC_MAX_PERIODS;
    const real* dep_m = mc_schedule + MC_SCHEDULE_DEPRECIATION * MC_MAX_PERIODS;
    const real* draws = mc_schedule + MC_SCHEDULE_DRAWS * MC_MAX_PERIODS;
    const real* due = mc_schedule + MC_SCHEDULE_PRINCIPAL * MC_MAX_PERIODS;
    const real* lump = mc_schedule + MC_SCHEDULE_LUMP * MC_MAX_PERIODS;
    const real* pay_month = mc_schedule + MC_SCHEDULE_PAYMENT_MONTH * MC_MAX_PERIODS;
    const real* discount_project = mc_schedule + MC_SCHEDULE_DISCOUNT_PROJECT * MC_MAX_PERIODS;
    const real* escalation_m = mc_schedule + MC_SCHEDULE_ESCALATION * MC_MAX_PERIODS;
    const real* market_trend = mc_schedule + MC_SCHEDULE_MARKET_TREND * MC_MAX_PERIODS;
    const real* dsra_target = mc_schedule + MC_SCHEDULE_DSRA_TARGET * MC_MAX_PERIODS;
    const real hours = p.hours_per_month;
    const real cs = p.contracted_share;
    const real lessee = p.lessee_pays_power_and_facility;
    const int lag = p.vacancy_lag_months;
    const int term_months = p.term_months;
    const int vintages = p.loss_vintages;
    const bool expire = p.loss_expire != 0;
    const real tax_rate = p.tax_rate;

    // Month 0: capex at close, the first draw, and a finance lease's first rental (paid in advance); the sponsor pays
    // in the first DSRA target when the DSRA is funded at close, and the input VAT on the capex (not financed).
    real balance = draws[0] - due[0];
    real scheduled_balance = balance;
    real dsra = p.dsra_at_close != 0 ? dsra_target[0] : (real)0;
    real vat_receivable = p.vat_input_rate * capex_m[0];
    const real project_0 = -capex_m[0] - vat_receivable;
    const real equity_0 = -capex_m[0] - vat_receivable + draws[0] - due[0] - dsra;
    project_cf[0] = project_0;
    equity_cf[0] = equity_0;

    real accrued = 0;
    real pool_lev[MC_MAX_VINTAGES], pool_unlev[MC_MAX_VINTAGES];
#pragma unroll
    for (int v = 0; v < MC_MAX_VINTAGES; ++v) {
        pool_lev[v] = 0;
        pool_unlev[v] = 0;
    }
    real income_lev = 0, income_unlev = 0;
    real npv = project_0;
    real cum_equity = equity_0;
    real payback_equity = cum_equity >= 0 ? (real)0 : mc_nan();
    real payback_first = payback_equity;
    real year_cfads = 0, year_service = 0;
    real min_dscr = mc_inf();
    int n_dscr = 0;
    bool breached = false;
    // Waterfall state.
    const real money_floor = p.dscr_service_floor;
    const bool quarterly = p.tax_quarterly != 0;
    real paid_lev = 0, paid_unlev = 0;
    real reserve = 0, lockup = 0;
    bool locked = false, dsra_drawn = false;
    int dsra_short_months = 0, cure_count = 0;
    real injection_total = 0;
    real first_default = mc_nan();
    real receivables = 0, payables = 0;  // working capital
    McDriverState state;
    mc_drivers_init(&state);

    for (int m = 1; m <= M; ++m) {
        const int j = m - 1;
        const McDrivers d = mc_drivers_step(p, round_keys, (unsigned int)m, path, &state);
        const int default_month = state.default_month;
        // -- capacity and revenue --
        const real gpus_on = p.gpus * online[m];
        const real contracted = gpus_on * cs;
        const real contract_on = (m <= term_months && j < default_month) ? (real)1 : (real)0;
        const real vacant = (j >= default_month && j < default_month + lag) ? (real)1 : (real)0;
        const real renewed = (m > term_months && j < default_month) ? p.renewal_share : (real)0;
        const real market_gpus = gpus_on - contracted * (contract_on + vacant + renewed);
        const real escalation = escalation_m[m];
        const real revenue_contract = contract_on * contracted * p.rent_per_gpu_month * escalation;
        const real tokens_per_gpu_hour = p.usage_tokens_per_gpu_hour * d.efficiency_multiplier
                                         * mc_min((real)1, p.usage_busy_share * d.token_volume_multiplier);
        const real usage_per_gpu_hour = mc_min(mc_max(
            tokens_per_gpu_hour / p.tokens_per_million * p.usage_fee_per_million_tokens
            * d.token_price_multiplier, p.usage_floor_per_gpu_hour), p.usage_cap_per_gpu_hour);
        const real revenue_usage = contract_on * contracted * hours * usage_per_gpu_hour;
        const real spot = d.spot_utilisation;
        const real market_price = p.market_rent_per_gpu_hour * market_trend[m] * d.market_rent_multiplier;
        const real revenue_market = market_gpus * hours * market_price * spot;
        const real revenue_renewal = renewed * contracted * hours * market_price
                                     * ((real)1 - p.renewal_rent_haircut_share);
        const real terminated = (j == default_month && m <= term_months) ? (real)1 : (real)0;  // tenant defaults
        const real revenue_termination = terminated * p.termination_recovery_share * contracted * p.rent_per_gpu_month
                                         * escalation
                                         * mc_min(p.termination_payment_months_of_rent, (real)(term_months - j));
        const real revenue_sla_credit = p.sla_credit_share * (revenue_contract + revenue_usage);
        const real revenue = revenue_contract + revenue_usage + revenue_market + revenue_renewal + revenue_termination
                             - revenue_sla_credit;
        // -- VAT: input VAT on capex is a receivable, recovered against the output VAT on revenue --
        const real vat_input = p.vat_input_rate * capex_m[m];
        vat_receivable = vat_receivable + vat_input;
        const real vat_output = p.vat_output_rate * mc_max(revenue, (real)0);
        const real vat_recovered = mc_min(vat_receivable, vat_output);
        vat_receivable = vat_receivable - vat_recovered;
        const real vat_paid = vat_output - vat_recovered;
        // -- opex --
        const real passed_through = lessee * contract_on * contracted;
        const real powered = gpus_on - passed_through;
        const real rented_powered = (contract_on + renewed) * contracted - passed_through + market_gpus * spot;
        const real opex_power = hours * d.power_price_multiplier * (
            p.power_idle_per_gpu_hour * powered
            + (p.power_busy_per_gpu_hour - p.power_idle_per_gpu_hour) * rented_powered);
        const real opex_facility = hours * p.facility_per_gpu_hour * powered;
        const real opex_maintenance = hours * p.maintenance_per_gpu_hour * gpus_on;
        const real opex_operations = hours * p.operations_per_gpu_hour * gpus_on;
        const real opex_insurance = hours * p.insurance_per_gpu_hour * gpus_on;
        const real relet = (j == default_month + lag) ? (real)1 : (real)0;  // the month the GPUs are re-let (once)
        const real opex_reletting = relet * p.reletting_cost_months_of_rent * contracted * hours * market_price;
        const real opex_suppliers = opex_power + opex_facility + opex_maintenance + opex_operations
                                    + opex_insurance + opex_reletting;
        const real opex_vat_surtax = p.vat_surtax_share * vat_paid;
        const real opex = opex_suppliers + opex_vat_surtax;
        const real ebitda = revenue - opex;
        // -- working capital: receivables on revenue, payables on suppliers' opex; both settled at the horizon --
        const real receivables_new = (m == M ? (real)0 : p.receivable_months) * revenue;
        const real payables_new = (m == M ? (real)0 : p.payable_months) * opex_suppliers;
        const real working_capital_change = (receivables_new - receivables) - (payables_new - payables);
        receivables = receivables_new;
        payables = payables_new;
        // -- debt --
        // the refinanced balloon bears the refinancing rate
        const real rate = m > p.refinanced_month ? p.refinancing_rate
                          : (p.floating_rate != 0 ? d.floating_base_rate + p.floating_margin : p.fixed_rate);
        const real interest_month = balance * rate / (real)12;
        accrued = accrued + interest_month;
        real interest_paid = 0;
        if (pay_month[m] != 0) {
            interest_paid = accrued;
            accrued = 0;
        }
        // Prepayments scale the remaining schedule pro rata (scale = 1 without any).
        const real scale = scheduled_balance > 0 ? balance / scheduled_balance : (real)1;
        const real principal = mc_min(due[m] * scale, balance + draws[m]);
        scheduled_balance = scheduled_balance + draws[m] - due[m];
        balance = balance + draws[m] - principal;
        const real service = interest_paid + principal;
        // -- tax (settled at each year end and at the horizon; prepaid at quarter ends when quarterly) --
        income_lev = income_lev + ebitda - interest_month - dep_m[m];
        income_unlev = income_unlev + ebitda - dep_m[m];
        real residual = 0, tax_lev_ops = 0, tax_lev_sale = 0, tax_unlev = 0;
        if (m == M) {
            residual = mc_residual_value(p, d);
            const real gain = residual - p.book_value_at_horizon;
            real pool_ops[MC_MAX_VINTAGES];
#pragma unroll
            for (int v = 0; v < MC_MAX_VINTAGES; ++v) {
                pool_ops[v] = pool_lev[v];
            }
            const real tax_year_ops = mc_settle_tax(pool_ops, income_lev, tax_rate, vintages, expire);
            tax_lev_ops = tax_year_ops - paid_lev;
            tax_lev_sale = mc_settle_tax(pool_lev, income_lev + gain, tax_rate, vintages, expire) - tax_year_ops;
            tax_unlev = mc_settle_tax(pool_unlev, income_unlev + gain, tax_rate, vintages, expire) - paid_unlev;
        } else if (m % 12 == 0) {
            tax_lev_ops = mc_settle_tax(pool_lev, income_lev, tax_rate, vintages, expire) - paid_lev;
            tax_unlev = mc_settle_tax(pool_unlev, income_unlev, tax_rate, vintages, expire) - paid_unlev;
            income_lev = 0;
            income_unlev = 0;
            paid_lev = 0;
            paid_unlev = 0;
        } else if (quarterly && m % 3 == 0) {
            real losses_lev = 0, losses_unlev = 0;
#pragma unroll
            for (int v = 0; v < MC_MAX_VINTAGES; ++v) {
                losses_lev = losses_lev + pool_lev[v];
                losses_unlev = losses_unlev + pool_unlev[v];
            }
            tax_lev_ops = mc_max(tax_rate * mc_max(income_lev - losses_lev, (real)0) - paid_lev, (real)0);
            tax_unlev = mc_max(tax_rate * mc_max(income_unlev - losses_unlev, (real)0) - paid_unlev, (real)0);
            paid_lev = paid_lev + tax_lev_ops;
            paid_unlev = paid_unlev + tax_unlev;
        }
        const real cfads = ebitda - tax_lev_ops - working_capital_change + vat_recovered;
        // -- waterfall --
        const real target = dsra_target[m] * scale;
        real cash = cfads - service;
        real due_now = service;
        if (m == M) {  // the sale repays the debt still outstanding
            const real leftover = balance + accrued;
            cash = cash - tax_lev_sale + residual - leftover;
            due_now = service + leftover;
        }
        const real dsra_draw = mc_min(dsra, mc_max(-cash, (real)0));
        dsra = dsra - dsra_draw;
        cash = cash + dsra_draw;
        const real lockup_use = mc_min(lockup, mc_max(-cash, (real)0));
        lockup = lockup - lockup_use;
        cash = cash + lockup_use;
        if (m == M) {  // every account is released at the horizon
            cash = cash + dsra + reserve + lockup;
            dsra = 0;
            reserve = 0;
            lockup = 0;
        }
        const real injection = mc_max(-cash, (real)0);
        cash = mc_max(cash, (real)0);
        const bool payment_default = injection > money_floor && due_now > money_floor;
        const real dsra_in = mc_min(cash, mc_max(target - dsra, (real)0));
        const real dsra_out = mc_max(dsra + dsra_in - target, (real)0);
        dsra = dsra + dsra_in - dsra_out;
        cash = cash - dsra_in + dsra_out;
        dsra_drawn = (dsra_drawn || dsra_draw > money_floor) && dsra < target - money_floor;
        dsra_short_months = dsra_drawn ? dsra_short_months + 1 : 0;
        const bool dsra_default = dsra_short_months > p.dsra_restore_months;
        if (m < M) {
            const real reserve_in = mc_min(cash, p.maintenance_reserve_per_gpu_hour * hours * gpus_on);
            reserve = reserve + reserve_in;
            cash = cash - reserve_in;
            const bool sweep_on = locked || p.sweep_always != 0;
            const real sweep = sweep_on ? mc_min(p.cash_sweep_share * cash, balance) : (real)0;
            balance = balance - sweep;
            cash = cash - sweep;
        }
        const bool hold = locked && m < M;  // everything is distributed at the horizon
        const real trapped = hold ? cash : -lockup;
        const real distribution = hold ? (real)0 : cash + lockup;
        lockup = lockup + trapped;
        // -- loan-year DSCR test: covenant (equity cure or default) and lock-up of the next loan year --
        year_cfads = year_cfads + cfads;
        year_service = year_service + service - lump[m] * scale;
        real cure = 0;
        bool covenant_default = false;
        if (m % 12 == 0 || m == M) {
            const bool has = year_service > money_floor;
            const real dscr = year_cfads / (has ? year_service : (real)1);
            const bool below = has && dscr < p.dscr_covenant;
            if (has) {
                min_dscr = mc_min(min_dscr, dscr);
                n_dscr += 1;
                breached = breached || below;
            }
            const bool cured = below && cure_count < p.equity_cure_max_count && m < M;
            cure = cured ? mc_min(p.dscr_covenant * year_service - year_cfads, balance) : (real)0;
            balance = balance - cure;
            cure_count += cured ? 1 : 0;
            covenant_default = below && !cured;
            locked = has && dscr < p.lockup_dscr;
            year_cfads = 0;
            year_service = 0;
        }
        injection_total = injection_total + injection;
        const bool event = payment_default || covenant_default || dsra_default;
        first_default = (event && !mc_isfinite(first_default)) ? (real)m : first_default;
        // -- cash flows --
        const real vat_and_working_capital = vat_recovered - vat_input - working_capital_change;
        const real project_m = ebitda - tax_unlev - capex_m[m] + residual + vat_and_working_capital;
        const real equity_m = distribution - injection - cure - capex_m[m] - vat_input + draws[m];
        project_cf[m * stride] = project_m;
        equity_cf[m * stride] = equity_m;
        // -- running metrics --
        npv = npv + project_m * discount_project[m];
        const real before = cum_equity;
        cum_equity = cum_equity + equity_m;
        payback_equity = mc_payback_update(payback_equity, before, cum_equity, equity_m, m);
        payback_first = mc_first_crossing(payback_first, before, cum_equity, equity_m, m);
    }
    *default_month_out = state.default_month;
    McCashResult out;
    out.npv = npv;
    out.payback_equity = payback_equity;
    out.payback_equity_first_crossing = payback_first;
    out.sponsor_injection = injection_total;
    out.first_loan_default_month = first_default;
    out.min_dscr = n_dscr > 0 ? min_dscr : mc_nan();
    out.covenant_breached = breached;
    return out;
}

#endif  // TOKENSIM_CASHFLOWS_CUH
