#!/usr/bin/env bash
# Device check, one command on a GPU machine, from a plain checkout (no pip installs, no network):
#   bash benchmarks/gpu_check.sh
# 1. the device and versions; 2. the GPU tests with TOKENSIM_REQUIRE_GPU=1 (a skip is a failure); 3. the parity of
# CuPy and NumPy summaries for one seed (float64 and float32) and the Monte Carlo benchmark (kernel at 10^7 paths x
# 60 months with CUDA events, the unfused CuPy-array twin, NumPy on this machine's CPU, end to end on the GPU);
# 4. other engineers' device checks (the hook below); 5. a short table, last.
# Needs: CuPy 14 (cupy-cuda13x), numpy, scipy, pandas, pyarrow, click, rich, pyyaml, pytest. Expected time: about
# 2-3 minutes, most of it NVRTC compiling mc_paths for float32 and float64 (cached by CuPy afterwards).
# With $OUT set, the full log goes to $OUT/gpu_check.log and the measurements to $OUT/bench_montecarlo.json.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
OUTDIR=${OUT:-$WORK}
mkdir -p "$OUTDIR"
LOG="$OUTDIR/gpu_check.log"
SUMMARY="$WORK/summary.txt"
: > "$SUMMARY"
: > "$LOG"

log() { echo "$@" | tee -a "$LOG"; }
# summary_line NAME VALUE: one row of the final table (for the hook below as well).
summary_line() { printf '%-34s %s\n' "$1" "$2" >> "$SUMMARY"; }
# step NAME TIMEOUT_S CMD...: run CMD with a time limit, output to the log and the screen; sets STEP_RC.
step() {
  local name=$1 limit=$2
  shift 2
  log ""
  log "=== $name ($(date -u +%H:%M:%S)) ==="
  local start=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee -a "$LOG"
  STEP_RC=${PIPESTATUS[0]}
  log "--- $name: exit $STEP_RC in $((SECONDS - start)) s"
}

step "device" 30 nvidia-smi -L
summary_line "device" "$(nvidia-smi -L 2>/dev/null | head -1 | cut -c1-60)"
step "versions" 60 "$PY" -c "import cupy, numpy, sys; print('python', sys.version.split()[0], 'numpy', numpy.__version__, 'cupy', cupy.__version__, 'CUDA runtime', cupy.cuda.runtime.runtimeGetVersion())"

# -- GPU tests: kernel vs NumPy path by path (float64), summaries (float64 1e-9, float32 documented tolerance),
#    chunk/geometry independence, the unfused twin, the CLI; Philox device vs NumPy (Random123 vectors).
#    Only these files: other test modules import packages the device image lacks (numpy-financial).
#    CuPy's "CUDA path could not be detected" notice is not a failure of ours; every other warning still is.
GPU_TESTS="tests/test_montecarlo_gpu.py tests/test_rng.py"
step "gpu tests" 150 env TOKENSIM_REQUIRE_GPU=1 "$PY" -m pytest -q -p no:cacheprovider -m gpu \
  -W "ignore:CUDA path could not be detected:UserWarning" $GPU_TESTS
TESTS_RC=$STEP_RC
TESTS_LINE=$(grep -E "(passed|failed|error|skipped|deselected).* in [0-9.]+s" "$LOG" | tail -1)
summary_line "gpu tests ($GPU_TESTS)" "$([ "$TESTS_RC" -eq 0 ] && echo PASS || echo "FAIL (exit $TESTS_RC)"): $TESTS_LINE"

# -- parity and benchmark (one process: the kernels compiled above come from CuPy's cache).
step "monte carlo benchmark and parity" 150 "$PY" benchmarks/bench_montecarlo.py --gpu --parity \
  --json "$OUTDIR/bench_montecarlo.json"
BENCH_RC=$STEP_RC
if [ -s "$OUTDIR/bench_montecarlo.json" ]; then
  [ "$BENCH_RC" -eq 0 ] || summary_line "monte carlo benchmark" "FAIL in part (exit $BENCH_RC): see the log"
  "$PY" - "$OUTDIR/bench_montecarlo.json" >> "$SUMMARY" <<'EOF'
