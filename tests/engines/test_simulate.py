"""Tests of the single-run simulator (``engines.simulate`` and its kernel ``engines._sim_nb``).

Every rule of PITFALLS.md that the simulator applies has a tiny hand-computed
case here (the arithmetic is in the comments), the numba kernel is compared
with its plain-Python twin on random inputs (hypothesis), and causality is
proven by perturbing the bars after a time T.
"""

from __future__ import annotations

import doctest
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import engines.simulate as sim_module
from engines._sim_nb import (
    C_BLOWN,
    C_LIMITS,
    C_NAN_PRICE,
    EXIT_END,
    N_COUNTERS,
    SIZE_FIXED,
    SIZE_FIXED_FRACTION,
    SIZE_KELLY,
    SIZE_VOL_TARGET,
    TRADE_DTYPE,
    simulate_nb,
)
from engines.contexts import contexts_from_fields, sim_bars
from engines.simulate import Costs, SimResult, Sizing, Stops, average_true_range, simulate, simulate_py
from ml.exceptions import ParameterError
from risk import DailyLimits
from strategies import ProbabilityThresholdStrategy
from tests.conftest import as_wdo

SP = "America/Sao_Paulo"


def make_bars(ohlc, start="2025-02-03 10:00"):
    """Bars from (open, high, low, close) tuples, 1-minute, B3 time zone."""
    o, h, l, c = (np.array(x, dtype=float) for x in zip(*ohlc))
    idx = pd.date_range(start, periods=len(o), freq="1min", tz=SP)
    return as_wdo(pd.DataFrame({"open": o, "high": h, "low": l, "close": c}, index=idx))


def flat_bars(opens, spread=2.0, close_offset=1.0, start="2025-02-03 10:00"):
    return make_bars([(o, o + spread, o - spread, o + close_offset) for o in opens], start)


def run(bars, sides, **kw):
    return simulate(bars, sides, calendar="B3", bar_minutes=1, **kw)


def trade(res, k=0):
    return res.trades.iloc[k]


# --------------------------------------------------------------------------- fills (PITFALLS 1)


def test_decision_fills_at_next_open():
    # opens 100..103, closes open + 1; long decided at bars 0-1, flat at bar 2
    bars = flat_bars([100, 101, 102, 103])
    res = run(bars, [1, 1, 0, 0])
    t = trade(res)
    assert (t.signal_idx, t.entry_idx, t.exit_idx) == (0, 1, 3)
    assert (t.entry_price, t.exit_price) == (101.0, 103.0)  # bar 1's open, bar 3's open
    assert res.positions.tolist() == [0, 1, 1, 0]
    # R$10 a point: bar 1 close 102 (+1 pt), bar 2 close 103 (+1 pt), exit at 103 (+0)
    assert res.equity.tolist() == [100_000, 100_010, 100_020, 100_020]
    assert t.gross_pnl == 20.0 and t.entry_slot == "open" and t.exit_slot == "open"
    assert t.exit_reason == "signal"


def test_fill_on_close_is_an_explicit_option():
    bars = flat_bars([100, 101, 102, 103])
    res = run(bars, [1, 1, 0, 0], fill_on_close=True)
    t = trade(res)
    assert (t.signal_idx, t.entry_idx, t.exit_idx) == (0, 0, 2)
    assert (t.entry_price, t.exit_price) == (101.0, 103.0)  # bar 0's close, bar 2's close
    assert res.positions.tolist() == [1, 1, 0, 0]
    assert res.equity.tolist() == [100_000, 100_010, 100_020, 100_020]
    assert res.meta["fill_on_close"] is True


def test_reversal_is_two_legs_at_one_price():
    bars = flat_bars([100, 101, 102, 103, 104, 105])
    res = run(bars, [1, 1, -1, -1, 0, 0], costs=Costs(commission_per_contract=1.5, slippage_ticks=1))
    a, b = trade(res, 0), trade(res, 1)
    # sell 2 contracts at bar 3's open 103 - 0.5 (one tick): the long's exit and the short's entry
    assert a.exit_idx == b.entry_idx == 3 and a.exit_price == b.entry_price == 102.5
    assert (a.side, b.side) == (1, -1)
    assert a.costs == b.costs == 3.0
    o = res.orders
    assert o["size"].tolist() == [1.0, -1.0, -1.0, 1.0]
    assert o["leg"].tolist() == ["entry", "exit", "entry", "exit"]


