"""The loader compares every session of the data with its calendar and names the dates that disagree.

Regression tests of silent wrong results seen on real files: bars on a holiday, after the
close, a session ending early, a 3-hour time-zone shift, daily bars, unknown symbols.
"""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from ml.data import load_bars, sample_path, validate_bars
from ml.exceptions import (
    CalendarMismatchError,
    CalendarWarning,
    DataQualityWarning,
    NonIntradayDataError,
    ParameterError,
    UnknownInstrumentError,
)


@pytest.fixture(scope="module")
def wdo():
    return load_bars(sample_path("wdo"), symbol="WDOZ21")


def _frame(bars):
    return bars.rename_axis("timestamp").reset_index()


def _moved(bars, src_day, dst_day, n=None):
    """Bars of session ``src_day`` relabelled to ``dst_day`` (same local times)."""
    day = bars[bars.index.strftime("%Y-%m-%d") == src_day].copy()
    if n is not None:
        day = day.iloc[:n]
    shift = pd.Timestamp(dst_day) - pd.Timestamp(src_day)
    day.index = (day.index.tz_localize(None) + shift).tz_localize(bars.index.tz)
    return day


def test_the_real_sample_fits_its_calendar(wdo):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bars = load_bars(sample_path("wdo"))
    check = bars.attrs["bars"]["calendar_check"]
    assert check["fits"] and check["disagreements"] == 0 and check["sessions"] == 48


def test_bars_on_a_holiday_are_named(wdo):
    # 2021-11-15 (Proclamation of the Republic) was a B3 holiday
    holiday = _moved(wdo, "2021-11-16", "2021-11-15", n=30)
    bars = pd.concat([wdo, holiday]).sort_index()
    with pytest.warns(CalendarWarning, match=r"bars on days the calendar has no session.*2021-11-15"):
        out = validate_bars(_frame(bars))
    assert out.attrs["bars"]["calendar_check"]["closed_days"] == ["2021-11-15"]


def test_bars_after_the_close_are_named_and_can_be_dropped(wdo):
    day = wdo[wdo.index.strftime("%Y-%m-%d") == "2021-11-10"]
    late = day.iloc[-10:].copy()
    late.index = late.index + pd.Timedelta(minutes=10)  # 18:30-18:39: after the 18:30 close
    bars = pd.concat([wdo.drop(late.index, errors="ignore"), late]).sort_index()
    bars = bars[~bars.index.duplicated()]
    with pytest.warns(CalendarWarning, match=r"bars after the close on 2021-11-10"):
        validate_bars(_frame(bars))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        out = validate_bars(_frame(bars), outside_session="drop")
    assert any(issubclass(w.category, DataQualityWarning) and "dropped 10 bar(s) outside" in str(w.message)
               for w in seen)
    assert out.attrs["bars"]["dropped_outside_session"] == 10
    assert out.index.max() < pd.Timestamp("2021-11-30", tz=out.index.tz)
    assert not (out.index.strftime("%H:%M") >= "18:30").any()


def test_a_session_ending_early_is_named(wdo):
    cut = wdo[~((wdo.index.strftime("%Y-%m-%d") == "2021-11-17") & (wdo.index.strftime("%H:%M") >= "18:00"))]
    with pytest.warns(CalendarWarning, match=r"sessions ending early on 2021-11-17"):
        validate_bars(_frame(cut))


