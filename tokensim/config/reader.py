"""Reading YAML configuration with errors that name file, field path, value and the allowed range.

:class:`Section` wraps one mapping of a YAML document. Each accessor validates as it reads (type, finiteness, range,
choices) so that every stage receives checked values and the user sees exactly which field of which file is wrong.
Bundled data lives in ``configs/`` (in a checkout) or ``tokensim/configs`` (in an installed wheel).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from .._errors import ConfigError, UserError, did_you_mean
from .._paths import config_dir, kernels_dir

__all__ = ["Section", "config_dir", "kernels_dir", "load_yaml", "load_yaml_text", "resolve_config_path"]

_MISSING: Any = ConfigError.MISSING  # type: ignore[attr-defined]


def resolve_config_path(name_or_path: str | Path, subdir: str, kind: str) -> Path:
    """A user-given file path, or the name of a bundled file under ``configs/<subdir>`` (with or without .yaml)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    folder = config_dir() / subdir
    stem = path.name[:-5] if path.name.endswith(".yaml") else path.name
    bundled = folder / f"{stem}.yaml"
    if bundled.is_file():
        return bundled
    names = sorted(p.stem for p in folder.glob("*.yaml"))
    hint = did_you_mean(stem, names)
    raise UserError(
        f"{kind} '{name_or_path}' is neither a file nor a bundled {kind} (bundled: {', '.join(names)})"
        + (f"; {hint}" if hint else "")
    )


MAX_FILE_BYTES = 1 << 20  # 1 MiB: the bundled scenarios are ~15 KB; a larger file is not a hand-written input
MAX_DEPTH = 32  # nesting levels; the schemas nest at most 4 deep


class _Refused(yaml.MarkedYAMLError):
    """Well-formed YAML that tokensim refuses (an alias, a duplicate key, NaN, too deep)."""


class _Rules(Composer, SafeConstructor, Resolver):
    """How tokensim reads YAML, over any scanner and parser: YAML as people mean it (the YAML 1.2 core schema), and
    refusals of what can only hurt.

    Plain scalars resolve as in YAML 1.2: only true/false are booleans (``NO``, ``yes``, ``on`` stay strings, so a
    schema rejects them with the text typed), numbers are decimal integers, ``0o``/``0x`` integers and floats with an
    optional exponent (``1.45e9`` is a number; YAML 1.1 read it as a string), ``5:00`` and dates stay strings.
    Refused before anything is built: duplicate keys, aliases (``*name``, which expand), nesting deeper than
    :data:`MAX_DEPTH`, and NaN or infinite mapping keys (NaN and infinite values reach the schema, which refuses them
    naming the field). The nodes are composed here, in Python (``Composer`` comes before the parser in a loader's
    bases), so that these refusals happen while the parser's events arrive.
    """

    yaml_implicit_resolvers: dict = {}
    _depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused(None, None, "aliases (*name) are not allowed in tokensim files; write the value out",
                           event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(None, None, f"nested more than {MAX_DEPTH} levels deep", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, float) and not math.isfinite(key):  # a value is the schema's to check, with its path
                raise _Refused(None, None, f"key {key_node.value!r} is not a finite number; allowed: finite numbers "
                               "only", key_node.start_mark)
            if key in seen:
                raise _Refused(None, None, f"duplicate key {key!r} (first at line {seen[key].line + 1}); give each "
                               "key once", key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node):
        text = str(self.construct_scalar(node))
        sign, digits = (-1, text[1:]) if text[0] == "-" else (1, text.lstrip("+"))
        base = 8 if digits.startswith("0o") else 16 if digits.startswith("0x") else 10
        # Every number becomes a float in the engines: a whole number beyond the largest float (~1.8e308; also
        # Python's 4,300-digit limit on reading integers) is refused here, where the line and column are known.
        if len(digits) > 330 or abs(value := int(digits[2:] if base != 10 else digits, base)) > sys.float_info.max:
            raise _Refused(None, None, f"the number {text[:20]}... ({len(digits)} digits) is too large; allowed: "
                           f"numbers within +-{sys.float_info.max:.2g}", node.start_mark)
        return sign * value

for _tag, _pattern, _first in (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("int", r"^(?:[-+]?[0-9]+|[-+]?0o[0-7]+|[-+]?0x[0-9a-fA-F]+)$", "-+0123456789"),
    ("float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
              r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", "-+0123456789."),
):
    _Rules.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), list(_first))
_Rules.add_constructor("tag:yaml.org,2002:int", _Rules.construct_yaml_int)  # type: ignore[type-var]


class _PythonLoader(_Rules, Reader, Scanner, Parser):
    """:class:`_Rules` over PyYAML's pure-Python reader, scanner and parser (a PyYAML built without libyaml)."""

    def __init__(self, stream):
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)


try:  # libyaml's scanner and parser, in PyYAML's wheels: about 7x faster than the pure-Python ones
    from yaml._yaml import CParser
except ImportError:  # pragma: no cover - a PyYAML built without libyaml
    _Loader: type = _PythonLoader
else:
    class _LibyamlLoader(_Rules, CParser):
        """:class:`_Rules` over libyaml's scanner and parser (its messages for malformed YAML are libyaml's)."""

        def __init__(self, stream):
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

    _Loader = _LibyamlLoader


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file as people mean it, refusing what can only hurt (see :class:`_Rules`).

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    Any
        The document (mappings, lists, strings, finite numbers, booleans, None).

    Raises
    ------
    UserError
        An unreadable file, one over :data:`MAX_FILE_BYTES`, bytes that are not UTF-8 (with the byte offset), or
        YAML that is malformed or refused (with the line and column).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise UserError(f"{path}: {size:,} bytes; allowed: at most {MAX_FILE_BYTES:,} bytes for a YAML input")
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start:,}: {data[exc.start:exc.start + 1]!r}); "
                        "allowed: a UTF-8 YAML file") from None
    return load_yaml_text(text, str(path))


