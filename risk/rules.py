"""The risk rules of a run as configuration objects: :class:`Sizing` and :class:`Stops`.

With :class:`risk.limits.DailyLimits` they are the ``Rules`` every engine
executes (:class:`engines.engine.Rules`); each turns itself into the numeric
arguments of the kernels (``kernel_args``) that the simulator, the sweep and
backtrader all call (:mod:`risk._sizing_nb`, :mod:`risk._stops_nb`).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from ml._checks import check_choice
from ml.exceptions import ParameterError
from risk._sizing_nb import SIZE_FIXED, SIZE_FIXED_FRACTION, SIZE_KELLY, SIZE_VOL_TARGET

__all__ = ["SIZING_METHODS", "Sizing", "Stops", "check_nonneg"]

#: Sizing method name -> kernel code.
SIZING_METHODS = {"fixed": SIZE_FIXED, "fixed_fraction": SIZE_FIXED_FRACTION, "volatility_target": SIZE_VOL_TARGET,
                  "kelly": SIZE_KELLY}
_SIZING_METHODS = SIZING_METHODS


def check_nonneg(name, value, hint=""):
    """A finite real number >= 0 as a float, naming ``name`` otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number >= 0, got {type(value).__name__} {value!r}.")
    v = float(value)
    if not (math.isfinite(v) and v >= 0.0):
        raise ParameterError(f"`{name}` must be a finite number >= 0, got {value!r}.{hint}")
    return v


_check_nonneg = check_nonneg


@dataclass(frozen=True)
class Sizing:
    """How many contracts each entry buys or sells (the :mod:`risk` sizing kernels).

    Parameters
    ----------
    method : {"fixed", "fixed_fraction", "volatility_target", "kelly"}, default "fixed"
        ``"fixed"``: ``contracts`` per entry.  ``"fixed_fraction"``: risk
        ``fraction`` of the decision bar's equity: per stop distance
        (``Stops.sl_atr * ATR`` points) when a stop is set, else of notional
        (``price * multiplier * qty``).  ``"volatility_target"``: per-bar
        volatility target ``target_vol`` with the per-bar return volatility
        ``sigma`` passed to :func:`engines.simulate.simulate`.  ``"kelly"``:
        as ``"fixed_fraction"``, with the fraction the capped fractional
        Kelly criterion of the decision bar's win probability
        (:func:`risk.sizing.kelly_fraction`): ``min(cap, fraction * (p - (1 -
        p) / payoff_ratio))``, ``p`` the model's probability of an up move
        (``proba`` passed to the engine) for a long, ``1 - p`` for a short;
        no entry when there is no edge.
    contracts : float, default 1
        Contracts per entry for ``"fixed"`` (truncated to whole lots).
    fraction : float, optional
        Fraction in (0, 1] for ``"fixed_fraction"`` (0.02 means 2%), or the
        multiple of full Kelly for ``"kelly"`` (default there 0.5, half
        Kelly).
    target_vol : float, optional
        Per-bar volatility target (a fraction) for ``"volatility_target"``.
    payoff_ratio : float, optional
        ``"kelly"``: average win over average loss of a trade.  Default: the
        stops' ``tp_atr / sl_atr`` when both are set (see
        :meth:`kelly_args`); there is no default otherwise.
    cap : float, optional
        ``"kelly"``: the largest fraction of equity at risk (default 0.25).

    Sizes are capped at ``DailyLimits.max_position`` and truncated toward zero
    to whole lots of the contract (``int()``, PITFALLS 10).
    """

    method: str = "fixed"
    contracts: float = 1
    fraction: float | None = None
    target_vol: float | None = None
    payoff_ratio: float | None = None
    cap: float | None = None

    def kernel_args(self) -> tuple[int, float]:
        """``(size_mode, size_value)`` as :func:`~engines._sim_nb.simulate_nb` takes them."""
        method = check_choice("method", self.method, tuple(_SIZING_METHODS))
        if method != "kelly":
            given = [k for k in ("payoff_ratio", "cap") if getattr(self, k) is not None]
            if given:
                raise ParameterError(f"`{given[0]}` is set but method={method!r} ignores it; pass method='kelly' "
                                     f"(or drop `{given[0]}`).")
        if method == "kelly":
            f = 0.5 if self.fraction is None else _check_nonneg("fraction", self.fraction)
            if not (0.0 < f <= 1.0):
                raise ParameterError(f"`fraction` of method='kelly' is the multiple of full Kelly, in (0, 1] "
                                     f"(0.5 = half Kelly), got {self.fraction!r}.")
            if self.target_vol is not None:
                raise ParameterError("`target_vol` is set but method='kelly' ignores it; drop it.")
            return SIZE_KELLY, f
        if method == "fixed":
            given = [k for k in ("fraction", "target_vol") if getattr(self, k) is not None]
            if given:  # a size rule that would be silently ignored
                other = "fixed_fraction" if given[0] == "fraction" else "volatility_target"
                raise ParameterError(f"`{given[0]}` is set but method='fixed' ignores it; pass "
                                     f"method={other!r} (or drop `{given[0]}`).")
            c = _check_nonneg("contracts", self.contracts)
            if c <= 0:
                raise ParameterError(f"`contracts` must be > 0 for method='fixed', got {self.contracts!r}.")
            return SIZE_FIXED, c
        if method == "fixed_fraction":
            f = self.fraction
            if f is None:
                raise ParameterError("`fraction` is required for method='fixed_fraction', e.g. 0.01 for 1%.")
            f = _check_nonneg("fraction", f)
            if not (0.0 < f <= 1.0):
                pct = f" (for {f:g}% pass {f / 100:g})" if f > 1 else ""
                raise ParameterError(f"`fraction` must be a fraction in (0, 1] of equity (0.02 means 2%), "
                                     f"got {self.fraction!r}{pct}.")
            return SIZE_FIXED_FRACTION, f
        t = self.target_vol
        if t is None:
            raise ParameterError("`target_vol` is required for method='volatility_target'.")
        t = _check_nonneg("target_vol", t)
        if not t > 0:
            raise ParameterError(f"`target_vol` must be > 0, got {self.target_vol!r}.")
        return SIZE_VOL_TARGET, t


    def kelly_args(self, stops: "Stops | None" = None) -> tuple[float, float]:
        """``(payoff_ratio, cap)`` of ``"kelly"`` as the kernels take them (NaN, 1 for other methods).

        Without ``payoff_ratio`` the stops' ``tp_atr / sl_atr`` is taken when both are set; with
        neither, a ``ParameterError`` names both ways to give it.
        """
        if self.kernel_args()[0] != SIZE_KELLY:
            return math.nan, 1.0
        b = self.payoff_ratio
        if b is None:
            sl = None if stops is None else stops.sl_atr
            tp = None if stops is None else stops.tp_atr
            if not (sl and tp):
                raise ParameterError("Sizing(method='kelly') needs `payoff_ratio` (average win / average loss of a "
                                     "trade), or stops with both sl_atr and tp_atr (their ratio is taken).")
            b = float(tp) / float(sl)
        b = _check_nonneg("payoff_ratio", b)
        if not b > 0:
            raise ParameterError(f"`payoff_ratio` must be > 0, got {self.payoff_ratio!r}.")
        cap = 0.25 if self.cap is None else _check_nonneg("cap", self.cap)
        if not (0.0 < cap <= 1.0):
            raise ParameterError(f"`cap` must be a fraction of equity in (0, 1], got {self.cap!r}.")
        return b, cap


