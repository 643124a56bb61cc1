"""Backtest-overfitting statistics: PSR, deflated Sharpe ratio and PBO (CSCV).

Selection bias is what makes a swept or tuned backtest look better than it is:
the best of many tries is good partly by luck.  This module measures it.

- :func:`probabilistic_sharpe_ratio` -- probability that the true Sharpe ratio
  exceeds a benchmark, given the estimate's sample length, skewness and
  kurtosis (Bailey & Lopez de Prado 2012).
- :func:`expected_max_sharpe` -- expected maximum of ``n_trials`` Sharpe
  estimates of zero-skill strategies (the "false strategy" theorem).
- :func:`deflated_sharpe_ratio` -- PSR against that expected maximum
  (Bailey & Lopez de Prado 2014).
- :func:`probability_of_backtest_overfitting` -- combinatorially symmetric
  cross-validation (Bailey, Borwein, Lopez de Prado & Zhu 2017).

Conventions used throughout
---------------------------
- **Every Sharpe ratio is per period and not annualised**: the mean of the
  per-bar (per-period) returns divided by their standard deviation (``ddof=1``),
  in the frequency of the returns.  An annualised Sharpe ratio ``SR_a`` with
  ``P`` periods a year is ``SR_a / sqrt(P)`` per period.  A per-period Sharpe
  ratio above 1 in absolute value is rejected: it almost always means an
  annualised one was passed.
- **Kurtosis is the plain (non-excess) kurtosis**, 3 for normal returns; pass
  ``excess=True`` to give excess kurtosis (0 for normal returns) instead.
- Skewness and kurtosis computed here from returns are the population
  (biased, ``ddof=0``) moment ratios, as in the papers.
- No risk-free rate is subtracted: pass excess returns if you need one.

This module takes Sharpe estimates and return matrices directly and depends on
no other part of the engines package.  Rule 22 of ``PITFALLS.md``: pass
``trial_sharpes`` (the Sharpe ratio of *every* trial run) to
:func:`deflated_sharpe_ratio` and ``n_trials`` is taken from it, so the number
of trials is counted, never typed.
"""

from __future__ import annotations

import difflib
import itertools
import math
import numbers
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from ml.exceptions import ParameterError

__all__ = [
    "DeflatedSharpeResult",
    "PBOResult",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "probabilistic_sharpe_ratio",
    "probability_of_backtest_overfitting",
]

EULER_GAMMA = 0.5772156649015329
"""Euler-Mascheroni constant."""

_MAX_ABS_SR = 1.0
_ANNUALISED_HINT = (
    " Sharpe ratios here are per period (not annualised): divide an annualised "
    "Sharpe ratio by sqrt(periods per year), e.g. sqrt(252 * 570) for 1-minute "
    "bars in the 9.5-hour B3 session (engines.metrics.periods_per_year)."
)
_METRICS = ("sharpe", "mean")
# Soft cap on the number of floats of one chunk of combinations in the PBO kernel.
_CHUNK_FLOATS = 4_000_000


# --------------------------------------------------------------------------- #
# validation helpers
# --------------------------------------------------------------------------- #
def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an int >= {minimum}, got {type(value).__name__} {value!r}.")
    if value < minimum:
        raise ParameterError(f"`{name}` must be >= {minimum}, got {int(value)!r}.")
    return int(value)


def _as_float_array(name: str, value) -> np.ndarray:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be a real number, got bool {value!r}.")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a real number or an array of them, "
                        f"got {type(value).__name__} {value!r}.") from None
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ParameterError(f"`{name}` must be finite, got {arr[bad].flat[0]!r}"
                             + (f" at position {int(np.flatnonzero(bad.ravel())[0])}." if arr.ndim else "."))
    return arr


def _first(arr: np.ndarray, mask: np.ndarray):
    return np.broadcast_to(arr, mask.shape)[mask].flat[0]


def _check_per_period_sr(name: str, sr: np.ndarray) -> None:
    big = np.abs(sr) > _MAX_ABS_SR
    if big.any():
        raise ParameterError(
            f"`{name}` must be a per-period Sharpe ratio with |{name}| <= {_MAX_ABS_SR:g}, "
            f"got {float(_first(sr, big))!r}; a per-period Sharpe ratio that large means the "
            f"mean return exceeds its standard deviation and usually is an annualised one."
            + _ANNUALISED_HINT)


def _check_n(n) -> np.ndarray:
    arr = np.asarray(n)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"`n` (number of return observations) must be an int >= 2, "
                        f"got {type(n).__name__} {n!r}.")
    small = arr < 2
    if small.any():
        raise ParameterError(f"`n` (number of return observations) must be >= 2, got {int(_first(arr, small))!r}.")
    return arr.astype(float)


