"""Steps every runner shares: loading one instrument, hashing inputs, recording versions."""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import platform
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

from ml.data import continuous_contract, load_bars, parse_contract, sample_path
from ml.exceptions import ParameterError
from runners._config import KeyValue

__all__ = ["add_cost_flags", "add_data_flags", "assumptions", "code_version", "contract_of", "contracts_of", "costs_of",
           "data_options", "directional_probability", "file_hash", "instrument_arg", "instrument_of",
           "library_versions", "load_instrument", "log_assumptions", "n_jobs", "number", "positive_int",
           "signal_probability", "whole"]

_LIBRARIES = ("numpy", "pandas", "numba", "scikit-learn", "catboost", "optuna", "arch", "vectorbt",
              "backtrader", "quantstats", "torch")


def file_hash(paths) -> str:
    """First 16 hex digits of the SHA-256 of the files' bytes (folders: their files, sorted)."""
    h = hashlib.sha256()
    files = []
    for p in map(Path, paths):
        files.extend(sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p])
    for path in files:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def library_versions() -> dict:
    """Python and the installed versions of the libraries a result depends on."""
    out = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def code_version() -> str | None:
    """``git describe`` of this code (with ``-dirty``), or None outside a git checkout."""
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parent, timeout=5, check=True).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def load_instrument(data, *, symbol=None, calendar=None, tz=None, log=None, instrument=None, sep=None,
                    decimal=None, nan="raise", bar_time="open", outside_session="keep",
                    check_calendar=True) -> tuple[pd.DataFrame, dict]:
    """Load and validate bars of one instrument; several futures contracts become a continuous series.

    Parameters
    ----------
    data : list of str, or None
        Files or folders; None or empty: the bundled WDO sample.
    instrument : str or Instrument, optional
        The preset (``--contract``) or custom instrument (``--instrument``),
        which also gives the calendar of a symbol that maps to no preset.
    sep, decimal, nan, bar_time, outside_session, check_calendar
        As :func:`ml.data.load_bars`.

    Returns
    -------
    bars : DataFrame
    report : dict
        ``data`` (paths), ``data_hash``, ``loaded`` (what :func:`ml.data.load_bars`
        recorded) and ``rolls`` for a continuous series.
    """
    data = [str(d) for d in data] if data else [str(sample_path("wdo"))]
    bars = load_bars(data if len(data) > 1 else data[0], symbol=symbol, tz=tz, calendar=calendar,
                     instrument=instrument, sep=sep, decimal=decimal, nan=nan, bar_time=bar_time,
                     outside_session=outside_session, check_calendar=check_calendar)
    report = {"data": data, "data_hash": file_hash(data), "loaded": dict(bars.attrs["bars"])}
    if log is not None:
        loaded = report["loaded"]
        log.info("loaded %s bars of %s (%s calendar, %s, %g-minute bars stamped at their %s) from %s",
                 f"{len(bars):,}", ", ".join(loaded["symbols"]), loaded["calendar"], loaded["tz"],
                 loaded.get("bar_minutes") or 0, "close (moved to the open)" if loaded.get("bar_time") == "close"
                 else "open", ", ".join(loaded["sources"]))
        for lay in loaded.get("layouts") or []:
            if isinstance(lay, dict) and (lay.get("format") != "schema" or lay.get("sep") != ","
                                          or lay.get("decimal") != "." or not lay.get("header", True)):
                log.info("read %s as %s (separator %r, decimal %r%s%s)", lay.get("file"), lay.get("format"),
                         lay.get("sep"), lay.get("decimal"), "" if lay.get("header", True) else ", no header",
                         f", {lay['note']}" if lay.get("note") else "")
        if loaded.get("dropped_outside_session"):
            log.info("dropped %d bar(s) outside the %s sessions (--outside-session drop)",
                     loaded["dropped_outside_session"], loaded["calendar"])
        if loaded.get("dropped_nan_rows"):
            log.info("dropped %d row(s) with missing values (--nan drop)", loaded["dropped_nan_rows"])
    symbols = list(pd.unique(bars["symbol"]))
    if len(symbols) > 1:
        if all(parse_contract(s) for s in symbols):
            attrs = dict(bars.attrs)
            bars = continuous_contract(bars, calendar=calendar)
            bars.attrs = {**attrs, **bars.attrs}
            report["rolls"] = bars.attrs.get("rolls", [])
            if log is not None:
                log.info("built a continuous %s series over %d contracts (%d rolls)",
                         bars["symbol"].iloc[0], len(symbols), len(report["rolls"]))
        else:
            raise ParameterError(f"the data hold {len(symbols)} symbols ({', '.join(symbols[:5])}); "
                                 "choose one with --symbol")
    return bars, report


def data_options(args) -> dict:
    """The keyword arguments of :func:`load_instrument` that the data flags give."""
    return dict(symbol=args.symbol, calendar=args.calendar, tz=args.tz, instrument=instrument_arg(args),
                sep=args.sep, decimal=args.decimal, nan=args.nan, bar_time=args.bar_time,
                outside_session=args.outside_session, check_calendar=args.calendar_check)


