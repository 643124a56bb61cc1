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

__all__ = ["add_cost_flags", "add_data_flags", "code_version", "directional_probability", "contract_of", "costs_of", "file_hash",
           "library_versions", "load_instrument", "n_jobs", "number", "positive_int", "signal_probability", "whole"]

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


def load_instrument(data, *, symbol=None, calendar=None, tz=None, log=None) -> tuple[pd.DataFrame, dict]:
    """Load and validate bars of one instrument; several futures contracts become a continuous series.

    Parameters
    ----------
    data : list of str, or None
        Files or folders; None or empty: the bundled WDO sample.

    Returns
    -------
    bars : DataFrame
    report : dict
        ``data`` (paths), ``data_hash``, ``loaded`` (what :func:`ml.data.load_bars`
        recorded) and ``rolls`` for a continuous series.
    """
    data = [str(d) for d in data] if data else [str(sample_path("wdo"))]
    bars = load_bars(data if len(data) > 1 else data[0], symbol=symbol, tz=tz, calendar=calendar)
    report = {"data": data, "data_hash": file_hash(data), "loaded": dict(bars.attrs["bars"])}
    if log is not None:
        log.info("loaded %s bars of %s (%s calendar, %s) from %s", f"{len(bars):,}",
                 ", ".join(report["loaded"]["symbols"]), report["loaded"]["calendar"], report["loaded"]["tz"],
                 ", ".join(report["loaded"]["sources"]))
    symbols = list(pd.unique(bars["symbol"]))
    if len(symbols) > 1:
        if all(parse_contract(s) for s in symbols):
            bars = continuous_contract(bars, calendar=calendar)
            report["rolls"] = bars.attrs.get("rolls", [])
            if log is not None:
                log.info("built a continuous %s series over %d contracts (%d rolls)",
                         bars["symbol"].iloc[0], len(symbols), len(report["rolls"]))
        else:
            raise ParameterError(f"the data hold {len(symbols)} symbols ({', '.join(symbols[:5])}); "
                                 "choose one with --symbol")
    return bars, report


# --------------------------------------------------------------------------- shared flags


def add_data_flags(p) -> None:
    """``--data``, ``--symbol``, ``--calendar``, ``--tz``."""
    g = p.add_argument_group("data")
    g.add_argument("--data", nargs="+", help="bar file(s) or folder (CSV, CSV.GZ, Parquet); "
                                             "default: the bundled WDO sample")
    g.add_argument("--symbol", help="keep this symbol or futures root (e.g. WDO)")
    g.add_argument("--calendar", help="session calendar: B3, B3_EQUITIES, 24/7 (default: from the symbol)")
    g.add_argument("--tz", help="time zone of timestamps without offset (default: the calendar's)")


def add_cost_flags(p) -> None:
    """Contract, commissions, slippage, sizing and equity: the costs of a backtest."""
    g = p.add_argument_group("contract and costs")
    g.add_argument("--contract", help="contract preset: WDO, DOL, WIN, IND, crypto "
                                      "(default: from the symbol; crypto on a 24/7 calendar)")
    g.add_argument("--commission", type=number("--commission", 0),
                   help="commission per contract per side in currency (default: R$1.50 on B3 futures, 0 on crypto)")
    g.add_argument("--commission-pct", type=number("--commission-pct", 0),
                   help="commission as a fraction of notional per side, 0.0004 = 0.04%% "
                        "(default: 0 on B3 futures, 0.0004 on crypto)")
    g.add_argument("--slippage-ticks", type=number("--slippage-ticks", 0), default=1.0,
                   help="adverse slippage of market fills in ticks (default 1)")
    g.add_argument("--contracts", type=number("--contracts", 0, strict_lo=True), default=1.0,
                   help="contracts per entry (default 1; crypto: units of the coin)")
    g.add_argument("--initial-equity", type=number("--initial-equity", 0, strict_lo=True), default=100_000.0,
                   help="equity before the first bar, in currency (default 100,000)")


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


def contract_of(args, bars) -> str:
    """The contract preset: ``--contract``, else from the symbol root, else crypto on a 24/7 calendar."""
    if getattr(args, "contract", None):
        return args.contract
    root = str(bars["symbol"].iloc[0]).upper()
    for name in ("WDO", "DOL", "WIN", "IND"):
        if root.startswith(name):
            return name
    if bars.attrs.get("bars", {}).get("calendar") in ("24/7", "24_7"):
        return "crypto"
    raise ParameterError(f"cannot tell the contract of symbol {root!r}; pass --contract "
                         "(WDO, DOL, WIN, IND or crypto)")


def costs_of(args, contract: str):
    """:class:`engines.simulate.Costs` from the cost flags (defaults by contract)."""
    from engines.simulate import Costs

    crypto = contract.lower() == "crypto"
    cpc = args.commission if args.commission is not None else (0.0 if crypto else 1.5)
    pct = args.commission_pct if args.commission_pct is not None else (0.0004 if crypto else 0.0)
    return Costs(commission_per_contract=cpc, commission_pct=pct, slippage_ticks=args.slippage_ticks)


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
