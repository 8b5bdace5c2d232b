"""The user's measured throughput in place of the model's (issue 16, item 4): --throughput-override CSV and the
scenario field serving.measured_output_tokens_per_s_per_gpu."""

from __future__ import annotations

import dataclasses
import json

import pytest
from click.testing import CliRunner

from tokensim.cli import cli
from tokensim.config.scenario import load_scenario
from tokensim.cost import cost_per_million_tokens
from tokensim.perf import predict, search_layout
from tokensim.perf.measured import ThroughputOverride, apply_measured, find_override, load_throughput_overrides
from tokensim.report import _unit_cost_rows
from tokensim.resolve.perf import slo, workload

SCENARIO = "b300-10k-cluster"  # serves deepseek-v3 on B300 at nvfp4, compares fp8
HEADER = ("hardware,model,precision,input_tokens,output_tokens,output_tokens_per_s_per_gpu,tokens_per_s_per_user,"
          "source\n")
FIELD = "serving.measured_output_tokens_per_s_per_gpu"


def _csv(tmp_path, body: str, name: str = "measured.csv"):
    path = tmp_path / name
    path.write_text(body)
    return path


def test_apply_measured_by_hand():
    # A point at 100 output tokens/s per GPU, 0.01 GPU-s per output token and 0.001 per input token, measured at 50:
    # both GPU times scale by 100/50 = 2 -> 0.02 and 0.002 GPU-s. At 3.6 per GPU-hour (0.001 per GPU-second) a
    # million output tokens cost 0.001 x 0.02 x 1e6 = 20 and a million uncached input tokens 0.001 x 0.002 x 1e6 = 2.
    real = predict("H200", "llama-3.3-70b", "fp8", workload(load_scenario(SCENARIO).serving))
    point = dataclasses.replace(real, output_tokens_per_s_per_gpu=100.0, input_tokens_per_s_per_gpu=1000.0,
                                gpu_s_per_output_token=0.01, gpu_s_per_input_token=0.001)
    got = apply_measured(point, ThroughputOverride(real.hardware, real.model, real.precision, 50.0, "by hand",
                                                   tokens_per_s_per_user=33.0))
    assert got.gpu_s_per_output_token == pytest.approx(0.02, rel=1e-12)
    assert got.gpu_s_per_input_token == pytest.approx(0.002, rel=1e-12)
    assert got.input_tokens_per_s_per_gpu == pytest.approx(500.0, rel=1e-12)
    # the interval collapses to the measurement; the per-user speed is the measured one
    assert got.output_tokens_per_s_per_gpu == got.output_tokens_per_s_per_gpu_low == \
        got.output_tokens_per_s_per_gpu_high == 50.0
    assert got.tokens_per_s_per_user == 33.0
    tokens = cost_per_million_tokens(3.6, got.gpu_s_per_input_token, got.gpu_s_per_output_token, 0.1,
                                     input_tokens=1000, output_tokens=1000, cache_hit_rate=0.0, currency="USD")
    assert tokens.output == pytest.approx(20.0, rel=1e-12)
    assert tokens.input == pytest.approx(2.0, rel=1e-12)


def test_half_the_models_throughput_doubles_every_token_cost_and_other_precisions_stay(tmp_path):
    s = load_scenario(SCENARIO)
    base = {r["precision"]: r for r in _unit_cost_rows(s, 1.0, s.currency)}
    p = base["nvfp4"]["output_tokens_per_s_per_gpu"]
    rows = load_throughput_overrides(_csv(tmp_path, HEADER + f"B300,deepseek-v3,nvfp4,1024,1024,{p / 2!r},,test\n"))
    got = {r["precision"]: r for r in _unit_cost_rows(s, 1.0, s.currency, rows)}
    cur = s.currency.lower()
    # cost per token is proportional to GPU-seconds per token = 1 / throughput: half the throughput, twice the cost
    for key in ("input", "cached_input", "output"):
        name = f"cost_per_million_{key}_tokens_{cur}"
        assert got["nvfp4"][name] == pytest.approx(2 * base["nvfp4"][name], rel=1e-12)
    blended = f"cost_per_million_tokens_blended_{cur}"
    assert got["nvfp4"][blended] == pytest.approx(2 * base["nvfp4"][blended], rel=1e-12)
    assert got["nvfp4"]["throughput_source"] == "measured"
    assert got["nvfp4"]["throughput_reference"].startswith("test")
    assert got["nvfp4"][f"cost_per_million_tokens_blended_low_{cur}"] == got["nvfp4"][blended]
    # the override measures nvfp4 only: the fp8 row is exactly the model's
    assert got["fp8"] == base["fp8"]
    assert base["fp8"]["throughput_source"] == "model" and base["fp8"]["throughput_reference"] is None


def test_the_nearest_workload_wins():
    # asked at 2000 in / 1000 out: row A (1000, 1000) is |ln(2001/1001)| = 0.69 away, row B (8000, 1000)
    # |ln(8001/2001)| = 1.39, row C (2000, 4000) |ln(4)| = 1.39: A is used
    rows = [ThroughputOverride("B300", "deepseek-v3", "nvfp4", 1.0, "A", 1000.0, 1000.0),
            ThroughputOverride("B300", "deepseek-v3", "nvfp4", 2.0, "B", 8000.0, 1000.0),
            ThroughputOverride("B300", "deepseek-v3", "nvfp4", 3.0, "C", 2000.0, 4000.0),
            ThroughputOverride("B300", "deepseek-v3", "fp8", 4.0, "D", 2000.0, 1000.0)]
    assert find_override(rows, "B300", "deepseek-v3", "nvfp4", 2000.0, 1000.0).source == "A"
    assert find_override(rows, "B300", "deepseek-v3", "fp8", 1.0, 1.0).source == "D"
    assert find_override(rows, "H200", "deepseek-v3", "nvfp4", 2000.0, 1000.0) is None


