"""The latent-attention factor: which models it applies to, what it changes (a closed form), loading and writing it,
the fit recovering a known one, and the error for an unknown kind."""

from __future__ import annotations

import json
import math
from dataclasses import fields

import numpy as np
import pytest
from click.testing import CliRunner
from test_calibration import DESIGN, TRUTH, truth_defaults

from tokensim.cli import cli
from tokensim.config import load_catalog
from tokensim.config.reader import config_dir
from tokensim.perf import Workload, predict
from tokensim.perf import calibration as cal
from tokensim.perf._core import GRAPH_MAX_BATCH
from tokensim.perf._model import instance
from tokensim.perf.efficiency import (
    ATTENTION_KINDS,
    TYPICAL_ENGINE,
    attention_kind_of,
    load_efficiency,
    render_calibration,
)
from tokensim.perf.validate import Measurement, predict_measurement


def test_latent_attention_models_are_the_mla_and_compressed_ones():
    """Each catalogue model's kind follows its configured attention type: DeepSeek V3/R1/V3.2, Kimi K2 and GLM-5 use
    MLA, DeepSeek-V4 compressed attention; Llama, Qwen, gpt-oss and Mixtral grouped-query attention, Qwen3.5 gated
    DeltaNet (linear) with gated attention."""
    cat = load_catalog()
    kinds = {name: attention_kind_of(cat.get_model(name, "model").attention_type)
             for name in ("deepseek-v3", "deepseek-v3.2", "deepseek-v4-pro", "deepseek-v4-flash", "kimi-k2",
                          "glm-5", "llama-3.3-70b", "gpt-oss-120b", "qwen3-235b-a22b", "mixtral-8x7b",
                          "qwen3.5-397b-a17b")}
    assert {n for n, k in kinds.items() if k == "latent"} == {"deepseek-v3", "deepseek-v3.2", "deepseek-v4-pro",
                                                               "deepseek-v4-flash", "kimi-k2", "glm-5"}
    assert {k for k in kinds.values()} == {"latent", ""}
    assert ATTENTION_KINDS == ("latent", "latent-cdna")


def test_latent_attention_on_amd_hardware_is_a_kind_of_its_own():
    """Round 21: latent attention on CDNA3 and CDNA4 (MI300X, MI325X, MI355X) is 'latent-cdna'; on NVIDIA's families
    it stays 'latent'; grouped-query attention has no kind on either."""
    cat = load_catalog()
    family = {name: cat.get_hardware(name, "hardware").family for name in ("MI300X", "MI325X", "MI355X", "H200",
                                                                            "B200", "B300")}
    mla, gqa = (cat.get_model(m, "model").attention_type for m in ("deepseek-v3", "llama-3.3-70b"))
    assert {hw: attention_kind_of(mla, f) for hw, f in family.items()} == {
        "MI300X": "latent-cdna", "MI325X": "latent-cdna", "MI355X": "latent-cdna",
        "H200": "latent", "B200": "latent", "B300": "latent"}
    assert {attention_kind_of(gqa, f) for f in family.values()} == {""}
    assert attention_kind_of(mla) == "latent"  # no hardware named: NVIDIA's kind


def test_the_amd_kind_scales_amd_predictions_only(tmp_path):
    """A file with only a 'latent-cdna' factor of 2.5: DeepSeek-V3 on MI300X carries 2.5x its family's CUDA-graph
    per-layer cost; on H200 it keeps its family's cost, and so does Llama on MI300X."""
    plain = _with_attention(tmp_path, {}, "plain.yaml")
    amd = _with_attention(tmp_path, {"latent-cdna": 2.5}, "amd.yaml")
    for hw, model, scale in (("MI300X", "deepseek-v3", 2.5), ("H200", "deepseek-v3", 1.0),
                             ("MI300X", "llama-3.3-70b", 1.0)):
        base = instance(hw, model, "fp8", gpus=8, tp=8, calibration_path=plain).efficiency.decode
        got = instance(hw, model, "fp8", gpus=8, tp=8, calibration_path=amd).efficiency.decode
        assert got.graph_layer_overhead_s == pytest.approx(scale * base.graph_layer_overhead_s, rel=1e-12), hw
        assert got.layer_overhead_s == pytest.approx(base.layer_overhead_s, rel=1e-12)


