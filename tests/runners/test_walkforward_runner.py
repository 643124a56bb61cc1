"""runners.walkforward, invoked as a user would: subprocesses on the bundled sample."""

import json
import os
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml.data import sample_path
from tests.runners._subprocess import run_runner

FAST = ["--model", "random_forest", "--model-param", "n_estimators=30", "--model-param", "min_samples_leaf=20",
        "--train-sessions", "6", "--test-sessions", "3", "--n-features", "8", "--horizon", "20",
        "--latency-decisions", "5", "--quiet"]


def run(args, cwd, fresh=False):
    return run_runner("runners.walkforward", args, cwd, fresh=fresh)


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory):
    """The first 12 sessions of the bundled WDO sample (one contract), as a user's CSV."""
    raw = pd.read_csv(sample_path("wdo"))
    day = raw["timestamp"].str[:10]
    keep = day.isin(sorted(day.unique())[:12])
    path = tmp_path_factory.mktemp("data") / "wdo_small.csv"
    raw[keep].to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory, small_csv):
    cwd = tmp_path_factory.mktemp("user")
    out = cwd / "runs" / "rf"
    proc = run(["--data", str(small_csv), "--out", str(out), *FAST], cwd)
    assert proc.returncode == 0, proc.stderr
    return out, proc, cwd


def test_writes_every_promised_file(fast_run):
    out, proc, _ = fast_run
    for name in ("metrics.json", "predictions.parquet", "trades.csv", "equity.csv", "tearsheet.html",
                 "report.html", "run.json", "config.toml", "run.log"):
        assert (out / name).is_file(), name
    assert f"reports: {(out / 'report.html').resolve()}" in proc.stdout
    assert proc.stdout.startswith("verdict: ")                # the terminal summary starts with it
    page = (out / "report.html").read_text()
    assert page.index("Verdict: ") < page.index("KPI scorecard") and "break-even cost" in page
    assert proc.stderr == ""                                   # --quiet: nothing on the terminal
    assert not list(out.glob(".*.tmp*"))                      # atomic writes leave nothing behind


def test_metrics_json_holds_backtest_model_and_overfitting_figures(fast_run):
    out, _, _ = fast_run
    m = json.loads((out / "metrics.json").read_text())
    for key in ("sharpe", "sortino", "calmar", "max_drawdown", "win_rate", "profit_factor", "recovery_factor",
                "total_return", "n_trades", "exposure", "deflated_sharpe", "importance_stability",
                "decision_latency_ms"):
        assert key in m, key
    for key in ("auc", "log_loss", "accuracy", "brier"):
        assert key in m["model"], key
    assert len(m["folds"]) == m["model"]["n_folds"] == 2          # 12 sessions: 6 training, 3 + 3 tested
    assert {"fold", "auc", "log_loss", "accuracy", "n_train", "n_test"} <= set(m["folds"][0])
    # one trial: the deflated Sharpe is the probabilistic Sharpe against 0, defined whatever the Sharpe
    assert m["dsr"]["n_trials"] == 1 and m["dsr"]["psr_benchmark"] == 0.0
    assert m["deflated_sharpe"] is not None and 0.0 <= m["deflated_sharpe"] <= 1.0
    assert set(m["kpi"]) == {"win_rate", "sharpe", "max_drawdown", "profit_factor", "recovery_factor",
                             "decision_latency_ms", "deflated_sharpe", "permutation_p_value"}
    # the verdict comes first, with its numbers; the traded probability is what is measured
    assert list(m)[0] == "verdict"
    assert m["verdict"]["verdict"] in ("no evidence of an edge", "an edge before costs that costs remove",
                                       "evidence of an edge after costs")
    auc = m["traded_auc"]
    assert auc["ci_low"] <= auc["auc"] <= auc["ci_high"] and len(auc["per_fold"]) == 2
    assert m["verdict"]["n_trials"] == m["dsr"]["n_trials"]
    free = m["frictionless"]
    assert free["n_trades"] == m["n_trades"] and free["pnl"] >= m["net_pnl"]
    assert m["break_even_cost"]["round_trips"] > 0
    dd = m["kpi"]["max_drawdown"]
    assert dd["measured"] == pytest.approx(abs(m["max_drawdown"])) and dd["met"] == (dd["measured"] <= 0.03)
    assert m["latency"]["decisions"] == 5 and m["kpi"]["decision_latency_ms"]["status"] in ("met", "not met")
    assert 0.0 <= m["model"]["brier"] <= 1.0 and 0.0 <= m["model"]["brier_traded"] <= 1.0
    assert m["engine"]["name"] == "numba"                        # the default engine, named as what it is
    assert m["engine"]["vectorbt_max_equity_diff_rel"] < 1e-9   # vectorbt Portfolio agrees with the fills


