"""Attention-FFN disaggregation (perf._afd): StepFun Step-3's deployment, checked against hand counts and the figures
the Step-3 system report (arXiv:2507.19427v1) and StepMesh's documentation publish."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from tokensim import UserError
from tokensim.cli import cli
from tokensim.config.catalog import load_catalog
from tokensim.perf import _core as core
from tokensim.perf._afd import AfdPool, afd_decode_step, parse_afd
from tokensim.perf._model import SLO, Workload, _resolve, build_afd_step_models, predict
from tokensim.perf.validate import load_measurements, plan_measurement, predict_measurement

STEP3 = load_catalog().get_model("step-3")


def _sides(pool_text="2xA8+2xF8", hardware="H800", kv=None):
    mdl, hw, _recipe, prec, eff = _resolve(hardware, "step-3", "fp8", kv, None)
    pool = parse_afd(pool_text)
    return (*build_afd_step_models(mdl, prec, hw, pool, eff), pool, hw, eff)


def test_step3_shape_matches_the_papers_per_token_counts():
    """The catalogue's Step-3 (MFA: low-rank query 7168 -> 2048 -> 64 x 256, one shared K and one V head of 256)
    reproduces the report's Table 2/3 row: linear parts around attention 2.07e10 FLOPs and FFN 5.33e10 FLOPs per
    decoded token, KV 2.56e8 bytes and attention core 3.27e10 FLOPs at 8K context (FP8 KV, 512 bytes per token per
    layer, section 6)."""
    h = 7168
    by_hand = h * 2048 + 2048 + 2048 * 64 * 256 + 2 * h * 256 + 64 * 256 * h  # q down, norm, q up, k, v, o
    assert STEP3.attention_params_per_layer == by_hand == 169_347_072
    assert 2 * by_hand * 61 == pytest.approx(2.07e10, rel=0.005)
    ffn = 2 * (STEP3.ffn_other_weight_params + 56 * 3 * STEP3.params_per_routed_expert)
    assert ffn == pytest.approx(5.33e10, rel=0.005)
    assert STEP3.kv_elements_per_token_per_layer == 512
    assert 8192 * 61 * 512 == pytest.approx(2.56e8, rel=0.005)
    assert STEP3.decode_attention_flops_per_context_token_per_layer * 8192 * 61 == pytest.approx(3.27e10, rel=0.005)


def test_afd_text_parses_and_refuses_what_is_not_a_deployment():
    pool = parse_afd(" 2 x a8 + 2X F8 ")
    assert pool == AfdPool(2, 8, 2, 8) and pool.label == "2xA8+2xF8"
    assert (pool.attention_gpus, pool.ffn_gpus, pool.gpus) == (16, 16, 32)
    for bad in ("2xA8", "2xA8+F", "0xA8+2xF8", "2xA0+2xF8"):
        with pytest.raises(UserError, match="^decode "):
            parse_afd(bad)


def test_the_two_sides_hold_the_model_between_them():
    """The attention GPU holds every weight but the FFNs; the FFN GPUs hold the routed experts once and the dense FFNs
    and shared experts once per FFN instance (tensor-parallel inside it): together the model, plus the FFN-side
    copies. The attention side has no experts and the FFN side no KV cache."""
    att, ffn, pool, _hw, _eff = _sides()
    _, _, _, prec, _ = _resolve("H800", "step-3", "fp8", None, None)
    other, routed = prec.other_weight_bytes_per_param, prec.routed_expert_bytes_per_param
    total = STEP3.other_weight_params * other + STEP3.routed_expert_params * routed
    copies = (pool.ffn_instances - 1) * STEP3.ffn_other_weight_params * other
    assert att.weight_bytes_per_gpu + ffn.weight_bytes_per_gpu * pool.ffn_gpus == pytest.approx(total + copies)
    assert (att.experts, att.moe_layers, att.expert_flops_per_token) == (0, 0, 0.0)
    assert (ffn.kv_bytes_per_token_layer, ffn.decode_attn_flops_per_ctx_token_layer) == (0.0, 0.0)
    assert (ffn.gpus, ffn.tp, ffn.ep) == (16, 8, 2)


def test_stage_times_by_hand_for_2a2f():
    """2A2F at 128 sequences per attention GPU per micro-batch (StepMesh's 'batch size 128'), 4,096 context:

    * transfer: per FFN GPU 2 x 128 tokens in (FP8) and out (BF16), 2 x 128 x 7168 x (1 + 2) bytes, as StepMesh's
      Introduction.md gives for 2A2F (A2F 2x128x7168x1 B, F2A 2x128x7168x2 B), over the NIC at the network efficiency,
      plus the 50 us fan-out latency each way;
    * attention: the attention GPU's bytes (its weights less the embedding table, and 128 x 4,096 x 61 x 512 B of KV)
      at the memory efficiency, per layer, plus the graph-mode layer cost and 128 x the per-token layer cost;
    * a layer takes 3 x the slowest stage (three micro-batches), the step 61 of them plus the fixed costs."""
    att, ffn, pool, hw, eff = _sides()
    d = eff.decode
    step = afd_decode_step(att, ffn, pool, np.array([384.0]), np.array([4096.0]))
    transfer = 2 * 128 * 7168 * 3 / (hw.scale_out_bandwidth_gb_per_s * 1e9) / d.network_efficiency + 2 * 50e-6
    assert float(step["t_transfer_s"][0]) == pytest.approx(transfer, rel=1e-9)
    att_bytes = ((STEP3.streamed_other_weight_params - STEP3.ffn_other_weight_params) * 1.0
                 + 128 * 4096 * 61 * 512)
    memory = att_bytes / (hw.hbm_bandwidth_tb_per_s * 1e12 * d.memory_efficiency) / 61
    attention = memory + d.graph_layer_overhead_s + 128 * d.layer_token_overhead_s
    assert float(step["t_attention_s"][0]) == pytest.approx(attention, rel=1e-9)
    stages = [float(step[k][0]) for k in ("t_attention_s", "t_transfer_s", "t_ffn_s")]
    per_layer = max(3 * max(stages), sum(stages))
    assert float(step["t_step_s"][0]) == pytest.approx(61 * per_layer + d.step_overhead_s
                                                       + 384 * d.sequence_overhead_s, rel=1e-12)


def test_one_micro_batch_runs_the_stages_in_a_row_and_more_overlap_them():
    att, ffn, pool, _hw, eff = _sides()
    d = eff.decode
    one = afd_decode_step(att, ffn, pool, np.array([128.0]), np.array([4096.0]), micro_batches=1)
    row = sum(float(one[k][0]) for k in ("t_attention_s", "t_transfer_s", "t_ffn_s"))
    assert float(one["t_step_s"][0]) == pytest.approx(61 * row + d.step_overhead_s + 128 * d.sequence_overhead_s)
    # the same 128 sequences per micro-batch in three micro-batches: three times the tokens in less than three times
    three = afd_decode_step(att, ffn, pool, np.array([384.0]), np.array([4096.0]))
    assert float(one["t_step_s"][0]) < float(three["t_step_s"][0]) < 3 * float(one["t_step_s"][0])


def test_afd_tensor_parallel_ffn_traffic_falls_with_faster_nvlink():
    """The FFN instance's all-gather and reduce-scatter ride NVLink: H800's link (200 GB/s each way) makes the FFN
    stage slower than H100's (450 GB/s) with everything else equal; a one-GPU FFN instance has none."""
    h800 = _sides("2xA8+2xF8", "H800")
    h100 = _sides("2xA8+2xF8", "H100")
    args = (np.array([384.0]), np.array([4096.0]))
    slow = afd_decode_step(*h800[:3], *args)["t_ffn_s"][0]
    fast = afd_decode_step(*h100[:3], *args)["t_ffn_s"][0]
    assert slow > fast
    att, ffn, pool, _hw, _eff = h800
    no_link = afd_decode_step(att, replace(ffn, tp_seconds_per_byte=0.0), pool, *args)["t_ffn_s"][0]
    single = _sides("2xA8+16xF1", "H800")
    assert afd_decode_step(*single[:3], *args)["t_ffn_s"][0] > 0 and no_link < slow


def test_predict_runs_afd_decode_and_refuses_what_it_does_not_model():
    w = Workload(4096, 1, context_tokens=4096)
    p = predict("H800", "step-3", "fp8", w, mode="decode", decode="2xA8+2xF8", concurrency=6144,
                slo=SLO(max_tpot_s=0.05))
    assert (p.gpus, p.total_gpus, p.layout, p.decode_pool, p.concurrency) == (32, 32, "2xA8+2xF8", "2xA8+2xF8", 6144)
    assert p.output_tokens_per_s_per_gpu == pytest.approx(6144 / (p.tpot_s * 32))
    assert p.envelope_layout_rows and p.envelope_layout_rows >= 3  # the Step-3 rows ran AFD
    searched = predict("H800", "step-3", "fp8", w, mode="decode", decode="2xA8+2xF8", slo=SLO(max_tpot_s=0.05))
    assert searched.meets_slo and searched.tpot_s <= 0.05
    frontier = predict("H800", "step-3", "fp8", w, mode="decode", decode="2xA8+2xF8", pareto=True)
    speeds = [q.tokens_per_s_per_user for q in frontier]
    rates = [q.output_tokens_per_s_per_gpu for q in frontier]
    assert speeds == sorted(speeds, reverse=True) and rates == sorted(rates) and len(frontier) > 3
    for kwargs, message in ((dict(prefill="1xTEP8"), "^prefill not with an attention-FFN"),
                            (dict(mode="disaggregated"), "^mode 'disaggregated'"),
                            (dict(gpus=8), "^gpus not with")):
        with pytest.raises(UserError, match=message):
            predict("H800", "step-3", "fp8", w, decode="2xA8+2xF8", **kwargs)
    with pytest.raises(UserError, match="^speculative_draft_tokens 1"):
        predict("H800", "step-3", "fp8", replace(w, speculative_draft_tokens=1, speculative_acceptance_length=1.8),
                decode="2xA8+2xF8")
    with pytest.raises(UserError, match="FFN side's weights need"):
        predict("H800", "step-3", "fp8", w, decode="1xA1+1xF1")


def test_perf_cli_takes_an_afd_deployment():
    runner = CliRunner()
    out = runner.invoke(cli, ["perf", "--hardware", "H800", "--model", "step-3", "--precision", "fp8",
                              "--input-tokens", "4096", "--output-tokens", "1", "--context-tokens", "4096",
                              "--mode", "decode", "--decode", "2xA8+2xF8", "--concurrency", "6144",
                              "--format", "json"])
    assert out.exit_code == 0, out.output
    record = json.loads(out.stdout)
    assert record["layout"] == "2xA8+2xF8" and record["total_gpus"] == 32
    bad = runner.invoke(cli, ["perf", "--hardware", "H800", "--model", "step-3", "--precision", "fp8",
                              "--input-tokens", "4096", "--output-tokens", "1", "--mode", "decode",
                              "--decode", "2xA8+2xF0"])
    assert bad.exit_code == 2 and "--decode" in bad.output and "Traceback" not in bad.output


def test_the_step3_rows_run_as_published():
    """Every Step-3 row runs its published AFD deployment at its published batch; the 2A2F rows are one deployment
    (peak minute and long-term average), so their predictions agree."""
    rows = {m.id: m for m in load_measurements() if m.model == "step-3"}
    assert len(rows) == 4
    got = {k: predict_measurement(m) for k, m in rows.items()}
    plan = plan_measurement(rows["stepfun-step3-h800-afd-decode-4k-50ms"])
    assert plan["decode"] == "2xA8+2xF8" and plan["concurrency"] == 6144
    assert got["stepfun-step3-h800-afd-decode-4k-50ms"]["predicted"] == pytest.approx(
        got["stepfun-step3-h800-afd-2a2f-4k-average"]["predicted"])
    assert all(r["gpus"] == rows[k].system_gpus for k, r in got.items())
    # the published ordering across deployments holds: 2A2F FP8 > 3A2F BF16 attention > 4A2F at 8K
    order = ["stepfun-step3-h800-afd-decode-4k-50ms", "stepfun-step3-h800-afd-3a2f-4k-bf16attn",
             "stepfun-step3-h800-afd-4a2f-8k"]
    assert [got[k]["predicted"] for k in order] == sorted((got[k]["predicted"] for k in order), reverse=True)


def test_kv_capacity_of_an_attention_gpu():
    """Sequences an attention GPU holds: its free memory over one sequence's KV (4,096 x 61 x 512 bytes at FP8)."""
    att, _ffn, _pool, _hw, _eff = _sides()
    per_sequence = 4096 * 61 * 512
    assert float(core.max_concurrency(att, np.asarray(4096.0))) == np.floor(att.free_kv_bytes_per_gpu / per_sequence)


def test_the_fit_never_takes_an_afd_row():
    """calibrate evaluates one serving instance per row: an AFD row at a fixed concurrency and without an SLO is left
    out of the fixed-concurrency rows, and one marked to fit is refused with what to do."""
    from tokensim import ConfigError
    from tokensim.perf.calibration import fixed_concurrency_rows
    from tokensim.perf.validate import calibration_rows

    row = next(m for m in load_measurements() if m.id == "stepfun-step3-h800-afd-decode-4k-50ms")
    free = replace(row, slo=None)
    assert predict_measurement(free)["predicted"] > 0  # it runs, but
    assert fixed_concurrency_rows([free]) == []
    with pytest.raises(ConfigError, match="mark it calibrate: no"):
        calibration_rows([replace(free, calibrate=True)])