import json, sys
rows = {r["what"]: r for r in json.load(open(sys.argv[1]))}
def line(name, text):
    print(f"{name:34s} {text}")
def rate(r):
    return f"{r['path_months_per_s']:.3g} path-months/s"
for dtype in ("float32", "float64"):
    r = rows.get(f"kernel mc_paths {dtype}")
    if r:
        line(f"kernel {dtype}", f"{rate(r)}  ({r['paths']:,} x {r['months']} in {r['ms']:.2f} ms; target >= 3e10)")
r = rows.get("unfused CuPy arrays (NumPy twin, xp=cupy) float64")
if r:
    line("unfused CuPy arrays", f"{rate(r)}  ({r['paths']:,} paths in {r['ms']:.0f} ms)")
r = rows.get("kernel / unfused")
if r:
    line("kernel / unfused", f"float32 {r['float32']:.0f}x, float64 {r['float64']:.0f}x (target >= 30x)")
r = rows.get("cupy run_montecarlo float32")
if r:
    line("end to end (cupy, float32)", f"{rate(r)}  ({r['seconds']:.2f} s with summaries)")
r = rows.get("numpy run_montecarlo")
if r:
    line("numpy on this machine's CPU", f"{rate(r)}  ({r['paths']:,} paths)")
for dtype, limit in (("float64", "1e-9"), ("float32", "tokensim.montecarlo._run.FLOAT32_TOLERANCE")):
    r = rows.get(f"parity cupy {dtype} vs numpy")
    if r:
        line(f"parity {dtype} (same seed)", f"max rel diff of means {r['max_rel_diff_of_means']:.2g} "
             f"({r['worst_metric']}), probabilities {r['max_abs_diff_of_probabilities']:.2g} (limit {limit})")
for r in rows.values():
    if "error" in r:
        line(r["what"], r["error"][:90])
for name in ("kernel compile+first launch float32", "kernel compile+first launch float64"):
    r = rows.get(name)
    if r:
        line(name.replace("kernel ", ""), f"{r['seconds']:.1f} s")
EOF
else
  summary_line "monte carlo benchmark" "FAIL (exit $BENCH_RC, no measurements)"
fi

