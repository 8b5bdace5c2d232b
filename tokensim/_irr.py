"""Vectorised internal rate of return (IRR), modified IRR (MIRR) and net present value (NPV) over many cash-flow rows.

Conventions follow numpy-financial (``npf.irr``, ``npf.npv``, ``npf.mirr``): cash flows are per period with period 0
first, rates are per period, and ``npv(rate, values) = sum_t values[t] / (1 + rate)**t`` from t = 0. Unlike
``npf.irr``, which loops over rows and solves polynomial roots, :func:`irr` solves all rows at once with a safeguarded
Newton method (Numerical Recipes' ``rtsafe``: Newton steps, bisection when a step leaves the bracket or does not
shrink it fast enough) and reports rows without an IRR as NaN with a reason code instead of raising mid-batch.

Which root is the IRR (the rule, :data:`IRR_RULE`): orient the row so that its first non-zero flow is an outlay
(multiply by -1 if it is an inflow). The IRR is the root nearest 0 on the side of 0 that the oriented NPV at rate 0
implies: NPV(0) > 0 gives the lowest root above 0, NPV(0) < 0 the highest root below 0, NPV(0) = 0 gives 0. At that
root the oriented NPV crosses from positive to negative as the rate rises, and every rate between 0 and the IRR gives
an NPV of the sign NPV has at 0: "the project earns more than any hurdle rate between 0 and its IRR" holds. With one
sign change there is only one root (Descartes' rule of signs) and the rule picks it; with several, the rule replaces
"the root nearest the guess", which on very profitable cases picked a root near -100 % while NPV was large and
positive. Rows with several sign changes and no root on that side are NaN with :data:`IRR_NO_ROOT_ON_NPV_SIDE`.

How a row is solved (each step is the same for every row, so a CUDA kernel can run it one thread per row):

1. One pass over the periods counts sign changes (zeros skipped) and flags non-finite values.
2. A bracket is found on a rate grid: with one sign change Descartes' rule of signs gives exactly one root with
   rate > -1, so the grid is just (-0.999999, 0, 1e6]; with several, a finer grid (:func:`_scan_rates`, with 0 as a
   point) is scanned outward from 0 on the side the rule names, and the first sign-change interval is kept.
3. ``rtsafe`` runs in that interval from ``guess`` clipped into it, for at most ``max_iter`` iterations.

Rate 0 is always a grid point, so a bracket never straddles it. That lets each row evaluate NPV in a form that can
neither overflow nor underflow: for rate >= 0 a polynomial in the discount factor z = 1/(1+rate) (0 < z <= 1), for
rate <= 0 a polynomial in u = 1+rate (0 < u <= 1), each over the row's span of non-zero flows and so equal to NPV
times a positive power of (1 + rate): same roots, same signs, magnitude at most the sum of |flows|.
"""
from __future__ import annotations

import numpy as np

from ._xp import array_namespace

__all__ = [
    "IRR_ALL_ZERO",
    "IRR_MULTIPLE_SIGN_CHANGES",
    "IRR_NON_FINITE",
    "IRR_NOT_CONVERGED",
    "IRR_NO_ROOT_IN_BRACKET",
    "IRR_NO_ROOT_ON_NPV_SIDE",
    "IRR_NO_SIGN_CHANGE",
    "IRR_OK",
    "IRR_REASONS",
    "IRR_RULE",
    "RATE_MAX_PER_PERIOD",
    "RATE_MIN_PER_PERIOD",
    "annualise_monthly_rate",
    "irr",
    "irr_roots",
    "mirr",
    "npv",
]

IRR_OK = 0
IRR_NO_SIGN_CHANGE = 1
IRR_NO_ROOT_IN_BRACKET = 2
IRR_NON_FINITE = 3
IRR_ALL_ZERO = 4
IRR_MULTIPLE_SIGN_CHANGES = 5
IRR_NOT_CONVERGED = 6
IRR_NO_ROOT_ON_NPV_SIDE = 7

# The rule that picks the IRR among several roots (module docstring); quoted by the reason texts and the docs.
IRR_RULE = ("the root nearest 0 on the side of 0 that NPV at 0 implies (flows oriented so that the first is an "
            "outlay: NPV(0) > 0 gives the lowest root above 0, NPV(0) < 0 the highest below 0), where NPV crosses "
            "from positive to negative as the rate rises")

