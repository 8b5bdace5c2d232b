"""Number formats and precision recipes, and how a recipe runs on a given accelerator.

A *format* is an element encoding with its storage cost including block scales (MXFP4 = 4 bits + one E8M0 scale per
32 elements = 4.25 bits). A *recipe* sets the format of each component separately: routed-expert weights, other
weights, activations (the compute format) and KV cache, as shipped mixed recipes do (gpt-oss: MXFP4 experts with BF16
elsewhere; DeepSeek-V4: FP4 experts with FP8 elsewhere).

On hardware without native tensor cores for a format, the recipe runs *weight-only*: weights stay in the small format
in memory, compute falls back to the best native class (FP8, else BF16) and pays a dequantisation cost. No FP4 compute
speed-up is ever granted on Hopper or MI300X/MI325X.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ._config import Section, load_yaml
from ._errors import unknown_name
from .hardware import COMPUTE_CLASSES, Hardware

__all__ = ["Format", "Recipe", "ResolvedPrecision", "load_precisions_file", "resolve_precision"]

# When a compute class is not native, try these in order (each a strictly wider format).
_FALLBACK = {"fp4": ("fp6", "fp8", "bf16"), "fp6": ("fp8", "bf16"), "fp8": ("bf16",), "fp16": ("bf16",),
             "bf16": ()}
_COMPONENTS = ("routed_experts", "other_weights", "activations", "kv_cache")


@dataclass(frozen=True)
class Format:
    name: str
    bits_per_element: float  # including block scales
    compute_class: str | None  # tensor-core rate class; None = storage-only (weight-only integer formats)
    source: str
    description: str = ""

    @property
    def bytes_per_element(self) -> float:
        return self.bits_per_element / 8.0


@dataclass(frozen=True)
class Recipe:
    name: str
    routed_experts: Format
    other_weights: Format
    activations: Format
    kv_cache: Format
    source: str
    description: str = ""
    aliases: tuple[str, ...] = ()

    def with_kv_cache(self, kv: Format) -> Recipe:
        return Recipe(self.name, self.routed_experts, self.other_weights, self.activations, kv, self.source,
                      self.description, self.aliases)

    def to_dict(self) -> dict:
        return {
            "name": self.name, "description": self.description, "aliases": list(self.aliases),
            **{c: getattr(self, c).name for c in _COMPONENTS},
            "bits_per_element": {c: getattr(self, c).bits_per_element for c in _COMPONENTS},
            "source": self.source,
        }


@dataclass(frozen=True)
class ResolvedPrecision:
    """A recipe on one accelerator: what is stored, what is computed, whether weights are dequantised."""

    recipe: Recipe
    compute_class: str  # the tensor-core class the matmuls actually run at
    routed_expert_bytes_per_param: float
    other_weight_bytes_per_param: float
    activation_bytes_per_element: float  # EP dispatch volume; reductions and EP combine travel in bf16
    kv_bytes_per_element: float
    weight_only: bool  # some weights are stored in a format the hardware cannot compute natively
    native: bool  # the recipe's compute format runs natively

    @property
    def name(self) -> str:
        return self.recipe.name


def _native_class(hardware: Hardware, wanted: str) -> str:
    for cls in (wanted, *_FALLBACK[wanted]):
        if hardware.is_native(cls) or (cls == "fp6" and hardware.dense_tflops.get("fp4")):
            return cls
    return "bf16"


def resolve_precision(recipe: Recipe, hardware: Hardware) -> ResolvedPrecision:
    wanted = recipe.activations.compute_class or "bf16"
    compute_class = _native_class(hardware, wanted)
    weight_classes = {f.compute_class for f in (recipe.routed_experts, recipe.other_weights)}
    # Weights need dequantisation when the hardware has no tensor-core path for their format (INT4 anywhere; FP4 on
    # Hopper). Blackwell multiplies FP4 weights by FP8 activations natively (mixed-input MMA), so no dequant there.
    weight_only = any(c is None or not _has_class(hardware, c) for c in weight_classes)
    return ResolvedPrecision(
        recipe=recipe,
        compute_class=compute_class,
        routed_expert_bytes_per_param=recipe.routed_experts.bytes_per_element,
        other_weight_bytes_per_param=recipe.other_weights.bytes_per_element,
        # Activations travel in 8 bits when compute is 8 bits or less (DeepEP's FP8 dispatch), else in 16.
        activation_bytes_per_element=1.0 if compute_class in ("fp8", "fp6", "fp4") else 2.0,
        kv_bytes_per_element=recipe.kv_cache.bytes_per_element,
        weight_only=weight_only,
        native=compute_class == wanted,
    )


def _has_class(hardware: Hardware, cls: str) -> bool:
    if cls == "fp6":
        return "fp4" in hardware.dense_tflops
    if cls == "fp16":
        return True
    return hardware.is_native(cls)


def load_precisions_file(path: str | Path) -> tuple[dict[str, Format], dict[str, Recipe]]:
    doc = Section(load_yaml(path), path)
    doc.check_keys(("formats", "recipes", "source"))
    formats: dict[str, Format] = {}
    fmt_section = doc.section("formats")
    for name in fmt_section.keys():
        f = fmt_section.section(name)
        f.check_keys(("bits_per_element", "compute_class", "source", "description"))
        cls = f.raw("compute_class", None)
        if cls is not None:
            f.string("compute_class", choices=COMPUTE_CLASSES)
        formats[name] = Format(name, f.number("bits_per_element", low=1, high=32), cls, f.source(),
                               f.string("description", ""))
    recipes: dict[str, Recipe] = {}
    rec_section = doc.section("recipes")
    for name in rec_section.keys():
        r = rec_section.section(name)
        r.check_keys((*_COMPONENTS, "source", "description", "aliases"))
        parts = {}
        for component in _COMPONENTS:
            fname = r.string(component)
            if fname not in formats:
                raise unknown_name("format", fname, formats, str(path), r.field(component))
            parts[component] = formats[fname]
        recipes[name] = Recipe(name=name, source=r.source(), description=r.string("description", ""),
                               aliases=tuple(r.items("aliases", [])), **parts)
    return formats, recipes
