"""Stops and targets: ATR and volatility levels, trailing stops, exit checks with
gap fills, and time stops.

The public functions validate and call the numba kernels of
:mod:`risk._stops_nb`, which both engines call directly bar by bar.

Caller contract (PITFALLS rules 1, 3-7)
---------------------------------------
A signal decided with bar ``i``'s data enters at bar ``i + 1``'s open ``E``;
levels come from ``E`` and a volatility known at bar ``i``.  Exits are
checked on bar ``i + 1`` itself (its range after the open comes after the
entry, as in :mod:`ml.labels`) and every later bar, never on the signal bar
``i``.  Per bar: first :func:`check_exit` with the levels as they stood at
the previous close, then (if still open) :func:`trailing_stop_update` with
this bar's extreme -- the new level is first checked on the next bar, since
the order of a bar's high and low is unknown -- then :func:`time_stop` with
``bars_held`` counting the entry bar as 1.

Fill rules of :func:`check_exit`: a gap through the stop fills at the open
(long stop 90, open 50 -> 50); a take (limit) gapped through in our favour
fills at the open (buy limit 100, open 95 -> 95); stop and take both inside
one bar -> the stop, assumed first (pessimistic); every fill lies in
``[low, high]``.
"""

from __future__ import annotations

import math

from ml.exceptions import ParameterError
from risk import _checks
from risk._checks import check_fraction, check_int, check_real, check_side
from risk._stops_nb import EXIT_NONE, EXIT_STOP, EXIT_TAKE

__all__ = [
    "EXIT_NONE",
    "EXIT_STOP",
    "EXIT_TAKE",
    "atr_stop_levels",
    "check_exit",
    "exit_ambiguous",
    "time_stop",
    "trailing_stop_update",
    "vol_stop_levels",
]


def _mult(name, value):
    v = check_real(name, value, nonnegative=True, allow_none=True,
                   hint=" Pass None (or 0) for no such level.")
    return 0.0 if v is None else v


def _level(name, value):
    v = check_real(name, value, allow_none=True, hint=" Pass None for no such level.")
    return math.nan if v is None else v


def atr_stop_levels(entry, side, atr, sl_mult, tp_mult=None):
    """Stop and take prices a multiple of the ATR away from the entry.

    Parameters
    ----------
    entry : float
        Entry price (bar ``i + 1``'s open for a signal at bar ``i``).
    side : {1, -1}
        Long or short.
    atr : float
        Average true range in price points, known at the signal bar, > 0.
    sl_mult, tp_mult : float or None
        Stop and take distances in ATRs; None or 0 gives no level (NaN).

    Returns
    -------
    (stop, take) : tuple of float
        ``entry - side * sl_mult * atr`` and ``entry + side * tp_mult * atr``.

    Examples
    --------
    >>> atr_stop_levels(5000.0, 1, 4.0, 1.5, 3.0)
    (4994.0, 5012.0)
    >>> atr_stop_levels(5000.0, -1, 4.0, 1.5, None)
    (5006.0, nan)
    """
    entry = check_real("entry", entry, positive=True)
    side = check_side(side)
    atr = check_real("atr", atr, positive=True)
    return tuple(float(x) for x in _checks.kernel("atr_stop_levels")(
        entry, side, atr, _mult("sl_mult", sl_mult), _mult("tp_mult", tp_mult)))


def vol_stop_levels(entry, side, sigma, sl_mult, tp_mult=None):
    """Stop and take prices a multiple of ``sigma`` away in log-return units.

    Parameters
    ----------
    entry : float
        Entry price.
    side : {1, -1}
        Long or short.
    sigma : float
        Volatility in log-return units (0.002 means 0.2%), in (0, 1], known at
        the signal bar (e.g. a GARCH forecast, or the triple-barrier width).
    sl_mult, tp_mult : float or None
        Stop and take distances in sigmas; None or 0 gives no level (NaN).

    Returns
    -------
    (stop, take) : tuple of float
        ``entry * exp(-side * sl_mult * sigma)`` and
        ``entry * exp(side * tp_mult * sigma)``, as the barriers of
        :func:`ml.labels.triple_barrier_labels`.
    """
    entry = check_real("entry", entry, positive=True)
    side = check_side(side)
    sigma = check_fraction("sigma", sigma, what="(log-return units)")
    return tuple(float(x) for x in _checks.kernel("vol_stop_levels")(
        entry, side, sigma, _mult("sl_mult", sl_mult), _mult("tp_mult", tp_mult)))


