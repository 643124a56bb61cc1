"""CSV layouts people really have: detection of the separator, decimal mark, header and platform.

:func:`read_bar_csv` reads one CSV (plain or gzip) into a frame with the
schema's column names, whatever of these layouts it is in:

* the schema itself: ``timestamp,open,high,low,close,volume,...`` (any of
  ``,`` ``;`` tab ``|`` as separator);
* **ProfitChart** exports: ``;``-separated, decimal comma (``5.553,500``),
  dates ``dd/mm/yyyy`` and times in two columns, newest row first, with the
  Portuguese header ``Ativo;Data;Hora;Abertura;Máxima;Mínima;Fechamento;Volume;Quantidade``
  or without a header (``symbol;date;time;open;high;low;close;financial
  volume;quantity``).  ``Volume`` is the financial volume (currency),
  ``Quantidade`` the contracts or shares: the latter becomes ``volume`` and
  the former gives ``vwap`` once the contract multiplier is known;
* **MetaTrader 5** exports: tab-separated ``<DATE> <TIME> <OPEN> <HIGH> <LOW>
  <CLOSE> <TICKVOL> <VOL> <SPREAD>``, dates ``yyyy.mm.dd``.  ``<VOL>`` (real
  volume) is ``volume``; where it is all zero (forex CFDs) ``<TICKVOL>`` is
  used and the layout says so.

``sep`` and ``decimal`` override the detection.  A layout that cannot be
read raises :class:`~ml.exceptions.BarDataError` saying what was seen: the
separator, the header and a sample line.
"""

from __future__ import annotations

import gzip
import io
import re
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from ml.exceptions import BarDataError, EmptyDataError

__all__ = ["read_bar_csv"]

_SEPS = (",", ";", "\t", "|")
_SEP_NAMES = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}
#: Header names of other layouts -> the schema's (after lower-casing, accents and <> removed).
_NAMES = {
    "ativo": "symbol", "papel": "symbol", "ticker": "symbol", "instrument": "symbol",
    "data": "date", "dia": "date", "hora": "time", "horario": "time",
    "abertura": "open", "maxima": "high", "minima": "low", "fechamento": "close", "ultimo": "close",
    "quantidade": "volume", "qtd": "volume", "negocios": "trades", "numero_de_negocios": "trades",
    "datetime": "timestamp", "date_time": "timestamp", "time_stamp": "timestamp", "timestamp_utc": "timestamp",
    "open_time": "timestamp", "dt": "timestamp",
    "o": "open", "h": "high", "l": "low", "c": "close", "v": "volume",
    "tickvol": "tick_volume", "vol": "real_volume",
}
#: Positional columns of a header-less ProfitChart export.
_PROFIT_COLUMNS = ("symbol", "date", "time", "open", "high", "low", "close", "financial_volume", "volume")
_DATE_DMY = re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$")
_DATE_YMD_DOT = re.compile(r"^\d{4}\.\d{2}\.\d{2}$")
_DATE_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}")
_NUM_COMMA = re.compile(r"^-?(\d{1,3}(\.\d{3})+|\d+),\d+$")
_NUM_DOT_THOUSANDS = re.compile(r"^-?\d{1,3}(\.\d{3})+(,\d+)?$")


def _open_text(path: Path) -> str:
    with open(path, "rb") as fh:
        raw = fh.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise BarDataError(f"cannot read {str(path)!r}: not a valid gzip file ({exc}).", source=str(path))
    for enc in ("utf-8-sig", "cp1252", "latin-1"):  # ProfitChart writes Windows-1252
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise BarDataError(f"cannot decode {str(path)!r} as text.", source=str(path))  # pragma: no cover


def _plain(name: str) -> str:
    s = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    s = s.strip().strip("<>").strip().lower()
    return re.sub(r"[\s\-]+", "_", s)


def _is_number(text: str) -> bool:
    t = text.strip().replace(".", "").replace(",", "")
    return bool(t) and (t.lstrip("-").isdigit())


def _detect_sep(lines: list[str]) -> str | None:
    best, best_n = None, 1
    for sep in _SEPS:
        counts = [ln.count(sep) for ln in lines]
        if counts and min(counts) == max(counts) and counts[0] + 1 > best_n:
            best, best_n = sep, counts[0] + 1
    return best


