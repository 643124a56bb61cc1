"""Combinatorial purged cross-validation of the walk-forward's model: many backtest paths.

:func:`cpcv_paths` trains the walk-forward's model (same features, labels,
uniqueness weights, per-fold selection and tuning, seed) on every split of
:class:`ml.validation.CombinatorialPurgedCV` and stitches the test
probabilities into ``C(N-1, k-1)`` complete paths over all bars (Lopez de
Prado 2018, ch. 12).  Each path is one out-of-sample history of the
strategy; backtesting each gives a *distribution* of Sharpe ratios instead
of the single number a walk-forward gives.  Unlike a walk-forward, a split
trains on data from both sides of its test groups (purged of overlapping
labels, embargoed after each block): the paths answer "how much does the
result depend on which history the model saw", not "what would live trading
have made".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import joblib
import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from ml.data import check_bar_frame
from ml.exceptions import ParameterError
from ml.training._walkforward import (
    WalkForwardConfig,
    _inputs,
    _fmt,
    _run_fold,
    _window_of,
)
from ml.validation import CombinatorialPurgedCV

__all__ = ["CPCVResult", "cpcv_paths"]


@dataclass
class CPCVResult:
    """Stitched CPCV paths.

    Attributes
    ----------
    paths : list of DataFrame
        One per path, indexed like the bars: ``p_<class>`` probabilities of
        every bar (each from the one split that tested it in this path) and
        ``p_up``, the highest class's.
    labels : DataFrame
        The labels (``label``, ``ret``, ``t1``) the models were trained on.
    n_groups, n_test_groups, n_splits, n_paths : int
    classes : list
    split_auc : list of float
        Up-vs-rest AUC of each split's test rows.
    """

    paths: list = field(repr=False)
    labels: pd.DataFrame = field(repr=False)
    n_groups: int = 0
    n_test_groups: int = 0
    n_splits: int = 0
    n_paths: int = 0
    classes: list = field(default_factory=list)
    split_auc: list = field(default_factory=list)


def _split(k, tr, te, X, labels, weights, cfg, classes, threads):
    fold = _run_fold(k, tr, te, X, labels, weights, cfg, classes, False, threads=threads, diagnostics=False)
    return fold.proba.to_numpy(), fold.metrics.get("auc", float("nan"))


def cpcv_paths(bars: pd.DataFrame, config: WalkForwardConfig | None = None, *, n_groups: int = 6,
               n_test_groups: int = 2, embargo=0) -> CPCVResult:
    """Train ``config``'s model on every CPCV split and stitch the test probabilities into paths.

    Parameters
    ----------
    bars : DataFrame
        Bars as for :func:`train_walkforward`.
    config : WalkForwardConfig, optional
        The model, labels, selection, tuning, seed and ``n_jobs`` (splits in
        parallel through joblib); the walk-forward windows are not used.
    n_groups, n_test_groups : int
        ``N`` and ``k`` of :class:`ml.validation.CombinatorialPurgedCV`:
        ``C(N, k)`` splits, ``C(N-1, k-1)`` paths (6 and 2: 15 splits, 5 paths).
    embargo : int, float or Timedelta
        Embargo after each test block.

    Returns
    -------
    CPCVResult
    """
    cfg = config or WalkForwardConfig()
    cfg.validate()
    check_bar_frame(bars)
    if _window_of(cfg.model) > 1:
        raise ParameterError(f"CPCV with the sequence model {cfg.model!r} is not supported: its test groups are "
                             "not contiguous, and a sequence model reads the bars before each row; use a row "
                             "model (logistic, catboost, random_forest, svm, mlp, ensemble).")
    cal, X, labels, weights, _ = _inputs(bars, cfg)
    t1 = labels["t1"].where(labels["t1"].notna(), pd.Series(bars.index, index=bars.index))
    cv = CombinatorialPurgedCV(n_groups=n_groups, n_test_groups=n_test_groups, t1=t1, embargo=embargo)
    splits = list(cv.split(X))
    classes = np.unique(labels["label"].dropna().to_numpy())
    if len(classes) < 2:
        raise ParameterError("labels hold fewer than two classes; check the label settings.")
    workers = max(1, min(joblib.effective_n_jobs(cfg.n_jobs), len(splits)))
    threads = max(1, joblib.cpu_count() // workers)
    tasks = [delayed(_split)(k, tr, te, X, labels, weights, cfg, classes, threads)
             for k, (tr, te) in enumerate(splits)]
    out = [fn(*a, **kw) for fn, a, kw in tasks] if workers == 1 else Parallel(n_jobs=cfg.n_jobs)(tasks)
    stitched = cv.stitch_paths([p for p, _ in out], len(X))
    cols = [f"p_{_fmt(c)}" for c in classes]
    paths = []
    for i in range(cv.n_paths):
        frame = pd.DataFrame(stitched[i], index=X.index, columns=cols)
        frame["p_up"] = frame[cols[-1]]  # as the walk-forward's predictions: the highest class
        paths.append(frame)
    return CPCVResult(paths=paths, labels=labels[["label", "ret", "t1"]], n_groups=n_groups,
                      n_test_groups=n_test_groups, n_splits=len(splits), n_paths=cv.n_paths,
                      classes=[_fmt(c) for c in classes], split_auc=[float(a) for _, a in out])
