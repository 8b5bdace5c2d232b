"""Tests for tokensim.montecarlo._run, its kernel's mathematics (compiled for the host) and `tokensim mc`."""

from __future__ import annotations

import copy
import ctypes
import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import yaml
from _hostcc import build_host_kernels, layout_probe, probed_layout, write_host_constants
from click.testing import CliRunner

from tokensim import UserError, run_montecarlo
from tokensim._irr import IRR_MULTIPLE_SIGN_CHANGES, IRR_NO_ROOT_ON_NPV_SIDE, irr
from tokensim._irr import _scan_rates as _irr_scan_rates
from tokensim.api import run_finance
from tokensim.cli import cli
from tokensim.config.reader import config_dir
from tokensim.config.scenario import load_scenario
from tokensim.config.uncertainty import load_uncertainty
from tokensim.finance import Drivers, cashflows
from tokensim.montecarlo import FLAGS, PATH_METRICS, evaluate_paths
from tokensim.montecarlo import _kernel as _mckernel
from tokensim.montecarlo._drivers import generate_drivers
from tokensim.resolve.montecarlo import montecarlo_model as prepare

SCENARIOS = ("b300-10k-cluster", "us-b300-neocloud-usage")
TIMING = ("elapsed_s", "path_months_per_s")


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def variant(tmp_path, mutate, name="b300-10k-cluster"):
    doc = copy.deepcopy(yaml.safe_load((config_dir() / "scenarios" / f"{name}.yaml").read_text()))
    mutate(doc)
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def without_timing(d: dict) -> dict:
    return {k: v for k, v in d.items() if k not in TIMING}


@pytest.mark.parametrize("name", SCENARIOS)
def test_zero_volatility_equals_tokensim_finance(name):
    """With every volatility, drift, intensity and probability zero, each path is the deterministic case."""
    s = load_scenario(name)
    fin = run_finance(s)
    r = run_montecarlo(s, paths=2000, backend="numpy", uncertainty=load_uncertainty(s).zeroed())
    expected = {"project_irr": fin.project_irr, "equity_irr": fin.equity_irr, "npv": fin.npv,
                "payback_years_equity": fin.payback_years["equity"], "min_dscr": fin.min_dscr}
    for metric, value in expected.items():
        got = r.metrics[metric]
        if math.isnan(value):
            assert got["no_value"] == 2000 and math.isnan(got["mean"])
            continue
        assert got["mean"] == pytest.approx(value, rel=1e-9, abs=1e-12)
        assert got["std"] == 0.0 and got["p05"] == got["p95"] == got["mean"]
    assert r.prob_tenant_default == 0.0
    assert r.prob_dscr_below_covenant == float(fin.covenant_breached)
    assert r.prob_equity_irr_below_hurdle == float(not fin.meets_equity_hurdle)


@pytest.mark.slow
def test_same_seed_same_json_for_any_chunk_size():
    """A seed gives the same JSON bit for bit across runs and chunk sizes (timing fields aside)."""
    s = load_scenario("us-b300-neocloud-usage")
    runs = [run_montecarlo(s, paths=10_000, seed=42, backend="numpy", chunk_paths=c).to_dict()
            for c in (None, 1000, 7919)]
    first = json.dumps(without_timing(runs[0]), sort_keys=True)
    for other in runs[1:]:
        assert json.dumps(without_timing(other), sort_keys=True) == first


def test_different_seeds_differ():
    """Another seed gives another sample."""
    s = load_scenario("b300-10k-cluster")
    a = run_montecarlo(s, paths=3000, seed=1, backend="numpy")
    b = run_montecarlo(s, paths=3000, seed=2, backend="numpy")
    assert a.metrics["npv"]["mean"] != b.metrics["npv"]["mean"]


