"""Benchmark of the Monte Carlo on Dask (issue 15): throughput against worker count, the overhead against the
in-process run at equal cores, the per-block costs, a scaling model, and peak memory per worker.

Sections (founding scenario ``b300-10k-cluster`` unless ``--scenario``; NumPy backend):

- ``inprocess``: :func:`tokensim.montecarlo.simulate` at ``--paths`` (default 10^6) on 1 core (a child process
  pinned to one CPU, so the engine's thread pool has one thread) and on 2 cores (its default pool of 2 threads).
- ``dask``: :func:`tokensim.montecarlo.simulate_dask` at ``--paths`` on a fresh ``LocalCluster`` of 1 and of 2
  worker processes (one thread each; cluster start not timed). Path-months/s, the speed-up of 2 workers over 1, and
  the dispatch overhead against the in-process run at equal cores, (t_dask - t_inprocess) / t_inprocess. Each
  worker's peak RSS (``ru_maxrss``) after the run.
- ``blocks``: the per-block overhead of Dask on 1 worker: the time per block of 256 blocks of 64 paths, less the
  time of the same 64-path block (:func:`block_summary`: the month loop's fixed cost per call, summary set-up and
  packing) in this process, which leaves scheduling, transfer, unpacking and merging; bytes of one
  packed block summary on the wire (pickled) and of the unpacked summary; the client's time to unpack and merge one
  summary; the scheduler's round trip per no-op task (1,000 tasks on 2 workers).
- ``memory``: peak RSS per worker (2 workers, a fresh cluster per size) after ``--memory-paths`` (default 10^6 and
  10^7): flat in the path count, since a worker holds one sub-block and one summary at a time.
- The scaling model (printed with ``blocks``): efficiency E(W) = t_b / (t_b + o_w) x min(1, t_b / (W x c)), where
  t_b is a default block's compute time on one worker, o_w the per-block overhead, and c the client's serial cost
  per block (unpack + merge, the scheduler's per-task cost, and the summary's bytes over an assumed 1 GB/s client
  link, an assumption): W workers deliver W / t_b blocks a second, which the client keeps up with while
  W x c <= t_b.

Prints one line per measurement and, with ``--json FILE``, writes them as JSON. Figures go to BENCHMARKS.md with the
machine, date and commit; tests never assert on them.

    python benchmarks/bench_dask.py [--paths 1000000] [--memory-paths 1000000 10000000] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import pickle
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a plain checkout, without installing

from _benchutil import record, run_sections, set_json_path  # noqa: E402  (benchmarks/)

from tokensim._cluster import ClusterSpec, dask_client  # noqa: E402
from tokensim.config.scenario import load_scenario  # noqa: E402
from tokensim.montecarlo import DEFAULT_BLOCK_PATHS, block_summary, simulate_dask  # noqa: E402
from tokensim.resolve.montecarlo import montecarlo_model  # noqa: E402

_CLIENT_LINK_BYTES_PER_S = 1e9  # assumption: a 10 GbE client link at ~80 % use


def _peak_rss_mb() -> float:
    """This process's peak RSS in MiB: VmHWM of /proc/self/status (Linux), the high-water mark of its own address
    space (``ru_maxrss`` would carry the parent's peak across the fork and exec that start a worker)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _cluster(workers: int):
    """The local cluster of ``tokensim mc --workers N`` (tokensim._cluster.dask_client), without a dashboard."""
    context = dask_client(ClusterSpec(workers=workers), dashboard=False)
    session = context.__enter__()
    session.client.wait_for_workers(workers)
    return context, session.client


def _inprocess_child(scenario: str, paths: int, cores: int) -> float:
    code = (f"import os, time; os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:{cores}])); "
            "from tokensim.config.scenario import load_scenario; "
            "from tokensim.resolve.montecarlo import montecarlo_model; from tokensim.montecarlo import simulate; "
            f"m = montecarlo_model(load_scenario({scenario!r})); t = time.perf_counter(); "
            f"simulate(m, paths={paths}, seed=0, backend='numpy'); print(time.perf_counter() - t)")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="b300-10k-cluster")
    parser.add_argument("--paths", type=int, default=1_000_000)
    parser.add_argument("--memory-paths", type=int, nargs="*", default=[1_000_000, 10_000_000])
    parser.add_argument("--sections", nargs="*", default=["inprocess", "dask", "blocks", "memory"])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    set_json_path(args.json)
    results: list[dict] = []
    model = montecarlo_model(load_scenario(args.scenario))
    months = model.inputs.months
    timing: dict[str, float] = {}
    record(results, what="setup", scenario=args.scenario, months=months, cpus=len(os.sched_getaffinity(0)),
           load_average_1min=os.getloadavg()[0])

    def inprocess():
        for cores in (1, 2):
            t = _inprocess_child(args.scenario, args.paths, cores)
            timing[f"inprocess_{cores}"] = t
            record(results, what="in-process", cores=cores, paths=args.paths, seconds=t,
                   path_months_per_s=args.paths * months / t)

    def dask_runs():
        for workers in (1, 2):
            cluster, client = _cluster(workers)
            try:
                t0 = time.perf_counter()
                simulate_dask(model, paths=args.paths, seed=0, backend="numpy", cluster=ClusterSpec(client=client))
                t = time.perf_counter() - t0
                rss = client.run(_peak_rss_mb)
            finally:
                cluster.__exit__(None, None, None)
            timing[f"dask_{workers}"] = t
            row = {"what": "dask", "workers": workers, "paths": args.paths, "seconds": t,
                   "path_months_per_s": args.paths * months / t,
                   "peak_rss_mb_per_worker": max(rss.values())}
            if f"inprocess_{workers}" in timing:
                row["overhead_vs_inprocess"] = t / timing[f"inprocess_{workers}"] - 1
            if workers == 2:
                row["speedup_2_over_1_worker"] = timing["dask_1"] / t
            record(results, **row)

    def blocks():
        cluster, client = _cluster(1)
        spec = ClusterSpec(client=client)
        paths = 2**17
        try:
            simulate_dask(model, paths=8192, seed=0, backend="numpy", cluster=spec)  # warm the worker's imports
            t0 = time.perf_counter()
            simulate_dask(model, paths=paths, seed=0, backend="numpy", cluster=spec, block_paths=paths)
            t_one = time.perf_counter() - t0
            tiny, blocks_n = 64, 256  # blocks whose compute is ~2 ms: their time is mostly the per-block cost
            t0 = time.perf_counter()
            simulate_dask(model, paths=tiny * blocks_n, seed=0, backend="numpy", cluster=spec, block_paths=tiny,
                          window=8)
            t_tiny = time.perf_counter() - t0
        finally:
            cluster.__exit__(None, None, None)
        block_summary(model, 0, 0, tiny)
        t0 = time.perf_counter()
        for _ in range(20):
            block_summary(model, 0, 0, tiny)
        tiny_local_s = (time.perf_counter() - t0) / 20  # the engine's own cost of a 64-path block, in this process
        per_block_s = t_tiny / blocks_n - tiny_local_s
        block = DEFAULT_BLOCK_PATHS["numpy"]
        t0 = time.perf_counter()
        packed = block_summary(model, 0, 0, block)
        t_block = time.perf_counter() - t0
        wire = len(pickle.dumps(packed, protocol=5))
        t0 = time.perf_counter()
        merged = block_summary(model, 0, 0, 8192).unpack()
        reps = 50
        for _ in range(reps):
            merged.merge(pickle.loads(pickle.dumps(packed, protocol=5)).unpack())
        merge_s = (time.perf_counter() - t0) / reps
        unpacked = len(pickle.dumps(packed.unpack(), protocol=5))
        cluster, client = _cluster(2)
        try:
            client.gather(client.map(abs, range(100)))
            t0 = time.perf_counter()
            client.gather(client.map(abs, range(1000, 2000)))
            task_s = (time.perf_counter() - t0) / 1000
        finally:
            cluster.__exit__(None, None, None)
        record(results, what="blocks", paths=paths, seconds_1_block=t_one, seconds_256_blocks_of_64=t_tiny,
               tiny_block_in_process_s=tiny_local_s, per_block_overhead_s=per_block_s, block_paths=block,
               block_compute_s=t_block,
               bytes_per_packed_summary=wire, bytes_per_unpacked_summary=unpacked,
               client_unpack_merge_s_per_block=merge_s, scheduler_s_per_noop_task=task_s)
        c = merge_s + task_s + wire / _CLIENT_LINK_BYTES_PER_S
        for w in (64, 512):
            efficiency = t_block / (t_block + max(per_block_s, 0.0)) * min(1.0, t_block / (w * c))
            record(results, what="scaling model", workers=w, block_paths=block, block_compute_s=t_block,
                   client_serial_s_per_block=c, expected_efficiency=efficiency)

    def memory():
        for paths in args.memory_paths:
            cluster, client = _cluster(2)
            try:
                before = client.run(_peak_rss_mb)
                t0 = time.perf_counter()
                simulate_dask(model, paths=paths, seed=0, backend="numpy", cluster=ClusterSpec(client=client))
                t = time.perf_counter() - t0
                after = client.run(_peak_rss_mb)
            finally:
                cluster.__exit__(None, None, None)
            record(results, what="memory", workers=2, paths=paths, seconds=t,
                   path_months_per_s=paths * months / t, peak_rss_mb_per_worker_before=max(before.values()),
                   peak_rss_mb_per_worker=max(after.values()), client_peak_rss_mb=_peak_rss_mb())

    sections = {"inprocess": inprocess, "dask": dask_runs, "blocks": blocks, "memory": memory}
    failed = run_sections([(name, sections[name]) for name in args.sections], results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
