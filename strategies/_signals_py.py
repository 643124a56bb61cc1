"""Plain-Python twins of the kernels in :mod:`strategies._signals_nb`.

Same names with the ``_py`` suffix, same arguments, same outputs; written for
reading.  The tests compare them with the numba kernels, and setting
``strategies._base.PURE_PYTHON = True`` makes the strategies run these twins
(readable tracebacks).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["threshold_sides_py"]


def _raw_side(p, long_th, short_th, allow_short):
    """The side the probability alone asks for (NaN: flat)."""
    if math.isnan(p):
        return 0
    if p >= long_th:
        return 1
    if allow_short and p <= short_th:
        return -1
    return 0


def threshold_sides_py(p, long_th, short_th, min_holding, bars_to_close,
                       flat_bars_before_close, allow_short, meta_p, meta_th):
    """Twin of :func:`~strategies._signals_nb.threshold_sides_nb`."""
    n = len(p)
    out = np.zeros(n, dtype=np.int8)
    has_meta = len(meta_p) > 0
    current, held = 0, 0
    for i in range(n):
        want = _raw_side(float(p[i]), long_th, short_th, allow_short)
        if has_meta and (math.isnan(meta_p[i]) or meta_p[i] < meta_th):
            want = 0
        session_end = bars_to_close[i] <= flat_bars_before_close
        if session_end:
            want = 0
        elif current != 0 and held < min_holding:
            want = current  # too early for a voluntary change
        if want == current:
            held = held + 1 if current != 0 else 0
        else:
            current = want
            held = 1 if current != 0 else 0
        out[i] = current
    return out
