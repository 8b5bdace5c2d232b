"""Tests for tokensim._irr: vectorised IRR, MIRR and NPV against numpy-financial (the oracle) and hand-solvable cases;
rows with several roots against an oracle that brackets every root (np.roots and a dense grid refined by brentq)."""

from __future__ import annotations

import numpy as np
import numpy_financial as npf
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.optimize import brentq

import tokensim._irr as irr_module
from tokensim._irr import (
    IRR_ALL_ZERO,
    IRR_MULTIPLE_SIGN_CHANGES,
    IRR_NO_ROOT_IN_BRACKET,
    IRR_NO_ROOT_ON_NPV_SIDE,
    IRR_NO_SIGN_CHANGE,
    IRR_NON_FINITE,
    IRR_NOT_CONVERGED,
    IRR_OK,
    IRR_REASONS,
    IRR_RULE,
    RATE_MAX_PER_PERIOD,
    RATE_MIN_PER_PERIOD,
    annualise_monthly_rate,
    irr,
    irr_roots,
    mirr,
    npv,
)
from tokensim.config.reader import config_dir
from tokensim.config.scenario import load_scenario
from tokensim.finance import Drivers, cashflows
from tokensim.resolve.finance import finance_inputs

# numpy-financial's own docstring examples (npf.irr, numpy-financial 1.0.0), rounded there to 5 decimals.
NPF_DOC_EXAMPLES = [
    ([-100, 39, 59, 55, 20], 0.28095),
    ([-100, 0, 0, 74], -0.0955),
    ([-100, 100, 0, -7], -0.0833),
    ([-100, 100, 0, 7], 0.06206),
]
# npf's fifth example, [-5, 10.5, 1, -8, 1] -> 0.0886, has three roots; npf returns the one nearest 0, the rule another
# (test_rule_on_numpy_financial_three_root_example).


@st.composite
def conventional_flows(draw, max_periods=61):
    """One outlay at period 0 then non-negative inflows whose total is 0.2x to 5x the outlay."""
    periods = draw(st.integers(2, max_periods))
    outlay = draw(st.floats(1.0, 1e7))
    # Weights of 0 or at least 1e-3: near-denormal inflows make np.roots (inside npf.irr) report spurious roots.
    weights = draw(arrays(np.float64, periods - 1, elements=st.just(0.0) | st.floats(1e-3, 1.0)))
    weights[draw(st.integers(0, periods - 2))] += 0.5  # at least one inflow, so exactly one sign change
    multiple = draw(st.floats(0.2, 5.0))
    return np.concatenate([[-outlay], weights / weights.sum() * multiple * outlay])


def realistic_rows(n_rows, periods=61, seed=0):
    """Project-like monthly rows: outlay at t=0, noisy positive inflows, a residual value at the end."""
    rng = np.random.default_rng(seed)
    outlay = rng.uniform(0.8, 1.2, n_rows) * 1e6
    rows = np.empty((n_rows, periods))
    rows[:, 0] = -outlay
    rows[:, 1:] = (outlay / 40)[:, None] * rng.normal(1.0, 0.3, (n_rows, periods - 1))
    rows[:, -1] += 0.2 * outlay
    return rows


# -- an oracle that brackets every root -------------------------------------------------------------------------------
def _scaled_npv(flows, rate):
    """NPV times (1 + rate)**(periods - 1) below 0, NPV itself at or above 0 (np.polyval; no overflow either side).
    ``rate`` may be an array of rates."""
    v = np.asarray(flows, dtype=float)
    rate = np.asarray(rate, dtype=float)
    below = np.polyval(v, 1.0 + np.minimum(rate, 0.0))  # sum v_t u**(T - t)
    above = np.polyval(v[::-1], 1.0 / (1.0 + np.maximum(rate, 0.0)))  # sum v_t z**t
    return np.where(rate < 0, below, above)


