"""Trading-session calendars: which session each bar belongs to, and its bounds.

A :class:`SessionCalendar` is a small frozen description of an exchange's
regular session in its own time zone.  It answers, for any tz-aware
timestamps, the session each bar belongs to, the session's start and end, and
whether the bar lies inside regular hours.  Features, labels and strategies ask
the calendar instead of guessing from gaps in the data, so the first bar of a
session is known even when the opening minute has no trade.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml._checks import did_you_mean
from ml.exceptions import ParameterError

__all__ = ["CALENDARS", "SessionCalendar", "SessionInfo", "bars_calendar", "get_calendar", "infer_calendar"]


@dataclass(frozen=True)
class SessionInfo:
    """Per-bar session facts, as numpy arrays aligned with the bars.

    Attributes
    ----------
    session : ndarray of int64, shape (n_bars,)
        Session number, 0 for the first session present, increasing by one per
        session (sessions without bars are skipped).
    session_date : DatetimeIndex
        The session's trading date (naive, midnight).
    start, end : ndarray of int64
        Session start and end as UTC nanoseconds.
    in_session : ndarray of bool
        True where the bar's open time lies in [start, end).
    minutes_since_open, minutes_to_close : ndarray of float64
        From the session start to the bar's open time, and from the bar's open
        time to the session end, in minutes.
    """

    session: np.ndarray
    session_date: pd.DatetimeIndex
    start: np.ndarray
    end: np.ndarray
    in_session: np.ndarray
    minutes_since_open: np.ndarray
    minutes_to_close: np.ndarray

    @property
    def first_in_session(self) -> np.ndarray:
        """True on the first bar of every session present in the data."""
        first = np.ones(len(self.session), dtype=bool)
        first[1:] = self.session[1:] != self.session[:-1]
        return first


@dataclass(frozen=True)
class SessionCalendar:
    """Regular trading session of an exchange.

    Parameters
    ----------
    name : str
        Identifier, e.g. ``"B3"``.
    tz : str
        IANA time zone of the exchange, e.g. ``"America/Sao_Paulo"``.
    open, close : datetime.time or None
        Session open and close in local time.  Both ``None`` means sessions are
        whole local days (24/7 markets).  ``close <= open`` means the session
        crosses midnight and is named after the day it closes.
    weekdays : tuple of int
        Days (Monday = 0) on which sessions normally trade; used to count
        sessions per year, not to drop data.
    sessions_per_year : int
        Trading sessions in a year, used for annualisation
        (``periods_per_year = sessions_per_year * bars_per_session``).

    Examples
    --------
    >>> import pandas as pd
    >>> cal = get_calendar("B3")
    >>> ts = pd.DatetimeIndex(["2025-02-03 09:00", "2025-02-03 18:29"], tz=cal.tz)
    >>> cal.sessions(ts).minutes_since_open.tolist()
    [0.0, 569.0]
    """

    name: str
    tz: str
    open: _dt.time | None = None
    close: _dt.time | None = None
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    sessions_per_year: int = 252

    @property
    def is_24h(self) -> bool:
        return self.open is None and self.close is None

    @property
    def session_minutes(self) -> float:
        """Length of a regular session in minutes."""
        if self.is_24h:
            return 24 * 60.0
        o = self.open.hour * 60 + self.open.minute + self.open.second / 60
        c = self.close.hour * 60 + self.close.minute + self.close.second / 60
        return float(c - o if c > o else c - o + 24 * 60)

    def periods_per_year(self, bar_minutes: float) -> float:
        """Bars per year for bars of ``bar_minutes`` (e.g. 252 x 570 for 1-min WDO)."""
        if bar_minutes <= 0:
            raise ParameterError(f"`bar_minutes` must be > 0, got {bar_minutes!r}.")
        return self.sessions_per_year * self.session_minutes / bar_minutes

    def sessions(self, index) -> SessionInfo:
        """Session facts for every timestamp of ``index`` (tz-aware)."""
        index = pd.DatetimeIndex(index)
        if index.tz is None:
            raise ParameterError(
                "timestamps must be timezone-aware; localise them first "
                f"(e.g. index.tz_localize({self.tz!r}))."
            )
        local = index.tz_convert(self.tz).tz_localize(None)
        if self.is_24h:
            date = local.normalize()
            start_local = date
            end_local = date + pd.Timedelta(days=1)
        else:
            open_td = pd.Timedelta(hours=self.open.hour, minutes=self.open.minute,
                                   seconds=self.open.second)
            close_td = pd.Timedelta(hours=self.close.hour, minutes=self.close.minute,
                                    seconds=self.close.second)
            if close_td > open_td:
                date = local.normalize()
                start_local = date + open_td
                end_local = date + close_td
            else:  # session crosses midnight; named after the closing day
                date = (local - open_td).normalize() + pd.Timedelta(days=1)
                start_local = date - pd.Timedelta(days=1) + open_td
                end_local = date + close_td
        start = start_local.tz_localize(self.tz, ambiguous="NaT", nonexistent="shift_forward")
        end = end_local.tz_localize(self.tz, ambiguous="NaT", nonexistent="shift_forward")
        start_ns = start.as_unit("ns").asi8
        end_ns = end.as_unit("ns").asi8
        ts_ns = index.as_unit("ns").asi8
        codes, _ = pd.factorize(date.as_unit("ns").asi8, sort=False)
        # Session numbers must increase with time even if the input is unsorted.
        order = np.argsort(date.as_unit("ns").asi8, kind="stable")
        rank = np.empty(codes.max() + 1 if len(codes) else 0, dtype=np.int64)
        seen_codes = pd.unique(codes[order])
        rank[seen_codes] = np.arange(len(seen_codes))
        session = rank[codes] if len(codes) else codes.astype(np.int64)
        return SessionInfo(
            session=session.astype(np.int64),
            session_date=date,
            start=start_ns,
            end=end_ns,
            in_session=(ts_ns >= start_ns) & (ts_ns < end_ns),
            minutes_since_open=(ts_ns - start_ns) / 60e9,
            minutes_to_close=(end_ns - ts_ns) / 60e9,
        )


CALENDARS: dict[str, SessionCalendar] = {
    # B3 derivatives (WDO, WIN, DOL, IND): regular session 09:00-18:30 Brasilia time.
    "B3": SessionCalendar("B3", "America/Sao_Paulo", _dt.time(9, 0), _dt.time(18, 30)),
    # B3 cash equities: 10:00-18:00 (closing call included in the last bars).
    "B3_EQUITIES": SessionCalendar(
        "B3_EQUITIES", "America/Sao_Paulo", _dt.time(10, 0), _dt.time(18, 0)
    ),
    # Crypto: 24/7, sessions are UTC days.
    "24/7": SessionCalendar("24/7", "UTC", None, None, weekdays=tuple(range(7)),
                            sessions_per_year=365),
}
_ALIASES = {"CRYPTO": "24/7", "UTC": "24/7", "BMF": "B3", "BOVESPA": "B3_EQUITIES"}

_B3_FUTURE = re.compile(r"^(WDO|WIN|DOL|IND|WSP|ISP|BGI|CCM|DI1)([FGHJKMNQUVXZ]\d{2}|FUT|\$|@.*)?$")
_B3_STOCK = re.compile(r"^[A-Z]{4}(3|4|5|6|11)F?$")


def get_calendar(calendar) -> SessionCalendar:
    """Return a :class:`SessionCalendar` from a name (``"B3"``, ``"24/7"``, ...) or itself."""
    if isinstance(calendar, SessionCalendar):
        return calendar
    if not isinstance(calendar, str):
        raise TypeError(
            f"`calendar` must be a name or a SessionCalendar, got {type(calendar).__name__}."
        )
    key = calendar.upper()
    key = _ALIASES.get(key, key)
    if key in CALENDARS:
        return CALENDARS[key]
    names = sorted(CALENDARS) + sorted(_ALIASES)
    raise ParameterError(
        f"unknown calendar {calendar!r}; known calendars: {', '.join(sorted(CALENDARS))}."
        f"{did_you_mean(calendar, names, cutoff=0.5)}"
    )


def infer_calendar(symbol: str | None) -> SessionCalendar:
    """Guess the calendar from a symbol: B3 futures/stocks, otherwise 24/7 UTC."""
    if symbol:
        s = str(symbol).upper()
        if _B3_FUTURE.match(s):
            return CALENDARS["B3"]
        if _B3_STOCK.match(s):
            return CALENDARS["B3_EQUITIES"]
    return CALENDARS["24/7"]


def bars_calendar(bars: pd.DataFrame, calendar=None) -> SessionCalendar:
    """The calendar to use for ``bars``: ``calendar`` if given, else the one
    :func:`~ml.data.load_bars` recorded in ``bars.attrs``, else inferred from
    the first symbol (24/7 UTC when there is none)."""
    if calendar is not None:
        return get_calendar(calendar)
    name = (getattr(bars, "attrs", {}) or {}).get("bars", {}).get("calendar")
    if name:
        return get_calendar(name)
    sym = bars["symbol"].iloc[0] if "symbol" in getattr(bars, "columns", ()) and len(bars) else None
    return infer_calendar(sym)
