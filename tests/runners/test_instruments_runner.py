"""The runners on instruments other than the WDO sample, and the refusals that replaced silent
wrong results (issue 11): each case a user met is a test here.

Runs that train go through ``python -m runners.walkforward`` as a user would; refusals that
happen before any training run in-process through :func:`runners._cli.run_cli` (exit code 2,
one line on stderr).
"""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from ml.data import get_calendar, sample_path
from runners import features as features_runner
from runners import walkforward as wf_runner
from runners._cli import OutputLock, run_cli
from tests.runners._subprocess import ROOT, run_runner, runner_env

FAST = ["--model", "random_forest", "--model-param", "n_estimators=30", "--model-param", "min_samples_leaf=20",
        "--train-sessions", "6", "--test-sessions", "3", "--n-features", "8", "--horizon", "12",
        "--latency-decisions", "3", "--quiet"]


def calendar_bars(calendar: str, start: str, end: str, minutes: int, *, price: float, tick: float,
                  seed: int = 0) -> pd.DataFrame:
    """Random-walk bars on every session of ``calendar`` (its real hours), as a user's CSV rows:
    exchange-local timestamps without offset, bar-open stamps."""
    cal = get_calendar(calendar)
    sched = cal.schedule(start, end)
    stamps = []
    for o, c in zip(sched["open"], sched["close"]):
        stamps.append(pd.date_range(o, c, freq=f"{minutes}min", inclusive="left"))
    idx = stamps[0].append(stamps[1:])
    rng = np.random.default_rng(seed)
    steps = np.round(rng.standard_normal(len(idx)) * 4) * tick
    close = price + np.cumsum(steps)
    open_ = np.r_[price, close[:-1]]
    hi = np.maximum(open_, close) + tick * rng.integers(0, 3, len(idx))
    lo = np.minimum(open_, close) - tick * rng.integers(0, 3, len(idx))
    return pd.DataFrame({"timestamp": idx.tz_convert(cal.tz).tz_localize(None).strftime("%Y-%m-%d %H:%M:%S"),
                         "open": open_, "high": hi, "low": lo, "close": close,
                         "volume": rng.integers(50, 500, len(idx))})


def first_sessions(folder, n: int):
    """The first ``n`` sessions of the bundled WDO sample, as a user's CSV."""
    raw = pd.read_csv(sample_path("wdo"))
    day = raw["timestamp"].str[:10]
    path = folder / "wdo_small.csv"
    raw[day.isin(sorted(day.unique())[:n])].to_csv(path, index=False)
    return path


def cli(main, argv, capsys):
    """``(exit code, stderr)`` of a runner run in-process as the command line runs it."""
    try:
        rc = run_cli(main, [str(a) for a in argv])
    except SystemExit as exc:      # argparse errors exit from inside the parser
        rc = exc.code
    return rc, capsys.readouterr().err


# --------------------------------------------------------------------------- real runs by instrument


@pytest.fixture(scope="module")
def euro_fx_run(tmp_path_factory):
    """6E on 5-minute bars through the whole walk-forward runner."""
    d = tmp_path_factory.mktemp("six_e")
    path = d / "6EH4_5m.csv"
    calendar_bars("CME_FX", "2024-01-02", "2024-01-19", 5, price=1.1, tick=0.00005).to_csv(path, index=False)
    out = d / "out"
    proc = run_runner("runners.walkforward", ["--data", path, "--out", out, *FAST], d)
    assert proc.returncode == 0, proc.stderr
    return out


def test_a_cme_future_is_costed_as_itself_not_as_crypto(euro_fx_run):
    run = json.loads((euro_fx_run / "run.json").read_text())
    a = run["assumptions"]
    assert a["preset"] == "6E"
    assert a["instrument"]["multiplier"] == 125_000 and a["instrument"]["currency"] == "USD"
    assert a["instrument"]["tick_value"] == pytest.approx(6.25)       # 0.00005 x 125,000
    assert a["calendar"]["name"] == "CME_FX" and "America/Chicago" in a["calendar"]["description"]
    assert a["costs"]["commission_per_contract"] == 2.5 and a["costs"]["commission_pct"] == 0.0
    m = json.loads((euro_fx_run / "metrics.json").read_text())
    assert m["engine"]["contract"] == "6E"
    # Globex: about 23 hours a session, ~250 sessions a year -- not 365 days of 24 hours
    ppy = m["engine"]["periods_per_year"]
    assert 250 * 22 * 12 < ppy < 262 * 23 * 12 and ppy != 365 * 24 * 12
    trades = pd.read_csv(euro_fx_run / "trades.csv")
    closed = trades[trades["closed"]]
    assert len(closed)
    # every trade pays US$2.50 a side per contract (the slippage tick lies in the fill prices)
    per = (closed["costs"] / closed["qty"].abs()).to_numpy()
    assert per == pytest.approx(np.full(len(per), 2 * 2.5))


