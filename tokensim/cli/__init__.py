"""The ``tokensim`` command line: thin click commands over library functions.

Commands parse options, call one stage, and format. A :class:`~tokensim.UserError` anywhere becomes one line on stderr
and exit status 2; stdout carries data only.
"""

from __future__ import annotations

import signal
import sys

import click

from .._errors import UserError
from ._common import cli, error_lines, usage_message

__all__ = ["cli", "main"]

# Each command lives in its own module and registers itself on ``cli`` at import.
from . import (  # noqa: E402,F401
    _bridge,
    _catalog,
    _compare,
    _cost,
    _finance,
    _fleet,
    _init,
    _mc,
    _perf,
    _plot,
    _pnl,
    _run,
    _sensitivity,
    _sweep,
    _tokencost,
    _validate,
    _value,
)


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like Ctrl-C (every writer removes its temporary file), then exit status 143."""


def _terminate(signum, frame) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the click group, turning user errors into exit status 2 without a traceback.

    Ctrl-C ends with status 130 and SIGTERM with 143, each with one line on stderr; temporary files are removed as the
    stack unwinds. An operating-system error (a disk full, a path that vanished after its check) is one line with the
    path and the reason, status 2.
    """
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread (an embedding application): leave its handlers alone
        previous = None
    args = sys.argv[1:] if argv is None else list(argv)
    if not args:  # no command: the help, as `tokensim --help` (a request for help, not an error)
        click.echo(cli.get_help(click.Context(cli, info_name="tokensim")))
        return
    try:
        # With standalone_mode=False click returns the code of a ctx.exit() (how _Group reports a UserError).
        code = cli.main(args=args, prog_name="tokensim", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except UserError as exc:
        for line in error_lines(exc):  # several errors of one file: one line each
            click.echo(f"tokensim: error: {line}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("tokensim: aborted", err=True)
        sys.exit(130)
    except Terminated:
        click.echo("tokensim: terminated", err=True)
        sys.exit(143)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"tokensim: error: {where}{exc.strerror or exc}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"tokensim: error: {usage_message(exc)}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
