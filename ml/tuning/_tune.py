"""Hyper-parameter search with Optuna over purged cross-validation."""

from __future__ import annotations

import hashlib
import logging
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import optuna
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import log_loss

from ml._checks import check_choice, check_int
from ml.exceptions import ParameterError
from ml.models import get_model_class

__all__ = ["SCORINGS", "TrialSeededTPESampler", "TuneResult", "fold_score", "tune"]

#: scoring name -> optimisation direction.
SCORINGS = {"log_loss": "minimize", "sharpe": "maximize", "accuracy": "maximize"}
_PRUNERS = ("median", "successive_halving", "none")


@dataclass
class TuneResult:
    """Outcome of :func:`tune`.

    Attributes
    ----------
    best_params : dict
        Constructor arguments the best trial's ``search_space`` returned
        (``fixed_params`` not repeated; tuples stored as lists).
    best_score : float
        Mean fold score of the best trial.
    fold_scores : list of float
        Per-fold scores of the best trial.
    n_trials : int
        Every trial the study holds (complete, pruned and failed, this call's
        and earlier workers'): the number of configurations tried on this
        data, to feed the deflated Sharpe ratio.
    n_trials_run : int
        Trials this call ran.
    scoring, direction : str
    study : optuna.Study
    """

    best_params: dict
    best_score: float
    fold_scores: list
    n_trials: int
    n_trials_run: int
    scoring: str
    direction: str
    study: optuna.Study = field(repr=False)


def fold_score(scoring: str, y_true, proba, classes, returns=None, threshold: float = 0.05) -> float:
    """Score one fold's out-of-sample probabilities.

    - ``log_loss``: multi-class log loss (lower is better);
    - ``accuracy``: share of rows whose most probable class is right;
    - ``sharpe``: Sharpe ratio of the thresholded signal per labelled sample,
      ``mean(pnl) / std(pnl)`` with ``pnl = position * returns`` and
      ``position = +1`` where ``P(up) - P(down) > threshold``, ``-1`` where
      it is ``< -threshold``, else 0 (``returns`` is the label's realised
      return, e.g. ``triple_barrier_labels(...)["ret"]``; up = the largest
      class, down = the smallest).  When no class is negative (0/1
      meta-labels, where 0 means "no trade") the signal is long or flat:
      ``+1`` where ``P(up) - 0.5 > threshold``.  Not annualised: it ranks
      trials, it is not a performance figure.  0 when no position is taken.
    """
    classes = np.asarray(classes)
    y_true = np.asarray(y_true)
    if scoring == "log_loss":
        return float(log_loss(y_true, proba, labels=classes))
    if scoring == "accuracy":
        return float(np.mean(classes[np.argmax(proba, axis=1)] == y_true))
    if returns is None:
        raise ParameterError("scoring='sharpe' needs `returns` (each sample's realised label return).")
    if classes.min() < 0:  # e.g. -1/0/1: long on up, short on down
        edge = proba[:, -1] - proba[:, 0]
        pos = np.where(edge > threshold, 1.0, np.where(edge < -threshold, -1.0, 0.0))
    else:  # e.g. 0/1 meta-labels: 0 means "do not trade", so long or flat
        pos = np.where(proba[:, -1] - 0.5 > threshold, 1.0, 0.0)
    pnl = pos * np.asarray(returns, dtype=float)
    pnl = pnl[np.isfinite(pnl)]
    sd = pnl.std(ddof=1) if len(pnl) > 1 else 0.0
    return float(pnl.mean() / sd) if sd > 0 else 0.0


def _jsonable(params: dict) -> dict:
    """Constructor arguments as JSON values (RDB storages keep user attributes as JSON)."""
    out = {}
    for k, v in params.items():
        if isinstance(v, tuple):
            v = list(v)
        elif isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out


def _fingerprint(model_name, X, y, folds, fixed, scoring, threshold, sw, returns) -> str:
    """Hash of everything that makes two studies' trials comparable."""
    h = hashlib.sha256()
    h.update(repr((model_name, list(map(str, X.columns)), X.shape, scoring, float(threshold),
                   sorted((k, repr(v)) for k, v in fixed.items()))).encode())
    h.update(np.ascontiguousarray(X.to_numpy(dtype=np.float64)).tobytes())
    h.update(np.asarray(y).astype(str).tobytes() if np.asarray(y).dtype.kind in "OUS"
             else np.ascontiguousarray(np.asarray(y, dtype=np.float64)).tobytes())
    for tr, te in folds:
        h.update(np.asarray(tr, dtype=np.int64).tobytes())
        h.update(b"|")
        h.update(np.asarray(te, dtype=np.int64).tobytes())
    for extra in (sw, returns):
        if extra is not None:
            h.update(np.ascontiguousarray(np.asarray(extra, dtype=np.float64)).tobytes())
    return h.hexdigest()[:32]


