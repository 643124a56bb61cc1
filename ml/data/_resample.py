"""Resampling bars to a coarser fixed frequency, per symbol and per session."""

from __future__ import annotations

import copy
import datetime as _dt

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from ml.data._calendar import bars_calendar
from ml.data._frame import check_bar_frame
from ml.exceptions import ParameterError

__all__ = ["resample_bars"]

_SUMS = ("volume", "trades", "buy_volume", "sell_volume")


def _rule_nanos(rule) -> tuple[int, str]:
    """``rule`` as a positive number of nanoseconds, and its text for messages."""
    if isinstance(rule, bool) or not isinstance(
        rule, (str, pd.Timedelta, _dt.timedelta, np.timedelta64, pd.offsets.BaseOffset)
    ):
        raise TypeError(
            "`rule` must be a frequency string such as '5min', a Timedelta or a fixed "
            f"DateOffset, got {type(rule).__name__}: {rule!r}."
        )
    if isinstance(rule, np.timedelta64):
        rule = pd.Timedelta(rule)
    fix = "use a fixed frequency such as '5min', '15min', '1h' or '1D'"
    try:
        off = to_offset(rule)
    except (ValueError, TypeError) as exc:
        text = str(rule).strip()
        hint = " ('M' is a month, minutes are 'min')" if text[-1:] == "M" else ""
        raise ParameterError(
            f"`rule` {rule!r} is not a valid frequency{hint}; {fix}. (pandas: {exc})"
        ) from exc
    try:
        nanos = int(off.nanos)
    except ValueError as exc:
        raise ParameterError(
            f"`rule` {rule!r} is a calendar frequency ({off!r}) whose length varies; {fix}."
        ) from exc
    if nanos <= 0:
        raise ParameterError(f"`rule` must be a positive frequency, got {rule!r}; {fix}.")
    return nanos, (rule if isinstance(rule, str) else off.freqstr)


def _fmt(nanos: int) -> str:
    """A length in nanoseconds as a frequency string, e.g. ``'5min'``."""
    text = to_offset(pd.Timedelta(int(nanos), "ns")).freqstr
    return text if text[:1].isdigit() else "1" + text


