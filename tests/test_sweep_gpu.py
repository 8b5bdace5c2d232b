"""Device checks of the sweep kernel: kernels/unitcost.cu against the NumPy reference (tokensim.sweep.evaluate_points).

All tests here need CuPy and a CUDA device (`gpu` marker; TOKENSIM_REQUIRE_GPU=1 turns skips into failures). CuPy is
imported inside the tests so the module collects anywhere. Tolerances: float64 1e-9 relative point by point, the same
batches and flags (the float64 build fuses no multiply-add, so only the device's transcendentals differ from NumPy's,
by an ulp); float32 as tokensim.sweep.FLOAT32_TOLERANCE (relative error on points with the same batch, and the share
of points whose SLO search picked another batch).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from tokensim.cli import cli
from tokensim.config.scenario import load_scenario
from tokensim.sweep import _kernel as _unitcost_kernel
from tokensim.sweep._run import FLOAT32_TOLERANCE, OUTPUTS, evaluate_points, plan_sweep, run_sweep

pytestmark = pytest.mark.gpu

GRIDS = {
    "slo search, layouts": ("b300-10k-cluster", "aggregated", [
        "hardware=B300,H200,H100", "precision=fp8,nvfp4", "model=deepseek-v3,llama-3.3-70b,gpt-oss-120b,mixtral-8x7b",
        "input_tokens=200:4000:5", "slo=10:100:5", "server_price=4e6"]),
    "fixed batch, disaggregated": ("b300-10k-cluster", "disaggregated", [
        "hardware=B300,H100", "model=llama-3.1-8b,qwen3-235b-a22b", "concurrency=1:4096:64",
        "cache_hit_rate=0,0.5,1", "context=2000", "server_price=3e6", "utilisation=0.5,1", "cost_of_capital=0,0.08"]),
    "fixed batch, numeric grid": ("us-b300-neocloud-usage", "aggregated", [
        "concurrency=1:1991:200", "input_tokens=100:16000:100", "utilisation=0.3:1:8", "electricity_price=0.05,0.2"]),
    "scenario slo, other hardware": ("us-b300-neocloud-usage", "disaggregated", [
        "hardware=H20,GB300,B200", "input_tokens=1:20000:50", "server_price=1e5,4e5"]),
}


def device(plan, first: int, n: int, dtype: str) -> dict[str, np.ndarray]:
    outputs, flags = _unitcost_kernel.launch(plan, first, n, dtype)
    host = outputs.get().astype(np.float64)
    return {**{name: host[k] for k, name in enumerate(OUTPUTS)}, "flags": flags.get()}


def compare(got, ref, rtol, max_share_other_batch=0.0):
    same = (got["concurrency"] == ref["concurrency"]) | (np.isnan(got["concurrency"]) & np.isnan(ref["concurrency"]))
    assert 1 - same.mean() <= max_share_other_batch
    for name in OUTPUTS:
        np.testing.assert_array_equal(np.isnan(got[name][same]), np.isnan(ref[name][same]), err_msg=name)
        np.testing.assert_allclose(got[name][same], ref[name][same], rtol=rtol, atol=0, err_msg=name)
    return same


@pytest.mark.parametrize("grid", sorted(GRIDS))
def test_kernel_float64_equals_numpy_point_by_point(grid):
    """In float64 every point's outputs equal NumPy's to 1e-9, with the same batch, layout and feasibility."""
    scenario, mode, axes = GRIDS[grid]
    plan = plan_sweep(load_scenario(scenario), axes, mode=mode)
    first = 5
    ref = {k: v for k, v in evaluate_points(plan, first, plan.points).items()}
    got = device(plan, first, plan.points - first, "float64")
    assert compare(got, ref, 1e-9).all()
    np.testing.assert_array_equal(got["flags"], ref["flags"])


@pytest.mark.parametrize("grid", sorted(GRIDS))
def test_kernel_float32_within_the_documented_tolerance(grid):
    """The float32 kernel (the GPU default) agrees with NumPy within tokensim.sweep.FLOAT32_TOLERANCE."""
    scenario, mode, axes = GRIDS[grid]
    plan = plan_sweep(load_scenario(scenario), axes, mode=mode)
    ref = evaluate_points(plan, 0, plan.points)
    compare(device(plan, 0, plan.points, "float32"), ref, FLOAT32_TOLERANCE["rel"],
            FLOAT32_TOLERANCE["max_share_other_batch"])


def test_run_sweep_on_the_gpu_equals_numpy_with_finance_and_chunks():
    """run_sweep on CuPy (float64, small chunks) gives NumPy's DataFrame, finance columns joined alike."""
    s = load_scenario("b300-10k-cluster")
    axes = ["model=deepseek-v3,llama-3.3-70b", "rent=12:24:4", "utilisation=0.6,1", "spot_utilisation=0.5,0.9",
            "input_tokens=500,4000"]
    gpu = run_sweep(s, axes, backend="cupy", dtype="float64", chunk_points=5)
    cpu = run_sweep(s, axes, backend="numpy")
    assert gpu.meta["backend"] == "cupy" and any("NumPy" in n for n in gpu.meta["notes"])
    pd.testing.assert_frame_equal(gpu.frame, cpu.frame, check_exact=False, rtol=1e-9, atol=0)


def test_kernel_results_do_not_depend_on_the_launch_split():
    """One launch over a grid equals the same grid in odd-sized launches (grid-stride loop, flat-index offsets)."""
    scenario, mode, axes = GRIDS["fixed batch, numeric grid"]
    plan = plan_sweep(load_scenario(scenario), axes, mode=mode)
    whole = device(plan, 0, plan.points, "float32")
    parts = [device(plan, a, min(plan.points, a + 99_991) - a, "float32") for a in range(0, plan.points, 99_991)]
    for name in (*OUTPUTS, "flags"):
        np.testing.assert_array_equal(np.concatenate([p[name] for p in parts]), whole[name])


def test_cli_sweep_runs_on_the_gpu():
    """`tokensim sweep --backend cupy --format json` runs the kernel and reports it."""
    res = CliRunner().invoke(cli, ["sweep", "--axis", "concurrency=1,8,64", "--axis", "utilisation=0.5,1",
                                   "--backend", "cupy", "--format", "json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["backend"] == "cupy" and d["dtype"] == "float32" and len(d["rows"]) == 6
