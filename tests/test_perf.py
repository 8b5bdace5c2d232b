"""The inference performance model: hand-worked steps, physical invariants, operating point and CLI."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import replace

import numpy as np
import pytest
import scipy.stats
from click.testing import CliRunner

from tokensim import UserError, perf
from tokensim.cli import cli
from tokensim.config.catalog import load_catalog
from tokensim.config.hardware import Hardware
from tokensim.config.models import ModelSpec
from tokensim.config.precisions import resolve_precision
from tokensim.perf import _core as core
from tokensim.perf._model import (
    SLO,
    Deployment,
    Workload,
    batch_search,
    build_step_model,
    evaluate,
    instance,
    latency_layout,
    operating_point,
    predict,
)
from tokensim.perf.efficiency import Efficiency, PhaseEfficiency, load_efficiency

IDEAL = PhaseEfficiency(compute_efficiency=1.0, memory_efficiency=1.0, network_efficiency=1.0, comm_overlap=0.0,
                        step_overhead_s=0.0, collective_latency_s=0.0, log_error_std=0.1)
IDEAL_EFF = Efficiency(family="test", prefill=IDEAL, decode=IDEAL, weight_only_dequant_overhead=0.0,
                       prefill_chunk_tokens=8192, workspace_fraction=0.0, interval_level=0.8)


def _hardware(bf16_tflops=50.0, fp8_tflops=100.0, hbm_tb_per_s=1.0, hbm_gib=80.0) -> Hardware:
    return Hardware(name="TestGPU", vendor="test", family="test", description="", source="test",
                    dense_tflops={"bf16": bf16_tflops, "fp8": fp8_tflops}, hbm_gib=hbm_gib, hbm_usable_gib=hbm_gib,
                    hbm_bandwidth_tb_per_s=hbm_tb_per_s, scale_up_bandwidth_gb_per_s=450,
                    scale_up_domain_gpus=8, scale_out_bandwidth_gb_per_s=50, board_power_w=700, gpus_per_server=8)


def _tiny_dense() -> ModelSpec:
    return ModelSpec(name="tiny", family="test", source="test", layers=2, hidden_size=1024, vocab_size=1000,
                     tied_embeddings=False, attention_type="gqa", heads=8, kv_heads=2, head_dim=128, v_head_dim=128,
                     q_lora_rank=0, kv_lora_rank=0, qk_rope_head_dim=0, sliding_window_tokens=0,
                     sliding_window_layers=0, intermediate_size=4096, experts=0, top_k=0, shared_experts=0,
                     expert_intermediate_size=0, shared_expert_intermediate_size=0, moe_layers=0,
                     published_total_b=0.0325, published_active_b=0.0325, published_source="test",
                     native_precision="bf16")


def _fp8_weights_bf16_kv(hw):
    cat = load_catalog()
    recipe = cat.get_recipe("fp8").with_kv_cache(cat.get_format("bf16"))
    return resolve_precision(recipe, hw)


def test_dense_decode_step_matches_hand_count():
    """A 2-layer dense GQA model, FP8 weights, BF16 KV, batch 4 at context 100 on a 1 TB/s, 100 TFLOPS part.

    Parameters per layer: q 1024·1024 + k,v 2·1024·256 + o 1024·1024 = 2,621,440; MLP 3·1024·4096 = 12,582,912;
    norms 2·1024 → 15,206,400. Streamed weights = 2 layers + final norm 1,024 + LM head 1000·1024 = 31,437,824 bytes
    (embedding table excluded: a lookup). KV read = 4 seq · 2 layers · 100 tokens · (2·2·128 el · 2 B) = 819,200 B.
    Bytes = 32,257,024 → 32.257 µs at 1 TB/s. FLOPs = 4·(2·31,437,824 + 2 layers·4·8·128·100) = 254,779,392 →
    2.548 µs at 100 TFLOPS. Memory-bound: step 32.257 µs, 4/step tokens/s.
    """
    hw = _hardware()
    sm = build_step_model(_tiny_dense(), _fp8_weights_bf16_kv(hw), hw, Deployment(1, 1, 1), IDEAL_EFF)
    step = core.decode_step(sm, np.array([4.0]), np.array([100.0]))
    assert step["bytes"][0] == pytest.approx(32_257_024, rel=1e-12)
    assert step["flops"][0] == pytest.approx(254_779_392, rel=1e-12)
    assert step["t_step_s"][0] == pytest.approx(32_257_024 / 1e12, rel=1e-12)
    res = evaluate(sm, "decode", np.array([4.0]), 1000.0, 1000.0, context_tokens=np.array([100.0]))
    assert res["output_tokens_per_s_per_gpu"][0] == pytest.approx(4 / (32_257_024 / 1e12), rel=1e-12)
    assert res["bound"][0] == 1  # memory


def test_moe_mla_decode_step_matches_hand_count():
    """DeepSeek-V3 shape, FP8 everything, 8 GPUs (attention DP 8, EP 8), batch 64 at context 1000.

    MLA attention per layer: q_a 7168·1536 + q-norm 1536 + q_b 1536·128·192 + kv_a 7168·576 + kv-norm 512
    + kv_b 512·128·256 + o 128·128·7168 = 187,107,328. Dense layers 3 with MLP 3·7168·18432; 58 MoE layers with one
    shared expert 3·7168·2048 and a router 7168·256; norms 2·7168 per layer + 7168; LM head 129280·7168.
    Streamed = their sum (embedding excluded) read once per DP group (8×). Routed experts touched by 64 tokens picking
    8 of 256: 256·(1−(31/32)^64) ≈ 222.44 per layer, each 3·7168·2048 bytes, 58 layers. KV (MLA latent 512 + RoPE 64,
    1 byte): 64 · 61 layers · 1000 · 576.
    """
    hw = _hardware(hbm_gib=192)
    model = load_catalog().get_model("deepseek-v3")
    prec = resolve_precision(load_catalog().get_recipe("fp8"), hw)
    sm = build_step_model(model, prec, hw, Deployment(8, 1, 8), IDEAL_EFF)
    attn = 7168 * 1536 + 1536 + 1536 * 128 * 192 + 7168 * 576 + 512 + 512 * 128 * 256 + 128 * 128 * 7168
    streamed = (61 * attn + 3 * 3 * 7168 * 18432 + 58 * (3 * 7168 * 2048 + 7168 * 256) + 61 * 2 * 7168 + 7168
                + 129280 * 7168)
    touched = 256 * (1 - (1 - 8 / 256) ** 64)
    expected = 8 * streamed + 58 * touched * 3 * 7168 * 2048 + 64 * 61 * 1000 * 576
    step = core.decode_step(sm, np.array([64.0]), np.array([1000.0]))
    assert step["bytes"][0] == pytest.approx(expected, rel=1e-12)
    assert touched == pytest.approx(222.44, abs=0.01)


def test_more_bandwidth_never_lowers_memory_bound_throughput():
    """Raising HBM bandwidth alone never lowers decode throughput at any batch or context."""
    slow, fast = _hardware(hbm_tb_per_s=2.0), _hardware(hbm_tb_per_s=4.0)
    model, eff = load_catalog().get_model("llama-3.1-8b"), load_efficiency("hopper")
    b = np.array([1.0, 8, 64, 256])[:, None]
    ctx = np.array([100.0, 2000, 16000])[None, :]
    rates = []
    for hw in (slow, fast):
        sm = build_step_model(model, _fp8_weights_bf16_kv(hw), hw, Deployment(1, 1, 1), eff)
        rates.append(evaluate(sm, "decode", b, 1000.0, 1000.0, context_tokens=ctx)["output_tokens_per_s_per_gpu"])
    assert np.all(rates[1] >= rates[0])
    assert np.any(rates[1] > rates[0])


def test_fp4_on_hopper_is_weight_only_not_faster_in_prefill_but_smaller():
    """NVFP4 on H200 runs weight-only: prefill is no faster than FP8, yet its weights take less memory."""
    w = Workload(4000, 100)
    fp8 = predict("H200", "llama-3.3-70b", "fp8", w, mode="prefill", gpus=2)
    fp4 = predict("H200", "llama-3.3-70b", "nvfp4", w, mode="prefill", gpus=2)
    assert fp4.weight_only and fp4.compute_format in ("fp8", "bf16")
    assert fp4.input_tokens_per_s_per_gpu <= fp8.input_tokens_per_s_per_gpu
    assert fp4.weights_gb_per_gpu < 0.6 * fp8.weights_gb_per_gpu


def test_blackwell_ultra_raises_only_fp4():
    """B300 FP8 compute equals B200 FP8; B300 NVFP4 compute-bound prefill is faster than B200's in its weight matmuls
    only (1.5x), not in attention, which runs at FP8 on both (perf._model.attention_compute_class)."""
    cat = load_catalog()
    b200, b300 = cat.get_hardware("B200"), cat.get_hardware("B300")
    assert b300.peak_tflops("fp8") == b200.peak_tflops("fp8")
    assert b300.peak_tflops("bf16") == b200.peak_tflops("bf16")
    assert b300.peak_tflops("fp4") == pytest.approx(1.5 * b200.peak_tflops("fp4"))
    model = cat.get_model("llama-3.3-70b")
    eff = load_efficiency("blackwell")
    times, matmul = {}, {}
    for hw in (b200, b300):
        for name in ("fp8", "nvfp4"):
            sm = build_step_model(model, resolve_precision(cat.get_recipe(name), hw), hw, Deployment(1, 1, 1), eff)
            times[hw.name, name] = core.prefill_pass(sm, np.array([8192.0]), np.array([4000.0]),
                                                     np.array([0.0]))["t_compute_s"][0]
            matmul[hw.name, name] = (8192 * sm.matmul_flops_per_token
                                     / (sm.peak_flops_per_gpu * eff.prefill.compute_efficiency))
    assert times["B300", "fp8"] == pytest.approx(times["B200", "fp8"], rel=1e-12)
    assert matmul["B300", "nvfp4"] == pytest.approx(matmul["B200", "nvfp4"] / 1.5, rel=1e-12)
    # what is left is attention, at FP8 on both
    assert times["B300", "nvfp4"] - matmul["B300", "nvfp4"] == pytest.approx(
        times["B200", "nvfp4"] - matmul["B200", "nvfp4"], rel=1e-9)


@pytest.mark.parametrize("hardware, recipe, kv, attention", [
    ("B300", "nvfp4", None, "fp8"),  # FP4 weights, FP8 KV: attention at FP8, not FP4
    ("B300", "nvfp4", "bf16", "bf16"),  # a 16-bit KV cache: 16-bit attention
    ("MI355X", "mxfp4", None, "fp8"),
    ("H200", "fp8", None, "fp8"),
    ("H200", "nvfp4", None, "fp8"),  # weight-only FP4 on Hopper computes at FP8 (its fallback), attention too
    ("B200", "mxfp4-moe", None, "bf16"),  # gpt-oss's recipe keeps a BF16 KV cache
    ("B200", "bf16", None, "bf16"),
])
def test_attention_runs_at_eight_or_sixteen_bits(hardware, recipe, kv, attention):
    """Attention's tensor rate: FP8 with an FP8 KV cache and 8-bit-or-narrower matmuls, else BF16; never a 4-bit
    rate. A prefill pass's compute time is the matmuls at the recipe's rate plus attention at that class's rate."""
    cat = load_catalog()
    hw = cat.get_hardware(hardware)
    r = cat.get_recipe(recipe)
    if kv is not None:
        r = r.with_kv_cache(cat.get_format(kv))
    prec = resolve_precision(r, hw)
    assert prec.attention_compute_class == attention
    model = cat.get_model("llama-3.3-70b")
    eff = load_efficiency(hw.family)
    sm = build_step_model(model, prec, hw, Deployment(8, 8, 1), eff)
    assert sm.attention_peak_flops_per_gpu == hw.peak_tflops(attention) * 1e12
    n = 8192.0
    got = core.prefill_pass(sm, np.array([n]), np.array([n]), np.array([0.0]))["t_compute_s"][0]
    # one request of n new tokens: n^2/2 causal pairs per full-attention layer (llama: every layer)
    attn = 0.5 * n * n * model.layers * sm.prefill_attn_flops_per_pair_layer
    want = ((n * sm.matmul_flops_per_token / sm.peak_flops_per_gpu * (1 + sm.dequant_overhead)
             + attn / sm.attention_peak_flops_per_gpu) / (8 * eff.prefill.compute_efficiency))
    assert got == pytest.approx(want, rel=1e-12)