# --------------------------------------------------------------------------- stops (PITFALLS 3, 4, 5, 6)

ATR5 = [5.0] * 4


def test_gap_through_long_stop_fills_at_the_open():
    # entry bar 1 at 100; stop = 100 - 2 * 5 = 90; bar 2 opens at 50 -> exit at 50, not 90
    bars = make_bars([(100, 101, 99, 100), (100, 101, 99, 100), (50, 55, 45, 52), (52, 53, 51, 52)])
    res = run(bars, [1, 1, 1, 1], stops=Stops(sl_atr=2), atr=ATR5)
    t = trade(res)
    assert (t.exit_idx, t.exit_price, t.exit_reason, t.exit_slot) == (2, 50.0, "stop", "intrabar")
    assert t.gross_pnl == (50 - 100) * 10


def test_gap_through_short_stop_fills_at_the_open():
    # short at 100; stop 110; bar 2 opens at 150 -> exit at 150
    bars = make_bars([(100, 101, 99, 100), (100, 101, 99, 100), (150, 155, 145, 152), (152, 153, 151, 152)])
    res = run(bars, [-1] * 4, stops=Stops(sl_atr=2), atr=ATR5)
    t = trade(res)
    assert (t.exit_idx, t.exit_price, t.exit_reason) == (2, 150.0, "stop")
    assert t.gross_pnl == -(150 - 100) * 10


def test_stop_is_assumed_before_take_in_one_bar():
    # stop 95, take 105; bar 2 spans 94..106 -> stop at 95
    bars = make_bars([(100, 101, 99, 100), (100, 101, 99, 100), (100, 106, 94, 100), (100, 101, 99, 100)])
    res = run(bars, [1] * 4, stops=Stops(sl_atr=1, tp_atr=1), atr=ATR5)
    t = trade(res)
    assert (t.exit_idx, t.exit_price, t.exit_reason) == (2, 95.0, "stop")


def test_stops_are_not_checked_on_the_signal_bar_but_are_on_the_entry_bar():
    # the signal bar 0 spans 50..150 (would hit any level): no position yet.
    # entry at bar 1's open 100 with stop 95; bar 1's low 94 hits it on the entry bar.
    bars = make_bars([(100, 150, 50, 100), (100, 101, 94, 100), (100, 101, 99, 100)])
    res = run(bars, [1, 1, 1], stops=Stops(sl_atr=1), atr=[5.0] * 3)
    t = trade(res)
    assert (t.signal_idx, t.entry_idx, t.exit_idx, t.exit_price) == (0, 1, 1, 95.0)
    assert len(res.trades) == 1  # rearm: the persistent long does not re-enter
    # with fill_on_close the entry is at bar 0's close: bar 0's range is before it
    res2 = run(bars, [1, 1, 1], stops=Stops(sl_atr=1), atr=[5.0] * 3, fill_on_close=True)
    t2 = trade(res2)
    assert (t2.entry_idx, t2.exit_idx, t2.exit_price) == (0, 1, 95.0)


def test_take_gets_no_slippage_and_a_gap_fills_at_the_open():
    costs = Costs(slippage_ticks=1)  # 0.5 point on WDO
    # entry 100 + 0.5 = 100.5; take from the raw open: 100 + 5 = 105; bar 2 trades through it
    bars = make_bars([(100, 101, 99, 100), (100, 101, 99, 100), (102, 106, 101, 103), (103, 104, 102, 103)])
    res = run(bars, [1] * 4, stops=Stops(tp_atr=1), atr=ATR5, costs=costs)
    t = trade(res)
    assert (t.entry_price, t.exit_price, t.exit_reason) == (100.5, 105.0, "take")
    # bar 2 opens at 107, above the take: filled at the open, in our favour
    bars2 = make_bars([(100, 101, 99, 100), (100, 101, 99, 100), (107, 108, 106, 107), (107, 108, 106, 107)])
    t2 = trade(run(bars2, [1] * 4, stops=Stops(tp_atr=1), atr=ATR5, costs=costs))
    assert (t2.exit_price, t2.exit_reason) == (107.0, "take")


