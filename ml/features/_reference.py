"""Plain-pandas twins of the rolling features: the readable reference.

These are written the way a notebook would write them (``Series.rolling``,
``ewm``, ``groupby``) and serve two purposes: tests compare
:func:`ml.features.build_features` against them, and ``benchmarks/features.py``
times them as the naive baseline.  They are not used by the library itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["REFERENCE_FEATURES", "reference_features"]


def reference_features(bars: pd.DataFrame, session: np.ndarray) -> pd.DataFrame:
    """Pandas implementations of :data:`REFERENCE_FEATURES` for ``bars``.

    ``session`` holds the per-bar session number (``SessionInfo.session``).
    """
    o, h, l, c, v = (bars[k].astype(float) for k in ("open", "high", "low", "close", "volume"))
    sess = pd.Series(session, index=bars.index)
    logc = np.log(c)
    r1 = logc.diff()
    out = {}
    for k in (1, 2, 5, 15, 30, 60, 120):
        out[f"ret_{k}"] = logc - logc.shift(k)
    out["ret_bar"] = logc - np.log(o)
    for w in (15, 60, 240):
        out[f"vol_cc_{w}"] = r1.rolling(w).std()
    for h_ in (5, 15, 60):
        out[f"mom_z_{h_}"] = out[f"ret_{h_}"] / (out["vol_cc_60"] * np.sqrt(h_))
    for n in (10, 30, 120):
        out[f"ema_dist_{n}"] = logc - np.log(c.ewm(span=n, adjust=False, min_periods=n).mean())
    macd = (c.ewm(span=12, adjust=False, min_periods=12).mean()
            - c.ewm(span=26, adjust=False, min_periods=26).mean()) / c
    out["macd"] = macd
    out["macd_hist"] = macd - macd.ewm(span=9, adjust=False, min_periods=9, ignore_na=True).mean()
    d = c.diff()
    for n in (14, 60):
        g = d.clip(lower=0).ewm(alpha=1 / n, adjust=False, min_periods=n).mean()
        lo = (-d).clip(lower=0).ewm(alpha=1 / n, adjust=False, min_periods=n).mean()
        out[f"rsi_{n}"] = 100 * g / (g + lo)
    hh, ll = h.rolling(14).max(), l.rolling(14).min()
    out["stoch_k_14"] = (c - ll) / (hh - ll)
    for w in (30, 120):
        out[f"eff_ratio_{w}"] = (logc - logc.shift(w)).abs() / r1.abs().rolling(w).sum()
    sopen = o.groupby(sess).transform("first")
    out["ret_session"] = logc - np.log(sopen)
    hl, co = np.log(h / l), np.log(c / o)
    rs = np.log(h / c) * np.log(h / o) + np.log(l / c) * np.log(l / o)
    oc = np.log(o) - logc.shift(1)
    for w in (15, 60):
        out[f"vol_park_{w}"] = np.sqrt((hl ** 2 / (4 * np.log(2))).rolling(w).mean())
        out[f"vol_gk_{w}"] = np.sqrt((0.5 * hl ** 2 - (2 * np.log(2) - 1) * co ** 2).rolling(w).mean())
        out[f"vol_rs_{w}"] = np.sqrt(rs.rolling(w).mean())
        k = 0.34 / (1.34 + (w + 1) / (w - 1))
        out[f"vol_yz_{w}"] = np.sqrt(oc.rolling(w).var() + k * co.rolling(w).var() + (1 - k) * rs.rolling(w).mean())
    out["vol_ratio_15_240"] = out["vol_cc_15"] / out["vol_cc_240"]
    pc = c.shift(1)
    tr = pd.concat([h, pc], axis=1).max(axis=1) - pd.concat([l, pc], axis=1).min(axis=1)
    for n in (14, 60):
        out[f"atr_{n}"] = tr.ewm(alpha=1 / n, adjust=False, min_periods=n).mean() / c
    out["range_bar"] = hl
    for w in (60, 240):
        hh, ll = h.rolling(w).max(), l.rolling(w).min()
        out[f"range_pos_{w}"] = (c - ll) / (hh - ll)
    sma, sd = c.rolling(20).mean(), c.rolling(20).std(ddof=0)
    out["bb_pctb_20"] = (c - (sma - 2 * sd)) / (4 * sd)
    out["bb_width_20"] = 4 * sd / sma
    out["log_volume"] = np.log1p(v)
    for w in (30, 120):
        out[f"volume_z_{w}"] = (v - v.rolling(w).mean()) / v.rolling(w).std()
    out["volume_session_log"] = np.log1p(v.groupby(sess).cumsum())
    for w in (60, 240):
        out[f"skew_{w}"] = r1.rolling(w).skew()
        out[f"kurt_{w}"] = r1.rolling(w).kurt()
        out[f"autocorr_1_{w}"] = r1.rolling(w).corr(r1.shift(1))
    out["var_ratio_5_240"] = (logc - logc.shift(5)).rolling(240).var() / (5 * r1.rolling(240).var())
    out["dist_session_high"] = logc - np.log(h.groupby(sess).cummax())
    out["dist_session_low"] = logc - np.log(l.groupby(sess).cummin())
    daily = pd.DataFrame({"h": h.groupby(sess).max(), "l": l.groupby(sess).min(), "c": c.groupby(sess).last()})
    prev = daily.shift(1)
    out["dist_prev_high"] = logc - np.log(sess.map(prev["h"]))
    out["dist_prev_low"] = logc - np.log(sess.map(prev["l"]))
    out["dist_prev_close"] = logc - np.log(sess.map(prev["c"]))
    return pd.DataFrame(out, index=bars.index)


#: Features that have a pandas twin in :func:`reference_features`.
REFERENCE_FEATURES = (
    [f"ret_{k}" for k in (1, 2, 5, 15, 30, 60, 120)] + ["ret_bar"]
    + [f"vol_cc_{w}" for w in (15, 60, 240)] + [f"mom_z_{h}" for h in (5, 15, 60)]
    + [f"ema_dist_{n}" for n in (10, 30, 120)] + ["macd", "macd_hist", "rsi_14", "rsi_60", "stoch_k_14",
                                                  "eff_ratio_30", "eff_ratio_120", "ret_session"]
    + [f"vol_{k}_{w}" for w in (15, 60) for k in ("park", "gk", "rs", "yz")] + ["vol_ratio_15_240"]
    + ["atr_14", "atr_60", "range_bar", "range_pos_60", "range_pos_240", "bb_pctb_20", "bb_width_20"]
    + ["log_volume", "volume_z_30", "volume_z_120", "volume_session_log"]
    + [f"{k}_{w}" for w in (60, 240) for k in ("skew", "kurt", "autocorr_1")] + ["var_ratio_5_240"]
    + ["dist_session_high", "dist_session_low", "dist_prev_high", "dist_prev_low", "dist_prev_close"]
)
