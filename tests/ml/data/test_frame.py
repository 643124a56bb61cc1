"""Tests of the shared bar-frame validator: every rule, its exception class, its message
(argument, column, position, timestamp) and the error's attributes."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml.data._frame import BAR_COLUMNS, check_bar_frame, check_bar_index
from ml.exceptions import (
    BarDataError,
    BarDataTypeError,
    EmptyDataError,
    MissingColumnsError,
)

TZ = "America/Sao_Paulo"


def bars(n=5, tz=TZ, **extra):
    idx = pd.date_range("2025-02-03 09:00", periods=n, freq="1min", tz=tz, name="timestamp")
    data = {"open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": 3.0, **extra}
    return pd.DataFrame(data, index=idx)


def test_bar_columns_are_the_schema_without_timestamp():
    assert BAR_COLUMNS == ("open", "high", "low", "close", "volume")


class TestValid:
    def test_returns_none_and_leaves_input_alone(self):
        df = bars(symbol="WDOH25")
        before = df.copy()
        assert check_bar_frame(df) is None
        pd.testing.assert_frame_equal(df, before)

    def test_one_row_and_subset_of_columns(self):
        assert check_bar_frame(bars(1)[["close"]], ("close",)) is None
        assert check_bar_frame(bars(3), ()) is None

    def test_index_returned_unchanged(self):
        idx = bars().index
        assert check_bar_index(idx) is idx

    def test_unsorted_and_duplicates_allowed_when_not_required(self):
        df = bars(4).iloc[[0, 2, 1, 1, 3]]
        assert check_bar_frame(df, sorted_unique=False) is None
        assert check_bar_index(df.index, sorted_unique=False) is df.index


class TestType:
    @pytest.mark.parametrize("obj, shown", [
        (bars()["close"], "Series"), (bars().to_numpy(), "ndarray"), (None, "NoneType"),
    ])
    def test_not_a_frame(self, obj, shown):
        with pytest.raises(TypeError, match=rf"^`bars` must be a pandas DataFrame, got {shown};") as ei:
            check_bar_frame(obj)
        assert not isinstance(ei.value, BarDataError)

    def test_name_is_the_callers_argument(self):
        with pytest.raises(TypeError, match="^`prices` must be a pandas DataFrame"):
            check_bar_frame([1, 2], name="prices")

    @pytest.mark.parametrize("make", [lambda b: b.reset_index(drop=True), lambda b: b.reset_index(),
                                      lambda b: b.set_index(b.index.tz_localize(None).astype(str))])
    def test_index_not_datetime_is_both_type_and_bar_data_error(self, make):
        with pytest.raises(BarDataTypeError, match=r"^`bars.index` must be a DatetimeIndex of bar open "
                                                   r"times, got (RangeIndex|Index)") as ei:
            check_bar_frame(make(bars()))
        assert isinstance(ei.value, TypeError) and isinstance(ei.value, BarDataError)
        assert ei.value.column == "timestamp"

    def test_index_alone_named_as_given(self):
        with pytest.raises(BarDataTypeError, match="^`t1.index` must be a DatetimeIndex"):
            check_bar_index(pd.Index([1, 2]), name="t1.index")


class TestTimezone:
    def test_naive(self):
        with pytest.raises(BarDataError, match=r"^`bars.index` must be timezone-aware, got naive "
                                               r"timestamps; localise") as ei:
            check_bar_frame(bars(tz=None))
        assert ei.value.column == "timestamp"
        assert not isinstance(ei.value, TypeError)

    def test_naive_checked_even_when_order_is_not(self):
        with pytest.raises(BarDataError, match="timezone-aware"):
            check_bar_frame(bars(tz=None), sorted_unique=False)

    def test_nat(self):
        idx = bars(4).index.insert(2, pd.NaT)
        df = pd.DataFrame({c: 1.0 for c in BAR_COLUMNS}, index=idx)
        for sorted_unique in (True, False):
            with pytest.raises(BarDataError, match=r"^`bars.index` must hold a timestamp for every bar; "
                                                   r"NaT at position 2 \(0-based; 1 such row\)") as ei:
                check_bar_frame(df, sorted_unique=sorted_unique)
            assert (ei.value.column, ei.value.row) == ("timestamp", 3)


class TestColumns:
    def test_one_missing(self):
        with pytest.raises(MissingColumnsError, match=r"^`bars` lacks column\(s\) `volume`; columns "
                                                      r"found: open, high, low, close\.$") as ei:
            check_bar_frame(bars().drop(columns="volume"))
        assert ei.value.column == "volume"

    def test_all_missing_named_in_requested_order(self):
        with pytest.raises(MissingColumnsError, match=r"lacks column\(s\) `high`, `low`; ") as ei:
            check_bar_frame(bars().drop(columns=["low", "high"]))
        assert ei.value.column == "high"

    def test_requested_columns_only(self):
        df = bars()[["open", "close"]]
        check_bar_frame(df, ("open", "close"))
        with pytest.raises(MissingColumnsError, match=r"lacks column\(s\) `symbol`"):
            check_bar_frame(df, ("open", "close", "symbol"))

    def test_did_you_mean(self):
        df = bars().rename(columns={"close": "Close", "volume": "vol"})
        with pytest.raises(MissingColumnsError, match=r"`close`, `volume`; .*Did you mean 'Close' for 'close'"):
            check_bar_frame(df)

    def test_no_columns_at_all(self):
        with pytest.raises(MissingColumnsError, match=r"columns found: \(none\)"):
            check_bar_frame(pd.DataFrame(index=bars().index))

    def test_missing_is_a_bar_data_error(self):
        assert issubclass(MissingColumnsError, BarDataError) and issubclass(BarDataError, ValueError)


class TestEmpty:
    def test_empty(self):
        with pytest.raises(EmptyDataError, match=r"^`bars` holds no rows \(the frame is empty\)"):
            check_bar_frame(bars().iloc[:0])

    def test_empty_without_sorting(self):
        with pytest.raises(EmptyDataError, match="`ohlc` holds no rows"):
            check_bar_frame(bars().iloc[:0], sorted_unique=False, name="ohlc")


class TestOrder:
    def test_out_of_order(self):
        df = bars(5).iloc[[0, 1, 3, 2, 4]]
        ts = df.index[3]
        with pytest.raises(BarDataError, match=rf"^`bars.index` must be strictly increasing; out-of-order "
                                               rf"timestamp {re.escape(str(ts))} at position 3 "
                                               rf"\(0-based; 1 such row\)") as ei:
            check_bar_frame(df)
        e = ei.value
        assert (e.column, e.row, e.timestamp) == ("timestamp", 4, ts)  # row is 1-based

    def test_duplicate(self):
        df = bars(4).iloc[[0, 1, 1, 2, 3]]
        ts = df.index[2]
        with pytest.raises(BarDataError, match=rf"duplicate timestamp {re.escape(str(ts))} at position 2 "):
            check_bar_frame(df)

    def test_first_violation_named_and_all_counted(self):
        df = bars(6).iloc[[0, 2, 1, 3, 3, 5, 4]]
        with pytest.raises(BarDataError, match=r"out-of-order timestamp .* at position 2 \(0-based; 3 such rows\)"):
            check_bar_frame(df)

    def test_index_alone(self):
        idx = bars(3).index[::-1]
        with pytest.raises(BarDataError, match=r"^`index` must be strictly increasing; out-of-order .* position 1 "):
            check_bar_index(idx, name="index")

    def test_index_checked_before_columns(self):
        df = bars(3).iloc[[1, 0, 2]].drop(columns="open")
        with pytest.raises(BarDataError, match="strictly increasing"):
            check_bar_frame(df)
        with pytest.raises(MissingColumnsError):
            check_bar_frame(df, sorted_unique=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=12))
def test_order_rule_matches_pandas(minutes):
    idx = pd.DatetimeIndex(pd.Timestamp("2025-02-03 09:00", tz=TZ) + pd.to_timedelta(minutes, "min"))
    df = pd.DataFrame({c: 1.0 for c in BAR_COLUMNS}, index=idx)
    ok = idx.is_monotonic_increasing and idx.is_unique
    check_bar_frame(df, sorted_unique=False)
    if ok:
        check_bar_frame(df)
        return
    first = next(i for i in range(1, len(minutes)) if minutes[i] <= minutes[i - 1])
    with pytest.raises(BarDataError, match=rf"at position {first} \(0-based") as ei:
        check_bar_frame(df)
    assert ei.value.row == first + 1 and ei.value.timestamp == idx[first]
    assert int(np.sum(np.diff(minutes) <= 0)) == int(re.search(r"(\d+) such row", str(ei.value))[1])


def test_bar_minutes_of_any_time_unit():
    import pandas as pd

    from ml.data import bar_minutes_of

    idx = pd.date_range("2024-01-02", periods=5, freq="5min", tz="UTC")
    for unit in ("s", "ms", "us", "ns"):
        bars = pd.DataFrame({"close": 1.0}, index=idx.as_unit(unit))
        assert bar_minutes_of(bars) == 5.0, unit


def test_per_bar_values_aligns_series_and_checks_arrays():
    import numpy as np
    import pandas as pd
    import pytest

    from ml.data._frame import per_bar_values
    from ml.exceptions import ParameterError

    idx = pd.date_range("2024-01-02", periods=3, freq="1min", tz="UTC")
    s = pd.Series([3.0, np.nan, 1.0, 9.0], index=[idx[2], idx[1], idx[0], idx[0] + pd.Timedelta("1h")])
    np.testing.assert_array_equal(per_bar_values(s, idx, "x"), [1.0, np.nan, 3.0])  # by timestamp
    with pytest.raises(ParameterError, match="`x` has no value for 1 bar.*2024-01-02 00:02"):
        per_bar_values(s.iloc[1:3], idx, "x")
    with pytest.raises(ParameterError, match="got 2 values for 3 bars"):
        per_bar_values([1.0, 2.0], idx, "x")
    with pytest.raises(TypeError, match="got a DataFrame"):
        per_bar_values(s.to_frame(), idx, "x")
