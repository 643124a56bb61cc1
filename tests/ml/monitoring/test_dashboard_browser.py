"""The run dashboard in headless Chromium: it loads, shows the run, updates as decisions arrive, logs no error.

The server listens on 127.0.0.1 on a free port and stops by itself (tests._browser: Debian's chromium driven
by Playwright's Python package).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ml.monitoring.dashboard import build_app, read_run, serve
from tests._browser import chromium_page
TZ = "America/Sao_Paulo"


def _decisions(n: int) -> pd.DataFrame:
    idx = pd.date_range("2024-03-01 09:00", periods=n, freq="min", tz=TZ, name="time")
    rng = np.random.default_rng(0)
    p = np.clip(0.5 + rng.normal(0, 0.08, n), 0, 1)
    side = np.where(p > 0.55, 1, np.where(p < 0.45, -1, 0))
    return pd.DataFrame({"arrival": 0.0, "decided": 0.0, "features_hash": "ab" * 8, "probability": p, "side": side,
                         "alert": "", "latency_ms": rng.uniform(0.5, 2.0, n),
                         "close": 5000 + np.cumsum(rng.normal(0, 1, n))}, index=idx)


def _write(folder, n):
    d = _decisions(n)
    tmp = folder / "tmp.parquet"
    d.to_parquet(tmp)
    tmp.replace(folder / "decisions.partial.parquet")        # atomically, as the paper runner does
    return d


@pytest.fixture
def run_dir(tmp_path):
    (tmp_path / "live.json").write_text(json.dumps({
        "model": "wdo@3", "describe": "LogisticModel on 8 features, WDO", "challenger": None, "instrument": "WDO",
        "currency": "BRL", "multiplier": 10.0, "contracts": 1.0, "timezone": TZ, "bars": 500, "speed": 60}))
    return tmp_path


def test_read_run_provisional_equity_by_hand(run_dir):
    d = _write(run_dir, 5)
    r = read_run(run_dir)
    assert not r["finished"] and r["provisional"] and r["timezone"] == TZ
    # the side decided at a bar earns the next close-to-close move, times multiplier 10 and 1 contract
    expect = np.r_[0.0, np.cumsum(d["side"].to_numpy()[:-1] * np.diff(d["close"].to_numpy()) * 10.0)]
    assert np.allclose(r["equity"].to_numpy(), expect)


def test_dashboard_in_headless_chromium_updates_as_decisions_arrive(run_dir):
    server = serve(build_app(run_dir, refresh=0.3), port=0, stop_after=90)
    url = f"http://127.0.0.1:{server.port}/"
    try:
        with chromium_page() as (page, errors):
            page.goto(url, wait_until="load")
            # nothing decided yet: a clear empty state, no empty panel
            page.wait_for_function("document.querySelector('#status') && "
                                   "document.querySelector('#status').innerText.includes('waiting')")
            assert "no data yet" in page.inner_text("#drift")
            assert "no data yet" in page.inner_text("#position")
            assert "no challenger" in page.inner_text("#challenger")
            _write(run_dir, 30)
            page.wait_for_function("document.querySelector('#status').innerText.includes('30 of 500')",
                                   timeout=15000)
            status = page.inner_text("#status")
            last = _decisions(30).index[-1]
            assert f"last bar {last}" in status and TZ in status
            assert page.locator("#decisions tbody tr").count() == 15
            assert page.locator("#equity .scatterlayer path").count() >= 1
            assert TZ in page.inner_text("#equity")           # the time axis says its zone
            # new decisions and an alert arrive while the page is open
            _write(run_dir, 60)
            (run_dir / "alerts.jsonl").write_text(json.dumps({
                "rule": "feature_drift", "subject": "features", "value": 9, "threshold": 4.5,
                "time": "2024-03-01 09:59:00-03:00", "message": "9 of 87 features drifted",
                "level": "warning"}) + "\n")
            page.wait_for_function("document.querySelector('#status').innerText.includes('60 of 500')",
                                   timeout=15000)
            page.wait_for_selector("#alerts li.alert", timeout=15000)
            assert "feature_drift" in page.inner_text("#alerts")
            side = {1: "long", -1: "short", 0: "flat"}[int(_decisions(60)["side"].iloc[-1])]
            assert page.inner_text("#position-side") == side
    finally:
        server.shutdown()
    assert errors == []


def test_dashboard_runner_says_what_does_not_fit(run_dir, tmp_path):
    import socket

    from tests.runners._subprocess import run_runner

    proc = run_runner("runners.dashboard", ["--run", tmp_path / "nowhere"], tmp_path)
    assert proc.returncode == 2 and "no such folder" in proc.stderr
    (tmp_path / "empty").mkdir()
    proc = run_runner("runners.dashboard", ["--run", tmp_path / "empty"], tmp_path)   # a folder, but not a run
    assert proc.returncode == 2 and "not a paper or live run folder" in proc.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run_runner("runners.dashboard", ["--run", run_dir, "--port", port, "--stop-after", "5"], tmp_path)
    assert proc.returncode == 2 and f"--port {port}: cannot listen" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = run_runner("runners.dashboard", ["--run", run_dir, "--port", "0", "--stop-after", "0.5"], tmp_path)
    assert proc.returncode == 0 and "dashboard of" in proc.stdout and "http://127.0.0.1:" in proc.stdout
