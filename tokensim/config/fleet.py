"""A fleet: blocks of GPUs of several generations, owned or leased in, on one calendar (issue 14; DESIGN.md section 12).

A fleet file (YAML, the scenario's declared-schema conventions: every field with type, bounds, unit, default and why;
unknown keys refused with "did you mean"; every error of the file reported at once) lists blocks. Each block is a
scenario (a bundled name or a file, a relative path read from the fleet file's folder) amended by the block:

- ``gpus`` (the cluster), ``in_service`` (``YYYY-MM``: the block's financial close, its month 0; capacity delivered
  then earns from the next month, as in a scenario);
- ``ownership``: ``owned`` (the scenario's capex, financing, tax and residual) or ``leased_in`` (``lease``: rent paid
  per GPU-hour for ``term_years``; no capex, debt, depreciation or residual; the block ends with the lease);
- ``set``: any other scenario fields (dotted path: value), e.g. the hardware, the contract and the market rent.

An optional fleet-level ``uncertainty:`` section (:class:`FleetUncertaintySchema`) sets the fleet Monte Carlo's
cross-generation correlations and next-generation arrivals (:mod:`tokensim.fleet_mc`).

A scenario is a fleet of one block (:func:`fleet_of_scenario`): its blocks run through the scenario engines
unchanged. :func:`load_fleet` returns a frozen :class:`Fleet` whose blocks carry their loaded :class:`Scenario`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from .._errors import ConfigError, ConfigErrors, UserError
from ._spec import REQUIRED, Choice, Invalid, Number, SchemaSection, Text, spec_of, validate_document
from .overrides import Override, apply_overrides
from .reader import load_yaml, resolve_config_path
from .scenario import scenario_from_document
from .schema import currency_code, whole_months
from .types import Assumption, Scenario

__all__ = ["Fleet", "FleetBlock", "FleetSchema", "FleetUncertainty", "OWNERSHIPS", "load_fleet", "fleet_of_scenario",
           "fleet_field_spec", "month_label"]

OWNERSHIPS = ("owned", "leased_in")
_YEAR_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def _num(low: float | None = None, high: float | None = None, *, lo_open: bool = False, integer: bool = False,
         unit: str = "", default: Any = REQUIRED, why: str = "") -> Number:
    return Number(low, high, lo_open, False, integer, unit, default, why)


def _year_month(value: str) -> str:
    if not _YEAR_MONTH.match(value):
        raise Invalid("a year and month as YYYY-MM, e.g. 2024-06")
    return value


def month_index(year_month: str) -> int:
    """Months since year 0 of a ``YYYY-MM`` text (differences give calendar offsets)."""
    year, month = year_month.split("-")
    return int(year) * 12 + int(month) - 1


def month_label(index: int) -> str:
    """The ``YYYY-MM`` text of a :func:`month_index`."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


class LeaseSchema(SchemaSection):
    """GPUs leased in from another owner: rent paid for every GPU-hour of the term, used or not."""

    rent_per_gpu_hour: Annotated[float, _num(0, unit="currency per GPU-hour, paid on every hour of the term")]
    term_years: Annotated[float, _num(0, 50, lo_open=True, unit="years")]

    @field_validator("term_years", mode="after")
    @classmethod
    def _whole_months(cls, years: float) -> float:
        if abs(years * 12 - round(years * 12)) > 1e-9:
            raise Invalid("a whole number of months (term_years x 12)", value=years)
        return years