def test_summary_matches_the_per_path_metrics():
    """The summaries equal NumPy statistics of evaluate_paths' per-path values; IRR-less paths are counted apart."""
    s = load_scenario("us-b300-neocloud-usage")
    model = prepare(s)
    r = run_montecarlo(s, paths=5000, seed=9, backend="numpy")
    out = evaluate_paths(model, 9, 0, 5000)
    for name in PATH_METRICS:
        v = out["metrics"][name]
        finite = v[np.isfinite(v)]
        got = r.metrics[name]
        assert got["count"] == finite.size and got["no_value"] == 5000 - finite.size
        assert got["mean"] == pytest.approx(finite.mean(), rel=1e-12)
        assert got["std"] == pytest.approx(finite.std(ddof=1), rel=1e-9)
        # The histogram median lies between the two middle order statistics, to within one bin width (np.median
        # averages them; when they are more than a bin apart that average is not within a bin of the quantile).
        ordered, width = np.sort(finite), r.histograms[name]["bin_width"]
        assert ordered[(finite.size - 1) // 2] - width <= got["p50"] <= ordered[finite.size // 2] + width
        # Statistics over the paths with a value are labelled conditional, with the share of paths they cover.
        assert got["share_with_value"] == finite.size / 5000
        assert (got["conditional_on"] is None) == (name in ("npv", "sponsor_injection"))  # every path has these
    assert r.prob_payback_equity_within_horizon == \
        np.isfinite(out["metrics"]["payback_years_equity"]).sum() / 5000
    for flag in FLAGS:
        assert getattr(r, f"prob_{flag}") == pytest.approx(out["flags"][flag].mean())
    assert r.mean_std_error == pytest.approx(r.metrics["npv"]["std"] / math.sqrt(5000))


def _no_payback(doc: dict) -> None:
    """No rent and no residual: every project cash flow is negative, so no path has an IRR."""
    doc["contract"]["rent_per_cluster_year"] = 0.0
    doc["residual"]["percent_of_cost_by_age"] = {0: 0.0}


def test_paths_without_irr_are_counted_by_reason(tmp_path):
    """Cash flows that never turn positive give no project IRR on any path: counted by reason, never a crash."""
    r = run_montecarlo(load_scenario(variant(tmp_path, _no_payback)), paths=500, backend="numpy")
    irr = r.to_dict()["project_irr"]
    assert irr["no_value"] == 500 and math.isnan(irr["mean"])
    assert sum(irr["no_value_reasons"].values()) == 500
    assert any("sign change" in reason for reason in irr["no_value_reasons"])
    assert r.prob_equity_irr_below_hurdle == 1.0


def test_default_probability_is_the_analytic_one():
    """prob_tenant_default is close to 1 - (1 - p)^term for the scenario's annual probability."""
    s = load_scenario("us-b300-neocloud-usage")
    p = load_uncertainty(s).tenant_default.probability_per_year
    r = run_montecarlo(s, paths=10_000, seed=5, backend="numpy")
    assert r.prob_tenant_default == pytest.approx(1 - (1 - p) ** s.contract.term_years, abs=0.01)


def test_tenant_default_does_not_raise_expected_npv_on_the_founding_scenario():
    """Issue 13: on the founding scenario a tenant default used to *add* value (default paths' mean NPV above the
    no-default paths': -0.76 against -0.87 bn at 10% a year), because the market rent drifted 18% above its stated
    mean, re-let capacity was assumed 100% used and re-letting was free. With the rent's mean at the contract rent, the
    GPUs re-let at market x 70% spot utilisation after 3 vacant months and one month of rent as re-letting cost, a
    default costs money: the default paths' mean NPV is below the no-default paths', and so is the mean NPV of the
    defaults that happen when the market rent is below the contract rent (the lessor then re-lets at a loss)."""
    from tokensim.montecarlo._drivers import generate_drivers

    s = load_scenario("b300-10k-cluster")
    unc = load_uncertainty(s)
    model = prepare(s, replace(unc, tenant_default=replace(unc.tenant_default, probability_per_year=0.1)))
    n = 4000
    out = evaluate_paths(model, 3, 0, n)
    npv, month = out["metrics"]["npv"], out["tenant_default_month"]
    defaulted = month < model.inputs.months
    assert 0.2 < defaulted.mean() < 0.7  # 1 - 0.9**5 = 41% independent of the market
    no_default = npv[~defaulted].mean()
    assert npv[defaulted].mean() < no_default
    fi = model.inputs
    multiplier = np.asarray(generate_drivers(model.drivers, 3, np.arange(n, dtype=np.uint64)).market_rent_multiplier)
    rows = np.nonzero(defaulted)[0]
    at = month[rows]
    market_per_gpu_month = (fi.market_rent_per_gpu_hour * 730.0 * (1 + fi.market_rent_change_per_year) ** (at / 12)
                            * multiplier[rows, at])
    below = market_per_gpu_month < fi.rent_per_gpu_month
    assert below.sum() > 100
    assert npv[rows[below]].mean() <= no_default


def test_keep_paths_writes_one_row_per_path(tmp_path):
    """--keep-paths writes every path's metrics to Parquet (atomically, no temporary file left)."""
    s = load_scenario("b300-10k-cluster")
    target = tmp_path / "out" / "paths.parquet"
    run_montecarlo(s, paths=3000, seed=3, backend="numpy", chunk_paths=1024, keep_paths=target)
    table = pd.read_parquet(target)
    assert len(table) == 3000 and table["path"].tolist() == list(range(3000))
    out = evaluate_paths(prepare(s), 3, 0, 3000)
    np.testing.assert_array_equal(table["npv"].to_numpy(), out["metrics"]["npv"])
    defaulted = out["tenant_default_month"] < 60
    np.testing.assert_array_equal(table["tenant_default"].to_numpy(), defaulted)
    assert (table["tenant_default_month"].to_numpy()[defaulted] >= 1).all()
    assert [p.name for p in target.parent.iterdir()] == ["paths.parquet"]


def test_progress_reports_every_chunk():
    """The progress callback sees the paths done after each chunk, ending at the total."""
    seen = []
    run_montecarlo(load_scenario("b300-10k-cluster"), paths=2500, backend="numpy", chunk_paths=1000,
                   progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1000, 2500), (2000, 2500), (2500, 2500)]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"paths": 0}, "^paths: "), ({"paths": -5}, "^paths: "), ({"paths": 1.5}, "^paths: "),
    ({"paths": 10, "seed": -1}, "^seed: "), ({"paths": 10, "chunk_paths": 0}, "field 'chunk_paths'"),
    ({"paths": 10, "keep_paths": "x.csv"}, "^keep_paths: "), ({"paths": 10, "dtype": "float16"}, "^dtype: "),
])
def test_bad_arguments_are_user_errors(kwargs, match):
    """Paths <= 0, a bad seed, chunk size, file name or dtype raise a UserError naming the parameter (the library
    speaks in parameters; the CLI in its options, below)."""
    with pytest.raises(UserError, match=match):
        run_montecarlo(load_scenario("b300-10k-cluster"), **{"backend": "numpy", **kwargs})


