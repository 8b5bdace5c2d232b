"""The bundled hardware and model catalogues: they load, carry sources, match published figures, and fail loudly.

Parameter counts are checked against the published totals within 2% (the shape comes from each model's config.json,
the total from its model card or paper); hand-worked counts pin the formulas in ``tokensim/models.py``.
"""

from __future__ import annotations

import re
import shutil

import pytest

from tokensim import ConfigError, UserError
from tokensim.config.catalog import load_catalog
from tokensim.config.precisions import resolve_precision
from tokensim.config.reader import config_dir

REQUIRED_HARDWARE = ("H100", "H200", "H800", "H20", "B200", "B300", "GB200", "GB300")
REQUIRED_MODELS = ("llama-3.1-8b", "llama-3.3-70b", "llama-2-70b", "llama-3.1-405b", "mixtral-8x7b", "qwen3-235b-a22b",
                   "gpt-oss-120b", "deepseek-v3", "deepseek-v3.2", "kimi-k2", "kimi-k2.5", "glm-5", "glm-5.2",
                   "minimax-m2", "qwen3-coder-480b-a35b")
FAMILIES = {"hopper", "blackwell", "blackwell-ultra", "cdna3", "cdna4"}
NO_FP4_TENSOR_CORES = ("MI300X", "MI325X")  # plus every Hopper part

# Models whose published *active* count leaves out the input-embedding table (a lookup, not a matmul). gpt-oss model
# card (arXiv:2508.10925) Table 1: active 5.13B = 4/128 of MLP 114.71B + attention 0.96B + unembedding 0.58B. The
# schema's active_params counts the embedding too, so for these the comparable figure is active - embedding.
ACTIVE_EXCLUDES_INPUT_EMBEDDING = {"gpt-oss-120b", "kimi-k2", "kimi-k2.5", "deepseek-v4-pro", "deepseek-v4-flash",
                                   "step-3"}
# Kimi K2 (arXiv:2507.20534: 1.04T total, 32B activated) does not say which convention it uses. Assumption: the
# gpt-oss one; with the input embedding the schema's count is 32.86B (+2.7%), without it 31.69B (-1.0%).
# DeepSeek-V4 (1.6T / 49B, 284B / 13B) does not say either. Assumption: the gpt-oss one, the only convention that fits
# both sizes: with the input embedding Pro is 49.69B (+1.4%) and Flash 13.77B (+5.9%), without it 48.77B (-0.5%) and
# 13.24B (+1.8%).
# Step-3 (316B / 38B, model card) does not say either: with the input embedding 38.84B (+2.2%), without it 37.92B
# (-0.2%); the paper's per-token FLOPs (its Table 2: linear parts around attention 2.07e10, FFN 5.33e10) leave the
# embedding lookup out too.

# Models whose published *active* count leaves out both embedding tables. Assumption: neither Z.ai nor MiniMax states
# its convention. Z.ai's GLM-4.5 (355B total, 32B active) fits it too: its config gives 33.6B active with both tables
# and 32.0B without. With both tables GLM-5 is 41.78B (+4.5% on 40B) and MiniMax-M2 11.03B (+10% on "around 10B");
# GLM-5.2 (the same 744B-A40B) 41.25B with them, 39.35B (-1.6%) without.
ACTIVE_EXCLUDES_BOTH_EMBEDDINGS = {"glm-5", "glm-5.2", "minimax-m2"}

# Models whose published totals predate a module the catalogue counts: DeepSeek-V3.2-Exp is V3.1-Terminus plus the
# DSA lightning indexer, and its card and repository quote V3's 671B / 37B (config_671B_v3.2.json). The comparable
# figure leaves out the indexer's weights (0.85B), which tests/test_sparse_attention.py counts by hand.
PUBLISHED_WITHOUT_INDEXER = {"deepseek-v3.2"}

TOLERANCE = 0.02

# Models whose publisher gives the active count only as the name's rounded label: Qwen3.5-397B-A17B ("397B total and
# 17B activated", github.com/QwenLM/Qwen3.5 README, commit 1e925997). The check is that the computed count rounds to
# the label (by hand: 7.55B routed + 0.76B shared + 0.13B routers + 15 x 104.9M gated attention + 45 x 118.0M Gated
# DeltaNet + 2 x 1.02B embeddings = 17.35B, with both embeddings, the Qwen3 convention).
ACTIVE_ROUNDED_LABEL = {"qwen3.5-397b-a17b"}

