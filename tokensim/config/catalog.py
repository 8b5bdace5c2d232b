"""The bundled catalogues (hardware, models, precisions) and name lookup with "did you mean".

``load_catalog()`` reads ``configs/hardware/*.yaml``, ``configs/models/*.yaml`` and ``configs/precisions.yaml`` once
and caches them. Names match case-insensitively and through each entry's aliases (``deepseek-r1`` →
``deepseek-v3``); an unknown name is a :class:`~tokensim.UserError` listing the known names and the closest one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .._errors import ConfigError, unknown_name
from .hardware import Hardware, load_hardware_file
from .models import ModelSpec, load_model_file
from .precisions import Format, Recipe, load_precisions_file
from .reader import config_dir

__all__ = ["Catalog", "load_catalog"]


def _index(entries, kind: str) -> dict[str, object]:
    index: dict[str, object] = {}
    for entry in entries:
        for key in (entry.name, *entry.aliases):
            if key.lower() in index:
                raise ConfigError(getattr(entry, "file", None), "name", key, f"a {kind} name not used twice")
            index[key.lower()] = entry
    return index


@dataclass(frozen=True)
class Catalog:
    hardware: dict[str, Hardware]
    models: dict[str, ModelSpec]
    formats: dict[str, Format]
    recipes: dict[str, Recipe]

    def _find(self, table: dict, name: str, kind: str, field: str | None):
        index = _index(table.values(), kind)
        entry = index.get(str(name).lower())
        if entry is None:
            names = [e.name for e in table.values()] + [a for e in table.values() for a in e.aliases]
            raise unknown_name(kind, str(name), names, field=field or kind)
        return entry

    def get_hardware(self, name: str, field: str | None = None) -> Hardware:
        return self._find(self.hardware, name, "hardware", field)

    def get_model(self, name: str, field: str | None = None) -> ModelSpec:
        return self._find(self.models, name, "model", field)

    def get_recipe(self, name: str, field: str | None = None) -> Recipe:
        return self._find(self.recipes, name, "precision", field)

    def get_format(self, name: str, field: str | None = None) -> Format:
        fmt = self.formats.get(str(name).lower())
        if fmt is None:
            raise unknown_name("format", str(name), self.formats, field=field or "format")
        return fmt


def _load_folder(folder: Path, loader) -> dict:
    entries = {}
    for path in sorted(folder.glob("*.yaml")):
        entry = loader(path)
        entries[entry.name] = entry
    return entries


@lru_cache(maxsize=4)
def load_catalog(root: str | None = None) -> Catalog:
    """The catalogues of accelerators, models and precision recipes (loaded once per ``root``).

    Parameters
    ----------
    root : str, optional
        A folder with ``hardware/``, ``models/`` and ``precisions.yaml`` (default: the bundled ``configs/``).

    Returns
    -------
    Catalog
        Hardware specs, model architectures and precision formats and recipes, each with its source; lookups by
        name with "did you mean" on a miss.
    """
    base = Path(root) if root else config_dir()
    formats, recipes = load_precisions_file(base / "precisions.yaml")
    catalog = Catalog(
        hardware=_load_folder(base / "hardware", load_hardware_file),
        models=_load_folder(base / "models", load_model_file),
        formats=formats,
        recipes=recipes,
    )
    _index(catalog.hardware.values(), "hardware")
    _index(catalog.models.values(), "model")
    _index(catalog.recipes.values(), "precision")
    families = {hw.family for hw in catalog.hardware.values()}
    for fmt in formats.values():
        for family in fmt.native_families:
            if family not in families:
                raise unknown_name("hardware family", family, families, str(base / "precisions.yaml"),
                                   f"formats.{fmt.name}.native_families")
    return catalog