IRR_REASONS: dict[int, str] = {
    IRR_OK: "ok",
    IRR_NO_SIGN_CHANGE: "no sign change in cash flows: no IRR exists",
    IRR_NO_ROOT_IN_BRACKET: "no root found in the search bracket (-0.999999, 1e6] per period",
    IRR_NON_FINITE: "NaN or infinite value in cash flows",
    IRR_ALL_ZERO: "all cash flows are zero (or there are none): IRR undefined",
    IRR_MULTIPLE_SIGN_CHANGES: f"multiple sign changes: NPV may have several roots; the IRR is {IRR_RULE}",
    IRR_NOT_CONVERGED: "did not converge within max_iter iterations",
    IRR_NO_ROOT_ON_NPV_SIDE: "multiple sign changes and no root on the side of 0 that NPV at 0 implies: no IRR by "
                             "the rule (NPV does not fall through zero between 0 and the search bracket's end; "
                             "see MIRR)",
}

# Search bracket per period. Below -99.9999 % a period's loss leaves nothing to measure a return on; above +1e6 (a
# millionfold gain per period) no priced asset lives. Rows whose root lies outside report IRR_NO_ROOT_IN_BRACKET.
RATE_MIN_PER_PERIOD = -0.999999
RATE_MAX_PER_PERIOD = 1e6

# Grid for rows with several sign changes: steps in log(1 + rate) doubling from 0.5 % per period out to
# +-0.005 * 2**11 = +-10.24, i.e. fine where monthly and annual rates live and coarse far out. Two roots closer than
# one grid step can hide each other (the scan then sees no sign change there); the docstring of irr says so.
_SCAN_LOG_GROWTH_FIRST = 0.005
_SCAN_DOUBLINGS = 12

# Rows solved together: a chunk's working arrays (a handful of periods x rows, 8 MB each at 61 periods) bound the
# memory beyond the caller's input, whatever the number of rows. 16384 was the fastest of 8192-65536 rows on the
# benchmarks/bench_irr.py flows on the sandbox CPU.
_ROWS_PER_CHUNK = 16384
# On a GPU every array operation is a kernel launch costing about the same whatever its size, so chunks are larger
# there: 2**20 rows x 61 periods x 8 bytes = 512 MB per working array. On an H200 (CuPy 14.2) 1e6 project rows ran
# at 1.5, 5.3 and 22 M rows/s with 2**16, 2**18 and 2**20 rows per chunk.
_ROWS_PER_CHUNK_GPU = 2**20

# Rows per block in the CPU transpose: 256 rows x 61 periods x 8 bytes = 125 kB, inside a core's L2 cache.
_TRANSPOSE_BLOCK_ROWS = 256

MONTHS_PER_YEAR = 12


def _horner(coeffs, x, xp, with_slope):
    """Polynomial value (and d/dx) by Horner's rule; coeffs is (degree + 1, rows), highest power first.

    ``x`` broadcasts against one row of coefficients: shape (rows,) for one point per row, (points, 1) for a grid.
    The loop over coefficients is the one a CUDA thread runs for its row.
    """
    value = coeffs[0] + xp.zeros_like(x)
    slope = xp.zeros_like(value)
    for k in range(1, coeffs.shape[0]):
        if with_slope:
            slope *= x
            slope += value
        value *= x
        value += coeffs[k]
    return value, slope


def _scaled_npv_and_slope(coeffs_by_row, rate, below_zero, xp):
    """NPV in the overflow-free form of each row's regime, and its derivative with respect to the rate.

    ``coeffs_by_row`` holds each row's u-form coefficients where ``below_zero`` and its z-form coefficients elsewhere
    (see :func:`_aligned_coefficients`).
    """
    one_plus_rate = 1.0 + rate
    x = xp.where(below_zero, one_plus_rate, 1.0 / one_plus_rate)
    value, d_dx = _horner(coeffs_by_row, x, xp, with_slope=True)
    # dz/drate = -z**2; du/drate = 1.
    return value, xp.where(below_zero, d_dx, -d_dx * x * x)


def _scaled_npv_on_grid(coeffs_z, coeffs_u, grid_rates, xp):
    """Scaled NPV of every row at every grid rate: shape (points, rows). Grid rates must be sorted."""
    below = grid_rates < 0
    parts = []
    if bool(below.any()):
        parts.append(_horner(coeffs_u, (1.0 + grid_rates[below])[:, None], xp, with_slope=False)[0])
    if bool((~below).any()):
        parts.append(_horner(coeffs_z, (1.0 / (1.0 + grid_rates[~below]))[:, None], xp, with_slope=False)[0])
    return xp.concatenate(parts, axis=0)