CATALOG = load_catalog()


def _relative_error(computed: float, published: float) -> float:
    return abs(computed / published - 1.0)


def _has_date_or_assumption(source: str) -> bool:
    return bool(re.search(r"\b(19|20)\d{2}\b", source)) or "assumption" in source.lower()


# -- loading and provenance -----------------------------------------------------------------------------------------
def test_every_catalogue_file_loads_into_its_own_entry():
    """Each YAML file under configs/hardware and configs/models becomes exactly one catalogue entry."""
    assert len(CATALOG.hardware) == len(list((config_dir() / "hardware").glob("*.yaml")))
    assert len(CATALOG.models) == len(list((config_dir() / "models").glob("*.yaml")))


def test_required_hardware_exists():
    """Every accelerator the issue names is in the hardware catalogue."""
    assert set(REQUIRED_HARDWARE) <= set(CATALOG.hardware)


def test_required_models_exist_and_deepseek_r1_is_an_alias():
    """Every model the issue names is in the catalogue, and deepseek-r1 resolves to deepseek-v3 by alias."""
    assert set(REQUIRED_MODELS) <= set(CATALOG.models)
    assert CATALOG.get_model("deepseek-r1").name == "deepseek-v3"


@pytest.mark.parametrize("name", sorted(CATALOG.hardware))
def test_hardware_has_a_dated_source(name):
    """Every hardware entry names its source document with a date (or says 'assumption')."""
    source = CATALOG.hardware[name].source
    assert source.strip() and _has_date_or_assumption(source)


@pytest.mark.parametrize("name", sorted(CATALOG.models))
def test_model_has_dated_shape_and_parameter_sources(name):
    """Every model names the source of its shape and of its published parameter count, each with a date."""
    model = CATALOG.models[name]
    assert model.source.strip() and _has_date_or_assumption(model.source)
    assert model.published_source.strip() and _has_date_or_assumption(model.published_source)


@pytest.mark.parametrize("name", sorted(CATALOG.hardware))
def test_hardware_family_is_a_calibration_family(name):
    """Every accelerator belongs to one of the calibration families the performance model fits."""
    assert CATALOG.hardware[name].family in FAMILIES


def test_blackwell_ultra_parts_are_their_own_family():
    """B300 and GB300 are calibrated as Blackwell Ultra, apart from B200 and GB200."""
    assert {CATALOG.hardware[n].family for n in ("B300", "GB300")} == {"blackwell-ultra"}
    assert {CATALOG.hardware[n].family for n in ("B200", "GB200")} == {"blackwell"}


@pytest.mark.parametrize("name", sorted(CATALOG.hardware))
def test_fp16_rate_equals_bf16_rate(name):
    """Every accelerator lists FP16 at its BF16 tensor rate."""
    tflops = CATALOG.hardware[name].dense_tflops
    assert tflops["fp16"] == tflops["bf16"]


@pytest.mark.parametrize("name", ("GB200", "GB300"))
def test_nvl72_parts_are_one_72_gpu_domain_bought_by_the_rack(name):
    """GB200 and GB300 have a 72-GPU NVLink domain and a 72-GPU unit of purchase (the NVL72 rack)."""
    hw = CATALOG.hardware[name]
    assert hw.scale_up_domain_gpus == 72
    assert hw.gpus_per_server == 72


# -- parameter counts -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CATALOG.models))
def test_computed_total_params_match_published(name):
    """The total parameter count computed from the shape is within 2% of the published total."""
    model = CATALOG.models[name]
    total = model.total_params
    if name in PUBLISHED_WITHOUT_INDEXER:
        total -= model.indexer_layers * model.indexer_params_per_layer
    assert _relative_error(total / 1e9, model.published_total_b) <= TOLERANCE