class BlockSchema(SchemaSection):
    """One block: a scenario amended by its GPU count, in-service month, ownership and any other fields."""

    name: Annotated[str, Text()]
    scenario: Annotated[str, Text()]
    gpus: Annotated[int, _num(1, 1e7, integer=True, unit="GPUs")]
    in_service: Annotated[str, Text()]
    ownership: Annotated[str, Choice(OWNERSHIPS, default="owned",
                                     why="assumption: a block is owned unless it says leased_in")] | None = Field(None)
    lease: LeaseSchema | None = Field(None)
    set: dict[str, Any] | None = Field(None)

    @field_validator("in_service", mode="after")
    @classmethod
    def _in_service(cls, value: str) -> str:
        return _year_month(value)

    @field_validator("set", mode="after")
    @classmethod
    def _paths(cls, table: dict[str, Any] | None) -> dict[str, Any] | None:
        for key, value in (table or {}).items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.([A-Za-z_][A-Za-z0-9_]*|[0-9]+))*", key):
                raise Invalid("a dotted scenario field path, e.g. contract.rent_per_gpu_hour", key=key, value=key)
            if key in ("horizon_years", "cluster", "cluster.gpus", "cluster.servers"):
                raise Invalid("a field other than horizon_years, cluster.gpus and cluster.servers (the fleet sets "
                              "them: horizon_years, blocks[].gpus)", key=key, value=value)
        return table

    @model_validator(mode="after")
    def _lease(self) -> BlockSchema:
        leased = self.ownership == "leased_in"
        if leased and self.lease is None:
            raise Invalid("a 'lease' section {rent_per_gpu_hour, term_years} for a leased_in block", key="lease",
                          value=None)
        if not leased and self.lease is not None:
            raise Invalid("no 'lease' section for an owned block (ownership: leased_in to lease GPUs in)",
                          key="lease", value="(section)")
        return self


class NextGenerationSchema(SchemaSection):
    """The fleet Monte Carlo's next-generation arrivals: a Poisson process; each arrival cuts every fleet
    generation's market rent (all are older than the arriving one) by a share, on top of the blocks' trends."""

    arrival_rate_per_year: Annotated[float, _num(0, 12, unit="arrivals per year", default=0.0,
                                                 why="assumption: off unless the fleet states it, because each "
                                                     "block's contract.market_rent_change_per_year already carries "
                                                     "the expected decline (NVIDIA's cadence, H100 2023, H200 2024, "
                                                     "B200/B300 2025, would be about 1 a year: ref 2.1 dates)")
                                     ] | None = Field(None)
    market_rent_cut_share: Annotated[float, _num(0, 1, unit="share of the market rent cut per arrival",
                                                 default=0.3,
                                                 why="ref 2.1 (2026): H100 on-demand -30% in two months to Oct-2024 "
                                                     "(SemiAnalysis) as newer GPUs shipped")] | None = Field(None)


class FleetUncertaintySchema(SchemaSection):
    """The fleet Monte Carlo's cross-generation settings; each generation's own rent and utilisation processes are
    the ``uncertainty`` section of its first block's scenario."""

    rent_correlation_across_generations: Annotated[float, _num(0, 1, unit="correlation", default=0.8,
                                                               why="assumption: one rental market; ref 2.1 Mar-2026 "
                                                                   "'on-demand sold out across all GPU types' moved "
                                                                   "every generation together")] | None = Field(None)
    utilisation_correlation_across_generations: Annotated[float, _num(0, 1, unit="correlation", default=0.5,
                                                                      why="assumption: demand is shared, but each "
                                                                          "generation serves its own workloads")
                                                          ] | None = Field(None)
    next_generation: NextGenerationSchema | None = Field(None)


@dataclass(frozen=True)
class FleetUncertainty:
    """The fleet Monte Carlo's cross-generation correlations (of the Gaussian log-rent and logit-utilisation shocks,
    one common factor) and the next-generation arrival driver (:class:`FleetUncertaintySchema`)."""

    rent_correlation_across_generations: float = 0.8
    utilisation_correlation_across_generations: float = 0.5
    arrival_rate_per_year: float = 0.0
    market_rent_cut_share: float = 0.3

    def to_dict(self) -> dict[str, Any]:
        return {"rent_correlation_across_generations": self.rent_correlation_across_generations,
                "utilisation_correlation_across_generations": self.utilisation_correlation_across_generations,
                "next_generation": {"arrival_rate_per_year": self.arrival_rate_per_year,
                                    "market_rent_cut_share": self.market_rent_cut_share}}


