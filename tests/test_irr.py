"""Tests for tokensim._irr: vectorised IRR and NPV against numpy-financial (the oracle) and hand-solvable cases."""

from __future__ import annotations

import numpy as np
import numpy_financial as npf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import tokensim._irr as irr_module
from tokensim._irr import (
    IRR_ALL_ZERO,
    IRR_MULTIPLE_SIGN_CHANGES,
    IRR_NO_ROOT_IN_BRACKET,
    IRR_NO_SIGN_CHANGE,
    IRR_NON_FINITE,
    IRR_NOT_CONVERGED,
    IRR_OK,
    IRR_REASONS,
    annualise_monthly_rate,
    irr,
    npv,
)

# numpy-financial's own docstring examples (npf.irr, numpy-financial 1.0.0), rounded there to 5 decimals.
NPF_DOC_EXAMPLES = [
    ([-100, 39, 59, 55, 20], 0.28095),
    ([-100, 0, 0, 74], -0.0955),
    ([-100, 100, 0, -7], -0.0833),
    ([-100, 100, 0, 7], 0.06206),
    ([-5, 10.5, 1, -8, 1], 0.0886),
]


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


def test_multiple_sign_changes_keep_value_and_flag_it():
    """With several sign changes the root nearest the guess is returned with the multiple-sign-change reason."""
    flows = [-5, 10.5, 1, -8, 1]  # roots near -0.8702, 0.0886 and 0.7096 per period
    roots = [r for r in np.roots(flows[::-1]) if abs(r.imag) < 1e-12 and r.real > 0]
    expected = sorted(1 / r.real - 1 for r in roots)
    for guess, want in [(0.01, expected[1]), (0.6, expected[2]), (-0.8, expected[0])]:
        rate, reason = irr(flows, guess=guess, return_reason=True)
        assert reason == IRR_MULTIPLE_SIGN_CHANGES
        assert rate == pytest.approx(want, abs=1e-12)


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
    """Every reason code constant has a plain-English reason and the codes are 0..6."""
    codes = [IRR_OK, IRR_NO_SIGN_CHANGE, IRR_NO_ROOT_IN_BRACKET, IRR_NON_FINITE, IRR_ALL_ZERO,
             IRR_MULTIPLE_SIGN_CHANGES, IRR_NOT_CONVERGED]
    assert sorted(codes) == list(range(7)) == sorted(IRR_REASONS)
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
