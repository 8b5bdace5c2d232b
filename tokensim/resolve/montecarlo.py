"""The Monte Carlo model of a scenario: its finance inputs, its ``uncertainty:`` section and its covenant and hurdle."""

from __future__ import annotations

from dataclasses import replace

from ..config.types import Scenario
from ..config.uncertainty import Uncertainty, load_uncertainty
from ..montecarlo import MonteCarloModel, build_model
from .finance import finance_inputs

__all__ = ["montecarlo_model"]


def montecarlo_model(scenario: Scenario, uncertainty: Uncertainty | None = None) -> MonteCarloModel:
    """What the Monte Carlo engines need to run paths of a scenario.

    Parameters
    ----------
    scenario : Scenario
        A loaded scenario; its ``uncertainty:`` section is validated here; ``financing.hedged_share`` scales the
        floating base rate's volatility by (1 - share).
    uncertainty : Uncertainty, optional
        Replaces the scenario's section (e.g. :meth:`Uncertainty.zeroed`).

    Returns
    -------
    MonteCarloModel
        Finance inputs (debt fixed at close), driver constants, the deterministic case and the histogram ranges.
    """
    unc = load_uncertainty(scenario) if uncertainty is None else uncertainty
    hedged = scenario.financing.hedged_share
    if hedged:
        # The hedged share pays the base rate at close (a swap at close, no spread), the rest the path's base:
        # base + (1 - h) x. The base's deviation x is an Ornstein-Uhlenbeck path from 0, linear in its
        # volatility, so (1 - h) x is the same path at (1 - h) x the volatility (same normals, same correlation).
        rate = unc.floating_base_rate
        unhedged = (1 - hedged) * rate.volatility_per_year
        unc = replace(unc, floating_base_rate=replace(rate, volatility_per_year=unhedged))
    inputs = finance_inputs(scenario)  # the horizon runs to the debt's maturity where later (to_debt_maturity)
    return build_model(inputs, unc, name=scenario.name, horizon_years=inputs.months / 12,
                       hurdle=scenario.financing.equity_hurdle_irr, dscr_covenant=scenario.financing.dscr_covenant)
