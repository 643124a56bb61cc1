"""Steps every runner shares: loading one instrument, hashing inputs, recording versions."""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import math
import platform
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

from ml.data import continuous_contract, load_bars, parse_contract, sample_path
from ml.exceptions import ParameterError
from runners._config import KeyValue

__all__ = ["add_cost_flags", "add_data_flags", "add_sizing_flags", "assumptions", "code_version", "contract_of", "contracts_of", "costs_of",
           "data_options", "directional_probability", "file_hash", "instrument_arg", "instrument_of",
           "library_versions", "load_instrument", "log_assumptions", "n_jobs", "number", "positive_int",
           "signal_probability", "sizing_of", "whole"]

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


def add_sizing_flags(p) -> None:
    """How entries are sized: a fixed size, or a volatility target with a causal GARCH forecast."""
    g = p.add_argument_group("sizing")
    g.add_argument("--sizing", default="fixed", choices=("fixed", "vol-target", "kelly"),
                   help="fixed: --contracts per entry (default). vol-target: size each entry so that the "
                        "position's P&L volatility is --target-vol of equity, with the next bar's return "
                        "volatility forecast by a GARCH(1,1) fitted on each fold's training window "
                        "(ml.training.fold_garch_sigma). kelly: risk the capped fractional Kelly fraction of "
                        "equity of each entry's win probability (the traded out-of-sample probability), per "
                        "stop distance with --sl-atr, else of notional. --contracts is ignored by both")
    g.add_argument("--target-vol", type=number("--target-vol", 0, strict_lo=True), default=0.10,
                   help="annualised volatility target of --sizing vol-target, as a fraction of equity "
                        "(default 0.10 = 10%%/year; converted per bar with the session calendar)")


    g.add_argument("--kelly-fraction", type=number("--kelly-fraction", 0, 1, strict_lo=True), default=0.5,
                   help="--sizing kelly: the multiple of full Kelly (default 0.5, half Kelly)")
    g.add_argument("--kelly-cap", type=number("--kelly-cap", 0, 1, strict_lo=True), default=0.25,
                   help="--sizing kelly: the largest fraction of equity at risk per entry (default 0.25)")
    g.add_argument("--payoff-ratio", type=number("--payoff-ratio", 0, strict_lo=True), default=None,
                   help="--sizing kelly: average win / average loss of a trade; default --tp-atr / --sl-atr "
                        "when both are set (there is no default otherwise)")


def sizing_of(args, contracts: float, periods_per_year: float):
    """The :class:`risk.rules.Sizing` of the flags; for ``vol-target``, the per-bar target (annual / sqrt(ppy))."""
    from risk.rules import Sizing

    if getattr(args, "sizing", "fixed") == "vol-target":
        return Sizing("volatility_target", target_vol=float(args.target_vol) / math.sqrt(periods_per_year))
    if getattr(args, "sizing", "fixed") == "kelly":
        return Sizing("kelly", fraction=float(args.kelly_fraction), cap=float(args.kelly_cap),
                      payoff_ratio=None if args.payoff_ratio is None else float(args.payoff_ratio))
    return Sizing(contracts=contracts)


def add_strategy_flags(p) -> None:
    """The probability-threshold strategy, its stops and the daily limits: one definition for every
    runner.  One convention for "off": 0 turns off each stop, the time stop and each limit (the
    default), and ``--long-only`` / ``--no-long-only`` is the one switch of the short side."""
    g = p.add_argument_group("strategy and risk")
    g.add_argument("--long-threshold", type=number("--long-threshold", 0.5, 1.0), default=0.55,
                   help="go long when the probability is at least this, in [0.5, 1] (default 0.55)")
    g.add_argument("--short-threshold", type=number("--short-threshold", 0.0, 0.5, strict_hi=True), default=0.45,
                   help="go short when the probability is at most this, in [0, 0.5) (default 0.45)")
    g.add_argument("--long-only", action=argparse.BooleanOptionalAction, default=False,
                   help="never short (default: long and short)")
    g.add_argument("--min-holding", type=positive_int("--min-holding"), default=1,
                   help="decision bars a side is kept at least (default 1)")
    g.add_argument("--flat-bars-before-close", type=whole("--flat-bars-before-close", 0), default=1,
                   help="decide flat this many bars before the session close, so the exit fills inside the "
                        "session (default 1; 0: hold to the last bar, where the engines close what is open at "
                        "the session's last close)")
    g.add_argument("--sl-atr", type=number("--sl-atr", 0), default=0.0,
                   help="stop loss in ATRs of the decision bar (default 0: none)")
    g.add_argument("--tp-atr", type=number("--tp-atr", 0), default=0.0,
                   help="take profit in ATRs (default 0: none)")
    g.add_argument("--trail-atr", type=number("--trail-atr", 0), default=0.0,
                   help="trailing stop in ATRs (default 0: none)")
    g.add_argument("--max-bars", type=whole("--max-bars", 0), default=0,
                   help="time stop: bars a position is held at most (default 0: none)")
    g.add_argument("--atr-window", type=positive_int("--atr-window"), default=14,
                   help="bars of the ATR the stops are measured in (default 14)")
    g.add_argument("--max-daily-loss", type=number("--max-daily-loss", 0), default=0.0,
                   help="stop trading for the session after losing this much currency (default 0: no limit)")
    g.add_argument("--max-trades-per-day", type=whole("--max-trades-per-day", 0), default=0,
                   help="entries per session at most (default 0: no limit)")


