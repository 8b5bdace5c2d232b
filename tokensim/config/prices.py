"""GPU-hour prices by GPU and market tier: the price catalogue's schema (:class:`PricesSchema`) and loader.

``configs/prices.yaml`` lists observed or published prices, each with its GPU (a hardware catalogue name), tier,
provider, region, currency, date, grade and source. A price is given either per GPU-hour (``price_per_gpu_hour``)
or as the quote the source states (``quote``: an amount per instance-hour, per server-month or per GPU-hour, for a
number of GPUs), which :func:`quote_per_gpu_hour` converts: a server-month has ``HOURS_PER_MONTH`` = 730 hours
(a 365-day year / 12, :mod:`tokensim._units`), the convention every monthly figure in tokensim uses. A quote may be a
range (``amount_high``); the entry then has a high end too.

Tiers (:data:`TIERS`): ``hyperscaler-on-demand``, ``neocloud-on-demand``, ``reserved-1y`` and ``reserved-3y``
(hyperscaler or neocloud commitments), ``owned-tco`` (a published cost of owning and running the GPU per GPU-hour, from
a build-up or a TCO model) and ``china-rental`` (quotes in the China rental market). Grades follow the research note
(``A`` primary, ``B`` reputable secondary, ``C`` weak secondary, ``E`` estimate with its method).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import core_schema

from .._errors import ConfigError, did_you_mean
from .._units import HOURS_PER_MONTH
from ._spec import Choice, Invalid, Number, SchemaSection, Text, validate_document
from .catalog import load_catalog
from .money import load_fx
from .reader import config_dir, load_yaml

__all__ = ["TIERS", "GRADES", "QUOTE_UNITS", "PriceEntry", "PricesSchema", "load_prices", "load_prices_file",
           "quote_per_gpu_hour"]

TIERS = ("hyperscaler-on-demand", "neocloud-on-demand", "reserved-1y", "reserved-3y", "owned-tco", "china-rental")
GRADES = ("A", "B", "C", "E")
QUOTE_UNITS = ("gpu-hour", "instance-hour", "server-month")
_DATE = re.compile(r"^(19|20)\d{2}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")
_PRICE = Number(0, low_open=True, unit="currency per GPU-hour")


def quote_per_gpu_hour(amount: float, per: str, gpus: int) -> float:
    """A quoted price as a price per GPU-hour.

    Parameters
    ----------
    amount : float
        The quoted amount, in the quote's currency.
    per : str
        What the amount buys (:data:`QUOTE_UNITS`): one ``gpu-hour``, one ``instance-hour`` of ``gpus`` GPUs, or one
        ``server-month`` of ``gpus`` GPUs (730 hours: ``HOURS_PER_MONTH``).
    gpus : int
        GPUs in the instance or server quoted (1 for a GPU-hour quote).

    Returns
    -------
    float
        Currency per GPU-hour: ``amount / gpus`` per hour, and a month's amount divided by 730 hours.
    """
    hours = HOURS_PER_MONTH if per == "server-month" else 1.0
    return amount / gpus / hours


class _GpuName:
    """A name from the hardware catalogue (aliases accepted), with "did you mean" on a miss."""

    def check(self, value: Any, info: ValidationInfo) -> str:
        if not isinstance(value, str):
            raise Invalid("a string")
        catalog = (info.context or {}).get("catalog") or load_catalog()
        try:
            return catalog.get_hardware(value).name
        except ConfigError as exc:
            names = [c.strip() for c in exc.allowed.removeprefix("one of ").split(",")]
            raise Invalid(f"a GPU in the hardware catalogue: {', '.join(names)}", did_you_mean(value, names)) from None

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.with_info_plain_validator_function(self.check)


class _Date:
    """The date a price was observed or published: ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` (a bare year may be a
    YAML number); read as a string, so that dates sort as text."""

    def check(self, value: Any) -> str:
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(text, str) or not _DATE.match(text):
            raise Invalid("a date observed or published: YYYY, YYYY-MM or YYYY-MM-DD")
        return text

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.check)


class QuoteSchema(SchemaSection):
    """A price as the source states it: ``amount`` (to ``amount_high`` for a range) per ``per`` of ``gpus`` GPUs."""

    amount: Annotated[float, _PRICE]
    amount_high: Annotated[float, _PRICE] | None = Field(None)
    per: Annotated[str, Choice(QUOTE_UNITS)]
    gpus: Annotated[int, Number(1, integer=True, unit="GPUs in the instance or server quoted")]

    @model_validator(mode="after")
    def _range(self) -> QuoteSchema:
        if self.amount_high is not None and self.amount_high < self.amount:
            raise Invalid(f"at least amount ({self.amount:g})", key="amount_high", value=self.amount_high)
        if self.per == "gpu-hour" and self.gpus != 1:
            raise Invalid("1 for a quote per gpu-hour", key="gpus", value=self.gpus)
        return self


class PriceSourceSchema(SchemaSection):
    """Where a price comes from: the document (title), its publisher and, where public, its address."""

    document: Annotated[str, Text()]
    publisher: Annotated[str, Text()]
    url: Annotated[str, Text()] | None = Field(None)

    @field_validator("document", "publisher", mode="after")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise Invalid("a non-empty string")
        return value


class PriceEntrySchema(SchemaSection):
    """One observed or published price of one GPU in one tier."""

    gpu: Annotated[str, _GpuName()]
    tier: Annotated[str, Choice(TIERS)]
    provider: Annotated[str, Text()]
    region: Annotated[str, Text()]
    currency: Annotated[str, Text()]
    price_per_gpu_hour: Annotated[float, _PRICE] | None = Field(None)
    quote: QuoteSchema | None = Field(None)
    grade: Annotated[str, Choice(GRADES)]
    date: Annotated[str, _Date()]
    source: PriceSourceSchema
    notes: Annotated[str, Text()] | None = Field(None)

    @field_validator("currency", mode="after")
    @classmethod
    def _currency(cls, value: str) -> str:
        try:
            return load_fx().check(value)
        except ConfigError as exc:
            raise Invalid.from_error(exc) from None

    @model_validator(mode="after")
    def _one_price(self) -> PriceEntrySchema:
        if (self.price_per_gpu_hour is None) == (self.quote is None):
            raise Invalid("exactly one of price_per_gpu_hour and quote", key="price_per_gpu_hour",
                          value=self.price_per_gpu_hour)
        return self


class PricesSchema(SchemaSection):
    """The price catalogue: a list of entries."""

    entries: list[PriceEntrySchema]


@dataclass(frozen=True)
class PriceEntry:
    """One price per GPU-hour of one GPU in one tier, with what the source quoted and where it comes from."""

    gpu: str  # hardware catalogue name
    tier: str
    provider: str
    region: str
    currency: str
    price_per_gpu_hour: float  # low end where the source gives a range
    price_per_gpu_hour_high: float | None  # high end of a range; None for a single price
    grade: str
    date: str  # observed or published: YYYY, YYYY-MM or YYYY-MM-DD
    source_document: str
    source_publisher: str
    source_url: str | None = None
    quote_amount: float | None = None  # as the source states it (None: it states a price per GPU-hour)
    quote_amount_high: float | None = None
    quote_per: str | None = None
    quote_gpus: int | None = None
    notes: str = ""
    file: str = field(default="", compare=False)

    def to_dict(self) -> dict:
        """The entry with its price also in USD (at the planning rate of ``configs/fx.yaml``)."""
        usd = load_fx().factor(self.currency, "USD")
        high = self.price_per_gpu_hour_high
        return {
            "gpu": self.gpu, "tier": self.tier, "provider": self.provider, "region": self.region,
            "currency": self.currency, "price_per_gpu_hour": self.price_per_gpu_hour,
            "price_per_gpu_hour_high": high, "price_per_gpu_hour_usd": self.price_per_gpu_hour * usd,
            "price_per_gpu_hour_high_usd": None if high is None else high * usd,
            "quote_amount": self.quote_amount, "quote_amount_high": self.quote_amount_high,
            "quote_per": self.quote_per, "quote_gpus": self.quote_gpus, "grade": self.grade, "date": self.date,
            "source_document": self.source_document, "source_publisher": self.source_publisher,
            "source_url": self.source_url, "notes": self.notes,
        }


def _entry(m: PriceEntrySchema, file: str) -> PriceEntry:
    q = m.quote
    if q is None:
        assert m.price_per_gpu_hour is not None  # the schema demands one of the two
        low, high = m.price_per_gpu_hour, None
    else:
        low = quote_per_gpu_hour(q.amount, q.per, q.gpus)
        high = None if q.amount_high is None else quote_per_gpu_hour(q.amount_high, q.per, q.gpus)
    return PriceEntry(
        gpu=m.gpu, tier=m.tier, provider=m.provider, region=m.region, currency=m.currency,
        price_per_gpu_hour=low, price_per_gpu_hour_high=high, grade=m.grade, date=m.date,
        source_document=m.source.document, source_publisher=m.source.publisher, source_url=m.source.url,
        quote_amount=None if q is None else q.amount, quote_amount_high=None if q is None else q.amount_high,
        quote_per=None if q is None else q.per, quote_gpus=None if q is None else q.gpus,
        notes=m.notes or "", file=file,
    )


def load_prices_file(path: str | Path, catalog: Any = None) -> tuple[PriceEntry, ...]:
    """Read and validate a price catalogue (:class:`PricesSchema`), every error of the file reported at once.

    Parameters
    ----------
    path : str or pathlib.Path
        A YAML file in the format of ``configs/prices.yaml``.
    catalog : tokensim.config.catalog.Catalog, optional
        The catalogue GPU names are looked up in (default: the bundled one).

    Returns
    -------
    tuple[PriceEntry, ...]
        The entries in the file's order, GPU names as the hardware catalogue spells them.

    Raises
    ------
    ConfigError
        One error, or a :class:`~tokensim.ConfigErrors` with one line per error (file, field path, value, allowed).
    """
    context = {"catalog": catalog if catalog is not None else load_catalog()}
    m = validate_document(PricesSchema, load_yaml(path), str(path), context=context)
    return tuple(_entry(e, str(path)) for e in m.entries)


@lru_cache(maxsize=4)
def load_prices(path: str | None = None) -> tuple[PriceEntry, ...]:
    """The price catalogue (default: the bundled ``configs/prices.yaml``), read once per ``path``."""
    return load_prices_file(path or config_dir() / "prices.yaml")
