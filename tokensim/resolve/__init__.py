"""The resolver layer: a loaded :class:`~tokensim.config.Scenario` turned into each stage's typed inputs.

Stages (``perf``, ``cost``, ``bridge``, ``finance``, ``montecarlo``) never read a scenario; this package is the one
place that knows both the scenario's fields and the stages' input types. One module per stage:

* :mod:`.cost`: the cost inputs of a cluster (capex, power, facility, financing terms);
* :mod:`.perf`: the workload and SLO of the scenario's serving section, and the serving layouts a sweep searches;
* :mod:`.finance`: the finance engine's inputs (timeline, contract, opex rates, debt terms, residual);
* :mod:`.bridge`: the two sides of the unit-cost bridge;
* :mod:`.montecarlo`: the Monte Carlo model (finance inputs, drivers and metric ranges).
* :mod:`.variants`: structural variants of a scenario (servers before the price rise, lessee pays power, 8-year
  debt) for `run`'s payback variants and `compare --variant`;
* :mod:`.valuation`: the valuation's blocks and market (tokens/s from ``perf``, cash costs, sourced defaults).
"""

from __future__ import annotations
