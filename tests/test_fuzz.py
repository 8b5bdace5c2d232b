"""Fuzz suite (issue 12): generated command lines, scenario mutations and raw scenario bytes, run in-process.

Every case runs through click's CliRunner on ``tokensim.cli.cli`` under a wall-clock limit and must end in one of two
ways:

- exit 0, with valid JSON on stdout (strict: no NaN or Infinity) where the command was asked for ``--format json``;
- exit 2, with every stderr line of the form ``tokensim: error: ...`` (one line; several only for a scenario file
  with several errors), no Python repr (``SLO(...)``), no path of a bundled file the user did not name (fx.yaml)
  and no traceback.

Anything else (an exception escaping the command, another exit status, a case over its time limit) is a failure.
The default suite runs a fixed-seed slice (``derandomize``: the same cases on every run and machine) of a few
hundred cases, cheap commands weighted up; ``-m slow`` runs thousands over every command and reports its counts
(cases, exits, tracebacks, hangs) on stdout.

Strategies:
- :func:`command_lines`: arguments of every subcommand, each option valid or hostile (negative, zero, 1e300,
  1e-320, NaN and inf text, empty strings, wrong types, unknown names, paths below an existing file);
- :func:`scenario_mutations`: a bundled scenario with numbers, keys, types and structure changed, written to a
  temporary file and run through a scenario command;
- :func:`scenario_bytes`: raw bytes (random, or the bundled file with bytes flipped, cut or spliced) as a scenario.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import re
import shutil
import signal
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tokensim._paths import config_dir
from tokensim.cli import cli

ROOT = Path(__file__).resolve().parent.parent
SCENARIO_DIR = ROOT / "configs" / "scenarios"
SCENARIO_NAMES = sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))
# Bundled files the user did not name (fx.yaml, the catalogues) must not appear in a message; scenario files may.
BUNDLED_DIR = config_dir()
ERROR_PREFIX = "tokensim: error: "
REPR = re.compile(r"\b[A-Z][A-Za-z]+\([a-z_]+=")  # a dataclass repr such as SLO(min_tokens_per_s_per_user=50.0, ...)

# --------------------------------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------------------------------
HOSTILE_NUMBERS = ["-1", "0", "-0", "1e300", "-1e300", "1e308", "1e-320", "5e-324", "nan", "NaN", "inf", "-inf",
                   "Infinity", "", " ", "abc", "1,5", "0x10", "1e", "17", "1e20", "99999999999999999999999",
                   "-99999999999999999999999", "1.5", "2**10", "true"]
HOSTILE_NAMES = ["", " ", "nosuch", "B300 ", "b300", "../../etc/passwd", "Ä", "x" * 300, "-", "none", "null",
                 "1", "fp8,fp8", "deepseek-v3,", "\t"]


def _path_values(base: Path) -> list[str]:
    """Output or input paths that must be refused or accepted cleanly: empty, below a file, a folder, /proc, ...

    Every path that can be written lies in ``base``: the suite runs as any user, root included, so a path such as
    ``/`` or `` `` (a name in the current folder) would write there."""
    return ["", str(base / " "), str(base / "a-file"), str(base / "a-file" / "below"), str(base / "a-dir"),
            "/proc/nope/x", "/proc/x.csv", "/proc", str(base / "new-dir" / "x"), str(base),
            str(base / "a-file" / "x.parquet")]


def numbers(valid: list[str]) -> st.SearchStrategy[str]:
    """A number option's text: a valid value (mostly) or a hostile one, or any float as text."""
    return st.one_of(st.sampled_from(valid), st.sampled_from(valid), st.sampled_from(HOSTILE_NUMBERS),
                     st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                               st.integers(-10**6, 10**6).map(str)))


def integers(valid: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(valid), st.sampled_from(valid), st.sampled_from(HOSTILE_NUMBERS),
                     st.integers(-10**20, 10**20).map(str))


def names(valid: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(valid), st.sampled_from(valid), st.sampled_from(HOSTILE_NAMES),
                     st.text(max_size=12))


# --------------------------------------------------------------------------------------------------------------------
# Cases and how one is judged
# --------------------------------------------------------------------------------------------------------------------
@dataclass
class Case:
    """One command line; ``files`` maps a placeholder in ``argv`` (``@SCENARIO``) to the bytes to write there first."""

    argv: list[str]
    files: dict[str, bytes] = field(default_factory=dict)
    several_lines: bool = False  # a scenario file: one error line per error


class Hang(BaseException):
    """A case ran past its time limit (a BaseException, so no ``except Exception`` in the code under test eats it)."""


@contextlib.contextmanager
def time_limit(seconds: float):
    def expire(signum, frame):
        raise Hang()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _strict_json(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} in JSON output")

    return json.loads(text, parse_constant=refuse)


_counter = itertools.count()


