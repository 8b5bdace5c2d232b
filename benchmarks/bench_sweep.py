"""Benchmark of grid sweeps (``tokensim sweep``): NumPy on the CPU; on a GPU also the fused kernel and its parity.

Grids (founding scenario ``b300-10k-cluster`` unless ``--scenario``):

- ``fixed``: a fixed batch per point, concurrency x input tokens x utilisation (unit cost, cost per GPU-hour, output
  tokens/s/GPU: every per-point metric of the kernel);
- ``slo``: the batch searched per point under an SLO axis (every candidate of perf.concurrency_grid, both layouts of
  the MoE model), SLO x input tokens x utilisation.

Measurements:

- ``numpy``: :meth:`tokensim.sweep.Sweep.frames` end to end (tidy DataFrames included, discarded after each chunk) and
  the evaluation alone (:func:`tokensim.sweep.evaluate_points` on the same thread pool), best of ``--repeats``;
- ``--gpu``: ``unitcost_points`` over ``--gpu-points`` points (default 10^8) in launches of 2^25 points into reused
  buffers, timed with CUDA events around the whole loop after a warm-up, median of ``--repeats``, float32 and
  float64; the SLO grid at ``--gpu-slo-points``; the NVRTC compile and first launch; ``Sweep.frames`` on CuPy end to
  end (DataFrames on the host included) at 2^22 points;
- ``--parity``: kernel vs NumPy point by point on mixed grids (every categorical combination, both serving modes,
  batch search and fixed batches): the largest relative difference per dtype and the share of points whose batch
  differs (float64 must be 0 and < 1e-9).

Prints one line per measurement; ``--json FILE`` writes them (rewritten after each, so a failure keeps the rest).
Figures go to BENCHMARKS.md with the machine, date and commit; tests never assert on them.

    python benchmarks/bench_sweep.py [--points 2000000] [--repeats 3]
    python benchmarks/bench_sweep.py --gpu --parity --no-numpy --json out.json
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a plain checkout, without installing

from _benchutil import cuda_time_ms, record, run_sections, set_json_path  # noqa: E402  (benchmarks/)

from tokensim._backend import cpu_workers  # noqa: E402
from tokensim.config.scenario import load_scenario  # noqa: E402
from tokensim.sweep import _kernel as _unitcost_kernel  # noqa: E402
from tokensim.sweep._run import OUTPUTS, evaluate_points, plan_sweep, prepare_sweep  # noqa: E402


def fixed_axes(points: int) -> list[str]:
    """concurrency (256) x utilisation (16) x input tokens (enough for ``points``)."""
    n_in = max(1, math.ceil(points / (256 * 16)))
    return ["concurrency=1:256:256", f"input_tokens=100:16000:{n_in}", "utilisation=0.25:1:16"]


def slo_axes(points: int) -> list[str]:
    """SLO (100) x utilisation (10) x input tokens (enough for ``points``)."""
    n_in = max(1, math.ceil(points / 1000))
    return ["slo=5:200:100", f"input_tokens=100:16000:{n_in}", "utilisation=0.1:1:10"]


def bench_numpy(scenario, args, results: list[dict]) -> None:
    for kind, axes in (("fixed", fixed_axes(args.points)), ("slo", slo_axes(args.slo_points))):
        sweep = prepare_sweep(scenario, axes, backend="numpy")
        plan = sweep.plan
        for _ in sweep.frames():  # warm-up (imports, caches)
            break
        best = math.inf
        for _ in range(args.repeats):
            start = time.perf_counter()
            rows = sum(len(frame) for frame in sweep.frames())
            best = min(best, time.perf_counter() - start)
        record(results, what=f"numpy sweep {kind} end to end", points=rows, seconds=best, points_per_s=rows / best,
               threads=cpu_workers(), chunk_points=sweep.chunk_points, note=f"best of {args.repeats}, DataFrames built")
        block = 32_768 if not plan.search else 512
        best = math.inf
        with ThreadPoolExecutor(max_workers=cpu_workers()) as pool:
            for _ in range(args.repeats):
                start = time.perf_counter()
                list(pool.map(lambda a, plan=plan, block=block: evaluate_points(plan, a, min(plan.points, a + block)),
                              range(0, plan.points, block)))
                best = min(best, time.perf_counter() - start)
        record(results, what=f"numpy sweep {kind} evaluation only", points=plan.points, seconds=best,
               points_per_s=plan.points / best, threads=cpu_workers(), note=f"best of {args.repeats}")


def bench_gpu(scenario, args, results: list[dict]) -> None:
    import cupy

    name = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"]
    record(results, what="device", name=name.decode() if isinstance(name, bytes) else str(name),
           cupy=cupy.__version__)
    chunk = 1 << 25
    for kind, axes, points in (("fixed", fixed_axes(args.gpu_points), args.gpu_points),
                               ("slo", slo_axes(args.gpu_slo_points), args.gpu_slo_points)):
        plan = plan_sweep(scenario, axes)
        n_total = min(points, plan.points)
        for dtype in ("float32", "float64"):
            real = np.float32 if dtype == "float32" else np.float64
            arrays = _unitcost_kernel.device_inputs(plan)
            start = time.perf_counter()
            _unitcost_kernel.launch(plan, 0, 1024, dtype, arrays)  # compile (or load from CuPy's cache), warm up
            cupy.cuda.Device().synchronize()
            if kind == "fixed":
                record(results, what=f"kernel compile+first launch {dtype}", seconds=time.perf_counter() - start)
            size = min(chunk, n_total)
            buffers = (cupy.empty(len(OUTPUTS) * size, dtype=real), cupy.empty(size, dtype=cupy.uint8))

            def run(plan=plan, dtype=dtype, arrays=arrays, buffers=buffers, size=size, n_total=n_total):
                for first in range(0, n_total, size):
                    _unitcost_kernel.launch(plan, first, min(size, n_total - first), dtype, arrays, out=buffers)

            times = cuda_time_ms(run, args.repeats)
            median = statistics.median(times)
            record(results, what=f"kernel unitcost_points {kind} {dtype}", points=n_total, ms=median,
                   points_per_s=n_total / (median / 1e3),
                   note=f"CUDA events around {math.ceil(n_total / size)} launches of <= 2^25 points, median of "
                        f"{args.repeats}")
            del buffers
    sweep = prepare_sweep(scenario, fixed_axes(1 << 22), backend="cupy")
    start = time.perf_counter()
    rows = sum(len(frame) for frame in sweep.frames())
    seconds = time.perf_counter() - start
    record(results, what="cupy sweep fixed end to end float32", points=rows, seconds=seconds,
           points_per_s=rows / seconds, note="kernel + host copy + DataFrames, compile cached")


PARITY_GRIDS = (
    ("b300-10k-cluster", "aggregated", ["hardware=B300,H200,H100", "precision=fp8,nvfp4",
                                        "model=deepseek-v3,llama-3.3-70b,gpt-oss-120b,mixtral-8x7b",
                                        "input_tokens=200:8000:8", "slo=10:150:8", "server_price=4e6"]),
    ("b300-10k-cluster", "disaggregated", ["hardware=B300,H100,GB200", "model=llama-3.1-8b,qwen3-235b-a22b",
                                           "concurrency=1:4096:64", "cache_hit_rate=0,0.5,0.9", "context=2000",
                                           "server_price=3e6", "utilisation=0.5,1", "cost_of_capital=0,0.08"]),
    ("us-b300-neocloud-usage", "aggregated", ["concurrency=1:1991:200", "input_tokens=100:16000:50",
                                              "utilisation=0.3:1:8", "electricity_price=0.05,0.2"]),
)


def bench_parity(args, results: list[dict]) -> None:
    for scenario, mode, axes in PARITY_GRIDS:
        plan = plan_sweep(load_scenario(scenario), axes, mode=mode)
        ref = evaluate_points(plan, 0, plan.points)
        for dtype in ("float64", "float32"):
            outputs, flags = _unitcost_kernel.launch(plan, 0, plan.points, dtype)
            host = outputs.get().astype(np.float64)
            got = {name: host[k] for k, name in enumerate(OUTPUTS)}
            same = (got["concurrency"] == ref["concurrency"]) | (
                np.isnan(got["concurrency"]) & np.isnan(ref["concurrency"]))
            worst, where = 0.0, ""
            nan_mismatch = 0
            for name in OUTPUTS:
                a, b = got[name][same], ref[name][same]
                nan_mismatch += int(np.count_nonzero(np.isnan(a) != np.isnan(b)))
                ok = ~np.isnan(a) & ~np.isnan(b)
                if ok.any():
                    rel = float(np.max(np.abs(a[ok] - b[ok]) / np.maximum(np.abs(b[ok]), 1e-300)))
                    if rel > worst:
                        worst, where = rel, name
            record(results, what=f"parity kernel {dtype} vs numpy", grid=f"{scenario} {mode} {len(plan.layouts)} "
                   f"combinations {'slo search' if plan.search else 'fixed batch'}", points=plan.points,
                   max_rel_diff=worst, worst_output=where, share_other_batch=float(1 - same.mean()),
                   nan_mismatches=nan_mismatch, flags_equal=bool((flags.get() == ref["flags"]).all()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="b300-10k-cluster")
    parser.add_argument("--points", type=int, default=2_000_000, help="NumPy points (fixed-batch grid)")
    parser.add_argument("--slo-points", type=int, default=20_000, help="NumPy points (SLO-search grid)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gpu", action="store_true", help="also the CUDA kernel")
    parser.add_argument("--gpu-points", type=int, default=100_000_000)
    parser.add_argument("--gpu-slo-points", type=int, default=10_000_000)
    parser.add_argument("--parity", action="store_true", help="kernel vs NumPy point by point")
    parser.add_argument("--no-numpy", action="store_true", help="skip the NumPy timing")
    parser.add_argument("--json", type=Path, default=None, help="write the measurements to this file")
    args = parser.parse_args()
    set_json_path(args.json)
    scenario = load_scenario(args.scenario)
    print(f"python {platform.python_version()}, numpy {np.__version__}, scenario {args.scenario}", flush=True)
    results: list[dict] = []
    sections = []
    if args.parity:
        sections.append(("parity", lambda: bench_parity(args, results)))
    if args.gpu:
        sections.append(("gpu", lambda: bench_gpu(scenario, args, results)))
    if not args.no_numpy:
        sections.append(("numpy", lambda: bench_numpy(scenario, args, results)))
    failed = run_sections(sections, results)
    parity = [r for r in results if str(r.get("what", "")).startswith("parity kernel float64")]
    if any(r["max_rel_diff"] > 1e-9 or r["share_other_batch"] > 0 or not r["flags_equal"] for r in parity):
        print("parity: float64 kernel differs from NumPy beyond 1e-9", flush=True)
        failed += 1
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
