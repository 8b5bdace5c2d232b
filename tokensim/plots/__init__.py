"""Charts (matplotlib, imported lazily by callers that draw): each takes plain data and returns a figure.
"""

from __future__ import annotations

from ._charts import (  # noqa: F401
    backlog_coverage_chart,
    bridge_waterfall_chart,
    cash_waterfall_chart,
    cashflow_chart,
    compare_chart,
    cost_per_token_chart,
    distribution_chart,
    dscr_fan_chart,
    fleet_revenue_chart,
    heatmap_chart,
    monte_carlo_dscr_fan,
    monte_carlo_histograms,
    pareto_chart,
    pareto_curves,
    sensitivity_chart,
    sobol_chart,
    tornado_chart,
    value_by_vintage_chart,
    write_plot_pack,
)
from ._html import html_report, write_html_report  # noqa: F401  (plotly, imported only when a page is built)
from ._style import column_words  # noqa: F401

__all__ = [
    "backlog_coverage_chart", "bridge_waterfall_chart", "cash_waterfall_chart", "cashflow_chart", "column_words",
    "compare_chart", "cost_per_token_chart", "distribution_chart", "dscr_fan_chart", "fleet_revenue_chart",
    "heatmap_chart",
    "monte_carlo_dscr_fan", "monte_carlo_histograms", "pareto_chart", "pareto_curves", "sensitivity_chart",
    "sobol_chart", "tornado_chart", "value_by_vintage_chart", "write_plot_pack", "html_report", "write_html_report",
]
