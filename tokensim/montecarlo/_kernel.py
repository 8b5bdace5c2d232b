"""Launching ``kernels/montecarlo.cu`` (``mc_paths``): packing the model for the device, chunking, outputs.

The kernel reads its inputs from constant memory, laid out by ``kernels/mc_params.cuh``: the :c:type:`McParams`
struct (every scalar of the engine inputs, the driver constants and the IRR settings; typed ``real``, ``int`` or
``double`` field by field), the schedule rows (per-month deterministic arrays, with the discount and escalation
factors computed here exactly as :func:`tokensim.finance.cashflows` computes them, rounded once to the kernel's
type), the tables (Poisson CDFs, the IRR scan grid) and the Philox key schedule of the seed
(:func:`tokensim.montecarlo._rng.round_keys`). The header is the one place the fields live:
:func:`params_layout` reads ``McParams`` through :func:`tokensim._kernels.struct_layout` and :func:`defines` its
``MC_*`` constants (:func:`tokensim._kernels.header_defines`); :func:`pack_params` packs the struct as a NumPy
structured record (C alignment) with :meth:`tokensim._kernels.StructLayout.pack`, which fails if a field has no value
or a value no field. :func:`launch` copies the images (:func:`constant_images`) into the module's ``__constant__``
symbols on the current stream (:func:`tokensim._kernels.write_constants`, as the sweep kernel's launcher does), then
launches on the same stream: launches of one process are ordered, so each reads its own inputs. The
module is built per (dtype, driver structure): :func:`structure_options` compiles in which shock streams, drivers,
jumps and arrivals the scenario has, so the kernel carries no branches on them.

Launch geometry: one thread per path (grid-stride loop), blocks of up to 256 threads in float32 and 64 in float64,
halved until each block's cash-flow rows (2 × (M + 1) reals per thread, M + 1 rounded up to odd: 2 × 61 × 4 B × 256
= 125 kB for a five-year horizon in float32) fit the dynamic shared memory the device lets a block opt in to (227 kB
on Hopper; 48 kB without opt-in gives 64 and 32 threads). The larger blocks were measured faster on an H200 (the
table in _THREADS below) for the kernel as it was then, with its inputs in global memory, latency-bound at 147
registers a thread and 19% occupancy (Nsight Compute, same log); benchmarks/gpu_check.sh times every geometry of the
current kernel. Beyond the device's limit the rows go to a global scratch buffer sized for a capped grid.

CuPy is imported only inside the functions that launch.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._errors import UserError
from .._irr import _scan_rates
from .._kernels import StructLayout, get_module, header_defines, image_bytes, struct_layout, write_constants
from .._units import HOURS_PER_MONTH, monthly_rate
from ..cost import TOKENS_PER_MILLION
from ..finance import DAYS_PER_MONTH, dsra_target_by_month
from ._drivers import default_log_hazard
from ._rng import round_keys

__all__ = ["Geometry", "defines", "params_layout", "params_dtype", "pack_params", "pack_schedule", "pack_tables",
           "structure_options", "constant_images", "image_bytes", "IRR_SETTINGS", "launch_geometry", "launch",
           "kernel_chunks"]

KERNEL_FILE = "montecarlo"
KERNEL_NAME = "mc_paths"
PARAMS_STRUCT = "McParams"  # declared in kernels/mc_params.cuh
# The __constant__ symbols of kernels/mc_params.cuh, in the order constant_images lists them.
CONSTANT_SYMBOLS = ("mc_params", "mc_schedule", "mc_tables", "mc_round_keys")
# tokensim._irr.irr's defaults; float32 stops at 1e-6 per month (annual IRR within ~1e-5), the float rounding floor.
IRR_SETTINGS: dict[str, Any] = {"guess": 0.01, "max_iter": 100, "tol": {"float64": 1e-12, "float32": 1e-6}}
_SHARED_BYTES_DEFAULT = 48 * 1024
# Largest block tried per dtype; measured best on an H200 (benchmarks/profile_montecarlo_h200.log, 2026-11-26):
# float32 256 threads 7.78e9 vs 64 threads 6.93e9 path-months/s, float64 64 threads 4.0e9 vs 32 threads 3.76e9 (the
# kernel of commit a306dcf; the reworked kernel is bounded by shared memory, not registers: to be re-measured).
_THREADS = {"float32": 256, "float64": 64}
_SCRATCH_MAX_BLOCKS = 512
# mc_paths' per-path real outputs, in the order of its arguments (= tokensim.montecarlo.PATH_METRICS).
KERNEL_METRICS = ("project_irr", "equity_irr", "npv", "payback_years_equity", "min_dscr",
                  "payback_years_equity_first_crossing", "sponsor_injection", "first_loan_default_month")


@functools.cache
def defines() -> dict[str, int]:
    """The integer ``MC_*`` constants of ``kernels/mc_params.cuh`` (and the other headers of the kernel).

    Returns
    -------
    dict of str to int
        Value by name: schedule rows, table offsets, MC_MAX_PERIODS, MC_MAX_VINTAGES, ...
    """
    return header_defines(KERNEL_FILE, ("MC_",))


@functools.cache
def params_layout(dtype: str) -> StructLayout:
    """``struct McParams`` of ``kernels/mc_params.cuh`` for a kernel of ``dtype`` (``real`` fields in its type).

    Parameters
    ----------
    dtype : {"float64", "float32"}
        The kernel's floating type.

    Returns
    -------
    tokensim._kernels.StructLayout
        Fields, offsets and the structured dtype; ``size`` is ``sizeof(McParams)``.
    """
    return struct_layout(KERNEL_FILE, PARAMS_STRUCT, dtype)


def params_dtype(dtype: str) -> np.dtype:
    """The NumPy structured dtype of ``McParams`` for a kernel of ``dtype`` (C layout: ``align=True``).

    Parameters
    ----------
    dtype : {"float64", "float32"}
        The kernel's floating type.

    Returns
    -------
    numpy.dtype
        :func:`params_layout`'s dtype.
    """
    return params_layout(dtype).dtype


def _loss_vintages(inputs, months: int) -> tuple[int, bool]:
    """(vintages, expire) for the kernel. A carry-forward longer than the number of tax settlements in the horizon
    never expires a loss within it: then one pool without expiry is the same rule (equal to rounding)."""
    years = inputs.loss_carry_forward_years
    if years <= 0:
        return 1, False
    settlements = months // 12 + (1 if months % 12 else 0)
    if years > defines()["MC_MAX_VINTAGES"]:
        if years >= settlements:
            return 1, False
        raise UserError(f"tax.loss_carry_forward_years: got {years}; allowed on the GPU: at most "
                        f"{defines()['MC_MAX_VINTAGES']} when losses can expire within the horizon "
                        "(use --backend numpy)")
    return years, True


def pack_params(model, dtype: str) -> np.ndarray:
    """The McParams struct of ``model`` for a kernel of ``dtype``.

    Parameters
    ----------
    model : tokensim.montecarlo.MonteCarloModel
        Engine inputs, driver model and hurdle of a prepared run.
    dtype : {"float64", "float32"}
        The kernel's floating type (``real`` fields are rounded to it once).

    Returns
    -------
    numpy.ndarray
        0-d structured record of :func:`params_dtype`: the image of the ``mc_params`` constant symbol.
    """
    fi, dm = model.inputs, model.drivers
    vintages, expire = _loss_vintages(fi, fi.months)
    hurdle = model.hurdle
    values: dict[str, Any] = {
        "months": fi.months, "hours_per_month": HOURS_PER_MONTH, "tokens_per_million": TOKENS_PER_MILLION,
        "gpus": fi.gpus, "contracted_share": fi.contracted_share, "term_months": fi.term_months,
        "rent_per_gpu_month": float(np.asarray(fi.rent_per_gpu_month).reshape(-1)[0]),
        "usage_fee_per_million_tokens": float(np.asarray(fi.usage_fee_per_million_tokens).reshape(-1)[0]),
        "usage_tokens_per_gpu_hour": fi.usage_tokens_per_gpu_hour, "usage_busy_share": fi.usage_busy_share,
        "usage_floor_per_gpu_hour": fi.usage_floor_per_gpu_hour, "usage_cap_per_gpu_hour": fi.usage_cap_per_gpu_hour,
        "market_rent_per_gpu_hour": float(np.asarray(fi.market_rent_per_gpu_hour).reshape(-1)[0]),
        "vacancy_lag_months": fi.vacancy_lag_months,
        "lessee_pays_power_and_facility": float(fi.lessee_pays_power_and_facility),
        "power_busy_per_gpu_hour": fi.power_busy_per_gpu_hour, "power_idle_per_gpu_hour": fi.power_idle_per_gpu_hour,
        "facility_per_gpu_hour": fi.facility_per_gpu_hour, "maintenance_per_gpu_hour": fi.maintenance_per_gpu_hour,
        "operations_per_gpu_hour": fi.operations_per_gpu_hour, "insurance_per_gpu_hour": fi.insurance_per_gpu_hour,
        "reletting_cost_months_of_rent": float(np.asarray(fi.reletting_cost_months_of_rent).reshape(-1)[0]),
        "floating_rate": float(fi.rate_type == "floating"), "fixed_rate": fi.fixed_rate,
        "floating_margin": fi.floating_margin, "tax_rate": fi.tax_rate, "loss_vintages": vintages,
        "loss_expire": float(expire), "book_value_at_horizon": fi.book_value_at_horizon,
        "residual_percent_method": float(fi.residual_method == "percent_of_cost"),
        "residual_percent_value": fi.residual_percent_value,
        "residual_pv_revenue_per_gpu": fi.residual_pv_revenue_per_gpu,
        "residual_pv_power_per_gpu": fi.residual_pv_power_per_gpu,
        "residual_pv_other_per_gpu": fi.residual_pv_other_per_gpu,
        "dscr_service_floor": 1e-9 * max(fi.capex_total, 1.0), "dscr_covenant": fi.dscr_covenant,
        "maintenance_reserve_per_gpu_hour": fi.maintenance_reserve_per_gpu_hour, "lockup_dscr": fi.lockup_dscr,
        "cash_sweep_share": fi.cash_sweep_share, "tax_quarterly": float(fi.tax_payment == "quarterly_prepayment"),
        "dsra_at_close": float(fi.dsra_funding == "at_close"), "dsra_restore_months": fi.dsra_restore_months,
        "equity_cure_max_count": fi.equity_cure_max_count, "sweep_always": float(fi.cash_sweep_when == "always"),
        "vat_input_rate": fi.vat_input_rate, "vat_output_rate": fi.vat_output_rate,
        "vat_surtax_share": fi.vat_surtax_share, "receivable_months": fi.receivable_days / DAYS_PER_MONTH,
        "payable_months": fi.payable_days / DAYS_PER_MONTH, "sla_credit_share": fi.sla_credit_share,
        "termination_payment_months_of_rent": fi.termination_payment_months_of_rent,
        "termination_recovery_share": fi.termination_recovery_share,
        "has_hurdle": float(hurdle is not None), "hurdle_annual": hurdle if hurdle is not None else 0.0,
        "hurdle_monthly": monthly_rate(hurdle) if hurdle is not None else 0.0,
        "cholesky": dm.cholesky.reshape(-1), "persistence": dm.persistence, "drift": dm.drift,
        "shock_scale": dm.shock_scale, "active": dm.active.astype(float),
        "shock_streams": np.array(dm.shock_streams, dtype=float),
        "rent_jump_count": dm.rent_jump_table.size, "rent_jump_log_mean": dm.rent_jump_log_mean,
        "rent_jump_log_sd": dm.rent_jump_log_sd, "cut_count": dm.cut_table.size, "cut_log_mean": dm.cut_log_mean,
        "cut_log_sd": dm.cut_log_sd, "efficiency_count": dm.efficiency_table.size,
        "efficiency_log_gain": dm.efficiency_log_gain,
        "default_log_hazard": default_log_hazard(dm) if dm.draws_default else -math.inf,
        "default_market_sensitivity": dm.default_market_sensitivity,
        "default_limit_month": dm.default_limit_month, "spot_utilisation": dm.spot_utilisation,
        "floating_base_rate": dm.floating_base_rate,
        "renewal_share": float(np.asarray(fi.renewal_share).reshape(-1)[0]),
        "renewal_rent_haircut_share": float(np.asarray(fi.renewal_rent_haircut_share).reshape(-1)[0]),
        "refinancing_rate": fi.debt.refinancing_rate if fi.debt.refinanced_month >= 0 else 0.0,
        "refinanced_month": fi.debt.refinanced_month if fi.debt.refinanced_month >= 0 else fi.months + 1,
        "irr_guess": IRR_SETTINGS["guess"], "irr_tol": IRR_SETTINGS["tol"][dtype],
        "irr_max_iter": IRR_SETTINGS["max_iter"], "scan_count": _scan_rates(IRR_SETTINGS["guess"], np).size,
    }
    return params_layout(dtype).pack(values)


def pack_schedule(model, dtype: str = "float64") -> np.ndarray:
    """The schedule rows (MC_SCHEDULE_ROWS × MC_MAX_PERIODS, months 0..M then zeros), row-major, in the kernel's type
    (the float64 values rounded once)."""
    fi = model.inputs
    d = defines()
    months = fi.months
    if months + 1 > d["MC_MAX_PERIODS"]:
        raise RuntimeError(f"horizon of {months} months is beyond the kernel's MC_MAX_PERIODS - 1")
    rows = np.zeros((d["MC_SCHEDULE_ROWS"], d["MC_MAX_PERIODS"]))
    debt = fi.debt
    if debt.fees is not None and np.any(debt.fees[0]):  # issue 13: the kernel does not carry the fees yet
        raise UserError("financing fees (upfront_fee_share, commitment_fee_per_year, lease_handling_fee_share, "
                        "lease_deposit_share): got a non-zero fee; allowed on the GPU: 0 (use --backend numpy)")
    periods = slice(0, months + 1)
    rows[d["MC_SCHEDULE_CAPEX"], periods] = fi.capex_by_month
    rows[d["MC_SCHEDULE_ONLINE"], periods] = fi.online_share
    rows[d["MC_SCHEDULE_DEPRECIATION"], periods] = fi.depreciation_by_month
    rows[d["MC_SCHEDULE_DRAWS"], periods] = debt.draws[0]
    rows[d["MC_SCHEDULE_PRINCIPAL"], periods] = debt.principal[0]
    rows[d["MC_SCHEDULE_LUMP"], periods] = debt.lump[0]
    rows[d["MC_SCHEDULE_PAYMENT_MONTH"], periods] = debt.payment_month.astype(float)
    rows[d["MC_SCHEDULE_DSRA_TARGET"], periods] = dsra_target_by_month(fi)[0]
    # The same Python float expressions as tokensim.finance.cashflows, month by month.
    v_project = 1.0 / (1.0 + monthly_rate(fi.discount_rate))
    for m in range(1, months + 1):
        rows[d["MC_SCHEDULE_DISCOUNT_PROJECT"], m] = v_project ** m
        rows[d["MC_SCHEDULE_ESCALATION"], m] = (1.0 + fi.escalator_per_year) ** ((m - 1) // 12)
        rows[d["MC_SCHEDULE_MARKET_TREND"], m] = (1.0 + fi.market_rent_change_per_year) ** ((m - 1) / 12.0)
    rows[d["MC_SCHEDULE_RENT_COMPENSATION"], 1: months + 1] = model.drivers.rent_log_compensation
    return np.ascontiguousarray(rows.astype(_real_dtype(dtype)))


def pack_tables(model) -> np.ndarray:
    """Poisson tables and the IRR scan grid, at the offsets of ``kernels/mc_params.cuh``."""
    d = defines()
    dm = model.drivers
    out = np.zeros(d["MC_TABLE_SIZE"])
    for offset, table in ((d["MC_TABLE_RENT_JUMPS"], dm.rent_jump_table), (d["MC_TABLE_CUTS"], dm.cut_table),
                          (d["MC_TABLE_EFFICIENCY"], dm.efficiency_table)):
        if table.size > d["MC_POISSON_MAX"]:
            raise RuntimeError("Poisson table longer than MC_POISSON_MAX")
        out[offset: offset + table.size] = table
    scan = _scan_rates(IRR_SETTINGS["guess"], np)
    if scan.size > d["MC_SCAN_MAX"]:
        raise RuntimeError("IRR scan grid longer than MC_SCAN_MAX")
    out[d["MC_TABLE_SCAN"]: d["MC_TABLE_SCAN"] + scan.size] = scan
    return out


@dataclass(frozen=True)
class Geometry:
    threads: int  # per block
    shared_bytes: int  # dynamic shared memory per block (0 with scratch)
    use_scratch: bool
    max_blocks: int | None  # cap on the grid (scratch only)


def shared_row_length(months: int) -> int:
    """Values a thread's cash-flow row takes in shared memory: the M + 1 periods, rounded up to an odd number so that
    the rows of a warp's 32 threads start in 32 different banks (mc_paths lays them out [row][thread][period])."""
    return (months + 1) | 1


