"""A real-time dashboard of a paper or live run (Dash): equity, positions, decisions, drift, alerts, challenger.

:func:`build_app` returns a Dash app that reads a run folder of
``python -m runners.paper`` every ``refresh`` seconds: the decision log
(``decisions.partial.parquet`` while the run goes, ``decisions.parquet`` once it
ends), ``drift.partial.csv`` / ``drift.csv``, ``alerts.jsonl``, ``live.json``,
and at the end ``equity.csv`` and ``run.json``. :func:`serve` runs it on
127.0.0.1 with werkzeug's threaded server, optionally stopping after a time.

While the run goes, the equity is *provisional*: the decided side times the
close-to-close move, times the contract multiplier and the contracts, before
costs, stops and limits (the page says so); when the run ends the broker's
equity replaces it. Times are shown in the exchange's time zone, money in the
instrument's currency.
"""

from __future__ import annotations

import errno
import json
import socket
import threading
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["build_app", "read_run", "serve"]

_EMPTY = "no data yet"


def _read_parquet(path: Path):
    try:
        return pd.read_parquet(path)
    except (FileNotFoundError, OSError, ValueError):
        return None


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, OSError, ValueError):
        return {}


def read_run(folder) -> dict:
    """What the dashboard shows of the run in ``folder``, as plain frames and dicts (also for tests)."""
    folder = Path(folder)
    finished = (folder / "run.json").exists()
    live = _read_json(folder / "live.json")
    decisions = _read_parquet(folder / ("decisions.parquet" if finished else "decisions.partial.parquet"))
    if decisions is None and not finished:
        decisions = _read_parquet(folder / "decisions.parquet")
    tz = live.get("timezone")
    equity = None
    provisional = True
    if finished and (folder / "equity.csv").exists():
        eq = pd.read_csv(folder / "equity.csv", index_col=0)
        eq.index = pd.to_datetime(eq.index, utc=True)
        if tz:
            eq.index = eq.index.tz_convert(tz)
        equity = eq["equity"]
        provisional = False
    elif decisions is not None and len(decisions) > 1 and "close" in decisions:
        mult = float(live.get("multiplier", 1.0)) * float(live.get("contracts", 1.0))
        pnl = decisions["side"].shift(1).fillna(0) * decisions["close"].diff().fillna(0) * mult
        equity = pnl.cumsum()
    drift = None
    for name in ("drift.csv", "drift.partial.csv"):
        if (folder / name).exists():
            try:
                drift = pd.read_csv(folder / name)
            except (OSError, ValueError, pd.errors.EmptyDataError):
                drift = None
            break
    alerts = []
    if (folder / "alerts.jsonl").exists():
        for line in (folder / "alerts.jsonl").read_text().splitlines():
            try:
                alerts.append(json.loads(line))
            except ValueError:
                continue                        # a line being written
    run = _read_json(folder / "run.json") if finished else {}
    return {"folder": str(folder), "finished": finished, "live": live, "decisions": decisions, "equity": equity,
            "provisional": provisional, "drift": drift, "alerts": alerts, "run": run, "timezone": tz}


def _money(v, currency: str) -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    return f"{currency} {v:,.2f}".strip()


def _figure(series: pd.Series | None, title: str, tz: str | None, yaxis: str, color: str):
    import plotly.graph_objects as go

    fig = go.Figure()
    if series is not None and len(series):
        fig.add_trace(go.Scatter(x=series.index, y=series.to_numpy(), mode="lines", line={"color": color},
                                 name=title))
    else:
        fig.add_annotation(text=_EMPTY, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                           font={"size": 16})
    fig.update_layout(title=title, margin={"l": 60, "r": 20, "t": 40, "b": 40}, height=280,
                      xaxis_title=f"time ({tz})" if tz else "time", yaxis_title=yaxis, template="plotly_white")
    return fig