@pytest.mark.parametrize("name", sorted(CATALOG.models))
def test_computed_active_params_match_published(name):
    """The active parameter count computed from the shape, in the publisher's convention, is within 2% of it."""
    model = CATALOG.models[name]
    active = model.active_params
    if name in ACTIVE_EXCLUDES_INPUT_EMBEDDING:
        active -= model.embedding_params
    if name in ACTIVE_EXCLUDES_BOTH_EMBEDDINGS:
        active -= model.embedding_params + model.lm_head_params
    if name in PUBLISHED_WITHOUT_INDEXER:
        active -= model.indexer_layers * model.indexer_params_per_layer
    if name in ACTIVE_ROUNDED_LABEL:
        assert round(active / 1e9) == model.published_active_b
        return
    assert _relative_error(active / 1e9, model.published_active_b) <= TOLERANCE


def test_active_conventions_name_only_catalogue_models():
    """Every model named in a counting-convention set exists, and no model is in two of them."""
    sets = (ACTIVE_EXCLUDES_INPUT_EMBEDDING, ACTIVE_EXCLUDES_BOTH_EMBEDDINGS)
    assert set().union(*sets, PUBLISHED_WITHOUT_INDEXER, ACTIVE_ROUNDED_LABEL) <= set(CATALOG.models)
    assert not ACTIVE_EXCLUDES_INPUT_EMBEDDING & ACTIVE_EXCLUDES_BOTH_EMBEDDINGS


def test_kimi_k2_parameter_count_by_hand():
    """Kimi K2 (config.json: hidden 7168, 61 layers, 1 dense, 64 MLA heads, 384 experts of 2048, top-8, 1 shared,
    vocab 163840) counted by hand:
      attention per layer  7168·1536 + 1536 + 1536·64·192 + 7168·576 + 512 + 512·64·256 + 64·128·7168 = 101,124,096
      routed expert        3·7168·2048                                            =      44,040,192
      60 MoE layers: 384 routed + 1 shared expert + router 7168·384 each; 1 dense layer 3·7168·18432
      embeddings           2·163840·7168 (untied)                                 =   2,348,810,240
      norms                61·2·7168 + 7168
    total 1,026,408,209,408 (1.3% under the report's 1.04T); active 32,861,477,888 (31,687,072,768 without the
    input embedding, 1.0% under 32B)."""
    h, layers, moe_layers = 7168, 61, 60
    attention = h * 1536 + 1536 + 1536 * 64 * 192 + h * 576 + 512 + 512 * 64 * 256 + 64 * 128 * h
    assert attention == 101_124_096
    expert = 3 * h * 2048
    common = (layers * attention + (layers * 2 * h + h) + 3 * h * 18432 + moe_layers * (expert + h * 384)
              + 2 * 163840 * h)
    total = common + moe_layers * 384 * expert
    active = common + moe_layers * 8 * expert
    model = CATALOG.get_model("kimi-k2")
    assert model.total_params == total == 1_026_408_209_408
    assert model.active_params == active == 32_861_477_888
    assert model.active_params - model.embedding_params == 31_687_072_768


def test_new_models_resolve_their_shipped_recipes():
    """Each new model's native recipe is in the precision catalogue; Kimi K2.5's INT4 group-32 experts are 4.5 bits."""
    for name in ("deepseek-v3.2", "kimi-k2", "kimi-k2.5", "glm-5", "glm-5.2", "minimax-m2", "qwen3-coder-480b-a35b"):
        assert CATALOG.get_recipe(CATALOG.get_model(name).native_precision)
    recipe = CATALOG.get_recipe("int4-experts")
    assert recipe.routed_experts.bits_per_element == 4 + 16 / 32
    assert recipe.other_weights.name == "bf16"


