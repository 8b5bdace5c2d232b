"""The YAML reader on libyaml (what PyYAML's wheels carry) reads every bundled file exactly as the pure-Python
fallback does: the same values, types and key order."""

from __future__ import annotations

import yaml

from tokensim.config import reader
from tokensim.config.reader import config_dir


def test_every_bundled_yaml_file_reads_the_same_on_libyaml_and_on_pure_python():
    files = sorted(config_dir().rglob("*.yaml"))
    assert len(files) >= 30  # scenarios, fleets, hardware, models, calibration, prices, precisions, fx
    assert reader._Loader is reader._LibyamlLoader
    for path in files:
        text = path.read_text()
        fast = yaml.load(text, Loader=reader._LibyamlLoader)  # noqa: S506  (both are safe loaders)
        slow = yaml.load(text, Loader=reader._PythonLoader)  # noqa: S506
        assert repr(fast) == repr(slow), path  # repr: types (1 vs 1.0, '1' vs 1) and key order too
