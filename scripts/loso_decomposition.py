"""How much of a validation error each grouping explains: the median |error| left after removing each group's own
median log-offset (an oracle: a held-out source's offset is exactly what leave-one-source-out cannot know).

Reads the JSON of ``tokensim validate --cross-validate --format json`` (a file, or ``-`` for stdin) and joins each row
to its measurement (the bundled ``tokensim/data/measurements.csv`` unless ``--measurements`` names another) for the
fields the JSON does not carry (input and output tokens, engine version). Prints one line per grouping:

    python scripts/loso_decomposition.py cv.json

A grouping whose oracle leaves little error is where the error lives: if removing every (hardware, model) cell's own
offset leaves 12%, a model that got each cell's level right would be at 12% whatever its shapes across concurrency.
docs/model-notes.md, round 12, reads the numbers for the bundled data.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

from tokensim import UserError
from tokensim.perf.validate import load_measurements

# name -> fields of a row (validate's JSON row merged with its measurement) that define a group
GROUPINGS: dict[str, tuple[str, ...] | None] = {
    "none (the error itself)": None,
    "one offset for all rows": (),
    "source document": ("source_id",),
    "hardware x model": ("hardware", "model"),
    "hardware x model x precision x engine": ("hardware", "model", "precision", "engine"),
    "... x input x output tokens": ("hardware", "model", "precision", "engine", "input_tokens", "output_tokens"),
    "... x source document": ("hardware", "model", "precision", "engine", "input_tokens", "output_tokens",
                              "source_id"),
}


def oracle_median_abs_error(rows: Iterable[dict], key: Callable[[dict], tuple] | None) -> tuple[int, float]:
    """(groups, median |error|) after each group's median ln(predicted/measured) is subtracted from its rows; with
    ``key`` None nothing is subtracted (0 groups)."""
    rows = list(rows)
    if key is None:
        return 0, statistics.median(abs(r["predicted"] / r["measured"] - 1.0) for r in rows)
    logs: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        logs[key(r)].append(math.log(r["predicted"] / r["measured"]))
    offset = {k: statistics.median(v) for k, v in logs.items()}
    left = [abs(math.exp(math.log(r["predicted"] / r["measured"]) - offset[key(r)]) - 1.0) for r in rows]
    return len(offset), statistics.median(left)


def decomposition(rows: list[dict]) -> list[tuple[str, int, float]]:
    """(grouping, groups, median |error| left) for every entry of :data:`GROUPINGS`."""
    out = []
    for name, fields in GROUPINGS.items():
        key = None if fields is None else (lambda r, f=fields: tuple(r[x] for x in f))
        groups, left = oracle_median_abs_error(rows, key)
        out.append((name, groups, left))
    return out


def _join(validated: list[dict], measurements: Path | None) -> list[dict]:
    """validate's rows, each merged with its measurement's fields (read and checked by ``load_measurements``)."""
    by_id = {m.id: dataclasses.asdict(m) for m in load_measurements(measurements)}
    return [{**by_id[r["id"]], **r} for r in validated if r["id"] in by_id]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("validated", help="JSON from `tokensim validate --format json` ('-': stdin)")
    parser.add_argument("--measurements", type=Path, default=None,
                        help="measurement CSV (default: the bundled tokensim/data/measurements.csv)")
    args = parser.parse_args(argv)
    try:
        text = sys.stdin.read() if args.validated == "-" else Path(args.validated).read_text()
        validated = json.loads(text)
        if not isinstance(validated, dict) or not isinstance(validated.get("rows"), list):
            raise ValueError("not the JSON of `tokensim validate --format json` (no list 'rows')")
        rows = _join(validated["rows"], args.measurements)
    except (OSError, ValueError, KeyError, TypeError, UserError) as exc:
        print(f"error: {args.validated}: {exc}", file=sys.stderr)
        return 2
    unmatched = len(validated["rows"]) - len(rows)
    if unmatched:
        where = args.measurements or "the bundled measurements"
        print(f"note: {unmatched} rows of {args.validated} are not in {where}; left out", file=sys.stderr)
    rows = [r for r in rows if r["predicted"] > 0 and r["measured"] > 0]
    lines = [f"{len(rows)} rows; median |error| left after removing each group's own median log-offset"]
    lines += [f"  {name:45s} {groups:5d} groups  {100 * left:5.1f}%" for name, groups, left in decomposition(rows)]
    try:
        print("\n".join(lines), flush=True)
    except BrokenPipeError:  # a reader that stopped early (| head): no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