def test_glm_5_2_index_share_schedule_and_parameter_count_by_hand():
    """GLM-5.2 is GLM-5 with IndexShare. Z.ai's slime (scripts/models/glm5.2-744B-A40B.sh, commit 872504c1): with
    index_topk_freq 4 and index_skip_topk_offset 3 the layers that compute their own top-k are 1, 2, 3, 7, 11, ..., 75
    (1-indexed) and only they carry indexer weights. GLM-5's indexer per layer (config.json: q_lora 2048, hidden
    6144, 32 index heads of 128): wq_b 2048 x 32*128 + wk 6144 x 128 + key LayerNorm 2 x 128 + weights_proj 6144 x 32.
    """
    computing = [1, 2, 3] + list(range(7, 76, 4))
    assert computing[-4:] == [63, 67, 71, 75] and len(computing) == 21
    glm5, glm52 = CATALOG.get_model("glm-5"), CATALOG.get_model("glm-5.2")
    per_layer = 2048 * 32 * 128 + 6144 * 128 + 2 * 128 + 6144 * 32
    assert glm52.indexer_params_per_layer == glm5.indexer_params_per_layer == per_layer == 9_371_904
    assert (glm5.indexer_layers, glm52.indexer_layers) == (78, len(computing))
    assert glm5.total_params - glm52.total_params == (78 - 21) * per_layer == 534_198_528
    assert glm5.active_params - glm52.active_params == (78 - 21) * per_layer
    assert glm52.sparse_topk_tokens == glm5.sparse_topk_tokens == 2048  # every layer still attends only its top-k


def test_minimax_m2_5_is_minimax_m2_by_alias():
    """MiniMax's M2.5 deployment guides apply unchanged to M2 and give M2's memory figures (220 GB of weights, 240 GB
    per 1M context tokens); one entry serves both. KV bytes per token in BF16: 62 layers x (K, V) x 8 heads x 128 x 2 B
    = 253,952, i.e. 254 GB per 1M tokens."""
    model = CATALOG.get_model("MiniMax-M2.5")
    assert model is CATALOG.get_model("minimax-m2")
    assert model.layers * 2 * model.kv_heads * model.head_dim * 2 == 253_952


def test_gpt_oss_active_count_differs_from_the_card_only_by_the_input_embedding():
    """gpt-oss-120b's schema active count exceeds the card's 5.13B by its input-embedding table, 201088 x 2880."""
    model = CATALOG.get_model("gpt-oss-120b")
    assert model.embedding_params == 201_088 * 2_880
    assert _relative_error(model.active_params / 1e9, model.published_active_b) > TOLERANCE
    assert _relative_error((model.active_params - model.embedding_params) / 1e9, model.published_active_b) <= 0.005


def test_llama_3_1_8b_parameter_count_by_hand():
    """The code's Llama 3.1 8B count equals a hand count: embeddings, head, q/k/v/o, 3-matrix MLP and RMSNorms."""
    hidden, vocab, layers, kv_width, mlp_width = 4096, 128256, 32, 8 * 128, 14336
    embeddings = vocab * hidden                                   # 525,336,576
    lm_head = vocab * hidden                                      # untied
    attention = hidden * hidden + 2 * hidden * kv_width + hidden * hidden   # q, k, v, o = 41,943,040
    mlp = 3 * hidden * mlp_width                                  # gate, up, down = 176,160,768
    norms = 2 * hidden                                            # input and post-attention RMSNorm
    per_layer = attention + mlp + norms                           # 218,112,000
    total = embeddings + lm_head + layers * per_layer + hidden    # + final RMSNorm
    assert total == 8_030_261_248
    model = CATALOG.get_model("llama-3.1-8b")
    assert model.total_params == total
    assert model.active_params == total


def test_deepseek_v3_mla_attention_parameters_by_hand():
    """The code's MLA attention parameters per DeepSeek-V3 layer equal the hand count below.

    hidden 7168, 128 heads, q_lora 1536, kv_lora 512, qk_nope 128, qk_rope 64, v_head 128:
      q_a  (down)  7168 x 1536                   =  11,010,048
      q_a norm     1536                          =       1,536
      q_b  (up)    1536 x 128 x (128 + 64)       =  37,748,736
      kv_a (down)  7168 x (512 + 64)             =   4,128,768   (latent plus the shared RoPE key)
      kv_a norm    512                           =         512
      kv_b (up)    512 x 128 x (128 + 128)       =  16,777,216   (no-RoPE keys and values)
      o            128 x 128 x 7168              = 117,440,512
      total                                      = 187,107,328
    """
    expected = (7168 * 1536 + 1536 + 1536 * 128 * (128 + 64) + 7168 * (512 + 64) + 512
                + 512 * 128 * (128 + 128) + 128 * 128 * 7168)
    assert expected == 187_107_328
    assert CATALOG.get_model("deepseek-v3").attention_params_per_layer == expected


