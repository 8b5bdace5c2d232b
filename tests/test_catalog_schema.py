"""The catalogue files' schemas (tokensim.config.hardware, models, precisions): today's messages pinned, and every
error of a file reported at once."""

from __future__ import annotations

import pytest
from _yamledit import DROP, edited

from tokensim import ConfigError, ConfigErrors, UserError
from tokensim.config.hardware import load_hardware_file
from tokensim.config.models import load_model_file
from tokensim.config.precisions import load_precisions_file
from tokensim.config.reader import config_dir

# (case, {dotted path in configs/hardware/b300.yaml: new value or DROP}, the exact message; {path} = the file)
HARDWARE_MESSAGES = [
    ('unknown_key', {'board_power': 1100},
     "{path}: field 'board_power' got 1100; allowed: known keys: aliases, board_power_w, dense_tflops, "
     'description, family, gpus_per_server, hbm_bandwidth_tb_per_s, hbm_gib, hbm_usable_gib, '
     'host_link_bandwidth_gb_per_s, host_memory_gb_per_gpu, max_achievable_source, max_achievable_tflops, name, '
     'notes, scale_out_bandwidth_gb_per_s, scale_up_bandwidth_gb_per_s, scale_up_domain_gpus, source, vendor '
     "(did you mean 'board_power_w'?)"),
    ('name_missing', {'name': DROP},
     "{path}: field 'name' missing; allowed: a value (this field is required)"),
    ('name_not_string', {'name': 5},
     "{path}: field 'name' got 5; allowed: a string"),
    ('vendor_missing', {'vendor': DROP},
     "{path}: field 'vendor' missing; allowed: a value (this field is required)"),
    ('family_not_string', {'family': ['x']},
     "{path}: field 'family' got ['x']; allowed: a string"),
    ('description_not_string', {'description': 5},
     "{path}: field 'description' got 5; allowed: a string"),
    ('source_missing', {'source': DROP},
     "{path}: field 'source' missing; allowed: a value (this field is required)"),
    ('source_empty', {'source': ' '},
     "{path}: field 'source' got ' '; allowed: a source: document and date, or 'assumption'"),
    ('source_no_document', {'source': {'date': '2026-04'}},
     "{path}: field 'source.document' got None; allowed: the document a value comes from"),
    ('tflops_unknown_class', {'dense_tflops.fp2': 5},
     "{path}: field 'dense_tflops.fp2' got 5; allowed: known keys: bf16, fp16, fp4, fp6, fp8 (did you mean 'fp8'?)"),
    ('tflops_zero', {'dense_tflops.fp8': 0},
     "{path}: field 'dense_tflops.fp8' got 0; allowed: a number in (0, inf)"),
    ('tflops_string', {'dense_tflops.fp8': '4.5k'},
     "{path}: field 'dense_tflops.fp8' got '4.5k'; allowed: a number"),
    ('tflops_no_bf16', {'dense_tflops.bf16': DROP},
     "{path}: field 'dense_tflops.bf16' got None; allowed: a positive number (every accelerator runs bf16)"),
    ('tflops_missing', {'dense_tflops': DROP},
     "{path}: field 'dense_tflops' missing; allowed: a value (this field is required)"),
    ('tflops_not_mapping', {'dense_tflops': [1, 2]},
     "{path}: field 'dense_tflops' got [1, 2]; allowed: a mapping of key: value"),
    ('usable_above_total', {'hbm_usable_gib': 300},
     "{path}: field 'hbm_usable_gib' got 300.0; allowed: at most hbm_gib (288)"),
    ('hbm_zero', {'hbm_gib': 0},
     "{path}: field 'hbm_gib' got 0; allowed: a number in (0, inf)"),
    ('hbm_missing', {'hbm_gib': DROP},
     "{path}: field 'hbm_gib' missing; allowed: a value (this field is required)"),
    ('bandwidth_negative', {'hbm_bandwidth_tb_per_s': -8},
     "{path}: field 'hbm_bandwidth_tb_per_s' got -8; allowed: a number in (0, inf)"),
    ('scale_up_zero', {'scale_up_bandwidth_gb_per_s': 0},
     "{path}: field 'scale_up_bandwidth_gb_per_s' got 0; allowed: a number in (0, inf)"),
    ('domain_fraction', {'scale_up_domain_gpus': 8.5},
     "{path}: field 'scale_up_domain_gpus' got 8.5; allowed: a whole number"),
    ('domain_zero', {'scale_up_domain_gpus': 0},
     "{path}: field 'scale_up_domain_gpus' got 0; allowed: a number in [1, inf)"),
    ('scale_out_zero', {'scale_out_bandwidth_gb_per_s': 0},
     "{path}: field 'scale_out_bandwidth_gb_per_s' got 0; allowed: a number in (0, inf)"),
    ('power_zero', {'board_power_w': 0},
     "{path}: field 'board_power_w' got 0; allowed: a number in (0, inf)"),
    ('gpus_per_server_zero', {'gpus_per_server': 0},
     "{path}: field 'gpus_per_server' got 0; allowed: a number in [1, inf)"),
    ('aliases_not_list', {'aliases': 'b300x'},
     "{path}: field 'aliases' got 'b300x'; allowed: a list"),
    ('notes_not_string', {'notes': 5},
     "{path}: field 'notes' got 5; allowed: a string"),
    ('host_link_alone', {'host_link_bandwidth_gb_per_s': 225},
     "{path}: field 'host_link_bandwidth_gb_per_s' got 225.0; allowed: host_memory_gb_per_gpu as well (a coherent "
     "host link has both), or neither"),
    ('host_memory_zero', {'host_memory_gb_per_gpu': 0, 'host_link_bandwidth_gb_per_s': 225},
     "{path}: field 'host_memory_gb_per_gpu' got 0; allowed: a number in (0, inf)"),
    ('achievable_without_source', {'max_achievable_tflops': {'fp8': 3000}},
     "{path}: field 'max_achievable_tflops' got {'fp8': 3000.0}; allowed: max_achievable_source as well (a measured "
     "rate needs its source), or neither"),
    ('achievable_above_peak', {'max_achievable_tflops': {'fp8': 5000}, 'max_achievable_source': 'assumption'},
     "{path}: field 'max_achievable_tflops.fp8' got 5000.0; allowed: at most the dense peak dense_tflops.fp8 (4500)"),
    ('achievable_class_not_native', {'max_achievable_tflops': {'fp6': 100}, 'max_achievable_source': 'assumption'},
     "{path}: field 'max_achievable_tflops.fp6' got 100.0; allowed: a class listed in dense_tflops "
     "(bf16, fp16, fp8, fp4)"),
    ('document_list', None,
     "{path}: field '(document)' got [1, 2]; allowed: a mapping of key: value"),
]