def all_roots_oracle(flows, points=40_001):
    """Every root of NPV in (-0.999999, 1e6] per period, ascending: sign changes of NPV on a dense grid (steps of
    3.5e-4 in log(1 + rate)) each refined by scipy's brentq, checked against the real positive roots of the NPV
    polynomial in 1/(1 + rate) (np.roots, numpy-financial's own method)."""
    grid = np.expm1(np.linspace(np.log1p(RATE_MIN_PER_PERIOD), np.log1p(RATE_MAX_PER_PERIOD), points))
    grid = np.unique(np.concatenate([grid, [0.0]]))
    values = _scaled_npv(flows, grid)
    roots = [float(r) for r, v in zip(grid, values, strict=True) if v == 0]
    for k in np.flatnonzero(np.sign(values[:-1]) * np.sign(values[1:]) < 0):
        roots.append(brentq(lambda r: float(_scaled_npv(flows, r)), grid[k], grid[k + 1], xtol=1e-15, rtol=1e-15))
    roots = np.sort(roots)
    x = np.roots(np.asarray(flows, dtype=float)[::-1])
    x = x[(np.abs(x.imag) <= 1e-9 * np.abs(x)) & (x.real > 0)].real
    by_polynomial = np.sort(1.0 / x - 1.0)
    by_polynomial = by_polynomial[(by_polynomial > RATE_MIN_PER_PERIOD) & (by_polynomial <= RATE_MAX_PER_PERIOD)]
    np.testing.assert_allclose(roots, by_polynomial, rtol=1e-7, atol=1e-9)
    return roots


def rule_oracle(flows, roots):
    """The root IRR_RULE names among ``roots``: outlay first (else the flows negated), the lowest root above 0 when
    NPV(0) > 0, the highest below 0 when NPV(0) < 0; None when that side has none."""
    v = np.asarray(flows, dtype=float)
    oriented_npv_at_zero = -np.sign(v[v != 0][0]) * v.sum()
    side = roots[roots > 0] if oriented_npv_at_zero > 0 else roots[roots < 0]
    if oriented_npv_at_zero == 0:
        return 0.0
    if side.size == 0:
        return None
    return float(side.min() if oriented_npv_at_zero > 0 else side.max())


def grid_separates(roots):
    """Whether a point of irr's scan grid lies strictly between every two neighbouring roots (the grid then sees each
    simple root as its own sign change: the condition under which irr promises the rule's root)."""
    grid = irr_module._scan_rates(0.01, np)
    return all(np.any((grid > a) & (grid < b)) for a, b in zip(roots[:-1], roots[1:], strict=True))


def founding_flows(tmp_path, rent_multiple):
    """The founding scenario's project (after and before tax) and equity cash flows with its rent times a multiple."""
    doc = yaml.safe_load((config_dir() / "scenarios" / "b300-10k-cluster.yaml").read_text())
    doc["contract"]["rent_per_cluster_year"] *= rent_multiple
    doc["tax"]["payment"] = "annual"  # the year-end tax lump is what makes the flows change sign several times
    path = tmp_path / f"founding_x{rent_multiple}.yaml"
    path.write_text(yaml.safe_dump(doc))
    inputs = finance_inputs(load_scenario(path))
    flows = cashflows(inputs, Drivers.base(inputs))
    return {name: np.asarray(getattr(flows, name))[0] for name in ("project_cf", "project_cf_pre_tax", "equity_cf")}


def test_hand_case_one_period():
    """Paying 1 to get 1.1 one period later returns exactly 10 % per period."""
    assert irr([-1, 1.1]) == pytest.approx(0.1, abs=1e-15)


def test_hand_case_two_periods():
    """Paying 100 to get 121 two periods later returns 10 % per period."""
    assert irr([-100, 0, 121]) == pytest.approx(0.1, abs=1e-15)


def test_break_even_returns_zero_rate():
    """Flows summing to exactly zero have an IRR of exactly zero."""
    assert irr([-1, 0.5, 0.5]) == 0.0


@pytest.mark.parametrize(("flows", "rounded"), NPF_DOC_EXAMPLES)
def test_numpy_financial_doc_examples(flows, rounded):
    """Every example in npf.irr's docstring gives the documented value and equals npf.irr to 1e-10."""
    rate = irr(flows)
    assert round(rate, 5) == pytest.approx(rounded, abs=1e-12)
    assert rate == pytest.approx(npf.irr(flows), abs=1e-10)