def _kept(case: Case, argv: list[str]) -> str:
    """A failing case's scenario files, copied where pytest's rotation of its temporary folders does not reach (a
    slow-run failure seen once could not be reproduced because its file was gone), named in the failure detail."""
    if not case.files:
        return ""
    keep = Path(tempfile.gettempdir()) / "tokensim-fuzz-failures"
    keep.mkdir(exist_ok=True)
    kept = []
    for arg in argv:
        if arg.endswith(".yaml") and Path(arg).name.startswith("case-") and Path(arg).is_file():
            target = keep / f"{os.getpid()}-{Path(arg).name}"
            shutil.copy(arg, target)
            kept.append(str(target))
    return f" (scenario kept: {', '.join(kept)})" if kept else ""


def run_case(case: Case, workdir: Path, limit_s: float, results: list | None = None) -> tuple[str, str]:
    """Run one case; return (outcome, detail). Outcome: ok, rejected, traceback, hang or broken (a promise broken).

    ``case.argv`` gets the paths of the files written (a failing case's file stays in ``workdir``); ``results``, when
    given, gets click's result."""
    argv = case.argv
    for placeholder, data in case.files.items():
        path = workdir / f"case-{next(_counter)}.yaml"
        path.write_bytes(data)
        argv[:] = [str(path) if a == placeholder else a for a in argv]
    runner = CliRunner()
    try:
        with time_limit(limit_s):
            res = runner.invoke(cli, argv, catch_exceptions=True)
    except Hang:
        return "hang", f"over {limit_s} s"
    if results is not None:
        results.append(res)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        return "traceback", f"{type(res.exception).__name__}: {res.exception}{_kept(case, argv)}"
    stderr = res.stderr
    if "Traceback" in stderr or "Traceback" in res.stdout:
        return "traceback", stderr[-400:]
    if res.exit_code == 0:
        if "--format" in argv and argv[argv.index("--format") + 1 :][:1] == ["json"]:
            try:
                _strict_json(res.stdout)
            except ValueError as exc:
                return "broken", f"exit 0 without valid JSON: {exc}: {res.stdout[:200]!r}"
        return "ok", ""
    if res.exit_code != 2:
        return "broken", f"exit {res.exit_code}: {stderr[-300:]!r}"
    lines = stderr.splitlines()
    if not lines:
        return "broken", "exit 2 with nothing on stderr"
    # /proc/self/status is a YAML mapping of some 60 keys ("Name:<tab>python"), none a scenario's: each is an error,
    # and a file's errors are reported at once.
    if len(lines) > 1 and not (case.several_lines or "/proc/self/status" in argv):
        return "broken", f"{len(lines)} stderr lines: {stderr[:400]!r}"
    for line in lines:
        if not line.startswith(ERROR_PREFIX):
            return "broken", f"not the house form: {line[:300]!r}"
        if REPR.search(line):
            return "broken", f"a Python repr in the message: {line[:300]!r}"
        if str(BUNDLED_DIR) in line.replace(str(BUNDLED_DIR / "scenarios"), ""):
            return "broken", f"a bundled file's path in the message: {line[:300]!r}"
    return "rejected", ""


# --------------------------------------------------------------------------------------------------------------------
# Command lines
# --------------------------------------------------------------------------------------------------------------------
HARDWARE = ["B300", "B200", "H100", "H200", "GB300", "H20"]
MODELS = ["deepseek-v3", "llama-3.1-8b", "gpt-oss-120b", "llama-3.3-70b", "mixtral-8x7b"]
PRECISIONS = ["fp8", "nvfp4", "bf16", "mxfp4-moe", "int4-weight-only"]
CURRENCIES = ["USD", "CNY", "EUR", "usd", "XXX", "", "RMB"]


def _options(draw, spec: dict[str, st.SearchStrategy[str]], *, max_options: int = 4) -> list[str]:
    chosen = draw(st.lists(st.sampled_from(sorted(spec)), unique=True, max_size=min(max_options, len(spec))))
    argv: list[str] = []
    for option in chosen:
        value = spec[option]
        if value is None:  # a flag
            argv.append(option)
        else:
            argv += [option, draw(value)]
    return argv


def _extra(draw) -> list[str]:
    """Now and then an unknown option, a stray argument or a doubled option."""
    return draw(st.sampled_from([[]] * 12 + [["--bogus"], ["stray"], ["--format"], ["--", "x"]]))


def _scenario(draw) -> str:
    return draw(st.one_of(st.sampled_from(SCENARIO_NAMES), st.sampled_from(SCENARIO_NAMES),
                          st.sampled_from(["", "nosuch", str(SCENARIO_DIR), "/proc/self/status", "/dev/null",
                                           str(SCENARIO_DIR / "b300-10k-cluster.yaml") + "/x"])))


# --set PATH=VALUE: valid, out of range, unknown, malformed, through a number, non-finite, wrong type.
SETS = st.sampled_from(["financing.debt_share=0.7", "financing.debt_share=2", "x", "=", "=1", "a..b=1",
                        "capex.server_price.x=1", "financing.debt_share=[1", "capex.server_price=1e400",
                        "contract.rent_per_gpu_hour=.nan", "name=[1, 2]", "capex.server_prise=4e6",
                        "residual.percent_of_cost_by_age.3=0.35", "financing=1", "serving.model=nosuch"])


