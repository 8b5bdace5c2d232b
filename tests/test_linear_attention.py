"""Linear-attention (Gated DeltaNet) layers: the catalogue's counts and the step arithmetic, checked by hand.

Qwen3.5-397B-A17B keeps softmax attention in every fourth layer (15 of 60) and runs the gated delta rule in the other
45 (Yang, Kautz, Hatamizadeh, "Gated Delta Networks", ICLR 2025). Such a layer keeps a fixed state per sequence (64
value heads x 128 x 128, FP32) instead of a KV cache: a decode step reads and writes it once per sequence, a prefill
writes it once, and it takes the same memory whatever the context.
"""

from __future__ import annotations

import dataclasses

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
QWEN35 = CATALOG.get_model("qwen3.5-397b-a17b")
# one layer's delta-rule state (64 x 128 x 128 FP32) and conv state ((2·16·128 + 64·128) channels x 3 taps, BF16)
STATE_PER_LAYER_BYTES = 64 * 128 * 128 * 4 + (2 * 16 * 128 + 64 * 128) * 3 * 2
STATE_BYTES = 45 * STATE_PER_LAYER_BYTES


def _step_model(gpus=4, tp=4, ep=1, hardware="MI355X"):
    hw = CATALOG.hardware[hardware]
    prec = resolve_precision(CATALOG.get_recipe("fp8"), hw)
    return build_step_model(QWEN35, prec, hw, Deployment(gpus, tp, ep), load_efficiency(hw.family))


def test_gated_deltanet_layer_parameters_by_hand():
    """One Gated DeltaNet layer of Qwen3.5-397B (hidden 4096; 16 key heads and 64 value heads of 128; kernel 4):
      in_proj_qkvz  4096 x (2·16·128 + 2·64·128) = 83,886,080
      in_proj_ba    4096 x 2·64                  =    524,288
      conv1d        (2·16·128 + 64·128) x 4      =     49,152
      A_log, dt_bias 2·64                        =        128
      norm          128                          =        128
      out_proj      64·128 x 4096                = 33,554,432
      total                                      = 118,014,208
    and a gated softmax-attention layer: q 4096 x 2·32·256, k and v 4096 x 2·256 each, o 32·256 x 4096 = 104,857,600."""
    assert QWEN35.linear_attention_params_per_layer == 118_014_208
    assert QWEN35.attention_params_per_layer == 4096 * 16384 + 2 * 4096 * 512 + 8192 * 4096 == 104_857_600
    layers = (QWEN35.linear_attention_layers, QWEN35.softmax_attention_layers, QWEN35.full_attention_layers)
    assert layers == (45, 15, 15)


def test_recurrent_state_and_flops_by_hand():
    """State: 45 x (4,194,304 + 73,728) = 192,061,440 bytes per sequence. FLOPs per token: 45 x (7·64·128·128 delta
    rule + 2·12,288·4 convolution) = 45 x 7,438,336 = 334,725,120."""
    assert STATE_PER_LAYER_BYTES == 4_268_032
    assert QWEN35.recurrent_state_bytes_per_sequence == STATE_BYTES == 192_061_440
    assert QWEN35.recurrent_flops_per_token == 45 * (7 * 64 * 128 * 128 + 2 * 12_288 * 4) == 334_725_120


def test_models_without_linear_attention_have_no_state():
    for name in ("deepseek-v3", "gpt-oss-120b", "llama-3.3-70b"):
        m = CATALOG.get_model(name)
        assert m.recurrent_state_bytes_per_sequence == m.recurrent_flops_per_token == m.linear_attention_layers == 0
        assert m.softmax_attention_layers == m.layers


@pytest.mark.parametrize("batch", [1.0, 64.0])
def test_decode_reads_and_writes_the_state_once_per_sequence(batch):
    """A decode step moves 2 x state bytes per sequence more than the same step without the recurrences, and spends
    the recurrences' FLOPs per token; the KV read of the 15 softmax layers is unchanged."""
    sm = _step_model()
    bare = dataclasses.replace(sm, state_bytes_per_sequence=0.0, state_flops_per_token=0.0)
    b, ctx = np.array([batch]), np.array([9000.0])
    with_state, without = core.decode_step(sm, b, ctx), core.decode_step(bare, b, ctx)
    assert with_state["bytes"][0] - without["bytes"][0] == pytest.approx(batch * 2 * STATE_BYTES, rel=1e-12)
    assert with_state["flops"][0] - without["flops"][0] == pytest.approx(batch * 334_725_120, rel=1e-12)


def test_prefill_writes_the_state_once_per_request():
    """Two requests of 4,096 new tokens: 2 x state bytes more, 8,192 x the recurrences' FLOPs per token."""
    sm = _step_model()
    bare = dataclasses.replace(sm, state_bytes_per_sequence=0.0, state_flops_per_token=0.0)
    args = (np.array([8192.0 / sm.dp]), np.array([4096.0]), np.array([0.0]))
    with_state, without = core.prefill_pass(sm, *args), core.prefill_pass(bare, *args)
    assert with_state["bytes"][0] - without["bytes"][0] == pytest.approx(2 * STATE_BYTES, rel=1e-12)
    assert with_state["flops"][0] - without["flops"][0] == pytest.approx(8192 * 334_725_120, rel=1e-12)


@pytest.mark.parametrize(("gpus", "tp", "ep", "split"), [(4, 4, 1, 4), (8, 1, 8, 1)])
def test_memory_per_sequence_by_hand(gpus, tp, ep, split):
    """Per GPU and sequence of 9,000 tokens: the KV of the 15 softmax layers (2 KV heads x 256 x K and V, FP8 KV:
    1,024 bytes per token per layer; split over min(TP, 2 KV heads) GPUs) plus the state split over the TP ranks that
    hold its heads (TP4: a quarter each; attention data-parallel TP1: whole on each GPU)."""
    sm = _step_model(gpus, tp, ep, hardware="B200")
    assert sm.kv_bytes_per_token_layer == 1024.0
    kv = 15 * 9000.0 * 1024.0 / min(tp, 2)
    got = core.kv_bytes_per_sequence_per_gpu(sm, np.asarray(9000.0), np)
    assert got == pytest.approx(kv + STATE_BYTES / split, rel=1e-12)


def test_linear_attention_layers_must_leave_a_softmax_layer(tmp_path):
    """A file whose linear-attention layers leave no softmax-attention layer, or names an unknown kind, is refused
    with the field named."""
    with open(QWEN35.file, encoding="utf-8") as f:
        text = f.read()
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("  layers: 45\n", "  layers: 60\n"))
    with pytest.raises(ConfigError, match=r"linear_attention\.layers.*60"):
        load_model_file(broken)
    broken.write_text(text.replace("type: gated-deltanet", "type: gated-deltanett"))
    with pytest.raises(ConfigError, match=r"linear_attention\.type.*did you mean 'gated-deltanet'"):
        load_model_file(broken)