@pytest.mark.parametrize("case, edits, message", HARDWARE_MESSAGES, ids=[c[0] for c in HARDWARE_MESSAGES])
def test_pinned_hardware_messages(tmp_path, case, edits, message):
    """One mistake in a hardware file gives exactly the one-line message given before the schema."""
    path = edited(tmp_path, config_dir() / "hardware" / "b300.yaml", edits)
    with pytest.raises(UserError) as info:
        load_hardware_file(path)
    assert str(info.value) == message.replace("{path}", str(path))


# (bundled model, case, {dotted path: new value or DROP}, the exact message; {path} = the file)
MODEL_MESSAGES = [
    ('deepseek-v3', 'unknown_key', {'layer': 61},
     "{path}: field 'layer' got 61; allowed: known keys: aliases, attention, description, family, ffn, "
     'hidden_size, layers, linear_attention, moe, name, native_precision, notes, published_parameters, source, '
     "speculative, tied_embeddings, vocab_size (did you mean 'layers'?)"),
    ('deepseek-v3', 'speculative_acceptance_above_drafts', {'speculative.acceptance_length': {3: 4.5}},
     "{path}: field 'speculative.acceptance_length.3' got 4.5; allowed: a number in [1, 4]"),
    ('deepseek-v3', 'speculative_acceptance_below_one', {'speculative.acceptance_length': {1: 0.9}},
     "{path}: field 'speculative.acceptance_length.1' got 0.9; allowed: a number in [1, 2]"),
    ('deepseek-v3', 'speculative_draft_zero', {'speculative.acceptance_length': {0: 1.0}},
     "{path}: field 'speculative.acceptance_length.0' got 0; allowed: draft tokens: a whole number from 1 to 16"),
    ('deepseek-v3', 'speculative_source_missing', {'speculative.source': DROP},
     "{path}: field 'speculative.source' missing; allowed: a value (this field is required)"),
    ('deepseek-v3', 'layers_zero', {'layers': 0},
     "{path}: field 'layers' got 0; allowed: a number in [1, inf)"),
    ('deepseek-v3', 'layers_missing', {'layers': DROP},
     "{path}: field 'layers' missing; allowed: a value (this field is required)"),
    ('deepseek-v3', 'hidden_fraction', {'hidden_size': 7168.5},
     "{path}: field 'hidden_size' got 7168.5; allowed: a whole number"),
    ('deepseek-v3', 'vocab_zero', {'vocab_size': 0},
     "{path}: field 'vocab_size' got 0; allowed: a number in [1, inf)"),
    ('deepseek-v3', 'tied_not_bool', {'tied_embeddings': 'no'},
     "{path}: field 'tied_embeddings' got 'no'; allowed: true or false"),
    ('deepseek-v3', 'name_missing', {'name': DROP},
     "{path}: field 'name' missing; allowed: a value (this field is required)"),
    ('deepseek-v3', 'source_missing', {'source': DROP},
     "{path}: field 'source' missing; allowed: a value (this field is required)"),
    ('deepseek-v3', 'native_precision_number', {'native_precision': 8},
     "{path}: field 'native_precision' got 8; allowed: a string"),
    ('deepseek-v3', 'aliases_not_list', {'aliases': 'r1'},
     "{path}: field 'aliases' got 'r1'; allowed: a list"),
    ('deepseek-v3', 'attention_missing', {'attention': DROP},
     "{path}: field 'attention' missing; allowed: a value (this field is required)"),
    ('deepseek-v3', 'attention_not_mapping', {'attention': 'mla'},
     "{path}: field 'attention' got 'mla'; allowed: a mapping of key: value"),
    ('deepseek-v3', 'attention_type', {'attention.type': 'mha'},
     "{path}: field 'attention.type' got 'mha'; allowed: one of gqa, mla, compressed (did you mean 'mla'?)"),
    ('deepseek-v3', 'attention_type_missing', {'attention.type': DROP},
     "{path}: field 'attention.type' missing; allowed: a value (this field is required)"),
    ('deepseek-v3', 'mla_with_gqa_key', {'attention.kv_heads': 8},
     "{path}: field 'attention.kv_heads' got 8; allowed: known keys: heads, indexer_head_dim, indexer_heads, "
     "indexer_layers, kv_lora_rank, notes, q_lora_rank, qk_nope_head_dim, qk_rope_head_dim, sparse_topk_tokens, type, "
     "v_head_dim (did you mean 'heads'?)"),
    ('deepseek-v3', 'mla_heads_zero', {'attention.heads': 0},
     "{path}: field 'attention.heads' got 0; allowed: a number in [1, inf)"),
    ('deepseek-v3', 'mla_rope_missing', {'attention.qk_rope_head_dim': DROP},
     "{path}: field 'attention.qk_rope_head_dim' missing; allowed: a value (this field is required)"),
    ('deepseek-v3', 'mla_nope_zero', {'attention.qk_nope_head_dim': 0},
     "{path}: field 'attention.qk_nope_head_dim' got 0; allowed: a number in [1, inf)"),
    ('deepseek-v3', 'mla_v_missing', {'attention.v_head_dim': DROP},
     "{path}: field 'attention.v_head_dim' missing; allowed: a value (this field is required)"),
    ('deepseek-v3', 'mla_q_lora_negative', {'attention.q_lora_rank': -1},
     "{path}: field 'attention.q_lora_rank' got -1; allowed: a number in [0, inf)"),
    ('deepseek-v3', 'mla_kv_lora_zero', {'attention.kv_lora_rank': 0},
     "{path}: field 'attention.kv_lora_rank' got 0; allowed: a number in [1, inf)"),
    ('llama-3.1-8b', 'gqa_with_mla_key', {'attention.kv_lora_rank': 512},
     "{path}: field 'attention.kv_lora_rank' got 512; allowed: known keys: head_dim, heads, kv_heads, "
     "notes, output_gate, q_lora_rank, sliding_window_layers, sliding_window_tokens, type (did you mean "
     "'q_lora_rank'?)"),
    ('llama-3.1-8b', 'gqa_kv_heads_high', {'attention.kv_heads': 64},
     "{path}: field 'attention.kv_heads' got 64; allowed: a number in [1, 32]"),
    ('llama-3.1-8b', 'gqa_kv_heads_missing', {'attention.kv_heads': DROP},
     "{path}: field 'attention.kv_heads' missing; allowed: a value (this field is required)"),
    ('llama-3.1-8b', 'gqa_head_dim_missing', {'attention.head_dim': DROP},
     "{path}: field 'attention.head_dim' missing; allowed: a value (this field is required)"),
    ('llama-3.1-8b', 'gqa_window_negative', {'attention.sliding_window_tokens': -1},
     "{path}: field 'attention.sliding_window_tokens' got -1; allowed: a number in [0, inf)"),
    ('llama-3.1-8b', 'gqa_window_layers_high', {'attention.sliding_window_layers': 33},
     "{path}: field 'attention.sliding_window_layers' got 33; allowed: a number in [0, 32]"),
    ('deepseek-v3', 'ffn_unknown_key', {'ffn.intermediate': 5},
     "{path}: field 'ffn.intermediate' got 5; allowed: known keys: intermediate_size, notes (did you mean "
     "'intermediate_size'?)"),
    ('deepseek-v3', 'ffn_negative', {'ffn.intermediate_size': -1},
     "{path}: field 'ffn.intermediate_size' got -1; allowed: a number in [0, inf)"),
    ('deepseek-v3', 'ffn_missing_with_dense_layers', {'ffn': DROP},
     "{path}: field 'ffn.intermediate_size' got None; allowed: a positive width: the model has dense FFN layers"),
    ('deepseek-v3', 'ffn_not_mapping', {'ffn': 5},
     "{path}: field 'ffn' got 5; allowed: a mapping of key: value"),
    ('deepseek-v3', 'moe_unknown_key', {'moe.expert': 5},
     "{path}: field 'moe.expert' got 5; allowed: known keys: dense_layers, expert_intermediate_size, "
     'experts, layer_interval, notes, shared_expert_intermediate_size, shared_experts, top_k (did you '
     "mean 'experts'?)"),
    ('deepseek-v3', 'moe_experts_zero', {'moe.experts': 0},
     "{path}: field 'moe.experts' got 0; allowed: a number in [1, inf)"),
    ('deepseek-v3', 'moe_top_k_high', {'moe.top_k': 300},
     "{path}: field 'moe.top_k' got 300; allowed: a number in [1, 256]"),
    ('deepseek-v3', 'moe_top_k_missing', {'moe.top_k': DROP},
     "{path}: field 'moe.top_k' missing; allowed: a value (this field is required)"),
    ('deepseek-v3', 'moe_shared_negative', {'moe.shared_experts': -1},
     "{path}: field 'moe.shared_experts' got -1; allowed: a number in [0, inf)"),
    ('deepseek-v3', 'moe_width_missing', {'moe.expert_intermediate_size': DROP},
     "{path}: field 'moe.expert_intermediate_size' missing; allowed: a value (this field is required)"),
    ('deepseek-v3', 'moe_shared_width_zero', {'moe.shared_expert_intermediate_size': 0},
     "{path}: field 'moe.shared_expert_intermediate_size' got 0; allowed: a number in [1, inf)"),
    ('deepseek-v3', 'moe_dense_layers_high', {'moe.dense_layers': 62},
     "{path}: field 'moe.dense_layers' got 62; allowed: a number in [0, 61]"),
    ('deepseek-v3', 'moe_interval_zero', {'moe.layer_interval': 0},
     "{path}: field 'moe.layer_interval' got 0; allowed: a number in [1, inf)"),
    ('deepseek-v3', 'moe_not_mapping', {'moe': [1]},
     "{path}: field 'moe' got [1]; allowed: a mapping of key: value"),
    ('deepseek-v3', 'published_missing', {'published_parameters': DROP},
     "{path}: field 'published_parameters' missing; allowed: a value (this field is required)"),
    ('deepseek-v3', 'published_total_zero', {'published_parameters.total_b': 0},
     "{path}: field 'published_parameters.total_b' got 0; allowed: a number in (0, inf)"),
    ('deepseek-v3', 'published_active_missing', {'published_parameters.active_b': DROP},
     "{path}: field 'published_parameters.active_b' missing; allowed: a value (this field is required)"),
    ('deepseek-v3', 'published_source_missing', {'published_parameters.source': DROP},
     "{path}: field 'published_parameters.source' missing; allowed: a value (this field is required)"),
]