def test_trailing_stop_ratchets_after_the_check():
    # trail 5 points. bar 1: entry 100, high 104 -> stop 99 after the check.
    # bar 2: low 100 > 99, no exit; its high 108 -> 103 (not checked on bar 2, though low 100 < 103).
    # bar 3: low 102.5 <= 103 -> exit at 103.
    bars = make_bars([(100, 101, 99, 100), (100, 104, 99.5, 103), (103, 108, 100, 104),
                      (104, 105, 102.5, 104), (104, 105, 103, 104)])
    res = run(bars, [1] * 5, stops=Stops(trail_atr=1), atr=[5.0] * 5)
    t = trade(res)
    assert (t.exit_idx, t.exit_price, t.exit_reason) == (3, 103.0, "stop")


def test_time_stop_exits_at_the_next_open():
    bars = flat_bars([100, 101, 102, 103, 104, 105, 106])
    res = run(bars, [1] * 7, stops=Stops(max_bars=2))
    t = trade(res)
    # entry bar 1 (held 1), bar 2 (held 2) -> exit at bar 3's open
    assert (t.entry_idx, t.exit_idx, t.exit_price, t.exit_reason) == (1, 3, 103.0, "time")
    assert len(res.trades) == 1  # rearm: no re-entry while the side stays long
    res2 = run(bars, [1] * 7, stops=Stops(max_bars=2, rearm=False))
    assert res2.trades["entry_idx"].tolist() == [1, 4]  # re-entered on the next decision (bar 3)


def test_after_a_stop_the_position_is_flat_and_rearm_waits_for_a_new_signal():
    # stop hit on bar 2; sides stay long on bars 2, 3, go flat on bar 4, long again on bar 5
    rows = [(100, 101, 99, 100), (100, 101, 99, 100), (100, 101, 90, 95)] + [(95, 96, 94, 95)] * 5
    bars = make_bars(rows)
    atr = [5.0] * 8
    res = run(bars, [1, 1, 1, 1, 0, 1, 1, 1], stops=Stops(sl_atr=1), atr=atr)
    assert res.positions.tolist()[:4] == [0, 1, 0, 0]
    assert res.trades["entry_idx"].tolist() == [1, 6]
    res2 = run(bars, [1, 1, 1, 1, 0, 1, 1, 1], stops=Stops(sl_atr=1, rearm=False), atr=atr)
    assert res2.trades["entry_idx"].tolist()[:2] == [1, 3]  # re-entered on the bar-2 decision


# --------------------------------------------------------------------------- fills inside the bar (PITFALLS 7)


def test_every_fill_is_clipped_to_the_bar_range():
    # 4 ticks = 2 points of slippage. Buy at bar 1: 100 + 2 = 102 > high 101 -> 101.
    # Sell at bar 2: 100 - 2 = 98 < low 99.8 -> 99.8.
    bars = make_bars([(100, 101, 99, 100), (100, 101, 99, 100), (100, 100.5, 99.8, 100), (100, 101, 99, 100)])
    res = run(bars, [1, 0, 0, 0], costs=Costs(slippage_ticks=4))
    t = trade(res)
    assert (t.entry_price, t.exit_price) == (101.0, 99.8)
    # a stop fill with slippage below the low is clipped too: stop 95, bar low 94.8, slip 2 -> 94.8
    bars2 = make_bars([(100, 101, 99, 100), (100, 101, 99, 100), (99, 100, 94.8, 96), (96, 97, 95, 96)])
    t2 = trade(run(bars2, [1] * 4, stops=Stops(sl_atr=1), atr=ATR5, costs=Costs(slippage_ticks=4)))
    assert (t2.exit_price, t2.exit_reason) == (94.8, "stop")


# --------------------------------------------------------------------------- costs and sizes (PITFALLS 9, 10)


