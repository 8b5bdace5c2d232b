"""Model architectures: the model catalogue's schema, parameter counts and per-token costs.

One YAML file per model under ``configs/models/``, with the shape from the published config (layers, hidden size,
attention type and heads, MLA ranks, experts, top-k, shared experts, expert width, leading dense layers, vocabulary,
sliding windows). Total and active parameters are *computed* from the shape; tests check them against the published
totals. The performance model reads the derived quantities below, never the raw YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ._yaml import Section, load_yaml

__all__ = ["ModelSpec", "load_model_file"]

_KEYS = ("name", "aliases", "family", "description", "source", "published_parameters", "native_precision",
         "layers", "hidden_size", "vocab_size", "tied_embeddings", "attention", "ffn", "moe", "notes")
_GQA_KEYS = ("type", "heads", "kv_heads", "head_dim", "sliding_window_tokens", "sliding_window_layers", "notes")
_MLA_KEYS = ("type", "heads", "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim",
             "notes")
_MOE_KEYS = ("experts", "top_k", "shared_experts", "expert_intermediate_size", "shared_expert_intermediate_size",
             "dense_layers", "layer_interval", "notes")


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
    aliases: tuple[str, ...] = ()
    description: str = ""
    notes: str = ""
    file: str = field(default="", compare=False)

    # -- parameter counts ----------------------------------------------------------------------------------------
    @property
    def dense_layers(self) -> int:
        return self.layers - self.moe_layers

    @property
    def attention_params_per_layer(self) -> int:
        h, d = self.hidden_size, self.head_dim
        if self.attention_type == "gqa":
            return h * self.heads * d + 2 * h * self.kv_heads * d + self.heads * d * h
        q = (h * self.q_lora_rank + self.q_lora_rank + self.q_lora_rank * self.heads * d) if self.q_lora_rank \
            else h * self.heads * d
        kv_down = h * (self.kv_lora_rank + self.qk_rope_head_dim) + self.kv_lora_rank
        qk_nope = d - self.qk_rope_head_dim
        kv_up = self.kv_lora_rank * self.heads * (qk_nope + self.v_head_dim)
        return q + kv_down + kv_up + self.heads * self.v_head_dim * h

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
    def other_weight_params(self) -> int:
        """Every weight that is not a routed expert: attention, norms, dense FFNs, shared experts, routers, head."""
        norms = self.layers * 2 * self.hidden_size + self.hidden_size
        dense_ffn = self.dense_layers * 3 * self.hidden_size * self.intermediate_size
        shared = self.moe_layers * self.shared_experts * 3 * self.hidden_size * self.shared_expert_intermediate_size
        router = self.moe_layers * self.hidden_size * self.experts
        return (self.layers * self.attention_params_per_layer + norms + dense_ffn + shared + router
                + self.embedding_params + self.lm_head_params)

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
    def matmul_params_per_token(self) -> int:
        """Parameters in matrix products per token (2 FLOPs each): active minus the embedding lookup."""
        return self.active_params - (self.embedding_params if not self.tied_embeddings else 0)

    # -- attention and KV cache ----------------------------------------------------------------------------------
    @property
    def kv_elements_per_token_per_layer(self) -> int:
        if self.attention_type == "gqa":
            return 2 * self.kv_heads * self.head_dim
        return self.kv_lora_rank + self.qk_rope_head_dim

    @property
    def full_attention_layers(self) -> int:
        return self.layers - self.sliding_window_layers

    @property
    def decode_attention_flops_per_context_token_per_layer(self) -> int:
        """FLOPs one new token spends per cached token per layer (scores plus weighted sum).

        GQA: 2·heads·head_dim (QKᵀ) + 2·heads·head_dim (AV) = 4·heads·head_dim. MLA in the absorbed form (DeepSeek-V2
        paper §2.1.3): scores over the latent and RoPE key, 2·heads·(kv_lora + rope), and the sum over the latent,
        2·heads·kv_lora.
        """
        if self.attention_type == "gqa":
            return 4 * self.heads * self.head_dim
        return 2 * self.heads * (2 * self.kv_lora_rank + self.qk_rope_head_dim)

    @property
    def prefill_attention_flops_per_pair_per_layer(self) -> int:
        """FLOPs per (query, key) pair per layer in prefill: 2·heads·(d_qk + d_v) (MLA un-absorbed in prefill)."""
        return 2 * self.heads * (self.head_dim + self.v_head_dim)

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
            "experts": self.experts, "top_k": self.top_k, "shared_experts": self.shared_experts,
            "expert_intermediate_size": self.expert_intermediate_size, "moe_layers": self.moe_layers,
            "total_params_b": self.total_params / 1e9, "active_params_b": self.active_params / 1e9,
            "published_total_params_b": self.published_total_b, "published_active_params_b": self.published_active_b,
            "native_precision": self.native_precision, "notes": self.notes, "source": self.source,
        }


def load_model_file(path: str | Path) -> ModelSpec:
    doc = Section(load_yaml(path), path)
    doc.check_keys(_KEYS)
    layers = doc.number("layers", low=1, integer=True)
    hidden = doc.number("hidden_size", low=1, integer=True)
    att = doc.section("attention")
    kind = att.string("type", choices=("gqa", "mla"))
    att.check_keys(_GQA_KEYS if kind == "gqa" else _MLA_KEYS)
    heads = att.number("heads", low=1, integer=True)
    if kind == "gqa":
        kv_heads = att.number("kv_heads", low=1, high=heads, integer=True)
        head_dim = att.number("head_dim", low=1, integer=True)
        v_dim, q_lora, kv_lora, rope = head_dim, 0, 0, 0
        window = att.number("sliding_window_tokens", 0, low=0, integer=True)
        window_layers = att.number("sliding_window_layers", 0, low=0, high=layers, integer=True)
    else:
        kv_heads = 1
        rope = att.number("qk_rope_head_dim", low=0, integer=True)
        head_dim = att.number("qk_nope_head_dim", low=1, integer=True) + rope
        v_dim = att.number("v_head_dim", low=1, integer=True)
        q_lora = att.number("q_lora_rank", 0, low=0, integer=True)
        kv_lora = att.number("kv_lora_rank", low=1, integer=True)
        window, window_layers = 0, 0
    ffn = doc.section("ffn", {})
    ffn.check_keys(("intermediate_size", "notes"))
    intermediate = ffn.number("intermediate_size", 0, low=0, integer=True)
    if "moe" in doc:
        moe = doc.section("moe")
        moe.check_keys(_MOE_KEYS)
        experts = moe.number("experts", low=1, integer=True)
        top_k = moe.number("top_k", low=1, high=experts, integer=True)
        shared = moe.number("shared_experts", 0, low=0, integer=True)
        e_width = moe.number("expert_intermediate_size", low=1, integer=True)
        s_width = moe.number("shared_expert_intermediate_size", e_width, low=1, integer=True)
        dense_layers = moe.number("dense_layers", 0, low=0, high=layers, integer=True)
        interval = moe.number("layer_interval", 1, low=1, integer=True)
        moe_layers = (layers - dense_layers) // interval
    else:
        experts = top_k = shared = e_width = s_width = moe_layers = 0
    if layers - moe_layers > 0 and intermediate == 0:
        raise doc.error("ffn.intermediate_size", None, "a positive width: the model has dense FFN layers")
    pub = doc.section("published_parameters")
    return ModelSpec(
        name=doc.string("name"), family=doc.string("family"), source=doc.source(), layers=layers,
        hidden_size=hidden, vocab_size=doc.number("vocab_size", low=1, integer=True),
        tied_embeddings=doc.boolean("tied_embeddings", False), attention_type=kind, heads=heads, kv_heads=kv_heads,
        head_dim=head_dim, v_head_dim=v_dim, q_lora_rank=q_lora, kv_lora_rank=kv_lora, qk_rope_head_dim=rope,
        sliding_window_tokens=window, sliding_window_layers=window_layers if window else 0,
        intermediate_size=intermediate, experts=experts, top_k=top_k, shared_experts=shared,
        expert_intermediate_size=e_width, shared_expert_intermediate_size=s_width, moe_layers=moe_layers,
        published_total_b=pub.number("total_b", low=0, low_open=True),
        published_active_b=pub.number("active_b", low=0, low_open=True), published_source=pub.source(),
        native_precision=doc.string("native_precision", "bf16"), aliases=tuple(doc.items("aliases", [])),
        description=doc.string("description", ""), notes=doc.string("notes", ""), file=str(path),
    )
