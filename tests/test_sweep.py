"""Tests for tokensim.sweep._run (NumPy path), its kernel's mathematics compiled for the host, and `tokensim sweep`."""

from __future__ import annotations

import copy
import ctypes
import dataclasses
import json
import math
import sys
import types

import numpy as np
import pandas as pd
import pytest
import yaml
from _hostcc import build_host_kernels, layout_probe, probed_layout, write_host_constants
from click.testing import CliRunner

from tokensim import UserError
from tokensim.api import run_finance
from tokensim.cli import cli
from tokensim.config.reader import config_dir
from tokensim.config.scenario import load_scenario
from tokensim.cost import cost_per_gpu_hour, cost_per_million_tokens
from tokensim.perf import _model as perf
from tokensim.perf._core import StepModel
from tokensim.resolve.cost import cost_inputs
from tokensim.resolve.perf import slo as serving_slo
from tokensim.resolve.perf import workload as serving_workload
from tokensim.sweep import _kernel as _unitcost_kernel
from tokensim.sweep._run import (
    FLOAT32_TOLERANCE,
    OUTPUTS,
    evaluate_points,
    indices,
    parse_axis,
    plan_sweep,
    prepare_sweep,
    run_sweep,
)

FOUNDING = "b300-10k-cluster"


def founding():
    return load_scenario(FOUNDING)


def variant(tmp_path, mutate, name=FOUNDING):
    doc = copy.deepcopy(yaml.safe_load((config_dir() / "scenarios" / f"{name}.yaml").read_text()))
    mutate(doc)
    path = tmp_path / f"variant_{abs(hash(json.dumps(doc, sort_keys=True, default=str)))}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_scenario(path)


def spot(doc, rent=20.0, utilisation=0.8):
    """The founding cluster selling every GPU-hour at market: revenue = GPUs x hours x rent x utilisation."""
    doc["contract"] = {"type": "spot", "market_rent_per_gpu_hour": rent, "spot_utilisation": utilisation}
    doc.pop("uncertainty", None)
    doc["assumptions"] = [a for a in doc["assumptions"] if not a["field"].startswith("contract.")]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


# -- hand-checkable cases ----------------------------------------------------------------------------------------------
def _searched(s, hardware=None, model=None, precision=None):
    """The layout search's best aggregated layout at the scenario's workload and SLO (what run prices) for a
    combination of the sweep: its LayoutChoice."""
    sv = s.serving
    return perf.search_layout(hardware or sv.hardware, model or sv.model, precision or sv.precision,
                              serving_workload(sv), mode="aggregated", slo=serving_slo(sv))


def _sizes(dep):
    return {"gpus": dep.gpus, "tp": dep.tp, "ep": dep.ep}


def test_one_point_sweep_is_predict_and_cost_composed_by_hand():
    """With no axis the one point is perf.predict at the scenario's SLO, in the layout the layout search finds best
    (perf.search_layout's operating point), priced by cost_per_gpu_hour and cost_per_million_tokens, to rounding."""
    s = founding()
    sv = s.serving
    row = run_sweep(s, [], backend="numpy").frame.iloc[0]
    choice = _searched(s)
    point = perf.predict(sv.hardware, sv.model, sv.precision,
                         serving_workload(sv), slo=serving_slo(sv), **_sizes(choice.instance.deployment))
    assert point.output_tokens_per_s_per_gpu == pytest.approx(choice.row["output_tokens_per_s_per_gpu"], rel=1e-12)
    per_gpu_hour = cost_per_gpu_hour(cost_inputs(s), s.utilisation).total
    tokens = cost_per_million_tokens(per_gpu_hour, point.gpu_s_per_input_token, point.gpu_s_per_output_token,
                                     sv.cached_input_cost_fraction, input_tokens=sv.input_tokens,
                                     output_tokens=sv.output_tokens, cache_hit_rate=sv.cache_hit_rate)
    assert row["feasible"] and row["concurrency"] == point.concurrency
    assert (row["tp"], row["ep"], row["gpus_per_instance"]) == (point.tp, point.ep, point.gpus)
    expected = {"output_tokens_per_s_per_gpu": point.output_tokens_per_s_per_gpu,
                "cost_per_gpu_hour_cny": per_gpu_hour,
                "cost_per_million_tokens_blended_cny": tokens.blended,
                "cost_per_million_input_tokens_cny": tokens.input, "cost_per_million_output_tokens_cny": tokens.output}
    for column, value in expected.items():
        assert row[column] == pytest.approx(value, rel=1e-12)


def _sweep_layouts(s, hardware, model, precision):
    """The layouts a sweep tries for one combination: the one run prices (searched at the scenario's workload and
    SLO) and, for an expert-parallel one, TP over the same GPUs when the search tried that layout too."""
    choice = _searched(s, hardware, model, precision)
    dep, r = choice.instance.deployment, choice.instance
    twin = perf.layout("TP", dep.gpus)
    tried = perf.candidate_deployments(r.model, r.precision, r.hardware, r.efficiency)
    return [dep] + ([twin] if dep.ep > 1 and twin in tried else [])