def _fleet_uncertainty(doc: FleetUncertaintySchema | None) -> FleetUncertainty:
    """The section with every field it omits at its declared default."""
    def pick(section: str, model: Any, name: str) -> float:
        value = None if model is None else getattr(model, name)
        return float(fleet_field_spec(section, name).default if value is None else value)

    nxt = doc.next_generation if doc is not None else None
    return FleetUncertainty(
        rent_correlation_across_generations=pick("uncertainty", doc, "rent_correlation_across_generations"),
        utilisation_correlation_across_generations=pick("uncertainty", doc,
                                                        "utilisation_correlation_across_generations"),
        arrival_rate_per_year=pick("uncertainty.next_generation", nxt, "arrival_rate_per_year"),
        market_rent_cut_share=pick("uncertainty.next_generation", nxt, "market_rent_cut_share"))


class FleetAssumptionSchema(SchemaSection):
    field: Annotated[str, Text()]
    why: Annotated[str, Text()]


class FleetSchema(SchemaSection):
    """A whole fleet file (:func:`load_fleet` reads one)."""

    name: Annotated[str, Text()] | None = Field(None)
    description: Annotated[str, Text()] | None = Field(None)
    currency: Annotated[str, Text()]
    horizon_years: Annotated[float, _num(0, 50, lo_open=True, unit="years from the first block's in-service month")]
    valuation_date: Annotated[str, Text()] | None = Field(None)
    backlog_years: Annotated[int, _num(1, 50, integer=True, unit="years after the valuation date", default=3,
                                       why="assumption: backlog coverage over the next three years, the span "
                                           "rental contracts in the note run (ref 4.1: 3-5 year terms)")] | None = (
        Field(None))
    discount_rate: Annotated[float, _num(-0.05, 10, unit="fraction per year", default=None,
                                         why="the blocks' own financing.discount_rate (all must agree)")] | None = (
        Field(None))
    cost_of_equity: Annotated[float, _num(-0.05, 10, unit="fraction per year", default=None,
                                          why="the blocks' own financing.cost_of_equity (all must agree)")] | None = (
        Field(None))
    sources: Any | None = Field(None)
    assumptions: list[FleetAssumptionSchema] | None = Field(None)
    uncertainty: FleetUncertaintySchema | None = Field(None)
    blocks: list[BlockSchema]

    _currency = field_validator("currency", mode="after")(currency_code)
    _whole_months = field_validator("horizon_years", mode="after")(whole_months)

    @field_validator("valuation_date", mode="after")
    @classmethod
    def _valuation(cls, value: str | None) -> str | None:
        return None if value is None else _year_month(value)

    @field_validator("blocks", mode="after")
    @classmethod
    def _names(cls, blocks: list[BlockSchema]) -> list[BlockSchema]:
        if not blocks:
            raise Invalid("a list of at least one block")
        seen: set[str] = set()
        for i, b in enumerate(blocks):
            if b.name in seen:
                raise Invalid("a name no other block has", key=f"[{i}].name", value=b.name)
            seen.add(b.name)
        return blocks

    @model_validator(mode="after")
    def _calendar(self) -> FleetSchema:
        start = min(month_index(b.in_service) for b in self.blocks)
        end = start + round(self.horizon_years * 12)
        for i, b in enumerate(self.blocks):
            if month_index(b.in_service) >= end:
                raise Invalid(f"a month before the fleet's horizon ends ({month_label(end)})",
                              key=f"blocks[{i}].in_service", value=b.in_service)
        if self.valuation_date is not None and not start <= month_index(self.valuation_date) < end:
            raise Invalid(f"a month from {month_label(start)} to {month_label(end - 1)} (the fleet's calendar)",
                          key="valuation_date", value=self.valuation_date)
        return self


def fleet_field_spec(section: str | None, name: str) -> Any:
    """The declared spec of one fleet field (``section`` None, ``"blocks"`` or ``"blocks.lease"``)."""
    models: dict[str | None, type[SchemaSection]] = {None: FleetSchema, "blocks": BlockSchema,
                                                     "blocks.lease": LeaseSchema,
                                                     "uncertainty": FleetUncertaintySchema,
                                                     "uncertainty.next_generation": NextGenerationSchema}
    model = models[section]
    return spec_of(model, name)


