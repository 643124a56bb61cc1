"""Tests of resample_bars: exact numbers on tiny frames, a pandas reference on the real
samples, session alignment, and every bad argument."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml.data import continuous_contract, get_calendar, load_bars, resample_bars, sample_path
from ml.exceptions import BarDataError, EmptyDataError, MissingColumnsError, ParameterError

TZ = "America/Sao_Paulo"


def frame(rows, tz=TZ, calendar="B3"):
    """Bars from ``(local time, symbol, open, high, low, close, volume, vwap)`` tuples."""
    cols = ["open", "high", "low", "close", "volume", "vwap"]
    df = pd.DataFrame([r[2:] for r in rows], columns=cols, dtype="float64")
    df["symbol"] = [r[1] for r in rows]
    df.index = pd.DatetimeIndex([pd.Timestamp(r[0]) for r in rows], name="timestamp").tz_localize(tz)
    df.attrs["bars"] = {"calendar": calendar, "rows": len(df), "note": "kept"}
    return df


NAN = float("nan")
TINY = [
    ("2025-02-03 09:00", "WDOH25", 10, 12, 9, 11, 2, 10.5),
    ("2025-02-03 09:01", "WDOH25", 11, 13, 10, 12, 6, 12.0),
    ("2025-02-03 09:02", "WINH25", 100, 101, 99, 100, 3, 100.0),
    ("2025-02-03 09:03", "WDOH25", 12, 12, 8, 9, 0, NAN),
    ("2025-02-03 09:05", "WDOH25", 9, 9, 9, 9, 0, NAN),
    ("2025-02-03 09:12", "WDOH25", 20, 21, 19, 20, 4, 20.0),
    ("2025-02-03 18:29", "WDOH25", 30, 30, 30, 30, 1, 30.0),
    ("2025-02-04 09:00", "WDOH25", 31, 32, 31, 32, 5, 31.5),
]


def _local(index):
    return [t.strftime("%m-%d %H:%M") for t in index]


class TestTinyFrames:
    def test_exact_5min(self):
        out = resample_bars(frame(TINY), "5min")
        assert _local(out.index) == ["02-03 09:00", "02-03 09:00", "02-03 09:05", "02-03 09:10",
                                     "02-03 18:25", "02-04 09:00"]
        assert out["symbol"].tolist() == ["WDOH25", "WINH25", "WDOH25", "WDOH25", "WDOH25", "WDOH25"]
        assert out["open"].tolist() == [10, 100, 9, 20, 30, 31]
        assert out["high"].tolist() == [13, 101, 9, 21, 30, 32]
        assert out["low"].tolist() == [8, 99, 9, 19, 30, 31]
        assert out["close"].tolist() == [9, 100, 9, 20, 30, 32]
        assert out["volume"].tolist() == [8, 3, 0, 4, 1, 5]
        # (10.5 * 2 + 12 * 6 + NaN * 0) / 8; a bin with no volume has no VWAP.
        np.testing.assert_array_equal(out["vwap"], [11.625, 100.0, NAN, 20.0, 30.0, 31.5])
        assert list(out.columns) == ["open", "high", "low", "close", "volume", "vwap", "symbol"]
        assert out.index.name == "timestamp" and str(out.index.tz) == TZ

    def test_bins_never_span_sessions_and_empty_bins_dropped(self):
        out = resample_bars(frame(TINY), "1h")
        wdo = out[out["symbol"] == "WDOH25"]
        assert _local(wdo.index) == ["02-03 09:00", "02-03 18:00", "02-04 09:00"]
        assert wdo["volume"].tolist() == [12, 1, 5]
        out = resample_bars(frame(TINY), "1D")  # longer than a session: one bar per session
        wdo = out[out["symbol"] == "WDOH25"]
        assert _local(wdo.index) == ["02-03 09:00", "02-04 09:00"]
        assert wdo["close"].tolist() == [30, 32] and wdo["volume"].tolist() == [13, 5]

    def test_bins_aligned_to_session_open_not_clock(self):
        rows = [(f"2025-02-03 {h:02d}:{m:02d}", "WDOH25", 1, 1, 1, 1, 1, 1)
                for h in range(9, 18) for m in (0, 30)]
        out = resample_bars(frame(rows), "2h")
        assert _local(out.index) == ["02-03 09:00", "02-03 11:00", "02-03 13:00", "02-03 15:00",
                                     "02-03 17:00"]
        assert out["volume"].tolist() == [4, 4, 4, 4, 2]

    def test_24h_calendar_bins_at_utc_midnight(self):
        rows = [("2024-02-01 22:59", "FILUSDT", 1, 2, 1, 2, 1, 1.5),
                ("2024-02-01 23:59", "FILUSDT", 2, 3, 2, 3, 1, 2.5),
                ("2024-02-02 00:00", "FILUSDT", 3, 3, 3, 3, 1, 3.0)]
        out = resample_bars(frame(rows, tz="UTC", calendar="24/7"), "3h")
        assert _local(out.index) == ["02-01 21:00", "02-02 00:00"]
        assert out["close"].tolist() == [3, 3] and out["vwap"].tolist() == [2.0, 3.0]

    def test_identity_and_all_optional_columns(self):
        bars = frame(TINY)
        bars["trades"] = [1.0, 2, 3, 4, 5, 6, 7, 8]
        bars["buy_volume"] = bars["volume"] / 2
        bars["sell_volume"] = bars["volume"] / 2
        out = resample_bars(bars, "5min")
        assert out["trades"].tolist() == [7, 3, 5, 6, 7, 8]
        assert out["buy_volume"].tolist() == [4, 1.5, 0, 2, 0.5, 2.5]
        same = resample_bars(bars, "1min")
        pd.testing.assert_frame_equal(same, bars.sort_index(kind="stable"), check_freq=False)

    def test_contract_and_adjustment_last_and_attrs_kept(self):
        bars = frame(TINY)
        bars = bars[bars["symbol"] == "WDOH25"].copy()
        bars["contract"] = ["WDOH25"] * 4 + ["WDOJ25"] * 3
        bars["adjustment"] = [1.5] * 4 + [1.0] * 3
        bars.attrs["rolls"] = [{"from": "WDOH25"}]
        out = resample_bars(bars, "5min")
        assert out["contract"].tolist() == ["WDOH25", "WDOH25", "WDOJ25", "WDOJ25", "WDOJ25"]
        assert out["adjustment"].tolist() == [1.5, 1.5, 1.0, 1.0, 1.0]
        assert out.attrs["rolls"] == [{"from": "WDOH25"}]
        assert out.attrs["bars"] == {"calendar": "B3", "rows": 5, "note": "kept", "bar_minutes": 5.0}
        assert out.attrs["resample"] == {"rule": "5min", "calendar": "B3",
                                         "input_spacing": pd.Timedelta("1min")}
        assert bars.attrs["bars"]["rows"] == 8  # input untouched

    def test_rule_types(self):
        bars = frame(TINY)
        ref = resample_bars(bars, "5min")
        for rule in (pd.Timedelta(5, "min"), dt.timedelta(minutes=5), pd.offsets.Minute(5),
                     np.timedelta64(300, "s"), "300s"):
            pd.testing.assert_frame_equal(resample_bars(bars, rule), ref)

    def test_calendar_argument_overrides_attrs(self):
        bars = frame(TINY)
        out = resample_bars(bars, "1D", calendar="24/7")  # UTC days: 09:00 BRT = 12:00 UTC
        assert out.attrs["resample"]["calendar"] == "24/7"
        assert out.index[0] == pd.Timestamp("2025-02-03 00:00", tz="UTC")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    minutes=st.sampled_from([1, 2, 3, 5, 7, 10, 15, 60, 90, 600]),
    drop=st.floats(0.0, 0.95),
    seed=st.integers(0, 2**16),
)
def test_matches_plain_python_reference(minutes, drop, seed):
    """Random gaps over three B3 sessions: every bin equals a loop-built reference."""
    rng = np.random.default_rng(seed)
    days = [pd.Timestamp(d, tz=TZ) for d in ("2025-02-03", "2025-02-04", "2025-02-05")]
    keep = rng.random(3 * 570) >= drop
    keep[:2] = True  # two adjacent bars: the spacing is 1 minute
    day, k = np.divmod(np.flatnonzero(keep), 570)  # session, minutes since 09:00
    opens = pd.DatetimeIndex([d + pd.Timedelta(hours=9) for d in days])
    ts = opens[day] + pd.to_timedelta(k, "min")
    n = len(ts)
    o, c = rng.uniform(90, 110, n), rng.uniform(90, 110, n)
    vol = rng.integers(0, 5, n).astype(float)
    hi, lo = np.maximum(o, c) + rng.uniform(0, 1, n), np.minimum(o, c) - rng.uniform(0, 1, n)
    vwap = np.where(vol > 0, (o + c) / 2, np.nan)
    bars = pd.DataFrame({"open": o, "high": hi, "low": lo, "close": c, "volume": vol,
                         "vwap": vwap, "symbol": "WDOH25"}, index=ts.rename("timestamp"))
    out = resample_bars(bars, f"{minutes}min", calendar="B3")
    groups: dict = {}
    for i, (d, m) in enumerate(zip(day, k)):
        groups.setdefault((int(d), int(m) // minutes * minutes), []).append(i)
    assert len(out) == len(groups)
    keys = sorted(groups)
    expected = opens[[d for d, _ in keys]] + pd.to_timedelta([m for _, m in keys], "min")
    assert out.index.equals(expected.rename("timestamp"))  # bin open, in its own session
    idx = [groups[key] for key in keys]
    np.testing.assert_array_equal(out["open"], [o[r[0]] for r in idx])
    np.testing.assert_array_equal(out["close"], [c[r[-1]] for r in idx])
    np.testing.assert_array_equal(out["high"], [hi[r].max() for r in idx])
    np.testing.assert_array_equal(out["low"], [lo[r].min() for r in idx])
    v = np.array([vol[r].sum() for r in idx])
    np.testing.assert_array_equal(out["volume"], v)
    num = np.array([sum(vwap[i] * vol[i] for i in r if vol[i] > 0) for r in idx])
    with np.errstate(invalid="ignore"):
        ref_vwap = np.where(v > 0, num / v, np.nan)
    np.testing.assert_allclose(out["vwap"], ref_vwap, rtol=1e-12)


# --- the real samples against a pandas groupby reference --------------------------------

@pytest.fixture(scope="module")
def wdo():
    return load_bars(sample_path("wdo"))


@pytest.fixture(scope="module")
def fil():
    return load_bars(sample_path("filusdt"))


def groupby_reference(bars, rule):
    """Clock-floored groupby; equals session-aligned bins when the session opens on the
    rule's grid (B3 09:00 with 5/15/30 min, UTC midnight with any divisor of a day)."""
    key = [bars.index.floor(rule).rename("timestamp"), bars["symbol"]]
    g = bars.groupby(key, sort=True)
    spec = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum",
            "trades": "sum", "buy_volume": "sum", "sell_volume": "sum",
            "contract": "last", "adjustment": "last"}
    ref = g.agg({c: f for c, f in spec.items() if c in bars.columns})
    pv = (bars["vwap"] * bars["volume"]).where(bars["volume"] > 0, 0.0)
    ref["vwap"] = pv.groupby(key, sort=True).sum() / ref["volume"]
    ref = ref.reset_index(level="symbol")
    return ref[[c for c in bars.columns]]


