"""Benchmark: one vectorised evaluation of many operating points of the performance model (NumPy).

Target (issue 2): >= 2e6 operating points per second on a 2-core machine. Prints points/s per mode; the median of
several repeats after a warm-up. Run: ``python benchmarks/bench_perf.py [--points N] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from tokensim.perf._model import evaluate, resolve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(20261126)
    n = args.points
    batch = rng.integers(1, 512, n).astype(float)
    input_tokens = rng.uniform(100, 8000, n)
    output_tokens = rng.uniform(50, 2000, n)
    print(f"numpy {np.__version__}, python {platform.python_version()}, {n:,} points, median of {args.repeats}")
    for hardware, model, precision in (("H200", "llama-3.3-70b", "fp8"), ("B300", "deepseek-r1", "nvfp4")):
        step_model = resolve(hardware, model, precision).step_model
        for mode in ("decode", "aggregated", "disaggregated"):
            evaluate(step_model, mode, batch[:1000], input_tokens[:1000], output_tokens[:1000])  # warm-up
            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                evaluate(step_model, mode, batch, input_tokens, output_tokens)
                times.append(time.perf_counter() - start)
            median = float(np.median(times))
            print(f"{hardware:5s} {model:14s} {precision:6s} {mode:13s} {median * 1e3:8.1f} ms  "
                  f"{n / median / 1e6:6.2f} M points/s")


if __name__ == "__main__":
    main()
