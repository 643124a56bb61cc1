"""Numba kernels of the performance metrics (one definition, used everywhere).

Plain functions on 1-D float64 numpy arrays and scalars, ``@njit(cache=True)``,
suffixed ``_nb``.  They do no validation: the pandas-facing functions of
:mod:`engines.metrics` validate inputs (types, NaN, ``periods_per_year``) and
then call these kernels, and the sweep kernel of ``engines.vectorbt`` calls them
directly on its per-combination return buffer, so every engine computes a
metric with the same code.

Conventions (see :mod:`engines.metrics` for the full statement):

* ``returns`` are per-period simple returns, ``r_t = E_t / E_{t-1} - 1``.
* ``ppy`` is the number of periods in a year (from the session calendar).
* ``rf`` / ``target`` are per-period rates (already de-annualised).
* Equity starts at 1 (or at ``start``) *before* the first period, so a loss in
  the first period is a drawdown.

Every kernel's pure-Python twin is ``kernel.py_func``; the tests run both.

One pass
--------
Each formula is written once, as a small function of running sums (the
``_from`` / ``_step`` helpers below).  The single-metric kernels and the
all-in-one :func:`return_metrics_nb` / :func:`equity_metrics_nb` feed them:
the latter two fold every period into one running state
(:func:`_acc_add_nb`: compounded wealth, sums, downside sum of squares, peak
and drawdown) in a single pass, and make a second pass only for the sum of
squared deviations from the mean that the sample standard deviation needs
(the two-pass form, kept for its exact zero on constant returns).  The sums
run in the same order as in the single-metric kernels, so every path gives
bit-identical numbers.  Trade statistics fold closed trades into a small
array (:func:`trade_acc_add_nb`), so a simulator can accumulate them at each
exit instead of keeping trade records.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "N_RETURN_METRICS",
    "N_TRADE_ACC",
    "RM_ANN_RETURN",
    "RM_ANN_VOL",
    "RM_CALMAR",
    "RM_MAX_DD",
    "RM_SHARPE",
    "RM_SORTINO",
    "RM_TOTAL",
    "TA_GAINS",
    "TA_LOSSES",
    "TA_N",
    "TA_TOTAL",
    "TA_WINS",
    "annualized_return_nb",
    "annualized_volatility_nb",
    "calmar_ratio_nb",
    "drawdown_nb",
    "equity_metrics_nb",
    "max_drawdown_amount_nb",
    "max_drawdown_nb",
    "return_metrics_from_nb",
    "return_metrics_nb",
    "sharpe_ratio_nb",
    "sortino_ratio_nb",
    "total_return_nb",
    "trade_acc_add_nb",
    "trade_metrics_nb",
]

# Slots of the array returned by return_metrics_nb.
RM_TOTAL = 0
RM_ANN_RETURN = 1
RM_ANN_VOL = 2
RM_SHARPE = 3
RM_SORTINO = 4
RM_MAX_DD = 5
RM_CALMAR = 6
N_RETURN_METRICS = 7


#: Slots of the trade accumulator (:func:`trade_acc_add_nb`, :func:`trade_metrics_nb`).
TA_N = 0       # closed trades
TA_WINS = 1    # trades with PnL > 0
TA_GAINS = 2   # sum of winning PnL
TA_LOSSES = 3  # sum of |losing PnL|
TA_TOTAL = 4   # sum of PnL
N_TRADE_ACC = 5


@njit(cache=True)
def total_return_nb(returns):
    """prod(1 + r) - 1; 0.0 for an empty array."""
    wealth = 1.0
    for i in range(returns.shape[0]):
        wealth *= 1.0 + returns[i]
    return wealth - 1.0


@njit(cache=True)
def _annualized_from_nb(wealth, n, ppy):
    """wealth ** (ppy / n) - 1 (NaN for n = 0, -1.0 for a wealth <= 0)."""
    if n == 0:
        return np.nan
    if wealth <= 0.0:
        return -1.0
    return wealth ** (ppy / n) - 1.0


@njit(cache=True)
def annualized_return_nb(returns, ppy):
    """Geometric annual return prod(1 + r) ** (ppy / n) - 1.

    NaN for an empty array; -1.0 when the equity reached zero or below (a
    wipe-out has no real-valued growth rate, and -100 % a year is its limit).
    """
    return _annualized_from_nb(total_return_nb(returns) + 1.0, returns.shape[0], ppy)


@njit(cache=True)
def _mean_nb(x, shift):
    n = x.shape[0]
    s = 0.0
    for i in range(n):
        s += x[i] - shift
    return s / n


@njit(cache=True)
def _is_constant_nb(x):
    for i in range(1, x.shape[0]):
        if x[i] != x[0]:
            return False
    return True


@njit(cache=True)
def _std_from_nb(x, shift, n, mean, constant):
    """Sample standard deviation (ddof=1) of x - shift given its mean: the second pass.

    NaN if n < 2; exactly 0.0 when all values are equal (a one-pass or naive
    two-pass formula leaves a rounding residue there that would blow a ratio
    up to 1e15).
    """
    if n < 2:
        return np.nan
    if constant:
        return 0.0
    ss = 0.0
    for i in range(n):
        d = x[i] - shift - mean
        ss += d * d
    return np.sqrt(ss / (n - 1))


@njit(cache=True)
def _std_nb(x, shift):
    """Sample standard deviation (ddof=1) of x - shift, two-pass; NaN if n < 2."""
    n = x.shape[0]
    if n < 2:
        return np.nan
    return _std_from_nb(x, shift, n, _mean_nb(x, shift), _is_constant_nb(x))


@njit(cache=True)
def annualized_volatility_nb(returns, ppy):
    """std(r, ddof=1) * sqrt(ppy); NaN for fewer than 2 periods."""
    return _std_nb(returns, 0.0) * np.sqrt(ppy)


@njit(cache=True)
def _sharpe_from_nb(n, mean, sd, ppy):
    """mean / sd * sqrt(ppy); NaN for fewer than 2 periods or sd = 0."""
    if n < 2 or sd == 0.0:
        return np.nan
    return mean / sd * np.sqrt(ppy)


@njit(cache=True)
def sharpe_ratio_nb(returns, ppy, rf):
    """mean(r - rf) / std(r - rf, ddof=1) * sqrt(ppy).

    NaN for fewer than 2 periods or zero variance (constant returns).
    """
    n = returns.shape[0]
    if n < 2:
        return np.nan
    return _sharpe_from_nb(n, _mean_nb(returns, rf), _std_nb(returns, rf), ppy)


@njit(cache=True)
def _downside_step_nb(ss, r, target):
    """Add one period's min(r - T, 0) ** 2 to the downside sum of squares.

    Adding 0.0 for a period at or above the target changes no bit of the sum
    and spares a branch that returns make unpredictable.
    """
    d = min(r - target, 0.0)
    return ss + d * d


@njit(cache=True)
def _sortino_from_nb(n, mean, down_ss, ppy):
    """mean / sqrt(down_ss / n) * sqrt(ppy) (inf / NaN without downside, NaN for n = 0)."""
    if n == 0:
        return np.nan
    if down_ss == 0.0:
        if mean > 0.0:
            return np.inf
        return np.nan
    return mean / np.sqrt(down_ss / n) * np.sqrt(ppy)


@njit(cache=True)
def sortino_ratio_nb(returns, ppy, target):
    """mean(r - T) / sqrt(mean(min(r - T, 0) ** 2)) * sqrt(ppy), over ALL periods.

    inf when no period is below the target and the mean excess is positive,
    NaN when every period equals the target or the array is empty.
    """
    n = returns.shape[0]
    if n == 0:
        return np.nan
    ss = 0.0
    for i in range(n):
        ss = _downside_step_nb(ss, returns[i], target)
    return _sortino_from_nb(n, _mean_nb(returns, target), ss, ppy)


@njit(cache=True)
def _drawdown_step_nb(equity, peak, mdd):
    """One period of the running drawdown ``E / peak - 1``: returns (peak, dd, mdd)."""
    if equity > peak:
        peak = equity
    dd = equity / peak - 1.0
    if dd < mdd:
        mdd = dd
    return peak, dd, mdd


@njit(cache=True)
def drawdown_nb(returns):
    """Drawdown after each period, E_t / max(1, E_1..E_t) - 1 with E_0 = 1."""
    n = returns.shape[0]
    out = np.empty(n, dtype=np.float64)
    equity = 1.0
    peak = 1.0
    mdd = 0.0
    for i in range(n):
        equity *= 1.0 + returns[i]
        peak, out[i], mdd = _drawdown_step_nb(equity, peak, mdd)
    return out


@njit(cache=True)
def _max_drawdown_step_nb(equity, peak, trough, mdd):
    """One period of the running maximum drawdown: returns (peak, trough, mdd).

    While the equity stays at or below one peak, ``E / peak - 1`` is smallest
    at the lowest ``E`` of that stretch (a correctly rounded division is
    monotonic), so only each stretch's trough is divided, when a new peak ends
    it (and at the end, :func:`_max_drawdown_end_nb`): the same number as
    :func:`_drawdown_step_nb` on every period, to the last bit, with one
    division per peak instead of one per period.
    """
    if equity > peak:
        dd = trough / peak - 1.0
        if dd < mdd:
            mdd = dd
        peak = equity
        trough = equity
    elif equity < trough:
        trough = equity
    return peak, trough, mdd


@njit(cache=True)
def _max_drawdown_end_nb(peak, trough, mdd):
    """The maximum drawdown once the last stretch below ``peak`` is closed."""
    dd = trough / peak - 1.0
    return dd if dd < mdd else mdd


@njit(cache=True)
def max_drawdown_nb(returns):
    """Most negative drawdown (<= 0) with the starting equity as first peak; 0.0 if empty."""
    equity = 1.0
    peak = 1.0
    trough = 1.0
    mdd = 0.0
    for i in range(returns.shape[0]):
        equity *= 1.0 + returns[i]
        peak, trough, mdd = _max_drawdown_step_nb(equity, peak, trough, mdd)
    return _max_drawdown_end_nb(peak, trough, mdd)


@njit(cache=True)
def _drawdown_amount_step_nb(e, peak, mdd):
    """One period of the running drawdown ``E - peak`` in currency: returns (peak, mdd)."""
    if e > peak:
        peak = e
    dd = e - peak
    if dd < mdd:
        mdd = dd
    return peak, mdd


@njit(cache=True)
def max_drawdown_amount_nb(equity, start):
    """Most negative ``E_t - max(start, E_1..E_t)`` in the equity's own units (<= 0)."""
    peak = start
    mdd = 0.0
    for i in range(equity.shape[0]):
        peak, mdd = _drawdown_amount_step_nb(equity[i], peak, mdd)
    return mdd