def test_kv_elements_per_token_per_layer():
    """KV cache elements per token per layer: GQA caches 2·kv_heads·head_dim, MLA the latent plus the RoPE key."""
    assert CATALOG.get_model("llama-3.1-8b").kv_elements_per_token_per_layer == 2 * 8 * 128 == 2048
    assert CATALOG.get_model("deepseek-v3").kv_elements_per_token_per_layer == 512 + 64 == 576


def test_sliding_window_layers_cap_only_part_of_the_stack():
    """gpt-oss-120b windows 18 of 36 layers at 128 tokens; Llama 4 Maverick's chunked layers are 36 of 48 at 8192."""
    gpt_oss = CATALOG.get_model("gpt-oss-120b")
    assert (gpt_oss.sliding_window_tokens, gpt_oss.sliding_window_layers) == (128, 18)
    assert gpt_oss.full_attention_layers == 18
    maverick = CATALOG.get_model("llama-4-maverick")
    assert (maverick.sliding_window_tokens, maverick.sliding_window_layers) == (8192, 36)


def test_llama_4_maverick_interleaves_moe_and_dense_layers():
    """Llama 4 Maverick has 24 MoE layers (128 experts, top-1, one shared) and 24 dense layers of width 16384."""
    model = CATALOG.get_model("llama-4-maverick")
    assert (model.moe_layers, model.dense_layers) == (24, 24)
    assert (model.experts, model.top_k, model.shared_experts) == (128, 1, 1)
    assert model.intermediate_size == 16384


# -- hardware rates -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("blackwell", "ultra"), [("B200", "B300"), ("GB200", "GB300")])
def test_blackwell_ultra_raises_only_fp4(blackwell, ultra):
    """Blackwell Ultra keeps Blackwell's FP8 and BF16 peaks and raises dense FP4 by 1.5x."""
    base, raised = CATALOG.hardware[blackwell], CATALOG.hardware[ultra]
    assert raised.peak_tflops("fp8") == base.peak_tflops("fp8")
    assert raised.peak_tflops("bf16") == base.peak_tflops("bf16")
    assert raised.peak_tflops("fp4") == pytest.approx(1.5 * base.peak_tflops("fp4"))


def test_no_fp4_on_hopper_or_cdna3():
    """No Hopper part and neither MI300X nor MI325X lists an FP4 (or FP6) tensor rate."""
    parts = [h for h in CATALOG.hardware.values() if h.family == "hopper" or h.name in NO_FP4_TENSOR_CORES]
    assert {h.name for h in parts} >= {"H100", "H200", "H800", "H20", "MI300X", "MI325X"}
    for hw in parts:
        assert "fp4" not in hw.dense_tflops and "fp6" not in hw.dense_tflops, hw.name
        assert not hw.is_native("fp4")


# -- lookup ---------------------------------------------------------------------------------------------------------
def test_lookup_is_case_insensitive_and_follows_aliases():
    """Names match regardless of case and through each entry's aliases."""
    assert CATALOG.get_hardware("h100") is CATALOG.get_hardware("H100")
    assert CATALOG.get_hardware("gb300-nvl72").name == "GB300"
    assert CATALOG.get_model("DeepSeek-R1").name == "deepseek-v3"
    assert CATALOG.get_model("LLAMA-3.3-70B-INSTRUCT").name == "llama-3.3-70b"


@pytest.mark.parametrize(("kind", "typo", "close"), [("hardware", "H2000", "H200"),
                                                      ("model", "llama-3.3-70c", "llama-3.3-70b")])
def test_unknown_name_suggests_the_closest(kind, typo, close):
    """An unknown name raises a UserError whose message says 'did you mean' and names the closest entry."""
    lookup = CATALOG.get_hardware if kind == "hardware" else CATALOG.get_model
    with pytest.raises(UserError) as info:
        lookup(typo)
    assert "did you mean" in str(info.value)
    assert f"'{close}'" in str(info.value)


