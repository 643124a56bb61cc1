"""Plain-Python twins of the kernels in :mod:`ml.labels._labels_nb`.

Same names with the ``_py`` suffix, same arguments, same outputs.  They are
written for reading, not speed (the uniqueness twins count label by label in
O(sum of label lengths) instead of using prefix sums), and the tests compare
them with the numba kernels.  Setting ``ml.labels._checks.PURE_PYTHON = True``
makes the public functions run these twins, for readable tracebacks.
"""

from __future__ import annotations

import math

import numpy as np

from ml.labels._labels_nb import (
    BARRIER_BOTH,
    BARRIER_LOWER,
    BARRIER_NONE,
    BARRIER_UPPER,
    BARRIER_VERTICAL,
)

__all__ = [
    "average_uniqueness_py",
    "concurrency_py",
    "fixed_horizon_py",
    "return_attribution_py",
    "triple_barrier_py",
]


def fixed_horizon_py(open_, close, seg_end, horizon, threshold):
    """Twin of :func:`~ml.labels._labels_nb.fixed_horizon_nb`."""
    n = len(close)
    label = np.full(n, np.nan)
    ret = np.full(n, np.nan)
    exit_idx = np.full(n, -1, dtype=np.int64)
    for t in range(n):
        exit_bar = t + horizon
        if exit_bar > seg_end[t]:
            continue  # the horizon would leave the session / the data
        r = math.log(close[exit_bar] / open_[t + 1])
        ret[t] = r
        exit_idx[t] = exit_bar
        label[t] = 1.0 if r > threshold else (-1.0 if r < -threshold else 0.0)
    return label, ret, exit_idx


def _first_touch_long(o, h, l, c, profit_px, stop_px, has_side):
    """Barrier code and fill price for a long position over one bar, or (NONE, nan)."""
    if stop_px is not None and o <= stop_px:
        return BARRIER_LOWER, o  # gapped through the stop: fill at the open
    if profit_px is not None and o >= profit_px:
        return BARRIER_UPPER, o  # gapped through the target: fill at the open
    hit_pt = profit_px is not None and h >= profit_px
    hit_sl = stop_px is not None and l <= stop_px
    if hit_pt and hit_sl:
        return (BARRIER_LOWER, stop_px) if has_side else (BARRIER_BOTH, c)
    if hit_sl:
        return BARRIER_LOWER, stop_px
    if hit_pt:
        return BARRIER_UPPER, profit_px
    return BARRIER_NONE, math.nan


def _first_touch_short(o, h, l, c, profit_px, stop_px, has_side):
    """Mirror of :func:`_first_touch_long`: target below, stop above."""
    if stop_px is not None and o >= stop_px:
        return BARRIER_LOWER, o
    if profit_px is not None and o <= profit_px:
        return BARRIER_UPPER, o
    hit_pt = profit_px is not None and l <= profit_px
    hit_sl = stop_px is not None and h >= stop_px
    if hit_pt and hit_sl:
        return (BARRIER_LOWER, stop_px) if has_side else (BARRIER_BOTH, c)
    if hit_sl:
        return BARRIER_LOWER, stop_px
    if hit_pt:
        return BARRIER_UPPER, profit_px
    return BARRIER_NONE, math.nan


def triple_barrier_py(open_, high, low, close, width, side, seg_end, max_holding,
                      pt, sl, min_ret, has_side, open_end):
    """Twin of :func:`~ml.labels._labels_nb.triple_barrier_nb`."""
    n = len(close)
    label = np.full(n, np.nan)
    ret = np.full(n, np.nan)
    entry_price = np.full(n, np.nan)
    exit_price = np.full(n, np.nan)
    exit_idx = np.full(n, -1, dtype=np.int64)
    barrier = np.zeros(n, dtype=np.int8)
    uses_width = pt > 0 or sl > 0
    for t in range(n):
        s = side[t]
        if s not in (1.0, -1.0):
            continue  # no position (side 0 or NaN)
        if t + 1 > seg_end[t]:
            continue  # no entry bar left in this session
        w = width[t]
        if uses_width and not (math.isfinite(w) and w > 0):
            continue  # volatility unknown (warm-up) or zero
        last = min(t + max_holding, seg_end[t])
        vertical_known = not (open_end and seg_end[t] == n - 1 and t + max_holding > n - 1)
        entry = open_[t + 1]
        if s == 1.0:
            profit_px = entry * math.exp(pt * w) if pt > 0 else None
            stop_px = entry * math.exp(-sl * w) if sl > 0 else None
            touch = _first_touch_long
        else:
            profit_px = entry * math.exp(-pt * w) if pt > 0 else None
            stop_px = entry * math.exp(sl * w) if sl > 0 else None
            touch = _first_touch_short
        code, px, j_exit = BARRIER_NONE, math.nan, -1
        for j in range(t + 1, last + 1):
            code, px = touch(open_[j], high[j], low[j], close[j], profit_px, stop_px, has_side)
            if code != BARRIER_NONE:
                j_exit = j
                break
        if code == BARRIER_NONE:
            if not vertical_known:
                continue
            code, px, j_exit = BARRIER_VERTICAL, close[last], last
        r = s * math.log(px / entry)
        if code == BARRIER_UPPER:
            lab = 1.0
        elif code == BARRIER_LOWER:
            lab = -1.0
        elif code == BARRIER_BOTH or abs(r) <= min_ret:
            lab = 0.0
        else:
            lab = math.copysign(1.0, r)
        label[t], ret[t], entry_price[t], exit_price[t] = lab, r, entry, px
        exit_idx[t], barrier[t] = j_exit, code
    return label, ret, entry_price, exit_price, exit_idx, barrier


def concurrency_py(start, end, n):
    """Twin of :func:`~ml.labels._labels_nb.concurrency_nb` (counts bar by bar)."""
    count = np.zeros(n, dtype=np.int64)
    for a, b in zip(start, end):
        if a < 0 or b < 0:
            continue
        for t in range(a, b + 1):
            count[t] += 1
    return count


def average_uniqueness_py(start, end, n):
    """Twin of :func:`~ml.labels._labels_nb.average_uniqueness_nb`."""
    count = concurrency_py(start, end, n)
    out = np.full(len(start), np.nan)
    for i, (a, b) in enumerate(zip(start, end)):
        if a < 0 or b < 0:
            continue
        out[i] = sum(1.0 / count[t] for t in range(a, b + 1)) / (b - a + 1)
    return out


def return_attribution_py(start, end, ret, n):
    """Twin of :func:`~ml.labels._labels_nb.return_attribution_nb`."""
    count = concurrency_py(start, end, n)
    out = np.full(len(start), np.nan)
    for i, (a, b) in enumerate(zip(start, end)):
        if a < 0 or b < 0:
            continue
        out[i] = abs(sum(ret[t] / count[t] for t in range(a + 1, b + 1)))
    return out
