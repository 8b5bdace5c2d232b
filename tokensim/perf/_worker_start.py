"""Imported by the forkserver that forks ``tokensim calibrate``'s fold workers, before it forks any (its preload).

The forkserver hands each child the signal handlers it found when it started, after its preload imports; with this
module among them, every worker ignores SIGINT from its first instruction. A Ctrl-C is the parent's to handle (it
ends the pool); without this a worker still unpickling the problem (its initializer not yet run) stopped with a
traceback of its own (tests/test_interrupts.py, a calibrate interrupted in its first seconds).
"""

from __future__ import annotations

import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)
