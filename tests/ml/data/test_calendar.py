"""Tests of the session calendars (``ml.data._calendar``), with hand-computed values."""

from __future__ import annotations

import datetime as dt
import doctest

import numpy as np
import pandas as pd
import pytest

import ml.data._calendar as calendar_module
import ml.data._loader as loader_module
from ml.data import CALENDARS, SessionCalendar, bars_calendar, get_calendar, infer_calendar, load_bars, sample_path
from ml.exceptions import ParameterError

SP = "America/Sao_Paulo"


def _ns(text, tz):
    return pd.Timestamp(text, tz=tz).as_unit("ns").value


# --------------------------------------------------------------------------- B3


def test_b3_session_bounds_and_minutes():
    cal = get_calendar("B3")
    assert (cal.tz, cal.open, cal.close) == (SP, dt.time(9, 0), dt.time(18, 30))
    ts = pd.DatetimeIndex(["2021-11-05 12:47", "2021-11-08 09:00", "2021-11-08 18:29",
                           "2021-11-08 08:59", "2021-11-08 18:30"], tz=SP)
    info = cal.sessions(ts)
    assert info.minutes_since_open.tolist() == [227.0, 0.0, 569.0, -1.0, 570.0]
    assert info.minutes_to_close.tolist() == [343.0, 570.0, 1.0, 571.0, 0.0]
    assert info.in_session.tolist() == [True, True, True, False, False]
    assert info.session.tolist() == [0, 1, 1, 1, 1]
    assert info.first_in_session.tolist() == [True, True, False, False, False]
    assert info.start[1] == _ns("2021-11-08 09:00", SP) == info.start[2]
    assert info.end[1] == _ns("2021-11-08 18:30", SP)
    assert info.start[0] == _ns("2021-11-05 09:00", SP)
    assert list(info.session_date[:2]) == [pd.Timestamp("2021-11-05"), pd.Timestamp("2021-11-08")]


def test_b3_sessions_accept_any_timezone():
    cal = get_calendar("B3")
    local = pd.DatetimeIndex(["2021-11-08 09:00", "2021-11-08 18:29"], tz=SP)
    info_utc = cal.sessions(local.tz_convert("UTC"))
    info_local = cal.sessions(local)
    assert info_utc.minutes_since_open.tolist() == info_local.minutes_since_open.tolist() == [0.0, 569.0]


def test_b3_on_the_real_wdo_sample():
    bars = load_bars(sample_path("wdo"))
    cal = bars_calendar(bars)
    assert cal.name == "B3"
    info = cal.sessions(bars.index)
    assert info.in_session.all()
    assert info.session[0] == 0 and info.session[-1] == 47  # 48 sessions
    assert set(np.diff(info.session)) == {0, 1}  # numbered increasing, no gaps
    assert info.first_in_session.sum() == 48
    assert info.minutes_since_open.min() == 0.0 and info.minutes_to_close.min() == 1.0


def test_periods_per_year():
    assert get_calendar("B3").session_minutes == 570.0
    assert get_calendar("B3").periods_per_year(1) == 252 * 570 == 143_640
    assert get_calendar("B3").periods_per_year(5) == 252 * 114
    assert get_calendar("B3_EQUITIES").periods_per_year(1) == 252 * 480
    assert get_calendar("24/7").periods_per_year(1) == 365 * 1440
    with pytest.raises(ParameterError, match="`bar_minutes`"):
        get_calendar("B3").periods_per_year(0)


def test_naive_timestamps_are_refused():
    with pytest.raises(ParameterError, match="timezone-aware"):
        get_calendar("B3").sessions(pd.DatetimeIndex(["2021-11-08 09:00"]))


def test_sessions_numbered_increasing_for_unsorted_input():
    cal = get_calendar("B3")
    ts = pd.DatetimeIndex(["2021-11-09 10:00", "2021-11-05 10:00", "2021-11-08 10:00",
                           "2021-11-05 11:00", "2021-11-09 11:00"], tz=SP)
    assert cal.sessions(ts).session.tolist() == [2, 0, 1, 0, 2]
    assert cal.sessions(ts[:0]).session.tolist() == []


# --------------------------------------------------------------------------- 24/7


def test_24_7_utc_days():
    cal = get_calendar("24/7")
    assert cal.is_24h and cal.tz == "UTC" and cal.session_minutes == 1440.0
    ts = pd.DatetimeIndex(["2024-02-01 00:00", "2024-02-01 23:59", "2024-02-02 00:00",
                           "2024-02-03 12:00"], tz="UTC")
    info = cal.sessions(ts)
    assert info.session.tolist() == [0, 0, 1, 2]
    assert info.minutes_since_open.tolist() == [0.0, 1439.0, 0.0, 720.0]
    assert info.minutes_to_close.tolist() == [1440.0, 1.0, 1440.0, 720.0]
    assert info.in_session.all()
    assert info.start[1] == _ns("2024-02-01", "UTC") and info.end[1] == _ns("2024-02-02", "UTC")
    # A UTC day, not a local day: 21:00 in Sao Paulo is already the next UTC day.
    info = cal.sessions(pd.DatetimeIndex(["2024-02-01 20:59", "2024-02-01 21:00"], tz=SP))
    assert info.session.tolist() == [0, 1]