# --------------------------------------------------------------------------- shared flags


def add_data_flags(p) -> None:
    """Data and instrument flags: ``--data``, ``--symbol``, the file layout, the calendar and the contract."""
    from ml.data import CALENDARS, INSTRUMENTS

    g = p.add_argument_group("data")
    g.add_argument("--data", nargs="+", help="bar file(s) or folder (CSV, CSV.GZ, Parquet; ProfitChart and "
                                             "MetaTrader 5 exports are detected); default: the bundled WDO sample")
    g.add_argument("--symbol", help="keep this symbol or futures root (e.g. WDO); names the bars of files "
                                    "without a symbol column (default: the file name up to the first _ or .)")
    g.add_argument("--sep", help="CSV field separator, e.g. ';' (default: detected)")
    g.add_argument("--decimal", choices=(".", ","), help="CSV decimal mark (default: detected; ',' also "
                                                         "drops '.' thousands separators)")
    g.add_argument("--bar-time", choices=("open", "close"), default="open",
                   help="what the timestamps mark: the bar's open (default) or its close (moved to the open)")
    g.add_argument("--nan", choices=("raise", "drop"), default="raise",
                   help="rows with missing values: raise (default) or drop them (counted in the log)")
    g.add_argument("--outside-session", choices=("keep", "drop"), default="keep",
                   help="bars outside the calendar's sessions (e.g. B3's after-hours): keep (default) or "
                        "drop them")
    g.add_argument("--calendar-check", action=argparse.BooleanOptionalAction, default=True,
                   help="compare every session of the data with its calendar, warning on disagreements and "
                        "refusing data that do not fit (default: on)")
    g.add_argument("--calendar", help=f"session calendar: {', '.join(CALENDARS)} (default: the instrument's)")
    g.add_argument("--tz", help="time zone of timestamps without offset (default: the calendar's)")
    g = p.add_argument_group("instrument")
    g.add_argument("--contract", help=f"instrument preset: {', '.join(INSTRUMENTS)} (default: from the symbol, "
                                      "e.g. WDOH25 -> WDO, 6EH4 -> 6E, PETR4 -> B3_STOCK, BTCUSDT -> CRYPTO_SPOT)")
    g.add_argument("--instrument", action=KeyValue,
                   help="define the instrument, repeatable: --instrument base=ES --instrument "
                        "commission_per_contract=1.1, or name=, kind=, currency=, multiplier=, tick_size=, "
                        "calendar= for one with no preset ([instrument] table in the config file)")


def add_cost_flags(p) -> None:
    """Commissions, slippage, sizing and equity: the costs of a backtest (defaults from the instrument)."""
    g = p.add_argument_group("costs and sizing")
    g.add_argument("--commission", type=number("--commission", 0),
                   help="commission per contract (share, coin) per side in the instrument's currency "
                        "(default: the preset's, e.g. R$1.50 on WDO, US$2.50 on 6E; see README)")
    g.add_argument("--commission-pct", type=number("--commission-pct", 0),
                   help="commission as a fraction of notional per side, 0.0004 = 0.04%% "
                        "(default: the preset's, e.g. 0.023%% on B3 stocks, 0.1%% on crypto spot)")
    g.add_argument("--slippage-ticks", type=number("--slippage-ticks", 0), default=1.0,
                   help="adverse slippage of market fills in ticks (default 1)")
    g.add_argument("--contracts", type=number("--contracts", 0, strict_lo=True),
                   help="contracts (shares, coins) per entry (default: 1, or the round lot: 100 shares "
                        "of a B3 stock)")
    g.add_argument("--initial-equity", type=number("--initial-equity", 0, strict_lo=True), default=100_000.0,
                   help="equity before the first bar, in the instrument's currency (default 100,000)")


def number(name, lo=None, hi=None, *, strict_lo=False, strict_hi=False):
    """argparse type: a finite number in ``[lo, hi]`` (open at an end with ``strict_lo`` /
    ``strict_hi``), naming the flag."""
    def conv(text):
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not np.isfinite(v) or (lo is not None and (v <= lo if strict_lo else v < lo)) \
                or (hi is not None and (v >= hi if strict_hi else v > hi)):
            rng = f"{'>' if strict_lo else '>='} {lo:g}" if lo is not None else ""
            rng += (" and " if rng and hi is not None else "") + \
                (f"{'<' if strict_hi else '<='} {hi:g}" if hi is not None else "")
            raise argparse.ArgumentTypeError(f"{name} must be a finite number {rng}, got {text}")
        return v
    return conv


def whole(name, lo):
    """argparse type: a whole number >= ``lo``, naming the flag."""
    def conv(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number, got {text!r}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"{name} must be >= {lo}, got {v}")
        return v
    return conv


