"""Edits of a YAML document by dotted path, for tests that mutate bundled scenarios and catalogue files."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

DROP = object()  # an edit that removes the key


def edit_document(doc: Any, edits: dict[str, Any]) -> Any:
    """A deep copy of ``doc`` with ``edits`` ({dotted path: new value, or DROP to remove the key}) applied."""
    doc = copy.deepcopy(doc)
    for dotted, value in edits.items():
        *parents, last = dotted.split(".")
        node = doc
        for part in parents:
            node = node[part]
        if value is DROP:
            node.pop(last)
        else:
            node[last] = value
    return doc


def edited(tmp_path: Path, source: Path, edits: dict[str, Any] | None, name: str = "edited.yaml") -> Path:
    """``source`` (a YAML file) with ``edits`` applied (None: a list instead of a mapping), written to ``tmp_path``."""
    doc = [1, 2] if edits is None else edit_document(yaml.safe_load(source.read_text()), edits)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path