def test_slo_search_and_layout_equal_predict_point_by_point():
    """Under an SLO axis each point's batch, layout and throughput are those perf.predict finds in the layout run
    prices for the combination (searched once, at the scenario's workload and SLO) or in TP over the same GPUs,
    whichever serves more within the point's SLO (both serving modes)."""
    s = founding()
    axes = ["hardware=B300,H200", "model=deepseek-v3,llama-3.3-70b", "precision=fp8", "slo=20,80",
            "input_tokens=300,3000", "server_price=3e6"]
    layouts = {(h, m): _sweep_layouts(s, h, m, "fp8") for h in ("B300", "H200") for m in ("deepseek-v3",
                                                                                         "llama-3.3-70b")}
    for mode in ("aggregated", "disaggregated"):
        frame = run_sweep(s, axes, backend="numpy", mode=mode).frame
        assert len(frame[["gpus_per_instance", "tp", "ep"]].drop_duplicates()) > 1  # several layouts
        for _, row in frame.iterrows():
            workload = dataclasses.replace(serving_workload(s.serving), input_tokens=row["input_tokens"])
            p, *twin = (perf.predict(row["hardware"], row["model"], row["precision"], workload, mode=mode,
                                     slo=perf.SLO(row["min_tokens_per_s_per_user"]), **_sizes(dep))
                        for dep in layouts[(row["hardware"], row["model"])])
            if twin and twin[0].meets_slo and (not p.meets_slo or twin[0].output_tokens_per_s_per_gpu
                                               > p.output_tokens_per_s_per_gpu):
                p = twin[0]
            assert p.meets_slo == row["feasible"]
            if p.meets_slo:
                assert (p.concurrency, p.tp, p.ep) == (row["concurrency"], row["tp"], row["ep"])
                assert row["output_tokens_per_s_per_gpu"] == pytest.approx(p.output_tokens_per_s_per_gpu,
                                                                           rel=1e-13)


def _no_slo(doc):
    doc["serving"].pop("min_tokens_per_s_per_user", None)


def test_without_any_slo_the_search_is_predicts_highest_throughput_batch(tmp_path):
    """A scenario without SLOs and no SLO axis searches for the highest throughput within memory, as predict does
    (throughput layout only: the latency layout is tried under an SLO)."""
    s = variant(tmp_path, _no_slo)
    frame = run_sweep(s, ["model=deepseek-v3,llama-3.3-70b", "input_tokens=500,4000"], backend="numpy").frame
    for _, row in frame.iterrows():
        dep = _searched(s, model=row["model"]).instance.deployment
        p = perf.predict(s.serving.hardware, row["model"], s.serving.precision,
                         dataclasses.replace(serving_workload(s.serving), input_tokens=row["input_tokens"]),
                         **_sizes(dep))
        assert (row["concurrency"], row["tp"], row["ep"]) == (p.concurrency, p.tp, p.ep)
        assert row["output_tokens_per_s_per_gpu"] == pytest.approx(p.output_tokens_per_s_per_gpu, rel=1e-13)


def test_fixed_concurrency_is_perf_evaluate_and_beyond_memory_is_infeasible():
    """A concurrency axis evaluates that batch (perf.evaluate, no SLO); a batch over the memory limit is
    infeasible: NaN token metrics, the cost per GPU-hour still given."""
    s = founding()
    r = perf.instance(s.serving.hardware, s.serving.model, s.serving.precision,
                      workload=serving_workload(s.serving), **_sizes(_searched(s).instance.deployment))
    limit = float(perf.evaluate(r.step_model, "aggregated", np.ones(1), s.serving.input_tokens,
                                s.serving.output_tokens, None, s.serving.cache_hit_rate)["max_concurrency"][0])
    batches = np.array([1.0, 64.0, limit, limit + 1])
    frame = run_sweep(s, [f"concurrency={','.join(f'{b:g}' for b in batches)}"], backend="numpy").frame
    ref = perf.evaluate(r.step_model, "aggregated", batches, s.serving.input_tokens, s.serving.output_tokens, None,
                        s.serving.cache_hit_rate)
    assert frame["feasible"].tolist() == [True, True, True, False]
    np.testing.assert_allclose(frame["output_tokens_per_s_per_gpu"][:3], ref["output_tokens_per_s_per_gpu"][:3],
                               rtol=1e-13)
    assert math.isnan(frame["cost_per_million_tokens_blended_cny"].iloc[3])
    assert frame["cost_per_gpu_hour_cny"].notna().all()


def test_unit_cost_rises_with_server_price_and_falls_with_utilisation():
    """Blended unit cost strictly rises with the server price and strictly falls with utilisation."""
    frame = run_sweep(founding(), ["server_price=2e6:8e6:5", "utilisation=0.4:1:4"], backend="numpy").frame
    grid = frame.pivot(index="server_price_cny", columns="utilisation",
                       values="cost_per_million_tokens_blended_cny").to_numpy()
    assert (np.diff(grid, axis=0) > 0).all() and (np.diff(grid, axis=1) < 0).all()


def test_results_do_not_depend_on_the_chunk_size():
    """Any chunk size gives the same rows in the same order."""
    s = founding()
    axes = ["model=deepseek-v3,llama-3.3-70b", "input_tokens=500:4000:5", "utilisation=0.5,1"]
    frames = [run_sweep(s, axes, backend="numpy", chunk_points=c).frame for c in (None, 1, 7)]
    for other in frames[1:]:
        pd.testing.assert_frame_equal(other, frames[0])


