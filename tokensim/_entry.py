"""The ``tokensim`` command's entry point: catches a Ctrl-C or SIGTERM that arrives while the modules load.

Loading the command line takes a few tenths of a second (NumPy, click, pydantic, the catalogues). The console script
imports only this module (``import tokensim`` itself loads nothing, see ``tokensim/__init__.py``), so an interrupt
during those imports ends as every other one does (issue 12): one line on stderr and status 130 (Ctrl-C) or 143
(SIGTERM), never a traceback. Nothing has been written yet, so there is nothing to remove. Once loaded,
:func:`tokensim.cli.main` installs its own handlers.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_TERMINATED = 143  # 128 + SIGTERM


def _terminated_while_loading(signum, frame) -> None:
    os.write(2, b"tokensim: terminated\n")
    os._exit(EXIT_TERMINATED)  # noqa: SLF001 - nothing to clean up yet: no file is open for writing


def main() -> None:
    """Load the command line and run it (``tokensim = "tokensim._entry:main"`` in pyproject.toml)."""
    try:
        previous = signal.signal(signal.SIGTERM, _terminated_while_loading)
    except ValueError:  # not the main thread
        previous = None
    try:
        cli = importlib.import_module("tokensim.cli")  # the heavy imports, here where a Ctrl-C can be caught
    except KeyboardInterrupt:
        sys.stderr.write("tokensim: aborted\n")
        raise SystemExit(EXIT_INTERRUPTED) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    cli.main()