def test_files_agree_with_each_other(fast_run):
    out, _, _ = fast_run
    m = json.loads((out / "metrics.json").read_text())
    preds = pd.read_parquet(out / "predictions.parquet")
    eq = pd.read_csv(out / "equity.csv", index_col="timestamp")
    trades = pd.read_csv(out / "trades.csv")
    assert {"fold", "p_up", "probability", "label", "t1"} <= set(preds.columns)
    assert preds.index.name == "timestamp" and str(preds.index.tz) == "America/Sao_Paulo"
    # the backtest covers exactly the out-of-sample bars, and only trades there
    assert len(eq) == len(preds)
    assert pd.to_datetime(trades["entry_time"]).min() > preds.index[0]
    assert len(trades[trades["closed"]]) == m["n_trades"]
    assert eq["equity"].iloc[-1] == pytest.approx(100_000 * (1 + m["total_return"]))
    # a long is only ever opened after a probability above the threshold
    longs = trades[trades["side"] > 0]
    p = preds["probability"].to_numpy()
    assert (p[longs["signal_idx"].to_numpy()] > 0.55).all()
    # three classes: the strategy trades P(up) / (P(up) + P(down))
    np.testing.assert_allclose(preds["probability"], preds["p_1"] / (preds["p_1"] + preds["p_-1"]))
    # the attribution tables add up to the closed trades
    closed = trades[trades["closed"]]
    for key in ("hour", "side", "exit_reason", "regime"):
        rows = m["attribution"][key]
        assert sum(r["trades"] for r in rows) == len(closed), key
        assert sum(r["net_pnl"] for r in rows) == pytest.approx(closed["net_pnl"].sum()), key


def test_report_html_has_the_scorecard_and_diagnostics(fast_run):
    out, _, _ = fast_run
    page = (out / "report.html").read_text()
    for text in ("KPI scorecard", "win_rate", "decision_latency_ms", "Per fold", "Calibration of P(up)",
                 "Feature importance and its stability", "<svg", "Attribution", "By market regime at entry"):
        assert text in page, text
    assert "<script" not in page and "<link" not in page and "src=" not in page      # works offline


def test_run_json_records_what_reproduces_the_run(fast_run, small_csv):
    out, _, _ = fast_run
    r = json.loads((out / "run.json").read_text())
    assert r["seed"] == 0 and len(r["data"]["data_hash"]) == 16
    assert r["libraries"]["pandas"] == pd.__version__
    assert r["settings"]["model_params"] == {"n_estimators": 30, "min_samples_leaf": 20}
    cfg = tomllib.loads((out / "config.toml").read_text())
    assert cfg["model"] == "random_forest" and cfg["train_sessions"] == 6 and cfg["data"] == [str(small_csv)]


def test_rerun_resumes_after_the_finished_folds_and_changes_nothing(fast_run, small_csv, own_ledger):
    out, _, cwd = fast_run
    before = json.loads((out / "metrics.json").read_text())
    preds = pd.read_parquet(out / "predictions.parquet")
    (out / "checkpoints" / "fold-001.joblib").unlink()         # as if stopped during the last fold
    proc = run(["--data", str(small_csv), "--out", str(out), *FAST], cwd)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "run.json").read_text())["resumed_folds"] == [0]
    assert "resumed 1 finished fold(s)" in (out / "run.log").read_text()
    after = json.loads((out / "metrics.json").read_text())
    for key in ("sharpe", "n_trades", "total_return"):
        assert after[key] == before[key]
    pd.testing.assert_frame_equal(pd.read_parquet(out / "predictions.parquet"), preds)
    # the same configuration is one trial, not two
    ledger = [json.loads(line) for line in own_ledger.read_text().splitlines()]
    assert len({r["key"] for r in ledger}) == 1 and after["dsr"]["n_trials"] == 1
    assert after["dsr"]["counted"]["ledger"] == str(own_ledger)


