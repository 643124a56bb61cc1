"""Kelly sizing through every engine: ``Sizing(method="kelly")``.

Checked by hand (the capped fractional Kelly fraction of each entry's win
probability, per stop distance), against the other engine (the simulator and
backtrader give the same trades and equity on real bars), against the sweep
(each combination's payoff ratio from its own stops) and through the
walk-forward runner (``--sizing kelly``: sizes vary with the probability, the
run states what it took; what it cannot honour exits with code 2).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from engines.bt import run_backtrader
from engines.engine import compare
from engines.simulate import Costs, Sizing, Stops, simulate
from engines.sweep import sweep
from ml.data import continuous_contract, load_bars, sample_path
from ml.exceptions import ParameterError
from strategies import ProbabilityThresholdStrategy
from tests.conftest import as_wdo
from tests.runners._subprocess import run_runner, wdo_sessions_file

SP = "America/Sao_Paulo"


@pytest.fixture(scope="module")
def wdo():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return continuous_contract(load_bars(sample_path("wdo"))).iloc[:3000]


@pytest.fixture(scope="module")
def proba(wdo):
    # a probability that knows the next bar a little, varies bar to bar, and is NaN at times
    rng = np.random.default_rng(3)
    nxt = np.sign(wdo["close"].shift(-1) - wdo["close"]).fillna(0.0).to_numpy()
    p = np.clip(0.5 + 0.04 * nxt + rng.normal(0, 0.12, len(wdo)), 0.01, 0.99)
    p[rng.uniform(size=len(wdo)) < 0.02] = np.nan
    return pd.Series(p, index=wdo.index)


def test_sizes_are_the_kelly_fraction_of_the_win_probability_by_hand():
    # WDO, R$10 a point, ATR 4 given, stop 1.5 ATR = 6 points = R$60 a contract at risk
    idx = pd.date_range("2025-02-03 10:00", periods=4, freq="1min", tz=SP)
    px = [5000.0, 5000.0, 5000.0, 5000.0]
    bars = as_wdo(pd.DataFrame({"open": px, "high": px, "low": px, "close": px}, index=idx))
    sizing = Sizing("kelly", fraction=0.5, payoff_ratio=2.0)
    stops = Stops(sl_atr=1.5)
    kw = dict(sizing=sizing, stops=stops, atr=[4.0] * 4, calendar="B3", bar_minutes=1)
    # long at p = 0.6: full Kelly 0.6 - 0.4 / 2 = 0.4, half 0.2 -> R$20,000 / R$60 = 333 contracts
    res = simulate(bars, [1, 1, 0, 0], proba=[0.6, 0.6, 0.6, 0.6], **kw)
    assert res.trades["qty"].tolist() == [333.0]
    # short at p = 0.3 (win probability 0.7): 0.7 - 0.3 / 2 = 0.55, half 0.275, capped at 0.25 -> 416
    res = simulate(bars, [-1, -1, 0, 0], proba=[0.3, 0.3, 0.3, 0.3], **kw)
    assert res.trades["qty"].tolist() == [416.0]
    assert res.meta["sizing"]["payoff_ratio_used"] == 2.0 and res.meta["sizing"]["cap_used"] == 0.25
    # no edge (a long at p = 0.3): no entry, counted
    res = simulate(bars, [1, 1, 0, 0], proba=[0.3] * 4, **kw)
    assert len(res.trades) == 0 and res.meta["skipped_zero_size"] >= 1
    # the payoff ratio from the stops: tp 3 / sl 1.5 = 2, the same sizes
    res = simulate(bars, [1, 1, 0, 0], proba=[0.6] * 4, sizing=Sizing("kelly"), stops=Stops(sl_atr=1.5, tp_atr=3.0),
                   atr=[4.0] * 4, calendar="B3", bar_minutes=1)
    assert res.trades["qty"].tolist() == [333.0]


def test_what_kelly_needs_is_asked_for_by_name(wdo, proba):
    sides = np.zeros(len(wdo))
    with pytest.raises(ParameterError, match="`proba`"):
        simulate(wdo, sides, sizing=Sizing("kelly", payoff_ratio=1.0))
    with pytest.raises(ParameterError, match="payoff_ratio"):
        simulate(wdo, sides, sizing=Sizing("kelly"), proba=proba)
    with pytest.raises(ParameterError, match="multiple of full Kelly"):
        Sizing("kelly", fraction=2.0, payoff_ratio=1.0).kernel_args()
    with pytest.raises(ParameterError, match="method='fixed' ignores it"):
        Sizing(payoff_ratio=1.5).kernel_args()
    with pytest.raises(ParameterError, match=r"\[0, 1\]"):
        simulate(wdo, sides, sizing=Sizing("kelly", payoff_ratio=1.0), proba=proba * 100)


def test_the_simulator_and_backtrader_size_kelly_alike_on_real_bars(wdo, proba):
    sides = ProbabilityThresholdStrategy(long_threshold=0.6, short_threshold=0.4).sides(proba.fillna(0.5), wdo)
    kw = dict(sizing=Sizing("kelly", fraction=0.5, cap=0.01), stops=Stops(sl_atr=2.0, tp_atr=3.0),
              costs=Costs(commission_per_contract=1.0, slippage_ticks=1), proba=proba)
    ref = simulate(wdo, sides, **kw)
    got = run_backtrader(wdo, sides, **kw)
    diff = compare(ref, got)
    assert diff["equal"], diff
    assert ref.trades["qty"].nunique() > 5          # the sizes follow the probability
    assert diff["n_trades"][0] > 20


def test_the_sweep_sizes_each_combination_with_its_own_payoff_ratio(wdo, proba):
    grid = {"long_threshold": [0.6, 0.65], "sl_atr": [1.0, 2.0], "tp_atr": [2.0, 4.0]}
    res = sweep(wdo, proba, grid, sizing=Sizing("kelly", fraction=0.5, cap=0.1), costs=Costs(1.0))
    assert res.attrs["kernel"] == "general"
    for key, row in res.iterrows():
        lt, sl, tp = key
        strat = ProbabilityThresholdStrategy(long_threshold=lt)
        one = simulate(wdo, strat.sides(proba, wdo), sizing=Sizing("kelly", fraction=0.5, cap=0.1, payoff_ratio=tp / sl),
                       stops=Stops(sl_atr=sl, tp_atr=tp), costs=Costs(1.0), proba=proba)
        assert float(row["final_equity"]) == float(one.equity.iloc[-1]), key
        assert int(row["n_trades"]) == one.metrics["n_trades"]


def test_runner_refuses_what_kelly_cannot_honour(tmp_path):
    proc = run_runner("runners.walkforward", ["--out", tmp_path / "x", "--sizing", "kelly"], tmp_path)
    assert proc.returncode == 2
    assert "needs `payoff_ratio`" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    proc = run_runner("runners.walkforward", ["--out", tmp_path / "y", "--sizing", "kelly", "--payoff-ratio", "1",
                                              "--search"], tmp_path)
    assert proc.returncode == 2
    assert "--sizing kelly does not combine with --search" in proc.stderr


def test_runner_kelly_sizes_vary_and_are_stated(tmp_path):
    out = tmp_path / "wf"
    proc = run_runner("runners.walkforward", ["--data", wdo_sessions_file(tmp_path, 12), "--symbol", "WDO",
                                              "--out", out, "--quiet", "--sizing", "kelly", "--sl-atr", "2",
                                              "--tp-atr", "3", "--kelly-cap", "0.02", "--train-sessions", "8",
                                              "--test-sessions", "4", "--latency-decisions", "0"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = json.loads((out / "run.json").read_text())
    said = run["assumptions"]["sizing"]
    assert "0.5 x full Kelly" in said and "payoff ratio 1.5 (--tp-atr / --sl-atr)" in said and "2% of equity" in said
    trades = pd.read_csv(out / "trades.csv")
    assert len(trades) > 5 and trades["qty"].nunique() > 1
