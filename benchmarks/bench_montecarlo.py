"""Benchmark of the Monte Carlo: NumPy on the CPU; on a GPU also the CUDA kernel, the unfused CuPy-array twin and
the CuPy-vs-NumPy parity of the summaries, all in one run.

The model is the full cluster model of a scenario (default: the founding ``b300-10k-cluster``, with its
``uncertainty:`` section): drivers, monthly cash flows, NPV, payback, DSCR and both IRRs per path.

- ``numpy``: :func:`tokensim.run_montecarlo` end to end (summaries included), best of ``--repeats``.
- ``--gpu``: the kernel ``mc_paths`` at ``--gpu-paths`` paths (default 10^7) in one launch, timed with CUDA events
  after a warm-up, median of ``--repeats``, float32 and float64; the same model as unfused CuPy array code (the NumPy
  twin :func:`tokensim.montecarlo.evaluate_paths` with ``xp=cupy``) at ``--unfused-paths`` (default 2^20), timed the
  same way; ``run_montecarlo(backend="cupy")`` end to end; and with ``--parity`` the relative differences of the
  summary means between CuPy (float64 and float32) and NumPy for one seed.
- ``--memory``: peak resident memory after 2·10^5 and 10^6 NumPy paths (bounded: it does not grow with paths).

Prints one line per measurement and, with ``--json FILE``, writes them as JSON. Figures go to BENCHMARKS.md with the
card, date and commit; tests never assert on them.

    python benchmarks/bench_montecarlo.py [--paths 100000] [--repeats 3]
    python benchmarks/bench_montecarlo.py --gpu --parity --json out.json
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a plain checkout, without installing

from _benchutil import cuda_time_ms, record, run_sections, set_json_path  # noqa: E402  (benchmarks/)

from tokensim import run_montecarlo  # noqa: E402
from tokensim.config.scenario import load_scenario  # noqa: E402
from tokensim.montecarlo import PATH_METRICS, evaluate_paths  # noqa: E402
from tokensim.montecarlo import _kernel as _mckernel  # noqa: E402
from tokensim.resolve.montecarlo import montecarlo_model as prepare  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def bench_numpy(scenario, paths: int, repeats: int, results: list[dict]) -> None:
    run_montecarlo(scenario, paths=min(paths, 20_000), seed=1, backend="numpy")  # warm-up
    best = None
    for _ in range(repeats):
        r = run_montecarlo(scenario, paths=paths, seed=1, backend="numpy")
        best = r if best is None or r.elapsed_s < best.elapsed_s else best
    record(results, what="numpy run_montecarlo", paths=paths, months=best.months, seconds=best.elapsed_s,
           path_months_per_s=best.path_months_per_s, note=f"best of {repeats}, summaries included")


def bench_memory(scenario, results: list[dict]) -> None:
    for paths in (200_000, 1_000_000):
        run_montecarlo(scenario, paths=paths, seed=1, backend="numpy")
        record(results, what="numpy peak RSS", paths=paths, peak_rss_mb=peak_rss_mb())


def bench_gpu(scenario, args, results: list[dict]) -> None:
    import cupy

    model = prepare(scenario)
    months = model.inputs.months
    name = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"]
    device = name.decode() if isinstance(name, bytes) else str(name)
    record(results, what="device", name=device, cupy=cupy.__version__)
    for dtype in ("float32", "float64"):
        start = time.perf_counter()
        images = _mckernel.constant_images(model, dtype, 1)
        _mckernel.launch(model, 1, 0, 1024, dtype, images)  # compile (or load from CuPy's cache) and warm up
        cupy.cuda.Device().synchronize()
        record(results, what=f"kernel compile+first launch {dtype}", seconds=time.perf_counter() - start)
        n = args.gpu_paths
        times = cuda_time_ms(lambda n=n, dtype=dtype, images=images: _mckernel.launch(model, 1, 0, n, dtype, images),
                             args.repeats)
        median = statistics.median(times)
        record(results, what=f"kernel mc_paths {dtype}", paths=n, months=months, ms=median,
               path_months_per_s=n * months / (median / 1e3), note=f"CUDA events, median of {args.repeats}")
    n = args.unfused_paths
    times = cuda_time_ms(lambda: evaluate_paths(model, 1, 0, n, xp=cupy), max(2, args.repeats // 2))
    median = statistics.median(times)
    unfused = n * months / (median / 1e3)
    record(results, what="unfused CuPy arrays (NumPy twin, xp=cupy) float64", paths=n, months=months, ms=median,
           path_months_per_s=unfused)
    kernel32 = next(r for r in results if r.get("what") == "kernel mc_paths float32")["path_months_per_s"]
    kernel64 = next(r for r in results if r.get("what") == "kernel mc_paths float64")["path_months_per_s"]
    record(results, what="kernel / unfused", float32=kernel32 / unfused, float64=kernel64 / unfused)
    r = run_montecarlo(scenario, paths=args.gpu_paths, seed=1, backend="cupy")
    record(results, what="cupy run_montecarlo float32", paths=args.gpu_paths, seconds=r.elapsed_s,
           path_months_per_s=r.path_months_per_s, note="chunks of 2^22 paths, device summaries included")


def bench_parity(scenario, paths: int, results: list[dict]) -> None:
    cpu = run_montecarlo(scenario, paths=paths, seed=123, backend="numpy")
    for dtype in ("float64", "float32"):
        gpu = run_montecarlo(scenario, paths=paths, seed=123, backend="cupy", dtype=dtype)
        diffs = {}
        for metric in PATH_METRICS:
            c, g = cpu.metrics[metric]["mean"], gpu.metrics[metric]["mean"]
            if np.isfinite(c):
                diffs[metric] = abs(g - c) / max(abs(c), 1e-300)
        flags = max(abs(getattr(gpu, f"prob_{f}") - getattr(cpu, f"prob_{f}"))
                    for f in ("dscr_below_covenant", "equity_irr_below_hurdle", "tenant_default"))
        record(results, what=f"parity cupy {dtype} vs numpy", paths=paths, max_rel_diff_of_means=max(diffs.values()),
               worst_metric=max(diffs, key=diffs.get), max_abs_diff_of_probabilities=flags)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="b300-10k-cluster")
    parser.add_argument("--paths", type=int, default=100_000, help="NumPy paths")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gpu", action="store_true", help="also the CUDA kernel and the unfused CuPy baseline")
    parser.add_argument("--gpu-paths", type=int, default=10_000_000)
    parser.add_argument("--unfused-paths", type=int, default=2**20)
    parser.add_argument("--parity", action="store_true", help="CuPy vs NumPy summaries for one seed")
    parser.add_argument("--parity-paths", type=int, default=200_000)
    parser.add_argument("--memory", action="store_true", help="peak RSS after 2e5 and 1e6 NumPy paths")
    parser.add_argument("--no-numpy", action="store_true", help="skip the NumPy timing")
    parser.add_argument("--json", type=Path, default=None, help="write the measurements to this file")
    args = parser.parse_args()
    set_json_path(args.json)
    scenario = load_scenario(args.scenario)
    print(f"python {platform.python_version()}, numpy {np.__version__}, scenario {args.scenario}", flush=True)
    results: list[dict] = []
    # Parity first (the acceptance check), then speed; a failing section is recorded and the next one still runs.
    sections = []
    if args.parity:
        sections.append(("parity", lambda: bench_parity(scenario, args.parity_paths, results)))
    if args.gpu:
        sections.append(("gpu", lambda: bench_gpu(scenario, args, results)))
    if not args.no_numpy:
        sections.append(("numpy", lambda: bench_numpy(scenario, args.paths, args.repeats, results)))
    if args.memory:
        sections.append(("memory", lambda: bench_memory(scenario, results)))
    failed = run_sections(sections, results)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