def _scan_rates(guess, xp):
    """Sorted grid for rows with several sign changes: the log-doubling ladder, 0, the bracket ends and ``guess``."""
    log_growth = _SCAN_LOG_GROWTH_FIRST * 2.0 ** np.arange(_SCAN_DOUBLINGS)
    rates = np.expm1(np.concatenate([-log_growth, [0.0], log_growth]))
    rates = np.concatenate([rates, [RATE_MIN_PER_PERIOD, RATE_MAX_PER_PERIOD, guess]])
    return xp.asarray(np.unique(rates))


def _crossing(values, grid_rates, allowed, take_last, xp):
    """Per row, a grid interval where the scaled NPV changes sign (or hits zero), among the ``allowed`` intervals.

    ``values`` is (points, rows) from :func:`_scaled_npv_on_grid`; ``allowed`` is (points - 1, 1). ``take_last``
    picks the highest such interval, else the lowest. Returns (lo, hi, value at lo, value at hi, found); the values
    are the grid's own, so the bracket's signs agree with how it was chosen.
    """
    at_lo, at_hi = values[:-1], values[1:]
    crosses = (xp.sign(at_lo) * xp.sign(at_hi) <= 0) & allowed
    order = xp.arange(at_lo.shape[0])[:, None]
    score = xp.where(crosses, order if take_last else at_lo.shape[0] - 1 - order, -1)
    best = xp.argmax(score, axis=0)
    columns = xp.arange(values.shape[1])
    found = score[best, columns] >= 0
    return grid_rates[best], grid_rates[best + 1], at_lo[best, columns], at_hi[best, columns], found


def _period_major(rows, xp):
    """Copy of a (rows, periods) chunk laid out (periods, rows): row i's flows become column i.

    That is the layout one CUDA thread per row reads coalesced, and it makes each Horner step one contiguous vector.
    On the CPU the transpose goes in blocks of rows that stay in cache (about twice as fast as one strided copy).
    """
    if xp is not np:
        return xp.ascontiguousarray(rows.T)
    out = np.empty((rows.shape[1], rows.shape[0]))
    for start in range(0, rows.shape[0], _TRANSPOSE_BLOCK_ROWS):
        out[:, start:start + _TRANSPOSE_BLOCK_ROWS] = rows[start:start + _TRANSPOSE_BLOCK_ROWS].T
    return out


def _sign_scan(rows, flows_pm, xp):
    """Per row: non-finite flag, all-zero flag, first and last non-zero period, and sign changes (zeros skipped).

    Sign changes are classed, not counted: 0, 1 or 2 (meaning two or more). Ignoring zeros, a row has one change
    exactly when either a negative follows a positive or a positive follows a negative, but not both. The loop runs
    on boolean vectors (a CUDA thread keeps the same four flags). First and last non-zero periods come from the
    row-major chunk, where argmax runs along contiguous memory; an all-zero row gets 0 and periods - 1.
    """
    n_rows = flows_pm.shape[1]
    seen_pos, seen_neg = xp.zeros(n_rows, dtype=bool), xp.zeros(n_rows, dtype=bool)
    neg_after_pos, pos_after_neg = xp.zeros(n_rows, dtype=bool), xp.zeros(n_rows, dtype=bool)
    for k in range(flows_pm.shape[0]):
        positive, negative = flows_pm[k] > 0, flows_pm[k] < 0
        neg_after_pos |= negative & seen_pos
        pos_after_neg |= positive & seen_neg
        seen_pos |= positive
        seen_neg |= negative
    sign_changes = neg_after_pos.astype(xp.int64) + pos_after_neg.astype(xp.int64)
    nonzero = rows != 0
    first_nonzero = xp.argmax(nonzero, axis=1)
    last_nonzero = rows.shape[1] - 1 - xp.argmax(nonzero[:, ::-1], axis=1)
    all_zero = ~xp.any(nonzero, axis=1)
    non_finite = ~xp.all(xp.isfinite(flows_pm), axis=0)
    return non_finite, all_zero, first_nonzero, last_nonzero, sign_changes


