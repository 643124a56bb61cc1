"""Paper trading on a replay: a registered model bundle decides bar by bar, backtrader's broker fills.

    python -m runners.paper --model wdo-logit@3 --replay bars.csv.gz               # as fast as possible
    python -m runners.paper --model wdo-logit --replay bars.parquet --speed 60      # 60x the bars' pace

The bundle (``python -m runners.walkforward --register NAME``) is loaded from
the registry (``--registry``, default ``$DAYTRADE_ML_REGISTRY`` or
``~/.daytrade-ml/models``).  Each bar of the replay file reaches
:class:`engines.live.LiveDecider` as it would arrive live (``--speed``: the
replay runs that many times faster than the bars' own pace; 0, the default,
as fast as possible).  The decider updates the bundle's features from their
state, asks the model, applies the strategy's rule and its safety rules.  The
sides it decided are then executed through backtrader's broker with the
bundle's sizing, stops, limits, costs and contract: fills at the next open.

Writes to ``--out`` (default ``runs/paper-<time>``):

- ``decisions.parquet``: one row per bar: bar time, arrival and decision
  times, the feature vector's hash, probability, side, alert, latency, and the
  order and fill it led to;
- ``trades.csv``, ``equity.csv``, ``metrics.json``, ``report.html`` (and
  ``tearsheet.html`` with two sessions or more);
- ``run.json`` (settings, bundle, data, parity, latency), ``config.toml``
  (``--config config.toml`` replays the run) and ``run.log``.

**Parity.** The same bars go through the bundle's batch backtest
(:meth:`ml.registry.ModelBundle.backtest`: features of the whole file, the
strategy's sides, the same engine).  The report says ``parity: N of N
decisions equal`` and whether the trades are equal; a difference is listed.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ml.exceptions import ParameterError
from runners._cli import OneLineParser, atomic_output, atomic_write_json, atomic_write_text, default_out, prepare_out, run_cli
from runners._config import parse_args_with_config, write_toml
from runners._pipeline import add_data_flags, add_monitor_flags, data_options, load_instrument, number


def build_parser():
    p = OneLineParser(prog="python -m runners.paper",
                      description="Run a registered model bundle on a replayed bar file as if live: decisions bar "
                                  "by bar, fills through backtrader's broker with the bundle's costs, and a "
                                  "parity check against its batch backtest.")
    p.add_argument("--config", metavar="FILE", help="TOML file of settings (flag names with underscores); flags "
                                                    "override it")
    p.add_argument("--model", metavar="NAME[@VERSION]",
                   help="required: the bundle in the registry (python -m runners.walkforward --register NAME)")
    p.add_argument("--registry", metavar="DIR",
                   help="model registry folder (default $DAYTRADE_ML_REGISTRY, else ~/.daytrade-ml/models)")
    p.add_argument("--replay", metavar="FILE", help="required: bar file to replay (CSV, CSV.GZ, Parquet)")
    p.add_argument("--speed", type=number("--speed", 0), default=0.0,
                   help="replay speed: this many times the bars' own pace; 0 (default) as fast as possible")
    p.add_argument("--stale-bars", type=number("--stale-bars", 0, strict_lo=True), default=3.0,
                   help="with --speed > 0: no new order once no bar arrived for this many bar lengths (default 3)")
    p.add_argument("--flatten-on-stale", action="store_true",
                   help="close the position on the first bar after a stale feed (default: keep it, no new order)")
    p.add_argument("--max-orders", type=int, metavar="N",
                   help="order-rate cap: at most N orders that open or reverse a position per --order-window "
                        "minutes of bar time (closing is never refused; default no cap)")
    p.add_argument("--order-window", type=number("--order-window", 0, strict_lo=True), default=60.0,
                   help="the order-rate cap's window in minutes (default 60)")
    add_monitor_flags(p)
    p.add_argument("--challenger", metavar="NAME[@VERSION]",
                   help="shadow mode: this bundle decides on the same bars beside --model but does not trade; its "
                        "decisions go to shadow_decisions.parquet and the report compares the two")
    p.add_argument("--canary", type=number("--canary", 0, strict_lo=True), metavar="FRACTION",
                   help="with --challenger: canary mode, the challenger trades too, at this fraction of its size "
                        "(fixed sizing: at least one lot); canary_trades.csv and the report show its results")
    p.add_argument("--initial-equity", type=number("--initial-equity", 0, strict_lo=True), default=100_000.0)
    p.add_argument("--stop-after", type=int, metavar="N",
                   help="stop after deciding N bars, as a crash would (the decision log is kept; rerunning the "
                        "same command resumes from it without deciding a bar twice)")
    add_data_flags(p)
    p.add_argument("--out", help="output folder (default runs/paper-<time>)")
    p.add_argument("--quiet", action="store_true", help="only errors on the terminal (run.log keeps all)")
    return p


def main(argv=None) -> Path:
    args = parse_args_with_config(build_parser(), argv)
    for flag, value in (("--model", args.model), ("--replay", args.replay)):
        if not value:
            raise ParameterError(f"{flag} is required (e.g. --model wdo-logit@3 --replay bars.parquet), on the "
                                 "command line or in --config")
    if args.data:
        raise ParameterError("runners.paper replays --replay FILE; --data is not used here")
    from ml.registry import ModelRegistry, default_registry_path

    registry = ModelRegistry(args.registry if args.registry else default_registry_path())
    bundle = registry.load_bundle(args.model)     # an unknown name or version fails before anything else
    challenger = registry.load_bundle(args.challenger) if args.challenger else None
    if args.canary is not None:
        if challenger is None:
            raise ParameterError("--canary needs --challenger NAME@VERSION: the model that trades at a fraction of "
                                 "its size")
        if args.canary > 1 or challenger.sizing.get("method", "fixed") != "fixed":
            raise ParameterError(f"--canary scales a fixed size by a fraction in (0, 1]; got {args.canary:g} with "
                                 f"{challenger.sizing.get('method', 'fixed')} sizing")
    from ml.monitoring import MonitorThresholds

    args.monitor_thresholds = MonitorThresholds.from_dict(args.monitor)   # a bad threshold fails now
    out = Path(args.out) if args.out else default_out("paper")
    lock, log = prepare_out(out, args.quiet)
    try:
        return _run(args, registry, bundle, out, log, challenger)
    finally:
        lock.release()


_CHECKPOINT_EVERY = 200   # bars between two writes of the decision log (a restart resumes from it)
_CHECKPOINT_SECONDS = 2.0  # and, on a paced replay, at most this many seconds (the dashboard reads it)
_LOG = "decisions.partial.parquet"


def _save_log(out: Path, key: dict, logged: pd.DataFrame, decider, monitor=None) -> None:
    """The decisions so far (earlier runs' and this one's), atomically, with what they were taken on; and
    the monitor's checks so far (``drift.partial.csv``, read by the dashboard while the run goes)."""
    d = decider.decisions()
    d = pd.concat([logged, d]) if len(logged) else d
    d.attrs = {}
    with atomic_output(out / _LOG) as tmp:
        d.to_parquet(tmp)
    atomic_write_json(out / "decisions.partial.json", key)
    if monitor is not None and monitor.history:
        with atomic_output(out / "drift.partial.csv") as tmp:
            monitor.drift_table().to_csv(tmp, index=False)


