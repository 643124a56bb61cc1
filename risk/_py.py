"""Plain-Python twins of the kernels in :mod:`risk._sizing_nb`, :mod:`risk._stops_nb`
and :mod:`risk._limits_nb`.

Same names with the ``_py`` suffix, same arguments, same outputs; written for
reading.  The tests compare them with the numba kernels.  Setting
``risk._checks.PURE_PYTHON = True`` makes the public functions of
:mod:`risk` run these twins, for readable tracebacks.
"""

from __future__ import annotations

import math

import numpy as np

from risk._limits_nb import N_LIMIT_STATE, S_HALTED, S_SESSION, S_START_EQ, S_TRADES, _POS_EPS
from risk._sizing_nb import QTY_EPS
from risk._stops_nb import EXIT_NONE, EXIT_STOP, EXIT_TAKE

__all__ = [
    "after_fill_update_py",
    "atr_stop_levels_py",
    "can_open_py",
    "check_exit_py",
    "finalize_quantity_py",
    "fixed_contracts_py",
    "fixed_fraction_py",
    "is_entry_py",
    "kelly_fraction_py",
    "kelly_size_py",
    "loss_limit_hit_py",
    "new_limits_state_py",
    "new_session_reset_py",
    "round_quantity_py",
    "round_to_tick_py",
    "time_stop_py",
    "trailing_stop_update_py",
    "vol_stop_levels_py",
    "volatility_target_array_py",
    "volatility_target_py",
]


def _positive(x) -> bool:
    """x > 0, False for NaN."""
    return x > 0.0


# --------------------------------------------------------------------------- sizing
def round_quantity_py(qty, lot_size, allow_fractional):
    """Twin of :func:`~risk._sizing_nb.round_quantity_nb`."""
    if not math.isfinite(qty):
        return 0.0
    if allow_fractional:
        if not _positive(lot_size):
            return qty
        lot = lot_size
    else:
        lot = math.floor(lot_size) if lot_size >= 1.0 else 1.0
    lots = abs(qty) / lot
    whole = math.floor(lots)
    if lots > whole and (whole + 1.0) - lots <= QTY_EPS * max(1.0, lots):
        whole += 1.0  # float noise just below a whole lot
    if whole == 0.0:
        return 0.0
    return -(whole * lot) if qty < 0.0 else whole * lot


def round_to_tick_py(price, tick_size, direction):
    """Twin of :func:`~risk._sizing_nb.round_to_tick_nb`."""
    if not _positive(tick_size) or not math.isfinite(price):
        return price
    ticks = price / tick_size
    nearest = math.floor(ticks + 0.5)
    if abs(ticks - nearest) <= QTY_EPS * max(1.0, abs(ticks)):
        return nearest * tick_size
    if direction < 0:
        return math.floor(ticks) * tick_size
    if direction > 0:
        return math.ceil(ticks) * tick_size
    return nearest * tick_size


def finalize_quantity_py(raw_qty, lot_size, min_qty, max_position, allow_fractional):
    """Twin of :func:`~risk._sizing_nb.finalize_quantity_nb`."""
    if not _positive(raw_qty) or not math.isfinite(raw_qty):
        return 0.0
    if raw_qty > max_position:
        raw_qty = max_position
    q = round_quantity_py(raw_qty, lot_size, allow_fractional)
    return 0.0 if (q < min_qty or q <= 0.0) else q


def fixed_contracts_py(n_contracts, lot_size, min_qty, max_position, allow_fractional):
    """Twin of :func:`~risk._sizing_nb.fixed_contracts_nb`."""
    return finalize_quantity_py(n_contracts, lot_size, min_qty, max_position, allow_fractional)


def fixed_fraction_py(equity, fraction, price, multiplier, stop_distance,
                      lot_size, min_qty, max_position, allow_fractional):
    """Twin of :func:`~risk._sizing_nb.fixed_fraction_nb`."""
    if not (_positive(equity) and _positive(fraction) and _positive(multiplier)):
        return 0.0
    if not math.isnan(stop_distance):
        if not _positive(stop_distance):
            return 0.0
        risk_per_contract = stop_distance * multiplier  # currency lost at the stop
    else:
        if not _positive(price):
            return 0.0
        risk_per_contract = price * multiplier  # notional of one contract
    raw = fraction * equity / risk_per_contract
    return finalize_quantity_py(raw, lot_size, min_qty, max_position, allow_fractional)


def volatility_target_py(equity, target_vol, sigma, price, multiplier,
                         lot_size, min_qty, max_position, allow_fractional):
    """Twin of :func:`~risk._sizing_nb.volatility_target_nb`."""
    if not all(_positive(x) for x in (equity, target_vol, sigma, price, multiplier)):
        return 0.0
    raw = target_vol * equity / (sigma * price * multiplier)
    return finalize_quantity_py(raw, lot_size, min_qty, max_position, allow_fractional)


