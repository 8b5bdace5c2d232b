"""`tokensim value` on the new user's question (issue 14 done-when: "5,000 H100 from 2023, rents -40%" answered in
one command in under 5 s on 2 cores): the whole command as a fresh process (start-up, imports, perf, valuation, the
lender's 2,000-path Monte Carlo, the table), and the library call alone.

    python benchmarks/bench_value.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

ARGS = ["value", "--hardware", "H100", "--gpus", "5000", "--in-service", "2023-06", "--rent-change", "-0.4",
        "--as-of", "2026-12"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    walls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tokensim", *ARGS], check=True, capture_output=True)
        walls.append(time.perf_counter() - t0)
    print(f"tokensim {' '.join(ARGS)}: best {min(walls):.3f} s, median {statistics.median(walls):.3f} s, "
          f"worst {max(walls):.3f} s over {repeats} fresh processes")
    from tokensim.api import run_valuation
    from tokensim.config.scenario import load_scenario

    scenario = load_scenario("b300-10k-cluster")
    calls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run_valuation(scenario, hardware="H100", gpus=5000, in_service="2023-06", as_of="2026-12", rent_change=-0.4)
        calls.append(time.perf_counter() - t0)
    print(f"run_valuation in process: best {min(calls) * 1e3:.1f} ms, median {statistics.median(calls) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