@pytest.mark.parametrize(("args", "message"), [
    (["--paths", "10", "--seed", "-1"], "tokensim: error: --seed: got -1; allowed: a whole number in [0, 2**64)"),
    (["--paths", "10", "--keep-paths", "x.csv"],
     "tokensim: error: --keep-paths: got 'x.csv'; allowed: a file name ending in .parquet"),
])
def test_cli_names_the_option_for_a_library_parameter_error(args, message):
    """The library's parameter name becomes the option the user typed, in the house one-line form."""
    res = CliRunner().invoke(cli, ["mc", "b300-10k-cluster", *args])
    assert res.exit_code == 2
    assert res.stderr.strip() == message


def test_numpy_ignores_float32_with_a_note():
    """float32 applies to the GPU; NumPy runs float64 and says so."""
    r = run_montecarlo(load_scenario("b300-10k-cluster"), paths=100, backend="numpy", dtype="float32")
    assert r.dtype == "float64" and r.notes


def test_params_layout_is_fully_packed(host_kernels):
    """Every McParams field of kernels/mc_params.cuh gets a value of its type, the record has the C struct's size and
    field offsets (sizeof and offsetof from the host build), and the schedule and tables fit their constant arrays."""
    model = prepare(load_scenario("us-b300-neocloud-usage"))
    defines = _mckernel.defines()
    for dtype, real in (("float32", np.float32), ("float64", np.float64)):
        layout = _mckernel.params_layout(dtype)
        assert probed_layout(host_kernels[dtype], layout) == (layout.size, [f.offset for f in layout.fields])
        record = _mckernel.pack_params(model, dtype)
        assert record.dtype == layout.dtype and record.dtype.itemsize == layout.size
        assert record["months"] == model.inputs.months and record["months"].dtype == np.int32
        assert record["gpus"].dtype == real and record["default_limit_month"].dtype == np.float64
        schedule = _mckernel.pack_schedule(model, dtype)
        assert schedule.dtype == real
        assert schedule.shape == (defines["MC_SCHEDULE_ROWS"], defines["MC_MAX_PERIODS"])
        np.testing.assert_array_equal(schedule[defines["MC_SCHEDULE_CAPEX"], :model.inputs.months + 1],
                                      model.inputs.capex_by_month.astype(real))
    assert _mckernel.pack_tables(model).size == defines["MC_TABLE_SIZE"]
    # The longest horizon a scenario allows (50 years) fits the constant schedule.
    assert defines["MC_MAX_PERIODS"] == 50 * 12 + 1
    geometry = _mckernel.launch_geometry(60, "float32")
    assert geometry.threads == 64 and not geometry.use_scratch and geometry.shared_bytes <= 48 * 1024
    assert _mckernel.launch_geometry(600, "float64").use_scratch
    hopper = 227 * 1024  # opt-in shared memory per block on H100/H200
    big = _mckernel.launch_geometry(60, "float32", optin_limit=hopper)
    assert (big.threads, big.shared_bytes, big.use_scratch) == (256, 2 * 61 * 4 * 256, False)
    # Rows padded to an odd length: 48 months -> 49 values, 59 months -> 60 periods -> 61 values.
    assert [_mckernel.shared_row_length(m) for m in (48, 59, 60)] == [49, 61, 61]
    assert _mckernel.launch_geometry(60, "float64", optin_limit=hopper).threads == 64


def test_long_loss_carry_forward_on_the_gpu():
    """Carry-forwards longer than the horizon's tax years run as unlimited; longer ones that can expire are refused."""
    from types import SimpleNamespace

    limit = _mckernel.defines()["MC_MAX_VINTAGES"]
    assert _mckernel._loss_vintages(SimpleNamespace(loss_carry_forward_years=5), 60) == (5, True)
    assert _mckernel._loss_vintages(SimpleNamespace(loss_carry_forward_years=0), 60) == (1, False)
    assert _mckernel._loss_vintages(SimpleNamespace(loss_carry_forward_years=limit + 12), 60) == (1, False)
    with pytest.raises(UserError, match="loss_carry_forward_years"):
        _mckernel._loss_vintages(SimpleNamespace(loss_carry_forward_years=limit + 1), 12 * (limit + 5))


# -- the kernel's mathematics on the host: kernels/montecarlo.cu compiled as C++ and compared with NumPy ----------


# The host build's "shared memory": room for one thread's two rows at the longest horizon (MC_MAX_PERIODS) in double.
HOST_SHARED = "unsigned char mc_shared[2 * 601 * 8];\n"


@pytest.fixture(scope="module")
def host_kernels(tmp_path_factory):
    """kernels/montecarlo.cu built for the host (one 'thread', rows in the scratch or the 'shared' array) in double
    and float; the constant symbols are plain globals there, and layout_probe_McParams reports sizeof and offsetof
    of McParams as each build (with its own `real`) lays it out."""
    return build_host_kernels("montecarlo", tmp_path_factory.mktemp("host_kernel"), HOST_SHARED,
                              epilogue=layout_probe([_mckernel.params_layout("float64")]) + HOST_IRR_ROWS)