def launch_geometry(months: int, dtype: str, shared_limit: int = _SHARED_BYTES_DEFAULT,
                    optin_limit: int = _SHARED_BYTES_DEFAULT) -> Geometry:
    """Block size and where the cash-flow rows live (see the module docstring)."""
    itemsize = 4 if dtype == "float32" else 8
    per_thread = 2 * shared_row_length(months) * itemsize
    threads = _THREADS[dtype]
    limit = max(shared_limit, optin_limit)
    while threads > 32 and per_thread * threads > limit:
        threads //= 2
    if per_thread * threads <= max(shared_limit, optin_limit):
        return Geometry(threads, per_thread * threads, False, None)
    return Geometry(128, 0, True, _SCRATCH_MAX_BLOCKS)


@functools.cache
def _optin_limit(device_id: int) -> int:
    """The most dynamic shared memory a block may opt in to on this device."""
    import cupy

    attributes = cupy.cuda.Device(device_id).attributes
    return int(attributes.get("MaxSharedMemoryPerBlockOptin", _SHARED_BYTES_DEFAULT))


def _real_dtype(dtype: str):
    return np.float32 if dtype == "float32" else np.float64


def _mask(flags) -> int:
    return sum(1 << i for i, flag in enumerate(flags) if flag)


def structure_options(record: np.ndarray) -> tuple[str, ...]:
    """The ``-D`` options that compile a scenario's driver structure into the kernel (kernels/mc_params.cuh,
    ``MC_STRUCTURE``), read from its packed :func:`pack_params` record: the same fields the generic build tests at run
    time, so the two builds take the same branches."""
    return ("-DMC_STRUCTURE=1",
            f"-DMC_STRUCTURE_SHOCK_STREAMS={_mask(record['shock_streams'] != 0)}",
            f"-DMC_STRUCTURE_ACTIVE={_mask(record['active'] != 0)}",
            f"-DMC_STRUCTURE_SCALED={_mask(record['shock_scale'] > 0)}",
            f"-DMC_STRUCTURE_RENT_JUMPS={int(record['rent_jump_count'] > 0)}",
            f"-DMC_STRUCTURE_CUTS={int(record['cut_count'] > 0)}",
            f"-DMC_STRUCTURE_EFFICIENCY={int(record['efficiency_count'] > 0)}")


