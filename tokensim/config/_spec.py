"""The building blocks of tokensim's declared configuration schemas (pydantic v2): field specs and error reporting.

A field's spec sits in its annotation (``Annotated[float, Number(0, 1, unit="fraction")]``) and is both its
declaration (type, bounds, unit, default, the reason for the default) and its validator:

- :class:`Number`: a finite number in a range (closed or open ends, whole numbers where asked);
- :class:`Choice`: one of a fixed set of strings, with "did you mean";
- :class:`Text`: any string; :class:`Flag`: true or false; :class:`Source`: a citation (``{document, date}`` or a
  string);
- :class:`Table`: a mapping from known keys to numbers of one spec.

:class:`SchemaSection` is a mapping with unknown keys refused and null values counted as absent. Validators raise
:class:`Invalid`; :func:`validate_document` reports every error of a document at once as house-form
:class:`~tokensim.ConfigError` lines (file, dotted field path, value, what is allowed). The scenario's schema is in
:mod:`tokensim.config.schema`, the uncertainty section's in :mod:`tokensim.config.uncertainty`, the catalogues' in
:mod:`tokensim.config.hardware`, :mod:`tokensim.config.models` and :mod:`tokensim.config.precisions`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import core_schema

from .._errors import ConfigError, ConfigErrors, did_you_mean
from .reader import check_number

__all__ = ["Number", "Choice", "Text", "Flag", "Source", "Table", "Invalid", "Derived", "REQUIRED", "SchemaSection",
           "config_errors", "validate_document", "spec_of"]

_MISSING: Any = ConfigError.MISSING  # type: ignore[attr-defined]
M = TypeVar("M", bound=BaseModel)
_INPUT: Any = object()  # an Invalid's value: the validator's input
class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()  # a field's default when it has none


@dataclass(frozen=True)
class Derived:
    """A default computed from other fields or from a catalogue; ``text`` says from what."""

    text: str


class Invalid(ValueError):
    """A rule's verdict on one value, raised inside the schema's validators and reported as a :class:`ConfigError`.

    ``allowed`` (and ``hint``) complete "got VALUE; allowed: ALLOWED (HINT)". ``key`` names the field below the
    validator's location (``"tenor_years"``, ``"[0].field"``) and ``value`` the value to show; by default the
    validator's own location and input.
    """

    def __init__(self, allowed: str, hint: str = "", *, key: str | None = None, value: Any = _INPUT):
        super().__init__(allowed)
        self.allowed = allowed
        self.hint = hint
        self.key = key
        self.value = value

    @classmethod
    def from_error(cls, exc: ConfigError, key: str | None = None) -> Invalid:
        """The same verdict as an error another checker raised (``allowed`` keeps that error's hint)."""
        return cls(str(exc).split("; allowed: ", 1)[1], key=key, value=exc.value)


def _missing(key: str | None = None, allowed: str = "a value (this field is required)") -> Invalid:
    return Invalid(allowed, key=key, value=_MISSING)


# -- field specs -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Number:
    """A finite number in [low, high] (``low_open``/``high_open`` for open ends; ``None`` = unbounded).

    ``integer`` demands a whole number (returned as ``int``). ``unit`` is documentation; ``default`` is the value the
    loader applies when the field is absent (:data:`REQUIRED` when it must be given, a :class:`Derived` when computed)
    and ``why`` the reason recorded with it (``str.format`` fields where the reason names values; (case, reason)
    pairs where it depends on the scenario). ``rule``: the field is checked by its section's rule rather than on its
    own (its range or presence depends on other fields). ``bound_why`` says why a bound is where it is, when it is
    a judgement rather than a definition (a rate below -5% a year); messages append it.
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False
    unit: str = ""
    default: Any = REQUIRED
    why: str | tuple[tuple[str, str], ...] = ""
    rule: bool = False
    bound_why: str = ""

    def check(self, value: Any, high: float | None = None) -> float | int:
        """``value`` validated (``high`` replaces the declared upper bound where a rule computes it).

        Parameters
        ----------
        value : Any
            The value as parsed from YAML.
        high : float, optional
            An upper bound computed by a rule, in place of :attr:`high`.

        Returns
        -------
        float or int
            The value as a float (an int for whole-number fields), in the field's unit.

        Raises
        ------
        Invalid
            When the value is not a finite number in range.
        """
        try:
            return check_number(value, None, "", low=self.low, high=self.high if high is None else high,
                                low_open=self.low_open, high_open=self.high_open, integer=self.integer)
        except ConfigError as exc:
            raise Invalid(exc.allowed + (f" ({self.bound_why})" if self.bound_why and "number in" in exc.allowed
                                         else "")) from None

    def check_at(self, key: str, value: Any, high: float | None = None) -> float | int:
        """:meth:`check`, with an error reported at ``key`` (below the validator's location) showing ``value``."""
        try:
            return self.check(value, high)
        except Invalid as exc:
            raise Invalid(exc.allowed, exc.hint, key=key, value=value) from None

    def allowed(self) -> str:
        """The range as the messages write it: ``a number in (0, 1]``."""
        lo = "(-inf" if self.low is None else ("(" if self.low_open else "[") + f"{self.low:g}"
        hi = "inf)" if self.high is None else f"{self.high:g}" + (")" if self.high_open else "]")
        return f"a number in {lo}, {hi}"

    def why_for(self, case: str = "", **values: Any) -> str:
        """The reason recorded when the default is applied (``case`` picks one of several; ``values`` fill it)."""
        text = self.why if isinstance(self.why, str) else dict(self.why)[case]
        return text.format(**values) if values else text

    def __get_pydantic_core_schema__(self, source: Any, handler: Callable) -> core_schema.CoreSchema:
        if self.rule:
            return core_schema.any_schema()
        return core_schema.no_info_plain_validator_function(self.check)

    def __get_pydantic_json_schema__(self, schema: Any, handler: Callable) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "integer" if self.integer else "number"}
        if self.low is not None:
            out["exclusiveMinimum" if self.low_open else "minimum"] = self.low
        if self.high is not None:
            out["exclusiveMaximum" if self.high_open else "maximum"] = self.high
        return out | _documented(self.unit, self.default, self.why)


def _documented(unit: str, default: Any, why: Any) -> dict[str, Any]:
    """The JSON-schema keys that document a field: unit, default, and why the default."""
    out: dict[str, Any] = {}
    if unit:
        out["description"] = unit
    if isinstance(default, Derived):
        out["x-default-from"] = default.text
    elif default is not REQUIRED and default is not None:
        out["default"] = default
    if why:
        out["x-default-why"] = why if isinstance(why, str) else dict(why)
    return out


@dataclass(frozen=True)
class Choice:
    """One of ``choices`` (strings), with "did you mean" for a near miss; ``default``, ``why`` and ``rule`` as for
    :class:`Number`."""

    choices: tuple[str, ...]
    default: Any = REQUIRED
    rule: bool = False
    why: str = ""

    def check(self, value: Any) -> str:
        """``value`` validated.

        Parameters
        ----------
        value : Any
            The value as parsed from YAML.

        Returns
        -------
        str
            The value, one of :attr:`choices`.

        Raises
        ------
        Invalid
            When the value is not a string or not one of the choices.
        """
        if not isinstance(value, str):
            raise Invalid("a string")
        if value not in self.choices:
            raise Invalid(f"one of {', '.join(self.choices)}", did_you_mean(value, self.choices))
        return value

    def check_at(self, key: str, value: Any) -> str:
        """:meth:`check`, with an error reported at ``key`` (below the validator's location) showing ``value``."""
        try:
            return self.check(value)
        except Invalid as exc:
            raise Invalid(exc.allowed, exc.hint, key=key, value=value) from None

    def __get_pydantic_core_schema__(self, source: Any, handler: Callable) -> core_schema.CoreSchema:
        if self.rule:
            return core_schema.any_schema()
        return core_schema.no_info_plain_validator_function(self.check)

    def __get_pydantic_json_schema__(self, schema: Any, handler: Callable) -> dict[str, Any]:
        return {"enum": list(self.choices)} | _documented("", self.default, self.why)


@dataclass(frozen=True)
class Text:
    """Any string."""

    def check(self, value: Any) -> str:
        """``value`` if it is a string, else :class:`Invalid`."""
        if not isinstance(value, str):
            raise Invalid("a string")
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: Callable) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.check)

    def __get_pydantic_json_schema__(self, schema: Any, handler: Callable) -> dict[str, Any]:
        return {"type": "string"}


