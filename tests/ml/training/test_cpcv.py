"""``ml.training.cpcv_paths`` and ``runners.walkforward --cv cpcv``: CPCV backtest paths.

The paths are checked against the splitter's own bookkeeping
(:meth:`ml.validation.CombinatorialPurgedCV.paths`): on every group, the
paths together hold exactly the predictions of the C(N-1, k-1) splits that
tested that group, one each, and every bar of every path has a probability.
Also: the same seed gives the same paths with any ``n_jobs``, a sequence
model is refused, and the runner reports one session Sharpe ratio per path.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from ml.data import load_bars, sample_path
from ml.exceptions import ParameterError
from ml.training import WalkForwardConfig, cpcv_paths
from ml.validation import CombinatorialPurgedCV
from ml.validation._base import group_bounds
from tests.runners._subprocess import run_runner, wdo_sessions_file

CFG = WalkForwardConfig(model="random_forest", model_params={"n_estimators": 20, "min_samples_leaf": 20})


@pytest.fixture(scope="module")
def bars():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = load_bars(sample_path("wdo"))
    return b.iloc[:6000]


@pytest.fixture(scope="module")
def result(bars):
    return cpcv_paths(bars, CFG, n_groups=4, n_test_groups=2)


def test_paths_cover_every_bar_and_recombine_the_splits(bars, result):
    assert (result.n_splits, result.n_paths) == (6, 3)
    cols = [f"p_{c}" for c in result.classes]
    for path in result.paths:
        assert path.index.equals(bars.index)
        assert path[cols].notna().all().all()
        np.testing.assert_allclose(path[cols].sum(axis=1), 1.0, atol=1e-9)
    cv = CombinatorialPurgedCV(4, 2)
    bounds = group_bounds(len(bars), 4)
    plan = cv.paths()
    for g in range(4):
        block = slice(int(bounds[g]), int(bounds[g + 1]))
        values = [result.paths[p][cols[-1]].iloc[block].to_numpy() for p in range(3)]
        # each path's group g comes from a different split: the three differ
        assert len({tuple(np.round(v, 12)) for v in values}) == 3
        assert len(set(plan[:, g])) == 3


def test_same_paths_with_two_jobs(bars, result):
    again = cpcv_paths(bars, CFG.replace(n_jobs=2), n_groups=4, n_test_groups=2)
    for a, b in zip(result.paths, again.paths):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    # the default logistic model goes through BLAS: every split runs with one BLAS thread, as a fold does
    one = cpcv_paths(bars, WalkForwardConfig(), n_groups=4, n_test_groups=2)
    two = cpcv_paths(bars, WalkForwardConfig(n_jobs=2), n_groups=4, n_test_groups=2)
    for a, b in zip(one.paths, two.paths):
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_refuses_a_sequence_model(bars):
    with pytest.raises(ParameterError, match="sequence model"):
        cpcv_paths(bars, WalkForwardConfig(model="lstm"), n_groups=4, n_test_groups=2)


def test_runner_reports_one_sharpe_per_path(tmp_path):
    out = tmp_path / "wf"
    proc = run_runner("runners.walkforward", ["--data", wdo_sessions_file(tmp_path, 12), "--symbol", "WDO",
                                              "--out", out, "--quiet", "--cv", "cpcv", "--cpcv-groups", "3",
                                              "--train-sessions", "8", "--test-sessions", "4",
                                              "--latency-decisions", "0"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    c = json.loads((out / "metrics.json").read_text())["cpcv"]
    assert (c["n_splits"], c["n_paths"]) == (3, 2) and len(c["sharpe_per_session"]) == 2
    assert c["sharpe_min"] <= c["sharpe_median"] <= c["sharpe_max"]
    assert "CPCV (--cv cpcv, N=3, k=2)" in (out / "report.html").read_text()


@pytest.mark.parametrize("flags, message", [
    (["--cv", "cpcv", "--cpcv-groups", "4", "--cpcv-test-groups", "4"], "--cpcv-test-groups must be in"),
    (["--cv", "cpcv", "--sizing", "vol-target"], "does not combine with --cv cpcv"),
])
def test_runner_refuses_bad_cpcv_flags(tmp_path, flags, message):
    proc = run_runner("runners.walkforward", ["--out", tmp_path / "x", *flags], tmp_path)
    assert proc.returncode == 2 and message in proc.stderr
