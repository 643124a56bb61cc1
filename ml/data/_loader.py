"""Reading and validating bar files (CSV, gzip CSV, Parquet)."""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ml._checks import close_match, did_you_mean
from ml.data._calendar import SessionCalendar, get_calendar
from ml.data._checks_calendar import check_sessions, session_check_message
from ml.data._instruments import (
    CUSTOM_EXAMPLE,
    INSTRUMENTS,
    Instrument,
    get_instrument,
    instrument_for,
    match_instrument,
)
from ml.data._layouts import read_bar_csv
from ml.data._schema import COLUMNS, NUMERIC_COLUMNS, OPTIONAL_COLUMNS, PRICE_COLUMNS, REQUIRED_COLUMNS
from ml.exceptions import (
    BarDataError,
    BarDataTypeError,
    CalendarMismatchError,
    CalendarWarning,
    DataQualityWarning,
    EmptyDataError,
    MissingColumnsError,
    MissingOptionalColumnsWarning,
    NonIntradayDataError,
    ParameterError,
    UnknownInstrumentError,
    UnsortedDataWarning,
)

__all__ = ["load_bars", "validate_bars"]

_SUFFIXES = (".csv", ".csv.gz", ".gz", ".parquet", ".pq")
_MONTH_CODE = re.compile(r"^[FGHJKMNQUVXZ]\d{2}$")
_OFFSET = re.compile(r"(?:Z|[+-]\d\d:?\d\d)$")


@dataclass
class _Origin:
    """Where each row came from, to name it in error messages."""

    files: list[str]
    file_idx: np.ndarray  # int, per row
    line: np.ndarray  # int, per row: 1-based file line (CSV) or 1-based row (Parquet/frame)
    kind: list[str]  # per file: "line" for CSV, "row" otherwise

    def where(self, i: int) -> str:
        f = int(self.file_idx[i])
        name = os.path.basename(self.files[f]) if self.files[f] else "the frame"
        return f"{self.kind[f]} {int(self.line[i])} of {name}"

    def take(self, mask_or_idx) -> "_Origin":
        return _Origin(self.files, self.file_idx[mask_or_idx], self.line[mask_or_idx], self.kind)


def _expand_paths(path_or_paths) -> list[Path]:
    if isinstance(path_or_paths, (str, os.PathLike)):
        items = [path_or_paths]
    elif isinstance(path_or_paths, (list, tuple)):
        items = list(path_or_paths)
    else:
        raise TypeError(
            "`path_or_paths` must be a path or a list of paths, "
            f"got {type(path_or_paths).__name__}."
        )
    if not items:
        raise ParameterError("`path_or_paths` is an empty list; give at least one file.")
    out: list[Path] = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            raise TypeError(f"every path must be a str or Path, got {type(item).__name__}: {item!r}.")
        p = Path(item).expanduser()
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.name.lower().endswith(_SUFFIXES))
            if not found:
                raise FileNotFoundError(f"folder {str(p)!r} holds no .csv, .csv.gz or .parquet file.")
            out.extend(found)
        elif p.exists():
            out.append(p)
        else:
            raise FileNotFoundError(f"bar file {str(p)!r} does not exist.")
    return out


def _normalise_columns(df: pd.DataFrame, source: str | None) -> pd.DataFrame:
    """Lower-case column names, strip them and turn inner spaces/hyphens into ``_``."""
    names = [re.sub(r"[\s\-]+", "_", str(c).strip().lower()) for c in df.columns]
    seen: dict[str, str] = {}
    for raw, name in zip(df.columns, names):
        if name in seen:
            where = f" in {os.path.basename(source)}" if source else ""
            raise BarDataError(
                f"columns {seen[name]!r} and {str(raw)!r}{where} both mean `{name}`; "
                "keep only one of them.", column=name, source=source,
            )
        seen[name] = str(raw)
    df.columns = names
    return df


def _read_one(path: Path, sep=None, decimal=None) -> tuple[pd.DataFrame, str, np.ndarray, dict]:
    """Read one file; return the frame, "line"/"row", each row's line/row number and its layout."""
    name = path.name.lower()
    if path.stat().st_size == 0:
        raise EmptyDataError(f"bar file {str(path)!r} is empty (0 bytes).", source=str(path))
    if name.endswith((".parquet", ".pq")):
        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types
            raise BarDataError(f"cannot read Parquet file {str(path)!r}: {exc}", source=str(path)) from exc
        # A frame written by load_bars keeps its timestamps in the index.
        if isinstance(df.index, pd.DatetimeIndex) and "timestamp" not in [
                str(c).strip().lower() for c in df.columns]:
            df = df.rename_axis("timestamp").reset_index()
        else:
            df = df.reset_index(drop=True)
        kind = "row"
        lines = np.arange(len(df), dtype=np.int64) + 1  # first row is row 1
        layout = {"format": "parquet"}
    else:
        try:
            df, lines, layout = read_bar_csv(path, sep=sep, decimal=decimal)
        except (UnicodeDecodeError, OSError, EOFError) as exc:
            raise BarDataError(f"cannot parse {str(path)!r} as CSV: {exc}", source=str(path)) from exc
        kind = "line"
        blank = df.isna().all(axis=1).to_numpy()
        if blank.any():
            df = df.loc[~blank].reset_index(drop=True)
            lines = lines[~blank]
    df = _normalise_columns(df, str(path))
    if len(df) == 0:
        raise EmptyDataError(f"bar file {str(path)!r} has a header but no bars.", source=str(path))
    return df, kind, lines, layout