@pytest.mark.parametrize("rule", ["5min", "15min", "1h", "4h", "1D"])
def test_filusdt_matches_groupby(fil, rule):
    out = resample_bars(fil, rule)
    ref = groupby_reference(fil, rule)
    pd.testing.assert_frame_equal(out, ref, check_freq=False, check_exact=False, rtol=1e-12)
    assert out["volume"].sum() == pytest.approx(fil["volume"].sum(), rel=1e-12)
    assert out.attrs["bars"]["rows"] == len(out)


@pytest.mark.parametrize("rule", ["5min", "30min"])
def test_wdo_matches_groupby(wdo, rule):
    out = resample_bars(wdo, rule)
    pd.testing.assert_frame_equal(out, groupby_reference(wdo, rule), check_freq=False,
                                  check_exact=False, rtol=1e-12)
    assert out["volume"].sum() == wdo["volume"].sum()


def test_wdo_continuous_5min(wdo):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cont = continuous_contract(wdo)
    out = resample_bars(cont, "5min")
    pd.testing.assert_frame_equal(out, groupby_reference(cont, "5min"), check_freq=False,
                                  check_exact=False, rtol=1e-12)
    assert out.attrs["rolls"] == cont.attrs["rolls"]
    assert len(out) == 5421  # the source's independent 5-minute export has 5,421 bars
    first_full = out[out.index.tz_convert(TZ).normalize() == pd.Timestamp("2021-11-08", tz=TZ)]
    expected = pd.date_range("2021-11-08 09:00", "2021-11-08 18:25", freq="5min", tz=TZ)
    assert first_full.index.equals(expected.rename("timestamp"))
    day1 = out[out.index < pd.Timestamp("2021-11-06", tz=TZ)]
    assert _local(day1.index[:2]) == ["11-05 12:45", "11-05 12:50"]  # data starts 12:47
    assert day1["volume"].iloc[0] == wdo["volume"].iloc[:3].sum()