def test_report_names_the_preset_the_fill_order_and_the_account(euro_fx_run):
    page = (euro_fx_run / "report.html").read_text()
    assert "6E: CME euro FX" in page or "6E:" in page
    assert "CME_FX (America/Chicago)" in page
    assert "the stop is assumed first" in page and "ambiguous" in page
    assert "not blown" in page
    m = json.loads((euro_fx_run / "metrics.json").read_text())
    assert m["account_blown"] is False and isinstance(m["ambiguous_exits"], int)
    assert "ambiguous" in pd.read_csv(euro_fx_run / "trades.csv").columns


def test_a_b3_stock_trades_round_lots_with_percentage_fees(tmp_path):
    path = tmp_path / "PETR4_15m.csv"
    calendar_bars("B3_EQUITIES", "2024-04-01", "2024-06-28", 15, price=38.0, tick=0.01).to_csv(path, index=False)
    out = tmp_path / "out"
    proc = run_runner("runners.walkforward", ["--data", path, "--out", out, *FAST, "--horizon", "4",
                                              "--train-sessions", "20", "--test-sessions", "15"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    a = json.loads((out / "run.json").read_text())["assumptions"]
    assert a["preset"] == "B3_STOCK" and a["calendar"]["name"] == "B3_EQUITIES"
    assert a["contracts_per_entry"] == 100                          # one round lot, not 1 share
    assert a["costs"]["commission_pct"] == pytest.approx(0.00023) and a["costs"]["commission_per_contract"] == 0
    trades = pd.read_csv(out / "trades.csv")
    assert len(trades) and (trades["qty"].abs() % 100 == 0).all()
    # annualised from B3's 2024 schedule of the cash market, in 15-minute bars
    ppy = json.loads((out / "metrics.json").read_text())["engine"]["periods_per_year"]
    assert ppy == pytest.approx(get_calendar("B3_EQUITIES").periods_per_year(
        15, pd.DatetimeIndex(["2024-06-03 10:00"], tz="America/Sao_Paulo")))


# --------------------------------------------------------------------------- refusals (exit 2, one line)


def test_crypto_bars_with_a_b3_contract_are_refused(tmp_path, capsys):
    rc, err = cli(wf_runner.main, ["--data", sample_path("filusdt"), "--contract", "WDO", "--out", tmp_path / "o",
                                   *FAST], capsys)
    assert rc == 2 and err.count("\n") == 1
    assert "contract 'WDO' does not match the bars' symbol 'FILUSDT'" in err and "--contract CRYPTO_SPOT" in err


def test_unknown_symbol_lists_the_presets_and_how_to_define_one(tmp_path, capsys):
    path = tmp_path / "ORCL_1m.csv"
    calendar_bars("XNYS", "2024-01-02", "2024-01-05", 1, price=100.0, tick=0.01).to_csv(path, index=False)
    rc, err = cli(features_runner.main, ["--data", path, "--out", tmp_path / "o", "--quiet"], capsys)
    assert rc == 2 and err.count("\n") == 1
    assert "unknown symbol 'ORCL'" in err and "WDO" in err and "6E" in err and "CRYPTO_SPOT" in err
    assert 'instrument = { name = "ORCL"' in err


def test_a_custom_instrument_defined_on_the_command_line_runs(tmp_path, capsys):
    path = tmp_path / "ORCL_1m.csv"
    calendar_bars("XNYS", "2024-01-02", "2024-01-12", 1, price=100.0, tick=0.01).to_csv(path, index=False)
    out = tmp_path / "o"
    spec = dict(name="ORCL", kind="stock", currency="USD", multiplier=1, tick_size=0.01, calendar="XNYS",
                commission_per_contract=0.005)
    flags = [x for k, v in spec.items() for x in ("--instrument", f"{k}={v}")]
    rc, err = cli(features_runner.main, ["--data", path, "--out", out, "--quiet", *flags], capsys)
    assert rc == 0, err
    loaded = json.loads((out / "data_report.json").read_text())["loaded"]
    assert loaded["calendar"] == "XNYS"
    assert loaded["custom_instrument"]["name"] == "ORCL" and loaded["custom_instrument"]["multiplier"] == 1


def test_walkforward_config_file_takes_an_instrument_table(tmp_path):
    from runners._config import parse_args_with_config
    from runners._pipeline import instrument_arg

    cfg = tmp_path / "run.toml"
    cfg.write_text('instrument = { base = "ES", commission_per_contract = 1.1 }\n')
    args = parse_args_with_config(wf_runner.build_parser(), ["--config", str(cfg)])
    inst = instrument_arg(args)
    assert inst.name == "ES" and inst.multiplier == 50 and inst.commission_per_contract == 1.1
    cfg.write_text(textwrap.dedent("""
        [instrument]
        name = "ORCL"
        kind = "stock"
        currency = "USD"
        multiplier = 1
        tick_size = 0.01
        calendar = "XNYS"
    """))
    inst = instrument_arg(parse_args_with_config(wf_runner.build_parser(), ["--config", str(cfg)]))
    assert (inst.name, inst.kind, inst.calendar, inst.multiplier) == ("ORCL", "stock", "XNYS", 1.0)
    args = parse_args_with_config(wf_runner.build_parser(), ["--instrument", "base=WDO", "--instrument",
                                                             "commission=0.9"])
    assert instrument_arg(args).commission_per_contract == 0.9 and instrument_arg(args).multiplier == 10


def test_daily_bars_are_refused_at_load_time(tmp_path, capsys):
    path = tmp_path / "ORCL_1d.csv"
    days = pd.bdate_range("2020-01-01", periods=300)
    close = 50 + np.cumsum(np.random.default_rng(1).standard_normal(len(days)))
    pd.DataFrame({"timestamp": days.strftime("%Y-%m-%d"), "open": close, "high": close + 1, "low": close - 1,
                  "close": close, "volume": 1000}).to_csv(path, index=False)
    for main in (features_runner.main, wf_runner.main):
        rc, err = cli(main, ["--data", path, "--out", tmp_path / "o"], capsys)
        assert rc == 2 and err.count("\n") == 1
        assert "daily" in err and "intraday" in err and "fewer than two classes" not in err


def test_utc_bar_end_stamps_read_as_exchange_time_are_refused_naming_the_fix(tmp_path, capsys):
    bars = calendar_bars("CME_FX", "2024-01-02", "2024-01-12", 1, price=1.1, tick=0.00005)
    ts = pd.to_datetime(bars["timestamp"]).dt.tz_localize("America/Chicago").dt.tz_convert("UTC")
    bars["timestamp"] = (ts + pd.Timedelta(minutes=1)).dt.strftime("%Y-%m-%d %H:%M:%S")  # UTC, bar ends
    path = tmp_path / "6EH4.XCME_1min_bars.csv"
    bars.to_csv(path, index=False)
    rc, err = cli(features_runner.main, ["--data", path, "--out", tmp_path / "o", "--quiet"], capsys)
    assert rc == 2 and err.count("\n") == 1
    assert "do not fit calendar CME_FX" in err and "--tz UTC --bar-time close" in err
    rc, err = cli(features_runner.main, ["--data", path, "--out", tmp_path / "o2", "--quiet", "--tz", "UTC",
                                         "--bar-time", "close"], capsys)
    assert rc == 0, err
    loaded = json.loads((tmp_path / "o2" / "data_report.json").read_text())["loaded"]
    assert loaded["instrument"] == "6E" and loaded["shifted_minutes"] == -1.0


@pytest.mark.parametrize("flag, value, hint", [("--model", "xgbost", "catboost"),
                                               ("--engine", "backtrder", "backtrader"),
                                               ("--contract", "WDX", "WDO"),
                                               ("--calendar", "B3_EQUITY", "B3_EQUITIES")])
def test_names_a_user_types_get_a_did_you_mean(tmp_path, capsys, flag, value, hint):
    rc, err = cli(wf_runner.main, [flag, value, "--out", tmp_path / "o", "--quiet"], capsys)
    assert rc == 2 and err.count("\n") == 1
    assert f"Did you mean '{hint}'?" in err


# --------------------------------------------------------------------------- exports people really have


def _profitchart(df: pd.DataFrame, symbol: str, multiplier: float) -> str:
    """ProfitChart's export: no header, ';', decimal comma, dd/mm/yyyy, newest row first,
    financial volume (R$) then quantity."""
    ts = pd.to_datetime(df["timestamp"])
    rows = []
    for i in range(len(df) - 1, -1, -1):
        r = df.iloc[i]
        fin = r["close"] * r["volume"] * multiplier
        vals = [f"{v:.3f}".replace(".", ",") for v in (r["open"], r["high"], r["low"], r["close"])]
        rows.append(";".join([symbol, ts.iloc[i].strftime("%d/%m/%Y"), ts.iloc[i].strftime("%H:%M:%S"), *vals,
                              f"{fin:.2f}".replace(".", ","), str(int(r["volume"]))]))
    return "\n".join(rows) + "\n"


def test_a_profitchart_export_runs_through_the_cli(tmp_path, capsys):
    bars = calendar_bars("B3", "2021-11-08", "2021-11-26", 5, price=5600.0, tick=0.5)
    path = tmp_path / "WDOF22_B_0_5min.csv"
    path.write_text(_profitchart(bars, "WDOF22", 10.0), encoding="cp1252")
    out = tmp_path / "o"
    rc, err = cli(features_runner.main, ["--data", path, "--out", out, "--quiet"], capsys)
    assert rc == 0, err
    rep = json.loads((out / "data_report.json").read_text())["loaded"]
    assert rep["instrument"] == "WDO" and rep["rows"] == len(bars)
    assert rep["layouts"][0]["format"].lower().startswith("profitchart")
    # explicit --sep / --decimal read it the same way
    rc, err = cli(features_runner.main, ["--data", path, "--out", tmp_path / "o2", "--quiet", "--sep", ";",
                                         "--decimal", ","], capsys)
    assert rc == 0, err


def test_nan_rows_are_refused_with_the_flag_that_drops_them(tmp_path, capsys):
    bars = calendar_bars("B3", "2021-11-08", "2021-11-19", 5, price=5600.0, tick=0.5)
    bars.loc[40, "close"] = np.nan
    path = tmp_path / "WDOF22_5m.csv"
    bars.to_csv(path, index=False)
    rc, err = cli(features_runner.main, ["--data", path, "--out", tmp_path / "o", "--quiet"], capsys)
    assert rc == 2 and "--nan drop" in err
    rc, err = cli(features_runner.main, ["--data", path, "--out", tmp_path / "o2", "--nan", "drop"], capsys)
    assert rc == 0, err
    assert "dropped 1 row(s) with missing values (--nan drop)" in (tmp_path / "o2" / "run.log").read_text()


# --------------------------------------------------------------------------- output folders


_HOLDER = """
import sys, time
sys.path.insert(0, {root!r})
from runners._cli import OutputLock
lock = OutputLock({out!r}).acquire()
print("locked", flush=True)
time.sleep(60)
"""


def test_a_busy_output_folder_is_refused_naming_the_running_process(tmp_path, capsys):
    out = tmp_path / "o"
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER.format(root=str(ROOT), out=str(out))],
                              stdout=subprocess.PIPE, text=True, env=runner_env())
    try:
        assert holder.stdout.readline().strip() == "locked"
        rc, err = cli(features_runner.main, ["--out", out, "--quiet"], capsys)
        assert rc == 2 and err.count("\n") == 1
        assert f"in use by process {holder.pid}" in err and "choose another --out" in err
        assert not (out / "run.log").exists()         # the second run wrote nothing there
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    # the holder was killed: its lock is stale, and the next run takes it over, saying so
    rc, err = cli(features_runner.main, ["--out", out, "--quiet"], capsys)
    assert rc == 0, err
    log = (out / "run.log").read_text()
    assert f"took over the stale lock of {out}: process {holder.pid}" in log and "is gone" in log
    # a finished run leaves no holder behind: the next one takes the lock silently
    rc, err = cli(features_runner.main, ["--out", out, "--quiet"], capsys)
    assert rc == 0 and "stale" not in (out / "run.log").read_text().split("took over")[-1].split("\n", 1)[-1]


