"""Compare the sessions found in bar data with their calendar's schedule.

:func:`check_sessions` is what :func:`ml.data.load_bars` runs on every file:
it names the dates where the data and the calendar disagree, so that wrong
hours, a wrong calendar or a wrong time zone never pass silently.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["check_sessions", "session_check_message"]

#: More than this share of bars outside the calendar's sessions means the
#: calendar (or the time zone) does not fit the data.
MAX_OUTSIDE_SHARE = 0.10
#: More than this share of (inner) sessions starting late or ending early
#: means the calendar's hours do not fit the data.
MAX_MISFIT_SHARE = 0.5


def _dates(values) -> list[str]:
    return [str(pd.Timestamp(v).date()) for v in values]


def check_sessions(index: pd.DatetimeIndex, calendar, bar_minutes: float) -> dict:
    """Where the bars and the calendar's sessions disagree.

    Parameters
    ----------
    index : DatetimeIndex
        Bar open times (tz-aware; repeated times of several symbols allowed).
    calendar : SessionCalendar
    bar_minutes : float
        Bar length.

    Returns
    -------
    dict
        ``sessions`` and ``bars`` checked; ``outside_bars`` (bars outside
        every session); ``after_close``, ``before_open``, ``closed_days``
        (session dates, or for closed days the local dates, with such bars);
        ``late_start`` / ``early_end``: sessions whose first bar opens, or whose
        last bar ends, more than ``max(2 bars, 15 minutes)`` after the open /
        before the close (the data's first and last session are not judged:
        files start and end anywhere); ``fits`` False when the calendar
        clearly does not fit (more than 10% of bars outside its sessions, or
        more than half of the sessions starting late or ending early).
    """
    idx = pd.DatetimeIndex(index).unique().sort_values()
    info = calendar.sessions(idx)
    ts = idx.as_unit("ns").asi8
    out = ~info.in_session
    local_day = idx.tz_convert(calendar.tz).tz_localize(None).normalize()
    sdate = info.session_date
    # a bar outside every session on a local date that has no session: a closed day
    dates, _, _ = calendar._arrays(int(local_day.year.min()), int(local_day.year.max()))
    open_days = np.isin(local_day.as_unit("ns").asi8, dates)
    closed = out & ~open_days
    after = out & ~closed & (ts >= info.end)
    before = out & ~closed & (ts < info.start)
    report = {
        "calendar": calendar.name,
        "bars": int(len(idx)),
        "sessions": int(len(np.unique(info.session))),
        "outside_bars": int(out.sum()),
        "after_close": _dates(pd.unique(sdate[after])),
        "before_open": _dates(pd.unique(sdate[before])),
        "closed_days": _dates(pd.unique(local_day[closed])),
    }
    tol = max(2.0 * bar_minutes, 15.0) * 60e9
    inside = info.in_session
    if inside.any():
        s = info.session[inside]
        first_ts = pd.Series(ts[inside]).groupby(s).min()
        last_ts = pd.Series(ts[inside]).groupby(s).max()
        start = pd.Series(info.start[inside]).groupby(s).first()
        end = pd.Series(info.end[inside]).groupby(s).first()
        day = pd.Series(np.asarray(sdate[inside])).groupby(s).first()
        inner = first_ts.index[1:-1] if len(first_ts) > 2 else first_ts.index[:0]
        late = (first_ts - start)[inner] > tol
        early = (end - (last_ts + bar_minutes * 60e9))[inner] > tol
        report["late_start"] = _dates(day[inner][late.to_numpy()])
        report["early_end"] = _dates(day[inner][early.to_numpy()])
        n_inner = len(inner)
    else:
        report["late_start"], report["early_end"], n_inner = [], [], 0
    misfit = len(set(report["late_start"]) | set(report["early_end"]))
    report["fits"] = bool(report["outside_bars"] <= MAX_OUTSIDE_SHARE * max(report["bars"], 1)
                          and not (n_inner >= 4 and misfit > MAX_MISFIT_SHARE * n_inner))
    report["disagreements"] = int(len(set(report["after_close"]) | set(report["before_open"])
                                      | set(report["closed_days"]) | set(report["late_start"])
                                      | set(report["early_end"])))
    return report


def _listed(dates: list[str], k: int = 4) -> str:
    shown = ", ".join(dates[:k])
    return shown + (f" (+{len(dates) - k} more)" if len(dates) > k else "")


def session_check_message(report: dict) -> str:
    """One line naming what disagrees (empty when nothing does)."""
    parts = []
    labels = (("after_close", "bars after the close on"), ("before_open", "bars before the open on"),
              ("closed_days", "bars on days the calendar has no session (holidays, weekends):"),
              ("late_start", "sessions starting late on"), ("early_end", "sessions ending early on"))
    for key, label in labels:
        if report.get(key):
            parts.append(f"{label} {_listed(report[key])}")
    if not parts:
        return ""
    return (f"calendar {report['calendar']} and the data disagree on {report['disagreements']} of "
            f"{report['sessions']} sessions ({report['outside_bars']} bars outside its sessions): "
            + "; ".join(parts))
