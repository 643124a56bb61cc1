"""Numba kernel of :func:`engines.sweep.sweep`: a parameter grid, streamed.

For each combination (a row of ``params``) the kernel computes the desired
sides with :func:`strategies._signals_nb.threshold_sides_nb`, runs
:func:`engines._sim_nb.simulate_nb` -- the very kernel of
:func:`engines.simulate.simulate`, so the fill rules exist once -- and reduces
the run to one row of statistics with the metric kernels of
:mod:`engines._metrics_nb`.  Nothing of shape (bars x combinations) is ever
built: each combination's arrays live only while its row is computed, and the
combinations run in parallel (``numba.prange``).  Besides the statistics,
the kernel keeps each combination's compounded per-session returns (a
sessions x combinations array) for the overfitting diagnostics of
:func:`engines.sweep.overfitting`.

The kernel does no validation; :func:`engines.sweep.sweep` checks every
argument and calls it.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from engines._metrics_nb import (
    N_RETURN_METRICS,
    max_drawdown_amount_nb,
    return_metrics_nb,
)
from engines._sim_nb import EXIT_END, simulate_nb
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
N_STATS = N_RETURN_METRICS + 7


@njit(cache=True)
def run_stats_nb(position, equity, trades, initial_equity, ppy, rf, out):
    """Write one run's statistics into ``out`` (shape (:data:`N_STATS`,)).

    Same definitions as :func:`engines.metrics.summarize` called by
    :func:`engines.simulate.simulate`: returns ``E_t / E_{t-1} - 1`` with
    ``E_{-1} = initial_equity``; recovery factor on the equity curve in
    currency; trade statistics per *closed* trade (the ``"end"`` trade, still
    open at the end of the data, is left out), on net PnL; exposure = share
    of bars with a non-zero position.
    """
    n = equity.shape[0]
    r = np.empty(n)
    prev = initial_equity
    for i in range(n):
        r[i] = equity[i] / prev - 1.0
        prev = equity[i]
    m = return_metrics_nb(r, ppy, rf)
    for j in range(N_RETURN_METRICS):
        out[j] = m[j]
    # recovery factor: net profit / |max drawdown|, both in currency
    if n > 0:
        net = equity[n - 1] - initial_equity
        mdd = max_drawdown_amount_nb(equity, initial_equity)
        if mdd == 0.0:
            out[ST_RECOVERY] = np.inf if net > 0 else np.nan
        else:
            out[ST_RECOVERY] = net / -mdd
        out[ST_FINAL_EQUITY] = equity[n - 1]
    else:
        out[ST_RECOVERY] = np.nan
        out[ST_FINAL_EQUITY] = initial_equity
    # per closed trade
    k = 0
    wins = 0
    gains = 0.0
    losses = 0.0
    total = 0.0
    for t in range(trades.shape[0]):
        if trades[t]["exit_reason"] == EXIT_END:
            continue
        pnl = trades[t]["net_pnl"]
        k += 1
        total += pnl
        if pnl > 0.0:
            wins += 1
            gains += pnl
        elif pnl < 0.0:
            losses -= pnl
    out[ST_N_TRADES] = k
    if k == 0:
        out[ST_WIN_RATE] = np.nan
        out[ST_PROFIT_FACTOR] = np.nan
        out[ST_EXPECTANCY] = np.nan
    else:
        out[ST_WIN_RATE] = wins / k
        if losses == 0.0:
            out[ST_PROFIT_FACTOR] = np.inf if gains > 0.0 else np.nan
        else:
            out[ST_PROFIT_FACTOR] = gains / losses
        out[ST_EXPECTANCY] = total / k
    held = 0
    for i in range(n):
        if position[i] != 0.0:
            held += 1
    out[ST_EXPOSURE] = held / n if n > 0 else np.nan


@njit(cache=True, parallel=True)
def sweep_nb(proba, bars_to_close, flat_bars_before_close, allow_short, meta_p, meta_th,
             open_, high, low, close, session,
             size_mode, size_value, sigma, lot_size, min_qty, allow_fractional,
             atr, rearm, max_loss, max_loss_frac, max_trades, max_position,
             multiplier, commission_per_contract, commission_pct,
             slippage_ticks, tick_size, initial_equity, fill_on_close,
             params, ppy, rf, session_last):
    """Run the threshold strategy and the simulator for every row of ``params``.

    Parameters
    ----------
    proba, bars_to_close, flat_bars_before_close, allow_short, meta_p, meta_th :
        Arguments of :func:`strategies._signals_nb.threshold_sides_nb` that do
        not vary over the grid.
    open_ ... fill_on_close :
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
    n_combos = params.shape[0]
    n_sessions = session_last.shape[0]
    stats = np.empty((n_combos, N_STATS))
    session_returns = np.empty((n_sessions, n_combos))
    for c in prange(n_combos):
        sides = threshold_sides_nb(proba, params[c, P_LONG], params[c, P_SHORT],
                                   int(params[c, P_MIN_HOLDING]), bars_to_close,
                                   flat_bars_before_close, allow_short, meta_p, meta_th)
        position, equity, trades, _ = simulate_nb(
            open_, high, low, close, sides, session,
            size_mode, size_value, sigma, lot_size, min_qty, allow_fractional,
            atr, params[c, P_SL], params[c, P_TP], params[c, P_TRAIL], int(params[c, P_MAX_BARS]), rearm,
            max_loss, max_loss_frac, max_trades, max_position,
            multiplier, commission_per_contract, commission_pct,
            slippage_ticks, tick_size, initial_equity, fill_on_close)
        run_stats_nb(position, equity, trades, initial_equity, ppy, rf, stats[c])
        prev = initial_equity
        for k in range(n_sessions):
            e = equity[session_last[k]]
            session_returns[k, c] = e / prev - 1.0
            prev = e
    return stats, session_returns