def test_commission_on_both_legs_one_wdo_contract():
    # 1 WDO contract, R$10/point, R$1.50 per contract per side -> R$3.00 a round trip
    bars = flat_bars([100, 101, 102, 103])
    res = run(bars, [1, 1, 0, 0], contract="WDO", costs=Costs(commission_per_contract=1.5))
    t = trade(res)
    assert (t.gross_pnl, t.costs, t.net_pnl) == (20.0, 3.0, 17.0)
    # equity: -1.50 at entry, +10 +10 marked, -1.50 at exit
    assert res.equity.tolist() == [100_000, 100_008.5, 100_018.5, 100_017]
    assert res.orders["commission"].tolist() == [1.5, 1.5]


def test_commission_pct_is_on_notional_with_the_multiplier():
    # 2 contracts, 0.01%: entry 5000 -> 0.0001 * 5000 * 10 * 2 = R$10.00; exit 5010 -> R$10.02
    bars = make_bars([(5000, 5005, 4995, 5000), (5000, 5005, 4995, 5000),
                      (5005, 5010, 5000, 5005), (5010, 5015, 5005, 5010)])
    res = run(bars, [1, 1, 0, 0], sizing=Sizing(contracts=2), costs=Costs(commission_pct=0.0001))
    t = trade(res)
    assert t.qty == 2
    assert t.costs == pytest.approx(20.02, abs=1e-9)
    assert t.gross_pnl == 10 * 10 * 2
    assert res.equity.iloc[-1] == pytest.approx(100_000 + 200 - 20.02, abs=1e-9)


def test_sizes_are_whole_contracts():
    bars = flat_bars([5000, 5000, 5000, 5000])
    # 2.7 contracts asked -> 2 (truncation like backtrader's int())
    assert trade(run(bars, [1, 0, 0, 0], sizing=Sizing(contracts=2.7))).qty == 2
    # fixed fraction: 1% of 100,000 over a 1-ATR stop of 37.037 points at R$10 -> 2.7 -> 2
    res = run(bars, [1, 0, 0, 0], sizing=Sizing("fixed_fraction", fraction=0.01),
              stops=Stops(sl_atr=1.0), atr=[1000 / 27] * 4)
    assert trade(res).qty == 2
    # notional fraction without a stop: 0.5 * 100,000 / (5001 * 10) = 0.9998 -> 0 contracts: no trade
    res2 = run(bars, [1, 0, 0, 0], sizing=Sizing("fixed_fraction", fraction=0.5))
    assert len(res2.trades) == 0 and res2.meta["skipped_zero_size"] == 1
    # volatility target: 0.001 * 100,000 / (0.001 * 5001 * 10) = 1.9996 -> 1
    res3 = run(bars, [1, 0, 0, 0], sizing=Sizing("volatility_target", target_vol=0.001), sigma=[0.001] * 4)
    assert trade(res3).qty == 1
    assert res.orders["size"].tolist() == [2.0, -2.0]


def test_fraction_is_never_read_as_a_percentage():
    with pytest.raises(ParameterError, match="0.02 means 2%"):
        run(flat_bars([100, 101]), [0, 0], sizing=Sizing("fixed_fraction", fraction=2))
    with pytest.raises(ParameterError, match="fraction of notional"):
        run(flat_bars([100, 101]), [0, 0], costs=Costs(commission_pct=0.5))


# --------------------------------------------------------------------------- sessions (PITFALLS 13)


def _two_sessions():
    day1 = flat_bars([100, 101, 102, 103, 104], start="2025-02-03 18:25")
    day2 = flat_bars([110, 111, 112], start="2025-02-04 09:00")
    return pd.concat([day1, day2])


def test_strategy_is_flat_before_the_session_close():
    bars = _two_sessions()
    sides = ProbabilityThresholdStrategy().sides([0.9] * 8, bars, calendar="B3")
    res = run(bars, sides)
    t = trade(res)
    # long from the 18:26 open; the 18:28 decision is flat -> exit at the 18:29 open, inside the session
    assert bars.index[t.entry_idx].strftime("%H:%M") == "18:26"
    assert bars.index[t.exit_idx].strftime("%H:%M") == "18:29" and t.exit_slot == "open"
    assert res.positions.iloc[4] == 0  # flat at the session's close
    sess = np.array([0] * 5 + [1] * 3)
    for _, row in res.trades.iterrows():
        assert sess[row.entry_idx] == sess[row.exit_idx]