def test_aliases_resolve_to_catalogue_names(tmp_path):
    rows = load_throughput_overrides(_csv(tmp_path, HEADER + "b300,DeepSeek-V3,NVFP4,1024,1024,1000,,run 1\n"))
    assert (rows[0].hardware, rows[0].model, rows[0].precision) == ("B300", "deepseek-v3", "nvfp4")


def test_bad_csv_exits_2_naming_file_row_and_column_all_at_once(tmp_path):
    path = _csv(tmp_path, HEADER + "B300,deepseek-v3,nvfp4,1024,1024,-5,,ok\n"
                                   "Z900,deepseek-v3,nvfp4,1024,abc,1000,,\n")
    res = CliRunner().invoke(cli, ["cost-per-token", "--throughput-override", str(path), "--format", "json"])
    assert res.exit_code == 2
    lines = res.stderr.splitlines()
    assert all(line.startswith(f"tokensim: error: {path}:") for line in lines), lines
    want = ["row 2 column output_tokens_per_s_per_gpu", "row 3 column hardware", "row 3 column output_tokens",
            "row 3 column source"]
    assert len(lines) == len(want)
    for line, where in zip(lines, want, strict=True):
        assert f"field '{where}'" in line
    assert "Traceback" not in res.output


@pytest.mark.parametrize(("body", "where"), [
    ("hardware,model,precision,output_tokens_per_s_per_gpu,source\nB300,deepseek-v3,nvfp4,1000,x\n",
     "row 1 (header)"),
    (HEADER, "row 2"),
])
def test_missing_columns_or_rows(tmp_path, body, where):
    path = _csv(tmp_path, body)
    res = CliRunner().invoke(cli, ["bridge", "--throughput-override", str(path)])
    assert res.exit_code == 2
    assert res.stderr.splitlines()[0].startswith(f"tokensim: error: {path}: field '{where}'")


def test_a_missing_file_is_one_line(tmp_path):
    res = CliRunner().invoke(cli, ["bridge", "--throughput-override", str(tmp_path / "nope.csv")])
    assert res.exit_code == 2
    assert res.stderr.splitlines() == [res.stderr.strip()] and "nope.csv" in res.stderr


def _bridge(*args):
    res = CliRunner().invoke(cli, ["bridge", SCENARIO, "--metric", "output", "--format", "json", *args])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_the_scenario_field_through_set_reaches_the_bridge_and_cost_per_token():
    s = load_scenario(SCENARIO)
    # the model's throughput the scenario prices: the layout search's best aggregated layout within its SLO
    p = search_layout("B300", "deepseek-v3", "nvfp4", workload(s.serving), mode="aggregated",
                      slo=slo(s.serving)).row["output_tokens_per_s_per_gpu"]
    base = _bridge()
    got = _bridge("--set", f"{FIELD}={p / 4!r}")
    # the 'to' side (the scenario's own B300 nvfp4) runs at a quarter of the model's throughput: 4x its output cost;
    # the 'from' side (H200 fp8) is not measured and stays
    assert got["unit_cost_to"] == pytest.approx(4 * base["unit_cost_to"], rel=1e-9)
    assert got["unit_cost_from"] == pytest.approx(base["unit_cost_from"], rel=1e-12)
    assert (got["to"]["throughput_source"], got["from"]["throughput_source"]) == ("measured", "model")

    args = ["cost-per-token", SCENARIO, "--hardware", "B300", "--precision", "nvfp4", "--format", "json"]
    before = json.loads(CliRunner().invoke(cli, args).stdout)
    after = json.loads(CliRunner().invoke(cli, [*args, "--set", f"{FIELD}={p / 4!r}"]).stdout)
    for a, b in zip(before, after, strict=True):
        assert b["throughput_source"] == "measured" and a["throughput_source"] == "model"
        assert b["cost_per_million_output_tokens"] == pytest.approx(
            4 * a["cost_per_million_output_tokens"] * a["output_tokens_per_s_per_gpu"] / p, rel=1e-9)


def test_a_csv_row_wins_over_the_scenario_field(tmp_path):
    s = load_scenario(SCENARIO, (f"{FIELD}=1000",))
    rows = load_throughput_overrides(_csv(tmp_path, HEADER + "B300,deepseek-v3,nvfp4,1024,1024,2000,,csv run\n"))
    own = {r["precision"]: r for r in _unit_cost_rows(s, 1.0, s.currency, rows)}["nvfp4"]
    assert own["output_tokens_per_s_per_gpu"] == 2000.0 and own["throughput_reference"].startswith("csv run")
    alone = {r["precision"]: r for r in _unit_cost_rows(s, 1.0, s.currency)}["nvfp4"]
    assert alone["output_tokens_per_s_per_gpu"] == 1000.0
    assert "serving.measured_output_tokens_per_s_per_gpu" in alone["throughput_reference"]


@pytest.mark.parametrize("value", ["0", "-1", "abc"])
def test_the_scenario_field_is_validated(value):
    res = CliRunner().invoke(cli, ["bridge", "--set", f"{FIELD}={value}"])
    assert res.exit_code == 2
    assert FIELD in res.stderr and len(res.stderr.splitlines()) == 1