@st.composite
def pnl_lines(draw, base: Path) -> Case:
    spec = {"--gpus": numbers(["8", "1024", "0.5"]), "--hours": numbers(["720", "8760"]),
            "--gpu-hour-cost": numbers(["2", "17.2"]), "--input-tokens": numbers(["1e9", "0"]),
            "--gpu-hour-price": names(["H100:neocloud-on-demand", "B200:owned-tco", "H100", ":", "H100:x"]),
            "--cache-hit-rate": numbers(["0.5", "0", "1"]), "--output-tokens": numbers(["1e9", "5e8"]),
            "--price-input": numbers(["1", "0.27"]), "--price-cached-input": numbers(["0.1", "0.07"]),
            "--price-output": numbers(["3", "1.1"]), "--output-tokens-per-s-per-gpu": numbers(["1500", "30"]),
            "--input-tokens-per-s-per-gpu": numbers(["20000"]), "--currency": names(CURRENCIES)}
    required = {"--gpus": "8", "--hours": "720", "--gpu-hour-cost": "2", "--output-tokens": "1e9",
                "--price-input": "1", "--price-cached-input": "0.1", "--price-output": "3"}
    argv = ["pnl"]
    for option, value in required.items():
        if draw(st.integers(0, 19)):  # now and then a required option is left out
            argv += [option, value]
    return Case(argv + _options(draw, spec) + ["--format", "json"] + _extra(draw))


@st.composite
def perf_lines(draw, base: Path) -> Case:
    spec = {"--hardware": names(HARDWARE), "--model": names(MODELS), "--precision": names(PRECISIONS),
            "--input-tokens": numbers(["1024", "8000", "1"]), "--output-tokens": numbers(["1024", "200", "1"]),
            "--gpus": integers(["8", "1", "16", "100000"]), "--tp": integers(["8", "4", "3"]),
            "--ep": integers(["8", "1"]), "--mode": st.sampled_from(["aggregated", "decode", "prefill", "auto", "x"]),
            "--context-tokens": numbers(["4096"]), "--kv-cache-precision": names(["fp8", "bf16"]),
            "--cache-hit-rate": numbers(["0.5", "1"]), "--min-tokens-per-s-per-user": numbers(["50", "1000"]),
            "--max-ttft-s": numbers(["2", "0.001"]), "--max-tpot-s": numbers(["0.05"]),
            "--concurrency": integers(["64", "1"]), "--speculative-draft-tokens": integers(["1", "3", "16", "17"]),
            "--speculative-acceptance-length": numbers(["1.8", "1"]), "--pareto": None, "--no-search": None,
            "--prefill": names(["1xTEP8", "2xTP8", "DEP32", "0xTP8", "TP0"]),
            "--decode": names(["1xDEP32", "1xTEP8", "xx"]), "--calibration": st.sampled_from(_path_values(base))}
    argv = ["perf"]
    for option, value in (("--hardware", "B300"), ("--model", "deepseek-v3"), ("--precision", "fp8"),
                          ("--input-tokens", "1024"), ("--output-tokens", "1024")):
        if draw(st.integers(0, 19)):
            argv += [option, value]
    return Case(argv + _options(draw, spec) + ["--format", "json"] + _extra(draw))


@st.composite
def catalog_lines(draw, base: Path) -> Case:
    kind = draw(st.sampled_from(["hardware", "models", "precisions", "", "model", "gpus"]))
    fmt = draw(st.sampled_from(["json", "json", "table", "csv", "yaml", ""]))
    return Case(["catalog", kind, "--format", fmt] + _extra(draw))


@st.composite
def cost_lines(draw, base: Path) -> Case:
    spec = {"--utilisation": numbers(["0.7", "1", "0.01"]), "--currency": names(CURRENCIES), "--set": SETS}
    return Case(["cost", _scenario(draw)] + _options(draw, spec) + ["--format", "json"] + _extra(draw))


@st.composite
def bridge_lines(draw, base: Path) -> Case:
    sides = ["H200:fp8", "B300:nvfp4", "H100:bf16:250000", "B300:fp8:0", "B300:fp8:-1", "B300", ":", "B300:fp8:nan",
             "B300:fp8:1e300", "nosuch:fp8", "B300:nosuch", "H200:fp8:1e-320"]
    spec = {"--scenario": st.sampled_from(SCENARIO_NAMES + ["", "nosuch"]), "--from": names(sides),
            "--to": names(sides), "--server-price-change": numbers(["0.5", "0", "-0.5"]),
            "--model": names(MODELS), "--from-model": names(MODELS), "--to-model": names(MODELS),
            "--software-gain": numbers(["1.2", "1"]), "--from-utilisation": numbers(["0.6", "1"]),
            "--to-utilisation": numbers(["0.8", "1"]), "--from-cost-of-capital": numbers(["0.08", "0.2"]),
            "--to-cost-of-capital": numbers(["0.05", "0.12"]),
            "--metric": st.sampled_from(["blended", "output", "input", "x"]),
            "--order": names(["hardware,precision", "model,software,utilisation", "x,y", ",", "hardware,hardware"]),
            "--currency": names(CURRENCIES)}
    return Case(["bridge"] + _options(draw, spec) + ["--format", "json"] + _extra(draw))


