"""The measurement dataset and `tokensim validate`: columns, sources, row mapping, summaries and the CLI."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tokensim import SLO, UserError, Workload, predict
from tokensim.cli import cli
from tokensim.config import config_dir
from tokensim.config.catalog import load_catalog
from tokensim.perf.envelope import (
    BANDS,
    envelope_counts,
    envelope_layout_rows,
    envelope_sequences_per_gpu,
    layout_kind,
    speed_band,
)
from tokensim.perf.validate import (
    EXTRA_COLUMNS,
    MEASURED_METRICS,
    MEASUREMENTS_PATH,
    RATE_MATCHED,
    REASONS,
    REQUIRED_COLUMNS,
    SERVING,
    Measurement,
    NotRunnable,
    calibration_rows,
    calibration_sha256,
    load_measurements,
    parse_slo,
    plan_measurement,
    predict_measurement,
    predicted_band,
    summarize,
    validate,
)


def test_dataset_has_every_required_column():
    """The bundled CSV's header carries every column the issue names (source, hardware, GPUs, ... value)."""
    with MEASUREMENTS_PATH.open(newline="") as fh:
        header = next(csv.reader(fh))
    assert set(REQUIRED_COLUMNS) <= set(header)
    for column in ("source", "date", "hardware", "system_gpus", "tp", "ep", "model", "precision",
                   "kv_cache_precision", "serving", "input_tokens", "output_tokens", "context_tokens", "concurrency",
                   "slo", "metric", "value"):
        assert column in header


def test_every_row_has_a_source_and_known_names():
    """Each row names its source document and date and a confidence grade; rows calibrate fits name catalogue
    entries that exist (the issue-11 rows may name models not catalogued yet: validate reports them as not run)."""
    cat = load_catalog()
    rows = load_measurements()
    assert len(rows) >= 500 and len({m.id for m in rows}) == len(rows)
    for m in rows:
        assert m.source.strip() and m.source_id.strip() and m.date[:2] == "20", m.id
        assert m.confidence in ("A", "B", "C"), m.id
        assert m.serving in SERVING and m.metric in MEASURED_METRICS
    for m in calibration_rows(rows):
        cat.get_hardware(m.hardware), cat.get_model(m.model), cat.get_recipe(m.precision)
        assert m.serving in SERVING
    assert len({m.source_id for m in rows}) >= 6


def test_issue11_rows_are_merged_unfitted():
    """The 1,156 staged issue-11 rows (docs/measurements.md) are in the dataset, marked calibrate: no, with the
    extra columns; the 579 rows fitted before are unchanged in number. Rows of sources added later (docs/model-notes.md,
    "The issue-11 rows") are unfitted too and counted apart."""
    later = {"lmsys-sglang-gptoss": 4, "amd-atom-oot-ci": 11, "gpustack-perf-lab": 3,
             "tenstorrent-gpu-ref": 6, "vllm-issue-30326": 2,
             "sglang-cookbook": 30 + 9 + 2, "amd-atom-recipes": 22,
             "nvidia-nim-benchmarking": 5,  # source_id -> rows (added 2026-12-05)
             "amd-rocm-perf-results": 251, "amd-rocm-blog-mi300x-bestpractice-2025": 34,
             "amd-rocm-blog-vllm-optimize-2024": 2, "oracle-oci-mi300x-405b-2024": 11,
             "moreh-mif-dsr1-mi300x-2025": 6,  # (added 2026-12-06, round 7)
             "sglang-cookbook-dsv4": 8, "vllm-blog-rocm-attn-2026": 6,
             "amd-rocm-blog-wideep-mi300x-2025": 2,  # (added 2026-12-06, round 21; 9 more sglang-cookbook rows)
             "benhamm-gist-sglang-b200-2026-02": 4, "gpustack-perf-lab-sglang": 1,
             "amd-rocm-blog-di-glm51-mi300x-2026": 24, "amd-rocm-blog-kimi-k25-mi300x-2026": 2,
             "amd-rocm-blog-kimi-k25-w4a8-mi325x-2026": 6, "amd-rocm-blog-kimi-k25-eagle3-mi325x-2026": 3,
             "amd-rocm-blog-kimi-k25-mxfp4-atom-mi355x-2026": 2,
             "amd-atom-ci-dsr1-fp4-mtp-2026-05": 10, "trtllm-v1.2": 83,
             "verda-cc-b300-2026": 17,  # (added 2026-12-07, round 23)
             "sglang-cookbook-glm52": 39, "vllm-recipes-glm5": 1, "vllm-perf-eval": 2, "vllm-pr-50231": 1,
             "vllm-blog-daocloud-glm52": 8}  # (added 2026-12-08, round 33; 2 more sglang-cookbook rows)
    rows = load_measurements()
    unfitted = [m for m in rows if not m.calibrate]
    added = [m for m in rows if m.source_id in later]
    assert {s: sum(m.source_id == s for m in added) for s in later} == later and not any(m.calibrate for m in added)
    # unfitted rows added later to a source already in: the Step-3 report's other AFD deployments (round 9,
    # 2026-12-06); vLLM's H200 decode at EP72 / EP96 and GB200 DEP8 at three workloads, LMSYS's EP72 decode (round 25)
    grown = {"stepfun-step3-2025": 3, "vllm-blog": 5, "lmsys-sglang-2025-05": 1}
    assert {s: sum(m.source_id == s and not m.calibrate for m in rows) for s in grown} == {
        "stepfun-step3-2025": 2 + 3, "vllm-blog": 8 + 5, "lmsys-sglang-2025-05": 1}
    # fitted max-throughput rows added later: LMSYS's 4K prefill beside its 1K and 2K rows (round 25)
    fitted_later = {"lmsys-sglang-2025-05": 1}
    assert sum(m.source_id == "lmsys-sglang-2025-05" and m.calibrate for m in rows) == 2 + 1
    extra = sum(grown.values())
    assert len(rows) == 579 + sum(fitted_later.values()) + 1156 + len(added) + extra
    assert len(unfitted) == 1156 + len(added) + extra
    assert sum(m.tokens_per_s_per_user is not None for m in unfitted) >= 1156 // 2
    with MEASUREMENTS_PATH.open(newline="") as fh:
        header = next(csv.reader(fh))
    assert header[:len(REQUIRED_COLUMNS)] == list(REQUIRED_COLUMNS) and set(EXTRA_COLUMNS) <= set(header)


def test_bundled_calibration_records_the_sha_of_the_data_it_fits():
    """configs/calibration.yaml's fit.data names the sha256 of the fitted rows and columns and, fitted with
    --with-fixed-concurrency, the count and sha256 of the fixed-concurrency rows as fitted; the row count matches."""
    from tokensim.perf.calibration import FIXED_CONCURRENCY_LABEL, fixed_concurrency_rows, rows_sha256
    fit = yaml.safe_load((config_dir() / "calibration.yaml").read_text())["fit"]
    every = load_measurements()
    extra = fixed_concurrency_rows(every)
    assert fit["data"] == (f"measurements.csv sha256:{calibration_sha256()} + {len(extra)} "
                           f"{FIXED_CONCURRENCY_LABEL}, sha256:{rows_sha256(extra)}")
    assert fit["rows"] == len(calibration_rows(every)) + len(extra)