@pytest.mark.parametrize("model, case, edits, message", MODEL_MESSAGES, ids=[c[1] for c in MODEL_MESSAGES])
def test_pinned_model_messages(tmp_path, model, case, edits, message):
    """One mistake in a model file gives exactly the one-line message given before the schema."""
    path = edited(tmp_path, config_dir() / "models" / f"{model}.yaml", edits)
    with pytest.raises(UserError) as info:
        load_model_file(path)
    assert str(info.value) == message.replace("{path}", str(path))


def test_published_parameters_refuse_unknown_keys(tmp_path):
    """The schema forbids unknown keys everywhere; published_parameters used to ignore them (a deliberate change)."""
    path = edited(tmp_path, config_dir() / "models" / "deepseek-v3.yaml", {"published_parameters.total": "x"})
    with pytest.raises(ConfigError, match=r"field 'published_parameters.total' got 'x'; allowed: known keys: "
                                          r"active_b, source, total_b \(did you mean 'total_b'\?\)"):
        load_model_file(path)


def test_every_error_of_a_catalogue_file_is_reported_at_once(tmp_path):
    """Three mistakes in a hardware file and three in a model file: each file's three reported together."""
    path = edited(tmp_path, config_dir() / "hardware" / "b300.yaml",
                  {"board_power_w": 0, "gpus_per_server": 8.5, "vendr": "NVIDIA"})
    with pytest.raises(ConfigErrors) as info:
        load_hardware_file(path)
    assert [e.field for e in info.value.errors] == ["board_power_w", "gpus_per_server", "vendr"]
    path = edited(tmp_path, config_dir() / "models" / "deepseek-v3.yaml",
                  {"layers": 0, "attention.heads": 0, "moe.experts": 0}, name="model.yaml")
    with pytest.raises(ConfigErrors) as info:
        load_model_file(path)
    assert [e.field for e in info.value.errors] == ["layers", "attention.heads", "moe.experts"]


