"""User-facing errors: one message naming file, field, value and what is allowed; exit status 2.

Every stage raises :class:`UserError` (or a subclass) for bad input. The CLI turns it into one line on stderr and
exit code 2; library callers can catch it. Programming errors stay ordinary exceptions with tracebacks.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["UserError", "ConfigError", "ConfigErrors", "ParameterError", "did_you_mean", "unknown_name"]


class UserError(Exception):
    """Bad input from the user: the CLI prints the message and exits with status 2."""

    exit_code = 2


class ConfigError(UserError):
    """A configuration value is missing, malformed or out of range.

    The message names where (file and dotted field path), what was found and what is allowed.
    """

    def __init__(self, file: str | None, field: str | None, value: object, allowed: str, hint: str = ""):
        self.file = file
        self.field = field
        self.value = value
        self.allowed = allowed
        self.hint = hint
        where = " ".join(p for p in (f"{file}:" if file else "", f"field '{field}'" if field else "") if p)
        got = f"got {value!r}" if value is not _MISSING else "missing"
        message = f"{where} {got}; allowed: {allowed}".strip()
        if hint:
            message += f" ({hint})"
        super().__init__(message)


class ConfigErrors(ConfigError):
    """Several configuration errors found in one file, reported together: one :class:`ConfigError` line each.

    ``errors`` holds them in the order found; ``file``, ``field``, ``value`` and ``allowed`` are the first one's.
    The CLI prints each line as its own ``tokensim: error:`` line.
    """

    def __init__(self, errors: list[ConfigError]):
        first = errors[0]
        self.errors = list(errors)
        self.file, self.field, self.value, self.allowed = first.file, first.field, first.value, first.allowed
        UserError.__init__(self, "\n".join(str(e) for e in errors))


class ParameterError(UserError):
    """A function argument is out of range or malformed; the message starts with the parameter's name.

    ``param`` is the Python parameter name (``server_price_change``) and ``detail`` the rest of the message
    (``"-1.5: allowed: a number above -1"``). The command line shows the option the user typed instead of the
    parameter (``--server-price-change -1.5: ...``) through :meth:`with_label`.
    """

    def __init__(self, param: str, detail: str, sep: str = " "):
        self.param = param
        self.detail = detail
        self.sep = sep
        super().__init__(f"{param}{sep}{detail}")

    def with_label(self, label: str) -> str:
        """The message with ``label`` (e.g. a CLI flag) in place of the parameter name."""
        return f"{label}{self.sep}{self.detail}"


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()
ConfigError.MISSING = _MISSING  # type: ignore[attr-defined]


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``"did you mean 'x'?"`` for the closest choice, or an empty string when nothing is close."""
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.5)
    return f"did you mean '{lowered[close[0]]}'?" if close else ""


def unknown_name(kind: str, name: str, choices: Iterable[str], file: str | None = None, field: str | None = None):
    """Build the error for an unknown catalogue name, listing what exists and the closest match."""
    choices = sorted(choices)
    return ConfigError(file, field or kind, name, f"one of {', '.join(choices)}", did_you_mean(name, choices))
