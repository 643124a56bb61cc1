"""The simple baselines every walk-forward model is measured against.

Per fold, on that fold's (purged) training rows only:

- the *best training-fold feature* is the one whose directional AUC (up against
  down labels, the time-out class left out) is farthest from 0.5, among the
  features defined on at least half of the training rows;
- ``one_feature_logistic``: ``get_model("logistic")``
  (:class:`ml.models._sklearn.LogisticModel`) on that feature alone, fit on
  the up and down rows, gives P(up) for the test rows;
- ``raw_feature``: the feature itself as the signal, turned into a probability
  by its empirical distribution on the training rows (the share of training
  values below the test value, reversed when the feature's training AUC is
  below 0.5), so that the strategy's thresholds mean the same quantiles in
  every fold.  A missing value is 0.5 (no position).

Both use nothing of the test window but its feature values, as the model does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.features import available_features

__all__ = ["BASELINES", "directional_auc", "fold_baselines"]

#: Baseline name -> what it is.
BASELINES = {
    "one_feature_logistic": "an L2 logistic regression on the best training-fold feature alone",
    "raw_feature": "the best training-fold feature as the signal (its training-fold quantile as the probability)",
}


def directional_auc(X: pd.DataFrame, up: np.ndarray) -> pd.Series:
    """The AUC of each column of ``X`` against the boolean ``up`` (rows with NaN skipped per column).

    Mann-Whitney with mid-ranks for ties: 0.5 is no information, above 0.5 the
    feature is higher before up moves.
    """
    from scipy.stats import rankdata

    up = np.asarray(up, dtype=bool)
    out = {}
    for col in X.columns:
        x = X[col].to_numpy(dtype=np.float64)
        ok = np.isfinite(x)
        n_up, n_dn = int((up & ok).sum()), int((~up & ok).sum())
        if n_up == 0 or n_dn == 0:
            out[col] = np.nan
            continue
        r = rankdata(x[ok])
        out[col] = (r[up[ok]].sum() - n_up * (n_up + 1) / 2) / (n_up * n_dn)
    return pd.Series(out, dtype=np.float64)


def fold_baselines(X_train: pd.DataFrame, y_train: np.ndarray, w_train: np.ndarray, X_test: pd.DataFrame,
                   classes: np.ndarray, seed: int = 0) -> tuple[str, float, pd.DataFrame]:
    """``(feature, training AUC, probabilities)`` of the baselines on one fold.

    ``y_train`` holds the class labels of the training rows; the up class is the
    highest of ``classes``, the down class the lowest.  The probabilities frame
    has one column per name of :data:`BASELINES`, indexed like ``X_test``.
    """
    from ml.models import get_model

    y = np.asarray(y_train, dtype=np.float64)
    moving = (y == classes[-1]) | (y == classes[0])
    up = y[moving] == classes[-1]
    candidates = available_features(X_train.loc[moving]) or list(X_train.columns)
    auc = directional_auc(X_train.loc[moving, candidates], up)
    if auc.notna().sum() == 0:
        nan = pd.DataFrame(0.5, index=X_test.index, columns=list(BASELINES))
        return "", float("nan"), nan
    feature = str((auc - 0.5).abs().idxmax())
    train_auc = float(auc[feature])
    out = pd.DataFrame(index=X_test.index, columns=list(BASELINES), dtype=np.float64)
    xtr = X_train.loc[moving, [feature]]
    if up.all() or not up.any():
        out["one_feature_logistic"] = 0.5
    else:
        lr = get_model("logistic", random_state=seed).fit(xtr, up.astype(np.int64),
                                                          sample_weight=np.asarray(w_train)[moving])
        out["one_feature_logistic"] = lr.predict_proba(X_test[[feature]])[:, 1]
    ref = np.sort(xtr[feature].to_numpy(dtype=np.float64))
    ref = ref[np.isfinite(ref)]
    x = X_test[feature].to_numpy(dtype=np.float64)
    q = (np.searchsorted(ref, x, side="left") + np.searchsorted(ref, x, side="right")) / (2.0 * len(ref))
    q = q if train_auc >= 0.5 else 1.0 - q
    out["raw_feature"] = np.where(np.isfinite(x), q, 0.5)
    return feature, train_auc, out