# kernels/irr.cuh's irr_row on rows the test gives (row-major, stride 1), with mc_paths' guess, tolerance and scan grid.
HOST_IRR_ROWS = """
extern "C" void host_irr_rows(const real* flows, long long rows, int periods, double guess, double tol, int max_iter,
                              const double* scan, int scan_count, real* rates, int* reasons) {
    for (long long i = 0; i < rows; ++i) {
        rates[i] = irr_row(flows + i * periods, 1, periods, (real)guess, (real)tol, max_iter, scan, scan_count,
                           &reasons[i]);
    }
}
"""


def host_irr(lib, rows: np.ndarray, dtype: str):
    """(rates per period, reason codes) of kernels/irr.cuh's irr_row built for the host, at mc_paths' settings."""
    real = np.float32 if dtype == "float32" else np.float64
    flows = np.ascontiguousarray(rows, dtype=real)
    scan = np.ascontiguousarray(_irr_scan_rates(_mckernel.IRR_SETTINGS["guess"], np), dtype=np.float64)
    rates, reasons = np.zeros(len(flows), real), np.zeros(len(flows), np.int32)
    lib.host_irr_rows.argtypes = [ctypes.c_void_p, ctypes.c_longlong, ctypes.c_int, ctypes.c_double, ctypes.c_double,
                                  ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    lib.host_irr_rows(flows.ctypes.data, len(flows), flows.shape[1], _mckernel.IRR_SETTINGS["guess"],
                      _mckernel.IRR_SETTINGS["tol"][dtype], _mckernel.IRR_SETTINGS["max_iter"], scan.ctypes.data,
                      scan.size, rates.ctypes.data, reasons.ctypes.data)
    return rates.astype(np.float64), reasons


def host_paths(lib, model, seed: int, first: int, n: int, dtype: str, use_scratch: int = 1) -> dict:
    real = np.float32 if dtype == "float32" else np.float64
    write_host_constants(lib, _mckernel.constant_images(model, dtype, seed))
    scratch = np.zeros(2 * (model.inputs.months + 1), real)
    metrics = {name: np.zeros(n, real) for name in PATH_METRICS}
    reasons = [np.zeros(n, np.int8), np.zeros(n, np.int8)]
    flags, default_month = np.zeros(n, np.uint8), np.zeros(n, np.int32)
    lib.mc_paths.argtypes = ([ctypes.c_uint64, ctypes.c_int64, ctypes.c_int]
                             + [ctypes.c_void_p] * (5 + len(PATH_METRICS)))
    lib.mc_paths(first, n, use_scratch, scratch.ctypes.data, *(metrics[m].ctypes.data for m in PATH_METRICS),
                 *(r.ctypes.data for r in reasons), flags.ctypes.data, default_month.ctypes.data)
    return {"metrics": metrics, "reasons": reasons, "flags": flags, "default_month": default_month}


@pytest.mark.parametrize("name", SCENARIOS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kernel_mathematics_equal_numpy_on_the_host(host_kernels, name, dtype):
    """mc_paths built as host C++ gives NumPy's per-path metrics (double: 1e-9; float: the float32 tolerance),
    the same IRR reason codes, flags and default months."""
    model = prepare(load_scenario(name))
    ref = evaluate_paths(model, 11, 5000, 1500)
    got = host_paths(host_kernels[dtype], model, 11, 5000, 1500, dtype)
    in_shared = host_paths(host_kernels[dtype], model, 11, 5000, 1500, dtype, use_scratch=0)
    for metric in PATH_METRICS:  # the two places the rows can live give the same numbers
        np.testing.assert_array_equal(in_shared["metrics"][metric], got["metrics"][metric])
    capex = model.inputs.capex_total
    tolerance = {"float64": dict(rtol=1e-9, atol=1e-12),
                 "float32": dict(rtol=1e-4, atol=1e-5)}[dtype]
    for metric in PATH_METRICS:
        expected, value = ref["metrics"][metric], got["metrics"][metric].astype(np.float64)
        np.testing.assert_array_equal(np.isfinite(value), np.isfinite(expected))
        finite = np.isfinite(expected)
        atol = tolerance["atol"] * (capex if metric in ("npv", "sponsor_injection") else 1.0)
        np.testing.assert_allclose(value[finite], expected[finite], rtol=tolerance["rtol"], atol=atol)
    np.testing.assert_array_equal(got["reasons"][0], ref["reasons"]["project_irr"])
    np.testing.assert_array_equal(got["reasons"][1], ref["reasons"]["equity_irr"])
    for bit, flag in enumerate(FLAGS):
        np.testing.assert_array_equal((got["flags"] >> bit) & 1, ref["flags"][flag])
    np.testing.assert_array_equal(got["default_month"], ref["tenant_default_month"])


def _lender_terms(doc: dict) -> None:
    """The usage-priced neocloud with every waterfall mechanism on: a DSRA of 3 months built from cash (restore
    window 2 months), a reserve, lock-up below 1.6, a 50% sweep while locked up, two equity cures, quarterly tax."""
    doc["financing"].update(dsra_months=3, dsra_funding="from_cash", dsra_restore_months=2,
                            maintenance_reserve_per_gpu_hour=0.05, lockup_dscr=1.6, cash_sweep_share=0.5,
                            equity_cure_max_count=2)
    doc["tax"]["payment"] = "quarterly_prepayment"


def _lender_terms_founding(doc: dict) -> None:
    """The founding case at rent x1.3 with a 6-month DSRA funded at close, a reserve, lock-up below 1.25, a 30% sweep
    every month, one cure, quarterly tax."""
    doc["financing"].update(dsra_months=6, dsra_funding="at_close", maintenance_reserve_per_gpu_hour=0.5,
                            lockup_dscr=1.25, cash_sweep_share=0.3, cash_sweep_when="always", equity_cure_max_count=1)
    doc["contract"]["rent_per_cluster_year"] *= 1.3
    doc["tax"]["payment"] = "quarterly_prepayment"


def _assert_kernel_paths_equal(model, ref: dict, got: dict, dtype: str) -> None:
    """The host-built kernel's per-path metrics and flags equal NumPy's: same finite pattern, values within the
    dtype's tolerance (money metrics relative to capex)."""
    capex = model.inputs.capex_total
    tolerance = {"float64": dict(rtol=1e-9, atol=1e-12), "float32": dict(rtol=1e-4, atol=1e-5)}[dtype]
    for metric in PATH_METRICS:
        expected, value = ref["metrics"][metric], got["metrics"][metric].astype(np.float64)
        finite = np.isfinite(expected)
        np.testing.assert_array_equal(np.isfinite(value), finite, err_msg=metric)
        atol = tolerance["atol"] * (capex if metric in ("npv", "sponsor_injection") else 1.0)
        np.testing.assert_allclose(value[finite], expected[finite], rtol=tolerance["rtol"], atol=atol, err_msg=metric)
    for bit, flag in enumerate(FLAGS):
        np.testing.assert_array_equal((got["flags"] >> bit) & 1, ref["flags"][flag], err_msg=flag)


@pytest.mark.parametrize(("mutate", "name"), [(_lender_terms, "us-b300-neocloud-usage"),
                                              (_lender_terms_founding, "b300-10k-cluster")])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kernel_waterfall_equals_numpy_on_the_host(host_kernels, tmp_path, mutate, name, dtype):
    """With every waterfall mechanism on (DSRA, reserve, lock-up, sweep, cures, quarterly tax), mc_paths built for
    the host gives evaluate_paths' per-path metrics (sponsor injection, first loan default month and first-crossing
    payback included) and flags; the paths exercise every mechanism (checked on NumPy's schedule)."""
    model = prepare(load_scenario(variant(tmp_path, mutate, name)))
    ref = evaluate_paths(model, 11, 0, 600)
    got = host_paths(host_kernels[dtype], model, 11, 0, 600, dtype)
    _assert_kernel_paths_equal(model, ref, got, dtype)
    assert 0 < ref["flags"]["loan_default"].mean() and np.isfinite(ref["metrics"]["first_loan_default_month"]).any()
    drivers = generate_drivers(model.drivers, 11, np.arange(200, dtype=np.uint64), np)
    s = cashflows(model.inputs, drivers, schedule=True).schedule
    for item in ("dsra_draw", "maintenance_reserve_deposit", "cash_sweep", "lockup_balance", "equity_cure",
                 "sponsor_injection", "tax_levered"):
        assert (np.abs(s[item]) > 0).any(), item


def _tail_terms(doc: dict) -> None:
    """The founding case with a 40% balloon refinanced at 7% over 3 years, 60% of the GPUs renewed after the term at
    the market rent less 15%, and a tenant that defaults (the renewal stops for a defaulted tenant)."""
    doc["financing"].update(balloon_share=0.4, refinancing_tenor_years=3, refinancing_rate=0.07)
    doc["contract"].update(renewal_share=0.6, renewal_rent_haircut_share=0.15)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kernel_renewal_and_refinancing_equal_numpy_on_the_host(host_kernels, tmp_path, dtype):
    """Renewal at market less a haircut and a refinanced balloon (issue 13 Build 3): mc_paths built for the host gives
    evaluate_paths' per-path metrics; NumPy's paths do renew and pay the refinancing rate (checked on the schedule)."""
    model = prepare(load_scenario(variant(tmp_path, _tail_terms)))
    assert model.inputs.months == 96 and model.inputs.debt.refinanced_month == 60
    ref = evaluate_paths(model, 17, 0, 600)
    got = host_paths(host_kernels[dtype], model, 17, 0, 600, dtype)
    _assert_kernel_paths_equal(model, ref, got, dtype)
    drivers = generate_drivers(model.drivers, 17, np.arange(200, dtype=np.uint64), np)
    s = cashflows(model.inputs, drivers, schedule=True).schedule
    assert (s["revenue_renewal"][:, 61:] > 0).any() and (s["revenue_renewal"][:, :61] == 0).all()
    assert (drivers.tenant_default_month < 60).any()  # some tenants default: no renewal on those paths


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kernel_default_months_and_reletting_equal_numpy(host_kernels, dtype):
    """With many market-sensitive defaults (30% a year, sensitivity 2) the host-built kernel draws the same default
    months as NumPy (the hazard in double on both sides) and, with re-letting costs and vacancy, the same NPVs."""
    s = load_scenario("b300-10k-cluster")
    unc = load_uncertainty(s)
    model = prepare(s, replace(unc, tenant_default=replace(unc.tenant_default, probability_per_year=0.3,
                                                           market_sensitivity=2.0)))
    ref = evaluate_paths(model, 13, 0, 800)
    got = host_paths(host_kernels[dtype], model, 13, 0, 800, dtype)
    assert (ref["tenant_default_month"] < model.inputs.months).sum() > 400
    np.testing.assert_array_equal(got["default_month"], ref["tenant_default_month"])
    rtol = {"float64": 1e-9, "float32": 1e-4}[dtype]
    np.testing.assert_allclose(got["metrics"]["npv"].astype(np.float64), ref["metrics"]["npv"], rtol=rtol,
                               atol=rtol * model.inputs.capex_total)


def _china_terms_founding(doc: dict) -> None:
    """The founding case with every issue-13 Build 4/5 term on: VAT 13% in, 13% out, surtaxes 12% of VAT paid, 60
    receivable days and 30 payable days, an SLA of 99.9% with 0.1 of a month's rent credited per point (availability
    1 - 0.09 x 10 / 365 = 99.75%), a termination payment of 6 months' rent with 50% recovered, 80% of the hardware in
    USD with a 5% move, a 3-month DSRA built from cash and quarterly tax."""
    doc["tax"].update(payment="quarterly_prepayment", vat={"input_rate": 0.13, "output_rate": 0.13,
                                                           "surtax_share": 0.12})
    doc["contract"].update(receivable_days=60, sla_availability_target_share=0.999, sla_credit_per_point_share=0.1,
                           termination_payment_months_of_rent=6, termination_recovery_share=0.5)
    doc["opex"].update(payable_days=30, gpu_failure_rate_per_year=0.09, repair_days=10)
    doc["capex"]["fx"] = {"usd_share": 0.8, "rate_change_share": 0.05}
    doc["financing"].update(dsra_months=3, dsra_funding="from_cash")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kernel_china_tax_and_credit_terms_equal_numpy(host_kernels, tmp_path, dtype):
    """VAT, working capital, the SLA credit, termination payments and the FX move (issue 13 Build 4 and 5) on, with
    many tenant defaults (30% a year): the host-built kernel gives NumPy's per-path metrics, and the paths exercise
    every term (checked on NumPy's schedule)."""
    s = load_scenario(variant(tmp_path, _china_terms_founding))
    unc = load_uncertainty(s)
    model = prepare(s, replace(unc, tenant_default=replace(unc.tenant_default, probability_per_year=0.3)))
    ref = evaluate_paths(model, 17, 0, 400)
    got = host_paths(host_kernels[dtype], model, 17, 0, 400, dtype)
    np.testing.assert_array_equal(got["default_month"], ref["tenant_default_month"])
    _assert_kernel_paths_equal(model, ref, got, dtype)
    drivers = generate_drivers(model.drivers, 17, np.arange(100, dtype=np.uint64), np)
    sched = cashflows(model.inputs, drivers, schedule=True).schedule
    for item in ("revenue_termination", "revenue_sla_credit", "vat_recovered", "vat_paid", "opex_vat_surtax",
                 "working_capital_change", "vat_input_paid"):
        assert (np.abs(sched[item]) > 0).any(), item


@pytest.mark.slow
@pytest.mark.parametrize("name", SCENARIOS)
def test_kernel_built_for_the_scenario_structure_equals_the_generic_build(host_kernels, name, tmp_path):
    """The build the GPU runs, with the scenario's driver structure compiled in (structure_options), gives the same
    per-path results as the generic build that reads the structure at run time, in both precisions."""
    model = prepare(load_scenario(name))
    options = {dtype: _mckernel.structure_options(_mckernel.pack_params(model, dtype))
               for dtype in ("float64", "float32")}
    assert options["float64"] == options["float32"] and "-DMC_STRUCTURE=1" in options["float64"]
    specialised = build_host_kernels("montecarlo", tmp_path, HOST_SHARED, defines=options)
    for dtype in ("float64", "float32"):
        generic = host_paths(host_kernels[dtype], model, 5, 100, 600, dtype)
        got = host_paths(specialised[dtype], model, 5, 100, 600, dtype, use_scratch=0)
        for metric in PATH_METRICS:
            np.testing.assert_array_equal(got["metrics"][metric], generic["metrics"][metric])
        np.testing.assert_array_equal(got["flags"], generic["flags"])


def test_structure_options_follow_the_drivers():
    """The founding scenario leases the whole cluster at a fixed rent on a fixed-rate loan for the whole horizon, so
    of its uncertainty section only the market rent (with its jumps, for the residual value and re-letting), the
    spot utilisation (capacity re-let after a tenant default sells at the default 70% spot utilisation, which moves)
    and the power price move: shocks on streams 0 and 1 (drivers 0-1 and 2-3), drivers 0, 1 and 2 active (mask 7),
    rent jumps, no price cuts and no efficiency arrivals (those only reach usage fees)."""
    model = prepare(load_scenario("b300-10k-cluster"))
    options = dict(o[2:].split("=") for o in _mckernel.structure_options(_mckernel.pack_params(model, "float32")))
    assert options == {"MC_STRUCTURE": "1", "MC_STRUCTURE_SHOCK_STREAMS": "3", "MC_STRUCTURE_ACTIVE": "7",
                       "MC_STRUCTURE_SCALED": "7", "MC_STRUCTURE_RENT_JUMPS": "1", "MC_STRUCTURE_CUTS": "0",
                       "MC_STRUCTURE_EFFICIENCY": "0"}


def test_kernel_irr_handles_rows_without_a_root(host_kernels, tmp_path):
    """Paths without an IRR get NaN and the NumPy reason code from the kernel's IRR too."""
    model = prepare(load_scenario(variant(tmp_path, _no_payback)))
    ref = evaluate_paths(model, 1, 0, 200)
    got = host_paths(host_kernels["float64"], model, 1, 0, 200, "float64")
    assert np.isnan(got["metrics"]["project_irr"]).all()
    np.testing.assert_array_equal(got["reasons"][0], ref["reasons"]["project_irr"])


# -- the command ----------------------------------------------------------------------------------------------------
def _rent_times(multiple):
    def mutate(doc):
        doc["contract"]["rent_per_cluster_year"] *= multiple
        doc["tax"]["payment"] = "annual"  # the year-end tax lump gives the flows several sign changes
    return mutate


def _several_roots_rows(tmp_path) -> np.ndarray:
    """Rows with several sign changes: the founding case's project and equity flows at rent x2, x10 and x100 (9-10
    sign changes; roots on both sides of 0 from x10), hand-built rows with two and three roots (one whose rule side
    has none) and 200 random rows of 13 periods, padded with zeros to the founding case's 61 periods."""
    rows = []
    for multiple in (2, 10, 100):
        model = prepare(load_scenario(variant(tmp_path, _rent_times(multiple))))
        base = cashflows(model.inputs, Drivers.base(model.inputs))
        rows += [np.asarray(base.project_cf)[0], np.asarray(base.project_cf_pre_tax)[0], np.asarray(base.equity_cf)[0]]
    periods = rows[0].size
    hand = [[-1.0, 3.0, -1.5], [-100.0, 230.0, -132.0], [-5, 10.5, 1, -8, 1],
            list(np.poly([1 / 1.05, 1 / 1.2, 1 / 1.5])[::-1]), list(np.poly([1 / 0.7, 1 / 1.1, 1 / 1.4])[::-1])]
    rng = np.random.default_rng(4)
    hand += list(rng.normal(0, 1, (200, 13)) * 1e6)
    rows += [np.concatenate([h, np.zeros(periods - len(h))]) for h in hand]
    return np.array(rows)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kernel_irr_with_several_roots_equals_numpy(host_kernels, tmp_path, dtype):
    """kernels/irr.cuh's irr_row (host build) on rows with several sign changes gives NumPy's IRR by the same rule:
    the same reason codes and the same rates (double: 1e-12 relative; float: 1e-4 relative on the rows whose flows
    float32 holds to 1e-7, the founding and hand-built ones)."""
    rows = _several_roots_rows(tmp_path)
    want, want_reason = irr(rows, return_reason=True)
    assert (want_reason == IRR_MULTIPLE_SIGN_CHANGES).sum() > 100 and (want_reason == IRR_NO_ROOT_ON_NPV_SIDE).any()
    got, got_reason = host_irr(host_kernels[dtype], rows, dtype)
    checked = slice(None) if dtype == "float64" else slice(0, 14)
    np.testing.assert_array_equal(got_reason[checked], want_reason[checked])
    np.testing.assert_array_equal(np.isnan(got[checked]), np.isnan(want[checked]))
    tolerance = {"float64": dict(rtol=1e-12, atol=1e-14), "float32": dict(rtol=1e-4, atol=1e-6)}[dtype]
    np.testing.assert_allclose(got[checked], want[checked], **tolerance, equal_nan=True)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kernel_paths_with_several_roots_equal_numpy(host_kernels, tmp_path, dtype):
    """mc_paths (host build) on the founding case at rent x10, where every path's IRRs have several sign changes:
    the same IRRs and reason codes as evaluate_paths, and equity IRRs above 0 (NPV at 0 is positive on every path)."""
    model = prepare(load_scenario(variant(tmp_path, _rent_times(10))))
    ref = evaluate_paths(model, 7, 0, 300)
    got = host_paths(host_kernels[dtype], model, 7, 0, 300, dtype)
    assert (ref["reasons"]["equity_irr"] == IRR_MULTIPLE_SIGN_CHANGES).all()
    assert (ref["metrics"]["equity_irr"] > 0).all()
    tolerance = {"float64": dict(rtol=1e-9, atol=1e-12), "float32": dict(rtol=1e-4, atol=1e-5)}[dtype]
    for k, metric in enumerate(("project_irr", "equity_irr")):
        np.testing.assert_array_equal(got["reasons"][k], ref["reasons"][metric])
        np.testing.assert_allclose(got["metrics"][metric].astype(np.float64), ref["metrics"][metric], **tolerance)


def test_mc_json_has_the_issue_keys():
    """`tokensim mc --format json` carries the keys the issue lists, each metric with mean/std/p05/p50/p95."""
    res = invoke("mc", "b300-10k-cluster", "--paths", 2000, "--seed", 7, "--backend", "numpy", "--format", "json")
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    for key in ("paths", "seed", "backend", "elapsed_s", "path_months_per_s", "prob_dscr_below_covenant",
                "prob_equity_irr_below_hurdle", "prob_tenant_default", "mean_std_error"):
        assert key in d
    for metric in PATH_METRICS:
        assert {"mean", "std", "p05", "p50", "p95"} <= set(d[metric])
    assert d["paths"] == 2000 and d["seed"] == 7 and d["backend"] == "numpy"


def test_mc_json_is_identical_across_chunk_sizes():
    """The CLI's JSON for a seed does not depend on --chunk-paths (timing fields aside)."""
    outs = [json.loads(invoke("mc", "us-b300-neocloud-usage", "--paths", 3000, "--backend", "numpy",
                              "--chunk-paths", c, "--format", "json").stdout) for c in (333, 3000)]
    assert without_timing(outs[0]) == without_timing(outs[1])


def test_mc_table_for_people():
    """The table shows each metric's distribution next to the deterministic value, and the breach odds; statistics
    over the paths that have a value are labelled conditional ("| given ..."), with the share of paths that have one
    and P(equity payback within the horizon) (issue 13)."""
    res = invoke("mc", "us-b300-neocloud-usage", "--paths", 1000, "--backend", "numpy")
    assert res.exit_code == 0, res.output
    for text in ("project IRR", "equity payback", "min DSCR", "P(DSCR below covenant", "deterministic",
                 "| given payback", "paths with a value", "P(equity payback within the horizon)"):
        assert text in res.stdout


@pytest.mark.parametrize(("args", "match"), [
    (("--paths", 0), "--paths"), (("--paths", -3), "--paths"), (("--paths", 10, "--chunk-paths", 0), "--chunk-paths"),
    (("--paths", 10, "--keep-paths", "out.csv"), "--keep-paths"),
])
def test_mc_bad_options_exit_2(args, match):
    """Paths <= 0, a zero chunk and a non-Parquet --keep-paths exit with status 2 naming the option."""
    res = invoke("mc", "b300-10k-cluster", "--backend", "numpy", *args)
    assert res.exit_code == 2 and match in res.output


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda d: d["uncertainty"]["market_rent"].__setitem__("volatility_per_year", -0.2),
     "uncertainty.market_rent.volatility_per_year"),
    (lambda d: d["uncertainty"]["tenant_default"].__setitem__("probability_per_year", 2),
     "uncertainty.tenant_default.probability_per_year"),
    (lambda d: d["uncertainty"]["correlation"].__setitem__("matrix", [[1, 0.99, 0, 0], [0.99, 1, 0, 0.9],
                                                                     [0, 0, 1, 0], [0, 0.9, 0, 1]]),
     "uncertainty.correlation.matrix"),
])
def test_mc_bad_uncertainty_exits_2_naming_the_field(tmp_path, mutate, field):
    """A negative volatility, a probability above 1 or a non-positive-definite matrix exit 2 naming the field."""
    res = invoke("mc", variant(tmp_path, mutate), "--paths", 10, "--backend", "numpy")
    assert res.exit_code == 2 and field in res.output


