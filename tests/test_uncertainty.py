"""Tests for tokensim.config.uncertainty: the schema of the `uncertainty:` section and its validation messages."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from tokensim import ConfigError
from tokensim.config.scenario import load_scenario
from tokensim.config.uncertainty import CORRELATED_DRIVERS, Uncertainty, load_uncertainty, parse_uncertainty

FULL = {
    "market_rent": {"volatility_per_year": 0.3, "mean_reversion_per_year": 0.7, "jump_intensity_per_year": 0.3,
                    "jump_mean": 0.3, "jump_volatility": 0.15, "source": "ref 2.1"},
    "utilisation": {"volatility_per_year": 0.8, "mean_reversion_per_year": 1.0},
    "token_volume": {"growth_per_year": 0.1, "volatility_per_year": 0.3},
    "token_price": {"trend_per_year": -0.1, "volatility_per_year": 0.2, "cut_intensity_per_year": 1.0,
                    "cut_mean": 0.5, "cut_volatility": 0.2},
    "efficiency": {"arrival_rate_per_year": 2.0, "gain_per_arrival": 0.15},
    "power_price": {"volatility_per_year": 0.1, "mean_reversion_per_year": 0.5},
    "floating_base_rate": {"volatility_per_year": 0.01, "mean_reversion_per_year": 0.2},
    "tenant_default": {"probability_per_year": 0.02},
    "correlation": {"drivers": ["market_rent", "utilisation", "token_price"],
                    "matrix": [[1.0, 0.5, 0.3], [0.5, 1.0, 0.2], [0.3, 0.2, 1.0]]},
}


def with_change(path: str, value):
    doc = copy.deepcopy(FULL)
    node = doc
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value
    return doc


def test_absent_section_is_deterministic_with_an_identity_correlation():
    """No uncertainty section: every driver zero, identity correlation, each absent driver listed as assumed."""
    u = parse_uncertainty({}, "x.yaml")
    assert u == u.zeroed()
    np.testing.assert_array_equal(u.cholesky(), np.eye(6))
    assert {a["field"] for a in u.assumptions} == {f"uncertainty.{n}" for n in (
        "market_rent", "utilisation", "token_volume", "token_price", "efficiency", "power_price",
        "floating_base_rate", "tenant_default")}


def test_full_section_parses_and_embeds_the_correlation():
    """A full section keeps every value; the listed correlations land in the 6x6 matrix, the rest is identity."""
    u = parse_uncertainty(FULL, "x.yaml")
    assert u.market_rent.jump_mean == 0.3 and u.market_rent.source == "ref 2.1"
    assert u.tenant_default.probability_per_year == 0.02
    c = np.array(u.correlation)
    rent, util, price = (CORRELATED_DRIVERS.index(n) for n in ("market_rent", "utilisation", "token_price"))
    assert c[rent, util] == 0.5 and c[util, price] == 0.2 and c[price, rent] == 0.3
    assert c[CORRELATED_DRIVERS.index("power_price"), rent] == 0.0
    lower = u.cholesky()
    np.testing.assert_allclose(lower @ lower.T, c, atol=1e-15)
    assert np.allclose(lower, np.tril(lower))


def test_zeroed_clears_randomness_but_keeps_shape_parameters():
    """zeroed() sets volatilities, drifts, intensities and probabilities to 0 and keeps mean reversion and sizes."""
    z = parse_uncertainty(FULL).zeroed()
    assert z.market_rent.volatility_per_year == 0 and z.market_rent.jump_intensity_per_year == 0
    assert z.token_volume.growth_per_year == 0 and z.token_price.trend_per_year == 0
    assert z.efficiency.arrival_rate_per_year == 0 and z.tenant_default.probability_per_year == 0
    assert z.market_rent.mean_reversion_per_year == 0.7 and z.token_price.cut_mean == 0.5
    assert z.correlation == parse_uncertainty(FULL).correlation


@pytest.mark.parametrize(("path", "value", "field"), [
    ("market_rent.volatility_per_year", -0.1, "uncertainty.market_rent.volatility_per_year"),
    ("power_price.volatility_per_year", -1, "uncertainty.power_price.volatility_per_year"),
    ("tenant_default.probability_per_year", 1.5, "uncertainty.tenant_default.probability_per_year"),
    ("tenant_default.probability_per_year", -0.01, "uncertainty.tenant_default.probability_per_year"),
    ("token_price.cut_mean", 1.0, "uncertainty.token_price.cut_mean"),
    ("efficiency.gain_per_arrival", -1.0, "uncertainty.efficiency.gain_per_arrival"),
    ("market_rent.jump_intensity_per_year", float("nan"), "uncertainty.market_rent.jump_intensity_per_year"),
    ("utilisation.mean_reversion_per_year", "fast", "uncertainty.utilisation.mean_reversion_per_year"),
])
def test_out_of_range_values_name_file_and_field(path, value, field):
    """Negative volatilities, probabilities outside [0, 1] and other bad values are errors naming file and field."""
    with pytest.raises(ConfigError) as err:
        parse_uncertainty(with_change(path, value), "scenario.yaml")
    assert err.value.field == field
    assert "scenario.yaml" in str(err.value)


def test_unknown_key_suggests_the_closest():
    """A misspelt key is refused with a did-you-mean hint."""
    doc = with_change("market_rent.volatilty_per_year", 0.2)
    with pytest.raises(ConfigError, match="did you mean 'volatility_per_year'"):
        parse_uncertainty(doc)
    with pytest.raises(ConfigError, match="market_rent"):
        parse_uncertainty({"market_rnt": {}})


def test_asymmetric_correlation_names_the_element():
    """An asymmetric matrix is an error naming the offending element."""
    doc = with_change("correlation.matrix", [[1.0, 0.5, 0.3], [0.4, 1.0, 0.2], [0.3, 0.2, 1.0]])
    with pytest.raises(ConfigError, match="symmetric") as err:
        parse_uncertainty(doc)
    assert err.value.field == "uncertainty.correlation.matrix[1][0]"


def test_non_positive_definite_correlation_is_refused():
    """A matrix of valid entries that is not positive definite is an error saying so (Cholesky fails)."""
    doc = with_change("correlation.matrix", [[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]])
    with pytest.raises(ConfigError, match="positive definite") as err:
        parse_uncertainty(doc)
    assert err.value.field == "uncertainty.correlation.matrix"
    perfect = with_change("correlation.matrix", [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    with pytest.raises(ConfigError, match="positive definite"):
        parse_uncertainty(perfect)


@pytest.mark.parametrize(("path", "value", "match"), [
    ("correlation.matrix", [[1.0, 0.5], [0.5, 1.0]], "3 rows"),
    ("correlation.matrix", [[1.0, 0.5, 0.3], [0.5, 1.0], [0.3, 0.2, 1.0]], "3 numbers"),
    ("correlation.matrix", [[2.0, 0.5, 0.3], [0.5, 1.0, 0.2], [0.3, 0.2, 1.0]], r"\[-1, 1\]"),
    ("correlation.matrix", [[0.9, 0.5, 0.3], [0.5, 1.0, 0.2], [0.3, 0.2, 1.0]], "diagonal"),
    ("correlation.drivers", ["market_rent", "utilisation", "token_prise"], "did you mean 'token_price'"),
    ("correlation.drivers", ["market_rent", "market_rent", "token_price"], "once"),
])
def test_malformed_correlation_is_refused(path, value, match):
    """Wrong shapes, entries outside [-1, 1], a diagonal other than 1 and unknown or repeated drivers are refused."""
    with pytest.raises(ConfigError, match=match):
        parse_uncertainty(with_change(path, value))


def test_bundled_scenarios_have_valid_uncertainty():
    """Both bundled scenarios carry an uncertainty section that validates, with a source for every driver."""
    for name in ("b300-10k-cluster", "us-b300-neocloud-usage"):
        u = load_uncertainty(load_scenario(name))
        assert isinstance(u, Uncertainty) and u != u.zeroed()
        assert not u.assumptions
        assert all(getattr(u, d).source for d in ("market_rent", "power_price", "tenant_default", "token_price"))


def test_to_dict_round_trips_the_values():
    """to_dict lists every parameter and the full correlation over the correlated drivers."""
    d = parse_uncertainty(FULL).to_dict()
    assert d["market_rent"]["jump_intensity_per_year"] == 0.3
    assert d["correlation"]["drivers"] == list(CORRELATED_DRIVERS)
    assert len(d["correlation"]["matrix"]) == 6
