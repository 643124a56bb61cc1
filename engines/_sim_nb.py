"""Numba kernel of :func:`engines.simulate.simulate`: one strategy run, bar by bar.

The kernel does not validate; :func:`engines.simulate.simulate` checks every
argument and calls it.  Its plain-Python twin is
:func:`engines.simulate.simulate_py` (same arguments, same outputs), which the
tests compare with it on random inputs.  Its bar loop is
:func:`simulate_into_nb`, which the sweep kernel runs too, without position
array and trade records (empty arrays): one definition of the per-bar
step for both.  Sizes, stops and daily limits are the
kernels of :mod:`risk` (never a second copy); the sweep kernel and the
backtrader strategy follow the same rules.

Conventions (each one a rule of ``PITFALLS.md``; see :func:`simulate_nb`)
-------------------------------------------------------------------------
Fill *slots* inside a bar, in time order: 0 the open, 1 inside the bar (a stop
or a take), 2 the close.  Exit reasons: :data:`EXIT_SIGNAL` (0),
:data:`EXIT_STOP` (1), :data:`EXIT_TAKE` (2) -- the codes of
:mod:`risk.stops` --, :data:`EXIT_TIME` (3), :data:`EXIT_SESSION` (4),
:data:`EXIT_LIMIT` (5, daily loss limit), :data:`EXIT_END` (6: still open
at the end of the data, marked at the last close, no exit order) and
:data:`EXIT_BLOWN` (7: the account was blown, see :func:`simulate_nb`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from engines._metrics_nb import N_TRADE_ACC, trade_acc_add_nb
from risk._limits_nb import after_fill_update_nb, can_open_nb, loss_limit_hit_nb
from risk._limits_nb import new_limits_state_nb, new_session_reset_nb
from risk._sizing_nb import size_for_mode_nb
from risk._stops_nb import (
    atr_stop_levels_nb,
    check_exit_nb,
    exit_ambiguous_nb,
    time_stop_nb,
    trailing_stop_update_nb,
)

__all__ = [
    "C_AMBIGUOUS",
    "C_BLOWN",
    "C_LIMITS",
    "C_MARGIN",
    "C_NAN_PRICE",
    "C_NO_ATR",
    "C_ZERO_SIZE",
    "EXIT_BLOWN",
    "EXIT_END",
    "EXIT_LIMIT",
    "EXIT_SESSION",
    "EXIT_SIGNAL",
    "EXIT_STOP",
    "EXIT_TAKE",
    "EXIT_TIME",
    "N_COUNTERS",
    "SIZE_FIXED",
    "SIZE_FIXED_FRACTION",
    "SIZE_KELLY",
    "SIZE_VOL_TARGET",
    "SLOT_CLOSE",
    "SLOT_INTRABAR",
    "SLOT_OPEN",
    "TRADE_DTYPE",
    "simulate_into_nb",
    "simulate_nb",
]

from risk._decision_nb import (  # noqa: E402  (one home: risk)
    EXIT_BLOWN,
    EXIT_END,
    EXIT_LIMIT,
    EXIT_SESSION,
    EXIT_SIGNAL,
    EXIT_STOP,
    EXIT_TAKE,
    EXIT_TIME,
    decide_nb,
)

SLOT_OPEN = 0
SLOT_INTRABAR = 1
SLOT_CLOSE = 2

from risk._sizing_nb import SIZE_FIXED, SIZE_FIXED_FRACTION, SIZE_KELLY, SIZE_VOL_TARGET  # noqa: E402  (one home: risk)

#: Counters returned by the kernel (index -> what was counted).
C_NAN_PRICE = 0  # orders rejected because the fill price was NaN (PITFALLS 19)
C_NO_ATR = 1     # entries skipped: stops configured but the ATR at the decision was not > 0
C_ZERO_SIZE = 2  # entries skipped: the sizing rule gave 0 contracts
C_LIMITS = 3     # entries refused by the daily limits (trades per day, position cap)
C_MARGIN = 4     # entries refused: the equity does not cover the margin of the size
C_AMBIGUOUS = 5  # stop exits on bars that also held the take (stop assumed first, PITFALLS 6)
C_BLOWN = 6      # 1 + the bar at whose close the account was blown; 0: never
N_COUNTERS = 7

#: One record per trade (entry to exit).  Indices are bar positions; prices
#: are actual fills (slippage included); money in currency.
TRADE_DTYPE = np.dtype([
    ("signal_idx", np.int64),   # decision bar of the entry
    ("entry_idx", np.int64),    # bar of the entry fill
    ("exit_idx", np.int64),     # bar of the exit fill (last bar for EXIT_END)
    ("side", np.int64),         # +1 long, -1 short
    ("qty", np.float64),        # contracts, > 0
    ("entry_price", np.float64),
    ("exit_price", np.float64),
    ("gross_pnl", np.float64),  # side * qty * multiplier * (exit - entry)
    ("costs", np.float64),      # commissions of both legs (entry leg only for EXIT_END)
    ("net_pnl", np.float64),    # gross_pnl - costs
    ("exit_reason", np.int64),
    ("entry_slot", np.int64),
    ("exit_slot", np.int64),
    ("ambiguous", np.int64),    # 1: the exit bar held both the stop and the take (stop assumed first)
])

# Indices of the run's scalar state (a float64 array, so helpers can update it).
_SIDE = 0
_QTY = 1
_MARK = 2        # price at which the open position was last marked
_STOP = 3
_TAKE = 4
_TRAIL = 5       # trailing distance in points (NaN: none)
_SIG = 6         # decision bar of the open position
_ENTRY_BAR = 7
_EQ = 8          # equity, marked at _MARK
_K = 9           # trades so far (the open one included)
_ENTRY_PX = 10   # entry fill price of the open position
_ENTRY_COST = 11  # commission of its entry leg
_N_STATE = 12

# The run's constants travel to the fill helpers as the two contexts of
# :mod:`engines.contexts` (``ex``: execution, ``ru``: rules), read by name.


@njit(cache=True, inline='always')
def _market_fill_nb(ref, direction, slip, low, high):
    """``ref`` moved ``slip`` points against an order of sign ``direction``, clipped to [low, high]."""
    px = ref + direction * slip
    if px > high:
        px = high
    if px < low:
        px = low
    return px


@njit(cache=True, inline='always')
def _leg_cost_nb(qty, price, multiplier, commission_per_contract, commission_pct):
    """Commission of one leg: per contract plus a fraction of the fill notional (multiplier included)."""
    return qty * commission_per_contract + commission_pct * abs(price) * multiplier * qty


@njit(cache=True, inline='always')
def _flat_nb(S):
    """Position fields of the state when flat (no side, size, mark or levels)."""
    S[_SIDE] = 0.0
    S[_QTY] = 0.0
    S[_MARK] = math.nan
    S[_STOP] = math.nan
    S[_TAKE] = math.nan
    S[_TRAIL] = math.nan


@njit(cache=True, inline='always')
def _hot_nb(S):
    """The fields the bar loop reads on every bar, to be held in locals between fills."""
    return S[_SIDE], S[_QTY], S[_MARK], S[_STOP], S[_TAKE], S[_TRAIL], S[_SIG], S[_ENTRY_BAR], S[_EQ]


@njit(cache=True, inline='always')
def _sync_nb(S, mark, stop, eq):
    """Write back the fields the bar loop changes itself (marking, trailing stop) before a fill."""
    S[_MARK] = mark
    S[_STOP] = stop
    S[_EQ] = eq


@njit(cache=True, inline='always')
def _exit_nb(S, trades, record, tacc, lim, i, px, reason, slot, sess, ex, ambiguous=False):
    """Close the open position at fill price ``px``: fold its net PnL into ``tacc``
    and, when ``record``, complete its trade record (``ambiguous``: the exit bar
    held both levels)."""
    multiplier, cpc, cpct = ex.multiplier, ex.commission_per_contract, ex.commission_pct
    side = S[_SIDE]
    qty = S[_QTY]
    S[_EQ] += side * qty * multiplier * (px - S[_MARK])
    cost = _leg_cost_nb(qty, px, multiplier, cpc, cpct)
    S[_EQ] -= cost
    gross = side * qty * multiplier * (px - S[_ENTRY_PX])
    costs = S[_ENTRY_COST] + cost
    trade_acc_add_nb(tacc, gross - costs)
    if record:
        k = int(S[_K]) - 1
        trades[k]["exit_idx"] = i
        trades[k]["exit_price"] = px
        trades[k]["gross_pnl"] = gross
        trades[k]["costs"] = costs
        trades[k]["net_pnl"] = gross - costs
        trades[k]["exit_reason"] = reason
        trades[k]["exit_slot"] = slot
        trades[k]["ambiguous"] = 1 if ambiguous else 0
    after_fill_update_nb(lim, sess, S[_EQ], side * qty, 0.0)
    _flat_nb(S)


@njit(cache=True, inline='always')
def _enter_nb(S, trades, record, counters, lim, i, sig, target, ref, low, high, slot,
              dec_eq, dec_price, dec_atr, dec_sigma, dec_p, sess, ex, ru):
    """Open a position of side ``target`` at reference price ``ref`` if sizing and limits allow
    (``dec_*``: the decision bar's equity, close, ATR, sigma and probability of an up move)."""
    sl_mult, tp_mult, trail_mult, multiplier = ru.sl_mult, ru.tp_mult, ru.trail_mult, ex.multiplier
    max_position, margin = ru.max_position, ex.margin
    if (sl_mult > 0.0 or tp_mult > 0.0 or trail_mult > 0.0) and not (dec_atr > 0.0):
        counters[C_NO_ATR] += 1
        return
    px = _market_fill_nb(ref, target, ex.slippage_ticks * ex.tick_size, low, high)
    if px != px:
        counters[C_NAN_PRICE] += 1
        return
    p_win = dec_p if target > 0 else 1.0 - dec_p   # the entry side's win probability (Kelly)
    q = size_for_mode_nb(ru.size_mode, ru.size_value, dec_eq, dec_price, multiplier, sl_mult, dec_atr, dec_sigma,
                         p_win, ru.payoff_ratio, ru.size_cap, ex.lot_size, ex.min_qty, max_position,
                         ex.allow_fractional)
    if not (q > 0.0):
        counters[C_ZERO_SIZE] += 1
        return
    if margin > 0.0 and S[_EQ] < margin * q:
        counters[C_MARGIN] += 1
        return
    if not can_open_nb(lim, sess, S[_EQ], 0.0, target * q, ru.max_loss, ru.max_loss_frac,
                       ru.max_trades, max_position):
        counters[C_LIMITS] += 1
        return
    cost = _leg_cost_nb(q, px, multiplier, ex.commission_per_contract, ex.commission_pct)
    S[_EQ] -= cost
    S[_SIDE] = target
    S[_QTY] = q
    S[_MARK] = px
    stop, take = atr_stop_levels_nb(ref, target, dec_atr, sl_mult, tp_mult)
    S[_STOP] = stop
    S[_TAKE] = take
    S[_TRAIL] = trail_mult * dec_atr if trail_mult > 0.0 else math.nan
    S[_SIG] = sig
    S[_ENTRY_BAR] = i
    S[_ENTRY_PX] = px
    S[_ENTRY_COST] = cost
    k = int(S[_K])
    if record:
        trades[k]["signal_idx"] = sig
        trades[k]["entry_idx"] = i
        trades[k]["exit_idx"] = -1
        trades[k]["side"] = target
        trades[k]["qty"] = q
        trades[k]["entry_price"] = px
        trades[k]["exit_price"] = math.nan
        trades[k]["gross_pnl"] = math.nan
        trades[k]["costs"] = cost
        trades[k]["net_pnl"] = math.nan
        trades[k]["exit_reason"] = -1
        trades[k]["entry_slot"] = slot
        trades[k]["exit_slot"] = -1
        trades[k]["ambiguous"] = 0
    S[_K] = k + 1
    after_fill_update_nb(lim, sess, S[_EQ], 0.0, target * q)


@njit(cache=True, inline='always')
def _transition_nb(S, trades, record, tacc, counters, lim, i, cs, target, reason, price, low_i, high_i, slot,
                   sig_idx, dec_eq, dec_price, dec_atr, dec_sigma, dec_p, sess, ex, ru):
    """Move from side ``cs`` to ``target`` at ``price`` (a bar's open or close):
    exit the current position at a market fill (rejected, and nothing else done,
    when the price is NaN), then enter ``target`` sized from the decision bar.
    Returns True when an entry was attempted."""
    if cs != 0:
        px = _market_fill_nb(price, -cs, ex.slippage_ticks * ex.tick_size, low_i, high_i)
        if px != px:
            counters[C_NAN_PRICE] += 1
            return False
        _exit_nb(S, trades, record, tacc, lim, i, px, reason, slot, sess, ex)
    if target != 0:
        _enter_nb(S, trades, record, counters, lim, i, sig_idx, target, price, low_i, high_i,
                  slot, dec_eq, dec_price, dec_atr, dec_sigma, dec_p, sess, ex, ru)
        return True
    return False


@njit(cache=True)
def simulate_nb(bars, sides, ex, ru):
    """Simulate one strategy run on one instrument.

    Parameters
    ----------
    bars : :class:`engines.contexts.SimBars`
        ``open``, ``high``, ``low``, ``close``, ``session``, ``atr``, ``sigma``, ``proba``.
    sides : ndarray of int8, shape (n,)
        Desired side decided with each bar's data (+1, 0, -1).
    ex : :class:`engines.contexts.ExecContext`
        Contract, costs, capital and fill timing.
    ru : :class:`engines.contexts.RulesContext`
        Sizing, stops and daily limits.

    The fields, by name (one context or the other):

    open, high, low, close : ndarray of float64, shape (n,)
        Bar prices in points.
    session : ndarray of int64, shape (n,)
        Session number per bar.
    size_mode : int
        :data:`SIZE_FIXED` (``size_value`` contracts), :data:`SIZE_FIXED_FRACTION`
        (``size_value`` = fraction of equity at risk: per stop distance
        ``sl_mult * atr`` when ``sl_mult > 0``, else of notional) or
        :data:`SIZE_VOL_TARGET` (``size_value`` = per-bar volatility target,
        ``sigma`` the per-bar return volatility).
    size_value : float
    sigma : ndarray of float64, shape (n,)
        Volatility for :data:`SIZE_VOL_TARGET` (unused otherwise).
    proba : ndarray of float64, shape (n,)
        Probability of an up move for :data:`risk._sizing_nb.SIZE_KELLY`
        (the win probability of a long; ``1 - proba`` of a short).
    payoff_ratio, size_cap : float
        Kelly sizing's payoff ratio and cap (:meth:`risk.Sizing.kelly_args`).
    lot_size, min_qty, allow_fractional :
        Contract rounding (:meth:`risk.ContractSpec.kernel_args`).
    atr : ndarray of float64, shape (n,)
        ATR in points known at each bar's close.
    sl_mult, tp_mult, trail_mult : float
        Stop, take and trailing distances in ATRs of the decision bar
        (<= 0 disables each).
    max_bars : int
        Time stop in bars held, entry bar counted as 1 (<= 0 disables).
    rearm : bool
        After a forced exit (stop, take, time, session, loss limit) the same
        side is re-entered only once the desired side has first changed.
    max_loss, max_loss_frac, max_trades, max_position :
        Daily limits (:meth:`risk.DailyLimits.kernel_args`).
    multiplier : float
        Currency per point per contract (WDO: 10).
    commission_per_contract : float
        Currency per contract per leg.
    commission_pct : float
        Fraction of the fill notional ``price * multiplier * qty`` per leg.
    slippage_ticks, tick_size : float
        Adverse slippage ``slippage_ticks * tick_size`` points on market fills.
    initial_equity : float
    fill_on_close : bool
        Fill decisions at their own bar's close instead of the next open.
    margin : float
        Margin per contract in currency (0: none).  An entry whose size the
        equity does not cover is refused (:data:`C_MARGIN`).

    Returns
    -------
    position : ndarray of float64, shape (n,)
        Signed contracts held at each bar's close, after that bar's fills.
    equity : ndarray of float64, shape (n,)
        Equity at each bar's close, marked to market, net of every cost paid.
    trades : structured ndarray of :data:`TRADE_DTYPE`
        One record per trade, in entry order.
    counters : ndarray of int64, shape (:data:`N_COUNTERS`,)
        Orders rejected / entries skipped, by cause (``C_*``).

    Notes
    -----
    Per bar ``i`` (default, ``fill_on_close=False``), in this order:

    0. First bar of a session: the daily-limit state starts the session with
       the equity at the previous close.
    1. **Open** (slot 0): the side decided at bar ``i - 1`` is executed at
       bar ``i``'s open -- never earlier (PITFALLS 1).  If it differs from the
       position's side, the position is closed (a market order), then a
       position of the new side (if not flat) is opened, sized by the
       :mod:`risk` kernel with the equity and close of the decision bar and
       truncated to whole lots, if the daily limits allow.  A reversal is two
       legs at the same price.
    2. **Inside the bar** (slot 1): :func:`risk._stops_nb.check_exit_nb` with
       the levels as they stood at the previous close, from the entry bar on
       (never on the signal bar, PITFALLS 3): a gap through the stop fills at
       the open (4), stop before take when both lie in the bar (6).  The
       position is flat after it.  Then the trailing stop ratchets with this
       bar's high / low (first checked on the next bar).
    3. **Close** (slot 2): equity is marked to market,
       ``qty * multiplier * (close - previous mark)`` in currency.  On the
       last bar of a session (the next bar belongs to another session) a
       position still open is closed at this close (:data:`EXIT_SESSION`): a
       backstop for data with missing bars, since a strategy flat
       ``flat_bars_before_close`` bars early has already left (PITFALLS 13).
       A still-open position is never closed at the end of the data: its
       trade is reported as :data:`EXIT_END`, marked at the last close.
    4. **Decision**: the account is *blown* when the marked equity is <= 0,
       or below ``margin`` times the contracts held (one lot when flat):
       from then on every decision is flat -- an open position is closed at
       the next open (:data:`EXIT_BLOWN`) and nothing is opened again; the
       bar is recorded in ``counters[C_BLOWN]`` (bar + 1); with
       ``fill_on_close`` the rule is applied again right after an entry at
       the close, to the equity marked there (its slippage and commission
       can take it below zero).  Then
       the daily loss limit is checked on the marked equity
       (halted: flatten at the next open, no entry for the rest of the
       session); the time stop flags a position held ``max_bars`` bars
       (entry bar = 1) for an exit at the next open; then the desired side
       ``sides[i]`` (overridden to flat by the time stop, the loss limit or
       ``rearm``) is queued for bar ``i + 1``'s open.

    With ``fill_on_close=True`` (documented option, PITFALLS 1) step 1 is
    skipped and the decision of bar ``i`` is executed at bar ``i``'s close
    (slot 2), after the stop check of step 2 (from the bar after the entry on),
    the marking and the time stop (exit at this close); on a session's last
    bar the executed side is flat.

    Fills: levels of the stops are ``entry reference -/+ mult * ATR`` with the
    reference the raw open (close) of the fill bar and the ATR of the decision
    bar.  Market fills (entries, signal / time / session / limit exits and
    stop exits) move ``slippage_ticks * tick_size`` points against the order;
    take-profit fills get no slippage (PITFALLS 5).  Every fill is clipped to
    its bar's [low, high] (PITFALLS 7).  Fill prices are not rounded to the
    tick grid.  Commission on each leg: ``qty * commission_per_contract +
    commission_pct * price * multiplier * qty`` on the actual fill price
    (PITFALLS 9).  An order whose fill price is NaN is rejected and counted
    (PITFALLS 19).
    """
    n = bars.open.shape[0]
    position = np.zeros(n)
    equity = np.zeros(n)
    trades = np.empty(n + 1, dtype=TRADE_DTYPE)
    counters = np.zeros(N_COUNTERS, dtype=np.int64)
    k, _ = simulate_into_nb(bars, sides, ex, ru, position, equity, trades, counters, np.zeros(N_TRADE_ACC))
    return position, equity, trades[:k].copy(), counters


@njit(cache=True)
def simulate_into_nb(bars, sides, ex, ru, position, equity, trades, counters, tacc):
    """The bar loop of :func:`simulate_nb`, writing into buffers the caller owns.

    :func:`simulate_nb` calls it with room for the records; the sweep kernel
    calls it without (empty ``position`` and ``trades``: ``record`` is False)
    and reuses its buffers across combinations, so one run allocates nothing
    of the bars' length.  The fills, costs, stops and limits are the same code
    in both cases (and one compiled function: ``record`` is read from the
    arrays, not passed as a constant that numba would compile twice).

    Parameters
    ----------
    bars, sides, ex, ru :
        As for :func:`simulate_nb`.
    position : ndarray of float64, shape (n,), or (0,)
        Signed contracts at each bar's close, written when ``record``.
    equity : ndarray of float64, shape (>= n,)
        Equity at each bar's close, always written.
    trades : structured ndarray of :data:`TRADE_DTYPE`, shape (n + 1,), or (0,)
        The trade records, written when ``record``: ``record`` is
        ``trades.shape[0] > 0``.
    counters : ndarray of int64, shape (:data:`N_COUNTERS`,), zeros
    tacc : ndarray of float64, shape (:data:`engines._metrics_nb.N_TRADE_ACC`,), zeros
        Every *closed* trade's net PnL is folded in at its exit
        (:func:`engines._metrics_nb.trade_acc_add_nb`); a trade still open at
        the end of the data (:data:`EXIT_END`) is not.

    Returns
    -------
    n_trades : int
        Trades opened (the still-open one included).
    held : int
        Bars with a non-zero position at their close (for the exposure).
    """
    open_, high, low, close, session, atr, sigma, proba = bars
    n = open_.shape[0]
    record = trades.shape[0] > 0
    lim = new_limits_state_nb()
    max_loss, max_loss_frac, max_bars, rearm = ru.max_loss, ru.max_loss_frac, ru.max_bars, ru.rearm
    limits_on = max_loss > 0.0 or max_loss_frac > 0.0  # else the loss limit is never hit
    stops_on = ru.sl_mult > 0.0 or ru.tp_mult > 0.0 or ru.trail_mult > 0.0  # else no level is ever set
    slip = ex.slippage_ticks * ex.tick_size
    multiplier, margin, min_qty, lot_size = ex.multiplier, ex.margin, ex.min_qty, ex.lot_size
    fill_on_close, initial_equity = ex.fill_on_close, ex.initial_equity
    one_lot = min_qty if min_qty > 0.0 else lot_size
    blown = False
    S = np.empty(_N_STATE)
    _flat_nb(S)
    S[_SIG] = -1.0
    S[_ENTRY_BAR] = -1.0
    S[_EQ] = initial_equity
    S[_K] = 0.0
    S[_ENTRY_PX] = math.nan
    S[_ENTRY_COST] = math.nan
    # the fields every bar reads live in locals; S is synced around each fill (_sync_nb, _hot_nb)
    side, qty, mark, stop, take, trail, sig, entry_bar, eq = _hot_nb(S)
    held = 0
    first_of_session = True
    blocked = 0
    pend_valid = False
    pend_target = 0
    pend_reason = EXIT_SIGNAL
    pend_sig = -1
    pend_eq = 0.0

    for i in range(n):
        sess = float(session[i])
        if first_of_session:
            new_session_reset_nb(lim, sess, eq)
        last_of_session = i + 1 < n and session[i + 1] != session[i]

        # 1. the previous bar's decision, at this bar's open
        if not fill_on_close and pend_valid:
            pend_valid = False
            cs = int(side)
            if pend_target != cs:
                # sized with the decision bar's equity, close, ATR and sigma
                _sync_nb(S, mark, stop, eq)
                _transition_nb(S, trades, record, tacc, counters, lim, i, cs, pend_target, pend_reason,
                               open_[i], low[i], high[i], SLOT_OPEN, pend_sig, pend_eq, close[pend_sig],
                               atr[pend_sig], sigma[pend_sig], proba[pend_sig], sess, ex, ru)
                side, qty, mark, stop, take, trail, sig, entry_bar, eq = _hot_nb(S)

        # 2. stops and takes inside the bar, then the trailing stop
        cs = int(side)
        first_check = entry_bar + (1.0 if fill_on_close else 0.0)
        if stops_on and cs != 0 and i >= first_check:
            code, px = check_exit_nb(cs, open_[i], high[i], low[i], stop, take)
            if code != 0:
                amb = False
                if code == EXIT_STOP:
                    px = _market_fill_nb(px, -cs, slip, low[i], high[i])
                    amb = exit_ambiguous_nb(cs, open_[i], high[i], low[i], stop, take)
                    if amb:
                        counters[C_AMBIGUOUS] += 1
                _sync_nb(S, mark, stop, eq)
                _exit_nb(S, trades, record, tacc, lim, i, px, code, SLOT_INTRABAR, sess, ex, amb)
                side, qty, mark, stop, take, trail, sig, entry_bar, eq = _hot_nb(S)
                if rearm:
                    blocked = cs
            else:
                stop = trailing_stop_update_nb(cs, stop, high[i], low[i], trail)

        # 3. mark to market at the close
        cs = int(side)
        if cs != 0 and close[i] == close[i]:
            eq += cs * qty * multiplier * (close[i] - mark)
            mark = close[i]
        time_up = cs != 0 and time_stop_nb(i - sig, max_bars)
        if not fill_on_close and cs != 0 and last_of_session:
            px = _market_fill_nb(close[i], -cs, slip, low[i], high[i])
            if px != px:
                counters[C_NAN_PRICE] += 1
            else:
                _sync_nb(S, mark, stop, eq)
                _exit_nb(S, trades, record, tacc, lim, i, px, EXIT_SESSION, SLOT_CLOSE, sess, ex)
                side, qty, mark, stop, take, trail, sig, entry_bar, eq = _hot_nb(S)
                if rearm:
                    blocked = cs
                cs = 0
                time_up = False

        # 4. the decision of this bar
        halted = limits_on and loss_limit_hit_nb(lim, sess, eq, max_loss, max_loss_frac)
        # the account: blown at or below zero equity, or below the margin of what is held
        if not blown and (eq <= 0.0 or (margin > 0.0 and eq < margin * (qty if cs != 0 else one_lot))):
            blown = True
            counters[C_BLOWN] = i + 1
        desired, reason, blocked = decide_nb(int(sides[i]), cs, blocked, rearm, time_up, halted,
                                             fill_on_close and last_of_session, blown)

        if fill_on_close:
            if desired != cs:
                _sync_nb(S, mark, stop, eq)
                entered = _transition_nb(S, trades, record, tacc, counters, lim, i, cs, desired, reason,
                                         close[i], low[i], high[i], SLOT_CLOSE, i, eq, close[i], atr[i],
                                         sigma[i], proba[i], sess, ex, ru)
                # an entry at the close (with slippage) is marked to that close too
                if entered and S[_SIDE] != 0.0:
                    S[_EQ] += S[_SIDE] * S[_QTY] * multiplier * (close[i] - S[_MARK])
                    S[_MARK] = close[i]
                    # ... and the account rule is applied to that marked equity at once
                    if not blown and (S[_EQ] <= 0.0 or (margin > 0.0 and S[_EQ] < margin * S[_QTY])):
                        blown = True
                        counters[C_BLOWN] = i + 1
                side, qty, mark, stop, take, trail, sig, entry_bar, eq = _hot_nb(S)
        else:
            pend_valid = True
            pend_target = desired
            pend_reason = reason
            pend_sig = i
            pend_eq = eq

        if record:
            position[i] = side * qty
        if side != 0.0:
            held += 1
        equity[i] = eq
        first_of_session = last_of_session

    _sync_nb(S, mark, stop, eq)
    k = int(S[_K])
    if record and S[_SIDE] != 0.0:
        t = k - 1
        last = close[n - 1]
        if last != last:
            last = S[_MARK]
        gross = S[_SIDE] * S[_QTY] * multiplier * (last - trades[t]["entry_price"])
        trades[t]["exit_idx"] = n - 1
        trades[t]["exit_price"] = last
        trades[t]["gross_pnl"] = gross
        trades[t]["net_pnl"] = gross - trades[t]["costs"]
        trades[t]["exit_reason"] = EXIT_END
        trades[t]["exit_slot"] = SLOT_CLOSE
        trades[t]["ambiguous"] = 0
    return k, held
