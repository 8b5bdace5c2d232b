"""Device checks of the Monte Carlo: kernels/montecarlo.cu against the NumPy reference on the same seed.

All tests here need CuPy and a CUDA device (`gpu` marker; TOKENSIM_REQUIRE_GPU=1 turns skips into failures).
Imports of CuPy stay inside the tests so the module collects anywhere. Sizes are small enough for a few seconds
each, compile included.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tokensim import run_montecarlo
from tokensim.config.scenario import load_scenario
from tokensim.montecarlo import FLAGS, FLOAT32_TOLERANCE, PATH_METRICS, evaluate_paths
from tokensim.montecarlo import _kernel as _mckernel
from tokensim.resolve.montecarlo import montecarlo_model as prepare

pytestmark = pytest.mark.gpu

SCENARIOS = ("b300-10k-cluster", "us-b300-neocloud-usage")


def host(out: dict) -> dict:
    """Per-path kernel outputs on the host, float64."""
    return {
        "metrics": {k: v.get().astype(np.float64) for k, v in out["metrics"].items()},
        "reasons": {k: v.get().astype(np.int64) for k, v in out["reasons"].items()},
        "flags": {k: v.get() for k, v in out["flags"].items()},
        "tenant_default_month": out["tenant_default_month"].get().astype(np.int64),
    }


@pytest.mark.parametrize("name", SCENARIOS)
def test_kernel_float64_equals_numpy_path_by_path(name):
    """In float64 every path's metrics equal NumPy's to 1e-9, with the same reason codes, flags and default month."""
    model = prepare(load_scenario(name))
    ref = evaluate_paths(model, 2024, 10_000, 4000)
    got = host(_mckernel.launch(model, 2024, 10_000, 4000, "float64"))
    capex = model.inputs.capex_total
    for metric in PATH_METRICS:
        expected, value = ref["metrics"][metric], got["metrics"][metric]
        np.testing.assert_array_equal(np.isfinite(value), np.isfinite(expected))
        finite = np.isfinite(expected)
        atol = 1e-12 * (capex if metric == "npv" else 1.0)
        np.testing.assert_allclose(value[finite], expected[finite], rtol=1e-9, atol=atol)
    for key in ("project_irr", "equity_irr"):
        np.testing.assert_array_equal(got["reasons"][key], ref["reasons"][key])
    for flag in FLAGS:
        np.testing.assert_array_equal(got["flags"][flag], ref["flags"][flag])
    np.testing.assert_array_equal(got["tenant_default_month"], ref["tenant_default_month"])


@pytest.mark.parametrize("name", SCENARIOS)
def test_summaries_float64_agree_to_1e9(name):
    """CuPy (float64 kernel) and NumPy summaries of the same seed agree to 1e-9 relative on means."""
    s = load_scenario(name)
    gpu = run_montecarlo(s, paths=50_000, seed=5, backend="cupy", dtype="float64")
    cpu = run_montecarlo(s, paths=50_000, seed=5, backend="numpy")
    assert gpu.backend == "cupy" and gpu.dtype == "float64"
    for metric in PATH_METRICS:
        g, c = gpu.metrics[metric], cpu.metrics[metric]
        assert g["count"] == c["count"]
        if c["count"]:
            assert g["mean"] == pytest.approx(c["mean"], rel=1e-9, abs=1e-12)
            assert g["std"] == pytest.approx(c["std"], rel=1e-6, abs=1e-12)
    for flag in FLAGS:
        assert getattr(gpu, f"prob_{flag}") == pytest.approx(getattr(cpu, f"prob_{flag}"), abs=2 / 50_000)


@pytest.mark.parametrize("name", SCENARIOS)
def test_summaries_float32_within_the_documented_tolerance(name):
    """The float32 kernel (the GPU default) agrees with NumPy within tokensim.montecarlo.FLOAT32_TOLERANCE."""
    s = load_scenario(name)
    gpu = run_montecarlo(s, paths=50_000, seed=6, backend="cupy")
    cpu = run_montecarlo(s, paths=50_000, seed=6, backend="numpy")
    assert gpu.dtype == "float32"
    tol = FLOAT32_TOLERANCE
    capex = prepare(s).inputs.capex_total
    limits = {"project_irr": dict(abs=tol["irr_abs"]), "equity_irr": dict(abs=tol["irr_abs"]),
              "npv": dict(abs=tol["npv_abs_per_capex"] * capex),
              "payback_years_equity": dict(rel=tol["payback_rel"]), "min_dscr": dict(rel=tol["dscr_rel"])}
    for metric in PATH_METRICS:
        g, c = gpu.metrics[metric], cpu.metrics[metric]
        assert abs(g["count"] - c["count"]) <= tol["probability_abs"] * 50_000
        if c["count"]:
            assert g["mean"] == pytest.approx(c["mean"], **limits[metric])
    for flag in FLAGS:
        assert getattr(gpu, f"prob_{flag}") == pytest.approx(getattr(cpu, f"prob_{flag}"),
                                                             abs=tol["probability_abs"])


def test_results_do_not_depend_on_chunks_or_launch_geometry():
    """Per-path kernel outputs are identical for any chunking, and shared-memory and scratch layouts agree."""
    import cupy

    model = prepare(load_scenario("us-b300-neocloud-usage"))
    whole = host(_mckernel.launch(model, 77, 0, 6000, "float32"))
    parts = [host(_mckernel.launch(model, 77, a, b - a, "float32")) for a, b in ((0, 1000), (1000, 6000))]
    for metric in PATH_METRICS:
        joined = np.concatenate([p["metrics"][metric] for p in parts])
        np.testing.assert_array_equal(joined, whole["metrics"][metric])
    images = _mckernel.constant_images(model, "float32", 77)
    scratch = host(_mckernel.launch(model, 77, 0, 6000, "float32", images,
                                    geometry=_mckernel.Geometry(128, 0, True, 8)))
    for metric in PATH_METRICS:
        np.testing.assert_array_equal(scratch["metrics"][metric], whole["metrics"][metric])
    cupy.cuda.Device().synchronize()


def test_summary_is_chunk_independent_on_the_gpu():
    """GPU summaries for two chunk sizes that are multiples of the summary block are identical."""
    s = load_scenario("b300-10k-cluster")
    a = run_montecarlo(s, paths=100_000, seed=1, backend="cupy", chunk_paths=16_384).to_dict()
    b = run_montecarlo(s, paths=100_000, seed=1, backend="cupy", chunk_paths=65_536).to_dict()
    for metric in PATH_METRICS:
        assert json.dumps(a[metric]) == json.dumps(b[metric])


def test_unfused_cupy_arrays_equal_numpy():
    """The NumPy twin run on CuPy arrays (the benchmark's unfused baseline) gives NumPy's metrics."""
    import cupy

    model = prepare(load_scenario("us-b300-neocloud-usage"))
    ref = evaluate_paths(model, 3, 0, 3000)
    got = evaluate_paths(model, 3, 0, 3000, xp=cupy)
    for metric in PATH_METRICS:
        np.testing.assert_allclose(cupy.asnumpy(got["metrics"][metric]), ref["metrics"][metric], rtol=1e-9,
                                   atol=1e-9 * model.inputs.capex_total if metric == "npv" else 1e-12)


def test_cli_runs_on_the_gpu(tmp_path):
    """`tokensim mc --backend cupy` runs the kernel (float32 by default) and can keep paths."""
    from click.testing import CliRunner

    from tokensim.cli import cli

    target = tmp_path / "paths.parquet"
    res = CliRunner().invoke(cli, ["mc", "b300-10k-cluster", "--paths", "100000", "--backend", "cupy",
                                   "--keep-paths", str(target), "--format", "json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["backend"] == "cupy" and d["dtype"] == "float32" and d["device"]
    assert not math.isnan(d["npv"]["mean"])
    import pandas as pd

    assert len(pd.read_parquet(target)) == 100_000
