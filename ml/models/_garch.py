"""GARCH-family volatility model (arch): per-bar sigma forecasts for features and risk sizing.

:class:`GarchModel` fits a GARCH(p, q), GJR-GARCH(p, o, q) or EGARCH(p, o, q)
with a zero or constant mean and normal, Student's t or skewed t innovations
to one series of log returns (e.g. 1-bar returns), by maximum likelihood with
the `arch <https://arch.readthedocs.io>`_ package.  After ``fit`` it gives:

- :meth:`GarchModel.forecast`: the per-bar and cumulative sigma of the next
  ``h`` bars after the last fitted return (or after the last row of new
  returns);
- :meth:`GarchModel.predict_volatility`: the causal one-step-ahead sigma for
  every row of a new return series (a test fold) with the *fitted* parameters,
  no refit: the value at row ``t`` uses returns ``<= t`` only and forecasts the
  return of row ``t + 1``.  Usable as a feature and by volatility targeting.

Everything returned is in return units (the ``scale`` used for the optimizer is
undone) and per bar.  To annualise a per-bar sigma multiply it by
``sqrt(periods_per_year)`` from the session calendar
(``ml.data.get_calendar("B3").periods_per_year(bar_minutes)``; PITFALLS.md
#14), never by a 365- or 252-day constant alone.
"""

from __future__ import annotations

import functools
import numbers
import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from ml._checks import check_choice, check_int
from ml.exceptions import ParameterError
from ml.models._base import BaseAdapter

__all__ = ["GarchModel"]

#: Fewest finite returns ``fit`` accepts.
MIN_OBS = 100
#: Volatility processes and their arch classes.
_VOLS = ("GARCH", "GJR", "EGARCH")
#: Innovation distributions (our name -> arch class name).
_DISTS = {"normal": "Normal", "t": "StudentsT", "skewt": "SkewStudent"}
#: Mean models (our name -> arch class name).
_MEANS = {"Zero": "ZeroMean", "Constant": "ConstantMean"}
#: Initial states accepted by ``predict_volatility`` / ``forecast``.
_INITS = ("fit", "continue")


# Adapters raise ParameterError for every bad argument, wrong types included.
_int = functools.partial(check_int, type_error=ParameterError)
_choice = functools.partial(check_choice, ignore_case=True, type_error=ParameterError)


def _as_returns(returns, name: str = "returns") -> pd.Series:
    """``returns`` as a float64 Series (a 1-column DataFrame or 1-D array is accepted)."""
    if isinstance(returns, pd.DataFrame):
        if returns.shape[1] != 1:
            raise ParameterError(f"`{name}` must be one series of returns; got a DataFrame with "
                                 f"{returns.shape[1]} columns ({', '.join(map(str, returns.columns[:5]))}).")
        returns = returns.iloc[:, 0]
    if not isinstance(returns, pd.Series):
        arr = np.asarray(returns)
        if arr.ndim != 1:
            raise ParameterError(f"`{name}` must be 1-dimensional, got shape {arr.shape}.")
        returns = pd.Series(arr)
    if returns.dtype == bool or not (pd.api.types.is_numeric_dtype(returns.dtype)):
        raise TypeError(f"`{name}` must hold numbers (log returns), got dtype {returns.dtype}.")
    return returns.astype(np.float64)


def _split_leading_nan(returns: pd.Series, name: str = "returns") -> tuple[int, np.ndarray]:
    """Number of leading NaN rows and the finite values after them.

    Leading NaN (the warm-up row of ``log(close).diff()``) are allowed; a NaN
    after the first finite value, or any inf, is an error naming its position.
    """
    x = returns.to_numpy(np.float64)
    bad_inf = np.flatnonzero(np.isinf(x))
    if bad_inf.size:
        i = int(bad_inf[0])
        raise ParameterError(f"`{name}` holds an infinite value at position {i} "
                             f"(index {returns.index[i]!r}); returns must be finite.")
    finite = np.isfinite(x)
    if not finite.any():
        raise ParameterError(f"`{name}` holds no finite value ({len(x)} rows, all NaN).")
    lead = int(np.argmax(finite))
    inner = np.flatnonzero(~finite[lead:])
    if inner.size:
        i = lead + int(inner[0])
        raise ParameterError(
            f"`{name}` holds NaN at position {i} (index {returns.index[i]!r}) after the first finite "
            f"return; only leading NaN (warm-up rows) are allowed. Fill or cut the gap explicitly "
            f"(e.g. treat a missing bar's return as 0.0, or split the series there).")
    return lead, x[lead:]