@settings(max_examples=150, deadline=None)
@given(conventional_flows())
def test_equals_numpy_financial_on_conventional_flows(flows):
    """On one outlay followed by inflows, irr equals numpy_financial.irr to 1e-10."""
    rate, reason = irr(flows, return_reason=True)
    assert reason == IRR_OK
    assert rate == pytest.approx(npf.irr(flows), abs=1e-10)


def test_batch_equals_numpy_financial_row_by_row():
    """A 2-D batch of project-like rows equals numpy_financial.irr applied row by row, to 1e-10."""
    rows = realistic_rows(300)
    expected = np.array([npf.irr(row) for row in rows])
    np.testing.assert_allclose(irr(rows), expected, rtol=0, atol=1e-10)


def test_batch_result_is_a_root_of_npv():
    """NPV at each row's IRR is zero to rounding relative to the size of the flows."""
    rows = realistic_rows(200, seed=1)
    rates = irr(rows)
    assert np.all(np.abs(npv(rates, rows)) <= 1e-9 * np.abs(rows).sum(axis=1))


def test_long_runs_of_zeros_do_not_fake_a_root():
    """Many leading or trailing zero flows leave the IRR of the non-zero span unchanged (no underflow to NPV = 0)."""
    assert irr([-1.0, 0.5] + [0.0] * 59) == pytest.approx(-0.5, abs=1e-13)
    assert irr([0.0] * 59 + [-1.0, 2.0]) == pytest.approx(1.0, abs=1e-13)
    padded = np.concatenate([np.zeros((3, 20)), realistic_rows(3, periods=30, seed=6), np.zeros((3, 40))], axis=1)
    np.testing.assert_allclose(irr(padded), irr(realistic_rows(3, periods=30, seed=6)), rtol=0, atol=1e-13)


def test_shapes_and_types():
    """1-D input gives a Python float (and int reason); 2-D input gives arrays of shape (rows,)."""
    rate, reason = irr([-1, 1.1], return_reason=True)
    assert type(rate) is float and type(reason) is int
    rates, reasons = irr(np.array([[-1, 1.1]] * 3), return_reason=True)
    assert rates.shape == (3,) and reasons.shape == (3,)
    assert irr(np.empty((0, 5))).shape == (0,)


def test_integer_input_is_accepted():
    """Integer cash flows give the same rate as their float equivalent."""
    assert irr([-100, 0, 121]) == irr(np.array([-100.0, 0.0, 121.0]))


def test_rows_without_irr_are_nan_with_reason_and_leave_others_untouched():
    """No-sign-change, all-zero and NaN rows in mid-batch are NaN with their reason; other rows are unaffected."""
    good = realistic_rows(4, seed=2)
    batch = np.vstack([
        good[0],
        np.full(61, 5.0),  # all positive: no sign change
        good[1],
        np.zeros(61),
        good[2],
        np.where(np.arange(61) == 7, np.nan, good[3]),
        good[3],
    ])
    rates, reasons = irr(batch, return_reason=True)
    assert reasons.tolist() == [IRR_OK, IRR_NO_SIGN_CHANGE, IRR_OK, IRR_ALL_ZERO, IRR_OK, IRR_NON_FINITE, IRR_OK]
    assert np.isnan(rates[[1, 3, 5]]).all()
    np.testing.assert_array_equal(rates[[0, 2, 4, 6]], irr(good))


def test_infinite_flow_is_flagged():
    """An infinite cash flow gives NaN with the non-finite reason, not an exception."""
    assert irr([-np.inf, 1.0], return_reason=True)[1] == IRR_NON_FINITE


@pytest.mark.parametrize("flows", [[-1, 1e7], [-1e7, 1]])
def test_root_outside_bracket_is_nan(flows):
    """A root above 1e6 or below -0.999999 per period is NaN with the no-root-in-bracket reason."""
    rate, reason = irr(flows, return_reason=True)
    assert np.isnan(rate) and reason == IRR_NO_ROOT_IN_BRACKET


def test_extreme_roots_inside_bracket_are_found():
    """Roots near both ends of the bracket are still solved."""
    assert irr([-1, 1e5]) == pytest.approx(1e5 - 1, rel=1e-12)
    assert irr([-1e5, 1]) == pytest.approx(1e-5 - 1, abs=1e-12)


