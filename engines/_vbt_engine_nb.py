"""Numba kernel of the vectorbt engine (:class:`engines.engine.VectorbtEngine`).

Imported only when that engine runs (vectorbt takes seconds to import).
"""

from __future__ import annotations

from numba import njit
from vectorbt.portfolio import nb as pnb
from vectorbt.portfolio.enums import NoOrder

__all__ = ["flex_orders_nb"]


@njit(cache=True)
def flex_orders_nb(c, units, enter, leave, backstop, open_, close, low, high, slip, fixed_per_unit, fees_pct,
                     slots):
    """vectorbt flexible order function: at most three orders per bar, in time order.

    Call 0: at the open, the leg that reduces the position toward ``enter[i]``
    (an exit); call 1: at the open, the leg that opens it (an entry); call 2:
    at the close, the session backstop when ``backstop[i]``.  Market fills move
    ``slip`` points against the order and are clipped to the bar's [low, high].
    ``slots`` records, per order vectorbt fills, which call made it.
    """
    i, col = c.i, c.from_col
    pos = c.last_position[col]
    target = enter[i] * units
    size = 0.0
    ref = open_[i]
    if c.call_idx == 0 and leave[i]:
        size = -pos                                    # close what is held (exit or first half of a reversal)
    elif c.call_idx == 1 and target != pos:
        size = target - pos                            # open the new side from flat
    elif c.call_idx == 2 and backstop[i] and pos != 0.0:
        size, ref = -pos, close[i]
    elif c.call_idx > 2:
        return -1, NoOrder
    if size == 0.0:
        return col, NoOrder
    direction = 1.0 if size > 0 else -1.0
    price = min(max(ref + direction * slip, low[i]), high[i])
    slots[int(c.last_oidx[col]) + 1] = c.call_idx
    return col, pnb.order_nb(size=size, price=price, fees=fees_pct, fixed_fees=abs(size) * fixed_per_unit,
                             raise_reject=True)