def _with_attention(tmp_path, scales: dict[str, float], name: str = "attention.yaml") -> str:
    """The bundled calibration with its ``attention`` section replaced by the given CUDA-graph per-layer scales."""
    path = tmp_path / name
    text = (config_dir() / "calibration.yaml").read_text().split("\nattention:\n")[0].rstrip("\n") + "\n"
    entry = "  {}:\n    decode_graph_layer_overhead_scale: {{value: {}, source: \"test\"}}\n"
    text += "attention:\n" + "".join(entry.format(k, v) for k, v in scales.items())
    path.write_text(text)
    load_efficiency.cache_clear()
    return str(path)


def test_the_factor_adds_its_share_of_the_graph_per_layer_cost_to_latent_models_only(tmp_path):
    """Closed form: at a fixed batch inside the CUDA-graph sizes, a latent-attention model's TPOT with factor s exceeds
    its TPOT at factor 1 by exactly (s - 1) x the family's CUDA-graph per-layer cost x layers. Past the captured sizes
    (eager steps) and for a grouped-query model nothing changes."""
    one = _with_attention(tmp_path, {"latent": 1.0}, "one.yaml")
    two = _with_attention(tmp_path, {"latent": 2.5}, "two.yaml")
    pooled = load_efficiency("hopper", two).decode.graph_layer_overhead_s
    r = instance("H200", "deepseek-v3", "fp8", gpus=8, tp=8, calibration_path=two)
    assert r.efficiency.attention == "latent"
    assert r.efficiency.decode.graph_layer_overhead_s == pytest.approx(2.5 * pooled, rel=1e-12)
    assert r.efficiency.decode.layer_overhead_s == pytest.approx(load_efficiency("hopper", two).decode.layer_overhead_s)
    w = Workload(1000, 1000)
    at = {path: predict("H200", "deepseek-v3", "fp8", w, gpus=8, tp=8, concurrency=16, calibration_path=path)
          for path in (one, two)}
    typical = load_efficiency("hopper", two).engine_scale(TYPICAL_ENGINE)  # no engine named: a typical engine's
    assert at[two].tpot_s - at[one].tpot_s == pytest.approx(1.5 * pooled * typical * r.model.layers, rel=1e-9)
    eager = 4 * GRAPH_MAX_BATCH
    big = {path: predict("H200", "deepseek-v3", "fp8", w, gpus=8, tp=8, concurrency=eager, calibration_path=path)
           for path in (one, two)}
    assert big[two].tpot_s == pytest.approx(big[one].tpot_s, rel=1e-12)
    gqa = {path: predict("H200", "llama-3.3-70b", "fp8", w, gpus=8, tp=8, concurrency=16, calibration_path=path)
           for path in (one, two)}
    assert gqa[two].tpot_s == pytest.approx(gqa[one].tpot_s, rel=1e-12)


def test_with_attention_is_idempotent_and_commutes_with_the_engine(tmp_path):
    path = _with_attention(tmp_path, {"latent": 2.0})
    eff = load_efficiency("hopper", path)
    a = eff.with_attention("latent")
    assert a.with_attention("latent") is a
    assert a.decode.graph_layer_overhead_s == pytest.approx(2.0 * eff.decode.graph_layer_overhead_s)
    assert a.decode.layer_overhead_s == eff.decode.layer_overhead_s and a.prefill == eff.prefill
    assert a.with_attention(None).decode == eff.decode
    engine = next(iter(eff.engine_factors), None)
    if engine is not None:
        assert a.with_engine(engine).decode == eff.with_engine(engine).with_attention("latent").decode


def test_a_calibration_file_with_an_unknown_attention_kind_names_the_field(tmp_path):
    path = _with_attention(tmp_path, {"latnt": 1.2})
    with pytest.raises(Exception, match=r"attention.*latnt"):
        load_efficiency("hopper", path)