def _sample_moments(returns, name: str = "returns") -> tuple[float, int, float, float]:
    """Per-period Sharpe ratio (ddof=1), n, skewness and kurtosis (ddof=0, non-excess)."""
    if isinstance(returns, pd.DataFrame):
        if returns.shape[1] != 1:
            raise ParameterError(f"`{name}` must be one return series, got a DataFrame with "
                                 f"{returns.shape[1]} columns; pass the selected strategy's column.")
        returns = returns.iloc[:, 0]
    index = returns.index if isinstance(returns, pd.Series) else None
    try:
        r = np.asarray(returns, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be numeric per-period returns, got {type(returns).__name__}.") from None
    if r.ndim != 1:
        raise ParameterError(f"`{name}` must be 1-D (one return per period), got shape {r.shape}.")
    bad = ~np.isfinite(r)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        where = f"at {index[pos]!r} (position {pos})" if index is not None else f"at position {pos}"
        raise ParameterError(f"`{name}` holds {int(bad.sum())} non-finite value(s), the first {r[pos]!r} {where}; "
                             "drop or fill them explicitly before computing Sharpe statistics.")
    n = r.size
    if n < 2:
        raise ParameterError(f"`{name}` must hold >= 2 returns, got {n}.")
    mean = r.mean()
    dev = r - mean
    m2 = np.mean(dev ** 2)
    if m2 == 0.0:
        raise ParameterError(f"`{name}` are constant ({r[0]!r}): the Sharpe ratio, skewness and "
                             "kurtosis are undefined.")
    sd = math.sqrt(m2 * n / (n - 1))
    skew = float(np.mean(dev ** 3) / m2 ** 1.5)
    kurt = float(np.mean(dev ** 4) / m2 ** 2)
    return float(mean / sd), n, skew, kurt


# --------------------------------------------------------------------------- #
# PSR, expected maximum Sharpe ratio, DSR
# --------------------------------------------------------------------------- #
def probabilistic_sharpe_ratio(sr, n, skew=0.0, kurtosis=3.0, sr_benchmark=0.0, *, excess=False,
                               per_period_checked=False):
    r"""Probabilistic Sharpe ratio: P(true Sharpe ratio > ``sr_benchmark``).

    Parameters
    ----------
    sr : float or array-like
        Estimated Sharpe ratio **per period, not annualised** (mean / std of
        the per-period returns, in their own frequency).  ``|sr| <= 1``.
    n : int or array-like of int
        Number of return observations behind ``sr``, >= 2.
    skew : float or array-like, default=0.0
        Skewness of the returns.
    kurtosis : float or array-like, default=3.0
        Kurtosis of the returns: **non-excess** (3 for normal returns) unless
        ``excess=True``.
    sr_benchmark : float or array-like, default=0.0
        Benchmark Sharpe ratio ``SR*``, per period like ``sr``.
    excess : bool, default=False
        ``True`` when ``kurtosis`` is excess kurtosis (0 for normal returns).
    per_period_checked : bool, default=False
        Skip the guard that rejects ``|SR| > 1`` as "probably annualised".
        Only for callers that computed the Sharpe ratios per period
        themselves (a steady loser can have a genuine per-session SR below -1).

    Returns
    -------
    float or ndarray
        PSR in [0, 1]; an array when any argument is one (numpy broadcasting).

    Raises
    ------
    ParameterError
        Non-finite values, ``n < 2``, ``|sr| > 1`` or ``|sr_benchmark| > 1``
        (an annualised Sharpe ratio, most likely), kurtosis below 1 (below 1 +
        skew**2 is impossible for sample moments), or a non-positive variance
        term.

    Notes
    -----
    .. math::

        \mathrm{PSR}(SR^*) = \Phi\left(\frac{(\widehat{SR} - SR^*)\sqrt{n-1}}
        {\sqrt{1 - \gamma_3 \widehat{SR} + \frac{\gamma_4 - 1}{4}\widehat{SR}^2}}\right)

    with :math:`\gamma_3` the skewness and :math:`\gamma_4` the non-excess
    kurtosis.  Negative skewness and fat tails widen the estimate's standard
    error and so lower the PSR of a positive Sharpe ratio.  Because ``sr`` and
    ``n`` must be in the same frequency, annualising both the estimate and
    ``n`` inconsistently is the classic mistake this function guards against.

    References
    ----------
    .. [1] Bailey, D. H. and Lopez de Prado, M. (2012). The Sharpe ratio
       efficient frontier. *Journal of Risk* 15(2), 3-44.

    Examples
    --------
    >>> from engines.overfit import probabilistic_sharpe_ratio
    >>> round(probabilistic_sharpe_ratio(0.1, 101), 4)   # z = 1 / sqrt(1.005)
    0.8407
    """
    sr_a = _as_float_array("sr", sr)
    n_a = _check_n(n)
    skew_a = _as_float_array("skew", skew)
    kurt_a = _as_float_array("kurtosis", kurtosis)
    bench_a = _as_float_array("sr_benchmark", sr_benchmark)
    if not isinstance(excess, (bool, np.bool_)):
        raise TypeError(f"`excess` must be True or False, got {type(excess).__name__} {excess!r}.")
    if not per_period_checked:
        _check_per_period_sr("sr", sr_a)
        _check_per_period_sr("sr_benchmark", bench_a)
    if excess:
        kurt_a = kurt_a + 3.0
    low = kurt_a < 1.0
    if low.any():
        kind = "excess kurtosis must be >= -2" if excess else "kurtosis (non-excess, 3 for normal) must be >= 1"
        value = float(_first(kurt_a, low)) - (3.0 if excess else 0.0)
        raise ParameterError(f"`kurtosis`: {kind}, got {value!r}; pass excess=True if you gave excess kurtosis."
                             if not excess else f"`kurtosis`: {kind}, got {value!r}.")
    var_term = 1.0 - skew_a * sr_a + (kurt_a - 1.0) / 4.0 * sr_a ** 2
    bad = ~(var_term > 0.0)
    if np.any(bad):
        raise ParameterError(
            "`skew` and `kurtosis` are inconsistent with `sr`: 1 - skew*sr + (kurtosis-1)/4*sr**2 "
            f"= {float(_first(var_term, bad))!r} <= 0 (sample moments always satisfy kurtosis >= 1 + skew**2).")
    z = (sr_a - bench_a) * np.sqrt(n_a - 1.0) / np.sqrt(var_term)
    out = ndtr(z)
    return float(out) if np.ndim(out) == 0 else out


def expected_max_sharpe(n_trials, sr_variance):
    r"""Expected maximum Sharpe ratio of ``n_trials`` zero-skill strategies.

    Parameters
    ----------
    n_trials : int
        Number of independent trials (strategy configurations tried), >= 1.
    sr_variance : float
        Variance across trials of their Sharpe ratio estimates (per period,
        not annualised), >= 0.

    Returns
    -------
    float
        :math:`E[\max_n \widehat{SR}_n]`, per period; 0 when ``n_trials == 1``
        (no selection, no bias).

    Notes
    -----
    The "false strategy" theorem of [1]_, valid for large ``n_trials``:

    .. math::

        E[\max SR] \approx \sqrt{V}\left((1-\gamma)\,\Phi^{-1}\left(1-\frac1N\right)
        + \gamma\,\Phi^{-1}\left(1-\frac{1}{Ne}\right)\right)

    with :math:`\gamma` the Euler-Mascheroni constant.  It assumes the true
    Sharpe ratios are all zero (the mean of the trials' estimates is not
    added).  With :math:`V = 1` it approximates the expected maximum of ``N``
    standard normal draws (1.575 vs 1.539 for N=10, 2.531 vs 2.508 for
    N=100, 3.255 vs 3.241 for N=1000), erring slightly on the high,
    conservative side.

    References
    ----------
    .. [1] Bailey, D. H. and Lopez de Prado, M. (2014). The deflated Sharpe
       ratio: correcting for selection bias, backtest overfitting and
       non-normality. *Journal of Portfolio Management* 40(5), 94-107.

    Examples
    --------
    >>> from engines.overfit import expected_max_sharpe
    >>> round(expected_max_sharpe(100, 1.0), 4)
    2.5306
    >>> expected_max_sharpe(1, 0.25)
    0.0
    """
    n_trials = _check_int("n_trials", n_trials, 1)
    v = _as_float_array("sr_variance", sr_variance)
    if v.ndim != 0:
        raise TypeError(f"`sr_variance` must be one number, got an array of shape {v.shape}.")
    v = float(v)
    if v < 0.0:
        raise ParameterError(f"`sr_variance` must be >= 0, got {v!r}.")
    if n_trials == 1:
        return 0.0
    z = (1.0 - EULER_GAMMA) * ndtri(1.0 - 1.0 / n_trials) + EULER_GAMMA * ndtri(1.0 - 1.0 / (n_trials * math.e))
    return float(math.sqrt(v) * z)


@dataclass(frozen=True)
class DeflatedSharpeResult:
    """Result of :func:`deflated_sharpe_ratio` (all Sharpe ratios per period).

    Attributes
    ----------
    dsr : float
        Deflated Sharpe ratio: P(true SR > ``psr_benchmark``), in [0, 1].
    p_value : float
        ``1 - dsr``: the chance of a Sharpe ratio this high from the best of
        ``n_trials`` zero-skill trials (conservative, see Notes of
        :func:`deflated_sharpe_ratio`).
    psr_benchmark : float
        ``SR*``, the expected maximum Sharpe ratio of ``n_trials`` zero-skill
        trials (:func:`expected_max_sharpe`).
    sr, n, skew, kurtosis : float, int, float, float
        Sharpe ratio (per period), number of returns, skewness and non-excess
        kurtosis of the selected strategy.
    n_trials : int
        Number of trials the selection was made from.
    sr_variance : float
        Variance of the trials' Sharpe ratios used for ``psr_benchmark``.
    """

    dsr: float
    p_value: float
    psr_benchmark: float
    sr: float
    n: int
    skew: float
    kurtosis: float
    n_trials: int
    sr_variance: float

    def to_dict(self) -> dict:
        """Plain dict of floats and ints (for ``metrics.json``)."""
        return asdict(self)


def deflated_sharpe_ratio(returns=None, *, sr=None, n=None, skew=None, kurtosis=None, n_trials=None,
                          sr_variance=None, trial_sharpes=None, excess=False,
                          per_period_checked=False) -> DeflatedSharpeResult:
    r"""Deflated Sharpe ratio of the best of ``n_trials`` backtests.

    Give the selected strategy either as its per-period ``returns`` or as its
    moments (``sr``, ``n`` and optionally ``skew``, ``kurtosis``; default 0 and
    3, i.e. normal returns), and the trials either as ``trial_sharpes`` (the
    Sharpe ratio of every trial: the recommended way, it also counts them) or
    as ``n_trials`` with ``sr_variance``.

    Parameters
    ----------
    returns : array-like of shape (n_periods,), optional
        Per-period returns of the selected strategy (Series, 1-column
        DataFrame or array).  Non-finite values raise.  Its Sharpe ratio is
        ``mean / std(ddof=1)``; skewness and kurtosis are population moments.
    sr : float, optional
        Per-period, non-annualised Sharpe ratio of the selected strategy
        (instead of ``returns``).
    n : int, optional
        Number of returns behind ``sr`` (required with ``sr``).
    skew, kurtosis : float, optional
        Moments of the selected strategy's returns (with ``sr`` only);
        kurtosis is non-excess unless ``excess=True``.
    n_trials : int, optional
        Number of trials the strategy was selected from, >= 1.  Defaults to
        ``len(trial_sharpes)``; may exceed it (trials whose Sharpe ratio was not
        kept, e.g. failed ones, still count) but never be below it.
        ``n_trials=1`` means no selection: ``SR* = 0`` and DSR = PSR.
    sr_variance : float, optional
        Variance of the trials' per-period Sharpe ratios (instead of
        ``trial_sharpes``).  Not needed when ``n_trials == 1``.
    trial_sharpes : array-like of shape (n_recorded_trials,), optional
        Per-period Sharpe ratios of all trials, the selected one included;
        their variance (``ddof=1``) is ``sr_variance``.  At least 2, all finite.
    excess : bool, default=False
        ``True`` when ``kurtosis`` is excess kurtosis.
    per_period_checked : bool, default=False
        Skip the "looks annualised" guards (see
        :func:`probabilistic_sharpe_ratio`); for callers that computed the
        per-period Sharpe ratios themselves, e.g. :func:`engines.sweep.overfitting`.

    Returns
    -------
    DeflatedSharpeResult
        ``dsr``, ``p_value = 1 - dsr``, ``psr_benchmark`` (SR*), the
        moments used, ``n_trials`` and ``sr_variance``.

    Raises
    ------
    ParameterError
        Both or neither of ``returns`` / ``sr`` given; ``n`` missing; both
        ``sr_variance`` and ``trial_sharpes``; no trial information with
        ``n_trials > 1``; ``n_trials < len(trial_sharpes)``; any value that
        :func:`probabilistic_sharpe_ratio` rejects.

    Notes
    -----
    .. math::

        \mathrm{DSR} = \mathrm{PSR}(SR^*),\qquad
        SR^* = \sqrt{V[\{\widehat{SR}_k\}]}\left((1-\gamma)\Phi^{-1}(1-\tfrac1N)
        + \gamma\Phi^{-1}(1-\tfrac{1}{Ne})\right)

    The benchmark is the *expected* maximum, so under the null (all trials
    zero-skill) the p-value is conservative: the best of N noise strategies
    reaches ``dsr > 0.95`` less than 5% of the time (about 1% for N=10).
    With ``n_trials=1`` it is calibrated like the PSR.  Trials are assumed
    independent; for correlated trials pass the effective number of
    independent trials as ``n_trials``.

    References
    ----------
    .. [1] Bailey, D. H. and Lopez de Prado, M. (2014). The deflated Sharpe
       ratio: correcting for selection bias, backtest overfitting and
       non-normality. *Journal of Portfolio Management* 40(5), 94-107.
    .. [2] Lopez de Prado, M. (2018). *Advances in Financial Machine
       Learning*, Wiley, chapter 14.7.

    Examples
    --------
    >>> from engines.overfit import deflated_sharpe_ratio
    >>> res = deflated_sharpe_ratio(sr=0.1, n=1000, trial_sharpes=[0.1, 0.02, -0.03, 0.0])
    >>> res.n_trials, round(res.psr_benchmark, 4), round(res.dsr, 4)
    (4, 0.0585, 0.9046)
    """
    moments = {"sr": sr, "n": n, "skew": skew, "kurtosis": kurtosis}
    given = [k for k, v in moments.items() if v is not None]
    if returns is not None:
        if given:
            raise ParameterError(f"give either `returns` or the moments (`sr`, `n`, ...), not both; "
                                 f"got `returns` and {', '.join(f'`{k}`' for k in given)}.")
        if excess:
            raise ParameterError("`excess=True` only applies to a `kurtosis` you pass; moments computed "
                                 "from `returns` are non-excess.")
        sr_v, n_v, skew_v, kurt_v = _sample_moments(returns)
        if not per_period_checked:
            _check_per_period_sr("sr", np.asarray(sr_v))
    else:
        if sr is None:
            raise ParameterError("give the selected strategy's per-period `returns`, or its per-period "
                                 "Sharpe ratio `sr` with `n` (and optionally `skew`, `kurtosis`).")
        if n is None:
            raise ParameterError("`n` (number of returns behind `sr`) is required with `sr`.")
        for name in ("sr", "skew", "kurtosis"):
            if moments[name] is not None and np.ndim(moments[name]) != 0:
                raise TypeError(f"`{name}` must be one number, got an array of shape {np.shape(moments[name])}.")
        sr_v = float(_as_float_array("sr", sr))
        if np.ndim(n) != 0:
            raise TypeError(f"`n` must be one int, got an array of shape {np.shape(n)}.")
        n_v = int(_check_n(n))
        skew_v = 0.0 if skew is None else float(_as_float_array("skew", skew))
        kurt_v = 3.0 if kurtosis is None else float(_as_float_array("kurtosis", kurtosis))
        if excess:
            kurt_v += 3.0

    if sr_variance is not None and trial_sharpes is not None:
        raise ParameterError("give either `sr_variance` or `trial_sharpes`, not both.")
    n_recorded = None
    if trial_sharpes is not None:
        ts = _as_float_array("trial_sharpes", trial_sharpes)
        if ts.ndim != 1:
            raise ParameterError(f"`trial_sharpes` must be 1-D (one Sharpe ratio per trial), got shape {ts.shape}.")
        if ts.size < 2:
            raise ParameterError(f"`trial_sharpes` must hold >= 2 trials to estimate their variance, got {ts.size}; "
                                 "with a single trial pass n_trials=1 instead.")
        if not per_period_checked:
            _check_per_period_sr("trial_sharpes", ts)
        n_recorded = ts.size
        var_v = float(np.var(ts, ddof=1))
    if n_trials is None:
        if n_recorded is None:
            raise ParameterError("`n_trials` is unknown: pass `trial_sharpes` (the Sharpe ratio of every trial "
                                 "run; they are counted) or `n_trials` with `sr_variance`.")
        n_trials = n_recorded
    n_trials = _check_int("n_trials", n_trials, 1)
    if n_recorded is not None and n_trials < n_recorded:
        raise ParameterError(f"`n_trials` must be >= len(trial_sharpes) = {n_recorded}, got {n_trials}: "
                             "every trial whose Sharpe ratio was recorded was run.")
    if n_recorded is None:
        if sr_variance is None:
            if n_trials > 1:
                raise ParameterError(f"with `n_trials` = {n_trials} > 1 give `trial_sharpes` (all trials' "
                                     "per-period Sharpe ratios) or their variance `sr_variance`.")
            var_v = 0.0
        else:
            var_v = float(_as_float_array("sr_variance", sr_variance))
            if var_v < 0.0:
                raise ParameterError(f"`sr_variance` must be >= 0, got {var_v!r}.")

    sr_star = expected_max_sharpe(n_trials, var_v)
    if abs(sr_star) > _MAX_ABS_SR and not per_period_checked:
        raise ParameterError(f"the expected maximum Sharpe ratio from `sr_variance` = {var_v!r} is {sr_star!r} "
                             "per period, above 1: the trials' Sharpe ratios look annualised." + _ANNUALISED_HINT)
    dsr = probabilistic_sharpe_ratio(sr_v, np.int64(n_v), skew_v, kurt_v, sr_star,
                                     per_period_checked=per_period_checked)
    return DeflatedSharpeResult(dsr=dsr, p_value=1.0 - dsr, psr_benchmark=sr_star, sr=float(sr_v), n=int(n_v),
                                skew=float(skew_v), kurtosis=float(kurt_v), n_trials=n_trials,
                                sr_variance=var_v)


# --------------------------------------------------------------------------- #
# probability of backtest overfitting (CSCV)
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class PBOResult:
    """Result of :func:`probability_of_backtest_overfitting`.

    One entry per combination ``c`` of ``n_partitions // 2`` in-sample blocks,
    in :func:`itertools.combinations` order.

    Attributes
    ----------
    pbo : float
        Share of combinations whose logit is <= 0 (the IS-best configuration
        ranks at or below the OOS median).
    logits : ndarray of shape (n_combinations,)
        ``ln(w / (1 - w))`` with ``w = rank / (n_configs + 1)``, the OOS
        relative rank of the IS-best configuration (rank 1 = worst OOS, ties
        get their average rank).
    is_metric, oos_metric : ndarray of shape (n_combinations,)
        Performance-degradation pairs: the IS-best configuration's metric in
        sample and out of sample.
    prob_loss : float
        Share of combinations with ``oos_metric < 0``.
    best_config : ndarray of int of shape (n_combinations,)
        Column position of the IS-best configuration (first one on ties).
    combinations : ndarray of int of shape (n_combinations, n_partitions // 2)
        Block indices forming the in-sample set of each combination.
    block_bounds : ndarray of int of shape (n_partitions + 1,)
        Row positions where blocks start (block ``b`` is rows
        ``block_bounds[b]:block_bounds[b + 1]``).
    n_partitions, n_configs, n_periods : int
        ``S``, ``N`` and ``T``.
    metric : str
        ``"sharpe"``, ``"mean"`` or the callable's name.
    columns : list
        Column labels of the input (positions for an array).
    """

    pbo: float
    logits: np.ndarray
    is_metric: np.ndarray
    oos_metric: np.ndarray
    prob_loss: float
    best_config: np.ndarray
    combinations: np.ndarray
    block_bounds: np.ndarray
    n_partitions: int
    n_configs: int
    n_periods: int
    metric: str
    columns: list

    @property
    def n_combinations(self) -> int:
        """``C(n_partitions, n_partitions // 2)``."""
        return int(self.logits.size)

    @property
    def degradation_slope(self) -> float:
        """Least-squares slope of ``oos_metric`` on ``is_metric`` (negative: OOS decays as IS improves)."""
        x = self.is_metric[np.isfinite(self.is_metric) & np.isfinite(self.oos_metric)]
        y = self.oos_metric[np.isfinite(self.is_metric) & np.isfinite(self.oos_metric)]
        if x.size < 2 or np.ptp(x) == 0:
            return float("nan")
        return float(np.polyfit(x, y, 1)[0])

    def to_dict(self) -> dict:
        """Summary of scalars for ``metrics.json`` (arrays left out)."""
        return {"pbo": self.pbo, "prob_loss": self.prob_loss, "n_combinations": self.n_combinations,
                "n_partitions": self.n_partitions, "n_configs": self.n_configs, "n_periods": self.n_periods,
                "metric": self.metric, "degradation_slope": self.degradation_slope,
                "median_logit": float(np.median(self.logits))}


def _check_matrix(returns_matrix) -> tuple[np.ndarray, list]:
    if isinstance(returns_matrix, pd.DataFrame):
        columns = list(returns_matrix.columns)
        index = returns_matrix.index
    else:
        columns, index = None, None
    try:
        x = np.asarray(returns_matrix, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"`returns_matrix` must be numeric (periods x configurations), "
                        f"got {type(returns_matrix).__name__}.") from None
    if x.ndim != 2:
        raise ParameterError(f"`returns_matrix` must be 2-D of shape (n_periods, n_configs), got shape {x.shape}.")
    if columns is None:
        columns = list(range(x.shape[1]))
    if x.shape[1] < 2:
        raise ParameterError(f"`returns_matrix` must have >= 2 columns (configurations), got {x.shape[1]}.")
    bad = ~np.isfinite(x)
    if bad.any():
        cols = np.flatnonzero(bad.any(axis=0))
        c = int(cols[0])
        row = int(np.flatnonzero(bad[:, c])[0])
        where = f"{index[row]!r} (row {row})" if index is not None else f"row {row}"
        raise ParameterError(
            f"`returns_matrix` column {columns[c]!r} holds {int(bad[:, c].sum())} non-finite value(s), the first "
            f"{float(x[row, c])!r} at {where}" + (f" ({len(cols)} columns affected)" if len(cols) > 1 else "")
            + "; CSCV needs every configuration on the same periods: fill (e.g. 0 for flat periods) or drop "
              "them explicitly first.")
    return x, columns


def _ranks_of_chosen(oos: np.ndarray, best: np.ndarray) -> np.ndarray:
    """Average rank (1 = lowest) of column ``best[c]`` within row ``c`` of ``oos``."""
    v = oos[np.arange(oos.shape[0]), best][:, None]
    below = (oos < v).sum(axis=1)
    equal = (oos == v).sum(axis=1)
    return below + (equal + 1) / 2.0


def _subset_stats(bm: np.ndarray, bm2: np.ndarray, cnt: np.ndarray, idx: np.ndarray, metric: str) -> np.ndarray:
    """Metric of every column over the union of blocks ``idx[c]``, for every c.

    ``bm``: block means (S, N); ``bm2``: block sums of squared deviations from
    the block mean (S, N); ``cnt``: rows per block (S,).  Combines them
    exactly (Chan et al.'s parallel variance), so all-zero blocks give exactly
    zero mean and variance.
    """
    n_g = cnt[idx].astype(float)                   # (c, k)
    n_tot = n_g.sum(axis=1)                        # (c,)
    means_g = bm[idx]                              # (c, k, N)
    mean = np.einsum("ck,ckn->cn", n_g, means_g) / n_tot[:, None]
    if metric == "mean":
        return mean
    dev = means_g - mean[:, None, :]
    m2 = bm2[idx].sum(axis=1) + np.einsum("ck,ckn->cn", n_g, dev * dev)
    sd = np.sqrt(m2 / (n_tot[:, None] - 1.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = mean / sd
    zero_sd = sd == 0.0
    if zero_sd.any():   # constant over the subset: 0 if flat at 0, else +-inf (a riskless gain/loss)
        m0 = mean[zero_sd]
        sharpe[zero_sd] = np.where(m0 > 0.0, np.inf, np.where(m0 < 0.0, -np.inf, 0.0))
    return sharpe


def probability_of_backtest_overfitting(returns_matrix, n_partitions: int = 16,
                                        metric: str | Callable = "sharpe") -> PBOResult:
    r"""Probability of backtest overfitting by combinatorially symmetric CV.

    Parameters
    ----------
    returns_matrix : array-like of shape (n_periods, n_configs)
        Per-period returns (rows: periods in time order, columns: strategy
        configurations / trials of a sweep), e.g. a DataFrame.  ``N >= 2``.
        Non-finite values raise, naming the first affected column: nothing
        is dropped or filled silently.
    n_partitions : int, default=16
        ``S``, the number of contiguous blocks; even, >= 2, <= n_periods.
        Blocks follow :func:`numpy.array_split`: when ``T`` is not a multiple
        of ``S`` the first ``T % S`` blocks get one row more (no row is
        dropped).  ``S = 16`` gives 12,870 combinations.
    metric : {"sharpe", "mean"} or callable, default="sharpe"
        Performance of each configuration on a set of rows.  ``"sharpe"``:
        per-period Sharpe ratio ``mean / std(ddof=1)``, not annualised (a
        column constant over the rows scores 0 if flat at 0, else +-inf);
        ``"mean"``: mean return.  Both use precomputed per-block statistics,
        so each combination costs O(S * N).  A callable gets a 2-D array
        (rows in time order, ``n_configs`` columns) and must return
        ``n_configs`` numbers, higher = better (NaN not allowed).

    Returns
    -------
    PBOResult
        ``pbo``, ``logits``, performance-degradation pairs ``is_metric`` /
        ``oos_metric``, ``prob_loss``, the IS-best column of each combination
        and the combinations themselves.

    Raises
    ------
    ParameterError
        Odd, too small or too large ``n_partitions``; fewer than 2 columns;
        non-finite returns; for ``"sharpe"``, a half with fewer than 2 rows;
        a callable metric returning the wrong shape or NaN.

    Notes
    -----
    The rows are split into ``S`` contiguous blocks.  For every one of the
    :math:`\binom{S}{S/2}` ways to pick ``S/2`` blocks as in-sample (IS; the
    rest, in time order, is out-of-sample, OOS) the configuration ``n*`` with
    the best IS metric is selected (the first on ties), its OOS metric is
    ranked among all ``N`` OOS metrics (rank 1 = worst, average rank on ties),
    :math:`\bar\omega = \mathrm{rank}/(N+1)` and
    :math:`\lambda = \ln(\bar\omega / (1 - \bar\omega))`.  Then

    .. math:: \mathrm{PBO} = \frac{\#\{\lambda \le 0\}}{\binom{S}{S/2}}

    For pure noise PBO is about 0.5; for a configuration with a real edge,
    about 0.  A high probability of loss (``oos_metric < 0``) together with a
    negative degradation slope is the signature of overfitting.

    References
    ----------
    .. [1] Bailey, D. H., Borwein, J. M., Lopez de Prado, M. and Zhu, Q. J.
       (2017). The probability of backtest overfitting. *Journal of
       Computational Finance* 20(4), 39-69.
    .. [2] Lopez de Prado, M. (2018). *Advances in Financial Machine
       Learning*, Wiley, chapter 11.6.

    Examples
    --------
    Two blocks, three configurations, the mean as metric: configuration 0
    wins the first half and is worst in the second, configuration 2 the
    reverse, so both combinations pick an OOS loser.

    >>> import numpy as np
    >>> from engines.overfit import probability_of_backtest_overfitting
    >>> r = np.array([[3., 1., 0.], [3., 1., 0.], [0., 1., 3.], [0., 1., 3.]])
    >>> res = probability_of_backtest_overfitting(r, n_partitions=2, metric="mean")
    >>> res.combinations.tolist(), res.best_config.tolist(), res.pbo
    ([[0], [1]], [0, 2], 1.0)
    >>> np.round(res.logits, 4).tolist()   # rank 1 of 3: w = 1/4, ln(1/3)
    [-1.0986, -1.0986]
    """
    x, columns = _check_matrix(returns_matrix)
    t, n_cfg = x.shape
    s = _check_int("n_partitions", n_partitions, 2)
    if s % 2:
        raise ParameterError(f"`n_partitions` must be even (half the blocks in sample, half out), got {s}; "
                             f"use {s - 1} or {s + 1}.")
    if s > t:
        raise ParameterError(f"`n_partitions` must be <= n_periods = {t} (each block needs a row), got {s}.")
    if callable(metric):
        metric_name = getattr(metric, "__name__", type(metric).__name__)
    elif isinstance(metric, str):
        if metric not in _METRICS:
            close = difflib.get_close_matches(metric, _METRICS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else "."
            raise ParameterError(f"`metric` must be one of {', '.join(map(repr, _METRICS))} or a callable, "
                                 f"got {metric!r}{hint}")
        metric_name = metric
    else:
        raise TypeError(f"`metric` must be 'sharpe', 'mean' or a callable, got {type(metric).__name__} {metric!r}.")

    bounds = np.concatenate([[0], np.cumsum([len(a) for a in np.array_split(np.arange(t), s)])]).astype(np.int64)
    cnt = np.diff(bounds)
    half = s // 2
    combos = np.array(list(itertools.combinations(range(s), half)), dtype=np.int64)
    in_is = np.zeros((len(combos), s), dtype=bool)
    in_is[np.arange(len(combos))[:, None], combos] = True
    oos_combos = np.nonzero(~in_is)[1].reshape(len(combos), s - half)
    n_comb = len(combos)

    if metric_name == "sharpe" and not callable(metric):
        smallest = int(np.sort(cnt)[:half].sum())
        if smallest < 2:
            raise ParameterError(f"`n_partitions` = {s} leaves a half of {smallest} row(s) out of n_periods = {t}; "
                                 "the Sharpe ratio needs >= 2 rows per half: use more periods or fewer partitions.")

    is_m = np.empty(n_comb)
    oos_m = np.empty(n_comb)
    best = np.empty(n_comb, dtype=np.int64)
    rank = np.empty(n_comb)
    if not callable(metric):
        bm = np.empty((s, n_cfg))
        bm2 = np.empty((s, n_cfg))
        for b in range(s):
            blk = x[bounds[b]:bounds[b + 1]]
            bm[b] = blk.mean(axis=0)
            d = blk - bm[b]
            bm2[b] = (d * d).sum(axis=0)
        chunk = max(1, _CHUNK_FLOATS // (half * n_cfg))
        for a in range(0, n_comb, chunk):
            sl = slice(a, min(a + chunk, n_comb))
            perf_is = _subset_stats(bm, bm2, cnt, combos[sl], metric_name)
            perf_oos = _subset_stats(bm, bm2, cnt, oos_combos[sl], metric_name)
            b_idx = np.argmax(perf_is, axis=1)
            rows = np.arange(b_idx.size)
            best[sl] = b_idx
            is_m[sl] = perf_is[rows, b_idx]
            oos_m[sl] = perf_oos[rows, b_idx]
            rank[sl] = _ranks_of_chosen(perf_oos, b_idx)
    else:
        block_rows = [np.arange(bounds[b], bounds[b + 1]) for b in range(s)]

        def evaluate(blocks, which):
            rows = np.concatenate([block_rows[b] for b in blocks])
            out = np.asarray(metric(x[rows]), dtype=float).reshape(-1)
            if out.shape != (n_cfg,):
                raise ParameterError(f"`metric` {metric_name!r} must return {n_cfg} values (one per column), "
                                     f"got shape {np.shape(out)} on the {which} rows.")
            if np.isnan(out).any():
                raise ParameterError(f"`metric` {metric_name!r} returned NaN for column "
                                     f"{columns[int(np.flatnonzero(np.isnan(out))[0])]!r} on the {which} rows "
                                     f"of blocks {list(map(int, blocks))}.")
            return out

        for c in range(n_comb):
            perf_is = evaluate(combos[c], "in-sample")
            perf_oos = evaluate(oos_combos[c], "out-of-sample")
            b_idx = int(np.argmax(perf_is))
            best[c] = b_idx
            is_m[c] = perf_is[b_idx]
            oos_m[c] = perf_oos[b_idx]
            rank[c] = _ranks_of_chosen(perf_oos[None, :], np.array([b_idx]))[0]

    w = rank / (n_cfg + 1.0)
    logits = np.log(w / (1.0 - w))
    return PBOResult(pbo=float(np.mean(logits <= 0.0)), logits=logits, is_metric=is_m, oos_metric=oos_m,
                     prob_loss=float(np.mean(oos_m < 0.0)), best_config=best, combinations=combos,
                     block_bounds=bounds, n_partitions=s, n_configs=n_cfg, n_periods=t, metric=metric_name,
                     columns=columns)
