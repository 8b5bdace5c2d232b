"""Launching ``kernels/unitcost.cu`` (``unitcost_points``): packing a sweep plan for the device, chunks, outputs.

Inputs, packed as the Monte Carlo kernel's are (:mod:`tokensim._kernels`): the :c:type:`UcParams` struct (shared
scalars and the axis strides) is a ``__constant__`` symbol, ``uc_params``, written before each launch
(:func:`constant_images`, :func:`tokensim._kernels.write_constants`): every thread reads the same parameter at the
same time, the access constant memory serves. The two per-thread tables, whose length depends on the grid, are
device arrays passed as arguments: the axis values (each axis' list of doubles, concatenated) and one
:c:type:`UcRecord` per (combination, layout) — the :class:`tokensim.perf._core.StepModel` of ``perf.instance``
flattened into :c:type:`PerfStep` plus the hardware's cost inputs. :func:`params_layout` and :func:`record_layout`
read the structs from ``kernels/unitcost.cuh`` and ``kernels/perfcore.cuh`` (:func:`tokensim._kernels.struct_layout`),
so they live in one place; :func:`step_values` refuses a StepModel, PhaseEfficiency or Efficiency field the header
has no slot for (and a slot without a field), so a change to the Python performance model fails the packing tests
until the kernel follows it. :func:`pack_params` and :func:`pack_records` fail if a field has no value (or a value
no field).

Compile options: the float64 build passes ``--fmad=false`` so that no multiply-add is fused: every operation then
rounds as NumPy's does, and the batch grid (``floor``/``rint`` of computed values) and the SLO comparisons see the
same numbers on both sides. The float32 build keeps NVRTC's default (fused), within the documented tolerance.

Launch: one thread per point, 128 threads a block, a grid-stride loop (any grid size gives the same results). CuPy
is imported only inside the functions that launch.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import numpy as np

from .._kernels import StructLayout, get_module, header_defines, image_bytes, struct_layout, write_constants
from .._units import HOURS_PER_YEAR, SECONDS_PER_HOUR
from ..cost import TOKENS_PER_MILLION
from ..perf import StepModel
from ..perf.efficiency import PHASES, Efficiency, PhaseEfficiency
from ._axes import AXES
from ._plan import MODES, OUTPUTS  # the kernel's output rows are evaluate_points' outputs, in UC_OUT_* order

__all__ = ["defines", "params_layout", "record_layout", "step_values", "pack_params", "pack_records",
           "pack_axis_values", "constant_images", "compile_options", "launch", "device_inputs", "host_chunks",
           "OUTPUTS", "FLAGS", "THREADS"]

KERNEL_FILE = "unitcost"
KERNEL_NAME = "unitcost_points"
PARAMS_STRUCT = "UcParams"  # kernels/unitcost.cuh; the __constant__ symbol is PARAMS_SYMBOL
PARAMS_SYMBOL = "uc_params"
RECORD_STRUCT = "UcRecord"  # kernels/unitcost.cuh (its PerfStep: kernels/perfcore.cuh)
FLAGS = {"feasible": 1, "latency_layout": 2}
THREADS = 128
_MAX_BLOCKS = 1 << 16
# Python fields the kernel does not read, and why (anything else without a slot is an error).
_NOT_IN_KERNEL = {
    ("PhaseEfficiency", "log_error_std"): "prediction intervals only",
    ("PhaseEfficiency", "moe_log_error_std"): "prediction intervals only",
    ("Efficiency", "family"): "a name",
    ("Efficiency", "interval_level"): "prediction intervals only",
    ("Efficiency", "sources"): "provenance",
    ("Efficiency", "weight_only_dequant_overhead"): "reaches the kernel as StepModel.dequant_overhead",
    ("Efficiency", "weight_only_memory_efficiency"): "reaches the kernel in StepModel.hbm_bytes_per_s_per_gpu "
                                                     "(perf._model.build_step_model)",
    ("Efficiency", "engine"): "a name: its factors are already in the decode phase's per-layer costs and efficiencies",
    ("Efficiency", "engine_free_kernel_efficiency"): "bookkeeping for Efficiency.with_engine: the engine's kernel "
                                                     "factor is already in the decode phase's efficiencies",
    ("Efficiency", "engine_factors"): "the calibration's engines: applied by Efficiency.with_engine before the kernel",
    ("Efficiency", "attention"): "a name: its factor is already in the decode phase's CUDA-graph per-layer cost",
    ("Efficiency", "attention_factors"): "the calibration's attention kinds: applied by Efficiency.with_attention "
                                         "before the kernel",
}


@functools.cache
def defines() -> dict[str, int]:
    """The integer ``UC_*`` and ``PERF_*`` constants of ``kernels/unitcost.cuh`` and ``kernels/perfcore.cuh``.

    Returns
    -------
    dict of str to int
        Value by name: axis slots, output rows, flag bits, serving modes.
    """
    return header_defines(KERNEL_FILE, ("UC_", "PERF_"))


@functools.cache
def params_layout() -> StructLayout:
    """``struct UcParams`` (every field a double, so one layout for both dtypes).

    Returns
    -------
    tokensim._kernels.StructLayout
        Fields, offsets and the structured dtype; ``size`` is ``sizeof(UcParams)``.
    """
    return struct_layout(KERNEL_FILE, PARAMS_STRUCT)


@functools.cache
def record_layout() -> StructLayout:
    """``struct UcRecord``, its ``PerfStep`` and ``PerfPhase`` flattened as ``step.prefill.x`` (all doubles).

    Returns
    -------
    tokensim._kernels.StructLayout
        Fields, offsets and the structured dtype; ``size`` is ``sizeof(UcRecord)``.
    """
    return struct_layout(KERNEL_FILE, RECORD_STRUCT)


def step_values(sm: StepModel) -> dict[str, float]:
    """``PerfStep`` of ``sm``, by flattened name; raises if the header and the Python dataclasses disagree."""
    values: dict[str, float] = {}
    skipped: list[tuple[str, str]] = []
    for f in dataclasses.fields(StepModel):
        if f.name != "efficiency":
            values[f.name] = float(getattr(sm, f.name))
    eff = sm.efficiency
    for phase in PHASES:
        for f in dataclasses.fields(PhaseEfficiency):
            if ("PhaseEfficiency", f.name) in _NOT_IN_KERNEL:
                continue
            values[f"{phase}.{f.name}"] = float(getattr(eff.phase(phase), f.name))
    for f in dataclasses.fields(Efficiency):
        if f.name in PHASES or ("Efficiency", f.name) in _NOT_IN_KERNEL:
            skipped.append(("Efficiency", f.name))
            continue
        values[f.name] = float(getattr(eff, f.name))
    slots = {name[len("step."):] for name in record_layout().names if name.startswith("step.")}
    missing, extra = sorted(set(values) - slots), sorted(slots - set(values))
    if missing or extra:
        raise RuntimeError(
            "kernels/perfcore.cuh PerfStep is out of step with tokensim.perf._core.StepModel / efficiency.Efficiency: "
            + (f"fields without a slot: {', '.join(missing)}" if missing else "")
            + ("; " if missing and extra else "") + (f"slots without a field: {', '.join(extra)}" if extra else "")
            + " (add them to the header and to the device arithmetic, or to _NOT_IN_KERNEL with the reason)")
    return values


def _nan_if_none(x) -> float:
    return math.nan if x is None else float(x)


def pack_axis_values(plan) -> tuple[np.ndarray, np.ndarray]:
    """Every axis slot's values, concatenated in slot order, and each slot's offset."""
    arrays = [np.asarray(plan.slots[name], dtype=float) for name in AXES]
    offsets = np.cumsum([0] + [a.size for a in arrays[:-1]]).astype(float)
    return np.concatenate(arrays), offsets


def pack_params(plan) -> np.ndarray:
    """The UcParams struct of a sweep plan.

    Parameters
    ----------
    plan : tokensim.sweep.SweepPlan
        The planned grid (mode, SLOs, axes and the scenario's cost inputs).

    Returns
    -------
    numpy.ndarray
        0-d structured record of :func:`params_layout`: the image of the ``uc_params`` constant symbol.
    """
    ci = plan.base_cost
    _, offsets = pack_axis_values(plan)
    values: dict[str, Any] = {
        "mode": MODES.index(plan.mode), "search": float(plan.search), "grid_points": plan.grid_points,
        "max_ttft_s": _nan_if_none(plan.max_ttft_s), "max_tpot_s": _nan_if_none(plan.max_tpot_s),
        "cached_input_cost_fraction": plan.cached_input_cost_fraction,
        "hours_per_year": HOURS_PER_YEAR, "seconds_per_hour": SECONDS_PER_HOUR,
        "tokens_per_million": TOKENS_PER_MILLION,
        "axis_size": [len(plan.slots[name]) for name in AXES],
        "axis_stride": [plan.strides.get(name, 1) for name in AXES],
        "axis_offset": offsets,
    }
    for name in ("network_per_gpu", "installation_per_gpu", "residual_share_of_hardware", "residual_value_per_gpu",
                 "economic_life_years", "pue", "load_factor", "idle_load_factor", "facility_price_per_kw_month",
                 "maintenance_share_of_capex_per_year", "operations_per_gpu_year",
                 "insurance_share_of_capex_per_year"):
        values[name] = float(getattr(ci, name))
    return params_layout().pack(values)


def pack_records(plan) -> np.ndarray:
    """Two UcRecords per combination (throughput layout, then latency layout or a copy), hardware-major.

    Parameters
    ----------
    plan : tokensim.sweep.SweepPlan
        The planned grid; ``plan.layouts`` holds one entry per (hardware, precision, model) combination.

    Returns
    -------
    numpy.ndarray
        1-d structured array of :func:`record_layout`, ``2 * len(plan.layouts)`` records (a C array of UcRecord).
    """
    rows = []
    for lay in plan.layouts:
        for r, latency_next in ((lay.throughput, lay.latency is not None), (lay.latency or lay.throughput, False)):
            values = {f"step.{k}": v for k, v in step_values(r.step_model).items()}
            values.update({"kv_transfer_s_per_token": r.kv_transfer_s_per_token,
                           "latency_layout": float(latency_next), "gpus_per_server": lay.gpus_per_server,
                           "it_kw_per_gpu": lay.it_kw_per_gpu, "server_price": lay.server_price})
            rows.append(values)
    return record_layout().pack_many(rows)


def constant_images(plan) -> dict[str, np.ndarray]:
    """What each ``__constant__`` symbol of the kernel holds for ``plan``, as host arrays.

    Parameters
    ----------
    plan : tokensim.sweep.SweepPlan
        The planned grid.

    Returns
    -------
    dict of str to numpy.ndarray
        ``{"uc_params": pack_params(plan)}``.
    """
    return {PARAMS_SYMBOL: pack_params(plan)}


def compile_options(dtype: str) -> tuple[str, ...]:
    """Extra NVRTC options: no fused multiply-add in float64 (see the module docstring)."""
    return ("--fmad=false",) if dtype == "float64" else ()


def _module(dtype: str):
    return get_module(KERNEL_FILE, dtype=dtype, extra_options=compile_options(dtype))


def device_inputs(plan):
    """(constant images on the host, axis values on the device, records' bytes on the device) for :func:`launch`."""
    import cupy

    values, _ = pack_axis_values(plan)
    return constant_images(plan), cupy.asarray(values), cupy.asarray(image_bytes(pack_records(plan)))


def launch(plan, first: int, n: int, dtype: str, device_arrays=None, out=None):
    """Run ``unitcost_points`` for flat points first .. first + n - 1: (outputs (len(OUTPUTS), n), flags (n,)), CuPy
    arrays. ``out``: preallocated (flat real buffer of at least len(OUTPUTS) * n, uint8 buffer of at least n), reused
    across chunks (the benchmark's loop)."""
    import cupy

    module = _module(dtype)
    kernel = module.get_function(KERNEL_NAME)
    images, values, records = device_arrays if device_arrays is not None else device_inputs(plan)
    write_constants(module, images)
    real = np.float32 if dtype == "float32" else np.float64
    if out is None:
        outputs, flags = cupy.empty((len(OUTPUTS), n), dtype=real), cupy.empty(n, dtype=cupy.uint8)
    else:
        outputs, flags = out[0][:len(OUTPUTS) * n].reshape(len(OUTPUTS), n), out[1][:n]
    blocks = max(1, min(_MAX_BLOCKS, -(-n // THREADS)))
    kernel((blocks,), (THREADS,), (values, records, np.uint64(first), np.int64(n), outputs, flags))
    return outputs, flags


def host_chunks(plan, dtype: str):
    """A function (start, stop) → the kernel's outputs for those points on the host, as :func:`tokensim.sweep._run.
    evaluate_points` returns them (float64 arrays by name, plus ``flags``)."""
    arrays = device_inputs(plan)

    def run(start: int, stop: int) -> dict[str, np.ndarray]:
        outputs, flags = launch(plan, start, stop - start, dtype, arrays)
        host = outputs.get().astype(np.float64)
        result = {name: host[k] for k, name in enumerate(OUTPUTS)}
        result["flags"] = flags.get()
        return result

    return run