def test_the_attention_section_round_trips_through_the_writer(tmp_path):
    text = render_calibration({"date": "t"}, {}, {}, attentions={
        "latent": {"decode_graph_layer_overhead_scale": (1.7, "x")}})
    path = tmp_path / "rt.yaml"
    path.write_text(text)
    load_efficiency.cache_clear()
    assert load_efficiency("hopper", str(path)).attention_factors == {"latent": {"decode_graph_layer_overhead_scale":
                                                                                 1.7}}


ATTENTION_TRUTH = 2.5
# latent-attention rows beside test_calibration.DESIGN's grouped-query ones: small batches (CUDA graphs, where the
# factor acts) and one past the captured sizes (eager, where it does not)
LATENT_DESIGN = [
    ("H200", "deepseek-v3", "fp8", 8, 8, 1, "decode", 1000, 1000, 1000, 1),
    ("H200", "deepseek-v3", "fp8", 8, 8, 1, "decode", 1000, 1000, 1000, 16),
    ("H200", "deepseek-v3", "fp8", 8, 1, 8, "decode", 1000, 1000, 1000, 64),
    ("H200", "deepseek-v3", "fp8", 8, 8, 1, "decode", 1000, 1000, 1000, 1024),
]


def _truth_rows(tmp_path) -> tuple[str, list[Measurement]]:
    """A calibration at TRUTH with the latent-attention factor at ATTENTION_TRUTH, and rows ``predict`` generates from
    it for DESIGN + LATENT_DESIGN (three synthetic sources)."""
    defaults = truth_defaults(TRUTH)
    path = tmp_path / "truth.yaml"
    path.write_text(render_calibration({"date": "synthetic"}, defaults, {}, engines={}, attentions={
        "latent": {"decode_graph_layer_overhead_scale": (ATTENTION_TRUTH, "synthetic truth")}}))
    load_efficiency.cache_clear()
    rows = []
    for i, (hw, model, prec, g, tp, ep, serving, isl, osl, ctx, conc) in enumerate(DESIGN + LATENT_DESIGN):
        m = Measurement(id=f"syn-{i}", source_id=f"syn-{i % 3}", source="synthetic", date="2026-01",
                        confidence="A", hardware=hw, system_gpus=g, instance_gpus=g, tp=tp, ep=ep, model=model,
                        precision=prec, kv_cache_precision=None, serving=serving, input_tokens=isl,
                        output_tokens=osl, context_tokens=ctx, concurrency=conc, slo=None,
                        metric="input_tokens_per_s_total" if serving == "disaggregated-prefill"
                        else "output_tokens_per_s_total", value=1.0)
        value = predict_measurement(m, str(path))["predicted"] * g
        rows.append(Measurement(**{**{f.name: getattr(m, f.name) for f in fields(Measurement)}, "value": value}))
    return str(path), rows


def test_the_fit_recovers_a_known_attention_factor(tmp_path):
    """Rows generated by ``predict`` at known factors with the latent-attention factor at 2.5. Fitted from the true
    factors with the attention factor at 1 and a prior too wide to pull (sd 100), it comes back within 3% (the fit's
    finite-difference steps and stopping rule), and the data are met; without it they are not."""
    path, rows = _truth_rows(tmp_path)
    problem = cal.build_problem(rows, path)
    assert int((problem.row_attention == 0).sum()) == len(LATENT_DESIGN)
    truth = np.array([math.log(TRUTH[p.key]) for p, _ in cal._layout(problem)])
    # the stacked evaluation at the file's factors, attention factor included, is what predict generated
    assert np.allclose(cal.predict_rows(problem, truth, *cal._current_keyed(problem)), problem.measured, rtol=1e-9)
    plain = cal.fit(problem, x0=truth)
    fitted = cal.fit(problem, x0=truth, widths=cal.PriorWidths(attention_sd=100.0))
    assert plain.attention_scales == {} and fitted.rows_per_attention == {"latent": len(LATENT_DESIGN)}
    assert fitted.attention_scales["latent"] == pytest.approx(ATTENTION_TRUTH, rel=0.03), fitted.attention_scales
    assert np.allclose(fitted.predicted, problem.measured, rtol=1e-3)
    assert np.median(np.abs(plain.predicted / problem.measured - 1)[problem.row_attention == 0]) > 1e-3


