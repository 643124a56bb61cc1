"""Paper trading: ``engines.live.LiveDecider`` and ``python -m runners.paper``.

- Parity: on the same bars, with the same bundle, the decisions taken bar by bar (streaming
  features, the model on one row, the rule's step) equal the batch backtest's sides, and the
  trades through backtrader's broker equal the batch backtest's trades.
- Safety: a bar out of order is refused; a NaN or out-of-range probability places no new order;
  the kill switch makes every later decision flat; a silent feed is stale.
- The runner refuses, with exit code 2 and one line, an unknown model, a replay of another
  instrument, and a replay that lacks a column the bundle's features need.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from engines.live import LiveDecider
from ml.data import continuous_contract, get_calendar, load_bars, sample_path
from ml.exceptions import ParameterError
from ml.models import get_model
from ml.registry import ModelBundle, ModelRegistry
from ml.training import WalkForwardConfig, fit_final
from strategies import ProbabilityThresholdStrategy
from tests.runners._subprocess import run_runner


def _wdo():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_bars(sample_path("wdo"))


@pytest.fixture(scope="module")
def sessions():
    bars = _wdo()
    return bars, np.asarray(get_calendar("B3").sessions(bars.index).session)


def _bundle(model, features, classes, **kw):
    base = dict(calendar="B3", bar_minutes=1.0,
                strategy=ProbabilityThresholdStrategy(long_threshold=0.505, short_threshold=0.495,
                                                      min_holding=2).get_params(),
                sizing={"method": "fixed", "contracts": 1}, stops={"sl_atr": 2.0, "tp_atr": 3.0}, limits={},
                costs={"commission_per_contract": 1.5, "slippage_ticks": 1.0},
                contract={"multiplier": 10.0, "tick_size": 0.5, "name": "WDO", "currency": "BRL"}, instrument="WDO")
    base.update(kw)
    return ModelBundle(model=model, features=features, classes=classes, **base)


@pytest.fixture(scope="module")
def bundle(sessions):
    bars, s = sessions
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        final = fit_final(continuous_contract(bars.loc[s < 6]),
                          WalkForwardConfig(model="logistic", train_sessions=6, n_features=8, seed=2))
    return _bundle(final.model, final.selected, final.classes)


@pytest.fixture(scope="module")
def replay(sessions):
    bars, s = sessions
    return bars.loc[(s >= 6) & (s < 8)]


def test_decisions_bar_by_bar_equal_the_batch_sides(bundle, replay):
    dec = LiveDecider(bundle, speed=0)
    dec.warm_up(replay.iloc[:600])
    for i in range(600, 800):
        dec.on_bar(replay.iloc[i:i + 1])
    d = dec.decisions()
    p = bundle.probability(replay)
    sides = bundle.strategy_object().sides(p, replay, calendar="B3")
    assert d.index.equals(replay.index[600:800])
    np.testing.assert_array_equal(d["side"].to_numpy(), sides.iloc[600:800].to_numpy())
    np.testing.assert_allclose(d["probability"].to_numpy(), p.iloc[600:800].to_numpy(), rtol=0, atol=1e-12)
    assert (d["side"] != 0).sum() > 10 and d["features_hash"].str.len().eq(16).all()
    assert not dec.alerts


class _Scripted:
    """A model whose up probability is scripted per call (NaN, 2.0, ...)."""

    classes_ = np.array([0.0, 1.0])

    def __init__(self, values):
        self.values = list(values)

    def predict_proba(self, X):
        p = self.values.pop(0) if self.values else 0.9
        return np.tile([1.0 - p, p], (len(X), 1))


def test_safety_rules(replay):
    b = _bundle(_Scripted([0.9, 0.9, math.nan, 2.0, 0.9, 0.1]), ["ret_1"], ["0", "1"],
                strategy=ProbabilityThresholdStrategy(long_threshold=0.6, short_threshold=0.4).get_params())
    dec = LiveDecider(b, speed=0)
    bars = replay.iloc[:8]
    assert dec.on_bar(bars.iloc[0:1]).side == 1
    assert dec.on_bar(bars.iloc[1:2]).side == 1
    assert dec.on_bar(bars.iloc[1:2]) is None                      # the same bar again: refused
    nan = dec.on_bar(bars.iloc[2:3])                                # NaN: no new order, the side is kept
    assert nan.side == 1 and "invalid probability" in nan.alert
    out = dec.on_bar(bars.iloc[3:4])                                # 2.0: out of range, the same
    assert out.side == 1 and "invalid probability" in out.alert
    dec.kill()
    assert dec.on_bar(bars.iloc[4:5]).side == 0                     # the kill switch: flat
    assert dec.on_bar(bars.iloc[5:6]).side == 0
    assert dec.alerts == {"bar out of order": 1, "invalid probability: no new order": 2, "kill switch": 2}
    live = LiveDecider(_bundle(_Scripted([0.9, 0.1, 0.1]), ["ret_1"], ["0", "1"],
                               strategy=ProbabilityThresholdStrategy(long_threshold=0.6,
                                                                     short_threshold=0.4).get_params()),
                       speed=1.0, stale_bars=3)
    assert live.on_bar(bars.iloc[6:7], arrival=1000.0).side == 1
    assert not live.stale(now=1000.0 + 170) and live.stale(now=1000.0 + 181)   # 3 one-minute bars
    late = live.on_bar(bars.iloc[7:8], arrival=1000.0 + 200)       # after a silence: no new order
    assert late.side == 1 and late.alert == "stale feed: no new order"
    assert live.on_bar(replay.iloc[8:9], arrival=1000.0 + 260).side == -1   # on time again: the rule decides


def test_order_rate_cap_and_flatten_on_stale(replay):
    """The cap refuses the third opening order inside its window (a reversal becomes a close), lets closes
    through, and frees up once the window has passed; a stale feed with flatten_on_stale closes."""
    rule = ProbabilityThresholdStrategy(long_threshold=0.6, short_threshold=0.4).get_params()
    # long, flat, short (reversal through flat), long (reversal: refused -> flat), ..., long after the window
    probs = [0.9, 0.5, 0.1, 0.9, 0.9, 0.5, 0.9]
    dec = LiveDecider(_bundle(_Scripted(probs), ["ret_1"], ["0", "1"], strategy=rule), speed=0,
                      max_orders=2, order_window=4)
    bars = replay.iloc[:7]
    sides = [dec.on_bar(bars.iloc[i:i + 1]).side for i in range(5)]
    # bar 0 opens (1 of 2), bar 1 closes (free), bar 2 opens short (2 of 2), bar 3 would reverse to long:
    # refused, closes instead; bar 4 is 4 minutes after bar 0, which leaves the window: the entry is allowed
    assert sides == [1, 0, -1, 0, 1]
    assert dec.alerts == {"order-rate cap: no new order": 1}
    assert dec.log[3].alert == "order-rate cap: no new order"
    with pytest.raises(ParameterError):
        LiveDecider(_bundle(_Scripted([]), ["ret_1"], ["0", "1"], strategy=rule), max_orders=0)

    live = LiveDecider(_bundle(_Scripted([0.9, 0.9, 0.9]), ["ret_1"], ["0", "1"], strategy=rule),
                       speed=1.0, stale_bars=3, flatten_on_stale=True)
    assert live.on_bar(bars.iloc[0:1], arrival=1000.0).side == 1
    late = live.on_bar(bars.iloc[1:2], arrival=1000.0 + 200)
    assert late.side == 0 and late.alert == "stale feed: flattened"
    assert live.on_bar(bars.iloc[2:3], arrival=1000.0 + 260).side == 1     # on time again: the rule decides


def test_a_restart_keeps_the_order_rate_cap_and_the_kill_switch(replay):
    """The state a decision log leaves: the last side, the opening orders still inside the cap's window, the
    kill switch. Without it a restart would reopen the cap."""
    rule = ProbabilityThresholdStrategy(long_threshold=0.6, short_threshold=0.4).get_params()
    first = LiveDecider(_bundle(_Scripted([0.9, 0.5, 0.1]), ["ret_1"], ["0", "1"], strategy=rule), speed=0,
                        max_orders=2, order_window=10)
    bars = replay.iloc[:5]
    for i in range(3):
        first.on_bar(bars.iloc[i:i + 1])
    log = first.decisions()
    assert log["side"].tolist() == [1, 0, -1]                     # two opening orders: the cap is full
    again = LiveDecider(_bundle(_Scripted([0.9]), ["ret_1"], ["0", "1"], strategy=rule), speed=0,
                        max_orders=2, order_window=10)
    again.warm_up(bars.iloc[:3])
    again.restore(log)
    assert again.side == -1 and len(again._opened) == 2
    d = again.on_bar(bars.iloc[3:4])                               # a reversal past the cap: closes instead
    assert d.side == 0 and d.alert == "order-rate cap: no new order"
    killed = log.assign(alert=["", "kill switch", ""])
    fresh = LiveDecider(_bundle(_Scripted([0.9]), ["ret_1"], ["0", "1"], strategy=rule), speed=0)
    fresh.restore(killed)
    assert fresh.killed


@pytest.mark.parametrize("case", ["unknown model", "other instrument", "missing column"])
def test_paper_runner_refuses_what_does_not_fit(tmp_path, bundle, replay, case):
    reg = tmp_path / "reg"
    ModelRegistry(reg).register(bundle, name="wdo-paper")
    path = tmp_path / "replay.parquet"
    model, needle = "wdo-paper", ""
    if case == "unknown model":
        replay.to_parquet(path)
        model, needle = "wdo-papr", "Did you mean 'wdo-paper'"
    elif case == "other instrument":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load_bars(sample_path("filusdt")).iloc[:500].to_parquet(path)
        needle = "WDO"
    else:
        X = pd.DataFrame({"vwap_dist_bar": np.linspace(-1, 1, 50)})
        m = get_model("logistic").fit(X, (X["vwap_dist_bar"] > 0).astype(int))
        ModelRegistry(reg).register(_bundle(m, ["vwap_dist_bar"], ["0", "1"]), name="needs-vwap")
        replay.drop(columns=["vwap"]).to_parquet(path)
        model, needle = "needs-vwap", "vwap"
    proc = run_runner("runners.paper", ["--model", model, "--registry", reg, "--replay", path, "--symbol", "WDO",
                                        "--out", tmp_path / "o", "--quiet"], tmp_path)
    assert proc.returncode == 2, proc.stderr[-1500:]
    assert needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_time_decisions_is_the_live_measurement(bundle, replay):
    from engines.live import time_decisions

    r = time_decisions(bundle, replay, 60)
    assert r["decisions"] == 60 and 0 < r["p50_ms"] <= r["p99_ms"] <= r["max_ms"]
    assert r["model_p99_ms"] > 0 and r["bars_per_second"] > 0 and not r["alerts"]


def test_paper_runner_parity_decision_log_and_restart(tmp_path, bundle, replay):
    reg = tmp_path / "reg"
    ModelRegistry(reg).register(bundle, name="wdo-paper")
    path = tmp_path / "replay.parquet"
    replay.to_parquet(path)
    out = tmp_path / "paper"
    cmd = ["--model", "wdo-paper", "--registry", reg, "--replay", path, "--symbol", "WDO", "--out", out, "--quiet",
           "--max-orders", "1000"]   # a cap that does not bind: parity holds, and run.json states it
    crash = run_runner("runners.paper", [*cmd, "--stop-after", "450"], tmp_path)
    assert crash.returncode == 2 and "stopped after deciding 450 bar(s)" in crash.stderr
    first = pd.read_parquet(out / "decisions.partial.parquet")
    assert len(first) == 450
    again = run_runner("runners.paper", cmd, tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    n = len(replay)
    assert f"parity: {n} of {n} decisions equal; trades equal" in again.stdout
    d = pd.read_parquet(out / "decisions.parquet")
    assert d.index.is_unique and len(d) == n
    # the first 450 decisions are the logged ones (their arrival times included): none was taken again
    pd.testing.assert_frame_equal(d.iloc[:450][first.columns], first, check_freq=False)
    assert "resuming from the decision log: 450 bar(s)" in (out / "run.log").read_text()
    assert not (out / "decisions.partial.parquet").exists()
    config = (out / "config.toml").read_text()
    assert 'model = "wdo-paper"' in config and "replay.parquet" in config and "stop_after" not in config
    # the decision log and the run: parity, latency, the order and fill of each decision
    run = json.loads((out / "run.json").read_text())
    assert run["parity"]["decisions_equal"] == n and run["parity"]["trades_equal"]
    assert run["latency"]["decisions"] == n and run["latency"]["p99_ms"] > 0
    assert run["assumptions"]["safety"] == {"stale_bars": 3.0, "flatten_on_stale": False,
                                            "order_rate_cap": "1000 per 60 min"}
    assert list(d.columns)[:7] == ["arrival", "decided", "features_hash", "probability", "side", "alert",
                                   "latency_ms"]
    filled = d[d["order_size"] != 0]
    assert len(filled) > 5 and filled["fill_price"].notna().all()
    trades = pd.read_csv(out / "trades.csv")
    batch = bundle.backtest(replay, engine="backtrader")
    assert len(trades) == len(batch.trades)
    assert np.allclose(trades["entry_price"], batch.trades["entry_price"])


def test_daily_limits_hold_on_the_live_path(bundle, replay):
    """The bundle's daily limits (trades per session, the position cap) bind bar by bar as in its backtest."""
    from engines.bt import replay_feed, run_bundle_live
    from engines.engine import compare

    limited = ModelBundle(**{**bundle.__dict__, "limits": {"max_trades_per_day": 2, "max_daily_loss": 150.0},
                             "stops": {}})
    ref = limited.backtest(replay, engine="backtrader")
    res = run_bundle_live(limited, replay_feed(replay))
    diff = compare(ref, res)
    assert diff["equal"], diff
    per_session = pd.to_datetime(res.trades["entry_time"]).dt.date.value_counts()
    assert per_session.max() <= 2 and len(res.trades) >= 2


def test_paper_runner_needs_a_model_and_a_replay_on_the_line_or_in_the_config(tmp_path):
    proc = run_runner("runners.paper", ["--replay", tmp_path / "x.parquet", "--out", tmp_path / "o"], tmp_path)
    assert proc.returncode == 2 and "--model is required" in proc.stderr
    (tmp_path / "c.toml").write_text('model = "nothing-here"\n')
    proc = run_runner("runners.paper", ["--config", tmp_path / "c.toml", "--out", tmp_path / "o"], tmp_path)
    assert proc.returncode == 2 and "--replay is required" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
