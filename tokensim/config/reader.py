"""Reading YAML configuration with errors that name file, field path, value and the allowed range.

:class:`Section` wraps one mapping of a YAML document. Each accessor validates as it reads (type, finiteness, range,
choices) so that every stage receives checked values and the user sees exactly which field of which file is wrong.
Bundled data lives in ``configs/`` (in a checkout) or ``tokensim/configs`` (in an installed wheel).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from .._errors import ConfigError, UserError, did_you_mean
from .._paths import config_dir, kernels_dir

__all__ = ["Section", "config_dir", "kernels_dir", "load_yaml", "resolve_config_path"]

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


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file; malformed YAML or an unreadable file is a user error naming the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"{path}:{where} malformed YAML: {problem}") from None


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
