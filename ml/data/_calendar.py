"""Trading-session calendars: which session each bar belongs to, and its bounds.

A :class:`SessionCalendar` answers, for any tz-aware timestamps, the session
each bar belongs to, the session's scheduled open and close, and whether the
bar lies inside regular hours.  Features, labels, strategies and engines ask
the calendar instead of guessing from gaps in the data, so the first bar of a
session is known even when the opening minute has no trade, and the close is
known before the session starts (live trading needs it).

Where the facts come from
-------------------------
* **Trading days, holidays, late opens and early closes** come from
  ``pandas_market_calendars`` (which carries ``exchange_calendars``' B3 and
  NYSE calendars and its own CME Globex product calendars); they are never
  typed in here.
* **Regular hours** are the library's where it has them right (CME Globex,
  NYSE).  B3 moves its hours with *US* daylight saving time (the library's
  ``BVMF`` keeps 10:00-18:00 all year), so the B3 calendars state their two
  sets of hours here and pick one per session: the summer set on sessions
  whose date falls in US daylight saving time (second Sunday of March to first
  Sunday of November, New York), e.g. WDO 09:00-18:00 from Monday
  2024-03-11, 09:00-18:30 from Monday 2024-11-04.  A late open or early close
  the library knows (Ash Wednesday opens at 13:00) overrides them.
* **24/7** markets have one session per UTC day.

Custom calendars with fixed weekly hours and no holidays can be built
directly, e.g. ``SessionCalendar("X", "America/Chicago", time(8, 30), time(15, 0))``.
"""

from __future__ import annotations

import datetime as _dt
import functools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml._checks import did_you_mean
from ml.exceptions import ParameterError

__all__ = ["CALENDARS", "REFERENCE_YEARS", "SessionCalendar", "SessionInfo", "bars_calendar",
           "get_calendar", "infer_calendar", "us_daylight_saving"]

_NS_PER_MIN = 60_000_000_000
_NS_PER_DAY = 86_400_000_000_000

