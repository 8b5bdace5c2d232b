"""Exact Shapley attribution of a change in a function of k factors, and the sequential waterfall.

``f(S)`` is the function with the factors in ``S`` at their "to" values and the rest at their "from" values. The
Shapley value of factor i is the average of its marginal effect f(S ∪ {i}) − f(S) over all orderings, computed
exactly from the 2^k subsets with weights |S|!·(k−|S|−1)!/k!. The values add up to f(all) − f(none) (efficiency)
and do not depend on any order. Used by the bridge on ln(unit cost), so that contributions add up to ln(c_B/c_A).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import combinations
from math import factorial

__all__ = ["shapley_values", "waterfall"]


def shapley_values(f: Callable[[frozenset[str]], float], factors: Sequence[str]) -> dict[str, float]:
    """Exact Shapley values of each factor for the change f(all) − f(none); f is called once per subset."""
    factors = list(factors)
    k = len(factors)
    if len(set(factors)) != k:
        raise ValueError("factor names must be distinct")
    cache: dict[frozenset[str], float] = {}

    def value(subset: frozenset[str]) -> float:
        if subset not in cache:
            cache[subset] = float(f(subset))
        return cache[subset]

    weights = [factorial(s) * factorial(k - s - 1) / factorial(k) for s in range(k)]
    result = {}
    for factor in factors:
        others = [x for x in factors if x != factor]
        total = 0.0
        for size in range(k):
            for subset in combinations(others, size):
                base = frozenset(subset)
                total += weights[size] * (value(base | {factor}) - value(base))
        result[factor] = total
    return result


def waterfall(f: Callable[[frozenset[str]], float], order: Sequence[str]) -> list[tuple[str, float]]:
    """Switch factors to their "to" values one at a time in ``order``: each step's change in f."""
    steps: list[tuple[str, float]] = []
    current: frozenset[str] = frozenset()
    previous = f(current)
    for factor in order:
        current = current | {factor}
        now = f(current)
        steps.append((factor, now - previous))
        previous = now
    return steps