@st.composite
def finance_lines(draw, base: Path) -> Case:
    spec = {"--currency": names(CURRENCIES), "--schedule": st.sampled_from(_path_values(base) + [
                str(base / "s.csv"), str(base / "s.parquet"), str(base / "s.txt")]),
            "--target": names(["npv=0", "equity_irr=0.12", "min_dscr=1.2", "payback_equity=3", "npv", "=1",
                               "x=1", "npv=nan", "equity_irr=1e300", "payback_equity=-1", "llcr=abc"]),
            "--solve-for": st.sampled_from(["rent", "x"]), "--frontier": None,
            "--payback-in": numbers(["3", "2", "0.5"]), "--set": SETS}
    return Case(["finance", _scenario(draw)] + _options(draw, spec, max_options=3) + ["--format", "json"]
                + _extra(draw))


@st.composite
def mc_lines(draw, base: Path) -> Case:
    spec = {"--seed": integers(["0", "7"]), "--dtype": st.sampled_from(["float32", "float64", "x"]),
            "--chunk-paths": integers(["16", "1000"]),
            "--keep-paths": st.sampled_from(_path_values(base) + [str(base / "k.parquet")])}
    paths = draw(st.one_of(st.just("50"), st.just("20"), st.sampled_from(
        ["1", "0", "-1", "", "abc", "1e3", "1.5", "99999999999999999999"])))
    return Case(["mc", _scenario(draw), "--paths", paths, "--backend", "numpy"] + _options(draw, spec)
                + ["--format", "json"] + _extra(draw))


SWEEP_AXES = ["utilisation=0.5,0.9", "server_price=1e6:2e6:2", "hardware=B300,H200", "precision=fp8,nvfp4",
              "cost_of_capital=0.05,0.1", "rent_per_gpu_hour=2,3", "concurrency=8,16", "input_tokens=1000,2000",
              "utilisation=0,1", "utilisation=-1,2", "server_price=1e300", "server_price=0:1:0", "x=1", "=",
              "utilisation=", "utilisation=nan", "cache_hit_rate=0:1:3", "hardware=nosuch", "model=deepseek-v3",
              "min_tokens_per_s_per_user=10,1e6", "electricity_price_per_kwh=-1", "concurrency=0.5",
              "output_tokens=1e-320", "utilisation=1:0:2", "server_price=1:2:100000000"]


@st.composite
def sweep_lines(draw, base: Path) -> Case:
    axes = draw(st.lists(st.sampled_from(SWEEP_AXES), min_size=0, max_size=2))
    argv = ["sweep", draw(st.sampled_from(SCENARIO_NAMES + ["nosuch"]))]
    for axis in axes:
        argv += ["--axis", axis]
    spec = {"--metric": names(["npv", "cost_per_gpu_hour", "x", "npv,npv", ""]),
            "--mode": st.sampled_from(["aggregated", "disaggregated", "x"]),
            "--chunk-points": integers(["1", "64"]), "--memory-budget-mb": numbers(["1", "1024", "1e-6"]),
            "--out": st.sampled_from(_path_values(base) + [str(base / "sweep-out")])}
    return Case(argv + ["--backend", "numpy"] + _options(draw, spec, max_options=2) + ["--format", "json"]
                + _extra(draw))


@st.composite
def sensitivity_lines(draw, base: Path) -> Case:
    method = draw(st.sampled_from(["tornado", "tornado", "sobol", "x"]))
    spec = {"--metric": names(["npv", "equity_irr", "min_dscr", "payback_equity", "cost_per_gpu_hour", "x"]),
            "--samples": st.sampled_from(["8", "16", "4", "3", "0", "-1", "1e3", "abc", "", "1"]),
            "--seed": integers(["0", "3"]),
            "--out": st.sampled_from(_path_values(base) + [str(base / "sens-out")])}
    argv = ["sensitivity", _scenario(draw), "--method", method, "--backend", "numpy"]
    options = _options(draw, spec, max_options=3)
    if method == "sobol" and "--samples" not in options:
        argv += ["--samples", "8"]  # the default N=1024 is too slow for a fuzz case
    return Case(argv + options + ["--format", "json"] + _extra(draw))


