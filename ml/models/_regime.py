"""Market regime detector: regime probabilities from causal features, calm first.

:class:`RegimeModel` learns ``n_regimes`` market regimes from a few causal
features (e.g. :func:`regime_features`: return and realised volatility over
the last ``window`` bars) with a scikit-learn
:class:`~sklearn.mixture.GaussianMixture` on the standardised features, and
gives, for every row, the probability of each regime.  Row ``t``'s
probabilities depend on row ``t``'s features only, so they are causal whenever
the features are.

A hidden Markov model would add persistence between rows.  Its *filtered*
probabilities ``P(S_t | x_<=t)`` (forward algorithm / Hamilton filter, e.g.
statsmodels ``MarkovRegression(...).filter(params).filtered_marginal_probabilities``)
are causal too; its *smoothed* probabilities ``P(S_t | x_1..x_n)``
(forward-backward: hmmlearn's ``predict_proba``, statsmodels'
``smoothed_marginal_probabilities``) use the future and must never be used as
features or signals.  (A Markov-switching mean/variance model of the rolling
volatility was tried on the WDO sample and separated regimes by the variance
of the volatility rather than its level, so it is not offered.)

Regimes are numbered deterministically: by the regime's mean of the ordering
column (``order_by``; default the first column whose name contains "vol", else
the first column), ascending.  With a volatility column regime 0 is the calm
one and the last the turbulent one, whatever the seed or the order in which the
mixture found its components.
"""

from __future__ import annotations

import functools
import numbers

import numpy as np
import pandas as pd
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from ml._checks import check_choice, check_int, did_you_mean
from ml.data._calendar import bars_calendar
from ml.data._frame import check_bar_frame
from ml.exceptions import ParameterError
from ml.models._base import BaseAdapter

__all__ = ["RegimeModel", "regime_features"]

_COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
#: Fewest complete rows ``fit`` accepts, per regime.
MIN_ROWS_PER_REGIME = 25


# Adapters raise ParameterError for every bad argument, wrong types included.
_int = functools.partial(check_int, type_error=ParameterError)
_choice = functools.partial(check_choice, ignore_case=True, type_error=ParameterError)


