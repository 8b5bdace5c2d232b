"""A scenario: one cluster, its serving workload, capex, opex, financing, contract, tax and residual, from YAML.

``load_scenario(name_or_path)`` reads a bundled scenario (``configs/scenarios/<name>.yaml``) or a file, validates it
against the declared schema (:mod:`tokensim.config.schema`: type, finiteness, range and unit of every field; unknown
keys with "did you mean"; every error of the file reported at once) and returns a frozen :class:`Scenario`. Money is in
the scenario's top-level ``currency``; the unit of every other number is in its key name and in the schema.

Every default the loader applies is recorded in :attr:`Scenario.assumptions` (field, value, and the why declared with
the field in the schema), together with the fields the file itself declares as assumptions in its top-level
``assumptions:`` list, so results can show the user what was assumed rather than given.

The sections and keys, in brief (the declaration, with each field's bounds, unit, default and why, is
:class:`tokensim.config.schema.ScenarioSchema`; ``?`` = optional, default recorded when applied):

- top level: ``name?``, ``description?``, ``currency``, ``horizon_years``, ``utilisation``, ``sources?``,
  ``assumptions?`` (list of {field, why}), ``uncertainty?`` (raw mapping, validated by the Monte Carlo stage)
- ``serving``: hardware, model, precision, compare_precisions?, input_tokens, output_tokens, cache_hit_rate?,
  cached_input_cost_fraction?, min_tokens_per_s_per_user?, max_ttft_s?, max_tpot_s?,
  previous_generation? {hardware, precision, server_price}, speculative_draft_tokens?,
  speculative_acceptance_length?, measured_output_tokens_per_s_per_gpu?, instance_gpus?, tensor_parallel?,
  expert_parallel? (the serving layout pinned on the scenario's own hardware and model; none: searched)
- ``cluster``: servers and/or gpus (consistent with the hardware's gpus_per_server), gpus_per_server?
- ``capex``: server_price (per server), network_and_fabric_total, installation_total?, economic_life_years?,
  delivery? (list of {month, share}; default all at month 0), spare_share?, fx? {usd_share?, rate_change_share?}
- ``opex``: power_and_facility_paid_by (lessor|lessee), board_power_w?, server_overhead_factor, pue,
  electricity_price_per_kwh, load_factor, idle_load_factor?, facility_price_per_kw_month,
  maintenance_share_of_capex_per_year, operations_per_gpu_year, insurance_share_of_capex_per_year,
  gpu_failure_rate_per_year?, repair_days?, payable_days?
- ``financing``: debt_share, rate_type? (fixed|floating), interest_rate (fixed) or floating_base_rate +
  floating_margin (floating), tenor_years?, amortisation, payments_per_year?, balloon_share?, target_dscr?,
  dscr_covenant?, cost_of_equity, discount_rate?, equity_hurdle_irr?, sizing_dscr?, sizing_revenue_haircut_share?,
  upfront_fee_share?, commitment_fee_per_year?, lease_handling_fee_share?, lease_deposit_share?, hedged_share?,
  refinancing_tenor_years?, refinancing_rate?, lender_case_residual_haircut_share?
- ``contract``: type (fixed|base_plus_usage|spot), term_years, one of rent_per_gpu_hour | rent_per_server_month |
  rent_per_cluster_year (billing? must match), escalator_per_year?, contracted_share?, usage_fee_per_million_tokens,
  usage_tokens_per_s_per_gpu, usage_busy_share?, usage_floor_per_gpu_hour?, usage_cap_per_gpu_hour?,
  market_rent_per_gpu_hour?, market_rent_change_per_year?, spot_utilisation?, vacancy_lag_months?,
  reletting_cost_months_of_rent?, renewal_share?, renewal_rent_haircut_share?, receivable_days?,
  sla_availability_target_share?, sla_credit_per_point_share?, termination_payment_months_of_rent?,
  termination_recovery_share?
- ``tax?``: rate (or high_tech_enterprise: true), depreciation_years, loss_carry_forward_years? (null = unlimited),
  payment?, high_tech_enterprise?, vat? {input_rate?, output_rate?, surtax_share?}
- ``residual?``: method (economic|percent_of_cost), percent_of_cost_by_age? {age_years: share},
  tokens_per_s_per_gpu, newest_cost_per_million_tokens, markup, busy_share?, remaining_life_years (economic)
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._errors import ConfigError, ParameterError
from .._output import atomic_write_text, check_output_path
from .._units import HOURS_PER_MONTH
from .catalog import load_catalog
from .overrides import apply_overrides, parse_override, relabel_errors
from .reader import load_yaml, resolve_config_path
from .schema import (
    DELIVERY_DEFAULT,
    HIGH_TECH_ENTERPRISE_RATE,
    RENT_KEYS,
    RESIDUAL_DEFAULT,
    TAX_DEFAULT,
    CapexSchema,
    ClusterSchema,
    ContractSchema,
    FinancingSchema,
    OpexSchema,
    ResidualSchema,
    ScenarioSchema,
    ServingSchema,
    TaxSchema,
    field_spec,
    field_value,
    validate_scenario,
)
from .types import (
    Assumption,
    Capex,
    Cluster,
    Contract,
    Delivery,
    Financing,
    Opex,
    PreviousGeneration,
    Residual,
    Scenario,
    Serving,
    Tax,
    rent_per_gpu_month,
)

__all__ = [
    "Assumption", "Scenario", "Serving", "PreviousGeneration", "Cluster", "Delivery", "Capex", "Opex", "Financing",
    "Contract", "Tax", "Residual", "load_scenario", "rent_per_gpu_month", "scenario_from_document",
]


class _Reader:
    """Reads validated fields and records each default it applies as an :class:`Assumption` (why: the schema's)."""

    def __init__(self) -> None:
        self.assumptions: list[Assumption] = []

    def note(self, field_path: str, value: Any, why: str) -> None:
        self.assumptions.append(Assumption(field_path, value, why))

    def default(self, section: str, model: Any, key: str, value: Any = None, case: str = "", **why: Any) -> Any:
        """The field's value, or its default (``value``, else the schema's) recorded with the schema's reason."""
        if model.given(key):
            return _value(section, model, key)
        spec = field_spec(section, key)
        value = spec.default if value is None else value
        self.note(f"{section}.{key}", value, spec.why_for(case, **why))
        return value


def _or_default(section: str, model: Any, key: str) -> Any:
    """A field that is off by default (issue 13's tax, working-capital, SLA and FX terms): its value, or the schema's
    default when absent (or when its optional block is absent); not listed as an assumption, since the default keeps
    the cash flows as they were without the mechanism."""
    value = None if model is None else _value(section, model, key)
    return field_spec(section, key).default if value is None else value


def _value(section: str, model: Any, key: str) -> Any:
    """A validated field's value as the stages receive it (float, or int for whole-number fields; None if absent)."""
    value = getattr(model, key)
    return None if value is None else field_spec(section, key).check(value)


def _serving(m: ServingSchema, r: _Reader, catalog) -> Serving:
    prev = None
    if m.previous_generation is not None:
        p = m.previous_generation
        prev = PreviousGeneration(catalog.get_hardware(p.hardware).name, catalog.get_recipe(p.precision).name,
                                  float(p.server_price))
    draft = _value("serving", m, "speculative_draft_tokens")
    acceptance = _value("serving", m, "speculative_acceptance_length")
    return Serving(
        hardware=catalog.get_hardware(m.hardware).name,
        model=catalog.get_model(m.model).name,
        precision=catalog.get_recipe(m.precision).name,
        compare_precisions=tuple(catalog.get_recipe(p).name for p in (m.compare_precisions or ())),
        input_tokens=_value("serving", m, "input_tokens"),
        output_tokens=_value("serving", m, "output_tokens"),
        cache_hit_rate=r.default("serving", m, "cache_hit_rate"),
        cached_input_cost_fraction=r.default("serving", m, "cached_input_cost_fraction"),
        min_tokens_per_s_per_user=_value("serving", m, "min_tokens_per_s_per_user"),
        max_ttft_s=_value("serving", m, "max_ttft_s"),
        max_tpot_s=_value("serving", m, "max_tpot_s"),
        previous_generation=prev,
        speculative_draft_tokens=0 if draft is None else draft,
        speculative_acceptance_length=1.0 if acceptance is None else acceptance,
        measured_output_tokens_per_s_per_gpu=_value("serving", m, "measured_output_tokens_per_s_per_gpu"),
        instance_gpus=_value("serving", m, "instance_gpus"),
        tensor_parallel=_value("serving", m, "tensor_parallel"),
        expert_parallel=_value("serving", m, "expert_parallel"),
        engine=_value("serving", m, "engine"),
        expert_load_balancing=bool(m.expert_load_balancing),
    )


def _cluster(m: ClusterSchema, r: _Reader, gpus_per_server_catalog: int) -> Cluster:
    gps = int(r.default("cluster", m, "gpus_per_server", gpus_per_server_catalog))
    servers, gpus = m.servers, m.gpus
    if servers is None:
        assert gpus is not None  # the schema's rule: servers or gpus
        servers = gpus // gps
    if gpus is None:
        gpus = servers * gps
    return Cluster(gpus=int(gpus), servers=int(servers), gpus_per_server=gps)


def _capex(m: CapexSchema, r: _Reader, horizon_years: float) -> Capex:
    deliveries: tuple[Delivery, ...]
    if m.delivery is not None:
        deliveries = tuple(Delivery(int(d.month), float(d.share)) for d in m.delivery)
    else:
        deliveries = (Delivery(0, 1.0),)
        r.note("capex.delivery", *DELIVERY_DEFAULT)
    return Capex(
        server_price=_value("capex", m, "server_price"),
        network_and_fabric_total=_value("capex", m, "network_and_fabric_total"),
        installation_total=r.default("capex", m, "installation_total"),
        economic_life_years=r.default("capex", m, "economic_life_years", horizon_years),
        delivery=deliveries,
        recent_server_price_rise=r.default("capex", m, "recent_server_price_rise"),
        spare_share=_or_default("capex", m, "spare_share"),
        fx_usd_share=_or_default("capex.fx", m.fx, "usd_share"),
        fx_rate_change_share=_or_default("capex.fx", m.fx, "rate_change_share"),
    )


def _opex(m: OpexSchema, r: _Reader, board_power_catalog: float) -> Opex:
    load = _value("opex", m, "load_factor")
    return Opex(
        power_and_facility_paid_by=m.power_and_facility_paid_by,
        board_power_w=r.default("opex", m, "board_power_w", board_power_catalog),
        server_overhead_factor=_value("opex", m, "server_overhead_factor"),
        pue=_value("opex", m, "pue"),
        electricity_price_per_kwh=_value("opex", m, "electricity_price_per_kwh"),
        load_factor=load,
        idle_load_factor=r.default("opex", m, "idle_load_factor", load),
        facility_price_per_kw_month=_value("opex", m, "facility_price_per_kw_month"),
        maintenance_share_of_capex_per_year=_value("opex", m, "maintenance_share_of_capex_per_year"),
        operations_per_gpu_year=_value("opex", m, "operations_per_gpu_year"),
        insurance_share_of_capex_per_year=_value("opex", m, "insurance_share_of_capex_per_year"),
        gpu_failure_rate_per_year=_or_default("opex", m, "gpu_failure_rate_per_year"),
        repair_days=_or_default("opex", m, "repair_days"),
        payable_days=_or_default("opex", m, "payable_days"),
    )


def _financing(m: FinancingSchema, r: _Reader, term_years: float, horizon_years: float,
               contract_type: str) -> Financing:
    debt_share = _value("financing", m, "debt_share")
    rate_type = m.rate_type or "fixed"
    base = _value("financing", m, "floating_base_rate") if rate_type == "floating" else None
    margin = _value("financing", m, "floating_margin") if rate_type == "floating" else None
    rate = base + margin if base is not None and margin is not None else _value("financing", m, "interest_rate")
    spot = contract_type == "spot"
    tenor = r.default("financing", m, "tenor_years", horizon_years if spot else term_years,
                      "spot" if spot else "term")
    ppy = int(r.default("financing", m, "payments_per_year"))
    balloon = r.default("financing", m, "balloon_share")
    target = _value("financing", m, "target_dscr") if m.amortisation == "sculpted" else None
    cost_of_equity = _value("financing", m, "cost_of_equity")
    wacc = debt_share * rate + (1 - debt_share) * cost_of_equity
    # pre-tax WACC, as in economics-reference.md section 1.8 case C (5.1% = 0.9 x 4% + 0.1 x 15%)
    discount = r.default("financing", m, "discount_rate", wacc, debt_share=debt_share, rate=rate,
                         equity_share=1 - debt_share, cost_of_equity=cost_of_equity)
    return Financing(
        debt_share=debt_share, rate_type=rate_type, interest_rate=rate, floating_base_rate=base,
        floating_margin=margin, tenor_years=tenor, amortisation=m.amortisation, payments_per_year=ppy,
        balloon_share=balloon, target_dscr=target,
        dscr_covenant=_value("financing", m, "dscr_covenant"),
        cost_of_equity=cost_of_equity, discount_rate=discount,
        equity_hurdle_irr=_value("financing", m, "equity_hurdle_irr"),
        sizing_dscr=_value("financing", m, "sizing_dscr"),
        sizing_revenue_haircut_share=_value("financing", m, "sizing_revenue_haircut_share") or 0.0,
        upfront_fee_share=_value("financing", m, "upfront_fee_share") or 0.0,
        commitment_fee_per_year=_value("financing", m, "commitment_fee_per_year") or 0.0,
        lease_handling_fee_share=_value("financing", m, "lease_handling_fee_share") or 0.0,
        lease_deposit_share=_value("financing", m, "lease_deposit_share") or 0.0,
        hedged_share=_value("financing", m, "hedged_share") or 0.0,
        **_waterfall(m),
        **_tail(m),
    )


def _tail(m: FinancingSchema) -> dict[str, Any]:
    """The tail and lender-case fields, each its schema default when absent (refinancing off; the lender case's
    haircut is reported with the lender case itself)."""
    out = {}
    for key in ("refinancing_tenor_years", "refinancing_rate", "lender_case_residual_haircut_share"):
        value = _value("financing", m, key)
        default = field_spec("financing", key).default
        out[key] = (None if key == "refinancing_rate" else default) if value is None else value
    return out


def _waterfall(m: FinancingSchema) -> dict[str, Any]:
    """The cash-waterfall fields, each its schema default when absent (the defaults switch the mechanisms off, so
    they are not listed as assumptions)."""
    out = {}
    for key in ("dsra_months", "dsra_funding", "dsra_restore_months", "maintenance_reserve_per_gpu_hour",
                "lockup_dscr", "cash_sweep_share", "cash_sweep_when", "equity_cure_max_count"):
        value = _value("financing", m, key)
        out[key] = field_spec("financing", key).default if value is None else value
    return out


def _contract(m: ContractSchema, r: _Reader, horizon_years: float, cluster: Cluster) -> Contract:
    kind = m.type
    spot = kind == "spot"
    if spot:
        term, billing, rent, share = 0.0, "per_gpu_hour", 0.0, 0.0
    else:
        key = m.rent_key()
        assert key is not None  # the schema's rule: exactly one rent key
        term = _value("contract", m, "term_years")
        billing, rent = RENT_KEYS[key], _value("contract", m, key)
        share = r.default("contract", m, "contracted_share")
    usage = kind == "base_plus_usage"
    fee = _value("contract", m, "usage_fee_per_million_tokens") if usage else 0.0
    tps = _value("contract", m, "usage_tokens_per_s_per_gpu") if usage else 0.0
    busy = r.default("contract", m, "usage_busy_share") if usage else 0.0
    floor = r.default("contract", m, "usage_floor_per_gpu_hour") if usage else 0.0
    cap = _value("contract", m, "usage_cap_per_gpu_hour") if usage else None
    needs_market = m.needs_market(horizon_years)
    if needs_market or m.given("market_rent_per_gpu_hour"):
        market = _value("contract", m, "market_rent_per_gpu_hour")
    else:
        market = rent_per_gpu_month(billing, rent, cluster, share) / HOURS_PER_MONTH
        r.note("contract.market_rent_per_gpu_hour", market,
               field_spec("contract", "market_rent_per_gpu_hour").why_for())
    return Contract(
        type=kind, term_years=term, billing=billing, rent=rent,
        escalator_per_year=r.default("contract", m, "escalator_per_year") if not spot else 0.0,
        contracted_share=share, usage_fee_per_million_tokens=fee, usage_tokens_per_s_per_gpu=tps,
        usage_busy_share=busy, usage_floor_per_gpu_hour=floor, usage_cap_per_gpu_hour=cap,
        market_rent_per_gpu_hour=market,
        market_rent_change_per_year=r.default("contract", m, "market_rent_change_per_year"),
        spot_utilisation=r.default("contract", m, "spot_utilisation", 0.7,
                                   "market" if needs_market else "after_default"),
        vacancy_lag_months=int(r.default("contract", m, "vacancy_lag_months")),
        reletting_cost_months_of_rent=r.default("contract", m, "reletting_cost_months_of_rent"),
        **{key: _or_default("contract", m, key)  # the schema refuses the contract terms for spot
           for key in ("receivable_days", "sla_availability_target_share", "sla_credit_per_point_share",
                       "termination_payment_months_of_rent")},
        termination_recovery_share=_or_default("contract", m, "termination_recovery_share"),
        renewal_share=0.0 if spot else (_value("contract", m, "renewal_share") or 0.0),
        renewal_rent_haircut_share=_value("contract", m, "renewal_rent_haircut_share") or 0.0,
    )


def _tax(m: TaxSchema | None, r: _Reader, economic_life_years: float) -> Tax:
    if m is None:
        r.note("tax", *TAX_DEFAULT)
        return Tax(rate=0.0, depreciation_years=economic_life_years, loss_carry_forward_years=None)
    carry = _value("tax", m, "loss_carry_forward_years")
    if carry is None:
        spec = field_spec("tax", "loss_carry_forward_years")
        r.note("tax.loss_carry_forward_years", spec.default, spec.why_for())
    payment = _value("tax", m, "payment")
    high_tech = bool(m.high_tech_enterprise)
    rate = HIGH_TECH_ENTERPRISE_RATE if high_tech else _value("tax", m, "rate")
    if high_tech and not m.given("rate"):
        r.note("tax.rate", rate, field_spec("tax", "rate").why_for())
    return Tax(rate=rate, depreciation_years=_value("tax", m, "depreciation_years"),
               loss_carry_forward_years=carry,
               payment=field_spec("tax", "payment").default if payment is None else payment,
               high_tech_enterprise=high_tech, vat_input_rate=_or_default("tax.vat", m.vat, "input_rate"),
               vat_output_rate=_or_default("tax.vat", m.vat, "output_rate"),
               vat_surtax_share=_or_default("tax.vat", m.vat, "surtax_share"))


def _residual(m: ResidualSchema | None, r: _Reader) -> Residual:
    if m is None:
        r.note("residual", *RESIDUAL_DEFAULT)
        return Residual("percent_of_cost", ((0.0, 0.0),), 0.0, 0.0, 0.0, 0.0, 0.0)
    method: str
    if m.method is not None:
        method = m.method
    else:
        spec = field_spec("residual", "method")
        method = spec.default
        r.note("residual.method", method, spec.why)
    if method == "percent_of_cost":
        return Residual(method, m.curve(), 0.0, 0.0, 0.0, 0.0, 0.0)
    return Residual(
        method=method, percent_of_cost_by_age=(),
        tokens_per_s_per_gpu=_value("residual", m, "tokens_per_s_per_gpu"),
        newest_cost_per_million_tokens=_value("residual", m, "newest_cost_per_million_tokens"),
        markup=_value("residual", m, "markup"),
        busy_share=r.default("residual", m, "busy_share"),
        remaining_life_years=_value("residual", m, "remaining_life_years"),
    )


def _declared(doc: ScenarioSchema, data: dict) -> list[Assumption]:
    """The file's own ``assumptions:`` list (each naming a field the schema found present) with the values there."""
    return [Assumption(a.field, copy.deepcopy(field_value(data, a.field)), a.why, origin="scenario")
            for a in doc.assumptions or ()]


def load_scenario(name_or_path: str | Path, overrides: Sequence[str] = ()) -> Scenario:
    """Load and validate a scenario: a bundled name or a YAML file path, with optional field overrides.

    Parameters
    ----------
    name_or_path : str or pathlib.Path
        A bundled scenario's name (``b300-10k-cluster``) or the path of a scenario YAML file.
    overrides : sequence of str, optional
        ``PATH=VALUE`` field overrides applied in order before validation (``financing.debt_share=0.7``; see
        :mod:`tokensim.config.overrides`); each is listed in the assumptions with origin ``override``.

    Returns
    -------
    Scenario
        The frozen scenario; money in its ``currency``, other units in the field names; every default applied is in
        :attr:`Scenario.assumptions`.

    Raises
    ------
    ConfigError
        When the file breaks the schema: one error, or a :class:`~tokensim.ConfigErrors` listing every error of
        the file (one line each: file, dotted field path, value, what is allowed).
    """
    parsed = [parse_override(text) for text in overrides]
    path = resolve_config_path(name_or_path, "scenarios", "scenario")
    data = load_yaml(path)
    data, overridden = apply_overrides(data, parsed, str(path)) if parsed else (data, [])
    try:
        return scenario_from_document(data, path, overridden)
    except ConfigError as exc:
        raise relabel_errors(exc, parsed) from None


def scenario_from_document(data: Any, path: str | Path, noted: Sequence[Assumption] = ()) -> Scenario:
    """A scenario from a parsed (and possibly amended) document: the second half of :func:`load_scenario`, also used
    by the fleet loader (:mod:`tokensim.config.fleet`) for each block.

    Parameters
    ----------
    data : Any
        The parsed scenario document.
    path : str or Path
        The file it came from (named in messages; its stem is the default name).
    noted : sequence of Assumption, optional
        Assumptions to list first (the overrides applied to ``data``).

    Returns
    -------
    Scenario
        As :func:`load_scenario`.

    Raises
    ------
    ConfigError
        When the document breaks the schema (every error at once).
    """
    catalog = load_catalog()
    doc = validate_scenario(data, str(path), catalog)
    overridden = list(noted)
    r = _Reader()
    horizon = doc.horizon_years
    serving = _serving(doc.serving, r, catalog)
    hardware = catalog.get_hardware(serving.hardware)
    cluster = _cluster(doc.cluster, r, hardware.gpus_per_server)
    capex = _capex(doc.capex, r, horizon)
    opex = _opex(doc.opex, r, hardware.board_power_w)
    contract = _contract(doc.contract, r, horizon, cluster)
    tax = _tax(doc.tax, r, capex.economic_life_years)
    financing = _financing(doc.financing, r, contract.term_years, horizon, contract.type)
    residual = _residual(doc.residual, r)
    if contract.term_years > horizon:
        r.note("contract.term_years", contract.term_years,
               f"contract runs past the {horizon:g}-year horizon: rent after it is ignored")
    sources = {} if doc.sources is None else doc.sources
    uncertainty = {} if doc.uncertainty is None else doc.uncertainty
    return Scenario(
        name=str(doc.name if doc.name is not None else Path(path).stem), file=str(path),
        description=str(doc.description if doc.description is not None else ""),
        currency=doc.currency, horizon_years=horizon, utilisation=doc.utilisation, serving=serving,
        cluster=cluster, capex=capex, opex=opex, financing=financing, contract=contract, tax=tax, residual=residual,
        assumptions=tuple(overridden + _declared(doc, data) + r.assumptions),
        sources=copy.deepcopy(sources) if isinstance(sources, dict) else {"text": sources},
        uncertainty=copy.deepcopy(uncertainty),
    )


def write_starting_scenario(path: str | Path, source: str | Path = "b300-10k-cluster", *,
                            force: bool = False) -> Path:
    """Write a commented starting scenario to edit (``tokensim init``): a copy of a scenario file, comments kept.

    Parameters
    ----------
    path : str or Path
        The new file.
    source : str or Path, optional
        A bundled scenario's name or a scenario file (default: the founding case); it must load.
    force : bool, optional
        Replace an existing file.

    Returns
    -------
    Path
        The file written (atomically), which :func:`load_scenario` loads.

    Raises
    ------
    UserError
        ``source`` is not a scenario or does not load; ``path`` exists (without ``force``) or cannot be written.
    """
    origin = resolve_config_path(source, "scenarios", "scenario")
    load_scenario(origin)  # a starting point that loads, or the source's own errors
    target = check_output_path(path, "path")
    if target.exists() and not force:
        raise ParameterError("path", f"{str(path)!r}: exists; allowed: a new file (or --force to replace it)")
    text = origin.read_text(encoding="utf-8")
    header = (f"# A starting scenario written by `tokensim init` from {origin.name}: edit the values (every number\n"
              "# says its unit in its key and carries a source or `assumption`), then check it with\n"
              f"# `tokensim finance {Path(path).name}`. Fields and defaults: docs/outputs.md and the README.\n")
    return atomic_write_text(target, header + text)