def _resume(out: Path, key: dict, decider, bars: pd.DataFrame, log) -> tuple[pd.DataFrame, int]:
    """``(decisions logged by an interrupted run, first bar to decide)``; the decider is warmed up to it.

    The log is reused only for the same bundle and replay data; its sides must be what the rule gives
    on the same bars, else the run refuses to continue from it (one line naming the first difference).
    """
    import json

    path, meta = out / _LOG, out / "decisions.partial.json"
    if not (path.exists() and meta.exists()):
        return pd.DataFrame(), 0
    if json.loads(meta.read_text()) != json.loads(json.dumps(key, default=str)):
        log.info("the decision log in %s was made with another bundle or replay: starting afresh", out)
        return pd.DataFrame(), 0
    logged = pd.read_parquet(path)
    k = len(logged)
    if k == 0 or k >= len(bars) or not logged.index.equals(bars.index[:k]):
        return pd.DataFrame(), 0
    decider.warm_up(bars.iloc[:k])
    # the rule's state after the history must be the logged one: the rule's sides there are the logged sides
    bad = np.flatnonzero(decider.warm_sides.to_numpy() != logged["side"].to_numpy(dtype=int))
    if len(bad) and not logged["alert"].astype(str).str.len().gt(0).any():
        raise ParameterError(f"the decision log in {out} disagrees with the bundle at {bars.index[int(bad[0])]}; "
                             "remove it (or use another --out) to start afresh")
    decider.restore(logged)
    log.info("resuming from the decision log: %d bar(s) decided before, continuing at %s", k, bars.index[k])
    return logged, k


