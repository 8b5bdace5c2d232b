"""How much of a validation error each grouping explains: the median |error| left after removing each group's own
median log-offset (an oracle: a held-out source's offset is exactly what leave-one-source-out cannot know).

Reads the JSON of ``tokensim validate --cross-validate --format json`` (a file, or ``-`` for stdin) and joins each row
to its measurement (the bundled ``tokensim/data/measurements.csv`` unless ``--measurements`` names another) for the
fields the JSON does not carry (input and output tokens, engine version). Prints one line per grouping:

    python scripts/loso_decomposition.py cv.json

A grouping whose oracle leaves little error is where the error lives: if removing every (hardware, model) cell's own
offset leaves 12%, a model that got each cell's level right would be at 12% whatever its shapes across concurrency.
docs/model-notes.md, round 12, reads the numbers for the bundled data.

Two more sections ask what a held-out source could have been told (docs/model-notes.md, round 14):

* **Transfer**: each held-out source group's rows corrected by the median log-offset that the *other* groups' rows
  show in the same cell (the most specific cell of a hierarchy with enough rows). This is what a level correction
  learned from the other sources can do under leave-one-source-out, at best.
* **Source-blind floor**: on the rows of cells that two or more organisations measured, the error left by the best
  single level per cell that does not know the source (chosen in-sample, from the rows' own measurements), beside the
  error left when each organisation's own level is known. A predictor that is not told the source cannot beat the
  first on those rows with the model's shapes.

A last section splits the error by per-user speed band twice over the same rows: by the speed the source measured
(as ``tokensim validate`` groups) and by the speed the model predicted (what a user of a prediction knows). Banding
by the outcome sends a slow build's over-predictions to the slow band (docs/model-notes.md, round 18).
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


def transfer_median_abs_error(rows: list[dict], group: str, hierarchy: tuple[tuple[str, ...], ...],
                               min_rows: int) -> float:
    """Median |error| after each group's rows are corrected by the median ln(predicted/measured) of the *other*
    groups' rows in the row's cell: the first cell of ``hierarchy`` (tuples of fields, most specific first) that has at
    least ``min_rows`` such rows; no correction where none has."""
    logs = [math.log(r["predicted"] / r["measured"]) for r in rows]
    left = []
    for held_out in sorted({r[group] for r in rows}):
        cells: list[dict[tuple, list[float]]] = [defaultdict(list) for _ in hierarchy]
        for r, lr in zip(rows, logs, strict=True):
            if r[group] != held_out:
                for level, fields in zip(cells, hierarchy, strict=True):
                    level[tuple(r[f] for f in fields)].append(lr)
        for r, lr in zip(rows, logs, strict=True):
            if r[group] == held_out:
                others = next((v for level, fields in zip(cells, hierarchy, strict=True)
                               if len(v := level.get(tuple(r[f] for f in fields), [])) >= min_rows), [])
                left.append(abs(math.exp(lr - (statistics.median(others) if others else 0.0)) - 1.0))
    return statistics.median(left)


def _most_within(logs: list[float], tolerance: float) -> float:
    """A level that puts the most of ``logs`` within |exp(x - c) - 1| <= tolerance: the median of the logs in the
    fullest window of that width in log space (some fullest window has a point on its upper edge, so only those are
    tried; the first of equals wins; the median keeps the chosen points off the window's edges)."""
    lo, hi = math.log(1.0 - tolerance), math.log(1.0 + tolerance)
    c = max((x - hi for x in logs), key=lambda c: sum(lo <= y - c <= hi for y in logs))
    return statistics.median(y for y in logs if lo <= y - c <= hi)


def source_blind_floor(rows: list[dict], cell: tuple[str, ...], source: str, min_rows: int = 3,
                       tolerance: float = 0.12) -> dict[str, tuple[int, float, int]]:
    """On the rows of cells that at least two sources measured with ``min_rows`` rows each: (rows, median |error|,
    rows within ``tolerance``) for the rows' own errors ("as validated"), for one level per cell that does not know the
    source ("pooled median": the median log-offset of the cell's rows; "most within tolerance": the level that puts the
    most of the cell's rows within ``tolerance``), and for each source's own level in the cell ("own source")."""
    cells: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        cells[tuple(r[f] for f in cell)][r[source]].append(math.log(r["predicted"] / r["measured"]))
    left: dict[str, list[float]] = {"as validated": [], "pooled median": [], "most within tolerance": [],
                                    "own source": []}
    for by_source in cells.values():
        if sum(len(v) >= min_rows for v in by_source.values()) < 2:
            continue
        logs = [x for v in by_source.values() for x in v]
        blind = {"as validated": 0.0, "pooled median": statistics.median(logs),
                 "most within tolerance": _most_within(logs, tolerance)}
        for v in by_source.values():
            for name, level in (*blind.items(), ("own source", statistics.median(v))):
                left[name] += [abs(math.exp(x - level) - 1.0) for x in v]
    return {name: (len(v), statistics.median(v) if v else math.nan, sum(e <= tolerance for e in v))
            for name, v in left.items()}


def speed_band_split(rows: list[dict]) -> dict[str, dict[str, tuple[int, float, float]]]:
    """Error per per-user speed band, with each row banded by its measured speed and, apart, by its predicted speed.

    A row's band in ``tokensim validate`` is that of the speed its source measured: the outcome. A deployment the model
    over-predicts (a slow early build, say) measures slow, so it lands in a slow band however fast the model says it
    is, and the slow band collects the over-predictions. A user reading a prediction knows only the predicted speed.
    On the rows where the two can be compared without rerunning the model (a stated per-user speed and client
    concurrency, no SLO, a throughput metric), the predicted speed is the measured one times predicted/measured:
    at a fixed concurrency per-user speed is throughput per GPU times GPUs over concurrency, so the ratio carries over.
    (Rows whose clients the model queues beyond its memory limit break that proportion; the validate JSON does not
    say which they are.) Since round 18 validate's JSON carries ``predicted_band``, from the model's own speed at the
    row's operating point, over every row that states a speed; this ratio reading also works on older JSON files.

    Returns
    -------
    dict
        ``{"measured": {band: (rows, median |error|, median signed error)}, "predicted": {...}}`` over the same rows;
        bands :data:`tokensim.perf.envelope.BANDS` less ``none``, in order.
    """
    from tokensim.perf.envelope import BANDS, speed_band

    usable = [r for r in rows if r.get("tokens_per_s_per_user") and r.get("concurrency") and not r.get("slo")
              and r.get("metric") != "ttft_s" and r["predicted"] > 0 and r["measured"] > 0]
    by = {"measured": lambda r: speed_band(r["tokens_per_s_per_user"]),
          "predicted": lambda r: speed_band(r["tokens_per_s_per_user"] * r["predicted"] / r["measured"])}
    out: dict[str, dict[str, tuple[int, float, float]]] = {}
    for name, band_of in by.items():
        out[name] = {}
        for band in (b for b in BANDS if b != "none"):
            errors = [r["predicted"] / r["measured"] - 1.0 for r in usable if band_of(r) == band]
            out[name][band] = ((len(errors), statistics.median(abs(e) for e in errors), statistics.median(errors))
                               if errors else (0, math.nan, math.nan))
    return out


def organisation(source_group: str) -> str:
    """The organisation behind a source group: NVIDIA's TensorRT-LLM performance tables of every version are one
    (``trtllm-v*``), and so are MLCommons' MLPerf rounds (``mlperf-v*``); every other group is its own (NVIDIA's
    TensorRT-LLM tech blog and NIM benchmarks too: other harnesses and deployments than the performance tables)."""
    for prefix, name in (("trtllm-v", "trtllm"), ("mlperf-v", "mlperf")):
        if source_group.startswith(prefix):
            return name
    return source_group


# hierarchies tried for the transfer section: most specific cell first
TRANSFERS: dict[str, tuple[tuple[str, ...], ...]] = {
    "hardware x model x precision x engine": (("hardware", "model", "precision", "engine"),),
    "hardware x model": (("hardware", "model"),),
    "hardware family x model family x engine": (("hardware_family", "model_family", "engine"),),
    "hardware family x model family": (("hardware_family", "model_family"),),
    "engine": (("engine",),),
    "hardware x model, then the families": (("hardware", "model"), ("hardware_family", "model_family")),
}
FLOOR_CELLS: dict[str, tuple[str, ...]] = {
    "hardware x model": ("hardware", "model"),
    "hardware x model x precision x engine": ("hardware", "model", "precision", "engine"),
}


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
    by_id = {m.id: {**dataclasses.asdict(m), "source_group": m.source_group,
                    "organisation": organisation(m.source_group)} for m in load_measurements(measurements)}
    return [{**by_id[r["id"]], **r} for r in validated if r["id"] in by_id]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("validated", help="JSON from `tokensim validate --format json` ('-': stdin)")
    parser.add_argument("--measurements", type=Path, default=None,
                        help="measurement CSV (default: the bundled tokensim/data/measurements.csv)")
    parser.add_argument("--min-rows", type=int, default=3,
                        help="rows a cell needs from the other sources (transfer) or from each source (floor)")
    args = parser.parse_args(argv)
    if args.min_rows < 1:
        parser.error(f"--min-rows: {args.min_rows} is not allowed; give 1 or more")
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
    lines.append(f"transfer: each source group's rows corrected by the other groups' median log-offset in its cell "
                 f"(at least {args.min_rows} rows), median |error|")
    lines += [f"  {name:45s} {100 * transfer_median_abs_error(rows, 'source_group', hierarchy, args.min_rows):5.1f}%"
              for name, hierarchy in TRANSFERS.items()]
    for source in ("source_group", "organisation"):
        for name, cell in FLOOR_CELLS.items():
            floor = source_blind_floor(rows, cell, source, args.min_rows)
            lines.append(f"floor: {name} cells measured by two or more {source.replace('_', ' ')}s "
                         f"({floor['as validated'][0]} rows): median |error|, rows within 12%")
            lines += [f"  {level:45s} {100 * med:5.1f}%  {within:5d} ({100 * within / max(n, 1):3.0f}%)"
                      for level, (n, med, within) in floor.items()]
    split = speed_band_split(rows)
    lines.append(f"per-user speed band by the measured speed (as validate) and by the predicted speed, on the "
                 f"{sum(n for n, _, _ in split['measured'].values())} rows at a stated speed and concurrency without "
                 f"an SLO: rows, median |error|, median signed error")
    lines += [f"  {band:7s} measured {m[0]:5d} {100 * m[1]:5.1f}% {100 * m[2]:+6.1f}%   "
              f"predicted {p[0]:5d} {100 * p[1]:5.1f}% {100 * p[2]:+6.1f}%"
              for band, m, p in zip(split["measured"], split["measured"].values(), split["predicted"].values(),
                                    strict=True)]
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
