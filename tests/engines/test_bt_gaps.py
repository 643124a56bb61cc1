"""backtrader adapter: trailing stops, daily limits, fill on close, participation with
stops, and the live-feed path with per-bar inference (``engines.bt``).

Agreement tests run :func:`engines.simulate.simulate` and
:func:`engines.bt.run_backtrader` on three full sessions of the real WDO sample
(continuous contract, from 2021-11-08) with a deterministic pseudo-probability
(a causal rolling z-score of returns squashed to (0, 1); no model), costs off
and on, and demand the same trades (entry / exit bars and times, sides, sizes,
prices, reasons), the same equity bar by bar and final equity within 1e-6
relative.  Hand cases pin each rule on a few bars (arithmetic in comments).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("backtrader")

import backtrader as bt  # noqa: E402

from engines.bt import (  # noqa: E402
    Participation,
    model_predictor,
    run_backtrader,
    run_backtrader_live,
)
from engines.simulate import Costs, Sizing, Stops  # noqa: E402
from ml.data import continuous_contract  # noqa: E402
from ml.exceptions import ParameterError  # noqa: E402
from risk import DailyLimits  # noqa: E402
from strategies import ProbabilityThresholdStrategy  # noqa: E402
from tests.conftest import as_wdo
from tests.engines.test_bt import both, make_bars, pseudo_probability  # noqa: E402

SP = "America/Sao_Paulo"
SESSION = 570  # 1-minute B3 bars per full session (09:00-18:29)
COSTS = Costs(commission_per_contract=1.5, commission_pct=0.0001, slippage_ticks=1.0)


@pytest.fixture(scope="module")
def wdo(wdo_bars):
    """Three full sessions (2021-11-08 to 11-10) of the continuous WDO contract."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bars = continuous_contract(wdo_bars)
    start = int(np.searchsorted(bars.index, pd.Timestamp("2021-11-08 09:00", tz=SP)))
    return bars.iloc[start:start + 3 * SESSION]


@pytest.fixture(scope="module")
def proba(wdo):
    return pseudo_probability(wdo)


def assert_same_trades(a, b):
    ta, tb = a.trades, b.trades
    assert len(ta) == len(tb) > 0
    for col in ("entry_idx", "exit_idx", "side", "qty"):
        np.testing.assert_array_equal(ta[col].to_numpy(), tb[col].to_numpy(), err_msg=col)
    for col in ("entry_time", "exit_time"):
        assert (ta[col].to_numpy() == tb[col].to_numpy()).all(), col
    for col in ("entry_price", "exit_price", "costs"):
        np.testing.assert_allclose(tb[col].to_numpy(float), ta[col].to_numpy(float), rtol=0, atol=1e-9,
                                   err_msg=col)
    assert ta["exit_reason"].astype(str).tolist() == tb["exit_reason"].astype(str).tolist()
    np.testing.assert_allclose(b.equity.to_numpy(), a.equity.to_numpy(), rtol=1e-9)
    assert abs(b.equity.iloc[-1] / a.equity.iloc[-1] - 1) < 1e-6
    np.testing.assert_array_equal(b.positions.to_numpy(), a.positions.to_numpy())


def reasons(res):
    return res.trades["exit_reason"].astype(str).value_counts().to_dict()


# --------------------------------------------------------------------------- agreement on real bars

AGREEMENT = {
    # gap 1: trailing stops (alone, and with a stop, a take and a time stop)
    "trail": (dict(stops=Stops(trail_atr=1.5)), 1, False),
    "trail_sl_tp_time": (dict(stops=Stops(sl_atr=1.0, tp_atr=3.0, trail_atr=1.0, max_bars=20)), 1, False),
    # gap 2: daily loss limit and trades per day (and with stops and fixed-fraction sizes)
    "limits": (dict(limits=DailyLimits(max_daily_loss=300.0, max_trades_per_day=8)), 1, False),
    "limits_stops_fraction": (dict(limits=DailyLimits(max_daily_loss_fraction=0.002, max_trades_per_day=5),
                                   stops=Stops(sl_atr=1.0, tp_atr=2.0, trail_atr=1.5, max_bars=10),
                                   sizing=Sizing("fixed_fraction", fraction=0.01)), 1, False),
    # gap 3: fill on close (alone, with stops and a trail, with limits)
    "close": (dict(fill_on_close=True), 0, False),
    "close_stops": (dict(fill_on_close=True, stops=Stops(sl_atr=1.0, tp_atr=2.0, trail_atr=1.5,
                                                         max_bars=10)), 0, False),
    "close_limits": (dict(fill_on_close=True, limits=DailyLimits(max_daily_loss=300.0, max_trades_per_day=8),
                          stops=Stops(sl_atr=1.0, trail_atr=1.0)), 0, False),
}


