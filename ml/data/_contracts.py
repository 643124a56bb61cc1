"""Continuous futures series from dated contracts: roll rule and back-adjustment."""

from __future__ import annotations

import copy
import os
import re
import warnings

import numpy as np
import pandas as pd

from ml._checks import check_choice
from ml.data._calendar import bars_calendar
from ml.data._frame import check_bar_frame
from ml.exceptions import (
    BarDataError,
    DataQualityWarning,
    MissingColumnsError,
    ParameterError,
)

__all__ = ["ADJUST_METHODS", "ROLL_METHODS", "continuous_contract", "parse_contract"]

#: Valid values of ``roll``.
ROLL_METHODS = ("volume",)
#: Valid values of ``adjust``.
ADJUST_METHODS = ("ratio", "difference", None)

#: B3 / CME month codes, January to December.
_MONTHS = "FGHJKMNQUVXZ"
_CONTRACT = re.compile(r"^(?P<root>[A-Z][A-Z0-9]*?)(?P<month>[FGHJKMNQUVXZ])(?P<year>\d{2})$")
_ADJUSTED = ("open", "high", "low", "close", "vwap")


def parse_contract(symbol: str) -> tuple[str, int, int] | None:
    """Split a dated futures code into ``(root, year, month)``.

    Codes are a root, a month letter (``F G H J K M N Q U V X Z`` = January to
    December) and a two-digit year read as 20YY.

    Parameters
    ----------
    symbol : str
        Contract code such as ``"WDOH25"`` or ``"DI1F27"``.

    Returns
    -------
    tuple of (str, int, int) or None
        ``(root, year, month)``, or ``None`` when ``symbol`` is not a dated code.

    Examples
    --------
    >>> parse_contract("WDOH25")
    ('WDO', 2025, 3)
    >>> parse_contract("DI1F27")
    ('DI1', 2027, 1)
    >>> parse_contract("FILUSDT") is None
    True
    """
    m = _CONTRACT.match(str(symbol).strip().upper())
    if m is None:
        return None
    return m["root"], 2000 + int(m["year"]), _MONTHS.index(m["month"]) + 1


def _order_contracts(symbols: list[str], first_pos: np.ndarray) -> tuple[list[int], bool]:
    """Positions of ``symbols`` from nearest to farthest expiry, and whether
    every symbol was a dated code (else first appearance decides the order)."""
    parsed = [parse_contract(s) for s in symbols]
    if all(p is not None for p in parsed):
        keys = [(p[1] * 12 + p[2], int(fp)) for p, fp in zip(parsed, first_pos)]
        return sorted(range(len(symbols)), key=lambda k: keys[k]), True
    return sorted(range(len(symbols)), key=lambda k: int(first_pos[k])), False


def _infer_root(symbols: list[str]) -> str:
    parsed = [parse_contract(s) for s in symbols]
    if all(p is not None for p in parsed):
        roots = sorted({p[0] for p in parsed})
        if len(roots) > 1:
            raise ParameterError(
                f"`bars` mixes contracts of several roots ({', '.join(roots)}); a continuous "
                "series joins contracts of one root: select one first "
                "(e.g. load_bars(path, symbol='WDO'))."
            )
        return roots[0]
    prefix = os.path.commonprefix([s.upper() for s in symbols])
    m = re.match(r"[A-Z]*", prefix)
    root = m.group(0) if m else ""
    if not root:
        raise ParameterError(
            f"cannot infer `root` from symbols {', '.join(symbols[:6])}: they share no "
            "alphabetic prefix; pass root='NAME'."
        )
    return root


