"""Walk-forward training: per fold selection, (tuning), fit and out-of-sample probabilities."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import joblib

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

from ml._checks import check_choice, check_int, did_you_mean
from ml._fingerprint import source_hash
from ml.data import bars_calendar, check_bar_frame
from ml.exceptions import CheckpointWarning, ParameterError
from ml.features import FeatureSelector, available_features, bagging_share, build_features, usable_rows
from ml.labels import fixed_horizon_labels, triple_barrier_labels, uniqueness_weights
from ml.models import feature_importance, get_model, get_model_class, importance_stability
from ml.training._baselines import fold_baselines
from ml.validation import PurgedKFold, WalkForward

__all__ = ["FoldResult", "LABELS", "WalkForwardConfig", "WalkForwardResult", "train_walkforward"]

#: ``WalkForwardConfig.model`` value of a stacking ensemble.
ENSEMBLE = "ensemble"
BLEND = "blend"
#: Models made of ``ensemble_models``: stacking, and regime-weighted blending.
COMBINED = (ENSEMBLE, BLEND)

#: label name -> function(bars, calendar=..., **label_params)
LABELS = {
    "triple_barrier": lambda bars, calendar, **kw: triple_barrier_labels(bars, calendar=calendar, **kw),
    "fixed_horizon": lambda bars, calendar, **kw: fixed_horizon_labels(bars, calendar=calendar, **kw),
}
_DEFAULT_LABEL_PARAMS = {"triple_barrier": {"max_holding": 5, "pt": 1.0, "sl": 1.0},
                         "fixed_horizon": {"horizon": 5, "threshold": 0.0}}


@dataclass(frozen=True)
class WalkForwardConfig:
    """Everything :func:`train_walkforward` does, as data (TOML / CLI map onto it).

    Parameters
    ----------
    model : str
        Registered classifier (default ``logistic``, the L2-regularised
        :class:`ml.models._sklearn.LogisticModel`; ``catboost``,
        ``random_forest``, ``svm``, ``mlp``, ``lstm``, ``transformer``), or
        ``"ensemble"``: a
        :class:`ml.ensemble.StackingEnsemble` of ``ensemble_models`` whose
        final logistic regression is fit on out-of-fold probabilities of an
        inner purged K-fold (``tune_splits`` folds) of the fold's training rows;
        or ``"blend"``: a :class:`ml.ensemble.RegimeBlendEnsemble` of
        ``ensemble_models``, their out-of-fold probabilities (the same inner
        folds) blended with one log-loss-optimal weight vector per volatility
        regime of a Gaussian mixture fitted on the fold's training rows.
    model_params : dict
        Constructor arguments of the model (``random_state`` is ``seed``);
        for ``"ensemble"``, ``{base model name: {arguments}}``.
    ensemble_models : tuple of str
        Base classifiers of ``model="ensemble"`` or ``"blend"`` (row models only: no
        ``lstm`` / ``transformer``).
    label : {"triple_barrier", "fixed_horizon"}
    label_params : dict, optional
        Arguments of the label function (default: 5 bars, 1 x volatility
        barriers / zero threshold; a 30-bar horizon capped a planted
        next-bar edge's AUC at about 0.51, see ``python -m benchmarks.honesty``).
    train_sessions, test_sessions : int
        Walk-forward window lengths in sessions of the bars' calendar.
    step_sessions : int, optional
        Move per fold (default ``test_sessions``: every later bar is tested once).
    anchored : bool
        Expanding instead of rolling training window.
    n_features : int
        Features kept per fold by :class:`ml.features.FeatureSelector`, fit
        on that fold's training rows only; 0 (the default) keeps all.
    selector : {"mdi", "permutation", "mutual_info"}
    feature_groups : tuple of str, optional
        Feature groups to build (default all).
    tune_trials : int
        Optuna trials per fold (0: no tuning), over an inner purged K-fold of
        the fold's training rows.
    tune_splits : int
        Inner folds for tuning.
    tune_scoring : {"log_loss", "sharpe", "accuracy"}
    storage : str, optional
        Optuna storage URL; each fold's study is ``"<study_name>-fold<k>"``.
    study_name : str
    seed : int
        Seed of the models, the selector and the sampler.
    n_jobs : int
        Folds trained in parallel (joblib; ``joblib.parallel_config`` picks
        the backend, e.g. Dask or Ray on a cluster).
    calendar : str, optional
        Session calendar (default: the bars' own).
    min_train_rows : int
        A fold with fewer labelled training rows is an error.
    """

    model: str = "logistic"
    model_params: dict = field(default_factory=dict)
    ensemble_models: tuple = ("catboost", "random_forest")
    label: str = "triple_barrier"
    label_params: dict | None = None
    train_sessions: int = 20
    test_sessions: int = 5
    step_sessions: int | None = None
    anchored: bool = False
    n_features: int = 0
    selector: str = "mdi"
    feature_groups: tuple | None = None
    tune_trials: int = 0
    tune_splits: int = 3
    tune_scoring: str = "log_loss"
    storage: str | None = None
    study_name: str = "walkforward"
    seed: int = 0
    n_jobs: int = 1
    calendar: str | None = None
    min_train_rows: int = 200

    def replace(self, **changes) -> "WalkForwardConfig":
        """A copy with ``changes``; unknown names get a did-you-mean error."""
        names = [f.name for f in dataclasses.fields(self)]
        for k in changes:
            if k not in names:
                raise ParameterError(f"unknown setting {k!r}.{did_you_mean(k, names)}")
        return dataclasses.replace(self, **changes)

    def validate(self) -> None:
        """Check every setting; raise ParameterError naming the bad one."""
        names = [self.model] if self.model not in COMBINED else list(self._ensemble_members())
        for name in names:
            cls = get_model_class(name)
            if cls.kind != "classifier":
                raise ParameterError(f"`model` {name!r} is a {cls.kind} model; choose a classifier.")
            params = self.model_params if self.model not in COMBINED else self.model_params.get(name, {})
            if isinstance(params, dict):
                known = list(cls().get_params())
                for key in params:
                    if key not in known:
                        raise ParameterError(f"`model_params`: {key!r} is not a parameter of {name} "
                                             f"({', '.join(sorted(known))}).{did_you_mean(key, known)}")
        check_choice("label", self.label, LABELS)
        for name, lo in (("train_sessions", 1), ("test_sessions", 1), ("n_features", 0), ("tune_trials", 0),
                         ("tune_splits", 2), ("min_train_rows", 1)):
            check_int(name, getattr(self, name), lo, type_error=ParameterError)
        check_int("step_sessions", self.step_sessions, 1, allow_none=True, type_error=ParameterError)
        if self.step_sessions is not None and self.step_sessions < self.test_sessions:
            raise ParameterError(f"`step_sessions` must be >= `test_sessions` ({self.test_sessions}) so that every "
                                 f"bar is tested once, got {self.step_sessions}.")
        if not isinstance(self.n_jobs, (int, np.integer)) or self.n_jobs == 0:
            raise ParameterError(f"`n_jobs` must be a non-zero int (-1: all cores), got {self.n_jobs!r}.")
        if not isinstance(self.model_params, dict):
            raise TypeError(f"`model_params` must be a dict, got {type(self.model_params).__name__}.")
        if self.model in COMBINED:
            members = self._ensemble_members()
            for name in members:
                if _window_of(name) > 1:
                    raise ParameterError(f"`ensemble_models`: {name!r} reads windows of past bars and cannot "
                                         "be stacked on single rows; use row models (catboost, random_forest, "
                                         "svm, mlp).")
            for key, value in self.model_params.items():
                if key not in members or not isinstance(value, dict):
                    raise ParameterError(f"`model_params` of an ensemble maps base model names "
                                         f"({', '.join(members)}) to dicts of arguments; got {key!r}: {value!r}.")
            if self.tune_trials:
                raise ParameterError(f"`tune_trials` is not supported with model={self.model!r}; tune the base "
                                     "models one by one, then pass their parameters in `model_params`.")

    def _ensemble_members(self) -> tuple:
        members = self.ensemble_models
        if isinstance(members, str) or not isinstance(members, (list, tuple)) or len(members) < 2:
            raise ParameterError(f"`ensemble_models` must list at least two classifiers, got {members!r}.")
        if len(set(members)) != len(members):
            raise ParameterError(f"`ensemble_models` lists a model twice: {members!r}.")
        return tuple(members)


@dataclass
class FoldResult:
    """One fold: its windows, selected features, parameters, metrics and importance."""

    fold: int
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    n_train: int
    n_test: int
    n_purged: int
    selected: list
    params: dict
    metrics: dict
    importance: pd.Series
    proba: pd.DataFrame = field(repr=False)
    n_trials: int = 0
    seconds: float = 0.0
    model: object = field(default=None, repr=False)
    baseline_feature: str = ""
    baseline_feature_auc: float = float("nan")
    baselines: pd.DataFrame | None = field(default=None, repr=False)
    #: Seconds per stage: ``select``, ``baselines``, ``tune``, ``fit``, ``predict``, ``importance``.
    stages: dict = field(default_factory=dict)


@dataclass
class WalkForwardResult:
    """Stitched out-of-sample predictions and per-fold diagnostics.

    Attributes
    ----------
    predictions : DataFrame
        One row per tested bar: ``fold``, ``p_<class>`` probabilities,
        ``p_up`` (probability of the highest class), ``label``, ``ret``, ``t1``,
        and the baselines' P(up) (``baseline_one_feature_logistic``,
        ``baseline_raw_feature``) with the fold's best training feature
        (``baseline_feature``; see :mod:`ml.training._baselines`).
    folds : list of FoldResult
    fold_metrics : DataFrame
        Per fold: windows, rows, AUC, log loss, accuracy, trials, seconds.
    metrics : dict
        Over all out-of-sample labelled rows: auc (up vs rest), log_loss,
        accuracy, n_predictions, n_labelled, n_folds, tuning_trials (Optuna
        trials run inside the folds: they never see out-of-sample data, so
        they are NOT the trial count of the deflated Sharpe ratio, which
        counts the walk-forward configurations a user compares),
        importance_stability (mean rank correlation on the features two folds
        share), selection_jaccard (mean overlap of the folds' selections).
    importance : DataFrame
        Features x folds (NaN where a fold did not select the feature).
    stability : dict
        :func:`ml.models.importance_stability` of ``importance``.
    selection_frequency : Series
        Share of folds that selected each feature.
    features, labels : DataFrame
        All features and labels (for reports).
    config : WalkForwardConfig
    resumed_folds : list of int
        Folds loaded from ``checkpoint`` instead of being trained again.
    retrained_folds : dict
        Fold -> why its saved checkpoint could not be used (unreadable, made
        with other settings); each was trained again and a
        :class:`~ml.exceptions.CheckpointWarning` said so.
    """

    predictions: pd.DataFrame
    folds: list
    fold_metrics: pd.DataFrame
    metrics: dict
    importance: pd.DataFrame
    stability: dict
    selection_frequency: pd.Series
    features: pd.DataFrame = field(repr=False)
    labels: pd.DataFrame = field(repr=False)
    config: WalkForwardConfig = field(repr=False)
    resumed_folds: list = field(default_factory=list)
    retrained_folds: dict = field(default_factory=dict)


def _classification_metrics(y, proba: np.ndarray, classes: np.ndarray) -> dict:
    """Up-vs-rest AUC, log loss and accuracy; NaN where undefined.

    ``auc`` is the ROC AUC of ``P(up)`` (the highest class, the probability a
    strategy trades on) for telling up-labelled bars from all others: the
    same quantity in every fold whatever classes the fold happens to hold,
    unlike a macro one-vs-rest average that a rare class would swing.
    """
    out = {"n": int(len(y))}
    if len(y) == 0:
        return {**out, "auc": np.nan, "log_loss": np.nan, "accuracy": np.nan}
    out["accuracy"] = float(accuracy_score(y, classes[np.argmax(proba, axis=1)]))
    p = np.clip(proba, 1e-15, 1)
    out["log_loss"] = float(log_loss(y, p / p.sum(axis=1, keepdims=True), labels=classes))
    up = y == classes[-1]
    out["auc"] = float(roc_auc_score(up, proba[:, -1])) if 0 < up.sum() < len(up) else np.nan
    return out


def _window_of(name: str) -> int:
    """Bars of context a model reads per prediction (1: a row model)."""
    if name in COMBINED:
        return 1
    return int(get_model_class(name)().get_params().get("window", 1) or 1)


def _new_model(cfg: WalkForwardConfig, params: dict, t1_train: pd.Series):
    if cfg.model not in COMBINED:
        return get_model(cfg.model, **params)
    from ml.ensemble import RegimeBlendEnsemble, StackingEnsemble

    estimators = [(name, get_model(name, **{"random_state": cfg.seed, **cfg.model_params.get(name, {})}))
                  for name in cfg.ensemble_models]
    cv = PurgedKFold(cfg.tune_splits, t1=t1_train)
    if cfg.model == BLEND:
        return RegimeBlendEnsemble(estimators, cv=cv, random_state=cfg.seed)
    return StackingEnsemble(estimators, cv=cv)


def _run_fold(*args, **kwargs):
    """:func:`_fold` with one BLAS thread, in this process or a joblib worker, for every caller (the
    walk-forward's folds, CPCV's splits): a multi-threaded BLAS sums in an order that depends on its
    thread count, and a fold must give the same numbers whatever ``n_jobs``."""
    with threadpool_limits(limits=1, user_api="blas"):
        return _fold(*args, **kwargs)


def _select(k, train, X, labels, weights, cfg: WalkForwardConfig, threads=1):
    """``(labelled training rows, selected features)`` of one training window (rows ``train``).

    Only features defined on most training rows compete (the forest drops rows
    with a NaN, and a window longer than the training span would leave it a
    handful of rows).
    """
    y_all = labels["label"].to_numpy()
    tr = train[~np.isnan(y_all[train])]
    if len(tr) < cfg.min_train_rows:
        raise ParameterError(f"fold {k} has {len(tr)} labelled training rows (< `min_train_rows` "
                             f"{cfg.min_train_rows}); use more `train_sessions` or a shorter label horizon.")
    Xtr, ytr = X.iloc[tr], y_all[tr]
    if len(np.unique(ytr)) < 2:
        raise ParameterError(f"fold {k}: training labels hold a single class; check the label settings.")
    selected = list(X.columns)
    if cfg.n_features and cfg.n_features < X.shape[1]:
        candidates = available_features(Xtr)
        if len(candidates) < 2:
            raise ParameterError(f"fold {k}: fewer than two features are defined on half of its {len(tr)} "
                                 "training rows (their windows are longer than the training span); use more "
                                 "`train_sessions`.")
        if cfg.n_features < len(candidates):
            share = bagging_share(weights[tr], usable_rows(Xtr[candidates]), min_samples_leaf=20)
            sel = FeatureSelector(n_features=cfg.n_features, method=cfg.selector, max_samples=share,
                                  min_samples_leaf=20, random_state=cfg.seed, n_jobs=threads)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sel.fit(Xtr[candidates], ytr, t1=labels["t1"].iloc[tr])
            selected = list(sel.selected_)
        else:
            selected = candidates
    return tr, selected


def _tune(k, tr, selected, X, labels, weights, cfg: WalkForwardConfig):
    """``(params, trials run)``: the model's parameters, tuned by Optuna over an inner purged K-fold of
    the training rows when ``cfg.tune_trials``; ``model_params`` may pin its own seed, and an
    ensemble seeds each base model."""
    params = {} if cfg.model in COMBINED else {"random_state": cfg.seed, **cfg.model_params}
    if not cfg.tune_trials:
        return params, 0
    from ml.tuning import tune

    inner = PurgedKFold(cfg.tune_splits, t1=labels["t1"].iloc[tr])
    res = tune(cfg.model, X.iloc[tr][selected], labels["label"].to_numpy()[tr], inner, n_trials=cfg.tune_trials,
               storage=cfg.storage, study_name=f"{cfg.study_name}-fold{k}", scoring=cfg.tune_scoring,
               returns=labels["ret"].iloc[tr].to_numpy(), sample_weight=weights[tr],
               fixed_params=dict(params), seed=cfg.seed)
    params.update(res.best_params)
    return params, res.n_trials_run


def _fit(train, tr, selected, X, labels, weights, cfg: WalkForwardConfig, params):
    """The model fitted on the labelled training rows ``tr`` (weighted by label uniqueness).

    Sequence models (window > 1) read the bars before each row: they get the
    contiguous training rows, the unlabelled (purged) ones only as context.
    """
    y_all = labels["label"].to_numpy()
    model = _new_model(cfg, params, labels["t1"].iloc[tr])
    if _window_of(cfg.model) > 1:
        ctx = np.arange(train[0], train[-1] + 1)
        purged = ~np.isin(ctx, train)          # rows the splitter purged: context only, never a label
        y_ctx = np.where(purged, np.nan, y_all[ctx])
        w_ctx = np.where(purged, 0.0, np.nan_to_num(weights[ctx]))
        model.fit(X.iloc[ctx][selected], y_ctx, sample_weight=w_ctx)
    else:
        model.fit(X.iloc[tr][selected], y_all[tr], sample_weight=weights[tr])
    return model


def _fold(k, train, test, X, labels, weights, cfg: WalkForwardConfig, classes, keep_model, threads=1,
          diagnostics=True):
    """Select, (tune), fit, predict and explain one fold.

    ``threads``: the cores this fold may use (all of them divided among the
    folds running at once).  They go only to work whose numbers do not depend
    on the thread count -- the selection forest (scikit-learn seeds each tree,
    whatever the threads) and CatBoost's SHAP values (row by row) -- never to
    the model's own fit, whose results would change with it (CatBoost's do), so
    a run gives the same numbers with any ``n_jobs``.  ``diagnostics=False``
    skips the baselines and the feature importance (CPCV's many splits need
    only the probabilities).
    """
    t0 = time.perf_counter()
    stages = {}
    clock = [t0]

    def lap(name):
        now = time.perf_counter()
        stages[name] = stages.get(name, 0.0) + now - clock[0]
        clock[0] = now

    y_all = labels["label"].to_numpy()
    window = _window_of(cfg.model)
    tr, selected = _select(k, train, X, labels, weights, cfg, threads)
    lap("select")   # (the few checks before the selection included)
    # the simple baselines, on the same training rows (ml.training._baselines)
    base_feature, base_auc, base = (fold_baselines(X.iloc[tr], y_all[tr], weights[tr], X.iloc[test], classes,
                                                   cfg.seed)
                                    if diagnostics else ("", float("nan"), None))
    lap("baselines")
    params, n_trials = _tune(k, tr, selected, X, labels, weights, cfg)
    lap("tune")
    model = _fit(train, tr, selected, X, labels, weights, cfg, params)
    lap("fit")
    if window > 1:
        # Sequence models read the window-1 bars before the test window (past data) at prediction time.
        start = max(0, test[0] - (window - 1))
        p = model.predict_proba(X.iloc[start:test[-1] + 1][selected])[-len(test):]
    else:
        p = model.predict_proba(X.iloc[test][selected])
    Xte = X.iloc[test][selected]
    proba = np.zeros((len(test), len(classes)))
    for j, c in enumerate(model.classes_):
        proba[:, int(np.searchsorted(classes, c))] = p[:, j]
    yte = y_all[test]
    lab = ~np.isnan(yte)
    metrics = _classification_metrics(yte[lab], proba[lab], classes)
    lap("predict")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if diagnostics and lab.sum() >= 10 and len(np.unique(yte[lab])) > 1:
            fit_threads = model.get_params().get("thread_count") if hasattr(model, "shap_values") else None
            if fit_threads is not None:  # SHAP values do not depend on the threads; the fit did
                model.set_params(thread_count=threads)
            try:
                imp = feature_importance(model, Xte[lab], yte[lab], method="auto", random_state=cfg.seed)
            finally:
                if fit_threads is not None:
                    model.set_params(thread_count=fit_threads)
        else:
            imp = pd.Series(np.nan, index=selected)
    lap("importance")
    idx = X.index
    # The training window runs from its first row to the bar before the test
    # window; rows of it the splitter left out were purged.
    n_window = int(test[0] - train[0])
    return FoldResult(
        fold=k, train_start=idx[train[0]], train_end=idx[test[0] - 1], test_start=idx[test[0]],
        test_end=idx[test[-1]], n_train=int(len(tr)), n_test=int(len(test)),
        n_purged=n_window - int(len(train)), selected=selected, params=params, metrics=metrics, importance=imp,
        proba=pd.DataFrame(proba, index=idx[test], columns=[f"p_{_fmt(c)}" for c in classes]),
        n_trials=n_trials, seconds=time.perf_counter() - t0, model=model if keep_model else None,
        baseline_feature=base_feature, baseline_feature_auc=base_auc, baselines=base,
        stages={k: round(v, 4) for k, v in stages.items()},
    )


def _fmt(c) -> str:
    return str(int(c)) if float(c).is_integer() else str(c)


def _run_key(cfg: WalkForwardConfig, X: pd.DataFrame, labels: pd.DataFrame) -> str:
    """Hash of everything that decides a fold's result: features, labels and settings."""
    h = hashlib.sha256()
    h.update(pd.util.hash_pandas_object(X, index=True).to_numpy().tobytes())
    h.update(pd.util.hash_pandas_object(labels[["label", "ret", "t1"]], index=True).to_numpy().tobytes())
    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "n_jobs"}
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    h.update(_code_fingerprint().encode())
    return h.hexdigest()


