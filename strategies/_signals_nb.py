"""Numba kernels of :mod:`strategies` (arrays in, arrays out, no validation).

Each kernel has a plain-Python twin of the same name with the ``_py`` suffix in
:mod:`strategies._signals_py`; the tests run both on the same inputs and demand
the same output.  The public classes of :mod:`strategies` validate the inputs
and call these kernels; the sweep kernel and the backtrader strategy call them
directly, so every engine turns probabilities into sides with the same code.

Conventions
-----------
- A *side* is the desired position sign decided with bar ``i``'s data: +1 long,
  -1 short, 0 flat, as ``int8``.  It is a target, not an order: the engine
  fills the change at bar ``i + 1``'s open (PITFALLS rule 1), or at bar
  ``i``'s close only under an explicit ``fill_on_close`` option.
- ``bars_to_close[i]`` is the number of bars of bar ``i``'s session that come
  *after* bar ``i`` (0 on the session's last bar, negative on bars after the
  session end).  A decision on a bar with
  ``bars_to_close <= flat_bars_before_close`` is forced flat, so with the
  default of 1 the exit fills at the open of the session's last bar, inside
  the session, and no position crosses the close (PITFALLS rule 13).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["threshold_sides_nb", "threshold_step_nb"]


@njit(cache=True)
def threshold_sides_nb(p, long_th, short_th, min_holding, bars_to_close,
                       flat_bars_before_close, allow_short, meta_p, meta_th):
    """Desired side per decision bar from a probability of an up move.

    Parameters
    ----------
    p : ndarray of float64, shape (n,)
        Probability that the next move is up, per bar; NaN means "no opinion".
    long_th, short_th : float
        Long where ``p >= long_th``; short where ``p <= short_th`` (and
        ``allow_short``); flat otherwise.
    min_holding : int
        Once a side other than flat is taken, it is kept for at least
        ``min_holding`` decision bars (including the one that took it) before
        a voluntary change; values <= 1 impose nothing.
    bars_to_close : ndarray of float64, shape (n,)
        Bars left in the session after each bar (see the module docstring).
    flat_bars_before_close : int
        Decision bars with ``bars_to_close <= flat_bars_before_close`` are
        forced flat (overriding ``min_holding``) and open nothing.
    allow_short : bool
        Whether a short side may be taken.
    meta_p : ndarray of float64, shape (n,) or (0,)
        Meta-label probability; when not empty the side is flat wherever
        ``meta_p < meta_th`` or ``meta_p`` is NaN.
    meta_th : float
        Meta-label threshold.

    Returns
    -------
    ndarray of int8, shape (n,)
        Desired side decided at each bar.

    Notes
    -----
    Per bar ``i``, in this order:

    1. ``want`` from ``p[i]``: NaN -> 0 (never a trade on NaN, PITFALLS 19),
       ``p >= long_th`` -> +1, ``p <= short_th`` and ``allow_short`` -> -1,
       else 0; then 0 where the meta filter fails.
    2. Session end: ``bars_to_close[i] <= flat_bars_before_close`` -> 0,
       whatever the holding period.
    3. Minimum holding: otherwise, while the current side is not flat and has
       been held fewer than ``min_holding`` decision bars, ``want`` is the
       current side.
    4. A change of side restarts the holding count at 1.
    """
    n = p.shape[0]
    out = np.zeros(n, dtype=np.int8)
    use_meta = meta_p.shape[0] > 0
    side = 0
    held = 0
    for i in range(n):
        meta_ok = not use_meta or meta_p[i] >= meta_th
        side, held = threshold_step_nb(p[i], long_th, short_th, min_holding, bars_to_close[i],
                                       flat_bars_before_close, allow_short, meta_ok, side, held)
        out[i] = side
    return out


@njit(cache=True, inline='always')
def threshold_step_nb(pi, long_th, short_th, min_holding, bars_to_close_i, flat_bars_before_close,
                      allow_short, meta_ok, side, held):
    """One decision bar of :func:`threshold_sides_nb`: returns the new ``(side, held)``.

    ``side`` / ``held`` are the side decided at the previous bar and the
    decision bars it has been held; ``meta_ok`` is False where the meta
    filter fails.  The fused sweep kernel
    (:func:`engines._sweep_nb.sweep_fast_nb`) calls it bar by bar instead of
    building the sides array: one definition of the rule for both.
    """
    want = 0
    if pi == pi:
        if pi >= long_th:
            want = 1
        elif allow_short and pi <= short_th:
            want = -1
    if not meta_ok:
        want = 0
    if bars_to_close_i <= flat_bars_before_close:
        want = 0
    elif side != 0 and held < min_holding:
        want = side
    if want != side:
        side = want
        held = 1 if side != 0 else 0
    elif side != 0:
        held += 1
    return side, held