# -- malformed files ------------------------------------------------------------------------------------------------
MALFORMED_H200 = [
    pytest.param("hbm_gib: 141", "hbm_gib: [141", "malformed YAML", id="bad-yaml-syntax"),
    pytest.param("hbm_gib: 141", "# (hbm_gib removed)", "'hbm_gib'", id="missing-required-field"),
    pytest.param("hbm_bandwidth_tb_per_s: 4.8", "hbm_bandwidth_tb_per_s: -4.8", "'hbm_bandwidth_tb_per_s'",
                 id="negative-hbm-bandwidth"),
    pytest.param("scale_out_bandwidth_gb_per_s: 50", "scale_out_bandwidth_gb_per_s: -50",
                 "'scale_out_bandwidth_gb_per_s'", id="negative-network-bandwidth"),
    pytest.param("hbm_usable_gib: 141", "hbm_usable_gib: 150", "'hbm_usable_gib'", id="usable-above-total"),
    pytest.param("fp8: 1979", "fp8: .nan", "'dense_tflops.fp8'", id="nan-rate"),
]


@pytest.mark.parametrize(("original", "replacement", "field"), MALFORMED_H200)
def test_malformed_hardware_file_names_the_file_and_field(tmp_path, original, replacement, field):
    """A broken hardware YAML raises a UserError whose message names the file and the field path (or YAML line)."""
    root = tmp_path / "configs"
    shutil.copytree(config_dir(), root)
    path = root / "hardware" / "h200.yaml"
    text = path.read_text(encoding="utf-8")
    assert original in text
    path.write_text(text.replace(original, replacement, 1), encoding="utf-8")
    with pytest.raises(UserError) as info:
        load_catalog(root=str(root))
    message = str(info.value)
    assert str(path) in message
    assert field in message
    if field == "malformed YAML":
        assert "line" in message
    else:
        assert isinstance(info.value, ConfigError)


def test_a_valid_tmp_copy_loads_like_the_bundled_catalogue(tmp_path):
    """An unmodified copy of configs/ loads from its own root with the same entries (the cache keys on the root)."""
    root = tmp_path / "configs"
    shutil.copytree(config_dir(), root)
    copy = load_catalog(root=str(root))
    assert copy is not CATALOG
    assert set(copy.hardware) == set(CATALOG.hardware) and set(copy.models) == set(CATALOG.models)


# -- precision recipes on each accelerator --------------------------------------------------------------------------
def _fp4_weight_recipes():
    return sorted(name for name, r in CATALOG.recipes.items()
                  if "fp4" in (r.routed_experts.compute_class, r.other_weights.compute_class))


@pytest.mark.parametrize("hardware", sorted(CATALOG.hardware))
def test_every_recipe_resolves_to_a_native_rate(hardware):
    """Every precision recipe resolves on every accelerator to a compute class it has a peak rate for."""
    hw = CATALOG.hardware[hardware]
    for recipe in CATALOG.recipes.values():
        resolved = resolve_precision(recipe, hw)
        assert hw.peak_tflops(resolved.compute_class) > 0, (hardware, recipe.name)


@pytest.mark.parametrize("hardware", sorted(h.name for h in CATALOG.hardware.values()
                                            if h.family in ("hopper", "cdna3")))
def test_fp4_recipes_run_weight_only_without_fp4_tensor_cores(hardware):
    """On Hopper and CDNA3, every recipe with FP4 weights runs weight-only and computes in a wider format."""
    hw = CATALOG.hardware[hardware]
    recipes = _fp4_weight_recipes()
    assert {"mxfp4", "nvfp4", "mxfp4-moe"} <= set(recipes)
    for name in recipes:
        resolved = resolve_precision(CATALOG.recipes[name], hw)
        assert resolved.weight_only, name
        assert resolved.compute_class in ("fp8", "bf16"), name