def strategy_of(args):
    """The :class:`~strategies.ProbabilityThresholdStrategy` of :func:`add_strategy_flags`."""
    from strategies import ProbabilityThresholdStrategy

    return ProbabilityThresholdStrategy(long_threshold=args.long_threshold, short_threshold=args.short_threshold,
                                        min_holding=args.min_holding,
                                        flat_bars_before_close=args.flat_bars_before_close,
                                        allow_short=not args.long_only)


def stops_of(args):
    """The :class:`~risk.rules.Stops` of :func:`add_strategy_flags` (0: none)."""
    from risk.rules import Stops

    return Stops(sl_atr=args.sl_atr or None, tp_atr=args.tp_atr or None, trail_atr=args.trail_atr or None,
                 max_bars=args.max_bars or None, atr_window=args.atr_window)


def limits_of(args):
    """The :class:`~risk.limits.DailyLimits` of :func:`add_strategy_flags` (0: no limit)."""
    from risk.limits import DailyLimits

    return DailyLimits(max_daily_loss=args.max_daily_loss or None,
                       max_trades_per_day=args.max_trades_per_day or None)


def add_execution_flags(p, *, where: str) -> None:
    """Market impact and the participation cap: costs only backtrader models (``where`` says when
    it runs, e.g. "with --engine backtrader").  0 / no value: none."""
    g = p.add_argument_group("backtrader execution")
    g.add_argument("--impact", type=number("--impact", 0), default=0.0,
                   help=f"square-root market impact coefficient k, {where} (default 0: none)")
    g.add_argument("--participation", type=number("--participation", 0, 1, strict_lo=True),
                   help=f"fill at most this fraction of each bar's volume, the rest carried, {where} "
                        "(default: no cap)")


def execution_of(args) -> dict:
    """``impact`` / ``participation`` keyword arguments of :func:`engines.bt.run_backtrader` (only
    those set)."""
    from engines.bt import Participation, SquareRootImpact

    kw = {}
    if args.impact:
        kw["impact"] = SquareRootImpact(args.impact)
    if args.participation is not None:
        kw["participation"] = Participation(args.participation)
    return kw


def add_seed_flag(g, what: str) -> None:
    """``--seed``, the same in every runner."""
    g.add_argument("--seed", metavar="N", type=whole("--seed", 0), default=0, help=f"seed of {what} (default 0)")


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
    """:func:`ml.training.directional_probability` (imported when called: ml.training is heavy)."""
    from ml.training import directional_probability as f

    return f(up, down)


def signal_probability(predictions: pd.DataFrame) -> pd.Series:
    """:func:`ml.training.signal_probability`, the probability a strategy trades (imported when called)."""
    from ml.training import signal_probability as f

    return f(predictions)


def add_monitor_flags(p) -> None:
    """``--monitor KEY=VALUE`` (the monitor's thresholds) and ``--webhook URL``."""
    p.add_argument("--monitor", action=KeyValue, dest="monitor",
                   help="a model-monitor threshold (ml.monitoring.MonitorThresholds), repeatable, e.g. "
                        "--monitor window=300 --monitor null_factor=3; a [monitor] table in --config")
    p.add_argument("--webhook", metavar="URL", help="also POST each alert as JSON to URL (2 retries, 2 s timeout)")
