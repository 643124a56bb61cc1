"""Tests of the session calendars (``ml.data._calendar``) against the exchanges' published hours.

Every expected number below is counted by hand from the exchange's own rules:

- B3 dollar futures (WDO, DOL): 09:00-18:30 Brasilia time; 09:00-18:00 while the US is on
  daylight saving time (B3 moves its hours with US DST: 2024-03-11 and 2024-11-04 are the
  Mondays after the US changes).  Ibovespa futures (WIN, IND): 09:00-18:25 / 09:00-17:55.
  Cash equities: 10:00-18:00 / 10:00-17:00.  Carnival Monday and Tuesday are closed, Ash
  Wednesday opens at 13:00.
- CME Globex: 17:00 Chicago time the day before to 16:00 (the 16:00-17:00 break lies between
  sessions; Sunday evening opens Monday's session).  Early closes: 12:15 CT on Christmas Eve
  (FX) and on the Friday after Thanksgiving, 12:00 CT on Thanksgiving (equity index).
- NYSE: 09:30-16:00 New York time; half day (13:00) after Thanksgiving and on 2024-07-03.
"""

from __future__ import annotations

import datetime as dt
import doctest

import numpy as np
import pandas as pd
import pytest

import ml.data._calendar as calendar_module
from ml.data import (
    CALENDARS,
    SessionCalendar,
    bars_calendar,
    get_calendar,
    infer_calendar,
    load_bars,
    sample_path,
    us_daylight_saving,
)
from ml.exceptions import ParameterError

SP = "America/Sao_Paulo"
CT = "America/Chicago"
NY = "America/New_York"


def _ns(text, tz):
    return pd.Timestamp(text, tz=tz).as_unit("ns").value


def bars_per_session(cal, start, end, minutes=1):
    """Bars of ``minutes`` in each session of ``cal`` between two dates, from its schedule."""
    s = cal.schedule(start, end)
    return {str(d.date()): int((c - o) / pd.Timedelta(minutes=minutes)) for d, o, c in s.itertuples()}


def local_hours(cal, day):
    s = cal.schedule(day, day)
    o, c = s["open"].iloc[0], s["close"].iloc[0]
    return o.strftime("%Y-%m-%d %H:%M"), c.strftime("%Y-%m-%d %H:%M")


# --------------------------------------------------------------------------- B3


def test_us_daylight_saving_dates():
    days = pd.DatetimeIndex(["2024-03-08", "2024-03-11", "2024-11-01", "2024-11-04",
                             "2021-03-12", "2021-03-15", "2021-11-05", "2021-11-08"])
    assert us_daylight_saving(days).tolist() == [False, True, True, False, False, True, True, False]


@pytest.mark.parametrize("name, expected", [
    # 2023: US DST from Sunday 12 March to Sunday 5 November.  Dollar futures: 570 one-minute
    # bars in US standard time (09:00-18:30), 540 in US DST (09:00-18:00)
    ("B3", {"2023-03-10": 570, "2023-03-13": 540, "2023-11-03": 540, "2023-11-06": 570}),
    ("B3_INDEX", {"2023-03-10": 565, "2023-03-13": 535, "2023-11-03": 535, "2023-11-06": 565}),
    ("B3_EQUITIES", {"2023-03-10": 480, "2023-03-13": 420, "2023-11-03": 420, "2023-11-06": 480}),
])
def test_b3_hours_change_with_us_daylight_saving(name, expected):
    got = bars_per_session(get_calendar(name), "2023-03-10", "2023-11-06")
    assert {d: got[d] for d in expected} == expected


@pytest.mark.parametrize("name, expected", [
    # B3, March 2024: from Monday 11 March the cash market closes at 17:00 again (US DST), but
    # the futures keep the extended hours: dollar futures to 18:30, Ibovespa futures to 18:25,
    # and so they stay through the US DST of 2024 and 2025.
    ("B3", {"2024-03-08": 570, "2024-03-11": 570, "2024-06-12": 570, "2025-07-16": 570}),
    ("B3_INDEX", {"2024-03-08": 565, "2024-03-11": 565, "2024-06-12": 565, "2025-07-16": 565}),
    ("B3_EQUITIES", {"2024-03-08": 480, "2024-03-11": 420, "2024-06-12": 420, "2025-07-16": 420}),
])
def test_b3_futures_keep_extended_hours_from_march_2024(name, expected):
    got = bars_per_session(get_calendar(name), "2024-03-08", "2025-07-16")
    assert {d: got[d] for d in expected} == expected
    # cash market: back to 17:55 + closing call (18:00) when US DST ends, 2024-11-04 and 2025-11-03
    if name == "B3_EQUITIES":
        assert local_hours(get_calendar(name), "2024-11-04") == ("2024-11-04 10:00", "2024-11-04 18:00")
        assert local_hours(get_calendar(name), "2025-10-31")[1] == "2025-10-31 17:00"
        assert local_hours(get_calendar(name), "2025-11-03")[1] == "2025-11-03 18:00"


