"""The performance model's inputs from a scenario: the workload and SLO of its ``serving`` section, and the serving
layouts (with their hardware's cost figures) a sweep evaluates."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..config.catalog import load_catalog
from ..config.types import Scenario, Serving
from ..cost import it_power_per_gpu_kw
from ..perf import SLO, Instance, Workload, instance, latency_layout
from ..perf.measured import ThroughputOverride
from .cost import board_power_w, server_price

__all__ = ["ServingLayout", "serving_layout", "slo", "throughput_overrides", "workload", "workload_for_model"]

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
        length (output tokens per decode step per sequence).
    """
    return Workload(serving.input_tokens, serving.output_tokens, cache_hit_rate=serving.cache_hit_rate,
                    speculative_draft_tokens=serving.speculative_draft_tokens,
                    speculative_acceptance_length=serving.speculative_acceptance_length)


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


@dataclass(frozen=True)
class ServingLayout:
    """One (hardware, precision, model) combination of a sweep: its serving instances and its hardware's cost figures.

    Attributes
    ----------
    hardware, precision, model : str
        Catalogue names.
    throughput : Instance
        The throughput layout (:func:`tokensim.perf.instance` with the default deployment).
    latency : Instance or None
        The tensor-parallel latency layout :func:`tokensim.perf.predict` also tries under an SLO
        (:func:`tokensim.perf.latency_layout`); None when it does not apply or was not asked for.
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
        Also resolve the tensor-parallel latency layout (a batch searched under SLOs).

    Returns
    -------
    ServingLayout
        The instances, the server price (per server, scenario currency; NaN if unknown), GPUs per server and IT kW per
        GPU. Another hardware than the scenario's uses its catalogue board power and GPUs per server.
    """
    hw = load_catalog().get_hardware(hardware)
    r = instance(hw.name, model, precision, workload=workload(scenario.serving))
    sv = scenario.serving
    own = hw.name == sv.hardware
    known = server_price(scenario, hw.name)
    price = known if known is not None else math.nan
    power_w = board_power_w(scenario, hw.name, hw.board_power_w)
    return ServingLayout(hw.name, r.recipe.name, r.model.name, r, latency_layout(r) if latency else None,
                         float(price), scenario.cluster.gpus_per_server if own else hw.gpus_per_server,
                         it_power_per_gpu_kw(power_w, scenario.opex.server_overhead_factor))
