"""The scenario schema, declared once (pydantic v2): every field's type, bounds, unit and default, and why.

Each field of a scenario YAML is declared here with a spec in its annotation (the specs are in
:mod:`tokensim.config._spec`):

- :class:`Number`: a finite number in a range (closed or open ends, whole numbers where asked), its unit, and its
  default with the reason a result shows when the default is applied (the "assumptions the source did not give");
- :class:`Choice`: one of a fixed set of strings;
- :class:`CatalogName`: a name from the hardware, model or precision catalogue;
- :class:`Text`: any string.

Unknown keys are refused (``extra='forbid'``) with "did you mean". Rules that join several fields (floating rate
against ``interest_rate``, a balloon only for some amortisations, a tenor of whole payment periods, ...) are model
validators with the loader's historical messages. :func:`validate_scenario` reports every error of a file at once:
one :class:`~tokensim.ConfigError` line per error (file, dotted field path, value, what is allowed). Every field is
checked on its own; a section's rules run once its fields are valid, and the rules across sections (cluster against
the hardware, tenor against the contract and deliveries, declared assumptions) once the whole file's are, so a
rule's error may only appear after the field errors are fixed. A missing key next to an unknown one in the same
mapping is taken to be that key misspelt and reported once, as unknown.

The specs are also the one source of the ranges of :mod:`tokensim.sensitivity` and :mod:`tokensim.sweep` (see
:func:`field_spec`). :func:`tokensim.config.scenario.load_scenario` builds the frozen dataclasses of
:mod:`tokensim.config.types` from a validated :class:`ScenarioSchema`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import core_schema

from .._errors import ConfigError, did_you_mean
from ._spec import (
    _MISSING,
    REQUIRED,
    Choice,
    Derived,
    Flag,
    Invalid,
    Number,
    SchemaSection,
    Source,
    Table,
    Text,
    _missing,
    config_errors,
    spec_of,
    validate_document,
)
from .catalog import load_catalog
from .money import check_currency
from .types import AMORTISATIONS, BILLINGS, CONTRACT_TYPES, ENGINES, PAYERS, RESIDUAL_METHODS

__all__ = [
    "Number", "Choice", "CatalogName", "Text", "Source", "Table", "Invalid", "Derived", "REQUIRED", "SchemaSection",
    "field_spec", "field_specs", "field_value", "ScenarioSchema", "validate_scenario", "validate_document",
    "config_errors", "REQUIRED_SECTIONS", "RENT_KEYS", "currency_code", "whole_months",
]

REQUIRED_SECTIONS = ("serving", "cluster", "capex", "opex", "financing", "contract")
RENT_KEYS = {"rent_per_gpu_hour": "per_gpu_hour", "rent_per_server_month": "per_server_month",
             "rent_per_cluster_year": "per_cluster_year"}


def _catalog(info: ValidationInfo | None) -> Any:
    context = info.context if info is not None else None
    if context and "catalog" in context:
        return context["catalog"]
    return load_catalog()


@dataclass(frozen=True)
class CatalogName:
    """A name from the catalogue: ``kind`` is ``hardware``, ``model`` or ``recipe`` (a precision)."""

    kind: str

    def check(self, value: Any, catalog: Any) -> str:
        """``value`` looked up in ``catalog``; an unknown name lists the known ones and the closest.

        Parameters
        ----------
        value : Any
            The name as parsed from YAML.
        catalog : tokensim.config.catalog.Catalog
            The catalogue to look the name up in.

        Returns
        -------
        str
            The name as written (the catalogue may know it under an alias).

        Raises
        ------
        Invalid
            When the value is not a string or not a known name.
        """
        if not isinstance(value, str):
            raise Invalid("a string")
        try:
            getattr(catalog, f"get_{self.kind}")(value)
        except ConfigError as exc:
            names = [c.strip() for c in exc.allowed.removeprefix("one of ").split(",")]
            raise Invalid(exc.allowed, did_you_mean(value, names)) from None
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: Callable) -> core_schema.CoreSchema:
        return core_schema.with_info_plain_validator_function(lambda v, info: self.check(v, _catalog(info)))

    def __get_pydantic_json_schema__(self, schema: Any, handler: Callable) -> dict[str, Any]:
        return {"type": "string", "description": f"a {self.kind} name from the catalogue (`tokensim catalog`)"}


# Shorthands for the declarations below.
def _num(low: float | None = None, high: float | None = None, *, lo_open: bool = False, hi_open: bool = False,
         integer: bool = False, unit: str = "", default: Any = REQUIRED, why: str | tuple[tuple[str, str], ...] = "",
         rule: bool = False, bound_why: str = "") -> Number:
    return Number(low, high, lo_open, hi_open, integer, unit, default, why, rule, bound_why)


_SHARE = dict(low=0, high=1, unit="fraction")
_NONNEG_MONEY = dict(low=0, unit="currency")
_RATE = dict(low=-0.99, high=10, unit="fraction per year")
# Rates that discount cash flows or charge for capital: far below zero the capital charge of a GPU with a residual
# value turns negative and the cost per GPU-hour with it (issue 12: a -98% discount rate gave -12.27 per GPU-hour).
# -5% a year, the floor floating_base_rate already has, is an assumption, stated as the bound's reason.
_DISCOUNT_RATE = dict(low=-0.05, high=10, unit="fraction per year",
                      bound_why="below -5% a year the capital charge and the cost per GPU-hour can turn negative")
# Every cost per sold GPU-hour is divided by the sold share: at 1e-320 it overflows to infinity (and came out as
# null), and below 1% a sold hour carries over 100 times its full-use cost, which no rental business charges.
_UTILISATION = dict(low=0.01, high=1, unit="fraction of hours sold",
                    bound_why="below 1% of hours sold, a sold GPU-hour would carry over 100 times its full-use cost")
# A server has a price: at 0 the whole capex can be 0 and nothing in the finance can be scaled by it.
_SERVER_PRICE = dict(low=0, lo_open=True, unit="currency per server", bound_why="a server has a price")
# Tokens per request: a length far beyond any context window overflows the KV-cache arithmetic (issue 12: perf
# --input-tokens 1e300 printed an overflow warning). The longest context window a published model serves is 10 M
# tokens (Llama 4 Scout: Meta, "The Llama 4 herd", 2025-04-05), so that is the bound.
_LAYOUT_WHY = ("none: the layout search's best aggregated layout within the SLO (instance size, TP, TEP, DEP or DTP; "
               "docs/model-notes.md, the layout search)")
_TOKENS_PER_REQUEST = dict(high=1e7, unit="tokens per request",
                           bound_why="at most 10 million, the longest context window a published model serves: "
                                     "Llama 4 Scout, Meta, 2025-04-05")


def currency_code(code: str) -> str:
    """A ``currency`` field's check (scenarios and fleets): a code of the bundled FX table, upper-cased."""
    try:
        return check_currency(code, None, "currency")
    except ConfigError as exc:
        raise Invalid.from_error(exc) from None