@dataclass(frozen=True)
class Flag:
    """``true`` or ``false``; ``default`` as for :class:`Number`."""

    default: Any = REQUIRED

    def check(self, value: Any) -> bool:
        """``value`` if it is a boolean, else :class:`Invalid`."""
        if not isinstance(value, bool):
            raise Invalid("true or false")
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: Callable) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.check)

    def __get_pydantic_json_schema__(self, schema: Any, handler: Callable) -> dict[str, Any]:
        return {"type": "boolean"} | _documented("", self.default, "")


@dataclass(frozen=True)
class Source:
    """A citation: ``{document, date?}`` or a non-empty string (``assumption``); read as ``document (date)``."""

    def check(self, value: Any) -> str:
        """``value`` as a citation string.

        Parameters
        ----------
        value : Any
            The value as parsed from YAML.

        Returns
        -------
        str
            ``document (date)``, ``document``, or the string given.

        Raises
        ------
        Invalid
            When there is no document, or the value is neither a mapping nor a non-empty string.
        """
        if isinstance(value, Mapping):
            doc, date = value.get("document"), value.get("date")
            if not doc:
                raise Invalid("the document a value comes from", key="document", value=doc)
            return f"{doc} ({date})" if date else str(doc)
        if not isinstance(value, str) or not value.strip():
            raise Invalid("a source: document and date, or 'assumption'")
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.check)

    def __get_pydantic_json_schema__(self, schema: Any, handler: Callable) -> dict[str, Any]:
        return {"anyOf": [{"type": "string", "minLength": 1},
                          {"type": "object", "properties": {"document": {"type": "string"}, "date": {}},
                           "required": ["document"]}]}


