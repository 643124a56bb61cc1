"""Importance-based feature selection with correlation clustering.

:class:`FeatureSelector` reduces a wide frame of causal features to the
``n_features`` most useful, mutually not-too-correlated ones, learning only
from the rows it is fitted on.  :func:`select_features` is a one-call wrapper.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_selection import mutual_info_classif
from sklearn.inspection import permutation_importance
from sklearn.metrics import log_loss
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted

from ml._checks import check_choice, check_int, check_real, close_match
from ml.exceptions import DataQualityWarning, ParameterError

__all__ = ["FeatureSelector", "available_features", "bagging_share", "select_features", "usable_rows"]


def available_features(X, min_share: float = 0.5) -> list:
    """Columns of ``X`` finite on at least ``min_share`` of its rows: features whose warm-up
    (a 1000-bar window is 40 sessions of 15-minute bars) fits inside the rows given."""
    v = np.isfinite(np.asarray(X, dtype=np.float64))
    keep = v.mean(axis=0) >= min_share if len(v) else np.zeros(v.shape[1], dtype=bool)
    return [c for c, k in zip(X.columns, keep) if k]


def usable_rows(X) -> int:
    """Rows a selection forest is fitted on: those finite in every column that is not all NaN/inf."""
    v = np.asarray(X, dtype=np.float64)
    finite = np.isfinite(v)
    cols = finite.any(axis=0)
    return int(finite[:, cols].all(axis=1).sum())


def bagging_share(uniqueness, n_rows: int, min_samples_leaf: int = 20, min_leaves: int = 5) -> float:
    """``max_samples`` of a selection forest on overlapping labels.

    Each tree sees about as many rows as there are independent labels (the
    mean label uniqueness as a share; Lopez de Prado 2018, ch. 4), but never
    fewer than ``min_leaves * min_samples_leaf`` rows: with fewer, trees of
    leaves that large make no split (long horizons on coarse bars, e.g. 30
    fifteen-minute bars, have a uniqueness near 0.05).  ``n_rows``: the rows
    the forest is fitted on (:func:`usable_rows`).
    """
    share = float(np.clip(np.nanmean(uniqueness), 0.02, 1.0)) if len(uniqueness) else 1.0
    floor = min(1.0, min_leaves * min_samples_leaf / max(int(n_rows), 1))
    return max(share, floor)

#: Importance methods accepted by ``method``.
METHODS = ("mdi", "permutation", "mutual_info")
#: Correlation measures accepted by ``corr_method``.
CORR_METHODS = ("pearson", "spearman", "kendall")
#: Fewest rows left after dropping NaN/inf rows that ``fit`` accepts.
MIN_ROWS = 10
#: Share of the given rows used to fit the model for ``method="permutation"``;
#: the remaining (latest) rows are the hold-out the features are permuted on.
PERMUTATION_FIT_SHARE = 0.75
#: Repeats of each permutation for ``method="permutation"``.
PERMUTATION_REPEATS = 5


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class FeatureSelector(TransformerMixin, BaseEstimator):
    """Keep the most important feature of each correlation cluster, top ``n_features``.

    ``fit`` works on the rows it is given and nothing else, in four steps:

    1. **Clean.**  Columns that are entirely NaN/inf are dropped, then every row
       where ``y`` is NaN or any remaining feature is NaN/inf (the warm-up rows
       of rolling features, the last rows of forward-looking labels) is dropped,
       then columns that are constant on the kept rows.  Dropped columns are
       listed in ``dropped_`` with the reason, the number of dropped rows in
       ``n_rows_dropped_``.
    2. **Cluster.**  Features are clustered hierarchically (average linkage) on
       the distance ``1 - |corr|`` and the tree is cut at ``1 - corr_threshold``,
       so features correlated more strongly than ``corr_threshold`` share a
       cluster.
    3. **Score.**  Each feature gets an importance from ``method``.
    4. **Select.**  In each cluster the most important feature is the
       representative; representatives are ranked by importance and the top
       ``n_features`` are kept.

    Parameters
    ----------
    n_features : int, default=20
        Number of features to keep; between 1 and the number of usable
        (not dropped) features.  When there are fewer correlation clusters than
        ``n_features``, all cluster representatives are kept and a
        ``UserWarning`` says so.
    method : {"mdi", "permutation", "mutual_info"}, default="mdi"
        How importance is measured:

        - ``"mdi"``: mean decrease in impurity of a
          :class:`~sklearn.ensemble.RandomForestClassifier` with
          ``class_weight="balanced"`` fitted on all kept rows (sums to 1).
        - ``"permutation"``: :func:`~sklearn.inspection.permutation_importance`
          (mean over 5 repeats of the drop in negative log loss) on a
          chronological hold-out: the forest is fitted on the first 75 % of the
          kept rows and scored on the last 25 %, never shuffled.  Needs every
          class that occurs in the hold-out to occur in the first 75 %.
        - ``"mutual_info"``: :func:`~sklearn.feature_selection.mutual_info_classif`
          between each feature and ``y`` (in nats; ignores ``sample_weight``,
          with a warning).
    corr_threshold : float, default=0.9
        In (0, 1].  Features with ``|corr|`` above it are put in one cluster;
        1 merges only exact (anti-)copies.
    corr_method : {"pearson", "spearman", "kendall"}, default="spearman"
        Correlation used for clustering (:meth:`pandas.DataFrame.corr`).
    n_estimators : int, default=200
        Trees in the forest for ``"mdi"`` and ``"permutation"``.
    max_samples : int, float or None, default=None
        Rows drawn (bootstrap) for each tree: an int >= 1, a float in (0, 1]
        (share of rows), or None for all.  With overlapping labels, the average
        label uniqueness is a sensible float (Lopez de Prado 2018, ch. 4).
    min_samples_leaf : int or float, default=1
        Smallest leaf of the forest's trees (scikit-learn's meaning: a count,
        or a share of rows).  Larger leaves make shallower, faster trees and
        steadier importances on noisy labels.
    random_state : int, RandomState or None, default=0
        Seed for the forest, the permutations and the mutual-information noise;
        a fixed int makes ``fit`` deterministic.
    n_jobs : int or None, default=None
        Parallel jobs for the forest and the permutations (joblib).

    Attributes
    ----------
    n_features_in_ : int
        Number of columns of ``X`` seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of ``X``; set only when ``X`` is a DataFrame whose column
        names are all strings (scikit-learn's convention).  Array input gets
        the names ``"x0", "x1", ...`` in the other attributes.
    n_rows_used_ : int
        Rows left after dropping NaN/inf rows, used for clustering and scoring.
    n_rows_dropped_ : int
        Rows dropped because ``y`` or a usable feature was NaN/inf.
    dropped_ : dict
        Dropped column -> reason (``"all NaN/inf"`` or ``"constant"``).
    importances_ : pandas.Series
        Importance of every input feature, in input order; NaN for dropped
        columns.
    clusters_ : pandas.Series
        Correlation cluster id (0, 1, ... in order of first appearance) of every
        input feature, in input order; -1 for dropped columns.
    n_clusters_ : int
        Number of correlation clusters among the usable features.
    selected_ : list
        Names of the kept features, most important first.
    support_ : ndarray of bool of shape (n_features_in_,)
        True for kept features, in input order.

    See Also
    --------
    select_features : One-call wrapper returning the selected names.

    Notes
    -----
    The distance between features :math:`i` and :math:`j` is
    :math:`d_{ij} = 1 - |\\rho_{ij}|`.  With average linkage two clusters merge
    at the mean of their pairwise distances, and the flat clusters are those of
    the tree cut at height :math:`1 - \\text{corr\\_threshold}`.

    Correlated features share (dilute) impurity importance and substitute for
    each other under permutation (Lopez de Prado 2020, ch. 6); keeping one
    feature per cluster removes that redundancy before ranking.  A
    representative is ranked by its own importance.  Ties are broken by input
    column order.

    ``transform`` keeps every row, NaN rows included; only columns are
    removed.

    References
    ----------
    .. [1] Lopez de Prado, M. (2018). *Advances in Financial Machine Learning*,
       ch. 8 "Feature Importance". Wiley.
    .. [2] Lopez de Prado, M. (2020). *Machine Learning for Asset Managers*,
       ch. 6 "Feature Importance Analysis". Cambridge University Press.
    .. [3] Breiman, L. (2001). Random forests. *Machine Learning* 45(1), 5-32.
    .. [4] Kraskov, A., Stoegbauer, H., Grassberger, P. (2004). Estimating
       mutual information. *Physical Review E* 69, 066138.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=300)
    >>> X = pd.DataFrame({"a": a, "a_copy": a * 2.0, "noise": rng.normal(size=300)})
    >>> y = (a > 0).astype(int)
    >>> sel = FeatureSelector(n_features=2, n_estimators=20).fit(X, y)
    >>> sel.selected_[0] in {"a", "a_copy"}, sel.selected_[1]  # one of the twins
    (True, 'noise')
    >>> sel.clusters_.tolist()
    [0, 0, 1]
    """

    def __init__(
        self,
        n_features=20,
        method="mdi",
        corr_threshold=0.9,
        corr_method="spearman",
        n_estimators=200,
        max_samples=None,
        min_samples_leaf=1,
        random_state=0,
        n_jobs=None,
    ):
        self.n_features = n_features
        self.method = method
        self.corr_threshold = corr_threshold
        self.corr_method = corr_method
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.min_samples_leaf = min_samples_leaf
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.target_tags.required = True
        return tags

    # ------------------------------------------------------------------ fit
    def fit(self, X, y, sample_weight=None, t1=None):
        """Learn which features to keep from the given rows only.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Numeric features; NaN/inf allowed (those rows are dropped).
        y : array-like of shape (n_samples,)
            Class labels, binary or multiclass (e.g. -1/0/1); NaN rows are
            dropped.  When both ``X`` and ``y`` are pandas objects their
            indexes must be equal.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative finite row weights (e.g. label uniqueness), used by
            the forest and the permutation scores.
        t1 : array-like of datetimes, shape (n_samples,), default=None
            End time of each row's label.  With ``method="permutation"`` the
            rows of the fitted part whose label ends at or after the first
            hold-out row's time are purged (PITFALLS 20), so the hold-out score
            never rewards a label the model partly saw.  Needs ``X`` indexed by
            increasing timestamps.  Ignored by the other methods.

        Returns
        -------
        self : FeatureSelector
            Fitted selector.
        """
        return self._fit(X, y, sample_weight, n_name="n_features", t1=t1)

    def _check_params(self, n_name: str):
        n = check_int(n_name, self.n_features, 1)
        method = check_choice("method", self.method, METHODS)
        corr_method = check_choice("corr_method", self.corr_method, CORR_METHODS)
        t = check_real("corr_threshold", self.corr_threshold, lo=0.0, hi=1.0, lo_open=True,
                       hint=" E.g. 0.9 groups features with |corr| > 0.9, 1.0 groups only exact copies.")
        check_int("n_estimators", self.n_estimators, 1)
        ms = self.max_samples
        if ms is not None:
            if _is_int(ms):
                if ms < 1:
                    raise ParameterError(f"`max_samples` must be an int >= 1, a float in (0, 1] or None, got {ms!r}.")
            elif _is_real(ms):
                if not (0.0 < float(ms) <= 1.0):
                    raise ParameterError(
                        f"`max_samples` as a float is a share of rows and must be in (0, 1], got {ms!r}; "
                        "pass an int for a number of rows."
                    )
            else:
                raise TypeError(f"`max_samples` must be an int, a float or None, got {ms!r}.")
        leaf = self.min_samples_leaf
        if _is_int(leaf):
            if leaf < 1:
                raise ParameterError(f"`min_samples_leaf` must be an int >= 1 or a float in (0, 0.5], got {leaf!r}.")
        elif _is_real(leaf):
            if not (0.0 < float(leaf) <= 0.5):
                raise ParameterError(f"`min_samples_leaf` as a float is a share of rows and must be in (0, 0.5], "
                                     f"got {leaf!r}.")
        else:
            raise TypeError(f"`min_samples_leaf` must be an int or a float, got {leaf!r}.")
        if self.n_jobs is not None and not _is_int(self.n_jobs):
            raise TypeError(f"`n_jobs` must be an int or None, got {self.n_jobs!r}.")
        rs = self.random_state
        if rs is None or _is_int(rs):
            seed = rs
        elif isinstance(rs, np.random.RandomState):
            seed = int(check_random_state(rs).randint(np.iinfo(np.int32).max))
        else:
            raise TypeError(f"`random_state` must be an int, a numpy RandomState or None, got {rs!r}.")
        return n, method, corr_method, t, seed

    def _fit(self, X, y, sample_weight, *, n_name: str, t1=None):
        n_keep, method, corr_method, threshold, seed = self._check_params(n_name)
        names, values, has_str_names = _as_matrix(X)
        n_rows, n_cols = values.shape
        y_arr = _as_target(y, X, n_rows)
        sw = _as_weight(sample_weight, n_rows)
        times = _row_times(X, t1, method, n_rows)

        self.n_features_in_ = n_cols
        if has_str_names:
            self.feature_names_in_ = np.asarray(names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

        # 1. clean: all-NaN columns, then NaN rows, then constant columns
        finite = np.isfinite(values)
        dropped: dict = {}
        col_ok = finite.any(axis=0)
        for j in np.flatnonzero(~col_ok):
            dropped[names[j]] = "all NaN/inf"
        y_ok = ~pd.isna(y_arr)
        row_ok = y_ok & finite[:, col_ok].all(axis=1)
        n_used = int(row_ok.sum())
        if n_used < MIN_ROWS:
            raise ParameterError(_too_few_rows_message(names, finite, col_ok, y_ok, n_used, n_rows))
        Xc = values[row_ok]
        for j in np.flatnonzero(col_ok):
            col = Xc[:, j]
            if np.all(col == col[0]):
                col_ok[j] = False
                dropped[names[j]] = "constant"
        usable = np.flatnonzero(col_ok)
        dropped = {name: dropped[name] for name in names if name in dropped}  # input order
        if dropped:
            warnings.warn(
                f"FeatureSelector dropped {len(dropped)} column(s) that cannot be ranked: "
                + ", ".join(f"{k!r} ({v})" for k, v in dropped.items()) + ".",
                DataQualityWarning,
                stacklevel=3,
            )
        if len(usable) == 0:
            raise ParameterError(
                f"`X` has no usable feature: all {n_cols} column(s) are all-NaN/inf or constant "
                f"on the {n_used} rows without NaN/inf."
            )
        if n_keep > len(usable):
            raise ParameterError(
                f"`{n_name}` must be <= the number of usable features, {len(usable)} "
                f"({n_cols} column(s) given, {len(dropped)} dropped), got {n_keep}; "
                f"pass {n_name}<={len(usable)}."
            )
        Xc = Xc[:, usable]
        yc = np.asarray(y_arr[row_ok])
        swc = None if sw is None else sw[row_ok]
        times_c = None if times is None else (times[0][row_ok], times[1][row_ok])
        kind = type_of_target(yc)
        if kind == "unknown":
            raise ParameterError(
                f"`y` has an Unknown label type (dtype {yc.dtype}); pass numbers or strings as class labels."
            )
        if kind not in ("binary", "multiclass"):
            raise ParameterError(
                f"`y` must hold class labels (binary or multiclass, e.g. 0/1 or -1/0/1), "
                f"got target type {kind!r}; discretise a continuous target first."
            )
        classes = np.unique(yc)
        if len(classes) < 2:
            raise ParameterError(
                f"`y` has a single class ({_plain(classes[0])!r}) on the {n_used} usable rows; feature "
                "importance needs at least two classes. Check the label horizon/thresholds."
            )

        # 2. cluster on 1 - |corr|
        usable_names = [names[j] for j in usable]
        labels = _cluster(Xc, corr_method, threshold)

        # 3. importance
        self.n_rows_purged_ = 0
        imp = self._importance(method, Xc, yc, swc, seed, times_c)
        if method == "mdi" and not np.any(imp > 0):
            raise ParameterError(
                "every feature has zero importance: the forest's trees made no split "
                f"({len(yc)} rows, `max_samples`={self.max_samples!r}, "
                f"`min_samples_leaf`={self.min_samples_leaf!r}); give each tree more rows or smaller leaves, "
                "and do not combine uniqueness `sample_weight` with a small `max_samples`.")

        # 4. one representative per cluster, ranked
        order = np.argsort(-imp, kind="stable")  # ties: input order
        reps: list[int] = []
        seen: set[int] = set()
        for i in order:
            if labels[i] not in seen:
                seen.add(labels[i])
                reps.append(int(i))
        n_clusters = len(seen)
        if n_clusters < n_keep:
            warnings.warn(
                f"only {n_clusters} correlation cluster(s) at corr_threshold={threshold} for "
                f"{n_name}={n_keep}; keeping all {n_clusters} representatives. Raise "
                f"`corr_threshold` or lower `{n_name}` to silence this.",
                UserWarning,
                stacklevel=3,
            )
        chosen = reps[:n_keep]

        self.n_rows_used_ = n_used
        self.n_rows_dropped_ = n_rows - n_used
        self.dropped_ = dropped
        imp_all = np.full(n_cols, np.nan)
        imp_all[usable] = imp
        clu_all = np.full(n_cols, -1, dtype=np.int64)
        clu_all[usable] = labels
        index = pd.Index(names)
        self.importances_ = pd.Series(imp_all, index=index, name="importance")
        self.clusters_ = pd.Series(clu_all, index=index, name="cluster")
        self.n_clusters_ = n_clusters
        self.selected_ = [usable_names[i] for i in chosen]
        support = np.zeros(n_cols, dtype=bool)
        support[usable[chosen]] = True
        self.support_ = support
        self._names = list(names)
        self._names_from_frame = isinstance(X, pd.DataFrame)
        return self

    def _forest(self, seed, n_rows: int):
        ms = self.max_samples
        if _is_int(ms) and ms > n_rows:
            raise ParameterError(
                f"`max_samples` must be <= the {n_rows} rows the forest is fitted on, got {ms}; "
                "pass a smaller int or a float share in (0, 1]."
            )
        return RandomForestClassifier(
            n_estimators=self.n_estimators,
            class_weight="balanced",
            max_samples=self.max_samples,
            min_samples_leaf=self.min_samples_leaf,
            random_state=seed,
            n_jobs=self.n_jobs,
        )

    def _importance(self, method, X, y, sw, seed, times=None) -> np.ndarray:
        if method == "mdi":
            model = self._forest(seed, len(y)).fit(X, y, sample_weight=sw)
            return np.asarray(model.feature_importances_, dtype=float)
        if method == "mutual_info":
            if sw is not None:
                warnings.warn(
                    "`sample_weight` is ignored by method='mutual_info' (mutual_info_classif has "
                    "no weights); use method='mdi' or 'permutation' to weight rows.",
                    UserWarning,
                    stacklevel=4,
                )
            return np.asarray(mutual_info_classif(X, y, random_state=seed), dtype=float)
        # permutation on a chronological hold-out, never shuffled
        n_fit = int(np.floor(PERMUTATION_FIT_SHARE * len(y)))
        y_fit, y_hold = y[:n_fit], y[n_fit:]
        fit_classes = np.unique(y_fit)
        missing = np.setdiff1d(np.unique(y_hold), fit_classes)
        if len(fit_classes) < 2 or len(missing):
            raise ParameterError(
                f"`y` with method='permutation': the model is fitted on the first {n_fit} usable "
                f"rows, which hold class(es) {fit_classes.tolist()}, but "
                + (f"the hold-out has class(es) {missing.tolist()} the model never saw"
                   if len(missing) else "at least two classes are needed")
                + "; use method='mdi' or pass more rows."
            )
        sw_fit = None if sw is None else sw[:n_fit]
        sw_hold = None if sw is None else sw[n_fit:]
        fit_rows = np.ones(n_fit, dtype=bool)
        if times is not None:  # purge labels reaching into the hold-out
            start, end = times
            fit_rows = end[:n_fit] < start[n_fit]
            self.n_rows_purged_ = int((~fit_rows).sum())
            if not fit_rows.any():
                raise ParameterError("every fitted row's label (`t1`) reaches into the permutation hold-out; "
                                     "pass more rows or shorter labels.")
        y_fit = y_fit[fit_rows]
        sw_fit = None if sw_fit is None else sw_fit[fit_rows]
        model = self._forest(seed, int(fit_rows.sum())).fit(X[:n_fit][fit_rows], y_fit, sample_weight=sw_fit)
        result = permutation_importance(
            model, X[n_fit:], y_hold, scoring=_neg_log_loss, n_repeats=PERMUTATION_REPEATS,
            random_state=seed, n_jobs=self.n_jobs, sample_weight=sw_hold,
        )
        return np.asarray(result.importances_mean, dtype=float)

    # ------------------------------------------------------------ transform
    def transform(self, X):
        """Keep only the selected columns, most important first.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features_in_)
            A DataFrame must contain the selected columns (by name when ``fit``
            saw a DataFrame); an array must have ``n_features_in_`` columns.

        Returns
        -------
        X_selected : DataFrame or ndarray of shape (n_samples, len(selected_))
            ``X[selected_]`` for a DataFrame (same index, all rows kept), the
            matching columns of an array otherwise.
        """
        check_is_fitted(self, "support_")
        positions = [self._names.index(name) for name in self.selected_]
        if isinstance(X, pd.DataFrame):
            if self._names_from_frame:
                missing = [c for c in self.selected_ if c not in X.columns]
                if missing:
                    present = [str(c) for c in X.columns]
                    hints = []
                    for c in missing:
                        near = close_match(c, present)
                        if near is not None:
                            hints.append(f"{c!r} -> did you mean {near!r}?")
                    hint = (" " + "; ".join(hints)) if hints else ""
                    raise ParameterError(
                        f"`X` lacks selected column(s) {missing} that were present in fit.{hint}"
                    )
                return X.loc[:, list(self.selected_)]
            if X.shape[1] != self.n_features_in_:
                raise ParameterError(
                    f"X has {X.shape[1]} features, but FeatureSelector is expecting "
                    f"{self.n_features_in_} features as input; pass `X` with the columns seen in fit."
                )
            return X.iloc[:, positions]
        arr = np.asarray(X)
        if arr.ndim != 2:
            raise ParameterError(
                f"`X` must be 2-D (n_samples, {self.n_features_in_}), got shape {arr.shape}; "
                "Reshape your data, e.g. X.reshape(1, -1) for a single sample."
            )
        if arr.shape[1] != self.n_features_in_:
            raise ParameterError(
                f"X has {arr.shape[1]} features, but FeatureSelector is expecting "
                f"{self.n_features_in_} features as input; pass `X` with the columns seen in fit."
            )
        return arr[:, positions]

    def get_support(self, indices=False):
        """Mask (or integer positions) of the kept input features.

        Parameters
        ----------
        indices : bool, default=False
            Return integer positions instead of a boolean mask.

        Returns
        -------
        support : ndarray
            Boolean mask of shape (n_features_in_,) or the positions of the
            True entries (in input order, unlike ``selected_``).
        """
        check_is_fitted(self, "support_")
        return np.flatnonzero(self.support_) if indices else self.support_.copy()

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns, in ``transform`` order.

        Parameters
        ----------
        input_features : array-like of str, default=None
            Input names; must equal ``feature_names_in_`` when that is set, and
            have ``n_features_in_`` entries otherwise.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self, "support_")
        positions = [self._names.index(name) for name in self.selected_]
        if input_features is None:
            return np.asarray([str(self._names[p]) for p in positions], dtype=object)
        given = np.asarray(input_features, dtype=object)
        if given.ndim != 1 or len(given) != self.n_features_in_:
            raise ParameterError(
                f"`input_features` must have {self.n_features_in_} names as in fit, got {len(given)}."
            )
        if hasattr(self, "feature_names_in_") and not np.array_equal(given, self.feature_names_in_):
            raise ParameterError("`input_features` is not equal to `feature_names_in_`; pass None or the fit columns.")
        return np.asarray([str(given[p]) for p in positions], dtype=object)


def select_features(X, y, n=20, method="mdi", *, sample_weight=None, t1=None, corr_threshold=0.9,
                    random_state=0) -> list:
    """Names of the ``n`` most important, mutually not-too-correlated features.

    Shortcut for ``FeatureSelector(n_features=n, ...).fit(X, y).selected_``
    with the other settings at their defaults; see :class:`FeatureSelector`.

    Parameters
    ----------
    X : DataFrame or array-like of shape (n_samples, n_features)
        Numeric features (NaN/inf rows are dropped).
    y : array-like of shape (n_samples,)
        Class labels (binary or multiclass); NaN rows are dropped.
    n : int, default=20
        Number of features to keep.
    method : {"mdi", "permutation", "mutual_info"}, default="mdi"
        Importance measure.
    sample_weight : array-like of shape (n_samples,), default=None
        Row weights.
    t1 : array-like of datetimes, default=None
        Label end times; purges the permutation hold-out (see :meth:`FeatureSelector.fit`).
    corr_threshold : float, default=0.9
        Features with ``|corr|`` above it share a cluster.
    random_state : int, RandomState or None, default=0
        Seed.

    Returns
    -------
    list
        Selected column names, most important first.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    >>> select_features(X, (X["b"] > 0).astype(int), n=1, method="mutual_info")
    ['b']
    """
    sel = FeatureSelector(n_features=n, method=method, corr_threshold=corr_threshold,
                          random_state=random_state)
    return list(sel._fit(X, y, sample_weight, n_name="n", t1=t1).selected_)


# ---------------------------------------------------------------- helpers
def _plain(value):
    """A numpy scalar as the Python value it holds (for readable messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _neg_log_loss(estimator, X, y, sample_weight=None) -> float:
    proba = estimator.predict_proba(X)
    return -log_loss(y, proba, labels=estimator.classes_, sample_weight=sample_weight)


def _as_matrix(X):
    """Return (names, float matrix, names-are-all-str) for a frame or array."""
    if isinstance(X, pd.DataFrame):
        cols = list(X.columns)
        if X.columns.has_duplicates:
            dup = sorted({str(c) for c in X.columns[X.columns.duplicated()]})
            raise ParameterError(f"`X` has duplicate column name(s) {dup}; rename them.")
        for c in cols:
            dtype = X[c].dtype
            if pd.api.types.is_complex_dtype(dtype):
                raise ParameterError(f"`X` column {c!r} holds complex numbers; Complex data not supported.")
            if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)):
                raise TypeError(
                    f"`X` column {c!r} has non-numeric dtype {dtype}; encode it as numbers or drop it."
                )
        _check_not_empty(X.shape)
        values = X.to_numpy(dtype=float, na_value=np.nan)
        has_str = all(isinstance(c, str) for c in cols)
        return cols, values, has_str
    if sparse.issparse(X):
        raise TypeError(
            "`X` is a sparse matrix; sparse input is not supported (the correlation clustering "
            "needs dense columns); pass X.toarray()."
        )
    if isinstance(X, pd.Series) or X is None or isinstance(X, (str, bytes)):
        raise TypeError(
            f"`X` must be a DataFrame or a 2-D array-like, got {type(X).__name__}; "
            "use X.to_frame() for a single feature."
        )
    raw = np.asarray(X)
    if np.iscomplexobj(raw):
        raise ParameterError("`X` holds complex numbers; Complex data not supported, pass real features.")
    try:
        values = raw.astype(float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`X` must hold numbers, got {type(X).__name__} that cannot become float ({exc}).") from None
    if values.ndim != 2:
        raise ParameterError(f"`X` must be 2-D (n_samples, n_features), got shape {values.shape}.")
    _check_not_empty(values.shape)
    return [f"x{j}" for j in range(values.shape[1])], values, False


def _check_not_empty(shape) -> None:
    if shape[1] == 0:
        raise ParameterError(f"`X` has 0 feature(s) (shape={shape}) while a minimum of 1 is required.")
    if shape[0] == 0:
        raise ParameterError(f"`X` has 0 sample(s) (shape={shape}) while a minimum of {MIN_ROWS} is required.")


def _as_target(y, X, n_rows: int) -> np.ndarray:
    if y is None:
        raise ParameterError(
            "`y` is required: FeatureSelector requires y to be passed, but the target y is None; "
            "pass the class labels the features should predict."
        )
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise ParameterError(f"`y` must be 1-D, got a DataFrame with {y.shape[1]} columns.")
        y = y.iloc[:, 0]
    if isinstance(y, pd.Series) and isinstance(X, pd.DataFrame) and len(y) == len(X):
        if not y.index.equals(X.index):
            raise ParameterError(
                "`y` index differs from `X` index; align them first, e.g. y = y.reindex(X.index)."
            )
    arr = y.to_numpy() if isinstance(y, pd.Series) else np.asarray(y)
    if arr.ndim != 1:
        raise ParameterError(f"`y` must be 1-D, got shape {arr.shape}.")
    if len(arr) != n_rows:
        raise ParameterError(f"`y` has {len(arr)} rows but `X` has {n_rows}; pass labels aligned with X.")
    return arr


def _as_weight(sample_weight, n_rows: int):
    if sample_weight is None:
        return None
    sw = np.asarray(sample_weight, dtype=float)
    if sw.ndim != 1 or len(sw) != n_rows:
        raise ParameterError(
            f"`sample_weight` must have shape ({n_rows},) like `X`, got {sw.shape}."
        )
    if not np.all(np.isfinite(sw)) or np.any(sw < 0):
        bad = int(np.flatnonzero(~np.isfinite(sw) | (sw < 0))[0])
        raise ParameterError(
            f"`sample_weight` must be finite and >= 0, got {_plain(sw[bad])!r} at row {bad}."
        )
    return sw


def _row_times(X, t1, method: str, n_rows: int):
    """(row start ns, label end ns) when ``t1`` is given, else None; checks time order."""
    index = X.index if isinstance(X, pd.DataFrame) else None
    if method == "permutation" and isinstance(index, pd.DatetimeIndex) and not index.is_monotonic_increasing:
        raise ParameterError("`X` must be in time order for method='permutation' (the hold-out is the "
                             "last 25% of rows); sort it by its index first.")
    if t1 is None:
        return None
    if not isinstance(index, pd.DatetimeIndex):
        raise TypeError("`t1` needs `X` as a DataFrame indexed by the rows' timestamps.")
    end = pd.DatetimeIndex(pd.Series(t1).to_numpy() if isinstance(t1, pd.Series) else t1)
    if len(end) != n_rows:
        raise ParameterError(f"`t1` must have one end time per row of `X` ({n_rows}), got {len(end)}.")
    if isinstance(t1, pd.Series) and not t1.index.equals(index):
        raise ParameterError("`t1` index must equal `X` index.")
    if (end.tz is None) != (index.tz is None):
        raise ParameterError("`t1` and `X` index must both be timezone-aware or both naive.")
    start_ns = index.as_unit("ns").asi8
    end_ns = np.where(end.isna(), np.iinfo(np.int64).max, end.as_unit("ns").asi8)
    return start_ns, end_ns


def _too_few_rows_message(names, finite, col_ok, y_ok, n_used, n_rows) -> str:
    msg = (f"only {n_used} sample(s) of {n_rows} rows are left after dropping rows with NaN/inf in `X` "
           f"or NaN in `y`; at least {MIN_ROWS} are needed.")
    bad = (~finite[:, col_ok]).sum(axis=0)
    if len(bad) and bad.max() > 0:
        j = int(np.flatnonzero(col_ok)[np.argmax(bad)])
        msg += f" Column {names[j]!r} has the most NaN/inf ({int(bad.max())} rows);"
        msg += " drop it or shorten its window."
    n_y = int((~y_ok).sum())
    if n_y:
        msg += f" `y` is NaN in {n_y} rows."
    return msg


def _cluster(X: np.ndarray, corr_method: str, threshold: float) -> np.ndarray:
    """Cluster ids 0, 1, ... (in order of first appearance) of the columns of X."""
    k = X.shape[1]
    if k == 1:
        return np.zeros(1, dtype=np.int64)
    corr = pd.DataFrame(X).corr(method=corr_method).to_numpy()
    dist = 1.0 - np.abs(np.nan_to_num(corr, nan=0.0))
    dist = np.clip((dist + dist.T) / 2.0, 0.0, 1.0)
    np.fill_diagonal(dist, 0.0)
    tree = linkage(squareform(dist, checks=False), method="average")
    raw = fcluster(tree, t=1.0 - threshold, criterion="distance")
    relabel: dict[int, int] = {}
    return np.asarray([relabel.setdefault(int(c), len(relabel)) for c in raw], dtype=np.int64)
