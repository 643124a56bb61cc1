"""Every bad argument raises a clear error naming the parameter (in backticks) and the value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.exceptions import BarDataError, EmptyDataError, MissingColumnsError, ParameterError
from ml.labels import (
    average_uniqueness,
    concurrent_labels,
    fixed_horizon_labels,
    meta_labels,
    return_attribution_weights,
    triple_barrier_labels,
    uniqueness_weights,
)

from ._frames import flat, make_bars

BARS = make_bars(flat(10))
N = len(BARS)


def fh(**kw):
    kw.setdefault("horizon", 2)
    return fixed_horizon_labels(kw.pop("bars", BARS), **kw)


def tb(**kw):
    kw.setdefault("max_holding", 3)
    return triple_barrier_labels(kw.pop("bars", BARS), **kw)


def _with(column, value, position=3):
    bars = BARS.copy()
    bars.iloc[position, bars.columns.get_loc(column)] = value
    return bars


UNSORTED = BARS.iloc[[0, 2, 1] + list(range(3, N))]
DUPLICATE = BARS.iloc[[0, 1, 1, 2]]

CASES = [
    # fixed_horizon_labels
    (lambda: fh(horizon=0), ParameterError, "`horizon` must be an int >= 1, got 0"),
    (lambda: fh(horizon=-3), ParameterError, "`horizon` must be an int >= 1, got -3"),
    (lambda: fh(horizon=2.5), TypeError, "`horizon` must be an int >= 1, got float 2.5"),
    (lambda: fh(horizon="3"), TypeError, "`horizon` must be an int"),
    (lambda: fh(horizon=True), TypeError, "`horizon` must be an int"),
    (lambda: fh(threshold=-0.001), ParameterError, r"`threshold` must be a finite number >= 0, got -0.001"),
    (lambda: fh(threshold=np.nan), ParameterError, "`threshold` must be a finite number >= 0, got nan"),
    (lambda: fh(threshold=np.inf), ParameterError, "`threshold`"),
    (lambda: fh(threshold="1bp"), TypeError, "`threshold` must be a finite number >= 0, got str '1bp'"),
    (lambda: fh(cross_session="yes"), TypeError, "`cross_session` must be True or False, got str 'yes'"),
    (lambda: fh(calendar="B4"), ParameterError, "unknown calendar 'B4'"),
    (lambda: fh(calendar=3), TypeError, "`calendar`"),
    (lambda: fh(bars=BARS["close"]), TypeError, "`bars` must be a pandas DataFrame, got Series"),
    (lambda: fh(bars=BARS.to_numpy()), TypeError, "`bars` must be a pandas DataFrame, got ndarray"),
    (lambda: fh(bars=BARS.drop(columns="open")), MissingColumnsError, "`bars` lacks column\\(s\\) `open`"),
    (lambda: fh(bars=BARS.iloc[:0]), EmptyDataError, "`bars` holds no rows"),
    (lambda: fh(bars=BARS.reset_index(drop=True)), TypeError, "`bars.index` must be a DatetimeIndex"),
    (lambda: fh(bars=BARS.tz_localize(None)), BarDataError, "`bars.index` must be timezone-aware"),
    (lambda: fh(bars=UNSORTED), BarDataError, "`bars.index` must be strictly increasing; out-of-order"),
    (lambda: fh(bars=DUPLICATE), BarDataError, "`bars.index` must be strictly increasing; duplicate"),
    (lambda: fh(bars=_with("close", np.nan)),
     BarDataError, "`bars` column `close` must hold finite prices > 0, got nan"),
    (lambda: fh(bars=_with("open", 0.0)),
     BarDataError, "`bars` column `open` must hold finite prices > 0, got 0.0"),
    (lambda: fh(bars=BARS.assign(close="x")), TypeError, "`bars` column `close` must be numeric"),
    # triple_barrier_labels
    (lambda: triple_barrier_labels(BARS), TypeError, "max_holding"),
    (lambda: tb(max_holding=0), ParameterError, "`max_holding` must be an int >= 1, got 0"),
    (lambda: tb(max_holding=1.5), TypeError, "`max_holding` must be an int"),
    (lambda: tb(pt=-1), ParameterError, "`pt` must be a finite number >= 0 or None, got -1.0"),
    (lambda: tb(sl=-0.5), ParameterError, "`sl` must be a finite number >= 0 or None, got -0.5"),
    (lambda: tb(sl="wide"), TypeError, "`sl` must be a finite number >= 0 or None, got str 'wide'"),
    (lambda: tb(min_ret=-1e-4), ParameterError, "`min_ret` must be a finite number >= 0"),
    (lambda: tb(vol_span=1), ParameterError, "`vol_span` must be an int >= 2, got 1"),
    (lambda: tb(vol_span=20.0), TypeError, "`vol_span` must be an int"),
    (lambda: tb(cross_session=1), TypeError, "`cross_session` must be True or False"),
    (lambda: tb(vol=[0.01] * (N - 1)),
     ParameterError, r"`vol` must be 1-D with one value per bar \(10\), got shape \(9,\)"),
    (lambda: tb(vol=pd.Series(0.01, index=BARS.index[::-1])),
     ParameterError, "`vol` must have the same index as `bars`"),
    (lambda: tb(vol=pd.DataFrame({"v": [0.01] * N}, index=BARS.index)), TypeError, "`vol` must be a Series"),
    (lambda: tb(vol=[-0.01] * N), ParameterError, "`vol` must be >= 0"),
    (lambda: tb(vol=["a"] * N), TypeError, "`vol` must be numeric"),
    (lambda: tb(side=[2] * N), ParameterError, "`side` must hold -1, 0, \\+1 or NaN, got 2.0"),
    (lambda: tb(side=[0.5] * N), ParameterError, "`side` must hold -1, 0, \\+1 or NaN, got 0.5"),
    (lambda: tb(side=["long"] * N), TypeError, "`side` must be numeric"),
    (lambda: tb(side=[True] * N), TypeError, "`side` must be numeric"),
    (lambda: tb(bars=BARS.drop(columns=["high", "low"])), MissingColumnsError, "`high`, `low`"),
    (lambda: tb(bars=UNSORTED), BarDataError, "`bars.index` must be strictly increasing"),
    (lambda: tb(bars=_with("low", -1.0)),
     BarDataError, "`bars` column `low` must hold finite prices > 0, got -1.0"),
    # meta_labels
    (lambda: meta_labels(BARS, None, max_holding=3), TypeError, "`side` is required"),
    (lambda: meta_labels(BARS, [3] * N, max_holding=3), ParameterError, "`side` must hold"),
    (lambda: meta_labels(BARS, [1] * N, max_holding=0), ParameterError, "`max_holding`"),
    # weights
    (lambda: average_uniqueness([1, 2]), TypeError, "`t1` must be a Series"),
    (lambda: average_uniqueness(pd.Series([1, 2])), TypeError, "`t1.index` must be a DatetimeIndex"),
    (lambda: average_uniqueness(pd.Series([1.0] * N, index=BARS.index)),
     TypeError, "`t1` must hold timestamps"),
    (lambda: average_uniqueness(pd.DataFrame({"end": BARS.index}, index=BARS.index)),
     ParameterError, "without a `t1` column"),
    (lambda: average_uniqueness(pd.Series(BARS.index[3:5], index=BARS.index[:2]), index=BARS.index[2:]),
     ParameterError, "`t1.index` holds label start"),
    (lambda: average_uniqueness(pd.Series(BARS.index[:2] + pd.Timedelta("30s"), index=BARS.index[:2]),
                                index=BARS.index), ParameterError, "`t1` holds end time"),
    (lambda: average_uniqueness(pd.Series(BARS.index[[0, 0]], index=BARS.index[[1, 2]]), index=BARS.index),
     ParameterError, "`t1` must be >= its label's start"),
    (lambda: concurrent_labels(pd.Series(BARS.index, index=BARS.index), index=list(BARS.index)),
     TypeError, "`index` must be a DatetimeIndex"),
    (lambda: concurrent_labels(pd.Series(BARS.index, index=BARS.index), index=BARS.index[::-1]),
     BarDataError, "`index` must be strictly increasing"),
    (lambda: uniqueness_weights(pd.Series(BARS.index, index=BARS.index), normalize="yes"),
     TypeError, "`normalize` must be True or False"),
    (lambda: return_attribution_weights(pd.Series(BARS.index, index=BARS.index), BARS["close"].to_numpy()),
     TypeError, "`close` must be a Series"),
    (lambda: return_attribution_weights(pd.Series(BARS.index, index=BARS.index), _with("close", 0.0)["close"]),
     ParameterError, "`close` must hold finite prices > 0, got 0.0"),
]


@pytest.mark.parametrize("call, exc, message", CASES, ids=[c[2][:50] for c in CASES])
def test_bad_argument_raises(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_value_errors_are_value_errors():
    assert issubclass(ParameterError, ValueError) and issubclass(BarDataError, ValueError)
    with pytest.raises(ValueError):
        fh(horizon=0)