def test_b3_close_on_the_real_change_dates():
    # WDO closed at 18:00 on Friday 2021-11-05 (last 1-minute bar 17:59 in the sample) and at
    # 18:30 from Monday 2021-11-08; WIN 5-minute bars: 107 (09:00-17:55) and 113 (09:00-18:25).
    assert local_hours(get_calendar("B3"), "2021-11-05") == ("2021-11-05 09:00", "2021-11-05 18:00")
    assert local_hours(get_calendar("B3"), "2021-11-08") == ("2021-11-08 09:00", "2021-11-08 18:30")
    win = bars_per_session(get_calendar("B3_INDEX"), "2021-11-05", "2021-11-08", minutes=5)
    assert win == {"2021-11-05": 107, "2021-11-08": 113}


@pytest.mark.parametrize("name, ash_wednesday", [("B3", 330), ("B3_INDEX", 325), ("B3_EQUITIES", 300)])
def test_b3_carnival_holidays_and_ash_wednesday(name, ash_wednesday):
    got = bars_per_session(get_calendar(name), "2024-02-09", "2024-02-15")
    assert list(got) == ["2024-02-09", "2024-02-14", "2024-02-15"]  # Carnival 12th, 13th closed
    assert got["2024-02-14"] == ash_wednesday  # opens at 13:00
    assert local_hours(get_calendar(name), "2024-02-14")[0] == "2024-02-14 13:00"


def test_b3_session_bounds_and_minutes():
    cal = get_calendar("B3")
    ts = pd.DatetimeIndex(["2021-11-05 12:47", "2021-11-08 09:00", "2021-11-08 18:29",
                           "2021-11-08 08:59", "2021-11-08 18:30"], tz=SP)
    info = cal.sessions(ts)
    assert info.minutes_since_open.tolist() == [227.0, 0.0, 569.0, -1.0, 570.0]
    assert info.minutes_to_close.tolist() == [313.0, 570.0, 1.0, 571.0, 0.0]  # 2021-11-05 closed at 18:00
    assert info.session_minutes.tolist() == [540.0] + [570.0] * 4
    assert info.in_session.tolist() == [True, True, True, False, False]
    assert info.session.tolist() == [0, 1, 1, 1, 1]
    assert info.first_in_session.tolist() == [True, True, False, False, False]
    assert info.start[1] == _ns("2021-11-08 09:00", SP) == info.start[2]
    assert info.end[0] == _ns("2021-11-05 18:00", SP) and info.end[1] == _ns("2021-11-08 18:30", SP)
    assert list(info.session_date[:2]) == [pd.Timestamp("2021-11-05"), pd.Timestamp("2021-11-08")]


def test_b3_sessions_accept_any_timezone():
    cal = get_calendar("B3")
    local = pd.DatetimeIndex(["2021-11-08 09:00", "2021-11-08 18:29"], tz=SP)
    assert cal.sessions(local.tz_convert("UTC")).minutes_since_open.tolist() == [0.0, 569.0]


def test_b3_on_the_real_wdo_sample():
    bars = load_bars(sample_path("wdo"))
    cal = bars_calendar(bars)
    assert cal.name == "B3"
    info = cal.sessions(bars.index)
    assert info.in_session.all()
    assert info.session[0] == 0 and info.session[-1] == 47  # 48 sessions
    assert set(np.diff(info.session)) == {0, 1}
    assert info.first_in_session.sum() == 48
    assert info.minutes_to_close.min() == 1.0  # every session's last bar is the calendar's last minute


