"""Per-engine factors: the engine names rows map to, what an engine's factor changes (a closed form), loading and
writing them, the fit recovering a known one, and the errors for an unknown engine."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import fields

import numpy as np
import pytest
from click.testing import CliRunner
from test_calibration import DESIGN, TRUTH, truth_defaults

from tokensim import ParameterError
from tokensim.cli import cli
from tokensim.config.reader import config_dir
from tokensim.perf import SLO, Workload, predict
from tokensim.perf import calibration as cal
from tokensim.perf._model import instance
from tokensim.perf.efficiency import ENGINE_KEYS, ENGINES, engine_key, engine_of, load_efficiency, render_calibration
from tokensim.perf.validate import Measurement, predict_measurement


@pytest.mark.parametrize("text, engine", [
    # the engine strings of tokensim/data/measurements.csv, each with the inference engine it runs on
    ("tensorrt-llm", "tensorrt-llm"), ("dynamo+tensorrt-llm", "tensorrt-llm"), ("TensorRT-LLM", "tensorrt-llm"),
    ("sglang", "sglang"), ("dynamo+sglang", "sglang"), ("sglang+mori", "sglang"),
    ("vllm", "vllm"), ("dynamo+vllm", "vllm"), ("moreh-vllm", "vllm"), ("stepfun-afd (in-house, on vLLM)", "vllm"),
    ("atom", "atom"), ("vllm+atom", "atom"),
    ("nim", ""), ("not stated", ""), ("deepseek-internal", ""), ("", ""), (None, ""),
])
def test_engine_names_map_to_the_engine_that_runs_the_passes(text, engine):
    assert engine_of(text) == engine


@pytest.mark.parametrize("engine, family, key", [
    ("sglang", "cdna3", "sglang-cdna3"), ("sglang", "cdna4", "sglang-cdna4"), ("vllm", "cdna3", "vllm-cdna3"),
    ("sglang", "hopper", "sglang"), ("vllm", "blackwell-ultra", "vllm"), ("atom", "cdna4", "atom"),
    ("tensorrt-llm", "blackwell", "tensorrt-llm"), ("", "cdna3", ""),
])
def test_an_engine_serving_on_both_vendors_has_keys_of_its_own_on_each_cdna_generation(engine, family, key):
    assert engine_key(engine, family) == key and (key == "" or key in ENGINE_KEYS)


def _with_engines(tmp_path, engines: dict[str, float]) -> str:
    """The bundled calibration with its ``engines`` section replaced by the given decode per-layer scales."""
    path = tmp_path / "engines.yaml"
    text = (config_dir() / "calibration.yaml").read_text().split("\nengines:\n")[0].rstrip("\n") + "\n"
    text += "engines:\n" + "".join(f"  {e}:\n    decode_layer_overhead_scale: {{value: {v}, source: \"test\"}}\n"
                                   for e, v in engines.items())
    path.write_text(text)
    load_efficiency.cache_clear()
    return str(path)


def test_an_engine_scales_the_decode_step_by_its_per_layer_cost(tmp_path):
    """Closed form: at a fixed batch inside the CUDA-graph sizes, TPOT with an engine whose factor is s exceeds TPOT
    with a factor of 1 by exactly (s - 1) x graph-mode per-layer cost x layers; so does TTFT, whose one prefill chunk
    (1,000 tokens under the 8,192-token chunk) shares its pass with a decode step in aggregated serving. A workload
    naming no engine costs a typical NVIDIA engine: the geometric mean of TensorRT-LLM's (none fitted: 1), SGLang's
    and vLLM's factors, (1 x 1.5 x 0.8)^(1/3)."""
    path = _with_engines(tmp_path, {"sglang": 1.5, "vllm": 0.8})
    kwargs = dict(gpus=8, tp=8, concurrency=16, calibration_path=path)
    unit = predict("H200", "llama-3.3-70b", "fp8", Workload(1000, 1000, engine="atom"), **kwargs)  # no factor: 1
    r = instance("H200", "llama-3.3-70b", "fp8", gpus=8, tp=8, calibration_path=path)
    per_layer = r.efficiency.decode.graph_layer_overhead_s  # no workload: the pooled values, no engine applied
    typical = (1.0 * 1.5 * 0.8) ** (1 / 3)
    for engine, scale in (("sglang", 1.5), ("vllm", 0.8), (None, typical)):
        p = predict("H200", "llama-3.3-70b", "fp8", Workload(1000, 1000, engine=engine), **kwargs)
        assert p.engine == engine
        delta = (scale - 1) * per_layer * r.model.layers
        assert p.tpot_s - unit.tpot_s == pytest.approx(delta, rel=1e-9)
        assert p.ttft_s - unit.ttft_s == pytest.approx(delta, rel=1e-9)


