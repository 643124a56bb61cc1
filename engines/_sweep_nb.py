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

from engines._metrics_nb import (
    N_RETURN_METRICS,
    N_TRADE_ACC,
    TA_N,
    _drawdown_amount_step_nb,
    _max_drawdown_step_nb,
    equity_metrics_nb,
    return_metrics_from_nb,
    trade_acc_add_nb,
    trade_metrics_nb,
)
from engines._sim_nb import (
    C_AMBIGUOUS,
    C_BLOWN,
    N_COUNTERS,
    TRADE_DTYPE,
    _leg_cost_nb,
    _market_fill_nb,
    simulate_into_nb,
)
from engines.contexts import RulesContext
from risk._decision_nb import decide_nb
from strategies._signals_nb import threshold_sides_nb, threshold_step_nb

__all__ = [
    "N_PARAMS",
    "N_STATS",
    "P_LONG",
    "P_MAX_BARS",
    "P_MIN_HOLDING",
    "P_PAYOFF",
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
    "sweep_fast_nb",
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
P_PAYOFF = 7      # Kelly sizing: the combination's payoff ratio (NaN for other sizing methods)
N_PARAMS = 8

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
    _account_stats_nb(n, equity[n - 1] if n > 0 else initial_equity, initial_equity, mdd, held, tacc, out)


@njit(cache=True)
def _account_stats_nb(n, final_equity, initial_equity, mdd_amount, held, tacc, out):
    """The ``ST_*`` slots after the return metrics: recovery factor (net profit / |max drawdown|, both
    in currency), trades, win rate, profit factor, expectancy, exposure and the final equity."""
    if n > 0:
        net = final_equity - initial_equity
        if mdd_amount == 0.0:
            out[ST_RECOVERY] = np.inf if net > 0 else np.nan
        else:
            out[ST_RECOVERY] = net / -mdd_amount
        out[ST_FINAL_EQUITY] = final_equity
    else:
        out[ST_RECOVERY] = np.nan
        out[ST_FINAL_EQUITY] = initial_equity
    out[ST_N_TRADES] = tacc[TA_N]
    out[ST_WIN_RATE], out[ST_PROFIT_FACTOR], out[ST_EXPECTANCY] = trade_metrics_nb(tacc)
    out[ST_EXPOSURE] = held / n if n > 0 else np.nan


@njit(cache=True, parallel=True)
def sweep_nb(sig, bars, ex, ru, params, ppy, rf, session_last, n_workers):
    """Run the threshold strategy and the simulator for every row of ``params``.

    Parameters
    ----------
    sig : :class:`engines.contexts.ThresholdInputs`
        What :func:`strategies._signals_nb.threshold_sides_nb` reads besides
        the thresholds.
    bars, ex, ru : SimBars, ExecContext, RulesContext
        As for :func:`engines._sim_nb.simulate_nb`; the stop fields of ``ru``
        are replaced by each combination's (``params``).
    params : ndarray of float64, shape (n_combos, :data:`N_PARAMS`)
        Per combination: long and short thresholds, minimum holding (bars),
        stop, take and trailing multiples of the ATR (<= 0: none), time stop
        in bars (<= 0: none), Kelly payoff ratio (NaN unless Kelly sizing) --
        columns ``P_*``.
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
    n = bars.open.shape[0]
    initial_equity = ex.initial_equity
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
            sides = threshold_sides_nb(sig.proba, params[c, P_LONG], params[c, P_SHORT],
                                       int(params[c, P_MIN_HOLDING]), sig.bars_to_close,
                                       sig.flat_bars_before_close, sig.allow_short, sig.meta_proba,
                                       sig.meta_threshold)
            counters[:] = 0
            tacc[:] = 0.0
            rc = RulesContext(ru.size_mode, ru.size_value, params[c, P_PAYOFF], ru.size_cap, params[c, P_SL],
                              params[c, P_TP], params[c, P_TRAIL],
                              int(params[c, P_MAX_BARS]), ru.rearm, ru.max_loss, ru.max_loss_frac,
                              ru.max_trades, ru.max_position)
            _, held = simulate_into_nb(bars, sides, ex, rc, no_position, equity, no_trades, counters, tacc)
            run_stats_nb(equity, initial_equity, held, tacc, ppy, rf, returns, stats[c])
            stats[c, ST_BLOWN_BAR] = counters[C_BLOWN] - 1
            stats[c, ST_AMBIGUOUS] = counters[C_AMBIGUOUS]
            prev = initial_equity
            for k in range(n_sessions):
                e = equity[session_last[k]]
                session_returns[k, c] = e / prev - 1.0
                prev = e
    return stats, session_returns


@njit(cache=True, parallel=True)
def sweep_fast_nb(sig, bars, ex, qty, rearm, params, ppy, rf, session_last):
    """:func:`sweep_nb` for a grid without stops, equity-based sizing, daily limits or margin.

    One fused pass per combination: the side of
    :func:`strategies._signals_nb.threshold_step_nb`, the fills of
    :func:`engines._sim_nb.simulate_into_nb` and the statistics of
    :func:`run_stats_nb`, bar by bar, with no array of the bars' length at
    all (no sides, no equity, no returns).  :func:`engines.sweep.sweep` takes
    it only when every combination qualifies: no stop, take, trailing or time
    stop; a fixed size ``qty`` (> 0, already rounded to the contract); no
    daily loss or trade-count limit; no margin; fills at the next open; every
    price finite.  Within that domain it runs the simulator's rules, in the
    same order, with the same floating-point operations on the equity, so the
    equity (and with it the final equity, trades, total and annualised
    return, drawdowns, exposure and the session returns) is bit for bit the
    simulator's; the tests hold it to that.

    The one difference is the sample standard deviation (annualised
    volatility, Sharpe): one pass, ``(sum r^2 - n mean^2) / (n - 1)``, instead
    of the second pass over a returns buffer (the two agree to ~1e-12
    relative here; exactly 0.0 when every return is equal, as there).  A bar
    whose equity did not change (flat, or an unchanged close) has a return of
    exactly 0: it is counted, not divided.

    Arguments as for :func:`sweep_nb` (``qty``: contracts per entry, ``rearm``:
    the rules' re-arm; the other rules are off); ``params`` columns
    ``P_SL`` .. ``P_MAX_BARS`` are ignored (all off).  One combination per
    parallel iteration; run it under ``numba.parallel_chunksize(1)`` so that
    threads take combinations as they free up (their costs differ with the
    time in position).  Nothing of the bars' length is allocated: memory is
    O(bars + combinations), the inputs plus the (sessions x combinations)
    returns.
    """
    n_combos = params.shape[0]
    n_sessions = session_last.shape[0]
    stats = np.empty((n_combos, N_STATS))
    session_returns = np.empty((n_sessions, n_combos))
    for c in prange(n_combos):  # the caller sets a chunk size of 1: combinations differ in cost
        _fast_one_nb(sig, bars, ex, params[c, P_LONG], params[c, P_SHORT], int(params[c, P_MIN_HOLDING]),
                     qty, rearm, ppy, rf, session_last, np.empty(N_TRADE_ACC), stats[c], session_returns[:, c])
    return stats, session_returns


@njit(cache=True, inline='always')
def _fast_exit_nb(eq, pos, qty, multiplier, px, mark, entry_px, entry_cost, cpc, cpct, tacc):
    """Close ``pos`` at fill ``px``: the simulator's exit (``_exit_nb``), same operations; returns the equity."""
    eq += pos * qty * multiplier * (px - mark)
    cost = _leg_cost_nb(qty, px, multiplier, cpc, cpct)
    eq -= cost
    trade_acc_add_nb(tacc, pos * qty * multiplier * (px - entry_px) - (entry_cost + cost))
    return eq


@njit(cache=True)
def _fast_one_nb(sig, bars, ex, long_th, short_th, min_holding, qty, rearm, ppy, rf, session_last, tacc, out,
                 sess_ret):
    """One combination of :func:`sweep_fast_nb` (see there); writes ``out`` and ``sess_ret``."""
    proba, bars_to_close, fbc, allow_short, meta_p, meta_th = sig
    use_meta = meta_p.shape[0] > 0
    open_, high, low, close, session = bars.open, bars.high, bars.low, bars.close, bars.session
    multiplier, cpc, cpct = ex.multiplier, ex.commission_per_contract, ex.commission_pct
    slip, initial_equity = ex.slippage_ticks * ex.tick_size, ex.initial_equity
    n = open_.shape[0]
    tacc[:] = 0.0
    # the strategy's own state (threshold_step_nb) and the account's
    dec_side = 0
    dec_held = 0
    pend = 0            # side decided at the previous bar, filled at this bar's open
    pos = 0
    mark = 0.0
    entry_px = 0.0
    entry_cost = 0.0
    eq = initial_equity
    blocked = 0
    blown_bar = -1
    held = 0
    # statistics, online: returns E_t / E_{t-1} - 1 (E_{-1} = initial equity)
    prev = initial_equity
    n_zero = 0          # bars whose return is exactly 0
    s1 = 0.0
    s2 = 0.0
    s_rf = 0.0
    down = 0.0
    have_nz = False     # a non-zero return was seen; all of them equal first_nz (const_nz)?
    first_nz = 0.0
    const_nz = True
    wealth = 1.0
    peak = 1.0
    trough = 1.0
    mdd = 0.0
    peak_c = initial_equity
    mdd_c = 0.0
    k = 0
    sess_prev = initial_equity
    i = 0
    while i < n:
        # flat, nothing pending and the rule flat: skip ahead to the next bar whose rule is not flat.
        # On the bars skipped nothing can happen (no fill, no mark, the equity and every running sum
        # unchanged: a return of exactly 0 each), except that a session may end.
        if pos == 0 and pend == 0 and dec_side == 0 and eq != 0.0:
            j = i
            while j < n:
                pj = proba[j]
                if (pj >= long_th or (allow_short and pj <= short_th)) and bars_to_close[j] > fbc \
                        and (not use_meta or meta_p[j] >= meta_th):
                    break
                if j == session_last[k]:
                    sess_ret[k] = eq / sess_prev - 1.0
                    sess_prev = eq
                    k += 1
                j += 1
            if j > i:
                n_zero += j - i
                blocked = 0   # the rule was flat on a bar: a blocked side is released
                i = j
                if i == n:
                    break
        last_of_session = i + 1 < n and session[i + 1] != session[i]
        # 1. the previous bar's decision, at this bar's open
        if pend != pos:
            if pos != 0:
                eq = _fast_exit_nb(eq, pos, qty, multiplier, _market_fill_nb(open_[i], -pos, slip, low[i], high[i]),
                                   mark, entry_px, entry_cost, cpc, cpct, tacc)
                pos = 0
            if pend != 0:
                px = _market_fill_nb(open_[i], pend, slip, low[i], high[i])
                entry_cost = _leg_cost_nb(qty, px, multiplier, cpc, cpct)
                eq -= entry_cost
                pos = pend
                mark = px
                entry_px = px
        # 3. mark at the close; a position still open on the session's last bar leaves at its close
        cs = pos
        if pos != 0:
            eq += pos * qty * multiplier * (close[i] - mark)
            mark = close[i]
            if last_of_session:
                eq = _fast_exit_nb(eq, pos, qty, multiplier, _market_fill_nb(close[i], -pos, slip, low[i], high[i]),
                                   mark, entry_px, entry_cost, cpc, cpct, tacc)
                pos = 0
                if rearm:
                    blocked = cs
        # 4. the decision of this bar
        meta_ok = not use_meta or meta_p[i] >= meta_th
        dec_side, dec_held = threshold_step_nb(proba[i], long_th, short_th, min_holding, bars_to_close[i],
                                               fbc, allow_short, meta_ok, dec_side, dec_held)
        if blown_bar < 0 and eq <= 0.0:
            blown_bar = i
        # the decision step every engine takes (no time stop, limits or close fills on this path)
        pend, _, blocked = decide_nb(dec_side, pos, blocked, rearm, False, False, False, blown_bar >= 0)
        if pos != 0:
            held += 1
        # statistics of this bar
        if eq != prev or eq == 0.0:  # (0 / 0 is NaN, as in the simulator's returns)
            r = eq / prev - 1.0
            prev = eq
            s1 += r
            s2 += r * r
            s_rf += r - rf
            d = min(r - rf, 0.0)
            down += d * d
            if not have_nz:
                first_nz = r
                have_nz = True
            elif r != first_nz:
                const_nz = False
            wealth *= 1.0 + r
            peak, trough, mdd = _max_drawdown_step_nb(wealth, peak, trough, mdd)
            peak_c, mdd_c = _drawdown_amount_step_nb(eq, peak_c, mdd_c)
        else:
            n_zero += 1
        if i == session_last[k]:
            sess_ret[k] = eq / sess_prev - 1.0
            sess_prev = eq
            k += 1
        i += 1
    # the statistics, as run_stats_nb writes them
    dd = trough / peak - 1.0
    if dd < mdd:
        mdd = dd
    s_rf -= n_zero * rf
    dz = min(-rf, 0.0)
    down += n_zero * (dz * dz)
    sd = np.nan
    if n >= 2:
        if n_zero == n or (n_zero == 0 and const_nz):
            sd = 0.0
        else:
            mean = s1 / n
            sd = np.sqrt(max((s2 - n * mean * mean) / (n - 1), 0.0))
    return_metrics_from_nb(n, wealth, s_rf, down, mdd, sd, sd, ppy, out)
    _account_stats_nb(n, eq, initial_equity, mdd_c, held, tacc, out)
    out[ST_BLOWN_BAR] = blown_bar
    out[ST_AMBIGUOUS] = 0.0
