"""The performance model's inputs from a scenario: the workload and SLO of its ``serving`` section, and the serving
layouts (with their hardware's cost figures) a sweep evaluates."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..config.catalog import load_catalog
from ..config.types import Scenario, Serving
from ..cost import it_power_per_gpu_kw
from ..perf import (
    SLO,
    Instance,
    LayoutPin,
    Prediction,
    Workload,
    candidate_deployments,
    latency_layout,
    serving_instance,
    serving_point,
)
from ..perf.measured import ThroughputOverride
from .cost import board_power_w, server_price

__all__ = ["ServingLayout", "layout_pins", "scenario_point", "serving_layout", "slo", "throughput_overrides",
           "workload", "workload_for_model"]

SCENARIO_FIELD_SOURCE = "scenario field serving.measured_output_tokens_per_s_per_gpu"


def throughput_overrides(serving: Serving, csv_rows: tuple[ThroughputOverride, ...] = ()
                         ) -> tuple[ThroughputOverride, ...]:
    """The user's measured throughputs a scenario's money uses: the rows of ``--throughput-override``, then the
    scenario's ``serving.measured_output_tokens_per_s_per_gpu`` for its own (hardware, model, precision) unless a
    row already measures that combination (the command line wins over the file). The scenario field applies to the
    scenario's precision only: its other ``compare_precisions`` keep the model's figure.
    """
    measured = serving.measured_output_tokens_per_s_per_gpu
    own = (serving.hardware, serving.model, serving.precision)
    if measured is None or any((o.hardware, o.model, o.precision) == own for o in csv_rows):
        return tuple(csv_rows)
    return (*csv_rows, ThroughputOverride(*own, float(measured), SCENARIO_FIELD_SOURCE))


def workload_for_model(serving: Serving, model: str | None) -> tuple[Workload, str | None]:
    """The scenario's workload for another model: its speculative decoding (draft length, acceptance) belongs to its
    own model's MTP head, so a different model runs without it.

    Parameters
    ----------
    serving : Serving
        The scenario's serving section.
    model : str, optional
        The model to price (None or the scenario's own: the workload as it is).

    Returns
    -------
    tuple
        The workload and a note for people when speculative decoding was dropped (else None).
    """
    work = workload(serving)
    if model is None or model == serving.model:
        return work, None
    work = dataclasses.replace(work, speculative_draft_tokens=0, speculative_acceptance_length=1.0)
    return work, f"{model} without speculative decoding (the scenario's belongs to {serving.model})"


def workload(serving: Serving) -> Workload:
    """The workload of a scenario's ``serving`` section.

    Parameters
    ----------
    serving : Serving
        The scenario's serving section.

    Returns
    -------
    Workload
        Input and output tokens per request, prefix-cache hit rate, speculative draft tokens per step and acceptance
        length (output tokens per decode step per sequence), the serving engine and whether it balances the EP
        ranks' expert load (EPLB).
    """
    return Workload(serving.input_tokens, serving.output_tokens, cache_hit_rate=serving.cache_hit_rate,
                    speculative_draft_tokens=serving.speculative_draft_tokens,
                    speculative_acceptance_length=serving.speculative_acceptance_length, engine=serving.engine,
                    expert_load_balancing=serving.expert_load_balancing)


def slo(serving: Serving) -> SLO:
    """The service-level objective of a scenario's ``serving`` section.

    Parameters
    ----------
    serving : Serving
        The scenario's serving section.

    Returns
    -------
    SLO
        Minimum tokens/s per user, maximum time to first token (s) and maximum time per output token (s); ``None``
        where the scenario sets no bound.
    """
    return SLO(serving.min_tokens_per_s_per_user, serving.max_ttft_s, serving.max_tpot_s)


def layout_pins(scenario: Scenario) -> tuple[LayoutPin, ...]:
    """The layout a scenario pins for its own hardware and model (``serving.instance_gpus``, ``tensor_parallel``,
    ``expert_parallel``; every precision it prices), or none: the layout is then searched
    (:func:`tokensim.perf.serving_point`). Other hardware (the previous generation, ``cost-per-token``'s ranking) and
    other models are always searched."""
    sv = scenario.serving
    sizes = (sv.instance_gpus, sv.tensor_parallel, sv.expert_parallel)
    if all(v is None for v in sizes):
        return ()
    return (LayoutPin(sv.hardware, sv.model, *sizes, file=scenario.file),)


def scenario_point(scenario: Scenario, hardware: str, model: str, precision: str,
                   work: Workload | None = None) -> Prediction:
    """The operating point a scenario prices for (hardware, model, precision): :func:`tokensim.perf.serving_point`
    under its SLO and pinned layout, at its workload (or ``work``)."""
    return serving_point(hardware, model, precision, work or workload(scenario.serving), slo(scenario.serving),
                         pins=layout_pins(scenario))


@dataclass(frozen=True)
class ServingLayout:
    """One (hardware, precision, model) combination of a sweep: its serving instances and its hardware's cost figures.

    The layout is chosen once, at the scenario's workload and SLO, and kept for every point of the combination:
    searching per point would take 2-40 ms each (:func:`tokensim.perf.search_layout`).

    Attributes
    ----------
    hardware, precision, model : str
        Catalogue names.
    throughput : Instance
        The layout the scenario prices (:func:`tokensim.perf.serving_instance`: pinned, or searched at the
        scenario's workload and SLO), kept for every point of a sweep.
    latency : Instance or None
        The tensor-parallel layout of the same GPUs (:func:`tokensim.perf.latency_layout`) a sweep also tries at
        points with another SLO or workload; None for a pinned layout, when it does not apply, when it is not among
        the layouts the search tried (so that it cannot beat the searched layout at the scenario's own point) or was
        not asked for.
    server_price : float
        Price per server in the scenario currency; NaN when the scenario prices neither this hardware nor its previous
        generation.
    gpus_per_server : int
        GPUs per server.
    it_kw_per_gpu : float
        IT power per GPU (kW): board power times the scenario's server overhead factor.
    """

    hardware: str
    precision: str
    model: str
    throughput: Instance
    latency: Instance | None
    server_price: float
    gpus_per_server: int
    it_kw_per_gpu: float


def serving_layout(scenario: Scenario, hardware: str, precision: str, model: str, *,
                   latency: bool) -> ServingLayout:
    """The serving instances and cost figures of one (hardware, precision, model) under a scenario.

    Parameters
    ----------
    scenario : Scenario
        Supplies the workload's speculative decoding, the server prices (its own hardware's and its previous
        generation's), its own hardware's board power and servers, and the server overhead factor.
    hardware, precision, model : str
        Catalogue names (or aliases).
    latency : bool
        Also resolve the tensor-parallel latency layout (a batch searched under SLOs), unless the layout is pinned.

    Returns
    -------
    ServingLayout
        The instances, the server price (per server, scenario currency; NaN if unknown), GPUs per server and IT kW per
        GPU. Another hardware than the scenario's uses its catalogue board power and GPUs per server.
    """
    hw = load_catalog().get_hardware(hardware)
    sv = scenario.serving
    pins = layout_pins(scenario)
    r = serving_instance(hw.name, model, precision, workload(sv), slo(sv), pins=pins)
    alt = None
    if latency and not any((p.hardware, p.model) == (hw.name, r.model.name) for p in pins):
        alt = latency_layout(r)
        if alt is not None and alt.deployment not in candidate_deployments(r.model, r.precision, r.hardware,
                                                                           r.efficiency):
            alt = None
    own = hw.name == sv.hardware
    known = server_price(scenario, hw.name)
    price = known if known is not None else math.nan
    power_w = board_power_w(scenario, hw.name, hw.board_power_w)
    return ServingLayout(hw.name, r.recipe.name, r.model.name, r, alt,
                         float(price), scenario.cluster.gpus_per_server if own else hw.gpus_per_server,
                         it_power_per_gpu_kw(power_w, scenario.opex.server_overhead_factor))
