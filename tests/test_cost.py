"""Cost per GPU-hour, cost per million tokens and currency conversion (tokensim.cost, tokensim.config.money)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy_financial as npf
import pytest

from tokensim import ConfigError
from tokensim.config.money import check_currency, convert, fx_factor
from tokensim.config.scenario import load_scenario
from tokensim.cost import (
    BREAKDOWN_TERMS,
    CostInputs,
    capital_recovery_factor,
    cost_per_gpu_hour,
    cost_per_million_tokens,
    cost_per_million_tokens_at_throughput,
)
from tokensim.resolve.cost import cost_inputs


def reference_case_c(**changes) -> CostInputs:
    """economics-reference.md 1.8 case C: China B300 at broker capex RMB 729 k/GPU, 5 y, 20% residual, WACC 5.1%,
    2.0 kW IT/GPU, PUE 1.25, RMB 0.5/kWh with power scaled 0.3 + 0.7 u, RMB 600/kW-month, O&M 1.5%/yr."""
    base = dict(currency="CNY", server_price_per_gpu=7.0e9 / 9600, network_per_gpu=0.0, installation_per_gpu=0.0,
                residual_share_of_hardware=0.20, residual_value_per_gpu=0.0, economic_life_years=5,
                cost_of_capital=0.051, depreciation_years=5, it_kw_per_gpu=2.0, pue=1.25,
                electricity_price_per_kwh=0.5, load_factor=1.0, idle_load_factor=0.3,
                facility_price_per_kw_month=600, maintenance_share_of_capex_per_year=0.015,
                operations_per_gpu_year=0.0, insurance_share_of_capex_per_year=0.0)
    base.update(changes)
    return CostInputs(**base)


def test_breakdown_terms_add_up_to_the_total():
    """The seven terms of the founding case's cost per GPU-hour sum to its total, at several utilisations."""
    ci = cost_inputs(load_scenario("b300-10k-cluster"))
    for u in (0.3, 0.8, 1.0):
        b = cost_per_gpu_hour(ci, u)
        assert sum(b.terms().values()) == pytest.approx(b.total, rel=1e-12)
        assert set(b.terms()) == set(BREAKDOWN_TERMS)


def test_reference_case_c_at_full_and_80_percent_utilisation():
    """Case C gives capital RMB 16.3, power 1.25, colo 1.64, O&M 1.25, total RMB 20.4 per GPU-hour at 100% and
    RMB 25.3 at 80% (economics-reference.md 1.8 table, rounded to 0.1)."""
    full = cost_per_gpu_hour(reference_case_c(), 1.0)
    assert full.capital_recovery + full.financing == pytest.approx(16.3, abs=0.05)
    assert full.power == pytest.approx(1.25, abs=0.005)
    assert full.facility == pytest.approx(1.64, abs=0.005)
    assert full.maintenance == pytest.approx(1.25, abs=0.005)
    assert full.total == pytest.approx(20.4, abs=0.05)
    assert cost_per_gpu_hour(reference_case_c(), 0.8).total == pytest.approx(25.3, abs=0.1)


def test_capital_charge_split_into_return_of_and_on_capital():
    """Return OF capital is (C - R) / L per year; with R = 20% of 729,167 that is 116,667 / 8,760 = 13.318 per
    hour; the rest of the CRF charge is the return ON capital (financing)."""
    b = cost_per_gpu_hour(reference_case_c(), 1.0)
    capex = 7.0e9 / 9600
    assert b.capital_recovery == pytest.approx(capex * 0.8 / 5 / 8760, rel=1e-12)
    annual = (capex - 0.2 * capex / 1.051 ** 5) * 0.051 / (1 - 1.051 ** -5)
    assert b.financing == pytest.approx(annual / 8760 - b.capital_recovery, rel=1e-12)


def test_zero_cost_of_capital_has_no_financing_term():
    """At a 0% cost of capital the capital charge is straight-line (C - R) / L and financing is zero."""
    b = cost_per_gpu_hour(reference_case_c(cost_of_capital=0.0), 1.0)
    assert b.financing == pytest.approx(0.0, abs=1e-12)


def test_capital_recovery_factor_matches_numpy_financial_pmt():
    """CRF(k, n) equals the payment that repays 1 over n periods at k (npf.pmt as oracle)."""
    for k, n in ((0.051, 5), (0.10, 4), (0.0, 6)):
        assert capital_recovery_factor(k, n) == pytest.approx(-npf.pmt(k, n, 1.0), rel=1e-12)


def test_book_depreciation_is_reported_beside_the_total():
    """Book depreciation = capex / depreciation years / sold hours, and is not one of the terms."""
    b = cost_per_gpu_hour(reference_case_c(), 0.5)
    assert b.book_depreciation == pytest.approx(7.0e9 / 9600 / 5 / (8760 * 0.5))
    assert "book_depreciation" not in b.terms()


def test_cost_per_gpu_hour_rises_as_utilisation_falls():
    """Fewer sold hours carry the same annual cost: cost per sold hour at 50% exceeds that at 90%."""
    ci = reference_case_c()
    assert cost_per_gpu_hour(ci, 0.5).total > cost_per_gpu_hour(ci, 0.9).total


