"""Numba kernels for the feature builder.

Every function takes numpy arrays and scalars, returns numpy arrays, and is
strictly causal: ``out[t]`` is a function of ``x[:t + 1]`` only.  Windows are
in bars and need ``w`` finite values (a NaN or inf inside the window gives
NaN, as pandas' ``rolling(w)`` with ``min_periods=w`` does).  Running sums are
recomputed from scratch once every ``w`` bars so that rounding never drifts.

Every operation is one *resumable* loop (``*_st_nb``) whose state lives in
arrays the caller keeps, so the streaming builder
(:class:`ml.features.StreamingFeatures`) continues it bar by bar and gets the
batch values bit for bit; the whole-series functions run it from a fresh state.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "copy_finite_nb",
    "ewm_nb",
    "ewm_st_nb",
    "moments_from_sums_nb",
    "opening_range_st_nb",
    "prev_session_st_nb",
    "rolling_cov_nb",
    "rolling_cov_st_nb",
    "rolling_extreme_st_nb",
    "rolling_max_nb",
    "rolling_min_nb",
    "rolling_moment_nb",
    "rolling_power_sums_st_nb",
    "rolling_sum_nb",
    "rolling_sum_st_nb",
    "rolling_var_nb",
    "rolling_var_st_nb",
    "same_slot_mean_st_nb",
    "session_lag_st_nb",
    "session_scan_st_nb",
]


@njit(cache=True)
def copy_finite_nb(src, dst):
    """``dst[:] = src`` with every non-finite value written as NaN."""
    for i in range(src.shape[0]):
        v = src[i]
        dst[i] = v if np.isfinite(v) else np.nan


# --------------------------------------------------------------------------- whole-series kernels
# Each runs its resumable kernel (below) from a fresh state: one loop per operation.


@njit(cache=True)
def rolling_sum_nb(x, w):
    """Sum of the last ``w`` values; NaN until ``w`` finite values are in the window."""
    out = np.empty(x.shape[0])
    rolling_sum_st_nb(x, w, np.zeros(1), np.zeros(2, np.int64), np.empty(w), out)
    return out


@njit(cache=True)
def rolling_var_nb(x, w, ddof):
    """Rolling variance over ``w`` bars with ``ddof`` (pandas ``rolling(w).var(ddof)``).

    Sums are of ``x - k`` with ``k`` the first finite value, which removes the
    cancellation error of large price levels.
    """
    out = np.empty(x.shape[0])
    rolling_var_st_nb(x, w, ddof, np.zeros(3), np.zeros(3, np.int64), np.empty(w), out)
    return out


@njit(cache=True)
def rolling_moment_nb(x, w, which):
    """Rolling skewness (``which=3``) or excess kurtosis (``which=4``), bias-corrected as pandas."""
    sums = np.empty((4, x.shape[0]))
    rolling_power_sums_st_nb(x, w, 4, np.zeros(5), np.zeros(3, np.int64), np.empty(w), sums)
    return moments_from_sums_nb(sums, w, which)


@njit(cache=True)
def rolling_cov_nb(x, y, w, ddof):
    """Rolling covariance of ``x`` and ``y`` over ``w`` bars (NaN where either is NaN)."""
    out = np.empty(x.shape[0])
    rolling_cov_st_nb(x, y, w, ddof, np.zeros(5), np.zeros(3, np.int64), np.empty(w), np.empty(w), out)
    return out


@njit(cache=True)
def _rolling_extreme(x, w, sign):
    out = np.empty(x.shape[0])
    rolling_extreme_st_nb(x, w, sign, np.array([0, -1, 0, 0], dtype=np.int64), np.empty(w),
                          np.zeros(w + 1, dtype=np.int64), out)
    return out


@njit(cache=True)
def rolling_max_nb(x, w):
    """Maximum of the last ``w`` values."""
    return _rolling_extreme(x, w, 1.0)


@njit(cache=True)
def rolling_min_nb(x, w):
    """Minimum of the last ``w`` values."""
    return _rolling_extreme(x, w, -1.0)


@njit(cache=True)
def ewm_nb(x, alpha, minp):
    """Exponential moving average ``m_t = alpha x_t + (1 - alpha) m_{t-1}``.

    Starts at the first finite value; non-finite inputs keep the previous
    average (pandas ``ewm(alpha=..., adjust=False, ignore_na=True)``); NaN
    until ``minp`` finite values were seen.
    """
    out = np.empty(x.shape[0])
    ewm_st_nb(x, alpha, minp, np.full(1, np.nan), np.zeros(1, np.int64), out)
    return out


# --------------------------------------------------------------------------- resumable kernels
# The same loops as above, with their state in arrays the caller keeps: a call on bars
# [a, b) followed by a call on [b, c) gives what one call on [a, c) gives, bit for bit.
# They serve the streaming feature engine (ml.features.StreamingFeatures); the batch
# builder runs them too, from a fresh state (one definition of every feature).
# State layout: ``fs`` floats, ``ist`` ints (ist[0]: values seen so far), ``buf`` ring buffers.


@njit(cache=True)
def rolling_sum_st_nb(x, w, fs, ist, buf, out):
    """:func:`rolling_sum_nb`, resumable: fs = [sum], ist = [i, bad], buf (w,) the last w values."""
    s = fs[0]
    i = ist[0]
    bad = ist[1]
    for t in range(x.shape[0]):
        v = x[t]
        if np.isfinite(v):
            s += v
        else:
            bad += 1
        if i >= w:
            u = buf[i % w]
            if np.isfinite(u):
                s -= u
            else:
                bad -= 1
        buf[i % w] = v
        out[t] = np.nan
        if i >= w - 1 and bad == 0:
            if (i + 1) % w == 0:  # exact recompute: no drift
                s = 0.0
                for j in range(i - w + 1, i + 1):
                    s += buf[j % w]
            out[t] = s
        i += 1
    fs[0] = s
    ist[0] = i
    ist[1] = bad


@njit(cache=True)
def rolling_var_st_nb(x, w, ddof, fs, ist, buf, out):
    """:func:`rolling_var_nb`, resumable: fs = [k, s1, s2], ist = [i, bad, k set], buf (w,)."""
    k = fs[0]
    s1 = fs[1]
    s2 = fs[2]
    i = ist[0]
    bad = ist[1]
    for t in range(x.shape[0]):
        v = x[t]
        if np.isfinite(v):
            if ist[2] == 0:  # the shift: the first finite value of the series
                k = v
                ist[2] = 1
            d = v - k
            s1 += d
            s2 += d * d
        else:
            bad += 1
        if i >= w:
            u = buf[i % w]
            if np.isfinite(u):
                d = u - k
                s1 -= d
                s2 -= d * d
            else:
                bad -= 1
        buf[i % w] = v
        out[t] = np.nan
        if i >= w - 1 and bad == 0:
            if (i + 1) % w == 0:
                s1 = 0.0
                s2 = 0.0
                for j in range(i - w + 1, i + 1):
                    d = buf[j % w] - k
                    s1 += d
                    s2 += d * d
            var = (s2 - s1 * s1 / w) / (w - ddof)
            out[t] = var if var > 0.0 else 0.0
        i += 1
    fs[0] = k
    fs[1] = s1
    fs[2] = s2
    ist[0] = i
    ist[1] = bad


@njit(cache=True)
def rolling_power_sums_st_nb(x, w, order, fs, ist, buf, out):
    """:func:`_rolling_power_sums` with the shift of the first finite value, resumable:
    fs = [shift, s_1 .. s_order], ist = [i, bad, shift set], buf (w,), out (order, n)."""
    shift = fs[0]
    i = ist[0]
    bad = ist[1]
    for t in range(x.shape[0]):
        v = x[t]
        if np.isfinite(v):
            if ist[2] == 0:
                shift = v
                ist[2] = 1
            d = v - shift
            p = 1.0
            for q in range(order):
                p *= d
                fs[1 + q] += p
        else:
            bad += 1
        if i >= w:
            u = buf[i % w]
            if np.isfinite(u):
                d = u - shift
                p = 1.0
                for q in range(order):
                    p *= d
                    fs[1 + q] -= p
            else:
                bad -= 1
        buf[i % w] = v
        for q in range(order):
            out[q, t] = np.nan
        if i >= w - 1 and bad == 0:
            if (i + 1) % w == 0:
                for q in range(order):
                    fs[1 + q] = 0.0
                for j in range(i - w + 1, i + 1):
                    d = buf[j % w] - shift
                    p = 1.0
                    for q in range(order):
                        p *= d
                        fs[1 + q] += p
            for q in range(order):
                out[q, t] = fs[1 + q]
        i += 1
    fs[0] = shift
    ist[0] = i
    ist[1] = bad


@njit(cache=True)
def moments_from_sums_nb(sums, w, which):
    """Skewness (``which=3``) or excess kurtosis (4) from rolling power sums (see :func:`rolling_moment_nb`)."""
    n = sums.shape[1]
    out = np.full(n, np.nan)
    nn = float(w)
    for i in range(n):
        if np.isnan(sums[0, i]):
            continue
        a = sums[0, i] / nn
        b = sums[1, i] / nn - a * a
        if b <= 1e-14 * max(1.0, a * a):
            continue
        c = sums[2, i] / nn - a * a * a - 3.0 * a * b
        if which == 3:
            out[i] = np.sqrt(nn * (nn - 1.0)) * c / ((nn - 2.0) * b ** 1.5)
        else:
            d = sums[3, i] / nn - a ** 4 - 6.0 * b * a * a - 4.0 * c * a
            k = (nn * nn - 1.0) * d / (b * b) - 3.0 * (nn - 1.0) ** 2
            out[i] = k / ((nn - 2.0) * (nn - 3.0))
    return out


@njit(cache=True)
def rolling_cov_st_nb(x, y, w, ddof, fs, ist, bx, by, out):
    """:func:`rolling_cov_nb`, resumable: fs = [kx, ky, sx, sy, sxy], ist = [i, bad, k set], bx, by (w,)."""
    kx = fs[0]
    ky = fs[1]
    sx = fs[2]
    sy = fs[3]
    sxy = fs[4]
    i = ist[0]
    bad = ist[1]
    for t in range(x.shape[0]):
        a = x[t]
        b = y[t]
        if np.isfinite(a) and np.isfinite(b):
            if ist[2] == 0:
                kx = a
                ky = b
                ist[2] = 1
            sx += a - kx
            sy += b - ky
            sxy += (a - kx) * (b - ky)
        else:
            bad += 1
        if i >= w:
            u = bx[i % w]
            z = by[i % w]
            if np.isfinite(u) and np.isfinite(z):
                sx -= u - kx
                sy -= z - ky
                sxy -= (u - kx) * (z - ky)
            else:
                bad -= 1
        bx[i % w] = a
        by[i % w] = b
        out[t] = np.nan
        if i >= w - 1 and bad == 0:
            if (i + 1) % w == 0:
                sx = 0.0
                sy = 0.0
                sxy = 0.0
                for j in range(i - w + 1, i + 1):
                    sx += bx[j % w] - kx
                    sy += by[j % w] - ky
                    sxy += (bx[j % w] - kx) * (by[j % w] - ky)
            out[t] = (sxy - sx * sy / w) / (w - ddof)
        i += 1
    fs[0] = kx
    fs[1] = ky
    fs[2] = sx
    fs[3] = sy
    fs[4] = sxy
    ist[0] = i
    ist[1] = bad


@njit(cache=True)
def rolling_extreme_st_nb(x, w, sign, ist, buf, dq, out):
    """:func:`_rolling_extreme`, resumable: ist = [i, last_bad, head, tail] (absolute deque
    positions), buf (w,) the last w values, dq (w + 1,) a ring of global indices."""
    i = ist[0]
    last_bad = ist[1]
    head = ist[2]
    tail = ist[3]
    cap = dq.shape[0]
    for t in range(x.shape[0]):
        v = x[t]
        buf[i % w] = v
        out[t] = np.nan
        if not np.isfinite(v):
            last_bad = i
            head = 0
            tail = 0
            i += 1
            continue
        while tail > head and sign * buf[dq[(tail - 1) % cap] % w] <= sign * v:
            tail -= 1
        dq[tail % cap] = i
        tail += 1
        while dq[head % cap] <= i - w:
            head += 1
        if i - last_bad >= w:
            out[t] = buf[dq[head % cap] % w]
        i += 1
    ist[0] = i
    ist[1] = last_bad
    ist[2] = head
    ist[3] = tail


@njit(cache=True)
def ewm_st_nb(x, alpha, minp, fs, ist, out):
    """:func:`ewm_nb`, resumable: fs = [m], ist = [seen]."""
    m = fs[0]
    seen = ist[0]
    for t in range(x.shape[0]):
        v = x[t]
        if np.isfinite(v):
            m = v if seen == 0 else alpha * v + (1.0 - alpha) * m
            seen += 1
        out[t] = m if (seen >= minp and seen > 0) else np.nan
    fs[0] = m
    ist[0] = seen


@njit(cache=True)
def session_scan_st_nb(x, session, kind, fs, ist, out):
    """Session cumulative sum (kind 0), max (1), min (2) or first value (3), resumable:
    fs = [running value], ist = [bars seen, previous session]."""
    s = fs[0]
    for t in range(x.shape[0]):
        if ist[0] == 0 or session[t] != ist[1]:
            if kind == 0:
                s = 0.0
            elif kind == 1:
                s = -np.inf
            elif kind == 2:
                s = np.inf
            else:
                s = x[t]
        v = x[t]
        if kind == 0:
            if np.isfinite(v):
                s += v
            out[t] = s
        elif kind == 1:
            if v > s:
                s = v
            out[t] = s if np.isfinite(s) else np.nan
        elif kind == 2:
            if v < s:
                s = v
            out[t] = s if np.isfinite(s) else np.nan
        else:
            out[t] = s
        ist[0] += 1
        ist[1] = session[t]
    fs[0] = s


@njit(cache=True)
def session_lag_st_nb(x, session, k, ist, bx, bs, out):
    """:func:`session_lag_nb`, resumable: ist = [i], bx / bs (k,) the last k values and sessions."""
    i = ist[0]
    for t in range(x.shape[0]):
        out[t] = np.nan
        if i >= k and bs[i % k] == session[t]:   # slot i % k holds bar i - k
            out[t] = bx[i % k]
        bx[i % k] = x[t]
        bs[i % k] = session[t]
        i += 1
    ist[0] = i


@njit(cache=True)
def prev_session_st_nb(high, low, close, session, fs, ist, ph, pl, pc):
    """:func:`prev_session_nb`, resumable: fs = [cur_h, cur_l, cur_c, p_h, p_l, p_c],
    ist = [bars seen, previous session]."""
    for t in range(high.shape[0]):
        if ist[0] > 0 and session[t] != ist[1]:
            fs[3] = fs[0]
            fs[4] = fs[1]
            fs[5] = fs[2]
            fs[0] = np.nan
            fs[1] = np.nan
        if np.isnan(fs[0]) or high[t] > fs[0]:
            fs[0] = high[t]
        if np.isnan(fs[1]) or low[t] < fs[1]:
            fs[1] = low[t]
        fs[2] = close[t]
        ph[t] = fs[3]
        pl[t] = fs[4]
        pc[t] = fs[5]
        ist[0] += 1
        ist[1] = session[t]


@njit(cache=True)
def opening_range_st_nb(high, low, session, minutes_since_open, bar_minutes, range_minutes, fs, ist, oh, ol):
    """:func:`opening_range_nb`, resumable: fs = [h, lo], ist = [bars seen, previous session]."""
    for t in range(high.shape[0]):
        if ist[0] == 0 or session[t] != ist[1]:
            fs[0] = np.nan
            fs[1] = np.nan
        m = minutes_since_open[t]
        if m >= 0.0 and m < range_minutes:
            if np.isnan(fs[0]) or high[t] > fs[0]:
                fs[0] = high[t]
            if np.isnan(fs[1]) or low[t] < fs[1]:
                fs[1] = low[t]
        oh[t] = np.nan
        ol[t] = np.nan
        if m + bar_minutes >= range_minutes:
            oh[t] = fs[0]
            ol[t] = fs[1]
        ist[0] += 1
        ist[1] = session[t]


@njit(cache=True)
def same_slot_mean_st_nb(x, slot, session, k, ring, count, pend_v, pend_s, ist, out):
    """:func:`same_slot_mean_nb`, resumable: ring (n_slots, k), count (n_slots,), the current
    session's pending values and slots (n_slots,), ist = [bars seen, previous session, pending]."""
    n_slots = ring.shape[0]
    for t in range(x.shape[0]):
        out[t] = np.nan
        if ist[0] > 0 and session[t] != ist[1]:
            for p in range(ist[2]):  # commit the finished session's values before using them
                s = pend_s[p]
                ring[s, count[s] % k] = pend_v[p]
                count[s] += 1
            ist[2] = 0
        ist[0] += 1
        ist[1] = session[t]
        s = slot[t]
        if s < 0 or s >= n_slots:
            continue
        m = min(count[s], k)
        if m > 0:
            tot = 0.0
            ok = 0
            for q in range(m):
                v = ring[s, q]
                if np.isfinite(v):
                    tot += v
                    ok += 1
            if ok > 0:
                out[t] = tot / ok
        if np.isfinite(x[t]) and ist[2] < pend_v.shape[0]:
            pend_v[ist[2]] = x[t]
            pend_s[ist[2]] = s
            ist[2] += 1