def load_yaml_text(text: str, where: str) -> Any:
    """Parse YAML text with the rules of :func:`load_yaml` (a file's contents, or one ``--set`` value).

    Parameters
    ----------
    text : str
        The YAML.
    where : str
        What to name in an error (the file, or ``--set PATH``).

    Returns
    -------
    Any
        The document (mappings, lists, strings, finite numbers, booleans, None).

    Raises
    ------
    UserError
        Malformed or refused YAML, with the line and column.
    """
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506  (_Loader is a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        if mark is not None and (mark.line, mark.column) > (end := _end_of(text)):
            # libyaml reads an unterminated last line as if a line break followed: point at the text's end instead
            at = f" line {end[0] + 1}, column {end[1] + 1}"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        kind = "refused" if isinstance(exc, _Refused) else "malformed YAML"
        raise UserError(f"{where}:{at} {kind}: {problem}") from None


def _end_of(text: str) -> tuple[int, int]:
    """The (line, column) just past the last character of ``text``, both from 0, as YAML marks count them."""
    lines = text.split("\n")
    return len(lines) - 1, len(lines[-1])


class Section:
    """One mapping of a config document, read with validation.

    ``file`` names the document in messages; ``path`` is the dotted field path of this mapping within it.
    """

    def __init__(self, data: Any, file: str | Path | None, path: str = ""):
        self.file = str(file) if file is not None else None
        self.path = path
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(self.file, path or "(document)", data, "a mapping of key: value")
        self.data: Mapping[str, Any] = data

    # -- helpers -------------------------------------------------------------------------------------------------
    def field(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, value: Any, allowed: str, hint: str = "") -> ConfigError:
        return ConfigError(self.file, self.field(key), value, allowed, hint)

    def __contains__(self, key: str) -> bool:
        return key in self.data and self.data[key] is not None

    def keys(self) -> list[str]:
        return list(self.data.keys())

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        if key in self:
            return self.data[key]
        if default is _MISSING:
            raise self.error(key, _MISSING, "a value (this field is required)")
        return default

    def check_keys(self, allowed: Iterable[str]) -> None:
        """Reject keys this section does not know, suggesting the closest known key."""
        allowed = list(allowed)
        for key in self.data:
            if key not in allowed:
                raise self.error(str(key), self.data[key], f"known keys: {', '.join(sorted(allowed))}",
                                 did_you_mean(str(key), allowed) or "unknown key")

    # -- typed accessors -----------------------------------------------------------------------------------------
    def number(self, key: str, default: Any = _MISSING, *, low: float | None = None, high: float | None = None,
               low_open: bool = False, high_open: bool = False, integer: bool = False) -> Any:
        """A finite number within [low, high] (open ends where asked); ``integer`` demands a whole number."""
        value = self.raw(key, default)
        if value is None or (value is default and default is not _MISSING):
            return value
        return check_number(value, self.file, self.field(key), low=low, high=high, low_open=low_open,
                            high_open=high_open, integer=integer)

    def string(self, key: str, default: Any = _MISSING, *, choices: Iterable[str] | None = None) -> Any:
        value = self.raw(key, default)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, str):
            raise self.error(key, value, "a string")
        if choices is not None:
            choices = list(choices)
            if value not in choices:
                raise self.error(key, value, f"one of {', '.join(choices)}", did_you_mean(value, choices))
        return value

    def boolean(self, key: str, default: Any = _MISSING) -> Any:
        value = self.raw(key, default)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, bool):
            raise self.error(key, value, "true or false")
        return value

    def section(self, key: str, default: Any = _MISSING) -> Section:
        value = self.raw(key, default)
        return Section(value, self.file, self.field(key))

    def items(self, key: str, default: Any = _MISSING) -> list[Any]:
        value = self.raw(key, default)
        if not isinstance(value, list):
            raise self.error(key, value, "a list")
        return value

    def source(self, key: str = "source") -> str:
        """Every catalogue entry carries a source (document and date) or says 'assumption'."""
        value = self.raw(key)
        if isinstance(value, Mapping):
            doc = value.get("document")
            date = value.get("date")
            if not doc:
                raise self.error(f"{key}.document", doc, "the document a value comes from")
            return f"{doc} ({date})" if date else str(doc)
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, value, "a source: document and date, or 'assumption'")
        return value


def check_number(value: Any, file: str | None, field: str, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False, integer: bool = False) -> float | int:
    """Validate one number: finite, in range, whole when asked. Used by configs and CLI options alike."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(file, field, value, "a number")
    if isinstance(value, int) and abs(value) > sys.float_info.max:  # math.isfinite would raise OverflowError
        raise ConfigError(file, field, value, f"a number within +-{sys.float_info.max:.2g}")
    if not math.isfinite(value):
        raise ConfigError(file, field, value, "a finite number (no NaN or infinity)")
    if integer and value != int(value):
        raise ConfigError(file, field, value, "a whole number")
    lo_ok = low is None or (value > low if low_open else value >= low)
    hi_ok = high is None or (value < high if high_open else value <= high)
    if not (lo_ok and hi_ok):
        lo = "(-inf" if low is None else ("(" if low_open else "[") + f"{low:g}"
        hi = "inf)" if high is None else f"{high:g}" + (")" if high_open else "]")
        raise ConfigError(file, field, value, f"a number in {lo}, {hi}")
    return int(value) if integer else float(value)