def test_bars_outside_sessions_belong_to_the_same_day_or_the_next_session():
    cal = get_calendar("B3_EQUITIES")
    ts = pd.DatetimeIndex(["2024-03-15 16:45", "2024-03-15 18:15",   # after-market print on Friday
                           "2024-03-16 11:00",                        # Saturday
                           "2024-03-18 09:45", "2024-03-18 10:00"], tz=SP)
    info = cal.sessions(ts)
    assert [str(d.date()) for d in info.session_date] == ["2024-03-15", "2024-03-15", "2024-03-18",
                                                          "2024-03-18", "2024-03-18"]
    assert info.in_session.tolist() == [True, False, False, False, True]


# --------------------------------------------------------------------------- CME Globex


@pytest.mark.parametrize("name", ["CME_FX", "CME_EQUITY", "CME_ENERGY"])
def test_cme_sunday_evening_opens_mondays_session_across_the_dst_change(name):
    cal = get_calendar(name)
    # US clocks moved forward on Sunday 2024-03-10: Friday's session opened at 23:00 UTC on
    # Thursday, Monday's at 22:00 UTC on Sunday; both last 23 hours (1,380 one-minute bars).
    s = cal.schedule("2024-03-08", "2024-03-11")
    assert [str(d.date()) for d in s.index] == ["2024-03-08", "2024-03-11"]
    assert s["open"].dt.tz_convert("UTC").dt.strftime("%Y-%m-%d %H:%M").tolist() == [
        "2024-03-07 23:00", "2024-03-10 22:00"]
    assert bars_per_session(cal, "2024-03-08", "2024-03-11") == {"2024-03-08": 1380, "2024-03-11": 1380}
    ts = pd.DatetimeIndex(["2024-03-10 17:00", "2024-03-11 15:59", "2024-03-11 16:30",
                           "2024-03-11 17:00"], tz=CT)
    info = cal.sessions(ts)
    assert [str(d.date()) for d in info.session_date] == ["2024-03-11"] * 3 + ["2024-03-12"]
    assert info.in_session.tolist() == [True, True, False, True]  # 16:00-17:00: the daily break
    assert info.minutes_since_open.tolist() == [0.0, 1379.0, 1410.0, 0.0]


def test_cme_holidays_and_early_closes():
    fx = get_calendar("CME_FX")
    got = bars_per_session(fx, "2024-12-23", "2024-12-27")
    assert "2024-12-25" not in got  # Christmas: no session
    assert local_hours(fx, "2024-12-24") == ("2024-12-23 17:00", "2024-12-24 12:15")
    eq = get_calendar("CME_EQUITY")
    assert local_hours(eq, "2024-11-28") == ("2024-11-27 17:00", "2024-11-28 12:00")  # Thanksgiving
    assert local_hours(eq, "2024-11-29") == ("2024-11-28 17:00", "2024-11-29 12:15")
    assert bars_per_session(eq, "2024-11-28", "2024-11-28") == {"2024-11-28": 19 * 60}


def test_cme_energy_holidays():
    cl = get_calendar("CME_ENERGY")
    got = bars_per_session(cl, "2024-12-23", "2025-01-03")
    # CME Globex is closed on Christmas Day and New Year's Day; the next session opens at 17:00
    # Chicago on the holiday itself, for the next day's trade date
    assert "2024-12-25" not in got and "2025-01-01" not in got
    assert local_hours(cl, "2024-12-26")[0] == "2024-12-25 17:00"
    assert local_hours(cl, "2025-01-02")[0] == "2025-01-01 17:00"
    assert got["2024-12-26"] == 23 * 60
    # the Friday after Thanksgiving: NYMEX closes early, at 13:45 New York (12:45 Chicago)
    assert local_hours(cl, "2024-11-29")[1] == "2024-11-29 12:45"


def test_cme_is_ambiguous_without_a_product():
    with pytest.raises(ParameterError, match="CME_FX, CME_EQUITY, CME_ENERGY"):
        get_calendar("CME")


# --------------------------------------------------------------------------- NYSE


def test_nyse_dst_change_and_half_days():
    cal = get_calendar("XNYS")
    s = cal.schedule("2024-03-08", "2024-03-11")
    assert s["open"].dt.tz_convert("UTC").dt.strftime("%H:%M").tolist() == ["14:30", "13:30"]
    assert bars_per_session(cal, "2024-03-08", "2024-03-11") == {"2024-03-08": 390, "2024-03-11": 390}
    got = bars_per_session(cal, "2024-11-27", "2024-11-29")
    assert got == {"2024-11-27": 390, "2024-11-29": 210}  # Thanksgiving closed, half day after
    assert bars_per_session(cal, "2024-07-03", "2024-07-05") == {"2024-07-03": 210, "2024-07-05": 390}


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
    # A UTC day, not a local day: 21:00 in Sao Paulo is already the next UTC day.
    info = cal.sessions(pd.DatetimeIndex(["2024-02-01 20:59", "2024-02-01 21:00"], tz=SP))
    assert info.session.tolist() == [0, 1]