def test_no_engine_on_amd_costs_the_geometric_mean_of_sglang_vllm_and_atom_there(tmp_path):
    """On CDNA3 a workload naming no engine takes the geometric mean of SGLang's, vLLM's (none fitted there: 1) and
    ATOM's CDNA3 factors, (3.0 x 1 x 0.6)^(1/3); the NVIDIA-only TensorRT-LLM factor and SGLang's NVIDIA factor do
    not enter."""
    path = _with_engines(tmp_path, {"sglang": 1.5, "tensorrt-llm": 0.5, "sglang-cdna3": 3.0, "atom": 0.6})
    kwargs = dict(gpus=8, tp=8, concurrency=16, calibration_path=path)
    r = instance("MI300X", "llama-3.3-70b", "fp8", gpus=8, tp=8, calibration_path=path)
    per_layer = r.efficiency.decode.graph_layer_overhead_s
    unit = predict("MI300X", "llama-3.3-70b", "fp8", Workload(1000, 1000, engine="vllm"), **kwargs)  # no factor: 1
    p = predict("MI300X", "llama-3.3-70b", "fp8", Workload(1000, 1000), **kwargs)
    delta = ((3.0 * 0.6) ** (1 / 3) - 1) * per_layer * r.model.layers
    assert p.tpot_s - unit.tpot_s == pytest.approx(delta, rel=1e-9)


def test_sglang_on_amd_takes_its_cdna_factor_and_on_nvidia_its_own(tmp_path):
    """Closed form on both vendors, one file: SGLang's factor 1.5, SGLang's on CDNA3 3.0 and on CDNA4 1.2. On 8 H200
    the TPOT with ``engine="sglang"`` exceeds that of an engine without factors by 0.5 x graph-mode per-layer cost x
    layers; on 8 MI300X by 2.0 x, on 8 MI355X by 0.2 x; the prediction still names the engine the user gave."""
    path = _with_engines(tmp_path, {"sglang": 1.5, "sglang-cdna3": 3.0, "sglang-cdna4": 1.2})
    for hardware, scale, unfitted in (("H200", 1.5, "tensorrt-llm"), ("MI300X", 3.0, "atom"), ("MI355X", 1.2, "atom")):
        kwargs = dict(gpus=8, tp=8, concurrency=16, calibration_path=path)
        pooled = predict(hardware, "llama-3.3-70b", "fp8", Workload(1000, 1000, engine=unfitted), **kwargs)
        p = predict(hardware, "llama-3.3-70b", "fp8", Workload(1000, 1000, engine="sglang"), **kwargs)
        r = instance(hardware, "llama-3.3-70b", "fp8", gpus=8, tp=8, calibration_path=path)
        delta = (scale - 1) * r.efficiency.decode.graph_layer_overhead_s * r.model.layers
        assert p.engine == "sglang"
        assert p.tpot_s - pooled.tpot_s == pytest.approx(delta, rel=1e-9)


def test_with_engine_is_idempotent_and_switches_engines(tmp_path):
    path = _with_engines(tmp_path, {"sglang": 1.5, "vllm": 0.8})
    eff = load_efficiency("hopper", path)
    s = eff.with_engine("sglang")
    assert s.with_engine("sglang") is s
    assert s.decode.layer_overhead_s == pytest.approx(1.5 * eff.decode.layer_overhead_s)
    assert s.decode.graph_layer_overhead_s == pytest.approx(1.5 * eff.decode.graph_layer_overhead_s)
    assert s.prefill == eff.prefill
    v = s.with_engine("vllm")
    assert v.decode.graph_layer_overhead_s == pytest.approx(0.8 * eff.decode.graph_layer_overhead_s)
    # back to the pooled costs (to rounding: the scales chain 1.5 -> 0.8 / 1.5 -> 1 / 0.8)
    assert dataclasses.asdict(v.with_engine(None).decode) == pytest.approx(dataclasses.asdict(eff.decode), rel=1e-12)


