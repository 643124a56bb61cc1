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
from risk._sizing_nb import SIZE_FIXED, SIZE_FIXED_FRACTION, SIZE_VOL_TARGET

__all__ = ["SIZING_METHODS", "Sizing", "Stops", "check_nonneg"]

#: Sizing method name -> kernel code.
SIZING_METHODS = {"fixed": SIZE_FIXED, "fixed_fraction": SIZE_FIXED_FRACTION, "volatility_target": SIZE_VOL_TARGET}
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
    method : {"fixed", "fixed_fraction", "volatility_target"}, default "fixed"
        ``"fixed"``: ``contracts`` per entry.  ``"fixed_fraction"``: risk
        ``fraction`` of the decision bar's equity: per stop distance
        (``Stops.sl_atr * ATR`` points) when a stop is set, else of notional
        (``price * multiplier * qty``).  ``"volatility_target"``: per-bar
        volatility target ``target_vol`` with the per-bar return volatility
        ``sigma`` passed to :func:`engines.simulate.simulate`.
    contracts : float, default 1
        Contracts per entry for ``"fixed"`` (truncated to whole lots).
    fraction : float, optional
        Fraction in (0, 1] for ``"fixed_fraction"``: 0.02 means 2%.
    target_vol : float, optional
        Per-bar volatility target (a fraction) for ``"volatility_target"``.

    Sizes are capped at ``DailyLimits.max_position`` and truncated toward zero
    to whole lots of the contract (``int()``, PITFALLS 10).
    """

    method: str = "fixed"
    contracts: float = 1
    fraction: float | None = None
    target_vol: float | None = None

    def kernel_args(self) -> tuple[int, float]:
        """``(size_mode, size_value)`` as :func:`~engines._sim_nb.simulate_nb` takes them."""
        method = check_choice("method", self.method, tuple(_SIZING_METHODS))
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