def _aligned_coefficients(flows_pm, first_nonzero, last_nonzero, xp):
    """Horner coefficients (highest power first) of each row's NPV over its non-zero span only.

    z-form: sum_s v[first + s] * z**s, i.e. NPV * (1 + rate)**first. u-form: sum_s v[first + s] * u**(last-first-s),
    i.e. NPV * (1 + rate)**last. Leading zeros (z-form) and trailing zeros (u-form) would otherwise scale the value
    by z**first or u**(periods-1-last), which underflows to 0 near the bracket ends (1e-6**50 < 1e-300) and fakes a
    root. Here the zero padding sits in the highest powers, where it is harmless. A CUDA thread would instead loop
    over periods first..last of its row; rows with nothing to shift keep views of ``flows_pm`` (no copy).
    """
    periods = flows_pm.shape[0]
    steps_left = (periods - 1 - xp.arange(periods))[:, None]  # power of z (or u) that Horner step k multiplies
    if bool((first_nonzero > 0).any()):
        source = first_nonzero[None, :] + steps_left
        gathered = xp.take_along_axis(flows_pm, xp.minimum(source, periods - 1), axis=0)
        coeffs_z = xp.where(source < periods, gathered, 0.0)
    else:
        coeffs_z = flows_pm[::-1]
    if bool((last_nonzero < periods - 1).any()):
        source = last_nonzero[None, :] - steps_left
        gathered = xp.take_along_axis(flows_pm, xp.maximum(source, 0), axis=0)
        coeffs_u = xp.where(source >= 0, gathered, 0.0)
    else:
        coeffs_u = flows_pm
    return coeffs_z, coeffs_u


def _rtsafe(coeffs_z, coeffs_u, lo, hi, value_lo, value_hi, solve, guess, tol, max_iter, xp):
    """Safeguarded Newton inside [lo, hi] for the rows where ``solve``; returns (rate, converged).

    Each row's state lives in arrays; a row whose step falls below tolerance stops changing. Rows still running are
    compacted whenever half have finished: the NumPy stand-in for CUDA threads that simply return.
    """
    # Rows not to solve get the degenerate bracket [0, 0]: no arithmetic on NaN, and they start out finished.
    lo, hi = xp.where(solve, lo, 0.0), xp.where(solve, hi, 0.0)
    value_lo, value_hi = xp.where(solve, value_lo, 0.0), xp.where(solve, value_hi, 0.0)
    below_zero = hi <= 0
    if bool(below_zero.any()):
        coeffs = xp.where(below_zero[None, :], coeffs_u, coeffs_z)
    else:  # every bracket at or above 0 (the usual case for projects that pay back): no copy
        coeffs = coeffs_z
    rate = xp.where(value_lo == 0, lo, xp.where(value_hi == 0, hi, xp.minimum(xp.maximum(guess, lo), hi)))
    active = (value_lo != 0) & (value_hi != 0)
    # rtsafe keeps the bracket oriented: rate_neg is the end where NPV < 0, rate_pos where NPV > 0.
    rate_neg = xp.where(value_lo < 0, lo, hi)
    rate_pos = xp.where(value_lo < 0, hi, lo)
    step = xp.abs(hi - lo)
    step_before = step.copy()
    value, slope = _scaled_npv_and_slope(coeffs, rate, below_zero, xp)

    result = rate.copy()
    working = xp.arange(rate.shape[0])
    for iteration in range(max_iter + 1):
        active &= value != 0
        rate_neg = xp.where(active & (value < 0), rate, rate_neg)
        rate_pos = xp.where(active & (value > 0), rate, rate_pos)
        n_active = int(active.sum())
        if n_active == 0:
            break
        if 2 * n_active <= active.shape[0]:
            result[working] = rate
            coeffs = xp.compress(active, coeffs, axis=1)  # contiguous per period; fancy indexing is strided
            working, below_zero, rate, rate_neg, rate_pos, value, slope, step, step_before = (
                a[active] for a in (working, below_zero, rate, rate_neg, rate_pos, value, slope, step, step_before)
            )
            active = active[active]
        if iteration == max_iter:  # the last pass only applied the bracket update
            break
        leaves_bracket = ((rate - rate_pos) * slope - value) * ((rate - rate_neg) * slope - value) > 0
        too_slow = xp.abs(2.0 * value) > xp.abs(step_before * slope)
        bisect = leaves_bracket | too_slow
        # Geometric midpoint in (1 + rate): a bracket can span (-0.999999, 0] or [0, 1e6], decades wide.
        midpoint = xp.sqrt((1.0 + rate_neg) * (1.0 + rate_pos)) - 1.0
        newton = value / xp.where(slope != 0, slope, 1.0)  # slope == 0 always bisects via leaves_bracket
        move = xp.where(bisect, rate - midpoint, newton)
        next_rate = rate - move
        # Tolerance is absolute for rates of order one and relative beyond, where float spacing exceeds tol.
        done = (xp.abs(move) <= tol * (1.0 + xp.abs(next_rate))) | (next_rate == rate)
        step_before = xp.where(active, step, step_before)
        step = xp.where(active, move, step)
        rate = xp.where(active, next_rate, rate)
        active &= ~done
        if not bool(active.any()):  # saves one evaluation: a converged step needs no check of its NPV
            break
        value, slope = _scaled_npv_and_slope(coeffs, rate, below_zero, xp)
    result[working] = rate
    converged = xp.ones(result.shape[0], dtype=bool)
    converged[working[active]] = False
    return result, converged


