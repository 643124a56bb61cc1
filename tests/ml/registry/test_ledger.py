"""The trial ledger: keyed by the data's content, not by folders or file bytes."""

from __future__ import annotations

import pandas as pd
import pytest

from ml.data import load_bars, sample_path
from ml.exceptions import ParameterError
from ml.registry import LEDGER_ENV, TrialLedger, data_fingerprint, default_ledger_path


@pytest.fixture(scope="module")
def wdo():
    return load_bars(sample_path("wdo"), symbol="WDOF22")


def test_same_bars_from_two_folders_and_formats_have_one_fingerprint(wdo, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    frame = wdo.rename_axis("timestamp").reset_index()
    frame.to_csv(tmp_path / "a" / "WDOF22.csv", index=False)
    frame.to_parquet(tmp_path / "b" / "WDOF22.parquet")
    one = load_bars(tmp_path / "a" / "WDOF22.csv")
    two = load_bars(tmp_path / "b" / "WDOF22.parquet")
    assert data_fingerprint(one) == data_fingerprint(two) == data_fingerprint(wdo)


def test_other_data_has_another_fingerprint(wdo):
    fp = data_fingerprint(wdo)
    assert data_fingerprint(wdo.iloc[:-1]) != fp                     # another span
    moved = wdo.copy()
    moved.iloc[100, moved.columns.get_loc("close")] += 0.5           # one price changed
    assert data_fingerprint(moved) != fp
    assert data_fingerprint(wdo.assign(symbol="WDOG22")) != fp        # another instrument


def test_runs_in_two_folders_on_the_same_data_count_as_two_trials(wdo, tmp_path):
    ledger = TrialLedger(tmp_path / "trials.jsonl")
    fp = data_fingerprint(wdo)
    ledger.record(fp, "config-a", kind="walkforward", sharpe_per_session=0.1, out=tmp_path / "run1")
    ledger.record(fp, "config-b", kind="walkforward", sharpe_per_session=0.0, out=tmp_path / "elsewhere" / "run2")
    ledger.record(fp, "config-a", kind="walkforward", sharpe_per_session=0.1, out=tmp_path / "rerun")  # once
    ledger.record(fp, "grid-1", kind="sweep", n=45)
    ledger.record(data_fingerprint(wdo.iloc[:-10]), "config-a", kind="walkforward")   # other data
    assert ledger.n_trials(fp) == 47
    assert ledger.summary(fp) == {"n_trials": 47, "by_kind": {"walkforward": 2, "sweep": 45},
                                  "ledger": str(tmp_path / "trials.jsonl"), "fingerprint": fp}
    assert ledger.n_trials(data_fingerprint(wdo.iloc[:-10])) == 1


def test_default_location_and_its_override(tmp_path, monkeypatch):
    monkeypatch.setenv(LEDGER_ENV, str(tmp_path / "mine.jsonl"))
    assert default_ledger_path() == tmp_path / "mine.jsonl" and TrialLedger().path == tmp_path / "mine.jsonl"
    monkeypatch.delenv(LEDGER_ENV)
    assert default_ledger_path() == __import__("pathlib").Path.home() / ".daytrade-ml" / "trials.jsonl"


def test_bad_entries_are_refused_and_junk_lines_skipped(tmp_path, wdo):
    ledger = TrialLedger(tmp_path / "t.jsonl")
    with pytest.raises(ParameterError, match="`n` must be an int >= 1"):
        ledger.record("x", "k", kind="sweep", n=0)
    (tmp_path / "t.jsonl").write_text("not json\n")
    ledger.record("x", "k", kind="sweep", n=3)
    assert ledger.n_trials("x") == 3
    with pytest.raises(ParameterError):
        data_fingerprint(pd.DataFrame())