@st.composite
def run_lines(draw, base: Path) -> Case:
    spec = {"--currency": names(CURRENCIES), "--seed": integers(["0"]),
            "--out": st.sampled_from(_path_values(base) + [str(base / "run-out")])}
    paths = draw(st.sampled_from(["0", "0", "50", "-1", "", "abc"]))
    return Case(["run", _scenario(draw), "--paths", paths, "--backend", "numpy"] + _options(draw, spec, max_options=2)
                + ["--format", "json"] + _extra(draw))


@st.composite
def plot_lines(draw, base: Path) -> Case:
    kind = draw(st.sampled_from(["bridge", "cashflow", "tornado", "pareto", "sobol", "x", ""]))
    out = draw(st.one_of(st.sampled_from([str(base / "chart.png"), str(base / "c" / "chart.png")]),
                         st.sampled_from(_path_values(base) + [str(base / "chart.txt")])))
    spec = {"--hardware": names(["B300,H200", "B300"]), "--precision": names(["fp8", "nvfp4"]),
            "--model": names(MODELS), "--mode": st.sampled_from(["aggregated", "decode", "x"]),
            "--currency": names(CURRENCIES), "--metric": names(["npv", "equity_irr", "x"])}
    argv = ["plot", kind]
    if draw(st.booleans()):
        argv.append(_scenario(draw))
    return Case(argv + ["--out", out] + _options(draw, spec, max_options=2) + _extra(draw))


@st.composite
def validate_lines(draw, base: Path) -> Case:
    spec = {"--measurements": st.sampled_from(_path_values(base)), "--calibration": st.sampled_from(_path_values(base)),
            "--subset": st.sampled_from(["all", "fitted", "unfitted", "x"]), "--no-rows": None}
    return Case(["validate"] + _options(draw, spec, max_options=2) + ["--format", "json"] + _extra(draw))


@st.composite
def calibrate_lines(draw, base: Path) -> Case:
    """calibrate fits for tens of seconds: only cases that should be refused before the fit (a bad path) are
    generated. Every line names a copy of the calibration to read and a file to write in ``base`` before the bad
    option (click keeps the last), so no case can write the bundled configs/calibration.yaml."""
    bad = st.sampled_from(["", str(base / "a-file" / "below"), "/proc/nope/x", str(base / "a-dir")])
    option = draw(st.sampled_from(["--out", "--measurements", "--calibration"]))
    safe = ["--calibration", str(base / "calibration.yaml"), "--out", str(base / "calibration-out.yaml")]
    return Case(["calibrate", *safe, option, draw(bad), "--format", "json"])


# --------------------------------------------------------------------------------------------------------------------
# Scenario mutations and bytes
# --------------------------------------------------------------------------------------------------------------------
def _bundled(name: str) -> Any:
    return yaml.safe_load((SCENARIO_DIR / f"{name}.yaml").read_text(encoding="utf-8"))


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, prefix + (i,))
    return out


MUTANT_VALUES = [0, -1, -0.98, 1e300, -1e300, 1e-320, 10**400, -(10**400), float("nan"), float("inf"), "", "abc",
                 "1e9", None, True, [], {}, [1, 2], {"a": 1}, 17, 1e9, 0.5, 2, 100000, "B300", "2026-01-01"]


@st.composite
def mutated_scenarios(draw) -> bytes:
    import copy

    doc = copy.deepcopy(_bundled(draw(st.sampled_from(SCENARIO_NAMES))))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        last = path[-1]
        old = parent[last]
        action = draw(st.sampled_from(["value", "value", "value", "scale", "scale", "delete", "unknown", "wrap"]))
        if action == "value":
            parent[last] = draw(st.sampled_from(MUTANT_VALUES))
        elif action == "scale" and isinstance(old, (int, float)) and not isinstance(old, bool):
            factor = draw(st.sampled_from([-1, 0, 2, 10, 100, 1e6, 1e-6, 0.5]))
            try:
                parent[last] = old * factor if isinstance(factor, int) else float(old) * factor
            except OverflowError:  # an earlier mutation made it 10**400
                parent[last] = -old
        elif action == "delete":
            del parent[last]
        elif action == "unknown" and isinstance(parent, dict):
            parent[f"{last}_x"] = old
        elif action == "wrap":
            parent[last] = [old]
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    return text.encode("utf-8")


@st.composite
def scenario_mutations(draw, base: Path) -> Case:
    data = draw(mutated_scenarios())
    command = draw(st.sampled_from([["cost"], ["cost"], ["finance"], ["finance"], ["bridge", "--scenario"],
                                    ["mc", "--paths", "20", "--backend", "numpy", "--seed", "1"],
                                    ["sensitivity", "--method", "tornado"]]))
    argv = [*command, "@SCENARIO", "--format", "json"]
    return Case(argv, {"@SCENARIO": data}, several_lines=True)


SPLICES = [b"\x00", b"\xff\xfe", b"&a [1]", b"*a", b": :", b"\t", b"!!python/object:os.system ''", b"{", b"- ",
           b"\n  x: 1\n", b"---\n", b"\xe2\x80", b"\nname: x\n"]