def load_bars(
    path_or_paths,
    *,
    symbol: str | None = None,
    tz: str | None = None,
    calendar: str | SessionCalendar | None = None,
    instrument: str | Instrument | None = None,
    strict: bool = False,
    nan: str = "raise",
    volume_tolerance: float = 1e-6,
    sep: str | None = None,
    decimal: str | None = None,
    bar_time: str = "open",
    intraday: bool = True,
    outside_session: str = "keep",
    check_calendar: bool = True,
) -> pd.DataFrame:
    """Load intraday bars from CSV (plain or gzip) or Parquet files and validate them.

    Parameters
    ----------
    path_or_paths : str, Path, or list of them
        Files, or folders whose ``.csv``, ``.csv.gz`` and ``.parquet`` files are
        all read.  Several files are concatenated (e.g. one per month or contract).
    symbol : str, optional
        Keep only this symbol.  A futures root such as ``"WDO"`` keeps every
        dated contract of that root (``WDOZ21``, ``WDOF22``, ...).  When the
        files have no ``symbol`` column it names the bars instead (default: the
        file name up to the first ``_`` or ``.``).
    tz : str, optional
        Time zone of timestamps written without a UTC offset.  Default: the
        calendar's time zone.  Timestamps with an offset are converted to it.
    calendar : str or SessionCalendar, optional
        Session calendar (:data:`ml.data.CALENDARS`: ``"B3"``, ``"B3_INDEX"``,
        ``"B3_EQUITIES"``, ``"CME_FX"``, ``"CME_EQUITY"``, ``"CME_ENERGY"``,
        ``"XNYS"``, ``"24/7"``).  Default: the calendar of ``instrument``, else
        of the instrument preset the symbol maps to
        (:func:`ml.data.instrument_for`); a symbol that maps to no preset is an
        error (:class:`~ml.exceptions.UnknownInstrumentError`), never a guess.
    instrument : str or Instrument, optional
        The instrument preset (or a custom :class:`~ml.data.Instrument`) of the
        bars, for symbols that map to none (e.g. ``"US_STOCK"`` for ORCL); it
        gives the calendar and is recorded in ``attrs``.  A preset that
        contradicts the symbol's is an error.
    strict : bool, default False
        Unsorted rows raise :class:`BarDataError` instead of being sorted with a
        :class:`UnsortedDataWarning`.
    nan : {"raise", "drop"}, default "raise"
        What to do with rows holding NaN in a used column.  ``"drop"`` drops
        them with a :class:`DataQualityWarning` and records how many in
        ``df.attrs["bars"]["dropped_nan_rows"]``.  A missing ``vwap`` on a bar
        with zero volume is not NaN data: VWAP is undefined there.
    volume_tolerance : float, default 1e-6
        Relative tolerance for ``buy_volume + sell_volume == volume``.
    sep, decimal : str, optional
        CSV separator and decimal mark; default: detected per file (``,``
        ``;`` tab ``|``; a decimal comma such as ``5.553,500``).  ProfitChart and
        MetaTrader 5 exports are recognised (see :mod:`ml.data._layouts`).
    bar_time : {"open", "close"}, default "open"
        What the file's timestamps mark.  ``"close"`` (bar-end stamps, e.g. many
        vendors' 1-minute files) shifts them back by one bar so that the index
        is the bar's open time, as everywhere in the toolkit.
    intraday : bool, default True
        Refuse bars of a whole session or more (daily, weekly) with
        :class:`~ml.exceptions.NonIntradayDataError`: the toolkit's strategies
        trade inside sessions.  False loads them for other uses.
    outside_session : {"keep", "drop"}, default "keep"
        Bars outside every session of the calendar (after-hours prints, bars
        on holidays): kept (``in_session`` is False for them) or dropped with
        a :class:`DataQualityWarning` and a count in ``attrs``.
    check_calendar : bool, default True
        Compare every session of the data with the calendar
        (:func:`ml.data._checks_calendar.check_sessions`): a
        :class:`~ml.exceptions.CalendarWarning` names the dates with bars
        after the close, before the open or on closed days, and the sessions
        starting late or ending early; a calendar that clearly does not fit
        (more than 10% of the bars outside its sessions, or most sessions
        starting late or ending early: a wrong calendar or time zone) raises
        :class:`~ml.exceptions.CalendarMismatchError`, naming a time zone or
        bar-time reading under which the bars fit when there is one.  The
        report is in ``attrs["bars"]["calendar_check"]``.

    Returns
    -------
    DataFrame
        Indexed by the tz-aware bar open time (``timestamp``), columns in
        schema order (``open, high, low, close, volume``, whichever of
        ``trades, buy_volume, sell_volume, vwap`` exist, and ``symbol``), all
        numeric columns float64.  ``df.attrs["bars"]`` holds the calendar
        name, time zone, source files and what was changed.

    Raises
    ------
    MissingColumnsError, EmptyDataError, BarDataError
        With the column and the first offending line and timestamp named.
    BarDataTypeError
        Booleans where numbers belong (also a :class:`TypeError`).
    ParameterError
        Unknown ``symbol`` (with a suggestion), calendar or time zone.
    UnknownInstrumentError
        No calendar given and the symbol maps to no instrument preset.
    NonIntradayDataError, CalendarMismatchError
        See ``intraday`` and ``check_calendar``.
    FileNotFoundError
        A path does not exist.

    Notes
    -----
    Column names are matched after stripping, lower-casing and turning inner
    spaces or hyphens into ``_`` (``" Buy Volume"`` is ``buy_volume``).  Blank
    lines are skipped but counted, so line numbers in messages are the file's.
    Timestamps must be ISO 8601 (or ``dd/mm/yyyy`` / ``yyyy.mm.dd`` dates of
    the platform exports); either every timestamp of a file carries a UTC
    offset or none does (a mix would read naive times in the wrong zone).
    Local times that a daylight-saving change skips or repeats are errors.
    An optional column present in only some of several files is dropped with a
    :class:`MissingOptionalColumnsWarning`.

    Examples
    --------
    >>> from ml.data import sample_path
    >>> bars = load_bars(sample_path("wdo"), symbol="WDOF22")
    >>> bars.attrs["bars"]["calendar"], str(bars.index.tz), len(bars)
    ('B3', 'America/Sao_Paulo', 11966)
    >>> bars.index[0]
    Timestamp('2021-11-30 09:00:00-0300', tz='America/Sao_Paulo')
    """
    paths = _expand_paths(path_or_paths)
    frames, files, kinds, idx, lines, layouts = [], [], [], [], [], []
    for k, path in enumerate(paths):
        df, kind, file_lines, layout = _read_one(path, sep=sep, decimal=decimal)
        layouts.append({"file": path.name, **layout})
        if "symbol" not in df.columns:
            df["symbol"] = symbol if symbol is not None else re.split(r"[_.]", path.name)[0]
        frames.append(df)
        files.append(str(path))
        kinds.append(kind)
        idx.append(np.full(len(df), k, dtype=np.int64))
        # CSV: header is line 1, first bar line 2; Parquet: first row is row 1.
        lines.append(file_lines)
        _check_required(df, str(path))
    if len(frames) > 1:
        # An optional column that only some files have would read as NaN in the
        # others: drop it everywhere, and say so.
        for c in OPTIONAL_COLUMNS:
            lacking = [os.path.basename(f) for f, d in zip(files, frames) if c not in d.columns]
            if lacking and len(lacking) < len(frames):
                warnings.warn(
                    f"optional column `{c}` is missing from {', '.join(lacking)}; "
                    "dropped it from every file.", MissingOptionalColumnsWarning, stacklevel=2,
                )
                frames = [d.drop(columns=c) if c in d.columns else d for d in frames]
    raw = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    origin = _Origin(files, np.concatenate(idx), np.concatenate(lines), kinds)
    return _validate(raw, origin, symbol=symbol, tz=tz, calendar=calendar, strict=strict,
                     nan=nan, volume_tolerance=volume_tolerance, instrument=instrument, bar_time=bar_time,
                     intraday=intraday, outside_session=outside_session, check_calendar=check_calendar,
                     layouts=layouts)