def test_flat_index_decomposition_is_numpy_unravel_index():
    """Axis indices of any block (flat indices beyond 2^32 included) are numpy.unravel_index's, first axis slowest."""
    plan = plan_sweep(founding(), ["input_tokens=1:100:100", "output_tokens=1:70:70", "utilisation=0.1:1:10",
                                   "server_price=1:9:9", "cost_of_capital=0:0.1:11"])
    for start, stop in ((0, 5000), (123_456, 130_000), (plan.points - 777, plan.points)):
        idx = indices(plan, start, stop)
        expected = np.unravel_index(np.arange(start, stop), plan.shape)
        for axis, want in zip(plan.axes, expected, strict=False):
            np.testing.assert_array_equal(idx[axis.name], want)
    big = plan_sweep(founding(), ["concurrency=1:50000:50000", "input_tokens=1:100000:100000", "cache_hit_rate=0,1"])
    start = 2**32 + 12_345
    idx = indices(big, start, start + 4096)
    expected = np.unravel_index(np.arange(start, start + 4096), big.shape)
    for axis, want in zip(big.axes, expected, strict=False):
        np.testing.assert_array_equal(idx[axis.name], want)


# -- finance -----------------------------------------------------------------------------------------------------------
def test_finance_metrics_at_the_scenario_rent_equal_tokensim_finance():
    """At the scenario's own rent, the sweep's NPV and IRRs are tokensim finance's."""
    s = founding()
    rent = 1_450_000_000 / 12 / s.cluster.gpus / (8760 / 12)
    row = run_sweep(s, [f"rent={rent!r}"], ["npv", "project_irr", "equity_irr"], backend="numpy").frame.iloc[0]
    fin = run_finance(s)
    assert row["npv_cny"] == pytest.approx(fin.npv, rel=1e-9)
    assert row["project_irr"] == pytest.approx(fin.project_irr, rel=1e-9)
    assert row["equity_irr"] == pytest.approx(fin.equity_irr, rel=1e-9)


def test_spot_finance_is_the_scenario_at_each_rent_spot_utilisation_and_server_price(tmp_path):
    """On a spot cluster each (server price, rent, spot utilisation) point's finance equals tokensim finance of the
    scenario with those values written into it; equity IRR rises with both rent and spot utilisation."""
    s = variant(tmp_path, spot)
    frame = run_sweep(s, ["server_price=4e6,5e6", "rent=15,25", "spot_utilisation=0.6,0.9"], backend="numpy").frame
    for _, row in frame.iterrows():
        def at(doc, row=row):
            spot(doc, row["rent_per_gpu_hour_cny"], row["spot_utilisation"])
            doc["capex"]["server_price"] = row["server_price_cny"]
        fin = run_finance(variant(tmp_path, at))
        assert row["npv_cny"] == pytest.approx(fin.npv, rel=1e-9)
        assert row["equity_irr"] == pytest.approx(fin.equity_irr, rel=1e-9)
        assert row["project_irr"] == pytest.approx(fin.project_irr, rel=1e-9)
    grid = frame[frame["server_price_cny"] == 4e6].pivot(index="rent_per_gpu_hour_cny", columns="spot_utilisation",
                                                          values="equity_irr").to_numpy()
    assert (np.diff(grid, axis=0) > 0).all() and (np.diff(grid, axis=1) > 0).all()


def test_take_or_pay_notes_that_spot_utilisation_does_not_move_finance():
    """On the fully contracted founding cluster a spot utilisation axis comes with a note, and NPV is flat along it
    (as is the cost per GPU-hour, which takes the sold share of hours, not the spot utilisation)."""
    sweep = prepare_sweep(founding(), ["spot_utilisation=0.5,1"], backend="numpy")
    assert any("take-or-pay" in n for n in sweep.notes)
    frame = run_sweep(founding(), ["spot_utilisation=0.5,1"], backend="numpy").frame
    assert frame["npv_cny"].nunique() == 1 and frame["cost_per_gpu_hour_cny"].nunique() == 1


def test_utilisation_and_spot_utilisation_each_move_only_their_own_metrics(tmp_path):
    """Issue 13 item 6: `utilisation` is the sold share of hours (cost per GPU-hour = full-use cost / utilisation
    for the capital and fixed terms) and `spot_utilisation` the rented share of market capacity (spot revenue =
    GPUs x hours x rent x spot utilisation). On a spot cluster, utilisation moves the cost but no finance metric;
    spot utilisation moves NPV but no cost; at the scenario's own values both equal tokensim finance / cost."""
    s = variant(tmp_path, spot)  # spot at RMB 20 per GPU-hour, spot utilisation 0.8
    sold = run_sweep(s, ["rent=20", "utilisation=0.5,1"], backend="numpy").frame
    assert sold["npv_cny"].nunique() == 1 and sold["cost_per_gpu_hour_cny"].nunique() == 2
    assert sold["npv_cny"].iloc[0] == pytest.approx(run_finance(s).npv, rel=1e-9)
    market = run_sweep(s, ["rent=20", "spot_utilisation=0.5,0.8"], backend="numpy").frame
    assert market["cost_per_gpu_hour_cny"].nunique() == 1 and market["npv_cny"].nunique() == 2
    assert market["npv_cny"].iloc[1] == pytest.approx(run_finance(s).npv, rel=1e-9)
    assert market["npv_cny"].iloc[0] < market["npv_cny"].iloc[1]
    notes = prepare_sweep(s, ["rent=20", "utilisation=0.5,1"], backend="numpy").notes
    assert any("utilisation does not enter them" in n and "spot_utilisation" in n for n in notes)


