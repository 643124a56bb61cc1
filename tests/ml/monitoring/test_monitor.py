"""The model monitor on synthetic streams with known drift, alerts and their sinks (a webhook on 127.0.0.1)."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pandas as pd
import pytest

from ml.exceptions import ParameterError
from ml.monitoring import Alerts, JsonLines, ModelMonitor, MonitorReference, MonitorThresholds, Webhook


def _reference(n=3000, seed=0):
    """10 sessions of 300 rows: features N(0, 1), probabilities U(0.3, 0.7) with outcomes drawn from them."""
    rng = np.random.default_rng(seed)
    feats = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    p = rng.uniform(0.3, 0.7, size=n)
    y = (rng.uniform(size=n) < p).astype(float)
    sessions = np.repeat(np.arange(10), n // 10)
    return MonitorReference(features=feats, feature_sessions=sessions, probability=p, outcome=y,
                            oos_sessions=sessions, session_returns=rng.normal(0.001, 0.005, size=40),
                            trade_wins=(rng.uniform(size=200) < 0.55).astype(float), horizon=5)


def _stream(mon, n, scale=1.0, seed=1, p_shift=0.0, start=0):
    """n bars of features N(0, scale) (columns a and b; c unchanged) and a random-walk close whose moves
    the probability predicts as the reference does."""
    rng = np.random.default_rng(seed)
    times = pd.date_range("2024-01-02 09:00", periods=start + n, freq="min", tz="America/Sao_Paulo")[start:]
    close = 100.0
    raised = []
    for t in times:
        x = rng.normal(size=3) * [scale, scale, 1.0]
        p = float(np.clip(rng.uniform(0.3, 0.7) + p_shift, 0, 1))
        close += rng.normal()
        raised += mon.update(t, x, p, close)
    return raised, times


TH = MonitorThresholds(window=300, every=50, adversarial_every=300)


def test_no_alert_on_the_reference_distribution():
    mon = ModelMonitor(_reference(), TH)
    raised, _ = _stream(mon, 2000)
    assert [a.rule for a in raised if a.rule != "ece" and a.rule != "brier_increase"] == []
    table = mon.drift_table()
    assert len(table) == (2000 - 300) // 50 + 1
    assert table["features_drifted"].max() < TH.min_features
    assert table["adversarial_auc"].dropna().max() < TH.adversarial_auc


def test_tripled_features_raise_feature_drift_within_the_window_once():
    mon = ModelMonitor(_reference(), TH)
    _, calm = _stream(mon, 600)
    raised, times = _stream(mon, 900, scale=3.0, seed=2, start=600)
    drift = [a for a in raised if a.rule == "feature_drift"]
    assert len(drift) == 1                        # said once while it persists
    delay = int((times <= pd.Timestamp(drift[0].time)).sum())
    assert delay <= TH.window, delay              # half the window shifted is enough; documented bound: window
    assert drift[0].threshold == TH.min_features - 0.5 and drift[0].value >= 2
    assert "a PSI" in drift[0].message and "b PSI" in drift[0].message
    assert any(a.rule == "adversarial_auc" for a in raised)


def test_prediction_and_calibration_drift():
    mon = ModelMonitor(_reference(), TH)
    raised, _ = _stream(mon, 900, p_shift=0.3)    # probabilities 0.6-1.0 on a coin-flip close
    rules = {a.rule for a in raised}
    assert {"prediction_psi", "brier_increase", "ece"} <= rules
    row = mon.drift_table().iloc[-1]
    # the window's Brier score of p ~ U(0.6, 1) on coin flips: E[(p - y)^2] = E[p^2] - E[p] + 1/2
    expect = (1.0 ** 3 - 0.6 ** 3) / (3 * 0.4) - 0.8 + 0.5
    assert row["brier"] == pytest.approx(expect, abs=0.03)


def test_results_against_the_bands():
    ref = _reference()
    mon = ModelMonitor(ref, TH)
    good = mon.performance(pd.Series([0.001] * 5, index=pd.date_range("2024-01-02", periods=5)),
                           trade_wins=[1, 0, 1, 1, 0, 1])
    assert good["band_low"] < good["cumulative_return"] < good["band_high"] and not mon.alerts.raised
    bad = mon.performance(pd.Series([-0.02] * 5, index=pd.date_range("2024-01-02", periods=5)),
                          trade_wins=[0] * 30)
    assert bad["cumulative_return"] == pytest.approx(-0.1)
    assert {a.rule for a in mon.alerts.raised} == {"pnl_below_band", "hit_rate_below_band"}
    assert mon.alerts.raised[0].time == str(pd.Timestamp("2024-01-06"))


def test_thresholds_are_checked_and_read_from_a_table():
    assert MonitorThresholds.from_dict({"window": 100}).window == 100
    with pytest.raises(ParameterError, match="Did you mean 'window'"):
        MonitorThresholds.from_dict({"windw": 100})
    with pytest.raises(ParameterError, match="`every`"):
        MonitorThresholds(every=0)
    with pytest.raises(ParameterError, match="`adversarial_auc`"):
        MonitorThresholds(adversarial_auc=0.3)


def test_alerts_fire_once_per_condition_and_again_after_it_clears(tmp_path):
    got = []
    alerts = Alerts([got.append, JsonLines(tmp_path / "alerts.jsonl")])
    for v in (0.1, 0.5, 0.6, 0.7, 0.1, 0.8):
        alerts.check("feature_psi", "x", v, 0.25, time=f"t{v}")
    assert [a.value for a in got] == [0.5, 0.8]
    lines = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [ln["rule"] for ln in lines] == ["feature_psi"] * 2
    assert set(lines[0]) == {"rule", "subject", "value", "threshold", "time", "message", "level"}
    assert lines[0]["threshold"] == 0.25 and lines[0]["time"] == "t0.5"
    # below-threshold rules, and a broken sink does not stop the others
    alerts = Alerts([lambda a: 1 / 0, got.append])
    assert alerts.check("pnl_below_band", "results", -0.2, -0.1, "t", above=False) is not None
    assert got[-1].rule == "pnl_below_band"


class _Hook(BaseHTTPRequestHandler):
    fail_first = 1
    bodies: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        cls = type(self)
        if cls.fail_first > 0:
            cls.fail_first -= 1
            self.send_response(503)
        else:
            cls.bodies.append(json.loads(body))
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhook_retries_and_gives_up_without_raising():
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        hook = Webhook(f"http://127.0.0.1:{server.server_port}/alerts", retries=2, backoff=0.01)
        alerts = Alerts([hook])
        alerts.check("ece", "calibration", 0.3, 0.15, "2024-01-02 10:00:00-03:00")
        assert hook.delivered == 1 and hook.failed == 0          # the first try got 503, the retry 200
        assert _Hook.bodies[-1]["rule"] == "ece" and _Hook.bodies[-1]["value"] == 0.3
    finally:
        server.shutdown()
        server.server_close()
    down = Webhook(f"http://127.0.0.1:{server.server_port}/alerts", retries=1, timeout=0.5, backoff=0.01)
    t0 = time.perf_counter()
    Alerts([down]).check("ece", "calibration", 0.3, 0.15, "t")
    assert down.failed == 1 and down.delivered == 0 and time.perf_counter() - t0 < 3
