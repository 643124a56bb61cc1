"""Feature-builder speed on 1,000,000 one-minute bars.

Prints the seconds ``ml.features.build_features`` takes for all features on
1M bars (after numba's one-off compilation, which is timed separately), and
the ratio to a naive pandas baseline (``Series.rolling`` / ``ewm`` /
``groupby``, see ``ml/features/_reference.py``) computing its subset of the
features on the same bars in the same run.  Target: all features in < 10 s
on a 2-core machine.

Data: real Binance FILUSDT 1-minute bars with all 11 columns.  With
``../shared/data`` present it uses the 3-month file (131,040 bars), otherwise
the bundled 7-day sample; the bars are repeated back to back (timestamps
shifted) up to the requested size, so the 1M bars are real bars, not noise.

    python -m benchmarks.features [--bars 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np
import pandas as pd

from benchmarks._common import best_of, make_bars
from ml.data import get_calendar
from ml.features import build_features
from ml.features._reference import REFERENCE_FEATURES, reference_features

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")

    bars, source = make_bars(args.bars)
    print(f"data: {source} -> {len(bars):,} bars; python {platform.python_version()}, "
          f"numpy {np.__version__}, pandas {pd.__version__}")

    t0 = time.perf_counter()
    build_features(bars.iloc[:5000])
    print(f"numba compile / cache load (one-off): {time.perf_counter() - t0:.2f} s")

    t_all, X = best_of(lambda: build_features(bars), args.repeat)
    print(f"build_features, all {X.shape[1]} features: {t_all:.2f} s for {len(bars):,} bars "
          f"({len(bars) * X.shape[1] / t_all / 1e6:.0f} M feature values/s)  target < 10 s: "
          f"{'met' if t_all < 10 else 'NOT met'}")

    session = get_calendar("24/7").sessions(bars.index).session
    t_pd, ref = best_of(lambda: reference_features(bars, session), 1)
    subset = [c for c in REFERENCE_FEATURES if c in X.columns]
    print(f"naive pandas baseline, {len(subset)} of the features: {t_pd:.2f} s")
    print(f"ratio pandas({len(subset)}) / numba(all {X.shape[1]}): {t_pd / t_all:.1f}x; "
          f"per feature: {(t_pd / len(subset)) / (t_all / X.shape[1]):.1f}x")
    a, b = X[subset].to_numpy(), ref[subset].to_numpy()
    ok = np.isfinite(a) & np.isfinite(b)
    rel = np.abs(a[ok] - b[ok]) / np.maximum(np.abs(b[ok]), 1e-12)
    print(f"agreement with the pandas baseline: median rel. diff {np.median(rel):.1e}")
    print(f"output: {X.memory_usage(deep=False).sum() / 2**20:.0f} MiB float64")


if __name__ == "__main__":
    main()