def test_the_lock_is_released_when_a_run_fails(tmp_path, capsys):
    out = tmp_path / "o"
    rc, _ = cli(features_runner.main, ["--out", out, "--symbol", "ZZZ", "--quiet"], capsys)
    assert rc == 2
    with OutputLock(out) as lock:          # free again, and with no stale holder recorded
        assert lock.stale is None


def test_a_corrupt_checkpoint_is_retrained_and_logged(tmp_path):
    path = first_sessions(tmp_path, 12)
    out = tmp_path / "o"
    args = ["--data", path, "--out", out, *FAST, "--horizon", "20"]
    assert run_runner("runners.walkforward", args, tmp_path).returncode == 0
    first = pd.read_parquet(out / "predictions.parquet")
    ckpt = out / "checkpoints" / "fold-000.joblib"
    ckpt.write_bytes(b"not a pickle")
    proc = run_runner("runners.walkforward", args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    log = (out / "run.log").read_text()
    assert "checkpoint of fold 0" in log and "unreadable" in log and "training fold 0 again" in log
    run = json.loads((out / "run.json").read_text())
    assert list(run["retrained_folds"]) == ["0"] and run["resumed_folds"] == [1]
    pd.testing.assert_frame_equal(pd.read_parquet(out / "predictions.parquet"), first)  # same seed, same result


def test_a_blown_account_is_said_everywhere_and_fails_every_return_target(tmp_path):
    path = first_sessions(tmp_path, 10)
    out = tmp_path / "o"
    proc = run_runner("runners.walkforward", ["--data", path, "--out", out, *FAST, "--horizon", "20",
                                              "--initial-equity", "60"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["account_blown"] is True and m["blown_at"]
    assert m["sharpe"] is None and m["sortino"] is None          # undefined: NaN, written as null
    assert m["total_return"] <= -1.0 and m["dsr"]["dsr"] is None
    assert m["kpi"]["sharpe"]["status"] == "not met (account blown)"
    assert m["kpi"]["max_drawdown"]["status"] == "not met (account blown)"
    assert "ACCOUNT BLOWN" in (out / "run.log").read_text()
    page = (out / "report.html").read_text()
    assert "BLOWN at" in page and "ACCOUNT BLOWN" in page
    trades = pd.read_csv(out / "trades.csv")
    assert "blown" in set(trades["exit_reason"])
    assert json.loads((out / "run.json").read_text())["account"]["blown"] is True


def test_walkforward_and_sweep_on_the_same_bars_share_one_trial_count(tmp_path):
    path = first_sessions(tmp_path, 12)
    copy = tmp_path / "elsewhere" / "same_bars.csv"
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())
    ledger = tmp_path / "ledger.jsonl"
    wf = tmp_path / "wf"
    assert run_runner("runners.walkforward", ["--data", path, "--out", wf, *FAST, "--horizon", "20",
                                              "--ledger", ledger], tmp_path).returncode == 0
    proc = run_runner("runners.sweep", ["--data", copy, "--predictions", wf / "predictions.parquet",
                                        "--grid", "long_threshold=0.52,0.55,0.6", "--monte-carlo", "0",
                                        "--out", tmp_path / "sw", "--ledger", ledger, "--quiet"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    m = json.loads((tmp_path / "sw" / "metrics.json").read_text())
    # the copy in another folder is the same data: 1 walk-forward configuration + 3 combinations
    assert m["overfitting"]["counted"]["by_kind"] == {"walkforward": 1, "sweep": 3}
    assert m["n_trials"] == 4 and m["verdict"]["n_trials"] == 4


def test_the_permutation_test_gives_p_values_the_verdict_uses(tmp_path):
    path = first_sessions(tmp_path, 12)
    out = tmp_path / "o"
    proc = run_runner("runners.walkforward", ["--data", path, "--out", out, *FAST, "--horizon", "20",
                                              "--permutations", "2"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "metrics.json").read_text())
    perm = m["permutation"]
    assert perm["n"] == 2 and len(perm["null"]["sharpe_per_session"]) == 2
    assert perm["p_value"]["sharpe_per_session"] in (1 / 3, 2 / 3, 1.0)
    assert m["verdict"]["permutation_p_value"] == perm["p_value"]["sharpe_per_session"]
    assert m["kpi"]["permutation_p_value"]["status"] in ("met", "not met")
    assert len(list((out / "permutations").glob("perm-*.json"))) == 2
    # a rerun reuses the finished permutations
    proc = run_runner("runners.walkforward", ["--data", path, "--out", out, *FAST, "--horizon", "20",
                                              "--permutations", "2"], tmp_path)
    again = json.loads((out / "metrics.json").read_text())["permutation"]
    assert again["reused"] == 2 and again["null"] == perm["null"]
