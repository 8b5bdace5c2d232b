"""The serving layout a scenario prices (issue 11): the layout search's best aggregated layout within the scenario's
SLO unless the scenario pins one (serving.instance_gpus, tensor_parallel, expert_parallel); every command that prices
the scenario's own point agrees with run on it.

The oracle is perf.search_layout (or perf.predict with the layout given, as ``tokensim perf --gpus --tp --ep``),
reached through a different entry point than the one under test.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tokensim.cli import cli
from tokensim.compare import compare_scenarios
from tokensim.config.scenario import load_scenario
from tokensim.perf import predict, search_layout
from tokensim.plots import pareto_curves
from tokensim.report import _unit_cost_rows
from tokensim.resolve.perf import slo, workload
from tokensim.resolve.valuation import valuation_block
from tokensim.sweep import run_sweep

US = "us-b300-neocloud-usage"


def _searched(s, precision):
    sv = s.serving
    return search_layout(sv.hardware, sv.model, precision, workload(sv), mode="aggregated", slo=slo(sv))


def _run_json(*args):
    res = CliRunner().invoke(cli, ["run", *args, "--paths", "0", "--format", "json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_the_founding_run_prices_the_layout_search_best_at_every_precision(founding_run):
    """run's tokens/s per GPU, batch and layout at each precision are perf.search_layout's best aggregated layout
    within the scenario's SLO; the reading names the layout priced."""
    s = founding_run.report.scenario
    for row in founding_run.json["unit_costs"]:
        choice = _searched(s, row["precision"])
        dep = choice.instance.deployment
        assert row["output_tokens_per_s_per_gpu"] == pytest.approx(choice.row["output_tokens_per_s_per_gpu"],
                                                                   rel=1e-12)
        assert row["concurrency"] == choice.row["concurrency"] and row["meets_slo"]
        assert (row["layout"], row["gpus_per_instance"], row["tp"], row["ep"]) == (dep.label, dep.gpus, dep.tp,
                                                                                   dep.ep)
    main = next(r for r in founding_run.json["unit_costs"] if r["precision"] == s.serving.precision)
    assert f"({main['layout']}, batch {main['concurrency']:,.0f} per instance" in founding_run.json["reading"][0]


def test_the_us_scenario_prices_the_searched_layout_not_the_default_instance():
    """The US scenario (issue 11: its default instance served a fraction of its usage assumption) prices the
    search's best layout, which serves at least as much as the default instance within the SLO."""
    s = load_scenario(US)
    sv = s.serving
    for row in _unit_cost_rows(s, 1.0, s.currency):
        choice = _searched(s, row["precision"])
        assert row["layout"] == choice.instance.deployment.label
        assert row["output_tokens_per_s_per_gpu"] == pytest.approx(choice.row["output_tokens_per_s_per_gpu"],
                                                                   rel=1e-12)
        default = predict(sv.hardware, sv.model, row["precision"], workload(sv), slo=slo(sv))
        assert row["output_tokens_per_s_per_gpu"] >= default.output_tokens_per_s_per_gpu * (1 - 1e-12)


def test_a_pinned_layout_is_honoured():
    """serving.instance_gpus 4, tensor_parallel 4, expert_parallel 1 prices TP4 at every precision: the point
    tokensim perf --gpus 4 --tp 4 --ep 1 gives under the SLO, which is not the searched one."""
    pin = ("--set", "serving.instance_gpus=4", "--set", "serving.tensor_parallel=4", "--set",
           "serving.expert_parallel=1")
    got = _run_json(US, *pin)
    s = load_scenario(US)
    sv = s.serving
    for row in got["unit_costs"]:
        want = predict(sv.hardware, sv.model, row["precision"], workload(sv), slo=slo(sv), gpus=4, tp=4, ep=1)
        assert (row["layout"], row["tp"], row["ep"]) == ("TP4", 4, 1)
        assert row["output_tokens_per_s_per_gpu"] == pytest.approx(want.output_tokens_per_s_per_gpu, rel=1e-12)
        assert row["concurrency"] == want.concurrency
        assert row["output_tokens_per_s_per_gpu"] != pytest.approx(
            _searched(s, row["precision"]).row["output_tokens_per_s_per_gpu"], rel=1e-6)
    assert "(TP4, batch" in got["reading"][0] and "pinned in the scenario" in got["reading"][0]
    assert got["bridge"]["to"]["layout"] == "TP4"


