"""DeepSeek-V4's compressed attention: the catalogue's counts and the step arithmetic, checked by hand.

Every layer keeps a 128-token sliding window of 512-wide entries of one shared KV head. Besides it, a CSA layer
(compress ratio 4) caches one entry per 4 tokens and attends the indexer's top-k of them (1,024 in V4-Pro), and an HCA
layer (ratio 128) caches one entry per 128 tokens and attends all of them. The indexer scores every compressed entry
of a CSA layer against its own FP4 keys. Shapes: the Hub config.json as copied into NVIDIA's aiconfigurator (commit
095f58a5); weight and cache layouts: aiconfigurator's DeepSeek-V4 attention module and get_kvcache_bytes_per_sequence.
V4-Pro: 61 layers, 30 CSA and 31 HCA (compress_ratios 128, 128, then 4/128 alternating, ending on 4).
"""

from __future__ import annotations

import numpy as np
import pytest

from tokensim import ConfigError
from tokensim.config.catalog import load_catalog
from tokensim.config.models import load_model_file
from tokensim.config.precisions import resolve_precision
from tokensim.perf import _core as core
from tokensim.perf._model import Deployment, build_step_model
from tokensim.perf.efficiency import load_efficiency

CATALOG = load_catalog()
PRO = CATALOG.get_model("deepseek-v4-pro")
FLASH = CATALOG.get_model("deepseek-v4-flash")


def _step_model(gpus=8, tp=1, ep=8):
    hw = CATALOG.hardware["B200"]
    prec = resolve_precision(CATALOG.get_recipe("fp4-experts-fp8"), hw)  # FP8 KV: one byte per element
    return build_step_model(PRO, prec, hw, Deployment(gpus, tp, ep), load_efficiency(hw.family))


def test_layer_kinds_from_the_config():
    assert (PRO.csa_layers, PRO.hca_layers, PRO.csa_ratio, PRO.hca_ratio) == (30, 31, 4, 128)
    assert (FLASH.csa_layers, FLASH.hca_layers) == (21, 20)  # and 2 window-only layers: 43 in all
    assert PRO.full_attention_layers == 0 and PRO.sliding_window_layers == 61 and PRO.indexer_layers == 30


def test_v4_pro_weights_per_layer_by_hand():
    """V4-Pro (hidden 7168, q_lora 1536, 128 heads of 512, o_lora 1024 in 16 groups; indexer 64 x 128):
      attention  7168·1536 + 1536·128·512 + 7168·512 + 128·512·1024 + 16·1024·7168 + 128 sinks = 299,892,864
      CSA compressor  2·7168·2·512 + 4·2·512 = 14,684,160     HCA compressor  2·7168·512 + 128·512 = 7,405,568
      indexer  1536·64·128 + 2·7168·2·128 + 7168·64 + 4·2·128 = 16,712,704"""
    assert PRO.attention_params_per_layer == 299_892_864
    assert PRO.compressor_params(4) == 14_684_160 and PRO.compressor_params(128) == 7_405_568
    assert PRO.indexer_params_per_layer == 16_712_704


def test_v4_pro_cache_per_sequence_by_hand():
    """At 8,192 tokens, FP8 entries of 512 bytes: window 61·128 + CSA 30·2048 + HCA 31·64 = 71,232 entries
    (36,470,784 bytes), FP4 indexer keys 30·2048·64 = 3,932,160 bytes, compressor state (31·2·128·512 +
    30·(2·4·2·512 + 2·4·2·128))·4 = 17,481,728 bytes: 57,884,672 bytes on every GPU of the DP group (one KV head)."""
    sm = _step_model()
    assert sm.kv_bytes_per_token_layer == 512.0 and sm.index_bytes_per_token_layer == 64.0
    assert core._stored_tokens(sm, np.asarray(8192.0), np) == 71_232
    assert PRO.compressor_state_bytes_per_sequence == 17_481_728
    got = core.kv_bytes_per_sequence_per_gpu(sm, np.asarray(8192.0), np)
    assert got == pytest.approx(71_232 * 512 + 3_932_160 + 17_481_728, rel=1e-12) == 57_884_672


@pytest.mark.parametrize(("context", "attended"), [(8192.0, 61 * 128 + 30 * 1024 + 31 * 64),
                                                     (2048.0, 61 * 128 + 30 * 512 + 31 * 16)])
