"""The Monte Carlo model of a scenario: its finance inputs, its ``uncertainty:`` section and its covenant and hurdle."""

from __future__ import annotations

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
        A loaded scenario; its ``uncertainty:`` section is validated here.
    uncertainty : Uncertainty, optional
        Replaces the scenario's section (e.g. :meth:`Uncertainty.zeroed`).

    Returns
    -------
    MonteCarloModel
        Finance inputs (debt fixed at close), driver constants, the deterministic case and the histogram ranges.
    """
    unc = load_uncertainty(scenario) if uncertainty is None else uncertainty
    return build_model(finance_inputs(scenario), unc, name=scenario.name, horizon_years=scenario.horizon_years,
                       hurdle=scenario.financing.equity_hurdle_irr, dscr_covenant=scenario.financing.dscr_covenant)
