"""B3's close moved with US daylight saving time (18:00 instead of 18:30 in 2021's US summer).

With fixed 18:30 hours the strategy's flat-before-close never fired on those days, positions
left through the last-bar backstop, ``rearm`` blocked the next morning's entry and
``run_backtrader_live`` held positions overnight.  Here a rule that is always long trades
three June 2021 sessions (09:00-18:00): every engine must be flat before 18:00 each day and
enter again each morning.
"""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from engines.bt import run_backtrader, run_backtrader_live
from engines.simulate import simulate
from ml.data import get_calendar, validate_bars
from strategies import ProbabilityThresholdStrategy

SP = "America/Sao_Paulo"
DAYS = ("2021-06-14", "2021-06-15", "2021-06-16")


@pytest.fixture(scope="module")
def summer():
    # the published hours, written out (not read from our calendar): 09:00-18:00 in June 2021
    days = [pd.date_range(f"{d} 09:00", f"{d} 18:00", freq="1min", inclusive="left", tz=SP) for d in DAYS]
    idx = days[0].append(days[1:])
    rng = np.random.default_rng(5)
    close = 5050 + np.cumsum(np.round(rng.standard_normal(len(idx)) * 2) * 0.5)
    open_ = np.r_[5050.0, close[:-1]]
    frame = pd.DataFrame({"timestamp": idx, "open": open_, "high": np.maximum(open_, close) + 0.5,
                          "low": np.minimum(open_, close) - 0.5, "close": close, "volume": 100.0,
                          "symbol": "WDON21"})
    return validate_bars(frame)


def test_the_calendar_closes_at_18_00_on_these_days(summer):
    sched = get_calendar("B3").schedule(DAYS[0], DAYS[-1])
    assert list(sched["close"].dt.tz_convert(SP).dt.strftime("%H:%M")) == ["18:00"] * 3
    assert summer.attrs["bars"]["calendar_check"]["disagreements"] == 0


def test_the_strategy_is_flat_before_the_summer_close_and_rearms_each_morning(summer):
    s = ProbabilityThresholdStrategy(min_holding=1, flat_bars_before_close=2)
    sides = s.sides(pd.Series(0.9, index=summer.index), summer)
    for day in DAYS:
        d = sides[sides.index.strftime("%Y-%m-%d") == day]
        assert d.iloc[0] == 1                                   # long again from the first bar
        # flat for the last 2 bars (17:58, 17:59): the decision at 17:57 fills at 17:58's open
        assert (d.iloc[-3:] == 0).all() and d.iloc[-4] == 1


@pytest.mark.parametrize("engine", ["simulate", "backtrader"])
def test_no_position_is_carried_overnight(summer, engine):
    s = ProbabilityThresholdStrategy(min_holding=1, flat_bars_before_close=2)
    sides = s.sides(pd.Series(0.9, index=summer.index), summer)
    run = simulate if engine == "simulate" else run_backtrader
    res = run(summer, sides)
    tr = res.trades
    assert len(tr) == 3                                          # one trade a session: each morning re-enters
    entry = pd.DatetimeIndex(tr["entry_time"]).tz_convert(SP)
    exit_ = pd.DatetimeIndex(tr["exit_time"]).tz_convert(SP)
    assert list(entry.strftime("%Y-%m-%d")) == list(DAYS) and list(exit_.strftime("%Y-%m-%d")) == list(DAYS)
    assert (exit_.strftime("%H:%M") <= "17:59").all()
    assert set(tr["exit_reason"]) == {"signal"}                  # the strategy's own exit, not the backstop
    assert (res.positions.groupby(res.positions.index.date).tail(1) == 0).all()


def test_the_live_runner_is_flat_at_each_summer_close(summer):
    feed = bt.feeds.PandasData(dataname=summer[["open", "high", "low", "close", "volume"]])
    res = run_backtrader_live(feed, lambda window: 0.9, calendar="B3", contract="WDO",
                              strategy=ProbabilityThresholdStrategy(min_holding=1, flat_bars_before_close=2))
    exit_ = pd.DatetimeIndex(res.trades["exit_time"]).tz_convert(SP)
    entry = pd.DatetimeIndex(res.trades["entry_time"]).tz_convert(SP)
    assert len(res.trades) == 3
    assert list(entry.strftime("%Y-%m-%d")) == list(exit_.strftime("%Y-%m-%d")) == list(DAYS)
    assert (exit_.strftime("%H:%M") <= "17:59").all()
    assert (res.positions.groupby(res.positions.index.date).tail(1) == 0).all()
