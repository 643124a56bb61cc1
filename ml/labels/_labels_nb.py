"""Numba kernels of :mod:`ml.labels` (numpy arrays and scalars in, numpy arrays out).

Every kernel has a plain-Python twin of the same name with the ``_py`` suffix
in :mod:`ml.labels._labels_py`; the tests run both on the same inputs and
demand the same output.  Positions are 0-based bar positions; ``-1`` marks an
undefined position.  Barrier codes: 0 undefined, 1 upper (profit taking),
2 lower (stop loss), 3 vertical, 4 both horizontal barriers inside one bar.

``seg_end[t]`` is the position of the last bar a label started at ``t`` may
use: the last bar of ``t``'s session (and contract), or of the data when
sessions may be crossed.  The pandas-facing functions compute it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = [
    "BARRIER_BOTH",
    "BARRIER_LOWER",
    "BARRIER_NONE",
    "BARRIER_UPPER",
    "BARRIER_VERTICAL",
    "average_uniqueness_nb",
    "concurrency_nb",
    "fixed_horizon_nb",
    "return_attribution_nb",
    "triple_barrier_nb",
]

BARRIER_NONE = 0
BARRIER_UPPER = 1
BARRIER_LOWER = 2
BARRIER_VERTICAL = 3
BARRIER_BOTH = 4


@njit(cache=True)
def fixed_horizon_nb(open_, close, seg_end, horizon, threshold):
    """Fixed-horizon labels: entry at ``open_[t+1]``, exit at ``close[t+horizon]``.

    Parameters
    ----------
    open_, close : ndarray of float64, shape (n_bars,)
    seg_end : ndarray of int64, shape (n_bars,)
        Last usable bar position for a label started at each bar.
    horizon : int
        Bars held, >= 1.
    threshold : float
        Dead zone in log-return units, >= 0.

    Returns
    -------
    label, ret : ndarray of float64
        NaN where the exit bar ``t + horizon`` lies beyond ``seg_end[t]``.
    exit_idx : ndarray of int64
        ``t + horizon``, or -1 where undefined.

    References
    ----------
    Lopez de Prado, M. (2018). *Advances in Financial Machine Learning*,
    Wiley, section 3.2 (the fixed-time horizon method).
    """
    n = close.shape[0]
    label = np.full(n, np.nan)
    ret = np.full(n, np.nan)
    exit_idx = np.full(n, -1, dtype=np.int64)
    for t in range(n):
        j = t + horizon
        if j > seg_end[t]:
            continue
        r = math.log(close[j] / open_[t + 1])
        ret[t] = r
        exit_idx[t] = j
        if r > threshold:
            label[t] = 1.0
        elif r < -threshold:
            label[t] = -1.0
        else:
            label[t] = 0.0
    return label, ret, exit_idx


@njit(cache=True)
def triple_barrier_nb(open_, high, low, close, width, side, seg_end, max_holding,
                      pt, sl, min_ret, has_side, open_end):
    """Triple-barrier labels with next-bar-open entry, gap fills and session-bounded scans.

    Parameters
    ----------
    open_, high, low, close : ndarray of float64, shape (n_bars,)
    width : ndarray of float64, shape (n_bars,)
        Barrier half-width in log-return units (``sigma_t * sqrt(max_holding)``).
        Must be finite and > 0 where a horizontal barrier is enabled.
    side : ndarray of float64, shape (n_bars,)
        +1 (long) or -1 (short); anything else leaves the row undefined.
    seg_end : ndarray of int64, shape (n_bars,)
        Last usable bar position for a label started at each bar.
    max_holding : int
        Vertical barrier in bars after ``t``, >= 1.
    pt, sl : float
        Profit-taking and stop-loss multiples of ``width``; 0 disables.
    min_ret : float
        A vertical exit gets label 0 when ``|ret| <= min_ret``.
    has_side : bool
        Whether ``side`` comes from the caller (decides ambiguous bars with the
        stop) or is all +1 (ambiguous bars get label 0, barrier "both").
    open_end : bool
        The data may continue after the last bar (the last segment is
        incomplete): a label whose vertical barrier lies beyond the last bar
        is undefined unless a horizontal barrier is touched first.

    Returns
    -------
    label, ret, entry_price, exit_price : ndarray of float64
    exit_idx : ndarray of int64
    barrier : ndarray of int8
        See the module docstring for the codes.

    References
    ----------
    Lopez de Prado, M. (2018). *Advances in Financial Machine Learning*,
    Wiley, section 3.4 (the triple-barrier method) and 3.6 (meta-labeling).
    """
    n = close.shape[0]
    label = np.full(n, np.nan)
    ret = np.full(n, np.nan)
    entry_price = np.full(n, np.nan)
    exit_price = np.full(n, np.nan)
    exit_idx = np.full(n, -1, dtype=np.int64)
    barrier = np.zeros(n, dtype=np.int8)
    has_pt = pt > 0.0
    has_sl = sl > 0.0
    for t in range(n):
        s = side[t]
        if not (s == 1.0 or s == -1.0):
            continue
        end = seg_end[t]
        if t + 1 > end:
            continue
        w = width[t]
        if (has_pt or has_sl) and not (w > 0.0 and w < np.inf):
            continue
        t_end = t + max_holding
        vertical_ok = True
        if t_end > end:
            t_end = end
            if open_end and end == n - 1:
                vertical_ok = False
        entry = open_[t + 1]
        profit_px = entry * math.exp(s * pt * w) if has_pt else np.nan
        stop_px = entry * math.exp(-s * sl * w) if has_sl else np.nan
        code = BARRIER_NONE
        px = np.nan
        j_exit = -1
        for j in range(t + 1, t_end + 1):
            o = open_[j]
            if s > 0:
                fav = high[j]
                adv = low[j]
            else:
                fav = low[j]
                adv = high[j]
            # The bar opens beyond a barrier (gap): the fill is the open.
            if has_sl and s * (o - stop_px) <= 0.0:
                code = BARRIER_LOWER
                px = o
            elif has_pt and s * (o - profit_px) >= 0.0:
                code = BARRIER_UPPER
                px = o
            else:
                hit_pt = has_pt and s * (fav - profit_px) >= 0.0
                hit_sl = has_sl and s * (adv - stop_px) <= 0.0
                if hit_pt and hit_sl:
                    if has_side:
                        code = BARRIER_LOWER
                        px = stop_px
                    else:
                        code = BARRIER_BOTH
                        px = close[j]
                elif hit_sl:
                    code = BARRIER_LOWER
                    px = stop_px
                elif hit_pt:
                    code = BARRIER_UPPER
                    px = profit_px
            if code != BARRIER_NONE:
                j_exit = j
                break
        if code == BARRIER_NONE:
            if not vertical_ok:
                continue
            code = BARRIER_VERTICAL
            px = close[t_end]
            j_exit = t_end
        r = s * math.log(px / entry)
        if code == BARRIER_UPPER:
            lab = 1.0
        elif code == BARRIER_LOWER:
            lab = -1.0
        elif code == BARRIER_BOTH:
            lab = 0.0
        elif abs(r) > min_ret:
            lab = 1.0 if r > 0.0 else -1.0
        else:
            lab = 0.0
        label[t] = lab
        ret[t] = r
        entry_price[t] = entry
        exit_price[t] = px
        exit_idx[t] = j_exit
        barrier[t] = code
    return label, ret, entry_price, exit_price, exit_idx, barrier


@njit(cache=True)
def concurrency_nb(start, end, n):
    """Number of label intervals ``[start_i, end_i]`` covering each of ``n`` bars.

    A difference array and one cumulative sum: O(n_labels + n).  Labels with
    ``start_i < 0`` or ``end_i < 0`` are skipped.

    References
    ----------
    Lopez de Prado, M. (2018). *Advances in Financial Machine Learning*,
    Wiley, section 4.3 (number of concurrent labels).
    """
    diff = np.zeros(n + 1, dtype=np.int64)
    for i in range(start.shape[0]):
        a = start[i]
        b = end[i]
        if a < 0 or b < 0:
            continue
        diff[a] += 1
        diff[b + 1] -= 1
    count = np.empty(n, dtype=np.int64)
    c = 0
    for t in range(n):
        c += diff[t]
        count[t] = c
    return count


@njit(cache=True)
def average_uniqueness_nb(start, end, n):
    """Average uniqueness of each label: mean of ``1 / c_t`` over its bars.

    Prefix sums of ``1 / c_t`` make it O(n_labels + n); their rounding error
    (about n_bars * 1e-16 absolute) is the only difference from a direct sum,
    and results are capped at 1.  NaN where ``start_i < 0`` or ``end_i < 0``.

    References
    ----------
    Lopez de Prado, M. (2018). *Advances in Financial Machine Learning*,
    Wiley, section 4.4 (average uniqueness of a label).
    """
    count = concurrency_nb(start, end, n)
    csum = np.zeros(n + 1)
    for t in range(n):
        csum[t + 1] = csum[t] + (1.0 / count[t] if count[t] > 0 else 0.0)
    out = np.full(start.shape[0], np.nan)
    for i in range(start.shape[0]):
        a = start[i]
        b = end[i]
        if a < 0 or b < 0:
            continue
        u = (csum[b + 1] - csum[a]) / (b - a + 1)
        out[i] = u if u < 1.0 else 1.0  # prefix-sum rounding must not push u above 1
    return out


@njit(cache=True)
def return_attribution_nb(start, end, ret, n):
    """Absolute concurrency-shared return of each label, ``|sum_{start_i < t <= end_i} ret_t / c_t|``.

    ``c_t`` counts the label intervals ``[start_i, end_i]`` covering bar t.
    NaN where ``start_i < 0`` or ``end_i < 0``.  Not normalised.

    References
    ----------
    Lopez de Prado, M. (2018). *Advances in Financial Machine Learning*,
    Wiley, section 4.10 (return attribution).
    """
    count = concurrency_nb(start, end, n)
    csum = np.zeros(n + 1)
    for t in range(n):
        csum[t + 1] = csum[t] + (ret[t] / count[t] if count[t] > 0 else 0.0)
    out = np.full(start.shape[0], np.nan)
    for i in range(start.shape[0]):
        a = start[i]
        b = end[i]
        if a < 0 or b < 0:
            continue
        out[i] = abs(csum[b + 1] - csum[a + 1])
    return out