def test_nvfp4_is_native_on_blackwell_only():
    """NVFP4's E4M3 block scales are Blackwell's: on MI355X (CDNA4, FP4 with OCP MX scales) an NVFP4 checkpoint is
    dequantised and multiplied at FP8, not at CDNA4's FP4 or FP6 rate, while MXFP4 runs natively there."""
    mi355x = CATALOG.hardware["MI355X"]
    nvfp4 = resolve_precision(CATALOG.recipes["nvfp4"], mi355x)
    assert (nvfp4.compute_class, nvfp4.weight_only, nvfp4.native) == ("fp8", True, False)
    mxfp4 = resolve_precision(CATALOG.recipes["mxfp4"], mi355x)
    assert (mxfp4.compute_class, mxfp4.weight_only, mxfp4.native) == ("fp4", False, True)
    for name in ("B200", "B300"):
        on_blackwell = resolve_precision(CATALOG.recipes["nvfp4"], CATALOG.hardware[name])
        assert (on_blackwell.compute_class, on_blackwell.weight_only) == ("fp4", False)


def test_gpt_oss_recipe_runs_w4a16_where_its_experts_are_weight_only():
    """gpt-oss's MXFP4 experts take MXFP8 activations on Blackwell (an FP8-rate MMA) but BF16 ones where they are
    dequantised (TensorRT-LLM's gpt-oss support matrix: Hopper bf16 x mxfp4 on HGMMA, fp8 'not enabled'; vLLM's
    Hopper MXFP4 backends are all BF16): W4A16 at the BF16 rate on Hopper and CDNA3, and the EP dispatch in 16 bits."""
    recipe = CATALOG.recipes["mxfp4-moe"]
    assert recipe.weight_only_activations is not None and recipe.weight_only_activations.name == "bf16"
    for hw in CATALOG.hardware.values():
        resolved = resolve_precision(recipe, hw)
        if hw.family in ("hopper", "cdna3"):
            assert (resolved.weight_only, resolved.compute_class, resolved.activation_bytes_per_element) == (
                True, "bf16", 2.0), hw.name
        if hw.family in ("blackwell", "blackwell-ultra"):
            assert (resolved.weight_only, resolved.compute_class, resolved.activation_bytes_per_element) == (
                False, "fp8", 1.0), hw.name
    # a recipe without the field keeps its activations when weight-only: NVFP4 W4A4 on H200 computes at FP8
    nvfp4 = resolve_precision(CATALOG.recipes["nvfp4"], CATALOG.hardware["H200"])
    assert CATALOG.recipes["nvfp4"].weight_only_activations is None
    assert (nvfp4.weight_only, nvfp4.compute_class) == (True, "fp8")


def test_unknown_weight_only_activations_format_is_a_clear_error(tmp_path):
    """A recipe naming a weight-only activations format the file does not define is refused with its key."""
    import shutil

    from tokensim._errors import ConfigError
    from tokensim.config.catalog import load_catalog
    from tokensim.config.reader import config_dir

    root = tmp_path / "configs"
    shutil.copytree(config_dir(), root)
    path = root / "precisions.yaml"
    path.write_text(path.read_text().replace("weight_only_activations: bf16", "weight_only_activations: bf61"))
    with pytest.raises(ConfigError, match=r"recipes\.mxfp4-moe\.weight_only_activations.*did you mean 'bf16'"):
        load_catalog(str(root))


def test_unknown_native_family_is_a_clear_error(tmp_path):
    """A format naming a hardware family that no accelerator has is refused with the field and a suggestion."""
    import shutil

    from tokensim._errors import ConfigError
    from tokensim.config.catalog import load_catalog
    from tokensim.config.reader import config_dir

    root = tmp_path / "configs"
    shutil.copytree(config_dir(), root)
    path = root / "precisions.yaml"
    path.write_text(path.read_text().replace("native_families: [blackwell, blackwell-ultra]",
                                             "native_families: [blackwel, blackwell-ultra]"))
    with pytest.raises(ConfigError, match=r"formats\.nvfp4\.native_families.*did you mean 'blackwell'"):
        load_catalog(str(root))


@pytest.mark.parametrize("recipe", ["mxfp4", "nvfp4"])
def test_fp4_recipes_compute_in_fp4_on_b300(recipe):
    """On B300, W4A4 FP4 recipes compute natively at the FP4 tensor rate with no dequantisation."""
    resolved = resolve_precision(CATALOG.recipes[recipe], CATALOG.hardware["B300"])
    assert resolved.compute_class == "fp4"
    assert resolved.native and not resolved.weight_only
