"""Number formats and precision recipes, and how a recipe runs on a given accelerator.

A *format* is an element encoding with its storage cost including block scales (MXFP4 = 4 bits + one E8M0 scale per
32 elements = 4.25 bits). A *recipe* sets the format of each component separately: routed-expert weights, other
weights, activations (the compute format) and KV cache, as shipped mixed recipes do (gpt-oss: MXFP4 experts with BF16
elsewhere; DeepSeek-V4: FP4 experts with FP8 elsewhere).

On hardware without native tensor cores for a format, the recipe runs *weight-only*: weights stay in the small format
in memory, compute falls back to the best native class (FP8, else BF16) and pays a dequantisation cost. A recipe may
name the activations its engines pair with the dequantised weights instead (``weight_only_activations``: gpt-oss's
MXFP4 experts run W4A16, at BF16, on Hopper). No FP4 compute speed-up is ever granted on Hopper or MI300X/MI325X.

A format can also be native to some hardware families only (``native_families``): NVFP4's E4M3 scale per 16 elements
is a Blackwell tensor-core feature, while CDNA4 (MI355X) multiplies FP4/FP6 only with the OCP MX scales (E8M0 per
32). Elsewhere such a format's weights are dequantised and its matmuls run at FP8 (else BF16): the next FP4/FP6
class would need the other scaling, i.e. a different checkpoint (use the ``mxfp4`` recipe for that).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from .._errors import did_you_mean
from ._spec import Choice, Invalid, Number, SchemaSection, Source, Text, validate_document
from .hardware import COMPUTE_CLASSES, Hardware
from .reader import load_yaml

__all__ = ["Format", "Recipe", "ResolvedPrecision", "PrecisionsSchema", "load_precisions_file", "resolve_precision"]

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
    # hardware families whose tensor cores take this format; () = any with the class
    native_families: tuple[str, ...] = ()

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
    # the activations the engines pair with the weights on hardware where those weights run weight-only (dequantised
    # inside the matmul kernels), where that differs from ``activations``: gpt-oss's MXFP4 experts run W4A16 on Hopper
    # (no MXFP8 activations there); None: ``activations`` everywhere
    weight_only_activations: Format | None = None

    def with_kv_cache(self, kv: Format) -> Recipe:
        return replace(self, kv_cache=kv)

    def to_dict(self) -> dict:
        return {
            "name": self.name, "description": self.description, "aliases": list(self.aliases),
            **{c: getattr(self, c).name for c in _COMPONENTS},
            "bits_per_element": {c: getattr(self, c).bits_per_element for c in _COMPONENTS},
            "weight_only_activations": self.weight_only_activations.name if self.weight_only_activations else None,
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
    attention_compute_class: str  # the tensor-core class attention runs at (:func:`attention_compute_class`)

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


def attention_compute_class(recipe: Recipe, hardware: Hardware, compute_class: str) -> str:
    """The tensor-core class attention (QK^T and PV over the cached context, DSA's indexer, linear-attention
    recurrences) computes at: FP8 when the KV cache is FP8 and the matmuls run at 8 bits or fewer, else BF16, never
    faster than the matmuls.

    The serving engines' attention kernels take 16-bit operands, or FP8 ones with an FP8 KV cache (TensorRT-LLM's FP8
    context FMHA and XQA generation kernels, FlashMLA's FP8 KV path, FlashAttention-3 FP8); none runs attention at a 6-
    or 4-bit rate (2026), so an FP4 weight recipe does not speed attention up. Which engines take the FP8 path with an
    FP8 cache varies by engine and version: an **assumption** at the level of this rule.
    """
    wanted = "fp8" if recipe.kv_cache.compute_class == "fp8" and compute_class in ("fp8", "fp6", "fp4") else "bf16"
    return _native_class(hardware, (wanted, *_FALLBACK[wanted]))


def resolve_precision(recipe: Recipe, hardware: Hardware) -> ResolvedPrecision:
    # Weights need dequantisation when the hardware has no tensor-core path for their format (INT4 anywhere; FP4 on
    # Hopper; NVFP4 outside Blackwell). Blackwell multiplies FP4 weights by FP8 activations natively (mixed-input
    # MMA), so no dequant there.
    weight_only = any(not _runs_natively(f, hardware) for f in (recipe.routed_experts, recipe.other_weights))
    # a recipe whose engines pair its dequantised weights with other activations (Recipe.weight_only_activations)
    activations = (recipe.weight_only_activations if weight_only and recipe.weight_only_activations
                   else recipe.activations)
    wanted = activations.compute_class or "bf16"
    if _family_allows(activations, hardware):
        candidates = (wanted, *_FALLBACK[wanted])
    else:  # a scaling these tensor cores lack: the sub-8-bit classes would need the other scaling (module docstring)
        candidates = tuple(c for c in _FALLBACK[wanted] if c not in ("fp6", "fp4"))
    compute_class = _native_class(hardware, candidates)
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
        attention_compute_class=attention_compute_class(recipe, hardware, compute_class),
    )


def _has_class(hardware: Hardware, cls: str) -> bool:
    if cls == "fp6":
        return "fp4" in hardware.dense_tflops
    if cls == "fp16":
        return True
    return hardware.is_native(cls)


class FormatSchema(SchemaSection):
    """One number format: storage cost and the tensor-core class it computes at."""

    bits_per_element: Annotated[float, Number(1, 32, unit="bits per element, block scales included")]
    compute_class: Annotated[str, Choice(COMPUTE_CLASSES)] | None = Field(None)  # absent: storage-only
    source: Annotated[str, Source()]
    description: Annotated[str, Text()] | None = Field(None)
    native_families: list[Any] | None = Field(None)  # hardware families (configs/hardware `family`); absent: any

    @field_validator("native_families", mode="after")
    @classmethod
    def _families(cls, families: list[Any] | None) -> list[Any] | None:
        for family in families or ():
            if not isinstance(family, str) or not family:
                raise Invalid("hardware family names (the `family` of configs/hardware)", value=family)
        return families


class RecipeSchema(SchemaSection):
    """A precision recipe: a format (a key of ``formats``) for each component."""

    routed_experts: Annotated[str, Text()]
    other_weights: Annotated[str, Text()]
    activations: Annotated[str, Text()]
    kv_cache: Annotated[str, Text()]
    source: Annotated[str, Source()]
    description: Annotated[str, Text()] | None = Field(None)
    aliases: list[Any] | None = Field(None)
    # the activations' format where the weights run weight-only (Recipe.weight_only_activations); absent: activations
    weight_only_activations: Annotated[str, Text()] | None = Field(None)


class PrecisionsSchema(SchemaSection):
    """``configs/precisions.yaml``: the formats and the recipes built from them."""

    formats: dict[str, FormatSchema]
    recipes: dict[str, RecipeSchema]
    source: Any = Field(None)

    @model_validator(mode="after")
    def _known_formats(self) -> PrecisionsSchema:
        names = sorted(self.formats)
        for name, recipe in self.recipes.items():
            for component in (*_COMPONENTS, "weight_only_activations"):
                fname = getattr(recipe, component)
                if fname is not None and fname not in self.formats:
                    raise Invalid(f"one of {', '.join(names)}", did_you_mean(fname, names),
                                  key=f"recipes.{name}.{component}", value=fname)
        return self


def load_precisions_file(path: str | Path) -> tuple[dict[str, Format], dict[str, Recipe]]:
    """Read and validate the formats and recipes file (:class:`PrecisionsSchema`), every error reported at once.

    Parameters
    ----------
    path : str or pathlib.Path
        A YAML file in the format of ``configs/precisions.yaml``.

    Returns
    -------
    tuple[dict[str, Format], dict[str, Recipe]]
        The formats and the recipes by name, in the file's order.

    Raises
    ------
    ConfigError
        One error, or a :class:`~tokensim.ConfigErrors` with one line per error.
    """
    m = validate_document(PrecisionsSchema, load_yaml(path), str(path))
    formats = {name: Format(name, f.bits_per_element, f.compute_class, f.source, f.description or "",
                            tuple(f.native_families or ()))
               for name, f in m.formats.items()}
    recipes = {name: Recipe(name=name, source=r.source, description=r.description or "",
                            aliases=tuple(r.aliases or ()),
                            weight_only_activations=(formats[r.weight_only_activations]
                                                     if r.weight_only_activations else None),
                            **{component: formats[getattr(r, component)] for component in _COMPONENTS})
               for name, r in m.recipes.items()}
    return formats, recipes
