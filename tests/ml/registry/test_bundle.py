"""Model bundles: the final fit, the bundle in the registry, and ``runners.walkforward --register``.

- ``ml.training.fit_final`` on the bars up to the end of a training window gives the model the
  walk-forward's fold trained on that window (same selected features, same probabilities): the
  final fit is the fold's recipe, not a second one.
- A bundle survives the registry bit for bit (probabilities, configs) and is loaded by
  ``NAME``, ``NAME@VERSION``; a wrong reference or a plain model is refused by name.
- A bundle refuses bars that lack a column its features need, naming the column and the features.
- ``--register`` writes a bundle whose backtest trades its own strategy, rules, costs and contract.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from engines.simulate import Costs, simulate
from ml.data import continuous_contract, get_calendar, load_bars, sample_path
from ml.exceptions import ParameterError
from ml.registry import ModelBundle, ModelRegistry, parse_ref
from ml.training import WalkForwardConfig, fit_final, signal_probability, train_walkforward
from risk import DailyLimits, Sizing, Stops
from strategies import ProbabilityThresholdStrategy
from tests.runners._subprocess import run_runner, wdo_sessions_file

CFG = WalkForwardConfig(model="logistic", train_sessions=4, test_sessions=2, n_features=8, seed=3)


def _six_sessions():
    """The bundled WDO sample's first 6 sessions, one contract: one fold of 4 training + 2 test sessions."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bars = continuous_contract(load_bars(sample_path("wdo")))
    session = get_calendar("B3").sessions(bars.index).session
    return bars.loc[np.asarray(session) < 6]


@pytest.fixture(scope="module")
def wdo():
    return _six_sessions()


@pytest.fixture(scope="module")
def final(wdo):
    session = np.asarray(get_calendar("B3").sessions(wdo.index).session)
    return fit_final(wdo.loc[session < 4], CFG)        # the bars up to the end of the fold's training window


@pytest.fixture(scope="module")
def bundle(final):
    return ModelBundle(model=final.model, features=final.selected, classes=final.classes, calendar="B3",
                       bar_minutes=1.0, strategy=ProbabilityThresholdStrategy(long_threshold=0.52,
                                                                              short_threshold=0.48).get_params(),
                       sizing={"method": "fixed", "contracts": 2}, stops={"sl_atr": 2.0, "tp_atr": 3.0},
                       limits={}, costs={"commission_per_contract": 1.0, "slippage_ticks": 1.0},
                       contract={"multiplier": 10.0, "tick_size": 0.5, "name": "WDO", "currency": "BRL"},
                       instrument="WDO", training={"train_start": final.train_start, "train_end": final.train_end})


def test_the_final_fit_is_the_walk_forward_fold_on_the_same_window(wdo, final):
    wf = train_walkforward(wdo, CFG, keep_models=True)
    assert len(wf.folds) == 1
    fold = wf.folds[0]
    assert fold.train_start == final.train_start and fold.train_end == final.train_end
    assert fold.selected == final.selected and len(final.selected) == 8
    assert fold.n_train == final.n_train
    # the same model: the same probabilities on the fold's test bars
    X = wf.features.loc[fold.test_start:fold.test_end, final.selected]
    np.testing.assert_array_equal(final.model.predict_proba(X), fold.model.predict_proba(X))
    assert [f"p_{c}" for c in final.classes] == [c for c in wf.predictions.columns if c.startswith("p_") and c != "p_up"]


def test_a_bundle_round_trips_through_the_registry(tmp_path, wdo, bundle):
    reg = ModelRegistry(tmp_path / "reg")
    assert reg.register(bundle, name="wdo-logit") == 1
    assert reg.register(bundle, name="wdo-logit") == 2
    for ref in ("wdo-logit", "wdo-logit@1", "wdo-logit@latest", "wdo-logit@v2"):
        got = reg.load_bundle(ref)
        assert isinstance(got, ModelBundle) and got.features == bundle.features
        pd.testing.assert_series_equal(got.probability(wdo), bundle.probability(wdo))
        assert got.configs() == bundle.configs()
    assert parse_ref("a.b-1@7") == ("a.b-1", "7")
    with pytest.raises(ParameterError, match="no version 9"):
        reg.load_bundle("wdo-logit@9")
    with pytest.raises(ParameterError, match="Did you mean 'wdo-logit'"):
        reg.load_bundle("wdo-logic")
    reg.register(bundle.model, name="plain")
    with pytest.raises(ParameterError, match="not a model bundle"):
        reg.load_bundle("plain")