def test_session_backstop_closes_at_the_last_close():
    bars = _two_sessions()
    res = run(bars, [1] * 8)  # sides that ignore the close
    t = trade(res)
    # 18:29 is the session's last bar: closed at its close (105), reason "session"
    assert (t.exit_idx, t.exit_price, t.exit_reason, t.exit_slot) == (4, 105.0, "session", "close")
    assert res.positions.iloc[4] == 0
    res2 = run(bars, [1] * 8, stops=Stops(rearm=False))
    assert res2.trades["entry_idx"].tolist() == [1, 5]  # re-entered at the next session's open
    res3 = run(bars, [1] * 8, fill_on_close=True)
    t3 = trade(res3)
    assert (t3.exit_idx, t3.exit_price, t3.exit_reason) == (4, 105.0, "session")


def test_open_position_at_the_end_of_the_data():
    bars = flat_bars([100, 101, 102, 103])
    res = run(bars, [0, 1, 1, 1], costs=Costs(commission_per_contract=1.5))
    t = trade(res)
    # entered at bar 2's open 102, marked at the last close 104, only the entry leg paid
    assert (t.exit_reason, bool(t.closed), t.exit_price) == ("end", False, 104.0)
    assert (t.gross_pnl, t.costs, t.net_pnl) == (20.0, 1.5, 18.5)
    assert res.equity.iloc[-1] == 100_018.5
    assert len(res.orders) == 1
    assert res.metrics["n_trades"] == 0  # trade metrics count closed trades


# --------------------------------------------------------------------------- daily limits


def test_daily_loss_limit_flattens_and_halts_the_session():
    # long from bar 1's open 100; bar 2 closes at 89: loss 110 >= 100 -> halted at that close,
    # flattened at bar 3's open 88; no entry for the rest of the session; the next session trades.
    day1 = make_bars([(100, 101, 99, 100), (100, 101, 99, 99.5), (99, 99, 88, 89), (88, 89, 87, 88),
                      (88, 90, 87, 90), (90, 91, 89, 90)], start="2025-02-03 10:00")
    day2 = flat_bars([90, 91, 92], start="2025-02-04 10:00")
    bars = pd.concat([day1, day2])
    res = run(bars, [1] * 9, limits=DailyLimits(max_daily_loss=100.0), stops=Stops(rearm=False))
    a = trade(res)
    assert (a.exit_idx, a.exit_price, a.exit_reason) == (3, 88.0, "limit")
    assert res.trades["entry_idx"].tolist() == [1, 7]
    assert (res.positions.iloc[3:7] == 0).all()


def test_trades_per_day_limit():
    bars = flat_bars([100, 101, 102, 103, 104, 105, 106])
    res = run(bars, [1, 0, 1, 0, 1, 0, 0], limits=DailyLimits(max_trades_per_day=1))
    assert res.trades["entry_idx"].tolist() == [1]
    assert res.meta["refused_by_limits"] == 2


# --------------------------------------------------------------------------- NaN (PITFALLS 19)


def test_nan_probability_never_trades():
    bars = flat_bars([100, 101, 102, 103, 104])
    sides = ProbabilityThresholdStrategy().sides([np.nan] * 5, bars, calendar="B3")
    res = run(bars, sides)
    assert len(res.trades) == 0 and (res.positions == 0).all()
    assert (res.equity == 100_000).all()


def _kernel_args(o, h, l, c, sides, session=None, **kw):
    """The kernel's arguments ``(bars, sides, ex, ru)``: every field named, defaults overridden by ``kw``."""
    n = len(o)
    args = dict(size_mode=SIZE_FIXED, size_value=1.0, payoff_ratio=math.nan, size_cap=1.0, lot_size=1.0, min_qty=1.0,
                allow_fractional=False, sl_mult=0.0, tp_mult=0.0, trail_mult=0.0,
                max_bars=0, rearm=True, max_loss=0.0, max_loss_frac=0.0, max_trades=0,
                max_position=math.inf, multiplier=10.0, commission_per_contract=0.0, commission_pct=0.0,
                slippage_ticks=0.0, tick_size=0.5, initial_equity=100_000.0, fill_on_close=False, margin=0.0)
    atr, sigma, proba = kw.pop("atr", None), kw.pop("sigma", None), kw.pop("proba", None)
    args.update(kw)
    session = np.zeros(n, dtype=np.int64) if session is None else session
    bars = sim_bars(o, h, l, c, session, atr, sigma, proba)
    return (bars, np.asarray(sides, np.int8)) + contexts_from_fields(args)