def resample_bars(bars: pd.DataFrame, rule, calendar=None) -> pd.DataFrame:
    """Aggregate bars to a coarser fixed frequency, per symbol, never across sessions.

    Parameters
    ----------
    bars : DataFrame
        Bars indexed by tz-aware bar open time with columns ``open``, ``high``,
        ``low``, ``close``, ``volume`` and optionally ``trades``,
        ``buy_volume``, ``sell_volume``, ``vwap``, ``symbol``, ``contract``,
        ``adjustment`` (as :func:`~ml.data.load_bars` or
        :func:`~ml.data.continuous_contract` return them).  Without a
        ``symbol`` column all bars form one series.
    rule : str, Timedelta or fixed DateOffset
        Bin length, e.g. ``"5min"``, ``"1h"``, ``pd.Timedelta(15, "min")``.
        Must be a fixed positive length (``"1D"`` is read as 24 hours) that is
        a whole multiple of the input bar spacing (the shortest gap between
        consecutive bars of a symbol in a session), so no bar is split.
    calendar : str or SessionCalendar, optional
        Session calendar; default the one recorded by ``load_bars`` in
        ``bars.attrs``, else inferred from the first symbol.

    Returns
    -------
    DataFrame
        One row per (bin, symbol) holding at least one bar, indexed by the
        bin's open time (``timestamp``, input time zone), sorted by time then
        symbol, columns in the input order.  ``attrs`` is the input's, with
        ``attrs["bars"]["rows"]`` updated when present and
        ``attrs["resample"]`` = ``{"rule", "calendar", "input_spacing"}``.

    Raises
    ------
    TypeError
        ``bars`` is not a DataFrame indexed by a DatetimeIndex, or ``rule`` has
        a wrong type.
    ParameterError
        ``rule`` is not a positive fixed frequency (e.g. ``"1M"`` is a month),
        or is shorter than, or not a multiple of, the input bar spacing.
    MissingColumnsError
        A price or ``volume`` column is missing.
    EmptyDataError
        ``bars`` holds no rows.
    BarDataError
        Naive timestamps.

    Notes
    -----
    Bins are aligned to each session's open in the calendar (B3: 09:00,
    09:05, ...; 24/7: UTC midnight), closed on the left and labelled with
    their open time; a bar goes to the bin holding its open time.  A bin never
    spans two sessions, so the last bin of a session may be shorter than
    ``rule``, and a ``rule`` longer than a session gives one bar per session.
    Bins without bars are dropped, never forward-filled.

    Aggregation: ``open`` first, ``high`` max, ``low`` min, ``close`` last,
    ``volume``, ``trades``, ``buy_volume``, ``sell_volume`` summed, ``vwap``
    volume-weighted, ``sum(vwap * volume) / sum(volume)`` (NaN when the bin's
    volume is 0), ``contract``, ``adjustment`` and any other column last.

    Examples
    --------
    >>> import pandas as pd
    >>> ts = pd.date_range("2025-02-03 09:00", periods=7, freq="1min", tz="America/Sao_Paulo")
    >>> bars = pd.DataFrame({"open": [1.0, 2, 3, 4, 5, 6, 7], "high": [1.0, 2, 3, 4, 5, 6, 7],
    ...                      "low": [1.0, 2, 3, 4, 5, 6, 7], "close": [1.0, 2, 3, 4, 5, 6, 7],
    ...                      "volume": 1.0, "symbol": "WDOH25"}, index=ts)
    >>> out = resample_bars(bars, "5min")
    >>> [t.strftime("%H:%M") for t in out.index], out["close"].tolist(), out["volume"].tolist()
    (['09:00', '09:05'], [5.0, 7.0], [5.0, 2.0])
    """
    # Rows are grouped by symbol and time below, so they need not be sorted.
    check_bar_frame(bars, sorted_unique=False)
    nanos, rule_text = _rule_nanos(rule)
    cal = bars_calendar(bars, calendar)

    ts_ns = bars.index.as_unit("ns").asi8
    if "symbol" in bars.columns:
        codes, uniques = pd.factorize(bars["symbol"].astype(str).to_numpy())
    else:
        codes, uniques = np.zeros(len(bars), dtype=np.int64), np.array([""])
    info = cal.sessions(bars.index)
    # Symbol (in order of first appearance), then time: each group is contiguous.
    order = np.lexsort((ts_ns, codes))
    t, c, s = ts_ns[order], codes[order], info.session[order]
    start = info.start[order]

    same = (c[1:] == c[:-1]) & (s[1:] == s[:-1])
    gaps = (t[1:] - t[:-1])[same]
    gaps = gaps[gaps > 0]
    spacing = None
    if gaps.size:
        spacing = int(gaps.min())
        if nanos < spacing or nanos % spacing:
            better = _fmt(spacing * max(1, -(-nanos // spacing)))
            raise ParameterError(
                f"`rule` {rule_text!r} must be a whole multiple of the input bar spacing "
                f"{_fmt(spacing)} (and at least as long), got {_fmt(nanos)}; bars cannot be "
                f"split: use e.g. {better!r}."
            )

    k = np.floor_divide(t - start, nanos)
    label = start + k * nanos
    new = np.ones(len(t), dtype=bool)
    new[1:] = (c[1:] != c[:-1]) | (s[1:] != s[:-1]) | (k[1:] != k[:-1])
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], len(t)) - 1

    data = {}
    for col in bars.columns:
        if col == "symbol":
            data[col] = bars[col].to_numpy()[order][starts]
            continue
        v = bars[col].to_numpy()[order]
        if col == "open":
            data[col] = v[starts]
        elif col == "high":
            data[col] = np.maximum.reduceat(v.astype("float64"), starts)
        elif col == "low":
            data[col] = np.minimum.reduceat(v.astype("float64"), starts)
        elif col in _SUMS:
            data[col] = np.add.reduceat(v.astype("float64"), starts)
        elif col == "vwap":
            vol = bars["volume"].to_numpy(dtype="float64")[order]
            vw = v.astype("float64")
            num = np.add.reduceat(np.where(vol != 0, vw * vol, 0.0), starts)
            den = np.add.reduceat(vol, starts)
            with np.errstate(invalid="ignore", divide="ignore"):
                data[col] = np.where(den != 0, num / np.where(den != 0, den, 1.0), np.nan)
        else:  # close, contract, adjustment, anything else: last
            data[col] = v[ends]

    idx = pd.DatetimeIndex(pd.to_datetime(label[starts], unit="ns", utc=True), name="timestamp")
    idx = idx.tz_convert(bars.index.tz).as_unit(bars.index.unit)
    final = np.lexsort((c[starts], label[starts]))
    out = pd.DataFrame({col: data[col][final] for col in bars.columns}, index=idx[final])
    for col in bars.columns:
        if col not in ("vwap", *_SUMS, "high", "low"):
            try:
                out[col] = out[col].astype(bars[col].dtype)
            except (TypeError, ValueError):
                pass
    out.attrs = copy.deepcopy(bars.attrs)
    if isinstance(out.attrs.get("bars"), dict):
        if "rows" in out.attrs["bars"]:
            out.attrs["bars"]["rows"] = int(len(out))
        out.attrs["bars"]["bar_minutes"] = nanos / 60e9
    out.attrs["resample"] = {
        "rule": rule_text,
        "calendar": cal.name,
        "input_spacing": None if spacing is None else pd.Timedelta(spacing, "ns"),
    }
    return out