def test_config_file_equals_flags_and_flags_override_it(fast_run, tmp_path):
    out, _, cwd = fast_run
    before = json.loads((out / "metrics.json").read_text())
    proc = run(["--config", str(out / "config.toml"), "--out", str(tmp_path / "again"), "--quiet"], cwd)
    assert proc.returncode == 0, proc.stderr
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    for key in ("sharpe", "n_trades", "total_return", "win_rate"):
        assert again[key] == before[key]
    assert again["model"]["auc"] == before["model"]["auc"]
    # a flag beats the file (booleans too); a new configuration in the same parent folder is a second trial
    cfg = (out / "config.toml").read_text().replace("long_only = false", "long_only = true")
    (tmp_path / "long_only.toml").write_text(cfg)
    proc = run(["--config", str(tmp_path / "long_only.toml"), "--no-long-only", "--long-threshold", "0.6",
                "--short-threshold", "0.4", "--target", "brier=0.99", "--out", str(tmp_path / "stricter"),
                "--quiet"], cwd)
    assert proc.returncode == 0, proc.stderr
    strict = json.loads((tmp_path / "stricter" / "metrics.json").read_text())
    run_json = json.loads((tmp_path / "stricter" / "run.json").read_text())
    assert run_json["settings"]["long_threshold"] == 0.6 and run_json["settings"]["train_sessions"] == 6
    assert run_json["settings"]["long_only"] is False
    assert strict["kpi"]["brier"]["measured"] == strict["model"]["brier"] and strict["kpi"]["brier"]["met"]
    assert run_json["resumed_folds"] == [] and "run.json" in run_json["files"]
    assert strict["n_trades"] <= before["n_trades"]
    # a new configuration on the same data is a second trial, whatever folder it writes to
    assert strict["dsr"]["n_trials"] == 2 and strict["dsr"]["counted"]["by_kind"] == {"walkforward": 2}


def test_backtrader_engine_with_participation(fast_run, small_csv, tmp_path):
    out, _, cwd = fast_run
    proc = run(["--data", str(small_csv), "--out", str(out), *FAST, "--engine", "backtrader",
                "--participation", "0.5", "--commission", "1.5"], cwd)
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["engine"]["name"] == "backtrader" and m["n_trades"] > 0
    assert json.loads((out / "run.json").read_text())["resumed_folds"] == [0, 1]   # training reused


def test_vectorbt_engine_is_vectorbt(fast_run, small_csv, tmp_path):
    """--engine vectorbt runs vectorbt's own order execution; its pf.stats() is the report's numbers."""
    out, _, cwd = fast_run
    proc = run(["--data", str(small_csv), "--out", str(out), *FAST, "--engine", "vectorbt"], cwd)
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["engine"]["name"] == "vectorbt" and m["engine"]["vectorbt_cash_buffer"] == 0.0
    stats = m["engine"]["vectorbt_stats"]
    assert stats["Sharpe Ratio"] == pytest.approx(m["sharpe"], rel=1e-9)
    assert stats["Total Return [%]"] == pytest.approx(100 * m["total_return"], rel=1e-9)