def validate_bars(
    bars: pd.DataFrame,
    *,
    symbol: str | None = None,
    tz: str | None = None,
    calendar: str | SessionCalendar | None = None,
    instrument: str | Instrument | None = None,
    strict: bool = False,
    nan: str = "raise",
    volume_tolerance: float = 1e-6,
    bar_time: str = "open",
    intraday: bool = True,
    outside_session: str = "keep",
    check_calendar: bool = True,
) -> pd.DataFrame:
    """Validate an in-memory frame of bars exactly as :func:`load_bars` does.

    ``bars`` has a ``timestamp`` column or a DatetimeIndex.  Offending rows are
    named by their 1-based position.  Returns a new, normalised frame; the input
    is not modified.  A frame without a ``symbol`` column is named ``symbol``
    (default ``"BARS"``, which maps to no preset: pass ``calendar`` or
    ``instrument``).
    """
    if not isinstance(bars, pd.DataFrame):
        raise TypeError(f"`bars` must be a pandas DataFrame, got {type(bars).__name__}.")
    df = _normalise_columns(bars.copy(), None)
    if "timestamp" not in df.columns and isinstance(df.index, pd.DatetimeIndex):
        df = df.rename_axis("timestamp").reset_index()
    else:
        df = df.reset_index(drop=True)
    if len(df) == 0:
        raise EmptyDataError("`bars` holds no rows.")
    if "symbol" not in df.columns:
        df["symbol"] = symbol if symbol is not None else "BARS"
    origin = _Origin([""], np.zeros(len(df), dtype=np.int64), np.arange(1, len(df) + 1), ["row"])
    return _validate(df, origin, symbol=symbol, tz=tz, calendar=calendar, strict=strict,
                     nan=nan, volume_tolerance=volume_tolerance, instrument=instrument, bar_time=bar_time,
                     intraday=intraday, outside_session=outside_session, check_calendar=check_calendar,
                     layouts=[{"format": "frame"}])


