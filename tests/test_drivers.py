"""Tests for tokensim.montecarlo._drivers: the driver equations, their random-number layout and their deterministic
limit."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from tokensim.config.scenario import load_scenario
from tokensim.config.uncertainty import CORRELATED_DRIVERS, load_uncertainty, parse_uncertainty
from tokensim.finance._cashflows import Drivers
from tokensim.montecarlo import _rng
from tokensim.montecarlo._drivers import (
    POISSON_MAX_COUNT,
    STREAM_DEFAULT,
    driver_model,
    generate_drivers,
    poisson_counts,
    poisson_table,
    relevant_drivers,
    rent_log_compensation,
)
from tokensim.resolve.finance import finance_inputs

FIELDS = ("market_rent_multiplier", "spot_utilisation", "token_volume_multiplier", "token_price_multiplier",
          "efficiency_multiplier", "power_price_multiplier", "floating_base_rate", "tenant_default_month")


@pytest.fixture(scope="module")
def usage():
    s = load_scenario("us-b300-neocloud-usage")
    return s, finance_inputs(s), load_uncertainty(s)


@pytest.fixture(scope="module")
def founding():
    s = load_scenario("b300-10k-cluster")
    return s, finance_inputs(s), load_uncertainty(s)


@pytest.mark.parametrize("seed", [0, 12345, 2**64 - 1])
def test_fast_philox_path_equals_the_reference_block_function(seed):
    """draw_words' fast path (scalar month and stream) equals philox4x32_10 word for word, path high word included."""
    paths = np.concatenate([np.arange(300), 2**32 - 5 + np.arange(10), [2**63 - 1]]).astype(np.uint64)
    k0, k1 = _rng.key_from_seed(seed)
    for month, stream in ((0, 0), (17, 3), (2**32 - 1, 2**32 - 1)):
        expected = _rng.philox4x32_10(month, stream, paths & np.uint64(0xFFFFFFFF), paths >> np.uint64(32), k0, k1)
        got = _rng.draw_words(seed, month, stream, paths)
        for e, g in zip(expected, got, strict=True):
            assert g.dtype == np.uint32
            np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("name", ["founding", "usage"])
def test_zero_uncertainty_gives_the_base_drivers_exactly(name, request):
    """With every volatility, drift, intensity and probability at zero the drivers equal Drivers.base bit for bit."""
    _, inputs, unc = request.getfixturevalue(name)
    model = driver_model(unc.zeroed(), inputs)
    assert model.is_deterministic
    got = generate_drivers(model, 7, np.arange(50))
    base = Drivers.base(inputs, paths=50)
    for f in FIELDS:
        np.testing.assert_array_equal(np.asarray(getattr(got, f)), np.asarray(getattr(base, f)))


def test_paths_are_independent_of_the_block_they_are_drawn_in(usage):
    """Paths 5..8 drawn alone, or shuffled, equal rows 5..8 of a draw of paths 0..39."""
    _, inputs, unc = usage
    model = driver_model(unc, inputs)
    whole = generate_drivers(model, 99, np.arange(40))
    part = generate_drivers(model, 99, np.array([5, 6, 7, 8]))
    shuffled = generate_drivers(model, 99, np.array([8, 5, 7, 6]))
    for f in FIELDS:
        np.testing.assert_array_equal(np.asarray(getattr(part, f)), np.asarray(getattr(whole, f))[5:9])
        np.testing.assert_array_equal(np.asarray(getattr(shuffled, f)), np.asarray(getattr(whole, f))[[8, 5, 7, 6]])


def test_different_seeds_give_different_paths(usage):
    """Another seed moves every stochastic driver."""
    _, inputs, unc = usage
    model = driver_model(unc, inputs)
    a, b = generate_drivers(model, 1, np.arange(200)), generate_drivers(model, 2, np.arange(200))
    for f in ("market_rent_multiplier", "spot_utilisation", "token_price_multiplier", "power_price_multiplier"):
        assert not np.array_equal(np.asarray(getattr(a, f)), np.asarray(getattr(b, f)))


def test_irrelevant_drivers_are_not_drawn(founding):
    """A fixed-rent, fixed-rate, percent-of-cost case does not draw token drivers or the base rate."""
    _, inputs, unc = founding
    rel = relevant_drivers(inputs)
    assert not (rel["token_volume"] or rel["token_price"] or rel["efficiency"] or rel["floating_base_rate"])
    model = driver_model(unc, inputs)
    d = generate_drivers(model, 3, np.arange(100))
    for f in ("token_volume_multiplier", "token_price_multiplier", "efficiency_multiplier"):
        assert np.all(np.asarray(getattr(d, f)) == 1.0)
    assert np.all(np.asarray(d.floating_base_rate) == inputs.floating_base_rate)
    assert not model.shock_streams[2]  # token volume and price share the third stream


