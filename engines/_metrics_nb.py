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
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "N_RETURN_METRICS",
    "RM_ANN_RETURN",
    "RM_ANN_VOL",
    "RM_CALMAR",
    "RM_MAX_DD",
    "RM_SHARPE",
    "RM_SORTINO",
    "RM_TOTAL",
    "annualized_return_nb",
    "annualized_volatility_nb",
    "calmar_ratio_nb",
    "drawdown_nb",
    "max_drawdown_amount_nb",
    "max_drawdown_nb",
    "return_metrics_nb",
    "sharpe_ratio_nb",
    "sortino_ratio_nb",
    "total_return_nb",
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


@njit(cache=True)
def total_return_nb(returns):
    """prod(1 + r) - 1; 0.0 for an empty array."""
    wealth = 1.0
    for i in range(returns.shape[0]):
        wealth *= 1.0 + returns[i]
    return wealth - 1.0


@njit(cache=True)
def annualized_return_nb(returns, ppy):
    """Geometric annual return prod(1 + r) ** (ppy / n) - 1.

    NaN for an empty array; -1.0 when the equity reached zero or below (a
    wipe-out has no real-valued growth rate, and -100 % a year is its limit).
    """
    n = returns.shape[0]
    if n == 0:
        return np.nan
    wealth = total_return_nb(returns) + 1.0
    if wealth <= 0.0:
        return -1.0
    return wealth ** (ppy / n) - 1.0


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
def _std_nb(x, shift):
    """Sample standard deviation (ddof=1) of x - shift, two-pass; NaN if n < 2.

    Exactly 0.0 when all values are equal (a one-pass or naive two-pass formula
    leaves a rounding residue there that would blow a ratio up to 1e15).
    """
    n = x.shape[0]
    if n < 2:
        return np.nan
    if _is_constant_nb(x):
        return 0.0
    m = _mean_nb(x, shift)
    ss = 0.0
    for i in range(n):
        d = x[i] - shift - m
        ss += d * d
    return np.sqrt(ss / (n - 1))


@njit(cache=True)
def annualized_volatility_nb(returns, ppy):
    """std(r, ddof=1) * sqrt(ppy); NaN for fewer than 2 periods."""
    return _std_nb(returns, 0.0) * np.sqrt(ppy)


@njit(cache=True)
def sharpe_ratio_nb(returns, ppy, rf):
    """mean(r - rf) / std(r - rf, ddof=1) * sqrt(ppy).

    NaN for fewer than 2 periods or zero variance (constant returns).
    """
    n = returns.shape[0]
    if n < 2:
        return np.nan
    sd = _std_nb(returns, rf)
    if sd == 0.0:
        return np.nan
    return _mean_nb(returns, rf) / sd * np.sqrt(ppy)


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
        d = returns[i] - target
        if d < 0.0:
            ss += d * d
    m = _mean_nb(returns, target)
    if ss == 0.0:
        if m > 0.0:
            return np.inf
        return np.nan
    return m / np.sqrt(ss / n) * np.sqrt(ppy)


@njit(cache=True)
def drawdown_nb(returns):
    """Drawdown after each period, E_t / max(1, E_1..E_t) - 1 with E_0 = 1."""
    n = returns.shape[0]
    out = np.empty(n, dtype=np.float64)
    equity = 1.0
    peak = 1.0
    for i in range(n):
        equity *= 1.0 + returns[i]
        if equity > peak:
            peak = equity
        out[i] = equity / peak - 1.0
    return out


@njit(cache=True)
def max_drawdown_nb(returns):
    """Most negative drawdown (<= 0) with the starting equity as first peak; 0.0 if empty."""
    equity = 1.0
    peak = 1.0
    mdd = 0.0
    for i in range(returns.shape[0]):
        equity *= 1.0 + returns[i]
        if equity > peak:
            peak = equity
        dd = equity / peak - 1.0
        if dd < mdd:
            mdd = dd
    return mdd


@njit(cache=True)
def max_drawdown_amount_nb(equity, start):
    """Most negative ``E_t - max(start, E_1..E_t)`` in the equity's own units (<= 0)."""
    peak = start
    mdd = 0.0
    for i in range(equity.shape[0]):
        e = equity[i]
        if e > peak:
            peak = e
        dd = e - peak
        if dd < mdd:
            mdd = dd
    return mdd


@njit(cache=True)
def calmar_ratio_nb(returns, ppy):
    """annualized_return / |max_drawdown| over the same returns.

    inf for a positive annual return without drawdown, NaN for zero return
    without drawdown or an empty array.
    """
    if returns.shape[0] == 0:
        return np.nan
    ann = annualized_return_nb(returns, ppy)
    mdd = max_drawdown_nb(returns)
    if mdd == 0.0:
        if ann > 0.0:
            return np.inf
        return np.nan
    return ann / -mdd


@njit(cache=True)
def return_metrics_nb(returns, ppy, rf):
    """All return-based metrics in one call (for sweeps), slots ``RM_*``.

    ``rf`` is the per-period risk-free rate; it is also Sortino's target.
    """
    out = np.empty(N_RETURN_METRICS, dtype=np.float64)
    out[RM_TOTAL] = total_return_nb(returns)
    out[RM_ANN_RETURN] = annualized_return_nb(returns, ppy)
    out[RM_ANN_VOL] = annualized_volatility_nb(returns, ppy)
    out[RM_SHARPE] = sharpe_ratio_nb(returns, ppy, rf)
    out[RM_SORTINO] = sortino_ratio_nb(returns, ppy, rf)
    out[RM_MAX_DD] = max_drawdown_nb(returns)
    out[RM_CALMAR] = calmar_ratio_nb(returns, ppy)
    return out