#: Years whose schedule gives a calendar's typical year (bars per year,
#: sessions per year) when no bars are given.  Fixed, so results do not
#: depend on today's date.
REFERENCE_YEARS = (2022, 2023, 2024, 2025)


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
        The session's scheduled open and close as UTC nanoseconds.
    in_session : ndarray of bool
        True where the bar's open time lies in [start, end).
    minutes_since_open, minutes_to_close : ndarray of float64
        From the session open to the bar's open time, and from the bar's open
        time to the session close, in minutes.
    session_minutes : ndarray of float64
        Length of the bar's session (``end - start``) in minutes.
    """

    session: np.ndarray
    session_date: pd.DatetimeIndex
    start: np.ndarray
    end: np.ndarray
    in_session: np.ndarray
    minutes_since_open: np.ndarray
    minutes_to_close: np.ndarray
    session_minutes: np.ndarray | None = None

    @property
    def first_in_session(self) -> np.ndarray:
        """True on the first bar of every session present in the data."""
        first = np.ones(len(self.session), dtype=bool)
        first[1:] = self.session[1:] != self.session[:-1]
        return first


def _minutes(t: _dt.time) -> float:
    return t.hour * 60 + t.minute + t.second / 60


@dataclass(frozen=True)
class SessionCalendar:
    """Regular trading sessions of an exchange.

    Parameters
    ----------
    name : str
        Identifier, e.g. ``"B3"``.
    tz : str
        IANA time zone of the exchange, e.g. ``"America/Sao_Paulo"``.
    open, close : datetime.time or None
        Regular open and close in local time.  ``close <= open`` means the
        session crosses midnight and is named after the day it closes.  Both
        ``None``: the ``library``'s hours, or whole local days (24/7 markets)
        when there is no library.
    weekdays : tuple of int
        Days (Monday = 0) with a session when there is no ``library``.
    sessions_per_year : int, optional
        Sessions a year for annualisation; default: counted from the schedule
        (library calendars), 365 for 24/7 markets, 252 for other fixed
        calendars.
    library : str, optional
        ``pandas_market_calendars`` calendar giving the trading days,
        holidays, late opens and early closes (e.g. ``"BVMF"``,
        ``"CMEGlobex_FX"``, ``"NYSE"``).
    dst_open, dst_close : datetime.time, optional
        Regular hours on sessions whose date falls in US daylight saving time
        (B3's rule); ``open`` / ``close`` apply on the others.
    dst_until : datetime.date, optional
        Last session date on which the daylight-saving hours apply (B3's
        dollar and index futures kept their extended hours all year from
        2024-03-11); None: every year.
    description : str
        What the calendar is for, shown in listings.

    Examples
    --------
    >>> import pandas as pd
    >>> cal = get_calendar("B3")
    >>> ts = pd.DatetimeIndex(["2023-02-03 09:00", "2023-02-03 18:29", "2023-06-02 17:59"], tz=cal.tz)
    >>> info = cal.sessions(ts)
    >>> info.minutes_since_open.tolist(), info.minutes_to_close.tolist()
    ([0.0, 569.0, 539.0], [570.0, 1.0, 1.0])
    """

    name: str
    tz: str
    open: _dt.time | None = None
    close: _dt.time | None = None
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    sessions_per_year: int | None = None
    library: str | None = None
    dst_open: _dt.time | None = None
    dst_close: _dt.time | None = None
    dst_until: _dt.date | None = None
    description: str = ""

    @property
    def is_24h(self) -> bool:
        """Whole local days, no library (24/7 markets)."""
        return self.open is None and self.close is None and self.library is None

    # ------------------------------------------------------------------ schedule

    def schedule(self, start, end) -> pd.DataFrame:
        """Sessions whose date lies in [``start``, ``end``], known in advance.

        Returns
        -------
        DataFrame
            Indexed by the session date (naive midnight, name
            ``session_date``), columns ``open`` and ``close``: tz-aware
            timestamps in the exchange's time zone.

        Examples
        --------
        >>> s = get_calendar("B3").schedule("2023-03-10", "2023-03-13")
        >>> [(str(d.date()), o.strftime("%H:%M"), c.strftime("%H:%M")) for d, o, c in s.itertuples()]
        [('2023-03-10', '09:00', '18:30'), ('2023-03-13', '09:00', '18:00')]
        """
        lo, hi = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
        if lo.tzinfo is not None or hi.tzinfo is not None:
            lo, hi = lo.tz_localize(None), hi.tz_localize(None)
        dates, opens, closes = self._arrays(lo.year, hi.year)
        sel = (dates >= lo.value) & (dates <= hi.value)
        return pd.DataFrame(
            {"open": pd.DatetimeIndex(opens[sel], tz="UTC").tz_convert(self.tz),
             "close": pd.DatetimeIndex(closes[sel], tz="UTC").tz_convert(self.tz)},
            index=pd.DatetimeIndex(dates[sel], name="session_date"))

    def _arrays(self, y0: int, y1: int):
        """Session dates (ns of naive midnight), opens and closes (UTC ns) of
        every session of the years ``y0 - 1`` to ``y1 + 1``, sorted."""
        return _schedule_arrays(self, int(y0) - 1, int(y1) + 1)

    def _build(self, y0: int, y1: int):
        lo = pd.Timestamp(year=y0, month=1, day=1)
        hi = pd.Timestamp(year=y1, month=12, day=31)
        if self.library is not None:
            lib = _library_calendar(self.library)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sched = lib.schedule(lo, hi)
            dates = pd.DatetimeIndex(sched.index).normalize()
            lib_open = pd.DatetimeIndex(sched["market_open"]).tz_convert(self.tz)
            lib_close = pd.DatetimeIndex(sched["market_close"]).tz_convert(self.tz)
            if self.open is None:
                return (dates.as_unit("ns").asi8, lib_open.as_unit("ns").asi8,
                        lib_close.as_unit("ns").asi8)
            open_ns, close_ns = self._regular(dates)
            # The library's special sessions (late opens, early closes) win: a
            # local open later than its usual open that year, a close earlier.
            lo_min = _local_minutes(lib_open)
            lc_min = _local_minutes(lib_close)
            years = dates.year.to_numpy()
            for y in np.unique(years):
                m = years == y
                usual_open = _mode(lo_min[m])
                usual_close = _mode(lc_min[m])
                late = m & (lo_min > usual_open + 1e-9)
                early = m & (lc_min < usual_close - 1e-9)
                lib_o = lib_open.as_unit("ns").asi8
                lib_c = lib_close.as_unit("ns").asi8
                open_ns = np.where(late, np.maximum(open_ns, _floor_minute(lib_o)), open_ns)
                close_ns = np.where(early, np.minimum(close_ns, lib_c), close_ns)
            return dates.as_unit("ns").asi8, open_ns, close_ns
        if self.is_24h:
            dates = pd.date_range(lo, hi, freq="D")
            days = dates.as_unit("ns").asi8
            return days, _localize(days, self.tz), _localize(days + _NS_PER_DAY, self.tz)
        dates = pd.date_range(lo, hi, freq="D")
        dates = dates[np.isin(dates.day_of_week, list(self.weekdays))]
        open_ns, close_ns = self._regular(dates)
        return dates.as_unit("ns").asi8, open_ns, close_ns

    def _regular(self, dates: pd.DatetimeIndex):
        """Regular open and close (UTC ns) of sessions on ``dates`` (naive midnights)."""
        o = np.full(len(dates), _minutes(self.open))
        c = np.full(len(dates), _minutes(self.close))
        if self.dst_open is not None or self.dst_close is not None:
            dst = us_daylight_saving(dates)
            if self.dst_until is not None:
                dst &= np.asarray(dates.normalize() <= pd.Timestamp(self.dst_until))
            if self.dst_open is not None:
                o[dst] = _minutes(self.dst_open)
            if self.dst_close is not None:
                c[dst] = _minutes(self.dst_close)
        crosses = c <= o  # named after the closing day: opens the day before
        day = dates.as_unit("ns").asi8
        open_local = day + (o * _NS_PER_MIN).astype(np.int64) - np.where(crosses, _NS_PER_DAY, 0)
        close_local = day + (c * _NS_PER_MIN).astype(np.int64)
        return _localize(open_local, self.tz), _localize(close_local, self.tz)

    # ------------------------------------------------------------------ per bar

    def sessions(self, index) -> SessionInfo:
        """Session facts for every timestamp of ``index`` (tz-aware).

        A bar inside a session's [open, close) belongs to it.  A bar outside
        every session (after-hours, before the open, a holiday) belongs to the
        session that closed before it on the same local date, else to the next
        session; ``in_session`` is False for it.
        """
        index = pd.DatetimeIndex(index)
        if index.tz is None:
            raise ParameterError(
                "timestamps must be timezone-aware; localise them first "
                f"(e.g. index.tz_localize({self.tz!r}))."
            )
        ts = index.as_unit("ns").asi8
        n = len(ts)
        if n == 0:
            empty_i, empty_f = np.zeros(0, dtype=np.int64), np.zeros(0)
            return SessionInfo(empty_i, pd.DatetimeIndex([]), empty_i, empty_i, np.zeros(0, dtype=bool),
                               empty_f, empty_f, empty_f)
        local = index.tz_convert(self.tz)
        years = local.year
        dates, opens, closes = self._arrays(int(years.min()), int(years.max()))
        k = np.searchsorted(opens, ts, side="right") - 1
        k_clip = np.clip(k, 0, len(opens) - 1)
        inside = (k >= 0) & (ts < closes[k_clip])
        # outside every session: the session that closed earlier the same local
        # day, else the next one
        local_day = local.tz_localize(None).normalize().as_unit("ns").asi8
        close_day = (pd.DatetimeIndex(closes[k_clip], tz="UTC").tz_convert(self.tz)
                     .tz_localize(None).normalize().as_unit("ns").asi8)
        same_day = (k >= 0) & (close_day == local_day)
        k = np.where(inside | same_day, k_clip, np.minimum(k + 1, len(opens) - 1))
        start, end = opens[k], closes[k]
        sdate = dates[k]
        codes, uniques = pd.factorize(sdate, sort=True)
        return SessionInfo(
            session=codes.astype(np.int64),
            session_date=pd.DatetimeIndex(sdate),
            start=start,
            end=end,
            in_session=(ts >= start) & (ts < end),
            minutes_since_open=(ts - start) / 60e9,
            minutes_to_close=(end - ts) / 60e9,
            session_minutes=(end - start) / 60e9,
        )

    # ------------------------------------------------------------------ a year of sessions

    def _year_stats(self, index=None):
        """Sessions a year and minutes a year, averaged over the calendar years
        of ``index`` (default :data:`REFERENCE_YEARS`), and the longest session."""
        if index is not None and len(index):
            local = pd.DatetimeIndex(index).tz_convert(self.tz)
            years = tuple(range(int(local.year.min()), int(local.year.max()) + 1))
        else:
            years = REFERENCE_YEARS
        return _year_stats(self, years)

    def sessions_in_year(self, index=None) -> float:
        """Sessions a year: the calendar's count averaged over the years of
        ``index`` (default :data:`REFERENCE_YEARS`); 365 for 24/7 markets."""
        if self.sessions_per_year is not None:
            return float(self.sessions_per_year)
        if self.is_24h:
            return 365.0
        if self.library is None:
            return 252.0 if len(self.weekdays) == 5 else float(round(365.25 * len(self.weekdays) / 7))
        return self._year_stats(index)[0]

    def longest_session_minutes(self, index=None) -> float:
        """The longest session of the years of ``index`` (default reference years), in minutes."""
        if self.library is None and self.dst_open is None and self.dst_close is None:
            return self.session_minutes
        return self._year_stats(index)[2]

    @property
    def session_minutes(self) -> float:
        """Length of a regular session in minutes (fixed-hours calendars); for
        calendars whose hours vary, the mean over :data:`REFERENCE_YEARS`."""
        if self.is_24h:
            return 24 * 60.0
        if self.library is None and self.dst_open is None and self.dst_close is None:
            o, c = _minutes(self.open), _minutes(self.close)
            return float(c - o if c > o else c - o + 24 * 60)
        n, minutes, _ = self._year_stats()
        return minutes / n

    def periods_per_year(self, bar_minutes: float, index=None) -> float:
        """Bars a year for bars of ``bar_minutes``.

        Scheduled session minutes in a year / ``bar_minutes``: the
        calendar's real schedule (holidays, half days, B3's summer hours),
        averaged over the calendar years of ``index`` (default
        :data:`REFERENCE_YEARS`).  Fixed-hours calendars without a library:
        ``sessions_per_year * session_minutes / bar_minutes`` (365 x 1,440
        for 24/7 markets, vectorbt's year).

        Examples
        --------
        >>> get_calendar("24/7").periods_per_year(1)
        525600.0
        """
        if isinstance(bar_minutes, (bool, np.bool_)) or not isinstance(bar_minutes, (int, float, np.number)) \
                or not bar_minutes > 0:
            raise ParameterError(f"`bar_minutes` must be > 0, got {bar_minutes!r}.")
        if self.library is None and self.dst_open is None and self.dst_close is None:
            return self.sessions_in_year(index) * self.session_minutes / bar_minutes
        if self.sessions_per_year is not None:
            return self.sessions_per_year * self.session_minutes / bar_minutes
        _, minutes, _ = self._year_stats(index)
        return minutes / bar_minutes

    def describe(self) -> str:
        """One line: name, time zone and where hours and holidays come from."""
        if self.is_24h:
            hours = "every day, 00:00-24:00"
        elif self.open is None:
            hours = f"hours from pandas_market_calendars {self.library!r}"
        else:
            hours = f"{self.open:%H:%M}-{self.close:%H:%M}"
            if self.dst_open is not None or self.dst_close is not None:
                hours += (f" ({(self.dst_open or self.open):%H:%M}-{(self.dst_close or self.close):%H:%M}"
                          " while the US is on daylight saving time"
                          + (f", until {self.dst_until:%Y-%m-%d}" if self.dst_until else "") + ")")
        days = f"holidays from pandas_market_calendars {self.library!r}" if self.library else \
            ("no holidays" if self.is_24h else "no holidays (fixed weekdays)")
        return f"{self.name} ({self.tz}): {hours}; {days}"


# --------------------------------------------------------------------------- helpers


def us_daylight_saving(dates) -> np.ndarray:
    """True where the date (naive midnight) falls in US daylight saving time
    (New York at noon): from the second Sunday of March to the first Sunday of
    November.

    >>> us_daylight_saving(pd.DatetimeIndex(["2024-03-08", "2024-03-11", "2024-11-01", "2024-11-04"])).tolist()
    [False, True, True, False]
    """
    noon = pd.DatetimeIndex(dates).normalize() + pd.Timedelta(hours=12)
    ny = noon.tz_localize("America/New_York")
    offset = ny.tz_localize(None).as_unit("ns").asi8 - ny.tz_convert("UTC").tz_localize(None).as_unit("ns").asi8
    return offset == -4 * 3_600_000_000_000


def _localize(local_ns: np.ndarray, tz: str) -> np.ndarray:
    """Local wall-clock times (ns) to UTC ns: a time a DST change skips moves to the
    change; a repeated one is read as its first occurrence."""
    idx = pd.DatetimeIndex(local_ns.astype("datetime64[ns]"))
    return idx.tz_localize(tz, ambiguous=np.ones(len(idx), dtype=bool),
                           nonexistent="shift_forward").as_unit("ns").asi8


def _local_minutes(ts: pd.DatetimeIndex) -> np.ndarray:
    return (ts.hour * 60 + ts.minute + ts.second / 60).to_numpy(dtype=np.float64)


def _floor_minute(ns: np.ndarray) -> np.ndarray:
    return ns - ns % _NS_PER_MIN


def _mode(values: np.ndarray) -> float:
    vals, counts = np.unique(np.round(values, 6), return_counts=True)
    return float(vals[np.argmax(counts)])


@functools.lru_cache(maxsize=32)
def _library_calendar(name: str):
    try:
        import pandas_market_calendars as mcal
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ImportError("pandas_market_calendars is required for exchange calendars: "
                          "pip install pandas_market_calendars") from exc
    return mcal.get_calendar(name)


@functools.lru_cache(maxsize=256)
def _schedule_arrays(cal: SessionCalendar, y0: int, y1: int):
    dates, opens, closes = cal._build(y0, y1)
    order = np.argsort(opens, kind="stable")
    out = tuple(np.ascontiguousarray(a[order], dtype=np.int64) for a in (dates, opens, closes))
    for a in out:
        a.setflags(write=False)
    return out


@functools.lru_cache(maxsize=256)
def _year_stats(cal: SessionCalendar, years: tuple):
    dates, opens, closes = cal._arrays(min(years), max(years))
    yr = pd.DatetimeIndex(dates).year.to_numpy()
    minutes = (closes - opens) / 60e9
    per_year = [(int((yr == y).sum()), float(minutes[yr == y].sum())) for y in years]
    n = float(np.mean([p[0] for p in per_year]))
    m = float(np.mean([p[1] for p in per_year]))
    sel = np.isin(yr, years)
    longest = float(minutes[sel].max()) if sel.any() else float(minutes.max())
    return n, m, longest


# --------------------------------------------------------------------------- the calendars

_T = _dt.time

#: B3 futures followed US daylight saving time up to this date; from 2024-03-11
#: (B3 notice of March 2024) WDO/DOL trade to 18:30 and WIN/IND to 18:25 all year.
_B3_FUTURES_DST_UNTIL = _dt.date(2024, 3, 10)

CALENDARS: dict[str, SessionCalendar] = {
    # B3 derivatives: US dollar futures (WDO, DOL).  09:00-18:30; 09:00-18:00
    # while the US was on daylight saving time, until B3 kept the extended
    # hours all year from 2024-03-11 (the last DST session: 2023-11-03).
    "B3": SessionCalendar("B3", "America/Sao_Paulo", _T(9, 0), _T(18, 30), library="BVMF",
                          dst_open=_T(9, 0), dst_close=_T(18, 0), dst_until=_B3_FUTURES_DST_UNTIL,
                          description="B3 derivatives, dollar futures (WDO, DOL)"),
    # B3 derivatives: Ibovespa futures (WIN, IND).  09:00-18:25; 09:00-17:55 in
    # US DST until 2024-03-10, as the dollar futures.
    "B3_INDEX": SessionCalendar("B3_INDEX", "America/Sao_Paulo", _T(9, 0), _T(18, 25), library="BVMF",
                                dst_open=_T(9, 0), dst_close=_T(17, 55), dst_until=_B3_FUTURES_DST_UNTIL,
                                description="B3 derivatives, Ibovespa futures (WIN, IND)"),
    # B3 cash equities: 10:00-18:00 (closing call included); 10:00-17:00 in US DST.
    "B3_EQUITIES": SessionCalendar("B3_EQUITIES", "America/Sao_Paulo", _T(10, 0), _T(18, 0),
                                   library="BVMF", dst_open=_T(10, 0), dst_close=_T(17, 0),
                                   description="B3 cash equities (stocks, units, ETFs)"),
    # CME Globex: 17:00 Chicago the day before to 16:00 (the daily 16:00-17:00
    # break lies between sessions; Sunday evening belongs to Monday).
    "CME_FX": SessionCalendar("CME_FX", "America/Chicago", library="CMEGlobex_FX",
                              description="CME Globex FX futures (6E, ...)"),
    "CME_EQUITY": SessionCalendar("CME_EQUITY", "America/Chicago", library="CME Globex Equity",
                                  description="CME Globex equity index futures (ES, MES, NQ, ...)"),
    "CME_ENERGY": SessionCalendar("CME_ENERGY", "America/Chicago", library="CMEGlobex_Crude",
                                  description="CME Globex (NYMEX) crude oil futures (CL, ...)"),
    # US equities: NYSE 09:30-16:00 New York time, half days from the library.
    "XNYS": SessionCalendar("XNYS", "America/New_York", library="NYSE",
                            description="US equities (NYSE / Nasdaq regular hours)"),
    # Crypto: 24/7, sessions are UTC days.
    "24/7": SessionCalendar("24/7", "UTC", None, None, weekdays=tuple(range(7)),
                            description="crypto, 24/7, one session per UTC day"),
}
_ALIASES = {"CRYPTO": "24/7", "UTC": "24/7", "BMF": "B3", "B3_FX": "B3", "B3_DERIVATIVES": "B3",
            "BOVESPA": "B3_EQUITIES", "BVMF": "B3_EQUITIES", "B3_STOCKS": "B3_EQUITIES",
            "NYSE": "XNYS", "NASDAQ": "XNYS", "US_EQUITIES": "XNYS",
            "CMEGLOBEX_FX": "CME_FX", "CME_CURRENCY": "CME_FX", "CMEGLOBEX_EQUITY": "CME_EQUITY",
            "CMEGLOBEX_CRUDE": "CME_ENERGY", "NYMEX": "CME_ENERGY"}
#: Names that could mean several calendars.
_AMBIGUOUS = {"CME": ("CME_FX", "CME_EQUITY", "CME_ENERGY"), "GLOBEX": ("CME_FX", "CME_EQUITY", "CME_ENERGY")}


def get_calendar(calendar) -> SessionCalendar:
    """Return a :class:`SessionCalendar` from a name (``"B3"``, ``"24/7"``, ...) or itself."""
    if isinstance(calendar, SessionCalendar):
        return calendar
    if not isinstance(calendar, str):
        raise TypeError(
            f"`calendar` must be a name or a SessionCalendar, got {type(calendar).__name__}."
        )
    key = calendar.strip().upper()
    if key in _AMBIGUOUS:
        raise ParameterError(f"calendar {calendar!r} is ambiguous: CME Globex hours and holidays differ by "
                             f"product; use one of {', '.join(_AMBIGUOUS[key])}.")
    key = _ALIASES.get(key, key)
    if key in CALENDARS:
        return CALENDARS[key]
    names = sorted(CALENDARS) + sorted(_ALIASES)
    raise ParameterError(
        f"unknown calendar {calendar!r}; known calendars: {', '.join(sorted(CALENDARS))}."
        f"{did_you_mean(calendar, names, cutoff=0.5)}"
    )


def infer_calendar(symbol: str | None) -> SessionCalendar | None:
    """The calendar of the instrument preset a symbol maps to, or None when no
    preset matches (see :func:`ml.data.instrument_for`)."""
    from ml.data._instruments import match_instrument

    inst = match_instrument(symbol)
    return None if inst is None else get_calendar(inst.calendar)


def bars_calendar(bars: pd.DataFrame, calendar=None) -> SessionCalendar:
    """The calendar to use for ``bars``: ``calendar`` if given, else the one
    :func:`~ml.data.load_bars` recorded in ``bars.attrs``, else the calendar
    of the instrument preset of the first symbol.

    Raises
    ------
    ParameterError
        None of these is available (no calendar is ever assumed).
    """
    if calendar is not None:
        return get_calendar(calendar)
    name = (getattr(bars, "attrs", {}) or {}).get("bars", {}).get("calendar")
    if name:
        return get_calendar(name)
    sym = bars["symbol"].iloc[0] if "symbol" in getattr(bars, "columns", ()) and len(bars) else None
    cal = infer_calendar(sym)
    if cal is None:
        what = f"symbol {sym!r} matches no instrument preset" if sym is not None else "the bars have no symbol"
        raise ParameterError(
            f"cannot tell the session calendar: {what} and no calendar was recorded; pass "
            f"calendar= (one of {', '.join(sorted(CALENDARS))}) or load the bars with ml.data.load_bars.")
    return cal