@dataclass(frozen=True)
class Table:
    """A mapping from known keys (``keys``) to numbers of one spec (``value``), kept in the file's order."""

    keys: tuple[str, ...]
    value: Number

    def check(self, table: Any) -> dict[str, float | int]:
        """``table`` validated.

        Parameters
        ----------
        table : Any
            The mapping as parsed from YAML.

        Returns
        -------
        dict[str, float or int]
            The entries in the file's order, each validated by :attr:`value`.

        Raises
        ------
        Invalid
            When the value is not a mapping, a key is unknown, or an entry is missing or out of range.
        """
        if not isinstance(table, Mapping):
            raise Invalid("a mapping of key: value")
        out: dict[str, float | int] = {}
        for key, value in table.items():
            if key not in self.keys:
                raise Invalid(f"known keys: {', '.join(sorted(self.keys))}",
                              did_you_mean(str(key), self.keys) or "unknown key", key=str(key), value=value)
            if value is None:
                raise _missing(str(key))
            try:
                out[key] = self.value.check(value)
            except Invalid as exc:
                raise Invalid(exc.allowed, key=str(key), value=value) from None
        return out

    def __get_pydantic_core_schema__(self, source: Any, handler: Callable) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.check)

    def __get_pydantic_json_schema__(self, schema: Any, handler: Callable) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": False,
                "properties": {key: self.value.__get_pydantic_json_schema__(schema, handler) for key in self.keys}}


