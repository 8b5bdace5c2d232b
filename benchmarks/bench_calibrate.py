"""Benchmark: one fit of the performance model's factors to the bundled rows, with the Jacobian by grouped columns
(``calibrate``'s) and by scipy's one evaluation per column, in the same run (their ratio is the figure; the machine is
noisy), and a check that both give the same factors to the last bit.

The rows are those ``tokensim calibrate --with-fixed-concurrency`` fits, at its default prior widths; each fit runs
the width continuation (0.3, then 0.075), as every fold of the cross-validation does. With ``--jobs N`` it also times
the leave-one-source-out folds in N processes against one process (minutes each).

Run: ``python benchmarks/bench_calibrate.py [--jobs N]``.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import scipy

from tokensim.perf import calibration as cal
from tokensim.perf.validate import calibration_rows, load_measurements


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=0, help="also time the folds in this many processes (0: skip)")
    args = parser.parse_args()
    every = load_measurements()
    rows = calibration_rows(every) + cal.fixed_concurrency_rows(every)
    start = time.perf_counter()
    problem = cal.build_problem(rows)
    built_s = time.perf_counter() - start
    widths = cal.PriorWidths(source_offset_sd=cal.DEFAULT_SOURCE_OFFSET_SD, engine_sd=cal.DEFAULT_ENGINE_SD)
    print(f"numpy {np.__version__}, scipy {scipy.__version__}, python {platform.python_version()}; "
          f"{len(rows):,} rows, problem built in {built_s:.1f} s")
    results = {}
    for jacobian in ("grouped", "dense"):
        start = time.perf_counter()
        results[jacobian] = cal.fit(problem, widths=widths, jacobian=jacobian)
        elapsed = time.perf_counter() - start
        print(f"fit, {jacobian:7s} Jacobian: {elapsed:7.1f} s  (cost {results[jacobian].cost:.12g})", flush=True)
        results[jacobian + "_s"] = elapsed
    same = np.array_equal(results["grouped"].x, results["dense"].x)
    print(f"dense / grouped: {results['dense_s'] / results['grouped_s']:.2f}x; same factors to the last bit: {same}")
    if args.jobs > 1:
        groups = cal._source_groups(problem)
        times = {}
        for jobs in (args.jobs, 1):
            start = time.perf_counter()
            cal.cross_validate_points(problem, widths=widths, jobs=jobs)
            times[jobs] = time.perf_counter() - start
            print(f"{len(groups)} folds in {jobs} process(es): {times[jobs]:7.1f} s", flush=True)
        print(f"1 process / {args.jobs}: {times[1] / times[args.jobs]:.2f}x")


if __name__ == "__main__":
    main()
