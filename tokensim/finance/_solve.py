"""Solvers: the rent that meets a target (NPV, equity or project IRR, min DSCR, a payback), and the frontier of
base-rent / usage-fee pairs that meet it for a base + usage contract.

The solvers take one case's typed inputs (:class:`~tokensim.finance.FinanceInputs`) and debt terms
(:class:`~tokensim.finance.DebtTerms`). Each round evaluates a grid of candidate rents at once, one row of the
batched engine per candidate (:func:`tokensim.finance.batch_metrics`: each rent's debt fixed at close, then one path
of :func:`tokensim.finance.cashflows`), keeps the interval where the target is first met and refines it: a
vectorised bisection. The metric is taken to improve with rent (NPV, IRRs, DSCR rise; paybacks fall); the answer is
the lowest rent found that meets the target. A target that no rent up to a large bound meets, or that even a zero
rent meets, is reported with a reason instead of an exception. The rent solved for is the contract (base) rent, or
the market rent for a spot scenario. Several targets (:func:`solve_rents`: the break-even and payback rents of a
report, a usage-fee frontier) search in step, each round's grids one batch of the engine: the engine's cost per call
hardly grows with its rows, so four targets cost about what one does.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from .._errors import UserError, did_you_mean
from .._units import HOURS_PER_MONTH
from ..cost import TOKENS_PER_MILLION
from ._batch import BLOCK_ROWS, batch_metrics
from ._cashflows import FinanceInputs
from ._debt import DebtTerms

__all__ = ["Target", "RentSolution", "NPV_ZERO", "TARGET_METRICS", "PAYBACK_DEFINITIONS", "rent_units", "solve_rent",
           "solve_rents", "usage_frontier", "payback_requirements", "payback_targets", "payback_rows"]

# metric -> +1 if larger is better (met when value >= target), -1 if smaller is better (met when value <= target)
TARGET_METRICS = {
    "npv": 1, "equity_npv": 1, "project_irr": 1, "equity_irr": 1, "min_dscr": 1, "avg_dscr": 1, "llcr": 1,
    "payback_simple": -1, "payback_net": -1, "payback_equity": -1, "payback_discounted": -1,
}

_GRID = 41
_ROUNDS = 6
_EXPANSIONS = 8


@dataclass(frozen=True)
class Target:
    """A metric and the value it must reach, e.g. ``Target("equity_irr", 0.12)`` or ``Target.parse("equity_irr=0.12")``.

    Parameters
    ----------
    metric : str
        One of :data:`TARGET_METRICS`: ``npv``, ``equity_npv`` (currency), ``project_irr``, ``equity_irr`` (annual
        fraction), ``min_dscr``, ``avg_dscr``, ``llcr`` (x) are met at or above ``value``; ``payback_simple``,
        ``payback_net``, ``payback_equity``, ``payback_discounted`` (years) at or below it.
    value : float
        The value to reach, in the metric's unit.
    """

    metric: str
    value: float

    @classmethod
    def parse(cls, text: str, field: str = "target") -> Target:
        """A target from ``METRIC=VALUE`` text.

        Parameters
        ----------
        text : str
            E.g. ``"equity_irr=0.12"`` or ``"payback_equity=3"``.
        field : str, optional
            The name the errors give the text (a parameter, or the CLI's flag).

        Returns
        -------
        Target
            The parsed target; :class:`~tokensim.UserError` naming ``field`` when the metric is unknown, the value
            not a finite number, or a payback not positive.
        """
        name, sep, value = str(text).partition("=")
        name = name.strip()
        if not sep or name not in TARGET_METRICS:
            hint = did_you_mean(name, TARGET_METRICS)
            raise UserError(f"{field}: got {text!r}; allowed: METRIC=VALUE with METRIC one of "
                            f"{', '.join(TARGET_METRICS)}" + (f" ({hint})" if hint else ""))
        try:
            number = float(value)
        except ValueError:
            raise UserError(f"{field}: got {text!r}; allowed: a number after '=' (e.g. {name}=0.12)") from None
        if not np.isfinite(number):
            raise UserError(f"{field}: got {text!r}; allowed: a finite number after '='")
        if name.startswith("payback") and number <= 0:
            raise UserError(f"{field}: got {text!r}; allowed: a payback in years > 0")
        return cls(name, number)

    def __str__(self) -> str:
        return f"{self.metric}={self.value:g}"


NPV_ZERO = Target("npv", 0.0)
PAYBACK_DEFINITIONS = ("simple", "net", "equity", "discounted")


@dataclass(frozen=True)
class RentSolution:
    """The lowest rent that meets ``target`` (NaN with ``reason`` when none does), in three billing units."""

    target: str
    solved_for: str
    rent_per_gpu_hour: float
    rent_per_server_month: float
    rent_per_cluster_year: float
    achieved: float  # the metric at the solution
    reason: str = ""
    usage_fee_per_million_tokens: float | None = None

    def to_dict(self) -> dict:
        """The solution as plain data.

        Returns
        -------
        dict
            The fields (rents in the inputs' currency, ``achieved`` in the target metric's unit); the usage fee only
            when one was held fixed.
        """
        out = asdict(self)
        if self.usage_fee_per_million_tokens is None:
            del out["usage_fee_per_million_tokens"]
        return out


def rent_units(per_gpu_month, inputs: FinanceInputs, *, market: bool = False) -> dict[str, Any]:
    """A rent per GPU-month in three billing units.

    Parameters
    ----------
    per_gpu_month : float
        Rent per GPU-month (730 hours), in the inputs' currency.
    inputs : FinanceInputs
        The case (GPUs, GPUs per server, contracted share, contract type).
    market : bool, optional
        A market rent: charged on every GPU (also for a spot contract), not the contracted ones only.

    Returns
    -------
    dict
        ``per_gpu_hour``, ``per_server_month`` and ``per_cluster_year`` (on the contracted GPUs; all GPUs for a
        market rent or a spot contract), in the inputs' currency.
    """
    gpus = inputs.gpus * (1.0 if market or inputs.contract_type == "spot" else inputs.contracted_share)
    return {"per_gpu_hour": per_gpu_month / HOURS_PER_MONTH,
            "per_server_month": per_gpu_month * inputs.gpus_per_server,
            "per_cluster_year": per_gpu_month * 12.0 * gpus}


def _spot(inputs: FinanceInputs) -> bool:
    return inputs.contract_type == "spot"


def _current_rent(inputs: FinanceInputs) -> float:
    """The case's rent per GPU-month: the contract rent, or the market rent for a spot contract."""
    if _spot(inputs):
        return float(inputs.market_rent_per_gpu_hour) * HOURS_PER_MONTH
    return float(inputs.rent_per_gpu_month)


def _metric_values(inputs: FinanceInputs, debt: DebtTerms, metrics: list[str], rents, usage_fees) -> dict:
    """``metrics`` of the batch whose row i has rent ``rents[i]`` and usage fee ``usage_fees[i]`` (None: the case's)."""
    at = (replace(inputs, market_rent_per_gpu_hour=rents / HOURS_PER_MONTH) if _spot(inputs)
          else replace(inputs, rent_per_gpu_month=rents))
    if usage_fees is not None:
        at = replace(at, usage_fee_per_million_tokens=usage_fees)
    return batch_metrics(at, debt, metrics)


def _met(values: np.ndarray, target: Target) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        ok = values >= target.value if TARGET_METRICS[target.metric] > 0 else values <= target.value
    return ok & np.isfinite(values)


def _answer(inputs: FinanceInputs, target: Target, per_gpu_month: float, achieved: float, reason: str,
            usage_fee: float | None) -> RentSolution:
    spot = _spot(inputs)
    units = rent_units(per_gpu_month, inputs, market=spot)
    return RentSolution(target=str(target), solved_for="market rent" if spot else "contract rent",
                        rent_per_gpu_hour=units["per_gpu_hour"], rent_per_server_month=units["per_server_month"],
                        rent_per_cluster_year=units["per_cluster_year"], achieved=achieved, reason=reason,
                        usage_fee_per_million_tokens=usage_fee)


def _search(inputs: FinanceInputs, target: Target, usage_fee: float | None) -> Generator[np.ndarray, np.ndarray,
                                                                                             RentSolution]:
    """One target's search (module docstring): yields each grid of candidate rents per GPU-month, is sent the
    target metric at them, and returns the solution."""
    current = _current_rent(inputs)
    capex_per_gpu_month = inputs.capex_total / inputs.gpus / 12.0
    lo, hi = 0.0, 2.0 * max(current, capex_per_gpu_month)
    nan = float("nan")
    for _ in range(_EXPANSIONS):
        rents = np.linspace(lo, hi, _GRID)
        values = yield rents
        ok = _met(values, target)
        if ok.any():
            break
        lo, hi = hi, hi * 4.0
    else:
        bound = hi / HOURS_PER_MONTH
        return _answer(inputs, target, nan, nan, f"not met by any rent up to {bound:,.4g} per GPU-hour", usage_fee)
    first = int(np.argmax(ok))
    if first == 0 and lo == 0.0:
        return _answer(inputs, target, 0.0, float(values[0]), "met at zero rent: the target does not bind",
                       usage_fee)
    lo, hi, achieved = float(rents[first - 1]), float(rents[first]), float(values[first])
    for _ in range(_ROUNDS):
        rents = np.linspace(lo, hi, _GRID)
        values = yield rents
        ok = _met(values, target)
        ok[-1] = True  # hi met the target in the previous round
        first = int(np.argmax(ok))
        if first == 0:
            break
        lo, hi = float(rents[first - 1]), float(rents[first])
        achieved = float(values[first]) if np.isfinite(values[first]) else achieved
    return _answer(inputs, target, hi, achieved, "", usage_fee)


def solve_rents(inputs: FinanceInputs, debt: DebtTerms, targets: Sequence[Target], *,
                usage_fees: Sequence[float | None] | None = None) -> list[RentSolution]:
    """:func:`solve_rent` for several targets (and usage fees) at once: the searches run in step, each round's grids
    of all of them evaluated as one batch of the engine (a round costs about what one search's round costs).

    Parameters
    ----------
    inputs : FinanceInputs
        The case (one, not a batch).
    debt : DebtTerms
        The case's debt terms.
    targets : sequence of Target
        The targets.
    usage_fees : sequence of float or None, optional
        Per target, the usage fee per million tokens (inputs' currency) to hold fixed; None: the case's fee.

    Returns
    -------
    list of RentSolution
        One per target, in order, each what :func:`solve_rent` returns for it.
    """
    fees = list(usage_fees) if usage_fees is not None else [None] * len(targets)
    if len(fees) != len(targets):
        raise ValueError(f"{len(targets)} targets but {len(fees)} usage fees")
    searches = [_search(inputs, target, fee) for target, fee in zip(targets, fees, strict=True)]
    asked = {i: next(search) for i, search in enumerate(searches)}
    solutions: dict[int, RentSolution] = {}
    per_batch = max(1, BLOCK_ROWS // _GRID)  # searches per engine call: at most BLOCK_ROWS rows
    while asked:
        pending, asked = list(asked.items()), {}
        for first in range(0, len(pending), per_batch):
            order = [i for i, _ in pending[first:first + per_batch]]
            grids = [grid for _, grid in pending[first:first + per_batch]]
            sizes = [grid.size for grid in grids]
            row_fees = None
            if any(fees[i] is not None for i in order):
                case_fee = float(inputs.usage_fee_per_million_tokens)
                row_fees = np.repeat([case_fee if (fee := fees[i]) is None else fee for i in order], sizes)
            values = _metric_values(inputs, debt, sorted({targets[i].metric for i in order}), np.concatenate(grids),
                                    row_fees)
            start = 0
            for i, size in zip(order, sizes, strict=True):
                try:
                    asked[i] = searches[i].send(values[targets[i].metric][start:start + size])
                except StopIteration as done:
                    solutions[i] = done.value
                start += size
    return [solutions[i] for i in range(len(targets))]


def solve_rent(inputs: FinanceInputs, debt: DebtTerms, target: Target, *,
               usage_fee: float | None = None) -> RentSolution:
    """The lowest rent at which ``target`` is met, everything else as in the case.

    Parameters
    ----------
    inputs : FinanceInputs
        The case (one, not a batch; its ``debt`` is ignored: each candidate rent's debt is fixed at close from
        ``debt``). The rent solved for is the contract (base) rent, or the market rent of a spot contract.
    debt : DebtTerms
        The case's debt terms (sculpted debt moves with the rent).
    target : Target
        The metric and the value it must reach.
    usage_fee : float, optional
        Usage fee per million tokens (inputs' currency) to hold fixed; default the case's.

    Returns
    -------
    RentSolution
        The rent per GPU-hour, per server-month and per cluster-year (inputs' currency) and the metric reached;
        NaN with a reason when no rent up to a large bound meets the target, zero when even a zero rent does.
    """
    return solve_rents(inputs, debt, [target], usage_fees=[usage_fee])[0]


def usage_frontier(inputs: FinanceInputs, debt: DebtTerms, target: Target, fees=None,
                   points: int = 9) -> list[dict]:
    """For each usage fee, the lowest base rent that meets ``target`` (a ``base_plus_usage`` contract only).

    Parameters
    ----------
    inputs : FinanceInputs
        The case (one, not a batch).
    debt : DebtTerms
        The case's debt terms.
    target : Target
        The metric and the value it must reach.
    fees : array_like, optional
        Usage fees per million tokens (inputs' currency). Default: ``points`` from 0 to twice the case's fee (or,
        if that is 0, to the fee at which usage alone would earn the current base rent).
    points : int, optional
        Number of default fees.

    Returns
    -------
    list of dict
        One :meth:`RentSolution.to_dict` per fee (``solved_for`` = ``base rent``), rents in the inputs' currency.
    """
    if inputs.contract_type != "base_plus_usage":
        raise UserError(f"inputs.contract_type: got {inputs.contract_type!r}; allowed: base_plus_usage "
                        "(a base-rent/usage-fee frontier needs a usage-linked contract)")
    if fees is None:
        top = 2.0 * inputs.usage_fee_per_million_tokens
        tokens_per_gpu_hour = inputs.usage_tokens_per_gpu_hour * inputs.usage_busy_share
        if top == 0 and tokens_per_gpu_hour > 0:
            top = float(inputs.rent_per_gpu_month) / HOURS_PER_MONTH / (tokens_per_gpu_hour / TOKENS_PER_MILLION)
        fees = np.linspace(0.0, top, points)
    fees = [float(fee) for fee in np.asarray(fees, dtype=float)]
    solutions = solve_rents(inputs, debt, [target] * len(fees), usage_fees=fees)
    return [replace(solution, solved_for="base rent").to_dict() for solution in solutions]


def payback_requirements(inputs: FinanceInputs, debt: DebtTerms, years: float) -> list[dict]:
    """For each payback definition, the lowest rent that brings that payback down to ``years``: what a claim such
    as "payback about 3 years" requires of the rent.

    Parameters
    ----------
    inputs : FinanceInputs
        The case (one, not a batch).
    debt : DebtTerms
        The case's debt terms.
    years : float
        The payback claimed (years).

    Returns
    -------
    list of dict
        Per definition of :data:`PAYBACK_DEFINITIONS`: the :meth:`RentSolution.to_dict` fields (inputs' currency)
        and ``change_vs_scenario_rent``, the rent's change against the case's rent (fraction).
    """
    return payback_rows(inputs, years, solve_rents(inputs, debt, payback_targets(years)))


def payback_targets(years: float) -> list[Target]:
    """The targets of :func:`payback_requirements`: each payback of :data:`PAYBACK_DEFINITIONS` at ``years``."""
    return [Target(f"payback_{name}", float(years)) for name in PAYBACK_DEFINITIONS]


def payback_rows(inputs: FinanceInputs, years: float, solutions: Sequence[RentSolution]) -> list[dict]:
    """:func:`payback_requirements`' rows from the solutions of :func:`payback_targets` (for a caller that solves
    them in one :func:`solve_rents` with other targets of the same case)."""
    now = (float(inputs.market_rent_per_gpu_hour) if _spot(inputs)
           else float(inputs.rent_per_gpu_month) / HOURS_PER_MONTH)
    rows = []
    for name, solution in zip(PAYBACK_DEFINITIONS, solutions, strict=True):
        change = solution.rent_per_gpu_hour / now - 1.0 if now > 0 else float("nan")
        rows.append({"definition": name, "payback_years": float(years), **solution.to_dict(),
                     "change_vs_scenario_rent": change})
    return rows