def constant_images(model, dtype: str, seed: int) -> dict[str, np.ndarray]:
    """What each ``__constant__`` symbol of the kernel holds for ``model`` and ``seed``, as host arrays."""
    return {"mc_params": pack_params(model, dtype), "mc_schedule": pack_schedule(model, dtype),
            "mc_tables": pack_tables(model), "mc_round_keys": round_keys(seed)}


def launch(model, seed: int, first_path: int, n: int, dtype: str, images: dict[str, np.ndarray] | None = None,
           geometry: Geometry | None = None) -> dict[str, Any]:
    """Run ``mc_paths`` for paths first_path .. first_path + n - 1; per-path outputs as CuPy arrays.

    ``images`` are :func:`constant_images` of (model, dtype, seed), built here when not given; ``geometry``
    overrides :func:`launch_geometry` (the tests run the scratch layout on purpose)."""
    import cupy

    if images is None:
        images = constant_images(model, dtype, seed)
    elif not np.array_equal(images["mc_round_keys"], round_keys(seed)):
        raise ValueError(f"launch: the constant images were built for another seed than {seed}")
    # One build per (dtype, driver structure): compiled on first use, then from CuPy's cache.
    module = get_module(KERNEL_FILE, dtype=dtype, extra_options=structure_options(images["mc_params"]))
    kernel = module.get_function(KERNEL_NAME)
    write_constants(module, {name: images[name] for name in CONSTANT_SYMBOLS})
    if geometry is None:
        geometry = launch_geometry(model.inputs.months, dtype, optin_limit=_optin_limit(cupy.cuda.Device().id))
    if geometry.shared_bytes > _SHARED_BYTES_DEFAULT:
        kernel.max_dynamic_shared_size_bytes = geometry.shared_bytes
    real = _real_dtype(dtype)
    blocks = max(1, math.ceil(n / geometry.threads))
    if geometry.use_scratch:
        if geometry.max_blocks is not None:
            blocks = min(blocks, geometry.max_blocks)
        scratch = cupy.empty(2 * (model.inputs.months + 1) * blocks * geometry.threads, dtype=real)
    else:
        scratch = cupy.empty(1, dtype=real)
    out = {name: cupy.empty(n, dtype=real) for name in KERNEL_METRICS}
    project_reason = cupy.empty(n, dtype=cupy.int8)
    equity_reason = cupy.empty(n, dtype=cupy.int8)
    flags = cupy.empty(n, dtype=cupy.uint8)
    default_month = cupy.empty(n, dtype=cupy.int32)
    kernel((blocks,), (geometry.threads,),
           (np.uint64(first_path), np.int64(n), np.int32(geometry.use_scratch), scratch, out["project_irr"],
            *(out[name] for name in KERNEL_METRICS[1:]), project_reason,
            equity_reason, flags, default_month),
           shared_mem=geometry.shared_bytes)
    return {
        "metrics": out,
        "reasons": {"project_irr": project_reason, "equity_irr": equity_reason},
        "flags": {"dscr_below_covenant": (flags & 1) != 0, "equity_irr_below_hurdle": (flags & 2) != 0,
                  "tenant_default": (flags & 4) != 0, "loan_default": (flags & 8) != 0},
        "tenant_default_month": default_month,
    }


def kernel_chunks(model, seed: int, paths: int, chunk: int, dtype: str):
    """Yield (first path, per-path device outputs) for each chunk of ``paths``."""
    images = constant_images(model, dtype, seed)
    for first in range(0, paths, chunk):
        yield first, launch(model, seed, first, min(chunk, paths - first), dtype, images)
