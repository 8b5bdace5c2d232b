"""The performance model's inputs from a scenario's ``serving`` section: its workload and its SLO."""

from __future__ import annotations

from ..config.types import Serving
from ..perf import SLO, Workload

__all__ = ["slo", "workload"]


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