def _code_fingerprint() -> str:
    """Hash of this package's source and the model libraries' versions: a fold saved by other
    code is trained again."""
    import importlib.metadata

    h = hashlib.sha256(source_hash("ml").encode())
    for lib in ("numpy", "pandas", "scikit-learn", "catboost", "torch", "numba"):
        try:
            h.update(f"{lib}={importlib.metadata.version(lib)}".encode())
        except importlib.metadata.PackageNotFoundError:
            pass
    return h.hexdigest()


def _fold_key(run_key: str, k: int, train: np.ndarray, test: np.ndarray) -> str:
    h = hashlib.sha256(run_key.encode())
    h.update(str(k).encode())
    h.update(np.ascontiguousarray(train, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(test, dtype=np.int64).tobytes())
    return h.hexdigest()


def _fold_file(checkpoint: Path, k: int) -> Path:
    return checkpoint / f"fold-{k:03d}.joblib"


def _load_fold(checkpoint: Path, k: int, key: str, need_model: bool):
    """``(fold, None)`` for the saved fold ``k`` if it was trained with this key (and holds a
    model when needed); ``(None, reason)`` when a saved file cannot be used; ``(None, None)``
    when there is none."""
    path = _fold_file(checkpoint, k)
    if not path.is_file():
        return None, None
    try:
        saved = joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - an unreadable checkpoint is trained again (and said so)
        first = (str(exc).splitlines() or [""])[0][:200]
        return None, f"unreadable ({type(exc).__name__}{': ' + first if first else ''})"
    if not isinstance(saved, dict) or not isinstance(saved.get("fold"), FoldResult):
        return None, f"not a fold checkpoint (holds {type(saved).__name__})"
    if saved.get("key") != key:
        return None, "made with other settings, data or code"
    fold = saved["fold"]
    if need_model and fold.model is None:
        return None, "saved without its model (it could not be pickled), which this run needs"
    return fold, None


def _save_fold(checkpoint: Path, key: str, fold: FoldResult) -> None:
    """Write a finished fold atomically (temporary file, then rename)."""
    path = _fold_file(checkpoint, fold.fold)
    fd, tmp = tempfile.mkstemp(dir=checkpoint, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        try:
            joblib.dump({"key": key, "fold": fold}, tmp)
        except Exception:  # noqa: BLE001 - a model that cannot be pickled: keep the fold without it
            joblib.dump({"key": key, "fold": dataclasses.replace(fold, model=None)}, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _run_fold_saved(checkpoint, key, *args, **kwargs):
    fold = _run_fold(*args, **kwargs)
    if checkpoint is not None:
        _save_fold(checkpoint, key, fold)
    return fold


def _inputs(bars: pd.DataFrame, cfg: WalkForwardConfig):
    """``(calendar, features, labels, uniqueness weights, session numbers)`` of ``bars`` under ``cfg``
    (validated): what every training path (walk-forward, CPCV, the final fit) starts from."""
    cfg.validate()
    check_bar_frame(bars)
    cal = bars_calendar(bars, cfg.calendar)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skipped-feature warnings: listed in X.attrs
        X = build_features(bars, groups=list(cfg.feature_groups) if cfg.feature_groups else None, calendar=cal)
    label_params = {**_DEFAULT_LABEL_PARAMS[cfg.label], **(cfg.label_params or {})}
    labels = LABELS[cfg.label](bars, cal, **label_params)
    weights = uniqueness_weights(labels["t1"], bars.index).to_numpy()
    session = cal.sessions(bars.index).session
    return cal, X, labels, weights, session


def train_walkforward(bars: pd.DataFrame, config: WalkForwardConfig | None = None, *, keep_models: bool = False,
                      progress: bool = False, checkpoint=None, **overrides) -> WalkForwardResult:
    """Train and test a model walking forward through the sessions of ``bars``.

    Per fold: feature selection on the training rows only, optional Optuna
    tuning over an inner purged K-fold of the training rows, a fit on the
    training rows (weighted by label uniqueness) and probabilities for every
    bar of the test window.  Training labels whose end time ``t1`` reaches
    into the test window are purged.  Selection runs once per fold, before
    the inner tuning folds, so inner-CV scores are slightly optimistic (they
    rank parameters; the out-of-sample figures come from the test windows).  Features and labels are computed once
    for the whole series: both are causal (tested), so this equals computing
    them per fold.  Folds run in parallel through joblib (``n_jobs``).

    Parameters
    ----------
    bars : DataFrame
        One instrument's bars (a continuous series for futures), as from
        :func:`ml.data.load_bars` / :func:`ml.data.continuous_contract`.
    config : WalkForwardConfig, optional
    keep_models : bool
        Keep each fold's fitted model on its :class:`FoldResult`.
    progress : bool
        Show a progress bar over folds (sequential runs).
    checkpoint : str or Path, optional
        Folder where each finished fold is saved (atomically, with its model
        when it can be pickled).  A later call with the same folder loads the
        folds whose features, labels, settings and windows are unchanged
        instead of training them again (``result.resumed_folds``); any
        change trains the fold again and replaces its file.  A saved file that
        cannot be used (unreadable, made with other settings) is named in a
        :class:`~ml.exceptions.CheckpointWarning` with the reason
        (``result.retrained_folds``).
    **overrides
        Settings replacing those of ``config`` (e.g. ``model="random_forest"``).

    Returns
    -------
    WalkForwardResult
    """
    cfg = (config or WalkForwardConfig()).replace(**overrides) if overrides else (config or WalkForwardConfig())
    cal, X, labels, weights, session = _inputs(bars, cfg)
    # Unlabelled bars still get predictions; their label "ends" where it starts.
    t1 = labels["t1"].where(labels["t1"].notna(), pd.Series(bars.index, index=bars.index))
    wf = WalkForward(cfg.train_sessions, cfg.test_sessions, step=cfg.step_sessions, anchored=cfg.anchored,
                     purge=True, t1=t1, unit="sessions")
    n_sessions = int(session.max()) + 1
    if n_sessions < cfg.train_sessions + 1:
        raise ParameterError(f"the bars hold {n_sessions} sessions; `train_sessions`={cfg.train_sessions} "
                             f"plus at least one test session are needed.")
    splits = list(wf.split(X, groups=session))
    classes = np.unique(labels["label"].dropna().to_numpy())
    if len(classes) < 2:
        raise ParameterError("labels hold fewer than two classes; check the label settings.")
    done, tasks, keys, retrained = {}, [], {}, {}
    ckpt = None
    if checkpoint is not None:
        ckpt = Path(checkpoint)
        ckpt.mkdir(parents=True, exist_ok=True)
        run_key = _run_key(cfg, X, labels)
    for k, (tr, te) in enumerate(splits):
        if ckpt is not None:
            keys[k] = _fold_key(run_key, k, tr, te)
            fold, why = _load_fold(ckpt, k, keys[k], keep_models)
            if fold is not None:
                done[k] = fold if keep_models else dataclasses.replace(fold, model=None)
                continue
            if why is not None:
                retrained[k] = why
                warnings.warn(f"checkpoint of fold {k} ({_fold_file(ckpt, k)}) is {why}: training fold {k} "
                              "again", CheckpointWarning, stacklevel=2)
        tasks.append((ckpt, keys.get(k), k, tr, te, X, labels, weights, cfg, classes,
                      keep_models or ckpt is not None))
    # the cores each fold may use for thread-count-independent work (see _run_fold)
    workers = max(1, min(joblib.effective_n_jobs(cfg.n_jobs), len(tasks)))
    threads = max(1, joblib.cpu_count() // workers)
    tasks = [delayed(_run_fold_saved)(*a, threads=threads) for a in tasks]
    if cfg.n_jobs == 1:
        it = tasks
        if progress and tasks:
            from tqdm.auto import tqdm

            it = tqdm(tasks, desc="walk-forward folds", unit="fold", initial=len(done), total=len(splits))
        new = [fn(*a, **kw) for fn, a, kw in it]
    else:
        new = Parallel(n_jobs=cfg.n_jobs)(tasks)
    if not keep_models:
        new = [dataclasses.replace(f, model=None) for f in new]
    folds = sorted([*done.values(), *new], key=lambda f: f.fold)

    preds = pd.concat([f.proba.assign(fold=f.fold) for f in folds])
    preds = preds[["fold", *[c for c in preds.columns if c != "fold"]]]
    preds["p_up"] = preds[f"p_{_fmt(classes[-1])}"]
    preds = preds.join(labels[["label", "ret", "t1"]])
    base = [f.baselines.assign(feature=f.baseline_feature) for f in folds if f.baselines is not None]
    if len(base) == len(folds):
        base = pd.concat(base).add_prefix("baseline_")
        preds = preds.join(base)
    preds.index.name = "timestamp"
    lab = preds["label"].notna().to_numpy()
    pcols = [f"p_{_fmt(c)}" for c in classes]
    overall = _classification_metrics(preds["label"].to_numpy()[lab], preds[pcols].to_numpy()[lab], classes)
    # NaN where a fold did not select the feature: ranking agreement is measured
    # on the features two folds share; selection agreement separately (Jaccard).
    importance = pd.concat([f.importance.rename(f.fold) for f in folds], axis=1)
    importance.columns.name = "fold"
    stability = {"mean": np.nan, "n_folds": len(folds)}
    if len(folds) > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                stability = importance_stability(importance, missing="shared")
            except ParameterError:
                pass
    sets = [set(f.selected) for f in folds]
    pairs = [(a, b) for i, a in enumerate(sets) for b in sets[i + 1:]]
    jaccard = float(np.mean([len(a & b) / len(a | b) for a, b in pairs])) if pairs else np.nan
    freq = pd.Series(0.0, index=X.columns)
    for f in folds:
        freq[f.selected] += 1.0 / len(folds)
    fold_metrics = pd.DataFrame([{
        "fold": f.fold, "train_start": f.train_start, "train_end": f.train_end, "test_start": f.test_start,
        "test_end": f.test_end, "n_train": f.n_train, "n_test": f.n_test, "n_purged": f.n_purged,
        "auc": f.metrics["auc"], "log_loss": f.metrics["log_loss"], "accuracy": f.metrics["accuracy"],
        "tuning_trials": f.n_trials, "baseline_feature": f.baseline_feature,
        "baseline_feature_train_auc": f.baseline_feature_auc,
        "seconds": round(f.seconds, 3),
        **{f"{k}_s": v for k, v in f.stages.items()}} for f in folds]).set_index("fold")
    metrics = {
        "auc": overall["auc"], "log_loss": overall["log_loss"], "accuracy": overall["accuracy"],
        "n_predictions": int(len(preds)), "n_labelled": int(lab.sum()), "n_folds": len(folds),
        "tuning_trials": int(sum(f.n_trials for f in folds)),
        "importance_stability": float(stability.get("mean", np.nan)),
        "selection_jaccard": jaccard,
        "classes": [_fmt(c) for c in classes],
    }
    return WalkForwardResult(predictions=preds, folds=folds, fold_metrics=fold_metrics, metrics=metrics,
                             importance=importance, stability=stability,
                             selection_frequency=freq.sort_values(ascending=False), features=X,
                             labels=labels, config=cfg, resumed_folds=sorted(done), retrained_folds=retrained)
