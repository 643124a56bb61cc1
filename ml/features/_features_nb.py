"""Numba kernels for the feature builder.

Every function takes numpy arrays and scalars, returns numpy arrays, and is
strictly causal: ``out[t]`` is a function of ``x[:t + 1]`` only.  Windows are
in bars and need ``w`` finite values (a NaN or inf inside the window gives
NaN, as pandas' ``rolling(w)`` with ``min_periods=w`` does).  Running sums are
recomputed from scratch once every ``w`` bars so that rounding never drifts.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "copy_finite_nb",
    "ewm_nb",
    "opening_range_nb",
    "prev_session_nb",
    "rolling_cov_nb",
    "rolling_max_nb",
    "rolling_min_nb",
    "rolling_moment_nb",
    "rolling_sum_nb",
    "rolling_var_nb",
    "same_slot_mean_nb",
    "session_cumsum_nb",
    "session_cummax_nb",
    "session_cummin_nb",
    "session_first_nb",
    "session_lag_nb",
]


@njit(cache=True)
def _first_finite(x):
    for v in x:
        if np.isfinite(v):
            return v
    return 0.0


@njit(cache=True)
def copy_finite_nb(src, dst):
    """``dst[:] = src`` with every non-finite value written as NaN."""
    for i in range(src.shape[0]):
        v = src[i]
        dst[i] = v if np.isfinite(v) else np.nan


@njit(cache=True)
def rolling_sum_nb(x, w):
    """Sum of the last ``w`` values; NaN until ``w`` finite values are in the window."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    s = 0.0
    bad = 0
    for i in range(n):
        v = x[i]
        if np.isfinite(v):
            s += v
        else:
            bad += 1
        if i >= w:
            u = x[i - w]
            if np.isfinite(u):
                s -= u
            else:
                bad -= 1
        if i >= w - 1 and bad == 0:
            if (i + 1) % w == 0:  # exact recompute: no drift
                s = 0.0
                for j in range(i - w + 1, i + 1):
                    s += x[j]
            out[i] = s
    return out


@njit(cache=True)
def _rolling_power_sums(x, w, order, shift):
    """Rolling sums of (x - shift)^k for k = 1..order, shape (order, n)."""
    n = x.shape[0]
    out = np.full((order, n), np.nan)
    s = np.zeros(order)
    bad = 0
    for i in range(n):
        v = x[i]
        if np.isfinite(v):
            d = v - shift
            p = 1.0
            for k in range(order):
                p *= d
                s[k] += p
        else:
            bad += 1
        if i >= w:
            u = x[i - w]
            if np.isfinite(u):
                d = u - shift
                p = 1.0
                for k in range(order):
                    p *= d
                    s[k] -= p
            else:
                bad -= 1
        if i >= w - 1 and bad == 0:
            if (i + 1) % w == 0:
                for k in range(order):
                    s[k] = 0.0
                for j in range(i - w + 1, i + 1):
                    d = x[j] - shift
                    p = 1.0
                    for k in range(order):
                        p *= d
                        s[k] += p
            for k in range(order):
                out[k, i] = s[k]
    return out


@njit(cache=True)
def rolling_var_nb(x, w, ddof):
    """Rolling variance over ``w`` bars with ``ddof`` (pandas ``rolling(w).var(ddof)``).

    Sums are of ``x - k`` with ``k`` the first finite value, which removes the
    cancellation error of large price levels.
    """
    n = x.shape[0]
    out = np.full(n, np.nan)
    k = _first_finite(x)
    s1 = 0.0
    s2 = 0.0
    bad = 0
    for i in range(n):
        v = x[i]
        if np.isfinite(v):
            d = v - k
            s1 += d
            s2 += d * d
        else:
            bad += 1
        if i >= w:
            u = x[i - w]
            if np.isfinite(u):
                d = u - k
                s1 -= d
                s2 -= d * d
            else:
                bad -= 1
        if i >= w - 1 and bad == 0:
            if (i + 1) % w == 0:
                s1 = 0.0
                s2 = 0.0
                for j in range(i - w + 1, i + 1):
                    d = x[j] - k
                    s1 += d
                    s2 += d * d
            var = (s2 - s1 * s1 / w) / (w - ddof)
            out[i] = var if var > 0.0 else 0.0
    return out