class SchemaSection(BaseModel):
    """A mapping of a scenario: unknown keys refused; a key set to null counts as absent (as the loader always did)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, data: Any) -> Any:
        if data is None:
            return {}
        if not isinstance(data, Mapping):
            raise Invalid("a mapping of key: value")
        return {(key if isinstance(key, str) else str(key)): value for key, value in data.items()
                if not (value is None and key in cls.model_fields)}

    def given(self, key: str) -> bool:
        """Whether the file gives ``key`` (a null value counts as absent)."""
        return getattr(self, key) is not None


def spec_of(model: type[BaseModel], name: str) -> Any:
    """The declared spec (:class:`Number`, :class:`Choice`, ...) in the annotation of field ``name`` of ``model``.

    Parameters
    ----------
    model : type[pydantic.BaseModel]
        A schema class.
    name : str
        One of its fields.

    Returns
    -------
    Any
        The spec object (a :class:`Number`, :class:`Choice`, :class:`Text`, :class:`Source`, :class:`Table` or
        another object with a ``check`` method).

    Raises
    ------
    KeyError
        When the field has no spec.
    """
    info = model.model_fields[name]
    candidates = list(info.metadata)
    for arg in get_args(info.annotation):  # Annotated[float, Number(...)] | None
        candidates.extend(getattr(arg, "__metadata__", ()))
    for item in candidates:
        if hasattr(item, "check"):
            return item
    raise KeyError(f"{model.__name__}.{name} has no declared spec")


# -- errors ------------------------------------------------------------------------------------------------------
def _path(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _join(path: str, key: str | None) -> str:
    if not key:
        return path or "(document)"
    if key.startswith("["):
        return path + key
    return f"{path}.{key}" if path else key


def _model_at(loc: tuple[Any, ...], root: type[BaseModel]) -> type[BaseModel] | None:
    """The section class at ``loc`` below ``root`` (list indices skipped)."""
    cls: type[BaseModel] = root
    for part in loc:
        if isinstance(part, int) or part not in cls.model_fields:  # a list index or a key of a mapping of sections
            continue
        found = _model_in(cls.model_fields[part].annotation)
        if found is None:
            return None
        cls = found
    return cls


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The section class inside an annotation (``X``, ``X | None``, ``list[X] | None``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def config_errors(exc: ValidationError, file: str | None, root: type[BaseModel], prefix: str = "") -> list[ConfigError]:
    """The errors of a schema validation as house-form :class:`ConfigError` s (file, dotted path, value, allowed).

    Parameters
    ----------
    exc : pydantic.ValidationError
        The errors of one validation.
    file : str or None
        The file the document came from (named in each message).
    root : type[pydantic.BaseModel]
        The model validated: unknown keys are listed against its sections, and a section class may word its
        missing fields' "allowed" with a ``missing_allowed(key)`` classmethod (None: the usual words).
    prefix : str, optional
        The dotted path of that model in the file (``"uncertainty"``; default: the document itself).

    Returns
    -------
    list[ConfigError]
        One per error, in the order pydantic found them.
    """
    out: list[ConfigError] = []
    errors = exc.errors(include_url=False)
    # A mapping with an unknown key: its missing fields are most likely that key misspelt, reported once as unknown.
    misspelt = {tuple(err["loc"])[:-1] for err in errors if err["type"] == "extra_forbidden"}
    for err in errors:
        loc = tuple(err["loc"])
        if err["type"] == "missing" and loc[:-1] in misspelt:
            continue
        path = _join(prefix, _path(loc)) if prefix and loc else prefix or _path(loc)
        kind = err["type"]
        error = (err.get("ctx") or {}).get("error")
        if isinstance(error, Invalid):
            value = err.get("input") if error.value is _INPUT else error.value
            out.append(ConfigError(file, _join(path, error.key), value, error.allowed, error.hint))
        elif kind == "missing":
            parent = _model_at(loc[:-1], root)
            words = getattr(parent, "missing_allowed", None)
            allowed = words(str(loc[-1])) if words is not None else None
            out.append(ConfigError(file, path, _MISSING, allowed or "a value (this field is required)"))
        elif kind == "extra_forbidden":
            cls = _model_at(loc[:-1], root)
            known = list(cls.model_fields) if cls is not None else []
            key = str(loc[-1])
            out.append(ConfigError(file, path, err.get("input"), f"known keys: {', '.join(sorted(known))}",
                                   did_you_mean(key, known) or "unknown key"))
        elif kind == "list_type":
            out.append(ConfigError(file, path, err.get("input"), "a list"))
        elif kind == "dict_type":
            out.append(ConfigError(file, path, err.get("input"), "a mapping of key: value"))
        else:
            out.append(ConfigError(file, path or "(document)", err.get("input"), err["msg"]))
    return out


def validate_document(model: type[M], data: Any, file: str | None, *, prefix: str = "",
                      context: dict[str, Any] | None = None) -> M:
    """``data`` validated against ``model``, every error reported at once in the house form.

    Parameters
    ----------
    model : type[SchemaSection]
        The schema of the document (or of one of its sections).
    data : Any
        The parsed YAML.
    file : str or None
        The file it came from, named in messages.
    prefix : str, optional
        The dotted path of ``data`` in that file (``"uncertainty"``; default: the whole document).
    context : dict, optional
        Passed to the validators (a catalogue, the raw document).

    Returns
    -------
    SchemaSection
        The validated model.

    Raises
    ------
    ConfigError
        One error, or a :class:`~tokensim.ConfigErrors` with one line per error.
    """
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        errors = config_errors(exc, file, model, prefix)
    raise errors[0] if len(errors) == 1 else ConfigErrors(errors)

