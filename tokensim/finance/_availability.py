"""Availability of the contracted GPUs and the SLA credit it costs (issue 13 Build 5): one home for both formulas.

- GPUs out of service, as a share of the fleet = ``gpu_failure_rate_per_year`` x ``repair_days`` / 365 (failures
  arrive at the rate and each stays out for the repair time: the mean number out of service is arrival rate x time,
  Little's law), less the spares: ``spare_share`` of the servers, bought with the cluster, stand in for failed ones
  while they are repaired. Availability = 1 - max(out of service - spares, 0). The mean, not a distribution
  (assumption: failures are spread evenly; with spares equal to the mean some months would still fall short).
- SLA credit, as a share of the month's contract revenue (rent and usage fees) =
  min(``sla_credit_per_point_share`` x max(target - availability, 0) x 100, 1): the rent credit per percentage point
  of availability below the contract's target, never more than the month's contract revenue. Applied in every
  month the contract runs (:func:`tokensim.finance.cashflows`, ``revenue_sla_credit``).
"""

from __future__ import annotations

__all__ = ["availability_share", "sla_credit_share"]

DAYS_PER_YEAR = 365.0


def availability_share(gpu_failure_rate_per_year: float, repair_days: float, spare_share: float) -> float:
    """The share of the contracted GPUs in service (module docstring).

    Parameters
    ----------
    gpu_failure_rate_per_year : float
        Failures per GPU per year.
    repair_days : float
        Days a failed GPU is out of service.
    spare_share : float
        Spare servers as a share of the servers (they replace failed ones while repaired).

    Returns
    -------
    float
        Availability, a fraction in [0, 1].
    """
    down = gpu_failure_rate_per_year * repair_days / DAYS_PER_YEAR
    return 1.0 - min(max(down - spare_share, 0.0), 1.0)


def sla_credit_share(availability: float, target_share: float, credit_per_point_share: float) -> float:
    """The share of the month's contract revenue credited to the tenant (module docstring).

    Parameters
    ----------
    availability : float
        Availability of the contracted GPUs (fraction).
    target_share : float
        The contract's availability target (fraction; 0 = no SLA).
    credit_per_point_share : float
        Share of the month's contract revenue credited per percentage point below the target.

    Returns
    -------
    float
        Credit as a fraction of contract revenue, in [0, 1].
    """
    shortfall_points = max(target_share - availability, 0.0) * 100.0
    return min(credit_per_point_share * shortfall_points, 1.0)