def test_measured_gemm_ceiling_caps_the_tensor_rate():
    """Where a hardware file gives the vendor's measured max-achievable GEMM rate (MI300X: AMD's MAF blog, FP8 1,273
    and BF16 708 TFLOP/s), tensor work runs at min(peak x compute efficiency, that rate): by hand for a
    compute-bound prefill pass of Llama-3.3-70B FP8 at TP8, once with an efficiency above the ceiling and once
    below it, and the same pass on a copy of the part without the measurement runs at peak x efficiency."""
    cat = load_catalog()
    hw = cat.get_hardware("MI300X")
    assert hw.achievable_tflops("fp8") == 1273 and hw.achievable_tflops("bf16") == 708
    prec = resolve_precision(cat.get_recipe("fp8"), hw)
    model = cat.get_model("llama-3.3-70b")
    n = 8192.0
    attn = 0.5 * n * n * model.layers
    for eff_value in (0.70, 0.30):  # 0.70 x 2,615 = 1,830 > 1,273 (capped); 0.30 x 2,615 = 785 < 1,273 (not)
        eff = load_efficiency(hw.family)
        eff = replace(eff, prefill=replace(eff.prefill, compute_efficiency=eff_value))
        sm = build_step_model(model, prec, hw, Deployment(8, 8, 1), eff)
        assert sm.max_achievable_flops_per_gpu == 1273e12
        mm_rate = min(2615e12 * eff_value, 1273e12)
        att_peak = hw.peak_tflops(prec.attention_compute_class) * 1e12
        att_rate = min(att_peak * eff_value, hw.achievable_tflops(prec.attention_compute_class) * 1e12)
        want = (n * sm.matmul_flops_per_token * (1 + sm.dequant_overhead) / mm_rate
                + attn * sm.prefill_attn_flops_per_pair_layer / att_rate) / 8
        got = core.prefill_pass(sm, np.array([n]), np.array([n]), np.array([0.0]))["t_compute_s"][0]
        assert got == pytest.approx(want, rel=1e-12)
        bare = replace(sm, max_achievable_flops_per_gpu=0.0, attention_max_achievable_flops_per_gpu=0.0)
        got_bare = core.prefill_pass(bare, np.array([n]), np.array([n]), np.array([0.0]))["t_compute_s"][0]
        want_bare = (n * sm.matmul_flops_per_token * (1 + sm.dequant_overhead) / (2615e12 * eff_value)
                     + attn * sm.prefill_attn_flops_per_pair_layer / (att_peak * eff_value)) / 8
        assert got_bare == pytest.approx(want_bare, rel=1e-12)
        capped = mm_rate < 2615e12 * eff_value or att_rate < att_peak * eff_value
        assert capped == (eff_value == 0.70)
        assert (got > got_bare * (1 + 1e-9)) == capped  # below both ceilings the cap changes nothing
    # parts without a measurement (every NVIDIA part today) carry 0: no cap
    assert build_step_model(model, resolve_precision(cat.get_recipe("fp8"), cat.get_hardware("H200")),
                            cat.get_hardware("H200"), Deployment(8, 8, 1),
                            load_efficiency("hopper")).max_achievable_flops_per_gpu == 0.0


def test_longer_context_never_raises_decode_throughput():
    """At fixed batch, decode throughput is non-increasing in context length (dense, sliding-window and MLA)."""
    ctx = np.linspace(128, 64_000, 50)
    for hw, model, prec in (("H200", "llama-3.1-8b", "fp8"), ("B300", "gpt-oss-120b", "mxfp4-moe"),
                            ("H200", "deepseek-v3", "fp8")):
        r = instance(hw, model, prec)
        rate = evaluate(r.step_model, "decode", np.full_like(ctx, 32.0), 1000.0, 1000.0,
                        context_tokens=ctx)["output_tokens_per_s_per_gpu"]
        assert np.all(np.diff(rate) <= 1e-9 * rate[:-1])


@pytest.mark.parametrize("mode", ["aggregated", "decode", "disaggregated"])
def test_operating_point_never_exceeds_memory(mode):
    """The chosen concurrency is within the memory limit and weights plus KV fit in usable HBM."""
    r = instance("H100", "llama-3.3-70b", "fp8")
    row = operating_point(r.step_model, mode, Workload(2000, 500))
    assert row["concurrency"] <= row["max_concurrency"]
    usable_gb = r.hardware.hbm_usable_gib * 2**30 / 1e9 * (1 - r.efficiency.workspace_fraction)
    assert r.step_model.weight_bytes_per_gpu / 1e9 + row["kv_cache_gb_per_gpu"] <= usable_gb + 1e-9


def test_slo_constrains_operating_point():
    """A per-user speed floor lowers the chosen batch and throughput, and the floor is met."""
    free = predict("H200", "llama-3.1-8b", "fp8", Workload(1000, 1000))
    slo = predict("H200", "llama-3.1-8b", "fp8", Workload(1000, 1000), slo=SLO(min_tokens_per_s_per_user=100))
    assert slo.meets_slo and slo.tokens_per_s_per_user >= 100
    assert slo.output_tokens_per_s_per_gpu < free.output_tokens_per_s_per_gpu
    assert slo.concurrency < free.concurrency


def test_pareto_frontier_is_monotone():
    """Along the frontier, faster per-user speed always costs throughput per GPU."""
    front = predict("B300", "llama-3.3-70b", "nvfp4", Workload(1000, 1000), pareto=True)
    assert len(front) > 3
    user = [p.tokens_per_s_per_user for p in front]
    gpu = [p.output_tokens_per_s_per_gpu for p in front]
    assert user == sorted(user, reverse=True) and gpu == sorted(gpu)


def test_speculative_decoding_raises_user_speed_in_memory_bound_decode():
    """Accepting 2.5 tokens per step from 3 drafts speeds each user up when decode is memory bound."""
    base = predict("H200", "llama-3.3-70b", "fp8", Workload(1000, 1000), mode="decode", concurrency=8, gpus=2)
    spec = predict("H200", "llama-3.3-70b", "fp8",
                   Workload(1000, 1000, speculative_draft_tokens=3, speculative_acceptance_length=2.5),
                   mode="decode", concurrency=8, gpus=2)
    assert base.bound == "memory"
    assert 1.5 < spec.tokens_per_s_per_user / base.tokens_per_s_per_user <= 2.5


def test_cache_hits_raise_prefill_throughput():
    """Serving half the input from the prefix cache raises input tokens per second in prefill."""
    cold = predict("H200", "llama-3.1-8b", "fp8", Workload(8000, 1), mode="prefill")
    warm = predict("H200", "llama-3.1-8b", "fp8", Workload(8000, 1, cache_hit_rate=0.5), mode="prefill")
    assert warm.input_tokens_per_s_per_gpu > 1.5 * cold.input_tokens_per_s_per_gpu


@pytest.mark.slow
def test_evaluate_is_vectorised_over_a_million_points():
    """One call evaluates 10^6 operating points and returns arrays of that shape."""
    r = instance("H200", "llama-3.3-70b", "fp8")
    rng = np.random.default_rng(0)
    b = rng.integers(1, 256, 1_000_000).astype(float)
    res = evaluate(r.step_model, "aggregated", b, rng.uniform(100, 8000, b.size), rng.uniform(50, 2000, b.size))
    assert res["output_tokens_per_s_per_gpu"].shape == (1_000_000,)
    assert np.all(np.isfinite(res["output_tokens_per_s_per_gpu"]))


def test_model_too_large_says_memory_needed():
    """405B in BF16 on one H100 is refused with the memory it needs per GPU."""
    with pytest.raises(UserError, match=r"does not fit on 1x H100: weights need [\d,.]+ GB per GPU"):
        predict("H100", "llama-3.1-405b", "bf16", Workload(1000, 1000), gpus=1)



# -- one batch search, the latency layout, the typed result, parameter-named errors -----------------------------------
_HEADER = ["hardware", "model", "precision", "kv_cache_precision", "compute_format", "weight_only", "mode", "gpus",
           "tp", "ep", "input_tokens", "output_tokens", "cache_hit_rate", "prefill_chunk_tokens",
           "weights_gb_per_gpu"]
_TAIL = ["max_concurrency", "bound", "concurrency", "fits", "kv_cache_gb_per_gpu", "output_tokens_per_s_per_gpu_low",
         "output_tokens_per_s_per_gpu_high", "input_tokens_per_s_per_gpu_low", "input_tokens_per_s_per_gpu_high"]
_RATES = ["output_tokens_per_s_per_gpu", "input_tokens_per_s_per_gpu", "tokens_per_s_per_user"]
_GPU_S = ["gpu_s_per_input_token", "gpu_s_per_output_token"]


@pytest.mark.parametrize("mode, keys", [
    ("aggregated", _HEADER + _RATES + ["ttft_s", "tpot_s"] + _GPU_S + _TAIL + ["meets_slo"]),
    ("decode", _HEADER + _RATES + ["ttft_s", "tpot_s"] + _GPU_S + _TAIL + ["meets_slo"]),
    ("prefill", _HEADER + _RATES + ["ttft_s", "tpot_s"] + _GPU_S + _TAIL + ["meets_slo"]),
    ("disaggregated", _HEADER + _RATES + ["tpot_s", "ttft_s"] + _GPU_S + ["prefill_gpu_share"] + _TAIL
     + ["meets_slo"]),
])
def test_prediction_to_dict_keeps_the_record_order(mode, keys):
    """predict returns a frozen Prediction whose to_dict is the `tokensim perf` record, keys in their order per mode;
    Pareto rows carry no meets_slo."""
    p = predict("H200", "llama-3.1-8b", "fp8", Workload(1000, 1000), mode=mode)
    keys = keys + ["speed_band", "envelope_rows", "envelope_layout_rows", "extrapolation"]  # the envelope, by predict
    keys += ["extrapolation_reason"] if p.extrapolation else []  # its reason, only outside the envelope
    assert list(p.to_dict()) == keys
    assert p.to_dict()["output_tokens_per_s_per_gpu"] == p.output_tokens_per_s_per_gpu
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.gpus = 3  # type: ignore[misc]
    if mode != "prefill":
        front = predict("H200", "llama-3.1-8b", "fp8", Workload(1000, 1000), mode=mode, pareto=True)
        assert list(front[0].to_dict()) == ([k for k in keys if k not in ("meets_slo", "extrapolation_reason")]
                                            + (["extrapolation_reason"] if front[0].extrapolation else []))


def test_batch_search_on_many_points_is_operating_point_on_each():
    """perf.batch_search over arrays of workloads and SLO floors picks, point by point, operating_point's batch."""
    r = instance("H200", "deepseek-v3", "fp8")
    l_in = np.array([300.0, 1000.0, 4000.0, 1000.0, 8000.0])
    floors = np.array([10.0, 40.0, 20.0, 400.0, 5.0])
    found = batch_search(r.step_model, "aggregated", l_in, 800.0, None, np.full(5, 0.3),
                         min_tokens_per_s_per_user=floors, kv_transfer_s_per_token=r.kv_transfer_s_per_token)
    for i in range(5):
        row = operating_point(r.step_model, "aggregated", Workload(l_in[i], 800.0, cache_hit_rate=0.3),
                              SLO(min_tokens_per_s_per_user=floors[i]), None, r.kv_transfer_s_per_token)
        assert row["meets_slo"] == found.meets_slo[i]
        assert row["concurrency"] == found.concurrency[i]
        if row["meets_slo"]:
            assert row["output_tokens_per_s_per_gpu"] == found.throughput[i]
    assert not found.meets_slo[3] and found.concurrency[3] == 1.0 and found.throughput[3] == 0.0


