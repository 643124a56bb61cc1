"""Tiny-frame builders for the label tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_bars(rows, index=None, *, start="2024-01-02 10:00", tz="UTC", symbol=None, calendar="24/7"):
    """Bars from (open, high, low, close) tuples; 1-minute UTC stamps unless ``index`` is given.

    Without a symbol the frame records ``calendar`` (24/7 by default) as
    ``load_bars`` would: the toolkit never assumes one."""
    rows = np.asarray(rows, dtype=float)
    if index is None:
        index = pd.date_range(start, periods=len(rows), freq="min", tz=tz)
    else:
        index = pd.DatetimeIndex(pd.to_datetime(list(index))).tz_localize(tz)
    index = index.as_unit("ns").rename("timestamp")
    bars = pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=index)
    bars["volume"] = 1.0
    if symbol is not None:
        bars["symbol"] = symbol
    elif calendar is not None:
        bars.attrs["bars"] = {"calendar": calendar}
    return bars


def flat(n, price=100.0):
    """``n`` bars that never move from ``price``."""
    return [(price, price, price, price)] * n
