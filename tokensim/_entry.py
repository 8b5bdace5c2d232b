"""The ``tokensim`` command's entry point: catches a Ctrl-C or SIGTERM that arrives while the modules load.

Loading the command line takes a few tenths of a second (NumPy, click, pydantic, the catalogues). The console script
imports only this module (``import tokensim`` itself loads nothing, see ``tokensim/__init__.py``), so an interrupt
during those imports ends as every other one does (issue 12): one line on stderr and status 130 (Ctrl-C) or 143
(SIGTERM), never a traceback. Nothing has been written yet, so there is nothing to remove. Once loaded,
:func:`tokensim.cli.main` installs its own handlers.

What tokensim cannot reach is Python's own start-up: the interpreter, ``site``, and for ``python -m tokensim`` runpy
importing the package (``tokensim/__init__.py``, which imports nothing) before ``__main__`` runs. A Ctrl-C there,
in the first few tens of milliseconds, is reported by Python itself. So this module's body imports only what the
interpreter has already loaded (no ``from __future__``, no ``signal``: a Ctrl-C landing in ``import signal`` here once
printed a traceback, CI on 496b038), ``__main__`` catches one while this module loads, and everything else, ``signal``
included, runs inside :func:`main`'s handler.
"""

import importlib
import os
import sys

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_TERMINATED = 143  # 128 + SIGTERM
ABORTED, TERMINATED = "tokensim: aborted", "tokensim: terminated"  # the lines tokensim.cli.main writes too


def _ends_with(line: str, status: int):
    """A handler for SIGINT or SIGTERM while the modules load: ``line`` on stderr and ``status``, at once.

    Not a KeyboardInterrupt: an import swallows one that lands in importlib's module-lock weakref callback ("Exception
    ignored in ... cb", and the command ran on), and Python 3.11 wraps one that lands in a class body's
    ``__set_name__`` (pydantic's models) in a RuntimeError. Both were seen in stress runs of this entry point.
    """
    message = f"{line}\n".encode()

    def ended_while_loading(signum: int, frame: object) -> None:
        os.write(2, message)
        os._exit(status)  # noqa: SLF001 - nothing to clean up yet: no file is open for writing

    return ended_while_loading


def main() -> None:
    """Load the command line and run it (``tokensim = "tokensim._entry:main"`` in pyproject.toml).

    A signal that Python already ignores (a background job) stays ignored. The run itself sits inside the handler too:
    :func:`tokensim.cli.main` turns a Ctrl-C during a command into status 130 itself, and this catches one that lands
    between the two.
    """
    try:
        import signal  # here, not at the top: its import takes half a millisecond, long enough for a Ctrl-C to land

        loading = {signal.SIGINT: _ends_with(ABORTED, EXIT_INTERRUPTED),
                   signal.SIGTERM: _ends_with(TERMINATED, EXIT_TERMINATED)}
        previous = {}
        for signum, handler in loading.items():
            try:
                if signal.getsignal(signum) is not signal.SIG_IGN:
                    previous[signum] = signal.signal(signum, handler)
            except ValueError:  # not the main thread: leave the embedding application's handlers alone
                break
        try:
            cli = importlib.import_module("tokensim.cli")  # the heavy imports, under the handler above
        finally:
            for signum, before in previous.items():
                signal.signal(signum, before)
        cli.main()
    except KeyboardInterrupt:
        sys.stderr.write(f"{ABORTED}\n")
        raise SystemExit(EXIT_INTERRUPTED) from None
