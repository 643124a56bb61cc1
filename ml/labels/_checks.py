"""Input validation, session segments and kernel dispatch shared by :mod:`ml.labels`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml._checks import check_real
from ml.data import bars_calendar
from ml.data._frame import bar_minutes_of, check_bar_frame, check_bar_index
from ml.exceptions import BarDataError, ParameterError
from ml.labels import _labels_nb, _labels_py

#: Test-only switch: run the plain-Python twins instead of the numba kernels.
PURE_PYTHON = False

BARRIER_NAMES = np.array([None, "upper", "lower", "vertical", "both"], dtype=object)


def kernel(name: str):
    """The numba kernel ``<name>_nb``, or its twin ``<name>_py`` when :data:`PURE_PYTHON`."""
    if PURE_PYTHON:
        return getattr(_labels_py, name + "_py")
    return getattr(_labels_nb, name + "_nb")


# --------------------------------------------------------------------------- scalars
def check_float(name: str, value, *, allow_none: bool = False, hint: str = "") -> float:
    """A finite real >= 0 (``None`` -> 0.0 when allowed)."""
    value = check_real(name, value, lo=0.0, allow_none=allow_none, hint=hint)
    return 0.0 if value is None else value


# --------------------------------------------------------------------------- bars
def check_index(name: str, index) -> pd.DatetimeIndex:
    """A tz-aware, strictly increasing DatetimeIndex."""
    return check_bar_index(index, name=name)


def check_bars(bars, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Validate ``bars`` and return its ``columns`` as float64 arrays."""
    check_bar_frame(bars, columns)
    index = bars.index
    out = {}
    for c in columns:
        s = bars[c]
        if pd.api.types.is_bool_dtype(s.dtype) or not pd.api.types.is_numeric_dtype(s.dtype):
            raise TypeError(f"`bars` column `{c}` must be numeric, got dtype {s.dtype}.")
        a = s.to_numpy(dtype="float64", na_value=np.nan)
        bad = np.flatnonzero(~(a > 0) | ~np.isfinite(a))
        if len(bad):
            i = int(bad[0])
            raise BarDataError(
                f"`bars` column `{c}` must hold finite prices > 0, got {float(a[i])!r} at {index[i]} "
                f"(position {i}; {len(bad)} such rows); bad prices are never filled or dropped silently.",
                column=c, row=i, timestamp=index[i],
            )
        out[c] = a
    return out


def check_series(name: str, value, index: pd.DatetimeIndex) -> np.ndarray:
    """A per-bar Series (same index as the bars) or 1-D array of length n, as float64."""
    if isinstance(value, pd.DataFrame):
        raise TypeError(f"`{name}` must be a Series or 1-D array aligned with `bars`, got a DataFrame.")
    if isinstance(value, pd.Series):
        if not value.index.equals(index):
            raise ParameterError(
                f"`{name}` must have the same index as `bars` ({len(index)} rows from {index[0]}); "
                f"got {len(value)} rows; align it first (e.g. `{name}.reindex(bars.index)`), "
                "rows are never dropped or filled silently."
            )
        value = value.to_numpy()
    arr = np.asarray(value)
    if arr.ndim != 1 or len(arr) != len(index):
        raise ParameterError(
            f"`{name}` must be 1-D with one value per bar ({len(index)}), got shape {arr.shape}."
        )
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == object):
        raise TypeError(f"`{name}` must be numeric, got dtype {arr.dtype}.")
    try:
        return np.asarray(pd.to_numeric(pd.Series(arr), errors="raise"), dtype="float64")
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`{name}` must be numeric: {exc}") from exc


# --------------------------------------------------------------------------- sessions
def segments(bars: pd.DataFrame, calendar, cross_session: bool):
    """Session/contract segments of ``bars``.

    Returns
    -------
    seg_end : ndarray of int64
        For every bar, the position of the last bar a label started there may
        use: the last bar of its session (or of the data when
        ``cross_session``), never past a change of ``symbol`` or
        ``contract`` (futures roll).
    first_in_session : ndarray of bool
        True on the first bar of each session or contract (for volatility).
    open_end : bool
        Whether the data may go on after the last bar: always with
        ``cross_session``; otherwise when the last bar closes before its
        session's end (bar length from :func:`ml.data.bar_minutes_of`).
    calendar_name : str
    bars_to_close : ndarray of float64
        Whole bars after each bar until its session's close by the calendar
        (not by the rows present, so that it is known at decision time);
        ``inf`` with ``cross_session``.
    """
    index = bars.index
    n = len(index)
    cal = bars_calendar(bars, calendar)
    info = cal.sessions(index)
    new_symbol = np.zeros(n, dtype=bool)
    # A roll ends every label: a change of `symbol` in raw bars, or of the
    # traded `contract` in a continuous series (whose `symbol` is the root).
    for col in ("symbol", "contract"):
        if col in bars.columns:
            sym = bars[col].to_numpy()
            new_symbol[1:] |= sym[1:] != sym[:-1]
    first_in_session = info.first_in_session | new_symbol
    boundary = new_symbol.copy() if cross_session else first_in_session.copy()
    boundary[0] = True
    starts = np.flatnonzero(boundary)
    nxt = np.searchsorted(starts, np.arange(n), side="right")
    ends = np.append(starts[1:] - 1, n - 1)
    seg_end = ends[nxt - 1].astype(np.int64)
    if cross_session or n < 2:
        open_end = True
    else:
        ns = index.as_unit("ns").asi8
        step = int(round(bar_minutes_of(bars) * 60e9))
        open_end = bool(ns[-1] + step < info.end[-1])
    if cross_session:
        bars_to_close = np.full(n, np.inf)
    else:
        bars_to_close = np.floor(info.minutes_to_close / bar_minutes_of(bars)) - 1.0
    return seg_end, first_in_session, open_end, cal.name, bars_to_close


def wrap_t1(index: pd.DatetimeIndex, exit_idx: np.ndarray) -> pd.DatetimeIndex:
    """Timestamps of the exit bars, NaT where ``exit_idx`` is -1."""
    valid = exit_idx >= 0
    return index.take(np.where(valid, exit_idx, 0)).where(valid)


def barrier_names(codes: np.ndarray, index: pd.Index) -> pd.Series:
    """Barrier codes of the kernels as strings (missing where undefined)."""
    return pd.Series(BARRIER_NAMES[codes], index=index, dtype="str")