def test_24_7_has_no_dst_and_no_holidays():
    cal = get_calendar("24/7")
    # the US and Europe changed clocks on 2024-03-10 / 2024-03-31; Christmas is a trading day
    got = bars_per_session(cal, "2024-03-09", "2024-03-11")
    assert got == {"2024-03-09": 1440, "2024-03-10": 1440, "2024-03-11": 1440}
    assert bars_per_session(cal, "2024-12-25", "2024-12-25") == {"2024-12-25": 1440}


def test_24_7_on_the_real_filusdt_sample():
    bars = load_bars(sample_path("filusdt"))
    info = bars_calendar(bars).sessions(bars.index)
    assert info.session[-1] == 6 and info.first_in_session.sum() == 7
    assert info.minutes_since_open.max() == 1439.0


# --------------------------------------------------------------------------- a year of sessions


def test_periods_per_year_counts_the_real_schedule():
    cal = get_calendar("B3")
    year_2021 = pd.DatetimeIndex(["2021-06-01 10:00"], tz=SP)
    # 247 sessions in 2021: 163 in US DST (540 minutes), 84 of 570, Ash Wednesday from 13:00
    assert cal.periods_per_year(1, year_2021) == 163 * 540 + 84 * 570 - 240
    assert cal.sessions_in_year(year_2021) == 247
    assert cal.periods_per_year(5, year_2021) == (163 * 540 + 84 * 570 - 240) / 5
    assert get_calendar("24/7").periods_per_year(1) == 365 * 1440
    assert get_calendar("XNYS").sessions_in_year(pd.DatetimeIndex(["2024-01-02 10:00"], tz=NY)) == 252
    with pytest.raises(ParameterError, match="`bar_minutes`"):
        cal.periods_per_year(0)


def test_schedule_is_known_before_the_session():
    # a year with no data at all: the schedule comes from the calendar alone
    s = get_calendar("B3").schedule("2027-02-08", "2027-02-12")
    assert [str(d.date()) for d in s.index] == ["2027-02-10", "2027-02-11", "2027-02-12"]  # Carnival 8, 9
    assert s["open"].iloc[0].strftime("%H:%M") == "13:00"


def test_naive_timestamps_are_refused():
    with pytest.raises(ParameterError, match="timezone-aware"):
        get_calendar("B3").sessions(pd.DatetimeIndex(["2021-11-08 09:00"]))


def test_sessions_numbered_increasing_for_unsorted_input():
    cal = get_calendar("B3")
    ts = pd.DatetimeIndex(["2021-11-09 10:00", "2021-11-05 10:00", "2021-11-08 10:00",
                           "2021-11-05 11:00", "2021-11-09 11:00"], tz=SP)
    assert cal.sessions(ts).session.tolist() == [2, 0, 1, 0, 2]
    assert cal.sessions(ts[:0]).session.tolist() == []


# --------------------------------------------------------------------------- custom calendars


@pytest.fixture
def overnight():
    return SessionCalendar("GLOBEX", CT, dt.time(17, 0), dt.time(16, 0))


def test_session_crossing_midnight(overnight):
    assert overnight.session_minutes == 23 * 60
    assert overnight.periods_per_year(1) == 252 * 1380
    ts = pd.DatetimeIndex(["2024-01-02 17:00", "2024-01-02 23:59", "2024-01-03 00:00",
                           "2024-01-03 15:59", "2024-01-03 16:30", "2024-01-03 17:00"], tz=CT)
    info = overnight.sessions(ts)
    assert list(info.session_date) == [pd.Timestamp("2024-01-03")] * 5 + [pd.Timestamp("2024-01-04")]
    assert info.session.tolist() == [0, 0, 0, 0, 0, 1]
    assert info.minutes_since_open.tolist() == [0.0, 419.0, 420.0, 1379.0, 1410.0, 0.0]
    assert info.minutes_to_close.tolist() == [1380.0, 961.0, 960.0, 1.0, -30.0, 1380.0]
    assert info.in_session.tolist() == [True, True, True, True, False, True]
    assert info.start[0] == _ns("2024-01-02 17:00", CT) and info.end[0] == _ns("2024-01-03 16:00", CT)