@pytest.mark.parametrize("with_costs", [False, True], ids=["no_costs", "costs"])
@pytest.mark.parametrize("name", list(AGREEMENT))
def test_same_trades_and_equity_as_simulator(wdo, proba, name, with_costs):
    kw, flat_bars, _ = AGREEMENT[name]
    kw = dict(kw, costs=COSTS) if with_costs else dict(kw)
    sides = ProbabilityThresholdStrategy(flat_bars_before_close=flat_bars).sides(proba, wdo)
    s, b = both(wdo, sides, **kw)
    assert_same_trades(s, b)
    assert b.meta["fill_on_close"] == s.meta["fill_on_close"] == kw.get("fill_on_close", False)
    assert b.meta["refused_by_limits"] == s.meta["refused_by_limits"]
    got = reasons(s)
    if "stops" in kw:
        assert got.get("stop", 0) >= 3, got  # the (trailing) stops really fired
    if name in ("limits", "close_limits"):
        assert s.meta["refused_by_limits"] > 0  # the limits really refused entries
    if "limits" in kw:
        per_day = s.trades.groupby(s.trades["entry_time"].dt.date).size()
        assert per_day.max() <= kw["limits"].max_trades_per_day


def test_loss_limit_exit_agrees(wdo, proba):
    # a tight loss limit: the session is halted and the open position flattened ("limit" exits)
    sides = ProbabilityThresholdStrategy().sides(proba, wdo)
    s, b = both(wdo, sides, costs=COSTS, limits=DailyLimits(max_daily_loss=100.0))
    assert_same_trades(s, b)
    assert reasons(b).get("limit", 0) >= 1


def random_bars(seed, sessions=2):
    """The last 90 minutes of ``sessions`` B3 sessions of a random walk on the 0.5-point grid."""
    rng = np.random.default_rng(seed)
    idx = []
    for day in pd.bdate_range("2025-02-03", periods=sessions):
        idx += list(pd.date_range(day + pd.Timedelta(hours=17), day + pd.Timedelta(hours=18, minutes=29),
                                  freq="1min"))
    idx = pd.DatetimeIndex(idx).tz_localize(SP)
    n = len(idx)
    c = 5000 + np.cumsum(rng.choice([-1, -0.5, 0, 0.5, 1], n) * rng.integers(1, 4, n))
    o = np.r_[c[0], c[:-1]] + rng.choice([-1, 0, 0, 0, 1], n) * 2.0  # some gaps
    h = np.maximum(o, c) + rng.integers(0, 4, n) * 0.5
    lo = np.minimum(o, c) - rng.integers(0, 4, n) * 0.5
    return as_wdo(pd.DataFrame({"open": o, "high": h, "low": lo, "close": c,
                                "volume": rng.integers(1, 50, n).astype(float)}, index=idx))