def in_process(args, capsys):
    """The runner's main in this process (no interpreter start): exit code and stderr."""
    from runners._cli import run_cli
    from runners.walkforward import main

    try:
        code = run_cli(main, args)
    except SystemExit as exc:                                  # argparse errors
        code = exc.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--data", "nope.csv"], "nope.csv"),
    (["--model", "catbost"], "--model"),
    (["--train-sessions", "0"], "--train-sessions must be >= 1"),
    (["--long-threshold", "0.4"], "--long-threshold must be a finite number >= 0.5 and <= 1"),
    (["--short-threshold", "0.5"], "--short-threshold must be a finite number >= 0 and < 0.5"),
    (["--participation", "0.1"], "--participation needs --engine backtrader"),
    (["--engine", "vectorbt", "--sl-atr", "2"], "--engine vectorbt cannot execute stops"),
    (["--n-jobs", "0"], "--n-jobs"),
    (["--config", "missing.toml"], "--config missing.toml: no such file"),
    (["--seed", "-1"], "--seed must be >= 0"),
    (["--model", "random_forest", "--model-param", "n_estimator=5"],
     "'n_estimator' is not a parameter of random_forest"),
    (["--tune-trials", "1", "--storage", "nosuchdb://x"], "--storage nosuchdb://x: cannot open it"),
    (["--max-daily-loss", "0.5"], "max_daily_loss_fraction"),          # before any training
])
def test_user_errors_are_one_line_and_exit_2(args, message, tmp_path, capsys):
    code, err = in_process(args + ["--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err


def test_out_that_is_a_file_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    code, err = in_process(["--out", str(tmp_path / "afile"), "--quiet"], capsys)
    assert code == 2 and "exists and is not a folder" in err


def test_scorecard_states_and_config_round_trip():
    import tomllib

    from runners._config import to_toml
    from runners._report import scorecard

    rows = {r["name"]: r for r in scorecard(
        {"sharpe": 2.5, "max_drawdown": -0.05, "profit_factor": float("inf"), "decision_latency_ms": None,
         "model": {"brier": 0.2}},
        {"sharpe": 2.0, "max_drawdown": 0.03, "profit_factor": 2.2, "decision_latency_ms": 30.0, "brier": 0.25})}
    assert rows["sharpe"]["status"] == "met" and rows["max_drawdown"]["status"] == "not met"
    assert rows["profit_factor"]["status"] == "met"                     # no losing trade: infinite
    assert rows["decision_latency_ms"]["status"] == "not measured" and not rows["decision_latency_ms"]["met"]
    assert rows["brier"]["status"] == "met"                             # lower is better
    settings = {"model": "ensemble", "ensemble_models": ["catboost", "svm"], "long_only": False, "seed": 3,
                "data": ["/a b/c.csv"], "threshold": 0.25, "step_sessions": None,
                "model_params": {"catboost": {"iterations": 20}, "svm": {"C": 0.5}},
                "targets": {"sharpe": 1.5}, "symbol": 'W"D\nO'}
    back = tomllib.loads(to_toml(settings, header="a\nb"))
    assert back == {k: v for k, v in settings.items() if v is not None}


def test_a_user_error_in_a_subprocess_has_no_traceback(tmp_path, small_csv):
    proc = run(["--data", str(small_csv), *FAST, "--target", "sharp=2", "--out", str(tmp_path / "o")], tmp_path,
               fresh=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "target 'sharp' is not a measured metric" in lines[0], proc.stderr
    assert "Did you mean 'sharpe'" in lines[0]


def test_bad_config_files_name_the_file_and_setting(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('model = "random_forest"\n[walk]\ntrain_sesions = 5\n')
    code, err = in_process(["--config", str(bad)], capsys)
    assert code == 2 and "unknown setting 'walk.train_sesions'" in err and str(bad) in err
    assert "Did you mean 'train_sessions'" in err
    bad.write_text("train_sessions = 'many'\n")
    code, err = in_process(["--config", str(bad)], capsys)
    assert code == 2 and "setting 'train_sessions'" in err and "whole number" in err
    bad.write_text("long_only = 1\n")
    code, err = in_process(["--config", str(bad)], capsys)
    assert code == 2 and "'long_only' must be true or false" in err
    bad.write_text("model = 'catbost'\n")
    code, err = in_process(["--config", str(bad)], capsys)
    assert code == 2 and "Did you mean 'catboost'" in err
    bad.write_text("train_sessions = \n")
    code, err = in_process(["--config", str(bad)], capsys)
    assert code == 2 and "not a valid TOML file" in err


def test_bad_data_is_one_line(tmp_path, small_csv, capsys):
    raw = pd.read_csv(small_csv)
    raw.drop(columns=["high"]).to_csv(tmp_path / "nohigh.csv", index=False)
    code, err = in_process(["--data", str(tmp_path / "nohigh.csv"), "--out", str(tmp_path / "o"), "--quiet"],
                           capsys)
    assert code == 2 and "high" in err and len(err.strip().splitlines()) == 1


def test_no_arguments_runs_the_bundled_sample_and_says_where(tmp_path):
    proc = run(["--quiet"], tmp_path, fresh=True)      # the README's first command, as a newcomer runs it
    assert proc.returncode == 0, proc.stderr
    out = Path(proc.stdout.strip().split("results: ")[-1])
    assert out.parent == (tmp_path / "runs").resolve() and out.name.startswith("walkforward-")
    m = json.loads((out / "metrics.json").read_text())
    assert m["model"]["n_folds"] == 6 and m["n_sessions"] == 28
    assert (out / "tearsheet.html").stat().st_size > 10_000


def test_atomic_outputs_are_ordinary_files(tmp_path):
    from runners._cli import atomic_write_text

    mask = os.umask(0)
    os.umask(mask)
    path = atomic_write_text(tmp_path / "a.txt", "x")
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def _record_many(path, worker):
    from ml.registry import TrialLedger

    for i in range(25):
        TrialLedger(path).record("data", f"{worker}-{i}", kind="walkforward", sharpe_per_session=0.1)


def test_trial_ledger_loses_nothing_when_runs_finish_together(tmp_path):
    from joblib import Parallel, delayed

    from ml.registry import TrialLedger

    path = tmp_path / "trials.jsonl"
    Parallel(n_jobs=4, backend="loky")(delayed(_record_many)(path, w) for w in range(4))
    ledger = TrialLedger(path)
    ledger.record("data", "0-0", kind="walkforward", sharpe_per_session=0.2)      # a rerun counts once
    trials = ledger.trials("data")
    assert len(trials) == 100 and {r["key"] for r in trials} == {f"{w}-{i}" for w in range(4) for i in range(25)}
    assert [r for r in trials if r["key"] == "0-0"][0]["sharpe_per_session"] == 0.2
    ledger.record("other data", "x", kind="sweep", n=45)
    assert ledger.n_trials("other data") == 45 and ledger.n_trials("data") == 100