def test_wdo_bins_aligned_to_session_open(wdo):
    out = resample_bars(wdo, "7min")
    day = out[out.index.tz_convert(TZ).normalize() == pd.Timestamp("2021-11-08", tz=TZ)]
    expected = pd.Timestamp("2021-11-08 09:00", tz=TZ) + pd.to_timedelta(np.arange(82) * 7, "min")
    assert day.index.equals(pd.DatetimeIndex(expected, name="timestamp"))
    # 18:27 bin: 18:27, 18:28, 18:29 only (570 = 81 * 7 + 3); no spill into the next day.
    src = wdo[(wdo.index >= expected[-1]) & (wdo.index < expected[-1] + pd.Timedelta("7min"))]
    assert len(src) == 3 and day["volume"].iloc[-1] == src["volume"].sum()


def test_wdo_one_bar_per_session_for_long_rules(wdo):
    cal = get_calendar("B3")
    session_vol = wdo["volume"].groupby(cal.sessions(wdo.index).session).sum().to_numpy()
    for rule in ("1D", "12h"):
        out = resample_bars(wdo, rule)
        assert len(out) == 48 == len(session_vol)
        assert {t.strftime("%H:%M") for t in out.index} == {"09:00"}
        np.testing.assert_array_equal(out["volume"], session_vol)