@njit(cache=True)
def _calmar_from_nb(n, ann, mdd):
    """ann / |mdd| (inf / NaN without drawdown, NaN for n = 0)."""
    if n == 0:
        return np.nan
    if mdd == 0.0:
        if ann > 0.0:
            return np.inf
        return np.nan
    return ann / -mdd


@njit(cache=True)
def calmar_ratio_nb(returns, ppy):
    """annualized_return / |max_drawdown| over the same returns.

    inf for a positive annual return without drawdown, NaN for zero return
    without drawdown or an empty array.
    """
    return _calmar_from_nb(returns.shape[0], annualized_return_nb(returns, ppy), max_drawdown_nb(returns))


@njit(cache=True)
def _acc_new_nb():
    """Running state of :func:`_acc_add_nb` before the first period."""
    # n, wealth, sum(r), sum(r - rf), downside ss, peak, trough, mdd, first r, all equal
    return 0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, True


@njit(cache=True)
def _acc_add_nb(acc, r, rf):
    """Fold one period's return into the running state (same sums, same order, as the kernels above)."""
    n, wealth, s0, s_rf, down, peak, trough, mdd, first, const = acc
    if n == 0:
        first = r
    elif r != first:
        const = False
    wealth *= 1.0 + r
    peak, trough, mdd = _max_drawdown_step_nb(wealth, peak, trough, mdd)
    return (n + 1, wealth, s0 + (r - 0.0), s_rf + (r - rf), _downside_step_nb(down, r, rf),
            peak, trough, mdd, first, const)


