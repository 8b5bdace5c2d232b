"""docs/outputs.md against the commands: every JSON field and file column emitted is documented, and every documented
field not marked optional is emitted (notation: the "How to read the tables" section of the page)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from tokensim._output import SCHEMA_VERSION
from tokensim.cli import cli
from tokensim.perf.validate import MEASUREMENTS_PATH

DOC = Path(__file__).resolve().parent.parent / "docs" / "outputs.md"
# Commands whose JSON is not documented yet (their engines were landing when the page was written). Remove a name
# when its section is added to docs/outputs.md and its invocation to RUNS; a new command fails until one or the other.
NOT_YET_DOCUMENTED = {"tokensim mc"}
FILES_HEADING = "Files written by tokensim run --out DIR"
_SEE = re.compile(r"^see (tokensim [\w -]+?)(?:, without (.+))?$")

# The invocations behind each documented command heading: small inputs, together a few seconds. Where a command has
# optional sections, a second invocation makes them appear (finance's --frontier is left out: 4 s for 9 solves of
# the same solution object that --solve-for checks).
PERF = ["perf", "--hardware", "H200", "--model", "llama-3.3-70b", "--precision", "fp8", "--input-tokens", "1024",
        "--output-tokens", "256"]
PNL = ["pnl", "--hours", "720", "--gpu-hour-cost", "2.5", "--input-tokens", "1e9", "--cache-hit-rate", "0.5",
       "--output-tokens", "5e8", "--price-input", "0.5", "--price-cached-input", "0.05", "--price-output", "2"]
RUNS = {
    "tokensim catalog hardware": [["catalog", "hardware"]],
    "tokensim catalog models": [["catalog", "models"]],
    "tokensim catalog precisions": [["catalog", "precisions"]],
    "tokensim catalog prices": [["catalog", "prices"]],
    "tokensim perf": [PERF, [*PERF, "--mode", "disaggregated"]],
    "tokensim perf --pareto": [[*PERF, "--pareto"]],
    "tokensim cost": [["cost", "b300-10k-cluster"], ["cost", "b300-10k-cluster", "--currency", "USD"]],
    "tokensim pnl": [[*PNL, "--gpus", "8"], [*PNL, "--output-tokens-per-s-per-gpu", "1000"]],
    "tokensim bridge": [["bridge"]],
    "tokensim finance": [["finance", "b300-10k-cluster", "--schedule", "{tmp}/schedule.parquet"],
                         ["finance", "b300-10k-cluster", "--solve-for", "rent", "--target", "equity_irr=0.15",
                          "--payback-in", "3"]],
    "tokensim mc": [["mc", "b300-10k-cluster", "--paths", "300", "--backend", "numpy"],
                    ["mc", "us-b300-neocloud-usage", "--paths", "300", "--backend", "numpy", "--keep-paths",
                     "{tmp}/paths.parquet"]],
    "tokensim sensitivity": [["sensitivity", "b300-10k-cluster"],
                             ["sensitivity", "us-b300-neocloud-usage", "--method", "sobol", "--samples", "64"]],
    "tokensim sweep": [["sweep", "--axis", "rent=15,20", "--axis", "input_tokens=500,2000", "--backend", "numpy"],
                       ["sweep", "us-b300-neocloud-usage", "--axis", "hardware=B300", "--axis", "concurrency=8,64",
                        "--metric", "cost_per_million_cached_input_tokens,output_tokens_per_s_per_gpu",
                        "--backend", "numpy"]],
    "tokensim cost-per-token": [["cost-per-token", "--model", "gpt-oss-120b", "--hardware", "H100,B200",
                                 "--min-tokens-per-s-per-user", "100", "--tier", "neocloud-on-demand"]],
    "tokensim compare": [["compare", "b300-10k-cluster", "b300-10k-cluster", "--variant", "2:before-price-rise"]],
    "tokensim fleet side by side": [["fleet", "owned-plus-leased-in", "neocloud-42k-vintages"]],
    "tokensim fleet": [["fleet", "owned-plus-leased-in"], ["fleet", "owned-plus-leased-in", "--paths", "50"]],
    "tokensim value": [["value", "--hardware", "H100", "--gpus", "5000", "--in-service", "2023-06", "--rent-change",
                        "-0.4", "--as-of", "2026-12", "--paths", "200"],
                       ["value", "--hardware", "H100", "--gpus", "8", "--in-service", "2024-01", "--as-of", "2026-12",
                        "--enterprise-value", "1e6", "--basis", "rent", "--paths", "0"],
                       ["value", "--fleet", "owned-plus-leased-in", "--as-of", "2026-12", "--paths", "0"]],
    "tokensim run": [],  # the session's one `tokensim run --out DIR --paths 2000` (founding_run, conftest.py)
    "tokensim validate": [["validate", "--measurements", "{tmp}/measurements.csv"]],
    # at the families' legacy width: one fit per fold instead of the default's two (its continuation), same fields
    "tokensim calibrate": [["calibrate", "--measurements", "{tmp}/measurements.csv", "--out", "{tmp}/calibration.yaml",
                            "--date", "2026-01-01", "--family-sd", "0.3", "--jobs", "1"]],
}


# -- the page, parsed ------------------------------------------------------------------------------------------------
def _sections(text: str) -> dict[str, list[list[str]]]:
    """Heading (## or ###) → the rows of the first table under it, header and separator dropped."""
    out: dict[str, list[list[str]]] = {}
    heading, rows, in_table = None, [], False
    for line in text.splitlines():
        if line.startswith("#"):
            heading, in_table = line.lstrip("#").strip(), False
            continue
        if heading is None or heading in out and not in_table:
            continue
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not in_table:
                in_table, rows = True, []
                out[heading] = rows
            elif not set("".join(cells)) <= set("-: "):
                rows.append(cells)
        elif in_table:
            in_table = False
    return out


def _names(cell: str) -> tuple[list[str], bool]:
    """The backticked names in a field cell, and whether the cell marks them optional."""
    return re.findall(r"`([^`]+)`", cell), "(optional)" in cell


def _segments(path: str) -> list[str]:
    return re.findall(r"\[\]|[^.\[\]]+", path)


def _pattern(segment: str) -> re.Pattern | None:
    """A segment's regex; None for a wildcard ``<name>``."""
    if segment.startswith("<"):
        return None
    return re.compile(re.escape(segment).replace(re.escape("{cur}"), "[a-z]{3}"))


@dataclass
class Node:
    required: bool = False
    children: dict[str, Node] = field(default_factory=dict)

    def add(self, segments: list[str], required: bool) -> Node:
        node = self
        for seg in segments:
            node = node.children.setdefault(seg, Node())
            node.required |= required
        return node


def _build(sections: dict, heading: str, node: Node, prefix: list[str], required: bool = True) -> None:
    for cells in sections[heading]:
        names, optional = _names(cells[0])
        see = _SEE.match(cells[1].replace("`", "").strip())
        for name in names:
            segs = prefix + _segments(name)
            node.add(segs, required and not optional)
            if see:
                without = {w.strip() for w in (see.group(2) or "").split(",") if w.strip()}
                sub = Node()
                _build(sections, see.group(1), sub, [])
                target = node.add(segs, required and not optional)
                for key, child in sub.children.items():
                    if key not in without:
                        target.children[key] = child


def _schema(heading: str) -> Node:
    root = Node(required=True)
    _build(SECTIONS, heading, root, [])
    return root


def _check(value, node: Node, path: str, errors: set[str]) -> None:
    """Undocumented fields and missing required ones under ``node``, as messages in ``errors``."""
    literal = {seg: (_pattern(seg), child) for seg, child in node.children.items() if _pattern(seg) is not None}
    wildcard = next((child for seg, child in node.children.items() if seg.startswith("<")), None)
    if isinstance(value, dict):
        for key, item in value.items():
            child = next((c for _, (p, c) in literal.items() if p.fullmatch(key)), wildcard)
            if child is None:
                errors.add(f"{path}.{key}: emitted but not documented")
            else:
                _check(item, child, f"{path}.{key}", errors)
        for seg, (pattern, child) in literal.items():
            if seg != "[]" and child.required and not any(pattern.fullmatch(k) for k in value):
                errors.add(f"{path}.{seg}: documented but not emitted")
    elif isinstance(value, list):
        child = node.children.get("[]")
        if child is None and value:
            errors.add(f"{path}[]: list items emitted but not documented")
        for item in value if child is not None else ():
            _check(item, child, f"{path}[]", errors)
    elif value is not None and any(c.required for s, c in node.children.items() if s != "[]"):
        errors.add(f"{path}: a {type(value).__name__} where the documentation expects an object")


SECTIONS = _sections(DOC.read_text(encoding="utf-8"))


# -- running the commands --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A folder holding a small measurement file (two rows from each of the three largest sources), so that
    calibrate's fit and its cross-validation by source take about 3 s (three rows each take twice as long)."""
    tmp = tmp_path_factory.mktemp("outputs")
    data = pd.read_csv(MEASUREMENTS_PATH, dtype=str, keep_default_na=False)
    data = data[data["calibrate"] != "no"]  # rows calibrate fits (the others are validated only)
    largest = data["source_id"].value_counts().index[:3]
    small = pd.concat([data[data["source_id"] == source].head(2) for source in largest])
    small.to_csv(tmp / "measurements.csv", index=False)
    return tmp


@pytest.fixture(scope="module")
def outputs(workdir, founding_run) -> dict[str, list[object]]:
    """Heading → the JSON each of its invocations printed."""
    runner = CliRunner()
    out: dict[str, list[object]] = {"tokensim run": [founding_run.json]}
    for heading, invocations in RUNS.items():
        for argv in invocations:
            args = [a.replace("{tmp}", str(workdir)) for a in argv] + ["--format", "json"]
            res = runner.invoke(cli, args)
            assert res.exit_code == 0, f"tokensim {' '.join(args)}: {res.output}"
            out.setdefault(heading, []).append(json.loads(res.stdout))
    return out


@pytest.mark.parametrize("heading", sorted(RUNS))
def test_json_matches_the_documentation(heading, outputs):
    """Each command's JSON has exactly the documented fields: none undocumented, none required missing."""
    schema = _schema(heading)
    errors: set[str] = set()
    for value in outputs[heading]:
        _check(value, schema, heading, errors)
    assert not errors, "\n".join(sorted(errors))


def test_every_json_command_is_documented_and_run():
    """Every command offering --format json has a section, and every section is run here or referenced by one."""
    offered = set()
    for name, command in cli.commands.items():
        for param in command.params:
            if param.name == "fmt" and "json" in getattr(param.type, "choices", ()):
                offered.add(f"tokensim {name}")
    documented = {h for h in SECTIONS if h.startswith("tokensim ")}
    assert offered - NOT_YET_DOCUMENTED <= {" ".join(h.split()[:2]) for h in documented}
    referenced = {m.group(1) for rows in SECTIONS.values() for cells in rows if len(cells) > 1
                  for m in [_SEE.match(cells[1].replace("`", "").strip())] if m}
    assert documented - set(RUNS) <= referenced
    assert set(RUNS) <= documented


def test_schema_version_is_documented_and_emitted(outputs):
    """The page states the current schema version, and the run report carries it."""
    stated = re.search(r"Schema version: `([^`]+)`", DOC.read_text(encoding="utf-8"))
    assert stated and stated.group(1) == SCHEMA_VERSION
    assert outputs["tokensim run"][0]["schema_version"] == SCHEMA_VERSION


def _columns(heading: str) -> list[tuple[re.Pattern, bool]]:
    return [(_pattern(name), not optional) for cells in SECTIONS[heading]
            for names, optional in [_names(cells[0])] for name in names]


def _check_columns(columns: list[str], heading: str) -> list[str]:
    documented = _columns(heading)
    errors = [f"{heading}: column {c} not documented" for c in columns
              if not any(p.fullmatch(c) for p, _ in documented)]
    errors += [f"{heading}: column {p.pattern} documented but not written" for p, required in documented
               if required and not any(p.fullmatch(c) for c in columns)]
    return errors


def test_run_out_files_are_documented(outputs, founding_run):
    """run --out writes the documented files, each CSV with the documented columns and its Parquet twin alike."""
    folder = founding_run.out
    documented, optional = set(), []
    for cells in SECTIONS[FILES_HEADING]:
        names, is_optional = _names(cells[0])
        stem = ""
        for name in names:
            full = stem + name if name.startswith(".") else name
            stem = full.rsplit(".", 1)[0]
            (optional.append(re.compile(re.escape(full).replace("<metric>", ".+"))) if is_optional
             else documented.add(full))
    written = {p.name for p in folder.iterdir() if not p.name.startswith(".")}
    assert documented <= written
    assert not [n for n in written - documented if not any(p.fullmatch(n) for p in optional)]
    errors = []
    for csv in sorted(folder.glob("*.csv")):
        columns = list(pd.read_csv(csv, nrows=0).columns)
        assert columns == list(pd.read_parquet(csv.with_suffix(".parquet")).columns)
        errors += _check_columns(columns, csv.stem)
    assert not errors, "\n".join(errors)
    assert json.loads((folder / "report.json").read_text()) == outputs["tokensim run"][0]


def test_finance_schedule_file_is_documented(outputs, workdir):
    """finance --schedule writes the columns documented for finance_schedule."""
    columns = list(pd.read_parquet(workdir / "schedule.parquet").columns)
    assert not _check_columns(columns, "finance_schedule")


@pytest.mark.parametrize("argv, rows_of", [
    (PERF, None), ([*PNL, "--gpus", "8"], None), (["cost", "b300-10k-cluster"], "breakdown"),
])
def test_csv_columns_are_the_json_fields(argv, rows_of):
    """--format csv prints the documented JSON fields as columns (cost: the breakdown rows)."""
    runner = CliRunner()
    data = json.loads(runner.invoke(cli, [*argv, "--format", "json"]).stdout)
    text = runner.invoke(cli, [*argv, "--format", "csv"]).stdout
    header = text.splitlines()[0].split(",")
    expected = data[rows_of][0] if rows_of else data
    assert header == list(expected)


# Names issue 13 found with two meanings (item 2, 3, 6), each with the phrase its one definition says, and the names
# they replaced, which no table may define again. A row may also refer to the definition ("as in ...", "as `...`").
ONE_MEANING = {
    "npv_zero_rent_per_gpu_hour": "NPV = 0",
    "cost_per_gpu_hour": "sold GPU-hour",
    "utilisation": "sold share of hours",
    "spot_utilisation": "sell at market",
    "gross_margin": "`profit` / `revenue`",
    "markup": "`profit` / `cost`",
    "breakeven_server_price_change_vs_today": "price today",
}
RETIRED_NAMES = ("breakeven_rent_per_gpu_hour", "breakeven_rent", "margin", "breakeven_server_price_change")


def test_each_output_name_has_one_meaning():
    """Every table row of docs/outputs.md that defines one of ONE_MEANING's names (as a field, a column or the last
    segment of a path, `_{cur}` dropped) says its one meaning or refers to it; no row defines a retired name."""
    wrong, retired = [], []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 3:
            continue
        meaning = cells[-1]
        for name in _names(cells[0])[0]:
            leaf = _segments(name)[-1].removesuffix("_{cur}")
            if leaf in RETIRED_NAMES:
                retired.append(line)
            phrase = ONE_MEANING.get(leaf)
            if phrase and phrase not in meaning and not meaning.startswith("as "):
                wrong.append(f"{leaf}: {meaning}")
    assert not wrong and not retired, "\n".join(wrong + retired)
