"""Tests of ``ml.data.load_bars`` / ``validate_bars``.

Every file is a few lines cut from the real bundled samples, with one field
corrupted.  Each bad-input test demands the exact exception class and a message
that names the column, the file line (header = line 1, first bar = line 2) and
the bar's timestamp.
"""

from __future__ import annotations

import gzip
import warnings

import numpy as np
import pandas as pd
import pytest

from ml.data import REQUIRED_COLUMNS, load_bars, sample_path, validate_bars
from ml.exceptions import (
    BarDataError,
    BarDataTypeError,
    CalendarWarning,
    DataQualityWarning,
    EmptyDataError,
    MissingColumnsError,
    MissingOptionalColumnsWarning,
    ParameterError,
    UnsortedDataWarning,
)

from .conftest import assert_names, get_field, set_field


def _load_quiet(path, **kw):
    """load_bars, failing on any warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return load_bars(path, **kw)


def _without_sources(df):
    df = df.copy()
    df.attrs = {k: v for k, v in df.attrs.items()}
    df.attrs["bars"] = {k: v for k, v in df.attrs["bars"].items() if k != "sources"}
    return df


# --------------------------------------------------------------------------- happy paths


def test_exception_hierarchy():
    assert issubclass(BarDataError, ValueError)
    assert issubclass(BarDataTypeError, BarDataError) and issubclass(BarDataTypeError, TypeError)
    assert issubclass(MissingColumnsError, BarDataError)
    assert issubclass(EmptyDataError, BarDataError)
    assert issubclass(ParameterError, ValueError)


@pytest.mark.parametrize(
    "name, rows, calendar, tz, symbols, missing",
    [
        ("wdo", 27096, "B3", "America/Sao_Paulo", ["WDOZ21", "WDOF22", "WDOG22"],
         ["trades", "buy_volume", "sell_volume"]),
        ("filusdt", 10080, "24/7", "UTC", ["FILUSDT"], []),
    ],
)
def test_real_samples_load_clean(name, rows, calendar, tz, symbols, missing):
    df = _load_quiet(sample_path(name))
    meta = df.attrs["bars"]
    assert len(df) == rows == meta["rows"]
    assert meta["calendar"] == calendar and meta["tz"] == tz
    assert str(df.index.tz) == tz and df.index.name == "timestamp"
    assert df.index.is_monotonic_increasing and df.index.is_unique
    assert meta["symbols"] == symbols
    assert meta["missing_optional_columns"] == missing
    assert meta["dropped_nan_rows"] == 0 and meta["sorted_by_loader"] is False
    numeric = [c for c in df.columns if c != "symbol"]
    assert all(df[c].dtype == np.float64 for c in numeric)
    assert list(df.columns)[-1] == "symbol"


def test_small_wdo_file_values(write_csv, wdo_lines):
    df = _load_quiet(write_csv(wdo_lines))
    assert list(df.columns) == ["open", "high", "low", "close", "volume", "vwap", "symbol"]
    assert len(df) == len(wdo_lines) - 1
    first = df.iloc[0]
    assert df.index[0] == pd.Timestamp("2021-11-05 12:47", tz="America/Sao_Paulo")
    assert (first["open"], first["high"], first["low"], first["close"]) == (5565.0, 5566.0, 5559.5, 5561.5)
    assert first["volume"] == 8330.0 and first["vwap"] == pytest.approx(5561.7736)
    assert first["symbol"] == "WDOZ21"
    assert df.attrs["bars"]["sources"] == ["WDOZ21.csv"]


def test_optional_columns_may_be_missing(write_csv, fil_lines):
    keep = [0, 1, 2, 3, 4, 5, 10]  # timestamp, OHLC, volume, symbol
    lines = [",".join(line.split(",")[k] for k in keep) for line in fil_lines]
    df = _load_quiet(write_csv(lines, "FILUSDT.csv"))
    assert list(df.columns) == ["open", "high", "low", "close", "volume", "symbol"]
    assert df.attrs["bars"]["missing_optional_columns"] == ["trades", "buy_volume", "sell_volume", "vwap"]


def test_only_buy_volume_present_is_not_checked(write_csv, fil_lines):
    keep = [0, 1, 2, 3, 4, 5, 7, 10]  # no sell_volume: the sum cannot be checked
    lines = [",".join(line.split(",")[k] for k in keep) for line in fil_lines]
    df = _load_quiet(write_csv(lines, "FILUSDT.csv"))
    assert "buy_volume" in df.columns and "sell_volume" not in df.columns


def test_symbol_from_file_name_or_argument(write_csv, wdo_lines):
    lines = [",".join(line.split(",")[:-1]) for line in wdo_lines]  # drop `symbol`
    df = _load_quiet(write_csv(lines, "WDOZ21_1m_2021-11.csv"))
    assert set(df["symbol"]) == {"WDOZ21"} and df.attrs["bars"]["calendar"] == "B3"
    df = _load_quiet(write_csv(lines, "bars.csv"), symbol="WDOZ21")
    assert set(df["symbol"]) == {"WDOZ21"} and df.attrs["bars"]["calendar"] == "B3"


# --------------------------------------------------------------------------- missing columns


@pytest.mark.parametrize("column", REQUIRED_COLUMNS)
def test_missing_required_column(write_csv, wdo_lines, column):
    k = wdo_lines[0].split(",").index(column)
    lines = [",".join(f for j, f in enumerate(line.split(",")) if j != k) for line in wdo_lines]
    with pytest.raises(MissingColumnsError) as info:
        load_bars(write_csv(lines))
    msg = assert_names(info, MissingColumnsError, column=column)
    assert "WDOZ21.csv" in msg and "columns found" in msg


def test_missing_columns_are_all_named_with_suggestion(write_csv, wdo_lines):
    lines = [wdo_lines[0].replace("close", "clse").replace("volume", "vol")] + wdo_lines[1:]
    with pytest.raises(MissingColumnsError) as info:
        load_bars(write_csv(lines))
    msg = str(info.value)
    assert "`close`" in msg and "`volume`" in msg
    assert "Did you mean 'clse' for 'close'?" in msg


def test_missing_column_in_one_of_two_files_names_that_file(write_csv, wdo_lines):
    a = write_csv(wdo_lines[:4], "a.csv")
    k = wdo_lines[0].split(",").index("low")
    b_lines = [wdo_lines[0]] + wdo_lines[4:]
    b = write_csv([",".join(f for j, f in enumerate(line.split(",")) if j != k) for line in b_lines], "b.csv")
    with pytest.raises(MissingColumnsError) as info:
        load_bars([a, b])
    msg = assert_names(info, MissingColumnsError, column="low")
    assert "b.csv" in msg and "a.csv" not in msg


# --------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize("value", ["not a date", "2021-11-05 25:00:00", "2021-13-05 12:49:00", "12/49/2021 x"])
def test_unparsable_timestamp(write_csv, wdo_lines, value):
    lines = set_field(wdo_lines, 4, "timestamp", value)
    with pytest.raises(BarDataError) as info:
        load_bars(write_csv(lines))
    msg = assert_names(info, BarDataError, column="timestamp", line=4)
    assert repr(value) in msg


def test_empty_timestamp_cell(write_csv, wdo_lines):
    lines = set_field(wdo_lines, 5, "timestamp", "")
    with pytest.raises(BarDataError) as info:
        load_bars(write_csv(lines))
    msg = assert_names(info, BarDataError, column="timestamp", line=5)
    assert "missing" in msg


def test_numeric_timestamps_are_rejected(write_csv, wdo_lines):
    lines = [wdo_lines[0]] + [f"{1636127220 + 60 * k}" + line[19:] for k, line in enumerate(wdo_lines[1:])]
    with pytest.raises(BarDataError) as info:
        load_bars(write_csv(lines))
    assert_names(info, BarDataError, column="timestamp", line=2)


@pytest.mark.parametrize("suffix", ["+00:00", "Z", "+0000"])
def test_utc_offsets_are_converted_to_calendar_tz(write_csv, wdo_lines, suffix):
    clean = _load_quiet(write_csv(wdo_lines, "clean.csv"), symbol="WDOZ21")
    # Same instants written in UTC (Sao Paulo is UTC-3 in 2021).
    lines = [wdo_lines[0]] + [
        line.replace("2021-11-05 12:", "2021-11-05T15:", 1).replace(",", suffix + ",", 1)
        for line in wdo_lines[1:]
    ]
    df = _load_quiet(write_csv(lines, "utc.csv"), symbol="WDOZ21")
    assert str(df.index.tz) == "America/Sao_Paulo"
    assert df.index.equals(clean.index)
    assert df.index[0].hour == 12
    pd.testing.assert_frame_equal(_without_sources(df), _without_sources(clean))


def test_local_offsets_are_kept_as_instants(write_csv, wdo_lines):
    lines = [wdo_lines[0]] + [line.replace(",", "-03:00,", 1) for line in wdo_lines[1:]]
    df = _load_quiet(write_csv(lines))
    assert df.index[0] == pd.Timestamp("2021-11-05 15:47", tz="UTC")
    assert str(df.index.tz) == "America/Sao_Paulo"


@pytest.mark.parametrize("first_has_offset", [False, True])
def test_mixed_offset_and_naive_timestamps_raise(write_csv, wdo_lines, first_has_offset):
    # A naive time must never be read as UTC just because another row has an offset.
    lines = list(wdo_lines)
    line = 2 if first_has_offset else 6
    lines[line - 1] = lines[line - 1].replace(",", "+00:00,", 1)
    with pytest.raises(BarDataError) as info:
        load_bars(write_csv(lines))
    bad_line = 3 if first_has_offset else 6
    msg = assert_names(info, BarDataError, column="timestamp", line=bad_line)
    assert get_field(wdo_lines, bad_line, "timestamp") in msg


def _fil_with_times(fil_lines, times):
    return [fil_lines[0]] + [
        t + fil_lines[k + 1][19:] for k, t in enumerate(times)
    ]


def test_nonexistent_dst_time(write_csv, fil_lines):
    lines = _fil_with_times(fil_lines, ["2024-03-10 01:58:00", "2024-03-10 01:59:00",
                                        "2024-03-10 02:30:00", "2024-03-10 03:00:00"])
    with pytest.raises(BarDataError) as info:
        load_bars(write_csv(lines, "FILUSDT.csv"), tz="America/New_York")
    msg = assert_names(info, BarDataError, column="timestamp", line=4, timestamp="2024-03-10 02:30:00")
    assert "does not exist" in msg and "America/New_York" in msg
    assert info.value.timestamp == pd.Timestamp("2024-03-10 02:30:00")


def test_ambiguous_dst_time(write_csv, fil_lines):
    lines = _fil_with_times(fil_lines, ["2024-11-03 00:58:00", "2024-11-03 00:59:00",
                                        "2024-11-03 01:30:00", "2024-11-03 02:00:00"])
    with pytest.raises(BarDataError) as info:
        load_bars(write_csv(lines, "FILUSDT.csv"), tz="America/New_York")
    msg = assert_names(info, BarDataError, column="timestamp", line=4, timestamp="2024-11-03 01:30:00")
    assert "ambiguous" in msg


def test_dst_fall_back_with_offsets_is_fine(write_csv, fil_lines):
    lines = _fil_with_times(fil_lines, ["2024-11-03 01:30:00-04:00", "2024-11-03 01:30:00-05:00"])
    df = _load_quiet(write_csv(lines[:3], "FILUSDT.csv"), tz="America/New_York")
    assert len(df) == 2 and df.index.is_unique
    assert (df.index[1] - df.index[0]) == pd.Timedelta(hours=1)


def test_bad_tz_and_calendar(write_csv, wdo_lines):
    path = write_csv(wdo_lines)
    with pytest.raises(ParameterError) as info:
        load_bars(path, tz="Mars/Olympus")
    assert "`tz`" in str(info.value) and "Mars/Olympus" in str(info.value)
    with pytest.raises(TypeError):
        load_bars(path, tz=3)
    with pytest.raises(ParameterError) as info:
        load_bars(path, calendar="B4")
    assert "Did you mean 'B3'?" in str(info.value)


def test_explicit_tz_for_naive_times(write_csv, wdo_lines):
    df = _load_quiet(write_csv(wdo_lines), tz="UTC")
    assert df.index[0] == pd.Timestamp("2021-11-05 12:47", tz="UTC")
    assert df.attrs["bars"]["calendar"] == "B3"


# --------------------------------------------------------------------------- empty files


@pytest.mark.parametrize("name", ["WDOZ21.csv", "WDOZ21.csv.gz", "WDOZ21.parquet"])
def test_zero_byte_file(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(EmptyDataError) as info:
        load_bars(path)
    assert name in str(info.value) and "0 bytes" in str(info.value)


@pytest.mark.parametrize("name", ["WDOZ21.csv", "WDOZ21.csv.gz"])
def test_header_only_file(write_csv, wdo_lines, name):
    with pytest.raises(EmptyDataError) as info:
        load_bars(write_csv(wdo_lines[:1], name))
    assert name in str(info.value) and "no bars" in str(info.value)


def test_blank_lines_only_file(write_csv):
    with pytest.raises(EmptyDataError):
        load_bars(write_csv(["", "  ", ""]))


def test_header_only_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    path = tmp_path / "WDOZ21.parquet"
    pd.DataFrame({c: pd.Series([], dtype="float64") for c in REQUIRED_COLUMNS}).to_parquet(path)
    with pytest.raises(EmptyDataError):
        load_bars(path)


def test_blank_lines_keep_line_numbers_exact(write_csv, wdo_lines):
    # Leading blank line (header on line 2) and one inside the data.
    lines = [""] + wdo_lines[:3] + [""] + wdo_lines[3:]
    df = _load_quiet(write_csv(lines))
    assert len(df) == len(wdo_lines) - 1
    # wdo_lines' line 6 is now file line 8.
    bad = [""] + set_field(wdo_lines, 6, "high", "5560.0")[:3] + [""] + set_field(wdo_lines, 6, "high", "5560.0")[3:]
    with pytest.raises(BarDataError) as info:
        load_bars(write_csv(bad))
    assert_names(info, BarDataError, column="high", line=8, timestamp=get_field(wdo_lines, 6, "timestamp"))


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    "sample, column",
    [("wdo", c) for c in ("open", "high", "low", "close", "volume", "vwap")]
    + [("fil", c) for c in ("trades", "buy_volume", "sell_volume")],
)
@pytest.mark.parametrize("value", ["abc", "5,561", "1.2.3"])
def test_non_numeric_value(write_csv, wdo_lines, fil_lines, sample, column, value):
    base = wdo_lines if sample == "wdo" else fil_lines
    value = value.replace(",", ";")  # keep the CSV well-formed
    lines = set_field(base, 5, column, value)
    with pytest.raises(BarDataError) as info:
        load_bars(write_csv(lines, "WDOZ21.csv" if sample == "wdo" else "FILUSDT.csv"))
    msg = assert_names(info, BarDataError, column=column, line=5,
                       timestamp=get_field(base, 5, "timestamp"))
    assert repr(value) in msg


@pytest.mark.parametrize("value", ["True", "false", "TRUE"])
def test_boolean_text_is_a_type_error(write_csv, wdo_lines, value):
    lines = set_field(wdo_lines, 3, "close", value)
    with pytest.raises(BarDataTypeError) as info:
        load_bars(write_csv(lines))
    assert isinstance(info.value, TypeError)
    assert_names(info, BarDataTypeError, column="close", line=3, timestamp=get_field(wdo_lines, 3, "timestamp"))


def test_boolean_column_is_a_type_error(write_csv, wdo_lines):
    lines = [wdo_lines[0]] + [set_field(wdo_lines, k, "volume", "True" if k % 2 else "False")[k - 1]
                              for k in range(2, len(wdo_lines) + 1)]
    with pytest.raises(BarDataTypeError) as info:
        load_bars(write_csv(lines))
    assert_names(info, BarDataTypeError, column="volume", line=2, timestamp=get_field(wdo_lines, 2, "timestamp"))


@pytest.mark.parametrize("column", ["open", "high", "low", "close"])
@pytest.mark.parametrize("value", ["0", "-5560.0", "0.0"])
def test_non_positive_prices(write_csv, wdo_lines, column, value):
    lines = set_field(wdo_lines, 7, column, value)
    with pytest.raises(BarDataError) as info:
        load_bars(write_csv(lines))
    msg = assert_names(info, BarDataError, column=column, line=7, timestamp=get_field(wdo_lines, 7, "timestamp"))
    assert "must be > 0" in msg


@pytest.mark.parametrize("value", ["inf", "-inf"])
def test_infinite_values(write_csv, wdo_lines, value):
    lines = set_field(wdo_lines, 4, "open", value)
    with pytest.raises(BarDataError) as info:
        load_bars(write_csv(lines))
    msg = assert_names(info, BarDataError, column="open", line=4, timestamp=get_field(wdo_lines, 4, "timestamp"))
    assert "finite" in msg


def test_negative_volume(write_csv, wdo_lines):
    lines = set_field(wdo_lines, 4, "volume", "-1")
    with pytest.raises(BarDataError) as info:
        load_bars(write_csv(lines))
    assert_names(info, BarDataError, column="volume", line=4, timestamp=get_field(wdo_lines, 4, "timestamp"))


@pytest.mark.parametrize("column", ["trades", "buy_volume", "sell_volume"])
def test_negative_counts(write_csv, fil_lines, column):
    lines = set_field(fil_lines, 6, column, "-3")
    with pytest.raises(BarDataError) as info:
        load_bars(write_csv(lines, "FILUSDT.csv"))
    assert_names(info, BarDataError, column=column, line=6, timestamp=get_field(fil_lines, 6, "timestamp"))


def test_high_below_open(write_csv, wdo_lines):
    # line 6: open 5560.5, high 5561.0, low 5558.5, close 5559.0
    lines = set_field(wdo_lines, 6, "high", "5560.0")
    with pytest.raises(BarDataError) as info:
        load_bars(write_csv(lines))
    msg = assert_names(info, BarDataError, column="high", line=6, timestamp="2021-11-05 12:51:00")
    assert "max(open, close)" in msg and "high=5560" in msg


def test_high_below_close(write_csv, wdo_lines):
    # line 9: open 5560.5, high 5562.5, low 5560.5, close 5562.0
    lines = set_field(wdo_lines, 9, "close", "5563.0")
    with pytest.raises(BarDataError) as info:
        load_bars(write_csv(lines))
    assert_names(info, BarDataError, column="high", line=9, timestamp="2021-11-05 12:54:00")


def test_low_above_min_open_close(write_csv, wdo_lines):
    # line 7: open 5559.0, high 5560.5, low 5558.5, close 5559.5
    lines = set_field(wdo_lines, 7, "low", "5559.25")
    with pytest.raises(BarDataError) as info:
        load_bars(write_csv(lines))
    msg = assert_names(info, BarDataError, column="low", line=7, timestamp="2021-11-05 12:52:00")
    assert "min(open, close)" in msg


def test_first_offending_row_is_named(write_csv, wdo_lines):
    lines = set_field(set_field(wdo_lines, 8, "low", "5561.0"), 5, "low", "5560.5")
    with pytest.raises(BarDataError) as info:
        load_bars(write_csv(lines))
    msg = assert_names(info, BarDataError, column="low", line=5, timestamp="2021-11-05 12:50:00")
    assert "2 such row(s)" in msg


def test_buy_plus_sell_must_match_volume(write_csv, fil_lines):
    # line 4: volume 22699.7 = 11861.9 + 10837.8
    lines = set_field(fil_lines, 4, "buy_volume", "12861.9")
    path = write_csv(lines, "FILUSDT.csv")
    with pytest.raises(BarDataError) as info:
        load_bars(path)
    msg = assert_names(info, BarDataError, column="buy_volume", line=4, timestamp="2024-02-01 00:02:00")
    assert "`sell_volume`" in msg and "`volume`" in msg and "volume_tolerance" in msg
    # 1000 / 22699.7 = 4.4 %: inside a 5 % tolerance.
    df = _load_quiet(path, volume_tolerance=0.05)
    assert df["buy_volume"].iloc[2] == 12861.9
    with pytest.raises(ParameterError):
        load_bars(path, volume_tolerance=-1)


def test_float_rounding_in_volume_split_is_tolerated(write_csv, fil_lines):
    # 23016.3 + 15750.6 = 38766.899999999994 in binary floating point.
    lines = set_field(fil_lines, 2, "sell_volume", "15750.600000001")
    _load_quiet(write_csv(lines, "FILUSDT.csv"))


# --------------------------------------------------------------------------- NaN


def test_nan_raises_by_default(write_csv, wdo_lines):
    lines = set_field(wdo_lines, 6, "close", "")
    with pytest.raises(BarDataError) as info:
        load_bars(write_csv(lines))
    msg = assert_names(info, BarDataError, column="close", line=6, timestamp="2021-11-05 12:51:00")
    assert "nan='drop'" in msg


def test_nan_names_every_column_of_the_row(write_csv, wdo_lines):
    lines = set_field(set_field(wdo_lines, 3, "open", "NaN"), 3, "vwap", "")
    with pytest.raises(BarDataError) as info:
        load_bars(write_csv(lines))
    msg = assert_names(info, BarDataError, column="open", line=3, timestamp="2021-11-05 12:48:00")
    assert "`vwap`" in msg


def test_nan_drop(write_csv, fil_lines):
    lines = set_field(set_field(fil_lines, 3, "trades", ""), 7, "low", "nan")
    with pytest.warns(DataQualityWarning) as rec:
        df = load_bars(write_csv(lines, "FILUSDT.csv"), nan="drop")
    msg = str(rec[0].message)
    assert "2 bar(s)" in msg and "line 3" in msg and "2024-02-01 00:01:00" in msg and "trades" in msg
    assert len(df) == len(fil_lines) - 3
    assert df.attrs["bars"]["dropped_nan_rows"] == 2
    dropped = pd.DatetimeIndex(["2024-02-01 00:01", "2024-02-01 00:05"], tz="UTC")
    assert not df.index.isin(dropped).any()
    assert not df.isna().any().any()


def test_nan_drop_everything_is_empty(write_csv, wdo_lines):
    lines = [wdo_lines[0]] + [set_field(wdo_lines, k, "close", "")[k - 1] for k in range(2, len(wdo_lines) + 1)]
    with pytest.warns(DataQualityWarning), pytest.raises(EmptyDataError):
        load_bars(write_csv(lines), nan="drop")


def test_bad_nan_option(write_csv, wdo_lines):
    with pytest.raises(ParameterError) as info:
        load_bars(write_csv(wdo_lines), nan="fill")
    assert "`nan`" in str(info.value)


def test_missing_vwap_on_zero_volume_bar_is_not_an_error(write_csv, wdo_lines, fil_lines):
    lines = set_field(set_field(wdo_lines, 4, "volume", "0"), 4, "vwap", "")
    df = _load_quiet(write_csv(lines))
    assert np.isnan(df["vwap"].iloc[2]) and df["volume"].iloc[2] == 0
    assert df.attrs["bars"]["dropped_nan_rows"] == 0
    lines = fil_lines
    for column in ("volume", "trades", "buy_volume", "sell_volume"):
        lines = set_field(lines, 5, column, "0")
    df = _load_quiet(write_csv(set_field(lines, 5, "vwap", ""), "FILUSDT.csv"))
    assert np.isnan(df["vwap"].iloc[3])


def test_missing_vwap_with_volume_is_an_error(write_csv, wdo_lines):
    lines = set_field(wdo_lines, 4, "vwap", "")
    with pytest.raises(BarDataError) as info:
        load_bars(write_csv(lines))
    assert_names(info, BarDataError, column="vwap", line=4, timestamp="2021-11-05 12:49:00")


# --------------------------------------------------------------------------- order and duplicates


def test_duplicate_timestamp(write_csv, wdo_lines):
    lines = set_field(wdo_lines, 5, "timestamp", get_field(wdo_lines, 4, "timestamp"))
    with pytest.raises(BarDataError) as info:
        load_bars(write_csv(lines))
    msg = assert_names(info, BarDataError, column="timestamp", line=5, timestamp="2021-11-05 12:49:00")
    assert "duplicate" in msg and "line 4" in msg and "'WDOZ21'" in msg


def test_duplicate_timestamp_across_two_files(write_csv, wdo_lines):
    a = write_csv(wdo_lines[:5], "a.csv")  # lines 2..5: 12:47..12:50
    b = write_csv([wdo_lines[0]] + wdo_lines[4:], "b.csv")  # starts again at 12:50
    with pytest.raises(BarDataError) as info:
        load_bars([a, b])
    msg = assert_names(info, BarDataError, column="timestamp", line=2, timestamp="2021-11-05 12:50:00")
    assert "line 2 of b.csv" in msg and "line 5 of a.csv" in msg
    assert info.value.source == str(b)


def test_same_timestamp_for_two_symbols_is_fine(write_csv, wdo_lines):
    other = [line.replace("WDOZ21", "WDOF22") for line in wdo_lines[1:]]
    df = _load_quiet(write_csv(wdo_lines + other))
    assert len(df) == 2 * (len(wdo_lines) - 1)
    assert df.index.is_monotonic_increasing
    assert df.attrs["bars"]["symbols"] == ["WDOZ21", "WDOF22"]


def test_unsorted_rows_are_sorted_with_warning(write_csv, wdo_lines):
    clean = _load_quiet(write_csv(wdo_lines, "clean.csv"))
    lines = list(wdo_lines)
    lines[3], lines[4] = lines[4], lines[3]  # file line 4 is now 12:50, line 5 12:49
    path = write_csv(lines, "WDOZ21.csv")
    with pytest.warns(UnsortedDataWarning) as rec:
        df = load_bars(path)
    msg = str(rec[0].message)
    assert "line 5" in msg and "2021-11-05 12:49:00" in msg
    assert df.attrs["bars"]["sorted_by_loader"] is True
    pd.testing.assert_frame_equal(df, clean, check_flags=False)
    with pytest.raises(BarDataError) as info:
        load_bars(path, strict=True)
    msg = assert_names(info, BarDataError, column="timestamp", line=5, timestamp="2021-11-05 12:49:00")
    assert "strict=True" in msg


def test_files_given_out_of_order_are_sorted(write_csv, wdo_lines):
    a = write_csv(wdo_lines[:5], "a.csv")
    b = write_csv([wdo_lines[0]] + wdo_lines[5:], "b.csv")
    with pytest.warns(UnsortedDataWarning, match="line 2 of a.csv"):
        df = load_bars([b, a])
    assert df.index.is_monotonic_increasing and len(df) == len(wdo_lines) - 1


# --------------------------------------------------------------------------- symbols


@pytest.fixture(scope="module")
def three_contracts():
    """Header + 3 bars of each WDO contract in the sample, plus 3 WIN bars."""
    with gzip.open(sample_path("wdo"), "rt") as fh:
        all_lines = fh.read().splitlines()
    picked = all_lines[1:4] + all_lines[8861:8864] + all_lines[20827:20830]
    win = [line.replace("WDOZ21", "WINZ21") for line in all_lines[1:4]]
    return [all_lines[0]] + picked + win


def test_futures_root_keeps_every_contract(write_csv, three_contracts):
    path = write_csv(three_contracts, "contracts.csv")
    # three bars per contract are no whole sessions: the calendar check would say so
    with pytest.warns(CalendarWarning, match="sessions ending early on 2021-11-30"):
        load_bars(path, symbol="WDO")
    df = _load_quiet(path, symbol="WDO", check_calendar=False)
    assert df.attrs["bars"]["symbols"] == ["WDOZ21", "WDOF22", "WDOG22"]
    assert len(df) == 9 and df.index.is_monotonic_increasing
    assert df.attrs["bars"]["calendar"] == "B3"
    df = _load_quiet(path, symbol="wdo", check_calendar=False)  # case-insensitive
    assert df.attrs["bars"]["symbols"] == ["WDOZ21", "WDOF22", "WDOG22"]
    one = _load_quiet(path, symbol="WDOF22")
    assert set(one["symbol"]) == {"WDOF22"} and len(one) == 3
    assert one.index[0] == pd.Timestamp("2021-11-30 09:00", tz="America/Sao_Paulo")
    win = _load_quiet(path, symbol="WIN")
    assert set(win["symbol"]) == {"WINZ21"}


def test_unknown_symbol_suggests(write_csv, three_contracts, fil_lines):
    with pytest.raises(ParameterError) as info:
        load_bars(write_csv(three_contracts, "contracts.csv"), symbol="WDOZ22")
    msg = str(info.value)
    assert "`symbol`" in msg and "'WDOZ22'" in msg and "WDOF22" in msg and "Did you mean" in msg
    with pytest.raises(ParameterError, match="Did you mean 'FILUSDT'"):
        load_bars(write_csv(fil_lines, "FILUSDT.csv"), symbol="FILUSD")
    with pytest.raises(TypeError):
        load_bars(write_csv(fil_lines, "FILUSDT.csv"), symbol="")


def test_symbol_values_are_stripped(write_csv, wdo_lines):
    lines = [wdo_lines[0]] + [line.replace("WDOZ21", " WDOZ21 ") for line in wdo_lines[1:]]
    df = _load_quiet(write_csv(lines), symbol="WDOZ21")
    assert set(df["symbol"]) == {"WDOZ21"}


# --------------------------------------------------------------------------- formats and paths


def test_gzip_csv_equals_plain(write_csv, fil_lines):
    plain = _load_quiet(write_csv(fil_lines, "FILUSDT.csv"))
    gz = _load_quiet(write_csv(fil_lines, "FILUSDT.csv.gz"))
    pd.testing.assert_frame_equal(_without_sources(gz), _without_sources(plain))
    assert gz.attrs["bars"]["sources"] == ["FILUSDT.csv.gz"]
    bad = set_field(fil_lines, 8, "high", "4.0")
    with pytest.raises(BarDataError) as info:
        load_bars(write_csv(bad, "FILUSDT.csv.gz"))
    msg = assert_names(info, BarDataError, column="high", line=8, timestamp="2024-02-01 00:06:00")
    assert "FILUSDT.csv.gz" in msg


def test_parquet_round_trip(tmp_path, write_csv, fil_lines, wdo_lines):
    pytest.importorskip("pyarrow")
    for lines, name in ((fil_lines, "FILUSDT"), (wdo_lines, "WDOZ21")):
        df = _load_quiet(write_csv(lines, f"{name}.csv"))
        path = tmp_path / f"{name}.parquet"
        df.to_parquet(path)  # timestamps stay in the index
        back = _load_quiet(path)
        pd.testing.assert_frame_equal(_without_sources(back), _without_sources(df))
        df.reset_index().to_parquet(tmp_path / f"{name}_col.parquet")  # tz-aware column
        back = _load_quiet(tmp_path / f"{name}_col.parquet")
        pd.testing.assert_frame_equal(_without_sources(back), _without_sources(df))


def test_parquet_with_text_or_naive_timestamps(tmp_path, write_csv, wdo_lines):
    pytest.importorskip("pyarrow")
    csv = _load_quiet(write_csv(wdo_lines))
    raw = pd.read_csv(write_csv(wdo_lines))
    raw.to_parquet(tmp_path / "text.parquet")
    pd.testing.assert_frame_equal(_without_sources(_load_quiet(tmp_path / "text.parquet")), _without_sources(csv))
    raw.assign(timestamp=pd.to_datetime(raw["timestamp"])).to_parquet(tmp_path / "naive.parquet")
    pd.testing.assert_frame_equal(_without_sources(_load_quiet(tmp_path / "naive.parquet")), _without_sources(csv))


def test_parquet_errors_name_the_row(tmp_path, write_csv, wdo_lines):
    pytest.importorskip("pyarrow")
    raw = pd.read_csv(write_csv(set_field(wdo_lines, 6, "high", "5560.0")))
    raw.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(BarDataError) as info:
        load_bars(tmp_path / "bad.parquet")
    msg = assert_names(info, BarDataError, column="high", line=5, kind="row", timestamp="2021-11-05 12:51:00")
    assert "bad.parquet" in msg


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "x.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(BarDataError, match="x.parquet"):
        load_bars(path)


def test_folder_of_files(tmp_path, write_csv, wdo_lines):
    whole = _load_quiet(write_csv(wdo_lines, "whole/WDOZ21.csv"))
    write_csv(wdo_lines[:5], "month/WDOZ21_a.csv")
    write_csv([wdo_lines[0]] + wdo_lines[5:], "month/WDOZ21_b.csv.gz")
    (tmp_path / "month" / "README.md").write_text("not bars")
    df = _load_quiet(tmp_path / "month")
    assert df.attrs["bars"]["sources"] == ["WDOZ21_a.csv", "WDOZ21_b.csv.gz"]
    pd.testing.assert_frame_equal(_without_sources(df), _without_sources(whole))
    lst = _load_quiet([tmp_path / "month" / "WDOZ21_a.csv", str(tmp_path / "month" / "WDOZ21_b.csv.gz")])
    pd.testing.assert_frame_equal(lst, df)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty"):
        load_bars(tmp_path / "empty")


def test_bad_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_bars(tmp_path / "nope.csv")
    with pytest.raises(ParameterError):
        load_bars([])
    with pytest.raises(TypeError):
        load_bars(3)
    with pytest.raises(TypeError):
        load_bars([3])


def test_optional_column_in_only_some_files(write_csv, wdo_lines):
    a = write_csv(wdo_lines[:5], "a.csv")
    b_lines = [",".join(f for j, f in enumerate(line.split(",")) if j != 6) for line in [wdo_lines[0]] + wdo_lines[5:]]
    b = write_csv(b_lines, "b.csv")
    with pytest.warns(MissingOptionalColumnsWarning, match="`vwap`.*b.csv"):
        df = load_bars([a, b])
    assert "vwap" not in df.columns and len(df) == len(wdo_lines) - 1
    assert "vwap" in df.attrs["bars"]["missing_optional_columns"]


def test_column_names_with_case_and_spaces(write_csv, wdo_lines, fil_lines):
    clean = _load_quiet(write_csv(wdo_lines, "clean.csv"))
    header = " Timestamp , OPEN,High ,low,  Close,Volume ,VWAP,Symbol"
    df = _load_quiet(write_csv([header] + wdo_lines[1:]))
    pd.testing.assert_frame_equal(_without_sources(df), _without_sources(clean))
    header = "TimeStamp,Open,High,Low,Close,Volume,Trades,Buy Volume,sell-volume, VWAP ,SYMBOL"
    df = _load_quiet(write_csv([header] + fil_lines[1:], "FILUSDT.csv"))
    assert {"buy_volume", "sell_volume", "trades", "vwap"} <= set(df.columns)


def test_column_names_that_collide(write_csv, wdo_lines):
    header = wdo_lines[0].replace("vwap", "Close")
    with pytest.raises(BarDataError) as info:
        load_bars(write_csv([header] + wdo_lines[1:]))
    assert "`close`" in str(info.value) and "'Close'" in str(info.value)


def test_spaces_around_values(write_csv, wdo_lines):
    clean = _load_quiet(write_csv(wdo_lines, "clean.csv"))
    lines = [wdo_lines[0]] + [line.replace(",", " , ") for line in wdo_lines[1:]]
    df = _load_quiet(write_csv(lines))
    pd.testing.assert_frame_equal(_without_sources(df), _without_sources(clean))


# --------------------------------------------------------------------------- validate_bars


def test_validate_bars_on_a_frame(write_csv, wdo_lines):
    df = _load_quiet(write_csv(wdo_lines))
    again = validate_bars(df)
    pd.testing.assert_frame_equal(_without_sources(again), _without_sources(df))
    assert again.attrs["bars"]["sources"] == []
    bad = df.copy()
    bad.iloc[2, bad.columns.get_loc("low")] = 5570.0
    before = bad.copy()
    with pytest.raises(BarDataError) as info:
        validate_bars(bad)
    msg = assert_names(info, BarDataError, column="low", line=3, kind="row", timestamp="2021-11-05 12:49:00")
    assert "the frame" in msg
    pd.testing.assert_frame_equal(bad, before)  # input untouched


def test_validate_bars_boolean_and_bad_inputs(write_csv, wdo_lines):
    df = _load_quiet(write_csv(wdo_lines)).reset_index()
    with pytest.raises(BarDataTypeError) as info:
        validate_bars(df.assign(volume=df["volume"] > 3000))
    assert_names(info, BarDataTypeError, column="volume", line=1, kind="row")
    mixed = df.assign(trades=pd.Series([1, 2, True, 4, 5, 6, 7, 8], dtype=object))
    with pytest.raises(BarDataTypeError) as info:
        validate_bars(mixed)
    assert_names(info, BarDataTypeError, column="trades", line=3, kind="row", timestamp="2021-11-05 12:49:00")
    with pytest.raises(TypeError):
        validate_bars("bars.csv")
    with pytest.raises(EmptyDataError):
        validate_bars(df.iloc[:0])
    with pytest.raises(MissingColumnsError, match="`open`"):
        validate_bars(df.drop(columns="open"))


def test_missing_symbol_value(write_csv, wdo_lines):
    lines = set_field(wdo_lines, 4, "symbol", "")
    with pytest.raises(BarDataError) as info:
        load_bars(write_csv(lines), symbol="WDO")
    assert_names(info, BarDataError, column="symbol", line=4, timestamp="2021-11-05 12:49:00")


def test_bar_length_is_recorded_at_load_time():
    from ml.data import load_bars, sample_path

    assert load_bars(sample_path("filusdt")).attrs["bars"]["bar_minutes"] == 1.0


def test_vwap_outside_the_bar_range_warns_naming_the_row(tmp_path):
    import pytest as _pytest

    from ml.data import load_bars
    from ml.exceptions import DataQualityWarning

    f = tmp_path / "bars.csv"
    f.write_text("timestamp,open,high,low,close,volume,vwap,symbol\n"
                 "2024-02-01 00:00:00,10,11,9,10,5,10.2,X\n"
                 "2024-02-01 00:01:00,10,11,9,10,5,50,X\n")
    with _pytest.warns(DataQualityWarning, match=r"`vwap` lies outside \[low, high\] on 1 bar.*line 3.*vwap=50"):
        bars = load_bars(f, calendar="24/7")
    assert bars["vwap"].iloc[1] == 50.0
