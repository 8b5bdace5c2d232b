"""The catalogue files' schemas (tokensim.config.hardware, models, precisions): today's messages pinned, and every
error of a file reported at once."""

from __future__ import annotations

import copy

import pytest
import yaml

from tokensim import ConfigError, ConfigErrors, UserError
from tokensim.config._yaml import config_dir
from tokensim.config.hardware import load_hardware_file

DROP = object()  # an edit that removes the key


def edited(tmp_path, source, edits, name="edited.yaml"):
    """``source`` (a bundled YAML file) with ``edits`` ({dotted path: value or DROP}; None: a list instead of a
    mapping) applied, written to a temporary file."""
    doc = copy.deepcopy(yaml.safe_load(source.read_text()))
    if edits is None:
        doc = [1, 2]
    for dotted, value in (edits or {}).items():
        *parents, last = dotted.split(".")
        node = doc
        for part in parents:
            node = node[part]
        if value is DROP:
            node.pop(last)
        else:
            node[last] = value
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


# (case, {dotted path in configs/hardware/b300.yaml: new value or DROP}, the exact message; {path} = the file)
HARDWARE_MESSAGES = [
    ('unknown_key', {'board_power': 1100},
     "{path}: field 'board_power' got 1100; allowed: known keys: aliases, board_power_w, dense_tflops, "
     'description, family, gpus_per_server, hbm_bandwidth_tb_per_s, hbm_gib, hbm_usable_gib, name, notes, '
     'scale_out_bandwidth_gb_per_s, scale_up_bandwidth_gb_per_s, scale_up_domain_gpus, source, vendor '
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