@st.composite
def scenario_bytes(draw, base: Path) -> Case:
    original = (SCENARIO_DIR / f"{draw(st.sampled_from(SCENARIO_NAMES))}.yaml").read_bytes()
    kind = draw(st.sampled_from(["random", "flip", "cut", "splice", "bomb", "deep"]))
    if kind == "random":
        data = draw(st.binary(max_size=400))
    elif kind == "flip":
        data = bytearray(original)
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        data = bytes(data)
    elif kind == "cut":
        data = original[: draw(st.integers(0, len(original)))]
    elif kind == "splice":
        i = draw(st.integers(0, len(original)))
        data = original[:i] + draw(st.sampled_from(SPLICES)) + original[i:]
    elif kind == "bomb":
        data = b'a: &a ["x","x"]\nb: &b [*a,*a]\nc: &c [*b,*b]\ndescription: [*c,*c]\n' + original
    else:
        depth = draw(st.sampled_from([40, 500, 5000]))
        data = b"name: " + b"[" * depth + b"]" * depth + b"\n"
    return Case(["cost", "@SCENARIO", "--format", "json"], {"@SCENARIO": data}, several_lines=True)


# --------------------------------------------------------------------------------------------------------------------
# The runs
# --------------------------------------------------------------------------------------------------------------------
# (strategy, default-slice examples). A strategy with 0 runs in the slow test only: perf, validate and calibrate
# belong to work in progress elsewhere (perf still fails on some inputs), and plot draws a PNG per case.
@st.composite
def compare_lines(draw, base: Path) -> Case:
    spec = {"--with": st.sampled_from(["2:financing.debt_share=0.7", "3:x=1", "0:a=1", "2:", "x",
                                       "2:capex.server_price=-1"]),
            "--variant": st.sampled_from(["2:before-price-rise", "2:lessee-pays-power", "2:nosuch", "9:debt-tenor-8y",
                                          ":"]),
            "--currency": names(CURRENCIES), "--set": SETS,
            "--out": st.sampled_from(_path_values(base) + [str(base / "c.png"), str(base / "c.svg")])}
    count = draw(st.integers(0, 3))
    return Case(["compare"] + [_scenario(draw) for _ in range(count)] + _options(draw, spec, max_options=3)
                + ["--format", "json"] + _extra(draw))


@st.composite
def cost_per_token_lines(draw, base: Path) -> Case:
    spec = {"--model": names(MODELS), "--hardware": names(["H100,B200", "H100", "B300,nosuch", ","]),
            "--precision": names(["fp8", "nvfp4,mxfp4", "x"]),
            "--tier": names(["neocloud-on-demand", "owned-tco,reserved-3y", "neocloud"]),
            "--min-tokens-per-s-per-user": numbers(["100", "50"]), "--busy-share": numbers(["0.5", "1"]),
            "--input-tokens": numbers(["1000"]), "--currency": names(CURRENCIES), "--region": names(["us", "x"]),
            "--out": st.sampled_from(_path_values(base) + [str(base / "r.png")])}
    return Case(["cost-per-token"] + _options(draw, spec, max_options=3) + ["--format", "json"] + _extra(draw))


@st.composite
def value_lines(draw, base: Path) -> Case:
    spec = {"--hardware": names(["H100", "H200", "B300"]), "--gpus": numbers(["5000", "8"]),
            "--in-service": st.sampled_from(["2023-06", "2026-12", "2030-01", "2023-13", "x", ""]),
            "--as-of": st.sampled_from(["2026-12", "2020-01", "x"]), "--rent-change": numbers(["-0.4", "0"]),
            "--token-price-change": numbers(["-0.5"]), "--paths": integers(["0", "50"]),
            "--fleet": st.sampled_from(["owned-plus-leased-in", "nosuch", str(base / "a-file")]),
            "--enterprise-value": numbers(["1e9"]), "--basis": st.sampled_from(["better", "rent", "tokens", "x"])}
    return Case(["value"] + _options(draw, spec, max_options=5) + ["--format", "json"] + _extra(draw))


@st.composite
def fleet_lines(draw, base: Path) -> Case:
    fleet = draw(st.sampled_from(["neocloud-42k-vintages", "owned-plus-leased-in", "nosuch", "", str(base / "a-file"),
                                  "b300-10k-cluster"]))
    spec = {"--paths": integers(["0", "30"]), "--seed": integers(["0"]),
            "--out": st.sampled_from(_path_values(base) + [str(base / "fleet-out")])}
    return Case(["fleet", fleet] + _options(draw, spec, max_options=2) + ["--format", "json"] + _extra(draw))


@st.composite
def init_lines(draw, base: Path) -> Case:
    target = draw(st.sampled_from(_path_values(base) + [str(base / "new.yaml")]))
    spec = {"--from": st.sampled_from(SCENARIO_NAMES + ["nosuch", "", str(base / "a-file")]), "--force": None}
    return Case(["init", target] + _options(draw, spec, max_options=2) + _extra(draw))