# (case, {dotted path in configs/precisions.yaml: new value or DROP}, the exact message; {path} = the file)
PRECISION_MESSAGES = [
    ('unknown_key', {'recipe': {}},
     "{path}: field 'recipe' got {}; allowed: known keys: formats, recipes, source (did you mean 'recipes'?)"),
    ('formats_missing', {'formats': DROP},
     "{path}: field 'formats' missing; allowed: a value (this field is required)"),
    ('recipes_missing', {'recipes': DROP},
     "{path}: field 'recipes' missing; allowed: a value (this field is required)"),
    ('formats_not_mapping', {'formats': [1]},
     "{path}: field 'formats' got [1]; allowed: a mapping of key: value"),
    ('format_not_mapping', {'formats.fp8': 8},
     "{path}: field 'formats.fp8' got 8; allowed: a mapping of key: value"),
    ('format_unknown_key', {'formats.fp8.bits': 8},
     "{path}: field 'formats.fp8.bits' got 8; allowed: known keys: bits_per_element, compute_class, "
     'description, native_families, source (unknown key)'),
    ('format_bits_high', {'formats.fp8.bits_per_element': 33},
     "{path}: field 'formats.fp8.bits_per_element' got 33; allowed: a number in [1, 32]"),
    ('format_bits_missing', {'formats.fp8.bits_per_element': DROP},
     "{path}: field 'formats.fp8.bits_per_element' missing; allowed: a value (this field is required)"),
    ('format_class_unknown', {'formats.fp8.compute_class': 'fp3'},
     "{path}: field 'formats.fp8.compute_class' got 'fp3'; allowed: one of bf16, fp16, fp8, fp6, fp4 (did "
     "you mean 'fp8'?)"),
    ('format_class_not_string', {'formats.fp8.compute_class': 8},
     "{path}: field 'formats.fp8.compute_class' got 8; allowed: a string"),
    ('format_families_not_list', {'formats.nvfp4.native_families': 'blackwell'},
     "{path}: field 'formats.nvfp4.native_families' got 'blackwell'; allowed: a list"),
    ('format_families_item', {'formats.nvfp4.native_families': ['blackwell', '']},
     "{path}: field 'formats.nvfp4.native_families' got ''; allowed: hardware family names (the `family` "
     'of configs/hardware)'),
    ('format_source_missing', {'formats.fp8.source': DROP},
     "{path}: field 'formats.fp8.source' missing; allowed: a value (this field is required)"),
    ('format_description_number', {'formats.fp8.description': 8},
     "{path}: field 'formats.fp8.description' got 8; allowed: a string"),
    ('recipe_not_mapping', {'recipes.fp8': 'fp8'},
     "{path}: field 'recipes.fp8' got 'fp8'; allowed: a mapping of key: value"),
    ('recipe_unknown_key', {'recipes.fp8.kv': 'fp8'},
     "{path}: field 'recipes.fp8.kv' got 'fp8'; allowed: known keys: activations, aliases, description, "
     'kv_cache, other_weights, routed_experts, source, weight_only_activations (unknown key)'),
    ('recipe_component_missing', {'recipes.fp8.kv_cache': DROP},
     "{path}: field 'recipes.fp8.kv_cache' missing; allowed: a value (this field is required)"),
    ('recipe_component_unknown', {'recipes.fp8.kv_cache': 'fp7'},
     "{path}: field 'recipes.fp8.kv_cache' got 'fp7'; allowed: one of bf16, fp16, fp8, int4, int4-g32, mxfp4, "
     "mxfp6, mxfp8, nvfp4 (did you mean 'fp8'?)"),
    ('recipe_component_not_string', {'recipes.fp8.kv_cache': 8},
     "{path}: field 'recipes.fp8.kv_cache' got 8; allowed: a string"),
    ('recipe_source_missing', {'recipes.fp8.source': DROP},
     "{path}: field 'recipes.fp8.source' missing; allowed: a value (this field is required)"),
    ('recipe_aliases_not_list', {'recipes.fp8.aliases': 'f8'},
     "{path}: field 'recipes.fp8.aliases' got 'f8'; allowed: a list"),
    ('recipe_description_number', {'recipes.fp8.description': 8},
     "{path}: field 'recipes.fp8.description' got 8; allowed: a string"),
]


@pytest.mark.parametrize("case, edits, message", PRECISION_MESSAGES, ids=[c[0] for c in PRECISION_MESSAGES])
def test_pinned_precision_messages(tmp_path, case, edits, message):
    """One mistake in the formats and recipes file gives exactly the one-line message given before the schema."""
    path = edited(tmp_path, config_dir() / "precisions.yaml", edits)
    with pytest.raises(UserError) as info:
        load_precisions_file(path)
    assert str(info.value) == message.replace("{path}", str(path))