def test_an_unknown_engine_is_refused_with_the_allowed_names():
    with pytest.raises(ParameterError, match=r"engine.*'sglng'.*allowed: tensorrt-llm, sglang, vllm, atom.*did you "
                                             r"mean 'sglang'"):
        Workload(1000, 1000, engine="sglng")
    res = CliRunner().invoke(cli, ["perf", "--hardware", "H200", "--model", "llama-3.3-70b", "--precision", "fp8",
                                   "--input-tokens", "1000", "--output-tokens", "1000", "--engine", "sglng"])
    assert res.exit_code == 2 and "--engine 'sglng'" in res.output and "did you mean 'sglang'" in res.output
    assert "Traceback" not in res.output


def test_a_calibration_file_with_an_unknown_engine_names_the_field(tmp_path):
    path = _with_engines(tmp_path, {"sglangg": 1.2})
    with pytest.raises(Exception, match=r"engines.*sglangg"):
        load_efficiency("hopper", path)


def test_the_engines_section_round_trips_through_the_writer(tmp_path):
    text = render_calibration({"date": "t"}, {}, {}, engines={"vllm": {"decode_layer_overhead_scale": (0.9, "x")}})
    path = tmp_path / "rt.yaml"
    path.write_text(text)
    load_efficiency.cache_clear()
    eff = load_efficiency("hopper", str(path))
    assert eff.engine_factors == {"vllm": {"decode_layer_overhead_scale": 0.9}}


def _truth_defaults() -> dict[str, tuple[float, str]]:
    """TRUTH as calibration-file defaults (phase.factor or a global factor -> (value, source))."""
    return truth_defaults(TRUTH)


def _rows_per_engine(path, decode_only: bool = False) -> list[Measurement]:
    """Every DESIGN configuration served by SGLang, by TensorRT-LLM and by no engine, each row's value what
    ``predict`` gives at the calibration ``path`` (prefill rows left out with ``decode_only``)."""
    rows = []
    for i, (hw, model, prec, g, tp, ep, serving, isl, osl, ctx, conc) in enumerate(DESIGN):
        if decode_only and serving == "disaggregated-prefill":
            continue
        for engine in ("sglang", "tensorrt-llm", ""):
            m = Measurement(id=f"syn-{i}-{engine}", source_id=f"syn-{i % 3}", source="synthetic", date="2026-01",
                            confidence="A", hardware=hw, system_gpus=g, instance_gpus=g, tp=tp, ep=ep, model=model,
                            precision=prec, kv_cache_precision=None, serving=serving, input_tokens=isl,
                            output_tokens=osl, context_tokens=ctx, concurrency=conc, slo=None,
                            metric="input_tokens_per_s_total" if serving == "disaggregated-prefill"
                            else "output_tokens_per_s_total", value=1.0, engine=engine)
            value = predict_measurement(m, str(path))["predicted"] * g
            rows.append(Measurement(**{**{f.name: getattr(m, f.name) for f in fields(Measurement)},
                                       "value": value}))
    return rows


def _calibrated_with_engines(tmp_path, **sds):
    """``calibrate`` on the synthetic rows, alternately served by the first two ENGINES, with the given prior widths;
    the result and the efficiency its YAML loads to (Hopper)."""
    from test_calibration import _synthetic, _write_calibration

    truth_path = _write_calibration(tmp_path / "truth.yaml", TRUTH)
    rows = [Measurement(**{**{f.name: getattr(m, f.name) for f in fields(Measurement)},
                           "engine": ENGINES[i % 2]}) for i, m in enumerate(_synthetic(truth_path))]
    result = cal.calibrate(rows, "synthetic.csv sha256:0", truth_path, date="2026-01-02",
                           widths=cal.PriorWidths(**sds))
    out = tmp_path / "fitted.yaml"
    out.write_text(result.yaml_text)
    load_efficiency.cache_clear()
    return result, load_efficiency("hopper", str(out)), str(out)


ENGINE_TRUTH = {"sglang": 3.0, "tensorrt-llm": 0.5}