def test_session_crossing_midnight_over_dst():
    # Clocks jump forward at 02:00 on 2024-03-10: that session lasts 22 real hours.
    every_day = SessionCalendar("OVERNIGHT7", CT, dt.time(17, 0), dt.time(16, 0), weekdays=tuple(range(7)))
    info = every_day.sessions(pd.DatetimeIndex(["2024-03-09 17:00", "2024-03-10 15:59"], tz=CT))
    assert info.session.tolist() == [0, 0]
    assert info.minutes_to_close[0] == 22 * 60
    assert info.minutes_since_open[1] == 22 * 60 - 1


# --------------------------------------------------------------------------- lookup


@pytest.mark.parametrize("name, expected", [("B3", "B3"), ("b3", "B3"), ("BMF", "B3"), ("B3_FX", "B3"),
                                            ("crypto", "24/7"), ("UTC", "24/7"), ("24/7", "24/7"),
                                            ("b3_equities", "B3_EQUITIES"), ("Bovespa", "B3_EQUITIES"),
                                            ("NYSE", "XNYS"), ("cme_fx", "CME_FX")])
def test_get_calendar_names(name, expected):
    assert get_calendar(name) is CALENDARS[expected]


def test_get_calendar_passes_calendars_through(overnight):
    assert get_calendar(overnight) is overnight


@pytest.mark.parametrize("name, hint", [("B4", "B3"), ("B3_EQUITY", "B3_EQUITIES"), ("crypt", "CRYPTO"),
                                        ("XNYSE", "XNYS")])
def test_get_calendar_unknown_name_suggests(name, hint):
    with pytest.raises(ParameterError) as info:
        get_calendar(name)
    msg = str(info.value)
    assert repr(name) in msg and f"Did you mean {hint!r}?" in msg and "B3_EQUITIES" in msg


def test_get_calendar_wrong_type():
    with pytest.raises(TypeError, match="`calendar`"):
        get_calendar(3)


@pytest.mark.parametrize("symbol, expected", [
    ("WDOF22", "B3"), ("WDO", "B3"), ("wdoz21", "B3"), ("DOLH24", "B3"), ("WDO$N", "B3"),
    ("WINZ21", "B3_INDEX"), ("INDG22", "B3_INDEX"),
    ("PETR4", "B3_EQUITIES"), ("VALE3", "B3_EQUITIES"), ("BOVA11", "B3_EQUITIES"), ("PETR4F", "B3_EQUITIES"),
    ("6EH4", "CME_FX"), ("ESZ24", "CME_EQUITY"), ("MESZ4", "CME_EQUITY"), ("NQH25", "CME_EQUITY"),
    ("CLF25", "CME_ENERGY"),
    ("BTCUSDT", "24/7"), ("FILUSDT", "24/7"), ("BTC-PERP", "24/7"),
])
def test_infer_calendar(symbol, expected):
    assert infer_calendar(symbol).name == expected


@pytest.mark.parametrize("symbol", [None, "", "ORCL", "XYZ123"])
def test_infer_calendar_never_guesses(symbol):
    assert infer_calendar(symbol) is None


def test_bars_calendar_sources():
    idx = pd.DatetimeIndex(["2021-11-08 09:00"], tz=SP, name="timestamp")
    bars = pd.DataFrame({"close": [1.0], "symbol": ["WDOF22"]}, index=idx)
    assert bars_calendar(bars).name == "B3"  # inferred from the symbol
    bars.attrs["bars"] = {"calendar": "24/7"}
    assert bars_calendar(bars).name == "24/7"  # recorded by load_bars
    assert bars_calendar(bars, "B3_EQUITIES").name == "B3_EQUITIES"  # explicit wins
    with pytest.raises(ParameterError, match="cannot tell the session calendar: the bars have no symbol"):
        bars_calendar(pd.DataFrame({"close": [1.0]}, index=idx))
    with pytest.raises(ParameterError, match="symbol 'ORCL' matches no instrument preset"):
        bars_calendar(pd.DataFrame({"close": [1.0], "symbol": ["ORCL"]}, index=idx))


# --------------------------------------------------------------------------- doctests


def test_doctests():
    result = doctest.testmod(calendar_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