def _check_required(df: pd.DataFrame, source: str | None) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if not missing:
        return
    hints = []
    for c in missing:
        near = close_match(c, df.columns)
        if near is not None:
            hints.append(f"{near!r} for {c!r}?")
    hint = (" Did you mean " + ", ".join(hints)) if hints else ""
    src = os.path.basename(source) if source else "the frame"
    raise MissingColumnsError(
        f"missing required column(s) {', '.join('`%s`' % c for c in missing)} in {src}; "
        f"columns found: {', '.join(map(str, df.columns))}.{hint}",
        column=missing[0], source=source,
    )


def _fail(cls, msg, origin: _Origin, i: int, ts=None, column=None):
    where = origin.where(i)
    when = f" (timestamp {ts})" if ts is not None else ""
    raise cls(f"{msg} at {where}{when}", column=column, row=int(origin.line[i]),
              timestamp=ts, source=origin.files[int(origin.file_idx[i])] or None)


def _select_symbol(df: pd.DataFrame, origin: _Origin, symbol: str):
    if not isinstance(symbol, str) or not symbol:
        raise TypeError(f"`symbol` must be a non-empty str, got {symbol!r}.")
    sym = df["symbol"].astype(str)
    up, want = sym.str.upper(), symbol.strip().upper()
    mask = (up == want).to_numpy()
    if not mask.any():  # a futures root keeps its dated contracts
        tails = up.str.slice(len(want))
        mask = (up.str.startswith(want) & tails.str.match(_MONTH_CODE)).to_numpy()
    if not mask.any():
        present = sorted(sym.unique())
        shown = ", ".join(present[:10]) + (" ..." if len(present) > 10 else "")
        raise ParameterError(f"`symbol` {symbol!r} is not in the data; symbols present: {shown}."
                             f"{did_you_mean(want, present)}")
    return df.loc[mask].reset_index(drop=True), origin.take(mask)


def _parse_timestamps(col: pd.Series, origin: _Origin, tz: str) -> pd.DatetimeIndex:
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        ts = pd.DatetimeIndex(col).tz_convert(tz)
    elif pd.api.types.is_datetime64_dtype(col.dtype):
        ts = pd.DatetimeIndex(col)
    else:
        if pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
            cls = BarDataTypeError if pd.api.types.is_bool_dtype(col.dtype) else BarDataError
            _fail(cls, f"`timestamp` must be date-time text such as '2024-02-01 09:00:00', got "
                  f"{col.dtype} values such as {col.iloc[0]!r}", origin, 0, column="timestamp")
        text = col.astype("string").str.strip()
        missing = np.flatnonzero((text.isna() | (text == "")).to_numpy())
        if len(missing):
            i = int(missing[0])
            _fail(BarDataError, f"missing (empty) `timestamp` ({len(missing)} row(s) in all)",
                  origin, i, column="timestamp")
        offset = text.str.contains(_OFFSET).to_numpy(dtype=bool)
        has_offset = bool(offset[0])
        mixed = np.flatnonzero(offset != has_offset)
        if len(mixed):
            # Naive times would be read in one zone and offset times in another.
            i = int(mixed[0])
            this, first = ("no", "a") if has_offset else ("a", "no")
            _fail(BarDataError, f"`timestamp` {col.iloc[i]!r} has {this} UTC offset while the "
                  f"first row's {col.iloc[0]!r} has {first}; write every timestamp the same way",
                  origin, i, column="timestamp")
        try:
            ts = pd.DatetimeIndex(pd.to_datetime(text, errors="coerce", format="ISO8601", utc=has_offset))
        except (ValueError, TypeError):
            ts = pd.DatetimeIndex(pd.to_datetime(text, errors="coerce", format="mixed", utc=has_offset))
        bad = np.flatnonzero(np.asarray(ts.isna()))
        if len(bad):
            i = int(bad[0])
            _fail(BarDataError, f"unparsable `timestamp` {col.iloc[i]!r} ({len(bad)} bad in all; "
                  "expected ISO 8601 such as '2024-02-01 09:00:00' or '2024-02-01T12:00:00Z')",
                  origin, i, column="timestamp")
        if has_offset:
            ts = ts.tz_convert(tz)
    if ts.tz is None:
        try:
            ts = ts.tz_localize(tz, ambiguous="raise", nonexistent="raise")
        except Exception:  # pytz/zoneinfo raise different types
            local = ts.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
            bad = np.flatnonzero(np.asarray(local.isna()))
            i = int(bad[0]) if len(bad) else 0
            gap = pd.isna(ts[i:i + 1].tz_localize(tz, ambiguous=np.array([True]),
                                                  nonexistent="NaT")[0])
            what = ("does not exist (clocks jumped forward)" if gap
                    else "is ambiguous (clocks fell back, it occurs twice)")
            _fail(BarDataError, f"local `timestamp` {ts[i]} {what} in time zone {tz!r}; "
                  "write timestamps with a UTC offset or in UTC (tz='UTC')",
                  origin, i, ts=ts[i], column="timestamp")
    return ts.as_unit("ns")