def continuous_contract(
    bars: pd.DataFrame,
    roll: str = "volume",
    adjust: str | None = "ratio",
    calendar=None,
    root: str | None = None,
) -> pd.DataFrame:
    """Join dated futures contracts into one back-adjusted continuous series.

    Parameters
    ----------
    bars : DataFrame
        Bars of several contracts of one root (e.g. ``WDOZ21``, ``WDOF22``),
        indexed by tz-aware bar open time, with columns ``open``, ``high``,
        ``low``, ``close``, ``volume``, ``symbol`` and optionally ``trades``,
        ``buy_volume``, ``sell_volume``, ``vwap`` (as :func:`~ml.data.load_bars`
        returns them).  Contracts may overlap in time.
    roll : {"volume"}, default "volume"
        Roll rule, decided per calendar session (see Notes).
    adjust : {"ratio", "difference", None}, default "ratio"
        Back-adjustment of earlier contracts: ``"ratio"`` multiplies their
        ``open``, ``high``, ``low``, ``close`` and ``vwap`` by the cumulative
        roll factor (returns are preserved), ``"difference"`` adds the
        cumulative point difference (point moves are preserved), ``None``
        stitches raw prices.
    calendar : str or SessionCalendar, optional
        Session calendar; default the one recorded by ``load_bars`` in
        ``bars.attrs``, else inferred from the first symbol.
    root : str, optional
        Value of the output ``symbol`` column.  Default: the root of the
        contract codes (``"WDO"``), or the symbols' common alphabetic prefix
        when they are not dated codes.

    Returns
    -------
    DataFrame
        One row per timestamp: only the bars of the contract active in each
        session.  Columns as the input, ``symbol`` set to ``root``, plus
        ``contract`` (the contract actually traded) and ``adjustment`` (the
        factor multiplied into, or the points added to, that bar's prices:
        ``raw = price / adjustment`` for ``"ratio"``, ``raw = price -
        adjustment`` for ``"difference"``; 1.0 for ``None``).  ``attrs`` keeps
        the input's and adds ``attrs["rolls"]``, a list with one dict per roll:
        ``session`` (naive session date), ``timestamp`` (first bar of the new
        contract), ``from``, ``to``, ``method`` (``"same_bar"`` or ``"gap"``),
        ``measured_at`` (timestamp of each price used, old then new),
        ``old_price``, ``new_price``, ``factor`` (new / old) and ``difference``
        (new - old), and ``attrs["continuous"]`` (root, roll, adjust, the
        contract order and sessions dropped).

    Raises
    ------
    TypeError
        ``bars`` is not a DataFrame indexed by a DatetimeIndex, or ``root``
        is not a non-empty str.
    ParameterError
        Unknown ``roll`` or ``adjust``; several contract roots mixed; no
        ``root`` can be inferred.
    MissingColumnsError
        ``symbol`` or a price / volume column is missing.
    EmptyDataError
        ``bars`` holds no rows.
    BarDataError
        Naive timestamps or a duplicate (timestamp, symbol).

    Warns
    -----
    DataQualityWarning
        A roll between contracts that never traded at the same timestamp
        before the roll (the factor then includes the overnight move), or a
        session in which neither the active nor a later contract traded (its
        bars are dropped).

    Notes
    -----
    Contracts are ordered by the expiry parsed from their code (month letters
    ``F G H J K M N Q U V X Z`` plus a two-digit year, e.g. ``WDOH25``); if
    any symbol is not such a code, all are ordered by first appearance.

    Roll rule (``roll="volume"``), per calendar session *d* with total volume
    per contract:

    * first session of the data: the front month, i.e. the nearest-expiry
      contract that trades in it (its volume is not looked at);
    * session *d* > 0: the active contract stays unless a later-expiring
      contract's volume in session *d-1* exceeded it, in which case the
      highest-volume later contract of *d-1* becomes active from the first bar
      of *d*.  The decision uses only the previous session, so it is causal;
    * if the contract so chosen has no bar in session *d* (it expired), the
      series is forced to a later contract that trades in *d*: the one with
      the largest volume in session *d-1* (ties and no volume: nearest
      expiry).  Only whether a contract trades in *d* is used, never its
      volume in *d*; if no later contract trades in *d*, the previous active
      contract stays.
      The series never rolls back to an earlier expiry; a session where only
      earlier contracts trade is dropped with a warning.

    At each roll the old and new prices are measured at the same timestamp:
    the closes of the last bar, before session *d*, at which both contracts
    traded.  If they never traded at the same time, the old contract's last
    close before the roll and the new contract's first open in session *d*
    are used, and the roll gap therefore includes the overnight move.  The
    factor ``new / old`` (or difference ``new - old``) is applied to every
    bar before the roll, cumulatively over later rolls; the newest contract
    keeps its raw prices.  Back-adjusted levels of old bars therefore change
    when a later roll is added: compare returns, not levels, across runs.

    Examples
    --------
    >>> import pandas as pd
    >>> ts = pd.DatetimeIndex(["2025-02-03 09:00", "2025-02-04 09:00", "2025-02-05 09:00"],
    ...                       tz="America/Sao_Paulo")
    >>> bars = pd.DataFrame({"open": [100.0, 101.0, 110.0], "high": [100.0, 101.0, 110.0],
    ...                      "low": [100.0, 101.0, 110.0], "close": [100.0, 101.0, 110.0],
    ...                      "volume": [5.0, 5.0, 9.0],
    ...                      "symbol": ["WDOH25", "WDOH25", "WDOJ25"]}, index=ts)
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     out = continuous_contract(bars)
    >>> out["close"].round(4).tolist(), out["contract"].tolist()
    ([108.9109, 110.0, 110.0], ['WDOH25', 'WDOH25', 'WDOJ25'])
    """
    check_choice("roll", roll, ROLL_METHODS, type_error=ParameterError)
    check_choice("adjust", adjust, ADJUST_METHODS, type_error=ParameterError)
    # Several contracts share timestamps: order is checked per symbol below.
    check_bar_frame(bars, sorted_unique=False)
    if root is not None and (not isinstance(root, str) or not root.strip()):
        raise TypeError(f"`root` must be a non-empty str, got {root!r}.")
    if "symbol" not in bars.columns:
        raise MissingColumnsError(
            f"`bars` lacks column(s) `symbol`; columns found: {', '.join(map(str, bars.columns))}. "
            "A continuous series needs the contract code of every bar in `symbol`.",
            column="symbol",
        )
    cal = bars_calendar(bars, calendar)

    # Sort by time (stable), keeping the input order among equal timestamps.
    ts_ns = bars.index.as_unit("ns").asi8
    order = np.argsort(ts_ns, kind="stable")
    df = bars.iloc[order]
    ts_ns = ts_ns[order]
    sym_text = df["symbol"].astype(str).to_numpy()
    codes, uniques = pd.factorize(sym_text)
    symbols = [str(s) for s in uniques]
    dup = pd.DataFrame({"c": codes, "t": ts_ns}).duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise BarDataError(
            f"duplicate timestamp {df.index[i]} for symbol {sym_text[i]!r} in `bars`; "
            "each contract may have one bar per timestamp.",
            column="timestamp", timestamp=df.index[i],
        )

    first_pos = np.array([np.flatnonzero(codes == k)[0] for k in range(len(symbols))])
    rank_to_code, by_expiry = _order_contracts(symbols, first_pos)
    contracts = [symbols[k] for k in rank_to_code]
    if root is None:
        root = _infer_root(symbols)
    code_to_rank = np.empty(len(symbols), dtype=np.int64)
    code_to_rank[rank_to_code] = np.arange(len(symbols))
    rank = code_to_rank[codes]

    info = cal.sessions(df.index)
    session = info.session
    n_s, n_c = int(session.max()) + 1, len(contracts)
    cell = session * n_c + rank
    vol = np.bincount(cell, weights=df["volume"].to_numpy(dtype="float64"),
                      minlength=n_s * n_c).reshape(n_s, n_c)
    has = np.bincount(cell, minlength=n_s * n_c).reshape(n_s, n_c) > 0
    session_dates = pd.DatetimeIndex(info.session_date)
    first_of = np.full(n_s, -1, dtype=np.int64)
    first_of[session[::-1]] = np.arange(len(session))[::-1]
    date_of = session_dates[first_of]

    # Active contract per session (rank), per the Notes.
    active = np.empty(n_s, dtype=np.int64)
    active[0] = int(np.argmax(has[0]))  # the front month: nearest expiry trading in the first session
    dropped_sessions: list[pd.Timestamp] = []
    for d in range(1, n_s):
        prev = cur = int(active[d - 1])
        later = vol[d - 1, prev + 1:]
        if later.size and later.max() > vol[d - 1, prev]:  # decided from session d-1
            cur = prev + 1 + int(np.argmax(later))
        if not has[d, cur]:  # forced: the chosen contract does not trade in session d
            trading = has[d, prev + 1:]
            if trading.any():
                cur = prev + 1 + int(np.argmax(np.where(trading, vol[d - 1, prev + 1:], -np.inf)))
            elif has[d, prev]:
                cur = prev
            else:
                dropped_sessions.append(date_of[d])
        active[d] = cur

    keep = rank == active[session]
    out = df.loc[keep].copy()
    out_session = session[keep]
    out_rank = rank[keep]
    if dropped_sessions:
        shown = ", ".join(str(s.date()) for s in dropped_sessions[:5])
        more = " ..." if len(dropped_sessions) > 5 else ""
        warnings.warn(
            f"{len(dropped_sessions)} session(s) ({shown}{more}) have no bar of the active or a "
            "later contract (only earlier contracts traded); the series never rolls back, so "
            "those sessions are dropped.",
            DataQualityWarning, stacklevel=2,
        )

    # Rolls: where the active contract changes between sessions present in the output.
    close = df["close"].to_numpy(dtype="float64")
    open_ = df["open"].to_numpy(dtype="float64")
    rolls = []
    seg_rank = []  # rank of each contiguous segment in the output, in time order
    if len(out):
        change = np.flatnonzero(out_rank[1:] != out_rank[:-1]) + 1
        seg_rank = [int(out_rank[0])] + [int(out_rank[i]) for i in change]
        for i in change:
            old, new = int(out_rank[i - 1]), int(out_rank[i])
            d = int(out_session[i])
            before = session < d
            old_idx = np.flatnonzero(before & (rank == old))
            new_idx = np.flatnonzero(before & (rank == new))
            common, io, jn = np.intersect1d(ts_ns[old_idx], ts_ns[new_idx], assume_unique=True,
                                            return_indices=True)
            new_first = np.flatnonzero((session == d) & (rank == new))[0]
            if common.size:
                a, b = old_idx[io[-1]], new_idx[jn[-1]]
                old_p, new_p, method = close[a], close[b], "same_bar"
                at = (df.index[a], df.index[b])
            else:
                a = old_idx[-1]
                old_p, new_p, method = close[a], open_[new_first], "gap"
                at = (df.index[a], df.index[new_first])
                warnings.warn(
                    f"roll {contracts[old]} -> {contracts[new]} on session "
                    f"{date_of[d].date()}: the contracts never traded at the same timestamp "
                    f"before the roll, so the roll gap is measured from {contracts[old]}'s last "
                    f"close ({at[0]}) to {contracts[new]}'s first open ({at[1]}) and includes "
                    "the overnight move.",
                    DataQualityWarning, stacklevel=2,
                )
            rolls.append({
                "session": date_of[d],
                "timestamp": df.index[new_first],
                "from": contracts[old],
                "to": contracts[new],
                "method": method,
                "measured_at": at,
                "old_price": float(old_p),
                "new_price": float(new_p),
                "factor": float(new_p / old_p),
                "difference": float(new_p - old_p),
            })

    # Cumulative adjustment per output segment (newest segment: none).
    seg_id = np.zeros(len(out), dtype=np.int64)
    if len(out):
        seg_id[1:] = np.cumsum(out_rank[1:] != out_rank[:-1])
    if adjust == "ratio":
        steps = np.array([r["factor"] for r in rolls] + [1.0])
        cum = np.cumprod(steps[::-1])[::-1]
        adj = cum[seg_id]
        for c in _ADJUSTED:
            if c in out.columns:
                out[c] = out[c].to_numpy(dtype="float64") * adj
    elif adjust == "difference":
        steps = np.array([r["difference"] for r in rolls] + [0.0])
        cum = np.cumsum(steps[::-1])[::-1]
        adj = cum[seg_id]
        for c in _ADJUSTED:
            if c in out.columns:
                out[c] = out[c].to_numpy(dtype="float64") + adj
    else:
        adj = np.ones(len(out))

    sym_dtype = bars["symbol"].dtype
    if not (len(symbols) == 1 and "contract" in bars.columns):
        out["contract"] = pd.array(sym_text[keep], dtype=sym_dtype)
    out["symbol"] = pd.array(np.full(len(out), root, dtype=object), dtype=sym_dtype)
    if not (len(symbols) == 1 and "adjustment" in bars.columns):
        out["adjustment"] = adj

    out.attrs = copy.deepcopy(bars.attrs)
    if isinstance(out.attrs.get("bars"), dict):
        out.attrs["bars"]["symbols"] = [root]
        out.attrs["bars"]["rows"] = int(len(out))
    if not (len(symbols) == 1 and "rolls" in bars.attrs):
        out.attrs["rolls"] = rolls
    out.attrs["continuous"] = {
        "root": root,
        "roll": roll,
        "adjust": adjust,
        "calendar": cal.name,
        "contracts": contracts,
        "ordered_by": "expiry" if by_expiry else "first_appearance",
        "segments": [contracts[r] for r in seg_rank],
        "dropped_sessions": dropped_sessions,
        "dropped_rows": int(len(bars) - len(out)),
    }
    return out
