"""Where a run's P&L came from: by hour of day, by market regime, by side and by exit reason.

:func:`attribution` groups the closed trades of a run (an engine's
``SimResult.trades``) by their entry: the hour in the exchange's time zone,
the side, the exit reason, and the market regime at entry. The regime is the
project's :class:`ml.models._regime.RegimeModel` (a Gaussian mixture on the 60-bar
return and volatility of :func:`ml.models._regime.regime_features`, regimes ordered
by volatility: ``calm`` < ``volatile``), fitted on the run's own bars: a
description of the market each trade met, not a signal (it sees the whole
run). Each table holds trades, net P&L, hit rate (net P&L > 0) and mean P&L
per trade.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

__all__ = ["attribution", "attribution_html", "regimes_at"]

_NAMES = {2: ["calm", "volatile"], 3: ["calm", "normal", "volatile"]}


def _table(trades: pd.DataFrame, key) -> pd.DataFrame:
    g = trades.groupby(key, sort=True)["net_pnl"]
    out = pd.DataFrame({"trades": g.size(), "net_pnl": g.sum(), "hit_rate": g.apply(lambda s: float((s > 0).mean())),
                        "mean_pnl": g.mean()})
    return out


def regimes_at(bars: pd.DataFrame, *, n_regimes: int = 2, window: int = 60, calendar=None,
               random_state: int = 0) -> pd.Series:
    """The regime name at each bar (NaN while the window fills), from :class:`ml.models.RegimeModel`."""
    from ml.models._regime import RegimeModel, regime_features

    feats = regime_features(bars, window=window, calendar=calendar)
    ok = feats.notna().all(axis=1).to_numpy()
    out = pd.Series(np.nan, index=bars.index, dtype=object)
    if ok.sum() < 10 * n_regimes:
        return out
    model = RegimeModel(n_regimes=n_regimes, random_state=random_state).fit(feats[ok])
    labels = model.predict(feats[ok])
    names = _NAMES.get(n_regimes, [f"regime {i}" for i in range(n_regimes)])
    out[ok] = [names[int(k)] for k in labels]
    return out


def attribution(trades: pd.DataFrame, bars: pd.DataFrame | None = None, *, calendar=None,
                n_regimes: int = 2) -> dict:
    """Tables of the closed ``trades`` by ``hour``, ``side``, ``exit_reason`` and (with ``bars``) ``regime``.

    Hours are the entry's hour in the time zone of ``entry_time`` (the exchange's, as the engines write it).
    """
    if trades is None or not len(trades):
        return {}
    t = trades[trades["closed"]] if "closed" in trades else trades
    if not len(t):
        return {}
    t = t.copy()
    entry = pd.to_datetime(t["entry_time"])
    t["hour"] = entry.dt.hour.map(lambda h: f"{h:02d}:00")
    t["side_name"] = np.where(t["side"].to_numpy() > 0, "long", "short")
    out = {"hour": _table(t, "hour"), "side": _table(t, "side_name"), "exit_reason": _table(t, "exit_reason")}
    if bars is not None:
        reg = regimes_at(bars, n_regimes=n_regimes, calendar=calendar)
        t["regime"] = reg.reindex(pd.DatetimeIndex(entry)).to_numpy()
        t["regime"] = t["regime"].fillna("warming up")
        out["regime"] = _table(t, "regime")
    for name, frame in out.items():
        frame.index = frame.index.astype(str).rename(name)
    return out


def attribution_html(tables: dict, currency: str = "") -> str:
    """The tables as HTML sections for a report."""
    if not tables:
        return "<h2>Attribution</h2><p>No closed trade to attribute.</p>"
    parts = ["<h2>Attribution (closed trades, net of costs)</h2>"]
    titles = {"hour": "By entry hour (exchange time)", "regime": "By market regime at entry (RegimeModel, "
              "2 regimes by volatility, fitted on the run's bars: descriptive)", "side": "By side",
              "exit_reason": "By exit reason"}
    for key in ("hour", "regime", "side", "exit_reason"):
        if key not in tables:
            continue
        rows = "".join(
            f"<tr><td>{html.escape(str(k))}</td><td>{int(r.trades)}</td><td>{currency} {r.net_pnl:,.2f}</td>"
            f"<td>{100 * r.hit_rate:.1f}%</td><td>{currency} {r.mean_pnl:,.2f}</td></tr>"
            for k, r in tables[key].iterrows())
        parts.append(f"<h3>{html.escape(titles[key])}</h3><table><tr><th>{key.replace('_', ' ')}</th><th>trades"
                     f"</th><th>net P&amp;L</th><th>hit rate</th><th>mean P&amp;L</th></tr>{rows}</table>")
    return "".join(parts)