def test_mc_cupy_without_a_gpu_says_how_to_install():
    """--backend cupy without CuPy exits 2 naming the cuda12/cuda13 extras."""
    pytest.importorskip("numpy")
    try:
        import cupy  # noqa: F401

        pytest.skip("CuPy is installed here")
    except ImportError:
        pass
    res = invoke("mc", "b300-10k-cluster", "--paths", 10, "--backend", "cupy")
    assert res.exit_code == 2 and "cuda12" in res.output and "cuda13" in res.output


def test_mc_writes_paths_file(tmp_path):
    """--keep-paths FILE.parquet writes the per-path table and says so on stderr."""
    target = tmp_path / "p.parquet"
    res = invoke("mc", "b300-10k-cluster", "--paths", 700, "--backend", "numpy", "--keep-paths", target,
                 "--format", "json")
    assert res.exit_code == 0 and len(pd.read_parquet(target)) == 700
    assert json.loads(res.stdout)["keep_paths"] == str(target) and "wrote" in res.stderr


def test_progress_bar_starts_only_for_long_runs(capsys):
    """The CLI's progress bar stays silent for short runs and draws on stderr once a run is slow."""
    from tokensim.cli._common import LazyProgress

    quick = LazyProgress("paths")
    quick(1, 10)
    assert quick.bar is None
    slow = LazyProgress("paths")
    slow.start -= 60.0
    slow(1, 10)
    slow(5, 10)
    assert slow.bar is not None
    slow.close()
    assert capsys.readouterr().out == ""


def test_model_uses_the_scenario_hurdle_and_covenant():
    """Without a hurdle or covenant in the scenario their probabilities are null."""
    s = load_scenario("b300-10k-cluster")
    bare = replace(s, financing=replace(s.financing, equity_hurdle_irr=None, dscr_covenant=None))
    r = run_montecarlo(bare, paths=200, backend="numpy")
    assert r.prob_equity_irr_below_hurdle is None and r.prob_dscr_below_covenant is None
