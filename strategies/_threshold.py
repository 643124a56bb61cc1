"""Probability thresholds with a minimum holding period and a flat session end."""

from __future__ import annotations

import numbers

import numpy as np

from ml.exceptions import ParameterError
from strategies import _base
from strategies._base import BaseStrategy, SessionFacts
from strategies._signals_nb import threshold_sides_nb
from strategies._signals_py import threshold_sides_py

__all__ = ["ProbabilityThresholdStrategy"]



def _c(a) -> np.ndarray:
    """C-contiguous, writeable float64 (read-only views compile a second numba signature)."""
    return np.require(a, dtype=np.float64, requirements=["C", "W", "O"])


def _is_real(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


class ProbabilityThresholdStrategy(BaseStrategy):
    """Long above one probability, short below another, flat in between.

    Parameters
    ----------
    long_threshold : float, default 0.55
        Desired side is long where ``p >= long_threshold``; in [0.5, 1] (0.5: long whenever up is at least as likely as not).
    short_threshold : float, default 0.45
        Desired side is short where ``p <= short_threshold``; in [0, 0.5).
    min_holding : int, default 1
        Decision bars a side is kept once taken before a voluntary change
        (1: none).  The session end overrides it.
    flat_bars_before_close : int or None, default 1
        Decisions on bars with at most this many bars left in the session are
        flat, and open nothing.  With 1 on 1-minute B3 bars the decision at
        18:28 is flat, the exit fills at the 18:29 open inside the session and
        no position crosses the close (PITFALLS 13).  0 suits an engine with
        ``fill_on_close=True`` (the decision at the last bar fills at its
        close).  ``None`` disables the rule (positions may then span sessions).
    allow_short : bool, default True
        Whether short sides are taken (False: flat where ``p <= short_threshold``).
    meta_threshold : float, default 0.5
        With a meta-label probability passed to :meth:`sides`, the side is
        flat wherever that probability is below ``meta_threshold`` or NaN;
        in [0, 1].

    Notes
    -----
    Per bar ``i`` (kernel :func:`strategies._signals_nb.threshold_sides_nb`):

    1. ``p[i]`` NaN -> flat (never a trade on NaN, PITFALLS 19); ``p >= long``
       -> +1; ``p <= short`` -> -1 (if shorts are allowed); else 0.
    2. Meta filter: flat where ``meta_p < meta_threshold`` or NaN.
    3. Session end: flat where bars left in the session
       ``<= flat_bars_before_close`` (overrides the holding period).
    4. Minimum holding: a side held for fewer than ``min_holding`` decision
       bars is kept.

    The side at bar ``i`` uses ``p`` up to bar ``i`` only.  Fills, sizes,
    costs and stops belong to the engine: the side decided at bar ``i`` fills
    at bar ``i + 1``'s open.

    Examples
    --------
    >>> import pandas as pd
    >>> idx = pd.date_range("2025-02-03 18:24", periods=6, freq="1min", tz="America/Sao_Paulo")
    >>> s = ProbabilityThresholdStrategy(min_holding=2)
    >>> s.sides([0.6, 0.5, 0.3, float("nan"), 0.9, 0.9], idx, calendar="B3").tolist()
    [1, 1, -1, -1, 0, 0]
    """

    def __init__(self, long_threshold=0.55, short_threshold=0.45, min_holding=1,
                 flat_bars_before_close=1, allow_short=True, meta_threshold=0.5):
        self.long_threshold = long_threshold
        self.short_threshold = short_threshold
        self.min_holding = min_holding
        self.flat_bars_before_close = flat_bars_before_close
        self.allow_short = allow_short
        self.meta_threshold = meta_threshold  # checked on use (sides), as scikit-learn checks in fit

    def _validate(self) -> None:
        lt, st = self.long_threshold, self.short_threshold
        if not _is_real(lt):
            raise TypeError(f"`long_threshold` must be a number in [0.5, 1], got {type(lt).__name__} {lt!r}.")
        if not (0.5 <= lt <= 1.0):
            raise ParameterError(f"`long_threshold` must be in [0.5, 1], got {lt!r}; "
                                 f"use short_threshold for the short side.")
        if not _is_real(st):
            raise TypeError(f"`short_threshold` must be a number in [0, 0.5), got {type(st).__name__} {st!r}.")
        if not (0.0 <= st < 0.5):
            raise ParameterError(f"`short_threshold` must be in [0, 0.5), got {st!r}; "
                                 f"use long_threshold for the long side.")
        mh = self.min_holding
        if not _is_int(mh):
            raise TypeError(f"`min_holding` must be an int >= 1, got {type(mh).__name__} {mh!r}.")
        if mh < 1:
            raise ParameterError(f"`min_holding` must be an int >= 1 (decision bars), got {mh!r}.")
        fb = self.flat_bars_before_close
        if fb is not None:
            if not _is_int(fb):
                raise TypeError(f"`flat_bars_before_close` must be an int >= 0 or None, "
                                f"got {type(fb).__name__} {fb!r}.")
            if fb < 0:
                raise ParameterError(f"`flat_bars_before_close` must be an int >= 0 or None, got {fb!r}; "
                                     f"1 exits at the open of the session's last bar.")
        if not isinstance(self.allow_short, (bool, np.bool_)):
            raise TypeError(f"`allow_short` must be True or False, got {self.allow_short!r}.")
        mt = self.meta_threshold
        if not _is_real(mt):
            raise TypeError(f"`meta_threshold` must be a number in [0, 1], got {type(mt).__name__} {mt!r}.")
        if not (0.0 <= mt <= 1.0):
            raise ParameterError(f"`meta_threshold` must be in [0, 1], got {mt!r}.")

    def kernel_args(self) -> tuple:
        """``(long_th, short_th, min_holding, flat_bars_before_close, allow_short, meta_th)``
        as :func:`~strategies._signals_nb.threshold_sides_nb` takes them (a
        disabled session rule becomes a very negative number of bars)."""
        self._validate()
        fb = -1e18 if self.flat_bars_before_close is None else float(self.flat_bars_before_close)
        return (float(self.long_threshold), float(self.short_threshold), int(self.min_holding),
                fb, bool(self.allow_short), float(self.meta_threshold))

    def _sides_array(self, proba: np.ndarray, facts: SessionFacts, meta_proba) -> np.ndarray:
        lt, st, mh, fb, short, mt = self.kernel_args()
        meta = np.empty(0) if meta_proba is None else _c(meta_proba)
        kernel = threshold_sides_py if _base.PURE_PYTHON else threshold_sides_nb
        return kernel(_c(proba), lt, st, mh, _c(facts.bars_to_close), fb, short, meta, mt)
