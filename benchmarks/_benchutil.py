"""Shared by the benchmark scripts: CUDA-event timing, recording measurements as they arrive, running sections."""

from __future__ import annotations

import json
import traceback
from pathlib import Path

_json_path: Path | None = None


def set_json_path(path: Path | None) -> None:
    """Measurements are rewritten to ``path`` after each one (None: print only)."""
    global _json_path
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    _json_path = path


def record(results: list[dict], **row) -> None:
    """Print one measurement and rewrite the JSON file, so that a later failure keeps what was measured."""
    results.append(row)
    parts = [f"{k}={v:,.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()]
    print("  ".join(parts), flush=True)
    if _json_path is not None:
        _json_path.write_text(json.dumps(results, indent=2) + "\n")


def run_sections(sections, results: list[dict]) -> int:
    """Run each (name, callable); a failing section is recorded and the next still runs. Returns the failures."""
    failed = 0
    for name, run in sections:
        try:
            run()
        except Exception as exc:  # report and go on: one broken section must not hide the others' figures
            traceback.print_exc()
            record(results, what=f"{name} failed", error=f"{type(exc).__name__}: {exc}")
            failed += 1
    return failed


def cuda_time_ms(fn, repeats: int) -> list[float]:
    """Per-call device time of fn() in milliseconds, measured with CUDA events after one warm-up call."""
    import cupy

    fn()
    cupy.cuda.Device().synchronize()
    times = []
    for _ in range(repeats):
        start, stop = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, stop))
    return times
