"""The click group and what every command shares: output formats, user-error translation, emitting data."""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
from typing import Any

import click

from .._errors import ConfigError, ConfigErrors, ParameterError, UserError
from .._output import csv_text, dumps_json, parquet_bytes, render_table
from ..perf.measured import load_throughput_overrides

FORMATS = ("table", "json", "csv", "parquet")


class _NoteHandler(logging.Handler):
    """The library's notes (the ``tokensim`` logger at INFO, e.g. the backend fallback) as ``tokensim: ...`` lines on
    the command's stderr (click's, so CliRunner captures them)."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"tokensim: {record.getMessage()}", err=True)


@contextlib.contextmanager
def _library_notes_on_stderr():
    """While a command runs, the library's notes print on its stderr; afterwards the logger is as it was (a program
    that runs a command and then calls the library sees no notes it did not ask for)."""
    log = logging.getLogger("tokensim")
    handler, level = _NoteHandler(level=logging.INFO), log.level
    log.addHandler(handler)
    if level == logging.NOTSET or level > logging.INFO:
        log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


class _Group(click.Group):
    """A group whose commands raise UserError → exit 2 also under CliRunner (which bypasses ``main``)."""

    def invoke(self, ctx: click.Context) -> Any:
        with _library_notes_on_stderr():
            return self._invoke(ctx)

    def _invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            for line in error_lines(exc, user_message(exc, self, ctx)):
                click.echo(f"tokensim: error: {line}", err=True)
            ctx.exit(exc.exit_code)
        except click.UsageError as exc:  # click's own parsing errors, in the house form too
            click.echo(f"tokensim: error: {usage_message(exc)}", err=True)
            ctx.exit(exc.exit_code)


def error_lines(exc: UserError, message: str | None = None) -> list[str]:
    """The lines of a user error: one per error (several only for a file with several errors), each on one line.

    A value the user typed may hold a line break or another control character (``--from $'a\\nb'``); it is shown
    escaped (``\\n``), so an error stays one line and a following line cannot pose as another error.
    """
    message = str(exc) if message is None else message
    parts = [str(e) for e in exc.errors] if isinstance(exc, ConfigErrors) and message == str(exc) else [message]
    return [_escape_controls(part) for part in parts]


def _escape_controls(text: str) -> str:
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def usage_message(exc: click.ClickException) -> str:
    """Click's message for a usage error on one line ("Invalid value for '--paths': 'abc' is not a valid integer.")."""
    return " ".join(exc.format_message().split())


def user_message(exc: UserError, group: click.Group, ctx: click.Context) -> str:
    """The one-line message of a user error. A library error about a function argument (a :class:`ParameterError`, or
    a :class:`ConfigError` with no file whose field is the argument) names the option the user typed (the click
    option whose destination is that argument, e.g. ``--server-price-change`` for ``server_price_change``) instead of
    the Python parameter."""
    if isinstance(exc, ParameterError):
        name = exc.param
    elif isinstance(exc, ConfigError) and exc.file is None and exc.field:
        name = exc.field
    else:
        return str(exc)
    command = group.get_command(ctx, ctx.invoked_subcommand) if ctx.invoked_subcommand else None
    for param in command.params if command is not None else ():
        if param.name == name and param.opts:
            label = max(param.opts, key=len)
            if isinstance(exc, ParameterError):
                return exc.with_label(label)
            return str(ConfigError(None, label, exc.value, exc.allowed, exc.hint))
    return str(exc)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="tokensim")
def cli() -> None:
    """tokensim: cost per token, GPU-rental pricing and cluster finance, with Monte Carlo on GPU or CPU."""


_OVERRIDES_KEY = "tokensim.overrides"


def _store_overrides(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> None:
    ctx.meta[_OVERRIDES_KEY] = tuple(value)


def set_option():
    """``--set PATH=VALUE`` (repeatable) on a scenario command; :func:`scenario_overrides` hands them to the loader."""
    return click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", expose_value=False,
                        callback=_store_overrides, is_eager=True,
                        help="override a scenario field, validated as if the file held it (repeatable), e.g. "
                             "--set financing.debt_share=0.7 --set contract.rent_per_gpu_hour=18")