GROUPS: dict[str, tuple[Any, int]] = {
    "pnl": (pnl_lines, 80),
    "catalog": (catalog_lines, 10),
    "cost": (cost_lines, 30),
    "bridge": (bridge_lines, 25),
    "finance": (finance_lines, 15),
    "mc": (mc_lines, 15),
    "sensitivity": (sensitivity_lines, 8),
    "sweep": (sweep_lines, 10),
    "run": (run_lines, 3),
    "scenario_mutations": (scenario_mutations, 30),
    "scenario_bytes": (scenario_bytes, 40),
    "perf": (perf_lines, 0),
    "plot": (plot_lines, 0),
    "validate": (validate_lines, 0),
    "calibrate": (calibrate_lines, 0),
    "compare": (compare_lines, 6),
    "cost_per_token": (cost_per_token_lines, 6),
    "value": (value_lines, 8),
    "fleet": (fleet_lines, 4),
    "init": (init_lines, 6),
}


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("fuzz")
    (base / "a-file").write_text("not a folder\n")
    (base / "a-dir").mkdir()
    shutil.copy(BUNDLED_DIR / "calibration.yaml", base / "calibration.yaml")
    return base


def campaign(strategy: Any, base: Path, examples: int, *, limit_s: float, derandomize: bool) -> tuple[Counter, list]:
    """Run ``examples`` generated cases; return the outcome counts and the failures (outcome, argv, detail)."""
    counts: Counter = Counter()
    failures: list = []
    workdir = Path(tempfile.mkdtemp(dir=base))

    @settings(max_examples=examples, derandomize=derandomize, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=strategy(base))
    def one(case: Case) -> None:
        outcome, detail = run_case(case, workdir, limit_s)
        counts[outcome] += 1
        if outcome not in ("ok", "rejected"):
            shown = [a if len(a) < 80 else a[:77] + "..." for a in case.argv]
            failures.append((outcome, shown, detail))

    # The cases run in an empty current folder of their own: every path a case names lies in base, so anything
    # that appears here was written where the user did not ask (an empty path taken as "here").
    here = Path(tempfile.mkdtemp(dir=base))
    previous = os.getcwd()
    os.chdir(here)
    try:
        one()
    finally:
        os.chdir(previous)
    if stray := sorted(os.listdir(here)):
        failures.append(("broken", ["(the current folder)"], f"files written into the current folder: {stray}"))
    return counts, failures


