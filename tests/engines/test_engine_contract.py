"""The engine contract: every engine gives the same fills, trades and equity for the same run (issue 13, item 1).

:class:`EngineContract` holds the cases; each engine runs them through one fixture
(``engine``).  Adding an engine means adding one class with that fixture.  The cases are
hand-computed fills from ``../shared/PITFALLS.md`` (next-open fills, slippage clipped to the
bar, commission on both legs with the multiplier, reversals, the session backstop and its
re-arm, a position open at the end) and real-bar runs compared with the numba simulator by
:func:`engines.engine.compare` and metric by metric: :data:`REAL_BAR_CASES`, the agreement cases
that used to live in the backtrader tests alone, now run by every engine (an engine that cannot
execute a case must refuse it by name).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from engines.engine import (ENGINES, BacktraderEngine, Engine, Execution, NumbaEngine, Rules, VectorbtEngine,
                            compare, get_engine)
from engines.simulate import Costs, Sizing, Stops
from ml.data import continuous_contract, load_bars, sample_path
from ml.exceptions import ParameterError
from risk.limits import DailyLimits
from strategies import ProbabilityThresholdStrategy

COSTS = Costs(commission_per_contract=1.5, slippage_ticks=1)       # WDO: tick 0.5 point, R$10 per point
HAND = Execution(contract="WDO", costs=COSTS, calendar="B3", bar_minutes=1)


def _bars(rows, start="2025-02-03 10:00", index=None):
    idx = index if index is not None else pd.date_range(start, periods=len(rows), freq="1min",
                                                        tz="America/Sao_Paulo")
    return pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=idx)


FIVE = _bars([(99.0, 99.5, 98.5, 99.0),
              (100.0, 101.0, 99.5, 100.5),
              (101.0, 102.0, 100.5, 101.5),
              (103.0, 103.5, 102.0, 103.0),
              (104.0, 104.0, 103.0, 103.5)])


@pytest.fixture(scope="module")
def wdo():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return continuous_contract(load_bars(sample_path("wdo"))).iloc[:6000]


@pytest.fixture(scope="module")
def wdo_proba(wdo):
    c = wdo["close"]
    z = (c - c.rolling(30).mean()) / c.rolling(30).std()
    return 1 / (1 + np.exp(-z))


@pytest.fixture(scope="module")
def wdo_sides(wdo, wdo_proba):
    return ProbabilityThresholdStrategy(0.6, 0.4, min_holding=5).sides(wdo_proba, wdo)


#: Real-bar runs every engine must reproduce (the agreement cases that ``tests/engines/test_bt.py`` held
#: for backtrader alone): costs of each kind, stops and takes, fixed-fraction sizing with a time stop,
#: daily limits.  An engine that cannot execute a case must refuse it by name (``unsupported``).
REAL_BAR_CASES = {
    "no_costs": (Execution(), Rules()),
    "per_contract": (Execution(costs=Costs(commission_per_contract=1.5)), Rules()),
    "pct_and_slippage": (Execution(costs=Costs(commission_per_contract=1.5, commission_pct=0.0001,
                                               slippage_ticks=1.0)), Rules()),
    "stop_take": (Execution(costs=Costs(1.5, 0.0, 1.0)), Rules(stops=Stops(sl_atr=1.0, tp_atr=2.0))),
    "fraction_time_stop": (Execution(costs=Costs(1.5)),
                           Rules(sizing=Sizing("fixed_fraction", fraction=0.01), stops=Stops(sl_atr=2.0, max_bars=10))),
    "daily_limits": (Execution(costs=COSTS), Rules(limits=DailyLimits(max_daily_loss=300.0, max_trades_per_day=6))),
}


class EngineContract:
    """The cases every engine must pass; subclasses provide the ``engine`` fixture."""

    @pytest.mark.parametrize("case", list(REAL_BAR_CASES))
    def test_real_bars_agree_with_the_simulator_case_by_case(self, engine, wdo, wdo_sides, case):
        ex, rules = REAL_BAR_CASES[case]
        missing = engine.unsupported(ex, rules) if hasattr(engine, "unsupported") else []
        if missing:  # refused by name, before any work: never a run that silently drops the option
            with pytest.raises(ParameterError, match="cannot"):
                engine.run(wdo.iloc[:3000], wdo_sides.iloc[:3000], ex, rules)
            return
        bars, sides = wdo.iloc[:3000], wdo_sides.iloc[:3000]
        ref = NumbaEngine().run(bars, sides, ex, rules)
        got = engine.run(bars, sides, ex, rules)
        diff = compare(ref, got)
        assert diff["equal"], diff
        assert diff["n_trades"][0] > 20
        assert list(got.metrics) == list(ref.metrics)
        for k, v in ref.metrics.items():
            if isinstance(v, float):
                assert got.metrics[k] == pytest.approx(v, rel=1e-9, abs=1e-12, nan_ok=True), k
            else:
                assert got.metrics[k] == v, k
        reasons = ref.trades["exit_reason"].astype(str)
        if rules.stops is not None:  # the stops really fired
            assert (reasons != "signal").sum() > 10
        if rules.limits is not None:  # the limits really bound: at most 6 entries a session, fewer trades
            per_session = pd.to_datetime(ref.trades["entry_time"]).dt.date.value_counts()
            assert per_session.max() <= 6
            assert len(ref.trades) < len(NumbaEngine().run(bars, sides, ex).trades)

    def test_is_an_engine_in_the_registry(self, engine):
        assert isinstance(engine, Engine)
        assert type(get_engine(engine.name)) is type(engine)

    def test_next_open_fills_with_slippage_and_commission_on_both_legs(self, engine):
        """Long decided at bar 0, bought at bar 1's open 100 + 1 tick = 100.5; flat decided at bar 2,
        sold at bar 3's open 103 - 0.5 = 102.5: gross 2 points x R$10 = R$20, costs 2 x R$1.50, net R$17."""
        res = engine.run(FIVE, [1, 1, 0, 0, 0], HAND)
        assert len(res.trades) == 1
        t = res.trades.iloc[0]
        assert (t["entry_idx"], t["exit_idx"], t["side"], t["qty"]) == (1, 3, 1, 1.0)
        assert (t["entry_price"], t["exit_price"]) == (100.5, 102.5)
        assert t["costs"] == pytest.approx(3.0) and t["net_pnl"] == pytest.approx(17.0)
        assert t["exit_reason"] == "signal" and t["closed"]
        np.testing.assert_allclose(res.equity.to_numpy(), [100_000, 99_998.5, 100_008.5, 100_017, 100_017])
        np.testing.assert_allclose(res.positions.to_numpy(), [0, 1, 1, 0, 0])

    def test_fills_never_leave_the_bar(self, engine):
        """PITFALLS 7: a buy at an open that is the bar's high fills at the high (100, not 100.5), a sell
        at an open that is the bar's low at the low (98, not 97.5)."""
        bars = _bars([(99.0, 99.5, 98.5, 99.0), (100.0, 100.0, 99.0, 99.5), (98.0, 99.5, 98.0, 98.5),
                      (98.0, 98.0, 97.5, 97.5)])
        t = engine.run(bars, [1, 0, 0, 0], HAND).trades.iloc[0]
        assert (t["entry_price"], t["exit_price"]) == (100.0, 98.0)
        assert t["net_pnl"] == pytest.approx(-20.0 - 3.0)

    def test_percentage_commission_uses_the_multiplier(self, engine):
        """PITFALLS 9: 0.01% of the notional price x R$10 x contracts, on each leg."""
        ex = Execution(contract="WDO", costs=Costs(commission_pct=1e-4), calendar="B3", bar_minutes=1)
        t = engine.run(FIVE, [1, 1, 0, 0, 0], ex, Rules(sizing=Sizing(contracts=2))).trades.iloc[0]
        assert t["qty"] == 2.0 and (t["entry_price"], t["exit_price"]) == (100.0, 103.0)
        assert t["costs"] == pytest.approx(1e-4 * 10 * 2 * (100.0 + 103.0))
        assert t["gross_pnl"] == pytest.approx(3.0 * 10 * 2)

    def test_a_reversal_is_an_exit_and_an_entry_and_the_last_trade_stays_open(self, engine):
        res = engine.run(FIVE, [1, 1, -1, -1, 0], HAND)
        long, short = res.trades.iloc[0], res.trades.iloc[1]
        assert (long["side"], long["entry_price"], long["exit_price"], long["exit_idx"]) == (1, 100.5, 102.5, 3)
        assert (short["side"], short["entry_idx"], short["entry_price"]) == (-1, 3, 102.5)
        # bar 4's decision would fill after the data: the short is reported open, marked at the last close
        assert not short["closed"] and short["exit_reason"] == "end" and short["exit_price"] == 103.5
        assert short["costs"] == pytest.approx(1.5)
        assert res.equity.iloc[-1] == pytest.approx(100_000 + 17.0 - 1.5 - 10.0)

    def test_session_backstop_and_no_reentry_until_the_side_changes(self, engine):
        """PITFALLS 13: a long still held on the session's last bar (18:29, the B3 close is 18:30 in
        February) is closed at that bar's close, 101 - 0.5 = 100.5 (reason "session"); the next session
        does not take the same side again until the desired side has changed (re-arm)."""
        idx = pd.DatetimeIndex(list(pd.date_range("2025-02-03 18:26", periods=4, freq="1min"))
                               + list(pd.date_range("2025-02-04 09:00", periods=4, freq="1min"))
                               ).tz_localize("America/Sao_Paulo")
        bars = _bars([(100.0, 100.5, 99.5, 100.0)] * 3 + [(100.5, 101.5, 100.0, 101.0)]
                     + [(102.0, 102.5, 101.5, 102.0)] * 4, index=idx)
        res = engine.run(bars, [1, 1, 1, 1, 1, 0, 1, 1], HAND)
        first, second = res.trades.iloc[0], res.trades.iloc[1]
        assert (first["entry_idx"], first["exit_idx"], first["exit_reason"]) == (1, 3, "session")
        assert (first["entry_price"], first["exit_price"]) == (100.5, 100.5)
        assert second["entry_idx"] == 7 and not second["closed"]       # decided at 09:02, filled at 09:03
        assert res.positions.iloc[4:7].eq(0).all()

    def test_without_rearm_the_next_session_takes_the_same_side_again(self, engine):
        """``Stops(rearm=False)``: after the session backstop the same side is taken again at the
        next session's first decision (the vectorbt engine re-armed regardless before it called the
        shared decision step)."""
        idx = pd.DatetimeIndex(list(pd.date_range("2025-02-03 18:27", periods=3, freq="1min"))
                               + list(pd.date_range("2025-02-04 09:00", periods=3, freq="1min"))
                               ).tz_localize("America/Sao_Paulo")
        bars = _bars([(100.0, 100.5, 99.5, 100.0)] * 3 + [(102.0, 102.5, 101.5, 102.0)] * 3, index=idx)
        res = engine.run(bars, [1] * 6, HAND, Rules(stops=Stops(rearm=False)))
        assert [(int(t["entry_idx"]), int(t["exit_idx"]), t["exit_reason"]) for _, t in res.trades.iterrows()] \
            == [(1, 2, "session"), (3, 5, "end")]   # 18:29's decision fills at 09:00; open at the end
        assert res.positions.tolist() == [0.0, 1.0, 0.0, 1.0, 1.0, 1.0]

    def test_real_bars_give_the_simulators_trades_and_equity(self, engine, wdo, wdo_sides):
        ex = Execution(costs=COSTS)
        diff = compare(NumbaEngine().run(wdo, wdo_sides, ex), engine.run(wdo, wdo_sides, ex))
        assert diff["equal"], diff
        assert diff["n_trades"][0] > 100