def test_rule_on_numpy_financial_three_root_example():
    """[-5, 10.5, 1, -8, 1] has roots -0.8702, 0.0886 and 0.7096 per period and NPV(0) = -0.5 < 0 with an outlay
    first, so the rule takes the highest root below 0 (-0.8702), whatever the guess; npf.irr returns 0.0886, the root
    nearest 0 but on the side where NPV at 0 says the return is not."""
    flows = [-5, 10.5, 1, -8, 1]
    expected = all_roots_oracle(flows)
    assert np.round(expected, 4).tolist() == [-0.8702, 0.0886, 0.7096]
    for guess in (0.01, 0.6, -0.8):
        rate, reason = irr(flows, guess=guess, return_reason=True)
        assert reason == IRR_MULTIPLE_SIGN_CHANGES
        assert rate == pytest.approx(expected[0], abs=1e-12)
    assert round(npf.irr(flows), 4) == 0.0886
    np.testing.assert_allclose(irr_roots(flows), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("rent_multiple", [2, 10, 100])
def test_founding_case_with_higher_rent_against_the_all_roots_oracle(tmp_path, rent_multiple):
    """The founding case's rent x2, x10 and x100: tax paid at year ends and at the horizon makes the project and
    equity flows change sign 9-10 times. Each IRR is the rule's root among all roots the oracle brackets (to 1e-10
    relative), irr_roots lists exactly those roots, and wherever NPV at 0 is positive the IRR is above 0: at x10 the
    equity IRR was -99.97 % a year (the root near -50 % a month, nearest the guess) while NPV was +RMB 48 bn at 0."""
    for name, flows in founding_flows(tmp_path, rent_multiple).items():
        roots = all_roots_oracle(flows)
        assert roots.size >= 1 and grid_separates(roots)
        want = rule_oracle(flows, roots)
        rate, reason = irr(flows, return_reason=True)
        assert rate == pytest.approx(want, rel=1e-10, abs=1e-13), name
        several = np.count_nonzero(np.diff(np.sign(flows[flows != 0]))) > 1
        assert reason == (IRR_MULTIPLE_SIGN_CHANGES if several else IRR_OK), name
        np.testing.assert_allclose(irr_roots(flows), roots, rtol=1e-10, atol=1e-13)
        assert flows.sum() > 0 and rate > 0  # every variant makes money at rate 0: NPV(0) > 0
    equity = founding_flows(tmp_path, rent_multiple)["equity_cf"]
    if rent_multiple >= 10:  # here a second root below 0 exists: the case the old nearest-the-guess choice got wrong
        assert all_roots_oracle(equity)[0] < 0 < irr(equity)


def test_two_roots_by_hand():
    """-1 + 3x - 1.5x**2 with x = 1/(1 + r) vanishes at x = 1 -+ 1/sqrt(3): r = 1/(1 - 1/sqrt(3)) - 1 = 1.366 and
    r = 1/(1 + 1/sqrt(3)) - 1 = -0.366. NPV(0) = 0.5 > 0 after an outlay, so the rule takes 1.366 (the root nearest
    the old guess of 1 % was -0.366). Negated (a loan: inflow first), the same root by the same rule."""
    flows = [-1.0, 3.0, -1.5]
    high, low = 1 / (1 - 1 / np.sqrt(3)) - 1, 1 / (1 + 1 / np.sqrt(3)) - 1
    np.testing.assert_allclose(all_roots_oracle(flows), [low, high], rtol=1e-12)
    for row in (flows, [-v for v in flows]):
        rate, reason = irr(row, return_reason=True)
        assert reason == IRR_MULTIPLE_SIGN_CHANGES and rate == pytest.approx(high, rel=1e-12)
        np.testing.assert_allclose(irr_roots(row), [low, high], rtol=1e-12)


def test_two_roots_on_the_wrong_side_give_no_irr():
    """-100 + 230x - 132x**2 = -(100 - 230x + 132x**2) has roots r = 10 % and 20 %, and NPV(0) = -2 < 0: the rule
    looks below 0, finds no root, and the row is NaN with its own reason; both roots are still listed, and MIRR
    exists."""
    flows = [-100.0, 230.0, -132.0]
    np.testing.assert_allclose(all_roots_oracle(flows), [0.1, 0.2], rtol=1e-12)
    rate, reason = irr(flows, return_reason=True)
    assert np.isnan(rate) and reason == IRR_NO_ROOT_ON_NPV_SIDE
    np.testing.assert_allclose(irr_roots(flows), [0.1, 0.2], rtol=1e-12)
    assert np.isfinite(mirr(flows, 0.1, 0.1))


@pytest.mark.parametrize(("roots", "want"), [((0.05, 0.2, 0.5), 0.05), ((-0.3, 0.1, 0.4), -0.3),
                                             ((-0.6, -0.2, 0.3), 0.3)])
def test_three_roots_by_construction(roots, want):
    """Flows whose NPV is prod(x - 1/(1 + r_i)) in x = 1/(1 + r), for three chosen rates r_i: the outlay comes
    first (-prod 1/(1 + r_i) < 0); NPV(0) = prod(1 - 1/(1 + r_i)) has the sign of the count of positive roots, so the
    rule takes the lowest positive root (NPV(0) > 0) or the highest negative one (NPV(0) < 0)."""
    flows = np.poly([1 / (1 + r) for r in roots])[::-1]  # coefficient of x**t at period t
    assert flows[0] < 0
    np.testing.assert_allclose(all_roots_oracle(flows), roots, rtol=1e-10)
    assert rule_oracle(flows, np.array(roots)) == want
    rate, reason = irr(flows, return_reason=True)
    assert reason == IRR_MULTIPLE_SIGN_CHANGES and rate == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(irr_roots(flows), roots, rtol=1e-12)


def test_random_rows_with_several_sign_changes_follow_the_rule():
    """300 random rows of 4-25 periods, an outlay first, then flows of random sign: wherever the grid separates the
    oracle's roots, irr returns the rule's root (or NaN with reason 7 when its side has none, 2 when there is no
    root at all), and irr_roots returns all of them."""
    rng = np.random.default_rng(12)
    checked = 0
    for _ in range(300):
        flows = rng.normal(0, 1, rng.integers(4, 26)) * 10.0 ** rng.uniform(-2, 2)
        flows[0] = -abs(flows[0])
        roots = all_roots_oracle(flows)
        if not grid_separates(roots):
            continue
        checked += 1
        want = rule_oracle(flows, roots)
        rate, reason = irr(flows, return_reason=True)
        changes = np.count_nonzero(np.diff(np.sign(flows[flows != 0])))
        if changes == 0:
            assert np.isnan(rate) and reason == IRR_NO_SIGN_CHANGE
        elif want is None:
            assert np.isnan(rate) and reason == (IRR_NO_ROOT_ON_NPV_SIDE if roots.size else IRR_NO_ROOT_IN_BRACKET)
        else:
            assert reason == (IRR_OK if changes == 1 else IRR_MULTIPLE_SIGN_CHANGES)
            assert rate == pytest.approx(want, rel=1e-9, abs=1e-12)
        np.testing.assert_allclose(irr_roots(flows), roots, rtol=1e-9, atol=1e-12)
    assert checked > 250
    # the 2-D batch gives the same rates and reasons as the rows one by one
    rows = rng.normal(0, 1, (64, 13))
    rates, reasons = irr(rows, return_reason=True)
    single = [irr(row, return_reason=True) for row in rows]
    np.testing.assert_array_equal(reasons, [r for _, r in single])
    np.testing.assert_array_equal(rates, [r for r, _ in single])


def test_mirr_equals_numpy_financial():
    """mirr equals numpy_financial.mirr row by row on 200 random rows of 2-61 periods (some of one sign only: NaN in
    both), at random finance and reinvestment rates in [-50 %, 50 %] per period."""
    rng = np.random.default_rng(21)
    for _ in range(200):
        flows = rng.normal(0.2, 1, rng.integers(2, 62)) * 10.0 ** rng.uniform(-3, 6)
        if rng.random() < 0.1:
            flows = np.abs(flows)
        finance_rate, reinvest_rate = rng.uniform(-0.5, 0.5, 2)
        want = npf.mirr(flows, finance_rate, reinvest_rate)
        got = mirr(flows, finance_rate, reinvest_rate)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12, nan_ok=True)


