"""Efficiency factors of the performance model (``configs/calibration.yaml``): schema, loader and writer.

Each factor carries its value and its source. Family entries override the defaults key by key, so a fit can set only
what the data constrain. ``tokensim calibrate`` writes this file; everything else only reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from statistics import NormalDist

from ._config import Section, config_dir, load_yaml

__all__ = ["PhaseEfficiency", "Efficiency", "load_efficiency", "PHASES", "PHASE_FACTORS", "GLOBAL_FACTORS"]

PHASES = ("prefill", "decode")
# name -> (low, high, open-low) allowed range
PHASE_FACTORS = {
    "compute_efficiency": (0.0, 1.0, True),
    "memory_efficiency": (0.0, 1.0, True),
    "network_efficiency": (0.0, 1.0, True),
    "comm_overlap": (0.0, 1.0, False),
    "step_overhead_s": (0.0, 1.0, False),
    "sequence_overhead_s": (0.0, 0.01, False),
    "collective_latency_s": (0.0, 0.01, False),
    "log_error_std": (0.0, 3.0, True),
}
GLOBAL_FACTORS = {
    "weight_only_dequant_overhead": (0.0, 5.0, False),
    "prefill_chunk_tokens": (1.0, 1e7, False),
    "workspace_fraction": (0.0, 0.9, False),
}


@dataclass(frozen=True)
class PhaseEfficiency:
    compute_efficiency: float
    memory_efficiency: float
    network_efficiency: float
    comm_overlap: float
    step_overhead_s: float
    collective_latency_s: float
    log_error_std: float
    sequence_overhead_s: float = 0.0  # per sequence in the batch (per attention-DP group) per forward pass


@dataclass(frozen=True)
class Efficiency:
    """Factors for one hardware family: one set per phase plus the phase-independent ones."""

    family: str
    prefill: PhaseEfficiency
    decode: PhaseEfficiency
    weight_only_dequant_overhead: float
    prefill_chunk_tokens: float
    workspace_fraction: float
    interval_level: float
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def interval_z(self) -> float:
        """Normal quantile for the two-sided interval level (0.8 → 1.2816)."""
        return NormalDist().inv_cdf(0.5 + self.interval_level / 2)

    def phase(self, name: str) -> PhaseEfficiency:
        return getattr(self, name)

    def with_phase(self, name: str, **changes: float) -> Efficiency:
        return replace(self, **{name: replace(self.phase(name), **changes)})


def _factor(section: Section, key: str, spec: tuple[float, float, bool], sources: dict, prefix: str) -> float:
    entry = section.raw(key)
    if isinstance(entry, dict):
        sub = section.section(key)
        sub.check_keys(("value", "source"))
        sources[f"{prefix}{key}"] = sub.source()
        low, high, low_open = spec
        return sub.number("value", low=low, high=high, low_open=low_open)
    low, high, low_open = spec
    sources[f"{prefix}{key}"] = "fitted" if section.file else "given"
    return section.number(key, low=low, high=high, low_open=low_open)


def _merged(defaults: Section, family: Section | None, key: str, spec, sources: dict, prefix: str) -> float:
    if family is not None and key in family:
        return _factor(family, key, spec, sources, prefix)
    return _factor(defaults, key, spec, sources, prefix)


@dataclass(frozen=True)
class _Document:
    defaults: Section
    families: Section
    interval_level: float
    fit: dict


def _read(path: Path) -> _Document:
    doc = Section(load_yaml(path), path)
    doc.check_keys(("fit", "interval_level", "defaults", "families"))
    defaults = doc.section("defaults")
    defaults.check_keys((*PHASES, *GLOBAL_FACTORS))
    return _Document(defaults, doc.section("families", {}),
                     doc.number("interval_level", 0.8, low=0, high=1, low_open=True, high_open=True),
                     dict(doc.raw("fit", {}) or {}))


@lru_cache(maxsize=64)
def load_efficiency(family: str, path: str | None = None) -> Efficiency:
    """Factors for ``family`` from ``path`` (default: the bundled configs/calibration.yaml)."""
    doc = _read(Path(path) if path else config_dir() / "calibration.yaml")
    fam = doc.families.section(family) if family in doc.families else None
    if fam is not None:
        fam.check_keys((*PHASES, *GLOBAL_FACTORS))
    sources: dict[str, str] = {}
    phases = {}
    for phase in PHASES:
        d = doc.defaults.section(phase)
        d.check_keys(PHASE_FACTORS)
        f = fam.section(phase) if fam is not None and phase in fam else None
        if f is not None:
            f.check_keys(PHASE_FACTORS)
        phases[phase] = PhaseEfficiency(**{k: _merged(d, f, k, spec, sources, f"{phase}.")
                                           for k, spec in PHASE_FACTORS.items()})
    glob = {k: _merged(doc.defaults, fam, k, spec, sources, "") for k, spec in GLOBAL_FACTORS.items()}
    return Efficiency(family=family, interval_level=doc.interval_level, sources=sources, **phases, **glob)
