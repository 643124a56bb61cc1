"""Trades from fills: the one pairing of fills into round trips shared by the event-driven engines.

The numba simulator records its trades as it goes; backtrader and vectorbt report
fills (orders), which :func:`trades_from_fills` pairs into the same trades table.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["trades_from_fills"]


def _pair_fills(fills, n):
    """Pair fills into trades (entry legs open or add, exit legs reduce)."""
    rows = []
    cur = None
    pos = 0.0
    for f in fills:
        size = f["size"]
        if pos == 0.0 or np.sign(size) == np.sign(pos):
            if cur is None:
                cur = dict(entry_idx=f["bar"], side=int(np.sign(size)), qty=0.0, notional=0.0, costs=0.0)
            cur["qty"] += abs(size)
            cur["notional"] += abs(size) * f["price"]
            cur["costs"] += f["commission"]
            pos += size
            continue
        # a reducing fill (never through zero: closes and entries are separate orders)
        q = min(abs(size), abs(pos))
        cur.setdefault("exit_q", 0.0)
        cur.setdefault("exit_notional", 0.0)
        cur["exit_q"] += q
        cur["exit_notional"] += q * f["price"]
        cur["costs"] += f["commission"]
        cur["exit_idx"] = f["bar"]
        cur["exit_reason"] = f["reason"]
        cur["ambiguous"] = bool(cur.get("ambiguous", False) or f.get("ambiguous", False))
        pos += size
        if abs(pos) < 1e-12:
            pos = 0.0
            rows.append(cur)
            cur = None
    if cur is not None:
        cur["exit_idx"] = n - 1
        cur["exit_reason"] = "end"
        rows.append(cur)
    out = []
    for t in rows:
        entry_px = t["notional"] / t["qty"]
        closed = t["exit_reason"] != "end"
        exit_px = t["exit_notional"] / t["exit_q"] if closed else math.nan
        out.append(dict(entry_idx=t["entry_idx"], exit_idx=t["exit_idx"], side=t["side"], qty=t["qty"],
                        entry_price=entry_px, exit_price=exit_px, costs=t["costs"],
                        exit_reason=t["exit_reason"], closed=closed,
                        ambiguous=bool(t.get("ambiguous", False))))
    df = pd.DataFrame(out, columns=["entry_idx", "exit_idx", "side", "qty", "entry_price", "exit_price",
                                    "costs", "exit_reason", "closed", "ambiguous"])
    df["ambiguous"] = df["ambiguous"].astype(bool)
    return df


def trades_from_fills(fills, index: pd.DatetimeIndex, close, multiplier: float) -> pd.DataFrame:
    """The trades table of a run from its fills.

    Parameters
    ----------
    fills : list of dict
        In time order, each with ``bar`` (position), ``size`` (signed contracts),
        ``price``, ``commission`` and ``reason`` (the exit reason of a reducing
        fill); a reversal is two fills (the exit, then the entry).
    index : DatetimeIndex
        The bars' index.
    close : array-like
        Closes; a trade still open at the end is marked at the last one (``exit_reason``
        ``"end"``, ``closed`` False), as the simulator does.
    multiplier : float
        Currency per point per contract.

    Returns
    -------
    DataFrame
        ``entry_idx``, ``exit_idx``, ``entry_time``, ``exit_time``, ``side``, ``qty``,
        ``entry_price``, ``exit_price`` (quantity-weighted), ``costs`` (= ``commission``),
        ``exit_reason``, ``closed``, ``ambiguous``, ``gross_pnl``, ``net_pnl`` (= ``pnl``).
    """
    n = len(index)
    tr = _pair_fills(fills, n)
    if len(tr):
        open_rows = ~tr["closed"].to_numpy()
        exit_px = tr["exit_price"].to_numpy().copy()
        exit_px[open_rows] = np.asarray(close, dtype=np.float64)[n - 1]
        tr["exit_price"] = exit_px
        tr["gross_pnl"] = tr["side"] * tr["qty"] * float(multiplier) * (tr["exit_price"] - tr["entry_price"])
    else:
        tr["gross_pnl"] = pd.Series(dtype=float)
    tr["net_pnl"] = tr["gross_pnl"] - tr["costs"]
    tr["pnl"] = tr["net_pnl"]
    tr["commission"] = tr["costs"]
    tr.insert(2, "entry_time", index[tr["entry_idx"].to_numpy(dtype=np.int64)])
    tr.insert(3, "exit_time", index[tr["exit_idx"].to_numpy(dtype=np.int64)])
    tr.index.name = "trade"
    return tr