def scenario_overrides() -> tuple[str, ...]:
    """The ``--set`` values of the command being run (empty outside a command or without ``--set``)."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(_OVERRIDES_KEY, ()) if ctx is not None else ()


def throughput_override_option():
    """``--throughput-override CSV``: measured throughputs in place of the model's (:mod:`tokensim.perf.measured`)."""
    return click.option("--throughput-override", "throughput_override", metavar="CSV",
                        help="measured throughputs in place of the model's: a CSV with columns hardware, model, "
                             "precision, input_tokens, output_tokens, output_tokens_per_s_per_gpu, "
                             "tokens_per_s_per_user (optional), source; rows match (hardware, model, precision), "
                             "the nearest workload wins (docs/outputs.md)")


def throughput_overrides(path: str | None) -> tuple:
    """The rows of ``--throughput-override`` (empty without it)."""
    return () if path is None else load_throughput_overrides(path)


def format_option(choices: tuple[str, ...] = FORMATS, default: str = "table", machine_note: str = ""):
    """``--format``; its help names exactly the formats the command takes (issue 16: every command's help promised
    csv and parquet, which run, finance and bridge refused)."""
    machines = [c for c in choices if c != "table"]
    words = {"json": "json", "csv": "csv", "parquet": "parquet (binary, to stdout)"}
    listed = ", ".join(words[c] for c in machines[:-1]) + (" or " if len(machines) > 1 else "") + words[machines[-1]]
    return click.option("--format", "fmt", type=click.Choice(choices), default=default, show_default=True,
                        help=f"table for people; {listed} for machines{machine_note}")


def emit(data: Any, fmt: str, *, table: str | None = None) -> None:
    """Print ``data`` on stdout in the chosen format (``table`` is the human rendering, given by the caller)."""
    if fmt == "json":
        click.echo(dumps_json(data), nl=False)
    elif fmt == "csv":
        click.echo(csv_text(data), nl=False)
    elif fmt == "parquet":  # binary on stdout: redirect it to a file (tokensim perf ... --format parquet > x.parquet)
        stream = click.get_binary_stream("stdout")
        stream.write(parquet_bytes(data))
        stream.flush()
    else:
        click.echo(table if table is not None else render_table(data), nl=False)


def warn(warnings: list[dict]) -> None:
    """Plausibility warnings on stderr, one line each (``tokensim: warning: ...``); the data keeps them in its
    ``warnings`` list."""
    for w in warnings:
        click.echo(f"tokensim: warning: {w['message']}", err=True)


def info(message: str) -> None:
    """A note for people: stderr, so stdout stays data."""
    click.echo(message, err=True)


class LazyProgress:
    """A rich progress bar on stderr that appears only once a run has taken ``after_s`` seconds (short runs stay
    quiet). Call it with (done, total); ``close()`` at the end."""

    def __init__(self, unit: str, after_s: float = 2.0) -> None:
        self.unit = unit
        self.after_s = after_s
        self.start = time.perf_counter()
        self.bar: Any = None  # a rich Progress once shown
        self.task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            if time.perf_counter() - self.start < self.after_s or done >= total:
                return
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self.bar = Progress(self.unit, BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                console=Console(file=sys.stderr), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.unit, total=total)
        self.bar.update(self.task, completed=done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def fmt_value(value, kind: str = "number", missing: str = "NaN") -> str:
    """A value for a human table: pct, money, years or a plain number; ``missing`` for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    if kind == "pct":
        return f"{value:.2%}"
    if kind == "money":
        return f"{value:,.0f}"
    if kind == "years":
        return f"{value:.2f} y"
    if kind == "ratio":
        return f"{value:.3f}"
    return f"{value:,.4g}" if isinstance(value, float) else str(value)
