"""Monte Carlo on Dask (issue 15): a 2-worker LocalCluster (processes, one thread each) gives the single-process
result to the bit for any seed and block size, after a killed worker and after a stop and resume.

The oracle throughout is the in-process engine (:func:`tokensim.montecarlo.simulate`, NumPy, default chunking), an
independent path through the code: it never splits paths into Dask blocks nor packs summaries, so equal JSON means
the blocks, the packing, the ordered merge, the re-run tasks and the checkpoint lose and add nothing.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tokensim import ParameterError, _cluster, run_montecarlo
from tokensim._cluster import ClusterSpec
from tokensim.cli import cli
from tokensim.config.scenario import load_scenario
from tokensim.montecarlo import simulate, simulate_dask
from tokensim.montecarlo._dask import PackedSummary, block_summary, read_checkpoint
from tokensim.resolve.montecarlo import montecarlo_model
from tokensim.sensitivity import run_sensitivity
from tokensim.sweep import run_sweep

SCENARIO = "b300-10k-cluster"
# Not a multiple of the summaries' 8192-path sum blocks: the last block is partial in every run.
PATHS = 16_500
TIMING = ("elapsed_s", "path_months_per_s")


def canonical(result) -> str:
    """The JSON of ``tokensim mc`` less the timings (the only fields allowed to differ between runs)."""
    return json.dumps({k: v for k, v in result.to_dict().items() if k not in TIMING}, sort_keys=True)


@pytest.fixture(scope="module")
def client():
    """The local cluster ``tokensim mc --workers 2`` starts (2 processes, 1 thread each), without a dashboard."""
    with _cluster.dask_client(ClusterSpec(workers=2), dashboard=False) as session:
        session.client.wait_for_workers(2)
        yield session.client


@pytest.fixture(scope="module")
def model():
    return montecarlo_model(load_scenario(SCENARIO))


_REFERENCE: dict[tuple[int, int], str] = {}


def reference(model, seed: int, paths: int = PATHS) -> str:
    if (seed, paths) not in _REFERENCE:
        _REFERENCE[seed, paths] = canonical(simulate(model, paths=paths, seed=seed, backend="numpy"))
    return _REFERENCE[seed, paths]


# Block sizes: unaligned and smaller than a sum block (6 tasks), one sum block (3 tasks), more than the run (1 task).
# Every seed and every block size, not every pair (each run is a second of the suite): the largest seed, whose path
# counters wrap, with the most blocks and with one.
@pytest.mark.parametrize(("seed", "block_paths"), [(0, 3000), (7, 8192), (2**64 - 1, 3000), (2**64 - 1, 20_000)])
def test_mc_on_two_workers_is_the_single_process_run_bit_for_bit(client, model, seed, block_paths):
    result = simulate_dask(model, paths=PATHS, seed=seed, backend="numpy", cluster=ClusterSpec(client=client),
                           block_paths=block_paths)
    assert canonical(result) == reference(model, seed)
    blocks = -(-PATHS // block_paths)
    assert f"ran {blocks} block" in result.notes[-1]


def test_merge_order_does_not_matter_and_packing_is_lossless(model):
    """Summaries of three blocks merged in the order 2, 0, 1 (as Dask might finish them) equal the one-pass run."""
    parts = [block_summary(model, 5, a, min(a + 6000, PATHS)) for a in range(0, PATHS, 6000)]
    whole = block_summary(model, 5, 0, PATHS).unpack()
    merged = parts[2].unpack()
    for i in (0, 1):
        merged.merge(parts[i].unpack())
    merged.finish()
    whole.finish()
    for name, m in whole.metrics.items():
        got = merged.metrics[name]
        assert np.array_equal(got.histogram, m.histogram)
        assert (got.count, got.finite, got.minimum, got.maximum) == (m.count, m.finite, m.minimum, m.maximum)
        assert (got.sum_d.value(), got.sum_d2.value()) == (m.sum_d.value(), m.sum_d2.value())
    # packing (non-empty bins only) and unpacking give back every bin, and leave the packed summary as it was
    before = {n: m.histogram.copy() for n, m in whole.metrics.items()}
    packed = PackedSummary.pack(whole)
    assert all(np.array_equal(whole.metrics[n].histogram, h) for n, h in before.items())
    restored = pickle.loads(pickle.dumps(packed)).unpack()
    assert all(np.array_equal(restored.metrics[n].histogram, h) for n, h in before.items())
    assert all(h.size == 16386 for h in before.values())  # 16384 bins + underflow + overflow


def test_killed_worker_blocks_are_rerun_and_the_result_is_unchanged(client, model):
    seed, paths, block = 0, PATHS, 1024  # 17 blocks: work is queued on both workers when one dies
    killed: list[int] = []
    lost: list[str] = []  # the tasks the killed worker was running or holding

    def kill_one(progress):
        if killed or progress.blocks_done == 0:  # after the first merged block: the others are queued or running
            return
        processing = client.processing()
        busy = [addr for addr, keys in processing.items() if keys] or list(processing)
        pids = client.run(os.getpid, workers=[busy[0]])
        pid = pids[busy[0]]
        lost.extend(processing[busy[0]])
        os.kill(pid, signal.SIGKILL)  # a worker process of the fixture's cluster, which this test started
        killed.append(pid)

    result = simulate_dask(model, paths=paths, seed=seed, backend="numpy", cluster=ClusterSpec(client=client),
                           block_paths=block, window=8, report=kill_one)
    assert killed
    assert canonical(result) == reference(model, seed, paths)
    client.wait_for_workers(2, timeout=60)  # the nanny restarts the killed process
    assert killed[0] not in client.run(os.getpid).values()

    def story(dask_scheduler, keys=tuple(lost)):
        return [sum(1 for t in dask_scheduler.story(k) if t[1:3] == ("queued", "processing") or
                    t[1:3] == ("waiting", "processing")) for k in keys]

    # a block the killed worker was running went to a worker twice (all of them but one finishing in the
    # instant between reading the scheduler's state and the kill)
    assert lost and any(n >= 2 for n in client.run_on_scheduler(story))


def test_stop_and_resume_from_the_checkpoint_gives_the_same_result(client, model, tmp_path):
    seed, block = 3, 2048
    checkpoint = tmp_path / "mc.ckpt"

    class Stop(Exception):
        pass

    def stop_after_three(p):
        if p.blocks_done == 3:
            raise Stop

    spec = ClusterSpec(client=client)
    with pytest.raises(Stop):
        simulate_dask(model, paths=PATHS, seed=seed, backend="numpy", cluster=spec, block_paths=block,
                      checkpoint=checkpoint, checkpoint_every_s=3600, report=stop_after_three)
    paths_done, partial = read_checkpoint(checkpoint)
    assert paths_done == 3 * block  # blocks merge in order: the first three, [0, 6144)
    assert partial.paths == 3 * block

    seen = []
    result = simulate_dask(model, paths=PATHS, seed=seed, backend="numpy", cluster=spec, block_paths=5000,
                           checkpoint=checkpoint, report=seen.append)
    assert canonical(result) == reference(model, seed)
    assert seen[0].resumed_paths == 3 * block and seen[0].blocks_done == 0  # the report before any block
    assert seen[-1].blocks == 3  # (16,500 - 6,144) / 5,000 rounded up: only the rest ran
    assert not checkpoint.exists()
    assert any("resumed from" in n for n in result.notes)


def test_a_checkpoint_of_another_run_is_refused(client, model, tmp_path):
    checkpoint = tmp_path / "mc.ckpt"

    class Stop(Exception):
        pass

    def stop(p):
        if p.blocks_done:
            raise Stop

    spec = ClusterSpec(client=client)
    with pytest.raises(Stop):
        simulate_dask(model, paths=PATHS, seed=1, backend="numpy", cluster=spec, block_paths=4096,
                      checkpoint=checkpoint, report=stop)
    with pytest.raises(ParameterError, match="written for another run"):
        simulate_dask(model, paths=PATHS, seed=2, backend="numpy", cluster=spec, checkpoint=checkpoint)
    checkpoint.write_bytes(b"not a pickle")
    with pytest.raises(ParameterError, match="checkpoint"):
        simulate_dask(model, paths=PATHS, seed=1, backend="numpy", cluster=spec, checkpoint=checkpoint)


def test_keep_paths_writes_one_parquet_file_per_block(client, model, tmp_path):
    folder = tmp_path / "paths.parquet"
    simulate_dask(model, paths=5000, seed=4, backend="numpy", cluster=ClusterSpec(client=client), block_paths=2000,
                  keep_paths=folder)
    files = sorted(p.name for p in folder.iterdir())
    assert files == [f"part-{s:020d}.parquet" for s in (0, 2000, 4000)]
    single = tmp_path / "single.parquet"
    simulate(model, paths=5000, seed=4, backend="numpy", keep_paths=single)
    got = pq.read_table(folder).to_pandas().sort_values("path").reset_index(drop=True)
    assert got.equals(pq.read_table(single).to_pandas())
    # a second run into the same folder replaces the dataset: its blocks only, no rows of the first run left over
    simulate_dask(model, paths=5000, seed=4, backend="numpy", cluster=ClusterSpec(client=client), block_paths=3000,
                  keep_paths=folder)
    assert sorted(p.name for p in folder.iterdir()) == [f"part-{s:020d}.parquet" for s in (0, 3000)]
    again = pq.read_table(folder).to_pandas().sort_values("path").reset_index(drop=True)
    assert again.equals(pq.read_table(single).to_pandas())


def test_cli_on_an_existing_scheduler_prints_the_single_process_json(client):
    address = client.scheduler.address
    on_dask = CliRunner().invoke(cli, ["mc", SCENARIO, "--paths", "9000", "--seed", "2", "--backend", "numpy",
                                       "--scheduler", address, "--chunk-paths", "4000", "--format", "json"])
    assert on_dask.exit_code == 0, on_dask.output
    alone = CliRunner().invoke(cli, ["mc", SCENARIO, "--paths", "9000", "--seed", "2", "--backend", "numpy",
                                     "--format", "json"])
    strip = [{k: v for k, v in json.loads(r.stdout).items() if k not in TIMING} for r in (on_dask, alone)]
    assert strip[0] == strip[1]
    assert "tokensim: dask: 2 workers, 3 blocks" in on_dask.stderr
    assert "blocks 3/3, paths 9,000/9,000" in on_dask.stderr


@pytest.mark.parametrize("args, option", [
    (["--workers", "0"], "--workers"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"], "--workers"),
    (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler"),  # nothing listens on port 1
    (["--checkpoint", "x.ckpt"], "--checkpoint"),
])
def test_cli_refuses_bad_cluster_options_in_one_line(args, option, monkeypatch):
    monkeypatch.setattr(_cluster, "CONNECT_TIMEOUT_S", 1)
    res = CliRunner().invoke(cli, ["mc", SCENARIO, "--paths", "100", *args])
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and option in lines[0], res.stderr


def test_gpus_per_node_without_dask_cuda_is_refused_with_the_pip_hint():
    try:
        import dask_cuda  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("dask-cuda is installed here: the refusal cannot be seen")
    res = CliRunner().invoke(cli, ["mc", SCENARIO, "--paths", "100", "--gpus-per-node", "2"])
    assert res.exit_code == 2, res.output
    assert "--gpus-per-node" in res.stderr and 'pip install "tokensim[cuda12]"' in res.stderr
    with pytest.raises(ParameterError, match="dask-cuda"):
        run_montecarlo(load_scenario(SCENARIO), paths=100, gpus_per_node=1)


def test_import_tokensim_and_the_cli_do_not_load_dask():
    code = ("import sys, tokensim, tokensim.cli, tokensim.api, tokensim.montecarlo; "
            "print([m for m in ('dask', 'distributed', 'dask_cuda') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- sweeps ------------------------------------------------------------------------------------------------------------
# A searched batch under the scenario's SLO over price x utilisation x precision (30 points), and a finance grid over
# rent x spot utilisation x cost of capital (fixed batch; 27 points): the oracle is the in-process sweep.
SWEEP_GRIDS = {
    "searched": ["server_price=3e6:7e6:5", "utilisation=0.5:0.9:3", "precision=fp8,nvfp4"],
    "finance": ["rent=1.5:3.5:3", "spot_utilisation=0.4:0.8:3", "cost_of_capital=0.06:0.1:3", "concurrency=64"],
}


@pytest.mark.parametrize("grid", sorted(SWEEP_GRIDS))
@pytest.mark.parametrize("chunk_points", [1, 4, 7])
def test_sweep_on_two_workers_writes_the_single_process_csv_and_parquet(client, grid, chunk_points):
    scenario = load_scenario(SCENARIO)
    alone = run_sweep(scenario, SWEEP_GRIDS[grid], backend="numpy")
    on_dask = run_sweep(scenario, SWEEP_GRIDS[grid], backend="numpy", client=client, chunk_points=chunk_points)
    assert len(on_dask.frame) == alone.meta["points"]
    assert on_dask.frame.to_csv(index=False) == alone.frame.to_csv(index=False)
    tables = [pa.Table.from_pandas(r.frame, preserve_index=False) for r in (alone, on_dask)]
    assert tables[0].equals(tables[1])


def test_sweep_cli_on_a_scheduler_streams_the_same_csv(client):
    args = ["sweep", SCENARIO, *[f"--axis={a}" for a in SWEEP_GRIDS["searched"]], "--backend", "numpy",
            "--format", "csv"]
    alone = CliRunner().invoke(cli, args)
    on_dask = CliRunner().invoke(cli, [*args, "--scheduler", client.scheduler.address, "--chunk-points", "8"])
    assert alone.exit_code == 0 and on_dask.exit_code == 0, on_dask.output
    assert on_dask.stdout == alone.stdout
    assert "tokensim: dask: 2 workers" in on_dask.stderr


# -- sensitivity -------------------------------------------------------------------------------------------------------
_SENSITIVITY: dict[str, dict] = {}  # the in-process results, once per method


@pytest.mark.parametrize("method, chunk_rows", [("tornado", 3), ("sobol", 7), ("sobol", None)])
def test_sensitivity_on_two_workers_is_the_single_process_result(client, method, chunk_rows):
    scenario = load_scenario(SCENARIO)
    if method not in _SENSITIVITY:
        _SENSITIVITY[method] = run_sensitivity(scenario, method=method, samples=16, seed=3).to_dict()
    alone = dict(_SENSITIVITY[method])
    on_dask = run_sensitivity(scenario, method=method, samples=16, seed=3, client=client,
                              chunk_rows=chunk_rows).to_dict()
    for d in (alone, on_dask):
        d.pop("elapsed_s")
    assert json.dumps(on_dask, sort_keys=True) == json.dumps(alone, sort_keys=True)


def test_sensitivity_cli_on_a_scheduler_prints_the_single_process_json(client):
    args = ["sensitivity", SCENARIO, "--method", "tornado", "--format", "json"]
    alone = CliRunner().invoke(cli, args)
    on_dask = CliRunner().invoke(cli, [*args, "--scheduler", client.scheduler.address])
    assert alone.exit_code == 0 and on_dask.exit_code == 0, on_dask.output
    strip = [{k: v for k, v in json.loads(r.stdout).items() if k != "elapsed_s"} for r in (alone, on_dask)]
    assert strip[0] == strip[1]
