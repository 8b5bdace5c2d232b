"""Device timing shared by the benchmark scripts: CUDA events around a call, after one warm-up call."""

from __future__ import annotations


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
