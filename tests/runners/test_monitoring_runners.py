"""runners.monitor, runners.paper with its monitor and a shadow challenger, on a bundle registered by the
walk-forward: the later sessions of the bundled WDO sample as they are, and with their volatility tripled
from the second of them on (engines.stress.scale_volatility)."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from engines.stress import scale_volatility
from ml.data import continuous_contract, get_calendar, load_bars, sample_path
from ml.registry import ModelRegistry
from tests.runners._subprocess import run_runner, write_bars


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("mon")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bars = continuous_contract(load_bars(sample_path("wdo")))
    sid = np.asarray(get_calendar("B3").sessions(bars.index).session)
    train, later = bars[sid < 12], bars[(sid >= 12) & (sid < 16)]
    proc = run_runner("runners.walkforward", [
        "--data", write_bars(train, d / "train.parquet"), "--symbol", "WDO", "--out", d / "wf", "--quiet",
        "--model", "random_forest", "--model-param", "n_estimators=10", "--model-param", "min_samples_leaf=20",
        "--train-sessions", "6", "--test-sessions", "3", "--n-features", "8", "--latency-decisions", "0",
        "--register", "wdo-mon", "--registry", d / "reg", "--ledger", d / "ledger.jsonl"], d)
    assert proc.returncode == 0, proc.stderr[-2000:]
    reg = ModelRegistry(d / "reg")
    reg.register(reg.load_bundle("wdo-mon@1"), name="wdo-mon")          # v2: the challenger of the shadow run
    later_sid = np.asarray(get_calendar("B3").sessions(later.index).session)
    shift_at = later.index[np.flatnonzero(later_sid == later_sid[0] + 1)[0]]
    shifted = scale_volatility(later, 3.0, start=shift_at, calendar="B3")
    history = pd.concat([train, shifted])          # what a user retrains on: the latest sessions, shift included
    return {"dir": d, "reg": d / "reg", "plain": write_bars(later, d / "plain.parquet"),
            "history": write_bars(history, d / "history.parquet"),
            "shifted": write_bars(shifted, d / "shifted.parquet"), "shift_at": shift_at}


def test_the_bundle_carries_its_monitoring_reference(setup):
    bundle = ModelRegistry(setup["reg"]).load_bundle("wdo-mon@1")
    ref = bundle.reference
    assert list(ref.features.columns) == bundle.features
    assert len(np.unique(ref.feature_sessions)) == 6                      # the final fit's training sessions
    assert len(ref.session_returns) == 6 and len(np.unique(ref.oos_sessions)) == 6   # 2 folds x 3 test sessions
    assert ref.horizon == 5 and 0.2 < ref.brier < 0.3


def test_monitor_runner_alerts_on_tripled_volatility_only(setup):
    d = setup["dir"]
    base = ["--model", "wdo-mon@1", "--registry", setup["reg"], "--symbol", "WDO", "--quiet"]
    plain = run_runner("runners.monitor", [*base, "--data", setup["plain"], "--out", d / "m-plain"], d)
    assert plain.returncode == 0, plain.stderr[-2000:]
    m = json.loads((d / "m-plain" / "monitor.json").read_text())
    # the feature rule (the one a volatility shift trips) stays quiet on the plain sessions; the other rules'
    # false-alarm rate over many replays is what benchmarks/drift.py measures (this model's predictions do
    # move on these later days: the prediction-PSI rule may say so)
    assert [a for a in m["alerts"] if a["rule"] == "feature_drift"] == []
    assert m["checks"] > 10 and "cumulative return" in plain.stdout
    shifted = run_runner("runners.monitor", [*base, "--data", setup["shifted"], "--out", d / "m-shift"], d)
    assert shifted.returncode == 0, shifted.stderr[-2000:]
    alerts = [json.loads(line) for line in (d / "m-shift" / "alerts.jsonl").read_text().splitlines()]
    drift = [a for a in alerts if a["rule"] == "feature_drift"]
    assert drift, alerts
    first = pd.Timestamp(drift[0]["time"])
    bars = pd.read_parquet(setup["shifted"]).set_index("timestamp")
    delay = int(((bars.index >= setup["shift_at"]) & (bars.index <= first)).sum())
    window = json.loads((d / "m-shift" / "monitor.json").read_text())["window"]
    assert first >= setup["shift_at"] and delay <= window, (first, delay)   # within one window of the shift
    table = pd.read_csv(d / "m-shift" / "drift.csv")
    assert {"psi:" + f for f in ModelRegistry(setup["reg"]).load_bundle("wdo-mon@1").features} <= set(table)
    bad = run_runner("runners.monitor", [*base, "--data", setup["plain"], "--monitor", "windw=10"], d)
    assert bad.returncode == 2 and "Did you mean 'window'" in bad.stderr


def test_paper_runner_monitors_and_runs_a_shadow_challenger(setup):
    d = setup["dir"]
    out = d / "paper"
    proc = run_runner("runners.paper", ["--model", "wdo-mon@1", "--challenger", "wdo-mon@2", "--registry",
                                        setup["reg"], "--replay", setup["shifted"], "--symbol", "WDO", "--out", out,
                                        "--quiet"], d)
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    rules = {a["rule"] for a in metrics["monitor"]["alerts"]}
    assert "feature_drift" in rules
    assert all(pd.Timestamp(a["time"]) >= setup["shift_at"] for a in metrics["monitor"]["alerts"]
               if a["rule"] == "feature_drift")
    lines = (out / "alerts.jsonl").read_text().splitlines()
    assert len(lines) == len(metrics["monitor"]["alerts"])
    assert (out / "drift.csv").exists() and not (out / "drift.partial.csv").exists()
    # the shadow challenger is the same model: the same decisions, no trade of its own, nothing to prefer
    shadow = metrics["shadow"]
    assert shadow["decisions"] == len(pd.read_parquet(out / "decisions.parquet"))
    trades = pd.read_csv(out / "trades.csv")
    assert shadow["net_pnl"] == pytest.approx(shadow["champion_net_pnl"])
    assert shadow["net_pnl"] == pytest.approx(trades.loc[trades["closed"], "net_pnl"].sum())   # a number
    assert shadow["comparison"]["verdict"] == "the same session returns: nothing to choose between them"
    shadow_log = pd.read_parquet(out / "shadow_decisions.parquet")
    assert (shadow_log["side"].to_numpy() == pd.read_parquet(out / "decisions.parquet")["side"].to_numpy()).all()
    live = json.loads((out / "live.json").read_text())
    assert live["currency"] == "BRL" and live["challenger"] == "wdo-mon@2"


def test_retrain_on_drift_stages_a_challenger_and_keeps_the_champion(setup):
    d = setup["dir"]
    reg = ModelRegistry(setup["reg"])
    reg.promote("wdo-mon", 1)
    base = ["--model", "wdo-mon@champion", "--registry", setup["reg"], "--symbol", "WDO", "--quiet"]
    calm = run_runner("runners.monitor", [*base, "--data", setup["plain"], "--out", d / "r-plain", "--retrain",
                                          "schedule", "--retrain-every", "20"], d)      # 4 sessions since training
    assert calm.returncode == 0 and "retrain: not due (schedule)" in calm.stdout, calm.stderr[-2000:]
    proc = run_runner("runners.monitor", [*base, "--data", setup["shifted"], "--out", d / "r-shift", "--retrain",
                                          "drift", "--retrain-data", setup["history"]], d)
    assert proc.returncode == 0, proc.stderr[-2000:]
    retrain = json.loads((d / "r-shift" / "monitor.json").read_text())["retrain"]
    assert retrain["due"] and retrain["reason"].startswith("drift: feature_drift")
    v = retrain["version"]
    assert reg.stage("wdo-mon", v) == "challenger" and reg.version_at("wdo-mon", "champion") == 1
    new = reg.load_bundle(f"wdo-mon@{v}")
    assert pd.Timestamp(new.training["train_end"]) > pd.Timestamp(reg.load_bundle("wdo-mon@1").training["train_end"])
    assert reg.stage_history("wdo-mon")[-1]["reason"] == "retrain"
    assert f"wdo-mon@{v} staged as challenger" in proc.stdout


def test_canary_trades_the_challenger_at_a_fraction_of_its_size(setup):
    d = setup["dir"]
    reg = ModelRegistry(setup["reg"])
    b = reg.load_bundle("wdo-mon@1")
    big = type(b)(**{**b.__dict__, "sizing": {**b.sizing, "contracts": 4.0}})
    v = reg.register(big, name="wdo-canary")
    base = ["--model", "wdo-mon@1", "--registry", setup["reg"], "--replay", setup["plain"], "--symbol", "WDO",
            "--quiet"]
    refused = run_runner("runners.paper", [*base, "--canary", "0.5", "--out", d / "c0"], d)
    assert refused.returncode == 2 and "--canary needs --challenger" in refused.stderr
    proc = run_runner("runners.paper", [*base, "--challenger", f"wdo-canary@{v}", "--canary", "0.5",
                                        "--out", d / "canary"], d)
    assert proc.returncode == 0, proc.stderr[-2000:]
    shadow = json.loads((d / "canary" / "metrics.json").read_text())["shadow"]
    assert shadow["mode"] == "canary at 0.5 of its size (2 contract(s))"
    trades = pd.read_csv(d / "canary" / "canary_trades.csv")
    assert len(trades) and set(trades["qty"]) == {2.0}
    assert "Challenger wdo-canary@" in (d / "canary" / "report.html").read_text()