def test_the_fit_recovers_known_engine_factors(tmp_path):
    """Rows generated by ``predict`` at known factors, every configuration served three times: by SGLang (decode
    per-layer cost x3), by TensorRT-LLM (x0.5) and naming no engine, so that only the engine factors tell a row from
    its twins. Fitted from the true factors with the engines at 1 and a prior too wide to pull (sd 100), the engine
    factors come back within 3% (the fit's finite-difference steps and stopping rule), and predictions use them. (On
    one row per configuration the engine factors trade against the per-token cost: a fit met those data within 0.2%
    at 2.96 and 0.62.)"""
    path = tmp_path / "truth.yaml"
    path.write_text(render_calibration({"date": "synthetic"}, _truth_defaults(), {}, engines={
        e: {"decode_layer_overhead_scale": (v, "synthetic truth")} for e, v in ENGINE_TRUTH.items()}))
    load_efficiency.cache_clear()
    rows = _rows_per_engine(path)
    problem = cal.build_problem(rows, str(path))
    slots = cal._layout(problem)
    truth = np.array([math.log(TRUTH[p.key]) for p, _ in slots])
    plain = cal.fit(problem, x0=truth)
    fitted = cal.fit(problem, x0=truth, widths=cal.PriorWidths(engine_sd=100.0))
    assert plain.engine_scales == {}
    assert set(fitted.engine_scales) == {"sglang", "tensorrt-llm"}
    for engine, scale in ENGINE_TRUTH.items():
        assert fitted.engine_scales[engine] == pytest.approx(scale, rel=0.03), fitted.engine_scales
    assert np.allclose(fitted.predicted, problem.measured, rtol=1e-3)
    assert np.median(np.abs(plain.predicted / problem.measured - 1)) > 1e-3  # without them the data are not met


def test_calibrate_writes_the_engine_factors_and_perf_uses_them(tmp_path):
    """A calibration fitted with engine factors records ``fit.engine_sd`` and an ``engines`` section that ``perf
    --engine`` applies."""
    result, eff, out = _calibrated_with_engines(tmp_path, engine_sd=0.3)
    assert result.fit_block["engine_sd"] == 0.3 and "per-engine" in result.fit_block["method"]
    assert set(eff.engine_factors) == set(ENGINES[:2])
    scale = eff.engine_scale("sglang")
    assert scale == pytest.approx(result.fit.engine_scales["sglang"], rel=1e-5)
    w = dict(gpus=1, tp=1, concurrency=8, calibration_path=out, slo=SLO())
    a = predict("H100", "llama-3.1-8b", "fp8", Workload(1000, 1000), **w)
    b = predict("H100", "llama-3.1-8b", "fp8", Workload(1000, 1000, engine="sglang"), **w)
    r = instance("H100", "llama-3.1-8b", "fp8", gpus=1, tp=1, calibration_path=out)
    assert b.tpot_s - a.tpot_s == pytest.approx((scale - 1) * r.efficiency.decode.graph_layer_overhead_s
                                                * r.model.layers, rel=1e-6)


def test_a_scenario_names_its_engine_and_an_unknown_one_is_refused():
    """``serving.engine`` reaches the workload the money prices; a near miss is refused with the field, the allowed
    names and a suggestion."""
    from tokensim import ConfigError
    from tokensim.config.scenario import load_scenario
    from tokensim.resolve.perf import workload

    s = load_scenario("b300-10k-cluster", ["serving.engine=sglang"])
    assert s.serving.engine == "sglang" and workload(s.serving).engine == "sglang"
    assert load_scenario("b300-10k-cluster").serving.engine is None
    with pytest.raises(ConfigError, match=r"serving\.engine.*one of tensorrt-llm, sglang, vllm, atom.*did you mean "
                                          r"'sglang'"):
        load_scenario("b300-10k-cluster", ["serving.engine=sglng"])


def test_an_engines_kernel_factor_scales_its_decode_efficiencies_up_to_the_ceilings():
    """Hand case on the bundled Hopper factors: an engine whose kernel factor is 1.2 decodes at 1.2x the family's HBM
    efficiency and at min(1.2 x tensor efficiency, 0.80), the measured ceiling; prefill and the per-layer costs are
    untouched; back to no engine (or to another engine) the family's values return exactly, capped or not."""
    load_efficiency.cache_clear()
    base = load_efficiency("hopper")
    eff = dataclasses.replace(base, engine_factors={"sglang": {"decode_kernel_efficiency_scale": 1.2},
                                                    "vllm": {"decode_kernel_efficiency_scale": 0.5}})
    fast = eff.with_engine("sglang")
    assert fast.decode.memory_efficiency == pytest.approx(min(1.2 * base.decode.memory_efficiency, 0.90))
    assert fast.decode.compute_efficiency == pytest.approx(min(1.2 * base.decode.compute_efficiency, 0.80))
    assert base.decode.compute_efficiency * 1.2 > 0.80  # the cap is exercised: 0.78 x 1.2 = 0.94
    assert fast.prefill == base.prefill and fast.decode.layer_overhead_s == base.decode.layer_overhead_s
    slow = fast.with_engine("vllm")
    assert slow.decode.compute_efficiency == pytest.approx(0.5 * base.decode.compute_efficiency)
    assert fast.with_engine("").decode == base.decode and slow.with_engine("").decode == base.decode