def build_app(run_dir, *, refresh: float = 1.0):
    """The Dash app of the run in ``run_dir`` (see the module docstring)."""
    from dash import Dash, Input, Output, dcc, html

    folder = Path(run_dir)
    app = Dash(__name__, title=f"daytrade-ml: {folder.name}")
    card = {"border": "1px solid #ddd", "borderRadius": "6px", "padding": "10px", "margin": "6px"}
    app.layout = html.Div(style={"fontFamily": "system-ui, sans-serif", "maxWidth": "1200px", "margin": "auto"},
                          children=[
        html.H2(f"Paper run {folder.name}", id="title"),
        html.Div(id="status", style=card),
        html.Div(style={"display": "flex"}, children=[
            html.Div(dcc.Graph(id="equity"), style={**card, "flex": "1"}),
            html.Div(dcc.Graph(id="drawdown"), style={**card, "flex": "1"})]),
        html.Div(style={"display": "flex"}, children=[
            html.Div([html.H4("Position"), html.Div(id="position")], style={**card, "flex": "1"}),
            html.Div([html.H4("Champion and challenger"), html.Div(id="challenger")], style={**card, "flex": "2"})]),
        html.Div([html.H4("Latest decisions"), html.Div(id="decisions")], style=card),
        html.Div(style={"display": "flex"}, children=[
            html.Div([html.H4("Drift"), html.Div(id="drift")], style={**card, "flex": "1"}),
            html.Div([html.H4("Alerts"), html.Div(id="alerts")], style={**card, "flex": "1"})]),
        dcc.Interval(id="tick", interval=int(refresh * 1000), n_intervals=0),
    ])

    @app.callback(Output("status", "children"), Output("equity", "figure"), Output("drawdown", "figure"),
                  Output("position", "children"), Output("challenger", "children"),
                  Output("decisions", "children"),
                  Output("drift", "children"), Output("alerts", "children"), Input("tick", "n_intervals"))
    def _update(_):
        r = read_run(folder)
        live, tz = r["live"], r["timezone"]
        currency = live.get("currency", "")
        d = r["decisions"]
        n = 0 if d is None else len(d)
        last = "" if not n else str(d.index[-1])
        state = "finished" if r["finished"] else ("running" if n else "waiting for the first bar")
        status = [html.B(f"{state}: "), f"{n} of {live.get('bars', '?')} bars decided",
                  (f"; last bar {last} ({tz})" if n else ""), html.Br(),
                  f"model {live.get('model', '?')}: {live.get('describe', _EMPTY)}"]
        eq = r["equity"]
        label = "equity" + (" (provisional: decided side x close move, before costs)" if r["provisional"] else "")
        eq_fig = _figure(eq, label, tz, currency or "P&L", "#1f77b4")
        dd = None if eq is None or not len(eq) else eq - eq.cummax()
        dd_fig = _figure(dd, "drawdown", tz, currency or "P&L", "#d62728")
        if n:
            side = int(d["side"].iloc[-1])
            held = {1: "long", -1: "short", 0: "flat"}[side]
            size = (f" {float(live.get('contracts', 1)):g} contract(s) of {live.get('instrument', '')}" if side
                    else "")
            position = [html.Span(held, id="position-side"), f"{size} after the decision at {last}"]
        else:
            position = _EMPTY
        shadow = _read_json(folder / "metrics.json").get("shadow") if r["finished"] else None
        if shadow:
            c = shadow["comparison"]
            challenger = [f"{shadow['challenger']} ({shadow.get('mode', 'shadow')}): {shadow['n_trades']} trades, net "
                          f"{_money(shadow['net_pnl'], currency)} vs the champion's "
                          f"{_money(shadow['champion_net_pnl'], currency)}", html.Br(), c["verdict"]]
        elif live.get("challenger"):
            challenger = f"{live['challenger']} decides in shadow; the comparison comes when the run ends"
        else:
            challenger = "no challenger in this run (runners.paper --challenger NAME@VERSION)"
        table = _EMPTY
        if n:
            show = d.tail(15).iloc[::-1].reset_index()
            show = show.rename(columns={show.columns[0]: "time"})
            show["time"] = show["time"].astype(str)
            keep = [c for c in ("time", "probability", "side", "alert", "latency_ms", "order_size", "fill_price")
                    if c in show]
            show = show[keep]
            for c, fmt in (("probability", "{:.3f}"), ("latency_ms", "{:.2f}"), ("fill_price", "{:,.2f}"),
                           ("order_size", "{:+g}")):
                if c in show:
                    blank_zero = c == "order_size"
                    show[c] = show[c].map(lambda v, f=fmt, z=blank_zero: "" if pd.isna(v) or (z and v == 0)
                                          else f.format(v))
            cell = {"padding": "2px 10px", "borderBottom": "1px solid #eee", "fontSize": "13px"}
            table = html.Table([html.Thead(html.Tr([html.Th(c.replace("_", " "), style=cell) for c in keep])),
                                html.Tbody([html.Tr([html.Td("" if pd.isna(v) else str(v), style=cell)
                                                     for v in rec.values()])
                                            for rec in show.to_dict("records")])])
        drift = r["drift"]
        if drift is not None and len(drift):
            row = drift.iloc[-1]
            psis = row[[c for c in drift.columns if c.startswith("psi:")]].astype(float).sort_values(ascending=False)
            drift_view = [f"{len(drift)} check(s); last at {row['time']}: {int(row['features_drifted'])} feature(s) "
                          f"past their limits, prediction PSI {row['prediction_psi']:.2f}", html.Br(),
                          "highest feature PSI: " + ", ".join(f"{k[4:]} {v:.2f}" for k, v in psis.head(5).items())]
        else:
            drift_view = _EMPTY + " (the first check comes when the monitor's window is full)"
        if r["alerts"]:
            alerts = html.Ul([html.Li(f"{a['time']}: {a['rule']} ({a['subject']}) {a['message']}", className="alert")
                              for a in r["alerts"][-10:][::-1]])
        else:
            alerts = "no alert"
        return status, eq_fig, dd_fig, position, challenger, table, drift_view, alerts

    return app


def serve(app, *, host: str = "127.0.0.1", port: int = 8050, stop_after: float | None = None):
    """Serve ``app`` on ``host:port`` (threaded werkzeug); returns the server, already running in a thread.
    With ``stop_after`` seconds it shuts itself down then. ``server.port`` is the port (0 picks a free one).
    A port in use raises :class:`OSError`."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class _Quiet(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):   # one line per poll would flood the terminal
            pass

    if port:        # werkzeug would print two lines and exit the process on a busy port: test it first
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise OSError(exc.errno, f"port {port} on {host} is in use") from None
    try:
        server = make_server(host, port, app.server, threaded=True, request_handler=_Quiet)
    except SystemExit:      # werkzeug prints "Port ... is in use" and exits; a library raises instead
        raise OSError(errno.EADDRINUSE, f"port {port} on {host} is in use") from None
    server.port = server.socket.getsockname()[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.thread = thread
    if stop_after is not None:
        timer = threading.Timer(stop_after, server.shutdown)
        timer.daemon = True
        timer.start()
    return server