def test_calibration_sha_is_the_file_sha_without_unfitted_rows_or_extra_columns(tmp_path):
    """For a file holding only the fitted rows and the required columns, the sha is the file's own; adding rows
    marked calibrate: no and the issue-11 columns leaves it unchanged; changing a fitted value changes it."""
    with MEASUREMENTS_PATH.open(newline="") as fh:
        records = list(csv.DictReader(fh))
    fitted = [r for r in records if r["calibrate"] != "no"][:3]
    plain = tmp_path / "plain.csv"
    with plain.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(REQUIRED_COLUMNS)
        writer.writerows([[r[c] for c in REQUIRED_COLUMNS] for r in fitted])
    assert calibration_sha256(plain) == hashlib.sha256(plain.read_bytes()).hexdigest()
    merged = tmp_path / "merged.csv"
    unfitted = next(r for r in records if r["calibrate"] == "no")
    with merged.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, list(records[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows([*fitted, unfitted])
    assert calibration_sha256(merged) == calibration_sha256(plain)
    changed = tmp_path / "changed.csv"
    changed.write_text(plain.read_text().replace(fitted[0]["value"], fitted[0]["value"] + "1", 1))
    assert calibration_sha256(changed) != calibration_sha256(plain)


def test_mlperf_rows_carry_dataset_input_lengths():
    """MLPerf rows give the dataset's mean input and output lengths, with how they were obtained in the notes (the
    issue-11 rows: in the assumptions column)."""
    mlperf = [m for m in load_measurements() if m.source_id.startswith("mlperf")]
    assert mlperf
    for m in mlperf:
        assert m.input_tokens > 0 and m.output_tokens > 0
        assert "input_tokens" in m.notes or "input" in m.assumptions


def test_total_metrics_are_divided_by_the_system_gpus():
    """A whole-group total is compared per GPU: TensorRT-LLM H100 TP2 6,378 tokens/s is 3,189 per GPU."""
    row = next(m for m in load_measurements() if m.id == "trtllm-v1.0-llama3.3-70b-h100-tp2-fp8-128-128")
    assert row.measured == pytest.approx(3189.0)
    result = predict_measurement(row)
    assert result["gpus"] == 2 and result["tp"] == 2
    assert result["low"] < result["predicted"] < result["high"]
    assert result["error"] == pytest.approx(result["predicted"] / 3189.0 - 1.0)


def test_summary_statistics():
    """Median and max absolute error and coverage are computed per group and overall."""
    rows = [{"error": e, "inside": i, "hardware_family": f, "model_family": "m", "precision": "p", "serving": "s"}
            for e, i, f in ((0.1, True, "a"), (-0.3, False, "a"), (0.05, True, "b"))]
    out = summarize(rows)
    assert out["summary"] == {"n": 3, "median_abs_error": pytest.approx(0.1), "max_abs_error": pytest.approx(0.3),
                              "interval_coverage": pytest.approx(2 / 3)}
    assert out["groups"]["hardware_family"]["a"]["median_abs_error"] == pytest.approx(0.2)


def test_cli_validate_json_has_rows_and_summary():
    """`tokensim validate --format json` gives rows (id, predicted, measured, error, low, high), a summary, the groups
    of issue 11 and every row it could not run with the reason: none dropped."""
    res = CliRunner().invoke(cli, ["validate", "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert {"id", "predicted", "measured", "error", "low", "high", "band", "engine"} <= set(data["rows"][0])
    assert {"n", "median_abs_error", "max_abs_error", "interval_coverage"} <= set(data["summary"])
    assert data["summary"]["n"] == len(data["rows"])
    assert len(data["rows"]) + len(data["not_run"]) == len(load_measurements())
    assert sum(data["not_run_by_reason"].values()) == len(data["not_run"])
    assert all(r["reason"] in REASONS and r["detail"] for r in data["not_run"])
    assert set(data["groups"]) == {"hardware_family", "model_family", "precision", "serving", "band",
                                   "predicted_band", "engine", "speculative", "fitted", "run"}
    assert set(data["groups"]["band"]) <= {"<20", "20-50", "50-100", ">100", "none"}
    # speed bands are listed slowest first, as BANDS orders them, not alphabetically
    for group in ("band", "predicted_band"):
        assert list(data["groups"][group]) == [b for b in BANDS if b in data["groups"][group]]
    # predicted_band groups the same rows as band: none exactly where the row states no speed
    assert data["groups"]["predicted_band"]["none"]["n"] == data["groups"]["band"]["none"]["n"]
    assert all((r["band"] == "none") == (r["predicted_band"] == "none") for r in data["rows"])
    # issue 11: every deployment in the dataset runs through the CLI as published, none refused
    assert data["not_run"] == [] and "not run" not in res.stderr


def test_cli_validate_table_shows_groups(tmp_path):
    """The human output ends with the per-group table (n, median and max error, coverage); on the bundled file's
    first 60 rows (TensorRT-LLM's tables: Hopper among them)."""
    small = tmp_path / "m.csv"
    small.write_text("".join(MEASUREMENTS_PATH.read_text().splitlines(keepends=True)[:61]))
    res = CliRunner().invoke(cli, ["validate", "--measurements", str(small), "--no-rows"])
    assert res.exit_code == 0
    assert "interval_coverage" in res.stdout and "hardware_family" in res.stdout and "hopper" in res.stdout


def _one_row_file(tmp_path, **cells):
    """A measurement file holding the bundled file's first row with ``cells`` changed (as text)."""
    with MEASUREMENTS_PATH.open(newline="") as fh:
        reader = csv.DictReader(fh)
        row = next(reader)
        header = reader.fieldnames
    row.update(cells)
    path = tmp_path / "m.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, header)
        writer.writeheader()
        writer.writerow(row)
    return path


def test_bad_dataset_is_a_user_error_naming_line_and_column(tmp_path):
    """A malformed row exits 2 naming the file, the line and the column; no traceback."""
    path = _one_row_file(tmp_path, system_gpus="two")
    with pytest.raises(UserError, match="line 2, column system_gpus"):
        load_measurements(path)
    res = CliRunner().invoke(cli, ["validate", "--measurements", str(path)])
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_prefix_cache_hits_enter_the_workload_and_are_checked(tmp_path):
    """A row's cache_hit_rate is the workload's: a prefill row counting cache-hit tokens is predicted as predict does
    with Workload(cache_hit_rate=...), which counts them too (1/(1 - h) input tokens per computed one); a share of 1
    or more is refused naming the line and column."""
    m = _row(serving="disaggregated-prefill", metric="input_tokens_per_s_per_gpu", concurrency=None,
             input_tokens=4384.0, output_tokens=1211.0, cache_hit_rate=0.563, tp=1, ep=8)
    assert m.workload.cache_hit_rate == 0.563 and _row().workload.cache_hit_rate == 0.0
    res = predict("B200", "deepseek-r1", "fp8", Workload(4384, 1211, cache_hit_rate=0.563), mode="prefill", gpus=8,
                  tp=1, ep=8)
    assert predict_measurement(m)["predicted"] == pytest.approx(res.input_tokens_per_s_per_gpu, rel=1e-12)
    cold = predict("B200", "deepseek-r1", "fp8", Workload(4384, 1211), mode="prefill", gpus=8, tp=1, ep=8)
    assert res.input_tokens_per_s_per_gpu > cold.input_tokens_per_s_per_gpu
    with pytest.raises(UserError, match="line 2, column cache_hit_rate"):
        load_measurements(_one_row_file(tmp_path, cache_hit_rate="1.2"))


def test_prefill_chunk_size_enters_the_workload_and_is_checked(tmp_path):
    """A row's prefill_chunk_tokens is the workload's (0: unchunked), as --prefill-chunk-tokens: LMSYS's 128K TTFT
    rows run unchunked or in 32000-token chunks over a PP4 prefill worker; blank keeps the calibration's. A fraction
    or a negative size is refused naming the line and column."""
    m = _row(serving="disaggregated-online", metric="ttft_s", system_gpus=8, hardware="GB300",
             precision="fp4-experts-fp8", input_tokens=128000.0, output_tokens=8000.0, prefill_pool="1xPP4",
             decode_pool="1xTP4", concurrency=1, prefill_chunk_tokens=32000.0)
    assert m.workload.prefill_chunk_tokens == 32000 and _row().workload.prefill_chunk_tokens is None
    res = predict("GB300", "deepseek-r1", "fp4-experts-fp8", Workload(128000, 8000, prefill_chunk_tokens=32000),
                  mode="disaggregated", concurrency=1, prefill="1xPP4", decode="1xTP4")
    assert predict_measurement(m)["predicted"] == pytest.approx(res.ttft_s, rel=1e-12)
    unchunked = predict_measurement(replace(m, prefill_chunk_tokens=0.0))["predicted"]
    assert unchunked > 1.5 * res.ttft_s  # one 128K pass on one stage against four chunks overlapping on four
    assert load_measurements(_one_row_file(tmp_path, prefill_chunk_tokens="0"))[0].prefill_chunk_tokens == 0
    for bad in ("1.5", "-8192"):
        with pytest.raises(UserError, match="line 2, column prefill_chunk_tokens"):
            load_measurements(_one_row_file(tmp_path, prefill_chunk_tokens=bad))


def test_rows_that_state_their_chunk_size_run_at_it():
    """Every row whose notes or assumptions quote the engine's token budget per prefill pass (SGLang
    --chunked-prefill-size, vLLM's or ATOM's --max-num-batched-tokens, TensorRT-LLM's max_num_tokens) carries it in
    prefill_chunk_tokens (SGLang's -1, unchunked, as 0; 0 too where chunked prefill is switched off, as in AMD's vLLM V0
    throughput commands), so that it does not run at the calibration's 8192. Round 33 filled 121 rows that had been
    left blank; the flag text is read here independently of the column."""
    flag = re.compile(r"(?:chunked-prefill-size|max-num-batched-tokens|max_num_tokens)[= ]+(-?\d+)")
    stated = 0
    for m in load_measurements():
        text = f"{m.notes} {m.assumptions}"
        values = {int(v) for v in flag.findall(text)}
        if not values:
            continue
        stated += 1
        assert len(values) == 1, (m.id, values)
        (value,) = values
        off = "--enable-chunked-prefill False" in text
        assert m.prefill_chunk_tokens == (0 if off else max(value, 0)), (m.id, value, m.prefill_chunk_tokens)
    assert stated >= 188  # 121 filled in round 33 and 67 that carried it before, besides round 33's new rows


def test_sglang_rows_of_dsa_models_run_the_engines_kv_cache_default():
    """SGLang runs DeepSeek Sparse Attention models (its is_deepseek_nsa: DeepSeek-V3.2, and GLM-5's
    GlmMoeDsaForCausalLM since PR #18521) with kv_cache_dtype auto turned into fp8_e4m3 on compute capability 10 and
    above and into bfloat16 below (python/sglang/srt/server_args.py). Every SGLang row of such a model on NVIDIA
    hardware that sets no --kv-cache-dtype therefore runs an FP8 cache on Blackwell and a BF16 one on Hopper, whatever
    its weight recipe assumes (round 34 set 15 rows)."""
    cat = load_catalog()
    flag = re.compile(r"--kv-cache-dtype[= ]")
    expected = {"hopper": "bf16", "blackwell": "fp8", "blackwell-ultra": "fp8"}
    checked = 0
    for m in load_measurements():
        try:  # names or aliases; rows of models or hardware outside the catalogue are not run at all
            model, family = cat.get_model(m.model), cat.get_hardware(m.hardware).family
        except UserError:
            continue
        if (not model.sparse_topk_tokens or model.attention_type != "mla" or "sglang" not in m.engine
                or family not in expected or flag.search(f"{m.notes} {m.assumptions}")):
            continue
        kv = m.kv_cache_precision or cat.get_recipe(m.precision).kv_cache.name
        assert kv == expected[family], (m.id, kv)
        checked += 1
    assert checked >= 73  # the 15 round 34 set and 58 whose recipe's format was already the engine's


def test_expert_load_balancing_enters_the_workload_and_is_checked(tmp_path):
    """A row's expert_load_balancing is the workload's, as --expert-load-balancing: blank (not stated) and no run the
    engines' default (off); yes balances the EP ranks and the DEP8 prediction rises (the busiest rank does less). A
    value other than yes or no is refused naming the line and column. The rows that say yes are those whose sources
    name EPLB as run (DeepSeek's fleet, LMSYS's 96-H100 and Kimi-K2 posts, vLLM's wide-EP posts, three InferenceMAX
    recipes named eplb256)."""
    dep8 = dict(tp=1, ep=8, attention_dp=8, concurrency=256)
    blank, off, on = (_row(**dep8, expert_load_balancing=v) for v in (None, False, True))
    assert not blank.workload.expert_load_balancing and not off.workload.expert_load_balancing
    assert on.workload.expert_load_balancing
    assert predict_measurement(blank)["predicted"] == predict_measurement(off)["predicted"]
    assert predict_measurement(on)["predicted"] > predict_measurement(off)["predicted"]
    assert load_measurements(_one_row_file(tmp_path, expert_load_balancing="yes"))[0].expert_load_balancing is True
    with pytest.raises(UserError, match="line 2, column expert_load_balancing"):
        load_measurements(_one_row_file(tmp_path, expert_load_balancing="sometimes"))
    said = {m.source_id for m in load_measurements() if m.expert_load_balancing}
    assert said == {"deepseek-day6", "lmsys-sglang-2025-05", "lmsys-sglang-kimi-k2", "vllm-blog", "inferencemax-2026"}


def test_missing_column_is_reported(tmp_path):
    """A dataset without a required column is refused with the missing column named."""
    text = MEASUREMENTS_PATH.read_text().splitlines()
    header = text[0].split(",")
    keep = [i for i, c in enumerate(header) if c != "metric"]
    path = tmp_path / "m.csv"
    path.write_text(",".join(header[i] for i in keep) + "\n")
    with pytest.raises(UserError, match="missing: metric"):
        load_measurements(path)


def test_cli_validate_subset_fitted_is_the_calibration_rows():
    """`--subset fitted` reports exactly the rows calibrate fits, all of which run."""
    res = CliRunner().invoke(cli, ["validate", "--subset", "fitted", "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["summary"]["n"] == len(calibration_rows(load_measurements())) and data["not_run"] == []


# -- the issue-11 mapping ---------------------------------------------------------------------------------------------
def _row(**changes) -> Measurement:
    base = dict(id="t", source_id="s", source="test", date="2026-01-01", confidence="A", hardware="B200",
                system_gpus=8, instance_gpus=8, tp=8, ep=8, model="deepseek-r1", precision="fp8",
                kv_cache_precision=None, serving="aggregated-online", input_tokens=1024.0, output_tokens=1024.0,
                context_tokens=None, concurrency=64, slo=None, metric="output_tokens_per_s_per_gpu", value=100.0,
                calibrate=False)
    return Measurement(**{**base, **changes})


def test_speed_bands_have_inclusive_lower_edges():
    """Issue 11's bands: <20, 20-50, 50-100, >100 tokens/s per user; none for no stated speed."""
    assert [speed_band(v) for v in (0.5, 19.99, 20.0, 49.9, 50.0, 99.99, 100.0, 400.0)] == [
        "<20", "<20", "20-50", "20-50", "50-100", "50-100", ">100", ">100"]
    assert speed_band(None) == speed_band(math.nan) == "none"


def test_slo_text_is_read_as_bounds():
    """MLPerf's 'p99 TTFT <= 2 s; p99 TPOT <= 80 ms' is max_ttft_s 2, max_tpot_s 0.08; key=value pairs as before."""
    assert parse_slo("p99 TTFT <= 2 s; p99 TPOT <= 80 ms") == SLO(max_ttft_s=2.0, max_tpot_s=0.08)
    assert parse_slo("TTFT < 1.5 s; TPOT < 50 ms") == SLO(max_ttft_s=1.5, max_tpot_s=0.05)
    assert parse_slo("min_tokens_per_s_per_user=50;max_ttft_s=2") == SLO(50.0, 2.0)
    with pytest.raises(ValueError):
        parse_slo("p99 latency <= 2 s")


def test_client_concurrency_is_spread_over_the_instances():
    """A 16-GPU pool of four 4-GPU instances at client concurrency 8 runs 2 sequences per instance; a stated speed
    without concurrency or SLO becomes the SLO floor."""
    m = _row(system_gpus=16, instance_gpus=4, tp=4, ep=4, concurrency=8)
    assert plan_measurement(m)["concurrency"] == 2
    floor = plan_measurement(_row(concurrency=None, tokens_per_s_per_user=42.0))
    assert floor["concurrency"] is None and floor["slo"] == SLO(min_tokens_per_s_per_user=42.0)


@pytest.mark.parametrize("clients", [4, 12, 20])
def test_clients_that_do_not_split_evenly_average_over_the_instances(clients):
    """Eight 8-GPU instances (64 GPUs, aggregated DEP8) and a number of clients that is not a multiple of 8: a
    balanced router gives `clients mod 8` instances one sequence more than the rest. The deployment's output tokens/s
    per GPU is the average over the instances of one instance's, each worked out as a single instance at its own
    batch (4 clients: half the instances serve 1 sequence and half are idle, 0.5 x v(1); 12: 0.5 v(2) + 0.5 v(1); 20:
    0.5 v(3) + 0.5 v(2)). Rounding 4/8 up to one sequence per instance had put 2x the throughput on such rows
    (InferenceMAX's 1 client over 7 and 9 TP8 decode instances: +773% and +1,048%)."""
    m = _row(system_gpus=64, instance_gpus=8, tp=1, ep=8, concurrency=clients)

    def one_instance(batch):
        return predict_measurement(replace(m, system_gpus=8, concurrency=batch))["predicted"]

    lower, frac = divmod(clients / 8, 1)
    expected = frac * one_instance(int(lower) + 1) + (1 - frac) * (one_instance(int(lower)) if lower else 0.0)
    got = predict_measurement(m)
    assert got["predicted"] == pytest.approx(expected, rel=1e-12) and got["concurrency"] == clients / 8
    assert got["low"] < got["predicted"] < got["high"]


def test_total_tokens_per_gpu_counts_input_and_output():
    """tokens_per_s_per_gpu (input + output per GPU) at 8k/1k in aggregated serving is 9x the output rate: the model
    processes 8,192 input tokens per 1,024 output tokens."""
    m = _row(input_tokens=8192.0, metric="tokens_per_s_per_gpu", concurrency=16)
    total = predict_measurement(m)["predicted"]
    out = predict_measurement(replace(m, metric="output_tokens_per_s_per_gpu"))["predicted"]
    assert total == pytest.approx(9.0 * out)


def test_decode_gpu_metric_is_compared_per_decode_gpu():
    """InferenceMAX's per-decode-GPU output rate is compared with the predicted output rate over the decode share of
    GPUs: output per GPU / (1 - prefill GPU share)."""
    m = _row(serving="disaggregated-online", metric="output_tokens_per_s_per_decode_gpu", system_gpus=16,
             prefill_pool="1xTEP8", decode_pool="1xTEP8", concurrency=32)
    res = predict("B200", "deepseek-r1", "fp8", Workload(1024, 1024), mode="disaggregated", concurrency=32, gpus=8,
                  tp=8, ep=8)
    assert predict_measurement(m)["predicted"] == pytest.approx(
        res.output_tokens_per_s_per_gpu / (1.0 - res.prefill_gpu_share))


def test_pools_of_their_own_run_as_published():
    """A disaggregated deployment whose prefill and decode pools differ (3 x TEP4 prefill, 1 x DEP32 decode) runs
    through predict's pools, as `tokensim perf --prefill 3xTEP4 --decode 1xDEP32` does, and its per-decode-GPU rate is
    the output rate over the decode share of the 44 GPUs."""
    m = _row(serving="disaggregated-online", metric="output_tokens_per_s_per_decode_gpu", system_gpus=44,
             prefill_pool="3xTEP4", decode_pool="1xDEP32", concurrency=64)
    res = predict("B200", "deepseek-r1", "fp8", Workload(1024, 1024), mode="disaggregated", concurrency=64,
                  prefill="3xTEP4", decode="1xDEP32")
    assert res.prefill_gpu_share == pytest.approx(12 / 44)
    assert predict_measurement(m)["predicted"] == pytest.approx(res.output_tokens_per_s_per_gpu / (1 - 12 / 44))


def test_pipeline_parallel_prefill_pools_run_as_published():
    """A row with pipeline-parallel prefill workers (LMSYS's long-context GB300 recipes: 3 x PP4 prefill, 1 x DEP8
    decode) runs through predict's pools as `tokensim perf --prefill 3xPP4 --decode 1xDEP8` does."""
    m = _row(serving="disaggregated-online", metric="output_tokens_per_s_per_gpu", system_gpus=20,
             hardware="GB300", precision="fp4-experts-fp8", input_tokens=128000.0, output_tokens=8000.0,
             prefill_pool="3xPP4", decode_pool="1xDEP8", concurrency=512)
    plan = plan_measurement(m)
    assert (plan["prefill"], plan["decode"], plan["concurrency"]) == ("3xPP4", "1xDEP8", 512)
    res = predict("GB300", "deepseek-r1", "fp4-experts-fp8", Workload(128000, 8000), mode="disaggregated",
                  concurrency=512, prefill="3xPP4", decode="1xDEP8")
    assert predict_measurement(m)["predicted"] == pytest.approx(res.output_tokens_per_s_per_gpu)


def test_unpublished_instance_counts_are_the_rate_matched_ones():
    """Pools whose kind and size are published but not their count (?xTEP4 prefill, ?xTEP8 decode) run with the
    counts tokensim's rate matching chooses, and the plan says so: the client concurrency split over n decode
    instances, the prefill count the rate-matched ratio of GPUs rounded (at least 1), and n the fewest decode
    instances within 95% of the best output tokens/s per GPU over n = 1..16. A published count is kept."""
    m = _row(serving="disaggregated-online", metric="tokens_per_s_per_gpu", prefill_pool="?xTEP4",
             decode_pool="?xTEP8", concurrency=256, hardware="GB200", precision="fp4-experts-fp8")
    plan = plan_measurement(m)
    assert plan["pool_counts"] == RATE_MATCHED
    n_pre, n_dec = int(plan["prefill"].split("x")[0]), int(plan["decode"].split("x")[0])
    assert plan["prefill"].endswith("xTEP4") and plan["decode"].endswith("xTEP8")
    assert plan["concurrency"] == max(1, round(256 / n_dec))

    def deployment(n):
        c = max(1, round(256 / n))
        share = predict(m.hardware, m.model, m.precision, m.workload, mode="disaggregated", concurrency=c,
                        prefill="?xTEP4", decode="?xTEP8").prefill_gpu_share
        pre = max(1, round(share / (1 - share) * n * 8 / 4))
        res = predict(m.hardware, m.model, m.precision, m.workload, mode="disaggregated", concurrency=c,
                      prefill=f"{pre}xTEP4", decode=f"{n}xTEP8")
        return pre, res.output_tokens_per_s_per_gpu

    table = {n: deployment(n) for n in range(1, 17)}
    best = max(t for _, t in table.values())
    assert table[n_dec][0] == n_pre and table[n_dec][1] >= 0.95 * best
    assert all(table[n][1] < 0.95 * best for n in range(1, n_dec))
    got = predict_measurement(m)
    assert (got["pool_counts"], got["prefill_pool"], got["decode_pool"]) == (RATE_MATCHED, f"{n_pre}xTEP4",
                                                                            f"{n_dec}xTEP8")
    kept = plan_measurement(replace(m, prefill_pool="2xTEP4"))
    assert kept["prefill"] == "2xTEP4" and kept["pool_counts"] == RATE_MATCHED


def test_rows_refused_before_run_physically():
    """Attention data-parallel with the experts tensor-parallel (tp=1, ep=1 on 8 GPUs: DTP8) runs; a client
    concurrency beyond the memory limit is served at the limit with the rest waiting; a row whose engine offloaded
    weights to Grace memory runs with offload_weights on GB200."""
    dtp = predict_measurement(_row(tp=1, ep=1, attention_dp=8))
    assert (dtp["gpus"], dtp["tp"], dtp["ep"]) == (8, 1, 1)
    crowd = _row(tp=8, ep=1, input_tokens=8192.0, concurrency=512)
    got = predict_measurement(crowd)
    assert got["concurrency"] < 512 and got["waiting_sequences"] == 512 - got["concurrency"]
    offload = _row(hardware="GB200", precision="fp4-experts-fp8", serving="disaggregated-prefill",
                   metric="input_tokens_per_s_per_gpu", instance_gpus=2, tp=1, ep=2, concurrency=None,
                   prefill_pool="4xDEP2", decode_pool="1xDEP8", notes="prefill weights partly offloaded to Grace")
    assert plan_measurement(offload)["offload_weights"] is True
    assert predict_measurement(offload)["predicted"] > 0
    with pytest.raises(NotRunnable, match="does not fit on 2x GB200"):
        predict_measurement(replace(offload, notes=""))


@pytest.mark.parametrize("changes, reason", [
    (dict(model="no-such-model"), "model not in the catalogue"),
    (dict(serving="production-fleet", prefill_pool="DEP32 units", decode_pool="?xDEP144"),
     "pool layout not published as <n>x<kind><gpus>"),
    (dict(serving="disaggregated-online", prefill_pool="PP prefill (size not stated)", decode_pool="?xTEP4"),
     "pool layout not published as <n>x<kind><gpus>"),
    (dict(hardware="B200", precision="fp4-experts-fp8", instance_gpus=1, tp=1, ep=1,
          notes="weights partly offloaded"), "predict refused the deployment"),  # no coherent host link on B200
    (dict(serving="disaggregated-decode", metric="tokens_per_s_per_gpu"), "metric not mapped for the serving mode"),
    (dict(input_tokens=math.nan), "workload or GPU count not published"),
    (dict(tp=3, ep=8), "predict refused the deployment"),
])
def test_rows_that_cannot_run_carry_the_reason(changes, reason):
    """Each kind of row no predict call reproduces raises NotRunnable with its reason; validate lists it."""
    m = _row(**changes)
    with pytest.raises(NotRunnable) as info:
        predict_measurement(m)
    assert info.value.reason == reason
    out = validate([m, _row(id="ok")])
    assert [r["id"] for r in out["rows"]] == ["ok"] and out["not_run_by_reason"] == {reason: 1}


def test_a_fleet_average_runs_as_rate_matched_pools():
    """A live-traffic fleet average (DeepSeek's Day 6) is predicted as its disaggregated pools, counts rate-matched,
    at the stated per-user speed; the reading holds on the source's own figures: its 24-h averages per prefill node
    (input tokens/s, cache hits included) and per decode node (output tokens/s), combined in the day's input:output
    ratio, give the fleet average its totals give (1,071 against 1,072 output tokens/s per GPU)."""
    rows = {m.id: m for m in load_measurements() if m.source_id == "deepseek-day6"}
    fleet = rows["deepseek-day6-h800-fleet-average"]
    plan = plan_measurement(fleet)
    assert plan["mode"] == "disaggregated" and plan["pool_counts"] == RATE_MATCHED
    assert plan["prefill"].endswith("xDEP32") and plan["decode"].endswith("xDEP144")
    assert plan["slo"] == SLO(min_tokens_per_s_per_user=21.0)
    prefill_per_gpu = rows["deepseek-day6-h800-prefill-node"].measured
    decode_per_gpu = rows["deepseek-day6-h800-decode-node"].measured
    assert (prefill_per_gpu, decode_per_gpu) == (73_700 / 8, 14_800 / 8)
    input_per_output = fleet.input_tokens / fleet.output_tokens
    assert input_per_output == pytest.approx(608 / 168, rel=1e-3)  # the day's 608B input and 168B output tokens
    combined = 1.0 / (input_per_output / prefill_per_gpu + 1.0 / decode_per_gpu)
    assert combined == pytest.approx(fleet.measured, rel=0.002) and fleet.measured == 1072.0
    assert predict_measurement(fleet)["serving"] == "production-fleet"


def test_speculative_decoding_is_modelled_only_when_published():
    """Draft tokens with a published acceptance (a range: its midpoint) enter the workload; MTP without a draft
    length, or with one the model has no sourced default for, runs without speculation and is grouped as not
    modelled."""
    m = _row(mtp_draft_tokens=3, mtp_acceptance_length="2.3-2.5")
    assert m.speculative == "modelled"
    assert m.workload.speculative_draft_tokens == 3 and m.workload.speculative_acceptance_length == pytest.approx(2.4)
    no_default = _row(mtp_draft_tokens=7)  # deepseek-v3's catalogue defaults stop at 5 draft tokens
    assert no_default.speculative == "not modelled" and no_default.workload.speculative_draft_tokens == 0
    glm = _row(model="glm-5.2", mtp_draft_tokens=5)  # no sourced default installed for GLM-5.2
    assert glm.speculative == "not modelled" and glm.workload.speculative_draft_tokens == 0
    assert _row(assumptions="MTP speculative decoding (spec_method=mtp)").speculative == "not modelled"
    assert _row().speculative == "none"
    # a known draft length whose acceptance the row marks unknown (random-token prompts): no default, no speculation
    unknown = _row(mtp_draft_tokens=2, mtp_acceptance_length="unknown")
    assert unknown.speculative == "not modelled" and unknown.workload.speculative_draft_tokens == 0
    assert _row(mtp_draft_tokens=2).speculative == "default acceptance"  # the same row with the field blank


def test_a_published_draft_length_without_acceptance_takes_the_catalogue_default():
    """A DeepSeek-R1 row naming MTP draft 3 without an acceptance runs with 2.82 accepted tokens per step: the
    TensorRT-LLM tech blog 1 table 'Autoregressive MTP Layers' (MTP 3: acceptance rate 2.82), read by hand; the
    prediction is the one with that acceptance published in the row."""
    bare = _row(mtp_draft_tokens=3)
    assert bare.speculative == "default acceptance"
    assert bare.workload.speculative_draft_tokens == 3 and bare.workload.speculative_acceptance_length == 2.82
    published = replace(bare, mtp_acceptance_length="2.82")
    assert published.speculative == "modelled"
    assert predict_measurement(bare)["predicted"] == predict_measurement(published)["predicted"]
    # draft 1: the same table's 1.92 (the DeepSeek-V3 Technical Report's 85-90% second-token acceptance: 1.85-1.90)
    assert _row(mtp_draft_tokens=1).workload.speculative_acceptance_length == 1.92
    assert _row(model="deepseek-v3.2", mtp_draft_tokens=1).speculative == "default acceptance"


def test_organisations_are_one_source_group():
    """The three SemiAnalysis source_ids are one leave-one-source-out unit, the LMSYS posts another; the
    TensorRT-LLM perf-overview versions stay separate (the fitted calibration's partition is unchanged)."""
    groups = {s: _row(source_id=s).source_group for s in ("inferencemax-2026", "inferencemax-gha-gptoss",
                                                          "inferencex-blog", "lmsys-sglang-2025-05",
                                                          "lmsys-sglang-kimi-k2", "trtllm-v1.0", "trtllm-v0.20")}
    assert groups["inferencemax-2026"] == groups["inferencemax-gha-gptoss"] == groups["inferencex-blog"]
    assert groups["lmsys-sglang-2025-05"] == groups["lmsys-sglang-kimi-k2"] != groups["inferencex-blog"]
    assert groups["trtllm-v1.0"] != groups["trtllm-v0.20"]
    # the SGLang cookbook is the SGLang project's, as the LMSYS posts; every AMD document is AMD's (since round 7)
    assert _row(source_id="sglang-cookbook").source_group == groups["lmsys-sglang-2025-05"]
    amd = {_row(source_id=s).source_group for s in ("amd-atom-oot-ci", "amd-atom-recipes", "amd-rocm-blog-glm52",
                                                    "amd-rocm-perf-results", "amd-rocm-blog-mi300x-bestpractice-2025",
                                                    "amd-rocm-blog-vllm-optimize-2024")}
    assert len(amd) == 1 and amd != {_row(source_id="oracle-oci-mi300x-405b-2024").source_group}
    fitted = calibration_rows(load_measurements())
    assert len({m.source_group for m in fitted}) == len({m.source_id for m in fitted})


def test_unfitted_rows_may_leave_gpus_blank_but_fitted_rows_may_not(tmp_path):
    """A blank system_gpus is allowed only on a row marked calibrate: no."""
    with MEASUREMENTS_PATH.open(newline="") as fh:
        reader = csv.DictReader(fh)
        row, header = next(reader), reader.fieldnames
    path = tmp_path / "m.csv"
    for flag, ok in (("no", True), ("", False)):
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, header)
            writer.writeheader()
            writer.writerow({**row, "system_gpus": "", "calibrate": flag})
        if ok:
            assert load_measurements(path)[0].system_gpus == 0
        else:
            with pytest.raises(UserError, match="column system_gpus"):
                load_measurements(path)


# -- the validated envelope -------------------------------------------------------------------------------------------
def test_envelope_counts_rows_per_family_and_band(tmp_path):
    """Rows per hardware family x model family x band: two H100 and one H200 Llama rows at 30 and 45 tokens/s per
    user are 3 hopper/llama/20-50 rows; an uncatalogued model is not counted; a blank speed is band none."""
    path = tmp_path / "m.csv"
    path.write_text("hardware,model,tokens_per_s_per_user\nH100,llama-3.3-70b,30\nH100,llama-3.1-8b,45\n"
                    "H200,llama-3.3-70b,45\nH200,no-such-model,45\nH200,llama-3.3-70b,\n")
    counts = envelope_counts(str(path))
    assert counts == {("hopper", "llama", "20-50"): 3, ("hopper", "llama", "none"): 1}


def test_envelope_keeps_the_most_sequences_per_gpu_measured(tmp_path):
    """The most sequences per GPU per cell: 64 clients on 8 GPUs (8) and 48 on 4 (12) -> 12; a row without
    concurrency or GPUs adds nothing; a cell with no stated concurrency has None."""
    path = tmp_path / "m.csv"
    path.write_text("hardware,model,tokens_per_s_per_user,concurrency,system_gpus\n"
                    "H100,llama-3.3-70b,30,64,8\nH200,llama-3.3-70b,45,48,4\nH200,llama-3.3-70b,40,,8\n"
                    "H100,llama-3.1-8b,120,,\n")
    assert envelope_sequences_per_gpu("hopper", "llama", "20-50", str(path)) == 12.0
    assert envelope_sequences_per_gpu("hopper", "llama", ">100", str(path)) is None
    assert envelope_counts(str(path)) == {("hopper", "llama", "20-50"): 3, ("hopper", "llama", ">100"): 1}


def test_more_sequences_per_gpu_than_measured_is_an_extrapolation():
    """DeepSeek-V3 FP8 on 8 H200 as TP8 (a layout Hopper DeepSeek rows ran), 1k/1k, at fixed client concurrencies
    from 1 to 128: each point is an extrapolation exactly when its cell (Hopper x DeepSeek x the point's band) has
    fewer than 10 rows or the point serves more sequences per GPU than the cell's most (read here from the CSV,
    independently); at 17 and 18 users (2.1-2.3 per GPU at 50-100 tokens/s per user, where Hopper DeepSeek rows served
    at most 2) the point is outside on the second count alone, at 8 and 64 it is inside."""
    cat = load_catalog()
    most: dict[str, float] = {}
    with MEASUREMENTS_PATH.open(newline="") as fh:
        for r in csv.DictReader(fh):
            try:
                fam = cat.get_hardware(r["hardware"]).family, cat.get_model(r["model"]).family
            except UserError:
                continue
            if fam != ("hopper", "deepseek") or not r["concurrency"] or not r["system_gpus"]:
                continue
            band = speed_band(float(r["tokens_per_s_per_user"]) if r["tokens_per_s_per_user"] else None)
            most[band] = max(most.get(band, 0.0), float(r["concurrency"]) / float(r["system_gpus"]))
    seen = set()
    for concurrency in (1, 8, 17, 18, 64, 128):
        p = predict("H200", "deepseek-v3", "fp8", Workload(1024, 1024), gpus=8, tp=8, ep=1, concurrency=concurrency)
        beyond = p.concurrency / 8 > most.get(p.speed_band, math.inf)
        assert p.envelope_max_sequences_per_gpu == most.get(p.speed_band) and p.envelope_layout_rows > 0
        assert p.extrapolation is (p.envelope_rows < 10 or beyond)
        seen.add("beyond" if beyond and p.envelope_rows >= 10 else "inside" if not p.extrapolation else "few")
    assert {"beyond", "inside"} <= seen


def test_a_layout_kind_no_row_ran_is_an_extrapolation(tmp_path):
    """Layout kinds: TP8 (tp = gpus, ep 1), DTP8 (tp = ep = 1), TEP8, DEP8, else mixed. Counted per hardware family x
    model family from a row's decode pool (``2xDEP16``) or its sizes; a row with neither is not counted. DeepSeek-V3 on
    8 B300 as DTP8 (attention data-parallel, experts tensor-parallel): no Blackwell Ultra row of its envelope family
    (DeepSeek with latent attention; V4's compressed attention is a family of its own, and one V4-Pro row ran DTP8)
    ran it (read from the CSV here), so the point is an extrapolation whatever its batch; as DEP8 such rows exist."""
    assert [layout_kind(*x) for x in ((8, 8, 1), (8, 1, 1), (8, 8, 8), (8, 1, 8), (8, 2, 4), (1, 1, 1))] == [
        "TP", "DTP", "TEP", "DEP", "mixed", "TP"]
    path = tmp_path / "m.csv"
    path.write_text("hardware,model,instance_gpus,tp,ep,decode_pool\n"
                    "B300,deepseek-v3,8,1,8,\nB300,deepseek-v3,8,1,8,2xDEP16\nB300,deepseek-v3,8,8,1,\n"
                    "B300,deepseek-v3,,,,\n")
    assert envelope_layout_rows("blackwell-ultra", "deepseek", "DEP", str(path)) == 2
    assert envelope_layout_rows("blackwell-ultra", "deepseek", "TP", str(path)) == 1
    assert envelope_layout_rows("blackwell-ultra", "deepseek", "DTP", str(path)) == 0
    cat = load_catalog()
    dtp_rows = 0
    with MEASUREMENTS_PATH.open(newline="") as fh:
        for r in csv.DictReader(fh):
            try:
                family = cat.get_model(r["model"]).envelope_family
            except UserError:
                continue
            if r["hardware"] not in ("B300", "GB300") or family != "deepseek":
                continue
            pool = (r["decode_pool"] or "").upper()
            dtp_rows += "DTP" in pool or (not pool and r["tp"] == "1" and r["ep"] == "1"
                                          and r["instance_gpus"] not in ("", "1"))
    assert dtp_rows == 0
    dtp = predict("B300", "deepseek-v3", "nvfp4", Workload(1024, 1024), gpus=8, tp=1, ep=1, concurrency=8)
    dep = predict("B300", "deepseek-v3", "nvfp4", Workload(1024, 1024), gpus=8, tp=1, ep=8, concurrency=8)
    assert dtp.envelope_layout_rows == 0 and dtp.extrapolation is True
    assert dep.envelope_layout_rows > 0


def test_prediction_says_whether_it_extrapolates():
    """A max-throughput Llama 3.3 70B point on H200 is band none, inside the envelope (hundreds of TensorRT-LLM
    rows); every prediction reports its band and the rows behind it, extrapolation when fewer than 10."""
    p = predict("H200", "llama-3.3-70b", "fp8", Workload(1000, 1000))
    cat = load_catalog()

    def families(r):
        try:
            return cat.get_hardware(r["hardware"]).family, cat.get_model(r["model"]).family
        except UserError:
            return None

    with MEASUREMENTS_PATH.open(newline="") as fh:
        hopper_llama_none = sum(1 for r in csv.DictReader(fh)
                                if families(r) == ("hopper", "llama") and not r["tokens_per_s_per_user"])
    assert p.speed_band == "none" and p.envelope_rows == hopper_llama_none and p.extrapolation is False
    d = p.to_dict()
    assert d["extrapolation"] is False and d["speed_band"] == "none"
    fast = predict("H100", "llama-3.1-8b", "fp8", Workload(1000, 1000), slo=SLO(min_tokens_per_s_per_user=150))
    assert fast.speed_band == speed_band(fast.tokens_per_s_per_user)
    assert fast.extrapolation == (fast.envelope_rows < 10)


def test_cli_perf_notes_an_extrapolation_on_stderr():
    """`tokensim perf` writes one stderr note when the point is outside the envelope, none when inside."""
    runner = CliRunner()
    inside = runner.invoke(cli, ["perf", "--hardware", "H200", "--model", "llama-3.3-70b", "--precision", "fp8",
                                 "--input-tokens", "1000", "--output-tokens", "1000", "--format", "json"])
    assert inside.exit_code == 0, inside.output
    assert json.loads(inside.stdout)["extrapolation"] is False and "extrapolation" not in inside.stderr
    outside = runner.invoke(cli, ["perf", "--hardware", "MI300X", "--model", "mixtral-8x7b", "--precision", "fp8",
                                  "--input-tokens", "1000", "--output-tokens", "1000", "--min-tokens-per-s-per-user",
                                  "150", "--format", "json"])
    assert outside.exit_code == 0, outside.output
    data = json.loads(outside.stdout)
    assert data["extrapolation"] is True and data["envelope_rows"] < 10
    assert outside.stderr.count("note: extrapolation") == 1


def _small_cross_validation_file(tmp_path, with_unknown_model=False):
    """A measurement file of two fitted rows from each of two TensorRT-LLM source groups and one unfitted server-SLO
    row (plus, if asked, a copy of it naming an unknown model); returns its path, the fitted records and the unfitted
    one."""
    with MEASUREMENTS_PATH.open(newline="") as fh:
        reader = csv.DictReader(fh)
        records, header = list(reader), reader.fieldnames
    fitted = [r for r in records if r["source_id"] == "trtllm-v1.0"][:2] + [
        r for r in records if r["source_id"] == "trtllm-v0.20"][:2]
    ok = next(r for r in records if r["calibrate"] == "no" and r["serving"] == "server-slo"
              and r["model"] == "llama-2-70b")
    bad = [{**ok, "id": "unknown-model-row", "model": "no-such-model"}] if with_unknown_model else []
    path = tmp_path / "m.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, header)
        writer.writeheader()
        writer.writerows([*fitted, ok, *bad])
    return path, fitted, ok


def test_cli_cross_validate_refits_fitted_rows_and_reports_the_rest(tmp_path):
    """`--cross-validate` on a small file: the fitted rows are predicted by fits to the other source groups, an
    unfitted row by the calibration in force (the same as plain validate), an unrunnable row is listed with its
    reason."""
    path, fitted, ok = _small_cross_validation_file(tmp_path, with_unknown_model=True)
    runner = CliRunner()
    cross = runner.invoke(cli, ["validate", "--measurements", str(path), "--cross-validate", "--format", "json",
                                "--jobs", "1"])
    plain = runner.invoke(cli, ["validate", "--measurements", str(path), "--format", "json"])
    assert cross.exit_code == 0 and plain.exit_code == 0, cross.output + plain.output
    c, p = json.loads(cross.stdout), json.loads(plain.stdout)
    assert [r["id"] for r in c["rows"]] == [r["id"] for r in p["rows"]] == [*(r["id"] for r in fitted), ok["id"]]
    assert c["rows"][-1]["predicted"] == pytest.approx(p["rows"][-1]["predicted"], rel=1e-12)
    assert c["not_run_by_reason"] == p["not_run_by_reason"] == {"model not in the catalogue": 1}


def test_calibrate_reports_the_held_out_rows_that_cross_validate_recomputes(tmp_path):
    """`calibrate --format json` carries each fitted row's held-out prediction (`cross_validation.rows`). They are
    the rows `validate --cross-validate` computes again from the written file with its own folds (two source groups
    of two rows here), field for field, so the all-row figure needs no second round of fits (round 20)."""
    path, fitted, _ = _small_cross_validation_file(tmp_path)
    runner = CliRunner()
    cal = tmp_path / "cal.yaml"
    # the folds in this process here, in a pool of workers (the default --jobs, 2 here) in validate below
    res = runner.invoke(cli, ["calibrate", "--measurements", str(path), "--out", str(cal), "--date", "2026-01-03",
                              "--format", "json", "--jobs", "1"])
    assert res.exit_code == 0, res.output
    held = json.loads(res.stdout)["cross_validation"]["rows"]
    cross = runner.invoke(cli, ["validate", "--measurements", str(path), "--calibration", str(cal),
                                "--cross-validate", "--format", "json"])
    assert cross.exit_code == 0, cross.output
    again = {r["id"]: r for r in json.loads(cross.stdout)["rows"]}
    assert [r["id"] for r in held] == [r["id"] for r in fitted]
    for r in held:
        other = again[r["id"]]
        assert r.keys() == other.keys()
        for key, value in r.items():
            if isinstance(value, float):
                assert value == pytest.approx(other[key], rel=1e-9), (r["id"], key)
            else:
                assert value == other[key], (r["id"], key)
    # the held-out prediction is not the full fit's: the file's own prediction of the same rows differs
    plain = {r["id"]: r for r in json.loads(runner.invoke(cli, ["validate", "--measurements", str(path),
                                                              "--calibration", str(cal), "--format",
                                                              "json"]).stdout)["rows"]}
    assert any(abs(plain[r["id"]]["predicted"] / r["predicted"] - 1) > 1e-6 for r in held)


def test_fixed_concurrency_rows_are_the_unfitted_rows_at_a_stated_concurrency_per_instance():
    """`calibrate --with-fixed-concurrency` adds rows marked calibrate: no that run at a stated client concurrency,
    aggregated or decode-only, output tokens/s, speculation none or published; each at its concurrency per instance
    (client concurrency over system_gpus / instance_gpus instances, rounded, at least 1)."""
    from tokensim.perf.calibration import fixed_concurrency_rows, rows_sha256

    every = load_measurements()
    rows = fixed_concurrency_rows(every)
    original = {m.id: m for m in every}
    assert rows and all(m.calibrate for m in rows)
    for m in rows:
        src = original[m.id]
        assert not src.calibrate and src.concurrency is not None and src.kind == "output"
        assert src.mode in ("aggregated", "decode") and src.speculative != "not modelled"
        if src.mode == "aggregated" and not src.decode_pool:
            instances = src.system_gpus / src.instance_gpus if src.system_gpus > src.instance_gpus else 1.0
            assert m.concurrency == max(1, round(src.concurrency / instances))
    assert len(rows_sha256(rows)) == 64 and rows_sha256(rows) != rows_sha256(rows[1:])


def test_validate_prints_the_summary_first_and_rows_only_when_asked(tmp_path):
    """Issue 16: `validate` printed about 1,500 row lines with the summary last. The group table now comes first and
    the rows only with --rows (on a three-row file: a per-row table with three rows after the summary)."""
    from click.testing import CliRunner

    from tokensim.cli import cli
    from tokensim.perf.validate import MEASUREMENTS_PATH

    lines = MEASUREMENTS_PATH.read_text(encoding="utf-8").splitlines()
    small = tmp_path / "m.csv"
    small.write_text("\n".join(lines[:4]) + "\n", encoding="utf-8")
    plain = CliRunner().invoke(cli, ["validate", "--measurements", str(small)])
    assert plain.exit_code == 0, plain.stderr
    assert "Error by group" in plain.stdout and "Predicted vs measured" not in plain.stdout
    rows = CliRunner().invoke(cli, ["validate", "--measurements", str(small), "--rows"])
    assert rows.stdout.index("Error by group") < rows.stdout.index("Predicted vs measured")


def test_calibrate_never_writes_the_installed_file_unless_asked(tmp_path):
    """`calibrate` without --out writes calibration.yaml in the current folder; --install with --out is refused
    before any fit."""
    from click.testing import CliRunner

    from tokensim.cli import cli

    res = CliRunner().invoke(cli, ["calibrate", "--install", "--out", str(tmp_path / "c.yaml")])
    assert res.exit_code == 2 and "--install and --out: allowed: one of them" in res.stderr


def test_a_later_run_of_the_same_deployment_supersedes_every_load_point_of_the_earlier_run():
    """Same source, deployment and lengths on a later date: every row of the earlier run (whatever its concurrency)
    is superseded; another precision, another source or a row without a date is not."""
    from tokensim.perf.validate import superseded_ids

    rows = [_row(id="old-c4", date="2026-05-02", concurrency=4), _row(id="old-c2", date="2026-05-02", concurrency=2),
            _row(id="new-c4", date="2026-05-21", concurrency=4), _row(id="fp4", date="2026-05-02", precision="nvfp4"),
            _row(id="other", source_id="s2", date="2026-04-01"), _row(id="undated", date="")]
    assert superseded_ids(rows) == {"old-c4", "old-c2"}


def test_a_speculative_run_does_not_supersede_a_run_without_speculation():
    """A later run of the same deployment with MTP (draft length known or not) is another deployment: the earlier run
    without MTP stays the latest of its own; a later MTP run with the same draft length supersedes an earlier one."""
    from tokensim.perf.validate import superseded_ids

    mtp = "MTP speculative decoding (spec_method=mtp)"
    rows = [_row(id="plain", date="2026-05-02"), _row(id="mtp-unknown", date="2026-05-20", assumptions=mtp),
            _row(id="mtp2-old", date="2026-05-02", mtp_draft_tokens=2),
            _row(id="mtp2-new", date="2026-05-21", mtp_draft_tokens=2)]
    assert superseded_ids(rows) == {"mtp2-old"}


def test_the_fit_leaves_superseded_runs_out():
    """The bundled file's superseded rows are reported in validate's ``run`` group and never fitted."""
    from tokensim.perf.calibration import fixed_concurrency_rows
    from tokensim.perf.validate import group_keys

    rows = load_measurements()
    superseded = {m.id for m in rows if m.superseded}
    assert superseded and not superseded & {m.id for m in fixed_concurrency_rows(rows)}
    assert all(group_keys(m)["run"] == ("superseded" if m.superseded else "latest") for m in rows[:50])


def _decomposition_script():
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "scripts" / "loso_decomposition.py"
    spec = importlib.util.spec_from_file_location("loso_decomposition", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_offset_decomposition_removes_each_groups_own_median_offset():
    """Hand case: group a predicted 2x too high twice, group b exactly. No offset: errors 1, 1, 0, 0 (median 0.5).
    One offset for all: the median log ratio is ln 2 / 2, leaving sqrt 2 - 1 twice and 1 - 1/sqrt 2 twice (median
    their mean). Per group: nothing left."""
    script = _decomposition_script()
    rows = [{"g": "a", "predicted": 2.0, "measured": 1.0}, {"g": "a", "predicted": 4.0, "measured": 2.0},
            {"g": "b", "predicted": 3.0, "measured": 3.0}, {"g": "b", "predicted": 5.0, "measured": 5.0}]
    assert script.oracle_median_abs_error(rows, None) == (0, pytest.approx(0.5))
    expected = ((math.sqrt(2) - 1) + (1 - 1 / math.sqrt(2))) / 2
    assert script.oracle_median_abs_error(rows, lambda r: ()) == (1, pytest.approx(expected))
    assert script.oracle_median_abs_error(rows, lambda r: (r["g"],)) == (2, pytest.approx(0.0, abs=1e-12))
    # the offset is the median, not the mean: three rows 2x high and two exact leave the two exact rows 50% low
    # (a mean offset, 0.6 ln 2, would leave 2^0.4 - 1 and 1 - 2^-0.6 instead), so the median left is 0
    skewed = [{"predicted": 2.0, "measured": 1.0}] * 3 + [{"predicted": 1.0, "measured": 1.0}] * 2
    assert script.oracle_median_abs_error(skewed, lambda r: ()) == (1, pytest.approx(0.0, abs=1e-12))
    assert script.oracle_median_abs_error(skewed, None) == (0, pytest.approx(1.0))


def test_offset_decomposition_script_reports_a_missing_file_with_exit_2(tmp_path, capsys):
    script = _decomposition_script()
    assert script.main([str(tmp_path / "absent.json")]) == 2
    assert "absent.json" in capsys.readouterr().err


def test_transfer_corrects_a_held_out_group_by_the_other_groups_median_offset():
    """Hand case, one cell: groups a and b predicted 2x too high (two rows each), c exact (two rows). Held out, c is
    corrected by the others' median ln 2 and ends 50% low; a is corrected by the median of b's ln 2 (twice) and c's 0
    (twice), ln 2 / 2, leaving sqrt 2 - 1, and so is b. Errors: four at sqrt 2 - 1, two at 0.5; median sqrt 2 - 1.
    With more rows required than the others have, nothing is corrected: errors 1, 1, 1, 1, 0, 0, median 1."""
    script = _decomposition_script()
    rows = [{"g": g, "cell": "x", "predicted": p, "measured": 1.0}
            for g, p in (("a", 2.0), ("a", 2.0), ("b", 2.0), ("b", 2.0), ("c", 1.0), ("c", 1.0))]
    assert script.transfer_median_abs_error(rows, "g", (("cell",),), 3) == pytest.approx(math.sqrt(2) - 1)
    assert script.transfer_median_abs_error(rows, "g", (("cell",),), 5) == pytest.approx(1.0)
    # the hierarchy falls back to a coarser cell when the finer one is short of rows: every row is in its own fine
    # cell, so the coarse one decides, as above
    fine = [{**r, "fine": i} for i, r in enumerate(rows)]
    assert script.transfer_median_abs_error(fine, "g", (("fine",), ("cell",)), 3) == pytest.approx(math.sqrt(2) - 1)


def test_source_blind_floor_by_hand():
    """One cell: source x exact three times, source y 2x too high three times, source z 9x too high once (too few rows
    to make a cell shared, but its row is in the cell). A cell that one source measured ("solo") is left out.
    As validated: errors 0 x3, 1 x3, 8; median 1, three within 12%. Pooled median of the logs (0 x3, ln 2 x3, ln 9):
    ln 2, leaving x 50% low, y exact, z 3.5; median 0.5. The fullest 12% window holds three rows, x's first: level 0,
    errors as validated. Each source's own level leaves nothing."""
    script = _decomposition_script()
    rows = ([{"c": "k", "s": "x", "predicted": 1.0, "measured": 1.0}] * 3
            + [{"c": "k", "s": "y", "predicted": 2.0, "measured": 1.0}] * 3
            + [{"c": "k", "s": "z", "predicted": 9.0, "measured": 1.0}]
            + [{"c": "solo", "s": "x", "predicted": 5.0, "measured": 1.0}] * 4)
    floor = script.source_blind_floor(rows, ("c",), "s", min_rows=3)
    assert floor["as validated"] == (7, pytest.approx(1.0), 3)
    assert floor["pooled median"] == (7, pytest.approx(0.5), 3)
    assert floor["most within tolerance"] == (7, pytest.approx(1.0), 3)
    assert floor["own source"] == (7, pytest.approx(0.0), 7)
    # a cell is shared only where two sources have min_rows rows each: with four required, none is
    assert all(n == 0 for n, _, _ in script.source_blind_floor(rows, ("c",), "s", min_rows=4).values())
    assert script.organisation("trtllm-v0.20") == script.organisation("trtllm-v1.0") != script.organisation("amd")


def test_speed_band_split_bands_each_row_by_measured_and_by_predicted_speed():
    """Hand case. A row measured at 15 tokens/s per user and predicted 2x too high is predicted at 30: band <20 by the
    measured speed, 20-50 by the predicted one. A row measured at 30 and predicted 10% low is predicted at 27: 20-50
    both ways. A row measured at 120 and predicted 50% low is predicted at 60: >100 measured, 50-100 predicted. Rows
    with an SLO, with no concurrency or a time metric are left out of both."""
    script = _decomposition_script()

    def row(speed, predicted, **extra):
        return {"tokens_per_s_per_user": speed, "concurrency": 8.0, "slo": None, "metric": "output_tokens_per_s_total",
                "predicted": predicted, "measured": 100.0, **extra}

    rows = [row(15.0, 200.0), row(30.0, 90.0), row(120.0, 50.0),
            row(15.0, 300.0, slo="TTFT<=2s"), row(15.0, 300.0, concurrency=None), row(15.0, 300.0, metric="ttft_s")]
    split = script.speed_band_split(rows)
    assert split["measured"]["<20"] == (1, pytest.approx(1.0), pytest.approx(1.0))
    assert split["measured"]["20-50"] == (1, pytest.approx(0.1), pytest.approx(-0.1))
    assert split["measured"][">100"] == (1, pytest.approx(0.5), pytest.approx(-0.5))
    assert split["measured"]["50-100"][0] == 0 and math.isnan(split["measured"]["50-100"][1])
    assert split["predicted"]["<20"][0] == 0 and split["predicted"][">100"][0] == 0
    # the 20-50 band by predicted speed holds the 2x row (error 1.0) and the 10%-low row (-0.1): medians of the two
    assert split["predicted"]["20-50"] == (2, pytest.approx(0.55), pytest.approx(0.45))
    assert split["predicted"]["50-100"] == (1, pytest.approx(0.5), pytest.approx(-0.5))


def test_predicted_band_is_the_band_of_the_predicted_speed_on_rows_that_state_one():
    """A row measured at 15 tokens/s per user is band <20; predicted at 30 it is predicted_band 20-50, at 150 >100. A
    row that states no speed is none both ways, whatever the prediction; a NaN prediction (prefill) is none. And
    validate's own rows carry the band of the speed predict reports for them (an Llama row at a stated speed)."""
    base = next(m for m in load_measurements() if m.tokens_per_s_per_user and m.concurrency and not m.slo
                and m.model == "llama-3.3-70b" and m.serving.startswith("aggregated"))
    slow = replace(base, tokens_per_s_per_user=15.0)
    assert slow.band == "<20"
    assert predicted_band(slow, 30.0) == "20-50" and predicted_band(slow, 150.0) == ">100"
    assert predicted_band(slow, math.nan) == "none"
    assert predicted_band(replace(base, tokens_per_s_per_user=None), 30.0) == "none"
    row = predict_measurement(base)
    speed = predict(base.hardware, base.model, base.precision, base.workload,
                    **{k: v for k, v in plan_measurement(base).items() if k != "pool_counts"}).tokens_per_s_per_user
    assert row["predicted_band"] == speed_band(speed) != "none"
