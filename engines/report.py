"""Report writers: the quantstats HTML tearsheet and ``metrics.json``.

* :func:`tearsheet` hands quantstats **session (daily) returns** only: per-bar
  returns are compounded by session with :func:`engines.metrics.daily_returns`
  in the exchange's time zone, and quantstats annualises them with the
  calendar's sessions per year (252 on B3, 365 for 24/7 crypto), never with its
  ``periods=252`` applied to bar returns (PITFALLS 11, 12, 14).  A benchmark is
  a Series of returns (aggregated the same way); a ticker string is refused,
  because quantstats would download it and nothing here may touch the
  network.  Matplotlib's "findfont" messages, which quantstats triggers, go
  through :mod:`logging` and are silenced there for the call (and Python
  warnings raised inside quantstats are silenced for the call too).
* :func:`metrics_json` writes a metrics dictionary atomically (temporary file
  in the same folder, then :func:`os.replace`), with NaN and infinities written
  as ``null`` (strict JSON).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import numbers
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from engines.metrics import daily_returns
from ml.data import get_calendar
from ml.exceptions import ParameterError

__all__ = ["metrics_json", "tearsheet"]

#: Loggers whose messages quantstats' plots trigger (font look-ups, mostly).
_NOISY_LOGGERS = ("matplotlib", "matplotlib.font_manager", "matplotlib.category", "quantstats")


@contextlib.contextmanager
def _quiet_quantstats():
    """Silence matplotlib / quantstats logging (font warnings) and warnings for one call."""
    saved = []
    for name in _NOISY_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)


def _session_returns(x, name, calendar) -> pd.Series:
    if isinstance(x, str):
        raise TypeError(f"`{name}` must be a Series of returns, got the string {x!r}; quantstats would "
                        "download a ticker, and reports never touch the network.")
    if not isinstance(x, pd.Series):
        raise TypeError(f"`{name}` must be a pandas Series of per-bar returns indexed by tz-aware bar "
                        f"times, got {type(x).__name__}.")
    daily = daily_returns(x, calendar)
    daily.name = name
    return daily


def tearsheet(returns, benchmark=None, path=None, *, calendar, title=None,
              periods_per_year=None, positions=None, report_sharpe=None) -> Path:
    """Write a quantstats HTML tearsheet of session-aggregated returns.

    Parameters
    ----------
    returns : Series of float
        Per-bar simple returns of the strategy, indexed by tz-aware bar times
        (e.g. ``SimResult.returns``).
    benchmark : Series of float, optional
        Per-bar (or per-session) returns of a benchmark, same conventions.  A
        ticker string is refused (it would be downloaded).
    path : str or Path
        Output HTML file; its folder is created if missing.
    calendar : str or SessionCalendar
        Exchange calendar that defines the sessions (``"B3"``, ``"24/7"``).
    title : str, optional
        Report title; default ``"Strategy Tearsheet"``.
    periods_per_year : int, optional
        Sessions a year for quantstats' annualisation; default the calendar's
        ``sessions_in_year()`` (the calendar's count over the returns' years).
    positions : Series, optional
        Per-bar positions (e.g. ``SimResult.positions``): "Time in Market" is
        then the share of bars holding a position, as the walk-forward report
        gives it, instead of quantstats' share of sessions with a non-zero
        return.
    report_sharpe : float, optional
        The Sharpe ratio the run's own report shows (per-bar returns,
        annualised with bars a year), quoted in the page's basis note beside
        quantstats' session-based one.

    Returns
    -------
    Path
        The file written.

    Notes
    -----
    quantstats receives one return per session (``prod(1 + r) - 1`` of that
    session's bars, :func:`engines.metrics.daily_returns`), indexed by the
    tz-naive session date, and ``periods_per_year`` sessions a year, after a
    leading zero return on the day before the first session: the equity starts
    at 1, so a run that loses from its first session shows that loss as a
    drawdown (quantstats finds no drawdown period without a starting peak and
    leaves "Max Drawdown" and the drawdown table empty).  The page is written
    from quantstats' own template with three changes: a note under the title
    saying the basis of every figure; its ``onload="save()"``, a function the
    template never defines, removed (the page threw a ReferenceError); and
    the rolling charts replaced by a line saying why when the run spans fewer
    sessions than their half-year window (they would be empty).
    """
    if path is None:
        raise ParameterError("`path` is required: where the HTML tearsheet is written.")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"`title` must be a str, got {type(title).__name__}.")
    cal = get_calendar(calendar)
    if periods_per_year is None:
        idx = getattr(returns, "index", None)
        idx = idx if isinstance(idx, pd.DatetimeIndex) and idx.tz is not None and len(idx) else None
        periods_per_year = int(round(cal.sessions_in_year(idx)))
    elif isinstance(periods_per_year, (bool, np.bool_)) or not isinstance(periods_per_year, numbers.Real) \
            or not periods_per_year > 0:
        raise ParameterError(f"`periods_per_year` must be a number > 0 (sessions a year), "
                             f"got {periods_per_year!r}.")
    strat = _session_returns(returns, "returns", cal)
    if len(strat) < 2:
        raise ParameterError(f"`returns` span {len(strat)} session(s); a tearsheet needs at least 2.")
    bench = None if benchmark is None else _session_returns(benchmark, "benchmark", cal)
    exposure = None
    if positions is not None:
        pos = np.asarray(positions, dtype=np.float64)
        if pos.shape != (len(returns),):
            raise ParameterError(f"`positions` must hold one position per bar of `returns` ({len(returns)}), "
                                 f"got shape {pos.shape}.")
        exposure = float(np.mean(np.nan_to_num(pos) != 0))
    start = strat.index[0] - pd.Timedelta(days=1)
    n_sessions = len(strat)
    strat = pd.concat([pd.Series([0.0], index=pd.DatetimeIndex([start]), name=strat.name), strat])
    if bench is not None:
        bench = pd.concat([pd.Series([0.0], index=pd.DatetimeIndex([start]), name=bench.name), bench])
    sessions_sharpe = _plain_sharpe(strat.iloc[1:], periods_per_year)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _quiet_quantstats(), tempfile.TemporaryDirectory() as tmp:
        import quantstats as qs

        template = Path(tmp) / "report.html"
        template.write_text(_template(qs, n_sessions, periods_per_year, exposure, sessions_sharpe, report_sharpe,
                                      start), encoding="utf-8")
        qs.reports.html(strat, benchmark=bench, output=str(path),
                        title=title or "Strategy Tearsheet", periods_per_year=periods_per_year,
                        strategy_title="Strategy", template_path=str(template),
                        **({"benchmark_title": "Benchmark"} if bench is not None else {}))
    if exposure is not None:
        page = path.read_text(encoding="utf-8")
        row = "<tr><td>Time in Market</td><td>"
        at = page.find(row)
        if at >= 0:
            end = page.find("</td>", at + len(row))
            page = page[:at + len(row)] + f"{100 * exposure:.1f}% (bars)" + page[end:]
            path.write_text(page, encoding="utf-8")
    return path


def _plain_sharpe(daily: pd.Series, periods_per_year: float) -> float:
    sd = float(daily.std(ddof=1)) if len(daily) > 1 else 0.0
    return float(daily.mean() / sd * math.sqrt(periods_per_year)) if sd > 0 else float("nan")


def _template(qs, n_sessions: int, periods_per_year: float, exposure, sessions_sharpe, report_sharpe, start) -> str:
    """quantstats' own HTML template, with the basis note, without the undefined ``save()``
    call and the off-line page's remote favicon, and with the rolling charts explained
    away when the run is shorter than their window."""
    import re

    tpl = (Path(qs.__file__).parent / "report.html").read_text(encoding="utf-8")
    tpl = tpl.replace(' onload="save()"', "")
    tpl = re.sub(r"\s*<link rel=\"shortcut icon\"[^>]*>", "", tpl)
    window = math.ceil(periods_per_year / 2)
    if n_sessions < window:
        for name in ("rolling_beta", "rolling_vol", "rolling_sharpe", "rolling_sortino"):
            tpl = tpl.replace("{{%s}}" % name, f"<p class='basis'>{name.replace('_', ' ').capitalize()}: not "
                              f"drawn, the run spans {n_sessions} sessions and the window is half a year "
                              f"({window} sessions).</p>")
    sharpe = (f"Sharpe, Sortino and the other ratios: from the session returns, annualised with "
              f"sqrt({periods_per_year:g}) (plain Sharpe of the {n_sessions} sessions: {sessions_sharpe:.2f})")
    if report_sharpe is not None and math.isfinite(report_sharpe):
        sharpe += (f"; the run's report gives {report_sharpe:.2f}, from per-bar returns annualised with bars a "
                   "year, so the two differ by their basis")
    market = (f"Time in Market: the share of bars holding a position ({100 * exposure:.1f}%)" if exposure is not None
              else "Time in Market: quantstats' share of sessions with a non-zero return")
    note = (f"<p class='basis' style='font-size:12px;color:#444'>Basis: one compounded return per session of the "
            f"exchange calendar ({n_sessions} sessions), {periods_per_year:g} sessions a year, and a zero return "
            f"on {start.date()} so the equity starts at 1 (drawdowns count from the start). {sharpe}. {market}."
            "</p>")
    return tpl.replace("<hr>", note + "<hr>", 1)


def _json_safe(value):
    """Plain JSON values: NaN / inf become None, numpy scalars become Python ones."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray, pd.Series)):
        return [_json_safe(v) for v in (value.tolist() if hasattr(value, "tolist") else value)]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        v = float(value)
        return v if math.isfinite(v) else None
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"metrics value of type {type(value).__name__} ({value!r}) is not JSON-serialisable.")


def metrics_json(summary: dict, path) -> Path:
    """Write a metrics dictionary to ``path`` as strict JSON, atomically.

    Parameters
    ----------
    summary : dict
        E.g. :func:`engines.metrics.summarize`'s output; nested dicts, lists,
        numpy scalars and arrays are accepted.
    path : str or Path
        Output file; its folder is created if missing.

    Returns
    -------
    Path

    Notes
    -----
    NaN, ``inf`` and ``-inf`` are written as ``null`` (JSON has no such
    numbers).  The text goes to a temporary file in the same folder, is
    flushed and fsynced, then moved over ``path`` with :func:`os.replace`, so
    a reader sees the old file or the new one, never a half-written one; the
    temporary file is removed if anything fails.
    """
    if not isinstance(summary, dict):
        raise TypeError(f"`summary` must be a dict, got {type(summary).__name__}.")
    text = json.dumps(_json_safe(summary), indent=2, allow_nan=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path