ENGINE_KERNEL_TRUTH = {"sglang": 0.6, "tensorrt-llm": 1.1}


def test_the_fit_recovers_known_engine_kernel_factors(tmp_path):
    """As for the per-layer factors: rows generated by ``predict`` with known kernel factors (SGLang's decode kernels
    at 0.6 of the family's HBM and tensor efficiency, TensorRT-LLM's at 1.1), every configuration served by each and
    by no engine; fitted from the truth with the engines at 1 and a wide prior, the factors come back within 3% and
    the data are met. The fit's capped scaling is predict's: the same rows from the fit's stacked evaluation at the
    truth equal the generated values."""
    defaults = _truth_defaults()
    path = tmp_path / "truth.yaml"
    path.write_text(render_calibration({"date": "synthetic"}, defaults, {}, engines={
        e: {"decode_kernel_efficiency_scale": (v, "synthetic truth")} for e, v in ENGINE_KERNEL_TRUTH.items()}))
    load_efficiency.cache_clear()
    rows = _rows_per_engine(path, decode_only=True)  # prefill passes: the kernel factor is a decode one
    problem = cal.build_problem(rows, str(path))
    slots = cal._layout(problem)
    truth = np.array([math.log(TRUTH[p.key]) for p, _ in slots])
    kernel_truth = np.log([ENGINE_KERNEL_TRUTH.get(e, 1.0) for e in ENGINE_KEYS])
    assert np.allclose(cal.predict_rows(problem, truth, None, None, kernel_truth), problem.measured, rtol=1e-9)
    fitted = cal.fit(problem, x0=truth, widths=cal.PriorWidths(engine_kernel_sd=100.0))
    assert fitted.engine_scales == {} and set(fitted.engine_kernel_scales) == {"sglang", "tensorrt-llm"}
    for engine, scale in ENGINE_KERNEL_TRUTH.items():
        assert fitted.engine_kernel_scales[engine] == pytest.approx(scale, rel=0.03), fitted.engine_kernel_scales
    assert np.allclose(fitted.predicted, problem.measured, rtol=1e-3)
    # a factor past the HBM ceiling (0.80 x 1.25 > 0.90) is capped the same way in the fit and in predict
    capped = tmp_path / "capped.yaml"
    capped.write_text(render_calibration({"date": "synthetic"}, defaults, {}, engines={
        "tensorrt-llm": {"decode_kernel_efficiency_scale": (1.25, "synthetic truth")}}))
    load_efficiency.cache_clear()
    trt = [r for r in rows if r.engine == "tensorrt-llm"]
    direct = [predict_measurement(m, str(capped))["predicted"] for m in trt]
    stacked = cal.predict_rows(cal.build_problem(trt, str(capped)), truth, None, None,
                               np.log([1.25 if e == "tensorrt-llm" else 1.0 for e in ENGINE_KEYS]))
    assert np.allclose(stacked, direct, rtol=1e-9)
    assert not np.allclose(stacked, [predict_measurement(m, str(path))["predicted"] for m in trt], rtol=1e-3)


def test_calibrate_writes_the_engine_kernel_factors_and_perf_uses_them(tmp_path):
    """A calibration fitted with kernel factors records ``fit.engine_kernel_sd`` and ``engines.<e>.
    decode_kernel_efficiency_scale``, which the loaded efficiency applies for the engine (its decode HBM efficiency
    is the family's times the factor, capped)."""
    result, eff, _ = _calibrated_with_engines(tmp_path, engine_kernel_sd=0.3)
    assert result.fit_block["engine_kernel_sd"] == 0.3 and "HBM and tensor efficiency" in result.fit_block["method"]
    assert set(eff.engine_factors) == set(ENGINES[:2])
    scale = eff.engine_kernel_scale("sglang")
    assert scale == pytest.approx(result.fit.engine_kernel_scales["sglang"], rel=1e-5)
    assert eff.with_engine("sglang").decode.memory_efficiency == pytest.approx(
        min(scale * eff.decode.memory_efficiency, 0.90), rel=1e-9)
    assert result.factors()["engine sglang"]["decode_kernel_efficiency_scale"] == pytest.approx(scale, rel=1e-5)
