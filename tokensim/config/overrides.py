"""Field overrides on the command line: ``--set financing.debt_share=0.7`` on any scenario command (issue 16).

An override is ``PATH=VALUE``. ``PATH`` is a dotted field path as error messages and ``docs/outputs.md`` write it
(``contract.rent_per_gpu_hour``, ``residual.percent_of_cost_by_age.3``); ``VALUE`` is read as one YAML value with the
scenario reader's rules (:func:`tokensim.config.reader.load_yaml_text`: ``0.7`` and ``1.45e9`` are numbers, ``NO``
stays text, ``[fp8, nvfp4]`` is a list). Overrides are applied in the order given, to the parsed document, before the
schema sees it, so an overridden value is validated exactly as if the file held it; an error on an overridden field
names ``--set`` and the path instead of the file. Each applied override is listed in the scenario's assumptions with
origin ``override``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .._errors import ConfigError, ConfigErrors, UserError
from .reader import load_yaml_text
from .types import Assumption

__all__ = ["OVERRIDE_OPTION", "Override", "apply_overrides", "parse_override", "relabel_errors"]

OVERRIDE_OPTION = "--set"
_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")


class Override:
    """One parsed ``PATH=VALUE``: ``path`` the dotted text, ``keys`` its segments, ``value`` the YAML value."""

    def __init__(self, text: str, path: str, keys: tuple[str, ...], value: Any):
        self.text = text
        self.path = path
        self.keys = keys
        self.value = value

    def covers(self, field: str | None) -> bool:
        """Whether an error on ``field`` concerns this override (the field itself or something inside it)."""
        return field is not None and (field == self.path or field.startswith(self.path + "."))


def parse_override(text: str) -> Override:
    """Parse one ``PATH=VALUE``.

    Parameters
    ----------
    text : str
        As typed after ``--set``.

    Returns
    -------
    Override
        The dotted path, its segments and the value read as YAML.

    Raises
    ------
    UserError
        No ``=``, an empty or malformed path, or a value that is not one YAML value.
    """
    path, sep, raw = text.partition("=")
    path = path.strip()
    if not sep:
        raise UserError(f"{OVERRIDE_OPTION} {text!r}: allowed: PATH=VALUE, e.g. financing.debt_share=0.7")
    keys = tuple(path.split("."))
    if not path or not all(_SEGMENT.fullmatch(k) for k in keys):
        raise UserError(f"{OVERRIDE_OPTION} {text!r}: allowed: a dotted field path of names (and whole numbers "
                        "for numbered keys) before '=', e.g. capex.server_price=4.5e6")
    value = load_yaml_text(raw, f"{OVERRIDE_OPTION} {path}")
    return Override(text, path, keys, value)


def _key(node: Mapping, segment: str) -> Any:
    """The mapping key a segment names: an existing key as written, else a whole number for a numbered key."""
    if segment in node:
        return segment
    if segment.isdigit() and (int(segment) in node or any(isinstance(k, int) for k in node)):
        return int(segment)
    return segment


def apply_overrides(data: Any, overrides: Iterable[Override], file: str) -> tuple[Any, list[Assumption]]:
    """The document with every override applied in order (a deep copy), and one assumption per override.

    Parameters
    ----------
    data : Any
        The parsed scenario document (a mapping, or None for an empty file).
    overrides : iterable of Override
        Parsed overrides.
    file : str
        The scenario file, named when an override runs through a value that is not a mapping.

    Returns
    -------
    tuple
        The new document and the :class:`~tokensim.config.types.Assumption` list (origin ``override``).

    Raises
    ------
    ConfigError
        A path whose parent holds a value that is not a mapping (``capex.server_price.x=1``).
    """
    doc = copy.deepcopy(data) if data is not None else {}
    notes: list[Assumption] = []
    for o in overrides:
        if not isinstance(doc, dict):
            raise ConfigError(OVERRIDE_OPTION, "(document)", doc, "a mapping of key: value")
        node = doc
        for depth, segment in enumerate(o.keys[:-1]):
            key = _key(node, segment)
            if key not in node or node[key] is None:
                node[key] = {}
            elif not isinstance(node[key], dict):
                where = ".".join(o.keys[:depth + 1])
                raise ConfigError(OVERRIDE_OPTION, o.path, o.value,
                                  f"a path through mappings; '{where}' in {file} holds {node[key]!r}")
            node = node[key]
        node[_key(node, o.keys[-1])] = o.value
        notes.append(Assumption(o.path, copy.deepcopy(o.value), f"set on the command line ({OVERRIDE_OPTION})",
                                origin="override"))
    return doc, notes


def relabel_errors(exc: ConfigError, overrides: list[Override]) -> ConfigError:
    """A schema error with every line about an overridden field naming ``--set`` instead of the file.

    Parameters
    ----------
    exc : ConfigError
        One error, or a :class:`~tokensim.ConfigErrors`.
    overrides : list of Override
        The overrides applied.

    Returns
    -------
    ConfigError
        The same errors, those on overridden fields with ``file`` = ``--set``.
    """
    errors = exc.errors if isinstance(exc, ConfigErrors) else [exc]
    out = []
    for e in errors:
        if any(o.covers(e.field) for o in overrides):
            out.append(ConfigError(OVERRIDE_OPTION, e.field, e.value, e.allowed, e.hint))
        elif e.field and any(_sibling_rule(o, e) for o in overrides):
            # a rule between keys of one section (exactly one of rent_per_gpu_hour, ...): the key set on the
            # command line joined the file's own; say how to drop the file's
            hint = f"with {OVERRIDE_OPTION}: null removes a key, e.g. {OVERRIDE_OPTION} {e.field}=null"
            out.append(ConfigError(e.file, e.field, e.value, e.allowed, hint))
        else:
            out.append(e)
    return ConfigErrors(out) if len(out) > 1 else out[0]


def _sibling_rule(o: Override, e: ConfigError) -> bool:
    """Whether error ``e`` is a rule on a key beside the overridden one that names the overridden key."""
    parent = tuple(str(e.field).split(".")[:-1])
    return o.keys[:-1] == parent and o.keys[-1] in str(e.allowed)
