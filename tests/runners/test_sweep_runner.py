"""runners.sweep, invoked as a user would (tests.runners._subprocess.run_runner) on the bundled WDO sample.

One sweep over written predictions is shared by most tests (module fixture);
resume, config file and flag override reuse its folder; one small run trains
its own probabilities with ``--model``; user errors run concurrently.
"""

import json
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.runners._subprocess import run_runner, runner_env

GRID = "long=0.52:0.58:0.02,holding=5,10,stop_atr=0,2"  # 4 x 2 x 2 = 16 combinations
N_COMBOS = 16


def _env():
    return runner_env()


def start(args, cwd):
    return subprocess.Popen([sys.executable, "-m", "runners.sweep", *map(str, args)], cwd=cwd, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=600):
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run(args, cwd):
    return run_runner("runners.sweep", args, cwd)


def results_dir(proc) -> Path:
    return Path(proc.stdout.strip().split("results: ")[-1])


@pytest.fixture(scope="module")
def bars():
    from runners._pipeline import load_instrument

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_instrument(None)[0]


@pytest.fixture(scope="module")
def predictions(bars, tmp_path_factory):
    """predictions.parquet in runners.walkforward's layout over the last 4,000 bars (about 7 sessions)."""
    idx = bars.index[-4000:]
    rng = np.random.default_rng(0)
    mom = np.log(bars["close"].loc[idx]).diff(5).fillna(0.0).to_numpy()
    p1 = np.clip(0.33 + 40 * mom + rng.normal(0, 0.05, len(idx)), 0.01, 0.9)
    pm1 = np.clip(0.33 - 40 * mom + rng.normal(0, 0.05, len(idx)), 0.01, 0.9)
    df = pd.DataFrame({"fold": np.repeat([0, 1], 2000), "p_-1": pm1, "p_0": np.clip(1 - p1 - pm1, 0, 1),
                       "p_1": p1}, index=pd.DatetimeIndex(idx, name="timestamp"))
    df["p_up"] = df["p_1"]
    df["probability"] = df["p_1"] / (df["p_1"] + df["p_-1"])
    df["label"] = np.sign(rng.normal(size=len(idx)))
    df["ret"] = 0.0
    df["t1"] = idx
    path = tmp_path_factory.mktemp("preds") / "predictions.parquet"
    df.to_parquet(path)
    return path


@pytest.fixture(scope="module")
def first(predictions, tmp_path_factory):
    """The shared sweep, plus the concurrent --model run started beside it."""
    cwd = tmp_path_factory.mktemp("user")
    model_proc = start(["--quiet", "--symbol", "WDOF22", "--model", "random_forest", "--model-param",
                        "n_estimators=10", "--model-param", "max_depth=4", "--n-features", "5",
                        "--train-sessions", "10", "--test-sessions", "5", "--grid", "long=0.52,0.56",
                        "--monte-carlo", "20", "--out", cwd / "model"], cwd)
    proc = run(["--predictions", predictions, "--grid", GRID, "--chunk-size", "4", "--top", "5",
                "--monte-carlo", "50", "--best-null", "19", "--portfolio", "2", "--seed", "3", "--out", cwd / "a"],
               cwd)
    if proc.returncode != 0:
        model_proc.kill()
        model_proc.communicate()
    assert proc.returncode == 0, proc.stderr
    out = results_dir(proc)
    yield {"proc": proc, "out": out, "cwd": cwd, "sweep": pd.read_parquet(out / "sweep.parquet"),
           "metrics": json.loads((out / "metrics.json").read_text()),
           "run": json.loads((out / "run.json").read_text()), "model_proc": model_proc}
    if model_proc.poll() is None:  # its test was deselected
        model_proc.kill()
        model_proc.communicate()


