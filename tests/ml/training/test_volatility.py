"""``ml.training.fold_garch_sigma``: per-fold GARCH volatility for volatility-target sizing.

Checked against arch itself (a GARCH fitted by hand on the fold's training
returns and filtered through its test returns gives the same numbers), for
causality (changing bars after T changes nothing at or before T), and through
the walk-forward runner (``--sizing vol-target``: sizes vary, the run says what
it assumed; a combination it cannot honour exits with code 2).
"""

from __future__ import annotations

import json
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from ml.data import continuous_contract, load_bars, sample_path
from ml.models._garch import GarchModel
from ml.training import fold_garch_sigma
from tests.runners._subprocess import run_runner, wdo_sessions_file


@pytest.fixture(scope="module")
def wdo():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return continuous_contract(load_bars(sample_path("wdo"))).iloc[:8000]


def _folds(bars):
    idx = bars.index
    return [SimpleNamespace(fold=0, train_start=idx[0], train_end=idx[2999], test_start=idx[3000], test_end=idx[4999]),
            SimpleNamespace(fold=1, train_start=idx[2000], train_end=idx[4999], test_start=idx[5000],
                            test_end=idx[7999])]


def test_equals_a_garch_fitted_and_filtered_by_hand(wdo):
    sigma = fold_garch_sigma(wdo, _folds(wdo))
    assert sigma.iloc[:3000].isna().all() and sigma.iloc[3000:].notna().all()
    r = np.log(wdo["close"]).diff()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = GarchModel().fit(r.iloc[2000:5000])
    # filtering the training and test returns together = continuing from the training sample
    both = m.predict_volatility(r.iloc[2000:8000], init="fit")
    hand = m.predict_volatility(r.iloc[5000:8000], init="continue")
    np.testing.assert_allclose(sigma.iloc[5000:].to_numpy(), hand.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(hand.to_numpy(), both.iloc[3000:].to_numpy(), rtol=1e-9)
    # per-minute WDO return volatility is a few basis points
    assert 1e-5 < float(sigma.median()) < 5e-3


def test_causal_changing_bars_after_t_changes_nothing_before(wdo):
    t = 6000
    other = wdo.copy()
    rng = np.random.default_rng(3)
    shock = np.exp(rng.normal(0, 0.01, len(wdo) - t))
    for col in ("open", "high", "low", "close"):
        other.iloc[t:, other.columns.get_loc(col)] *= shock
    a = fold_garch_sigma(wdo, _folds(wdo))
    b = fold_garch_sigma(other, _folds(wdo))
    pd.testing.assert_series_equal(a.iloc[:t], b.iloc[:t])
    assert not np.allclose(a.iloc[t + 1:].to_numpy(), b.iloc[t + 1:].to_numpy())


def test_runner_refuses_what_vol_target_cannot_honour_yet(tmp_path):
    proc = run_runner("runners.walkforward", ["--out", tmp_path / "x", "--sizing", "vol-target",
                                              "--permutations", "5"], tmp_path)
    assert proc.returncode == 2
    assert "--sizing vol-target does not combine with --permutations" in proc.stderr


def test_runner_vol_target_sizes_vary_and_are_stated(tmp_path):
    out = tmp_path / "wf"
    proc = run_runner("runners.walkforward", ["--data", wdo_sessions_file(tmp_path, 12), "--symbol", "WDO",
                                              "--out", out, "--quiet", "--sizing", "vol-target", "--target-vol",
                                              "0.3", "--train-sessions", "8", "--test-sessions", "4",
                                              "--latency-decisions", "0"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = json.loads((out / "run.json").read_text())
    assert "volatility target 30.0%/year" in run["assumptions"]["sizing"]
    trades = pd.read_csv(out / "trades.csv")
    assert trades["qty"].nunique() > 1
