"""Deterministic finance of a scenario (``tokensim.run_finance``) with and without the break-even rent.

    python benchmarks/bench_finance.py [--repeats 20] [--json out.json]

The break-even rent (project NPV = 0) is a bisection over the whole cash-flow model, so it costs several times the
finance itself; since issue 10 it is computed only on request (``breakeven=True``, which ``tokensim finance`` and
``tokensim run`` pass). Both are timed in one run on the same machine, best of ``--repeats``, and the ratio reported.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _benchutil import record, set_json_path  # noqa: E402

from tokensim import load_scenario, run_finance  # noqa: E402


def best_of(repeats: int, call) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    set_json_path(args.json)
    print(f"python {platform.python_version()}", flush=True)
    results: list[dict] = []
    for name in ("b300-10k-cluster", "us-b300-neocloud-usage"):
        s = load_scenario(name)
        run_finance(s, breakeven=True)  # warm caches (catalogue, calibration)
        plain = best_of(args.repeats, lambda s=s: run_finance(s))
        with_breakeven = best_of(args.repeats, lambda s=s: run_finance(s, breakeven=True))
        record(results, what=f"run_finance {name}", ms=plain * 1e3, ms_with_breakeven=with_breakeven * 1e3,
               ratio=with_breakeven / plain, note=f"best of {args.repeats}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