def test_a_partly_pinned_layout_takes_the_default_deployment_for_the_rest():
    """serving.instance_gpus 4 alone: a MoE model's default is attention data-parallel with the experts over all
    GPUs (tp 1, ep 4: DEP4), as tokensim perf --gpus 4 prices it."""
    s = load_scenario(US, ("serving.instance_gpus=4",))
    sv = s.serving
    row = {r["precision"]: r for r in _unit_cost_rows(s, 1.0, s.currency)}[sv.precision]
    want = predict(sv.hardware, sv.model, sv.precision, workload(sv), slo=slo(sv), gpus=4, tp=1, ep=4)
    assert row["layout"] == "DEP4"
    assert row["output_tokens_per_s_per_gpu"] == pytest.approx(want.output_tokens_per_s_per_gpu, rel=1e-12)


@pytest.mark.parametrize("sets, field, value, words", [
    # DeepSeek-V3 has 128 attention heads: TP 256 cannot split them
    (("serving.instance_gpus=256", "serving.tensor_parallel=256", "serving.expert_parallel=1"),
     "serving.tensor_parallel", "256", "128"),
    # one B300 (288 GB) cannot hold DeepSeek-V3's 671 B parameters at FP8
    (("serving.instance_gpus=1",), "serving.instance_gpus", "1", "weights need"),
])
def test_a_layout_the_model_cannot_run_is_a_clear_exit_2(sets, field, value, words):
    """A pinned layout the model cannot run stops the run with one line naming the file, the field and its value,
    exit status 2, no traceback."""
    args = ["run", US, "--paths", "0"]
    for text in sets:
        args += ["--set", text]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2, res.output
    (line,) = [ln for ln in res.output.splitlines() if ln.strip()]
    assert line.startswith("tokensim: error: ") and "us-b300-neocloud-usage.yaml" in line
    assert f"field '{field}' got {value}; allowed: a layout that serves deepseek-v3" in line and words in line
    assert "Traceback" not in res.output


def test_every_command_pricing_the_base_point_agrees_with_run(founding_run):
    """bridge (its 'to' side), compare, cost-per-token, value, the sweep's one point and the pareto plot's star are
    run's operating point: same layout and tokens/s per GPU, same output cost where the command prices one."""
    s = founding_run.report.scenario
    sv = s.serving
    cur = s.currency.lower()
    main = next(r for r in founding_run.json["unit_costs"] if r["precision"] == sv.precision)
    tps, layout = main["output_tokens_per_s_per_gpu"], main["layout"]

    bridge = founding_run.json["bridge"]
    assert bridge["to"]["layout"] == layout
    res = CliRunner().invoke(cli, ["bridge", s.file, "--metric", "output", "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["unit_cost_to"] == pytest.approx(main[f"cost_per_million_output_tokens_{cur}"],
                                                                   rel=1e-9)

    (first, _) = compare_scenarios([s, s]).values
    assert first["cost_per_million_output_tokens"] == pytest.approx(main[f"cost_per_million_output_tokens_{cur}"],
                                                                    rel=1e-9)

    res = CliRunner().invoke(cli, ["cost-per-token", s.file, "--hardware", sv.hardware, "--precision", sv.precision,
                                   "--format", "json"])
    assert res.exit_code == 0, res.output
    for row in json.loads(res.stdout):
        assert row["layout"] == layout
        assert row["output_tokens_per_s_per_gpu"] == pytest.approx(tps, rel=1e-12)

    block = valuation_block(s, sv.hardware, 8, "2026-01")
    point = predict(sv.hardware, sv.model, sv.precision, workload(sv), slo=slo(sv), gpus=main["gpus_per_instance"],
                    tp=main["tp"], ep=main["ep"])
    assert block.tokens_per_s_per_gpu == pytest.approx(
        point.output_tokens_per_s_per_gpu + point.input_tokens_per_s_per_gpu, rel=1e-12)

    row = run_sweep(s, [], backend="numpy").frame.iloc[0]
    assert (row["gpus_per_instance"], row["tp"], row["ep"]) == (main["gpus_per_instance"], main["tp"], main["ep"])
    assert row["output_tokens_per_s_per_gpu"] == pytest.approx(tps, rel=1e-12)

    stars: dict = {}
    pareto_curves(s, operating_points=stars)
    star = stars[f"{sv.hardware} {sv.precision}"]
    assert star["layout"] == layout and star["output_tokens_per_s_per_gpu"] == pytest.approx(tps, rel=1e-12)