def _check_bar(open_, high, low):
    o = check_real("open", open_)
    h = check_real("high", high)
    low = check_real("low", low)
    if not (low <= o <= h):
        raise ParameterError(f"bar must satisfy low <= open <= high, got open={o!r}, high={h!r}, low={low!r}.")
    return o, h, low


def trailing_stop_update(side, current_stop, high, low, trail_distance):
    """Ratchet a trailing stop with one bar's extreme; it never loosens.

    Call it after :func:`check_exit` checked this bar with the old stop: the
    returned level is for the *next* bar.

    Parameters
    ----------
    side : {1, -1}
    current_stop : float or None
        Stop before this bar; None starts the trail from this bar.
    high, low : float
        This bar's range.
    trail_distance : float
        Distance behind the best price, in price points, > 0.

    Returns
    -------
    float
        Long: ``max(current_stop, high - trail_distance)``;
        short: ``min(current_stop, low + trail_distance)``.

    Examples
    --------
    >>> trailing_stop_update(1, 95.0, high=103.0, low=99.0, trail_distance=5.0)
    98.0
    >>> trailing_stop_update(1, 98.0, high=101.0, low=97.0, trail_distance=5.0)
    98.0
    """
    side = check_side(side)
    current = _level("current_stop", current_stop)
    h = check_real("high", high)
    low = check_real("low", low)
    if low > h:
        raise ParameterError(f"`low` must be <= `high`, got low={low!r}, high={h!r}.")
    trail = check_real("trail_distance", trail_distance, positive=True)
    return float(_checks.kernel("trailing_stop_update")(side, current, h, low, trail))


def check_exit(side, open_, high, low, stop=None, take=None):
    """Whether a bar hits the stop or the take, and at what price.

    Never call it on the signal bar (see the module docstring).

    Parameters
    ----------
    side : {1, -1}
    open_, high, low : float
        The bar, ``low <= open <= high``.
    stop, take : float or None
        Levels in force during the bar; None for none.

    Returns
    -------
    (code, fill) : tuple of (int, float)
        ``code`` 0 none (fill NaN), 1 stop (:data:`EXIT_STOP`), 2 take
        (:data:`EXIT_TAKE`).  Gaps fill at the open; with both levels inside
        the bar the stop wins (pessimistic); ``low <= fill <= high``.

    Examples
    --------
    >>> check_exit(1, 50.0, 55.0, 45.0, stop=90.0)     # gapped through the stop
    (1, 50.0)
    >>> check_exit(-1, 95.0, 99.0, 94.0, take=100.0)   # short's buy limit at 100, open 95
    (2, 95.0)
    >>> check_exit(1, 100.0, 106.0, 94.0, stop=95.0, take=105.0)  # both inside: stop
    (1, 95.0)
    """
    side = check_side(side)
    o, h, low = _check_bar(open_, high, low)
    code, px = _checks.kernel("check_exit")(side, o, h, low, _level("stop", stop), _level("take", take))
    return int(code), float(px)


def exit_ambiguous(side, open_, high, low, stop=None, take=None) -> bool:
    """Whether the bar holds both levels without opening through either.

    Then the bar alone cannot tell which level traded first; :func:`check_exit`
    assumes the stop (pessimistic), and the engines flag such trades
    (``ambiguous`` in the trades table).

    Examples
    --------
    >>> exit_ambiguous(1, 100.0, 106.0, 94.0, stop=95.0, take=105.0)
    True
    >>> exit_ambiguous(1, 94.0, 106.0, 90.0, stop=95.0, take=105.0)   # opened through the stop
    False
    """
    side = check_side(side)
    o, h, low = _check_bar(open_, high, low)
    return bool(_checks.kernel("exit_ambiguous")(side, o, h, low, _level("stop", stop), _level("take", take)))


def time_stop(bars_held, max_bars):
    """Whether a position held ``bars_held`` bars (entry bar = 1) must be closed.

    ``max_bars=None`` disables.  With ``max_bars = max_holding`` the exit bar
    is the vertical barrier of :func:`ml.labels.triple_barrier_labels`.

    Examples
    --------
    >>> time_stop(9, 10), time_stop(10, 10), time_stop(10, None)
    (False, True, False)
    """
    held = check_int("bars_held", bars_held, 0)
    max_bars = check_int("max_bars", max_bars, 1, allow_none=True)
    return bool(_checks.kernel("time_stop")(held, 0 if max_bars is None else max_bars))
