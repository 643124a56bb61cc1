"""backtrader runs the same decisions as the simulator (``engines.bt.run_backtrader``).

On real WDO bars (first 3,000 of the continuous contract) a
ProbabilityThresholdStrategy driven by a deterministic pseudo-probability (a
causal rolling z-score of returns squashed to (0, 1); no model) is run through
:func:`engines.simulate.simulate` and :func:`engines.bt.run_backtrader`: same
trades (entry / exit bars, sizes, prices, reasons) and the same equity, with and
without costs, slippage, ATR stops / takes and the time stop.  Hand cases pin
next-open fills, the futures percent commission (multiplier included), the
participation limit and the square-root impact.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("backtrader")

import backtrader as bt  # noqa: E402

from engines.bt import FuturesCommInfo, Participation, SquareRootImpact, run_backtrader  # noqa: E402
from engines.simulate import Costs, Sizing, Stops, simulate  # noqa: E402
from ml.data import continuous_contract  # noqa: E402
from ml.exceptions import ParameterError  # noqa: E402
from strategies import ProbabilityThresholdStrategy  # noqa: E402
from tests.conftest import as_wdo

SP = "America/Sao_Paulo"


@pytest.fixture(scope="module")
def wdo3000(wdo_bars):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return continuous_contract(wdo_bars).iloc[:3000]


def pseudo_probability(bars, window=30):
    r = np.log(bars["close"]).diff()
    z = r.rolling(window).sum() / (r.rolling(4 * window).std() * math.sqrt(window))
    return 1.0 / (1.0 + np.exp(-z))


@pytest.fixture(scope="module")
def proba(wdo3000):
    return pseudo_probability(wdo3000)


@pytest.fixture(scope="module")
def sides(wdo3000, proba):
    return ProbabilityThresholdStrategy().sides(proba, wdo3000)


def make_bars(ohlcv, start="2025-02-03 10:00"):
    """1-minute B3 bars from (open, high, low, close, volume) tuples."""
    o, h, l, c, v = (np.array(x, dtype=float) for x in zip(*ohlcv))
    idx = pd.date_range(start, periods=len(o), freq="1min", tz=SP)
    return as_wdo(pd.DataFrame({"open": o, "high": h, "low": l, "close": c, "volume": v}, index=idx))


def flat(n, px=5000.0, spread=2.0, volume=100.0):
    return make_bars([(px, px + spread, px - spread, px, volume)] * n)


def both(bars, sides, **kw):
    return (simulate(bars, sides, calendar="B3", bar_minutes=1, **kw),
            run_backtrader(bars, sides, calendar="B3", bar_minutes=1, **kw))


def assert_same_run(s, b):
    st, bt_ = s.trades, b.trades
    assert len(st) == len(bt_) > 0
    np.testing.assert_array_equal(st["entry_idx"].to_numpy(), bt_["entry_idx"].to_numpy())
    np.testing.assert_array_equal(st["exit_idx"].to_numpy(), bt_["exit_idx"].to_numpy())
    assert (st["entry_time"].to_numpy() == bt_["entry_time"].to_numpy()).all()
    assert (st["exit_time"].to_numpy() == bt_["exit_time"].to_numpy()).all()
    np.testing.assert_array_equal(st["side"].to_numpy(), bt_["side"].to_numpy())
    np.testing.assert_array_equal(st["qty"].to_numpy(), bt_["qty"].to_numpy())
    np.testing.assert_allclose(bt_["entry_price"], st["entry_price"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(bt_["exit_price"], st["exit_price"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(bt_["costs"], st["costs"], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(bt_["net_pnl"], st["net_pnl"], rtol=1e-12, atol=1e-6)
    assert st["exit_reason"].astype(str).tolist() == bt_["exit_reason"].tolist()
    np.testing.assert_allclose(b.equity.to_numpy(), s.equity.to_numpy(), rtol=1e-9)
    assert abs(b.equity.iloc[-1] / s.equity.iloc[-1] - 1) < 1e-6
    np.testing.assert_array_equal(b.positions.to_numpy(), s.positions.to_numpy())
    assert list(b.metrics) == list(s.metrics)
    for k, v in s.metrics.items():
        if isinstance(v, float):
            assert b.metrics[k] == pytest.approx(v, rel=1e-9, abs=1e-12, nan_ok=True), k
        else:  # the account keys: blown, when, ambiguous exits
            assert b.metrics[k] == v, k


# --------------------------------------------------------------------------- agreement on real bars
# The real-bar agreement cases (costs of each kind, stops and takes, fixed-fraction sizing with a time
# stop, daily limits) are the engine contract's: tests/engines/test_engine_contract.py runs them for
# every engine, backtrader included.


def test_probabilities_give_the_same_run_as_precomputed_sides(wdo3000, proba, sides):
    a = run_backtrader(wdo3000, proba)
    b = run_backtrader(wdo3000, sides)
    assert a.meta["from_probabilities"] and not b.meta["from_probabilities"]
    pd.testing.assert_series_equal(a.equity, b.equity)
    pd.testing.assert_frame_equal(a.trades, b.trades)


def test_commission_difference_is_the_commission_total_in_both_engines(wdo3000, sides):
    free_s, free_b = both(wdo3000, sides)
    cost_s, cost_b = both(wdo3000, sides, costs=Costs(commission_per_contract=1.5))
    for free, cost in ((free_s, cost_s), (free_b, cost_b)):
        total = float(cost.trades["costs"].sum())
        legs = 2 * cost.trades.loc[cost.trades["closed"], "qty"].sum() \
            + cost.trades.loc[~cost.trades["closed"], "qty"].sum()
        assert total == pytest.approx(1.5 * legs, abs=1e-9)
        assert free.equity.iloc[-1] - cost.equity.iloc[-1] == pytest.approx(total, abs=1e-6)
    assert float(cost_b.orders["commission"].sum()) == pytest.approx(float(cost_s.orders["commission"].sum()))


def test_fills_lie_within_the_bar_range(wdo3000, sides):
    b = run_backtrader(wdo3000, sides, costs=Costs(slippage_ticks=20.0),
                       stops=Stops(sl_atr=1.0, tp_atr=1.0))
    o = b.orders
    lo = wdo3000["low"].to_numpy()[o["bar"]]
    hi = wdo3000["high"].to_numpy()[o["bar"]]
    assert len(o) > 100 and ((o["price"] >= lo - 1e-9) & (o["price"] <= hi + 1e-9)).all()


# --------------------------------------------------------------------------- hand cases


def test_fills_at_next_open_by_hand():
    # long decided at bar 0 (close 99.5), filled at bar 1's open 100, not at bar 0's close;
    # flat decided at bar 2, filled at bar 3's open 103: 3 points x R$10 = 30, costs 2 x 1.50, net 27
    bars = make_bars([(99, 100, 98, 99.5, 10), (100, 101, 99, 100.5, 10), (101, 102, 100, 101.5, 10),
                      (103, 104, 102, 103.5, 10), (104, 105, 103, 104.5, 10)])
    s, b = both(bars, [1, 1, 0, 0, 0], costs=Costs(commission_per_contract=1.5))
    t = b.trades.iloc[0]
    assert (t["entry_idx"], t["exit_idx"], t["entry_price"], t["exit_price"]) == (1, 3, 100.0, 103.0)
    assert (t["gross_pnl"], t["commission"], t["pnl"]) == (30.0, 3.0, 27.0)
    assert t["entry_time"] == bars.index[1] and t["exit_time"] == bars.index[3]
    assert b.equity.iloc[-1] == 100_027.0 == s.equity.iloc[-1]


def test_percent_commission_includes_the_multiplier():
    # 1 WDO contract at 5000 points, 0.01%: 0.0001 x 5000 x R$10 = R$5.00 per side, not R$0.50
    ci = FuturesCommInfo(pct=0.0001, mult=10.0)
    assert ci.getcommission(1, 5000.0) == pytest.approx(5.0)
    assert ci.getcommission(-3, 5000.0) == pytest.approx(15.0)
    stock = bt.CommInfoBase(commission=0.0001, mult=10.0, commtype=bt.CommInfoBase.COMM_PERC,
                            percabs=True, stocklike=False, margin=1.0)
    assert stock.getcommission(1, 5000.0) == pytest.approx(0.5)  # backtrader's own: no multiplier
    s, b = both(flat(4), [1, 0, 0, 0], costs=Costs(commission_pct=0.0001))
    assert b.orders["commission"].tolist() == pytest.approx([5.0, 5.0])
    assert b.trades["costs"].iloc[0] == pytest.approx(10.0) == s.trades["costs"].iloc[0]
    assert b.equity.iloc[-1] == pytest.approx(99_990.0)


def test_slippage_in_ticks_is_adverse_and_capped_to_the_range():
    # 1 tick = 0.5 point against the order: buy at 5000.5, sell at 4999.5 -> -1 point = -R$10;
    # 10 ticks (5 points) would leave the 2-point range: capped at the high / low
    s, b = both(flat(4), [1, 0, 0, 0], costs=Costs(slippage_ticks=1.0))
    assert b.orders["price"].tolist() == [5000.5, 4999.5]
    assert b.equity.iloc[-1] == pytest.approx(99_990.0) == s.equity.iloc[-1]
    b = run_backtrader(flat(4), [1, 0, 0, 0], costs=Costs(slippage_ticks=10.0), calendar="B3", bar_minutes=1)
    assert b.orders["price"].tolist() == [5002.0, 4998.0]


@pytest.mark.parametrize("remainder", ["carry", "cancel"])
def test_participation_limit_by_hand(remainder):
    # 5 contracts wanted at bar 1's open; 50% of bar 1's volume 4 = 2 fill there.
    # carry: the other 3 fill at bar 2's open (volume 10 -> up to 5); cancel: they are dropped.
    bars = make_bars([(100, 102, 98, 100, 100), (100, 102, 98, 100, 4), (101, 103, 99, 101, 10),
                      (102, 104, 100, 102, 100), (103, 105, 101, 103, 100), (104, 106, 102, 104, 100)])
    b = run_backtrader(bars, [1, 1, 1, 1, 0, 0], sizing=Sizing(contracts=5),
                       participation=Participation(0.5, remainder), calendar="B3", bar_minutes=1)
    o = b.orders
    if remainder == "carry":
        assert o["bar"].tolist() == [1, 2, 5] and o["size"].tolist() == [2.0, 3.0, -5.0]
        t = b.trades.iloc[0]
        assert t["qty"] == 5 and t["entry_price"] == pytest.approx((2 * 100 + 3 * 101) / 5)
        assert t["pnl"] == pytest.approx(2 * 10 * 4 + 3 * 10 * 3)
        assert b.meta["participation"]["carried_contracts"] == 3
        assert b.positions.tolist() == [0, 2, 5, 5, 5, 0]
    else:
        assert o["bar"].tolist() == [1, 5] and o["size"].tolist() == [2.0, -2.0]
        assert b.meta["participation"]["cancelled_contracts"] == 3
        assert b.trades.iloc[0]["pnl"] == pytest.approx(2 * 10 * 4)
        assert b.positions.tolist() == [0, 2, 2, 2, 2, 0]


def test_square_root_impact_by_hand():
    # impact = k * sigma * price * sqrt(q / V) = 0.5 * 0.001 * 5000 * sqrt(4 / 100) = 0.5 point:
    # buy 4 at 5000.5, sell 4 at 4999.5 -> 4 x 10 x (-1) = -R$40
    sigma = np.full(4, 0.001)
    b = run_backtrader(flat(4), [1, 0, 0, 0], sizing=Sizing(contracts=4), impact=SquareRootImpact(0.5),
                       sigma=sigma, calendar="B3", bar_minutes=1)
    assert b.orders["price"].tolist() == pytest.approx([5000.5, 4999.5])
    assert b.equity.iloc[-1] == pytest.approx(99_960.0)
    # V = 1: 0.5 * 5 * sqrt(4) = 5 points, beyond the 2-point range: capped at the high / low
    b = run_backtrader(flat(4, volume=1.0), [1, 0, 0, 0], sizing=Sizing(contracts=4),
                       impact=SquareRootImpact(0.5), sigma=sigma, calendar="B3", bar_minutes=1)
    assert b.orders["price"].tolist() == [5002.0, 4998.0]
    assert SquareRootImpact(0.5).points(4, 5000.0, 0.001, 100.0) == pytest.approx(0.5)


def test_bad_participation_raises():
    with pytest.raises(ParameterError, match="fraction"):
        Participation(1.5)
    with pytest.raises(ParameterError, match="remainder"):
        Participation(0.1, "drop")


def test_session_backstop_closes_at_the_last_close_by_hand():
    # the 18:28 / 18:29 bars are missing: 18:27 is the session's last bar in the data, so a long
    # still open there is closed at its close 5001 less 1 tick = 5000.5 (inside 18:27's range, not
    # the next session's), booked on that bar; rearm keeps it flat until the side changes
    idx = pd.DatetimeIndex(["2025-02-03 18:25", "2025-02-03 18:26", "2025-02-03 18:27",
                            "2025-02-04 09:00", "2025-02-04 09:01"]).tz_localize(SP)
    bars = pd.DataFrame({"open": [5000.0, 5000.0, 5000.0, 5100.0, 5100.0],
                         "high": [5002.0, 5002.0, 5002.0, 5102.0, 5102.0],
                         "low": [4998.0, 4998.0, 4998.0, 5098.0, 5098.0],
                         "close": [5000.0, 5000.0, 5001.0, 5100.0, 5100.0],
                         "volume": 100.0}, index=idx).pipe(as_wdo)
    s, b = both(bars, [1, 1, 1, 1, 0], costs=Costs(commission_per_contract=1.5, slippage_ticks=1.0),
                stops=Stops(rearm=True))
    assert_same_run(s, b)
    t = b.trades.iloc[0]
    assert (t["entry_idx"], t["exit_idx"], t["exit_reason"]) == (1, 2, "session")
    assert (t["entry_price"], t["exit_price"]) == (5000.5, 5000.5)
    assert b.equity.tolist() == pytest.approx([100_000.0, 99_993.5, 99_997.0, 99_997.0, 99_997.0])
    assert b.positions.tolist() == [0, 1, 0, 0, 0]
