"""Sample weights from overlapping labels: concurrency, average uniqueness, return attribution."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml._checks import check_bool
from ml.exceptions import ParameterError
from ml.labels._checks import check_index, check_series, kernel

__all__ = [
    "average_uniqueness",
    "concurrent_labels",
    "return_attribution_weights",
    "uniqueness_weights",
]


def _positions(t1, index) -> tuple[pd.Series, pd.DatetimeIndex, np.ndarray, np.ndarray]:
    """Validate ``t1`` / ``index`` and return bar positions of every label's start and end."""
    if isinstance(t1, pd.DataFrame):
        if "t1" not in t1.columns:
            raise ParameterError(
                f"`t1` is a DataFrame without a `t1` column (columns: {', '.join(map(str, t1.columns))}); "
                "pass the output of a labelling function or a Series of label end times."
            )
        t1 = t1["t1"]
    if not isinstance(t1, pd.Series):
        raise TypeError(f"`t1` must be a Series of label end times indexed by label start times, "
                        f"got {type(t1).__name__}.")
    if not isinstance(t1.index, pd.DatetimeIndex):
        raise TypeError(f"`t1.index` must be a DatetimeIndex of label start times, "
                        f"got {type(t1.index).__name__}.")
    if not (isinstance(t1.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(t1.dtype)):
        raise TypeError(f"`t1` must hold timestamps (NaT where undefined), got dtype {t1.dtype}.")
    index = t1.index if index is None else index
    index = check_index("index", index)
    start = index.get_indexer(t1.index)
    miss = np.flatnonzero(start < 0)
    if len(miss):
        raise ParameterError(f"`t1.index` holds label start {t1.index[miss[0]]} that is not a bar of "
                             f"`index` ({len(miss)} such labels); pass the bars' index as `index`.")
    ends = pd.DatetimeIndex(t1)
    defined = ~np.asarray(ends.isna())
    end = np.full(len(t1), -1, dtype=np.int64)
    end[defined] = index.get_indexer(ends[defined])
    miss = np.flatnonzero(defined & (end < 0))
    if len(miss):
        raise ParameterError(f"`t1` holds end time {ends[miss[0]]} (label starting {t1.index[miss[0]]}) "
                             f"that is not a bar of `index` ({len(miss)} such labels).")
    back = np.flatnonzero(defined & (end < start))
    if len(back):
        i = back[0]
        raise ParameterError(f"`t1` must be >= its label's start, got t1={ends[i]} for the label "
                             f"starting {t1.index[i]} ({len(back)} such labels).")
    start = np.where(defined, start, -1).astype(np.int64)
    return t1, index, start, end


def concurrent_labels(t1, index=None) -> pd.Series:
    """Number of labels whose interval ``[t_i, t1_i]`` covers each bar.

    Parameters
    ----------
    t1 : Series or DataFrame
        Label end times (NaT where undefined) indexed by label start times, or
        a labelling function's output (its ``t1`` column is used).
    index : DatetimeIndex, optional
        The bars' index; default ``t1.index`` (one label per bar).

    Returns
    -------
    Series of int64
        ``c_t``, indexed by ``index``.  Labels with NaT ``t1`` are not counted.

    References
    ----------
    Lopez de Prado, M. (2018). *Advances in Financial Machine Learning*,
    Wiley, section 4.3 (number of concurrent labels).
    """
    t1, index, start, end = _positions(t1, index)
    count = kernel("concurrency")(start, end, len(index))
    return pd.Series(count, index=index, name="concurrency")


def average_uniqueness(t1, index=None) -> pd.Series:
    """Average uniqueness of each label over its lifespan.

    ``u_i = mean over bars t in [t_i, t1_i] of 1 / c_t``, where ``c_t`` is the
    number of label intervals covering bar t (bar positions, both ends
    included).  O(n_labels + n_bars) through a difference array and prefix sums.

    Parameters
    ----------
    t1 : Series or DataFrame
        Label end times (NaT where undefined) indexed by label start times, or
        a labelling function's output (its ``t1`` column is used).
    index : DatetimeIndex, optional
        The bars' index, strictly increasing and tz-aware; default
        ``t1.index`` (one label per bar).  Every start and end must be in it.

    Returns
    -------
    Series of float64
        ``u_i`` in (0, 1], indexed like ``t1``; NaN where ``t1`` is NaT.

    Raises
    ------
    TypeError
        ``t1`` is not a Series/DataFrame of timestamps.
    ml.exceptions.ParameterError
        A start or end time is not a bar of ``index``, or ``t1 < start``.

    Notes
    -----
    The interval of the label at bar ``t_i`` starts at ``t_i`` itself (the
    bar whose close triggers the decision) and ends with bar ``t1_i``, the
    same interval that purged cross-validation removes.

    References
    ----------
    Lopez de Prado, M. (2018). *Advances in Financial Machine Learning*,
    Wiley, section 4.4 (average uniqueness of a label).

    Examples
    --------
    >>> import pandas as pd
    >>> idx = pd.date_range("2024-01-02 10:00", periods=4, freq="min", tz="UTC")
    >>> t1 = pd.Series([idx[2], idx[3], idx[3], pd.NaT], index=idx)
    >>> average_uniqueness(t1).round(4).tolist()  # c = [1, 2, 3, 2]
    [0.6111, 0.4444, 0.4167, nan]
    """
    t1, index, start, end = _positions(t1, index)
    out = kernel("average_uniqueness")(start, end, len(index))
    return pd.Series(out, index=t1.index, name="uniqueness")


def uniqueness_weights(t1, index=None, *, normalize: bool = False) -> pd.Series:
    """Sample weights from average uniqueness (:func:`average_uniqueness`).

    Parameters
    ----------
    t1 : Series or DataFrame
        As for :func:`average_uniqueness`.
    index : DatetimeIndex, optional
        As for :func:`average_uniqueness`.
    normalize : bool, default False
        Scale the weights so that their mean over defined labels is 1 (their
        sum equals the number of defined labels).

    Returns
    -------
    Series of float64
        Indexed like ``t1``; NaN where ``t1`` is NaT.

    References
    ----------
    Lopez de Prado, M. (2018). *Advances in Financial Machine Learning*,
    Wiley, sections 4.4-4.5 (average uniqueness, bagging with uniqueness).
    """
    normalize = check_bool("normalize", normalize)
    w = average_uniqueness(t1, index).rename("weight")
    if normalize:
        w = w * (w.count() / w.sum()) if w.count() else w
    return w


def return_attribution_weights(t1, close) -> pd.Series:
    """Sample weights from each label's share of the absolute log return it spans.

    ``w_i = |sum over bars t in (t_i, t1_i] of r_t / c_t|``, with ``r_t =
    log(close_t / close_{t-1})`` and ``c_t`` as in :func:`concurrent_labels`,
    then scaled so that the defined weights sum to their count.  Bar ``t_i``
    itself is left out: its return is known when the decision is made.

    Parameters
    ----------
    t1 : Series or DataFrame
        Label end times indexed by label start times (or a labelling
        function's output).
    close : Series
        Close prices indexed by the bars' index (tz-aware, strictly
        increasing), finite and > 0.

    Returns
    -------
    Series of float64
        Indexed like ``t1``; NaN where ``t1`` is NaT.  When every defined
        weight is 0 the raw zeros are returned.

    References
    ----------
    Lopez de Prado, M. (2018). *Advances in Financial Machine Learning*,
    Wiley, section 4.10 (return attribution).
    """
    if not isinstance(close, pd.Series):
        raise TypeError(f"`close` must be a Series of close prices indexed by bar time, "
                        f"got {type(close).__name__}.")
    index = check_index("close.index", close.index)
    t1, index, start, end = _positions(t1, index)
    c = check_series("close", close, index)
    bad = np.flatnonzero(~(np.isfinite(c) & (c > 0)))
    if len(bad):
        raise ParameterError(f"`close` must hold finite prices > 0, got {float(c[bad[0]])!r} at "
                             f"{index[bad[0]]} ({len(bad)} such rows).")
    r = np.zeros(len(c))
    r[1:] = np.log(c[1:] / c[:-1])
    w = kernel("return_attribution")(start, end, r, len(index))
    total = np.nansum(w)
    n_def = int(np.isfinite(w).sum())
    if total > 0:
        w = w * (n_def / total)
    return pd.Series(w, index=t1.index, name="weight")