def whole_months(horizon: float) -> float:
    """A ``horizon_years`` field's check (scenarios and fleets): a whole number of months."""
    if abs(horizon * 12 - round(horizon * 12)) > 1e-9:
        raise Invalid("a whole number of months (horizon_years x 12)", value=horizon)
    return horizon


# -- the sections ------------------------------------------------------------------------------------------------
class PreviousGenerationSchema(SchemaSection):
    hardware: Annotated[str, CatalogName("hardware")]
    precision: Annotated[str, CatalogName("recipe")]
    server_price: Annotated[float, _num(**_SERVER_PRICE)]


class ServingSchema(SchemaSection):
    hardware: Annotated[str, CatalogName("hardware")]
    model: Annotated[str, CatalogName("model")]
    precision: Annotated[str, CatalogName("recipe")]
    compare_precisions: Annotated[Any, "precision recipes compared in `tokensim perf`"] = Field(None)
    input_tokens: Annotated[float, _num(0, **_TOKENS_PER_REQUEST)]
    output_tokens: Annotated[float, _num(0, lo_open=True, **_TOKENS_PER_REQUEST)]
    cache_hit_rate: Annotated[float, _num(**_SHARE, default=0.0, why="no prefix-cache hits unless stated")] \
        | None = Field(None)
    cached_input_cost_fraction: Annotated[float, _num(
        **_SHARE, default=0.1,
        why="a cached input token is charged 10% of an uncached one's prefill GPU time (DeepSeek V3.2 prices cache "
            "hits at 10% of misses, economics-reference.md section 3.3)")] | None = Field(None)
    min_tokens_per_s_per_user: Annotated[float, _num(0, lo_open=True, unit="tokens/s", default=None)] | None \
        = Field(None)
    max_ttft_s: Annotated[float, _num(0, lo_open=True, unit="s", default=None)] | None = Field(None)
    max_tpot_s: Annotated[float, _num(0, lo_open=True, unit="s", default=None)] | None = Field(None)
    previous_generation: PreviousGenerationSchema | None = Field(None)
    speculative_draft_tokens: Annotated[int, _num(0, 16, integer=True, unit="tokens per decode step", default=0)] \
        | None = Field(None)
    # the upper bound is 1 + speculative_draft_tokens
    speculative_acceptance_length: Annotated[Any, _num(1, unit="output tokens per decode step", default=1.0,
                                                         rule=True)] = Field(None)
    # issue 11, round 10: the engine whose fitted decode per-layer cost applies (calibration.yaml engines)
    engine: Annotated[str, Choice(ENGINES, default=None,
                                  why="none: the factors pooled over engines")] | None = Field(None)
    # issue 11, round 27: the engine runs expert-parallel load balancing (EPLB), which sets the busiest EP rank's load
    expert_load_balancing: Annotated[bool, Flag(default=False)] | None = Field(None)
    # issue 16: the user's own benchmark figure for (hardware, model, precision) in place of the model's
    measured_output_tokens_per_s_per_gpu: Annotated[float, _num(
        0, lo_open=True, unit="output tokens/s per GPU", default=None,
        why="none: the performance model's operating point unless the user measured one")] | None = Field(None)
    # issue 11: the serving instance the money prices on the scenario's own hardware and model. None of them given:
    # the layout search's best aggregated layout under the SLO (tokensim.perf.serving_point); any given: that layout,
    # the rest as tokensim perf --gpus/--tp/--ep fills it (tokensim.perf.default_deployment)
    instance_gpus: Annotated[int, _num(1, integer=True, unit="GPUs per serving instance", default=None,
                                       why=_LAYOUT_WHY)] | None = Field(None)
    tensor_parallel: Annotated[int, _num(1, integer=True, unit="GPUs per tensor-parallel group", default=None,
                                         why=_LAYOUT_WHY)] | None = Field(None)
    expert_parallel: Annotated[int, _num(1, integer=True, unit="GPUs the experts are spread over", default=None,
                                         why=_LAYOUT_WHY)] | None = Field(None)

    @field_validator("compare_precisions", mode="after")
    @classmethod
    def _compare(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return value
        if not isinstance(value, list):
            raise Invalid("a list")
        name = CatalogName("recipe")
        for i, item in enumerate(value):
            try:
                name.check(item, _catalog(info))
            except Invalid as exc:
                raise Invalid(exc.allowed, exc.hint, key=str(i), value=item) from None
        return value

    @model_validator(mode="after")
    def _acceptance(self) -> ServingSchema:
        if self.given("speculative_acceptance_length"):
            spec = field_spec("serving", "speculative_acceptance_length")
            draft = self.speculative_draft_tokens or 0
            try:
                spec.check(self.speculative_acceptance_length, high=1 + draft)
            except Invalid as exc:
                raise Invalid(exc.allowed, key="speculative_acceptance_length",
                              value=self.speculative_acceptance_length) from None
        return self

    @model_validator(mode="after")
    def _layout(self) -> ServingSchema:
        # the sizes alone; what the model allows (heads, experts, memory) is checked where the layout is priced
        gpus = self.instance_gpus
        for key in ("tensor_parallel", "expert_parallel"):
            size = getattr(self, key)
            if gpus is not None and size is not None and gpus % size:
                raise Invalid(f"a divisor of serving.instance_gpus ({gpus})", key=key, value=size)
        return self


class ClusterSchema(SchemaSection):
    gpus: Annotated[int, _num(1, integer=True, unit="GPUs", default=Derived("servers x gpus_per_server"))] \
        | None = Field(None)
    servers: Annotated[int, _num(1, integer=True, unit="servers", default=Derived("gpus / gpus_per_server"))] \
        | None = Field(None)
    gpus_per_server: Annotated[int, _num(1, integer=True, unit="GPUs per server",
                                         default=Derived("the hardware catalogue"),
                                         why="GPUs per server from the hardware catalogue")] | None = Field(None)

    @model_validator(mode="after")
    def _servers_or_gpus(self) -> ClusterSchema:
        if not self.given("servers") and not self.given("gpus"):
            raise _missing("servers", "a whole number >= 1 (give servers or gpus)")
        return self


class DeliverySchema(SchemaSection):
    month: Annotated[int, _num(0, integer=True, unit="months after financial close")]
    share: Annotated[float, _num(0, 1, lo_open=True, unit="fraction of capex")]


class FxSchema(SchemaSection):
    """USD-priced imports paid in the scenario's currency (issue 13 Build 5): the servers are quoted in USD at the
    rate at order and paid at delivery at the then rate; the debt is signed on the cost at the order rate."""

    usd_share: Annotated[float, _num(
        **_SHARE, default=0.0, why="no capex priced in USD unless stated")] | None = Field(None)
    rate_change_share: Annotated[float, _num(
        -0.9, 10, unit="fraction: currency per USD at delivery / at order - 1", default=0.0,
        why="assumption: no exchange-rate move between order and delivery (a deterministic stated move; the Monte "
            "Carlo does not draw it)")] | None = Field(None)


class CapexSchema(SchemaSection):
    server_price: Annotated[float, _num(**_SERVER_PRICE)]
    network_and_fabric_total: Annotated[float, _num(**_NONNEG_MONEY)]
    delivery: list[DeliverySchema] | None = Field(None)  # default: all at month 0 (see _DELIVERY_DEFAULT)
    installation_total: Annotated[float, _num(**_NONNEG_MONEY, default=0.0,
                                              why="installation included in the prices given")] | None = Field(None)
    economic_life_years: Annotated[float, _num(
        0, 30, lo_open=True, unit="years", default=Derived("horizon_years"),
        why="economic life = horizon (cost per GPU-hour recovers capital over it)")] | None = Field(None)
    recent_server_price_rise: Annotated[float, _num(
        -1, 10, lo_open=True, unit="fraction", default=0.0,
        why="no recent server-price rise split out in the bridge")] | None = Field(None)
    spare_share: Annotated[float, _num(
        0, 0.5, unit="fraction of the servers, bought as spares", default=0.0,
        why="no spare servers bought (spares cover failed GPUs for the SLA: tokensim.finance.availability_share)",
        bound_why="spares beyond half the fleet are a second cluster")] | None = Field(None)
    fx: FxSchema | None = Field(None)

    @field_validator("delivery", mode="after")
    @classmethod
    def _delivery(cls, rows: list[DeliverySchema] | None) -> list[DeliverySchema] | None:
        if rows is None:
            return rows
        if not rows:
            raise Invalid("a non-empty list of {month, share}", value=rows)
        total = sum(float(d.share) for d in rows)
        if abs(total - 1.0) > 1e-9:
            raise Invalid(f"shares that add up to 1 (they add up to {total:g})", value=[d.share for d in rows])
        months = [d.month for d in rows]
        if months != sorted(set(months)):
            raise Invalid("increasing, distinct delivery months", value=months)
        return rows


DELIVERY_DEFAULT = ("all at month 0", "whole cluster delivered and paid at financial close")


class OpexSchema(SchemaSection):
    power_and_facility_paid_by: Annotated[str, Choice(PAYERS)]
    board_power_w: Annotated[float, _num(0, lo_open=True, unit="W per GPU", default=Derived("the hardware catalogue"),
                                         why="board power from the hardware catalogue")] | None = Field(None)
    server_overhead_factor: Annotated[float, _num(1, 5, unit="x GPU board power")]
    pue: Annotated[float, _num(1, 3, unit="x IT power")]
    electricity_price_per_kwh: Annotated[float, _num(0, unit="currency per kWh")]
    load_factor: Annotated[float, _num(**_SHARE)]
    idle_load_factor: Annotated[float, _num(**_SHARE, default=Derived("load_factor"),
                                            why="idle GPUs draw as much as rented ones")] | None = Field(None)
    facility_price_per_kw_month: Annotated[float, _num(0, unit="currency per provisioned IT kW-month")]
    maintenance_share_of_capex_per_year: Annotated[float, _num(0, 1, unit="fraction of capex per year")]
    operations_per_gpu_year: Annotated[float, _num(0, unit="currency per GPU-year")]
    insurance_share_of_capex_per_year: Annotated[float, _num(0, 1, unit="fraction of capex per year")]
    # Availability (issue 13 Build 5): GPUs out of service = failure rate x repair time, less the spares.
    gpu_failure_rate_per_year: Annotated[float, _num(
        0, 10, unit="failures per GPU per year", default=0.0,
        why="no hardware failures unless stated (for scale: Meta, 'The Llama 3 Herd of Models', arXiv:2407.21783, "
            "2024, table 5: 148 faulty-GPU and 72 HBM3 interruptions in 54 days on 16,384 H100s, "
            "220 / 16,384 x 365 / 54 = 0.091 a year)")] | None = Field(None)
    repair_days: Annotated[float, _num(
        0, 365, unit="days out of service per failure", default=0.0,
        why="assumption: a failed GPU is back at once (set the days to swap or repair a server)")] | None = Field(None)
    payable_days: Annotated[float, _num(
        0, 365, unit="days from an opex charge to its payment", default=0.0,
        why="opex paid in the month it is charged (no working capital)")] | None = Field(None)


class FinancingSchema(SchemaSection):
    debt_share: Annotated[float, _num(**_SHARE)]
    rate_type: Annotated[str, Choice(("fixed", "floating"), default="fixed")] | None = Field(None)
    interest_rate: Annotated[Any, _num(0, 1, unit="fraction per year", rule=True)] = Field(None)
    floating_base_rate: Annotated[Any, _num(-0.05, 1, unit="fraction per year", rule=True)] = Field(None)
    floating_margin: Annotated[Any, _num(0, 1, unit="fraction per year", rule=True)] = Field(None)
    tenor_years: Annotated[float, _num(
        0, 40, lo_open=True, unit="years", default=Derived("contract.term_years (horizon_years for spot)"),
        why=(("term", "debt tenor = contract term"), ("spot", "debt tenor = horizon (spot)")))] | None = Field(None)
    amortisation: Annotated[str, Choice(AMORTISATIONS)]
    payments_per_year: Annotated[int, _num(1, 12, integer=True, unit="payments per year", default=12,
                                           why="monthly debt service, like monthly billing")] | None = Field(None)
    balloon_share: Annotated[float, _num(**_SHARE, default=0.0, why="fully amortising")] | None = Field(None)
    target_dscr: Annotated[Any, _num(0, 100, lo_open=True, unit="x", rule=True)] = Field(None)
    dscr_covenant: Annotated[float, _num(0, 100, unit="x", default=None)] | None = Field(None)
    # Debt sizing (issue 13): the loan is the lesser of debt_share x capex (the maximum gearing) and the debt whose
    # lowest loan-year DSCR on the sizing case equals sizing_dscr (tokensim.finance.size_debt).
    sizing_dscr: Annotated[float, _num(
        0, 100, lo_open=True, unit="x", default=None,
        why="debt = debt_share x capex, not sized to cash flow")] | None = Field(None)
    sizing_revenue_haircut_share: Annotated[float, _num(
        0, 1, hi_open=True, unit="fraction of every revenue price", default=0.0,
        why="debt sized on the base case's CFADS (P50); a P90 sizing case cuts every rent and fee by this share "
            "(assumption: lenders' P90 haircuts are set case by case)")] | None = Field(None)
    # Financing fees (tokensim.finance.financing_fees), paid by the sponsor; not debt service, not tax-deducted.
    upfront_fee_share: Annotated[float, _num(
        0, 0.2, unit="fraction of the debt amount, paid at close", default=0.0,
        why="no upfront (arrangement) fee unless stated")] | None = Field(None)
    commitment_fee_per_year: Annotated[float, _num(
        0, 0.2, unit="fraction of the undrawn amount per year, paid monthly during the draws", default=0.0,
        why="no commitment fee unless stated")] | None = Field(None)
    lease_handling_fee_share: Annotated[float, _num(
        0, 0.2, unit="fraction of the amount financed, paid at close", default=0.0,
        why="no finance-lease handling fee unless stated")] | None = Field(None)
    lease_deposit_share: Annotated[float, _num(
        0, 0.5, unit="fraction of the amount financed, paid at close, refunded at maturity without interest",
        default=0.0, why="no finance-lease security deposit unless stated")] | None = Field(None)
    hedged_share: Annotated[float, _num(
        **_SHARE, default=0.0,
        why="floating debt unhedged; a hedged share is swapped to fixed at close at the base rate at close "
            "(assumption: no swap spread)")] | None = Field(None)
    cost_of_equity: Annotated[float, _num(**_DISCOUNT_RATE)]
    discount_rate: Annotated[float, _num(
        **_DISCOUNT_RATE, default=Derived("the pre-tax WACC"),
        why="pre-tax WACC = {debt_share:g} x {rate:g} + {equity_share:g} x {cost_of_equity:g}")] | None = Field(None)
    equity_hurdle_irr: Annotated[float, _num(**_RATE, default=None)] | None = Field(None)
    # Cash waterfall (issue 13; tokensim.finance._cashflows module docstring). Every default switches its mechanism
    # off, which keeps the engine's cash flows as they were; dscr_covenant above is the default covenant.
    dsra_months: Annotated[int, _num(
        0, 24, integer=True, unit="months of the following scheduled debt service", default=0,
        why="no debt service reserve account unless stated")] | None = Field(None)
    dsra_funding: Annotated[str, Choice(("at_close", "from_cash"), default="at_close",
                                        why="the sponsor pays the first DSRA target in at close")] | None = Field(None)
    dsra_restore_months: Annotated[int, _num(
        0, 60, integer=True, unit="months", default=6,
        why="assumption: a drawn DSRA not back at its target within six months is a default event (no published "
            "norm; set it to the facility agreement's)")] | None = Field(None)
    maintenance_reserve_per_gpu_hour: Annotated[float, _num(
        0, unit="currency per GPU-hour online", default=0.0,
        why="no maintenance reserve account unless stated")] | None = Field(None)
    lockup_dscr: Annotated[float, _num(0, 100, unit="x", default=None,
                                       why="no distribution lock-up unless stated")] | None = Field(None)
    cash_sweep_share: Annotated[float, _num(**_SHARE, default=0.0,
                                            why="no cash sweep unless stated")] | None = Field(None)
    cash_sweep_when: Annotated[str, Choice(("lock_up", "always"), default="lock_up",
                                           why="the sweep applies while distributions are locked up")] | None = \
        Field(None)
    equity_cure_max_count: Annotated[int, _num(
        0, 20, integer=True, unit="cures over the loan's life", default=0,
        why="no equity cures unless stated: a DSCR below the covenant is a default event")] | None = Field(None)
    # Tail and refinancing (issue 13 Build 3): a balloon (or bullet) due at maturity is refinanced at a stated rate
    # over a stated tail, or (tail 0) repaid at maturity from cash, reserves and the sponsor.
    refinancing_tenor_years: Annotated[float, _num(
        0, 30, unit="years", default=0.0,
        why="the balloon is repaid at maturity from cash and the sponsor, not refinanced")] | None = Field(None)
    refinancing_rate: Annotated[float, _num(
        0, 1, unit="fraction per year", default=Derived("interest_rate"),
        why="assumption: the balloon refinances at the rate at close (no term premium)")] | None = Field(None)
    lender_case_residual_haircut_share: Annotated[float, _num(
        **_SHARE, default=0.5,
        why="assumption: the lender case's P90 residual is half the base case's (no P90 in a published source for "
            "used GPUs; the Monte Carlo's residual quantiles are not read back)")] | None = Field(None)

    @field_validator("payments_per_year", mode="after")
    @classmethod
    def _periods(cls, ppy: int | None) -> int | None:
        if ppy is not None and ppy not in (1, 2, 4, 12):
            raise Invalid("one of 1, 2, 4, 12", value=ppy)
        return ppy

    @model_validator(mode="after")
    def _rules(self) -> FinancingSchema:
        def check(key: str) -> float:
            if not self.given(key):
                raise _missing(key)
            try:
                return field_spec("financing", key).check(getattr(self, key))
            except Invalid as exc:
                raise Invalid(exc.allowed, key=key, value=getattr(self, key)) from None

        if self.rate_type == "floating":
            check("floating_base_rate")
            check("floating_margin")
            if self.given("interest_rate"):
                raise Invalid("absent for floating debt (the rate is floating_base_rate + floating_margin)",
                              key="interest_rate", value=self.interest_rate)
        else:
            for key in ("floating_base_rate", "floating_margin"):
                if self.given(key):
                    raise Invalid("absent for fixed-rate debt (set rate_type: floating)", key=key,
                                  value=getattr(self, key))
            check("interest_rate")
        if self.balloon_share and self.amortisation not in ("annuity", "straight_line", "finance_lease"):
            raise Invalid("0 for bullet and sculpted debt (a balloon needs an annuity, straight_line or finance_lease "
                          "profile)", key="balloon_share", value=self.balloon_share)
        if self.amortisation == "sculpted":
            check("target_dscr")
            if self.debt_share == 0:
                raise Invalid("a number in (0, 1] for sculpted debt (sculpting sizes a loan against cash flow; with "
                              "no debt choose any other amortisation)", key="debt_share", value=self.debt_share)
        elif self.given("target_dscr"):
            raise Invalid("only with amortisation: sculpted", key="target_dscr", value=self.target_dscr)
        if self.equity_cure_max_count and not self.given("dscr_covenant"):
            raise Invalid("0 without a dscr_covenant (a cure restores the DSCR to the covenant)",
                          key="equity_cure_max_count", value=self.equity_cure_max_count)
        if self.amortisation == "sculpted" and self.given("sizing_dscr"):
            raise Invalid("absent for sculpted debt (target_dscr sizes it)", key="sizing_dscr",
                          value=self.sizing_dscr)
        if (self.sizing_revenue_haircut_share and not self.given("sizing_dscr")
                and self.amortisation != "sculpted"):
            raise Invalid("0 unless the debt is sized (give sizing_dscr, or amortisation: sculpted)",
                          key="sizing_revenue_haircut_share", value=self.sizing_revenue_haircut_share)
        for key in ("lease_handling_fee_share", "lease_deposit_share"):
            if getattr(self, key) and self.amortisation != "finance_lease":
                raise Invalid("0 unless amortisation is finance_lease", key=key, value=getattr(self, key))
        if self.hedged_share and self.rate_type != "floating":
            raise Invalid("0 for fixed-rate debt (a hedge fixes part of a floating rate)", key="hedged_share",
                          value=self.hedged_share)
        tail = self.refinancing_tenor_years or 0.0
        if tail:
            if self.amortisation != "bullet" and not self.balloon_share:
                raise Invalid("0 unless the debt leaves a balloon (bullet, or a balloon_share above 0) to refinance",
                              key="refinancing_tenor_years", value=tail)
            step = 12 // (self.payments_per_year or 12)
            if abs(tail * 12 / step - round(tail * 12 / step)) > 1e-9:
                raise Invalid(f"a whole number of payment periods ({step} months each)",
                              key="refinancing_tenor_years", value=tail)
        elif self.given("refinancing_rate"):
            raise Invalid("absent unless refinancing_tenor_years is above 0 (the rate of the refinanced balloon)",
                          key="refinancing_rate", value=self.refinancing_rate)
        return self


_RENT_WHY = "capacity re-let after a default earns the contract's rent per GPU-hour"
# Terms of a contract with a tenant (issue 13 Build 5): absent (or 0) for spot, which has none.
_CONTRACT_TERMS = ("sla_availability_target_share", "sla_credit_per_point_share", "termination_payment_months_of_rent")
_USAGE_KEYS = ("usage_fee_per_million_tokens", "usage_tokens_per_s_per_gpu", "usage_busy_share",
               "usage_floor_per_gpu_hour", "usage_cap_per_gpu_hour")


class ContractSchema(SchemaSection):
    type: Annotated[str, Choice(CONTRACT_TYPES)]
    term_years: Annotated[Any, _num(0, 40, lo_open=True, unit="years", rule=True)] = Field(None)
    billing: Annotated[Any, Choice(BILLINGS, default=Derived("the rent key given"), rule=True)] = Field(None)
    rent_per_gpu_hour: Annotated[Any, _num(0, unit="currency per GPU-hour", rule=True)] = Field(None)
    rent_per_server_month: Annotated[Any, _num(0, unit="currency per server-month", rule=True)] = Field(None)
    rent_per_cluster_year: Annotated[Any, _num(0, unit="currency per cluster-year", rule=True)] = Field(None)
    escalator_per_year: Annotated[Any, _num(-1, 1, lo_open=True, unit="fraction per year", default=0.0,
                                              why="flat rent", rule=True)] = Field(None)
    contracted_share: Annotated[Any, _num(**_SHARE, default=1.0, why="the whole cluster is under the contract",
                                            rule=True)] = Field(None)
    usage_fee_per_million_tokens: Annotated[Any, _num(0, unit="currency per million tokens", rule=True)] \
        = Field(None)
    usage_tokens_per_s_per_gpu: Annotated[Any, _num(0, unit="tokens/s per GPU", rule=True)] = Field(None)
    usage_busy_share: Annotated[Any, _num(**_SHARE, default=1.0, why="contracted GPUs serve tokens all hours",
                                            rule=True)] = Field(None)
    usage_floor_per_gpu_hour: Annotated[Any, _num(0, unit="currency per GPU-hour", default=0.0,
                                                    why="no floor on usage fees", rule=True)] = Field(None)
    usage_cap_per_gpu_hour: Annotated[Any, _num(0, unit="currency per GPU-hour", default=None, rule=True)] \
        = Field(None)
    market_rent_per_gpu_hour: Annotated[Any, _num(0, unit="currency per GPU-hour",
                                                    default=Derived("the contract's rent per GPU-hour"),
                                                    why=_RENT_WHY, rule=True)] = Field(None)
    market_rent_change_per_year: Annotated[float, _num(-1, 10, lo_open=True, unit="fraction per year", default=0.0,
                                                       why="market rent flat in time")] | None = Field(None)
    spot_utilisation: Annotated[float, _num(
        **_SHARE, default=Derived("0.7"),
        why=(("market", "capacity sold at market is rented 70% of hours"),
             ("after_default", "capacity re-let at market after a tenant default (Monte Carlo) is rented 70% of "
                               "hours; none sells at market in the base case")))] | None = Field(None)
    vacancy_lag_months: Annotated[int, _num(0, 120, integer=True, unit="months", default=3,
                                            why="three months to re-let after a default")] | None = Field(None)
    reletting_cost_months_of_rent: Annotated[float, _num(
        0, 24, unit="months of the re-let GPUs' market rent", default=1.0,
        why="assumption: re-letting after a default costs one month of the new rent (brokerage, sales effort, "
            "re-imaging); no published figure for GPU capacity",
        bound_why="two years of rent for one re-letting is a unit slip")] | None = Field(None)
    # Working capital, SLA and termination (issue 13 Build 4 and 5; tokensim.finance._cashflows module docstring).
    receivable_days: Annotated[float, _num(
        0, 365, unit="days from invoice to payment", default=0.0,
        why="rent collected in the month it is earned (no working capital)")] | None = Field(None)
    sla_availability_target_share: Annotated[float, _num(
        **_SHARE, default=0.0, why="no availability SLA unless stated")] | None = Field(None)
    sla_credit_per_point_share: Annotated[float, _num(
        0, 1, unit="fraction of the month's contract revenue credited per percentage point below the target",
        default=0.0, why="no SLA credit unless stated")] | None = Field(None)
    termination_payment_months_of_rent: Annotated[float, _num(
        0, 120, unit="months of contract rent, at most the term left", default=0.0,
        why="no termination payment on a tenant default unless stated")] | None = Field(None)
    termination_recovery_share: Annotated[float, _num(
        **_SHARE, default=1.0,
        why="assumption: the termination payment is received in full (a defaulted tenant often pays part: set the "
            "share recovered)")] \
        | None = Field(None)
    # Renewal after the term (issue 13 Build 3): the share of the contracted GPUs the tenant renews at the market rent
    # less a haircut, rented all hours; the rest sells at market x spot utilisation (tokensim.finance._cashflows).
    renewal_share: Annotated[float, _num(
        **_SHARE, default=0.0,
        why="assumption: no renewal; after the term every GPU sells at the market rent x spot utilisation")] \
        | None = Field(None)
    renewal_rent_haircut_share: Annotated[float, _num(
        0, 1, hi_open=True, unit="fraction of the market rent", default=0.0,
        why="assumption: a renewal prices at the market rent (no published renewal discount for GPU capacity)")] \
        | None = Field(None)

    def _check(self, key: str, high: float | None = None) -> Any:
        """A rule-checked field's value, validated (None when absent)."""
        value = getattr(self, key)
        if value is None:
            return None
        try:
            return field_spec("contract", key).check(value, high)
        except Invalid as exc:
            raise Invalid(exc.allowed, key=key, value=value) from None

    def _require(self, key: str) -> Any:
        if not self.given(key):
            raise _missing(key)
        return self._check(key)

    def rent_key(self) -> str | None:
        """The rent key the file gives (None for spot)."""
        given = [k for k in RENT_KEYS if self.given(k)]
        return given[0] if len(given) == 1 and self.type != "spot" else None

    @model_validator(mode="after")
    def _rules(self) -> ContractSchema:
        given = [k for k in RENT_KEYS if self.given(k)]
        if self.type == "spot":
            for key in ("term_years", *given, "contracted_share", "renewal_share", *_CONTRACT_TERMS):
                if self.given(key) and getattr(self, key):
                    raise Invalid("absent for a spot contract (all capacity sells at market)", key=key,
                                  value=getattr(self, key))
        else:
            term = self._require("term_years")
            if abs(term * 12 - round(term * 12)) > 1e-9:
                raise Invalid("a whole number of months (term_years x 12)", key="term_years", value=term)
            if len(given) != 1:
                raise Invalid(f"exactly one of {', '.join(RENT_KEYS)}", key="rent_per_cluster_year",
                              value=given or _MISSING)
            billing = RENT_KEYS[given[0]]
            if self.given("billing"):
                try:
                    field_spec("contract", "billing").check(self.billing)
                except Invalid as exc:
                    raise Invalid(exc.allowed, exc.hint, key="billing", value=self.billing) from None
                if self.billing != billing:
                    raise Invalid(f"{billing} (the rent is given as {given[0]})", key="billing", value=self.billing)
            self._check(given[0])
            self._check("contracted_share")
        if self.type != "base_plus_usage":
            for key in _USAGE_KEYS:
                if self.given(key):
                    raise Invalid("only with type: base_plus_usage", key=key, value=getattr(self, key))
        else:
            self._require("usage_fee_per_million_tokens")
            self._require("usage_tokens_per_s_per_gpu")
            self._check("usage_busy_share")
            floor = self._check("usage_floor_per_gpu_hour")
            floor = 0.0 if floor is None else floor
            cap = self._check("usage_cap_per_gpu_hour")
            if cap is not None and cap < floor:
                raise Invalid(f"a number >= usage_floor_per_gpu_hour ({floor:g})", key="usage_cap_per_gpu_hour",
                              value=cap)
        self._check("market_rent_per_gpu_hour")
        if self.type != "spot":
            self._check("escalator_per_year")
        return self

    def needs_market(self, horizon_years: float) -> bool:
        """Whether some capacity sells at market in the base case (spot, part contracted, or a term short of the
        horizon): the market rent must then be given."""
        share = 1.0 if self.contracted_share is None else float(self.contracted_share)  # validated by _rules
        term = 0.0 if self.type == "spot" else float(self.term_years)
        return self.type == "spot" or share < 1 or term < horizon_years


# VAT (issue 13 Build 4; tokensim.finance._cashflows module docstring). The PRC rates, public law: MoF/SAT/GAC
# Announcement [2019] No. 39 art. 1 (16% -> 13% on goods, equipment included, and on leasing of tangible movable
# property; 10% -> 9%); 6% on modern services (information-technology services) under Caishui [2016] No. 36. Surtaxes
# on the VAT paid: urban maintenance and construction tax 7% in a city (Urban Maintenance and Construction Tax Law of
# the PRC, 2020, art. 4), education surcharge 3% (State Council, Interim Provisions on the Collection of Education
# Surcharge, 1986, amended 2011) and local education surcharge 2% (MoF Caizong [2010] No. 98): 12% of the VAT paid.
_VAT_PRC = ("PRC: 13% on equipment and on leasing GPU servers (tangible movable property), 6% on computing sold as "
            "an information-technology service (MoF/SAT/GAC Announcement [2019] No. 39; Caishui [2016] No. 36)")


class VatSchema(SchemaSection):
    input_rate: Annotated[float, _num(
        0, 1, hi_open=True, unit="fraction of capex, paid with it", default=0.0,
        why="no VAT on capex unless stated; " + _VAT_PRC)] | None = Field(None)
    output_rate: Annotated[float, _num(
        0, 1, hi_open=True, unit="fraction of revenue", default=0.0,
        why="no VAT on revenue unless stated; " + _VAT_PRC)] | None = Field(None)
    surtax_share: Annotated[float, _num(
        0, 1, unit="fraction of the VAT paid", default=0.0,
        why="no surtaxes on VAT unless stated; PRC in a city: 7% urban maintenance and construction tax (UMCT Law "
            "2020 art. 4) + 3% education surcharge + 2% local education surcharge (Caizong [2010] No. 98) = 0.12")] \
        | None = Field(None)


# The high- and new-technology enterprise rate: EIT Law of the PRC (2007, amended 2018) art. 28 para. 2.
HIGH_TECH_ENTERPRISE_RATE = 0.15


class TaxSchema(SchemaSection):
    rate: Annotated[float, _num(0, 1, hi_open=True, unit="fraction of taxable profit",
                                default=Derived("0.15 with high_tech_enterprise: true"),
                                why="PRC high- and new-technology enterprise rate 15% (EIT Law art. 28 para. 2)")] \
        | None = Field(None)
    high_tech_enterprise: Annotated[bool, Flag(default=False)] | None = Field(None)
    vat: VatSchema | None = Field(None)
    depreciation_years: Annotated[float, _num(0, 50, lo_open=True, unit="years")]
    loss_carry_forward_years: Annotated[int, _num(1, 50, integer=True, unit="years", default="unlimited",
                                                  why="tax losses carry forward without expiry")] | None = Field(None)
    payment: Annotated[str, Choice(
        ("annual", "quarterly_prepayment"), default="annual",
        why="tax paid at each year end (PRC enterprise income tax is prepaid quarterly: EIT Law art. 54, set "
            "quarterly_prepayment)")] | None = Field(None)

    @model_validator(mode="after")
    def _rate_or_high_tech(self) -> TaxSchema:
        if self.high_tech_enterprise:
            if self.given("rate") and self.rate != HIGH_TECH_ENTERPRISE_RATE:
                raise Invalid(f"absent or {HIGH_TECH_ENTERPRISE_RATE:g} with high_tech_enterprise: true (EIT Law "
                              "art. 28)", key="rate", value=self.rate)
        elif not self.given("rate"):
            raise _missing("rate", "a number in [0, 1) (or high_tech_enterprise: true for the PRC 15% rate)")
        return self


TAX_DEFAULT = ("none", "no tax section: profits are not taxed; book depreciation over the economic life")
RESIDUAL_DEFAULT = (0.0, "no residual section: the cluster is worth nothing at the horizon")


class ResidualSchema(SchemaSection):
    method: Annotated[str, Choice(RESIDUAL_METHODS, default="economic",
                                  why="economic residual value by default (DESIGN.md section 7)")] | None = Field(None)
    percent_of_cost_by_age: Annotated[Any, _num(0, 1, unit="fraction of hardware cost, keyed by age in years",
                                                rule=True)] = Field(None)
    tokens_per_s_per_gpu: Annotated[Any, _num(0, unit="tokens/s per GPU", rule=True)] = Field(None)
    newest_cost_per_million_tokens: Annotated[Any, _num(0, unit="currency per million tokens", rule=True)] \
        = Field(None)
    # A markup, not a margin (issue 13 item 3): market price = newest cost x (1 + markup).
    markup: Annotated[Any, _num(-1, 10, lo_open=True, unit="fraction of the newest cost", rule=True)] = Field(None)
    busy_share: Annotated[Any, _num(**_SHARE, default=0.7, why="a used GPU serves tokens 70% of hours",
                                      rule=True)] = Field(None)
    remaining_life_years: Annotated[Any, _num(0, 30, unit="years", rule=True)] = Field(None)

    def _value(self, key: str, required: bool = True) -> Any:
        value = getattr(self, key)
        if value is None:
            if required:
                raise _missing(key)
            return None
        try:
            return field_spec("residual", key).check(value)
        except Invalid as exc:
            raise Invalid(exc.allowed, key=key, value=value) from None

    def curve(self) -> tuple[tuple[float, float], ...]:
        """The percent-of-cost curve as sorted (age in years, share of cost) points, validated."""
        if self.percent_of_cost_by_age is None:
            raise _missing("percent_of_cost_by_age")
        curve = self.percent_of_cost_by_age
        if not isinstance(curve, Mapping):
            raise Invalid("a mapping of key: value", key="percent_of_cost_by_age", value=curve)
        spec = field_spec("residual", "percent_of_cost_by_age")
        points = []
        for key, value in curve.items():
            where = f"percent_of_cost_by_age.{key}"
            try:
                age = float(key)
            except (TypeError, ValueError):
                raise Invalid("an age in years (a number) as the key", key=where, value=key) from None
            if value is None:
                raise _missing(where)
            try:
                points.append((age, spec.check(value)))
            except Invalid as exc:
                raise Invalid(exc.allowed, key=where, value=value) from None
        if not points:
            raise Invalid("at least one {age_years: share} point", key="percent_of_cost_by_age", value={})
        points.sort()
        if points[0][0] < 0:
            raise Invalid("ages >= 0", key=f"percent_of_cost_by_age.{points[0][0]}", value=points[0][0])
        return tuple(points)

    @model_validator(mode="after")
    def _rules(self) -> ResidualSchema:
        # The other method's fields are not required, but those given must still be valid: a file that switches
        # method must not turn a typo that was silently ignored into a result.
        economic = (self.method or "economic") == "economic"
        if not economic or self.percent_of_cost_by_age is not None:
            self.curve()
        for key in ("tokens_per_s_per_gpu", "newest_cost_per_million_tokens", "markup", "remaining_life_years"):
            self._value(key, required=economic)
        self._value("busy_share", required=False)
        return self


class AssumptionSchema(SchemaSection):
    field: Annotated[str, Text()]
    why: Annotated[str, Text()]


class ScenarioSchema(SchemaSection):
    """A whole scenario file. Sections and fields are declared above; :func:`validate_scenario` reads one."""

    name: Annotated[str, Text()] | None = Field(None)
    description: Annotated[str, Text()] | None = Field(None)
    currency: Annotated[str, Text()]
    horizon_years: Annotated[float, _num(0, 50, lo_open=True, unit="years")]
    utilisation: Annotated[float, _num(**_UTILISATION)]
    sources: Any | None = Field(None)
    assumptions: list[AssumptionSchema] | None = Field(None)
    uncertainty: Any | None = Field(None)  # validated by tokensim.config.uncertainty for the Monte Carlo stage
    serving: ServingSchema
    cluster: ClusterSchema
    capex: CapexSchema
    opex: OpexSchema
    financing: FinancingSchema
    contract: ContractSchema
    tax: TaxSchema | None = Field(None)
    residual: ResidualSchema | None = Field(None)

    @classmethod
    def missing_allowed(cls, key: str) -> str | None:
        """What a missing required section's message allows (None for other fields)."""
        if key in REQUIRED_SECTIONS:
            return f"a '{key}' section (required sections: {', '.join(REQUIRED_SECTIONS)})"
        return None

    _currency = field_validator("currency", mode="after")(currency_code)
    _whole_months = field_validator("horizon_years", mode="after")(whole_months)

    @field_validator("uncertainty", mode="after")
    @classmethod
    def _uncertainty(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, dict):
            raise Invalid("a mapping (validated by the Monte Carlo stage)", value=value)
        return value

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> ScenarioSchema:
        catalog = _catalog(info)
        hardware = catalog.get_hardware(self.serving.hardware)
        cluster = self.cluster
        gps = cluster.gpus_per_server or hardware.gpus_per_server
        servers, gpus = cluster.servers, cluster.gpus
        if servers is None:
            assert gpus is not None  # the cluster's rule: servers or gpus
            if gpus % gps:
                raise Invalid(f"a multiple of gpus_per_server ({gps})", key="cluster.gpus", value=gpus)
            servers = gpus // gps
        gpus = gpus if gpus is not None else servers * gps
        if gpus != servers * gps:
            raise Invalid(f"servers x gpus_per_server = {servers} x {gps} = {servers * gps}", key="cluster.gpus",
                          value=gpus)
        horizon = self.horizon_years
        contract = self.contract
        if (contract.needs_market(horizon) and not contract.given("market_rent_per_gpu_hour")):
            raise _missing("contract.market_rent_per_gpu_hour")
        financing = self.financing
        tenor = self.tenor_years()
        ppy = financing.payments_per_year or 12
        tenor_months = tenor * 12
        if abs(tenor_months - round(tenor_months)) > 1e-9 or round(tenor_months) % (12 // ppy):
            raise Invalid(f"a whole number of payment periods ({12 // ppy} months each)", key="financing.tenor_years",
                          value=tenor)
        last_delivery = self.capex.delivery[-1].month if self.capex.delivery else 0
        if last_delivery >= round(horizon * 12):
            raise Invalid(f"months before the horizon ({horizon * 12:g})", key="capex.delivery", value=last_delivery)
        if tenor * 12 <= last_delivery and financing.debt_share > 0:
            raise Invalid(f"longer than the delivery period ({last_delivery} months)", key="financing.tenor_years",
                          value=tenor)
        tail = financing.refinancing_tenor_years or 0.0
        if tenor + tail > 50:  # the horizon runs to the tail's end; 50 years is the longest horizon
            raise Invalid(f"at most {50 - tenor:g} years (tenor {tenor:g} + tail within the 50-year horizon limit)",
                          key="financing.refinancing_tenor_years", value=tail)
        data = (info.context or {}).get("document")
        for i, row in enumerate(self.assumptions or ()):
            if data is not None and field_value(data, row.field) is _MISSING:
                raise Invalid("the dotted path of a field present in this scenario", key=f"assumptions[{i}].field",
                              value=row.field)
        return self

    def tenor_years(self) -> float:
        """The debt tenor: given, else the contract term (the horizon for a spot contract), in years."""
        if self.financing.tenor_years is not None:
            return float(self.financing.tenor_years)
        return float(self.horizon_years) if self.contract.type == "spot" else float(self.contract.term_years)


def field_value(data: Any, dotted: str) -> Any:
    """The value at ``dotted`` (``financing.debt_share``) in a raw document, or ``ConfigError.MISSING``.

    Parameters
    ----------
    data : Any
        The parsed YAML document.
    dotted : str
        A dotted path of mapping keys.

    Returns
    -------
    Any
        The value found there, or the MISSING marker of :class:`~tokensim.ConfigError`.
    """
    node = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


# -- metadata access ---------------------------------------------------------------------------------------------
_SECTIONS: dict[str | None, type[SchemaSection]] = {
    None: ScenarioSchema, "serving": ServingSchema, "cluster": ClusterSchema, "capex": CapexSchema,
    "opex": OpexSchema, "financing": FinancingSchema, "contract": ContractSchema, "tax": TaxSchema,
    "residual": ResidualSchema, "serving.previous_generation": PreviousGenerationSchema, "tax.vat": VatSchema,
    "capex.fx": FxSchema,
    "capex.delivery": DeliverySchema,
}


def field_spec(section: str | None, name: str) -> Any:
    """The declared spec (:class:`Number`, :class:`Choice`, ...) of one scenario field.

    Parameters
    ----------
    section : str or None
        The section (``"financing"``; ``None`` for top-level fields such as ``utilisation``).
    name : str
        The field's key in that section (``"debt_share"``).

    Returns
    -------
    Number or Choice or CatalogName or Text
        The spec, with the field's bounds, unit, default and the reason for the default.

    Raises
    ------
    KeyError
        When the section or field is not declared.
    """
    return spec_of(_SECTIONS[section], name)


def field_specs() -> dict[str, Any]:
    """Every declared field spec by dotted path (``"financing.debt_share"``), in declaration order.

    Returns
    -------
    dict[str, Any]
        Dotted path -> :class:`Number`, :class:`Choice`, :class:`CatalogName` or :class:`Text`.
    """
    out: dict[str, Any] = {}
    for section, cls in _SECTIONS.items():
        for name in cls.model_fields:
            try:
                out[f"{section}.{name}" if section else name] = field_spec(section, name)
            except KeyError:
                continue
    return out


def validate_scenario(data: Any, file: str | None, catalog: Any = None) -> ScenarioSchema:
    """A parsed scenario document validated against the schema, every error reported at once.

    Parameters
    ----------
    data : Any
        The parsed YAML document.
    file : str or None
        The file it came from, named in messages.
    catalog : tokensim.config.catalog.Catalog, optional
        The catalogue that hardware, model and precision names are looked up in (default: the bundled one).

    Returns
    -------
    ScenarioSchema
        The validated document (absent optional fields are None; the loader applies their defaults).

    Raises
    ------
    ConfigError
        One error: exactly the loader's historical message. Several: a :class:`~tokensim.ConfigErrors` with one
        line per error.
    """
    if data is not None and not isinstance(data, Mapping):
        raise ConfigError(file, "(document)", data, "a mapping of key: value")
    context = {"catalog": catalog if catalog is not None else _catalog(None), "document": data}
    return validate_document(ScenarioSchema, data if data is not None else {}, file, context=context)


