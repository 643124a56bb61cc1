"""Tests of ``engines.report``: the quantstats tearsheet and the atomic metrics.json writer."""

from __future__ import annotations

import json
import logging
import math
import socket
import warnings

import numpy as np
import pandas as pd
import pytest

from engines import report
from engines.metrics import daily_returns, summarize
from engines.simulate import Costs, simulate
from ml.data import continuous_contract, load_bars, sample_path
from ml.exceptions import ParameterError
from strategies import ProbabilityThresholdStrategy, session_facts


@pytest.fixture(scope="module")
def bars():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return continuous_contract(load_bars(sample_path("wdo"))).iloc[:3000]


@pytest.fixture(scope="module")
def result(bars):
    close = bars["close"]
    z = (close - close.rolling(30).mean()) / close.rolling(30).std()
    sides = ProbabilityThresholdStrategy(0.7, 0.3, min_holding=5).sides(1.0 / (1.0 + np.exp(-z)), bars)
    return simulate(bars, sides, costs=Costs(commission_per_contract=1.5))


@pytest.fixture(scope="module")
def sheet(result, bars, tmp_path_factory):
    """One tearsheet, written with the network cut off and quantstats.reports.html spied on."""
    import quantstats as qs

    calls = []
    original = qs.reports.html

    def spy(returns, *args, **kwargs):
        calls.append((returns.copy(), args, dict(kwargs)))
        return original(returns, *args, **kwargs)

    def no_network(*args, **kwargs):
        raise OSError("network access attempted during the tearsheet")

    font_level = logging.getLogger("matplotlib.font_manager").level
    path = tmp_path_factory.mktemp("report") / "sub" / "tearsheet.html"
    benchmark = bars["close"].pct_change().fillna(0.0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(qs.reports, "html", spy)
        mp.setattr(socket.socket, "connect", no_network)
        mp.setattr(socket, "create_connection", no_network)
        out = report.tearsheet(result.returns, benchmark, path, calendar="B3", title="WDO z-score test")
    return {"out": out, "path": path, "calls": calls, "font_level": font_level}


def test_tearsheet_html_written_with_title_and_metrics(sheet):
    assert sheet["out"] == sheet["path"] and sheet["path"].is_file()
    html = sheet["path"].read_text(encoding="utf-8")
    assert "WDO z-score test" in html
    for name in ("Sharpe", "Sortino", "Max Drawdown", "Cumulative Return"):
        assert name in html
    assert "Periods/Year: 247" in html  # B3 sessions in 2021, the bars' year


def test_quantstats_gets_session_returns(sheet, result, bars):
    (returns, args, kwargs), = sheet["calls"]
    n_sessions = len(np.unique(session_facts(bars).session))
    # one return per session, after a zero return the day before the first: the equity starts at 1
    assert len(returns) == n_sessions + 1 == 7
    expected = daily_returns(result.returns, "B3")
    assert returns.iloc[0] == 0.0 and returns.index[0] == expected.index[0] - pd.Timedelta(days=1)
    np.testing.assert_allclose(returns.to_numpy()[1:], expected.to_numpy(), rtol=1e-12)
    assert returns.index.tz is None
    assert kwargs["periods_per_year"] == 247  # B3 had 247 sessions in 2021
    bench = kwargs["benchmark"]
    assert isinstance(bench, pd.Series) and len(bench) == n_sessions + 1 and bench.iloc[0] == 0.0
    assert logging.getLogger("matplotlib.font_manager").level == sheet["font_level"]  # restored


def test_tearsheet_refuses_ticker_strings_and_bar_frames(result, tmp_path):
    with pytest.raises(TypeError, match="network"):
        report.tearsheet(result.returns, "^BVSP", tmp_path / "x.html", calendar="B3")
    with pytest.raises(TypeError, match="Series"):
        report.tearsheet(result.returns.to_numpy(), None, tmp_path / "x.html", calendar="B3")
    with pytest.raises(ParameterError, match="path"):
        report.tearsheet(result.returns, calendar="B3")
    assert not (tmp_path / "x.html").exists()


def test_metrics_json_round_trip_nan_to_null(result, tmp_path):
    summary = summarize([0.01, -0.02, 0.03], periods_per_year=252)  # trade metrics are NaN
    summary["profit_factor"] = float("inf")
    summary["extra"] = {"n": np.int64(3), "x": np.float64(0.5), "arr": np.array([1.0, np.nan])}
    path = report.metrics_json(summary, tmp_path / "run" / "metrics.json")
    text = path.read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    back = json.loads(text)
    assert back["win_rate"] is None and back["n_trades"] is None and back["profit_factor"] is None
    assert back["sharpe"] == summary["sharpe"] and back["max_drawdown"] == summary["max_drawdown"]
    assert back["extra"] == {"n": 3, "x": 0.5, "arr": [1.0, None]}
    assert list(back)[: len(summary) - 1] == list(result.metrics)[: len(summary) - 1]  # key order kept
    sim = json.loads(report.metrics_json(result.metrics, tmp_path / "sim.json").read_text())
    for k, v in result.metrics.items():
        assert sim[k] == (None if isinstance(v, float) and not math.isfinite(v) else v)


def test_metrics_json_atomic_leaves_no_temp_file(tmp_path):
    path = tmp_path / "metrics.json"
    report.metrics_json({"sharpe": 1.0}, path)
    report.metrics_json({"sharpe": 2.0}, path)  # replaces
    assert json.loads(path.read_text()) == {"sharpe": 2.0}
    with pytest.raises(TypeError, match="not JSON"):
        report.metrics_json({"sharpe": 3.0, "bad": object()}, path)
    assert json.loads(path.read_text()) == {"sharpe": 2.0}  # old file intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
    with pytest.raises(TypeError, match="dict"):
        report.metrics_json([1, 2], path)


def test_metrics_json_failed_replace_removes_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    report.metrics_json({"sharpe": 1.0}, path)

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(report.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        report.metrics_json({"sharpe": 2.0}, path)
    assert json.loads(path.read_text()) == {"sharpe": 1.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def _cell(page: str, name: str) -> str:
    import re

    found = re.findall(f"<tr><td>{re.escape(name)}</td><td>([^<]*)</td>", page)
    assert found, name
    return found[0]


def test_losing_run_tearsheet_has_its_drawdown_exposure_and_basis(losing_tearsheet):
    res, path = losing_tearsheet
    page = path.read_text(encoding="utf-8")
    daily = daily_returns(res.returns, "B3")
    assert daily.iloc[0] < 0                             # it starts in drawdown
    # by hand: equity from 1, drawdown from the running peak (1 at the start)
    equity = np.cumprod(1 + daily.to_numpy())
    hand = float(np.min(equity / np.maximum.accumulate(np.r_[1.0, equity])[1:] - 1))
    assert _cell(page, "Max Drawdown") == f"{100 * hand:.2f}%"
    table = page[page.index("Worst 10 Drawdowns"):]
    assert table.index("<tbody>\n<tr>") < table.index("</tbody>")   # at least one drawdown row
    exposure = float(np.mean(res.positions.to_numpy() != 0))
    assert 0 < exposure < 1
    assert _cell(page, "Time in Market") == f"{100 * exposure:.1f}% (bars)"
    assert "the run's report gives" in page and f"{res.metrics['sharpe']:.2f}" in page
    assert 'onload="save()"' not in page and "qtpylib.io" not in page
    # 6 sessions, a half-year window: the rolling charts say why they are not drawn
    assert page.count("not drawn, the run spans 6 sessions") == 4