@pytest.mark.parametrize("u", [0.0, 1e-320, 0.0099, 1.2, -0.1, float("nan")])
def test_utilisation_outside_its_bounds_is_rejected(u):
    """Utilisation must lie in [0.01, 1] (the scenario field's bound: at 1e-320 the cost overflowed to null); the
    error names the field, the range and why."""
    with pytest.raises(ConfigError, match=r"field 'utilisation'.*\[0.01, 1\] \(below 1% of hours sold"):
        cost_per_gpu_hour(reference_case_c(), u)


def test_cost_per_token_falls_when_throughput_rises():
    """At a fixed cost per GPU-hour, more tokens per second per GPU means a lower cost per million tokens."""
    cost = cost_per_gpu_hour(cost_inputs(load_scenario("b300-10k-cluster")), 1.0).total
    per_million = cost_per_million_tokens_at_throughput(cost, np.array([500.0, 1000.0, 2000.0]))
    assert np.all(np.diff(per_million) < 0)
    assert per_million[0] == pytest.approx(2 * per_million[1])


def test_cost_per_token_rises_with_server_price():
    """A dearer server raises the cost per GPU-hour and so the cost per million tokens at the same throughput."""
    ci = cost_inputs(load_scenario("b300-10k-cluster"))
    prices = ci.server_price_per_gpu * np.array([0.8, 1.0, 1.5])
    totals = cost_per_gpu_hour(ci.with_server_price(prices), 1.0).total
    per_million = cost_per_million_tokens_at_throughput(totals, 1500.0)
    assert np.all(np.diff(totals) > 0) and np.all(np.diff(per_million) > 0)


def test_cost_per_million_tokens_split_by_gpu_time():
    """At 3.6 per GPU-hour (0.001 per GPU-second), 0.0001 s of prefill per computed input token and 0.001 s per output
    token. A mix of 1,000 input tokens (half cached, so 500 computed) and 100 output tokens uses 500 x 1e-4 = 0.05 s of
    prefill (cost 5e-5) and 0.1 s of decode (cost 1e-4). Prefill cost is shared 1 : 0.1 between uncached and cached
    tokens: 5e-5 / (500 + 0.1 x 500) = 9.0909e-8 per uncached token = 0.090909 per M, cached 0.0090909 per M; output
    1.0 per M; blended (5e-5 + 1e-4) / 1,100 tokens = 0.136364 per M — the GPU time actually used, no more."""
    t = cost_per_million_tokens(3.6, 1e-4, 1e-3, 0.1, input_tokens=1000, output_tokens=100, cache_hit_rate=0.5,
                                currency="USD")
    assert (t.input, t.cached_input, t.output) == pytest.approx((0.05 / 0.55, 0.005 / 0.55, 1.0))
    assert t.blended == pytest.approx(1.5e-4 / 1100 * 1e6)


def test_cost_per_million_tokens_without_cache_is_plain_gpu_time():
    """With no cache hits an input token costs exactly its prefill GPU time: 1e-4 s at 0.001 per s = 0.1 per M."""
    t = cost_per_million_tokens(3.6, 1e-4, 1e-3, 0.1, input_tokens=1000, output_tokens=100, currency="USD")
    assert t.input == pytest.approx(0.1) and t.cached_input == pytest.approx(0.01)
    assert t.blended == pytest.approx((1000 * 0.1 + 100 * 1.0) / 1100)


def test_fx_converts_through_the_table():
    """RMB 7.2 = USD 1 (economics-reference.md FX), so RMB 72 is USD 10 and USD 10 is RMB 72."""
    assert convert(72.0, "CNY", "USD") == pytest.approx(10.0)
    assert convert(10.0, "USD", "CNY") == pytest.approx(72.0)
    assert fx_factor("cny", "CNY") == 1.0


def test_unknown_currency_is_a_user_error_listing_known_ones():
    """An unknown currency code names the field and the known codes."""
    with pytest.raises(ConfigError, match=r"field '--currency' got 'GBX'.*CNY, EUR, USD"):
        check_currency("GBX", None, "--currency")


def test_breakdown_converts_to_another_currency():
    """Scaling a CNY breakdown to USD divides every amount by 7.2 and keeps the utilisation."""
    b = cost_per_gpu_hour(reference_case_c(), 0.8)
    usd = b.scaled(fx_factor("CNY", "USD"), "USD")
    assert usd.total == pytest.approx(b.total / 7.2) and usd.utilisation == 0.8 and usd.currency == "USD"


def test_economic_residual_enters_the_capital_charge():
    """The US scenario's economic residual is positive and below the hardware cost, and lowers the capital charge
    relative to no residual."""
    ci = cost_inputs(load_scenario("us-b300-neocloud-usage"))
    assert 0 < ci.residual_per_gpu < ci.capex_per_gpu
    no_residual = cost_per_gpu_hour(replace(ci, residual_value_per_gpu=0.0), 0.9)
    assert cost_per_gpu_hour(ci, 0.9).total < no_residual.total
