"""Numba kernel of :mod:`ml.data._synthetic`: the orientation of each bar, chosen causally."""

from __future__ import annotations

import numba
import numpy as np

#: Edge kinds as the kernel codes them.
KIND_NONE, KIND_MOMENTUM, KIND_MEAN_REVERSION, KIND_ORDER_FLOW = 0, 1, 2, 3


@numba.njit(cache=True)
def orient_nb(ret, flow, u, kind, hit_rate, lookback):
    """``+1`` (as recorded) or ``-1`` (mirrored) for every bar.

    Parameters
    ----------
    ret : float64[n]
        Each bar's log return from the previous close, as recorded.
    flow : float64[n]
        Each bar's ``buy_volume - sell_volume`` as recorded (mirroring swaps the two).
    u : float64[n]
        Uniform draws in [0, 1), one per bar.
    kind : int
        :data:`KIND_NONE` (every bar a fair coin), :data:`KIND_MOMENTUM` (the next
        bar moves with the sign of the last ``lookback`` returns with probability
        ``hit_rate``), :data:`KIND_MEAN_REVERSION` (against it) or
        :data:`KIND_ORDER_FLOW` (with the sign of the bar's buy - sell volume).
    hit_rate : float
        Probability that a bar with a non-zero signal and a non-zero return moves
        the way the signal says; 0.5 is no edge.

    The orientation of bar ``i`` depends only on the oriented bars before it and
    on ``u[i]``: the edge is causal, and nothing before a bar depends on it.
    """
    n = ret.shape[0]
    side = np.ones(n, dtype=np.int8)
    window = np.zeros(max(lookback, 1))
    total = 0.0
    for i in range(n):
        coin = 1 if u[i] < 0.5 else -1
        s = coin
        if kind != KIND_NONE and i > 0 and ret[i] != 0.0:
            if kind == KIND_ORDER_FLOW:
                sig = side[i - 1] * flow[i - 1]
            else:
                sig = total if kind == KIND_MOMENTUM else -total
            if sig != 0.0:
                want = 1.0 if sig > 0 else -1.0
                if u[i] >= hit_rate:
                    want = -want
                s = 1 if want * ret[i] > 0 else -1
        side[i] = s
        r = s * ret[i]
        if lookback > 0:
            j = i % lookback
            total += r - window[j]
            window[j] = r
    return side