# -- bad input ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ("rent=", "the axis is empty"),
    ("rnt=1,2", "did you mean 'rent'"),
    ("utilisation=0,0.5", "value 0 is out of range; allowed: numbers in [0.01, 1]"),
    ("utilisation=0.5,1.2", "out of range"),
    ("spot_utilisation=0.5,1.2", "value 1.2 is out of range; allowed: numbers in [0, 1]"),
    ("server_price=-1", "allowed: numbers in (0, inf)"),
    ("concurrency=2.5", "whole numbers"),
    ("cache_hit_rate=nan", "out of range"),
    ("rent=1,,2", "empty value"),
    ("rent=1:2", "START:STOP:N"),
    ("rent=1:2:0", "N = '0'"),
    ("rent=1,1", "appears twice"),
    ("hardware=B3000", "did you mean 'B300'"),
    ("rent", "NAME=V1,V2"),
])
def test_bad_axes_are_user_errors(text, message):
    """Each malformed axis is a UserError naming the axis, the value and what is allowed."""
    with pytest.raises(UserError) as err:
        parse_axis(text)
    assert message in str(err.value)


def test_axis_values_from_start_stop_n_and_aliases():
    """START:STOP:N gives N evenly spaced values, ends included; aliases map to the canonical axis."""
    axis = parse_axis("power_price=0.1:0.5:5")
    assert axis.name == "electricity_price_per_kwh"
    np.testing.assert_allclose(axis.values, [0.1, 0.2, 0.3, 0.4, 0.5])
    assert parse_axis("gpu=b300,h200").values == ("B300", "H200")


@pytest.mark.parametrize("axes, metrics, message", [
    (["rent=1", "rent=2"], None, "given 2 times"),
    (["concurrency=8", "slo=20"], None, "give one"),
    ([], ["equty_irr"], "did you mean 'equity_irr'"),
    ([], ["npv_usd"], "did you mean 'npv_cny'"),
    (["hardware=H100"], None, "no server price known for H100"),
])
def test_inconsistent_sweeps_are_user_errors(axes, metrics, message):
    """Repeated or conflicting axes, unknown metrics and unpriced hardware are refused with the reason."""
    with pytest.raises(UserError, match=message):
        plan_sweep(founding(), axes, metrics)


def test_memory_budget_bounds_chunks_and_whole_grids():
    """A grid over the budget runs in chunks but is refused as one table; a chunk over the budget is refused."""
    s = founding()
    axes = ["concurrency=1:100:100", "input_tokens=1:1000:1000"]
    probe = prepare_sweep(s, axes, backend="numpy")
    budget = probe.working_mb + probe.plan.points * probe.bytes_per_row / 2**20 / 4
    sweep = prepare_sweep(s, axes, backend="numpy", memory_budget_mb=budget)
    assert sweep.plan.points / 5 < sweep.chunk_points < sweep.plan.points / 3
    with pytest.raises(UserError, match="over the memory budget of .* MB; stream it in chunks .*--out DIR"):
        run_sweep(s, axes, backend="numpy", memory_budget_mb=budget)
    with pytest.raises(UserError, match="^chunk_points 100,000 needs about"):
        prepare_sweep(s, axes, backend="numpy", chunk_points=100_000, memory_budget_mb=budget)
    with pytest.raises(UserError, match="^memory_budget_mb 1 is below"):
        prepare_sweep(s, axes, backend="numpy", memory_budget_mb=1)


# -- the kernel's mathematics on the host: kernels/unitcost.cu compiled as C++ and compared with NumPy ---------------
# Grids that together reach every branch of the device arithmetic: both serving modes, batch search (SLO axis and
# the scenario's SLO) and fixed batches beyond memory, MoE throughput and latency layouts, dense TP, MLA and GQA,
# sliding windows (gpt-oss), DSA sparse attention (deepseek-v3.2), weight-only 4-bit on Hopper, EP across scale-up
# domains, speculative-free decode, cache hits, an explicit decode context, zero cost of capital, several
# currencies' scenarios, and the last slot (spot_utilisation, finance only: the kernel indexes past it).
KERNEL_GRIDS = [
    (FOUNDING, "aggregated", ["hardware=B300,H200,H100", "precision=fp8,nvfp4",
                              "model=deepseek-v3,deepseek-v3.2,llama-3.3-70b,gpt-oss-120b,mixtral-8x7b",
                              "input_tokens=200,3000",
                              "slo=20,80", "server_price=4e6"]),
    (FOUNDING, "disaggregated", ["hardware=B300,H100", "model=llama-3.1-8b,qwen3-235b-a22b",
                                 "concurrency=1,16,300,100000", "cache_hit_rate=0,0.5,1", "context=2000",
                                 "server_price=3e6", "utilisation=0.5,1", "cost_of_capital=0,0.08"]),
    (FOUNDING, "aggregated", ["model=llama-4-maverick,llama-3.1-405b", "precision=fp8,nvfp4",
                              "output_tokens=100,2000", "electricity_price=0.1,0.9", "spot_utilisation=0.5,1"]),
    ("us-b300-neocloud-usage", "disaggregated", ["hardware=H20,GB300", "input_tokens=1:20000:9",
                                                 "server_price=1e5,4e5"]),
]