def test_writes_every_report(first):
    out = first["out"]
    assert out == (first["cwd"] / "a").resolve()
    for name in ("sweep.parquet", "top_k.csv", "heatmaps.html", "metrics.json", "monte_carlo.json",
                 "monte_carlo.parquet", "tearsheet.html", "trades.csv", "equity.csv", "run.json", "config.toml",
                 "run.log"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert not list(out.glob(".*.tmp*")), "temporary files left behind"
    assert "<html" in (out / "tearsheet.html").read_text(errors="ignore").lower()


def test_sweep_parquet_has_every_combination_and_its_metrics(first):
    from engines.sweep import RESULT_COLUMNS, overfitting

    df = first["sweep"]
    assert list(df.index.names) == ["long_threshold", "min_holding", "sl_atr"]  # aliases resolved
    assert list(df.columns) == list(RESULT_COLUMNS)
    assert len(df) == N_COMBOS and not df.index.has_duplicates
    assert sorted(set(df.index.get_level_values("long_threshold"))) == [0.52, 0.54, 0.56, 0.58]
    assert df.attrs["n_trials"] == N_COMBOS
    # the file is a complete sweep() result: overfitting() runs on it and agrees with metrics.json
    ovf = overfitting(df)
    assert ovf["dsr"] == pytest.approx(first["metrics"]["deflated_sharpe"], abs=1e-12)
    assert ovf["pbo"] == pytest.approx(first["metrics"]["pbo"], abs=1e-12)


def test_top_k_is_sorted_by_sharpe_and_printed(first):
    top = pd.read_csv(first["out"] / "top_k.csv")
    assert list(top["rank"]) == [1, 2, 3, 4, 5]
    assert top["sharpe"].is_monotonic_decreasing
    expected = first["sweep"]["sharpe"].sort_values(ascending=False).head(5).to_numpy()
    np.testing.assert_allclose(top["sharpe"].to_numpy(), expected)
    stdout = first["proc"].stdout
    assert "top 5 of 16 combinations by Sharpe" in stdout
    assert re.search(r"rank\s+long_threshold\s+min_holding\s+sl_atr\s+sharpe", stdout)


def test_metrics_json_holds_overfitting_and_the_best_rerun(first):
    m = first["metrics"]
    for key in ("sharpe", "sortino", "max_drawdown", "win_rate", "profit_factor", "n_trades", "deflated_sharpe",
                "deflated_sharpe_p_value", "pbo", "n_trials", "n_trials_source", "best", "sweep_best",
                "engine_check"):
        assert key in m, key
    assert m["n_trials"] == N_COMBOS and f"this sweep's {N_COMBOS} combinations" in m["n_trials_source"]
    assert m["overfitting"]["counted"]["by_kind"] == {"sweep": N_COMBOS}
    assert 0.0 <= m["deflated_sharpe"] <= 1.0 and 0.0 <= m["pbo"] <= 1.0
    top = pd.read_csv(first["out"] / "top_k.csv").iloc[0]
    assert m["best"] == {"long_threshold": top["long_threshold"], "min_holding": int(top["min_holding"]),
                         "sl_atr": top["sl_atr"]}
    assert m["engine"] == "backtrader"
    # same costs in both engines: the backtrader re-run reproduces the sweep's row
    assert m["engine_check"]["same_costs"] and m["engine_check"]["trades_equal"]
    assert m["sharpe"] == pytest.approx(m["sweep_best"]["sharpe"], rel=1e-9)
    assert m["n_trades"] == m["sweep_best"]["n_trades"]


def test_backtrader_trades_equal_the_simulators_for_the_best(first, bars, predictions):
    from engines.simulate import Costs
    from engines.sweep import rerun
    from strategies import ProbabilityThresholdStrategy

    proba = pd.read_parquet(predictions)["probability"]
    oos = bars.loc[proba.index[0]:]
    oos.attrs = dict(bars.attrs)
    sim = rerun(oos, proba, first["metrics"]["best"], strategy=ProbabilityThresholdStrategy(), contract="WDO",
                costs=Costs(commission_per_contract=1.5, slippage_ticks=1.0)).result
    trades = pd.read_csv(first["out"] / "trades.csv")
    assert len(trades) == len(sim.trades) > 10
    for col in ("entry_idx", "exit_idx", "side", "qty", "entry_price", "exit_price", "net_pnl"):
        np.testing.assert_allclose(trades[col].to_numpy(float), sim.trades[col].to_numpy(float), atol=1e-6)
    eq = pd.read_csv(first["out"] / "equity.csv", index_col=0)
    assert len(eq) == len(oos) == 4000
    np.testing.assert_allclose(eq["equity"].to_numpy(), sim.equity.to_numpy(), atol=1e-6)


def test_monte_carlo_json_has_three_methods(first):
    mc = json.loads((first["out"] / "monte_carlo.json").read_text())
    assert mc["best"] == first["metrics"]["best"]
    assert set(mc["methods"]) == {"trades", "block", "random_entry"}
    for method, res in mc["methods"].items():
        assert res["n"] == 50 and res["seed"] == 3, method
        assert set(res["quantiles"]) == {"0.05", "0.25", "0.5", "0.75", "0.95"}
        q = [res["quantiles"][k]["sharpe"] for k in ("0.05", "0.5", "0.95")]
        assert q == sorted(q)
        assert all(0 < p <= 1 for p in res["p_values"].values())
    assert set(mc["methods"]["random_entry"]["p_values"]) == {"sharpe", "max_drawdown", "final_return"}
    draws = pd.read_parquet(first["out"] / "monte_carlo.parquet")
    assert draws.groupby("method").size().to_dict() == {"block": 50, "random_entry": 50, "trades": 50}
    # the in-sample best's p-values say they are not adjusted; the best-of-grid null is, and decides
    assert all("not adjusted" in res["basis"] for res in mc["methods"].values())
    grid = mc["best_of_grid"]
    assert grid["n"] == len(grid["null"]) == 19 and grid["n_combinations"] == len(first["sweep"])
    assert grid["observed"] == pytest.approx(first["sweep"]["sharpe"].max())
    assert grid["p_value"] == pytest.approx((1 + sum(v is not None and v >= grid["observed"]
                                                     for v in grid["null"])) / 20)
    v = first["metrics"]["verdict"]
    assert v["permutation_p_value"] == pytest.approx(grid["p_value"]) and v["p_value_basis"] == "best-of-grid null"
    assert f"best-of-grid null p-value {grid['p_value']:.3f}" in first["proc"].stdout


def test_portfolio_flag_writes_the_top_k_as_vectorbt_portfolios(first):
    import vectorbt as vbt

    index = json.loads((first["out"] / "portfolios" / "index.json").read_text())["portfolios"]
    assert [p["rank"] for p in index] == [1, 2]
    for entry in index:
        pf = vbt.Portfolio.load(str(first["out"] / "portfolios" / entry["file"]))
        assert len(pf.orders.values) > 0
        if entry["kind"] == "vectorbt engine":
            assert entry["vectorbt_sharpe"] == pytest.approx(entry["sweep_sharpe"], rel=1e-9)
        else:
            assert entry["kind"] == "rebuilt from the simulator's fills"


def test_heatmaps_are_one_offline_page_per_parameter_pair(first):
    text = (first["out"] / "heatmaps.html").read_text()
    assert text.count("Plotly.newPlot") == 3  # (long, holding), (long, sl), (holding, sl)
    assert len(re.findall(r"plotly\.js v\d", text)) == 1  # the library once
    assert not re.search(r"<script[^>]+src=\"http", text)  # nothing fetched: works offline
    assert "long_threshold x min_holding (best over sl_atr)" in text


def test_run_json_records_config_hashes_versions_and_chunks(first):
    r = first["run"]
    assert r["seed"] == 3 and len(r["data_hash"]) == 16
    assert r["chunks"] == {"total": 4, "reused": 0, "computed": 4, "stale_removed": 0, "chunk_size": 4}
    assert r["n_combinations"] == N_COMBOS
    assert r["predictions"]["source"] == "file" and r["predictions"]["oos_bars"] == 4000
    assert r["predictions"]["column"] == "probability"
    assert {"numpy", "pandas", "numba", "vectorbt", "backtrader", "quantstats", "plotly"} <= set(r["versions"])
    assert "code_version" in r and {"sweep", "monte_carlo", "backtrader", "total"} <= set(r["timings"])
    assert r["config"]["grid"] == GRID and r["config"]["commission"] == 1.5
    assert len(list((first["out"] / "chunks").glob("chunk-*.parquet"))) == 4
    # what the results depend on is stated: the preset from the symbol, its calendar and costs
    a = r["assumptions"]
    assert a["preset"] == "WDO" and a["instrument"]["multiplier"] == 10 and a["calendar"]["name"] == "B3"
    assert a["costs"]["commission_per_contract"] == 1.5 and "stop is assumed first" in a["fill_order"]
    assert r["account"]["blown"] is False
    m = json.loads((first["out"] / "metrics.json").read_text())
    assert m["account_blown"] is False and "ambiguous_exits" in m
    # the verdict leads metrics.json and the heatmaps page; its trials are the combinations swept
    assert list(m)[0] == "verdict" and m["verdict"]["n_trials"] == N_COMBOS
    assert m["verdict"]["verdict"] in ("no evidence of an edge", "an edge before costs that costs remove",
                                       "evidence of an edge after costs")
    assert "chosen in-sample" in m["verdict"]["why"] and m["frictionless"]["pnl"] >= m["verdict"]["net_pnl"]
    page = (first["out"] / "heatmaps.html").read_text()
    assert page.index("Verdict: ") < page.index("combinations of")


def test_resume_config_file_and_flag_override(first, tmp_path):
    """A rerun in the same folder from its config.toml reuses every chunk and gives the same results;
    a flag overrides the file; a changed cost setting makes the chunks stale."""
    out = tmp_path / "resume"
    shutil.copytree(first["out"], out)
    again = run(["--config", out / "config.toml", "--monte-carlo", "20", "--portfolio", "0", "--best-null", "0",
                 "--quiet", "--out", out], tmp_path)
    assert again.returncode == 0, again.stderr
    lines = again.stdout.strip().splitlines()           # --quiet: only the verdict and the results line
    assert len(lines) == 2 and lines[0].startswith("verdict: ") and lines[1] == f"results: {out.resolve()}"
    r = json.loads((out / "run.json").read_text())
    assert r["chunks"]["reused"] == 4 and r["chunks"]["computed"] == 0
    assert "reused 4 of 4 finished sweep chunk(s)" in (out / "run.log").read_text()
    pd.testing.assert_frame_equal(pd.read_parquet(out / "sweep.parquet"), first["sweep"])
    m = json.loads((out / "metrics.json").read_text())
    assert m["best"] == first["metrics"]["best"] and m["deflated_sharpe"] == first["metrics"]["deflated_sharpe"]
    mc = json.loads((out / "monte_carlo.json").read_text())
    assert mc["methods"]["trades"]["n"] == 20  # the flag beat the file's monte_carlo = 50
    assert r["config"]["monte_carlo"] == 20 and r["config"]["grid"] == GRID  # the rest came from the file

    changed = run(["--config", out / "config.toml", "--commission", "2.5", "--monte-carlo", "0", "--portfolio", "0",
                   "--best-null", "0", "--quiet", "--out", out], tmp_path)
    assert changed.returncode == 0, changed.stderr
    r = json.loads((out / "run.json").read_text())
    assert r["chunks"]["reused"] == 0 and r["chunks"]["computed"] == 4 and r["chunks"]["stale_removed"] == 4
    log = (out / "run.log").read_text()
    assert "settings changed since the last run" in log and "commission_per_contract" in log
    costlier = pd.read_parquet(out / "sweep.parquet")
    assert (costlier["final_equity"] < first["sweep"]["final_equity"]).all()
    assert len(list((out / "chunks").glob("chunk-*.parquet"))) == 4


def test_model_trains_out_of_sample_probabilities(first):
    proc = finish(first["model_proc"])
    assert proc.returncode == 0, proc.stderr
    out = results_dir(proc)
    preds = pd.read_parquet(out / "predictions.parquet")
    assert {"fold", "p_-1", "p_0", "p_1", "p_up", "probability", "label", "ret", "t1"} <= set(preds.columns)
    assert preds.index.name == "timestamp" and preds.index.tz is not None
    r = json.loads((out / "run.json").read_text())
    assert r["predictions"]["source"] == "model" and r["predictions"]["model"] == "random_forest"
    assert r["predictions"]["model_params"] == {"n_estimators": 10, "max_depth": 4}
    # only the out-of-sample span is swept: from the first prediction on
    assert pd.Timestamp(r["predictions"]["oos_start"]) == preds.index[0]
    assert r["predictions"]["oos_bars"] == len(preds)
    assert pd.read_parquet(out / "sweep.parquet").attrs["n_trials"] == 2
    toml = (out / "config.toml").read_text()
    assert 'model = "random_forest"' in toml and "[model_params]" in toml and "n_estimators = 10" in toml


ERRORS = {
    "grid_syntax": (["--grid", "long_threshold=0.6:0.5:0.01"], "--grid"),
    "grid_unknown": (["--grid", "long_treshold=0.55,0.6"], "Did you mean 'long_threshold'"),
    "grid_value": (["--grid", "long=0.45:0.6:0.05"], "`long_threshold` must be in [0.5, 1]"),
    "flag_value": (["--top", "0"], "--top"),
    "both_sources": (["--model", "svm", "--predictions", "{preds}"], "--predictions or --model"),
    "missing_file": (["--predictions", "no/such/predictions.parquet"], "no/such/predictions.parquet"),
    "missing_column": (["--predictions", "{nocol}"], "`p_up`"),
    "no_overlap": (["--predictions", "{shifted}"], "no prediction timestamp matches a bar"),
    "model_param": (["--model", "random_forest", "--model-param", "n_estimator=5"], "Did you mean 'n_estimators'"),
    "config_setting": (["--config", "{badtoml}"], "unknown setting 'gird'"),
    "contract": (["--predictions", "{preds}", "--contract", "6E"], "contract '6E' does not match"),
    "model_name": (["--model", "catbost"], "Did you mean 'catboost'"),
}


@pytest.fixture(scope="module")
def error_runs(predictions, tmp_path_factory):
    d = tmp_path_factory.mktemp("errors")
    df = pd.read_parquet(predictions)
    df.drop(columns=["probability", "p_up", "p_1"]).to_parquet(d / "nocol.parquet")
    df.set_axis(df.index + pd.Timedelta(days=3650), axis=0).to_parquet(d / "shifted.parquet")
    (d / "bad.toml").write_text('gird = "long=0.6"\n')
    paths = {"preds": predictions, "nocol": d / "nocol.parquet", "shifted": d / "shifted.parquet",
             "badtoml": d / "bad.toml"}
    return {name: run(["--quiet", "--out", d / name, *[a.format(**paths) for a in args]], d)
            for name, (args, _) in ERRORS.items()}


@pytest.mark.parametrize("case", list(ERRORS))
def test_user_errors_are_one_line_and_exit_2(error_runs, case):
    proc = error_runs[case]
    needle = ERRORS[case][1]
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