@njit(cache=True)
def return_metrics_from_nb(n, wealth, s_rf, down, mdd, sd0, sd, ppy, out):
    """Write the ``RM_*`` slots from a run's sums: one definition for every caller.

    ``wealth``: compounded ``prod(1 + r)``; ``s_rf``: ``sum(r - rf)``;
    ``down``: the downside sum of squares below ``rf``; ``mdd``: the maximum
    drawdown (<= 0, its last stretch closed); ``sd0`` / ``sd``: the sample
    standard deviations of ``r`` and of ``r - rf`` (unused for ``n < 2``).
    :func:`_acc_metrics_nb` (two-pass deviations) and the fused sweep kernel
    (:func:`engines._sweep_nb.sweep_fast_nb`, one pass) both call it.
    """
    total = wealth - 1.0
    ann = _annualized_from_nb(total + 1.0, n, ppy)  # as annualized_return_nb, to the last bit
    out[RM_TOTAL] = total
    out[RM_ANN_RETURN] = ann
    if n < 2:
        out[RM_ANN_VOL] = np.nan
        out[RM_SHARPE] = np.nan
    else:
        out[RM_ANN_VOL] = sd0 * np.sqrt(ppy)
        out[RM_SHARPE] = _sharpe_from_nb(n, s_rf / n, sd, ppy)
    out[RM_SORTINO] = _sortino_from_nb(n, s_rf / n if n > 0 else 0.0, down, ppy)
    out[RM_MAX_DD] = mdd
    out[RM_CALMAR] = _calmar_from_nb(n, ann, mdd)