def test_the_bundles_probability_is_the_walk_forwards_traded_probability(wdo, bundle):
    """The same rule as the walk-forward's predictions (P(up) / (P(up) + P(down)) for three classes)."""
    from ml.features import build_features

    X = build_features(wdo, calendar="B3")[bundle.features]
    p = bundle.model.predict_proba(X)
    frame = pd.DataFrame(p, index=wdo.index, columns=[f"p_{c}" for c in bundle.classes])
    frame["p_up"] = frame[f"p_{bundle.classes[-1]}"]
    pd.testing.assert_series_equal(bundle.probability(wdo), signal_probability(frame), check_names=False)


def test_a_bundle_names_the_columns_its_features_need(wdo, bundle):
    needs_vwap = ModelBundle(**{**bundle.__dict__, "features": ["vwap_dist_bar", *bundle.features]})
    assert "vwap" in needs_vwap.required_columns
    with pytest.raises(ParameterError, match=r"lack \[.vwap.\].*vwap_dist_bar"):
        needs_vwap.check_bars(wdo.drop(columns=["vwap"], errors="ignore"))


def test_the_bundles_backtest_trades_its_own_rules_and_costs(wdo, bundle):
    res = bundle.backtest(wdo)
    p = bundle.probability(wdo)
    sides = ProbabilityThresholdStrategy(long_threshold=0.52, short_threshold=0.48).sides(p, wdo, calendar="B3")
    ref = simulate(wdo, sides, contract=bundle.configs()["contract"], sizing=Sizing(contracts=2),
                   stops=Stops(sl_atr=2.0, tp_atr=3.0), limits=DailyLimits(),
                   costs=Costs(commission_per_contract=1.0, slippage_ticks=1.0), calendar="B3", bar_minutes=1)
    pd.testing.assert_series_equal(res.equity, ref.equity)
    assert len(res.trades) > 5 and set(res.trades["qty"]) == {2.0}
    bt = bundle.backtest(wdo, engine="backtrader")
    assert np.allclose(bt.equity.to_numpy(), res.equity.to_numpy(), atol=1e-6)


def test_runner_register_writes_a_bundle_that_trades(tmp_path):
    out, reg = tmp_path / "wf", tmp_path / "reg"
    data = wdo_sessions_file(tmp_path, 12)
    proc = run_runner("runners.walkforward", ["--data", data, "--symbol", "WDO", "--out", out, "--quiet",
                                              "--train-sessions", "8", "--test-sessions", "4",
                                              "--latency-decisions", "0", "--contracts", "3",
                                              "--register", "wdo-wf", "--registry", reg], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = json.loads((out / "run.json").read_text())
    assert run["registered"]["ref"] == "wdo-wf@1"
    assert "registered: wdo-wf@1" in proc.stdout
    bundle = ModelRegistry(reg).load_bundle("wdo-wf@1")
    assert bundle.instrument == "WDO" and bundle.calendar == "B3" and bundle.sizing["contracts"] == 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bars = continuous_contract(load_bars(data))
    session = np.asarray(get_calendar("B3").sessions(bars.index).session)
    assert pd.Timestamp(bundle.training["train_start"]) == bars.index[np.flatnonzero(session >= 4)[0]]
    res = bundle.backtest(bars)
    assert res.meta["contract"]["multiplier"] == 10.0 and res.meta["costs"] == bundle.costs


@pytest.mark.parametrize("flags, needle", [
    (["--register", "../x"], "name"),
    (["--register", "ok", "--sizing", "vol-target"], "--register does not support --sizing vol-target"),
])
def test_runner_register_refuses_before_training(tmp_path, flags, needle):
    proc = run_runner("runners.walkforward", ["--out", tmp_path / "x", *flags], tmp_path)
    assert proc.returncode == 2 and needle in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
