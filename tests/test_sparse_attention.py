"""DeepSeek Sparse Attention (DSA): the catalogue's indexer counts and the step arithmetic, checked by hand.

DSA (DeepSeek-V3.2-Exp technical report and github.com/deepseek-ai/DeepSeek-V3.2-Exp inference/model.py, 2025-09-29):
a lightning indexer scores every cached token, I(t, s) = Σ_j w(t, j)·ReLU(q(t, j)·k(s)), in FP8 over its own key
cache, and MLA then attends only the top-k (2048) of them. So attention FLOPs and the latent KV read scale with
min(context, k), the indexer's FLOPs and key read with the whole context, and the cache still holds every token.
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
V32 = CATALOG.get_model("deepseek-v3.2")


def _step_model(model, gpus=8, tp=1, ep=8, precision="fp8"):
    hw = CATALOG.hardware["B200"]
    prec = resolve_precision(CATALOG.get_recipe(precision), hw)
    return build_step_model(model, prec, hw, Deployment(gpus, tp, ep), load_efficiency(hw.family))


def test_v3_2_indexer_parameters_by_hand():
    """DeepSeek-V3.2's indexer per layer (hidden 7168, q_lora 1536, 64 heads of 128):
      wq_b          1536 x 64 x 128 = 12,582,912
      wk            7168 x 128      =    917,504
      k_norm        2 x 128         =        256   (LayerNorm weight and bias)
      weights_proj  7168 x 64       =    458,752
      total                         = 13,959,424 per layer, 851,524,864 over 61 layers.
    V3.2 is V3 plus exactly these weights."""
    per_layer = 1536 * 64 * 128 + 7168 * 128 + 2 * 128 + 7168 * 64
    assert per_layer == 13_959_424
    assert V32.indexer_params_per_layer == per_layer
    assert V32.indexer_layers == 61
    v3 = CATALOG.get_model("deepseek-v3")
    assert V32.total_params - v3.total_params == 61 * per_layer == 851_524_864
    assert V32.active_params - v3.active_params == 61 * per_layer


def test_indexer_flops_and_key_bytes_by_hand():
    """Indexer per query per cached token: 64 heads x (2·128 dot product + 2 weighted ReLU sum) = 16,512 FLOPs; key
    cache per token per layer: 128 FP8 bytes + one FP32 scale per 128 = 132 bytes. GLM-5 (32 heads x 128): 8,256."""
    assert V32.indexer_flops_per_context_token_per_layer == 2 * 64 * (128 + 1) == 16_512
    assert V32.indexer_key_bytes_per_token_per_layer == 128 + 4 == 132
    glm = CATALOG.get_model("glm-5")
    assert glm.indexer_flops_per_context_token_per_layer == 2 * 32 * (128 + 1) == 8_256
    assert (glm.sparse_topk_tokens, glm.indexer_layers) == (2048, 78)


def test_dsa_prefill_attends_in_the_absorbed_form_by_hand():
    """DSA's sparse MLA runs in MQA mode in prefill as in decode (V3.2-Exp report): a (query, key) pair costs
    2·heads·(kv_lora + rope) for the scores plus 2·heads·kv_lora for the sum over the latent. Dense MLA prefills
    un-absorbed, 2·heads·(qk_nope + rope + v_head) per pair.
      DeepSeek-V3.2 (128 heads, latent 512, rope 64): 2 x 128 x (576 + 512) = 278,528
      DeepSeek-V3, dense (128 heads, 192 + 128):       2 x 128 x 320         =  81,920
      GLM-5 (64 heads, latent 512, rope 64):          2 x 64 x (576 + 512)  = 139,264"""
    assert V32.prefill_attention_flops_per_pair_per_layer == 2 * 128 * (576 + 512) == 278_528
    assert CATALOG.get_model("deepseek-v3").prefill_attention_flops_per_pair_per_layer == 2 * 128 * 320 == 81_920
    assert CATALOG.get_model("glm-5").prefill_attention_flops_per_pair_per_layer == 2 * 64 * (576 + 512) == 139_264
    assert _step_model(V32).prefill_attn_flops_per_pair_layer == 278_528


@pytest.mark.parametrize(("context", "attended"), [(10_000.0, 2048.0), (1_000.0, 1000.0)])
def test_dsa_decode_attention_and_kv_read_by_hand(context, attended):
    """Batch 4 of V3.2 (FP8 KV: 576 latent+RoPE bytes per token per layer) on 8 GPUs, TP 1, at ``context`` tokens.

    Attention FLOPs (absorbed MLA, 2·128·(2·512 + 64) = 278,528 per attended token per layer) over min(context, 2048)
    tokens, indexer FLOPs (16,512) over all of them, 61 layers:
      context 10,000: 4·61·(278,528·2048 + 16,512·10,000) = 179,473,063,936
      context  1,000: 4·61·(278,528·1000 + 16,512·1,000)  =  71,989,760,000
    KV read: 4·61·(576·min(context, 2048) + 132·context) bytes (TP 1: no replication):
      context 10,000: 609,914,112; context 1,000: 172,752,000.
    """
    sm = _step_model(V32)
    batch, ctx = np.array([4.0]), np.array([context])
    step = core.decode_step(sm, batch, ctx)
    attention_flops = step["flops"][0] - 4 * sm.matmul_flops_per_token
    assert attention_flops == pytest.approx(4 * 61 * (278_528 * attended + 16_512 * context), rel=1e-12)
    assert attention_flops == pytest.approx({10_000.0: 179_473_063_936, 1_000.0: 71_989_760_000}[context], rel=1e-12)
    weights = sm.dp * sm.dense_stream_bytes + sm.moe_layers * core.touched_experts(
        sm.experts, sm.top_k, 4.0, np) * sm.expert_bytes
    kv_read = step["bytes"][0] - weights
    assert kv_read == pytest.approx(4 * 61 * (576 * attended + 132 * context), rel=1e-9)
    assert kv_read == pytest.approx({10_000.0: 609_914_112, 1_000.0: 172_752_000}[context], rel=1e-9)


def test_dsa_keeps_every_token_in_the_cache():
    """Capacity: V3.2 caches all 10,000 tokens (576 + 132 bytes each, 61 layers) = 431,880,000 bytes per sequence."""
    sm = _step_model(V32)
    assert core.kv_bytes_per_sequence_per_gpu(sm, np.array([10_000.0]), np)[0] == pytest.approx(
        61 * 10_000 * (576 + 132), rel=1e-12)


@pytest.mark.parametrize(("new", "cached", "pairs"), [
    (3000.0, 0.0, 2048 * (3000 - 1024)),       # queries past position 2048 attend 2048 keys: 4,046,848
    (500.0, 1000.0, 500 * 1000 + 500 ** 2 / 2),  # every position under 2048: the dense count, 625,000
    (100.0, 4000.0, 100 * 2048),              # all queries beyond 2048: 204,800
])
def test_sparse_prefill_pairs_by_hand(new, cached, pairs):
    """Prefill pairs per request in one DSA layer: query at position p attends min(p, 2048) keys (continuous form)."""
    sm = _step_model(V32)
    full = new * cached + 0.5 * new ** 2
    got = core._sparse_pairs(sm, np.array([new]), np.array([cached]), np.array([full]), np)[0]
    assert got == pytest.approx(pairs, rel=1e-12)


def test_dense_models_are_untouched_by_the_sparse_terms():
    """Without DSA the sparse pairs are the dense pairs and no indexer term enters (DeepSeek-V3, same deployment)."""
    sm = _step_model(CATALOG.get_model("deepseek-v3"))
    assert (sm.sparse_topk_tokens, sm.index_layers, sm.index_flops_per_ctx_token_layer) == (0, 0, 0)
    full = np.array([3000.0 * 0 + 0.5 * 3000.0 ** 2])
    assert core._sparse_pairs(sm, np.array([3000.0]), np.array([0.0]), full, np)[0] == full[0]


def test_dsa_beats_dense_attention_only_at_long_context():
    """V3.2 decodes faster than V3 at 30,000 tokens of context (attention capped at 2048) and slower at 500 (it pays
    the indexer and the larger indexer weights), same deployment and batch."""
    v3, v32 = _step_model(CATALOG.get_model("deepseek-v3")), _step_model(V32)
    batch = np.array([64.0])
    for ctx, faster in ((30_000.0, True), (500.0, False)):
        t3 = core.decode_step(v3, batch, np.array([ctx]))["t_step_s"][0]
        t32 = core.decode_step(v32, batch, np.array([ctx]))["t_step_s"][0]
        assert bool(t32 < t3) is faster


def test_dsa_keys_are_required_together(tmp_path):
    """An MLA file that sets sparse_topk_tokens must give the indexer's heads and head size."""
    with open(V32.file, encoding="utf-8") as f:
        text = f.read()
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("  indexer_heads: 64\n", ""))
    with pytest.raises(ConfigError, match="indexer_heads"):
        load_model_file(broken)