@pytest.fixture(scope="module")
def host_kernels(tmp_path_factory):
    """kernels/unitcost.cu built for the host (one 'thread' loops over every point) in double and float, with
    layout_probe_UcParams and layout_probe_UcRecord reporting the C layouts of the packed structs."""
    layouts = [_unitcost_kernel.params_layout(), _unitcost_kernel.record_layout()]
    return build_host_kernels("unitcost", tmp_path_factory.mktemp("host_unitcost"),
                              epilogue=layout_probe(layouts) + _PASS_PROBE)


# perf_decode_step and perf_prefill_pass of one packed record's PerfStep: the step arithmetic alone, for layouts the
# sweep's grids do not reach (the sweep takes only the default and the latency layout).
_PASS_PROBE = r"""
extern "C" void probe_perf_passes(const UcRecord* rec, double batch, double context, double* out) {
    const PerfPass d = perf_decode_step(rec->step, (real)batch, (real)context);
    const PerfPass p = perf_prefill_pass(rec->step, (real)batch, (real)context, (real)0);
    out[0] = (double)d.t_comm_s; out[1] = (double)d.t_step_s; out[2] = (double)p.t_comm_s; out[3] = (double)p.t_step_s;
    out[4] = perf_kv_bytes_per_sequence(rec->step, context);
}
"""


# unitcost_points(axis_values, records, first, n, out, flags); UcParams is the constant symbol uc_params.
_ARGTYPES = [ctypes.c_void_p] * 2 + [ctypes.c_uint64, ctypes.c_int64] + [ctypes.c_void_p] * 2


def host_points(lib, plan, first: int, n: int, dtype: str) -> dict[str, np.ndarray]:
    real = np.float32 if dtype == "float32" else np.float64
    values, _ = _unitcost_kernel.pack_axis_values(plan)
    records = _unitcost_kernel.pack_records(plan)
    write_host_constants(lib, _unitcost_kernel.constant_images(plan))
    out = np.zeros(len(OUTPUTS) * n, real)
    flags = np.zeros(n, np.uint8)
    lib.unitcost_points.argtypes = _ARGTYPES
    lib.unitcost_points(values.ctypes.data, records.ctypes.data, first, n, out.ctypes.data, flags.ctypes.data)
    rows = out.reshape(len(OUTPUTS), n).astype(np.float64)
    return {**{name: rows[k] for k, name in enumerate(OUTPUTS)}, "flags": flags}


def test_kernel_grids_reach_every_branch():
    """The grids below hold MoE latency layouts, dense TP, sliding windows, weight-only 4-bit and EP over two
    scale-up domains, so the host parity test exercises each of them."""
    steps = []
    for scenario, mode, axes in KERNEL_GRIDS:
        plan = plan_sweep(load_scenario(scenario), axes, mode=mode)
        steps += [r.step_model for lay in plan.layouts for r in (lay.throughput, lay.latency) if r is not None]
    assert any(sm.experts and sm.ep == 1 and sm.tp > 1 for sm in steps)
    assert any(not sm.experts and sm.tp > 1 for sm in steps)
    assert any(sm.window_layers > 0 for sm in steps)
    assert any(sm.sparse_topk_tokens > 0 and sm.index_layers > 0 for sm in steps)  # DSA (deepseek-v3.2)
    assert any(sm.dequant_overhead > 0 for sm in steps)
    assert any(sm.ep_scale_out_copies > 0 for sm in steps)


@pytest.mark.parametrize("model, hardware, precision, gpus, tp, ep, offload, drafts", [
    ("deepseek-v3", "H200", "fp8", 8, 1, 1, False, 0), ("deepseek-v3", "H200", "fp8", 8, 2, 1, False, 0),
    ("deepseek-v3", "H200", "fp8", 16, 1, 1, False, 0), ("deepseek-v3", "H200", "fp8", 8, 8, 1, False, 0),
    ("deepseek-v3", "H200", "fp8", 8, 1, 8, False, 0), ("deepseek-v3", "GB200", "fp4-experts-fp8", 2, 1, 2, True, 0),
    ("deepseek-v3", "H200", "fp8", 8, 1, 8, False, 3), ("deepseek-v3", "H200", "fp8", 8, 8, 1, False, 2),
    ("qwen3.5-397b-a17b", "MI355X", "fp8", 4, 4, 1, False, 0), ("qwen3.5-397b-a17b", "B200", "fp8", 8, 1, 8, False, 0),
    ("deepseek-v4-pro", "B200", "fp4-experts-fp8", 8, 1, 8, False, 0),
    ("deepseek-v4-flash", "H200", "fp8", 8, 8, 1, False, 0), ("llama-3.3-70b", "MI300X", "fp8", 8, 8, 1, False, 0),
    ("deepseek-v3", "MI325X", "fp8", 8, 8, 1, False, 0)])