def test_order_on_a_nan_price_is_rejected_and_counted():
    o = [100, np.nan, 102, 103, 104]
    args = _kernel_args(o, [x + 1 for x in o], [x - 1 for x in o], [100, 101, 102, 103, 104], [1, 1, 1, 0, 0])
    for kernel in (simulate_nb, simulate_py):
        pos, eq, trades, counters = kernel(*args)
        assert counters[C_NAN_PRICE] == 1
        assert trades["entry_idx"].tolist() == [2]  # bar 1's NaN open rejected; bar 1's decision fills at bar 2
        assert pos.tolist() == [0, 0, 1, 1, 0]


def test_public_function_refuses_nan_prices_and_bad_sides():
    bars = flat_bars([100, 101, 102])
    bad = bars.copy()
    bad.iloc[1, bad.columns.get_loc("close")] = np.nan
    with pytest.raises(ParameterError, match=r"`bars\['close'\]` is nan at row 1"):
        run(bad, [0, 0, 0])
    with pytest.raises(ParameterError, match="`sides` is NaN at position 2"):
        run(bars, [0, 1, np.nan])
    with pytest.raises(ParameterError, match=r"\+1 \(long\), 0 \(flat\) or -1 \(short\), got 2.0"):
        run(bars, [0, 2, 0])
    with pytest.raises(ParameterError, match="one value per bar"):
        run(bars, [0, 1])
    with pytest.raises(ParameterError, match="`sigma`"):
        run(bars, [0, 0, 0], sizing=Sizing("volatility_target", target_vol=0.01))
    with pytest.raises(TypeError, match="`costs` must be a Costs"):
        run(bars, [0, 0, 0], costs={"commission_per_contract": 1.5})
    with pytest.raises(ParameterError, match="Did you mean 'fixed_fraction'"):
        run(bars, [0, 0, 0], sizing=Sizing("fixed_fractoin"))


# --------------------------------------------------------------------------- metrics, frames


def test_result_frames_and_metrics(wdo_one_contract):
    bars = wdo_one_contract.iloc[:1200]
    p = _pseudo_probability(bars)
    sides = ProbabilityThresholdStrategy(0.7, 0.3, min_holding=5).sides(p, bars)
    res = simulate(bars, sides, costs=Costs(1.5, 0.0, 1))
    assert isinstance(res, SimResult)
    # B3 1-minute bars, from the 2021 calendar: 247 sessions, 163 of them in US daylight saving
    # time (09:00-18:00, 540 bars), 84 at 09:00-18:30 (570), Ash Wednesday opening at 13:00 (-240)
    assert res.meta["periods_per_year"] == 163 * 540 + 84 * 570 - 240 == 135_660
    assert list(res.metrics)[:3] == ["sharpe", "sortino", "calmar"]
    closed = res.trades[res.trades["closed"]]
    assert res.metrics["n_trades"] == len(closed)
    assert res.metrics["win_rate"] == pytest.approx((closed["net_pnl"] > 0).mean())
    # equity = initial + sum of net PnL of closed trades + open trade's PnL
    assert res.equity.iloc[-1] == pytest.approx(100_000 + res.trades["net_pnl"].sum(), abs=1e-6)
    # returns compound back into the equity
    assert 100_000 * np.prod(1 + res.returns.to_numpy()) == pytest.approx(res.equity.iloc[-1], rel=1e-12)
    assert (res.trades["entry_time"] <= res.trades["exit_time"]).all()
    assert (res.trades["signal_idx"] < res.trades["entry_idx"]).all()


def test_average_true_range_is_causal():
    bars = flat_bars([100, 104, 101, 103])
    atr = average_true_range(bars, 2)
    # TR: 4 (h-l), max(4, |106-101|, |102-101|) = 5, max(4, |103-105|, |99-105|) = 6, max(4, 4, |101-102|) = 4
    assert np.isnan(atr.iloc[0]) and atr.iloc[1:].tolist() == [4.5, 5.5, 5.0]


