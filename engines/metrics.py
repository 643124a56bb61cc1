"""Performance metrics: the one definition every engine, sweep and report uses.

Both engines (``engines.vectorbt`` and ``engines.backtrader``), the sweep kernel
and the report writers compute their numbers here (or, inside numba, with the
kernels of :mod:`engines._metrics_nb` that these functions call), so a Sharpe
ratio means the same thing everywhere.  The conventions, each a rule of
``PITFALLS.md`` (11, 12, 14-19):

* **Annualisation** comes from the session calendar: :func:`periods_per_year`
  gives ``sessions_per_year * session_minutes / bar_minutes`` (1-minute B3 bars,
  09:00-18:30: 252 x 570 = 143,640; 1-minute 24/7 bars: 365 x 1440 = 525,600).
  Never vectorbt's 365-day year nor quantstats' ``periods=252`` on bar returns.
* **Returns** are per-period *simple* returns ``r_t = E_t / E_{t-1} - 1``.
  Intraday returns compound into session returns, ``prod(1 + r) - 1``
  (+5 % then -5 % is -0.25 %), by the exchange's session, in its time zone
  (:func:`daily_returns`).  quantstats only ever receives those session returns.
* **Risk-free rate** is given per year and converted per period as
  ``(1 + rf) ** (1 / N) - 1`` (:func:`risk_free_per_period`).
* **Drawdown** is measured on an equity curve that starts at the initial equity,
  which is the first peak: a loss in the very first period counts.  Returned as
  a negative fraction (-0.12 is a 12 % drawdown).
* **Sortino**'s denominator is ``sqrt(mean(min(r - T, 0) ** 2))`` over *all*
  periods, not the standard deviation of the losing periods.
* **Trade metrics** (win rate, profit factor, expectancy) are per *trade*, on
  the trade's PnL net of costs, in currency; recovery factor divides net profit
  by the maximum drawdown of the same equity curve in the same units.
* **NaN** is never read as a zero return: every function raises
  :class:`~ml.exceptions.ParameterError` naming the first NaN's position and
  label unless ``nan="drop"`` is passed, which drops NaN values and says how
  many in a :class:`~ml.exceptions.DataQualityWarning`.

:func:`summarize` returns the common metrics dictionary (keys
:data:`METRIC_KEYS`) that both engines put in ``metrics.json``.

References
----------
.. [1] Sharpe, W. F. (1994). "The Sharpe Ratio". *Journal of Portfolio
   Management* 21(1), 49-58.
.. [2] Sortino, F. A. and Price, L. N. (1994). "Performance Measurement in a
   Downside Risk Framework". *Journal of Investing* 3(3), 59-64.
.. [3] Lo, A. W. (2002). "The Statistics of Sharpe Ratios". *Financial
   Analysts Journal* 58(4), 36-52.
.. [4] Bailey, D. H. and Lopez de Prado, M. (2012). "The Sharpe Ratio Efficient
   Frontier". *Journal of Risk* 15(2), 3-44.
.. [5] Young, T. W. (1991). "Calmar Ratio: A Smoother Tool". *Futures* 20(1).
"""

from __future__ import annotations

import difflib
import math
import numbers
import warnings

import numpy as np
import pandas as pd

from engines import _metrics_nb as nb
from ml.data import bar_minutes_of, bars_calendar, get_calendar
from ml.exceptions import DataQualityWarning, ParameterError

__all__ = sorted([
    "BLOWN_UNDEFINED",
    "METRIC_KEYS",
    "void_if_blown",
    "annualized_return",
    "annualized_volatility",
    "avg_loss",
    "avg_win",
    "calmar_ratio",
    "daily_returns",
    "drawdown_details",
    "drawdown_series",
    "equity_curve",
    "expectancy",
    "exposure",
    "max_drawdown",
    "max_drawdown_amount",
    "n_trades",
    "periods_per_year",
    "profit_factor",
    "recovery_factor",
    "risk_free_per_period",
    "sharpe_ratio",
    "sortino_ratio",
    "summarize",
    "total_return",
    "win_rate",
])

#: Keys of the dictionary returned by :func:`summarize`, in order.
#: Ratios of per-bar returns that a blown account leaves undefined: near zero equity a
#: one-tick move is a return of thousands of percent (a blown BTC run showed Sharpe 5.4 on
#: a -100% total return), and at zero or below the return itself has no meaning.
BLOWN_UNDEFINED = ("sharpe", "sortino", "calmar", "recovery_factor")


def void_if_blown(metrics: dict) -> dict:
    """``metrics`` with :data:`BLOWN_UNDEFINED` set to NaN when ``metrics["account_blown"]``.

    The total return (-100% or worse), the drawdown and the per-trade figures stay: they
    are what the account did.  Returns the same dict.
    """
    if metrics.get("account_blown"):
        for k in BLOWN_UNDEFINED:
            if k in metrics:
                metrics[k] = float("nan")
    return metrics


METRIC_KEYS = (
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "recovery_factor",
    "win_rate",
    "profit_factor",
    "total_return",
    "annualized_return",
    "annualized_volatility",
    "n_trades",
    "exposure",
    "expectancy",
)

_NAN_MODES = ("raise", "drop")
_MINUTES_PER_DAY = 24 * 60.0


# --------------------------------------------------------------------------- validation


def _check_nan_mode(nan):
    if not isinstance(nan, str) or nan not in _NAN_MODES:
        raise ParameterError(
            f"`nan` must be 'raise' or 'drop', got {nan!r}; NaN values are never read as 0."
        )


