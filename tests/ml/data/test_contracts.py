"""Tests of continuous_contract: roll rule, back-adjustment, errors, the real WDO sample."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from ml.data import continuous_contract, load_bars, parse_contract, sample_path
from ml.exceptions import (
    BarDataError,
    DataQualityWarning,
    EmptyDataError,
    MissingColumnsError,
    ParameterError,
)

TZ = "America/Sao_Paulo"


def make_bars(rows, calendar="B3"):
    """Bars from ``(local time, symbol, close, volume[, open])`` tuples.

    high/low span open and close; vwap = (open + close) / 2.
    """
    ts, sym, o, c, v = [], [], [], [], []
    for r in rows:
        ts.append(pd.Timestamp(r[0]))
        sym.append(r[1])
        c.append(float(r[2]))
        v.append(float(r[3]))
        o.append(float(r[4]) if len(r) > 4 else float(r[2]))
    o, c = np.array(o), np.array(c)
    df = pd.DataFrame(
        {"open": o, "high": np.maximum(o, c), "low": np.minimum(o, c), "close": c,
         "volume": v, "vwap": (o + c) / 2, "symbol": sym},
        index=pd.DatetimeIndex(ts, name="timestamp").tz_localize(TZ),
    )
    df.attrs["bars"] = {"calendar": calendar, "symbols": sorted(set(sym)), "rows": len(df)}
    return df


D1, D2, D3, D4, D5 = "2025-02-03", "2025-02-04", "2025-02-05", "2025-02-06", "2025-02-07"

# H25 is the front until the end of D2; J25's volume passes H25's on D2, so the
# series rolls at the start of D3 (decided from D2 only).  Last common bar
# before the roll: D2 09:01, H25 close 104, J25 close 108.
OVERLAP = [
    (f"{D1} 09:00", "WDOH25", 100, 10), (f"{D1} 09:00", "WDOJ25", 103, 1),
    (f"{D1} 09:01", "WDOH25", 102, 10), (f"{D1} 09:01", "WDOJ25", 105, 1),
    (f"{D2} 09:00", "WDOH25", 101, 5), (f"{D2} 09:00", "WDOJ25", 104, 20),
    (f"{D2} 09:01", "WDOH25", 104, 5), (f"{D2} 09:01", "WDOJ25", 108, 20),
    (f"{D3} 09:00", "WDOH25", 99, 1), (f"{D3} 09:00", "WDOJ25", 110, 50),
    (f"{D3} 09:01", "WDOJ25", 112, 50),
]
RAW_CLOSE = [100.0, 102.0, 101.0, 104.0, 110.0, 112.0]
CONTRACTS = ["WDOH25"] * 4 + ["WDOJ25"] * 2


def _ts(*local):
    return pd.DatetimeIndex([pd.Timestamp(t) for t in local], name="timestamp").tz_localize(TZ)


class TestParseContract:
    def test_codes(self):
        assert parse_contract("WDOH25") == ("WDO", 2025, 3)
        assert parse_contract("WDOZ21") == ("WDO", 2021, 12)
        assert parse_contract("WINF22") == ("WIN", 2022, 1)
        assert parse_contract("DI1F27") == ("DI1", 2027, 1)
        assert parse_contract("FILUSDT") is None
        assert parse_contract("WDOFUT") is None
        assert parse_contract("WDOA25") is None  # A is not a month code


class TestOverlappingRoll:
    def test_ratio(self):
        out = continuous_contract(make_bars(OVERLAP), adjust="ratio")
        f = 108.0 / 104.0
        assert out.index.equals(_ts(f"{D1} 09:00", f"{D1} 09:01", f"{D2} 09:00", f"{D2} 09:01",
                                    f"{D3} 09:00", f"{D3} 09:01"))
        assert out["contract"].tolist() == CONTRACTS
        assert out["symbol"].tolist() == ["WDO"] * 6
        np.testing.assert_allclose(out["adjustment"], [f, f, f, f, 1.0, 1.0], rtol=0, atol=0)
        expected = np.array(RAW_CLOSE) * np.array([f, f, f, f, 1, 1])
        for col in ("open", "high", "low", "close", "vwap"):
            np.testing.assert_allclose(out[col], expected, rtol=1e-15)
        assert out["volume"].tolist() == [10, 10, 5, 5, 50, 50]  # never adjusted
        (r,) = out.attrs["rolls"]
        assert r["session"] == pd.Timestamp(D3)
        assert r["timestamp"] == pd.Timestamp(f"{D3} 09:00", tz=TZ)
        assert (r["from"], r["to"], r["method"]) == ("WDOH25", "WDOJ25", "same_bar")
        assert r["measured_at"] == (pd.Timestamp(f"{D2} 09:01", tz=TZ),) * 2
        assert (r["old_price"], r["new_price"]) == (104.0, 108.0)
        assert r["factor"] == f and r["difference"] == 4.0
        # Returns are preserved across the whole adjusted history of a contract.
        np.testing.assert_allclose(out["close"].iloc[:4].pct_change().iloc[1:],
                                   pd.Series(RAW_CLOSE[:4]).pct_change().iloc[1:], rtol=1e-13)

    def test_difference(self):
        out = continuous_contract(make_bars(OVERLAP), adjust="difference")
        assert out["close"].tolist() == [104.0, 106.0, 105.0, 108.0, 110.0, 112.0]
        assert out["adjustment"].tolist() == [4.0, 4.0, 4.0, 4.0, 0.0, 0.0]
        assert out["vwap"].tolist() == out["close"].tolist()
        np.testing.assert_array_equal(out["close"] - out["adjustment"], RAW_CLOSE)

    def test_none_stitches_raw(self):
        out = continuous_contract(make_bars(OVERLAP), adjust=None)
        assert out["close"].tolist() == RAW_CLOSE
        assert out["adjustment"].tolist() == [1.0] * 6
        assert out["contract"].tolist() == CONTRACTS
        assert out.attrs["rolls"][0]["factor"] == 108.0 / 104.0

    def test_no_warning_when_contracts_overlap(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            continuous_contract(make_bars(OVERLAP))

    def test_columns_attrs_and_input_untouched(self):
        bars = make_bars(OVERLAP)
        before = bars.copy()
        out = continuous_contract(bars)
        pd.testing.assert_frame_equal(bars, before)
        assert list(out.columns) == [*bars.columns, "contract", "adjustment"]
        assert out.attrs["bars"]["calendar"] == "B3"
        assert out.attrs["bars"]["symbols"] == ["WDO"]
        assert out.attrs["continuous"]["contracts"] == ["WDOH25", "WDOJ25"]
        assert out.attrs["continuous"]["dropped_rows"] == 5

    def test_volume_crossover_decided_from_previous_session(self):
        rows = [
            (f"{D1} 09:00", "WDOH25", 100, 10), (f"{D1} 09:00", "WDOJ25", 103, 30),
            (f"{D1} 09:01", "WDOH25", 102, 10), (f"{D1} 09:01", "WDOJ25", 105, 30),
            (f"{D2} 09:00", "WDOH25", 101, 50), (f"{D2} 09:00", "WDOJ25", 104, 1),
            (f"{D3} 09:00", "WDOH25", 101, 50), (f"{D3} 09:00", "WDOJ25", 107, 1),
        ]
        out = continuous_contract(make_bars(rows), adjust="difference")
        # First session: the front month (H25), whatever the session's volumes; J25
        # led on D1, so the roll is at the start of D2, measured at D1's last common bar.
        assert out["contract"].tolist() == ["WDOH25", "WDOH25", "WDOJ25", "WDOJ25"]
        (r,) = out.attrs["rolls"]
        assert r["session"] == pd.Timestamp(D2)
        assert r["measured_at"] == (pd.Timestamp(f"{D1} 09:01", tz=TZ),) * 2
        assert r["difference"] == 3.0
        rows[1] = (f"{D1} 09:00", "WDOJ25", 103, 5)
        rows[3] = (f"{D1} 09:01", "WDOJ25", 105, 5)
        rows[4] = (f"{D2} 09:00", "WDOH25", 101, 0.5)  # J25 leads on D2 -> roll on D3
        out = continuous_contract(make_bars(rows), adjust="difference")
        assert out["contract"].tolist() == ["WDOH25", "WDOH25", "WDOH25", "WDOJ25"]
        (r,) = out.attrs["rolls"]
        assert r["session"] == pd.Timestamp(D3)
        assert r["measured_at"] == (pd.Timestamp(f"{D2} 09:00", tz=TZ),) * 2
        assert r["difference"] == 3.0
        assert out["close"].tolist() == [103.0, 105.0, 104.0, 107.0]

    def test_volume_target_absent_keeps_previous(self):
        # J25 led on D1 but has no bar on D2 while H25 trades: H25 stays on D2.
        rows = [
            (f"{D1} 09:00", "WDOH25", 100, 10), (f"{D1} 09:01", "WDOH25", 101, 10),
            (f"{D1} 09:01", "WDOJ25", 104, 15),
            (f"{D2} 09:00", "WDOH25", 102, 10),
        ]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = continuous_contract(make_bars(rows))
        assert out["contract"].tolist() == ["WDOH25"] * 3
        assert out["close"].tolist() == [100.0, 101.0, 102.0]

    def test_tie_does_not_roll(self):
        rows = [
            (f"{D1} 09:00", "WDOH25", 100, 10), (f"{D1} 09:00", "WDOJ25", 103, 1),
            (f"{D2} 09:00", "WDOH25", 100, 7), (f"{D2} 09:00", "WDOJ25", 103, 7),
            (f"{D3} 09:00", "WDOH25", 100, 1), (f"{D3} 09:00", "WDOJ25", 103, 9),
        ]
        out = continuous_contract(make_bars(rows))
        assert out["contract"].tolist() == ["WDOH25"] * 3

    def test_causal_in_later_sessions(self):
        # Rows after the roll decision may change without changing which contract is
        # traded before them (back-adjusted levels may; raw prices may not).
        bars = make_bars(OVERLAP)
        base = continuous_contract(bars, adjust=None)
        cut = continuous_contract(bars.loc[bars.index < pd.Timestamp(f"{D3} 09:01", tz=TZ)],
                                  adjust=None)
        pd.testing.assert_frame_equal(base.iloc[:5].drop(columns="adjustment"),
                                      cut.drop(columns="adjustment"))


class TestForcedRoll:
    def test_gap_roll_warns_and_uses_last_close_and_first_open(self):
        rows = [
            (f"{D1} 09:00", "WDOH25", 100, 10), (f"{D1} 09:01", "WDOH25", 101, 10),
            (f"{D2} 09:00", "WDOJ25", 110, 10, 109), (f"{D2} 09:01", "WDOJ25", 111, 10),
        ]
        with pytest.warns(DataQualityWarning, match="overnight move") as rec:
            out = continuous_contract(make_bars(rows))
        assert len(rec) == 1 and "WDOH25 -> WDOJ25" in str(rec[0].message)
        f = 109.0 / 101.0
        np.testing.assert_allclose(out["close"], [100 * f, 101 * f, 110, 111], rtol=1e-15)
        np.testing.assert_allclose(out["open"], [100 * f, 101 * f, 109, 111], rtol=1e-15)
        (r,) = out.attrs["rolls"]
        assert r["method"] == "gap" and r["factor"] == f
        assert r["measured_at"] == (pd.Timestamp(f"{D1} 09:01", tz=TZ),
                                    pd.Timestamp(f"{D2} 09:00", tz=TZ))
        assert r["session"] == pd.Timestamp(D2)

    def test_forced_roll_never_looks_at_the_new_sessions_volume(self):
        # H25 expired: on D2 only J25 and K25 trade.  Neither traded on D1, so the
        # nearest expiry (J25) is taken, although K25 has more volume on D2.
        rows = [
            (f"{D1} 09:00", "WDOH25", 100, 10),
            (f"{D2} 09:00", "WDOJ25", 110, 5), (f"{D2} 09:00", "WDOK25", 120, 50),
        ]
        with pytest.warns(DataQualityWarning):
            out = continuous_contract(make_bars(rows), adjust="difference")
        assert out["contract"].tolist() == ["WDOH25", "WDOJ25"]
        assert out["close"].tolist() == [110.0, 110.0]
        assert out.attrs["continuous"]["contracts"] == ["WDOH25", "WDOJ25", "WDOK25"]

    def test_forced_roll_takes_the_later_contract_with_most_volume_the_session_before(self):
        rows = [
            (f"{D1} 09:00", "WDOH25", 100, 10), (f"{D1} 09:00", "WDOJ25", 101, 1),
            (f"{D1} 09:00", "WDOK25", 102, 5),
            (f"{D2} 09:00", "WDOJ25", 110, 50), (f"{D2} 09:00", "WDOK25", 120, 1),
        ]
        out = continuous_contract(make_bars(rows), adjust=None)  # overlap on D1: no gap warning
        assert out["contract"].tolist() == ["WDOH25", "WDOK25"]
        assert out.attrs["rolls"][0]["measured_at"] == (pd.Timestamp(f"{D1} 09:00", tz=TZ),) * 2

    def test_never_rolls_back_to_an_earlier_contract(self):
        rows = [
            (f"{D1} 09:00", "WDOH25", 100, 10), (f"{D1} 09:00", "WDOJ25", 103, 20),
            (f"{D2} 09:00", "WDOH25", 101, 1), (f"{D2} 09:00", "WDOJ25", 104, 50),
            (f"{D3} 09:00", "WDOH25", 102, 900), (f"{D3} 09:00", "WDOJ25", 105, 1),
            (f"{D4} 09:00", "WDOH25", 103, 900),  # only the earlier contract trades
            (f"{D5} 09:00", "WDOH25", 104, 900), (f"{D5} 09:00", "WDOJ25", 107, 1),
        ]
        with pytest.warns(DataQualityWarning, match="never rolls back") as rec:
            out = continuous_contract(make_bars(rows))
        assert len(rec) == 1 and "2025-02-06" in str(rec[0].message)
        # D1: front month H25; J25 led on D1 -> J25 from D2 on, and never back to H25
        assert out["contract"].tolist() == ["WDOH25"] + ["WDOJ25"] * 3
        assert out.index.equals(_ts(f"{D1} 09:00", f"{D2} 09:00", f"{D3} 09:00", f"{D5} 09:00"))
        assert [r["to"] for r in out.attrs["rolls"]] == ["WDOJ25"]
        assert out.attrs["continuous"]["dropped_sessions"] == [pd.Timestamp(D4)]

    def test_expiry_order_not_appearance_order(self):
        # The far contract (F26) appears first; Z25 expires earlier.  D1 volumes tie, so
        # the nearest expiry starts; F26 leads on D2, so the roll is on D3.
        rows = [
            (f"{D1} 09:00", "WDOF26", 200, 10), (f"{D1} 09:01", "WDOZ25", 100, 10),
            (f"{D2} 09:00", "WDOF26", 201, 10), (f"{D2} 09:00", "WDOZ25", 101, 1),
            (f"{D3} 09:00", "WDOF26", 202, 10), (f"{D3} 09:00", "WDOZ25", 102, 1),
        ]
        out = continuous_contract(make_bars(rows), adjust=None)
        assert out.attrs["continuous"]["contracts"] == ["WDOZ25", "WDOF26"]
        assert out.attrs["continuous"]["ordered_by"] == "expiry"
        assert out["contract"].tolist() == ["WDOZ25", "WDOZ25", "WDOF26"]
        assert out["close"].tolist() == [100.0, 101.0, 202.0]
        (r,) = out.attrs["rolls"]
        assert r["session"] == pd.Timestamp(D3) and r["factor"] == 201.0 / 101.0

    def test_unknown_symbols_ordered_by_first_appearance(self):
        rows = [
            (f"{D1} 09:00", "FOO_B", 100, 10), (f"{D2} 09:00", "FOO_A", 110, 10),
            (f"{D3} 09:00", "FOO_B", 101, 50), (f"{D3} 09:00", "FOO_A", 111, 1),
        ]
        with pytest.warns(DataQualityWarning):
            out = continuous_contract(make_bars(rows), adjust="difference")
        assert out.attrs["continuous"]["contracts"] == ["FOO_B", "FOO_A"]
        assert out.attrs["continuous"]["ordered_by"] == "first_appearance"
        assert out["contract"].tolist() == ["FOO_B", "FOO_A", "FOO_A"]
        assert out["symbol"].tolist() == ["FOO"] * 3


class TestSingleAndRoot:
    def test_single_contract_unchanged(self):
        bars = make_bars([(f"{D1} 09:00", "WDOH25", 100, 1), (f"{D2} 09:00", "WDOH25", 101, 2)])
        for adjust, neutral in (("ratio", 1.0), ("difference", 0.0), (None, 1.0)):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                out = continuous_contract(bars, adjust=adjust)
            pd.testing.assert_frame_equal(out.drop(columns=["symbol", "contract", "adjustment"]),
                                          bars.drop(columns="symbol"))
            assert out["contract"].tolist() == ["WDOH25", "WDOH25"]
            assert out["symbol"].tolist() == ["WDO", "WDO"]
            assert out["adjustment"].tolist() == [neutral, neutral]
            assert out.attrs["rolls"] == []

    def test_root_override_and_non_dated_single_symbol(self):
        bars = make_bars(OVERLAP)
        assert set(continuous_contract(bars, root="WDOFUT")["symbol"]) == {"WDOFUT"}
        fil = make_bars([(f"{D1} 09:00", "FILUSDT", 5, 1)])
        assert continuous_contract(fil)["symbol"].tolist() == ["FILUSDT"]


class TestErrors:
    def test_unknown_roll(self):
        with pytest.raises(ParameterError, match=r"`roll` must be one of 'volume', got 'calendar'"):
            continuous_contract(make_bars(OVERLAP), roll="calendar")

    def test_unknown_adjust_lists_valid_and_suggests(self):
        with pytest.raises(ParameterError, match=r"`adjust`.*'ratio', 'difference', None.*"
                                                 r"Did you mean 'ratio'"):
            continuous_contract(make_bars(OVERLAP), adjust="ratios")
        with pytest.raises(ParameterError, match="`adjust`"):
            continuous_contract(make_bars(OVERLAP), adjust="none")

    def test_missing_symbol_column(self):
        with pytest.raises(MissingColumnsError, match="`symbol`") as ei:
            continuous_contract(make_bars(OVERLAP).drop(columns="symbol"))
        assert ei.value.column == "symbol"

    def test_missing_price_column(self):
        with pytest.raises(MissingColumnsError, match="`close`"):
            continuous_contract(make_bars(OVERLAP).drop(columns="close"))

    def test_not_a_frame_or_bad_index(self):
        with pytest.raises(TypeError, match="`bars` must be a pandas DataFrame"):
            continuous_contract(make_bars(OVERLAP).to_numpy())
        with pytest.raises(TypeError, match="DatetimeIndex"):
            continuous_contract(make_bars(OVERLAP).reset_index())
        with pytest.raises(BarDataError, match="timezone-aware"):
            continuous_contract(make_bars(OVERLAP).tz_localize(None))

    def test_empty_and_duplicates(self):
        with pytest.raises(EmptyDataError):
            continuous_contract(make_bars(OVERLAP).iloc[:0])
        rows = OVERLAP + [(f"{D1} 09:00", "WDOH25", 100, 1)]
        with pytest.raises(BarDataError, match="duplicate timestamp .* 'WDOH25'"):
            continuous_contract(make_bars(rows))

    def test_bad_root(self):
        with pytest.raises(TypeError, match="`root`"):
            continuous_contract(make_bars(OVERLAP), root=5)
        with pytest.raises(TypeError, match="`root`"):
            continuous_contract(make_bars(OVERLAP), root="")

    def test_mixed_roots(self):
        rows = [(f"{D1} 09:00", "WDOH25", 100, 1), (f"{D1} 09:00", "WINH25", 120000, 1)]
        with pytest.raises(ParameterError, match="several roots.*WDO, WIN"):
            continuous_contract(make_bars(rows))

    def test_no_common_prefix(self):
        rows = [(f"{D1} 09:00", "ABC", 100, 1), (f"{D2} 09:00", "XYZ", 101, 1)]
        with pytest.raises(ParameterError, match="pass root="):
            continuous_contract(make_bars(rows))
        with pytest.warns(DataQualityWarning):
            out = continuous_contract(make_bars(rows), root="MIX")
        assert out["contract"].tolist() == ["ABC", "XYZ"]


# --- the real WDO sample: WDOZ21 -> WDOF22 -> WDOG22, one contract per day -------------

@pytest.fixture(scope="module")
def wdo():
    return load_bars(sample_path("wdo"))


@pytest.fixture(scope="module")
def wdo_ratio(wdo):
    with pytest.warns(DataQualityWarning, match="overnight move") as rec:
        out = continuous_contract(wdo)
    assert len(rec) == 2
    return out


class TestWdoSample:
    def test_two_rolls(self, wdo, wdo_ratio):
        rolls = wdo_ratio.attrs["rolls"]
        assert [r["session"] for r in rolls] == [pd.Timestamp("2021-11-30"), pd.Timestamp("2021-12-30")]
        assert [(r["from"], r["to"]) for r in rolls] == [("WDOZ21", "WDOF22"), ("WDOF22", "WDOG22")]
        assert [r["method"] for r in rolls] == ["gap", "gap"]
        for r in rolls:
            old = wdo[wdo["symbol"] == r["from"]]
            new = wdo[wdo["symbol"] == r["to"]]
            assert r["old_price"] == old["close"].iloc[-1]
            assert r["new_price"] == new["open"].iloc[0]
            assert r["timestamp"] == new.index[0]
            assert r["factor"] == new["open"].iloc[0] / old["close"].iloc[-1]
        assert wdo_ratio.attrs["continuous"]["segments"] == ["WDOZ21", "WDOF22", "WDOG22"]

    def test_all_bars_kept_and_raw_recoverable(self, wdo, wdo_ratio):
        out = wdo_ratio
        assert out.index.equals(wdo.index)
        assert (out["contract"] == wdo["symbol"]).all()
        assert (out["symbol"] == "WDO").all()
        f1, f2 = (r["factor"] for r in out.attrs["rolls"])
        expected_adj = wdo["symbol"].map({"WDOZ21": f1 * f2, "WDOF22": f2, "WDOG22": 1.0})
        np.testing.assert_allclose(out["adjustment"], expected_adj, rtol=1e-15)
        for col in ("open", "high", "low", "close", "vwap"):
            np.testing.assert_allclose(out[col] / out["adjustment"], wdo[col], rtol=1e-14)
        np.testing.assert_array_equal(out["volume"], wdo["volume"])
        last = out["contract"] == "WDOG22"
        np.testing.assert_array_equal(out.loc[last, "close"], wdo.loc[last, "close"])

    def test_returns_within_a_contract_unchanged(self, wdo, wdo_ratio):
        same = (wdo["symbol"] == wdo["symbol"].shift()).to_numpy()
        r_adj = wdo_ratio["close"].pct_change().to_numpy()[same]
        r_raw = wdo["close"].pct_change().to_numpy()[same]
        np.testing.assert_allclose(r_adj, r_raw, rtol=1e-9, atol=1e-15)

    def test_difference_adjustment(self, wdo):
        with pytest.warns(DataQualityWarning):
            out = continuous_contract(wdo, adjust="difference")
        d1, d2 = (r["difference"] for r in out.attrs["rolls"])
        assert (d1, d2) == (5637.0 - 5603.5, 5735.0 - 5703.0)
        np.testing.assert_allclose(out["close"] - out["adjustment"], wdo["close"], rtol=0, atol=1e-9)
        pts_adj = out["close"].diff().to_numpy()
        pts_raw = wdo["close"].diff().to_numpy()
        same = (wdo["symbol"] == wdo["symbol"].shift()).to_numpy()
        np.testing.assert_allclose(pts_adj[same], pts_raw[same], atol=1e-9)
