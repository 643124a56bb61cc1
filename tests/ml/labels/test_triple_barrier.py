"""Triple-barrier labels on hand-computed frames: gaps, ambiguous bars, sides, sessions, warm-up.

Unless said otherwise: entry = open[1] = 100, max_holding = 4 and vol = 0.005, so
width = 0.005 * sqrt(4) = 0.01, the profit barrier is 100 e^0.01 = 101.005 and the
stop 100 e^-0.01 = 99.005 (long side).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ml.labels import triple_barrier_labels
from ml.labels._triple_barrier import _bar_volatility

from ._frames import flat, make_bars

UP = 100 * math.exp(0.01)
DN = 100 * math.exp(-0.01)
QUIET = (100.0, 100.5, 99.5, 100.0)  # inside both barriers


def tb(rows, **kw):
    bars = make_bars(rows)
    kw.setdefault("max_holding", 4)
    kw.setdefault("vol", [0.005] * len(bars))
    kw.setdefault("calendar", "24/7")
    return bars, triple_barrier_labels(bars, **kw)


def row0(out):
    """(label, barrier, exit_price, ret) of the first row, ret rounded to 1e-14."""
    r = out.iloc[0]
    return float(r["label"]), r["barrier"], float(r["exit_price"]), round(float(r["ret"]), 14)


def test_output_columns_and_types():
    bars, out = tb(flat(1) + [QUIET] * 6)
    assert list(out.columns) == ["label", "ret", "t1", "barrier", "entry_price", "exit_price"]
    assert out.index.equals(bars.index)
    assert out["entry_price"].iloc[0] == 100.0
    assert isinstance(out["t1"].dtype, pd.DatetimeTZDtype)
    assert out.attrs["labels"]["method"] == "triple_barrier"


def test_stop_gapped_through_exits_at_the_open_not_at_the_stop():
    bars, out = tb(flat(1) + [QUIET, (98.0, 98.5, 97.5, 98.0)] + flat(3, 98.0))
    assert row0(out) == (-1.0, "lower", 98.0, round(math.log(0.98), 14))
    assert out["t1"].iloc[0] == bars.index[2]


def test_target_touched_inside_a_bar_exits_at_the_target():
    bars, out = tb(flat(1) + [QUIET, (100.2, 101.2, 100.0, 101.0)] + flat(3))
    label, barrier, px, ret = row0(out)
    assert (label, barrier) == (1.0, "upper")
    assert px == pytest.approx(UP, rel=1e-15) and ret == pytest.approx(0.01, abs=1e-15)
    assert bars["low"].iloc[2] <= px <= bars["high"].iloc[2]


def test_target_gapped_through_exits_at_the_better_open():
    _, out = tb(flat(1) + [QUIET, (102.0, 102.5, 101.5, 102.0)] + flat(3))
    assert row0(out) == (1.0, "upper", 102.0, round(math.log(1.02), 14))


def test_entry_bar_itself_can_end_the_event_but_the_signal_bar_cannot():
    wild_signal_bar = (100.0, 200.0, 50.0, 100.0)  # bar t is never scanned (PITFALLS 3)
    bars, out = tb([wild_signal_bar, (100.0, 101.1, 99.9, 101.0)] + flat(4))
    assert out["barrier"].iloc[0] == "upper"
    assert out["t1"].iloc[0] == bars.index[1]


def test_both_barriers_in_one_bar_without_side_is_ambiguous():
    _, out = tb(flat(1) + [QUIET, (100.0, 101.5, 98.5, 100.7)] + flat(3))
    assert row0(out) == (0.0, "both", 100.7, round(math.log(1.007), 14))


@pytest.mark.parametrize("side, stop", [(1, DN), (-1, UP)])
def test_both_barriers_in_one_bar_with_side_assumes_the_stop(side, stop):
    rows = flat(1) + [QUIET, (100.0, 101.5, 98.5, 100.7)] + flat(3)
    _, out = tb(rows, side=[side] * len(rows))
    label, barrier, px, ret = row0(out)
    assert (label, barrier) == (-1.0, "lower")
    assert px == pytest.approx(stop, rel=1e-15) and ret == pytest.approx(-0.01, abs=1e-15)


def test_short_side_takes_profit_below_and_is_stopped_above():
    falls = flat(1) + [QUIET, (100.0, 100.2, 98.9, 99.0)] + flat(3, 99.0)
    _, out = tb(falls, side=[-1] * len(falls))
    label, barrier, px, ret = row0(out)
    assert (label, barrier) == (1.0, "upper")  # "upper" is the profit side, whatever the side
    assert px == pytest.approx(DN, rel=1e-15) and ret == pytest.approx(0.01, abs=1e-15)
    _, out = tb(falls)  # the same path for a long is a stop
    assert row0(out)[:2] == (-1.0, "lower")
    gaps_up = flat(1) + [QUIET, (102.0, 102.5, 101.5, 102.0)] + flat(3, 102.0)
    _, out = tb(gaps_up, side=[-1] * len(gaps_up))
    assert row0(out) == (-1.0, "lower", 102.0, round(-math.log(1.02), 14))


def test_side_zero_or_nan_gives_nan():
    rows = flat(1) + [QUIET] * 9
    _, out = tb(rows, side=[0, np.nan, 1, -1, 1, 1, 1, 1, 1, 1])
    assert out["label"].iloc[:2].isna().all() and out["t1"].iloc[:2].isna().all()
    assert out["label"].iloc[2:4].notna().all()


def test_vertical_barrier_exits_at_close_and_min_ret_sets_a_dead_zone():
    rows = flat(1) + [QUIET, QUIET, QUIET, (100.0, 100.5, 99.9, 100.3)] + flat(2)
    bars, out = tb(rows)
    assert row0(out) == (1.0, "vertical", 100.3, round(math.log(1.003), 14))
    assert out["t1"].iloc[0] == bars.index[4]  # t + max_holding
    _, out = tb(rows, min_ret=0.003)
    assert row0(out)[:2] == (0.0, "vertical")


def test_disabled_barriers():
    rises = flat(1) + [QUIET, (100.0, 103.0, 100.0, 103.0)] + flat(3, 103.0)
    for pt in (None, 0, 0.0):
        _, out = tb(rises, pt=pt)
        assert row0(out) == (1.0, "vertical", 103.0, round(math.log(1.03), 14))
    gaps_down = flat(1) + [QUIET, (98.0, 98.5, 97.5, 98.0)] + flat(3, 98.0)
    _, out = tb(gaps_down, sl=None)
    assert row0(out)[:3] == (-1.0, "vertical", 98.0)
    # No horizontal barrier at all: volatility is not needed.
    _, out = tb(gaps_down, pt=None, sl=None, vol=[np.nan] * 6)
    assert row0(out)[:3] == (-1.0, "vertical", 98.0)


def test_barrier_width_scales_with_vol_and_sqrt_max_holding():
    rows = flat(1) + [(100.0, 100.1, 99.9, 100.0), (100.0, 100.8, 100.0, 100.8)] + flat(6, 100.8)
    _, out = tb(rows, max_holding=4, vol=[0.002] * 9)  # width 0.004: 100.8 > 100.401
    assert row0(out)[:2] == (1.0, "upper")
    assert out["exit_price"].iloc[0] == pytest.approx(100 * math.exp(0.004), rel=1e-15)
    _, out = tb(rows, max_holding=4, vol=[0.002] * 9, pt=2.5)  # 100 e^0.01 not reached
    assert row0(out)[:2] == (1.0, "vertical")


B3_STAMPS = ([f"2024-03-04 18:{m}" for m in range(25, 30)]
             + [f"2024-03-05 09:0{m}" for m in range(10)])


def test_vertical_barrier_stops_at_the_session_end():
    bars = make_bars(flat(15), B3_STAMPS, tz="America/Sao_Paulo")
    out = triple_barrier_labels(bars, max_holding=10, vol=[0.1] * 15, calendar="B3")
    assert out["barrier"].iloc[0] == "vertical"
    assert out["t1"].iloc[0] == pd.Timestamp("2024-03-04 18:29", tz="America/Sao_Paulo")
    assert out["t1"].iloc[:4].tolist() == [bars.index[4]] * 4
    assert np.isnan(out["label"].iloc[4])  # last bar of the session: no entry bar left
    # The data end inside the second session: that session may go on, so rows whose
    # vertical barrier lies beyond the data stay undefined instead of being cut short.
    assert out["label"].iloc[5:].isna().all()
    assert out.attrs["labels"]["data_may_continue"] is True


def test_cross_session_runs_into_the_next_session_but_never_past_the_data():
    bars = make_bars(flat(15), B3_STAMPS, tz="America/Sao_Paulo")
    out = triple_barrier_labels(bars, max_holding=10, vol=[0.1] * 15, calendar="B3",
                                cross_session=True)
    assert out["t1"].iloc[0] == pd.Timestamp("2024-03-05 09:05", tz="America/Sao_Paulo")
    assert out["label"].iloc[:5].notna().all() and out["label"].iloc[5:].isna().all()


def test_a_touch_before_the_end_of_the_data_is_still_a_label():
    bars, out = tb(flat(1) + [QUIET, (98.0, 98.5, 97.5, 98.0)])  # 3 bars, vertical at bar 4
    assert row0(out) == (-1.0, "lower", 98.0, round(math.log(0.98), 14))
    assert out["label"].iloc[1:].isna().all()


def test_roll_ends_every_event():
    bars = make_bars(flat(4) + flat(4, 120.0), symbol=["WDOF24"] * 4 + ["WDOG24"] * 4)
    out = triple_barrier_labels(bars, max_holding=10, vol=[0.1] * 8, calendar="24/7",
                                cross_session=True)
    assert out["t1"].iloc[0] == bars.index[3]
    assert np.isnan(out["label"].iloc[3])


def test_default_vol_is_causal_ewm_std_without_overnight_gaps(wdo):
    bars = wdo.iloc[:1500]
    out = triple_barrier_labels(bars, max_holding=20, vol_span=50)
    first = np.r_[True, bars.index.normalize()[1:] != bars.index.normalize()[:-1]]
    r = np.log(bars["close"] / bars["close"].shift(1)).to_numpy().copy()
    r[first] = np.log(bars["close"] / bars["open"]).to_numpy()[first]
    sigma = pd.Series(r, index=bars.index).ewm(span=50, min_periods=50).std()
    given = triple_barrier_labels(bars, max_holding=20, vol=sigma)
    pd.testing.assert_frame_equal(out, given, check_exact=False, rtol=1e-12)
    assert out["label"].iloc[:49].isna().all()  # warm-up: sigma undefined
    assert out["label"].iloc[49:60].notna().all()
    np.testing.assert_allclose(_bar_volatility(bars["open"].to_numpy(), bars["close"].to_numpy(),
                                               first, 50), sigma.to_numpy(), equal_nan=True)


def test_an_overnight_gap_does_not_move_the_next_sessions_labels(wdo):
    sessions = wdo.index.normalize()
    days = sessions.unique()[1:3]
    bars = wdo[sessions.isin(days)].copy()
    second = bars.index.normalize() == days[1]
    shifted = bars.copy()
    shifted.loc[second, ["open", "high", "low", "close"]] *= 1.1  # a 10% overnight gap
    a = triple_barrier_labels(bars, max_holding=15, vol_span=30)
    b = triple_barrier_labels(shifted, max_holding=15, vol_span=30)
    pd.testing.assert_frame_equal(a.drop(columns=["entry_price", "exit_price"]),
                                  b.drop(columns=["entry_price", "exit_price"]),
                                  check_exact=False, rtol=1e-12, atol=1e-15)
    assert a["label"][second].notna().sum() > 400


def test_barriers_shrink_with_the_time_left_before_the_close():
    # 18:25 decision, entry 18:26 open = 100; the close at 18:30 leaves 4 bars (18:26-18:29),
    # so width = 0.005 * sqrt(4) = 0.01 and not 0.005 * sqrt(30): 101.0 touches 100 e^0.01.
    rows = [(100.0, 100.0, 100.0, 100.0), (100.0, 100.2, 99.9, 100.1),
            (100.1, 101.1, 100.0, 101.0), (101.0, 101.0, 101.0, 101.0), (101.0, 101.0, 101.0, 101.0)]
    bars = make_bars(rows, [f"2024-03-04 18:{m}" for m in range(25, 30)], tz="America/Sao_Paulo")
    out = triple_barrier_labels(bars, max_holding=30, vol=[0.005] * 5, calendar="B3")
    assert (out["label"].iloc[0], out["barrier"].iloc[0]) == (1.0, "upper")
    assert out["exit_price"].iloc[0] == pytest.approx(UP, rel=1e-15)
    # across sessions the full max_holding applies: 100 e^(0.005 sqrt 30) = 102.8 is not reached
    wide = triple_barrier_labels(bars, max_holding=30, vol=[0.005] * 5, calendar="B3", cross_session=True)
    assert np.isnan(wide["label"].iloc[0])  # the data end before the vertical barrier


def test_labels_on_a_continuous_series_never_span_the_roll(wdo):
    from ml.data import continuous_contract

    with pytest.warns(UserWarning):
        cont = continuous_contract(wdo)
    for cross in (False, True):
        out = triple_barrier_labels(cont, max_holding=60, cross_session=cross)
        ok = out["t1"].notna()
        start_contract = cont["contract"][ok].to_numpy()
        end_contract = cont["contract"].reindex(out["t1"][ok]).to_numpy()
        assert (start_contract == end_contract).all(), cross