@dataclass(frozen=True)
class Stops:
    """ATR stops, takes, trailing stops and a time stop (the :mod:`risk.stops` kernels).

    Parameters
    ----------
    sl_atr, tp_atr, trail_atr : float, optional
        Stop, take and trailing distances in ATRs of the decision bar; None
        (or 0) disables each.  The trailing stop ratchets with each bar's
        high / low after that bar's exit check (first checked on the next bar).
    max_bars : int, optional
        Time stop: exit at the next open once the position was held this many
        bars (the entry bar counts as 1).
    atr_window : int, default 14
        Window of the simple moving average of the true range used when no
        ``atr`` is passed to :func:`engines.simulate.simulate` (:func:`engines.simulate.average_true_range`).
    rearm : bool, default True
        After a forced exit (stop, take, time, session backstop, loss limit)
        re-enter the same side only after the desired side has changed (to
        flat or the other side); False re-enters on the next decision.

    An entry whose decision bar has no ATR > 0 (warm-up) is skipped when any
    ATR level is configured.
    """

    sl_atr: float | None = None
    tp_atr: float | None = None
    trail_atr: float | None = None
    max_bars: int | None = None
    atr_window: int = 14
    rearm: bool = True

    def kernel_args(self) -> tuple[float, float, float, int, bool]:
        """``(sl_mult, tp_mult, trail_mult, max_bars, rearm)`` (disabled: 0)."""
        vals = []
        for name in ("sl_atr", "tp_atr", "trail_atr"):
            v = getattr(self, name)
            vals.append(0.0 if v is None else _check_nonneg(name, v, " Pass None for no such level."))
        mb = self.max_bars
        if mb is None:
            mb = 0
        elif isinstance(mb, (bool, np.bool_)) or not isinstance(mb, numbers.Integral):
            raise TypeError(f"`max_bars` must be an int >= 1 or None, got {type(mb).__name__} {mb!r}.")
        elif mb < 1:
            raise ParameterError(f"`max_bars` must be an int >= 1 or None, got {mb!r}.")
        if not isinstance(self.rearm, (bool, np.bool_)):
            raise TypeError(f"`rearm` must be True or False, got {self.rearm!r}.")
        return vals[0], vals[1], vals[2], int(mb), bool(self.rearm)

    @property
    def needs_atr(self) -> bool:
        return any(v is not None and v > 0 for v in (self.sl_atr, self.tp_atr, self.trail_atr))