def _describe(path: Path, sep, header: str, sample: str) -> str:
    sep_txt = _SEP_NAMES.get(sep, repr(sep)) if sep else "none found"
    return (f"separator {sep_txt}, header {header[:120]!r}, a line {sample[:120]!r}")


def read_bar_csv(path, *, sep: str | None = None, decimal: str | None = None):
    """Read one bar CSV of any layout above.

    Returns
    -------
    df : DataFrame
        Columns named as the schema (``timestamp`` as text, ISO when the file
        had date and time apart), plus ``financial_volume`` when the layout has
        one.
    lines : ndarray of int64
        The file line of every row (1-based; blank lines counted).
    layout : dict
        ``format`` (``"schema"``, ``"profitchart"``, ``"metatrader5"``),
        ``sep``, ``decimal``, ``header`` (bool) and notes.
    """
    path = Path(path)
    if sep is not None and (not isinstance(sep, str) or len(sep) != 1):
        raise BarDataError(f"`sep` must be one character such as ';' or '\\t', got {sep!r}.")
    if decimal is not None and decimal not in (".", ","):
        raise BarDataError(f"`decimal` must be '.' or ',', got {decimal!r}.")
    text = _open_text(path)
    all_lines = text.splitlines()
    idx = [i for i, ln in enumerate(all_lines) if ln.strip()]
    if not idx:
        raise EmptyDataError(f"bar file {str(path)!r} is empty (blank lines only).", source=str(path))
    sample = [all_lines[i] for i in idx[:50]]
    sep = sep or _detect_sep(sample[:20])
    first = sample[0]
    if sep is None:
        raise BarDataError(f"cannot find the columns of {path.name}: no separator gives the same number of "
                           f"fields on every line ({_describe(path, None, first, sample[min(1, len(sample) - 1)])}); "
                           "pass sep= (--sep on the command line).", source=str(path))
    fields = [f.strip() for f in first.split(sep)]
    header = not any(_is_number(f) for f in fields[3:]) if len(fields) > 3 else not _is_number(fields[-1])
    data_lines = sample[1:] if header else sample
    row = [f.strip() for f in (data_lines[0] if data_lines else first).split(sep)]
    if decimal is None:
        nums = [f for f in row if f and not _DATE_DMY.match(f) and not _DATE_YMD_DOT.match(f)]
        decimal = "," if (sep != "," and any(_NUM_COMMA.match(f) for f in nums)) else "."
    thousands = "." if decimal == "," and any(_NUM_DOT_THOUSANDS.match(f) for f in row) else None
    notes = []
    fmt = "schema"
    if header:
        names = [_plain(f) for f in fields]
        if any(n in ("<date>", "date") for n in names) and any(f.strip().startswith("<") for f in fields):
            fmt = "metatrader5"
        mapped = []
        has_qty = "quantidade" in names or "qtd" in names
        for n in names:
            if n == "volume" and has_qty:
                mapped.append("financial_volume")  # ProfitChart: Volume is money, Quantidade the contracts
                fmt = "profitchart"
            else:
                mapped.append(_NAMES.get(n, n))
        if "ativo" in names:
            fmt = "profitchart"
        names = mapped
    else:
        if len(fields) == len(_PROFIT_COLUMNS) and not _is_number(fields[0]) and _DATE_DMY.match(fields[1]):
            names, fmt = list(_PROFIT_COLUMNS), "profitchart"
        else:
            raise BarDataError(
                f"cannot find the bar columns of {path.name}: the first line is not a header and not a "
                f"ProfitChart row ({_describe(path, sep, first, first)}); add a header line "
                "timestamp,open,high,low,close,volume.", source=str(path))
    skip_rows = [i for i in range(len(all_lines)) if not all_lines[i].strip()]
    as_text = decimal == "," or fmt != "schema"
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raw = [f for f, n in zip(fields, names) if n == dup] if header else [dup, dup]
        raise BarDataError(f"columns {raw[0]!r} and {raw[1]!r} in {path.name} both mean `{dup}`; keep only one "
                           "of them.", column=dup, source=str(path))
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, header=None, names=names,
                         skiprows=([idx[0]] if header else []) + skip_rows, skip_blank_lines=False,
                         dtype=str if as_text else None, skipinitialspace=True, engine="c",
                         keep_default_na=not as_text)
    except (pd.errors.ParserError, ValueError) as exc:
        raise BarDataError(f"cannot parse {path.name} as CSV ({exc}); seen: "
                           f"{_describe(path, sep, first, sample[min(1, len(sample) - 1)])}; "
                           "pass sep= / decimal=.", source=str(path)) from None
    kept = [i for i in range(len(all_lines)) if all_lines[i].strip()]
    lines = np.asarray(kept[1:] if header else kept, dtype=np.int64) + 1
    lines = lines[:len(df)]
    if df.empty:
        raise EmptyDataError(f"bar file {str(path)!r} has a header but no bars.", source=str(path))
    if as_text:
        df = df.replace("", np.nan)
        for c in df.columns:
            if c in ("symbol", "timestamp", "date", "time"):
                continue
            s = df[c].astype("string").str.strip()
            if decimal == ",":
                if thousands:
                    s = s.str.replace(".", "", regex=False)
                s = s.str.replace(",", ".", regex=False)
            df[c] = s
    if "timestamp" not in df.columns and "date" in df.columns:
        df.insert(0, "timestamp", _combine(df, path, sep, first, sample))
        df = df.drop(columns=[c for c in ("date", "time") if c in df.columns])
        notes.append("timestamp = date + time")
    elif "timestamp" in df.columns and not pd.api.types.is_numeric_dtype(df["timestamp"]):
        ts = df["timestamp"]
        head = str(ts.dropna().iloc[0]).strip() if ts.notna().any() else ""
        if _DATE_DMY.match(head.split(" ")[0]) or _DATE_YMD_DOT.match(head.split(" ")[0]):
            df["timestamp"] = _iso_dates(ts.astype("string").str.strip(), path, None)
    if fmt == "metatrader5":
        real = pd.to_numeric(df.get("real_volume"), errors="coerce") if "real_volume" in df.columns else None
        if real is not None and (real.fillna(0) > 0).any():
            df["volume"] = df.pop("real_volume")
            df = df.drop(columns=[c for c in ("tick_volume",) if c in df.columns])
            notes.append("volume = <VOL> (real volume)")
        elif "tick_volume" in df.columns:
            df["volume"] = df.pop("tick_volume")
            df = df.drop(columns=[c for c in ("real_volume",) if c in df.columns])
            notes.append("volume = <TICKVOL>: MetaTrader's tick count, not traded contracts (<VOL> is all zero)")
        df = df.drop(columns=[c for c in ("spread",) if c in df.columns])
    layout = {"format": fmt, "sep": sep, "decimal": decimal, "thousands": thousands, "header": bool(header)}
    if notes:
        layout["notes"] = notes
    return df, lines, layout