class GarchModel(BaseAdapter):
    """GARCH / GJR-GARCH / EGARCH volatility forecaster on one return series.

    Parameters
    ----------
    vol : {"GARCH", "GJR", "EGARCH"}, default "GARCH"
        Volatility process (case-insensitive).  ``"GJR"`` is GARCH with
        asymmetric terms: ``o=0`` is read as ``o=1`` for it.
    p : int, default 1
        Lags of the squared (EGARCH: absolute standardised) shock, >= 1.
    o : int, default 0
        Asymmetric (leverage) lags, >= 0 (``"GARCH"`` with ``o >= 1`` is a GJR model).
    q : int, default 1
        Lags of the conditional variance (EGARCH: log variance), >= 0.
    dist : {"normal", "t", "skewt"}, default "t"
        Distribution of the standardised innovations.
    mean : {"Zero", "Constant"}, default "Zero"
        Mean model.  For 1-minute returns the mean is negligible: ``"Zero"``.
    scale : float or "auto", default "auto"
        Returns are multiplied by ``scale`` before optimisation (arch's optimizer
        works best when the scaled returns have a standard deviation of about 1
        to 10); every output is divided back to return units.  ``"auto"`` picks
        the power of ten that puts the training returns' standard deviation in
        [1, 10) (10,000 for 1-minute FX returns of ~0.04%); the value used is
        ``scale_``.  A fixed ``100.0`` (percent returns) suits daily data but
        leaves 1-minute fits stuck at their starting values.
    random_state : int, default 0
        Seed of the simulated multi-step EGARCH forecasts (``forecast(h > 1)``),
        the only random step; fitting and filtering are deterministic.

    Attributes
    ----------
    params_ : Series
        Fitted parameters in arch's naming and in *scaled* units
        (``omega`` in ``scale_**2`` return units for GARCH / GJR; ``mu`` in
        ``scale_`` units).
    scale_ : float
        The multiplier used.
    mu_ : float
        Mean return per bar in return units (0.0 for ``mean="Zero"``).
    o_ : int
        Asymmetric lags actually used (``max(o, 1)`` for ``vol="GJR"``).
    backcast_ : float
        Pre-sample state of the variance recursion, as arch computed it for the
        training sample (exponentially weighted mean of the first 75 squared
        residuals, scaled units; its log for EGARCH).
    conditional_volatility_ : Series
        In-sample sigma of each training return (arch's
        ``res.conditional_volatility`` / ``scale_``): the value at row ``t`` is
        the sigma *of* ``r_t`` given returns ``< t``.
    train_returns_ : ndarray
        The finite training returns (return units), kept so that
        ``forecast()`` and ``predict_volatility(init="continue")`` can run the
        recursion on from the end of the training sample.
    n_obs_ : int
        Number of returns fitted.
    n_dropped_ : int
        Leading NaN rows skipped by ``fit`` (the warm-up row of a ``diff``).
    loglikelihood_ : float
        Log-likelihood at the optimum, of the *scaled* returns.
    convergence_flag_ : int
        The optimizer's exit flag (0 = converged); non-zero also warns with a
        :class:`~sklearn.exceptions.ConvergenceWarning`.

    Notes
    -----
    Timing convention (proven by ``tests/ml/models/test_garch.py``): arch's
    ``conditional_volatility[t]`` is ``sigma_t``, the sigma of ``r_t`` given
    returns ``< t``.  :meth:`predict_volatility` returns at row ``t`` the
    forecast ``sigma_{t+1|t}``, made with returns ``<= t``: on the training
    data it equals ``conditional_volatility_.shift(-1)``, and its last row
    equals ``forecast(1)["sigma"]``.  A decision taken at bar ``t`` with it
    fills at bar ``t + 1`` (PITFALLS.md #1), exactly the bar it forecasts.

    Filtering new data uses arch's own variance recursion and forecasting code
    (``volatility.forecast``) with the fitted parameters.  It does **not** use
    ``arch_model(new).fix(params)``: ``fix`` recomputes its pre-sample
    ``backcast`` from the first 75 rows of the new sample and its variance
    bounds from the whole new sample, so early values would depend on later
    rows.  Here the pre-sample state is ``backcast_`` from training
    (``init="fit"``) or the end of the training sample (``init="continue"``),
    and the variance bounds are constants learned in ``fit``.

    References
    ----------
    Bollerslev, T. (1986). Generalized autoregressive conditional
    heteroskedasticity. Journal of Econometrics 31(3), 307-327.
    Glosten, L., Jagannathan, R., Runkle, D. (1993). On the relation between
    the expected value and the volatility of the nominal excess return on
    stocks. Journal of Finance 48(5), 1779-1801.
    Nelson, D. (1991). Conditional heteroskedasticity in asset returns: a new
    approach. Econometrica 59(2), 347-370.

    Examples
    --------
    >>> import numpy as np
    >>> from ml.data import load_bars, sample_path
    >>> bars = load_bars(sample_path("wdo"))
    >>> r = np.log(bars["close"]).diff().iloc[:3000]
    >>> model = GarchModel().fit(r)          # the leading NaN row is skipped
    >>> model.forecast(h=3).columns.tolist()
    ['variance', 'sigma', 'cum_variance', 'cum_sigma']
    >>> sigma = model.predict_volatility(np.log(bars["close"]).diff().iloc[3000:4000])
    >>> bool((sigma.dropna() > 0).all())
    True
    """

    name = "garch"
    kind = "volatility"

    def __init__(self, vol="GARCH", p=1, o=0, q=1, dist="t", mean="Zero", scale="auto", random_state=0):
        self.vol = vol
        self.p = p
        self.o = o
        self.q = q
        self.dist = dist
        self.mean = mean
        self.scale = scale
        self.random_state = random_state

    # ------------------------------------------------------------------ helpers
    def _checked_params(self) -> dict:
        vol = _choice("vol", self.vol, _VOLS)
        dist = _choice("dist", self.dist, _DISTS)
        mean = _choice("mean", self.mean, _MEANS)
        p = _int("p", self.p, 1)
        o = _int("o", self.o, 0)
        q = _int("q", self.q, 0)
        if vol == "GJR":
            o = max(o, 1)
        scale = self.scale
        if isinstance(scale, str):
            if scale.strip().lower() != "auto":
                raise ParameterError(f"`scale` must be a number > 0 or 'auto', got {scale!r}.")
            scale = "auto"
        elif (isinstance(scale, bool) or not isinstance(scale, numbers.Real)
              or not np.isfinite(scale) or scale <= 0):
            raise ParameterError(f"`scale` must be a number > 0 or 'auto', got {scale!r}.")
        if self.random_state is not None and (isinstance(self.random_state, bool)
                                              or not isinstance(self.random_state, numbers.Integral)):
            raise ParameterError(f"`random_state` must be an int or None, got {self.random_state!r}.")
        return {"vol": vol, "dist": dist, "mean": mean, "p": p, "o": o, "q": q, "scale": scale}

    def _volatility_process(self, cfg: dict):
        from arch.univariate import EGARCH, GARCH

        if cfg["vol"] == "EGARCH":
            return EGARCH(p=cfg["p"], o=cfg["o"], q=cfg["q"])
        return GARCH(p=cfg["p"], o=cfg["o"], q=cfg["q"])

    def _distribution(self, cfg: dict):
        import arch.univariate as au

        return getattr(au, _DISTS[cfg["dist"]])(seed=self.random_state)

    def _cfg(self) -> dict:
        """Parameters as validated at fit time (the fitted model's own, not later set_params)."""
        check_is_fitted(self, "params_")
        return self.cfg_

    def _vol_params(self) -> np.ndarray:
        n_mean = 1 if self.cfg_["mean"] == "Constant" else 0
        vol = self._volatility_process(self.cfg_)
        return self.params_.to_numpy(np.float64)[n_mean:n_mean + vol.num_params]

    def _scaled_resids(self, returns: np.ndarray) -> np.ndarray:
        return (np.asarray(returns, np.float64) - self.mu_) * self.scale_

    def _var_bounds(self, n: int) -> np.ndarray:
        return np.tile(np.asarray(self.var_bounds_, np.float64), (n, 1))

    def _prepare(self, returns, init: str) -> tuple[pd.Series, int, np.ndarray, int]:
        """Validated series, leading-NaN count, scaled residuals to filter, and how many
        of them come from the training sample (``init="continue"``)."""
        init = _choice("init", init, _INITS)
        returns = _as_returns(returns)
        lead, x = _split_leading_nan(returns)
        resids = self._scaled_resids(x)
        n_prefix = 0
        if init == "continue":
            resids = np.concatenate([self._scaled_resids(self.train_returns_), resids])
            n_prefix = len(self.train_returns_)
        return returns, lead, resids, n_prefix

    def _variance_forecast(self, resids: np.ndarray, start: int, h: int, simulations: int) -> np.ndarray:
        """arch's variance forecasts (scaled units), rows = origins ``start..n-1``, columns = 1..h."""
        cfg = self.cfg_
        vol = self._volatility_process(cfg)
        method = "analytic"
        rng = None
        if cfg["vol"] == "EGARCH" and h > 1:  # EGARCH has no closed form beyond one step
            method = "simulation"
            n_mean = 1 if cfg["mean"] == "Constant" else 0
            dist_params = self.params_.to_numpy(np.float64)[n_mean + vol.num_params:]
            rng = self._distribution(cfg).simulate(dist_params)
        fc = vol.forecast(self._vol_params(), resids, self.backcast_, self._var_bounds(len(resids)),
                          start=start, horizon=h, method=method, simulations=simulations, rng=rng)
        return np.asarray(fc.forecasts, np.float64)

    # ------------------------------------------------------------------ API
    def fit(self, returns, y=None):
        """Fit the model to one series of log returns.

        Parameters
        ----------
        returns : Series or array-like of shape (n_samples,)
            Log returns in time order (e.g. ``np.log(close).diff()``), in
            return units (0.001 = 0.1%).  Leading NaN rows are skipped and
            counted in ``n_dropped_``; any later NaN or inf is an error.
        y : ignored
            Present for the scikit-learn API.

        Returns
        -------
        self
        """
        cfg = self._checked_params()
        returns = _as_returns(returns)
        lead, x = _split_leading_nan(returns)
        if len(x) < MIN_OBS:
            raise ParameterError(f"`returns` has {len(x)} finite observations; GarchModel needs at "
                                 f"least {MIN_OBS} (a few thousand bars give stable estimates).")
        sd = float(np.std(x))
        if not sd > 0:
            raise ParameterError("`returns` are constant (standard deviation 0); there is no "
                                 "volatility to model.")
        if cfg["scale"] == "auto":
            scale = 10.0 ** int(np.floor(-np.log10(sd)))
            scale = scale * 10.0 if sd * scale < 1.0 else scale  # std * scale in [1, 10)
        else:
            scale = float(cfg["scale"])

        import arch.univariate as au

        y_scaled = pd.Series(x * scale, index=returns.index[lead:])
        am = getattr(au, _MEANS[cfg["mean"]])(y_scaled, volatility=self._volatility_process(cfg),
                                             distribution=self._distribution(cfg), rescale=False)
        res = am.fit(disp="off", show_warning=False)
        if res.convergence_flag != 0:
            warnings.warn(f"GARCH optimisation did not converge (flag {res.convergence_flag}); "
                          "try another `scale`, `dist` or a longer sample.", ConvergenceWarning, stacklevel=2)

        self.cfg_ = cfg
        self.o_ = cfg["o"]
        self.scale_ = scale
        self.params_ = res.params.astype(np.float64).copy()
        self.mu_ = float(self.params_["mu"]) / scale if cfg["mean"] == "Constant" else 0.0
        # The pre-sample state arch used for this fit (same function, same residuals).
        self.backcast_ = float(am.volatility.backcast(am.resids(am.starting_values())))
        # Constant, causal variance bounds (arch's own are per-row, from the whole sample).
        r2 = (x * scale - self.mu_ * scale) ** 2
        self.var_bounds_ = (float(np.var(x * scale)) / 1e8, 1e7 * (1.0 + float(np.max(r2))))
        self.conditional_volatility_ = pd.Series(
            np.asarray(res.conditional_volatility, np.float64) / scale,
            index=returns.index[lead:], name="conditional_volatility")
        self.train_returns_ = x.copy()
        self.n_obs_ = len(x)
        self.n_dropped_ = lead
        self.loglikelihood_ = float(res.loglikelihood)
        self.convergence_flag_ = int(res.convergence_flag)
        return self

    def predict_volatility(self, returns, *, init="fit") -> pd.Series:
        """Causal one-step-ahead sigma for every row of ``returns``, fitted parameters, no refit.

        Parameters
        ----------
        returns : Series or array-like of shape (n_samples,)
            Log returns in time order (e.g. a test fold).  Leading NaN rows
            give NaN; any later NaN or inf is an error.
        init : {"fit", "continue"}, default "fit"
            Pre-sample state of the recursion.  ``"fit"``: the training
            sample's ``backcast_`` (works for any series; its influence decays
            geometrically with the model's persistence).  ``"continue"``:
            ``returns`` directly follow the training sample, so the recursion
            runs on from the last training return (identical to filtering the
            concatenated series).

        Returns
        -------
        Series of shape (n_samples,)
            ``sigma_{t+1|t}`` in return units, indexed like ``returns``: the
            value at row ``t`` uses returns ``<= t`` only and is the forecast
            of the sigma of the return of row ``t + 1``.
        """
        self._cfg()
        returns, lead, resids, n_prefix = self._prepare(returns, init)
        var = self._variance_forecast(resids, start=n_prefix, h=1, simulations=1)[:, 0]
        out = np.full(len(returns), np.nan)
        out[lead:] = np.sqrt(var) / self.scale_
        return pd.Series(out, index=returns.index, name="garch_sigma")

    def forecast(self, h=1, returns=None, *, init="fit", simulations=1000) -> pd.DataFrame:
        """Variance and sigma of the next ``h`` bars.

        Parameters
        ----------
        h : int, default 1
            Horizon in bars, >= 1.
        returns : Series or array-like, optional
            Forecast from the end of these returns (filtered with the fitted
            parameters, see :meth:`predict_volatility`); default: from the end
            of the training sample.
        init : {"fit", "continue"}, default "fit"
            Pre-sample state when ``returns`` is given (see :meth:`predict_volatility`).
        simulations : int, default 1000
            Paths of the simulated forecast (EGARCH with ``h > 1`` only; seeded
            with ``random_state``).

        Returns
        -------
        DataFrame of shape (h, 4)
            Index ``horizon`` = 1..h; columns ``variance`` and ``sigma`` of the
            return of bar ``T + k`` (per bar), and ``cum_variance`` /
            ``cum_sigma`` of the sum of the returns of bars ``T + 1 .. T + k``
            (returns are conditionally uncorrelated, so variances add), all in
            return units.
        """
        self._cfg()
        h = _int("h", h, 1)
        simulations = _int("simulations", simulations, 1)
        if returns is None:
            resids = self._scaled_resids(self.train_returns_)
        else:
            _, _, resids, _ = self._prepare(returns, init)
        var = self._variance_forecast(resids, start=len(resids) - 1, h=h, simulations=simulations)[-1]
        var = var / self.scale_ ** 2
        cum = np.cumsum(var)
        return pd.DataFrame({"variance": var, "sigma": np.sqrt(var), "cum_variance": cum,
                             "cum_sigma": np.sqrt(cum)},
                            index=pd.RangeIndex(1, h + 1, name="horizon"))

    @classmethod
    def search_space(cls, trial) -> dict:
        """Optuna search space of the GARCH hyper-parameters."""
        return {
            "vol": trial.suggest_categorical("vol", list(_VOLS)),
            "dist": trial.suggest_categorical("dist", list(_DISTS)),
            "p": trial.suggest_int("p", 1, 2),
            "q": trial.suggest_int("q", 1, 2),
        }