class TestErrors:
    @pytest.mark.parametrize("rule, match", [
        ("1M", r"'M' is a month"),
        ("0min", "positive"),
        ("-5min", "positive"),
        ("2W", "calendar frequency"),
        ("1ME", "calendar frequency"),
        ("1B", "calendar frequency"),
        ("5 minutes", "not a valid frequency"),
        ("30s", r"multiple of the input bar spacing 1min .* got 30s.*'1min'"),
        ("90s", r"multiple of the input bar spacing 1min .*'2min'"),
    ])
    def test_bad_rule(self, rule, match):
        with pytest.raises(ParameterError, match=rf"`rule`.*{match}"):
            resample_bars(frame(TINY), rule)

    @pytest.mark.parametrize("rule", [5, 5.0, None, True, ["5min"]])
    def test_rule_type(self, rule):
        with pytest.raises(TypeError, match="`rule` must be"):
            resample_bars(frame(TINY), rule)

    def test_bad_bars(self):
        with pytest.raises(TypeError, match="`bars` must be a pandas DataFrame"):
            resample_bars(frame(TINY).to_numpy(), "5min")
        with pytest.raises(TypeError, match="DatetimeIndex"):
            resample_bars(frame(TINY).reset_index(), "5min")
        with pytest.raises(BarDataError, match="timezone-aware"):
            resample_bars(frame(TINY).tz_localize(None), "5min")
        with pytest.raises(MissingColumnsError, match="`volume`"):
            resample_bars(frame(TINY).drop(columns="volume"), "5min")
        with pytest.raises(EmptyDataError):
            resample_bars(frame(TINY).iloc[:0], "5min")
        with pytest.raises(ParameterError, match="unknown calendar"):
            resample_bars(frame(TINY), "5min", calendar="NYSEX")