def test_latency_layout_is_tensor_parallel_on_the_same_gpus():
    """A MoE instance's latency layout keeps its GPUs with TP = GPUs (within the heads) and EP 1; dense models and
    instances without expert parallelism have none."""
    moe = instance("H200", "deepseek-v3", "fp8")
    alt = latency_layout(moe)
    assert alt is not None and moe.deployment.ep > 1
    assert (alt.deployment.gpus, alt.deployment.tp, alt.deployment.ep) == (moe.deployment.gpus,
                                                                           moe.deployment.gpus, 1)
    assert alt.step_model == instance("H200", "deepseek-v3", "fp8", gpus=moe.deployment.gpus,
                                      tp=moe.deployment.gpus, ep=1).step_model
    assert latency_layout(instance("H200", "llama-3.3-70b", "fp8")) is None
    assert latency_layout(alt) is None


def test_clients_beyond_the_memory_limit_wait_in_a_queue():
    """N clients where only C sequences fit: the engine serves C and queues N − C. Worked by hand from the C-sequence
    point (Little's law, closed loop): throughput per GPU is that point's; each request spends N/C times its service
    time T = TTFT + L_out·TPOT in the system, so TTFT grows by (N/C − 1)·T and per-user speed is C/N of the served
    one; TPOT is the served step's. Disaggregated pools: test_disaggregated_clients_split_by_littles_law."""
    w = Workload(8192, 1024)
    full = predict("B200", "deepseek-v3", "fp8", w, gpus=8, tp=8, ep=1, concurrency=100)
    limit = full.max_concurrency
    assert 100 < limit < 400  # ~83.9 GB of weights per GPU leave room for a few hundred 9k-token sequences
    n = int(2 * limit)
    at = predict("B200", "deepseek-v3", "fp8", w, gpus=8, tp=8, ep=1, concurrency=int(limit))
    got = predict("B200", "deepseek-v3", "fp8", w, gpus=8, tp=8, ep=1, concurrency=n)
    assert (got.concurrency, got.waiting_sequences, got.fits) == (limit, n - limit, True)
    assert at.waiting_sequences is None and "waiting_sequences" not in at.to_dict()
    assert got.output_tokens_per_s_per_gpu == pytest.approx(at.output_tokens_per_s_per_gpu, rel=1e-12)
    assert got.tpot_s == pytest.approx(at.tpot_s, rel=1e-12)
    assert got.tokens_per_s_per_user == pytest.approx(at.tokens_per_s_per_user * limit / n, rel=1e-12)
    service_s = at.ttft_s + 1024 * at.tpot_s
    assert got.ttft_s == pytest.approx(at.ttft_s + (n / limit - 1) * service_s, rel=1e-12)
    # an SLO the served point meets but the waiting clients do not
    floor = at.tokens_per_s_per_user * 0.75
    assert predict("B200", "deepseek-v3", "fp8", w, gpus=8, tp=8, ep=1, concurrency=int(limit),
                   slo=SLO(min_tokens_per_s_per_user=floor)).meets_slo
    assert not predict("B200", "deepseek-v3", "fp8", w, gpus=8, tp=8, ep=1, concurrency=n,
                       slo=SLO(min_tokens_per_s_per_user=floor)).meets_slo


