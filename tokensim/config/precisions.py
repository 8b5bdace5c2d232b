"""Number formats and precision recipes, and how a recipe runs on a given accelerator.

A *format* is an element encoding with its storage cost including block scales (MXFP4 = 4 bits + one E8M0 scale per
32 elements = 4.25 bits). A *recipe* sets the format of each component separately: routed-expert weights, other
weights, activations (the compute format) and KV cache, as shipped mixed recipes do (gpt-oss: MXFP4 experts with BF16
elsewhere; DeepSeek-V4: FP4 experts with FP8 elsewhere).

On hardware without native tensor cores for a format, the recipe runs *weight-only*: weights stay in the small format
in memory, compute falls back to the best native class (FP8, else BF16) and pays a dequantisation cost. No FP4 compute
speed-up is ever granted on Hopper or MI300X/MI325X.

A format can also be native to some hardware families only (``native_families``): NVFP4's E4M3 scale per 16 elements
is a Blackwell tensor-core feature, while CDNA4 (MI355X) multiplies FP4/FP6 only with the OCP MX scales (E8M0 per
32). Elsewhere such a format's weights are dequantised and its matmuls run at FP8 (else BF16): the next FP4/FP6
class would need the other scaling, i.e. a different checkpoint (use the ``mxfp4`` recipe for that).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .._errors import unknown_name
from ._yaml import Section, load_yaml
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
    native_families: tuple[str, ...] = ()  # hardware families whose tensor cores take this format; () = any with the class

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


def _native_class(hardware: Hardware, candidates: tuple[str, ...]) -> str:
    for cls in candidates:
        if hardware.is_native(cls) or (cls == "fp6" and hardware.dense_tflops.get("fp4")):
            return cls
    return "bf16"


def _family_allows(fmt: Format, hardware: Hardware) -> bool:
    return not fmt.native_families or hardware.family in fmt.native_families


def _runs_natively(fmt: Format, hardware: Hardware) -> bool:
    """The hardware's tensor cores take this format as it is stored."""
    return fmt.compute_class is not None and _has_class(hardware, fmt.compute_class) and _family_allows(fmt, hardware)


def resolve_precision(recipe: Recipe, hardware: Hardware) -> ResolvedPrecision:
    wanted = recipe.activations.compute_class or "bf16"
    if _family_allows(recipe.activations, hardware):
        candidates = (wanted, *_FALLBACK[wanted])
    else:  # a scaling these tensor cores lack: the sub-8-bit classes would need the other scaling (module docstring)
        candidates = tuple(c for c in _FALLBACK[wanted] if c not in ("fp6", "fp4"))
    compute_class = _native_class(hardware, candidates)
    # Weights need dequantisation when the hardware has no tensor-core path for their format (INT4 anywhere; FP4 on
    # Hopper; NVFP4 outside Blackwell). Blackwell multiplies FP4 weights by FP8 activations natively (mixed-input
    # MMA), so no dequant there.
    weight_only = any(not _runs_natively(f, hardware) for f in (recipe.routed_experts, recipe.other_weights))
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
        f.check_keys(("bits_per_element", "compute_class", "source", "description", "native_families"))
        cls = f.raw("compute_class", None)
        if cls is not None:
            f.string("compute_class", choices=COMPUTE_CLASSES)
        families = tuple(f.items("native_families", []))
        for family in families:
            if not isinstance(family, str) or not family:
                raise f.error("native_families", family, "hardware family names (the `family` of configs/hardware)")
        formats[name] = Format(name, f.number("bits_per_element", low=1, high=32), cls, f.source(),
                               f.string("description", ""), families)
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
