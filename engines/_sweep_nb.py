"""Numba kernel of :func:`engines.sweep.sweep`: a parameter grid, streamed.

For each combination (a row of ``params``) the kernel computes the desired
sides with :func:`strategies._signals_nb.threshold_sides_nb`, runs the bar
loop of :func:`engines.simulate.simulate`'s kernel,
:func:`engines._sim_nb.simulate_into_nb` (so the fill rules exist once), without
position array and trade records (empty arrays) -- closed trades are
folded into running sums at their exit -- and reduces the equity curve to one
row of statistics in one pass with the metric kernels of
:mod:`engines._metrics_nb` (:func:`run_stats_nb`).  Nothing of shape
(bars x combinations) is ever built: each thread owns one equity and one
returns buffer of the bars' length, reused for its combinations, and the
threads run in parallel (``numba.prange``).  Besides the statistics,
the kernel keeps each combination's compounded per-session returns (a
sessions x combinations array) for the overfitting diagnostics of
:func:`engines.sweep.overfitting`.

The kernel does no validation; :func:`engines.sweep.sweep` checks every
argument and calls it.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from engines._metrics_nb import N_RETURN_METRICS, N_TRADE_ACC, TA_N, equity_metrics_nb, trade_metrics_nb
from engines._sim_nb import C_AMBIGUOUS, C_BLOWN, N_COUNTERS, TRADE_DTYPE, simulate_into_nb
from strategies._signals_nb import threshold_sides_nb

__all__ = [
    "N_PARAMS",
    "N_STATS",
    "P_LONG",
    "P_MAX_BARS",
    "P_MIN_HOLDING",
    "P_SHORT",
    "P_SL",
    "P_TP",
    "P_TRAIL",
    "ST_AMBIGUOUS",
    "ST_BLOWN_BAR",
    "ST_EXPECTANCY",
    "ST_EXPOSURE",
    "ST_FINAL_EQUITY",
    "ST_N_TRADES",
    "ST_PROFIT_FACTOR",
    "ST_RECOVERY",
    "ST_WIN_RATE",
    "run_stats_nb",
    "sweep_nb",
]

#: Columns of the ``params`` matrix (one row per combination).
P_LONG = 0
P_SHORT = 1
P_MIN_HOLDING = 2
P_SL = 3
P_TP = 4
P_TRAIL = 5
P_MAX_BARS = 6
N_PARAMS = 7

#: Columns of the statistics matrix: the ``RM_*`` slots of
#: :func:`engines._metrics_nb.return_metrics_nb` first (0..6), then these.
ST_RECOVERY = N_RETURN_METRICS
ST_N_TRADES = N_RETURN_METRICS + 1
ST_WIN_RATE = N_RETURN_METRICS + 2
ST_PROFIT_FACTOR = N_RETURN_METRICS + 3
ST_EXPECTANCY = N_RETURN_METRICS + 4
ST_EXPOSURE = N_RETURN_METRICS + 5
ST_FINAL_EQUITY = N_RETURN_METRICS + 6
ST_BLOWN_BAR = N_RETURN_METRICS + 7  # bar at whose close the account was blown, -1: never
ST_AMBIGUOUS = N_RETURN_METRICS + 8  # stop exits on bars that also held the take
N_STATS = N_RETURN_METRICS + 9


@njit(cache=True)
def run_stats_nb(equity, initial_equity, held, tacc, ppy, rf, returns, out):
    """Write one run's statistics into ``out`` (shape (:data:`N_STATS`,)).

    From what :func:`engines._sim_nb.simulate_into_nb` leaves: the equity
    curve, the number of bars held and the closed trades folded into
    ``tacc``; ``returns`` is a scratch buffer of the curve's length.  Same
    definitions as :func:`engines.metrics.summarize` called by
    :func:`engines.simulate.simulate`: returns ``E_t / E_{t-1} - 1`` with
    ``E_{-1} = initial_equity`` (:func:`engines._metrics_nb.equity_metrics_nb`,
    one pass); recovery factor on the equity curve in currency; trade
    statistics per *closed* trade (the ``"end"`` trade, still open at the end
    of the data, is left out), on net PnL
    (:func:`engines._metrics_nb.trade_metrics_nb`); exposure = share of bars
    with a non-zero position.
    """
    n = equity.shape[0]
    mdd = equity_metrics_nb(equity, initial_equity, ppy, rf, returns, out)
    # recovery factor: net profit / |max drawdown|, both in currency
    if n > 0:
        net = equity[n - 1] - initial_equity
        if mdd == 0.0:
            out[ST_RECOVERY] = np.inf if net > 0 else np.nan
        else:
            out[ST_RECOVERY] = net / -mdd
        out[ST_FINAL_EQUITY] = equity[n - 1]
    else:
        out[ST_RECOVERY] = np.nan
        out[ST_FINAL_EQUITY] = initial_equity
    out[ST_N_TRADES] = tacc[TA_N]
    out[ST_WIN_RATE], out[ST_PROFIT_FACTOR], out[ST_EXPECTANCY] = trade_metrics_nb(tacc)
    out[ST_EXPOSURE] = held / n if n > 0 else np.nan


@njit(cache=True, parallel=True)
def sweep_nb(proba, bars_to_close, flat_bars_before_close, allow_short, meta_p, meta_th,
             open_, high, low, close, session,
             size_mode, size_value, sigma, lot_size, min_qty, allow_fractional,
             atr, rearm, max_loss, max_loss_frac, max_trades, max_position,
             multiplier, commission_per_contract, commission_pct,
             slippage_ticks, tick_size, initial_equity, fill_on_close, margin,
             params, ppy, rf, session_last, n_workers):
    """Run the threshold strategy and the simulator for every row of ``params``.

    Parameters
    ----------
    proba, bars_to_close, flat_bars_before_close, allow_short, meta_p, meta_th :
        Arguments of :func:`strategies._signals_nb.threshold_sides_nb` that do
        not vary over the grid.
    open_ ... margin :
        Arguments of :func:`engines._sim_nb.simulate_nb` that do not vary over
        the grid (same meaning and order, stops excepted).
    params : ndarray of float64, shape (n_combos, :data:`N_PARAMS`)
        Per combination: long and short thresholds, minimum holding (bars),
        stop, take and trailing multiples of the ATR (<= 0: none), time stop
        in bars (<= 0: none) -- columns ``P_*``.
    ppy : float
        Periods per year (session calendar).
    rf : float
        Risk-free rate per period (also Sortino's target).
    session_last : ndarray of int64, shape (n_sessions,)
        Position of the last bar of each session, increasing (the last one is
        ``n_bars - 1``).
    n_workers : int
        Parallel workers (``numba.get_num_threads()``): worker ``w`` owns one
        equity and one returns buffer and runs combinations ``w, w +
        n_workers, ...``.  The results do not depend on it.

    Returns
    -------
    stats : ndarray of float64, shape (n_combos, :data:`N_STATS`)
        Statistics per combination: ``RM_*`` slots then ``ST_*`` columns.
    session_returns : ndarray of float64, shape (n_sessions, n_combos)
        Compounded return of each session per combination: equity at the
        session's last bar over equity at the previous session's last bar
        (the initial equity for the first session), minus 1.  They compound
        to the combination's total return; the overnight gap belongs to the
        next session.  Only this (sessions x combinations) array is kept.
    """
    n = open_.shape[0]
    n_combos = params.shape[0]
    n_sessions = session_last.shape[0]
    stats = np.empty((n_combos, N_STATS))
    session_returns = np.empty((n_sessions, n_combos))
    n_workers = max(1, min(n_combos, n_workers))
    for w in prange(n_workers):
        equity = np.empty(n)
        returns = np.empty(n)
        no_position = np.empty(0)
        no_trades = np.empty(0, dtype=TRADE_DTYPE)
        counters = np.empty(N_COUNTERS, dtype=np.int64)
        tacc = np.empty(N_TRADE_ACC)
        for c in range(w, n_combos, n_workers):
            sides = threshold_sides_nb(proba, params[c, P_LONG], params[c, P_SHORT],
                                       int(params[c, P_MIN_HOLDING]), bars_to_close,
                                       flat_bars_before_close, allow_short, meta_p, meta_th)
            counters[:] = 0
            tacc[:] = 0.0
            _, held = simulate_into_nb(
                open_, high, low, close, sides, session,
                size_mode, size_value, sigma, lot_size, min_qty, allow_fractional,
                atr, params[c, P_SL], params[c, P_TP], params[c, P_TRAIL], int(params[c, P_MAX_BARS]), rearm,
                max_loss, max_loss_frac, max_trades, max_position,
                multiplier, commission_per_contract, commission_pct,
                slippage_ticks, tick_size, initial_equity, fill_on_close, margin,
                no_position, equity, no_trades, counters, tacc)
            run_stats_nb(equity, initial_equity, held, tacc, ppy, rf, returns, stats[c])
            stats[c, ST_BLOWN_BAR] = counters[C_BLOWN] - 1
            stats[c, ST_AMBIGUOUS] = counters[C_AMBIGUOUS]
            prev = initial_equity
            for k in range(n_sessions):
                e = equity[session_last[k]]
                session_returns[k, c] = e / prev - 1.0
                prev = e
    return stats, session_returns