# -- HOOK: further device checks (e.g. the sweep kernels). Append steps here in this form:
#      step "sweep gpu tests" 120 env TOKENSIM_REQUIRE_GPU=1 "$PY" -m pytest -q -p no:cacheprovider -m gpu tests/...
#      summary_line "sweep gpu tests" "$([ "$STEP_RC" -eq 0 ] && echo PASS || echo FAIL)"
#      EXTRA_RC=$((EXTRA_RC + STEP_RC))
EXTRA_RC=0
extra_device_checks() {
  # -- grid sweeps (kernels/unitcost.cu): kernel vs NumPy point by point (float64 1e-9, float32 documented
  #    tolerance), launch-split independence, run_sweep/CLI on CuPy; then parity on larger mixed grids and the
  #    benchmark (10^8 fixed-batch points and 10^7 SLO-search points, float32 and float64, CUDA events after a
  #    warm-up). The tests compile unitcost for both dtypes (~10-30 s); the benchmark reuses CuPy's cache.
  step "sweep gpu tests" 90 env TOKENSIM_REQUIRE_GPU=1 "$PY" -m pytest -q -p no:cacheprovider -m gpu \
    -W "ignore:CUDA path could not be detected:UserWarning" tests/test_sweep_gpu.py
  local rc=$STEP_RC
  summary_line "sweep gpu tests" "$([ "$rc" -eq 0 ] && echo PASS || echo "FAIL (exit $rc)"): $(grep -E "(passed|failed|error|skipped).* in [0-9.]+s" "$LOG" | tail -1)"
  EXTRA_RC=$((EXTRA_RC + rc))
  step "sweep benchmark and parity" 90 "$PY" benchmarks/bench_sweep.py --gpu --parity --no-numpy --repeats 3 \
    --json "$OUTDIR/bench_sweep.json"
  rc=$STEP_RC
  EXTRA_RC=$((EXTRA_RC + rc))
  if [ -s "$OUTDIR/bench_sweep.json" ]; then
    [ "$rc" -eq 0 ] || summary_line "sweep benchmark" "FAIL in part (exit $rc): see the log"
    "$PY" - "$OUTDIR/bench_sweep.json" >> "$SUMMARY" <<'PYEOF'
import json, sys
rows = json.load(open(sys.argv[1]))
def line(name, text):
    print(f"{name:34s} {text}")
for r in rows:
    what = r.get("what", "")
    if what.startswith("kernel unitcost_points"):
        kind, dtype = what.split()[-2:]
        target = "; target >= 1e8" if kind == "fixed" else ""
        line(f"sweep kernel {kind} {dtype}", f"{r['points_per_s']:.3g} points/s  ({r['points']:,} in {r['ms']:.1f} ms{target})")
    elif what.startswith("kernel compile+first launch"):
        line(f"sweep compile {what.split()[-1]}", f"{r['seconds']:.1f} s")
    elif what.startswith("parity kernel"):
        dtype = what.split()[2]
        limit = "1e-9, same batches and flags" if dtype == "float64" else "tokensim.sweep._run.FLOAT32_TOLERANCE"
        line(f"sweep parity {dtype}", f"max rel {r['max_rel_diff']:.2g} ({r['worst_output']}), other batch "
             f"{r['share_other_batch']:.2%}, flags equal {r['flags_equal']}, {r['points']:,} points (limit {limit})")
    elif what.startswith("cupy sweep"):
        line("sweep end to end (cupy, float32)", f"{r['points_per_s']:.3g} points/s with DataFrames")
    elif "error" in r:
        line(what, r["error"][:90])
PYEOF
  else
    summary_line "sweep benchmark" "FAIL (exit $rc, no measurements)"
  fi
}
extra_device_checks

# -- Monte Carlo launch geometries: block sizes and row placements timed in one run (benchmarks/profile_montecarlo.py),
#    each checked to give the default's per-path results; the fastest per dtype goes to the table, to set
#    tokensim.montecarlo._kernel._THREADS from a measurement.
step "monte carlo launch geometries" 150 "$PY" benchmarks/profile_montecarlo.py --paths 4194304
GEOMETRY_RC=$STEP_RC
"$PY" - "$LOG" >> "$SUMMARY" <<'PYEOF'
import re, sys
best = {}
for line in open(sys.argv[1]):
    m = re.match(r"(float\d+) (.+?)\s+threads=\s*(\d+) .*?([\d.]+) ms\s+([\d.e+]+) path-months/s\s+same_as_default=(\w+)",
                 line)
    if m:
        dtype, name, rate, same = m.group(1), m.group(2), float(m.group(5)), m.group(6) == "True"
        default = best.setdefault(dtype, {"default": None, "best": None})
        if name == "default":
            default["default"] = rate
        if same and (default["best"] is None or rate > default["best"][1]):
            default["best"] = (name, rate)
for dtype, r in best.items():
    if r["best"]:
        print(f"{'geometry ' + dtype:34s} fastest {r['best'][0]} {r['best'][1]:.3g} path-months/s "
              f"(default {r['default'] or float('nan'):.3g})")
PYEOF
[ "$GEOMETRY_RC" -eq 0 ] || summary_line "monte carlo launch geometries" "FAIL (exit $GEOMETRY_RC)"

summary_line "total time of this script" "$SECONDS s"
log ""
log "=== tokensim device check: summary ==="
tee -a "$LOG" < "$SUMMARY"
[ "$TESTS_RC" -eq 0 ] && [ "$BENCH_RC" -eq 0 ] && [ "$EXTRA_RC" -eq 0 ]