def test_doctests():
    assert doctest.testmod(sim_module).failed == 0


# --------------------------------------------------------------------------- causality (PITFALLS 2)


def _pseudo_probability(bars, window=30):
    """A deterministic, causal pseudo-probability: rolling z-score of returns squashed to (0, 1)."""
    r = np.log(bars["close"]).diff()
    z = r.rolling(window).sum() / (r.rolling(4 * window).std() * math.sqrt(window))
    return 1.0 / (1.0 + np.exp(-z))


def test_perturbing_bars_after_t_changes_nothing_before(wdo_one_contract):
    bars = wdo_one_contract.iloc[:1500].copy()
    t = 900
    kw = dict(costs=Costs(1.5, 0.0001, 1), stops=Stops(sl_atr=2, tp_atr=3, trail_atr=2.5, max_bars=40),
              limits=DailyLimits(max_daily_loss=500.0), sizing=Sizing("fixed_fraction", fraction=0.005))
    strat = ProbabilityThresholdStrategy(0.65, 0.35, min_holding=3)
    a = simulate(bars, strat.sides(_pseudo_probability(bars), bars), **kw)
    rng = np.random.default_rng(1)
    pert = bars.copy()
    k = len(bars) - t - 1
    shock = rng.normal(0, 3, k)
    for col in ("open", "high", "low", "close"):
        pert.iloc[t + 1:, pert.columns.get_loc(col)] += shock
    pert.iloc[t + 1:, pert.columns.get_loc("high")] += 2.0
    pert.iloc[t + 1:, pert.columns.get_loc("low")] -= 2.0
    b = simulate(pert, strat.sides(_pseudo_probability(pert), pert), **kw)
    assert len(a.trades) > 5
    pd.testing.assert_series_equal(a.positions.iloc[: t + 1], b.positions.iloc[: t + 1])
    pd.testing.assert_series_equal(a.equity.iloc[: t + 1], b.equity.iloc[: t + 1])
    assert not a.equity.iloc[t + 1:].equals(b.equity.iloc[t + 1:])


# --------------------------------------------------------------------------- kernel vs twin (hypothesis)


@st.composite
def _runs(draw):
    n = draw(st.integers(2, 50))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    c = 100 + np.cumsum(rng.normal(0, 1, n)).round(1)
    o = np.concatenate([[100.0], c[:-1]]) + rng.choice([0.0, 0.0, 3.0, -3.0], n)  # some gaps
    h = np.maximum(o, c) + rng.exponential(1, n).round(1)
    lo = np.minimum(o, c) - rng.exponential(1, n).round(1)
    sides = rng.integers(-1, 2, n).astype(np.int8)
    session = np.cumsum(rng.random(n) < draw(st.sampled_from([0.0, 0.1, 0.3]))).astype(np.int64)
    atr = rng.uniform(0.5, 3, n)
    atr[rng.random(n) < 0.1] = np.nan
    size_mode = draw(st.sampled_from([SIZE_FIXED, SIZE_FIXED_FRACTION, SIZE_VOL_TARGET, SIZE_KELLY]))
    size_value = {SIZE_FIXED: draw(st.sampled_from([1.0, 2.0, 3.7])),
                  SIZE_FIXED_FRACTION: draw(st.sampled_from([0.001, 0.01, 0.2])),
                  SIZE_VOL_TARGET: 0.002, SIZE_KELLY: draw(st.sampled_from([0.5, 1.0]))}[size_mode]
    proba = rng.uniform(0.0, 1.0, n)
    proba[rng.uniform(size=n) < 0.1] = np.nan
    kw = dict(
        size_mode=size_mode, size_value=size_value, sigma=rng.uniform(0.0005, 0.002, n), proba=proba,
        payoff_ratio=draw(st.sampled_from([0.8, 1.0, 2.0])), size_cap=draw(st.sampled_from([0.05, 0.25])),
        sl_mult=draw(st.sampled_from([0.0, 0.5, 1.5])), tp_mult=draw(st.sampled_from([0.0, 1.0, 2.0])),
        trail_mult=draw(st.sampled_from([0.0, 1.0])), max_bars=draw(st.integers(0, 4)),
        rearm=draw(st.booleans()), max_loss=draw(st.sampled_from([0.0, 30.0, 200.0])),
        max_loss_frac=draw(st.sampled_from([0.0, 0.001])), max_trades=draw(st.integers(0, 3)),
        max_position=draw(st.sampled_from([math.inf, 2.0])),
        commission_per_contract=draw(st.sampled_from([0.0, 1.5])),
        commission_pct=draw(st.sampled_from([0.0, 0.0002])),
        slippage_ticks=draw(st.sampled_from([0.0, 1.0, 3.0])), fill_on_close=draw(st.booleans()),
        atr=atr, initial_equity=draw(st.sampled_from([100_000.0, 100_000.0, 250.0])),  # small: blown
        margin=draw(st.sampled_from([0.0, 0.0, 120.0])))
    return _kernel_args(o, h, lo, c, sides, session, **kw)


