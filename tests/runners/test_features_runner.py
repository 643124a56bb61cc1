"""runners.features, invoked as a user would: a subprocess on the bundled sample."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.runners._subprocess import run_runner



def run(args, cwd, fresh=False):
    return run_runner("runners.features", args, cwd, fresh=fresh)


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("user")
    # a fresh process: the log must hold the skipped-features warning, which a test worker that already
    # raised it elsewhere does not always show again
    proc = run(["--quiet"], cwd, fresh=True)
    return proc, cwd


def test_no_arguments_runs_on_the_bundled_sample_and_says_where(default_run):
    proc, cwd = default_run
    assert proc.returncode == 0, proc.stderr
    out = Path(proc.stdout.strip().split("results: ")[-1])
    assert out.parent == (cwd / "runs").resolve() and out.name.startswith("features-")
    for name in ("features.parquet", "labels.parquet", "selection.json", "data_report.json",
                 "feature_catalog.csv", "config.toml", "run.log"):
        assert (out / name).is_file(), name
    # every file went through a temporary name and a rename: none is left behind
    assert not [p.name for p in out.iterdir() if ".tmp" in p.name]


def test_outputs_are_consistent(default_run):
    proc, _ = default_run
    out = Path(proc.stdout.strip().split("results: ")[-1])
    X = pd.read_parquet(out / "features.parquet")
    lab = pd.read_parquet(out / "labels.parquet")
    sel = json.loads((out / "selection.json").read_text())
    rep = json.loads((out / "data_report.json").read_text())
    assert len(X) == len(lab) == 27096
    assert X.shape[1] - 1 == rep["features"] == 87  # WDO has no trades / buy / sell volume
    assert len(sel["selected"]) == 20 and set(sel["selected"]) <= set(X.columns)
    assert [r["to"] for r in rep["rolls"]] == ["WDOF22", "WDOG22"]
    # labels end after they start, and training labels never reach the held-out sessions
    t1 = lab["t1"].dropna()
    assert (t1 > t1.index).all()
    test_start = pd.Timestamp(sel["test_start"])
    train_sessions = X["session"] < sel["train_sessions"]
    assert (X.index[~train_sessions] >= test_start).all()
    assert sel["train_rows"] <= int((lab["t1"][train_sessions.to_numpy()] < test_start).sum())
    assert set(np.unique(lab["label"].dropna())) <= {-1.0, 0.0, 1.0}
    log = (out / "run.log").read_text()
    assert "skipped 14 feature(s)" in log and "selected 20 features" in log


def test_config_file_reproduces_the_run_and_flags_override_it(default_run, tmp_path):
    """The same settings (the seed included, from the file) give the same selection; a flag wins."""
    import tomllib

    proc, _ = default_run
    out = Path(proc.stdout.strip().split("results: ")[-1])
    first = json.loads((out / "selection.json").read_text())
    cfg = tomllib.loads((out / "config.toml").read_text())
    assert cfg["n_features"] == 20 and cfg["seed"] == 0 and Path(cfg["data"][0]).is_file()
    same = run(["--quiet", "--config", str(out / "config.toml"), "--out", str(tmp_path / "same")], tmp_path)
    assert same.returncode == 0, same.stderr
    assert json.loads((tmp_path / "same" / "selection.json").read_text())["selected"] == first["selected"]
    fewer = run(["--quiet", "--config", str(out / "config.toml"), "--n-features", "5", "--out",
                 str(tmp_path / "fewer")], tmp_path)
    assert fewer.returncode == 0, fewer.stderr
    assert len(json.loads((tmp_path / "fewer" / "selection.json").read_text())["selected"]) == 5


@pytest.mark.parametrize("args, needle", [
    (["--data", "no/such/file.csv"], "no/such/file.csv"),
    (["--horizon", "0"], "--horizon"),
    (["--label", "tripple"], "--label"),
    (["--train-frac", "1.5"], "--train-frac"),
    (["--calendar", "B4"], "Did you mean 'B3'"),
    (["--symbol", "WIN"], "`symbol` 'WIN' is not in the data"),
    (["--groups", "momentun"], "Did you mean 'momentum'"),
    (["--seed", "-1"], "--seed must be >= 0"),
    (["--pt", "0"], "--pt must be a finite number > 0"),
    (["--config", "missing.toml"], "--config missing.toml: no such file"),
])
def test_user_errors_are_one_line_and_exit_2(tmp_path, args, needle):
    proc = run(["--quiet", "--out", str(tmp_path / "o"), *args], tmp_path)
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_bad_column_names_the_file_and_column(tmp_path):
    bad = tmp_path / "bars.csv"
    bad.write_text("timestamp,open,high,low,volume,symbol\n2025-02-03 09:00:00,1,2,0.5,10,WDOH25\n")
    proc = run(["--quiet", "--data", str(bad), "--out", str(tmp_path / "o")], tmp_path)
    assert proc.returncode == 2
    assert "`close`" in proc.stderr and "bars.csv" in proc.stderr and "Traceback" not in proc.stderr
