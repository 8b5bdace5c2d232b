"""Tests for tokensim.config.uncertainty: the schema of the `uncertainty:` section and its validation messages."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from _yamledit import DROP, edit_document

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
    ("tenant_default.market_sensitivity", -1.0, "uncertainty.tenant_default.market_sensitivity"),
    ("tenant_default.market_sensitivity", 50.0, "uncertainty.tenant_default.market_sensitivity"),
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


# -- today's messages, pinned (issue 10 item 3: the declared schema keeps every single-error message) ---------------
# (case, {dotted path in FULL: new value or DROP}, the exact message for file x.yaml)
PINNED_MESSAGES = [
    ('unknown_driver', {'market_rents': {'volatility_per_year': 0.1}},
     "x.yaml: field 'uncertainty.market_rents' got {'volatility_per_year': 0.1}; allowed: known keys: "
     'correlation, efficiency, floating_base_rate, market_rent, power_price, ranges, tenant_default, '
     "token_price, token_volume, utilisation (did you mean 'market_rent'?)"),
    ('unknown_field', {'market_rent.volatility': 0.3},
     "x.yaml: field 'uncertainty.market_rent.volatility' got 0.3; allowed: known keys: "
     'jump_intensity_per_year, jump_mean, jump_volatility, mean_reversion_per_year, source, '
     "volatility_per_year (did you mean 'jump_volatility'?)"),
    ('volatility_high', {'market_rent.volatility_per_year': 6},
     "x.yaml: field 'uncertainty.market_rent.volatility_per_year' got 6; allowed: a number in [0, 5]"),
    ('volatility_negative', {'market_rent.volatility_per_year': -0.1},
     "x.yaml: field 'uncertainty.market_rent.volatility_per_year' got -0.1; allowed: a number in [0, 5]"),
    ('volatility_string', {'market_rent.volatility_per_year': '30%'},
     "x.yaml: field 'uncertainty.market_rent.volatility_per_year' got '30%'; allowed: a number"),
    ('volatility_nan', {'market_rent.volatility_per_year': float("nan")},
     "x.yaml: field 'uncertainty.market_rent.volatility_per_year' got nan; allowed: a finite number (no "
     'NaN or infinity)'),
    ('jump_mean_low', {'market_rent.jump_mean': -1},
     "x.yaml: field 'uncertainty.market_rent.jump_mean' got -1; allowed: a number in (-1, 10]"),
    ('utilisation_volatility_high', {'utilisation.volatility_per_year': 21},
     "x.yaml: field 'uncertainty.utilisation.volatility_per_year' got 21; allowed: a number in [0, 20]"),
    ('growth_high', {'token_volume.growth_per_year': -5.5},
     "x.yaml: field 'uncertainty.token_volume.growth_per_year' got -5.5; allowed: a number in [-5, 5]"),
    ('cut_mean_one', {'token_price.cut_mean': 1.0},
     "x.yaml: field 'uncertainty.token_price.cut_mean' got 1.0; allowed: a number in [0, 1)"),
    ('intensity_high', {'token_price.cut_intensity_per_year': 121},
     "x.yaml: field 'uncertainty.token_price.cut_intensity_per_year' got 121; allowed: a number in [0, 120]"),
    ('gain_low', {'efficiency.gain_per_arrival': -1},
     "x.yaml: field 'uncertainty.efficiency.gain_per_arrival' got -1; allowed: a number in (-1, 10]"),
    ('power_reversion_high', {'power_price.mean_reversion_per_year': 101},
     "x.yaml: field 'uncertainty.power_price.mean_reversion_per_year' got 101; allowed: a number in [0, 100]"),
    ('rate_volatility_high', {'floating_base_rate.volatility_per_year': 0.6},
     "x.yaml: field 'uncertainty.floating_base_rate.volatility_per_year' got 0.6; allowed: a number in [0, 0.5]"),
    ('default_probability', {'tenant_default.probability_per_year': 1.5},
     "x.yaml: field 'uncertainty.tenant_default.probability_per_year' got 1.5; allowed: a number in [0, 1]"),
    ('driver_not_mapping', {'market_rent': 0.3},
     "x.yaml: field 'uncertainty.market_rent' got 0.3; allowed: a mapping of key: value"),
    ('source_empty', {'market_rent.source': ''},
     "x.yaml: field 'uncertainty.market_rent.source' got ''; allowed: a source: document and date, or 'assumption'"),
    ('source_number', {'market_rent.source': 5},
     "x.yaml: field 'uncertainty.market_rent.source' got 5; allowed: a source: document and date, or 'assumption'"),
    ('source_mapping_no_document', {'market_rent.source': {'date': '2026'}},
     "x.yaml: field 'uncertainty.market_rent.source.document' got None; allowed: the document a value comes from"),
    ('correlation_unknown_key', {'correlation.source2': 'x'},
     "x.yaml: field 'uncertainty.correlation.source2' got 'x'; allowed: known keys: drivers, matrix, "
     "source (did you mean 'source'?)"),
    ('correlation_not_mapping', {'correlation': [[1.0]]},
     "x.yaml: field 'uncertainty.correlation' got [[1.0]]; allowed: a mapping of key: value"),
    ('correlation_driver_unknown', {'correlation.drivers': ['market_rent', 'utilisaton', 'token_price']},
     "x.yaml: field 'uncertainty.correlation.drivers[1]' got 'utilisaton'; allowed: one of market_rent, "
     'utilisation, power_price, floating_base_rate, token_volume, token_price (did you mean '
     "'utilisation'?)"),
    ('correlation_driver_twice', {'correlation.drivers': ['market_rent', 'utilisation', 'market_rent']},
     "x.yaml: field 'uncertainty.correlation.drivers[2]' got 'market_rent'; allowed: each driver listed once"),
    ('correlation_drivers_not_list', {'correlation.drivers': 'market_rent'},
     "x.yaml: field 'uncertainty.correlation.drivers' got 'market_rent'; allowed: a list"),
    ('correlation_drivers_missing', {'correlation.drivers': DROP},
     "x.yaml: field 'uncertainty.correlation.drivers' missing; allowed: a value (this field is required)"),
    ('correlation_matrix_missing', {'correlation.matrix': DROP},
     "x.yaml: field 'uncertainty.correlation.matrix' missing; allowed: a value (this field is required)"),
    ('correlation_rows', {'correlation.matrix': [[1.0, 0.5, 0.3], [0.5, 1.0, 0.2]]},
     "x.yaml: field 'uncertainty.correlation.matrix' got [[1.0, 0.5, 0.3], [0.5, 1.0, 0.2]]; allowed: 3 "
     'rows (one per driver listed)'),
    ('correlation_row_length', {'correlation.matrix': [[1.0, 0.5, 0.3], [0.5, 1.0], [0.3, 0.2, 1.0]]},
     "x.yaml: field 'uncertainty.correlation.matrix[1]' got [0.5, 1.0]; allowed: a list of 3 numbers"),
    ('correlation_row_not_list', {'correlation.matrix': [[1.0, 0.5, 0.3], 5, [0.3, 0.2, 1.0]]},
     "x.yaml: field 'uncertainty.correlation.matrix[1]' got 5; allowed: a list of 3 numbers"),
    ('correlation_value', {'correlation.matrix': [[1.0, 0.5, 0.3], [0.5, 1.0, 1.2], [0.3, 1.2, 1.0]]},
     "x.yaml: field 'uncertainty.correlation.matrix[1][2]' got 1.2; allowed: a number in [-1, 1]"),
    ('correlation_value_string', {'correlation.matrix': [[1.0, 0.5, 0.3], [0.5, 1.0, 'x'], [0.3, 0.2, 1.0]]},
     "x.yaml: field 'uncertainty.correlation.matrix[1][2]' got 'x'; allowed: a number"),
    ('correlation_diagonal', {'correlation.matrix': [[1.0, 0.5, 0.3], [0.5, 0.9, 0.2], [0.3, 0.2, 1.0]]},
     "x.yaml: field 'uncertainty.correlation.matrix[1][1]' got np.float64(0.9); allowed: 1 on the "
     "diagonal (a driver's correlation with itself)"),
    ('correlation_asymmetric', {'correlation.matrix': [[1.0, 0.5, 0.3], [0.4, 1.0, 0.2], [0.3, 0.2, 1.0]]},
     "x.yaml: field 'uncertainty.correlation.matrix[1][0]' got np.float64(0.4); allowed: a symmetric "
     'matrix: [0][1] is np.float64(0.5)'),
    ('correlation_not_definite', {'correlation.matrix': [[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]]},
     "x.yaml: field 'uncertainty.correlation.matrix' got [[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, "
     '1.0]]; allowed: a positive definite correlation matrix (Cholesky factorisation failed; smallest '
     'eigenvalue -0.8: some correlations contradict each other, or two drivers are perfectly correlated)'),
    ('correlation_matrix_not_list', {'correlation.matrix': 1.0},
     "x.yaml: field 'uncertainty.correlation.matrix' got 1.0; allowed: a list"),
]


@pytest.mark.parametrize("case, edits, message", PINNED_MESSAGES, ids=[c[0] for c in PINNED_MESSAGES])
def test_pinned_error_messages(case, edits, message):
    """One mistake in an uncertainty section gives exactly the one-line message given before the schema."""
    doc = edit_document(FULL, edits)
    with pytest.raises(ConfigError) as info:
        parse_uncertainty(doc, "x.yaml")
    assert str(info.value) == message


@pytest.mark.parametrize("data", [5, [1]])
def test_pinned_message_for_a_section_that_is_not_a_mapping(data):
    """An uncertainty section that is not a mapping is reported at 'uncertainty'."""
    with pytest.raises(ConfigError) as info:
        parse_uncertainty(data, "x.yaml")
    assert str(info.value) == f"x.yaml: field 'uncertainty' got {data!r}; allowed: a mapping of key: value"


def test_every_error_of_the_section_is_reported_at_once():
    """Three mistakes in three drivers: all three reported, one line each, in the house form."""
    from tokensim import ConfigErrors

    doc = with_change("market_rent.volatility_per_year", 6)
    doc["token_price"]["cut_mean"] = 1.0
    doc["efficiency"]["gain_per_arival"] = 0.1
    with pytest.raises(ConfigErrors) as info:
        parse_uncertainty(doc, "x.yaml")
    assert str(info.value).splitlines() == [
        "x.yaml: field 'uncertainty.market_rent.volatility_per_year' got 6; allowed: a number in [0, 5]",
        "x.yaml: field 'uncertainty.token_price.cut_mean' got 1.0; allowed: a number in [0, 1)",
        "x.yaml: field 'uncertainty.efficiency.gain_per_arival' got 0.1; allowed: known keys: arrival_rate_per_year, "
        "gain_per_arrival, source (did you mean 'gain_per_arrival'?)",
    ]
