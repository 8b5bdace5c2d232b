"""The scenario's data types: frozen dataclasses filled by :func:`tokensim.config.load_scenario`.

Kept apart from the YAML reader so that engine modules can import the types without the loader. Money is in the
scenario's currency; every other unit is in the field name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._units import HOURS_PER_MONTH

__all__ = [
    "Assumption", "Scenario", "Serving", "PreviousGeneration", "Cluster", "Delivery", "Capex", "Opex", "Financing",
    "Contract", "Tax", "Residual", "rent_per_gpu_month", "AMORTISATIONS",
    "CONTRACT_TYPES", "BILLINGS", "RESIDUAL_METHODS", "PAYERS",
]


AMORTISATIONS = ("annuity", "straight_line", "bullet", "sculpted", "finance_lease")
CONTRACT_TYPES = ("fixed", "base_plus_usage", "spot")
BILLINGS = ("per_gpu_hour", "per_server_month", "per_cluster_year")
RESIDUAL_METHODS = ("economic", "percent_of_cost")
PAYERS = ("lessor", "lessee")
# Serving engines with fitted factors of their own (calibration.yaml ``engines``; tokensim.perf.efficiency), named by
# the inference engine that runs the forward passes: an orchestrator around it (NVIDIA Dynamo, AMD MoRI) or a fork of
# it counts as that engine. An engine not named takes the factors pooled over engines.
ENGINES = ("tensorrt-llm", "sglang", "vllm", "atom")


@dataclass(frozen=True)
class Assumption:
    """A value the user did not give, or that the scenario file itself declares as an assumption."""

    field: str
    value: Any
    why: str
    origin: str = "default"  # "default" (applied by the loader) or "scenario" (declared in the file)

    def to_dict(self) -> dict:
        return {"field": self.field, "value": self.value, "why": self.why, "origin": self.origin}


@dataclass(frozen=True)
class PreviousGeneration:
    hardware: str
    precision: str
    server_price: float


@dataclass(frozen=True)
class Serving:
    hardware: str
    model: str
    precision: str
    compare_precisions: tuple[str, ...]
    input_tokens: float
    output_tokens: float
    cache_hit_rate: float
    cached_input_cost_fraction: float  # GPU time of a cached input token relative to an uncached one
    min_tokens_per_s_per_user: float | None
    max_ttft_s: float | None
    max_tpot_s: float | None
    previous_generation: PreviousGeneration | None
    speculative_draft_tokens: int = 0  # draft tokens verified per decode step (MTP, EAGLE)
    speculative_acceptance_length: float = 1.0  # output tokens per decode step per sequence
    # the user's measured output tokens/s per GPU at (hardware, model, precision); None: the model's figure
    measured_output_tokens_per_s_per_gpu: float | None = None
    # the serving layout pinned for its own hardware and model (GPUs per instance, TP, EP); None: searched
    instance_gpus: int | None = None
    tensor_parallel: int | None = None
    expert_parallel: int | None = None
    # the serving engine whose fitted decode factors apply (ENGINES); None: a typical engine of the hardware family
    engine: str | None = None
    # the engine runs expert-parallel load balancing (EPLB): the busiest EP rank's load (perf expert_load_imbalance)
    expert_load_balancing: bool = False


@dataclass(frozen=True)
class Cluster:
    gpus: int
    servers: int
    gpus_per_server: int


@dataclass(frozen=True)
class Delivery:
    month: int  # months after financial close (0 = at close); capacity earns from the next month
    share: float  # of total capex


@dataclass(frozen=True)
class Capex:
    server_price: float  # per server
    network_and_fabric_total: float  # optics, switches, cluster fabric for the whole cluster
    installation_total: float
    economic_life_years: float
    delivery: tuple[Delivery, ...]
    # The part of server_price that is a recent market rise (0.5 = prices rose 50%): the bridge shows it apart.
    recent_server_price_rise: float = 0.0
    spare_share: float = 0.0  # spare servers bought with the cluster, as a share of the servers (finance only)
    fx_usd_share: float = 0.0  # share of the hardware capex quoted in USD at the order rate
    fx_rate_change_share: float = 0.0  # currency per USD at delivery / at order - 1


@dataclass(frozen=True)
class Opex:
    power_and_facility_paid_by: str  # lessor | lessee (lessee: pass-through while the contract runs)
    board_power_w: float
    server_overhead_factor: float  # server (CPU, NIC, fans) and network power over GPU board power
    pue: float
    electricity_price_per_kwh: float
    load_factor: float  # mean draw of a rented GPU as a share of its provisioned (max) power
    idle_load_factor: float  # mean draw of an idle GPU as a share of its provisioned power
    facility_price_per_kw_month: float  # per provisioned IT kW
    maintenance_share_of_capex_per_year: float
    operations_per_gpu_year: float
    insurance_share_of_capex_per_year: float
    gpu_failure_rate_per_year: float = 0.0  # failures per GPU per year
    repair_days: float = 0.0  # days a failed GPU is out of service
    payable_days: float = 0.0  # days from an opex charge to its payment


@dataclass(frozen=True)
class Financing:
    debt_share: float
    rate_type: str  # fixed | floating
    interest_rate: float  # all-in annual nominal rate at close (floating: base + margin)
    floating_base_rate: float | None
    floating_margin: float | None
    tenor_years: float
    amortisation: str
    payments_per_year: int
    balloon_share: float
    target_dscr: float | None
    dscr_covenant: float | None
    cost_of_equity: float
    discount_rate: float
    equity_hurdle_irr: float | None
    sizing_dscr: float | None = None  # x: size the debt to this minimum DSCR (None: debt = debt_share x capex)
    sizing_revenue_haircut_share: float = 0.0  # the sizing case's cut to every revenue price (0 = base case, P50)
    upfront_fee_share: float = 0.0  # of the debt amount, at close
    commitment_fee_per_year: float = 0.0  # of the undrawn amount, monthly during the draws
    lease_handling_fee_share: float = 0.0  # finance lease: of the amount financed, at close
    lease_deposit_share: float = 0.0  # finance lease: of the amount financed, at close, refunded at maturity
    hedged_share: float = 0.0  # floating debt: share swapped to fixed at close at the base rate at close
    # Cash waterfall (tokensim.finance._cashflows); the defaults switch each mechanism off.
    dsra_months: int = 0
    dsra_funding: str = "at_close"  # at_close | from_cash
    dsra_restore_months: int = 6
    maintenance_reserve_per_gpu_hour: float = 0.0
    lockup_dscr: float | None = None
    cash_sweep_share: float = 0.0
    cash_sweep_when: str = "lock_up"  # lock_up | always
    equity_cure_max_count: int = 0
    # Tail and refinancing (tokensim.finance._debt): tail 0 = the balloon is repaid at maturity.
    refinancing_tenor_years: float = 0.0
    refinancing_rate: float | None = None  # annual; None = interest_rate
    lender_case_residual_haircut_share: float = 0.5  # the lender case's P90 residual = (1 - share) x the base case's


@dataclass(frozen=True)
class Contract:
    type: str
    term_years: float
    billing: str
    rent: float  # in the billing unit
    escalator_per_year: float
    contracted_share: float
    usage_fee_per_million_tokens: float
    usage_tokens_per_s_per_gpu: float
    usage_busy_share: float
    usage_floor_per_gpu_hour: float
    usage_cap_per_gpu_hour: float | None
    market_rent_per_gpu_hour: float
    market_rent_change_per_year: float
    spot_utilisation: float
    vacancy_lag_months: int
    reletting_cost_months_of_rent: float = 1.0  # one-off cost of re-letting after a default (months of market rent)
    renewal_share: float = 0.0  # share of the contracted GPUs renewed after the term
    renewal_rent_haircut_share: float = 0.0  # renewal rent = market rent x (1 - haircut)
    receivable_days: float = 0.0  # days from invoice to payment of revenue
    sla_availability_target_share: float = 0.0  # availability the SLA promises (0 = no SLA)
    sla_credit_per_point_share: float = 0.0  # share of the month's contract revenue credited per point of shortfall
    termination_payment_months_of_rent: float = 0.0  # paid by a defaulting tenant (at most the term left)
    termination_recovery_share: float = 1.0  # share of the termination payment recovered


@dataclass(frozen=True)
class Tax:
    rate: float
    depreciation_years: float
    loss_carry_forward_years: int | None  # None = unlimited
    payment: str = "annual"  # annual | quarterly_prepayment
    high_tech_enterprise: bool = False  # PRC 15% rate (EIT Law art. 28); rate is then 0.15
    vat_input_rate: float = 0.0  # VAT on capex, a receivable recovered against output VAT
    vat_output_rate: float = 0.0  # VAT on revenue
    vat_surtax_share: float = 0.0  # surtaxes as a share of the VAT paid (an opex)


@dataclass(frozen=True)
class Residual:
    method: str  # economic | percent_of_cost | none
    percent_of_cost_by_age: tuple[tuple[float, float], ...]
    tokens_per_s_per_gpu: float
    newest_cost_per_million_tokens: float
    markup: float  # market price of a token = newest cost x (1 + markup)
    busy_share: float
    remaining_life_years: float


@dataclass(frozen=True)
class Scenario:
    name: str
    file: str
    description: str
    currency: str
    horizon_years: float
    utilisation: float
    serving: Serving
    cluster: Cluster
    capex: Capex
    opex: Opex
    financing: Financing
    contract: Contract
    tax: Tax
    residual: Residual
    assumptions: tuple[Assumption, ...]
    sources: dict = field(default_factory=dict, compare=False)
    uncertainty: dict = field(default_factory=dict, compare=False)

    @property
    def horizon_months(self) -> int:
        return int(round(self.horizon_years * 12))

    @property
    def capex_total(self) -> float:
        return (self.cluster.servers * self.capex.server_price + self.capex.network_and_fabric_total
                + self.capex.installation_total)

    @property
    def hardware_capex_total(self) -> float:
        """Servers plus network and fabric: what a residual percentage of cost applies to."""
        return self.cluster.servers * self.capex.server_price + self.capex.network_and_fabric_total

    def assumption_rows(self) -> list[dict]:
        return [a.to_dict() for a in self.assumptions]


def rent_per_gpu_month(billing: str, rent, cluster: Cluster, contracted_share: float):
    """A contract rent in its billing unit expressed per contracted GPU-month (730 hours)."""
    if billing == "per_gpu_hour":
        return rent * HOURS_PER_MONTH
    if billing == "per_server_month":
        return rent / cluster.gpus_per_server
    contracted_gpus = cluster.gpus * contracted_share
    return rent / 12 / contracted_gpus if contracted_gpus > 0 else rent * 0.0
