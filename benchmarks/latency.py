"""Live decision latency: bar arrival to decision, 1,000 consecutive decisions on real bars.

For each model (CatBoost, the stacking ensemble) a bundle is fitted on the
bundled WDO sample's first sessions (``ml.training.fit_final``, 20 selected
features), warmed up on the bars before the timed ones, and then decides bar
by bar on the last 1,000 bars: streaming features, ``predict_proba`` on the
new row, the strategy's rule, the safety checks (:func:`engines.live.time_decisions`,
the measurement the walk-forward's KPI and the paper runner report too).  It
prints p50 / p99 / max, bars per second, and the same bars' ``predict_proba``
alone, measured in the same run, as the reference: **end-to-end p99 / model
p99** says what the live path adds to the model.  Goal (issue 14, item 7):
p99 <= 2 ms on a 2-core machine.

    python -m benchmarks.latency [--decisions 1000] [--features 20] [--models catboost,ensemble]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings

import numpy as np


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--decisions", type=int, default=1000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--models", default="catboost,ensemble", help="comma-separated (default catboost,ensemble)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    from engines.live import time_decisions
    from ml.data import continuous_contract, get_calendar, load_bars, sample_path
    from ml.registry import ModelBundle
    from ml.training import WalkForwardConfig, fit_final
    from strategies import ProbabilityThresholdStrategy

    bars = continuous_contract(load_bars(sample_path("wdo")))
    session = np.asarray(get_calendar("B3").sessions(bars.index).session)
    train = bars.loc[session < 20]
    print(f"data: bundled WDO sample, {len(bars):,} one-minute bars; fitted on {len(train):,} bars (20 sessions); "
          f"{os.cpu_count()} cores; python {platform.python_version()}")
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        t0 = time.perf_counter()
        final = fit_final(train, WalkForwardConfig(model=model, train_sessions=20, n_features=args.features, seed=0))
        bundle = ModelBundle(model=final.model, features=final.selected, classes=final.classes, calendar="B3",
                             bar_minutes=1.0, strategy=ProbabilityThresholdStrategy().get_params(), sizing={},
                             stops={}, limits={}, costs={}, contract={}, instrument="WDO")
        fit_s = time.perf_counter() - t0
        r = time_decisions(bundle, bars, args.decisions)
        print(f"{model}: {r['decisions']} decisions, {r['features']} features in {len(r['feature_groups'])} groups "
              f"(fit {fit_s:.1f} s)")
        print(f"  end to end: p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, max {r['max_ms']:.2f} ms, "
              f"{r['bars_per_second']:.0f} bars/s; goal p99 <= 2 ms: {'met' if r['p99_ms'] <= 2.0 else 'NOT met'}")
        print(f"  predict_proba alone on the same rows: p50 {r['model_p50_ms']:.2f} ms, p99 {r['model_p99_ms']:.2f} ms"
              f"; end-to-end p99 / model p99: {r['p99_ms'] / r['model_p99_ms']:.1f}x (the rest: streaming "
              f"features, session facts, the rule)")


if __name__ == "__main__":
    main()