@settings(max_examples=120, deadline=None)
@given(_runs())
def test_kernel_equals_twin_and_invariants_hold(args):
    pos, eq, trades, counters = simulate_nb(*args)
    pos2, eq2, trades2, counters2 = simulate_py(*args)
    np.testing.assert_array_equal(pos, pos2)
    np.testing.assert_array_equal(eq, eq2)
    np.testing.assert_array_equal(counters, counters2)
    assert trades.dtype == TRADE_DTYPE == trades2.dtype and len(trades) == len(trades2)
    for name in TRADE_DTYPE.names:
        np.testing.assert_array_equal(trades[name], trades2[name])
    assert counters.shape == (N_COUNTERS,)

    bars, sides, ex, ru = args
    h, lo, session = bars.high, bars.low, bars.session
    fill_on_close, initial, margin = ex.fill_on_close, ex.initial_equity, ex.margin
    for t in trades:
        # PITFALLS 7: fills inside the bar; 3: entry <= exit, never a stop on the signal bar
        assert lo[t["entry_idx"]] <= t["entry_price"] <= h[t["entry_idx"]]
        assert lo[t["exit_idx"]] <= t["exit_price"] <= h[t["exit_idx"]]
        assert t["entry_idx"] <= t["exit_idx"]
        assert t["entry_idx"] == t["signal_idx"] + (0 if fill_on_close else 1)
        assert t["qty"] == int(t["qty"]) and t["qty"] >= 1  # whole contracts
        assert t["qty"] <= ru.max_position  # position cap
        assert math.isclose(t["net_pnl"], t["gross_pnl"] - t["costs"], rel_tol=0, abs_tol=1e-9)
        if t["exit_reason"] != EXIT_END:  # PITFALLS 13: no trade spans a session close
            assert session[t["entry_idx"]] == session[t["exit_idx"]]
    last = np.flatnonzero(np.diff(session) != 0)
    assert np.all(pos[last] == 0)
    # equity = initial + realised and unrealised net PnL
    assert math.isclose(eq[-1], initial + trades["net_pnl"].sum(), rel_tol=0, abs_tol=1e-6)
    # a blown account opens nothing after the bar it was blown at, and holds nothing after the next
    blown = counters[C_BLOWN] - 1
    if blown >= 0:
        held = max(abs(pos[blown]), abs(pos[blown - 1]) if blown else 0.0, 1.0)  # before or after its fills
        assert eq[blown] <= 0 or (margin > 0 and eq[blown] < margin * held)
        # (with fill_on_close an entry at a close can itself blow the account at that bar)
        assert (trades["signal_idx"] <= blown).all()
        if fill_on_close:
            assert (trades["signal_idx"][trades["signal_idx"] == blown] == trades["entry_idx"][
                trades["signal_idx"] == blown]).all()
        assert np.all(pos[blown + 1:] == 0)
    else:
        assert np.all(eq > 0) or margin > 0
    if ru.max_trades > 0:  # entries per session (read by name: it read max_loss by position before)
        for s in np.unique(session):
            assert np.sum(session[trades["entry_idx"]] == s) <= ru.max_trades
    assert counters[C_LIMITS] >= 0
