"""Backtrader keeps the exchange's wall-clock times, however the feed was built.

``bt.feeds.PandasData`` over a tz-aware frame (what ``load_bars`` returns) stores naive UTC
times; read as Sao Paulo time they are 3 hours late (18:20 becomes 21:20), which moves the
sessions and the close-out.  These tests fail on any such shift.
"""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from engines.bt import ProbabilityFollower, feed_times_are_utc, run_backtrader, run_backtrader_live
from engines.contexts import exec_context, rules_context
from engines.simulate import Costs, Sizing, Stops
from ml.exceptions import ParameterError
from risk import DailyLimits
from risk.sizing import get_contract
from ml.data import load_bars, sample_path
from strategies import ProbabilityThresholdStrategy

SP = "America/Sao_Paulo"


@pytest.fixture(scope="module")
def wdo():
    bars = load_bars(sample_path("wdo"), symbol="WDOF22")
    days = bars.index.normalize().unique()[:2]
    return bars[bars.index.normalize().isin(days)]


def by_the_clock(window):
    """Long in the morning (local time), flat otherwise: a rule that a time shift breaks."""
    t = window.index[-1].tz_convert(SP)
    return 0.9 if 9 <= t.hour < 12 else 0.5


FEEDS = {
    "tz-aware frame": lambda b: bt.feeds.PandasData(dataname=b[["open", "high", "low", "close", "volume"]]),
    "naive local frame": lambda b: bt.feeds.PandasData(
        dataname=b[["open", "high", "low", "close", "volume"]].tz_localize(None)),
    "naive frame, tzinput": lambda b: bt.feeds.PandasData(
        dataname=b[["open", "high", "low", "close", "volume"]].tz_localize(None), tzinput=SP, tz=SP),
    "UTC frame": lambda b: bt.feeds.PandasData(
        dataname=b[["open", "high", "low", "close", "volume"]].tz_convert("UTC")),
}


@pytest.mark.parametrize("name", list(FEEDS))
def test_live_runs_keep_wall_clock_times(wdo, name):
    res = run_backtrader_live(FEEDS[name](wdo), by_the_clock, calendar="B3", contract="WDO",
                              strategy=ProbabilityThresholdStrategy(min_holding=1))
    assert (res.equity.index.asi8 == wdo.index.asi8).all()
    assert str(res.equity.index.tz) == SP
    entries = pd.DatetimeIndex(res.trades["entry_time"]).tz_convert(SP)
    assert len(entries) >= 2 and (entries.hour >= 9).all() and (entries.hour < 13).all()
    # flat before the close, by the calendar, on each session's own clock
    assert (res.positions[res.positions.index.tz_convert(SP).strftime("%H:%M") >= "18:25"] == 0).all()


def test_every_feed_gives_the_same_run(wdo):
    runs = [run_backtrader_live(make(wdo), by_the_clock, calendar="B3", contract="WDO") for make in FEEDS.values()]
    for other in runs[1:]:
        pd.testing.assert_series_equal(other.equity, runs[0].equity)
        assert other.trades["entry_idx"].tolist() == runs[0].trades["entry_idx"].tolist()


def test_the_time_basis_of_each_feed(wdo):
    assert feed_times_are_utc(FEEDS["tz-aware frame"](wdo))
    assert not feed_times_are_utc(FEEDS["naive local frame"](wdo))
    assert feed_times_are_utc(FEEDS["naive frame, tzinput"](wdo))


def test_a_users_own_cerebro_keeps_wall_clock_times(wdo):
    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=True)
    cerebro.adddata(FEEDS["tz-aware frame"](wdo))
    with pytest.raises(ParameterError, match="needs ex=ExecContext and ru=RulesContext"):
        # no silent contract or costs: without the two contexts the strategy refuses to start
        cerebro.addstrategy(ProbabilityFollower, predict=by_the_clock, rule=ProbabilityThresholdStrategy(),
                            calendar="B3", bar_minutes=1.0)
        cerebro.run()
    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=True)
    cerebro.adddata(FEEDS["tz-aware frame"](wdo))
    cerebro.addstrategy(ProbabilityFollower, predict=by_the_clock, rule=ProbabilityThresholdStrategy(),
                        calendar="B3", bar_minutes=1.0, ex=exec_context(get_contract("WDO"), Costs(), 100_000.0),
                        ru=rules_context(Sizing(), Stops(), DailyLimits()))
    strat = cerebro.run()[0]
    index = strat._index(0)
    assert (index.asi8 == wdo.index.asi8).all()
    assert index.tz_convert(SP)[0].strftime("%H:%M") == "09:00"


def test_historical_runs_keep_wall_clock_times(wdo):
    sides = np.where(wdo.index.hour < 12, 1, 0)
    res = run_backtrader(wdo, sides, calendar="B3")
    assert (res.equity.index.asi8 == wdo.index.asi8).all()
    assert (pd.DatetimeIndex(res.trades["exit_time"]).tz_convert(SP).hour <= 12).all()
