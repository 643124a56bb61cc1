"""Synthetic markets made from real bars: no edge, or a planted edge of known strength.

Both keep every bar of the real data as it is, up to its orientation: a bar is either
used as recorded or mirrored (its gap from the previous close, its close, high and low
and VWAP reflected around its open, buy and sell volume swapped).  Volatility and its
clustering, the time-of-day pattern, fat tails, volume, trade counts and bar shapes are
therefore exactly those of the real bars; only the direction of each move is chosen.

- :func:`no_edge_bars`: every bar's orientation is a fair coin (``method="flip"``), or
  the bars of each session are shuffled (``method="permute"``, what a user reshuffling
  within sessions does; it keeps each bar's direction but breaks their order).  Nothing
  in the past predicts the next bar's direction.
- :func:`planted_edge_bars`: the next bar moves the way a causal signal says with
  probability ``hit_rate`` (0.5: no edge).  Kinds: ``"momentum"`` (the sign of the
  last ``lookback`` returns), ``"mean_reversion"`` (against it), ``"order_flow"``
  (the sign of the last bar's buy - sell volume).

Seeded and deterministic: the same bars, settings and seed give the same frame.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from ml._checks import did_you_mean
from ml.data._synthetic_nb import KIND_MEAN_REVERSION, KIND_MOMENTUM, KIND_NONE, KIND_ORDER_FLOW, orient_nb
from ml.exceptions import ParameterError

__all__ = ["EDGE_KINDS", "no_edge_bars", "planted_edge_bars"]

#: Kinds of planted edge, and the signal each one follows.
EDGE_KINDS = {
    "momentum": "the next bar moves with the sign of the sum of the last `lookback` bar returns",
    "mean_reversion": "the next bar moves against the sign of the sum of the last `lookback` bar returns",
    "order_flow": "the next bar moves with the sign of the last bar's buy_volume - sell_volume",
}
_CODES = {"momentum": KIND_MOMENTUM, "mean_reversion": KIND_MEAN_REVERSION, "order_flow": KIND_ORDER_FLOW}


def no_edge_bars(bars: pd.DataFrame, *, seed: int = 0, method: str = "flip", tick_size=None) -> pd.DataFrame:
    """The real ``bars`` with their predictability destroyed.

    Parameters
    ----------
    bars : DataFrame
        Bars of one symbol, as :func:`ml.data.load_bars` returns them (a
        continuous series of several contracts is one symbol).
    seed : int
    method : {"flip", "permute"}
        ``"flip"``: each bar used as recorded or mirrored, by a fair coin; the
        bars keep their times (volatility by time of day and its clustering
        stay).  ``"permute"``: the bars of each session in a random order (the
        session's first bar stays first: its gap is the overnight move).
    tick_size : float, optional
        Round prices to this tick (default: the tick of the bars' instrument
        preset when one is recorded, else no rounding).

    Returns
    -------
    DataFrame
        Same index, columns and attrs; ``attrs["synthetic"]`` says how it was made.
    """
    if method not in ("flip", "permute"):
        raise ParameterError(f"`method` must be 'flip' or 'permute', got {method!r}."
                             f"{did_you_mean(str(method), ('flip', 'permute'))}")
    parts = _parts(bars)
    rng = np.random.default_rng(_seed(seed))
    n = len(bars)
    if method == "flip":
        side = orient_nb(parts["ret"], parts["flow"], rng.random(n), KIND_NONE, 0.5, 0)
        order = np.arange(n)
    else:
        from ml.data._calendar import bars_calendar

        session = bars_calendar(bars).sessions(bars.index).session
        order = np.arange(n)
        for s in np.unique(session):
            idx = np.flatnonzero(session == s)
            if len(idx) > 2:
                order[idx[1:]] = idx[1:][rng.permutation(len(idx) - 1)]
        side = np.ones(n, dtype=np.int8)
    out = _rebuild(bars, parts, side, order, _tick(bars, tick_size))
    out.attrs["synthetic"] = {"kind": "none", "method": method, "seed": int(seed), "hit_rate": 0.5}
    return out


def planted_edge_bars(bars: pd.DataFrame, kind: str = "momentum", *, hit_rate: float = 0.53, lookback: int = 5,
                      seed: int = 0, tick_size=None) -> pd.DataFrame:
    """The real ``bars`` with a known, causal edge planted in the direction of each move.

    Each bar after the first moves the way the signal computed on the bars
    before it says with probability ``hit_rate``, whenever the signal and the
    bar's return are both non-zero (else by a fair coin).  The magnitude of
    every move, the bar shapes and the volumes stay those of the real bars.

    Parameters
    ----------
    bars : DataFrame
        Bars of one symbol (see :func:`no_edge_bars`).
    kind : {"momentum", "mean_reversion", "order_flow"}
        See :data:`EDGE_KINDS`.  ``"order_flow"`` needs ``buy_volume`` and ``sell_volume``.
    hit_rate : float in [0.5, 1]
        The directional hit rate of the signal on the next bar.  0.5 is no
        edge (the same frame as :func:`no_edge_bars` with the same seed); 0.53
        is about what a single good raw feature shows on real intraday bars;
        0.55 and above is a strong edge.
    lookback : int, default 5
        Bars summed by the momentum and mean-reversion signals.
    seed : int
    tick_size : float, optional
        As in :func:`no_edge_bars`.

    Examples
    --------
    >>> from ml.data import load_bars, sample_path
    >>> bars = load_bars(sample_path("filusdt"))
    >>> edge = planted_edge_bars(bars, "momentum", hit_rate=0.55, seed=1)
    >>> r = np.log(edge["close"]).diff()
    >>> signal = np.sign(r.rolling(5).sum().shift(1))
    >>> hit = (np.sign(r) == signal)[(signal != 0) & (r != 0) & signal.notna()]
    >>> bool(0.54 < hit.mean() < 0.56)
    True
    """
    if kind not in EDGE_KINDS:
        raise ParameterError(f"unknown edge kind {kind!r}; kinds: {', '.join(EDGE_KINDS)}."
                             f"{did_you_mean(str(kind), list(EDGE_KINDS))}")
    if isinstance(hit_rate, bool) or not isinstance(hit_rate, numbers.Real) or not 0.5 <= hit_rate <= 1.0:
        raise ParameterError(f"`hit_rate` must be a number in [0.5, 1] (0.5: no edge), got {hit_rate!r}.")
    if isinstance(lookback, bool) or not isinstance(lookback, numbers.Integral) or lookback < 1:
        raise ParameterError(f"`lookback` must be an int >= 1, got {lookback!r}.")
    parts = _parts(bars)
    if kind == "order_flow" and not parts["has_flow"]:
        raise ParameterError("kind='order_flow' needs `buy_volume` and `sell_volume` columns; these bars have "
                             "none (choose 'momentum' or 'mean_reversion').")
    rng = np.random.default_rng(_seed(seed))
    side = orient_nb(parts["ret"], parts["flow"], rng.random(len(bars)), _CODES[kind], float(hit_rate),
                     int(lookback))
    out = _rebuild(bars, parts, side, np.arange(len(bars)), _tick(bars, tick_size))
    out.attrs["synthetic"] = {"kind": kind, "signal": EDGE_KINDS[kind], "hit_rate": float(hit_rate),
                              "lookback": int(lookback), "seed": int(seed)}
    return out


# --------------------------------------------------------------------------- helpers


def _seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ParameterError(f"`seed` must be an int >= 0, got {seed!r}.")
    return int(seed)


def _parts(bars: pd.DataFrame) -> dict:
    """Each bar in log terms relative to its open, and its gap from the previous close."""
    if not isinstance(bars, pd.DataFrame) or not isinstance(bars.index, pd.DatetimeIndex):
        raise TypeError("`bars` must be a DataFrame with a DatetimeIndex, as load_bars returns.")
    missing = [c for c in ("open", "high", "low", "close", "volume") if c not in bars.columns]
    if missing:
        raise ParameterError(f"`bars` lacks column(s) {', '.join(missing)}.")
    if "symbol" in bars.columns and bars["symbol"].nunique() > 1:
        raise ParameterError(f"`bars` hold {bars['symbol'].nunique()} symbols; make one synthetic market per "
                             "symbol (or a continuous contract first).")
    if len(bars) < 2:
        raise ParameterError("`bars` need at least 2 rows.")
    o, h, lo, c = (bars[k].to_numpy(np.float64) for k in ("open", "high", "low", "close"))
    if not (np.all(np.isfinite([o, h, lo, c])) and (o > 0).all() and (lo > 0).all()):
        raise ParameterError("`bars` prices must be finite and > 0 (validate them with load_bars first).")
    gap = np.empty(len(o))
    gap[0] = 0.0
    gap[1:] = np.log(o[1:] / c[:-1])
    has_flow = "buy_volume" in bars.columns and "sell_volume" in bars.columns
    flow = (bars["buy_volume"].to_numpy(np.float64) - bars["sell_volume"].to_numpy(np.float64)) if has_flow \
        else np.zeros(len(o))
    parts = {"gap": gap, "hi": np.log(h / o), "lo": np.log(lo / o), "cl": np.log(c / o),
             "flow": np.nan_to_num(flow), "has_flow": has_flow}
    if "vwap" in bars.columns:
        parts["vw"] = np.log(bars["vwap"].to_numpy(np.float64) / o)
    parts["ret"] = parts["gap"] + parts["cl"]
    return parts


def _tick(bars, tick_size):
    if tick_size is not None:
        if isinstance(tick_size, bool) or not isinstance(tick_size, numbers.Real) or not tick_size > 0:
            raise ParameterError(f"`tick_size` must be a number > 0 or None, got {tick_size!r}.")
        return float(tick_size)
    name = ((bars.attrs.get("bars") or {}).get("instrument"))
    if name:
        from ml.data._instruments import INSTRUMENTS

        inst = INSTRUMENTS.get(name)
        if inst is not None and inst.tick_size >= 1e-6:
            return float(inst.tick_size)
    return None


def _rebuild(bars, parts, side, order, tick) -> pd.DataFrame:
    """Prices from the oriented (and reordered) bars, starting at the first bar's open."""
    s = side.astype(np.float64)
    gap = parts["gap"][order] * s
    gap[0] = 0.0
    cl = parts["cl"][order] * s
    hi = np.where(side > 0, parts["hi"][order], -parts["lo"][order])
    lo = np.where(side > 0, parts["lo"][order], -parts["hi"][order])
    # log close of bar i = log open of bar 0 + all gaps and closes up to i
    log_open = np.log(float(bars["open"].iloc[0])) + np.cumsum(gap + np.r_[0.0, cl[:-1]])
    o = np.exp(log_open)
    out = bars.copy()
    cols = {"open": o, "high": o * np.exp(hi), "low": o * np.exp(lo), "close": o * np.exp(cl)}
    if tick is not None:
        cols = {k: np.maximum(np.round(v / tick) * tick, tick) for k, v in cols.items()}
        cols["high"] = np.maximum.reduce([cols["high"], cols["open"], cols["close"]])
        cols["low"] = np.minimum.reduce([cols["low"], cols["open"], cols["close"]])
    for k, v in cols.items():
        out[k] = v
    if "vw" in parts:
        vw = o * np.exp(parts["vw"][order] * s)
        out["vwap"] = np.clip(vw, cols["low"], cols["high"]) if tick is not None else vw
    for k in ("volume", "trades", "contract"):
        if k in out.columns:
            out[k] = bars[k].to_numpy()[order]
    if parts["has_flow"]:
        buy = bars["buy_volume"].to_numpy()[order]
        sell = bars["sell_volume"].to_numpy()[order]
        out["buy_volume"] = np.where(side > 0, buy, sell)
        out["sell_volume"] = np.where(side > 0, sell, buy)
    out.attrs = dict(bars.attrs)
    return out