def decide_py(desired, cs, blocked, rearm, time_up, halted, session_end, blown):
    """Twin of :func:`~risk._decision_nb.decide_nb`."""
    from risk._decision_nb import EXIT_BLOWN, EXIT_LIMIT, EXIT_SESSION, EXIT_SIGNAL, EXIT_TIME

    if blocked != 0:
        if desired == blocked:
            desired = 0
        else:
            blocked = 0
    reason = EXIT_SIGNAL
    if cs != 0 and desired == cs:
        forced = EXIT_TIME if time_up else EXIT_LIMIT if halted else EXIT_SESSION if session_end else None
        if forced is not None:
            reason, desired = forced, 0
            if rearm:
                blocked = cs
    if halted or session_end:
        desired = 0
    if blown:
        if cs != 0:
            reason = EXIT_BLOWN
        desired = 0
    return desired, reason, blocked


def size_for_mode_py(size_mode, size_value, equity, price, multiplier, sl_mult, atr, sigma, p_win, payoff_ratio,
                     size_cap, lot_size, min_qty, max_position, allow_fractional):
    """Twin of :func:`~risk._sizing_nb.size_for_mode_nb`."""
    from risk._sizing_nb import SIZE_FIXED, SIZE_FIXED_FRACTION, SIZE_KELLY

    if size_mode == SIZE_FIXED:
        return fixed_contracts_py(size_value, lot_size, min_qty, max_position, allow_fractional)
    if size_mode in (SIZE_FIXED_FRACTION, SIZE_KELLY):
        sd = sl_mult * atr if sl_mult > 0 else math.nan
        if size_mode == SIZE_KELLY:
            return kelly_size_py(equity, p_win, payoff_ratio, price, multiplier, sd, size_value, size_cap,
                                 lot_size, min_qty, max_position, allow_fractional)
        return fixed_fraction_py(equity, size_value, price, multiplier, sd,
                                 lot_size, min_qty, max_position, allow_fractional)
    return volatility_target_py(equity, size_value, sigma, price, multiplier,
                                lot_size, min_qty, max_position, allow_fractional)


def volatility_target_array_py(equity, target_vol, sigma, price, multiplier,
                               lot_size, min_qty, max_position, allow_fractional):
    """Twin of :func:`~risk._sizing_nb.volatility_target_array_nb`."""
    return np.array([
        volatility_target_py(e, target_vol, s, p, multiplier, lot_size, min_qty, max_position,
                             allow_fractional)
        for e, s, p in zip(equity, sigma, price)
    ], dtype=np.float64)


def kelly_fraction_py(p_win, payoff_ratio, fraction, cap):
    """Twin of :func:`~risk._sizing_nb.kelly_fraction_nb`."""
    if not _positive(payoff_ratio) or math.isnan(p_win):
        return 0.0
    full = p_win - (1.0 - p_win) / payoff_ratio
    if not _positive(full):
        return 0.0
    return min(full * fraction, cap)


def kelly_size_py(equity, p_win, payoff_ratio, price, multiplier, stop_distance, fraction, cap,
                  lot_size, min_qty, max_position, allow_fractional):
    """Twin of :func:`~risk._sizing_nb.kelly_size_nb`."""
    f = kelly_fraction_py(p_win, payoff_ratio, fraction, cap)
    if not _positive(f):
        return 0.0
    return fixed_fraction_py(equity, f, price, multiplier, stop_distance,
                             lot_size, min_qty, max_position, allow_fractional)


# --------------------------------------------------------------------------- stops
def atr_stop_levels_py(entry, side, atr, sl_mult, tp_mult):
    """Twin of :func:`~risk._stops_nb.atr_stop_levels_nb`."""
    if not _positive(atr):
        return math.nan, math.nan
    stop = entry - side * sl_mult * atr if _positive(sl_mult) else math.nan
    take = entry + side * tp_mult * atr if _positive(tp_mult) else math.nan
    return stop, take