def test_mirr_batch_and_hand_case():
    """Paying 100 at 0 and receiving 121 at 2 is 10 % a period whatever the rates (one flow each way); a batch with
    one rate per row equals the rows one by one; one-signed rows are NaN."""
    assert mirr([-100, 0, 121], 0.03, 0.07) == pytest.approx(0.1, abs=1e-14)
    rows = realistic_rows(5, periods=13, seed=8)
    rates = np.linspace(0.0, 0.02, 5)
    np.testing.assert_allclose(mirr(rows, rates, rates), [npf.mirr(r, k, k) for r, k in zip(rows, rates, strict=True)],
                               rtol=1e-12)
    assert np.isnan(mirr(np.ones((2, 3)), 0.01, 0.01)).all()


def test_multiple_sign_changes_without_root_is_nan():
    """Several sign changes but NPV never crossing zero (complex roots only) is NaN with no-root reason."""
    flows = [1.0, -2.0, 1.5]  # 1 - 2x + 1.5x^2 has no real root
    rate, reason = irr(flows, return_reason=True)
    assert np.isnan(rate) and reason == IRR_NO_ROOT_IN_BRACKET


def test_too_few_iterations_is_flagged_not_converged():
    """A row that needs more than max_iter iterations is NaN with the not-converged reason."""
    rate, reason = irr(realistic_rows(1)[0], max_iter=1, return_reason=True)
    assert np.isnan(rate) and reason == IRR_NOT_CONVERGED


