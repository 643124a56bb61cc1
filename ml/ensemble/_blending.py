"""Blending: a (regime-dependent) convex combination of base-model probabilities."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from ml._checks import check_bool, check_int, check_real, did_you_mean
from ml.ensemble._checks import check_classes, check_sample_weight, check_y
from ml.exceptions import ParameterError

__all__ = ["BlendingEnsemble"]

_EPS = 1e-15  # probabilities are clipped here inside the log, as sklearn.metrics.log_loss does
_WEIGHT_MODES = ("optimize", "equal")


class BlendingEnsemble(BaseEstimator):
    """Weighted average of base models' class probabilities, weights learned out of fold.

    The blend of models ``m = 1..M`` for row ``i`` is
    ``p_i = sum_m w_m * P_m[i]`` with ``w_m >= min_weight`` and
    ``sum_m w_m = 1``, so it is itself a probability vector.  With
    ``weights="optimize"`` the weights minimise the (sample-weighted) log loss
    of the blend on **out-of-fold** probabilities (from
    :func:`~ml.ensemble.out_of_fold_proba`, or ``StackingEnsemble.oof_proba_``):
    fitting them on in-sample probabilities would hand all the weight to the
    model that memorises best.

    Parameters
    ----------
    weights : {"optimize", "equal"} or dict, default "optimize"
        ``"optimize"``: minimise the blended log loss; ``"equal"``: ``1 / M``
        each (the plain mean); a dict ``{model name: weight >= 0}`` naming
        every model: fixed weights, normalised to sum to 1.
    regime_aware : bool, default False
        Learn one weight vector per market regime (needs ``regimes`` in
        ``fit`` and ``predict_proba``; only with ``weights="optimize"``).
    min_weight : float, default 0.0
        Floor of every weight, in ``[0, 1 / M]`` (``1 / M`` forces equal
        weights).  Applies to ``"optimize"`` only.
    min_regime_samples : int, default 100
        A regime with fewer (effective) fitting rows than this gets the global
        weights instead of its own; it is listed in ``fallback_regimes_``.

    Attributes
    ----------
    weights_ : DataFrame of shape (n_regimes, n_models)
        Weights, one row per regime (index name ``"regime"``, the regime
        labels of ``regime_labels_``) when regime-aware, else a single row
        ``"global"``; columns are the model names.  Each row sums to 1.
    global_weights_ : Series of shape (n_models,)
        Weights fitted on all rows; used for fallback regimes and for
        regimes unseen in ``fit``.
    model_names_ : list of str
        Model names in column order.
    classes_ : ndarray of shape (n_classes,)
        Labels of the probability columns.
    regime_labels_ : list or None
        Regime labels (values of a 1-D ``regimes``, or column names / positions
        of a probability matrix).
    fallback_regimes_ : list
        Regimes with too few rows, which use ``global_weights_``.
    regime_counts_ : Series
        (Effective) number of fitting rows per regime.
    log_loss_ : Series
        Blended log loss on the fitting rows, per row of ``weights_``.
    n_samples_fit_ : int
        Rows used in ``fit``.
    n_ignored_ : int
        Rows ignored in ``fit`` because some model's probabilities (or the
        regime) were NaN there, e.g. rows never tested by a walk-forward split.

    Notes
    -----
    The blended log loss ``L(w) = -sum_i s_i log(sum_m w_m P_m[i, y_i])`` is
    convex in ``w`` (minus the log of a linear function), so SLSQP on the
    simplex ``{w >= min_weight, sum w = 1}``, started at equal weights with
    the analytic gradient, finds the global minimum; the result is projected
    back onto the simplex exactly.

    Regimes: a 1-D ``regimes`` array gives each row one regime (e.g. the
    argmax of a regime model's probabilities).  A 2-D ``(n_samples,
    n_regimes)`` matrix of regime probabilities ``pi`` makes the fit of
    regime ``r`` weight row ``i`` by ``s_i * pi[i, r]`` (its effective count is
    ``sum_i pi[i, r]``), and the prediction use the mixed weights
    ``w_i = sum_r pi[i, r] * W_r``.  A 1-D label at prediction time that was
    not seen in ``fit`` uses ``global_weights_``.  NaN probabilities of a
    base model, or a NaN regime, give a NaN output row (never filled).

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0, 1, 1, 0])
    >>> truth = np.eye(2)[y] * 0.98 + 0.01
    >>> noise = np.full((4, 2), 0.5)
    >>> blend = BlendingEnsemble().fit({"good": truth, "coin": noise}, y)
    >>> blend.weights_.loc["global"].round(3).to_dict()
    {'good': 1.0, 'coin': 0.0}
    """

    def __init__(self, weights="optimize", regime_aware=False, min_weight=0.0, min_regime_samples=100):
        self.weights = weights
        self.regime_aware = regime_aware
        self.min_weight = min_weight
        self.min_regime_samples = min_regime_samples

    # ------------------------------------------------------------------ fit
    def fit(self, oof_probas, y, regimes=None, sample_weight=None, classes=None):
        """Learn the blending weights.

        Parameters
        ----------
        oof_probas : dict of str -> array-like of shape (n_samples, n_classes)
            Out-of-fold probabilities of each base model, columns in
            ``classes`` order; NaN rows (never tested) are allowed.
        y : array-like of shape (n_samples,)
            True labels.
        regimes : array-like of shape (n_samples,) or (n_samples, n_regimes), optional
            Regime label per row, or regime probabilities per row (see Notes).
            Required when ``regime_aware``; ignored otherwise.
        sample_weight : array-like of shape (n_samples,), optional
            Row weights in the log loss.
        classes : array-like of shape (n_classes,), optional
            Sorted labels of the probability columns; default the sorted
            unique labels of ``y`` (as returned by ``out_of_fold_proba``).

        Returns
        -------
        self
        """
        regime_aware = check_bool("regime_aware", self.regime_aware)
        min_regime_samples = check_int("min_regime_samples", self.min_regime_samples, 1)
        names, P = _check_probas("oof_probas", oof_probas)
        M, n, K = P.shape
        mode, fixed = self._check_weights(names)
        min_weight = check_real(  # a rounding hair above 1/M passes
            "min_weight", self.min_weight, lo=0.0, hi=1.0 / M + 1e-12,
            hint=f" With {M} models the floor can be at most 1/{M} (which forces equal weights).",
        )
        if regime_aware and mode != "optimize":
            raise ParameterError(
                f"`regime_aware=True` needs `weights='optimize'`, got weights={self.weights!r}; fixed or "
                f"equal weights are the same in every regime."
            )
        y = check_y(y, n)
        classes = check_classes(y, classes)
        if len(classes) != K:
            raise ParameterError(
                f"`oof_probas` have {K} columns but `y` has {len(classes)} classes {classes.tolist()!r}; "
                f"pass `classes` (the labels of the columns, e.g. from out_of_fold_proba)."
            )
        sw = check_sample_weight(sample_weight, n)
        sw = np.ones(n) if sw is None else sw

        valid = ~np.isnan(P).any(axis=(0, 2))
        membership, labels = None, None
        if regime_aware:
            if regimes is None:
                raise ParameterError(
                    "`regimes` is required when `regime_aware=True`: give one regime label per row or a "
                    "(n_samples, n_regimes) matrix of regime probabilities."
                )
            membership, labels = _regime_membership(regimes, n)
            valid &= ~np.isnan(membership).any(axis=1)
        if not valid.any():
            raise ParameterError(
                "`oof_probas` have no row without NaN (in some model or regime); nothing to fit the weights on."
            )

        y_idx = np.searchsorted(classes, y)
        pt = P[:, np.arange(n), y_idx]  # (M, n): probability each model gave the true class
        pt_valid, sw_valid = pt[:, valid], sw[valid]

        if mode == "optimize":
            global_w, global_loss = _optimize(pt_valid, sw_valid, min_weight, "global")
        else:
            global_w = np.full(M, 1.0 / M) if mode == "equal" else fixed
            global_loss = _log_loss(global_w @ pt_valid, sw_valid)

        self.model_names_ = names
        self.classes_ = classes
        self.global_weights_ = pd.Series(global_w, index=pd.Index(names, name="model"), name="global")
        self.n_samples_fit_ = int(valid.sum())
        self.n_ignored_ = int(n - valid.sum())
        self.fallback_regimes_ = []
        if not regime_aware:
            self.regime_labels_ = None
            self.regime_counts_ = pd.Series([self.n_samples_fit_], index=pd.Index(["global"], name="regime"),
                                            dtype="float64")
            self.weights_ = pd.DataFrame([global_w], index=pd.Index(["global"], name="regime"), columns=names)
            self.log_loss_ = pd.Series([global_loss], index=self.weights_.index, name="log_loss")
            return self

        rows, losses, counts = [], [], []
        for r, label in enumerate(labels):
            m = membership[valid, r]
            counts.append(float(m.sum()))
            w_r = sw_valid * m
            if counts[-1] < min_regime_samples or not w_r.sum() > 0:
                self.fallback_regimes_.append(label)
                rows.append(global_w)
                losses.append(_log_loss(global_w @ pt_valid, w_r) if w_r.sum() > 0 else np.nan)
                continue
            w, loss = _optimize(pt_valid, w_r, min_weight, f"regime {label!r}")
            rows.append(w)
            losses.append(loss)
        index = pd.Index(labels, name="regime")
        self.regime_labels_ = list(labels)
        self.regime_counts_ = pd.Series(counts, index=index, name="n_samples")
        self.weights_ = pd.DataFrame(np.array(rows), index=index, columns=names)
        self.log_loss_ = pd.Series(losses, index=index, name="log_loss")
        return self

    def _check_weights(self, names):
        w = self.weights
        if isinstance(w, str):
            if w not in _WEIGHT_MODES:
                raise ParameterError(
                    f"`weights` must be 'optimize', 'equal' or a dict of model weights, got {w!r}."
                    f"{did_you_mean(w, _WEIGHT_MODES)}"
                )
            return w, None
        if not isinstance(w, dict):
            raise TypeError(
                f"`weights` must be 'optimize', 'equal' or a dict {{model name: weight}}, got "
                f"{type(w).__name__} {w!r}."
            )
        unknown = [k for k in w if k not in names]
        if unknown:
            raise ParameterError(
                f"`weights` names unknown model {unknown[0]!r}; models are {names!r}."
                f"{did_you_mean(unknown[0], names)}"
            )
        missing = [k for k in names if k not in w]
        if missing:
            raise ParameterError(f"`weights` must give a weight to every model; missing {missing!r}.")
        vals = []
        for k in names:
            v = w[k]
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) or not np.isfinite(v) or v < 0:
                raise ParameterError(f"`weights[{k!r}]` must be a finite number >= 0, got {v!r}.")
            vals.append(float(v))
        vals = np.array(vals)
        if not vals.sum() > 0:
            raise ParameterError(f"`weights` must have a positive sum, got {w!r}.")
        return "fixed", vals / vals.sum()

    # ------------------------------------------------------------------ predict
    def predict_proba(self, probas, regimes=None):
        """Blend new base-model probabilities.

        Parameters
        ----------
        probas : dict of str -> array-like of shape (n_samples, n_classes)
            Probabilities of the same models as in ``fit`` (any order of keys).
        regimes : array-like of shape (n_samples,) or (n_samples, n_regimes), optional
            Required when the ensemble is regime-aware: regime labels, or
            regime probabilities with columns in ``regime_labels_`` order (a
            DataFrame whose columns name the regimes is reordered by name).

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Blended probabilities in ``classes_`` order; NaN rows where any
            input row is NaN.
        """
        check_is_fitted(self, "weights_")
        names, P = _check_probas("probas", probas)
        unknown = [k for k in names if k not in self.model_names_]
        if unknown:
            raise ParameterError(
                f"`probas` holds model {unknown[0]!r} that was not in fit; models are {self.model_names_!r}."
                f"{did_you_mean(unknown[0], self.model_names_)}"
            )
        missing = [k for k in self.model_names_ if k not in names]
        if missing:
            raise ParameterError(f"`probas` lacks models {missing!r} seen in fit.")
        P = P[[names.index(k) for k in self.model_names_]]
        M, n, K = P.shape
        if K != len(self.classes_):
            raise ParameterError(
                f"`probas` have {K} columns but the ensemble was fitted on {len(self.classes_)} classes "
                f"{self.classes_.tolist()!r}."
            )
        if self.regime_labels_ is None:
            return np.einsum("m,mnk->nk", self.global_weights_.to_numpy(), P)
        if regimes is None:
            raise ParameterError(
                "`regimes` is required: this BlendingEnsemble is regime-aware (regime_aware=True in fit)."
            )
        W = np.vstack([self.weights_.to_numpy(), self.global_weights_.to_numpy()])  # last row: unseen regimes
        membership = _regime_membership(regimes, n, labels=self.regime_labels_)
        w_rows = membership @ W  # (n, M); NaN rows stay NaN
        return np.einsum("nm,mnk->nk", w_rows, P)


# ---------------------------------------------------------------------- helpers
def _check_probas(name: str, probas):
    """Model names and a float64 array of shape (n_models, n_samples, n_classes)."""
    if not isinstance(probas, dict) or not probas:
        raise TypeError(
            f"`{name}` must be a non-empty dict {{model name: (n_samples, n_classes) probabilities}}, got "
            f"{type(probas).__name__}."
        )
    names, arrays = [], []
    shape = None
    for key, value in probas.items():
        if not isinstance(key, str):
            raise TypeError(f"`{name}` keys must be model names (str), got {type(key).__name__} {key!r}.")
        a = value.to_numpy(dtype="float64", na_value=np.nan) if hasattr(value, "to_numpy") else value
        try:
            a = np.asarray(a, dtype="float64")
        except (TypeError, ValueError):
            raise TypeError(f"`{name}[{key!r}]` must be numeric probabilities.") from None
        if a.ndim != 2 or a.shape[1] < 2:
            raise ParameterError(
                f"`{name}[{key!r}]` must be 2-D of shape (n_samples, n_classes >= 2), got shape {a.shape}."
            )
        if shape is None:
            shape = a.shape
        elif a.shape != shape:
            raise ParameterError(
                f"`{name}[{key!r}]` has shape {a.shape} but `{name}[{names[0]!r}]` has {shape}; all models "
                f"must predict the same rows and classes."
            )
        a = a.copy()
        a[np.isnan(a).any(axis=1)] = np.nan  # a partly-NaN row counts as missing
        rows = ~np.isnan(a[:, 0])
        bad = np.flatnonzero(rows & (~np.isfinite(a).all(axis=1) | (a < -1e-9).any(axis=1)
                                     | (np.abs(a.sum(axis=1) - 1.0) > 1e-6)))
        if len(bad):
            i = int(bad[0])
            raise ParameterError(
                f"`{name}[{key!r}]` row {i} is not a probability vector (entries >= 0 summing to 1): "
                f"{a[i].tolist()!r} ({len(bad)} such rows)."
            )
        names.append(key)
        arrays.append(np.clip(a, 0.0, 1.0))
    return names, np.stack(arrays)


def _regime_membership(regimes, n: int, labels=None):
    """Regime membership matrix of shape (n, n_regimes) (fit) or (n, n_regimes + 1) (predict).

    At fit (``labels is None``) returns ``(membership, labels)``.  At predict
    the extra last column marks 1-D labels unseen in fit (global weights).
    """
    predict = labels is not None
    if hasattr(regimes, "columns"):
        cols = list(regimes.columns)
        arr = regimes.to_numpy(dtype="float64", na_value=np.nan)
    else:
        cols = None
        arr = regimes.to_numpy() if hasattr(regimes, "to_numpy") else np.asarray(regimes)
    if arr.ndim not in (1, 2) or len(arr) != n:
        raise ParameterError(
            f"`regimes` must have shape ({n},) (one label per row) or ({n}, n_regimes) (regime "
            f"probabilities), got shape {arr.shape}."
        )
    if arr.ndim == 1:
        if arr.dtype.kind == "f":
            missing = np.isnan(arr)
        elif arr.dtype == object:
            missing = np.array([v is None or v != v for v in arr], dtype=bool)
        else:
            missing = np.zeros(n, dtype=bool)
        present = arr[~missing]
        if predict:
            lookup = {lab: j for j, lab in enumerate(labels)}
            R = len(labels) + 1
        else:
            uniq = list(pd.unique(present))
            try:
                uniq = sorted(uniq)
            except TypeError:
                pass
            uniq = [u.item() if hasattr(u, "item") else u for u in uniq]
            lookup = {lab: j for j, lab in enumerate(uniq)}
            R = len(uniq)
        out = np.zeros((n, R))
        out[missing] = np.nan
        rows = np.flatnonzero(~missing)
        out[rows, [lookup.get(v, R - 1 if predict else -1) for v in arr[rows]]] = 1.0
        return out if predict else (out, uniq)

    # 2-D: regime probabilities
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"`regimes` probabilities must be numeric, got dtype {arr.dtype}.")
    arr = arr.astype("float64")
    R = arr.shape[1]
    if predict and R != len(labels):
        raise ParameterError(
            f"`regimes` has {R} probability columns but the ensemble was fitted on {len(labels)} regimes "
            f"{list(labels)!r} (columns must follow regime_labels_)."
        )
    if predict and cols is not None and cols != list(labels):
        if sorted(map(str, cols)) != sorted(map(str, labels)):
            raise ParameterError(
                f"`regimes` columns {cols!r} are not the regimes of fit {list(labels)!r}."
                f"{did_you_mean(next((c for c in cols if c not in labels), cols[0]), labels)}"
            )
        by_name = {str(c): j for j, c in enumerate(cols)}
        arr = arr[:, [by_name[str(lab)] for lab in labels]]
    arr[np.isnan(arr).any(axis=1)] = np.nan
    rows = ~np.isnan(arr[:, 0])
    bad = np.flatnonzero(rows & (~np.isfinite(arr).all(axis=1) | (arr < -1e-9).any(axis=1)
                                 | (np.abs(arr.sum(axis=1) - 1.0) > 1e-6)))
    if len(bad):
        i = int(bad[0])
        raise ParameterError(
            f"`regimes` row {i} is not a probability vector (entries >= 0 summing to 1): {arr[i].tolist()!r}."
        )
    arr = np.clip(arr, 0.0, 1.0)
    if predict:
        return np.hstack([arr, np.zeros((n, 1))])
    return arr, (cols if cols is not None else list(range(R)))


def _log_loss(q: np.ndarray, s: np.ndarray) -> float:
    return float(-(s * np.log(np.maximum(q, _EPS))).sum() / s.sum())


def _optimize(pt: np.ndarray, s: np.ndarray, min_weight: float, where: str):
    """Simplex weights minimising the weighted log loss; ``pt`` is (n_models, n_rows)."""
    M = pt.shape[0]
    scale = 1.0 - M * min_weight
    if M == 1 or scale <= 1e-12:
        w = np.full(M, 1.0 / M)
        return w, _log_loss(w @ pt, s)
    s = s / s.sum()

    def weights(v):
        return min_weight + scale * v

    def fun(v):
        q = np.maximum(weights(v) @ pt, _EPS)
        loss = -(s * np.log(q)).sum()
        grad = -scale * (pt * (s / q)).sum(axis=1)
        return loss, grad

    res = minimize(
        fun, np.full(M, 1.0 / M), jac=True, method="SLSQP", bounds=[(0.0, 1.0)] * M,
        constraints=[{"type": "eq", "fun": lambda v: v.sum() - 1.0, "jac": lambda v: np.ones_like(v)}],
        options={"ftol": 1e-12, "maxiter": 1000},
    )
    if not res.success:
        warnings.warn(f"BlendingEnsemble: the weight optimiser did not converge for {where}: {res.message}",
                      ConvergenceWarning, stacklevel=3)
    v = np.clip(res.x, 0.0, None)
    v = v / v.sum() if v.sum() > 0 else np.full(M, 1.0 / M)
    w = weights(v)
    w = w / w.sum()
    return w, _log_loss(w @ pt, s)