def _monitor(bundle, args, out: Path, log):
    """The bundle's model monitor, its alerts going to ``alerts.jsonl``, the log and ``--webhook``; None (said
    in the log) for a bundle registered without a monitoring reference."""
    from ml.monitoring import ModelMonitor, run_alerts

    if bundle.reference is None:
        log.warning("the bundle has no monitoring reference (registered before monitoring existed): drift is "
                    "not monitored; register it again with runners.walkforward --register")
        return None
    monitor = ModelMonitor(bundle.reference, args.monitor_thresholds,
                           run_alerts(out / "alerts.jsonl", log, args.webhook), random_state=0)
    for note in monitor.notes:
        log.info("monitor: %s", note)
    return monitor


def _run(args, registry, bundle, out, log, challenger=None) -> Path:
    from engines.bt import run_backtrader
    from engines.engine import compare
    from engines.live import LiveDecider

    t_start = time.perf_counter()
    bars, report = load_instrument([args.replay], log=log, **data_options(args))
    bundle.check_fit(bars, args.calendar)
    log.info("bundle %s: %s", args.model, bundle.describe())
    log.info("replay: %s, %d bars, %s to %s, speed %s", args.replay, len(bars), bars.index[0], bars.index[-1],
             "as fast as possible" if args.speed == 0 else f"{args.speed:g}x")

    decider = LiveDecider(bundle, stale_bars=args.stale_bars, speed=args.speed,
                          flatten_on_stale=args.flatten_on_stale, max_orders=args.max_orders,
                          order_window=args.order_window)
    key = {"bundle": args.model, "registry": str(registry.root), "replay": report.get("data_hash"),
           "n_bars": len(bars)}
    logged, start = _resume(out, key, decider, bars, log)
    monitor = _monitor(bundle, args, out, log)
    if monitor is not None and start:
        # the bars decided before the restart: the monitor's window again, without alerting twice
        sinks, monitor.alerts.sinks = monitor.alerts.sinks, monitor.alerts.sinks[:1]
        for t, x, p, c in zip(bars.index[:start], decider.warm_features.to_numpy(),
                              decider.warm_probability.to_numpy(), bars["close"].to_numpy()[:start]):
            monitor.update(t, x, p, c)
        monitor.alerts.sinks = sinks
    shadow = None
    if challenger is not None:
        challenger.check_fit(bars, args.calendar)
        shadow = LiveDecider(challenger, stale_bars=args.stale_bars, speed=args.speed)
        if start:
            shadow.warm_up(bars.iloc[:start])
    close = bars["close"].to_numpy()
    saved = time.time()
    contract = bundle.contract
    atomic_write_json(out / "live.json", {
        "model": args.model, "describe": bundle.describe(), "challenger": args.challenger,
        "instrument": bundle.instrument, "currency": contract.get("currency", ""),
        "multiplier": contract.get("multiplier", 1.0), "contracts": bundle.sizing.get("contracts", 1.0),
        "timezone": str(bars.index.tz), "bars": len(bars), "speed": args.speed,
        "started": _dt.datetime.now().astimezone().isoformat(timespec="seconds")})
    pace = 0.0 if args.speed == 0 else bundle.bar_minutes * 60.0 / args.speed
    t0 = time.time()
    stale_skips = 0
    stop = len(bars) if args.stop_after is None else min(len(bars), start + args.stop_after)
    for i in range(start, len(bars)):
        if i >= stop:   # --stop-after: as a crash would, with the decisions so far in the log
            _save_log(out, key, logged, decider, monitor)
            raise ParameterError(f"stopped after deciding {i - start} bar(s) (--stop-after); rerun the same command "
                                 "to resume from the decision log")
        if pace:
            wait = t0 + (i - start) * pace - time.time()
            if wait > 0:
                time.sleep(wait)
            if decider.stale():
                stale_skips += 1
                decider.alert("stale feed")
        bar = bars.iloc[i:i + 1]
        d = decider.on_bar(bar)
        if monitor is not None and d is not None:
            monitor.update(d.time, decider.last_x, d.probability, close[i])
        if shadow is not None:
            shadow.on_bar(bar)
        if (i + 1 - start) % _CHECKPOINT_EVERY == 0 or (pace and time.time() - saved > _CHECKPOINT_SECONDS):
            _save_log(out, key, logged, decider, monitor)
            saved = time.time()
    decisions = pd.concat([logged, decider.decisions()]) if len(logged) else decider.decisions()
    sides = decisions["side"].reindex(bars.index).fillna(0).astype(int)
    proba = decisions["probability"].reindex(bars.index)
    configs = bundle.configs()
    res = run_backtrader(bars, sides, **configs, initial_equity=args.initial_equity, calendar=bundle.calendar,
                         bar_minutes=bundle.bar_minutes, proba=proba)

    # parity: the batch backtest of the same bundle on the same bars
    batch_p = bundle.probability(bars)
    from ml.data import get_calendar

    batch_sides = bundle.strategy_object().sides(batch_p, bars, calendar=get_calendar(bundle.calendar),
                                                 bar_minutes=bundle.bar_minutes)
    equal = sides.to_numpy() == batch_sides.to_numpy(dtype=int)
    first_diff = None if equal.all() else str(bars.index[int(np.flatnonzero(~equal)[0])])
    batch = bundle.backtest(bars, engine="backtrader", initial_equity=args.initial_equity, proba=batch_p)
    diff = compare(batch, res)
    parity = {"decisions_equal": int(equal.sum()), "decisions": int(len(equal)), "first_difference": first_diff,
              "trades_equal": bool(diff["equal"]), "n_trades": list(diff["n_trades"]),
              "max_probability_diff": float(np.nanmax(np.abs(proba.to_numpy() - batch_p.to_numpy())))
              if np.isfinite(proba.to_numpy()).any() else 0.0,
              "trade_differences": [{k: str(v) for k, v in d.items()} for d in diff["trade_differences"]]}
    parity_line = (f"parity: {parity['decisions_equal']} of {parity['decisions']} decisions equal; trades "
                   + ("equal" if parity["trades_equal"] else f"differ ({diff['n_trades'][0]} vs {diff['n_trades'][1]})")
                   + " to the bundle's batch backtest")

    # the order and fill each decision led to (fills at the next bar: the decision bar is the fill bar - 1)
    signal = res.orders[res.orders["reason"].astype(str) != "session"]
    fills = signal.groupby("bar").agg(size=("size", "sum"), price=("price", "last"))
    fills = fills[(fills.index >= 1) & (fills.index < len(bars))]
    decided_at = bars.index[fills.index.to_numpy(dtype=np.int64) - 1]
    decisions["order_size"] = fills["size"].set_axis(decided_at).reindex(decisions.index, fill_value=0.0)
    decisions["fill_price"] = fills["price"].set_axis(decided_at).reindex(decisions.index)
    decisions["fill_time"] = pd.Series(bars.index[fills.index.to_numpy(dtype=np.int64)],
                                       index=decided_at).reindex(decisions.index)
    # the monitor: drift as the bars came (above), results against the walk-forward's bands now
    from engines.metrics import daily_returns

    sessions = daily_returns(res.returns, bundle.calendar)
    monitoring = None
    if monitor is not None:
        closed = res.trades[res.trades["closed"]] if len(res.trades) else res.trades
        wins = (closed["net_pnl"] > 0).astype(float).to_numpy() if len(closed) else None
        performance = monitor.performance(sessions, wins, time=bars.index[-1])
        with atomic_output(out / "drift.csv") as tmp:
            monitor.drift_table().to_csv(tmp, index=False)
        monitoring = {"thresholds": dataclasses.asdict(monitor.thresholds), "notes": monitor.notes,
                      "window": monitor.window, "checks": len(monitor.history),
                      "performance": performance, "alerts": [dataclasses.asdict(a) for a in monitor.alerts.raised],
                      "reference": {"brier": monitor.reference.brier, "ece": monitor.reference.ece,
                                    "sessions": int(len(monitor.reference.session_returns)),
                                    "trades": int(len(monitor.reference.trade_wins))}}
    shadow_result = None
    if shadow is not None:
        sd = shadow.decisions()
        ch_sides = (pd.concat([shadow.warm_sides, sd["side"]]) if start else sd["side"]).reindex(bars.index)
        ch_sides = ch_sides.fillna(0).astype(int)
        with atomic_output(out / "shadow_decisions.parquet") as tmp:
            sd.to_parquet(tmp)
        ch_configs = challenger.configs()
        mode = "shadow"
        if args.canary is not None:
            # canary: the challenger trades, at a fraction of its size (whole lots, at least one)
            lot = float(ch_configs["contract"].lot_size)
            contracts = max(lot, np.floor(challenger.sizing.get("contracts", 1.0) * args.canary / lot) * lot)
            ch_configs["sizing"] = dataclasses.replace(ch_configs["sizing"], contracts=float(contracts))
            mode = f"canary at {args.canary:g} of its size ({contracts:g} contract(s))"
        ch_res = run_backtrader(bars, ch_sides, **ch_configs, initial_equity=args.initial_equity,
                                calendar=challenger.calendar, bar_minutes=challenger.bar_minutes,
                                proba=sd["probability"].reindex(bars.index))
        if args.canary is not None:
            with atomic_output(out / "canary_trades.csv") as tmp:
                ch_res.trades.to_csv(tmp, index=False)
        from engines.verdict import closed_pnl
        from ml.monitoring import paired_session_test

        shadow_result = {"challenger": args.challenger, "mode": mode, "describe": challenger.describe(),
                         "decisions": int(len(sd)), "n_trades": int(len(ch_res.trades)),
                         "net_pnl": closed_pnl(ch_res.trades), "champion_net_pnl": closed_pnl(res.trades),
                         "comparison": paired_session_test(sessions, daily_returns(ch_res.returns,
                                                                                   challenger.calendar))}
        log.info("shadow %s: %d trades, net P&L %.2f vs %.2f; %s", args.challenger, shadow_result["n_trades"],
                 shadow_result["net_pnl"], shadow_result["champion_net_pnl"],
                 shadow_result["comparison"]["verdict"])
    lat = decisions["latency_ms"].to_numpy()
    latency = {"decisions": int(len(lat)), "p50_ms": float(np.percentile(lat, 50)),
               "p99_ms": float(np.percentile(lat, 99)), "max_ms": float(lat.max()),
               "bars_per_second": float(len(lat) / max(1e-9, lat.sum() / 1e3)),
               "measures": "bar arrival to decision: streaming features, model, strategy rule, safety checks"}
    metrics = {**{k: (float(v) if isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool)
                      else v) for k, v in res.metrics.items()},
               "parity": parity, "latency": latency, "alerts": dict(decider.alerts), "stale_bars_skipped": stale_skips,
               "monitor": monitoring, "shadow": shadow_result}

    (out / "run.json").unlink(missing_ok=True)
    with atomic_output(out / "decisions.parquet") as tmp:
        decisions.to_parquet(tmp)
    with atomic_output(out / "trades.csv") as tmp:
        res.trades.to_csv(tmp, index=False)
    eq = pd.DataFrame({"equity": res.equity, "returns": res.returns, "position": res.positions, "side": sides,
                       "probability": proba})
    eq.index.name = "timestamp"
    with atomic_output(out / "equity.csv") as tmp:
        eq.to_csv(tmp)
    lines = []
    if monitoring is not None:
        rules = sorted({a["rule"] for a in monitoring["alerts"]})
        perf = monitoring["performance"]
        lines.append(f"Monitor: {monitoring['checks']} drift checks, {len(monitoring['alerts'])} alert(s)"
                     + (f" ({', '.join(rules)})" if rules else "") + " (alerts.jsonl, drift.csv)"
                     + (f"; cumulative return {perf['cumulative_return']:.3%} against the walk-forward band "
                        f"[{perf['band_low']:.3%}, {perf['band_high']:.3%}]" if "band_low" in perf else ""))
    if shadow_result is not None:
        lines.append(f"Challenger {shadow_result['challenger']} ({shadow_result['mode']}): "
                     f"{shadow_result['n_trades']} trades, net "
                     f"{shadow_result['net_pnl']:,.2f} vs {shadow_result['champion_net_pnl']:,.2f}; "
                     f"{shadow_result['comparison']['verdict']}")
    for line in lines:
        log.info("%s", line)
    _reports(out, res, bundle, args, parity_line, latency, decider.alerts, bars, lines)
    atomic_write_json(out / "metrics.json", metrics)
    settings = {k: v for k, v in vars(args).items() if k not in ("config", "out", "quiet", "stop_after", "monitor_thresholds") and v is not None}
    settings["replay"] = str(Path(args.replay).resolve())
    write_toml(out / "config.toml", settings,
               header="Settings of this paper run; `python -m runners.paper --config config.toml --out DIR` "
                      "replays it (flags override the file).")
    atomic_write_json(out / "run.json", {
        "runner": "paper", "settings": {k: v for k, v in vars(args).items() if k not in ("quiet", "monitor_thresholds")},
        "bundle": {"ref": args.model, "registry": str(registry.root), "describe": bundle.describe(),
                   "training": bundle.training},
        "data": report, "parity": parity, "latency": latency, "alerts": dict(decider.alerts),
        "assumptions": {"fills": res.meta.get("fill_order"), "engine": "backtrader",
                        "contract": bundle.contract, "costs": bundle.costs, "sizing": bundle.sizing,
                        "stops": bundle.stops, "limits": bundle.limits, "calendar": bundle.calendar,
                        "safety": {"stale_bars": args.stale_bars, "flatten_on_stale": args.flatten_on_stale,
                                   "order_rate_cap": None if args.max_orders is None
                                   else f"{args.max_orders} per {args.order_window:g} min"}},
        "seconds": round(time.perf_counter() - t_start, 2),
        "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    })
    (out / _LOG).unlink(missing_ok=True)
    (out / "decisions.partial.json").unlink(missing_ok=True)
    (out / "drift.partial.csv").unlink(missing_ok=True)
    log.info("%s", parity_line)
    log.info("latency: p50 %.2f ms, p99 %.2f ms, max %.2f ms over %d decisions", latency["p50_ms"],
             latency["p99_ms"], latency["max_ms"], latency["decisions"])
    print(parity_line)
    print(f"latency (bar arrival to decision): p50 {latency['p50_ms']:.2f} ms, p99 {latency['p99_ms']:.2f} ms")
    print(f"results: {out.resolve()}")
    return out


def _reports(out, res, bundle, args, parity_line, latency, alerts, bars, lines=()) -> None:
    import html

    from engines.attribution import attribution, attribution_html

    cur = bundle.contract.get("currency", "")

    m = res.metrics
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_fmt(v))}</td></tr>"
                   for k, v in m.items() if not isinstance(v, (dict, list)))
    page = (f"<html><head><meta charset='utf-8'><title>Paper run: {html.escape(args.model)}</title></head><body>"
            f"<h1>Paper run: {html.escape(args.model)}</h1><p>{html.escape(bundle.describe())}</p>"
            f"<p><b>{html.escape(parity_line)}</b></p>"
            f"<p>Decision latency (bar arrival to decision): p50 {latency['p50_ms']:.2f} ms, p99 "
            f"{latency['p99_ms']:.2f} ms, max {latency['max_ms']:.2f} ms over {latency['decisions']} decisions.</p>"
            f"<p>Alerts: {html.escape(str(dict(alerts)) if alerts else 'none')}</p>"
            + "".join(f"<p>{html.escape(line)}</p>" for line in lines) +
            f"<p>Replay: {html.escape(str(args.replay))}, {len(bars)} bars, {bars.index[0]} to {bars.index[-1]}; "
            f"fills by backtrader's broker at the next open with the bundle's costs.</p>"
            f"<table>{rows}</table>{attribution_html(attribution(res.trades, bars, calendar=bundle.calendar), cur)}"
            "</body></html>")
    atomic_write_text(out / "report.html", page)
    from ml.data import get_calendar

    cal = get_calendar(bundle.calendar)
    sessions = cal.sessions(res.returns.index).session
    sheet = out / "tearsheet.html"
    if int(np.max(sessions)) + 1 >= 2:
        from engines.report import tearsheet

        with atomic_output(sheet) as tmp:
            tearsheet(res.returns, path=tmp, calendar=cal, positions=res.positions,
                      report_sharpe=m.get("sharpe"), title=f"{args.model} paper run")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


if __name__ == "__main__":
    sys.exit(run_cli(main))