def test_decode_reads_the_window_the_top_k_and_the_heavy_entries(context, attended):
    """A decode step attends, per sequence: the window in every layer, min(context/4, 1024) CSA entries and
    context/128 HCA entries; the indexer reads 30 x context/4 FP4 keys. With attention data-parallel (TP1) each
    entry is read once."""
    sm = _step_model()
    batch = 32.0
    assert core._attended_tokens(sm, np.asarray(context), np) == attended
    step = core.decode_step(sm, np.asarray(batch), np.asarray(context))
    weights = sm.dp * sm.dense_stream_bytes + sm.moe_layers * core.touched_experts(
        sm.experts, sm.top_k, np.asarray(batch), np) * sm.expert_bytes
    kv = batch * (attended * 512.0 + 30 * context / 4 * 64.0)
    assert step["bytes"] - weights == pytest.approx(kv, rel=1e-12)
    attention = batch * (4 * 128 * 512 * attended + 2 * 64 * 129 * 30 * context / 4)
    assert step["flops"] - batch * sm.matmul_flops_per_token == pytest.approx(attention, rel=1e-12)


def test_prefill_pairs_by_hand():
    """One request of 8,192 new tokens: per layer the window gives 8192·128 pairs; a CSA layer Σ min(p/4, 1024) =
    (1/4)·4096·(8192 − 2048) = 6,291,456; an HCA layer 8192²/2/128 = 262,144: 260,833,280 pairs at 2·128·1024 FLOPs.
    The indexer scores 30 x 8192²/2/4 = 251,658,240 (query, key) pairs at 2·64·129 FLOPs."""
    sm = _step_model()
    pairs = 61 * 8192 * 128 + 30 * 6_291_456 + 31 * 262_144
    assert pairs == 260_833_280
    res = core.prefill_pass(sm, np.asarray(8192.0 / sm.dp), np.asarray(8192.0), np.asarray(0.0))
    want = pairs * 2 * 128 * 1024 + 251_658_240 * 2 * 64 * 129
    assert res["flops"] - 8192.0 * sm.matmul_flops_per_token == pytest.approx(want, rel=1e-12)


def test_compressed_files_are_checked(tmp_path):
    """One ratio per layer, at most one HCA ratio beside the indexed one, o_groups dividing heads."""
    with open(FLASH.file, encoding="utf-8") as f:
        text = f.read()
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("compress_ratios: [0, 0, 4,", "compress_ratios: [0, 4,"))
    with pytest.raises(ConfigError, match=r"attention\.compress_ratios.*42 ratios.*one ratio per layer \(43\)"):
        load_model_file(broken)
    broken.write_text(text.replace("compress_ratios: [0, 0, 4,", "compress_ratios: [0, 64, 4,"))
    with pytest.raises(ConfigError, match=r"compress_ratios.*\[64, 128\]"):
        load_model_file(broken)
    broken.write_text(text.replace("o_groups: 8", "o_groups: 7"))
    with pytest.raises(ConfigError, match=r"o_groups.*7.*a divisor of heads \(64\)"):
        load_model_file(broken)


def test_v4_predictions_are_backed_only_by_v4_rows():
    """The validated envelope counts DeepSeek-V4's own rows, not V3's: one V4 row (GB300) sits in Blackwell Ultra's
    50-100 band, so a V4-Pro point on B300 is an extrapolation, while V3 on B300 in the same band has enough rows."""
    from tokensim.perf import SLO, Workload, predict

    assert PRO.envelope_family == "deepseek/compressed"
    assert CATALOG.get_model("deepseek-v3").envelope_family == "deepseek"
    slo = SLO(min_tokens_per_s_per_user=50.0)
    v4 = predict("B300", "deepseek-v4-pro", "fp4-experts-fp8", Workload(1024, 1024), gpus=8, tp=1, ep=8, slo=slo)
    v3 = predict("B300", "deepseek-v3", "fp4-experts-fp8", Workload(1024, 1024), gpus=8, tp=1, ep=8, slo=slo)
    from tokensim.perf.envelope import MIN_ENVELOPE_ROWS

    assert v4.speed_band == v3.speed_band
    assert v4.envelope_rows < MIN_ENVELOPE_ROWS <= v3.envelope_rows and v4.extrapolation