def _iso_dates(text: pd.Series, path: Path, time_col) -> pd.Series:
    """Dates as ISO text: ``dd/mm/yyyy`` (or ``mm/dd/yyyy`` when a middle field
    exceeds 12) and ``yyyy.mm.dd`` are rewritten; others are left as they are."""
    first = str(text.dropna().iloc[0]) if text.notna().any() else ""
    head = first.split(" ")[0].split("T")[0]
    if _DATE_DMY.match(head):
        parts = text.str.extract(r"^(\d{1,2})/(\d{1,2})/(\d{4})(.*)$")
        a = pd.to_numeric(parts[0], errors="coerce")
        b = pd.to_numeric(parts[1], errors="coerce")
        if (b > 12).any() and not (a > 12).any():
            day, month = parts[1], parts[0]  # month first (US)
        else:
            day, month = parts[0], parts[1]  # day first (Brazil, Europe)
        rest = parts[3].fillna("").str.strip()
        out = parts[2] + "-" + month.str.zfill(2) + "-" + day.str.zfill(2)
        return out.where(rest == "", out + " " + rest)
    if _DATE_YMD_DOT.match(head):
        return text.str.replace(r"^(\d{4})\.(\d{2})\.(\d{2})", r"\1-\2-\3", regex=True)
    return text


def _combine(df, path, sep, first, sample) -> pd.Series:
    date = _iso_dates(df["date"].astype("string").str.strip(), path, None)
    if "time" not in df.columns:
        return date
    t = df["time"].astype("string").str.strip()
    return date + " " + t
