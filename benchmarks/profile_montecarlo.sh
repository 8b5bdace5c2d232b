#!/usr/bin/env bash
# Device profile of the Monte Carlo kernel: layout variants (timed), then Nsight Compute's speed-of-light, occupancy
# and launch statistics for one float32 launch. Writes $OUT/profile_montecarlo.log when $OUT is set.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
LOG=${OUT:-/tmp}/profile_montecarlo.log
{
  timeout 150 python3 benchmarks/profile_montecarlo.py
  echo "=== ncu (float32, 2^20 paths, default layout) ==="
  timeout 150 ncu --clock-control none --kernel-name mc_paths --launch-skip 1 --launch-count 1 \
    --section SpeedOfLight --section Occupancy --section LaunchStats --section ComputeWorkloadAnalysis \
    --section WarpStateStats \
    python3 -c "
from tokensim.montecarlo import _kernel as _mckernel
from tokensim.resolve.montecarlo import montecarlo_model as prepare
from tokensim.config.scenario import load_scenario
m = prepare(load_scenario('b300-10k-cluster'))
a = _mckernel.constant_images(m, 'float32', 1)
for _ in range(2):
    _mckernel.launch(m, 1, 0, 1 << 20, 'float32', a)
import cupy; cupy.cuda.Device().synchronize()
"
} 2>&1 | tee "$LOG"