@njit(cache=True)
def _acc_metrics_nb(acc, returns, ppy, rf, out):
    """Write the ``RM_*`` slots from the running state and ``returns`` (for the second pass)."""
    n, wealth, s0, s_rf, down, peak, trough, mdd, first, const = acc
    mdd = _max_drawdown_end_nb(peak, trough, mdd)
    sd0 = sd = np.nan
    if n >= 2:
        sd0 = _std_from_nb(returns, 0.0, n, s0 / n, const)
        sd = sd0 if rf == 0.0 else _std_from_nb(returns, rf, n, s_rf / n, const)
    return_metrics_from_nb(n, wealth, s_rf, down, mdd, sd0, sd, ppy, out)


@njit(cache=True)
def return_metrics_nb(returns, ppy, rf):
    """All return-based metrics in one call (for sweeps), slots ``RM_*``.

    ``rf`` is the per-period risk-free rate; it is also Sortino's target.
    One pass for the running sums, one for the standard deviation.
    """
    out = np.empty(N_RETURN_METRICS, dtype=np.float64)
    acc = _acc_new_nb()
    for i in range(returns.shape[0]):
        acc = _acc_add_nb(acc, returns[i], rf)
    _acc_metrics_nb(acc, returns, ppy, rf, out)
    return out


@njit(cache=True)
def equity_metrics_nb(equity, start, ppy, rf, returns, out):
    """Return metrics of an equity curve, and its drawdown in currency, in one pass.

    Returns are ``r_t = E_t / E_{t-1} - 1`` with ``E_{-1} = start``, written
    into ``returns`` (a buffer of at least ``equity``'s length, reused by the
    caller); the ``RM_*`` slots of ``out`` get :func:`return_metrics_nb` of
    them.  Returns :func:`max_drawdown_amount_nb` of ``(equity, start)``.
    """
    n = equity.shape[0]
    acc = _acc_new_nb()
    prev = start
    peak = start
    mdd = 0.0
    for i in range(n):
        e = equity[i]
        r = e / prev - 1.0
        prev = e
        returns[i] = r
        acc = _acc_add_nb(acc, r, rf)
        peak, mdd = _drawdown_amount_step_nb(e, peak, mdd)
    _acc_metrics_nb(acc, returns[:n], ppy, rf, out)
    return mdd


@njit(cache=True, inline='always')
def trade_acc_add_nb(acc, pnl):
    """Fold one closed trade's net PnL into the trade accumulator (slots ``TA_*``)."""
    acc[TA_N] += 1.0
    acc[TA_TOTAL] += pnl
    if pnl > 0.0:
        acc[TA_WINS] += 1.0
        acc[TA_GAINS] += pnl
    elif pnl < 0.0:
        acc[TA_LOSSES] -= pnl


@njit(cache=True)
def trade_metrics_nb(acc):
    """(win rate, profit factor, expectancy) per closed trade from the trade accumulator.

    NaN for no trade; profit factor inf for gains without losses, NaN for
    neither.
    """
    k = acc[TA_N]
    if k == 0.0:
        return np.nan, np.nan, np.nan
    gains = acc[TA_GAINS]
    losses = acc[TA_LOSSES]
    if losses == 0.0:
        pf = np.inf if gains > 0.0 else np.nan
    else:
        pf = gains / losses
    return acc[TA_WINS] / k, pf, acc[TA_TOTAL] / k
