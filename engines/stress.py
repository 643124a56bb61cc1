"""Stress transforms of bars: a market that changes from a given time on.

- :func:`scale_volatility` multiplies every bar's log distance from its session's first
  open by ``factor`` (volatility x ``factor`` inside each session; OHLC order kept, since
  the map is increasing; the gaps between sessions unchanged);
- :func:`scale_volume` multiplies volume, trades and the buy / sell volumes by ``factor``.

Both act only on the sessions that start at or after ``start`` (default: all), so a
file can keep its first half and shift its second: the drift monitor's benchmark and
tests use them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.exceptions import ParameterError

__all__ = ["scale_volatility", "scale_volume"]


def _after(bars: pd.DataFrame, start, calendar) -> tuple[np.ndarray, np.ndarray]:
    """(mask of the bars in sessions starting at or after ``start``, session id of every bar)."""
    from ml.data import bars_calendar

    cal = bars_calendar(bars, calendar)
    info = cal.sessions(bars.index)
    sid = np.asarray(info.session)
    if start is None:
        return np.ones(len(bars), dtype=bool), sid
    start = pd.Timestamp(start)
    if start.tzinfo is None and bars.index.tz is not None:
        start = start.tz_localize(bars.index.tz)
    first = pd.Series(bars.index, index=sid).groupby(level=0).transform("min").to_numpy()
    return first >= start, sid


def scale_volatility(bars: pd.DataFrame, factor: float, *, start=None, calendar=None) -> pd.DataFrame:
    """``bars`` with the intraday volatility of the sessions from ``start`` on multiplied by ``factor``.

    Each price ``x`` of a session whose first open is ``o`` becomes ``o * (x / o) ** factor``.
    """
    if not (np.isfinite(factor) and factor > 0):
        raise ParameterError(f"`factor` must be a positive number, got {factor!r}.")
    mask, sid = _after(bars, start, calendar)
    out = bars.copy()
    o = bars["open"].groupby(sid).transform("first").to_numpy()
    for col in [c for c in ("open", "high", "low", "close", "vwap") if c in bars.columns]:
        x = bars[col].to_numpy(dtype=np.float64)
        out[col] = np.where(mask, o * np.exp(factor * np.log(x / o)), x)
    return out


def scale_volume(bars: pd.DataFrame, factor: float, *, start=None, calendar=None) -> pd.DataFrame:
    """``bars`` with volume (and trades, buy / sell volume) of the sessions from ``start`` on times ``factor``."""
    if not (np.isfinite(factor) and factor > 0):
        raise ParameterError(f"`factor` must be a positive number, got {factor!r}.")
    mask, _ = _after(bars, start, calendar)
    out = bars.copy()
    for col in [c for c in ("volume", "trades", "buy_volume", "sell_volume") if c in bars.columns]:
        x = bars[col].to_numpy(dtype=np.float64)
        y = np.where(mask, x * factor, x)
        out[col] = np.round(y) if col == "trades" else y
    return out
