"""Model architectures: the model catalogue's schema (declared once, :class:`ModelFileSchema`), parameter counts and
per-token costs.

One YAML file per model under ``configs/models/``, with the shape from the published config (layers, hidden size,
attention type and heads, MLA ranks, experts, top-k, shared experts, expert width, leading dense layers, vocabulary,
sliding windows). Total and active parameters are *computed* from the shape; tests check them against the published
totals. The performance model reads the derived quantities below, never the raw YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, model_validator

from .._errors import did_you_mean
from ._spec import (
    REQUIRED,
    Choice,
    Derived,
    Flag,
    Invalid,
    Number,
    SchemaSection,
    Source,
    Text,
    _missing,
    spec_of,
    validate_document,
)
from .reader import load_yaml

__all__ = ["ModelSpec", "ModelFileSchema", "load_model_file"]

def _count(low: int, *, default: Any = REQUIRED, rule: bool = False, unit: str = "") -> Number:
    return Number(low, integer=True, unit=unit, default=default, rule=rule)


_GQA_KEYS = ("type", "heads", "kv_heads", "head_dim", "sliding_window_tokens", "sliding_window_layers", "output_gate",
             "q_lora_rank", "notes")
_MLA_KEYS = ("type", "heads", "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim",
             "sparse_topk_tokens", "indexer_heads", "indexer_head_dim", "indexer_layers", "notes")
_DSA_KEYS = ("sparse_topk_tokens", "indexer_heads", "indexer_head_dim")
# DeepSeek-V4's hybrid compressed attention (CSA + HCA beside a sliding window; one shared 512-wide KV head)
_COMPRESSED_KEYS = ("type", "heads", "head_dim", "qk_rope_head_dim", "q_lora_rank", "o_lora_rank", "o_groups",
                    "sliding_window_tokens", "compress_ratios", "indexed_compress_ratio", "sparse_topk_tokens",
                    "indexer_heads", "indexer_head_dim", "notes")
_ATTENTION_TYPES = ("gqa", "mla", "compressed")

# DeepSeek Sparse Attention's indexer key cache: FP8 (E4M3) keys with one FP32 scale per block of 128 elements, whatever
# the recipe's KV format (DeepSeek-V3.2-Exp inference/model.py, class Indexer: k_cache float8_e4m3fn and k_scale_cache
# float32 of head_dim // block_size, block_size = 128; github.com/deepseek-ai/DeepSeek-V3.2-Exp, 2025-09-29).
INDEXER_KEY_BYTES_PER_ELEMENT = 1.0
INDEXER_SCALE_BYTES_PER_BLOCK = 4.0
INDEXER_SCALE_BLOCK = 128
# DeepSeek-V4 compressors keep FP32 running buffers per sequence and layer: a KV state and a score state of ratio x
# coff x head_dim each (coff 2 where blocks overlap, the CSA layers; 1 in HCA layers), and in CSA layers the
# indexer's own compressor, 2 x ratio x 2 x index_head_dim (NVIDIA aiconfigurator, models/deepseek_v4.py
# get_kvcache_bytes_per_sequence, github.com/ai-dynamo/aiconfigurator commit 095f58a5, 2026-08-21).
COMPRESSOR_STATE_BYTES_PER_ELEMENT = 4.0
# DeepSeek-V4's indexer caches its compressed keys in FP4: half a byte per element (aiconfigurator sdk/common.py
# deepseek_v4_indexer_cache_entry_bytes, same commit).
COMPRESSED_INDEXER_KEY_BYTES_PER_ELEMENT = 0.5
# Bytes per element of a recurrent (linear-attention) layer's state, by the format a model's config names
# (``mamba_ssm_dtype``; Qwen3-Next / Qwen3.5 configs: float32), and of its short-convolution state: the activations'
# BF16 (vLLM and SGLang keep the conv state in the model dtype; an **assumption** where a config does not say).
STATE_BYTES_PER_ELEMENT = {"fp32": 4.0, "bf16": 2.0}
CONV_STATE_BYTES_PER_ELEMENT = 2.0
# FLOPs of the gated delta rule per value head per token, in units of key_dim x value_dim (Yang, Kautz, Hatamizadeh,
# "Gated Delta Networks: Improving Mamba2 with Delta Rule", ICLR 2025, eq. 10, recurrent form): decay the state (1),
# retrieve S^T k (2), write the rank-one delta update (2), read the output S^T q (2). The chunked prefill form does
# the same work per token plus intra-chunk products, counted the same (an **assumption**; these FLOPs are under 1% of
# a Qwen3.5 token's matrix products).
DELTA_RULE_FLOPS_PER_STATE_ELEMENT = 7


class AttentionSchema(SchemaSection):
    """``attention:``: GQA (incl. MHA/MQA), MLA, or DeepSeek-V4's compressed attention, each with its own keys."""

    type: Annotated[str, Choice(_ATTENTION_TYPES)]
    heads: Annotated[int, _count(1, unit="heads")]
    kv_heads: Annotated[Any, _count(1, rule=True, unit="heads (at most heads)")] = Field(None)  # GQA
    head_dim: Annotated[int, _count(1)] | None = Field(None)  # GQA
    sliding_window_tokens: Annotated[int, _count(0, default=0, unit="tokens (0: none)")] | None = Field(None)
    # GQA: at most layers
    sliding_window_layers: Annotated[Any, _count(0, default=0, rule=True, unit="layers")] = Field(None)
    # MLA, compressed; GQA with a low-rank query (StepFun Step-3's MFA: hidden -> q_lora_rank, a norm, -> heads)
    q_lora_rank: Annotated[int, _count(0, default=0)] | None = Field(None)
    kv_lora_rank: Annotated[int, _count(1)] | None = Field(None)  # MLA
    qk_nope_head_dim: Annotated[int, _count(1)] | None = Field(None)  # MLA
    qk_rope_head_dim: Annotated[int, _count(0)] | None = Field(None)  # MLA
    v_head_dim: Annotated[int, _count(1)] | None = Field(None)  # MLA
    # MLA with DeepSeek Sparse Attention (DSA): a lightning indexer picks the top-k cached tokens each query attends
    sparse_topk_tokens: Annotated[int, _count(0, default=0, unit="tokens per query (0: dense)")] | None = Field(None)
    indexer_heads: Annotated[int, _count(1)] | None = Field(None)  # DSA
    indexer_head_dim: Annotated[int, _count(1)] | None = Field(None)  # DSA
    indexer_layers: Annotated[Any, _count(0, default=Derived("layers"), rule=True,
                                          unit="layers with their own indexer (at most layers)")] = Field(None)
    # GQA with a per-head output gate computed by the query projection (Qwen3-Next / Qwen3.5 attn_output_gate): the
    # query projection is twice as wide
    output_gate: Annotated[bool, Flag(default=False)] | None = Field(None)
    # compressed (DeepSeek-V4): a grouped low-rank output projection (o_groups groups of heads, each to o_lora_rank);
    # per layer the tokens per compressed cache entry (0: the sliding window only); layers with the indexed ratio
    # (CSA) attend the indexer's top-k entries, the others (HCA) all of theirs
    o_lora_rank: Annotated[int, _count(1)] | None = Field(None)
    o_groups: Annotated[int, _count(1)] | None = Field(None)
    compress_ratios: list[Any] | None = Field(None)
    indexed_compress_ratio: Annotated[int, _count(1, unit="tokens per entry of the CSA layers")] | None = Field(None)
    notes: Annotated[str, Text()] | None = Field(None)

    @model_validator(mode="before")
    @classmethod
    def _keys_of_the_type(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or data.get("type") is None:
            return data
        kind = Choice(_ATTENTION_TYPES).check_at("type", data["type"])
        allowed = {"gqa": _GQA_KEYS, "mla": _MLA_KEYS, "compressed": _COMPRESSED_KEYS}[kind]
        for key, value in data.items():
            if key not in allowed:
                raise Invalid(f"known keys: {', '.join(sorted(allowed))}",
                              did_you_mean(str(key), allowed) or "unknown key", key=str(key), value=value)
        return data

    @model_validator(mode="after")
    def _required_of_the_type(self) -> AttentionSchema:
        required: tuple[str, ...] = {
            "gqa": ("kv_heads", "head_dim"),
            "mla": ("qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim", "kv_lora_rank"),
            "compressed": ("head_dim", "q_lora_rank", "o_lora_rank", "o_groups", "sliding_window_tokens",
                           "compress_ratios", "indexed_compress_ratio") + _DSA_KEYS}[self.type]
        if self.type == "mla" and self.sparse_topk_tokens:
            required = required + _DSA_KEYS
        for key in required:
            if not self.given(key):
                raise _missing(key)
            if key == "kv_heads":
                spec_of(AttentionSchema, key).check_at(key, self.kv_heads, high=self.heads)
        if self.type == "compressed":
            ratios = self.compress_ratios or []
            for i, r in enumerate(ratios):
                _count(0, unit="tokens per compressed entry (0: window only)").check_at(f"compress_ratios[{i}]", r)
            dense = sorted({int(r) for r in ratios} - {0, int(self.indexed_compress_ratio or 0)})
            if len(dense) > 1:
                raise Invalid("0, the indexed_compress_ratio and at most one other ratio (the HCA layers)",
                              key="compress_ratios", value=dense)
            if int(self.heads) % int(self.o_groups or 1):
                raise Invalid(f"a divisor of heads ({self.heads})", key="o_groups", value=self.o_groups)
        return self


class LinearAttentionSchema(SchemaSection):
    """``linear_attention:``: recurrent layers that replace softmax attention in some layers (Gated DeltaNet, as in
    Qwen3-Next and Qwen3.5): each keeps a fixed state per sequence instead of a KV cache."""

    type: Annotated[str, Choice(("gated-deltanet",))]
    layers: Annotated[Any, _count(1, rule=True, unit="linear-attention layers (fewer than layers)")] = Field(None)
    key_heads: Annotated[int, _count(1, unit="heads")]
    value_heads: Annotated[int, _count(1, unit="heads")]
    key_head_dim: Annotated[int, _count(1)]
    value_head_dim: Annotated[int, _count(1)]
    conv_kernel_tokens: Annotated[int, _count(1, unit="tokens of the short convolution")]
    state_format: Annotated[str, Choice(tuple(STATE_BYTES_PER_ELEMENT))]
    notes: Annotated[str, Text()] | None = Field(None)

    @model_validator(mode="after")
    def _layers_given(self) -> LinearAttentionSchema:
        if not self.given("layers"):
            raise _missing("layers")
        return self


class FfnSchema(SchemaSection):
    intermediate_size: Annotated[int, _count(0, default=0, unit="FFN width (0: no dense FFN)")] | None = Field(None)
    notes: Annotated[str, Text()] | None = Field(None)


class MoeSchema(SchemaSection):
    experts: Annotated[int, _count(1, unit="routed experts per MoE layer")]
    top_k: Annotated[Any, _count(1, rule=True, unit="experts per token (at most experts)")] = Field(None)
    shared_experts: Annotated[int, _count(0, default=0)] | None = Field(None)
    expert_intermediate_size: Annotated[int, _count(1)]
    shared_expert_intermediate_size: Annotated[int, _count(1, default=Derived("expert_intermediate_size"))] | None \
        = Field(None)
    dense_layers: Annotated[Any, _count(0, default=0, rule=True, unit="leading dense layers (at most layers)")] \
        = Field(None)
    layer_interval: Annotated[int, _count(1, default=1, unit="layers per MoE layer")] | None = Field(None)
    notes: Annotated[str, Text()] | None = Field(None)

    @model_validator(mode="after")
    def _top_k(self) -> MoeSchema:
        if not self.given("top_k"):
            raise _missing("top_k")
        spec_of(MoeSchema, "top_k").check_at("top_k", self.top_k, high=self.experts)
        return self


class PublishedSchema(SchemaSection):
    total_b: Annotated[float, Number(0, low_open=True, unit="billion parameters")]
    active_b: Annotated[float, Number(0, low_open=True, unit="billion parameters per token")]
    source: Annotated[str, Source()]


# the largest draft length a scenario or the perf CLI accepts (config.schema: speculative_draft_tokens 0..16)
MAX_DRAFT_TOKENS = 16


class SpeculativeSchema(SchemaSection):
    """``speculative:``: the mean acceptance length of the model's own draft module (MTP, EAGLE) per draft length, as
    a source publishes it; the default where a deployment names a draft length and no acceptance."""

    method: Annotated[str, Text()]
    acceptance_length: Any = Field(None)  # {draft tokens: mean output tokens per decode step}; checked below
    source: Annotated[str, Source()]
    notes: Annotated[str, Text()] | None = Field(None)

    @model_validator(mode="after")
    def _table(self) -> SpeculativeSchema:
        table = self.acceptance_length
        if table is None:
            raise _missing("acceptance_length")
        if not isinstance(table, Mapping) or not table:
            raise Invalid("a mapping of draft tokens: acceptance length (e.g. {1: 1.9, 3: 2.8})",
                          key="acceptance_length", value=table)
        for draft, value in table.items():
            if isinstance(draft, bool) or not isinstance(draft, int) or not 1 <= draft <= MAX_DRAFT_TOKENS:
                raise Invalid(f"draft tokens: a whole number from 1 to {MAX_DRAFT_TOKENS}",
                              key=f"acceptance_length.{draft}", value=draft)
            try:
                Number(1, unit="output tokens per decode step").check(value, high=1 + draft)
            except Invalid as exc:
                raise Invalid(exc.allowed, key=f"acceptance_length.{draft}", value=value) from None
        return self


class ModelFileSchema(SchemaSection):
    """A model file: the shape from the published config, and the published parameter counts."""

    name: Annotated[str, Text()]
    aliases: list[Any] | None = Field(None)
    family: Annotated[str, Text()]
    description: Annotated[str, Text()] | None = Field(None)
    source: Annotated[str, Source()]
    published_parameters: PublishedSchema
    native_precision: Annotated[str, Text()] | None = Field(None)  # default bf16
    layers: Annotated[int, _count(1)]
    hidden_size: Annotated[int, _count(1)]
    vocab_size: Annotated[int, _count(1)]
    tied_embeddings: Annotated[bool, Flag(default=False)] | None = Field(None)
    attention: AttentionSchema
    linear_attention: LinearAttentionSchema | None = Field(None)
    ffn: FfnSchema | None = Field(None)
    moe: MoeSchema | None = Field(None)
    speculative: SpeculativeSchema | None = Field(None)
    notes: Annotated[str, Text()] | None = Field(None)

    @model_validator(mode="after")
    def _against_layers(self) -> ModelFileSchema:
        att = self.attention
        if att.type == "gqa" and att.given("sliding_window_layers"):
            spec_of(AttentionSchema, "sliding_window_layers").check_at(
                "attention.sliding_window_layers", att.sliding_window_layers, high=self.layers)
        if att.type == "mla" and att.given("indexer_layers"):
            spec_of(AttentionSchema, "indexer_layers").check_at(
                "attention.indexer_layers", att.indexer_layers, high=self.layers)
        if att.type == "compressed" and att.compress_ratios is not None and len(att.compress_ratios) != self.layers:
            raise Invalid(f"one ratio per layer ({self.layers})", key="attention.compress_ratios",
                          value=f"{len(att.compress_ratios)} ratios")
        if self.linear_attention is not None:
            window = int(att.sliding_window_layers or 0) if att.type == "gqa" else 0
            spec_of(LinearAttentionSchema, "layers").check_at(
                "linear_attention.layers", self.linear_attention.layers, high=self.layers - window - 1)
        if self.moe is not None and self.moe.given("dense_layers"):
            spec_of(MoeSchema, "dense_layers").check_at("moe.dense_layers", self.moe.dense_layers, high=self.layers)
        intermediate = self.ffn.intermediate_size if self.ffn is not None else None
        if self.layers - self.moe_layers() > 0 and not intermediate:
            raise Invalid("a positive width: the model has dense FFN layers", key="ffn.intermediate_size", value=None)
        return self

    def moe_layers(self) -> int:
        """Layers with routed experts: (layers - dense_layers) // layer_interval; 0 for a dense model."""
        if self.moe is None:
            return 0
        dense = 0 if self.moe.dense_layers is None else int(self.moe.dense_layers)
        return (self.layers - dense) // (self.moe.layer_interval or 1)


@dataclass(frozen=True)
class ModelSpec:
    """A transformer's shape and the derived quantities the performance model needs (counts, not bytes)."""

    name: str
    family: str
    source: str
    layers: int
    hidden_size: int
    vocab_size: int
    tied_embeddings: bool
    attention_type: str  # "gqa" (incl. MHA/MQA) or "mla"
    heads: int
    kv_heads: int  # GQA only; MLA caches one latent shared by all heads
    head_dim: int  # GQA head dim; MLA: qk_nope + qk_rope (query/key dim)
    v_head_dim: int
    q_lora_rank: int
    kv_lora_rank: int
    qk_rope_head_dim: int
    sliding_window_tokens: int  # 0 = none
    sliding_window_layers: int
    intermediate_size: int  # dense FFN width (dense models and the dense layers of MoE models)
    experts: int  # routed experts per MoE layer; 0 = dense model
    top_k: int
    shared_experts: int
    expert_intermediate_size: int
    shared_expert_intermediate_size: int
    moe_layers: int
    published_total_b: float
    published_active_b: float
    published_source: str
    native_precision: str
    sparse_topk_tokens: int = 0  # DSA: cached tokens each query attends (0 = dense attention)
    indexer_heads: int = 0  # DSA lightning indexer heads (0 = no indexer)
    indexer_head_dim: int = 0
    indexer_layers: int = 0  # layers with their own indexer
    attention_output_gate: bool = False  # GQA query projection also computes a per-head output gate
    # recurrent (linear-attention) layers, Gated DeltaNet (0 layers: none); the other layers keep softmax attention
    linear_attention_layers: int = 0
    linear_key_heads: int = 0
    linear_value_heads: int = 0
    linear_key_head_dim: int = 0
    linear_value_head_dim: int = 0
    linear_conv_kernel_tokens: int = 0
    linear_state_bytes_per_element: float = 0.0
    # compressed attention (attention_type "compressed", DeepSeek-V4): grouped low-rank output; CSA layers (indexed
    # ratio, top-k) and HCA layers (dense over their compressed entries); every layer also has the sliding window
    o_lora_rank: int = 0
    o_groups: int = 0
    csa_layers: int = 0
    csa_ratio: int = 0
    hca_layers: int = 0
    hca_ratio: int = 0
    aliases: tuple[str, ...] = ()
    description: str = ""
    notes: str = ""
    file: str = field(default="", compare=False)
    # the catalogue's ``speculative:`` section: ((draft tokens, mean acceptance length), ...), method and source
    speculative_acceptance: tuple[tuple[int, float], ...] = ()
    speculative_method: str = ""
    speculative_source: str = ""

    def default_acceptance_length(self, draft_tokens: int) -> float | None:
        """The catalogue's mean acceptance length for ``draft_tokens`` draft tokens (None: no sourced default)."""
        return dict(self.speculative_acceptance).get(draft_tokens)

    # -- parameter counts ----------------------------------------------------------------------------------------
    @property
    def dense_layers(self) -> int:
        return self.layers - self.moe_layers

    @property
    def softmax_attention_layers(self) -> int:
        """Layers with softmax attention (full or windowed); the others are linear-attention layers."""
        return self.layers - self.linear_attention_layers

    @property
    def attention_params_per_layer(self) -> int:
        """Weights of one softmax-attention layer (with an output gate, the query projection is twice as wide)."""
        h, d = self.hidden_size, self.head_dim
        if self.attention_type == "gqa":
            gate = 2 if self.attention_output_gate else 1
            # a low-rank query (Step-3's MFA, vLLM step3_text.py): hidden -> q_lora_rank, an RMSNorm of that width,
            # then up to every head
            q = (h * self.q_lora_rank + self.q_lora_rank + self.q_lora_rank * gate * self.heads * d
                 if self.q_lora_rank else gate * h * self.heads * d)
            return q + 2 * h * self.kv_heads * d + self.heads * d * h
        if self.attention_type == "compressed":
            # DeepSeek-V4 (aiconfigurator _estimate_weights): wq_a, wq_b, one shared KV projection, the grouped output
            # (wo_a heads·dim -> o_groups x o_lora, wo_b o_groups·o_lora -> hidden) and one sink logit per head; the
            # layer's compressor and indexer are counted apart (compressor_params_per_layer, indexer_params_per_layer)
            return (h * self.q_lora_rank + self.q_lora_rank * self.heads * d + h * d
                    + self.heads * d * self.o_lora_rank + self.o_groups * self.o_lora_rank * h + self.heads)
        q = (h * self.q_lora_rank + self.q_lora_rank + self.q_lora_rank * self.heads * d) if self.q_lora_rank \
            else h * self.heads * d
        kv_down = h * (self.kv_lora_rank + self.qk_rope_head_dim) + self.kv_lora_rank
        qk_nope = d - self.qk_rope_head_dim
        kv_up = self.kv_lora_rank * self.heads * (qk_nope + self.v_head_dim)
        return q + kv_down + kv_up + self.heads * self.v_head_dim * h

    @property
    def linear_conv_channels(self) -> int:
        """Channels of a Gated DeltaNet layer's short convolution: queries, keys and values."""
        return (2 * self.linear_key_heads * self.linear_key_head_dim
                + self.linear_value_heads * self.linear_value_head_dim)

    @property
    def linear_attention_params_per_layer(self) -> int:
        """Weights of one Gated DeltaNet layer (Qwen3-Next/Qwen3.5 ``GatedDeltaNet`` in transformers): the input
        projection to queries, keys, values and the output gate z (hidden x (2·kh·dk + 2·vh·dv)), the per-head beta
        and decay inputs (hidden x 2·vh), the depthwise convolution (channels x kernel), the per-head decay
        parameters (A_log, dt_bias: 2·vh), the gated RMSNorm (dv) and the output projection (vh·dv x hidden)."""
        if not self.linear_attention_layers:
            return 0
        h, vh, dv = self.hidden_size, self.linear_value_heads, self.linear_value_head_dim
        qkvz = h * (2 * self.linear_key_heads * self.linear_key_head_dim + 2 * vh * dv)
        return (qkvz + h * 2 * vh + self.linear_conv_channels * self.linear_conv_kernel_tokens + 2 * vh + dv
                + vh * dv * h)

    @property
    def recurrent_state_bytes_per_sequence(self) -> float:
        """State one sequence keeps over all linear-attention layers: the delta-rule state (value heads x key dim x
        value dim, in the config's state format) and the convolution's last kernel − 1 inputs (BF16)."""
        if not self.linear_attention_layers:
            return 0.0
        delta = (self.linear_value_heads * self.linear_key_head_dim * self.linear_value_head_dim
                 * self.linear_state_bytes_per_element)
        conv = self.linear_conv_channels * (self.linear_conv_kernel_tokens - 1) * CONV_STATE_BYTES_PER_ELEMENT
        return self.linear_attention_layers * (delta + conv)

    @property
    def recurrent_flops_per_token(self) -> int:
        """FLOPs of the recurrences per token over all linear-attention layers, besides their projections (which
        are matrix products, in ``matmul_params_per_token``): the gated delta rule
        (:data:`DELTA_RULE_FLOPS_PER_STATE_ELEMENT` per state element) and the depthwise convolution (2 per tap)."""
        if not self.linear_attention_layers:
            return 0
        delta = (DELTA_RULE_FLOPS_PER_STATE_ELEMENT * self.linear_value_heads * self.linear_key_head_dim
                 * self.linear_value_head_dim)
        return self.linear_attention_layers * (delta + 2 * self.linear_conv_channels * self.linear_conv_kernel_tokens)

    def compressor_params(self, ratio: int) -> int:
        """DeepSeek-V4 compressor of a layer with ``ratio`` tokens per entry (0: none): KV and gate projections
        (2 x hidden x coff·head_dim) and a positional bias (ratio x coff·head_dim), coff 2 in the indexed (CSA)
        layers, whose blocks overlap, else 1 (aiconfigurator _estimate_weights)."""
        if not ratio:
            return 0
        coff = 2 if ratio == self.csa_ratio else 1
        return 2 * self.hidden_size * coff * self.head_dim + ratio * coff * self.head_dim

    @property
    def compressed_extra_params(self) -> int:
        """Compressor weights over all layers of a compressed-attention model (0 otherwise)."""
        return (self.csa_layers * self.compressor_params(self.csa_ratio)
                + self.hca_layers * self.compressor_params(self.hca_ratio))

    @property
    def indexer_params_per_layer(self) -> int:
        """Indexer weights in one layer that runs its own indexer.

        DSA (DeepSeek-V3.2-Exp inference/model.py, class Indexer): query up-projection from the query latent
        (q_lora x heads·dim), key projection (hidden x dim), key LayerNorm (weight and bias, 2·dim) and per-head
        weights (hidden x heads). DeepSeek-V4's CSA indexer (aiconfigurator _estimate_weights): the same query
        up-projection and per-head weights, and its own compressor of the keys (2 x hidden x 2·dim, positional bias
        ratio x 2·dim) in place of the key projection and norm."""
        if not self.indexer_heads:
            return 0
        h, n, d = self.hidden_size, self.indexer_heads, self.indexer_head_dim
        if self.attention_type == "compressed":
            return self.q_lora_rank * n * d + 2 * h * 2 * d + h * n + self.csa_ratio * 2 * d
        return self.q_lora_rank * n * d + h * d + 2 * d + h * n

    @property
    def params_per_routed_expert(self) -> int:
        """One routed expert in one layer: gated FFN, three matrices."""
        return 3 * self.hidden_size * self.expert_intermediate_size

    @property
    def routed_expert_params(self) -> int:
        return self.moe_layers * self.experts * self.params_per_routed_expert

    @property
    def embedding_params(self) -> int:
        return self.vocab_size * self.hidden_size

    @property
    def lm_head_params(self) -> int:
        return 0 if self.tied_embeddings else self.vocab_size * self.hidden_size

    @property
    def ffn_other_weight_params(self) -> int:
        """The FFN weights that are not routed experts: the dense layers' FFNs and the MoE layers' shared experts
        (what the FFN side of an attention-FFN disaggregated deployment holds besides the routed experts)."""
        dense_ffn = self.dense_layers * 3 * self.hidden_size * self.intermediate_size
        shared = self.moe_layers * self.shared_experts * 3 * self.hidden_size * self.shared_expert_intermediate_size
        return dense_ffn + shared

    @property
    def other_weight_params(self) -> int:
        """Every weight that is not a routed expert: attention, norms, dense FFNs, shared experts, routers, head."""
        norms = self.layers * 2 * self.hidden_size + self.hidden_size
        router = self.moe_layers * self.hidden_size * self.experts
        return (self.softmax_attention_layers * self.attention_params_per_layer + self.compressed_extra_params
                + self.linear_attention_layers * self.linear_attention_params_per_layer + norms
                + self.ffn_other_weight_params + router
                + self.embedding_params + self.lm_head_params + self.indexer_layers * self.indexer_params_per_layer)

    @property
    def total_params(self) -> int:
        return self.other_weight_params + self.routed_expert_params

    @property
    def active_params(self) -> int:
        """Parameters one token touches (the published 'active' convention: embeddings included)."""
        return self.other_weight_params + self.moe_layers * self.top_k * self.params_per_routed_expert

    @property
    def streamed_other_weight_params(self) -> int:
        """Non-expert weights read every decode step: all but the embedding table (a lookup of B rows)."""
        embed = self.embedding_params if not self.tied_embeddings else 0
        return self.other_weight_params - embed

    @property
    def draft_pass_other_params(self) -> int:
        """Weights besides routed experts that one speculative draft pass reads and multiplies per token.

        A DeepSeek-style MTP module is one Transformer block shaped like the model's own (an MoE block in an MoE
        model), a d x 2d projection, and the main model's embedding and output head (DeepSeek-V3 Technical Report,
        arXiv:2412.19437, section 2.2); each draft token runs it once and reads the head (vocab x hidden). Other
        drafts (EAGLE heads: one decoder layer plus the head) are priced the same way, an **assumption**. The
        block's routed experts are counted apart (``moe_layers`` of one layer in the step model).
        """
        h = self.hidden_size
        ffn = (self.shared_experts * 3 * h * self.shared_expert_intermediate_size + h * self.experts if self.is_moe
               else 3 * h * self.intermediate_size)
        return self.attention_params_per_layer + 2 * h + ffn + 2 * h * h + self.vocab_size * h

    @property
    def matmul_params_per_token(self) -> int:
        """Parameters in matrix products per token (2 FLOPs each): active minus the embedding lookup."""
        return self.active_params - (self.embedding_params if not self.tied_embeddings else 0)

    # -- attention and KV cache ----------------------------------------------------------------------------------
    @property
    def kv_elements_per_token_per_layer(self) -> int:
        """Elements of one cache entry in one layer (compressed attention: one entry of the shared head)."""
        if self.attention_type == "gqa":
            return 2 * self.kv_heads * self.head_dim
        if self.attention_type == "compressed":
            return self.head_dim
        return self.kv_lora_rank + self.qk_rope_head_dim

    @property
    def indexer_key_bytes_per_token_per_layer(self) -> float:
        """Bytes the DSA indexer caches per token per indexer layer: FP8 keys plus an FP32 scale per 128 elements
        (:data:`INDEXER_KEY_BYTES_PER_ELEMENT`); 0 without an indexer."""
        if not self.indexer_heads:
            return 0.0
        if self.attention_type == "compressed":
            return self.indexer_head_dim * COMPRESSED_INDEXER_KEY_BYTES_PER_ELEMENT
        blocks = -(-self.indexer_head_dim // INDEXER_SCALE_BLOCK)
        return self.indexer_head_dim * INDEXER_KEY_BYTES_PER_ELEMENT + blocks * INDEXER_SCALE_BYTES_PER_BLOCK

    @property
    def indexer_flops_per_context_token_per_layer(self) -> int:
        """FLOPs the DSA indexer spends per query per cached token in one indexer layer.

        The index score is I(t, s) = Σ_j w(t, j)·ReLU(q(t, j)·k(s)) over the indexer heads j (DeepSeek-V3.2-Exp
        technical report, eq. 1): 2·dim per head for the dot product and 2 for the weighted sum, 2·heads·(dim + 1).
        """
        if not self.indexer_heads:
            return 0
        return 2 * self.indexer_heads * (self.indexer_head_dim + 1)

    @property
    def full_attention_layers(self) -> int:
        """Softmax-attention layers over the whole context (neither windowed nor linear-attention)."""
        return self.layers - self.sliding_window_layers - self.linear_attention_layers

    @property
    def decode_attention_flops_per_context_token_per_layer(self) -> int:
        """FLOPs one new token spends per cached token per layer (scores plus weighted sum).

        GQA: 2·heads·head_dim (QKᵀ) + 2·heads·head_dim (AV) = 4·heads·head_dim. MLA in the absorbed form (DeepSeek-V2
        paper §2.1.3): scores over the latent and RoPE key, 2·heads·(kv_lora + rope), and the sum over the latent,
        2·heads·kv_lora.
        """
        if self.attention_type in ("gqa", "compressed"):  # compressed: one shared head, its entry also the value
            return 4 * self.heads * self.head_dim
        return 2 * self.heads * (2 * self.kv_lora_rank + self.qk_rope_head_dim)

    @property
    def prefill_attention_flops_per_pair_per_layer(self) -> int:
        """FLOPs per (query, key) pair per layer in prefill: 2·heads·(d_qk + d_v), dense MLA un-absorbed (each head's
        keys and values expanded from the latent).

        MLA with DeepSeek Sparse Attention (``sparse_topk_tokens``) attends in the absorbed (MQA) form in prefill too:
        each selected latent entry is shared by all query heads, because a sparse kernel must reuse each gathered entry
        across heads (DeepSeek-V3.2-Exp technical report, 2025-09-29: DSA is instantiated "based on the MQA mode of
        MLA"; FlashMLA's ``flash_mla_sparse_fwd`` is that prefill kernel). A pair then costs a decode pair's
        2·heads·(2·kv_lora + rope) (:attr:`decode_attention_flops_per_context_token_per_layer`): 3.4x the un-absorbed
        pair for DeepSeek-V3.2, 2.1x for GLM-5.
        """
        if self.attention_type == "mla" and self.sparse_topk_tokens:
            return self.decode_attention_flops_per_context_token_per_layer
        return 2 * self.heads * (self.head_dim + self.v_head_dim)

    @property
    def compressor_state_bytes_per_sequence(self) -> float:
        """DeepSeek-V4 compressors' running buffers one sequence holds, FP32
        (:data:`COMPRESSOR_STATE_BYTES_PER_ELEMENT`): per HCA layer 2 x ratio x head_dim, per CSA layer
        2 x ratio x 2·head_dim plus its indexer's 2 x ratio x 2·index_head_dim; 0 without compressed attention."""
        if self.attention_type != "compressed":
            return 0.0
        hca = 2 * self.hca_ratio * self.head_dim
        csa = 2 * self.csa_ratio * 2 * self.head_dim + 2 * self.csa_ratio * 2 * self.indexer_head_dim
        return (self.hca_layers * hca + self.csa_layers * csa) * COMPRESSOR_STATE_BYTES_PER_ELEMENT

    @property
    def envelope_family(self) -> str:
        """The model family whose measurements back a prediction (:mod:`tokensim.perf.envelope`): the family, qualified
        by an attention kind its other members do not share (``deepseek/compressed``: DeepSeek-V4's CSA/HCA;
        ``qwen/linear-attention``: Qwen3.5's Gated DeltaNet), since rows of V3 or Qwen3 do not exercise those terms."""
        if self.attention_type == "compressed":
            return f"{self.family}/compressed"
        if self.linear_attention_layers:
            return f"{self.family}/linear-attention"
        return self.family

    @property
    def is_moe(self) -> bool:
        return self.experts > 0

    def to_dict(self) -> dict:
        return {
            "name": self.name, "family": self.family, "aliases": list(self.aliases), "description": self.description,
            "layers": self.layers, "hidden_size": self.hidden_size, "vocab_size": self.vocab_size,
            "attention": self.attention_type, "heads": self.heads, "kv_heads": self.kv_heads,
            "head_dim": self.head_dim, "kv_lora_rank": self.kv_lora_rank,
            "sliding_window_tokens": self.sliding_window_tokens, "sliding_window_layers": self.sliding_window_layers,
            "linear_attention_layers": self.linear_attention_layers,
            "recurrent_state_mb_per_sequence": self.recurrent_state_bytes_per_sequence / 1e6,
            "csa_layers": self.csa_layers, "hca_layers": self.hca_layers,
            "experts": self.experts, "top_k": self.top_k, "shared_experts": self.shared_experts,
            "expert_intermediate_size": self.expert_intermediate_size, "moe_layers": self.moe_layers,
            "total_params_b": self.total_params / 1e9, "active_params_b": self.active_params / 1e9,
            "published_total_params_b": self.published_total_b, "published_active_params_b": self.published_active_b,
            "native_precision": self.native_precision, "notes": self.notes, "source": self.source,
        }


def load_model_file(path: str | Path) -> ModelSpec:
    """Read and validate one model file (:class:`ModelFileSchema`), every error of the file reported at once.

    Parameters
    ----------
    path : str or pathlib.Path
        A YAML file in the format of ``configs/models/``.

    Returns
    -------
    ModelSpec
        The model's shape and derived counts.

    Raises
    ------
    ConfigError
        One error, or a :class:`~tokensim.ConfigErrors` with one line per error.
    """
    m = validate_document(ModelFileSchema, load_yaml(path), str(path))
    att = m.attention
    if att.type == "gqa":
        kv_heads, head_dim = int(att.kv_heads), int(att.head_dim or 0)
        v_dim, q_lora, kv_lora, rope = head_dim, int(att.q_lora_rank or 0), 0, 0
        window = att.sliding_window_tokens or 0
        window_layers = 0 if att.sliding_window_layers is None else int(att.sliding_window_layers)
    elif att.type == "compressed":
        kv_heads, head_dim = 1, int(att.head_dim or 0)
        v_dim, q_lora, kv_lora, rope = head_dim, int(att.q_lora_rank or 0), 0, int(att.qk_rope_head_dim or 0)
        window, window_layers = int(att.sliding_window_tokens or 0), m.layers  # every layer keeps the window
    else:
        kv_heads = 1
        rope = int(att.qk_rope_head_dim or 0)
        head_dim = int(att.qk_nope_head_dim or 0) + rope
        v_dim = int(att.v_head_dim or 0)
        q_lora = att.q_lora_rank or 0
        kv_lora = int(att.kv_lora_rank or 0)
        window, window_layers = 0, 0
    ratios = [int(r) for r in att.compress_ratios or []] if att.type == "compressed" else []
    csa_ratio = int(att.indexed_compress_ratio or 0) if att.type == "compressed" else 0
    hca_ratios = sorted(set(ratios) - {0, csa_ratio})
    hca_ratio = hca_ratios[0] if hca_ratios else 0
    topk = (att.sparse_topk_tokens or 0) if att.type in ("mla", "compressed") else 0
    if topk:
        index_heads, index_dim = int(att.indexer_heads or 0), int(att.indexer_head_dim or 0)
        if att.type == "compressed":
            index_layers = ratios.count(csa_ratio)
        else:
            index_layers = m.layers if att.indexer_layers is None else int(att.indexer_layers)
    else:
        index_heads = index_dim = index_layers = 0
    lin = m.linear_attention
    intermediate = (m.ffn.intermediate_size if m.ffn is not None else None) or 0
    if m.moe is not None:
        moe = m.moe
        experts, top_k, shared = moe.experts, int(moe.top_k), moe.shared_experts or 0
        e_width = moe.expert_intermediate_size
        s_width = e_width if moe.shared_expert_intermediate_size is None else moe.shared_expert_intermediate_size
    else:
        experts = top_k = shared = e_width = s_width = 0
    pub = m.published_parameters
    return ModelSpec(
        name=m.name, family=m.family, source=m.source, layers=m.layers,
        hidden_size=m.hidden_size, vocab_size=m.vocab_size,
        tied_embeddings=bool(m.tied_embeddings), attention_type=att.type, heads=att.heads, kv_heads=kv_heads,
        head_dim=head_dim, v_head_dim=v_dim, q_lora_rank=q_lora, kv_lora_rank=kv_lora, qk_rope_head_dim=rope,
        sliding_window_tokens=window, sliding_window_layers=window_layers if window else 0,
        intermediate_size=intermediate, experts=experts, top_k=top_k, shared_experts=shared,
        expert_intermediate_size=e_width, shared_expert_intermediate_size=s_width, moe_layers=m.moe_layers(),
        published_total_b=pub.total_b, published_active_b=pub.active_b, published_source=pub.source,
        native_precision="bf16" if m.native_precision is None else m.native_precision,
        sparse_topk_tokens=topk, indexer_heads=index_heads, indexer_head_dim=index_dim, indexer_layers=index_layers,
        attention_output_gate=bool(att.output_gate) if att.type == "gqa" else False,
        o_lora_rank=int(att.o_lora_rank or 0) if att.type == "compressed" else 0,
        o_groups=int(att.o_groups or 0) if att.type == "compressed" else 0,
        csa_layers=ratios.count(csa_ratio) if csa_ratio else 0, csa_ratio=csa_ratio,
        hca_layers=ratios.count(hca_ratio) if hca_ratio else 0, hca_ratio=hca_ratio,
        linear_attention_layers=int(lin.layers) if lin is not None else 0,
        linear_key_heads=lin.key_heads if lin is not None else 0,
        linear_value_heads=lin.value_heads if lin is not None else 0,
        linear_key_head_dim=lin.key_head_dim if lin is not None else 0,
        linear_value_head_dim=lin.value_head_dim if lin is not None else 0,
        linear_conv_kernel_tokens=lin.conv_kernel_tokens if lin is not None else 0,
        linear_state_bytes_per_element=STATE_BYTES_PER_ELEMENT[lin.state_format] if lin is not None else 0.0,
        aliases=tuple(m.aliases or ()), description=m.description or "", notes=m.notes or "", file=str(path),
        speculative_acceptance=(tuple(sorted((int(k), float(v)) for k, v in m.speculative.acceptance_length.items()))
                                if m.speculative is not None else ()),
        speculative_method=m.speculative.method if m.speculative is not None else "",
        speculative_source=m.speculative.source if m.speculative is not None else "",
    )