@pytest.mark.parametrize("seed", range(8))
def test_random_configs_agree(seed):
    # random bars (gaps included), sides held 5 bars, and a random mix of stop / take / trail /
    # time stop / rearm, loss / trade-count / position limits, costs, sizes and fill_on_close
    rng = np.random.default_rng(seed + 1000)
    bars = random_bars(seed)
    n = len(bars)
    sides = np.repeat(rng.choice([-1, 0, 1], n // 5 + 1), 5)[:n]

    def pick(*values):
        v = values[int(rng.integers(0, len(values)))]
        return v or None

    kw = dict(stops=Stops(sl_atr=pick(0, 1.0, 2.0), tp_atr=pick(0, 1.5, 3.0), trail_atr=pick(0, 0.5, 1.5),
                          max_bars=pick(0, 7), rearm=bool(rng.integers(0, 2))),
              limits=DailyLimits(max_daily_loss=pick(0, 50.0, 200.0), max_trades_per_day=pick(0, 3, 10),
                                 max_position=pick(0, 2.0)),
              costs=Costs(1.5, float(pick(0, 0.0001) or 0.0), float(pick(0, 1.0, 3.0) or 0.0)),
              sizing=Sizing(contracts=int(rng.integers(1, 4))), fill_on_close=bool(rng.integers(0, 2)))
    s, b = both(bars, sides, **kw)
    assert_same_trades(s, b)
    assert b.meta["refused_by_limits"] == s.meta["refused_by_limits"]


# --------------------------------------------------------------------------- hand cases


def test_trailing_stop_ratchets_on_the_high_from_the_entry_bar_by_hand():
    # ATR 2, trail 1 ATR = 2 points.  Long decided at bar 0, filled at bar 1's open 100.
    # bar 1 high 103 -> stop 101 (checked from bar 2); bar 2 high 104 -> 102; bar 3 high 106 -> 104;
    # bar 4 opens at 103, through the stop: filled at the open 103, not at 104 (PITFALLS 4).
    # backtrader's StopTrail would ratchet on the closes (103, 105: stop 103) and fill at 103 too late.
    bars = make_bars([(100, 101, 99, 100, 100), (100, 103, 99, 102, 100), (102, 104, 101.5, 103, 100),
                      (103, 106, 102.5, 105, 100), (103, 104, 102, 103, 100), (103, 104, 102, 103, 100)])
    atr = np.full(6, 2.0)
    s, b = both(bars, [1, 1, 1, 1, 1, 1], stops=Stops(trail_atr=1.0), atr=atr)
    assert_same_trades(s, b)
    t = b.trades.iloc[0]
    assert (t["entry_idx"], t["exit_idx"], t["exit_reason"]) == (1, 4, "stop")
    assert (t["entry_price"], t["exit_price"]) == (100.0, 103.0)
    assert t["pnl"] == pytest.approx(30.0)


def test_trailing_stop_fills_at_its_level_inside_the_bar_by_hand():
    # short at 100 (bar 1), ATR 2, trail 2: bar 1 low 98 -> stop 100; bar 2 low 96 -> 98;
    # bar 3 opens 97 and trades up to 99: through 98 inside the bar -> filled at 98 plus 1 tick
    # of slippage (0.5 point, adverse for a buy) = 98.5; R$1.50 a side.
    bars = make_bars([(100, 101, 99, 100, 100), (100, 100.5, 98, 99, 100), (98.5, 99, 96, 97, 100),
                      (97, 99, 96.5, 98, 100), (98, 99, 97, 98, 100)])
    s, b = both(bars, [-1] * 5, stops=Stops(trail_atr=1.0), atr=np.full(5, 2.0),
                costs=Costs(commission_per_contract=1.5, slippage_ticks=1.0))
    assert_same_trades(s, b)
    t = b.trades.iloc[0]
    assert (t["entry_idx"], t["exit_idx"], t["exit_reason"]) == (1, 3, "stop")
    assert (t["entry_price"], t["exit_price"]) == (99.5, 98.5)  # entry 100 less 1 tick (a sell)
    assert t["pnl"] == pytest.approx(10.0 * 1.0 - 3.0)


def test_take_gapped_through_fills_at_the_open_without_slippage_by_hand():
    # long at 100, take 2 ATR = 104, stop 1 ATR = 98; bar 2 opens at 105 (through the take) and
    # then trades down to 97 (through the stop): the take at the open wins (risk.check_exit: a gap
    # through the take is checked before a stop touched later), at 105 with no slippage (PITFALLS 5)
    bars = make_bars([(100, 101, 99, 100, 100), (100, 101, 99, 100, 100), (105, 106, 97, 99, 100),
                      (99, 100, 98, 99, 100)])
    s, b = both(bars, [1, 1, 1, 1], stops=Stops(sl_atr=1.0, tp_atr=2.0), atr=np.full(4, 2.0),
                costs=Costs(slippage_ticks=1.0))
    assert_same_trades(s, b)
    t = b.trades.iloc[0]
    assert (t["exit_idx"], t["exit_reason"], t["exit_price"]) == (2, "take", 105.0)


def test_max_trades_per_day_by_hand():
    # the side flips every bar; one entry a session is allowed: long at bar 1, flat at bar 2, and
    # every later entry of the session refused (counted), as in the simulator
    bars = make_bars([(100, 101, 99, 100, 100)] * 8)
    s, b = both(bars, [1, 0, -1, 0, 1, 0, -1, 0], limits=DailyLimits(max_trades_per_day=1))
    assert_same_trades(s, b)
    assert len(b.trades) == 1 and b.meta["refused_by_limits"] == s.meta["refused_by_limits"] == 3


def test_daily_loss_limit_halts_the_session_by_hand():
    # long 1 at 100; bar 2 closes at 95: -R$50 >= the R$40 limit -> halted: flat at bar 3's open
    # (reason "limit") and no entry for the rest of the session although the side stays long
    bars = make_bars([(100, 101, 99, 100, 100), (100, 101, 99, 100, 100), (99, 100, 94, 95, 100),
                      (96, 97, 95, 96, 100), (96, 97, 95, 96, 100), (96, 97, 95, 96, 100)])
    s, b = both(bars, [1, 1, 1, 1, 1, 1], limits=DailyLimits(max_daily_loss=40.0),
                stops=Stops(rearm=False))
    assert_same_trades(s, b)
    t = b.trades.iloc[0]
    assert (t["entry_idx"], t["exit_idx"], t["exit_reason"], t["exit_price"]) == (1, 3, "limit", 96.0)
    assert b.positions.tolist() == [0, 1, 1, 0, 0, 0]


def test_fill_on_close_by_hand():
    # long decided at bar 0 fills at bar 0's close 100.5 (not bar 1's open), flat decided at bar 2
    # fills at bar 2's close 102.5 (1 tick of slippage each side): (102.0 - 101.0) x R$10 = R$10
    bars = make_bars([(100, 101, 99, 100.5, 10), (101, 102, 100, 101.5, 10), (102, 103, 101, 102.5, 10),
                      (103, 104, 102, 103.5, 10)])
    s, b = both(bars, [1, 1, 0, 0], fill_on_close=True, costs=Costs(slippage_ticks=1.0))
    assert_same_trades(s, b)
    t = b.trades.iloc[0]
    assert (t["entry_idx"], t["exit_idx"], t["entry_price"], t["exit_price"]) == (0, 2, 101.0, 102.0)
    assert b.positions.tolist() == [1, 1, 0, 0]
    assert b.equity.tolist() == pytest.approx([99_995.0, 100_005.0, 100_010.0, 100_010.0])


def test_fill_on_close_on_the_last_bar_of_the_data():
    # an exit decided on the very last bar fills at its close (a sentinel bar lets backtrader run it)
    bars = make_bars([(100, 101, 99, 100, 10), (101, 102, 100, 101, 10), (102, 103, 101, 102, 10)])
    s, b = both(bars, [1, 1, 0], fill_on_close=True)
    assert_same_trades(s, b)
    assert b.trades["exit_reason"].tolist() == ["signal"] and b.trades["exit_idx"].tolist() == [2]


@pytest.mark.parametrize("remainder", ["carry", "cancel"])
def test_participation_with_a_stop_by_hand(remainder):
    # Behaviour: the cap (at most 50% of a bar's volume, whole contracts) binds all the orders of a
    # bar together, stop and take fills included; the stop covers only what is held; when a level
    # is hit and the cap leaves part of the position, the rest is closed by market orders from the
    # next opens, carried until done whatever `remainder` says (a risk exit is never dropped), and
    # an entry still being filled is cancelled.  Stop: 1 ATR = 2 points below the entry at 100.
    # 4 contracts wanted.  Bar 1 (volume 4, room 2): 2 bought at 100.
    # carry: bar 2 (volume 2, room 1): 1 more at the open 100 (3 held, 1 cancelled); the low 97
    #   hits the stop 98 but no room is left: 3 are sold at the opens of bars 3, 4, 5 (room 1 each)
    #   at 99: 3 x (99 - 100) x R$10 = -R$30.
    # cancel: the entry's unfilled 2 are dropped after bar 1; bar 2: the stop sells 1 at 98 (room
    #   1), the other at bar 3's open 99: (98 - 100 + 99 - 100) x R$10 = -R$30.
    bars = make_bars([(100, 101, 99, 100, 100), (100, 101, 99, 100, 4), (100, 101, 97, 99, 2),
                      (99, 100, 98, 99, 2), (99, 100, 98, 99, 2), (99, 100, 98, 99, 2), (99, 100, 98, 99, 100)])
    b = run_backtrader(bars, [1] * 7, sizing=Sizing(contracts=4), stops=Stops(sl_atr=1.0), atr=np.full(7, 2.0),
                       participation=Participation(0.5, remainder), calendar="B3", bar_minutes=1)
    o = b.orders
    if remainder == "carry":
        assert o["bar"].tolist() == [1, 2, 3, 4, 5]
        assert o["size"].tolist() == [2.0, 1.0, -1.0, -1.0, -1.0]
        assert o["price"].tolist() == [100.0, 100.0, 99.0, 99.0, 99.0]
        assert b.positions.tolist() == [0, 2, 3, 2, 1, 0, 0]
        assert b.meta["participation"]["cancelled_contracts"] == 1
    else:
        assert o["bar"].tolist() == [1, 2, 3]
        assert o["size"].tolist() == [2.0, -1.0, -1.0]
        assert o["price"].tolist() == [100.0, 98.0, 99.0]
        assert b.positions.tolist() == [0, 2, 1, 0, 0, 0, 0]
    assert set(o["reason"].iloc[1 if remainder == "cancel" else 2:]) == {"stop"}
    t = b.trades.iloc[0]
    assert t["exit_reason"] == "stop" and len(b.trades) == 1  # rearm: no re-entry on the same side
    assert t["pnl"] == pytest.approx(-30.0)


def test_participation_never_fills_more_than_the_cap_per_bar(wdo, proba):
    sides = ProbabilityThresholdStrategy().sides(proba, wdo)
    frac = 0.01
    b = run_backtrader(wdo, sides, sizing=Sizing(contracts=3), stops=Stops(sl_atr=1.0, tp_atr=2.0, trail_atr=1.0),
                       participation=Participation(frac, "carry"), costs=COSTS)
    o = b.orders[b.orders["reason"] != "session"]
    per_bar = o.groupby("bar")["size"].apply(lambda x: x.abs().sum())
    cap = np.floor(frac * wdo["volume"].to_numpy()[per_bar.index.to_numpy()] + 1e-9)
    assert len(per_bar) > 50 and (per_bar.to_numpy() <= cap).all()
    assert (b.positions.abs() <= 3).all()  # a stop never sells more than is held
    assert "stop" in reasons(b)


# --------------------------------------------------------------------------- live feed, per-bar inference


def plain_feed(bars):
    """A plain PandasData (no extra line): the stand-in for a live feed."""
    return bt.feeds.PandasData(dataname=bars[["open", "high", "low", "close", "volume"]].tz_localize(None),
                               openinterest=None)


class Lookup:
    """``predict`` returning precomputed probabilities, recording what it was shown."""

    def __init__(self, proba):
        self.proba = proba
        self.windows = []

    def __call__(self, window):
        self.windows.append((window.index[0], window.index[-1], len(window)))
        return float(self.proba.loc[window.index[-1]])


LIVE = {
    "plain": dict(),
    "stops_costs": dict(costs=COSTS, stops=Stops(sl_atr=1.0, tp_atr=2.0, trail_atr=1.5, max_bars=10)),
    "limits": dict(limits=DailyLimits(max_daily_loss=300.0, max_trades_per_day=8), costs=COSTS),
    "close": dict(fill_on_close=True, costs=COSTS, stops=Stops(sl_atr=1.0, trail_atr=1.0)),
}


@pytest.mark.parametrize("name", list(LIVE))
def test_live_feed_agrees_with_the_precomputed_path(wdo, proba, name):
    bars = wdo.iloc[:2 * SESSION]
    kw = LIVE[name]
    strat = ProbabilityThresholdStrategy(min_holding=3,
                                         flat_bars_before_close=0 if kw.get("fill_on_close") else 1)
    pre = run_backtrader(bars, proba.iloc[:2 * SESSION], strategy=strat, **kw)
    predict = Lookup(proba)
    live = run_backtrader_live(plain_feed(bars), predict, strategy=strat, lookback=50, calendar="B3",
                               bar_minutes=1, **kw)
    assert_same_trades(pre, live)
    pd.testing.assert_index_equal(live.equity.index, bars.index, check_names=False)
    assert live.meta["sides_precomputed"] is False
    np.testing.assert_array_equal(live.meta["proba"].to_numpy(), proba.iloc[:2 * SESSION].to_numpy())
    # causality: at bar t the callable saw bars up to t only, at most `lookback` of them
    shown = pd.DataFrame(predict.windows, columns=["first", "last", "n"])
    assert (shown["last"].to_numpy() == bars.index.to_numpy()).all()
    assert (shown["n"] <= 50).all() and (shown["first"] <= shown["last"]).all()
    # latency KPI: < 30 ms a decision (measured inside next(): inference, rule, orders)
    lat = live.meta["decision_latency_ms"]
    assert lat["n"] == len(bars) and lat["p50"] < 30.0


def test_live_decisions_before_t_ignore_the_bars_after_t(wdo):
    # perturb every bar after T: the probabilities, trades and equity up to T do not change
    bars = wdo.iloc[:SESSION]
    cut = 300

    def predict(window):  # a causal score of the window
        r = np.log(window["close"]).diff().iloc[-20:]
        return float(1.0 / (1.0 + math.exp(-r.sum() / (r.std() * math.sqrt(20) + 1e-12)))) \
            if len(window) > 21 else math.nan

    shaken = bars.copy()
    rng = np.random.default_rng(0)
    shift = rng.normal(0, 5.0, len(bars) - cut)
    for col in ("open", "high", "low", "close"):
        shaken.iloc[cut:, shaken.columns.get_loc(col)] += shift
    kw = dict(calendar="B3", bar_minutes=1, lookback=40, stops=Stops(sl_atr=1.0, trail_atr=1.0))
    a = run_backtrader_live(plain_feed(bars), predict, **kw)
    b = run_backtrader_live(plain_feed(shaken), predict, **kw)
    pa, pb = a.meta["proba"].to_numpy(), b.meta["proba"].to_numpy()
    np.testing.assert_array_equal(pa[:cut], pb[:cut])
    assert not np.allclose(pa[cut:], pb[cut:], equal_nan=True)
    np.testing.assert_array_equal(a.equity.to_numpy()[:cut - 1], b.equity.to_numpy()[:cut - 1])
    done_a = a.trades[a.trades["exit_idx"] < cut - 1]
    done_b = b.trades[b.trades["exit_idx"] < cut - 1]
    assert len(done_a) > 3
    pd.testing.assert_frame_equal(done_a, done_b)


def test_model_predictor_uses_the_last_feature_row():
    class Model:  # a fitted classifier stand-in: up probability = last return squashed
        classes_ = np.array([0, 1])

        def predict_proba(self, X):
            p = 1.0 / (1.0 + np.exp(-np.asarray(X["r"], dtype=float) * 1000))
            return np.column_stack([1 - p, p])

    def features(window):
        return pd.DataFrame({"r": np.log(window["close"]).diff().fillna(0.0)}, index=window.index)

    bars = make_bars([(100, 101, 99, 100, 10), (100, 101, 99, 100.5, 10), (100, 101, 99, 99.0, 10)])
    predict = model_predictor(Model(), features)
    assert predict(bars.iloc[:2]) > 0.55 and predict(bars) < 0.45
    with pytest.raises(TypeError, match="model"):
        model_predictor(object(), features)


# --------------------------------------------------------------------------- bad inputs


def test_bad_inputs_raise_one_line_errors():
    bars = make_bars([(100, 101, 99, 100, 10)] * 4)
    with pytest.raises(ParameterError, match="participation.*fill_on_close"):
        run_backtrader(bars, [1, 0, 0, 0], fill_on_close=True, participation=Participation(0.1))
    with pytest.raises(TypeError, match="limits"):
        run_backtrader(bars, [1, 0, 0, 0], limits={"max_trades_per_day": 1})
    with pytest.raises(TypeError, match="fill_on_close"):
        run_backtrader(bars, [1, 0, 0, 0], fill_on_close="yes")
    with pytest.raises(TypeError, match="predict"):
        run_backtrader_live(plain_feed(bars), 0.6, calendar="B3", bar_minutes=1)
    with pytest.raises(TypeError, match="feed"):
        run_backtrader_live(bars, lambda w: 0.6, calendar="B3", bar_minutes=1)
    with pytest.raises(ParameterError, match="lookback"):
        run_backtrader_live(plain_feed(bars), lambda w: 0.6, lookback=0, calendar="B3", bar_minutes=1)
    with pytest.raises(ParameterError, match="bar_minutes"):
        run_backtrader_live(plain_feed(bars), lambda w: 0.6, calendar="B3", bar_minutes=-1)
    with pytest.raises(ParameterError, match="predict.*probability"):
        run_backtrader_live(plain_feed(bars), lambda w: 1.7, calendar="B3", bar_minutes=1)
    with pytest.raises(ParameterError, match="predict"):
        run_backtrader_live(plain_feed(bars), lambda w: "up", calendar="B3", bar_minutes=1)
