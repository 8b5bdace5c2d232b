"""Every CLI command's JSON on the bundled scenarios, before and after a change: byte-identical but for timings.

    python benchmarks/json_identity.py --base REV        # run each command at REV and at the working tree, compare
    python benchmarks/json_identity.py --capture DIR     # only write the working tree's outputs to DIR

The base revision is checked out into a temporary git worktree and run with ``PYTHONPATH`` pointing at it, so nothing
is installed. Timing fields (``elapsed_s``, ``path_months_per_s``, ``points_per_s``) are removed before comparing,
since they differ from run to run; everything else must be equal byte for byte. Exit status 1 lists the commands whose
output differs, with the first differing line.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("b300-10k-cluster", "us-b300-neocloud-usage")
TIMING_KEYS = frozenset({"elapsed_s", "path_months_per_s", "points_per_s"})

# (name, arguments): every command that prints JSON, on both bundled scenarios where it takes one.
COMMANDS: list[tuple[str, list[str]]] = [
    ("catalog-hardware", ["catalog", "hardware"]),
    ("catalog-models", ["catalog", "models"]),
    ("catalog-precisions", ["catalog", "precisions"]),
    ("perf-llama", ["perf", "--hardware", "H200", "--model", "llama-3.3-70b", "--precision", "fp8",
                    "--input-tokens", "1000", "--output-tokens", "1000"]),
    ("perf-deepseek-slo", ["perf", "--hardware", "B300", "--model", "deepseek-r1", "--precision", "nvfp4",
                           "--input-tokens", "1000", "--output-tokens", "1000", "--min-tokens-per-s-per-user", "50",
                           "--speculative-draft-tokens", "1", "--speculative-acceptance-length", "1.85"]),
    ("perf-pareto", ["perf", "--hardware", "H200", "--model", "llama-3.1-8b", "--precision", "fp8",
                     "--input-tokens", "2000", "--output-tokens", "500", "--pareto"]),
    ("perf-disagg", ["perf", "--hardware", "B200", "--model", "deepseek-v3", "--precision", "fp8",
                     "--input-tokens", "2000", "--output-tokens", "500", "--mode", "disaggregated",
                     "--max-tpot-s", "0.05"]),
    ("pnl", ["pnl", "--gpus", "1000", "--hours", "720", "--gpu-hour-cost", "2.4", "--input-tokens", "2e12",
             "--cache-hit-rate", "0.56", "--output-tokens", "3e11", "--price-input", "0.28",
             "--price-cached-input", "0.028", "--price-output", "0.42"]),
    ("bridge", ["bridge", "--from", "H200:fp8", "--to", "B300:nvfp4", "--server-price-change", "0.5",
                "--model", "deepseek-v3"]),
    ("validate", ["validate"]),
    ("calibrate", ["calibrate", "--out", "calibration.yaml", "--date", "2026-01-01"]),
]
for _s in SCENARIOS:
    COMMANDS += [
        (f"cost-{_s}", ["cost", _s]),
        (f"cost-usd-{_s}", ["cost", _s, "--currency", "USD"]),
        (f"finance-{_s}", ["finance", _s]),
        (f"finance-payback-{_s}", ["finance", _s, "--payback-in", "3"]),
        (f"finance-dscr-{_s}", ["finance", _s, "--solve-for", "rent", "--target", "min_dscr=1.2"]),
        (f"bridge-{_s}", ["bridge", "--scenario", _s]),
        (f"mc-{_s}", ["mc", _s, "--paths", "20000", "--seed", "7", "--backend", "numpy"]),
        (f"sweep-{_s}", ["sweep", _s, "--axis", "server_price=3e6:7e6:3", "--axis", "precision=fp8,nvfp4",
                         "--backend", "numpy"]),
        (f"tornado-{_s}", ["sensitivity", _s, "--method", "tornado", "--metric", "npv"]),
        (f"sobol-{_s}", ["sensitivity", _s, "--method", "sobol", "--metric", "equity_irr", "--samples", "64"]),
        (f"run-{_s}", ["run", _s, "--paths", "20000", "--backend", "numpy"]),
    ]
COMMANDS.append(("finance-frontier", ["finance", "us-b300-neocloud-usage", "--solve-for", "rent", "--target",
                                      "equity_irr=0.12", "--frontier"]))
COMMANDS.append(("sweep-rent", ["sweep", "us-b300-neocloud-usage", "--axis", "rent=2:5:3", "--axis",
                                "spot_utilisation=0.5:1:3", "--backend", "numpy"]))


def _strip_timings(value):
    if isinstance(value, dict):
        return {k: _strip_timings(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [_strip_timings(v) for v in value]
    return value


def capture(source: Path, out: Path, only: set[str] | None = None) -> dict[str, str]:
    """Run every command with ``PYTHONPATH=source``; write and return each output (timings removed)."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(source)}
    outputs = {}
    for name, args in COMMANDS:
        if only and name not in only:
            continue
        proc = subprocess.run([sys.executable, "-m", "tokensim", *args, "--format", "json"], cwd=out, env=env,
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            text = f"exit {proc.returncode}\n{proc.stderr}"
        else:
            # Re-serialise only to drop the timing keys; key order and number formatting are kept as printed.
            text = json.dumps(_strip_timings(json.loads(proc.stdout)), indent=1, allow_nan=True)
        (out / f"{name}.json").write_text(text)
        outputs[name] = text
        print(f"{source.name}: {name}", file=sys.stderr)
    return outputs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--base", help="git revision to compare the working tree against")
    group.add_argument("--capture", type=Path, help="only write the working tree's outputs to this folder")
    parser.add_argument("--only", action="append", help="run only these command names (repeatable)")
    args = parser.parse_args()
    only = set(args.only) if args.only else None
    if args.capture:
        capture(ROOT, args.capture, only)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        base_tree = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", str(base_tree), args.base], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            before = capture(base_tree, Path(tmp) / "before", only)
            after = capture(ROOT, Path(tmp) / "after", only)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=ROOT, check=False)
    differ = [name for name in before if before[name] != after[name]]
    for name in differ:
        diff = difflib.unified_diff(before[name].splitlines(), after[name].splitlines(), "before", "after", n=1,
                                    lineterm="")
        print(f"DIFFERS {name}:\n" + "\n".join(list(diff)[:12]))
    print(f"{len(before) - len(differ)} of {len(before)} commands byte-identical (timings removed) against "
          f"{args.base}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