def test_kernel_step_arithmetic_equals_numpy_for_every_layout_kind_on_the_host(host_kernels, model, hardware, precision,
                                                                                gpus, tp, ep, offload, drafts):
    """Host parity of perf_decode_step / perf_prefill_pass / perf_kv_bytes_per_sequence with decode_step /
    prefill_pass / kv_bytes_per_sequence_per_gpu (float64, 1e-12) on layouts the sweep grids do not hold: DTP
    (attention data-parallel, experts tensor-parallel: the all-gather and reduce-scatter per MoE layer; 16 GPUs
    crosses the 8-GPU NVLink domain of H200), mixed TP2 x DP4 with ep 1, TP8, DEP8, weights offloaded to Grace memory
    on 2 GB200 (the host-link stream term), speculative draft passes (MTP draft 3 on DEP8, 2 on TP8), a model with
    linear-attention layers (Qwen3.5's recurrent state, split by TP4 and whole on each GPU of DEP8), DeepSeek-V4's
    compressed attention (CSA top-k capped above 4,096 tokens of context, HCA, the compressed indexer; DEP8, TP8),
    and parts with a measured max-achievable GEMM rate (MI300X, MI325X), which caps the largest decode step."""
    from tokensim.perf import _core
    workload = perf.Workload(1, 1, speculative_draft_tokens=drafts, speculative_acceptance_length=1.0 + 0.5 * drafts)
    r = perf.instance(hardware, model, precision, gpus=gpus, tp=tp, ep=ep, offload_weights=offload,
                      workload=workload)
    assert (r.step_model.offload_bytes_per_gpu > 0) == offload
    layout = _unitcost_kernel.record_layout()
    values = {f"step.{k}": v for k, v in _unitcost_kernel.step_values(r.step_model).items()}
    values.update({name: 0.0 for name in layout.names if not name.startswith("step.")})
    record = layout.pack(values)
    lib = host_kernels["float64"]
    lib.probe_perf_passes.argtypes = [ctypes.c_void_p, ctypes.c_double, ctypes.c_double, ctypes.c_void_p]
    assert (r.step_model.state_bytes_per_sequence > 0) == model.startswith("qwen3.5")
    for batch, context in ((1.0, 1000.0), (64.0, 3000.0), (700.0, 9000.0)):
        out = np.zeros(5)
        lib.probe_perf_passes(record.ctypes.data, batch, context, out.ctypes.data)
        dec = _core.decode_step(r.step_model, np.asarray(batch), np.asarray(context))
        pre = _core.prefill_pass(r.step_model, np.asarray(batch), np.asarray(context), np.asarray(0.0))
        want = [dec["t_comm_s"], dec["t_step_s"], pre["t_comm_s"], pre["t_step_s"],
                _core.kv_bytes_per_sequence_per_gpu(r.step_model, np.asarray(context), np)]
        np.testing.assert_allclose(out, np.asarray(want, dtype=float), rtol=1e-12, atol=0)
        if ep == 1 and tp < gpus:
            assert out[0] > 0  # the gather is charged
    assert (r.step_model.max_achievable_flops_per_gpu > 0) == (hardware in ("MI300X", "MI325X"))
    if r.step_model.max_achievable_flops_per_gpu > 0:  # the ceiling binds on the largest decode step above
        bare = dataclasses.replace(r.step_model, max_achievable_flops_per_gpu=0.0,
                                   attention_max_achievable_flops_per_gpu=0.0)
        args = (np.asarray(700.0), np.asarray(9000.0))
        assert _core.decode_step(r.step_model, *args)["t_compute_s"] > _core.decode_step(bare, *args)["t_compute_s"]


@pytest.mark.parametrize("grid", range(len(KERNEL_GRIDS)))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kernel_mathematics_equal_numpy_on_the_host(host_kernels, grid, dtype):
    """unitcost_points built as host C++ gives evaluate_points' outputs (float64: 1e-12 relative, the same flags;
    float32: FLOAT32_TOLERANCE on points with the same batch, and few points with another batch)."""
    scenario, mode, axes = KERNEL_GRIDS[grid]
    plan = plan_sweep(load_scenario(scenario), axes, mode=mode)
    ref = evaluate_points(plan, 0, plan.points)
    first = 3 if plan.points > 6 else 0  # a launch that starts inside the grid
    got = host_points(host_kernels[dtype], plan, first, plan.points - first, dtype)
    ref = {k: v[first:] for k, v in ref.items()}
    same = (got["concurrency"] == ref["concurrency"]) | (np.isnan(got["concurrency"]) & np.isnan(ref["concurrency"]))
    if dtype == "float64":
        assert same.all()
        np.testing.assert_array_equal(got["flags"], ref["flags"])
        rtol = 1e-12
    else:
        assert 1 - same.mean() <= FLOAT32_TOLERANCE["max_share_other_batch"]
        rtol = FLOAT32_TOLERANCE["rel"]
    for name in OUTPUTS:
        np.testing.assert_array_equal(np.isnan(got[name][same]), np.isnan(ref[name][same]), err_msg=name)
        np.testing.assert_allclose(got[name][same], ref[name][same], rtol=rtol, atol=0, err_msg=name)


