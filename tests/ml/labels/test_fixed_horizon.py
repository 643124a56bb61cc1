"""Fixed-horizon labels: hand-computed frames, sessions, rolls, and a pandas cross-check on real bars."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ml.data import bars_calendar
from ml.labels import fixed_horizon_labels

from ._frames import make_bars

NAN = float("nan")


def _bars6():
    opens = [100.0, 101.0, 102.0, 100.0, 99.0, 103.0]
    closes = [100.5, 101.5, 101.0, 99.5, 100.0, 104.0]
    return make_bars([(o, max(o, c) + 0.5, min(o, c) - 0.5, c) for o, c in zip(opens, closes)])


def test_entry_at_next_open_exit_at_close_of_t_plus_horizon():
    bars = _bars6()
    out = fixed_horizon_labels(bars, horizon=2)
    assert list(out.columns) == ["label", "ret", "t1", "barrier"]
    assert out.index.equals(bars.index)
    expected_ret = [math.log(101 / 101), math.log(99.5 / 102), math.log(100 / 100),
                    math.log(104 / 99), NAN, NAN]
    np.testing.assert_allclose(out["ret"], expected_ret, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(out["label"], [0.0, -1.0, 0.0, 1.0, NAN, NAN])
    idx = bars.index
    assert out["t1"].tolist()[:4] == [idx[2], idx[3], idx[4], idx[5]]
    assert out["t1"].isna().tolist() == [False] * 4 + [True] * 2
    assert out["barrier"].tolist()[:4] == ["vertical"] * 4
    assert out["barrier"].isna().tolist() == [False] * 4 + [True] * 2
    assert out["label"].dtype == np.float64
    assert isinstance(out["t1"].dtype, pd.DatetimeTZDtype)
    assert out.attrs["labels"]["n_defined"] == 4 and out.attrs["labels"]["n_undefined"] == 2


def test_close_of_the_decision_bar_is_not_the_entry_price():
    bars = _bars6()
    moved = bars.copy()
    moved.loc[moved.index[0], ["close", "high"]] = [150.0, 150.0]  # bar 0's own close
    a = fixed_horizon_labels(bars, horizon=1)
    b = fixed_horizon_labels(moved, horizon=1)
    assert a.iloc[0].equals(b.iloc[0])
    assert a["ret"].iloc[0] == math.log(101.5 / 101.0)  # close[1] / open[1]


def test_threshold_is_a_strict_dead_zone():
    bars = _bars6()
    cut = math.log(104 / 99)  # exactly row 3's return
    out = fixed_horizon_labels(bars, horizon=2, threshold=cut)
    assert out["label"].iloc[3] == 0.0
    out = fixed_horizon_labels(bars, horizon=2, threshold=0.03)
    np.testing.assert_array_equal(out["label"], [0.0, 0.0, 0.0, 1.0, NAN, NAN])


B3_STAMPS = ["2024-03-04 18:27", "2024-03-04 18:28", "2024-03-04 18:29",
             "2024-03-05 09:00", "2024-03-05 09:01", "2024-03-05 09:02"]


def _b3_bars(symbol=None):
    opens = [10.0, 11.0, 12.0, 13.0, 14.0, 15.0]
    closes = [10.5, 11.5, 12.5, 13.5, 14.5, 15.5]
    rows = [(o, c, o, c) for o, c in zip(opens, closes)]
    return make_bars(rows, B3_STAMPS, tz="America/Sao_Paulo", symbol=symbol)


def test_horizon_never_crosses_the_session_end():
    bars = _b3_bars()
    out = fixed_horizon_labels(bars, horizon=1, calendar="B3")
    np.testing.assert_allclose(out["ret"], [math.log(11.5 / 11), math.log(12.5 / 12), NAN,
                                            math.log(14.5 / 14), math.log(15.5 / 15), NAN])
    out = fixed_horizon_labels(bars, horizon=2, calendar="B3")
    np.testing.assert_allclose(out["ret"], [math.log(12.5 / 11), NAN, NAN,
                                            math.log(15.5 / 14), NAN, NAN])
    assert out["t1"].iloc[0] == bars.index[2]  # 18:29, the session's last bar


def test_cross_session_true_lets_the_horizon_run_into_the_next_session():
    bars = _b3_bars()
    out = fixed_horizon_labels(bars, horizon=2, calendar="B3", cross_session=True)
    np.testing.assert_allclose(out["ret"], [math.log(12.5 / 11), math.log(13.5 / 12),
                                            math.log(14.5 / 13), math.log(15.5 / 14), NAN, NAN])
    assert out["t1"].iloc[2] == pd.Timestamp("2024-03-05 09:01", tz="America/Sao_Paulo")


def test_calendar_is_inferred_from_a_b3_symbol():
    a = fixed_horizon_labels(_b3_bars(symbol="WDOJ24"), horizon=2)
    b = fixed_horizon_labels(_b3_bars(), horizon=2, calendar="B3")
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs["labels"]["calendar"] == "B3"


def test_a_label_never_spans_a_change_of_symbol_even_across_sessions():
    bars = make_bars([(10, 10, 10, 10), (11, 11, 11, 11), (20, 20, 20, 20), (21, 21, 21, 21)],
                     symbol=["WDOF24", "WDOF24", "WDOG24", "WDOG24"])
    for cross in (False, True):
        out = fixed_horizon_labels(bars, horizon=1, calendar="24/7", cross_session=cross)
        np.testing.assert_allclose(out["ret"], [0.0, NAN, 0.0, NAN])


def test_matches_pandas_shift_on_real_bars(wdo):
    h = 7
    out = fixed_horizon_labels(wdo, horizon=h, threshold=1e-4)
    session = bars_calendar(wdo).sessions(wdo.index).session
    same = pd.Series(session).shift(-h).to_numpy() == session  # exit bar in the same session
    ref = np.log(wdo["close"].shift(-h) / wdo["open"].shift(-1)).to_numpy().copy()
    ref[~same] = np.nan
    np.testing.assert_allclose(out["ret"].to_numpy(), ref, rtol=1e-14)
    lab = np.where(ref > 1e-4, 1.0, np.where(ref < -1e-4, -1.0, 0.0))
    lab[np.isnan(ref)] = np.nan
    np.testing.assert_array_equal(out["label"].to_numpy(), lab)
    sizes = np.bincount(session)
    assert out["label"].isna().sum() == np.minimum(sizes, h).sum()