def test_log_ou_matches_its_stationary_variance(usage):
    """Without jumps, log rent after 5 years has the OU variance v = sigma^2 (1 - e^{-2 kappa t}) / (2 kappa) and, the
    process being compensated so that the multiplier has mean 1, the log-normal mean -v / 2."""
    _, inputs, unc = usage
    mr = replace(unc.market_rent, jump_intensity_per_year=0.0)
    model = driver_model(replace(unc, market_rent=mr), inputs)
    d = generate_drivers(model, 5, np.arange(20_000))
    x = np.log(np.asarray(d.market_rent_multiplier)[:, -1])
    kappa, sigma, t = mr.mean_reversion_per_year, mr.volatility_per_year, inputs.months / 12
    expected = sigma**2 * -math.expm1(-2 * kappa * t) / (2 * kappa)
    assert x.mean() == pytest.approx(-expected / 2, abs=0.01)
    assert x.var() == pytest.approx(expected, rel=0.05)


def test_shocks_carry_the_configured_correlation(usage):
    """Monthly increments of log rent and logit utilisation correlate as the matrix says (0.5, loose bound)."""
    _, inputs, unc = usage
    mr = replace(unc.market_rent, jump_intensity_per_year=0.0, mean_reversion_per_year=0.0)
    ut = replace(unc.utilisation, mean_reversion_per_year=0.0)
    model = driver_model(replace(unc, market_rent=mr, utilisation=ut), inputs)
    d = generate_drivers(model, 11, np.arange(20_000))
    rent = np.diff(np.log(np.asarray(d.market_rent_multiplier)), axis=1).ravel()
    u = np.asarray(d.spot_utilisation)
    logit = np.log(u / (1 - u))
    util = np.diff(logit, axis=1).ravel()
    c = np.array(unc.correlation)
    i, j = CORRELATED_DRIVERS.index("market_rent"), CORRELATED_DRIVERS.index("utilisation")
    assert np.corrcoef(rent, util)[0, 1] == pytest.approx(c[i, j], abs=0.01)


def test_utilisation_stays_inside_the_unit_interval(usage):
    """Logit-normal utilisation never leaves (0, 1)."""
    _, inputs, unc = usage
    d = generate_drivers(driver_model(unc, inputs), 4, np.arange(5000))
    u = np.asarray(d.spot_utilisation)
    assert np.all((u > 0) & (u < 1))


def test_poisson_table_inverts_to_poisson_counts():
    """The CDF table is increasing, reaches 1 - 2**-60, and its counts have mean and variance lambda."""
    assert poisson_table(0.0).size == 0
    lam = 2.5
    table = poisson_table(lam)
    assert np.all(np.diff(table) >= 0) and 1 - table[-1] < 2**-52 and table.size <= POISSON_MAX_COUNT
    assert poisson_table(10.0).size <= POISSON_MAX_COUNT
    u, _ = _rng.uniforms(8, 1, 0, np.arange(200_000))
    counts = poisson_counts(table, u)
    assert counts.mean() == pytest.approx(lam, rel=0.01)
    assert counts.var() == pytest.approx(lam, rel=0.02)


def test_default_time_follows_the_annual_probability(founding):
    """Independent of the market (sensitivity 0), the share of tenants defaulting within the 5-year term is
    1 - (1 - p)^5; p = 1 defaults in the first month."""
    _, inputs, unc = founding
    p = 0.1
    td = replace(unc.tenant_default, probability_per_year=p, market_sensitivity=0.0)
    d = generate_drivers(driver_model(replace(unc, tenant_default=td), inputs), 2, np.arange(50_000))
    share = np.mean(d.tenant_default_month < inputs.months)
    assert share == pytest.approx(1 - (1 - p) ** 5, abs=0.01)
    for beta in (0.0, 1.0):
        certain = replace(unc, tenant_default=replace(td, probability_per_year=1.0, market_sensitivity=beta))
        assert np.all(generate_drivers(driver_model(certain, inputs), 2, np.arange(10)).tenant_default_month == 0)


@pytest.mark.parametrize("beta", [0.0, 1.5])
def test_default_month_uses_its_documented_counter(founding, beta):
    """The default month is the first operating month m with u_m < 1 - exp(-h0 * multiplier_m ** -beta), u_m the
    first uniform of stream 6 at counter month m, h0 = -ln(1 - p) / 12; index m - 1, or M when none in the term."""
    _, inputs, unc = founding
    p = 0.2
    model = driver_model(replace(unc, tenant_default=replace(unc.tenant_default, probability_per_year=p,
                                                             market_sensitivity=beta)), inputs)
    paths = np.arange(5000)
    d = generate_drivers(model, 5, paths)
    multiplier = np.asarray(d.market_rent_multiplier)
    h0 = -math.log1p(-p) / 12
    expected = np.full(paths.size, inputs.months)
    for m in range(inputs.months, 0, -1):  # backwards: the first month wins
        u, _ = _rng.uniforms(5, m, STREAM_DEFAULT, paths)
        hit = u < -np.expm1(-h0 * multiplier[:, m - 1] ** -beta)
        expected = np.where(hit, m - 1, expected)
    np.testing.assert_array_equal(d.tenant_default_month, expected)
    assert 0 < np.mean(expected < inputs.months) < 1


