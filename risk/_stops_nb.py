"""Numba kernels of :mod:`risk.stops` (scalars in, scalars out).

Every kernel has a plain-Python twin of the same name with the ``_py`` suffix
in :mod:`risk._py`.  ``side`` is +1 (long) or -1 (short); a NaN stop or take
price means "no such level".  Exit codes: 0 none, 1 stop, 2 take.

Caller contract (both engines, same as :mod:`ml.labels`)
--------------------------------------------------------
A signal decided with bar ``i``'s data enters at bar ``i + 1``'s open ``E``.
The levels are computed from ``E`` and a volatility known at bar ``i``
(ATR or sigma of bar ``i``).  Exits are checked with :func:`check_exit_nb`
on every bar ``j >= i + 1`` -- the entry bar itself included, because its
range after the open happens after the entry -- and **never on the signal
bar** ``i`` (PITFALLS rule 3).  Per bar ``j``, in this order:

1. ``code, fill = check_exit_nb(side, open[j], high[j], low[j], stop, take)``
   with the levels as they stood at bar ``j - 1``'s close; exit at ``fill``
   if ``code != 0``.
2. Otherwise ratchet a trailing stop with
   ``stop = trailing_stop_update_nb(side, stop, high[j], low[j], trail)``;
   the new level is first checked on bar ``j + 1``.  The bar's extreme is not
   used on its own bar because the order of the high and the low inside a bar
   is unknown (a stop raised by the high could not have been hit by a low
   that came before it).
3. ``bars_held = j - i`` (the entry bar counts as 1); if
   ``time_stop_nb(bars_held, max_bars)`` exit at ``close[j]`` (or at bar
   ``j + 1``'s open when the engine does not fill on the close).  With
   ``max_bars = max_holding`` this is the vertical barrier of
   :func:`ml.labels.triple_barrier_labels`.
"""

from __future__ import annotations

import math

from numba import njit

__all__ = [
    "EXIT_NONE",
    "EXIT_STOP",
    "EXIT_TAKE",
    "atr_stop_levels_nb",
    "check_exit_nb",
    "time_stop_nb",
    "trailing_stop_update_nb",
    "vol_stop_levels_nb",
]

EXIT_NONE = 0
EXIT_STOP = 1
EXIT_TAKE = 2


@njit(cache=True)
def atr_stop_levels_nb(entry, side, atr, sl_mult, tp_mult):
    """Stop and take prices ``sl_mult`` / ``tp_mult`` ATRs from the entry.

    ``stop = entry - side * sl_mult * atr``, ``take = entry + side * tp_mult * atr``.
    A multiple <= 0 (or NaN), or an ATR that is not > 0, gives NaN (no level).
    """
    stop = math.nan
    take = math.nan
    if atr > 0.0:
        if sl_mult > 0.0:
            stop = entry - side * sl_mult * atr
        if tp_mult > 0.0:
            take = entry + side * tp_mult * atr
    return stop, take


@njit(cache=True)
def vol_stop_levels_nb(entry, side, sigma, sl_mult, tp_mult):
    """Stop and take prices ``sl_mult`` / ``tp_mult`` sigmas away in log-return units.

    ``stop = entry * exp(-side * sl_mult * sigma)``,
    ``take = entry * exp(side * tp_mult * sigma)`` -- the barriers of
    :func:`ml.labels.triple_barrier_labels` when ``sigma`` is its width.
    A multiple <= 0 (or NaN), or a sigma that is not > 0, gives NaN (no level).
    """
    stop = math.nan
    take = math.nan
    if sigma > 0.0:
        if sl_mult > 0.0:
            stop = entry * math.exp(-side * sl_mult * sigma)
        if tp_mult > 0.0:
            take = entry * math.exp(side * tp_mult * sigma)
    return stop, take


@njit(cache=True)
def trailing_stop_update_nb(side, current_stop, high, low, trail_distance):
    """Ratchet a trailing stop with one bar's extreme; it never loosens.

    Long: ``max(current_stop, high - trail_distance)``; short:
    ``min(current_stop, low + trail_distance)``.  A NaN ``current_stop``
    takes the candidate; ``trail_distance`` <= 0 (or NaN) leaves the stop as
    it is.  Call it *after* :func:`check_exit_nb` has checked this bar with
    the old stop (module docstring, step 2).
    """
    if not (trail_distance > 0.0):
        return current_stop
    if side > 0:
        cand = high - trail_distance
        if current_stop != current_stop or cand > current_stop:
            return cand
        return current_stop
    cand = low + trail_distance
    if current_stop != current_stop or cand < current_stop:
        return cand
    return current_stop


@njit(cache=True)
def check_exit_nb(side, open_, high, low, stop, take):
    """Whether a bar hits the stop or the take, and the fill price.

    Rules, in order of precedence (long shown; short mirrored):

    1. ``open <= stop``: the bar gapped through the stop -> (1, open)
       (PITFALLS rule 4: long stop 90, open 50 -> 50, not 90).
    2. ``open >= take``: gapped through the take (a limit) in our favour ->
       (2, open) (rule 5: a buy limit at 100 that opens at 95 fills at 95).
    3. ``low <= stop``: (1, stop) -- also when ``high >= take`` in the same
       bar: with both levels inside one bar the stop is assumed first
       (pessimistic, rule 6).
    4. ``high >= take``: (2, take).
    5. Otherwise (0, NaN).

    The fill is finally clipped into ``[low, high]`` (rule 7), which only
    matters for inconsistent bars (open outside its own range).

    Returns
    -------
    code : int
        0 none, 1 stop, 2 take.
    fill : float
        Fill price, NaN when ``code == 0``.
    """
    has_stop = stop == stop
    has_take = take == take
    code = EXIT_NONE
    px = math.nan
    if side > 0:
        if has_stop and open_ <= stop:
            code = EXIT_STOP
            px = open_
        elif has_take and open_ >= take:
            code = EXIT_TAKE
            px = open_
        elif has_stop and low <= stop:
            code = EXIT_STOP
            px = stop
        elif has_take and high >= take:
            code = EXIT_TAKE
            px = take
    elif side < 0:
        if has_stop and open_ >= stop:
            code = EXIT_STOP
            px = open_
        elif has_take and open_ <= take:
            code = EXIT_TAKE
            px = open_
        elif has_stop and high >= stop:
            code = EXIT_STOP
            px = stop
        elif has_take and low <= take:
            code = EXIT_TAKE
            px = take
    if code != EXIT_NONE:
        if px > high:
            px = high
        if px < low:
            px = low
    return code, px


@njit(cache=True)
def time_stop_nb(bars_held, max_bars):
    """True once ``bars_held >= max_bars`` (the entry bar counts as 1); ``max_bars <= 0`` disables."""
    return max_bars > 0 and bars_held >= max_bars


@njit(cache=True)
def exit_ambiguous_nb(side, open_, high, low, stop, take):
    """Whether a bar holds both the stop and the take without opening through
    either: which one traded first cannot be told from the bar (the fill rules
    of :func:`check_exit_nb` assume the stop, PITFALLS rule 6)."""
    if not (stop == stop and take == take):
        return False
    if side > 0:
        return open_ > stop and open_ < take and low <= stop and high >= take
    if side < 0:
        return open_ < stop and open_ > take and high >= stop and low <= take
    return False

