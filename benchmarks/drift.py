"""Drift alerts: detection delay on a shifted market and the false-alarm rate on the same market unshifted.

    PYTHONPATH=. python -m benchmarks.drift [--seeds 10] [--factor 3] [--data FILE]

A bundle is registered from a walk-forward on the first half of the bars
(``runners.walkforward --register``). Each seed builds a replay by drawing the
later sessions in a random order (a session bootstrap, so every seed is
another market path of the same regime) and runs the bundle's model monitor
over it, bar by bar, with its default thresholds:

- *unshifted*: any alert is a false alarm;
- *shifted*: from the replay's middle session on, the intraday volatility is
  multiplied by ``--factor`` (:func:`engines.stress.scale_volatility`); the
  figure is the number of bars from the shift to the first drift alert.

It prints the false-alarm rate (runs with any alert / runs) and the
detection delay (median and worst, in bars and in sessions), each next to
what the monitor's window and check interval allow at best.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

DRIFT_RULES = ("feature_drift", "prediction_psi", "adversarial_auc", "brier_increase", "ece")


def _register(bars: pd.DataFrame, folder: Path) -> tuple:
    from runners._cli import run_cli
    from runners.walkforward import main
    from ml.registry import ModelRegistry

    data = folder / "train.parquet"
    frame = bars.reset_index()
    frame.attrs = {}
    frame.rename(columns={frame.columns[0]: "timestamp"}).to_parquet(data, index=False)
    with contextlib.redirect_stdout(io.StringIO()):
        code = run_cli(main, ["--data", str(data), "--out", str(folder / "wf"), "--quiet", "--latency-decisions", "0",
                              "--train-sessions", "10", "--test-sessions", "5", "--register", "drift",
                              "--registry", str(folder / "reg"), "--ledger", str(folder / "ledger.jsonl")])
    if code != 0:
        raise SystemExit(f"the walk-forward failed (exit {code})")
    return ModelRegistry(folder / "reg").load_bundle("drift@1")


def _replay(later: pd.DataFrame, sid: np.ndarray, seed: int) -> pd.DataFrame:
    """The later sessions in a random order, re-timed onto the original session dates (so the calendar and
    the time of day are unchanged; only the order of the market's days is drawn)."""
    rng = np.random.default_rng(seed)
    ids = np.unique(sid)
    order = rng.permutation(ids)
    days = [later[sid == s] for s in ids]
    out = []
    for target, source in zip(ids, order):
        d_src, d_tgt = days[source - ids[0]], days[target - ids[0]]
        n = min(len(d_src), len(d_tgt))
        piece = d_src.iloc[:n].copy()
        piece.index = d_tgt.index[:n]
        out.append(piece)
    return pd.concat(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--factor", type=float, default=3.0)
    ap.add_argument("--data", help="bar file (default: the bundled WDO sample)")
    args = ap.parse_args(argv)

    from engines.stress import scale_volatility
    from ml.data import get_calendar
    from ml.monitoring import MonitorThresholds, monitor_bars
    from runners._pipeline import load_instrument

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bars = load_instrument([args.data] if args.data else None)[0]
    cal = get_calendar("B3")
    sid = np.asarray(cal.sessions(bars.index).session)
    half = int(sid.max() + 1) // 2
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        bundle = _register(bars[sid < half], Path(tmp))
    fit_s = time.perf_counter() - t0
    later, lsid = bars[sid >= half], sid[sid >= half]
    th = MonitorThresholds()
    n_sessions = len(np.unique(lsid))
    bars_per_session = len(later) / n_sessions
    false_alarms, delays, rules, fa_rules = 0, [], {}, {}
    t1 = time.perf_counter()
    for seed in range(args.seeds):
        replay = _replay(later, lsid, seed)
        rsid = np.asarray(cal.sessions(replay.index).session)
        shift_at = replay.index[np.flatnonzero(rsid == rsid[0] + n_sessions // 2)[0]]
        clean = monitor_bars(bundle, replay, th)
        notes, window = clean.notes, clean.window
        drift = [a for a in clean.alerts.raised if a.rule in DRIFT_RULES]
        false_alarms += bool(drift)
        for a in drift:
            fa_rules[a.rule] = fa_rules.get(a.rule, 0) + 1
        shifted = monitor_bars(bundle, scale_volatility(replay, args.factor, start=shift_at, calendar="B3"), th)
        after = [a for a in shifted.alerts.raised if a.rule in DRIFT_RULES and pd.Timestamp(a.time) >= shift_at]
        if after:
            first = min(after, key=lambda a: pd.Timestamp(a.time))
            delays.append(int(((replay.index >= shift_at) & (replay.index <= pd.Timestamp(first.time))).sum()))
            rules[first.rule] = rules.get(first.rule, 0) + 1
        else:
            delays.append(None)
    run_s = time.perf_counter() - t1
    found = [d for d in delays if d is not None]
    print(f"bundle: {bundle.describe()}")
    print(f"replays: {args.seeds} seeds x {n_sessions} later sessions ({len(later)} bars, "
          f"{bars_per_session:.0f} per session); default thresholds: " + "; ".join(notes))
    print(f"false-alarm rate (unshifted): {false_alarms}/{args.seeds} runs with a drift alert"
          + (f" ({fa_rules})" if fa_rules else ""))
    print(f"detected (volatility x{args.factor:g} from the middle session): {len(found)}/{args.seeds} runs")
    if found:
        print(f"delay from the shift to the first drift alert: median {np.median(found):.0f} bars "
              f"({np.median(found) / bars_per_session:.2f} sessions), worst {max(found)} bars "
              f"({max(found) / bars_per_session:.2f} sessions); first rule: {rules}")
        print(f"  for scale: the window is {window} bars, checked every {th.every}; a drift shows once enough of "
              "the window is shifted")
    print(f"time: fit {fit_s:.1f} s, monitoring {run_s / (2 * args.seeds):.1f} s per replay "
          f"({run_s / (2 * args.seeds) / len(later) * 1e3:.2f} ms per bar, features and model included)")


if __name__ == "__main__":
    main()
