"""Walk-forward speed: the whole run against the sum of its model fits, and two jobs against one.

Runs ``python -m runners.walkforward`` (a fresh interpreter each time, so
imports count) on the bundled WDO sample (27,096 one-minute bars, 6 folds) and
prints, for each configuration:

- the wall time of the whole command (start of the interpreter to exit:
  imports, features, labels, selection, baselines, fits, importance,
  backtests in two engines, evidence, reports);
- the sum of the model fits over the folds (``folds_fit_s`` + ``folds_tune_s``
  of ``run.json``: the time spent inside ``model.fit``, tuning trials
  included), measured with ``--n-jobs 1``;
- **wall / sum of fits** (issue 13, item 7: target <= 1.2x), and the other
  stages' seconds so that what remains is visible;
- **wall with ``--n-jobs 1`` / wall with ``--n-jobs 2``** (target > 1: two
  jobs faster), and whether the two runs' predictions are identical (they
  must be: the same seed gives the same numbers whatever ``--n-jobs``).

    python -m benchmarks.walkforward [--config "--model catboost --n-features 20"] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

CONFIGS = ["--model catboost --n-features 20", "--model logistic"]
STAGES = ("select", "baselines", "tune", "fit", "predict", "importance")


def run(flags: str, n_jobs: int, out: Path) -> tuple[float, dict]:
    """Wall seconds of one walk-forward run and its run.json timings."""
    cmd = [sys.executable, "-m", "runners.walkforward", "--out", str(out), "--quiet", "--n-jobs", str(n_jobs),
           *shlex.split(flags)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return wall, json.loads((out / "run.json").read_text())["timings"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", action="append", help="walk-forward flags to time (repeatable); "
                                                      f"default: {CONFIGS}")
    ap.add_argument("--repeat", type=int, default=1, help="runs per configuration and --n-jobs (best kept)")
    args = ap.parse_args(argv)
    print(f"{os.cpu_count()} cores; python {sys.version.split()[0]}; data: the bundled WDO sample")
    with tempfile.TemporaryDirectory() as tmp:
        for k, flags in enumerate(args.config or CONFIGS):
            best = {}
            for rep in range(args.repeat):
                for n_jobs in (1, 2):
                    out = Path(tmp) / f"c{k}-j{n_jobs}-r{rep}"
                    wall, timings = run(flags, n_jobs, out)
                    if n_jobs not in best or wall < best[n_jobs][0]:
                        best[n_jobs] = (wall, timings, out)
            wall1, t1, out1 = best[1]
            wall2, _, out2 = best[2]
            fits = t1.get("folds_fit_s", 0.0) + t1.get("folds_tune_s", 0.0)
            same = pd.read_parquet(out1 / "predictions.parquet").equals(pd.read_parquet(out2 / "predictions.parquet"))
            other = {s: t1.get(f"folds_{s}_s", 0.0) for s in STAGES if s not in ("fit", "tune")}
            rest = wall1 - t1.get("train_s", 0.0)
            print(f"[{flags}]")
            print(f"  --n-jobs 1: {wall1:.1f} s wall; model fits {fits:.1f} s; wall / fits: {wall1 / fits:.2f}x   "
                  f"target <= 1.2x: {'met' if wall1 / fits <= 1.2 else 'NOT met'}")
            print("  the rest of the folds: " + ", ".join(f"{s} {v:.1f} s" for s, v in other.items())
                  + f"; outside training (imports, features, labels, backtests, evidence, reports): {rest:.1f} s "
                  f"(backtest {t1.get('backtest_s', 0):.1f}, latency {t1.get('latency_s', 0):.1f})")
            print(f"  --n-jobs 2: {wall2:.1f} s wall; --n-jobs 1 / --n-jobs 2: {wall1 / wall2:.2f}x   target > 1: "
                  f"{'met' if wall1 / wall2 > 1 else 'NOT met'}; predictions identical: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