def test_fixed_winter_hours_on_summer_data_are_caught(wdo):
    """The old bug: 09:00-18:30 all year.  Summer WDO sessions end at 18:00; read with a calendar
    of fixed winter hours, every session ends 30 minutes early, which the check refuses."""
    import datetime as dt

    from ml.data import SessionCalendar

    summer = pd.concat([_moved(wdo, d, f"2021-06-{day:02d}") for d, day in
                        (("2021-11-08", 7), ("2021-11-09", 8), ("2021-11-10", 9), ("2021-11-11", 10),
                         ("2021-11-12", 11), ("2021-11-16", 14))])
    summer = summer[summer.index.strftime("%H:%M") < "18:00"]  # the real summer close
    fixed = SessionCalendar("B3_FIXED_HOURS", "America/Sao_Paulo", dt.time(9), dt.time(18, 30))
    with pytest.raises(CalendarMismatchError, match="sessions ending early"):
        validate_bars(_frame(summer), calendar=fixed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = validate_bars(_frame(summer))  # the B3 calendar knows the summer close
    assert out.attrs["bars"]["calendar_check"]["early_end"] == []


def test_a_time_zone_shift_is_refused_with_the_fix():
    # timestamps written in UTC but read as Sao Paulo time: every bar 3 hours late
    bars = load_bars(sample_path("wdo"), symbol="WDOF22")
    utc = bars.copy()
    utc.index = utc.index.tz_convert("UTC").tz_localize(None)
    frame = utc.rename_axis("timestamp").reset_index()
    with pytest.raises(CalendarMismatchError) as info:
        validate_bars(frame)
    msg = str(info.value)
    assert "do not fit calendar B3" in msg and "They fit with tz='UTC'" in msg
    out = validate_bars(frame, tz="UTC")
    assert (out.index.asi8 == bars.index.asi8).all()


def test_bar_end_stamps_one_bar_late_are_refused_when_every_session_shows_it(wdo):
    # stamped at bar ends: every session has one bar at the close (18:30) -- only 48 bars outside
    # in all (0.2%), but in every session, and reading them as bar ends removes every one
    frame = _frame(wdo)
    frame["timestamp"] = (frame["timestamp"] + pd.Timedelta(minutes=1)).dt.tz_localize(None)
    with pytest.raises(CalendarMismatchError, match=r"They fit with bar_time='close' \(--bar-time close"):
        validate_bars(frame.assign(symbol="WDOZ21"))
    out = validate_bars(frame.assign(symbol="WDOZ21"), bar_time="close")
    assert (out.index == wdo.index).all()


def test_real_after_market_bars_in_most_sessions_only_warn():
    # B3 stocks: an after-market bar (17:30, US DST) on most days is real, not a misread clock:
    # no other time zone or bar-time reading removes it, so the data load with a warning
    from ml.data import get_calendar

    cal = get_calendar("B3_EQUITIES")
    sched = cal.schedule("2024-06-03", "2024-06-28")
    stamps = []
    for o, c in zip(sched["open"], sched["close"]):
        stamps += list(pd.date_range(o, c, freq="15min", inclusive="left"))
        stamps.append(c + pd.Timedelta(minutes=30))                     # the after-market bar
    idx = pd.DatetimeIndex(stamps).tz_convert(cal.tz).tz_localize(None)
    frame = pd.DataFrame({"timestamp": idx, "open": 38.0, "high": 38.1, "low": 37.9, "close": 38.0,
                          "volume": 1000, "symbol": "VALE3"})
    with pytest.warns(CalendarWarning, match=r"bars after the close on 2024-06-03"):
        out = validate_bars(frame)
    assert len(out) == len(frame)
    assert out.attrs["bars"]["calendar_check"]["outside_bars"] == len(sched)
    dropped = validate_bars(frame, outside_session="drop")
    assert len(dropped) == len(frame) - len(sched)


def test_daily_bars_are_refused_at_load_time(tmp_path, wdo):
    daily = wdo.groupby(wdo.index.normalize()).agg({"open": "first", "high": "max", "low": "min",
                                                    "close": "last", "volume": "sum"})
    daily.index = daily.index.tz_localize(None).rename("timestamp")
    daily["symbol"] = "WDOZ21"
    path = tmp_path / "wdo_daily.csv"
    daily.to_csv(path)
    with pytest.raises(NonIntradayDataError, match=r"wdo_daily.csv: the bars are daily bars .*intraday=False"):
        load_bars(path)
    out = load_bars(path, intraday=False)
    assert len(out) == len(daily)
    # a US stock's daily file with no preset: the daily refusal comes first, not "unknown symbol"
    daily["symbol"] = "ORCL"
    daily.to_csv(path)
    with pytest.raises(NonIntradayDataError, match="daily bars"):
        load_bars(path)


def test_unknown_symbols_get_no_calendar_by_default(tmp_path, wdo):
    frame = _frame(wdo.assign(symbol="ORCL").iloc[:100])
    with pytest.raises(UnknownInstrumentError) as info:
        validate_bars(frame)
    msg = str(info.value)
    assert "unknown symbol 'ORCL'" in msg and "WDO" in msg and "6E" in msg and "instrument = {" in msg
    out = validate_bars(frame, calendar="B3", check_calendar=False)
    assert out.attrs["bars"]["instrument"] is None


def test_an_instrument_gives_the_calendar_and_must_match_the_symbol(wdo):
    nyse = _frame(wdo.assign(symbol="ORCL").iloc[:390])
    nyse["timestamp"] = pd.date_range("2024-03-11 09:30", periods=390, freq="1min")
    out = validate_bars(nyse, instrument="US_STOCK")
    assert out.attrs["bars"]["calendar"] == "XNYS" and str(out.index.tz) == "America/New_York"
    with pytest.raises(ParameterError, match=r"contract 'CRYPTO_SPOT' does not match the bars' symbol 'WDOZ21'"):
        validate_bars(_frame(wdo.iloc[:10]), instrument="CRYPTO_SPOT")