@dataclass(frozen=True)
class FleetBlock:
    """One block of a fleet: its scenario as the engines run it and its place on the fleet's calendar.

    ``scenario`` has the block's GPUs and a horizon from its in-service month to the fleet's end (a leased-in
    block's: to the end of the lease, if sooner); ``offset_months`` is its month 0 on the fleet's calendar.
    """

    name: str
    scenario: Scenario
    ownership: str  # owned | leased_in
    in_service: str  # YYYY-MM
    offset_months: int
    lease_rent_per_gpu_hour: float  # 0 for an owned block
    lease_term_months: int  # 0 for an owned block

    @property
    def generation(self) -> str:
        """The hardware name (the catalogue's), which groups blocks into generations."""
        return self.scenario.serving.hardware

    @property
    def gpus(self) -> int:
        return self.scenario.cluster.gpus


@dataclass(frozen=True)
class Fleet:
    """A loaded fleet: money in ``currency``; months on the calendar from ``start`` (``YYYY-MM``, month 0)."""

    name: str
    file: str
    description: str
    currency: str
    start: str
    horizon_months: int
    valuation_month: int  # on the fleet's calendar
    backlog_years: int
    discount_rate: float
    cost_of_equity: float
    blocks: tuple[FleetBlock, ...]
    assumptions: tuple[Assumption, ...] = ()
    uncertainty: FleetUncertainty = FleetUncertainty()  # the fleet Monte Carlo's cross-generation settings


def _block_scenario(b: BlockSchema, i: int, fleet_file: Path, horizon_months: int) -> Scenario:
    """Block ``i``'s scenario: its file amended by ``set``, the GPUs, the horizon and, leased in, no debt."""
    try:
        path = resolve_config_path(fleet_file.parent / b.scenario, "scenarios", "scenario") \
            if (fleet_file.parent / b.scenario).is_file() else resolve_config_path(b.scenario, "scenarios", "scenario")
    except UserError as exc:
        raise ConfigError(str(fleet_file), f"blocks[{i}].scenario", b.scenario, str(exc).split(" is neither ")[-1]
                          .replace("a file nor", "a scenario file or")) from None
    data = load_yaml(path)
    cluster = dict(data.get("cluster") or {}) if isinstance(data, Mapping) else {}
    amend: dict[str, Any] = dict(b.set or {})
    gps = amend.pop("cluster.gpus_per_server", cluster.get("gpus_per_server"))
    amend["horizon_years"] = horizon_months / 12
    amend["cluster"] = {"gpus": b.gpus, **({"gpus_per_server": gps} if gps is not None else {})}
    if b.ownership == "leased_in":
        amend["financing.debt_share"] = 0.0
    overrides = [Override(f"{k}={v!r}", k, tuple(k.split(".")), v) for k, v in amend.items()]
    data, _ = apply_overrides(data, overrides, str(path))
    noted = [Assumption(k, v, f"set by fleet {fleet_file.name} block {b.name}", origin="fleet")
             for k, v in (b.set or {}).items()]
    try:
        return scenario_from_document(data, path, noted)
    except ConfigError as exc:
        errors = exc.errors if isinstance(exc, ConfigErrors) else [exc]
        out = []
        for e in errors:
            field = str(e.field)
            if any(field == k or field.startswith(k + ".") for k in b.set or {}):
                out.append(ConfigError(str(fleet_file), f"blocks[{i}].set.{field}", e.value, e.allowed, e.hint))
            elif field.startswith("cluster"):
                out.append(ConfigError(str(fleet_file), f"blocks[{i}].gpus", b.gpus, e.allowed, e.hint))
            else:
                out.append(ConfigError(e.file, field, e.value, e.allowed,
                                       (e.hint + "; " if e.hint else "") + f"in block {b.name} of {fleet_file}"))
        raise ConfigErrors(out) if len(out) > 1 else out[0] from None