def _check_positive(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number, got {type(value).__name__} {value!r}.")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ParameterError(f"`{name}` must be a finite number > 0, got {value!r}.")
    return value


def _check_ppy(periods_per_year):
    if periods_per_year is None:
        raise TypeError(
            "`periods_per_year` is required; take it from the session calendar, "
            "e.g. periods_per_year(bars) (about 137,000 for 1-minute B3 bars), or "
            "periods_per_year(bars, bar_minutes=1440) for session (daily) returns."
        )
    return _check_positive(periods_per_year, "periods_per_year")


def _check_rate(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number, got {type(value).__name__} {value!r}.")
    value = float(value)
    if not math.isfinite(value) or value <= -1.0:
        raise ParameterError(f"`{name}` must be a finite rate > -1, got {value!r}.")
    return value


def _label(index, pos):
    return f"position {pos}" + ("" if index is None else f" (label {index[pos]!r})")


def _as_1d(x, name, *, nan="raise", allow_empty=False, allow_bool=False):
    """Validate a 1-D numeric input; return (float64 values, index or None).

    NaN: ParameterError naming the first one unless ``nan="drop"``; then dropped
    with a DataQualityWarning that gives the count.  inf: always an error.
    """
    _check_nan_mode(nan)
    if isinstance(x, pd.DataFrame):
        raise TypeError(
            f"`{name}` must be one series (1-D), got a DataFrame with columns "
            f"{list(x.columns)!r}; pass one column, e.g. frame[{str(x.columns[0])!r}]."
            if len(x.columns) else f"`{name}` must be one series (1-D), got an empty DataFrame."
        )
    if isinstance(x, pd.Series):
        index = x.index
        raw = x.array
    elif isinstance(x, (np.ndarray, list, tuple)):
        index = None
        raw = np.asarray(x)
    else:
        raise TypeError(
            f"`{name}` must be a pandas Series or a 1-D array, got {type(x).__name__}."
        )
    if getattr(raw, "ndim", 1) != 1:
        raise TypeError(f"`{name}` must be 1-D, got an array of shape {raw.shape}.")
    dtype = raw.dtype
    if pd.api.types.is_bool_dtype(dtype):
        if not allow_bool:
            raise TypeError(f"`{name}` must be numeric, got booleans.")
    elif pd.api.types.is_object_dtype(dtype):
        inferred = pd.api.types.infer_dtype(raw, skipna=True)
        if inferred not in ("floating", "integer", "mixed-integer-float", "decimal", "empty"):
            raise TypeError(f"`{name}` must be numeric, got {inferred} values (dtype object).")
    elif not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_complex_dtype(dtype):
        raise TypeError(f"`{name}` must be numeric, got dtype {dtype}.")
    if isinstance(raw, np.ndarray):
        values = np.array(raw, dtype=np.float64)
    else:  # pandas arrays, nullable ones included: pd.NA becomes NaN (then checked below)
        values = raw.to_numpy(dtype=np.float64, na_value=np.nan)
    if len(values) == 0 and not allow_empty:
        raise ParameterError(f"`{name}` is empty; metrics need at least one value.")
    nan_mask = np.isnan(values)
    if nan_mask.any():
        first = int(np.flatnonzero(nan_mask)[0])
        count = int(nan_mask.sum())
        if nan == "raise":
            raise ParameterError(
                f"`{name}` has {count} NaN value(s), the first at {_label(index, first)}; "
                "a NaN is never read as 0 (PITFALLS 19). Fix the data, or pass "
                "nan='drop' to drop them explicitly."
            )
        warnings.warn(
            f"`{name}`: dropped {count} NaN value(s) on request (nan='drop'), the first at "
            f"{_label(index, first)}.",
            DataQualityWarning,
            stacklevel=3,
        )
        keep = ~nan_mask
        values = values[keep]
        index = None if index is None else index[keep]
        if len(values) == 0 and not allow_empty:
            raise ParameterError(f"`{name}` holds only NaN values; nothing is left to measure.")
    inf_mask = np.isinf(values)
    if inf_mask.any():
        first = int(np.flatnonzero(inf_mask)[0])
        raise ParameterError(f"`{name}` has an infinite value at {_label(index, first)}.")
    return np.ascontiguousarray(values), index


def _returns(returns, nan, name="returns"):
    """Validated per-period returns.  Returns below -100 % (equity below zero,
    possible with leverage) are accepted; the compounded curve then crosses 0."""
    return _as_1d(returns, name, nan=nan)


def _float(x):
    """A plain Python float (JSON-safe type; NaN/inf kept as float)."""
    return float(x)


# --------------------------------------------------------------------------- calendar


def periods_per_year(index_or_bars=None, calendar=None, bar_minutes=None) -> float:
    """Number of bars in a year, from the session calendar.

    Parameters
    ----------
    index_or_bars : DataFrame, DatetimeIndex, Series or None
        Bars as returned by :func:`ml.data.load_bars` (calendar and bar length
        are read from ``bars.attrs``, else inferred by
        :func:`ml.data.bars_calendar`, which falls back to 24/7 UTC for a frame
        with neither a recorded calendar nor a symbol: pass ``calendar`` to be
        explicit), or a DatetimeIndex /
        Series of bar timestamps (then ``calendar`` is required), or ``None``
        when ``calendar`` and ``bar_minutes`` are both given.
    calendar : str or SessionCalendar, optional
        Exchange calendar (``"B3"``, ``"24/7"``, ...); overrides the one
        recorded in the bars.
    bar_minutes : float, optional
        Bar length in minutes; default: recorded by the loader, else the median
        spacing of the timestamps.

    Returns
    -------
    float
        The calendar's scheduled session minutes in a year / ``bar_minutes``
        for intraday bars (holidays, half days and B3's summer hours counted;
        averaged over the calendar years the bars span, or
        :data:`ml.data.REFERENCE_YEARS` without bars); sessions a year for bars
        that span a whole session (daily bars, or session returns from
        :func:`daily_returns`).  See
        :meth:`ml.data.SessionCalendar.periods_per_year`.

    Raises
    ------
    ParameterError
        Bar length not > 0, longer than a day, or impossible to infer; an
        index without a calendar.

    Notes
    -----
    A Sharpe ratio of per-bar returns is annualised by ``sqrt(N)`` with ``N``
    bars a year.  With 1-minute WDO bars of 2021 (247 sessions: 163 of
    09:00-18:00 in US daylight saving time, 84 of 09:00-18:30, Ash Wednesday
    from 13:00) ``N = 135,660``, not the ``252 x 570 = 143,640`` of fixed
    hours.  vectorbt's default year of 365 days of 24 h (525,600 one-minute
    bars) overstates such a Sharpe by ``sqrt(525600 / 135660) = 1.97``;
    quantstats' ``periods=252`` applied to bar returns understates it by
    about 23x.  ``sqrt(N)`` scaling assumes serially uncorrelated returns
    (Lo 2002).

    References
    ----------
    .. [1] Lo, A. W. (2002). "The Statistics of Sharpe Ratios". *Financial
       Analysts Journal* 58(4), 36-52.

    Examples
    --------
    >>> import pandas as pd
    >>> year_2021 = pd.DatetimeIndex(["2021-03-01 10:00", "2021-03-01 10:01"], tz="America/Sao_Paulo")
    >>> periods_per_year(year_2021, calendar="B3")
    135660.0
    >>> periods_per_year(calendar="24/7", bar_minutes=1)
    525600.0
    >>> periods_per_year(year_2021, calendar="B3", bar_minutes=1440)  # session returns
    247.0
    """
    if isinstance(index_or_bars, pd.DataFrame):
        cal = bars_calendar(index_or_bars, calendar)
        if bar_minutes is None:
            if len(index_or_bars) < 2 and not (index_or_bars.attrs or {}).get("bars", {}).get(
                "bar_minutes"
            ):
                raise ParameterError(
                    "`bar_minutes` cannot be inferred from fewer than 2 bars; pass it."
                )
            bar_minutes = bar_minutes_of(index_or_bars)
    elif index_or_bars is None or isinstance(index_or_bars, (pd.DatetimeIndex, pd.Series)):
        if calendar is None:
            raise ParameterError(
                "`calendar` is required unless bars with a recorded calendar are given, "
                "e.g. periods_per_year(index, calendar='B3'); a default year would be "
                "the bug this function exists to avoid."
            )
        cal = get_calendar(calendar)
        if bar_minutes is None:
            if index_or_bars is None:
                raise ParameterError("`bar_minutes` is required when no bars or index are given.")
            idx = index_or_bars.index if isinstance(index_or_bars, pd.Series) else index_or_bars
            if not isinstance(idx, pd.DatetimeIndex):
                raise TypeError(
                    f"`index_or_bars` must have a DatetimeIndex, got {type(idx).__name__}."
                )
            steps = np.diff(idx.as_unit("ns").asi8) / 60e9
            steps = steps[steps > 0]
            if len(steps) == 0:
                raise ParameterError(
                    "`bar_minutes` cannot be inferred from fewer than 2 distinct timestamps; pass it."
                )
            bar_minutes = float(np.median(steps))
    else:
        raise TypeError(
            "`index_or_bars` must be a bars DataFrame, a DatetimeIndex, a Series or None, "
            f"got {type(index_or_bars).__name__}."
        )
    bar_minutes = _check_positive(bar_minutes, "bar_minutes")
    if bar_minutes > _MINUTES_PER_DAY:
        raise ParameterError(
            f"`bar_minutes` must be at most one day (1440) to derive periods from the "
            f"session calendar, got {bar_minutes!r}; for weekly or monthly returns pass "
            "periods_per_year yourself (52, 12)."
        )
    index = None
    if isinstance(index_or_bars, (pd.DataFrame, pd.Series)):
        index = index_or_bars.index
    elif isinstance(index_or_bars, pd.DatetimeIndex):
        index = index_or_bars
    if index is not None and (not isinstance(index, pd.DatetimeIndex) or index.tz is None or not len(index)):
        index = None
    if bar_minutes >= cal.longest_session_minutes(index):
        return float(cal.sessions_in_year(index))
    return float(cal.periods_per_year(bar_minutes, index))


def daily_returns(returns, calendar, *, nan="raise") -> pd.Series:
    """Compound per-bar simple returns into per-session returns.

    Parameters
    ----------
    returns : Series of float, indexed by a tz-aware DatetimeIndex
        Per-bar simple returns ``E_t / E_{t-1} - 1`` (close-to-close, or of the
        marked-to-market equity), labelled by bar time.
    calendar : str or SessionCalendar
        Exchange calendar, e.g. ``"B3"`` or :func:`ml.data.bars_calendar` (bars).
        Required: there is no default day boundary.
    nan : {"raise", "drop"}, default "raise"
        A NaN return raises :class:`~ml.exceptions.ParameterError` naming its
        timestamp; ``"drop"`` drops it (and warns with the count).

    Returns
    -------
    Series of float
        One return per session that has bars, ``prod(1 + r) - 1``, indexed by
        the session date as a **tz-naive midnight** DatetimeIndex named
        ``"session_date"`` (the exchange's local trading date; quantstats needs
        a DatetimeIndex and would convert a tz-aware one to UTC, shifting the
        date).  ``attrs`` records ``calendar``, ``n_bars`` and ``nan_dropped``.

    Notes
    -----
    * Compounding, not summing: ``+5 %`` then ``-5 %`` is
      ``1.05 * 0.95 - 1 = -0.25 %``.
    * Grouping is by the calendar's session (``calendar.sessions(index)
      .session_date``), computed in the exchange's time zone: never by UTC
      calendar day.  A session that crosses midnight is named after the day it
      closes; bars outside regular hours belong to the session of their local
      trading date, as the calendar says.
    * The overnight (and weekend) gap belongs to the first bar of the next
      session: that bar's close-to-close return already compares its close
      with the previous session's last close, so nothing is added or moved
      here, and the product of a session's bar returns is its close-to-close
      session return.  (Bar returns that exclude the gap, e.g. open-to-close,
      produce session returns that exclude it too.)
    * DST changes neither add nor drop sessions: sessions are local dates, and
      a 23- or 25-hour local day is still one session.
    * Sessions without bars are absent, not filled with 0.

    Examples
    --------
    >>> import pandas as pd
    >>> idx = pd.DatetimeIndex(["2025-02-03 10:00", "2025-02-03 10:01"], tz="America/Sao_Paulo")
    >>> round(float(daily_returns(pd.Series([0.05, -0.05], idx), "B3").iloc[0]), 6)
    -0.0025
    """
    if not isinstance(returns, pd.Series):
        raise TypeError(
            f"`returns` must be a pandas Series indexed by bar time, got {type(returns).__name__}."
        )
    if not isinstance(returns.index, pd.DatetimeIndex):
        raise TypeError(
            f"`returns` must be indexed by a DatetimeIndex, got {type(returns.index).__name__}."
        )
    if returns.index.tz is None:
        raise ParameterError(
            "`returns` index must be timezone-aware (sessions are found in the exchange's "
            "time zone); localise it first, e.g. returns.tz_localize('America/Sao_Paulo')."
        )
    if calendar is None:
        raise ParameterError(
            "`calendar` is required, e.g. 'B3' or bars_calendar(bars); sessions are never "
            "guessed from UTC days."
        )
    cal = get_calendar(calendar)
    n_before = len(returns)
    values, index = _returns(returns, nan)
    info = cal.sessions(index)
    grouped = pd.Series(1.0 + values, index=info.session_date).groupby(level=0, sort=True)
    out = grouped.prod() - 1.0
    out.index = pd.DatetimeIndex(out.index, name="session_date")
    out.name = returns.name
    out.attrs = {
        "calendar": cal.name,
        "n_bars": grouped.size().to_numpy().tolist(),
        "nan_dropped": n_before - len(values),
    }
    return out


def risk_free_per_period(risk_free, periods_per_year) -> float:
    """Per-period rate from an annual one: ``(1 + rf) ** (1 / N) - 1``.

    Parameters
    ----------
    risk_free : float
        Annual rate as a fraction (0.1075 = 10.75 %), > -1.
    periods_per_year : float
        ``N``, > 0.

    Returns
    -------
    float

    Notes
    -----
    Geometric de-annualisation, so that compounding the per-period rate over
    ``N`` periods gives back the annual rate exactly (``rf / N`` would not).

    Examples
    --------
    >>> round(risk_free_per_period(0.10, 252) * 1e4, 4)
    3.7829
    """
    rf = _check_rate(risk_free, "risk_free")
    ppy = _check_ppy(periods_per_year)
    return float(np.expm1(np.log1p(rf) / ppy))


# --------------------------------------------------------------------------- return metrics


def total_return(returns, *, nan="raise") -> float:
    """Compounded return over the whole series.

    Parameters
    ----------
    returns : Series or 1-D array of float
        Per-period simple returns.
    nan : {"raise", "drop"}, default "raise"

    Returns
    -------
    float
        ``prod(1 + r) - 1``.

    Examples
    --------
    >>> round(total_return([0.05, -0.05]), 6)
    -0.0025
    """
    values, _ = _returns(returns, nan)
    return _float(nb.total_return_nb(values))


def annualized_return(returns, periods_per_year, *, nan="raise") -> float:
    """Geometric annual return (CAGR in periods).

    Parameters
    ----------
    returns : Series or 1-D array of float
        Per-period simple returns.
    periods_per_year : float
        ``N``, from :func:`periods_per_year`.
    nan : {"raise", "drop"}, default "raise"

    Returns
    -------
    float
        ``prod(1 + r) ** (N / n) - 1`` for ``n`` periods; -1.0 when the equity
        reached zero or below.

    Notes
    -----
    Time is counted in periods (``n / N`` years), not calendar days, exactly
    like the Sharpe ratio's annualisation.  Over a short window the power
    ``N / n`` is large and the result extreme (or ``inf`` on overflow).

    Examples
    --------
    >>> round(annualized_return([0.10, 0.10], 4), 6)  # 1.21 ** 2 - 1
    0.4641
    """
    ppy = _check_ppy(periods_per_year)
    values, _ = _returns(returns, nan)
    return _float(nb.annualized_return_nb(values, ppy))


def annualized_volatility(returns, periods_per_year, *, nan="raise") -> float:
    """Annualised standard deviation of returns.

    Parameters
    ----------
    returns : Series or 1-D array of float
        Per-period simple returns.
    periods_per_year : float
        ``N``, from :func:`periods_per_year`.
    nan : {"raise", "drop"}, default "raise"

    Returns
    -------
    float
        ``std(r, ddof=1) * sqrt(N)``; NaN with fewer than 2 periods.

    Examples
    --------
    >>> round(annualized_volatility([0.01, -0.01], 4), 6)  # sqrt(0.0002) * 2
    0.028284
    """
    ppy = _check_ppy(periods_per_year)
    values, _ = _returns(returns, nan)
    return _float(nb.annualized_volatility_nb(values, ppy))


def sharpe_ratio(returns, periods_per_year, risk_free=0.0, *, nan="raise") -> float:
    """Annualised Sharpe ratio of per-period returns.

    Parameters
    ----------
    returns : Series or 1-D array of float
        Per-period simple returns (per bar, or per session from
        :func:`daily_returns`).
    periods_per_year : float
        ``N`` matching the returns' period, from :func:`periods_per_year`
        (143,640 for 1-minute B3 bars, 252 for B3 session returns).
    risk_free : float, default 0.0
        Annual risk-free rate; converted per period as ``(1 + rf) ** (1/N) - 1``.
    nan : {"raise", "drop"}, default "raise"

    Returns
    -------
    float
        NaN with fewer than 2 periods or constant returns.

    Notes
    -----
    .. math:: SR = \\frac{\\overline{r - r_f}}{\\sigma(r - r_f)} \\sqrt{N},
              \\quad r_f = (1 + rf)^{1/N} - 1

    with the sample standard deviation (``ddof=1``), as quantstats'
    ``sharpe``.  A positive ``risk_free`` lowers the ratio.  The ``sqrt(N)``
    scaling assumes i.i.d. returns (Lo 2002); for non-normal returns see
    Bailey and Lopez de Prado (2012) on the Sharpe ratio's estimation error.

    References
    ----------
    .. [1] Sharpe, W. F. (1994). "The Sharpe Ratio". *Journal of Portfolio
       Management* 21(1), 49-58.
    .. [2] Lo, A. W. (2002). "The Statistics of Sharpe Ratios". *Financial
       Analysts Journal* 58(4), 36-52.
    .. [3] Bailey, D. H. and Lopez de Prado, M. (2012). "The Sharpe Ratio
       Efficient Frontier". *Journal of Risk* 15(2), 3-44.

    Examples
    --------
    >>> round(sharpe_ratio([0.01, -0.02, 0.03], 252), 4)
    4.2053
    """
    ppy = _check_ppy(periods_per_year)
    rf = risk_free_per_period(risk_free, ppy)
    values, _ = _returns(returns, nan)
    return _float(nb.sharpe_ratio_nb(values, ppy, rf))


def sortino_ratio(returns, periods_per_year, risk_free=0.0, *, target=None, nan="raise") -> float:
    """Annualised Sortino ratio with the downside deviation over all periods.

    Parameters
    ----------
    returns : Series or 1-D array of float
        Per-period simple returns.
    periods_per_year : float
        ``N``, from :func:`periods_per_year`.
    risk_free : float, default 0.0
        Annual risk-free rate; its per-period value ``(1 + rf) ** (1/N) - 1``
        is the default target.
    target : float, optional
        Minimum acceptable return *per period* ``T``; default: the per-period
        risk-free rate.
    nan : {"raise", "drop"}, default "raise"

    Returns
    -------
    float
        ``inf`` when no period falls below the target and the mean excess is
        positive; NaN when every period equals the target.

    Notes
    -----
    .. math:: S = \\frac{\\overline{r - T}}
                        {\\sqrt{\\tfrac{1}{n}\\sum_{t=1}^{n} \\min(r_t - T, 0)^2}}
              \\sqrt{N}

    The target semideviation averages over **all** ``n`` periods (periods
    above target contribute 0); it is not the standard deviation of the losing
    periods, which is 0 for constant losses and would give an infinite ratio.
    With constant losses ``r_t = -c`` (and ``T = 0``) the ratio is
    ``-sqrt(N)``.  Equal to quantstats' ``sortino`` when ``T`` is the per-period
    risk-free rate, except that quantstats returns NaN where this returns inf.

    References
    ----------
    .. [1] Sortino, F. A. and Price, L. N. (1994). "Performance Measurement in
       a Downside Risk Framework". *Journal of Investing* 3(3), 59-64.

    Examples
    --------
    >>> round(sortino_ratio([-0.01, -0.01], 4), 6)  # -0.01 / 0.01 * 2
    -2.0
    """
    ppy = _check_ppy(periods_per_year)
    rf = risk_free_per_period(risk_free, ppy)
    tgt = rf if target is None else _check_rate(target, "target")
    values, _ = _returns(returns, nan)
    return _float(nb.sortino_ratio_nb(values, ppy, tgt))


def _check_initial_equity(initial_equity):
    if initial_equity is None:
        return None
    if isinstance(initial_equity, bool) or not isinstance(initial_equity, numbers.Real):
        raise TypeError(
            f"`initial_equity` must be a real number, got {type(initial_equity).__name__}."
        )
    initial_equity = float(initial_equity)
    if not math.isfinite(initial_equity):
        raise ParameterError(f"`initial_equity` must be finite, got {initial_equity!r}.")
    return initial_equity


def _curve(returns, equity, initial_equity, nan, *, need_positive):
    """Equity values (one per period), starting equity, index and source name."""
    if (returns is None) == (equity is None):
        raise ParameterError("pass exactly one of `returns` and `equity`.")
    initial_equity = _check_initial_equity(initial_equity)
    if returns is not None:
        values, index = _returns(returns, nan)
        start = 1.0 if initial_equity is None else initial_equity
        eq = start * np.cumprod(1.0 + values)
        source = "returns"
    else:
        eq, index = _as_1d(equity, "equity", nan=nan)
        start = float(eq[0]) if initial_equity is None else initial_equity
        source = "equity"
    if need_positive and start <= 0:
        name = "initial_equity" if initial_equity is not None or returns is not None else "equity"
        raise ParameterError(
            f"`{name}`: drawdown as a fraction needs a positive starting equity, got {start!r}."
        )
    return eq, start, index, source


def equity_curve(returns, initial_equity=1.0, *, nan="raise") -> pd.Series:
    """Equity after each period, ``E_t = E_0 * prod_{s<=t}(1 + r_s)``.

    Parameters
    ----------
    returns : Series or 1-D array of float
        Per-period simple returns.
    initial_equity : float, default 1.0
        ``E_0``, the equity before the first period (not part of the output).
    nan : {"raise", "drop"}, default "raise"

    Returns
    -------
    Series of float
        Same index as ``returns`` (a RangeIndex for arrays).

    Examples
    --------
    >>> equity_curve([0.10, -0.10], 100.0).round(6).tolist()
    [110.0, 99.0]
    """
    eq, _, index, _ = _curve(returns, None, initial_equity, nan, need_positive=False)
    return pd.Series(eq, index=index, name="equity")


def drawdown_series(returns=None, *, equity=None, initial_equity=None, nan="raise") -> pd.Series:
    """Drawdown after each period as a fraction of the running peak (<= 0).

    Parameters
    ----------
    returns : Series or 1-D array of float, optional
        Per-period simple returns; the curve starts at 1 (or ``initial_equity``)
        before the first period.
    equity : Series or 1-D array of float, optional
        Equity curve instead of returns.  Without ``initial_equity`` its first
        value is taken as the starting equity (recorded before any return);
        pass ``initial_equity`` when the curve is marked after the first
        period, so that a first-period loss counts.
    initial_equity : float, optional
        Equity before the first period; the first peak.
    nan : {"raise", "drop"}, default "raise"

    Returns
    -------
    Series of float
        ``E_t / max(E_0, E_1..E_t) - 1``, same index as the input.

    Examples
    --------
    >>> drawdown_series([-0.10, 0.05, 0.10]).round(4).tolist()
    [-0.1, -0.055, 0.0]
    """
    eq, start, index, _ = _curve(returns, equity, initial_equity, nan, need_positive=True)
    peak = np.maximum.accumulate(np.maximum(eq, start))
    return pd.Series(eq / peak - 1.0, index=index, name="drawdown")


def max_drawdown(returns=None, *, equity=None, initial_equity=None, nan="raise") -> float:
    """Maximum drawdown as a negative fraction (-0.12 is a 12 % drawdown).

    Parameters
    ----------
    returns : Series or 1-D array of float, optional
        Per-period simple returns.
    equity : Series or 1-D array of float, optional
        Equity curve instead of returns; see :func:`drawdown_series` for how
        its start is read.
    initial_equity : float, optional
        Equity before the first period (the first peak).
    nan : {"raise", "drop"}, default "raise"

    Returns
    -------
    float
        ``min_t(E_t / max(E_0, E_1..E_t) - 1)``, in [-1, 0] for non-negative
        equity; 0.0 without a loss.

    Notes
    -----
    The equity curve starts at the initial equity ``E_0`` (1 for returns),
    which is the first peak, so a loss in the very first period counts:
    returns ``[-10 %, +5 %]`` have a maximum drawdown of -10 %, not 0.  Same as
    quantstats' ``max_drawdown`` on returns (which adds a phantom baseline of 1).

    Examples
    --------
    >>> round(max_drawdown([-0.10, 0.05]), 6)
    -0.1
    >>> round(max_drawdown(equity=[100.0, 120.0, 90.0, 130.0]), 6)
    -0.25
    """
    if returns is not None and equity is None:
        values, _ = _returns(returns, nan)
        return _float(nb.max_drawdown_nb(values))
    return _float(drawdown_series(returns, equity=equity, initial_equity=initial_equity,
                                  nan=nan).min())


def max_drawdown_amount(returns=None, *, equity=None, initial_equity=None, nan="raise") -> float:
    """Maximum drawdown in the equity's own units (currency), as a negative number.

    Parameters
    ----------
    returns : Series or 1-D array of float, optional
        Per-period simple returns; the amount is then in units of
        ``initial_equity`` (default 1: multiples of the starting equity).
    equity : Series or 1-D array of float, optional
        Equity curve in currency.
    initial_equity : float, optional
        Equity before the first period (the first peak).
    nan : {"raise", "drop"}, default "raise"

    Returns
    -------
    float
        ``min_t(E_t - max(E_0, E_1..E_t))`` (<= 0).

    Examples
    --------
    >>> max_drawdown_amount(equity=[100.0, 120.0, 90.0, 130.0])
    -30.0
    """
    eq, start, _, _ = _curve(returns, equity, initial_equity, nan, need_positive=False)
    return _float(nb.max_drawdown_amount_nb(eq, start))


def drawdown_details(returns=None, *, equity=None, initial_equity=None, nan="raise") -> pd.DataFrame:
    """Every drawdown episode: peak, trough, recovery, depth and duration.

    Parameters
    ----------
    returns, equity, initial_equity, nan
        As in :func:`max_drawdown`.

    Returns
    -------
    DataFrame
        One row per episode (a run of periods below the running peak), worst
        first, with columns:

        ``peak``
            label of the period at which the peak was set; ``None`` when the
            peak is the initial equity (before the first period).
        ``trough``
            label of the lowest point of the episode.
        ``recovery``
            label of the first period back at (or above) the peak; ``None``
            if not recovered by the end.
        ``depth``
            drawdown at the trough, a negative fraction.
        ``amount``
            drawdown at the trough in equity units (negative).
        ``duration``
            periods from the peak to the recovery (or to the last period if
            not recovered); the initial equity counts as period -1.
        ``recovered``
            bool.

        Labels are the input's index labels (positions for arrays).

    Examples
    --------
    >>> d = drawdown_details([-0.10, 0.20, -0.05, 0.01])
    >>> d[["peak", "trough", "recovery", "duration", "recovered"]].values.tolist()
    [[None, 0, 1, 2, True], [1, 2, None, 2, False]]
    """
    eq, start, index, _ = _curve(returns, equity, initial_equity, nan, need_positive=True)
    n = len(eq)
    labels = list(range(n)) if index is None else list(index)
    peak_val = np.maximum.accumulate(np.maximum(eq, start))
    dd = eq / peak_val - 1.0
    under = eq < peak_val
    rows = []
    i = 0
    while i < n:
        if not under[i]:
            i += 1
            continue
        s = i
        while i < n and under[i]:
            i += 1
        u = i - 1
        trough = s + int(np.argmin(dd[s:u + 1]))
        recovered = u + 1 < n
        peak_pos = s - 1
        end_pos = u + 1 if recovered else n - 1
        rows.append({
            "peak": None if peak_pos < 0 else labels[peak_pos],
            "trough": labels[trough],
            "recovery": labels[u + 1] if recovered else None,
            "depth": float(dd[trough]),
            "amount": float(eq[trough] - peak_val[trough]),
            "duration": int(end_pos - peak_pos),
            "recovered": bool(recovered),
        })
    cols = {"peak": object, "trough": object, "recovery": object, "depth": np.float64,
            "amount": np.float64, "duration": np.int64, "recovered": bool}
    out = pd.DataFrame({c: pd.Series([r[c] for r in rows], dtype=t) for c, t in cols.items()})
    out = out.sort_values("depth", kind="stable").reset_index(drop=True)
    return out


def calmar_ratio(returns, periods_per_year, *, nan="raise") -> float:
    """Calmar ratio: annualised return over |maximum drawdown| of the same window.

    Parameters
    ----------
    returns : Series or 1-D array of float
        Per-period simple returns (the whole window measured).
    periods_per_year : float
        ``N``, from :func:`periods_per_year`.
    nan : {"raise", "drop"}, default "raise"

    Returns
    -------
    float
        ``inf`` for a positive return without drawdown; NaN for a zero return
        without drawdown.

    Notes
    -----
    ``annualized_return(r, N) / |max_drawdown(r)|``, both over the same
    returns (Young's original uses the last 36 months; here the window is
    whatever is passed).  Same as quantstats' ``calmar`` with ``periods=N``.

    References
    ----------
    .. [1] Young, T. W. (1991). "Calmar Ratio: A Smoother Tool". *Futures* 20(1).

    Examples
    --------
    >>> round(calmar_ratio([-0.10, 0.20], 2), 6)  # (0.9 * 1.2 - 1) / 0.1
    0.8
    """
    ppy = _check_ppy(periods_per_year)
    values, _ = _returns(returns, nan)
    return _float(nb.calmar_ratio_nb(values, ppy))


# --------------------------------------------------------------------------- trade metrics


def _trade_pnl(trades, nan="raise", *, order=False):
    """Validated PnL per trade (float64), optionally in exit-time order."""
    if isinstance(trades, pd.Series):
        pnl, _ = _as_1d(trades, "trades", nan=nan, allow_empty=True)
        return pnl
    if not isinstance(trades, pd.DataFrame):
        raise TypeError(
            "`trades` must be a DataFrame with a 'pnl' column (or a Series of PnL), "
            f"got {type(trades).__name__}."
        )
    if "pnl" not in trades.columns:
        names = {str(c).lower(): str(c) for c in trades.columns}
        close = difflib.get_close_matches("pnl", list(names), n=1, cutoff=0.5)
        hint = f" Did you mean {names[close[0]]!r}?" if close else ""
        raise ParameterError(
            f"`trades` needs a 'pnl' column (trade PnL net of costs, in currency); "
            f"columns are {list(trades.columns)!r}.{hint}"
        )
    frame = trades
    if "entry_time" in frame.columns and "exit_time" in frame.columns and len(frame):
        entry = pd.to_datetime(frame["entry_time"])
        exit_ = pd.to_datetime(frame["exit_time"])
        bad = (exit_ < entry).to_numpy()
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise ParameterError(
                f"`trades` row {pos} (label {frame.index[pos]!r}) exits before it enters: "
                f"entry_time {entry.iloc[pos]!r}, exit_time {exit_.iloc[pos]!r}."
            )
        if order:
            frame = frame.iloc[np.argsort(exit_.to_numpy(), kind="stable")]
    pnl, _ = _as_1d(frame["pnl"], "trades['pnl']", nan=nan, allow_empty=True)
    return pnl


def n_trades(trades, *, nan="raise") -> int:
    """Number of trades (rows of the trades table).

    Parameters
    ----------
    trades : DataFrame with a ``pnl`` column, or Series of PnL
    nan : {"raise", "drop"}, default "raise"

    Returns
    -------
    int
    """
    return int(len(_trade_pnl(trades, nan)))


def win_rate(trades, *, nan="raise") -> float:
    """Share of trades with a positive net PnL (per trade, not per period).

    Parameters
    ----------
    trades : DataFrame with a ``pnl`` column, or Series of PnL
        One row per closed trade; ``pnl`` net of commissions and slippage, in
        currency.
    nan : {"raise", "drop"}, default "raise"

    Returns
    -------
    float
        ``#{pnl > 0} / #trades``; NaN without trades.

    Notes
    -----
    Per trade: a trade that spans ten bars, up on three and down on seven,
    counts once, by its net PnL.  Break-even trades (``pnl == 0``) are not wins
    and stay in the denominator.  quantstats' ``win_rate`` is per *period* and
    drops zero periods: a different statistic.

    Examples
    --------
    >>> round(win_rate(pd.Series([100.0, -50.0, 30.0, 0.0])), 6)
    0.5
    """
    pnl = _trade_pnl(trades, nan)
    if len(pnl) == 0:
        return float("nan")
    return _float(np.count_nonzero(pnl > 0) / len(pnl))


def profit_factor(trades, *, nan="raise") -> float:
    """Gross profit over gross loss, per trade, net of costs.

    Parameters
    ----------
    trades : DataFrame with a ``pnl`` column, or Series of PnL
        ``pnl`` net of costs, in currency.
    nan : {"raise", "drop"}, default "raise"

    Returns
    -------
    float
        ``sum(pnl[pnl > 0]) / |sum(pnl[pnl < 0])|``; ``inf`` with winning
        trades but no losing one; NaN without trades or when every trade
        broke even.

    Notes
    -----
    Per trade (quantstats' ``profit_factor`` is per period).  Costs are
    already in ``pnl``, so a trade whose gross gain is eaten by costs counts
    as a loss.

    Examples
    --------
    >>> round(profit_factor(pd.Series([100.0, -50.0, 30.0])), 6)
    2.6
    """
    pnl = _trade_pnl(trades, nan)
    if len(pnl) == 0:
        return float("nan")
    gains = float(pnl[pnl > 0].sum())
    losses = float(-pnl[pnl < 0].sum())
    if losses == 0.0:
        return float("inf") if gains > 0 else float("nan")
    return gains / losses


def expectancy(trades, *, nan="raise") -> float:
    """Mean net PnL per trade (currency).

    Parameters
    ----------
    trades : DataFrame with a ``pnl`` column, or Series of PnL
    nan : {"raise", "drop"}, default "raise"

    Returns
    -------
    float
        ``sum(pnl) / #trades`` = ``win_rate * avg_win + (1 - win_rate) *
        avg_loss`` (break-evens included); NaN without trades.

    Examples
    --------
    >>> round(expectancy(pd.Series([100.0, -50.0, 30.0])), 6)
    26.666667
    """
    pnl = _trade_pnl(trades, nan)
    return float("nan") if len(pnl) == 0 else _float(pnl.mean())


def avg_win(trades, *, nan="raise") -> float:
    """Mean PnL of the winning trades (``pnl > 0``); NaN without winners.

    Examples
    --------
    >>> avg_win(pd.Series([100.0, -50.0, 30.0]))
    65.0
    """
    pnl = _trade_pnl(trades, nan)
    wins = pnl[pnl > 0]
    return float("nan") if len(wins) == 0 else _float(wins.mean())


def avg_loss(trades, *, nan="raise") -> float:
    """Mean PnL of the losing trades (``pnl < 0``), a negative number; NaN without losers.

    Examples
    --------
    >>> avg_loss(pd.Series([100.0, -50.0, -30.0]))
    -40.0
    """
    pnl = _trade_pnl(trades, nan)
    losses = pnl[pnl < 0]
    return float("nan") if len(losses) == 0 else _float(losses.mean())


def recovery_factor(returns=None, *, equity=None, trades=None, initial_equity=None,
                    nan="raise") -> float:
    """Net profit over |maximum drawdown|, both from the same curve, same units.

    Parameters
    ----------
    returns : Series or 1-D array of float, optional
        Per-period returns: curve ``E_0 * prod(1 + r)`` with ``E_0`` =
        ``initial_equity`` or 1 (the ratio does not depend on ``E_0``).
    equity : Series or 1-D array of float, optional
        Equity curve in currency (start read as in :func:`drawdown_series`).
    trades : DataFrame with a ``pnl`` column, or Series of PnL, optional
        Closed-trade curve: cumulative net PnL in exit-time order, starting
        from 0 before the first trade.  It ignores drawdowns inside a trade;
        pass ``equity`` when you have it.
    initial_equity : float, optional
        Equity before the first period.
    nan : {"raise", "drop"}, default "raise"

    Exactly one of ``returns``, ``equity`` and ``trades``.

    Returns
    -------
    float
        ``inf`` for a profit without drawdown; NaN for no profit without
        drawdown, or no trades.

    Notes
    -----
    .. math:: RF = \\frac{E_n - E_0}{\\max_t (\\max_{s \\le t} E_s - E_t)}

    Numerator and denominator are in the same units (currency for an equity
    curve or trades): R$ 2,000 profit with a R$ 1,000 drawdown is 2.0, never
    a currency profit over a fractional drawdown.  The starting equity is the
    first peak.  (quantstats' ``recovery_factor`` divides the *sum* of returns
    by the fractional drawdown: a different statistic.)

    Examples
    --------
    >>> recovery_factor(equity=[100_000.0, 99_000.0, 102_000.0])
    2.0
    """
    given = [x is not None for x in (returns, equity, trades)]
    if sum(given) != 1:
        raise ParameterError("pass exactly one of `returns`, `equity` and `trades`.")
    if trades is not None:
        pnl = _trade_pnl(trades, nan, order=True)
        if len(pnl) == 0:
            return float("nan")
        curve = np.cumsum(pnl)
        start = 0.0
    else:
        curve, start, _, _ = _curve(returns, equity, initial_equity, nan, need_positive=False)
    net = float(curve[-1] - start)
    mdd = float(nb.max_drawdown_amount_nb(np.ascontiguousarray(curve, dtype=np.float64), start))
    if mdd == 0.0:
        return float("inf") if net > 0 else float("nan")
    return net / -mdd


def exposure(positions, *, nan="raise") -> float:
    """Share of bars with a non-zero position.

    Parameters
    ----------
    positions : Series or 1-D array of float or bool
        Position held on each bar (contracts, units or a target weight; a
        bool means "in the market"), one value per bar of the backtest,
        including flat bars.
    nan : {"raise", "drop"}, default "raise"

    Returns
    -------
    float
        ``#{position != 0} / #bars`` in [0, 1].

    Examples
    --------
    >>> exposure([0, 1, 1, -2, 0])
    0.6
    """
    pos, _ = _as_1d(positions, "positions", nan=nan, allow_bool=True)
    return _float(np.count_nonzero(pos) / len(pos))


# --------------------------------------------------------------------------- summary


def _returns_from_equity(equity, initial_equity, nan):
    eq, index = _as_1d(equity, "equity", nan=nan)
    if initial_equity is not None:
        prev = np.concatenate(([float(initial_equity)], eq[:-1]))
        cur, idx = eq, index
    else:
        if len(eq) < 2:
            raise ParameterError(
                "`equity` needs at least 2 values when `initial_equity` is not given "
                "(its first value is the starting equity)."
            )
        prev, cur = eq[:-1], eq[1:]
        idx = None if index is None else index[1:]
    if (prev <= 0).any():
        pos = int(np.flatnonzero(prev <= 0)[0])
        raise ParameterError(
            f"`equity` reaches {prev[pos]!r} <= 0 before period {pos}; returns are undefined "
            "from there. Pass `returns` directly."
        )
    r = cur / prev - 1.0
    return r if idx is None else pd.Series(r, index=idx)


def summarize(returns=None, equity=None, trades=None, positions=None, *, periods_per_year,
              risk_free=0.0, initial_equity=None, nan="raise") -> dict:
    """The common metrics dictionary both engines return (and ``metrics.json`` holds).

    Parameters
    ----------
    returns : Series or 1-D array of float, optional
        Per-period simple returns of the strategy (per bar, or per session from
        :func:`daily_returns`); ``periods_per_year`` must match their period.
    equity : Series or 1-D array of float, optional
        Equity curve in currency.  Used for the recovery factor; when
        ``returns`` is not given, returns are derived from it
        (``E_t / E_{t-1} - 1``, with ``E_0`` = ``initial_equity`` if given,
        else the first value).
    trades : DataFrame with a ``pnl`` column, or Series of PnL, optional
        Closed trades, PnL net of costs in currency.
    positions : Series or 1-D array, optional
        Position per bar, for ``exposure``.
    periods_per_year : float
        Required keyword (no default year): from :func:`periods_per_year`.
        May be ``None`` only when neither ``returns`` nor ``equity`` is given.
    risk_free : float, default 0.0
        Annual risk-free rate (Sharpe, Sortino target).
    initial_equity : float, optional
        Equity before the first period.
    nan : {"raise", "drop"}, default "raise"

    Returns
    -------
    dict
        Keys :data:`METRIC_KEYS`, in order; values are plain Python floats
        (``n_trades`` a Python int) and NaN where undefined or where the input
        that defines them was not given:

        ``sharpe``, ``sortino``, ``calmar``, ``max_drawdown`` (negative
        fraction), ``total_return``, ``annualized_return``,
        ``annualized_volatility``
            from the returns (:func:`sharpe_ratio`, ...).
        ``recovery_factor``
            from ``equity`` if given, else ``returns``, else ``trades``
            (:func:`recovery_factor`).
        ``win_rate``, ``profit_factor``, ``expectancy``, ``n_trades``
            per trade, from ``trades``.
        ``exposure``
            from ``positions``.

    Examples
    --------
    >>> m = summarize([0.01, -0.02, 0.03], periods_per_year=252)
    >>> round(m["sharpe"], 4), round(m["max_drawdown"], 4), m["n_trades"] != m["n_trades"]
    (4.2053, -0.02, True)
    """
    _check_nan_mode(nan)
    initial_equity = _check_initial_equity(initial_equity)
    out = dict.fromkeys(METRIC_KEYS, float("nan"))
    if periods_per_year is not None or returns is not None or equity is not None:
        ppy = _check_ppy(periods_per_year)
    # Validate each input once (so nan="drop" warns once); later calls get clean arrays.
    eq_values = None
    if equity is not None:
        eq_values, _ = _as_1d(equity, "equity", nan=nan)
    if returns is not None:
        values, _ = _returns(returns, nan)
    elif eq_values is not None:
        values = np.asarray(_returns_from_equity(eq_values, initial_equity, "raise"))
    else:
        values = None
    if values is not None:
        rf = risk_free_per_period(risk_free, ppy)
        m = nb.return_metrics_nb(np.ascontiguousarray(values), ppy, rf)
        out["total_return"] = _float(m[nb.RM_TOTAL])
        out["annualized_return"] = _float(m[nb.RM_ANN_RETURN])
        out["annualized_volatility"] = _float(m[nb.RM_ANN_VOL])
        out["sharpe"] = _float(m[nb.RM_SHARPE])
        out["sortino"] = _float(m[nb.RM_SORTINO])
        out["max_drawdown"] = _float(m[nb.RM_MAX_DD])
        out["calmar"] = _float(m[nb.RM_CALMAR])
    if eq_values is not None:
        out["recovery_factor"] = recovery_factor(equity=eq_values, initial_equity=initial_equity)
    elif values is not None:
        out["recovery_factor"] = recovery_factor(values)
    elif trades is not None:
        out["recovery_factor"] = recovery_factor(trades=trades, nan=nan)
    if trades is not None:
        out["n_trades"] = n_trades(trades, nan=nan)
        out["win_rate"] = win_rate(trades, nan=nan)
        out["profit_factor"] = profit_factor(trades, nan=nan)
        out["expectancy"] = expectancy(trades, nan=nan)
    if positions is not None:
        out["exposure"] = exposure(positions, nan=nan)
    return out
