"""The simple baselines of every walk-forward: best training-fold feature, its logistic regression
and its raw quantile signal."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from ml.training import BASELINES, directional_auc, fold_baselines


def _frame(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.choice([-1, 0, 1], size=n, p=[0.4, 0.2, 0.4])
    X = pd.DataFrame({"noise": rng.normal(size=n), "good": -(y + rng.normal(scale=2.0, size=n)),
                      "ties": rng.integers(0, 3, size=n).astype(float)})
    X.loc[::11, "noise"] = np.nan
    return X, y


def test_directional_auc_is_scikit_learns_roc_auc_per_column():
    X, y = _frame()
    moving = y != 0
    up = y[moving] == 1
    ours = directional_auc(X[moving], up)
    for col in X.columns:
        ok = X.loc[moving, col].notna().to_numpy()
        assert ours[col] == pytest.approx(roc_auc_score(up[ok], X.loc[moving, col].to_numpy()[ok]), abs=1e-12)


def test_fold_baselines_pick_the_informative_feature_and_orient_it():
    X, y = _frame()
    train, test = slice(0, 1500), slice(1500, None)
    feature, auc, p = fold_baselines(X.iloc[train], y[train], np.ones(1500), X.iloc[test],
                                     np.array([-1, 0, 1]))
    assert feature == "good" and auc < 0.5             # higher before down moves: reversed
    assert list(p.columns) == list(BASELINES) and p.index.equals(X.index[test])
    up = y[test] == 1
    moving = y[test] != 0
    for name in BASELINES:
        assert p[name].between(0, 1).all()
        # both baselines trade P(up): above 0.5 out of sample on the informative feature
        assert roc_auc_score(up[moving], p[name].to_numpy()[moving]) > 0.7
    # the raw signal is the training-fold quantile: the lowest training value of "good" is the top
    lowest = X.iloc[train]["good"].min()
    row = X.iloc[test].copy()
    row.iloc[0, row.columns.get_loc("good")] = lowest - 1.0
    row.iloc[1, row.columns.get_loc("good")] = np.nan
    _, _, q = fold_baselines(X.iloc[train], y[train], np.ones(1500), row, np.array([-1, 0, 1]))
    assert q["raw_feature"].iloc[0] == 1.0 and q["raw_feature"].iloc[1] == 0.5


def test_fold_baselines_use_only_the_training_rows():
    X, y = _frame()
    train = slice(0, 1500)
    _, _, a = fold_baselines(X.iloc[train], y[train], np.ones(1500), X.iloc[1500:], np.array([-1, 0, 1]))
    changed = X.iloc[1500:].copy()
    changed.iloc[200:] = 0.0                            # later test rows change: earlier ones may not
    _, _, b = fold_baselines(X.iloc[train], y[train], np.ones(1500), changed, np.array([-1, 0, 1]))
    pd.testing.assert_frame_equal(a.iloc[:200], b.iloc[:200])