_BOOL_TEXT = {"true", "false"}


def _to_numeric(df: pd.DataFrame, origin: _Origin, ts: pd.DatetimeIndex) -> None:
    for c in NUMERIC_COLUMNS:
        if c not in df.columns:
            continue
        s = df[c]
        if pd.api.types.is_bool_dtype(s.dtype):
            _fail(BarDataTypeError, f"`{c}` must be numeric, got booleans ({s.iloc[0]!r})",
                  origin, 0, ts=ts[0], column=c)
        if not pd.api.types.is_numeric_dtype(s.dtype):
            text = s.astype("string").str.strip()
            num = pd.to_numeric(text, errors="coerce")
            bad = np.flatnonzero((num.isna() & text.notna() & (text != "")).to_numpy())
            if len(bad):
                i = int(bad[0])
                v = s.iloc[i]
                is_bool = isinstance(v, (bool, np.bool_)) or str(v).strip().lower() in _BOOL_TEXT
                cls, what = (BarDataTypeError, "boolean") if is_bool else (BarDataError, "non-numeric")
                _fail(cls, f"{what} value {v!r} in column `{c}`, which must be numeric "
                      f"({len(bad)} such row(s))", origin, i, ts=ts[i], column=c)
            s = num
        s = s.astype("float64")
        inf = np.flatnonzero(np.isinf(s.to_numpy()))
        if len(inf):
            i = int(inf[0])
            _fail(BarDataError, f"`{c}` must be finite, got {float(s.iloc[i])!r}", origin, i, ts=ts[i], column=c)
        df[c] = s


def _resolve(df, instrument, calendar):
    """The instrument (or None) and calendar (or None) of the bars' symbols."""
    symbols = [str(x) for x in pd.unique(df["symbol"])]
    inst = None
    if instrument is not None:
        inst = get_instrument(instrument)
        for sym in symbols:
            instrument_for(sym, inst)  # a preset that contradicts the symbol's is an error
    else:
        found = {}
        for sym in symbols:
            m = match_instrument(sym)
            found.setdefault(None if m is None else m.name, (sym, m))
        if len(found) == 1:
            inst = next(iter(found.values()))[1]
        elif calendar is None:
            named = ", ".join(f"{sym} ({name or 'no preset'})" for name, (sym, _) in found.items())
            raise UnknownInstrumentError(f"the bars hold symbols of different instruments: {named}; load them "
                                         "separately (symbol=) or pass calendar= and instrument=.")
    if calendar is not None:
        cal = get_calendar(calendar)
    elif inst is not None:
        cal = get_calendar(inst.calendar)
    else:
        cal = None
    return inst, cal


def _step_minutes(ts_ns: np.ndarray, sym: np.ndarray) -> float:
    """The most common step between consecutive bars of a symbol, in minutes."""
    order = np.lexsort((ts_ns, sym))
    t, s = ts_ns[order], sym[order]
    steps = np.diff(t)[s[1:] == s[:-1]] if len(t) > 1 else np.zeros(0, dtype=np.int64)
    steps = steps[steps > 0]
    if len(steps) == 0:
        return 1.0
    vals, counts = np.unique(steps, return_counts=True)
    return float(vals[np.argmax(counts)] / 60e9)