def _pruner(name):
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


class TrialSeededTPESampler(optuna.samplers.TPESampler):
    """TPE whose random draws for a trial are seeded by ``(seed, trial.number)``.

    Workers sharing a study (one SQLite or RDB storage) each construct the
    sampler with the same seed.  A plain ``TPESampler(seed=s)`` then draws the
    same random start-up points, and the same TPE candidates from the same
    history, in every worker: identical trials.  Trial numbers are unique in
    a storage (the database assigns them), so seeding each trial's draws by
    its number gives every trial its own, reproducible stream: trial ``k``
    draws the same way whichever worker runs it.
    """

    def __init__(self, seed: int = 0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self._base_seed = int(seed)
        if not (hasattr(self, "_rng") and hasattr(self, "_random_sampler")):  # pragma: no cover
            raise RuntimeError(f"optuna {optuna.__version__}: TPESampler has no `_rng`; update "
                               "TrialSeededTPESampler for this version.")

    def _reseed(self, number: int) -> None:
        state = int(np.random.SeedSequence([self._base_seed, int(number)]).generate_state(1)[0])
        self._rng.rng.seed(state)
        self._random_sampler._rng.rng.seed(state)

    def before_trial(self, study, trial) -> None:
        self._reseed(trial.number)
        super().before_trial(study, trial)


def _create_study(storage, study_name, direction, sampler, pruner, attempts: int = 6):
    """``optuna.create_study(load_if_exists=True)``, retried while another worker
    is creating the same fresh RDB storage (its schema set-up races)."""
    from sqlalchemy.exc import IntegrityError, OperationalError

    for attempt in range(attempts):
        try:
            return optuna.create_study(storage=storage, study_name=study_name, direction=direction,
                                       sampler=sampler, pruner=pruner, load_if_exists=True)
        except (IntegrityError, OperationalError, optuna.exceptions.DuplicatedStudyError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


def tune(model_name: str, X, y, cv, n_trials: int = 20, *, storage=None, study_name=None, timeout=None,
         scoring: str = "log_loss", returns=None, threshold: float = 0.05, sample_weight=None,
         fixed_params: dict | None = None, pruner: str = "median", seed: int = 0, n_jobs: int = 1,
         groups=None, show_progress_bar: bool = False) -> TuneResult:
    """Search a model's hyper-parameters with Optuna (TPE) over a purged splitter.

    Each trial draws parameters from the adapter's ``search_space(trial)``,
    fits on every training fold of ``cv`` and scores the test fold; the
    running mean is reported after each fold so that the pruner stops bad
    trials early.

    Parameters
    ----------
    model_name : str
        Registered model (``ml.models.available_models("classifier")``).
    X : DataFrame of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Labels; rows with NaN labels must be removed beforehand.
    cv : splitter
        An object with ``split(X, y, groups)``, e.g. :class:`ml.validation.PurgedKFold`
        or :class:`ml.validation.WalkForward` (purging needs the label end times).
    n_trials : int
        Trials this call adds to the study.
    storage : str, optional
        Optuna storage URL.  Default in memory.  ``"sqlite:///tune.db"`` lets
        several processes on one machine work on one study, any RDB URL
        (``postgresql://...``) several machines: run the same call, with the
        same ``storage`` and ``study_name``, in each worker (see README).
    study_name : str, optional
        Name of the study in ``storage`` (required with a storage); an existing
        study is continued.
    timeout : float, optional
        Seconds after which no new trial starts.
    scoring : {"log_loss", "sharpe", "accuracy"}
        See :func:`fold_score`.
    returns : array-like, optional
        Realised return per sample (for ``scoring="sharpe"``).
    threshold : float
        Probability edge needed to take a position (``sharpe``).
    sample_weight : array-like, optional
        Passed to ``fit`` (e.g. label uniqueness).
    fixed_params : dict, optional
        Constructor arguments applied to every trial (e.g. ``thread_count``);
        they override the search space where both name a parameter.
    pruner : {"median", "successive_halving", "none"}
    seed : int
        Seed of the TPE sampler and the models' ``random_state``.  Each
        trial's draws are seeded by ``(seed, trial number)``
        (:class:`TrialSeededTPESampler`), so workers sharing a storage never
        repeat each other's trials, and a trial draws the same way whichever
        worker runs it.
    n_jobs : int
        Parallel trials in this process (threads).
    groups : array-like, optional
        Passed to ``cv.split`` (e.g. session ids for
        ``WalkForward(unit="sessions")``).

    Returns
    -------
    TuneResult
    """
    cls = get_model_class(model_name)
    if getattr(cls, "kind", "") != "classifier":
        raise ParameterError(f"`model_name` {model_name!r} is a {cls.kind} model; tune a classifier.")
    check_choice("scoring", scoring, SCORINGS, type_error=ParameterError)
    check_choice("pruner", pruner, _PRUNERS, type_error=ParameterError)
    check_int("n_trials", n_trials, 1, type_error=ParameterError)
    if not hasattr(cv, "split"):
        raise TypeError(f"`cv` must be a splitter with split(X, y, groups), got {type(cv).__name__}; "
                        "use ml.validation.PurgedKFold(n_splits, t1=labels['t1']).")
    if storage is not None and not study_name:
        raise ParameterError("`study_name` is required with a `storage`, so that workers find the same study.")
    if not isinstance(X, pd.DataFrame):
        X = pd.DataFrame(np.asarray(X, dtype=float))
    y = np.asarray(y)
    if len(y) != len(X):
        raise ParameterError(f"`X` has {len(X)} rows but `y` has {len(y)}.")
    if pd.isna(y).any():
        raise ParameterError("`y` holds NaN labels; drop those rows (and their X rows) first.")
    if scoring == "sharpe":
        if returns is None:
            raise ParameterError("scoring='sharpe' needs `returns` (each sample's realised label return).")
        returns = np.asarray(returns, dtype=float)
        if len(returns) != len(y):
            raise ParameterError(f"`returns` has {len(returns)} rows, `y` {len(y)}.")
    sw = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
    folds = [(np.asarray(tr), np.asarray(te)) for tr, te in cv.split(X, y, groups)]
    if not folds:
        raise ParameterError("`cv` yields no split for these rows.")
    classes = np.unique(y)
    fixed = dict(fixed_params or {})
    if "random_state" in cls().get_params() and "random_state" not in fixed:
        fixed["random_state"] = seed
    direction = SCORINGS[scoring]

    def objective(trial):
        params = cls.search_space(trial)
        model = cls(**{**params, **fixed})  # fixed parameters win over the search space
        scores = []
        for k, (tr, te) in enumerate(folds):
            m = clone(model)
            kw = {} if sw is None else {"sample_weight": sw[tr]}
            m.fit(X.iloc[tr], y[tr], **kw)
            proba = np.zeros((len(te), len(classes)))
            p = m.predict_proba(X.iloc[te])
            for j, c in enumerate(m.classes_):  # a fold may miss a class
                proba[:, int(np.searchsorted(classes, c))] = p[:, j]
            scores.append(fold_score(scoring, y[te], proba, classes,
                                     None if returns is None else returns[te], threshold))
            trial.report(float(np.mean(scores)), k)
            if trial.should_prune():
                raise optuna.TrialPruned()
        trial.set_user_attr("fold_scores", scores)
        trial.set_user_attr("params", _jsonable({k: v for k, v in params.items() if k not in fixed}))
        return float(np.mean(scores))

    sampler = TrialSeededTPESampler(seed=seed)
    study = _create_study(storage, study_name, direction, sampler, _pruner(pruner))
    # A study belongs to one model, data set, split and objective: refuse to
    # continue a study of something else (its best trial would be stale).
    fingerprint = _fingerprint(model_name, X, y, folds, fixed, scoring, threshold, sw, returns)
    known = study.user_attrs.get("fingerprint")
    if known is None:
        study.set_user_attr("fingerprint", fingerprint)
        study.set_user_attr("model", model_name)
    elif known != fingerprint:
        raise ParameterError(
            f"study {study.study_name!r} in `storage` was built for other data, folds, fixed parameters or "
            f"scoring (model {study.user_attrs.get('model')!r}); its trials do not apply here. Use another "
            "`study_name` (or delete that study).")
    n_before = len(study.trials)
    if study.direction.name.lower() != direction:
        raise ParameterError(f"study {study_name!r} in `storage` optimises {study.direction.name.lower()}, "
                             f"but scoring={scoring!r} needs {direction}; use another study_name.")
    logging.getLogger("optuna").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        study.optimize(objective, n_trials=int(n_trials), timeout=timeout, n_jobs=n_jobs,
                       show_progress_bar=show_progress_bar, gc_after_trial=False)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        raise ParameterError(f"no trial of {model_name!r} completed ({len(study.trials)} tried); "
                             "see the study's failed trials.")
    best = study.best_trial
    return TuneResult(best_params=dict(best.user_attrs.get("params", best.params)), best_score=float(best.value),
                      fold_scores=list(best.user_attrs.get("fold_scores", [])), n_trials=len(study.trials),
                      n_trials_run=len(study.trials) - n_before, scoring=scoring, direction=direction, study=study)