def _exp(x):
    """math.exp that overflows to inf, as in compiled code."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def vol_stop_levels_py(entry, side, sigma, sl_mult, tp_mult):
    """Twin of :func:`~risk._stops_nb.vol_stop_levels_nb`."""
    if not _positive(sigma):
        return math.nan, math.nan
    stop = entry * _exp(-side * sl_mult * sigma) if _positive(sl_mult) else math.nan
    take = entry * _exp(side * tp_mult * sigma) if _positive(tp_mult) else math.nan
    return stop, take


def trailing_stop_update_py(side, current_stop, high, low, trail_distance):
    """Twin of :func:`~risk._stops_nb.trailing_stop_update_nb`."""
    if not _positive(trail_distance):
        return current_stop
    if side > 0:
        candidate = high - trail_distance
        return candidate if (math.isnan(current_stop) or candidate > current_stop) else current_stop
    candidate = low + trail_distance
    return candidate if (math.isnan(current_stop) or candidate < current_stop) else current_stop


def check_exit_py(side, open_, high, low, stop, take):
    """Twin of :func:`~risk._stops_nb.check_exit_nb`, written as one function per side."""
    if side > 0:
        code, px = _exit_long(open_, high, low, stop, take)
    elif side < 0:
        code, px = _exit_short(open_, high, low, stop, take)
    else:
        code, px = EXIT_NONE, math.nan
    if code != EXIT_NONE:
        px = min(max(px, low), high)  # every fill inside the bar's range
    return code, px


def _exit_long(o, h, l, stop, take):
    has_stop, has_take = not math.isnan(stop), not math.isnan(take)
    if has_stop and o <= stop:
        return EXIT_STOP, o  # gapped through the stop: the open
    if has_take and o >= take:
        return EXIT_TAKE, o  # gapped through the target in our favour: the open
    if has_stop and l <= stop:
        return EXIT_STOP, stop  # also when the take is in the bar: stop first
    if has_take and h >= take:
        return EXIT_TAKE, take
    return EXIT_NONE, math.nan


def _exit_short(o, h, l, stop, take):
    has_stop, has_take = not math.isnan(stop), not math.isnan(take)
    if has_stop and o >= stop:
        return EXIT_STOP, o
    if has_take and o <= take:
        return EXIT_TAKE, o
    if has_stop and h >= stop:
        return EXIT_STOP, stop
    if has_take and l <= take:
        return EXIT_TAKE, take
    return EXIT_NONE, math.nan


def exit_ambiguous_py(side, open_, high, low, stop, take):
    """Twin of :func:`~risk._stops_nb.exit_ambiguous_nb`."""
    if math.isnan(stop) or math.isnan(take):
        return False
    if side > 0:
        return stop < open_ < take and low <= stop and high >= take
    if side < 0:
        return take < open_ < stop and high >= stop and low <= take
    return False


def time_stop_py(bars_held, max_bars):
    """Twin of :func:`~risk._stops_nb.time_stop_nb`."""
    return max_bars > 0 and bars_held >= max_bars


# --------------------------------------------------------------------------- limits
def new_limits_state_py():
    """Twin of :func:`~risk._limits_nb.new_limits_state_nb`."""
    state = np.zeros(N_LIMIT_STATE)
    state[S_SESSION] = math.nan
    state[S_START_EQ] = math.nan
    return state


def new_session_reset_py(state, session, equity):
    """Twin of :func:`~risk._limits_nb.new_session_reset_nb`."""
    state[S_SESSION] = session
    state[S_START_EQ] = equity
    state[S_TRADES] = 0.0
    state[S_HALTED] = 0.0


def _sync_session_py(state, session, equity):
    if math.isnan(state[S_SESSION]) or state[S_SESSION] != session:
        new_session_reset_py(state, session, equity)


def loss_limit_hit_py(state, session, equity, max_loss, max_loss_frac):
    """Twin of :func:`~risk._limits_nb.loss_limit_hit_nb`."""
    _sync_session_py(state, session, equity)
    if state[S_HALTED] != 0.0:
        return True  # halted for the rest of the session
    start = state[S_START_EQ]
    loss = start - equity
    hit = (_positive(max_loss) and loss >= max_loss) or (
        _positive(max_loss_frac) and loss >= max_loss_frac * start)
    if hit:
        state[S_HALTED] = 1.0
    return bool(hit)


def is_entry_py(position_before, position_after):
    """Twin of :func:`~risk._limits_nb.is_entry_nb`."""
    if position_after == 0.0:
        return False
    return position_before == 0.0 or (position_before > 0.0) != (position_after > 0.0)


def can_open_py(state, session, equity, position, order_qty,
                max_loss, max_loss_frac, max_trades, max_position):
    """Twin of :func:`~risk._limits_nb.can_open_nb`."""
    new_pos = position + order_qty
    entry = is_entry_py(position, new_pos)
    if order_qty == 0.0 or (abs(new_pos) <= abs(position) and not entry):
        return True  # closing or reducing is always allowed
    if loss_limit_hit_py(state, session, equity, max_loss, max_loss_frac):
        return False
    if abs(new_pos) > max_position + _POS_EPS:
        return False
    if max_trades > 0 and entry and state[S_TRADES] >= max_trades:
        return False
    return True


def after_fill_update_py(state, session, equity, position_before, position_after):
    """Twin of :func:`~risk._limits_nb.after_fill_update_nb`."""
    _sync_session_py(state, session, equity)
    if is_entry_py(position_before, position_after):
        state[S_TRADES] += 1.0
    return int(state[S_TRADES])