def _irr_by_rule(coeffs_z, coeffs_u, guess, tol, max_iter, xp):
    """IRR and reason for rows with several sign changes: the root that :data:`IRR_RULE` names.

    The grid (0 is one of its points) gives the sign of NPV at 0. Flows oriented so that the first non-zero one is an
    outlay, a positive NPV(0) sends the search up from 0 (the lowest sign-change interval at or above 0), a negative
    one down (the highest at or below 0); an NPV(0) of exactly 0 is a bracket end with value 0, solved as rate 0.
    ``rtsafe`` then solves that one interval. Rows with no interval on their side but one on the other get
    :data:`IRR_NO_ROOT_ON_NPV_SIDE`, rows with none at all :data:`IRR_NO_ROOT_IN_BRACKET`.
    """
    grid = _scan_rates(guess, xp)
    values = _scaled_npv_on_grid(coeffs_z, coeffs_u, grid, xp)
    at_zero = values[int(np.searchsorted(_scan_rates(guess, np), 0.0))]
    first_flow = coeffs_z[-1]  # the z-form's constant term: the row's first non-zero flow
    search_above = xp.sign(at_zero) * xp.sign(first_flow) < 0  # oriented NPV(0) > 0
    above = _crossing(values, grid, (grid[:-1] >= 0)[:, None], False, xp)
    below = _crossing(values, grid, (grid[1:] <= 0)[:, None], True, xp)
    lo, hi, value_lo, value_hi, found = (xp.where(search_above, a, b) for a, b in zip(above, below, strict=True))
    found_other_side = xp.where(search_above, below[4], above[4])
    solved, converged = _rtsafe(coeffs_z, coeffs_u, lo, hi, value_lo, value_hi, found, guess, tol, max_iter, xp)
    rates = xp.where(found & converged, solved, xp.nan)
    reasons = xp.where(found_other_side, IRR_NO_ROOT_ON_NPV_SIDE, IRR_NO_ROOT_IN_BRACKET)
    reasons = xp.where(found, xp.where(converged, IRR_MULTIPLE_SIGN_CHANGES, IRR_NOT_CONVERGED), reasons)
    return rates, reasons


def _irr_chunk(rows, guess, tol, max_iter, xp):
    """IRR and reason code for each row of a 2-D chunk."""
    n_rows = rows.shape[0]
    flows_pm = _period_major(rows, xp)
    non_finite, all_zero, first_nonzero, last_nonzero, sign_changes = _sign_scan(rows, flows_pm, xp)
    coeffs_z, coeffs_u = _aligned_coefficients(flows_pm, first_nonzero, last_nonzero, xp)
    reasons = xp.full(n_rows, IRR_OK, dtype=xp.int64)
    reasons = xp.where(sign_changes > 1, IRR_MULTIPLE_SIGN_CHANGES, reasons)
    reasons = xp.where(sign_changes == 0, IRR_NO_SIGN_CHANGE, reasons)
    reasons = xp.where(all_zero, IRR_ALL_ZERO, reasons)
    reasons = xp.where(non_finite, IRR_NON_FINITE, reasons)

    # One sign change: one root above -100 %, so the grid needs only the bracket ends and 0 (see module docstring).
    grid = xp.asarray([RATE_MIN_PER_PERIOD, 0.0, RATE_MAX_PER_PERIOD])
    values = _scaled_npv_on_grid(coeffs_z, coeffs_u, grid, xp)
    lo, hi, value_lo, value_hi, found = _crossing(values, grid, True, True, xp)
    found &= reasons == IRR_OK
    reasons = xp.where((reasons == IRR_OK) & ~found, IRR_NO_ROOT_IN_BRACKET, reasons)
    solved, converged = _rtsafe(coeffs_z, coeffs_u, lo, hi, value_lo, value_hi, found, guess, tol, max_iter, xp)
    rates = xp.where(found & converged, solved, xp.nan)
    reasons = xp.where(found & ~converged, IRR_NOT_CONVERGED, reasons)

    several = reasons == IRR_MULTIPLE_SIGN_CHANGES
    if bool(several.any()):
        idx = xp.nonzero(several)[0]
        # compress keeps the subset contiguous per period (fancy indexing would return it strided).
        subset_z, subset_u = (xp.compress(several, c, axis=1) for c in (coeffs_z, coeffs_u))
        rates[idx], reasons[idx] = _irr_by_rule(subset_z, subset_u, guess, tol, max_iter, xp)
    return rates, reasons