@njit(cache=True)
def rolling_moment_nb(x, w, which):
    """Rolling skewness (``which=3``) or excess kurtosis (``which=4``), bias-corrected as pandas."""
    sums = _rolling_power_sums(x, w, 4, _first_finite(x))
    n = x.shape[0]
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
def rolling_cov_nb(x, y, w, ddof):
    """Rolling covariance of ``x`` and ``y`` over ``w`` bars (NaN where either is NaN)."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    kx = 0.0
    ky = 0.0
    for i in range(n):
        if np.isfinite(x[i]) and np.isfinite(y[i]):
            kx = x[i]
            ky = y[i]
            break
    sx = 0.0
    sy = 0.0
    sxy = 0.0
    bad = 0
    for i in range(n):
        if np.isfinite(x[i]) and np.isfinite(y[i]):
            sx += x[i] - kx
            sy += y[i] - ky
            sxy += (x[i] - kx) * (y[i] - ky)
        else:
            bad += 1
        if i >= w:
            j = i - w
            if np.isfinite(x[j]) and np.isfinite(y[j]):
                sx -= x[j] - kx
                sy -= y[j] - ky
                sxy -= (x[j] - kx) * (y[j] - ky)
            else:
                bad -= 1
        if i >= w - 1 and bad == 0:
            if (i + 1) % w == 0:
                sx = 0.0
                sy = 0.0
                sxy = 0.0
                for j in range(i - w + 1, i + 1):
                    sx += x[j] - kx
                    sy += y[j] - ky
                    sxy += (x[j] - kx) * (y[j] - ky)
            out[i] = (sxy - sx * sy / w) / (w - ddof)
    return out


@njit(cache=True)
def _rolling_extreme(x, w, sign):
    # Monotonic deque of indices; ``sign`` = 1 for max, -1 for min.
    n = x.shape[0]
    out = np.full(n, np.nan)
    dq = np.empty(n, dtype=np.int64)
    head = 0
    tail = 0
    last_bad = -1
    for i in range(n):
        v = x[i]
        if not np.isfinite(v):
            last_bad = i
            head = 0
            tail = 0
            continue
        while tail > head and sign * x[dq[tail - 1]] <= sign * v:
            tail -= 1
        dq[tail] = i
        tail += 1
        while dq[head] <= i - w:
            head += 1
        if i - last_bad >= w:
            out[i] = x[dq[head]]
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
    n = x.shape[0]
    out = np.full(n, np.nan)
    m = np.nan
    seen = 0
    for i in range(n):
        v = x[i]
        if np.isfinite(v):
            m = v if seen == 0 else alpha * v + (1.0 - alpha) * m
            seen += 1
        if seen >= minp and seen > 0:
            out[i] = m
    return out


@njit(cache=True)
def session_cumsum_nb(x, session):
    """Cumulative sum that restarts on every session; non-finite values count as 0."""
    n = x.shape[0]
    out = np.empty(n)
    s = 0.0
    for i in range(n):
        if i == 0 or session[i] != session[i - 1]:
            s = 0.0
        if np.isfinite(x[i]):
            s += x[i]
        out[i] = s
    return out


@njit(cache=True)
def session_cummax_nb(x, session):
    """Running maximum within each session."""
    n = x.shape[0]
    out = np.empty(n)
    m = -np.inf
    for i in range(n):
        if i == 0 or session[i] != session[i - 1]:
            m = -np.inf
        if x[i] > m:
            m = x[i]
        out[i] = m if np.isfinite(m) else np.nan
    return out


@njit(cache=True)
def session_cummin_nb(x, session):
    """Running minimum within each session."""
    n = x.shape[0]
    out = np.empty(n)
    m = np.inf
    for i in range(n):
        if i == 0 or session[i] != session[i - 1]:
            m = np.inf
        if x[i] < m:
            m = x[i]
        out[i] = m if np.isfinite(m) else np.nan
    return out


@njit(cache=True)
def session_first_nb(x, session):
    """Value of ``x`` on the session's first bar, repeated on its later bars."""
    n = x.shape[0]
    out = np.empty(n)
    f = np.nan
    for i in range(n):
        if i == 0 or session[i] != session[i - 1]:
            f = x[i]
        out[i] = f
    return out