def test_rent_compensation_has_the_closed_forms():
    """c_m = K_m(1): m s^2 / 2 for a random walk without jumps (log-normal convexity), m lambda dt (e^{a + sd^2/2} - 1)
    for jumps alone without mean reversion (compound Poisson), and the OU sum s^2 (1 - phi^{2m}) / (2 (1 - phi^2))."""
    s, lam, a, sd = 0.1, 0.025, math.log(1.3), 0.15
    np.testing.assert_allclose(rent_log_compensation(24, 1.0, s, 0.0, a, sd), 0.5 * s * s * np.arange(1, 25))
    np.testing.assert_allclose(rent_log_compensation(24, 1.0, 0.0, lam, a, sd),
                               lam * math.expm1(a + sd * sd / 2) * np.arange(1, 25))
    phi = 0.9
    m = np.arange(1, 61)
    np.testing.assert_allclose(rent_log_compensation(60, phi, s, 0.0, a, sd),
                               0.5 * s * s * (1 - phi ** (2 * m)) / (1 - phi * phi))


def test_market_rent_multiplier_has_mean_one_at_every_month(founding):
    """With the founding case's mean-reverting diffusion and one-sided scarcity jumps (about 0.3 a year of +30%), the
    market-rent multiplier's mean is 1 at every month within 4 standard errors: the deterministic market rent is the
    process's mean. (Uncompensated, the mean drifted 10% above 1 within a year and 18% by year 5.)"""
    _, inputs, unc = founding
    assert unc.market_rent.jump_intensity_per_year > 0 and unc.market_rent.mean_reversion_per_year > 0
    n = 40_000
    multiplier = np.asarray(generate_drivers(driver_model(unc, inputs), 7, np.arange(n)).market_rent_multiplier)
    for j in (0, 11, 23, 35, inputs.months - 1):
        column = multiplier[:, j]
        assert abs(column.mean() - 1.0) < 4 * column.std() / math.sqrt(n), j
    assert np.median(multiplier[:, -1]) < 1.0  # the median sits below the mean (log-normal with upward jumps)


def test_correlated_default_is_more_frequent_when_market_rent_is_low(founding):
    """With market_sensitivity beta, a month's default frequency among tenants still paying follows
    1 - exp(-h0 * multiplier^-beta): more defaults when the market rent is below its mean than above it, in the counts
    the formula predicts from each path-month's multiplier (within 5 standard errors); with beta = 0 the two rates
    agree."""
    _, inputs, unc = founding
    p = 0.2
    h0 = -math.log1p(-p) / 12
    rates = {}
    for beta in (0.0, 2.0):
        td = replace(unc.tenant_default, probability_per_year=p, market_sensitivity=beta)
        d = generate_drivers(driver_model(replace(unc, tenant_default=td), inputs), 3, np.arange(20_000))
        multiplier = np.asarray(d.market_rent_multiplier)
        month = np.arange(inputs.months)[None, :]
        at_risk = month <= d.tenant_default_month[:, None]  # still paying at the start of the month
        defaulted = month == d.tenant_default_month[:, None]
        q = -np.expm1(-h0 * multiplier ** -beta)
        for low in (True, False):
            cell = at_risk & ((multiplier < 1.0) == low)
            observed, predicted = defaulted[cell].sum(), q[cell].sum()
            assert abs(observed - predicted) < 5 * math.sqrt(predicted), (beta, low)
            rates[beta, low] = observed / cell.sum()
    assert rates[2.0, True] > 1.5 * rates[2.0, False]
    assert rates[0.0, True] == pytest.approx(rates[0.0, False], rel=0.15)


def test_efficiency_and_cuts_move_in_steps(usage):
    """Efficiency multipliers are powers of (1 + gain) and never fall; cuts only lower the price apart from noise."""
    _, inputs, unc = usage
    tp = replace(unc.token_price, volatility_per_year=0.0, cut_volatility=0.0)
    model = driver_model(replace(unc, token_price=tp), inputs)
    d = generate_drivers(model, 6, np.arange(2000))
    eff = np.asarray(d.efficiency_multiplier)
    steps = np.log(eff) / math.log1p(unc.efficiency.gain_per_arrival)
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-9)
    assert np.all(np.diff(eff, axis=1) >= 0)
    price = np.asarray(d.token_price_multiplier)
    assert np.all(np.diff(price, axis=1) <= 0) and price.min() < 1.0


def test_correlation_is_validated_before_use():
    """An uncertainty with an invalid matrix never reaches the drivers (parse raises first)."""
    with pytest.raises(Exception, match="positive definite"):
        parse_uncertainty({"correlation": {"drivers": ["market_rent", "utilisation"],
                                           "matrix": [[1, 1], [1, 1]]}})
