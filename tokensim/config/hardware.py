"""Accelerator specifications: the hardware catalogue's schema (declared once, :class:`HardwareSchema`) and loader.

One YAML file per accelerator under ``configs/hardware/``. Every rate is a dense (not sparse) vendor peak with its
unit in the key name; the ``source`` names the document and date. Formats absent from ``dense_tflops`` are not native
on that part (e.g. no FP4 tensor cores on Hopper): the performance model then runs such weights weight-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from ._spec import Invalid, Number, SchemaSection, Source, Table, Text, validate_document
from .reader import load_yaml

__all__ = ["Hardware", "HardwareSchema", "load_hardware_file", "COMPUTE_CLASSES"]

# Tensor-core rate classes a precision's compute can run at. fp6 runs at the fp8 rate on Blackwell unless a part
# lists its own (MI355X lists MXFP6 at its FP4 rate); see configs/precisions.yaml.
COMPUTE_CLASSES = ("bf16", "fp16", "fp8", "fp6", "fp4")

_TFLOPS = Number(0, low_open=True, unit="dense TFLOPS")


class HardwareSchema(SchemaSection):
    """A hardware file: every rate a dense vendor peak per GPU, its unit in its name."""

    name: Annotated[str, Text()]
    vendor: Annotated[str, Text()]
    family: Annotated[str, Text()]  # calibration family (configs/calibration.yaml)
    description: Annotated[str, Text()] | None = Field(None)
    source: Annotated[str, Source()]
    notes: Annotated[str, Text()] | None = Field(None)
    aliases: list[Any] | None = Field(None)
    dense_tflops: Annotated[dict, Table(COMPUTE_CLASSES, _TFLOPS)]  # compute class -> TFLOPS; absent = not native
    hbm_gib: Annotated[float, Number(0, low_open=True, unit="GiB")]
    hbm_usable_gib: Annotated[float, Number(0, low_open=True, unit="GiB")]
    hbm_bandwidth_tb_per_s: Annotated[float, Number(0, low_open=True, unit="TB/s")]
    scale_up_bandwidth_gb_per_s: Annotated[float, Number(0, low_open=True, unit="GB/s per GPU, unidirectional")]
    scale_up_domain_gpus: Annotated[int, Number(1, integer=True, unit="GPUs")]
    scale_out_bandwidth_gb_per_s: Annotated[float, Number(0, low_open=True, unit="GB/s per GPU")]
    board_power_w: Annotated[float, Number(0, low_open=True, unit="W")]
    gpus_per_server: Annotated[int, Number(1, integer=True, unit="GPUs per server")]
    # A coherent host link (Grace NVLink-C2C): the host memory one GPU may hold weights in and the host-to-GPU
    # bandwidth it streams them at; both or neither (neither: no weight offload)
    host_memory_gb_per_gpu: Annotated[float, Number(0, low_open=True, unit="GB per GPU")] | None = Field(None)
    host_link_bandwidth_gb_per_s: Annotated[float, Number(
        0, low_open=True, unit="GB/s per GPU, host to GPU")] | None = Field(None)
    # The vendor's measured max-achievable dense GEMM rate per compute class (sustained clocks under load), with its
    # source; the performance model never runs matmuls faster (perf._core._tensor_rate). Both or neither.
    max_achievable_tflops: Annotated[dict, Table(COMPUTE_CLASSES, _TFLOPS)] | None = Field(None)
    max_achievable_source: Annotated[str, Source()] | None = Field(None)

    @field_validator("dense_tflops", mode="after")
    @classmethod
    def _bf16(cls, rates: dict) -> dict:
        if "bf16" not in rates:
            raise Invalid("a positive number (every accelerator runs bf16)", key="bf16", value=None)
        return rates

    @model_validator(mode="after")
    def _usable(self) -> HardwareSchema:
        if self.hbm_usable_gib > self.hbm_gib:
            raise Invalid(f"at most hbm_gib ({self.hbm_gib:g})", key="hbm_usable_gib", value=self.hbm_usable_gib)
        if (self.host_memory_gb_per_gpu is None) != (self.host_link_bandwidth_gb_per_s is None):
            given, missing = (("host_memory_gb_per_gpu", "host_link_bandwidth_gb_per_s")
                              if self.host_link_bandwidth_gb_per_s is None
                              else ("host_link_bandwidth_gb_per_s", "host_memory_gb_per_gpu"))
            raise Invalid(f"{missing} as well (a coherent host link has both), or neither", key=given,
                          value=getattr(self, given))
        if (self.max_achievable_tflops is None) != (self.max_achievable_source is None):
            given, missing = (("max_achievable_tflops", "max_achievable_source") if self.max_achievable_source is None
                              else ("max_achievable_source", "max_achievable_tflops"))
            raise Invalid(f"{missing} as well (a measured rate needs its source), or neither", key=given,
                          value=getattr(self, given))
        for cls, rate in (self.max_achievable_tflops or {}).items():
            if cls not in self.dense_tflops:
                raise Invalid(f"a class listed in dense_tflops ({', '.join(self.dense_tflops)})",
                              key=f"max_achievable_tflops.{cls}", value=rate)
            if rate > self.dense_tflops[cls]:
                raise Invalid(f"at most the dense peak dense_tflops.{cls} ({self.dense_tflops[cls]:g})",
                              key=f"max_achievable_tflops.{cls}", value=rate)
        return self


@dataclass(frozen=True)
class Hardware:
    """One accelerator as the performance and cost models see it (per GPU unless the name says otherwise)."""

    name: str
    vendor: str
    family: str  # calibration family: efficiency factors are fitted per family (configs/calibration.yaml)
    description: str
    source: str
    dense_tflops: dict[str, float]  # compute class -> dense peak TFLOPS; absent class = not native
    hbm_gib: float  # datasheet capacities are binary units (H100 '80 GB' = 80 GiB; nvidia-smi: 81,559 MiB)
    hbm_usable_gib: float
    hbm_bandwidth_tb_per_s: float
    scale_up_bandwidth_gb_per_s: float  # NVLink / Infinity Fabric, unidirectional, per GPU
    scale_up_domain_gpus: int
    scale_out_bandwidth_gb_per_s: float  # NIC bandwidth per GPU (e.g. 400 Gb/s = 50 GB/s)
    board_power_w: float
    gpus_per_server: int
    aliases: tuple[str, ...] = ()
    notes: str = ""
    file: str = field(default="", compare=False)
    host_memory_gb_per_gpu: float | None = None  # coherent host memory weights may be offloaded to (None: no link)
    host_link_bandwidth_gb_per_s: float | None = None  # host to GPU over that link, per GPU
    # compute class -> the vendor's measured max-achievable dense GEMM TFLOPS (empty: not measured)
    max_achievable_tflops: dict[str, float] = field(default_factory=dict)
    max_achievable_source: str = ""

    def is_native(self, compute_class: str) -> bool:
        return compute_class in self.dense_tflops

    def _rate_class(self, compute_class: str) -> str:
        """The ``dense_tflops`` class a compute class runs at: its own, else fp6 at the fp8 rate (where fp8 and fp4
        are native) and fp16 at the bf16 rate."""
        if compute_class in self.dense_tflops:
            return compute_class
        if compute_class == "fp6" and "fp8" in self.dense_tflops and "fp4" in self.dense_tflops:
            return "fp8"
        if compute_class == "fp16" and "bf16" in self.dense_tflops:
            return "bf16"
        raise KeyError(f"{self.name} has no native {compute_class} tensor rate")

    def peak_tflops(self, compute_class: str) -> float:
        """Dense peak for a compute class; fp6 without its own figure runs at the fp8 rate where fp8 is native."""
        return self.dense_tflops[self._rate_class(compute_class)]

    def achievable_tflops(self, compute_class: str) -> float | None:
        """The measured max-achievable dense GEMM rate of the class a compute class runs at (:meth:`peak_tflops`'s),
        None where not measured."""
        return self.max_achievable_tflops.get(self._rate_class(compute_class))

    def to_dict(self) -> dict:
        return {
            "name": self.name, "vendor": self.vendor, "family": self.family, "description": self.description,
            "dense_tflops": dict(self.dense_tflops), "native_formats": sorted(self.dense_tflops),
            "hbm_gib": self.hbm_gib, "hbm_usable_gib": self.hbm_usable_gib,
            "hbm_bandwidth_tb_per_s": self.hbm_bandwidth_tb_per_s,
            "scale_up_bandwidth_gb_per_s": self.scale_up_bandwidth_gb_per_s,
            "scale_up_domain_gpus": self.scale_up_domain_gpus,
            "scale_out_bandwidth_gb_per_s": self.scale_out_bandwidth_gb_per_s,
            "board_power_w": self.board_power_w, "gpus_per_server": self.gpus_per_server,
            "aliases": list(self.aliases), "notes": self.notes, "source": self.source,
            **({"max_achievable_tflops": dict(self.max_achievable_tflops),
                "max_achievable_source": self.max_achievable_source} if self.max_achievable_tflops else {}),
            **({"host_memory_gb_per_gpu": self.host_memory_gb_per_gpu,
                "host_link_bandwidth_gb_per_s": self.host_link_bandwidth_gb_per_s}
               if self.host_link_bandwidth_gb_per_s is not None else {}),
        }


def load_hardware_file(path: str | Path) -> Hardware:
    """Read and validate one hardware file (:class:`HardwareSchema`), every error of the file reported at once.

    Parameters
    ----------
    path : str or pathlib.Path
        A YAML file in the format of ``configs/hardware/``.

    Returns
    -------
    Hardware
        The accelerator, per GPU, in the units of its field names.

    Raises
    ------
    ConfigError
        One error, or a :class:`~tokensim.ConfigErrors` with one line per error.
    """
    m = validate_document(HardwareSchema, load_yaml(path), str(path))
    return Hardware(
        name=m.name,
        vendor=m.vendor,
        family=m.family,
        description=m.description or "",
        source=m.source,
        dense_tflops=dict(m.dense_tflops),
        hbm_gib=m.hbm_gib,
        hbm_usable_gib=m.hbm_usable_gib,
        hbm_bandwidth_tb_per_s=m.hbm_bandwidth_tb_per_s,
        scale_up_bandwidth_gb_per_s=m.scale_up_bandwidth_gb_per_s,
        scale_up_domain_gpus=m.scale_up_domain_gpus,
        scale_out_bandwidth_gb_per_s=m.scale_out_bandwidth_gb_per_s,
        board_power_w=m.board_power_w,
        gpus_per_server=m.gpus_per_server,
        aliases=tuple(m.aliases or ()),
        notes=m.notes or "",
        file=str(path),
        host_memory_gb_per_gpu=m.host_memory_gb_per_gpu,
        host_link_bandwidth_gb_per_s=m.host_link_bandwidth_gb_per_s,
        max_achievable_tflops=dict(m.max_achievable_tflops or {}),
        max_achievable_source=m.max_achievable_source or "",
    )