def regime_features(bars: pd.DataFrame, window: int = 60, *, calendar=None) -> pd.DataFrame:
    """Causal regime inputs from bars: return and realised volatility over ``window`` bars.

    Parameters
    ----------
    bars : DataFrame
        Bars of one instrument as returned by :func:`ml.data.load_bars` (or
        :func:`ml.data.continuous_contract`): tz-aware increasing index and a
        ``close`` column.
    window : int, default 60
        Window in bars, >= 2.
    calendar : str or SessionCalendar, optional
        Session calendar; default the one recorded by ``load_bars``.

    Returns
    -------
    DataFrame of shape (n_bars, 2)
        Columns ``ret_{window}`` (sum of the 1-bar log returns in the window)
        and ``vol_{window}`` (realised volatility per bar,
        ``sqrt(mean(r^2))`` over the window), indexed like ``bars``.

    Notes
    -----
    1-bar returns are ``ln(close_t / close_t-1)``, set to NaN on the first bar
    of every session (the overnight gap is not intraday volatility and would
    make every open look turbulent) and where the ``symbol`` column changes
    without a ``contract`` column (a roll between raw contracts is a price
    jump, not a return).  A window's value needs at least
    ``max(2, window // 2)`` finite 1-bar returns, else NaN (warm-up rows are
    never back-filled).  Row ``t`` uses bars ``<= t`` only.  ``attrs`` records
    the window and how many 1-bar returns were masked.
    """
    window = _int("window", window, 2)
    check_bar_frame(bars, columns=("close",), name="bars")
    cal = bars_calendar(bars, calendar)
    info = cal.sessions(bars.index)
    close = bars["close"].to_numpy(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        logc = np.log(close)
    r = np.full(len(close), np.nan)
    r[1:] = logc[1:] - logc[:-1]
    r[~np.isfinite(r)] = np.nan
    gap = info.first_in_session.copy()
    gap[0] = False
    roll = np.zeros(len(close), dtype=bool)
    if "symbol" in bars.columns and "contract" not in bars.columns:
        sym = bars["symbol"].to_numpy()
        roll[1:] = sym[1:] != sym[:-1]
    r[gap | roll] = np.nan
    rs = pd.Series(r, index=bars.index)
    minp = max(2, window // 2)
    ret = rs.rolling(window, min_periods=minp).sum()
    vol = np.sqrt((rs * rs).rolling(window, min_periods=minp).mean())
    out = pd.DataFrame({f"ret_{window}": ret.to_numpy(), f"vol_{window}": vol.to_numpy()}, index=bars.index)
    out.attrs["regime_features"] = {"window": window, "min_periods": minp,
                                    "session_gaps_masked": int(gap.sum()),
                                    "contract_rolls_masked": int((roll & ~gap).sum())}
    return out


class RegimeModel(BaseAdapter):
    """Market regime probabilities from causal features (Gaussian mixture, row-wise).

    Parameters
    ----------
    n_regimes : int, default 2
        Number of regimes, 2 to 5.
    covariance_type : {"full", "tied", "diag", "spherical"}, default "full"
        Mixture covariance.
    n_init : int, default 3
        Mixture restarts, best likelihood kept.
    max_iter : int, default 200
        EM iterations per restart.
    order_by : str or int, optional
        Column whose regime means order the regimes ascending: a name of
        ``X``'s columns or a position.  Default: the first column whose name
        contains "vol", else column 0.
    random_state : int, default 0
        Seed of the mixture's initialisation.

    Attributes
    ----------
    classes_ : ndarray of shape (n_regimes,)
        ``0 .. n_regimes - 1``; 0 = lowest mean of the ordering column.
    regime_names_ : list of str
        ``"calm", ..., "turbulent"`` (meaningful when ordering by volatility).
    order_by_ : str or int
        The ordering column actually used (name when ``X`` had names).
    regime_means_ : DataFrame of shape (n_regimes, n_features)
        Mean of every feature over the training rows labelled with each
        regime, in input units.
    scaler_ : StandardScaler
        Standardisation learned on the complete training rows.
    mixture_ : GaussianMixture
        The fitted mixture; its components are in the mixture's own order,
        ``component_order_`` maps regime k -> component.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` was a DataFrame.
    n_fit_rows_ : int
        Complete rows used by ``fit``.
    n_nan_rows_ : int
        Rows of the training ``X`` with a NaN / inf, ignored by ``fit``.

    Notes
    -----
    Causality: the probabilities of row ``t`` are a function of row ``t`` of
    ``X`` alone (plus the fitted parameters), so they use bars ``<= t``
    whenever ``X`` does (:func:`regime_features` does), and they do not
    depend on which other rows are predicted with it.  A smoothed HMM posterior
    would look ahead; it is not offered (see the module docstring).

    ``fit`` and ``predict_proba`` run BLAS / OpenMP on one thread
    (``threadpoolctl``): with a handful of columns threads only add overhead
    (10-25x slower on a busy 2-core machine, and oversubscribed under joblib
    folds), and one thread makes the results independent of the core count.

    Rows with a NaN / inf get NaN probabilities and a NaN label (never
    dropped, never filled); ``fit`` ignores them and counts them in
    ``n_nan_rows_``.

    References
    ----------
    McLachlan, G., Peel, D. (2000). Finite Mixture Models. Wiley.
    Hamilton, J. (1989). A new approach to the economic analysis of
    nonstationary time series and the business cycle. Econometrica 57(2),
    357-384 (the filtered vs smoothed distinction).

    Examples
    --------
    >>> from ml.data import load_bars, sample_path
    >>> X = regime_features(load_bars(sample_path("wdo")).iloc[:6000], window=60)
    >>> model = RegimeModel(n_regimes=2).fit(X)
    >>> proba = model.predict_proba(X)          # (6000, 2), NaN on warm-up rows
    >>> bool(model.regime_means_["vol_60"].is_monotonic_increasing)
    True
    """

    name = "regime"
    kind = "regime"

    def __init__(self, n_regimes=2, covariance_type="full", n_init=3, max_iter=200, order_by=None,
                 random_state=0):
        self.n_regimes = n_regimes
        self.covariance_type = covariance_type
        self.n_init = n_init
        self.max_iter = max_iter
        self.order_by = order_by
        self.random_state = random_state

    # ------------------------------------------------------------------ input handling
    def _validate_X(self, X, fitting: bool) -> tuple[np.ndarray, pd.Index | None]:
        """``X`` as a float 2-D array in the fitted column order, and its index if any."""
        index = None
        if isinstance(X, pd.Series):
            X = X.to_frame()
        if isinstance(X, pd.DataFrame):
            index = X.index
            bad = [c for c in X.columns if X[c].dtype == bool or not pd.api.types.is_numeric_dtype(X[c].dtype)]
            if bad:
                raise TypeError(f"`X` columns must be numeric; {bad[0]!r} has dtype {X[bad[0]].dtype}.")
            names = np.asarray([str(c) for c in X.columns], dtype=object)
            if fitting:
                if len(set(names)) != len(names):
                    raise ParameterError("`X` has duplicate column names; names must be unique.")
                self.feature_names_in_ = names
            elif hasattr(self, "feature_names_in_"):
                fitted = list(self.feature_names_in_)
                missing = [c for c in fitted if c not in set(names)]
                extra = [c for c in names if c not in set(fitted)]
                if missing or extra:
                    raise ParameterError(f"`X` columns differ from those seen in fit: missing {missing}, "
                                         f"unexpected {extra}.")
                X = X.set_axis(names, axis=1)[fitted]
            arr = X.to_numpy(np.float64)
        else:
            arr = np.asarray(X)
            if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
                raise TypeError(f"`X` must hold numbers, got dtype {arr.dtype}.")
            arr = arr.astype(np.float64)
            if arr.ndim == 1:
                arr = arr[:, None]
            if arr.ndim != 2:
                raise ParameterError(f"`X` must be 2-dimensional (n_samples, n_features), got shape {arr.shape}.")
            if fitting and hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        if fitting:
            self.n_features_in_ = arr.shape[1]
        elif arr.shape[1] != self.n_features_in_:
            raise ParameterError(f"`X` has {arr.shape[1]} columns; the model was fitted on {self.n_features_in_}.")
        return arr, index

    def _resolve_order_by(self) -> int:
        names = list(getattr(self, "feature_names_in_", []))
        ob = self.order_by
        if ob is None:
            hits = [i for i, c in enumerate(names) if "vol" in c.lower()]
            return hits[0] if hits else 0
        if isinstance(ob, str):
            if ob in names:
                return names.index(ob)
            known = f"columns: {', '.join(names)}" if names else "X has no column names; give a position"
            raise ParameterError(f"`order_by` {ob!r} is not a column of `X` ({known})."
                                 f"{did_you_mean(ob, names)}")
        if isinstance(ob, bool) or not isinstance(ob, numbers.Integral) or not 0 <= ob < self.n_features_in_:
            raise ParameterError(f"`order_by` must be a column name or a position in [0, "
                                 f"{self.n_features_in_ - 1}], got {ob!r}.")
        return int(ob)

    # ------------------------------------------------------------------ API
    def fit(self, X, y=None):
        """Learn the regimes from the complete rows of ``X``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Causal features, one row per bar (e.g. :func:`regime_features`).
            Rows with a NaN / inf are ignored and counted in ``n_nan_rows_``.
        y : ignored

        Returns
        -------
        self
        """
        k = _int("n_regimes", self.n_regimes, 2, 5)
        cov = _choice("covariance_type", self.covariance_type, _COVARIANCE_TYPES)
        n_init = _int("n_init", self.n_init, 1)
        max_iter = _int("max_iter", self.max_iter, 1)
        if self.random_state is not None and (isinstance(self.random_state, bool)
                                              or not isinstance(self.random_state, numbers.Integral)):
            raise ParameterError(f"`random_state` must be an int or None, got {self.random_state!r}.")
        arr, _ = self._validate_X(X, fitting=True)
        col = self._resolve_order_by()
        ok = np.isfinite(arr).all(axis=1)
        need = MIN_ROWS_PER_REGIME * k
        if ok.sum() < need:
            raise ParameterError(f"`X` has {int(ok.sum())} complete rows (without NaN / inf); "
                                 f"{k} regimes need at least {need}.")
        self.scaler_ = StandardScaler().fit(arr[ok])
        if np.ptp(arr[ok, col]) == 0:
            raise ParameterError("the ordering column is constant on the complete rows; regimes cannot be ordered.")
        z = self.scaler_.transform(arr[ok])
        with threadpool_limits(limits=1):  # see Notes: one thread, reproducible and fast
            self.mixture_ = GaussianMixture(n_components=k, covariance_type=cov, n_init=n_init,
                                            max_iter=max_iter, random_state=self.random_state).fit(z)
            order = np.argsort(self.mixture_.means_[:, col], kind="stable")
            labels = order.argsort()[self.mixture_.predict(z)]
        self.component_order_ = order
        self.order_col_ = col
        names = getattr(self, "feature_names_in_", None)
        self.order_by_ = names[col] if names is not None else col
        self.classes_ = np.arange(k)
        self.regime_names_ = (["calm", "turbulent"] if k == 2 else
                              ["calm"] + [f"mid_{i}" for i in range(1, k - 1)] + ["turbulent"])
        cols = list(names) if names is not None else list(range(arr.shape[1]))
        data = arr[ok]
        means = [data[labels == j].mean(axis=0) if np.any(labels == j) else np.full(data.shape[1], np.nan)
                 for j in range(k)]
        self.regime_means_ = pd.DataFrame(means, index=pd.RangeIndex(k, name="regime"), columns=cols)
        self.n_fit_rows_ = int(ok.sum())
        self.n_nan_rows_ = int((~ok).sum())
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Probability of each regime, per row.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Same columns as in ``fit``.

        Returns
        -------
        ndarray of shape (n_samples, n_regimes)
            Columns in ``classes_`` order (0 = calm); each complete row sums
            to 1; rows with a NaN / inf are all NaN.
        """
        check_is_fitted(self, "component_order_")
        arr, _ = self._validate_X(X, fitting=False)
        k = len(self.classes_)
        ok = np.isfinite(arr).all(axis=1)
        out = np.full((len(arr), k), np.nan)
        if ok.any():
            with threadpool_limits(limits=1):
                p = self.mixture_.predict_proba(self.scaler_.transform(arr[ok]))
            out[ok] = p[:, self.component_order_]
        return out

    def predict(self, X) -> np.ndarray:
        """Most probable regime per row (float: NaN where the row is incomplete)."""
        proba = self.predict_proba(X)
        out = np.full(len(proba), np.nan)
        ok = np.isfinite(proba).all(axis=1)
        out[ok] = np.argmax(proba[ok], axis=1)
        return out

    def transform(self, X) -> pd.DataFrame:
        """Regime probabilities as a DataFrame (columns ``regime_0 .. regime_{k-1}``), indexed like ``X``."""
        proba = self.predict_proba(X)
        index = X.index if isinstance(X, (pd.DataFrame, pd.Series)) else None
        return pd.DataFrame(proba, index=index, columns=[f"regime_{j}" for j in range(proba.shape[1])])

    @classmethod
    def search_space(cls, trial) -> dict:
        """Optuna search space of the regime detector's hyper-parameters."""
        return {
            "n_regimes": trial.suggest_int("n_regimes", 2, 3),
            "covariance_type": trial.suggest_categorical("covariance_type", ["full", "diag"]),
        }