@njit(cache=True)
def session_lag_nb(x, session, k):
    """``x[t - k]`` when bar ``t - k`` is in the same session as ``t``, else NaN."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    for i in range(k, n):
        if session[i - k] == session[i]:
            out[i] = x[i - k]
    return out


@njit(cache=True)
def prev_session_nb(high, low, close, session):
    """High, low and last close of the previous session present in the data."""
    n = high.shape[0]
    ph = np.full(n, np.nan)
    pl = np.full(n, np.nan)
    pc = np.full(n, np.nan)
    cur_h = np.nan
    cur_l = np.nan
    cur_c = np.nan
    p_h = np.nan
    p_l = np.nan
    p_c = np.nan
    for i in range(n):
        if i > 0 and session[i] != session[i - 1]:
            p_h = cur_h
            p_l = cur_l
            p_c = cur_c
            cur_h = np.nan
            cur_l = np.nan
        if np.isnan(cur_h) or high[i] > cur_h:
            cur_h = high[i]
        if np.isnan(cur_l) or low[i] < cur_l:
            cur_l = low[i]
        cur_c = close[i]
        ph[i] = p_h
        pl[i] = p_l
        pc[i] = p_c
    return ph, pl, pc


@njit(cache=True)
def opening_range_nb(high, low, session, minutes_since_open, bar_minutes, range_minutes):
    """High and low of the session's first ``range_minutes``, known from the bar
    that completes the range on (NaN before)."""
    n = high.shape[0]
    oh = np.full(n, np.nan)
    ol = np.full(n, np.nan)
    h = np.nan
    lo = np.nan
    for i in range(n):
        if i == 0 or session[i] != session[i - 1]:
            h = np.nan
            lo = np.nan
        m = minutes_since_open[i]
        if m >= 0.0 and m < range_minutes:
            if np.isnan(h) or high[i] > h:
                h = high[i]
            if np.isnan(lo) or low[i] < lo:
                lo = low[i]
        if m + bar_minutes >= range_minutes:
            oh[i] = h
            ol[i] = lo
    return oh, ol


@njit(cache=True)
def same_slot_mean_nb(x, slot, session, n_slots, k):
    """Mean of ``x`` on the same intraday slot over the previous ``k`` sessions.

    ``slot`` is the bar's position in its session (e.g. minute since open);
    a negative slot gives NaN.  Only earlier sessions are used.
    """
    n = x.shape[0]
    out = np.full(n, np.nan)
    ring = np.full((n_slots, k), np.nan)
    count = np.zeros(n_slots, dtype=np.int64)
    pending_idx = np.empty(n, dtype=np.int64)
    n_pending = 0
    for i in range(n):
        if i > 0 and session[i] != session[i - 1]:
            # Commit the finished session's values before using them.
            for p in range(n_pending):
                j = pending_idx[p]
                s = slot[j]
                ring[s, count[s] % k] = x[j]
                count[s] += 1
            n_pending = 0
        s = slot[i]
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
                out[i] = tot / ok
        if np.isfinite(x[i]):
            pending_idx[n_pending] = i
            n_pending += 1
    return out