class TestNumbaEngine(EngineContract):
    @pytest.fixture
    def engine(self):
        return NumbaEngine()


class TestVectorbtEngine(EngineContract):
    @pytest.fixture
    def engine(self):
        return VectorbtEngine()

    def test_portfolio_stats_are_the_projects_metrics(self, engine, wdo, wdo_sides):
        """The Portfolio is one row per bar: with the session calendar's year, ``pf.stats()`` gives the
        project's total return, Sharpe ratio, maximum drawdown and win rate (issue 13, item 5)."""
        res = engine.run(wdo, wdo_sides, Execution(costs=COSTS))
        assert res.meta["cash_buffer"] == 0.0
        pf = res.meta["portfolio"]
        assert len(pf.wrapper.index) == len(wdo)
        st = pf.stats(settings=res.meta["stats_settings"])
        m = res.metrics
        assert st["Total Return [%]"] == pytest.approx(100 * m["total_return"], rel=1e-9)
        assert st["Sharpe Ratio"] == pytest.approx(m["sharpe"], rel=1e-9)
        assert st["Max Drawdown [%]"] == pytest.approx(-100 * m["max_drawdown"], rel=1e-9)
        assert st["Win Rate [%]"] == pytest.approx(100 * m["win_rate"], rel=1e-9)
        closed = int(res.trades["closed"].sum())
        assert st["Total Trades"] == len(res.trades) and m["n_trades"] == closed   # vectorbt counts the open one

    def test_a_long_worth_more_than_the_cash_gets_a_buffer_and_the_same_run(self, engine, wdo, wdo_sides):
        ex = Execution(costs=COSTS, initial_equity=30_000)           # one WDO contract is about R$55,000
        res = engine.run(wdo, wdo_sides, ex)
        assert res.meta["cash_buffer"] > 0
        assert compare(NumbaEngine().run(wdo, wdo_sides, ex), res)["equal"]

    @pytest.mark.parametrize("rules, execution, needle", [
        (Rules(stops=Stops(sl_atr=2.0)), HAND, "stops"),
        (Rules(limits=DailyLimits(max_trades_per_day=3)), HAND, "daily limits"),
        (Rules(sizing=Sizing(method="fixed_fraction", fraction=0.01)), HAND, "sizing method 'fixed_fraction'"),
        (Rules(), Execution(contract="WDO", calendar="B3", bar_minutes=1, fill_on_close=True), "fill_on_close"),
    ])
    def test_what_it_cannot_execute_is_refused_by_name(self, engine, rules, execution, needle):
        with pytest.raises(ParameterError, match=f"vectorbt engine cannot execute {needle}.*engine='numba'"):
            engine.run(FIVE, [1, 1, 0, 0, 0], execution, rules)