def _report(counts: Counter, failures: list) -> str:
    lines = [f"{sum(counts.values())} cases: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))]
    lines += [f"{o}: {' '.join(a)}\n    {d}" for o, a, d in failures[:40]]
    return "\n".join(lines)


@pytest.mark.parametrize("group", [g for g, (_, n) in GROUPS.items() if n])
def test_fuzz_slice(group, fuzz_dir):
    """A fixed slice of generated cases per command: every one exits 0 with JSON or 2 with the house line(s)."""
    strategy, examples = GROUPS[group]
    counts, failures = campaign(strategy, fuzz_dir, examples, limit_s=30.0, derandomize=True)
    assert not failures, _report(counts, failures)


@pytest.mark.slow
def test_fuzz_thousands(fuzz_dir):
    """Thousands of cases over every command (a fresh random draw each run); prints the counts per group."""
    total: Counter = Counter()
    failures: list = []
    for group, (strategy, examples) in GROUPS.items():
        n = {"calibrate": 20, "validate": 30, "plot": 60, "run": 60}.get(group, max(200, 4 * examples))
        counts, found = campaign(strategy, fuzz_dir, n, limit_s=60.0, derandomize=False)
        print(f"{group}: {_report(counts, found)}")
        total += counts
        failures += found
    print(f"all: {sum(total.values())} cases, {total['traceback']} tracebacks, {total['hang']} hangs, "
          f"{total['broken']} broken promises")
    assert not failures, _report(total, failures)


def _founding_with(**changes: Any) -> bytes:
    """The founding scenario's YAML with dotted fields replaced (``financing__discount_rate=10``)."""
    doc = _bundled("b300-10k-cluster")
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = doc
        for key in parents:
            node = node[key]
        node[last] = value
    return yaml.safe_dump(doc, sort_keys=False).encode()


PNL = ["pnl", "--gpus", "8", "--hours", "720", "--gpu-hour-cost", "2", "--input-tokens", "1e9", "--cache-hit-rate",
       "0.5", "--output-tokens", "1e9", "--price-input", "1", "--price-output", "3", "--format", "json"]

# Inputs named in issue 12 (and found by this suite): (argv, scenario bytes or None, exit status, text the one stderr
# line must hold). "@SCENARIO" in argv is the scenario written from the bytes.
NAMED = [
    # Overflow to null without a reason: now a bound with its reason, or the input named.
    (["bridge", "--to-utilisation", "1e-320", "--format", "json"], None, 2,
     "--to-utilisation 1e-320: allowed: a number in [0.01, 1] (below 1% of hours sold"),
    (["cost", "b300-10k-cluster", "--utilisation", "1e-320"], None, 2, "'--utilisation' got 1e-320"),
    ([*PNL, "--price-cached-input", "1e308"], None, 2,
     "--price-cached-input 1e+308: the cached-input revenue overflows a float"),
    ([*PNL, "--price-cached-input", "0.1", "--gpu-hour-cost", "1e-320"], None, 2, "--gpu-hour-cost 9.99989e-321"),
    # Empty strings are values, not "not given".
    (["cost", "b300-10k-cluster", "--currency", "", "--format", "json"], None, 2, "'--currency' got ''"),
    (["bridge", "--currency", "", "--format", "json"], None, 2, "'--currency' got ''"),
    (["bridge", "--from-model", "", "--format", "json"], None, 2, "field '--from-model' got ''"),
    (["bridge", "--model", "", "--format", "json"], None, 2, "field '--model' got ''"),
    (["run", "b300-10k-cluster", "--currency", "", "--paths", "0", "--format", "json"], None, 2, "'--currency' got ''"),
    (["sweep", "--out", "", "--axis", "utilisation=0.5,0.9"], None, 2, "--out '': an empty path"),
    (["sensitivity", "b300-10k-cluster", "--out", ""], None, 2, "--out '': an empty path"),
    (["sweep", "--metric", "\t", "--format", "json"], None, 2, "--metric '\\t': an empty metric name"),
    (["sweep", "--metric", "npv,", "--format", "json"], None, 2, "--metric 'npv,': an empty metric name"),
    # A value the chosen method ignores must still be valid.
    (["sensitivity", "b300-10k-cluster", "--samples", "-1", "--format", "json"], None, 2,
     "--samples: got -1; allowed: a power of 2"),
    # The bridge: the scenario's own range, so a scenario value is never blamed on an option; no math domain error.
    (["bridge", "--scenario", "@SCENARIO", "--format", "json"], _founding_with(financing__discount_rate=10), 0, ""),
    (["bridge", "--to-cost-of-capital", "-0.99999", "--format", "json"], None, 2,
     "--to-cost-of-capital -0.99999: allowed: a number in [-0.05, 10]"),
    (["bridge", "--scenario", "@SCENARIO", "--format", "json"],
     _founding_with(serving__min_tokens_per_s_per_user=100000), 2,
     "cannot meet the SLO (min_tokens_per_s_per_user 100000)"),
    # Messages: no installed path, one line whatever the value holds.
    (["cost", "b300-10k-cluster", "--currency", "RMB"], None, 2, "a currency in configs/fx.yaml: CNY, EUR, USD"),
    (["bridge", "--from", "a\nb"], None, 2, "--from 'a\\nb': allowed: HARDWARE:PRECISION"),
    # A field the chosen residual method ignores must still parse (it was silently accepted).
    (["cost", "@SCENARIO"], _founding_with(residual__tokens_per_s_per_gpu="abc"), 2,
     "field 'residual.tokens_per_s_per_gpu' got 'abc'; allowed: a number"),
    # Scenario fields: a name is a string; a whole number beyond a float is refused where it is written.
    (["cost", "@SCENARIO"], _founding_with(name=[1, 2]), 2, "field 'name' got [1, 2]; allowed: a string"),
    (["cost", "@SCENARIO"], _founding_with(capex__server_price=10**400), 2,
     "refused: the number 10000000000000000000... (401 digits) is too large"),
    (["cost", "@SCENARIO"], _founding_with().replace(b"server_price: 5000000", b"server_price: " + b"9" * 5000), 2,
     "(5000 digits) is too large"),
]


@pytest.mark.parametrize(("argv", "scenario", "status", "text"), NAMED)
def test_named_inputs(argv, scenario, status, text, fuzz_dir):
    """Each input named in issue 12 ends as the suite demands, with the message it names."""
    case = Case(list(argv), {"@SCENARIO": scenario} if scenario is not None else {}, several_lines=True)
    results: list = []
    outcome, detail = run_case(case, fuzz_dir, 60, results)
    res = results[0]
    assert outcome == ("ok" if status == 0 else "rejected"), detail
    assert res.exit_code == status
    if status:
        assert len(res.stderr.splitlines()) == 1 and text in res.stderr, res.stderr


def test_the_judge_catches_what_it_must(fuzz_dir):
    """The judge itself: a clean rejection passes; two lines, a repr or a non-JSON success do not."""
    assert run_case(Case(["pnl", "--hours", "x"]), fuzz_dir, 10)[0] == "rejected"
    assert run_case(Case(["catalog", "models", "--format", "json"]), fuzz_dir, 10)[0] == "ok"
    assert REPR.search("tokensim: error: SLO(min_tokens_per_s_per_user=50.0, max_ttft_s=None)")
    assert not math.isnan(_strict_json("1.5"))
    with pytest.raises(ValueError):
        _strict_json("NaN")
