"""The ``tokensim`` command line: thin click commands over library functions.

Commands parse options, call one stage, and format. A :class:`~tokensim.UserError` anywhere becomes one line on stderr
and exit status 2; stdout carries data only.
"""

from __future__ import annotations

import sys

import click

from .._errors import UserError
from ._common import cli

__all__ = ["cli", "main"]

# Each command lives in its own module and registers itself on ``cli`` at import.
from . import _bridge, _catalog, _cost, _finance, _mc, _perf, _plot, _pnl, _run, _sensitivity, _sweep, _validate  # noqa: E402,F401  # noqa: E402,F401


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the click group, turning user errors into exit status 2 without a traceback."""
    try:
        # With standalone_mode=False click returns the code of a ctx.exit() (how _Group reports a UserError).
        code = cli.main(args=argv, prog_name="tokensim", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except UserError as exc:
        for line in str(exc).splitlines() or [""]:  # several errors of one file: one line each
            click.echo(f"tokensim: error: {line}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("tokensim: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
