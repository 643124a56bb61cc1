"""Numba kernels of :mod:`risk.sizing` (scalars in, scalars out; one array kernel).

Every kernel has a plain-Python twin of the same name with the ``_py`` suffix
in :mod:`risk._py`; the tests run both on the same inputs and demand the same
output.  These kernels do not validate: they are called from inside the sweep
kernel and from the backtrader strategy with arguments the public functions of
:mod:`risk.sizing` (or :class:`risk.sizing.ContractSpec`) have already checked.

Conventions shared by every sizing kernel
-----------------------------------------
- Sizes are **absolute** numbers of contracts (units for crypto), ``>= 0``;
  the caller multiplies by the side (+1 / -1).  :func:`round_quantity_nb`
  truncates toward zero, so ``side * q`` and ``q`` round the same way.
- ``fraction`` arguments are fractions, never percentages: 0.02 means 2%.
- Values that make a size undefined (equity <= 0, NaN sigma, zero stop
  distance, ...) give size 0 ("no position"), never NaN or infinity.
- Order of the final steps (:func:`finalize_quantity_nb`): cap at
  ``max_position`` (NaN or inf disables), truncate toward zero to whole lots,
  then sizes below ``min_qty`` become 0.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "QTY_EPS",
    "finalize_quantity_nb",
    "fixed_contracts_nb",
    "fixed_fraction_nb",
    "kelly_fraction_nb",
    "kelly_size_nb",
    "round_quantity_nb",
    "round_to_tick_nb",
    "size_for_mode_nb",
    "volatility_target_array_nb",
    "volatility_target_nb",
]

#: Sizing method codes of the kernels (:data:`risk.rules.SIZING_METHODS`).
SIZE_FIXED = 0
SIZE_FIXED_FRACTION = 1
SIZE_VOL_TARGET = 2
SIZE_KELLY = 3

#: Float-noise tolerance, in lots: a quantity within ``QTY_EPS * max(1, |lots|)``
#: *below* a whole number of lots counts as that whole number (so that
#: ``0.07 * 100_000 / (7 * 10)`` = 99.99999999999999 gives 100 contracts, not
#: 99).  Everywhere else the rounding is exactly Python's / backtrader's ``int()``.
QTY_EPS = 1e-9


@njit(cache=True)
def _whole_lots_nb(x):
    """floor(x) for x >= 0, with the :data:`QTY_EPS` snap to the whole number above."""
    n = math.floor(x)
    if x > n and (n + 1.0) - x <= QTY_EPS * max(1.0, x):
        n += 1.0
    return n


@njit(cache=True)
def round_quantity_nb(qty, lot_size, allow_fractional):
    """Truncate a signed quantity toward zero to whole lots, like ``int()``.

    Parameters
    ----------
    qty : float
        Signed quantity (contracts or units).
    lot_size : float
        Lot size, > 0.  When ``allow_fractional`` is False it is read as a
        whole number of contracts (``floor(lot_size)``, at least 1).
    allow_fractional : bool
        Whether a lot may be a fraction of a unit (crypto, e.g. 0.001 BTC).

    Returns
    -------
    float
        ``sign(qty) * n * lot`` with ``n = floor(|qty| / lot)`` whole lots:
        truncation toward zero, as backtrader's ``int()``, for positive and
        negative quantities (``int(2.7) == 2``, ``int(-2.7) == -2``).  The only
        difference from ``int()``: a value within :data:`QTY_EPS` lots below a
        whole number of lots is float noise and counts as that number.
        NaN or infinite ``qty`` gives 0.0.
    """
    if not math.isfinite(qty):
        return 0.0
    if allow_fractional:
        lot = lot_size
        if not lot > 0.0:
            return qty
    else:
        lot = math.floor(lot_size)
        if not lot >= 1.0:
            lot = 1.0
    n = _whole_lots_nb(abs(qty) / lot)
    if n == 0.0:
        return 0.0
    if qty < 0.0:
        return -(n * lot)
    return n * lot


@njit(cache=True)
def round_to_tick_nb(price, tick_size, direction):
    """Round a price to the tick grid: ``direction`` -1 down, +1 up, 0 nearest (ties up).

    A price within :data:`QTY_EPS` ticks of a grid point is that grid point
    (float noise).  ``tick_size <= 0`` or NaN returns ``price`` unchanged.
    """
    if not tick_size > 0.0 or not math.isfinite(price):
        return price
    x = price / tick_size
    r = math.floor(x + 0.5)
    if abs(x - r) <= QTY_EPS * max(1.0, abs(x)):
        return r * tick_size
    if direction < 0:
        return math.floor(x) * tick_size
    if direction > 0:
        return math.ceil(x) * tick_size
    return r * tick_size


@njit(cache=True)
def finalize_quantity_nb(raw_qty, lot_size, min_qty, max_position, allow_fractional):
    """Cap, round and floor an absolute raw size (see the module conventions).

    Returns 0.0 for a raw size that is NaN, infinite or <= 0.
    """
    if not (raw_qty > 0.0) or not math.isfinite(raw_qty):
        return 0.0
    if raw_qty > max_position:  # NaN max_position compares False: no cap
        raw_qty = max_position
    q = round_quantity_nb(raw_qty, lot_size, allow_fractional)
    if q < min_qty or q <= 0.0:
        return 0.0
    return q


@njit(cache=True)
def fixed_contracts_nb(n_contracts, lot_size, min_qty, max_position, allow_fractional):
    """A fixed size, capped and rounded like every other size."""
    return finalize_quantity_nb(n_contracts, lot_size, min_qty, max_position, allow_fractional)


@njit(cache=True)
def fixed_fraction_nb(equity, fraction, price, multiplier, stop_distance,
                      lot_size, min_qty, max_position, allow_fractional):
    """Fixed-fraction size: risk ``fraction`` of ``equity`` per trade.

    With a stop (``stop_distance`` not NaN, in price points):
    ``qty = fraction * equity / (stop_distance * multiplier)``, so hitting the
    stop loses ``fraction * equity`` (before gaps and costs).
    Without (``stop_distance`` NaN): notional fraction,
    ``qty = fraction * equity / (price * multiplier)``.
    """
    if not (equity > 0.0) or not (fraction > 0.0) or not (multiplier > 0.0):
        return 0.0
    if stop_distance == stop_distance:
        if not (stop_distance > 0.0):
            return 0.0
        raw = fraction * equity / (stop_distance * multiplier)
    else:
        if not (price > 0.0):
            return 0.0
        raw = fraction * equity / (price * multiplier)
    return finalize_quantity_nb(raw, lot_size, min_qty, max_position, allow_fractional)


@njit(cache=True)
def volatility_target_nb(equity, target_vol, sigma, price, multiplier,
                         lot_size, min_qty, max_position, allow_fractional):
    """Volatility-target size: ``qty = target_vol * equity / (sigma * price * multiplier)``.

    ``target_vol`` and ``sigma`` are per-bar return volatilities (fractions),
    so the position's expected per-bar P&L volatility
    ``qty * multiplier * price * sigma`` equals ``target_vol * equity``.
    NaN or non-positive ``sigma`` (e.g. GARCH warm-up) gives 0.
    """
    if not (equity > 0.0) or not (target_vol > 0.0) or not (sigma > 0.0):
        return 0.0
    if not (price > 0.0) or not (multiplier > 0.0):
        return 0.0
    raw = target_vol * equity / (sigma * price * multiplier)
    return finalize_quantity_nb(raw, lot_size, min_qty, max_position, allow_fractional)


@njit(cache=True)
def volatility_target_array_nb(equity, target_vol, sigma, price, multiplier,
                               lot_size, min_qty, max_position, allow_fractional):
    """:func:`volatility_target_nb` over arrays ``equity``, ``sigma``, ``price`` of one shape (n,)."""
    n = sigma.shape[0]
    out = np.empty(n)
    for i in range(n):
        out[i] = volatility_target_nb(equity[i], target_vol, sigma[i], price[i], multiplier,
                                      lot_size, min_qty, max_position, allow_fractional)
    return out


@njit(cache=True)
def kelly_fraction_nb(p_win, payoff_ratio, fraction, cap):
    """Capped fractional Kelly: ``min(cap, fraction * max(0, p - (1 - p) / b))``.

    NaN ``p_win`` or ``payoff_ratio <= 0`` gives 0.
    """
    if not (payoff_ratio > 0.0) or p_win != p_win:
        return 0.0
    f = p_win - (1.0 - p_win) / payoff_ratio
    if not (f > 0.0):
        return 0.0
    f = f * fraction
    if f > cap:
        f = cap
    return f


@njit(cache=True)
def kelly_size_nb(equity, p_win, payoff_ratio, price, multiplier, stop_distance, fraction, cap,
                  lot_size, min_qty, max_position, allow_fractional):
    """Fixed-fraction size with the fraction from :func:`kelly_fraction_nb` (0 when no edge)."""
    f = kelly_fraction_nb(p_win, payoff_ratio, fraction, cap)
    if not (f > 0.0):
        return 0.0
    return fixed_fraction_nb(equity, f, price, multiplier, stop_distance,
                             lot_size, min_qty, max_position, allow_fractional)


@njit(cache=True)
def size_for_mode_nb(size_mode, size_value, equity, price, multiplier, sl_mult, atr, sigma, p_win, payoff_ratio,
                     size_cap, lot_size, min_qty, max_position, allow_fractional):
    """The size dispatch every engine calls: contracts of one entry under ``size_mode``.

    :data:`SIZE_FIXED`: ``size_value`` contracts; :data:`SIZE_FIXED_FRACTION`:
    risk ``size_value`` of ``equity`` per stop distance ``sl_mult * atr`` when
    ``sl_mult > 0``, else of notional; :data:`SIZE_VOL_TARGET`: per-bar
    volatility target ``size_value`` with the per-bar return volatility
    ``sigma``; :data:`SIZE_KELLY`: the fixed-fraction size with the fraction
    :func:`kelly_fraction_nb` of the entry side's win probability ``p_win``,
    the ``payoff_ratio`` (average win / average loss), ``size_value`` times
    full Kelly, capped at ``size_cap`` (0 when there is no edge).  ``equity``,
    ``price``, ``atr``, ``sigma`` and ``p_win`` are the decision bar's.  The
    simulator's kernel and the backtrader strategy call it; its plain-Python
    twin is :func:`risk._py.size_for_mode_py`.
    """
    if size_mode == SIZE_FIXED:
        return fixed_contracts_nb(size_value, lot_size, min_qty, max_position, allow_fractional)
    if size_mode == SIZE_FIXED_FRACTION or size_mode == SIZE_KELLY:
        sd = sl_mult * atr if sl_mult > 0.0 else math.nan
        if size_mode == SIZE_KELLY:
            return kelly_size_nb(equity, p_win, payoff_ratio, price, multiplier, sd, size_value, size_cap,
                                 lot_size, min_qty, max_position, allow_fractional)
        return fixed_fraction_nb(equity, size_value, price, multiplier, sd,
                                 lot_size, min_qty, max_position, allow_fractional)
    return volatility_target_nb(equity, size_value, sigma, price, multiplier,
                                lot_size, min_qty, max_position, allow_fractional)
