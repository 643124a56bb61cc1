"""Account realism, ambiguous bars and the contract of a run, by hand, in every engine.

- A blown account (equity <= 0, or below the margin of what it holds) stops trading: the
  position is closed at the next open (reason ``"blown"``), nothing is opened again, and the
  metrics say so -- in the simulator, backtrader and the sweep alike.
- A stop exit on a bar that also held the take is flagged ``ambiguous`` (the stop is assumed
  first, PITFALLS 6), counted in the metrics and the sweep.
- No engine has a default contract: it comes from the bars, and a preset that contradicts the
  bars' symbol is an error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engines.bt import run_backtrader
from engines.simulate import Costs, Sizing, Stops, simulate
from engines.sweep import sweep
from ml.data import load_bars, sample_path
from ml.exceptions import ParameterError, UnknownInstrumentError
from risk import ContractSpec
from tests.conftest import as_wdo

SP = "America/Sao_Paulo"


def make_bars(ohlc, start="2025-02-03 10:00"):
    o, h, lo, c = (np.array(x, dtype=float) for x in zip(*ohlc))
    idx = pd.date_range(start, periods=len(o), freq="1min", tz=SP)
    return as_wdo(pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": 100.0}, index=idx))


def both(bars, sides, **kw):
    kw.setdefault("calendar", "B3")
    kw.setdefault("bar_minutes", 1)
    return simulate(bars, sides, **kw), run_backtrader(bars, sides, **kw)


# one WDO contract (R$10 a point) bought at 5000 with R$1,000: the price falls 110 points
FALL = [(5000, 5001, 4999, 5000), (5000, 5001, 4949, 4950), (4950, 4951, 4889, 4890),
        (4880, 4881, 4879, 4880), (4880, 4900, 4879, 4900), (4900, 4950, 4899, 4950)]


def test_equity_at_zero_blows_the_account_in_both_engines():
    bars = make_bars(FALL)
    s, b = both(bars, [1] * 6, initial_equity=1_000.0)
    for res in (s, b):
        # bar 1 close: 1000 - 50 x 10 = 500; bar 2 close: 1000 - 110 x 10 = -100 -> blown;
        # closed at bar 3's open 4880: 1000 - 120 x 10 = -200; never re-entered though still long
        assert res.equity.round(6).tolist() == [1000.0, 500.0, -100.0, -200.0, -200.0, -200.0]
        assert len(res.trades) == 1
        t = res.trades.iloc[0]
        assert (int(t["entry_idx"]), int(t["exit_idx"]), str(t["exit_reason"])) == (1, 3, "blown")
        assert res.metrics["account_blown"] is True
        assert res.metrics["blown_at"] == str(bars.index[2])
        assert res.meta["account"]["blown_bar"] == 2
        assert res.positions.tolist() == [0.0, 1.0, 1.0, 0.0, 0.0, 0.0]
        # equity 500 -> -100 is a return of -120%, then -200 / -100 - 1 = +100%: ratios of such
        # returns mean nothing, so they are NaN; what the account did stays
        for k in ("sharpe", "sortino", "calmar", "recovery_factor"):
            assert np.isnan(res.metrics[k]), k
        assert res.metrics["total_return"] == pytest.approx(-1.2)
        assert res.metrics["n_trades"] == 1 and res.metrics["win_rate"] == 0.0


def test_an_entry_at_the_close_that_sinks_the_equity_blows_the_account_at_that_bar():
    """fill_on_close: the entry's slippage, marked at its own close, takes the equity below zero.

    Found by the kernel/twin property test once its invariants read the kernel's fields by name:
    the account rule ran before the close fill only, so the equity stayed negative at that close,
    unflagged, and the account traded on."""
    bars = make_bars([(5000, 5010, 4990, 5000)] * 4)
    # 30 contracts bought at the close 5000 + 4 ticks (2 points): -2 x 10 x 30 = -600 at once,
    # plus R$5 x 30 = R$150 of commission: 500 - 750 = -250 at bar 0's close
    s, b = both(bars, [1, 1, 1, 1], initial_equity=500.0, sizing=Sizing(contracts=30), fill_on_close=True,
                costs=Costs(commission_per_contract=5.0, slippage_ticks=4))
    for res in (s, b):
        assert res.equity.iloc[0] == pytest.approx(-250.0)
        assert res.metrics["account_blown"] is True and res.meta["account"]["blown_bar"] == 0
        assert len(res.trades) == 1
        t = res.trades.iloc[0]
        # flat at the next decision (bar 1's close, 5000 - 2 of slippage): never re-entered
        assert (int(t["entry_idx"]), int(t["exit_idx"]), str(t["exit_reason"])) == (0, 1, "blown")
        assert float(t["exit_price"]) == 4998.0
        assert res.positions.tolist() == [30.0, 0.0, 0.0, 0.0]


def test_a_margin_blows_the_account_earlier_and_refuses_entries_it_cannot_cover():
    bars = make_bars(FALL)
    spec = ContractSpec(multiplier=10.0, tick_size=0.5, margin=600.0, name="WDO", currency="BRL")
    s, b = both(bars, [1] * 6, initial_equity=1_000.0, contract=spec)
    for res in (s, b):
        # bar 1 close: equity 500 < 600 margin for 1 contract -> blown, closed at bar 2's open 4950
        assert res.metrics["account_blown"] and res.meta["account"]["blown_bar"] == 1
        t = res.trades.iloc[0]
        assert (int(t["exit_idx"]), float(t["exit_price"]), str(t["exit_reason"])) == (2, 4950.0, "blown")
        assert "600 BRL margin" in res.meta["account"]["rule"]
    # two contracts need R$1,200 of margin: the entry is refused, nothing trades, not blown
    s, b = both(bars, [1] * 6, initial_equity=1_000.0, contract=spec, sizing=Sizing(contracts=2))
    for res in (s, b):
        assert len(res.trades) == 0 and res.meta["refused_by_margin"] >= 1
        assert not res.metrics["account_blown"]


def test_the_sweep_marks_blown_combinations():
    bars = make_bars(FALL)
    proba = pd.Series([0.9] * 6, index=bars.index)
    grid = sweep(bars, proba, {"long_threshold": [0.6, 0.95]}, initial_equity=1_000.0, calendar="B3",
                 bar_minutes=1)
    assert grid["account_blown"].tolist() == [True, False]
    assert grid["blown_bar"].tolist() == [2, -1]
    assert np.isnan(grid["sharpe"].iloc[0]) and np.isnan(grid["calmar"].iloc[0])   # never ranked first
    assert grid["total_return"].iloc[0] == pytest.approx(-1.2)
    s = simulate(bars, [1] * 6, initial_equity=1_000.0, calendar="B3", bar_minutes=1)
    assert grid["final_equity"].iloc[0] == pytest.approx(s.equity.iloc[-1])


def test_a_bar_holding_both_levels_is_flagged_ambiguous():
    # long at 100 with stop 98 and take 103 (ATR 1: sl 2, tp 3); bar 2 spans 97..104 from an
    # open of 100: both levels inside, the stop is assumed first (98) and the trade is flagged.
    # bar 5 opens at 96, through the stop: a gap, not ambiguous.
    rows = [(100, 101, 99, 100), (100, 101, 99.5, 100), (100, 104, 97, 101), (100, 101, 99, 100),
            (100, 101, 99, 100), (96, 104, 95, 97), (97, 98, 96, 97)]
    bars = make_bars(rows)
    sides = [1, 0, 0, 1, 0, 0, 0]
    kw = dict(stops=Stops(sl_atr=2.0, tp_atr=3.0, rearm=False), atr=[1.0] * 7)
    s, b = both(bars, [1, 1, 1, 1, 1, 1, 0], **kw)
    for res in (s, b):
        tr = res.trades
        assert tr["exit_reason"].astype(str).tolist()[:2] == ["stop", "stop"]
        assert tr["exit_price"].tolist()[:2] == [98.0, 96.0]
        assert tr["ambiguous"].tolist()[:2] == [True, False]
        assert res.metrics["ambiguous_exits"] == 1
        assert "stop is assumed first" in res.meta["fill_order"]
    proba = pd.Series(0.9, index=bars.index)
    grid = sweep(bars, proba, {"long_threshold": [0.6]}, stops=Stops(sl_atr=2.0, tp_atr=3.0, rearm=False),
                 atr=[1.0] * 7, calendar="B3", bar_minutes=1)
    assert grid["ambiguous_exits"].iloc[0] >= 1
    del sides


# --------------------------------------------------------------------------- the contract


@pytest.fixture(scope="module")
def fil():
    return load_bars(sample_path("filusdt")).iloc[:600]


def test_the_contract_comes_from_the_bars(fil):
    res = simulate(fil, np.zeros(len(fil)))
    assert res.meta["contract"]["name"] == "CRYPTO_SPOT" and res.meta["contract"]["currency"] == "USDT"
    assert res.meta["contract"]["allow_fractional"] and res.meta["multiplier"] == 1.0


def test_a_contract_that_contradicts_the_symbol_is_an_error(fil):
    # the old silent default: WDO's R$10 a point on BTC / FIL bars
    with pytest.raises(ParameterError, match=r"contract 'WDO' does not match the bars' symbol 'FILUSDT'"):
        simulate(fil, np.zeros(len(fil)), contract="WDO")
    with pytest.raises(ParameterError, match="does not match"):
        run_backtrader(fil, np.zeros(len(fil)), contract="WDO")
    with pytest.raises(ParameterError, match="does not match"):
        sweep(fil, pd.Series(0.5, index=fil.index), {"long_threshold": [0.6]}, contract="WDO")
    # a sibling preset is allowed: a pair traded as a perpetual
    assert simulate(fil, np.zeros(len(fil)), contract="CRYPTO_PERP").meta["contract"]["name"] == "CRYPTO_PERP"


def test_bars_without_a_symbol_need_a_contract():
    bars = make_bars(FALL)
    bars.attrs = {}
    with pytest.raises(ParameterError, match="`contract` is required"):
        simulate(bars, [0] * 6, calendar="B3", bar_minutes=1)
    bars["symbol"] = "ORCL"
    with pytest.raises(UnknownInstrumentError, match="unknown symbol 'ORCL'"):
        simulate(bars, [0] * 6, calendar="B3", bar_minutes=1)
