"""What the benchmark scripts share: real bars of a requested size, and best-of timing."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from ml.data import load_bars, sample_path

#: Binance FILUSDT 1-minute, 3 months (131,040 bars), when ../shared/data is present.
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "binance_usdm_futures_1m" / \
    "FILUSDT_1m_2023-04_2023-06.csv.gz"


def make_bars(n: int) -> tuple[pd.DataFrame, str]:
    """``n`` real FILUSDT bars: the shared 3-month file (or the bundled 7-day sample),
    repeated back to back with shifted timestamps when it is shorter; and a
    sentence saying which."""
    src = SHARED if SHARED.exists() else sample_path("filusdt")
    bars = load_bars(src)
    if len(bars) >= n:
        return bars.iloc[:n], f"{src.name} ({len(bars):,} real bars, not repeated)"
    span = bars.index[-1] - bars.index[0] + pd.Timedelta(minutes=1)
    reps = -(-n // len(bars))
    parts = []
    for k in range(reps):
        b = bars.copy()
        b.index = b.index + k * span
        parts.append(b)
    big = pd.concat(parts).iloc[:n]
    big.attrs = bars.attrs
    return big, f"{src.name} ({len(bars):,} real bars, repeated {reps}x)"


def best_of(fn, repeat):
    """(fastest seconds, last result) over ``repeat`` calls."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out
