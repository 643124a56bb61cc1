"""The one validator of in-memory bar frames, shared by every public function that takes bars.

``ml.data.load_bars`` / ``validate_bars`` check files and raw frames row by row;
the functions downstream (resampling, continuous contracts, features, labels)
take their output and only need to confirm its shape: a DataFrame indexed by
tz-aware bar open times, with the columns they read, not empty and, where the
function needs it, strictly increasing in time.  That check lives here, once.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from ml._checks import close_match
from ml.data._schema import REQUIRED_COLUMNS
from ml.exceptions import BarDataError, BarDataTypeError, EmptyDataError, MissingColumnsError, ParameterError

__all__ = ["BAR_COLUMNS", "bar_minutes_of", "check_bar_frame", "check_bar_index", "per_bar_values"]

#: Columns every bar frame has once loaded: the schema's required ones but the index.
BAR_COLUMNS = tuple(c for c in REQUIRED_COLUMNS if c != "timestamp")


def check_bar_index(index, *, name: str = "bars.index", sorted_unique: bool = True) -> pd.DatetimeIndex:
    """Check that ``index`` holds tz-aware bar open times, optionally strictly increasing.

    Parameters
    ----------
    index : object
        The index to check, e.g. ``bars.index``.
    name : str, default "bars.index"
        How messages name it (the caller's argument).
    sorted_unique : bool, default True
        Also demand strictly increasing timestamps (sorted, no duplicates).

    Returns
    -------
    DatetimeIndex
        ``index`` itself, unchanged.

    Raises
    ------
    BarDataTypeError
        ``index`` is not a DatetimeIndex (both a :class:`TypeError` and a
        :class:`~ml.exceptions.BarDataError`).
    BarDataError
        Naive timestamps, a missing timestamp (NaT), or, with
        ``sorted_unique``, a timestamp not later than the one before it; the
        message gives its 0-based position and value, ``row`` is 1-based.

    Examples
    --------
    >>> import pandas as pd
    >>> idx = pd.DatetimeIndex(["2025-02-03 09:00", "2025-02-03 09:02", "2025-02-03 09:01"], tz="UTC")
    >>> check_bar_index(idx, sorted_unique=False) is idx
    True
    >>> try:
    ...     check_bar_index(idx)
    ... except BarDataError as err:
    ...     print(err)
    `bars.index` must be strictly increasing; out-of-order timestamp 2025-02-03 09:01:00+00:00 at position 2 (0-based; 1 such row); sort and deduplicate the bars first (ml.data.validate_bars does both).
    """
    if not isinstance(index, pd.DatetimeIndex):
        raise BarDataTypeError(
            f"`{name}` must be a DatetimeIndex of bar open times, got {type(index).__name__}; "
            "load bars with ml.data.load_bars or set the index to the timestamps.",
            column="timestamp",
        )
    if index.tz is None:
        raise BarDataError(
            f"`{name}` must be timezone-aware, got naive timestamps; localise them first "
            "(e.g. .tz_localize('America/Sao_Paulo') or .tz_localize('UTC')).",
            column="timestamp",
        )
    nat = np.flatnonzero(index.isna())
    if len(nat):
        i = int(nat[0])
        raise BarDataError(
            f"`{name}` must hold a timestamp for every bar; NaT at position {i} (0-based; "
            f"{len(nat)} such row{'s' if len(nat) > 1 else ''}); drop or fix those bars first.",
            column="timestamp", row=i + 1,
        )
    if sorted_unique and len(index) > 1:
        step = np.diff(index.asi8)
        bad = np.flatnonzero(step <= 0)
        if len(bad):
            i = int(bad[0]) + 1
            what = "duplicate" if step[bad[0]] == 0 else "out-of-order"
            raise BarDataError(
                f"`{name}` must be strictly increasing; {what} timestamp {index[i]} at position {i} "
                f"(0-based; {len(bad)} such row{'s' if len(bad) > 1 else ''}); sort and deduplicate "
                "the bars first (ml.data.validate_bars does both).",
                column="timestamp", row=i + 1, timestamp=index[i],
            )
    return index


def check_bar_frame(bars, columns=BAR_COLUMNS, *, name: str = "bars", sorted_unique: bool = True) -> None:
    """Check that ``bars`` is a non-empty frame of bars with ``columns``.

    Checks, in this order: a DataFrame; its index as :func:`check_bar_index`
    checks it (named ``<name>.index``, order only with ``sorted_unique``);
    ``columns`` present; at least one row.  Values are not checked: that is
    the loader's job, or the caller's where it needs more (e.g. prices > 0).

    Parameters
    ----------
    bars : object
        The frame to check.
    columns : sequence of str, default ``("open", "high", "low", "close", "volume")``
        Columns the caller reads.
    name : str, default "bars"
        How messages name the argument.
    sorted_unique : bool, default True
        Demand strictly increasing timestamps.  Pass False where several
        symbols share timestamps or the caller sorts the rows itself.

    Raises
    ------
    TypeError
        ``bars`` is not a DataFrame.
    BarDataTypeError
        Its index is not a DatetimeIndex (a TypeError and a BarDataError).
    BarDataError
        Naive or missing timestamps; with ``sorted_unique``, a timestamp not
        later than the one before it (message: 0-based position and value).
    MissingColumnsError
        Some of ``columns`` are absent (all of them are named).
    EmptyDataError
        No rows.

    Examples
    --------
    >>> import pandas as pd
    >>> bars = pd.DataFrame({"close": [1.0]}, index=pd.DatetimeIndex(["2025-02-03 09:00"], tz="UTC"))
    >>> check_bar_frame(bars, ("close",))
    >>> try:
    ...     check_bar_frame(bars, ("open", "close"))
    ... except MissingColumnsError as err:
    ...     print(err)
    `bars` lacks column(s) `open`; columns found: close.
    """
    if not isinstance(bars, pd.DataFrame):
        raise TypeError(
            f"`{name}` must be a pandas DataFrame, got {type(bars).__name__}; "
            "load bars with ml.data.load_bars or ml.data.validate_bars."
        )
    check_bar_index(bars.index, name=f"{name}.index", sorted_unique=sorted_unique)
    missing = [c for c in columns if c not in bars.columns]
    if missing:
        found = [str(c) for c in bars.columns]
        near = [(c, close_match(c, found)) for c in missing]
        hints = [f"{m!r} for {c!r}" for c, m in near if m is not None]
        hint = f" Did you mean {', '.join(hints)}?" if hints else ""
        raise MissingColumnsError(
            f"`{name}` lacks column(s) {', '.join('`%s`' % c for c in missing)}; "
            f"columns found: {', '.join(found) if found else '(none)'}.{hint}",
            column=missing[0],
        )
    if len(bars) == 0:
        raise EmptyDataError(f"`{name}` holds no rows (the frame is empty); pass at least one bar.")


def bar_minutes_of(bars: pd.DataFrame) -> float:
    """Bar length in minutes: ``bars.attrs["bars"]["bar_minutes"]`` when the
    loader recorded it, else the median spacing of consecutive bars.

    The bar length is a property of the data set (its declared frequency), not
    a statistic learnt from it; pass it explicitly where rows may be cut.
    """
    rec = (getattr(bars, "attrs", {}) or {}).get("bars", {}).get("bar_minutes")
    if rec:
        return float(rec)
    steps = np.diff(bars.index.as_unit("ns").asi8) / 60e9  # any unit: pandas 3 may hold us
    steps = steps[steps > 0]
    return float(np.median(steps)) if len(steps) else 1.0


def per_bar_values(values, index: pd.DatetimeIndex, name: str, *, hint: str = "") -> np.ndarray:
    """``values`` (a Series aligned by timestamp, or a 1-D array in bar order) as
    a float64 array with one value per bar of ``index``; NaN stays NaN.

    A Series may hold more timestamps than ``index`` (it is reindexed) but
    not fewer: a bar without a value is an error naming the first one.
    ``hint`` is appended to the messages (e.g. what NaN means to the caller).
    """
    if isinstance(values, pd.DataFrame):
        raise TypeError(f"`{name}` must be a Series or 1-D array with one value per bar, got a DataFrame; "
                        f"pass one column.{hint}")
    if isinstance(values, pd.Series):
        if not values.index.equals(index):
            missing = index.difference(values.index)
            if len(missing):
                raise ParameterError(f"`{name}` has no value for {len(missing)} bar(s), the first at "
                                     f"{missing[0]}; align it with the bars.{hint}")
            values = values.reindex(index)
        return values.to_numpy(dtype=np.float64, na_value=np.nan)
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.shape[0] != len(index):
        raise ParameterError(f"`{name}` must be 1-D with one value per bar: {len(index)} bars, got "
                             f"{arr.shape[0] if arr.ndim == 1 else 'shape ' + str(arr.shape)} values "
                             f"for {len(index)} bars.{hint}")
    return arr
