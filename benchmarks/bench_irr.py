"""Benchmark: tokensim.irr (vectorised) against a Python loop of numpy_financial.irr, in the same run.

Rows are project-like monthly cash flows: one outlay at t=0 (0.8-1.2 M USD), 60 monthly net inflows of
outlay / 40 with 30 % normal noise (so a few per cent of rows dip negative in some month and take the
several-sign-changes path), and a residual value of 20 % of the outlay added in the last month.

numpy_financial.irr solves polynomial roots row by row (about half a millisecond a row at 61 periods), so it is timed
on a subset (--npf-rows) and its rate scaled to rows per second; the script says so in its output. The maximum
absolute difference between the two is taken over that subset.

    .venv/bin/python benchmarks/bench_irr.py [--rows 100000] [--npf-rows 2000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import numpy_financial as npf

from tokensim._irr import IRR_MULTIPLE_SIGN_CHANGES, IRR_OK, irr

PERIODS_MONTHLY = 61  # t = 0 plus five years of months
MONTHLY_INFLOW_PER_OUTLAY = 1 / 40
INFLOW_NOISE_SD = 0.3
RESIDUAL_PER_OUTLAY = 0.2


def project_flows(n_rows: int, seed: int = 0) -> np.ndarray:
    """Monthly cash flows in USD, shape (n_rows, 61): outlay, noisy inflows, residual value at the end."""
    rng = np.random.default_rng(seed)
    outlay_usd = rng.uniform(0.8e6, 1.2e6, n_rows)
    flows_usd = np.empty((n_rows, PERIODS_MONTHLY))
    flows_usd[:, 0] = -outlay_usd
    noise = rng.normal(1.0, INFLOW_NOISE_SD, (n_rows, PERIODS_MONTHLY - 1))
    flows_usd[:, 1:] = (outlay_usd * MONTHLY_INFLOW_PER_OUTLAY)[:, None] * noise
    flows_usd[:, -1] += RESIDUAL_PER_OUTLAY * outlay_usd
    return flows_usd


def best_of(repeats: int, fn):
    """Smallest wall time over ``repeats`` calls (the machine is shared), and the last result."""
    best_s, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best_s = min(best_s, time.perf_counter() - start)
    return best_s, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows solved by tokensim.irr")
    parser.add_argument("--npf-rows", type=int, default=2_000, help="subset solved by the numpy_financial loop")
    parser.add_argument("--repeats", type=int, default=5, help="timing repeats for tokensim.irr (best is kept)")
    args = parser.parse_args()

    flows_usd = project_flows(args.rows)
    irr(flows_usd[:1000])  # warm-up: first-call import and allocation costs are not what we measure

    ours_s, (rates, reasons) = best_of(args.repeats, lambda: irr(flows_usd, return_reason=True))
    subset = flows_usd[: args.npf_rows]
    npf_s, npf_rates = best_of(1, lambda: np.array([npf.irr(row) for row in subset]))

    ours_rows_per_s = args.rows / ours_s
    npf_rows_per_s = args.npf_rows / npf_s
    diff = np.abs(rates[: args.npf_rows] - npf_rates)
    print(f"rows x periods           : {args.rows} x {PERIODS_MONTHLY} (monthly)")
    print(f"reason counts            : ok {int((reasons == IRR_OK).sum())}, "
          f"several sign changes {int((reasons == IRR_MULTIPLE_SIGN_CHANGES).sum())}, "
          f"other {int(((reasons != IRR_OK) & (reasons != IRR_MULTIPLE_SIGN_CHANGES)).sum())}")
    print(f"tokensim.irr             : {ours_s:.3f} s for {args.rows} rows (best of {args.repeats}) "
          f"= {ours_rows_per_s:,.0f} rows/s")
    print(f"numpy_financial.irr loop : {npf_s:.3f} s for {args.npf_rows} rows (subset, scaled to rows/s) "
          f"= {npf_rows_per_s:,.0f} rows/s")
    print(f"speed-up                 : {ours_rows_per_s / npf_rows_per_s:,.0f}x")
    print(f"max |difference|         : {np.nanmax(diff):.2e} over the {args.npf_rows}-row subset "
          f"(NaN in one only: {int(np.sum(np.isnan(rates[: args.npf_rows]) != np.isnan(npf_rates)))})")
    print(f"median monthly IRR       : {np.nanmedian(rates):.4f}")


if __name__ == "__main__":
    main()