def irr(cash_flows, *, guess=0.01, tol=1e-12, max_iter=100, return_reason=False):
    """Internal rate of return per period of one or many cash-flow series.

    Parameters
    ----------
    cash_flows : array_like, shape (periods,) or (rows, periods)
        Cash flow per period, period 0 first; each row is one series. By convention investments are negative and
        returns positive. NumPy or CuPy arrays (the result stays in the input's namespace).
    guess : float, optional
        Starting rate per period of the Newton iteration (clipped into the bracket found). Must lie inside the search
        bracket (-0.999999, 1e6). It does not choose among several roots: :data:`IRR_RULE` does.
    tol : float, optional
        Convergence tolerance on the rate: iteration stops when a step is at most ``tol * (1 + |rate|)``.
    max_iter : int, optional
        Most Newton/bisection iterations per row; rows that need more are NaN with ``IRR_NOT_CONVERGED``.
    return_reason : bool, optional
        Also return the reason code per row (keys of :data:`IRR_REASONS`).

    Returns
    -------
    rate : float or ndarray of shape (rows,)
        Rate per period r with ``npv(r, cash_flows) == 0``, the root :data:`IRR_RULE` names where there are
        several; NaN where none was found. A float for 1-D input.
    reason : int or ndarray of int64, shape (rows,)
        Only with ``return_reason=True``. 0 ok; 1 no sign change; 2 no root in the bracket; 3 NaN or inf in the
        flows; 4 all flows zero; 5 several sign changes, the rule's root returned; 6 not converged; 7 several sign
        changes and no root on the side of 0 the rule names. See :data:`IRR_REASONS`.

    Notes
    -----
    The rule (:data:`IRR_RULE`): with the flows oriented so that the first non-zero one is an outlay, the IRR is the
    root nearest 0 on the side of 0 that NPV at 0 implies: the lowest root above 0 when NPV(0) > 0, the highest
    root below 0 when NPV(0) < 0, and 0 when NPV(0) = 0. There NPV crosses from positive to negative as the rate
    rises, and every rate between 0 and the IRR gives NPV the sign it has at 0, so "IRR above the hurdle" means "NPV
    at the hurdle positive" for every hurdle between 0 and the IRR. With one sign change there is exactly one root
    above -100 % (Descartes' rule of signs); it satisfies the rule and is found whenever it lies in
    (-0.999999, 1e6]. With several, NPV is scanned on a rate grid (0, ``guess`` and steps in log(1 + rate) doubling
    from 0.5 % per period out to the bracket ends) outward from 0 on the rule's side, and the first sign change is
    solved (reason 5); none there but one on the other side gives NaN with reason 7, none at all reason 2. Two roots
    within one grid step cancel out and are not seen. ``npf.irr`` returns the root nearest zero on either side: the
    same root unless the root on the other side of 0 is nearer. :func:`irr_roots` lists every root the grid
    separates; :func:`mirr` gives a rate that always exists when flows of both signs do.
    No row raises: rows without an IRR are NaN with their reason code.

    Examples
    --------
    >>> round(irr([-100, 39, 59, 55, 20]), 5)
    0.28095
    >>> irr([[-1, 1.1], [1, 1]], return_reason=True)
    (array([0.1, nan]), array([0, 1]))
    """
    if not (RATE_MIN_PER_PERIOD < guess < RATE_MAX_PER_PERIOD):
        raise ValueError(f"guess must lie in ({RATE_MIN_PER_PERIOD}, {RATE_MAX_PER_PERIOD}), got {guess!r}")
    if not tol > 0:
        raise ValueError(f"tol must be positive, got {tol!r}")
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    xp = array_namespace(cash_flows)
    flows = xp.asarray(cash_flows, dtype=xp.float64)
    if flows.ndim not in (1, 2):
        raise ValueError(f"cash_flows must be 1-D (periods) or 2-D (rows, periods), got shape {flows.shape}")
    rows = flows[None, :] if flows.ndim == 1 else flows
    rates = xp.full(rows.shape[0], xp.nan)
    reasons = xp.full(rows.shape[0], IRR_ALL_ZERO, dtype=xp.int64)
    rows_per_chunk = _ROWS_PER_CHUNK if xp is np else _ROWS_PER_CHUNK_GPU
    if rows.shape[1] > 0:
        with np.errstate(all="ignore"):  # inf/NaN rows are flagged by reason code, not by floating-point warnings
            for start in range(0, rows.shape[0], rows_per_chunk):
                chunk = slice(start, start + rows_per_chunk)
                rates[chunk], reasons[chunk] = _irr_chunk(rows[chunk], float(guess), float(tol), int(max_iter), xp)
    if flows.ndim == 1:
        return (float(rates[0]), int(reasons[0])) if return_reason else float(rates[0])
    return (rates, reasons) if return_reason else rates