def test_chunking_does_not_change_results(monkeypatch):
    """Processing rows in small chunks gives exactly the same rates as one chunk."""
    rows = realistic_rows(50, seed=3)
    rows[10] = 0.0
    whole = irr(rows)
    monkeypatch.setattr(irr_module, "_ROWS_PER_CHUNK", 7)
    np.testing.assert_array_equal(irr(rows), whole)


@pytest.mark.parametrize(
    "kwargs", [{"guess": -1.0}, {"guess": 2e6}, {"guess": np.nan}, {"tol": 0.0}, {"max_iter": 0}, {"max_iter": 2.5}]
)
def test_bad_arguments_raise(kwargs):
    """Arguments outside their allowed range raise ValueError before any row is solved."""
    with pytest.raises(ValueError):
        irr([-1, 1.1], **kwargs)


def test_three_dimensional_input_raises():
    """Cash flows with more than two dimensions raise ValueError."""
    with pytest.raises(ValueError):
        irr(np.zeros((2, 2, 2)))


def test_reason_table_covers_every_code():
    """Every reason code constant has a plain-English reason and the codes are 0..7; code 5 states the rule."""
    codes = [IRR_OK, IRR_NO_SIGN_CHANGE, IRR_NO_ROOT_IN_BRACKET, IRR_NON_FINITE, IRR_ALL_ZERO,
             IRR_MULTIPLE_SIGN_CHANGES, IRR_NOT_CONVERGED, IRR_NO_ROOT_ON_NPV_SIDE]
    assert sorted(codes) == list(range(8)) == sorted(IRR_REASONS)
    assert IRR_RULE in IRR_REASONS[IRR_MULTIPLE_SIGN_CHANGES]
    assert all(IRR_REASONS[c] for c in codes) and IRR_REASONS[IRR_OK] == "ok"


@settings(max_examples=100, deadline=None)
@given(
    st.floats(-0.9, 2.0),
    arrays(np.float64, st.integers(1, 61), elements=st.floats(-1e6, 1e6)),
)
def test_npv_equals_numpy_financial(rate, flows):
    """npv(rate, flows) equals numpy_financial.npv to rounding relative to the discounted magnitudes (subnormal results
    carry fewer digits, so the absolute tolerance never drops below the smallest normal float)."""
    scale = npf.npv(rate, np.abs(flows))
    tolerance = max(1e-13 * scale, np.finfo(np.float64).tiny)
    assert npv(rate, flows) == pytest.approx(npf.npv(rate, flows), rel=1e-12, abs=tolerance)


def test_npv_per_row_rates_equal_numpy_financial():
    """A 2-D npv with one rate per row equals numpy_financial.npv row by row."""
    rows = realistic_rows(20, seed=4)
    rates = np.linspace(-0.05, 0.2, 20)
    expected = [npf.npv(r, row) for r, row in zip(rates, rows, strict=False)]
    np.testing.assert_allclose(npv(rates, rows), expected, rtol=1e-12, atol=1e-6)
    np.testing.assert_allclose(npv(0.01, rows), [npf.npv(0.01, row) for row in rows], rtol=1e-12, atol=1e-6)


