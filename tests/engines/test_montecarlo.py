"""Tests of ``engines.montecarlo``: trade bootstrap, block bootstrap and the random-entry null.

The data are real: the first 3,000 one-minute bars of the continuous WDO
contract, traded by a ProbabilityThresholdStrategy on a causal rolling z-score
squashed to (0, 1).  ``n`` is small (200) to keep the suite fast.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

from engines.montecarlo import (
    MC_METRICS,
    QUANTILES,
    MonteCarloResult,
    _place,
    _random_entry_spec,
    monte_carlo,
)
from engines.simulate import Costs, simulate
from ml.data import continuous_contract, load_bars, sample_path
from ml.exceptions import ParameterError
from strategies import ProbabilityThresholdStrategy, session_facts

N = 200


@pytest.fixture(scope="module")
def bars():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # roll-gap DataQualityWarnings of the sample
        return continuous_contract(load_bars(sample_path("wdo"))).iloc[:3000]


@pytest.fixture(scope="module")
def result(bars):
    close = bars["close"]
    z = (close - close.rolling(30).mean()) / close.rolling(30).std()  # causal
    proba = 1.0 / (1.0 + np.exp(-z))
    sides = ProbabilityThresholdStrategy(0.7, 0.3, min_holding=5).sides(proba, bars)
    return simulate(bars, sides, costs=Costs(commission_per_contract=1.5, slippage_ticks=1))


@pytest.fixture(scope="module")
def mcs(result, bars):
    return {m: monte_carlo(result, method=m, n=N, seed=7, bars=bars)
            for m in ("trades", "block", "random_entry")}


@pytest.mark.parametrize("method", ["trades", "block", "random_entry"])
def test_shapes_quantiles_and_p_values(mcs, method):
    mc = mcs[method]
    assert isinstance(mc, MonteCarloResult) and mc.method == method and mc.n == N
    assert set(mc.draws) == set(MC_METRICS) == set(mc.real)
    for k in MC_METRICS:
        assert mc.draws[k].shape == (N,)
        assert np.isfinite(mc.draws[k]).all()
        assert np.isfinite(mc.real[k])
    assert mc.sharpe is mc.draws["sharpe"]
    q = mc.quantiles
    assert q.shape == (5, 3) and list(q.index) == list(QUANTILES) and list(q.columns) == list(MC_METRICS)
    assert (np.diff(q.to_numpy(), axis=0) >= 0).all()  # ordered
    assert (q.loc[0.5] == pd.Series({k: np.median(mc.draws[k]) for k in MC_METRICS})).all()
    assert (mc.draws["max_drawdown"] <= 0).all()
    assert mc.p_values
    for p in mc.p_values.values():
        assert 0.0 < p <= 1.0


@pytest.mark.parametrize("method", ["trades", "block", "random_entry"])
def test_deterministic_with_seed(result, bars, mcs, method):
    again = monte_carlo(result, method=method, n=N, seed=7, bars=bars)
    other = monte_carlo(result, method=method, n=N, seed=8, bars=bars)
    for k in MC_METRICS:
        np.testing.assert_array_equal(again.draws[k], mcs[method].draws[k])
    assert not np.array_equal(other.draws["sharpe"], mcs[method].draws["sharpe"])


def test_draws_do_not_depend_on_n_jobs(result, mcs):
    par = monte_carlo(result, method="trades", n=N, seed=7, n_jobs=2, batch_size=100)
    for k in MC_METRICS:
        np.testing.assert_array_equal(par.draws[k], mcs["trades"].draws[k])


# --------------------------------------------------------------------------- trade bootstrap


def test_trade_bootstrap_real_values_and_expectation(result, mcs):
    mc = mcs["trades"]
    closed = result.trades[result.trades["closed"]]
    pnl = closed["net_pnl"].to_numpy()
    e0 = result.meta["initial_equity"]
    assert mc.meta["n_trades"] == len(closed)
    # The real final return is the closed trades' net PnL over the initial equity.
    assert mc.real["final_return"] == pytest.approx(pnl.sum() / e0, rel=1e-12)
    # Resampling with replacement keeps the expectation of the sum: mean draw ~ real (4 SE).
    se = pnl.std(ddof=1) * np.sqrt(len(pnl)) / e0 / np.sqrt(N)
    assert abs(mc.final_return.mean() - mc.real["final_return"]) < 4 * se


def test_trade_bootstrap_preserves_trade_count(result):
    # All trades earn R$10: any resample of k trades sums to 10 k exactly, so every
    # draw equals the real value only if each draw has the real number of trades.
    trades = result.trades.copy()
    trades["net_pnl"] = 10.0
    res = dataclasses.replace(result, trades=trades)
    mc = monte_carlo(res, method="trades", n=50, seed=1)
    k = int(trades["closed"].sum())
    np.testing.assert_allclose(mc.final_return, 10.0 * k / res.meta["initial_equity"], rtol=1e-12)
    assert (mc.max_drawdown == 0).all()


# --------------------------------------------------------------------------- block bootstrap


def test_block_bootstrap_keeps_the_mean(result, mcs):
    mc = mcs["block"]
    r = result.returns.to_numpy()
    assert mc.meta["block_length"] >= 1 and mc.meta["n_bars"] == len(r)
    assert mc.real["final_return"] == pytest.approx(result.metrics["total_return"], rel=1e-12)
    assert mc.real["sharpe"] == pytest.approx(result.metrics["sharpe"], rel=1e-12)
    # The stationary bootstrap draws each bar with equal odds: E[sum log(1+r*)] = n mean(log(1+r)).
    per_bar = np.log1p(mc.final_return) / len(r)
    se = per_bar.std(ddof=1) / np.sqrt(N)
    assert abs(per_bar.mean() - np.log1p(r).mean()) < 4 * se


def test_block_bootstrap_on_plain_returns_with_given_block(result):
    r = result.returns
    mc = monte_carlo(r, method="block", n=50, seed=3, periods_per_year=result.meta["periods_per_year"],
                     block_length=10)
    assert mc.meta["block_length"] == 10
    assert mc.real["sharpe"] == pytest.approx(result.metrics["sharpe"], rel=1e-12)
    with pytest.raises(ParameterError, match="periods_per_year"):
        monte_carlo(r, method="block", n=10)


# --------------------------------------------------------------------------- random entries


def test_real_trades_rebuilt_bar_by_bar_match_the_engine(result, mcs):
    # The null marks trades to market like the engine: the real trades rebuilt that
    # way give the engine's own Sharpe, drawdown and total return.
    real = mcs["random_entry"].real
    assert real["sharpe"] == pytest.approx(result.metrics["sharpe"], rel=1e-9)
    assert real["max_drawdown"] == pytest.approx(result.metrics["max_drawdown"], rel=1e-9)
    assert real["final_return"] == pytest.approx(result.metrics["total_return"], rel=1e-9)


def test_random_entries_stay_in_sessions_and_keep_holding_times(result, bars):
    spec, _ = _random_entry_spec(result, bars, "random", 143640.0)
    session = session_facts(bars).session
    hold = spec["hold"]
    at_close = spec["at_close"]
    foot = np.where(at_close, hold + 1, hold)
    last_of_session = pd.Series(np.arange(len(session))).groupby(session).transform("max").to_numpy()
    np.testing.assert_array_equal(hold, (result.trades["exit_idx"] - result.trades["entry_idx"]).to_numpy())
    rng = np.random.default_rng(0)
    for _ in range(20):
        e = _place(rng, foot, spec["seg_start"], spec["capacity"])
        x = e + hold
        assert len(e) == len(result.trades)                      # same number of trades
        assert (session[e] == session[x]).all()                  # never across a session close
        assert (x[at_close] < last_of_session[e][at_close]).all()  # no close exit on the last bar
        assert (x <= last_of_session[e]).all()
        order = np.argsort(e)                                    # non-overlapping footprints
        assert (e[order][1:] >= (e + foot)[order][:-1]).all()


def test_random_entry_p_value_of_a_mediocre_strategy_is_not_small(mcs):
    mc = mcs["random_entry"]
    assert set(mc.p_values) == set(MC_METRICS)
    assert mc.p_values["sharpe"] > 0.05
    assert mc.meta["n_trades"] == 236 and mc.meta["n_sessions"] == 6


def test_planted_perfect_signal_beats_the_null(bars):
    # LOOK-AHEAD ON PURPOSE: the side decided at bar i is the sign of the move from
    # bar i+1's open (its fill) to bar i+2's open; traded on every 4th bar only, so
    # that random non-overlapping entries have room.
    o = bars["open"].to_numpy()
    move = np.zeros(len(o))
    move[:-2] = np.sign(o[2:] - o[1:-1])
    facts = session_facts(bars)
    sides = np.where((np.arange(len(o)) % 4 == 0) & (facts.bars_to_close > 1), move, 0.0)
    res = simulate(bars, sides, costs=Costs(commission_per_contract=1.5))
    assert len(res.trades) > 100 and res.metrics["sharpe"] > 0
    mc = monte_carlo(res, method="random_entry", n=100, seed=0, bars=bars)
    assert mc.p_values["sharpe"] == pytest.approx(1.0 / 101)
    assert mc.p_values["final_return"] == pytest.approx(1.0 / 101)
    same = monte_carlo(res, method="random_entry", n=20, seed=0, bars=bars, null_sides="same")
    assert same.p_values["sharpe"] == pytest.approx(1.0 / 21)


# --------------------------------------------------------------------------- errors


def test_errors(result, bars):
    with pytest.raises(ParameterError, match="SimResult"):
        monte_carlo(result.returns, method="trades", periods_per_year=143640.0)
    with pytest.raises(ParameterError, match="bars"):
        monte_carlo(result, method="random_entry", n=5)
    with pytest.raises((ParameterError, TypeError), match="method"):
        monte_carlo(result, method="blocks", n=5)
    with pytest.raises(ParameterError, match="`n`"):
        monte_carlo(result, n=0)
    with pytest.raises(ParameterError, match="block_length"):
        monte_carlo(result, method="block", n=5, block_length=0)
