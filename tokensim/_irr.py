"""Vectorised internal rate of return (IRR) and net present value (NPV) over many cash-flow rows.

Conventions follow numpy-financial (``npf.irr``, ``npf.npv``): cash flows are per period with period 0 first, rates
are per period, and ``npv(rate, values) = sum_t values[t] / (1 + rate)**t`` from t = 0. Unlike ``npf.irr``, which
loops over rows and solves polynomial roots, :func:`irr` solves all rows at once with a safeguarded Newton method
(Numerical Recipes' ``rtsafe``: Newton steps, bisection when a step leaves the bracket or does not shrink it fast
enough) and reports rows without an IRR as NaN with a reason code instead of raising mid-batch.

How a row is solved (each step is the same for every row, so a CUDA kernel can run it one thread per row):

1. One pass over the periods counts sign changes (zeros skipped) and flags non-finite values.
2. A bracket is found on a rate grid: with one sign change Descartes' rule of signs gives exactly one root with
   rate > -1, so the grid is just (-0.999999, 0, 1e6]; with several, a finer grid (:func:`_scan_rates`) that
   contains ``guess`` is scanned and the nearest sign-change interval on each side of the guess is kept.
3. ``rtsafe`` runs in each interval from ``guess`` clipped into it, for at most ``max_iter`` iterations; with
   several sign changes the root nearer the guess wins.

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
    "IRR_NO_SIGN_CHANGE",
    "IRR_OK",
    "IRR_REASONS",
    "RATE_MAX_PER_PERIOD",
    "RATE_MIN_PER_PERIOD",
    "annualise_monthly_rate",
    "irr",
    "npv",
]

IRR_OK = 0
IRR_NO_SIGN_CHANGE = 1
IRR_NO_ROOT_IN_BRACKET = 2
IRR_NON_FINITE = 3
IRR_ALL_ZERO = 4
IRR_MULTIPLE_SIGN_CHANGES = 5
IRR_NOT_CONVERGED = 6

IRR_REASONS: dict[int, str] = {
    IRR_OK: "ok",
    IRR_NO_SIGN_CHANGE: "no sign change in cash flows: no IRR exists",
    IRR_NO_ROOT_IN_BRACKET: "no root found in the search bracket (-0.999999, 1e6] per period",
    IRR_NON_FINITE: "NaN or infinite value in cash flows",
    IRR_ALL_ZERO: "all cash flows are zero (or there are none): IRR undefined",
    IRR_MULTIPLE_SIGN_CHANGES: "multiple sign changes: IRR may not be unique (root nearest the guess returned)",
    IRR_NOT_CONVERGED: "did not converge within max_iter iterations",
}

# Search bracket per period. Below -99.9999 % a period's loss leaves nothing to measure a return on; above +1e6 (a
# millionfold gain per period) no priced asset lives. Rows whose root lies outside report IRR_NO_ROOT_IN_BRACKET.
RATE_MIN_PER_PERIOD = -0.999999
RATE_MAX_PER_PERIOD = 1e6

# Grid for rows with several sign changes: steps in log(1 + rate) doubling from 0.5 % per period out to
# +-0.005 * 2**11 = +-10.24, i.e. fine where monthly and annual rates live and coarse far out. Two roots closer than
# one grid step can hide each other; the docstring of irr says so.
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


def _irr_nearest_guess(coeffs_z, coeffs_u, guess, tol, max_iter, xp):
    """IRR and reason for rows with several sign changes: the root nearest ``guess`` that the scan grid separates.

    The nearest sign-change interval below the guess and the nearest above it are both solved (``guess`` is a grid
    point, so each interval lies wholly on one side), then the root nearer the guess is kept.
    """
    grid = _scan_rates(guess, xp)
    values = _scaled_npv_on_grid(coeffs_z, coeffs_u, grid, xp)
    below = _crossing(values, grid, (grid[1:] <= guess)[:, None], True, xp)
    above = _crossing(values, grid, (grid[:-1] >= guess)[:, None], False, xp)
    n_rows = coeffs_z.shape[1]
    both = [xp.concatenate([b, a], axis=0) for b, a in zip(below, above, strict=False)]
    solved, converged = _rtsafe(
        xp.concatenate([coeffs_z, coeffs_z], axis=1), xp.concatenate([coeffs_u, coeffs_u], axis=1), *both,
        guess, tol, max_iter, xp,
    )
    rate_below, rate_above = solved[:n_rows], solved[n_rows:]
    ok_below, ok_above = below[4] & converged[:n_rows], above[4] & converged[n_rows:]
    take_above = ok_above & (~ok_below | (xp.abs(rate_above - guess) < xp.abs(rate_below - guess)))
    rates = xp.where(take_above, rate_above, xp.where(ok_below, rate_below, xp.nan))
    reasons = xp.where(below[4] | above[4], IRR_NOT_CONVERGED, IRR_NO_ROOT_IN_BRACKET)
    return rates, xp.where(ok_below | ok_above, IRR_MULTIPLE_SIGN_CHANGES, reasons)


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
        rates[idx], reasons[idx] = _irr_nearest_guess(subset_z, subset_u, guess, tol, max_iter, xp)
    return rates, reasons


def irr(cash_flows, *, guess=0.01, tol=1e-12, max_iter=100, return_reason=False):
    """Internal rate of return per period of one or many cash-flow series.

    Parameters
    ----------
    cash_flows : array_like, shape (periods,) or (rows, periods)
        Cash flow per period, period 0 first; each row is one series. By convention investments are negative and
        returns positive. NumPy or CuPy arrays (the result stays in the input's namespace).
    guess : float, optional
        Starting rate per period, and the rate the returned root is nearest to when a row has several sign changes.
        Must lie inside the search bracket (-0.999999, 1e6).
    tol : float, optional
        Convergence tolerance on the rate: iteration stops when a step is at most ``tol * (1 + |rate|)``.
    max_iter : int, optional
        Most Newton/bisection iterations per row; rows that need more are NaN with ``IRR_NOT_CONVERGED``.
    return_reason : bool, optional
        Also return the reason code per row (keys of :data:`IRR_REASONS`).

    Returns
    -------
    rate : float or ndarray of shape (rows,)
        Rate per period r with ``npv(r, cash_flows) == 0``; NaN where none was found. A float for 1-D input.
    reason : int or ndarray of int64, shape (rows,)
        Only with ``return_reason=True``. 0 ok; 1 no sign change; 2 no root in the bracket; 3 NaN or inf in the
        flows; 4 all flows zero; 5 several sign changes (value kept); 6 not converged. See :data:`IRR_REASONS`.

    Notes
    -----
    With one sign change there is exactly one root above -100 % (Descartes' rule of signs) and it is found whenever
    it lies in (-0.999999, 1e6]. With several, NPV is scanned on a rate grid (``guess``, 0 and steps in
    log(1 + rate) doubling from 0.5 % per period out to the bracket ends); the nearest sign change on each side of
    ``guess`` is solved and the root nearer ``guess`` returned with reason 5. Two roots within one grid step cancel
    out and are not seen (reason 2 if nothing else is found). ``npf.irr`` instead returns the root nearest zero:
    the same root for the default ``guess=0.01`` unless two roots lie almost symmetrically about 0.5 %.
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