def _shared_rate(doc: FleetSchema, blocks: list[FleetBlock], key: str, file: str) -> float:
    given = getattr(doc, key)
    if given is not None:
        return float(given)
    rates = {getattr(b.scenario.financing, key) for b in blocks}
    if len(rates) > 1:
        raise ConfigError(file, key, None, f"a value: the blocks' financing.{key} differ ({sorted(rates)})")
    return float(rates.pop())


def load_fleet(name_or_path: str | Path) -> Fleet:
    """Load and validate a fleet: a bundled name (``configs/fleets/<name>.yaml``) or a YAML file path.

    Parameters
    ----------
    name_or_path : str or Path
        A bundled fleet's name or the path of a fleet file.

    Returns
    -------
    Fleet
        The frozen fleet, each block's scenario loaded and amended (see the module docstring).

    Raises
    ------
    ConfigError
        Every error of the fleet file at once (one line each: file, dotted field path, value, what is allowed);
        then every error of the blocks' scenarios.
    """
    path = resolve_config_path(name_or_path, "fleets", "fleet")
    data = load_yaml(path)
    doc = validate_document(FleetSchema, data if data is not None else {}, str(path))
    start = min(month_index(b.in_service) for b in doc.blocks)
    end = start + round(doc.horizon_years * 12)
    blocks: list[FleetBlock] = []
    errors: list[ConfigError] = []
    for i, b in enumerate(doc.blocks):
        offset = month_index(b.in_service) - start
        leased = b.ownership == "leased_in"
        term = round(b.lease.term_years * 12) if leased and b.lease is not None else 0
        months = min(end - start - offset, term) if leased else end - start - offset
        try:
            s = _block_scenario(b, i, Path(path), months)
        except ConfigError as exc:
            errors += exc.errors if isinstance(exc, ConfigErrors) else [exc]
            continue
        if s.currency != doc.currency:
            errors.append(ConfigError(str(path), f"blocks[{i}].scenario", b.scenario,
                                      f"a scenario in the fleet's currency {doc.currency} (it is in {s.currency})"))
        blocks.append(FleetBlock(b.name, s, b.ownership or "owned", b.in_service, offset,
                                 float(b.lease.rent_per_gpu_hour) if leased and b.lease else 0.0, term))
    if errors:
        raise ConfigErrors(errors) if len(errors) > 1 else errors[0]
    assumptions = [Assumption(a.field, None, a.why, origin="fleet") for a in doc.assumptions or ()]
    if doc.backlog_years is None:
        assumptions.append(Assumption("backlog_years", 3, fleet_field_spec(None, "backlog_years").why))
    valuation = month_index(doc.valuation_date) - start if doc.valuation_date else 0
    return Fleet(name=str(doc.name or Path(path).stem), file=str(path), description=str(doc.description or ""),
                 currency=doc.currency, start=month_label(start), horizon_months=end - start,
                 valuation_month=valuation, backlog_years=int(doc.backlog_years or 3),
                 discount_rate=_shared_rate(doc, blocks, "discount_rate", str(path)),
                 cost_of_equity=_shared_rate(doc, blocks, "cost_of_equity", str(path)), blocks=tuple(blocks),
                 assumptions=tuple(assumptions), uncertainty=_fleet_uncertainty(doc.uncertainty))


def fleet_of_scenario(scenario: Scenario, in_service: str = "2026-01") -> Fleet:
    """A scenario as a fleet of one owned block (DESIGN.md section 12): the same engines give the same finance.

    Parameters
    ----------
    scenario : Scenario
        A loaded scenario.
    in_service : str, optional
        The block's month 0 (``YYYY-MM``); only labels the calendar.

    Returns
    -------
    Fleet
        One owned block holding ``scenario`` unchanged; the horizon, discount rate and cost of equity are its own.
    """
    block = FleetBlock(scenario.name, scenario, "owned", _year_month(in_service), 0, 0.0, 0)
    return Fleet(name=scenario.name, file=scenario.file, description=scenario.description,
                 currency=scenario.currency, start=in_service, horizon_months=scenario.horizon_months,
                 valuation_month=0, backlog_years=3, discount_rate=scenario.financing.discount_rate,
                 cost_of_equity=scenario.financing.cost_of_equity, blocks=(block,))
