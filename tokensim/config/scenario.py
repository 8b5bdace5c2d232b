"""A scenario: one cluster, its serving workload, capex, opex, financing, contract, tax and residual, from YAML.

``load_scenario(name_or_path)`` reads a bundled scenario (``configs/scenarios/<name>.yaml``) or a file, validates every
field (type, finiteness, range; unknown keys with "did you mean") and returns a frozen :class:`Scenario`. Money is in
the scenario's top-level ``currency``; the unit of every other number is in its key name.

Every default the loader applies is recorded in :attr:`Scenario.assumptions` (field, value, why), together with the
fields the file itself declares as assumptions in its top-level ``assumptions:`` list, so results can show the user
what was assumed rather than given.

Schema (section → keys; ``?`` = optional, default recorded when applied):

- top level: ``name?``, ``description?``, ``currency``, ``horizon_years``, ``utilisation``, ``sources?``,
  ``assumptions?`` (list of {field, why}), ``uncertainty?`` (raw mapping, validated by the Monte Carlo stage)
- ``serving``: hardware, model, precision, compare_precisions?, input_tokens, output_tokens, cache_hit_rate?,
  cached_input_cost_fraction?, min_tokens_per_s_per_user?, max_ttft_s?, max_tpot_s?,
  previous_generation? {hardware, precision, server_price}
- ``cluster``: servers and/or gpus (consistent with the hardware's gpus_per_server), gpus_per_server?
- ``capex``: server_price (per server), network_and_fabric_total, installation_total?, economic_life_years?,
  delivery? (list of {month, share}; default all at month 0)
- ``opex``: power_and_facility_paid_by (lessor|lessee), board_power_w?, server_overhead_factor, pue,
  electricity_price_per_kwh, load_factor, idle_load_factor?, facility_price_per_kw_month,
  maintenance_share_of_capex_per_year, operations_per_gpu_year, insurance_share_of_capex_per_year
- ``financing``: debt_share, rate_type? (fixed|floating), interest_rate (fixed) or floating_base_rate +
  floating_margin (floating), tenor_years?, amortisation, payments_per_year?, balloon_share?, target_dscr?,
  dscr_covenant?, cost_of_equity, discount_rate?, equity_hurdle_irr?
- ``contract``: type (fixed|base_plus_usage|spot), term_years, one of rent_per_gpu_hour | rent_per_server_month |
  rent_per_cluster_year (billing? must match), escalator_per_year?, contracted_share?, usage_fee_per_million_tokens,
  usage_tokens_per_s_per_gpu, usage_busy_share?, usage_floor_per_gpu_hour?, usage_cap_per_gpu_hour?,
  market_rent_per_gpu_hour?, market_rent_change_per_year?, spot_utilisation?, vacancy_lag_months?
- ``tax?``: rate, depreciation_years, loss_carry_forward_years? (null = unlimited)
- ``residual?``: method (economic|percent_of_cost), percent_of_cost_by_age? {age_years: share},
  tokens_per_s_per_gpu, newest_cost_per_million_tokens, margin, busy_share?, remaining_life_years (economic)
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from .._errors import ConfigError, did_you_mean
from .._units import HOURS_PER_MONTH
from ._yaml import Section, load_yaml, resolve_config_path
from .catalog import load_catalog
from .money import check_currency
from .types import (
    AMORTISATIONS,
    BILLINGS,
    CONTRACT_TYPES,
    PAYERS,
    RESIDUAL_METHODS,
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
    "Contract", "Tax", "Residual", "load_scenario", "rent_per_gpu_month",
]

_TOP_KEYS = ("name", "description", "currency", "horizon_years", "utilisation", "sources", "assumptions",
             "uncertainty", "serving", "cluster", "capex", "opex", "financing", "contract", "tax", "residual")


class _Reader:
    """Reads optional fields and records each default it applies as an :class:`Assumption`."""

    def __init__(self) -> None:
        self.assumptions: list[Assumption] = []

    def note(self, field_path: str, value: Any, why: str) -> None:
        self.assumptions.append(Assumption(field_path, value, why))

    def default(self, sec: Section, key: str, value: Any, why: str, **check: Any) -> Any:
        """A number read with ``check`` (range etc.), or ``value`` recorded as an assumption when absent."""
        if key in sec:
            return sec.number(key, **check)
        self.note(sec.field(key), value, why)
        return value


def _lookup(sec: Section, key: str, getter) -> Any:
    """A catalogue entry named by ``sec[key]``; an unknown name is reported at this file and field."""
    name = sec.string(key)
    try:
        return getter(name)
    except ConfigError as exc:
        raise sec.error(key, name, exc.allowed, did_you_mean(name, [c.strip() for c in
                                                                     exc.allowed.removeprefix("one of ").split(",")]))


def _optional_number(sec: Section, key: str, **check: Any) -> float | None:
    return sec.number(key, None, **check) if key in sec else None


def _nonneg(sec: Section, key: str, default: Any = ConfigError.MISSING) -> Any:  # type: ignore[attr-defined]
    return sec.number(key, default, low=0)


def _serving(sec: Section, r: _Reader, catalog) -> Serving:
    sec.check_keys(("hardware", "model", "precision", "compare_precisions", "input_tokens", "output_tokens",
                    "cache_hit_rate", "cached_input_cost_fraction", "min_tokens_per_s_per_user", "max_ttft_s",
                    "max_tpot_s", "previous_generation", "speculative_draft_tokens",
                    "speculative_acceptance_length"))
    hardware = _lookup(sec, "hardware", catalog.get_hardware)
    model = _lookup(sec, "model", catalog.get_model)
    precision = _lookup(sec, "precision", catalog.get_recipe).name
    compare_sec = Section({str(i): p for i, p in enumerate(sec.items("compare_precisions", []))}, sec.file,
                          sec.field("compare_precisions"))
    compare = tuple(_lookup(compare_sec, key, catalog.get_recipe).name for key in compare_sec.keys())
    prev = None
    if "previous_generation" in sec:
        p = sec.section("previous_generation")
        p.check_keys(("hardware", "precision", "server_price"))
        prev = PreviousGeneration(_lookup(p, "hardware", catalog.get_hardware).name,
                                  _lookup(p, "precision", catalog.get_recipe).name, _nonneg(p, "server_price"))
    draft = sec.number("speculative_draft_tokens", 0, low=0, high=16, integer=True)
    acceptance = sec.number("speculative_acceptance_length", 1.0, low=1, high=1 + draft)
    return Serving(
        hardware=hardware.name,
        model=model.name,
        precision=precision,
        compare_precisions=compare,
        input_tokens=sec.number("input_tokens", low=0),
        output_tokens=sec.number("output_tokens", low=0, low_open=True),
        cache_hit_rate=r.default(sec, "cache_hit_rate", 0.0, "no prefix-cache hits unless stated", low=0, high=1),
        cached_input_cost_fraction=r.default(
            sec, "cached_input_cost_fraction", 0.1,
            "a cached input token is charged 10% of an uncached one's prefill GPU time (DeepSeek V3.2 prices cache "
            "hits at 10% of misses, economics-reference.md section 3.3)", low=0, high=1),
        min_tokens_per_s_per_user=_optional_number(sec, "min_tokens_per_s_per_user", low=0, low_open=True),
        max_ttft_s=_optional_number(sec, "max_ttft_s", low=0, low_open=True),
        max_tpot_s=_optional_number(sec, "max_tpot_s", low=0, low_open=True),
        previous_generation=prev,
        speculative_draft_tokens=draft,
        speculative_acceptance_length=acceptance,
    )


def _cluster(sec: Section, r: _Reader, gpus_per_server_catalog: int) -> Cluster:
    sec.check_keys(("gpus", "servers", "gpus_per_server"))
    gps = int(r.default(sec, "gpus_per_server", gpus_per_server_catalog,
                        "GPUs per server from the hardware catalogue", low=1, integer=True))
    if "servers" not in sec and "gpus" not in sec:
        raise sec.error("servers", ConfigError.MISSING, "a whole number >= 1 (give servers or gpus)")  # type: ignore
    servers = sec.number("servers", None, low=1, integer=True) if "servers" in sec else None
    gpus = sec.number("gpus", None, low=1, integer=True) if "gpus" in sec else None
    if servers is None:
        if gpus % gps:
            raise sec.error("gpus", gpus, f"a multiple of gpus_per_server ({gps})")
        servers = gpus // gps
    if gpus is None:
        gpus = servers * gps
    if gpus != servers * gps:
        raise sec.error("gpus", gpus, f"servers x gpus_per_server = {servers} x {gps} = {servers * gps}")
    return Cluster(gpus=int(gpus), servers=int(servers), gpus_per_server=gps)


def _capex(sec: Section, r: _Reader, horizon_years: float) -> Capex:
    sec.check_keys(("server_price", "network_and_fabric_total", "installation_total", "economic_life_years",
                    "delivery", "recent_server_price_rise"))
    deliveries: tuple[Delivery, ...]
    if "delivery" in sec:
        rows = sec.items("delivery")
        if not rows:
            raise sec.error("delivery", rows, "a non-empty list of {month, share}")
        out = []
        for i, row in enumerate(rows):
            d = Section(row, sec.file, f"{sec.field('delivery')}[{i}]")
            d.check_keys(("month", "share"))
            out.append(Delivery(int(d.number("month", low=0, integer=True)),
                                d.number("share", low=0, high=1, low_open=True)))
        total = sum(d.share for d in out)
        if abs(total - 1.0) > 1e-9:
            raise sec.error("delivery", [d.share for d in out], f"shares that add up to 1 (they add up to {total:g})")
        months = [d.month for d in out]
        if months != sorted(set(months)):
            raise sec.error("delivery", months, "increasing, distinct delivery months")
        deliveries = tuple(out)
    else:
        deliveries = (Delivery(0, 1.0),)
        r.note(sec.field("delivery"), "all at month 0", "whole cluster delivered and paid at financial close")
    return Capex(
        server_price=_nonneg(sec, "server_price"),
        network_and_fabric_total=_nonneg(sec, "network_and_fabric_total"),
        installation_total=r.default(sec, "installation_total", 0.0, "installation included in the prices given",
                                     low=0),
        economic_life_years=r.default(sec, "economic_life_years", horizon_years,
                                      "economic life = horizon (cost per GPU-hour recovers capital over it)",
                                      low=0, low_open=True, high=30),
        delivery=deliveries,
        recent_server_price_rise=r.default(sec, "recent_server_price_rise", 0.0,
                                           "no recent server-price rise split out in the bridge", low=-1,
                                           low_open=True, high=10),
    )


def _opex(sec: Section, r: _Reader, board_power_catalog: float) -> Opex:
    sec.check_keys(("power_and_facility_paid_by", "board_power_w", "server_overhead_factor", "pue",
                    "electricity_price_per_kwh", "load_factor", "idle_load_factor", "facility_price_per_kw_month",
                    "maintenance_share_of_capex_per_year", "operations_per_gpu_year",
                    "insurance_share_of_capex_per_year"))
    load = sec.number("load_factor", low=0, high=1)
    return Opex(
        power_and_facility_paid_by=sec.string("power_and_facility_paid_by", choices=PAYERS),
        board_power_w=r.default(sec, "board_power_w", board_power_catalog, "board power from the hardware catalogue",
                                low=0, low_open=True),
        server_overhead_factor=sec.number("server_overhead_factor", low=1, high=5),
        pue=sec.number("pue", low=1, high=3),
        electricity_price_per_kwh=_nonneg(sec, "electricity_price_per_kwh"),
        load_factor=load,
        idle_load_factor=r.default(sec, "idle_load_factor", load, "idle GPUs draw as much as rented ones",
                                   low=0, high=1),
        facility_price_per_kw_month=_nonneg(sec, "facility_price_per_kw_month"),
        maintenance_share_of_capex_per_year=sec.number("maintenance_share_of_capex_per_year", low=0, high=1),
        operations_per_gpu_year=_nonneg(sec, "operations_per_gpu_year"),
        insurance_share_of_capex_per_year=sec.number("insurance_share_of_capex_per_year", low=0, high=1),
    )


def _financing(sec: Section, r: _Reader, term_years: float, horizon_years: float, contract_type: str) -> Financing:
    sec.check_keys(("debt_share", "rate_type", "interest_rate", "floating_base_rate", "floating_margin",
                    "tenor_years", "amortisation", "payments_per_year", "balloon_share", "target_dscr",
                    "dscr_covenant", "cost_of_equity", "discount_rate", "equity_hurdle_irr"))
    debt_share = sec.number("debt_share", low=0, high=1)
    rate_type = sec.string("rate_type", "fixed", choices=("fixed", "floating"))
    base = margin = None
    if rate_type == "floating":
        base = sec.number("floating_base_rate", low=-0.05, high=1)
        margin = sec.number("floating_margin", low=0, high=1)
        rate = base + margin
        if "interest_rate" in sec:
            raise sec.error("interest_rate", sec.raw("interest_rate"),
                            "absent for floating debt (the rate is floating_base_rate + floating_margin)")
    else:
        for key in ("floating_base_rate", "floating_margin"):
            if key in sec:
                raise sec.error(key, sec.raw(key), "absent for fixed-rate debt (set rate_type: floating)")
        rate = sec.number("interest_rate", low=0, high=1)
    default_tenor = term_years if contract_type != "spot" else horizon_years
    tenor = r.default(sec, "tenor_years", default_tenor,
                      "debt tenor = contract term" if contract_type != "spot" else "debt tenor = horizon (spot)",
                      low=0, low_open=True, high=40)
    amortisation = sec.string("amortisation", choices=AMORTISATIONS)
    ppy = int(r.default(sec, "payments_per_year", 12, "monthly debt service, like monthly billing", low=1, high=12,
                        integer=True))
    if ppy not in (1, 2, 4, 12):
        raise sec.error("payments_per_year", ppy, "one of 1, 2, 4, 12")
    tenor_months = tenor * 12
    if abs(tenor_months - round(tenor_months)) > 1e-9 or round(tenor_months) % (12 // ppy):
        raise sec.error("tenor_years", tenor, f"a whole number of payment periods ({12 // ppy} months each)")
    balloon = r.default(sec, "balloon_share", 0.0, "fully amortising", low=0, high=1)
    if balloon and amortisation not in ("annuity", "straight_line", "finance_lease"):
        raise sec.error("balloon_share", balloon, "0 for bullet and sculpted debt (a balloon needs an "
                        "annuity, straight_line or finance_lease profile)")
    target = None
    if amortisation == "sculpted":
        target = sec.number("target_dscr", low=0, low_open=True, high=100)
    elif "target_dscr" in sec:
        raise sec.error("target_dscr", sec.raw("target_dscr"), "only with amortisation: sculpted")
    cost_of_equity = sec.number("cost_of_equity", low=-0.99, high=10)
    wacc = debt_share * rate + (1 - debt_share) * cost_of_equity
    # pre-tax WACC, as in economics-reference.md section 1.8 case C (5.1% = 0.9 x 4% + 0.1 x 15%)
    discount = r.default(sec, "discount_rate", wacc,
                         f"pre-tax WACC = {debt_share:g} x {rate:g} + {1 - debt_share:g} x {cost_of_equity:g}",
                         low=-0.99, low_open=True, high=10)
    return Financing(
        debt_share=debt_share, rate_type=rate_type, interest_rate=rate, floating_base_rate=base,
        floating_margin=margin, tenor_years=tenor, amortisation=amortisation, payments_per_year=ppy,
        balloon_share=balloon, target_dscr=target,
        dscr_covenant=_optional_number(sec, "dscr_covenant", low=0, high=100),
        cost_of_equity=cost_of_equity, discount_rate=discount,
        equity_hurdle_irr=_optional_number(sec, "equity_hurdle_irr", low=-0.99, high=10),
    )


_RENT_KEYS = {"rent_per_gpu_hour": "per_gpu_hour", "rent_per_server_month": "per_server_month",
              "rent_per_cluster_year": "per_cluster_year"}




def _contract(sec: Section, r: _Reader, horizon_years: float, cluster: Cluster) -> Contract:
    sec.check_keys(("type", "term_years", "billing", *_RENT_KEYS, "escalator_per_year", "contracted_share",
                    "usage_fee_per_million_tokens", "usage_tokens_per_s_per_gpu", "usage_busy_share",
                    "usage_floor_per_gpu_hour", "usage_cap_per_gpu_hour", "market_rent_per_gpu_hour",
                    "market_rent_change_per_year", "spot_utilisation", "vacancy_lag_months"))
    kind = sec.string("type", choices=CONTRACT_TYPES)
    given = [k for k in _RENT_KEYS if k in sec]
    if kind == "spot":
        term = 0.0
        for key in ("term_years", *given, "contracted_share"):
            if key in sec and sec.raw(key):
                raise sec.error(key, sec.raw(key), "absent for a spot contract (all capacity sells at market)")
        billing, rent, share = "per_gpu_hour", 0.0, 0.0
    else:
        term = sec.number("term_years", low=0, low_open=True, high=40)
        if abs(term * 12 - round(term * 12)) > 1e-9:
            raise sec.error("term_years", term, "a whole number of months (term_years x 12)")
        if len(given) != 1:
            raise sec.error("rent_per_cluster_year", given or ConfigError.MISSING,  # type: ignore[attr-defined]
                            f"exactly one of {', '.join(_RENT_KEYS)}")
        billing = _RENT_KEYS[given[0]]
        if "billing" in sec and sec.string("billing", choices=BILLINGS) != billing:
            raise sec.error("billing", sec.raw("billing"), f"{billing} (the rent is given as {given[0]})")
        rent = _nonneg(sec, given[0])
        share = r.default(sec, "contracted_share", 1.0, "the whole cluster is under the contract", low=0, high=1)
    usage = kind == "base_plus_usage"
    if not usage:
        for key in ("usage_fee_per_million_tokens", "usage_tokens_per_s_per_gpu", "usage_busy_share",
                    "usage_floor_per_gpu_hour", "usage_cap_per_gpu_hour"):
            if key in sec:
                raise sec.error(key, sec.raw(key), "only with type: base_plus_usage")
    fee = sec.number("usage_fee_per_million_tokens", low=0) if usage else 0.0
    tps = sec.number("usage_tokens_per_s_per_gpu", low=0) if usage else 0.0
    busy = r.default(sec, "usage_busy_share", 1.0, "contracted GPUs serve tokens all hours",
                     low=0, high=1) if usage else 0.0
    floor = r.default(sec, "usage_floor_per_gpu_hour", 0.0, "no floor on usage fees", low=0) if usage else 0.0
    cap = _optional_number(sec, "usage_cap_per_gpu_hour", low=0) if usage else None
    if cap is not None and cap < floor:
        raise sec.error("usage_cap_per_gpu_hour", cap, f"a number >= usage_floor_per_gpu_hour ({floor:g})")
    needs_market = kind == "spot" or share < 1 or term < horizon_years
    if needs_market or "market_rent_per_gpu_hour" in sec:
        market = sec.number("market_rent_per_gpu_hour", low=0)
    else:
        market = rent_per_gpu_month(billing, rent, cluster, share) / HOURS_PER_MONTH
        r.note(sec.field("market_rent_per_gpu_hour"), market,
               "capacity re-let after a default earns the contract's rent per GPU-hour")
    return Contract(
        type=kind, term_years=term, billing=billing, rent=rent,
        escalator_per_year=r.default(sec, "escalator_per_year", 0.0, "flat rent", low=-1, high=1, low_open=True)
        if kind != "spot" else 0.0,
        contracted_share=share, usage_fee_per_million_tokens=fee, usage_tokens_per_s_per_gpu=tps,
        usage_busy_share=busy, usage_floor_per_gpu_hour=floor, usage_cap_per_gpu_hour=cap,
        market_rent_per_gpu_hour=market,
        market_rent_change_per_year=r.default(sec, "market_rent_change_per_year", 0.0, "market rent flat in time",
                                              low=-1, high=10, low_open=True),
        spot_utilisation=r.default(sec, "spot_utilisation", 1.0 if not needs_market else 0.7,
                                   "capacity sold at market is rented 70% of hours" if needs_market
                                   else "unused: no capacity sells at market in the base case", low=0, high=1),
        vacancy_lag_months=int(r.default(sec, "vacancy_lag_months", 3, "three months to re-let after a default",
                                         low=0, high=120, integer=True)),
    )


def _tax(doc: Section, r: _Reader, economic_life_years: float) -> Tax:
    if "tax" not in doc:
        r.note("tax", "none", "no tax section: profits are not taxed; book depreciation over the economic life")
        return Tax(rate=0.0, depreciation_years=economic_life_years, loss_carry_forward_years=None)
    sec = doc.section("tax")
    sec.check_keys(("rate", "depreciation_years", "loss_carry_forward_years"))
    carry = sec.raw("loss_carry_forward_years", None)
    if carry is not None:
        carry = int(sec.number("loss_carry_forward_years", low=1, high=50, integer=True))
    else:
        r.note(sec.field("loss_carry_forward_years"), "unlimited", "tax losses carry forward without expiry")
    return Tax(rate=sec.number("rate", low=0, high=1, high_open=True),
               depreciation_years=sec.number("depreciation_years", low=0, low_open=True, high=50),
               loss_carry_forward_years=carry)


def _residual(doc: Section, r: _Reader) -> Residual:
    none = Residual("percent_of_cost", ((0.0, 0.0),), 0.0, 0.0, 0.0, 0.0, 0.0)
    if "residual" not in doc:
        r.note("residual", 0.0, "no residual section: the cluster is worth nothing at the horizon")
        return none
    sec = doc.section("residual")
    sec.check_keys(("method", "percent_of_cost_by_age", "tokens_per_s_per_gpu", "newest_cost_per_million_tokens",
                    "margin", "busy_share", "remaining_life_years"))
    if "method" in sec:
        method = sec.string("method", choices=RESIDUAL_METHODS)
    else:
        method = "economic"
        r.note(sec.field("method"), method, "economic residual value by default (DESIGN.md section 7)")
    if method == "percent_of_cost":
        curve_sec = sec.section("percent_of_cost_by_age")
        points = []
        for key in curve_sec.keys():
            try:
                age = float(key)
            except (TypeError, ValueError):
                raise curve_sec.error(str(key), key, "an age in years (a number) as the key") from None
            points.append((age, curve_sec.number(key, low=0, high=1)))
        if not points:
            raise sec.error("percent_of_cost_by_age", {}, "at least one {age_years: share} point")
        points.sort()
        if points[0][0] < 0:
            raise curve_sec.error(str(points[0][0]), points[0][0], "ages >= 0")
        return Residual(method, tuple(points), 0.0, 0.0, 0.0, 0.0, 0.0)
    return Residual(
        method=method, percent_of_cost_by_age=(),
        tokens_per_s_per_gpu=sec.number("tokens_per_s_per_gpu", low=0),
        newest_cost_per_million_tokens=sec.number("newest_cost_per_million_tokens", low=0),
        margin=sec.number("margin", low=-1, high=10, low_open=True),
        busy_share=r.default(sec, "busy_share", 0.7, "a used GPU serves tokens 70% of hours", low=0, high=1),
        remaining_life_years=sec.number("remaining_life_years", low=0, high=30),
    )


def _declared(doc: Section, data: dict) -> list[Assumption]:
    """The file's own ``assumptions:`` list, each naming an existing field and why it is assumed."""
    out = []
    for i, row in enumerate(doc.items("assumptions", [])):
        a = Section(row, doc.file, f"assumptions[{i}]")
        a.check_keys(("field", "why"))
        path = a.string("field")
        node: Any = data
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                raise a.error("field", path, "the dotted path of a field present in this scenario")
            node = node[part]
        out.append(Assumption(path, copy.deepcopy(node), a.string("why"), origin="scenario"))
    return out


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load and validate a scenario: a bundled name (``b300-10k-cluster``) or a YAML file path."""
    path = resolve_config_path(name_or_path, "scenarios", "scenario")
    data = load_yaml(path)
    doc = Section(data, path)
    doc.check_keys(_TOP_KEYS)
    for required in ("serving", "cluster", "capex", "opex", "financing", "contract"):
        if required not in doc:
            raise doc.error(required, ConfigError.MISSING,  # type: ignore[attr-defined]
                            f"a '{required}' section (required sections: serving, cluster, capex, opex, financing, "
                            "contract)")
    r = _Reader()
    currency = check_currency(doc.string("currency"), doc.file, "currency")
    horizon = doc.number("horizon_years", low=0, low_open=True, high=50)
    if abs(horizon * 12 - round(horizon * 12)) > 1e-9:
        raise doc.error("horizon_years", horizon, "a whole number of months (horizon_years x 12)")
    utilisation = doc.number("utilisation", low=0, high=1, low_open=True)
    catalog = load_catalog()
    serving = _serving(doc.section("serving"), r, catalog)
    hardware = catalog.get_hardware(serving.hardware)
    cluster = _cluster(doc.section("cluster"), r, hardware.gpus_per_server)
    capex = _capex(doc.section("capex"), r, horizon)
    opex = _opex(doc.section("opex"), r, hardware.board_power_w)
    contract = _contract(doc.section("contract"), r, horizon, cluster)
    tax = _tax(doc, r, capex.economic_life_years)
    financing = _financing(doc.section("financing"), r, contract.term_years, horizon, contract.type)
    residual = _residual(doc, r)
    if contract.term_years > horizon:
        r.note("contract.term_years", contract.term_years,
               f"contract runs past the {horizon:g}-year horizon: rent after it is ignored")
    last_delivery = capex.delivery[-1].month
    if last_delivery >= round(horizon * 12):
        raise doc.section("capex").error("delivery", last_delivery, f"months before the horizon ({horizon * 12:g})")
    if financing.tenor_years * 12 <= last_delivery and financing.debt_share > 0:
        raise doc.section("financing").error("tenor_years", financing.tenor_years,
                                             f"longer than the delivery period ({last_delivery} months)")
    sources = doc.raw("sources", {})
    uncertainty = doc.raw("uncertainty", {})
    if not isinstance(uncertainty, dict):
        raise doc.error("uncertainty", uncertainty, "a mapping (validated by the Monte Carlo stage)")
    return Scenario(
        name=str(doc.raw("name", Path(path).stem)), file=str(path), description=str(doc.raw("description", "")),
        currency=currency, horizon_years=horizon, utilisation=utilisation, serving=serving, cluster=cluster,
        capex=capex, opex=opex, financing=financing, contract=contract, tax=tax, residual=residual,
        assumptions=tuple(_declared(doc, data) + r.assumptions),
        sources=copy.deepcopy(sources) if isinstance(sources, dict) else {"text": sources},
        uncertainty=copy.deepcopy(uncertainty),
    )