def n_jobs(text):
    """argparse type of ``--n-jobs``: a whole number, -1 for all cores, never 0."""
    v = whole("--n-jobs", -(2 ** 31))(text)
    if v == 0:
        raise argparse.ArgumentTypeError("--n-jobs must be >= 1 or -1 (all cores), got 0")
    return v


def positive_int(name):
    """argparse type: a whole number >= 1, naming the flag."""
    return whole(name, 1)


def instrument_arg(args):
    """What the flags say the instrument is: a custom :class:`~ml.data.Instrument`
    (``--instrument`` / ``[instrument]``), a preset name (``--contract``), or None."""
    from ml.data import custom_instrument, get_instrument

    spec = getattr(args, "instrument", None) or {}
    name = getattr(args, "contract", None)
    if spec:
        if name:
            spec = {"base": name, **spec}
        return custom_instrument(spec, source="--instrument")
    if name:
        return get_instrument(name).name     # an unknown name fails now, with the presets and a did-you-mean
    return None


def instrument_of(args, bars):
    """The :class:`~ml.data.Instrument` the run trades: the flags' (checked against
    the bars' symbols) else the bars' own (:func:`ml.data.bars_instrument`); an
    unknown symbol is an error."""
    from ml.data import Instrument, bars_instrument

    given = instrument_arg(args)
    if isinstance(given, Instrument):
        return given
    return bars_instrument(bars, given)


def contract_of(args, bars):
    """``(instrument, ContractSpec)`` of the run (see :func:`instrument_of`)."""
    from risk.sizing import ContractSpec

    inst = instrument_of(args, bars)
    return inst, ContractSpec.from_instrument(inst)


def costs_of(args, instrument):
    """:class:`engines.simulate.Costs` from the cost flags; a flag not given takes the instrument's fee."""
    from engines.simulate import Costs

    cpc = args.commission if args.commission is not None else float(instrument.commission_per_contract)
    pct = args.commission_pct if args.commission_pct is not None else float(instrument.commission_pct)
    return Costs(commission_per_contract=cpc, commission_pct=pct, slippage_ticks=args.slippage_ticks)


def contracts_of(args, instrument) -> float:
    """``--contracts``, else one contract (coin), or one round lot where a lot is more than one unit."""
    if args.contracts is not None:
        return float(args.contracts)
    return float(max(1.0, instrument.lot_size))


def assumptions(instrument, calendar, costs, contracts: float, bars) -> dict:
    """What a result depends on, stated for ``run.json``, the log and the report."""
    from engines.simulate import FILL_ORDER

    loaded = bars.attrs.get("bars", {}) or {}
    return {
        "instrument": instrument.summary(),
        "preset": instrument.name,
        "calendar": {"name": calendar.name, "description": calendar.describe(), "tz": loaded.get("tz"),
                     "check": loaded.get("calendar_check")},
        "bar_minutes": loaded.get("bar_minutes"),
        "bar_time": loaded.get("bar_time", "open"),
        "costs": {"commission_per_contract": costs.commission_per_contract, "commission_pct": costs.commission_pct,
                  "slippage_ticks": costs.slippage_ticks, "currency": instrument.currency,
                  "fees": instrument.fees},
        "contracts_per_entry": contracts,
        "fill_order": FILL_ORDER,
    }


def log_assumptions(log, a: dict) -> None:
    inst = a["instrument"]
    log.info("instrument %s (%s): %s, multiplier %g, tick %g = %g %s, %s; calendar %s",
             a["preset"], inst["description"], inst["kind"], inst["multiplier"], inst["tick_size"],
             inst["tick_value"], inst["currency"], "fractional sizes" if inst["fractional"] else
             f"whole lots of {inst['lot_size']:g}", a["calendar"]["description"])
    c = a["costs"]
    log.info("costs per side: %g %s per contract + %g%% of notional, %g tick(s) slippage; %g per entry; "
             "fills: %s", c["commission_per_contract"], c["currency"], 100 * c["commission_pct"],
             c["slippage_ticks"], a["contracts_per_entry"], a["fill_order"])


def directional_probability(up, down):
    """``up / (up + down)``: the chance of up given a barrier is hit; NaN where both are 0."""
    total = up + down
    if isinstance(total, pd.Series):
        return up / total.where(total > 0)
    return up / total if total > 0 else float("nan")


def signal_probability(predictions: pd.DataFrame) -> pd.Series:
    """The probability a strategy trades on, from walk-forward predictions.

    With down (``p_-1``) and up (``p_1``) classes it is ``P(up) / (P(up) +
    P(down))``: the chance the move is up given that a barrier is hit, so 0.5
    is neutral whatever the share of the time-out class.  With two classes it
    is ``p_up``.
    """
    if "p_-1" in predictions.columns and "p_1" in predictions.columns:
        return directional_probability(predictions["p_1"], predictions["p_-1"]).rename("probability")
    if "p_up" not in predictions.columns:
        raise ParameterError("the predictions have no `p_up` column (expected the output of "
                             "python -m runners.walkforward)")
    return predictions["p_up"].rename("probability")