def test_a_fit_restricted_to_some_attention_kinds_fits_those_only(tmp_path):
    """``PriorWidths.attention_kinds``: with the NVIDIA rows' 'latent' kind left out, the fit gives no attention
    factor (the synthetic rows run on H200), and the rows stay unmet where the unrestricted fit meets them. The kinds
    travel through calibration.yaml's fit block (for ``validate --cross-validate``), and a file without them means
    every kind."""
    path, rows = _truth_rows(tmp_path)
    problem = cal.build_problem(rows, path)
    truth = np.array([math.log(TRUTH[p.key]) for p, _ in cal._layout(problem)])
    amd_only = cal.PriorWidths(attention_sd=100.0, attention_kinds=("latent-cdna",))
    fitted = cal.fit(problem, x0=truth, widths=amd_only)
    assert fitted.attention_scales == {}
    assert np.median(np.abs(fitted.predicted / problem.measured - 1)[problem.row_attention == 0]) > 1e-3
    assert cal.PriorWidths.from_fit_block(amd_only.fit_block()) == amd_only
    assert amd_only.fit_block()["attention_kinds"] == ["latent-cdna"]
    assert "attention_kinds" not in cal.PriorWidths().fit_block()
    assert cal.PriorWidths.from_fit_block({"attention_sd": 0.3}).attention_kinds == ATTENTION_KINDS


def test_calibrate_refuses_an_unknown_attention_kind(tmp_path):
    out = tmp_path / "x.yaml"
    res = CliRunner().invoke(cli, ["calibrate", "--attention-kinds", "latent,latnt-cdna", "--out", str(out)])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "--attention-kinds" in res.output and "did you mean 'latent-cdna'" in res.output
    assert "latent, latent-cdna" in res.output and not out.exists()


def test_calibrate_attention_sd_writes_the_factor_and_perf_uses_it(tmp_path):
    """``tokensim calibrate --attention-sd`` records ``fit.attention_sd``, reports the fitted factor with its rows and
    writes an ``attention`` section that a latent-attention model's prediction then carries; a negative width is
    refused with exit 2 and the option named."""
    from test_calibration import _measurement_csv

    path, rows = _truth_rows(tmp_path)
    csv_path = _measurement_csv(rows, tmp_path / "m.csv")
    out = tmp_path / "fitted.yaml"
    res = CliRunner().invoke(cli, ["calibrate", "--measurements", str(csv_path), "--calibration", path, "--out",
                                   str(out), "--date", "2026-01-03", "--attention-sd", "0.3", "--attention-kinds",
                                   "latent", "--format", "json", "--jobs", "1"])  # the default kinds: latent-cdna
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["fit"]["attention_sd"] == 0.3 and "per-attention-kind" in report["fit"]["method"]
    latent = report["factors"]["attention latent"]
    assert latent["rows"] == len(LATENT_DESIGN) and latent["decode_graph_layer_overhead_scale"] > 1.0
    load_efficiency.cache_clear()
    eff = load_efficiency("hopper", str(out))
    assert eff.attention_scale("latent") == pytest.approx(latent["decode_graph_layer_overhead_scale"], rel=1e-5)
    r = instance("H200", "deepseek-v3", "fp8", gpus=8, tp=8, calibration_path=str(out))
    assert r.efficiency.decode.graph_layer_overhead_s == pytest.approx(
        eff.attention_scale("latent") * eff.decode.graph_layer_overhead_s, rel=1e-9)
    bad = CliRunner().invoke(cli, ["calibrate", "--measurements", str(csv_path), "--out", str(tmp_path / "x.yaml"),
                                   "--attention-sd", "-1"])
    assert bad.exit_code == 2 and "--attention-sd" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "x.yaml").exists()
