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

``--retrain drift|schedule|both`` (:class:`ml.monitoring.RetrainPolicy`)
retrains when the policy says so: the walk-forward of the model's own
settings (its run's ``config.toml``) on ``--data``, registered as the next
version of the name and staged as challenger. The champion is never replaced
by itself: ``python -m runners.registry promote`` does that, after comparing.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

from ml.exceptions import ParameterError
from runners._cli import OneLineParser, atomic_output, atomic_write_json, default_out, prepare_out, run_cli
from runners._config import parse_args_with_config
from runners._pipeline import add_data_flags, add_monitor_flags, data_options, load_instrument

__all__ = ["build_parser", "main"]


def build_parser() -> OneLineParser:
    p = OneLineParser(prog="python -m runners.monitor",
                      description="Monitor a registered model bundle on a file of newer bars: drift, calibration, "
                                  "and results against its walk-forward's bands.")
    p.add_argument("--config", metavar="FILE", help="TOML file of settings; flags override it")
    p.add_argument("--model", metavar="NAME[@VERSION|@champion]", help="required: the bundle in the registry")
    p.add_argument("--registry", metavar="DIR",
                   help="model registry folder (default $DAYTRADE_ML_REGISTRY, else ~/.daytrade-ml/models)")
    add_monitor_flags(p)
    p.add_argument("--retrain", choices=("drift", "schedule", "both"),
                   help="retrain on --data when the policy says so and stage the result as challenger")
    p.add_argument("--retrain-data", nargs="+", metavar="FILE",
                   help="the bars to retrain on (default --data): the latest history, long enough for the model's "
                        "training and test windows")
    p.add_argument("--retrain-every", type=int, default=20, metavar="SESSIONS",
                   help="the schedule: retrain this many sessions after the training window (default 20)")
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
    from ml.monitoring import MonitorThresholds, monitor_bars, run_alerts
    from ml.registry import ModelRegistry, default_registry_path

    thresholds = MonitorThresholds.from_dict(args.monitor)
    from ml.monitoring import RetrainPolicy

    policy = RetrainPolicy(args.retrain, args.retrain_every) if args.retrain else None
    registry = ModelRegistry(args.registry if args.registry else default_registry_path())
    bundle = registry.load_bundle(args.model)
    out = Path(args.out) if args.out else default_out("monitor")
    lock, log = prepare_out(out, args.quiet)
    try:
        t0 = time.perf_counter()
        bars, report = load_instrument(args.data, log=log, **data_options(args))
        bundle.check_fit(bars, args.calendar)
        mon = monitor_bars(bundle, bars, thresholds, run_alerts(out / "alerts.jsonl", log, args.webhook))
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
        if policy is not None:
            summary["retrain"] = _retrain(policy, registry, bundle, args, bars, mon, out, log)
        atomic_write_json(out / "monitor.json", summary)
        rules = sorted({a.rule for a in mon.alerts.raised})
        line = (f"monitor: {len(bars)} bars, {len(mon.history)} checks, {len(mon.alerts.raised)} alert(s)"
                + (f" ({', '.join(rules)})" if rules else "") + "; results: "
                + (f"cumulative return {perf['cumulative_return']:.3%} against the band "
                   f"[{perf['band_low']:.3%}, {perf['band_high']:.3%}] over {perf['sessions']} session(s)"
                   if "cumulative_return" in perf else "no session to compare"))
        log.info("%s", line)
        print(line)
        if summary.get("retrain"):
            print(summary["retrain"]["line"])
        print(f"results: {out.resolve()}")
        return out
    finally:
        lock.release()


def _retrain(policy, registry, bundle, args, bars, mon, out: Path, log) -> dict | None:
    """The policy's retraining: the model's walk-forward settings on --data, registered and staged challenger."""
    import numpy as np
    import pandas as pd

    from ml.data import get_calendar
    from ml.registry import parse_ref

    name, version = parse_ref(args.model)
    end = pd.Timestamp(bundle.training.get("train_end")) if bundle.training.get("train_end") else None
    sid = np.asarray(get_calendar(bundle.calendar).sessions(bars.index).session)
    after = len(np.unique(sid[bars.index > end])) if end is not None else len(np.unique(sid))
    reason = policy.decide(mon.alerts.raised, after)
    if reason is None:
        log.info("retrain: not due (%s policy, %d session(s) since the training window)", policy.when, after)
        return {"due": False, "line": f"retrain: not due ({policy.when})"}
    meta = registry.metadata(name, version)          # "champion" and "latest" resolve there
    config = Path(meta.get("walkforward_out", "")) / "config.toml"
    if not config.is_file():
        raise ParameterError(f"retrain: the settings of {args.model}'s walk-forward ({config}) are gone; retrain it "
                             "with python -m runners.walkforward --register NAME")
    import json
    import subprocess

    data = args.retrain_data or args.data
    log.info("retrain (%s): walk-forward with %s on %s", reason, config, data)
    run = out / "retrain"
    proc = subprocess.run([sys.executable, "-m", "runners.walkforward", "--config", str(config), "--data",
                           *map(str, data), "--out", str(run), "--quiet", "--register", name, "--registry",
                           str(registry.root)], capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise ParameterError(f"retrain: the walk-forward failed ({last}); its log is {run / 'run.log'}")

    version = json.loads((run / "run.json").read_text())["registered"]["version"]
    registry.set_stage(name, version, "challenger", reason="retrain", note=reason)
    line = (f"retrained: {name}@{version} staged as challenger ({reason}); the champion is unchanged: "
            f"python -m runners.registry promote {name}@{version} --data FILE compares and promotes")
    log.info("%s", line)
    return {"due": True, "reason": reason, "version": version, "ref": f"{name}@{version}", "line": line}


if __name__ == "__main__":
    sys.exit(run_cli(main))
