"""The model to trade from now on: the walk-forward's recipe fitted on the last training window.

:func:`fit_final` runs the same steps as one walk-forward fold
(:func:`ml.training._walkforward._fold`: feature selection, optional tuning,
the fit) on the last ``train_sessions`` sessions of the bars, with no test
window after them.  :func:`traded_probability` is the probability a strategy
trades, from a model's class probabilities (the walk-forward's predictions use
the same rule).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml.exceptions import ParameterError
from ml.training._walkforward import WalkForwardConfig, _fit, _fmt, _inputs, _select, _tune

__all__ = ["FinalFit", "directional_probability", "fit_final", "signal_probability", "traded_probability"]


@dataclass
class FinalFit:
    """A model fitted on the last training window, with what it was fitted on."""

    model: object
    selected: list          #: the features it reads, in its column order
    classes: list           #: the label classes, as the walk-forward formats them ("-1", "0", "1")
    params: dict
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    n_train: int            #: labelled training rows
    n_trials: int           #: tuning trials run
    config: WalkForwardConfig
    features: pd.DataFrame = None   #: the selected features over the training window (the monitor's reference)


def fit_final(bars: pd.DataFrame, config: WalkForwardConfig | None = None, **overrides) -> FinalFit:
    """Fit the walk-forward's model on the last ``train_sessions`` sessions of ``bars``.

    The same features, labels, selection, tuning and fit as each walk-forward
    fold (one definition of each step), on the training window that would
    precede the next, unseen session.  Labels end inside their session, so
    every bar of the window but the last ones of each session has a label.

    Returns
    -------
    FinalFit
    """
    cfg = (config or WalkForwardConfig()).replace(**overrides) if overrides else (config or WalkForwardConfig())
    cal, X, labels, weights, session = _inputs(bars, cfg)
    session = np.asarray(session)
    n_sessions = int(session.max()) + 1
    if n_sessions < cfg.train_sessions:
        raise ParameterError(f"the bars hold {n_sessions} sessions; `train_sessions`={cfg.train_sessions} are "
                             "needed for the final fit.")
    train = np.flatnonzero(session >= n_sessions - cfg.train_sessions)
    tr, selected = _select("final", train, X, labels, weights, cfg)
    params, n_trials = _tune("final", tr, selected, X, labels, weights, cfg)
    model = _fit(train, tr, selected, X, labels, weights, cfg, params)
    classes = np.unique(labels["label"].dropna().to_numpy())
    return FinalFit(model=model, selected=list(selected), classes=[_fmt(c) for c in classes], params=params,
                    train_start=bars.index[train[0]], train_end=bars.index[train[-1]], n_train=int(len(tr)),
                    n_trials=int(n_trials), config=cfg, features=X.iloc[train][list(selected)])


def directional_probability(up, down):
    """``up / (up + down)``: the chance of up given a barrier is hit; NaN where both are 0."""
    total = up + down
    if isinstance(total, pd.Series):
        return up / total.where(total > 0)
    if isinstance(total, np.ndarray):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, up / np.where(total > 0, total, 1.0), np.nan)
    return up / total if total > 0 else float("nan")


def signal_probability(predictions: pd.DataFrame) -> pd.Series:
    """The probability a strategy trades on, from walk-forward predictions.

    With down (``p_-1``) and up (``p_1``) classes it is ``P(up) / (P(up) +
    P(down))``: the chance the move is up given that a barrier is hit, so 0.5
    is neutral whatever the share of the time-out class.  With two classes it
    is ``p_up``.
    """
    if "p_-1" in predictions.columns and "p_1" in predictions.columns:
        return directional_probability(predictions["p_1"], predictions["p_-1"]).rename("probability")
    if "p_up" not in predictions.columns:
        raise ParameterError("the predictions have no `p_up` column (expected the output of "
                             "python -m runners.walkforward)")
    return predictions["p_up"].rename("probability")


def traded_probability(proba: np.ndarray, classes) -> np.ndarray:
    """:func:`signal_probability` of a model's ``predict_proba`` output (columns in ``classes`` order)."""
    names = [_fmt(float(c)) if not isinstance(c, str) else c for c in classes]
    proba = np.asarray(proba, dtype=np.float64)
    if "-1" in names and "1" in names:
        return directional_probability(proba[:, names.index("1")], proba[:, names.index("-1")])
    return proba[:, -1]