def test_weights_offloaded_to_grace_memory_stream_over_the_host_link():
    """DeepSeek-R1 at NVFP4 experts on 2 GB200 (DEP2) needs ~201 GB of weights per GPU, more than the 186 GiB x 0.9
    left after the workspace. With offload_weights (vLLM's prefetching offloader) the weights beyond half of that
    usable memory sit in Grace LPDDR5X (240 GB per GPU: 480 GB per Grace, 2 GPUs) and stream over NVLink-C2C at
    225 GB/s per GPU every pass, beside the HBM reads: worked by hand, t_memory = max(HBM bytes / (2·8 TB/s·η_m),
    offloaded bytes / 225 GB/s). Hardware without a coherent host link refuses offloading; weights that fit are
    not offloaded."""
    args = ("GB200", "deepseek-r1", "fp4-experts-fp8")
    with pytest.raises(UserError, match=r"does not fit on 2x GB200.*or offload_weights"):
        predict(*args, Workload(2000, 2000), gpus=2, tp=1, ep=2, mode="prefill")
    r = instance(*args, gpus=2, tp=1, ep=2, offload_weights=True)
    sm, hw = r.step_model, r.hardware
    usable = 186 * 2**30 * (1 - r.efficiency.workspace_fraction)
    weights = (r.model.other_weight_params * r.precision.other_weight_bytes_per_param
               + r.model.routed_expert_params * r.precision.routed_expert_bytes_per_param / 2)
    assert weights > usable
    assert sm.offload_bytes_per_gpu == pytest.approx(weights - usable / 2, rel=1e-12)
    assert sm.weight_bytes_per_gpu == pytest.approx(usable / 2, rel=1e-12) and sm.fits_weights
    assert sm.offload_bytes_per_gpu <= hw.host_memory_gb_per_gpu * 1e9
    tokens = np.asarray(8192.0)
    got = core.prefill_pass(sm, tokens, np.asarray(2000.0), np.asarray(0.0))
    hbm_s = float(got["bytes"]) / (2 * 8.0e12 * r.efficiency.prefill.memory_efficiency)
    assert float(got["t_memory_s"]) == pytest.approx(max(hbm_s, sm.offload_bytes_per_gpu / 225e9), rel=1e-12)
    assert float(got["t_memory_s"]) > hbm_s  # the stream, not HBM, bounds the pass here
    p = predict(*args, Workload(2000, 2000), gpus=2, tp=1, ep=2, mode="prefill", offload_weights=True)
    assert p.offloaded_weights_gb_per_gpu == pytest.approx(sm.offload_bytes_per_gpu / 1e9, rel=1e-12)
    assert p.weights_gb_per_gpu == pytest.approx(usable / 2 / 1e9, rel=1e-12) and p.input_tokens_per_s_per_gpu > 0
    assert instance(*args, gpus=4, tp=1, ep=4, offload_weights=True).step_model.offload_bytes_per_gpu == 0.0
    with pytest.raises(UserError, match=r"^offload_weights B200 has no coherent host link"):
        instance("B200", "deepseek-r1", "fp4-experts-fp8", gpus=2, tp=1, ep=2, offload_weights=True)
    res = _run("--hardware", "GB200", "--model", "deepseek-r1", "--precision", "fp4-experts-fp8", "--input-tokens",
               "2000", "--output-tokens", "2000", "--gpus", "2", "--tp", "1", "--ep", "2", "--mode", "prefill",
               "--offload-weights", "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["offloaded_weights_gb_per_gpu"] == pytest.approx(p.offloaded_weights_gb_per_gpu)


def test_library_errors_name_parameters_not_flags():
    """perf's errors name the Python parameters (tp=2, field 'hardware'); `tokensim perf` shows its options."""
    with pytest.raises(UserError, match=r"^tp=2 must divide gpus=3$"):
        predict("H200", "llama-3.1-8b", "fp8", Workload(100, 100), gpus=3, tp=2)
    with pytest.raises(UserError, match=r"^ep=2: llama-3.1-8b is a dense model \(no experts\); allowed: ep=1$"):
        instance("H200", "llama-3.1-8b", "fp8", gpus=2, ep=2)
    with pytest.raises(UserError, match=r"^field 'hardware' got 'H2000'.*did you mean 'H200'"):
        instance("H2000", "llama-3.1-8b", "fp8")
    with pytest.raises(UserError, match=r"^field 'kv_cache_precision' got 'fp9'"):
        instance("H200", "llama-3.1-8b", "fp8", kv_cache_precision="fp9")
    with pytest.raises(UserError, match=r"^concurrency 4: not one sequence of this workload fits in memory"):
        predict("H200", "llama-3.1-8b", "fp8", Workload(5_000_000, 100), concurrency=4)
    with pytest.raises(UserError, match=r"use more gpus or a smaller precision$"):
        predict("H100", "llama-3.1-405b", "bf16", Workload(1000, 1000), gpus=1)
    base = ["--hardware", "H200", "--model", "llama-3.1-8b", "--precision", "fp8", "--output-tokens", "100",
            "--input-tokens", "100"]
    assert "field '--hardware' got 'H2000'" in _run(*base, "--hardware", "H2000").output
    assert "field '--kv-cache-precision' got 'fp9'" in _run(*base, "--kv-cache-precision", "fp9").output
    assert "--ep 2: llama-3.1-8b is a dense model (no experts); allowed: --ep 1" in _run(*base, "--gpus", "2",
                                                                                          "--ep", "2").output
    res = _run("--hardware", "H100", "--model", "llama-3.1-405b", "--precision", "bf16", "--output-tokens", "100",
               "--input-tokens", "100", "--gpus", "1")
    assert res.exit_code == 2 and "use more --gpus or a smaller precision" in res.output

# -- CLI -------------------------------------------------------------------------------------------------------------
REQUIRED_KEYS = {"output_tokens_per_s_per_gpu", "input_tokens_per_s_per_gpu", "tokens_per_s_per_user", "ttft_s",
                 "tpot_s", "concurrency", "gpus", "bound", "weights_gb_per_gpu", "kv_cache_gb_per_gpu", "fits",
                 "output_tokens_per_s_per_gpu_low", "output_tokens_per_s_per_gpu_high"}


def _run(*args):
    return CliRunner().invoke(cli, ["perf", *args])


@pytest.mark.parametrize("hardware", ["H100", "H200", "B300"])
def test_cli_json_keys_for_every_model(hardware):
    """`tokensim perf --format json` returns the documented keys for every catalogue model on H100, H200, B300."""
    for model in load_catalog().models.values():
        precision = "nvfp4" if hardware == "B300" else "fp8"
        res = _run("--hardware", hardware, "--model", model.name, "--precision", precision, "--input-tokens", "1000",
                   "--output-tokens", "1000", "--format", "json")
        assert res.exit_code == 0, (model.name, res.output)
        data = json.loads(res.stdout)  # stderr may carry the extrapolation note
        assert REQUIRED_KEYS <= set(data), model.name
        assert data["bound"] in ("compute", "memory", "communication")
        assert data["output_tokens_per_s_per_gpu_low"] < data["output_tokens_per_s_per_gpu"] \
            < data["output_tokens_per_s_per_gpu_high"]


def test_cli_pareto_is_a_list():
    """--pareto --format json prints a list of operating points with the same keys."""
    res = _run("--hardware", "H200", "--model", "llama-3.1-8b", "--precision", "fp8", "--input-tokens", "1000",
               "--output-tokens", "500", "--pareto", "--format", "json")
    assert res.exit_code == 0
    data = json.loads(res.stdout)
    assert isinstance(data, list) and REQUIRED_KEYS <= set(data[0])


def test_cli_decode_mode_with_context():
    """--mode decode --context-tokens L reports decode alone (no TTFT)."""
    res = _run("--hardware", "H200", "--model", "llama-3.1-8b", "--precision", "fp8", "--input-tokens", "1000",
               "--output-tokens", "1000", "--mode", "decode", "--context-tokens", "4000", "--format", "json")
    data = json.loads(res.stdout)
    assert res.exit_code == 0 and data["mode"] == "decode" and data["ttft_s"] is None


def test_cli_draft_tokens_without_acceptance_take_the_model_default():
    """`--speculative-draft-tokens 3` without an acceptance on DeepSeek-R1 predicts as with
    `--speculative-acceptance-length 2.82` (TensorRT-LLM tech blog 1, table 'Autoregressive MTP Layers': MTP 3,
    acceptance rate 2.82) and says so on stderr; a model without a sourced default needs the option (exit 2)."""
    base = ["--hardware", "B200", "--model", "deepseek-r1", "--precision", "fp8", "--input-tokens", "1024",
            "--output-tokens", "1024", "--gpus", "8", "--concurrency", "64", "--format", "json"]
    default = _run(*base, "--speculative-draft-tokens", "3")
    given = _run(*base, "--speculative-draft-tokens", "3", "--speculative-acceptance-length", "2.82")
    plain = _run(*base)
    assert default.exit_code == given.exit_code == plain.exit_code == 0, default.output
    out = json.loads(default.stdout)["output_tokens_per_s_per_gpu"]
    assert out == json.loads(given.stdout)["output_tokens_per_s_per_gpu"]
    assert out != json.loads(plain.stdout)["output_tokens_per_s_per_gpu"]
    assert "--speculative-acceptance-length 2.82: deepseek-v3's default for 3 draft tokens" in default.stderr
    res = _run(*base[:3], "glm-5.2", *base[4:], "--speculative-draft-tokens", "5")
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert ("--speculative-acceptance-length: required with --speculative-draft-tokens 5 for model 'glm-5.2'"
            in res.output and "allowed: a number in [1, 6]" in res.output)


@pytest.mark.parametrize("flag, value, wanted", [
    ("--hardware", "H2000", "did you mean 'H200'"),
    ("--model", "llama-3.3-7b", "did you mean 'llama-3.3-70b'"),
    ("--precision", "nvfp5", "did you mean 'nvfp4'"),
])
def test_cli_unknown_names_suggest(flag, value, wanted):
    """Unknown catalogue names exit 2 with the closest name suggested, and no traceback."""
    args = {"--hardware": "H200", "--model": "llama-3.1-8b", "--precision": "fp8"}
    args[flag] = value
    res = _run(*[x for kv in args.items() for x in kv], "--input-tokens", "100", "--output-tokens", "100")
    assert res.exit_code == 2
    assert wanted in res.output and "Traceback" not in res.output


def test_cli_bad_numbers_and_memory():
    """Out-of-range numbers and over-memory concurrency exit 2 naming the option and the limit."""
    base = ["--hardware", "H200", "--model", "llama-3.1-8b", "--precision", "fp8", "--output-tokens", "100"]
    res = _run(*base, "--input-tokens", "100", "--cache-hit-rate", "1.5")
    assert res.exit_code == 2 and "--cache-hit-rate" in res.output and "[0, 1]" in res.output
    res = _run(*base, "--input-tokens", "0")
    assert res.exit_code == 2 and "--input-tokens" in res.output
    res = _run(*base, "--input-tokens", "5000000", "--concurrency", "4")
    assert res.exit_code == 2 and "--concurrency 4: not one sequence" in res.output
    res = _run(*base, "--input-tokens", "100", "--concurrency", "10000000")  # served at the limit, the rest wait
    assert res.exit_code == 0 and "exceeds the memory limit" in res.stderr and "wait" in res.stderr
    res = _run(*base, "--input-tokens", "100", "--gpus", "3", "--tp", "2")
    assert res.exit_code == 2 and "--tp 2 must divide --gpus 3" in res.output


def test_efficiency_factors_are_sourced():
    """Every efficiency factor in the bundled calibration carries a source."""
    eff = load_efficiency("hopper")
    assert eff.sources and all(s for s in eff.sources.values())
    assert replace(eff, interval_level=0.8).interval_z == pytest.approx(1.2815515655446004)


# -- physics added with the calibration (docs/model-notes.md) --------------------------------------------------------
def test_ep_across_domains_sends_one_copy_per_remote_domain():
    """EP32 over four 8-GPU domains: a token crosses the NIC once per distinct remote domain, (D−1)(1−(1−1/D)^k).

    DeepSeek-V3 top-8 over D = 4 domains: 3·(1 − 0.75^8) = 2.6996 copies per token over the NIC, against 8·31/32 =
    7.75 copies over NVLink; per MoE layer the slower of the two links sets the time (they run in parallel).
    """
    hw = load_catalog().get_hardware("H100")
    model = load_catalog().get_model("deepseek-v3")
    prec = resolve_precision(load_catalog().get_recipe("fp8"), hw)
    eff = replace(IDEAL_EFF, prefill=replace(IDEAL, alltoall_latency_s=0.0),
                  decode=replace(IDEAL, alltoall_latency_s=0.0))
    sm = build_step_model(model, prec, hw, Deployment(32, 1, 32), eff)
    copies = 3 * (1 - 0.75 ** 8)
    assert sm.ep_scale_out_copies == pytest.approx(copies, rel=1e-12)
    tokens_per_gpu = 1000.0
    token_bytes = tokens_per_gpu * 7168 * (1 + 2)  # FP8 dispatch, BF16 combine
    t_up = token_bytes * 8 * 31 / 32 / 450e9
    t_out = token_bytes * copies / 50e9
    comm = core._comm_time(sm, np.array([tokens_per_gpu]), np.array([tokens_per_gpu]), eff.decode, np)
    # the busiest of 32 ranks (8 of the 256 experts each) receives 1 + 1.28·z(32)/sqrt(8) times the mean's copies
    busiest = 1 + 1.28 * scipy.stats.norm.ppf((32 - 0.375) / (32 + 0.25)) / math.sqrt(8)
    assert comm[0] == pytest.approx(58 * busiest * max(t_up, t_out), rel=1e-12)


def test_layer_and_sequence_overheads_add_to_the_step():
    """Per-layer and per-sequence costs add layers·c_layer + (B/DP)·c_seq to a step, nothing else changes."""
    hw = _hardware()
    prec = _fp8_weights_bf16_kv(hw)
    busy = replace(IDEAL, layer_overhead_s=1e-4, graph_layer_overhead_s=1e-4, sequence_overhead_s=1e-5)
    eff = replace(IDEAL_EFF, prefill=busy, decode=busy)
    plain = build_step_model(_tiny_dense(), prec, hw, Deployment(1, 1, 1), IDEAL_EFF)
    slow = build_step_model(_tiny_dense(), prec, hw, Deployment(1, 1, 1), eff)
    b, ctx = np.array([4.0]), np.array([100.0])
    extra = core.decode_step(slow, b, ctx)["t_step_s"] - core.decode_step(plain, b, ctx)["t_step_s"]
    assert extra[0] == pytest.approx(2 * 1e-4 + 4 * 1e-5, rel=1e-12)


def test_decode_steps_within_the_captured_batch_pay_the_graph_layer_cost():
    """A decode batch per DP group up to GRAPH_MAX_BATCH (256) replays a CUDA graph: layers·c_graph; above it the
    step runs eagerly: layers·c_layer. The tiny model has 2 layers; c_layer 1e-4 s, c_graph 1e-5 s."""
    hw = _hardware()
    prec = _fp8_weights_bf16_kv(hw)
    busy = replace(IDEAL, layer_overhead_s=1e-4, graph_layer_overhead_s=1e-5)
    eff = replace(IDEAL_EFF, prefill=busy, decode=busy)
    plain = build_step_model(_tiny_dense(), prec, hw, Deployment(1, 1, 1), IDEAL_EFF)
    slow = build_step_model(_tiny_dense(), prec, hw, Deployment(1, 1, 1), eff)
    b, ctx = np.array([4.0, 256.0, 257.0]), np.array([100.0, 100.0, 100.0])
    extra = core.decode_step(slow, b, ctx)["t_step_s"] - core.decode_step(plain, b, ctx)["t_step_s"]
    assert extra == pytest.approx([2e-5, 2e-5, 2e-4], rel=1e-12)
    assert replace(IDEAL, layer_overhead_s=3e-4).graph_layer_overhead_s == 0.0  # replace keeps the graph value
    assert PhaseEfficiency(**{**IDEAL.__dict__, "layer_overhead_s": 3e-4,
                              "graph_layer_overhead_s": None}).graph_layer_overhead_s == 3e-4  # None: same as eager


def test_decode_steps_pay_a_per_layer_cost_per_token_of_the_dp_group():
    """layer_token_overhead_s c adds layers · c · (tokens per step in one DP group) to a decode step: the tiny model
    (2 layers), c = 1e-7 s, batch 64 on 1 GPU: 2 · 64 · 1e-7 = 12.8 us; with 3 tokens per sequence per step
    (2 draft tokens) the verified tokens count: 38.4 us plus the draft passes' own cost, which it does not touch;
    prefill passes do not pay it."""
    hw = _hardware()
    prec = _fp8_weights_bf16_kv(hw)
    tok = replace(IDEAL, layer_token_overhead_s=1e-7)
    eff = replace(IDEAL_EFF, prefill=tok, decode=tok)
    b, ctx = np.array([64.0]), np.array([100.0])
    for drafts, want in ((0, 12.8e-6), (2, 38.4e-6)):
        wl = Workload(1, 1, speculative_draft_tokens=drafts, speculative_acceptance_length=1.0)
        plain = build_step_model(_tiny_dense(), prec, hw, Deployment(1, 1, 1), IDEAL_EFF, wl)
        slow = build_step_model(_tiny_dense(), prec, hw, Deployment(1, 1, 1), eff, wl)
        extra = core.decode_step(slow, b, ctx)["t_step_s"] - core.decode_step(plain, b, ctx)["t_step_s"]
        assert extra[0] == pytest.approx(want, rel=1e-12)
    args = (np.array([512.0]), np.array([512.0]), np.array([0.0]))
    assert core.prefill_pass(slow, *args)["t_step_s"][0] == core.prefill_pass(plain, *args)["t_step_s"][0]


def test_speculative_draft_passes_are_charged_by_hand():
    """Each of the s − 1 draft tokens runs the draft module once (one block shaped like the model's, a d x 2d
    projection and the output head; DeepSeek-V3 TR section 2.2), worked by hand on the tiny dense model, FP8 weights
    (1 byte), BF16 KV, ideal efficiencies, c_graph 1e-5 s, on the 100 TFLOP/s, 1 TB/s test GPU, batch 4 at context
    1,000:

    * params: attention 1024·1024 + 2·1024·256 + 1024·1024 = 2,621,440; norms 2·1024; FFN 3·1024·4096 = 12,582,912;
      projection 2·1024² = 2,097,152; head 1000·1024 = 1,024,000; sum 18,327,552;
    * bytes: 18,327,552 + KV of one layer 4 · 1,000 · (2·2·128 elements · 2 B) = 4,096,000 → 22,423,552 B = 22.42 us;
    * FLOPs 4 · (2·18,327,552 + 4096 · 1,000) = 1.63e8 → 1.6 us (below the memory time); no communication;
    * one pass 22.423552 us + 2 · 10 us; two drafts (s = 3): 84.847104 us. No drafts: 0.
    """
    hw = _hardware()
    prec = _fp8_weights_bf16_kv(hw)
    assert prec.other_weight_bytes_per_param == 1.0 and prec.kv_bytes_per_element == 2.0
    model = _tiny_dense()
    assert model.draft_pass_other_params == 18_327_552
    assert model.decode_attention_flops_per_context_token_per_layer == 4096
    graph = replace(IDEAL, graph_layer_overhead_s=1e-5)
    eff = replace(IDEAL_EFF, prefill=graph, decode=graph)
    b, ctx = np.array([4.0]), np.array([1000.0])
    for drafts, want in ((2, 84.847104e-6), (0, 0.0)):
        wl = Workload(1, 1, speculative_draft_tokens=drafts, speculative_acceptance_length=1.0)
        sm = build_step_model(model, prec, hw, Deployment(1, 1, 1), eff, wl)
        assert core.decode_step(sm, b, ctx)["t_draft_s"][0] == pytest.approx(want, rel=1e-12, abs=1e-18)


def test_expert_parallel_imbalance_stretches_the_routed_expert_work_by_hand():
    """DeepSeek-V3 FP8 on 8 H200, DEP8 and DTP8, batch 64 at context 2,000, decode: with ep_imbalance 1.5 the busiest
    EP rank does half again the mean rank's routed-expert work. Routed-expert FLOPs per token: 2 · 58 MoE layers ·
    top-8 · 3·7168·2048 = 40,869,298,176; the compute time grows by 0.5 · 64 · that / (8 · peak · η_c), the memory
    time by the busiest rank's untouched experts it now reads (at most all of them) / (8 · HBM · η_m). With ep = 1
    (experts tensor-parallel) nothing moves."""
    b, ctx = np.array([64.0]), np.array([2000.0])
    dep = perf.instance("H200", "deepseek-v3", "fp8", gpus=8, tp=1, ep=8).step_model
    assert dep.expert_flops_per_token == 2 * 58 * 8 * 3 * 7168 * 2048 == 40_869_298_176
    def stretched(sm):
        eff = replace(sm.efficiency, decode=replace(sm.efficiency.decode, ep_imbalance=1.5))
        return core.decode_step(replace(sm, efficiency=eff), b, ctx), core.decode_step(sm, b, ctx)
    assert dep.efficiency.decode.ep_imbalance >= 1.0
    base_eff = replace(dep.efficiency, decode=replace(dep.efficiency.decode, ep_imbalance=1.0))
    dep = replace(dep, efficiency=base_eff, expert_load_imbalance=1.0)
    hot, even = stretched(dep)
    phase = dep.efficiency.decode
    want_c = 0.5 * 64 * dep.expert_flops_per_token / (8 * dep.peak_flops_per_gpu * phase.compute_efficiency)
    touched = dep.moe_layers * core.touched_experts(dep.experts, dep.top_k, 64.0, np) * dep.expert_bytes
    # 64 tokens touch 256·(1 − (1 − 8/256)^64) = 222.4 experts per layer: 1.5x that passes all 256, so the busiest rank
    # reads all of its own experts, 256 − 222.4 more than the mean rank
    full = dep.moe_layers * 256 * dep.expert_bytes
    assert 1.5 * touched > full
    want_m = (full - touched) / (8 * dep.hbm_bytes_per_s_per_gpu * phase.memory_efficiency)
    assert hot["t_compute_s"][0] - even["t_compute_s"][0] == pytest.approx(want_c * (1 + dep.dequant_overhead),
                                                                            rel=1e-9)
    assert hot["t_memory_s"][0] - even["t_memory_s"][0] == pytest.approx(want_m, rel=1e-9)
    dtp = perf.instance("H200", "deepseek-v3", "fp8", gpus=8, tp=1, ep=1).step_model
    dtp = replace(dtp, efficiency=replace(dtp.efficiency, decode=replace(dtp.efficiency.decode, ep_imbalance=1.0)))
    hot, even = stretched(dtp)
    assert hot["t_step_s"][0] == even["t_step_s"][0]


def test_expert_load_imbalance_is_the_expected_busiest_rank_of_normal_expert_loads():
    """The busiest of R ranks holding E/R experts each, expert loads of spread c = 1.28 (0.15 with EPLB): 1 + c·z(R) /
    sqrt(E/R), z(R) Blom's expected maximum of R standard normals (scipy's quantile here, not the module's). EP32 over
    DeepSeek's 256 experts: 1.94 unbalanced, below the 2.56 TensorRT-LLM measured (tech blog 4, Table 1); with EPLB
    1.11, the same table's balanced figure. One rank, or a dense model, is even; the load never exceeds all of it on
    one rank."""
    from tokensim.perf._model import expert_load_imbalance

    def by_hand(experts, ranks, c):
        return 1 + c * scipy.stats.norm.ppf((ranks - 0.375) / (ranks + 0.25)) / math.sqrt(experts / ranks)

    for experts, ranks in ((256, 2), (256, 8), (256, 32), (384, 16), (128, 4)):
        assert expert_load_imbalance(experts, ranks) == pytest.approx(by_hand(experts, ranks, 1.28), rel=1e-9)
        assert expert_load_imbalance(experts, ranks, True) == pytest.approx(by_hand(experts, ranks, 0.15), rel=1e-9)
    assert expert_load_imbalance(256, 32) == pytest.approx(1.935, abs=1e-3)
    assert expert_load_imbalance(256, 32) < 2.56
    assert expert_load_imbalance(256, 32, True) == pytest.approx(1.11, abs=2e-3)
    assert expert_load_imbalance(256, 1) == expert_load_imbalance(0, 8) == 1.0
    # 8 experts over 8 ranks: one each, 1 + 1.28·1.42 = 2.82, under the cap of 8; 2 ranks of 1 expert: capped at 2
    assert expert_load_imbalance(8, 8) == pytest.approx(by_hand(8, 8, 1.28), rel=1e-9)
    assert expert_load_imbalance(2, 2) == pytest.approx(min(by_hand(2, 2, 1.28), 2.0), rel=1e-9)
    # the deployment carries it: EP8 and EPLB from the workload, none with the experts tensor-parallel (ep 1)
    wl = Workload(1000, 100, expert_load_balancing=True)
    assert perf.instance("H200", "deepseek-v3", "fp8", gpus=8, tp=1, ep=8).step_model.expert_load_imbalance == (
        pytest.approx(by_hand(256, 8, 1.28), rel=1e-9))
    assert perf.instance("H200", "deepseek-v3", "fp8", gpus=8, tp=1, ep=8, workload=wl).step_model \
        .expert_load_imbalance == pytest.approx(by_hand(256, 8, 0.15), rel=1e-9)
    assert perf.instance("H200", "deepseek-v3", "fp8", gpus=8, tp=1, ep=1).step_model.expert_load_imbalance == 1.0


def test_expert_load_imbalance_reads_no_weights_past_the_busiest_ranks_own_experts():
    """DEP8 DeepSeek-V3 decode: at 4 sequences the busiest rank touches more experts than the mean rank, so its weight
    reads grow with the imbalance (min((1 + x)·touched, all)); at 4,096 every expert is touched on every rank and the
    reads do not grow, while its routed-expert FLOPs still do (by x·B·expert FLOPs per token over the G GPUs)."""
    dep = perf.instance("H200", "deepseek-v3", "fp8", gpus=8, tp=1, ep=8).step_model
    x = dep.expert_load_imbalance - 1
    assert x > 0.3
    even = replace(dep, expert_load_imbalance=1.0)
    phase = dep.efficiency.decode
    for batch in (4.0, 4096.0):
        b, ctx = np.array([batch]), np.array([2000.0])
        hot, cold = core.decode_step(dep, b, ctx), core.decode_step(even, b, ctx)
        touched = dep.moe_layers * core.touched_experts(dep.experts, dep.top_k, batch, np) * dep.expert_bytes
        full = dep.moe_layers * dep.experts * dep.expert_bytes
        want_m = (min((1 + x) * touched, full) - touched) / (8 * dep.hbm_bytes_per_s_per_gpu * phase.memory_efficiency)
        assert hot["t_memory_s"][0] - cold["t_memory_s"][0] == pytest.approx(want_m, rel=1e-9, abs=1e-15)
        want_c = x * batch * dep.expert_flops_per_token * (1 + dep.dequant_overhead) / (
            8 * min(dep.peak_flops_per_gpu * phase.compute_efficiency,
                    dep.max_achievable_flops_per_gpu or math.inf))
        assert hot["t_compute_s"][0] - cold["t_compute_s"][0] == pytest.approx(want_c, rel=1e-9)
    assert touched == pytest.approx(full, rel=1e-9)  # at 4,096 sequences: no extra reads


def test_expert_load_balancing_from_the_cli_and_a_scenario():
    """``perf --expert-load-balancing`` and ``serving.expert_load_balancing: true`` reach the workload: a DEP8 decode
    of DeepSeek-R1 on B200 runs faster balanced, as :func:`perf.predict` with the flag; a dense model or ep 1 does
    not move; a scenario value other than true or false is refused naming the field."""
    from tokensim import ConfigError
    from tokensim.config.scenario import load_scenario
    from tokensim.resolve.perf import workload

    args = ["perf", "--hardware", "B200", "--model", "deepseek-r1", "--precision", "fp8", "--input-tokens", "8192",
            "--output-tokens", "1024", "--gpus", "8", "--tp", "1", "--ep", "8", "--concurrency", "256",
            "--format", "json"]
    runs = {flag: json.loads(CliRunner().invoke(cli, args + [flag]).output)
            for flag in ("--expert-load-balancing", "--no-expert-load-balancing")}
    balanced = perf.predict("B200", "deepseek-r1", "fp8", Workload(8192, 1024, expert_load_balancing=True),
                            gpus=8, tp=1, ep=8, concurrency=256)
    assert runs["--expert-load-balancing"]["output_tokens_per_s_per_gpu"] == pytest.approx(
        balanced.output_tokens_per_s_per_gpu, rel=1e-12)
    assert balanced.output_tokens_per_s_per_gpu > runs["--no-expert-load-balancing"]["output_tokens_per_s_per_gpu"]
    # the factor in force is printed: 1 + c·z(8)/sqrt(256/8), c = 0.15 balanced and 1.28 not
    z8 = scipy.stats.norm.ppf((8 - 0.375) / (8 + 0.25))
    assert runs["--expert-load-balancing"]["expert_load_imbalance"] == pytest.approx(1 + 0.15 * z8 / math.sqrt(32))
    assert runs["--no-expert-load-balancing"]["expert_load_imbalance"] == pytest.approx(1 + 1.28 * z8 / math.sqrt(32))
    assert "expert_load_imbalance" not in perf.predict("B200", "deepseek-r1", "fp8", Workload(8192, 1024), gpus=8,
                                                       tp=8, ep=1, concurrency=256).to_dict()
    for dense in (dict(model="llama-3.3-70b", gpus=8, tp=8), dict(model="deepseek-r1", gpus=8, tp=1, ep=1)):
        name = dense.pop("model")
        on, off = (perf.predict("B200", name, "fp8", Workload(1024, 1024, expert_load_balancing=v), concurrency=64,
                                **dense).output_tokens_per_s_per_gpu for v in (True, False))
        assert on == off
    s = load_scenario("b300-10k-cluster", ["serving.expert_load_balancing=true"])
    assert s.serving.expert_load_balancing and workload(s.serving).expert_load_balancing
    assert not load_scenario("b300-10k-cluster").serving.expert_load_balancing
    with pytest.raises(ConfigError, match=r"serving\.expert_load_balancing.*true or false"):
        load_scenario("b300-10k-cluster", ["serving.expert_load_balancing=3"])


def test_ep_exchange_pays_the_cheaper_of_the_low_latency_and_normal_kernels():
    """DeepSeek-V3 EP8 in one NVLink domain (H100): each dispatch and combine pays the low-latency kernels' 25 us up
    to 128 tokens per GPU and 25 us per 128 tokens beyond, or the normal kernels' fixed cost (here 300 us) where that
    is less; bandwidth terms unchanged.

    Per MoE layer (58): t tokens/GPU · 7168 · (1 + 2) bytes · 8 copies · 7/8 remote / 450 GB/s, + 2·fixed, with
    fixed = min(25 us · max(t / 128, 1), 300 us): 25 us at 8 and 128 tokens, 25.1953125 us at 129, 200 us at 1,024,
    250 us at 1,280, and 300 us at 1,664 (325 us for the low-latency kernels).
    """
    hw = load_catalog().get_hardware("H100")
    model = load_catalog().get_model("deepseek-v3")
    prec = resolve_precision(load_catalog().get_recipe("fp8"), hw)
    phase = replace(IDEAL, alltoall_latency_s=3e-4)
    sm = build_step_model(model, prec, hw, Deployment(8, 1, 8), replace(IDEAL_EFF, prefill=phase, decode=phase))
    assert sm.ep_scale_out_copies == 0.0
    t = np.array([8.0, 128.0, 129.0, 1024.0, 1280.0, 1664.0])
    # the busiest of 8 ranks (32 of the 256 experts each) receives 1 + 1.28·z(8)/sqrt(32) times the mean's copies
    busiest = 1 + 1.28 * scipy.stats.norm.ppf((8 - 0.375) / (8 + 0.25)) / math.sqrt(32)
    bw = busiest * t * 7168 * 3 * 8 * 7 / 8 / 450e9
    comm = core._comm_time(sm, t, t, phase, np)
    fixed = np.array([25e-6, 25e-6, 25.1953125e-6, 200e-6, 250e-6, 300e-6])
    assert comm == pytest.approx(58 * (bw + 2 * fixed), rel=1e-12)


def test_ep_exchange_across_domains_pays_the_scale_out_latency():
    """EP16 over two 8-GPU H100 domains: the low-latency kernels' latency is 50 us (RDMA) up to 128 tokens per GPU,
    so 100 us at 256 and 1,000 us (the normal kernels' cost here) from 2,560 on."""
    hw = load_catalog().get_hardware("H100")
    model = load_catalog().get_model("deepseek-v3")
    prec = resolve_precision(load_catalog().get_recipe("fp8"), hw)
    phase = replace(IDEAL, alltoall_latency_s=1e-3)
    sm = build_step_model(model, prec, hw, Deployment(16, 1, 16), replace(IDEAL_EFF, prefill=phase, decode=phase))
    assert sm.ep_scale_out_copies > 0.0
    assert core.ep_exchange_fixed_s(sm, np.array([1.0, 256.0, 5000.0]), phase, np) == pytest.approx(
        [50e-6, 100e-6, 1e-3], rel=1e-12)


def test_ep_exchange_low_latency_growth_is_the_phase_factor():
    """The low-latency kernels' growth past the 128-token buffer is the phase's ``ep_ll_token_latency_s`` (fitted
    since round 16), twice that across scale-up domains: at 1 us per token, by hand, 25 us at 100 tokens per GPU,
    25 + 1 x 72 = 97 us at 200 in one H100 domain (EP8), 50 + 2 x 72 = 194 us at 200 over two (EP16), and the normal
    kernels' 400 us where that is less (at 1,000 tokens: 897 us in one domain)."""
    cat = load_catalog()
    hw, model = cat.get_hardware("H100"), cat.get_model("deepseek-v3")
    prec = resolve_precision(cat.get_recipe("fp8"), hw)
    phase = replace(IDEAL, alltoall_latency_s=4e-4, ep_ll_token_latency_s=1e-6)
    eff = replace(IDEAL_EFF, prefill=phase, decode=phase)
    one = build_step_model(model, prec, hw, Deployment(8, 1, 8), eff)
    two = build_step_model(model, prec, hw, Deployment(16, 1, 16), eff)
    t = np.array([100.0, 200.0, 1000.0])
    assert core.ep_exchange_fixed_s(one, t, phase, np) == pytest.approx([25e-6, 97e-6, 4e-4], rel=1e-12)
    assert core.ep_exchange_fixed_s(two, t, phase, np) == pytest.approx([50e-6, 194e-6, 4e-4], rel=1e-12)


def test_ep_decode_step_has_no_step_at_the_low_latency_buffer():
    """A DeepSeek-R1 DEP16 decode pool on GB200 at the bundled factors, 2,048 -> 2,100 requests (128 -> 131.25
    tokens per GPU). Every term of the decode step is non-decreasing in the batch and grows at most in proportion
    to it (weights and fixed costs constant, touched experts sublinear, KV, FLOPs, per-token costs and the EP
    exchanges' latency past 128 tokens linear; both batches, 128 and 131 sequences per DP group, within the CUDA-graph
    capture size, so the per-layer cost is the same), so TPOT may grow by at most 2,100 / 2,048. Until round 15 the
    switch to the normal kernels at 129 tokens per GPU made it 2.7x."""
    w = Workload(1024, 1024)
    t = [predict("GB200", "deepseek-r1", "nvfp4", w, mode="disaggregated", prefill="1xDEP8", decode="1xDEP16",
                 concurrency=c).tpot_s for c in (2048, 2100)]
    assert 1.0 < t[1] / t[0] <= 2100 / 2048


def test_moe_slo_search_tries_the_tensor_parallel_layout():
    """Without an SLO a MoE model serves expert-parallel; a per-user floor EP cannot meet switches to TP on the GPUs."""
    w = Workload(1000, 1000)
    free = predict("H200", "deepseek-v3", "fp8", w)
    fast = predict("H200", "deepseek-v3", "fp8", w, slo=SLO(min_tokens_per_s_per_user=50))
    assert free.ep > 1 and free.tp == 1
    assert fast.meets_slo and fast.tokens_per_s_per_user >= 50
    assert fast.gpus == free.gpus and fast.tp == fast.gpus and fast.ep == 1


# -- deployments as people run them (issue 11, build 3) --------------------------------------------------------------
from tokensim._errors import ParameterError  # noqa: E402
from tokensim.perf import (  # noqa: E402
    Pool,
    candidate_deployments,
    layout_envelope,
    pareto_frontier,
    parse_pool,
    prefill_ttft_s,
    search_layout,
)
from tokensim.perf._model import _integer_pools  # noqa: E402

_DS = ("B300", "deepseek-v3", "nvfp4")
_W = Workload(1024, 1024, cache_hit_rate=0.563)


@pytest.mark.parametrize("text, pool", [
    ("3xTEP4", Pool(3, Deployment(4, 4, 4))),
    ("1xDEP32", Pool(1, Deployment(32, 1, 32))),
    ("TP8", Pool(1, Deployment(8, 8, 1))),
    (" 2 × dep16 ", Pool(2, Deployment(16, 1, 16))),
    ("11*TP2", Pool(11, Deployment(2, 2, 1))),
    ("?xTEP4", Pool(None, Deployment(4, 4, 4))),
    ("3xPP4", Pool(3, Deployment(4, 1, 1, pp=4))),
    ("pp2", Pool(1, Deployment(2, 1, 1, pp=2))),
])
def test_pool_syntax(text, pool):
    """N x KIND G: N instances (default 1) of G GPUs; TP = (G, G, 1), TEP = (G, G, G), DEP = (G, 1, G), PP = G
    one-GPU pipeline stages."""
    assert parse_pool(text) == pool
    assert parse_pool(pool.label) == pool
    assert pool.gpus == (None if pool.instances is None else pool.instances * pool.deployment.gpus)


@pytest.mark.parametrize("text", ["3xFOO4", "0xTP8", "TP0", "TP", "3x", "EP8", ""])
def test_pool_syntax_errors_name_the_parameter(text):
    with pytest.raises(ParameterError) as err:
        parse_pool(text, "decode")
    assert err.value.param == "decode" and str(err.value).startswith("decode ")


def _little_batch(n: float, pre_ttft_s: float, decode_s, x_pre: float = np.inf, limit: float = np.inf) -> float:
    """Oracle for the decode batch of ``n`` closed-loop clients per decode instance: the root of
    B − min(n·D(B) / (T + D(B)), x_pre·D(B), limit) on (0, n], bracketed and bisected by scipy's brentq (the model
    iterates the fixed point instead). ``decode_s(B)`` is D(B), a request's seconds of decoding at batch B."""
    from scipy.optimize import brentq

    def gap(b: float) -> float:
        d = decode_s(b)
        return b - min(n * d / (pre_ttft_s + d), x_pre * d, limit)

    return n if gap(n) <= 0 else float(brentq(gap, 1e-9, n, xtol=1e-13, rtol=1e-15))


def _decode_seconds(dec, w: Workload):
    """D(B) of the decode instance ``dec`` for workload ``w``: L_out x TPOT from evaluate's decode mode."""
    def decode_s(b: float) -> float:
        res = evaluate(dec.step_model, "decode", np.array([b]), w.input_tokens, w.output_tokens, w.context_tokens,
                       w.cache_hit_rate)
        return w.output_tokens * float(res["tpot_s"][0])
    return decode_s


def _pool_gpu_seconds(b: float) -> tuple[float, float, float]:
    """(L_new, p, d) for 3xTEP4-style prefill and DEP8 decode at decode batch ``b``: the uncached input tokens per
    request, and GPU-seconds per request of one TEP4 prefill instance and of the DEP8 decode instance, from evaluate's
    prefill and decode modes."""
    # built for the workload, as predict builds them (it names no engine: a typical engine's decode factors)
    pre = instance(*_DS, gpus=4, tp=4, ep=4, workload=_W)
    dec = instance(*_DS, gpus=8, tp=1, ep=8, workload=_W)
    l_new = 1024 * (1 - 0.563)
    p = float(evaluate(pre.step_model, "prefill", np.ones(1), 1024, 1024, None, 0.563)["gpu_s_per_input_token"][0]) \
        * l_new
    d = float(evaluate(dec.step_model, "decode", np.array([b]), 1024, 1024, None, 0.563)["gpu_s_per_output_token"][0]) \
        * 1024
    return l_new, p, d

def _pool_instances(w: Workload = _W):
    pre = instance(*_DS, gpus=4, tp=4, ep=4, workload=w)
    dec = instance(*_DS, gpus=8, tp=1, ep=8, workload=w)
    transfer = max(pre.kv_transfer_s_per_token, dec.kv_transfer_s_per_token)
    ttft = float(evaluate(pre.step_model, "prefill", np.ones(1), w.input_tokens, w.output_tokens, None,
                          w.cache_hit_rate)["ttft_s"][0]) + w.input_tokens * transfer
    return pre, dec, ttft


def test_fixed_pools_serve_at_the_slower_pools_rate_over_all_gpus():
    """3xTEP4 prefill + 1xDEP8 decode with 64 clients: the decode batch B is the clients decoding
    (:func:`_little_batch`; the prefill pool's rate x_p = 12/p requests/s for the one decode instance); per request the
    prefill pool spends
    p = (GPU-s per uncached input token of one TEP4 instance) x L_new and the decode pool d = (GPU-s per output token
    of the DEP8 instance at B) x L_out; the deployment serves min(12/p, 8/d) requests/s, and output tokens/s per
    GPU = that rate x L_out / 20 GPUs. The single-pool figures come from evaluate's prefill and decode modes."""
    _, dec, ttft = _pool_instances()
    p = _pool_gpu_seconds(1)[1]
    b = _little_batch(64, ttft, _decode_seconds(dec, _W), x_pre=12 / p)
    assert 60 < b < 64
    l_new, p, d = _pool_gpu_seconds(b)
    rate = min(12 / p, 8 / d)
    got = predict(*_DS, _W, prefill="3xTEP4", decode="1xDEP8", concurrency=64)
    assert got.concurrency == pytest.approx(b, rel=1e-9)
    assert got.prefill_sequences == pytest.approx(64 - b, rel=1e-6) and got.waiting_sequences is None
    assert got.mode == "disaggregated" and got.total_gpus == 20
    assert (got.prefill_pool, got.decode_pool) == ("3xTEP4", "1xDEP8")
    assert (got.gpus, got.tp, got.ep) == (8, 1, 8)
    assert got.output_tokens_per_s_per_gpu == pytest.approx(rate * 1024 / 20, rel=1e-12)
    assert got.bottleneck == ("prefill" if 12 / p < 8 / d else "decode")
    assert got.prefill_gpu_share == pytest.approx(12 / 20)
    # every GPU is charged: per request, L_new x GPU-s per input token + L_out x GPU-s per output token = 20 / rate
    assert l_new * got.gpu_s_per_input_token + 1024 * got.gpu_s_per_output_token == pytest.approx(20 / rate, rel=1e-12)


def test_pools_of_unknown_size_are_rate_matched():
    """?xTEP4 prefill + ?xDEP8 decode: the pools in the ratio of their GPU-seconds per request, so output tokens/s per
    GPU = L_out / (p + d) with p, d as in the fixed-pool test (the decode batch of 64 clients by Little's law, no
    prefill queue)."""
    _, dec, ttft = _pool_instances()
    b = _little_batch(64, ttft, _decode_seconds(dec, _W))
    l_new, p, d = _pool_gpu_seconds(b)
    got = predict(*_DS, _W, prefill="?xTEP4", decode="?xDEP8", concurrency=64)
    assert got.concurrency == pytest.approx(b, rel=1e-9)
    assert got.bottleneck == "balanced" and got.total_gpus is None
    assert got.output_tokens_per_s_per_gpu == pytest.approx(1024 / (p + d), rel=1e-12)
    assert got.prefill_gpu_share == pytest.approx(p / (p + d), rel=1e-12)


def test_adding_instances_to_the_bottleneck_pool_raises_throughput_to_the_other_pools_limit():
    """A prefill-heavy workload (8k in, 256 out): one TP2 prefill instance starves two TP8 decode instances; sixteen
    feed them faster than they decode."""
    w = Workload(8192, 256)
    one = predict(*_DS, w, prefill="1xTP2", decode="2xTP8", concurrency=128)
    many = predict(*_DS, w, prefill="16xTP2", decode="2xTP8", concurrency=128)
    assert one.bottleneck == "prefill" and many.bottleneck == "decode"
    assert many.output_tokens_per_s_per_gpu * many.total_gpus > one.output_tokens_per_s_per_gpu * one.total_gpus


def test_disaggregated_clients_split_by_littles_law():
    """N closed-loop clients per decode instance are not all decoding: a request spends T (prefill + KV transfer) on
    the prefill side and D(B) = L_out·TPOT(B) decoding, so by Little's law B = rate·D(B). Checked against the oracle
    root (:func:`_little_batch`) in the three regimes, with Little's identities: every client is somewhere
    (B + in prefill + waiting = N), the decode-bound rate is N / (T + D), the prefill-bound rate is the prefill pool's
    x_p and a request's time in the system is N / rate (TTFT = N / rate − D)."""
    w = Workload(8192, 1024)
    pre, dec = (instance(*_DS, gpus=8, tp=8, ep=8, workload=w), instance(*_DS, gpus=16, tp=1, ep=16, workload=w))
    transfer = max(pre.kv_transfer_s_per_token, dec.kv_transfer_s_per_token)
    pf = evaluate(pre.step_model, "prefill", np.ones(1), 8192, 1024, None, 0.0)
    t = float(pf["ttft_s"][0]) + 8192 * transfer
    x_p = 1.0 / (float(pf["gpu_s_per_input_token"][0]) * 8192 / 8)  # one TEP8 instance per DEP16 instance
    decode_s = _decode_seconds(dec, w)
    # decode-bound: 16 clients, a sliver of each one's cycle in prefill
    got = predict(*_DS, w, prefill="1xTEP8", decode="1xDEP16", concurrency=16)
    b = _little_batch(16, t, decode_s, x_pre=x_p)
    assert got.bottleneck == "decode" and got.concurrency == pytest.approx(b, rel=1e-9) and 15 < b < 16
    assert got.ttft_s == pytest.approx(t, rel=1e-12) and got.waiting_sequences is None
    assert b / decode_s(b) * (t + decode_s(b)) == pytest.approx(16, rel=1e-9)
    assert got.prefill_sequences == pytest.approx(16 - b, rel=1e-6)
    # prefill-bound: one prefill instance cannot admit 256 clients' requests; the rest queue for it
    got = predict(*_DS, w, prefill="1xTEP8", decode="1xDEP16", concurrency=256)
    b = _little_batch(256, t, decode_s, x_pre=x_p)
    assert got.bottleneck == "prefill" and got.concurrency == pytest.approx(b, rel=1e-9)
    assert b / decode_s(b) == pytest.approx(x_p, rel=1e-9)
    assert got.ttft_s == pytest.approx(256 / x_p - decode_s(b), rel=1e-9)
    assert got.prefill_sequences == pytest.approx(x_p * t, rel=1e-9)
    assert got.concurrency + got.prefill_sequences + got.waiting_sequences == pytest.approx(256, rel=1e-12)
    # memory-bound: sixteen prefill instances feed more clients than fit; the decode batch is the memory limit
    limit = float(np.floor(got.max_concurrency))
    got = predict(*_DS, w, prefill="16xTEP8", decode="1xDEP16", concurrency=int(3 * limit))
    assert got.concurrency == limit and got.waiting_sequences > 0
    rate = limit / decode_s(limit)
    assert got.ttft_s == pytest.approx(3 * limit / rate - decode_s(limit), rel=1e-9)


@pytest.mark.parametrize("prefill, decode, total", [
    ("11xTP2", "3xTEP4", 34),  # 22 prefill GPUs with 12 decode GPUs
    ("3xTEP4", "1xDEP32", 44),  # several TP4/TEP4 prefill instances with one 32-GPU DEP decode instance
])
def test_unequal_pools_run(prefill, decode, total):
    """Deployments refused before ("--tp 8 must divide --gpus 12") run, with the SLO searched over the decode batch."""
    got = predict(*_DS, _W, prefill=prefill, decode=decode, slo=SLO(min_tokens_per_s_per_user=20))
    assert got.total_gpus == total and got.output_tokens_per_s_per_gpu > 0 and got.bottleneck in ("prefill", "decode")


def test_pools_and_one_instance_do_not_mix():
    with pytest.raises(ParameterError, match=r"^gpus describes one instance"):
        predict(*_DS, _W, prefill="TP8", decode="TP8", gpus=8)
    with pytest.raises(ParameterError, match=r"^decode missing"):
        predict(*_DS, _W, prefill="TP8")
    with pytest.raises(ParameterError, match=r"^mode 'aggregated'"):
        predict(*_DS, _W, prefill="TP8", decode="TP8", mode="aggregated")
    with pytest.raises(ParameterError, match=r"^prefill TP1: .* does not fit"):
        predict(*_DS, _W, prefill="TP1", decode="TP8")


def test_dtp_layout_gathers_tokens_once_per_moe_layer():
    """gpus=8, tp=1, ep=1 on a MoE model is DTP8: attention data-parallel over 8 GPUs, every expert tensor-parallel
    over the 8 (TensorRT-LLM enable_attention_dp with moe_tensor_parallel_size 8; SGLang --enable-dp-attention --tp 8
    without --ep). Worked by hand: attention weights replicated, experts split 8 ways; per MoE layer an all-gather of
    the hidden states and a reduce-scatter of the partial sums, the bytes and fixed cost of one ring all-reduce of the
    instance's B tokens over 8 GPUs, 2·(7/8)·B·hidden·2 bytes per GPU over NVLink, with two collectives' fixed
    costs; no attention all-reduce (tp 1). So its decode communication is TP8's (2 all-reduces per layer) times
    moe_layers / (2·layers) plus one more fixed cost per MoE layer. A dense model with tp=1 on 8 GPUs stays 8 replicas
    with no exchange."""
    r = instance(*_DS, gpus=8, tp=1, ep=1)
    m, hw, eff, prec = r.model, r.hardware, r.efficiency.decode, r.precision
    assert (r.deployment.label, r.deployment.dp, r.step_model.dp) == ("DTP8", 8, 8)
    weights = (m.other_weight_params * prec.other_weight_bytes_per_param
               + m.routed_expert_params * prec.routed_expert_bytes_per_param / 8)
    assert r.step_model.weight_bytes_per_gpu == pytest.approx(weights, rel=1e-12)
    batch = 64.0
    per_layer_s = (2 * 7 / 8 * batch * m.hidden_size * 2 / (hw.scale_up_bandwidth_gb_per_s * 1e9)
                   / eff.network_efficiency + 2 * eff.collective_latency_s)
    want = (1 - eff.comm_overlap) * m.moe_layers * per_layer_s
    got = float(evaluate_step(r, batch))
    assert got == pytest.approx(want, rel=1e-12) and got > 0
    tp8 = instance(*_DS, gpus=8, ep=1)
    assert tp8.deployment.label == "TP8"
    extra_s = (1 - eff.comm_overlap) * m.moe_layers * eff.collective_latency_s
    assert got == pytest.approx(float(evaluate_step(tp8, batch)) * m.moe_layers / (2 * m.layers) + extra_s,
                                rel=1e-12)
    # attention TP2 inside 4 DP groups, experts TP8: 2·layers − moe_layers TP2 all-reduces of the group's B/4 tokens
    mixed = instance(*_DS, gpus=8, tp=2, ep=1)
    assert mixed.deployment.label == "8GPU-TP2-EP1"
    tp2_s = (2 * 1 / 2 * (batch / 4) * m.hidden_size * 2 / (hw.scale_up_bandwidth_gb_per_s * 1e9)
             / eff.network_efficiency + eff.collective_latency_s)
    want_mixed = (1 - eff.comm_overlap) * ((2 * m.layers - m.moe_layers) * tp2_s + m.moe_layers * per_layer_s)
    assert float(evaluate_step(mixed, batch)) == pytest.approx(want_mixed, rel=1e-12)
    dense = instance("H200", "llama-3.1-8b", "fp8", gpus=8, tp=1)
    assert dense.deployment.dp == 8 and float(evaluate_step(dense, batch)) == 0.0
    assert parse_pool("1xDTP8").deployment == Deployment(8, 1, 1)
    res = _run("--hardware", "B300", "--model", "deepseek-v3", "--precision", "nvfp4", "--input-tokens", "100",
               "--output-tokens", "100", "--gpus", "8", "--tp", "1", "--ep", "1", "--format", "json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)  # stderr may carry the extrapolation note
    assert (data["tp"], data["ep"], data["gpus"]) == (1, 1, 8)


def evaluate_step(r, batch):
    """Decode communication time of one step of ``r`` at ``batch`` sequences and a 2,000-token context."""
    return core.decode_step(r.step_model, np.asarray(batch), np.asarray(2000.0))["t_comm_s"]


def test_candidate_layouts_stay_in_the_nvlink_domain_unless_the_model_needs_more():
    cat = load_catalog()

    def sizes(hw, model, precision):
        h, m = cat.get_hardware(hw), cat.get_model(model)
        prec = resolve_precision(cat.get_recipe(precision), h)
        return {d.label for d in candidate_deployments(m, prec, h, load_efficiency(h.family))}

    # DeepSeek-V3 at NVFP4 on B300 (8-GPU HGX): weights ~ 380 GB need 2 or more of 288 GB GPUs
    # (DTP: attention data-parallel with every expert tensor-parallel; attention weights replicated still fit)
    assert sizes("B300", "deepseek-v3", "nvfp4") == {"TP2", "TEP2", "DEP2", "DTP2", "TP4", "TEP4", "DEP4", "DTP4",
                                                      "TP8", "TEP8", "DEP8", "DTP8"}
    # FP8 DeepSeek-V3 (~ 690 GB) does not fit on 8 H100s (80 GB): two and four HGX nodes over the scale-out network
    assert {int("".join(c for c in s if c.isdigit())) for s in sizes("H100", "deepseek-v3", "fp8")} == {16, 32}
    assert sizes("H200", "llama-3.1-8b", "fp8") == {"TP1", "TP2", "TP4", "TP8"}


def test_layout_search_is_never_worse_than_any_candidate_or_the_old_choice():
    """The search's point serves at least as much within the SLO as each candidate layout's own operating point, and
    as the default instance with its latency layout (predict without search)."""
    slo = SLO(min_tokens_per_s_per_user=50)
    best = search_layout(*_DS, _W, mode="aggregated", slo=slo)
    assert best.row["meets_slo"] and best.tried == 12  # 4 kinds x 3 sizes
    cat = load_catalog()
    h, m = cat.get_hardware("B300"), cat.get_model("deepseek-v3")
    prec = resolve_precision(cat.get_recipe("nvfp4"), h)
    for dep in candidate_deployments(m, prec, h, load_efficiency(h.family)):
        r = instance(*_DS, gpus=dep.gpus, tp=dep.tp, ep=dep.ep)
        row = operating_point(r.step_model, "aggregated", _W, slo)
        assert not row["meets_slo"] or row["output_tokens_per_s_per_gpu"] <= best.row["output_tokens_per_s_per_gpu"]
    old = predict(*_DS, _W, slo=slo)
    new = predict(*_DS, _W, slo=slo, search=True)
    assert new.meets_slo and new.output_tokens_per_s_per_gpu >= old.output_tokens_per_s_per_gpu
    assert new.layout is not None and old.layout is None


def test_search_does_not_run_when_a_layout_is_given():
    w, slo = _W, SLO(min_tokens_per_s_per_user=50)
    assert predict(*_DS, w, slo=slo, gpus=4, search=True) == predict(*_DS, w, slo=slo, gpus=4)
    with pytest.raises(ParameterError, match=r"^mode 'auto'"):
        predict(*_DS, w, mode="auto")


def test_pipeline_stages_split_weights_and_cache_and_price_prefill_as_one_stage_holding_the_model():
    """A PP4 instance (four one-GPU stages) holds a quarter of the weights and of each sequence's KV cache per GPU:
    the one-GPU instance's weights and cache over 4. In steady state each stage works on another request, so its
    prefill pass, GPU-seconds per input token and TTFT equal those of one GPU running every layer (the same arithmetic
    on the same scalars): an unchunked prefill passes the stages one after the other."""
    one = instance(*_DS, gpus=1, tp=1, ep=1).step_model
    pp = _instance_of_pool("PP4").step_model
    assert pp.weight_bytes_per_gpu == pytest.approx(one.weight_bytes_per_gpu / 4, rel=1e-12)
    assert (pp.gpus, pp.tp, pp.dp, pp.ep) == (1, 1, 1, 1)
    ctx = np.array([131072.0])
    assert core.kv_bytes_per_sequence_per_gpu(pp, ctx, np) == pytest.approx(
        core.cache_bytes_per_sequence(one, ctx, np) / 4, rel=1e-12)
    args = (np.ones(1), 65536, 1024, None, 0.0)
    for key in ("gpu_s_per_input_token", "ttft_s"):
        assert evaluate(pp, "prefill", *args)[key][0] == pytest.approx(evaluate(one, "prefill", *args)[key][0],
                                                                      rel=1e-12)
    assert not one.fits_weights and pp.fits_weights  # 1 B300 cannot hold DeepSeek-V3 at NVFP4; four stages can


def _instance_of_pool(text: str, workload: Workload = _W):
    from tokensim.perf._model import _instance_of, _resolve

    mdl, hw, recipe, prec, eff = _resolve(*_DS, None, None)
    return _instance_of(mdl, hw, recipe, prec, eff, parse_pool(text).deployment, workload)


def test_pipeline_prefill_pool_serves_at_the_slower_pools_rate():
    """3xPP4 prefill + 1xDEP8 decode: per request the prefill pool spends (GPU-s per input token of one GPU running
    every layer) x L_new, so at a fixed decode batch the deployment serves min(12/p, 8/d) requests/s over 20 GPUs (as
    the TEP4 pool test), and its TTFT is the one-GPU pass plus the KV transfer, which the four stages send over their
    four NICs at once (a quarter of the one-GPU instance's time per token) unless the decode side is slower."""
    l_new = 1024 * (1 - 0.563)
    one = instance(*_DS, gpus=1, tp=1, ep=1)
    pf = evaluate(one.step_model, "prefill", np.ones(1), 1024, 1024, None, 0.563)
    p = float(pf["gpu_s_per_input_token"][0]) * l_new
    dec = instance(*_DS, gpus=8, tp=1, ep=8)
    transfer = max(one.kv_transfer_s_per_token / 4, dec.kv_transfer_s_per_token)
    ttft = float(pf["ttft_s"][0]) + 1024 * transfer
    b = _little_batch(64, ttft, _decode_seconds(instance(*_DS, gpus=8, tp=1, ep=8, workload=_W), _W),
                      x_pre=12 / p)
    _, _, d = _pool_gpu_seconds(b)
    got = predict(*_DS, _W, prefill="3xPP4", decode="1xDEP8", concurrency=64)
    assert got.total_gpus == 20 and got.prefill_pool == "3xPP4"
    assert got.output_tokens_per_s_per_gpu == pytest.approx(min(12 / p, 8 / d) * 1024 / 20, rel=1e-9)
    assert got.ttft_s == pytest.approx(ttft, rel=1e-12)


def _flow_shop_makespan(stage_times: list[float], stages: int) -> float:
    """Oracle: the last job's completion on the last of ``stages`` machines, jobs in order, each job j taking
    stage_times[j] on every machine (C(j, s) = max(C(j - 1, s), C(j, s - 1)) + p_j), simulated cell by cell."""
    done = np.zeros((len(stage_times) + 1, stages + 1))
    for j, p in enumerate(stage_times, start=1):
        for s in range(1, stages + 1):
            done[j, s] = max(done[j - 1, s], done[j, s - 1]) + p
    return float(done[-1, -1])


@pytest.mark.parametrize("prompt, chunk, hit", [(65536, 8192, 0.0), (60000, 8192, 0.0), (131072, 32000, 0.0),
                                                (100000, 8192, 0.3)])
def test_chunked_prefill_pipelines_across_stages(prompt, chunk, hit):
    """On a PP4 pool a chunked prompt's chunks overlap across the four stages: the TTFT is the simulated pipeline's
    last completion, each chunk (its own size and cached prefix, the last one partial where the chunk does not divide
    the prompt) spending a quarter of its one-stage pass on each stage. Well below the chunks one after another."""
    w = Workload(prompt, 1024, cache_hit_rate=hit, prefill_chunk_tokens=chunk)
    pool = _instance_of_pool("PP4", w)
    sm = pool.step_model
    new = max(prompt * (1 - hit), 1.0)
    starts = np.arange(0.0, new, chunk)
    sizes = np.minimum(chunk, new - starts)
    t = [float(core.prefill_pass(sm, np.asarray(n), np.asarray(n), np.asarray(prompt - new + s))["t_step_s"])
         for s, n in zip(starts, sizes, strict=True)]
    assert prefill_ttft_s(pool, w) == pytest.approx(_flow_shop_makespan([x / 4 for x in t], 4), rel=1e-12)
    assert prefill_ttft_s(pool, w) < 0.6 * sum(t)


def test_unchunked_prefill_is_one_pass_and_the_chunk_size_is_the_workloads():
    """prefill_chunk_tokens 0 runs the whole uncached prompt in one pass (the instance's chunk is the request's new
    tokens), so a PP4 pool's TTFT is that pass on one stage's GPUs; None keeps the calibration's chunk (8192 in
    configs/calibration.yaml)."""
    w = Workload(128000, 8000, cache_hit_rate=0.25, prefill_chunk_tokens=0)
    pool = _instance_of_pool("PP4", w)
    assert pool.step_model.efficiency.prefill_chunk_tokens == 96000
    one = core.prefill_pass(pool.step_model, np.asarray(96000.0), np.asarray(96000.0), np.asarray(32000.0))
    assert prefill_ttft_s(pool, w) == pytest.approx(float(one["t_step_s"]), rel=1e-12)
    assert _instance_of_pool("PP4").step_model.efficiency.prefill_chunk_tokens == 8192
    got = predict(*_DS, w, prefill="1xPP4", decode="1xTP4", concurrency=1)
    dec = instance(*_DS, gpus=4, tp=4, ep=1, workload=w)
    transfer = max(pool.kv_transfer_s_per_token, dec.kv_transfer_s_per_token)
    assert got.ttft_s == pytest.approx(float(one["t_step_s"]) + 128000 * transfer, rel=1e-12)


def test_prefill_chunk_option_is_checked():
    runner = CliRunner()
    base = ["perf", "--hardware", "B300", "--model", "deepseek-v3", "--precision", "nvfp4", "--input-tokens", "8192",
            "--output-tokens", "1024"]
    out = runner.invoke(cli, [*base, "--prefill-chunk-tokens", "1.5"])
    assert out.exit_code == 2 and "--prefill-chunk-tokens" in out.output and "whole number" in out.output
    out = runner.invoke(cli, [*base, "--prefill-chunk-tokens", "-1"])
    assert out.exit_code == 2 and "--prefill-chunk-tokens" in out.output and "Traceback" not in out.output


def test_pipeline_parallel_is_refused_where_it_cannot_serve():
    """PP serves prefill pools only (a decode token would pass every stage in turn); stages need a layer each."""
    with pytest.raises(ParameterError, match=r"^decode 1xPP4: pipeline parallel \(PP\) serves prefill pools only"):
        predict(*_DS, _W, prefill="1xPP4", decode="1xPP4")
    with pytest.raises(ParameterError, match=r"^prefill 1xPP64: pp=64 exceeds the 61 layers of deepseek-v3"):
        predict(*_DS, _W, prefill="1xPP64", decode="1xDEP8")
    runner = CliRunner()
    out = runner.invoke(cli, ["perf", "--hardware", "B300", "--model", "deepseek-v3", "--precision", "nvfp4",
                              "--input-tokens", "8192", "--output-tokens", "1024", "--prefill", "2xPP4", "--decode",
                              "1xPP4"])
    assert out.exit_code == 2 and "--decode 1xPP4: pipeline parallel (PP) serves prefill pools only" in out.output


def test_integer_pools_closed_form():
    """Prefill share 0.25 of GPU time, TP2 prefill and TP8 decode instances: 1 decode instance takes round(8/3/2) = 1
    prefill instance, min(2/0.25, 8/0.75)/10 = 80% of the rate-matched rate per GPU; 2 take round(16/3/2) = 3,
    min(6/0.25, 16/0.75)/22 = 97%: the first at least 95%."""
    assert _integer_pools(Deployment(2, 2, 1), Deployment(8, 8, 1), 0.25) == (3, 2)
    assert _integer_pools(Deployment(8, 8, 1), Deployment(8, 8, 1), 0.5) == (1, 1)


def test_layout_envelope_dominates_every_layouts_frontier():
    env = layout_envelope(*_DS, _W)
    speeds = [p.tokens_per_s_per_user for p in env]
    rates = [p.output_tokens_per_s_per_gpu for p in env]
    assert speeds == sorted(speeds, reverse=True) and rates == sorted(rates)
    assert len({p.layout for p in env}) > 1
    r = instance(*_DS)  # the default (expert-parallel) instance: its frontier is under the envelope
    for point in pareto_frontier(r.step_model, "aggregated", _W, r.kv_transfer_s_per_token):
        assert any(p.tokens_per_s_per_user >= point["tokens_per_s_per_user"]
                   and p.output_tokens_per_s_per_gpu >= point["output_tokens_per_s_per_gpu"] for p in env)


def test_cli_pools_report_where_the_clients_are():
    """--concurrency with pools is clients per decode instance: the JSON's decode batch, clients in prefill and
    waiting add up to it, and when the prefill pool limits the rate stderr says how many wait for it."""
    base = ("--hardware", "B200", "--model", "deepseek-r1", "--precision", "nvfp4", "--input-tokens", "8192",
            "--output-tokens", "1024", "--prefill", "1xTEP8", "--decode", "1xDEP16", "--format", "json")
    res = _run(*base, "--concurrency", "256")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["bottleneck"] == "prefill"
    assert data["concurrency"] + data["prefill_sequences"] + data["waiting_sequences"] == pytest.approx(256)
    assert "of --concurrency 256 clients per decode instance" in res.stderr and "prefill pool's rate" in res.stderr
    res = _run(*base, "--concurrency", "16")
    data = json.loads(res.stdout)
    assert "waiting_sequences" not in data and data["concurrency"] + data["prefill_sequences"] == pytest.approx(16)
    assert "clients per decode instance" not in res.stderr


def test_cli_pools_and_search():
    base = ("--hardware", "B300", "--model", "deepseek-v3", "--precision", "nvfp4", "--input-tokens", "1024",
            "--output-tokens", "1024", "--cache-hit-rate", "0.563", "--min-tokens-per-s-per-user", "20",
            "--format", "json")
    res = _run(*base, "--prefill", "3xTEP4", "--decode", "1xDEP32")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["mode"] == "disaggregated" and data["total_gpus"] == 44 and data["decode_pool"] == "1xDEP32"
    res = _run(*base, "--prefill", "3xTEP4")
    assert res.exit_code == 2 and "--decode missing" in res.output
    res = _run(*base, "--prefill", "3xFOO4", "--decode", "TP8")
    assert res.exit_code == 2 and "--prefill '3xFOO4': allowed: [N x] KIND G" in res.output
    searched = json.loads(_run(*base).stdout)
    single = json.loads(_run(*base, "--no-search").stdout)
    assert "layout" in searched and "layout" not in single
    assert searched["output_tokens_per_s_per_gpu"] >= single["output_tokens_per_s_per_gpu"]


def test_perf_without_a_speed_target_says_so():
    """Issue 16: with no SLO and no concurrency, perf reports the maximum-throughput point (a few tokens/s per user
    for DeepSeek V3 on B300) and now says so on stderr and in the table title; with a target it says nothing."""
    from click.testing import CliRunner

    from tokensim.cli import cli

    args = ["perf", "--hardware", "B300", "--model", "deepseek-v3", "--precision", "fp8", "--input-tokens", "1024",
            "--output-tokens", "1024"]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.stderr
    assert "note: no speed target: this is the maximum-throughput point" in res.stderr
    assert "no speed target" in res.stdout
    slo = CliRunner().invoke(cli, [*args, "--min-tokens-per-s-per-user", "50"])
    assert slo.exit_code == 0 and "no speed target" not in slo.stderr + slo.stdout


def test_a_prompt_served_wholly_from_the_prefix_cache_is_finite():
    """Issue 12 (slow fuzz): perf --cache-hit-rate 1 divided by zero (1 - h) in the prefill rate. An engine still
    computes the last prompt token on a full hit (the model counts at least one uncached token), so input tokens/s
    is the uncached rate x input tokens / 1: finite, and above the rate at h = 0.9 (fewer new tokens per request)."""
    import warnings

    from tokensim import Workload, predict

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        full = predict("B300", "deepseek-v3", "fp8", Workload(1024, 1024, cache_hit_rate=1.0), mode="prefill")
        most = predict("B300", "deepseek-v3", "fp8", Workload(1024, 1024, cache_hit_rate=0.9), mode="prefill")
    assert np.isfinite(full.input_tokens_per_s_per_gpu) and full.input_tokens_per_s_per_gpu > 0
    assert full.input_tokens_per_s_per_gpu > most.input_tokens_per_s_per_gpu
