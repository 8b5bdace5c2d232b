"""Currencies and conversion: every monetary field names its currency; ``configs/fx.yaml`` converts between them.

Rates are stored as units of each currency per US dollar, so converting A → B is ``amount / rate[A] * rate[B]``.
An unknown currency code is a :class:`~tokensim.UserError` that lists the known ones (and the closest match).
Conversion is linear, so a whole result (a cost breakdown, a cash-flow schedule) converts by one factor:
:func:`fx_factor` gives it and the result objects apply it to their money fields only (never to IRRs or ratios).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .._errors import ConfigError, did_you_mean
from .reader import Section, config_dir, load_yaml

__all__ = ["FxTable", "load_fx", "check_currency", "fx_factor", "convert"]


@dataclass(frozen=True)
class FxTable:
    """Units of each currency per one unit of ``base`` (USD), with the source of each rate."""

    base: str
    units_per_base: dict[str, float]
    sources: dict[str, str]
    file: str = ""

    @property
    def currencies(self) -> list[str]:
        return sorted(self.units_per_base)

    def check(self, code: str, file: str | None = None, field: str = "currency") -> str:
        """The code in upper case if it is known, else a user error naming where it came from."""
        if not isinstance(code, str) or code.upper() not in self.units_per_base:
            hint = did_you_mean(str(code), self.currencies)
            # The bundled table by its documented name, not the path it happens to be installed at.
            table = self.file if self.file and Path(self.file) != config_dir() / "fx.yaml" else "configs/fx.yaml"
            raise ConfigError(file, field, code, f"a currency in {table}: "
                              f"{', '.join(self.currencies)}", hint)
        return code.upper()

    def factor(self, from_currency: str, to_currency: str) -> float:
        """Multiply an amount in ``from_currency`` by this to express it in ``to_currency``."""
        src = self.check(from_currency)
        dst = self.check(to_currency)
        return self.units_per_base[dst] / self.units_per_base[src]


def load_fx_file(path: str | Path) -> FxTable:
    doc = Section(load_yaml(path), path)
    doc.check_keys(("base_currency", "units_per_usd"))
    base = doc.string("base_currency", choices=("USD",))
    rates_section = doc.section("units_per_usd")
    rates: dict[str, float] = {}
    sources: dict[str, str] = {}
    for code in rates_section.keys():
        entry = rates_section.section(code)
        entry.check_keys(("rate", "source"))
        if not (isinstance(code, str) and len(code) == 3 and code.isupper()):
            raise rates_section.error(str(code), code, "an ISO 4217 code in upper case (e.g. CNY)")
        rates[code] = entry.number("rate", low=0, low_open=True)
        sources[code] = entry.source()
    if rates.get(base) != 1.0:
        raise rates_section.error(base, rates.get(base), "1.0 (the base currency's own rate)")
    return FxTable(base=base, units_per_base=rates, sources=sources, file=str(path))


@lru_cache(maxsize=4)
def load_fx(path: str | None = None) -> FxTable:
    """The FX table (default: the bundled ``configs/fx.yaml``), read once."""
    return load_fx_file(path or config_dir() / "fx.yaml")


def check_currency(code: str, file: str | None = None, field: str = "currency") -> str:
    """Validate a currency code against the bundled FX table; returns it in upper case."""
    return load_fx().check(code, file, field)


def fx_factor(from_currency: str, to_currency: str) -> float:
    """Multiply amounts in ``from_currency`` by this to get ``to_currency`` (bundled table)."""
    return load_fx().factor(from_currency, to_currency)


def convert(amount, from_currency: str, to_currency: str):
    """An amount (number or array) in ``from_currency`` expressed in ``to_currency``."""
    return amount * fx_factor(from_currency, to_currency)