def npv(rate, cash_flows):
    """Net present value of cash flows at a periodic discount rate, period 0 undiscounted.

    Parameters
    ----------
    rate : float or array_like
        Discount rate per period (> -1). An array broadcasts against the rows of ``cash_flows`` (one rate per row,
        or several rates for one series).
    cash_flows : array_like, shape (periods,) or (rows, periods)
        Cash flow per period, period 0 first.

    Returns
    -------
    float or ndarray
        ``sum_t cash_flows[..., t] / (1 + rate)**t``; a float when both inputs give a single value.

    Examples
    --------
    >>> round(npv(0.08, [-40_000, 5_000, 8_000, 12_000, 30_000]), 5)
    3065.22267
    """
    xp = array_namespace(rate, cash_flows)
    flows = xp.asarray(cash_flows, dtype=xp.float64)
    rates = xp.asarray(rate, dtype=xp.float64)
    if flows.ndim not in (1, 2):
        raise ValueError(f"cash_flows must be 1-D (periods) or 2-D (rows, periods), got shape {flows.shape}")
    out_shape = np.broadcast_shapes(rates.shape, flows.shape[:-1])
    periods = flows.shape[-1]
    rows = xp.broadcast_to(flows, out_shape + (periods,)).reshape(-1, periods)
    rates = xp.broadcast_to(rates, out_shape).reshape(-1)
    result = xp.zeros(rows.shape[0])
    rows_per_chunk = _ROWS_PER_CHUNK if xp is np else _ROWS_PER_CHUNK_GPU
    if periods > 0:
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # rate <= -1 or huge: inf/NaN, as npf.npv
            for start in range(0, rows.shape[0], rows_per_chunk):
                chunk = slice(start, start + rows_per_chunk)
                reversed_pm = xp.ascontiguousarray(rows[chunk].T[::-1])
                result[chunk] = _horner(reversed_pm, 1.0 / (1.0 + rates[chunk]), xp, with_slope=False)[0]
    result = result.reshape(out_shape)
    return float(result) if result.ndim == 0 else result


def irr_roots(cash_flows, *, guess=0.01, tol=1e-12, max_iter=100):
    """Every root of NPV in the search bracket that the scan grid separates, for one cash-flow series.

    Parameters
    ----------
    cash_flows : array_like, shape (periods,)
        Cash flow per period, period 0 first (NumPy).
    guess, tol, max_iter : optional
        As in :func:`irr` (the grid includes ``guess``; each root is solved by the same ``rtsafe``).

    Returns
    -------
    ndarray of float64
        Rates per period in (-0.999999, 1e6], ascending: one per sign change of NPV on the grid of :func:`irr`'s
        several-sign-changes path (0, ``guess`` and steps in log(1 + rate) doubling from 0.5 % per period). Empty
        when the flows have no sign change, a non-finite value or no non-zero value. Two roots within one grid step
        (or a double root) do not change NPV's sign there and are not listed. The IRR :func:`irr` returns is one
        of them (or NaN).

    Examples
    --------
    >>> np.round(irr_roots([-5, 10.5, 1, -8, 1]), 4).tolist()
    [-0.8702, 0.0886, 0.7096]
    """
    flows = np.asarray(cash_flows, dtype=np.float64)
    if flows.ndim != 1:
        raise ValueError(f"cash_flows must be 1-D (periods), got shape {flows.shape}")
    rows = flows[None, :]
    if flows.size == 0 or not np.isfinite(flows).all() or not (flows > 0).any() or not (flows < 0).any():
        return np.empty(0)
    with np.errstate(all="ignore"):
        flows_pm = _period_major(rows, np)
        _, _, first_nonzero, last_nonzero, _ = _sign_scan(rows, flows_pm, np)
        coeffs_z, coeffs_u = _aligned_coefficients(flows_pm, first_nonzero, last_nonzero, np)
        grid = _scan_rates(guess, np)
        values = _scaled_npv_on_grid(coeffs_z, coeffs_u, grid, np)[:, 0]
        crossing = np.flatnonzero(np.sign(values[:-1]) * np.sign(values[1:]) <= 0)
        # A root exactly on a grid point ends one interval and starts the next: list it once.
        crossing = crossing[~((values[crossing] == 0) & np.isin(crossing - 1, crossing))]
        n = crossing.size
        solved, converged = _rtsafe(np.repeat(coeffs_z, n, axis=1), np.repeat(coeffs_u, n, axis=1), grid[crossing],
                                    grid[crossing + 1], values[crossing], values[crossing + 1], np.ones(n, bool),
                                    float(guess), float(tol), int(max_iter), np)
    return np.sort(solved[converged])


