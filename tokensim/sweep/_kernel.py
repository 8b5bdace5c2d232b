"""Launching ``kernels/unitcost.cu`` (``unitcost_points``): packing a sweep plan for the device, chunks, outputs.

The kernel reads three double arrays: the :c:type:`UcParams` struct (shared scalars and the axis strides), the axis
values (each axis' list, concatenated) and one :c:type:`UcRecord` per (combination, layout) — the
:class:`tokensim.perf._core.StepModel` of ``perf.resolve`` flattened into :c:type:`PerfStep` plus the hardware's cost
inputs. :func:`layout` parses ``kernels/perfcore.cuh`` and ``kernels/unitcost.cuh`` for the field order, so the
structs live in one place; :func:`step_values` refuses a StepModel, PhaseEfficiency or Efficiency field the header
has no slot for (and a slot without a field), so a change to the Python performance model fails the packing tests
until the kernel follows it. :func:`pack_params` and :func:`pack_records` fail if a field has no value.

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
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._units import HOURS_PER_YEAR, SECONDS_PER_HOUR
from ..config._yaml import kernels_dir
from ..cost import TOKENS_PER_MILLION
from ..perf._core import StepModel
from ..perf.efficiency import PHASES, Efficiency, PhaseEfficiency
from ._axes import AXES
from ._plan import MODES, OUTPUTS  # the kernel's output rows are evaluate_points' outputs, in UC_OUT_* order

__all__ = ["Layout", "layout", "step_values", "pack_params", "pack_records", "pack_axis_values", "compile_options",
           "launch", "device_inputs", "host_chunks", "OUTPUTS", "FLAGS", "THREADS"]

KERNEL_FILE = "unitcost"
KERNEL_NAME = "unitcost_points"
HEADERS = ("perfcore.cuh", "unitcost.cuh")
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
}


@dataclass(frozen=True)
class Layout:
    params: tuple[tuple[str, int], ...]  # (flattened name, count) in struct order
    record: tuple[tuple[str, int], ...]
    defines: dict[str, int]

    @staticmethod
    def size(fields) -> int:
        return sum(count for _, count in fields)


def _structs(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in re.finditer(r"struct\s+(\w+)\s*\{(.*?)\};", text, re.S)}


def _fields(structs: dict[str, str], name: str, defines: dict[str, int], prefix: str = "") -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for line in structs[name].splitlines():
        code = line.split("//")[0].strip()
        if not code:
            continue
        match = re.fullmatch(r"double\s+(\w+)(?:\[(\w+)\])?;", code)
        if match:
            count = match.group(2)
            out.append((prefix + match.group(1), int(defines.get(count, count)) if count else 1))
            continue
        nested = re.fullmatch(r"(\w+)\s+(\w+);", code)
        if nested is None or nested.group(1) not in structs:
            raise RuntimeError(f"{name}: fields must be doubles or structs of doubles, got {code!r}")
        out.extend(_fields(structs, nested.group(1), defines, f"{prefix}{nested.group(2)}."))
    return out


@functools.lru_cache(maxsize=1)
def layout() -> Layout:
    """Fields of ``UcParams`` and ``UcRecord`` (nested structs flattened as ``step.prefill.x``) and the integer
    ``#define``s of the kernel headers."""
    text = "\n".join((kernels_dir() / h).read_text(encoding="utf-8") for h in HEADERS)
    defines = {m.group(1): int(m.group(2))
               for m in re.finditer(r"^#define\s+((?:UC|PERF)_\w+)\s+(-?\d+)\s*(?://.*)?$", text, re.M)}
    structs = _structs(text)
    return Layout(tuple(_fields(structs, "UcParams", defines)), tuple(_fields(structs, "UcRecord", defines)),
                  defines)


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
    slots = {name[len("step."):] for name, _ in layout().record if name.startswith("step.")}
    missing, extra = sorted(set(values) - slots), sorted(slots - set(values))
    if missing or extra:
        raise RuntimeError(
            "kernels/perfcore.cuh PerfStep is out of step with tokensim.perf._core.StepModel / efficiency.Efficiency: "
            + (f"fields without a slot: {', '.join(missing)}" if missing else "")
            + ("; " if missing and extra else "") + (f"slots without a field: {', '.join(extra)}" if extra else "")
            + " (add them to the header and to the device arithmetic, or to _NOT_IN_KERNEL with the reason)")
    return values