class _HostArray(np.ndarray):
    """A NumPy array with CuPy's ``get``: device memory stood in for by host memory."""

    def get(self):
        return np.asarray(self)


class _HostKernel:
    """The host build of unitcost_points called as a cupy.RawKernel is: kernel(grid, block, args)."""

    def __init__(self, lib):
        self.lib = lib
        lib.unitcost_points.argtypes = _ARGTYPES

    def __call__(self, grid, block, args):
        values, records, first, n, outputs, flags = args
        assert isinstance(first, np.uint64) and isinstance(n, np.int64)
        assert all(a.flags.c_contiguous for a in (values, records, outputs, flags))
        self.lib.unitcost_points(values.ctypes.data, records.ctypes.data, int(first), int(n), outputs.ctypes.data,
                                 flags.ctypes.data)


class _HostModule:
    """The host build standing in for the compiled cupy.RawModule: its kernel, and its globals as constant memory."""

    def __init__(self, lib):
        self.lib = lib

    def get_function(self, name):
        assert name == "unitcost_points"
        return _HostKernel(self.lib)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cupy_path_with_the_host_kernel_gives_the_numpy_frame(host_kernels, monkeypatch, dtype):
    """The CuPy path (packing, launch arguments, chunks, outputs to DataFrames) run with the host build of the kernel
    in place of the device gives the NumPy path's DataFrame (float64: 1e-12; float32: the documented tolerance)."""
    fake = types.SimpleNamespace(asarray=lambda x: np.ascontiguousarray(x).view(_HostArray),
                                 empty=lambda shape, dtype: np.empty(shape, dtype).view(_HostArray),
                                 uint8=np.uint8, ndarray=type("NoDeviceArray", (), {}))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(_unitcost_kernel, "_module", lambda d: _HostModule(host_kernels[d]))
    monkeypatch.setattr(_unitcost_kernel, "write_constants", lambda module, images: write_host_constants(module.lib,
                                                                                                         images))
    s = founding()
    axes = ["model=deepseek-v3,llama-3.3-70b", "slo=20,60", "input_tokens=500:4000:4", "rent=15,20"]
    sweep = prepare_sweep(s, axes, backend="numpy", chunk_points=7)
    sweep.backend, sweep.dtype = "cupy", dtype
    frame = pd.concat(list(sweep.frames()), ignore_index=True)
    expected = run_sweep(s, axes, backend="numpy").frame
    rtol = 1e-12 if dtype == "float64" else FLOAT32_TOLERANCE["rel"]
    pd.testing.assert_frame_equal(frame, expected, check_exact=False, rtol=rtol, atol=0)


def test_kernel_without_any_slo_equals_numpy_on_the_host(host_kernels, tmp_path):
    """Without SLOs (none in the scenario, no SLO axis) the host kernel's search equals NumPy's, float64 to 1e-12."""
    plan = plan_sweep(variant(tmp_path, _no_slo), ["model=deepseek-v3,llama-3.3-70b,gpt-oss-120b",
                                                   "input_tokens=100:8000:7", "cache_hit_rate=0,0.9"])
    ref = evaluate_points(plan, 0, plan.points)
    got = host_points(host_kernels["float64"], plan, 0, plan.points, "float64")
    np.testing.assert_array_equal(got["flags"], ref["flags"])
    for name in OUTPUTS:
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-12, atol=0, err_msg=name)


def test_packing_refuses_a_step_model_field_the_kernel_lacks(monkeypatch):
    """A field added to StepModel without a slot in kernels/perfcore.cuh fails packing, naming the field."""
    grown = dataclasses.make_dataclass("StepModel", [("new_overhead_s", float, dataclasses.field(default=0.0))],
                                       bases=(StepModel,), frozen=True)
    sm = perf.instance("H200", "llama-3.3-70b", "fp8").step_model
    _unitcost_kernel.step_values(sm)  # in step today
    monkeypatch.setattr(_unitcost_kernel, "StepModel", grown)
    with pytest.raises(RuntimeError, match="fields without a slot: new_overhead_s"):
        _unitcost_kernel.step_values(grown(**{f.name: getattr(sm, f.name) for f in dataclasses.fields(sm)}))


def test_params_and_records_fill_every_header_field(host_kernels):
    """UcParams and UcRecord pack to the header's structs for a multi-combination plan, laid out as the C compiler
    lays them out (sizeof and offsetof of every field, nested PerfStep/PerfPhase fields too, from the host build)."""
    plan = plan_sweep(founding(), ["hardware=B300,H200", "model=deepseek-v3,llama-3.3-70b", "rent=10,20"])
    params, record = _unitcost_kernel.params_layout(), _unitcost_kernel.record_layout()
    for layout in (params, record):
        for lib in host_kernels.values():
            assert probed_layout(lib, layout) == (layout.size, [f.offset for f in layout.fields])
    packed = _unitcost_kernel.pack_params(plan)
    assert packed.dtype == params.dtype and packed.shape == ()
    records = _unitcost_kernel.pack_records(plan)
    assert records.dtype == record.dtype and records.shape == (2 * len(plan.layouts),)
    # every field a double, no padding: the images are the flat double arrays the kernel used to take
    assert params.size == 8 * params.values and record.size == 8 * record.values
    assert records["step"]["prefill"]["compute_efficiency"].shape == (2 * len(plan.layouts),)