def mirr(cash_flows, finance_rate, reinvest_rate):
    """Modified internal rate of return per period of one or many cash-flow series (numpy-financial's ``mirr``).

    Outlays (negative flows) are discounted to period 0 at ``finance_rate``, inflows (positive flows) compounded to
    the last period at ``reinvest_rate``; the MIRR is the rate that grows the one into the other over the series:
    ``(FV(inflows) / -PV(outlays)) ** (1 / (periods - 1)) - 1``. Unlike the IRR it exists, and is unique, whenever
    the series has flows of both signs.

    Parameters
    ----------
    cash_flows : array_like, shape (periods,) or (rows, periods)
        Cash flow per period, period 0 first (NumPy or CuPy).
    finance_rate : float or array_like
        Rate per period at which outlays are financed (> -1); an array gives one rate per row.
    reinvest_rate : float or array_like
        Rate per period at which inflows are reinvested (> -1); an array gives one rate per row.

    Returns
    -------
    float or ndarray of shape (rows,)
        MIRR per period; NaN for a series without both signs, with fewer than two periods or with a non-finite flow.

    Examples
    --------
    >>> round(mirr([-4500, -800, 800, 800, 600, 600, 800, 800, 700, 3000], 0.08, 0.055), 4)
    0.0666
    """
    xp = array_namespace(cash_flows, finance_rate, reinvest_rate)
    flows = xp.asarray(cash_flows, dtype=xp.float64)
    if flows.ndim not in (1, 2):
        raise ValueError(f"cash_flows must be 1-D (periods) or 2-D (rows, periods), got shape {flows.shape}")
    rows = flows[None, :] if flows.ndim == 1 else flows
    finance = xp.asarray(finance_rate, dtype=xp.float64)
    reinvest = xp.asarray(reinvest_rate, dtype=xp.float64)
    periods = rows.shape[1]
    with np.errstate(all="ignore"):
        pv_outlays = -npv(finance, xp.where(rows < 0, rows, 0.0))
        pv_inflows = npv(reinvest, xp.where(rows > 0, rows, 0.0))
        growth = xp.log(pv_inflows / pv_outlays) / max(periods - 1, 1)
        out = xp.expm1(growth + xp.log1p(reinvest))
        valid = (pv_outlays > 0) & (pv_inflows > 0) & xp.all(xp.isfinite(rows), axis=1) & (periods > 1)
        out = xp.where(valid, out, xp.nan)
    if flows.ndim == 1:
        return float(out.reshape(-1)[0])
    return out


def annualise_monthly_rate(r):
    """Annual rate equivalent to a monthly rate compounded over twelve months: ``(1 + r)**12 - 1``.

    Parameters
    ----------
    r : float or array_like
        Rate per month (NumPy or CuPy array, or scalar).

    Returns
    -------
    float or ndarray
        Rate per year. Computed as ``expm1(12 * log1p(r))``, equal to the closed form but without cancellation for
        small ``r``; NaN for ``r < -1``, where a compounded rate has no meaning.
    """
    xp = array_namespace(r)
    monthly = xp.asarray(r, dtype=xp.float64)
    with np.errstate(divide="ignore", invalid="ignore"):  # r == -1 is a total loss (-100 %); r < -1 is NaN
        annual = xp.expm1(MONTHS_PER_YEAR * xp.log1p(monthly))
    return float(annual) if annual.ndim == 0 else annual
