"""Where the Monte Carlo kernel's time goes: launch-geometry variants timed in one run, each checked to give the
same per-path results as the default layout (the arithmetic per path does not depend on the layout).

Run on a GPU machine from a checkout: ``PYTHONPATH=. python3 benchmarks/profile_montecarlo.py [--paths N]``; pair
with ``ncu`` (benchmarks/profile_montecarlo.sh) for the hardware counters. Prints one line per variant.
"""

from __future__ import annotations

import argparse
import statistics

import cupy
import numpy as np
from _benchutil import cuda_time_ms

from tokensim.config.scenario import load_scenario
from tokensim.montecarlo import _kernel as _mckernel
from tokensim.resolve.montecarlo import montecarlo_model as prepare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--paths", type=int, default=1 << 23)
    parser.add_argument("--scenario", default="b300-10k-cluster")
    args = parser.parse_args()
    model = prepare(load_scenario(args.scenario))
    months = model.inputs.months
    sm = cupy.cuda.Device().attributes["MultiProcessorCount"]
    for dtype in ("float32", "float64"):
        itemsize = 4 if dtype == "float32" else 8
        per_thread = 2 * _mckernel.shared_row_length(months) * itemsize
        images = _mckernel.constant_images(model, dtype, 1)
        default = _mckernel.launch_geometry(months, dtype,
                                            optin_limit=_mckernel._optin_limit(cupy.cuda.Device().id))
        variants = {"default": default}
        for threads in (32, 64, 128, 256):
            variants[f"shared {threads}"] = _mckernel.Geometry(threads, per_thread * threads, False, None)
        for threads, waves in ((128, 4), (128, 16), (256, 8), (256, 32)):
            variants[f"scratch {threads}x{waves * sm}"] = _mckernel.Geometry(threads, 0, True, waves * sm)
        reference = None
        for name, geometry in variants.items():
            if geometry.shared_bytes > 227 * 1024:
                continue
            try:
                def run(g=geometry, dtype=dtype, images=images):
                    return _mckernel.launch(model, 1, 0, args.paths, dtype, images, geometry=g)
                ms = statistics.median(cuda_time_ms(run, 3))
                out = run()
                got = cupy.stack([out["metrics"][k] for k in sorted(out["metrics"])]).get()
                if reference is None:
                    reference = got
                same = bool(np.array_equal(got, reference, equal_nan=True))
                print(f"{dtype} {name:22s} threads={geometry.threads:4d} shared={geometry.shared_bytes:6d} B "
                      f"{ms:8.2f} ms  {args.paths * months / ms * 1e3:.3g} path-months/s  same_as_default={same}")
            except Exception as exc:  # a layout the device refuses: report it, keep going
                print(f"{dtype} {name:22s} failed: {type(exc).__name__}: {str(exc)[:100]}")


if __name__ == "__main__":
    main()
