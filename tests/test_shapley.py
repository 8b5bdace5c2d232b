"""Exact Shapley attribution and the sequential waterfall."""

import itertools
import math

import pytest

from tokensim._shapley import shapley_values, waterfall


def _product_log(values_from, values_to):
    def f(subset):
        return sum(math.log(values_to[n] if n in subset else values_from[n]) for n in values_from)
    return f


def test_additive_function_gives_each_factor_its_own_change():
    """For ln of a product, each factor's Shapley value is exactly the log-ratio of its own change."""
    a = {"price": 1.0, "throughput": 1.0, "util": 0.8}
    b = {"price": 1.5, "throughput": 1 / 3.0, "util": 0.9}
    phi = shapley_values(_product_log(a, b), list(a))
    for name in a:
        assert phi[name] == pytest.approx(math.log(b[name] / a[name]), abs=1e-15)


def test_interaction_is_split_equally_between_two_factors():
    """f = x·y from (1,1) to (2,3): by hand φx = ½[(2−1) + (6−3)] = 2, φy = ½[(3−1) + (6−2)] = 3."""
    def f(subset):
        x = 2.0 if "x" in subset else 1.0
        y = 3.0 if "y" in subset else 1.0
        return x * y
    phi = shapley_values(f, ["x", "y"])
    assert phi == {"x": 2.0, "y": 3.0}


def test_values_add_up_and_do_not_depend_on_order():
    """Contributions sum to f(all) − f(none) to 1e-12 and are identical for every ordering of the factor list."""
    def f(subset):
        s = sorted(subset)
        return math.log(1 + len(s)) + 0.3 * ("a" in subset) * ("c" in subset) - 0.7 * ("b" in subset) ** 2 \
            + 0.11 * ("d" in subset) * ("a" in subset) * ("b" in subset)
    names = ["a", "b", "c", "d"]
    reference = shapley_values(f, names)
    assert sum(reference.values()) == pytest.approx(f(frozenset(names)) - f(frozenset()), abs=1e-12)
    for perm in itertools.permutations(names):
        phi = shapley_values(f, list(perm))
        for n in names:
            assert phi[n] == pytest.approx(reference[n], abs=1e-15)


def test_waterfall_steps_add_up_and_depend_on_order():
    """Sequential steps sum to the total change; with an interaction, the order changes the split."""
    def f(subset):
        return (2.0 if "x" in subset else 1.0) * (3.0 if "y" in subset else 1.0)
    xy = dict(waterfall(f, ["x", "y"]))
    yx = dict(waterfall(f, ["y", "x"]))
    assert sum(xy.values()) == sum(yx.values()) == 5.0
    assert xy == {"x": 1.0, "y": 4.0} and yx == {"y": 2.0, "x": 3.0}


def test_duplicate_factor_names_are_rejected():
    """Naming a factor twice is a programming error."""
    with pytest.raises(ValueError):
        shapley_values(lambda s: 0.0, ["a", "a"])
