"""Accelerator specifications: the hardware catalogue's schema and loader.

One YAML file per accelerator under ``configs/hardware/``. Every rate is a dense (not sparse) vendor peak with its
unit in the key name; the ``source`` names the document and date. Formats absent from ``dense_tflops`` are not native
on that part (e.g. no FP4 tensor cores on Hopper): the performance model then runs such weights weight-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ._yaml import Section, load_yaml

__all__ = ["Hardware", "load_hardware_file", "COMPUTE_CLASSES"]

# Tensor-core rate classes a precision's compute can run at. fp6 runs at the fp8 rate on Blackwell unless a part
# lists its own (MI355X lists MXFP6 at its FP4 rate); see configs/precisions.yaml.
COMPUTE_CLASSES = ("bf16", "fp16", "fp8", "fp6", "fp4")

_KEYS = (
    "name", "vendor", "family", "description", "source", "notes", "aliases", "dense_tflops", "hbm_gib",
    "hbm_usable_gib", "hbm_bandwidth_tb_per_s", "scale_up_bandwidth_gb_per_s", "scale_up_domain_gpus",
    "scale_out_bandwidth_gb_per_s", "board_power_w", "gpus_per_server",
)


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

    def is_native(self, compute_class: str) -> bool:
        return compute_class in self.dense_tflops

    def peak_tflops(self, compute_class: str) -> float:
        """Dense peak for a compute class; fp6 without its own figure runs at the fp8 rate where fp8 is native."""
        if compute_class in self.dense_tflops:
            return self.dense_tflops[compute_class]
        if compute_class == "fp6" and "fp8" in self.dense_tflops and "fp4" in self.dense_tflops:
            return self.dense_tflops["fp8"]
        if compute_class == "fp16" and "bf16" in self.dense_tflops:
            return self.dense_tflops["bf16"]
        raise KeyError(f"{self.name} has no native {compute_class} tensor rate")

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
        }


def load_hardware_file(path: str | Path) -> Hardware:
    doc = Section(load_yaml(path), path)
    doc.check_keys(_KEYS)
    tflops_section = doc.section("dense_tflops")
    tflops_section.check_keys(COMPUTE_CLASSES)
    dense_tflops = {k: tflops_section.number(k, low=0, low_open=True) for k in tflops_section.keys()}
    if "bf16" not in dense_tflops:
        raise doc.error("dense_tflops.bf16", None, "a positive number (every accelerator runs bf16)")
    usable = doc.number("hbm_usable_gib", low=0, low_open=True)
    total = doc.number("hbm_gib", low=0, low_open=True)
    if usable > total:
        raise doc.error("hbm_usable_gib", usable, f"at most hbm_gib ({total:g})")
    return Hardware(
        name=doc.string("name"),
        vendor=doc.string("vendor"),
        family=doc.string("family"),
        description=doc.string("description", ""),
        source=doc.source(),
        dense_tflops=dense_tflops,
        hbm_gib=total,
        hbm_usable_gib=usable,
        hbm_bandwidth_tb_per_s=doc.number("hbm_bandwidth_tb_per_s", low=0, low_open=True),
        scale_up_bandwidth_gb_per_s=doc.number("scale_up_bandwidth_gb_per_s", low=0, low_open=True),
        scale_up_domain_gpus=doc.number("scale_up_domain_gpus", low=1, integer=True),
        scale_out_bandwidth_gb_per_s=doc.number("scale_out_bandwidth_gb_per_s", low=0, low_open=True),
        board_power_w=doc.number("board_power_w", low=0, low_open=True),
        gpus_per_server=doc.number("gpus_per_server", low=1, integer=True),
        aliases=tuple(doc.items("aliases", [])),
        notes=doc.string("notes", ""),
        file=str(path),
    )