def test_the_vectorbt_engine_refuses_a_blown_account():
    """A short of one WDO contract on R$10 of equity is under water at the first close: the simulator
    stops trading there, vectorbt has no such rule, so the engine says so instead of trading on."""
    ex = Execution(contract="WDO", costs=COSTS, calendar="B3", bar_minutes=1, initial_equity=10.0)
    assert NumbaEngine().run(FIVE, [-1, -1, 0, 0, 0], ex).metrics["account_blown"]
    with pytest.raises(ParameterError, match="account is blown at .*engine='numba'"):
        VectorbtEngine().run(FIVE, [-1, -1, 0, 0, 0], ex)


class TestBacktraderEngine(EngineContract):
    @pytest.fixture
    def engine(self):
        return BacktraderEngine()


def test_registry_and_did_you_mean():
    assert set(ENGINES) == {"numba", "vectorbt", "backtrader"}
    with pytest.raises(ParameterError, match="Did you mean 'vectorbt'"):
        get_engine("vectorbtt")


def test_compare_names_the_first_difference():
    a = NumbaEngine().run(FIVE, [1, 1, 0, 0, 0], HAND)
    b = NumbaEngine().run(FIVE, [1, 0, 0, 0, 0], HAND)
    diff = compare(a, b)
    assert not diff["equal"]
    assert {"trade": 0, "column": "exit_idx", "a": 3, "b": 2} in diff["trade_differences"]
    assert diff["first_equity_diff_at"] == FIVE.index[2]


def test_portfolio_of_a_combination_is_vectorbts_run_when_it_can_be(wdo, wdo_proba):
    """A combination without stops is vectorbt's own run: its pf.stats() Sharpe is the sweep row's
    (issue 13, item 5); one with a stop is the simulator's run rebuilt, and says so."""
    from engines.sweep import portfolio_of, sweep

    grid = {"long_threshold": [0.6, 0.75], "sl_atr": [0.0, 1.5]}
    swept = sweep(wdo, wdo_proba, grid, costs=COSTS)
    pf, kind, settings = portfolio_of(wdo, wdo_proba, (0.6, 0.0), names=swept.index.names, costs=COSTS)
    assert kind == "vectorbt engine" and len(pf.wrapper.index) == len(wdo)
    assert pf.stats(settings=settings)["Sharpe Ratio"] == pytest.approx(swept.loc[(0.6, 0.0), "sharpe"], rel=1e-9)
    pf, kind, settings = portfolio_of(wdo, wdo_proba, {"long_threshold": 0.6, "sl_atr": 1.5}, costs=COSTS)
    assert kind == "rebuilt from the simulator's fills" and settings is None
