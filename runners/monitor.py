"""The model monitor offline: a registered bundle against a file of newer bars.

    python -m runners.monitor --model wdo-logit@champion --data new_bars.parquet [--monitor window=300]

Runs the bundle's monitor over the bars one at a time, as a live run does
(:func:`ml.monitoring.monitor_bars`): per-feature PSI and KS, the traded
probability's PSI, the rolling Brier score and ECE, adversarial validation,
each against limits calibrated on the bundle's training sessions; then the
bundle's backtest on the bars against the bootstrap bands of its walk-forward
out-of-sample sessions. Writes to ``--out`` (default ``runs/monitor-<time>``):
``drift.csv`` (one row per check), ``alerts.jsonl`` (one JSON line per alert)
and ``monitor.json``; ``--webhook URL`` also POSTs each alert.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

from ml.exceptions import ParameterError
from runners._cli import OneLineParser, atomic_output, atomic_write_json, default_out, prepare_out, run_cli
from runners._config import KeyValue, parse_args_with_config
from runners._pipeline import add_data_flags, data_options, load_instrument

__all__ = ["build_parser", "main"]


def build_parser() -> OneLineParser:
    p = OneLineParser(prog="python -m runners.monitor",
                      description="Monitor a registered model bundle on a file of newer bars: drift, calibration, "
                                  "and results against its walk-forward's bands.")
    p.add_argument("--config", metavar="FILE", help="TOML file of settings; flags override it")
    p.add_argument("--model", metavar="NAME[@VERSION|@champion]", help="required: the bundle in the registry")
    p.add_argument("--registry", metavar="DIR",
                   help="model registry folder (default $DAYTRADE_ML_REGISTRY, else ~/.daytrade-ml/models)")
    p.add_argument("--monitor", action=KeyValue, dest="monitor",
                   help="a threshold of ml.monitoring.MonitorThresholds, repeatable (a [monitor] table in --config)")
    p.add_argument("--webhook", metavar="URL", help="also POST each alert as JSON to URL")
    add_data_flags(p)
    p.add_argument("--out", help="output folder (default runs/monitor-<time>)")
    p.add_argument("--quiet", action="store_true", help="only errors on the terminal (run.log keeps all)")
    return p


def main(argv=None) -> Path:
    args = parse_args_with_config(build_parser(), argv)
    if not args.model:
        raise ParameterError("--model is required (e.g. --model wdo-logit@champion --data bars.parquet)")
    if not args.data:
        raise ParameterError("--data is required: the bars to monitor the model on")
    from ml.monitoring import Alerts, JsonLines, MonitorThresholds, Webhook, monitor_bars
    from ml.registry import ModelRegistry, default_registry_path

    thresholds = MonitorThresholds.from_dict(args.monitor)
    registry = ModelRegistry(args.registry if args.registry else default_registry_path())
    bundle = registry.load_bundle(args.model)
    out = Path(args.out) if args.out else default_out("monitor")
    lock, log = prepare_out(out, args.quiet)
    try:
        t0 = time.perf_counter()
        bars, report = load_instrument(args.data, log=log, **data_options(args))
        bundle.check_fit(bars, args.calendar)
        (out / "alerts.jsonl").unlink(missing_ok=True)
        sinks = [JsonLines(out / "alerts.jsonl"), lambda a: log.warning("ALERT %s: %s", a.rule, a.message)]
        if args.webhook:
            sinks.append(Webhook(args.webhook))
        mon = monitor_bars(bundle, bars, thresholds, Alerts(sinks))
        for note in mon.notes:
            log.info("%s", note)
        with atomic_output(out / "drift.csv") as tmp:
            mon.drift_table().to_csv(tmp, index=False)
        perf = mon.performance_
        summary = {"model": args.model, "describe": bundle.describe(), "data": report, "bars": len(bars),
                   "window": mon.window, "checks": len(mon.history), "notes": mon.notes,
                   "thresholds": dataclasses.asdict(mon.thresholds), "performance": perf,
                   "alerts": [dataclasses.asdict(a) for a in mon.alerts.raised],
                   "seconds": round(time.perf_counter() - t0, 2)}
        atomic_write_json(out / "monitor.json", summary)
        rules = sorted({a.rule for a in mon.alerts.raised})
        line = (f"monitor: {len(bars)} bars, {len(mon.history)} checks, {len(mon.alerts.raised)} alert(s)"
                + (f" ({', '.join(rules)})" if rules else "") + "; results: "
                + (f"cumulative return {perf['cumulative_return']:.3%} against the band "
                   f"[{perf['band_low']:.3%}, {perf['band_high']:.3%}] over {perf['sessions']} session(s)"
                   if "cumulative_return" in perf else "no session to compare"))
        log.info("%s", line)
        print(line)
        print(f"results: {out.resolve()}")
        return out
    finally:
        lock.release()


if __name__ == "__main__":
    sys.exit(run_cli(main))