def test_24_7_on_the_real_filusdt_sample():
    bars = load_bars(sample_path("filusdt"))
    info = bars_calendar(bars).sessions(bars.index)
    assert info.session[-1] == 6 and info.first_in_session.sum() == 7
    assert info.minutes_since_open.max() == 1439.0


# --------------------------------------------------------------------------- crossing midnight


@pytest.fixture
def overnight():
    return SessionCalendar("GLOBEX", "America/Chicago", dt.time(17, 0), dt.time(16, 0))


def test_session_crossing_midnight(overnight):
    tz = overnight.tz
    assert overnight.session_minutes == 23 * 60
    assert overnight.periods_per_year(1) == 252 * 1380
    ts = pd.DatetimeIndex(["2024-01-02 17:00", "2024-01-02 23:59", "2024-01-03 00:00",
                           "2024-01-03 15:59", "2024-01-03 16:30", "2024-01-03 17:00"], tz=tz)
    info = overnight.sessions(ts)
    # Named after the closing day.
    assert list(info.session_date) == [pd.Timestamp("2024-01-03")] * 5 + [pd.Timestamp("2024-01-04")]
    assert info.session.tolist() == [0, 0, 0, 0, 0, 1]
    assert info.minutes_since_open.tolist() == [0.0, 419.0, 420.0, 1379.0, 1410.0, 0.0]
    assert info.minutes_to_close.tolist() == [1380.0, 961.0, 960.0, 1.0, -30.0, 1380.0]
    assert info.in_session.tolist() == [True, True, True, True, False, True]
    assert info.start[0] == _ns("2024-01-02 17:00", tz) and info.end[0] == _ns("2024-01-03 16:00", tz)


def test_session_crossing_midnight_over_dst(overnight):
    # Clocks jump forward at 02:00 on 2024-03-10: that session lasts 22 real hours.
    tz = overnight.tz
    info = overnight.sessions(pd.DatetimeIndex(["2024-03-09 17:00", "2024-03-10 15:59"], tz=tz))
    assert info.session.tolist() == [0, 0]
    assert info.minutes_to_close[0] == 22 * 60
    assert info.minutes_since_open[1] == 22 * 60 - 1


# --------------------------------------------------------------------------- lookup


@pytest.mark.parametrize("name, expected", [("B3", "B3"), ("b3", "B3"), ("BMF", "B3"),
                                            ("crypto", "24/7"), ("UTC", "24/7"), ("24/7", "24/7"),
                                            ("b3_equities", "B3_EQUITIES"), ("Bovespa", "B3_EQUITIES")])
def test_get_calendar_names(name, expected):
    assert get_calendar(name) is CALENDARS[expected]


def test_get_calendar_passes_calendars_through(overnight):
    assert get_calendar(overnight) is overnight


@pytest.mark.parametrize("name, hint", [("B4", "B3"), ("B3_EQUITY", "B3_EQUITIES"), ("crypt", "CRYPTO")])
def test_get_calendar_unknown_name_suggests(name, hint):
    with pytest.raises(ParameterError) as info:
        get_calendar(name)
    msg = str(info.value)
    assert repr(name) in msg and f"Did you mean {hint!r}?" in msg and "B3_EQUITIES" in msg


def test_get_calendar_wrong_type():
    with pytest.raises(TypeError, match="`calendar`"):
        get_calendar(3)


@pytest.mark.parametrize("symbol, expected", [
    ("WDOF22", "B3"), ("WINZ21", "B3"), ("WDO", "B3"), ("wdoz21", "B3"), ("DOLH24", "B3"),
    ("PETR4", "B3_EQUITIES"), ("VALE3", "B3_EQUITIES"), ("BOVA11", "B3_EQUITIES"),
    ("BTCUSDT", "24/7"), ("FILUSDT", "24/7"), (None, "24/7"), ("", "24/7"),
])
def test_infer_calendar(symbol, expected):
    assert infer_calendar(symbol).name == expected


def test_bars_calendar_sources():
    idx = pd.DatetimeIndex(["2021-11-08 09:00"], tz=SP, name="timestamp")
    bars = pd.DataFrame({"close": [1.0], "symbol": ["WDOF22"]}, index=idx)
    assert bars_calendar(bars).name == "B3"  # inferred from the symbol
    bars.attrs["bars"] = {"calendar": "24/7"}
    assert bars_calendar(bars).name == "24/7"  # recorded by load_bars
    assert bars_calendar(bars, "B3_EQUITIES").name == "B3_EQUITIES"  # explicit wins
    assert bars_calendar(pd.DataFrame({"close": [1.0]}, index=idx)).name == "24/7"


# --------------------------------------------------------------------------- doctests


@pytest.mark.parametrize("module", [calendar_module, loader_module])
def test_doctests(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