def _pack(fields, values: dict[str, Any], what: str) -> np.ndarray:
    out = []
    for name, count in fields:
        if name not in values:
            raise RuntimeError(f"{what}: field {name} has no value")
        value = np.asarray(values[name], dtype=float).reshape(-1)
        if value.size != count:
            raise RuntimeError(f"{what}: field {name} has {value.size} values, the header {count}")
        out.append(value)
    return np.concatenate(out)


def _nan_if_none(x) -> float:
    return math.nan if x is None else float(x)


def pack_axis_values(plan) -> tuple[np.ndarray, np.ndarray]:
    """Every axis slot's values, concatenated in slot order, and each slot's offset."""
    arrays = [np.asarray(plan.slots[name], dtype=float) for name in AXES]
    offsets = np.cumsum([0] + [a.size for a in arrays[:-1]]).astype(float)
    return np.concatenate(arrays), offsets


def pack_params(plan) -> np.ndarray:
    """The UcParams struct of a :class:`tokensim.sweep.SweepPlan` as float64 values."""
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
    return _pack(layout().params, values, "UcParams")


def pack_records(plan) -> np.ndarray:
    """Two UcRecords per combination (throughput layout, then latency layout or a copy), hardware-major."""
    rows = []
    for lay in plan.layouts:
        for r, latency_next in ((lay.throughput, lay.latency is not None), (lay.latency or lay.throughput, False)):
            values = {f"step.{k}": v for k, v in step_values(r.step_model).items()}
            values.update({"kv_transfer_s_per_token": r.kv_transfer_s_per_token,
                           "latency_layout": float(latency_next), "gpus_per_server": lay.gpus_per_server,
                           "it_kw_per_gpu": lay.it_kw_per_gpu, "server_price": lay.server_price})
            rows.append(_pack(layout().record, values, "UcRecord"))
    return np.stack(rows)


def compile_options(dtype: str) -> tuple[str, ...]:
    """Extra NVRTC options: no fused multiply-add in float64 (see the module docstring)."""
    return ("--fmad=false",) if dtype == "float64" else ()


def _kernel(dtype: str):
    from .._kernels import get_module

    return get_module(KERNEL_FILE, dtype=dtype, extra_options=compile_options(dtype)).get_function(KERNEL_NAME)


def device_inputs(plan):
    """(params, axis values, records) on the device."""
    import cupy

    values, _ = pack_axis_values(plan)
    return cupy.asarray(pack_params(plan)), cupy.asarray(values), cupy.asarray(pack_records(plan).reshape(-1))


def launch(plan, first: int, n: int, dtype: str, device_arrays=None, out=None):
    """Run ``unitcost_points`` for flat points first .. first + n - 1: (outputs (len(OUTPUTS), n), flags (n,)), CuPy
    arrays. ``out``: preallocated (flat real buffer of at least len(OUTPUTS) * n, uint8 buffer of at least n), reused
    across chunks (the benchmark's loop)."""
    import cupy

    kernel = _kernel(dtype)
    params, values, records = device_arrays if device_arrays is not None else device_inputs(plan)
    real = np.float32 if dtype == "float32" else np.float64
    if out is None:
        outputs, flags = cupy.empty((len(OUTPUTS), n), dtype=real), cupy.empty(n, dtype=cupy.uint8)
    else:
        outputs, flags = out[0][:len(OUTPUTS) * n].reshape(len(OUTPUTS), n), out[1][:n]
    blocks = max(1, min(_MAX_BLOCKS, -(-n // THREADS)))
    kernel((blocks,), (THREADS,), (params, values, records, np.uint64(first), np.int64(n), outputs, flags))
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