def test_npv_documented_example():
    """npf.npv's docstring example (8 % on -40 000, 5 000, 8 000, 12 000, 30 000) gives 3065.22267."""
    assert round(npv(0.08, [-40_000, 5_000, 8_000, 12_000, 30_000]), 5) == 3065.22267


def test_npv_at_zero_rate_is_the_sum():
    """At a zero rate NPV is the plain sum of the flows."""
    assert npv(0.0, [-3.0, 1.0, 2.5]) == 0.5


def test_annualise_closed_form():
    """annualise_monthly_rate equals (1 + r)**12 - 1 for scalars and arrays."""
    monthly = np.array([-0.5, -0.01, 0.0, 0.005, 0.01, 0.1])
    np.testing.assert_allclose(annualise_monthly_rate(monthly), (1 + monthly) ** 12 - 1, rtol=1e-13, atol=1e-16)
    assert annualise_monthly_rate(0.01) == pytest.approx(1.01**12 - 1, rel=1e-14)
    assert annualise_monthly_rate(-1.0) == -1.0


def test_irr_on_array_namespace(xp):
    """irr and npv accept arrays of the xp namespace and return them in it, equal to the NumPy results."""
    rows = realistic_rows(64, seed=5)
    rows[3] = 0.0
    rates, reasons = irr(xp.asarray(rows), return_reason=True)
    assert isinstance(rates, xp.ndarray)
    expected_rates, expected_reasons = irr(rows, return_reason=True)
    np.testing.assert_allclose(np.asarray(rates.tolist()), expected_rates, rtol=0, atol=1e-12)
    assert reasons.tolist() == expected_reasons.tolist()
    np.testing.assert_allclose(np.asarray(npv(xp.asarray(expected_rates[:3]), xp.asarray(rows[:3])).tolist()),
                               npv(expected_rates[:3], rows[:3]), rtol=1e-12)


def test_finance_result_reports_the_rule_mirr_and_roots(tmp_path):
    """run_finance on the founding case at rent x10: equity IRR above 0 (NPV is positive at every rate up to it),
    both roots listed with the IRR among them, the reason states the rule, and the MIRRs equal npf.mirr at the
    discount rate (project) and the cost of equity (equity), annualised."""
    from tokensim.api import run_finance

    doc = yaml.safe_load((config_dir() / "scenarios" / "b300-10k-cluster.yaml").read_text())
    doc["contract"]["rent_per_cluster_year"] *= 10
    doc["tax"]["payment"] = "annual"  # as founding_flows
    path = tmp_path / "x10.yaml"
    path.write_text(yaml.safe_dump(doc))
    scenario = load_scenario(path)
    r = run_finance(scenario)
    flows = founding_flows(tmp_path, 10)
    assert r.npv > 0 and r.equity_irr > 0 and r.project_irr > 0
    assert r.equity_irr == pytest.approx(annualise_monthly_rate(rule_oracle(flows["equity_cf"],
                                                                            all_roots_oracle(flows["equity_cf"]))))
    assert r.irr_roots["equity_irr"][0] < 0 and r.irr_roots["equity_irr"][-1] == r.equity_irr
    assert r.irr_roots["project_irr"][-1] == r.project_irr and "project_irr_pre_tax" not in r.irr_roots
    assert IRR_RULE in r.reasons["equity_irr"]
    monthly = {"project": (1 + scenario.financing.discount_rate) ** (1 / 12) - 1,
               "equity": (1 + scenario.financing.cost_of_equity) ** (1 / 12) - 1}
    for name, rate in (("project", monthly["project"]), ("equity", monthly["equity"])):
        want = (1 + npf.mirr(flows[f"{name}_cf"], rate, rate)) ** 12 - 1
        assert getattr(r, f"{name}_mirr") == pytest.approx(want, rel=1e-9)
    assert run_finance(load_scenario(config_dir() / "scenarios" / "b300-10k-cluster.yaml")).irr_roots is None
