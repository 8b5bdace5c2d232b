"""Progress of a run on Dask, for people: stderr lines with blocks done, throughput, ETA and the dashboard."""

from __future__ import annotations

import time

from ..montecarlo import BlockProgress
from ._common import info

# Seconds between progress lines (the first block's line and the last are always shown).
_EVERY_S = 5.0


def _duration(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "unknown"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class DaskReport:
    """``report`` callback of :func:`tokensim.montecarlo.simulate_dask`: one line on stderr every few seconds."""

    def __init__(self, every_s: float = _EVERY_S) -> None:
        self.every_s = every_s
        self.last = -float("inf")
        self.started = False

    def __call__(self, p: BlockProgress) -> None:
        if not self.started:
            self.started = True
            where = f"dashboard {p.dashboard}" if p.dashboard else "no dashboard (pip install bokeh to get one)"
            resumed = f", resumed at {p.resumed_paths:,} paths" if p.resumed_paths else ""
            info(f"tokensim: dask: {p.workers} workers, {p.blocks:,} blocks{resumed}; {where}")
        if p.blocks_done == 0:
            return
        now = time.perf_counter()
        if now - self.last < self.every_s and p.blocks_done < p.blocks:
            return
        self.last = now
        info(f"tokensim: dask: blocks {p.blocks_done:,}/{p.blocks:,}, paths {p.paths_done:,}/{p.paths:,}, "
             f"{p.path_months_per_s:,.0f} path-months/s, ETA {_duration(p.eta_s)}")