def test_header_constants_follow_the_python_order():
    """UC_AXIS_*, UC_OUT_*, UC_FLAG_* and UC_MODE_* in the header are tokensim.sweep._run's axis, output, flag and mode
    orders."""
    from tokensim.sweep._run import AXES, FLAG_FEASIBLE, FLAG_LATENCY_LAYOUT, MODES

    d = _unitcost_kernel.defines()
    assert [d[f"UC_AXIS_{name.upper()}"] for name in AXES] == list(range(len(AXES))) and d["UC_AXES"] == len(AXES)
    assert [d[f"UC_OUT_{name.upper()}"] for name in OUTPUTS] == list(range(len(OUTPUTS)))
    assert d["UC_OUTPUTS"] == len(OUTPUTS)
    assert (d["UC_FLAG_FEASIBLE"], d["UC_FLAG_LATENCY_LAYOUT"]) == (FLAG_FEASIBLE, FLAG_LATENCY_LAYOUT)
    assert [d[f"UC_MODE_{m.upper()}"] for m in MODES] == list(range(len(MODES)))


# -- the command -------------------------------------------------------------------------------------------------------
def test_cli_json_rows_equal_the_csv_stream():
    """--format json carries the rows --format csv streams, with the sweep's description around them."""
    args = ["sweep", "--axis", "input_tokens=500,1000,2000", "--axis", "rent=15,20", "--backend", "numpy"]
    res = invoke(*args, "--format", "json")
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["points"] == 6 and len(d["rows"]) == 6 and d["backend"] == "numpy"
    assert d["metrics"][-3:] == ["npv_cny", "project_irr", "equity_irr"]
    csv = invoke(*args, "--format", "csv", "--chunk-points", "4")
    assert csv.exit_code == 0, csv.output
    frame = pd.read_csv(pd.io.common.StringIO(csv.stdout))
    assert list(frame.columns) == list(d["rows"][0])
    np.testing.assert_allclose(frame["equity_irr"], [r["equity_irr"] for r in d["rows"]], rtol=1e-15)


@pytest.mark.parametrize("args, message", [
    (["--axis", "rent="], "the axis is empty"),
    (["--axis", "utilisation=1.5"], "out of range"),
    (["--metric", "equty_irr"], "did you mean 'equity_irr'"),
    (["--metric", "breakeven_rent_per_gpu_hour"], "it was cost_per_gpu_hour under another name"),
    (["--metric", "breakeven_rent_per_gpu_hour_cny"], "npv_zero_rent_per_gpu_hour of `tokensim finance`"),
    (["--axis", "rnt=1"], "did you mean 'rent'"),
    (["--axis", "input_tokens=1:10000:10000", "--axis", "output_tokens=1:1000:1000", "--format", "json"],
     "over the memory budget"),
    (["--chunk-points", "0"], "--chunk-points"),
])
def test_cli_bad_input_exits_2_with_the_reason(args, message):
    """Bad axes, metrics, grids over the memory budget and chunk sizes exit 2 with one line naming the reason."""
    res = invoke("sweep", *args, "--backend", "numpy")
    assert res.exit_code == 2
    assert message in res.stderr and "Traceback" not in res.stderr


def test_cli_out_writes_csv_parquet_json_and_heatmaps(tmp_path):
    """--out DIR streams sweep.csv and sweep.parquet (same rows), writes sweep.json and a heatmap per metric that
    varies over a rent x spot utilisation grid, leaving no temporary file. The cost per GPU-hour depends on neither
    axis (a cost; spot utilisation moves only the finance metrics), so it is the same at all 6 points and is not drawn
    (issue 16: no chart of a constant), with a note that says so."""
    s = variant(tmp_path, spot)
    out = tmp_path / "out"
    res = invoke("sweep", s.file, "--axis", "rent=10:30:3", "--axis", "spot_utilisation=0.5,1", "--metric",
                 "equity_irr,cost_per_gpu_hour", "--backend", "numpy", "--chunk-points", "4", "--out", out,
                 "--format", "csv")
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["heatmap_equity_irr.png", "sweep.csv", "sweep.json", "sweep.parquet"]
    assert "no heatmap for cost_per_gpu_hour_cny: the same at every point of the grid" in res.stderr
    csv, parquet = pd.read_csv(out / "sweep.csv"), pd.read_parquet(out / "sweep.parquet")
    assert csv["cost_per_gpu_hour_cny"].nunique() == 1
    assert len(csv) == 6 and list(csv.columns) == list(parquet.columns)
    np.testing.assert_allclose(csv["equity_irr"], parquet["equity_irr"], rtol=1e-15)
    assert json.loads((out / "sweep.json").read_text())["points"] == 6