def _validate(df, origin, *, symbol, tz, calendar, strict, nan, volume_tolerance, instrument=None,
              bar_time="open", intraday=True, outside_session="keep", check_calendar=True, layouts=None):
    if nan not in ("raise", "drop"):
        raise ParameterError(f"`nan` must be 'raise' or 'drop', got {nan!r}.{did_you_mean(str(nan), ('raise', 'drop'))}")
    if bar_time not in ("open", "close"):
        raise ParameterError(f"`bar_time` must be 'open' or 'close' (what the timestamps mark), got {bar_time!r}."
                             f"{did_you_mean(str(bar_time), ('open', 'close'))}")
    if outside_session not in ("keep", "drop"):
        raise ParameterError(f"`outside_session` must be 'keep' or 'drop', got {outside_session!r}."
                             f"{did_you_mean(str(outside_session), ('keep', 'drop'))}")
    for name, v in (("intraday", intraday), ("check_calendar", check_calendar)):
        if not isinstance(v, (bool, np.bool_)):
            raise TypeError(f"`{name}` must be True or False, got {v!r}.")

    if not (isinstance(volume_tolerance, (int, float)) and volume_tolerance >= 0):
        raise ParameterError(f"`volume_tolerance` must be a number >= 0, got {volume_tolerance!r}.")
    _check_required(df, ", ".join(sorted({os.path.basename(f) for f in origin.files if f})) or None)
    df["symbol"] = df["symbol"].astype("string").str.strip().fillna("").astype(str)
    blank = np.flatnonzero((df["symbol"] == "").to_numpy())
    if len(blank):
        i = int(blank[0])
        _fail(BarDataError, f"missing (empty) `symbol` ({len(blank)} row(s) in all)", origin, i,
              ts=df["timestamp"].iloc[i], column="symbol")
    if symbol is not None:
        df, origin = _select_symbol(df, origin, symbol)

    inst, cal = _resolve(df, instrument, calendar)
    if tz is not None:
        if not isinstance(tz, str):
            raise TypeError(f"`tz` must be an IANA time-zone name such as 'UTC', got {tz!r}.")
        try:
            pd.Timestamp("2020-01-01").tz_localize(tz)
        except Exception as exc:
            raise ParameterError(f"unknown time zone `tz`={tz!r}: {exc}") from exc
    if cal is None:
        # No calendar: daily bars are refused for what they are before the unknown symbol.
        probe = _parse_timestamps(df["timestamp"], origin, tz or "UTC")
        step = _step_minutes(probe.asi8, df["symbol"].to_numpy())
        if intraday and step >= 12 * 60:
            raise NonIntradayDataError(_non_intraday_message(origin, step, None))
        sym = str(df["symbol"].iloc[0])
        raise UnknownInstrumentError(
            f"unknown symbol {sym!r}: no instrument preset matches it, so its calendar and costs are unknown "
            f"(presets: {', '.join(INSTRUMENTS)}); pass calendar= and instrument= (--calendar / --contract "
            f"on the command line), or define it in the config: {CUSTOM_EXAMPLE}.")
    tz = tz if tz is not None else cal.tz

    ts = _parse_timestamps(df["timestamp"], origin, tz)
    _to_numeric(df, origin, ts)
    if "financial_volume" in df.columns:  # ProfitChart: money traded -> VWAP with the multiplier
        fin = pd.to_numeric(df.pop("financial_volume"), errors="coerce").to_numpy(dtype=np.float64)
        if "vwap" not in df.columns and inst is not None:
            vol = df["volume"].to_numpy(dtype=np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                df["vwap"] = np.where(vol > 0, fin / (vol * inst.multiplier), np.nan)
    bar_shift = 0.0
    if bar_time == "close":
        bar_shift = _step_minutes(ts.asi8, df["symbol"].to_numpy())
        ts = ts - pd.Timedelta(minutes=bar_shift)

    missing_optional = [c for c in OPTIONAL_COLUMNS if c not in df.columns]
    used = [c for c in NUMERIC_COLUMNS if c in df.columns]
    values = df[used].to_numpy(dtype="float64")
    isnan = np.isnan(values)
    if "vwap" in used:  # VWAP is undefined on a bar with no volume: not a NaN row.
        j = used.index("vwap")
        vol0 = values[:, used.index("volume")] == 0
        isnan[:, j] &= ~vol0
    nan_rows = isnan.any(axis=1)
    dropped = 0
    if nan_rows.any():
        first = int(np.flatnonzero(nan_rows)[0])
        cols = [used[j] for j in np.flatnonzero(isnan[first])]
        n_bad = int(nan_rows.sum())
        if nan == "raise":
            _fail(BarDataError, f"NaN in column(s) {', '.join('`%s`' % c for c in cols)}: "
                  f"{n_bad} row(s) hold NaN, never filled silently; pass nan='drop' (--nan drop) to drop them",
                  origin, first, ts=ts[first], column=cols[0])
        keep = ~nan_rows
        warnings.warn(
            f"dropped {n_bad} bar(s) holding NaN (first at {origin.where(first)}, "
            f"timestamp {ts[first]}, column {cols[0]!r}).",
            DataQualityWarning, stacklevel=3,
        )
        df, origin, ts, values = df.loc[keep].reset_index(drop=True), origin.take(keep), ts[keep], values[keep]
        dropped = n_bad
        if len(df) == 0:
            raise EmptyDataError("no bars left after dropping rows with NaN.")

    col = {c: values[:, k] for k, c in enumerate(used)}
    o, h, l, c_ = col["open"], col["high"], col["low"], col["close"]
    for name in PRICE_COLUMNS:
        bad = np.flatnonzero(~(col[name] > 0))
        if len(bad):
            i = int(bad[0])
            _fail(BarDataError, f"`{name}` must be > 0, got {float(col[name][i])!r}", origin, i, ts=ts[i], column=name)
    ohlc = ("open", "high", "low", "close")
    checks = [
        ("high", h < np.maximum(o, c_), "`high` is below max(open, close)", ohlc),
        ("low", l > np.minimum(o, c_), "`low` is above min(open, close)", ohlc),
        ("high", h < l, "`high` is below `low`", ohlc),
    ]
    for name in ("volume", "trades", "buy_volume", "sell_volume"):
        if name in col:
            checks.append((name, col[name] < 0, f"`{name}` must be >= 0", (name,)))
    if "buy_volume" in col and "sell_volume" in col:
        total = col["buy_volume"] + col["sell_volume"]
        off = np.abs(total - col["volume"]) > volume_tolerance * np.maximum(col["volume"], 1.0)
        checks.append(("buy_volume", off, "`buy_volume` + `sell_volume` differs from `volume` "
                                          f"beyond relative tolerance {volume_tolerance:g} "
                                          "(see `volume_tolerance`)",
                       ("buy_volume", "sell_volume", "volume")))
    for name, bad_mask, msg, shown in checks:
        bad = np.flatnonzero(bad_mask)
        if len(bad):
            i = int(bad[0])
            detail = ", ".join(f"{k}={col[k][i]:g}" for k in shown)
            _fail(BarDataError, f"{msg} ({detail}; {len(bad)} such row(s))", origin, i, ts=ts[i], column=name)

    if "vwap" in col:  # exporters round VWAP (B3: within a tick), so outside the range only warns
        v = col["vwap"]
        outside = np.flatnonzero(np.isfinite(v) & ((v < l) | (v > h)))
        if len(outside):
            i = int(outside[0])
            warnings.warn(
                f"`vwap` lies outside [low, high] on {len(outside)} bar(s), first at {origin.where(i)} "
                f"(timestamp {ts[i]}: low={l[i]:g}, high={h[i]:g}, vwap={v[i]:g}); VWAP features use it as given.",
                DataQualityWarning, stacklevel=3)

    # Order and duplicates, per symbol.
    sym = df["symbol"].to_numpy()
    ts_ns = ts.asi8
    codes, uniques = pd.factorize(sym)
    was_sorted = True
    order = np.lexsort((ts_ns, codes))  # by symbol, then time (stable)
    ts_by_sym, codes_by_sym = ts_ns[order], codes[order]
    same = codes_by_sym[1:] == codes_by_sym[:-1]
    dup = np.flatnonzero(same & (ts_by_sym[1:] == ts_by_sym[:-1]))
    if len(dup):
        a, b = int(order[dup[0]]), int(order[dup[0] + 1])
        _fail(BarDataError, f"duplicate `timestamp` {ts[b]} for symbol {sym[b]!r} (also at "
              f"{origin.where(a)}; {len(dup)} duplicate(s) in all)", origin, b, ts=ts[b], column="timestamp")
    for k in range(len(uniques)):
        pos = np.flatnonzero(codes == k)
        back = np.flatnonzero(np.diff(ts_ns[pos]) < 0)
        if len(back):
            was_sorted = False
            i = int(pos[back[0] + 1])
            if strict:
                _fail(BarDataError, f"rows are not in time order: `timestamp` {ts[i]} comes after "
                      f"{ts[int(pos[back[0]])]} (strict=True)", origin, i, ts=ts[i], column="timestamp")
            warnings.warn(f"bars were not in time order (first at {origin.where(i)}, timestamp {ts[i]}); "
                          "sorted them.", UnsortedDataWarning, stacklevel=3)
            break
    final_order = np.lexsort((codes, ts_ns)) if (not was_sorted or len(uniques) > 1) else np.arange(len(df))

    out_cols = [c for c in COLUMNS[1:] if c in df.columns]
    out = pd.DataFrame({c: (col[c] if c in col else df[c].to_numpy())[final_order] for c in out_cols},
                       index=pd.DatetimeIndex(ts[final_order], name="timestamp"))
    bar_minutes = _bar_minutes(out)
    longest = cal.longest_session_minutes(out.index)
    if intraday and bar_minutes >= min(longest, 24 * 60.0):
        raise NonIntradayDataError(_non_intraday_message(origin, bar_minutes, cal, out.index))
    check = None
    dropped_outside = 0
    if check_calendar and bar_minutes < longest:
        check = check_sessions(out.index, cal, bar_minutes)
        message = session_check_message(check)
        if not check["fits"]:
            raise CalendarMismatchError(f"{_sources(origin)}: the bars do not fit calendar {cal.name}: {message}. "
                                        f"{_mismatch_hint(out.index, cal, bar_minutes, tz, bar_time)}")
        if check["disagreements"] > 0.5 * max(check["sessions"], 1):
            # most sessions disagree: a reading of the timestamps that removes nearly all of it is the
            # data's own (UTC stamps read as exchange time look like bars in the daily break)
            better = _better_reading(out.index, cal, bar_minutes, tz, bar_time, check)
            if better:
                raise CalendarMismatchError(f"{_sources(origin)}: the bars do not fit calendar {cal.name} as read "
                                            f"(tz={tz!r}, bar_time={bar_time!r}): {message}. They fit with "
                                            f"{better}.")
        if message:
            warnings.warn(f"{_sources(origin)}: {message}; results use the calendar's hours "
                          "(outside_session='drop', --outside-session drop, removes bars outside them).",
                          CalendarWarning, stacklevel=3)
    if outside_session == "drop":
        inside = cal.sessions(out.index).in_session
        dropped_outside = int((~inside).sum())
        if dropped_outside:
            warnings.warn(f"dropped {dropped_outside} bar(s) outside the sessions of calendar {cal.name} "
                          f"(first at {out.index[~inside][0]}).", DataQualityWarning, stacklevel=3)
            out = out.loc[inside]
            if len(out) == 0:
                raise EmptyDataError(f"no bars left inside the sessions of calendar {cal.name}.")
    out.attrs["bars"] = {
        "calendar": cal.name,
        "instrument": None if inst is None else inst.name,
        "tz": tz,
        "bar_time": bar_time,
        "shifted_minutes": -bar_shift if bar_shift else 0.0,
        "layouts": layouts or [],
        "calendar_check": check,
        "dropped_outside_session": dropped_outside,

        "sources": [os.path.basename(f) for f in origin.files if f],
        "symbols": [str(s) for s in pd.unique(out["symbol"])],
        "rows": int(len(out)),
        "dropped_nan_rows": dropped,
        "sorted_by_loader": not was_sorted,
        "missing_optional_columns": missing_optional,
        "bar_minutes": bar_minutes,
    }
    if inst is not None and inst.name not in INSTRUMENTS:
        out.attrs["bars"]["custom_instrument"] = inst.summary()
    return out


def _sources(origin: _Origin) -> str:
    names = sorted({os.path.basename(f) for f in origin.files if f})
    return ", ".join(names) if names else "the frame"


def _non_intraday_message(origin, step: float, cal, index=None) -> str:
    what = {1440.0: "daily", 10080.0: "weekly"}.get(float(round(step)), f"{step:g}-minute")
    span = ""
    if cal is not None:
        span = f" of calendar {cal.name} ({cal.longest_session_minutes(index):g} minutes)"
    return (f"{_sources(origin)}: the bars are {what} bars ({step:g} minutes apart), a whole session or more{span}; "
            "this toolkit trades inside sessions (features, labels and the flat-before-close rule need several "
            "bars per session): use intraday bars (1 to 60 minutes), or load_bars(..., intraday=False) to load "
            "them for other uses.")


def _readings(index, cal, bar_minutes, tz, bar_time):
    """Other readings of the timestamps: ``(label, index)`` for other time zones and bar-end stamps."""
    naive = index.tz_convert(tz).tz_localize(None)
    tries = []
    for alt_tz in dict.fromkeys(["UTC", cal.tz, "America/New_York", "America/Chicago", "America/Sao_Paulo"]):
        if alt_tz != tz:
            tries.append((f"tz={alt_tz!r} (--tz {alt_tz})", alt_tz, 0.0))
    if bar_time == "open":
        tries.append(("bar_time='close' (--bar-time close: the timestamps mark bar ends)", tz, bar_minutes))
        tries += [(f"tz={t!r} and bar_time='close' (--tz {t} --bar-time close)", t, bar_minutes)
                  for _, t, _ in tries[:-1]]
    for label, alt_tz, shift in tries:
        try:
            alt = naive.tz_localize(alt_tz, ambiguous="NaT", nonexistent="NaT")
        except Exception:  # pragma: no cover - zoneinfo errors
            continue
        alt = alt[~alt.isna()] - pd.Timedelta(minutes=shift)
        if len(alt):
            yield label, alt


def _better_reading(index, cal, bar_minutes, tz, bar_time, check) -> str | None:
    """The reading under which at most a tenth of the sessions that disagree now still do."""
    for label, alt in _readings(index, cal, bar_minutes, tz, bar_time):
        rep = check_sessions(alt, cal, bar_minutes)
        if rep["fits"] and rep["disagreements"] <= 0.1 * check["disagreements"] and \
                rep["outside_bars"] <= 0.1 * max(check["outside_bars"], 1):
            return label
    return None


def _mismatch_hint(index, cal, bar_minutes, tz, bar_time) -> str:
    """Name the fix: a time zone or bar-time reading under which the bars fit, if there is one."""
    for label, alt in _readings(index, cal, bar_minutes, tz, bar_time):
        if check_sessions(alt, cal, bar_minutes)["fits"]:
            return f"They fit with {label}."
    return ("Check the time zone of the timestamps (tz=, --tz), the calendar (calendar=, --calendar) and "
            "whether they mark bar opens (bar_time='close' for bar-end stamps); check_calendar=False "
            "(--no-calendar-check) loads them anyway.")



def _bar_minutes(out: pd.DataFrame) -> float:
    """The data set's bar length: the most common step between consecutive bars
    of a symbol (1.0 for 1-minute bars).  Recorded once at load time so that
    later computations on a cut of the data use the same value."""
    return _step_minutes(out.index.as_unit("ns").asi8, out["symbol"].to_numpy())
